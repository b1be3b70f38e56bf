// SPDX-License-Identifier: MIT
/*
 * Unit tests of src/vmm/nbout.c on real pipes, a pseudo-terminal with its
 * output stopped (as Ctrl-S stops a terminal), /dev/full, sockets, FIFOs and
 * files.  An alarm turns a write that blocks into a failed test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "vmm/nbout.h"

/* A write that blocks for this long fails the test (SIGALRM's default action). */
#define BLOCKED_S 10
#define REC_LEN	  100

static int said;
static char said_line[512];

static void say(const char *line)
{
	said++;
	snprintf(said_line, sizeof(said_line), "%s", line);
}

static int setup(void **state)
{
	(void)state;
	said = 0;
	said_line[0] = '\0';
	alarm(BLOCKED_S);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	return 0;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Record i: "rec <i> xxx...\n", REC_LEN bytes. */
static void record(char *buf, unsigned i)
{
	int n = snprintf(buf, REC_LEN, "rec %u ", i);

	memset(buf + n, 'x', REC_LEN - 1 - (size_t)n);
	buf[REC_LEN - 1] = '\n';
}

/* Read everything the pipe holds now into buf (non-blocking), appending. */
static size_t drain(int rfd, char *buf, size_t have, size_t cap)
{
	int fl = fcntl(rfd, F_GETFL);

	fcntl(rfd, F_SETFL, fl | O_NONBLOCK);
	for (;;) {
		ssize_t n = read(rfd, buf + have, cap - have);

		if (n <= 0)
			break;
		have += (size_t)n;
	}
	fcntl(rfd, F_SETFL, fl);
	return have;
}

/* Every line whole and in order; returns how many. */
static unsigned check_lines(const char *buf, size_t len)
{
	unsigned n = 0, prev = 0;
	size_t off = 0;

	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		unsigned id;

		assert_non_null(nl);
		assert_int_equal(nl - (buf + off) + 1, REC_LEN);
		assert_int_equal(sscanf(buf + off, "rec %u ", &id), 1);
		if (n)
			assert_true(id > prev);
		prev = id;
		n++;
		off = (size_t)(nl - buf) + 1;
	}
	return n;
}

/* A pipe nobody reads: writes return at once, whole records are dropped, never cut. */
static void test_pipe_not_read(void **state)
{
	const unsigned total = 5000; /* 500 KB: far more than the pipe and the pending bytes */
	size_t cap = (size_t)total * REC_LEN, have = 0;
	char *got = malloc(cap), rec[REC_LEN];
	struct nbout_stats st;
	struct nbout o;
	int p[2], dropped = 0;

	(void)state;
	assert_non_null(got);
	assert_int_equal(pipe(p), 0);
	nbout_adopt(&o, p[1], "the pipe", say);
	/* Our own description: the caller's descriptor keeps its flags. */
	assert_false(fcntl(p[1], F_GETFL) & O_NONBLOCK);
	for (unsigned i = 0; i < total; i++) {
		int r;

		record(rec, i);
		r = nbout_write(&o, rec, sizeof(rec));
		assert_true(r == 0 || r == -EAGAIN);
		dropped += r == -EAGAIN;
	}
	assert_true(dropped > 0);
	assert_int_equal(said, 1);
	assert_non_null(strstr(said_line, "the pipe is not being read"));
	/* The reader comes back: what was kept follows, whole. */
	for (int k = 0; k < 1000 && (have == 0 || o.pend_len); k++) {
		have = drain(p[0], got, have, cap);
		nbout_flush(&o);
	}
	have = drain(p[0], got, have, cap);
	nbout_stats(&o, &st);
	assert_int_equal(st.records, total);
	assert_int_equal(st.dropped, dropped);
	assert_int_equal(st.dropped_bytes, (uint64_t)dropped * REC_LEN);
	assert_int_equal(st.error, 0);
	assert_int_equal(check_lines(got, have), total - (unsigned)dropped);
	nbout_close(&o, &st);
	assert_int_equal(said, 1);
	/* Not ours to close. */
	assert_int_equal(fcntl(p[1], F_GETFD) >= 0, 1);
	close(p[0]);
	close(p[1]);
	free(got);
}

/* A record larger than the room left is finished later, never cut. */
static void test_started_record_finishes(void **state)
{
	size_t big = 3 * NBOUT_PEND_MAX, cap = 8 * NBOUT_PEND_MAX, have = 0;
	char *rec = malloc(big), *got = malloc(cap);
	struct nbout_stats st;
	struct nbout o;
	int p[2];

	(void)state;
	assert_non_null(rec);
	assert_non_null(got);
	memset(rec, 'y', big);
	rec[big - 1] = '\n';
	assert_int_equal(pipe(p), 0);
	nbout_adopt(&o, p[1], "the pipe", say);
	/* Larger than the pipe (64 KiB) and than NBOUT_PEND_MAX: partly written, the rest kept. */
	assert_int_equal(nbout_write(&o, rec, big), 0);
	assert_true(o.pend_len > 0);
	/* While it is unfinished, another whole record beyond the limit is dropped. */
	assert_int_equal(nbout_write(&o, rec, NBOUT_PEND_MAX), -EAGAIN);
	while (have < big) {
		have = drain(p[0], got, have, cap);
		nbout_flush(&o);
	}
	assert_int_equal(have, big);
	assert_memory_equal(got, rec, big);
	nbout_close(&o, &st);
	assert_int_equal(st.dropped, 1);
	close(p[0]);
	close(p[1]);
	free(rec);
	free(got);
}

/* The reader left: EPIPE, said once, counted, no SIGPIPE. */
static void test_reader_gone(void **state)
{
	struct nbout_stats st;
	struct nbout o;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	nbout_adopt(&o, p[1], "standard output", say);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < 10; i++)
		assert_int_equal(nbout_write(&o, "line\n", 5), -EPIPE);
	nbout_close(&o, &st);
	assert_int_equal(st.records, 10);
	assert_int_equal(st.dropped, 10);
	assert_int_equal(st.error, EPIPE);
	assert_int_equal(said, 1);
	assert_non_null(strstr(said_line, "cannot write to standard output: Broken pipe"));
	close(p[1]);
}

static void test_dev_full(void **state)
{
	char err[256], desc[256];
	struct nbout_stats st;
	struct nbout o;

	(void)state;
	assert_int_equal(nbout_open(&o, "/dev/full", "--stats /dev/full", say, err, sizeof(err)),
			 0);
	assert_int_equal(nbout_write(&o, "{}\n", 3), -ENOSPC);
	assert_int_equal(nbout_write(&o, "{}\n", 3), -ENOSPC);
	nbout_close(&o, &st);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.error, ENOSPC);
	assert_int_equal(said, 1);
	nbout_describe("--stats /dev/full", &st, desc, sizeof(desc));
	assert_string_equal(
	    desc, "--stats /dev/full: 2 of 2 records (6 bytes) dropped: No space left on device");
}

/* A terminal whose output is stopped (Ctrl-S): writes and the close return promptly. */
static void test_stopped_terminal(void **state)
{
	char rec[REC_LEN];
	struct nbout_stats st;
	struct nbout o;
	int m, s, r = 0;
	double t;

	(void)state;
	m = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	s = open(ptsname(m), O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	assert_int_equal(tcflow(s, TCOOFF), 0);
	nbout_adopt(&o, s, "the terminal", say);
	assert_false(fcntl(s, F_GETFL) & O_NONBLOCK);
	for (unsigned i = 0; i < 2000 && r == 0; i++) {
		record(rec, i);
		r = nbout_write(&o, rec, sizeof(rec));
	}
	assert_int_equal(r, -EAGAIN);
	assert_int_equal(said, 1);
	t = mono();
	nbout_close(&o, &st);
	t = mono() - t;
	assert_true(t < (NBOUT_CLOSE_IDLE_MS + 500) / 1000.0);
	assert_true(st.dropped > 0);
	assert_int_equal(st.error, 0);
	close(s);
	close(m);
}

/* A socket whose peer does not read: send() with MSG_DONTWAIT. */
static void test_socket_not_read(void **state)
{
	char rec[REC_LEN];
	struct nbout_stats st;
	struct nbout o;
	int sv[2], r = 0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	nbout_adopt(&o, sv[0], "the socket", say);
	assert_int_equal(o.mode, NBOUT_SEND);
	assert_false(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
	for (unsigned i = 0; i < 100000 && r == 0; i++) {
		record(rec, i);
		r = nbout_write(&o, rec, sizeof(rec));
	}
	assert_int_equal(r, -EAGAIN);
	nbout_close(&o, &st);
	assert_true(st.dropped > 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_open_fifo(void **state)
{
	char dir[] = "/tmp/nbout.XXXXXX", path[64], err[256];
	struct nbout o;
	int rfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* Nobody reads it: an error at once, not a wait for a reader. */
	assert_int_equal(nbout_open(&o, path, "--stats f", say, err, sizeof(err)), -ENXIO);
	assert_string_equal(
	    err,
	    "--stats f is a FIFO that no process has open for reading: start its reader first");
	rfd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	assert_int_equal(nbout_open(&o, path, "--stats f", say, err, sizeof(err)), 0);
	assert_int_equal(nbout_write(&o, "x\n", 2), 0);
	nbout_close(&o, NULL);
	close(rfd);
	unlink(path);
	rmdir(dir);
}

static void test_open_refuses(void **state)
{
	char dir[] = "/tmp/nbout.XXXXXX", path[64], err[256];
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct nbout o;
	int s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(nbout_open(&o, dir, "--stats d", say, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--stats d is a directory: give a file, a FIFO, a terminal or -");
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/s", dir);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(nbout_open(&o, a.sun_path, "--stats s", say, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is a socket"));
	close(s);
	unlink(a.sun_path);
	snprintf(path, sizeof(path), "%s/missing/f", dir);
	assert_int_equal(nbout_open(&o, path, "--stats x", say, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "No such file or directory"));
	rmdir(dir);
	assert_int_equal(said, 0);
}

/* A regular file is created, then truncated when opened again. */
static void test_open_file(void **state)
{
	char dir[] = "/tmp/nbout.XXXXXX", path[64], err[256], buf[16];
	struct nbout o;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/stats", dir);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(nbout_open(&o, path, "--stats", say, err, sizeof(err)), 0);
		assert_int_equal(nbout_write(&o, round ? "b\n" : "aaaa\n", round ? 2 : 5), 0);
		nbout_close(&o, NULL);
	}
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "b\n", 2);
	close(fd);
	unlink(path);
	rmdir(dir);
}

/* A descriptor that is not open: every record counted as lost. */
static void test_closed_fd(void **state)
{
	struct nbout_stats st;
	struct nbout o;

	(void)state;
	nbout_adopt(&o, 1000, "fd 1000", say);
	assert_int_equal(nbout_write(&o, "x\n", 2), -EBADF);
	nbout_close(&o, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.error, EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pipe_not_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_started_record_finishes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reader_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dev_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stopped_terminal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_not_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_fifo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_closed_fd, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

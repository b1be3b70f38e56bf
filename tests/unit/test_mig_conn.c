// SPDX-License-Identifier: MIT
/*
 * mig_conn (the migration drivers' sockets) on real loopback sockets, and
 * the parsers of the drivers' addresses and test knob: URIs, deadlines,
 * end of stream, cancel from another thread, --x-incoming-fault, the
 * socket buffers sized to the path.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate/mig_conn.h"
#include "migrate/mig_dst.h"

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_uri(void **state)
{
	struct mig_uri u;
	char err[256];

	(void)state;
	assert_int_equal(mig_uri_parse("tcp:127.0.0.1:4444", false, &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 4444);
	assert_int_equal(mig_uri_parse("tcp:[::1]:1", false, &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(mig_uri_parse("tcp:host:0", true, &u, err, sizeof(err)), 0);
	assert_int_equal(mig_uri_parse("tcp:host:0", false, &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the port must be a number from 1 to 65535"));
	assert_int_equal(mig_uri_parse("unix:/tmp/x", false, &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown migration protocol"));
	assert_int_equal(mig_uri_parse("tcp:host", false, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(mig_uri_parse("tcp::5", false, &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the host is missing"));
	assert_int_equal(mig_uri_parse("tcp:h:65536", false, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(mig_uri_parse("tcp:h:12x", false, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(mig_uri_parse("tcp:[::1:5", false, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(mig_uri_parse(NULL, false, &u, err, sizeof(err)), -EINVAL);
}

static void test_fault(void **state)
{
	struct mig_fault f;
	char err[256];

	(void)state;
	assert_int_equal(mig_fault_parse("ram2:stall", &f, err, sizeof(err)), 0);
	assert_int_equal(f.stage, MIG_FAULT_RAM2);
	assert_int_equal(f.action, MIG_FAULT_STALL);
	assert_int_equal(mig_fault_parse("end:exit", &f, err, sizeof(err)), 0);
	assert_int_equal(f.stage, MIG_FAULT_END);
	assert_int_equal(f.action, MIG_FAULT_EXIT);
	assert_int_equal(mig_fault_parse("header:exit", &f, err, sizeof(err)), 0);
	assert_int_equal(f.stage, MIG_FAULT_HEADER);
	assert_int_equal(mig_fault_parse("ram3:exit", &f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is not STAGE:ACTION"));
	assert_int_equal(mig_fault_parse("ram1:die", &f, err, sizeof(err)), -EINVAL);
	assert_int_equal(mig_fault_parse("ram1", &f, err, sizeof(err)), -EINVAL);
	assert_int_equal(mig_fault_parse(":exit", &f, err, sizeof(err)), -EINVAL);
	assert_int_equal(mig_fault_parse("ram:exit", &f, err, sizeof(err)), -EINVAL);
	assert_int_equal(f.stage, MIG_FAULT_NONE);
}

/* A connected pair over loopback: a (connecting side), b (accepted). */
static void pair(struct mig_conn *a, struct mig_conn *b)
{
	struct mig_uri u = {.host = "127.0.0.1", .port = 0};
	char err[256];
	uint16_t port;
	int lfd;

	mig_conn_init(a);
	mig_conn_init(b);
	assert_int_equal(mig_conn_listen(&u, &lfd, &port, err, sizeof(err)), 0);
	assert_true(port > 0);
	u.port = port;
	assert_int_equal(mig_conn_connect(a, &u, 2000, err, sizeof(err)), 0);
	assert_int_equal(mig_conn_accept(b, lfd, 0, err, sizeof(err)), 0);
	close(lfd);
}

static void test_transfer_and_timeouts(void **state)
{
	struct mig_conn a, b;
	char buf[16];
	uint64_t t;

	(void)state;
	pair(&a, &b);
	assert_int_equal(mig_conn_write_all(&a, "hello", 5, 1000), 0);
	assert_int_equal(mig_conn_read(&b, buf, sizeof(buf), 1000), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(a.bytes_out, 5);
	assert_int_equal(b.bytes_in, 5);
	/* Nothing to read: the deadline, not for ever. */
	t = ms_now();
	assert_int_equal(mig_conn_read(&b, buf, sizeof(buf), 120), -ETIMEDOUT);
	assert_true(ms_now() - t >= 110 && ms_now() - t < 2000);
	assert_int_equal(mig_conn_wait_readable(&b, 0), 0);
	/* A look without waiting sees what is there. */
	assert_int_equal(mig_conn_write_all(&a, "x", 1, 1000), 0);
	for (int i = 0; i < 100 && mig_conn_wait_readable(&b, 0) != 1; i++)
		usleep(1000);
	assert_int_equal(mig_conn_wait_readable(&b, 0), 1);
	assert_int_equal(mig_conn_read(&b, buf, sizeof(buf), 0), 1);
	/* The end of the stream reads as 0. */
	mig_conn_close(&a);
	assert_int_equal(mig_conn_read(&b, buf, sizeof(buf), 1000), 0);
	mig_conn_close(&b);
}

/* The host's cap on a socket buffer (net.core.wmem_max / rmem_max). */
static int host_max(const char *which)
{
	char path[64];
	FILE *f;
	int v = 0;

	snprintf(path, sizeof(path), "/proc/sys/net/core/%s", which);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &v), 1);
	fclose(f);
	return v;
}

static int min_int(int a, int b)
{
	return a < b ? a : b;
}

/* What a socket reads back after SO_SNDBUF / SO_RCVBUF of set: the kernel caps, then doubles. */
static void assert_buf(int fd, int opt, int set, int cap)
{
	int v = 0;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, opt, &v, &len), 0);
	assert_int_equal(v, 2 * min_int(set, cap));
}

/*
 * The buffers shrink to the path once connected: the 8 GiB guest's stop
 * waited for up to 16 MiB of stream sitting in 4 MiB buffers (mig_conn.c).
 * Loopback's round trip (tens of microseconds) gives the floor.  A host
 * whose cap is below the floor could not tell the two sizes apart.
 */
static void test_buffers(void **state)
{
	const int floor = 256 << 10, most = 4 << 20;
	struct mig_conn a, b;
	struct mig_conn *ends[] = {&a, &b};

	(void)state;
	assert_int_equal(mig_conn_buf_for_rtt(0), floor);
	assert_int_equal(mig_conn_buf_for_rtt(40), floor);
	assert_int_equal(mig_conn_buf_for_rtt(200), 500000);	  /* 2.5 GB/s x 200 us */
	assert_int_equal(mig_conn_buf_for_rtt(1000), 2500000);	  /* a 1 ms path */
	assert_int_equal(mig_conn_buf_for_rtt(20000), most);	  /* 50 MB: the cap */
	assert_int_equal(mig_conn_buf_for_rtt(UINT32_MAX), most); /* no overflow */

	pair(&a, &b);
	for (int i = 0; i < 2; i++) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		int want;

		/* No data yet, so the RTT is still the handshake's, which sized them. */
		assert_int_equal(getsockopt(ends[i]->fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
		want = mig_conn_buf_for_rtt(ti.tcpi_rtt);
		assert_buf(ends[i]->fd, SO_SNDBUF, want, host_max("wmem_max"));
		assert_buf(ends[i]->fd, SO_RCVBUF, want, host_max("rmem_max"));
	}
	mig_conn_close(&a);
	mig_conn_close(&b);
}

/* A peer that does not read: the writer's deadline, with the bytes it wrote. */
static void test_stalled_reader(void **state)
{
	static uint8_t big[1 << 20];
	struct mig_conn a, b;
	uint64_t sent = 0;
	ssize_t w;

	(void)state;
	pair(&a, &b);
	while ((w = mig_conn_writev(&a, &(struct iovec){big, sizeof(big)}, 1, 150)) > 0)
		sent += (uint64_t)w;
	assert_int_equal(w, -ETIMEDOUT);
	assert_true(sent > 0 && sent == a.bytes_out);
	mig_conn_close(&b);
	/* The peer gone: an error, not a signal (SIGPIPE). */
	for (int i = 0; i < 100 && w == -ETIMEDOUT; i++)
		w = mig_conn_writev(&a, &(struct iovec){big, sizeof(big)}, 1, 50);
	assert_true(w == -EPIPE || w == -ECONNRESET);
	mig_conn_close(&a);
}

static void *cancel_later(void *arg)
{
	usleep(100000);
	mig_conn_cancel(arg);
	return NULL;
}

static void test_cancel(void **state)
{
	struct mig_uri u = {.host = "127.0.0.1", .port = 0};
	struct mig_conn a, b, l;
	pthread_t t;
	char buf[8], err[256];
	uint64_t t0;
	uint16_t port;
	int lfd;

	(void)state;
	pair(&a, &b);
	pthread_create(&t, NULL, cancel_later, &b);
	t0 = ms_now();
	assert_int_equal(mig_conn_read(&b, buf, sizeof(buf), 10000), -ECANCELED);
	assert_true(ms_now() - t0 < 2000);
	pthread_join(t, NULL);
	/* And every later wait. */
	assert_int_equal(mig_conn_write_all(&b, "x", 1, 1000), -ECANCELED);
	mig_conn_close(&a);
	mig_conn_close(&b);
	/* A wait for a source that never comes. */
	mig_conn_init(&l);
	assert_int_equal(mig_conn_listen(&u, &lfd, &port, err, sizeof(err)), 0);
	pthread_create(&t, NULL, cancel_later, &l);
	assert_int_equal(mig_conn_accept(&l, lfd, 0, err, sizeof(err)), -ECANCELED);
	pthread_join(t, NULL);
	mig_conn_init(&l);
	assert_int_equal(
	    mig_conn_accept(&l, lfd, ms_now() * 1000000ull + 100000000ull, err, sizeof(err)),
	    -ETIMEDOUT);
	close(lfd);
	/* Nobody listening there now. */
	u.port = port;
	mig_conn_init(&a);
	assert_true(mig_conn_connect(&a, &u, 1000, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "cannot connect to 127.0.0.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uri),
	    cmocka_unit_test(test_fault),
	    cmocka_unit_test(test_transfer_and_timeouts),
	    cmocka_unit_test(test_buffers),
	    cmocka_unit_test(test_stalled_reader),
	    cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

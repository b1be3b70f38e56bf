// SPDX-License-Identifier: MIT
/*
 * Unit tests of mig_conn's TLS path (src/migrate/mig_conn.c with
 * mig_tls.c): real sockets, real GnuTLS, the calls the drivers make, as
 * they make them.  A source writes a stream through mig_conn_writev() in
 * iovecs of awkward sizes cut by a bandwidth quota (as mig_src.c's flush()
 * does) and advances by what each call took; a destination reads it with
 * mig_conn_read() in pieces of every size and answers; the bytes must
 * arrive exactly.  Also: the handshake through mig_conn_start_tls() on
 * both sides, a wrong key refused on both, a cancel from another thread,
 * mig_conn_wait_readable() on bytes TLS already holds, the error lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "migrate/mig_conn.h"
#include "migrate/mig_tls.h"
#include "test_mig_tls_util.h"

#define IO_MS	   10000u
#define STREAM_LEN (12u << 20)

static char dir_a[TLS_TEST_DIR_LEN], dir_b[TLS_TEST_DIR_LEN];

static int group_setup(void **state)
{
	(void)state;
	tls_test_keys_dir(dir_a, "qemu:" TLS_TEST_KEY_A "\n");
	tls_test_keys_dir(dir_b, "qemu:" TLS_TEST_KEY_B "\n");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	return tls_test_keys_dir_remove(dir_a) | tls_test_keys_dir_remove(dir_b);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The destination, on a thread: accept, TLS, read the stream in pieces, answer. */
struct dst {
	int lfd;
	const char *dir;
	struct mig_conn conn;
	uint8_t *got;
	size_t got_len;
	int rc; /* of accept + TLS, then of the reads */
	char err[MIG_TLS_ERR_LEN];
	char read_err[MIG_TLS_ERR_LEN];
	pthread_t th;
};

static void *dst_main(void *arg)
{
	struct dst *d = arg;
	struct mig_tls_creds c;
	uint64_t seed = 7;
	static const char ack[] = "ACK: the stream arrived.";

	if (mig_tls_creds_load(&c, MIG_TLS_SERVER, d->dir, NULL, d->err, sizeof(d->err))) {
		d->rc = -EINVAL;
		return NULL;
	}
	d->rc = mig_conn_accept(&d->conn, d->lfd, 0, d->err, sizeof(d->err));
	if (d->rc == 0)
		d->rc = mig_conn_start_tls(&d->conn, &c, IO_MS, d->err, sizeof(d->err));
	while (d->rc == 0 && d->got_len < STREAM_LEN) {
		size_t want = 1 + rnd(&seed) % 70000;
		ssize_t n;

		if (want > STREAM_LEN - d->got_len)
			want = STREAM_LEN - d->got_len;
		n = mig_conn_read(&d->conn, d->got + d->got_len, want, IO_MS);
		if (n <= 0) {
			d->rc = n ? (int)n : -ECONNRESET;
			snprintf(d->read_err, sizeof(d->read_err), "%s",
				 mig_conn_strerror(&d->conn, d->rc));
			break;
		}
		d->got_len += (size_t)n;
	}
	if (d->rc == 0)
		d->rc = mig_conn_write_all(&d->conn, ack, sizeof(ack), IO_MS);
	mig_conn_close(&d->conn);
	mig_tls_creds_free(&c);
	return NULL;
}

static void start_dst(struct dst *d, const char *dir, struct mig_uri *u)
{
	char err[256];
	uint16_t port;

	memset(d, 0, sizeof(*d));
	d->dir = dir;
	d->got = malloc(STREAM_LEN);
	mig_conn_init(&d->conn);
	assert_int_equal(mig_uri_parse("tcp:127.0.0.1:0", true, u, err, sizeof(err)), 0);
	assert_int_equal(mig_conn_listen(u, &d->lfd, &port, err, sizeof(err)), 0);
	u->port = port;
	assert_int_equal(pthread_create(&d->th, NULL, dst_main, d), 0);
}

static void join_dst(struct dst *d)
{
	assert_int_equal(pthread_join(d->th, NULL), 0);
	close(d->lfd);
}

/* As mig_src.c's flush(): iovecs cut to a quota; advance by what each call took. */
static int send_stream(struct mig_conn *c, const uint8_t *data, size_t len)
{
	uint64_t seed = 11;
	size_t off = 0;

	while (off < len) {
		struct iovec v[300];
		size_t o = off, quota = 1 + rnd(&seed) % (3u << 20), sum = 0;
		int k = 0;
		ssize_t w;

		while (k < 300 && o < len && sum < quota) {
			size_t n = 1 + rnd(&seed) % (rnd(&seed) % 4 ? 5000 : 300000);

			if (n > len - o)
				n = len - o;
			if (n > quota - sum)
				n = quota - sum;
			v[k].iov_base = (void *)(data + o);
			v[k++].iov_len = n;
			o += n;
			sum += n;
		}
		w = mig_conn_writev(c, v, k, IO_MS);
		if (w < 0)
			return (int)w;
		if (w == 0 || (size_t)w > sum)
			return -EIO;
		off += (size_t)w;
	}
	return 0;
}

static void test_stream(void **state)
{
	uint8_t *data = malloc(STREAM_LEN), reply[64];
	struct mig_tls_creds c;
	struct mig_conn conn;
	struct mig_uri u;
	struct dst d;
	char err[MIG_TLS_ERR_LEN];
	uint64_t seed = 3;
	size_t got = 0;

	(void)state;
	for (size_t i = 0; i < STREAM_LEN; i += 8) {
		uint64_t x = rnd(&seed);

		memcpy(data + i, &x, 8);
	}
	start_dst(&d, dir_a, &u);
	assert_int_equal(mig_tls_creds_load(&c, MIG_TLS_CLIENT, dir_a, NULL, err, sizeof(err)), 0);
	mig_conn_init(&conn);
	assert_int_equal(mig_conn_connect(&conn, &u, IO_MS, err, sizeof(err)), 0);
	assert_int_equal(mig_conn_start_tls(&conn, &c, IO_MS, err, sizeof(err)), 0);
	assert_int_equal(send_stream(&conn, data, STREAM_LEN), 0);
	assert_int_equal(conn.bytes_out, STREAM_LEN); /* the stream's bytes, not TLS's */
	while (got < sizeof("ACK: the stream arrived.")) {
		ssize_t n;

		assert_int_equal(mig_conn_wait_readable(&conn, IO_MS), 1);
		n = mig_conn_read(&conn, reply + got, sizeof(reply) - got, IO_MS);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_string_equal((char *)reply, "ACK: the stream arrived.");
	/* The destination closed with close_notify: the end of the stream. */
	assert_int_equal(mig_conn_read(&conn, reply, sizeof(reply), IO_MS), 0);
	mig_conn_close(&conn);
	join_dst(&d);
	if (d.rc) {
		print_error("destination: %d %s %s\n", d.rc, d.err, d.read_err);
		fail();
	}
	assert_int_equal(d.got_len, STREAM_LEN);
	assert_memory_equal(d.got, data, STREAM_LEN);
	assert_int_equal(d.conn.bytes_in, STREAM_LEN);
	mig_tls_creds_free(&c);
	free(d.got);
	free(data);
}

static void test_wrong_key(void **state)
{
	struct mig_tls_creds c;
	struct mig_conn conn;
	struct mig_uri u;
	struct dst d;
	char err[MIG_TLS_ERR_LEN];

	(void)state;
	start_dst(&d, dir_a, &u);
	assert_int_equal(mig_tls_creds_load(&c, MIG_TLS_CLIENT, dir_b, NULL, err, sizeof(err)), 0);
	mig_conn_init(&conn);
	assert_int_equal(mig_conn_connect(&conn, &u, IO_MS, err, sizeof(err)), 0);
	assert_int_equal(mig_conn_start_tls(&conn, &c, IO_MS, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "the destination refused our key for 'qemu'"));
	mig_conn_close(&conn);
	join_dst(&d);
	assert_int_equal(d.rc, -EACCES);
	assert_non_null(strstr(d.err, "the source did not prove the key for 'qemu'"));
	assert_int_equal(d.got_len, 0);
	mig_tls_creds_free(&c);
	free(d.got);
}

/* The destination's half of a handshake, on a thread. */
struct hs_args {
	struct mig_conn *c;
	struct mig_tls_creds *cr;
	int rc;
};

static void *server_hs(void *p)
{
	struct hs_args *a = p;
	char err[MIG_TLS_ERR_LEN];

	a->rc = mig_conn_start_tls(a->c, a->cr, IO_MS, err, sizeof(err));
	return NULL;
}

/* A cancel from another thread ends a TLS read at once (within a poll slice). */
static struct mig_conn *to_cancel;

static void *cancel_later(void *arg)
{
	(void)arg;
	usleep(200 * 1000);
	mig_conn_cancel(to_cancel);
	return NULL;
}

static void test_cancel(void **state)
{
	struct mig_tls_creds cc, sc;
	struct mig_conn a, b;
	struct mig_uri u;
	char err[MIG_TLS_ERR_LEN], buf[16];
	uint16_t port;
	int lfd;
	pthread_t th;
	struct timespec t0, t1;
	int64_t ms;

	(void)state;
	assert_int_equal(mig_tls_creds_load(&cc, MIG_TLS_CLIENT, dir_a, NULL, err, sizeof(err)), 0);
	assert_int_equal(mig_tls_creds_load(&sc, MIG_TLS_SERVER, dir_a, NULL, err, sizeof(err)), 0);
	assert_int_equal(mig_uri_parse("tcp:127.0.0.1:0", true, &u, err, sizeof(err)), 0);
	assert_int_equal(mig_conn_listen(&u, &lfd, &port, err, sizeof(err)), 0);
	u.port = port;
	mig_conn_init(&a);
	mig_conn_init(&b);
	assert_int_equal(mig_conn_connect(&a, &u, IO_MS, err, sizeof(err)), 0);
	assert_int_equal(mig_conn_accept(&b, lfd, 0, err, sizeof(err)), 0);
	{
		struct hs_args sa = {&b, &sc, 0};
		pthread_t hs;

		assert_int_equal(pthread_create(&hs, NULL, server_hs, &sa), 0);
		assert_int_equal(mig_conn_start_tls(&a, &cc, IO_MS, err, sizeof(err)), 0);
		assert_int_equal(pthread_join(hs, NULL), 0);
		assert_int_equal(sa.rc, 0);
	}
	/* Bytes TLS already holds count as readable, though the socket is empty. */
	assert_int_equal(mig_conn_write_all(&a, "0123456789", 10, IO_MS), 0);
	assert_int_equal(mig_conn_read(&b, buf, 1, IO_MS), 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(mig_conn_wait_readable(&b, 2000), 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 1);
	assert_int_equal(mig_conn_read(&b, buf, sizeof(buf), IO_MS), 9);
	assert_memory_equal(buf, "123456789", 9);
	assert_int_equal(mig_conn_wait_readable(&b, 100), 0); /* nothing more */
	to_cancel = &b;
	assert_int_equal(pthread_create(&th, NULL, cancel_later, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(mig_conn_read(&b, buf, sizeof(buf), IO_MS), -ECANCELED);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(pthread_join(th, NULL), 0);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 150 && ms < 200 + 5 * MIG_CONN_SLICE_MS);
	assert_non_null(strstr(mig_conn_strerror(&b, -ECANCELED), "cancelled"));
	mig_conn_close(&a);
	mig_conn_close(&b);
	close(lfd);
	mig_tls_creds_free(&cc);
	mig_tls_creds_free(&sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stream, tls_test_setup, tls_test_teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_key, tls_test_setup, tls_test_teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, tls_test_setup, tls_test_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

// SPDX-License-Identifier: MIT
/*
 * Unit tests of src/migrate/mig_tls.c: real GnuTLS over real sockets (TCP
 * loopback and socketpairs), no mocks.  A small man-in-the-middle thread
 * between the two ends parses TLS records and changes, replays, reorders
 * or drops them in flight, or records a whole session to play it again to
 * a fresh server.  Every wait in the code under test has a deadline; an
 * alarm turns a hang of the tests themselves into a failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "migrate/mig_tls.h"
#include "test_mig_tls_util.h"

/* Deadline of every wait that is expected to end by itself. */
#define LONG_MS 10000
/* Bytes the client sends in the man-in-the-middle tests: four full records. */
#define MITM_BYTES (4 * 16384)

static char dir_a[TLS_TEST_DIR_LEN], dir_b[TLS_TEST_DIR_LEN], dir_bob[TLS_TEST_DIR_LEN];

static int group_setup(void **state)
{
	(void)state;
	tls_test_keys_dir(dir_a, "qemu:" TLS_TEST_KEY_A "\nbob:" TLS_TEST_KEY_B "\n");
	tls_test_keys_dir(dir_b, "qemu:" TLS_TEST_KEY_B "\n");
	tls_test_keys_dir(dir_bob, "bob:" TLS_TEST_KEY_A "\n");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	return tls_test_keys_dir_remove(dir_a) | tls_test_keys_dir_remove(dir_b) |
	       tls_test_keys_dir_remove(dir_bob);
}

static void pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/*
 * The destination's side, on a thread: handshake, read until the end (or
 * an error), then optionally send a reply and close_notify.
 */
struct server {
	int fd;
	const char *dir;
	int64_t handshake_ms; /* deadline of the handshake */
	int64_t read_ms;      /* of each read */
	const void *reply;
	size_t reply_len;
	/* results */
	bool started;
	int hs_rc, reply_rc;
	ssize_t read_rc; /* the last read's result: 0 at the end, or an error */
	uint8_t *got;
	size_t got_len, got_cap;
	char err[MIG_TLS_ERR_LEN];
	char desc[256];
	char peer[MIG_TLS_NAME_MAX + 1];
	int64_t elapsed_ms;
	uint64_t wire_in;
	pthread_t th;
};

static void *server_main(void *arg)
{
	struct server *sv = arg;
	struct mig_tls_creds c;
	struct mig_tls *t;
	int64_t t0 = tls_test_mono_ms();

	/* No cmocka assertion on this thread: a failure here would exit(-1) unreported. */
	if (mig_tls_creds_load(&c, MIG_TLS_SERVER, sv->dir, NULL, sv->err, sizeof(sv->err)))
		return NULL;
	t = mig_tls_new(sv->fd, &c, sv->err, sizeof(sv->err));
	if (!t) {
		mig_tls_creds_free(&c);
		return NULL;
	}
	sv->started = true;
	sv->hs_rc = mig_tls_handshake(t, mig_tls_deadline(sv->handshake_ms));
	sv->read_rc = 1;
	if (sv->hs_rc == 0) {
		mig_tls_description(t, sv->desc, sizeof(sv->desc));
		snprintf(sv->peer, sizeof(sv->peer), "%s", mig_tls_peer_name(t));
		for (;;) {
			ssize_t n;

			if (sv->got_len == sv->got_cap) {
				sv->got_cap = sv->got_cap ? 2 * sv->got_cap : 65536;
				sv->got = realloc(sv->got, sv->got_cap);
			}
			n = mig_tls_read(t, sv->got + sv->got_len, sv->got_cap - sv->got_len,
					 mig_tls_deadline(sv->read_ms));
			if (n <= 0) {
				sv->read_rc = n;
				break;
			}
			sv->got_len += (size_t)n;
		}
		if (sv->read_rc == 0 && sv->reply) {
			sv->reply_rc = mig_tls_write_all(t, sv->reply, sv->reply_len,
							 mig_tls_deadline(LONG_MS));
			/* The client may have closed once it had the reply: no check. */
			mig_tls_bye(t, mig_tls_deadline(LONG_MS));
		}
	}
	if (sv->hs_rc || sv->read_rc < 0)
		snprintf(sv->err, sizeof(sv->err), "%s", mig_tls_error(t));
	sv->wire_in = mig_tls_wire_bytes_in(t);
	sv->elapsed_ms = tls_test_mono_ms() - t0;
	mig_tls_free(t);
	mig_tls_creds_free(&c);
	close(sv->fd);
	return NULL;
}

static void server_start(struct server *sv, int fd, const char *dir)
{
	memset(sv, 0, sizeof(*sv));
	sv->fd = fd;
	sv->dir = dir;
	sv->handshake_ms = LONG_MS;
	sv->read_ms = LONG_MS;
}

static void server_run(struct server *sv)
{
	assert_int_equal(pthread_create(&sv->th, NULL, server_main, sv), 0);
}

static void server_join(struct server *sv)
{
	assert_int_equal(pthread_join(sv->th, NULL), 0);
	if (!sv->started) {
		print_error("server: %s\n", sv->err);
		fail();
	}
}

/*
 * The source's side, on the calling thread: handshake, send `len` bytes of
 * pattern in iovecs of awkward sizes, close_notify, read the reply.
 * Returns the handshake's result; *send_rc the sending's.
 */
static int client_send(int fd, const char *dir, const char *user, const uint8_t *data, size_t len,
		       int *send_rc, char *err, uint8_t *reply, size_t reply_len)
{
	static const size_t sizes[] = {1, 7, 4096, 16383, 16385, 100000, 8, 4104, 32768, 3};
	struct mig_tls_creds c;
	struct mig_tls *t;
	struct iovec iov[64];
	size_t off = 0;
	int rc, n = 0, k = 0;

	tls_test_creds(&c, MIG_TLS_CLIENT, dir, user);
	t = mig_tls_new(fd, &c, err, MIG_TLS_ERR_LEN);
	assert_non_null(t);
	rc = mig_tls_handshake(t, mig_tls_deadline(LONG_MS));
	*send_rc = -1;
	if (rc == 0) {
		*send_rc = 0;
		while (off < len && *send_rc == 0) {
			size_t s = sizes[k++ % 10];

			if (s > len - off)
				s = len - off;
			iov[n].iov_base = (void *)(data + off);
			iov[n++].iov_len = s;
			off += s;
			if (n == 64 || off == len) {
				*send_rc = mig_tls_writev_all(t, iov, n, mig_tls_deadline(LONG_MS));
				n = 0;
			}
		}
		if (*send_rc == 0)
			*send_rc = mig_tls_bye(t, mig_tls_deadline(LONG_MS));
		for (size_t got = 0; *send_rc == 0 && got < reply_len;) {
			ssize_t r = mig_tls_read(t, reply + got, reply_len - got,
						 mig_tls_deadline(LONG_MS));

			assert_true(r > 0);
			got += (size_t)r;
		}
	}
	snprintf(err, MIG_TLS_ERR_LEN, "%s", mig_tls_error(t));
	mig_tls_free(t);
	mig_tls_creds_free(&c);
	close(fd);
	return rc;
}

/* 24 MiB each way is too slow under the sanitizers: 6 MiB there is enough. */
#define ROUND_TRIP_BYTES (6u << 20)

static void round_trip(void (*pair)(int *, int *))
{
	uint8_t *data = malloc(ROUND_TRIP_BYTES), reply[4000], back[4000];
	struct server sv;
	char err[MIG_TLS_ERR_LEN];
	int c, s, send_rc;

	pattern(data, ROUND_TRIP_BYTES, 1);
	pattern(reply, sizeof(reply), 2);
	pair(&c, &s);
	server_start(&sv, s, dir_a);
	sv.reply = reply;
	sv.reply_len = sizeof(reply);
	server_run(&sv);
	assert_int_equal(
	    client_send(c, dir_a, NULL, data, ROUND_TRIP_BYTES, &send_rc, err, back, sizeof(back)),
	    0);
	assert_int_equal(send_rc, 0);
	server_join(&sv);
	assert_int_equal(sv.hs_rc, 0);
	assert_int_equal(sv.read_rc, 0);
	assert_int_equal(sv.got_len, ROUND_TRIP_BYTES);
	assert_memory_equal(sv.got, data, ROUND_TRIP_BYTES);
	assert_int_equal(sv.reply_rc, 0);
	assert_memory_equal(back, reply, sizeof(reply));
	/* TLS 1.3, the PSK mixed with an ephemeral exchange, an AEAD cipher. */
	assert_non_null(strstr(sv.desc, "TLS1.3"));
	assert_non_null(strstr(sv.desc, "ECDHE-PSK"));
	assert_true(strstr(sv.desc, "GCM") || strstr(sv.desc, "POLY1305"));
	assert_string_equal(sv.peer, "qemu");
	/* Full records: the wire carries under 0.5% more than the data (and the handshake). */
	assert_true(sv.wire_in > ROUND_TRIP_BYTES);
	assert_true(sv.wire_in < ROUND_TRIP_BYTES + ROUND_TRIP_BYTES / 200 + 2048);
	free(sv.got);
	free(data);
}

static void test_round_trip_tcp(void **state)
{
	(void)state;
	round_trip(tls_test_tcp_pair);
}

static void test_round_trip_unix(void **state)
{
	(void)state;
	round_trip(tls_test_unix_pair);
}

/* A name from the file other than the default, on both sides. */
static void test_other_name(void **state)
{
	struct server sv;
	char err[MIG_TLS_ERR_LEN];
	uint8_t data[100];
	int c, s, send_rc;

	(void)state;
	pattern(data, sizeof(data), 3);
	tls_test_tcp_pair(&c, &s);
	server_start(&sv, s, dir_a);
	server_run(&sv);
	assert_int_equal(client_send(c, dir_a, "bob", data, sizeof(data), &send_rc, err, NULL, 0),
			 0);
	server_join(&sv);
	assert_int_equal(sv.hs_rc, 0);
	assert_string_equal(sv.peer, "bob");
	assert_int_equal(sv.got_len, sizeof(data));
	assert_memory_equal(sv.got, data, sizeof(data));
	free(sv.got);
}

/*
 * The client cannot prove the key: both ends refuse in the handshake, the
 * server has delivered no byte.
 */
static void refused(const char *client_dir, const char *user, const char *server_msg,
		    const char *client_msg)
{
	struct server sv;
	char err[MIG_TLS_ERR_LEN];
	uint8_t data[4096];
	int c, s, send_rc;

	pattern(data, sizeof(data), 4);
	tls_test_tcp_pair(&c, &s);
	server_start(&sv, s, dir_a);
	server_run(&sv);
	assert_int_equal(
	    client_send(c, client_dir, user, data, sizeof(data), &send_rc, err, NULL, 0), -EACCES);
	server_join(&sv);
	assert_int_equal(sv.hs_rc, -EACCES);
	assert_int_equal(sv.got_len, 0);
	if (!strstr(sv.err, server_msg) || !strstr(err, client_msg)) {
		print_error("server: %s\nclient: %s\n", sv.err, err);
		fail();
	}
	free(sv.got);
}

static void test_wrong_key(void **state)
{
	(void)state;
	/* Same name, another key. */
	refused(dir_b, NULL, "did not prove the key for 'qemu'", "refused our key for 'qemu'");
	/* A name the server knows, with the key of another name. */
	refused(dir_bob, "bob", "did not prove the key for 'bob'", "refused our key for 'bob'");
}

static void test_unknown_name(void **state)
{
	char d[TLS_TEST_DIR_LEN];

	(void)state;
	tls_test_keys_dir(d, "eve:" TLS_TEST_KEY_A "\n");
	refused(d, "eve", "presented the name 'eve', which", "has no key for our name 'eve'");
	assert_int_equal(tls_test_keys_dir_remove(d), 0);
}

/* A source without tls-creds: the stream's header arrives where a ClientHello should. */
static void test_plain_source(void **state)
{
	static const char header[] = "VMM-MIG\n\1\0\0\0\0\0\0\0";
	uint8_t junk[8192];
	struct server sv;
	int c, s;

	(void)state;
	memset(junk, 0x5a, sizeof(junk));
	tls_test_tcp_pair(&c, &s);
	server_start(&sv, s, dir_a);
	server_run(&sv);
	assert_int_equal(write(c, header, 16), 16);
	/* The server may have refused on the header already: no check. */
	(void)!send(c, junk, sizeof(junk), MSG_NOSIGNAL);
	server_join(&sv);
	close(c);
	assert_int_equal(sv.hs_rc, -EACCES);
	assert_int_equal(sv.got_len, 0);
	free(sv.got);
	assert_non_null(strstr(sv.err, "the source does not speak TLS (first byte 0x56)"));
}

/* A destination without tls-creds answers the ClientHello with an error record of its own. */
static void test_plain_destination(void **state)
{
	struct mig_tls_creds cc;
	struct mig_tls *t;
	char err[MIG_TLS_ERR_LEN];
	uint8_t buf[512];
	int c, s;

	(void)state;
	tls_test_tcp_pair(&c, &s);
	tls_test_creds(&cc, MIG_TLS_CLIENT, dir_a, NULL);
	t = mig_tls_new(c, &cc, err, sizeof(err));
	assert_non_null(t);
	/* The reply a plain destination sends: not a TLS record. */
	memset(buf, 0, sizeof(buf));
	buf[0] = 0x82;
	assert_int_equal(write(s, buf, 40), 40);
	assert_int_equal(mig_tls_handshake(t, mig_tls_deadline(LONG_MS)), -EACCES);
	assert_non_null(
	    strstr(mig_tls_error(t), "the destination does not speak TLS (first byte 0x82)"));
	/* Nothing can be sent on a session that failed its handshake. */
	assert_int_equal(mig_tls_write_all(t, buf, 10, mig_tls_deadline(LONG_MS)), -EPROTO);
	assert_int_equal(mig_tls_read(t, buf, 10, mig_tls_deadline(LONG_MS)), -EPROTO);
	mig_tls_free(t);
	mig_tls_creds_free(&cc);
	close(c);
	close(s);
}

/* A peer that says nothing, or half a record, holds the handshake no longer than its deadline. */
static void silent(enum mig_tls_endpoint ep, const void *said, size_t said_len)
{
	struct mig_tls_creds cr;
	struct mig_tls *t;
	char err[MIG_TLS_ERR_LEN];
	int c, s;
	int64_t t0, dt;

	tls_test_unix_pair(&c, &s);
	tls_test_creds(&cr, ep, dir_a, NULL);
	t = mig_tls_new(s, &cr, err, sizeof(err));
	assert_non_null(t);
	if (said_len)
		assert_int_equal(write(c, said, said_len), (ssize_t)said_len);
	t0 = tls_test_mono_ms();
	assert_int_equal(mig_tls_handshake(t, mig_tls_deadline(300)), -ETIMEDOUT);
	dt = tls_test_mono_ms() - t0;
	assert_true(dt >= 290);
	assert_true(dt < 3000);
	assert_non_null(strstr(mig_tls_error(t), "handshake: the peer did not answer in time"));
	mig_tls_free(t);
	mig_tls_creds_free(&cr);
	close(c);
	close(s);
}

static void test_handshake_deadline(void **state)
{
	static const uint8_t half[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};

	(void)state;
	silent(MIG_TLS_SERVER, NULL, 0);
	silent(MIG_TLS_SERVER, half, sizeof(half)); /* a record header, then silence */
	silent(MIG_TLS_CLIENT, NULL, 0);
}

/* After the handshake, a read waits no longer than its deadline. */
static void test_read_deadline(void **state)
{
	struct server sv;
	struct mig_tls_creds cc;
	struct mig_tls *t;
	char err[MIG_TLS_ERR_LEN];
	int c, s;

	(void)state;
	tls_test_tcp_pair(&c, &s);
	server_start(&sv, s, dir_a);
	sv.read_ms = 300;
	server_run(&sv);
	tls_test_creds(&cc, MIG_TLS_CLIENT, dir_a, NULL);
	t = mig_tls_new(c, &cc, err, sizeof(err));
	assert_int_equal(mig_tls_handshake(t, mig_tls_deadline(LONG_MS)), 0);
	server_join(&sv); /* the client sends nothing */
	assert_int_equal(sv.hs_rc, 0);
	assert_int_equal(sv.read_rc, -ETIMEDOUT);
	assert_true(sv.elapsed_ms >= 290 && sv.elapsed_ms < 3000);
	assert_non_null(strstr(sv.err, "read: the peer did not answer in time"));
	free(sv.got);
	mig_tls_free(t);
	mig_tls_creds_free(&cc);
	close(c);
}

/* A cancel from another thread ends a wait that has no deadline. */
static _Atomic bool cancel_flag;

static void *cancel_later(void *arg)
{
	(void)arg;
	usleep(200 * 1000);
	atomic_store(&cancel_flag, true);
	return NULL;
}

static void test_cancel(void **state)
{
	struct mig_tls_creds cr;
	struct mig_tls *t;
	char err[MIG_TLS_ERR_LEN];
	pthread_t th;
	int c, s;
	int64_t t0, dt;

	(void)state;
	tls_test_unix_pair(&c, &s);
	tls_test_creds(&cr, MIG_TLS_SERVER, dir_a, NULL);
	t = mig_tls_new(s, &cr, err, sizeof(err));
	assert_non_null(t);
	atomic_store(&cancel_flag, false);
	mig_tls_set_cancel(t, &cancel_flag, 50);
	t0 = tls_test_mono_ms();
	assert_int_equal(pthread_create(&th, NULL, cancel_later, NULL), 0);
	assert_int_equal(mig_tls_handshake(t, MIG_TLS_NO_DEADLINE), -ECANCELED);
	dt = tls_test_mono_ms() - t0;
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(dt >= 190 && dt < 2000);
	assert_non_null(strstr(mig_tls_error(t), "handshake: cancelled"));
	mig_tls_free(t);
	mig_tls_creds_free(&cr);
	close(c);
	close(s);
}

/*
 * The man in the middle: client <-> [a | proxy | b] <-> server.  Bytes
 * from the server pass unchanged; bytes from the client are cut into TLS
 * records and each goes through `act`.  Application data records are told
 * apart from the handshake's (also type 23 in TLS 1.3) by their size: the
 * client's Finished is tens of bytes, its data records 16 KiB.
 */
enum mitm_act {
	MITM_PASS,
	MITM_FLIP_DATA,	    /* flip one bit of the 2nd data record */
	MITM_REPLAY_DATA,   /* send the 1st data record twice */
	MITM_SWAP_DATA,	    /* send the 2nd data record before the 1st */
	MITM_DROP_DATA,	    /* drop the 2nd data record */
	MITM_FLIP_HELLO,    /* flip one bit of the ClientHello */
	MITM_FLIP_FINISHED, /* flip one bit of the client's first type-23 record */
};

struct mitm {
	int a, b; /* the proxy's ends: a faces the client, b the server */
	enum mitm_act act;
	uint8_t *rec; /* everything the client sent, as sent */
	size_t rec_len, rec_cap;
	unsigned int data_records, type23;
	uint8_t held[20000];
	size_t held_len;
	pthread_t th;
};

static void put(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return; /* the server has gone: the test checks what it saw */
		p += w;
		n -= (size_t)w;
	}
}

static void mitm_record(struct mitm *m, uint8_t *r, size_t n)
{
	uint8_t type = r[0];
	bool data = type == 23 && n > 1024;
	unsigned int k = data ? m->data_records++ : 0;
	bool first23 = type == 23 && m->type23++ == 0;

	switch (m->act) {
	case MITM_FLIP_DATA:
		if (data && k == 1)
			r[5 + 100] ^= 0x01;
		break;
	case MITM_REPLAY_DATA:
		if (data && k == 0)
			put(m->b, r, n);
		break;
	case MITM_SWAP_DATA:
		if (data && k == 0) {
			memcpy(m->held, r, n);
			m->held_len = n;
			return;
		}
		if (data && k == 1) {
			put(m->b, r, n);
			put(m->b, m->held, m->held_len);
			return;
		}
		break;
	case MITM_DROP_DATA:
		if (data && k == 1)
			return;
		break;
	case MITM_FLIP_HELLO:
		if (type == 22)
			r[n - 10] ^= 0x01; /* the PSK binder: the last bytes of the hello */
		break;
	case MITM_FLIP_FINISHED:
		if (first23)
			r[n - 1] ^= 0x01;
		break;
	case MITM_PASS:
		break;
	}
	put(m->b, r, n);
}

static void *mitm_main(void *arg)
{
	struct mitm *m = arg;
	uint8_t in[70000], buf[65536];
	size_t in_len = 0;
	bool a_open = true, b_open = true;

	while (a_open || b_open) {
		struct pollfd p[2] = {{.fd = a_open ? m->a : -1, .events = POLLIN},
				      {.fd = b_open ? m->b : -1, .events = POLLIN}};

		if (poll(p, 2, TLS_TEST_HUNG_S * 1000) <= 0)
			break;
		if (p[0].revents) {
			ssize_t n = read(m->a, in + in_len, sizeof(in) - in_len);

			if (n <= 0) {
				a_open = false;
				shutdown(m->b, SHUT_WR);
			} else {
				if (m->rec_len + (size_t)n > m->rec_cap) {
					m->rec_cap = 2 * (m->rec_len + (size_t)n);
					m->rec = realloc(m->rec, m->rec_cap);
				}
				memcpy(m->rec + m->rec_len, in + in_len, (size_t)n);
				m->rec_len += (size_t)n;
				in_len += (size_t)n;
				for (;;) {
					size_t rl;

					if (in_len < 5)
						break;
					rl = 5 + ((size_t)in[3] << 8 | in[4]);
					if (in_len < rl)
						break;
					mitm_record(m, in, rl);
					memmove(in, in + rl, in_len - rl);
					in_len -= rl;
				}
			}
		}
		if (p[1].revents) {
			ssize_t n = read(m->b, buf, sizeof(buf));

			if (n <= 0) {
				b_open = false;
				shutdown(m->a, SHUT_WR);
			} else {
				put(m->a, buf, (size_t)n);
			}
		}
	}
	close(m->a);
	close(m->b);
	return NULL;
}

/* Client -> proxy -> server with `act`; returns the server's results in sv. */
static void through_mitm(enum mitm_act act, struct server *sv, struct mitm *m, const uint8_t *data,
			 size_t len, int *client_hs, int *send_rc)
{
	char err[MIG_TLS_ERR_LEN];
	int c, s;

	memset(m, 0, sizeof(*m));
	m->act = act;
	tls_test_unix_pair(&c, &m->a);
	tls_test_unix_pair(&m->b, &s);
	assert_int_equal(pthread_create(&m->th, NULL, mitm_main, m), 0);
	server_start(sv, s, dir_a);
	server_run(sv);
	*client_hs = client_send(c, dir_a, NULL, data, len, send_rc, err, NULL, 0);
	server_join(sv);
	assert_int_equal(pthread_join(m->th, NULL), 0);
}

static void test_mitm_pass(void **state)
{
	uint8_t *data = malloc(MITM_BYTES);
	struct server sv;
	struct mitm m;
	int hs, send_rc;

	(void)state;
	pattern(data, MITM_BYTES, 5);
	through_mitm(MITM_PASS, &sv, &m, data, MITM_BYTES, &hs, &send_rc);
	/* The proxy itself changes nothing: all four records arrive whole. */
	assert_int_equal(hs, 0);
	assert_int_equal(sv.hs_rc, 0);
	assert_int_equal(sv.read_rc, 0);
	assert_int_equal(m.data_records, 4);
	assert_int_equal(sv.got_len, MITM_BYTES);
	assert_memory_equal(sv.got, data, MITM_BYTES);
	free(sv.got);
	free(m.rec);
	free(data);
}

/*
 * Tampering after the handshake: the server delivers exactly what came
 * before the bad record (a prefix of what was sent), then refuses.
 */
static void tampered(enum mitm_act act, size_t good_prefix)
{
	uint8_t *data = malloc(MITM_BYTES);
	struct server sv;
	struct mitm m;
	int hs, send_rc;

	pattern(data, MITM_BYTES, 6);
	through_mitm(act, &sv, &m, data, MITM_BYTES, &hs, &send_rc);
	assert_int_equal(hs, 0);
	assert_int_equal(sv.hs_rc, 0);
	if (sv.read_rc != -EBADMSG || !strstr(sv.err, "changed, replayed or forged")) {
		print_error("act %d: read %zd: %s\n", act, sv.read_rc, sv.err);
		fail();
	}
	assert_int_equal(sv.got_len, good_prefix);
	assert_memory_equal(sv.got, data, good_prefix);
	free(sv.got);
	free(m.rec);
	free(data);
}

static void test_mitm_flip(void **state)
{
	(void)state;
	tampered(MITM_FLIP_DATA, 16384);
}

static void test_mitm_replay_record(void **state)
{
	(void)state;
	tampered(MITM_REPLAY_DATA, 16384);
}

static void test_mitm_reorder(void **state)
{
	(void)state;
	tampered(MITM_SWAP_DATA, 0);
}

static void test_mitm_drop(void **state)
{
	(void)state;
	tampered(MITM_DROP_DATA, 16384);
}

/* Tampering in the handshake: refused there, nothing delivered. */
static void test_mitm_handshake(void **state)
{
	static const enum mitm_act acts[] = {MITM_FLIP_HELLO, MITM_FLIP_FINISHED};
	uint8_t data[4096];
	struct server sv;
	struct mitm m;
	int hs, send_rc;

	(void)state;
	pattern(data, sizeof(data), 7);
	for (size_t i = 0; i < 2; i++) {
		through_mitm(acts[i], &sv, &m, data, sizeof(data), &hs, &send_rc);
		if (sv.hs_rc == 0) {
			print_error("act %d: the server finished the handshake\n", acts[i]);
			fail();
		}
		assert_int_equal(sv.got_len, 0);
		free(sv.got);
		free(m.rec);
	}
}

/*
 * A whole session recorded on the wire, played again to a fresh server:
 * its ClientHello is genuine, but the server's new random and key share
 * make the recorded Finished wrong: refused before any data.
 */
static void test_replay_session(void **state)
{
	uint8_t *data = malloc(MITM_BYTES);
	struct server sv, sv2;
	struct mitm m;
	int hs, send_rc, c, s;

	(void)state;
	pattern(data, MITM_BYTES, 8);
	through_mitm(MITM_PASS, &sv, &m, data, MITM_BYTES, &hs, &send_rc);
	assert_int_equal(sv.read_rc, 0);
	assert_int_equal(sv.got_len, MITM_BYTES);
	free(sv.got);
	assert_true(m.rec_len > MITM_BYTES);

	tls_test_unix_pair(&c, &s);
	server_start(&sv2, s, dir_a);
	server_run(&sv2);
	put(c, m.rec, m.rec_len);
	server_join(&sv2);
	close(c);
	if (sv2.hs_rc == 0) {
		print_error("the replayed session passed the handshake; read %zd, %zu bytes\n",
			    sv2.read_rc, sv2.got_len);
		fail();
	}
	assert_int_equal(sv2.got_len, 0);
	free(sv2.got);
	free(m.rec);
	free(data);
}

/* Every case runs under the hang alarm (tls_test_setup(), TLS_TEST_HUNG_S). */
#define TLS_TEST(f) cmocka_unit_test_setup_teardown(f, tls_test_setup, tls_test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    TLS_TEST(test_round_trip_tcp),     TLS_TEST(test_round_trip_unix),
	    TLS_TEST(test_other_name),	       TLS_TEST(test_wrong_key),
	    TLS_TEST(test_unknown_name),       TLS_TEST(test_plain_source),
	    TLS_TEST(test_plain_destination),  TLS_TEST(test_handshake_deadline),
	    TLS_TEST(test_read_deadline),      TLS_TEST(test_cancel),
	    TLS_TEST(test_mitm_pass),	       TLS_TEST(test_mitm_flip),
	    TLS_TEST(test_mitm_replay_record), TLS_TEST(test_mitm_reorder),
	    TLS_TEST(test_mitm_drop),	       TLS_TEST(test_mitm_handshake),
	    TLS_TEST(test_replay_session),
	};

	/* A peer that has gone must fail a write, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * mig_tls: TLS 1.3 with a pre-shared key over a connected socket, through
 * GnuTLS, with deadlines.  See mig_tls.h and docs/security.md.
 *
 * Every wait is a poll() on the socket for what GnuTLS last wanted (read
 * or write), bounded by the caller's deadline; GnuTLS itself never blocks
 * (the socket is non-blocking).  Application data goes out in records of
 * MIG_TLS_RECORD bytes, staged from the caller's iovecs.
 */
#include "migrate/mig_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

/*
 * The largest plaintext of one TLS record (RFC 8446, 5.1).  Full records
 * keep the per-record cost (5 bytes of header, 1 of type and 16 of tag, one
 * AEAD call) at 0.13% of the bytes; the staging copy costs less than the
 * encryption that follows it.
 */
#define MIG_TLS_RECORD 16384u

/*
 * Bytes read from the socket at once.  GnuTLS asks for a record's header,
 * then its body: two recv() calls per 16 KiB without a buffer of our own.
 * With one, a recv() takes whatever has arrived, up to 16 records, and
 * GnuTLS copies them from here.
 */
#define MIG_TLS_READAHEAD (256u * 1024u)

/*
 * Sealed records gathered before a send(), while mig_tls_writev_all()
 * runs: one send() per 16 records instead of one per record.  Everything
 * is on its way to the kernel when that call returns.
 */
#define MIG_TLS_WRITEBEHIND (256u * 1024u)

/*
 * TLS 1.3 only; key exchange only with a PSK mixed with an ephemeral ECDHE
 * share (psk_dhe_ke): no certificates, no plain PSK (psk_ke, which has no
 * forward secrecy), no TLS 1.2, no finite-field DHE (23 ms a handshake
 * here, against under 1 ms).  An external PSK hashes with SHA-256, so the
 * suites are the SHA-256 ones: AES-128-GCM first (AES-NI: 3.3 GB/s alone
 * here, bench/mig_tls.c), then ChaCha20-Poly1305 (0.37 GB/s here; faster
 * than AES on a CPU without AES instructions).  GnuTLS's NORMAL order
 * would pick ChaCha20: AES-256-GCM, which it puts first, is a SHA-384
 * suite and cannot be used with the key.
 */
static const char mig_tls_priority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:-CIPHER-ALL:+AES-128-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1";

struct mig_tls {
	int fd;
	const struct mig_tls_creds *creds;
	gnutls_session_t s;
	gnutls_psk_client_credentials_t ccred;
	gnutls_psk_server_credentials_t scred;
	bool handshaken;
	bool broken;	     /* a fatal error: nothing more may be sent */
	bool saw_first_byte; /* the peer's first byte, to tell "not TLS" apart */
	uint8_t first_byte;
	bool unknown_name; /* server: the client asked for a name we have no key for */
	bool key_found;	   /* server: ... for a name we have a key for */
	char peer_name[MIG_TLS_NAME_MAX + 1];
	const _Atomic bool *cancel; /* NULL, or: end every wait when true */
	int slice_ms;
	int sock_errno; /* the last failed recv()/send()'s errno */
	uint64_t wire_out, wire_in;
	uint8_t *out; /* staging: one record's plaintext */
	size_t out_len;
	uint8_t *in; /* read-ahead: bytes received, not yet taken by GnuTLS */
	size_t in_off, in_len;
	bool batching; /* inside mig_tls_writev_all(): push() gathers */
	uint8_t *wb;   /* write-behind: sealed records not yet sent */
	size_t wb_off, wb_len;
	char err[MIG_TLS_ERR_LEN];
};

static int seterr(struct mig_tls *t, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int seterr(struct mig_tls *t, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	return rc;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mig_tls_deadline(int64_t timeout_ms)
{
	if (timeout_ms < 0 || timeout_ms > INT64_MAX / 2000000)
		return MIG_TLS_NO_DEADLINE;
	return now_ns() + timeout_ms * 1000000;
}

/*
 * The transport: recv() into the read-ahead buffer, send() on the socket,
 * counted.  GnuTLS gets EAGAIN only when the buffer is empty, so a poll()
 * on the socket after it never waits on bytes we already hold.
 */
static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct mig_tls *t = p;

	if (t->in_off == t->in_len) {
		ssize_t n = recv(t->fd, t->in, MIG_TLS_READAHEAD, 0);

		if (n < 0) {
			t->sock_errno = errno;
			gnutls_transport_set_errno(t->s, errno);
			return n;
		}
		if (n == 0)
			return 0;
		if (!t->saw_first_byte) {
			t->saw_first_byte = true;
			t->first_byte = t->in[0];
		}
		t->wire_in += (uint64_t)n;
		t->in_off = 0;
		t->in_len = (size_t)n;
	}
	if (len > t->in_len - t->in_off)
		len = t->in_len - t->in_off;
	memcpy(buf, t->in + t->in_off, len);
	t->in_off += len;
	return (ssize_t)len;
}

static ssize_t send_iov(struct mig_tls *t, const struct iovec *iov, int iovcnt)
{
	struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	ssize_t n = sendmsg(t->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n > 0)
		t->wire_out += (uint64_t)n;
	if (n < 0) {
		t->sock_errno = errno;
		gnutls_transport_set_errno(t->s, errno);
	}
	return n;
}

/* Send what the write-behind buffer holds, as far as the socket takes it.  0 or -1 (errno). */
static int wb_send(struct mig_tls *t)
{
	while (t->wb_off < t->wb_len) {
		struct iovec v = {.iov_base = t->wb + t->wb_off, .iov_len = t->wb_len - t->wb_off};
		ssize_t n = send_iov(t, &v, 1);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		t->wb_off += (size_t)n;
	}
	t->wb_off = t->wb_len = 0;
	return 0;
}

static ssize_t push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct mig_tls *t = p;
	size_t len = 0;

	if (!t->batching)
		return send_iov(t, (const struct iovec *)iov, iovcnt);
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (t->wb_len + len > MIG_TLS_WRITEBEHIND) {
		if (wb_send(t) < 0)
			return -1;
		if (t->wb_off) {
			memmove(t->wb, t->wb + t->wb_off, t->wb_len - t->wb_off);
			t->wb_len -= t->wb_off;
			t->wb_off = 0;
		}
		if (t->wb_len + len > MIG_TLS_WRITEBEHIND) {
			/* Full: GnuTLS keeps the record and calls again once we can write. */
			t->sock_errno = EAGAIN;
			gnutls_transport_set_errno(t->s, EAGAIN);
			errno = EAGAIN;
			return -1;
		}
	}
	for (int i = 0; i < iovcnt; i++) {
		memcpy(t->wb + t->wb_len, iov[i].iov_base, iov[i].iov_len);
		t->wb_len += iov[i].iov_len;
	}
	return (ssize_t)len;
}

/* Server: the key for the name the client presents (GnuTLS frees key->data). */
static int server_key(gnutls_session_t s, const gnutls_datum_t *user, gnutls_datum_t *key)
{
	struct mig_tls *t = gnutls_session_get_ptr(s);
	const struct mig_tls_key *k;
	size_t n = user->size < MIG_TLS_NAME_MAX ? user->size : MIG_TLS_NAME_MAX;
	bool clean = user->size <= MIG_TLS_NAME_MAX;

	/* Keep a printable copy for messages: the name is the peer's. */
	for (size_t i = 0; i < n; i++) {
		uint8_t c = user->data[i];

		t->peer_name[i] = (c > ' ' && c <= '~' && c != ':') ? (char)c : '?';
		if (t->peer_name[i] != (char)c)
			clean = false;
	}
	t->peer_name[n] = '\0';
	k = clean ? mig_tls_keys_find(&t->creds->keys, t->peer_name) : NULL;
	if (!k) {
		t->unknown_name = true;
		return -1;
	}
	t->key_found = true;
	key->data = gnutls_malloc(k->len);
	if (!key->data)
		return -1;
	memcpy(key->data, k->key, k->len);
	key->size = (unsigned int)k->len;
	return 0;
}

struct mig_tls *mig_tls_new(int fd, const struct mig_tls_creds *c, char *err, size_t errlen)
{
	bool server = c->endpoint == MIG_TLS_SERVER;
	struct mig_tls *t = calloc(1, sizeof(*t));
	const char *where = "";
	int rc = 0, fl;

	if (!t) {
		snprintf(err, errlen, "tls: out of memory");
		return NULL;
	}
	t->fd = fd;
	t->creds = c;
	t->out = malloc(MIG_TLS_RECORD);
	t->in = malloc(MIG_TLS_READAHEAD);
	t->wb = malloc(MIG_TLS_WRITEBEHIND);
	if (!t->out || !t->in || !t->wb || c->keys.n == 0) {
		snprintf(err, errlen, "tls: %s",
			 t->out && t->in && t->wb ? "credentials without a key" : "out of memory");
		goto fail;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "tls: socket: %s", strerror(errno));
		goto fail;
	}
	rc = gnutls_init(&t->s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK |
				    GNUTLS_NO_SIGNAL);
	if (rc < 0) {
		where = "init";
		goto gfail;
	}
	gnutls_session_set_ptr(t->s, t);
	if (server) {
		rc = gnutls_psk_allocate_server_credentials(&t->scred);
		if (rc == 0)
			gnutls_psk_set_server_credentials_function2(t->scred, server_key);
		if (rc == 0)
			rc = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK, t->scred);
	} else {
		gnutls_datum_t key = {.data = c->keys.key[0].key,
				      .size = (unsigned int)c->keys.key[0].len};

		rc = gnutls_psk_allocate_client_credentials(&t->ccred);
		if (rc == 0)
			rc = gnutls_psk_set_client_credentials(t->ccred, c->username, &key,
							       GNUTLS_PSK_KEY_RAW);
		if (rc == 0)
			rc = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK, t->ccred);
	}
	if (rc < 0) {
		where = "credentials";
		goto gfail;
	}
	if (c->cipher) {
		char prio[sizeof(mig_tls_priority) + 64];

		snprintf(
		    prio, sizeof(prio),
		    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:-CIPHER-ALL:+%s:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1",
		    c->cipher);
		rc = gnutls_priority_set_direct(t->s, prio, NULL);
	} else {
		rc = gnutls_priority_set_direct(t->s, mig_tls_priority, NULL);
	}
	if (rc < 0) {
		where = "priority";
		goto gfail;
	}
	gnutls_transport_set_ptr(t->s, t);
	gnutls_transport_set_pull_function(t->s, pull);
	gnutls_transport_set_vec_push_function(t->s, push);
	/* Our own poll() with the caller's deadline, never GnuTLS's. */
	gnutls_handshake_set_timeout(t->s, 0);
	return t;
gfail:
	snprintf(err, errlen, "tls: %s: %s", where, gnutls_strerror(rc));
fail:
	mig_tls_free(t);
	return NULL;
}

void mig_tls_free(struct mig_tls *t)
{
	if (!t)
		return;
	if (t->s)
		gnutls_deinit(t->s);
	if (t->ccred)
		gnutls_psk_free_client_credentials(t->ccred);
	if (t->scred)
		gnutls_psk_free_server_credentials(t->scred);
	if (t->out)
		explicit_bzero(t->out, MIG_TLS_RECORD);
	free(t->out);
	if (t->in)
		explicit_bzero(t->in, MIG_TLS_READAHEAD);
	free(t->in);
	free(t->wb);
	free(t);
}

/* Wait until the socket can do what GnuTLS wants next, or the deadline. */
static int wait_fd(struct mig_tls *t, short events, int64_t deadline, const char *what)
{
	struct pollfd p = {.fd = t->fd, .events = events};

	for (;;) {
		int64_t left, ms;
		int r;

		if (t->cancel && atomic_load(t->cancel))
			return seterr(t, -ECANCELED, "tls: %s: cancelled", what);
		if (deadline == MIG_TLS_NO_DEADLINE) {
			ms = -1;
		} else {
			left = deadline - now_ns();
			if (left <= 0)
				return seterr(t, -ETIMEDOUT,
					      "tls: %s: the peer did not answer in time", what);
			ms = (left + 999999) / 1000000;
			if (ms > INT_MAX)
				ms = INT_MAX;
		}
		if (t->cancel && (ms < 0 || ms > t->slice_ms))
			ms = t->slice_ms;
		r = poll(&p, 1, (int)ms);
		if (r > 0)
			return 0; /* ready, or an error/hangup the next call reports */
		if (r < 0 && errno != EINTR)
			return seterr(t, -errno, "tls: %s: poll: %s", what, strerror(errno));
	}
}

static int wait_io(struct mig_tls *t, int64_t deadline, const char *what)
{
	/* Records gathered but unsent count as "wants to write". */
	bool out = gnutls_record_get_direction(t->s) || t->wb_len > t->wb_off;

	return wait_fd(t, out ? POLLOUT : POLLIN, deadline, what);
}

/* A transport errno behind a GnuTLS error, as a negative errno, or 0. */
static int socket_errno(struct mig_tls *t, int rc)
{
	if (rc == GNUTLS_E_PUSH_ERROR || rc == GNUTLS_E_PULL_ERROR) {
		return t->sock_errno ? -t->sock_errno : -EIO;
	}
	if (rc == GNUTLS_E_PREMATURE_TERMINATION)
		return -ECONNRESET;
	return 0;
}

static int handshake_error(struct mig_tls *t, int rc)
{
	bool server = t->creds->endpoint == MIG_TLS_SERVER;
	const char *peer = server ? "source" : "destination";
	int e = socket_errno(t, rc);

	t->broken = true;
	/* Tell the peer why, once, without waiting: it may have gone. */
	if (server && t->unknown_name)
		gnutls_alert_send(t->s, GNUTLS_AL_FATAL, GNUTLS_A_UNKNOWN_PSK_IDENTITY);
	else if (rc != GNUTLS_E_FATAL_ALERT_RECEIVED && !e)
		gnutls_alert_send_appropriate(t->s, rc);
	if (t->saw_first_byte && t->first_byte != 0x16 && t->first_byte != 0x15)
		/* A TLS peer's first record is a handshake (22) or an alert (21). */
		return seterr(
		    t, -EACCES,
		    "tls: the %s does not speak TLS (first byte 0x%02x): it has no tls-creds, or is not a vmm",
		    peer, t->first_byte);
	if (server && t->unknown_name)
		return seterr(t, -EACCES,
			      "tls: the source presented the name '%s', which %s/%s has no key for",
			      t->peer_name, t->creds->dir, MIG_TLS_KEYS_FILE);
	if (e == -ECONNRESET && !t->saw_first_byte)
		return seterr(t, e, "tls: the %s closed the connection before the handshake", peer);
	if (e)
		return seterr(t, e, "tls: handshake: %s: %s", gnutls_strerror(rc), strerror(-e));
	if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		int a = (int)gnutls_alert_get(t->s);

		if (a == GNUTLS_A_UNKNOWN_PSK_IDENTITY)
			return seterr(
			    t, -EACCES,
			    "tls: the %s has no key for our name '%s' (tls-creds-psk's username)",
			    peer, t->creds->username);
		/* The peer refused what we proved: another key. */
		if (a == GNUTLS_A_DECRYPT_ERROR || a == GNUTLS_A_BAD_RECORD_MAC ||
		    a == GNUTLS_A_HANDSHAKE_FAILURE || a == GNUTLS_A_INSUFFICIENT_SECURITY ||
		    a == GNUTLS_A_UNKNOWN_PSK_IDENTITY || a == GNUTLS_A_ILLEGAL_PARAMETER)
			return seterr(
			    t, -EACCES,
			    "tls: the %s refused our key for '%s' (alert: %s): the two keys files differ",
			    peer, server ? t->peer_name : t->creds->username,
			    gnutls_alert_get_name((gnutls_alert_description_t)a));
		return seterr(t, -EPROTO, "tls: the %s ended the handshake (alert: %s)", peer,
			      gnutls_alert_get_name((gnutls_alert_description_t)a));
	}
	/* A binder that does not match the key GnuTLS found for the name. */
	if (server && t->key_found && rc == GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER)
		return seterr(
		    t, -EACCES,
		    "tls: the source did not prove the key for '%s': its keys.psk holds another, or the handshake was changed in transit",
		    t->peer_name);
	if (rc == GNUTLS_E_DECRYPTION_FAILED || rc == GNUTLS_E_INSUFFICIENT_CREDENTIALS ||
	    rc == GNUTLS_E_KEY_USAGE_VIOLATION || rc == GNUTLS_E_ERROR_IN_FINISHED_PACKET)
		return seterr(t, -EACCES, "tls: the %s did not prove the key for '%s' (%s)", peer,
			      server ? t->peer_name : t->creds->username, gnutls_strerror(rc));
	return seterr(t, -EPROTO, "tls: handshake with the %s failed: %s", peer,
		      gnutls_strerror(rc));
}

int mig_tls_handshake(struct mig_tls *t, int64_t deadline)
{
	for (;;) {
		int rc = gnutls_handshake(t->s);

		if (rc == 0)
			break;
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			int e = wait_io(t, deadline, "handshake");

			if (e) {
				t->broken = true;
				return e;
			}
			continue;
		}
		if (!gnutls_error_is_fatal(rc))
			continue; /* a warning alert */
		return handshake_error(t, rc);
	}
	/* Belt and braces: the priority string allows nothing else. */
	if (gnutls_protocol_get_version(t->s) != GNUTLS_TLS1_3) {
		t->broken = true;
		return seterr(t, -EPROTO, "tls: negotiated %s, not TLS 1.3",
			      gnutls_protocol_get_name(gnutls_protocol_get_version(t->s)));
	}
	if (t->creds->endpoint == MIG_TLS_CLIENT)
		snprintf(t->peer_name, sizeof(t->peer_name), "%s", t->creds->username);
	t->handshaken = true;
	return 0;
}

static int record_error(struct mig_tls *t, ssize_t rc, const char *what)
{
	int e = socket_errno(t, (int)rc);

	t->broken = true;
	if (e)
		return seterr(t, e, "tls: %s: %s", what,
			      e == -ECONNRESET ? "the peer closed the connection" : strerror(-e));
	if (rc == GNUTLS_E_DECRYPTION_FAILED || rc == GNUTLS_E_UNEXPECTED_PACKET_LENGTH ||
	    rc == GNUTLS_E_RECORD_OVERFLOW || rc == GNUTLS_E_UNEXPECTED_PACKET)
		return seterr(
		    t, -EBADMSG,
		    "tls: %s: a record failed its check (%s): changed, replayed or forged in transit",
		    what, gnutls_strerror((int)rc));
	if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
		return seterr(t, -EPROTO, "tls: %s: the peer sent alert '%s'", what,
			      gnutls_alert_get_name(gnutls_alert_get(t->s)));
	return seterr(t, -EPROTO, "tls: %s: %s", what, gnutls_strerror((int)rc));
}

static int usable(struct mig_tls *t, const char *what)
{
	if (!t->handshaken)
		return seterr(t, -EPROTO, "tls: %s before the handshake", what);
	if (t->broken)
		return -EPIPE; /* keep the first error's message */
	return 0;
}

/* Send len bytes from p as whole records. */
static int send_bytes(struct mig_tls *t, const uint8_t *p, size_t len, int64_t deadline)
{
	while (len) {
		size_t n = len < MIG_TLS_RECORD ? len : MIG_TLS_RECORD;
		ssize_t w = gnutls_record_send(t->s, p, n);

		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
			/* GnuTLS holds the sealed record: call again with the same bytes. */
			int e = wait_io(t, deadline, "send");

			if (e) {
				t->broken = true;
				return e;
			}
			continue;
		}
		if (w < 0)
			return record_error(t, w, "send");
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Send every gathered record by the deadline. */
static int wb_flush(struct mig_tls *t, int64_t deadline)
{
	for (;;) {
		int rc;

		if (wb_send(t) < 0) {
			t->broken = true;
			rc = -t->sock_errno;
			return seterr(t, rc, "tls: send: %s",
				      rc == -EPIPE || rc == -ECONNRESET
					  ? "the peer closed the connection"
					  : strerror(-rc));
		}
		if (t->wb_len == 0)
			return 0;
		rc = wait_fd(t, POLLOUT, deadline, "send");
		if (rc) {
			t->broken = true;
			return rc;
		}
	}
}

int mig_tls_writev_all(struct mig_tls *t, const struct iovec *iov, int iovcnt, int64_t deadline)
{
	int rc = usable(t, "write");

	t->batching = rc == 0;

	for (int i = 0; rc == 0 && i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		while (rc == 0 && len) {
			size_t n;

			if (t->out_len == 0 && len >= MIG_TLS_RECORD) {
				/* Whole records straight from the caller's memory. */
				n = len - len % MIG_TLS_RECORD;
				rc = send_bytes(t, p, n, deadline);
			} else {
				n = MIG_TLS_RECORD - t->out_len;
				if (n > len)
					n = len;
				memcpy(t->out + t->out_len, p, n);
				t->out_len += n;
				if (t->out_len == MIG_TLS_RECORD) {
					rc = send_bytes(t, t->out, t->out_len, deadline);
					t->out_len = 0;
				}
			}
			p += n;
			len -= n;
		}
	}
	if (rc == 0 && t->out_len) {
		rc = send_bytes(t, t->out, t->out_len, deadline);
		t->out_len = 0;
	}
	if (rc == 0)
		rc = wb_flush(t, deadline);
	t->batching = false;
	return rc;
}

int mig_tls_write_all(struct mig_tls *t, const void *buf, size_t len, int64_t deadline)
{
	struct iovec v = {.iov_base = (void *)buf, .iov_len = len};

	return mig_tls_writev_all(t, &v, 1, deadline);
}

ssize_t mig_tls_read(struct mig_tls *t, void *buf, size_t len, int64_t deadline)
{
	int rc = usable(t, "read");

	if (rc)
		return rc;
	if (len == 0)
		return 0;
	for (;;) {
		ssize_t n = gnutls_record_recv(t->s, buf, len);

		if (n >= 0)
			return n;
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0; /* the stream's END record says whether it was whole */
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			int e = wait_io(t, deadline, "read");

			if (e) {
				t->broken = true;
				return e;
			}
			continue;
		}
		if (!gnutls_error_is_fatal((int)n))
			continue;
		return record_error(t, n, "read");
	}
}

int mig_tls_bye(struct mig_tls *t, int64_t deadline)
{
	int rc = usable(t, "close");

	if (rc)
		return rc;
	for (;;) {
		rc = gnutls_bye(t->s, GNUTLS_SHUT_WR);
		if (rc == 0)
			return 0;
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			int e = wait_io(t, deadline, "close");

			if (e) {
				t->broken = true;
				return e;
			}
			continue;
		}
		return record_error(t, rc, "close");
	}
}

void mig_tls_set_cancel(struct mig_tls *t, const _Atomic bool *flag, int slice_ms)
{
	t->cancel = flag;
	t->slice_ms = slice_ms > 0 ? slice_ms : 1;
}

size_t mig_tls_pending(struct mig_tls *t)
{
	/* Decrypted bytes, and received ones (perhaps part of a record). */
	return t->handshaken ? gnutls_record_check_pending(t->s) + (t->in_len - t->in_off) : 0;
}

const char *mig_tls_error(const struct mig_tls *t)
{
	return t->err;
}

const char *mig_tls_description(struct mig_tls *t, char *buf, size_t len)
{
	const char *g;

	if (!t->handshaken) {
		snprintf(buf, len, "(no session)");
		return buf;
	}
	g = gnutls_group_get_name(gnutls_group_get(t->s));
	snprintf(buf, len, "%s %s (%s) %s",
		 gnutls_protocol_get_name(gnutls_protocol_get_version(t->s)),
		 gnutls_kx_get_name(gnutls_kx_get(t->s)), g ? g : "no group",
		 gnutls_cipher_get_name(gnutls_cipher_get(t->s)));
	return buf;
}

const char *mig_tls_peer_name(const struct mig_tls *t)
{
	return t->peer_name;
}

uint64_t mig_tls_wire_bytes_out(const struct mig_tls *t)
{
	return t->wire_out;
}

uint64_t mig_tls_wire_bytes_in(const struct mig_tls *t)
{
	return t->wire_in;
}

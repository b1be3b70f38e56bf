/* SPDX-License-Identifier: MIT */
/*
 * mig_conn: every socket operation of the migration drivers, in one place.
 * TCP, plain or through the PSK channel (mig_tls.h, docs/security.md):
 * after mig_conn_start_tls() every read and write goes through TLS.  Every call that can wait takes a deadline or a timeout and gives
 * up when the connection is cancelled from another thread
 * (mig_conn_cancel(): a shutdown() that wakes any poll at once).
 *
 * A connection is used by one thread at a time (its driver); only
 * mig_conn_cancel() may be called from another.
 */
#ifndef MIG_CONN_H
#define MIG_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * Waits poll in slices of this long and look at the cancel flag between
 * them: a cancel takes effect within it, and the flag is all another
 * thread touches (no descriptor shared across threads).
 */
#define MIG_CONN_SLICE_MS 50

/*
 * The longest a TLS handshake may take on a destination: a peer that
 * connects and says nothing (or half a handshake) holds it no longer.  A
 * handshake is two round trips and about a millisecond of CPU here
 * (bench/mig_tls.c); 5 s leaves room for a loaded host and a slow link.
 */
#define MIG_CONN_HANDSHAKE_MS 5000u

/*
 * Application bytes one mig_conn_writev() sends through TLS at most: its
 * timeout then bounds the time for 256 KiB (a quarter of a second even at
 * 1 MB/s), as it bounds one writev() of plain TCP.
 */
#define MIG_CONN_TLS_CHUNK (256u * 1024u)

struct mig_tls;
struct mig_tls_creds;

/* The longest host name in a URI (a DNS name is at most 253 bytes). */
#define MIG_HOST_MAX 256

/* A parsed "tcp:HOST:PORT" (HOST may be "[v6addr]", kept without brackets). */
struct mig_uri {
	char host[MIG_HOST_MAX];
	uint16_t port; /* 0 only for a listener: any free port */
};

/*
 * Parse uri; listen: a port of 0 is allowed (the destination picks one).
 * 0, or -EINVAL with QEMU-like words in err.
 */
int mig_uri_parse(const char *uri, bool listen, struct mig_uri *out, char *err, size_t errlen);

struct mig_conn {
	int fd; /* -1 when closed */
	/*
	 * Set by mig_conn_cancel() (any thread): every wait ends with
	 * -ECANCELED within MIG_CONN_SLICE_MS.
	 */
	_Atomic bool cancelled;
	uint64_t bytes_out, bytes_in; /* application bytes (the stream), TLS or not */
	struct mig_tls *tls;	      /* NULL: plain TCP */
};

void mig_conn_init(struct mig_conn *c);

/*
 * The socket buffer size (SO_SNDBUF / SO_RCVBUF, each way) for a connected
 * path of this round-trip time: one bandwidth-delay product at the rate
 * we size for, between a floor (loopback, a LAN) and the most the host
 * allows (mig_conn.c, "Socket buffers").
 */
int mig_conn_buf_for_rtt(uint32_t rtt_us);

/*
 * Listen on u (SO_REUSEADDR); *lfd gets the socket, *port the port bound.
 * 0 or -errno with a sentence.
 */
int mig_conn_listen(const struct mig_uri *u, int *lfd, uint16_t *port, char *err, size_t errlen);
/*
 * Take one connection from lfd, waiting until deadline_ns (CLOCK_MONOTONIC,
 * 0 = forever) or until cancelled.  The listener stays open (the caller
 * closes it).  0, -ETIMEDOUT, -ECANCELED or -errno, with a sentence.
 */
int mig_conn_accept(struct mig_conn *c, int lfd, uint64_t deadline_ns, char *err, size_t errlen);
/* Connect to u within timeout_ms.  0 or -errno (-ETIMEDOUT, -ECANCELED) with a sentence. */
int mig_conn_connect(struct mig_conn *c, const struct mig_uri *u, unsigned timeout_ms, char *err,
		     size_t errlen);

/*
 * Write some of iov (one writev once the socket takes data), waiting at
 * most timeout_ms for it to.  Returns the bytes written (> 0), or -ETIMEDOUT
 * (the peer stopped reading), -ECANCELED, -EPIPE / -ECONNRESET (the peer
 * went), -errno.
 */
ssize_t mig_conn_writev(struct mig_conn *c, const struct iovec *iov, int n, unsigned timeout_ms);
/* All of buf, each wait at most timeout_ms.  0 or as mig_conn_writev(). */
int mig_conn_write_all(struct mig_conn *c, const void *buf, size_t len, unsigned timeout_ms);
/*
 * Read up to len bytes, waiting at most timeout_ms for the first.  Returns
 * the bytes read (> 0), 0 at the end of the stream, or -ETIMEDOUT,
 * -ECANCELED, -errno.
 */
ssize_t mig_conn_read(struct mig_conn *c, void *buf, size_t len, unsigned timeout_ms);
/* Wait up to timeout_ms for something to read (or the end): 1, 0 (timeout), -ECANCELED. */
int mig_conn_wait_readable(struct mig_conn *c, unsigned timeout_ms);

/*
 * After connect or accept: TLS over the connection with creds (client
 * credentials on a source, server on a destination), the handshake done
 * within timeout_ms or until cancelled; every read and write after it is
 * TLS.  0, or -errno with one line in err: -EACCES when the peer did not
 * prove the key or does not speak TLS, -ETIMEDOUT, -ECANCELED, ...
 */
int mig_conn_start_tls(struct mig_conn *c, const struct mig_tls_creds *creds, unsigned timeout_ms,
		       char *err, size_t errlen);
/*
 * One line for an error rc returned by a read or write on c: the TLS
 * layer's sentence when it has one (a record that failed its check, ...),
 * else strerror(-rc).
 */
const char *mig_conn_strerror(const struct mig_conn *c, int rc);

/* Any thread: make every wait on c end with -ECANCELED, now and later. */
void mig_conn_cancel(struct mig_conn *c);
void mig_conn_close(struct mig_conn *c);

#endif /* MIG_CONN_H */

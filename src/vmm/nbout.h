/* SPDX-License-Identifier: MIT */
/*
 * nbout: an output stream that never blocks its writer.
 *
 * The guest's console (stdout), the --stats stream and vmm's own messages
 * (stderr) go through one of these.  A write never waits: what the file
 * cannot take now is kept (up to NBOUT_PEND_MAX) and written by a later
 * call; when that is full, whole records are dropped and counted, never cut.
 * A reader that stopped reading (`vmm | less` paused, a terminal stopped
 * with Ctrl-S, `| sleep 25`) therefore cannot stop a vCPU, the controller
 * or the shutdown.  The first loss is said once (through the say function),
 * and nbout_close() gives the totals.
 *
 * How a write is kept from blocking depends on what the descriptor is:
 * - a pipe, FIFO or character device (a terminal, /dev/full): we write
 *   through a descriptor of our own opened with O_NONBLOCK (a reopen of
 *   /proc/self/fd/N, so that the shell's terminal and the other end of a
 *   shared pipe never see their file flags change);
 * - a socket: send() with MSG_DONTWAIT;
 * - a regular file or a block device: plain write(), which does not wait
 *   for a reader;
 * - anything else, or a reopen that fails: O_NONBLOCK set on the shared
 *   description and restored by nbout_close().
 *
 * Thread-safe: one lock per stream (console lines from vCPU threads, log
 * lines from any thread).
 */
#ifndef VMM_NBOUT_H
#define VMM_NBOUT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * Bytes held for a reader that is momentarily behind before whole records
 * are dropped: about a second of a 2-vCPU --stats stream at its fastest
 * interval (10 ms, ~600 bytes a record), a hundred console lines.  A record
 * that was started is always finished, whatever its size.
 */
#define NBOUT_PEND_MAX (64u << 10)
/* nbout_close(): give up when the reader has taken nothing for this long... */
#define NBOUT_CLOSE_IDLE_MS 250
/* ...or after this long in all, however slowly it reads. */
#define NBOUT_CLOSE_MAX_MS 2000

enum nbout_mode {
	NBOUT_WRITE,	/* write() on our own descriptor or on a regular file */
	NBOUT_SEND,	/* send(MSG_DONTWAIT) on a socket */
	NBOUT_SHARED_NB /* O_NONBLOCK set on a shared description, restored at close */
};

struct nbout_stats {
	uint64_t records;	/* records given to nbout_write() */
	uint64_t dropped;	/* of which dropped whole (or cut by an error) */
	uint64_t dropped_bytes; /* bytes of those */
	int error;		/* the first write error (errno), 0 if none */
};

struct nbout {
	pthread_mutex_t lock;
	int fd;	     /* where bytes go; -1 once closed */
	int user_fd; /* the descriptor as given (nbout_adopt) or -1 */
	bool own_fd; /* close fd at the end */
	enum nbout_mode mode;
	int saved_flags; /* NBOUT_SHARED_NB: the flags to restore */
	char name[96];	 /* for messages: "standard output", "--stats /tmp/s" */
	/* Called once, without the lock, when the first loss happens (may be NULL). */
	void (*say)(const char *line);
	char *pend; /* the unwritten tail of accepted records */
	size_t pend_len, pend_cap;
	size_t *ends; /* where each record in pend ends (for counting) */
	size_t nends, ends_cap;
	struct nbout_stats st;
	bool said;
};

/*
 * Write to an open descriptor we do not own (1, 2): fd is never closed.
 * Never fails; a descriptor that is not open is reported at the first write.
 */
void nbout_adopt(struct nbout *o, int fd, const char *name, void (*say)(const char *line));

/*
 * Open @path for writing without blocking: a regular file is created or
 * truncated; a FIFO must already have a reader (a FIFO nobody reads is an
 * error, not a wait); a character device is opened as it is; a directory,
 * a socket or a block device is refused.  The file's type is checked
 * before it is opened and again after.  -errno and a sentence in @err.
 */
int nbout_open(struct nbout *o, const char *path, const char *name, void (*say)(const char *line),
	       char *err, size_t errlen);

/*
 * One record (a line, with its newline): written now, kept for later, or
 * dropped whole.  Returns 0 if it was written or kept, -EAGAIN if it was
 * dropped because the reader is behind, or the -errno of a write error.
 */
int nbout_write(struct nbout *o, const void *buf, size_t len);
int nbout_writev(struct nbout *o, const struct iovec *iov, int iovcnt);

/* Write what was kept, as far as the file takes it now (never waits). */
void nbout_flush(struct nbout *o);

/* Counters so far (any thread). */
void nbout_stats(struct nbout *o, struct nbout_stats *out);

/*
 * Write what was kept, waiting at most NBOUT_CLOSE_IDLE_MS without progress
 * (NBOUT_CLOSE_MAX_MS in all); count the rest as dropped; release the
 * descriptor.  Fills @out (may be NULL) with the final counters.  The
 * totals line, if anything was lost, is left to the caller (nbout_describe).
 */
void nbout_close(struct nbout *o, struct nbout_stats *out);

/* "12 of 340 records (1.2 KiB) dropped: ..." for a stream that lost anything. */
void nbout_describe(const char *name, const struct nbout_stats *st, char *buf, size_t len);

#endif

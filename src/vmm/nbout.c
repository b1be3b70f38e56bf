/* SPDX-License-Identifier: MIT */
/* Output that never blocks its writer: see nbout.h. */
#include "vmm/nbout.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long nbout_close() sleeps when the file says it has room but takes nothing (a stopped tty). */
#define NBOUT_RETRY_NS 5000000L

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void init(struct nbout *o, const char *name, void (*say)(const char *line))
{
	memset(o, 0, sizeof(*o));
	pthread_mutex_init(&o->lock, NULL);
	o->fd = -1;
	o->user_fd = -1;
	o->say = say;
	snprintf(o->name, sizeof(o->name), "%s", name);
}

/* Our own O_NONBLOCK description of the pipe, FIFO or device behind @fd, or -1. */
static int reopen_nonblock(int fd, const struct stat *want)
{
	char path[64];
	struct stat st;
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (nfd < 0)
		return -1;
	/* The same object, not whatever the name leads to now. */
	if (fstat(nfd, &st) < 0 || st.st_dev != want->st_dev || st.st_ino != want->st_ino ||
	    st.st_rdev != want->st_rdev) {
		close(nfd);
		return -1;
	}
	return nfd;
}

void nbout_adopt(struct nbout *o, int fd, const char *name, void (*say)(const char *line))
{
	struct stat st;
	int nfd, fl;

	init(o, name, say);
	o->user_fd = fd;
	if (fstat(fd, &st) < 0)
		return; /* not open: every write is counted as lost (EBADF) */
	o->fd = fd;
	o->mode = NBOUT_WRITE;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return;
	if (S_ISSOCK(st.st_mode)) {
		o->mode = NBOUT_SEND;
		return;
	}
	if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		nfd = reopen_nonblock(fd, &st);
		if (nfd >= 0) {
			o->fd = nfd;
			o->own_fd = true;
			return;
		}
	}
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0) {
		o->mode = NBOUT_SHARED_NB;
		o->saved_flags = fl;
	}
}

static const char *type_name(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	return "not a regular file";
}

int nbout_open(struct nbout *o, const char *path, const char *name, void (*say)(const char *line),
	       char *err, size_t errlen)
{
	int flags = O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	struct stat before, after;
	bool exists;
	int fd, e;

	init(o, name, say);
	exists = stat(path, &before) == 0;
	if (!exists && errno != ENOENT) {
		e = errno;
		snprintf(err, errlen, "%s: %s", name, strerror(e));
		return -e;
	}
	if (exists && !S_ISREG(before.st_mode) && !S_ISFIFO(before.st_mode) &&
	    !S_ISCHR(before.st_mode)) {
		snprintf(err, errlen, "%s is %s: give a file, a FIFO, a terminal or -", name,
			 type_name(before.st_mode));
		return -EINVAL;
	}
	if (!exists || S_ISREG(before.st_mode))
		flags |= O_CREAT | O_TRUNC;
	fd = open(path, flags, 0666);
	if (fd < 0) {
		e = errno;
		if (e == ENXIO && exists && S_ISFIFO(before.st_mode))
			snprintf(
			    err, errlen,
			    "%s is a FIFO that no process has open for reading: start its reader first",
			    name);
		else
			snprintf(err, errlen, "cannot open %s: %s", name, strerror(e));
		return -e;
	}
	/* Replaced between the two looks (a FIFO for a file...): refuse rather than guess. */
	if (fstat(fd, &after) < 0 ||
	    (exists && (after.st_ino != before.st_ino || after.st_dev != before.st_dev)) ||
	    (!S_ISREG(after.st_mode) && !S_ISFIFO(after.st_mode) && !S_ISCHR(after.st_mode))) {
		snprintf(err, errlen, "%s changed while it was being opened", name);
		close(fd);
		return -EINVAL;
	}
	o->fd = fd;
	o->own_fd = true;
	o->mode = NBOUT_WRITE;
	return 0;
}

static ssize_t raw_writev(struct nbout *o, const struct iovec *iov, int n)
{
	ssize_t w;

	do {
		if (o->mode == NBOUT_SEND) {
			struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};

			w = sendmsg(o->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			w = writev(o->fd, iov, n);
		}
	} while (w < 0 && errno == EINTR);
	if (w < 0 && errno == EWOULDBLOCK)
		errno = EAGAIN;
	return w;
}

/*
 * The pending bytes hold whole records, the first one perhaps partly
 * written; ends[] are the offsets in pend at which each of them ends.
 */
static bool pend_reserve(struct nbout *o, size_t more)
{
	if (o->pend_len + more > o->pend_cap) {
		size_t cap = o->pend_cap ? o->pend_cap : 4096;
		char *p;

		while (cap < o->pend_len + more)
			cap *= 2;
		p = realloc(o->pend, cap);
		if (!p)
			return false;
		o->pend = p;
		o->pend_cap = cap;
	}
	if (o->nends == o->ends_cap) {
		size_t cap = o->ends_cap ? o->ends_cap * 2 : 64;
		size_t *e = realloc(o->ends, cap * sizeof(*e));

		if (!e)
			return false;
		o->ends = e;
		o->ends_cap = cap;
	}
	return true;
}

/* Keep the bytes of a record from offset @skip on. */
static bool pend_push(struct nbout *o, const struct iovec *iov, int n, size_t skip, size_t total)
{
	if (!pend_reserve(o, total - skip))
		return false;
	for (int i = 0; i < n; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		memcpy(o->pend + o->pend_len, (const char *)iov[i].iov_base + skip, l - skip);
		o->pend_len += l - skip;
		skip = 0;
	}
	o->ends[o->nends++] = o->pend_len;
	return true;
}

static void pend_consume(struct nbout *o, size_t w)
{
	size_t k = 0;

	memmove(o->pend, o->pend + w, o->pend_len - w);
	o->pend_len -= w;
	while (k < o->nends && o->ends[k] <= w)
		k++;
	memmove(o->ends, o->ends + k, (o->nends - k) * sizeof(*o->ends));
	o->nends -= k;
	for (size_t i = 0; i < o->nends; i++)
		o->ends[i] -= w;
}

static void pend_drop(struct nbout *o)
{
	o->st.dropped += o->nends;
	o->st.dropped_bytes += o->pend_len;
	o->pend_len = 0;
	o->nends = 0;
}

/* A loss: the first one is said (after the lock is released). */
static void lost(struct nbout *o, int e, char *say, size_t len)
{
	if (e != EAGAIN && !o->st.error)
		o->st.error = e;
	if (o->said)
		return;
	o->said = true;
	if (e == EAGAIN)
		snprintf(
		    say, len,
		    "%s is not being read: dropping what it cannot take, whole lines at a time",
		    o->name);
	else
		snprintf(say, len, "cannot write to %s: %s: dropping what cannot be written",
			 o->name, strerror(e));
}

/* Write what is pending, as far as the file takes it now: 0, -EAGAIN or -errno. */
static int flush_locked(struct nbout *o, char *say, size_t saylen)
{
	while (o->pend_len) {
		struct iovec iov = {o->pend, o->pend_len};
		ssize_t w = raw_writev(o, &iov, 1);

		if (w > 0) {
			pend_consume(o, (size_t)w);
			continue;
		}
		if (w == 0 || errno == EAGAIN)
			return -EAGAIN;
		{
			int e = errno;

			pend_drop(o);
			lost(o, e, say, saylen);
			return -e;
		}
	}
	return 0;
}

static void say_unlocked(struct nbout *o, const char *say)
{
	if (say[0] && o->say)
		o->say(say);
}

int nbout_writev(struct nbout *o, const struct iovec *iov, int iovcnt)
{
	char say[256] = "";
	size_t total = 0;
	ssize_t w;
	int r = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	pthread_mutex_lock(&o->lock);
	o->st.records++;
	if (o->fd < 0) {
		r = -EBADF;
		goto drop;
	}
	flush_locked(o, say, sizeof(say));
	if (o->pend_len) {
		/* The reader is behind: keep the record whole, or drop it whole. */
		if (o->pend_len + total <= NBOUT_PEND_MAX && pend_push(o, iov, iovcnt, 0, total))
			goto out;
		r = -EAGAIN;
		goto drop;
	}
	w = raw_writev(o, iov, iovcnt);
	if (w >= 0 && (size_t)w == total)
		goto out;
	if (w > 0) {
		/* Started: the rest must follow, or the stream would hold half a record. */
		if (pend_push(o, iov, iovcnt, (size_t)w, total))
			goto out;
		o->st.dropped++;
		o->st.dropped_bytes += total - (size_t)w;
		lost(o, ENOMEM, say, sizeof(say));
		r = -ENOMEM;
		goto out;
	}
	r = w == 0 ? -EAGAIN : -errno;
	if (r == -EAGAIN && total <= NBOUT_PEND_MAX && pend_push(o, iov, iovcnt, 0, total)) {
		r = 0;
		goto out;
	}
drop:
	o->st.dropped++;
	o->st.dropped_bytes += total;
	lost(o, -r, say, sizeof(say));
out:
	pthread_mutex_unlock(&o->lock);
	say_unlocked(o, say);
	return r;
}

int nbout_write(struct nbout *o, const void *buf, size_t len)
{
	struct iovec iov = {(void *)buf, len};

	return nbout_writev(o, &iov, 1);
}

void nbout_flush(struct nbout *o)
{
	char say[256] = "";

	pthread_mutex_lock(&o->lock);
	if (o->fd >= 0)
		flush_locked(o, say, sizeof(say));
	pthread_mutex_unlock(&o->lock);
	say_unlocked(o, say);
}

void nbout_stats(struct nbout *o, struct nbout_stats *out)
{
	pthread_mutex_lock(&o->lock);
	*out = o->st;
	pthread_mutex_unlock(&o->lock);
}

/* Wait for the reader within the limits of nbout.h; the lock is held (nobody else writes now). */
static void drain_locked(struct nbout *o)
{
	uint64_t start = now_ms(), progress = start;
	char say[256] = "";

	while (o->pend_len) {
		size_t before = o->pend_len;
		struct pollfd p = {.fd = o->fd, .events = POLLOUT};
		uint64_t now;

		if (flush_locked(o, say, sizeof(say)) != -EAGAIN)
			break;
		now = now_ms();
		if (o->pend_len != before)
			progress = now;
		if (now - progress >= NBOUT_CLOSE_IDLE_MS || now - start >= NBOUT_CLOSE_MAX_MS)
			break;
		/* A stopped terminal reports room and takes nothing: do not spin. */
		if (poll(&p, 1, 10) > 0) {
			struct timespec ts = {0, NBOUT_RETRY_NS};

			flush_locked(o, say, sizeof(say));
			if (o->pend_len == before)
				nanosleep(&ts, NULL);
		}
	}
	pend_drop(o);
}

void nbout_close(struct nbout *o, struct nbout_stats *out)
{
	pthread_mutex_lock(&o->lock);
	if (o->fd >= 0) {
		drain_locked(o);
		if (o->mode == NBOUT_SHARED_NB)
			fcntl(o->fd, F_SETFL, o->saved_flags);
		if (o->own_fd)
			close(o->fd);
		o->fd = -1;
	}
	free(o->pend);
	free(o->ends);
	o->pend = NULL;
	o->ends = NULL;
	o->pend_len = o->pend_cap = o->nends = o->ends_cap = 0;
	if (out)
		*out = o->st;
	pthread_mutex_unlock(&o->lock);
}

void nbout_describe(const char *name, const struct nbout_stats *st, char *buf, size_t len)
{
	snprintf(buf, len, "%s: %llu of %llu %s (%llu bytes) dropped: %s", name,
		 (unsigned long long)st->dropped, (unsigned long long)st->records,
		 st->records == 1 ? "record" : "records", (unsigned long long)st->dropped_bytes,
		 st->error ? strerror(st->error) : "it was not being read");
}

// SPDX-License-Identifier: MIT
/* Control-socket endpoints; see qmp_endpoint.h. */
#include "qmp/qmp_endpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Connections the kernel queues before we accept them.  The QMP thread
 * accepts as soon as poll() says so; 16 covers a burst of clients
 * connecting at once (the extra ones are then refused with a message).
 */
#define QMP_LISTEN_BACKLOG 16

/* The socket file is for its owner only: the socket controls the VM. */
#define QMP_SOCKET_MODE 0600

/* PATH.lock, beside the socket, says who owns PATH (see take_lock()). */
#define QMP_LOCK_SUFFIX ".lock"

/*
 * Attempts at taking a lock file that its owner keeps removing and
 * re-creating under us; a handful means something is wrong.
 */
#define QMP_LOCK_TRIES 5

int qmp_endpoint_parse(const char *spec, struct qmp_endpoint *ep, char *err, size_t errlen)
{
	const char *hp, *colon;
	size_t hl;

	memset(ep, 0, sizeof(*ep));
	if (!strncmp(spec, "tcp:", 4)) {
		hp = spec + 4;
		colon = strrchr(hp, ':');
		if (!colon || colon == hp || !colon[1]) {
			snprintf(err, errlen, "'%s': expected tcp:HOST:PORT", spec);
			return -EINVAL;
		}
		hl = colon - hp;
		/* [::1]:4444 */
		if (hp[0] == '[' && hl >= 2 && hp[hl - 1] == ']') {
			hp++;
			hl -= 2;
		}
		if (hl >= sizeof(ep->host) || strlen(colon + 1) >= sizeof(ep->port)) {
			snprintf(err, errlen, "'%s': host or port too long", spec);
			return -ENAMETOOLONG;
		}
		ep->kind = QMP_ENDPOINT_TCP;
		memcpy(ep->host, hp, hl);
		strcpy(ep->port, colon + 1);
		return 0;
	}
	if (!strncmp(spec, "unix:", 5))
		spec += 5;
	if (!spec[0]) {
		snprintf(err, errlen, "empty socket path");
		return -EINVAL;
	}
	if (strlen(spec) >= sizeof(ep->path)) {
		snprintf(err, errlen, "socket path '%s' is longer than %zu bytes", spec,
			 sizeof(ep->path) - 1);
		return -ENAMETOOLONG;
	}
	ep->kind = QMP_ENDPOINT_UNIX;
	strcpy(ep->path, spec);
	return 0;
}

const char *qmp_endpoint_name(const struct qmp_endpoint *ep, char *buf, size_t len)
{
	if (ep->kind == QMP_ENDPOINT_UNIX)
		snprintf(buf, len, "%s", ep->path);
	else if (strchr(ep->host, ':'))
		snprintf(buf, len, "[%s]:%s", ep->host, ep->port);
	else
		snprintf(buf, len, "%s:%s", ep->host, ep->port);
	return buf;
}

static void unix_addr(const struct qmp_endpoint *ep, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	strcpy(sa->sun_path, ep->path);
}

/*
 * Is anyone accepting on the socket file at path?  1 yes, 0 no (stale),
 * -errno if we cannot tell.  Non-blocking, so a listener with a full
 * backlog (EAGAIN) counts as alive instead of hanging us.
 */
static int unix_alive(const struct qmp_endpoint *ep)
{
	struct sockaddr_un sa;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unix_addr(ep, &sa);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r == 0 || errno == EAGAIN || errno == EINPROGRESS)
		r = 1;
	else if (errno == ECONNREFUSED)
		r = 0;
	else
		r = -errno;
	close(fd);
	return r;
}

/* Anything at PATH but a socket (a directory, a file) is not ours to touch. */
static int check_not_other(const struct qmp_endpoint *ep, struct stat *st, bool *exists, char *err,
			   size_t errlen)
{
	int r;

	*exists = false;
	if (lstat(ep->path, st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, errlen, "%s: %s", ep->path, strerror(-r));
		return r;
	}
	*exists = true;
	if (!S_ISSOCK(st->st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; not touching it", ep->path);
		return -EEXIST;
	}
	return 0;
}

/*
 * Take PATH.lock (created if need be) with flock(): the holder owns PATH.
 * A lock file removed and re-created by its last owner between our open()
 * and our flock() is not the one at PATH any more: try again.
 */
static int take_lock(const struct qmp_endpoint *ep, int *lock_fd, char *err, size_t errlen)
{
	char lock[sizeof(ep->path) + sizeof(QMP_LOCK_SUFFIX)];
	struct stat a, b;
	int fd, r, tries;

	snprintf(lock, sizeof(lock), "%s" QMP_LOCK_SUFFIX, ep->path);
	for (tries = 0; tries < QMP_LOCK_TRIES; tries++) {
		fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, QMP_SOCKET_MODE);
		if (fd < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot create the lock file %s: %s", lock,
				 strerror(-r));
			return r;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			r = -errno;
			close(fd);
			if (r == -EWOULDBLOCK) {
				snprintf(err, errlen,
					 "another vmm is listening on %s (%s is locked)", ep->path,
					 lock);
				return -EADDRINUSE;
			}
			snprintf(err, errlen, "%s: %s", lock, strerror(-r));
			return r;
		}
		if (fstat(fd, &a) == 0 && stat(lock, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino) {
			*lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	snprintf(err, errlen, "%s keeps changing; is another vmm starting and stopping?", lock);
	return -EAGAIN;
}

static void drop_lock(const struct qmp_endpoint *ep, int lock_fd)
{
	char lock[sizeof(ep->path) + sizeof(QMP_LOCK_SUFFIX)];

	if (lock_fd < 0)
		return;
	snprintf(lock, sizeof(lock), "%s" QMP_LOCK_SUFFIX, ep->path);
	/* Still locked while we unlink: whoever opened it meanwhile sees it is gone and retries. */
	unlink(lock);
	close(lock_fd);
}

/*
 * Clear the way for bind() once we hold the lock: a socket file left at
 * PATH is a dead vmm's (a live one holds the lock), unless some program
 * that knows nothing of the lock listens on it.
 */
static int unix_prepare(const struct qmp_endpoint *ep, char *err, size_t errlen)
{
	struct stat st;
	bool exists;
	int r;

	r = check_not_other(ep, &st, &exists, err, errlen);
	if (r < 0 || !exists)
		return r;
	r = unix_alive(ep);
	if (r > 0) {
		snprintf(err, errlen, "another program is listening on %s", ep->path);
		return -EADDRINUSE;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot tell whether it is in use: %s", ep->path,
			 strerror(-r));
		return r;
	}
	if (unlink(ep->path) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "cannot remove stale socket %s: %s", ep->path, strerror(-r));
		return r;
	}
	return 0;
}

static int unix_listen(const struct qmp_endpoint *ep, int *out, int *lock_fd, dev_t *dev,
		       ino_t *ino, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	bool exists;
	int fd, r;

	/* A directory or a file at PATH is refused before anything is created beside it. */
	r = check_not_other(ep, &st, &exists, err, errlen);
	if (r < 0)
		return r;
	r = take_lock(ep, lock_fd, err, errlen);
	if (r < 0)
		return r;
	r = unix_prepare(ep, err, errlen);
	if (r < 0)
		goto fail_lock;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail_errno;
	/*
	 * Linux creates the socket file with the socket inode's mode minus
	 * the umask: setting it here, before bind(), leaves no moment where
	 * the file is open to others (and, unlike umask(), touches no
	 * process-wide state).
	 */
	if (fchmod(fd, QMP_SOCKET_MODE) < 0)
		goto fail_errno_close;
	unix_addr(ep, &sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail_errno_close;
	if (lstat(ep->path, &st) < 0)
		goto fail_errno_unlink;
	/* In case fchmod() did not apply (older kernels): tighten now, before listen(). */
	if ((st.st_mode & 07777) != QMP_SOCKET_MODE && chmod(ep->path, QMP_SOCKET_MODE) < 0)
		goto fail_errno_unlink;
	if (listen(fd, QMP_LISTEN_BACKLOG) < 0)
		goto fail_errno_unlink;
	*dev = st.st_dev;
	*ino = st.st_ino;
	*out = fd;
	return 0;

fail_errno_unlink:
	r = -errno;
	unlink(ep->path);
	close(fd);
	goto fail;
fail_errno_close:
	r = -errno;
	close(fd);
	goto fail;
fail_errno:
	r = -errno;
fail:
	snprintf(err, errlen, "%s: %s", ep->path, strerror(-r));
fail_lock:
	drop_lock(ep, *lock_fd);
	*lock_fd = -1;
	return r;
}

static int tcp_resolve(const struct qmp_endpoint *ep, bool passive, struct addrinfo **res,
		       char *err, size_t errlen)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = passive ? AI_PASSIVE : 0,
	};
	char name[QMP_HOST_MAX + QMP_PORT_MAX + 4];
	int r;

	r = getaddrinfo(ep->host, ep->port, &hints, res);
	if (r) {
		snprintf(err, errlen, "%s: %s", qmp_endpoint_name(ep, name, sizeof(name)),
			 gai_strerror(r));
		return -EINVAL;
	}
	return 0;
}

static int tcp_listen(const struct qmp_endpoint *ep, int *out, char *err, size_t errlen)
{
	char name[QMP_HOST_MAX + QMP_PORT_MAX + 4];
	struct addrinfo *res, *ai;
	int fd = -1, r, one = 1;

	r = tcp_resolve(ep, true, &res, err, errlen);
	if (r < 0)
		return r;
	r = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		/* Restarting vmm must not wait out TIME_WAIT of the last run's connections. */
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, QMP_LISTEN_BACKLOG) == 0)
			break;
		r = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", qmp_endpoint_name(ep, name, sizeof(name)),
			 strerror(-r));
		return r;
	}
	*out = fd;
	return 0;
}

int qmp_endpoint_listen(const struct qmp_endpoint *ep, struct qmp_listener *l, char *err,
			size_t errlen)
{
	l->fd = l->lock_fd = -1;
	l->dev = 0;
	l->ino = 0;
	if (ep->kind == QMP_ENDPOINT_UNIX)
		return unix_listen(ep, &l->fd, &l->lock_fd, &l->dev, &l->ino, err, errlen);
	return tcp_listen(ep, &l->fd, err, errlen);
}

void qmp_endpoint_unlisten(const struct qmp_endpoint *ep, struct qmp_listener *l)
{
	struct stat st;

	if (l->fd < 0)
		return;
	close(l->fd);
	l->fd = -1;
	if (ep->kind != QMP_ENDPOINT_UNIX)
		return;
	/* Only the file we created: another one may be there by now. */
	if (lstat(ep->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(ep->path);
	drop_lock(ep, l->lock_fd);
	l->lock_fd = -1;
}

/* connect() with a time limit; fd is left blocking. */
static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	int flags = fcntl(fd, F_GETFL), r, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	r = connect(fd, sa, len);
	if (r < 0 && errno != EINPROGRESS && errno != EAGAIN)
		return -errno;
	if (r < 0) {
		r = poll(&pfd, 1, timeout_ms);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			return -errno;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			return -errno;
		if (soerr)
			return -soerr;
	}
	if (fcntl(fd, F_SETFL, flags) < 0)
		return -errno;
	return 0;
}

int qmp_endpoint_connect(const struct qmp_endpoint *ep, int timeout_ms, int *out, char *err,
			 size_t errlen)
{
	char name[QMP_HOST_MAX + QMP_PORT_MAX + 4];
	struct addrinfo *res, *ai;
	struct sockaddr_un sa;
	int fd = -1, r;

	if (ep->kind == QMP_ENDPOINT_UNIX) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = -errno;
			goto fail;
		}
		unix_addr(ep, &sa);
		r = connect_timeout(fd, (struct sockaddr *)&sa, sizeof(sa), timeout_ms);
		if (r < 0) {
			close(fd);
			goto fail;
		}
		*out = fd;
		return 0;
	}
	r = tcp_resolve(ep, false, &res, err, errlen);
	if (r < 0)
		return r;
	r = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		r = connect_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
		if (r == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		goto fail;
	*out = fd;
	return 0;
fail:
	snprintf(err, errlen, "cannot connect to %s: %s", qmp_endpoint_name(ep, name, sizeof(name)),
		 strerror(-r));
	return r;
}

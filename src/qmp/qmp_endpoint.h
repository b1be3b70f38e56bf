/* SPDX-License-Identifier: MIT */
/*
 * Where the control socket lives: "unix:PATH", "tcp:HOST:PORT", or a bare
 * PATH.  Listening (with the stale-socket rules) and connecting (for
 * vmmctl and the tests).
 */
#ifndef QMP_ENDPOINT_H
#define QMP_ENDPOINT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

/* Room for a host name (RFC 1035: 253 characters) and a port number. */
#define QMP_HOST_MAX 256
#define QMP_PORT_MAX 16

enum qmp_endpoint_kind {
	QMP_ENDPOINT_UNIX,
	QMP_ENDPOINT_TCP,
};

struct qmp_endpoint {
	enum qmp_endpoint_kind kind;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char host[QMP_HOST_MAX];
	char port[QMP_PORT_MAX];
};

/* Parse spec; returns 0 or -EINVAL / -ENAMETOOLONG with a message in err. */
int qmp_endpoint_parse(const char *spec, struct qmp_endpoint *ep, char *err, size_t errlen);

/* A listening socket and, for a unix one, what guards its file. */
struct qmp_listener {
	int fd;	     /* listening, non-blocking, close-on-exec */
	int lock_fd; /* PATH.lock, flock()ed; -1 for TCP */
	dev_t dev;   /* the socket file we created, so that we remove that file and no other */
	ino_t ino;
};

/*
 * Listen on ep.  For a unix socket: a file of another kind at PATH is
 * refused (-EEXIST) before anything is created; then PATH.lock is locked
 * (-EADDRINUSE if another vmm holds it); then a socket file left at PATH
 * by a dead vmm is replaced; the new one has mode 0600.
 */
int qmp_endpoint_listen(const struct qmp_endpoint *ep, struct qmp_listener *l, char *err,
			size_t errlen);

/* Close the socket; remove the socket file (if still ours) and the lock file. */
void qmp_endpoint_unlisten(const struct qmp_endpoint *ep, struct qmp_listener *l);

/*
 * A connected, blocking, close-on-exec socket in *fd, waiting at most
 * timeout_ms for the connection.  Returns 0 or -errno with a message.
 */
int qmp_endpoint_connect(const struct qmp_endpoint *ep, int timeout_ms, int *fd, char *err,
			 size_t errlen);

/* Describe ep for messages ("/run/vmm.sock", "127.0.0.1:4444"). */
const char *qmp_endpoint_name(const struct qmp_endpoint *ep, char *buf, size_t len);

#endif /* QMP_ENDPOINT_H */

// SPDX-License-Identifier: MIT
/*
 * The QMP server: one thread, one poll() loop over a wake-up eventfd, the
 * listening socket and up to QMP_MAX_CLIENTS clients.  Only this thread
 * touches the clients; other threads reach it through the event queue
 * (under a mutex) and the eventfd.  Sockets are non-blocking: a slow or
 * hostile client can cost us at most its bounded buffers, never a wait.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "qmp/qmp.h"
#include "qmp/qmp_args.h"
#include "qmp/qmp_dispatch.h"
#include "qmp/qmp_endpoint.h"
#include "qmp/qmp_framing.h"

/*
 * On shutdown, how long clients get to read what is still queued for them
 * (the reply to quit, the SHUTDOWN event).  A client reading its socket
 * needs well under a millisecond; one that does not read must not delay
 * the VM's exit noticeably.
 */
#define QMP_STOP_FLUSH_MS 200

/*
 * After accept() fails for lack of file descriptors or memory, wait this
 * long before trying again: the listening socket stays readable, and
 * polling it at once would spin.
 */
#define QMP_ACCEPT_RETRY_MS 100

/* Slots in the poll set before the clients: the eventfd and the listener. */
#define POLL_WAKE	  0
#define POLL_LISTEN	  1
#define POLL_FIRST_CLIENT 2

struct qmp_client {
	int fd; /* -1: free slot */
	struct qmp_session session;
	struct qmp_linebuf in;
	struct qmp_outbuf out;
	bool closing; /* read nothing more; close once out is sent */
	int pollidx;  /* index in this round's poll set, or -1 */
};

/* An event, serialised by the emitting thread, waiting for the QMP thread. */
struct qmp_event_msg {
	struct qmp_event_msg *next;
	size_t len;
	char line[];
};

struct qmp_server {
	struct qmp_backend be;
	struct qmp_endpoint ep;
	int listen_fd;
	int wake_fd;
	dev_t sock_dev; /* the unix socket file we created */
	ino_t sock_ino;
	int tcp_port;
	pthread_t thread;
	bool accept_paused;
	struct timespec accept_retry; /* CLOCK_MONOTONIC */
	struct qmp_client clients[QMP_MAX_CLIENTS];

	pthread_mutex_t lock; /* protects what follows */
	struct qmp_event_msg *ev_head, **ev_tail;
	unsigned int ev_count;
	uint64_t ev_dropped;
	bool stopping;
};

static void wake(struct qmp_server *srv)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: the thread will wake anyway. */
	if (write(srv->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("qmp: eventfd write");
}

/* --- clients ----------------------------------------------------------- */

static void client_close(struct qmp_client *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	qmp_linebuf_free(&c->in);
	qmp_outbuf_free(&c->out);
}

/* Send what is queued, as far as the socket takes it. */
static void client_flush(struct qmp_client *c)
{
	const char *p;
	ssize_t n;
	size_t len;

	while (c->fd >= 0 && !qmp_outbuf_empty(&c->out)) {
		p = qmp_outbuf_data(&c->out, &len);
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* Gone (EPIPE, ECONNRESET): nothing left to tell it. */
			client_close(c);
			return;
		}
		qmp_outbuf_consume(&c->out, n);
	}
}

/*
 * Queue a line for c.  A client whose buffer is full is not reading its
 * replies: disconnect it rather than buffer without bound.
 */
static void client_queue_line(struct qmp_client *c, const char *line, size_t len)
{
	if (c->fd < 0)
		return;
	if (qmp_outbuf_append(&c->out, line, len) < 0)
		client_close(c);
}

/* Queue obj (consumed) for c. */
static void client_queue(struct qmp_client *c, json_object *obj)
{
	size_t len;
	char *line;

	line = obj ? qmp_to_line(obj, &len) : NULL;
	json_object_put(obj);
	if (!line) {
		client_close(c);
		return;
	}
	client_queue_line(c, line, len);
	free(line);
}

/* --- events -------------------------------------------------------------- */

/* Hand queued events to every client in command mode. */
static void deliver_events(struct qmp_server *srv)
{
	struct qmp_event_msg *ev, *next;
	int i;

	pthread_mutex_lock(&srv->lock);
	ev = srv->ev_head;
	srv->ev_head = NULL;
	srv->ev_tail = &srv->ev_head;
	srv->ev_count = 0;
	pthread_mutex_unlock(&srv->lock);

	for (; ev; ev = next) {
		next = ev->next;
		for (i = 0; i < QMP_MAX_CLIENTS; i++) {
			struct qmp_client *c = &srv->clients[i];

			if (c->fd >= 0 && c->session.negotiated && !c->closing)
				client_queue_line(c, ev->line, ev->len);
		}
		free(ev);
	}
}

int qmp_server_emit_event(struct qmp_server *srv, const char *name, json_object *data)
{
	struct qmp_event_msg *msg;
	struct timespec ts;
	json_object *ev;
	size_t len;
	char *line;

	if (!srv) {
		json_object_put(data);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ev = qmp_event_new(name, data, &ts);
	line = ev ? qmp_to_line(ev, &len) : NULL;
	json_object_put(ev);
	msg = line ? malloc(sizeof(*msg) + len) : NULL;
	if (!msg) {
		free(line);
		return -ENOMEM;
	}
	msg->next = NULL;
	msg->len = len;
	memcpy(msg->line, line, len);
	free(line);

	pthread_mutex_lock(&srv->lock);
	if (srv->ev_count >= QMP_EVENT_QUEUE_MAX) {
		srv->ev_dropped++;
		pthread_mutex_unlock(&srv->lock);
		free(msg);
		return -ENOSPC;
	}
	*srv->ev_tail = msg;
	srv->ev_tail = &msg->next;
	srv->ev_count++;
	pthread_mutex_unlock(&srv->lock);
	wake(srv);
	return 0;
}

uint64_t qmp_server_dropped_events(struct qmp_server *srv)
{
	uint64_t n;

	pthread_mutex_lock(&srv->lock);
	n = srv->ev_dropped;
	pthread_mutex_unlock(&srv->lock);
	return n;
}

/* --- requests ------------------------------------------------------------- */

static void handle_line(struct qmp_server *srv, struct qmp_client *c, const char *line, size_t len)
{
	json_object *reply;

	if (qmp_dispatch_line(&srv->be, &c->session, line, len, &reply) < 0) {
		client_close(c);
		return;
	}
	if (!reply)
		return;
	/* Events the command caused (STOP, RESUME) precede its reply, as in QEMU. */
	deliver_events(srv);
	client_queue(c, reply);
	if (c->session.quit_requested) {
		c->session.quit_requested = false;
		client_flush(c);
		srv->be.quit(srv->be.opaque);
	}
}

/* Read what c sent and answer every complete line. */
static void client_read(struct qmp_server *srv, struct qmp_client *c)
{
	size_t room, len;
	char *p, *line;
	ssize_t n;
	int r;

	/* room is never 0: a buffer that fills up without a newline closes the client (below). */
	p = qmp_linebuf_space(&c->in, &room);
	n = recv(c->fd, p, room, MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_close(c);
		return;
	}
	qmp_linebuf_commit(&c->in, n);
	while (c->fd >= 0 && !c->closing && (r = qmp_linebuf_next(&c->in, &line, &len)) != 0) {
		if (r < 0) {
			/* No telling where the next command would start: answer and hang up. */
			client_queue(c, qmp_error_reply_new(QMP_ERROR_GENERIC,
							    "QMP input line exceeds %d bytes",
							    QMP_MAX_LINE));
			c->closing = true;
			return;
		}
		handle_line(srv, c, line, len);
	}
	/* End of input: answer what came, drop a partial line, close once sent. */
	if (n == 0 && c->fd >= 0)
		c->closing = true;
}

/* --- accepting ---------------------------------------------------------------- */

static void refuse(int fd)
{
	json_object *r = qmp_error_reply_new(
	    QMP_ERROR_GENERIC, "too many QMP clients (at most %d at once)", QMP_MAX_CLIENTS);
	size_t len;
	char *line = r ? qmp_to_line(r, &len) : NULL;

	/* A fresh socket's buffer is empty: this fits, or the client is gone anyway. */
	if (line)
		send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(line);
	json_object_put(r);
	close(fd);
}

static void pause_accept(struct qmp_server *srv)
{
	clock_gettime(CLOCK_MONOTONIC, &srv->accept_retry);
	srv->accept_retry.tv_nsec += QMP_ACCEPT_RETRY_MS * 1000000L;
	srv->accept_retry.tv_sec += srv->accept_retry.tv_nsec / 1000000000L;
	srv->accept_retry.tv_nsec %= 1000000000L;
	srv->accept_paused = true;
}

static void accept_clients(struct qmp_server *srv)
{
	struct qmp_client *c;
	int fd, i;

	for (;;) {
		fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pause_accept(srv);
			return;
		}
		for (i = 0, c = NULL; i < QMP_MAX_CLIENTS && !c; i++)
			if (srv->clients[i].fd < 0)
				c = &srv->clients[i];
		if (!c) {
			refuse(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->pollidx = -1;
		if (qmp_linebuf_init(&c->in, QMP_MAX_LINE) < 0) {
			close(fd);
			c->fd = -1;
			continue;
		}
		qmp_outbuf_init(&c->out, QMP_OUTBUF_MAX);
		c->fd = fd;
		client_queue(c, qmp_greeting());
		client_flush(c);
	}
}

/* Milliseconds until accepting resumes (0: resume now), or -1 if not paused. */
static int accept_timeout(struct qmp_server *srv)
{
	struct timespec now;
	long ms;

	if (!srv->accept_paused)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (srv->accept_retry.tv_sec - now.tv_sec) * 1000 +
	     (srv->accept_retry.tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0) {
		srv->accept_paused = false;
		return -1;
	}
	return (int)ms;
}

/* --- the thread ------------------------------------------------------------------- */

static bool stopping(struct qmp_server *srv)
{
	bool s;

	pthread_mutex_lock(&srv->lock);
	s = srv->stopping;
	pthread_mutex_unlock(&srv->lock);
	return s;
}

static int build_pollset(struct qmp_server *srv, struct pollfd *pfd)
{
	int i, n = POLL_FIRST_CLIENT;

	pfd[POLL_WAKE] = (struct pollfd){.fd = srv->wake_fd, .events = POLLIN};
	/* poll() ignores negative fds: that is how accepting pauses. */
	pfd[POLL_LISTEN] =
	    (struct pollfd){.fd = srv->accept_paused ? -1 : srv->listen_fd, .events = POLLIN};
	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		struct qmp_client *c = &srv->clients[i];

		c->pollidx = -1;
		if (c->fd < 0)
			continue;
		c->pollidx = n;
		pfd[n].fd = c->fd;
		pfd[n].events =
		    (c->closing ? 0 : POLLIN) | (qmp_outbuf_empty(&c->out) ? 0 : POLLOUT);
		pfd[n].revents = 0;
		n++;
	}
	return n;
}

static void serve_clients(struct qmp_server *srv, const struct pollfd *pfd)
{
	int i;

	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		struct qmp_client *c = &srv->clients[i];
		short rev;

		if (c->fd < 0 || c->pollidx < 0)
			continue;
		rev = pfd[c->pollidx].revents;
		if (!c->closing && (rev & (POLLIN | POLLHUP | POLLERR)))
			client_read(srv, c);
		else if (c->closing && (rev & (POLLHUP | POLLERR)))
			client_close(c);
		client_flush(c);
		if (c->fd >= 0 && c->closing && qmp_outbuf_empty(&c->out))
			client_close(c);
	}
}

/* Give every client a last chance to read what is queued, then close it. */
static void flush_all(struct qmp_server *srv)
{
	struct pollfd pfd[QMP_MAX_CLIENTS];
	struct timespec start, now;
	int i, n, left = QMP_STOP_FLUSH_MS;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		for (i = 0, n = 0; i < QMP_MAX_CLIENTS; i++) {
			struct qmp_client *c = &srv->clients[i];

			client_flush(c);
			if (c->fd >= 0 && !qmp_outbuf_empty(&c->out))
				pfd[n++] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
		}
		if (!n || left <= 0)
			break;
		if (poll(pfd, n, left) < 0 && errno != EINTR)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = QMP_STOP_FLUSH_MS - (int)((now.tv_sec - start.tv_sec) * 1000 +
						 (now.tv_nsec - start.tv_nsec) / 1000000);
	}
	for (i = 0; i < QMP_MAX_CLIENTS; i++)
		client_close(&srv->clients[i]);
}

static void *server_thread(void *arg)
{
	struct pollfd pfd[POLL_FIRST_CLIENT + QMP_MAX_CLIENTS];
	struct qmp_server *srv = arg;
	uint64_t v;
	int n;

	for (;;) {
		n = build_pollset(srv, pfd);
		if (poll(pfd, n, accept_timeout(srv)) < 0) {
			if (errno == EINTR)
				continue;
			perror("qmp: poll");
			break;
		}
		if (pfd[POLL_WAKE].revents & POLLIN) {
			if (read(srv->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				perror("qmp: eventfd read");
			if (stopping(srv))
				break;
		}
		deliver_events(srv);
		if (pfd[POLL_LISTEN].revents & POLLIN)
			accept_clients(srv);
		serve_clients(srv, pfd);
	}
	deliver_events(srv);
	flush_all(srv);
	return NULL;
}

/* --- start and stop ----------------------------------------------------------------- */

static int bound_tcp_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

/* Remove the socket file, if it is still the one we created. */
static void remove_socket_file(struct qmp_server *srv)
{
	struct stat st;

	if (srv->ep.kind != QMP_ENDPOINT_UNIX)
		return;
	if (lstat(srv->ep.path, &st) == 0 && st.st_dev == srv->sock_dev &&
	    st.st_ino == srv->sock_ino)
		unlink(srv->ep.path);
}

static void server_free(struct qmp_server *srv)
{
	struct qmp_event_msg *ev, *next;

	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		remove_socket_file(srv);
	}
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	for (ev = srv->ev_head; ev; ev = next) {
		next = ev->next;
		free(ev);
	}
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

int qmp_server_start(const char *spec, const struct qmp_backend *be, struct qmp_server **out,
		     char *err, size_t errlen)
{
	struct qmp_server *srv;
	sigset_t all, old;
	int i, r;

	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	srv->be = *be;
	srv->listen_fd = srv->wake_fd = -1;
	srv->tcp_port = -1;
	srv->ev_tail = &srv->ev_head;
	for (i = 0; i < QMP_MAX_CLIENTS; i++)
		srv->clients[i].fd = -1;
	pthread_mutex_init(&srv->lock, NULL);

	r = qmp_endpoint_parse(spec, &srv->ep, err, errlen);
	if (r < 0)
		goto fail;
	srv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->wake_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-r));
		goto fail;
	}
	r = qmp_endpoint_listen(&srv->ep, &srv->listen_fd, &srv->sock_dev, &srv->sock_ino, err,
				errlen);
	if (r < 0)
		goto fail;
	if (srv->ep.kind == QMP_ENDPOINT_TCP)
		srv->tcp_port = bound_tcp_port(srv->listen_fd);

	/* Process-directed signals (SIGINT, kicks) are for the other threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&srv->thread, NULL, server_thread, srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the QMP thread: %s", strerror(-r));
		goto fail;
	}
	pthread_setname_np(srv->thread, "qmp");
	*out = srv;
	return 0;
fail:
	server_free(srv);
	return r;
}

void qmp_server_stop(struct qmp_server *srv)
{
	if (!srv)
		return;
	/* From a backend callback, joining ourselves would hang the process. */
	if (pthread_equal(pthread_self(), srv->thread)) {
		fprintf(stderr, "qmp: qmp_server_stop() called from the QMP thread\n");
		abort();
	}
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_mutex_unlock(&srv->lock);
	wake(srv);
	pthread_join(srv->thread, NULL);
	server_free(srv);
}

int qmp_server_tcp_port(const struct qmp_server *srv)
{
	return srv->tcp_port;
}

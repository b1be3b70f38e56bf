// SPDX-License-Identifier: MIT
/*
 * The QMP server: one thread, one poll() loop over a wake-up eventfd, the
 * listening socket and up to QMP_MAX_CLIENTS connections.  Only this thread
 * touches the connections; other threads reach it through the event queue
 * and the completion slot (under a mutex) and the eventfd.
 *
 * As in QEMU, commands run one at a time in arrival order (round robin
 * between clients); a command whose backend answers QMP_IN_PROGRESS (stop)
 * holds the others back until qmp_server_complete(), while this thread
 * goes on reading, answering out-of-band requests, delivering events and
 * accepting clients.  Nothing here ever waits for a client, a vCPU or the
 * guest: sockets are non-blocking and the backend's slow work runs on the
 * backend's own thread.
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
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "qmp/qmp.h"
#include "qmp/qmp_args.h"
#include "qmp/qmp_conn.h"
#include "qmp/qmp_dispatch.h"
#include "qmp/qmp_endpoint.h"

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

/* An event, serialised by the emitting thread, waiting for the QMP thread. */
struct qmp_event_msg {
	struct qmp_event_msg *next;
	size_t len;
	char line[];
};

struct qmp_server {
	struct qmp_backend be;
	char *name; /* our copy of be.name */
	struct qmp_endpoint ep;
	struct qmp_listener lis;
	int wake_fd;
	int tcp_port;
	int negotiate_ms, idle_ms;
	pthread_t thread;
	bool running;
	bool accept_paused;
	uint64_t accept_retry_ms;
	unsigned next_gen;
	int rr; /* round robin: the client whose request runs next, if it has one */
	struct qmp_conn clients[QMP_MAX_CLIENTS];

	/* The in-band command under way, and whose it is (slot and generation). */
	struct qmp_pending pending;
	int pending_slot;
	unsigned pending_gen;

	pthread_mutex_t lock; /* protects what follows */
	struct qmp_event_msg *ev_head, **ev_tail;
	unsigned int ev_count;
	uint64_t ev_dropped;
	bool stopping;
	bool completed; /* qmp_server_complete() was called */
	int completed_r;
	char completed_err[QMP_ERR_MAX];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wake(struct qmp_server *srv)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: the thread will wake anyway. */
	if (write(srv->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("qmp: eventfd write");
}

static bool owns_pending(const struct qmp_server *srv, int slot)
{
	return srv->pending.active && srv->pending_slot == slot &&
	       srv->pending_gen == srv->clients[slot].gen;
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
			struct qmp_conn *c = &srv->clients[i];

			if (c->fd >= 0 && c->session.negotiated && !c->closing)
				qmp_conn_send_line(c, ev->line, ev->len);
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
	line = ev ? qmp_json_line(ev, &len) : NULL;
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

/* --- running commands ------------------------------------------------------ */

void qmp_server_complete(struct qmp_server *srv, int r, const char *err)
{
	pthread_mutex_lock(&srv->lock);
	srv->completed = true;
	srv->completed_r = r;
	snprintf(srv->completed_err, sizeof(srv->completed_err), "%s", err ? err : "");
	pthread_mutex_unlock(&srv->lock);
	wake(srv);
}

/* The command under way is done: its reply, after the events it caused. */
static void take_completion(struct qmp_server *srv)
{
	char err[QMP_ERR_MAX];
	json_object *reply;
	bool done;
	int r;

	pthread_mutex_lock(&srv->lock);
	done = srv->completed;
	r = srv->completed_r;
	memcpy(err, srv->completed_err, sizeof(err));
	srv->completed = false;
	pthread_mutex_unlock(&srv->lock);
	if (!done || !srv->pending.active)
		return;
	deliver_events(srv);
	if (owns_pending(srv, srv->pending_slot)) {
		reply = qmp_dispatch_finish(&srv->be, &srv->pending, r, err);
		qmp_conn_send(&srv->clients[srv->pending_slot], reply);
	} else {
		/* The client left while its command ran: nobody to tell. */
		qmp_pending_drop(&srv->pending);
	}
}

/* Dispatch req of c (consumed); a command that goes pending holds the others back. */
static void run_request(struct qmp_server *srv, int slot, json_object *req)
{
	struct qmp_conn *c = &srv->clients[slot];
	struct qmp_pending pend;
	json_object *reply;

	reply = qmp_dispatch(&srv->be, &c->session, req, &pend);
	json_object_put(req);
	if (pend.active) {
		srv->pending = pend;
		srv->pending_slot = slot;
		srv->pending_gen = c->gen;
		return;
	}
	if (!reply) {
		qmp_conn_close(c);
		return;
	}
	/* Events the command caused (STOP, RESUME, SHUTDOWN) precede its reply, as in QEMU. */
	deliver_events(srv);
	qmp_conn_send(c, reply);
}

/* Out of band: at once, ahead of queued requests (qmp_conn_lex's callback). */
static void run_oob(void *ctx, struct qmp_conn *c, json_object *req)
{
	struct qmp_server *srv = ctx;

	run_request(srv, (int)(c - srv->clients), req);
}

/* Run the next queued request, if no command is under way.  True if one ran. */
static bool dispatch_next(struct qmp_server *srv)
{
	struct qmp_req r;
	int i, slot;

	if (srv->pending.active)
		return false;
	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		slot = (srv->rr + i) % QMP_MAX_CLIENTS;
		if (srv->clients[slot].fd >= 0 && qmp_conn_pop(&srv->clients[slot], &r))
			break;
	}
	if (i == QMP_MAX_CLIENTS)
		return false;
	srv->rr = (slot + 1) % QMP_MAX_CLIENTS;
	if (r.reply)
		qmp_conn_send(&srv->clients[slot], r.reply);
	else
		run_request(srv, slot, r.value);
	return true;
}

/* Cut requests from what was read and run them, until nothing moves. */
static void work(struct qmp_server *srv)
{
	bool moved;
	int i;

	do {
		moved = false;
		for (i = 0; i < QMP_MAX_CLIENTS; i++)
			if (srv->clients[i].fd >= 0 && qmp_conn_lex(&srv->clients[i], run_oob, srv))
				moved = true;
		if (dispatch_next(srv))
			moved = true;
	} while (moved);
}

/* --- accepting ---------------------------------------------------------------- */

static void refuse(int fd)
{
	json_object *r = qmp_error_reply_new(
	    QMP_ERROR_GENERIC, "too many QMP clients (at most %d at once)", QMP_MAX_CLIENTS);
	size_t len;
	char *line = r ? qmp_json_line(r, &len) : NULL;

	/* A fresh socket's buffer is empty: this fits, or the client is gone anyway. */
	if (line)
		send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(line);
	json_object_put(r);
	close(fd);
}

/* Tell c why it is dropped, then drop it (best effort: it may not be reading). */
static void say_and_close(struct qmp_conn *c, const char *desc)
{
	qmp_conn_send(c, qmp_error_reply_new(QMP_ERROR_GENERIC, "%s", desc));
	qmp_conn_flush(c);
	qmp_conn_close(c);
}

/*
 * Every place is taken: the client silent longest gives its place up, if
 * it has been silent for idle_ms and waits for nothing.  -1 if none.
 */
static int evict_idle(struct qmp_server *srv, uint64_t now)
{
	int i, victim = -1;
	uint64_t oldest = 0;

	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		struct qmp_conn *c = &srv->clients[i];
		uint64_t silent = now - c->last_input_ms;

		if (c->fd < 0 || c->qlen || owns_pending(srv, i) || c->roff < c->rlen)
			continue;
		if (silent >= (uint64_t)srv->idle_ms && (victim < 0 || c->last_input_ms < oldest)) {
			victim = i;
			oldest = c->last_input_ms;
		}
	}
	if (victim >= 0) {
		char desc[128];

		snprintf(desc, sizeof(desc),
			 "disconnected: silent for %d s while another client needed a place "
			 "(at most %d clients)",
			 (int)((now - oldest) / 1000), QMP_MAX_CLIENTS);
		say_and_close(&srv->clients[victim], desc);
	}
	return victim;
}

static void accept_clients(struct qmp_server *srv)
{
	uint64_t now;
	int fd, i;

	for (;;) {
		fd = accept4(srv->lis.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				srv->accept_paused = true;
				srv->accept_retry_ms = now_ms() + QMP_ACCEPT_RETRY_MS;
			}
			return;
		}
		now = now_ms();
		for (i = 0; i < QMP_MAX_CLIENTS && srv->clients[i].fd >= 0; i++)
			;
		if (i == QMP_MAX_CLIENTS)
			i = evict_idle(srv, now);
		if (i < 0) {
			refuse(fd);
			continue;
		}
		qmp_conn_open(&srv->clients[i], fd, ++srv->next_gen, now);
	}
}

/* --- time limits --------------------------------------------------------------------- */

/* Close clients that did not negotiate in time; ms until the next such deadline, or -1. */
static int check_negotiation(struct qmp_server *srv, uint64_t now)
{
	int i, next = -1;

	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		struct qmp_conn *c = &srv->clients[i];
		uint64_t deadline = c->accepted_ms + (uint64_t)srv->negotiate_ms;

		/* A request in the queue or under way is negotiation in progress. */
		if (c->fd < 0 || c->session.negotiated || c->closing || c->qlen ||
		    owns_pending(srv, i))
			continue;
		if (now >= deadline) {
			char desc[96];

			snprintf(desc, sizeof(desc),
				 "capabilities negotiation not completed within %d ms",
				 srv->negotiate_ms);
			say_and_close(c, desc);
			continue;
		}
		if (next < 0 || deadline - now < (uint64_t)next)
			next = (int)(deadline - now);
	}
	return next;
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
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

static int build_pollset(struct qmp_server *srv, struct pollfd *pfd, uint64_t now)
{
	int i, n = POLL_FIRST_CLIENT;

	if (srv->accept_paused && now >= srv->accept_retry_ms)
		srv->accept_paused = false;
	pfd[POLL_WAKE] = (struct pollfd){.fd = srv->wake_fd, .events = POLLIN};
	/* poll() ignores negative fds: that is how accepting pauses. */
	pfd[POLL_LISTEN] =
	    (struct pollfd){.fd = srv->accept_paused ? -1 : srv->lis.fd, .events = POLLIN};
	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		struct qmp_conn *c = &srv->clients[i];

		c->pollidx = -1;
		if (c->fd < 0)
			continue;
		c->pollidx = n;
		pfd[n].fd = c->fd;
		pfd[n].events = (qmp_conn_wants_input(c) ? POLLIN : 0) |
				(qmp_outbuf_empty(&c->out) ? 0 : POLLOUT);
		/* Nothing to wait for: a hung-up peer's POLLHUP must not spin us. */
		if (!pfd[n].events)
			pfd[n].fd = -1;
		pfd[n].revents = 0;
		n++;
	}
	return n;
}

static void serve_clients(struct qmp_server *srv, const struct pollfd *pfd, uint64_t now)
{
	int i;

	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		struct qmp_conn *c = &srv->clients[i];

		if (c->fd >= 0 && c->pollidx >= 0 &&
		    (pfd[c->pollidx].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    qmp_conn_wants_input(c))
			qmp_conn_read(c, now);
	}
	work(srv);
	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		struct qmp_conn *c = &srv->clients[i];

		qmp_conn_flush(c);
		if (c->fd >= 0 && qmp_outbuf_empty(&c->out) &&
		    (c->closing || qmp_conn_finished(c, owns_pending(srv, i))))
			qmp_conn_close(c);
	}
}

/* Give every client a last chance to read what is queued, then close it. */
static void flush_all(struct qmp_server *srv)
{
	struct pollfd pfd[QMP_MAX_CLIENTS];
	uint64_t start = now_ms(), el;
	int i, n;

	for (;;) {
		for (i = 0, n = 0; i < QMP_MAX_CLIENTS; i++) {
			struct qmp_conn *c = &srv->clients[i];

			qmp_conn_flush(c);
			if (c->fd >= 0 && !qmp_outbuf_empty(&c->out))
				pfd[n++] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
		}
		el = now_ms() - start;
		if (!n || el >= QMP_STOP_FLUSH_MS)
			break;
		if (poll(pfd, n, (int)(QMP_STOP_FLUSH_MS - el)) < 0 && errno != EINTR)
			break;
	}
	for (i = 0; i < QMP_MAX_CLIENTS; i++)
		qmp_conn_close(&srv->clients[i]);
}

static void *server_thread(void *arg)
{
	struct pollfd pfd[POLL_FIRST_CLIENT + QMP_MAX_CLIENTS];
	struct qmp_server *srv = arg;
	int n, timeout;
	uint64_t v, now;

	for (;;) {
		now = now_ms();
		timeout = check_negotiation(srv, now);
		if (srv->accept_paused)
			timeout = min_timeout(
			    timeout,
			    (int)(srv->accept_retry_ms > now ? srv->accept_retry_ms - now : 0));
		n = build_pollset(srv, pfd, now);
		if (poll(pfd, n, timeout) < 0) {
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
		take_completion(srv);
		deliver_events(srv);
		if (pfd[POLL_LISTEN].revents & POLLIN)
			accept_clients(srv);
		serve_clients(srv, pfd, now_ms());
	}
	deliver_events(srv);
	qmp_pending_drop(&srv->pending);
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

static void server_free(struct qmp_server *srv)
{
	struct qmp_event_msg *ev, *next;

	qmp_endpoint_unlisten(&srv->ep, &srv->lis);
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	for (ev = srv->ev_head; ev; ev = next) {
		next = ev->next;
		free(ev);
	}
	pthread_mutex_destroy(&srv->lock);
	free(srv->name);
	free(srv);
}

int qmp_server_open(const char *spec, const struct qmp_backend *be,
		    const struct qmp_server_opts *opts, struct qmp_server **out, char *err,
		    size_t errlen)
{
	struct qmp_server *srv;
	int i, r;

	srv = calloc(1, sizeof(*srv));
	if (!srv || (be->name && !(srv->name = strdup(be->name)))) {
		free(srv);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	srv->be = *be;
	srv->be.name = srv->name;
	srv->lis.fd = srv->lis.lock_fd = srv->wake_fd = -1;
	srv->tcp_port = -1;
	srv->ev_tail = &srv->ev_head;
	srv->negotiate_ms = opts && opts->negotiate_timeout_ms > 0 ? opts->negotiate_timeout_ms
								   : QMP_NEGOTIATE_TIMEOUT_MS;
	srv->idle_ms = opts && opts->idle_evict_ms > 0 ? opts->idle_evict_ms : QMP_IDLE_EVICT_MS;
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
	r = qmp_endpoint_listen(&srv->ep, &srv->lis, err, errlen);
	if (r < 0)
		goto fail;
	if (srv->ep.kind == QMP_ENDPOINT_TCP)
		srv->tcp_port = bound_tcp_port(srv->lis.fd);
	*out = srv;
	return 0;
fail:
	server_free(srv);
	return r;
}

int qmp_server_run(struct qmp_server *srv, char *err, size_t errlen)
{
	sigset_t all, old;
	int r;

	/* Process-directed signals (SIGINT, kicks) are for the other threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&srv->thread, NULL, server_thread, srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the QMP thread: %s", strerror(-r));
		return r;
	}
	pthread_setname_np(srv->thread, "qmp");
	srv->running = true;
	return 0;
}

int qmp_server_start(const char *spec, const struct qmp_backend *be, struct qmp_server **out,
		     char *err, size_t errlen)
{
	int r = qmp_server_open(spec, be, NULL, out, err, errlen);

	if (r < 0)
		return r;
	r = qmp_server_run(*out, err, errlen);
	if (r < 0) {
		server_free(*out);
		*out = NULL;
	}
	return r;
}

void qmp_server_stop(struct qmp_server *srv)
{
	if (!srv)
		return;
	if (srv->running) {
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
	}
	server_free(srv);
}

int qmp_server_tcp_port(const struct qmp_server *srv)
{
	return srv->tcp_port;
}

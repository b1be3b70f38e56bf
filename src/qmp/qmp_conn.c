// SPDX-License-Identifier: MIT
/* One QMP client connection; see qmp_conn.h. */
#include "qmp/qmp_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp/qmp_args.h"

int qmp_conn_open(struct qmp_conn *c, int fd, unsigned gen, uint64_t now_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->pollidx = -1;
	if (qmp_json_in_init(&c->in, QMP_MAX_REQUEST, QMP_JSON_MAX_DEPTH) < 0) {
		close(fd);
		return -ENOMEM;
	}
	qmp_outbuf_init(&c->out, QMP_OUTBUF_MAX);
	c->fd = fd;
	c->gen = gen;
	c->accepted_ms = c->last_input_ms = now_ms;
	qmp_conn_send(c, qmp_greeting());
	qmp_conn_flush(c);
	return 0;
}

void qmp_conn_close(struct qmp_conn *c)
{
	struct qmp_req r;

	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	while (qmp_conn_pop(c, &r)) {
		json_object_put(r.value);
		json_object_put(r.reply);
	}
	qmp_json_in_free(&c->in);
	qmp_outbuf_free(&c->out);
}

bool qmp_conn_wants_input(const struct qmp_conn *c)
{
	return c->fd >= 0 && !c->closing && !c->eof && c->roff == c->rlen &&
	       c->qlen < QMP_REQ_QUEUE_MAX;
}

void qmp_conn_read(struct qmp_conn *c, uint64_t now_ms)
{
	ssize_t n;

	if (!qmp_conn_wants_input(c))
		return;
	n = recv(c->fd, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT);
	if (n < 0) {
		if (errno == ECONNRESET)
			c->eof = true;
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			c->closing = true;
		return;
	}
	if (n == 0) {
		c->eof = true;
		return;
	}
	c->roff = 0;
	c->rlen = (size_t)n;
	c->last_input_ms = now_ms;
}

static void enqueue(struct qmp_conn *c, json_object *value, json_object *reply)
{
	struct qmp_req *r = &c->q[(c->qhead + c->qlen) % QMP_REQ_QUEUE_MAX];

	r->value = value;
	r->reply = reply;
	c->qlen++;
}

bool qmp_conn_lex(struct qmp_conn *c, void (*oob)(void *ctx, struct qmp_conn *c, json_object *req),
		  void *ctx)
{
	char desc[QMP_JSON_ERR_MAX];
	bool progress = false;
	json_object *v;
	size_t used;
	int r;

	while (c->fd >= 0 && !c->closing && c->roff < c->rlen && c->qlen < QMP_REQ_QUEUE_MAX) {
		r = qmp_json_in_feed(&c->in, c->rbuf + c->roff, c->rlen - c->roff, &used, &v, desc);
		c->roff += used;
		progress = true;
		if (r == QMP_JSON_VALUE) {
			if (qmp_request_is_oob(v))
				oob(ctx, c, v);
			else
				enqueue(c, v, NULL);
		} else if (r == QMP_JSON_ERROR) {
			json_object *reply = qmp_error_reply_new(QMP_ERROR_GENERIC, "%s", desc);

			if (!reply) {
				c->closing = true;
				break;
			}
			/* Parse errors keep their place among the requests, as in QEMU. */
			enqueue(c, NULL, reply);
		} else if (r < 0) {
			c->closing = true;
		}
	}
	return progress;
}

bool qmp_conn_pop(struct qmp_conn *c, struct qmp_req *r)
{
	if (!c->qlen)
		return false;
	*r = c->q[c->qhead];
	c->qhead = (c->qhead + 1) % QMP_REQ_QUEUE_MAX;
	c->qlen--;
	return true;
}

void qmp_conn_send_line(struct qmp_conn *c, const char *line, size_t len)
{
	if (c->fd < 0)
		return;
	if (qmp_outbuf_append(&c->out, line, len) < 0)
		qmp_conn_close(c);
}

void qmp_conn_send(struct qmp_conn *c, json_object *obj)
{
	size_t len;
	char *line;

	line = obj ? qmp_json_line(obj, &len) : NULL;
	json_object_put(obj);
	if (!line) {
		qmp_conn_close(c);
		return;
	}
	qmp_conn_send_line(c, line, len);
	free(line);
}

void qmp_conn_flush(struct qmp_conn *c)
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
			qmp_conn_close(c);
			return;
		}
		qmp_outbuf_consume(&c->out, (size_t)n);
	}
}

bool qmp_conn_finished(const struct qmp_conn *c, bool has_pending)
{
	/* A value cut short by the hang-up is dropped, as QEMU drops it. */
	return c->eof && c->roff == c->rlen && !c->qlen && !has_pending;
}

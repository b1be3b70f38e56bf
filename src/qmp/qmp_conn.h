/* SPDX-License-Identifier: MIT */
/*
 * One QMP client connection, as the server thread sees it: bytes in,
 * requests cut from them (qmp_json_in) and queued for their turn, replies
 * and events out through a capped buffer.  Non-blocking sockets only;
 * owned by the QMP thread.
 */
#ifndef QMP_CONN_H
#define QMP_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "qmp/qmp_dispatch.h"
#include "qmp/qmp_framing.h"
#include "qmp/qmp_json.h"

/* Bytes read from a socket at a time; lexed before the next read. */
#define QMP_READ_CHUNK 4096

/* A request waiting for its turn: a parsed value, or the reply to a parse error. */
struct qmp_req {
	json_object *value;
	json_object *reply;
};

struct qmp_conn {
	int fd;	      /* -1: free slot */
	unsigned gen; /* which connection this is (slots are reused) */
	struct qmp_session session;
	struct qmp_json_in in;
	char rbuf[QMP_READ_CHUNK]; /* read, not yet lexed */
	size_t roff, rlen;
	struct qmp_req q[QMP_REQ_QUEUE_MAX];
	unsigned qhead, qlen;
	struct qmp_outbuf out;
	bool eof;     /* the client shut its side: finish what it sent, then close */
	bool closing; /* read nothing more; close once out is sent */
	int pollidx;  /* index in this round's poll set, or -1 */
	uint64_t accepted_ms, last_input_ms; /* CLOCK_MONOTONIC */
};

/* Take fd (non-blocking) and send the greeting.  -ENOMEM: fd is closed. */
int qmp_conn_open(struct qmp_conn *c, int fd, unsigned gen, uint64_t now_ms);
void qmp_conn_close(struct qmp_conn *c);

/* Whether to poll c for input: room to read and to queue what it sends. */
bool qmp_conn_wants_input(const struct qmp_conn *c);

/* Read what is there (once); end of input sets eof. */
void qmp_conn_read(struct qmp_conn *c, uint64_t now_ms);

/*
 * Cut requests out of what was read until the queue is full.  A request
 * to run out of band goes to oob(ctx, c, req) at once (req is the
 * callee's); the others are queued.  True if anything was consumed.
 */
bool qmp_conn_lex(struct qmp_conn *c, void (*oob)(void *ctx, struct qmp_conn *c, json_object *req),
		  void *ctx);

/* The oldest queued request, removed; false if none. */
bool qmp_conn_pop(struct qmp_conn *c, struct qmp_req *r);

/*
 * Queue obj (consumed) for sending.  A client whose buffer is full is not
 * reading its replies: it is disconnected rather than buffered for.
 */
void qmp_conn_send(struct qmp_conn *c, json_object *obj);
void qmp_conn_send_line(struct qmp_conn *c, const char *line, size_t len);

/* Send what is queued, as far as the socket takes it. */
void qmp_conn_flush(struct qmp_conn *c);

/* Everything the client sent before it shut its side has been answered. */
bool qmp_conn_finished(const struct qmp_conn *c, bool has_pending);

#endif /* QMP_CONN_H */

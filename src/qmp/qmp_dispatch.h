/* SPDX-License-Identifier: MIT */
/*
 * QMP request handling without sockets: one request in, one reply out.
 * The server feeds it lines; the unit tests feed it JSON directly.
 */
#ifndef QMP_DISPATCH_H
#define QMP_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#include "qmp/qmp.h"

/*
 * JSON nesting accepted in a request.  Our deepest request is three levels
 * ({"arguments": {"enable": []}}); 32 is generous and keeps json-c's
 * parser stack small.
 */
#define QMP_JSON_MAX_DEPTH 32

/* One client's protocol state. */
struct qmp_session {
	bool negotiated;     /* qmp_capabilities done: in command mode */
	bool quit_requested; /* quit accepted: call be->quit() once the reply is sent */
};

/*
 * Handle one request line (without its line ending).  Returns 0 with the
 * reply in *reply (NULL for a blank line: no reply), or -ENOMEM.
 */
int qmp_dispatch_line(const struct qmp_backend *be, struct qmp_session *s, const char *line,
		      size_t len, json_object **reply);

/* Handle one parsed request (any JSON value).  Returns the reply, NULL without memory. */
json_object *qmp_dispatch(const struct qmp_backend *be, struct qmp_session *s, json_object *req);

/* A whole error reply: {"error": {"class": klass, "desc": ...}}.  NULL without memory. */
json_object *qmp_error_reply_new(const char *klass, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The greeting sent on connect. */
json_object *qmp_greeting(void);

/* An event message: {"event": name, "data": data?, "timestamp": ts}.  data is consumed. */
json_object *qmp_event_new(const char *name, json_object *data, const struct timespec *ts);

/*
 * obj as one line of text ending in "\r\n", malloc'd, length in *len.
 * NULL without memory.
 */
char *qmp_to_line(json_object *obj, size_t *len);

/* Our version, from meson's project version: "0.1.0" -> 0, 1, 0. */
void qmp_version(int *major, int *minor, int *micro);

/* The command table (qmp_commands.c). */
struct qmp_call {
	const struct qmp_backend *be;
	struct qmp_session *session;
	json_object *args;  /* checked against the command's spec; NULL if none given */
	json_object *ret;   /* out: the return value */
	json_object *error; /* out: {"class", "desc"} instead */
};

struct qmp_command {
	const char *name;
	const struct qmp_arg *args; /* NULL: takes no arguments */
	void (*run)(struct qmp_call *c);
	/* NULL: always available; else whether the backend implements it. */
	bool (*available)(const struct qmp_backend *be);
};

const struct qmp_command *qmp_command_find(const char *name);
/* The i-th command of the table, NULL past the end. */
const struct qmp_command *qmp_command_at(size_t i);
bool qmp_command_available(const struct qmp_command *cmd, const struct qmp_backend *be);

#endif /* QMP_DISPATCH_H */

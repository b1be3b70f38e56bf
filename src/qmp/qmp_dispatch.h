/* SPDX-License-Identifier: MIT */
/*
 * QMP request handling without sockets: one parsed request in, one reply
 * out (or "under way", finished later).  The server feeds it what
 * qmp_json_in cut from the stream; the unit tests feed it JSON directly.
 */
#ifndef QMP_DISPATCH_H
#define QMP_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#include "qmp/qmp.h"
#include "qmp/qmp_args.h"
#include "qmp/qmp_json.h"

/* One client's protocol state. */
struct qmp_session {
	bool negotiated; /* qmp_capabilities done: in command mode */
	bool oob;	 /* the "oob" capability was enabled */
};

struct qmp_call;

/* A command under way (its backend callback answered QMP_IN_PROGRESS). */
struct qmp_pending {
	bool active;
	json_object *id; /* the request's "id" (a reference), if it had one */
	bool has_id;
	/* Builds the reply from the outcome: sets c->ret or c->error. */
	void (*finish)(struct qmp_call *c, int r, const char *err);
};

/*
 * Handle one request (any JSON value).  Returns the reply; or NULL with
 * pend->active set when the command finishes later (qmp_dispatch_finish());
 * or NULL without memory.  oob: the request came as exec-oob and runs out
 * of band (see qmp_request_is_oob()).
 */
json_object *qmp_dispatch(const struct qmp_backend *be, struct qmp_session *s, json_object *req,
			  struct qmp_pending *pend);

/* The reply of a pending command once its outcome (r, err) is known; clears pend. */
json_object *qmp_dispatch_finish(const struct qmp_backend *be, struct qmp_pending *pend, int r,
				 const char *err);

/* Drop a pending command whose client left. */
void qmp_pending_drop(struct qmp_pending *pend);

/*
 * Whether req is to run at once, out of band: QEMU runs a request with
 * "exec-oob" and without "execute" as soon as it is parsed, ahead of
 * queued ones (its errors too, when oob was not negotiated).
 */
bool qmp_request_is_oob(json_object *req);

/* A whole error reply: {"error": {"class": klass, "desc": ...}}.  NULL without memory. */
json_object *qmp_error_reply_new(const char *klass, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The greeting sent on connect. */
json_object *qmp_greeting(void);

/* An event message: {"event": name, "data": data?, "timestamp": ts}.  data is consumed. */
json_object *qmp_event_new(const char *name, json_object *data, const struct timespec *ts);

/* Our version, from meson's project version: "0.1.0" -> 0, 1, 0. */
void qmp_version(int *major, int *minor, int *micro);

/* The command table (qmp_commands.c). */
struct qmp_call {
	const struct qmp_backend *be;
	struct qmp_session *session;
	json_object *args;  /* checked against the command's spec; NULL if none given */
	json_object *ret;   /* out: the return value */
	json_object *error; /* out: {"class", "desc"} instead */
	/* out: the backend answered QMP_IN_PROGRESS; finish builds the reply later */
	void (*finish)(struct qmp_call *c, int r, const char *err);
};

/* qmp_command.flags */
#define QMP_CMD_OOB 1u /* may run out of band (exec-oob), QEMU's allow-oob */

struct qmp_command {
	const char *name;
	const struct qmp_arg *args; /* NULL: takes no arguments */
	void (*run)(struct qmp_call *c);
	/* NULL: always available; else whether the backend implements it. */
	bool (*available)(const struct qmp_backend *be);
	unsigned flags;
};

const struct qmp_command *qmp_command_find(const char *name);
/* The i-th command of the table, NULL past the end. */
const struct qmp_command *qmp_command_at(size_t i);
bool qmp_command_available(const struct qmp_command *cmd, const struct qmp_backend *be);

/* For command handlers (qmp_commands.c). */
void qmp_call_fail(struct qmp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A failed backend call: its message, or strerror() if it left none. */
void qmp_call_fail_backend(struct qmp_call *c, int r, const char *err);

/* Handlers that live in their own files, named in the table. */
void qmp_cmd_human_monitor_command(struct qmp_call *c);
extern const struct qmp_arg qmp_hmp_args[];
void qmp_cmd_qom_list(struct qmp_call *c);
void qmp_cmd_qom_get(struct qmp_call *c);
extern const struct qmp_arg qmp_qom_list_args[];
extern const struct qmp_arg qmp_qom_get_args[];
void qmp_cmd_calc_dirty_rate(struct qmp_call *c);
void qmp_cmd_query_dirty_rate(struct qmp_call *c);
void qmp_cmd_x_query_guest_stats(struct qmp_call *c);
void qmp_cmd_set_vcpu_dirty_limit(struct qmp_call *c);
void qmp_cmd_cancel_vcpu_dirty_limit(struct qmp_call *c);
void qmp_cmd_query_vcpu_dirty_limit(struct qmp_call *c);
void qmp_cmd_migrate(struct qmp_call *c);
void qmp_cmd_migrate_incoming(struct qmp_call *c);
void qmp_cmd_migrate_cancel(struct qmp_call *c);
void qmp_cmd_query_migrate(struct qmp_call *c);
void qmp_cmd_migrate_set_parameters(struct qmp_call *c);
void qmp_cmd_query_migrate_parameters(struct qmp_call *c);
void qmp_cmd_migrate_set_capabilities(struct qmp_call *c);
void qmp_cmd_query_migrate_capabilities(struct qmp_call *c);
bool qmp_have_migrate(const struct qmp_backend *be);
bool qmp_have_migrate_incoming(const struct qmp_backend *be);
extern const struct qmp_arg qmp_migrate_args[];
extern const struct qmp_arg qmp_migrate_incoming_args[];
extern const struct qmp_arg qmp_migrate_set_parameters_args[];
extern const struct qmp_arg qmp_migrate_set_capabilities_args[];
extern const struct qmp_arg qmp_calc_dirty_rate_args[];
extern const struct qmp_arg qmp_query_dirty_rate_args[];
extern const struct qmp_arg qmp_guest_stats_args[];
extern const struct qmp_arg qmp_set_limit_args[];
extern const struct qmp_arg qmp_cancel_limit_args[];
void qmp_cmd_x_set_dirty_limit_law(struct qmp_call *c);
void qmp_cmd_x_query_dirty_limit_law(struct qmp_call *c);
extern const struct qmp_arg qmp_set_law_args[];

/* The machine vmm presents (query-machines, query-target, QOM). */
#define QMP_MACHINE	   "vmm"
#define QMP_MACHINE_TYPE   "vmm-machine"
#define QMP_CPU_TYPE	   "host-x86_64-cpu"
#define QMP_TARGET	   "x86_64"
#define QMP_CPU_QOM_PREFIX "/machine/unattached/device["

#endif /* QMP_DISPATCH_H */

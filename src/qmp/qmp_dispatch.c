// SPDX-License-Identifier: MIT
/*
 * QMP request handling: check the envelope as QEMU does
 * (qapi/qmp-dispatch.c), enforce capabilities negotiation, look the
 * command up, check its arguments, run it, wrap the result with the id;
 * or, for a command under way, wrap it when it is done.
 */
#include "qmp/qmp_dispatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp_args.h"

/* QEMU's words, so that clients written for QEMU recognise the situation. */
#define MSG_NEGOTIATE "Expecting capabilities negotiation with 'qmp_capabilities'"

#ifndef QMP_VMM_VERSION
#error "QMP_VMM_VERSION must be defined by the build (meson.project_version())"
#endif

void qmp_version(int *major, int *minor, int *micro)
{
	*major = *minor = *micro = 0;
	if (sscanf(QMP_VMM_VERSION, "%d.%d.%d", major, minor, micro) < 1)
		*major = 0;
}

/* Member order as QEMU 7.2 sends it. */
json_object *qmp_greeting(void)
{
	json_object *ver = json_object_new_object(), *qemu = json_object_new_object();
	json_object *qmp = json_object_new_object(), *g = json_object_new_object();
	json_object *caps = json_object_new_array();
	int major, minor, micro;

	qmp_version(&major, &minor, &micro);
	json_object_object_add(qemu, "micro", json_object_new_int(micro));
	json_object_object_add(qemu, "minor", json_object_new_int(minor));
	json_object_object_add(qemu, "major", json_object_new_int(major));
	json_object_object_add(ver, "qemu", qemu);
	json_object_object_add(ver, "package", json_object_new_string("vmm " QMP_VMM_VERSION));
	json_object_object_add(qmp, "version", ver);
	/* As QEMU offers it on a socket: out-of-band execution. */
	json_object_array_add(caps, json_object_new_string("oob"));
	json_object_object_add(qmp, "capabilities", caps);
	json_object_object_add(g, "QMP", qmp);
	return g;
}

json_object *qmp_event_new(const char *name, json_object *data, const struct timespec *ts)
{
	json_object *ev = json_object_new_object(), *t = json_object_new_object();

	if (!ev || !t) {
		json_object_put(ev);
		json_object_put(t);
		json_object_put(data);
		return NULL;
	}
	/* QEMU 7.2's member order. */
	json_object_object_add(t, "seconds", json_object_new_int64(ts->tv_sec));
	json_object_object_add(t, "microseconds", json_object_new_int64(ts->tv_nsec / 1000));
	json_object_object_add(ev, "timestamp", t);
	json_object_object_add(ev, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(ev, "data", data);
	return ev;
}

/* {"error": err}; err is consumed. */
static json_object *error_reply(json_object *err)
{
	json_object *r;

	if (!err)
		return NULL;
	r = json_object_new_object();
	if (!r) {
		json_object_put(err);
		return NULL;
	}
	json_object_object_add(r, "error", err);
	return r;
}

json_object *qmp_error_reply_new(const char *klass, const char *fmt, ...)
{
	va_list ap;
	char *desc;
	json_object *r;

	va_start(ap, fmt);
	if (vasprintf(&desc, fmt, ap) < 0)
		desc = NULL;
	va_end(ap);
	if (!desc)
		return NULL;
	r = error_reply(qmp_error_new(klass, "%s", desc));
	free(desc);
	return r;
}

void qmp_call_fail(struct qmp_call *c, const char *fmt, ...)
{
	va_list ap;
	char *desc;

	va_start(ap, fmt);
	if (vasprintf(&desc, fmt, ap) < 0)
		desc = NULL;
	va_end(ap);
	json_object_put(c->error);
	c->error = qmp_error_new(QMP_ERROR_GENERIC, "%s", desc ? desc : "out of memory");
	free(desc);
}

void qmp_call_fail_backend(struct qmp_call *c, int r, const char *err)
{
	if (err && err[0])
		qmp_call_fail(c, "%s", err);
	else
		qmp_call_fail(c, "%s", strerror(r < 0 ? -r : EIO));
}

bool qmp_request_is_oob(json_object *req)
{
	json_object *v;

	return json_object_is_type(req, json_type_object) &&
	       json_object_object_get_ex(req, "exec-oob", &v) &&
	       !json_object_object_get_ex(req, "execute", &v);
}

/*
 * The envelope: "execute" (or, with oob enabled, "exec-oob"), a string;
 * "arguments", an object; "id", anything; nothing else.  Returns NULL if
 * fine (with the command's name in *name), else the error.
 */
static json_object *check_envelope(json_object *req, bool allow_oob, const char **name, bool *oob)
{
	const char *exec_key = NULL;

	json_object_object_foreach(req, key, val)
	{
		if (!strcmp(key, "execute") || (allow_oob && !strcmp(key, "exec-oob"))) {
			if (!json_object_is_type(val, json_type_string))
				return qmp_error_new(QMP_ERROR_GENERIC,
						     "QMP input member '%s' must be a string", key);
			/* QEMU's words, whatever the order (its dict's order is fixed). */
			if (exec_key)
				return qmp_error_new(
				    QMP_ERROR_GENERIC,
				    "QMP input member 'execute' clashes with 'exec-oob'");
			exec_key = key;
			*name = json_object_get_string(val);
			*oob = !strcmp(key, "exec-oob");
		} else if (!strcmp(key, "arguments")) {
			if (!json_object_is_type(val, json_type_object))
				return qmp_error_new(
				    QMP_ERROR_GENERIC,
				    "QMP input member 'arguments' must be an object");
		} else if (strcmp(key, "id")) {
			return qmp_error_new(QMP_ERROR_GENERIC,
					     "QMP input member '%s' is unexpected", key);
		}
	}
	if (!exec_key)
		return qmp_error_new(QMP_ERROR_GENERIC, "QMP input lacks member 'execute'");
	return NULL;
}

/* {"return": c->ret} or {"error": c->error}; consumes them. */
static json_object *call_reply(struct qmp_call *c)
{
	json_object *reply;

	if (c->error) {
		json_object_put(c->ret);
		return error_reply(c->error);
	}
	/* A command that ran out of memory building its result. */
	if (!c->ret)
		return error_reply(qmp_error_new(QMP_ERROR_GENERIC, "out of memory"));
	reply = json_object_new_object();
	if (!reply) {
		json_object_put(c->ret);
		return NULL;
	}
	json_object_object_add(reply, "return", c->ret);
	return reply;
}

/* Runs the request; returns the reply without its id (NULL: pending or no memory). */
static json_object *run(const struct qmp_backend *be, struct qmp_session *s, json_object *req,
			struct qmp_pending *pend)
{
	struct qmp_call c = {.be = be, .session = s};
	const struct qmp_command *cmd;
	const char *name = NULL;
	json_object *err;
	bool oob = false;

	err = check_envelope(req, s->oob, &name, &oob);
	if (err)
		return error_reply(err);
	cmd = qmp_command_find(name);
	/* QEMU's wording: in negotiation mode only qmp_capabilities exists. */
	if (!s->negotiated && (!cmd || strcmp(cmd->name, "qmp_capabilities")))
		return qmp_error_reply_new(QMP_ERROR_NOT_FOUND, "%s", MSG_NEGOTIATE);
	if (!cmd)
		return qmp_error_reply_new(QMP_ERROR_NOT_FOUND, "The command %s has not been found",
					   name);
	if (!qmp_command_available(cmd, be))
		return qmp_error_reply_new(QMP_ERROR_NOT_FOUND,
					   "The command %s has been disabled for this instance",
					   name);
	if (oob && !(cmd->flags & QMP_CMD_OOB))
		return qmp_error_reply_new(QMP_ERROR_GENERIC, "The command %s does not support OOB",
					   name);
	c.args = qmp_arg_get(req, "arguments");
	err = qmp_args_check(cmd->args, c.args);
	if (err)
		return error_reply(err);
	cmd->run(&c);
	if (c.finish) {
		/* Out of band, nothing may wait: only in-band commands go pending. */
		if (oob) {
			c.finish(&c, -EINVAL,
				 "internal error: an out-of-band command went pending");
			return call_reply(&c);
		}
		json_object_put(c.ret);
		json_object_put(c.error);
		pend->active = true;
		pend->finish = c.finish;
		return NULL;
	}
	return call_reply(&c);
}

json_object *qmp_dispatch(const struct qmp_backend *be, struct qmp_session *s, json_object *req,
			  struct qmp_pending *pend)
{
	json_object *reply, *id = NULL;
	bool has_id;

	memset(pend, 0, sizeof(*pend));
	if (!json_object_is_type(req, json_type_object))
		return qmp_error_reply_new(QMP_ERROR_GENERIC, "QMP input must be a JSON object");
	has_id = json_object_object_get_ex(req, "id", &id);
	reply = run(be, s, req, pend);
	if (pend->active) {
		pend->has_id = has_id;
		pend->id = json_object_get(id);
		return NULL;
	}
	/* QEMU echoes the id of any object request, errors included (null too). */
	if (reply && has_id)
		json_object_object_add(reply, "id", json_object_get(id));
	return reply;
}

json_object *qmp_dispatch_finish(const struct qmp_backend *be, struct qmp_pending *pend, int r,
				 const char *err)
{
	struct qmp_call c = {.be = be};
	json_object *reply;

	pend->finish(&c, r, err);
	reply = call_reply(&c);
	if (reply && pend->has_id)
		json_object_object_add(reply, "id", json_object_get(pend->id));
	qmp_pending_drop(pend);
	return reply;
}

void qmp_pending_drop(struct qmp_pending *pend)
{
	json_object_put(pend->id);
	memset(pend, 0, sizeof(*pend));
}

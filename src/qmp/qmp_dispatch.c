// SPDX-License-Identifier: MIT
/*
 * QMP request handling: parse a line, check the envelope as QEMU does
 * (qapi/qmp-dispatch.c), enforce capabilities negotiation, look the
 * command up, check its arguments, run it, wrap the result with the id.
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

json_object *qmp_greeting(void)
{
	json_object *ver = json_object_new_object(), *qemu = json_object_new_object();
	json_object *qmp = json_object_new_object(), *g = json_object_new_object();
	int major, minor, micro;

	qmp_version(&major, &minor, &micro);
	json_object_object_add(qemu, "micro", json_object_new_int(micro));
	json_object_object_add(qemu, "minor", json_object_new_int(minor));
	json_object_object_add(qemu, "major", json_object_new_int(major));
	json_object_object_add(ver, "qemu", qemu);
	json_object_object_add(ver, "package", json_object_new_string("vmm " QMP_VMM_VERSION));
	json_object_object_add(qmp, "version", ver);
	json_object_object_add(qmp, "capabilities", json_object_new_array());
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
	json_object_object_add(ev, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(ev, "data", data);
	json_object_object_add(t, "seconds", json_object_new_int64(ts->tv_sec));
	json_object_object_add(t, "microseconds", json_object_new_int64(ts->tv_nsec / 1000));
	json_object_object_add(ev, "timestamp", t);
	return ev;
}

char *qmp_to_line(json_object *obj, size_t *len)
{
	const char *s;
	size_t n;
	char *line;

	s = json_object_to_json_string_length(
	    obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (!s)
		return NULL;
	line = malloc(n + 3);
	if (!line)
		return NULL;
	memcpy(line, s, n);
	memcpy(line + n, "\r\n", 3);
	*len = n + 2;
	return line;
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

/*
 * The envelope: "execute" (a string), "arguments" (an object), "id"
 * (anything); nothing else.  Returns NULL if fine, else the error.
 */
static json_object *check_envelope(json_object *req)
{
	bool has_exec = false;

	json_object_object_foreach(req, key, val)
	{
		if (!strcmp(key, "execute")) {
			if (!json_object_is_type(val, json_type_string))
				return qmp_error_new(QMP_ERROR_GENERIC,
						     "QMP input member 'execute' must be a string");
			has_exec = true;
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
	if (!has_exec)
		return qmp_error_new(QMP_ERROR_GENERIC, "QMP input lacks member 'execute'");
	return NULL;
}

/* Runs the request; returns the reply without its id. */
static json_object *run(const struct qmp_backend *be, struct qmp_session *s, json_object *req)
{
	struct qmp_call c = {.be = be, .session = s};
	const struct qmp_command *cmd;
	const char *name;
	json_object *err, *reply;

	err = check_envelope(req);
	if (err)
		return error_reply(err);
	name = json_object_get_string(qmp_arg_get(req, "execute"));
	cmd = qmp_command_find(name);
	/* QEMU's wording: in negotiation mode only qmp_capabilities exists. */
	if (!s->negotiated && (!cmd || strcmp(cmd->name, "qmp_capabilities")))
		return qmp_error_reply_new(QMP_ERROR_NOT_FOUND, "%s", MSG_NEGOTIATE);
	if (!cmd)
		return qmp_error_reply_new(QMP_ERROR_NOT_FOUND, "The command %s has not been found",
					   name);
	if (!qmp_command_available(cmd, be))
		return qmp_error_reply_new(
		    QMP_ERROR_GENERIC, "The command %s has been disabled for this instance", name);
	c.args = qmp_arg_get(req, "arguments");
	err = qmp_args_check(cmd->args, c.args);
	if (err)
		return error_reply(err);
	cmd->run(&c);
	if (c.error) {
		json_object_put(c.ret);
		return error_reply(c.error);
	}
	/* A command that ran out of memory building its result. */
	if (!c.ret)
		return error_reply(qmp_error_new(QMP_ERROR_GENERIC, "out of memory"));
	reply = json_object_new_object();
	if (!reply) {
		json_object_put(c.ret);
		return NULL;
	}
	json_object_object_add(reply, "return", c.ret);
	return reply;
}

json_object *qmp_dispatch(const struct qmp_backend *be, struct qmp_session *s, json_object *req)
{
	json_object *reply, *id;

	if (!json_object_is_type(req, json_type_object))
		return qmp_error_reply_new(QMP_ERROR_GENERIC, "QMP input must be a JSON object");
	reply = run(be, s, req);
	/* QEMU echoes the id of any object request, errors included (null too). */
	if (reply && json_object_object_get_ex(req, "id", &id))
		json_object_object_add(reply, "id", json_object_get(id));
	return reply;
}

static bool all_space(const char *p, size_t n)
{
	for (; n; p++, n--)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return false;
	return true;
}

static json_object *parse_error(const char *what)
{
	return error_reply(qmp_error_new(QMP_ERROR_GENERIC, "JSON parse error, %s", what));
}

int qmp_dispatch_line(const struct qmp_backend *be, struct qmp_session *s, const char *line,
		      size_t len, json_object **reply)
{
	enum json_tokener_error jerr;
	struct json_tokener *tok;
	json_object *req;
	size_t end;

	*reply = NULL;
	if (all_space(line, len))
		return 0;
	/* json-c would stop at a NUL and take what precedes it for the whole input. */
	if (memchr(line, '\0', len)) {
		*reply = parse_error("NUL byte in input");
		goto out;
	}
	tok = json_tokener_new_ex(QMP_JSON_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	/* Invalid UTF-8 is a parse error, as in QEMU: we would echo it back raw. */
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	req = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	/* A bare number or keyword waits for a delimiter: the end of the line is one. */
	if (jerr == json_tokener_continue) {
		req = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		*reply = parse_error(json_tokener_error_desc(jerr));
	} else if (!all_space(line + end, len - end)) {
		*reply = parse_error("one JSON value per line expected, found more after it");
	} else {
		*reply = qmp_dispatch(be, s, req);
	}
	json_object_put(req);
out:
	return *reply ? 0 : -ENOMEM;
}

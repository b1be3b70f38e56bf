/* SPDX-License-Identifier: MIT */
/*
 * Command argument checking, as QEMU's QAPI input visitor does it: members
 * in schema order (missing, then wrong type), then anything left over is
 * unexpected.  Pure: no I/O.
 */
#ifndef QMP_ARGS_H
#define QMP_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

enum qmp_arg_type {
	QMP_ARG_INT,   /* JSON integer in int64 range */
	QMP_ARG_UINT,  /* JSON integer in uint64 range */
	QMP_ARG_BOOL,  /* true / false */
	QMP_ARG_STR,   /* any string */
	QMP_ARG_ENUM,  /* a string from values[] */
	QMP_ARG_ARRAY, /* a JSON array, its elements checked by the command */
};

struct qmp_arg {
	const char *name; /* NULL ends a spec */
	enum qmp_arg_type type;
	bool optional;
	const char *const *values; /* QMP_ARG_ENUM: NULL-terminated */
};

/*
 * Check args (a JSON object, or NULL for none) against spec (NULL for a
 * command without arguments).  Returns NULL if they conform, else the
 * error member of a reply: {"class": "GenericError", "desc": ...}.
 */
json_object *qmp_args_check(const struct qmp_arg *spec, json_object *args);

/*
 * Getters for checked arguments: false if the member is absent (then *v is
 * left alone, so preset it to the default).
 */
bool qmp_arg_int(json_object *args, const char *name, int64_t *v);
bool qmp_arg_uint(json_object *args, const char *name, uint64_t *v);
bool qmp_arg_bool(json_object *args, const char *name, bool *v);
bool qmp_arg_str(json_object *args, const char *name, const char **v);
json_object *qmp_arg_get(json_object *args, const char *name);

/* {"class": klass, "desc": printf(fmt, ...)}, or NULL without memory. */
json_object *qmp_error_new(const char *klass, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define QMP_ERROR_GENERIC   "GenericError"
#define QMP_ERROR_NOT_FOUND "CommandNotFound"

#endif /* QMP_ARGS_H */

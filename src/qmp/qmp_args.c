// SPDX-License-Identifier: MIT
/* Command argument checking; see qmp_args.h. */
#include "qmp/qmp_args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_object *qmp_error_new(const char *klass, const char *fmt, ...)
{
	json_object *err;
	va_list ap;
	char *desc;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&desc, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	err = json_object_new_object();
	if (err) {
		json_object_object_add(err, "class", json_object_new_string(klass));
		json_object_object_add(err, "desc", json_object_new_string_len(desc, n));
	}
	free(desc);
	return err;
}

json_object *qmp_arg_get(json_object *args, const char *name)
{
	json_object *v;

	if (!args || !json_object_object_get_ex(args, name, &v))
		return NULL;
	return v;
}

/*
 * json-c keeps integers as int64 or uint64 and clamps when asked for the
 * other: tell the cases apart by asking for both.
 */
static bool int_is_negative(json_object *v)
{
	return json_object_get_int64(v) < 0;
}

static bool int_above_int64(json_object *v)
{
	return json_object_get_int64(v) == INT64_MAX && json_object_get_uint64(v) > INT64_MAX;
}

static bool enum_has(const char *const *values, const char *s)
{
	for (; *values; values++)
		if (!strcmp(*values, s))
			return true;
	return false;
}

/* QEMU's words: "integer", "boolean", "string", "array". */
static const char *type_word(enum qmp_arg_type t)
{
	switch (t) {
	case QMP_ARG_INT:
	case QMP_ARG_UINT:
		return "integer";
	case QMP_ARG_BOOL:
		return "boolean";
	case QMP_ARG_STR:
	case QMP_ARG_ENUM:
		return "string";
	case QMP_ARG_ARRAY:
		return "array";
	}
	return "?";
}

static bool type_matches(enum qmp_arg_type t, json_object *v)
{
	switch (t) {
	case QMP_ARG_INT:
	case QMP_ARG_UINT:
		return json_object_is_type(v, json_type_int);
	case QMP_ARG_BOOL:
		return json_object_is_type(v, json_type_boolean);
	case QMP_ARG_STR:
	case QMP_ARG_ENUM:
		return json_object_is_type(v, json_type_string);
	case QMP_ARG_ARRAY:
		return json_object_is_type(v, json_type_array);
	}
	return false;
}

/* present: whether the member exists at all (its value may be JSON null). */
static json_object *check_one(const struct qmp_arg *a, bool present, json_object *v)
{
	if (!present) {
		if (a->optional)
			return NULL;
		return qmp_error_new(QMP_ERROR_GENERIC, "Parameter '%s' is missing", a->name);
	}
	/*
	 * QEMU's visitor: anything but an integer in uint64 range (a string,
	 * null, a fraction, 2^64 and up) "expects uint64".  It takes a
	 * negative number and wraps it; we refuse it with the same words.
	 */
	if (a->type == QMP_ARG_UINT) {
		if (!json_object_is_type(v, json_type_int) || int_is_negative(v))
			return qmp_error_new(QMP_ERROR_GENERIC, "Parameter '%s' expects uint64",
					     a->name);
		return NULL;
	}
	/* For an int64, anything else (2^63 and up too) is of the wrong type. */
	if (!type_matches(a->type, v) || (a->type == QMP_ARG_INT && int_above_int64(v)))
		return qmp_error_new(QMP_ERROR_GENERIC,
				     "Invalid parameter type for '%s', expected: %s", a->name,
				     type_word(a->type));
	if (a->type == QMP_ARG_ENUM && !enum_has(a->values, json_object_get_string(v)))
		return qmp_error_new(QMP_ERROR_GENERIC, "Parameter '%s' does not accept value '%s'",
				     a->name, json_object_get_string(v));
	return NULL;
}

static bool spec_has(const struct qmp_arg *spec, const char *name)
{
	for (; spec && spec->name; spec++)
		if (!strcmp(spec->name, name))
			return true;
	return false;
}

json_object *qmp_args_check(const struct qmp_arg *spec, json_object *args)
{
	const struct qmp_arg *a;
	json_object *err;

	for (a = spec; a && a->name; a++) {
		json_object *v = NULL;
		bool present = args && json_object_object_get_ex(args, a->name, &v);

		err = check_one(a, present, v);
		if (err)
			return err;
	}
	if (!args)
		return NULL;
	json_object_object_foreach(args, key, val)
	{
		if (!spec_has(spec, key))
			return qmp_error_new(QMP_ERROR_GENERIC, "Parameter '%s' is unexpected",
					     key);
	}
	return NULL;
}

bool qmp_arg_int(json_object *args, const char *name, int64_t *v)
{
	json_object *o = qmp_arg_get(args, name);

	if (!o)
		return false;
	*v = json_object_get_int64(o);
	return true;
}

bool qmp_arg_uint(json_object *args, const char *name, uint64_t *v)
{
	json_object *o = qmp_arg_get(args, name);

	if (!o)
		return false;
	*v = json_object_get_uint64(o);
	return true;
}

bool qmp_arg_bool(json_object *args, const char *name, bool *v)
{
	json_object *o = qmp_arg_get(args, name);

	if (!o)
		return false;
	*v = json_object_get_boolean(o);
	return true;
}

bool qmp_arg_str(json_object *args, const char *name, const char **v)
{
	json_object *o = qmp_arg_get(args, name);

	if (!o)
		return false;
	*v = json_object_get_string(o);
	return true;
}

// SPDX-License-Identifier: MIT
/*
 * QMP messages written as QEMU writes them (qobject/json-writer.c):
 * ", " between members, ": " after keys, "{}" and "[]" when empty, doubles
 * with 17 significant digits, strings in ASCII: '"', '\' and the control
 * characters QEMU names escaped by name, every other character below 0x20
 * or from 0x7F on as \uXXXX (a surrogate pair beyond the BMP), and a
 * byte that is not UTF-8 as U+FFFD.  Then "\r\n", as QEMU's monitor sends.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp_json.h"

/* First allocation: a typical reply fits. */
#define OUT_INITIAL 256

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void grow(struct out *o, size_t n)
{
	size_t cap = o->cap ? o->cap : OUT_INITIAL;
	char *nb;

	while (cap < o->len + n + 1)
		cap *= 2;
	nb = realloc(o->buf, cap);
	if (!nb) {
		o->failed = true;
		return;
	}
	o->buf = nb;
	o->cap = cap;
}

static void add(struct out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n + 1 > o->cap)
		grow(o, n);
	if (o->failed)
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void adds(struct out *o, const char *s)
{
	add(o, s, strlen(s));
}

static void addf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void addf(struct out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		add(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* The code point at s (n bytes left) and its length; -1 (length 1) if not UTF-8. */
static long utf8_next(const unsigned char *s, size_t n, size_t *len)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	unsigned char c = s[0];
	size_t need, i;
	uint32_t cp;

	*len = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		cp = c & 0x07;
	} else {
		return -1;
	}
	if (n < need)
		return -1;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*len = need;
	return (long)cp;
}

static void write_string(struct out *o, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, len;

	adds(o, "\"");
	while (i < n) {
		long cp = utf8_next(s + i, n - i, &len);

		i += len;
		switch (cp) {
		case '"':
			adds(o, "\\\"");
			break;
		case '\\':
			adds(o, "\\\\");
			break;
		case '\b':
			adds(o, "\\b");
			break;
		case '\f':
			adds(o, "\\f");
			break;
		case '\n':
			adds(o, "\\n");
			break;
		case '\r':
			adds(o, "\\r");
			break;
		case '\t':
			adds(o, "\\t");
			break;
		default:
			if (cp < 0)
				cp = 0xFFFD;
			if (cp > 0xFFFF)
				addf(o, "\\u%04lX\\u%04lX", 0xD800 + ((cp - 0x10000) >> 10),
				     0xDC00 + ((cp - 0x10000) & 0x3FF));
			else if (cp < 0x20 || cp >= 0x7F)
				addf(o, "\\u%04lX", cp);
			else
				add(o, (const char *)s + i - 1, 1);
		}
	}
	adds(o, "\"");
}

/* json-c keeps an integer as int64 or uint64; it clamps when asked for the other. */
static void write_int(struct out *o, json_object *v)
{
	int64_t i = json_object_get_int64(v);
	uint64_t u;

	if (i == INT64_MAX && (u = json_object_get_uint64(v)) > INT64_MAX)
		addf(o, "%" PRIu64, u);
	else
		addf(o, "%" PRId64, i);
}

static void write_value(struct out *o, json_object *v)
{
	size_t i, n;
	double d;
	bool first = true;

	switch (json_object_get_type(v)) {
	case json_type_null:
		adds(o, "null");
		break;
	case json_type_boolean:
		adds(o, json_object_get_boolean(v) ? "true" : "false");
		break;
	case json_type_int:
		write_int(o, v);
		break;
	case json_type_double:
		d = json_object_get_double(v);
		/* Input with such numbers is refused; never write what no parser reads. */
		if (isfinite(d))
			addf(o, "%.17g", d);
		else
			adds(o, "null");
		break;
	case json_type_string:
		write_string(o, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		break;
	case json_type_array:
		adds(o, "[");
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			if (i)
				adds(o, ", ");
			write_value(o, json_object_array_get_idx(v, i));
		}
		adds(o, "]");
		break;
	case json_type_object:
		adds(o, "{");
		json_object_object_foreach(v, key, val)
		{
			if (!first)
				adds(o, ", ");
			first = false;
			write_string(o, key, strlen(key));
			adds(o, ": ");
			write_value(o, val);
		}
		adds(o, "}");
		break;
	}
}

char *qmp_json_line(json_object *obj, size_t *len)
{
	struct out o = {0};

	write_value(&o, obj);
	adds(&o, "\r\n");
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}

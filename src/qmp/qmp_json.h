/* SPDX-License-Identifier: MIT */
/*
 * QMP's JSON on the wire, both ways, as QEMU speaks it.  Pure: no I/O.
 *
 * In: a byte stream becomes a sequence of JSON values exactly where QEMU's
 * JSON streamer (qobject/json-lexer.c, json-streamer.c) would cut it:
 * values may share a line or a read, span many reads, and need no newline;
 * a lexical error ("stray") is reported at once and the lexer skips to the
 * next structural or control character; a value that is lexically sound
 * but malformed is reported when its brackets balance.  Our lexer finds
 * the boundaries and checks what json-c cannot (modified UTF-8 and lone
 * surrogates, escaped NULs, duplicate keys, integers beyond 64 bits);
 * json-c's json_tokener parses each complete value.
 *
 * Out: QEMU's formatting ({"a": 1, "b": [2, 3]}, ASCII only, \uXXXX for
 * the rest), one message per line ending in "\r\n".
 */
#ifndef QMP_JSON_H
#define QMP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/*
 * JSON nesting accepted in a request (QEMU: 1024).  Our deepest request
 * has three levels ({"arguments": {"enable": []}}); 32 is generous and
 * keeps json-c's parser stack small.
 */
#define QMP_JSON_MAX_DEPTH 32

/*
 * At most this many bytes of a stray token are quoted in the error
 * (QEMU quotes it whole, up to 64 MiB): enough to recognise it.
 */
#define QMP_JSON_STRAY_MAX 64

/* Room for an error description. */
#define QMP_JSON_ERR_MAX (QMP_JSON_STRAY_MAX + 96)

enum qmp_json_result {
	QMP_JSON_MORE,	/* everything fed was consumed; no value is complete */
	QMP_JSON_VALUE, /* a value is complete */
	QMP_JSON_ERROR, /* a parse error to report */
};

/* One client's input state. */
struct qmp_json_in {
	size_t max_len; /* bytes in one value */
	int max_depth;
	char *buf; /* the value being received, raw */
	size_t len;
	int state;	      /* lexer state */
	size_t tok;	      /* where the current token starts in buf */
	int braces, brackets; /* open, as QEMU's streamer counts them */
	unsigned pairs;	      /* ':' seen: key-value pairs in the value */
	bool in_value;	      /* a value has started */
	bool discard;	      /* over a limit: reported; skip to the value's end */
	bool rewrite;	      /* single quotes or huge integers: normalise before json-c */
	bool num_int;	      /* the number token so far has no fraction or exponent */
	/* Strings: UTF-8 and \u escapes, checked as QEMU's parser checks them. */
	char quote;
	int utf8_left; /* continuation bytes still expected */
	uint32_t utf8_cp, utf8_min;
	int hex_left; /* hex digits of a \u escape still expected */
	uint32_t hex_cp;
	size_t esc_at;	/* where the \u escape starts in buf */
	size_t high_at; /* a high surrogate waiting for its low half, at */
	bool want_low;	/* ... is pending */
	bool low_slash; /* ... and its '\' has come */
	/* The first error found inside a token, reported when the value ends. */
	bool late;
	size_t late_at;
	char late_desc[QMP_JSON_ERR_MAX];
};

int qmp_json_in_init(struct qmp_json_in *in, size_t max_len, int max_depth);
void qmp_json_in_free(struct qmp_json_in *in);

/*
 * Feed n bytes; stops after the first complete value or error.  *used is
 * how many bytes were consumed (feed the rest again).  QMP_JSON_VALUE puts
 * the value (any JSON type, owned by the caller) in *value;
 * QMP_JSON_ERROR puts QEMU's description ("JSON parse error, ...") in
 * desc.  -ENOMEM if json-c could not allocate.
 */
int qmp_json_in_feed(struct qmp_json_in *in, const char *p, size_t n, size_t *used,
		     json_object **value, char desc[QMP_JSON_ERR_MAX]);

/* True if a value has started and is not complete (a client hanging up now cuts it). */
bool qmp_json_in_partial(const struct qmp_json_in *in);

/*
 * obj as QEMU writes a QMP message, followed by "\r\n": malloc'd,
 * NUL-terminated, length (without the NUL) in *len.  NULL without memory.
 */
char *qmp_json_line(json_object *obj, size_t *len);

#endif /* QMP_JSON_H */

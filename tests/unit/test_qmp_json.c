// SPDX-License-Identifier: MIT
/*
 * QMP's JSON stream: values cut and errors reported where QEMU 7.2 cuts
 * and reports them (every expectation marked "QEMU" below was read off
 * QEMU 7.2 given the same bytes), our own refusals, the limits, and the
 * writer's format.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qmp/qmp_json.h"

#define MAXLEN 1024
#define MAXOUT 16

struct got {
	int n;
	char *item[MAXOUT]; /* a value as written, or "E:" and the description */
	bool partial;	    /* a value is under way at the end */
};

static void got_free(struct got *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->item[i]);
	g->n = 0;
}

static void record(struct got *g, int r, json_object *v, const char *desc)
{
	size_t len;
	char *s;

	assert_true(g->n < MAXOUT);
	if (r == QMP_JSON_VALUE) {
		s = qmp_json_line(v, &len);
		assert_non_null(s);
		assert_true(len >= 2 && !strcmp(s + len - 2, "\r\n"));
		s[len - 2] = '\0';
		json_object_put(v);
	} else {
		assert_int_equal(r, QMP_JSON_ERROR);
		assert_true(asprintf(&s, "E:%s", desc) > 0);
	}
	g->item[g->n++] = s;
}

/* Feed text (len bytes) in pieces of chunk bytes (0: all at once). */
static void feed(struct qmp_json_in *in, const char *text, size_t len, size_t chunk, struct got *g)
{
	char desc[QMP_JSON_ERR_MAX];
	json_object *v;
	size_t off = 0;

	while (off < len) {
		size_t n = chunk && len - off > chunk ? chunk : len - off, used;
		const char *p = text + off;

		for (;;) {
			int r = qmp_json_in_feed(in, p, n, &used, &v, desc);

			assert_true(used <= n);
			p += used;
			n -= used;
			off += used;
			if (r == QMP_JSON_MORE) {
				assert_int_equal(n, 0);
				break;
			}
			record(g, r, v, desc);
		}
	}
	g->partial = qmp_json_in_partial(in);
}

/* text gives exactly the items (then NULL), whether fed whole or a byte at a time. */
static void expect(const char *text, ...)
{
	for (size_t chunk = 0; chunk <= 1; chunk++) {
		struct qmp_json_in in;
		struct got g = {0};
		const char *want;
		va_list ap;
		int i = 0;

		assert_int_equal(qmp_json_in_init(&in, MAXLEN, QMP_JSON_MAX_DEPTH), 0);
		feed(&in, text, strlen(text), chunk, &g);
		va_start(ap, text);
		while ((want = va_arg(ap, const char *))) {
			if (i >= g.n)
				fail_msg("%s: item %d missing, want %s", text, i, want);
			if (strcmp(g.item[i], want))
				fail_msg("%s (chunk %zu): item %d is\n  %s\nwant\n  %s", text,
					 chunk, i, g.item[i], want);
			i++;
		}
		va_end(ap);
		if (i != g.n)
			fail_msg("%s: %d items, want %d (extra: %s)", text, g.n, i, g.item[i]);
		got_free(&g);
		qmp_json_in_free(&in);
	}
}

static void test_values_without_newlines(void **state)
{
	(void)state;
	/* QEMU: two requests in one write, no newline. */
	expect("{\"execute\":\"query-status\",\"id\":1}{\"execute\":\"query-name\"}",
	       "{\"execute\": \"query-status\", \"id\": 1}", "{\"execute\": \"query-name\"}", NULL);
	expect("  {\"a\" :\n [1, 2,\r\n3]}\n\n", "{\"a\": [1, 2, 3]}", NULL);
	/* QEMU: a scalar is a value of its own; it ends where the next token starts. */
	expect("42 {\"x\":1}\"s\"{}null []", "42", "{\"x\": 1}", "\"s\"", "{}", "null", "[]", NULL);
	/* A number waits for the byte after it (QEMU too). */
	expect("{}42", "{}", NULL);
	expect("{\"e\": \"a\\u00e9\\u4e2d\\ud83d\\ude00\"}",
	       "{\"e\": \"a\\u00E9\\u4E2D\\uD83D\\uDE00\"}", NULL);
	expect("{\"e\": \"\xc3\xa9\"}", "{\"e\": \"\\u00E9\"}", NULL);
	expect("{\"id\":\"a\\/b\\\"c\\\\\\\\d\\u0001\\u007f\\t\"}",
	       "{\"id\": \"a/b\\\"c\\\\\\\\d\\u0001\\u007F\\t\"}", NULL);
	/* QEMU's single-quoted strings and its \' escape. */
	expect("{'execute':'query-status','id':'sq\\'x\"'}",
	       "{\"execute\": \"query-status\", \"id\": \"sq'x\\\"\"}", NULL);
	expect("{\"a\": \"it\\'s\"}", "{\"a\": \"it's\"}", NULL);
	/* QEMU: 1.5e3 is the double 1500, written "%.17g". */
	expect("{\"id\":1.5e3, \"z\": -0}", "{\"id\": 1500, \"z\": 0}", NULL);
}

static void test_big_integers(void **state)
{
	(void)state;
	expect("[18446744073709551615, -9223372036854775808, 9223372036854775807]",
	       "[18446744073709551615, -9223372036854775808, 9223372036854775807]", NULL);
	/* QEMU: beyond 64 bits an integer becomes a double (json-c would clamp it). */
	expect("[18446744073709551616, -9223372036854775809, 'x', 100000000000000000000000]",
	       "[1.8446744073709552e+19, -9.2233720368547758e+18, \"x\", 9.9999999999999992e+22]",
	       NULL);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	/* QEMU: one error per value, reported when its brackets balance. */
	expect("{\"execute\" \"x\"}{}", "E:JSON parse error, missing : in object pair", "{}", NULL);
	expect("}", "E:JSON parse error, expecting value", NULL);
	expect("]", "E:JSON parse error, expecting value", NULL);
	expect("{\"execute\":\"query-status\"}}", "{\"execute\": \"query-status\"}",
	       "E:JSON parse error, expecting value", NULL);
	expect("{\"id\":1,}", "E:JSON parse error, expecting value", NULL);
	expect("[1 2]", "E:JSON parse error, expected separator in list", NULL);
	expect("{\"a\":1]", "E:JSON parse error, expected separator in dict", NULL);
	expect("{1:2}", "E:JSON parse error, key is not a string in object", NULL);
	expect("{\"id\":nan}", "E:JSON parse error, invalid keyword 'nan'", NULL);
	expect("{\"id\":truex}", "E:JSON parse error, invalid keyword 'truex'", NULL);
	expect("nul {}", "E:JSON parse error, invalid keyword 'nul'", "{}", NULL);
	/* QEMU parses a key as a value: the keyword's flaw first. */
	expect("{bad}", "E:JSON parse error, invalid keyword 'bad'", NULL);
	/* ... but where it wants a separator it looks no further. */
	expect("{\"a\" \"\\ud800\"}", "E:JSON parse error, missing : in object pair", NULL);
	expect("{\"a\":1 bad}", "E:JSON parse error, expected separator in dict", NULL);
	/* QEMU: a duplicate key is a parse error, at any depth. */
	expect("{\"execute\":\"query-status\",\"id\":1,\"id\":2}",
	       "E:JSON parse error, duplicate key", NULL);
	expect("{\"a\":[{\"x\":1,\"x\":{}}]} {\"a\":{}, \"b\":{\"a\":1}}",
	       "E:JSON parse error, duplicate key", "{\"a\": {}, \"b\": {\"a\": 1}}", NULL);
	/* QEMU: lone surrogates. */
	expect("{\"a\":\"\\ud800\"}",
	       "E:JSON parse error, \\ud800 is not a valid Unicode character", NULL);
	expect("{\"a\":\"\\udc00x\"}",
	       "E:JSON parse error, \\udc00 is not a valid Unicode character", NULL);
	expect("{\"a\":\"\\ud800\\u0041\"}",
	       "E:JSON parse error, \\ud800 is not a valid Unicode character", NULL);
}

static void test_lexical_errors_and_recovery(void **state)
{
	(void)state;
	/* QEMU: a stray byte is reported at once; the lexer then skips to a structural byte. */
	expect("@", "E:JSON parse error, stray '@'", NULL);
	expect("{\"a\":01}", "E:JSON parse error, stray '01'",
	       "E:JSON parse error, expecting value", NULL);
	expect("\xff", "E:JSON parse error, stray '\xff'", NULL);
	expect("\xff\xff", "E:JSON parse error, stray '\xff'", "E:JSON parse error, stray '\xff'",
	       NULL);
	/* QEMU: the token so far, as a C string (so a NUL ends it). */
	expect("{\"execute\":\"query-status\t", "E:JSON parse error, stray '\"query-status\t'",
	       NULL);
	expect("{\"id\":\"\\t\x01\"}", "E:JSON parse error, stray '\"\\t\x01'",
	       "E:JSON parse error, expecting value", NULL);
	/* QEMU: after "stray", 42, "s" and x are skipped until the '{' (or a newline). */
	expect("@ 42 \"s\" x {\"a\":1}", "E:JSON parse error, stray '@'", "{\"a\": 1}", NULL);
	expect("@ 42\n43 ", "E:JSON parse error, stray '@'", "43", NULL);
	expect("42\\", "42", "E:JSON parse error, stray '\\'", NULL);
	expect("-x 1.} 1e", "E:JSON parse error, stray '-x'", "E:JSON parse error, expecting value",
	       NULL);
	expect("1.}", "E:JSON parse error, stray '1.}'", NULL);
	/* The error desc of a stray is capped. */
	{
		char text[200], want[200];

		snprintf(text, sizeof(text), "\"%0100d\x01", 0);
		snprintf(want, sizeof(want), "E:JSON parse error, stray '\"%0*d'",
			 QMP_JSON_STRAY_MAX - 1, 0);
		expect(text, want, NULL);
	}
}

static void test_nul_bytes(void **state)
{
	struct qmp_json_in in;
	struct got g = {0};
	const char text[] = "\0{\"execute\":\"query-status\0x\"}";

	(void)state;
	assert_int_equal(qmp_json_in_init(&in, MAXLEN, QMP_JSON_MAX_DEPTH), 0);
	feed(&in, text, sizeof(text) - 1, 0, &g);
	/* QEMU: a NUL is a stray byte (printed as nothing); so is one in a string. */
	assert_int_equal(g.n, 3);
	assert_string_equal(g.item[0], "E:JSON parse error, stray ''");
	assert_string_equal(g.item[1], "E:JSON parse error, stray '\"query-status'");
	assert_string_equal(g.item[2], "E:JSON parse error, expecting value");
	got_free(&g);
	qmp_json_in_free(&in);
}

/* Issue 11, item 5: QEMU passes these through; we refuse them. */
static void test_refused_strings(void **state)
{
	(void)state;
	expect("{\"execute\":\"\xc0\x80\"}", "E:JSON parse error, invalid UTF-8 sequence in string",
	       NULL);
	expect("{\"execute\":\"a\", \"id\":\"\xed\xa0\x80\"}",
	       "E:JSON parse error, invalid UTF-8 sequence in string", NULL);
	expect("{\"execute\":\"q\xf4\x90\x80\x80\"}",
	       "E:JSON parse error, invalid UTF-8 sequence in string", NULL);
	expect("{\"\xe0\x80\xaf\":1}", "E:JSON parse error, invalid UTF-8 sequence in string",
	       NULL);
	expect("{\"a\":\"\xc3\"}", "E:JSON parse error, invalid UTF-8 sequence in string", NULL);
	expect("{\"a\":\"\x80\"}", "E:JSON parse error, invalid UTF-8 sequence in string", NULL);
	/* An escaped NUL would cut names short ("query-status\u0000x" ran query-status). */
	expect("{\"execute\":\"query-status\\u0000x\"}",
	       "E:JSON parse error, \\u0000 is not supported", NULL);
	expect("{\"execute\\u0000x\":\"stop\"}", "E:JSON parse error, \\u0000 is not supported",
	       NULL);
	/* QEMU writes inf, which no JSON parser reads. */
	expect("{\"id\":1E400}", "E:JSON parse error, number out of range", NULL);
}

static void test_depth_limit(void **state)
{
	char text[256];
	int i, n = 0;

	(void)state;
	for (i = 0; i < QMP_JSON_MAX_DEPTH; i++)
		text[n++] = '[';
	for (i = 0; i < QMP_JSON_MAX_DEPTH; i++)
		text[n++] = ']';
	text[n] = '\0';
	expect(text, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", NULL);
	/* One more level: reported at once, and the rest of the value is skipped. */
	n = 0;
	text[n++] = '{';
	text[n++] = '"';
	text[n++] = 'a';
	text[n++] = '"';
	text[n++] = ':';
	for (i = 0; i < QMP_JSON_MAX_DEPTH; i++)
		text[n++] = '[';
	for (i = 0; i < QMP_JSON_MAX_DEPTH; i++)
		text[n++] = ']';
	strcpy(text + n, "}{\"after\":1}");
	expect(text, "E:JSON nesting depth limit exceeded", "{\"after\": 1}", NULL);
}

static void test_size_limit(void **state)
{
	char *text = malloc(3 * MAXLEN);
	int n;

	(void)state;
	/* Exactly MAXLEN bytes is fine. */
	n = snprintf(text, 3 * MAXLEN, "{\"a\":\"%0*d\"}", MAXLEN - 8, 0);
	assert_int_equal(n, MAXLEN);
	{
		struct qmp_json_in in;
		struct got g = {0};

		assert_int_equal(qmp_json_in_init(&in, MAXLEN, QMP_JSON_MAX_DEPTH), 0);
		feed(&in, text, n, 0, &g);
		assert_int_equal(g.n, 1);
		assert_true(!strncmp(g.item[0], "{\"a\": \"000", 10));
		got_free(&g);
		qmp_json_in_free(&in);
	}
	/* One more: reported at once, the rest skipped, the next value parsed. */
	n = snprintf(text, 3 * MAXLEN, "{\"a\":\"%0*d\", \"b\": [\"}\"]}{\"after\":[]}", MAXLEN, 0);
	expect(text, "E:JSON token size limit exceeded", "{\"after\": []}", NULL);
	free(text);
}

static void test_partial(void **state)
{
	struct qmp_json_in in;
	struct got g = {0};

	(void)state;
	assert_int_equal(qmp_json_in_init(&in, MAXLEN, QMP_JSON_MAX_DEPTH), 0);
	feed(&in, "  ", 2, 0, &g);
	assert_false(g.partial);
	feed(&in, "{\"execute\": \"st", 15, 0, &g);
	assert_int_equal(g.n, 0);
	assert_true(g.partial);
	feed(&in, "op\"}", 4, 0, &g);
	assert_int_equal(g.n, 1);
	assert_false(g.partial);
	got_free(&g);
	qmp_json_in_free(&in);
}

static void test_writer(void **state)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	size_t len;
	char *s;

	(void)state;
	json_object_object_add(o, "return", json_object_new_object());
	json_object_object_add(o, "list", a);
	json_object_array_add(a, json_object_new_uint64(UINT64_MAX));
	json_object_array_add(a, json_object_new_int64(INT64_MIN));
	json_object_array_add(a, json_object_new_boolean(false));
	json_object_array_add(a, NULL);
	json_object_array_add(a, json_object_new_string_len("n\0\xff\b\f\n\r\x1f", 8));
	json_object_array_add(a, json_object_new_double(0.1));
	json_object_array_add(a, json_object_new_array());
	s = qmp_json_line(o, &len);
	assert_string_equal(
	    s, "{\"return\": {}, \"list\": [18446744073709551615, "
	       "-9223372036854775808, false, null, "
	       "\"n\\u0000\\uFFFD\\b\\f\\n\\r\\u001F\", 0.10000000000000001, []]}\r\n");
	assert_int_equal(len, strlen(s));
	free(s);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_values_without_newlines),
	    cmocka_unit_test(test_big_integers),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_lexical_errors_and_recovery),
	    cmocka_unit_test(test_nul_bytes),
	    cmocka_unit_test(test_refused_strings),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_partial),
	    cmocka_unit_test(test_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

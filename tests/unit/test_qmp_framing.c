// SPDX-License-Identifier: MIT
/* The QMP line buffer and capped output buffer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qmp/qmp_framing.h"

static void feed(struct qmp_linebuf *lb, const char *s)
{
	size_t room, n = strlen(s);
	char *p = qmp_linebuf_space(lb, &room);

	assert_true(n <= room);
	memcpy(p, s, n);
	qmp_linebuf_commit(lb, n);
}

static void expect_line(struct qmp_linebuf *lb, const char *want)
{
	size_t len;
	char *line;

	assert_int_equal(qmp_linebuf_next(lb, &line, &len), 1);
	assert_int_equal(len, strlen(want));
	assert_string_equal(line, want);
}

static void expect_none(struct qmp_linebuf *lb)
{
	size_t len;
	char *line;

	assert_int_equal(qmp_linebuf_next(lb, &line, &len), 0);
}

static void test_lines(void **state)
{
	struct qmp_linebuf lb;

	assert_int_equal(qmp_linebuf_init(&lb, 64), 0);
	expect_none(&lb);
	feed(&lb, "one\r\ntwo\nthr");
	expect_line(&lb, "one");
	expect_line(&lb, "two");
	expect_none(&lb);
	feed(&lb, "ee\n\n\r\n");
	expect_line(&lb, "three");
	expect_line(&lb, "");
	expect_line(&lb, "");
	expect_none(&lb);
	/* A lone '\r' inside a line stays. */
	feed(&lb, "a\rb\n");
	expect_line(&lb, "a\rb");
	qmp_linebuf_free(&lb);
}

static void test_byte_by_byte(void **state)
{
	const char *msg = "{\"execute\": \"stop\"}\r\n";
	struct qmp_linebuf lb;
	char one[2] = "";
	size_t i;

	assert_int_equal(qmp_linebuf_init(&lb, 64), 0);
	for (i = 0; msg[i + 1]; i++) {
		one[0] = msg[i];
		feed(&lb, one);
		expect_none(&lb);
	}
	feed(&lb, "\n");
	expect_line(&lb, "{\"execute\": \"stop\"}");
	qmp_linebuf_free(&lb);
}

static void test_line_limit(void **state)
{
	char big[17];
	struct qmp_linebuf lb;
	size_t room;

	assert_int_equal(qmp_linebuf_init(&lb, 16), 0);
	/* Exactly the limit, newline included: fine. */
	memset(big, 'x', 15);
	big[15] = '\n';
	big[16] = '\0';
	feed(&lb, big);
	expect_line(&lb, "xxxxxxxxxxxxxxx");
	/* Compaction makes room again after consumed lines. */
	feed(&lb, "ab\ncd");
	expect_line(&lb, "ab");
	expect_none(&lb);
	qmp_linebuf_space(&lb, &room);
	assert_int_equal(room, 14);
	memset(big, 'y', 14);
	big[14] = '\0';
	feed(&lb, big);
	{
		size_t len;
		char *line;

		assert_int_equal(qmp_linebuf_next(&lb, &line, &len), -EMSGSIZE);
	}
	qmp_linebuf_space(&lb, &room);
	assert_int_equal(room, 0);
	qmp_linebuf_free(&lb);
}

static void test_outbuf(void **state)
{
	struct qmp_outbuf ob;
	char big[10000];
	const char *p;
	size_t n;

	memset(big, 'z', sizeof(big));
	qmp_outbuf_init(&ob, 12000);
	assert_true(qmp_outbuf_empty(&ob));
	assert_int_equal(qmp_outbuf_append(&ob, "hello", 5), 0);
	p = qmp_outbuf_data(&ob, &n);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "hello", 5);
	qmp_outbuf_consume(&ob, 2);
	p = qmp_outbuf_data(&ob, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "llo", 3);
	assert_int_equal(qmp_outbuf_append(&ob, big, sizeof(big)), 0);
	/* 10003 held: 2000 more would pass the cap. */
	assert_int_equal(qmp_outbuf_append(&ob, big, 2000), -ENOBUFS);
	assert_int_equal(qmp_outbuf_append(&ob, big, 1997), 0);
	assert_int_equal(qmp_outbuf_append(&ob, "!", 1), -ENOBUFS);
	qmp_outbuf_consume(&ob, 3);
	/* Sending frees room, and the held bytes stay in order. */
	assert_int_equal(qmp_outbuf_append(&ob, "end", 3), 0);
	p = qmp_outbuf_data(&ob, &n);
	assert_int_equal(n, 12000);
	assert_memory_equal(p + n - 3, "end", 3);
	qmp_outbuf_consume(&ob, n);
	assert_true(qmp_outbuf_empty(&ob));
	qmp_outbuf_free(&ob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines),
	    cmocka_unit_test(test_byte_by_byte),
	    cmocka_unit_test(test_line_limit),
	    cmocka_unit_test(test_outbuf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

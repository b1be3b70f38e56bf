// SPDX-License-Identifier: MIT
/*
 * migprog: vmmctl's migration progress line and summary, from replies as
 * QEMU 7.2 and vmm send them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "migprog.h"

/* query-migrate of QEMU 7.2 during a migration (as captured on our host, cut down). */
static const char *const active_qemu =
    "{\"expected-downtime\": 812, \"status\": \"active\", \"setup-time\": 2,"
    " \"total-time\": 12345, \"cpu-throttle-percentage\": 30,"
    " \"ram\": {\"total\": 1074274304, \"postcopy-requests\": 0, \"dirty-sync-count\": 3,"
    " \"page-size\": 4096, \"remaining\": 83886080, \"mbps\": 800.5,"
    " \"transferred\": 1299227648, \"duplicate\": 200000, \"dirty-pages-rate\": 79360,"
    " \"normal-bytes\": 1290000000, \"normal\": 314941}}";

static json_object *parse(const char *s)
{
	json_object *o = json_tokener_parse(s);

	assert_non_null(o);
	return o;
}

static void test_bytes(void **state)
{
	char b[16];

	(void)state;
	migprog_bytes(0, b, sizeof(b));
	assert_string_equal(b, "0 B");
	migprog_bytes(1023, b, sizeof(b));
	assert_string_equal(b, "1023 B");
	migprog_bytes(1024, b, sizeof(b));
	assert_string_equal(b, "1.00 KiB");
	migprog_bytes(80ull << 20, b, sizeof(b));
	assert_string_equal(b, "80.0 MiB");
	migprog_bytes(512ull << 10, b, sizeof(b));
	assert_string_equal(b, "512 KiB");
	migprog_bytes(1ull << 30, b, sizeof(b));
	assert_string_equal(b, "1.00 GiB");
	/* 9.999 GiB rounds to 10.0, not "10.00". */
	migprog_bytes((10ull << 30) - 1, b, sizeof(b));
	assert_string_equal(b, "10.0 GiB");
	migprog_bytes(UINT64_MAX, b, sizeof(b));
	assert_string_equal(b, "16.0 EiB");
}

static void test_line_active(void **state)
{
	json_object *o = parse(active_qemu);
	json_object *lim = parse("[{\"cpu-index\": 0, \"limit-rate\": 25, \"current-rate\": 30},"
				 " {\"cpu-index\": 1, \"limit-rate\": 0, \"current-rate\": 0},"
				 " {\"cpu-index\": 2, \"limit-rate\": 1, \"current-rate\": 1}]");
	struct migprog p;
	char line[MIGPROG_LINE_MAX];

	(void)state;
	assert_int_equal(migprog_parse(o, &p), 0);
	assert_string_equal(p.status, "active");
	assert_int_equal(p.dirty_sync_count, 3);
	assert_int_equal(p.throttle_pct, 30);
	migprog_limits(lim, &p);
	assert_int_equal(p.limited, 2);
	migprog_line(&p, 12.34, line, sizeof(line));
	/* 800.5 Mbit/s = 95.4 MiB/s; 79360 pages/s = 310 MiB/s. */
	assert_string_equal(line,
			    " 12.3s active     round 3  sent 1.21 GiB, left 80.0 MiB of 1.00 GiB"
			    "  95.4 MiB/s  dirty 310.0 MiB/s  downtime ~812 ms"
			    "  throttle 30%, limit 2 vCPUs at 1-25 MiB/s");
	json_object_put(o);
	json_object_put(lim);
}

static void test_line_setup_and_none(void **state)
{
	json_object *o = parse("{\"status\": \"setup\"}");
	json_object *none = parse("{}");
	struct migprog p;
	char line[MIGPROG_LINE_MAX];

	(void)state;
	assert_int_equal(migprog_parse(o, &p), 0);
	migprog_limits(NULL, &p);
	migprog_line(&p, 0.0, line, sizeof(line));
	assert_string_equal(line, "  0.0s setup     ");
	/* QEMU answers {} before any migration. */
	assert_int_equal(migprog_parse(none, &p), 0);
	assert_string_equal(p.status, "none");
	assert_false(migprog_final(p.status));
	assert_int_equal(migprog_parse(NULL, &p), -1);
	json_object_put(o);
	json_object_put(none);
}

static void test_line_no_limit_one_vcpu(void **state)
{
	json_object *o =
	    parse("{\"status\": \"device\", \"ram\": {\"total\": 4096, \"remaining\": 0,"
		  " \"transferred\": 100, \"mbps\": 0, \"dirty-sync-count\": 1}}");
	json_object *lim = parse("[{\"cpu-index\": 0, \"limit-rate\": 7}]");
	struct migprog p;
	char line[MIGPROG_LINE_MAX];

	(void)state;
	migprog_parse(o, &p);
	migprog_line(&p, 1, line, sizeof(line));
	assert_non_null(strstr(line, "  no limit"));
	assert_null(strstr(line, "downtime"));
	migprog_limits(lim, &p);
	migprog_line(&p, 1, line, sizeof(line));
	assert_non_null(strstr(line, "  limit 1 vCPU at 7 MiB/s"));
	json_object_put(o);
	json_object_put(lim);
}

static void test_summary_completed(void **state)
{
	json_object *a = parse(active_qemu);
	json_object *lim = parse("[{\"cpu-index\": 0, \"limit-rate\": 4}]");
	json_object *done =
	    parse("{\"status\": \"completed\", \"setup-time\": 3, \"downtime\": 41,"
		  " \"total-time\": 1840, \"ram\": {\"total\": 1073741824, \"remaining\": 0,"
		  " \"transferred\": 1207959552, \"normal-bytes\": 1195376640, \"duplicate\": 3012,"
		  " \"dirty-sync-count\": 4, \"mbps\": 5000}}");
	struct migprog p1, p2, p3;
	char s[MIGPROG_SUMMARY_MAX];

	(void)state;
	migprog_parse(a, &p1);
	migprog_limits(NULL, &p1);
	migprog_carry(NULL, &p1);
	migprog_parse(a, &p2);
	p2.throttle_pct = 20;
	migprog_limits(lim, &p2);
	migprog_carry(&p1, &p2);
	migprog_parse(done, &p3);
	migprog_limits(NULL, &p3);
	migprog_carry(&p2, &p3);
	assert_true(migprog_final(p3.status));
	migprog_summary(&p3, 99.0, s, sizeof(s));
	assert_string_equal(
	    s, "migration completed in 1.84 s (setup 3 ms)\n"
	       "  RAM 1.00 GiB: sent 1.12 GiB (1.11 GiB of page data, 3012 zero pages)"
	       " in 4 rounds, 626.1 MiB/s on average\n"
	       "  downtime 41 ms\n"
	       "  held back: CPU throttle up to 30%; dirty limit down to 4 MiB/s, on up to"
	       " 1 vCPU\n");
	json_object_put(a);
	json_object_put(lim);
	json_object_put(done);
}

static void test_summary_failed(void **state)
{
	json_object *o =
	    parse("{\"status\": \"failed\", \"total-time\": 2500,"
		  " \"error-desc\": \"Unable to write to socket: Connection reset by peer\","
		  " \"ram\": {\"total\": 1073741824, \"remaining\": 524288000,"
		  " \"transferred\": 549453824, \"dirty-sync-count\": 1}}");
	json_object *cancelled = parse("{\"status\": \"cancelled\"}");
	struct migprog p;
	char s[MIGPROG_SUMMARY_MAX];

	(void)state;
	migprog_parse(o, &p);
	migprog_carry(NULL, &p);
	migprog_summary(&p, 3.0, s, sizeof(s));
	assert_string_equal(s,
			    "migration failed after 2.50 s: Unable to write to socket: Connection"
			    " reset by peer\n"
			    "  RAM 1.00 GiB: sent 524 MiB (0 B of page data, 0 zero pages) in 1"
			    " round, 209.6 MiB/s on average\n"
			    "  left unsent: 500 MiB\n"
			    "  no throttle or dirty limit was in force\n");
	/* Without total-time, the time vmmctl watched. */
	migprog_parse(cancelled, &p);
	migprog_summary(&p, 3.25, s, sizeof(s));
	assert_non_null(strstr(s, "migration cancelled after 3.25 s\n"));
	json_object_put(o);
	json_object_put(cancelled);
}

/* Hostile replies: wrong types and absurd numbers are ignored or clamped, never trusted. */
static void test_bad_fields(void **state)
{
	json_object *o =
	    parse("{\"status\": 7, \"total-time\": \"x\", \"cpu-throttle-percentage\": 900,"
		  " \"x-note\": \"slow-1MB\", \"ram\": {\"total\": -5, \"mbps\": \"fast\","
		  " \"page-size\": 0, \"dirty-pages-rate\": 1e300}}");
	json_object *lim = parse("[1, {\"limit-rate\": \"x\"}, {\"cpu-index\": 0}]");
	struct migprog p;
	char line[MIGPROG_LINE_MAX];

	(void)state;
	assert_int_equal(migprog_parse(o, &p), 0);
	assert_string_equal(p.status, "none");
	assert_false(p.has_total_time);
	assert_int_equal(p.throttle_pct, 100);
	assert_int_equal(p.total, 0);
	assert_int_equal(p.page_size, 4096);
	assert_true(p.mbps == 0);
	assert_int_equal(p.dirty_pages_rate, UINT64_MAX);
	migprog_limits(lim, &p);
	assert_int_equal(p.limited, 0);
	migprog_line(&p, 0, line, sizeof(line));
	assert_non_null(strstr(line, "(slow-1MB)"));
	/* A small buffer cuts the line, never overflows. */
	migprog_line(&p, 0, line, 20);
	assert_int_equal(strlen(line), 19);
	json_object_put(o);
	json_object_put(lim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bytes),
	    cmocka_unit_test(test_line_active),
	    cmocka_unit_test(test_line_setup_and_none),
	    cmocka_unit_test(test_line_no_limit_one_vcpu),
	    cmocka_unit_test(test_summary_completed),
	    cmocka_unit_test(test_summary_failed),
	    cmocka_unit_test(test_bad_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

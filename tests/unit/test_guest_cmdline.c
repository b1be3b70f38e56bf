// SPDX-License-Identifier: MIT
/* Unit tests of guest/cmdline.c, the stress kernel's command-line parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cmdline.h"

struct warnings {
	unsigned int count;
	char last[128];
};

static void record(void *ctx, const char *what, const char *tok, unsigned int len)
{
	struct warnings *w = ctx;

	w->count++;
	snprintf(w->last, sizeof(w->last), "%s: %.*s", what, (int)len, tok);
}

static unsigned int parse(struct stress_config *cfg, const char *line, struct warnings *w)
{
	memset(w, 0, sizeof(*w));
	cmdline_defaults(cfg);
	return cmdline_parse(cfg, line, record, w);
}

static void test_defaults(void **state)
{
	struct stress_config cfg;
	struct warnings w;
	unsigned int cpu;

	assert_int_equal(parse(&cfg, NULL, &w), 0);
	assert_int_equal(parse(&cfg, "", &w), 0);
	assert_int_equal(parse(&cfg, "   ", &w), 0);
	assert_int_equal(cfg.wss, 0);
	assert_int_equal(cfg.pattern, STRESS_PATTERN_SEQ);
	assert_int_equal(cfg.rate_mib, 0);
	assert_int_equal(cfg.report_ms, CMDLINE_DEFAULT_REPORT_MS);
	for (cpu = 0; cpu < STRESS_MAX_CPUS; cpu++) {
		assert_true(cpuset_has(cfg.writers, cpu));
		assert_true(cpuset_has(cfg.readers, cpu));
	}
	assert_false(cpuset_has(cfg.writers, STRESS_MAX_CPUS));
}

static void test_all_keys(void **state)
{
	struct stress_config cfg;
	struct warnings w;

	assert_int_equal(parse(&cfg,
			       "wss=64M writers=0,2-3 readers=none pattern=random rate=10 "
			       "report=500",
			       &w),
			 0);
	assert_int_equal(cfg.wss, 64ull << 20);
	assert_int_equal(cfg.pattern, STRESS_PATTERN_RANDOM);
	assert_int_equal(cfg.rate_mib, 10);
	assert_int_equal(cfg.report_ms, 500);
	assert_true(cpuset_has(cfg.writers, 0));
	assert_false(cpuset_has(cfg.writers, 1));
	assert_true(cpuset_has(cfg.writers, 2));
	assert_true(cpuset_has(cfg.writers, 3));
	assert_false(cpuset_has(cfg.writers, 4));
	assert_false(cpuset_has(cfg.readers, 1));
}

static void test_kernel_name_and_spaces(void **state)
{
	struct stress_config cfg;
	struct warnings w;

	/* QEMU and GRUB put the kernel's path first. */
	assert_int_equal(parse(&cfg, "build/guest/stress.elf  wss=1G\trate=5\n", &w), 0);
	assert_int_equal(cfg.wss, 1ull << 30);
	assert_int_equal(cfg.rate_mib, 5);
	/* Later settings win. */
	assert_int_equal(parse(&cfg, "rate=5 rate=7", &w), 0);
	assert_int_equal(cfg.rate_mib, 7);
}

static void test_unknown_and_bad(void **state)
{
	struct stress_config cfg;
	struct warnings w;

	assert_int_equal(parse(&cfg, "foo=bar rate=3", &w), 1);
	assert_string_equal(w.last, "unknown parameter, ignored: foo=bar");
	assert_int_equal(cfg.rate_mib, 3);

	assert_int_equal(parse(&cfg, "wss=64M stray", &w), 1);
	assert_string_equal(w.last, "not key=value, ignored: stray");

	assert_int_equal(parse(&cfg, "pattern=zigzag", &w), 1);
	assert_int_equal(cfg.pattern, STRESS_PATTERN_SEQ);
	assert_string_equal(w.last, "bad value, ignored: pattern=zigzag");

	assert_int_equal(parse(&cfg, "wss=0 wss=12Q rate=-1 report=x rate=99999999999", &w), 5);
	assert_int_equal(cfg.wss, 0);
	assert_int_equal(cfg.rate_mib, 0);
	assert_int_equal(cfg.report_ms, CMDLINE_DEFAULT_REPORT_MS);

	/* A bad list leaves the earlier set alone. */
	assert_int_equal(parse(&cfg, "writers=1 writers=3-2", &w), 1);
	assert_true(cpuset_has(cfg.writers, 1));
	assert_false(cpuset_has(cfg.writers, 0));

	/* Without a callback, still counted. */
	cmdline_defaults(&cfg);
	assert_int_equal(cmdline_parse(&cfg, "x=1 y=2", NULL, NULL), 2);
}

static void test_sizes(void **state)
{
	static const struct {
		const char *s;
		uint64_t want;
	} good[] = {
	    {"4096", 4096},	      {"64K", 64ull << 10},
	    {"64k", 64ull << 10},     {"64KB", 64ull << 10},
	    {"64KiB", 64ull << 10},   {"256M", 256ull << 20},
	    {"256mib", 256ull << 20}, {"2G", 2ull << 30},
	    {"1T", 1ull << 40},	      {"0", 0},
	};
	static const char *const bad[] = {
	    "",
	    "M",
	    "64X",
	    "64MM",
	    "64Mi",
	    "64MiBx",
	    "-1",
	    "1.5G",
	    "99999999999999999999",
	    "17179869184G",
	};
	unsigned int i;
	uint64_t v;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 1;
		assert_int_equal(cmdline_parse_size(good[i].s, (unsigned int)strlen(good[i].s), &v),
				 0);
		assert_int_equal(v, good[i].want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cmdline_parse_size(bad[i], (unsigned int)strlen(bad[i]), &v), -1);
	/* Only len bytes are looked at. */
	assert_int_equal(cmdline_parse_size("64Mjunk", 3, &v), 0);
	assert_int_equal(v, 64ull << 20);
}

static void test_u32(void **state)
{
	uint32_t v;

	assert_int_equal(cmdline_parse_u32("4294967295", 10, &v), 0);
	assert_int_equal(v, UINT32_MAX);
	assert_int_equal(cmdline_parse_u32("4294967296", 10, &v), -1);
	assert_int_equal(cmdline_parse_u32("", 0, &v), -1);
	assert_int_equal(cmdline_parse_u32("12a", 3, &v), -1);
}

static void test_cpulists(void **state)
{
	uint8_t set[CPUSET_BYTES];
	unsigned int cpu;

	assert_int_equal(cmdline_parse_cpulist("none", 4, set), 0);
	for (cpu = 0; cpu < STRESS_MAX_CPUS; cpu++)
		assert_false(cpuset_has(set, cpu));
	assert_int_equal(cmdline_parse_cpulist("all", 3, set), 0);
	for (cpu = 0; cpu < STRESS_MAX_CPUS; cpu++)
		assert_true(cpuset_has(set, cpu));

	assert_int_equal(cmdline_parse_cpulist("0,2-3,255", 9, set), 0);
	for (cpu = 0; cpu < STRESS_MAX_CPUS; cpu++)
		assert_int_equal(cpuset_has(set, cpu),
				 cpu == 0 || cpu == 2 || cpu == 3 || cpu == 255);
	assert_int_equal(cmdline_parse_cpulist("7", 1, set), 0);
	assert_true(cpuset_has(set, 7));
	assert_false(cpuset_has(set, 0));

	assert_int_equal(cmdline_parse_cpulist("256", 3, set), -1);
	assert_int_equal(cmdline_parse_cpulist("1-256", 5, set), -1);
	assert_int_equal(cmdline_parse_cpulist("3-1", 3, set), -1);
	assert_int_equal(cmdline_parse_cpulist("1,", 2, set), -1);
	assert_int_equal(cmdline_parse_cpulist(",1", 2, set), -1);
	assert_int_equal(cmdline_parse_cpulist("1-", 2, set), -1);
	assert_int_equal(cmdline_parse_cpulist("a", 1, set), -1);
	assert_int_equal(cmdline_parse_cpulist("", 0, set), -1);
	/* A NUL inside the value ends no word early (ASan saw reads past "all"; fuzz_guest_cmdline). */
	assert_int_equal(cmdline_parse_cpulist("all\0", 4, set), -1);
	assert_int_equal(cmdline_parse_cpulist("none\0\0", 6, set), -1);
	/* Unchanged after an error. */
	assert_true(cpuset_has(set, 7));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_all_keys),
	    cmocka_unit_test(test_kernel_name_and_spaces),
	    cmocka_unit_test(test_unknown_and_bad),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_u32),
	    cmocka_unit_test(test_cpulists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

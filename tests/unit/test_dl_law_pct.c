// SPDX-License-Identifier: MIT
/*
 * Unit tests of the pct law (src/dirtylimit/dl_law_pct.c), driven by hand:
 * the first decision, the RATIO / HEAVY / SLIGHT steps of the first
 * version's patches, its tolerance, and the auto-converge-style sleeps
 * that hold to the end of the period.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dirtylimit/dl_law.h"

#define US 1000ull
#define MS 1000000ull
#define S  1000000000ull

static struct dl_vcpu v;
static struct dl_law_cfg cfg = {.law = &dl_law_pct};
static struct dl_tune_ctx ctx = {.cfg = &cfg, .period_ns = 15 * S};
static uint64_t now;

static void setup(uint64_t tick_ns)
{
	struct dl_params p;
	struct dl_action a;

	dl_params_default(&p);
	p.tick_ns = tick_ns;
	p.max_sleep_ns = 10 * MS;
	dl_vcpu_init(&v, &p);
	dl_vcpu_set_law(&v, &dl_law_pct);
	now = 0;
	dl_vcpu_account(&v, 0, 0, now, &a);
}

/* A decision from rate MiB/s over 1 s under limit MiB/s. */
static uint32_t decide(uint64_t limit_mib, uint64_t rate_mib, bool first)
{
	struct dl_tune_in in = {.limit_pps = limit_mib * 256,
				.pages = rate_mib * 256,
				.window_ns = 1 * S,
				.now_ns = now,
				.first = first};

	dl_law_pct.tune(&v, &ctx, &in);
	return v.cs.pct;
}

static void test_first_decision(void **state)
{
	(void)state;
	setup(10 * MS);
	/* (500 - 200) * 100 / 500 = 60. */
	assert_int_equal(decide(200, 500, true), 60);
	/* At most 75. */
	assert_int_equal(decide(100, 1000, true), 75);
	/* Within 15 MB/s, or below: nothing. */
	assert_int_equal(decide(200, 215, true), 0);
	assert_int_equal(decide(200, 100, true), 0);
	assert_int_equal(decide(200, 0, true), 0);
}

static void test_unmeasured(void **state)
{
	struct dl_tune_in in = {
	    .limit_pps = 200 * 256, .pages = 500 * 256, .window_ns = 1 * S, .first = true};

	(void)state;
	setup(10 * MS);
	/* The patches' rate thread starts with the first limit: nothing is
	 * measured yet, the rate reads 0, the vCPU runs free a period. */
	in.unmeasured = true;
	dl_law_pct.tune(&v, &ctx, &in);
	assert_int_equal(v.cs.pct, 0);
	assert_int_equal(v.cs.rate_mib, 0);
	assert_true(v.cs.on);
	/* The next decision reads a rate: RATIO from 0. */
	assert_int_equal(decide(200, 500, false), 60);
}

static void test_ratio_heavy_slight(void **state)
{
	(void)state;
	setup(10 * MS);
	assert_int_equal(decide(200, 500, true), 60);
	/* RATIO up: + (400 - 200) * 100 / 400 = 50, at most 75. */
	assert_int_equal(decide(200, 400, false), 75);
	/* HEAVY [75, 90): +5, at most 90. */
	assert_int_equal(decide(200, 300, false), 80);
	assert_int_equal(decide(200, 250, false), 85);
	assert_int_equal(decide(200, 230, false), 90);
	/* SLIGHT [90, 99]: +2, at most 99. */
	assert_int_equal(decide(200, 230, false), 92);
	for (int i = 0; i < 10; i++)
		decide(200, 230, false);
	assert_int_equal(v.cs.pct, 99);
	/* Within 15 MB/s: keep. */
	assert_int_equal(decide(200, 186, false), 99);
	assert_int_equal(decide(200, 215, false), 99);
	/* Below: SLIGHT -2, then HEAVY -5. */
	assert_int_equal(decide(200, 100, false), 97);
	v.cs.pct = 90;
	assert_int_equal(decide(200, 100, false), 88);
	assert_int_equal(decide(200, 100, false), 83);
	v.cs.pct = 75;
	assert_int_equal(decide(200, 100, false), 70);
	/* RATIO down: - (200 - 100) * 100 / 200 = 50; at least 1. */
	assert_int_equal(decide(200, 100, false), 20);
	assert_int_equal(decide(200, 180, false), 10);
	assert_int_equal(decide(200, 100, false), 0); /* 10 <= 50: off */
	v.cs.pct = 51;
	assert_int_equal(decide(200, 100, false), 1);
	/* 2 or less, below the quota: off. */
	v.cs.pct = 2;
	assert_int_equal(decide(200, 184, false), 0);
	/* A rate of 0 below the quota: off. */
	v.cs.pct = 80;
	assert_int_equal(decide(200, 0, false), 0);
}

static void test_cancel_ends_thread(void **state)
{
	(void)state;
	setup(10 * MS);
	assert_int_equal(decide(200, 500, true), 60);
	assert_int_equal(decide(0, 500, false), 0);
	assert_false(v.cs.on);
	/* Set again: a new thread, a first decision. */
	assert_int_equal(decide(200, 400, false), 50);
}

/* Run the vCPU for run_ns; returns what it was told to sleep. */
static uint64_t run(uint64_t run_ns)
{
	struct dl_action a;
	uint64_t slept = 0;

	now += run_ns;
	dl_vcpu_account(&v, 1000, run_ns, now, &a);
	while (a.sleep_ns) {
		slept += a.sleep_ns;
		now += a.sleep_ns;
		if (a.slice_ns)
			break;
		dl_vcpu_account(&v, 0, 0, now, &a);
	}
	return slept;
}

static void test_timeslice_sleeps(void **state)
{
	struct dl_action a;

	(void)state;
	setup(10 * MS);
	dl_vcpu_set_limit(&v, 200 * 256);
	dl_law_publish(&v, &dl_law_pct, 80, 20 * S);
	/* 80%: after every 10 ms of running, 0.8 / 0.2 * 10 ms (+ 1 ns). */
	assert_int_equal(run(10 * MS), 40 * MS + 1);
	assert_int_equal(run(4 * MS), 0);
	assert_int_equal(run(6 * MS), 40 * MS + 1);
	/* The slice ends where the time slice does, with the 1 ms tick of a
	 * 4096-entry ring too. */
	setup(1 * MS);
	dl_law_publish(&v, &dl_law_pct, 50, 20 * S);
	dl_vcpu_account(&v, 0, 0, now, &a);
	assert_int_equal(a.slice_ns, 1 * MS);
	for (int i = 0; i < 9; i++)
		assert_int_equal(run(1 * MS), 0);
	assert_int_equal(run(1 * MS), 10 * MS + 1);
	/* 99%: 990 ms in pieces (the double's 98.999... and the patches'
	 * + 1 ns give 990 ms to the nanosecond, or one more). */
	dl_law_publish(&v, &dl_law_pct, 99, 20 * S);
	assert_in_range(run(10 * MS), 990 * MS, 990 * MS + 1);
	assert_in_range(v.st_max_penalty_ns, 990 * MS, 990 * MS + 1);
}

static void test_holds_to_period_end(void **state)
{
	(void)state;
	setup(10 * MS);
	dl_vcpu_set_limit(&v, 200 * 256);
	dl_law_publish(&v, &dl_law_pct, 50, 1 * S);
	assert_int_equal(run(10 * MS), 10 * MS + 1);
	/* Cancelled: the throttle thread finishes its period first. */
	dl_vcpu_set_limit(&v, 0);
	assert_int_equal(run(10 * MS), 10 * MS + 1);
	now = 1 * S;
	assert_int_equal(run(10 * MS), 0);
	assert_int_equal(run(10 * MS), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_decision),     cmocka_unit_test(test_unmeasured),
	    cmocka_unit_test(test_ratio_heavy_slight), cmocka_unit_test(test_cancel_ends_thread),
	    cmocka_unit_test(test_timeslice_sleeps),   cmocka_unit_test(test_holds_to_period_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

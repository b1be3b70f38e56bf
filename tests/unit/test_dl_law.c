// SPDX-License-Identifier: MIT
/*
 * Unit tests of src/dirtylimit/dl_law.[ch], driven by hand: exact sleeps,
 * sleep pieces, cancel, readers, rate collapse, limit changes, no banking,
 * overflow.  The closed-loop behaviour is in test_dl_sim.c.
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

static void params(struct dl_params *p)
{
	dl_params_default(p);
	p->tick_ns = 2 * MS;
	p->min_slice_ns = 50 * US;
	p->max_sleep_ns = 10 * MS;
	p->pace_ns = 2 * MS;
	p->burst_ns = 2 * MS;
}

/* A vCPU with the test parameters and limit applied at time t. */
static void limited(struct dl_vcpu *v, uint64_t limit, uint64_t t)
{
	struct dl_params p;
	struct dl_action a;

	params(&p);
	dl_vcpu_init(v, &p);
	dl_vcpu_set_limit(v, limit);
	dl_vcpu_account(v, 0, 0, t, &a);
	assert_int_equal(a.sleep_ns, 0);
}

/* Follow sleep pieces (sleeping exactly as told) until a slice is given;
 * returns the total slept, *t advanced. */
static uint64_t drain(struct dl_vcpu *v, struct dl_action *a, uint64_t *t)
{
	uint64_t total = 0;

	while (a->sleep_ns && !a->slice_ns) {
		total += a->sleep_ns;
		*t += a->sleep_ns;
		dl_vcpu_account(v, 0, 0, *t, a);
	}
	return total + a->sleep_ns;
}

static void test_defaults(void **state)
{
	struct dl_params p;

	(void)state;
	dl_params_default(&p);
	assert_true(p.min_slice_ns > 0 && p.min_slice_ns < p.tick_ns);
	assert_true(p.max_sleep_ns > 0);
	assert_true(p.pace_ns >= p.min_slice_ns);
	assert_true(p.burst_ns > 0);
}

static void test_params_sanitised(void **state)
{
	struct dl_params p = {.tick_ns = 1 * MS, .min_slice_ns = 5 * MS};
	struct dl_vcpu v;
	struct dl_action a;

	(void)state;
	dl_vcpu_init(&v, &p);
	assert_int_equal(v.p.min_slice_ns, 1 * MS);
	dl_vcpu_set_limit(&v, 1000);
	dl_vcpu_account(&v, 0, 0, 0, &a);
	dl_vcpu_account(&v, 1000, 1 * MS, 1 * MS, &a);
	/* max_sleep 0 means no splitting: one sleep of the whole deficit. */
	assert_true(a.sleep_ns > 900 * MS);
	assert_true(a.slice_ns > 0);
}

static void test_unlimited(void **state)
{
	struct dl_params p;
	struct dl_vcpu v;
	struct dl_action a;
	struct dl_stats st;
	uint64_t t = 0;
	int i;

	(void)state;
	params(&p);
	dl_vcpu_init(&v, &p);
	for (i = 0; i < 1000; i++) {
		t += 2 * MS;
		dl_vcpu_account(&v, 600, 2 * MS, t, &a);
		assert_int_equal(a.sleep_ns, 0);
		assert_int_equal(a.slice_ns, 2 * MS);
	}
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.limit_pps, 0);
	assert_int_equal(st.pages, 600000);
	assert_int_equal(st.run_ns, 2 * S);
	assert_int_equal(st.sleeps, 0);
	assert_int_equal(st.rate_est_pps, 300000);
}

static void test_exact_deficit(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;

	(void)state;
	limited(&v, 1000, 5 * S);
	/* 10 pages in 1 ms of running: 1 page earned meanwhile, 9 owed. */
	dl_vcpu_account(&v, 10, 1 * MS, 5 * S + 1 * MS, &a);
	assert_int_equal(a.sleep_ns, 9 * MS);
	assert_true(a.slice_ns >= 50 * US);
	/* Slept exactly that, ran 1 ms dirtying 1 page: even, no sleep. */
	dl_vcpu_account(&v, 1, 1 * MS, 5 * S + 11 * MS, &a);
	assert_int_equal(a.sleep_ns, 0);
}

static void test_sleep_rounds_up(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;

	(void)state;
	limited(&v, 3, 0);
	/* 1 page at 3 pages/s: 333333333.3 ns, rounded up. */
	dl_vcpu_account(&v, 1, 0, 0, &a);
	assert_int_equal(a.sleep_ns, 10 * MS); /* first piece */
	assert_int_equal(a.slice_ns, 0);
	{
		uint64_t t = 0, total = drain(&v, &a, &t);

		assert_int_equal(total, 333333334);
	}
}

static void test_sleep_pieces(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;
	struct dl_stats st;
	uint64_t t = 0, total;

	(void)state;
	limited(&v, 1000, 0);
	dl_vcpu_account(&v, 35, 0, 0, &a);
	assert_int_equal(a.sleep_ns, 10 * MS);
	assert_int_equal(a.slice_ns, 0);
	total = drain(&v, &a, &t);
	assert_int_equal(total, 35 * MS);
	assert_true(a.slice_ns > 0);
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.sleeps, 1);
	assert_int_equal(st.sleep_ns, 35 * MS);
	assert_int_equal(st.penalty_ns, 35 * MS);
	assert_int_equal(st.max_penalty_ns, 35 * MS);

	/* Sleep the last piece, idle 1 ms more (1 page of credit), then 20
	 * pages: 19 ms owed.  Woken 3 ms into the first piece (a pause
	 * request): the rest is recomputed from the clock. */
	t += a.sleep_ns + 1 * MS;
	dl_vcpu_account(&v, 20, 0, t, &a);
	assert_int_equal(a.sleep_ns, 10 * MS);
	t += 3 * MS;
	dl_vcpu_account(&v, 0, 0, t, &a);
	assert_int_equal(a.sleep_ns, 10 * MS);
	assert_int_equal(a.slice_ns, 0);
	t += 10 * MS;
	dl_vcpu_account(&v, 0, 0, t, &a);
	assert_int_equal(a.sleep_ns, 6 * MS);
	assert_true(a.slice_ns > 0);
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.sleeps, 2);
	assert_int_equal(st.penalty_ns, 26 * MS);
	assert_int_equal(st.max_penalty_ns, 35 * MS);
}

static void test_cancel_mid_penalty(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;
	uint64_t t = 0;

	(void)state;
	limited(&v, 256, 0);
	/* Make the slice small first: a fast writer. */
	t += 50 * US;
	dl_vcpu_account(&v, 15, 50 * US, t, &a);
	assert_int_equal(a.sleep_ns, 10 * MS); /* first piece of ~58 ms */
	assert_int_equal(a.slice_ns, 0);
	dl_vcpu_set_limit(&v, 0);
	assert_int_equal(dl_vcpu_get_limit(&v), 0);
	t += 10 * MS;
	dl_vcpu_account(&v, 0, 0, t, &a);
	assert_int_equal(a.sleep_ns, 0);
	assert_int_equal(a.slice_ns, 2 * MS); /* the full tick at once */
}

static void test_reader_never_slept(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;
	struct dl_stats st;
	uint64_t t = 0;
	int i;

	(void)state;
	limited(&v, 256, 0); /* 1 MiB/s */
	a.slice_ns = 2 * MS;
	for (i = 0; i < 5000; i++) {
		/* One stack page every 100 exits (~3 pages/s). */
		uint64_t pages = i % 100 == 50;

		t += a.slice_ns + 30 * US;
		dl_vcpu_account(&v, pages, a.slice_ns, t, &a);
		assert_int_equal(a.sleep_ns, 0);
		if (!pages && i % 100 > 60)
			assert_int_equal(a.slice_ns, 2 * MS);
	}
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.sleeps, 0);
}

/* A writer at 300k pages/s, n exits; returns the slice it is then given
 * (after its penalty). */
static uint64_t write_fast(struct dl_vcpu *v, struct dl_action *a, uint64_t *t, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		drain(v, a, t);
		*t += a->sleep_ns + a->slice_ns;
		dl_vcpu_account(v, a->slice_ns * 300000 / S, a->slice_ns, *t, a);
	}
	drain(v, a, t);
	return a->slice_ns;
}

static void test_collapse_recovers(void **state)
{
	static const uint64_t limits[] = {256, 6400, 102400};
	unsigned int k;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct dl_vcpu v;
		struct dl_action a = {0, 50 * US};
		uint64_t t = 0, run = 0;
		int exits = 0;

		limited(&v, limits[k], 0);
		assert_true(write_fast(&v, &a, &t, 50) < 2 * MS);
		drain(&v, &a, &t);
		/* It stops dirtying: never slept again, the slice doubles. */
		while (a.slice_ns < 2 * MS) {
			uint64_t s = a.slice_ns;

			t += a.sleep_ns + s;
			run += s;
			dl_vcpu_account(&v, 0, s, t, &a);
			assert_int_equal(a.sleep_ns, 0);
			assert_true(a.slice_ns >= s);
			exits++;
		}
		/* Back to the full tick within a few ms of running. */
		assert_true(exits <= 12);
		assert_true(run < 5 * MS);
	}
}

static void test_long_sleep_keeps_slice(void **state)
{
	struct dl_vcpu v;
	struct dl_action a = {0, 50 * US};
	struct dl_stats st;
	uint64_t t = 0;

	(void)state;
	limited(&v, 256, 0);
	/* After 20 penalties of ~58 ms (paid in 10 ms pieces), the slice is
	 * still the minimum: sleeping is not running at a low speed. */
	assert_int_equal(write_fast(&v, &a, &t, 20), 50 * US);
	dl_vcpu_stats(&v, &st);
	assert_true(st.max_penalty_ns > 50 * MS);
	assert_true(st.rate_est_pps >= 290000);
}

static void test_slice_sizing(void **state)
{
	struct dl_vcpu v;
	struct dl_action a = {0, 50 * US};
	uint64_t t = 0, s;

	(void)state;
	/* 400 MiB/s at 300k pages/s: pace * limit / speed = 682.666 us. */
	limited(&v, 102400, 0);
	s = write_fast(&v, &a, &t, 30);
	assert_true(s >= 682666 && s <= 682666 * 101 / 100);
	/* 25 MiB/s: 42.7 us, raised to the minimum slice. */
	limited(&v, 6400, 0);
	assert_int_equal(write_fast(&v, &a, &t, 30), 50 * US);
	/* At or above the speed: the full tick. */
	limited(&v, 400000, 0);
	assert_int_equal(write_fast(&v, &a, &t, 30), 2 * MS);
}

static void test_rate_estimate(void **state)
{
	struct dl_params p;
	struct dl_vcpu v;
	struct dl_action a;
	struct dl_stats st;

	(void)state;
	params(&p);
	dl_vcpu_init(&v, &p);
	/* Before any sample: faster than any host we measured. */
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.rate_est_pps, 500000);
	/* 60k pages/s: half-way down, then half-way again. */
	dl_vcpu_account(&v, 60, 1 * MS, 1 * MS, &a);
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.rate_est_pps, 280000);
	dl_vcpu_account(&v, 60, 1 * MS, 1 * MS, &a);
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.rate_est_pps, 170000);
	/* Faster: taken at once. */
	dl_vcpu_account(&v, 300, 1 * MS, 2 * MS, &a);
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.rate_est_pps, 300000);
	/* Slower: half-way. */
	dl_vcpu_account(&v, 100, 1 * MS, 3 * MS, &a);
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.rate_est_pps, 200000);
	/* Runs under 20 us are pooled: 5 us with 5 pages (1M pages/s) is no
	 * sample; with the next 15 us and 1 page it is 300k pages/s. */
	dl_vcpu_account(&v, 5, 5 * US, 4 * MS, &a);
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.rate_est_pps, 200000);
	dl_vcpu_account(&v, 1, 15 * US, 5 * MS, &a);
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.rate_est_pps, 300000);
	/* A sleep (ran 0) is no sample. */
	dl_vcpu_account(&v, 0, 0, 5 * S, &a);
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.rate_est_pps, 300000);
}

static void test_limit_down_keeps_sleep(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;

	(void)state;
	limited(&v, 1000, 0);
	dl_vcpu_account(&v, 9, 0, 0, &a);
	assert_int_equal(a.sleep_ns, 9 * MS);
	/* Lowered 4x: the remaining sleep stays 9 ms, not 36 ms. */
	dl_vcpu_set_limit(&v, 250);
	dl_vcpu_account(&v, 0, 0, 0, &a);
	assert_int_equal(a.sleep_ns, 9 * MS);
	assert_true(a.slice_ns > 0);
}

static void test_limit_up_keeps_pages(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;

	(void)state;
	limited(&v, 1000, 0);
	dl_vcpu_account(&v, 9, 0, 0, &a);
	assert_int_equal(a.sleep_ns, 9 * MS);
	/* Raised 3x: 9 pages owed at 3000 pages/s. */
	dl_vcpu_set_limit(&v, 3000);
	dl_vcpu_account(&v, 0, 0, 0, &a);
	assert_int_equal(a.sleep_ns, 3 * MS);
}

static void test_pages_before_the_limit_are_free(void **state)
{
	struct dl_params p;
	struct dl_vcpu v;
	struct dl_action a;

	(void)state;
	params(&p);
	dl_vcpu_init(&v, &p);
	dl_vcpu_account(&v, 600, 2 * MS, 2 * MS, &a);
	/* Set while the vCPU ran its unlimited tick: those pages were
	 * dirtied before the harvest that sees the limit. */
	dl_vcpu_set_limit(&v, 6400);
	dl_vcpu_account(&v, 600, 2 * MS, 4 * MS, &a);
	assert_int_equal(a.sleep_ns, 0);
	assert_int_equal(a.slice_ns, 50 * US); /* 42.7 us at 300k/s, raised */
	/* From here on every page counts. */
	dl_vcpu_account(&v, 15, 50 * US, 4 * MS + 50 * US, &a);
	assert_true(a.sleep_ns > 2 * MS);
}

static void test_no_banking_when_idle(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;
	uint64_t t;

	(void)state;
	/* Halted 10 s, no exit at all, then 100 pages in 1 ms: only the
	 * burst (2 pages) and the 1 page earned while running are credit. */
	limited(&v, 1000, 0);
	t = 10 * S + 1 * MS;
	dl_vcpu_account(&v, 100, 1 * MS, t, &a);
	assert_int_equal(drain(&v, &a, &t), 97 * MS);

	/* The same, idle with exits (a reader) for 10 s. */
	limited(&v, 1000, 0);
	for (t = 2 * MS; t <= 10 * S; t += 2 * MS)
		dl_vcpu_account(&v, 0, 2 * MS, t, &a);
	t = 10 * S + 1 * MS;
	dl_vcpu_account(&v, 100, 1 * MS, t, &a);
	assert_int_equal(drain(&v, &a, &t), 97 * MS);
}

static void test_set_while_idle_starts_empty(void **state)
{
	struct dl_params p;
	struct dl_vcpu v;
	struct dl_action a;
	uint64_t t = 0;

	(void)state;
	params(&p);
	dl_vcpu_init(&v, &p);
	/* Unlimited and idle for 10 s. */
	for (t = 2 * MS; t <= 10 * S; t += 2 * MS)
		dl_vcpu_account(&v, 0, 2 * MS, t, &a);
	dl_vcpu_set_limit(&v, 1000);
	dl_vcpu_account(&v, 0, 0, t, &a); /* applied: empty bucket */
	assert_int_equal(a.slice_ns, 2 * MS);
	t += 2 * MS;
	dl_vcpu_account(&v, 12, 2 * MS, t, &a);
	assert_int_equal(drain(&v, &a, &t), 10 * MS); /* 12 - 2 earned */
}

static void test_burst_floor(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;

	(void)state;
	/* At 1 page/s a 2 ms burst is 0.002 pages: the floor of 2 pages
	 * lets a lone stack page through after idle. */
	limited(&v, 1, 0);
	dl_vcpu_account(&v, 1, 1 * MS, 10 * S, &a);
	assert_int_equal(a.sleep_ns, 0);
	dl_vcpu_account(&v, 1, 1 * MS, 10 * S + 2 * MS, &a);
	assert_int_equal(a.sleep_ns, 0);
	dl_vcpu_account(&v, 1, 1 * MS, 10 * S + 4 * MS, &a);
	assert_true(a.sleep_ns > 0);
}

static void test_overflow(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;

	(void)state;
	limited(&v, UINT64_MAX, 0);
	assert_int_equal(dl_vcpu_get_limit(&v), 1ull << 32);
	dl_vcpu_account(&v, UINT64_MAX, UINT64_MAX, UINT64_MAX, &a);
	assert_true(a.sleep_ns <= 10 * MS);
	/* Time going backwards: no credit, no crash. */
	dl_vcpu_account(&v, 0, 0, 5, &a);
	assert_true(a.sleep_ns <= 10 * MS);

	limited(&v, 1, 0);
	dl_vcpu_account(&v, UINT64_MAX, 1, 1, &a);
	assert_int_equal(a.sleep_ns, 10 * MS);
	assert_int_equal(a.slice_ns, 0);
	dl_vcpu_account(&v, UINT64_MAX, 1, 2, &a);
	assert_int_equal(a.sleep_ns, 10 * MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_params_sanitised),
	    cmocka_unit_test(test_unlimited),
	    cmocka_unit_test(test_exact_deficit),
	    cmocka_unit_test(test_sleep_rounds_up),
	    cmocka_unit_test(test_sleep_pieces),
	    cmocka_unit_test(test_cancel_mid_penalty),
	    cmocka_unit_test(test_reader_never_slept),
	    cmocka_unit_test(test_collapse_recovers),
	    cmocka_unit_test(test_long_sleep_keeps_slice),
	    cmocka_unit_test(test_slice_sizing),
	    cmocka_unit_test(test_rate_estimate),
	    cmocka_unit_test(test_limit_down_keeps_sleep),
	    cmocka_unit_test(test_limit_up_keeps_pages),
	    cmocka_unit_test(test_pages_before_the_limit_are_free),
	    cmocka_unit_test(test_no_banking_when_idle),
	    cmocka_unit_test(test_set_while_idle_starts_empty),
	    cmocka_unit_test(test_burst_floor),
	    cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * Unit tests of src/dirtylimit/dl_law.[ch], driven by hand: exact sleeps,
 * sleep pieces, cancel, readers, rate collapse, limit changes, no banking,
 * overflow.  The closed-loop behaviour is in test_dl_sim.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dirtylimit/dl_law.h"

#define US 1000ull
#define MS 1000000ull
#define S  1000000000ull

#define TICK	   (10 * MS) /* vm.c's tick for the default 65536-entry ring */
#define READ_SLICE (2 * MS)
#define HALFLIFE   (20 * MS)

static void params(struct dl_params *p)
{
	dl_params_default(p);
	p->tick_ns = TICK;
	p->min_slice_ns = 50 * US;
	p->max_sleep_ns = 10 * MS;
	p->pace_ns = 2 * MS;
	p->burst_ns = 2 * MS;
	p->read_slice_ns = READ_SLICE;
	p->rate_halflife_ns = HALFLIFE;
	p->rate_down_shift = 0;
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
	assert_true(p.read_slice_ns >= p.pace_ns && p.read_slice_ns <= p.tick_ns);
	assert_int_equal(p.rate_halflife_ns, HALFLIFE);
	assert_int_equal(p.rate_down_shift, 0);
}

static void test_params_sanitised(void **state)
{
	struct dl_params p = {.tick_ns = 1 * MS, .min_slice_ns = 5 * MS};
	struct dl_vcpu v;
	struct dl_action a;

	(void)state;
	dl_vcpu_init(&v, &p);
	assert_int_equal(v.p.min_slice_ns, 1 * MS);
	assert_int_equal(v.p.read_slice_ns, 1 * MS); /* 0: the tick */
	assert_int_equal(v.p.rate_halflife_ns, HALFLIFE);
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
	for (i = 0; i < 200; i++) {
		t += TICK;
		dl_vcpu_account(&v, 3000, TICK, t, &a);
		assert_int_equal(a.sleep_ns, 0);
		assert_int_equal(a.slice_ns, TICK);
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
	assert_int_equal(a.slice_ns, TICK); /* the full tick at once */
}

/*
 * A reader under 1 MiB/s is never slept.  From the prior (faster than any
 * host) its slice grows from the minimum to the read slice, doubling every
 * half-life of run time (log2(2 ms / 50 us) = 5.3 half-lives, ~560 exits);
 * then a stack page (3 pages/s of run time) shortens the next slices for
 * about one half-life.
 */
static void test_reader_never_slept(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;
	struct dl_stats st;
	uint64_t t = 0, run = 0, page_at = 0, next_page = 333 * MS, full_at = 0;
	unsigned int exits = 0, ramp_exits = 0, pages_seen = 0;

	(void)state;
	limited(&v, 256, 0);
	dl_vcpu_account(&v, 0, 0, 0, &a);
	assert_int_equal(a.slice_ns, 50 * US);
	while (run < 5 * S) {
		uint64_t s = a.slice_ns, pages = 0;

		if (run + s >= next_page) {
			pages = 1;
			next_page += 333 * MS;
		}
		run += s;
		t += s + 30 * US;
		dl_vcpu_account(&v, pages, s, t, &a);
		exits++;
		assert_int_equal(a.sleep_ns, 0);
		assert_true(a.slice_ns <= READ_SLICE);
		if (!full_at) {
			assert_true(a.slice_ns >= s);
			if (a.slice_ns == READ_SLICE) {
				full_at = run;
				ramp_exits = exits;
			}
			continue;
		}
		if (pages) {
			/* 1 page in 2 ms: 500 pages/s, about twice the limit. */
			assert_true(a.slice_ns >= READ_SLICE / 2 - 50 * US);
			page_at = run;
			pages_seen++;
		}
		/* Back to the read slice within a half-life of running. */
		if (a.slice_ns < READ_SLICE)
			assert_true(run - page_at <= HALFLIFE + READ_SLICE);
	}
	print_message("reader at 1 MiB/s: read slice after %.1f ms of running, %u exits; "
		      "%u exits in 5 s of running\n",
		      (double)full_at / MS, ramp_exits, exits);
	assert_true(full_at > 100 * MS && full_at <= 110 * MS);
	assert_true(ramp_exits <= 600);
	assert_int_equal(pages_seen, 15);
	/* Read slices otherwise: a 2 ms slice is 2500 exits in 5 s. */
	assert_true(exits <= 2500 + ramp_exits + 15 * 20);
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
		uint64_t t = 0, run = 0, first;
		int exits = 0;

		limited(&v, limits[k], 0);
		first = write_fast(&v, &a, &t, 50);
		assert_true(first < READ_SLICE);
		/* It stops dirtying: never slept again, the slice grows. */
		while (a.slice_ns < READ_SLICE) {
			uint64_t s = a.slice_ns;

			t += a.sleep_ns + s + 30 * US; /* the last penalty first */
			run += s;
			dl_vcpu_account(&v, 0, s, t, &a);
			assert_int_equal(a.sleep_ns, 0);
			assert_true(a.slice_ns >= s);
			exits++;
		}
		print_message("%6llu pages/s: slice %4.0f us -> %.0f us after %5.1f ms of running, "
			      "%d exits\n",
			      (unsigned long long)limits[k], (double)first / US,
			      (double)a.slice_ns / US, (double)run / MS, exits);
		/* Doubling every half-life from where it was: 2 ms is 5.3
		 * half-lives above 50 us, 1.55 above 683 us. */
		assert_int_equal(a.slice_ns, READ_SLICE);
		assert_true(run <= (k < 2 ? 107 * MS : 32 * MS) + READ_SLICE);
		assert_true(exits <= (k < 2 ? 600 : 60));
	}
}

/*
 * The price of never slowing readers: a reader that starts writing dirties
 * one read slice at full speed before its first penalty (600 pages at 300k
 * pages/s: 94 ms at 25 MiB/s), not one tick (3000 pages: 469 ms); then the
 * sample replaces the estimate and its slices are short at once.
 */
static void test_reader_turns_writer(void **state)
{
	struct dl_vcpu v;
	struct dl_action a = {0, 50 * US};
	struct dl_stats st;
	uint64_t t = 0, pages;

	(void)state;
	limited(&v, 6400, 0);
	write_fast(&v, &a, &t, 20);
	t += a.sleep_ns;
	while (a.slice_ns < READ_SLICE) {
		t += a.slice_ns + 30 * US;
		dl_vcpu_account(&v, 0, a.slice_ns, t, &a);
	}
	/* Idle long enough to fill the bucket to its cap (12.8 pages). */
	t += 1 * S;
	dl_vcpu_account(&v, 0, 0, t, &a);
	assert_int_equal(a.slice_ns, READ_SLICE);
	pages = READ_SLICE * 300000 / S;
	t += READ_SLICE;
	dl_vcpu_account(&v, pages, READ_SLICE, t, &a);
	drain(&v, &a, &t);
	assert_int_equal(a.slice_ns, 50 * US);
	dl_vcpu_stats(&v, &st);
	print_message("reader turning writer at 25 MiB/s: %llu pages, penalty %.1f ms\n",
		      (unsigned long long)pages, (double)st.penalty_ns / MS);
	/* 600 pages less the burst and what the slice earned, at 6400/s. */
	assert_int_equal(st.penalty_ns, (600 - 12.8 - 12.8) / 6400 * S);
}

/*
 * The real guest's failure: a writer at 25 MiB/s prints its once-a-second
 * console line, 250 runs of 20 us that dirty nothing, each accounted (the
 * first vcpu.c accounted after port I/O exits too).  The first design,
 * half-way down per sample, then handed out a whole tick at full speed: a
 * 470 ms penalty.  The half-life moves the slice by 2^(5 ms / 20 ms).
 */
static void test_console_phase(void **state)
{
	int old;

	(void)state;
	for (old = 0; old < 2; old++) {
		struct dl_params p;
		struct dl_vcpu v;
		struct dl_action a = {0, 50 * US};
		struct dl_stats st;
		uint64_t t = 0, before, after;
		int i;

		params(&p);
		if (old) {
			p.rate_down_shift = 1;
			p.read_slice_ns = p.tick_ns;
		}
		dl_vcpu_init(&v, &p);
		dl_vcpu_set_limit(&v, 6400);
		dl_vcpu_account(&v, 0, 0, 0, &a);
		before = write_fast(&v, &a, &t, 50);
		for (i = 0; i < 250; i++) {
			t += a.sleep_ns + 20 * US + 10 * US;
			dl_vcpu_account(&v, 0, 20 * US, t, &a);
			assert_int_equal(a.sleep_ns, 0);
		}
		after = a.slice_ns;
		/* Back to writing: the slice it was given is paid for. */
		write_fast(&v, &a, &t, 1);
		dl_vcpu_stats(&v, &st);
		print_message("%s: slice %.0f us before the console line, %.0f us after, "
			      "longest penalty %.1f ms\n",
			      old ? "per sample (first design)" : "half-life", (double)before / US,
			      (double)after / US, (double)st.max_penalty_ns / MS);
		if (old) {
			assert_int_equal(after, TICK);
			assert_true(st.max_penalty_ns > 400 * MS);
		} else {
			assert_int_equal(before, 50 * US);
			assert_true(after <= before * 6 / 5);
			assert_true(st.max_penalty_ns < 5 * MS);
		}
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
	/* At or above the speed: the read slice, not the tick. */
	limited(&v, 400000, 0);
	assert_int_equal(write_fast(&v, &a, &t, 30), READ_SLICE);
}

/* The estimate is an integer, truncated at every sample: allow that. */
static void assert_rate_near(const struct dl_vcpu *v, uint64_t want, uint64_t tol)
{
	struct dl_stats st;

	dl_vcpu_stats(v, &st);
	if (st.rate_est_pps + tol < want || st.rate_est_pps > want + tol)
		fail_msg("rate estimate %llu, want %llu", (unsigned long long)st.rate_est_pps,
			 (unsigned long long)want);
}

static void assert_rate(const struct dl_vcpu *v, uint64_t want)
{
	assert_rate_near(v, want, 1);
}

static void test_rate_estimate(void **state)
{
	struct dl_params p;
	struct dl_vcpu v;
	struct dl_action a;

	(void)state;
	params(&p);
	dl_vcpu_init(&v, &p);
	/* Before any sample: faster than any host we measured. */
	assert_rate(&v, 500000);
	/* 60k pages/s for 1 ms: decays by 2^(-1/20), not to the sample. */
	dl_vcpu_account(&v, 60, 1 * MS, 1 * MS, &a);
	assert_rate(&v, 482968); /* 500000 * 0.965936 */
	/* 20 ms of reading in one sample or in 1000 short ones: halved. */
	dl_vcpu_account(&v, 0, 20 * MS, 21 * MS, &a);
	assert_rate(&v, 241484);
	{
		int i;

		for (i = 0; i < 1000; i++)
			dl_vcpu_account(&v, 0, 20 * US, 22 * MS + (uint64_t)i * 30 * US, &a);
		assert_rate_near(&v, 120742, 1000); /* <= 1 lost per sample */
	}
	/* Faster: taken at once. */
	dl_vcpu_account(&v, 300, 1 * MS, 60 * MS, &a);
	assert_rate(&v, 300000);
	/* Never below the sample: 40 ms at 200k pages/s would decay to 75k. */
	dl_vcpu_account(&v, 8000, 40 * MS, 100 * MS, &a);
	assert_rate(&v, 200000);
	/* Runs under 20 us are pooled: 5 us with 5 pages (1M pages/s) is no
	 * sample; with the next 15 us and 1 page it is 300k pages/s. */
	dl_vcpu_account(&v, 5, 5 * US, 101 * MS, &a);
	assert_rate(&v, 200000);
	dl_vcpu_account(&v, 1, 15 * US, 102 * MS, &a);
	assert_rate(&v, 300000);
	/* A sleep (ran 0) is no sample. */
	dl_vcpu_account(&v, 0, 0, 5 * S, &a);
	assert_rate(&v, 300000);

	/* While limited, the decay starts from the speed whose slice is the
	 * minimum: pace * limit / min_slice = 10240 pages/s at 1 MiB/s. */
	dl_vcpu_set_limit(&v, 256);
	dl_vcpu_account(&v, 0, 0, 5 * S, &a);
	assert_int_equal(a.slice_ns, 50 * US);
	dl_vcpu_account(&v, 0, 20 * MS, 5 * S + 20 * MS, &a);
	assert_rate(&v, 5120);
	assert_int_equal(a.slice_ns, 100 * US);
	/* ... but a sample above that still counts as it is. */
	dl_vcpu_account(&v, 15, 50 * US, 5 * S + 40 * MS, &a);
	assert_rate(&v, 300000);
	dl_vcpu_account(&v, 14, 50 * US, 5 * S + 80 * MS, &a);
	assert_rate(&v, 280000);

	/* The first design, kept for the simulator: half-way per sample. */
	p.rate_down_shift = 1;
	dl_vcpu_init(&v, &p);
	dl_vcpu_account(&v, 60, 1 * MS, 1 * MS, &a);
	assert_rate(&v, 280000);
	dl_vcpu_account(&v, 0, 20 * US, 2 * MS, &a);
	assert_rate(&v, 140000);
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
	/* ...and the new limit is applied: after that sleep, one more page
	 * costs 4 ms at 250 pages/s (1 ms had the old limit stayed). */
	dl_vcpu_account(&v, 1, 0, 9 * MS, &a);
	assert_int_equal(a.sleep_ns, 4 * MS);
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
	assert_int_equal(a.slice_ns, READ_SLICE);
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

/* Another law and back: each starts afresh, the pages of the switch go to
 * the old law, nothing is banked or owed across. */
static void test_law_switch(void **state)
{
	struct dl_vcpu v;
	struct dl_action a;
	struct dl_stats st;
	uint64_t t = 0;

	(void)state;
	limited(&v, 256, t);
	dl_vcpu_stats(&v, &st);
	assert_string_equal(st.law, "bucket");
	/* A deficit of 512 pages at 256 pages/s: 2 s owed. */
	dl_vcpu_account(&v, 512, 1 * MS, t += 1 * MS, &a);
	assert_int_equal(a.sleep_ns, 10 * MS);
	assert_int_equal(a.slice_ns, 0);
	dl_vcpu_set_law(&v, &dl_law_qemu);
	dl_vcpu_stats(&v, &st);
	assert_string_equal(st.law, "qemu");
	dl_vcpu_account(&v, 100, 0, t += 10 * MS, &a);
	assert_int_equal(a.sleep_ns, 0); /* the bucket's debt is gone */
	assert_int_equal(a.slice_ns, TICK);
	assert_int_equal(v.st_pages, 612);
	/* Back: a fresh limit, an empty bucket, the prior speed estimate. */
	dl_vcpu_set_law(&v, &dl_law_bucket);
	dl_vcpu_account(&v, 0, 0, t += 1 * S, &a);
	assert_int_equal(a.sleep_ns, 0);
	assert_int_equal(v.limit, 256);
	assert_int_equal(v.vs.b.tokens, 0);
	assert_int_equal(v.vs.b.burst, 2 * S); /* 2 pages: the limit applied afresh */
	assert_int_equal(a.slice_ns, 50 * US); /* the prior speed: the minimum slice */
	/* Nothing banked from the second under qemu: one page in 1 ms owes
	 * 1 - 0.256 pages, 2.906 ms (with 2 pages banked it would be free). */
	dl_vcpu_account(&v, 1, 1 * MS, t += 1 * MS, &a);
	assert_int_equal(a.sleep_ns, 2906250);
}

/* The law table and --dirty-limit-law specs, back and forth. */
static void test_law_specs(void **state)
{
	static const char *const specs[] = {"bucket",
					    "qemu",
					    "qemu:sync=wait",
					    "linear",
					    "linear:ki=1.000",
					    "linear:ki=0.250,sync=wait",
					    "pct"};
	struct dl_law_cfg cfg;
	char err[128], buf[64];

	(void)state;
	assert_int_equal(dl_nlaws, 4);
	assert_ptr_equal(dl_laws[0], &dl_law_bucket); /* the default */
	for (size_t i = 0; i < dl_nlaws; i++) {
		assert_ptr_equal(dl_law_find(dl_laws[i]->name), dl_laws[i]);
		assert_int_equal(dl_law_index(dl_laws[i]), i);
		/* Tuned laws have a period, the bucket none. */
		assert_true(!dl_laws[i]->tune == !dl_laws[i]->period_ns);
	}
	assert_null(dl_law_find("Bucket"));
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		assert_int_equal(dl_law_parse(specs[i], &cfg, err, sizeof(err)), 0);
		assert_string_equal(dl_law_format(&cfg, buf, sizeof(buf)), specs[i]);
	}
	assert_int_equal(dl_law_parse("qemu", &cfg, err, sizeof(err)), 0);
	assert_true(dl_law_period(&cfg, 0) == 1 * S);
	assert_true(dl_law_period(&cfg, 200 * MS) == 200 * MS);
	assert_int_equal(dl_law_parse("pct", &cfg, err, sizeof(err)), 0);
	assert_true(dl_law_period(&cfg, 0) == 15 * S);
	assert_int_equal(dl_law_parse("nope", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown law 'nope'"));
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
	    cmocka_unit_test(test_reader_turns_writer),
	    cmocka_unit_test(test_console_phase),
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
	    cmocka_unit_test(test_law_switch),
	    cmocka_unit_test(test_law_specs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

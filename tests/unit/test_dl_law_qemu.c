// SPDX-License-Identifier: MIT
/*
 * Unit tests of the qemu law (src/dirtylimit/dl_law_qemu.c) and of the
 * ring-full actuator it shares with the linear law (dl_law_ring.c), driven
 * by hand: every number below is what QEMU's system/dirtylimit.c computes
 * for the same inputs (integer MB/s, integer microseconds).
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

#define SOFT_4096 (4096 - DL_RING_RSVD_ENTRIES)

static struct dl_vcpu v;
static struct dl_law_cfg cfg;
static struct dl_tune_ctx ctx;
static uint64_t now;

static void setup(uint32_t ring, bool sync_wait)
{
	struct dl_params p;
	struct dl_action a;

	dl_params_default(&p);
	p.tick_ns = 1 * MS;
	p.ring_entries = ring;
	p.max_sleep_ns = 10 * MS;
	dl_vcpu_init(&v, &p);
	dl_vcpu_set_law(&v, &dl_law_qemu);
	cfg = (struct dl_law_cfg){.law = &dl_law_qemu, .sync_wait = sync_wait};
	ctx = (struct dl_tune_ctx){.cfg = &cfg, .period_ns = 1 * S};
	now = 0;
	dl_vcpu_account(&v, 0, 0, now, &a); /* applies the law */
	assert_string_equal(v.law->name, "qemu");
}

/* One period's sample: rate MiB/s over 1 s, under limit MiB/s. */
static int64_t tune(uint64_t limit_mib, uint64_t rate_mib)
{
	struct dl_tune_in in = {.limit_pps = limit_mib * 256,
				.pages = rate_mib * 256,
				.window_ns = 1 * S,
				.now_ns = now += 1 * S};

	dl_law_qemu.tune(&v, &ctx, &in);
	assert_int_equal(v.cs.rate_mib, rate_mib);
	return v.cs.throttle_us;
}

/*
 * The tuning cases: from a fresh vCPU on a ring of `ring` entries, one
 * period's sample at a time (limit, rate, both MiB/s over 1 s), the
 * throttle QEMU computes after it and the highest rate it has seen.
 */
struct tune_step {
	uint64_t limit_mib, rate_mib;
	int64_t throttle_us;
	uint64_t max_rate_mib;
};
#define TUNE_STEPS_MAX 6
static const struct tune_case {
	const char *name;
	uint32_t ring;
	struct tune_step steps[TUNE_STEPS_MAX]; /* up to the first all-zero one */
} tune_cases[] = {
    {"dead band",
     4096,
     {
	 {100, 125, 0, 0},
	 /* Not even the ring-full time is computed: no maximum yet. */
	 {100, 75, 0, 0},
	 /* 26 over: the fixed step, a tenth of 16 MiB * 1e6 / 126 = 126984 us. */
	 {100, 126, 12698, 126},
     }},
    {"proportional and fixed steps",
     4096,
     {
	 /* 1000 for 100: 90% off, ring-full time 16000 us, += 16000 * 90 / 10. */
	 {100, 1000, 144000, 1000},
	 /* 50 below: exactly 50% of the larger, not more: the fixed step down. */
	 {100, 50, 144000 - 1600, 1000},
	 /* 80% below: -= 16000 * 80 / 20 (the maximum stays 1000). */
	 {100, 20, 142400 - 64000, 1000},
	 /* 60 over 400: 15%, the fixed step up. */
	 {400, 460, 78400 + 1600, 1000},
     }},
    {"cap and floor",
     4096,
     {
	 /* 99% off: += 16000 * 99 / 1, exactly the cap of 99 ring-full times. */
	 {1, 1000, 1584000, 1000},
	 {1, 1000, 1584000, 1000},
	 /* 99% below: -= 1584000: the floor. */
	 {1000, 10, 0, 1000},
	 {1000, 10, 0, 1000},
     }},
    {"zero rate",
     4096,
     {
	 {100, 1000, 144000, 1000},
	 /* A rate of 0 within 25 of the quota: the dead band, unchanged. */
	 {20, 0, 144000, 1000},
	 /* Outside it: QEMU sets the throttle to 0 at once. */
	 {100, 0, 0, 1000},
     }},
    {"ring size and max rate",
     65536,
     {
	 /* 256 MiB: ring-full time 256e6 / 1000 = 256000 us, 90% off. */
	 {100, 1000, 2304000, 1000},
	 /* The highest rate ever seen scales every later step: the maximum
	  * is 2000 now, so the ring-full time is 128000 and the step 12800. */
	 {1900, 2000, 2304000 + 12800, 2000},
	 /* The dead band. */
	 {500, 501, 2304000 + 12800, 2000},
	 /* 500 for 1000: exactly 50% off, the fixed step; the maximum is
	  * never lowered. */
	 {500, 1000, 2304000 + 2 * 12800, 2000},
     }},
    {"cancel keeps the throttle",
     4096,
     {
	 {100, 1000, 144000, 1000},
	 /* Cancelled: not tuned, the throttle stays (QEMU leaves it in
	  * CPUState); set again, tuning goes on from there. */
	 {0, 1000, 144000, 1000},
	 {100, 140, 144000 + 1600, 1000},
     }},
};
#define NTUNE_CASES (sizeof(tune_cases) / sizeof(tune_cases[0]))

static void test_tune_case(void **state)
{
	const struct tune_case *c = *state;

	setup(c->ring, false);
	for (int i = 0; i < TUNE_STEPS_MAX && (c->steps[i].limit_mib || c->steps[i].rate_mib);
	     i++) {
		const struct tune_step *st = &c->steps[i];
		int64_t got = tune(st->limit_mib, st->rate_mib);

		if (got != st->throttle_us || ctx.max_rate_mib != st->max_rate_mib)
			print_error(
			    "step %d (limit %llu, rate %llu): throttle %lld us, maximum "
			    "%llu; want %lld, %llu\n",
			    i, (unsigned long long)st->limit_mib, (unsigned long long)st->rate_mib,
			    (long long)got, (unsigned long long)ctx.max_rate_mib,
			    (long long)st->throttle_us, (unsigned long long)st->max_rate_mib);
		assert_int_equal(got, st->throttle_us);
		assert_int_equal(ctx.max_rate_mib, st->max_rate_mib);
	}
}

static void test_integer_sensor(void **state)
{
	struct dl_tune_in in = {.limit_pps = 100 * 256, .pages = 255, .window_ns = 1 * S};

	(void)state;
	setup(4096, false);
	/* 255 pages is 0 whole MiB: a rate of 0, below 100 by more than 25. */
	v.cs.throttle_us = 5000;
	dl_law_qemu.tune(&v, &ctx, &in);
	assert_int_equal(v.cs.rate_mib, 0);
	assert_int_equal(v.cs.throttle_us, 0);
	/* 150 whole MiB over 1.5 s: 100 MB/s (MiB * 1000 / ms). */
	in.pages = 150 * 256 + 255;
	in.window_ns = 1500 * MS + 999 * US;
	dl_law_qemu.tune(&v, &ctx, &in);
	assert_int_equal(v.cs.rate_mib, 100);
}

/* Feed pages to the vCPU side; returns the total it was told to sleep. */
static uint64_t feed(uint64_t pages)
{
	struct dl_action a;
	uint64_t slept = 0;

	dl_vcpu_account(&v, pages, 1 * MS, now += 1 * MS, &a);
	while (a.sleep_ns) {
		slept += a.sleep_ns;
		now += a.sleep_ns;
		if (a.slice_ns)
			break;
		dl_vcpu_account(&v, 0, 0, now, &a);
	}
	assert_int_equal(a.slice_ns, v.p.tick_ns);
	return slept;
}

static void test_sleep_per_ring(void **state)
{
	(void)state;
	setup(4096, false);
	dl_vcpu_set_limit(&v, 100 * 256);
	dl_law_publish(&v, &dl_law_qemu, 5000, UINT64_MAX); /* 5 ms per ring-full */
	assert_int_equal(feed(SOFT_4096 - 1), 0);
	/* The soft limit: size - 64 entries, one sleep. */
	assert_int_equal(feed(1), 5 * MS);
	/* A ring's worth more, in pieces: one sleep, and what was past the
	 * soft limit counts towards the next. */
	assert_int_equal(feed(3000), 0);
	assert_int_equal(feed(SOFT_4096 - 3000 + 100), 5 * MS);
	assert_int_equal(feed(SOFT_4096 - 101), 0);
	assert_int_equal(feed(1), 5 * MS);
	/* Two rings in one harvest (after a pause): two sleeps. */
	assert_int_equal(feed(2 * SOFT_4096), 10 * MS);
	/* The sleep comes in pieces of max_sleep, the last with a slice. */
	dl_law_publish(&v, &dl_law_qemu, 25000, UINT64_MAX);
	assert_int_equal(feed(SOFT_4096), 25 * MS);
	assert_int_equal(v.st_sleeps, 5);
	assert_int_equal(v.st_max_penalty_ns, 25 * MS);
}

static void test_sample_flushes_ring(void **state)
{
	(void)state;
	setup(4096, false);
	dl_vcpu_set_limit(&v, 100 * 256);
	dl_law_publish(&v, &dl_law_qemu, 5000, UINT64_MAX);
	assert_int_equal(feed(4000), 0);
	/* QEMU's sample reaps every ring: the 4000 no longer count. */
	atomic_store(&v.sync_gen, 1);
	assert_int_equal(feed(100), 0);
	assert_int_equal(feed(SOFT_4096 - 101), 0);
	assert_int_equal(feed(1), 5 * MS);
}

static void test_no_sleep_unlimited(void **state)
{
	(void)state;
	setup(4096, false);
	dl_law_publish(&v, &dl_law_qemu, 5000, UINT64_MAX);
	/* No limit: the ring fills, nobody sleeps (QEMU checks "enabled"). */
	assert_int_equal(feed(3 * SOFT_4096), 0);
	/* A value published for another law is not this law's. */
	dl_vcpu_set_limit(&v, 100 * 256);
	dl_law_publish(&v, &dl_law_linear, 5000, UINT64_MAX);
	assert_int_equal(feed(SOFT_4096), 0);
	dl_law_publish(&v, &dl_law_qemu, 5000, UINT64_MAX);
	assert_int_equal(feed(SOFT_4096), 5 * MS);
}

static void test_cancel_mid_sleep(void **state)
{
	struct dl_action a;

	(void)state;
	setup(4096, false);
	dl_vcpu_set_limit(&v, 100 * 256);
	dl_law_publish(&v, &dl_law_qemu, 25000, UINT64_MAX);
	dl_vcpu_account(&v, SOFT_4096, 1 * MS, now += 1 * MS, &a);
	assert_int_equal(a.sleep_ns, 10 * MS);
	assert_int_equal(a.slice_ns, 0);
	/* Cancelled while asleep: QEMU's usleep() runs to its end. */
	dl_vcpu_set_limit(&v, 0);
	dl_vcpu_account(&v, 0, 0, now += 10 * MS, &a);
	assert_int_equal(a.sleep_ns, 10 * MS);
	dl_vcpu_account(&v, 0, 0, now += 10 * MS, &a);
	assert_int_equal(a.sleep_ns, 5 * MS);
	assert_int_equal(a.slice_ns, 1 * MS);
	dl_vcpu_account(&v, SOFT_4096, 1 * MS, now += 6 * MS, &a);
	assert_int_equal(a.sleep_ns, 0);
	/* The end of the penalty is there for a sample that waits for it. */
	assert_true(atomic_load(&v.penalty_end_ns) == now - 1 * MS);
}

static void test_law_switch_drops_sleep(void **state)
{
	struct dl_action a;

	(void)state;
	setup(4096, false);
	dl_vcpu_set_limit(&v, 100 * 256);
	dl_law_publish(&v, &dl_law_qemu, 25000, UINT64_MAX);
	dl_vcpu_account(&v, SOFT_4096, 1 * MS, now += 1 * MS, &a);
	assert_int_equal(a.sleep_ns, 10 * MS);
	/* The same law set again restarts it: the sleep and the count go
	 * (the pages of the restart are the old run's). */
	dl_vcpu_set_law(&v, &dl_law_qemu);
	dl_vcpu_account(&v, 5, 0, now += 1 * MS, &a);
	assert_int_equal(a.sleep_ns, 0);
	assert_int_equal(feed(SOFT_4096 - 1), 0);
	assert_int_equal(feed(1), 25 * MS);
	dl_vcpu_account(&v, SOFT_4096, 1 * MS, now += 1 * MS, &a);
	assert_int_equal(a.sleep_ns, 10 * MS);
	/* To the bucket: a fresh limit, an empty bucket, no debt. */
	dl_vcpu_set_law(&v, &dl_law_bucket);
	dl_vcpu_account(&v, 0, 0, now += 1 * MS, &a);
	assert_string_equal(v.law->name, "bucket");
	assert_int_equal(a.sleep_ns, 0);
	assert_true(a.slice_ns > 0 && a.slice_ns <= 2 * MS);
}

int main(void)
{
	static const struct CMUnitTest others[] = {
	    cmocka_unit_test(test_integer_sensor),
	    cmocka_unit_test(test_sleep_per_ring),
	    cmocka_unit_test(test_sample_flushes_ring),
	    cmocka_unit_test(test_no_sleep_unlimited),
	    cmocka_unit_test(test_cancel_mid_sleep),
	    cmocka_unit_test(test_law_switch_drops_sleep),
	};
	/* One test a tuning case, named after it, then the others. */
	struct CMUnitTest tests[NTUNE_CASES + sizeof(others) / sizeof(others[0])];
	size_t n = 0;

	for (size_t i = 0; i < NTUNE_CASES; i++)
		tests[n++] = (struct CMUnitTest){.name = tune_cases[i].name,
						 .test_func = test_tune_case,
						 .initial_state = (void *)&tune_cases[i]};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		tests[n++] = others[i];
	return cmocka_run_group_tests(tests, NULL, NULL);
}

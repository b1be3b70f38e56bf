// SPDX-License-Identifier: MIT
/*
 * Unit tests of the controller's tuning schedule (src/dirtylimit/dl_tune.c)
 * with a recording law: when tune() is called, with which sample; the
 * sample that waits for sleeping vCPUs; the reap of the rings; a law
 * switch.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dirtylimit/dl_tune.h"

#define MS 1000000ull
#define S  1000000000ull

#define NV 2

struct call {
	int cpu;
	struct dl_tune_in in;
};

static struct call calls[64];
static int ncalls;
static struct dl_vcpu vc[NV];
static struct dl_vcpu *vp[NV] = {&vc[0], &vc[1]};
static uint64_t cum[NV];

static void rec_tune(struct dl_vcpu *v, struct dl_tune_ctx *ctx, const struct dl_tune_in *in)
{
	(void)ctx;
	assert_true(ncalls < 64);
	calls[ncalls++] = (struct call){.cpu = v == &vc[0] ? 0 : 1, .in = *in};
}

static void rec_start(struct dl_vcpu *v, uint64_t now_ns)
{
	(void)v;
	(void)now_ns;
}

static void rec_account(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns, uint64_t now_ns,
			uint64_t limit, struct dl_action *out)
{
	(void)v;
	(void)pages;
	(void)ran_ns;
	(void)now_ns;
	(void)limit;
	(void)out;
}

static struct dl_law rec_law = {
    .name = "rec",
    .period_ns = 1 * S,
    .start = rec_start,
    .account = rec_account,
    .tune = rec_tune,
};

static void setup(struct dl_tune *t, struct dl_law_cfg *cfg)
{
	struct dl_params p;

	dl_params_default(&p);
	for (int i = 0; i < NV; i++) {
		dl_vcpu_init(&vc[i], &p);
		cum[i] = 0;
	}
	ncalls = 0;
	assert_int_equal(dl_tune_init(t, NV, cfg, 0), 0);
}

/* Tick every 50 ms from t0 to t1 (inclusive), vCPU 0 dirtying pps. */
static void ticks(struct dl_tune *t, uint64_t t0, uint64_t t1, uint64_t pps)
{
	for (uint64_t now = t0; now <= t1; now += 50 * MS) {
		cum[0] = pps * now / S;
		dl_tune_tick(t, vp, cum, now);
	}
}

static void test_schedule(void **state)
{
	struct dl_law_cfg cfg = {.law = &rec_law};
	struct dl_tune t;

	(void)state;
	setup(&t, &cfg);
	ticks(&t, 0, 2 * S, 1000);
	assert_int_equal(ncalls, 0); /* nothing limited: no sampling */
	assert_true(dl_tune_due(&t) == UINT64_MAX);
	dl_vcpu_set_limit(&vc[0], 256);
	/* The first sample is a whole period from the first limit. */
	ticks(&t, 2050 * MS, 3000 * MS, 1000);
	assert_int_equal(ncalls, 0);
	assert_true(dl_tune_due(&t) == 3050 * MS);
	ticks(&t, 3050 * MS, 3050 * MS, 1000);
	assert_int_equal(ncalls, 2); /* every vCPU, limited or not */
	assert_int_equal(calls[0].cpu, 0);
	assert_int_equal(calls[0].in.limit_pps, 256);
	assert_int_equal(calls[0].in.pages, 1000);
	assert_true(calls[0].in.window_ns == 1 * S);
	assert_false(calls[0].in.first);
	assert_int_equal(calls[1].in.limit_pps, 0);
	assert_int_equal(calls[1].in.pages, 0);
	assert_int_equal(t.tunings, 1);
	assert_int_equal(t.gen, 0); /* this law does not reap rings */
	/* Cancelled: one more sample (the law sees the cancel), then none. */
	dl_vcpu_set_limit(&vc[0], 0);
	ticks(&t, 3100 * MS, 6 * S, 1000);
	assert_int_equal(ncalls, 4);
	assert_int_equal(calls[2].in.limit_pps, 0);
	assert_true(dl_tune_due(&t) == UINT64_MAX);
	dl_tune_destroy(&t);
}

static void test_window_and_tune_at_set(void **state)
{
	struct dl_law_cfg cfg = {.law = &rec_law};
	struct dl_tune t;

	(void)state;
	rec_law.window_ns = 1 * S;
	rec_law.period_ns = 15 * S;
	rec_law.tune_at_set = true;
	setup(&t, &cfg);
	ticks(&t, 0, 2 * S, 2560);
	dl_vcpu_set_limit(&vc[0], 256);
	/* At once, from the last window; first sample under this law. */
	ticks(&t, 2050 * MS, 2050 * MS, 2560);
	assert_int_equal(ncalls, 1);
	assert_true(calls[0].in.first);
	assert_true(calls[0].in.unmeasured);
	assert_in_range(calls[0].in.pages, 2550, 2570);
	assert_true(calls[0].in.window_ns == 1 * S);
	/* Then every period, over the window. */
	ticks(&t, 2100 * MS, 17 * S, 2560);
	assert_int_equal(ncalls, 1);
	ticks(&t, 17050 * MS, 17050 * MS, 2560);
	assert_int_equal(ncalls, 3);
	assert_false(calls[1].in.first);
	assert_in_range(calls[1].in.pages, 2550, 2570);
	/* A second vCPU limited later: tuned at once; no longer unmeasured. */
	dl_vcpu_set_limit(&vc[1], 256);
	ticks(&t, 17100 * MS, 17100 * MS, 2560);
	assert_int_equal(ncalls, 4);
	assert_int_equal(calls[3].cpu, 1);
	assert_true(calls[3].in.first);
	assert_false(calls[3].in.unmeasured);
	rec_law.window_ns = 0;
	rec_law.period_ns = 1 * S;
	rec_law.tune_at_set = false;
	dl_tune_destroy(&t);
}

static void test_sync_wait(void **state)
{
	struct dl_law_cfg cfg = {.law = &rec_law, .sync_wait = true};
	struct dl_tune t;

	(void)state;
	rec_law.sample_reaps_rings = true;
	setup(&t, &cfg);
	dl_vcpu_set_limit(&vc[0], 256);
	ticks(&t, 0, 950 * MS, 1000);
	/* Due at 1 s, but vCPU 0 sleeps until 1.7 s: the sample waits. */
	atomic_store(&vc[0].penalty_end_ns, 1700 * MS);
	ticks(&t, 1 * S, 1650 * MS, 1000);
	assert_int_equal(ncalls, 0);
	assert_true(dl_tune_wake(&t, vp, 1 * S) == 1700 * MS);
	ticks(&t, 1700 * MS, 1700 * MS, 1000);
	assert_int_equal(ncalls, 2);
	/* 1700 pages over the nominal second, as QEMU divides them. */
	assert_int_equal(calls[0].in.pages, 1700);
	assert_true(calls[0].in.window_ns == 1 * S);
	/* The sample flushed the rings. */
	assert_int_equal(atomic_load(&vc[0].sync_gen), 1);
	assert_int_equal(atomic_load(&vc[1].sync_gen), 1);
	/* The next period starts when the sample ends. */
	assert_true(dl_tune_due(&t) == 2700 * MS);
	assert_true(dl_tune_wake(&t, vp, 2 * S) == 2700 * MS);
	/* A sleeping vCPU without a limit does not hold the sample. */
	atomic_store(&vc[1].penalty_end_ns, 10 * S);
	ticks(&t, 1750 * MS, 2700 * MS, 1000);
	assert_int_equal(ncalls, 4);
	rec_law.sample_reaps_rings = false;
	dl_tune_destroy(&t);
}

static void test_without_sync_wait(void **state)
{
	struct dl_law_cfg cfg = {.law = &rec_law};
	struct dl_tune t;

	(void)state;
	setup(&t, &cfg);
	dl_vcpu_set_limit(&vc[0], 256);
	ticks(&t, 0, 950 * MS, 1000);
	atomic_store(&vc[0].penalty_end_ns, 1700 * MS);
	ticks(&t, 1 * S, 1 * S, 1000);
	assert_int_equal(ncalls, 2); /* on time, asleep or not */
	dl_tune_destroy(&t);
}

static void test_set_law(void **state)
{
	struct dl_law_cfg cfg = {.law = &rec_law}, q = {.law = &dl_law_qemu};
	struct dl_tune t;
	struct dl_stats st;

	(void)state;
	setup(&t, &cfg);
	dl_vcpu_set_limit(&vc[0], 256);
	ticks(&t, 0, 1 * S, 1000);
	assert_int_equal(ncalls, 2);
	vc[0].cs.throttle_us = 1234;
	dl_tune_set_law(&t, vp, &q, 200 * MS);
	/* Every tuned state forgotten, "no throttle" published for the new
	 * law, the sampling restarts with a whole period of the new law. */
	assert_int_equal(vc[0].cs.throttle_us, 0);
	dl_vcpu_set_law(&vc[0], &dl_law_qemu);
	dl_vcpu_stats(&vc[0], &st);
	assert_string_equal(st.law, "qemu");
	assert_int_equal(st.throttle, 0);
	assert_true(t.ctx.period_ns == 200 * MS);
	assert_true(dl_tune_due(&t) == UINT64_MAX);
	ticks(&t, 1050 * MS, 1050 * MS, 1000);
	assert_true(dl_tune_due(&t) == 1250 * MS);
	/* Period 0: the law's own. */
	dl_tune_set_law(&t, vp, &q, 0);
	assert_true(t.ctx.period_ns == 1 * S);
	dl_tune_destroy(&t);
}

static void test_set_period(void **state)
{
	struct dl_law_cfg cfg = {.law = &rec_law};
	struct dl_tune t;

	(void)state;
	setup(&t, &cfg);
	dl_vcpu_set_limit(&vc[0], 256);
	ticks(&t, 0, 1 * S, 1000);
	assert_int_equal(ncalls, 2);
	assert_true(dl_tune_due(&t) == 2 * S);
	vc[0].cs.throttle_us = 1234;
	/* Shorter: the sample in progress (from 1 s) ends 200 ms after its
	 * start; the law keeps its state; the next samples are 200 ms long. */
	dl_tune_set_period(&t, 200 * MS);
	assert_true(t.ctx.period_ns == 200 * MS);
	assert_true(dl_tune_due(&t) == 1200 * MS);
	assert_int_equal(vc[0].cs.throttle_us, 1234);
	ticks(&t, 1050 * MS, 1600 * MS, 1000);
	assert_int_equal(ncalls, 8); /* 1.2, 1.4, 1.6 s */
	assert_true(calls[6].in.window_ns == 200 * MS);
	assert_int_equal(calls[6].in.pages, 200);
	assert_int_equal(vc[0].cs.throttle_us, 1234);
	/* Already past: at the next tick. */
	ticks(&t, 1650 * MS, 1700 * MS, 1000);
	dl_tune_set_period(&t, 50 * MS);
	assert_true(dl_tune_due(&t) == 1650 * MS);
	ticks(&t, 1750 * MS, 1750 * MS, 1000);
	assert_int_equal(ncalls, 10);
	assert_true(calls[8].in.window_ns == 150 * MS);
	/* Longer, or 0 (the law's own, 1 s): from the next sample. */
	dl_tune_set_period(&t, 0);
	assert_true(t.ctx.period_ns == 1 * S);
	assert_true(dl_tune_due(&t) == 1800 * MS);
	ticks(&t, 1800 * MS, 2750 * MS, 1000);
	assert_int_equal(ncalls, 12);
	assert_true(dl_tune_due(&t) == 2800 * MS);
	/* A law switch afterwards keeps the period asked for last. */
	dl_tune_set_period(&t, 300 * MS);
	dl_tune_set_law(&t, vp, &cfg, t.period_req_ns);
	assert_true(t.ctx.period_ns == 300 * MS);
	dl_tune_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schedule),  cmocka_unit_test(test_window_and_tune_at_set),
	    cmocka_unit_test(test_sync_wait), cmocka_unit_test(test_without_sync_wait),
	    cmocka_unit_test(test_set_law),   cmocka_unit_test(test_set_period),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

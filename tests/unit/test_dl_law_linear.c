// SPDX-License-Identifier: MIT
/*
 * Unit tests of the linear law (src/dirtylimit/dl_law_linear.c), driven by
 * hand: the fixed step (a tenth of QEMU's ring-full time), no dead band,
 * the cap and the floor, the integral term.  Its actuator is the qemu
 * law's (test_dl_law_qemu.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dirtylimit/dl_law.h"

#define MS 1000000ull
#define S  1000000000ull

static struct dl_vcpu v;
static struct dl_law_cfg cfg;
static struct dl_tune_ctx ctx;
static uint64_t now;

static void setup(uint32_t ring, const char *spec)
{
	struct dl_params p;
	struct dl_action a;
	char err[128];

	dl_params_default(&p);
	p.tick_ns = 1 * MS;
	p.ring_entries = ring;
	dl_vcpu_init(&v, &p);
	assert_int_equal(dl_law_parse(spec, &cfg, err, sizeof(err)), 0);
	assert_ptr_equal(cfg.law, &dl_law_linear);
	dl_vcpu_set_law(&v, cfg.law);
	ctx = (struct dl_tune_ctx){.cfg = &cfg, .period_ns = 1 * S};
	now = 0;
	dl_vcpu_account(&v, 0, 0, now, &a);
}

static int64_t tune(uint64_t limit_mib, uint64_t rate_mib)
{
	struct dl_tune_in in = {.limit_pps = limit_mib * 256,
				.pages = rate_mib * 256,
				.window_ns = 1 * S,
				.now_ns = now += 1 * S};
	struct dl_stats st;

	dl_law_linear.tune(&v, &ctx, &in);
	dl_vcpu_stats(&v, &st);
	assert_int_equal(st.throttle, (uint64_t)v.cs.throttle_us); /* published */
	return v.cs.throttle_us;
}

static void test_fixed_step_no_dead_band(void **state)
{
	(void)state;
	setup(4096, "linear");
	/* Ring-full time 16 MiB * 1e6 / 1000 = 16000 us: steps of 1600,
	 * however far from the quota, and within 25 MB/s too. */
	assert_int_equal(tune(100, 1000), 1600);
	assert_int_equal(tune(100, 900), 3200);
	assert_int_equal(tune(100, 101), 4800);
	/* At the quota or below: down by a step. */
	assert_int_equal(tune(100, 100), 3200);
	assert_int_equal(tune(100, 10), 1600);
	assert_int_equal(tune(100, 10), 0);
	assert_int_equal(tune(100, 10), 0); /* the floor */
}

static void test_cap(void **state)
{
	(void)state;
	setup(65536, "linear");
	/* 256 MiB at 2560 MB/s: 100000 us, step 10000, cap 99 of them. */
	for (int i = 0; i < 1000; i++)
		tune(1, 2560);
	assert_int_equal(v.cs.throttle_us, 9900000);
}

static void test_no_scale_yet(void **state)
{
	(void)state;
	setup(4096, "linear");
	/* Nothing ever dirtied: no ring-full time, no step. */
	assert_int_equal(tune(100, 0), 0);
	assert_int_equal(ctx.max_rate_mib, 0);
	assert_int_equal(tune(0, 500), 0); /* not limited: not tuned */
	assert_int_equal(ctx.max_rate_mib, 0);
}

static void test_integral_term(void **state)
{
	(void)state;
	setup(4096, "linear:ki=1");
	/* 300 for 100: +1600, and +1 ring-full time per 100% of error: 2 *
	 * 16000 us (full = 16e6 / 300 = 53333 on the first sample: max 300). */
	assert_int_equal(tune(100, 300), 5333 + 2 * 53333);
	/* Below: the error is at most -100%, the step -1600 (max now 1000). */
	tune(100, 1000); /* +1600 + 9 * 16000 */
	assert_int_equal(v.cs.throttle_us, 5333 + 2 * 53333 + 1600 + 144000);
	assert_int_equal(tune(100, 50), 5333 + 2 * 53333 + 144000 - 8000);
	/* Half the gain: ki=0.5. */
	setup(4096, "linear:ki=0.5");
	assert_int_equal(tune(100, 1000), 1600 + 72000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed_step_no_dead_band),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_no_scale_yet),
	    cmocka_unit_test(test_integral_term),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * Closed-loop tests of the seeds' laws (qemu, linear, pct) against the
 * simulated vCPU (src/dirtylimit/dl_sim.c), with the controller tuning them
 * as vmm's does: what QEMU and the seeds' authors published, reproduced.
 * The vCPU dirties 300k pages/s while it runs: 1170 MB/s, the speed of the
 * vCPU behind the published lowest-limit figures.  The bucket's own
 * closed-loop tests are in test_dl_sim.c.  Every run is a few ms of CPU.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "dirtylimit/dl_rate.h"
#include "dirtylimit/dl_sim.h"

#define US 1000ull
#define MS 1000000ull
#define S  1000000000ull

#define SPEED  300000ull /* pages/s while running: 1170 MB/s */
#define SET_AT (1 * S)

struct run {
	struct dl_sim_cfg c;
	struct dl_sim_result r;
	struct dl_sim_step load[1];
	struct dl_sim_step limit[1];
};

/* vm.c's tick for the ring: a quarter of it at 1M pages/s, at most 10 ms. */
static uint64_t tick_for(uint32_t ring)
{
	uint64_t ns = (uint64_t)ring / 4 * 1000;

	return ns > 10 * MS ? 10 * MS : ns;
}

/* Unthrottled, then limit MiB/s from SET_AT, to end_s. */
static void run_law(struct run *x, const char *spec, uint32_t ring, double limit_mib,
		    uint64_t end_s)
{
	char err[128];

	x->load[0] = (struct dl_sim_step){0, SPEED};
	x->limit[0] = (struct dl_sim_step){SET_AT, (uint64_t)(limit_mib * DL_PAGES_PER_MIB)};
	x->c = (struct dl_sim_cfg){
	    .load = x->load,
	    .nload = 1,
	    .limit = x->limit,
	    .nlimit = 1,
	    .slice_jitter_ns = 50 * US,
	    .sleep_jitter_ns = 50 * US,
	    .kick_ns = 10 * US,
	    .end_ns = end_s * S,
	    .bin_ns = 1 * MS,
	    .seed = 42,
	};
	dl_params_default(&x->c.params);
	x->c.params.ring_entries = ring;
	x->c.params.tick_ns = tick_for(ring);
	assert_int_equal(dl_law_parse(spec, &x->c.law, err, sizeof(err)), 0);
}

static void go(struct run *x)
{
	assert_int_equal(dl_sim_run(&x->c, &x->r), 0);
}

/* MiB/s over [a, b) seconds. */
static double mib(const struct run *x, double a, double b)
{
	return dl_pages_to_mib(dl_sim_mean(&x->r, (uint64_t)(a * S), (uint64_t)(b * S)));
}

/* Lowest and highest 1 s window (MiB/s) in [a, b) seconds, whole seconds. */
static void range_1s(const struct run *x, double a, double b, double *lo, double *hi)
{
	*lo = 1e18;
	*hi = 0;
	for (double t = a; t + 1 <= b + 1e-9; t += 1) {
		double m = mib(x, t, t + 1);

		*lo = m < *lo ? m : *lo;
		*hi = m > *hi ? m : *hi;
	}
}

/*
 * qemu, 4096-entry ring: QEMU's 500 MB/s measured 415..528 and its 300 came
 * out at 342.  Here the first period after the set runs free (the first
 * sample takes a whole period), then one proportional step lands within a
 * few % and the dead band keeps it there.
 */
static void test_qemu_holds_500_and_300(void **state)
{
	static const double limits[] = {500, 300};
	struct run x;
	double lo, hi;

	(void)state;
	for (int i = 0; i < 2; i++) {
		run_law(&x, "qemu", 4096, limits[i], 30);
		go(&x);
		range_1s(&x, 3, 30, &lo, &hi);
		print_message("qemu 4096 @ %.0f: 1 s windows %.0f..%.0f, first second %.0f\n",
			      limits[i], lo, hi, mib(&x, 1, 2));
		assert_true(mib(&x, 1.05, 1.95) > 1100); /* unthrottled for a period */
		assert_true(lo >= 415 * limits[i] / 500 && hi <= 528 * limits[i] / 500);
		/* Within the dead band, never closer than the fixed step. */
		assert_true(lo >= limits[i] - 25 && hi <= limits[i] + 25);
		dl_sim_free(&x.r);
	}
}

/*
 * qemu, 4096-entry ring, 25 MB/s: the lowest limit QEMU reaches with this
 * ring.  It holds above the limit, within its dead band: 16 MiB per
 * ring-full makes the steps coarse and the band stops them.
 */
static void test_qemu_lowest_4096(void **state)
{
	struct run x;
	double m;

	(void)state;
	run_law(&x, "qemu", 4096, 25, 40);
	go(&x);
	m = mib(&x, 10, 40);
	print_message("qemu 4096 @ 25: mean %.1f MiB/s from 10 s, last sample %llu MB/s\n", m,
		      (unsigned long long)x.r.samples[x.r.nsamples - 1].rate_mib);
	assert_true(m > 25 && m <= 50);
	dl_sim_free(&x.r);
}

/*
 * qemu, 65536-entry ring, with QEMU's sampling (sync=wait): its lowest
 * reachable limit is 256 MB/s.  Below, QEMU's own sample never reads less
 * than one ring (256 MiB) per period, because the sample waits for the
 * sleeping vCPU and counts the ring it woke to; so QEMU raises the sleep
 * to its cap while the true rate is far below what it reports.  Its own
 * test (rate within quota + 25 within 20 tries) cannot pass.
 */
static void test_qemu_lowest_65536_sync_wait(void **state)
{
	static const double limits[] = {50, 100, 200};
	struct run x;

	(void)state;
	for (int i = 0; i < 3; i++) {
		uint64_t lo = UINT64_MAX;

		run_law(&x, "qemu:sync=wait", 65536, limits[i], 60);
		go(&x);
		for (size_t k = 1; k < x.r.nsamples; k++)
			lo = x.r.samples[k].rate_mib < lo ? x.r.samples[k].rate_mib : lo;
		print_message("qemu:sync=wait 65536 @ %.0f: QEMU's samples >= %llu MB/s, "
			      "true rate %.1f MiB/s from 10 s, %zu samples in 59 s\n",
			      limits[i], (unsigned long long)lo, mib(&x, 10, 60), x.r.nsamples);
		assert_true(lo >= 256);
		assert_true(lo > limits[i] + 25);
		assert_true(mib(&x, 10, 60) < limits[i]);
		dl_sim_free(&x.r);
	}
}

/*
 * The same law sampled every period on time (vmm's default): a period in
 * which the sleeping vCPU harvested nothing reads 0, which QEMU's rule
 * answers by dropping the sleep to 0 (outside the dead band): the vCPU
 * then bursts a ring at full speed.  It cannot hold below a ring per
 * period either, for this other reason.
 */
static void test_qemu_65536_on_time(void **state)
{
	struct run x;
	size_t zeros = 0;

	(void)state;
	run_law(&x, "qemu", 65536, 100, 60);
	go(&x);
	for (size_t k = 0; k < x.r.nsamples; k++)
		zeros += x.r.samples[k].rate_mib == 0;
	print_message("qemu 65536 @ 100: %zu of %zu samples read 0, mean %.1f MiB/s\n", zeros,
		      x.r.nsamples, mib(&x, 10, 60));
	assert_true(zeros >= 5);
	assert_true(mib(&x, 10, 60) > 200);
	dl_sim_free(&x.r);
}

/*
 * linear: the review's rule takes one step (a tenth of the ring-full time)
 * a period, whatever the error: from 1170 to 400 MB/s with a 4096-entry
 * ring that is ~19 periods, then it dithers by one step around the limit.
 * The integral term (ki=1) lands in one period.
 */
static void test_linear_steps(void **state)
{
	struct run x;
	double lo, hi;
	size_t crossed = 0;

	(void)state;
	run_law(&x, "linear", 4096, 400, 40);
	go(&x);
	for (size_t k = 1; k < x.r.nsamples; k++) {
		/* Monotone, one fixed step each, until the rate crosses. */
		if (!crossed && x.r.samples[k].rate_mib <= 400)
			crossed = k;
		if (!crossed)
			assert_true(x.r.samples[k].rate_mib < x.r.samples[k - 1].rate_mib);
	}
	range_1s(&x, 25, 40, &lo, &hi);
	print_message("linear 4096 @ 400: crossed after %zu periods, then %.0f..%.0f\n", crossed,
		      lo, hi);
	assert_true(crossed >= 15 && crossed <= 25);
	assert_true(lo >= 380 && hi <= 420);
	dl_sim_free(&x.r);

	run_law(&x, "linear:ki=1", 4096, 400, 20);
	go(&x);
	range_1s(&x, 3, 20, &lo, &hi);
	print_message("linear:ki=1 4096 @ 400: %.0f..%.0f from the second period\n", lo, hi);
	assert_true(lo >= 380 && hi <= 420);
	dl_sim_free(&x.r);
}

/*
 * pct: the first version, measured by the review on a guest dirtying 500
 * MB/s: from 500 to 200 takes about a minute (its first period runs free:
 * its rate thread starts with the limit and has measured nothing yet; then
 * RATIO, HEAVY and SLIGHT steps 15 s apart).  The guest paces itself at
 * 500 MB/s as the stress kernel's rate= does.
 */
static void test_pct_500_to_200(void **state)
{
	struct run x;
	double reached = 0;

	(void)state;
	run_law(&x, "pct", 65536, 200, 150);
	x.c.paced_pps = 500 * DL_PAGES_PER_MIB;
	go(&x);
	for (double t = 1; t + 1 <= 150; t += 1)
		if (!reached && mib(&x, t, t + 1) <= 220)
			reached = t + 1 - 1; /* seconds after the set */
	print_message("pct paced 500 -> 200: first 1 s window <= 220 at %.0f s after the set\n",
		      reached);
	assert_true(mib(&x, 1, 15) > 480); /* the first period runs free */
	assert_true(reached >= 30 && reached <= 90);
	dl_sim_free(&x.r);
}

/*
 * pct on a guest that dirties as fast as it can: the percentage moves in
 * steps of 5 or 2 points where each point is worth 4-10% of the rate, so
 * it swings around the limit rather than settling (the review saw tens of
 * MB/s to 300 at 200).
 */
static void test_pct_swings(void **state)
{
	struct run x;
	double lo, hi;

	(void)state;
	run_law(&x, "pct", 65536, 200, 240);
	go(&x);
	range_1s(&x, 60, 240, &lo, &hi);
	print_message("pct 1170 -> 200: 1 s windows %.0f..%.0f from 60 s\n", lo, hi);
	assert_true(lo < 200 * 0.92 && hi > 200 * 1.08);
	assert_true(lo > 100 && hi < 320);
	dl_sim_free(&x.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_qemu_holds_500_and_300),
	    cmocka_unit_test(test_qemu_lowest_4096),
	    cmocka_unit_test(test_qemu_lowest_65536_sync_wait),
	    cmocka_unit_test(test_qemu_65536_on_time),
	    cmocka_unit_test(test_linear_steps),
	    cmocka_unit_test(test_pct_500_to_200),
	    cmocka_unit_test(test_pct_swings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

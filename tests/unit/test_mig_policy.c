// SPDX-License-Identifier: MIT
/*
 * The convergence policies (src/migrate/mig_policy*.c), driven by hand:
 * QEMU's parameters and checks, its bandwidth windows, switchover rule and
 * trigger, auto-converge, QEMU's fixed dirty-limit, and ours (the share
 * law).  Closed-loop cases are in test_mig_sim.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "migrate/mig_policy.h"

#define MS 1000000ull
#define S  1000000000ull

#define BW_100MB  100000000ull /* bytes/s */
#define WRITER	  290000ull    /* pages/s */
#define READER	  3ull	       /* pages/s: stack and console */
#define SHARE_PPS (BW_100MB / 4096 * 250 / 1000)

static struct mig_policy pol;
static struct mig_decision dec;
static uint64_t now;

static void mk(enum mig_policy_kind k, unsigned n, const struct mig_params *prm)
{
	struct mig_params p;
	struct mig_caps c = {
	    .auto_converge = k == MIG_POLICY_AUTO_CONVERGE,
	    .dirty_limit = k == MIG_POLICY_DIRTY_LIMIT_FIXED || k == MIG_POLICY_DIRTY_LIMIT_SHARE,
	};

	if (prm)
		p = *prm;
	else
		mig_params_default(&p);
	p.vcpu_dirty_limit_set = k == MIG_POLICY_DIRTY_LIMIT_FIXED;
	assert_int_equal(mig_policy_init(&pol, &c, &p, NULL, n, 1ull << 30), 0);
	assert_int_equal(mig_policy_kind(&pol), k);
	now = 0;
	mig_policy_start(&pol, now);
}

/* Sending for ns at bw bytes/s, as one call. */
static void sample(uint64_t ns, uint64_t bw, uint64_t dirty, uint64_t rem, const uint64_t *rates,
		   unsigned n)
{
	struct mig_obs o = {
	    .sent_bytes = (uint64_t)((unsigned __int128)bw * ns / S),
	    .sent_ns = ns,
	    .dirty_bytes = dirty,
	    .remaining_bytes = rem,
	    .vcpu_pps = rates,
	    .nvcpus = n,
	};

	now += ns;
	o.now_ns = now;
	mig_policy_sample(&pol, &o, &dec);
}

static void sync_at(uint64_t ns, uint64_t bw, uint64_t dirty, uint64_t rem, const uint64_t *rates,
		    unsigned n)
{
	struct mig_obs o = {
	    .sent_bytes = (uint64_t)((unsigned __int128)bw * ns / S),
	    .sent_ns = ns,
	    .dirty_bytes = dirty,
	    .remaining_bytes = rem,
	    .vcpu_pps = rates,
	    .nvcpus = n,
	};

	now += ns;
	o.now_ns = now;
	mig_policy_sync(&pol, &o, &dec);
}

static void test_defaults(void **state)
{
	struct mig_params p;

	(void)state;
	mig_params_default(&p);
	/* QEMU's migration/options.c. */
	assert_int_equal(p.downtime_limit_ms, 300);
	assert_int_equal(p.max_bandwidth, 128ull << 20);
	assert_int_equal(p.throttle_trigger_threshold, 50);
	assert_int_equal(p.cpu_throttle_initial, 20);
	assert_int_equal(p.cpu_throttle_increment, 10);
	assert_int_equal(p.max_cpu_throttle, 99);
	assert_false(p.cpu_throttle_tailslow);
	assert_int_equal(p.vcpu_dirty_limit, 1);
	assert_false(p.vcpu_dirty_limit_set);
	assert_int_equal(p.x_vcpu_dirty_limit_period_ms, 1000);
	assert_int_equal(p.x_io_timeout_ms, 10000);
	assert_int_equal(p.x_digest_audit, 16u << 20);
	assert_int_equal(mig_params_check(&p, NULL, 0), 0);
}

/* Set one field through a setter, check, expect ok or a message naming it. */
#define CHECK(field, val, ok, name)                                                                \
	do {                                                                                       \
		struct mig_params p;                                                               \
		char err[128] = "";                                                                \
		mig_params_default(&p);                                                            \
		p.field = (val);                                                                   \
		if (ok) {                                                                          \
			assert_int_equal(mig_params_check(&p, err, sizeof(err)), 0);               \
		} else {                                                                           \
			assert_int_equal(mig_params_check(&p, err, sizeof(err)), -EINVAL);         \
			assert_non_null(strstr(err, "Parameter '" name "' expects"));              \
		}                                                                                  \
	} while (0)

static void test_params_check(void **state)
{
	(void)state;
	CHECK(throttle_trigger_threshold, 1, 1, "throttle-trigger-threshold");
	CHECK(throttle_trigger_threshold, 100, 1, "throttle-trigger-threshold");
	CHECK(throttle_trigger_threshold, 0, 0, "throttle-trigger-threshold");
	CHECK(throttle_trigger_threshold, 101, 0, "throttle-trigger-threshold");
	CHECK(cpu_throttle_initial, 1, 1, "cpu-throttle-initial");
	CHECK(cpu_throttle_initial, 99, 1, "cpu-throttle-initial");
	CHECK(cpu_throttle_initial, 0, 0, "cpu-throttle-initial");
	CHECK(cpu_throttle_initial, 100, 0, "cpu-throttle-initial");
	CHECK(cpu_throttle_increment, 1, 1, "cpu-throttle-increment");
	CHECK(cpu_throttle_increment, 99, 1, "cpu-throttle-increment");
	CHECK(cpu_throttle_increment, 0, 0, "cpu-throttle-increment");
	CHECK(cpu_throttle_increment, 100, 0, "cpu-throttle-increment");
	CHECK(max_cpu_throttle, 20, 1, "max-cpu-throttle"); /* = initial */
	CHECK(max_cpu_throttle, 19, 0, "max-cpu-throttle"); /* < initial */
	CHECK(max_cpu_throttle, 100, 0, "max-cpu-throttle");
	CHECK(downtime_limit_ms, 0, 1, "downtime-limit");
	CHECK(downtime_limit_ms, 2000000, 1, "downtime-limit");
	CHECK(downtime_limit_ms, 2000001, 0, "downtime-limit");
	CHECK(x_vcpu_dirty_limit_period_ms, 1, 1, "x-vcpu-dirty-limit-period");
	CHECK(x_vcpu_dirty_limit_period_ms, 1000, 1, "x-vcpu-dirty-limit-period");
	CHECK(x_vcpu_dirty_limit_period_ms, 0, 0, "x-vcpu-dirty-limit-period");
	CHECK(x_vcpu_dirty_limit_period_ms, 1001, 0, "x-vcpu-dirty-limit-period");
	CHECK(x_io_timeout_ms, 100, 1, "x-io-timeout");
	CHECK(x_io_timeout_ms, 3600000, 1, "x-io-timeout");
	CHECK(x_io_timeout_ms, 99, 0, "x-io-timeout");
	CHECK(x_io_timeout_ms, 3600001, 0, "x-io-timeout");
	CHECK(vcpu_dirty_limit, 1, 1, "vcpu-dirty-limit");
	CHECK(vcpu_dirty_limit, 0, 0, "vcpu-dirty-limit");
}

static void test_caps_and_kind(void **state)
{
	struct mig_params p;
	struct mig_caps c = {.auto_converge = true, .dirty_limit = true};
	char err[128];

	(void)state;
	mig_params_default(&p);
	assert_int_equal(mig_caps_check(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "dirty-limit conflicts with auto-converge"));
	c.dirty_limit = false;
	assert_int_equal(mig_caps_check(&c, err, sizeof(err)), 0);
	assert_int_equal(mig_policy_kind_of(&c, &p), MIG_POLICY_AUTO_CONVERGE);
	c = (struct mig_caps){.dirty_limit = true};
	assert_int_equal(mig_policy_kind_of(&c, &p), MIG_POLICY_DIRTY_LIMIT_SHARE);
	p.vcpu_dirty_limit_set = true;
	assert_int_equal(mig_policy_kind_of(&c, &p), MIG_POLICY_DIRTY_LIMIT_FIXED);
	c.dirty_limit = false;
	assert_int_equal(mig_policy_kind_of(&c, &p), MIG_POLICY_NONE);
	assert_int_equal(mig_policy_init(&pol, &c, &p, NULL, 0, 1), -EINVAL);
	assert_int_equal(mig_policy_init(&pol, &c, &p, NULL, MIG_MAX_VCPUS + 1, 1), -EINVAL);
	assert_int_equal(mig_policy_init(&pol, &c, &p, NULL, MIG_MAX_VCPUS, 1), 0);
}

static void test_throttle_sleep(void **state)
{
	(void)state;
	assert_int_equal(mig_throttle_sleep_ns(0), 0);
	assert_int_equal(mig_throttle_sleep_ns(20), 2500000);	 /* 20/80 x 10 ms */
	assert_int_equal(mig_throttle_sleep_ns(50), 10000000);	 /* 1 x 10 ms */
	assert_int_equal(mig_throttle_sleep_ns(90), 90000000);	 /* 9 x 10 ms */
	assert_int_equal(mig_throttle_sleep_ns(99), 990000000);	 /* 99 x 10 ms */
	assert_int_equal(mig_throttle_sleep_ns(100), 990000000); /* clamped to 99 */
	for (unsigned pct = 1; pct <= 99; pct++) {
		/* QEMU: (int64_t)(pct / (1 - pct) * 10 ms + 1), in double. */
		double ratio = (pct / 100.0) / (1 - pct / 100.0);
		int64_t qemu = (int64_t)(ratio * 10000000 + 1);
		uint64_t ours = mig_throttle_sleep_ns(pct);

		assert_true(qemu - (int64_t)ours >= 0 && qemu - (int64_t)ours <= 1);
		/* The vCPU runs (100 - pct) % of the time. */
		assert_true(MIG_THROTTLE_SLICE_NS * 100 / (MIG_THROTTLE_SLICE_NS + ours) >=
			    100 - pct - 1);
	}
}

static void test_bandwidth_window(void **state)
{
	(void)state;
	mk(MIG_POLICY_NONE, 1, NULL);
	sample(30 * MS, BW_100MB, 0, 1 << 30, NULL, 0);
	sample(30 * MS, BW_100MB, 0, 1 << 30, NULL, 0);
	sample(30 * MS, BW_100MB, 0, 1 << 30, NULL, 0);
	assert_int_equal(dec.bandwidth, 0); /* 90 ms: no window yet */
	assert_int_equal(dec.threshold_bytes, 0);
	assert_int_equal(dec.expected_downtime_ms, 300); /* QEMU's, until measured */
	/* 10 ms at 400 MB/s closes the window: 13 MB in 100 ms. */
	sample(10 * MS, 4 * BW_100MB, 0, 1 << 30, NULL, 0);
	assert_int_equal(dec.bandwidth, 130000000);
	assert_int_equal(dec.threshold_bytes, 39000000); /* x 300 ms */
	/* The next window starts empty; time not spent sending is not
	 * counted (the driver reports its busy time). */
	sample(80 * MS, 50000000, 0, 1 << 30, NULL, 0);
	now += 5 * S;
	sample(20 * MS, 50000000, 0, 1 << 30, NULL, 0);
	assert_int_equal(dec.bandwidth, 50000000);
}

static void test_qemu_switchover(void **state)
{
	(void)state;
	mk(MIG_POLICY_NONE, 1, NULL);
	/* No bandwidth yet: only an empty round switches over. */
	sync_at(50 * MS, BW_100MB, 4096, 4096, NULL, 0);
	assert_false(dec.switchover);
	sync_at(10 * MS, BW_100MB, 0, 0, NULL, 0);
	assert_true(dec.switchover);

	mk(MIG_POLICY_NONE, 1, NULL);
	sample(100 * MS, BW_100MB, 0, 1 << 30, NULL, 0);
	assert_int_equal(dec.threshold_bytes, 30000000);
	sync_at(1 * MS, BW_100MB, 30000001, 30000001, NULL, 0);
	assert_false(dec.switchover);
	assert_int_equal(dec.expected_downtime_ms, 300); /* 30 MB at 100 MB/s */
	sync_at(1 * MS, BW_100MB, 30000000, 30000000, NULL, 0);
	assert_true(dec.switchover);
	sync_at(1 * MS, BW_100MB, 50000000, 50000000, NULL, 0);
	assert_false(dec.switchover);
	assert_int_equal(dec.expected_downtime_ms, 500);
	assert_int_equal(dec.throttle_pct, 0);
	assert_false(dec.limits_changed);
	/* downtime-limit changed during the migration applies at once. */
	struct mig_params p;
	mig_params_default(&p);
	p.downtime_limit_ms = 600;
	mig_policy_set_params(&pol, &p);
	sync_at(1 * MS, BW_100MB, 50000000, 50000000, NULL, 0);
	assert_true(dec.switchover);
}

/* Rounds of `ms`, sending 100 MB/s and dirtying `ratio` % of it. */
static void rounds(unsigned n, uint64_t ms, unsigned ratio)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t sent = BW_100MB * ms / 1000;

		sync_at(ms * MS, BW_100MB, sent * ratio / 100, 1 << 30, NULL, 0);
	}
}

static void test_trigger(void **state)
{
	(void)state;
	mk(MIG_POLICY_AUTO_CONVERGE, 1, NULL);
	/* Rounds of 0.6 s dirtying 60% of what they send: the ratio is looked
	 * at once more than a second has passed, i.e. every other sync, and
	 * acted on the second time it is high. */
	rounds(1, 600, 60); /* 0.6 s: within the period */
	rounds(1, 600, 60); /* 1.2 s: high, once */
	assert_int_equal(dec.throttle_pct, 0);
	rounds(1, 600, 60); /* 1.8 s */
	assert_int_equal(dec.throttle_pct, 0);
	rounds(1, 600, 60); /* 2.4 s: high, twice */
	assert_int_equal(dec.throttle_pct, 20);
	rounds(2, 600, 60); /* 3.6 s: once again */
	assert_int_equal(dec.throttle_pct, 20);
	/* A low period between two high ones does not reset the count. */
	rounds(2, 600, 40);
	assert_int_equal(dec.throttle_pct, 20);
	rounds(2, 600, 60);
	assert_int_equal(dec.throttle_pct, 30);
	/* The bytes dirtied count over the whole period, across syncs: two
	 * rounds at 45% and 65% make 55% over the period. */
	rounds(1, 600, 45);
	rounds(1, 600, 65);
	rounds(1, 600, 45);
	rounds(1, 600, 65);
	assert_int_equal(dec.throttle_pct, 40);
	/* The threshold is a parameter: at 70%, 60% is low. */
	struct mig_params p;
	mig_params_default(&p);
	p.throttle_trigger_threshold = 70;
	mig_policy_set_params(&pol, &p);
	rounds(8, 600, 60);
	assert_int_equal(dec.throttle_pct, 40);
}

static void test_auto_converge_steps(void **state)
{
	static const unsigned want[] = {20, 30, 40, 50, 60, 70, 80, 90, 99, 99};
	struct mig_params p;

	(void)state;
	mk(MIG_POLICY_AUTO_CONVERGE, 2, NULL);
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		rounds(2, 1100, 100); /* every sync evaluates: one step per two */
		assert_int_equal(dec.throttle_pct, want[i]);
		assert_int_equal(mig_policy_limit(&pol, 0), 0); /* never a limit */
	}
	mig_params_default(&p);
	p.max_cpu_throttle = 45;
	p.cpu_throttle_initial = 25;
	p.cpu_throttle_increment = 15;
	mk(MIG_POLICY_AUTO_CONVERGE, 1, &p);
	rounds(2, 1100, 100);
	assert_int_equal(dec.throttle_pct, 25);
	rounds(2, 1100, 100);
	assert_int_equal(dec.throttle_pct, 40);
	rounds(2, 1100, 100);
	assert_int_equal(dec.throttle_pct, 45);
}

static void test_tailslow(void **state)
{
	struct mig_params p;

	(void)state;
	mig_params_default(&p);
	p.cpu_throttle_tailslow = true;
	mk(MIG_POLICY_AUTO_CONVERGE, 1, &p);
	rounds(2, 1100, 200); /* 20 */
	rounds(2, 1100, 200); /* 20 + min(80 - 80 x 50/200, 10) = 30 */
	assert_int_equal(dec.throttle_pct, 30);
	/* Dirtying 55% against 50%: the CPU share that would reach the
	 * threshold is 70 x 50/55 = 63.6, truncated to 63: +7, not +10. */
	rounds(2, 1100, 55);
	assert_int_equal(dec.throttle_pct, 37);
}

static void test_fixed_dirty_limit(void **state)
{
	const uint64_t rates[3] = {WRITER, READER, 0};
	struct mig_params p;

	(void)state;
	mk(MIG_POLICY_DIRTY_LIMIT_FIXED, 3, NULL);
	rounds(1, 1100, 100); /* high once: nothing yet */
	for (unsigned v = 0; v < 3; v++)
		assert_int_equal(mig_policy_limit(&pol, v), 0);
	sync_at(1100 * MS, BW_100MB, 110000000, 1 << 30, rates, 3);
	/* Twice: every vCPU, reader and idle too, at 1 MB/s = 256 pages/s. */
	assert_true(dec.limits_changed);
	for (unsigned v = 0; v < 3; v++)
		assert_int_equal(mig_policy_limit(&pol, v), 256);
	assert_int_equal(dec.throttle_pct, 0);
	/* Triggering again changes nothing while the parameter is the same. */
	rounds(2, 1100, 100);
	assert_false(dec.limits_changed);
	assert_int_equal(mig_policy_limit(&pol, 1), 256);
	mig_params_default(&p);
	p.vcpu_dirty_limit = 25;
	p.vcpu_dirty_limit_set = true;
	mig_policy_set_params(&pol, &p);
	rounds(2, 1100, 100);
	assert_true(dec.limits_changed);
	assert_int_equal(mig_policy_limits(&pol)[2], 25 * 256);
}

static void test_level(void **state)
{
	const uint64_t held = UINT64_MAX;

	(void)state;
	assert_int_equal(mig_policy_level(1000, NULL, 0), 0);
	assert_int_equal(mig_policy_level(1000, (uint64_t[]){held}, 1), 1000);
	assert_int_equal(mig_policy_level(1000, (uint64_t[]){held, held}, 2), 500);
	/* A small demand keeps what it needs, the rest goes to the others. */
	assert_int_equal(mig_policy_level(1000, (uint64_t[]){held, 100}, 2), 900);
	assert_int_equal(mig_policy_level(1000, (uint64_t[]){100, held, 200}, 3), 700);
	/* Known demands above the level: an equal split. */
	assert_int_equal(mig_policy_level(1000, (uint64_t[]){600, 700}, 2), 500);
	assert_int_equal(mig_policy_level(1000, (uint64_t[]){100, 600, 700}, 3), 450);
	/* Everything fits: the slack goes to whoever speeds up first. */
	assert_int_equal(mig_policy_level(1000, (uint64_t[]){100, 200}, 2), 900);
	assert_int_equal(mig_policy_level(1000, (uint64_t[]){300}, 1), 1000);
	/* Nothing to share. */
	assert_int_equal(mig_policy_level(0, (uint64_t[]){held, 5}, 2), 0);
}

/* Ours, 100 MB/s measured, rates as given. */
static void share_at_100(unsigned n)
{
	mk(MIG_POLICY_DIRTY_LIMIT_SHARE, n, NULL);
	sample(100 * MS, BW_100MB, 0, 1 << 30, NULL, 0);
	assert_int_equal(dec.bandwidth, BW_100MB);
}

/* Before the first window: max-bandwidth stands in for the link, so a
 * writer is held from the first sample; the switchover still waits. */
static void test_share_before_first_window(void **state)
{
	struct mig_params prm;
	uint64_t rates[2] = {WRITER, READER};

	(void)state;
	mig_params_default(&prm);
	prm.max_bandwidth = BW_100MB;
	mk(MIG_POLICY_DIRTY_LIMIT_SHARE, 2, &prm);
	sample(1 * MS, BW_100MB, 6000000, 1 << 30, rates, 2);
	assert_int_equal(dec.bandwidth, 0); /* not measured yet */
	assert_true(dec.limits_changed);
	assert_int_equal(mig_policy_limit(&pol, 0), SHARE_PPS - READER);
	assert_int_equal(mig_policy_limit(&pol, 1), 0);
	sync_at(1 * MS, BW_100MB, 4096, 4096, rates, 2);
	assert_false(dec.switchover);
	/* No cap (0): nothing is known, nothing is set. */
	prm.max_bandwidth = 0;
	mk(MIG_POLICY_DIRTY_LIMIT_SHARE, 2, &prm);
	sample(1 * MS, BW_100MB, 6000000, 1 << 30, rates, 2);
	assert_false(dec.limits_changed);
	assert_int_equal(mig_policy_limit(&pol, 0), 0);
}

static void test_share_engage(void **state)
{
	uint64_t rates[3] = {WRITER, READER, 0};

	(void)state;
	share_at_100(3);
	/* The aim at 100 MB/s: 50 ms = 5 MB. */
	assert_int_equal(dec.threshold_bytes, 5000000);
	/* Up to 5 MB dirtied since the last sync: the guest is left alone. */
	sample(1 * MS, BW_100MB, 5000000, 1 << 29, rates, 3);
	assert_false(dec.limits_changed);
	assert_int_equal(mig_policy_limit(&pol, 0), 0);
	/* Beyond it: the writer gets a quarter of the link, less what the
	 * reader dirties; the reader and the idle vCPU get nothing. */
	sample(1 * MS, BW_100MB, 5004096, 1 << 29, rates, 3);
	assert_true(dec.limits_changed);
	assert_int_equal(mig_policy_limit(&pol, 0), SHARE_PPS - READER);
	assert_int_equal(mig_policy_limit(&pol, 1), 0);
	assert_int_equal(mig_policy_limit(&pol, 2), 0);
	assert_int_equal(dec.note, MIG_NOTE_NONE);
	/* Engaged for the rest of the migration, even once rounds are small. */
	sync_at(100 * MS, BW_100MB, 4096, 20000000, rates, 3);
	assert_int_equal(mig_policy_limit(&pol, 0), SHARE_PPS - READER);
	/* The limit follows the link: 50 MB/s, half the limit. */
	sample(100 * MS, BW_100MB / 2, 4096, 10000000, rates, 3);
	assert_int_equal(dec.bandwidth, BW_100MB / 2);
	assert_int_equal(mig_policy_limit(&pol, 0), SHARE_PPS / 2 - READER);
	/* No rates (the driver cannot measure): no limits set or changed. */
	sample(100 * MS, BW_100MB, 4096, 10000000, NULL, 0);
	assert_false(dec.limits_changed);
}

static void test_share_two_writers(void **state)
{
	uint64_t rates[2] = {WRITER, 1953}; /* 1.2 GB/s and 8 MB/s */

	(void)state;
	share_at_100(2);
	sample(1 * MS, BW_100MB, 6000000, 1 << 29, rates, 2);
	/* One level for both; the slow writer needs less and keeps it, the
	 * fast one gets the rest: 6103 - 1953 = 4150, not 6103 / 2. */
	assert_int_equal(mig_policy_limit(&pol, 0), SHARE_PPS - 1953);
	assert_int_equal(mig_policy_limit(&pol, 1), SHARE_PPS - 1953);
	/* Held at its limit, the fast writer measures its limit: it is still
	 * treated as wanting more, the level does not move. */
	rates[0] = SHARE_PPS - 1953;
	sample(100 * MS, BW_100MB, 6000000, 1 << 29, rates, 2);
	assert_false(dec.limits_changed);
	/* The slow one speeds up to its limit: between two bandwidth windows
	 * nothing moves; at the next one both are held: an equal split. */
	rates[1] = SHARE_PPS - 1953;
	sample(50 * MS, BW_100MB, 6000000, 1 << 29, rates, 2);
	assert_false(dec.limits_changed);
	sample(50 * MS, BW_100MB, 6000000, 1 << 29, rates, 2);
	assert_true(dec.limits_changed);
	assert_int_equal(mig_policy_limit(&pol, 0), SHARE_PPS / 2);
	assert_int_equal(mig_policy_limit(&pol, 1), SHARE_PPS / 2);
	/* The reader-like background of the others wobbles by a few pages/s:
	 * under 2%, the limits stay as they are (no kick, no empty bucket). */
	share_at_100(3);
	rates[0] = rates[1] = WRITER;
	sample(1 * MS, BW_100MB, 6000000, 1 << 29, (uint64_t[]){WRITER, WRITER, 3}, 3);
	assert_int_equal(mig_policy_limit(&pol, 0), (SHARE_PPS - 3) / 2);
	sample(100 * MS, BW_100MB, 6000000, 1 << 29, (uint64_t[]){WRITER, WRITER, 60}, 3);
	assert_false(dec.limits_changed);
	assert_int_equal(mig_policy_limit(&pol, 0), (SHARE_PPS - 3) / 2);
	sample(100 * MS, BW_100MB, 6000000, 1 << 29, (uint64_t[]){WRITER, WRITER, 200}, 3);
	assert_true(dec.limits_changed);
	assert_int_equal(mig_policy_limit(&pol, 0), (SHARE_PPS - 200) / 2);
}

static void test_share_raised_limit(void **state)
{
	uint64_t rates[2] = {WRITER, WRITER};

	(void)state;
	share_at_100(2);
	sample(1 * MS, BW_100MB, 6000000, 1 << 29, rates, 2);
	assert_int_equal(mig_policy_limit(&pol, 0), SHARE_PPS / 2);
	/* Both held, measured at their limit. */
	rates[0] = rates[1] = SHARE_PPS / 2;
	/* A small round: the land term raises the share to 0.8 x 5 MB / 8 MB
	 * = 0.5 of the link, 12207 pages/s. */
	sync_at(100 * MS, BW_100MB, 8000000, 8000000, rates, 2);
	/* Their rates still show the old limit, which is not what they want:
	 * within a rate window of the raise they still count as held, so the
	 * new budget is split equally, not handed twice as slack. */
	assert_int_equal(mig_policy_limit(&pol, 0), BW_100MB / 4096 * 500 / 1000 / 2);
	sample(100 * MS, BW_100MB, 0, 8000000, rates, 2);
	assert_int_equal(mig_policy_limit(&pol, 0), BW_100MB / 4096 * 500 / 1000 / 2);
}

static void test_share_land(void **state)
{
	uint64_t rates[1] = {WRITER};

	(void)state;
	share_at_100(1);
	sample(1 * MS, BW_100MB, 6000000, 1 << 29, rates, 1);
	assert_int_equal(mig_policy_limit(&pol, 0), SHARE_PPS);
	/* A round of 40 MB: a quarter of the link (10 MB next) is more than
	 * 0.8 x 5 MB / 40 MB: stays a quarter. */
	sync_at(100 * MS, BW_100MB, 40000000, 40000000, rates, 1);
	assert_int_equal(mig_policy_limit(&pol, 0), SHARE_PPS);
	/* A round of 10 MB: 0.8 x 5 / 10 = 0.4 of the link lands the next
	 * round on 4 MB. */
	sync_at(100 * MS, BW_100MB, 10000000, 10000000, rates, 1);
	assert_int_equal(mig_policy_limit(&pol, 0), BW_100MB / 4096 * 400 / 1000);
	/* A round of 4.5 MB: capped at 0.8 (it switches over anyway). */
	sync_at(100 * MS, BW_100MB, 4500000, 4500000, rates, 1);
	assert_true(dec.switchover);
	assert_int_equal(mig_policy_limit(&pol, 0), BW_100MB / 4096 * 800 / 1000);
}

static void test_share_switchover(void **state)
{
	uint64_t rates[1] = {WRITER};
	struct mig_params p;

	(void)state;
	share_at_100(1);
	sample(1 * MS, BW_100MB, 6000000, 1 << 29, rates, 1);
	/* Above downtime-limit (30 MB): never. */
	sync_at(1 * MS, BW_100MB, 31000000, 31000000, rates, 1);
	assert_false(dec.switchover);
	/* Within downtime-limit, above the aim, shrinking: another round. */
	sync_at(1 * MS, BW_100MB, 20000000, 20000000, rates, 1);
	assert_false(dec.switchover);
	assert_int_equal(dec.expected_downtime_ms, 200);
	/* Not shrinking by a tenth any more: switch over within the limit. */
	sync_at(1 * MS, BW_100MB, 18500000, 18500000, rates, 1);
	assert_true(dec.switchover);
	/* Within the aim: switch over. */
	share_at_100(1);
	sync_at(1 * MS, BW_100MB, 5000000, 5000000, rates, 1);
	assert_true(dec.switchover);
	assert_int_equal(dec.expected_downtime_ms, 50);
	/* The aim never exceeds downtime-limit. */
	mig_params_default(&p);
	p.downtime_limit_ms = 20;
	mk(MIG_POLICY_DIRTY_LIMIT_SHARE, 1, &p);
	sample(100 * MS, BW_100MB, 0, 1 << 30, NULL, 0);
	assert_int_equal(dec.threshold_bytes, 2000000);
	sync_at(1 * MS, BW_100MB, 2000001, 2000001, rates, 1);
	assert_false(dec.switchover);
	sync_at(1 * MS, BW_100MB, 2000000, 2000000, rates, 1);
	assert_true(dec.switchover);
}

static void test_share_floor(void **state)
{
	uint64_t rates[2] = {WRITER, READER};

	(void)state;
	/* 2 MB/s: a quarter is 122 pages/s, under the 1 MiB/s floor. */
	mk(MIG_POLICY_DIRTY_LIMIT_SHARE, 2, NULL);
	sample(100 * MS, 2000000, 200000, 1 << 29, rates, 2);
	assert_int_equal(mig_policy_limit(&pol, 0), MIG_LIMIT_FLOOR_PPS);
	assert_int_equal(mig_policy_limit(&pol, 1), 0);
	assert_int_equal(dec.note, MIG_NOTE_FLOOR);
	assert_non_null(strstr(mig_note_text(dec.note), "floor"));
	/* 1 MB/s (244 pages/s): even the floor dirties faster than the link. */
	mk(MIG_POLICY_DIRTY_LIMIT_SHARE, 2, NULL);
	sample(100 * MS, 1000000, 200000, 1 << 29, rates, 2);
	assert_int_equal(mig_policy_limit(&pol, 0), MIG_LIMIT_FLOOR_PPS);
	assert_int_equal(dec.note, MIG_NOTE_NO_CONVERGENCE);
	assert_non_null(strstr(mig_note_text(dec.note), "cannot converge"));
}

static void test_share_writers_hysteresis(void **state)
{
	uint64_t rates[2] = {WRITER, MIG_WRITER_MIN_PPS - 1};

	(void)state;
	share_at_100(2);
	sample(1 * MS, BW_100MB, 6000000, 1 << 29, rates, 2);
	assert_int_equal(mig_policy_limit(&pol, 1), 0); /* under 1 MiB/s: not a writer */
	rates[1] = MIG_WRITER_MIN_PPS;
	sample(100 * MS, BW_100MB, 6000000, 1 << 29, rates, 2);
	assert_int_not_equal(mig_policy_limit(&pol, 1), 0); /* a writer */
	/* Once a writer, it stays one down to the release rate... */
	rates[1] = MIG_WRITER_RELEASE_PPS;
	sample(100 * MS, BW_100MB, 6000000, 1 << 29, rates, 2);
	assert_int_not_equal(mig_policy_limit(&pol, 1), 0);
	/* ...and below it, it is left alone. */
	rates[1] = MIG_WRITER_RELEASE_PPS - 1;
	sample(100 * MS, BW_100MB, 6000000, 1 << 29, rates, 2);
	assert_true(dec.limits_changed);
	assert_int_equal(mig_policy_limit(&pol, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_params_check),
	    cmocka_unit_test(test_caps_and_kind),
	    cmocka_unit_test(test_throttle_sleep),
	    cmocka_unit_test(test_bandwidth_window),
	    cmocka_unit_test(test_qemu_switchover),
	    cmocka_unit_test(test_trigger),
	    cmocka_unit_test(test_auto_converge_steps),
	    cmocka_unit_test(test_tailslow),
	    cmocka_unit_test(test_fixed_dirty_limit),
	    cmocka_unit_test(test_level),
	    cmocka_unit_test(test_share_before_first_window),
	    cmocka_unit_test(test_share_engage),
	    cmocka_unit_test(test_share_two_writers),
	    cmocka_unit_test(test_share_raised_limit),
	    cmocka_unit_test(test_share_land),
	    cmocka_unit_test(test_share_switchover),
	    cmocka_unit_test(test_share_floor),
	    cmocka_unit_test(test_share_writers_hysteresis),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * The qemu law: QEMU 8.1's dirty limit as merged (system/dirtylimit.c, the
 * same in 7.1 to 9.x).  Once a period the controller samples each limited
 * vCPU's rate (whole MB/s, as QEMU's vcpu_calculate_dirtyrate()) and tunes
 * its sleep per ring-full, QEMU's throttle_us_per_full:
 *
 *   - within a dead band of 25 MB/s of the quota, nothing;
 *   - if the error is more than 50% of the larger of quota and rate, a
 *     proportional step: pct = error * 100 / (the rate if above the quota,
 *     the quota if below), step = ring-full time * pct / (100 - pct);
 *   - otherwise a fixed step of a tenth of the ring-full time;
 *   - never below 0 nor above 99 ring-full times.
 *
 * The ring-full time is the ring's size in whole MiB over the highest rate
 * any limited vCPU was ever seen at (QEMU keeps that maximum in a static
 * variable: never reset).  The sleep is served by the vCPU once per ring's
 * worth of pages (dl_law_ring.c).  Pure: see dl_law.h, docs/dirtylimit.md.
 */
#include "dirtylimit/dl_law_ring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* DIRTYLIMIT_TOLERANCE_RANGE: no adjustment within 25 MB/s of the quota. */
#define QEMU_TOLERANCE_MIB 25
/* DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT: a proportional step above 50% error. */
#define QEMU_LINEAR_ADJUSTMENT_PCT 50
/* DIRTYLIMIT_CALC_TIME_MS: QEMU samples (and tunes) once a second. */
#define QEMU_PERIOD_NS 1000000000ull

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static bool done(uint64_t quota, uint64_t current)
{
	return max_u64(quota, current) - min_u64(quota, current) <= QEMU_TOLERANCE_MIB;
}

static bool need_linear_adjustment(uint64_t quota, uint64_t current)
{
	uint64_t lo = min_u64(quota, current), hi = max_u64(quota, current);

	return (hi - lo) * 100 / hi > QEMU_LINEAR_ADJUSTMENT_PCT;
}

/* dirtylimit_set_throttle(), integer for integer. */
static void set_throttle(struct dl_vcpu *v, struct dl_tune_ctx *ctx, uint64_t quota,
			 uint64_t current)
{
	int64_t *thr = &v->cs.throttle_us;
	int64_t full_us;
	uint64_t sleep_pct, throttle_us;

	if (current == 0) {
		*thr = 0;
		return;
	}
	full_us = (int64_t)dl_ring_full_time_us(ctx, v, current);
	if (need_linear_adjustment(quota, current)) {
		if (quota < current) {
			sleep_pct = (current - quota) * 100 / current;
			throttle_us = (uint64_t)((double)full_us * (double)sleep_pct /
						 (double)(100 - sleep_pct));
			*thr += (int64_t)throttle_us;
		} else {
			sleep_pct = (quota - current) * 100 / quota;
			throttle_us = (uint64_t)((double)full_us * (double)sleep_pct /
						 (double)(100 - sleep_pct));
			*thr -= (int64_t)throttle_us;
		}
	} else {
		if (quota < current)
			*thr += full_us / 10;
		else
			*thr -= full_us / 10;
	}
	if (*thr > full_us * DL_RING_THROTTLE_PCT_MAX)
		*thr = full_us * DL_RING_THROTTLE_PCT_MAX;
	if (*thr < 0)
		*thr = 0;
}

static void qemu_tune(struct dl_vcpu *v, struct dl_tune_ctx *ctx, const struct dl_tune_in *in)
{
	uint64_t quota = in->limit_pps >> 8, current = dl_ring_rate_mib(in);

	/* Only enabled vCPUs; a cancelled one keeps its throttle (QEMU
	 * leaves throttle_us_per_full as it was) but does not sleep. */
	v->cs.rate_mib = current;
	if (!in->limit_pps)
		return;
	if (!done(quota, current))
		set_throttle(v, ctx, quota, current);
	dl_law_publish(v, &dl_law_qemu, (uint64_t)v->cs.throttle_us, UINT64_MAX);
}

static void qemu_start(struct dl_vcpu *v, uint64_t now_ns)
{
	(void)now_ns;
	v->limit = 0;
}

static void qemu_account(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns, uint64_t now_ns,
			 uint64_t limit, struct dl_action *out)
{
	(void)ran_ns;
	(void)now_ns;
	dl_ring_account(v, pages, limit, out);
}

static int qemu_option(struct dl_law_cfg *cfg, const char *key, const char *value, char *err,
		       size_t errlen)
{
	if (strcmp(key, "sync") == 0 && (strcmp(value, "wait") == 0 || strcmp(value, "no") == 0)) {
		cfg->sync_wait = strcmp(value, "wait") == 0;
		return 0;
	}
	snprintf(err, errlen, "%s: unknown option %s=%s (known: sync=wait|no)", cfg->law->name, key,
		 value);
	return -EINVAL;
}

const struct dl_law dl_law_qemu = {
    .name = "qemu",
    .summary = "QEMU 8.1's: a sleep per ring-full, tuned once a period (1000 ms) with a "
	       "25 MB/s dead band",
    .period_ns = QEMU_PERIOD_NS,
    .sample_reaps_rings = true,
    .option = qemu_option,
    .start = qemu_start,
    .account = qemu_account,
    .tune = qemu_tune,
};

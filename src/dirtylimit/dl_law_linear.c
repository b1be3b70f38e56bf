// SPDX-License-Identifier: MIT
/*
 * The linear law: the "simplest linear algorithm" the review of the first
 * dirty limit patches asked for (Peter Xu, qemu-devel, December 2021): one
 * number per vCPU, the time to sleep per ring-full, tuned once a second
 * from every vCPU's sampled rate:
 *
 *     if (quota < current) throttle += SOMETHING, at most MAX;
 *     else                 throttle -= SOMETHING, at least 0;
 *
 * and, "for a very stable and constant state", an integral term, as an
 * option.  The review leaves SOMETHING, MAX and the integral open; we take
 * QEMU's own scale so that the law differs from the qemu law only in its
 * rule: SOMETHING = a tenth of the ring-full time (QEMU's fixed step), MAX =
 * 99 ring-full times (QEMU's cap), same sensor, same actuator
 * (dl_law_ring.c).  No dead band: the rule as written steps every period.
 *
 * Integral term (ki=K): the sleep also moves by K ring-full times per 100%
 * of error each period, K * full * (current - quota) / quota: the sleep is
 * then K times the integral of the relative error on top of the review's
 * integral of its sign.  Near the quota the loop gain is K * quota / (the
 * vCPU's own speed) <= K: K = 1 converges without overshoot at every limit.
 * Pure: see dl_law.h, docs/dirtylimit.md.
 */
#include "dirtylimit/dl_law_ring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Once a second, as the review proposes (and QEMU does). */
#define LINEAR_PERIOD_NS 1000000000ull
/* The step: a tenth of the ring-full time, QEMU's fixed step. */
#define LINEAR_STEP_DIV 10
/* The largest gain accepted: above 2 the loop is unstable near the quota. */
#define LINEAR_KI_MAX_MILLI 100000

static void linear_tune(struct dl_vcpu *v, struct dl_tune_ctx *ctx, const struct dl_tune_in *in)
{
	uint64_t quota = in->limit_pps >> 8, current = dl_ring_rate_mib(in);
	int64_t *thr = &v->cs.throttle_us, full_us, cap;

	v->cs.rate_mib = current;
	if (!in->limit_pps)
		return;
	full_us = (int64_t)dl_ring_full_time_us(ctx, v, current);
	if (!full_us)
		return; /* nothing ever dirtied: no scale yet */
	if (quota < current)
		*thr += full_us / LINEAR_STEP_DIV;
	else
		*thr -= full_us / LINEAR_STEP_DIV;
	if (ctx->cfg->ki_milli) {
		double e = ((double)current - (double)quota) / (double)(quota ? quota : 1);

		*thr += (int64_t)((double)ctx->cfg->ki_milli / 1000.0 * (double)full_us * e);
	}
	cap = full_us * DL_RING_THROTTLE_PCT_MAX;
	if (*thr > cap)
		*thr = cap;
	if (*thr < 0)
		*thr = 0;
	dl_law_publish(v, &dl_law_linear, (uint64_t)*thr, UINT64_MAX);
}

static void linear_start(struct dl_vcpu *v, uint64_t now_ns)
{
	(void)now_ns;
	v->limit = 0;
}

static void linear_account(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns, uint64_t now_ns,
			   uint64_t limit, struct dl_action *out)
{
	(void)ran_ns;
	(void)now_ns;
	dl_ring_account(v, pages, limit, out);
}

/* ki=K with up to three decimals (0 .. 100), or sync=wait|no. */
static int linear_option(struct dl_law_cfg *cfg, const char *key, const char *value, char *err,
			 size_t errlen)
{
	if (strcmp(key, "ki") == 0) {
		char *end;
		double k = strtod(value, &end);

		if (*end || end == value || !(k >= 0) || k * 1000 > LINEAR_KI_MAX_MILLI) {
			snprintf(err, errlen, "linear: ki=%s: expected a number from 0 to %d",
				 value, LINEAR_KI_MAX_MILLI / 1000);
			return -EINVAL;
		}
		cfg->ki_milli = (uint32_t)(k * 1000 + 0.5);
		return 0;
	}
	if (strcmp(key, "sync") == 0 && (strcmp(value, "wait") == 0 || strcmp(value, "no") == 0)) {
		cfg->sync_wait = strcmp(value, "wait") == 0;
		return 0;
	}
	snprintf(err, errlen, "linear: unknown option %s=%s (known: ki=K, sync=wait|no)", key,
		 value);
	return -EINVAL;
}

const struct dl_law dl_law_linear = {
    .name = "linear",
    .summary = "the review's: the same sleep per ring-full, a fixed step up or down once a "
	       "period (1000 ms); ki=K adds an integral term",
    .period_ns = LINEAR_PERIOD_NS,
    .sample_reaps_rings = true,
    .option = linear_option,
    .start = linear_start,
    .account = linear_account,
    .tune = linear_tune,
};

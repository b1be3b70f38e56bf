// SPDX-License-Identifier: MIT
/*
 * The pct law: the first version's per-vCPU percentage throttle (Hyman
 * Huang, "support dirty restraint on vCPU", qemu-devel, November-December
 * 2021, v1 to v9), as its patches describe it.
 *
 * A decision per vCPU, once a period (the patches: every 15 s,
 * DIRTYLIMIT_CALC_PERIOD_TIME_S), from the vCPU's rate over 1 s
 * (DIRTYLIMIT_CALC_TIME_MS), whole MB/s:
 *
 *   - at the set: pct = (current - quota) * 100 / current, at most 75, or 0
 *     if current is within 15 MB/s of the quota or below it;
 *   - then, from the last percentage, unless within 15 MB/s (keep):
 *       [0, 75)  RESTRAIN_RATIO: up by (current - quota) * 100 / current, at
 *                most 75; down by (quota - current) * 100 / quota, to 0 if
 *                that is all of it, else at least 1;
 *       [75, 90) RESTRAIN_HEAVY: up or down by 5, up at most 90;
 *       [90, 99] RESTRAIN_SLIGHT: up or down by 2, up at most 99;
 *     and 0 if below the quota with a percentage of 2 or less (or a rate
 *     of 0).
 *
 * The throttle is auto-converge's, for one vCPU: every 10 ms of running
 * (CPU_THROTTLE_TIMESLICE_NS) the vCPU sleeps pct / (1 - pct) * 10 ms.  It
 * holds for the whole period: a cancel takes effect at the end of it, as
 * the patches' throttle thread finishes its 15 s before it looks again.
 *
 * The patches sample in one thread (1 s of every 16) and decide in another
 * (every 15 s), unsynchronised, so the rate a decision reads is 0 to 16 s
 * old; we read the second just before each decision (the freshest the
 * design allows).  Both threads start with the first limit, so that first
 * decision reads a rate of 0 (not measured yet): the vCPU runs free for a
 * period; later sets read a measured rate.  The version the review measured (v9) is this one; v1
 * halved the RATIO steps.  Pure: see dl_law.h, docs/dirtylimit.md.
 */
#include "dirtylimit/dl_law.h"

/* DIRTYLIMIT_TOLERANCE_RANGE of the patches: 15 MB/s. */
#define PCT_TOLERANCE_MIB    15
#define PCT_HEAVY_WATERMARK  75
#define PCT_SLIGHT_WATERMARK 90
#define PCT_HEAVY_STEP	     5
#define PCT_SLIGHT_STEP	     2
/* CPU_THROTTLE_PCT_MIN / _MAX of QEMU's cpu-throttle.c. */
#define PCT_MIN 1
#define PCT_MAX 99
/* CPU_THROTTLE_TIMESLICE_NS: run 10 ms, then sleep. */
#define PCT_TIMESLICE_NS 10000000ull
/* DIRTYLIMIT_CALC_PERIOD_TIME_S: a decision holds 15 s. */
#define PCT_PERIOD_NS 15000000000ull
/* DIRTYLIMIT_CALC_TIME_MS: the rate is measured over 1 s. */
#define PCT_WINDOW_NS 1000000000ull
/*
 * A percentage holds until its period ends plus this: the next decision is
 * due exactly then, and a controller a little late must not leave the vCPU
 * unthrottled for a moment.
 */
#define PCT_HOLD_SLACK_NS 100000000ull

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* dirtylimit_init_pct() */
static uint64_t init_pct(uint64_t quota, uint64_t current)
{
	if (quota >= current || current == 0 || current - quota <= PCT_TOLERANCE_MIB)
		return 0;
	return min_u64((current - quota) * 100 / current, PCT_HEAVY_WATERMARK);
}

/* dirtylimit_pct() */
static uint64_t next_pct(uint64_t last, uint64_t quota, uint64_t current)
{
	bool mitigate = quota > current;
	uint64_t d;

	if (mitigate && (current == 0 || last <= PCT_SLIGHT_STEP))
		return 0;
	if (max_u64(quota, current) - min_u64(quota, current) <= PCT_TOLERANCE_MIB)
		return last;		  /* RESTRAIN_KEEP */
	if (last < PCT_HEAVY_WATERMARK) { /* RESTRAIN_RATIO */
		if (mitigate) {
			d = (quota - current) * 100 / quota;
			return last <= d ? 0 : max_u64(last - d, PCT_MIN);
		}
		return min_u64(last + (current - quota) * 100 / current, PCT_HEAVY_WATERMARK);
	}
	if (last < PCT_SLIGHT_WATERMARK) /* RESTRAIN_HEAVY */
		return mitigate ? last - PCT_HEAVY_STEP
				: min_u64(last + PCT_HEAVY_STEP, PCT_SLIGHT_WATERMARK);
	/* RESTRAIN_SLIGHT */
	return mitigate ? last - PCT_SLIGHT_STEP : min_u64(last + PCT_SLIGHT_STEP, PCT_MAX);
}

static void pct_tune(struct dl_vcpu *v, struct dl_tune_ctx *ctx, const struct dl_tune_in *in)
{
	uint64_t ms = in->window_ns / 1000000, quota = in->limit_pps >> 8;
	/* (pages * TARGET_PAGE_SIZE >> 20) * 1000 / calc_time; 0 until the
	 * rate thread, started with the first limit, has measured once. */
	uint64_t current = ms && !in->unmeasured ? (in->pages >> 8) * 1000 / ms : 0;

	v->cs.rate_mib = current;
	if (!in->limit_pps) {
		/* Cancelled: the throttle thread ends with its period. */
		v->cs.on = false;
		v->cs.pct = 0;
		return;
	}
	if (in->first || !v->cs.on) {
		v->cs.on = true;
		v->cs.pct = (uint32_t)init_pct(quota, current);
	} else {
		v->cs.pct = (uint32_t)next_pct(v->cs.pct, quota, current);
	}
	dl_law_publish(v, &dl_law_pct, v->cs.pct, in->now_ns + ctx->period_ns + PCT_HOLD_SLACK_NS);
}

static void pct_start(struct dl_vcpu *v, uint64_t now_ns)
{
	(void)now_ns;
	v->limit = 0;
}

/* pct / (1 - pct) * 10 ms, plus 1 ns for the double's rounding, as the patches. */
static uint64_t pct_sleep_ns(uint64_t pct)
{
	double p = (double)pct / 100;

	return (uint64_t)(p / (1 - p) * (double)PCT_TIMESLICE_NS + 1);
}

static void pct_account(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns, uint64_t now_ns,
			uint64_t limit, struct dl_action *out)
{
	struct dl_tuned_vstate *t = &v->vs.t;
	uint64_t until, pct;

	(void)pages;
	v->limit = limit;
	if (dl_law_serve_debt(v, v->p.tick_ns, out))
		return;
	pct = dl_law_output(v, &until);
	if (!pct || now_ns >= until) {
		t->run_acc = 0;
		return;
	}
	t->run_acc += ran_ns;
	if (t->run_acc >= PCT_TIMESLICE_NS) {
		t->run_acc = 0;
		t->owe_ns = pct_sleep_ns(pct);
		dl_law_serve_debt(v, min_u64(v->p.tick_ns, PCT_TIMESLICE_NS), out);
		return;
	}
	out->slice_ns = min_u64(v->p.tick_ns, PCT_TIMESLICE_NS - t->run_acc);
}

const struct dl_law dl_law_pct = {
    .name = "pct",
    .summary = "the first version's: a percentage per vCPU, auto-converge-style sleeps, "
	       "decided once a period (15 s) from 1 s of rate",
    .period_ns = PCT_PERIOD_NS,
    .window_ns = PCT_WINDOW_NS,
    .tune_at_set = true,
    .start = pct_start,
    .account = pct_account,
    .tune = pct_tune,
};

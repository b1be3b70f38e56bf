// SPDX-License-Identifier: MIT
/*
 * Convergence policies: parameters, bandwidth windows, QEMU's trigger and
 * switchover rule, auto-converge and QEMU's fixed dirty-limit.  Ours (the
 * share law) is in mig_policy_share.c.  See mig_policy.h.
 */
#include "migrate/mig_policy.h"
#include "migrate/mig_policy_share.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_S  1000000000ull
#define MS_PER_S  1000ull
#define PAGES_MIB 256u /* pages per MiB: QEMU's "MB" in dirty rates */

/* QEMU's defaults (migration/options.c). */
#define DEFAULT_DOWNTIME_LIMIT_MS  300ull
#define DEFAULT_MAX_BANDWIDTH	   (128ull << 20) /* MAX_THROTTLE */
#define DEFAULT_TRIGGER_THRESHOLD  50u
#define DEFAULT_THROTTLE_INITIAL   20u
#define DEFAULT_THROTTLE_INCREMENT 10u
#define DEFAULT_MAX_CPU_THROTTLE   99u
#define DEFAULT_VCPU_DIRTY_LIMIT   1ull	   /* MB/s */
#define DEFAULT_DIRTY_LIMIT_PERIOD 1000ull /* ms */
/* QEMU's limits (options.c): MAX_MIGRATE_DOWNTIME, 2000 s. */
#define MAX_DOWNTIME_LIMIT_MS 2000000ull
/* cpu_throttle_set() clamps to CPU_THROTTLE_PCT_MIN..MAX. */
#define THROTTLE_PCT_MIN 1u
#define THROTTLE_PCT_MAX 99u

void mig_params_default(struct mig_params *p)
{
	*p = (struct mig_params){
	    .downtime_limit_ms = DEFAULT_DOWNTIME_LIMIT_MS,
	    .max_bandwidth = DEFAULT_MAX_BANDWIDTH,
	    .throttle_trigger_threshold = DEFAULT_TRIGGER_THRESHOLD,
	    .cpu_throttle_initial = DEFAULT_THROTTLE_INITIAL,
	    .cpu_throttle_increment = DEFAULT_THROTTLE_INCREMENT,
	    .max_cpu_throttle = DEFAULT_MAX_CPU_THROTTLE,
	    .cpu_throttle_tailslow = false,
	    .vcpu_dirty_limit = DEFAULT_VCPU_DIRTY_LIMIT,
	    .vcpu_dirty_limit_set = false,
	    .x_vcpu_dirty_limit_period_ms = DEFAULT_DIRTY_LIMIT_PERIOD,
	    .x_io_timeout_ms = MIG_IO_TIMEOUT_DEFAULT_MS,
	    .x_digest_audit = MIG_DIGEST_AUDIT_DEFAULT_BYTES,
	};
}

static int bad(char *err, size_t len, const char *name, const char *expects)
{
	/* QEMU's QERR_INVALID_PARAMETER_VALUE. */
	if (len)
		snprintf(err, len, "Parameter '%s' expects %s", name, expects);
	return -EINVAL;
}

int mig_params_check(const struct mig_params *p, char *err, size_t len)
{
	if (p->throttle_trigger_threshold < 1 || p->throttle_trigger_threshold > 100)
		return bad(err, len, "throttle-trigger-threshold",
			   "an integer in the range of 1 to 100");
	if (p->cpu_throttle_initial < 1 || p->cpu_throttle_initial > 99)
		return bad(err, len, "cpu-throttle-initial", "an integer in the range of 1 to 99");
	if (p->cpu_throttle_increment < 1 || p->cpu_throttle_increment > 99)
		return bad(err, len, "cpu-throttle-increment",
			   "an integer in the range of 1 to 99");
	if (p->downtime_limit_ms > MAX_DOWNTIME_LIMIT_MS)
		return bad(err, len, "downtime-limit",
			   "an integer in the range of 0 to 2000000 ms");
	if (p->max_cpu_throttle < p->cpu_throttle_initial || p->max_cpu_throttle > 99)
		return bad(err, len, "max-cpu-throttle",
			   "an integer in the range of cpu-throttle-initial to 99");
	if (p->x_vcpu_dirty_limit_period_ms < 1 || p->x_vcpu_dirty_limit_period_ms > 1000)
		return bad(err, len, "x-vcpu-dirty-limit-period", "a value between 1 and 1000");
	if (p->x_io_timeout_ms < MIG_IO_TIMEOUT_MIN_MS ||
	    p->x_io_timeout_ms > MIG_IO_TIMEOUT_MAX_MS)
		return bad(err, len, "x-io-timeout", "a value between 100 and 3600000 (ms)");
	if (p->vcpu_dirty_limit < 1)
		return bad(err, len, "vcpu-dirty-limit", "an integer of at least 1 MB/s");
	return 0;
}

int mig_caps_check(const struct mig_caps *c, char *err, size_t len)
{
	if (c->dirty_limit && c->auto_converge) {
		if (len)
			snprintf(err, len,
				 "dirty-limit conflicts with auto-converge: "
				 "enable one of them");
		return -EINVAL;
	}
	return 0;
}

enum mig_policy_kind mig_policy_kind_of(const struct mig_caps *c, const struct mig_params *p)
{
	if (c->auto_converge)
		return MIG_POLICY_AUTO_CONVERGE;
	if (c->dirty_limit)
		return p->vcpu_dirty_limit_set ? MIG_POLICY_DIRTY_LIMIT_FIXED
					       : MIG_POLICY_DIRTY_LIMIT_SHARE;
	return MIG_POLICY_NONE;
}

const char *mig_policy_name(enum mig_policy_kind k)
{
	switch (k) {
	case MIG_POLICY_NONE:
		return "none";
	case MIG_POLICY_AUTO_CONVERGE:
		return "auto-converge";
	case MIG_POLICY_DIRTY_LIMIT_FIXED:
		return "dirty-limit (fixed)";
	case MIG_POLICY_DIRTY_LIMIT_SHARE:
		return "dirty-limit (share)";
	}
	return "?";
}

const char *mig_note_text(enum mig_note n)
{
	switch (n) {
	case MIG_NOTE_NONE:
		return "";
	case MIG_NOTE_FLOOR:
		return "link too slow for the share: writers held at the 1 MiB/s floor";
	case MIG_NOTE_NO_CONVERGENCE:
		return "cannot converge: at the floor the guest still dirties as fast as the "
		       "link moves; raise downtime-limit or cancel";
	}
	return "?";
}

void mig_share_default(struct mig_share *s)
{
	*s = (struct mig_share){
	    .share_permille = MIG_SHARE_PERMILLE,
	    .aim_ms = MIG_DOWNTIME_AIM_MS,
	    .land_permille = MIG_LAND_PERMILLE,
	};
}

int mig_policy_init(struct mig_policy *p, const struct mig_caps *caps, const struct mig_params *prm,
		    const struct mig_share *share, unsigned nvcpus, uint64_t total_bytes)
{
	if (!nvcpus || nvcpus > MIG_MAX_VCPUS)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->kind = mig_policy_kind_of(caps, prm);
	p->prm = *prm;
	if (share)
		p->sh = *share;
	else
		mig_share_default(&p->sh);
	p->nvcpus = nvcpus;
	p->round_bytes = total_bytes;
	p->prev_round_bytes = total_bytes;
	p->expected_downtime_ms = prm->downtime_limit_ms; /* QEMU's, until measured */
	return 0;
}

void mig_policy_start(struct mig_policy *p, uint64_t now_ns)
{
	p->period_start_ns = now_ns;
}

void mig_policy_set_params(struct mig_policy *p, const struct mig_params *prm)
{
	p->prm = *prm;
}

uint64_t mig_policy_limit(const struct mig_policy *p, unsigned i)
{
	return i < p->nvcpus ? p->limit_pps[i] : 0;
}

const uint64_t *mig_policy_limits(const struct mig_policy *p)
{
	return p->limit_pps;
}

enum mig_policy_kind mig_policy_kind(const struct mig_policy *p)
{
	return p->kind;
}

uint64_t mig_throttle_sleep_ns(unsigned pct)
{
	if (!pct)
		return 0;
	if (pct < THROTTLE_PCT_MIN)
		pct = THROTTLE_PCT_MIN;
	if (pct > THROTTLE_PCT_MAX)
		pct = THROTTLE_PCT_MAX;
	/* QEMU computes pct / (1 - pct) in double and adds 1 ns against its
	 * rounding; this is the same quotient, exact. */
	return MIG_THROTTLE_SLICE_NS * pct / (100 - pct);
}

/* Bytes that fit in ms at the measured bandwidth. */
static uint64_t bytes_in_ms(const struct mig_policy *p, uint64_t ms)
{
	return (uint64_t)((unsigned __int128)p->bw * ms / MS_PER_S);
}

/* QEMU's threshold_size: what may remain to switch over within
 * downtime-limit. */
static uint64_t qemu_threshold(const struct mig_policy *p)
{
	return bytes_in_ms(p, p->prm.downtime_limit_ms);
}

/* Returns true when a bandwidth window closed. */
static bool account_sent(struct mig_policy *p, const struct mig_obs *o)
{
	p->win_bytes += o->sent_bytes;
	p->win_ns += o->sent_ns;
	p->period_sent += o->sent_bytes;
	if (p->win_ns < MIG_BW_WINDOW_NS)
		return false;
	p->bw = (uint64_t)((unsigned __int128)p->win_bytes * NS_PER_S / p->win_ns);
	p->win_bytes = 0;
	p->win_ns = 0;
	return true;
}

static bool set_limit(struct mig_policy *p, unsigned i, uint64_t pps)
{
	if (p->limit_pps[i] == pps)
		return false;
	p->limit_pps[i] = pps;
	return true;
}

/* QEMU's mig_throttle_guest_down(). */
static void throttle_down(struct mig_policy *p, uint64_t dirty, uint64_t threshold)
{
	const struct mig_params *m = &p->prm;
	unsigned now = p->throttle_pct, next, inc;

	if (!now) {
		next = m->cpu_throttle_initial;
	} else {
		inc = m->cpu_throttle_increment;
		if (m->cpu_throttle_tailslow) {
			/* The CPU share that would bring the dirty bytes
			 * down to the threshold, if dirtying scales with it. */
			uint64_t cpu_now = 100 - now;
			uint64_t ideal = (uint64_t)((double)cpu_now * ((double)threshold / dirty));

			if (cpu_now - ideal < inc)
				inc = (unsigned)(cpu_now - ideal);
		}
		next = now + inc;
		if (next > m->max_cpu_throttle)
			next = m->max_cpu_throttle;
	}
	if (next < THROTTLE_PCT_MIN)
		next = THROTTLE_PCT_MIN;
	if (next > THROTTLE_PCT_MAX)
		next = THROTTLE_PCT_MAX;
	p->throttle_pct = next;
}

/* QEMU's migration_dirty_limit_guest(): every vCPU at vcpu-dirty-limit. */
static bool fixed_limit(struct mig_policy *p)
{
	uint64_t mib = p->prm.vcpu_dirty_limit;
	uint64_t pps = mib > UINT64_MAX / PAGES_MIB ? UINT64_MAX : mib * PAGES_MIB;
	bool changed = false;

	for (unsigned i = 0; i < p->nvcpus; i++)
		changed |= set_limit(p, i, pps);
	p->limiting = true;
	return changed;
}

/*
 * QEMU's migration_trigger_throttle(), at a sync: once the period is over a
 * second old, compare the bytes dirtied in it with throttle-trigger-
 * threshold % of the bytes sent in it; the second time it is above (not
 * necessarily in a row), act and count again from zero.
 */
static bool trigger(struct mig_policy *p, const struct mig_obs *o)
{
	bool changed = false;

	p->period_dirty += o->dirty_bytes;
	if (o->now_ns <= p->period_start_ns + MIG_TRIGGER_PERIOD_NS)
		return false;
	if (p->kind == MIG_POLICY_AUTO_CONVERGE || p->kind == MIG_POLICY_DIRTY_LIMIT_FIXED) {
		uint64_t threshold = (uint64_t)((unsigned __int128)p->period_sent *
						p->prm.throttle_trigger_threshold / 100);

		if (p->period_dirty > threshold && ++p->high_count >= 2) {
			p->high_count = 0;
			if (p->kind == MIG_POLICY_AUTO_CONVERGE)
				throttle_down(p, p->period_dirty, threshold);
			else
				changed = fixed_limit(p);
		}
	}
	p->period_start_ns = o->now_ns;
	p->period_sent = 0;
	p->period_dirty = 0;
	return changed;
}

static void decide(struct mig_policy *p, struct mig_decision *d)
{
	d->bandwidth = p->bw;
	if (p->bw && p->synced)
		p->expected_downtime_ms =
		    (uint64_t)((unsigned __int128)p->last_sync_remaining * MS_PER_S / p->bw);
	d->expected_downtime_ms = p->expected_downtime_ms;
	d->threshold_bytes =
	    p->kind == MIG_POLICY_DIRTY_LIMIT_SHARE ? mig_share_threshold(p) : qemu_threshold(p);
	d->throttle_pct = p->throttle_pct;
	d->note = p->note;
}

void mig_policy_sample(struct mig_policy *p, const struct mig_obs *o, struct mig_decision *d)
{
	bool fresh;

	memset(d, 0, sizeof(*d));
	fresh = account_sent(p, o);
	if (p->kind == MIG_POLICY_DIRTY_LIMIT_SHARE)
		d->limits_changed = mig_share_update(p, o, fresh);
	decide(p, d);
}

void mig_policy_sync(struct mig_policy *p, const struct mig_obs *o, struct mig_decision *d)
{
	uint64_t rem = o->remaining_bytes;

	memset(d, 0, sizeof(*d));
	account_sent(p, o);
	p->syncs++;
	p->prev_round_bytes = p->round_bytes;
	p->round_bytes = rem;
	p->last_sync_remaining = rem;
	p->synced = true;
	d->limits_changed = trigger(p, o);
	if (p->kind == MIG_POLICY_DIRTY_LIMIT_SHARE)
		d->limits_changed |= mig_share_update(p, o, true);
	decide(p, d);
	/* QEMU: switch over when what remains fits in downtime-limit at the
	 * measured bandwidth, or when nothing remains. */
	if (p->kind == MIG_POLICY_DIRTY_LIMIT_SHARE)
		d->switchover = mig_share_switchover(p, rem);
	else
		d->switchover = rem == 0 || rem <= qemu_threshold(p);
}

// SPDX-License-Identifier: MIT
/*
 * Ours: the share law.  The writing vCPUs together may dirty a share of the
 * measured link (a quarter by default), so that each round is at most that
 * share of the one before; the last rounds may use more, as much as still
 * lands the next round within the downtime aim.  The share is split by
 * water-filling: a writer that needs less than an equal part keeps what it
 * needs, the rest goes to the others.  Readers and idle vCPUs are never
 * limited.  docs/migration.md, "Converging", explains the law.
 */
#include "migrate/mig_policy_share.h"

#define PERMILLE 1000u
#define MS_PER_S 1000ull

uint64_t mig_share_aim_ms(const struct mig_policy *p)
{
	return p->sh.aim_ms < p->prm.downtime_limit_ms ? p->sh.aim_ms : p->prm.downtime_limit_ms;
}

/*
 * The link's rate for the law: the measured bandwidth, or until the first
 * window closes (100 ms of sending), max-bandwidth, the link's cap (0: no
 * cap, nothing known).  Waiting for the measurement let a writer run free
 * for the first ~150 ms of the first pass: at 521 MiB/s that rewrote the
 * whole 80 MiB set of the `hot` case, so the second round was the whole
 * set again (docs/migration.md, "Converging").  The switchover still
 * waits for a measurement (mig_share_switchover()).
 */
static uint64_t link_bw(const struct mig_policy *p)
{
	return p->bw ? p->bw : p->prm.max_bandwidth;
}

static uint64_t bytes_in_ms(const struct mig_policy *p, uint64_t ms)
{
	return (uint64_t)((unsigned __int128)link_bw(p) * ms / MS_PER_S);
}

uint64_t mig_share_threshold(const struct mig_policy *p)
{
	return bytes_in_ms(p, mig_share_aim_ms(p));
}

uint64_t mig_policy_level(uint64_t budget, const uint64_t *demand, unsigned n)
{
	uint64_t known[MIG_MAX_VCPUS], rest = budget;
	unsigned m = 0, held = 0;

	if (!n || n > MIG_MAX_VCPUS)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		if (demand[i] == UINT64_MAX) {
			held++;
			continue;
		}
		/* Insertion sort: n is at most a few hundred, once per sample. */
		unsigned j = m++;

		while (j && known[j - 1] > demand[i]) {
			known[j] = known[j - 1];
			j--;
		}
		known[j] = demand[i];
	}
	/* Fill from the smallest demand up: a vCPU that needs less than an
	 * equal part of what is left gets what it needs. */
	for (unsigned k = 0; k < m; k++) {
		uint64_t level = rest / (m - k + held);

		if (known[k] >= level)
			return level;
		rest -= known[k];
	}
	if (held)
		return rest / held;
	/* Every demand fits: the level leaves the slack to whichever vCPU
	 * speeds up first (any one alone stays within the budget). */
	return known[m - 1] + rest;
}

/* The share of the link for this round, 1/1000: the configured share, or
 * more in the last rounds, as much as lands the next round on land x the
 * aim's threshold (the round takes round_bytes / bw, dirtying share x bw
 * per second: share x round_bytes in all). */
static uint64_t share_permille(const struct mig_policy *p)
{
	uint64_t share = p->sh.share_permille, land;

	if (!p->round_bytes)
		return share;
	land = (uint64_t)((unsigned __int128)mig_share_threshold(p) * p->sh.land_permille /
			  p->round_bytes);
	if (land > p->sh.land_permille)
		land = p->sh.land_permille;
	return land > share ? land : share;
}

/* Whether a new limit differs enough from the one in force to be set: a
 * new limit costs the vCPU a kick and restarts its bucket empty
 * (docs/dirtylimit.md), so drifts of a few pages/s, as the readers'
 * background wobbles, are not passed on.  Setting or lifting always is. */
static bool moved(uint64_t old, uint64_t want)
{
	uint64_t diff = old > want ? old - want : want - old;

	return !old || !want ||
	       (unsigned __int128)diff * PERMILLE >
		   (unsigned __int128)old * MIG_LIMIT_DEADBAND_PERMILLE;
}

/* Recompute every vCPU's limit from the bandwidth and the measured rates. */
static bool relimit(struct mig_policy *p, const struct mig_obs *o)
{
	uint64_t demand[MIG_MAX_VCPUS];
	uint64_t bw_pps = link_bw(p) / MIG_PAGE_SIZE;
	uint64_t budget = (uint64_t)((unsigned __int128)bw_pps * share_permille(p) / PERMILLE);
	uint64_t others = 0, level, window = p->prm.x_vcpu_dirty_limit_period_ms * 1000000;
	unsigned n = 0, known = o->nvcpus < p->nvcpus ? o->nvcpus : p->nvcpus;
	bool changed = false;

	/* Writers: at least 1 MiB/s; a writer stays one until its rate falls
	 * below the release rate (a vCPU held at the floor measures the
	 * floor).  Everyone else is never limited, and what they dirty comes
	 * out of the budget. */
	for (unsigned i = 0; i < p->nvcpus; i++) {
		uint64_t rate = i < known ? o->vcpu_pps[i] : 0;

		if (p->writer[i] && rate < MIG_WRITER_RELEASE_PPS)
			p->writer[i] = false;
		else if (!p->writer[i] && rate >= MIG_WRITER_MIN_PPS)
			p->writer[i] = true;
		if (!p->writer[i]) {
			others += rate;
			continue;
		}
		/* Held at its limit: it would dirty more, how much is unknown.
		 * The rate covers the last window: compare it with the lowest
		 * limit of that window, or a raised limit would make a held
		 * vCPU look satisfied. */
		if (o->now_ns >= p->ref_until_ns[i])
			p->ref_pps[i] = p->limit_pps[i];
		if (p->ref_pps[i] && (unsigned __int128)rate * PERMILLE >=
					 (unsigned __int128)p->ref_pps[i] * MIG_BOUND_PERMILLE)
			demand[n++] = UINT64_MAX;
		else
			demand[n++] = rate;
	}
	p->note = MIG_NOTE_NONE;
	level = mig_policy_level(budget > others ? budget - others : 0, demand, n);
	if (n && level < MIG_LIMIT_FLOOR_PPS) {
		level = MIG_LIMIT_FLOOR_PPS;
		p->note = (uint64_t)n * MIG_LIMIT_FLOOR_PPS + others >= bw_pps
			      ? MIG_NOTE_NO_CONVERGENCE
			      : MIG_NOTE_FLOOR;
	}
	for (unsigned i = 0; i < p->nvcpus; i++) {
		uint64_t want = p->writer[i] ? level : 0;

		if (p->limit_pps[i] == want || !moved(p->limit_pps[i], want))
			continue;
		if (!want || !p->ref_pps[i] || want < p->ref_pps[i])
			p->ref_pps[i] = want;
		else
			p->ref_until_ns[i] = o->now_ns + window;
		p->limit_pps[i] = want;
		changed = true;
	}
	return changed;
}

bool mig_share_update(struct mig_policy *p, const struct mig_obs *o, bool fresh)
{
	if (!link_bw(p) || !o->vcpu_pps)
		return false;
	/* Leave the guest alone while what it dirties between two syncs would
	 * fit in the aim: a small hot working set needs no limit.  Checked at
	 * every call: engaging late costs a round. */
	if (!p->limiting) {
		if (o->dirty_bytes <= mig_share_threshold(p))
			return false;
		p->limiting = true;
		fresh = true;
	}
	/* The inputs (bandwidth, round) change at windows and syncs; between
	 * them only the rates drift. */
	return fresh && relimit(p, o);
}

bool mig_share_switchover(const struct mig_policy *p, uint64_t rem)
{
	if (!rem)
		return true;
	if (!p->bw)
		return false;
	if (rem <= mig_share_threshold(p))
		return true;
	if (rem > bytes_in_ms(p, p->prm.downtime_limit_ms))
		return false;
	/* Within downtime-limit but above the aim: another round is worth it
	 * only while rounds still shrink. */
	return p->syncs >= 2 && (unsigned __int128)rem * PERMILLE >
				    (unsigned __int128)p->prev_round_bytes * MIG_STALL_PERMILLE;
}

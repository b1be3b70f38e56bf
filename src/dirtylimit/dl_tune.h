/* SPDX-License-Identifier: MIT */
/*
 * dl_tune: when and with what the controller tunes the laws that need it
 * (dl_law.h: qemu, linear, pct).  Pure: the caller (the controller thread
 * in vmm, the simulator in dl_sim.c) calls dl_tune_tick() on its own clock
 * with every vCPU's cumulative harvested page count; no lock, one owner.
 *
 * As QEMU's stats thread: tuning starts when the first vCPU gets a limit
 * (the first sample is one period long) and stops when none has one; each
 * tuning samples every vCPU over the period since the last (or, for a law
 * with a shorter window, over that window) and calls the law's tune() for
 * each.  A law with tune_at_set is also tuned at once for a vCPU whose
 * limit appears.  With sync_wait the sample waits until no limited vCPU is
 * asleep, and is divided by the nominal period (QEMU's ring flush kicks
 * every vCPU synchronously, so its stats thread waits out their sleeps).
 */
#ifndef DL_TUNE_H
#define DL_TUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "dirtylimit/dl_law.h"
#include "dirtylimit/dl_rate.h"

struct dl_tune {
	struct dl_law_cfg cfg;
	uint64_t period_req_ns; /* asked for; 0: the law's own */
	struct dl_tune_ctx ctx;
	int n;
	bool active;	      /* some vCPU has a limit */
	bool ever_active;     /* since the law was set */
	uint64_t from_ns;     /* start of the sample */
	uint64_t due_ns;      /* end of the sample (the next tuning) */
	uint64_t gen;	      /* samples that reaped the rings */
	uint64_t tunings;     /* how many, for tests and stats */
	uint64_t *from_pages; /* per vCPU, cumulative at from_ns */
	uint64_t *prev_limit; /* per vCPU, at the previous tick */
	struct dl_rate *hist; /* per vCPU, for windowed samples */
};

/* 0, or -ENOMEM. */
int dl_tune_init(struct dl_tune *t, int nvcpus, const struct dl_law_cfg *cfg, uint64_t period_ns);
void dl_tune_destroy(struct dl_tune *t);

/*
 * A new law (or the same with new options) and period (0: the law's own).
 * Forgets every tuned state and publishes "no throttle" to every vCPU; the
 * caller tells the vCPUs (dl_vcpu_set_law()).
 */
void dl_tune_set_law(struct dl_tune *t, struct dl_vcpu *const *v, const struct dl_law_cfg *cfg,
		     uint64_t period_ns);

/*
 * A new tuning period (0: the law's own) for the law in force, keeping its
 * state (unlike dl_tune_set_law()): what a migration with the dirty-limit
 * capability does with x-vcpu-dirty-limit-period.  A shorter period ends
 * the sample in progress when the new period since its start is over (at
 * the next tick if that is past); a longer one applies from the next sample.
 */
void dl_tune_set_period(struct dl_tune *t, uint64_t period_ns);

/* Every tick of the caller: cum[i] = pages harvested so far from vCPU i. */
void dl_tune_tick(struct dl_tune *t, struct dl_vcpu *const *v, const uint64_t *cum,
		  uint64_t now_ns);

/* When the next tuning is due (UINT64_MAX: none scheduled). */
uint64_t dl_tune_due(const struct dl_tune *t);
/*
 * When the caller should tick next for the tuning: the due time, or, once
 * it is past and the sample waits for sleeping vCPUs (sync_wait), the end
 * of the longest of their sleeps; UINT64_MAX if nothing is scheduled.
 */
uint64_t dl_tune_wake(const struct dl_tune *t, struct dl_vcpu *const *v, uint64_t now_ns);

#endif /* DL_TUNE_H */

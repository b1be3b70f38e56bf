/* SPDX-License-Identifier: MIT */
/*
 * A simulated vCPU driven by a control law (dl_law.h: any of them), for the
 * unit tests and tools/dlsim.  Not linked into vmm.  Deterministic for a
 * given seed.
 *
 * The simulated vCPU dirties pages at a speed (pages/s of run time) given by
 * a load schedule, optionally slower for its first pages (first touch of
 * fresh memory).  It follows each dl_action: sleeps (late by up to
 * sleep_jitter_ns), runs the slice (late by up to slice_jitter_ns: timer and
 * signal latency), pays kick_ns per exit, then reports the pages and run time
 * to dl_vcpu_account().  The dirtying is recorded, spread evenly over each
 * run, in bins of bin_ns for window statistics.
 *
 * Optionally the guest has console phases, like the stress kernel's
 * once-a-second line: from io_first_ns on, every io_every_ns of wall time,
 * its next io_len_ns of run time dirty nothing (but the background) and are
 * cut into port I/O exits every io_run_ns of running, each costing
 * io_exit_ns.  With io_accounted the vCPU thread calls dl_vcpu_account()
 * after each of those exits (the first vcpu.c); without, it re-enters at
 * once and the slice's timer keeps running (vcpu.c now).
 *
 * A paced guest (paced_pps, like the stress kernel's rate=) dirties at its
 * speed only while it is behind its schedule of paced_pps pages per second
 * of wall time, and catches up at most pace_catchup_ns of that schedule
 * after a sleep.  With pace_budget_ns it paces as mig_mon's memory dirtier
 * (the tool of the published measurements) does instead: every window of
 * that length it dirties paced_pps * window pages at full speed, then idles
 * until the next window; what it did not manage is not carried over.
 *
 * The laws that a controller tunes (qemu, linear, pct) get one, as vmm's
 * controller thread runs it: dl_tune_tick() every ctrl_tick_ns of simulated
 * time, at the first vCPU event after each tick, with the pages harvested
 * so far.
 */
#ifndef DL_SIM_H
#define DL_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "dirtylimit/dl_law.h"
#include "dirtylimit/dl_tune.h"

/* From t_ns on, value applies (speed or limit, pages/s). */
struct dl_sim_step {
	uint64_t t_ns;
	uint64_t pps;
};

struct dl_sim_cfg {
	struct dl_params params;
	struct dl_law_cfg law;	  /* law.law NULL: the bucket */
	uint64_t tune_period_ns;  /* 0: the law's own */
	uint64_t ctrl_tick_ns;	  /* controller tick, 0: 50 ms (vmm's) */
	uint64_t paced_pps;	  /* guest's own pace, pages/s of wall time, 0 = none */
	uint64_t pace_catchup_ns; /* its catch-up after a stall, 0: 10 ms (the stress kernel's) */
	uint64_t pace_budget_ns;  /* else a budget per window of this (mig_mon's: 1 s) */
	const struct dl_sim_step *load; /* speed schedule, sorted; [0] at t 0 */
	size_t nload;
	const struct dl_sim_step *limit; /* limit schedule, sorted (0 = none) */
	size_t nlimit;
	uint64_t first_touch_pps;   /* speed for the first first_touch_pages */
	uint64_t first_touch_pages; /* 0: no first-touch phase */
	uint64_t background_pps;    /* extra pages/s while running (stack) */
	uint64_t slice_jitter_ns;   /* runs end late by U[0, this] */
	uint64_t sleep_jitter_ns;   /* sleeps end late by U[0, this] */
	uint64_t kick_ns;	    /* per exit: wall time, no guest progress */
	uint64_t io_every_ns;	    /* console phase period, 0 = none */
	uint64_t io_first_ns;	    /* first console phase */
	uint64_t io_len_ns;	    /* run time of one console phase */
	uint64_t io_run_ns;	    /* run time between two port I/O exits */
	uint64_t io_exit_ns;	    /* per port I/O exit: wall time */
	int io_accounted;	    /* dl_vcpu_account() after I/O exits too */
	uint64_t end_ns;	    /* simulated duration */
	uint64_t bin_ns;	    /* trace resolution, e.g. 1 ms */
	uint64_t seed;
};

struct dl_sim_result {
	double *bins; /* pages dirtied per bin (malloc'd; dl_sim_free) */
	size_t nbins;
	uint64_t bin_ns;
	uint64_t exits;	       /* calls to dl_vcpu_account() */
	uint64_t io_exits;     /* port I/O exits (console phases) */
	uint64_t run_ns;       /* time spent running */
	uint64_t max_slice_ns; /* longest slice asked for while limited */
	struct dl_stats stats; /* the law's counters at the end */
	uint64_t tunings;      /* controller tunings (tuned laws) */
	/* Each tuning's sample as the law read it (malloc'd, dl_sim_free). */
	struct dl_sim_sample {
		uint64_t t_ns;
		uint64_t rate_mib;
		uint64_t throttle; /* the law's output after it */
	} * samples;
	size_t nsamples;
};

/* Returns 0, or -1 if out of memory. */
int dl_sim_run(const struct dl_sim_cfg *cfg, struct dl_sim_result *res);
void dl_sim_free(struct dl_sim_result *res);

/* Pages/s over [from_ns, to_ns). */
double dl_sim_mean(const struct dl_sim_result *res, uint64_t from_ns, uint64_t to_ns);

/* Window rates (pages/s) of windows of win_ns lying in [from_ns, to_ns),
 * starting every bin.  Fills p5, p95, min, max (pages/s); returns the
 * number of windows. */
struct dl_sim_pct {
	double p5, p95, min, max;
};
size_t dl_sim_windows(const struct dl_sim_result *res, uint64_t from_ns, uint64_t to_ns,
		      uint64_t win_ns, struct dl_sim_pct *out);

/*
 * Settling time after a change at t_ns towards target pages/s: the end of
 * the first window of win_ns after which every window ending up to to_ns is
 * within target * (1 +- band), minus t_ns.  UINT64_MAX if never.
 */
uint64_t dl_sim_settle(const struct dl_sim_result *res, uint64_t t_ns, uint64_t to_ns,
		       uint64_t win_ns, double target, double band);

#endif /* DL_SIM_H */

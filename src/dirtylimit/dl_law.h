/* SPDX-License-Identifier: MIT */
/*
 * The dirty limiter's control law: one token bucket per vCPU, pure.
 *
 * No KVM, no threads, no clocks: the caller passes every time in as
 * nanoseconds of one monotonic clock.  See docs/dirtylimit.md.
 *
 * Threading contract:
 *  - struct dl_vcpu is owned by its vCPU thread; only that thread calls
 *    dl_vcpu_account().  It is O(1), allocates nothing, takes no lock.
 *  - dl_vcpu_set_limit() / dl_vcpu_get_limit() may be called from any thread
 *    (one C11 atomic); the vCPU thread applies a new limit at its next
 *    dl_vcpu_account().
 *  - dl_vcpu_stats() may be called from any thread (relaxed atomics: each
 *    field is exact, the set is not one snapshot).
 */
#ifndef DL_LAW_H
#define DL_LAW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Tuning of the law.  dl_params_default() fills in the documented values. */
struct dl_params {
	/* Slice when no limit applies: the harvest tick, chosen by the
	 * caller so the ring never fills. */
	uint64_t tick_ns;
	/* Shortest slice worth asking for (timer + kick cost and jitter). */
	uint64_t min_slice_ns;
	/* Longest single sleep returned; a longer penalty is paid in pieces,
	 * calling dl_vcpu_account() between them (see struct dl_action). */
	uint64_t max_sleep_ns;
	/* Target time from one penalty to the next while limited: a slice
	 * aims to dirty limit * pace pages.  Smaller = smoother windows,
	 * more exits. */
	uint64_t pace_ns;
	/* Burst cap: the bucket holds at most limit * burst_ns of credit
	 * (and never less than DL_BURST_MIN_PAGES pages). */
	uint64_t burst_ns;
	/* Longest slice while a limit applies: what a vCPU that dirties
	 * nothing (a reader) gets, hence what a reader that starts writing
	 * dirties before its first penalty.  Never above tick_ns; 0 = tick. */
	uint64_t read_slice_ns;
	/* Speed estimate: a slower sample lets the estimate decay towards it
	 * with this half-life of run time (0: the default, 20 ms). */
	uint64_t rate_halflife_ns;
	/* The first design's estimator, kept only so that the simulator can
	 * show why it was dropped: if not 0, every slower sample moves the
	 * estimate 1/2^rate_down_shift of the way down, however short it is,
	 * and rate_halflife_ns is ignored.  0 in vmm. */
	unsigned int rate_down_shift;
};

/* What the vCPU thread does next. */
struct dl_action {
	/* Sleep this long first (0: don't).  At most params.max_sleep_ns. */
	uint64_t sleep_ns;
	/* Then run the guest for at most this long.  0 means: do not run;
	 * after the sleep call dl_vcpu_account() again (pages harvested
	 * meanwhile, ran_ns = 0) and follow the new action. */
	uint64_t slice_ns;
};

/* Counters for the stats stream and the benchmark. */
struct dl_stats {
	uint64_t limit_pps;	 /* applied limit, pages/s, 0 = none */
	uint64_t pages;		 /* pages accounted since init */
	uint64_t run_ns;	 /* guest run time accounted since init */
	uint64_t sleep_ns;	 /* total penalty slept (as requested) */
	uint64_t sleeps;	 /* number of penalties (runs of sleep pieces) */
	uint64_t max_penalty_ns; /* longest single penalty (pieces summed) */
	uint64_t penalty_ns;	 /* the latest penalty (pieces summed) */
	/* Estimated speed while running.  While limited, a slower sample
	 * first caps it at pace * limit / min_slice (every faster speed gets
	 * the minimum slice anyway), then decays it, never below the
	 * sample. */
	uint64_t rate_est_pps;
};

struct dl_vcpu {
	struct dl_params p;
	/* Written by any thread, read by the vCPU thread. */
	_Atomic uint64_t limit_req; /* pages/s, 0 = none */
	/* vCPU-thread state. */
	uint64_t limit;	     /* applied limit, pages/s, 0 = none */
	int64_t tokens;	     /* credit in nano-pages (1e-9 page) */
	int64_t burst;	     /* cap of tokens, nano-pages */
	uint64_t last_ns;    /* time tokens were last refilled */
	uint64_t rate;	     /* estimated speed while running, pages/s */
	uint64_t pend_pages; /* run not yet long enough for a sample */
	uint64_t pend_ns;
	bool sleeping; /* the last action was a sleep, no slice */
	/* Statistics: written by the vCPU thread only (relaxed). */
	_Atomic uint64_t st_pages, st_run_ns, st_sleep_ns, st_sleeps;
	_Atomic uint64_t st_max_penalty_ns, st_penalty_ns, st_rate;
	_Atomic uint64_t st_limit;
};

void dl_params_default(struct dl_params *p);
void dl_vcpu_init(struct dl_vcpu *v, const struct dl_params *p);

/* Any thread.  0 cancels the limit. */
void dl_vcpu_set_limit(struct dl_vcpu *v, uint64_t pages_per_s);
uint64_t dl_vcpu_get_limit(const struct dl_vcpu *v);

/*
 * vCPU thread, at the end of every slice (a kick, a ring-full or halt exit;
 * exits that go straight back into the guest may be skipped, or accounted
 * too) and after every sleep piece, once its ring is harvested: pages =
 * pages newly dirtied since the previous call, ran_ns = time spent in
 * KVM_RUN since the previous call (0 after a sleep), now_ns = the current
 * time.  Fills *out.
 */
void dl_vcpu_account(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns, uint64_t now_ns,
		     struct dl_action *out);

void dl_vcpu_stats(const struct dl_vcpu *v, struct dl_stats *st);

#endif /* DL_LAW_H */

/* SPDX-License-Identifier: MIT */
/*
 * dl_ctrl: the controller thread.
 *
 * Every period it harvests every vCPU's ring (a backstop: vCPU threads
 * harvest their own on every exit), samples each vCPU's cumulative page
 * count into a rate window, finishes a calc-dirty-rate measurement when it
 * is due, and writes the --stats stream.  For the laws that need tuning
 * (qemu, linear, pct: dl_law.h) it tunes each limited vCPU's sleep once a
 * law period (dl_tune.h).  It never sleeps a vCPU itself: the vCPU threads
 * apply their law's sleeps; with the bucket (the default) a late controller
 * cannot let a vCPU run past its limit.
 */
#ifndef DL_CTRL_H
#define DL_CTRL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dirtylimit/dl_law.h"
#include "dirtylimit/dl_rate.h"
#include "dirtylimit/dl_tune.h"
#include "stress_abi.h"

struct vm;
struct nbout;

/* The window behind "current-rate" and the per-vCPU rates we report: one second, as QEMU. */
#define DL_CTRL_RATE_WINDOW_NS 1000000000ull

/*
 * The controller's tick when no period is given: 20 samples in the 1 s
 * window behind current-rate, and a tuning (every law period) or a
 * sleeping vCPU that a sample waits for (sync=wait) is seen within 50 ms.
 */
#define DL_CTRL_TICK_NS 50000000ull

enum dl_calc_status {
	DL_CALC_UNSTARTED = 0,
	DL_CALC_MEASURING,
	DL_CALC_MEASURED,
};

struct dl_calc {
	enum dl_calc_status status;
	int64_t start_time; /* seconds since the Epoch */
	uint64_t calc_ms;   /* as asked */
	uint64_t start_ns, end_ns;
	uint64_t start_pages[STRESS_MAX_CPUS];
	double vcpu_mib[STRESS_MAX_CPUS]; /* MiB/s, when measured */
	double total_mib;
};

struct dl_ctrl {
	struct vm *vm;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	uint64_t period_ns;	/* the tick: the period asked for, else DL_CTRL_TICK_NS */
	uint64_t period_req_ns; /* --dirty-limit-period (0: none: each law's own) */
	/* x-vcpu-dirty-limit-period while a migration with the dirty-limit
	 * capability runs (0: none): the tuning period then, as QEMU 8.1's. */
	uint64_t mig_period_ns;

	pthread_mutex_t lock; /* guards rate[], calc, tune, period_* */
	pthread_cond_t cond;  /* wakes the thread early (stop, calc start, a new law) */
	struct dl_rate *rate; /* one per vCPU */
	struct dl_calc calc;
	struct dl_tune tune;  /* the law in force and its tuning */
	struct dl_vcpu **dlv; /* each vCPU's law state */
	uint64_t *cum;	      /* scratch: each vCPU's harvested pages */

	struct nbout *stats; /* --stats, or NULL (opened and closed by the caller) */
	uint64_t stats_interval_ns;
	uint64_t stats_next_ns;
	uint64_t stats_prev_ns;
	uint64_t *stats_prev_pages; /* per vCPU, harvested */
	uint64_t *stats_prev_guest; /* per vCPU, guest pages written */
	uint64_t *stats_prev_read;  /* per vCPU, guest bytes read */
	/* Another subsystem's object in each record (dl_stats_set_section()), or NULL. */
	_Atomic(const struct dl_stats_section *) stats_section;
	_Atomic bool stats_in_section; /* the controller is inside its get() */
};

/*
 * period_ms: --dirty-limit-period, 0 if not given (the tick is then
 * DL_CTRL_TICK_NS and each law tunes at its own period).  law: the law for
 * every vCPU, set before the vCPU threads start.
 */
int dl_ctrl_start(struct dl_ctrl *c, struct vm *vm, unsigned period_ms,
		  const struct dl_law_cfg *law, struct nbout *stats, unsigned stats_interval_ms,
		  char *err, size_t errlen);
void dl_ctrl_stop(struct dl_ctrl *c);

/*
 * Switch every vCPU to another law (any thread), at once: each vCPU is
 * kicked and starts the new law at its next harvest, forgetting the old
 * one's state.  period_ms: the tuning period, 0 for the law's own, -1 to
 * keep the one in force (a period given before, or the law's own).
 */
void dl_ctrl_set_law(struct dl_ctrl *c, const struct dl_law_cfg *law, int64_t period_ms);
/*
 * A migration with the dirty-limit capability runs (period_ms: its
 * x-vcpu-dirty-limit-period, 1..1000) or has ended (0).  While it runs,
 * the tuned laws tune at that period, whatever --dirty-limit-period or the
 * law's own says, keeping their state (QEMU 8.1: the dirty-limit
 * controller samples and tunes every x-vcpu-dirty-limit-period while
 * migrating with dirty-limit, every 1000 ms otherwise); at the end the
 * period given before (or the law's own) is back.  The controller's tick
 * (current-rate, calc-dirty-rate, --stats) is not changed.  Any thread.
 */
void dl_ctrl_set_mig_period(struct dl_ctrl *c, unsigned period_ms);
/* The law in force and its tuning period (any thread). */
void dl_ctrl_get_law(struct dl_ctrl *c, struct dl_law_cfg *law, uint64_t *period_ns);

/* A vCPU's dirty rate over the last window_ns, MiB/s (any thread). */
double dl_ctrl_rate_mib(struct dl_ctrl *c, int cpu, uint64_t window_ns);

/* calc-dirty-rate: start a measurement (any thread); fails if one is running. */
int dl_ctrl_calc_start(struct dl_ctrl *c, uint64_t calc_ms, char *err, size_t errlen);
void dl_ctrl_calc_get(struct dl_ctrl *c, struct dl_calc *out);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * dl_ctrl: the controller thread.
 *
 * Every period it harvests every vCPU's ring (a backstop: vCPU threads
 * harvest their own on every exit), samples each vCPU's cumulative page
 * count into a rate window, finishes a calc-dirty-rate measurement when it
 * is due, and writes the --stats stream.  It never sleeps a vCPU: penalties
 * are applied by the vCPU threads themselves from their own buckets
 * (dl_law.h), so a late controller cannot let a vCPU run past its limit.
 */
#ifndef DL_CTRL_H
#define DL_CTRL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dirtylimit/dl_rate.h"
#include "stress_abi.h"

struct vm;
struct nbout;

/* The window behind "current-rate" and the per-vCPU rates we report: one second, as QEMU. */
#define DL_CTRL_RATE_WINDOW_NS 1000000000ull

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
	uint64_t period_ns;

	pthread_mutex_t lock; /* guards rate[], calc */
	pthread_cond_t cond;  /* wakes the thread early (stop, calc start) */
	struct dl_rate *rate; /* one per vCPU */
	struct dl_calc calc;

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

int dl_ctrl_start(struct dl_ctrl *c, struct vm *vm, unsigned period_ms, struct nbout *stats,
		  unsigned stats_interval_ms, char *err, size_t errlen);
void dl_ctrl_stop(struct dl_ctrl *c);

/* A vCPU's dirty rate over the last window_ns, MiB/s (any thread). */
double dl_ctrl_rate_mib(struct dl_ctrl *c, int cpu, uint64_t window_ns);

/* calc-dirty-rate: start a measurement (any thread); fails if one is running. */
int dl_ctrl_calc_start(struct dl_ctrl *c, uint64_t calc_ms, char *err, size_t errlen);
void dl_ctrl_calc_get(struct dl_ctrl *c, struct dl_calc *out);

#endif

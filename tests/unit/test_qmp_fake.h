/* SPDX-License-Identifier: MIT */
/*
 * A fake QMP backend for the unit tests: records calls, answers from a
 * table, emits STOP / RESUME like the real one.  Thread-safe (the server
 * calls it from its own thread while the test thread looks).
 */
#ifndef TEST_QMP_FAKE_H
#define TEST_QMP_FAKE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "qmp/qmp.h"

#define FAKE_CPUS 2
/* vCPU i's longest stall until reset-max-stall resets it to 0. */
#define FAKE_MAX_STALL_US 40000

struct fake {
	pthread_mutex_t lock;
	struct qmp_server *srv; /* where stop/cont emit events, may be NULL */
	bool running;
	int stops, conts, quits, calcs;
	uint64_t calc_ms;
	char calc_mode[32];
	int limit_cpu;		   /* last set/cancel cpu_index */
	uint64_t limit[FAKE_CPUS]; /* 0: none */
	int cancels;
	uint64_t max_stall_us[FAKE_CPUS]; /* what x-query-guest-stats reports */
	int stall_resets;		  /* x-query-guest-stats with reset-max-stall */
	char law[64];			  /* x-set-dirty-limit-law's law ("" until set) */
	int64_t law_period_ms;		  /* and its period-ms (-1: not given) */
	pthread_cond_t cond;
	bool gate_closed;     /* stop waits (blocking the QMP thread) until it opens */
	bool in_gate;	      /* stop is waiting */
	bool async_stop;      /* stop answers QMP_IN_PROGRESS, done by fake_complete_stop() */
	bool stop_pending;    /* ... and one is under way */
	int fail_errno;	      /* non-zero: the next stop/cont/set fails with it */
	const char *fail_msg; /* and this message (NULL: none) */
};

void fake_init(struct fake *f);
void fake_destroy(struct fake *f);
/* A backend with every callback; opaque = f. */
struct qmp_backend fake_backend(struct fake *f);
/* Close or open the gate that holds stop (and with it the QMP thread). */
void fake_gate(struct fake *f, bool closed);
/* Read a counter under the lock. */
int fake_get(struct fake *f, const int *field);
/* Whether an asynchronous stop is under way. */
bool fake_stop_pending(struct fake *f);
/*
 * Finish it as the real backend's worker does: stop (STOP if the state
 * changed, or the planned failure), then qmp_server_complete() if srv is
 * set.  Returns its outcome (0 or -errno) and message in err.
 */
int fake_complete_stop(struct fake *f, char *err, size_t errlen);

#endif /* TEST_QMP_FAKE_H */

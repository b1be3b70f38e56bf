/* SPDX-License-Identifier: MIT */
/*
 * runstate: why the VM is paused, and when the VM as a whole changes state.
 *
 * Several parties may pause the VM for their own reasons (a user's `stop`,
 * a migration's final copy); one party's resume must not undo another's
 * pause.  The VM runs only when no reason is left.  STOP is announced once,
 * when the first reason has every vCPU parked; RESUME once, when the last
 * reason goes.  Pure logic: the caller (vm.c) holds the VM lock, parks and
 * releases the vCPUs and sends the events that the functions below ask for.
 */
#ifndef VMM_RUNSTATE_H
#define VMM_RUNSTATE_H

#include <stdbool.h>

/* Why the VM is paused: one bit per party, any combination. */
enum runstate_reason {
	RUNSTATE_USER = 1u << 0,      /* QMP stop / cont */
	RUNSTATE_MIGRATION = 1u << 1, /* a migration's stop-and-copy */
	RUNSTATE_MONITOR = 1u << 2,   /* the monitor's own short look (test knobs) */
};

struct runstate {
	unsigned reasons; /* enum runstate_reason bits now held */
	bool paused;	  /* STOP announced and RESUME not yet: the VM as a whole is paused */
};

/* What the caller must do after a transition. */
struct runstate_out {
	bool park;	   /* ask every vCPU to park (the first reason arrived) */
	bool release;	   /* let the vCPUs run again (the last reason went) */
	bool event_stop;   /* announce STOP */
	bool event_resume; /* announce RESUME */
};

void runstate_init(struct runstate *s);
/* Add a reason (one bit).  Adding one already held changes nothing. */
void runstate_pause(struct runstate *s, unsigned reason, struct runstate_out *out);
/* Every vCPU is parked while some reason holds: announce STOP once. */
void runstate_parked(struct runstate *s, struct runstate_out *out);
/*
 * Remove a reason (resume, or undo of a pause that could not complete).
 * Removing one not held changes nothing.
 */
void runstate_resume(struct runstate *s, unsigned reason, struct runstate_out *out);
bool runstate_holds(const struct runstate *s, unsigned reason);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * dirty: dirty page tracking on top of the KVM dirty ring.
 *
 * Turns ring entries into per-vCPU page counts (the sensor of the dirty
 * limiter) and into a dirty bitmap per memslot (what migration takes and
 * clears).  Any thread may harvest a vCPU's ring: each ring has its own lock,
 * normally taken by the vCPU's own thread at every exit and by the controller
 * thread as a backstop.
 */
#ifndef VMM_DIRTY_H
#define VMM_DIRTY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/kvm.h"
#include "kvm/kvm_ring.h"

/* RAM and the stats device; only RAM is dirty-tracked. */
#define DIRTY_MAX_SLOTS 4

struct dirty_slot {
	uint32_t id;
	uint64_t gpa;
	uint64_t npages;
	_Atomic uint64_t *bitmap; /* one bit per page, set by harvesters */
};

struct dirty_tracker {
	struct kvm_vm *vm;
	struct dirty_slot slots[DIRTY_MAX_SLOTS];
	int nslots;
	_Atomic uint64_t rejected; /* entries naming no known page */
	_Atomic uint64_t resets;   /* KVM_RESET_DIRTY_RINGS calls */
	uint32_t delay_us;	   /* test knob: artificial delay per harvest */
	bool no_backstop;	   /* test knob: only vCPU threads harvest (set before start) */
	/*
	 * Shared by each harvest from its first bitmap mark to the end of its
	 * KVM_RESET_DIRTY_RINGS, exclusive in dirty_take_bitmap(), so a bit is
	 * never taken while its page is still writable (see dirty.c).
	 */
	pthread_rwlock_t take_lock;
};

struct dirty_vcpu {
	pthread_mutex_t lock; /* serialises harvests of this ring */
	struct kvm_ring ring;
	int index;
	uint64_t last_key; /* the last entry harvested (slot << 48 | offset) */
	bool has_last;
	_Atomic uint64_t pages;	     /* cumulative dirtyings harvested (relogs not counted) */
	_Atomic uint64_t relogged;   /* entries repeating the one before: see dirty.c */
	_Atomic uint64_t harvests;   /* harvests that found something */
	_Atomic uint64_t harvest_ns; /* time spent harvesting, for the benchmark */
	_Atomic uint64_t max_batch;  /* largest single harvest, entries */
};

int dirty_tracker_init(struct dirty_tracker *t, struct kvm_vm *vm);
void dirty_tracker_destroy(struct dirty_tracker *t);
int dirty_tracker_add_slot(struct dirty_tracker *t, uint32_t id, uint64_t gpa, uint64_t npages);

/* Record one dirty page; false if (slot, offset) names no tracked page. */
bool dirty_mark(struct dirty_tracker *t, uint32_t slot, uint64_t offset);

/*
 * Copy a slot's bitmap into dst (words = ceil(npages / 64)) and clear it,
 * word by word with an atomic exchange, so no bit set concurrently is lost.
 * Returns the number of dirty pages taken.
 */
uint64_t dirty_take_bitmap(struct dirty_tracker *t, int slot_index, uint64_t *dst, size_t words);

void dirty_vcpu_init(struct dirty_vcpu *d, int index, struct kvm_dirty_gfn *gfns, uint32_t entries);
void dirty_vcpu_destroy(struct dirty_vcpu *d);

/*
 * Harvest everything in the vCPU's ring and reset it.  Returns the number of
 * entries harvested (>= 0) or -errno if KVM_RESET_DIRTY_RINGS failed.
 * *reset_out (if not NULL) gets what the reset ioctl returned.
 */
int64_t dirty_vcpu_harvest(struct dirty_tracker *t, struct dirty_vcpu *d, int *reset_out);
/*
 * KVM_RESET_DIRTY_RINGS alone (a ring-full exit that found nothing to
 * harvest), inside the take lock like a harvest's: it may reset entries
 * another harvest marked, and the TLB flush that makes them write-protected
 * is then this call's, which a take must wait for.
 */
int dirty_reset(struct dirty_tracker *t);

/*
 * A ring-full exit that finds nothing to harvest and a reset that resets
 * nothing means the ring is broken (host-kvm.md: the host overran it).  A few
 * in a row can be a race with the backstop harvester, this many cannot; at
 * the ~170k exits/s such a ring produces, it is about 6 ms.
 */
#define DIRTY_WEDGE_EXITS 1000

struct dirty_wedge {
	unsigned empty; /* consecutive empty ring-full exits */
};

/*
 * Note one ring-full exit: harvested entries (or -errno), what the reset
 * returned.  True once the ring is wedged.
 */
bool dirty_wedge_note(struct dirty_wedge *w, int64_t harvested, int reset);

#endif

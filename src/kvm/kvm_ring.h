/* SPDX-License-Identifier: MIT */
/*
 * kvm_ring: harvesting one vCPU's dirty ring.
 *
 * Pure logic over memory: it works the same on the mmap of a real ring and
 * on a fake ring in a unit test.  The caller serialises harvests of one ring
 * (one fetch index per ring) and calls KVM_RESET_DIRTY_RINGS afterwards.
 */
#ifndef VMM_KVM_RING_H
#define VMM_KVM_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

struct kvm_ring {
	struct kvm_dirty_gfn *gfns;
	uint32_t entries; /* power of two */
	uint32_t fetch;	  /* free-running index of the next entry to harvest */
};

/*
 * Called for each harvested entry, with the memslot (as_id << 16 | id) and
 * the page offset in that slot.  Returns false if the entry names a slot or
 * page that does not exist; such an entry is still consumed and reset.
 */
typedef bool (*kvm_ring_fn)(uint32_t slot, uint64_t offset, void *opaque);

struct kvm_ring_result {
	uint32_t harvested; /* entries consumed */
	uint32_t rejected;  /* of which the callback refused */
};

void kvm_ring_init(struct kvm_ring *r, struct kvm_dirty_gfn *gfns, uint32_t entries);

/*
 * Harvest at most max entries, in order, starting at the fetch index: stop at
 * the first entry whose flags (read with load-acquire) do not say DIRTY;
 * mark each consumed entry RESET with store-release.
 */
struct kvm_ring_result kvm_ring_harvest(struct kvm_ring *r, uint32_t max, kvm_ring_fn fn,
					void *opaque);

/* Entries that look dirty and are waiting at the fetch index (a peek). */
uint32_t kvm_ring_pending(const struct kvm_ring *r, uint32_t max);

#endif

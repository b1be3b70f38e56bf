/* SPDX-License-Identifier: MIT */
#include "kvm/kvm_ring.h"

void kvm_ring_init(struct kvm_ring *r, struct kvm_dirty_gfn *gfns, uint32_t entries)
{
	r->gfns = gfns;
	r->entries = entries;
	r->fetch = 0;
}

static bool entry_dirty(const struct kvm_dirty_gfn *g)
{
	uint32_t flags = __atomic_load_n(&g->flags, __ATOMIC_ACQUIRE);

	return (flags & KVM_DIRTY_GFN_F_MASK) == KVM_DIRTY_GFN_F_DIRTY;
}

struct kvm_ring_result kvm_ring_harvest(struct kvm_ring *r, uint32_t max, kvm_ring_fn fn,
					void *opaque)
{
	struct kvm_ring_result res = {0, 0};
	uint32_t mask = r->entries - 1;

	while (res.harvested < max) {
		struct kvm_dirty_gfn *g = &r->gfns[r->fetch & mask];

		if (!entry_dirty(g))
			break;
		if (!fn(g->slot, g->offset, opaque))
			res.rejected++;
		__atomic_store_n(&g->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		r->fetch++;
		res.harvested++;
	}
	return res;
}

uint32_t kvm_ring_pending(const struct kvm_ring *r, uint32_t max)
{
	uint32_t mask = r->entries - 1;
	uint32_t n = 0;

	while (n < max && n < r->entries && entry_dirty(&r->gfns[(r->fetch + n) & mask]))
		n++;
	return n;
}

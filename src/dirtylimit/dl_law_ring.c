// SPDX-License-Identifier: MIT
/* QEMU's ring-full actuator, shared by the qemu and linear laws: see dl_law_ring.h. */
#include "dirtylimit/dl_law_ring.h"

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull

void dl_ring_account(struct dl_vcpu *v, uint64_t pages, uint64_t limit, struct dl_action *out)
{
	struct dl_tuned_vstate *t = &v->vs.t;
	uint64_t soft = v->p.ring_entries - DL_RING_RSVD_ENTRIES;
	uint64_t gen = atomic_load_explicit(&v->sync_gen, memory_order_relaxed);
	uint64_t full;

	v->limit = limit;
	if (gen != t->sync_seen) {
		/* The sample flushed the ring: what was in it no longer
		 * counts towards the next ring-full. */
		t->sync_seen = gen;
		t->fill = 0;
	}
	t->fill += pages;
	full = t->fill / soft;
	t->fill %= soft;
	if (full && limit) {
		/* One sleep per ring-full; a harvest never holds more than a
		 * ring, but a pause or a slow host can make it two. */
		uint64_t us = dl_law_output(v, NULL);

		t->owe_ns += full * us * NS_PER_US;
	}
	dl_law_serve_debt(v, v->p.tick_ns, out);
}

uint64_t dl_ring_rate_mib(const struct dl_tune_in *in)
{
	uint64_t ms = in->window_ns / NS_PER_MS;

	/* qemu_target_pages_to_MiB(pages) * 1000 / calc_time_ms */
	return ms ? (in->pages >> 8) * 1000 / ms : 0;
}

uint64_t dl_ring_full_time_us(struct dl_tune_ctx *ctx, const struct dl_vcpu *v,
			      uint64_t current_mib)
{
	uint64_t ring_mib = (uint64_t)v->p.ring_entries >> 8; /* 4 KiB pages */

	if (ctx->max_rate_mib < current_mib)
		ctx->max_rate_mib = current_mib;
	if (!ctx->max_rate_mib)
		return 0;
	return ring_mib * 1000000 / ctx->max_rate_mib;
}

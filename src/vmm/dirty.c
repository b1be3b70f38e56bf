/* SPDX-License-Identifier: MIT */
#include "vmm/dirty.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int dirty_tracker_init(struct dirty_tracker *t, struct kvm_vm *vm)
{
	pthread_rwlockattr_t a;

	memset(t, 0, sizeof(*t));
	t->vm = vm;
	/* Harvests never stop: let a waiting take go first (glibc prefers readers). */
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&t->take_lock, &a);
	pthread_rwlockattr_destroy(&a);
	return 0;
}

void dirty_tracker_destroy(struct dirty_tracker *t)
{
	for (int i = 0; i < t->nslots; i++)
		free((void *)t->slots[i].bitmap);
	t->nslots = 0;
	pthread_rwlock_destroy(&t->take_lock);
}

int dirty_tracker_add_slot(struct dirty_tracker *t, uint32_t id, uint64_t gpa, uint64_t npages)
{
	struct dirty_slot *s;
	size_t words = (npages + 63) / 64;

	if (t->nslots >= DIRTY_MAX_SLOTS)
		return -ENOSPC;
	s = &t->slots[t->nslots];
	s->bitmap = calloc(words ? words : 1, sizeof(uint64_t));
	if (!s->bitmap)
		return -ENOMEM;
	s->id = id;
	s->gpa = gpa;
	s->npages = npages;
	t->nslots++;
	return 0;
}

bool dirty_mark(struct dirty_tracker *t, uint32_t slot, uint64_t offset)
{
	for (int i = 0; i < t->nslots; i++) {
		struct dirty_slot *s = &t->slots[i];

		if (s->id != slot)
			continue;
		if (offset >= s->npages)
			return false;
		atomic_fetch_or_explicit(&s->bitmap[offset / 64], 1ull << (offset % 64),
					 memory_order_relaxed);
		return true;
	}
	return false;
}

uint64_t dirty_take_bitmap(struct dirty_tracker *t, int slot_index, uint64_t *dst, size_t words)
{
	struct dirty_slot *s;
	size_t n;
	uint64_t count = 0;

	if (slot_index < 0 || slot_index >= t->nslots)
		return 0;
	s = &t->slots[slot_index];
	n = (s->npages + 63) / 64;
	if (words < n)
		n = words;
	/*
	 * Wait for every harvest in progress to finish its reset.  A harvest
	 * marks a page here before KVM_RESET_DIRTY_RINGS write-protects it
	 * again; until then the guest writes it without a new ring entry.  A
	 * bit taken in that gap, its page copied, then written again, would be
	 * lost for good (api.rst: reset before reading the pages).  Harvests
	 * hold this lock shared, so they never wait for each other.
	 */
	pthread_rwlock_wrlock(&t->take_lock);
	for (size_t i = 0; i < n; i++) {
		uint64_t w = atomic_exchange_explicit(&s->bitmap[i], 0, memory_order_acq_rel);

		dst[i] = w;
		count += (uint64_t)__builtin_popcountll(w);
	}
	pthread_rwlock_unlock(&t->take_lock);
	return count;
}

void dirty_vcpu_init(struct dirty_vcpu *d, int index, struct kvm_dirty_gfn *gfns, uint32_t entries)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->index = index;
	kvm_ring_init(&d->ring, gfns, entries);
}

void dirty_vcpu_destroy(struct dirty_vcpu *d)
{
	pthread_mutex_destroy(&d->lock);
}

struct harvest_ctx {
	struct dirty_tracker *t;
	struct dirty_vcpu *d;
	uint32_t relogged;
};

static bool mark_cb(uint32_t slot, uint64_t offset, void *opaque)
{
	struct harvest_ctx *c = opaque;
	uint64_t key = ((uint64_t)slot << 48) | offset;

	/*
	 * The same page twice in a row in one ring is the write that was in
	 * flight when the vCPU was kicked out: KVM logs it, the kick lands
	 * before the write completes, our reset write-protects the page again,
	 * and the retried write logs it once more (measured: one extra entry
	 * per ~2 exits).  It is one dirtying, not two.  The bitmap takes it
	 * either way.
	 */
	if (c->d->has_last && key == c->d->last_key)
		c->relogged++;
	c->d->last_key = key;
	c->d->has_last = true;
	return dirty_mark(c->t, slot, offset);
}

int64_t dirty_vcpu_harvest(struct dirty_tracker *t, struct dirty_vcpu *d, int *reset_out)
{
	struct kvm_ring_result res;
	uint64_t t0 = mono_ns();
	struct harvest_ctx ctx = {t, d, 0};
	int reset = 0;

	pthread_mutex_lock(&d->lock);
	/* From the first mark to the reset: see dirty_take_bitmap(). */
	pthread_rwlock_rdlock(&t->take_lock);
	res = kvm_ring_harvest(&d->ring, d->ring.entries, mark_cb, &ctx);
	if (t->delay_us)
		usleep(t->delay_us);
	if (res.harvested) {
		/* api.rst: reset after harvesting, before reading page contents. */
		reset = t->vm ? kvm_vm_reset_dirty_rings(t->vm) : 0; /* no VM: unit tests */
	}
	pthread_rwlock_unlock(&t->take_lock);
	if (res.harvested) {
		atomic_fetch_add_explicit(&t->resets, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->pages, res.harvested - ctx.relogged,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&d->relogged, ctx.relogged, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->harvests, 1, memory_order_relaxed);
		if (res.harvested > atomic_load_explicit(&d->max_batch, memory_order_relaxed))
			atomic_store_explicit(&d->max_batch, res.harvested, memory_order_relaxed);
	}
	if (res.rejected)
		atomic_fetch_add_explicit(&t->rejected, res.rejected, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->harvest_ns, mono_ns() - t0, memory_order_relaxed);
	pthread_mutex_unlock(&d->lock);
	if (reset_out)
		*reset_out = reset;
	if (reset < 0)
		return reset;
	return res.harvested;
}

int dirty_reset(struct dirty_tracker *t)
{
	int r;

	pthread_rwlock_rdlock(&t->take_lock);
	r = t->vm ? kvm_vm_reset_dirty_rings(t->vm) : 0; /* no VM: unit tests */
	pthread_rwlock_unlock(&t->take_lock);
	return r;
}

bool dirty_wedge_note(struct dirty_wedge *w, int64_t harvested, int reset)
{
	if (harvested != 0 || reset > 0) {
		w->empty = 0;
		return false;
	}
	return ++w->empty >= DIRTY_WEDGE_EXITS;
}

/* SPDX-License-Identifier: MIT */
/*
 * The dirty-ring harvest loop and the dirty bitmap, against a fake ring in
 * memory: in-order harvest, wrap-around of the free-running index, partial
 * harvests, entries for unknown slots and out-of-range offsets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kvm/kvm_ring.h"
#include "vmm/dirty.h"

#define RING 16

static struct kvm_dirty_gfn gfns[RING];

/* What KVM does: push one entry at the producer index. */
static void push(uint32_t *prod, uint32_t slot, uint64_t off)
{
	struct kvm_dirty_gfn *g = &gfns[*prod & (RING - 1)];

	g->slot = slot;
	g->offset = off;
	__atomic_store_n(&g->flags, KVM_DIRTY_GFN_F_DIRTY, __ATOMIC_RELEASE);
	(*prod)++;
}

/* What KVM_RESET_DIRTY_RINGS does: entries marked RESET become free (0). */
static int kvm_reset(void)
{
	int n = 0;

	for (int i = 0; i < RING; i++)
		if (gfns[i].flags == KVM_DIRTY_GFN_F_RESET) {
			gfns[i].flags = 0;
			n++;
		}
	return n;
}

struct seen {
	uint64_t offs[64];
	int n;
};

static bool record(uint32_t slot, uint64_t off, void *opaque)
{
	struct seen *s = opaque;

	if (slot != 0 || off >= 1000)
		return false;
	s->offs[s->n++] = off;
	return true;
}

static void test_in_order(void **state)
{
	struct kvm_ring r;
	struct seen s = {0};
	uint32_t prod = 0;
	struct kvm_ring_result res;

	(void)state;
	memset(gfns, 0, sizeof(gfns));
	kvm_ring_init(&r, gfns, RING);
	for (int i = 0; i < 5; i++)
		push(&prod, 0, (uint64_t)(10 + i));
	assert_int_equal(kvm_ring_pending(&r, RING), 5);
	res = kvm_ring_harvest(&r, RING, record, &s);
	assert_int_equal(res.harvested, 5);
	assert_int_equal(res.rejected, 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(s.offs[i], 10 + i);
	/* Harvested entries are marked RESET, nothing more is pending. */
	assert_int_equal(gfns[0].flags, KVM_DIRTY_GFN_F_RESET);
	assert_int_equal(kvm_ring_pending(&r, RING), 0);
	assert_int_equal(kvm_reset(), 5);
}

static void test_partial_and_wrap(void **state)
{
	struct kvm_ring r;
	struct seen s = {0};
	uint32_t prod = 0;
	struct kvm_ring_result res;
	int total = 0;

	(void)state;
	memset(gfns, 0, sizeof(gfns));
	kvm_ring_init(&r, gfns, RING);
	/* Three laps round the ring, harvesting in uneven pieces. */
	for (int lap = 0; lap < 6; lap++) {
		for (int i = 0; i < 8; i++)
			push(&prod, 0, (uint64_t)(lap * 8 + i));
		res = kvm_ring_harvest(&r, 3, record, &s);
		assert_int_equal(res.harvested, 3);
		s.n = 0;
		res = kvm_ring_harvest(&r, RING, record, &s);
		assert_int_equal(res.harvested, 5);
		/* The second piece continues where the first stopped. */
		assert_int_equal(s.offs[0], (uint64_t)(lap * 8 + 3));
		s.n = 0;
		total += 8;
		assert_int_equal(kvm_reset(), 8);
	}
	assert_int_equal(r.fetch, (uint32_t)total);
	assert_int_equal(r.fetch, prod);
}

static void test_stops_at_unfinished_entry(void **state)
{
	struct kvm_ring r;
	struct seen s = {0};
	uint32_t prod = 0;

	(void)state;
	memset(gfns, 0, sizeof(gfns));
	kvm_ring_init(&r, gfns, RING);
	push(&prod, 0, 1);
	push(&prod, 0, 2);
	/* An entry already RESET but not yet collected by KVM is not dirty. */
	gfns[1].flags = KVM_DIRTY_GFN_F_DIRTY | KVM_DIRTY_GFN_F_RESET;
	assert_int_equal(kvm_ring_harvest(&r, RING, record, &s).harvested, 1);
	assert_int_equal(s.offs[0], 1);
}

static void test_rejects_bad_entries(void **state)
{
	struct kvm_ring r;
	struct seen s = {0};
	uint32_t prod = 0;
	struct kvm_ring_result res;

	(void)state;
	memset(gfns, 0, sizeof(gfns));
	kvm_ring_init(&r, gfns, RING);
	push(&prod, 0, 5);
	push(&prod, 7, 5);    /* unknown slot */
	push(&prod, 0, 5000); /* offset out of range */
	push(&prod, 0, 6);
	res = kvm_ring_harvest(&r, RING, record, &s);
	/* Bad entries are consumed (else the ring would stick) but refused. */
	assert_int_equal(res.harvested, 4);
	assert_int_equal(res.rejected, 2);
	assert_int_equal(s.n, 2);
	assert_int_equal(kvm_reset(), 4);
}

static void test_bitmap(void **state)
{
	struct dirty_tracker t;
	uint64_t bm[2];

	(void)state;
	dirty_tracker_init(&t, NULL);
	assert_int_equal(dirty_tracker_add_slot(&t, 0, 0, 100), 0);
	assert_true(dirty_mark(&t, 0, 0));
	assert_true(dirty_mark(&t, 0, 99));
	assert_true(dirty_mark(&t, 0, 99)); /* twice is one dirty page */
	assert_false(dirty_mark(&t, 0, 100));
	assert_false(dirty_mark(&t, 1, 0));
	assert_false(dirty_mark(&t, 0, UINT64_MAX));
	assert_int_equal(dirty_take_bitmap(&t, 0, bm, 2), 2);
	assert_int_equal(bm[0], 1);
	assert_int_equal(bm[1], 1ull << 35);
	/* Taking clears. */
	assert_int_equal(dirty_take_bitmap(&t, 0, bm, 2), 0);
	assert_int_equal(dirty_take_bitmap(&t, 3, bm, 2), 0);
	dirty_tracker_destroy(&t);
}

/* A page logged twice in a row (a write interrupted by a kick) counts once. */
static void test_relogged_page_counts_once(void **state)
{
	struct dirty_tracker t;
	struct dirty_vcpu d;
	uint32_t prod = 0;
	uint64_t bm[2];

	(void)state;
	memset(gfns, 0, sizeof(gfns));
	dirty_tracker_init(&t, NULL);
	assert_int_equal(dirty_tracker_add_slot(&t, 0, 0, 100), 0);
	dirty_vcpu_init(&d, 0, gfns, RING);
	push(&prod, 0, 7);
	push(&prod, 0, 7); /* re-logged within one harvest */
	push(&prod, 0, 8);
	assert_int_equal(dirty_vcpu_harvest(&t, &d, NULL), 3);
	assert_int_equal(atomic_load(&d.pages), 2);
	assert_int_equal(atomic_load(&d.relogged), 1);
	kvm_reset();
	push(&prod, 0, 8); /* the same page across a harvest boundary */
	push(&prod, 0, 9);
	push(&prod, 0, 8); /* not consecutive: a real second dirtying */
	assert_int_equal(dirty_vcpu_harvest(&t, &d, NULL), 3);
	assert_int_equal(atomic_load(&d.pages), 4);
	assert_int_equal(atomic_load(&d.relogged), 2);
	/* The bitmap has every page, once. */
	assert_int_equal(dirty_take_bitmap(&t, 0, bm, 2), 3);
	dirty_vcpu_destroy(&d);
	dirty_tracker_destroy(&t);
}

/* The wedge detector: only a long run of empty ring-full exits trips it. */
static void test_wedge_detection(void **state)
{
	struct dirty_wedge w = {0};

	(void)state;
	for (int i = 1; i < DIRTY_WEDGE_EXITS; i++)
		assert_false(dirty_wedge_note(&w, 0, 0));
	/* Anything harvested, or anything reset, means the ring still works. */
	assert_false(dirty_wedge_note(&w, 5, 0));
	assert_int_equal(w.empty, 0);
	for (int i = 1; i < DIRTY_WEDGE_EXITS; i++)
		assert_false(dirty_wedge_note(&w, 0, 0));
	assert_false(dirty_wedge_note(&w, 0, 3));
	for (int i = 1; i < DIRTY_WEDGE_EXITS; i++)
		assert_false(dirty_wedge_note(&w, 0, 0));
	assert_true(dirty_wedge_note(&w, 0, 0));
	/* A failing reset (-errno) resets nothing either. */
	w.empty = 0;
	for (int i = 1; i < DIRTY_WEDGE_EXITS; i++)
		assert_false(dirty_wedge_note(&w, 0, -22));
	assert_true(dirty_wedge_note(&w, 0, -22));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_in_order),
	    cmocka_unit_test(test_partial_and_wrap),
	    cmocka_unit_test(test_stops_at_unfinished_entry),
	    cmocka_unit_test(test_rejects_bad_entries),
	    cmocka_unit_test(test_bitmap),
	    cmocka_unit_test(test_relogged_page_counts_once),
	    cmocka_unit_test(test_wedge_detection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

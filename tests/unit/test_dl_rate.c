// SPDX-License-Identifier: MIT
/* Unit tests of src/dirtylimit/dl_rate.[ch]: units and the rate window. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dirtylimit/dl_rate.h"

#define MS 1000000ull
#define S  1000000000ull

static void test_units(void **state)
{
	(void)state;
	assert_int_equal(dl_mib_to_pages(1), 256);
	assert_int_equal(dl_mib_to_pages(0), 0);
	assert_int_equal(dl_mib_to_pages(1000), 256000);
	assert_true(dl_mib_to_pages(UINT64_MAX / 2) == UINT64_MAX); /* saturates */
	assert_true(dl_pages_to_mib(256) == 1.0);
	assert_true(dl_pages_to_mib(128) == 0.5);
	/* QEMU's integer MB/s: pages * 4096 >> 20. */
	assert_int_equal(dl_pages_to_mib_floor(255), 0);
	assert_int_equal(dl_pages_to_mib_floor(256), 1);
	assert_int_equal(dl_pages_to_mib_floor(300000), 1171);
}

static void test_between(void **state)
{
	(void)state;
	assert_true(dl_rate_between(0, 0, 1000, S) == 1000.0);
	assert_true(dl_rate_between(100, S, 600, S + 500 * MS) == 1000.0);
	assert_true(dl_rate_between(0, S, 10, S) == 0);	   /* no time */
	assert_true(dl_rate_between(10, 0, 5, S) == 0);	   /* backwards */
	assert_true(dl_rate_between(0, 2 * S, 5, S) == 0); /* time backwards */
}

static void test_too_few_samples(void **state)
{
	struct dl_rate r;
	uint64_t span = 1;

	(void)state;
	dl_rate_init(&r);
	assert_true(dl_rate_pps(&r, S, &span) == 0);
	assert_int_equal(span, 0);
	dl_rate_push(&r, 10 * MS, 5);
	assert_true(dl_rate_pps(&r, S, &span) == 0);
	assert_int_equal(span, 0);
	dl_rate_push(&r, 60 * MS, 55);
	assert_true(dl_rate_pps(&r, 0, NULL) == 0); /* empty window */
}

/* Constant 1000 pages/s sampled every 50 ms. */
static void fill(struct dl_rate *r, unsigned int n, uint64_t t0, uint64_t p0)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		dl_rate_push(r, t0 + i * 50 * MS, p0 + i * 50);
}

static void test_constant_rate(void **state)
{
	struct dl_rate r;
	uint64_t span;

	(void)state;
	dl_rate_init(&r);
	fill(&r, 41, 0, 0); /* 0 .. 2 s */
	assert_float_equal(dl_rate_pps(&r, S, &span), 1000.0, 1e-9);
	assert_int_equal(span, S);
	assert_float_equal(dl_rate_pps(&r, 100 * MS, &span), 1000.0, 1e-9);
	assert_int_equal(span, 100 * MS);
	/* A window that is not a multiple of the period: interpolated. */
	assert_float_equal(dl_rate_pps(&r, 1234 * MS, &span), 1000.0, 1e-9);
	assert_int_equal(span, 1234 * MS);
}

static void test_window_sees_only_recent(void **state)
{
	struct dl_rate r;
	unsigned int i;

	(void)state;
	dl_rate_init(&r);
	/* 1000 pages/s up to 1 s, then 3000 pages/s up to 2 s. */
	for (i = 0; i <= 20; i++)
		dl_rate_push(&r, i * 50 * MS, i * 50);
	for (i = 1; i <= 20; i++)
		dl_rate_push(&r, S + i * 50 * MS, 1000 + i * 150);
	assert_float_equal(dl_rate_pps(&r, 500 * MS, NULL), 3000.0, 1e-6);
	assert_float_equal(dl_rate_pps(&r, S, NULL), 3000.0, 1e-6);
	/* 1.5 s: from 0.5 s (500 pages) to 2 s (4000 pages). */
	assert_float_equal(dl_rate_pps(&r, 1500 * MS, NULL), 3500.0 / 1.5, 1e-6);
}

static void test_interpolation(void **state)
{
	struct dl_rate r;
	uint64_t span;

	(void)state;
	dl_rate_init(&r);
	dl_rate_push(&r, 0, 0);
	dl_rate_push(&r, 100 * MS, 100); /* 1000/s */
	dl_rate_push(&r, 200 * MS, 300); /* 2000/s */
	/* Window 150 ms: starts at 50 ms, where pages = 50. */
	assert_float_equal(dl_rate_pps(&r, 150 * MS, &span), (300.0 - 50.0) / 0.150, 1e-6);
	assert_int_equal(span, 150 * MS);
}

static void test_history_shorter_than_window(void **state)
{
	struct dl_rate r;
	uint64_t span;

	(void)state;
	dl_rate_init(&r);
	dl_rate_push(&r, 1 * S, 1000);
	dl_rate_push(&r, 1 * S + 200 * MS, 1400);
	assert_float_equal(dl_rate_pps(&r, 5 * S, &span), 2000.0, 1e-9);
	assert_int_equal(span, 200 * MS);
}

static void test_ring_wraps(void **state)
{
	struct dl_rate r;
	uint64_t span;

	(void)state;
	dl_rate_init(&r);
	fill(&r, 3 * DL_RATE_SLOTS + 7, 0, 0);
	assert_int_equal(r.n, DL_RATE_SLOTS);
	assert_float_equal(dl_rate_pps(&r, S, NULL), 1000.0, 1e-9);
	/* Longer than the history: all of it, (SLOTS - 1) periods. */
	assert_float_equal(dl_rate_pps(&r, 100 * S, &span), 1000.0, 1e-9);
	assert_int_equal(span, (DL_RATE_SLOTS - 1) * 50 * MS);
}

static void test_bad_samples(void **state)
{
	struct dl_rate r;

	(void)state;
	dl_rate_init(&r);
	fill(&r, 21, 0, 0); /* up to 1 s, 1000 pages */
	/* Time not later than the newest: ignored. */
	dl_rate_push(&r, 1 * S, 99999);
	dl_rate_push(&r, 500 * MS, 99999);
	assert_int_equal(r.n, 21);
	assert_float_equal(dl_rate_pps(&r, S, NULL), 1000.0, 1e-9);
	/* Counter went backwards (vCPU reset): history restarts. */
	dl_rate_push(&r, 1050 * MS, 10);
	assert_int_equal(r.n, 1);
	assert_true(dl_rate_pps(&r, S, NULL) == 0);
	dl_rate_push(&r, 1100 * MS, 110);
	assert_float_equal(dl_rate_pps(&r, S, NULL), 2000.0, 1e-9);
}

static void test_zero_rate(void **state)
{
	struct dl_rate r;
	unsigned int i;

	(void)state;
	dl_rate_init(&r);
	for (i = 0; i < 30; i++)
		dl_rate_push(&r, i * 50 * MS, 777);
	assert_true(dl_rate_pps(&r, S, NULL) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_units),
	    cmocka_unit_test(test_between),
	    cmocka_unit_test(test_too_few_samples),
	    cmocka_unit_test(test_constant_rate),
	    cmocka_unit_test(test_window_sees_only_recent),
	    cmocka_unit_test(test_interpolation),
	    cmocka_unit_test(test_history_shorter_than_window),
	    cmocka_unit_test(test_ring_wraps),
	    cmocka_unit_test(test_bad_samples),
	    cmocka_unit_test(test_zero_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * The user's and the migration's dirty limits (src/migrate/mig_limits.c):
 * the tighter is in force, the apply callback runs only on a change, and
 * the end of a migration, however it ends, restores the user's limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "migrate/mig_limits.h"

#define N 3

/* What the VM has: the last value applied to each vCPU, and how often. */
static uint64_t vm[N];
static unsigned calls[N];

static void apply(void *ctx, unsigned i, uint64_t pps)
{
	assert_ptr_equal(ctx, vm);
	assert_true(i < N);
	vm[i] = pps;
	calls[i]++;
}

/* A migration starts with the user's limits in force in the VM. */
static void start(struct mig_limits *l, const uint64_t *user)
{
	for (unsigned i = 0; i < N; i++) {
		vm[i] = user ? user[i] : 0;
		calls[i] = 0;
	}
	assert_int_equal(mig_limits_init(l, N, user), 0);
}

static void test_init(void **state)
{
	struct mig_limits l;

	(void)state;
	assert_int_equal(mig_limits_init(&l, 0, NULL), -EINVAL);
	assert_int_equal(mig_limits_init(&l, MIG_MAX_VCPUS + 1, NULL), -EINVAL);
	start(&l, NULL);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(mig_limits_effective(&l, i), 0);
	assert_int_equal(mig_limits_effective(&l, N), 0); /* out of range */
}

static void test_tighter_and_restore(void **state)
{
	const uint64_t user[N] = {2560, 0, 100};
	const uint64_t mig[N] = {1000, 500, 0};
	struct mig_limits l;

	(void)state;
	start(&l, user);
	mig_limits_set_mig(&l, mig, apply, vm);
	/* The tighter of the two; 0 on one side is no limit there. */
	assert_int_equal(vm[0], 1000);
	assert_int_equal(vm[1], 500);
	assert_int_equal(vm[2], 100);
	assert_int_equal(calls[2], 0); /* unchanged: not applied */
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(mig_limits_effective(&l, i), vm[i]);
	/* The same again: nothing to apply. */
	mig_limits_set_mig(&l, mig, apply, vm);
	assert_int_equal(calls[0] + calls[1] + calls[2], 2);
	/* The end restores exactly what the user had. */
	mig_limits_end(&l, apply, vm);
	assert_int_equal(vm[0], 2560);
	assert_int_equal(vm[1], 0);
	assert_int_equal(vm[2], 100);
	assert_int_equal(calls[2], 0);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(mig_limits_user(&l, i), user[i]);
}

static void test_user_during_migration(void **state)
{
	const uint64_t mig[N] = {1000, 1000, 1000};
	struct mig_limits l;

	(void)state;
	start(&l, NULL);
	mig_limits_set_mig(&l, mig, apply, vm);
	/* A looser user limit changes nothing now, and is kept. */
	mig_limits_set_user(&l, 0, 5000, apply, vm);
	assert_int_equal(vm[0], 1000);
	assert_int_equal(calls[0], 1);
	/* A tighter one applies at once. */
	mig_limits_set_user(&l, 1, 300, apply, vm);
	assert_int_equal(vm[1], 300);
	/* The policy lifts vCPU 1: the user's still holds. */
	mig_limits_set_mig(&l, (const uint64_t[]){1000, 0, 1000}, apply, vm);
	assert_int_equal(vm[1], 300);
	/* The user cancels vCPU 1 during the migration: nothing on it. */
	mig_limits_set_user(&l, 1, 0, apply, vm);
	assert_int_equal(vm[1], 0);
	/* Out of range: ignored. */
	mig_limits_set_user(&l, N, 7, apply, vm);
	/* A cancelled or failed migration ends the same way. */
	mig_limits_end(&l, apply, vm);
	assert_int_equal(vm[0], 5000);
	assert_int_equal(vm[1], 0);
	assert_int_equal(vm[2], 0);
	/* A second end is harmless. */
	mig_limits_end(&l, apply, vm);
	assert_int_equal(vm[0], 5000);
	/* No callback: the bookkeeping alone. */
	mig_limits_set_mig(&l, mig, NULL, NULL);
	assert_int_equal(mig_limits_effective(&l, 0), 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init),
	    cmocka_unit_test(test_tighter_and_restore),
	    cmocka_unit_test(test_user_during_migration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/* Unit tests of src/vmm/runstate.c: pause reasons and the STOP/RESUME events. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm/runstate.h"

/* One transition and what it must ask of the caller. */
static void expect(const struct runstate_out *o, bool park, bool release, bool stop, bool resume)
{
	assert_int_equal(o->park, park);
	assert_int_equal(o->release, release);
	assert_int_equal(o->event_stop, stop);
	assert_int_equal(o->event_resume, resume);
}

static void pause_parked(struct runstate *s, unsigned reason, bool park, bool stop)
{
	struct runstate_out o;

	runstate_pause(s, reason, &o);
	expect(&o, park, false, false, false);
	runstate_parked(s, &o);
	expect(&o, false, false, stop, false);
}

static void test_user_stop_cont(void **state)
{
	struct runstate s;
	struct runstate_out o;

	(void)state;
	runstate_init(&s);
	pause_parked(&s, RUNSTATE_USER, true, true);
	assert_true(s.paused);
	runstate_resume(&s, RUNSTATE_USER, &o);
	expect(&o, false, true, false, true);
	assert_false(s.paused);
}

/* The case: user stop, migration pause, migration resume: still paused; cont: runs. */
static void test_migration_does_not_undo_user_stop(void **state)
{
	struct runstate s;
	struct runstate_out o;

	(void)state;
	runstate_init(&s);
	pause_parked(&s, RUNSTATE_USER, true, true);
	pause_parked(&s, RUNSTATE_MIGRATION, false, false);
	runstate_resume(&s, RUNSTATE_MIGRATION, &o);
	expect(&o, false, false, false, false);
	assert_true(s.paused);
	assert_true(runstate_holds(&s, RUNSTATE_USER));
	runstate_resume(&s, RUNSTATE_USER, &o);
	expect(&o, false, true, false, true);
	assert_false(s.paused);
}

/* And the other way round: a user's cont does not release a migration's pause. */
static void test_user_cont_does_not_undo_migration(void **state)
{
	struct runstate s;
	struct runstate_out o;

	(void)state;
	runstate_init(&s);
	pause_parked(&s, RUNSTATE_MIGRATION, true, true);
	pause_parked(&s, RUNSTATE_USER, false, false);
	runstate_resume(&s, RUNSTATE_USER, &o);
	expect(&o, false, false, false, false);
	assert_true(s.paused);
	/* cont without a stop of one's own: nothing. */
	runstate_resume(&s, RUNSTATE_USER, &o);
	expect(&o, false, false, false, false);
	runstate_resume(&s, RUNSTATE_MIGRATION, &o);
	expect(&o, false, true, false, true);
}

static void test_twice_is_once(void **state)
{
	struct runstate s;
	struct runstate_out o;

	(void)state;
	runstate_init(&s);
	pause_parked(&s, RUNSTATE_USER, true, true);
	pause_parked(&s, RUNSTATE_USER, false, false);
	runstate_resume(&s, RUNSTATE_USER, &o);
	expect(&o, false, true, false, true);
	runstate_resume(&s, RUNSTATE_USER, &o);
	expect(&o, false, false, false, false);
}

static void test_cont_while_running(void **state)
{
	struct runstate s;
	struct runstate_out o;

	(void)state;
	runstate_init(&s);
	runstate_resume(&s, RUNSTATE_USER, &o);
	expect(&o, false, false, false, false);
	assert_false(s.paused);
}

/* A pause undone before every vCPU parked: release, but no RESUME for a STOP never sent. */
static void test_undo_before_parked(void **state)
{
	struct runstate s;
	struct runstate_out o;

	(void)state;
	runstate_init(&s);
	runstate_pause(&s, RUNSTATE_MIGRATION, &o);
	expect(&o, true, false, false, false);
	runstate_resume(&s, RUNSTATE_MIGRATION, &o);
	expect(&o, false, true, false, false);
	assert_false(s.paused);
	/* A later parked report with no reason left announces nothing. */
	runstate_parked(&s, &o);
	expect(&o, false, false, false, false);
}

/* Two reasons arrive before the vCPUs park: one park request, one STOP. */
static void test_second_reason_while_parking(void **state)
{
	struct runstate s;
	struct runstate_out o;

	(void)state;
	runstate_init(&s);
	runstate_pause(&s, RUNSTATE_USER, &o);
	expect(&o, true, false, false, false);
	runstate_pause(&s, RUNSTATE_MIGRATION, &o);
	expect(&o, false, false, false, false);
	runstate_parked(&s, &o);
	expect(&o, false, false, true, false);
	runstate_parked(&s, &o);
	expect(&o, false, false, false, false);
	runstate_resume(&s, RUNSTATE_MIGRATION, &o);
	expect(&o, false, false, false, false);
	runstate_resume(&s, RUNSTATE_USER, &o);
	expect(&o, false, true, false, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_user_stop_cont),
	    cmocka_unit_test(test_migration_does_not_undo_user_stop),
	    cmocka_unit_test(test_user_cont_does_not_undo_migration),
	    cmocka_unit_test(test_twice_is_once),
	    cmocka_unit_test(test_cont_while_running),
	    cmocka_unit_test(test_undo_before_parked),
	    cmocka_unit_test(test_second_reason_while_parking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

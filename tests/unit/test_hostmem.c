// SPDX-License-Identifier: MIT
/* Unit tests of src/vmm/hostmem.c: /proc/meminfo text against --mem. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "vmm/hostmem.h"

#define MIB (1ull << 20)

/* The head of a real /proc/meminfo of our 24 GiB hosts, with 4 GiB in use. */
static const char meminfo[] = "MemTotal:       24683656 kB\n"
			      "MemFree:        20000000 kB\n"
			      "MemAvailable:   20489352 kB\n"
			      "Buffers:           12345 kB\n"
			      "SwapTotal:             0 kB\n";

static void test_parse(void **state)
{
	struct hostmem h;

	(void)state;
	assert_int_equal(hostmem_parse(meminfo, &h), 0);
	assert_true(h.total == 24683656ull * 1024);
	assert_true(h.available == 20489352ull * 1024);
}

static void test_parse_missing(void **state)
{
	struct hostmem h;

	(void)state;
	/* Kernels before 3.14 have no MemAvailable. */
	assert_int_equal(hostmem_parse("MemTotal: 1024 kB\nMemFree: 512 kB\n", &h), -EINVAL);
	assert_int_equal(hostmem_parse("", &h), -EINVAL);
	assert_int_equal(hostmem_parse("MemTotal: lots\nMemAvailable: 5 kB\n", &h), -EINVAL);
	/* A key that merely starts like ours is not ours. */
	assert_int_equal(hostmem_parse("MemTotalX: 5 kB\nMemAvailable: 5 kB\n", &h), -EINVAL);
}

/* Between available and total: refused (the old check compared with total). */
static void test_check_available(void **state)
{
	struct hostmem h;
	char err[256];

	(void)state;
	assert_int_equal(hostmem_parse(meminfo, &h), 0);
	assert_int_equal(hostmem_check(20000 * MIB, &h, err, sizeof(err)), 0);
	assert_int_equal(hostmem_check(h.available, &h, err, sizeof(err)), 0);
	assert_int_equal(hostmem_check(23 * 1024 * MIB, &h, err, sizeof(err)), -ENOMEM);
	assert_string_equal(
	    err,
	    "--mem 23552 MiB is more than this host has available: 20009 MiB free of 24105 MiB of RAM (MemAvailable in /proc/meminfo)");
	assert_int_equal(hostmem_check(h.available + 4096, &h, err, sizeof(err)), -ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_missing),
	    cmocka_unit_test(test_check_available),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/* Unit tests of src/vmm/size.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "vmm/size.h"

struct good {
	const char *s;
	unsigned shift;
	uint64_t want;
};

static void test_valid(void **state)
{
	static const struct good cases[] = {
	    {"0", SIZE_UNIT_BYTES, 0},
	    {"0", SIZE_UNIT_MIB, 0},
	    {"1", SIZE_UNIT_BYTES, 1},
	    {"512", SIZE_UNIT_MIB, 512ull << 20},
	    {"512", SIZE_UNIT_KIB, 512ull << 10},
	    {"1K", SIZE_UNIT_MIB, 1024},
	    {"1k", SIZE_UNIT_MIB, 1024},
	    {"1KB", SIZE_UNIT_MIB, 1024},
	    {"1kb", SIZE_UNIT_MIB, 1024},
	    {"1KiB", SIZE_UNIT_MIB, 1024},
	    {"1kib", SIZE_UNIT_MIB, 1024},
	    {"1KIB", SIZE_UNIT_MIB, 1024},
	    {"4096B", SIZE_UNIT_MIB, 4096},
	    {"4096b", SIZE_UNIT_MIB, 4096},
	    {"512M", SIZE_UNIT_BYTES, 512ull << 20},
	    {"512MiB", SIZE_UNIT_BYTES, 512ull << 20},
	    {"2G", SIZE_UNIT_BYTES, 2ull << 30},
	    {"2gb", SIZE_UNIT_BYTES, 2ull << 30},
	    {"1T", SIZE_UNIT_BYTES, 1ull << 40},
	    {"007M", SIZE_UNIT_BYTES, 7ull << 20},
	    {"16777215T", SIZE_UNIT_BYTES, 16777215ull << 40},
	    {"18446744073709551615", SIZE_UNIT_BYTES, UINT64_MAX},
	    {"18446744073709551615B", SIZE_UNIT_MIB, UINT64_MAX},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		uint64_t v = 12345;

		assert_int_equal(size_parse(cases[i].s, cases[i].shift, &v, err, sizeof(err)), 0);
		assert_true(v == cases[i].want);
		assert_string_equal(err, "");
	}
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
	    "",	 "abc", "-1",	"+1",  " 1",  "1 ",   "1.5G", "1X", "1KX",   "1Bi", "1iB", "1KK",
	    "K", "M",	"0x10", "1e3", "1Ki", "1KBB", "1 K",  "1-", "1GiBB", "1,5", "--1",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		uint64_t v = 12345;

		assert_int_equal(size_parse(bad[i], SIZE_UNIT_MIB, &v, err, sizeof(err)), -EINVAL);
		assert_true(v == 12345);
		assert_true(strlen(err) > 0);
	}
}

static void test_null_is_invalid(void **state)
{
	char err[256] = "";
	uint64_t v = 1;

	assert_int_equal(size_parse(NULL, SIZE_UNIT_MIB, &v, err, sizeof(err)), -EINVAL);
	assert_true(strlen(err) > 0);
}

static void test_negative_message(void **state)
{
	char err[256] = "";
	uint64_t v;

	assert_int_equal(size_parse("-5G", SIZE_UNIT_MIB, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "negative"));
}

static void test_overflow(void **state)
{
	static const struct good cases[] = {
	    {"18446744073709551616", SIZE_UNIT_BYTES, 0},
	    {"99999999999999999999999", SIZE_UNIT_BYTES, 0},
	    {"16777216T", SIZE_UNIT_BYTES, 0},
	    {"17179869184G", SIZE_UNIT_BYTES, 0},
	    {"18446744073709551615", SIZE_UNIT_MIB, 0},
	    {"17592186044416", SIZE_UNIT_MIB, 0}, /* 2^44 MiB = 2^64 bytes */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		uint64_t v = 12345;

		assert_int_equal(size_parse(cases[i].s, cases[i].shift, &v, err, sizeof(err)),
				 -ERANGE);
		assert_true(v == 12345);
		assert_non_null(strstr(err, cases[i].s));
	}
}

/* Malformed text is malformed, however many digits it starts with (found by fuzz_size). */
static void test_malformed_beats_overflow(void **state)
{
	static const char *const cases[] = {"118446744073709551615(", "99999999999999999999X",
					    "18446744073709551616 ", "99999999999999999999999KiBB"};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		uint64_t v = 12345;

		assert_int_equal(size_parse(cases[i], SIZE_UNIT_BYTES, &v, err, sizeof(err)),
				 -EINVAL);
		assert_true(v == 12345);
		assert_non_null(strstr(err, "invalid size"));
	}
}

static void test_error_message_truncates_safely(void **state)
{
	char err[8];
	uint64_t v;

	assert_int_equal(size_parse("garbage", SIZE_UNIT_MIB, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	/* A zero-length buffer is allowed. */
	assert_int_equal(size_parse("garbage", SIZE_UNIT_MIB, &v, NULL, 0), -EINVAL);
}

static void test_format(void **state)
{
	static const struct {
		uint64_t v;
		const char *want;
	} cases[] = {
	    {0, "0"},
	    {1, "1"},
	    {1023, "1023"},
	    {1024, "1K"},
	    {4100ull << 10, "4100K"},
	    {512ull << 20, "512M"},
	    {1ull << 30, "1G"},
	    {3ull << 40, "3T"},
	    {(1ull << 40) + (1ull << 20), "1048577M"},
	    {UINT64_MAX, "18446744073709551615"},
	};
	char buf[24];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[64];
		uint64_t back;

		assert_int_equal(size_format(cases[i].v, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].want);
		/* Round trip. */
		assert_int_equal(size_parse(buf, SIZE_UNIT_BYTES, &back, err, sizeof(err)), 0);
		assert_true(back == cases[i].v);
	}
	assert_int_equal(size_format(512ull << 20, buf, 5), 0);
	assert_int_equal(size_format(512ull << 20, buf, 4), -ENOSPC);
	assert_string_equal(buf, "512");
	assert_int_equal(size_format(1000, buf, 4), -ENOSPC);
	assert_string_equal(buf, "100");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_null_is_invalid),
	    cmocka_unit_test(test_negative_message),
	    cmocka_unit_test(test_overflow),
	    cmocka_unit_test(test_malformed_beats_overflow),
	    cmocka_unit_test(test_error_message_truncates_safely),
	    cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

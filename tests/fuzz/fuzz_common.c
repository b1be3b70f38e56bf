// SPDX-License-Identifier: MIT
/* What the fuzz targets share (see fuzz.h). */
#include "fuzz.h"

#include <string.h>

bool fuzz_expect_valid;

void fuzz_valid(bool accepted, const char *what, const char *why)
{
	FUZZ_CHECK(accepted || !fuzz_expect_valid,
		   "this ok- seed is no longer accepted (%s: %s): regenerate the seeds "
		   "(docs/fuzzing.md)",
		   what, why ? why : "");
}

bool fuzz_msg_ok(const char *msg, size_t cap)
{
	size_t n = strnlen(msg, cap), i;

	if (n == 0 || n == cap)
		return false;
	for (i = 0; i < n; i++)
		if (msg[i] < 0x20 || msg[i] > 0x7e)
			return false;
	return true;
}

// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the size parser (src/vmm/size.c: --mem and every size on
 * vmm's command line) and the guest's own (cmdline_parse_size() in
 * guest/cmdline.c: wss= on the kernel command line).
 *
 * Input: 1 control byte (the default unit: bytes, KiB or MiB), then the
 * text (up to its first NUL).
 * Checked:
 *   - the value is the one the syntax of size.h gives, computed here
 *     independently with 128-bit arithmetic: digits, then K/M/G/T with an
 *     optional B or iB (any case), or a lone B; a bare number in the
 *     default unit; -ERANGE exactly when it does not fit in 64 bits;
 *   - a refusal is -EINVAL or -ERANGE with a message, the output untouched;
 *   - a parsed size round-trips: size_format() writes it in at most 24
 *     bytes and size_parse() reads back the same value; a shorter buffer
 *     gets -ENOSPC and still a NUL;
 *   - the guest reads a size as vmm does ("as vmm's own options take
 *     them", guest/cmdline.c), bare numbers in bytes, except the lone "B"
 *     that only vmm takes.
 */
#include "fuzz.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "cmdline.h"
#include "vmm/size.h"

#define FZ_SENTINEL 0x5eed5eed5eed5eedull

/*
 * The syntax of size.h, independently: 1 value, 0 malformed, -1 too large.
 * *lone_b: the suffix is a lone B.
 */
static int reference(const char *s, unsigned int shift, uint64_t *out, bool *lone_b)
{
	unsigned __int128 v = 0;
	bool big = false;
	const char *p = s;
	unsigned int sh = shift;

	*lone_b = false;
	if (!isdigit((unsigned char)*p))
		return 0;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > UINT64_MAX)
			big = true, v = (unsigned __int128)UINT64_MAX + 1; /* stays too large */
	}
	if (*p) {
		const char *units = "kmgt", *u = strchr(units, tolower((unsigned char)*p));

		if ((*p == 'b' || *p == 'B') && !p[1]) {
			*lone_b = true;
			sh = 0;
		} else if (u && *p) {
			sh = 10 * (unsigned int)(u - units + 1);
			p++;
			if (tolower((unsigned char)p[0]) == 'i' &&
			    tolower((unsigned char)p[1]) == 'b')
				p += 2;
			else if (tolower((unsigned char)p[0]) == 'b')
				p++;
			if (*p)
				return 0;
		} else {
			return 0;
		}
	}
	if (big || (v << sh) > UINT64_MAX)
		return -1;
	*out = (uint64_t)(v << sh);
	return 1;
}

static void check_format(uint64_t v)
{
	char buf[24], *small;
	uint64_t back = 0;
	char err[256];
	size_t need, len;

	FUZZ_CHECK(size_format(v, buf, sizeof(buf)) == 0, "size_format(%llu) needs more than 24",
		   (unsigned long long)v);
	FUZZ_CHECK(size_parse(buf, SIZE_UNIT_BYTES, &back, err, sizeof(err)) == 0 && back == v,
		   "%llu formats as \"%s\", which parses as %llu", (unsigned long long)v, buf,
		   (unsigned long long)back);
	/* Every shorter buffer, exactly that long: -ENOSPC and a NUL, no byte beyond. */
	need = strlen(buf) + 1;
	for (len = 1; len < need; len++) {
		small = malloc(len);
		if (!small)
			abort();
		FUZZ_CHECK(size_format(v, small, len) == -ENOSPC, "%zu bytes for \"%s\"", len, buf);
		FUZZ_CHECK(memchr(small, '\0', len) != NULL, "no NUL in %zu bytes", len);
		free(small);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int shifts[] = {SIZE_UNIT_BYTES, SIZE_UNIT_KIB, SIZE_UNIT_MIB};
	unsigned int shift;
	uint64_t v = FZ_SENTINEL, want = 0, g = 0;
	char err[256], *s;
	size_t len;
	bool lone_b;
	int r, ref, gr;

	if (size < 1)
		return 0;
	shift = shifts[data[0] % 3];
	len = strnlen((const char *)data + 1, size - 1);
	s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, data + 1, len);
	s[len] = '\0';

	err[0] = '\0';
	r = size_parse(s, shift, &v, err, sizeof(err));
	ref = reference(s, shift, &want, &lone_b);
	if (ref == 1) {
		FUZZ_CHECK(r == 0 && v == want, "\"%s\" (unit 2^%u): %d, %llu; expected %llu", s,
			   shift, r, (unsigned long long)v, (unsigned long long)want);
		check_format(v);
	} else {
		FUZZ_CHECK(r == (ref ? -ERANGE : -EINVAL), "\"%s\": %d, expected %s", s, r,
			   ref ? "-ERANGE" : "-EINVAL");
		FUZZ_CHECK(v == FZ_SENTINEL, "\"%s\": output written on error", s);
		FUZZ_CHECK(err[0] && strnlen(err, sizeof(err)) < sizeof(err), "\"%s\": no message",
			   s);
	}
	fuzz_valid(r == 0, "size", err);

	/* The guest's parser, given the bytes without a NUL after them. */
	{
		char *exact = malloc(len ? len : 1);

		if (!exact)
			abort();
		memcpy(exact, s, len);
		gr = cmdline_parse_size(exact, (unsigned int)len, &g);
		free(exact);
	}
	if (shift == SIZE_UNIT_BYTES)
		FUZZ_CHECK((gr == 0) == (r == 0 && !lone_b) && (gr || g == v),
			   "\"%s\": vmm %d (%llu), guest %d (%llu)", s, r, (unsigned long long)v,
			   gr, (unsigned long long)g);
	free(s);
	return 0;
}

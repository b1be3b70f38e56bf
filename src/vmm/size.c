// SPDX-License-Identifier: MIT
/* Human sizes: see size.h for the accepted syntax. */
#include "vmm/size.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Shift for a suffix letter, or -1 when @c is not one. */
static int suffix_shift(char c)
{
	switch (c) {
	case 'k':
	case 'K':
		return 10;
	case 'm':
	case 'M':
		return 20;
	case 'g':
	case 'G':
		return 30;
	case 't':
	case 'T':
		return 40;
	default:
		return -1;
	}
}

static int is_b(char c)
{
	return c == 'b' || c == 'B';
}

static int is_i(char c)
{
	return c == 'i' || c == 'I';
}

int size_parse(const char *s, unsigned default_shift, uint64_t *out, char *err, size_t errlen)
{
	const char *p = s;
	uint64_t v = 0;
	bool too_large = false;
	int shift;

	if (!s || !*s) {
		snprintf(err, errlen, "empty size: expected a number such as 512M or 2G");
		return -EINVAL;
	}
	if (*p == '-') {
		snprintf(err, errlen, "invalid size \"%s\": a size cannot be negative", s);
		return -EINVAL;
	}
	if (*p < '0' || *p > '9')
		goto bad;
	/* Every digit, even past 64 bits: malformed text is reported as such, not as too large. */
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			too_large = true;
		else
			v = v * 10 + d;
	}

	if (!*p) {
		shift = (int)default_shift;
	} else if (is_b(p[0]) && !p[1]) {
		shift = 0;
	} else {
		shift = suffix_shift(p[0]);
		if (shift < 0)
			goto bad;
		p++;
		if (is_i(p[0]) && is_b(p[1]))
			p += 2;
		else if (is_b(p[0]))
			p++;
		if (*p)
			goto bad;
	}

	if (too_large || shift >= 64 || (shift > 0 && v > (UINT64_MAX >> shift)))
		goto range;
	*out = v << shift;
	return 0;

bad:
	snprintf(
	    err, errlen,
	    "invalid size \"%s\": expected a whole number with an optional K, M, G or T suffix "
	    "(e.g. 512M or 2GiB)",
	    s);
	return -EINVAL;
range:
	snprintf(err, errlen, "size \"%s\" is too large", s);
	return -ERANGE;
}

int size_format(uint64_t bytes, char *buf, size_t len)
{
	static const char suffix[] = "KMGT";
	int shift = 40, n;

	for (int i = 3; i >= 0; i--, shift -= 10) {
		if (bytes && !(bytes & ((1ull << shift) - 1))) {
			n = snprintf(buf, len, "%llu%c", (unsigned long long)(bytes >> shift),
				     suffix[i]);
			return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
		}
	}
	n = snprintf(buf, len, "%llu", (unsigned long long)bytes);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

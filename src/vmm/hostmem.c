// SPDX-License-Identifier: MIT
/* Host memory against --mem: see hostmem.h. */
#include "vmm/hostmem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* "Key:   123 kB" at the start of a line: the value in bytes. */
static bool field(const char *text, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		unsigned long long v;
		char unit[4] = "";

		if (strncmp(p, key, klen) || p[klen] != ':')
			continue;
		if (sscanf(p + klen + 1, "%llu %3s", &v, unit) < 1)
			return false;
		if (strcmp(unit, "kB") || v > UINT64_MAX / 1024)
			return false;
		*out = (uint64_t)v * 1024;
		return true;
	}
	return false;
}

int hostmem_parse(const char *meminfo, struct hostmem *out)
{
	if (!field(meminfo, "MemTotal", &out->total) ||
	    !field(meminfo, "MemAvailable", &out->available))
		return -EINVAL;
	return 0;
}

int hostmem_check(uint64_t want, const struct hostmem *h, char *err, size_t errlen)
{
	if (want <= h->available)
		return 0;
	snprintf(
	    err, errlen,
	    "--mem %llu MiB is more than this host has available: %llu MiB free of %llu MiB of RAM (MemAvailable in /proc/meminfo)",
	    (unsigned long long)(want >> 20), (unsigned long long)(h->available >> 20),
	    (unsigned long long)(h->total >> 20));
	return -ENOMEM;
}

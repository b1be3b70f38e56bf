/* SPDX-License-Identifier: MIT */
/*
 * hostmem: does the host have the memory a guest asks for?  Pure: the
 * caller reads /proc/meminfo and hands over its text.
 *
 * A guest's RAM is mapped with MAP_NORESERVE and filled as the guest
 * touches it, so nothing fails at start when it is too large: the host
 * runs out later, and the kernel's OOM killer takes vmm (and the guest)
 * or some other process.  So --mem is compared with what the host has
 * available now (MemAvailable: free memory plus what the kernel can
 * reclaim without swapping), not with its total RAM.
 */
#ifndef VMM_HOSTMEM_H
#define VMM_HOSTMEM_H

#include <stddef.h>
#include <stdint.h>

struct hostmem {
	uint64_t total;	    /* MemTotal, bytes */
	uint64_t available; /* MemAvailable, bytes */
};

/* Parse /proc/meminfo's text; -EINVAL if MemTotal or MemAvailable is missing. */
int hostmem_parse(const char *meminfo, struct hostmem *out);

/*
 * 0 if @want bytes of guest RAM fit in what is available, else -ENOMEM and
 * one sentence in @err naming both figures.
 */
int hostmem_check(uint64_t want, const struct hostmem *h, char *err, size_t errlen);

#endif

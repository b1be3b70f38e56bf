/* SPDX-License-Identifier: MIT */
/*
 * A tiny reader of flattened device trees (no libfdt in the guest): only
 * the few properties vmm hands to the stress kernel.  Pure code, unit-tested
 * hosted against trees built with libfdt (tests/unit/test_guest_dtb.c).
 */
#ifndef GUEST_DTB_H
#define GUEST_DTB_H

#include <stdint.h>

/* vmm describes one RAM range; a few more cost nothing. */
#define DTB_MAX_MEM 8

struct dtb_mem {
	uint64_t base;
	uint64_t size;
};

struct dtb_info {
	const char *bootargs; /* /chosen/bootargs, NULL if absent */
	uint32_t tsc_khz;     /* /chosen/vmm,tsc-khz, 0 if absent */
	uint64_t stats_addr;  /* /chosen/vmm,stats-region, 0 if absent */
	uint64_t stats_size;
	uint32_t nmem; /* ranges of /memory reg */
	struct dtb_mem mem[DTB_MAX_MEM];
	uint32_t ncpus; /* /cpus/cpu@N nodes */
};

/*
 * Read the blob at fdt, which is at most max_size bytes long.  Returns 0, or
 * -1 if it is not a well-formed tree (info is then partly filled).
 */
int dtb_parse(const void *fdt, uint64_t max_size, struct dtb_info *info);

#endif

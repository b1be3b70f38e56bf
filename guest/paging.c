// SPDX-License-Identifier: MIT
/*
 * Identity map beyond the first GiB.  entry.S maps [0, 1 GiB) with a
 * link-time page directory; here every further GiB of guest-physical space
 * that holds RAM or the stats region gets a page directory of 2 MiB pages
 * from a static pool.
 */
#include "kernel.h"

/*
 * Guest-physical space we can map: 64 GiB of RAM plus the stats region
 * just above it, with room to spare.  Each GiB costs a 4 KiB page directory
 * in .bss.
 */
#define PAGING_MAX_GIB 128

#define ENTRIES 512

extern uint64_t boot_pml4[ENTRIES], boot_pdpt[ENTRIES];

/* Not zeroed at boot (.bss.noinit): a directory is written in full before use. */
static uint64_t pd_pool[PAGING_MAX_GIB - 1][ENTRIES]
    __attribute__((section(".bss.noinit"), aligned(4096)));

int paging_identity_map(uint64_t end)
{
	uint64_t gib = ALIGN_UP(end, GIB) / GIB, g, i;

	if (end > PAGING_MAX_GIB * GIB)
		return -1;
	for (g = 1; g < gib; g++) {
		uint64_t *pd = pd_pool[g - 1];

		if (boot_pdpt[g])
			continue;
		for (i = 0; i < ENTRIES; i++)
			pd[i] = g * GIB + i * HUGE_PAGE_SIZE + PTE_2M_FLAGS;
		boot_pdpt[g] = (uint64_t)(uintptr_t)pd + PTE_TABLE_FLAGS;
	}
	/*
	 * No TLB flush: only absent entries became present, and the CPU
	 * caches no absent entries.  (This runs in ring 3, see cpu.c.)
	 */
	return 0;
}

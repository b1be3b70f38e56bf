// SPDX-License-Identifier: MIT
/* Boot structures and initial vCPU state: see boot.h. */
#include "vmm/boot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "stress_abi.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "boot.c writes little-endian guest structures with memcpy: x86 hosts only"
#endif

/*
 * Lower memory reported in the information structure, in KiB: the PC's
 * 640 KiB of conventional memory less the 1 KiB extended BIOS data area, as
 * firmware reports it.  Informational only: the memory map, which kernels
 * should prefer, marks all of [0, 1 MiB) reserved, boot structures included.
 */
#define BOOT_MEM_LOWER_KIB 639

/* Multiboot information structure offsets (Multiboot 0.6.96, section 3.3). */
#define MBI_FLAGS	     0
#define MBI_MEM_LOWER	     4
#define MBI_MEM_UPPER	     8
#define MBI_CMDLINE	     16
#define MBI_MODS_COUNT	     20
#define MBI_MODS_ADDR	     24
#define MBI_MMAP_LENGTH	     44
#define MBI_MMAP_ADDR	     48
#define MBI_BOOT_LOADER_NAME 64

/* A memory map entry: u32 size (of the rest), u64 base, u64 length, u32 type. */
#define MMAP_ENTRY_SIZE 24
/* A module entry: mod_start, mod_end, string, reserved. */
#define MOD_ENTRY_SIZE 16

/* GDT descriptors: flat base 0, limit 4 GiB (G=1), present, DPL 0, accessed. */
#define GDT_CODE64 0x00af9b000000ffffull /* L=1, D=0, execute/read */
#define GDT_DATA   0x00cf93000000ffffull /* D/B=1, read/write */
#define GDT_CODE32 0x00cf9b000000ffffull /* D=1, execute/read */

/* Page-table entry bits. */
#define PTE_PRESENT (1ull << 0)
#define PTE_RW	    (1ull << 1)
#define PTE_PS	    (1ull << 7) /* 2 MiB page in a page directory */
#define PAGE_2M	    (1ull << 21)
#define PT_ENTRIES  512

#define BOOT_LOADER_NAME "vmm"

static void wr32(uint8_t *mem, uint64_t addr, uint32_t v)
{
	memcpy(mem + addr, &v, sizeof(v));
}

static void wr64(uint8_t *mem, uint64_t addr, uint64_t v)
{
	memcpy(mem + addr, &v, sizeof(v));
}

static void write_gdt(uint8_t *mem)
{
	wr64(mem, BOOT_GDT_ADDR + 0, 0);
	wr64(mem, BOOT_GDT_ADDR + BOOT_SEL_CODE64, GDT_CODE64);
	wr64(mem, BOOT_GDT_ADDR + BOOT_SEL_DATA, GDT_DATA);
	wr64(mem, BOOT_GDT_ADDR + BOOT_SEL_CODE32, GDT_CODE32);
}

/* Identity map of the first 4 GiB with 2 MiB pages. */
static void write_page_tables(uint8_t *mem)
{
	wr64(mem, BOOT_PML4_ADDR, BOOT_PDPT_ADDR | PTE_PRESENT | PTE_RW);
	for (uint64_t i = 0; i < BOOT_PD_COUNT; i++) {
		uint64_t pd = BOOT_PD_ADDR + i * 0x1000;

		wr64(mem, BOOT_PDPT_ADDR + i * 8, pd | PTE_PRESENT | PTE_RW);
		for (uint64_t j = 0; j < PT_ENTRIES; j++) {
			uint64_t phys = (i * PT_ENTRIES + j) * PAGE_2M;

			wr64(mem, pd + j * 8, phys | PTE_PRESENT | PTE_RW | PTE_PS);
		}
	}
}

static void write_mmap_entry(uint8_t *mem, uint64_t addr, uint64_t base, uint64_t len,
			     uint32_t type)
{
	wr32(mem, addr, MMAP_ENTRY_SIZE - 4);
	wr64(mem, addr + 4, base);
	wr64(mem, addr + 12, len);
	wr32(mem, addr + 20, type);
}

int boot_setup(uint8_t *guest_mem, uint64_t mem_size, const struct boot_params *bp,
	       struct boot_info *out, char *err, size_t errlen)
{
	const char *cmdline = bp->cmdline ? bp->cmdline : "";
	size_t cmdlen = strlen(cmdline);
	uint64_t mem_upper_kib;

	if (mem_size <= BOOT_HIGH_START) {
		snprintf(err, errlen, "the guest has %llu bytes of RAM; it needs more than 1 MiB",
			 (unsigned long long)mem_size);
		return -EINVAL;
	}
	if (cmdlen >= BOOT_CMDLINE_MAX) {
		snprintf(err, errlen, "the kernel command line is %zu bytes long; the limit is %d",
			 cmdlen, BOOT_CMDLINE_MAX - 1);
		return -E2BIG;
	}
	if (!bp->fdt || bp->fdt_size == 0) {
		snprintf(err, errlen, "no machine description (FDT) to hand to the kernel");
		return -EINVAL;
	}
	if (bp->fdt_size > BOOT_FDT_MAX) {
		snprintf(err, errlen,
			 "the machine description is %zu bytes; the boot area holds %llu",
			 bp->fdt_size, (unsigned long long)BOOT_FDT_MAX);
		return -E2BIG;
	}

	memset(guest_mem + BOOT_GDT_ADDR, 0, BOOT_LOW_END - BOOT_GDT_ADDR);
	write_gdt(guest_mem);
	write_page_tables(guest_mem);

	memcpy(guest_mem + BOOT_CMDLINE_ADDR, cmdline, cmdlen + 1);
	memcpy(guest_mem + BOOT_FDT_ADDR, bp->fdt, bp->fdt_size);
	memcpy(guest_mem + BOOT_LOADER_NAME_ADDR, BOOT_LOADER_NAME, sizeof(BOOT_LOADER_NAME));
	memcpy(guest_mem + BOOT_MOD_STRING_ADDR, STRESS_FDT_MODULE_NAME,
	       sizeof(STRESS_FDT_MODULE_NAME));

	wr32(guest_mem, BOOT_MODS_ADDR + 0, (uint32_t)BOOT_FDT_ADDR);
	wr32(guest_mem, BOOT_MODS_ADDR + 4, (uint32_t)(BOOT_FDT_ADDR + bp->fdt_size));
	wr32(guest_mem, BOOT_MODS_ADDR + 8, (uint32_t)BOOT_MOD_STRING_ADDR);

	write_mmap_entry(guest_mem, BOOT_MMAP_ADDR, 0, BOOT_HIGH_START, BOOT_MMAP_RESERVED);
	write_mmap_entry(guest_mem, BOOT_MMAP_ADDR + MMAP_ENTRY_SIZE, BOOT_HIGH_START,
			 mem_size - BOOT_HIGH_START, BOOT_MMAP_AVAILABLE);

	/* mem_upper counts KiB from 1 MiB; a u32 of KiB covers 4 TiB. */
	mem_upper_kib = (mem_size - BOOT_HIGH_START) >> 10;
	if (mem_upper_kib > UINT32_MAX)
		mem_upper_kib = UINT32_MAX;
	wr32(guest_mem, BOOT_MBI_ADDR + MBI_FLAGS,
	     BOOT_MBI_FLAG_MEM | BOOT_MBI_FLAG_CMDLINE | BOOT_MBI_FLAG_MODS | BOOT_MBI_FLAG_MMAP |
		 BOOT_MBI_FLAG_LOADER_NAME);
	wr32(guest_mem, BOOT_MBI_ADDR + MBI_MEM_LOWER, BOOT_MEM_LOWER_KIB);
	wr32(guest_mem, BOOT_MBI_ADDR + MBI_MEM_UPPER, (uint32_t)mem_upper_kib);
	wr32(guest_mem, BOOT_MBI_ADDR + MBI_CMDLINE, (uint32_t)BOOT_CMDLINE_ADDR);
	wr32(guest_mem, BOOT_MBI_ADDR + MBI_MODS_COUNT, 1);
	wr32(guest_mem, BOOT_MBI_ADDR + MBI_MODS_ADDR, (uint32_t)BOOT_MODS_ADDR);
	wr32(guest_mem, BOOT_MBI_ADDR + MBI_MMAP_LENGTH, 2 * MMAP_ENTRY_SIZE);
	wr32(guest_mem, BOOT_MBI_ADDR + MBI_MMAP_ADDR, (uint32_t)BOOT_MMAP_ADDR);
	wr32(guest_mem, BOOT_MBI_ADDR + MBI_BOOT_LOADER_NAME, (uint32_t)BOOT_LOADER_NAME_ADDR);

	*out = (struct boot_info){
	    .mbi_addr = BOOT_MBI_ADDR,
	    .gdt_base = BOOT_GDT_ADDR,
	    .gdt_limit = BOOT_GDT_ENTRIES * 8 - 1,
	    .cr3 = BOOT_PML4_ADDR,
	    .code64_sel = BOOT_SEL_CODE64,
	    .code32_sel = BOOT_SEL_CODE32,
	    .data_sel = BOOT_SEL_DATA,
	    .fdt_addr = BOOT_FDT_ADDR,
	    .fdt_size = bp->fdt_size,
	};
	return 0;
}

/* A flat 4 GiB segment (base 0, G=1, present, DPL 0). */
static struct boot_segment flat_segment(uint16_t sel, uint8_t type, uint8_t db, uint8_t l)
{
	return (struct boot_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = sel,
	    .type = type,
	    .present = 1,
	    .s = 1,
	    .db = db,
	    .l = l,
	    .g = 1,
	};
}

/*
 * Registers both modes share: flat data segments, the GDT, a present TR and
 * LDT as after a reset (a VM entry checks them), no IDT (limit 0: a fault
 * before the kernel sets its own IDT becomes a triple fault, i.e. a clean
 * shutdown exit, not a jump into garbage).
 */
static void common_state(const struct boot_info *bi, struct boot_sregs *s, struct boot_regs *r)
{
	/* Descriptor types: 3 = read/write data accessed, 11 = busy TSS, 2 = LDT. */
	const struct boot_segment data = flat_segment(bi->data_sel, 3, 1, 0);

	memset(s, 0, sizeof(*s));
	memset(r, 0, sizeof(*r));
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = (struct boot_segment){.limit = 0xffff, .type = 11, .present = 1};
	s->ldt = (struct boot_segment){.limit = 0xffff, .type = 2, .present = 1};
	s->gdt = (struct boot_dtable){.base = bi->gdt_base, .limit = bi->gdt_limit};
	s->idt = (struct boot_dtable){.base = 0, .limit = 0};
	r->rflags = BOOT_RFLAGS_FIXED;
}

void boot_bsp_state(const struct boot_info *bi, uint64_t entry, struct boot_sregs *sregs,
		    struct boot_regs *regs)
{
	common_state(bi, sregs, regs);
	/* Type 11: execute/read code, accessed; D=1 (32-bit). */
	sregs->cs = flat_segment(bi->code32_sel, 11, 1, 0);
	/* Multiboot: PE set, PG clear; ET is hard-wired to 1 on every CPU since the 486. */
	sregs->cr0 = BOOT_CR0_PE | BOOT_CR0_ET;
	regs->rip = entry;
	regs->rax = BOOT_MB_BOOTLOADER_MAGIC;
	regs->rbx = bi->mbi_addr;
}

void boot_ap_state(const struct boot_info *bi, uint64_t ap_entry, unsigned cpu,
		   struct boot_sregs *sregs, struct boot_regs *regs)
{
	common_state(bi, sregs, regs);
	/* Type 11: execute/read code, accessed; L=1, D=0 (64-bit). */
	sregs->cs = flat_segment(bi->code64_sel, 11, 0, 1);
	sregs->cr0 =
	    BOOT_CR0_PE | BOOT_CR0_MP | BOOT_CR0_ET | BOOT_CR0_NE | BOOT_CR0_WP | BOOT_CR0_PG;
	sregs->cr3 = bi->cr3;
	/* PAE is required by long mode; OSFXSR/OSXMMEXCPT let compiled C use SSE. */
	sregs->cr4 = BOOT_CR4_PAE | BOOT_CR4_OSFXSR | BOOT_CR4_OSXMMEXCPT;
	sregs->efer = BOOT_EFER_LME | BOOT_EFER_LMA;
	regs->rip = ap_entry;
	regs->rdi = cpu;
	regs->rsi = bi->mbi_addr;
}

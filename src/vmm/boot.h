/* SPDX-License-Identifier: MIT */
/*
 * Boot structures in guest memory and the initial vCPU register values.
 * Pure: writes into a buffer that stands for guest-physical memory, and
 * computes register values as plain structs (the KVM layer converts them to
 * struct kvm_sregs / kvm_regs).  Addresses as in docs/architecture.md.
 *
 * vCPU 0 starts as Multiboot v1 prescribes: 32-bit protected mode, paging
 * off, flat 4 GiB code and data segments, EAX = 0x2BADB002, EBX = the
 * information structure.  vCPUs > 0 start in 64-bit long mode at the kernel's
 * ap_entry on the identity page tables and GDT written here, with RDI = the
 * vCPU index and RSI = the information structure.
 */
#ifndef VMM_BOOT_H
#define VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

/* Guest-physical layout (docs/architecture.md). */
#define BOOT_GDT_ADDR	      0x1000ull
#define BOOT_PML4_ADDR	      0x2000ull
#define BOOT_PDPT_ADDR	      0x3000ull
#define BOOT_PD_ADDR	      0x4000ull /* 4 page directories, 0x4000..0x7fff */
#define BOOT_PD_COUNT	      4		/* 4 x 1 GiB: the first 4 GiB */
#define BOOT_MBI_ADDR	      0x8000ull
#define BOOT_LOADER_NAME_ADDR 0x8800ull /* in the information page, after the structure */
#define BOOT_MMAP_ADDR	      0x9000ull
#define BOOT_CMDLINE_ADDR     0xa000ull
#define BOOT_CMDLINE_MAX      4096 /* bytes including the NUL */
#define BOOT_MODS_ADDR	      0xb000ull
#define BOOT_MOD_STRING_ADDR  0xb800ull /* module names, after the module list */
#define BOOT_FDT_ADDR	      0x10000ull
#define BOOT_FDT_MAX	      0x10000ull  /* 64 KiB */
#define BOOT_LOW_END	      0x20000ull  /* everything above is the kernel's and free RAM */
#define BOOT_HIGH_START	      0x100000ull /* 1 MiB: the available memory starts here */

/* GDT selectors. */
#define BOOT_SEL_CODE64	 0x08
#define BOOT_SEL_DATA	 0x10 /* flat 4 GiB read/write data, used in both modes */
#define BOOT_SEL_CODE32	 0x18
#define BOOT_GDT_ENTRIES 4

#define BOOT_MB_BOOTLOADER_MAGIC 0x2BADB002u

/* Multiboot information flags we set. */
#define BOOT_MBI_FLAG_MEM	  (1u << 0)
#define BOOT_MBI_FLAG_CMDLINE	  (1u << 2)
#define BOOT_MBI_FLAG_MODS	  (1u << 3)
#define BOOT_MBI_FLAG_MMAP	  (1u << 6)
#define BOOT_MBI_FLAG_LOADER_NAME (1u << 9)

/* Multiboot memory map types. */
#define BOOT_MMAP_AVAILABLE 1
#define BOOT_MMAP_RESERVED  2

/* Control-register and EFER bits used here. */
#define BOOT_CR0_PE	    (1ull << 0)
#define BOOT_CR0_MP	    (1ull << 1)
#define BOOT_CR0_ET	    (1ull << 4)
#define BOOT_CR0_NE	    (1ull << 5)
#define BOOT_CR0_WP	    (1ull << 16)
#define BOOT_CR0_PG	    (1ull << 31)
#define BOOT_CR4_PAE	    (1ull << 5)
#define BOOT_CR4_OSFXSR	    (1ull << 9)
#define BOOT_CR4_OSXMMEXCPT (1ull << 10)
#define BOOT_EFER_LME	    (1ull << 8)
#define BOOT_EFER_LMA	    (1ull << 10)
#define BOOT_RFLAGS_FIXED   (1ull << 1) /* bit 1 always reads 1 */

struct boot_params {
	const char *cmdline; /* NULL is the same as ""; at most BOOT_CMDLINE_MAX - 1 bytes */
	const void *fdt;     /* the machine description blob (mdesc_build()) */
	size_t fdt_size;     /* 1..BOOT_FDT_MAX */
};

struct boot_info {
	uint64_t mbi_addr; /* Multiboot information structure (EBX / RSI) */
	uint64_t gdt_base;
	uint16_t gdt_limit;  /* bytes - 1 */
	uint64_t cr3;	     /* PML4 of the identity map */
	uint16_t code64_sel; /* vCPUs > 0 */
	uint16_t code32_sel; /* vCPU 0 */
	uint16_t data_sel;   /* both */
	uint64_t fdt_addr;
	uint64_t fdt_size;
};

/* A segment register, hidden part included (mirrors struct kvm_segment). */
struct boot_segment {
	uint64_t base;
	uint32_t limit; /* in bytes - 1, i.e. already scaled by g */
	uint16_t selector;
	uint8_t type; /* 4-bit descriptor type */
	uint8_t present, dpl, db, s, l, g, avl;
	uint8_t unusable;
};

struct boot_dtable {
	uint64_t base;
	uint16_t limit;
};

/* Special registers (mirrors struct kvm_sregs, without the interrupt bitmap). */
struct boot_sregs {
	struct boot_segment cs, ds, es, fs, gs, ss, tr, ldt;
	struct boot_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
};

/* The general registers a start needs; everything else is 0. */
struct boot_regs {
	uint64_t rip, rsp, rflags;
	uint64_t rax, rbx, rdi, rsi;
};

/*
 * Write the GDT, page tables, Multiboot information, memory map, command
 * line, module list and FDT into @guest_mem (@mem_size bytes, guest-physical
 * 0 at offset 0), after zeroing 0x1000..BOOT_LOW_END.  Returns 0, -E2BIG
 * when the command line or FDT is too large, -EINVAL for a guest too small
 * (at most 1 MiB) or a missing FDT.
 */
int boot_setup(uint8_t *guest_mem, uint64_t mem_size, const struct boot_params *bp,
	       struct boot_info *out, char *err, size_t errlen);

/* vCPU 0: Multiboot's 32-bit protected-mode start at @entry. */
void boot_bsp_state(const struct boot_info *bi, uint64_t entry, struct boot_sregs *sregs,
		    struct boot_regs *regs);

/* vCPU @cpu > 0: 64-bit long mode at @ap_entry, RDI = @cpu, RSI = mbi. */
void boot_ap_state(const struct boot_info *bi, uint64_t ap_entry, unsigned cpu,
		   struct boot_sregs *sregs, struct boot_regs *regs);

#endif

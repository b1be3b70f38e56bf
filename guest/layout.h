/* SPDX-License-Identifier: MIT */
/*
 * Constants shared by the assembly entry code and the C kernel.  Plain
 * #defines only: this file is included from entry.S.
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

/* Where the ELF is linked and loaded: the first megabyte is firmware's. */
#define KERNEL_LOAD_ADDR 0x100000

/* Selectors of our own GDT (entry.S): null, 64-bit code, data. */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10

/*
 * Per-vcpu stack.  Only the boot path and the once-a-second report use the
 * stack (nested printf with a 128-byte line buffer); 8 KiB leaves a wide
 * margin and costs 2 MiB of .bss for 256 vcpus.
 */
#define CPU_STACK_SIZE 8192

/* Must equal STRESS_MAX_CPUS (checked in main.c; the ABI header is C only). */
#define GUEST_MAX_CPUS 256

/* Page-table entry bits. */
#define PTE_PRESENT 0x001
#define PTE_WRITE   0x002
#define PTE_ACCESSED 0x020
#define PTE_DIRTY   0x040
#define PTE_HUGE    0x080

/*
 * Accessed (and for leaves, dirty) are preset so that the CPU never writes
 * back into the page tables: such a write would be a dirty page outside the
 * working set.
 */
#define PTE_TABLE_FLAGS (PTE_PRESENT | PTE_WRITE | PTE_ACCESSED)
#define PTE_2M_FLAGS    (PTE_PRESENT | PTE_WRITE | PTE_ACCESSED | PTE_DIRTY | PTE_HUGE)

#endif

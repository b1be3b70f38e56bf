/* SPDX-License-Identifier: MIT */
/*
 * Constants shared by the assembly entry code and the C kernel.  Plain
 * #defines only: this file is included from entry.S.
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

/* Where the ELF is linked and loaded: the first megabyte is firmware's. */
#define KERNEL_LOAD_ADDR 0x100000

/*
 * Our GDT (cpu.c).  The user selectors follow the layout SYSRET and Linux
 * use (32-bit code, data, 64-bit code); kvm-pvm maps a guest's user mode
 * onto the host's user segments, which have exactly that layout.
 */
#define KERNEL_CS   0x08
#define KERNEL_DS   0x10
#define USER32_CS   0x23
#define USER_DS	    0x2b
#define USER_CS	    0x33
#define GDT_TSS_SEL 0x38 /* then one 16-byte TSS descriptor per vcpu */

/*
 * Per-vcpu stack.  Only the boot path, the online message and the
 * once-a-second report use the stack (printf with a 160-byte line buffer);
 * 8 KiB leaves a wide margin and costs 2 MiB of .bss for 256 vcpus.
 */
#define CPU_STACK_SIZE 8192

/*
 * The upper page of each stack is for exceptions taken in user mode (the
 * TSS switches to it); the user-mode stack is the lower page, so that the
 * once-a-second report dirties exactly one stack page.
 */
#define CPU_EXC_STACK_SIZE 4096

/* Must equal STRESS_MAX_CPUS (checked in main.c; the ABI header is C only). */
#define GUEST_MAX_CPUS 256

/* Page-table entry bits. */
#define PTE_PRESENT  0x001
#define PTE_WRITE    0x002
#define PTE_USER     0x004
#define PTE_ACCESSED 0x020
#define PTE_DIRTY    0x040
#define PTE_HUGE     0x080

/*
 * Everything is user-accessible: the workers run in ring 3 (see cpu.c).
 * Accessed (and for leaves, dirty) are preset so that the CPU never writes
 * back into the page tables: such a write would be a dirty page outside the
 * working set.
 */
#define PTE_TABLE_FLAGS (PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_ACCESSED)
#define PTE_2M_FLAGS	(PTE_TABLE_FLAGS | PTE_DIRTY | PTE_HUGE)

#endif

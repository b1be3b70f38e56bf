/* SPDX-License-Identifier: MIT */
/*
 * Entry points of the stress kernel, its GDT and boot page tables, the
 * exception stubs, and the drop to user mode.  Ring 0 does as little as it
 * can: on kvm-pvm it is emulated (see cpu.c).
 *
 * vcpu 0 arrives from a Multiboot loader in 32-bit protected mode without
 * paging.  The 32-bit part is a dozen instructions: the page tables for the
 * first GiB are built at link time and we go to long mode at once.
 *
 * vcpus > 0 arrive in long mode at ap_entry, on the monitor's page tables
 * and GDT, with RDI = vcpu index (see include/stress_abi.h).
 */
#include "layout.h"

#define MULTIBOOT_HEADER_MAGIC 0x1BADB002
/* bit 0: page-align modules, bit 1: we want the memory map. */
#define MULTIBOOT_HEADER_FLAGS 0x00000003

#define STRESS_BOOT_HDR_MAGIC 0x31534d56
#define STRESS_BOOT_HDR_FLAGS 0

#define MSR_EFER  0xC0000080
#define EFER_LME  0x100
#define CR0_PE    0x00000001
#define CR0_PG    0x80000000
#define CR4_PAE   0x00000020

/* User mode runs with IOPL 3 (port I/O for the console) and IF clear. */
#define USER_RFLAGS 0x3002

	.section .boot.header, "a"
	.balign 8
multiboot_header:
	.long MULTIBOOT_HEADER_MAGIC
	.long MULTIBOOT_HEADER_FLAGS
	.long 0x100000000 - (MULTIBOOT_HEADER_MAGIC + MULTIBOOT_HEADER_FLAGS)
	.long 0

	.balign 8
	.globl stress_boot_hdr
stress_boot_hdr:
	.long STRESS_BOOT_HDR_MAGIC
	.long 0x100000000 - (STRESS_BOOT_HDR_MAGIC + STRESS_BOOT_HDR_FLAGS)
	.long STRESS_BOOT_HDR_FLAGS
	.long 0
	.quad ap_entry

	.section .boot.text, "ax"
	.code32
	.globl _start
_start:
	cli
	movl %eax, %edi		/* Multiboot magic, kept for kmain */
	movl %ebx, %esi		/* Multiboot info address */
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
	lgdt gdt_ptr
	ljmp $KERNEL_CS, $long_entry

	.code64
long_entry:
	movl $KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movl %edi, %edi		/* the upper halves are undefined after the switch */
	movl %esi, %esi
	/*
	 * No .bss zeroing here: every instruction in ring 0 is emulated on
	 * kvm-pvm, and each emulated store is a dirty-ring entry.  ELF loaders
	 * zero-fill p_memsz beyond p_filesz (QEMU and vmm do).
	 */
	movq $(cpu_stacks + CPU_STACK_SIZE), %rsp
	call kmain
	jmp halt_forever

/*
 * vcpus > 0.  Wait with loads only until vcpu 0 has finished init (it is
 * still building page tables and the GDT), then switch to our own GDT,
 * page tables and stack.
 */
	.globl ap_entry
ap_entry:
	cli
1:	movl ap_release(%rip), %eax
	testl %eax, %eax
	jnz 2f
	pause
	jmp 1b
2:	lgdt gdt_ptr(%rip)
	movq $boot_pml4, %rax
	movq %rax, %cr3
	movl $KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	cmpq $GUEST_MAX_CPUS, %rdi
	jae halt_forever	/* no stack for it: idle without one */
	movq %rdi, %rax
	incq %rax
	.if CPU_STACK_SIZE != 8192
	.error "ap_entry assumes an 8 KiB stack"
	.endif
	shlq $13, %rax		/* (cpu + 1) * CPU_STACK_SIZE */
	leaq cpu_stacks(%rip), %rsp
	addq %rax, %rsp
	pushq $KERNEL_CS	/* reload CS from our GDT */
	leaq 3f(%rip), %rax
	pushq %rax
	lretq
3:	call ap_main
	jmp halt_forever

/*
 * void enter_user(uint64_t arg, void (*fn)(uint64_t), uint64_t rsp):
 * continue in ring 3 at fn(arg) on stack rsp.
 */
	.text
	.globl enter_user
enter_user:
	movl $USER_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	pushq $USER_DS
	pushq %rdx
	pushq $USER_RFLAGS
	pushq $USER_CS
	pushq %rsi
	iretq

/*
 * Stop this vcpu.  In ring 0 the HLT exits to the monitor; in ring 3 it (or
 * the CLI) raises #GP, and the exception handler recognises the address and
 * halts in ring 0 without a message.
 */
	.globl halt_forever
	.globl halt_forever_insn
	.globl halt_insn
halt_forever:
halt_forever_insn:
	cli
halt_insn:
	hlt
	jmp halt_forever

/*
 * One 16-byte stub per vector: push an error code where the CPU does not,
 * then the vector.  Interrupts (vector >= 32, never enabled; spurious ones
 * from the PIC) return at once; exceptions go to exception_handler().
 */
	.balign 16
	.globl exc_stubs
exc_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if !((vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30))
	pushq $0
	.endif
	pushq $vec
	jmp exc_common
	.set vec, vec + 1
	.endr
exc_common:
	cmpq $32, (%rsp)
	jae 1f
	movq %rsp, %rdi
	andq $-16, %rsp
	call exception_handler
	jmp halt_forever
1:	addq $16, %rsp
	iretq

	.section .rodata
	.balign 16
	.word 0
	.globl gdt_ptr
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt		/* lgdt in 32-bit mode reads the low 4 bytes */

/* Writable: ltr marks TSS descriptors busy, cpu.c fills them in. */
	.data
	.balign 16
	.globl gdt
gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08 kernel code, 64-bit */
	.quad 0x00cf93000000ffff	/* 0x10 kernel data */
	.quad 0
	.quad 0x00cffb000000ffff	/* 0x23 user code, 32-bit (unused) */
	.quad 0x00cff3000000ffff	/* 0x2b user data */
	.quad 0x00affb000000ffff	/* 0x33 user code, 64-bit */
	.globl gdt_tss
gdt_tss:			/* 0x38: one TSS descriptor per vcpu */
	.fill 2 * GUEST_MAX_CPUS, 8, 0
gdt_end:
	/* Accessed bits are preset: loading a selector writes nothing. */

/*
 * Identity map of the first GiB with 2 MiB pages, built at link time.
 * paging.c extends boot_pdpt to cover all RAM and the stats region.
 */
	.section .data.pagetables, "aw"
	.balign 4096
	.globl boot_pml4
boot_pml4:
	.quad boot_pdpt + PTE_TABLE_FLAGS
	.fill 511, 8, 0

	.balign 4096
	.globl boot_pdpt
boot_pdpt:
	.quad boot_pd0 + PTE_TABLE_FLAGS
	.fill 511, 8, 0

	.balign 4096
boot_pd0:
	.set i, 0
	.rept 512
	.quad (i << 21) + PTE_2M_FLAGS
	.set i, i + 1
	.endr

	/* Set by vcpu 0 when the others may start; they only read it. */
	.data
	.balign 64
	.globl ap_release
ap_release:
	.long 0
	.balign 64

	.section .bss.noinit, "aw", @nobits
	.balign 4096
	.globl cpu_stacks
cpu_stacks:
	.skip CPU_STACK_SIZE * GUEST_MAX_CPUS

	.section .note.GNU-stack, "", @progbits

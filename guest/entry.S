/* SPDX-License-Identifier: MIT */
/*
 * Entry points of the stress kernel.
 *
 * vcpu 0 arrives from a Multiboot loader in 32-bit protected mode without
 * paging.  On kvm-pvm that mode is emulated one instruction at a time, so
 * the 32-bit part is a dozen instructions: the page tables for the first
 * GiB are prebuilt at link time and we go to long mode at once.
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
	lidt idt_null		/* any exception now triple-faults */
	movl %edi, %r12d	/* the upper halves are undefined after the switch */
	movl %esi, %r13d
	/* Zero .bss: loaders do, but a reboot under QEMU leaves old contents. */
	movq $__bss_start, %rdi
	movq $__bss_end, %rcx
	subq %rdi, %rcx
	shrq $3, %rcx
	xorl %eax, %eax
	rep stosq
	movq $(cpu_stacks + CPU_STACK_SIZE), %rsp
	movl %r12d, %edi
	movl %r13d, %esi
	call kmain
	jmp halt_forever

/*
 * vcpus > 0.  Wait with loads only until vcpu 0 has finished init (it is
 * still zeroing .bss and building page tables), then switch to our own
 * GDT, page tables and stack.
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
	lidt idt_null(%rip)
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
	shlq $13, %rax		/* (cpu + 1) * CPU_STACK_SIZE */
	.if CPU_STACK_SIZE != 8192
	.error "ap_entry assumes an 8 KiB stack"
	.endif
	leaq cpu_stacks(%rip), %rsp
	addq %rax, %rsp
	pushq $KERNEL_CS	/* reload CS from our GDT */
	leaq 3f(%rip), %rax
	pushq %rax
	lretq
3:	call ap_main
	/* fall through */

	.globl halt_forever
halt_forever:
	cli
	hlt
	jmp halt_forever

	.section .rodata
	.balign 16
gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 64-bit code, accessed preset */
	.quad 0x00cf93000000ffff	/* data, accessed preset */
gdt_end:

	.balign 16
	.word 0
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt		/* lgdt in 32-bit mode reads the low 4 bytes */

	.balign 16
	.word 0
idt_null:
	.word 0
	.quad 0

/*
 * Identity map of the first GiB with 2 MiB pages, built at link time.
 * main.c extends boot_pdpt to cover all RAM and the stats region.
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
	.section .data
	.balign 64
	.globl ap_release
ap_release:
	.long 0
	.balign 64

	.section .bss
	.balign 4096
	.globl cpu_stacks
cpu_stacks:
	.skip CPU_STACK_SIZE * GUEST_MAX_CPUS

	.section .note.GNU-stack, "", @progbits

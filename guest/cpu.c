// SPDX-License-Identifier: MIT
/*
 * Descriptor tables and the drop to user mode.
 *
 * The workers run in ring 3.  On kvm-pvm (our development hosts) guest code
 * in ring 0 is always emulated, one instruction at a time, unless the guest
 * speaks the PVM paravirtual ABI; ring-3 code runs natively.  Elsewhere
 * (hardware KVM, QEMU/TCG) ring 3 costs nothing, so the kernel does the same
 * everywhere: boot in ring 0, work in ring 3 with IOPL 3 for the console.
 *
 * Ring 0 therefore does only what needs it: load the descriptor tables and
 * drop to ring 3 (cpu_load_tables(), cpu_enter_user()), and halt.  Even the
 * rest of the boot runs in ring 3: on kvm-pvm every emulated store is also
 * an entry in the monitor's dirty ring, where ring-3 stores dirty a page once.
 *
 * Exceptions go through a real IDT and a per-vcpu TSS, so that a fault in a
 * worker is reported on the console instead of resetting the machine.
 */
#include <stddef.h>

#include "console.h"
#include "io.h"
#include "kernel.h"

#define IDT_VECTORS	   256
#define EXC_STUB_SIZE	   16	/* entry.S aligns every stub to 16 bytes */
#define IDT_INTERRUPT_GATE 0x8e /* present, DPL 0, 64-bit interrupt gate */
#define TSS_AVAILABLE	   0x89 /* present, DPL 0, available 64-bit TSS */
#define VECTOR_GP	   13

/*
 * Ports user mode may use: all below 0x400 (COM1 at 0x3f8, the report and
 * power-off ports at 0xf0/0xf4, the PIT).  kvm-pvm gives guest user mode
 * IOPL 0 whatever RFLAGS says, so the TSS I/O bitmap is what allows them.
 */
#define IO_PORTS_ALLOWED 0x400

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;		     /* offset of iomap */
	uint8_t iomap[IO_PORTS_ALLOWED / 8]; /* zero bits: allowed */
	uint8_t iomap_end;		     /* all ones, as the CPU requires */
} __attribute__((packed));

/* What entry.S pushes below the CPU's frame. */
struct exc_frame {
	uint64_t vector;
	uint64_t error;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};

extern uint64_t gdt_tss[];
extern const uint8_t exc_stubs[], halt_insn[], halt_forever_insn[];
extern uint8_t cpu_stacks[];

void exception_handler(struct exc_frame *f) __attribute__((noreturn));
void enter_user(uint64_t arg, void (*fn)(uint64_t), uint64_t rsp) __attribute__((noreturn));

struct __attribute__((packed)) desc_ptr {
	uint16_t limit;
	uint64_t base;
};

/*
 * Filled in user mode by vcpu 0 (cpu_setup_idt()); only the CPU reads it.
 * The TSSes are in .bss: loaders zero it, so every I/O bitmap starts with
 * all ports allowed.
 */
static uint64_t idt[IDT_VECTORS][2] __attribute__((aligned(4096)));
static struct tss64 tss[STRESS_MAX_CPUS] __attribute__((aligned(64)));

static uint64_t stack_top(unsigned int cpu)
{
	return (uint64_t)(uintptr_t)cpu_stacks + (uint64_t)(cpu + 1) * CPU_STACK_SIZE;
}

void cpu_setup_idt(void)
{
	unsigned int v;

	for (v = 0; v < IDT_VECTORS; v++) {
		uint64_t h = (uint64_t)(uintptr_t)exc_stubs + (uint64_t)v * EXC_STUB_SIZE;

		idt[v][0] = (h & 0xffff) | (uint64_t)KERNEL_CS << 16 |
			    (uint64_t)IDT_INTERRUPT_GATE << 40 | ((h >> 16) & 0xffff) << 48;
		idt[v][1] = h >> 32;
	}
}

void cpu_load_tables(unsigned int cpu)
{
	struct desc_ptr p = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
	uint64_t base = (uint64_t)(uintptr_t)&tss[cpu];
	uint16_t sel = (uint16_t)(GDT_TSS_SEL + 16 * cpu);

	tss[cpu].rsp[0] = stack_top(cpu);
	tss[cpu].iomap_base = offsetof(struct tss64, iomap);
	tss[cpu].iomap_end = 0xff;
	gdt_tss[2 * cpu] = (sizeof(struct tss64) - 1) | (base & 0xffffff) << 16 |
			   (uint64_t)TSS_AVAILABLE << 40 | ((base >> 24) & 0xff) << 56;
	gdt_tss[2 * cpu + 1] = base >> 32;
	asm volatile("lidt %0" : : "m"(p));
	asm volatile("ltr %0" : : "r"(sel) : "memory");
}

void cpu_enter_user(unsigned int cpu, void (*fn)(uint64_t), uint64_t arg)
{
	enter_user(arg, fn, stack_top(cpu) - CPU_EXC_STACK_SIZE);
}

void exception_handler(struct exc_frame *f)
{
	uint64_t cpu = ((uint64_t)(uintptr_t)f - (uint64_t)(uintptr_t)cpu_stacks) / CPU_STACK_SIZE;

	/*
	 * halt_forever() called in ring 3: its HLT faults, or already its CLI
	 * where IOPL is not honoured (kvm-pvm); just stop here.
	 */
	if (f->vector == VECTOR_GP && (f->rip == (uint64_t)(uintptr_t)halt_insn ||
				       f->rip == (uint64_t)(uintptr_t)halt_forever_insn))
		halt_forever();
	panic("cpu%lu exception %lu error 0x%lx at 0x%lx (cs 0x%lx) rsp 0x%lx\n", cpu, f->vector,
	      f->error, f->rip, f->cs, f->rsp);
}

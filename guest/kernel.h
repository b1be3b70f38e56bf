/* SPDX-License-Identifier: MIT */
/* State shared by the parts of the stress kernel, set up by vcpu 0. */
#ifndef GUEST_KERNEL_H
#define GUEST_KERNEL_H

#include <stdint.h>

#include "cmdline.h"
#include "layout.h"
#include "stress_abi.h"

#define PAGE_SIZE      ((uint64_t)4096)
#define HUGE_PAGE_SIZE ((uint64_t)2 << 20)
#define GIB	       ((uint64_t)1 << 30)
#define MIB	       ((uint64_t)1 << 20)

#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a)-1))
#define ALIGN_UP(x, a)	 ALIGN_DOWN((x) + (uint64_t)(a)-1, (a))

/*
 * For variables that the console and the summary write at run time: they
 * share one page (link.ld), so that a report dirties few pages.
 */
#define SCRATCH __attribute__((section(".bss.scratch")))

/* What vcpu 0 decided for one vcpu; read-only once the others are released. */
struct worker_plan {
	uint32_t role; /* enum stress_cpu_role */
	uint64_t base; /* guest-physical = virtual */
	uint64_t size; /* bytes, a multiple of PAGE_SIZE */
};

struct kernel {
	struct stress_config cfg;
	uint32_t ncpus; /* vcpus the kernel knows of */
	uint64_t tsc_khz;
	volatile struct stress_stats *stats;
	uint32_t stats_slots; /* per-vcpu entries the stats area holds */
	struct worker_plan plan[STRESS_MAX_CPUS];
};

extern struct kernel k;

/* Linker script symbols. */
extern char __kernel_start[], __kernel_end[];

/* entry.S */
extern volatile uint32_t ap_release;
void halt_forever(void) __attribute__((noreturn));

/* main.c: entered in ring 0 from entry.S. */
void kmain(uint32_t magic, uint32_t mbi_addr) __attribute__((noreturn));
void ap_main(uint64_t cpu) __attribute__((noreturn));

/* cpu.c: descriptor tables, exceptions, ring 3. */
void cpu_setup_idt(void);
void cpu_load_tables(unsigned int cpu);
/* Continue at fn(arg) in ring 3 on cpu's stack. */
void cpu_enter_user(unsigned int cpu, void (*fn)(uint64_t), uint64_t arg) __attribute__((noreturn));

/* paging.c: identity-map [0, end) with 2 MiB pages; 0 or -1 if too large. */
int paging_identity_map(uint64_t end);

/* tsc.c: the TSC frequency measured against the PIT, or 0 without a PIT. */
uint64_t tsc_calibrate_pit(void);

/* stress.c: run vcpu cpu's part of the plan, forever (in ring 3). */
void stress_worker(unsigned int cpu) __attribute__((noreturn));

#endif

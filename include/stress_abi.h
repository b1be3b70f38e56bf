/* SPDX-License-Identifier: MIT */
/*
 * The contract between vmm and the bundled stress kernel (guest/).
 * Shared by both sides: it must compile freestanding (guest) and hosted (vmm),
 * so it uses only <stdint.h>.
 *
 * 1. Boot.  The kernel is a Multiboot v1 ELF.  Vcpu 0 is started as Multiboot
 *    says (32-bit protected mode, EAX = 0x2BADB002, EBX = info address).  The
 *    machine description is a flattened device tree handed over as the
 *    Multiboot module whose string is STRESS_FDT_MODULE_NAME.
 *
 * 2. Other vcpus.  The kernel places a struct stress_boot_hdr, 8-byte
 *    aligned, within the first STRESS_BOOT_HDR_SEARCH bytes of the ELF file
 *    (like the Multiboot header).  vmm starts every vcpu i > 0 itself, in
 *    64-bit long mode at ap_entry (identity-mapped page tables and a flat GDT
 *    built by vmm), with RDI = i and RSI = the Multiboot info address.  The
 *    kernel sets its own stack.  A kernel without this header runs on vcpu 0
 *    only.
 *
 * 3. Stats.  vmm puts a shared-memory region (the "stats device") at the
 *    guest-physical address named by the FDT property
 *    /chosen/vmm,stats-region = <addr-hi addr-lo size-hi size-lo>.  It is NOT
 *    dirty-tracked: counters updated after every page write would otherwise
 *    add one dirty page per harvest to every measured rate.  vmm copies it as
 *    device state during migration.  Without that property (e.g. under QEMU)
 *    the kernel uses a page-aligned area in its own .bss, whose address it
 *    prints on the serial console at boot as "stress: stats at 0x...".
 *
 * 4. Ports.  Serial console: COM1 (0x3f8).  STRESS_PORT_REPORT (32-bit out):
 *    an event code from enum stress_report.  STRESS_PORT_POWEROFF (32-bit
 *    out): power off, the value is the exit status.  The poweroff port is the
 *    same as QEMU's isa-debug-exit default, so the kernel can also stop QEMU
 *    when started with -device isa-debug-exit.
 */
#ifndef STRESS_ABI_H
#define STRESS_ABI_H

#include <stdint.h>

#define STRESS_FDT_MODULE_NAME "vmm-fdt"

#define STRESS_BOOT_HDR_MAGIC  0x31534d56u /* "VMS1" little-endian */
#define STRESS_BOOT_HDR_SEARCH 8192

struct stress_boot_hdr {
	uint32_t magic;	   /* STRESS_BOOT_HDR_MAGIC */
	uint32_t checksum; /* magic + checksum + flags == 0 (mod 2^32) */
	uint32_t flags;	   /* 0 for now */
	uint32_t reserved;
	uint64_t ap_entry; /* 64-bit physical (= virtual) entry for vcpus > 0 */
};

#define STRESS_PORT_REPORT   0x00f0
#define STRESS_PORT_POWEROFF 0x00f4

enum stress_report {
	STRESS_REPORT_BOOTED = 1,     /* vcpu 0 finished init, workers released */
	STRESS_REPORT_CPU_ONLINE = 2, /* a vcpu entered its worker loop */
	STRESS_REPORT_DATA_ERROR = 3, /* a self-check failed (errors counter > 0) */
	STRESS_REPORT_PANIC = 4,      /* the kernel hit a fatal error */
};

#define STRESS_STATS_MAGIC 0x3153544154535453ull /* "STSTATS1" */
#define STRESS_MAX_CPUS	   256
#define STRESS_STATS_SIZE  0x9000 /* header page + 256 * 128 bytes */

/* Two cache lines per vcpu; written only by that vcpu (but see max_gap_tsc), read by anyone. */
struct stress_cpu_stats {
	uint64_t pages_written; /* every write to a page counts once */
	uint64_t bytes_read;	/* reader vcpus */
	uint64_t passes;	/* completed passes over the working set */
	uint64_t errors;	/* self-check mismatches (seq pattern) */
	uint64_t tsc;		/* guest TSC at the last update */
	uint32_t state;		/* enum stress_cpu_state */
	uint32_t role;		/* enum stress_cpu_role */
	uint64_t wss_base;	/* guest-physical base of its working set */
	uint64_t wss_size;	/* bytes */
	/*
	 * The longest time, in TSC ticks, between two consecutive units of
	 * work (a page written, a chunk read): the longest stall the guest
	 * saw.  The guest raises it; the monitor may reset it to 0 at any time
	 * to start a new measurement (a raise racing with the reset may be
	 * lost, which only shortens the first gap measured after it).
	 */
	uint64_t max_gap_tsc;
	uint64_t reserved[7];
};

enum stress_cpu_state {
	STRESS_CPU_OFFLINE = 0,
	STRESS_CPU_RUNNING = 1,
	STRESS_CPU_IDLE = 2, /* no work (e.g. more vcpus than the kernel uses) */
};

enum stress_cpu_role {
	STRESS_ROLE_NONE = 0,
	STRESS_ROLE_WRITER = 1,
	STRESS_ROLE_READER = 2,
};

struct stress_stats_hdr {
	uint64_t magic;	  /* STRESS_STATS_MAGIC, written last at boot */
	uint32_t version; /* 1 */
	uint32_t ncpus;	  /* vcpus the kernel knows of */
	uint64_t tsc_khz; /* the guest's TSC frequency */
	uint64_t boot_tsc;
	uint32_t pattern;  /* 0 = seq, 1 = random */
	uint32_t rate_mib; /* per-writer pacing, 0 = unpaced */
	uint64_t wss;	   /* bytes per writer */
	uint8_t pad[4096 - 48];
};

struct stress_stats {
	struct stress_stats_hdr hdr;
	struct stress_cpu_stats cpu[STRESS_MAX_CPUS];
};

_Static_assert(sizeof(struct stress_cpu_stats) == 128, "two cache lines");
_Static_assert(sizeof(struct stress_stats_hdr) == 4096, "header page");
_Static_assert(sizeof(struct stress_stats) <= STRESS_STATS_SIZE, "stats size");

#endif

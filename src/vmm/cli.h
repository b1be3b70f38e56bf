/* SPDX-License-Identifier: MIT */
/*
 * Command-line parsing for vmm.  Pure: no printing, no exit(), no /dev/kvm.
 * The caller checks what only the host can tell (memory size against the
 * host's RAM, --cpus and --dirty-ring-size against KVM's limits, whether
 * files exist) and prints cli_usage() or the version when asked.
 */
#ifndef VMM_CLI_H
#define VMM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dirtylimit/dl_law.h"
#include "stress_abi.h"

/* Positive return values of cli_parse(): what the user asked for instead of a run. */
#define CLI_HELP    1
#define CLI_VERSION 2

/*
 * Defaults.  Plain integer literals: cli_usage() shows them by stringifying
 * these macros, so the help text cannot drift from the code.
 */
#define CLI_DEFAULT_MEM_MIB 512
#define CLI_DEFAULT_CPUS    1
/*
 * The largest ring KVM offers on our hosts: 65536 entries of 16 bytes, so
 * it costs 1 MiB per vCPU.  The largest ring gives the most slack before a
 * ring-full exit, which matters on hosts whose KVM does not honour the
 * ring's soft limit (see the host notes: the ring fills completely and the
 * vCPU wedges).  The limiter's precision does not depend on the ring size:
 * vCPUs are kicked and their rings harvested on a timer, not on ring-full
 * exits.
 */
#define CLI_DEFAULT_DIRTY_RING 65536
/*
 * Controller period: 0 = not given.  The controller then ticks every 50 ms
 * (DL_CTRL_TICK_NS: 20 samples in the 1 s window behind current-rate) and
 * each law tunes at its own period (QEMU's 1000 ms for qemu and linear, the
 * first version's 15 s for pct; the bucket needs no tuning).
 */
#define CLI_DEFAULT_DIRTY_LIMIT_PERIOD_MS 0
/* The default law: vmm's bucket. */
#define CLI_DEFAULT_DIRTY_LIMIT_LAW "bucket"
/* One stats line a second: readable by a human watching a terminal. */
#define CLI_DEFAULT_STATS_INTERVAL_MS 1000

/* Bounds. */
/*
 * The bundled kernel is loaded at 1 MiB and ends at 3.7 MiB (its image and
 * 2 MiB of vCPU stacks); its working sets start at the next 2 MiB boundary,
 * 4 MiB.  At 4M it has no memory left and panics; 8 MiB leaves 4 MiB of
 * working sets, 16 KiB for each of 256 vCPUs, and room for the kernel to
 * grow.  tests/integration/boot.sh boots the minimum.
 */
#define CLI_MEM_MIN_MIB 8
#define CLI_MEM_MIN	((uint64_t)CLI_MEM_MIN_MIB << 20)
/* A sanity bound (the caller compares against the host's real memory). */
#define CLI_MEM_MAX_TIB 1
#define CLI_MEM_MAX	((uint64_t)CLI_MEM_MAX_TIB << 40)
/* KVM memslots are made of whole 4 KiB pages. */
#define CLI_MEM_ALIGN 4096ull
/* vCPUs the stress kernel and the stats device know of. */
#define CLI_CPUS_MAX STRESS_MAX_CPUS
/* Bytes of kernel command line: the boot page holds 4 KiB including the NUL. */
#define CLI_APPEND_MAX 4095
/* Ten years: long enough for any soak run, short enough that nanoseconds fit in 64 bits. */
#define CLI_DURATION_MAX_S 315360000
/*
 * KVM itself takes rings from one page (256 entries).  But on hosts whose
 * KVM emulates guest ring-0 code (kvm-pvm, ours), every emulated store is
 * its own ring entry and one `rep stosd` logs 1024 of them (one page) with
 * no exit in between, a kick or not.  Measured with a ring-0 `rep stosd`
 * over 4 MiB (docs/dirty-tracking.md): 256 and 512 entries overflow and
 * wedge the guest; 1024 and 2048 are completely full at every harvest (one
 * entry from the edge, and the guest runs 20 times slower); 4096 is at
 * most 75% full, 8192 62%, 65536 37%.  So 4096 is the smallest ring that
 * every guest instruction leaves room in.
 */
#define CLI_DIRTY_RING_MIN 4096
/* KVM's maximum on our hosts; the caller checks the running kernel's own maximum. */
#define CLI_DIRTY_RING_MAX 65536
/* 1 TiB/s: above any memory bandwidth, and keeps bytes per second well inside 64 bits. */
#define CLI_DIRTY_LIMIT_MAX_MIB 1048576
/* A controller period of 1 ms .. 1 s, as QEMU's x-vcpu-dirty-limit-period. */
#define CLI_DIRTY_LIMIT_PERIOD_MIN_MS 1
#define CLI_DIRTY_LIMIT_PERIOD_MAX_MS 1000
/*
 * Below 10 ms the stats records cost more than the run they describe; above
 * a minute they say nothing.
 */
#define CLI_STATS_INTERVAL_MIN_MS 10
#define CLI_STATS_INTERVAL_MAX_MS 60000
/* One second per harvest is already a guest that barely runs; more is a typo. */
#define CLI_HARVEST_DELAY_MAX_US 1000000
/*
 * A timer signal to every vCPU every 10 us already costs most of a core;
 * a tick over a second would make the ring fill between two harvests.
 */
#define CLI_TICK_MIN_US 10
#define CLI_TICK_MAX_US 1000000
/* struct sockaddr_un's sun_path is 108 bytes including the NUL. */
#define CLI_QMP_PATH_MAX 108

/* --name: what QMP query-name reports; a label, not a file (QEMU's -name). */
#define CLI_NAME_MAX 256
/* A DNS name is at most 253 characters. */
#define CLI_QMP_HOST_MAX 256
/* --object at most this many times (TLS credentials: one per peer is plenty). */
#define CLI_OBJECTS_MAX 8

enum cli_qmp_kind {
	CLI_QMP_NONE = 0,
	CLI_QMP_UNIX,
	CLI_QMP_TCP,
};

/* --qmp unix:PATH or tcp:HOST:PORT (HOST may be "[v6addr]", stored without brackets). */
struct cli_qmp_addr {
	enum cli_qmp_kind kind;
	char path[CLI_QMP_PATH_MAX]; /* CLI_QMP_UNIX */
	char host[CLI_QMP_HOST_MAX]; /* CLI_QMP_TCP */
	uint16_t port;		     /* CLI_QMP_TCP, 1..65535 */
};

/* Who harvests a vCPU's dirty ring (test knob --x-harvester). */
enum cli_harvester {
	CLI_HARVESTER_SELF = 0, /* each vCPU thread harvests its own ring, on a timer kick */
	CLI_HARVESTER_SIMPLE,	/* baseline: one thread harvests every ring */
};

/*
 * The parsed command line.  Strings point into argv (which lives as long as
 * the program).
 */
struct vmm_config {
	uint64_t mem_size;    /* bytes, multiple of 4 KiB */
	unsigned ncpus;	      /* 1..CLI_CPUS_MAX */
	const char *kernel;   /* NULL: the bundled kernel */
	const char *append;   /* kernel command line, never NULL ("" by default) */
	uint64_t duration_ns; /* 0: run until interrupted */

	uint32_t dirty_ring_size; /* entries, a power of two */
	/* MiB/s per vCPU, 0 = no limit; entries >= ncpus are always 0. */
	uint64_t dirty_limit_mib[STRESS_MAX_CPUS];
	unsigned dirty_limit_period_ms; /* 0: each law's own */
	struct dl_law_cfg dirty_limit_law;

	struct cli_qmp_addr qmp;
	const char *name;	/* --name, NULL if not given */
	const char *stats_path; /* NULL: no stats; "-": standard output */
	unsigned stats_interval_ms;

	/* Live migration. */
	const char *incoming;	   /* --incoming tcp:HOST:PORT or "defer"; NULL: a source */
	bool exit_after_migration; /* exit 0 once this guest has migrated away */
	/* --object tls-creds-psk,...: checked and loaded by app.c (docs/security.md). */
	const char *objects[CLI_OBJECTS_MAX];
	unsigned nobjects;

	/* Test knobs (--x-*). */
	const char *x_incoming_fault; /* --x-incoming-fault STAGE:ACTION (checked by app.c) */
	enum cli_harvester harvester;
	unsigned harvest_delay_us; /* artificial delay per harvest */
	unsigned tick_us;	   /* harvest tick, 0 = automatic */
	uint64_t x_flip_ns; /* flip a checked word per worker this long after launch; 0 = never */
	bool x_no_backstop; /* the controller does not harvest the rings */
};

/* Fill @cfg with the defaults (what cli_parse() starts from). */
void cli_defaults(struct vmm_config *cfg);

/*
 * Parse argv into @cfg.  Returns 0 to run, CLI_HELP or CLI_VERSION when
 * -h/-V was given (the rest of the line is then not examined), or a
 * negative errno with a one-sentence message in @err.  Re-entrant with
 * respect to getopt (resets optind), but not thread-safe (getopt is not).
 */
int cli_parse(int argc, char **argv, struct vmm_config *cfg, char *err, size_t errlen);

/* The help text (static storage, ends with a newline). */
const char *cli_usage(void);

#endif

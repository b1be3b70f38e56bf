/* SPDX-License-Identifier: MIT */
/*
 * The stress kernel's command line: space-separated key=value tokens.
 * Pure code with no hardware dependency, so that it is also compiled hosted
 * and unit-tested (tests/unit/test_guest_cmdline.c).
 */
#ifndef GUEST_CMDLINE_H
#define GUEST_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>

#include "stress_abi.h"

#define STRESS_PATTERN_SEQ    0
#define STRESS_PATTERN_RANDOM 1

/* One summary per second: often enough to watch, rare enough to be cheap. */
#define CMDLINE_DEFAULT_REPORT_MS 1000

#define CPUSET_BYTES (STRESS_MAX_CPUS / 8)

struct stress_config {
	uint64_t wss;	    /* bytes per worker; 0 = an even share (the default) */
	uint32_t pattern;   /* STRESS_PATTERN_* */
	uint32_t rate_mib;  /* MiB/s per writer; 0 = unpaced */
	uint32_t report_ms; /* summary interval; 0 = no summaries */
	uint8_t writers[CPUSET_BYTES];
	uint8_t readers[CPUSET_BYTES]; /* consulted for non-writers only */
};

/*
 * Called once per problem: what is wrong, and the offending token (not
 * NUL-terminated, len bytes).
 */
typedef void cmdline_warn_fn(void *ctx, const char *what, const char *tok, unsigned int len);

void cmdline_defaults(struct stress_config *cfg);

/*
 * Parse line into cfg (which holds the defaults or earlier settings).
 * Unknown keys and bad values are reported through warn (may be NULL) and
 * otherwise ignored.  A first token without '=' is the kernel's own name
 * (QEMU and GRUB put it there) and is skipped silently.  Returns the number
 * of warnings.
 */
unsigned int cmdline_parse(struct stress_config *cfg, const char *line, cmdline_warn_fn *warn,
			   void *ctx);

/* "4096", "64K", "64M", "2G", "64MiB", "64MB" (binary units, any case): 0 or -1. */
int cmdline_parse_size(const char *s, unsigned int len, uint64_t *out);

/* A decimal number that fits in 32 bits: 0 or -1. */
int cmdline_parse_u32(const char *s, unsigned int len, uint32_t *out);

/* "all", "none" or a list like "0,2-3" (indices < STRESS_MAX_CPUS): 0 or -1. */
int cmdline_parse_cpulist(const char *s, unsigned int len, uint8_t *set);

bool cpuset_has(const uint8_t *set, unsigned int cpu);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * migprog: what `vmmctl SOCKET migrate URI` shows of a migration under way.
 *
 * Pure: it reads the replies of QMP query-migrate and query-vcpu-dirty-limit
 * (QEMU's fields and units, so it works against QEMU as against vmm) into a
 * struct migprog, and formats the live progress line and the summary into a
 * caller's buffer.  No socket, no terminal: vmmctl.c does the talking and
 * the printing; tests/unit/test_migprog.c checks every format.
 */
#ifndef MIGPROG_H
#define MIGPROG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Room for one progress line or the summary, with margin. */
#define MIGPROG_LINE_MAX    512
#define MIGPROG_SUMMARY_MAX 2048

/* One sample: query-migrate's figures that we show.  Absent fields stay "not present". */
struct migprog {
	char status[24];
	/* Present flags: QEMU leaves out what does not apply (no ram before setup, ...). */
	bool has_ram, has_total_time, has_expected_downtime, has_downtime, has_setup_time;
	bool has_throttle;
	uint64_t total_time_ms, setup_time_ms, expected_downtime_ms, downtime_ms;
	uint64_t transferred, remaining, total, normal_bytes, duplicate;
	uint64_t dirty_pages_rate; /* pages/s */
	uint64_t page_size;	   /* bytes, 4096 if absent */
	uint64_t dirty_sync_count; /* the round: 1 during the first pass */
	double mbps;		   /* megabits/s, QEMU's "mbps" */
	unsigned throttle_pct;	   /* cpu-throttle-percentage (auto-converge) */
	/* query-vcpu-dirty-limit: how many vCPUs are limited, the lowest and highest limit. */
	unsigned limited;
	uint64_t limit_min, limit_max; /* MiB/s ("MB/s" in QEMU's words) */
	/* Over the whole migration so far (migprog_carry()): what the summary tells. */
	unsigned peak_throttle, peak_limited;
	uint64_t lowest_limit; /* MiB/s, 0 = no vCPU was ever limited */
	char note[64];	       /* vmm's x-note, if any */
	char error_desc[256];
};

/* A status after which no figure changes: completed, failed, cancelled. */
bool migprog_final(const char *status);

/* Fill p from query-migrate's "return" object.  Returns -1 if it is not an object. */
int migprog_parse(json_object *ret, struct migprog *p);

/*
 * Add query-vcpu-dirty-limit's "return" array (NULL: the monitor has no
 * dirty limit, or refused the query: nothing limited).
 */
void migprog_limits(json_object *ret, struct migprog *p);

/* Carry the peaks of the samples before (prev, may be NULL) into p, and add p's own. */
void migprog_carry(const struct migprog *prev, struct migprog *p);

/* Bytes as people read them: "980 B", "12.0 KiB", "80.0 MiB", "1.00 GiB". */
void migprog_bytes(uint64_t bytes, char *buf, size_t len);

/*
 * The progress line (no newline), e.g.
 *   active  round 3  1.21 GiB sent  80.0 MiB left of 1.00 GiB  95.4 MB/s  dirty 310 MiB/s
 *   expected downtime 812 ms  limit 2 vCPUs at 1-25 MB/s
 */
void migprog_line(const struct migprog *p, double elapsed_s, char *buf, size_t len);

/* The summary, several lines each ending in a newline. */
void migprog_summary(const struct migprog *p, double elapsed_s, char *buf, size_t len);

#endif /* MIGPROG_H */

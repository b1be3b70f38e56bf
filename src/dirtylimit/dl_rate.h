/* SPDX-License-Identifier: MIT */
/*
 * Dirty-rate units and a sliding-window rate estimator over cumulative
 * counters.  Pure: the caller samples (time, cumulative pages) and asks for
 * the rate over the last N ns.  Not thread-safe: one owner (the controller
 * thread) pushes and reads.
 *
 * Units follow QEMU: a page is 4 KiB, "MB/s" is MiB/s = pages * 4096 / 2^20
 * per second, so 1 MiB/s = 256 pages/s.
 */
#ifndef DL_RATE_H
#define DL_RATE_H

#include <stdint.h>

#define DL_PAGE_SHIFT	 12
#define DL_PAGES_PER_MIB (1u << (20 - DL_PAGE_SHIFT)) /* 256 */

/* MiB/s to pages/s (saturating). */
static inline uint64_t dl_mib_to_pages(uint64_t mib)
{
	return mib > UINT64_MAX / DL_PAGES_PER_MIB ? UINT64_MAX : mib * DL_PAGES_PER_MIB;
}

/* Pages/s to MiB/s, exact. */
static inline double dl_pages_to_mib(double pages)
{
	return pages / DL_PAGES_PER_MIB;
}

/* Pages/s to whole MiB/s as QEMU reports it: pages * 4096 >> 20. */
static inline uint64_t dl_pages_to_mib_floor(uint64_t pages)
{
	return pages >> (20 - DL_PAGE_SHIFT);
}

/* Rate between two cumulative readings, pages/s; 0 if t1 <= t0 or the
 * counter went backwards. */
double dl_rate_between(uint64_t pages0, uint64_t t0_ns, uint64_t pages1, uint64_t t1_ns);

/* History kept: 128 samples = 6.4 s at the controller's 50 ms period. */
#define DL_RATE_SLOTS 128

struct dl_rate_sample {
	uint64_t t_ns;
	uint64_t pages; /* cumulative */
};

struct dl_rate {
	struct dl_rate_sample s[DL_RATE_SLOTS];
	unsigned int head; /* index of the newest sample */
	unsigned int n;	   /* valid samples, <= DL_RATE_SLOTS */
};

void dl_rate_init(struct dl_rate *r);

/*
 * Record the cumulative page count at now_ns.  A sample not later than the
 * newest is ignored; a counter that went backwards (vCPU reset) restarts the
 * history from this sample.
 */
void dl_rate_push(struct dl_rate *r, uint64_t now_ns, uint64_t cum_pages);

/*
 * Pages/s over the last window_ns ending at the newest sample, interpolating
 * linearly between samples at the window's start.  If the history is shorter
 * than the window, over all of it.  0 with fewer than two samples.  The span
 * actually used goes to *span_ns if not NULL (0 if none).
 */
double dl_rate_pps(const struct dl_rate *r, uint64_t window_ns, uint64_t *span_ns);

#endif /* DL_RATE_H */

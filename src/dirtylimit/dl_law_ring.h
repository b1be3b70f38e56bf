/* SPDX-License-Identifier: MIT */
/*
 * What the qemu and linear laws share: QEMU's actuator (a sleep per
 * ring-full) and its units.  Pure; for dl_law_qemu.c and dl_law_linear.c.
 */
#ifndef DL_LAW_RING_H
#define DL_LAW_RING_H

#include "dirtylimit/dl_law.h"

/*
 * QEMU caps the sleep per ring-full at 99 ring-full times: the vCPU sleeps
 * at most 99% of a cycle of filling its ring and sleeping
 * (DIRTYLIMIT_THROTTLE_PCT_MAX in system/dirtylimit.c).
 */
#define DL_RING_THROTTLE_PCT_MAX 99

/*
 * vCPU side: count the pages harvested from this vCPU's ring; once a ring's
 * worth (the soft limit, entries - DL_RING_RSVD_ENTRIES) is counted, sleep
 * the published time, as QEMU does on KVM_EXIT_DIRTY_RING_FULL.  A new
 * sample by the controller (sync_gen) restarts the count: QEMU's rate
 * sample flushes every ring.  Only while a limit is set (QEMU checks
 * "enabled" before it sleeps); a sleep in progress is served to its end,
 * as QEMU's usleep() is.
 */
void dl_ring_account(struct dl_vcpu *v, uint64_t pages, uint64_t limit, struct dl_action *out);

/* QEMU's rate sample: whole MiB over the window, per second (MB/s). */
uint64_t dl_ring_rate_mib(const struct dl_tune_in *in);

/*
 * QEMU's estimate of the time to fill a ring, microseconds: ring size in
 * whole MiB * 1e6 / the highest rate yet seen (MB/s), which this raises
 * to current first.  0 if no rate was ever seen.
 */
uint64_t dl_ring_full_time_us(struct dl_tune_ctx *ctx, const struct dl_vcpu *v,
			      uint64_t current_mib);

#endif /* DL_LAW_RING_H */

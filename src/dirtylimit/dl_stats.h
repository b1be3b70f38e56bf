/* SPDX-License-Identifier: MIT */
/*
 * dl_stats: the --stats stream, one JSON object per line (docs/stats.md).
 * Written by the controller thread only.
 */
#ifndef DL_STATS_H
#define DL_STATS_H

#include <stddef.h>
#include <stdint.h>

struct dl_ctrl;
struct nbout;

/* Write records to @out (never blocking the controller) every interval_ms. */
void dl_stats_open(struct dl_ctrl *c, struct nbout *out, unsigned interval_ms);
void dl_stats_write(struct dl_ctrl *c, uint64_t now_ns);
void dl_stats_close(struct dl_ctrl *c);

#endif

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

int dl_stats_open(struct dl_ctrl *c, const char *path, unsigned interval_ms, char *err,
		  size_t errlen);
void dl_stats_write(struct dl_ctrl *c, uint64_t now_ns);
void dl_stats_close(struct dl_ctrl *c);

#endif

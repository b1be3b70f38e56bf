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
struct json_object;
struct nbout;

/*
 * An object of another subsystem carried in every record under name (the
 * migration's figures, docs/stats.md).  get() runs on the controller thread
 * and returns a new object, or NULL to leave the member out this time; it
 * must not block.  The section and its ctx outlive the controller.
 */
struct dl_stats_section {
	const char *name;
	struct json_object *(*get)(void *ctx);
	void *ctx;
};

/*
 * Any thread, after dl_ctrl_start(): add s to the records from the next one
 * on.  NULL takes it away and returns once no get() runs any more: then the
 * caller may free what get() used.
 */
void dl_stats_set_section(struct dl_ctrl *c, const struct dl_stats_section *s);

/* Write records to @out (never blocking the controller) every interval_ms. */
void dl_stats_open(struct dl_ctrl *c, struct nbout *out, unsigned interval_ms);
void dl_stats_write(struct dl_ctrl *c, uint64_t now_ns);
void dl_stats_close(struct dl_ctrl *c);

#endif

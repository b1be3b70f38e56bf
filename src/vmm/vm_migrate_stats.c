/* SPDX-License-Identifier: MIT */
/*
 * The migration's figures in the --stats stream (docs/stats.md,
 * "migration"): query-migrate's members, QEMU's names and units, read on
 * the controller thread through vm_migrate_info() (a snapshot under the
 * driver's lock: it never waits on the network or a vCPU).
 */
#include "vmm/vm_migrate_stats.h"

#include <stdint.h>
#include <stdio.h>

#include "migrate/mig_policy.h"
#include "migrate/mig_src.h"
#include "vmm/vm_migrate.h"

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static json_object *mbps(double v)
{
	/* Two decimals, as the stream's other rates. */
	char buf[32];

	snprintf(buf, sizeof(buf), "%.2f", v);
	return json_object_new_double_s(v, buf);
}

json_object *vm_migrate_stats(void *ctx)
{
	struct vm_migrate *m = ctx;
	struct mig_info i;
	json_object *o, *ram;

	vm_migrate_info(m, &i);
	if (i.status == MIG_STATUS_NONE)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(mig_status_name(i.status)));
	json_object_object_add(o, "incoming", json_object_new_boolean(i.incoming));
	if (i.status == MIG_STATUS_FAILED && i.error_desc[0])
		json_object_object_add(o, "error-desc", json_object_new_string(i.error_desc));
	if (i.incoming)
		return o;
	add_u64(o, "total-time", i.total_time_ms);
	add_u64(o, "setup-time", i.setup_time_ms);
	if (i.status == MIG_STATUS_ACTIVE || i.status == MIG_STATUS_DEVICE)
		add_u64(o, "expected-downtime", i.expected_downtime_ms);
	if (i.status == MIG_STATUS_COMPLETED)
		add_u64(o, "downtime", i.downtime_ms);
	if (i.auto_converge)
		add_u64(o, "cpu-throttle-percentage", i.throttle_pct);
	if (i.dirty_limit && !mig_status_final(i.status)) {
		add_u64(o, "dirty-limit-throttle-time-per-round", i.dl_throttle_us_per_round);
		add_u64(o, "dirty-limit-ring-full-time", i.dl_ring_full_us);
	}
	ram = json_object_new_object();
	add_u64(ram, "transferred", i.transferred);
	add_u64(ram, "remaining", i.remaining);
	add_u64(ram, "total", i.total);
	add_u64(ram, "duplicate", i.duplicate);
	add_u64(ram, "normal", i.normal);
	add_u64(ram, "normal-bytes", i.normal_bytes);
	add_u64(ram, "dirty-pages-rate", i.dirty_pages_rate);
	json_object_object_add(ram, "mbps", mbps(i.mbps));
	add_u64(ram, "dirty-sync-count", i.dirty_sync_count);
	add_u64(ram, "pages-per-second", i.pages_per_second);
	add_u64(ram, "precopy-bytes", i.precopy_bytes);
	add_u64(ram, "downtime-bytes", i.downtime_bytes);
	json_object_object_add(o, "ram", ram);
	if (i.note != MIG_NOTE_NONE)
		json_object_object_add(o, "x-note", json_object_new_string(mig_note_text(i.note)));
	return o;
}

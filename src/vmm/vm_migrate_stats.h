/* SPDX-License-Identifier: MIT */
/*
 * vm_migrate_stats: the migration's figures for the --stats stream
 * (docs/stats.md, "The migration's figures"): a dl_stats_section get()
 * hook, run on the controller thread.
 */
#ifndef VMM_VM_MIGRATE_STATS_H
#define VMM_VM_MIGRATE_STATS_H

#include <json-c/json.h>

/*
 * ctx: the struct vm_migrate.  A new object with query-migrate's figures
 * (QEMU's names and units), or NULL if this vmm has not migrated.  Never
 * blocks on the network or a vCPU (vm_migrate_info() copies a snapshot).
 */
json_object *vm_migrate_stats(void *ctx);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * vm_migrate: the glue between a VM and live migration (src/migrate/): the
 * source's and the destination's hooks into the VM, the QMP commands'
 * backend, the MIGRATION and MIGRATION_PASS events.  docs/migration.md,
 * "Source and destination".
 *
 * Created by the main thread before QMP serves; the QMP thread calls the
 * commands (they never wait: the migration runs on its own thread); the
 * migration threads call the hooks.
 */
#ifndef VMM_VM_MIGRATE_H
#define VMM_VM_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "migrate/mig_dst.h"
#include "migrate/mig_src.h"

struct vm;
struct dl_ctrl;
struct vm_migrate;

/* How the glue sends a QMP event (data consumed); NULL: no QMP. */
typedef void (*vm_migrate_emit_fn)(void *ctx, const char *event, json_object *data);

/* Before the VM exists (QMP is opened first); then vm_migrate_ready() once it does. */
int vm_migrate_new(struct vm_migrate **out, struct vm *vm, struct dl_ctrl *ctl);
/* The VM is created: the drivers can be set up.  exit_after: --exit-after-migration. */
void vm_migrate_ready(struct vm_migrate *m, bool exit_after);
void vm_migrate_set_emit(struct vm_migrate *m, vm_migrate_emit_fn fn, void *ctx);
/* Cancel and join whatever runs. */
void vm_migrate_free(struct vm_migrate *m);

/* ---- source ---- */
int vm_migrate_start(struct vm_migrate *m, const char *uri, char *err, size_t errlen);
/*
 * The PSK channel (docs/security.md): --object tls-creds-psk,... at
 * start-up (keys loaded then: a bad one is a start-up error); the
 * tls-creds migration parameter names one ("" = plain TCP), looked up when
 * a migration (or migrate-incoming) starts, as QEMU does.
 */
int vm_migrate_add_object(struct vm_migrate *m, const char *spec, char *err, size_t errlen);
int vm_migrate_set_tls_creds(struct vm_migrate *m, const char *id, char *err, size_t errlen);
/* x-io-timeout (checked) for the incoming side; the source reads its parameters itself. */
void vm_migrate_set_io_timeout(struct vm_migrate *m, unsigned ms);
void vm_migrate_tls_creds(struct vm_migrate *m, char *buf, size_t len);
void vm_migrate_cancel(struct vm_migrate *m);
/* query-migrate: the incoming migration's figures on a destination, else the source's. */
void vm_migrate_info(struct vm_migrate *m, struct mig_info *out);
struct mig_src *vm_migrate_src(struct vm_migrate *m);
/* The dirty-limit figures of query-migrate (us), read from the vCPUs. */
void vm_migrate_dl_figures(struct vm_migrate *m, uint64_t *per_round_us, uint64_t *ring_full_us);

/* ---- destination ---- */
/*
 * --incoming: the empty VM exists; listen on uri now (a bad address is an
 * error at start-up), with the test knob fault (NULL: none).
 */
int vm_migrate_incoming_listen(struct vm_migrate *m, const char *uri, const struct mig_fault *fault,
			       char *err, size_t errlen);
/* Start loading (at once for tcp:, on QMP migrate-incoming for defer). */
int vm_migrate_incoming_start(struct vm_migrate *m, char *err, size_t errlen);
/* --incoming defer: waiting for migrate-incoming. */
void vm_migrate_incoming_defer(struct vm_migrate *m, const struct mig_fault *fault);
/* QMP migrate-incoming: listen and start.  Refused unless deferred and not started. */
int vm_migrate_incoming_uri(struct vm_migrate *m, const char *uri, char *err, size_t errlen);
/* Is this vmm an incoming destination, and has it finished?  *ok: loaded, may run. */
bool vm_migrate_incoming(struct vm_migrate *m);
bool vm_migrate_incoming_done(struct vm_migrate *m, bool *ok, const char **error);
/* After the guest started on the destination: no longer "inmigrate". */
void vm_migrate_incoming_finished(struct vm_migrate *m);

/*
 * The run state QMP shows beyond running/paused: "inmigrate" (a
 * destination waiting or loading), "postmigrate" (a source whose guest
 * went), or NULL.
 */
const char *vm_migrate_runstate(struct vm_migrate *m);

#endif

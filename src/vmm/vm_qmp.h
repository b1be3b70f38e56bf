/* SPDX-License-Identifier: MIT */
/*
 * vm_qmp: the QMP backend of a running VM (src/qmp/ knows no VM; this file
 * answers its commands from the vm, the controller and the limiter).
 * Callbacks run on the QMP thread; each takes locks only briefly.
 */
#ifndef VMM_VM_QMP_H
#define VMM_VM_QMP_H

#include <stddef.h>

#include "vmm/cli.h"

struct vm;
struct dl_ctrl;
struct vm_qmp;
struct vm_migrate;

/*
 * Open the control socket (bound and listening, clients wait) during
 * set-up, so that a bad address is found before any vCPU runs.  name is
 * what query-name reports (NULL: none).  ctl is used once running; mig
 * (NULL: none) answers the migration commands.
 */
int vm_qmp_open(struct vm_qmp **out, struct vm *vm, struct dl_ctrl *ctl, struct vm_migrate *mig,
		const struct cli_qmp_addr *addr, const char *name, char *err, size_t errlen);
/* Serve it: once the vCPU threads run (query-cpus-fast reports their ids). */
int vm_qmp_run(struct vm_qmp *q, char *err, size_t errlen);
/*
 * Emits SHUTDOWN if the VM ran and no quit has (the VM has stopped), then
 * stops the server.  Also after vm_qmp_open() alone.
 */
void vm_qmp_stop(struct vm_qmp *q, struct vm *vm);

#endif

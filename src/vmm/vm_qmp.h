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

int vm_qmp_start(struct vm_qmp **out, struct vm *vm, struct dl_ctrl *ctl,
		 const struct cli_qmp_addr *addr, char *err, size_t errlen);
/* Emits SHUTDOWN (the VM has stopped), then stops the server. */
void vm_qmp_stop(struct vm_qmp *q, struct vm *vm);

#endif

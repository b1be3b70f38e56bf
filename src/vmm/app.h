/* SPDX-License-Identifier: MIT */
/* app: one run of a VM, from a parsed command line to an exit status. */
#ifndef VMM_APP_H
#define VMM_APP_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/cli.h"

/* Runs the VM until it stops; returns the process exit status. */
int app_run(const struct vmm_config *cfg, const uint8_t *kernel, size_t kernel_len);

#endif

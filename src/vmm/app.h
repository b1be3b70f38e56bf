/* SPDX-License-Identifier: MIT */
/* app: one run of a VM, from a parsed command line to an exit status. */
#ifndef VMM_APP_H
#define VMM_APP_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/cli.h"

struct nbout;

/* What main() set up before the VM exists. */
struct app_env {
	struct nbout *console; /* the guest's console output (standard output) */
	struct nbout *stats;   /* --stats, or NULL; may be the console's stream ("-") */
	uint64_t launch_ns;    /* when the process started: --duration counts from here */
};

/* Runs the VM until it stops; returns the process exit status. */
int app_run(const struct vmm_config *cfg, const struct app_env *env, const uint8_t *kernel,
	    size_t kernel_len);

#endif

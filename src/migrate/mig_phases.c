// SPDX-License-Identifier: MIT
/* mig_phases: where a migration's stop went (mig_phases.h). */
#include "migrate/mig_phases.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mig_phases_wanted(void)
{
	const char *env = getenv("VMM_MIG_PHASES");

	return env && !strcmp(env, "1");
}

void mig_phases_print(const char *what, const char *const *name, const uint64_t *t, int n,
		      const char *tail)
{
	char line[400];
	size_t o = 0;

	if (!mig_phases_wanted())
		return;
	for (int i = 0; i < n && o < sizeof(line); i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%s %" PRIu64, i ? ", " : "",
				      name[i], (t[i + 1] - t[i]) / 1000u);
	fprintf(stderr, "vmm: %s (us): %s; %s\n", what, line, tail);
}

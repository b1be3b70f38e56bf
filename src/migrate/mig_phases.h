/* SPDX-License-Identifier: MIT */
/*
 * mig_phases: where a migration's stop went, printed on request.  With
 * VMM_MIG_PHASES=1 in the environment the source and the destination each
 * print one line per completed migration (docs/migration.md, "The stop"):
 *
 *   vmm: WHAT (us): NAME0 US, NAME1 US, ...; TAIL
 *
 * A measuring aid: int_migrate reads both lines.  No state.
 */
#ifndef MIG_PHASES_H
#define MIG_PHASES_H

#include <stdbool.h>
#include <stdint.h>

/* VMM_MIG_PHASES=1 in the environment. */
bool mig_phases_wanted(void);

/*
 * If wanted: one line on stderr with the n phases named name[i], phase i
 * lasting t[i + 1] - t[i] (ns; t has n + 1 entries), and tail after them.
 */
void mig_phases_print(const char *what, const char *const *name, const uint64_t *t, int n,
		      const char *tail);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Whose dirty limit is in force during a migration: the user's
 * (--dirty-limit, QMP set-vcpu-dirty-limit) and the migration's (the
 * policy's) per vCPU.  The effective limit is the tighter of the two (0 =
 * none); when the migration ends, completed, failed or cancelled, its
 * limits go and the user's are in force again.  Pure bookkeeping: the
 * caller applies each effective limit through apply() (vm_set_dirty_limit()
 * in vmm), which is called only when a vCPU's effective limit changes.
 *
 * Not thread-safe: the migration driver owns it and calls it under its own
 * lock (QMP's set-vcpu-dirty-limit during a migration goes through it).
 * Limits are pages/s.
 */
#ifndef MIG_LIMITS_H
#define MIG_LIMITS_H

#include <stdint.h>

#include "migrate/mig_policy.h"

struct mig_limits {
	unsigned n;
	uint64_t user[MIG_MAX_VCPUS]; /* the user's, 0 = none */
	uint64_t mig[MIG_MAX_VCPUS];  /* the migration's, 0 = none */
};

typedef void (*mig_limits_apply_fn)(void *ctx, unsigned vcpu, uint64_t pps);

/* At the start of a migration: user = the limits in force now (NULL: none).
 * Returns 0, or -EINVAL if n is 0 or above MIG_MAX_VCPUS. */
int mig_limits_init(struct mig_limits *l, unsigned n, const uint64_t *user);

/* The tighter of the user's and the migration's, 0 = none. */
uint64_t mig_limits_effective(const struct mig_limits *l, unsigned i);
uint64_t mig_limits_user(const struct mig_limits *l, unsigned i);

/* The user sets (pps) or cancels (0) vCPU i's limit during the migration. */
void mig_limits_set_user(struct mig_limits *l, unsigned i, uint64_t pps, mig_limits_apply_fn apply,
			 void *ctx);

/* The policy's limits (n entries, 0 = none; NULL = none at all). */
void mig_limits_set_mig(struct mig_limits *l, const uint64_t *pps, mig_limits_apply_fn apply,
			void *ctx);

/* The migration ended, however: drop its limits, restore the user's. */
void mig_limits_end(struct mig_limits *l, mig_limits_apply_fn apply, void *ctx);

#endif /* MIG_LIMITS_H */

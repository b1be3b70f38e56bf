/* SPDX-License-Identifier: MIT */
/*
 * Ours: the share law (dirty-limit without vcpu-dirty-limit).  Internal to
 * the policy module: mig_policy.c calls these; the interface is
 * mig_policy.h.  docs/migration.md, "Converging", explains the law.
 */
#ifndef MIG_POLICY_SHARE_H
#define MIG_POLICY_SHARE_H

#include <stdbool.h>
#include <stdint.h>

#include "migrate/mig_policy.h"

/* The downtime aimed at: the aim, never above downtime-limit. */
uint64_t mig_share_aim_ms(const struct mig_policy *p);

/* What may remain at a sync to switch over within the aim. */
uint64_t mig_share_threshold(const struct mig_policy *p);

/* Engage once the dirtying outgrows the aim; then recompute every vCPU's
 * limit when fresh (a bandwidth window closed, or a sync).  Returns
 * whether a limit changed. */
bool mig_share_update(struct mig_policy *p, const struct mig_obs *o, bool fresh);

/* At a sync, with rem bytes left: switch over? */
bool mig_share_switchover(const struct mig_policy *p, uint64_t rem);

#endif /* MIG_POLICY_SHARE_H */

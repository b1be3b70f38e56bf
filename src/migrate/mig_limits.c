// SPDX-License-Identifier: MIT
/*
 * The user's and the migration's dirty limits: see mig_limits.h.
 */
#include "migrate/mig_limits.h"

#include <errno.h>
#include <string.h>

static uint64_t tighter(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

int mig_limits_init(struct mig_limits *l, unsigned n, const uint64_t *user)
{
	if (!n || n > MIG_MAX_VCPUS)
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	l->n = n;
	if (user)
		memcpy(l->user, user, n * sizeof(*user));
	return 0;
}

uint64_t mig_limits_effective(const struct mig_limits *l, unsigned i)
{
	return i < l->n ? tighter(l->user[i], l->mig[i]) : 0;
}

uint64_t mig_limits_user(const struct mig_limits *l, unsigned i)
{
	return i < l->n ? l->user[i] : 0;
}

/* Set one side of vCPU i and apply the effective limit if it changed. */
static void set(struct mig_limits *l, uint64_t *side, unsigned i, uint64_t pps,
		mig_limits_apply_fn apply, void *ctx)
{
	uint64_t before = mig_limits_effective(l, i), after;

	side[i] = pps;
	after = mig_limits_effective(l, i);
	if (after != before && apply)
		apply(ctx, i, after);
}

void mig_limits_set_user(struct mig_limits *l, unsigned i, uint64_t pps, mig_limits_apply_fn apply,
			 void *ctx)
{
	if (i < l->n)
		set(l, l->user, i, pps, apply, ctx);
}

void mig_limits_set_mig(struct mig_limits *l, const uint64_t *pps, mig_limits_apply_fn apply,
			void *ctx)
{
	for (unsigned i = 0; i < l->n; i++)
		set(l, l->mig, i, pps ? pps[i] : 0, apply, ctx);
}

void mig_limits_end(struct mig_limits *l, mig_limits_apply_fn apply, void *ctx)
{
	mig_limits_set_mig(l, NULL, apply, ctx);
}

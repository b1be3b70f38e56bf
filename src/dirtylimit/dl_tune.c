// SPDX-License-Identifier: MIT
/* The tuning schedule of the controller: see dl_tune.h. */
#include "dirtylimit/dl_tune.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dl_tune_init(struct dl_tune *t, int nvcpus, const struct dl_law_cfg *cfg, uint64_t period_ns)
{
	memset(t, 0, sizeof(*t));
	t->n = nvcpus;
	t->from_pages = calloc((size_t)nvcpus, sizeof(*t->from_pages));
	t->prev_limit = calloc((size_t)nvcpus, sizeof(*t->prev_limit));
	t->hist = calloc((size_t)nvcpus, sizeof(*t->hist));
	if (!t->from_pages || !t->prev_limit || !t->hist) {
		dl_tune_destroy(t);
		return -ENOMEM;
	}
	for (int i = 0; i < nvcpus; i++)
		dl_rate_init(&t->hist[i]);
	t->cfg = *cfg;
	t->period_req_ns = period_ns;
	t->ctx.cfg = &t->cfg;
	t->ctx.period_ns = dl_law_period(cfg, period_ns);
	return 0;
}

void dl_tune_destroy(struct dl_tune *t)
{
	free(t->from_pages);
	free(t->prev_limit);
	free(t->hist);
	t->from_pages = t->prev_limit = NULL;
	t->hist = NULL;
}

void dl_tune_set_law(struct dl_tune *t, struct dl_vcpu *const *v, const struct dl_law_cfg *cfg,
		     uint64_t period_ns)
{
	t->cfg = *cfg;
	t->period_req_ns = period_ns;
	t->ctx.period_ns = dl_law_period(cfg, period_ns);
	t->ctx.max_rate_mib = 0;
	t->active = false; /* restarts with a full sample at the next tick */
	t->ever_active = false;
	for (int i = 0; i < t->n; i++) {
		memset(&v[i]->cs, 0, sizeof(v[i]->cs));
		dl_law_publish(v[i], cfg->law, 0, 0);
		t->prev_limit[i] = 0; /* tune_at_set laws decide afresh */
	}
}

void dl_tune_set_period(struct dl_tune *t, uint64_t period_ns)
{
	uint64_t p = dl_law_period(&t->cfg, period_ns);

	t->period_req_ns = period_ns;
	t->ctx.period_ns = p;
	if (t->active && t->due_ns > t->from_ns + p)
		t->due_ns = t->from_ns + p;
}

uint64_t dl_tune_due(const struct dl_tune *t)
{
	return t->active && t->cfg.law->tune ? t->due_ns : UINT64_MAX;
}

uint64_t dl_tune_wake(const struct dl_tune *t, struct dl_vcpu *const *v, uint64_t now_ns)
{
	uint64_t due = dl_tune_due(t), end = 0;

	if (due == UINT64_MAX || due > now_ns)
		return due;
	for (int i = 0; i < t->n; i++) {
		uint64_t e = atomic_load_explicit(&v[i]->penalty_end_ns, memory_order_relaxed);

		if (dl_vcpu_get_limit(v[i]) && e > end)
			end = e;
	}
	return end > now_ns ? end : now_ns;
}

static void tune_one(struct dl_tune *t, struct dl_vcpu *v, int i, uint64_t limit,
		     const uint64_t *cum, uint64_t now_ns, bool first)
{
	const struct dl_law *law = t->cfg.law;
	struct dl_tune_in in = {
	    .limit_pps = limit, .now_ns = now_ns, .first = first, .unmeasured = !t->ever_active};

	if (law->window_ns && law->window_ns < now_ns - t->from_ns) {
		uint64_t span = 0;
		double pps = dl_rate_pps(&t->hist[i], law->window_ns, &span);

		in.pages = (uint64_t)(pps * (double)span / 1e9 + 0.5);
		in.window_ns = span;
	} else if (first) {
		/* Newly limited, tune_at_set: the latest window we have. */
		uint64_t span = 0;
		double pps = dl_rate_pps(&t->hist[i],
					 law->window_ns ? law->window_ns : t->ctx.period_ns, &span);

		in.pages = (uint64_t)(pps * (double)span / 1e9 + 0.5);
		in.window_ns = span;
	} else {
		in.pages = cum[i] - t->from_pages[i];
		/* QEMU divides by the wait it asked for, not by the time its
		 * flush then spent waiting for sleeping vCPUs. */
		in.window_ns = (t->cfg.sync_wait ? t->due_ns : now_ns) - t->from_ns;
	}
	law->tune(v, &t->ctx, &in);
}

static bool any_asleep(struct dl_tune *t, struct dl_vcpu *const *v, uint64_t now_ns)
{
	for (int i = 0; i < t->n; i++)
		if (dl_vcpu_get_limit(v[i]) &&
		    atomic_load_explicit(&v[i]->penalty_end_ns, memory_order_relaxed) > now_ns)
			return true;
	return false;
}

void dl_tune_tick(struct dl_tune *t, struct dl_vcpu *const *v, const uint64_t *cum, uint64_t now_ns)
{
	const struct dl_law *law = t->cfg.law;
	bool any = false;

	for (int i = 0; i < t->n; i++) {
		uint64_t lim = dl_vcpu_get_limit(v[i]);

		dl_rate_push(&t->hist[i], now_ns, cum[i]);
		if (lim)
			any = true;
		if (law->tune && law->tune_at_set && lim && !t->prev_limit[i])
			tune_one(t, v[i], i, lim, cum, now_ns, true);
		t->prev_limit[i] = lim;
	}
	if (!law->tune)
		return;
	if (any && !t->active) {
		/* The stats thread starts: its first sample is a whole period. */
		t->active = true;
		t->ever_active = true;
		t->from_ns = now_ns;
		t->due_ns = now_ns + t->ctx.period_ns;
		memcpy(t->from_pages, cum, (size_t)t->n * sizeof(*cum));
		return;
	}
	if (!t->active)
		return;
	if (now_ns < t->due_ns)
		return;
	if (t->cfg.sync_wait && any_asleep(t, v, now_ns))
		return;
	for (int i = 0; i < t->n; i++)
		tune_one(t, v[i], i, t->prev_limit[i], cum, now_ns, false);
	t->tunings++;
	if (law->sample_reaps_rings) {
		t->gen++;
		for (int i = 0; i < t->n; i++)
			atomic_store_explicit(&v[i]->sync_gen, t->gen, memory_order_relaxed);
	}
	t->from_ns = now_ns;
	t->due_ns = now_ns + t->ctx.period_ns;
	memcpy(t->from_pages, cum, (size_t)t->n * sizeof(*cum));
	if (!any)
		t->active = false; /* every limit cancelled: the stats thread stops */
}

// SPDX-License-Identifier: MIT
/*
 * Sliding-window dirty-rate estimator over cumulative counters.  Pure: see
 * dl_rate.h.
 */
#include "dirtylimit/dl_rate.h"

#include <stddef.h>
#include <string.h>

#define NS_PER_S 1e9

double dl_rate_between(uint64_t pages0, uint64_t t0_ns, uint64_t pages1, uint64_t t1_ns)
{
	if (t1_ns <= t0_ns || pages1 < pages0)
		return 0;
	return (double)(pages1 - pages0) * NS_PER_S / (double)(t1_ns - t0_ns);
}

void dl_rate_init(struct dl_rate *r)
{
	memset(r, 0, sizeof(*r));
}

static const struct dl_rate_sample *nth_newest(const struct dl_rate *r, unsigned int i)
{
	return &r->s[(r->head + DL_RATE_SLOTS - i) % DL_RATE_SLOTS];
}

void dl_rate_push(struct dl_rate *r, uint64_t now_ns, uint64_t cum_pages)
{
	if (r->n) {
		const struct dl_rate_sample *last = nth_newest(r, 0);

		if (now_ns <= last->t_ns)
			return;
		if (cum_pages < last->pages)
			r->n = 0;
	}
	r->head = (r->head + 1) % DL_RATE_SLOTS;
	r->s[r->head].t_ns = now_ns;
	r->s[r->head].pages = cum_pages;
	if (r->n < DL_RATE_SLOTS)
		r->n++;
}

double dl_rate_pps(const struct dl_rate *r, uint64_t window_ns, uint64_t *span_ns)
{
	const struct dl_rate_sample *b, *a = NULL, *nw;
	uint64_t start;
	double pages_at;
	unsigned int i;

	if (span_ns)
		*span_ns = 0;
	if (r->n < 2 || !window_ns)
		return 0;
	nw = nth_newest(r, 0);
	start = nw->t_ns > window_ns ? nw->t_ns - window_ns : 0;
	/* Newest sample a at or before the window's start; b just after. */
	b = nw;
	for (i = 1; i < r->n; i++) {
		a = nth_newest(r, i);
		if (a->t_ns <= start)
			break;
		b = a;
	}
	if (a->t_ns > start) {
		/* History shorter than the window: use all of it. */
		if (span_ns)
			*span_ns = nw->t_ns - a->t_ns;
		return dl_rate_between(a->pages, a->t_ns, nw->pages, nw->t_ns);
	}
	pages_at = (double)a->pages + (double)(b->pages - a->pages) * (double)(start - a->t_ns) /
					  (double)(b->t_ns - a->t_ns);
	if (span_ns)
		*span_ns = nw->t_ns - start;
	return ((double)nw->pages - pages_at) * NS_PER_S / (double)(nw->t_ns - start);
}

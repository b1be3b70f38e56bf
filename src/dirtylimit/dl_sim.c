// SPDX-License-Identifier: MIT
/*
 * A simulated vCPU driven by the control law: see dl_sim.h.
 */
#include "dirtylimit/dl_sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9

struct sim {
	const struct dl_sim_cfg *cfg;
	struct dl_sim_result *res;
	uint64_t rng;
	size_t iload;	   /* current load step */
	size_t ilimit;	   /* next limit step to apply */
	double dirtied;	   /* workload pages so far (first touch) */
	double total;	   /* all pages so far */
	uint64_t reported; /* pages handed to the law */
	uint64_t io_next;  /* wall time of the next console phase */
	uint64_t io_left;  /* run time left in this console phase, 0 = none */
	uint64_t io_seg;   /* run time since the last port I/O exit */
};

static uint64_t rnd(struct sim *s, uint64_t max)
{
	/* xorshift64*: deterministic, good enough for jitter. */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return max ? (s->rng * 2685821657736338717ull) % (max + 1) : 0;
}

static void trace(struct sim *s, uint64_t a, uint64_t b, double pages)
{
	struct dl_sim_result *r = s->res;
	double per_ns = pages / (double)(b - a);

	while (a < b) {
		size_t i = a / r->bin_ns;
		uint64_t e = (i + 1) * r->bin_ns;

		if (e > b)
			e = b;
		if (i < r->nbins)
			r->bins[i] += per_ns * (double)(e - a);
		a = e;
	}
}

/* Dirty pages while running over [t, end); quiet: the background only. */
static void run(struct sim *s, uint64_t t, uint64_t end, int quiet)
{
	const struct dl_sim_cfg *c = s->cfg;

	while (t < end) {
		uint64_t seg = end, load;
		double sp, amount;

		while (s->iload + 1 < c->nload && c->load[s->iload + 1].t_ns <= t)
			s->iload++;
		if (s->iload + 1 < c->nload && c->load[s->iload + 1].t_ns < seg)
			seg = c->load[s->iload + 1].t_ns;
		load = c->nload && !quiet ? c->load[s->iload].pps : 0;
		sp = (double)load;
		if (load && s->dirtied < (double)c->first_touch_pages) {
			double left = (double)c->first_touch_pages - s->dirtied;
			uint64_t te;

			sp = (double)c->first_touch_pps;
			te = t + (uint64_t)ceil(left / sp * NS_PER_S);
			if (te < seg)
				seg = te;
		}
		amount = sp * (double)(seg - t) / NS_PER_S;
		s->dirtied += amount;
		amount += (double)c->background_pps * (double)(seg - t) / NS_PER_S;
		s->total += amount;
		trace(s, t, seg, amount);
		t = seg;
	}
}

/*
 * Run the guest from t for at most max_ns; returns how long it ran.  *io is
 * set if the run ended in a port I/O exit (console phase).
 */
static uint64_t guest(struct sim *s, uint64_t t, uint64_t max_ns, int *io)
{
	const struct dl_sim_cfg *c = s->cfg;
	uint64_t d = max_ns, run_ns = c->io_run_ns ? c->io_run_ns : c->io_len_ns;

	*io = 0;
	if (!c->io_every_ns || !c->io_len_ns) {
		run(s, t, t + d, 0);
		return d;
	}
	if (!s->io_left && t >= s->io_next) {
		/* The guest's once-a-period timer: its line is printed when the
		 * vCPU next runs. */
		s->io_left = c->io_len_ns;
		s->io_seg = 0;
		while (s->io_next <= t)
			s->io_next += c->io_every_ns;
	}
	if (!s->io_left) {
		if (s->io_next - t < d)
			d = s->io_next - t;
		run(s, t, t + d, 0);
		return d;
	}
	if (run_ns - s->io_seg < d)
		d = run_ns - s->io_seg;
	if (s->io_left < d)
		d = s->io_left;
	run(s, t, t + d, 1);
	s->io_seg += d;
	s->io_left -= d;
	if (s->io_seg == run_ns || !s->io_left) {
		s->io_seg = 0;
		*io = 1;
	}
	return d;
}

static void apply_limits(struct sim *s, struct dl_vcpu *v, uint64_t t)
{
	const struct dl_sim_cfg *c = s->cfg;

	while (s->ilimit < c->nlimit && c->limit[s->ilimit].t_ns <= t)
		dl_vcpu_set_limit(v, c->limit[s->ilimit++].pps);
}

int dl_sim_run(const struct dl_sim_cfg *cfg, struct dl_sim_result *res)
{
	struct sim s = {.cfg = cfg, .res = res, .rng = cfg->seed | 1, .io_next = cfg->io_first_ns};
	struct dl_vcpu v;
	struct dl_action act;
	uint64_t t = 0;

	memset(res, 0, sizeof(*res));
	res->bin_ns = cfg->bin_ns;
	res->nbins = cfg->end_ns / cfg->bin_ns;
	res->bins = calloc(res->nbins ? res->nbins : 1, sizeof(*res->bins));
	if (!res->bins)
		return -1;

	dl_vcpu_init(&v, &cfg->params);
	apply_limits(&s, &v, 0);
	dl_vcpu_account(&v, 0, 0, 0, &act);
	while (t < cfg->end_ns) {
		uint64_t pages = 0, ran = 0;

		if (act.sleep_ns)
			t += act.sleep_ns + rnd(&s, cfg->sleep_jitter_ns);
		if (act.slice_ns) {
			/* The slice's timer fires (late) at end, wall time. */
			uint64_t end = t + act.slice_ns + rnd(&s, cfg->slice_jitter_ns);
			int io = 0;

			if (v.limit && act.slice_ns > res->max_slice_ns)
				res->max_slice_ns = act.slice_ns;
			while (t < end) {
				uint64_t d = guest(&s, t, end - t, &io);

				t += d;
				ran += d;
				if (!io)
					continue;
				res->io_exits++;
				t += cfg->io_exit_ns;
				if (cfg->io_accounted)
					break;
				io = 0;
			}
			if (!io)
				t += cfg->kick_ns;
			res->run_ns += ran;
			pages = (uint64_t)s.total - s.reported;
			s.reported += pages;
		}
		if (!act.sleep_ns && !act.slice_ns)
			t++; /* never happens; do not spin */
		apply_limits(&s, &v, t);
		dl_vcpu_account(&v, pages, ran, t, &act);
		res->exits++;
	}
	dl_vcpu_stats(&v, &res->stats);
	return 0;
}

void dl_sim_free(struct dl_sim_result *res)
{
	free(res->bins);
	res->bins = NULL;
}

static size_t bin_of(const struct dl_sim_result *r, uint64_t t)
{
	size_t i = t / r->bin_ns;

	return i > r->nbins ? r->nbins : i;
}

double dl_sim_mean(const struct dl_sim_result *r, uint64_t from_ns, uint64_t to_ns)
{
	size_t a = bin_of(r, from_ns), b = bin_of(r, to_ns), i;
	double sum = 0;

	if (b <= a)
		return 0;
	for (i = a; i < b; i++)
		sum += r->bins[i];
	return sum * NS_PER_S / ((double)(b - a) * (double)r->bin_ns);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

size_t dl_sim_windows(const struct dl_sim_result *r, uint64_t from_ns, uint64_t to_ns,
		      uint64_t win_ns, struct dl_sim_pct *out)
{
	size_t a = bin_of(r, from_ns), b = bin_of(r, to_ns), w = win_ns / r->bin_ns, n, i;
	double *v, sum = 0, scale = NS_PER_S / (double)win_ns;

	memset(out, 0, sizeof(*out));
	if (!w || b < a + w)
		return 0;
	n = b - a - w + 1;
	v = malloc(n * sizeof(*v));
	if (!v)
		return 0;
	for (i = a; i < a + w; i++)
		sum += r->bins[i];
	for (i = 0; i < n; i++) {
		v[i] = sum * scale;
		if (i + 1 < n)
			sum += r->bins[a + w + i] - r->bins[a + i];
	}
	qsort(v, n, sizeof(*v), cmp_double);
	out->min = v[0];
	out->max = v[n - 1];
	out->p5 = v[(size_t)(0.05 * (double)(n - 1))];
	out->p95 = v[(size_t)ceil(0.95 * (double)(n - 1))];
	free(v);
	return n;
}

uint64_t dl_sim_settle(const struct dl_sim_result *r, uint64_t t_ns, uint64_t to_ns,
		       uint64_t win_ns, double target, double band)
{
	size_t w = win_ns / r->bin_ns, first = bin_of(r, t_ns) + 1, last = bin_of(r, to_ns), e, k;
	double scale = NS_PER_S / (double)win_ns, sum = 0, lo = target * (1 - band),
	       hi = target * (1 + band);
	uint64_t settled = UINT64_MAX;

	if (first < w)
		first = w;
	/* Windows end at bin boundaries e (exclusive) in [first, last]. */
	for (k = first - w; k < first; k++)
		sum += r->bins[k];
	for (e = first; e <= last; e++) {
		double rate = sum * scale;

		if (rate < lo || rate > hi)
			settled = UINT64_MAX;
		else if (settled == UINT64_MAX)
			settled = e * r->bin_ns - t_ns;
		if (e < last)
			sum += r->bins[e] - r->bins[e - w];
	}
	return settled;
}

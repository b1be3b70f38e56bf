// SPDX-License-Identifier: MIT
/*
 * A simulated vCPU driven by the control law: see dl_sim.h.
 */
#include "dirtylimit/dl_sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9

/* vmm's controller period (CLI_DEFAULT_DIRTY_LIMIT_PERIOD_MS). */
#define SIM_CTRL_TICK_NS 50000000ull
/* The stress kernel's catch-up after a stall (docs/guest.md). */
#define SIM_PACE_CATCHUP_NS 10000000ull

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
	double pace_c;	   /* paced guest: pages it may still write at full speed */
	uint64_t pace_t;   /* when pace_c was last brought up to date */
	uint64_t pace_w;   /* budget pacing: the window pace_c belongs to, + 1 */
};

/* The paced guest never owes more than its catch-up. */
static void pace_cap(struct sim *s)
{
	const struct dl_sim_cfg *c = s->cfg;
	double cap = (double)c->paced_pps *
		     (double)(c->pace_catchup_ns ? c->pace_catchup_ns : SIM_PACE_CATCHUP_NS) /
		     NS_PER_S;

	if (s->pace_c > cap)
		s->pace_c = cap;
}

/* The paced guest's credit up to time t (it accrues in wall time). */
static void pace_accrue(struct sim *s, uint64_t t)
{
	if (t <= s->pace_t)
		return;
	s->pace_c += (double)s->cfg->paced_pps * (double)(t - s->pace_t) / NS_PER_S;
	s->pace_t = t;
	pace_cap(s);
}

/* Pages a guest running at sp dirties over [t, seg), its pace allowing. */
static double paced(struct sim *s, double sp, uint64_t t, uint64_t seg)
{
	double pp = (double)s->cfg->paced_pps, dt = (double)(seg - t) / NS_PER_S, t1;

	if (!s->cfg->paced_pps)
		return sp * dt;
	if (s->cfg->pace_budget_ns) {
		uint64_t w = s->cfg->pace_budget_ns;
		double total = 0;

		while (t < seg) {
			uint64_t end = (t / w + 1) * w;
			double a;

			if (end > seg)
				end = seg;
			if (t / w + 1 != s->pace_w) {
				s->pace_w = t / w + 1;
				s->pace_c = pp * (double)w / NS_PER_S;
			}
			a = sp * (double)(end - t) / NS_PER_S;
			if (a > s->pace_c)
				a = s->pace_c;
			s->pace_c -= a;
			total += a;
			t = end;
		}
		return total;
	}
	pace_accrue(s, t);
	s->pace_t = seg;
	if (sp <= pp) {
		s->pace_c += (pp - sp) * dt;
		pace_cap(s);
		return sp * dt;
	}
	/* Full speed until the credit is gone, then the pace. */
	t1 = s->pace_c / (sp - pp);
	if (t1 >= dt) {
		s->pace_c -= (sp - pp) * dt;
		return sp * dt;
	}
	s->pace_c = 0;
	return sp * t1 + pp * (dt - t1);
}

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
		amount = paced(s, sp, t, seg);
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

static int record_sample(struct dl_sim_result *res, const struct dl_vcpu *v, uint64_t t)
{
	struct dl_sim_sample *n;
	struct dl_stats st;

	if ((res->nsamples & (res->nsamples - 1)) == 0) {
		n = realloc(res->samples, (res->nsamples ? 2 * res->nsamples : 16) * sizeof(*n));
		if (!n)
			return -1;
		res->samples = n;
	}
	dl_vcpu_stats(v, &st);
	res->samples[res->nsamples++] =
	    (struct dl_sim_sample){.t_ns = t, .rate_mib = v->cs.rate_mib, .throttle = st.throttle};
	return 0;
}

int dl_sim_run(const struct dl_sim_cfg *cfg, struct dl_sim_result *res)
{
	struct sim s = {.cfg = cfg, .res = res, .rng = cfg->seed | 1, .io_next = cfg->io_first_ns};
	struct dl_law_cfg law = cfg->law;
	struct dl_vcpu v, *vp = &v;
	struct dl_tune tune;
	struct dl_action act;
	uint64_t t = 0, tick = cfg->ctrl_tick_ns ? cfg->ctrl_tick_ns : SIM_CTRL_TICK_NS;
	uint64_t next_tick = 0;

	memset(res, 0, sizeof(*res));
	res->bin_ns = cfg->bin_ns;
	res->nbins = cfg->end_ns / cfg->bin_ns;
	res->bins = calloc(res->nbins ? res->nbins : 1, sizeof(*res->bins));
	if (!res->bins)
		return -1;

	if (!law.law)
		law.law = &dl_law_bucket;
	if (dl_tune_init(&tune, 1, &law, cfg->tune_period_ns)) {
		dl_sim_free(res);
		return -1;
	}
	dl_vcpu_init(&v, &cfg->params);
	dl_vcpu_set_law(&v, law.law);
	apply_limits(&s, &v, 0);
	dl_vcpu_account(&v, 0, 0, 0, &act);
	while (t < cfg->end_ns) {
		uint64_t pages = 0, ran = 0;

		/* The controller, at the first event after its tick (or a
		 * tuning falling due). */
		if (t >= next_tick || t >= dl_tune_wake(&tune, &vp, t)) {
			uint64_t cum = (uint64_t)s.total, before = tune.tunings;

			dl_tune_tick(&tune, &vp, &cum, t);
			if (tune.tunings != before && record_sample(res, &v, t) < 0) {
				dl_tune_destroy(&tune);
				dl_sim_free(res);
				return -1;
			}
			while (next_tick <= t)
				next_tick += tick;
		}

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
	res->tunings = tune.tunings;
	dl_tune_destroy(&tune);
	return 0;
}

void dl_sim_free(struct dl_sim_result *res)
{
	free(res->bins);
	free(res->samples);
	res->bins = NULL;
	res->samples = NULL;
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

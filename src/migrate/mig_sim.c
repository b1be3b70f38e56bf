// SPDX-License-Identifier: MIT
/*
 * A simulated pre-copy migration: see mig_sim.h.
 */
#include "migrate/mig_sim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/mig_limits.h"

#define NS_PER_S 1000000000ull
#define MS	 1000000ull
/* Where the stress kernel puts things (docs/guest.md): the kernel from
 * 1 MiB, the working sets from 4 MiB, each 2 MiB-aligned. */
#define KERNEL_PAGE 256u
#define WSS_PAGE    1024u
#define WSS_ALIGN   512u
/* Each vCPU's stack pages, inside the kernel's part: the background
 * dirtying of readers and writers. */
#define BG_PAGES 2u
/* An unlimited vCPU harvests its ring at the 10 ms tick (vm.c's, for the
 * default ring): a page rewritten within one tick is logged once. */
#define HARVEST_NS (10 * MS)
/* The limiter's burst (docs/dirtylimit.md): 2 ms of the limit, at least 2
 * pages. */
#define BURST_NS	2000000.0
#define BURST_MIN_PAGES 2.0
/* QEMU's loop: one rate-limited chunk per BUFFER_DELAY, then the check. */
#define QEMU_CHUNK_NS MIG_BW_WINDOW_NS

struct vstate {
	uint64_t base;	   /* first page of the working set */
	uint64_t cursor;   /* seq: next page in the working set */
	uint64_t rng;	   /* random: xorshift64* state */
	double want;	   /* writes owed (fraction carried) */
	double bg;	   /* background writes owed */
	double tokens;	   /* the limiter's bucket, pages */
	double progress;   /* work done while live (pages written or read) */
	uint64_t held;	   /* pages written from the policy's first action on */
	uint64_t logged;   /* ring entries, cumulative */
	uint64_t *hist;	   /* logged, one entry per step, ring of nhist */
	uint64_t eff;	   /* dirty limit in force, pages/s */
	uint64_t rate_pps; /* measured over the period */
};

struct sim {
	const struct mig_sim_cfg *c;
	struct mig_sim_result *r;
	mig_sim_round_fn on_round;
	void *ctx;
	uint64_t n;	   /* pages */
	uint64_t *pending; /* bit per page: to send in this round */
	uint8_t *tracker;  /* dirtied since the last sync, already sent */
	uint32_t *tlist;   /* the pages set in tracker, dirty_n of them */
	uint8_t *nonzero;  /* the page holds data */
	uint32_t *gen;	   /* harvest generation the page was last logged in */
	uint32_t cur_gen;
	uint64_t pending_n; /* bits set in pending */
	uint64_t dirty_n;   /* pages set in tracker */
	uint64_t cursor;    /* the sender's next page */
	struct vstate v[MIG_SIM_MAX_VCPUS];
	uint64_t rates[MIG_SIM_MAX_VCPUS];
	size_t nhist, hpos;
	uint64_t t0;		/* the migration's start */
	uint64_t carry;		/* link budget, bytes x 1e9 / s x ns */
	uint64_t rep_bytes;	/* sent, not yet reported to the policy */
	uint64_t next_check_ns; /* QEMU's loop: next threshold check */
	unsigned throttle;
	bool live;
	uint64_t live_steps; /* guest steps while live */
	struct mig_policy pol;
	struct mig_limits lim;
};

void mig_sim_default(struct mig_sim_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->mem_pages = (1ull << 30) / MIG_PAGE_SIZE;
	c->static_pages = 256; /* 1 MiB of kernel */
	mig_params_default(&c->params);
	mig_share_default(&c->share);
	c->step_ns = 1 * MS;
	c->warmup_ns = 1000 * MS;
	c->max_ns = 60000 * MS;
	c->page_hdr_bytes = 8;
	c->zero_page_bytes = 8;
	c->seed = 1;
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ull;
}

static bool is_pending(const struct sim *s, uint64_t pg)
{
	return s->pending[pg / 64] >> (pg % 64) & 1;
}

static void set_pending(struct sim *s, uint64_t pg)
{
	s->pending[pg / 64] |= 1ull << (pg % 64);
}

static void clear_pending(struct sim *s, uint64_t pg)
{
	s->pending[pg / 64] &= ~(1ull << (pg % 64));
}

/* The next pending page at or after the cursor, wrapping; n if none. */
static uint64_t next_pending(const struct sim *s)
{
	uint64_t words = (s->n + 63) / 64;

	if (!s->pending_n)
		return s->n;
	for (uint64_t k = 0; k <= words; k++) {
		uint64_t w = (s->cursor / 64 + k) % words;
		uint64_t bits = s->pending[w];

		if (!k)
			bits &= ~0ull << (s->cursor % 64);
		if (bits)
			return w * 64 + (uint64_t)__builtin_ctzll(bits);
	}
	return s->n;
}

static uint64_t page_cost(const struct sim *s, uint64_t pg)
{
	return s->nonzero[pg] ? MIG_PAGE_SIZE + s->c->page_hdr_bytes : s->c->zero_page_bytes;
}

static uint64_t link_at(const struct sim *s, uint64_t t_mig)
{
	const struct mig_sim_cfg *c = s->c;
	uint64_t v = c->link[0].value;

	for (size_t i = 1; i < c->nlink && c->link[i].t_ns <= t_mig; i++)
		v = c->link[i].value;
	return v;
}

/* One page write by vCPU i: it holds data now; if it was already sent in
 * this round it is dirty for the next one; the ring logs it once per
 * harvest, or every time while the limiter harvests every slice. */
static void write_page(struct sim *s, unsigned i, uint64_t pg)
{
	s->nonzero[pg] = 1;
	if (!is_pending(s, pg) && !s->tracker[pg]) {
		s->tracker[pg] = 1;
		s->tlist[s->dirty_n++] = (uint32_t)pg;
	}
	if (s->v[i].eff || s->gen[pg] != s->cur_gen) {
		s->gen[pg] = s->cur_gen;
		s->v[i].logged++;
	}
}

static void guest_vcpu(struct sim *s, unsigned i, double share)
{
	const struct mig_sim_vcpu *vc = &s->c->vcpu[i];
	struct vstate *v = &s->v[i];
	double dt = (double)s->c->step_ns / NS_PER_S;

	if (vc->role == MIG_SIM_WRITER) {
		double got = 0;
		uint64_t k;

		v->want += (double)vc->speed_pps * dt * share;
		got = (double)(uint64_t)v->want;
		v->want -= got;
		if (v->eff) {
			/* The limiter: what the bucket holds, the rest of the
			 * step is a sleep (the owed writes are not banked). */
			double burst = (double)v->eff * BURST_NS / NS_PER_S;

			v->tokens += (double)v->eff * dt;
			if (burst < BURST_MIN_PAGES)
				burst = BURST_MIN_PAGES;
			if (v->tokens > burst)
				v->tokens = burst;
			if (got > (double)(uint64_t)v->tokens)
				got = (double)(uint64_t)v->tokens;
			v->tokens -= got;
		}
		for (k = 0; k < (uint64_t)got; k++) {
			uint64_t off;

			if (vc->pattern == MIG_SIM_SEQ) {
				off = v->cursor;
				v->cursor = (v->cursor + 1) % vc->wss_pages;
			} else {
				off = rnd(&v->rng) % vc->wss_pages;
			}
			write_page(s, i, v->base + off);
		}
		if (s->live)
			v->progress += got;
		if (s->live && s->r->first_action_ns != UINT64_MAX)
			v->held += (uint64_t)got;
	} else if (vc->role == MIG_SIM_READER && s->live) {
		double sh = share;

		if (v->eff)
			sh = sh * MIG_SIM_LIMITED_READER_PERMILLE / 1000;
		v->progress += (double)vc->speed_pps * dt * sh;
	}
	v->bg += (double)vc->bg_pps * dt * share;
	while (v->bg >= 1) {
		v->bg -= 1;
		write_page(s, i, KERNEL_PAGE + i * BG_PAGES + (rnd(&v->rng) % BG_PAGES));
	}
	/* The measured rate: ring entries over the last period. */
	v->hist[s->hpos] = v->logged;
	s->rates[i] = (v->logged - v->hist[(s->hpos + 1) % s->nhist]) * NS_PER_S /
		      ((s->nhist - 1) * s->c->step_ns);
}

static void guest_step(struct sim *s, uint64_t t)
{
	double share = 1;

	if (t % HARVEST_NS == 0)
		s->cur_gen++;
	if (s->throttle) {
		/* QEMU's throttle: 10 ms of running, then the sleep. */
		uint64_t sleep = mig_throttle_sleep_ns(s->throttle);

		share = (double)MIG_THROTTLE_SLICE_NS / (double)(MIG_THROTTLE_SLICE_NS + sleep);
	}
	s->hpos = (s->hpos + 1) % s->nhist;
	for (unsigned i = 0; i < s->c->nvcpus; i++)
		guest_vcpu(s, i, share);
}

static void apply_limit(void *ctx, unsigned i, uint64_t pps)
{
	struct sim *s = ctx;

	s->v[i].eff = pps;
}

static void record(struct sim *s, const struct mig_decision *d, uint64_t t)
{
	struct mig_sim_result *r = s->r;

	if (d->limits_changed)
		mig_limits_set_mig(&s->lim, mig_policy_limits(&s->pol), apply_limit, s);
	s->throttle = d->throttle_pct;
	if (d->throttle_pct > r->max_throttle_pct)
		r->max_throttle_pct = d->throttle_pct;
	if (d->note > r->note)
		r->note = d->note;
	for (unsigned i = 0; i < s->c->nvcpus; i++) {
		uint64_t l = mig_policy_limit(&s->pol, i);

		r->last_limit_pps[i] = l;
		if (l > r->max_limit_pps[i])
			r->max_limit_pps[i] = l;
		if (l && (!r->min_limit_pps[i] || l < r->min_limit_pps[i]))
			r->min_limit_pps[i] = l;
		if (l && r->first_action_ns == UINT64_MAX)
			r->first_action_ns = t - s->t0;
	}
	if (d->throttle_pct && r->first_action_ns == UINT64_MAX)
		r->first_action_ns = t - s->t0;
}

static void observe(struct sim *s, struct mig_obs *o, uint64_t t, uint64_t sent_ns)
{
	*o = (struct mig_obs){
	    .now_ns = t,
	    .sent_bytes = s->rep_bytes,
	    .sent_ns = sent_ns,
	    .dirty_bytes = s->dirty_n * MIG_PAGE_SIZE,
	    .remaining_bytes = s->pending_n * MIG_PAGE_SIZE,
	    .vcpu_pps = s->rates,
	    .nvcpus = s->c->nvcpus,
	};
	s->rep_bytes = 0;
}

/* The stop-and-copy: the guest is paused, the rest goes at the link's
 * own speed. */
static void finish(struct sim *s, uint64_t t, const struct mig_decision *d)
{
	struct mig_sim_result *r = s->r;
	uint64_t bytes = 0, link = link_at(s, t - s->t0);

	for (uint64_t pg = 0; pg < s->n; pg++)
		if (is_pending(s, pg))
			bytes += page_cost(s, pg);
	r->converged = true;
	r->live_ns = t - s->t0;
	r->final_bytes = bytes;
	r->downtime_ns = (uint64_t)((unsigned __int128)bytes * NS_PER_S / link);
	r->sent_bytes += bytes;
	r->expected_downtime_ms = d->expected_downtime_ms;
}

/* A dirty sync at t: the pages dirtied since the last one are the next
 * round.  Returns true if the policy switched over. */
static bool sync_now(struct sim *s, uint64_t t)
{
	struct mig_obs o;
	struct mig_decision d;
	struct mig_sim_round rd;

	for (uint64_t k = 0; k < s->dirty_n; k++) {
		s->tracker[s->tlist[k]] = 0;
		set_pending(s, s->tlist[k]);
	}
	s->pending_n += s->dirty_n;
	observe(s, &o, t, 0);
	s->dirty_n = 0;
	if (!s->c->qemu_loop)
		s->cursor = 0;
	mig_policy_sync(&s->pol, &o, &d);
	s->r->syncs++;
	record(s, &d, t);
	if (s->on_round) {
		memset(&rd, 0, sizeof(rd));
		rd.t_ns = t - s->t0;
		rd.dirty_bytes = o.dirty_bytes;
		rd.remaining_bytes = o.remaining_bytes;
		rd.sent_bytes = s->r->sent_bytes;
		rd.dec = d;
		for (unsigned i = 0; i < s->c->nvcpus; i++)
			rd.limit_pps[i] = mig_policy_limit(&s->pol, i);
		s->on_round(s->ctx, &rd);
	}
	if (d.switchover)
		finish(s, t, &d);
	return d.switchover;
}

/* One step of sending.  Returns true once switched over. */
static bool send_step(struct sim *s, uint64_t t)
{
	const struct mig_sim_cfg *c = s->c;
	uint64_t rate = link_at(s, t - s->t0), budget;
	struct mig_obs o;
	struct mig_decision d;

	if (c->params.max_bandwidth && c->params.max_bandwidth < rate)
		rate = c->params.max_bandwidth;
	s->carry += rate * c->step_ns;
	budget = s->carry / NS_PER_S;
	for (;;) {
		uint64_t pg, cost;

		if (!s->pending_n) {
			if (sync_now(s, t))
				return true;
			if (!s->pending_n)
				break;
		}
		pg = next_pending(s);
		cost = page_cost(s, pg);
		if (cost > budget)
			break;
		clear_pending(s, pg);
		s->pending_n--;
		s->cursor = pg + 1 < s->n ? pg + 1 : 0;
		budget -= cost;
		s->carry -= cost * NS_PER_S;
		s->rep_bytes += cost;
		s->r->sent_bytes += cost;
	}
	if (!s->pending_n)
		s->carry %= NS_PER_S; /* idle: nothing banked */
	/* QEMU's loop: after each chunk, sync if what remains is below the
	 * threshold (its estimate, then the exact count after a sync). */
	if (c->qemu_loop && t - s->t0 >= s->next_check_ns) {
		struct mig_decision last;

		s->next_check_ns += QEMU_CHUNK_NS;
		observe(s, &o, t, c->step_ns);
		mig_policy_sample(&s->pol, &o, &last);
		record(s, &last, t);
		if (s->pending_n * MIG_PAGE_SIZE < last.threshold_bytes)
			return sync_now(s, t);
		return false;
	}
	observe(s, &o, t, c->step_ns);
	mig_policy_sample(&s->pol, &o, &d);
	record(s, &d, t);
	return false;
}

static int check(const struct mig_sim_cfg *c)
{
	uint64_t end = WSS_PAGE;

	if (mig_params_check(&c->params, NULL, 0) || mig_caps_check(&c->caps, NULL, 0))
		return -EINVAL;
	if (!c->nvcpus || c->nvcpus > MIG_SIM_MAX_VCPUS || !c->nlink || !c->link ||
	    c->mem_pages > UINT32_MAX || c->params.x_vcpu_dirty_limit_period_ms * MS < c->step_ns ||
	    !c->step_ns || c->step_ns > HARVEST_NS || HARVEST_NS % c->step_ns ||
	    KERNEL_PAGE + c->static_pages > WSS_PAGE ||
	    KERNEL_PAGE + c->nvcpus * BG_PAGES > WSS_PAGE)
		return -EINVAL;
	for (size_t i = 0; i < c->nlink; i++)
		if (!c->link[i].value || (i && c->link[i].t_ns < c->link[i - 1].t_ns))
			return -EINVAL;
	for (unsigned i = 0; i < c->nvcpus; i++) {
		const struct mig_sim_vcpu *v = &c->vcpu[i];

		if (v->role == MIG_SIM_IDLE)
			continue;
		if (!v->wss_pages)
			return -EINVAL;
		end = (end + WSS_ALIGN - 1) / WSS_ALIGN * WSS_ALIGN + v->wss_pages;
	}
	return end > c->mem_pages ? -EINVAL : 0;
}

static int setup(struct sim *s)
{
	const struct mig_sim_cfg *c = s->c;
	uint64_t user[MIG_SIM_MAX_VCPUS], base = WSS_PAGE;

	s->n = c->mem_pages;
	s->pending = malloc((s->n + 63) / 64 * sizeof(uint64_t));
	s->tracker = calloc(s->n, 1);
	s->nonzero = calloc(s->n, 1);
	s->gen = calloc(s->n, sizeof(uint32_t));
	s->tlist = malloc(s->n * sizeof(uint32_t));
	s->nhist = c->params.x_vcpu_dirty_limit_period_ms * MS / c->step_ns + 1;
	if (!s->pending || !s->tracker || !s->nonzero || !s->gen || !s->tlist)
		return -ENOMEM;
	/* The first pass: every page. */
	memset(s->pending, 0xff, (s->n + 63) / 64 * sizeof(uint64_t));
	if (s->n % 64)
		s->pending[s->n / 64] = (1ull << (s->n % 64)) - 1;
	s->pending_n = s->n;
	s->cur_gen = 1;
	memset(s->nonzero + KERNEL_PAGE, 1, c->static_pages);
	for (unsigned i = 0; i < c->nvcpus; i++) {
		const struct mig_sim_vcpu *vc = &c->vcpu[i];
		struct vstate *v = &s->v[i];

		v->hist = calloc(s->nhist, sizeof(uint64_t));
		if (!v->hist)
			return -ENOMEM;
		v->rng = c->seed * 0x9e3779b97f4a7c15ull + i + 1;
		v->eff = vc->user_limit_pps;
		user[i] = vc->user_limit_pps;
		if (vc->role == MIG_SIM_IDLE)
			continue;
		base = (base + WSS_ALIGN - 1) / WSS_ALIGN * WSS_ALIGN;
		v->base = base;
		base += vc->wss_pages;
		/* A reader fills its working set at boot. */
		if (vc->role == MIG_SIM_READER)
			memset(s->nonzero + v->base, 1, vc->wss_pages);
	}
	if (mig_policy_init(&s->pol, &c->caps, &c->params, &c->share, c->nvcpus,
			    s->n * MIG_PAGE_SIZE) ||
	    mig_limits_init(&s->lim, c->nvcpus, user))
		return -EINVAL;
	return 0;
}

static void teardown(struct sim *s)
{
	free(s->pending);
	free(s->tracker);
	free(s->nonzero);
	free(s->gen);
	free(s->tlist);
	for (unsigned i = 0; i < MIG_SIM_MAX_VCPUS; i++)
		free(s->v[i].hist);
}

static void results(struct sim *s)
{
	const struct mig_sim_cfg *c = s->c;
	struct mig_sim_result *r = s->r;
	double live = (double)(s->live_steps * c->step_ns) / NS_PER_S;

	r->total_ns = r->live_ns + r->downtime_ns;
	for (unsigned i = 0; i < c->nvcpus; i++) {
		double full = (double)c->vcpu[i].speed_pps * live;

		r->written[i] = c->vcpu[i].role == MIG_SIM_WRITER ? (uint64_t)s->v[i].progress : 0;
		r->written_held[i] = s->v[i].held;
		r->speed_share[i] = full > 0 ? s->v[i].progress / full : 0;
	}
	/* The migration is over, however it ended: its limits go. */
	mig_limits_end(&s->lim, apply_limit, s);
	for (unsigned i = 0; i < c->nvcpus; i++)
		r->end_limit_pps[i] = mig_limits_effective(&s->lim, i);
}

int mig_sim_run(const struct mig_sim_cfg *c, struct mig_sim_result *r, mig_sim_round_fn on_round,
		void *ctx)
{
	struct sim *s;
	uint64_t t;
	int err;

	memset(r, 0, sizeof(*r));
	r->first_action_ns = UINT64_MAX;
	err = check(c);
	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->c = c;
	s->r = r;
	s->on_round = on_round;
	s->ctx = ctx;
	err = setup(s);
	if (err)
		goto out;
	s->t0 = c->warmup_ns / c->step_ns * c->step_ns;
	for (t = 0;; t += c->step_ns) {
		if (t == s->t0) {
			s->live = true;
			mig_policy_start(&s->pol, t);
			s->next_check_ns = QEMU_CHUNK_NS;
		}
		guest_step(s, t);
		if (!s->live)
			continue;
		s->live_steps++;
		if (send_step(s, t))
			break;
		if (t - s->t0 >= c->max_ns) {
			r->live_ns = t - s->t0;
			break;
		}
	}
	results(s);
out:
	teardown(s);
	free(s);
	return err;
}

// SPDX-License-Identifier: MIT
/*
 * The dirty limiter's control law: a token bucket per vCPU, charged with the
 * exact page count of every ring harvest, plus run slices sized from an
 * online estimate of the vCPU's speed so that each slice dirties about
 * limit * pace pages.  Pure: see dl_law.h and docs/dirtylimit.md.
 */
#include "dirtylimit/dl_law.h"

#include <math.h>
#include <string.h>

#define NS_PER_S 1000000000ull

/*
 * Tokens are nano-pages: a limit in pages/s times a duration in ns is then
 * directly a number of tokens, and a deficit divided by the limit is directly
 * a sleep in ns.  No rounding drift however small the limit or the step.
 */
#define NPAGES_PER_PAGE NS_PER_S

/* The burst cap never drops below this many pages.  One page would make a
 * reader that dirties 1-3 pages/s (stack, console) pay a sleep whenever two
 * of its pages land close together at 1 MiB/s; 2 pages makes that a rare
 * sub-4 ms sleep and adds at most 2 pages (8% of a 100 ms window at 1 MiB/s,
 * below the slice quantum there) to a burst after idle. */
#define DL_BURST_MIN_PAGES 2

/* Highest limit accepted, pages/s (16 TiB/s): keeps limit * ns products
 * and page counts far from 64-bit overflow. */
#define DL_LIMIT_MAX (1ull << 32)

/* Most pages charged by one call: far above any ring (65536 entries). */
#define DL_PAGES_MAX (1ull << 32)

/* Floor of the token balance: a bound, never reached in practice. */
#define DL_TOKENS_MIN (-(INT64_MAX / 2))

/* The speed estimate takes a sample only once this much run time has
 * accumulated: shorter runs (a kick right after entry) give page counts
 * too quantised to mean anything; they are pooled with the next run. */
#define DL_RATE_SAMPLE_NS 20000ull

/*
 * Speed estimate: a sample above the estimate replaces it at once (a faster
 * guest must get shorter slices before it overshoots); a sample below lets
 * the estimate decay towards it with this half-life of *run time*, never
 * below the sample.  Decaying per sample instead (half-way per exit, the
 * first design) failed on a real guest: the stress kernel's once-a-second
 * console line is a few ms of runs that dirty nothing, the estimate
 * collapsed within a dozen exits, the next slice was a full tick at full
 * speed, and the vCPU then slept 230 ms at 25 MiB/s.  20 ms keeps the
 * estimate through such a phase (-16% over 5 ms: the next slice 19% longer)
 * while a limited reader still reaches its full slice after ~0.1 s of
 * running (the decay starts where the slice leaves the minimum, see
 * update_rate()).
 */
#define DL_RATE_HALFLIFE_NS 20000000ull

/* Speed assumed before the first sample: above the fastest dirtying measured
 * on our hosts (450k pages/s), so a vCPU limited before it ever ran starts
 * with short slices instead of one full slice at full speed (600 pages at
 * 300k pages/s: 2.3 s of sleep at 1 MiB/s).  A reader decays from it to the
 * full slice like any reader. */
#define DL_RATE_PRIOR_PPS 500000

void dl_params_default(struct dl_params *p)
{
	/* 10 ms: vm.c's tick for its default 65536-entry ring.  The caller
	 * sets its own. */
	p->tick_ns = 10000000;
	/* 50 us: a kick costs 5-20 us and lands 10-50 us late here. */
	p->min_slice_ns = 50000;
	/* 10 ms: a pause/stop request waits at most this long. */
	p->max_sleep_ns = 10000000;
	/* 2 ms: 50 penalties per 100 ms window (window error ~1%) at an
	 * exit cost of ~0.5-1% (10-20 us per 2 ms). */
	p->pace_ns = 2000000;
	/* 2 ms of limit: covers sleep wake-up lateness (<= 50 us) with room
	 * to spare, and after idle lets through 2% of a 100 ms window. */
	p->burst_ns = 2000000;
	/* 2 ms: a reader's exits cost it 0.5-1% (10-20 us each), and a
	 * reader that starts writing dirties at most 2 ms of its speed before
	 * its first penalty (600-800 pages: 94-125 ms at 25 MiB/s), not a
	 * whole 10 ms tick (470-625 ms). */
	p->read_slice_ns = 2000000;
	p->rate_halflife_ns = DL_RATE_HALFLIFE_NS;
	p->rate_down_shift = 0;
}

static uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c)
{
	unsigned __int128 r = (unsigned __int128)a * b / c;

	return r > UINT64_MAX ? UINT64_MAX : (uint64_t)r;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t clamp_u64(uint64_t x, uint64_t lo, uint64_t hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static int64_t burst_of(const struct dl_vcpu *v, uint64_t limit)
{
	uint64_t b = limit * v->p.burst_ns; /* <= 2^32 * burst_ns */
	uint64_t lo = DL_BURST_MIN_PAGES * NPAGES_PER_PAGE;

	if (v->p.burst_ns && b / v->p.burst_ns != limit)
		b = INT64_MAX;
	return (int64_t)(b < lo ? lo : b > INT64_MAX ? INT64_MAX : b);
}

void dl_vcpu_init(struct dl_vcpu *v, const struct dl_params *p)
{
	memset(v, 0, sizeof(*v));
	v->p = *p;
	v->rate = DL_RATE_PRIOR_PPS;
	if (!v->p.tick_ns)
		v->p.tick_ns = 1;
	if (v->p.min_slice_ns > v->p.tick_ns)
		v->p.min_slice_ns = v->p.tick_ns;
	if (!v->p.min_slice_ns)
		v->p.min_slice_ns = 1;
	if (!v->p.max_sleep_ns)
		v->p.max_sleep_ns = UINT64_MAX;
	if (!v->p.read_slice_ns || v->p.read_slice_ns > v->p.tick_ns)
		v->p.read_slice_ns = v->p.tick_ns;
	if (v->p.read_slice_ns < v->p.min_slice_ns)
		v->p.read_slice_ns = v->p.min_slice_ns;
	if (!v->p.rate_halflife_ns)
		v->p.rate_halflife_ns = DL_RATE_HALFLIFE_NS;
	if (v->p.rate_down_shift > 63)
		v->p.rate_down_shift = 63;
	atomic_init(&v->limit_req, 0);
	atomic_init(&v->st_rate, v->rate);
}

void dl_vcpu_set_limit(struct dl_vcpu *v, uint64_t pages_per_s)
{
	if (pages_per_s > DL_LIMIT_MAX)
		pages_per_s = DL_LIMIT_MAX;
	atomic_store_explicit(&v->limit_req, pages_per_s, memory_order_relaxed);
}

uint64_t dl_vcpu_get_limit(const struct dl_vcpu *v)
{
	return atomic_load_explicit(&v->limit_req, memory_order_relaxed);
}

#define ST_SET(v, f, x) atomic_store_explicit(&(v)->f, (x), memory_order_relaxed)
#define ST_GET(v, f)	atomic_load_explicit(&(v)->f, memory_order_relaxed)
#define ST_ADD(v, f, x) ST_SET(v, f, ST_GET(v, f) + (x)) /* single writer */

static void update_rate(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns)
{
	uint64_t s;

	v->pend_pages = pages > UINT64_MAX - v->pend_pages ? UINT64_MAX : v->pend_pages + pages;
	v->pend_ns = ran_ns > UINT64_MAX - v->pend_ns ? UINT64_MAX : v->pend_ns + ran_ns;
	if (v->pend_ns < DL_RATE_SAMPLE_NS)
		return;
	s = mul_div(v->pend_pages, NS_PER_S, v->pend_ns);
	if (s >= v->rate) {
		v->rate = s;
	} else if (v->p.rate_down_shift) {
		v->rate = s + ((v->rate - s) >> v->p.rate_down_shift);
	} else {
		uint64_t from = v->rate;
		double decayed;

		/* While limited, every speed from pace * limit / min_slice up
		 * gets the minimum slice: decay from there, so that the slice
		 * starts growing at once (one half-life doubles it) instead of
		 * after the estimate has crawled down from the vCPU's speed. */
		if (v->limit)
			from = min_u64(from, mul_div(v->p.pace_ns, v->limit, v->p.min_slice_ns));
		decayed = (double)from * exp2(-(double)v->pend_ns / (double)v->p.rate_halflife_ns);
		v->rate = decayed > (double)s ? (uint64_t)decayed : s;
	}
	v->pend_pages = 0;
	v->pend_ns = 0;
	ST_SET(v, st_rate, v->rate);
}

static int64_t cap(const struct dl_vcpu *v, __int128 t)
{
	if (t > v->burst)
		return v->burst;
	return t < DL_TOKENS_MIN ? DL_TOKENS_MIN : (int64_t)t;
}

/*
 * Credit the time since last_ns and charge the pages.  The interval is idle
 * time (sleep, exit handling, halted) then ran_ns of running: idle credit is
 * capped on its own, so no idle time is banked beyond the burst; credit
 * earned while running is netted against the pages dirtied meanwhile before
 * the cap, as a real bucket drained concurrently would be.
 */
static void charge(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns, uint64_t now_ns)
{
	uint64_t dt = now_ns > v->last_ns ? now_ns - v->last_ns : 0;

	if (ran_ns > dt)
		ran_ns = dt;
	v->tokens = cap(v, (__int128)v->tokens + (__int128)v->limit * (dt - ran_ns));
	v->tokens = cap(v, (__int128)v->tokens + (__int128)v->limit * ran_ns -
			       (__int128)pages * NPAGES_PER_PAGE);
	if (now_ns > v->last_ns)
		v->last_ns = now_ns;
}

static void apply_limit(struct dl_vcpu *v, uint64_t limit, uint64_t now_ns)
{
	uint64_t old = v->limit;

	v->limit = limit;
	ST_SET(v, st_limit, limit);
	if (!limit)
		return;
	v->burst = burst_of(v, limit);
	if (!old) {
		/* A fresh limit starts with an empty bucket: nothing banked
		 * from before, however long the vCPU was idle. */
		v->tokens = 0;
		v->last_ns = now_ns;
		return;
	}
	/* A debt left by the old limit: keep its pages when the limit rises
	 * (a shorter sleep), keep its remaining sleep when it falls (no
	 * long stall for pages dirtied under the old, faster limit). */
	if (v->tokens < 0 && limit < old)
		v->tokens = -(int64_t)mul_div((uint64_t)-v->tokens, limit, old);
	if (v->tokens > v->burst)
		v->tokens = v->burst;
}

static uint64_t slice_for(const struct dl_vcpu *v)
{
	uint64_t s;

	if (!v->limit)
		return v->p.tick_ns;
	if (!v->rate)
		return v->p.read_slice_ns;
	/* Aim at limit * pace pages at the estimated speed; a vCPU that
	 * dirties (next to) nothing gets the read slice, not the tick. */
	s = mul_div(v->p.pace_ns, v->limit, v->rate);
	return clamp_u64(s, v->p.min_slice_ns, v->p.read_slice_ns);
}

static void note_sleep(struct dl_vcpu *v, uint64_t sleep_ns)
{
	uint64_t pen = sleep_ns;

	if (v->sleeping)
		pen += ST_GET(v, st_penalty_ns);
	else
		ST_ADD(v, st_sleeps, 1);
	ST_SET(v, st_penalty_ns, pen);
	if (pen > ST_GET(v, st_max_penalty_ns))
		ST_SET(v, st_max_penalty_ns, pen);
	ST_ADD(v, st_sleep_ns, sleep_ns);
}

void dl_vcpu_account(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns, uint64_t now_ns,
		     struct dl_action *out)
{
	uint64_t req = atomic_load_explicit(&v->limit_req, memory_order_relaxed);
	uint64_t sleep = 0;

	if (pages > DL_PAGES_MAX)
		pages = DL_PAGES_MAX;
	ST_ADD(v, st_pages, pages);
	ST_ADD(v, st_run_ns, ran_ns);
	update_rate(v, pages, ran_ns);

	/* Pages harvested now were dirtied under the limit applied so far. */
	if (v->limit)
		charge(v, pages, ran_ns, now_ns);
	if (req != v->limit)
		apply_limit(v, req, now_ns);

	if (v->limit && v->tokens < 0) {
		/* Sleep off the deficit: ceil(deficit / limit) ns. */
		uint64_t deficit = (uint64_t)-v->tokens;

		sleep = deficit / v->limit + (deficit % v->limit != 0);
	}
	if (sleep > v->p.max_sleep_ns) {
		out->sleep_ns = v->p.max_sleep_ns;
		out->slice_ns = 0;
	} else {
		out->sleep_ns = sleep;
		out->slice_ns = slice_for(v);
	}
	if (out->sleep_ns)
		note_sleep(v, out->sleep_ns);
	v->sleeping = out->sleep_ns && !out->slice_ns;
}

void dl_vcpu_stats(const struct dl_vcpu *v, struct dl_stats *st)
{
	st->limit_pps = ST_GET(v, st_limit);
	st->pages = ST_GET(v, st_pages);
	st->run_ns = ST_GET(v, st_run_ns);
	st->sleep_ns = ST_GET(v, st_sleep_ns);
	st->sleeps = ST_GET(v, st_sleeps);
	st->max_penalty_ns = ST_GET(v, st_max_penalty_ns);
	st->penalty_ns = ST_GET(v, st_penalty_ns);
	st->rate_est_pps = ST_GET(v, st_rate);
}

// SPDX-License-Identifier: MIT
/*
 * The bucket law (vmm's, the default): a token bucket per vCPU, charged with
 * the exact page count of every ring harvest, plus run slices sized from an
 * online estimate of the vCPU's speed so that each slice dirties about
 * limit * pace pages.  Needs no controller.  Pure: see dl_law.h and
 * docs/dirtylimit.md.
 */
#include "dirtylimit/dl_law.h"

#include <math.h>
#include <string.h>

/*
 * Tokens are nano-pages: a limit in pages/s times a duration in ns is then
 * directly a number of tokens, and a deficit divided by the limit is directly
 * a sleep in ns.  No rounding drift however small the limit or the step.
 */
#define NPAGES_PER_PAGE DL_NS_PER_S

/* The burst cap never drops below this many pages.  One page would make a
 * reader that dirties 1-3 pages/s (stack, console) pay a sleep whenever two
 * of its pages land close together at 1 MiB/s; 2 pages makes that a rare
 * sub-4 ms sleep and adds at most 2 pages (8% of a 100 ms window at 1 MiB/s,
 * below the slice quantum there) to a burst after idle. */
#define DL_BURST_MIN_PAGES 2

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

#define ST_SET(v, f, x) atomic_store_explicit(&(v)->f, (x), memory_order_relaxed)

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

static void bucket_start(struct dl_vcpu *v, uint64_t now_ns)
{
	struct dl_bucket_state *b = &v->vs.b;

	(void)now_ns;
	if (v->p.min_slice_ns > v->p.tick_ns)
		v->p.min_slice_ns = v->p.tick_ns;
	if (!v->p.min_slice_ns)
		v->p.min_slice_ns = 1;
	if (!v->p.read_slice_ns || v->p.read_slice_ns > v->p.tick_ns)
		v->p.read_slice_ns = v->p.tick_ns;
	if (v->p.read_slice_ns < v->p.min_slice_ns)
		v->p.read_slice_ns = v->p.min_slice_ns;
	if (!v->p.rate_halflife_ns)
		v->p.rate_halflife_ns = DL_RATE_HALFLIFE_NS;
	if (v->p.rate_down_shift > 63)
		v->p.rate_down_shift = 63;
	memset(b, 0, sizeof(*b));
	b->rate = DL_RATE_PRIOR_PPS;
	/* A limit already in force is applied afresh (an empty bucket) at
	 * the next call. */
	v->limit = 0;
	ST_SET(v, st_rate, b->rate);
}

static void update_rate(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns)
{
	struct dl_bucket_state *b = &v->vs.b;
	uint64_t s;

	b->pend_pages = pages > UINT64_MAX - b->pend_pages ? UINT64_MAX : b->pend_pages + pages;
	b->pend_ns = ran_ns > UINT64_MAX - b->pend_ns ? UINT64_MAX : b->pend_ns + ran_ns;
	if (b->pend_ns < DL_RATE_SAMPLE_NS)
		return;
	s = mul_div(b->pend_pages, DL_NS_PER_S, b->pend_ns);
	if (s >= b->rate) {
		b->rate = s;
	} else if (v->p.rate_down_shift) {
		b->rate = s + ((b->rate - s) >> v->p.rate_down_shift);
	} else {
		uint64_t from = b->rate;
		double decayed;

		/* While limited, every speed from pace * limit / min_slice up
		 * gets the minimum slice: decay from there, so that the slice
		 * starts growing at once (one half-life doubles it) instead of
		 * after the estimate has crawled down from the vCPU's speed. */
		if (v->limit)
			from = min_u64(from, mul_div(v->p.pace_ns, v->limit, v->p.min_slice_ns));
		decayed = (double)from * exp2(-(double)b->pend_ns / (double)v->p.rate_halflife_ns);
		b->rate = decayed > (double)s ? (uint64_t)decayed : s;
	}
	b->pend_pages = 0;
	b->pend_ns = 0;
	ST_SET(v, st_rate, b->rate);
}

static int64_t cap(const struct dl_vcpu *v, __int128 t)
{
	if (t > v->vs.b.burst)
		return v->vs.b.burst;
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
	struct dl_bucket_state *b = &v->vs.b;
	uint64_t dt = now_ns > b->last_ns ? now_ns - b->last_ns : 0;

	if (ran_ns > dt)
		ran_ns = dt;
	b->tokens = cap(v, (__int128)b->tokens + (__int128)v->limit * (dt - ran_ns));
	b->tokens = cap(v, (__int128)b->tokens + (__int128)v->limit * ran_ns -
			       (__int128)pages * NPAGES_PER_PAGE);
	if (now_ns > b->last_ns)
		b->last_ns = now_ns;
}

static void apply_limit(struct dl_vcpu *v, uint64_t limit, uint64_t now_ns)
{
	struct dl_bucket_state *b = &v->vs.b;
	uint64_t old = v->limit;

	v->limit = limit;
	if (!limit)
		return;
	b->burst = burst_of(v, limit);
	if (!old) {
		/* A fresh limit starts with an empty bucket: nothing banked
		 * from before, however long the vCPU was idle. */
		b->tokens = 0;
		b->last_ns = now_ns;
		return;
	}
	/* A debt left by the old limit: keep its pages when the limit rises
	 * (a shorter sleep), keep its remaining sleep when it falls (no
	 * long stall for pages dirtied under the old, faster limit). */
	if (b->tokens < 0 && limit < old)
		b->tokens = -(int64_t)mul_div((uint64_t)-b->tokens, limit, old);
	if (b->tokens > b->burst)
		b->tokens = b->burst;
}

static uint64_t slice_for(const struct dl_vcpu *v)
{
	uint64_t s;

	if (!v->limit)
		return v->p.tick_ns;
	if (!v->vs.b.rate)
		return v->p.read_slice_ns;
	/* Aim at limit * pace pages at the estimated speed; a vCPU that
	 * dirties (next to) nothing gets the read slice, not the tick. */
	s = mul_div(v->p.pace_ns, v->limit, v->vs.b.rate);
	return clamp_u64(s, v->p.min_slice_ns, v->p.read_slice_ns);
}

static void bucket_account(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns, uint64_t now_ns,
			   uint64_t req, struct dl_action *out)
{
	struct dl_bucket_state *b = &v->vs.b;
	uint64_t sleep = 0;

	update_rate(v, pages, ran_ns);

	/* Pages harvested now were dirtied under the limit applied so far. */
	if (v->limit)
		charge(v, pages, ran_ns, now_ns);
	if (req != v->limit)
		apply_limit(v, req, now_ns);

	if (v->limit && b->tokens < 0) {
		/* Sleep off the deficit: ceil(deficit / limit) ns. */
		uint64_t deficit = (uint64_t)-b->tokens;

		sleep = deficit / v->limit + (deficit % v->limit != 0);
	}
	if (sleep > v->p.max_sleep_ns) {
		out->sleep_ns = v->p.max_sleep_ns;
		out->slice_ns = 0;
	} else {
		out->sleep_ns = sleep;
		out->slice_ns = slice_for(v);
	}
}

const struct dl_law dl_law_bucket = {
    .name = "bucket",
    .summary = "a token bucket per vCPU, charged at every harvest (vmm's; no controller)",
    .start = bucket_start,
    .account = bucket_account,
};

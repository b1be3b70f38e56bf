// SPDX-License-Identifier: MIT
/*
 * What every law shares: the table of laws and their names, the limit and
 * the law as other threads set them, the statistics, and the switch from one
 * law to another on the vCPU thread.  Pure: see dl_law.h.
 */
#include "dirtylimit/dl_law.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Highest limit accepted, pages/s (16 TiB/s): keeps limit * ns products
 * and page counts far from 64-bit overflow. */
#define DL_LIMIT_MAX (1ull << 32)

/* Most pages charged by one call: far above any ring (65536 entries). */
#define DL_PAGES_MAX (1ull << 32)

/* The tag of a published output: the law's index, in the top byte. */
#define THR_TAG_SHIFT 56
#define THR_VALUE_MAX ((1ull << THR_TAG_SHIFT) - 1)

const struct dl_law *const dl_laws[] = {&dl_law_bucket, &dl_law_qemu, &dl_law_linear, &dl_law_pct};
const size_t dl_nlaws = sizeof(dl_laws) / sizeof(dl_laws[0]);

unsigned dl_law_index(const struct dl_law *law)
{
	for (size_t i = 0; i < dl_nlaws; i++)
		if (dl_laws[i] == law)
			return (unsigned)i;
	return 0;
}

const struct dl_law *dl_law_find(const char *name)
{
	for (size_t i = 0; i < dl_nlaws; i++)
		if (strcmp(dl_laws[i]->name, name) == 0)
			return dl_laws[i];
	return NULL;
}

static void law_names(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < dl_nlaws && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", dl_laws[i]->name);
}

int dl_law_parse(const char *spec, struct dl_law_cfg *cfg, char *err, size_t errlen)
{
	char buf[128], names[64], *opts, *tok, *save = NULL;
	struct dl_law_cfg c = {0};

	if (!spec || strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen,
			 "expected NAME[:KEY=VALUE,...], at most %zu "
			 "characters",
			 sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, spec);
	opts = strchr(buf, ':');
	if (opts)
		*opts++ = 0;
	c.law = dl_law_find(buf);
	if (!c.law) {
		law_names(names, sizeof(names));
		snprintf(err, errlen, "unknown law '%s' (laws: %s)", buf, names);
		return -EINVAL;
	}
	if (opts && !*opts) {
		snprintf(err, errlen, "%s: nothing after ':'", c.law->name);
		return -EINVAL;
	}
	for (tok = opts ? strtok_r(opts, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');
		int r;

		if (!val || val == tok || !val[1]) {
			snprintf(err, errlen, "%s: expected KEY=VALUE, not '%s'", c.law->name, tok);
			return -EINVAL;
		}
		*val++ = 0;
		if (!c.law->option) {
			snprintf(err, errlen, "%s takes no options (got '%s')", c.law->name, tok);
			return -EINVAL;
		}
		r = c.law->option(&c, tok, val, err, errlen);
		if (r < 0)
			return r;
	}
	*cfg = c;
	return 0;
}

const char *dl_law_format(const struct dl_law_cfg *cfg, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s", cfg->law ? cfg->law->name : "?");
	char sep = ':';

	if (cfg->ki_milli && n >= 0 && (size_t)n < len) {
		n += snprintf(buf + n, len - (size_t)n, "%cki=%u.%03u", sep, cfg->ki_milli / 1000,
			      cfg->ki_milli % 1000);
		sep = ',';
	}
	if (cfg->sync_wait && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%csync=wait", sep);
	return buf;
}

uint64_t dl_law_period(const struct dl_law_cfg *cfg, uint64_t period_ns)
{
	return period_ns ? period_ns : cfg->law->period_ns;
}

void dl_params_default(struct dl_params *p)
{
	/* 10 ms: vm.c's tick for its default 65536-entry ring.  The caller
	 * sets its own. */
	p->tick_ns = 10000000;
	/* vmm's default ring; the caller sets its own. */
	p->ring_entries = 65536;
	/* 10 ms: a pause/stop request waits at most this long. */
	p->max_sleep_ns = 10000000;
	/* 50 us: a kick costs 5-20 us and lands 10-50 us late here. */
	p->min_slice_ns = 50000;
	/* 2 ms: 50 penalties per 100 ms window (window error ~1%) at an
	 * exit cost of ~0.5-1% (10-20 us per 2 ms). */
	p->pace_ns = 2000000;
	/* 2 ms of limit: covers sleep wake-up lateness (<= 50 us) with room
	 * to spare, and after idle lets through 2% of a 100 ms window. */
	p->burst_ns = 2000000;
	/* 2 ms: a reader that starts writing dirties at most 2 ms of its
	 * speed before its first penalty (600-800 pages: 94-125 ms at 25
	 * MiB/s), not a whole 10 ms tick (470-625 ms).  The price: a limited
	 * reader exits 500 times a second instead of 100, which on kvm-pvm
	 * costs a memory-bound reader ~3% (40-80 us per extra exit;
	 * docs/bench-dirtylimit.md). */
	p->read_slice_ns = 2000000;
	/* 20 ms: see DL_RATE_HALFLIFE_NS in dl_law_bucket.c. */
	p->rate_halflife_ns = 20000000;
	p->rate_down_shift = 0;
}

void dl_vcpu_init(struct dl_vcpu *v, const struct dl_params *p)
{
	memset(v, 0, sizeof(*v));
	v->p = *p;
	if (!v->p.tick_ns)
		v->p.tick_ns = 1;
	if (!v->p.max_sleep_ns)
		v->p.max_sleep_ns = UINT64_MAX;
	if (v->p.ring_entries <= DL_RING_RSVD_ENTRIES)
		v->p.ring_entries = 2 * DL_RING_RSVD_ENTRIES;
	atomic_init(&v->limit_req, 0);
	atomic_init(&v->law_req, 0);
	v->law = dl_laws[0];
	v->law->start(v, 0);
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

/* law_req: the law's index in the low byte, the number of sets above. */
#define LAW_REQ_INDEX(r) ((r)&0xffu)
#define LAW_REQ_SET	 0x100u

void dl_vcpu_set_law(struct dl_vcpu *v, const struct dl_law *law)
{
	unsigned r = atomic_load_explicit(&v->law_req, memory_order_relaxed);

	atomic_store_explicit(&v->law_req, ((r & ~0xffu) + LAW_REQ_SET) | dl_law_index(law),
			      memory_order_relaxed);
}

const struct dl_law *dl_vcpu_get_law(const struct dl_vcpu *v)
{
	unsigned i = LAW_REQ_INDEX(atomic_load_explicit(&v->law_req, memory_order_relaxed));

	return dl_laws[i < dl_nlaws ? i : 0];
}

#define ST_SET(v, f, x) atomic_store_explicit(&(v)->f, (x), memory_order_relaxed)
#define ST_GET(v, f)	atomic_load_explicit(&(v)->f, memory_order_relaxed)
#define ST_ADD(v, f, x) ST_SET(v, f, ST_GET(v, f) + (x)) /* single writer */

void dl_law_publish(struct dl_vcpu *v, const struct dl_law *law, uint64_t value, uint64_t until_ns)
{
	uint64_t tag = (uint64_t)dl_law_index(law) << THR_TAG_SHIFT;

	if (value > THR_VALUE_MAX)
		value = THR_VALUE_MAX;
	atomic_store_explicit(&v->thr_until_ns, until_ns, memory_order_relaxed);
	atomic_store_explicit(&v->thr, tag | value, memory_order_release);
}

uint64_t dl_law_output(const struct dl_vcpu *v, uint64_t *until_ns)
{
	uint64_t t = atomic_load_explicit(&v->thr, memory_order_acquire);

	if (until_ns)
		*until_ns = atomic_load_explicit(&v->thr_until_ns, memory_order_relaxed);
	if (t >> THR_TAG_SHIFT != dl_law_index(v->law))
		return 0;
	return t & THR_VALUE_MAX;
}

bool dl_law_serve_debt(struct dl_vcpu *v, uint64_t slice_ns, struct dl_action *out)
{
	uint64_t piece = v->vs.t.owe_ns;

	if (!piece)
		return false;
	if (piece > v->p.max_sleep_ns)
		piece = v->p.max_sleep_ns;
	v->vs.t.owe_ns -= piece;
	out->sleep_ns = piece;
	out->slice_ns = v->vs.t.owe_ns ? 0 : slice_ns;
	return true;
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
	unsigned law_req = atomic_load_explicit(&v->law_req, memory_order_relaxed);

	if (law_req != v->law_seen) {
		const struct dl_law *law =
		    dl_laws[LAW_REQ_INDEX(law_req) < dl_nlaws ? LAW_REQ_INDEX(law_req) : 0];

		/* Pages harvested now were dirtied under the old law: let it
		 * have them, then start afresh (no debt, no credit). */
		struct dl_action ignored;

		v->law->account(v, pages, ran_ns, now_ns, v->limit, &ignored);
		ST_ADD(v, st_pages, pages);
		ST_ADD(v, st_run_ns, ran_ns);
		pages = 0;
		ran_ns = 0;
		v->law = law;
		v->law_seen = law_req;
		ST_SET(v, st_law, dl_law_index(law));
		v->sleeping = false;
		memset(&v->vs, 0, sizeof(v->vs));
		law->start(v, now_ns);
	} else {
		if (pages > DL_PAGES_MAX)
			pages = DL_PAGES_MAX;
		ST_ADD(v, st_pages, pages);
		ST_ADD(v, st_run_ns, ran_ns);
	}
	out->sleep_ns = 0;
	out->slice_ns = v->p.tick_ns;
	v->law->account(v, pages, ran_ns, now_ns, req, out);
	ST_SET(v, st_limit, v->limit);
	if (out->sleep_ns > v->p.max_sleep_ns) /* a law's bug must not stall a pause */
		out->sleep_ns = v->p.max_sleep_ns;
	if (out->sleep_ns) {
		note_sleep(v, out->sleep_ns);
		atomic_store_explicit(&v->penalty_end_ns,
				      now_ns + out->sleep_ns +
					  (v->law == &dl_law_bucket ? 0 : v->vs.t.owe_ns),
				      memory_order_relaxed);
	}
	v->sleeping = out->sleep_ns && !out->slice_ns;
}

void dl_vcpu_stats(const struct dl_vcpu *v, struct dl_stats *st)
{
	uint64_t t = atomic_load_explicit(&v->thr, memory_order_relaxed);

	st->limit_pps = ST_GET(v, st_limit);
	st->pages = ST_GET(v, st_pages);
	st->run_ns = ST_GET(v, st_run_ns);
	st->sleep_ns = ST_GET(v, st_sleep_ns);
	st->sleeps = ST_GET(v, st_sleeps);
	st->max_penalty_ns = ST_GET(v, st_max_penalty_ns);
	st->penalty_ns = ST_GET(v, st_penalty_ns);
	st->rate_est_pps = ST_GET(v, st_rate);
	st->law = dl_vcpu_get_law(v)->name;
	st->law_applied = dl_laws[ST_GET(v, st_law) < dl_nlaws ? ST_GET(v, st_law) : 0]->name;
	st->throttle =
	    t >> THR_TAG_SHIFT == dl_law_index(dl_vcpu_get_law(v)) ? t & THR_VALUE_MAX : 0;
}

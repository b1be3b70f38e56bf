// SPDX-License-Identifier: MIT
/* The source's migration thread: see mig_src.h and docs/migration.md. */
#include "migrate/mig_src.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "migrate/mig_digest.h"
#include "migrate/mig_phases.h"

/*
 * The destination must accept within this.  It listens from its start but
 * may populate guest RAM before it accepts (0.5 s per GiB here).
 */
#define MIG_SRC_CONNECT_MS 10000u
/* QEMU's rate limiter counts bytes per window of BUFFER_DELAY (100 ms). */
#define MIG_SRC_RATE_WINDOW_NS 100000000ull
/*
 * A round is at least this long: a nearly idle guest dirties a few pages a
 * round, and rounds of microseconds would spin syncs (each one takes the
 * bitmap and kicks nothing, but burns a core) before the bandwidth window
 * has seen 100 ms.  5 ms is far below any downtime target.
 */
#define MIG_SRC_ROUND_MIN_NS 5000000ull
/* Pages per call to the encoder between two looks at cancel and the policy. */
#define MIG_SRC_CHUNK_PAGES 1024u
/* Pagemap entries read per call when the digest skips unpopulated memory. */
#define MIG_SRC_PAGEMAP_BATCH 65536u

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *mig_status_name(enum mig_status s)
{
	static const char *const n[] = {
	    [MIG_STATUS_NONE] = "none",
	    [MIG_STATUS_SETUP] = "setup",
	    [MIG_STATUS_CANCELLING] = "cancelling",
	    [MIG_STATUS_CANCELLED] = "cancelled",
	    [MIG_STATUS_ACTIVE] = "active",
	    [MIG_STATUS_DEVICE] = "device",
	    [MIG_STATUS_COMPLETED] = "completed",
	    [MIG_STATUS_FAILED] = "failed",
	};

	return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

bool mig_status_final(enum mig_status s)
{
	return s == MIG_STATUS_NONE || s == MIG_STATUS_COMPLETED || s == MIG_STATUS_FAILED ||
	       s == MIG_STATUS_CANCELLED;
}

/* ---- the thread's own state ---- */

struct run {
	struct mig_src *s;
	const struct mig_src_ops *ops;
	void *o;
	struct mig_enc enc;
	struct mig_policy pol;
	uint64_t *bitmap;
	size_t words;
	uint64_t npages;
	uint64_t t_start, t_active, t_stop;
	/* The rate limiter's window. */
	uint64_t win_start, win_bytes;
	bool unlimited; /* the final copy: max-bandwidth lifted, as QEMU does */
	uint64_t max_bw;
	/* x-io-timeout (ms): no progress writing, or no reply, for this long: stalled. */
	unsigned io_ms;
	/*
	 * Since the previous policy call: bytes sent, since when, and how long
	 * the thread idled between rounds (nothing to send: not link time).
	 * max-bandwidth's waits are link time and stay in (the bandwidth is
	 * the rate the link was given, as QEMU's).
	 */
	uint64_t obs_bytes, obs_t0, obs_idle;
	/* Progress of the round being sent. */
	uint64_t round_left;	    /* pages still to send in this round */
	uint64_t pps_t0, pps_pages; /* pages-per-second window */
	unsigned throttle;
	uint64_t dl_period; /* ms, given to the limiter (dirty-limit capability); 0: none */
	bool paused, end_sent, have_state;
	uint64_t rates[MIG_MAX_VCPUS];
	/* The digest table, kept up to date while pages are sent ("The digest"). */
	struct mig_digest dg;
	bool have_dg;
	uint64_t audit_bytes; /* x-digest-audit */
	/* The hashes of the pages send_pages() queued (the encoder's sums), little-endian. */
	uint64_t page_hash[MIG_SRC_CHUNK_PAGES];
	char err[512];
};

static void set_status_locked(struct mig_src *s, enum mig_status st)
{
	enum mig_status cur = s->info.status;

	if (cur == st)
		return;
	/* A cancel in progress ends as cancelled (or failed, or completed), nothing else. */
	if (cur == MIG_STATUS_CANCELLING && !mig_status_final(st))
		return;
	s->info.status = st;
	if (s->vm.ops->status)
		s->vm.ops->status(s->vm.opaque, st);
}

static void set_status(struct mig_src *s, enum mig_status st)
{
	pthread_mutex_lock(&s->lock);
	set_status_locked(s, st);
	pthread_mutex_unlock(&s->lock);
}

static bool cancelled(struct run *r)
{
	return atomic_load(&r->s->cancel);
}

static void apply_limit(void *ctx, unsigned i, uint64_t pps)
{
	struct mig_src *s = ctx;

	s->vm.ops->set_limit(s->vm.opaque, i, pps);
}

/* Fold the figures the info shows that change while sending. */
static void update_info(struct run *r)
{
	struct mig_src *s = r->s;
	const struct mig_enc_stats *st = &r->enc.st;
	uint64_t t = now_ns();

	pthread_mutex_lock(&s->lock);
	s->info.transferred = s->conn.bytes_out;
	s->info.duplicate = st->zero_pages;
	s->info.normal = st->data_pages;
	s->info.normal_bytes = st->data_pages * MIG_PAGE_SIZE;
	s->info.remaining = r->round_left * MIG_PAGE_SIZE;
	if (r->paused)
		s->info.downtime_bytes = s->conn.bytes_out - s->info.precopy_bytes;
	else
		s->info.precopy_bytes = s->conn.bytes_out;
	if (t - r->pps_t0 >= MIG_SRC_RATE_WINDOW_NS) {
		uint64_t pages = st->data_pages + st->zero_pages;

		s->info.pages_per_second = (pages - r->pps_pages) * 1000000000ull / (t - r->pps_t0);
		r->pps_pages = pages;
		r->pps_t0 = t;
	}
	pthread_mutex_unlock(&s->lock);
}

/* Apply what the policy decided: figures, throttle, limits. */
static void apply(struct run *r, const struct mig_decision *d)
{
	struct mig_src *s = r->s;

	pthread_mutex_lock(&s->lock);
	s->info.expected_downtime_ms = d->expected_downtime_ms;
	s->info.throttle_pct = d->throttle_pct;
	s->info.note = d->note;
	if (d->bandwidth)
		s->info.mbps = (double)d->bandwidth * 8.0 / 1e6;
	if (d->limits_changed && s->lim_active)
		mig_limits_set_mig(&s->lim, mig_policy_limits(&r->pol), apply_limit, s);
	if (s->vm.ops->limit_sleep_us && s->info.dirty_limit)
		s->info.dl_ring_full_us = s->vm.ops->limit_sleep_us(s->vm.opaque);
	pthread_mutex_unlock(&s->lock);
	if (d->throttle_pct != r->throttle && r->ops->set_throttle) {
		r->throttle = d->throttle_pct;
		r->ops->set_throttle(r->o, r->throttle);
	}
}

/* The limiter's tuning period (QEMU 8.1: x-vcpu-dirty-limit-period while
 * migrating with dirty-limit); 0 gives the VM's own back. */
static void set_dl_period(struct run *r, uint64_t ms)
{
	if (r->ops->limit_period && ms != r->dl_period) {
		r->ops->limit_period(r->o, ms);
		r->dl_period = ms;
	}
}

/* Parameters set during the migration reach the policy and the limiter here. */
static void take_params(struct run *r)
{
	struct mig_src *s = r->s;
	uint64_t period = r->dl_period;

	pthread_mutex_lock(&s->lock);
	if (s->params_changed) {
		s->params_changed = false;
		mig_policy_set_params(&r->pol, &s->params);
		r->max_bw = s->params.max_bandwidth;
		if (s->caps.dirty_limit)
			period = s->params.x_vcpu_dirty_limit_period_ms;
		r->io_ms = (unsigned)s->params.x_io_timeout_ms;
		r->audit_bytes = s->params.x_digest_audit;
	}
	pthread_mutex_unlock(&s->lock);
	set_dl_period(r, period);
}

static void observe(struct run *r, struct mig_obs *o, uint64_t dirty_pages, uint64_t remaining)
{
	uint64_t t = now_ns(), period;

	pthread_mutex_lock(&r->s->lock);
	period = r->s->params.x_vcpu_dirty_limit_period_ms;
	pthread_mutex_unlock(&r->s->lock);
	if (r->ops->vcpu_rates)
		r->ops->vcpu_rates(r->o, r->rates, r->s->vm.ncpus, period);
	*o = (struct mig_obs){
	    .now_ns = t,
	    .sent_bytes = r->obs_bytes,
	    .sent_ns = t - r->obs_t0 > r->obs_idle ? t - r->obs_t0 - r->obs_idle : 0,
	    .dirty_bytes = dirty_pages * MIG_PAGE_SIZE,
	    .remaining_bytes = remaining * MIG_PAGE_SIZE,
	    .vcpu_pps = r->ops->vcpu_rates ? r->rates : NULL,
	    .nvcpus = r->s->vm.ncpus,
	};
	r->obs_bytes = 0;
	r->obs_t0 = t;
	r->obs_idle = 0;
}

static void sample(struct run *r)
{
	struct mig_decision d;
	struct mig_obs o;

	take_params(r);
	observe(r, &o, r->ops->count_dirty ? r->ops->count_dirty(r->o) : 0, r->round_left);
	mig_policy_sample(&r->pol, &o, &d);
	apply(r, &d);
	update_info(r);
}

static int fail(struct run *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct run *r, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!r->err[0]) {
		va_start(ap, fmt);
		vsnprintf(r->err, sizeof(r->err), fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int io_error(struct run *r, long rc, const char *what)
{
	if (rc == -ECANCELED)
		return fail(r, -ECANCELED, "cancelled");
	if (rc == -ETIMEDOUT)
		return fail(r, -ETIMEDOUT,
			    "%s: the destination made no progress for %u ms (stalled)", what,
			    r->io_ms);
	return fail(r, (int)rc, "%s: %s", what, mig_conn_strerror(&r->s->conn, (int)rc));
}

/*
 * Sleep until t, looking at cancel.  A max-bandwidth wait is part of the
 * time the link was given, so the measured bandwidth is the limited rate
 * (QEMU's too): counted as sending time, it keeps the switchover estimate
 * honest.  Subtracting it measured how fast the socket buffer fills
 * (4-6 Gbit/s on a 200 Mbit/s link) and switched over with 17 MB left
 * against a 300 ms limit (int_migrate_starved).
 */
static int rate_sleep(struct run *r, uint64_t until)
{
	while (now_ns() < until) {
		uint64_t left = until - now_ns();
		struct timespec ts = {.tv_nsec = (long)(left < 10000000ull ? left : 10000000ull)};

		if (cancelled(r))
			return fail(r, -ECANCELED, "cancelled");
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int read_reply(struct run *r, struct mig_reply *rep, unsigned timeout_ms);

/*
 * The destination ended the migration early (its ERROR reply is waiting,
 * or came before it reset the connection): if so, fail with its words.
 */
static bool peer_error(struct run *r)
{
	struct mig_reply rep;
	char keep[sizeof(r->err)];

	memcpy(keep, r->err, sizeof(keep));
	if (read_reply(r, &rep, 0) == 0 && rep.type == MIG_REPLY_ERROR) {
		r->err[0] = '\0';
		fail(r, -EPROTO,
		     "the destination refused the migration: %s (%s at offset %" PRIu64 ")",
		     rep.reason, mig_err_name(rep.code), rep.offset);
		return true;
	}
	memcpy(r->err, keep, sizeof(keep));
	return false;
}

/* Send what the encoder queued, within max-bandwidth unless lifted. */
static int flush(struct run *r)
{
	while (mig_enc_queued(&r->enc)) {
		struct iovec v[1024];
		const struct iovec *iv;
		uint64_t quota = UINT64_MAX, t = now_ns();
		int n, k = 0;
		size_t sum = 0;
		ssize_t w;

		if (!r->unlimited && r->max_bw) {
			uint64_t per = r->max_bw / (1000000000ull / MIG_SRC_RATE_WINDOW_NS);

			if (t - r->win_start >= MIG_SRC_RATE_WINDOW_NS) {
				r->win_start = t;
				r->win_bytes = 0;
			}
			if (r->win_bytes >= per) {
				int rc = rate_sleep(r, r->win_start + MIG_SRC_RATE_WINDOW_NS);

				if (rc)
					return rc;
				continue;
			}
			quota = per - r->win_bytes;
		}
		iv = mig_enc_iov(&r->enc, &n);
		/* At most the window's quota in one write. */
		for (; k < n && k < (int)(sizeof(v) / sizeof(v[0])) && sum < quota; k++) {
			v[k] = iv[k];
			if (v[k].iov_len > quota - sum)
				v[k].iov_len = (size_t)(quota - sum);
			sum += v[k].iov_len;
		}
		w = mig_conn_writev(&r->s->conn, v, k, r->io_ms);
		if (w < 0)
			return peer_error(r) ? -EPROTO
					     : io_error(r, w, "Unable to write to socket");
		/* The destination speaks only to end the migration: an error, early. */
		if (mig_conn_wait_readable(&r->s->conn, 0) > 0 && !r->end_sent)
			return peer_error(r)
				   ? -EPROTO
				   : fail(r, -EPROTO, "the destination spoke out of turn");
		mig_enc_advance(&r->enc, (size_t)w);
		r->win_bytes += (uint64_t)w;
		r->obs_bytes += (uint64_t)w;
	}
	return 0;
}

/* Queue one record, flushing when the batch is full. */
#define ENC(r, call)                                                                               \
	({                                                                                         \
		int rc_ = (call);                                                                  \
		if (rc_ == -ENOBUFS) {                                                             \
			rc_ = flush(r);                                                            \
			if (!rc_)                                                                  \
				rc_ = (call);                                                      \
		}                                                                                  \
		rc_ < 0 ? fail(r, rc_, "the stream encoder refused a record (%s)", strerror(-rc_)) \
			: 0;                                                                       \
	})

/*
 * In the first pass: how many pages from first (at most n) lie in chunks
 * the digest table knows are zeros, i.e. never populated when the pass
 * began (digest_start()).  They go as ZERO records unread: reading
 * untouched memory maps the zero page fault by fault (0.4 s per GiB).  A
 * page written since is reported by the next sync and sent again.
 */
static uint64_t known_zero_pages(const struct run *r, uint64_t first, uint64_t n)
{
	uint64_t per = r->dg.chunk / MIG_PAGE_SIZE, k = 0;

	if (first % per)
		return 0;
	while (k < n && mig_digest_known_zero(&r->dg, (first + k) / per))
		k += per;
	return k < n ? k : n;
}

/*
 * Pages [first, first + n) (n <= MIG_SRC_CHUNK_PAGES): queued and sent as
 * the batch fills; their hashes in r->page_hash.
 */
static int send_pages(struct run *r, uint64_t first, uint64_t n)
{
	uint64_t *h = r->page_hash;

	while (n) {
		long k = mig_enc_pages_hashed(&r->enc, first, n, h);

		if (k < 0)
			return fail(r, (int)k, "the stream encoder refused pages");
		first += (uint64_t)k;
		n -= (uint64_t)k;
		h += k;
		r->round_left -= (uint64_t)k;
		if (n) {
			int rc = flush(r);

			if (rc)
				return rc;
		}
	}
	return 0;
}

/*
 * One round: every page (bitmap NULL) or the pages set in bitmap.  Between
 * chunks: cancel, the policy's sample, progress.
 */
static int send_round(struct run *r, const uint64_t *bitmap, uint64_t count, bool final)
{
	uint64_t p = 0, since = 0, z;
	int rc = ENC(r, mig_enc_round_begin(&r->enc, final));

	if (rc)
		return rc;
	r->round_left = count;
	while (p < r->npages) {
		uint64_t first = p, n;

		if (bitmap) {
			/* Next run of set bits. */
			while (p < r->npages && !(bitmap[p / 64] >> (p % 64) & 1)) {
				if (!(p % 64) && !bitmap[p / 64]) {
					p += 64;
					continue;
				}
				p++;
			}
			if (p >= r->npages)
				break;
			first = p;
			while (p < r->npages && (bitmap[p / 64] >> (p % 64) & 1) &&
			       p - first < MIG_SRC_CHUNK_PAGES)
				p++;
			n = p - first;
		} else {
			n = r->npages - p < MIG_SRC_CHUNK_PAGES ? r->npages - p
								: MIG_SRC_CHUNK_PAGES;
			z = known_zero_pages(r, p, n);
			if (z) {
				rc = ENC(r, mig_enc_zero(&r->enc, p, z));
				if (rc)
					return rc;
				r->round_left -= z;
				p += z;
				since += z;
				continue;
			}
			p += n;
		}
		rc = send_pages(r, first, n);
		if (rc)
			return rc;
		/*
		 * Their chunks: those wholly inside the run from the encoder's
		 * page sums (each page hashed once), those it covers in part
		 * from RAM while it is warm.  A page the guest wrote after its
		 * sum was taken is reported by the next sync, which marks its
		 * chunk stale again: the same as a write after a chunk's hash.
		 */
		mig_digest_set_pages(&r->dg, first * MIG_PAGE_SIZE, n * MIG_PAGE_SIZE,
				     r->page_hash);
		mig_digest_refresh_span(&r->dg, r->s->vm.ram, first * MIG_PAGE_SIZE,
					n * MIG_PAGE_SIZE, false);
		since += n;
		if (since >= MIG_SRC_CHUNK_PAGES) {
			since = 0;
			if (!final && cancelled(r))
				return fail(r, -ECANCELED, "cancelled");
			if (!final)
				sample(r);
			else
				update_info(r);
		}
	}
	rc = ENC(r, mig_enc_round_end(&r->enc));
	if (!rc)
		rc = flush(r);
	r->round_left = 0;
	update_info(r);
	return rc;
}

/* ---- the digest of guest RAM (docs/migration.md, "The digest") ---- */

/*
 * /proc/self/pagemap over guest RAM, read in batches of at most
 * MIG_SRC_PAGEMAP_BATCH pages (the table's start and the audit use it).
 */
struct pagemap {
	int fd;	      /* -1: none (no /proc) */
	uint64_t *e;  /* one batch of entries; NULL: none (no memory) */
	uint64_t cap; /* entries e holds */
};

/* For batches of at most pages pages. */
static void pagemap_open(struct pagemap *pm, uint64_t pages)
{
	pm->cap = pages < MIG_SRC_PAGEMAP_BATCH ? pages : MIG_SRC_PAGEMAP_BATCH;
	pm->fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	pm->e = malloc(pm->cap * 8);
}

/* The entries of guest pages [page, page + n), or NULL (none, or n over the batch). */
static const uint64_t *pagemap_read(const struct run *r, struct pagemap *pm, uint64_t page,
				    uint64_t n)
{
	uint64_t base = (uint64_t)(uintptr_t)r->s->vm.ram / MIG_PAGE_SIZE;

	if (pm->fd < 0 || !pm->e || n > pm->cap ||
	    pread(pm->fd, pm->e, n * 8, (off_t)((base + page) * 8)) != (ssize_t)(n * 8))
		return NULL;
	return pm->e;
}

static void pagemap_close(struct pagemap *pm)
{
	free(pm->e);
	if (pm->fd >= 0)
		close(pm->fd);
}

/*
 * The table for the whole migration, made right after the first sync:
 * never-populated memory reads as zeros (the kernel's word), and every
 * write from here on is reported by the tracker and marks its chunk stale.
 */
static int digest_start(struct run *r)
{
	const struct mig_src_vm *vm = &r->s->vm;
	struct pagemap pm;
	int rc;

	rc = mig_digest_init(&r->dg, vm->ram_size, vm->cfg.digest_chunk);
	if (rc)
		return fail(r, rc, "cannot make the memory digest table: %s", strerror(-rc));
	r->have_dg = true;
	pagemap_open(&pm, r->npages);
	for (uint64_t p = 0; p < r->npages;) {
		uint64_t n =
		    r->npages - p < MIG_SRC_PAGEMAP_BATCH ? r->npages - p : MIG_SRC_PAGEMAP_BATCH;
		const uint64_t *e = pagemap_read(r, &pm, p, n);

		if (!e)
			break;
		mig_digest_skip_unpopulated(&r->dg, p, MIG_PAGE_SIZE, e, n);
		p += n;
	}
	pagemap_close(&pm);
	return 0;
}

/*
 * Audit chunks [first, end) (mig_digest_audit()): in batches of
 * MIG_SRC_PAGEMAP_BATCH pages, each read after its pagemap, so that
 * untouched memory is judged by the kernel's word, unread.  Without a
 * pagemap (no /proc, no memory) every chunk is read.  Returns as the audit.
 */
static int64_t audit_span(struct run *r, struct pagemap *pm, uint64_t first, uint64_t end)
{
	uint64_t per = r->dg.chunk / MIG_PAGE_SIZE;
	uint64_t step = MIG_SRC_PAGEMAP_BATCH / per;

	if (end > r->dg.nchunks)
		end = r->dg.nchunks;
	for (uint64_t c = first; c < end; c += step) {
		uint64_t stop = end - c < step ? end : c + step;
		uint64_t p = c * per, n = stop * per < r->npages ? (stop - c) * per : r->npages - p;
		int64_t bad = mig_digest_audit(&r->dg, r->s->vm.ram, c, stop, MIG_PAGE_SIZE,
					       pagemap_read(r, pm, p, n), NULL);

		if (bad >= 0)
			return bad;
	}
	return -1;
}

/*
 * The audit at switchover: x-digest-audit bytes of chunks the tracker calls
 * clean, from where the last window ended (wrapping at the end of RAM),
 * or all of RAM.  Returns the first chunk found changed, or -1.
 */
static int64_t audit_window(struct run *r)
{
	uint64_t per = r->audit_bytes / r->dg.chunk, first = 0;
	struct pagemap pm;
	int64_t bad;

	if (!r->audit_bytes)
		return -1;
	if (per == 0)
		per = 1;
	if (per >= r->dg.nchunks) {
		per = r->dg.nchunks; /* all of it: the full proof */
	} else {
		first = r->s->audit_next / r->dg.chunk % r->dg.nchunks;
		r->s->audit_next = (first + per) * r->dg.chunk;
	}
	pagemap_open(&pm, per * (r->dg.chunk / MIG_PAGE_SIZE));
	bad = audit_span(r, &pm, first, first + per);
	if (bad < 0 && first + per > r->dg.nchunks)
		bad = audit_span(r, &pm, 0, first + per - r->dg.nchunks);
	pagemap_close(&pm);
	return bad;
}

/*
 * At switchover (vCPUs stopped, final round sent): hash what is still
 * stale (nothing, when every reported page went out), audit a window of
 * chunks the tracker calls clean, and combine.
 */
static int ram_digest(struct run *r, uint8_t out[MIG_DIGEST_LEN])
{
	int64_t bad;
	int rc;

	mig_digest_refresh(&r->dg, r->s->vm.ram, 0, r->dg.nchunks);
	bad = audit_window(r);
	if (bad >= 0)
		return fail(r, -EIO,
			    "guest memory at 0x%" PRIx64
			    " changed without the dirty tracker reporting it (digest audit)",
			    (uint64_t)bad * r->dg.chunk);
	rc = mig_digest_final(&r->dg, out);
	if (rc)
		return fail(r, rc, "the memory digest is incomplete");
	return 0;
}

/* ---- phases ---- */

static int setup(struct run *r)
{
	struct mig_src *s = r->s;
	struct mig_enc_params ep = {.ram = s->vm.ram, .ram_size = s->vm.ram_size};
	uint64_t user[MIG_MAX_VCPUS] = {0}, period;
	const struct mig_tls_creds *tls;
	char err[256];
	int rc;

	r->npages = s->vm.ram_size / MIG_PAGE_SIZE;
	r->words = (size_t)((r->npages + 63) / 64);
	r->bitmap = calloc(r->words ? r->words : 1, sizeof(uint64_t));
	if (!r->bitmap || mig_enc_init(&r->enc, &ep))
		return fail(r, -ENOMEM, "out of memory");
	pthread_mutex_lock(&s->lock);
	mig_policy_init(&r->pol, &s->caps, &s->params, NULL, s->vm.ncpus, s->vm.ram_size);
	r->max_bw = s->params.max_bandwidth;
	r->io_ms = (unsigned)s->params.x_io_timeout_ms;
	r->audit_bytes = s->params.x_digest_audit;
	s->params_changed = false;
	if (s->vm.ops->user_limits)
		s->vm.ops->user_limits(s->vm.opaque, user, s->vm.ncpus);
	mig_limits_init(&s->lim, s->vm.ncpus, user);
	s->lim_active = true;
	tls = s->tls;
	period = s->caps.dirty_limit ? s->params.x_vcpu_dirty_limit_period_ms : 0;
	pthread_mutex_unlock(&s->lock);
	set_dl_period(r, period);

	rc = mig_conn_connect(&s->conn, &s->uri, s->to.connect_ms, err, sizeof(err));
	/* The PSK channel: the destination proves the key before it gets a byte. */
	if (rc == 0 && tls)
		rc = mig_conn_start_tls(&s->conn, tls, s->to.connect_ms, err, sizeof(err));
	if (rc)
		return rc == -ECANCELED ? fail(r, rc, "cancelled") : fail(r, rc, "%s", err);
	if (r->ops->prepare_state && r->ops->prepare_state(r->o, err, sizeof(err)))
		return fail(r, -EIO, "cannot prepare the vCPU state: %s", err);
	rc = ENC(r, mig_enc_header(&r->enc));
	if (!rc)
		rc = ENC(r, mig_enc_config(&r->enc, &s->vm.cfg));
	if (rc)
		return rc;
	/* QEMU's first bitmap sync: from here on, every write is reported. */
	r->ops->take_dirty(r->o, r->bitmap, r->words);
	rc = digest_start(r);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->lock);
	s->info.dirty_sync_count = 1;
	pthread_mutex_unlock(&s->lock);
	if (r->ops->pass)
		r->ops->pass(r->o, 1);
	return 0;
}

/* Rounds until the policy says switch over.  Returns 0 then. */
static int precopy(struct run *r)
{
	struct mig_src *s = r->s;
	int rc;

	r->t_active = now_ns();
	pthread_mutex_lock(&s->lock);
	s->info.setup_time_ms = (r->t_active - r->t_start) / 1000000u;
	pthread_mutex_unlock(&s->lock);
	set_status(s, MIG_STATUS_ACTIVE);
	mig_policy_start(&r->pol, r->t_active);
	r->obs_t0 = r->win_start = r->pps_t0 = r->t_active;
	/* The first pass: every page. */
	rc = send_round(r, NULL, r->npages, false);
	for (uint64_t t_round = r->t_active; !rc;) {
		struct mig_decision d;
		struct mig_obs o;
		uint64_t n, t = now_ns(), sync;

		if (t - t_round < MIG_SRC_ROUND_MIN_NS) {
			rc = rate_sleep(r, t_round + MIG_SRC_ROUND_MIN_NS);
			if (rc)
				return rc;
			/* Not a rate limit: idle, nothing to send; not link time. */
			r->obs_idle += now_ns() - t;
			t = now_ns();
		}
		take_params(r);
		n = r->ops->take_dirty(r->o, r->bitmap, r->words);
		mig_digest_stale_bitmap(&r->dg, r->bitmap, r->npages, MIG_PAGE_SIZE);
		pthread_mutex_lock(&s->lock);
		sync = ++s->info.dirty_sync_count;
		s->info.dirty_pages_rate = t > t_round ? n * 1000000000ull / (t - t_round) : 0;
		pthread_mutex_unlock(&s->lock);
		if (r->ops->pass)
			r->ops->pass(r->o, sync);
		observe(r, &o, n, n);
		mig_policy_sync(&r->pol, &o, &d);
		apply(r, &d);
		r->round_left = n;
		update_info(r);
		if (d.switchover)
			return 0;
		if (cancelled(r))
			return fail(r, -ECANCELED, "cancelled");
		t_round = now_ns();
		rc = send_round(r, r->bitmap, n, false);
	}
	return rc;
}

static int read_reply(struct run *r, struct mig_reply *rep, unsigned timeout_ms)
{
	uint8_t buf[MIG_REPLY_MAX];
	size_t have = 0;
	struct mig_error e;

	for (;;) {
		long k = have ? mig_reply_parse(buf, have, rep, &e) : 0;
		ssize_t n;

		if (k > 0)
			return 0;
		if (k < 0)
			return fail(r, -EPROTO, "the destination's reply is not valid: %s", e.msg);
		if (have == sizeof(buf))
			return fail(r, -EPROTO, "the destination's reply is too long");
		n = mig_conn_read(&r->s->conn, buf + have, sizeof(buf) - have, timeout_ms);
		if (n == 0)
			return fail(r, -ECONNRESET,
				    "the destination closed the connection without an answer");
		if (n < 0)
			return io_error(r, n, "no answer from the destination");
		have += (size_t)n;
	}
}

/* r->bitmap |= the pages dirtied since the last sync; returns how many are set. */
static uint64_t final_bitmap(struct run *r)
{
	uint64_t *more = calloc(r->words ? r->words : 1, sizeof(uint64_t)), n = 0;

	if (!more) {
		/* No room for a second map: send every page, which is never wrong. */
		memset(r->bitmap, 0xff, r->words * sizeof(uint64_t));
		if (r->npages % 64)
			r->bitmap[r->words - 1] = (1ull << (r->npages % 64)) - 1;
		r->ops->take_dirty(r->o, r->bitmap, 0);
		return r->npages;
	}
	r->ops->take_dirty(r->o, more, r->words);
	for (size_t i = 0; i < r->words; i++) {
		r->bitmap[i] |= more[i];
		n += (uint64_t)__builtin_popcountll(r->bitmap[i]);
	}
	free(more);
	return n;
}

/*
 * Where the downtime goes (docs/migration.md, "The stop"): with
 * VMM_MIG_PHASES=1 in the environment the source prints one line per
 * completed migration.  A measuring aid, read once per migration.
 */
enum {
	PH_PAUSE,
	PH_SYNC,
	PH_FINAL,
	PH_SAVE,
	PH_STATE,
	PH_DIGEST,
	PH_END,
	PH_ACK,
	PH_N
};

static void print_phases(const uint64_t *t, uint64_t pages)
{
	static const char *const name[PH_N] = {"pause",	     "sync",   "final round", "state save",
					       "state send", "digest", "end",	      "ack"};
	char tail[100];

	snprintf(tail, sizeof(tail), "final round %" PRIu64 " pages, total %" PRIu64 " us", pages,
		 (t[PH_N] - t[0]) / 1000u);
	mig_phases_print("downtime phases", name, t, PH_N, tail);
}

/* Stop the guest, send the rest, the state and the digest, wait for the verdict. */
static int complete(struct run *r)
{
	uint64_t t[PH_N + 1];
	struct mig_src *s = r->s;
	const struct mig_sec *secs = NULL;
	uint8_t digest[MIG_DIGEST_LEN];
	struct mig_reply rep;
	char err[256];
	unsigned nsec = 0;
	uint64_t n, sync;
	int rc;

	set_status(s, MIG_STATUS_DEVICE);
	r->t_stop = t[PH_PAUSE] = now_ns();
	rc = r->ops->pause(r->o, err, sizeof(err));
	if (rc)
		return fail(r, rc, "cannot stop the guest: %s", err);
	t[PH_SYNC] = now_ns();
	r->paused = true;
	r->unlimited = true;
	/*
	 * The final round: what the last sync found (r->bitmap, not sent:
	 * the policy switched over instead) and what was dirtied since.
	 */
	n = final_bitmap(r);
	mig_digest_stale_bitmap(&r->dg, r->bitmap, r->npages, MIG_PAGE_SIZE);
	pthread_mutex_lock(&s->lock);
	sync = ++s->info.dirty_sync_count;
	pthread_mutex_unlock(&s->lock);
	if (r->ops->pass)
		r->ops->pass(r->o, sync);
	t[PH_FINAL] = now_ns();
	rc = send_round(r, r->bitmap, n, true);
	if (rc)
		return rc;
	t[PH_SAVE] = now_ns();
	rc = r->ops->save_state(r->o, &secs, &nsec, err, sizeof(err));
	if (rc)
		return fail(r, rc, "cannot save the vCPU and device state: %s", err);
	r->have_state = true;
	t[PH_STATE] = now_ns();
	for (unsigned i = 0; i < nsec && !rc; i++)
		rc = ENC(r, mig_enc_section(&r->enc, secs[i].id, secs[i].instance, secs[i].version,
					    secs[i].data, secs[i].len));
	if (!rc)
		rc = flush(r);
	t[PH_DIGEST] = now_ns();
	if (!rc)
		rc = ram_digest(r, digest);
	t[PH_END] = now_ns();
	if (!rc)
		rc = ENC(r, mig_enc_end(&r->enc, digest));
	if (rc)
		return rc;
	/* From here the destination decides: a cancel no longer changes the outcome. */
	r->end_sent = true;
	rc = flush(r);
	update_info(r);
	if (rc)
		return rc;
	t[PH_ACK] = now_ns();
	rc = read_reply(r, &rep, r->io_ms);
	if (rc)
		return rc;
	t[PH_N] = now_ns();
	if (rep.type == MIG_REPLY_ERROR)
		return fail(r, -EPROTO,
			    "the destination refused the migration: %s (%s at offset %" PRIu64 ")",
			    rep.reason, mig_err_name(rep.code), rep.offset);
	if (memcmp(rep.digest, digest, MIG_DIGEST_LEN))
		return fail(r, -EPROTO, "the destination acknowledged another digest");
	print_phases(t, n);
	return 0;
}

static void *src_thread(void *arg)
{
	struct run *r = arg;
	struct mig_src *s = r->s;
	enum mig_status end;
	uint64_t t_end;
	int rc;

	rc = setup(r);
	if (!rc)
		rc = precopy(r);
	if (!rc)
		rc = complete(r);
	t_end = now_ns();
	if (r->have_state && r->ops->release_state)
		r->ops->release_state(r->o);
	mig_conn_close(&s->conn);
	/* Every limit and throttle the migration set goes; the user's limits come back. */
	if (r->throttle && r->ops->set_throttle)
		r->ops->set_throttle(r->o, 0);
	pthread_mutex_lock(&s->lock);
	if (s->lim_active)
		mig_limits_end(&s->lim, apply_limit, s);
	s->lim_active = false;
	s->info.throttle_pct = 0;
	s->info.total_time_ms = (t_end - r->t_start) / 1000000u;
	if (rc == 0) {
		s->info.downtime_ms = (t_end - r->t_stop) / 1000000u;
		s->info.remaining = 0;
		end = MIG_STATUS_COMPLETED;
	} else if (rc == -ECANCELED || (atomic_load(&s->cancel) && !r->end_sent)) {
		end = MIG_STATUS_CANCELLED;
	} else {
		snprintf(s->info.error_desc, sizeof(s->info.error_desc), "%s", r->err);
		end = MIG_STATUS_FAILED;
	}
	pthread_mutex_unlock(&s->lock);
	set_dl_period(r, 0);
	/* Failed or cancelled: the guest runs on here. */
	if (rc && r->paused)
		r->ops->resume(r->o);
	pthread_mutex_lock(&s->lock);
	set_status_locked(s, end);
	pthread_mutex_unlock(&s->lock);
	mig_enc_free(&r->enc);
	if (r->have_dg)
		mig_digest_free(&r->dg);
	free(r->bitmap);
	free(r);
	return NULL;
}

/* ---- the object ---- */

void mig_src_init(struct mig_src *s, const struct mig_src_vm *vm)
{
	memset(s, 0, sizeof(*s));
	s->vm = *vm;
	s->to.connect_ms = MIG_SRC_CONNECT_MS;
	pthread_mutex_init(&s->lock, NULL);
	mig_params_default(&s->params);
	mig_conn_init(&s->conn);
	atomic_init(&s->cancel, false);
	if (getrandom(&s->audit_next, sizeof(s->audit_next), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(s->audit_next))
		s->audit_next = now_ns(); /* no entropy yet: any start will do */
}

static void join_finished(struct mig_src *s)
{
	bool join;

	pthread_mutex_lock(&s->lock);
	join = s->thread_running && mig_status_final(s->info.status);
	if (join)
		s->thread_running = false;
	pthread_mutex_unlock(&s->lock);
	if (join)
		pthread_join(s->thread, NULL);
}

void mig_src_destroy(struct mig_src *s)
{
	bool join;

	mig_src_cancel(s);
	pthread_mutex_lock(&s->lock);
	join = s->thread_running;
	s->thread_running = false;
	pthread_mutex_unlock(&s->lock);
	if (join)
		pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
}

int mig_src_start(struct mig_src *s, const char *uri, char *err, size_t errlen)
{
	struct mig_uri u;
	struct run *r;
	int rc;

	rc = mig_uri_parse(uri, false, &u, err, errlen);
	if (rc)
		return rc;
	join_finished(s);
	pthread_mutex_lock(&s->lock);
	if (s->thread_running) {
		pthread_mutex_unlock(&s->lock);
		snprintf(err, errlen, "There's a migration process in progress");
		return -EBUSY;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		pthread_mutex_unlock(&s->lock);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->s = s;
	r->ops = s->vm.ops;
	r->o = s->vm.opaque;
	r->t_start = s->t_start_ns = now_ns();
	s->uri = u;
	mig_conn_init(&s->conn);
	atomic_store(&s->cancel, false);
	memset(&s->info, 0, sizeof(s->info));
	s->info.total = s->vm.ram_size;
	s->info.dirty_limit = s->caps.dirty_limit;
	s->info.auto_converge = s->caps.auto_converge;
	set_status_locked(s, MIG_STATUS_SETUP);
	rc = -pthread_create(&s->thread, NULL, src_thread, r);
	if (rc) {
		s->info.status = MIG_STATUS_NONE;
		pthread_mutex_unlock(&s->lock);
		free(r);
		snprintf(err, errlen, "cannot start the migration thread: %s", strerror(-rc));
		return rc;
	}
	pthread_setname_np(s->thread, "migration");
	s->thread_running = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void mig_src_cancel(struct mig_src *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->thread_running && !mig_status_final(s->info.status)) {
		atomic_store(&s->cancel, true);
		mig_conn_cancel(&s->conn);
		set_status_locked(s, MIG_STATUS_CANCELLING);
	}
	pthread_mutex_unlock(&s->lock);
}

void mig_src_info(struct mig_src *s, struct mig_info *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->info;
	if (!mig_status_final(out->status))
		out->total_time_ms = (now_ns() - s->t_start_ns) / 1000000u;
	pthread_mutex_unlock(&s->lock);
}

bool mig_src_active(struct mig_src *s)
{
	bool a;

	pthread_mutex_lock(&s->lock);
	a = !mig_status_final(s->info.status);
	pthread_mutex_unlock(&s->lock);
	return a;
}

void mig_src_get_params(struct mig_src *s, struct mig_params *p, struct mig_caps *c)
{
	pthread_mutex_lock(&s->lock);
	if (p)
		*p = s->params;
	if (c)
		*c = s->caps;
	pthread_mutex_unlock(&s->lock);
}

int mig_src_set_caps(struct mig_src *s, const struct mig_caps *c)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (!mig_status_final(s->info.status))
		rc = -EBUSY;
	else
		s->caps = *c;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void mig_src_set_params(struct mig_src *s, const struct mig_params *p)
{
	pthread_mutex_lock(&s->lock);
	s->params = *p;
	s->params_changed = true;
	pthread_mutex_unlock(&s->lock);
}

bool mig_src_user_limit(struct mig_src *s, int vcpu, uint64_t pps)
{
	bool taken;

	pthread_mutex_lock(&s->lock);
	taken = s->lim_active;
	if (taken)
		for (unsigned i = 0; i < s->vm.ncpus; i++)
			if (vcpu < 0 || (unsigned)vcpu == i)
				mig_limits_set_user(&s->lim, i, pps, apply_limit, s);
	pthread_mutex_unlock(&s->lock);
	return taken;
}

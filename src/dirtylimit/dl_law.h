/* SPDX-License-Identifier: MIT */
/*
 * The dirty limiter's control laws, pure: one interface, several laws.
 *
 *   bucket  a token bucket per vCPU, charged at every harvest (ours, the
 *           default: dl_law_bucket.c)
 *   qemu    QEMU 8.1's law as merged: a sleep per ring-full, tuned once a
 *           period by the controller (dl_law_qemu.c)
 *   linear  the review's simplest feedback: the same sleep, a fixed step up
 *           or down each period, optionally an integral term (dl_law_linear.c)
 *   pct     the first version's per-vCPU percentage throttle with
 *           auto-converge-style sleeps (dl_law_pct.c)
 *
 * No KVM, no threads, no clocks: the caller passes every time in as
 * nanoseconds of one monotonic clock.  See docs/dirtylimit.md.
 *
 * Each law is a struct dl_law: what the vCPU thread calls after every
 * harvest (account: the sleep and the next slice) and, for the laws that a
 * controller tunes, what the controller thread calls once a period (tune).
 * dl_tune.h schedules the tuning; a fifth law is one new file, one line in
 * the table in dl_law.c and, if it keeps state of its own, a member in the
 * state unions of struct dl_vcpu below.
 *
 * Threading contract:
 *  - the vCPU side of struct dl_vcpu is owned by its vCPU thread; only that
 *    thread calls dl_vcpu_account().  O(1), allocates nothing, no lock.
 *  - dl_vcpu_set_limit() / dl_vcpu_get_limit() / dl_vcpu_set_law() may be
 *    called from any thread (one C11 atomic each); the vCPU thread applies
 *    them at its next dl_vcpu_account().
 *  - the controller side (ctl, written by a law's tune()) belongs to the
 *    thread that runs dl_tune_tick(); what it tells the vCPU goes through
 *    the atomics thr and sync_gen.
 *  - dl_vcpu_stats() may be called from any thread (relaxed atomics: each
 *    field is exact, the set is not one snapshot).
 */
#ifndef DL_LAW_H
#define DL_LAW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * KVM keeps this many entries of a dirty ring in reserve: a vCPU exits with
 * KVM_EXIT_DIRTY_RING_FULL once size - 64 entries are used (the soft limit;
 * hosts with Intel PML reserve 512 more).  The ring laws sleep once per that
 * many pages.
 */
#define DL_RING_RSVD_ENTRIES 64

/* Tuning of the laws.  dl_params_default() fills in the documented values. */
struct dl_params {
	/* Slice when no limit applies: the harvest tick, chosen by the
	 * caller so the ring never fills.  The ring laws and pct run it
	 * while limited too. */
	uint64_t tick_ns;
	/* Entries of the vCPU's dirty ring (the ring laws' unit of sleep). */
	uint32_t ring_entries;
	/* Longest single sleep returned; a longer penalty is paid in pieces,
	 * calling dl_vcpu_account() between them (see struct dl_action). */
	uint64_t max_sleep_ns;

	/* The bucket (dl_law_bucket.c). */
	/* Shortest slice worth asking for (timer + kick cost and jitter). */
	uint64_t min_slice_ns;
	/* Target time from one penalty to the next while limited: a slice
	 * aims to dirty limit * pace pages.  Smaller = smoother windows,
	 * more exits. */
	uint64_t pace_ns;
	/* Burst cap: the bucket holds at most limit * burst_ns of credit
	 * (and never less than DL_BURST_MIN_PAGES pages). */
	uint64_t burst_ns;
	/* Longest slice while a limit applies: what a vCPU that dirties
	 * nothing (a reader) gets, hence what a reader that starts writing
	 * dirties before its first penalty.  Never above tick_ns; 0 = tick. */
	uint64_t read_slice_ns;
	/* Speed estimate: a slower sample lets the estimate decay towards it
	 * with this half-life of run time (0: the default, 20 ms). */
	uint64_t rate_halflife_ns;
	/* The first design's estimator, kept only so that the simulator can
	 * show why it was dropped: if not 0, every slower sample moves the
	 * estimate 1/2^rate_down_shift of the way down, however short it is,
	 * and rate_halflife_ns is ignored.  0 in vmm. */
	unsigned int rate_down_shift;
};

/* What the vCPU thread does next. */
struct dl_action {
	/* Sleep this long first (0: don't).  At most params.max_sleep_ns. */
	uint64_t sleep_ns;
	/* Then run the guest for at most this long.  0 means: do not run;
	 * after the sleep call dl_vcpu_account() again (pages harvested
	 * meanwhile, ran_ns = 0) and follow the new action. */
	uint64_t slice_ns;
};

/* Counters for the stats stream and the benchmark. */
struct dl_stats {
	uint64_t limit_pps;	 /* applied limit, pages/s, 0 = none */
	uint64_t pages;		 /* pages accounted since init */
	uint64_t run_ns;	 /* guest run time accounted since init */
	uint64_t sleep_ns;	 /* total penalty slept (as requested) */
	uint64_t sleeps;	 /* number of penalties (runs of sleep pieces) */
	uint64_t max_penalty_ns; /* longest single penalty (pieces summed) */
	uint64_t penalty_ns;	 /* the latest penalty (pieces summed) */
	/* Bucket: estimated speed while running.  While limited, a slower
	 * sample first caps it at pace * limit / min_slice (every faster
	 * speed gets the minimum slice anyway), then decays it, never below
	 * the sample. */
	uint64_t rate_est_pps;
	/* Tuned laws: the controller's latest output for this vCPU (the
	 * sleep per ring-full in ns, or pct's percentage); 0 for the bucket. */
	uint64_t throttle;
	const char *law;	 /* the law asked for (dl_vcpu_set_law()) */
	const char *law_applied; /* the law the vCPU thread applies */
};

struct dl_law;
struct dl_vcpu;

/* A law and its options, as --dirty-limit-law NAME[:KEY=VALUE,...] gives them. */
struct dl_law_cfg {
	const struct dl_law *law;
	/* linear: gain of the integral term, thousandths of a ring-full
	 * time per 100% of error and period (0: none; "ki=1" is 1000). */
	uint32_t ki_milli;
	/* qemu, linear: a period's rate sample waits until no limited vCPU
	 * is asleep, and is divided by the nominal period, as QEMU's stats
	 * thread does (its ring flush kicks every vCPU synchronously). */
	bool sync_wait;
};

/* The controller's view, VM-wide, for tune() (controller thread only). */
struct dl_tune_ctx {
	const struct dl_law_cfg *cfg;
	uint64_t period_ns; /* tuning period in force */
	/* qemu, linear: the highest rate (MiB/s) any limited vCPU was seen
	 * at: QEMU's static max_dirtyrate, never reset. */
	uint64_t max_rate_mib;
};

/* One vCPU's sample for tune(). */
struct dl_tune_in {
	uint64_t limit_pps; /* the vCPU's limit (requested), 0 = none */
	uint64_t pages;	    /* harvested over the sample */
	uint64_t window_ns; /* what the law divides pages by */
	uint64_t now_ns;
	bool first; /* the limit has just appeared (0 -> set) */
	/* No sample was ever taken under this law: the sampler starts with
	 * this limit (QEMU's stats thread, the patches' rate thread). */
	bool unmeasured;
};

struct dl_law {
	const char *name;
	const char *summary; /* one line for --help and the docs */
	/* Default tuning period; 0: not tuned (tune is NULL). */
	uint64_t period_ns;
	/* Length of the rate sample if shorter than the period (pct measures
	 * 1 s of every 15); 0: the whole period. */
	uint64_t window_ns;
	/* tune() at once for a vCPU whose limit appears (pct's throttle
	 * thread starts with its own decision), else first after a period. */
	bool tune_at_set;
	/* Each tuning resets the count of pages towards the next ring-full:
	 * QEMU's per-period rate sample flushes every ring. */
	bool sample_reaps_rings;
	/* Option KEY=VALUE (NULL if the law takes none); 0 or -errno with a
	 * message in err. */
	int (*option)(struct dl_law_cfg *cfg, const char *key, const char *value, char *err,
		      size_t errlen);
	/* vCPU thread: the law (re)starts on this vCPU; forget its state. */
	void (*start)(struct dl_vcpu *v, uint64_t now_ns);
	/* vCPU thread: see dl_vcpu_account(); limit = the requested limit. */
	void (*account)(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns, uint64_t now_ns,
			uint64_t limit, struct dl_action *out);
	/* Controller thread, once a period, for every vCPU (limited or not). */
	void (*tune)(struct dl_vcpu *v, struct dl_tune_ctx *ctx, const struct dl_tune_in *in);
};

/* The laws, in the order --help lists them; [0] is the default. */
extern const struct dl_law *const dl_laws[];
extern const size_t dl_nlaws;
extern const struct dl_law dl_law_bucket, dl_law_qemu, dl_law_linear, dl_law_pct;

const struct dl_law *dl_law_find(const char *name);
/* "NAME[:KEY=VALUE[,KEY=VALUE...]]" into *cfg; 0 or -EINVAL with a message. */
int dl_law_parse(const char *spec, struct dl_law_cfg *cfg, char *err, size_t errlen);
/* The spec back ("linear:ki=1"); returns buf. */
const char *dl_law_format(const struct dl_law_cfg *cfg, char *buf, size_t len);
/* The tuning period of cfg: period_ns if not 0, else the law's default. */
uint64_t dl_law_period(const struct dl_law_cfg *cfg, uint64_t period_ns);

/* State of the bucket (dl_law_bucket.c), vCPU thread. */
struct dl_bucket_state {
	int64_t tokens;	     /* credit in nano-pages (1e-9 page) */
	int64_t burst;	     /* cap of tokens, nano-pages */
	uint64_t last_ns;    /* time tokens were last refilled */
	uint64_t rate;	     /* estimated speed while running, pages/s */
	uint64_t pend_pages; /* run not yet long enough for a sample */
	uint64_t pend_ns;
};

/* State of the tuned laws on the vCPU side (their actuators), vCPU thread. */
struct dl_tuned_vstate {
	uint64_t fill;	    /* ring laws: pages since the last (pseudo) ring-full */
	uint64_t run_acc;   /* pct: run time since the last timeslice's sleep */
	uint64_t owe_ns;    /* sleep still to serve, in pieces */
	uint64_t sync_seen; /* ring laws: the last sync_gen seen */
};

/* State of the tuned laws on the controller side, controller thread. */
struct dl_tuned_cstate {
	uint64_t rate_mib;   /* the last sample, as the law read it (MB/s) */
	int64_t throttle_us; /* qemu, linear: QEMU's throttle_us_per_full */
	uint32_t pct;	     /* pct: the percentage in force */
	bool on;	     /* pct: its throttle thread runs */
};

struct dl_vcpu {
	struct dl_params p;
	/* Written by any thread, read by the vCPU thread. */
	_Atomic uint64_t limit_req; /* pages/s, 0 = none */
	/* Index in dl_laws[] in the low byte, above it a count of the sets:
	 * setting a law, even the one in force, restarts it. */
	_Atomic unsigned law_req;

	/* vCPU-thread state. */
	const struct dl_law *law; /* applied */
	unsigned law_seen;	  /* the law_req it applies */
	uint64_t limit;		  /* applied limit, pages/s, 0 = none */
	bool sleeping;		  /* the last action was a sleep, no slice */
	union {
		struct dl_bucket_state b;
		struct dl_tuned_vstate t;
	} vs;

	/* Controller-thread state of the tuned laws. */
	struct dl_tuned_cstate cs;
	/* Controller -> vCPU: the law's output, tagged with the law's index
	 * in the top byte (a value meant for another law is ignored); and
	 * how long it holds (pct: to the end of its period). */
	_Atomic uint64_t thr;
	_Atomic uint64_t thr_until_ns;
	_Atomic uint64_t sync_gen; /* bumped by every sample that reaps the rings */
	/* vCPU -> controller: end of the penalty being served (sync_wait). */
	_Atomic uint64_t penalty_end_ns;

	/* Statistics: written by the vCPU thread only (relaxed). */
	_Atomic uint64_t st_pages, st_run_ns, st_sleep_ns, st_sleeps;
	_Atomic uint64_t st_max_penalty_ns, st_penalty_ns, st_rate;
	_Atomic uint64_t st_limit;
	_Atomic unsigned st_law; /* index of the law applied */
};

void dl_params_default(struct dl_params *p);
/* The bucket law until dl_vcpu_set_law() says otherwise. */
void dl_vcpu_init(struct dl_vcpu *v, const struct dl_params *p);

/* Any thread.  0 cancels the limit. */
void dl_vcpu_set_limit(struct dl_vcpu *v, uint64_t pages_per_s);
uint64_t dl_vcpu_get_limit(const struct dl_vcpu *v);
/*
 * Any thread, one at a time (vmm: the controller's lock).  Applied at the
 * vCPU's next dl_vcpu_account(), which restarts the law even if it is the
 * one in force: no debt, no credit, no count towards a ring-full.
 */
void dl_vcpu_set_law(struct dl_vcpu *v, const struct dl_law *law);
/* The law last asked for (any thread). */
const struct dl_law *dl_vcpu_get_law(const struct dl_vcpu *v);

/*
 * vCPU thread, at the end of every slice (a kick, a ring-full or halt exit;
 * exits that go straight back into the guest may be skipped, or accounted
 * too) and after every sleep piece, once its ring is harvested: pages =
 * pages newly dirtied since the previous call, ran_ns = time spent in
 * KVM_RUN since the previous call (0 after a sleep), now_ns = the current
 * time.  Fills *out.
 */
void dl_vcpu_account(struct dl_vcpu *v, uint64_t pages, uint64_t ran_ns, uint64_t now_ns,
		     struct dl_action *out);

void dl_vcpu_stats(const struct dl_vcpu *v, struct dl_stats *st);

/* For the laws (dl_law_*.c) only. */
#define DL_NS_PER_S 1000000000ull
unsigned dl_law_index(const struct dl_law *law);
/* Controller side: publish law's output for the vCPU thread. */
void dl_law_publish(struct dl_vcpu *v, const struct dl_law *law, uint64_t value, uint64_t until_ns);
/* vCPU side: the output meant for the applied law (0 if none yet). */
uint64_t dl_law_output(const struct dl_vcpu *v, uint64_t *until_ns);
/* vCPU side: serve owe_ns in pieces; fills *out, true if it did. */
bool dl_law_serve_debt(struct dl_vcpu *v, uint64_t slice_ns, struct dl_action *out);

#endif /* DL_LAW_H */

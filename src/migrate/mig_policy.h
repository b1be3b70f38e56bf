/* SPDX-License-Identifier: MIT */
/*
 * Convergence policies of a pre-copy migration: when to switch over, and
 * how to hold the guest back until then.  Pure: no KVM, no sockets, no
 * threads, no clocks (time comes in as nanoseconds).  docs/migration.md,
 * "Converging", explains every policy and constant.
 *
 * Policies (chosen from the capabilities and parameters, QEMU's names):
 *  - none:                 no capability: QEMU's switchover rule only;
 *  - auto-converge:        QEMU's CPU throttle, QEMU's trigger;
 *  - dirty-limit (fixed):  QEMU's semantics, when the user gave
 *                          vcpu-dirty-limit: the same trigger, then every
 *                          vCPU held at vcpu-dirty-limit;
 *  - dirty-limit (share):  ours, when no vcpu-dirty-limit was given: the
 *                          writing vCPUs together get a share of the
 *                          measured link, so that rounds shrink
 *                          geometrically down to a downtime aim.
 *
 * The migration driver (its own thread) owns one struct mig_policy per
 * migration, not shared with any other thread, and calls:
 *  - mig_policy_init() before the first pass, mig_policy_start() as it
 *    begins (QEMU's setup sync: the trigger's first period starts there);
 *  - mig_policy_sample() as often as it likes while sending (after every
 *    chunk): the policy measures the bandwidth over windows of at least
 *    100 ms of sending, as QEMU does, and may change the limits (at most
 *    once per window once engaged);
 *  - mig_policy_sync() at every dirty sync (the end of a round);
 * and after each call applies the decision: switch over if told to, set
 * the CPU throttle (mig_throttle_sleep_ns() turns it into each vCPU's
 * sleep), and, if limits_changed, every vCPU's dirty limit
 * mig_policy_limit() through struct mig_limits (mig_limits.h), which keeps
 * the user's own limits and restores them when the migration ends.
 */
#ifndef MIG_POLICY_H
#define MIG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_PAGE_SIZE 4096u
/* vCPUs a policy can hold: the stress kernel's and the command line's
 * maximum (STRESS_MAX_CPUS). */
#define MIG_MAX_VCPUS 256u

/*
 * Constants (docs/migration.md, "Converging", says why each has its value).
 */
/* QEMU's BUFFER_DELAY: the bandwidth is measured over windows of at least
 * this much sending. */
#define MIG_BW_WINDOW_NS 100000000ull
/* QEMU's trigger looks at the dirty ratio at most once per this period
 * (ram.c: a sync more than 1000 ms after the period began). */
#define MIG_TRIGGER_PERIOD_NS 1000000000ull
/* Ours: a vCPU dirtying at least this (1 MiB/s) is a writer; one that was
 * a writer stays one until it falls below the release rate. */
#define MIG_WRITER_MIN_PPS     256u
#define MIG_WRITER_RELEASE_PPS 64u
/* Ours: no writer is held below this (1 MiB/s, QEMU's lowest
 * vcpu-dirty-limit and the lowest our limiter holds to 0.5%). */
#define MIG_LIMIT_FLOOR_PPS 256u
/* Ours: a limited vCPU measured at this fraction (1/1000) of its limit or
 * above is held by it (it would dirty more). */
#define MIG_BOUND_PERMILLE 800u
/* Ours: rounds that shrink by less than this (a round above 9/10 of the
 * previous one) have stalled: switch over within downtime-limit. */
#define MIG_STALL_PERMILLE 900u
/* Ours: a limit moves only if the new one differs by more than this
 * (1/1000): each change kicks the vCPU and empties its bucket. */
#define MIG_LIMIT_DEADBAND_PERMILLE 20u
/* Ours: defaults of struct mig_share. */
#define MIG_SHARE_PERMILLE  250u
#define MIG_DOWNTIME_AIM_MS 50u
#define MIG_LAND_PERMILLE   800u

/* The migration parameters that converging uses: QEMU's names, units and
 * defaults (migration/options.c, qapi/migration.json). */
struct mig_params {
	uint64_t downtime_limit_ms;	     /* downtime-limit: 0..2000000, 300 */
	uint64_t max_bandwidth;		     /* max-bandwidth: bytes/s, 128 MiB/s */
	unsigned throttle_trigger_threshold; /* %: 1..100, 50 */
	unsigned cpu_throttle_initial;	     /* %: 1..99, 20 */
	unsigned cpu_throttle_increment;     /* %: 1..99, 10 */
	unsigned max_cpu_throttle;	     /* %: cpu-throttle-initial..99, 99 */
	bool cpu_throttle_tailslow;	     /* false */
	uint64_t vcpu_dirty_limit;	     /* MB/s (2^20 bytes): >= 1, 1 */
	/* The user gave vcpu-dirty-limit (query-migrate-parameters shows the
	 * default 1 either way): selects QEMU's fixed dirty-limit over ours. */
	bool vcpu_dirty_limit_set;
	/* x-vcpu-dirty-limit-period, ms: 1..1000, 1000.  QEMU computes each
	 * vCPU's dirty rate over this period; here it is the window over which
	 * the driver measures the per-vCPU rates it passes in. */
	uint64_t x_vcpu_dirty_limit_period_ms;
	/* x-io-timeout, ms: MIG_IO_TIMEOUT_MIN_MS..MAX, 10000 (ours; QEMU
	 * has no such parameter).  Both sides: no progress on the migration
	 * socket for this long and the peer is taken for stalled or gone. */
	uint64_t x_io_timeout_ms;
	/* x-digest-audit, bytes (ours): how much of the memory the dirty
	 * tracker calls clean the source re-hashes at switchover and checks
	 * against its digest table; any value >= guest RAM: all of it. */
	uint64_t x_digest_audit;
};

/*
 * x-io-timeout.  The default, 10 s: a live link, however slow, moves bytes
 * continuously, and the longest silence of a healthy migration is the
 * switchover (pausing, the state, the digest: 0.84 s measured on an 8 GiB
 * guest), or a destination populating RAM before it accepts (4 s for
 * 8 GiB).  The floor, 100 ms: below a scheduling hiccup of this loaded
 * 2-core host under a sanitizer, a healthy migration would fail.  The
 * ceiling, an hour: a peer silent longer is gone, whatever the link.
 */
#define MIG_IO_TIMEOUT_DEFAULT_MS 10000ull
#define MIG_IO_TIMEOUT_MIN_MS	  100ull
#define MIG_IO_TIMEOUT_MAX_MS	  3600000ull

/*
 * x-digest-audit.  The END digest comes from a table kept up to date as
 * pages are sent, so it proves the copy only as far as the dirty tracker
 * reported every write.  At switchover the source re-hashes this many
 * bytes of memory the tracker calls clean (a window that moves on at every
 * migration) and fails the migration on any difference.  16 MiB of
 * populated memory hashes in about 2.5 ms here (untouched memory in the
 * window is judged from the pagemap, unread), a small share of a downtime
 * of tens of ms; a value of at least the guest's RAM re-hashes everything (the full proof, ~0.15 s
 * per populated GiB inside the downtime: the test suite and the soak use
 * it); 0 turns the audit off.
 */
#define MIG_DIGEST_AUDIT_DEFAULT_BYTES (16ull << 20)

/* The capabilities that converging uses (migrate-set-capabilities). */
struct mig_caps {
	bool auto_converge;
	bool dirty_limit;
};

void mig_params_default(struct mig_params *p);

/*
 * Checks every parameter's range as QEMU's migrate_params_check() does
 * (p holds the parameters as they would be after the change).  Returns 0,
 * or -EINVAL with QEMU's message in err: "Parameter 'x' expects ...".
 */
int mig_params_check(const struct mig_params *p, char *err, size_t errlen);

/* Returns 0, or -EINVAL if the capabilities cannot be combined. */
int mig_caps_check(const struct mig_caps *c, char *err, size_t errlen);

enum mig_policy_kind {
	MIG_POLICY_NONE,
	MIG_POLICY_AUTO_CONVERGE,
	MIG_POLICY_DIRTY_LIMIT_FIXED, /* QEMU's: vcpu-dirty-limit on all vCPUs */
	MIG_POLICY_DIRTY_LIMIT_SHARE, /* ours: the share law */
};

enum mig_policy_kind mig_policy_kind_of(const struct mig_caps *c, const struct mig_params *p);
const char *mig_policy_name(enum mig_policy_kind k);

/*
 * The share law's tuning (ours only).  mig_share_default() fills in the
 * documented values; vmm keeps them, the simulator varies them.
 */
struct mig_share {
	/* Share of the measured link that the writing vCPUs may dirty
	 * together, in 1/1000: each round is then at most this share of the
	 * previous one. */
	unsigned share_permille;
	/* Downtime aimed at, ms (never above downtime-limit): the law switches
	 * over once the rest fits in this, not in downtime-limit. */
	uint64_t aim_ms;
	/* In the last rounds the share rises to what lands the next round on
	 * this fraction (1/1000) of the aim's threshold, not beyond. */
	unsigned land_permille;
};

void mig_share_default(struct mig_share *s);

/* What the driver observed since its previous call (sample or sync). */
struct mig_obs {
	uint64_t now_ns;     /* any monotonic clock, the same in every call */
	uint64_t sent_bytes; /* bytes put on the wire since the previous call */
	uint64_t sent_ns;    /* time spent sending them (exclude idle time) */
	/* Distinct pages dirtied since the last sync, in bytes (at a sync:
	 * during the round just ended).  A page dirtied while still to be sent
	 * in this round does not count: it goes out with its new content. */
	uint64_t dirty_bytes;
	uint64_t remaining_bytes; /* still to send, in bytes of guest pages (at a
				   * sync: after it, i.e. the next round) */
	/* Each vCPU's dirty rate as the controller measures it, pages/s, over
	 * the last x-vcpu-dirty-limit-period; NULL = unknown (no limits). */
	const uint64_t *vcpu_pps;
	unsigned nvcpus; /* entries in vcpu_pps */
};

/* Something the driver should tell the user (query-migrate, vmmctl). */
enum mig_note {
	MIG_NOTE_NONE,
	/* The link is too slow for the share: the writers are held at the
	 * floor (MIG_LIMIT_FLOOR_PPS), rounds shrink more slowly. */
	MIG_NOTE_FLOOR,
	/* Even at the floor the guest dirties at least as fast as the link
	 * moves: rounds cannot shrink.  The migration goes on (QEMU's
	 * behaviour) until cancelled or until downtime-limit is raised. */
	MIG_NOTE_NO_CONVERGENCE,
};

const char *mig_note_text(enum mig_note n);

struct mig_decision {
	bool switchover;	       /* stop the guest and send the rest now */
	uint64_t bandwidth;	       /* bytes/s of the latest window, 0 = none yet */
	uint64_t threshold_bytes;      /* a sync's remaining within this switches over */
	uint64_t expected_downtime_ms; /* remaining at the last sync / bandwidth */
	unsigned throttle_pct;	       /* auto-converge: CPU throttle, 0 = none */
	bool limits_changed;	       /* mig_policy_limit() changed: apply it */
	enum mig_note note;
};

/* The policy's state: owned by the migration thread.  Read it through the
 * functions below; the fields are not an interface. */
struct mig_policy {
	enum mig_policy_kind kind;
	struct mig_params prm;
	struct mig_share sh;
	unsigned nvcpus;
	/* Bandwidth: the window being filled, and the latest closed one. */
	uint64_t win_bytes, win_ns;
	uint64_t bw;
	/* QEMU's trigger: the period (>= 1 s) and its count of high ratios. */
	uint64_t period_start_ns, period_sent, period_dirty;
	unsigned high_count;
	/* Rounds. */
	uint64_t syncs;
	uint64_t round_bytes;	   /* remaining at the last sync (or the start) */
	uint64_t prev_round_bytes; /* the one before */
	uint64_t last_sync_remaining;
	bool synced;
	/* What is in force. */
	unsigned throttle_pct;
	bool limiting;
	enum mig_note note;
	uint64_t expected_downtime_ms;
	uint64_t limit_pps[MIG_MAX_VCPUS]; /* 0 = none */
	bool writer[MIG_MAX_VCPUS];
	/* The lowest limit in force over the last rate window (a raised limit
	 * counts from when the window no longer holds the old one). */
	uint64_t ref_pps[MIG_MAX_VCPUS];
	uint64_t ref_until_ns[MIG_MAX_VCPUS];
};

/*
 * Returns 0, or -EINVAL (nvcpus 0 or above MIG_MAX_VCPUS; the parameters and
 * capabilities are checked by the caller).  share may be NULL (defaults).
 * total_bytes: guest RAM, the size of the first pass.
 */
int mig_policy_init(struct mig_policy *p, const struct mig_caps *caps, const struct mig_params *prm,
		    const struct mig_share *share, unsigned nvcpus, uint64_t total_bytes);

/* The first pass begins at now_ns. */
void mig_policy_start(struct mig_policy *p, uint64_t now_ns);

/* migrate-set-parameters during the migration: applies from the next call
 * (the policy kind stays what it was at the start, as in QEMU). */
void mig_policy_set_params(struct mig_policy *p, const struct mig_params *prm);

/* While sending.  Fills *d (switchover is always false here). */
void mig_policy_sample(struct mig_policy *p, const struct mig_obs *o, struct mig_decision *d);

/* At a dirty sync.  Fills *d. */
void mig_policy_sync(struct mig_policy *p, const struct mig_obs *o, struct mig_decision *d);

/* vCPU i's migration dirty limit, pages/s, 0 = none; all of them (nvcpus
 * entries, for mig_limits_set_mig()). */
uint64_t mig_policy_limit(const struct mig_policy *p, unsigned i);
const uint64_t *mig_policy_limits(const struct mig_policy *p);

/* The kind in force. */
enum mig_policy_kind mig_policy_kind(const struct mig_policy *p);

/*
 * QEMU's CPU throttle (cpu-throttle.c): at pct %, every vCPU sleeps
 * pct / (100 - pct) x 10 ms after each 10 ms it runs, so it runs
 * (100 - pct) % of the time.  pct is clamped to 1..99 as cpu_throttle_set()
 * does; 0 means no throttle (0 ns).
 */
#define MIG_THROTTLE_SLICE_NS 10000000ull
uint64_t mig_throttle_sleep_ns(unsigned pct);

/*
 * Water-filling (exported for its unit test): share `budget` pages/s among
 * n writers so that sum(min(demand[i], level)) == budget, where a demand of
 * UINT64_MAX means unknown (the vCPU is held at its limit and wants more).
 * If every demand is known and they fit, the level leaves the slack to
 * whichever vCPU speeds up first: level = max demand + (budget - sum).
 * Returns the level, pages/s (0 if n is 0).
 */
uint64_t mig_policy_level(uint64_t budget, const uint64_t *demand, unsigned n);

#endif /* MIG_POLICY_H */

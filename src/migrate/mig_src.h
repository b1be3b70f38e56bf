/* SPDX-License-Identifier: MIT */
/*
 * mig_src: the source side of a live migration, on its own thread.
 *
 * QMP `migrate` calls mig_src_start(), which checks the URI and starts the
 * migration thread and returns: the thread connects, sends every page (the
 * first pass), then rounds of the pages the dirty tracker reported since
 * the last round, until the convergence policy (mig_policy.h) says the
 * rest fits in the downtime; then it pauses the VM (a migration pause
 * reason), sends the rest, the vCPU and device state and the digest of
 * guest RAM, and waits for the destination's acknowledgement.  Success
 * leaves the VM paused (QEMU's postmigrate); any failure or a cancel
 * resumes it and releases every limit and throttle the migration set.
 *
 * The thread knows no KVM: it reaches the VM through struct mig_src_ops
 * (src/vmm/vm_migrate.c).  Progress is read with mig_src_info() from any
 * thread (QMP's query-migrate); status changes and passes are told through
 * ops->status and ops->pass (QMP's MIGRATION and MIGRATION_PASS events).
 */
#ifndef MIG_SRC_H
#define MIG_SRC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "migrate/mig_conn.h"
#include "migrate/mig_limits.h"
#include "migrate/mig_policy.h"
#include "migrate/mig_stream.h"

/* QEMU's MigrationStatus values that vmm uses, with QEMU's names. */
enum mig_status {
	MIG_STATUS_NONE,
	MIG_STATUS_SETUP,
	MIG_STATUS_CANCELLING,
	MIG_STATUS_CANCELLED,
	MIG_STATUS_ACTIVE,
	MIG_STATUS_DEVICE, /* the final copy: the guest is stopped */
	MIG_STATUS_COMPLETED,
	MIG_STATUS_FAILED,
};

const char *mig_status_name(enum mig_status s);
/* A status no migration thread runs in any more. */
bool mig_status_final(enum mig_status s);

/* One state section to send (vCPU or device state, vm_state.h). */
struct mig_sec {
	uint32_t id, instance, version, len;
	const uint8_t *data;
};

/* How the migration thread reaches the VM.  Every hook runs on that thread. */
struct mig_src_ops {
	/* Pause for the final copy: every vCPU parked, every ring harvested. */
	int (*pause)(void *o, char *err, size_t errlen);
	/* Withdraw the migration's pause reason (a failed final copy). */
	void (*resume)(void *o);
	/* Take and clear the dirty bitmap of guest RAM (words of 64 pages). */
	uint64_t (*take_dirty)(void *o, uint64_t *bitmap, size_t words);
	/* Pages dirtied since the last take, without taking them. */
	uint64_t (*count_dirty)(void *o);
	/* Ask once what KVM can save (outside the downtime). */
	int (*prepare_state)(void *o, char *err, size_t errlen);
	/* Save every section (VM paused); valid until release_state(). */
	int (*save_state)(void *o, const struct mig_sec **secs, unsigned *n, char *err,
			  size_t errlen);
	void (*release_state)(void *o);
	/* Each vCPU's dirty rate, pages/s, over period_ms. */
	void (*vcpu_rates)(void *o, uint64_t *pps, unsigned n, uint64_t period_ms);
	/* The user's limits now in force (pages/s, 0 = none). */
	void (*user_limits)(void *o, uint64_t *pps, unsigned n);
	/* Set vCPU i's effective dirty limit (pages/s, 0 = none). */
	void (*set_limit)(void *o, unsigned vcpu, uint64_t pps);
	/* auto-converge: every vCPU sleeps this share of its time (0 = none). */
	void (*set_throttle)(void *o, unsigned pct);
	/* dirty-limit capability: the limiter's tuning period, ms, from the
	 * start of the migration (x-vcpu-dirty-limit-period, again when it
	 * changes) to its end (0: the VM's own period again).  May be NULL. */
	void (*limit_period)(void *o, uint64_t period_ms);
	/* Time the vCPUs spent held by the dirty limiter, us in all (QEMU's figures). */
	uint64_t (*limit_sleep_us)(void *o);
	/* The status changed (MIGRATION event); a pass began (MIGRATION_PASS). */
	void (*status)(void *o, enum mig_status st);
	void (*pass)(void *o, uint64_t pass);
};

/* What the source needs to know of the VM. */
struct mig_src_vm {
	const struct mig_src_ops *ops;
	void *opaque;
	uint8_t *ram;
	uint64_t ram_size;
	unsigned ncpus;
	struct mig_config cfg; /* what CONFIG says (the VM's shape) */
};

/* query-migrate's figures (QEMU's MigrationInfo), a snapshot. */
struct mig_info {
	enum mig_status status;
	uint64_t total_time_ms;		   /* since the start (to the end when done) */
	uint64_t setup_time_ms;		   /* connecting, the first sync */
	uint64_t expected_downtime_ms;	   /* while active */
	uint64_t downtime_ms;		   /* once completed: the guest stopped */
	unsigned throttle_pct;		   /* auto-converge */
	bool dirty_limit;		   /* the dirty-limit capability is on: its figures apply */
	bool auto_converge;		   /* the auto-converge capability is on */
	bool incoming;			   /* these are a destination's figures */
	uint64_t dl_throttle_us_per_round; /* dirty-limit-throttle-time-per-round */
	uint64_t dl_ring_full_us;	   /* dirty-limit-ring-full-time */
	/* ram */
	uint64_t transferred, remaining, total, duplicate, normal, normal_bytes;
	uint64_t dirty_pages_rate; /* pages/s over the last round */
	double mbps;		   /* megabits/s over the last window */
	uint64_t dirty_sync_count;
	uint64_t pages_per_second;
	uint64_t precopy_bytes, downtime_bytes;
	enum mig_note note;
	char error_desc[512];
};

/* How long to wait at most for the connection (the I/O deadline is the
 * x-io-timeout parameter, struct mig_params). */
struct mig_src_timeouts {
	unsigned connect_ms; /* the destination must accept within this */
};

/*
 * The source: parameters and capabilities persist from one migration to
 * the next (migrate-set-parameters, migrate-set-capabilities); one
 * migration runs at a time.  Owned by the glue (vm_migrate.c).
 */
struct mig_src {
	struct mig_src_vm vm;
	struct mig_src_timeouts to;

	pthread_mutex_t lock; /* everything below but the thread's own state */
	struct mig_params params;
	struct mig_caps caps;
	bool params_changed;   /* set-parameters during a migration: the thread applies them */
	struct mig_limits lim; /* while a migration runs: the user's and the migration's */
	bool lim_active;
	struct mig_info info;
	uint64_t t_start_ns; /* of the migration under way or last run */
	bool thread_running; /* a thread exists (joinable) */
	pthread_t thread;
	struct mig_uri uri;
	struct mig_conn conn;
	/* Under lock: the PSK channel's credentials for the next migration; NULL: plain TCP. */
	const struct mig_tls_creds *tls;
	_Atomic bool cancel;
	/*
	 * Where the next digest audit window starts, in bytes of guest RAM
	 * (taken modulo its size).  Random at init: each hop of a VM is a new
	 * process, and a window that always began at 0 would audit the same
	 * memory at every hop.  Owned by the migration thread (one at a time:
	 * each is joined before the next starts).
	 */
	uint64_t audit_next;
};

void mig_src_init(struct mig_src *s, const struct mig_src_vm *vm);
/* Join a finished thread, cancel a running one and wait for it. */
void mig_src_destroy(struct mig_src *s);

/*
 * QMP migrate: start a migration to uri (tcp:HOST:PORT).  Returns 0 (the
 * thread runs), or -EBUSY / -EINVAL with QEMU-like words in err.
 */
int mig_src_start(struct mig_src *s, const char *uri, char *err, size_t errlen);
/* QMP migrate_cancel: no-op without a migration under way. */
void mig_src_cancel(struct mig_src *s);
/* query-migrate: a snapshot. */
void mig_src_info(struct mig_src *s, struct mig_info *out);
/* A migration is under way (setup .. device, or cancelling). */
bool mig_src_active(struct mig_src *s);

/* Parameters and capabilities (the caller has checked them). */
void mig_src_get_params(struct mig_src *s, struct mig_params *p, struct mig_caps *c);
/* -EBUSY while a migration runs (QEMU refuses capabilities then). */
int mig_src_set_caps(struct mig_src *s, const struct mig_caps *c);
void mig_src_set_params(struct mig_src *s, const struct mig_params *p);

/*
 * The user's set-vcpu-dirty-limit / cancel (pps 0) for vCPU i (or every
 * vCPU with -1) while a migration holds limits: returns true if it was
 * taken here (the tighter of the two applies, the user's comes back at the
 * end); false: no migration holds limits, set it directly.
 */
bool mig_src_user_limit(struct mig_src *s, int vcpu, uint64_t pps);

#endif /* MIG_SRC_H */

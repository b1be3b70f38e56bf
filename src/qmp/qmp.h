/* SPDX-License-Identifier: MIT */
/*
 * The QMP control socket: a QEMU-compatible JSON protocol on a unix or TCP
 * socket, served by one thread with poll().  See docs/qmp.md.
 *
 * The server knows nothing of the VM: every command calls into a
 * struct qmp_backend, which the program implements (and the unit tests
 * fake).  Backend callbacks run on the QMP thread and must be quick: they
 * may take a lock briefly but never wait for a vCPU or for the guest.
 */
#ifndef QMP_H
#define QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "stress_abi.h"

/* As many vCPUs as the VM can have: every per-vCPU reply fits in one array. */
#define QMP_MAX_VCPUS STRESS_MAX_CPUS

/*
 * Room for an error message from a backend callback (the `err` arguments).
 * A sentence or two; longer messages are cut.
 */
#define QMP_ERR_MAX 256

/* One vCPU in query-cpus-fast. */
struct qmp_cpu_info {
	int cpu_index;
	int64_t thread_id; /* the vCPU thread's Linux TID */
};

/* One vCPU in query-dirty-rate (QEMU's DirtyRateVcpu). */
struct qmp_vcpu_rate {
	int id;		    /* cpu-index */
	int64_t dirty_rate; /* MiB/s */
};

enum qmp_dirty_rate_status {
	QMP_DIRTY_RATE_UNSTARTED,
	QMP_DIRTY_RATE_MEASURING,
	QMP_DIRTY_RATE_MEASURED,
};

/* The last calc-dirty-rate measurement (QEMU's DirtyRateInfo). */
struct qmp_dirty_rate {
	enum qmp_dirty_rate_status status;
	int64_t dirty_rate;   /* MiB/s, whole VM; reported only when MEASURED */
	int64_t start_time;   /* when the measurement started, seconds since the Epoch */
	int64_t calc_time_ms; /* the measurement's length as asked for */
	const char *mode;     /* static string; NULL means "dirty-ring" */
	int nr_vcpus;	      /* entries used in vcpu[], at most QMP_MAX_VCPUS */
	struct qmp_vcpu_rate vcpu[QMP_MAX_VCPUS];
};

/* One vCPU in x-query-guest-stats: what the stress kernel reports. */
struct qmp_guest_stats {
	int cpu_index;
	uint64_t pages_written;
	uint64_t bytes_read;
	uint64_t passes;
	uint64_t errors;
	uint64_t max_stall_us; /* the longest gap between two units of guest work */
};

/* One limited vCPU in query-vcpu-dirty-limit (QEMU's DirtyLimitInfo). */
struct qmp_dirty_limit {
	int cpu_index;
	uint64_t limit_rate;   /* MiB/s */
	uint64_t current_rate; /* MiB/s */
};

/* query-migrate (QEMU's MigrationInfo); status NULL: no migration ever ({}). */
struct qmp_migrate_info {
	const char *status; /* QEMU's MigrationStatus name */
	bool has_ram;	    /* the ram member (source, and a destination loading) */
	bool has_times;	    /* total-time, setup-time */
	bool has_expected_downtime, has_downtime, has_throttle, has_dirty_limit;
	uint64_t total_time_ms, setup_time_ms, expected_downtime_ms, downtime_ms;
	uint64_t cpu_throttle_percentage;
	uint64_t dl_throttle_time_per_round_us, dl_ring_full_time_us;
	uint64_t transferred, remaining, total, duplicate, normal, normal_bytes;
	uint64_t dirty_pages_rate, dirty_sync_count, pages_per_second;
	uint64_t precopy_bytes, downtime_bytes;
	double mbps;
	const char *error_desc; /* failed: why; NULL otherwise */
	const char *note;	/* ours (x-note): what the policy tells the user; NULL: none */
};

/* The migration parameters we take (QEMU's names and units; qmp_cmd_migrate.c). */
enum qmp_migrate_param {
	QMP_MP_MAX_BANDWIDTH,		   /* bytes/s */
	QMP_MP_DOWNTIME_LIMIT,		   /* ms */
	QMP_MP_THROTTLE_TRIGGER_THRESHOLD, /* % */
	QMP_MP_CPU_THROTTLE_INITIAL,	   /* % */
	QMP_MP_CPU_THROTTLE_INCREMENT,	   /* % */
	QMP_MP_CPU_THROTTLE_TAILSLOW,	   /* bool (0/1) */
	QMP_MP_MAX_CPU_THROTTLE,	   /* % */
	QMP_MP_X_VCPU_DIRTY_LIMIT_PERIOD,  /* ms */
	QMP_MP_VCPU_DIRTY_LIMIT,	   /* MB/s */
	QMP_MP_X_IO_TIMEOUT,		   /* ms (ours: the migration socket's deadline) */
	QMP_MP_X_DIGEST_AUDIT,		   /* bytes (ours: clean memory re-hashed at switchover) */
	QMP_MP_COUNT
};

/* The longest tls-creds (an object id) we keep. */
#define QMP_TLS_CREDS_MAX 64

struct qmp_migrate_params {
	bool has[QMP_MP_COUNT];
	uint64_t v[QMP_MP_COUNT];
	/* tls-creds: the id of a --object tls-creds-psk, "" for plain TCP (docs/security.md). */
	bool has_tls_creds;
	char tls_creds[QMP_TLS_CREDS_MAX + 1];
};

/* The capabilities we take (QEMU's names). */
enum qmp_migrate_cap {
	QMP_MC_AUTO_CONVERGE,
	QMP_MC_EVENTS,
	QMP_MC_DIRTY_LIMIT,
	QMP_MC_COUNT
};

struct qmp_migrate_caps {
	bool has[QMP_MC_COUNT];
	bool on[QMP_MC_COUNT];
};

/*
 * A backend callback's answer meaning "under way": the callback has
 * handed the work to another thread, which calls qmp_server_complete()
 * when it is done.  Only callbacks documented as such may answer it.
 */
#define QMP_IN_PROGRESS 1

/*
 * What the QMP commands call.  Every callback is optional: a NULL callback
 * makes its command(s) answer "The command X has been disabled for this
 * instance" and disappear from query-commands.
 *
 * Conventions: callbacks returning int return 0 (or a count) on success and
 * a negative errno on failure; on failure they may write a message for the
 * client into err (errlen is QMP_ERR_MAX), otherwise strerror() is used.
 * Arrays are filled up to max entries and the count is returned.
 *
 * To add a command: a callback here, a handler and one line in the table
 * of qmp_commands.c (see docs/qmp.md, "Adding a command").
 */
struct qmp_backend {
	void *opaque; /* passed to every callback */
	/* What query-name returns (--name); NULL: no name, query-name returns {}. */
	const char *name;

	/* query-status: "running", "paused", "shutdown", later "inmigrate", "postmigrate". */
	const char *(*status)(void *opaque, bool *running);
	/*
	 * stop: may answer QMP_IN_PROGRESS (stopping waits for every vCPU,
	 * which the QMP thread must never do) and finish later with
	 * qmp_server_complete().  The backend emits STOP itself, before it
	 * completes, when the state changes.
	 */
	int (*stop)(void *opaque, char *err, size_t errlen);
	/* cont: the backend emits RESUME itself when the state changes. */
	int (*cont)(void *opaque, char *err, size_t errlen);
	/*
	 * quit: emit SHUTDOWN {"guest": false, "reason": "host-qmp-quit"}
	 * (QEMU sends it before the reply), then ask the main thread to shut
	 * down (it calls qmp_server_stop(); never from inside this call).
	 */
	void (*quit)(void *opaque);
	/* query-cpus-fast, query-hotpluggable-cpus, the QOM paths of the vCPUs */
	int (*cpus)(void *opaque, struct qmp_cpu_info *out, int max);
	/*
	 * calc-dirty-rate: start a measurement of calc_time_ms (already checked
	 * to lie in [QMP_CALC_TIME_MIN_MS, QMP_CALC_TIME_MAX_MS]) and return at
	 * once.  mode is always "dirty-ring" today.  While one is running,
	 * QEMU answers "the dirty rate is already being measured.".
	 */
	int (*calc_dirty_rate)(void *opaque, uint64_t calc_time_ms, const char *mode, char *err,
			       size_t errlen);
	/* query-dirty-rate: *out is zeroed before the call. */
	int (*query_dirty_rate)(void *opaque, struct qmp_dirty_rate *out);
	/*
	 * x-query-guest-stats.  With reset_max_stall, after reading each vCPU,
	 * reset the guest's longest stall so that the next reading covers only
	 * the time since.
	 */
	int (*guest_stats)(void *opaque, struct qmp_guest_stats *out, int max,
			   bool reset_max_stall);
	/*
	 * set-vcpu-dirty-limit; cpu_index -1 means every vCPU, else it is in
	 * [0, INT_MAX]: refuse one that is not a vCPU with "incorrect cpu index
	 * specified" (QEMU's words).  mib_per_s is never 0 (that cancels).
	 */
	int (*set_dirty_limit)(void *opaque, int cpu_index, uint64_t mib_per_s, char *err,
			       size_t errlen);
	/* cancel-vcpu-dirty-limit (and set with 0); cpu_index as for set. */
	int (*cancel_dirty_limit)(void *opaque, int cpu_index, char *err, size_t errlen);
	/* query-vcpu-dirty-limit: only vCPUs that have a limit. */
	int (*query_dirty_limit)(void *opaque, struct qmp_dirty_limit *out, int max);

	/*
	 * Live migration (qmp_cmd_migrate.c, docs/migration.md).  migrate and
	 * migrate-incoming start a thread and return at once.
	 */
	int (*migrate)(void *opaque, const char *uri, char *err, size_t errlen);
	int (*migrate_incoming)(void *opaque, const char *uri, char *err, size_t errlen);
	void (*migrate_cancel)(void *opaque);
	/* *out is zeroed before the call. */
	void (*query_migrate)(void *opaque, struct qmp_migrate_info *out);
	/* Only the members with has[] set; the handler checked types. */
	int (*migrate_set_parameters)(void *opaque, const struct qmp_migrate_params *p, char *err,
				      size_t errlen);
	void (*query_migrate_parameters)(void *opaque, struct qmp_migrate_params *out);
	int (*migrate_set_capabilities)(void *opaque, const struct qmp_migrate_caps *c, char *err,
					size_t errlen);
	void (*query_migrate_capabilities)(void *opaque, struct qmp_migrate_caps *out);
	/*
	 * x-set-dirty-limit-law (ours): every vCPU to the law spec ("qemu",
	 * "linear:ki=1", ...; docs/dirtylimit.md), at once; period_ms is the
	 * tuning period, 0 for the law's own, -1 to keep the one in force.
	 * A bad spec: -EINVAL and a message.
	 */
	int (*set_dirty_limit_law)(void *opaque, const char *law, int64_t period_ms, char *err,
				   size_t errlen);
	/* x-query-dirty-limit-law (ours): the spec in force and its period (0: not tuned). */
	int (*query_dirty_limit_law)(void *opaque, char *law, size_t len, uint64_t *period_ms);
};

/* calc-dirty-rate's accepted length, as QEMU 8.2 (50 ms .. 60 s). */
#define QMP_CALC_TIME_MIN_MS 50
#define QMP_CALC_TIME_MAX_MS 60000

/*
 * The longest request (one JSON value) in bytes (QEMU: 64 MiB).  Our
 * largest command is well under 1 KiB; 64 KiB leaves room for hand-written
 * and generated JSON while bounding what one client can make us buffer.
 * A longer request gets QEMU's "JSON token size limit exceeded" at once;
 * the rest of it is skipped and the connection stays usable.
 */
#define QMP_MAX_REQUEST (64 * 1024)

/*
 * Requests of one client received and waiting for their turn (QEMU's
 * QMP_REQ_QUEUE_LEN_MAX).  Commands run one at a time in arrival order;
 * while one is under way (stop) the others wait here, and a client whose
 * queue is full is not read until it drains.
 */
#define QMP_REQ_QUEUE_MAX 8

/*
 * A client must finish capabilities negotiation this long after it
 * connects, or it is told so and disconnected: a client that connects and
 * says nothing must not hold one of the QMP_MAX_CLIENTS places.  Every
 * QEMU client negotiates within milliseconds.
 */
#define QMP_NEGOTIATE_TIMEOUT_MS 10000

/*
 * When every place is taken and another client connects, the client that
 * has sent nothing for longest gives up its place, if it has been silent
 * this long (and is not waiting for a reply).  A client that listens for
 * events for hours keeps its place as long as nobody else needs it.
 */
#define QMP_IDLE_EVICT_MS 30000

/*
 * Clients served at once.  A human, a test harness, a migration peer and a
 * monitoring script need a handful; more are refused with an error reply,
 * so a runaway script cannot exhaust file descriptors or memory.
 */
#define QMP_MAX_CLIENTS 8

/*
 * Replies and events waiting for one client to read them.  The largest
 * reply (x-query-guest-stats with 256 vCPUs and 20-digit counters) is
 * under 48 KiB, so this holds several; a client that sends commands and reads
 * nothing fills it within a few hundred commands and is disconnected
 * instead of making us buffer without bound.  Worst case for the whole
 * server: QMP_MAX_CLIENTS * (QMP_MAX_REQUEST + QMP_OUTBUF_MAX), 2.5 MiB, plus
 * the queued requests.
 */
#define QMP_OUTBUF_MAX (256 * 1024)

/*
 * Events queued between an emitter (any thread) and the QMP thread.  The
 * QMP thread drains the queue every time it wakes, so this only fills if
 * it is stuck; further events are dropped and counted.
 */
#define QMP_EVENT_QUEUE_MAX 256

struct qmp_server;

/* Limits a test may shorten; 0 keeps the default. */
struct qmp_server_opts {
	int negotiate_timeout_ms; /* QMP_NEGOTIATE_TIMEOUT_MS */
	int idle_evict_ms;	  /* QMP_IDLE_EVICT_MS */
};

/*
 * Open spec and listen, without serving yet (clients wait in the backlog
 * until qmp_server_run()):
 *   unix:PATH     a unix socket, created mode 0600, guarded by the lock
 *                 file PATH.lock (flock): while another vmm holds it, PATH
 *                 is refused and left alone; a socket file left by a vmm
 *                 that died is replaced; any other kind of file at PATH is
 *                 an error and is left alone.  qmp_server_stop() removes
 *                 both files.
 *   tcp:HOST:PORT a TCP socket (meant for loopback; there is no
 *                 authentication).  PORT 0 picks a free port, see
 *                 qmp_server_tcp_port().  HOST may be [IPv6].
 *   PATH          (containing a '/') same as unix:PATH.
 * be is copied (be->name too).  opts may be NULL.  Returns 0, or -errno
 * with a message in err.
 */
int qmp_server_open(const char *spec, const struct qmp_backend *be,
		    const struct qmp_server_opts *opts, struct qmp_server **out, char *err,
		    size_t errlen);

/* Start serving (the QMP thread).  Returns 0 or -errno with a message. */
int qmp_server_run(struct qmp_server *srv, char *err, size_t errlen);

/* qmp_server_open() with default limits, then qmp_server_run(). */
int qmp_server_start(const char *spec, const struct qmp_backend *be, struct qmp_server **out,
		     char *err, size_t errlen);

/*
 * Send event name with data (consumed; NULL for none) to every client in
 * command mode.  Thread-safe, never blocks for long (it takes a mutex for a
 * list append), callable from a backend callback.  A NULL server is fine
 * (the event is dropped).  Must not race with qmp_server_stop().
 * Returns 0, or -ENOMEM / -ENOSPC (queue full: dropped).
 */
int qmp_server_emit_event(struct qmp_server *srv, const char *name, json_object *data);

/*
 * The command that a backend callback answered with QMP_IN_PROGRESS is
 * done: r is 0 or a negative errno, err its message (NULL or empty:
 * strerror()).  Any thread; events emitted before this call reach the
 * clients before the reply, as in QEMU.
 */
void qmp_server_complete(struct qmp_server *srv, int r, const char *err);

/*
 * Stop the thread: deliver queued events, give clients a moment
 * (QMP_STOP_FLUSH_MS) to read what is pending, close every connection,
 * remove the unix socket and lock files, free srv.  Also after
 * qmp_server_open() without qmp_server_run().  NULL is fine.
 */
void qmp_server_stop(struct qmp_server *srv);

/* The TCP port actually bound (useful with tcp:HOST:0), or -1 for a unix socket. */
int qmp_server_tcp_port(const struct qmp_server *srv);

/* Events dropped because the queue was full (for diagnostics and tests). */
uint64_t qmp_server_dropped_events(struct qmp_server *srv);

#endif /* QMP_H */

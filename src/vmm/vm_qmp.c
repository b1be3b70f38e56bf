/* SPDX-License-Identifier: MIT */
#include "vmm/vm_qmp.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirtylimit/dl_ctrl.h"
#include "qmp/qmp.h"
#include "vmm/vm.h"
#include "vmm/vm_migrate.h"

struct vm_qmp {
	struct vm *vm;
	struct dl_ctrl *ctl;
	struct vm_migrate *mig; /* NULL: no migration commands */
	struct qmp_server *srv;
	bool running;		    /* vm_qmp_run() succeeded */
	_Atomic bool shutdown_sent; /* quit sent SHUTDOWN: not again at the end */

	/*
	 * The worker: stop waits for every vCPU to park, which the QMP
	 * thread must never do, so it happens here and the reply follows
	 * through qmp_server_complete().
	 */
	pthread_t worker;
	bool worker_started;
	pthread_mutex_t lock; /* protects what follows */
	pthread_cond_t cond;
	bool stop_req;	  /* a stop to carry out */
	bool worker_exit; /* the worker is to end */
};

static const char *be_status(void *o, bool *running)
{
	struct vm_qmp *q = o;

	const char *mig = q->mig ? vm_migrate_runstate(q->mig) : NULL;

	if (atomic_load(&q->vm->stopping)) {
		*running = false;
		return "shutdown";
	}
	if (mig) {
		*running = false;
		return mig;
	}
	*running = !vm_is_paused(q->vm);
	return *running ? "running" : "paused";
}

/* Carry out stop requests: vm_pause() waits for the vCPUs (and emits STOP). */
static void *worker_thread(void *arg)
{
	struct vm_qmp *q = arg;
	char err[QMP_ERR_MAX];
	int r;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->stop_req && !q->worker_exit)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->worker_exit)
			break;
		q->stop_req = false;
		pthread_mutex_unlock(&q->lock);
		err[0] = '\0';
		r = vm_pause(q->vm, RUNSTATE_USER);
		if (r == -ETIMEDOUT)
			snprintf(err, sizeof(err),
				 "the vCPUs did not stop within 5 s; the VM keeps running");
		else if (r == -ECANCELED)
			snprintf(err, sizeof(err), "the stop was undone before it completed");
		else if (r < 0)
			snprintf(err, sizeof(err), "the VM is shutting down");
		qmp_server_complete(q->srv, r, err);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static int be_stop(void *o, char *err, size_t errlen)
{
	struct vm_qmp *q = o;

	(void)err;
	(void)errlen;
	/* Stopped already (by anyone): add the user's reason, no wait, no event (as QEMU). */
	if (vm_pause_join(q->vm, RUNSTATE_USER))
		return 0;
	pthread_mutex_lock(&q->lock);
	q->stop_req = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return QMP_IN_PROGRESS;
}

static int be_cont(void *o, char *err, size_t errlen)
{
	struct vm_qmp *q = o;

	const char *mig = q->mig ? vm_migrate_runstate(q->mig) : NULL;

	if (mig && !strcmp(mig, "postmigrate")) {
		snprintf(err, errlen,
			 "the guest was migrated and runs on the destination: quit this vmm");
		return -EINVAL;
	}
	/* A migration's own pause, if any, stays: the VM runs when it ends. */
	vm_resume(q->vm, RUNSTATE_USER);
	return 0;
}

static json_object *shutdown_data(bool guest, const char *reason)
{
	json_object *data = json_object_new_object();

	json_object_object_add(data, "guest", json_object_new_boolean(guest));
	json_object_object_add(data, "reason", json_object_new_string(reason));
	return data;
}

/* QEMU 7.2 sends SHUTDOWN before quit's reply: emit it now, the reply follows it. */
static void be_quit(void *o)
{
	struct vm_qmp *q = o;

	if (!atomic_exchange(&q->shutdown_sent, true))
		qmp_server_emit_event(q->srv, "SHUTDOWN",
				      shutdown_data(false, vm_stop_reason_name(VM_STOP_QMP_QUIT)));
	vm_request_stop(q->vm, 0, VM_STOP_QMP_QUIT, "quit by a QMP client");
}

static int be_cpus(void *o, struct qmp_cpu_info *out, int max)
{
	struct vm_qmp *q = o;
	int n = q->vm->ncpus < max ? q->vm->ncpus : max;

	for (int i = 0; i < n; i++) {
		out[i].cpu_index = i;
		out[i].thread_id = atomic_load(&q->vm->vcpus[i].tid);
	}
	return n;
}

static int be_calc(void *o, uint64_t ms, const char *mode, char *err, size_t errlen)
{
	struct vm_qmp *q = o;
	int r;

	(void)mode;
	r = dl_ctrl_calc_start(q->ctl, ms, err, errlen);
	/* QEMU's words (qmp.h), so that clients written for QEMU recognise it. */
	if (r == -EBUSY)
		snprintf(err, errlen, "the dirty rate is already being measured.");
	return r;
}

static int be_query_rate(void *o, struct qmp_dirty_rate *out)
{
	struct vm_qmp *q = o;
	static const enum qmp_dirty_rate_status st[] = {
	    [DL_CALC_UNSTARTED] = QMP_DIRTY_RATE_UNSTARTED,
	    [DL_CALC_MEASURING] = QMP_DIRTY_RATE_MEASURING,
	    [DL_CALC_MEASURED] = QMP_DIRTY_RATE_MEASURED,
	};
	struct dl_calc *k = malloc(sizeof(*k));

	if (!k)
		return -ENOMEM;
	dl_ctrl_calc_get(q->ctl, k);
	out->status = st[k->status];
	out->start_time = k->start_time;
	out->calc_time_ms = (int64_t)k->calc_ms;
	out->mode = "dirty-ring";
	out->dirty_rate = (int64_t)k->total_mib;
	out->nr_vcpus = k->status == DL_CALC_MEASURED ? q->vm->ncpus : 0;
	for (int i = 0; i < out->nr_vcpus && i < QMP_MAX_VCPUS; i++) {
		out->vcpu[i].id = i;
		out->vcpu[i].dirty_rate = (int64_t)k->vcpu_mib[i];
	}
	free(k);
	return 0;
}

static int be_guest_stats(void *o, struct qmp_guest_stats *out, int max, bool reset_max_stall)
{
	struct vm_qmp *q = o;
	int n = q->vm->ncpus < max ? q->vm->ncpus : max;

	for (int i = 0; i < n; i++) {
		struct stress_cpu_stats gs;

		if (vm_guest_stats(q->vm, i, &gs) < 0)
			memset(&gs, 0, sizeof(gs));
		/* Right after the read: a stall ending in between is lost, a short window. */
		else if (reset_max_stall)
			vm_guest_reset_stall(q->vm, i);
		out[i].cpu_index = i;
		out[i].pages_written = gs.pages_written;
		out[i].bytes_read = gs.bytes_read;
		out[i].passes = gs.passes;
		out[i].errors = gs.errors;
		out[i].max_stall_us = vm_guest_tsc_to_us(q->vm, gs.max_gap_tsc);
	}
	return n;
}

/* cpu is -1 (every vCPU) or >= 0; QEMU's words for one that is not a vCPU (qmp.h). */
static int check_cpu(struct vm_qmp *q, int cpu, char *err, size_t errlen)
{
	if (cpu < -1 || cpu >= q->vm->ncpus) {
		snprintf(err, errlen, "incorrect cpu index specified");
		return -EINVAL;
	}
	return 0;
}

/* A migration that holds limits keeps the user's aside (the tighter applies) and restores it. */
static void set_user_limit(struct vm_qmp *q, int cpu, uint64_t pps)
{
	if (!q->mig || !mig_src_user_limit(vm_migrate_src(q->mig), cpu, pps))
		vm_set_dirty_limit(q->vm, cpu, pps);
}

static int be_set_limit(void *o, int cpu, uint64_t mib, char *err, size_t errlen)
{
	struct vm_qmp *q = o;
	int r = check_cpu(q, cpu, err, errlen);

	if (r < 0)
		return r;
	/* QEMU: a dirty-rate of 0 is accepted; here it cancels the limit. */
	set_user_limit(q, cpu, dl_mib_to_pages(mib));
	return 0;
}

static int be_cancel_limit(void *o, int cpu, char *err, size_t errlen)
{
	struct vm_qmp *q = o;
	int r = check_cpu(q, cpu, err, errlen);

	if (r < 0)
		return r;
	set_user_limit(q, cpu, 0);
	return 0;
}

static int be_query_limit(void *o, struct qmp_dirty_limit *out, int max)
{
	struct vm_qmp *q = o;
	int n = 0;

	for (int i = 0; i < q->vm->ncpus && n < max; i++) {
		uint64_t lim = dl_vcpu_get_limit(&q->vm->vcpus[i].dl);

		if (!lim)
			continue;
		out[n].cpu_index = i;
		out[n].limit_rate = dl_pages_to_mib_floor(lim);
		out[n].current_rate =
		    (uint64_t)(dl_ctrl_rate_mib(q->ctl, i, DL_CTRL_RATE_WINDOW_NS) + 0.5);
		n++;
	}
	return n;
}

/* ---- migration ---- */

static int be_migrate(void *o, const char *uri, char *err, size_t errlen)
{
	struct vm_qmp *q = o;

	return vm_migrate_start(q->mig, uri, err, errlen);
}

static int be_migrate_incoming(void *o, const char *uri, char *err, size_t errlen)
{
	struct vm_qmp *q = o;

	return vm_migrate_incoming_uri(q->mig, uri, err, errlen);
}

static void be_migrate_cancel(void *o)
{
	struct vm_qmp *q = o;

	vm_migrate_cancel(q->mig);
}

static void be_query_migrate(void *o, struct qmp_migrate_info *out)
{
	struct vm_qmp *q = o;
	struct mig_info *i = malloc(sizeof(*i));
	/* Owned by the QMP thread (the only caller): strings live until the next call. */
	static char error_desc[sizeof(i->error_desc)];
	enum mig_status st;

	if (!i)
		return;
	vm_migrate_info(q->mig, i);
	st = i->status;
	if (st == MIG_STATUS_NONE) {
		free(i);
		return;
	}
	out->status = mig_status_name(st);
	if (st == MIG_STATUS_FAILED && i->error_desc[0]) {
		memcpy(error_desc, i->error_desc, sizeof(error_desc));
		out->error_desc = error_desc;
	}
	if (i->incoming) {
		free(i);
		return;
	}
	out->has_ram = out->has_times = true;
	out->total_time_ms = i->total_time_ms;
	out->setup_time_ms = i->setup_time_ms;
	out->has_expected_downtime = st == MIG_STATUS_ACTIVE || st == MIG_STATUS_DEVICE;
	out->expected_downtime_ms = i->expected_downtime_ms;
	out->has_downtime = st == MIG_STATUS_COMPLETED;
	out->downtime_ms = i->downtime_ms;
	out->has_throttle = i->auto_converge;
	out->cpu_throttle_percentage = i->throttle_pct;
	out->has_dirty_limit = i->dirty_limit && !mig_status_final(st);
	out->dl_throttle_time_per_round_us = i->dl_throttle_us_per_round;
	out->dl_ring_full_time_us = i->dl_ring_full_us;
	out->transferred = i->transferred;
	out->remaining = i->remaining;
	out->total = i->total;
	out->duplicate = i->duplicate;
	out->normal = i->normal;
	out->normal_bytes = i->normal_bytes;
	out->dirty_pages_rate = i->dirty_pages_rate;
	out->mbps = i->mbps;
	out->dirty_sync_count = i->dirty_sync_count;
	out->pages_per_second = i->pages_per_second;
	out->precopy_bytes = i->precopy_bytes;
	out->downtime_bytes = i->downtime_bytes;
	out->note = i->note != MIG_NOTE_NONE ? mig_note_text(i->note) : NULL;
	free(i);
}

/* Our parameters in QMP's order and units. */
static void params_to_qmp(const struct mig_params *p, struct qmp_migrate_params *out)
{
	for (int k = 0; k < QMP_MP_COUNT; k++)
		out->has[k] = true;
	out->v[QMP_MP_MAX_BANDWIDTH] = p->max_bandwidth;
	out->v[QMP_MP_DOWNTIME_LIMIT] = p->downtime_limit_ms;
	out->v[QMP_MP_THROTTLE_TRIGGER_THRESHOLD] = p->throttle_trigger_threshold;
	out->v[QMP_MP_CPU_THROTTLE_INITIAL] = p->cpu_throttle_initial;
	out->v[QMP_MP_CPU_THROTTLE_INCREMENT] = p->cpu_throttle_increment;
	out->v[QMP_MP_CPU_THROTTLE_TAILSLOW] = p->cpu_throttle_tailslow;
	out->v[QMP_MP_MAX_CPU_THROTTLE] = p->max_cpu_throttle;
	out->v[QMP_MP_X_VCPU_DIRTY_LIMIT_PERIOD] = p->x_vcpu_dirty_limit_period_ms;
	out->v[QMP_MP_VCPU_DIRTY_LIMIT] = p->vcpu_dirty_limit;
	out->v[QMP_MP_X_IO_TIMEOUT] = p->x_io_timeout_ms;
	out->v[QMP_MP_X_DIGEST_AUDIT] = p->x_digest_audit;
}

/* A percentage member must fit QEMU's uint8 before it is range-checked. */
#define PCT_MAX 255u

static int be_set_params(void *o, const struct qmp_migrate_params *in, char *err, size_t errlen)
{
	struct vm_qmp *q = o;
	struct mig_src *s = vm_migrate_src(q->mig);
	struct mig_params p;
	const uint64_t *v = in->v;

	mig_src_get_params(s, &p, NULL);
	if (in->has[QMP_MP_MAX_BANDWIDTH])
		p.max_bandwidth = v[QMP_MP_MAX_BANDWIDTH];
	if (in->has[QMP_MP_DOWNTIME_LIMIT])
		p.downtime_limit_ms = v[QMP_MP_DOWNTIME_LIMIT];
	if (in->has[QMP_MP_THROTTLE_TRIGGER_THRESHOLD])
		p.throttle_trigger_threshold =
		    (unsigned)(v[QMP_MP_THROTTLE_TRIGGER_THRESHOLD] > PCT_MAX
				   ? PCT_MAX
				   : v[QMP_MP_THROTTLE_TRIGGER_THRESHOLD]);
	if (in->has[QMP_MP_CPU_THROTTLE_INITIAL])
		p.cpu_throttle_initial = (unsigned)(v[QMP_MP_CPU_THROTTLE_INITIAL] > PCT_MAX
							? PCT_MAX
							: v[QMP_MP_CPU_THROTTLE_INITIAL]);
	if (in->has[QMP_MP_CPU_THROTTLE_INCREMENT])
		p.cpu_throttle_increment = (unsigned)(v[QMP_MP_CPU_THROTTLE_INCREMENT] > PCT_MAX
							  ? PCT_MAX
							  : v[QMP_MP_CPU_THROTTLE_INCREMENT]);
	if (in->has[QMP_MP_CPU_THROTTLE_TAILSLOW])
		p.cpu_throttle_tailslow = v[QMP_MP_CPU_THROTTLE_TAILSLOW] != 0;
	if (in->has[QMP_MP_MAX_CPU_THROTTLE])
		p.max_cpu_throttle =
		    (unsigned)(v[QMP_MP_MAX_CPU_THROTTLE] > PCT_MAX ? PCT_MAX
								    : v[QMP_MP_MAX_CPU_THROTTLE]);
	if (in->has[QMP_MP_X_VCPU_DIRTY_LIMIT_PERIOD])
		p.x_vcpu_dirty_limit_period_ms = v[QMP_MP_X_VCPU_DIRTY_LIMIT_PERIOD];
	if (in->has[QMP_MP_VCPU_DIRTY_LIMIT]) {
		p.vcpu_dirty_limit = v[QMP_MP_VCPU_DIRTY_LIMIT];
		p.vcpu_dirty_limit_set = true;
	}
	if (in->has[QMP_MP_X_IO_TIMEOUT])
		p.x_io_timeout_ms = v[QMP_MP_X_IO_TIMEOUT];
	if (in->has[QMP_MP_X_DIGEST_AUDIT])
		p.x_digest_audit = v[QMP_MP_X_DIGEST_AUDIT];
	if (mig_params_check(&p, err, errlen) < 0)
		return -EINVAL;
	if (in->has_tls_creds && vm_migrate_set_tls_creds(q->mig, in->tls_creds, err, errlen) < 0)
		return -EINVAL;
	mig_src_set_params(s, &p);
	/* The destination's side of the deadline, at once (even while it loads). */
	vm_migrate_set_io_timeout(q->mig, (unsigned)p.x_io_timeout_ms);
	return 0;
}

static void be_query_params(void *o, struct qmp_migrate_params *out)
{
	struct vm_qmp *q = o;
	struct mig_params p;

	mig_src_get_params(vm_migrate_src(q->mig), &p, NULL);
	params_to_qmp(&p, out);
	out->has_tls_creds = true;
	vm_migrate_tls_creds(q->mig, out->tls_creds, sizeof(out->tls_creds));
}

static int be_set_caps(void *o, const struct qmp_migrate_caps *in, char *err, size_t errlen)
{
	struct vm_qmp *q = o;
	struct mig_src *s = vm_migrate_src(q->mig);
	struct mig_caps c;

	mig_src_get_params(s, NULL, &c);
	if (in->has[QMP_MC_AUTO_CONVERGE])
		c.auto_converge = in->on[QMP_MC_AUTO_CONVERGE];
	if (in->has[QMP_MC_DIRTY_LIMIT])
		c.dirty_limit = in->on[QMP_MC_DIRTY_LIMIT];
	if (mig_caps_check(&c, err, errlen) < 0)
		return -EINVAL;
	if (mig_src_set_caps(s, &c) < 0) {
		snprintf(err, errlen, "There's a migration process in progress");
		return -EBUSY;
	}
	return 0;
}

static void be_query_caps(void *o, struct qmp_migrate_caps *out)
{
	struct vm_qmp *q = o;
	struct mig_caps c;

	mig_src_get_params(vm_migrate_src(q->mig), NULL, &c);
	out->on[QMP_MC_AUTO_CONVERGE] = c.auto_converge;
	out->on[QMP_MC_DIRTY_LIMIT] = c.dirty_limit;
	/* vmm always sends the MIGRATION events (docs/migration.md). */
	out->on[QMP_MC_EVENTS] = true;
}

static void on_mig_event(void *ctx, const char *event, json_object *data)
{
	struct vm_qmp *q = ctx;

	qmp_server_emit_event(q->srv, event, data);
}

static int be_set_law(void *o, const char *spec, int64_t period_ms, char *err, size_t errlen)
{
	struct vm_qmp *q = o;
	struct dl_law_cfg cfg;
	char msg[200];

	if (dl_law_parse(spec, &cfg, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s", msg);
		return -EINVAL;
	}
	dl_ctrl_set_law(q->ctl, &cfg, period_ms);
	return 0;
}

static int be_query_law(void *o, char *spec, size_t len, uint64_t *period_ms)
{
	struct vm_qmp *q = o;
	struct dl_law_cfg cfg;
	uint64_t ns;

	dl_ctrl_get_law(q->ctl, &cfg, &ns);
	dl_law_format(&cfg, spec, len);
	*period_ms = cfg.law->tune ? ns / 1000000ull : 0;
	return 0;
}

static void on_vm_event(void *opaque, const char *event, enum vm_stop_reason reason)
{
	struct vm_qmp *q = opaque;

	(void)reason;
	qmp_server_emit_event(q->srv, event, NULL);
}

int vm_qmp_open(struct vm_qmp **out, struct vm *vm, struct dl_ctrl *ctl, struct vm_migrate *mig,
		const struct cli_qmp_addr *addr, const char *name, char *err, size_t errlen)
{
	struct qmp_backend be = {
	    .name = name,
	    .status = be_status,
	    .stop = be_stop,
	    .cont = be_cont,
	    .quit = be_quit,
	    .cpus = be_cpus,
	    .calc_dirty_rate = be_calc,
	    .query_dirty_rate = be_query_rate,
	    .guest_stats = be_guest_stats,
	    .set_dirty_limit = be_set_limit,
	    .cancel_dirty_limit = be_cancel_limit,
	    .query_dirty_limit = be_query_limit,
	    .migrate = mig ? be_migrate : NULL,
	    .migrate_incoming = mig ? be_migrate_incoming : NULL,
	    .migrate_cancel = mig ? be_migrate_cancel : NULL,
	    .query_migrate = mig ? be_query_migrate : NULL,
	    .migrate_set_parameters = mig ? be_set_params : NULL,
	    .query_migrate_parameters = mig ? be_query_params : NULL,
	    .migrate_set_capabilities = mig ? be_set_caps : NULL,
	    .query_migrate_capabilities = mig ? be_query_caps : NULL,
	    .set_dirty_limit_law = be_set_law,
	    .query_dirty_limit_law = be_query_law,
	};
	struct vm_qmp *q = calloc(1, sizeof(*q));
	char spec[CLI_QMP_PATH_MAX + CLI_QMP_HOST_MAX + 16];
	int r;

	if (!q) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	q->vm = vm;
	q->ctl = ctl;
	q->mig = mig;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	be.opaque = q;
	if (addr->kind == CLI_QMP_UNIX)
		snprintf(spec, sizeof(spec), "unix:%s", addr->path);
	else if (strchr(addr->host, ':'))
		snprintf(spec, sizeof(spec), "tcp:[%s]:%u", addr->host, addr->port);
	else
		snprintf(spec, sizeof(spec), "tcp:%s:%u", addr->host, addr->port);
	r = qmp_server_open(spec, &be, NULL, &q->srv, err, errlen);
	if (r < 0) {
		pthread_cond_destroy(&q->cond);
		pthread_mutex_destroy(&q->lock);
		free(q);
		return r;
	}
	*out = q;
	return 0;
}

int vm_qmp_run(struct vm_qmp *q, char *err, size_t errlen)
{
	int r = -pthread_create(&q->worker, NULL, worker_thread, q);

	if (r < 0) {
		snprintf(err, errlen, "cannot start the QMP worker: %s", strerror(-r));
		return r;
	}
	pthread_setname_np(q->worker, "qmp-worker");
	q->worker_started = true;
	vm_set_event_fn(q->vm, on_vm_event, q);
	if (q->mig)
		vm_migrate_set_emit(q->mig, on_mig_event, q);
	r = qmp_server_run(q->srv, err, errlen);
	if (r < 0)
		return r;
	q->running = true;
	return 0;
}

void vm_qmp_stop(struct vm_qmp *q, struct vm *vm)
{
	enum vm_stop_reason r = vm->stop_reason;

	if (q->running && !atomic_exchange(&q->shutdown_sent, true))
		qmp_server_emit_event(
		    q->srv, "SHUTDOWN",
		    shutdown_data(r == VM_STOP_GUEST_POWEROFF || r == VM_STOP_GUEST_HALTED,
				  vm_stop_reason_name(r)));
	if (q->mig)
		vm_migrate_set_emit(q->mig, NULL, NULL);
	if (q->worker_started) {
		vm_set_event_fn(vm, NULL, NULL);
		/* Before the server goes: the worker may be about to complete a stop. */
		pthread_mutex_lock(&q->lock);
		q->worker_exit = true;
		pthread_cond_signal(&q->cond);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->worker, NULL);
	}
	qmp_server_stop(q->srv);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

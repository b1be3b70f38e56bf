// SPDX-License-Identifier: MIT
/* The VM's side of live migration: see vm_migrate.h. */
#include "vmm/vm_migrate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirtylimit/dl_ctrl.h"
#include "migrate/mig_phases.h"
#include "migrate/mig_tls.h"
#include "dirtylimit/dl_rate.h"
#include "vmm/ram_populate.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"
#include "vmm/vstate.h"

/* The RAM slot is the tracker's first (vm_create() adds it first). */
#define VM_MIGRATE_RAM_SLOT 0

struct vm_migrate {
	struct vm *vm;
	struct dl_ctrl *ctl;
	pthread_mutex_t lock; /* emit, the flags below */
	vm_migrate_emit_fn emit;
	void *emit_ctx;
	bool postmigrate; /* the source's migration completed: its guest went */
	bool ready;	  /* vm_migrate_ready(): the VM exists (main thread, before QMP serves) */
	bool exit_after;  /* --exit-after-migration */

	/* Source. */
	struct mig_src src;
	struct vm_state out_state; /* saved at the switchover, until sent */
	struct mig_sec *secs;

	/* Destination. */
	bool incoming;	       /* --incoming given */
	bool deferred;	       /* --incoming defer: waiting for migrate-incoming */
	bool incoming_started; /* the incoming thread runs (or ran) */
	bool incoming_over;    /* the guest runs: no longer inmigrate */
	struct mig_fault fault;
	struct mig_dst dst;
	struct vm_state in_state;     /* sections received, loaded at the end */
	struct ram_populate populate; /* faults guest RAM in before the pages arrive */

	/* The PSK channel (docs/security.md). */
	struct mig_tls_registry tls;	    /* --object: filled before QMP serves, then read-only */
	char tls_creds[MIG_TLS_ID_MAX + 1]; /* under lock: the tls-creds parameter, "" = plain */
};

static void emit(struct vm_migrate *m, const char *event, json_object *data)
{
	pthread_mutex_lock(&m->lock);
	if (m->emit)
		m->emit(m->emit_ctx, event, data);
	else
		json_object_put(data);
	pthread_mutex_unlock(&m->lock);
}

static void emit_status(struct vm_migrate *m, enum mig_status st)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, "status", json_object_new_string(mig_status_name(st)));
	emit(m, "MIGRATION", d);
}

/* The configuration a stream from (or to) this VM carries. */
static void local_config(struct vm *vm, struct mig_config *c)
{
	int khz = kvm_vcpu_tsc_khz(&vm->vcpus[0].kvm);

	*c = (struct mig_config){
	    .page_size = MIG_PAGE_SIZE,
	    .ncpus = (uint32_t)vm->ncpus,
	    .ram_size = vm->ram_size,
	    .ring_entries = vm->shape.ring_entries,
	    .tsc_khz = khz > 0 ? (uint32_t)khz : 0,
	    .stats_gpa = vm->stats_gpa,
	    .stats_size = vm->stats_size,
	    .digest_chunk = MIG_DIGEST_CHUNK_DEFAULT,
	};
}

/* ---- source hooks (the migration thread) ---- */

static int src_pause(void *o, char *err, size_t errlen)
{
	struct vm_migrate *m = o;
	int r = vm_pause(m->vm, RUNSTATE_MIGRATION);

	if (r == -ETIMEDOUT)
		snprintf(err, errlen, "the vCPUs did not stop within 5 s");
	else if (r < 0)
		snprintf(err, errlen, "the VM is shutting down");
	return r;
}

static void src_resume(void *o)
{
	struct vm_migrate *m = o;

	vm_resume(m->vm, RUNSTATE_MIGRATION);
}

static uint64_t src_take_dirty(void *o, uint64_t *bitmap, size_t words)
{
	struct vm_migrate *m = o;

	return dirty_take_bitmap(&m->vm->dirty, VM_MIGRATE_RAM_SLOT, bitmap, words);
}

static uint64_t src_count_dirty(void *o)
{
	struct vm_migrate *m = o;
	const struct dirty_slot *s = &m->vm->dirty.slots[VM_MIGRATE_RAM_SLOT];
	uint64_t n = 0;

	for (uint64_t w = 0; w < (s->npages + 63) / 64; w++)
		n += (uint64_t)__builtin_popcountll(
		    atomic_load_explicit(&s->bitmap[w], memory_order_relaxed));
	return n;
}

static int src_prepare(void *o, char *err, size_t errlen)
{
	struct vm_migrate *m = o;

	return vm_state_prepare(m->vm, err, errlen);
}

static int src_save(void *o, const struct mig_sec **secs, unsigned *n, char *err, size_t errlen)
{
	struct vm_migrate *m = o;
	int r;

	vm_state_init(&m->out_state);
	r = vm_state_save(m->vm, &m->out_state, err, errlen);
	if (r < 0)
		return r;
	m->secs = calloc(m->out_state.n ? m->out_state.n : 1, sizeof(*m->secs));
	if (!m->secs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->out_state.n; i++) {
		const struct vm_state_section *s = &m->out_state.sec[i];

		m->secs[i] = (struct mig_sec){s->id, s->instance, s->version, s->len, s->data};
	}
	*secs = m->secs;
	*n = (unsigned)m->out_state.n;
	return 0;
}

static void src_release(void *o)
{
	struct vm_migrate *m = o;

	vm_state_free(&m->out_state);
	free(m->secs);
	m->secs = NULL;
}

static void src_rates(void *o, uint64_t *pps, unsigned n, uint64_t period_ms)
{
	struct vm_migrate *m = o;

	for (unsigned i = 0; i < n; i++)
		pps[i] = (uint64_t)(dl_ctrl_rate_mib(m->ctl, (int)i, period_ms * 1000000ull) *
				    (double)dl_mib_to_pages(1));
}

static void src_user_limits(void *o, uint64_t *pps, unsigned n)
{
	struct vm_migrate *m = o;

	for (unsigned i = 0; i < n && (int)i < m->vm->ncpus; i++)
		pps[i] = dl_vcpu_get_limit(&m->vm->vcpus[i].dl);
}

static void src_set_limit(void *o, unsigned vcpu, uint64_t pps)
{
	struct vm_migrate *m = o;

	vm_set_dirty_limit(m->vm, (int)vcpu, pps);
}

static void src_set_throttle(void *o, unsigned pct)
{
	struct vm_migrate *m = o;

	vm_set_throttle(m->vm, pct);
}

static void src_limit_period(void *o, uint64_t period_ms)
{
	struct vm_migrate *m = o;

	dl_ctrl_set_mig_period(m->ctl, (unsigned)period_ms);
}

static uint64_t src_sleep_us(void *o)
{
	uint64_t per_round, ring_full;

	vm_migrate_dl_figures(o, &per_round, &ring_full);
	return ring_full;
}

static void src_status(void *o, enum mig_status st)
{
	struct vm_migrate *m = o;

	if (st == MIG_STATUS_COMPLETED) {
		pthread_mutex_lock(&m->lock);
		m->postmigrate = true;
		pthread_mutex_unlock(&m->lock);
	}
	emit_status(m, st);
	if (st == MIG_STATUS_COMPLETED && m->exit_after)
		vm_request_stop(m->vm, 0, VM_STOP_MIGRATED,
				"the guest was migrated (--exit-after-migration)");
}

static void src_pass(void *o, uint64_t pass)
{
	struct vm_migrate *m = o;
	json_object *d = json_object_new_object();

	json_object_object_add(d, "pass", json_object_new_int64((int64_t)pass));
	emit(m, "MIGRATION_PASS", d);
}

static const struct mig_src_ops src_ops = {
    .pause = src_pause,
    .resume = src_resume,
    .take_dirty = src_take_dirty,
    .count_dirty = src_count_dirty,
    .prepare_state = src_prepare,
    .save_state = src_save,
    .release_state = src_release,
    .vcpu_rates = src_rates,
    .user_limits = src_user_limits,
    .set_limit = src_set_limit,
    .set_throttle = src_set_throttle,
    .limit_period = src_limit_period,
    .limit_sleep_us = src_sleep_us,
    .status = src_status,
    .pass = src_pass,
};

/* ---- destination hooks (the incoming thread) ---- */

static int dst_config(void *o, const struct mig_config *c, uint8_t **ram,
		      struct mig_section_spec *specs, unsigned *nspecs, char *msg, size_t len)
{
	struct vm_migrate *m = o;
	struct vstate_section_kind k[VSTATE_MAX_KINDS];
	struct mig_config local;
	unsigned n;

	local_config(m->vm, &local);
	if (mig_config_match(c, &local, false, msg, len))
		return -1;
	n = vstate_section_kinds(c->ncpus, m->vm->shape.irqchip, k);
	for (unsigned i = 0; i < n; i++)
		specs[i] = (struct mig_section_spec){.id = k[i].id,
						     .instances = k[i].instances,
						     .max_len = (uint32_t)k[i].max_len,
						     .required = true,
						     .name = k[i].name};
	*nspecs = n;
	*ram = m->vm->ram;
	return 0;
}

static int dst_section(void *o, const struct mig_section *s, char *msg, size_t len)
{
	struct vm_migrate *m = o;
	uint8_t *copy = malloc(s->len ? s->len : 1);

	/*
	 * The state comes after the final round: no page is left to fault in,
	 * and the helper, starved on a busy host while it holds the address
	 * space's lock, cost the 8 GiB guest's stop 100 ms (the ACK waited).
	 */
	ram_populate_halt(&m->populate);

	if (!copy) {
		snprintf(msg, len, "out of memory");
		return -1;
	}
	memcpy(copy, s->data, s->len);
	if (vm_state_add(&m->in_state, s->id, s->instance, s->version, copy, s->len) < 0) {
		snprintf(msg, len, "out of memory");
		return -1;
	}
	return 0;
}

static int dst_load(void *o, char *msg, size_t len)
{
	struct vm_migrate *m = o;

	if (vm_state_load(m->vm, &m->in_state, msg, len) < 0)
		return -1;
	return 0;
}

static void dst_status(void *o, enum mig_status st)
{
	struct vm_migrate *m = o;

	/* The stream flows: the populate helper leaves half a core to the decoder. */
	if (st == MIG_STATUS_ACTIVE)
		ram_populate_pace(&m->populate);
	emit_status(m, st);
	/* The guest is ours (or lost): the main thread starts it now, not at its next look. */
	if (mig_status_final(st))
		vm_wake_main(m->vm);
}

static const struct mig_dst_ops dst_ops = {
    .config = dst_config,
    .section = dst_section,
    .load = dst_load,
    .status = dst_status,
};

/* ---- the object ---- */

int vm_migrate_new(struct vm_migrate **out, struct vm *vm, struct dl_ctrl *ctl)
{
	struct vm_migrate *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->vm = vm;
	m->ctl = ctl;
	pthread_mutex_init(&m->lock, NULL);
	vm_state_init(&m->in_state);
	*out = m;
	return 0;
}

void vm_migrate_ready(struct vm_migrate *m, bool exit_after)
{
	struct vm *vm = m->vm;
	struct mig_src_vm sv;

	m->exit_after = exit_after;
	sv = (struct mig_src_vm){.ops = &src_ops,
				 .opaque = m,
				 .ram = vm->ram,
				 .ram_size = vm->ram_size,
				 .ncpus = (unsigned)vm->ncpus};
	local_config(vm, &sv.cfg);
	mig_src_init(&m->src, &sv);
	mig_dst_init(&m->dst, &dst_ops, m, vm->ram_size);
	m->ready = true;
}

void vm_migrate_set_emit(struct vm_migrate *m, vm_migrate_emit_fn fn, void *ctx)
{
	pthread_mutex_lock(&m->lock);
	m->emit = fn;
	m->emit_ctx = ctx;
	pthread_mutex_unlock(&m->lock);
}

void vm_migrate_free(struct vm_migrate *m)
{
	if (!m)
		return;
	if (m->ready) {
		mig_src_destroy(&m->src);
		mig_dst_destroy(&m->dst);
	}
	ram_populate_stop(&m->populate);
	vm_state_free(&m->in_state);
	mig_tls_registry_free(&m->tls);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

struct mig_src *vm_migrate_src(struct vm_migrate *m)
{
	return &m->src;
}

int vm_migrate_add_object(struct vm_migrate *m, const char *spec, char *err, size_t errlen)
{
	return mig_tls_registry_add(&m->tls, spec, err, errlen);
}

void vm_migrate_set_io_timeout(struct vm_migrate *m, unsigned ms)
{
	mig_dst_set_io_timeout(&m->dst, ms);
}

int vm_migrate_set_tls_creds(struct vm_migrate *m, const char *id, char *err, size_t errlen)
{
	if (strlen(id) > MIG_TLS_ID_MAX) {
		snprintf(err, errlen, "Parameter 'tls-creds' is longer than %u characters",
			 MIG_TLS_ID_MAX);
		return -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	snprintf(m->tls_creds, sizeof(m->tls_creds), "%s", id);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void vm_migrate_tls_creds(struct vm_migrate *m, char *buf, size_t len)
{
	pthread_mutex_lock(&m->lock);
	snprintf(buf, len, "%s", m->tls_creds);
	pthread_mutex_unlock(&m->lock);
}

/* The credentials tls-creds names for endpoint: 0 with *out (NULL: plain), or -EINVAL. */
static int tls_for(struct vm_migrate *m, enum mig_tls_endpoint ep, const struct mig_tls_creds **out,
		   char *err, size_t errlen)
{
	char id[MIG_TLS_ID_MAX + 1];

	vm_migrate_tls_creds(m, id, sizeof(id));
	*out = id[0] ? mig_tls_registry_find(&m->tls, id, ep, err, errlen) : NULL;
	return id[0] && !*out ? -EINVAL : 0;
}

int vm_migrate_start(struct vm_migrate *m, const char *uri, char *err, size_t errlen)
{
	const struct mig_tls_creds *tls;
	bool post;

	pthread_mutex_lock(&m->lock);
	post = m->postmigrate;
	pthread_mutex_unlock(&m->lock);
	if (vm_migrate_incoming(m) && vm_migrate_runstate(m)) {
		snprintf(err, errlen, "Guest is waiting for an incoming migration");
		return -EBUSY;
	}
	if (post) {
		snprintf(err, errlen,
			 "the guest has been migrated already: it runs on the destination");
		return -EBUSY;
	}
	if (tls_for(m, MIG_TLS_CLIENT, &tls, err, errlen))
		return -EINVAL;
	if (mig_src_active(&m->src)) {
		snprintf(err, errlen, "There's a migration process in progress");
		return -EBUSY;
	}
	pthread_mutex_lock(&m->src.lock);
	m->src.tls = tls;
	pthread_mutex_unlock(&m->src.lock);
	return mig_src_start(&m->src, uri, err, errlen);
}

void vm_migrate_cancel(struct vm_migrate *m)
{
	mig_src_cancel(&m->src);
}

void vm_migrate_info(struct vm_migrate *m, struct mig_info *out)
{
	mig_src_info(&m->src, out);
	/* A destination that has not migrated on since: the incoming migration's. */
	if (m->incoming && out->status == MIG_STATUS_NONE) {
		mig_dst_info(&m->dst, out);
		return;
	}
	if (out->dirty_limit && !mig_status_final(out->status))
		vm_migrate_dl_figures(m, &out->dl_throttle_us_per_round, &out->dl_ring_full_us);
}

void vm_migrate_dl_figures(struct vm_migrate *m, uint64_t *per_round_us, uint64_t *ring_full_us)
{
	uint64_t max_sleep = 0, min_limit = 0;

	for (int i = 0; i < m->vm->ncpus; i++) {
		uint64_t s = atomic_load(&m->vm->vcpus[i].sleep_ns_max);
		uint64_t l = dl_vcpu_get_limit(&m->vm->vcpus[i].dl);

		if (s > max_sleep)
			max_sleep = s;
		if (l && (!min_limit || l < min_limit))
			min_limit = l;
	}
	*per_round_us = max_sleep / 1000u;
	/* How long a ring takes to fill at the tightest limit in force. */
	*ring_full_us =
	    min_limit ? (uint64_t)m->vm->shape.ring_entries * 1000000ull / min_limit : 0;
}

/* ---- destination ---- */

/*
 * Guest RAM faulted in while the destination waits (ram_populate.h): the
 * stream then writes into pages that exist.  It costs the destination all
 * of the guest's RAM from the start; without the helper (no thread), the
 * pages fault as they come.
 */
static void populate_ram(struct vm_migrate *m)
{
	if (!m->populate.started)
		ram_populate_start(&m->populate, m->vm->ram, m->vm->ram_size);
}

int vm_migrate_incoming_listen(struct vm_migrate *m, const char *uri, const struct mig_fault *fault,
			       char *err, size_t errlen)
{
	int r;

	m->incoming = true;
	if (fault)
		m->dst.fault = *fault;
	r = mig_dst_listen(&m->dst, uri, err, errlen);
	if (r == 0)
		populate_ram(m);
	return r;
}

int vm_migrate_incoming_start(struct vm_migrate *m, char *err, size_t errlen)
{
	int r = tls_for(m, MIG_TLS_SERVER, &m->dst.tls, err, errlen);

	if (r == 0)
		r = mig_dst_start(&m->dst, err, errlen);

	if (r == 0) {
		pthread_mutex_lock(&m->lock);
		m->incoming_started = true;
		pthread_mutex_unlock(&m->lock);
	}
	return r;
}

void vm_migrate_incoming_defer(struct vm_migrate *m, const struct mig_fault *fault)
{
	m->incoming = true;
	m->deferred = true;
	if (fault)
		m->dst.fault = *fault;
	populate_ram(m);
}

int vm_migrate_incoming_uri(struct vm_migrate *m, const char *uri, char *err, size_t errlen)
{
	bool ok;
	int r;

	pthread_mutex_lock(&m->lock);
	ok = m->deferred && !m->incoming_started;
	pthread_mutex_unlock(&m->lock);
	if (!m->incoming) {
		snprintf(err, errlen, "'-incoming' was not specified on the command line");
		return -EINVAL;
	}
	if (!ok) {
		snprintf(err, errlen, "The incoming migration has already been started");
		return -EBUSY;
	}
	r = mig_dst_listen(&m->dst, uri, err, errlen);
	if (r == 0)
		r = vm_migrate_incoming_start(m, err, errlen);
	return r;
}

bool vm_migrate_incoming(struct vm_migrate *m)
{
	return m->incoming;
}

bool vm_migrate_incoming_done(struct vm_migrate *m, bool *ok, const char **error)
{
	bool started;

	pthread_mutex_lock(&m->lock);
	started = m->incoming_started;
	pthread_mutex_unlock(&m->lock);
	*ok = false;
	if (!started || !mig_dst_done(&m->dst, ok))
		return false;
	/*
	 * The guest runs (or the migration failed): the helper stops after its
	 * step, joined at vm_migrate_free().  Joining here would hold the
	 * guest's resume behind a step the helper may have no core to finish
	 * (an idle guest's blackout was 86 ms against 5 ms of downtime).
	 */
	ram_populate_halt(&m->populate);
	*error = mig_dst_error(&m->dst);
	return true;
}

void vm_migrate_incoming_finished(struct vm_migrate *m)
{
	static const char *const name[] = {"start"};
	uint64_t t[2] = {mig_dst_acked_ns(&m->dst), vmm_now_ns()};

	pthread_mutex_lock(&m->lock);
	m->incoming_over = true;
	pthread_mutex_unlock(&m->lock);
	/* The guest's blackout after the monitor's downtime: the ACK to running vCPUs. */
	if (t[0])
		mig_phases_print("incoming resume phases", name, t, 1,
				 "from the ACK to every vCPU's thread started");
}

const char *vm_migrate_runstate(struct vm_migrate *m)
{
	const char *s = NULL;

	pthread_mutex_lock(&m->lock);
	if (m->incoming && !m->incoming_over)
		s = "inmigrate";
	else if (m->postmigrate)
		s = "postmigrate";
	pthread_mutex_unlock(&m->lock);
	return s;
}

/* SPDX-License-Identifier: MIT */
/* vm: lifecycle of the virtual machine and the pause protocol. */
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/boot_vm.h"
#include "vmm/log.h"

/* Four entries a quarter of the ring: harvest well before it can fill. */
#define VM_TICK_RING_FRACTION 4
/*
 * The fastest a vCPU dirties pages on our hosts is about 450k pages/s
 * (host-kvm.md); real hardware with PML reaches a few million.  We size the
 * tick for 1M pages/s so both have room.
 */
#define VM_MAX_DIRTY_PAGES_PER_S 1000000ull
/*
 * Bounds of the automatic tick.  The ring rule above comes first: the floor
 * used to be 1 ms (a kick costs ~10 us, so 1% at most), but then a ring of
 * less than 4096 entries got the same 1 ms tick, in which a vCPU here
 * dirties 430 pages (measured: max-harvest-batch 430 with 1024 entries, 42%
 * of the ring), so a 512- or 256-entry ring (the CLI allows 256) would
 * overrun between two ticks, and an overrun ring wedges the guest for good
 * (host-kvm.md).  Now the floor is only a guard: 50 us, the limiter's
 * shortest meaningful slice; a 256-entry ring gets 64 us and pays for its
 * size in kicks, 4096 and more are unchanged (1.024 ms and up).
 */
#define VM_TICK_MIN_NS 50000ull
#define VM_TICK_MAX_NS 10000000ull
/*
 * How long a pause may wait for every vCPU to park.  A vCPU parks within one
 * slice (<= 10 ms) or one sleep piece; only a vCPU thread blocked outside
 * the guest (its console output on a pipe nobody reads) takes longer, and
 * then the pause is undone rather than hanging its caller.
 */
#define VM_PAUSE_TIMEOUT_NS 5000000000ull
/* The baseline harvester's period (the "simplest possible harvester"). */
#define VM_SIMPLE_HARVEST_NS 1000000ull

static uint64_t auto_tick_ns(uint32_t ring_entries)
{
	uint64_t ns = (uint64_t)ring_entries / VM_TICK_RING_FRACTION * 1000000000ull /
		      VM_MAX_DIRTY_PAGES_PER_S;

	if (ns < VM_TICK_MIN_NS)
		ns = VM_TICK_MIN_NS;
	if (ns > VM_TICK_MAX_NS)
		ns = VM_TICK_MAX_NS;
	return ns;
}

static void *map_anon(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int create_vcpu(struct vm *vm, struct vcpu *v, int i, char *err, size_t errlen)
{
	int r;

	v->index = i;
	v->vm = vm;
	r = kvm_vcpu_create(&v->kvm, &vm->kvm, i, err, errlen);
	if (r < 0)
		return r;
	r = kvm_vcpu_set_cpuid(&v->kvm, &vm->sys, err, errlen);
	if (r < 0) {
		kvm_vcpu_destroy(&v->kvm);
		return r;
	}
	dirty_vcpu_init(&v->dirty, i, v->kvm.ring, vm->kvm.ring_entries);
	dl_vcpu_init(&v->dl, &vm->dl_params);
	v->slice_ns = vm->tick_ns;
	return 0;
}

/* The steps of vm_create(); each one's undo is in vm_destroy(). */
static int create_stage(struct vm *vm, enum vm_stage stage, const struct vm_params *p, char *err,
			size_t errlen)
{
	const struct vm_shape *sh = &p->shape;
	int r;

	switch (stage) {
	case VM_STAGE_NONE:
		return 0;
	case VM_STAGE_SYNC: {
		pthread_condattr_t ca;

		/* Holds nothing to undo; only a programming error (overlapping ports) fails. */
		r = dev_register_all(&vm->devs, err, errlen);
		if (r < 0)
			return r;
		pthread_mutex_init(&vm->lock, NULL);
		pthread_mutex_init(&vm->kick_lock, NULL);
		pthread_mutex_init(&vm->event_lock, NULL);
		runstate_init(&vm->run);
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&vm->cond, &ca);
		pthread_condattr_destroy(&ca);
		dev_console_init(&vm->console, p->console_out);
		return 0;
	}
	case VM_STAGE_KVM:
		r = kvm_open(&vm->sys, "/dev/kvm", err, errlen);
		if (r < 0)
			return r;
		if (sh->ncpus > vm->sys.max_vcpus) {
			snprintf(err, errlen, "--cpus %d is more than this KVM allows (%d)",
				 sh->ncpus, vm->sys.max_vcpus);
			kvm_close(&vm->sys);
			return -EINVAL;
		}
		return 0;
	case VM_STAGE_VM:
		r = kvm_vm_create(&vm->kvm, &vm->sys, err, errlen);
		if (r < 0)
			return r;
		r = kvm_vm_enable_dirty_ring(&vm->kvm, sh->ring_entries, err, errlen);
		if (r == 0 && sh->irqchip)
			r = kvm_vm_create_irqchip(&vm->kvm, err, errlen);
		if (r < 0)
			kvm_vm_destroy(&vm->kvm);
		return r;
	case VM_STAGE_RAM:
		vm->ram = map_anon(sh->mem_size);
		if (!vm->ram) {
			snprintf(err, errlen, "cannot map %llu MiB of guest memory: %s",
				 (unsigned long long)(sh->mem_size >> 20), strerror(errno));
			return -ENOMEM;
		}
		return 0;
	case VM_STAGE_STATS:
		vm->stats = map_anon(vm->stats_size);
		if (!vm->stats) {
			snprintf(err, errlen, "cannot map the stats device: %s", strerror(errno));
			return -ENOMEM;
		}
		return 0;
	case VM_STAGE_SLOTS:
		r = kvm_vm_set_memslot(&vm->kvm, VM_SLOT_RAM, 0, sh->mem_size, vm->ram, true, err,
				       errlen);
		if (r < 0)
			return r;
		r = kvm_vm_set_memslot(&vm->kvm, VM_SLOT_STATS, vm->stats_gpa, vm->stats_size,
				       vm->stats, false, err, errlen);
		if (r < 0)
			kvm_vm_clear_memslot(&vm->kvm, VM_SLOT_RAM, err, errlen);
		return r;
	case VM_STAGE_TRACKER:
		dirty_tracker_init(&vm->dirty, &vm->kvm);
		vm->dirty.delay_us = p->harvest_delay_us;
		r = dirty_tracker_add_slot(&vm->dirty, VM_SLOT_RAM, 0, sh->mem_size / 4096);
		if (r < 0) {
			dirty_tracker_destroy(&vm->dirty);
			snprintf(err, errlen, "cannot allocate the dirty bitmap");
		}
		return r;
	case VM_STAGE_VCPUS:
		vm->vcpus = calloc((size_t)sh->ncpus, sizeof(*vm->vcpus));
		if (!vm->vcpus) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		for (int i = 0; i < sh->ncpus; i++)
			vm->vcpus[i].kvm.fd = -1;
		/* From here vm_destroy() undoes the vCPUs made so far. */
		vm->stage = VM_STAGE_VCPUS;
		for (int i = 0; i < sh->ncpus; i++) {
			r = create_vcpu(vm, &vm->vcpus[i], i, err, errlen);
			if (r < 0)
				return r;
			vm->vcpus_created = i + 1;
		}
		return 0;
	}
	return -EINVAL;
}

int vm_create(struct vm *vm, const struct vm_params *p, char *err, size_t errlen)
{
	memset(vm, 0, sizeof(*vm));
	vm->sys.fd = -1;
	vm->kvm.fd = -1;
	vm->shape = p->shape;
	vm->main_thread = pthread_self();
	vm->harvester = p->harvester;
	vm->ncpus = p->shape.ncpus;
	vm->ram_size = p->shape.mem_size;
	vm->stats_gpa = boot_stats_gpa(p->shape.mem_size);
	vm->stats_size = STRESS_STATS_SIZE;
	vm->tick_ns = p->tick_ns ? p->tick_ns : auto_tick_ns(p->shape.ring_entries);
	dl_params_default(&vm->dl_params);
	vm->dl_params.tick_ns = vm->tick_ns;
	vm->dl_params.ring_entries = p->shape.ring_entries;

	for (enum vm_stage st = VM_STAGE_SYNC; st <= VM_STAGE_VCPUS; st++) {
		int r = create_stage(vm, st, p, err, errlen);

		if (r < 0) {
			/* Each stage undoes its own partial work; vm_destroy() the stages before. */
			vm_destroy(vm);
			return r;
		}
		vm->stage = st;
	}
	return 0;
}

static void *simple_harvester(void *arg)
{
	struct vm *vm = arg;
	struct timespec ts = {0, (long)VM_SIMPLE_HARVEST_NS};

	while (!atomic_load(&vm->stopping)) {
		for (int i = 0; i < vm->ncpus; i++)
			dirty_vcpu_harvest(&vm->dirty, &vm->vcpus[i].dirty, NULL);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int vm_start(struct vm *vm, char *err, size_t errlen)
{
	sigset_t set;
	int r;

	/* Threads inherit this mask; vCPU threads unblock their kick signal. */
	sigemptyset(&set);
	sigaddset(&set, VMM_SIG_KICK);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	r = vcpu_signals_init(err, errlen);
	if (r < 0)
		return r;
	/*
	 * Every vCPU parks at its first housekeeping until all threads exist.
	 * On 2 cores, vCPUs that already run the guest starve the thread that
	 * creates the rest: 256 vCPUs took 22-37 s to start, signals unread.
	 */
	pthread_mutex_lock(&vm->lock);
	atomic_store(&vm->pause_req, true);
	pthread_mutex_unlock(&vm->lock);
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		/* A stop asked for while we create them (0.7 s for 256 under TSan). */
		if (vm->start_abort && vm->start_abort()) {
			vm_request_stop(vm, 0, VM_STOP_SIGNAL,
					"stopped by a signal during start-up");
			return 0;
		}
		r = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (r) {
			snprintf(err, errlen, "cannot start vCPU thread %d: %s", i, strerror(r));
			vm_request_stop(vm, 1, VM_STOP_ERROR, "thread start failed");
			return -r;
		}
		pthread_mutex_lock(&vm->kick_lock);
		v->thread_started = true;
		pthread_mutex_unlock(&vm->kick_lock);
	}
	/* Parked, every vCPU thread has its TID before anyone can ask (query-cpus-fast). */
	pthread_mutex_lock(&vm->lock);
	while (vm->parked < vm->ncpus && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->cond, &vm->lock);
	/* A pause asked for meanwhile (QMP stop) keeps them parked. */
	atomic_store(&vm->pause_req, vm->run.reasons != 0);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (vm->harvester == VM_HARVEST_SIMPLE) {
		r = pthread_create(&vm->harvester_thread, NULL, simple_harvester, vm);
		if (r) {
			snprintf(err, errlen, "cannot start the harvester thread: %s", strerror(r));
			vm_request_stop(vm, 1, VM_STOP_ERROR, "thread start failed");
			return -r;
		}
		vm->harvester_started = true;
	}
	return 0;
}

void vm_kick(struct vm *vm, int cpu)
{
	struct vcpu *v = &vm->vcpus[cpu];

	/* A thread id is valid until joined: vm_join() clears the flag under this lock first. */
	pthread_mutex_lock(&vm->kick_lock);
	if (v->thread_started)
		pthread_kill(v->thread, VMM_SIG_KICK);
	pthread_mutex_unlock(&vm->kick_lock);
}

void vm_set_dirty_limit(struct vm *vm, int cpu, uint64_t pages_per_s)
{
	for (int i = 0; i < vm->ncpus; i++) {
		if (cpu >= 0 && cpu != i)
			continue;
		dl_vcpu_set_limit(&vm->vcpus[i].dl, pages_per_s);
		atomic_store(&vm->vcpus[i].wake, true);
		/* Apply it now: end the current slice, cut short a penalty sleep. */
		vm_kick(vm, i);
	}
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vm_set_throttle(struct vm *vm, unsigned pct)
{
	unsigned old = atomic_exchange(&vm->throttle_pct, pct);

	/* Ending or lowering it: cut short a throttle sleep under way. */
	if (pct < old)
		for (int i = 0; i < vm->ncpus; i++)
			atomic_store(&vm->vcpus[i].wake, true);
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vm_set_dirty_limit_law(struct vm *vm, const struct dl_law *law)
{
	for (int i = 0; i < vm->ncpus; i++) {
		dl_vcpu_set_law(&vm->vcpus[i].dl, law);
		atomic_store(&vm->vcpus[i].wake, true);
		vm_kick(vm, i);
	}
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vm_request_stop(struct vm *vm, int status, enum vm_stop_reason reason, const char *msg)
{
	bool first;

	pthread_mutex_lock(&vm->lock);
	first = !atomic_load(&vm->stopping);
	if (first) {
		vm->exit_status = status;
		vm->stop_reason = reason;
		snprintf(vm->stop_msg, sizeof(vm->stop_msg), "%s", msg ? msg : "");
		atomic_store(&vm->stopping, true);
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (!first)
		return;
	for (int i = 0; i < vm->ncpus; i++)
		vm_kick(vm, i);
	vm_wake_main(vm);
}

void vm_wake_main(struct vm *vm)
{
	pthread_kill(vm->main_thread, VMM_SIG_STOP);
}

void vm_join(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		bool started;

		pthread_mutex_lock(&vm->kick_lock);
		started = v->thread_started;
		v->thread_started = false;
		pthread_mutex_unlock(&vm->kick_lock);
		if (started)
			pthread_join(v->thread, NULL);
	}
	if (vm->harvester_started) {
		pthread_join(vm->harvester_thread, NULL);
		vm->harvester_started = false;
	}
	dev_console_flush(&vm->console);
}

void vm_destroy(struct vm *vm)
{
	char err[256];

	free(vm->state_caps);
	vm->state_caps = NULL;
	/* Reverse order of vm_create(); each case falls through to the one before. */
	switch (vm->stage) {
	case VM_STAGE_VCPUS:
		for (int i = vm->vcpus_created - 1; i >= 0; i--) {
			struct vcpu *v = &vm->vcpus[i];

			if (v->has_timer)
				timer_delete(v->timer);
			v->has_timer = false;
			dirty_vcpu_destroy(&v->dirty);
			kvm_vcpu_destroy(&v->kvm);
		}
		vm->vcpus_created = 0;
		free(vm->vcpus);
		vm->vcpus = NULL;
		/* fall through */
	case VM_STAGE_TRACKER:
		dirty_tracker_destroy(&vm->dirty);
		/* fall through */
	case VM_STAGE_SLOTS:
		kvm_vm_clear_memslot(&vm->kvm, VM_SLOT_STATS, err, sizeof(err));
		kvm_vm_clear_memslot(&vm->kvm, VM_SLOT_RAM, err, sizeof(err));
		/* fall through */
	case VM_STAGE_STATS:
		munmap(vm->stats, vm->stats_size);
		vm->stats = NULL;
		/* fall through */
	case VM_STAGE_RAM:
		munmap(vm->ram, vm->ram_size);
		vm->ram = NULL;
		/* fall through */
	case VM_STAGE_VM:
		kvm_vm_destroy(&vm->kvm);
		/* fall through */
	case VM_STAGE_KVM:
		kvm_close(&vm->sys);
		/* fall through */
	case VM_STAGE_SYNC:
		dev_console_destroy(&vm->console);
		pthread_cond_destroy(&vm->cond);
		pthread_mutex_destroy(&vm->lock);
		pthread_mutex_destroy(&vm->kick_lock);
		pthread_mutex_destroy(&vm->event_lock);
		/* fall through */
	case VM_STAGE_NONE:
		break;
	}
	vm->stage = VM_STAGE_NONE;
}

/*
 * Called with vm->lock held; returns with it released.  Sends the events
 * asked for in order: event_lock is taken before lock is let go.
 */
static void unlock_and_announce(struct vm *vm, const struct runstate_out *o)
{
	vm_event_fn fn = vm->event_fn;
	void *opaque = vm->event_opaque;

	if (!fn || (!o->event_stop && !o->event_resume)) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	pthread_mutex_lock(&vm->event_lock);
	pthread_mutex_unlock(&vm->lock);
	fn(opaque, o->event_stop ? "STOP" : "RESUME", VM_STOP_NONE);
	pthread_mutex_unlock(&vm->event_lock);
}

/* With vm->lock held: carry out a release the run state asked for. */
static void release_locked(struct vm *vm, const struct runstate_out *o)
{
	if (o->release) {
		atomic_store(&vm->pause_req, false);
		pthread_cond_broadcast(&vm->cond);
	}
}

int vm_pause(struct vm *vm, unsigned reason)
{
	uint64_t deadline = vmm_now_ns() + VM_PAUSE_TIMEOUT_NS;
	struct timespec ts = {(time_t)(deadline / 1000000000ull), (long)(deadline % 1000000000ull)};
	struct runstate_out o;
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	runstate_pause(&vm->run, reason, &o);
	if (o.park) {
		atomic_store(&vm->pause_req, true);
		pthread_cond_broadcast(&vm->cond); /* wake vCPUs sleeping a penalty */
	}
	pthread_mutex_unlock(&vm->lock);
	if (o.park)
		for (int i = 0; i < vm->ncpus; i++)
			vm_kick(vm, i);
	pthread_mutex_lock(&vm->lock);
	while (vm->parked < vm->ncpus && !atomic_load(&vm->stopping) &&
	       runstate_holds(&vm->run, reason) && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	memset(&o, 0, sizeof(o));
	if (atomic_load(&vm->stopping)) {
		r = -ESHUTDOWN;
	} else if (!runstate_holds(&vm->run, reason)) {
		r = -ECANCELED;
	} else if (vm->parked < vm->ncpus) {
		/* A vCPU is stuck outside the guest (e.g. writing to a full pipe): withdraw. */
		runstate_resume(&vm->run, reason, &o);
		release_locked(vm, &o);
		r = -ETIMEDOUT;
	} else {
		runstate_parked(&vm->run, &o);
		r = 0;
	}
	unlock_and_announce(vm, &o);
	return r;
}

bool vm_pause_join(struct vm *vm, unsigned reason)
{
	struct runstate_out o;
	bool joined;

	pthread_mutex_lock(&vm->lock);
	joined = vm->run.paused;
	/* Every vCPU is parked already: nothing to ask of them, no event. */
	if (joined)
		runstate_pause(&vm->run, reason, &o);
	pthread_mutex_unlock(&vm->lock);
	return joined;
}

void vm_set_event_fn(struct vm *vm, vm_event_fn fn, void *opaque)
{
	pthread_mutex_lock(&vm->lock);
	vm->event_fn = fn;
	vm->event_opaque = opaque;
	pthread_mutex_unlock(&vm->lock);
}

bool vm_resume(struct vm *vm, unsigned reason)
{
	struct runstate_out o;
	bool running;

	pthread_mutex_lock(&vm->lock);
	runstate_resume(&vm->run, reason, &o);
	release_locked(vm, &o);
	running = vm->run.reasons == 0;
	unlock_and_announce(vm, &o);
	return running;
}

bool vm_is_paused(struct vm *vm)
{
	bool p;

	pthread_mutex_lock(&vm->lock);
	p = vm->run.paused;
	pthread_mutex_unlock(&vm->lock);
	return p;
}

unsigned vm_pause_reasons(struct vm *vm)
{
	unsigned r;

	pthread_mutex_lock(&vm->lock);
	r = vm->run.reasons;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void vm_vcpu_halted(struct vm *vm, int cpu)
{
	bool all = true;

	for (int i = 0; i < vm->ncpus; i++)
		if (!atomic_load(&vm->vcpus[i].halted))
			all = false;
	if (all)
		vm_request_stop(vm, 0, VM_STOP_GUEST_HALTED,
				"every vCPU has halted with nothing to wake it");
	(void)cpu;
}

void vm_guest_report(struct vm *vm, int cpu, uint32_t code)
{
	switch (code) {
	case STRESS_REPORT_BOOTED:
		atomic_store(&vm->booted, true);
		break;
	case STRESS_REPORT_CPU_ONLINE:
		break;
	case STRESS_REPORT_DATA_ERROR:
		if (atomic_fetch_add(&vm->data_errors_reported, 1) == 0)
			vmm_log("guest vCPU %d reports a memory self-check error", cpu);
		break;
	case STRESS_REPORT_PANIC:
		vm_request_stop(vm, 1, VM_STOP_GUEST_CRASH, "the guest kernel panicked");
		break;
	default:
		break;
	}
}

int vm_guest_stats(struct vm *vm, int cpu, struct stress_cpu_stats *out)
{
	volatile struct stress_cpu_stats *s;

	if (cpu < 0 || cpu >= STRESS_MAX_CPUS ||
	    __atomic_load_n(&vm->stats->hdr.magic, __ATOMIC_ACQUIRE) != STRESS_STATS_MAGIC)
		return -ENODATA;
	s = &vm->stats->cpu[cpu];
	out->pages_written = s->pages_written;
	out->bytes_read = s->bytes_read;
	out->passes = s->passes;
	out->errors = s->errors;
	out->tsc = s->tsc;
	out->state = s->state;
	out->role = s->role;
	out->wss_base = s->wss_base;
	out->wss_size = s->wss_size;
	/* Also reset by other threads (vm_guest_reset_stall): atomic on our side too (TSan). */
	out->max_gap_tsc = __atomic_load_n(&s->max_gap_tsc, __ATOMIC_RELAXED);
	return 0;
}

int vm_guest_reset_stall(struct vm *vm, int cpu)
{
	int first = cpu, last = cpu;

	if (cpu < -1 || cpu >= STRESS_MAX_CPUS ||
	    __atomic_load_n(&vm->stats->hdr.magic, __ATOMIC_ACQUIRE) != STRESS_STATS_MAGIC)
		return -ENODATA;
	if (cpu == -1) {
		first = 0;
		last = (vm->ncpus < STRESS_MAX_CPUS ? vm->ncpus : STRESS_MAX_CPUS) - 1;
	}
	/* The guest raises the field from its own vCPU; one aligned store is atomic. */
	for (int i = first; i <= last; i++)
		__atomic_store_n(&vm->stats->cpu[i].max_gap_tsc, 0, __ATOMIC_RELAXED);
	return 0;
}

uint64_t vm_guest_tsc_to_us(struct vm *vm, uint64_t ticks)
{
	uint64_t khz;

	if (__atomic_load_n(&vm->stats->hdr.magic, __ATOMIC_ACQUIRE) != STRESS_STATS_MAGIC)
		return 0;
	khz = vm->stats->hdr.tsc_khz;
	if (!khz)
		return 0;
	/* ticks * 1000 / khz, split so that no product overflows. */
	return ticks / khz * 1000 + ticks % khz * 1000 / khz;
}

const char *vm_stop_reason_name(enum vm_stop_reason r)
{
	switch (r) {
	case VM_STOP_NONE:
		return "none";
	case VM_STOP_GUEST_POWEROFF:
		return "guest-shutdown";
	case VM_STOP_GUEST_HALTED:
		return "guest-halted";
	case VM_STOP_GUEST_CRASH:
		return "guest-panic";
	case VM_STOP_SIGNAL:
		return "host-signal";
	case VM_STOP_DURATION:
		return "duration";
	case VM_STOP_QMP_QUIT:
		return "host-qmp-quit";
	case VM_STOP_ERROR:
		return "host-error";
	case VM_STOP_MIGRATED:
		return "migrated";
	}
	return "unknown";
}

/* SPDX-License-Identifier: MIT */
/*
 * vcpu: the vCPU thread.  It runs KVM_RUN in slices, hands each exit to its
 * owner, and after every exit does its housekeeping: harvest its own dirty
 * ring, let the limiter decide a sleep and the next slice, honour pause and
 * stop requests.  A per-thread POSIX timer ends each slice with a signal, so
 * the ring is harvested on time even if the guest never exits by itself and
 * even if no other thread gets scheduled (host-kvm.md: the ring's soft limit
 * is not honoured on our hosts, so a ring must never be left to fill).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/vm.h"

/*
 * The kvm_run of the vCPU that this thread runs, for the kick handler.
 * Thread-local: each vCPU thread sets its own once at start; the handler
 * only runs on the thread it belongs to.
 */
static __thread struct kvm_run *tls_run;

static void kick_handler(int sig)
{
	(void)sig;
	if (tls_run)
		tls_run->immediate_exit = 1;
}

int vcpu_signals_init(char *err, size_t errlen)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	if (sigaction(VMM_SIG_KICK, &sa, NULL) < 0) {
		snprintf(err, errlen, "sigaction: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

uint64_t vmm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int timer_setup(struct vcpu *v)
{
	struct sigevent sev;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = VMM_SIG_KICK;
	sev._sigev_un._tid = v->tid;
	if (timer_create(CLOCK_MONOTONIC, &sev, &v->timer) < 0)
		return -errno;
	v->has_timer = true;
	return 0;
}

static void timer_arm(struct vcpu *v, uint64_t ns)
{
	struct itimerspec its;

	if (!v->has_timer)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(ns % 1000000000ull);
	timer_settime(v->timer, 0, &its, NULL);
}

/* Park while paused or halted; returns false if the VM is stopping. */
static bool vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->cond);
	while (!atomic_load(&vm->stopping) && (vm->pause_req || atomic_load(&v->halted)))
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->lock);
	return !atomic_load(&vm->stopping);
}

/*
 * Sleep a limiter penalty.  Wakes early for pause and stop (the condition
 * variable is broadcast by both), and continues the sleep after a pause.
 */
static bool vcpu_sleep(struct vcpu *v, uint64_t ns)
{
	struct vm *vm = v->vm;
	uint64_t start = vmm_now_ns();
	uint64_t deadline = start + ns;
	struct timespec ts;
	uint64_t slept;

	ts.tv_sec = (time_t)(deadline / 1000000000ull);
	ts.tv_nsec = (long)(deadline % 1000000000ull);
	pthread_mutex_lock(&vm->lock);
	while (!atomic_load(&vm->stopping) && !vm->pause_req && !atomic_exchange(&v->wake, false) &&
	       vmm_now_ns() < deadline) {
		if (pthread_cond_timedwait(&vm->cond, &vm->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&vm->lock);
	slept = vmm_now_ns() - start;
	atomic_fetch_add_explicit(&v->sleep_ns_total, slept, memory_order_relaxed);
	if (slept > atomic_load_explicit(&v->sleep_ns_max, memory_order_relaxed))
		atomic_store_explicit(&v->sleep_ns_max, slept, memory_order_relaxed);
	return !atomic_load(&vm->stopping);
}

/*
 * A migration's CPU throttle (auto-converge, QEMU's cpu-throttle.c): at pct
 * %, after each VM_THROTTLE_SLICE_NS of running the vCPU sleeps
 * pct / (100 - pct) of it, so it runs (100 - pct) % of the time.
 */
static bool vcpu_throttle(struct vcpu *v)
{
	unsigned pct = atomic_load_explicit(&v->vm->throttle_pct, memory_order_relaxed);
	uint64_t ns;

	if (!pct) {
		v->throttle_ran_ns = 0;
		return true;
	}
	if (v->throttle_ran_ns < VM_THROTTLE_SLICE_NS)
		return true;
	if (pct > 99)
		pct = 99;
	ns = v->throttle_ran_ns * pct / (100 - pct);
	v->throttle_ran_ns = 0;
	return vcpu_sleep(v, ns);
}

static int64_t vcpu_harvest(struct vcpu *v, int *reset)
{
	struct vm *vm = v->vm;
	int64_t n = dirty_vcpu_harvest(&vm->dirty, &v->dirty, reset);

	if (n < 0) {
		char msg[160];

		snprintf(msg, sizeof(msg), "KVM_RESET_DIRTY_RINGS failed on vCPU %d: %s", v->index,
			 strerror((int)-n));
		vm_request_stop(vm, 1, VM_STOP_ERROR, msg);
	}
	return n;
}

/*
 * After every exit: harvest, account, sleep if the limiter says so, honour
 * requests.  Returns false when the thread must end.
 */
static bool vcpu_housekeeping(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct dl_action act = {0, 0};
	uint64_t pages;

	for (;;) {
		uint64_t total;

		/* The baseline harvester (a test knob) harvests from its own thread. */
		if (vm->harvester == VM_HARVEST_SELF && vcpu_harvest(v, NULL) < 0)
			return false;
		/* Count what anyone harvested from our ring (the controller too). */
		total = atomic_load_explicit(&v->dirty.pages, memory_order_relaxed);
		pages = total - v->pages_seen;
		v->pages_seen = total;
		dl_vcpu_account(&v->dl, pages, v->ran_ns, vmm_now_ns(), &act);
		v->throttle_ran_ns += v->ran_ns;
		v->ran_ns = 0;
		if (act.sleep_ns && !vcpu_sleep(v, act.sleep_ns))
			return false;
		if (!vcpu_throttle(v))
			return false;
		if (atomic_load(&vm->stopping))
			return false;
		if (vm->pause_req) {
			/* Parked vCPUs have an empty ring: pause means "all harvested". */
			if (vm->harvester == VM_HARVEST_SELF && vcpu_harvest(v, NULL) < 0)
				return false;
			if (!vcpu_park(v))
				return false;
			continue;
		}
		if (act.slice_ns)
			break;
	}
	/* Without our harvester there are no timer kicks: the guest runs until it exits. */
	v->slice_ns = vm->harvester == VM_HARVEST_SELF ? act.slice_ns : 0;
	return true;
}

static void vcpu_fail(struct vcpu *v, const char *what)
{
	struct kvm_regs regs;
	char msg[256], err[128];

	if (kvm_vcpu_get_regs(&v->kvm, &regs, err, sizeof(err)) == 0)
		snprintf(msg, sizeof(msg), "vCPU %d: %s (rip 0x%llx rsp 0x%llx)", v->index, what,
			 (unsigned long long)regs.rip, (unsigned long long)regs.rsp);
	else
		snprintf(msg, sizeof(msg), "vCPU %d: %s", v->index, what);
	vm_request_stop(v->vm, 1, VM_STOP_GUEST_CRASH, msg);
}

static void vcpu_ring_full(struct vcpu *v)
{
	int reset = 0;
	int64_t n;

	atomic_fetch_add_explicit(&v->ring_full_exits, 1, memory_order_relaxed);
	n = vcpu_harvest(v, &reset);
	if (n == 0)
		reset = dirty_reset(&v->vm->dirty);
	if (dirty_wedge_note(&v->wedge, n, reset)) {
		char msg[256];

		snprintf(msg, sizeof(msg),
			 "vCPU %d's dirty ring is wedged: %u ring-full exits in a row with nothing "
			 "to harvest and nothing to reset (the host KVM overran the ring; see "
			 "docs/dirty-tracking.md)",
			 v->index, v->wedge.empty);
		vm_request_stop(v->vm, 1, VM_STOP_ERROR, msg);
	}
}

/* Handle one exit; returns false when the thread must end. */
static bool vcpu_dispatch(struct vcpu *v)
{
	struct kvm_run *run = v->kvm.run;
	char what[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint8_t *data = (uint8_t *)run + run->io.data_offset;

		for (uint32_t i = 0; i < run->io.count; i++) {
			dev_pio(v->vm, v->index, run->io.port, run->io.direction == KVM_EXIT_IO_OUT,
				data, run->io.size);
			data += run->io.size;
		}
		return true;
	}
	case KVM_EXIT_MMIO:
		/* Nothing is mapped there: reads see all ones, writes are dropped. */
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		return true;
	case KVM_EXIT_HLT:
		atomic_store(&v->halted, true);
		vm_vcpu_halted(v->vm, v->index);
		return true;
	case KVM_EXIT_DIRTY_RING_FULL:
		vcpu_ring_full(v);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(v, "triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
			vm_request_stop(v->vm, 0, VM_STOP_GUEST_POWEROFF, "guest shut down");
		else if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vm_request_stop(v->vm, 0, VM_STOP_GUEST_POWEROFF,
					"guest asked for a reset (not supported: stopping)");
		else
			vcpu_fail(v, "unexpected system event");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "KVM_RUN entry failed (hardware reason 0x%llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_fail(v, what);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what), "KVM internal error (suberror %u)",
			 run->internal.suberror);
		vcpu_fail(v, what);
		return false;
	default:
		snprintf(what, sizeof(what), "unhandled exit reason %u", run->exit_reason);
		vcpu_fail(v, what);
		return false;
	}
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	struct kvm_run *run = v->kvm.run;
	sigset_t set;

	atomic_store(&v->tid, (int)syscall(SYS_gettid));
	tls_run = run;
	if (vm->harvester == VM_HARVEST_SELF && timer_setup(v) < 0) {
		vm_request_stop(vm, 1, VM_STOP_ERROR, "cannot create the vCPU harvest timer");
		return NULL;
	}
	sigemptyset(&set);
	sigaddset(&set, VMM_SIG_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	for (bool fast = false;;) {
		uint64_t t0;
		int r;

		/*
		 * Port and MMIO exits go straight back into the guest: the slice's
		 * timer keeps running, and housekeeping waits for it (or a kick).
		 * Accounting after every console byte would make the limiter see
		 * many tiny runs that dirty nothing and misjudge the vCPU's speed.
		 */
		if (!fast) {
			/* Clear before looking at requests: a later kick makes KVM_RUN return. */
			run->immediate_exit = 0;
			if (!vcpu_housekeeping(v))
				break;
			if (atomic_load(&v->halted)) {
				if (!vcpu_park(v))
					break;
				continue;
			}
			timer_arm(v, v->slice_ns);
		}
		fast = false;
		t0 = vmm_now_ns();
		r = kvm_vcpu_run(&v->kvm);
		t0 = vmm_now_ns() - t0;
		v->ran_ns += t0;
		atomic_fetch_add_explicit(&v->run_ns_total, t0, memory_order_relaxed);
		atomic_fetch_add_explicit(&v->exits, 1, memory_order_relaxed);
		if (r == -EINTR || r == -EAGAIN) {
			atomic_fetch_add_explicit(&v->kicks, 1, memory_order_relaxed);
			continue;
		}
		if (r < 0) {
			char msg[128];

			snprintf(msg, sizeof(msg), "KVM_RUN on vCPU %d failed: %s", v->index,
				 strerror(-r));
			vm_request_stop(vm, 1, VM_STOP_ERROR, msg);
			break;
		}
		if (!vcpu_dispatch(v))
			break;
		fast = run->exit_reason == KVM_EXIT_IO || run->exit_reason == KVM_EXIT_MMIO;
	}
	timer_arm(v, 0);
	return NULL;
}

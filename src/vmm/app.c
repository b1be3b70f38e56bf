/* SPDX-License-Identifier: MIT */
/*
 * app: the main thread's life.  Builds the VM and its helpers (controller,
 * stats stream, control socket), runs it until a stop request, a signal or
 * the end of --duration, then tears everything down in reverse order.
 */
#include "vmm/app.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dirtylimit/dl_ctrl.h"
#include "dirtylimit/dl_stats.h"
#include "vmm/boot_vm.h"
#include "vmm/log.h"
#include "vmm/testknob.h"
#include "vmm/vm.h"
#include "vmm/vm_migrate.h"
#include "vmm/vm_migrate_stats.h"
#include "vmm/vm_qmp.h"

static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, VMM_SIG_STOP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Is a stop signal waiting?  (It is blocked: main.c.) */
static bool stop_signal_pending(void)
{
	sigset_t p;

	return sigpending(&p) == 0 &&
	       (sigismember(&p, SIGINT) || sigismember(&p, SIGTERM) || sigismember(&p, SIGHUP));
}

/* --x-flip-word: how often to look whether every worker is ready for its flip. */
#define APP_FLIP_RETRY_NS 20000000ull

/* The test knob's turn came: flip now, or retry later (0: done). */
static uint64_t flip_words(struct vm *vm, uint64_t now)
{
	char msg[512];
	int r = testknob_flip_words(vm, msg, sizeof(msg));

	if (r == -EAGAIN)
		return now + APP_FLIP_RETRY_NS;
	if (r != 0 && r != -ENODATA)
		vmm_log("--x-flip-word: cannot pause the VM: %s", strerror(-r));
	return 0;
}

/* Wait for a signal, a stop request or the deadline (0 = none); run the flip knob. */
static void wait_for_stop(struct vm *vm, const sigset_t *set, uint64_t deadline, uint64_t flip_at)
{
	while (!atomic_load(&vm->stopping)) {
		uint64_t now = vmm_now_ns(), wake = now + 1000000000ull;
		struct timespec ts;
		siginfo_t si;
		int sig;

		if (deadline && now >= deadline) {
			vm_request_stop(vm, 0, VM_STOP_DURATION, "--duration elapsed");
			break;
		}
		if (flip_at && now >= flip_at)
			flip_at = flip_words(vm, now);
		if (deadline && deadline < wake)
			wake = deadline;
		if (flip_at && flip_at < wake)
			wake = flip_at;
		ts.tv_sec = (time_t)((wake - now) / 1000000000ull);
		ts.tv_nsec = (long)((wake - now) % 1000000000ull);
		sig = sigtimedwait(set, &si, &ts);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
			char msg[64];

			snprintf(msg, sizeof(msg), "stopped by %s", strsignal(sig));
			vm_request_stop(vm, 0, VM_STOP_SIGNAL, msg);
		}
	}
}

/*
 * How often the main thread looks at an incoming migration while it loads:
 * only a backstop, since its end wakes the main thread (vm_wake_main()).
 * Before that wake this was 20 ms, and the guest's blackout waited up to
 * that after the ACK; a second makes a lost wake plain to see (int_migrate
 * checks the resume, "incoming resume phases").
 */
#define APP_INCOMING_POLL_NS 1000000000ull

/*
 * --incoming: wait (for signals too) until the incoming migration has
 * loaded the guest (0) or failed (-1, said once), or the VM is asked to stop.
 */
static int wait_incoming(struct vm *vm, struct vm_migrate *mig, const sigset_t *set)
{
	while (!atomic_load(&vm->stopping)) {
		struct timespec ts = {.tv_sec = (time_t)(APP_INCOMING_POLL_NS / 1000000000ull),
				      .tv_nsec = (long)(APP_INCOMING_POLL_NS % 1000000000ull)};
		const char *error = NULL;
		siginfo_t si;
		bool ok;
		int sig;

		if (vm_migrate_incoming_done(mig, &ok, &error)) {
			if (ok)
				return 0;
			vmm_log("%s", error && *error ? error : "incoming migration failed");
			return -1;
		}
		sig = sigtimedwait(set, &si, &ts);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
			char msg[64];

			snprintf(msg, sizeof(msg), "stopped by %s", strsignal(sig));
			vm_request_stop(vm, 0, VM_STOP_SIGNAL, msg);
		}
	}
	return -1;
}

static void print_summary(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		struct stress_cpu_stats gs;
		bool have = vm_guest_stats(vm, i, &gs) == 0;

		vmm_log("vCPU %d: %llu pages harvested, %llu guest pages written, %llu errors, "
			"%llu exits, %llu ring-full exits",
			i, (unsigned long long)atomic_load(&v->dirty.pages),
			have ? (unsigned long long)gs.pages_written : 0ull,
			have ? (unsigned long long)gs.errors : 0ull,
			(unsigned long long)atomic_load(&v->exits),
			(unsigned long long)atomic_load(&v->ring_full_exits));
	}
}

int app_run(const struct vmm_config *cfg, const struct app_env *env, const uint8_t *kernel,
	    size_t kernel_len)
{
	struct vm_params p = {
	    .shape = {.mem_size = cfg->mem_size,
		      .ncpus = (int)cfg->ncpus,
		      .ring_entries = cfg->dirty_ring_size},
	    .harvester =
		cfg->harvester == CLI_HARVESTER_SIMPLE ? VM_HARVEST_SIMPLE : VM_HARVEST_SELF,
	    .harvest_delay_us = cfg->harvest_delay_us,
	    .tick_ns = (uint64_t)cfg->tick_us * 1000ull,
	    .console_out = env->console,
	};
	struct vm_kernel k = {.image = kernel, .len = kernel_len, .append = cfg->append};
	static struct vm vm; /* large; owned by the main thread for the whole run */
	struct dl_ctrl ctl;
	struct vm_qmp *qmp = NULL;
	struct vm_migrate *mig = NULL;
	struct dl_stats_section mig_stats = {.name = "migration", .get = vm_migrate_stats};
	struct mig_fault fault = {0};
	char err[512];
	sigset_t set;
	uint64_t deadline = 0;
	bool ctl_started = false, ran = false;
	int r, status;

	block_signals(&set);
	if (cfg->x_incoming_fault &&
	    mig_fault_parse(cfg->x_incoming_fault, &fault, err, sizeof(err))) {
		vmm_log("%s", err);
		return 2;
	}
	if (vm_migrate_new(&mig, &vm, &ctl) < 0) {
		vmm_log("out of memory");
		return 1;
	}
	/* TLS credentials: a missing or open keys file is a configuration error, before anything runs. */
	for (unsigned i = 0; i < cfg->nobjects; i++) {
		if (vm_migrate_add_object(mig, cfg->objects[i], err, sizeof(err)) < 0) {
			vmm_log("%s", err);
			vm_migrate_free(mig);
			return 2;
		}
	}
	/* Before any vCPU exists: a bad address is a configuration error, said once. */
	if (cfg->qmp.kind != CLI_QMP_NONE) {
		r = vm_qmp_open(&qmp, &vm, &ctl, mig, &cfg->qmp, cfg->name, err, sizeof(err));
		if (r < 0) {
			vmm_log("--qmp: %s", err);
			vm_migrate_free(mig);
			return r == -ENOMEM ? 1 : 2;
		}
	}
	r = vm_create(&vm, &p, err, sizeof(err));
	/* A destination's guest comes from the stream, not from a kernel. */
	if (r == 0 && !cfg->incoming)
		r = boot_vm(&vm, &k, err, sizeof(err));
	if (r == 0) {
		vm_migrate_ready(mig, cfg->exit_after_migration);
		if (cfg->incoming && !strcmp(cfg->incoming, "defer")) {
			vm_migrate_incoming_defer(mig, &fault);
		} else if (cfg->incoming) {
			r = vm_migrate_incoming_listen(mig, cfg->incoming, &fault, err,
						       sizeof(err));
			if (r < 0) {
				vmm_log("--incoming: %s", err);
				r = -EINVAL;
				err[0] = '\0';
			}
		}
	}
	if (r < 0) {
		if (err[0])
			vmm_log("%s", err);
		if (qmp)
			vm_qmp_stop(qmp, &vm);
		vm_migrate_free(mig);
		vm_destroy(&vm);
		return r == -EINVAL || r == -ENOEXEC || r == -E2BIG ? 2 : 1;
	}
	vm.dirty.no_backstop = cfg->x_no_backstop;
	for (unsigned i = 0; i < cfg->ncpus; i++)
		if (cfg->dirty_limit_mib[i])
			vm_set_dirty_limit(&vm, (int)i, dl_mib_to_pages(cfg->dirty_limit_mib[i]));

	r = dl_ctrl_start(&ctl, &vm, cfg->dirty_limit_period_ms, &cfg->dirty_limit_law, env->stats,
			  cfg->stats_interval_ms, err, sizeof(err));
	if (r < 0)
		goto fail;
	ctl_started = true;
	/* The migration's figures in the --stats stream (docs/stats.md). */
	mig_stats.ctx = mig;
	if (env->stats)
		dl_stats_set_section(&ctl, &mig_stats);
	if (cfg->incoming) {
		/* QMP serves while the guest loads ("inmigrate"; migrate-incoming for defer). */
		if (qmp) {
			r = vm_qmp_run(qmp, err, sizeof(err));
			if (r < 0)
				goto fail;
		}
		if (strcmp(cfg->incoming, "defer")) {
			r = vm_migrate_incoming_start(mig, err, sizeof(err));
			if (r < 0)
				goto fail;
		}
		if (wait_incoming(&vm, mig, &set) < 0) {
			/* A failed incoming migration: its message is out; nothing ran. */
			vm_request_stop(&vm, atomic_load(&vm.stopping) ? 0 : 1, VM_STOP_ERROR, "");
			vm_join(&vm);
			goto out;
		}
	}
	vm.start_abort = stop_signal_pending;
	r = vm_start(&vm, err, sizeof(err));
	if (r < 0)
		goto fail;
	ran = true;
	if (cfg->incoming)
		vm_migrate_incoming_finished(mig);
	/* Served after the start, so that every vCPU already has its thread id. */
	if (qmp && !cfg->incoming) {
		r = vm_qmp_run(qmp, err, sizeof(err));
		if (r < 0)
			goto fail;
	}
	if (cfg->duration_ns)
		deadline = env->launch_ns + cfg->duration_ns;
	wait_for_stop(&vm, &set, deadline, cfg->x_flip_ns ? env->launch_ns + cfg->x_flip_ns : 0);
	vm_join(&vm);
	goto out;

fail:
	vmm_log("%s", err);
	vm_request_stop(&vm, 1, VM_STOP_ERROR, err);
	vm_join(&vm);
out:
	/*
	 * The stats stream stops reading the migration's figures; QMP stops
	 * next: vm_qmp_stop() unhooks the migration's events (a migration
	 * thread's event then goes nowhere) and no command can reach the
	 * migration any more; then the migration threads end (they use the VM
	 * and the controller).  The other way round, vm_qmp_stop() wrote into
	 * the freed vm_migrate (AddressSanitizer: heap-use-after-free in
	 * vm_migrate_set_emit() at every exit with --qmp).
	 */
	if (ctl_started)
		dl_stats_set_section(&ctl, NULL);
	if (qmp)
		vm_qmp_stop(qmp, &vm);
	vm_migrate_free(mig);
	if (ctl_started)
		dl_ctrl_stop(&ctl);
	status = vm.exit_status;
	if (vm.stop_reason != VM_STOP_SIGNAL && vm.stop_reason != VM_STOP_DURATION &&
	    vm.stop_msg[0])
		vmm_log("%s", vm.stop_msg);
	/* A destination whose guest never arrived has nothing to sum up. */
	if (ran || !cfg->incoming)
		print_summary(&vm);
	vm_destroy(&vm);
	return status;
}

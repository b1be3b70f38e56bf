/* SPDX-License-Identifier: MIT */
/*
 * vm: the virtual machine object, its lifecycle and the pause protocol.
 *
 * Owned by the main thread (create, start, destroy).  vm->lock protects the
 * run state (pause requests, parked vCPUs, the stop request); vCPU threads,
 * the controller and the control socket call the functions below, which take
 * it briefly.
 */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "kvm/kvm.h"
#include "stress_abi.h"
#include "vmm/devices.h"
#include "vmm/dirty.h"
#include "dirtylimit/dl_law.h"

/* The signal that kicks a vCPU out of KVM_RUN (sent by its timer and by others). */
#define VMM_SIG_KICK SIGUSR1
/* The signal that wakes the main thread when the VM asks to stop. */
#define VMM_SIG_STOP SIGUSR2

/* Memslots. */
#define VM_SLOT_RAM   0
#define VM_SLOT_STATS 1

enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_GUEST_POWEROFF,
	VM_STOP_GUEST_HALTED,
	VM_STOP_GUEST_CRASH,
	VM_STOP_SIGNAL,
	VM_STOP_DURATION,
	VM_STOP_QMP_QUIT,
	VM_STOP_ERROR,
};

enum vm_harvester {
	VM_HARVEST_SELF = 0, /* each vCPU harvests its own ring on a timer kick */
	VM_HARVEST_SIMPLE,   /* baseline: one thread harvests every ring every 1 ms */
};

/* vCPU request bits (vcpu->requests). */
#define VCPU_REQ_PAUSE (1u << 0)
#define VCPU_REQ_STOP  (1u << 1)

struct vm;

struct vcpu {
	int index;
	struct vm *vm;
	struct kvm_vcpu kvm;
	struct dirty_vcpu dirty;
	pthread_t thread;
	bool thread_started;
	_Atomic int tid;
	timer_t timer;
	bool has_timer;

	/* Owned by the vCPU thread. */
	uint64_t ran_ns;	  /* time in KVM_RUN since the last accounting */
	uint64_t pages_seen;	  /* dirty.pages at the last accounting */
	uint64_t slice_ns;	  /* next run slice, 0 = no timer */
	struct dirty_wedge wedge; /* empty ring-full exits in a row */
	struct dl_vcpu dl;	  /* the limiter's bucket (its limit: any thread) */

	/* Written by the vCPU thread, read by anyone. */
	_Atomic uint64_t exits;
	_Atomic uint64_t kicks;
	_Atomic uint64_t ring_full_exits;
	_Atomic uint64_t sleep_ns_total;
	_Atomic uint64_t sleep_ns_max;
	_Atomic uint64_t run_ns_total;
	_Atomic bool halted;
	_Atomic bool wake; /* cut the current penalty sleep short (a new limit) */
};

struct vm_params {
	uint64_t mem_size;
	int ncpus;
	uint32_t ring_entries;
	const uint8_t *kernel;
	size_t kernel_len;
	const char *append;
	enum vm_harvester harvester;
	uint32_t harvest_delay_us;
	uint64_t tick_ns;	   /* 0 = automatic from the ring size */
	struct nbout *console_out; /* the console's sink (standard output) */
};

/* Called (from any thread, with no vm lock held) when the run state changes. */
typedef void (*vm_event_fn)(void *opaque, const char *event, enum vm_stop_reason reason);

struct vm {
	struct kvm_sys sys;
	struct kvm_vm kvm;
	uint8_t *ram;
	uint64_t ram_size;
	struct stress_stats *stats; /* the stats device (host view) */
	uint64_t stats_gpa;
	uint64_t stats_size;
	int ncpus;
	struct vcpu *vcpus;
	struct dirty_tracker dirty;
	struct dev_console console;
	uint64_t tick_ns;
	enum vm_harvester harvester;
	struct dl_params dl_params;
	pthread_t harvester_thread;
	bool harvester_started;
	pthread_t main_thread;
	/* Set by the caller of vm_start(): true when a stop is waiting (a signal). */
	bool (*start_abort)(void);

	pthread_mutex_t kick_lock; /* vcpus[].thread_started against pthread_kill */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	vm_event_fn event_fn; /* guarded by lock */
	void *event_opaque;
	_Atomic bool pause_req; /* written under lock, read anywhere */
	int parked;		/* vCPU threads parked (paused or halted) */
	bool paused;		/* the user's view: stopped by stop/pause */
	_Atomic bool stopping;
	int exit_status;
	enum vm_stop_reason stop_reason;
	char stop_msg[256];
	_Atomic bool booted; /* the guest said STRESS_REPORT_BOOTED */
	_Atomic uint64_t data_errors_reported;
};

int vm_create(struct vm *vm, const struct vm_params *p, char *err, size_t errlen);
/* Start the vCPU threads (and the baseline harvester if asked). */
int vm_start(struct vm *vm, char *err, size_t errlen);
/* Ask every thread to stop; the first request's status and reason win. */
void vm_request_stop(struct vm *vm, int status, enum vm_stop_reason reason, const char *msg);
/* Join the vCPU threads; then vm_destroy frees everything. */
void vm_join(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Who hears STOP and RESUME (any thread; NULL to stop hearing). */
void vm_set_event_fn(struct vm *vm, vm_event_fn fn, void *opaque);

/* Pause every vCPU and wait until all are parked (their rings harvested). */
int vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);

/* Set (0: cancel) the dirty limit of one vCPU or, with cpu -1, of all; takes effect at once. */
void vm_set_dirty_limit(struct vm *vm, int cpu, uint64_t pages_per_s);

/* Kick a vCPU out of KVM_RUN. */
void vm_kick(struct vm *vm, int cpu);

void vm_guest_report(struct vm *vm, int cpu, uint32_t code);
/* A vCPU executed HLT with nothing to wake it; when all have, the VM stops. */
void vm_vcpu_halted(struct vm *vm, int cpu);
const char *vm_stop_reason_name(enum vm_stop_reason r);

/* The guest's own counters, copied out of the stats device. */
int vm_guest_stats(struct vm *vm, int cpu, struct stress_cpu_stats *out);
/*
 * Reset the guest's longest stall (max_gap_tsc) of one vCPU or, with cpu -1,
 * of all, so that the next reading covers only the time since.  -ENODATA
 * before the guest has set up its stats.
 */
int vm_guest_reset_stall(struct vm *vm, int cpu /* -1 all */);
/* Guest TSC ticks to microseconds at the guest's tsc_khz; 0 if unknown. */
uint64_t vm_guest_tsc_to_us(struct vm *vm, uint64_t ticks);

/* vcpu.c */
void *vcpu_thread(void *arg);
int vcpu_signals_init(char *err, size_t errlen);

uint64_t vmm_now_ns(void);

#endif

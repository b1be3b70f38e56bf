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
#include "vmm/runstate.h"
#include "dirtylimit/dl_law.h"

/* The signal that kicks a vCPU out of KVM_RUN (sent by its timer and by others). */
#define VMM_SIG_KICK SIGUSR1
/* The signal that wakes the main thread (vm_wake_main()): the VM asks to
 * stop, or an incoming migration has ended. */
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
	VM_STOP_MIGRATED, /* the guest went to a destination (--exit-after-migration) */
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
	uint64_t throttle_ran_ns; /* run time since the last CPU-throttle sleep */
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

/*
 * What a VM is made of: all a migration destination needs to know to build
 * an empty VM that the source's memory and state fit into.
 */
struct vm_shape {
	uint64_t mem_size; /* bytes of RAM, a multiple of 4 KiB */
	int ncpus;
	uint32_t ring_entries; /* dirty ring entries per vCPU, a power of two */
	bool irqchip;	       /* in-kernel LAPICs, PICs and IOAPIC (vmm runs without) */
};

/* How far vm_create() got: vm_destroy() undoes the stages in reverse. */
enum vm_stage {
	VM_STAGE_NONE = 0,
	VM_STAGE_SYNC,	  /* locks, condition variable, console */
	VM_STAGE_KVM,	  /* /dev/kvm open */
	VM_STAGE_VM,	  /* KVM_CREATE_VM, dirty ring, irqchip */
	VM_STAGE_RAM,	  /* guest RAM mapped */
	VM_STAGE_STATS,	  /* the stats device mapped */
	VM_STAGE_SLOTS,	  /* both memslots registered */
	VM_STAGE_TRACKER, /* dirty tracker with its bitmap */
	VM_STAGE_VCPUS,	  /* vm->vcpus allocated; vm->vcpus_created of them exist */
};

struct vm_params {
	struct vm_shape shape;
	/* Local choices, not part of the shape: */
	enum vm_harvester harvester;
	uint32_t harvest_delay_us;
	uint64_t tick_ns;	   /* 0 = automatic from the ring size */
	struct nbout *console_out; /* the console's sink (standard output) */
};

/* Called (from any thread, with no vm lock held) when the run state changes. */
typedef void (*vm_event_fn)(void *opaque, const char *event, enum vm_stop_reason reason);

struct vm {
	enum vm_stage stage; /* main thread only */
	int vcpus_created;
	struct vm_shape shape;
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
	struct dev_table devs; /* filled by vm_create, read-only after */
	/*
	 * What this KVM can save and load (vm_state.c), asked once: it costs a
	 * scratch VM.  Owned by the thread that saves or loads; freed by
	 * vm_destroy.
	 */
	struct vstate_caps *state_caps;
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
	/*
	 * Held while an event is sent, taken before lock is released, so that
	 * STOP and RESUME reach the listener in the order they happened.  The
	 * listener must not take lock.
	 */
	pthread_mutex_t event_lock;
	vm_event_fn event_fn; /* guarded by lock */
	void *event_opaque;
	_Atomic bool pause_req; /* written under lock, read anywhere: some reason holds */
	int parked;		/* vCPU threads parked (paused or halted) */
	struct runstate run;	/* why paused, and whether announced; guarded by lock */
	_Atomic bool stopping;
	int exit_status;
	enum vm_stop_reason stop_reason;
	char stop_msg[256];
	_Atomic bool booted; /* the guest said STRESS_REPORT_BOOTED */
	/* A migration's CPU throttle, % (auto-converge); 0 = none.  Any thread writes. */
	_Atomic unsigned throttle_pct;
	_Atomic uint64_t data_errors_reported;
};

/*
 * Create an empty VM of p->shape: the KVM VM, its memory (RAM dirty-tracked,
 * the stats device not) and its vCPUs, which have no state yet.  Then either
 * boot_vm() (a kernel, first registers) or vm_state_load() (a migration).
 * On failure everything made so far is undone, in reverse order, and
 * vm_destroy() is a no-op; vm_destroy() may be called either way.
 */
int vm_create(struct vm *vm, const struct vm_params *p, char *err, size_t errlen);
/* Start the vCPU threads (and the baseline harvester if asked). */
int vm_start(struct vm *vm, char *err, size_t errlen);
/* Wake the main thread from its wait, to look at what changed (any thread). */
void vm_wake_main(struct vm *vm);
/* Ask every thread to stop; the first request's status and reason win. */
void vm_request_stop(struct vm *vm, int status, enum vm_stop_reason reason, const char *msg);
/* Join the vCPU threads; then vm_destroy frees everything. */
void vm_join(struct vm *vm);
/* Undo vm_create(); safe on a VM whose creation failed, and twice. */
void vm_destroy(struct vm *vm);

/* Who hears STOP and RESUME (any thread; NULL to stop hearing). */
void vm_set_event_fn(struct vm *vm, vm_event_fn fn, void *opaque);

/*
 * Pause for a reason (enum runstate_reason): every vCPU parks, its ring
 * harvested, and this returns when all are parked.  Reasons add up: the VM
 * runs again only when vm_resume() has removed every one.  STOP is sent
 * when the VM as a whole stops, RESUME when it runs again.  Returns 0,
 * -ETIMEDOUT (a vCPU did not park within VM_PAUSE_TIMEOUT_NS: this reason
 * is withdrawn), -ESHUTDOWN (the VM is stopping) or -ECANCELED (the same
 * reason was resumed meanwhile).
 */
int vm_pause(struct vm *vm, unsigned reason);
/*
 * If the VM as a whole is paused already, add reason and return true; never
 * waits (for a QMP thread that must not block on vCPUs).  False: not paused,
 * nothing done.
 */
bool vm_pause_join(struct vm *vm, unsigned reason);
/* Withdraw a reason; returns true if the VM runs now (no reason left). */
bool vm_resume(struct vm *vm, unsigned reason);
/* The VM as a whole is paused (STOP sent, RESUME not yet). */
bool vm_is_paused(struct vm *vm);
/* The reasons now held (enum runstate_reason bits). */
unsigned vm_pause_reasons(struct vm *vm);

/* Set (0: cancel) the dirty limit of one vCPU or, with cpu -1, of all; takes effect at once. */
void vm_set_dirty_limit(struct vm *vm, int cpu, uint64_t pages_per_s);
/* Switch every vCPU to another dirty limit law; takes effect at once (dl_ctrl_set_law()). */
void vm_set_dirty_limit_law(struct vm *vm, const struct dl_law *law);

/*
 * The CPU throttle of a migration (auto-converge): every vCPU sleeps pct /
 * (100 - pct) of each VM_THROTTLE_SLICE_NS it runs; 0 ends it.
 */
#define VM_THROTTLE_SLICE_NS 10000000ull
void vm_set_throttle(struct vm *vm, unsigned pct);

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

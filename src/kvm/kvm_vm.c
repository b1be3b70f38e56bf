/* SPDX-License-Identifier: MIT */
/* kvm: VM-level ioctls (create, dirty ring, memory slots). */
#include "kvm/kvm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int kvm_vm_ioctl_named(struct kvm_vm *vm, unsigned long cmd, void *arg, const char *name, char *err,
		       size_t errlen)
{
	int r = ioctl(vm->fd, cmd, arg);

	if (r < 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", name, strerror(e));
		return -e;
	}
	return r;
}

int kvm_vm_create(struct kvm_vm *vm, const struct kvm_sys *sys, char *err, size_t errlen)
{
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->sys = sys;
	r = kvm_sys_ioctl(sys, KVM_CREATE_VM, NULL, err, errlen);
	vm->fd = r < 0 ? -1 : r;
	return r < 0 ? r : 0;
}

int kvm_vm_create_irqchip(struct kvm_vm *vm, char *err, size_t errlen)
{
	int r = kvm_vm_ioctl(vm, KVM_CREATE_IRQCHIP, NULL, err, errlen);

	if (r < 0)
		return r;
	vm->irqchip = true;
	return 0;
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
}

int kvm_vm_enable_dirty_ring(struct kvm_vm *vm, uint32_t entries, char *err, size_t errlen)
{
	const struct kvm_sys *sys = vm->sys;
	uint64_t bytes = (uint64_t)entries * sizeof(struct kvm_dirty_gfn);
	struct kvm_enable_cap cap = {0};

	if (sys->ring_max_bytes == 0) {
		snprintf(err, errlen,
			 "this KVM has no dirty ring (KVM_CAP_DIRTY_LOG_RING); vmm needs it to "
			 "track dirty pages (Linux 5.11 or later)");
		return -ENOTSUP;
	}
	if (entries == 0 || (entries & (entries - 1)) || bytes > sys->ring_max_bytes) {
		snprintf(err, errlen,
			 "dirty ring size %u is not valid here: it must be a power of two of at "
			 "most %u entries",
			 entries, sys->ring_max_bytes / (uint32_t)sizeof(struct kvm_dirty_gfn));
		return -EINVAL;
	}
	cap.cap = sys->ring_acq_rel ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL : KVM_CAP_DIRTY_LOG_RING;
	cap.args[0] = bytes;
	if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0) {
		int e = errno;
		snprintf(err, errlen, "KVM_ENABLE_CAP(%s, %llu bytes): %s",
			 sys->ring_acq_rel ? "DIRTY_LOG_RING_ACQ_REL" : "DIRTY_LOG_RING",
			 (unsigned long long)bytes, strerror(e));
		return -e;
	}
	vm->ring_entries = entries;
	return 0;
}

int kvm_vm_set_memslot(struct kvm_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
		       bool log_dirty, char *err, size_t errlen)
{
	struct kvm_userspace_memory_region r = {
	    .slot = slot,
	    .flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		int e = errno;
		snprintf(err, errlen,
			 "KVM_SET_USER_MEMORY_REGION(slot %u, gpa 0x%llx, %llu bytes): %s", slot,
			 (unsigned long long)gpa, (unsigned long long)size, strerror(e));
		return -e;
	}
	return 0;
}

int kvm_vm_clear_memslot(struct kvm_vm *vm, uint32_t slot, char *err, size_t errlen)
{
	struct kvm_userspace_memory_region m = {.slot = slot};
	int r = kvm_vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &m, err, errlen);

	return r < 0 ? r : 0;
}

/*
 * With every signal blocked.  The kernel's reset (virt/kvm/dirty_ring.c,
 * kvm_dirty_ring_reset(), in recent kernels: our hosts' 6.18 has it) stops early when a signal is
 * pending, and its early return drops the batch it was gathering: entries
 * already taken off the ring (flags cleared, reset index moved on) whose
 * pages were never write-protected again.  Those pages stay writable, and
 * the guest's later writes to them make no ring entry at all: a migration
 * never sends them again (the soak's digest-mismatch; int_dirty_mirror).
 * A vCPU thread resets its own ring in its housekeeping, where kicks (its
 * slice timer, a pause, a new limit) land at any moment.  A signal blocked
 * here stays pending and is delivered when the mask comes back: the kick's
 * handler sets immediate_exit and the next KVM_RUN returns at once.
 */
int kvm_vm_reset_dirty_rings(struct kvm_vm *vm)
{
	sigset_t all, old;
	int r, e;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = ioctl(vm->fd, KVM_RESET_DIRTY_RINGS, 0);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r < 0 ? -e : r;
}

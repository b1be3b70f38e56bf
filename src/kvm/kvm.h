/* SPDX-License-Identifier: MIT */
/*
 * kvm: a thin, typed layer over the /dev/kvm ioctls.
 *
 * Every function returns 0 (or a non-negative count) on success and a
 * negative errno on failure, after writing one sentence that names the
 * failing call into the caller's error buffer.  Nothing here starts threads
 * or keeps global state.
 */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

/* The one KVM API version that has ever existed. */
#define KVM_API_VERSION_EXPECTED 12

struct kvm_sys {
	int fd;
	int max_vcpus;		  /* KVM_CAP_MAX_VCPUS (or NR_VCPUS) */
	uint32_t ring_max_bytes;  /* largest dirty ring, 0 if unsupported */
	bool ring_acq_rel;	  /* KVM_CAP_DIRTY_LOG_RING_ACQ_REL offered */
	int vcpu_mmap_size;	  /* bytes of struct kvm_run mapping */
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID, heap */
};

struct kvm_vm {
	int fd; /* -1 until created */
	const struct kvm_sys *sys;
	uint32_t ring_entries; /* dirty ring entries per vCPU */
	bool irqchip;	       /* KVM_CREATE_IRQCHIP done */
};

struct kvm_vcpu {
	int fd; /* -1 until created */
	int index;
	struct kvm_run *run; /* mmap of the vCPU fd */
	size_t run_size;
	struct kvm_dirty_gfn *ring; /* mmap of the dirty ring */
	size_t ring_bytes;
};

/*
 * One ioctl with its error message: the name of the request is spelled by
 * the compiler (#cmd, as the KVM selftests do), so a message always names
 * the call that failed.  Returns what the ioctl returned (>= 0), or -errno
 * after writing "NAME on vCPU i: strerror" (or "NAME: strerror") to err.
 */
int kvm_sys_ioctl_named(const struct kvm_sys *sys, unsigned long cmd, void *arg, const char *name,
			char *err, size_t errlen);
int kvm_vm_ioctl_named(struct kvm_vm *vm, unsigned long cmd, void *arg, const char *name, char *err,
		       size_t errlen);
int kvm_vcpu_ioctl_named(struct kvm_vcpu *vcpu, unsigned long cmd, void *arg, const char *name,
			 char *err, size_t errlen);
#define kvm_sys_ioctl(sys, cmd, arg, err, errlen)                                                  \
	kvm_sys_ioctl_named((sys), (cmd), (arg), #cmd, (err), (errlen))
#define kvm_vm_ioctl(vm, cmd, arg, err, errlen)                                                    \
	kvm_vm_ioctl_named((vm), (cmd), (arg), #cmd, (err), (errlen))
#define kvm_vcpu_ioctl(vcpu, cmd, arg, err, errlen)                                                \
	kvm_vcpu_ioctl_named((vcpu), (cmd), (arg), #cmd, (err), (errlen))

/* sys->fd is -1 after a failure and after kvm_close(). */
int kvm_open(struct kvm_sys *sys, const char *path, char *err, size_t errlen);
void kvm_close(struct kvm_sys *sys);
int kvm_check_cap(const struct kvm_sys *sys, long cap);

/* vm->fd is -1 after a failure and after kvm_vm_destroy(). */
int kvm_vm_create(struct kvm_vm *vm, const struct kvm_sys *sys, char *err, size_t errlen);
void kvm_vm_destroy(struct kvm_vm *vm);
/* The in-kernel LAPICs, PICs and IOAPIC; before any vCPU exists. */
int kvm_vm_create_irqchip(struct kvm_vm *vm, char *err, size_t errlen);
/* Must be called before any vCPU exists; entries is a power of two. */
int kvm_vm_enable_dirty_ring(struct kvm_vm *vm, uint32_t entries, char *err, size_t errlen);
int kvm_vm_set_memslot(struct kvm_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
		       bool log_dirty, char *err, size_t errlen);
/* Remove a memslot (size 0). */
int kvm_vm_clear_memslot(struct kvm_vm *vm, uint32_t slot, char *err, size_t errlen);
/*
 * KVM_RESET_DIRTY_RINGS with every signal blocked (a signal makes the kernel
 * drop part of the reset: see kvm_vm.c): the number of entries reset, or -errno.
 */
int kvm_vm_reset_dirty_rings(struct kvm_vm *vm);

/* vcpu->fd is -1 after a failure (nothing is left mapped) and after kvm_vcpu_destroy(). */
int kvm_vcpu_create(struct kvm_vcpu *vcpu, struct kvm_vm *vm, int index, char *err, size_t errlen);
void kvm_vcpu_destroy(struct kvm_vcpu *vcpu);
int kvm_vcpu_set_cpuid(struct kvm_vcpu *vcpu, const struct kvm_sys *sys, char *err, size_t errlen);
int kvm_vcpu_get_regs(struct kvm_vcpu *vcpu, struct kvm_regs *regs, char *err, size_t errlen);
int kvm_vcpu_set_regs(struct kvm_vcpu *vcpu, const struct kvm_regs *regs, char *err, size_t errlen);
int kvm_vcpu_get_sregs(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs, char *err, size_t errlen);
int kvm_vcpu_set_sregs(struct kvm_vcpu *vcpu, const struct kvm_sregs *sregs, char *err,
		       size_t errlen);
int kvm_vcpu_set_mp_state(struct kvm_vcpu *vcpu, uint32_t mp_state, char *err, size_t errlen);
/* Guest TSC frequency in kHz, or -errno. */
int kvm_vcpu_tsc_khz(struct kvm_vcpu *vcpu);
/* KVM_RUN: 0 on an exit to handle, -EINTR on a kick, other -errno on failure. */
int kvm_vcpu_run(struct kvm_vcpu *vcpu);

#endif

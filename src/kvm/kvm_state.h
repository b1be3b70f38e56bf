/* SPDX-License-Identifier: MIT */
/*
 * kvm_state: a vCPU's and a VM's state between KVM and the plain structs of
 * vmm/vstate.h.  Only ioctls and field copies: what the state means and what
 * is valid is vstate's business, and every struct handed to a put function
 * here has been checked there first.  The vCPU must not be in KVM_RUN.
 */
#ifndef VMM_KVM_STATE_H
#define VMM_KVM_STATE_H

#include "kvm/kvm.h"
#include "vmm/vstate.h"

/* What this KVM can load (vstate_caps), asked of the VM and its first vCPU. */
int kvm_state_caps(struct kvm_vm *vm, struct kvm_vcpu *vcpu0, uint32_t ncpus,
		   struct vstate_caps *caps, char *err, size_t errlen);

/*
 * Read every part of a vCPU's state (VSTATE_PARTS_BASE, and the LAPIC with
 * an irqchip).  MSRs: those of caps->msrs that this vCPU lets us read,
 * except the TSC, which is read with the host's CLOCK_REALTIME right after.
 * mp.vmm_flags is the caller's to fill.
 */
int kvm_state_get_vcpu(struct kvm_vcpu *vcpu, const struct vstate_caps *caps,
		       struct vstate_vcpu *out, char *err, size_t errlen);
/*
 * Load the parts named in `parts` (VSTATE_PART_BIT()s; all of them except
 * for tests) in the order KVM needs: sregs, the TSC (set to tsc_target),
 * MSRs, XCRs, XSAVE, events, mp_state, LAPIC, the TSC deadline, debug
 * registers, general registers.
 */
int kvm_state_put_vcpu(struct kvm_vcpu *vcpu, const struct vstate_caps *caps,
		       const struct vstate_vcpu *in, uint32_t parts, uint64_t tsc_target, char *err,
		       size_t errlen);
/*
 * The guest's TSC and CLOCK_REALTIME are read as a pair, the clock right
 * after the TSC; a pair whose clock reads around the TSC read lie further
 * apart than KVM_STATE_TSC_PAIR_NS (the thread preempted, the ioctl slow)
 * is read again, up to KVM_STATE_TSC_PAIR_TRIES times (then the tightest
 * is taken).  So a saved pair is off by at most 50 us: a whole pair takes
 * 3-4 us here (plain build), ten times that still leaves room for a
 * sanitizer (docs/vm-state.md, "The TSC").
 */
#define KVM_STATE_TSC_PAIR_NS	 50000ull
#define KVM_STATE_TSC_PAIR_TRIES 10
/* The guest's TSC now, and the host's CLOCK_REALTIME right after reading it. */
int kvm_state_read_tsc(struct kvm_vcpu *vcpu, uint64_t *tsc, uint64_t *realtime_ns, char *err,
		       size_t errlen);
int kvm_state_set_tsc_khz(struct kvm_vcpu *vcpu, uint32_t khz, char *err, size_t errlen);

int kvm_state_get_clock(struct kvm_vm *vm, struct vstate_clock *c, char *err, size_t errlen);
int kvm_state_put_clock(struct kvm_vm *vm, uint64_t clock_ns, char *err, size_t errlen);
int kvm_state_get_irqchip(struct kvm_vm *vm, uint32_t chip, struct vstate_irqchip *c, char *err,
			  size_t errlen);
int kvm_state_put_irqchip(struct kvm_vm *vm, const struct vstate_irqchip *c, char *err,
			  size_t errlen);

/* CLOCK_REALTIME in ns: the time base of the TSC rule. */
uint64_t kvm_state_realtime_ns(void);

#endif

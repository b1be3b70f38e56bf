/* SPDX-License-Identifier: MIT */
/*
 * vm_state: the whole state of a VM's vCPUs, VM-wide KVM state and devices,
 * as a list of sections (id, instance, version, bytes; layouts in
 * vmm/vstate.h and docs/vm-state.md).  Guest RAM is not in it: it travels
 * on its own.  Main thread (or the migration thread), while no vCPU runs.
 */
#ifndef VMM_VM_STATE_H
#define VMM_VM_STATE_H

#include <stddef.h>
#include <stdint.h>

struct vm;

struct vm_state_section {
	uint32_t id;	   /* VSTATE_SEC_* */
	uint32_t instance; /* vCPU index, irqchip number, or 0 */
	uint32_t version;
	uint32_t len;
	uint8_t *data; /* heap, owned by the list */
};

struct vm_state {
	struct vm_state_section *sec;
	size_t n, cap;
};

void vm_state_init(struct vm_state *s);
void vm_state_free(struct vm_state *s);
/* Append a section; takes data (heap) over, also on failure. */
int vm_state_add(struct vm_state *s, uint32_t id, uint32_t instance, uint32_t version,
		 uint8_t *data, uint32_t len);
const struct vm_state_section *vm_state_find(const struct vm_state *s, uint32_t id,
					     uint32_t instance);

/*
 * Ask this KVM once what it can save and load (a scratch VM probes the
 * MSRs), so that a save or load in a migration's stop-and-copy does not
 * pay for it.  vm_state_save() and vm_state_load() call it if nobody has.
 */
int vm_state_prepare(struct vm *vm, char *err, size_t errlen);

/*
 * Save everything: every vCPU's parts, kvmclock, the irqchip if there is
 * one, every device with state.  The VM must be paused (vm_pause()) or
 * never started.
 */
int vm_state_save(struct vm *vm, struct vm_state *out, char *err, size_t errlen);

/*
 * Load a saved state into a VM of the same shape, created and not started
 * (or paused).  First every section is decoded and checked against what
 * this VM and this KVM can take, and every part every vCPU needs must be
 * there; only then is anything loaded.  The TSC rule: each vCPU's TSC is
 * set to its saved value plus the real time elapsed since, and must land
 * there (VM_STATE_TSC_SLACK_NS), or the load fails.
 */
int vm_state_load(struct vm *vm, const struct vm_state *in, char *err, size_t errlen);
/*
 * vm_state_load()'s first step alone: decode and check every section
 * against this VM and this KVM, and that every section it needs is there;
 * load nothing.  A destination runs exactly this on the
 * bytes a source sent before any of them reaches KVM or a device.
 */
int vm_state_check(struct vm *vm, const struct vm_state *in, char *err, size_t errlen);
/* The same, loading only the vCPU parts in vcpu_parts (tests: what if one is left out). */
int vm_state_load_parts(struct vm *vm, const struct vm_state *in, uint32_t vcpu_parts, char *err,
			size_t errlen);

#endif

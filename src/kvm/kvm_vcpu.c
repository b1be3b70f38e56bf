/* SPDX-License-Identifier: MIT */
/* kvm: vCPU-level ioctls (create, map, registers, run). */
#include "kvm/kvm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int kvm_vcpu_create(struct kvm_vcpu *vcpu, struct kvm_vm *vm, int index, char *err, size_t errlen)
{
	const struct kvm_sys *sys = vm->sys;
	void *p;
	int e;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->index = index;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		e = errno;
		vcpu->fd = -1;
		snprintf(err, errlen, "KVM_CREATE_VCPU(%d): %s", index, strerror(e));
		return -e;
	}
	vcpu->run_size = (size_t)sys->vcpu_mmap_size;
	p = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (p == MAP_FAILED) {
		e = errno;
		snprintf(err, errlen, "mmap of vCPU %d's kvm_run: %s", index, strerror(e));
		goto err_close;
	}
	vcpu->run = p;
	if (vm->ring_entries) {
		long page = sysconf(_SC_PAGESIZE);

		vcpu->ring_bytes = (size_t)vm->ring_entries * sizeof(struct kvm_dirty_gfn);
		p = mmap(NULL, vcpu->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd,
			 (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * page);
		if (p == MAP_FAILED) {
			e = errno;
			snprintf(err, errlen, "mmap of vCPU %d's dirty ring: %s", index,
				 strerror(e));
			goto err_unmap;
		}
		vcpu->ring = p;
	}
	return 0;

err_unmap:
	munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
err_close:
	close(vcpu->fd);
	vcpu->fd = -1;
	return -e;
}

void kvm_vcpu_destroy(struct kvm_vcpu *vcpu)
{
	if (vcpu->ring)
		munmap(vcpu->ring, vcpu->ring_bytes);
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->ring = NULL;
	vcpu->run = NULL;
	vcpu->fd = -1;
}

int kvm_vcpu_ioctl_named(struct kvm_vcpu *vcpu, unsigned long cmd, void *arg, const char *name,
			 char *err, size_t errlen)
{
	int r = ioctl(vcpu->fd, cmd, arg);

	if (r < 0) {
		int e = errno;

		snprintf(err, errlen, "%s on vCPU %d: %s", name, vcpu->index, strerror(e));
		return -e;
	}
	return r;
}

/* For the calls whose success is 0. */
static int zero_or_err(int r)
{
	return r < 0 ? r : 0;
}

int kvm_vcpu_set_cpuid(struct kvm_vcpu *vcpu, const struct kvm_sys *sys, char *err, size_t errlen)
{
	struct kvm_cpuid2 *c = sys->cpuid;

	/* Give each vCPU its own APIC ID in leaf 1 and leaf 0xb. */
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffffu) | ((uint32_t)vcpu->index << 24);
		if (e->function == 0xb)
			e->edx = (uint32_t)vcpu->index;
	}
	return zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_CPUID2, c, err, errlen));
}

int kvm_vcpu_get_regs(struct kvm_vcpu *vcpu, struct kvm_regs *regs, char *err, size_t errlen)
{
	return zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_GET_REGS, regs, err, errlen));
}

int kvm_vcpu_set_regs(struct kvm_vcpu *vcpu, const struct kvm_regs *regs, char *err, size_t errlen)
{
	return zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_REGS, (void *)regs, err, errlen));
}

int kvm_vcpu_get_sregs(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs, char *err, size_t errlen)
{
	return zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_GET_SREGS, sregs, err, errlen));
}

int kvm_vcpu_set_sregs(struct kvm_vcpu *vcpu, const struct kvm_sregs *sregs, char *err,
		       size_t errlen)
{
	return zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_SREGS, (void *)sregs, err, errlen));
}

int kvm_vcpu_set_mp_state(struct kvm_vcpu *vcpu, uint32_t mp_state, char *err, size_t errlen)
{
	struct kvm_mp_state mp = {.mp_state = mp_state};

	return zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_MP_STATE, &mp, err, errlen));
}

int kvm_vcpu_tsc_khz(struct kvm_vcpu *vcpu)
{
	int r = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	return r < 0 ? -errno : r;
}

int kvm_vcpu_run(struct kvm_vcpu *vcpu)
{
	if (ioctl(vcpu->fd, KVM_RUN, 0) < 0)
		return -errno;
	return 0;
}

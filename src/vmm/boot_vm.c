/* SPDX-License-Identifier: MIT */
#include "vmm/boot_vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/boot.h"
#include "vmm/loader.h"
#include "vmm/mdesc.h"
#include "vmm/vm.h"

uint64_t boot_stats_gpa(uint64_t mem_size)
{
	return (mem_size + BOOT_STATS_ALIGN - 1) & ~(BOOT_STATS_ALIGN - 1);
}

static void to_kvm_seg(struct kvm_segment *k, const struct boot_segment *b)
{
	k->base = b->base;
	k->limit = b->limit;
	k->selector = b->selector;
	k->type = b->type;
	k->present = b->present;
	k->dpl = b->dpl;
	k->db = b->db;
	k->s = b->s;
	k->l = b->l;
	k->g = b->g;
	k->avl = b->avl;
	k->unusable = b->unusable;
}

static void to_kvm_sregs(struct kvm_sregs *k, const struct boot_sregs *b)
{
	to_kvm_seg(&k->cs, &b->cs);
	to_kvm_seg(&k->ds, &b->ds);
	to_kvm_seg(&k->es, &b->es);
	to_kvm_seg(&k->fs, &b->fs);
	to_kvm_seg(&k->gs, &b->gs);
	to_kvm_seg(&k->ss, &b->ss);
	to_kvm_seg(&k->tr, &b->tr);
	to_kvm_seg(&k->ldt, &b->ldt);
	k->gdt.base = b->gdt.base;
	k->gdt.limit = b->gdt.limit;
	k->idt.base = b->idt.base;
	k->idt.limit = b->idt.limit;
	k->cr0 = b->cr0;
	k->cr2 = b->cr2;
	k->cr3 = b->cr3;
	k->cr4 = b->cr4;
	k->cr8 = b->cr8;
	k->efer = b->efer;
}

static void to_kvm_regs(struct kvm_regs *k, const struct boot_regs *b)
{
	memset(k, 0, sizeof(*k));
	k->rip = b->rip;
	k->rsp = b->rsp;
	k->rflags = b->rflags;
	k->rax = b->rax;
	k->rbx = b->rbx;
	k->rdi = b->rdi;
	k->rsi = b->rsi;
}

static int start_vcpu(struct vcpu *v, const struct boot_info *bi, const struct loader_image *li,
		      char *err, size_t errlen)
{
	struct boot_sregs bs;
	struct boot_regs br;
	struct kvm_sregs ks;
	struct kvm_regs kr;
	int r;

	if (v->index > 0 && !li->has_ap_entry) {
		/* The kernel cannot take more vCPUs: this one never runs. */
		atomic_store(&v->halted, true);
		return 0;
	}
	if (v->vm->kvm.irqchip) {
		/* An in-kernel LAPIC holds APs for INIT/SIPI; we start them ourselves. */
		r = kvm_vcpu_set_mp_state(&v->kvm, KVM_MP_STATE_RUNNABLE, err, errlen);
		if (r < 0)
			return r;
	}
	r = kvm_vcpu_get_sregs(&v->kvm, &ks, err, errlen);
	if (r < 0)
		return r;
	if (v->index == 0)
		boot_bsp_state(bi, li->entry, &bs, &br);
	else
		boot_ap_state(bi, li->ap_entry, (unsigned)v->index, &bs, &br);
	to_kvm_sregs(&ks, &bs);
	to_kvm_regs(&kr, &br);
	r = kvm_vcpu_set_sregs(&v->kvm, &ks, err, errlen);
	if (r < 0)
		return r;
	return kvm_vcpu_set_regs(&v->kvm, &kr, err, errlen);
}

int boot_vm(struct vm *vm, const struct vm_kernel *k, char *err, size_t errlen)
{
	/* Main thread only, during set-up; libfdt wants 8-byte alignment. */
	static uint8_t fdt[BOOT_FDT_MAX] __attribute__((aligned(8)));
	struct loader_image li;
	struct boot_params bp;
	struct boot_info bi;
	struct mdesc md;
	int tsc_khz, r;

	r = loader_parse(k->image, k->len, vm->ram_size, &li, err, errlen);
	if (r < 0)
		return r;
	r = loader_copy(&li, k->image, vm->ram, vm->ram_size);
	if (r < 0) {
		snprintf(err, errlen, "the kernel does not fit in guest memory");
		return r;
	}
	tsc_khz = kvm_vcpu_tsc_khz(&vm->vcpus[0].kvm);
	memset(&md, 0, sizeof(md));
	md.mem_size = vm->ram_size;
	md.ncpus = (unsigned)vm->ncpus;
	md.bootargs = k->append;
	md.tsc_khz = tsc_khz > 0 ? (uint32_t)tsc_khz : 0;
	md.stats_gpa = vm->stats_gpa;
	md.stats_size = vm->stats_size;
	md.dirty_ring_entries = vm->kvm.ring_entries;
	r = mdesc_build(fdt, sizeof(fdt), &md, err, errlen);
	if (r < 0)
		return r;
	bp.cmdline = k->append;
	bp.fdt = fdt;
	bp.fdt_size = mdesc_size(fdt);
	r = boot_setup(vm->ram, vm->ram_size, &bp, &bi, err, errlen);
	if (r < 0)
		return r;
	for (int i = 0; i < vm->ncpus; i++) {
		r = start_vcpu(&vm->vcpus[i], &bi, &li, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

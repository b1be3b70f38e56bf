/* SPDX-License-Identifier: MIT */
/* vm_state: save and load of a VM's vCPU, KVM and device state (see vm_state.h). */
#include "vmm/vm_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/kvm_state.h"
#include "vmm/vm.h"
#include "vmm/vstate.h"

/*
 * How far a loaded TSC may land from where the TSC rule puts it.  The
 * clock is read right before the TSC write and right after it, and again
 * around the TSC read of the check: KVM took the host's TSC somewhere
 * inside each of those two windows, so the landing is off by at most their
 * lengths, which are measured at every load (a thread preempted there
 * widens its own window and is not refused for it).  The saved pair (TSC,
 * clock) is off by at most KVM_STATE_TSC_PAIR_NS (kvm_state_read_tsc()
 * reads it again when it is not).  On top of those: this constant, for
 * what none of them covers (clock_gettime()'s granularity, the rounding of
 * the TSC rate to kHz; measured, the landing never exceeded the windows:
 * docs/vm-state.md, "The TSC"), and the drift of CLOCK_REALTIME against
 * the TSC while NTP slews it (at most 500 ppm, so 1 part in 1000 of the
 * time elapsed).  A KVM that ignores the write lands seconds off on
 * another host.
 */
#define VM_STATE_TSC_SLACK_NS	   100000ull
#define VM_STATE_TSC_SLACK_PER_MIL 1ull

/* First allocation of the section list: a 2-vCPU VM has 24 sections. */
#define VM_STATE_MIN_SECTIONS 32

void vm_state_init(struct vm_state *s)
{
	memset(s, 0, sizeof(*s));
}

void vm_state_free(struct vm_state *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->sec[i].data);
	free(s->sec);
	vm_state_init(s);
}

int vm_state_add(struct vm_state *s, uint32_t id, uint32_t instance, uint32_t version,
		 uint8_t *data, uint32_t len)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : VM_STATE_MIN_SECTIONS;
		struct vm_state_section *n = realloc(s->sec, cap * sizeof(*n));

		if (!n) {
			free(data);
			return -ENOMEM;
		}
		s->sec = n;
		s->cap = cap;
	}
	s->sec[s->n++] = (struct vm_state_section){id, instance, version, len, data};
	return 0;
}

const struct vm_state_section *vm_state_find(const struct vm_state *s, uint32_t id,
					     uint32_t instance)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->sec[i].id == id && s->sec[i].instance == instance)
			return &s->sec[i];
	return NULL;
}

static int add_wire(struct vm_state *s, uint32_t id, uint32_t instance, struct wire_out *w,
		    char *err, size_t errlen)
{
	size_t len;
	uint8_t *b = wire_out_take(w, &len);

	/* vm_state_add() frees b if it fails. */
	if (!b || vm_state_add(s, id, instance, VSTATE_VERSION, b, (uint32_t)len) < 0) {
		snprintf(err, errlen, "out of memory saving the VM state");
		return -ENOMEM;
	}
	return 0;
}

/* No vCPU is in KVM_RUN: the VM is paused, or its threads never started. */
static bool vcpus_quiet(struct vm *vm)
{
	bool quiet;

	if (vm_is_paused(vm))
		return true;
	pthread_mutex_lock(&vm->kick_lock);
	quiet = true;
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].thread_started)
			quiet = false;
	pthread_mutex_unlock(&vm->kick_lock);
	return quiet;
}

int vm_state_prepare(struct vm *vm, char *err, size_t errlen)
{
	struct vstate_caps *caps;
	int r;

	if (vm->state_caps)
		return 0;
	caps = malloc(sizeof(*caps));
	if (!caps) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = kvm_state_caps(&vm->kvm, &vm->vcpus[0].kvm, (uint32_t)vm->ncpus, caps, err, errlen);
	if (r < 0) {
		free(caps);
		return r;
	}
	vm->state_caps = caps;
	return 0;
}

static int save_vcpu(struct vm *vm, int i, const struct vstate_caps *caps, struct vstate_vcpu *v,
		     struct vm_state *out, char *err, size_t errlen)
{
	struct vcpu *vc = &vm->vcpus[i];
	int r;

	/*
	 * KVM finishes an I/O exit (the IN's data, RIP past the instruction)
	 * only at the next KVM_RUN.  A vCPU never parks right after one: its
	 * thread goes straight back into KVM_RUN after port and MMIO exits
	 * (vcpu.c) and parks only after a KVM_RUN that returned otherwise, by
	 * which time the I/O is complete (even if that KVM_RUN returned at once
	 * for a kick, leaving kvm_run->exit_reason at KVM_EXIT_IO).
	 */
	r = kvm_state_get_vcpu(&vc->kvm, caps, v, err, errlen);
	if (r < 0)
		return r;
	v->mp.vmm_flags = atomic_load(&vc->halted) ? VSTATE_MP_HALTED : 0;
	for (unsigned p = 0; p < VSTATE_NPARTS; p++) {
		struct wire_out w;

		if (!(v->parts & VSTATE_PART_BIT(p)))
			continue;
		wire_out_init(&w);
		vstate_vcpu_encode(v, p, &w);
		r = add_wire(out, VSTATE_SEC_VCPU(p), (uint32_t)i, &w, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

int vm_state_save(struct vm *vm, struct vm_state *out, char *err, size_t errlen)
{
	struct vstate_vcpu *v = malloc(sizeof(*v));
	struct vstate_clock clk;
	struct wire_out w;
	int r;

	vm_state_init(out);
	if (!v) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto done;
	}
	if (!vcpus_quiet(vm)) {
		snprintf(err, errlen, "the VM must be paused to save its state");
		r = -EBUSY;
		goto done;
	}
	r = vm_state_prepare(vm, err, errlen);
	for (int i = 0; r == 0 && i < vm->ncpus; i++)
		r = save_vcpu(vm, i, vm->state_caps, v, out, err, errlen);
	if (r == 0)
		r = kvm_state_get_clock(&vm->kvm, &clk, err, errlen);
	if (r == 0) {
		wire_out_init(&w);
		vstate_clock_encode(&clk, &w);
		r = add_wire(out, VSTATE_SEC_CLOCK, 0, &w, err, errlen);
	}
	for (uint32_t c = 0; r == 0 && vm->kvm.irqchip && c < VSTATE_NCHIPS; c++) {
		struct vstate_irqchip chip;

		r = kvm_state_get_irqchip(&vm->kvm, c, &chip, err, errlen);
		if (r == 0) {
			wire_out_init(&w);
			vstate_irqchip_encode(&chip, &w);
			r = add_wire(out, VSTATE_SEC_IRQCHIP, c, &w, err, errlen);
		}
	}
	for (int d = 0; r == 0 && d < vm->devs.n; d++) {
		const struct dev_ops *dev = vm->devs.dev[d];

		if (!dev->section)
			continue;
		wire_out_init(&w);
		dev->save(vm, &w);
		r = add_wire(out, dev->section, 0, &w, err, errlen);
	}
done:
	if (r < 0)
		vm_state_free(out);
	free(v);
	return r;
}

/* Everything decoded and checked, ready to load. */
struct loaded {
	const struct vstate_caps *caps;
	struct vstate_clock clock;
	bool have_clock;
	struct vstate_irqchip chip[VSTATE_NCHIPS];
	uint32_t chips;		/* bit per chip present */
	uint32_t devs;		/* bit per device table entry present */
	struct vstate_vcpu v[]; /* one per vCPU */
};

static int check_section(struct vm *vm, struct loaded *l, const struct vm_state_section *s,
			 char *err, size_t errlen)
{
	char name[48];

	vstate_section_name(s->id, name, sizeof(name));
	if (s->len > vstate_section_max(s->id) && vstate_section_max(s->id)) {
		snprintf(err, errlen, "%s: %u bytes, at most %zu", name, s->len,
			 vstate_section_max(s->id));
		return -EINVAL;
	}
	if (s->id >= VSTATE_SEC_VCPU_BASE && s->id < VSTATE_SEC_VCPU(VSTATE_NPARTS)) {
		if (s->instance >= (uint32_t)vm->ncpus) {
			snprintf(err, errlen, "%s for vCPU %u: this VM has %d vCPUs", name,
				 s->instance, vm->ncpus);
			return -EINVAL;
		}
		return vstate_vcpu_decode(&l->v[s->instance], l->caps, s->instance, s->id,
					  s->version, s->data, s->len, err, errlen);
	}
	if (s->id == VSTATE_SEC_CLOCK) {
		if (l->have_clock || s->instance) {
			snprintf(err, errlen, "%s: instance %u, or appears twice", name,
				 s->instance);
			return -EINVAL;
		}
		l->have_clock = true;
		return vstate_clock_decode(&l->clock, s->version, s->data, s->len, err, errlen);
	}
	if (s->id == VSTATE_SEC_IRQCHIP) {
		if (!l->caps->irqchip) {
			snprintf(err, errlen, "%s: this VM has no in-kernel irqchip", name);
			return -EINVAL;
		}
		if (s->instance < VSTATE_NCHIPS && (l->chips & (1u << s->instance))) {
			snprintf(err, errlen, "%s %u appears twice", name, s->instance);
			return -EINVAL;
		}
		if (vstate_irqchip_decode(&l->chip[s->instance < VSTATE_NCHIPS ? s->instance : 0],
					  s->instance, s->version, s->data, s->len, err,
					  errlen) < 0)
			return -EINVAL;
		l->chips |= 1u << s->instance;
		return 0;
	}
	for (int d = 0; d < vm->devs.n; d++) {
		const struct dev_ops *dev = vm->devs.dev[d];

		if (!dev->section || dev->section != s->id)
			continue;
		if (s->instance || (l->devs & (1u << d))) {
			snprintf(err, errlen, "%s: instance %u, or appears twice", name,
				 s->instance);
			return -EINVAL;
		}
		l->devs |= 1u << d;
		return dev->load(vm, s->data, s->len, s->version, false, err, errlen);
	}
	snprintf(err, errlen, "%s: not a section this vmm knows", name);
	return -EINVAL;
}

static int check_complete(struct vm *vm, const struct loaded *l, char *err, size_t errlen)
{
	for (int i = 0; i < vm->ncpus; i++) {
		int r = vstate_vcpu_complete(&l->v[i], l->caps, (uint32_t)i, err, errlen);

		if (r < 0)
			return r;
	}
	if (!l->have_clock) {
		snprintf(err, errlen, "the kvmclock section is missing");
		return -EINVAL;
	}
	if (l->caps->irqchip && l->chips != (1u << VSTATE_NCHIPS) - 1) {
		snprintf(err, errlen, "an irqchip section is missing");
		return -EINVAL;
	}
	for (int d = 0; d < vm->devs.n; d++) {
		if (vm->devs.dev[d]->section && !(l->devs & (1u << d))) {
			snprintf(err, errlen, "the %s device's section is missing",
				 vm->devs.dev[d]->name);
			return -EINVAL;
		}
	}
	return 0;
}

static uint64_t ns_to_ticks(uint64_t ns, uint32_t khz)
{
	return (uint64_t)((unsigned __int128)ns * khz / 1000000u);
}

/* Load one vCPU, then check that its TSC landed where the rule puts it. */
static int load_vcpu(struct vm *vm, int i, const struct loaded *l, uint32_t parts, char *err,
		     size_t errlen)
{
	const struct vstate_vcpu *v = &l->v[i];
	struct kvm_vcpu *k = &vm->vcpus[i].kvm;
	const uint32_t sregs = VSTATE_PART_BIT(VSTATE_PART_SREGS),
		       tscp = VSTATE_PART_BIT(VSTATE_PART_TSC);
	uint64_t tsc, now, want, off, slack, elapsed, t0, t1, t2;
	int r;

	if ((parts & tscp) && v->tsc.tsc_khz != l->caps->tsc_khz) {
		r = kvm_state_set_tsc_khz(k, v->tsc.tsc_khz, err, errlen);
		if (r < 0)
			return r;
	}
	/* KVM's order (kvm_state_put_vcpu()): sregs, the TSC, then the rest. */
	r = kvm_state_put_vcpu(k, l->caps, v, parts & sregs, 0, err, errlen);
	/* The clock read and the TSC write side by side, the window between them measured. */
	t0 = kvm_state_realtime_ns();
	if (r == 0 && (parts & tscp))
		r = kvm_state_put_vcpu(k, l->caps, v, tscp, vstate_tsc_at(&v->tsc, t0), err,
				       errlen);
	t1 = kvm_state_realtime_ns();
	if (r == 0)
		r = kvm_state_put_vcpu(k, l->caps, v, parts & ~(sregs | tscp), 0, err, errlen);
	if (r < 0)
		return r;
	if (parts & VSTATE_PART_BIT(VSTATE_PART_MP))
		atomic_store(&vm->vcpus[i].halted, (v->mp.vmm_flags & VSTATE_MP_HALTED) != 0);
	if (!(parts & tscp))
		return 0;
	t2 = kvm_state_realtime_ns();
	r = kvm_state_read_tsc(k, &tsc, &now, err, errlen);
	if (r < 0)
		return r;
	want = vstate_tsc_at(&v->tsc, now);
	off = tsc > want ? tsc - want : want - tsc;
	elapsed = now > v->tsc.realtime_ns ? now - v->tsc.realtime_ns : 0;
	slack =
	    ns_to_ticks(VM_STATE_TSC_SLACK_NS + KVM_STATE_TSC_PAIR_NS + (t1 > t0 ? t1 - t0 : 0) +
			    (now > t2 ? now - t2 : 0) + elapsed / 1000 * VM_STATE_TSC_SLACK_PER_MIL,
			v->tsc.tsc_khz);
	if (off > slack) {
		snprintf(err, errlen,
			 "vCPU %d: the guest's TSC landed %s%llu us from where it should continue "
			 "(this KVM did not take the TSC write; on kvm-pvm the guest's TSC is the "
			 "host's)",
			 i, tsc > want ? "+" : "-",
			 (unsigned long long)((unsigned __int128)off * 1000 / v->tsc.tsc_khz));
		return -EIO;
	}
	return 0;
}

/* Decode and check every section into l, and that none is missing; load nothing. */
static int check_all(struct vm *vm, struct loaded *l, const struct vm_state *in, char *err,
		     size_t errlen)
{
	int r = vm_state_prepare(vm, err, errlen);

	l->caps = vm->state_caps;
	for (size_t i = 0; r == 0 && i < in->n; i++)
		r = check_section(vm, l, &in->sec[i], err, errlen);
	if (r == 0)
		r = check_complete(vm, l, err, errlen);
	return r;
}

static struct loaded *loaded_new(struct vm *vm, char *err, size_t errlen)
{
	struct loaded *l = calloc(1, sizeof(*l) + (size_t)vm->ncpus * sizeof(l->v[0]));

	if (!l)
		snprintf(err, errlen, "out of memory");
	return l;
}

int vm_state_check(struct vm *vm, const struct vm_state *in, char *err, size_t errlen)
{
	struct loaded *l = loaded_new(vm, err, errlen);
	int r;

	if (!l)
		return -ENOMEM;
	r = check_all(vm, l, in, err, errlen);
	free(l);
	return r;
}

int vm_state_load_parts(struct vm *vm, const struct vm_state *in, uint32_t vcpu_parts, char *err,
			size_t errlen)
{
	struct loaded *l = loaded_new(vm, err, errlen);
	int r;

	if (!l)
		return -ENOMEM;
	if (!vcpus_quiet(vm)) {
		snprintf(err, errlen, "the VM must be paused or not started to load a state");
		r = -EBUSY;
		goto done;
	}
	/* 1. Check everything; nothing is loaded yet. */
	r = check_all(vm, l, in, err, errlen);
	if (r < 0)
		goto done;

	/* 2. Load: devices, the VM-wide chips and clock, then each vCPU. */
	for (size_t i = 0; r == 0 && i < in->n; i++) {
		const struct dev_ops *dev = dev_by_section(&vm->devs, in->sec[i].id);

		if (dev)
			r = dev->load(vm, in->sec[i].data, in->sec[i].len, in->sec[i].version, true,
				      err, errlen);
	}
	for (uint32_t c = 0; r == 0 && l->caps->irqchip && c < VSTATE_NCHIPS; c++)
		r = kvm_state_put_irqchip(&vm->kvm, &l->chip[c], err, errlen);
	if (r == 0)
		r = kvm_state_put_clock(
		    &vm->kvm, vstate_clock_at(&l->clock, kvm_state_realtime_ns()), err, errlen);
	for (int i = 0; r == 0 && i < vm->ncpus; i++)
		r = load_vcpu(vm, i, l, vcpu_parts & l->v[i].parts, err, errlen);
done:
	free(l);
	return r;
}

int vm_state_load(struct vm *vm, const struct vm_state *in, char *err, size_t errlen)
{
	return vm_state_load_parts(vm, in, VSTATE_PARTS_ALL, err, errlen);
}

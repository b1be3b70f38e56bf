/* SPDX-License-Identifier: MIT */
/* kvm_state: vCPU and VM state ioctls (see kvm_state.h). */
#include "kvm/kvm_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* KVM_GET_XSAVE's fixed size, without KVM_CAP_XSAVE2. */
#define XSAVE_LEGACY_SIZE 4096u
/* The TSC deadline MSR is loaded after the LAPIC (QEMU's order). */
#define MSR_TSC_DEADLINE 0x6e0u
/* CPUID leaf of the XSAVE features. */
#define CPUID_XSAVE_LEAF 0xdu

uint64_t kvm_state_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int zero_or_err(int r)
{
	return r < 0 ? r : 0;
}

static uint64_t xcr0_supported(const struct kvm_sys *sys)
{
	const struct kvm_cpuid2 *c = sys->cpuid;

	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == CPUID_XSAVE_LEAF && c->entries[i].index == 0)
			return (uint64_t)c->entries[i].edx << 32 | c->entries[i].eax;
	return 0;
}

/*
 * Which listed MSRs a vCPU really takes: KVM lists some it will not let us
 * write back (kvm-pvm: 0x4b564d06, KVM's async-PF interrupt MSR, reads as 0
 * and refuses 0).  Asked of a scratch VM's fresh vCPU, so that no vCPU of
 * ours is touched: read each, write the value back, keep those that pass.
 * Keeps caps->msrs[] in order, minus the TSC (its own section).
 */
static int probe_msrs(const struct kvm_sys *sys, struct vstate_caps *caps, char *err, size_t errlen)
{
	struct kvm_vm scratch;
	struct kvm_vcpu v = {.fd = -1};
	uint32_t kept = 0;
	int r;

	r = kvm_vm_create(&scratch, sys, err, errlen);
	if (r < 0)
		return r;
	v.fd = ioctl(scratch.fd, KVM_CREATE_VCPU, 0ul);
	if (v.fd < 0) {
		r = -errno;
		snprintf(err, errlen, "KVM_CREATE_VCPU (scratch vCPU for the MSR probe): %s",
			 strerror(errno));
		kvm_vm_destroy(&scratch);
		return r;
	}
	r = zero_or_err(kvm_vcpu_ioctl(&v, KVM_SET_CPUID2, sys->cpuid, err, errlen));
	for (uint32_t i = 0; r == 0 && i < caps->nmsrs; i++) {
		struct {
			struct kvm_msrs h;
			struct kvm_msr_entry e;
		} m = {.h = {.nmsrs = 1}, .e = {.index = caps->msrs[i]}};

		if (caps->msrs[i] == VSTATE_MSR_TSC)
			continue;
		if (ioctl(v.fd, KVM_GET_MSRS, &m) == 1 && ioctl(v.fd, KVM_SET_MSRS, &m) == 1)
			caps->msrs[kept++] = caps->msrs[i];
	}
	caps->nmsrs = kept;
	close(v.fd);
	kvm_vm_destroy(&scratch);
	return r;
}

int kvm_state_caps(struct kvm_vm *vm, struct kvm_vcpu *vcpu0, uint32_t ncpus,
		   struct vstate_caps *caps, char *err, size_t errlen)
{
	const struct kvm_sys *sys = vm->sys;
	struct kvm_msr_list *ml;
	int r;

	memset(caps, 0, sizeof(*caps));
	caps->ncpus = ncpus;
	caps->irqchip = vm->irqchip;
	if (!kvm_check_cap(sys, KVM_CAP_XSAVE) || !kvm_check_cap(sys, KVM_CAP_XCRS) ||
	    !kvm_check_cap(sys, KVM_CAP_VCPU_EVENTS) || !kvm_check_cap(sys, KVM_CAP_DEBUGREGS) ||
	    !kvm_check_cap(sys, KVM_CAP_MP_STATE)) {
		snprintf(err, errlen,
			 "this KVM cannot save a vCPU's whole state: it lacks one of "
			 "KVM_CAP_XSAVE, XCRS, VCPU_EVENTS, DEBUGREGS, MP_STATE");
		return -ENOTSUP;
	}
	r = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	caps->xsave_size = r > 0 ? (uint32_t)r : XSAVE_LEGACY_SIZE;
	if (caps->xsave_size > VSTATE_XSAVE_MAX) {
		snprintf(err, errlen, "this KVM's XSAVE area is %u bytes, vmm carries at most %u",
			 caps->xsave_size, VSTATE_XSAVE_MAX);
		return -ENOTSUP;
	}
	caps->xcr0_supported = xcr0_supported(sys);
	caps->sregs2 = kvm_check_cap(sys, KVM_CAP_SREGS2) > 0;
	r = kvm_vcpu_tsc_khz(vcpu0);
	if (r <= 0) {
		snprintf(err, errlen, "KVM_GET_TSC_KHZ on vCPU 0: %s",
			 strerror(r < 0 ? -r : EINVAL));
		return r < 0 ? r : -EINVAL;
	}
	caps->tsc_khz = (uint32_t)r;
	caps->tsc_scaling = kvm_check_cap(sys, KVM_CAP_TSC_CONTROL) > 0;
	/* We enable neither KVM_CAP_EXCEPTION_PAYLOAD nor the triple-fault event. */
	caps->events_flags =
	    VSTATE_EV_NMI_PENDING | VSTATE_EV_SIPI_VECTOR | VSTATE_EV_SHADOW | VSTATE_EV_SMM;

	ml = calloc(1, sizeof(*ml) + VSTATE_MSRS_MAX * sizeof(ml->indices[0]));
	if (!ml) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ml->nmsrs = VSTATE_MSRS_MAX;
	r = kvm_sys_ioctl(sys, KVM_GET_MSR_INDEX_LIST, ml, err, errlen);
	if (r >= 0) {
		caps->nmsrs = ml->nmsrs;
		memcpy(caps->msrs, ml->indices, ml->nmsrs * sizeof(ml->indices[0]));
	}
	free(ml);
	if (r < 0)
		return r;
	return probe_msrs(sys, caps, err, errlen);
}

/* ---- between KVM's structs and ours ---- */

static void seg_from(struct vstate_seg *o, const struct kvm_segment *k)
{
	o->base = k->base;
	o->limit = k->limit;
	o->selector = k->selector;
	o->type = k->type;
	o->present = k->present;
	o->dpl = k->dpl;
	o->db = k->db;
	o->s = k->s;
	o->l = k->l;
	o->g = k->g;
	o->avl = k->avl;
	o->unusable = k->unusable;
}

static void seg_to(struct kvm_segment *k, const struct vstate_seg *o)
{
	memset(k, 0, sizeof(*k));
	k->base = o->base;
	k->limit = o->limit;
	k->selector = o->selector;
	k->type = o->type;
	k->present = o->present;
	k->dpl = o->dpl;
	k->db = o->db;
	k->s = o->s;
	k->l = o->l;
	k->g = o->g;
	k->avl = o->avl;
	k->unusable = o->unusable;
}

/* kvm_sregs and kvm_sregs2 share every field but the last ones. */
#define SREGS_FROM(o, k)                                                                           \
	do {                                                                                       \
		const struct kvm_segment *segs_[8] = {&(k)->cs, &(k)->ds, &(k)->es, &(k)->fs,      \
						      &(k)->gs, &(k)->ss, &(k)->tr, &(k)->ldt};    \
		for (int i_ = 0; i_ < 8; i_++)                                                     \
			seg_from(&(o)->seg[i_], segs_[i_]);                                        \
		(o)->gdt.base = (k)->gdt.base;                                                     \
		(o)->gdt.limit = (k)->gdt.limit;                                                   \
		(o)->idt.base = (k)->idt.base;                                                     \
		(o)->idt.limit = (k)->idt.limit;                                                   \
		(o)->cr0 = (k)->cr0;                                                               \
		(o)->cr2 = (k)->cr2;                                                               \
		(o)->cr3 = (k)->cr3;                                                               \
		(o)->cr4 = (k)->cr4;                                                               \
		(o)->cr8 = (k)->cr8;                                                               \
		(o)->efer = (k)->efer;                                                             \
		(o)->apic_base = (k)->apic_base;                                                   \
	} while (0)

#define SREGS_TO(k, o)                                                                             \
	do {                                                                                       \
		struct kvm_segment *segs_[8] = {&(k)->cs, &(k)->ds, &(k)->es, &(k)->fs,            \
						&(k)->gs, &(k)->ss, &(k)->tr, &(k)->ldt};          \
		for (int i_ = 0; i_ < 8; i_++)                                                     \
			seg_to(segs_[i_], &(o)->seg[i_]);                                          \
		(k)->gdt.base = (o)->gdt.base;                                                     \
		(k)->gdt.limit = (o)->gdt.limit;                                                   \
		(k)->idt.base = (o)->idt.base;                                                     \
		(k)->idt.limit = (o)->idt.limit;                                                   \
		(k)->cr0 = (o)->cr0;                                                               \
		(k)->cr2 = (o)->cr2;                                                               \
		(k)->cr3 = (o)->cr3;                                                               \
		(k)->cr4 = (o)->cr4;                                                               \
		(k)->cr8 = (o)->cr8;                                                               \
		(k)->efer = (o)->efer;                                                             \
		(k)->apic_base = (o)->apic_base;                                                   \
	} while (0)

static int get_sregs(struct kvm_vcpu *vcpu, const struct vstate_caps *caps, struct vstate_sregs *o,
		     char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	if (caps->sregs2) {
		struct kvm_sregs2 k;
		int r = kvm_vcpu_ioctl(vcpu, KVM_GET_SREGS2, &k, err, errlen);

		if (r < 0)
			return r;
		SREGS_FROM(o, &k);
		o->flags = k.flags & KVM_SREGS2_FLAGS_PDPTRS_VALID ? VSTATE_SREGS_PDPTRS_VALID : 0;
		memcpy(o->pdptrs, k.pdptrs, sizeof(o->pdptrs));
		return 0;
	} else {
		struct kvm_sregs k;
		int r = kvm_vcpu_ioctl(vcpu, KVM_GET_SREGS, &k, err, errlen);

		if (r < 0)
			return r;
		SREGS_FROM(o, &k);
		/* Without SREGS2 a pending interrupt shows here; events carry it too. */
		return 0;
	}
}

static int put_sregs(struct kvm_vcpu *vcpu, const struct vstate_caps *caps,
		     const struct vstate_sregs *o, char *err, size_t errlen)
{
	if (caps->sregs2) {
		struct kvm_sregs2 k;

		memset(&k, 0, sizeof(k));
		SREGS_TO(&k, o);
		k.flags = o->flags & VSTATE_SREGS_PDPTRS_VALID ? KVM_SREGS2_FLAGS_PDPTRS_VALID : 0;
		memcpy(k.pdptrs, o->pdptrs, sizeof(k.pdptrs));
		return zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_SREGS2, &k, err, errlen));
	} else {
		struct kvm_sregs k;

		memset(&k, 0, sizeof(k));
		SREGS_TO(&k, o);
		return zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_SREGS, &k, err, errlen));
	}
}

static void regs_from(struct vstate_regs *o, const struct kvm_regs *k)
{
	const uint64_t g[16] = {k->rax, k->rbx, k->rcx, k->rdx, k->rsi, k->rdi, k->rsp, k->rbp,
				k->r8,	k->r9,	k->r10, k->r11, k->r12, k->r13, k->r14, k->r15};

	memcpy(o->gpr, g, sizeof(g));
	o->rip = k->rip;
	o->rflags = k->rflags;
}

static void regs_to(struct kvm_regs *k, const struct vstate_regs *o)
{
	__u64 *g[16] = {&k->rax, &k->rbx, &k->rcx, &k->rdx, &k->rsi, &k->rdi, &k->rsp, &k->rbp,
			&k->r8,	 &k->r9,  &k->r10, &k->r11, &k->r12, &k->r13, &k->r14, &k->r15};

	for (int i = 0; i < 16; i++)
		*g[i] = o->gpr[i];
	k->rip = o->rip;
	k->rflags = o->rflags;
}

static void events_from(struct vstate_events *o, const struct kvm_vcpu_events *k)
{
	memset(o, 0, sizeof(*o));
	o->exc_injected = k->exception.injected;
	o->exc_nr = k->exception.nr;
	o->exc_has_error_code = k->exception.has_error_code;
	o->exc_pending = k->exception.pending;
	o->exc_error_code = k->exception.error_code;
	o->int_injected = k->interrupt.injected;
	o->int_nr = k->interrupt.nr;
	o->int_soft = k->interrupt.soft;
	o->int_shadow = k->interrupt.shadow;
	o->nmi_injected = k->nmi.injected;
	o->nmi_pending = k->nmi.pending;
	o->nmi_masked = k->nmi.masked;
	o->sipi_vector = k->sipi_vector;
	o->flags = k->flags;
	o->smi_smm = k->smi.smm;
	o->smi_pending = k->smi.pending;
	o->smi_inside_nmi = k->smi.smm_inside_nmi;
	o->smi_latched_init = k->smi.latched_init;
	o->triple_fault_pending = k->triple_fault.pending;
	o->exc_has_payload = k->exception_has_payload;
	o->exc_payload = k->exception_payload;
}

static void events_to(struct kvm_vcpu_events *k, const struct vstate_events *o)
{
	memset(k, 0, sizeof(*k));
	k->exception.injected = o->exc_injected;
	k->exception.nr = o->exc_nr;
	k->exception.has_error_code = o->exc_has_error_code;
	k->exception.pending = o->exc_pending;
	k->exception.error_code = o->exc_error_code;
	k->interrupt.injected = o->int_injected;
	k->interrupt.nr = o->int_nr;
	k->interrupt.soft = o->int_soft;
	k->interrupt.shadow = o->int_shadow;
	k->nmi.injected = o->nmi_injected;
	k->nmi.pending = o->nmi_pending;
	k->nmi.masked = o->nmi_masked;
	k->sipi_vector = o->sipi_vector;
	/* Load the NMI count and SIPI vector too (QEMU's set), and what GET reported valid. */
	k->flags = o->flags | KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	k->smi.smm = o->smi_smm;
	k->smi.pending = o->smi_pending;
	k->smi.smm_inside_nmi = o->smi_inside_nmi;
	k->smi.latched_init = o->smi_latched_init;
	k->triple_fault.pending = o->triple_fault_pending;
	k->exception_has_payload = o->exc_has_payload;
	k->exception_payload = o->exc_payload;
}

/* ---- MSRs ---- */

static struct kvm_msrs *msrs_alloc(uint32_t n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(struct kvm_msr_entry));

	if (m)
		m->nmsrs = n;
	return m;
}

/*
 * Read every listed MSR but the TSC.  KVM_GET_MSRS stops at the first MSR
 * it refuses and returns how many it read: drop that one and go on, so the
 * section holds exactly what this vCPU has.
 */
static int get_msrs(struct kvm_vcpu *vcpu, const struct vstate_caps *caps, struct vstate_msrs *o,
		    char *err, size_t errlen)
{
	struct kvm_msrs *m = msrs_alloc(caps->nmsrs);
	uint32_t n = 0, done = 0;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < caps->nmsrs; i++)
		if (caps->msrs[i] != VSTATE_MSR_TSC)
			m->entries[n++].index = caps->msrs[i];
	o->n = 0;
	while (done < n) {
		struct kvm_msrs *rest = msrs_alloc(n - done);
		int r;

		if (!rest) {
			free(m);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		for (uint32_t i = done; i < n; i++)
			rest->entries[i - done].index = m->entries[i].index;
		r = kvm_vcpu_ioctl(vcpu, KVM_GET_MSRS, rest, err, errlen);
		if (r < 0) {
			free(rest);
			free(m);
			return r;
		}
		for (int i = 0; i < r; i++) {
			o->e[o->n].index = rest->entries[i].index;
			o->e[o->n].value = rest->entries[i].data;
			o->n++;
		}
		free(rest);
		done += (uint32_t)r + 1; /* skip the one refused */
	}
	free(m);
	return 0;
}

/* Set the listed MSRs with index `late` (or all others, late == 0 meaning not-late). */
static int put_msrs(struct kvm_vcpu *vcpu, const struct vstate_msrs *o, bool late, char *err,
		    size_t errlen)
{
	struct kvm_msrs *m = msrs_alloc(o->n);
	uint32_t n = 0;
	int r;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < o->n; i++) {
		if ((o->e[i].index == MSR_TSC_DEADLINE) != late)
			continue;
		m->entries[n].index = o->e[i].index;
		m->entries[n].data = o->e[i].value;
		n++;
	}
	m->nmsrs = n;
	r = n ? kvm_vcpu_ioctl(vcpu, KVM_SET_MSRS, m, err, errlen) : 0;
	if (r >= 0 && (uint32_t)r < n) {
		snprintf(err, errlen, "KVM_SET_MSRS on vCPU %d: MSR 0x%x = 0x%llx was refused",
			 vcpu->index, m->entries[r].index, (unsigned long long)m->entries[r].data);
		r = -EINVAL;
	}
	free(m);
	return zero_or_err(r);
}

int kvm_state_read_tsc(struct kvm_vcpu *vcpu, uint64_t *tsc, uint64_t *realtime_ns, char *err,
		       size_t errlen)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h = {.nmsrs = 1}, .e = {.index = VSTATE_MSR_TSC}};
	uint64_t best = UINT64_MAX;
	int r = 0;

	/* The tightest pair of KVM_STATE_TSC_PAIR_TRIES, or the first within KVM_STATE_TSC_PAIR_NS. */
	for (int i = 0; i < KVM_STATE_TSC_PAIR_TRIES && best > KVM_STATE_TSC_PAIR_NS; i++) {
		uint64_t before = kvm_state_realtime_ns(), after;

		r = kvm_vcpu_ioctl(vcpu, KVM_GET_MSRS, &m, err, errlen);
		after = kvm_state_realtime_ns();
		if (r != 1)
			break;
		if (after - before < best) {
			best = after - before;
			*tsc = m.e.data;
			*realtime_ns = after;
		}
	}
	if (r == 0) {
		snprintf(err, errlen, "KVM_GET_MSRS on vCPU %d: the TSC cannot be read",
			 vcpu->index);
		return -EINVAL;
	}
	return zero_or_err(r);
}

static int write_tsc(struct kvm_vcpu *vcpu, uint64_t tsc, char *err, size_t errlen)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h = {.nmsrs = 1}, .e = {.index = VSTATE_MSR_TSC, .data = tsc}};
	int r = kvm_vcpu_ioctl(vcpu, KVM_SET_MSRS, &m, err, errlen);

	if (r == 0) {
		snprintf(err, errlen, "KVM_SET_MSRS on vCPU %d: the TSC write was refused",
			 vcpu->index);
		return -EINVAL;
	}
	return zero_or_err(r);
}

int kvm_state_set_tsc_khz(struct kvm_vcpu *vcpu, uint32_t khz, char *err, size_t errlen)
{
	return zero_or_err(
	    kvm_vcpu_ioctl(vcpu, KVM_SET_TSC_KHZ, (void *)(uintptr_t)khz, err, errlen));
}

/* ---- the whole vCPU ---- */

int kvm_state_get_vcpu(struct kvm_vcpu *vcpu, const struct vstate_caps *caps,
		       struct vstate_vcpu *out, char *err, size_t errlen)
{
	struct kvm_regs regs;
	struct kvm_xsave *xs;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events ev;
	struct kvm_debugregs dr;
	struct kvm_mp_state mp;
	size_t xs_bytes = caps->xsave_size > sizeof(*xs) ? caps->xsave_size : sizeof(*xs);
	int r;

	memset(out, 0, sizeof(*out));
	r = kvm_vcpu_ioctl(vcpu, KVM_GET_VCPU_EVENTS, &ev, err, errlen);
	if (r < 0)
		return r;
	events_from(&out->events, &ev);
	r = kvm_vcpu_ioctl(vcpu, KVM_GET_MP_STATE, &mp, err, errlen);
	if (r < 0)
		return r;
	out->mp.mp_state = mp.mp_state;
	r = kvm_vcpu_ioctl(vcpu, KVM_GET_REGS, &regs, err, errlen);
	if (r < 0)
		return r;
	regs_from(&out->regs, &regs);

	xs = calloc(1, xs_bytes);
	if (!xs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = kvm_vcpu_ioctl(vcpu, KVM_GET_XSAVE2, xs, err, errlen);
	/* A KVM older than KVM_CAP_XSAVE2 (Linux 5.17) has the fixed 4 KiB call only. */
	if ((r == -ENOTTY || r == -EINVAL) && caps->xsave_size == XSAVE_LEGACY_SIZE)
		r = kvm_vcpu_ioctl(vcpu, KVM_GET_XSAVE, xs, err, errlen);
	if (r >= 0) {
		out->xsave.size = caps->xsave_size;
		memcpy(out->xsave.data, xs, caps->xsave_size);
	}
	free(xs);
	if (r < 0)
		return r;
	r = kvm_vcpu_ioctl(vcpu, KVM_GET_XCRS, &xcrs, err, errlen);
	if (r < 0)
		return r;
	out->xcrs.n = xcrs.nr_xcrs < VSTATE_XCRS_MAX ? xcrs.nr_xcrs : VSTATE_XCRS_MAX;
	for (uint32_t i = 0; i < out->xcrs.n; i++) {
		out->xcrs.x[i].xcr = xcrs.xcrs[i].xcr;
		out->xcrs.x[i].value = xcrs.xcrs[i].value;
	}
	r = get_sregs(vcpu, caps, &out->sregs, err, errlen);
	if (r < 0)
		return r;
	r = get_msrs(vcpu, caps, &out->msrs, err, errlen);
	if (r < 0)
		return r;
	r = kvm_vcpu_ioctl(vcpu, KVM_GET_DEBUGREGS, &dr, err, errlen);
	if (r < 0)
		return r;
	memcpy(out->debugregs.db, dr.db, sizeof(dr.db));
	out->debugregs.dr6 = dr.dr6;
	out->debugregs.dr7 = dr.dr7;
	out->parts = VSTATE_PARTS_BASE;
	if (caps->irqchip) {
		struct kvm_lapic_state la;

		r = kvm_vcpu_ioctl(vcpu, KVM_GET_LAPIC, &la, err, errlen);
		if (r < 0)
			return r;
		memcpy(out->lapic.regs, la.regs, VSTATE_LAPIC_SIZE);
		out->parts |= VSTATE_PART_BIT(VSTATE_PART_LAPIC);
	}
	/* Last, so that its time of reading is close to the end of the pause's work. */
	r = kvm_state_read_tsc(vcpu, &out->tsc.tsc, &out->tsc.realtime_ns, err, errlen);
	if (r < 0)
		return r;
	out->tsc.tsc_khz = caps->tsc_khz;
	return 0;
}

static bool has(uint32_t parts, unsigned part)
{
	return parts & VSTATE_PART_BIT(part);
}

int kvm_state_put_vcpu(struct kvm_vcpu *vcpu, const struct vstate_caps *caps,
		       const struct vstate_vcpu *in, uint32_t parts, uint64_t tsc_target, char *err,
		       size_t errlen)
{
	int r = 0;

	if (has(parts, VSTATE_PART_SREGS))
		r = put_sregs(vcpu, caps, &in->sregs, err, errlen);
	if (r == 0 && has(parts, VSTATE_PART_TSC))
		r = write_tsc(vcpu, tsc_target, err, errlen);
	if (r == 0 && has(parts, VSTATE_PART_MSRS))
		r = put_msrs(vcpu, &in->msrs, false, err, errlen);
	if (r == 0 && has(parts, VSTATE_PART_XCRS)) {
		struct kvm_xcrs x;

		memset(&x, 0, sizeof(x));
		x.nr_xcrs = in->xcrs.n;
		for (uint32_t i = 0; i < in->xcrs.n; i++) {
			x.xcrs[i].xcr = in->xcrs.x[i].xcr;
			x.xcrs[i].value = in->xcrs.x[i].value;
		}
		r = zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_XCRS, &x, err, errlen));
	}
	if (r == 0 && has(parts, VSTATE_PART_XSAVE)) {
		size_t bytes = caps->xsave_size > sizeof(struct kvm_xsave)
				   ? caps->xsave_size
				   : sizeof(struct kvm_xsave);
		struct kvm_xsave *xs = calloc(1, bytes);

		if (!xs) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		/* A smaller area from the source: the components it lacks stay in their init state. */
		memcpy(xs, in->xsave.data, in->xsave.size);
		r = zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_XSAVE, xs, err, errlen));
		free(xs);
	}
	if (r == 0 && has(parts, VSTATE_PART_EVENTS)) {
		struct kvm_vcpu_events ev;

		events_to(&ev, &in->events);
		r = zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_VCPU_EVENTS, &ev, err, errlen));
	}
	if (r == 0 && has(parts, VSTATE_PART_MP))
		r = kvm_vcpu_set_mp_state(vcpu, in->mp.mp_state, err, errlen);
	if (r == 0 && has(parts, VSTATE_PART_LAPIC)) {
		struct kvm_lapic_state la;

		memcpy(la.regs, in->lapic.regs, VSTATE_LAPIC_SIZE);
		r = zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_LAPIC, &la, err, errlen));
	}
	if (r == 0 && has(parts, VSTATE_PART_MSRS))
		r = put_msrs(vcpu, &in->msrs, true, err, errlen);
	if (r == 0 && has(parts, VSTATE_PART_DEBUGREGS)) {
		struct kvm_debugregs dr;

		memset(&dr, 0, sizeof(dr));
		memcpy(dr.db, in->debugregs.db, sizeof(dr.db));
		dr.dr6 = in->debugregs.dr6;
		dr.dr7 = in->debugregs.dr7;
		r = zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_DEBUGREGS, &dr, err, errlen));
	}
	if (r == 0 && has(parts, VSTATE_PART_REGS)) {
		struct kvm_regs k;

		memset(&k, 0, sizeof(k));
		regs_to(&k, &in->regs);
		r = zero_or_err(kvm_vcpu_ioctl(vcpu, KVM_SET_REGS, &k, err, errlen));
	}
	return r;
}

/* ---- VM-wide ---- */

int kvm_state_get_clock(struct kvm_vm *vm, struct vstate_clock *c, char *err, size_t errlen)
{
	struct kvm_clock_data d;
	int r;

	memset(&d, 0, sizeof(d));
	r = kvm_vm_ioctl(vm, KVM_GET_CLOCK, &d, err, errlen);
	c->realtime_ns = kvm_state_realtime_ns();
	c->clock_ns = d.clock;
	return zero_or_err(r);
}

int kvm_state_put_clock(struct kvm_vm *vm, uint64_t clock_ns, char *err, size_t errlen)
{
	struct kvm_clock_data d;

	memset(&d, 0, sizeof(d));
	d.clock = clock_ns;
	return zero_or_err(kvm_vm_ioctl(vm, KVM_SET_CLOCK, &d, err, errlen));
}

int kvm_state_get_irqchip(struct kvm_vm *vm, uint32_t chip, struct vstate_irqchip *c, char *err,
			  size_t errlen)
{
	struct kvm_irqchip k;
	int r;

	memset(&k, 0, sizeof(k));
	memset(c, 0, sizeof(*c));
	k.chip_id = chip;
	r = kvm_vm_ioctl(vm, KVM_GET_IRQCHIP, &k, err, errlen);
	if (r < 0)
		return r;
	c->chip = chip;
	if (chip == VSTATE_CHIP_IOAPIC) {
		c->ioapic.base_address = k.chip.ioapic.base_address;
		c->ioapic.ioregsel = k.chip.ioapic.ioregsel;
		c->ioapic.id = k.chip.ioapic.id;
		c->ioapic.irr = k.chip.ioapic.irr;
		for (unsigned i = 0; i < VSTATE_IOAPIC_PINS; i++)
			c->ioapic.redirtbl[i] = k.chip.ioapic.redirtbl[i].bits;
	} else {
		_Static_assert(sizeof(k.chip.pic) == sizeof(c->pic), "same sixteen bytes");
		memcpy(&c->pic, &k.chip.pic, sizeof(c->pic));
	}
	return 0;
}

int kvm_state_put_irqchip(struct kvm_vm *vm, const struct vstate_irqchip *c, char *err,
			  size_t errlen)
{
	struct kvm_irqchip k;

	memset(&k, 0, sizeof(k));
	k.chip_id = c->chip;
	if (c->chip == VSTATE_CHIP_IOAPIC) {
		k.chip.ioapic.base_address = c->ioapic.base_address;
		k.chip.ioapic.ioregsel = c->ioapic.ioregsel;
		k.chip.ioapic.id = c->ioapic.id;
		k.chip.ioapic.irr = c->ioapic.irr;
		for (unsigned i = 0; i < VSTATE_IOAPIC_PINS; i++)
			k.chip.ioapic.redirtbl[i].bits = c->ioapic.redirtbl[i];
	} else {
		memcpy(&k.chip.pic, &c->pic, sizeof(c->pic));
	}
	return zero_or_err(kvm_vm_ioctl(vm, KVM_SET_IRQCHIP, &k, err, errlen));
}

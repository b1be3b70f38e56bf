/* SPDX-License-Identifier: MIT */
/* vstate: vCPU parts, kvmclock and irqchip sections (layouts in docs/vm-state.md). */
#include "vmm/vstate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Exact lengths of the fixed-size layouts (version 1). */
#define LEN_REGS      (18u * 8u)
#define LEN_SEG	      23u
#define LEN_DTABLE    10u
#define LEN_SREGS     (8u * LEN_SEG + 2u * LEN_DTABLE + 7u * 8u + 8u + 4u * 8u)
#define LEN_EVENTS    37u
#define LEN_DEBUGREGS (6u * 8u)
#define LEN_MP	      8u
#define LEN_TSC	      20u
#define LEN_CLOCK     16u
#define LEN_PIC	      16u
#define LEN_IOAPIC    (8u + 3u * 4u + VSTATE_IOAPIC_PINS * 8u)
#define LEN_XCR	      12u
#define LEN_MSR	      12u

/*
 * Architectural reserved bits (the destination's KVM checks the rest
 * against the guest's CPUID).  RFLAGS: bit 1 is always 1; bits 3, 5, 15
 * and 22-63 are reserved.
 */
#define RFLAGS_FIXED1	0x2ull
#define RFLAGS_RESERVED (0x8ull | 0x20ull | 0x8000ull | ~0x3fffffull)
#define CR0_RESERVED	0xffffffff00000000ull
/* CR4: bits 0-14 and 16-24 are defined, 28 is LAM_SUP, 32 FRED; 15 and the rest reserved. */
#define CR4_DEFINED ((0x1ffffffull & ~0x8000ull) | (1ull << 28) | (1ull << 32))
/* EFER: SCE, LME, LMA, NXE, SVME, LMSLE, FFXSR, TCE, AUTOIBRS. */
#define EFER_DEFINED (1ull | (1ull << 8) | (0x3full << 10) | (1ull << 21))
/* APIC base: BSP (8), x2APIC (10), enable (11), base bits 12-51. */
#define APIC_BASE_RESVD (0xffull | (1ull << 9) | (0xfffull << 52))
#define SEG_TYPE_MAX	15u
#define DPL_MAX		3u
#define CR8_MAX		15u
/* Interrupt shadow: KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI. */
#define INT_SHADOW_BITS 3u
/* KVM queues at most two NMIs. */
#define NMI_PENDING_MAX	 2u
#define EXC_VECTOR_MAX	 31u
#define DR_HIGH_RESERVED 0xffffffff00000000ull
/* XCR0: x87 must be set; AVX needs SSE. */
#define XCR0_X87 1ull
#define XCR0_SSE 2ull
#define XCR0_AVX 4ull
/* XSAVE area: MXCSR and its mask in the legacy area, then the header. */
#define XSAVE_MXCSR	   24u
#define XSAVE_MXCSR_MASK   28u
#define XSAVE_HDR	   512u
#define XSAVE_HDR_RESERVED 528u
#define MXCSR_DEFAULT_MASK 0xffbfu
/* KVM_MP_STATE_*: RUNNABLE, UNINITIALIZED, INIT_RECEIVED, HALTED, SIPI_RECEIVED, AP_RESET_HOLD. */
#define MP_STATES_X86	    ((1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 9))
#define MP_STATE_MAX	    31u
#define LAPIC_ID	    0x20u
#define IOAPIC_DEFAULT_BASE 0xfec00000ull
#define IOAPIC_IOREGSEL_MAX 0xffu
/* IOAPIC redirection entry: bits 17-55 are reserved. */
#define IOAPIC_RTE_RESERVED (((1ull << 56) - 1) & ~((1ull << 17) - 1))
#define PIC_INIT_STATE_MAX  3u
#define PIC_PRIORITY_MAX    7u

_Static_assert(sizeof(struct vstate_pic) == LEN_PIC, "the PIC layout is its sixteen bytes");

static const char *const part_names[VSTATE_NPARTS] = {
    [VSTATE_PART_REGS] = "regs",
    [VSTATE_PART_SREGS] = "sregs",
    [VSTATE_PART_XSAVE] = "xsave",
    [VSTATE_PART_XCRS] = "xcrs",
    [VSTATE_PART_MSRS] = "msrs",
    [VSTATE_PART_EVENTS] = "events",
    [VSTATE_PART_DEBUGREGS] = "debugregs",
    [VSTATE_PART_MP] = "mp_state",
    [VSTATE_PART_TSC] = "tsc",
    [VSTATE_PART_LAPIC] = "lapic",
};

uint64_t vstate_tsc_at(const struct vstate_tsc *t, uint64_t realtime_ns)
{
	uint64_t elapsed = realtime_ns > t->realtime_ns ? realtime_ns - t->realtime_ns : 0;

	/* kHz * ns / 10^6 = ticks; 128 bits so that no product overflows. */
	return t->tsc + (uint64_t)((unsigned __int128)elapsed * t->tsc_khz / 1000000u);
}

uint64_t vstate_clock_at(const struct vstate_clock *c, uint64_t realtime_ns)
{
	return c->clock_ns + (realtime_ns > c->realtime_ns ? realtime_ns - c->realtime_ns : 0);
}

const char *vstate_part_name(unsigned part)
{
	return part < VSTATE_NPARTS ? part_names[part] : "?";
}

const char *vstate_section_name(uint32_t id, char *buf, size_t len)
{
	const char *n = NULL;

	if (id >= VSTATE_SEC_VCPU_BASE && id < VSTATE_SEC_VCPU(VSTATE_NPARTS))
		n = part_names[id - VSTATE_SEC_VCPU_BASE];
	else if (id == VSTATE_SEC_CLOCK)
		n = "kvmclock";
	else if (id == VSTATE_SEC_IRQCHIP)
		n = "irqchip";
	else if (id == VSTATE_SEC_CONSOLE)
		n = "console";
	else if (id == VSTATE_SEC_REPORT)
		n = "report";
	else if (id == VSTATE_SEC_STATS)
		n = "stats";
	if (n)
		snprintf(buf, len, "%s (0x%x)", n, id);
	else
		snprintf(buf, len, "section 0x%x", id);
	return buf;
}

unsigned vstate_section_kinds(uint32_t ncpus, bool irqchip, struct vstate_section_kind *out)
{
	static const uint32_t vm_wide[] = {VSTATE_SEC_CLOCK, VSTATE_SEC_CONSOLE, VSTATE_SEC_REPORT,
					   VSTATE_SEC_STATS};
	static const char *const vm_wide_names[] = {"kvmclock", "console", "report", "stats"};
	unsigned n = 0;

	for (unsigned p = 0; p < VSTATE_NPARTS; p++) {
		if (p == VSTATE_PART_LAPIC && !irqchip)
			continue;
		out[n++] = (struct vstate_section_kind){VSTATE_SEC_VCPU(p), ncpus,
							vstate_section_max(VSTATE_SEC_VCPU(p)),
							part_names[p]};
	}
	if (irqchip)
		out[n++] =
		    (struct vstate_section_kind){VSTATE_SEC_IRQCHIP, VSTATE_NCHIPS,
						 vstate_section_max(VSTATE_SEC_IRQCHIP), "irqchip"};
	for (unsigned i = 0; i < sizeof(vm_wide) / sizeof(vm_wide[0]); i++)
		out[n++] = (struct vstate_section_kind){
		    vm_wide[i], 1, vstate_section_max(vm_wide[i]), vm_wide_names[i]};
	return n;
}

size_t vstate_section_max(uint32_t id)
{
	switch (id) {
	case VSTATE_SEC_VCPU(VSTATE_PART_REGS):
		return LEN_REGS;
	case VSTATE_SEC_VCPU(VSTATE_PART_SREGS):
		return LEN_SREGS;
	case VSTATE_SEC_VCPU(VSTATE_PART_XSAVE):
		return 4 + VSTATE_XSAVE_MAX;
	case VSTATE_SEC_VCPU(VSTATE_PART_XCRS):
		return 4 + VSTATE_XCRS_MAX * LEN_XCR;
	case VSTATE_SEC_VCPU(VSTATE_PART_MSRS):
		return 4 + VSTATE_MSRS_MAX * LEN_MSR;
	case VSTATE_SEC_VCPU(VSTATE_PART_EVENTS):
		return LEN_EVENTS;
	case VSTATE_SEC_VCPU(VSTATE_PART_DEBUGREGS):
		return LEN_DEBUGREGS;
	case VSTATE_SEC_VCPU(VSTATE_PART_MP):
		return LEN_MP;
	case VSTATE_SEC_VCPU(VSTATE_PART_TSC):
		return LEN_TSC;
	case VSTATE_SEC_VCPU(VSTATE_PART_LAPIC):
		return VSTATE_LAPIC_SIZE;
	case VSTATE_SEC_CLOCK:
		return LEN_CLOCK;
	case VSTATE_SEC_IRQCHIP:
		return LEN_IOAPIC;
	case VSTATE_SEC_CONSOLE:
		return 4 + VSTATE_CONSOLE_LINE_MAX;
	case VSTATE_SEC_REPORT:
		return 9;
	case VSTATE_SEC_STATS:
		/* The stats device is 36 KiB; allow it to grow to 1 MiB. */
		return 4 + (1u << 20);
	}
	return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- encoders ---- */

static void put_seg(struct wire_out *w, const struct vstate_seg *s)
{
	wire_put_u64(w, s->base);
	wire_put_u32(w, s->limit);
	wire_put_u16(w, s->selector);
	wire_put_u8(w, s->type);
	wire_put_u8(w, s->present);
	wire_put_u8(w, s->dpl);
	wire_put_u8(w, s->db);
	wire_put_u8(w, s->s);
	wire_put_u8(w, s->l);
	wire_put_u8(w, s->g);
	wire_put_u8(w, s->avl);
	wire_put_u8(w, s->unusable);
}

static void put_dtable(struct wire_out *w, const struct vstate_dtable *d)
{
	wire_put_u64(w, d->base);
	wire_put_u16(w, d->limit);
}

static void encode_sregs(const struct vstate_sregs *s, struct wire_out *w)
{
	for (int i = 0; i < 8; i++)
		put_seg(w, &s->seg[i]);
	put_dtable(w, &s->gdt);
	put_dtable(w, &s->idt);
	wire_put_u64(w, s->cr0);
	wire_put_u64(w, s->cr2);
	wire_put_u64(w, s->cr3);
	wire_put_u64(w, s->cr4);
	wire_put_u64(w, s->cr8);
	wire_put_u64(w, s->efer);
	wire_put_u64(w, s->apic_base);
	wire_put_u64(w, s->flags);
	for (int i = 0; i < 4; i++)
		wire_put_u64(w, s->pdptrs[i]);
}

static void encode_events(const struct vstate_events *e, struct wire_out *w)
{
	wire_put_u8(w, e->exc_injected);
	wire_put_u8(w, e->exc_nr);
	wire_put_u8(w, e->exc_has_error_code);
	wire_put_u8(w, e->exc_pending);
	wire_put_u32(w, e->exc_error_code);
	wire_put_u8(w, e->int_injected);
	wire_put_u8(w, e->int_nr);
	wire_put_u8(w, e->int_soft);
	wire_put_u8(w, e->int_shadow);
	wire_put_u8(w, e->nmi_injected);
	wire_put_u8(w, e->nmi_pending);
	wire_put_u8(w, e->nmi_masked);
	wire_put_u32(w, e->sipi_vector);
	wire_put_u32(w, e->flags);
	wire_put_u8(w, e->smi_smm);
	wire_put_u8(w, e->smi_pending);
	wire_put_u8(w, e->smi_inside_nmi);
	wire_put_u8(w, e->smi_latched_init);
	wire_put_u8(w, e->triple_fault_pending);
	wire_put_u8(w, e->exc_has_payload);
	wire_put_u64(w, e->exc_payload);
}

void vstate_vcpu_encode(const struct vstate_vcpu *v, unsigned part, struct wire_out *w)
{
	switch (part) {
	case VSTATE_PART_REGS:
		for (int i = 0; i < 16; i++)
			wire_put_u64(w, v->regs.gpr[i]);
		wire_put_u64(w, v->regs.rip);
		wire_put_u64(w, v->regs.rflags);
		break;
	case VSTATE_PART_SREGS:
		encode_sregs(&v->sregs, w);
		break;
	case VSTATE_PART_XSAVE:
		wire_put_u32(w, v->xsave.size);
		wire_put_bytes(w, v->xsave.data, v->xsave.size);
		break;
	case VSTATE_PART_XCRS:
		wire_put_u32(w, v->xcrs.n);
		for (uint32_t i = 0; i < v->xcrs.n; i++) {
			wire_put_u32(w, v->xcrs.x[i].xcr);
			wire_put_u64(w, v->xcrs.x[i].value);
		}
		break;
	case VSTATE_PART_MSRS:
		wire_put_u32(w, v->msrs.n);
		for (uint32_t i = 0; i < v->msrs.n; i++) {
			wire_put_u32(w, v->msrs.e[i].index);
			wire_put_u64(w, v->msrs.e[i].value);
		}
		break;
	case VSTATE_PART_EVENTS:
		encode_events(&v->events, w);
		break;
	case VSTATE_PART_DEBUGREGS:
		for (int i = 0; i < 4; i++)
			wire_put_u64(w, v->debugregs.db[i]);
		wire_put_u64(w, v->debugregs.dr6);
		wire_put_u64(w, v->debugregs.dr7);
		break;
	case VSTATE_PART_MP:
		wire_put_u32(w, v->mp.mp_state);
		wire_put_u32(w, v->mp.vmm_flags);
		break;
	case VSTATE_PART_TSC:
		wire_put_u64(w, v->tsc.tsc);
		wire_put_u64(w, v->tsc.realtime_ns);
		wire_put_u32(w, v->tsc.tsc_khz);
		break;
	case VSTATE_PART_LAPIC:
		wire_put_bytes(w, v->lapic.regs, VSTATE_LAPIC_SIZE);
		break;
	}
}

void vstate_clock_encode(const struct vstate_clock *c, struct wire_out *w)
{
	wire_put_u64(w, c->clock_ns);
	wire_put_u64(w, c->realtime_ns);
}

void vstate_irqchip_encode(const struct vstate_irqchip *c, struct wire_out *w)
{
	if (c->chip == VSTATE_CHIP_IOAPIC) {
		wire_put_u64(w, c->ioapic.base_address);
		wire_put_u32(w, c->ioapic.ioregsel);
		wire_put_u32(w, c->ioapic.id);
		wire_put_u32(w, c->ioapic.irr);
		for (unsigned i = 0; i < VSTATE_IOAPIC_PINS; i++)
			wire_put_u64(w, c->ioapic.redirtbl[i]);
		return;
	}
	wire_put_bytes(w, &c->pic, LEN_PIC); /* sixteen single bytes, in struct order */
}

/* ---- decoders: read every field, then check ---- */

static void get_seg(struct wire_in *r, struct vstate_seg *s)
{
	s->base = wire_get_u64(r);
	s->limit = wire_get_u32(r);
	s->selector = wire_get_u16(r);
	s->type = wire_get_u8(r);
	s->present = wire_get_u8(r);
	s->dpl = wire_get_u8(r);
	s->db = wire_get_u8(r);
	s->s = wire_get_u8(r);
	s->l = wire_get_u8(r);
	s->g = wire_get_u8(r);
	s->avl = wire_get_u8(r);
	s->unusable = wire_get_u8(r);
}

static void get_dtable(struct wire_in *r, struct vstate_dtable *d)
{
	d->base = wire_get_u64(r);
	d->limit = wire_get_u16(r);
}

static bool is_bool(uint8_t v)
{
	return v <= 1;
}

static int check_regs(const struct vstate_regs *g, char *err, size_t errlen)
{
	if (!(g->rflags & RFLAGS_FIXED1) || (g->rflags & RFLAGS_RESERVED))
		return fail(err, errlen, "RFLAGS 0x%llx has reserved bits wrong",
			    (unsigned long long)g->rflags);
	return 0;
}

static int check_sregs(const struct vstate_sregs *s, const struct vstate_caps *caps, char *err,
		       size_t errlen)
{
	static const char *const names[8] = {"cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"};

	for (int i = 0; i < 8; i++) {
		const struct vstate_seg *g = &s->seg[i];

		if (g->type > SEG_TYPE_MAX || g->dpl > DPL_MAX || !is_bool(g->present) ||
		    !is_bool(g->db) || !is_bool(g->s) || !is_bool(g->l) || !is_bool(g->g) ||
		    !is_bool(g->avl) || !is_bool(g->unusable))
			return fail(err, errlen, "segment %s has an out-of-range attribute",
				    names[i]);
	}
	if (s->cr0 & CR0_RESERVED)
		return fail(err, errlen, "CR0 0x%llx has reserved bits set",
			    (unsigned long long)s->cr0);
	if (s->cr4 & ~CR4_DEFINED)
		return fail(err, errlen, "CR4 0x%llx has reserved bits set",
			    (unsigned long long)s->cr4);
	if (s->efer & ~EFER_DEFINED)
		return fail(err, errlen, "EFER 0x%llx has reserved bits set",
			    (unsigned long long)s->efer);
	if (s->cr8 > CR8_MAX)
		return fail(err, errlen, "CR8 %llu is more than 15", (unsigned long long)s->cr8);
	if (s->apic_base & APIC_BASE_RESVD)
		return fail(err, errlen, "APIC base 0x%llx has reserved bits set",
			    (unsigned long long)s->apic_base);
	if (s->flags & ~(uint64_t)VSTATE_SREGS_PDPTRS_VALID)
		return fail(err, errlen, "flags 0x%llx: unknown bits",
			    (unsigned long long)s->flags);
	if ((s->flags & VSTATE_SREGS_PDPTRS_VALID) && !caps->sregs2)
		return fail(err, errlen,
			    "PDPTRs are valid but this KVM cannot load them (no "
			    "KVM_CAP_SREGS2)");
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int check_xsave(const struct vstate_xsave *x, const struct vstate_caps *caps, char *err,
		       size_t errlen)
{
	uint32_t mxcsr = rd32(x->data + XSAVE_MXCSR), mask = rd32(x->data + XSAVE_MXCSR_MASK);
	uint64_t bv = rd64(x->data + XSAVE_HDR), comp = rd64(x->data + XSAVE_HDR + 8);

	if (x->size < VSTATE_XSAVE_MIN || x->size > caps->xsave_size)
		return fail(err, errlen, "%u bytes, this KVM takes %u to %u", x->size,
			    VSTATE_XSAVE_MIN, caps->xsave_size);
	if (!mask)
		mask = MXCSR_DEFAULT_MASK;
	if (mxcsr & ~mask)
		return fail(err, errlen, "MXCSR 0x%x has bits outside its mask 0x%x", mxcsr, mask);
	if (bv & ~caps->xcr0_supported)
		return fail(err, errlen,
			    "XSTATE_BV 0x%llx names components this host lacks (0x%llx)",
			    (unsigned long long)bv, (unsigned long long)caps->xcr0_supported);
	if (comp)
		return fail(err, errlen, "XCOMP_BV 0x%llx: only the standard format is carried",
			    (unsigned long long)comp);
	for (unsigned i = XSAVE_HDR_RESERVED; i < VSTATE_XSAVE_MIN; i++)
		if (x->data[i])
			return fail(err, errlen, "XSAVE header byte %u is reserved but not zero",
				    i);
	return 0;
}

static int check_xcrs(const struct vstate_xcrs *x, const struct vstate_caps *caps, char *err,
		      size_t errlen)
{
	for (uint32_t i = 0; i < x->n; i++) {
		uint64_t v = x->x[i].value;

		if (x->x[i].xcr != 0)
			return fail(err, errlen, "XCR%u: only XCR0 exists", x->x[i].xcr);
		if (!(v & XCR0_X87) || ((v & XCR0_AVX) && !(v & XCR0_SSE)))
			return fail(err, errlen, "XCR0 0x%llx is not a valid combination",
				    (unsigned long long)v);
		if (v & ~caps->xcr0_supported)
			return fail(err, errlen,
				    "XCR0 0x%llx enables components this host lacks "
				    "(0x%llx)",
				    (unsigned long long)v,
				    (unsigned long long)caps->xcr0_supported);
	}
	return 0;
}

static bool msr_supported(const struct vstate_caps *caps, uint32_t index)
{
	for (uint32_t i = 0; i < caps->nmsrs; i++)
		if (caps->msrs[i] == index)
			return true;
	return false;
}

static int check_msrs(const struct vstate_msrs *m, const struct vstate_caps *caps, char *err,
		      size_t errlen)
{
	for (uint32_t i = 0; i < m->n; i++) {
		uint32_t idx = m->e[i].index;

		if (idx == VSTATE_MSR_TSC)
			return fail(err, errlen, "MSR 0x%x (the TSC) travels in its own section",
				    idx);
		if (!msr_supported(caps, idx))
			return fail(err, errlen, "MSR 0x%x is not supported by this KVM", idx);
		for (uint32_t j = 0; j < i; j++)
			if (m->e[j].index == idx)
				return fail(err, errlen, "MSR 0x%x appears twice", idx);
	}
	return 0;
}

static int check_events(const struct vstate_events *e, const struct vstate_caps *caps, char *err,
			size_t errlen)
{
	const uint32_t known = VSTATE_EV_NMI_PENDING | VSTATE_EV_SIPI_VECTOR | VSTATE_EV_SHADOW |
			       VSTATE_EV_SMM | VSTATE_EV_PAYLOAD | VSTATE_EV_TRIPLE_FAULT;

	if (e->flags & ~known)
		return fail(err, errlen, "flags 0x%x: unknown bits", e->flags);
	if (e->flags & ~caps->events_flags)
		return fail(err, errlen, "flags 0x%x: this KVM takes only 0x%x", e->flags,
			    caps->events_flags);
	if (!is_bool(e->exc_injected) || !is_bool(e->exc_has_error_code) ||
	    !is_bool(e->exc_pending) || !is_bool(e->int_injected) || !is_bool(e->int_soft) ||
	    !is_bool(e->nmi_injected) || !is_bool(e->nmi_masked) || !is_bool(e->smi_pending) ||
	    !is_bool(e->smi_inside_nmi) || !is_bool(e->smi_latched_init) ||
	    !is_bool(e->triple_fault_pending) || !is_bool(e->exc_has_payload))
		return fail(err, errlen, "a flag field is neither 0 nor 1");
	if (e->exc_nr > EXC_VECTOR_MAX)
		return fail(err, errlen, "exception vector %u is not an exception", e->exc_nr);
	if (e->int_shadow & ~INT_SHADOW_BITS)
		return fail(err, errlen, "interrupt shadow 0x%x: unknown bits", e->int_shadow);
	if (e->nmi_pending > NMI_PENDING_MAX)
		return fail(err, errlen, "%u NMIs pending, at most %u", e->nmi_pending,
			    NMI_PENDING_MAX);
	if (e->smi_smm)
		return fail(err, errlen, "the vCPU is in SMM, which vmm does not support");
	if (e->exc_has_payload && !(e->flags & VSTATE_EV_PAYLOAD))
		return fail(err, errlen, "an exception payload without its flag");
	if (e->triple_fault_pending && !(e->flags & VSTATE_EV_TRIPLE_FAULT))
		return fail(err, errlen, "a pending triple fault without its flag");
	return 0;
}

static int check_debugregs(const struct vstate_debugregs *d, char *err, size_t errlen)
{
	if ((d->dr6 & DR_HIGH_RESERVED) || (d->dr7 & DR_HIGH_RESERVED))
		return fail(err, errlen, "DR6 0x%llx / DR7 0x%llx have reserved high bits set",
			    (unsigned long long)d->dr6, (unsigned long long)d->dr7);
	return 0;
}

static int check_mp(const struct vstate_mp *m, const struct vstate_caps *caps, char *err,
		    size_t errlen)
{
	if (m->mp_state > MP_STATE_MAX || !(MP_STATES_X86 & (1u << m->mp_state)))
		return fail(err, errlen, "mp_state %u is not an x86 state", m->mp_state);
	if (!caps->irqchip && m->mp_state != VSTATE_MP_RUNNABLE)
		return fail(err, errlen, "mp_state %u needs an in-kernel irqchip", m->mp_state);
	if (m->vmm_flags & ~VSTATE_MP_HALTED)
		return fail(err, errlen, "flags 0x%x: unknown bits", m->vmm_flags);
	return 0;
}

static int check_tsc(const struct vstate_tsc *t, const struct vstate_caps *caps, char *err,
		     size_t errlen)
{
	if (!t->tsc_khz || !t->realtime_ns)
		return fail(err, errlen, "no TSC frequency or no time of reading");
	if (t->tsc_khz != caps->tsc_khz && !caps->tsc_scaling)
		return fail(err, errlen,
			    "the guest's TSC runs at %u kHz, this host's at %u kHz, and this KVM "
			    "cannot scale it (no KVM_CAP_TSC_CONTROL)",
			    t->tsc_khz, caps->tsc_khz);
	return 0;
}

static int check_lapic(const struct vstate_lapic *l, uint32_t instance, char *err, size_t errlen)
{
	uint32_t id = rd32(l->regs + LAPIC_ID);

	/* xAPIC keeps the ID in bits 31-24, x2APIC in the whole register. */
	if (id >> 24 != instance && id != instance)
		return fail(err, errlen, "APIC ID 0x%x does not belong to vCPU %u", id, instance);
	return 0;
}

static void decode_part(struct vstate_vcpu *v, unsigned part, struct wire_in *r)
{
	switch (part) {
	case VSTATE_PART_REGS:
		for (int i = 0; i < 16; i++)
			v->regs.gpr[i] = wire_get_u64(r);
		v->regs.rip = wire_get_u64(r);
		v->regs.rflags = wire_get_u64(r);
		break;
	case VSTATE_PART_SREGS: {
		struct vstate_sregs *s = &v->sregs;

		for (int i = 0; i < 8; i++)
			get_seg(r, &s->seg[i]);
		get_dtable(r, &s->gdt);
		get_dtable(r, &s->idt);
		s->cr0 = wire_get_u64(r);
		s->cr2 = wire_get_u64(r);
		s->cr3 = wire_get_u64(r);
		s->cr4 = wire_get_u64(r);
		s->cr8 = wire_get_u64(r);
		s->efer = wire_get_u64(r);
		s->apic_base = wire_get_u64(r);
		s->flags = wire_get_u64(r);
		for (int i = 0; i < 4; i++)
			s->pdptrs[i] = wire_get_u64(r);
		break;
	}
	case VSTATE_PART_XSAVE:
		v->xsave.size = wire_get_u32(r);
		/* Bounded before the copy; a bad size leaves the length check to fail. */
		if (v->xsave.size <= VSTATE_XSAVE_MAX)
			wire_get_bytes(r, v->xsave.data, v->xsave.size);
		break;
	case VSTATE_PART_XCRS:
		v->xcrs.n = wire_get_u32(r);
		for (uint32_t i = 0; i < v->xcrs.n && i < VSTATE_XCRS_MAX; i++) {
			v->xcrs.x[i].xcr = wire_get_u32(r);
			v->xcrs.x[i].value = wire_get_u64(r);
		}
		break;
	case VSTATE_PART_MSRS:
		v->msrs.n = wire_get_u32(r);
		for (uint32_t i = 0; i < v->msrs.n && i < VSTATE_MSRS_MAX; i++) {
			v->msrs.e[i].index = wire_get_u32(r);
			v->msrs.e[i].value = wire_get_u64(r);
		}
		break;
	case VSTATE_PART_EVENTS: {
		struct vstate_events *e = &v->events;

		e->exc_injected = wire_get_u8(r);
		e->exc_nr = wire_get_u8(r);
		e->exc_has_error_code = wire_get_u8(r);
		e->exc_pending = wire_get_u8(r);
		e->exc_error_code = wire_get_u32(r);
		e->int_injected = wire_get_u8(r);
		e->int_nr = wire_get_u8(r);
		e->int_soft = wire_get_u8(r);
		e->int_shadow = wire_get_u8(r);
		e->nmi_injected = wire_get_u8(r);
		e->nmi_pending = wire_get_u8(r);
		e->nmi_masked = wire_get_u8(r);
		e->sipi_vector = wire_get_u32(r);
		e->flags = wire_get_u32(r);
		e->smi_smm = wire_get_u8(r);
		e->smi_pending = wire_get_u8(r);
		e->smi_inside_nmi = wire_get_u8(r);
		e->smi_latched_init = wire_get_u8(r);
		e->triple_fault_pending = wire_get_u8(r);
		e->exc_has_payload = wire_get_u8(r);
		e->exc_payload = wire_get_u64(r);
		break;
	}
	case VSTATE_PART_DEBUGREGS:
		for (int i = 0; i < 4; i++)
			v->debugregs.db[i] = wire_get_u64(r);
		v->debugregs.dr6 = wire_get_u64(r);
		v->debugregs.dr7 = wire_get_u64(r);
		break;
	case VSTATE_PART_MP:
		v->mp.mp_state = wire_get_u32(r);
		v->mp.vmm_flags = wire_get_u32(r);
		break;
	case VSTATE_PART_TSC:
		v->tsc.tsc = wire_get_u64(r);
		v->tsc.realtime_ns = wire_get_u64(r);
		v->tsc.tsc_khz = wire_get_u32(r);
		break;
	case VSTATE_PART_LAPIC:
		wire_get_bytes(r, v->lapic.regs, VSTATE_LAPIC_SIZE);
		break;
	}
}

/* The exact length a part's layout has, given its count field where it has one. */
static bool length_ok(const struct vstate_vcpu *v, unsigned part, size_t len)
{
	switch (part) {
	case VSTATE_PART_XSAVE:
		return v->xsave.size <= VSTATE_XSAVE_MAX && len == 4 + (size_t)v->xsave.size;
	case VSTATE_PART_XCRS:
		return v->xcrs.n <= VSTATE_XCRS_MAX && len == 4 + (size_t)v->xcrs.n * LEN_XCR;
	case VSTATE_PART_MSRS:
		return v->msrs.n <= VSTATE_MSRS_MAX && len == 4 + (size_t)v->msrs.n * LEN_MSR;
	default:
		return len == vstate_section_max(VSTATE_SEC_VCPU(part));
	}
}

static int check_part(const struct vstate_vcpu *v, unsigned part, const struct vstate_caps *caps,
		      uint32_t instance, char *err, size_t errlen)
{
	switch (part) {
	case VSTATE_PART_REGS:
		return check_regs(&v->regs, err, errlen);
	case VSTATE_PART_SREGS:
		return check_sregs(&v->sregs, caps, err, errlen);
	case VSTATE_PART_XSAVE:
		return check_xsave(&v->xsave, caps, err, errlen);
	case VSTATE_PART_XCRS:
		return check_xcrs(&v->xcrs, caps, err, errlen);
	case VSTATE_PART_MSRS:
		return check_msrs(&v->msrs, caps, err, errlen);
	case VSTATE_PART_EVENTS:
		return check_events(&v->events, caps, err, errlen);
	case VSTATE_PART_DEBUGREGS:
		return check_debugregs(&v->debugregs, err, errlen);
	case VSTATE_PART_MP:
		return check_mp(&v->mp, caps, err, errlen);
	case VSTATE_PART_TSC:
		return check_tsc(&v->tsc, caps, err, errlen);
	case VSTATE_PART_LAPIC:
		if (!caps->irqchip)
			return fail(err, errlen, "a LAPIC, but this VM has no in-kernel irqchip");
		return check_lapic(&v->lapic, instance, err, errlen);
	}
	return -EINVAL;
}

int vstate_vcpu_decode(struct vstate_vcpu *v, const struct vstate_caps *caps, uint32_t instance,
		       uint32_t id, uint32_t version, const uint8_t *b, size_t len, char *err,
		       size_t errlen)
{
	unsigned part = id - VSTATE_SEC_VCPU_BASE;
	struct wire_in r;
	char what[64];
	int ret;

	if (id < VSTATE_SEC_VCPU_BASE || part >= VSTATE_NPARTS)
		return fail(err, errlen, "vCPU %u: section 0x%x is not a vCPU part", instance, id);
	if (instance >= caps->ncpus)
		return fail(err, errlen, "vCPU %u: this VM has %u vCPUs", instance, caps->ncpus);
	snprintf(what, sizeof(what), "vCPU %u %s", instance, part_names[part]);
	if (v->parts & VSTATE_PART_BIT(part))
		return fail(err, errlen, "%s: the section appears twice", what);
	if (version != VSTATE_VERSION)
		return fail(err, errlen, "%s: version %u, this vmm reads version %u", what, version,
			    VSTATE_VERSION);
	wire_in_init(&r, b, len);
	decode_part(v, part, &r);
	if (!length_ok(v, part, len) || !wire_in_done(&r))
		return fail(err, errlen, "%s: %zu bytes do not match the layout", what, len);
	ret = check_part(v, part, caps, instance, err, errlen);
	if (ret < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		return fail(err, errlen, "%s: %s", what, why);
	}
	v->parts |= VSTATE_PART_BIT(part);
	return 0;
}

int vstate_vcpu_complete(const struct vstate_vcpu *v, const struct vstate_caps *caps,
			 uint32_t instance, char *err, size_t errlen)
{
	uint32_t need =
	    VSTATE_PARTS_BASE | (caps->irqchip ? VSTATE_PART_BIT(VSTATE_PART_LAPIC) : 0);

	for (unsigned p = 0; p < VSTATE_NPARTS; p++) {
		if ((need & VSTATE_PART_BIT(p)) && !(v->parts & VSTATE_PART_BIT(p)))
			return fail(err, errlen, "vCPU %u: the %s section is missing", instance,
				    part_names[p]);
		if (!(need & VSTATE_PART_BIT(p)) && (v->parts & VSTATE_PART_BIT(p)))
			return fail(err, errlen, "vCPU %u: a %s section this VM cannot load",
				    instance, part_names[p]);
	}
	return 0;
}

int vstate_clock_decode(struct vstate_clock *c, uint32_t version, const uint8_t *b, size_t len,
			char *err, size_t errlen)
{
	struct wire_in r;

	if (version != VSTATE_VERSION)
		return fail(err, errlen, "kvmclock: version %u, this vmm reads version %u", version,
			    VSTATE_VERSION);
	wire_in_init(&r, b, len);
	c->clock_ns = wire_get_u64(&r);
	c->realtime_ns = wire_get_u64(&r);
	if (!wire_in_done(&r))
		return fail(err, errlen, "kvmclock: %zu bytes, the layout has %u", len, LEN_CLOCK);
	if (!c->realtime_ns)
		return fail(err, errlen, "kvmclock: no time of reading");
	return 0;
}

static int check_pic(const struct vstate_pic *p, char *err, size_t errlen)
{
	if (!is_bool(p->read_reg_select) || !is_bool(p->poll) || !is_bool(p->special_mask) ||
	    !is_bool(p->auto_eoi) || !is_bool(p->rotate_on_auto_eoi) ||
	    !is_bool(p->special_fully_nested_mode) || !is_bool(p->init4))
		return fail(err, errlen, "a flag field is neither 0 nor 1");
	if (p->init_state > PIC_INIT_STATE_MAX || p->priority_add > PIC_PRIORITY_MAX ||
	    (p->irq_base & 7))
		return fail(err, errlen,
			    "init state %u, priority %u or vector base 0x%x out of "
			    "range",
			    p->init_state, p->priority_add, p->irq_base);
	return 0;
}

static int check_ioapic(const struct vstate_ioapic *a, char *err, size_t errlen)
{
	if (a->base_address != IOAPIC_DEFAULT_BASE)
		return fail(err, errlen, "base 0x%llx, KVM's IOAPIC lives at 0x%llx",
			    (unsigned long long)a->base_address, IOAPIC_DEFAULT_BASE);
	if (a->ioregsel > IOAPIC_IOREGSEL_MAX)
		return fail(err, errlen, "register select 0x%x out of range", a->ioregsel);
	for (unsigned i = 0; i < VSTATE_IOAPIC_PINS; i++)
		if (a->redirtbl[i] & IOAPIC_RTE_RESERVED)
			return fail(err, errlen, "pin %u: reserved bits set in 0x%llx", i,
				    (unsigned long long)a->redirtbl[i]);
	return 0;
}

int vstate_irqchip_decode(struct vstate_irqchip *c, uint32_t instance, uint32_t version,
			  const uint8_t *b, size_t len, char *err, size_t errlen)
{
	struct wire_in r;
	char why[200];
	int ret;

	if (instance >= VSTATE_NCHIPS)
		return fail(err, errlen, "irqchip %u: there are %u", instance, VSTATE_NCHIPS);
	if (version != VSTATE_VERSION)
		return fail(err, errlen, "irqchip %u: version %u, this vmm reads version %u",
			    instance, version, VSTATE_VERSION);
	memset(c, 0, sizeof(*c));
	c->chip = instance;
	wire_in_init(&r, b, len);
	if (instance == VSTATE_CHIP_IOAPIC) {
		c->ioapic.base_address = wire_get_u64(&r);
		c->ioapic.ioregsel = wire_get_u32(&r);
		c->ioapic.id = wire_get_u32(&r);
		c->ioapic.irr = wire_get_u32(&r);
		for (unsigned i = 0; i < VSTATE_IOAPIC_PINS; i++)
			c->ioapic.redirtbl[i] = wire_get_u64(&r);
	} else {
		wire_get_bytes(&r, &c->pic, LEN_PIC);
	}
	if (!wire_in_done(&r))
		return fail(err, errlen, "irqchip %u: %zu bytes do not match the layout", instance,
			    len);
	ret = instance == VSTATE_CHIP_IOAPIC ? check_ioapic(&c->ioapic, why, sizeof(why))
					     : check_pic(&c->pic, why, sizeof(why));
	if (ret < 0)
		return fail(err, errlen, "irqchip %u: %s", instance, why);
	return 0;
}

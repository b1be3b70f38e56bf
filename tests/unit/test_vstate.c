// SPDX-License-Identifier: MIT
/* Unit tests of src/vmm/vstate.c, vstate_dev.c and wire.c: layouts, round trips, checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vstate.h"
#include "vmm/wire.h"

#define MSR_STAR  0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define KHZ	  2445406u

static struct vstate_caps caps;
static char err[512];

static void setup_caps(bool irqchip)
{
	memset(&caps, 0, sizeof(caps));
	caps.ncpus = 2;
	caps.irqchip = irqchip;
	caps.xsave_size = 4096;
	caps.xcr0_supported = 0x207;
	caps.sregs2 = true;
	caps.tsc_khz = KHZ;
	caps.events_flags =
	    VSTATE_EV_NMI_PENDING | VSTATE_EV_SIPI_VECTOR | VSTATE_EV_SHADOW | VSTATE_EV_SMM;
	caps.nmsrs = 3;
	caps.msrs[0] = MSR_STAR;
	caps.msrs[1] = MSR_LSTAR;
	caps.msrs[2] = 0x174;
}

/* A plausible long-mode vCPU, every part present. */
static struct vstate_vcpu *good_vcpu(uint32_t index)
{
	struct vstate_vcpu *v = calloc(1, sizeof(*v));

	for (int i = 0; i < 16; i++)
		v->regs.gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1);
	v->regs.rip = 0x101234;
	v->regs.rflags = 0x202;
	for (int i = 0; i < 8; i++) {
		v->sregs.seg[i].base = (uint64_t)i << 12;
		v->sregs.seg[i].limit = 0xfffff;
		v->sregs.seg[i].selector = (uint16_t)(8 * i);
		v->sregs.seg[i].type = 11;
		v->sregs.seg[i].present = 1;
		v->sregs.seg[i].dpl = 3;
		v->sregs.seg[i].s = 1;
		v->sregs.seg[i].l = 1;
		v->sregs.seg[i].g = 1;
	}
	v->sregs.gdt.base = 0x102000;
	v->sregs.gdt.limit = 0x7ff;
	v->sregs.idt.base = 0x103000;
	v->sregs.idt.limit = 0xfff;
	v->sregs.cr0 = 0x80050033;
	v->sregs.cr3 = 0x104000;
	v->sregs.cr4 = 0x6a0;
	v->sregs.efer = 0xd01;
	v->sregs.apic_base = 0xfee00900;
	v->xsave.size = 4096;
	v->xsave.data[24] = 0x80; /* MXCSR 0x1f80 */
	v->xsave.data[25] = 0x1f;
	v->xsave.data[512] = 3; /* XSTATE_BV: x87, SSE */
	v->xsave.data[400] = 0x5a;
	v->xcrs.n = 1;
	v->xcrs.x[0].value = 7;
	v->msrs.n = 2;
	v->msrs.e[0].index = MSR_STAR;
	v->msrs.e[0].value = 0x0023001000000000ull;
	v->msrs.e[1].index = MSR_LSTAR;
	v->msrs.e[1].value = 0xffffffff81000000ull;
	v->events.nmi_masked = 1;
	v->events.flags = VSTATE_EV_NMI_PENDING | VSTATE_EV_SHADOW | VSTATE_EV_SMM;
	v->debugregs.db[0] = 0x10000;
	v->debugregs.dr6 = 0xffff0ff0;
	v->debugregs.dr7 = 0x400;
	v->mp.mp_state = VSTATE_MP_RUNNABLE;
	v->mp.vmm_flags = VSTATE_MP_HALTED;
	v->tsc.tsc = 123456789012ull;
	v->tsc.realtime_ns = 1700000000000000000ull;
	v->tsc.tsc_khz = KHZ;
	v->lapic.regs[0x23] = (uint8_t)index; /* APIC ID in bits 31-24 */
	v->lapic.regs[0x80] = 0x20;
	v->parts = VSTATE_PARTS_ALL;
	return v;
}

static uint8_t *encode(const struct vstate_vcpu *v, unsigned part, size_t *len)
{
	struct wire_out w;

	wire_out_init(&w);
	vstate_vcpu_encode(v, part, &w);
	return wire_out_take(&w, len);
}

static int decode(struct vstate_vcpu *into, unsigned part, uint32_t instance, const uint8_t *b,
		  size_t len)
{
	return vstate_vcpu_decode(into, &caps, instance, VSTATE_SEC_VCPU(part), VSTATE_VERSION, b,
				  len, err, sizeof(err));
}

/* Encode part of v, decode it fresh; returns the decoder's result (err has the reason). */
static int roundtrip(const struct vstate_vcpu *v, unsigned part, uint32_t instance)
{
	struct vstate_vcpu *o = calloc(1, sizeof(*o));
	size_t len;
	uint8_t *b = encode(v, part, &len);
	int r = decode(o, part, instance, b, len);

	free(b);
	free(o);
	return r;
}

static void test_wire(void **state)
{
	struct wire_out w;
	struct wire_in r;
	uint8_t *b, raw[3];
	size_t len;

	(void)state;
	wire_out_init(&w);
	wire_put_u8(&w, 0x12);
	wire_put_u16(&w, 0x3456);
	wire_put_u32(&w, 0x789abcde);
	wire_put_u64(&w, 0x0102030405060708ull);
	wire_put_bytes(&w, "xyz", 3);
	b = wire_out_take(&w, &len);
	assert_int_equal(len, 1 + 2 + 4 + 8 + 3);
	/* Little-endian on the wire, whatever the host. */
	assert_int_equal(b[1], 0x56);
	assert_int_equal(b[3], 0xde);
	assert_int_equal(b[7], 0x08);
	wire_in_init(&r, b, len);
	assert_int_equal(wire_get_u8(&r), 0x12);
	assert_int_equal(wire_get_u16(&r), 0x3456);
	assert_int_equal(wire_get_u32(&r), 0x789abcde);
	assert_true(wire_get_u64(&r) == 0x0102030405060708ull);
	wire_get_bytes(&r, raw, 3);
	assert_memory_equal(raw, "xyz", 3);
	assert_true(wire_in_done(&r));
	/* Past the end: zeros, and remembered. */
	assert_int_equal(wire_get_u32(&r), 0);
	assert_false(wire_in_done(&r));
	/* Bytes left over are not "done" either. */
	wire_in_init(&r, b, len);
	wire_get_u8(&r);
	assert_false(wire_in_done(&r));
	free(b);
}

static void test_roundtrip_every_part(void **state)
{
	struct vstate_vcpu *v, *o;

	(void)state;
	setup_caps(true);
	v = good_vcpu(1);
	o = calloc(1, sizeof(*o));
	for (unsigned p = 0; p < VSTATE_NPARTS; p++) {
		size_t len;
		uint8_t *b = encode(v, p, &len);

		assert_true(len <= vstate_section_max(VSTATE_SEC_VCPU(p)));
		if (decode(o, p, 1, b, len) != 0)
			fail_msg("part %s: %s", vstate_part_name(p), err);
		free(b);
	}
	assert_int_equal(o->parts, VSTATE_PARTS_ALL);
	assert_memory_equal(&o->regs, &v->regs, sizeof(v->regs));
	assert_memory_equal(&o->sregs, &v->sregs, sizeof(v->sregs));
	assert_int_equal(o->xsave.size, v->xsave.size);
	assert_memory_equal(o->xsave.data, v->xsave.data, v->xsave.size);
	assert_int_equal(o->xcrs.n, 1);
	assert_true(o->xcrs.x[0].value == 7);
	assert_int_equal(o->msrs.n, 2);
	assert_true(o->msrs.e[1].index == MSR_LSTAR && o->msrs.e[1].value == v->msrs.e[1].value);
	assert_memory_equal(&o->events, &v->events, sizeof(v->events));
	assert_memory_equal(&o->debugregs, &v->debugregs, sizeof(v->debugregs));
	assert_memory_equal(&o->mp, &v->mp, sizeof(v->mp));
	assert_memory_equal(&o->tsc, &v->tsc, sizeof(v->tsc));
	assert_memory_equal(o->lapic.regs, v->lapic.regs, VSTATE_LAPIC_SIZE);
	assert_int_equal(vstate_vcpu_complete(o, &caps, 1, err, sizeof(err)), 0);
	free(o);
	free(v);
}

/* Every fixed layout is exactly its length: one byte less or more is refused. */
static void test_lengths(void **state)
{
	struct vstate_vcpu *v;

	(void)state;
	setup_caps(true);
	v = good_vcpu(0);
	for (unsigned p = 0; p < VSTATE_NPARTS; p++) {
		struct vstate_vcpu *o = calloc(1, sizeof(*o));
		size_t len;
		uint8_t *b = encode(v, p, &len), *longer = calloc(1, len + 1);

		memcpy(longer, b, len);
		assert_int_equal(decode(o, p, 0, b, len - 1), -EINVAL);
		assert_non_null(strstr(err, "do not match the layout"));
		o->parts = 0;
		assert_int_equal(decode(o, p, 0, longer, len + 1), -EINVAL);
		o->parts = 0;
		assert_int_equal(decode(o, p, 0, b, 0), -EINVAL);
		free(longer);
		free(b);
		free(o);
	}
	free(v);
}

static void test_framing_errors(void **state)
{
	struct vstate_vcpu *v, *o;
	size_t len;
	uint8_t *b;

	(void)state;
	setup_caps(false);
	v = good_vcpu(0);
	o = calloc(1, sizeof(*o));
	b = encode(v, VSTATE_PART_REGS, &len);
	assert_int_equal(vstate_vcpu_decode(o, &caps, 0, VSTATE_SEC_VCPU(VSTATE_PART_REGS), 2, b,
					    len, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "version 2"));
	assert_int_equal(decode(o, VSTATE_PART_REGS, 2, b, len), -EINVAL);
	assert_non_null(strstr(err, "has 2 vCPUs"));
	assert_int_equal(decode(o, VSTATE_PART_REGS, 0, b, len), 0);
	assert_int_equal(decode(o, VSTATE_PART_REGS, 0, b, len), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(vstate_vcpu_decode(o, &caps, 0, VSTATE_SEC_VCPU(VSTATE_NPARTS), 1, b, len,
					    err, sizeof(err)),
			 -EINVAL);
	free(b);
	free(o);
	free(v);
}

/* One field at a time made bad: the decoder names it. */
struct corruption {
	const char *what;
	unsigned part;
	void (*spoil)(struct vstate_vcpu *v);
	const char *needle;
};

static void rflags_bit1(struct vstate_vcpu *v)
{
	v->regs.rflags = 0x200;
}
static void rflags_high(struct vstate_vcpu *v)
{
	v->regs.rflags |= 1ull << 40;
}
static void seg_type(struct vstate_vcpu *v)
{
	v->sregs.seg[3].type = 16;
}
static void seg_dpl(struct vstate_vcpu *v)
{
	v->sregs.seg[0].dpl = 4;
}
static void seg_bool(struct vstate_vcpu *v)
{
	v->sregs.seg[6].present = 2;
}
static void cr0_high(struct vstate_vcpu *v)
{
	v->sregs.cr0 |= 1ull << 32;
}
static void cr4_bit15(struct vstate_vcpu *v)
{
	v->sregs.cr4 |= 1ull << 15;
}
static void efer_bit1(struct vstate_vcpu *v)
{
	v->sregs.efer |= 2;
}
static void cr8_big(struct vstate_vcpu *v)
{
	v->sregs.cr8 = 16;
}
static void apic_base_low(struct vstate_vcpu *v)
{
	v->sregs.apic_base |= 1;
}
static void sregs_flags(struct vstate_vcpu *v)
{
	v->sregs.flags = 2;
}
static void xsave_small(struct vstate_vcpu *v)
{
	v->xsave.size = 512;
}
static void xsave_big(struct vstate_vcpu *v)
{
	v->xsave.size = 8192;
}
static void xsave_bv(struct vstate_vcpu *v)
{
	v->xsave.data[512] |= 0x8; /* MPX bounds: not on this host */
}
static void xsave_comp(struct vstate_vcpu *v)
{
	v->xsave.data[527] = 0x80; /* compacted format */
}
static void xsave_reserved(struct vstate_vcpu *v)
{
	v->xsave.data[560] = 1;
}
static void mxcsr_bad(struct vstate_vcpu *v)
{
	v->xsave.data[26] = 1; /* MXCSR bit 16 */
}
static void xcr_index(struct vstate_vcpu *v)
{
	v->xcrs.x[0].xcr = 1;
}
static void xcr_no_x87(struct vstate_vcpu *v)
{
	v->xcrs.x[0].value = 6;
}
static void xcr_avx_no_sse(struct vstate_vcpu *v)
{
	v->xcrs.x[0].value = 5;
}
static void xcr_unsupported(struct vstate_vcpu *v)
{
	v->xcrs.x[0].value = 0x1f;
}
static void msr_unknown(struct vstate_vcpu *v)
{
	v->msrs.e[1].index = 0xdeadbeef;
}
static void msr_tsc(struct vstate_vcpu *v)
{
	v->msrs.e[0].index = VSTATE_MSR_TSC;
}
static void msr_twice(struct vstate_vcpu *v)
{
	v->msrs.e[1].index = MSR_STAR;
}
static void ev_flags_unknown(struct vstate_vcpu *v)
{
	v->events.flags |= 0x40;
}
static void ev_flags_payload(struct vstate_vcpu *v)
{
	v->events.flags |= VSTATE_EV_PAYLOAD;
}
static void ev_vector(struct vstate_vcpu *v)
{
	v->events.exc_nr = 32;
}
static void ev_bool(struct vstate_vcpu *v)
{
	v->events.nmi_masked = 2;
}
static void ev_nmis(struct vstate_vcpu *v)
{
	v->events.nmi_pending = 3;
}
static void ev_smm(struct vstate_vcpu *v)
{
	v->events.smi_smm = 1;
}
static void ev_shadow(struct vstate_vcpu *v)
{
	v->events.int_shadow = 4;
}
static void dr6_high(struct vstate_vcpu *v)
{
	v->debugregs.dr6 |= 1ull << 33;
}
static void dr7_high(struct vstate_vcpu *v)
{
	v->debugregs.dr7 |= 1ull << 63;
}
static void mp_halted(struct vstate_vcpu *v)
{
	v->mp.mp_state = 3; /* HALTED: needs an in-kernel LAPIC */
}
static void mp_bogus(struct vstate_vcpu *v)
{
	v->mp.mp_state = 7;
}
static void mp_flags(struct vstate_vcpu *v)
{
	v->mp.vmm_flags = 2;
}
static void tsc_khz_other(struct vstate_vcpu *v)
{
	v->tsc.tsc_khz = KHZ + 1;
}
static void tsc_no_time(struct vstate_vcpu *v)
{
	v->tsc.realtime_ns = 0;
}

static const struct corruption corruptions[] = {
    {"RFLAGS bit 1 clear", VSTATE_PART_REGS, rflags_bit1, "RFLAGS"},
    {"RFLAGS high bit", VSTATE_PART_REGS, rflags_high, "RFLAGS"},
    {"segment type 16", VSTATE_PART_SREGS, seg_type, "segment fs"},
    {"DPL 4", VSTATE_PART_SREGS, seg_dpl, "segment cs"},
    {"present 2", VSTATE_PART_SREGS, seg_bool, "segment tr"},
    {"CR0 high bit", VSTATE_PART_SREGS, cr0_high, "CR0"},
    {"CR4 bit 15", VSTATE_PART_SREGS, cr4_bit15, "CR4"},
    {"EFER bit 1", VSTATE_PART_SREGS, efer_bit1, "EFER"},
    {"CR8 16", VSTATE_PART_SREGS, cr8_big, "CR8"},
    {"APIC base low bits", VSTATE_PART_SREGS, apic_base_low, "APIC base"},
    {"sregs flags", VSTATE_PART_SREGS, sregs_flags, "flags"},
    {"XSAVE 512 bytes", VSTATE_PART_XSAVE, xsave_small, "512 bytes"},
    {"XSAVE larger than this host's", VSTATE_PART_XSAVE, xsave_big, "8192 bytes"},
    {"XSTATE_BV MPX", VSTATE_PART_XSAVE, xsave_bv, "XSTATE_BV"},
    {"XCOMP_BV compacted", VSTATE_PART_XSAVE, xsave_comp, "XCOMP_BV"},
    {"XSAVE header reserved", VSTATE_PART_XSAVE, xsave_reserved, "reserved"},
    {"MXCSR outside mask", VSTATE_PART_XSAVE, mxcsr_bad, "MXCSR"},
    {"XCR1", VSTATE_PART_XCRS, xcr_index, "XCR1"},
    {"XCR0 without x87", VSTATE_PART_XCRS, xcr_no_x87, "XCR0"},
    {"XCR0 AVX without SSE", VSTATE_PART_XCRS, xcr_avx_no_sse, "XCR0"},
    {"XCR0 beyond the host", VSTATE_PART_XCRS, xcr_unsupported, "lacks"},
    {"MSR not supported", VSTATE_PART_MSRS, msr_unknown, "MSR 0xdeadbeef is not supported"},
    {"the TSC among the MSRs", VSTATE_PART_MSRS, msr_tsc, "own section"},
    {"an MSR twice", VSTATE_PART_MSRS, msr_twice, "twice"},
    {"unknown event flag", VSTATE_PART_EVENTS, ev_flags_unknown, "unknown bits"},
    {"payload flag not enabled here", VSTATE_PART_EVENTS, ev_flags_payload, "takes only"},
    {"exception vector 32", VSTATE_PART_EVENTS, ev_vector, "vector 32"},
    {"nmi masked 2", VSTATE_PART_EVENTS, ev_bool, "neither 0 nor 1"},
    {"3 NMIs pending", VSTATE_PART_EVENTS, ev_nmis, "NMIs pending"},
    {"in SMM", VSTATE_PART_EVENTS, ev_smm, "SMM"},
    {"interrupt shadow 4", VSTATE_PART_EVENTS, ev_shadow, "shadow"},
    {"DR6 high bit", VSTATE_PART_DEBUGREGS, dr6_high, "DR6"},
    {"DR7 high bit", VSTATE_PART_DEBUGREGS, dr7_high, "DR7"},
    {"HALTED without irqchip", VSTATE_PART_MP, mp_halted, "needs an in-kernel irqchip"},
    {"mp_state 7", VSTATE_PART_MP, mp_bogus, "not an x86 state"},
    {"unknown vmm flag", VSTATE_PART_MP, mp_flags, "unknown bits"},
    {"another TSC frequency", VSTATE_PART_TSC, tsc_khz_other, "cannot scale"},
    {"no time of reading", VSTATE_PART_TSC, tsc_no_time, "no time of reading"},
};

static void test_corruptions(void **state)
{
	(void)state;
	setup_caps(false);
	for (size_t i = 0; i < sizeof(corruptions) / sizeof(corruptions[0]); i++) {
		const struct corruption *c = &corruptions[i];
		struct vstate_vcpu *v = good_vcpu(0);

		/* The good vCPU passes, the spoiled one fails with its reason. */
		if (roundtrip(v, c->part, 0) != 0)
			fail_msg("%s: the unspoiled part fails: %s", c->what, err);
		c->spoil(v);
		if (roundtrip(v, c->part, 0) != -EINVAL)
			fail_msg("%s: accepted", c->what);
		if (!strstr(err, c->needle))
			fail_msg("%s: message '%s' lacks '%s'", c->what, err, c->needle);
		free(v);
	}
}

static void test_tsc_scaling_allows_other_khz(void **state)
{
	struct vstate_vcpu *v;

	(void)state;
	setup_caps(false);
	caps.tsc_scaling = true;
	v = good_vcpu(0);
	v->tsc.tsc_khz = KHZ / 2;
	assert_int_equal(roundtrip(v, VSTATE_PART_TSC, 0), 0);
	free(v);
}

static void test_pdptrs_need_sregs2(void **state)
{
	struct vstate_vcpu *v;

	(void)state;
	setup_caps(false);
	v = good_vcpu(0);
	v->sregs.flags = VSTATE_SREGS_PDPTRS_VALID;
	assert_int_equal(roundtrip(v, VSTATE_PART_SREGS, 0), 0);
	caps.sregs2 = false;
	assert_int_equal(roundtrip(v, VSTATE_PART_SREGS, 0), -EINVAL);
	assert_non_null(strstr(err, "SREGS2"));
	free(v);
}

static void test_lapic(void **state)
{
	struct vstate_vcpu *v;

	(void)state;
	setup_caps(true);
	v = good_vcpu(1);
	assert_int_equal(roundtrip(v, VSTATE_PART_LAPIC, 1), 0);
	assert_int_equal(roundtrip(v, VSTATE_PART_LAPIC, 0), -EINVAL);
	assert_non_null(strstr(err, "APIC ID"));
	setup_caps(false);
	assert_int_equal(roundtrip(v, VSTATE_PART_LAPIC, 1), -EINVAL);
	assert_non_null(strstr(err, "no in-kernel irqchip"));
	free(v);
}

static void test_complete(void **state)
{
	struct vstate_vcpu *v;

	(void)state;
	setup_caps(false);
	v = good_vcpu(0);
	v->parts = VSTATE_PARTS_BASE;
	assert_int_equal(vstate_vcpu_complete(v, &caps, 0, err, sizeof(err)), 0);
	v->parts &= ~VSTATE_PART_BIT(VSTATE_PART_MSRS);
	assert_int_equal(vstate_vcpu_complete(v, &caps, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "msrs section is missing"));
	v->parts = VSTATE_PARTS_ALL;
	assert_int_equal(vstate_vcpu_complete(v, &caps, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cannot load"));
	setup_caps(true);
	v->parts = VSTATE_PARTS_BASE;
	assert_int_equal(vstate_vcpu_complete(v, &caps, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "lapic section is missing"));
	free(v);
}

static void test_tsc_rule(void **state)
{
	struct vstate_tsc t = {.tsc = 1000, .realtime_ns = 5000000000ull, .tsc_khz = KHZ};
	struct vstate_clock c = {.clock_ns = 777, .realtime_ns = 5000000000ull};

	(void)state;
	/* One second on: the TSC advances tsc_khz * 1000 ticks. */
	assert_true(vstate_tsc_at(&t, 6000000000ull) == 1000 + (uint64_t)KHZ * 1000);
	/* 300 ms: 733,621,800 ticks. */
	assert_true(vstate_tsc_at(&t, 5300000000ull) == 1000 + 733621800ull);
	/* A clock that went back does not take the TSC back. */
	assert_true(vstate_tsc_at(&t, 4000000000ull) == 1000);
	/* A year of elapsed time at 5 GHz does not overflow the product. */
	t.tsc_khz = 5000000;
	assert_true(vstate_tsc_at(&t, 5000000000ull + 31536000000000000ull) ==
		    1000 + 31536000ull * 5000000000ull);
	assert_true(vstate_clock_at(&c, 5000000123ull) == 777 + 123);
	assert_true(vstate_clock_at(&c, 1) == 777);
}

static void test_clock_and_irqchip(void **state)
{
	struct vstate_clock c = {.clock_ns = 1, .realtime_ns = 2}, co;
	struct vstate_irqchip ic, io;
	struct wire_out w;
	uint8_t *b;
	size_t len;

	(void)state;
	wire_out_init(&w);
	vstate_clock_encode(&c, &w);
	b = wire_out_take(&w, &len);
	assert_int_equal(vstate_clock_decode(&co, 1, b, len, err, sizeof(err)), 0);
	assert_true(co.clock_ns == 1 && co.realtime_ns == 2);
	assert_int_equal(vstate_clock_decode(&co, 1, b, len - 1, err, sizeof(err)), -EINVAL);
	free(b);

	memset(&ic, 0, sizeof(ic));
	ic.chip = VSTATE_CHIP_PIC_SLAVE;
	ic.pic.imr = 0xff;
	ic.pic.irq_base = 0x70;
	wire_out_init(&w);
	vstate_irqchip_encode(&ic, &w);
	b = wire_out_take(&w, &len);
	assert_int_equal(len, 16);
	assert_int_equal(vstate_irqchip_decode(&io, 1, 1, b, len, err, sizeof(err)), 0);
	assert_memory_equal(&io.pic, &ic.pic, sizeof(ic.pic));
	b[7] = 2; /* poll */
	assert_int_equal(vstate_irqchip_decode(&io, 1, 1, b, len, err, sizeof(err)), -EINVAL);
	assert_int_equal(vstate_irqchip_decode(&io, 3, 1, b, len, err, sizeof(err)), -EINVAL);
	free(b);

	memset(&ic, 0, sizeof(ic));
	ic.chip = VSTATE_CHIP_IOAPIC;
	ic.ioapic.base_address = 0xfec00000;
	ic.ioapic.redirtbl[3] = (1ull << 16) | 0x33 | (1ull << 56);
	wire_out_init(&w);
	vstate_irqchip_encode(&ic, &w);
	b = wire_out_take(&w, &len);
	assert_int_equal(vstate_irqchip_decode(&io, 2, 1, b, len, err, sizeof(err)), 0);
	assert_true(io.ioapic.redirtbl[3] == ic.ioapic.redirtbl[3]);
	b[20 + 3 * 8 + 3] = 1; /* pin 3, bit 24: reserved */
	assert_int_equal(vstate_irqchip_decode(&io, 2, 1, b, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "pin 3"));
	b[20 + 3 * 8 + 3] = 0;
	b[0] = 1; /* base 0xfec00001 */
	assert_int_equal(vstate_irqchip_decode(&io, 2, 1, b, len, err, sizeof(err)), -EINVAL);
	free(b);
}

static void test_devices(void **state)
{
	struct vstate_console c = {.lcr = 3, .scratch = 0x42, .len = 5}, co;
	struct vstate_report rp = {.booted = 1, .data_errors_reported = 9}, ro;
	uint8_t region[64], *b;
	const uint8_t *data;
	struct wire_out w;
	size_t len;

	(void)state;
	memcpy(c.line, "hello", 5);
	wire_out_init(&w);
	vstate_console_encode(&c, &w);
	b = wire_out_take(&w, &len);
	assert_int_equal(len, 9);
	assert_int_equal(vstate_console_decode(&co, 1, b, len, err, sizeof(err)), 0);
	assert_true(co.lcr == 3 && co.scratch == 0x42 && co.len == 5);
	assert_memory_equal(co.line, "hello", 5);
	assert_int_equal(vstate_console_decode(&co, 1, b, len - 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(vstate_console_decode(&co, 2, b, len, err, sizeof(err)), -EINVAL);
	b[2] = 0x01; /* len 513 */
	b[3] = 0x02;
	assert_int_equal(vstate_console_decode(&co, 1, b, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "partial line"));
	free(b);

	wire_out_init(&w);
	vstate_report_encode(&rp, &w);
	b = wire_out_take(&w, &len);
	assert_int_equal(vstate_report_decode(&ro, 1, b, len, err, sizeof(err)), 0);
	assert_true(ro.booted == 1 && ro.data_errors_reported == 9);
	b[0] = 2;
	assert_int_equal(vstate_report_decode(&ro, 1, b, len, err, sizeof(err)), -EINVAL);
	assert_int_equal(vstate_report_decode(&ro, 1, b, len + 0 - 1, err, sizeof(err)), -EINVAL);
	free(b);

	memset(region, 0xab, sizeof(region));
	wire_out_init(&w);
	vstate_stats_encode(region, sizeof(region), &w);
	b = wire_out_take(&w, &len);
	assert_int_equal(vstate_stats_decode(&data, sizeof(region), 1, b, len, err, sizeof(err)),
			 0);
	assert_memory_equal(data, region, sizeof(region));
	assert_int_equal(vstate_stats_decode(&data, 32, 1, b, len, err, sizeof(err)), -EINVAL);
	assert_int_equal(
	    vstate_stats_decode(&data, sizeof(region), 1, b, len - 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(vstate_stats_decode(&data, sizeof(region), 1, b, 3, err, sizeof(err)),
			 -EINVAL);
	free(b);
}

static void test_names(void **state)
{
	char buf[48];

	(void)state;
	assert_string_equal(
	    vstate_section_name(VSTATE_SEC_VCPU(VSTATE_PART_MSRS), buf, sizeof(buf)),
	    "msrs (0x104)");
	assert_string_equal(vstate_section_name(VSTATE_SEC_CONSOLE, buf, sizeof(buf)),
			    "console (0x200)");
	assert_string_equal(vstate_section_name(0x3f0, buf, sizeof(buf)), "section 0x3f0");
	assert_int_equal(vstate_section_max(0x3f0), 0);
	assert_true(vstate_section_max(VSTATE_SEC_STATS) >= 0x9000 + 4);
}

static void test_section_kinds(void **state)
{
	struct vstate_section_kind k[VSTATE_MAX_KINDS];
	unsigned n;

	(void)state;
	/* 2 vCPUs, no irqchip: 9 vCPU parts, kvmclock, 3 devices (22 sections). */
	n = vstate_section_kinds(2, false, k);
	assert_int_equal(n, 13);
	assert_int_equal(k[0].id, VSTATE_SEC_VCPU(VSTATE_PART_REGS));
	assert_int_equal(k[0].instances, 2);
	assert_int_equal(k[9].id, VSTATE_SEC_CLOCK);
	assert_int_equal(k[9].instances, 1);
	assert_int_equal(k[12].id, VSTATE_SEC_STATS);
	for (unsigned i = 0; i < n; i++) {
		assert_int_not_equal(k[i].id, VSTATE_SEC_VCPU(VSTATE_PART_LAPIC));
		assert_true(k[i].max_len > 0 && k[i].max_len == vstate_section_max(k[i].id));
	}
	/* With an irqchip: the LAPIC and three chips too (27 sections). */
	n = vstate_section_kinds(2, true, k);
	assert_int_equal(n, VSTATE_MAX_KINDS);
	assert_int_equal(k[9].id, VSTATE_SEC_VCPU(VSTATE_PART_LAPIC));
	assert_int_equal(k[10].id, VSTATE_SEC_IRQCHIP);
	assert_int_equal(k[10].instances, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wire),
	    cmocka_unit_test(test_roundtrip_every_part),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_framing_errors),
	    cmocka_unit_test(test_corruptions),
	    cmocka_unit_test(test_tsc_scaling_allows_other_khz),
	    cmocka_unit_test(test_pdptrs_need_sregs2),
	    cmocka_unit_test(test_lapic),
	    cmocka_unit_test(test_complete),
	    cmocka_unit_test(test_tsc_rule),
	    cmocka_unit_test(test_clock_and_irqchip),
	    cmocka_unit_test(test_devices),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_section_kinds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

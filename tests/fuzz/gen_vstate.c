// SPDX-License-Identifier: MIT
/*
 * The vstate seeds (gen_corpus.c calls gen_vstate()): a whole VM state as a
 * destination on this host receives it, written by vmm's own section
 * encoders (vstate.h) from the vCPU state vmm sets at boot (boot.c), a
 * little run since, and the values KVM reports on this host for the rest
 * (vstate_host.h).  Two VMs: vmm's own shape (2 vCPUs, no irqchip) and one
 * with an in-kernel irqchip (1 vCPU: its LAPIC, PICs and IOAPIC).
 */
#include <string.h>

#include "gen_corpus.h"
#include "stress_abi.h"
#include "vmm/vstate.h"
#include "vstate_host.h"

/* The fuzz target's control bits (fuzz_vstate.c). */
#define FZ_IRQCHIP    0x01
#define FZ_CPUS_SHIFT 4

/* A moment of the run: the TSC and kvmclock were read at this host time. */
#define AT_REALTIME_NS 1764252000123456789ull
#define AT_TSC	       987654321098ull
#define AT_CLOCK_NS    403112233445ull

/* Values KVM gives a vCPU at reset or after vmm's boot (Intel SDM, vol. 3, 9.1). */
#define FCW_RESET	 0x37fu
#define MXCSR_RESET	 0x1f80u
#define MXCSR_MASK	 0xffffu
#define XSTATE_X87_SSE	 0x3ull
#define DR6_RESET	 0xffff0ff0ull
#define DR7_RESET	 0x400ull
#define APIC_BASE	 0xfee00000ull
#define APIC_ENABLE	 0x800ull
#define APIC_BSP	 0x100ull
#define LAPIC_ID_REG	 0x20u
#define LAPIC_VER_REG	 0x30u
#define LAPIC_VERSION	 0x50014u
#define LAPIC_SVR_REG	 0xf0u
#define LAPIC_SVR	 0x1ffu
#define PAT_RESET	 0x0007040600070406ull
#define MISC_ENABLE	 0x1a0u
#define MISC_FAST_STR	 1ull
#define PAT_MSR		 0x277u
#define EVENTS_REPORTED	 (VSTATE_EV_NMI_PENDING | VSTATE_EV_SIPI_VECTOR | VSTATE_EV_SHADOW)
#define IOAPIC_BASE	 0xfec00000ull
#define IOAPIC_RTE_MASK	 0x10000ull
#define PIC_MASTER_BASE	 0x20u
#define PIC_SLAVE_BASE	 0x28u
#define PIC_MASTER_ELCRM 0xf8u
#define PIC_SLAVE_ELCRM	 0xdeu

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void seg(struct vstate_seg *d, const struct boot_segment *s)
{
	*d = (struct vstate_seg){s->base, s->limit, s->selector, s->type, s->present, s->dpl,
				 s->db,	  s->s,	    s->l,	 s->g,	  s->avl,     s->unusable};
}

/* vCPU `cpu` as vmm starts it (boot.c), some way into its run. */
static void vcpu_state(struct vstate_vcpu *v, const struct boot_info *bi,
		       const struct loader_image *li, unsigned cpu, bool irqchip)
{
	struct boot_sregs bs;
	struct boot_regs br;
	const struct boot_segment *segs[8] = {&bs.cs, &bs.ds, &bs.es, &bs.fs,
					      &bs.gs, &bs.ss, &bs.tr, &bs.ldt};

	memset(v, 0, sizeof(*v));
	if (cpu == 0)
		boot_bsp_state(bi, li->entry, &bs, &br);
	else
		boot_ap_state(bi, li->ap_entry, cpu, &bs, &br);
	v->parts = VSTATE_PARTS_BASE | (irqchip ? VSTATE_PART_BIT(VSTATE_PART_LAPIC) : 0);
	/* rax rbx rcx rdx rsi rdi rsp rbp, KVM's order */
	v->regs.gpr[0] = br.rax;
	v->regs.gpr[1] = br.rbx;
	v->regs.gpr[4] = br.rsi;
	v->regs.gpr[5] = br.rdi;
	v->regs.gpr[6] = br.rsp;
	v->regs.rip = br.rip + 0x1234u * (cpu + 1); /* it has run since */
	v->regs.rflags = br.rflags;
	for (int i = 0; i < 8; i++)
		seg(&v->sregs.seg[i], segs[i]);
	v->sregs.gdt = (struct vstate_dtable){bs.gdt.base, bs.gdt.limit};
	v->sregs.idt = (struct vstate_dtable){bs.idt.base, bs.idt.limit};
	v->sregs.cr0 = bs.cr0;
	v->sregs.cr2 = bs.cr2;
	v->sregs.cr3 = bs.cr3;
	v->sregs.cr4 = bs.cr4;
	v->sregs.cr8 = bs.cr8;
	v->sregs.efer = bs.efer;
	v->sregs.apic_base = APIC_BASE | APIC_ENABLE | (cpu == 0 ? APIC_BSP : 0);
	v->xsave.size = VSTATE_HOST_XSAVE;
	wr32(v->xsave.data, FCW_RESET);
	wr32(v->xsave.data + 24, MXCSR_RESET);
	wr32(v->xsave.data + 28, MXCSR_MASK);
	wr64(v->xsave.data + 512, XSTATE_X87_SSE);
	v->xcrs.n = 1;
	v->xcrs.x[0].xcr = 0;
	v->xcrs.x[0].value = 1; /* x87 only: the stress kernel uses no SSE */
	v->msrs.n = VSTATE_HOST_NMSRS;
	for (uint32_t i = 0; i < VSTATE_HOST_NMSRS; i++) {
		uint32_t idx = vstate_host_msrs[i];

		v->msrs.e[i].index = idx;
		v->msrs.e[i].value = idx == PAT_MSR	  ? PAT_RESET
				     : idx == MISC_ENABLE ? MISC_FAST_STR
							  : 0;
	}
	v->events.flags = EVENTS_REPORTED;
	v->debugregs.dr6 = DR6_RESET;
	v->debugregs.dr7 = DR7_RESET;
	v->mp.mp_state = VSTATE_MP_RUNNABLE;
	v->tsc = (struct vstate_tsc){AT_TSC + cpu * 1000u, AT_REALTIME_NS, VSTATE_HOST_TSCKHZ};
	if (irqchip) {
		wr32(v->lapic.regs + LAPIC_ID_REG, cpu << 24);
		wr32(v->lapic.regs + LAPIC_VER_REG, LAPIC_VERSION);
		wr32(v->lapic.regs + LAPIC_SVR_REG, LAPIC_SVR);
	}
}

struct sink {
	gen_section_fn fn;
	void *opaque;
};

/* Hand the section written into w to the sink. */
static void section(struct sink *out, uint32_t id, uint32_t instance, struct wire_out *w)
{
	size_t len;
	uint8_t *b = wire_out_take(w, &len);

	if (!b)
		gen_die("out of memory");
	out->fn(out->opaque, id, instance, b, len);
	free(b);
}

void gen_vstate_sections(const struct boot_info *bi, const struct loader_image *li, unsigned ncpus,
			 bool irqchip, gen_section_fn fn, void *opaque)
{
	struct sink sink = {fn, opaque}, *out = &sink;
	static const char line[] = "vmm-stress: cpu 1 pass 3 ";
	struct vstate_vcpu *v = malloc(sizeof(*v));
	struct vstate_clock clock = {AT_CLOCK_NS, AT_REALTIME_NS};
	struct vstate_console con = {.lcr = 3, .len = sizeof(line) - 1};
	struct vstate_report rp = {.booted = 1};
	uint8_t *stats = calloc(1, STRESS_STATS_SIZE);
	struct wire_out w;

	if (!v || !stats)
		gen_die("out of memory");
	memcpy(con.line, line, sizeof(line) - 1);
	wire_out_init(&w);
	for (unsigned cpu = 0; cpu < ncpus; cpu++) {
		vcpu_state(v, bi, li, cpu, irqchip);
		for (unsigned p = 0; p < VSTATE_NPARTS; p++) {
			if (!(v->parts & VSTATE_PART_BIT(p)))
				continue;
			vstate_vcpu_encode(v, p, &w);
			section(out, VSTATE_SEC_VCPU(p), cpu, &w);
		}
	}
	vstate_clock_encode(&clock, &w);
	section(out, VSTATE_SEC_CLOCK, 0, &w);
	for (uint32_t c = 0; irqchip && c < VSTATE_NCHIPS; c++) {
		struct vstate_irqchip chip = {.chip = c};

		if (c == VSTATE_CHIP_IOAPIC) {
			chip.ioapic.base_address = IOAPIC_BASE;
			for (unsigned i = 0; i < VSTATE_IOAPIC_PINS; i++)
				chip.ioapic.redirtbl[i] = IOAPIC_RTE_MASK;
		} else {
			chip.pic.irq_base = c ? PIC_SLAVE_BASE : PIC_MASTER_BASE;
			chip.pic.elcr_mask = c ? PIC_SLAVE_ELCRM : PIC_MASTER_ELCRM;
			chip.pic.imr = 0xff;
		}
		vstate_irqchip_encode(&chip, &w);
		section(out, VSTATE_SEC_IRQCHIP, c, &w);
	}
	vstate_console_encode(&con, &w);
	section(out, VSTATE_SEC_CONSOLE, 0, &w);
	vstate_report_encode(&rp, &w);
	section(out, VSTATE_SEC_REPORT, 0, &w);
	vstate_stats_encode(stats, STRESS_STATS_SIZE, &w);
	section(out, VSTATE_SEC_STATS, 0, &w);
	free(stats);
	free(v);
}

/*
 * A seed: the sections in the target's framing (id u16, instance u8,
 * version u8, length u16, bytes), less those a variant leaves out, one of
 * them perhaps twice.
 */
struct seed {
	struct gen_bytes b;
	uint32_t drop[2]; /* section ids left out (0: none) */
	uint32_t twice;	  /* a section id sent twice (0: none) */
};

static void framed(void *opaque, uint32_t id, uint32_t instance, const uint8_t *b, size_t len)
{
	struct seed *sd = opaque;
	uint8_t h[6] = {(uint8_t)id,	(uint8_t)(id >> 8), (uint8_t)instance,
			VSTATE_VERSION, (uint8_t)len,	    (uint8_t)(len >> 8)};

	if (len > 0xffff)
		gen_die("a vstate section does not fit the target's framing");
	if (id == sd->drop[0] || id == sd->drop[1])
		return;
	for (int k = 0; k < (id == sd->twice ? 2 : 1); k++) {
		gen_put(&sd->b, h, sizeof(h));
		gen_put(&sd->b, b, len);
	}
}

void gen_vstate(const struct boot_info *bi, const struct loader_image *li)
{
	/*
	 * Whole states, then states the loader must refuse as a whole though
	 * every section is fine alone (what check_complete() and the
	 * duplicate checks say), without the 36 KiB stats section where the
	 * refusal comes before it.
	 */
	static const struct {
		const char *name;
		unsigned ncpus;
		bool irqchip;
		uint32_t drop[2], twice;
	} vms[] = {
	    {"ok-boot-2cpu", 2, false, {0, 0}, 0},
	    {"ok-irqchip-1cpu", 1, true, {0, 0}, 0},
	    {"no-clock", 1, false, {VSTATE_SEC_CLOCK, VSTATE_SEC_STATS}, 0},
	    {"no-irqchip", 1, true, {VSTATE_SEC_IRQCHIP, VSTATE_SEC_STATS}, 0},
	    {"no-stats", 1, false, {VSTATE_SEC_STATS, 0}, 0},
	    {"clock-twice", 1, false, {VSTATE_SEC_STATS, 0}, VSTATE_SEC_CLOCK},
	    {"report-twice", 1, false, {VSTATE_SEC_STATS, 0}, VSTATE_SEC_REPORT},
	};

	for (size_t i = 0; i < sizeof(vms) / sizeof(vms[0]); i++) {
		struct seed sd = {.drop = {vms[i].drop[0], vms[i].drop[1]}, .twice = vms[i].twice};
		uint8_t ctrl = (uint8_t)((vms[i].ncpus - 1) << FZ_CPUS_SHIFT |
					 (vms[i].irqchip ? FZ_IRQCHIP : 0));

		gen_vstate_sections(bi, li, vms[i].ncpus, vms[i].irqchip, framed, &sd);
		gen_emit("vstate", vms[i].name, &ctrl, 1, sd.b.buf, sd.b.len);
		free(sd.b.buf);
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * vstate: the byte layouts of the VM state sections, and their checks.
 *
 * A migration carries vCPU and device state as generic sections (section
 * id, instance id, version, length, bytes; the stream codec frames them).
 * This module defines the bytes: every field fixed-width, little-endian, in
 * the order listed in docs/vm-state.md, versioned per section.  Encoders
 * write a section from a plain struct; decoders read one back and check
 * every field (sizes, counts, MSR indices against what the destination
 * supports, reserved bits) so that nothing unchecked ever reaches an ioctl
 * or a device.  Pure: no KVM header, no ioctl (src/kvm/kvm_state.c does
 * those, between these structs and KVM's).
 */
#ifndef VMM_VSTATE_H
#define VMM_VSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/wire.h"

/*
 * Section ids.  0x100-0x17f: one section per vCPU part (instance = vCPU
 * index); 0x180-0x1ff: VM-wide KVM state; 0x200-0x2ff: devices (instance
 * 0).  The stream's own records (configuration, RAM, end) are not in these
 * ranges.
 */
enum vstate_part {
	VSTATE_PART_REGS = 0,
	VSTATE_PART_SREGS,
	VSTATE_PART_XSAVE,
	VSTATE_PART_XCRS,
	VSTATE_PART_MSRS,
	VSTATE_PART_EVENTS,
	VSTATE_PART_DEBUGREGS,
	VSTATE_PART_MP,
	VSTATE_PART_TSC,
	VSTATE_PART_LAPIC, /* only with an in-kernel irqchip */
	VSTATE_NPARTS,
};
#define VSTATE_SEC_VCPU_BASE  0x100u
#define VSTATE_SEC_VCPU(part) (VSTATE_SEC_VCPU_BASE + (uint32_t)(part))
#define VSTATE_PART_BIT(part) (1u << (part))
/* The parts every vCPU has; LAPIC is added where there is an irqchip. */
#define VSTATE_PARTS_BASE (VSTATE_PART_BIT(VSTATE_PART_LAPIC) - 1u)
#define VSTATE_PARTS_ALL  (VSTATE_PART_BIT(VSTATE_NPARTS) - 1u)

#define VSTATE_SEC_CLOCK   0x180u /* kvmclock */
#define VSTATE_SEC_IRQCHIP 0x181u /* instance 0, 1: PIC master, slave; 2: IOAPIC */

#define VSTATE_SEC_CONSOLE 0x200u /* COM1 */
#define VSTATE_SEC_REPORT  0x201u /* the stress kernel's report port */
#define VSTATE_SEC_STATS   0x202u /* the stats device (its whole region) */

/* Every section is at version 1 so far. */
#define VSTATE_VERSION 1u

/* Largest XSAVE area accepted: AMX's 11 KiB fits. */
#define VSTATE_XSAVE_MAX 16384u
/* The legacy area and the XSAVE header: the least an XSAVE area has. */
#define VSTATE_XSAVE_MIN 576u
/* KVM_MAX_XCRS */
#define VSTATE_XCRS_MAX 16u
/* More MSRs than any KVM lists (41 on our hosts, about 100 elsewhere). */
#define VSTATE_MSRS_MAX	  1024u
#define VSTATE_LAPIC_SIZE 1024u
/* The console's partial line (DEV_LINE_MAX). */
#define VSTATE_CONSOLE_LINE_MAX 512u

/* MSRs that do not travel in the MSR section. */
#define VSTATE_MSR_TSC 0x10u /* in its own section, with the time it was read */

/* KVM_MP_STATE_* values the x86 KVM accepts. */
#define VSTATE_MP_RUNNABLE 0u

/* vstate_mp.vmm_flags: the monitor's own per-vCPU state. */
#define VSTATE_MP_HALTED 1u /* executed HLT with nothing to wake it: never runs again */

/* vstate_sregs.flags */
#define VSTATE_SREGS_PDPTRS_VALID 1u

/* vstate_events.flags: KVM_VCPUEVENT_VALID_* */
#define VSTATE_EV_NMI_PENDING  0x01u
#define VSTATE_EV_SIPI_VECTOR  0x02u
#define VSTATE_EV_SHADOW       0x04u
#define VSTATE_EV_SMM	       0x08u
#define VSTATE_EV_PAYLOAD      0x10u
#define VSTATE_EV_TRIPLE_FAULT 0x20u

struct vstate_regs {
	/* rax rbx rcx rdx rsi rdi rsp rbp r8 ... r15, KVM's order */
	uint64_t gpr[16];
	uint64_t rip, rflags;
};

struct vstate_seg {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type, present, dpl, db, s, l, g, avl, unusable;
};

struct vstate_dtable {
	uint64_t base;
	uint16_t limit;
};

struct vstate_sregs {
	/* cs ds es fs gs ss tr ldt */
	struct vstate_seg seg[8];
	struct vstate_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
	uint64_t flags; /* VSTATE_SREGS_PDPTRS_VALID */
	uint64_t pdptrs[4];
};

struct vstate_xsave {
	uint32_t size; /* bytes in data: the source's KVM_CAP_XSAVE2 size */
	uint8_t data[VSTATE_XSAVE_MAX];
};

struct vstate_xcrs {
	uint32_t n;
	struct {
		uint32_t xcr;
		uint64_t value;
	} x[VSTATE_XCRS_MAX];
};

struct vstate_msrs {
	uint32_t n;
	struct {
		uint32_t index;
		uint64_t value;
	} e[VSTATE_MSRS_MAX];
};

struct vstate_events {
	uint8_t exc_injected, exc_nr, exc_has_error_code, exc_pending;
	uint32_t exc_error_code;
	uint8_t int_injected, int_nr, int_soft, int_shadow;
	uint8_t nmi_injected, nmi_pending, nmi_masked;
	uint32_t sipi_vector;
	uint32_t flags; /* VSTATE_EV_* as KVM_GET_VCPU_EVENTS reported them */
	uint8_t smi_smm, smi_pending, smi_inside_nmi, smi_latched_init;
	uint8_t triple_fault_pending;
	uint8_t exc_has_payload;
	uint64_t exc_payload;
};

struct vstate_debugregs {
	uint64_t db[4], dr6, dr7;
};

struct vstate_mp {
	uint32_t mp_state;  /* KVM_MP_STATE_* */
	uint32_t vmm_flags; /* VSTATE_MP_HALTED */
};

/*
 * The guest's TSC and when it was read: the load sets the TSC to
 * tsc + (now - realtime_ns) at tsc_khz (docs/vm-state.md, "The TSC").
 */
struct vstate_tsc {
	uint64_t tsc;
	uint64_t realtime_ns; /* host CLOCK_REALTIME right after the read */
	uint32_t tsc_khz;
};

struct vstate_lapic {
	uint8_t regs[VSTATE_LAPIC_SIZE];
};

/* Everything one vCPU needs to continue. */
struct vstate_vcpu {
	uint32_t parts; /* VSTATE_PART_BIT()s present */
	struct vstate_regs regs;
	struct vstate_sregs sregs;
	struct vstate_xsave xsave;
	struct vstate_xcrs xcrs;
	struct vstate_msrs msrs;
	struct vstate_events events;
	struct vstate_debugregs debugregs;
	struct vstate_mp mp;
	struct vstate_tsc tsc;
	struct vstate_lapic lapic;
};

/* kvmclock and when it was read; the load adds the time elapsed since. */
struct vstate_clock {
	uint64_t clock_ns;
	uint64_t realtime_ns;
};

/* One in-kernel interrupt controller (KVM_GET_IRQCHIP). */
struct vstate_pic {
	uint8_t last_irr, irr, imr, isr, priority_add, irq_base, read_reg_select, poll,
	    special_mask, init_state, auto_eoi, rotate_on_auto_eoi, special_fully_nested_mode,
	    init4, elcr, elcr_mask;
};
#define VSTATE_IOAPIC_PINS 24u
struct vstate_ioapic {
	uint64_t base_address;
	uint32_t ioregsel, id, irr;
	uint64_t redirtbl[VSTATE_IOAPIC_PINS];
};
#define VSTATE_CHIP_PIC_MASTER 0u
#define VSTATE_CHIP_PIC_SLAVE  1u
#define VSTATE_CHIP_IOAPIC     2u
#define VSTATE_NCHIPS	       3u
struct vstate_irqchip {
	uint32_t chip; /* VSTATE_CHIP_* */
	union {
		struct vstate_pic pic;
		struct vstate_ioapic ioapic;
	};
};

/* What the destination can take; filled by the KVM layer (kvm_state_caps()). */
struct vstate_caps {
	uint32_t ncpus;
	bool irqchip;
	uint32_t xsave_size;	 /* KVM_CAP_XSAVE2 (4096 without it) */
	uint64_t xcr0_supported; /* CPUID 0xD.0 EDX:EAX */
	bool sregs2;		 /* PDPTRs can be loaded */
	uint32_t tsc_khz;	 /* the destination's guest TSC frequency */
	bool tsc_scaling;	 /* KVM_CAP_TSC_CONTROL: another frequency can be set */
	uint32_t events_flags;	 /* VSTATE_EV_* the destination accepts */
	uint32_t nmsrs;		 /* KVM_GET_MSR_INDEX_LIST, less those a vCPU refuses */
	uint32_t msrs[VSTATE_MSRS_MAX];
};

/* The consoles' and ports' state (devices.c, dev_stress.c). */
struct vstate_console {
	uint8_t lcr, scratch;
	uint16_t len;
	char line[VSTATE_CONSOLE_LINE_MAX];
};

struct vstate_report {
	uint8_t booted; /* 0 or 1 */
	uint64_t data_errors_reported;
};

/*
 * The TSC rule: a TSC read at t->realtime_ns continues at t->tsc_khz, so at
 * host time realtime_ns it reads tsc + elapsed * tsc_khz (elapsed < 0, a
 * clock that went back, counts as 0: a TSC never goes backwards).
 */
uint64_t vstate_tsc_at(const struct vstate_tsc *t, uint64_t realtime_ns);
/* kvmclock continues the same way, in nanoseconds. */
uint64_t vstate_clock_at(const struct vstate_clock *c, uint64_t realtime_ns);

/* One kind of section a VM saves: for the stream's table of expected sections. */
struct vstate_section_kind {
	uint32_t id;
	uint32_t instances; /* instance ids 0 .. instances - 1 */
	size_t max_len;	    /* vstate_section_max(id) */
	const char *name;
};
/* At most: the vCPU parts, kvmclock, irqchip and three devices. */
#define VSTATE_MAX_KINDS (VSTATE_NPARTS + 5)
/*
 * The kinds of section a VM of this shape saves, every one of them required
 * at the destination; writes them to out, returns how many.
 */
unsigned vstate_section_kinds(uint32_t ncpus, bool irqchip, struct vstate_section_kind *out);

const char *vstate_part_name(unsigned part);
/* "msrs (0x104)", "console (0x200)", "section 0x3f0" */
const char *vstate_section_name(uint32_t id, char *buf, size_t len);
/* The largest section of this id that a decoder accepts (for the stream's framing). */
size_t vstate_section_max(uint32_t id);

/* vCPU parts.  encode: the part must be present. */
void vstate_vcpu_encode(const struct vstate_vcpu *v, unsigned part, struct wire_out *w);
/*
 * Decode and check one vCPU section into v (sets its part bit).  Rejects a
 * part already present, a version other than VSTATE_VERSION, a length that
 * is not the layout's and any field the destination (caps) cannot take.
 */
int vstate_vcpu_decode(struct vstate_vcpu *v, const struct vstate_caps *caps, uint32_t instance,
		       uint32_t id, uint32_t version, const uint8_t *b, size_t len, char *err,
		       size_t errlen);
/* Every part this destination needs is present, and no part it cannot load. */
int vstate_vcpu_complete(const struct vstate_vcpu *v, const struct vstate_caps *caps,
			 uint32_t instance, char *err, size_t errlen);

void vstate_clock_encode(const struct vstate_clock *c, struct wire_out *w);
int vstate_clock_decode(struct vstate_clock *c, uint32_t version, const uint8_t *b, size_t len,
			char *err, size_t errlen);
void vstate_irqchip_encode(const struct vstate_irqchip *c, struct wire_out *w);
int vstate_irqchip_decode(struct vstate_irqchip *c, uint32_t instance, uint32_t version,
			  const uint8_t *b, size_t len, char *err, size_t errlen);

/* Devices (vstate_dev.c). */
void vstate_console_encode(const struct vstate_console *c, struct wire_out *w);
int vstate_console_decode(struct vstate_console *c, uint32_t version, const uint8_t *b, size_t len,
			  char *err, size_t errlen);
void vstate_report_encode(const struct vstate_report *r, struct wire_out *w);
int vstate_report_decode(struct vstate_report *r, uint32_t version, const uint8_t *b, size_t len,
			 char *err, size_t errlen);
/* The stats device travels whole: a u32 size, then the bytes. */
void vstate_stats_encode(const void *region, uint32_t size, struct wire_out *w);
/* Check a stats section for a region of `size` bytes; *data points into b. */
int vstate_stats_decode(const uint8_t **data, uint32_t size, uint32_t version, const uint8_t *b,
			size_t len, char *err, size_t errlen);

#endif

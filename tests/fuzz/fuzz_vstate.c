// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the checks of the VM state sections (src/vmm/vstate*.c) and
 * the load hooks' check-only path, as a destination runs them on the bytes
 * a source sent: vm_state_check(), the first step of vm_state_load(), on
 * a list of sections, in a VM of vmm's devices against this host's KVM
 * (vstate_host.h).  No KVM is touched: the capabilities are given.
 *
 * Input: 1 control byte, then sections.
 *   byte 0   bit 0: an in-kernel irqchip; bit 1: the KVM can scale the
 *            TSC; bit 2: no KVM_CAP_SREGS2; bits 4-5: vCPUs - 1
 *   then each section: id u16, instance u8, version u8, length u16
 *   (little-endian), then its bytes (cut short at the input's end).
 * Checked:
 *   - each section alone: its decoder (vstate_vcpu_decode() and the
 *     others) returns 0 or -EINVAL with one printable line; a section it
 *     accepts encodes back to exactly its bytes (nothing read is lost or
 *     invented) and keeps what vstate.h promises the KVM layer (counts in
 *     bounds, MSRs of the destination's list and each once, XCR0 and
 *     XSAVE within what the host supports, event flags, mp_state, TSC
 *     frequency and LAPIC as this VM can take them);
 *   - the list: vm_state_check() returns 0 or -EINVAL with one printable
 *     line, the same twice, and accepts exactly when every section is
 *     accepted alone (its id known, its instance in range, a LAPIC or
 *     irqchip section only with an irqchip) and the (id, instance) pairs
 *     are those vstate_section_kinds() lists for this VM, each once: the
 *     table a source sends by and the loader's requirements agree.
 */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "stress_abi.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"
#include "vmm/vstate.h"
#include "vstate_host.h"

#define FZ_IRQCHIP     0x01
#define FZ_TSC_SCALING 0x02
#define FZ_NO_SREGS2   0x04
#define FZ_CPUS_SHIFT  4
#define FZ_CPUS_MASK   3u
#define FZ_HDR	       6 /* id u16, instance u8, version u8, length u16 */
/* Enough for any valid list (4 vCPUs: 44 sections) and then some. */
#define FZ_MAX_SECTIONS 128

/* The destination: vmm's devices and this host's capabilities. */
static struct vm vm;
static struct vstate_caps caps;

static bool same_bytes(struct wire_out *w, const uint8_t *b, size_t len)
{
	size_t n;
	uint8_t *out = wire_out_take(w, &n);
	bool same = out && n == len && (len == 0 || !memcmp(out, b, len));

	free(out);
	return same;
}

/*
 * What vstate.h promises of a vCPU part it accepts, so that nothing the
 * destination's KVM cannot take reaches an ioctl: said again here, plainly,
 * from the header and docs/vm-state.md rather than from vstate.c.
 */
static void part_promises(const struct vstate_vcpu *v, unsigned part, uint32_t instance)
{
	switch (part) {
	case VSTATE_PART_SREGS:
		FUZZ_CHECK(!(v->sregs.flags & VSTATE_SREGS_PDPTRS_VALID) || caps.sregs2,
			   "PDPTRs accepted without SREGS2");
		break;
	case VSTATE_PART_XSAVE:
		FUZZ_CHECK(v->xsave.size >= VSTATE_XSAVE_MIN && v->xsave.size <= caps.xsave_size,
			   "an XSAVE area of %u bytes for a KVM of %u", v->xsave.size,
			   caps.xsave_size);
		break;
	case VSTATE_PART_XCRS:
		FUZZ_CHECK(v->xcrs.n <= VSTATE_XCRS_MAX, "%u XCRs", v->xcrs.n);
		for (uint32_t i = 0; i < v->xcrs.n; i++)
			FUZZ_CHECK(v->xcrs.x[i].xcr == 0 && (v->xcrs.x[i].value & 1) &&
				       !(v->xcrs.x[i].value & ~caps.xcr0_supported),
				   "XCR%u = 0x%llx accepted", v->xcrs.x[i].xcr,
				   (unsigned long long)v->xcrs.x[i].value);
		break;
	case VSTATE_PART_MSRS:
		FUZZ_CHECK(v->msrs.n <= VSTATE_MSRS_MAX, "%u MSRs", v->msrs.n);
		for (uint32_t i = 0; i < v->msrs.n; i++) {
			bool listed = false;

			for (uint32_t j = 0; j < caps.nmsrs; j++)
				listed |= caps.msrs[j] == v->msrs.e[i].index;
			FUZZ_CHECK(listed && v->msrs.e[i].index != VSTATE_MSR_TSC,
				   "MSR 0x%x accepted", v->msrs.e[i].index);
			for (uint32_t j = 0; j < i; j++)
				FUZZ_CHECK(v->msrs.e[j].index != v->msrs.e[i].index,
					   "MSR 0x%x accepted twice", v->msrs.e[i].index);
		}
		break;
	case VSTATE_PART_EVENTS:
		FUZZ_CHECK(!(v->events.flags & ~caps.events_flags) && !v->events.smi_smm,
			   "event flags 0x%x (SMM %u) accepted", v->events.flags,
			   v->events.smi_smm);
		break;
	case VSTATE_PART_MP:
		FUZZ_CHECK(caps.irqchip || v->mp.mp_state == VSTATE_MP_RUNNABLE,
			   "mp_state %u without an irqchip", v->mp.mp_state);
		break;
	case VSTATE_PART_TSC:
		FUZZ_CHECK(v->tsc.tsc_khz && (v->tsc.tsc_khz == caps.tsc_khz || caps.tsc_scaling),
			   "a TSC at %u kHz accepted on a %u kHz host without scaling",
			   v->tsc.tsc_khz, caps.tsc_khz);
		break;
	case VSTATE_PART_LAPIC: {
		uint32_t id;

		memcpy(&id, v->lapic.regs + 0x20, 4); /* the APIC ID register */
		FUZZ_CHECK(caps.irqchip && (id == instance || id >> 24 == instance),
			   "a LAPIC of ID 0x%x accepted for vCPU %u", id, instance);
		break;
	}
	}
}

/*
 * One section alone, as its decoder and the loader's framing see it:
 * returns whether it is accepted.
 */
static bool section_ok(const struct vm_state_section *s)
{
	char err[256] = "";
	struct wire_out w;
	int r;

	wire_out_init(&w);
	if (s->id >= VSTATE_SEC_VCPU_BASE && s->id < VSTATE_SEC_VCPU(VSTATE_NPARTS)) {
		struct vstate_vcpu *v = calloc(1, sizeof(*v));
		unsigned part = s->id - VSTATE_SEC_VCPU_BASE;

		FUZZ_CHECK(v, "out of memory");
		r = vstate_vcpu_decode(v, &caps, s->instance, s->id, s->version, s->data, s->len,
				       err, sizeof(err));
		if (r == 0) {
			FUZZ_CHECK(v->parts == VSTATE_PART_BIT(part), "parts 0x%x after part %u",
				   v->parts, part);
			part_promises(v, part, s->instance);
			vstate_vcpu_encode(v, part, &w);
		}
		free(v);
	} else if (s->id == VSTATE_SEC_CLOCK) {
		struct vstate_clock c;

		r = vstate_clock_decode(&c, s->version, s->data, s->len, err, sizeof(err));
		if (r == 0)
			vstate_clock_encode(&c, &w);
		r = r ? r : s->instance ? 1 : 0;
	} else if (s->id == VSTATE_SEC_IRQCHIP) {
		struct vstate_irqchip c;

		r = vstate_irqchip_decode(&c, s->instance, s->version, s->data, s->len, err,
					  sizeof(err));
		if (r == 0) {
			FUZZ_CHECK(c.chip == s->instance, "chip %u for instance %u", c.chip,
				   s->instance);
			vstate_irqchip_encode(&c, &w);
		}
		r = r ? r : !caps.irqchip;
	} else if (s->id == VSTATE_SEC_CONSOLE) {
		struct vstate_console c;

		r = vstate_console_decode(&c, s->version, s->data, s->len, err, sizeof(err));
		if (r == 0) {
			FUZZ_CHECK(c.len <= VSTATE_CONSOLE_LINE_MAX, "a line of %u", c.len);
			vstate_console_encode(&c, &w);
		}
		r = r ? r : s->instance ? 1 : 0;
	} else if (s->id == VSTATE_SEC_REPORT) {
		struct vstate_report rp;

		r = vstate_report_decode(&rp, s->version, s->data, s->len, err, sizeof(err));
		if (r == 0)
			vstate_report_encode(&rp, &w);
		r = r ? r : s->instance ? 1 : 0;
	} else if (s->id == VSTATE_SEC_STATS) {
		const uint8_t *data = NULL;

		r = vstate_stats_decode(&data, (uint32_t)vm.stats_size, s->version, s->data, s->len,
					err, sizeof(err));
		if (r == 0) {
			FUZZ_CHECK(data == s->data + 4, "the region does not follow its size");
			vstate_stats_encode(data, (uint32_t)vm.stats_size, &w);
		}
		r = r ? r : s->instance ? 1 : 0;
	} else {
		FUZZ_CHECK(vstate_section_max(s->id) == 0, "section 0x%x has a size but no decoder",
			   s->id);
		wire_out_free(&w);
		return false;
	}
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL, "section 0x%x: error %d", s->id, r);
		FUZZ_CHECK(fuzz_msg_ok(err, sizeof(err)), "section 0x%x: message \"%.256s\"", s->id,
			   err);
		wire_out_free(&w);
		return false;
	}
	if (r > 0) { /* the decoder took it; the loader's framing does not */
		wire_out_free(&w);
		return false;
	}
	FUZZ_CHECK(s->len <= vstate_section_max(s->id), "section 0x%x: %u bytes accepted, max %zu",
		   s->id, s->len, vstate_section_max(s->id));
	FUZZ_CHECK(same_bytes(&w, s->data, s->len),
		   "section 0x%x instance %u: accepted, but it encodes back to other bytes", s->id,
		   s->instance);
	return true;
}

/* The (id, instance) pairs are exactly those the VM's table lists, each once. */
static bool table_exact(const struct vm_state *st)
{
	struct vstate_section_kind k[VSTATE_MAX_KINDS];
	unsigned nk = vstate_section_kinds(caps.ncpus, caps.irqchip, k);
	size_t want = 0;

	for (unsigned i = 0; i < nk; i++)
		want += k[i].instances;
	if (st->n != want)
		return false;
	for (size_t i = 0; i < st->n; i++) {
		bool listed = false;

		for (unsigned j = 0; j < nk; j++)
			listed |= k[j].id == st->sec[i].id && st->sec[i].instance < k[j].instances;
		if (!listed)
			return false;
		for (size_t j = 0; j < i; j++)
			if (st->sec[j].id == st->sec[i].id &&
			    st->sec[j].instance == st->sec[i].instance)
				return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_state st;
	char err[512] = "", err2[512] = "";
	bool all_ok = true;
	size_t pos = 1;
	int r, r2;

	if (size < 1)
		return 0;
	if (!vm.devs.n) {
		char e[128];

		FUZZ_CHECK(dev_register_all(&vm.devs, e, sizeof(e)) == 0, "%s", e);
		vm.stats_size = STRESS_STATS_SIZE; /* as vm_create() */
	}
	vm.ncpus = (int)((data[0] >> FZ_CPUS_SHIFT & FZ_CPUS_MASK) + 1);
	vstate_host_caps(&caps, (uint32_t)vm.ncpus, data[0] & FZ_IRQCHIP);
	caps.tsc_scaling = data[0] & FZ_TSC_SCALING;
	caps.sregs2 = !(data[0] & FZ_NO_SREGS2);
	vm.state_caps = &caps;

	vm_state_init(&st);
	while (pos + FZ_HDR <= size && st.n < FZ_MAX_SECTIONS) {
		const uint8_t *h = data + pos;
		uint32_t len = (uint32_t)h[4] | (uint32_t)h[5] << 8;
		uint8_t *b;

		pos += FZ_HDR;
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		/* An exact-size copy: a read past a section's end is caught. */
		b = malloc(len ? len : 1);
		FUZZ_CHECK(b, "out of memory");
		memcpy(b, data + pos, len);
		pos += len;
		FUZZ_CHECK(vm_state_add(&st, (uint32_t)h[0] | (uint32_t)h[1] << 8, h[2], h[3], b,
					len) == 0,
			   "out of memory");
	}
	for (size_t i = 0; i < st.n; i++)
		all_ok &= section_ok(&st.sec[i]);

	r = vm_state_check(&vm, &st, err, sizeof(err));
	r2 = vm_state_check(&vm, &st, err2, sizeof(err2));
	FUZZ_CHECK(r == r2 && (r == 0 || !strcmp(err, err2)),
		   "two checks of the same sections differ: %d \"%s\", %d \"%s\"", r, err, r2,
		   err2);
	FUZZ_CHECK(r == 0 || r == -EINVAL, "error %d (%s)", r, err);
	if (r < 0)
		FUZZ_CHECK(fuzz_msg_ok(err, sizeof(err)), "message \"%.512s\"", err);
	FUZZ_CHECK((r == 0) == (all_ok && table_exact(&st)),
		   "vm_state_check %s (%s), but the sections alone are %s and the table %s",
		   r ? "refuses" : "accepts", r ? err : "",
		   all_ok ? "accepted" : "not all accepted",
		   table_exact(&st) ? "matches" : "does not match");
	fuzz_valid(r == 0, "vm_state_check", err);
	vm_state_free(&st);
	return 0;
}

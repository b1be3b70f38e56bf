/* SPDX-License-Identifier: MIT */
/*
 * The destination the vstate target checks sections against, and the
 * seeds are written for: this host's KVM (kvm-pvm on Linux 6.x), as
 * kvm_state_caps() finds it (tests/integration/vm_state.c's probe):
 * KVM_GET_MSR_INDEX_LIST's 41 MSRs less the TSC (its own section) and
 * 0x4b564d06 (refuses its own value), a 4 KiB XSAVE area, XCR0 0x207,
 * SREGS2, no TSC scaling.
 */
#ifndef FUZZ_VSTATE_HOST_H
#define FUZZ_VSTATE_HOST_H

#include <string.h>

#include "vmm/vstate.h"

static const uint32_t vstate_host_msrs[] = {
    0x174, 0x175,      0x176,	   0xc0000081, 0xc0000083, 0xc0000102, 0xc0000084, 0xc0000082,
    0x277, 0xc0010117, 0x48,	   0x1d9,      0x1db,	   0x1dc,      0x1dd,	   0x1de,
    0x12,  0x11,       0x4b564d01, 0x4b564d00, 0x4b564d02, 0x4b564d03, 0x4b564d04, 0x4b564d07,
    0x3b,  0x6e0,      0x10a,	   0x345,      0x1a0,	   0x17a,      0x17b,	   0x34,
    0xce,  0x140,      0xc001011f, 0x1fc,      0x8b,	   0xc0010015, 0x4b564d05,
};
#define VSTATE_HOST_NMSRS  (sizeof(vstate_host_msrs) / sizeof(vstate_host_msrs[0]))
#define VSTATE_HOST_XCR0   0x207ull
#define VSTATE_HOST_XSAVE  4096u
#define VSTATE_HOST_TSCKHZ 2445406u

static inline void vstate_host_caps(struct vstate_caps *c, uint32_t ncpus, bool irqchip)
{
	memset(c, 0, sizeof(*c));
	c->ncpus = ncpus;
	c->irqchip = irqchip;
	c->xsave_size = VSTATE_HOST_XSAVE;
	c->xcr0_supported = VSTATE_HOST_XCR0;
	c->sregs2 = true;
	c->tsc_khz = VSTATE_HOST_TSCKHZ;
	c->tsc_scaling = false;
	/* As kvm_state_caps(): no exception payload, no triple-fault event. */
	c->events_flags =
	    VSTATE_EV_NMI_PENDING | VSTATE_EV_SIPI_VECTOR | VSTATE_EV_SHADOW | VSTATE_EV_SMM;
	c->nmsrs = VSTATE_HOST_NMSRS;
	memcpy(c->msrs, vstate_host_msrs, sizeof(vstate_host_msrs));
}

#endif

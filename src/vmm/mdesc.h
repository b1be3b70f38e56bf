/* SPDX-License-Identifier: MIT */
/*
 * Machine description: the flattened device tree handed to the guest as the
 * Multiboot module "vmm-fdt" (see include/stress_abi.h).  Built with libfdt
 * (whose names take the fdt_ prefix, hence mdesc_).
 *
 *   / compatible = "vmm,stress-machine", #address-cells = <2>, #size-cells = <2>
 *     chosen    bootargs, vmm,tsc-khz (u32), vmm,stats-region (<hi lo hi lo>),
 *               vmm,dirty-ring-size (u32)
 *     memory@0  device_type = "memory", reg = <0 0 size-hi size-lo>
 *     cpus      #address-cells = <1>, #size-cells = <0>
 *       cpu@N   device_type = "cpu", reg = <N>
 */
#ifndef VMM_MDESC_H
#define VMM_MDESC_H

#include <stddef.h>
#include <stdint.h>

#define MDESC_COMPATIBLE "vmm,stress-machine"

struct mdesc {
	uint64_t mem_size;    /* bytes of RAM from guest-physical 0 */
	unsigned ncpus;	      /* 1..STRESS_MAX_CPUS */
	const char *bootargs; /* NULL is the same as "" */
	uint32_t tsc_khz;     /* 0: unknown, vmm,tsc-khz is left out */
	uint64_t stats_gpa;   /* stats device; stats_size 0: vmm,stats-region is left out */
	uint64_t stats_size;
	uint32_t dirty_ring_entries; /* 0: vmm,dirty-ring-size is left out */
};

/*
 * Build the tree into @buf (@bufsize bytes, 8-byte aligned as libfdt
 * wants).  Returns 0, -ENOSPC when the tree does not fit (the message says
 * how large @buf was), -EINVAL for a bad @m.  The blob's size is then
 * mdesc_size(@buf).
 */
int mdesc_build(void *buf, size_t bufsize, const struct mdesc *m, char *err, size_t errlen);

/* Total size in bytes of a blob built by mdesc_build(). */
size_t mdesc_size(const void *buf);

#endif

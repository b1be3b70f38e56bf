// SPDX-License-Identifier: MIT
/* Machine description (FDT) builder: see mdesc.h. */
#include "vmm/mdesc.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>

#include "stress_abi.h"

/* Append an address/size pair as four 32-bit cells (#address-cells = #size-cells = 2). */
static int prop_reg64(void *fdt, const char *name, uint64_t addr, uint64_t size)
{
	fdt64_t cells[2] = {cpu_to_fdt64(addr), cpu_to_fdt64(size)};

	return fdt_property(fdt, name, cells, sizeof(cells));
}

static int build(void *fdt, size_t bufsize, const struct mdesc *m)
{
	char name[32];
	int r;

/* Stop at the first libfdt error (negative FDT_ERR_*). */
#define TRY(x)                                                                                     \
	do {                                                                                       \
		r = (x);                                                                           \
		if (r < 0)                                                                         \
			return r;                                                                  \
	} while (0)

	TRY(fdt_create(fdt, (int)bufsize));
	TRY(fdt_finish_reservemap(fdt));
	TRY(fdt_begin_node(fdt, ""));
	TRY(fdt_property_string(fdt, "compatible", MDESC_COMPATIBLE));
	TRY(fdt_property_cell(fdt, "#address-cells", 2));
	TRY(fdt_property_cell(fdt, "#size-cells", 2));

	TRY(fdt_begin_node(fdt, "chosen"));
	TRY(fdt_property_string(fdt, "bootargs", m->bootargs ? m->bootargs : ""));
	if (m->tsc_khz)
		TRY(fdt_property_cell(fdt, "vmm,tsc-khz", m->tsc_khz));
	if (m->stats_size)
		TRY(prop_reg64(fdt, "vmm,stats-region", m->stats_gpa, m->stats_size));
	if (m->dirty_ring_entries)
		TRY(fdt_property_cell(fdt, "vmm,dirty-ring-size", m->dirty_ring_entries));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "memory@0"));
	TRY(fdt_property_string(fdt, "device_type", "memory"));
	TRY(prop_reg64(fdt, "reg", 0, m->mem_size));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_cell(fdt, "#address-cells", 1));
	TRY(fdt_property_cell(fdt, "#size-cells", 0));
	for (unsigned i = 0; i < m->ncpus; i++) {
		snprintf(name, sizeof(name), "cpu@%x", i);
		TRY(fdt_begin_node(fdt, name));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_cell(fdt, "reg", i));
		TRY(fdt_end_node(fdt));
	}
	TRY(fdt_end_node(fdt));

	TRY(fdt_end_node(fdt));
	TRY(fdt_finish(fdt));
#undef TRY
	return 0;
}

int mdesc_build(void *buf, size_t bufsize, const struct mdesc *m, char *err, size_t errlen)
{
	int r;

	if (m->ncpus < 1 || m->ncpus > STRESS_MAX_CPUS) {
		snprintf(err, errlen, "machine description: %u vCPUs, expected 1 to %d", m->ncpus,
			 STRESS_MAX_CPUS);
		return -EINVAL;
	}
	if (m->mem_size == 0) {
		snprintf(err, errlen, "machine description: the memory size is zero");
		return -EINVAL;
	}
	if (m->stats_size && m->stats_gpa + m->stats_size < m->stats_gpa) {
		snprintf(err, errlen, "machine description: the stats region wraps around");
		return -EINVAL;
	}
	/* libfdt takes an int size. */
	if (bufsize > INT32_MAX)
		bufsize = INT32_MAX;

	r = build(buf, bufsize, m);
	if (r == -FDT_ERR_NOSPACE) {
		snprintf(
		    err, errlen,
		    "the machine description does not fit in %zu bytes (a long command line or many vCPUs?)",
		    bufsize);
		return -ENOSPC;
	}
	if (r < 0) {
		snprintf(err, errlen, "building the machine description failed: %s",
			 fdt_strerror(r));
		return -EINVAL;
	}
	return 0;
}

size_t mdesc_size(const void *buf)
{
	return fdt_totalsize(buf);
}

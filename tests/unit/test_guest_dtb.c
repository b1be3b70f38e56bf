// SPDX-License-Identifier: MIT
/*
 * Unit tests of guest/dtb.c, the stress kernel's FDT reader, against trees
 * built with libfdt the way src/vmm/mdesc.c builds them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "dtb.h"

#define BLOB_SIZE 4096

static void prop_u64_pair(void *fdt, const char *name, uint64_t a, uint64_t b)
{
	fdt32_t cells[4] = {
	    cpu_to_fdt32((uint32_t)(a >> 32)),
	    cpu_to_fdt32((uint32_t)a),
	    cpu_to_fdt32((uint32_t)(b >> 32)),
	    cpu_to_fdt32((uint32_t)b),
	};

	assert_int_equal(fdt_property(fdt, name, cells, sizeof(cells)), 0);
}

/* A machine description like vmm's: ncpus cpus, one RAM range. */
static void build(void *fdt, unsigned int ncpus, const char *bootargs, int with_stats)
{
	unsigned int i;

	assert_int_equal(fdt_create(fdt, BLOB_SIZE), 0);
	assert_int_equal(fdt_finish_reservemap(fdt), 0);
	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	assert_int_equal(fdt_property_cell(fdt, "#address-cells", 2), 0);
	assert_int_equal(fdt_property_cell(fdt, "#size-cells", 2), 0);
	assert_int_equal(fdt_begin_node(fdt, "chosen"), 0);
	if (bootargs)
		assert_int_equal(fdt_property_string(fdt, "bootargs", bootargs), 0);
	assert_int_equal(fdt_property_cell(fdt, "vmm,tsc-khz", 2596152), 0);
	if (with_stats)
		prop_u64_pair(fdt, "vmm,stats-region", 0x120000000ull, 0x5000);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_begin_node(fdt, "memory@0"), 0);
	assert_int_equal(fdt_property_string(fdt, "device_type", "memory"), 0);
	prop_u64_pair(fdt, "reg", 0, 0x110000000ull);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_begin_node(fdt, "cpus"), 0);
	assert_int_equal(fdt_property_cell(fdt, "#address-cells", 1), 0);
	assert_int_equal(fdt_property_cell(fdt, "#size-cells", 0), 0);
	for (i = 0; i < ncpus; i++) {
		char name[16];

		snprintf(name, sizeof(name), "cpu@%x", i);
		assert_int_equal(fdt_begin_node(fdt, name), 0);
		assert_int_equal(fdt_property_string(fdt, "device_type", "cpu"), 0);
		assert_int_equal(fdt_property_cell(fdt, "reg", i), 0);
		/* A grandchild named like a cpu must not count. */
		if (i == 0) {
			assert_int_equal(fdt_begin_node(fdt, "cpu@ff"), 0);
			assert_int_equal(fdt_end_node(fdt), 0);
		}
		assert_int_equal(fdt_end_node(fdt), 0);
	}
	assert_int_equal(fdt_end_node(fdt), 0);
	/* A cpu node elsewhere must not count either. */
	assert_int_equal(fdt_begin_node(fdt, "cpu@7"), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_finish(fdt), 0);
}

static void test_vmm_tree(void **state)
{
	static uint64_t blob[BLOB_SIZE / 8];
	struct dtb_info info;

	build(blob, 17, "wss=64M rate=10", 1);
	assert_int_equal(dtb_parse(blob, BLOB_SIZE, &info), 0);
	assert_string_equal(info.bootargs, "wss=64M rate=10");
	assert_int_equal(info.tsc_khz, 2596152);
	assert_int_equal(info.stats_addr, 0x120000000ull);
	assert_int_equal(info.stats_size, 0x5000);
	assert_int_equal(info.nmem, 1);
	assert_int_equal(info.mem[0].base, 0);
	assert_int_equal(info.mem[0].size, 0x110000000ull);
	assert_int_equal(info.ncpus, 17);
}

static void test_optional_parts(void **state)
{
	static uint64_t blob[BLOB_SIZE / 8];
	struct dtb_info info;

	build(blob, 1, NULL, 0);
	assert_int_equal(dtb_parse(blob, BLOB_SIZE, &info), 0);
	assert_null(info.bootargs);
	assert_int_equal(info.stats_addr, 0);
	assert_int_equal(info.stats_size, 0);
	assert_int_equal(info.ncpus, 1);

	build(blob, 2, "", 0);
	assert_int_equal(dtb_parse(blob, BLOB_SIZE, &info), 0);
	assert_string_equal(info.bootargs, "");
}

static void test_nops_survive(void **state)
{
	static uint64_t blob[BLOB_SIZE / 8];
	struct dtb_info info;
	int off;

	build(blob, 3, "x=1", 1);
	assert_int_equal(fdt_open_into(blob, blob, BLOB_SIZE), 0);
	off = fdt_path_offset(blob, "/chosen");
	assert_true(off >= 0);
	assert_int_equal(fdt_nop_property(blob, off, "vmm,tsc-khz"), 0);
	assert_int_equal(dtb_parse(blob, BLOB_SIZE, &info), 0);
	assert_int_equal(info.tsc_khz, 0);
	assert_int_equal(info.ncpus, 3);
	assert_string_equal(info.bootargs, "x=1");
}

static void test_bad_blobs(void **state)
{
	static uint64_t blob[BLOB_SIZE / 8];
	static uint8_t copy[BLOB_SIZE];
	struct dtb_info info;
	uint32_t total;

	build(blob, 2, "a=b", 1);
	total = fdt_totalsize(blob);

	/* Too small for what the header says, or for a header at all. */
	assert_int_equal(dtb_parse(blob, total - 1, &info), -1);
	assert_int_equal(dtb_parse(blob, 8, &info), -1);

	memcpy(copy, blob, total);
	copy[0] ^= 1; /* magic */
	assert_int_equal(dtb_parse(copy, total, &info), -1);

	memcpy(copy, blob, total);
	fdt_set_size_dt_struct(copy, 0xfffffff0u); /* struct block past the end */
	assert_int_equal(dtb_parse(copy, total, &info), -1);

	memcpy(copy, blob, total);
	fdt_set_off_dt_strings(copy, total); /* empty strings block */
	fdt_set_size_dt_strings(copy, 0);
	assert_int_equal(dtb_parse(copy, total, &info), -1);

	memcpy(copy, blob, total);
	fdt_set_size_dt_struct(copy, fdt_size_dt_struct(blob) - 4); /* no FDT_END */
	assert_int_equal(dtb_parse(copy, total, &info), -1);

	/* Truncation anywhere in the structure block never reads past it. */
	for (uint32_t cut = 4; cut < fdt_size_dt_struct(blob); cut += 4) {
		memcpy(copy, blob, total);
		fdt_set_size_dt_struct(copy, cut);
		assert_int_equal(dtb_parse(copy, total, &info), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vmm_tree),
	    cmocka_unit_test(test_optional_parts),
	    cmocka_unit_test(test_nops_survive),
	    cmocka_unit_test(test_bad_blobs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

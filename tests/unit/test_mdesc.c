// SPDX-License-Identifier: MIT
/* Unit tests of src/vmm/mdesc.c: build a tree, read it back with libfdt. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "stress_abi.h"
#include "vmm/mdesc.h"

#define BUF_SIZE 0x10000 /* the boot area's 64 KiB */

static uint8_t buf[BUF_SIZE] __attribute__((aligned(8)));
static char err[256];

static const struct mdesc example = {
    .mem_size = 512ull << 20,
    .ncpus = 4,
    .bootargs = "wss=64M pattern=seq",
    .tsc_khz = 2500000,
    .stats_gpa = 0x20000000,
    .stats_size = STRESS_STATS_SIZE,
    .dirty_ring_entries = 65536,
};

static int node(const char *path)
{
	int off = fdt_path_offset(buf, path);

	if (off < 0)
		fail_msg("no node %s: %s", path, fdt_strerror(off));
	return off;
}

static const void *prop(int off, const char *name, int want_len)
{
	int len;
	const void *p = fdt_getprop(buf, off, name, &len);

	if (!p)
		fail_msg("no property %s", name);
	if (want_len >= 0 && len != want_len)
		fail_msg("property %s is %d bytes, expected %d", name, len, want_len);
	return p;
}

static uint32_t prop_u32(int off, const char *name)
{
	return fdt32_to_cpu(*(const fdt32_t *)prop(off, name, 4));
}

static void prop_reg64(int off, const char *name, uint64_t *addr, uint64_t *size)
{
	const fdt32_t *c = prop(off, name, 16);

	*addr = (uint64_t)fdt32_to_cpu(c[0]) << 32 | fdt32_to_cpu(c[1]);
	*size = (uint64_t)fdt32_to_cpu(c[2]) << 32 | fdt32_to_cpu(c[3]);
}

static void build_ok(const struct mdesc *m)
{
	err[0] = '\0';
	memset(buf, 0xa5, sizeof(buf));
	if (mdesc_build(buf, sizeof(buf), m, err, sizeof(err)) != 0)
		fail_msg("mdesc_build: %s", err);
	assert_int_equal(fdt_check_header(buf), 0);
	assert_true(mdesc_size(buf) == fdt_totalsize(buf));
	assert_true(mdesc_size(buf) <= sizeof(buf));
}

static void test_tree(void **state)
{
	uint64_t addr, size;
	int root, chosen, mem, cpus, cpu, n = 0;

	build_ok(&example);
	root = node("/");
	assert_string_equal(prop(root, "compatible", -1), "vmm,stress-machine");
	assert_int_equal(fdt_node_check_compatible(buf, root, MDESC_COMPATIBLE), 0);
	assert_int_equal(prop_u32(root, "#address-cells"), 2);
	assert_int_equal(prop_u32(root, "#size-cells"), 2);

	chosen = node("/chosen");
	assert_string_equal(prop(chosen, "bootargs", -1), "wss=64M pattern=seq");
	assert_int_equal(prop_u32(chosen, "vmm,tsc-khz"), 2500000);
	assert_int_equal(prop_u32(chosen, "vmm,dirty-ring-size"), 65536);
	prop_reg64(chosen, "vmm,stats-region", &addr, &size);
	assert_true(addr == 0x20000000);
	assert_true(size == STRESS_STATS_SIZE);

	mem = node("/memory@0");
	assert_string_equal(prop(mem, "device_type", -1), "memory");
	prop_reg64(mem, "reg", &addr, &size);
	assert_true(addr == 0);
	assert_true(size == 512ull << 20);

	cpus = node("/cpus");
	assert_int_equal(prop_u32(cpus, "#address-cells"), 1);
	assert_int_equal(prop_u32(cpus, "#size-cells"), 0);
	fdt_for_each_subnode(cpu, buf, cpus)
	{
		char name[16];

		snprintf(name, sizeof(name), "cpu@%x", n);
		assert_string_equal(fdt_get_name(buf, cpu, NULL), name);
		assert_string_equal(prop(cpu, "device_type", -1), "cpu");
		assert_int_equal(prop_u32(cpu, "reg"), n);
		n++;
	}
	assert_int_equal(n, 4);
}

static void test_large_values(void **state)
{
	struct mdesc m = example;
	uint64_t addr, size;

	/* Values above 4 GiB use both cells. */
	m.mem_size = (1ull << 40) + (3ull << 20);
	m.stats_gpa = (1ull << 40) + (4ull << 20);
	build_ok(&m);
	prop_reg64(node("/memory@0"), "reg", &addr, &size);
	assert_true(size == m.mem_size);
	prop_reg64(node("/chosen"), "vmm,stats-region", &addr, &size);
	assert_true(addr == m.stats_gpa);
}

static void test_optional_properties(void **state)
{
	struct mdesc m = {.mem_size = 4ull << 20, .ncpus = 1};
	int chosen;

	build_ok(&m);
	chosen = node("/chosen");
	/* A NULL command line is an empty one. */
	assert_string_equal(prop(chosen, "bootargs", 1), "");
	assert_null(fdt_getprop(buf, chosen, "vmm,tsc-khz", NULL));
	assert_null(fdt_getprop(buf, chosen, "vmm,stats-region", NULL));
	assert_null(fdt_getprop(buf, chosen, "vmm,dirty-ring-size", NULL));
	node("/cpus/cpu@0");
	assert_true(fdt_path_offset(buf, "/cpus/cpu@1") < 0);
}

static void test_max_cpus_and_cmdline_fit(void **state)
{
	static char args[4096];
	struct mdesc m = example;
	int cpus, cpu, n = 0;

	memset(args, 'x', sizeof(args) - 1);
	m.bootargs = args;
	m.ncpus = STRESS_MAX_CPUS;
	build_ok(&m);
	assert_int_equal(strlen(prop(node("/chosen"), "bootargs", 4096)), 4095);
	cpus = node("/cpus");
	fdt_for_each_subnode(cpu, buf, cpus)
	{
		assert_int_equal(prop_u32(cpu, "reg"), n);
		n++;
	}
	assert_int_equal(n, STRESS_MAX_CPUS);
	node("/cpus/cpu@ff");
	/* Well inside the boot area: about 20 KiB. */
	assert_true(mdesc_size(buf) < BUF_SIZE / 2);
}

static void test_no_space(void **state)
{
	static const size_t sizes[] = {0, 8, 40, 200, 400};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		err[0] = '\0';
		memset(buf, 0x5a, sizeof(buf));
		assert_int_equal(mdesc_build(buf, sizes[i], &example, err, sizeof(err)), -ENOSPC);
		assert_non_null(strstr(err, "does not fit"));
		/* Nothing written beyond the buffer. */
		assert_int_equal(buf[sizes[i]], 0x5a);
	}
}

static void test_bad_input(void **state)
{
	struct mdesc m = example;

	m.ncpus = 0;
	assert_int_equal(mdesc_build(buf, sizeof(buf), &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vCPUs"));
	m.ncpus = STRESS_MAX_CPUS + 1;
	assert_int_equal(mdesc_build(buf, sizeof(buf), &m, err, sizeof(err)), -EINVAL);
	m = example;
	m.mem_size = 0;
	assert_int_equal(mdesc_build(buf, sizeof(buf), &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "memory"));
	m = example;
	m.stats_gpa = UINT64_MAX - 0x1000;
	assert_int_equal(mdesc_build(buf, sizeof(buf), &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "stats"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree),
	    cmocka_unit_test(test_large_values),
	    cmocka_unit_test(test_optional_properties),
	    cmocka_unit_test(test_max_cpus_and_cmdline_fit),
	    cmocka_unit_test(test_no_space),
	    cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

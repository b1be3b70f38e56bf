// SPDX-License-Identifier: MIT
/* Unit tests of src/vmm/boot.c: decode what it wrote as the guest would. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "stress_abi.h"
#include "vmm/boot.h"
#include "vmm/mdesc.h"

/* The buffer: boot_setup() writes only below BOOT_LOW_END, so 2 MiB stands for any guest. */
#define BUF  (2ull << 20)
#define MEM  (512ull << 20)
#define FILL 0xcc

static uint8_t *mem;
static char err[256];
static uint8_t fdt[256];
static struct boot_info bi;

static int setup(void **state)
{
	mem = malloc(BUF);
	if (!mem)
		return -1;
	memset(mem, FILL, BUF);
	for (size_t i = 0; i < sizeof(fdt); i++)
		fdt[i] = (uint8_t)(i ^ 0x5a);
	return 0;
}

static int teardown(void **state)
{
	free(mem);
	return 0;
}

static uint32_t rd32(uint64_t addr)
{
	uint32_t v;

	memcpy(&v, mem + addr, 4);
	return v;
}

static uint64_t rd64(uint64_t addr)
{
	uint64_t v;

	memcpy(&v, mem + addr, 8);
	return v;
}

static int boot(uint64_t mem_size, const char *cmdline, const void *blob, size_t blob_size)
{
	struct boot_params bp = {.cmdline = cmdline, .fdt = blob, .fdt_size = blob_size};

	err[0] = '\0';
	return boot_setup(mem, mem_size, &bp, &bi, err, sizeof(err));
}

static void test_info(void **state)
{
	assert_int_equal(boot(MEM, "wss=64M", fdt, sizeof(fdt)), 0);
	assert_true(bi.mbi_addr == 0x8000);
	assert_true(bi.gdt_base == 0x1000);
	assert_int_equal(bi.gdt_limit, 31);
	assert_true(bi.cr3 == 0x2000);
	assert_int_equal(bi.code64_sel, 0x08);
	assert_int_equal(bi.data_sel, 0x10);
	assert_int_equal(bi.code32_sel, 0x18);
	assert_true(bi.fdt_addr == 0x10000);
	assert_true(bi.fdt_size == sizeof(fdt));
}

static void test_multiboot_info(void **state)
{
	uint32_t flags, mods;

	assert_int_equal(boot(MEM, "wss=64M pattern=seq", fdt, sizeof(fdt)), 0);
	flags = rd32(0x8000);
	assert_true(flags & (1u << 0));	  /* mem_lower/upper */
	assert_true(flags & (1u << 2));	  /* cmdline */
	assert_true(flags & (1u << 3));	  /* mods */
	assert_true(flags & (1u << 6));	  /* mmap */
	assert_false(flags & (1u << 1));  /* no boot device */
	assert_false(flags & (3u << 4));  /* no symbols */
	assert_false(flags & (3u << 11)); /* no video */
	assert_int_equal(rd32(0x8000 + 4), 639);
	assert_int_equal(rd32(0x8000 + 8), (MEM - (1u << 20)) / 1024);
	assert_int_equal(rd32(0x8000 + 16), 0xa000);
	assert_string_equal((char *)mem + 0xa000, "wss=64M pattern=seq");

	/* Boot loader name (flag 9). */
	assert_true(flags & (1u << 9));
	assert_string_equal((char *)mem + rd32(0x8000 + 64), "vmm");

	/* One module: the FDT. */
	assert_int_equal(rd32(0x8000 + 20), 1);
	mods = rd32(0x8000 + 24);
	assert_int_equal(mods, 0xb000);
	assert_int_equal(rd32(mods + 0), 0x10000);
	assert_int_equal(rd32(mods + 4), 0x10000 + sizeof(fdt));
	assert_string_equal((char *)mem + rd32(mods + 8), STRESS_FDT_MODULE_NAME);
	assert_true(rd32(mods + 8) >= 0xb000 && rd32(mods + 8) < 0xc000);
	assert_int_equal(rd32(mods + 12), 0);
	assert_memory_equal(mem + 0x10000, fdt, sizeof(fdt));
	/* The rest of the FDT area is zeroed. */
	assert_int_equal(mem[0x10000 + sizeof(fdt)], 0);
	assert_int_equal(mem[0x1ffff], 0);
}

static void test_memory_map(void **state)
{
	static const struct {
		uint64_t mem;
		uint32_t upper_kib;
	} cases[] = {
	    {MEM, (MEM - (1u << 20)) >> 10},
	    {4ull << 20, 3 * 1024},
	    {8ull << 30, (uint32_t)(((8ull << 30) - (1u << 20)) >> 10)},
	    {1ull << 40, (uint32_t)(((1ull << 40) - (1u << 20)) >> 10)},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t m = cases[i].mem;
		uint32_t map, len;

		assert_int_equal(boot(m, "", fdt, sizeof(fdt)), 0);
		assert_int_equal(rd32(0x8000 + 8), cases[i].upper_kib);
		len = rd32(0x8000 + 44);
		map = rd32(0x8000 + 48);
		assert_int_equal(map, 0x9000);
		assert_int_equal(len, 48);
		/* Entry: size (of the rest), base, length, type. */
		assert_int_equal(rd32(map + 0), 20);
		assert_true(rd64(map + 4) == 0);
		assert_true(rd64(map + 12) == 1u << 20);
		assert_int_equal(rd32(map + 20), BOOT_MMAP_RESERVED);
		assert_int_equal(rd32(map + 24), 20);
		assert_true(rd64(map + 28) == 1u << 20);
		assert_true(rd64(map + 36) == m - (1u << 20));
		assert_int_equal(rd32(map + 44), BOOT_MMAP_AVAILABLE);
	}
}

static void test_gdt(void **state)
{
	assert_int_equal(boot(MEM, NULL, fdt, sizeof(fdt)), 0);
	assert_true(rd64(0x1000) == 0);
	assert_true(rd64(0x1008) == 0x00af9b000000ffffull);
	assert_true(rd64(0x1010) == 0x00cf93000000ffffull);
	assert_true(rd64(0x1018) == 0x00cf9b000000ffffull);
	/* A NULL command line is an empty one. */
	assert_int_equal(mem[0xa000], 0);
}

/* Walk the identity map as the MMU would, 2 MiB pages. */
static uint64_t translate(uint64_t cr3, uint64_t va)
{
	uint64_t pml4e = rd64(cr3 + ((va >> 39) & 511) * 8);
	uint64_t pdpte, pde;

	if (!(pml4e & 1))
		return UINT64_MAX;
	pdpte = rd64((pml4e & ~0xfffull) + ((va >> 30) & 511) * 8);
	if (!(pdpte & 1) || (pdpte & 0x80))
		return UINT64_MAX;
	pde = rd64((pdpte & ~0xfffull) + ((va >> 21) & 511) * 8);
	if (!(pde & 1) || !(pde & 2) || !(pde & 0x80))
		return UINT64_MAX;
	return (pde & ~((1ull << 21) - 1) & ((1ull << 52) - 1)) | (va & ((1ull << 21) - 1));
}

static void test_page_tables(void **state)
{
	static const uint64_t addrs[] = {0,	     0x1000,	 0x8000,     0x100000,
					 0x1fffff,   0x200000,	 0x12345678, 0x7fffffff,
					 0x80000000, 0xc0000000, 0xfee00000, 0xffffffff};

	assert_int_equal(boot(MEM, "", fdt, sizeof(fdt)), 0);
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		assert_true(translate(bi.cr3, addrs[i]) == addrs[i]);
	/* Nothing at or above 4 GiB. */
	assert_true(translate(bi.cr3, 1ull << 32) == UINT64_MAX);
	assert_true(translate(bi.cr3, 1ull << 39) == UINT64_MAX);
	for (int i = 1; i < 512; i++)
		assert_true(rd64(0x2000 + i * 8) == 0);
	for (int i = 4; i < 512; i++)
		assert_true(rd64(0x3000 + i * 8) == 0);
	/* Every PD entry: present, writable, 2 MiB page, nothing else. */
	for (int i = 0; i < 4 * 512; i++)
		assert_true(rd64(0x4000 + i * 8) == ((uint64_t)i << 21 | 0x83));
}

static void test_leaves_the_rest_alone(void **state)
{
	assert_int_equal(boot(MEM, "x", fdt, sizeof(fdt)), 0);
	/* Below the GDT page and above the boot area: untouched. */
	for (uint64_t a = 0; a < 0x1000; a++)
		assert_int_equal(mem[a], FILL);
	for (uint64_t a = BOOT_LOW_END; a < BUF; a += 61)
		assert_int_equal(mem[a], FILL);
	/* The boot area is fully rewritten: stale bytes from an earlier boot are gone. */
	assert_int_equal(mem[0xa002], 0);
	assert_int_equal(mem[0xbfff], 0);
	assert_int_equal(mem[0xc000], 0);
}

static void test_limits(void **state)
{
	static char line[BOOT_CMDLINE_MAX + 1];
	static uint8_t big[BOOT_FDT_MAX + 1];

	memset(line, 'a', BOOT_CMDLINE_MAX - 1);
	assert_int_equal(boot(MEM, line, fdt, sizeof(fdt)), 0);
	assert_int_equal(strlen((char *)mem + 0xa000), 4095);
	assert_int_equal(mem[0xa000 + 4095], 0);
	line[BOOT_CMDLINE_MAX - 1] = 'a';
	assert_int_equal(boot(MEM, line, fdt, sizeof(fdt)), -E2BIG);
	assert_non_null(strstr(err, "4095"));

	assert_int_equal(boot(MEM, "", big, BOOT_FDT_MAX), 0);
	assert_int_equal(boot(MEM, "", big, BOOT_FDT_MAX + 1), -E2BIG);
	assert_non_null(strstr(err, "machine description"));
	assert_int_equal(boot(MEM, "", NULL, 100), -EINVAL);
	assert_int_equal(boot(MEM, "", fdt, 0), -EINVAL);
	assert_int_equal(boot(1u << 20, "", fdt, sizeof(fdt)), -EINVAL);
	assert_non_null(strstr(err, "1 MiB"));
	assert_int_equal(boot((1u << 20) + 4096, "", fdt, sizeof(fdt)), 0);
}

static void test_with_real_fdt(void **state)
{
	static uint8_t blob[BOOT_FDT_MAX] __attribute__((aligned(8)));
	struct mdesc m = {.mem_size = MEM, .ncpus = 2, .bootargs = "a=b"};
	int off;

	assert_int_equal(mdesc_build(blob, sizeof(blob), &m, err, sizeof(err)), 0);
	assert_int_equal(boot(MEM, "a=b", blob, mdesc_size(blob)), 0);
	assert_int_equal(fdt_check_header(mem + bi.fdt_addr), 0);
	off = fdt_path_offset(mem + bi.fdt_addr, "/cpus/cpu@1");
	assert_true(off >= 0);
	assert_int_equal(rd32(0xb004) - rd32(0xb000), fdt_totalsize(blob));
}

/* Decode a GDT descriptor from guest memory. */
static struct boot_segment descriptor(uint16_t sel)
{
	uint64_t d = rd64(bi.gdt_base + sel);
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	uint8_t g = (d >> 55) & 1;

	return (struct boot_segment){
	    .base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24),
	    .limit = g ? (limit << 12) | 0xfff : limit,
	    .selector = sel,
	    .type = (d >> 40) & 0xf,
	    .s = (d >> 44) & 1,
	    .dpl = (d >> 45) & 3,
	    .present = (d >> 47) & 1,
	    .avl = (d >> 52) & 1,
	    .l = (d >> 53) & 1,
	    .db = (d >> 54) & 1,
	    .g = g,
	};
}

static void assert_same_segment(struct boot_segment a, struct boot_segment b)
{
	assert_true(a.base == b.base);
	assert_int_equal(a.limit, b.limit);
	assert_int_equal(a.selector, b.selector);
	assert_int_equal(a.type, b.type);
	assert_int_equal(a.s, b.s);
	assert_int_equal(a.dpl, b.dpl);
	assert_int_equal(a.present, b.present);
	assert_int_equal(a.l, b.l);
	assert_int_equal(a.db, b.db);
	assert_int_equal(a.g, b.g);
	assert_int_equal(a.unusable, 0);
}

static void test_bsp_state(void **state)
{
	struct boot_sregs s;
	struct boot_regs r;

	assert_int_equal(boot(MEM, "", fdt, sizeof(fdt)), 0);
	boot_bsp_state(&bi, 0x100010, &s, &r);
	/* Flat 32-bit code and data, as the GDT says. */
	assert_same_segment(s.cs, descriptor(0x18));
	assert_int_equal(s.cs.db, 1);
	assert_int_equal(s.cs.l, 0);
	assert_int_equal(s.cs.limit, 0xffffffff);
	assert_same_segment(s.ds, descriptor(0x10));
	assert_same_segment(s.es, s.ds);
	assert_same_segment(s.ss, s.ds);
	assert_same_segment(s.fs, s.ds);
	assert_same_segment(s.gs, s.ds);
	assert_int_equal(s.ss.db, 1);
	/* Multiboot: PE on, PG off; no long mode. */
	assert_true(s.cr0 & BOOT_CR0_PE);
	assert_false(s.cr0 & BOOT_CR0_PG);
	assert_true(s.cr4 == 0);
	assert_true(s.efer == 0);
	assert_true(s.gdt.base == 0x1000);
	assert_int_equal(s.gdt.limit, 31);
	assert_int_equal(s.tr.present, 1);
	assert_int_equal(s.tr.s, 0);
	/* Registers. */
	assert_true(r.rip == 0x100010);
	assert_true(r.rax == 0x2BADB002);
	assert_true(r.rbx == 0x8000);
	assert_true(r.rflags == 2); /* IF and VM clear */
}

static void test_ap_state(void **state)
{
	struct boot_sregs s;
	struct boot_regs r;

	assert_int_equal(boot(MEM, "", fdt, sizeof(fdt)), 0);
	boot_ap_state(&bi, 0x100200, 7, &s, &r);
	assert_same_segment(s.cs, descriptor(0x08));
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_same_segment(s.ds, descriptor(0x10));
	assert_same_segment(s.ss, s.ds);
	assert_true((s.cr0 & (BOOT_CR0_PE | BOOT_CR0_PG)) == (BOOT_CR0_PE | BOOT_CR0_PG));
	assert_true(s.cr3 == 0x2000);
	assert_true(s.cr4 & BOOT_CR4_PAE);
	assert_true(s.efer == (BOOT_EFER_LME | BOOT_EFER_LMA));
	assert_int_equal(s.tr.type, 11); /* busy 64-bit TSS, as VM entry requires */
	assert_int_equal(s.tr.present, 1);
	assert_true(r.rip == 0x100200);
	assert_true(r.rdi == 7);
	assert_true(r.rsi == 0x8000);
	assert_true(r.rflags == 2);
	assert_true(r.rsp == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multiboot_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_map, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gdt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_page_tables, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leaves_the_rest_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_with_real_fdt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bsp_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ap_state, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

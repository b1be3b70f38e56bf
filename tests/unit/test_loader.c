// SPDX-License-Identifier: MIT
/*
 * Unit tests of src/vmm/loader.c.  Small ELF32/ELF64 Multiboot images (and
 * a.out-kludge images) are built in memory, then broken one way at a time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stress_abi.h"
#include "vmm/loader.h"

/* Image layout used by build(). */
#define IMG_MAX	   0x4000
#define PH_OFF	   0x40
#define MB_OFF	   0x800
#define BH_OFF	   0x900
#define TEXT_OFF   0x1000
#define TEXT_SIZE  0x1000
#define TEXT_PADDR 0x100000ull
#define BSS_SIZE   0x1000
#define ENTRY	   (TEXT_PADDR + 0x10)
#define MEM	   (16ull << 20)
#define MAX_PH	   20

struct ph {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

struct spec {
	bool is64;
	uint16_t machine; /* 0: the right one for the class */
	unsigned nph;
	struct ph ph[MAX_PH];
	uint64_t entry;
	uint32_t mb_flags;
	size_t mb_off;
	bool boot_hdr;
	size_t bh_off;
	uint32_t bh_flags;
	uint64_t ap_entry;
	size_t len;
};

static uint8_t img[IMG_MAX];
static char err[512];
static struct loader_image li;

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

static struct spec default_spec(bool is64)
{
	struct spec s = {
	    .is64 = is64,
	    .nph = 1,
	    .ph = {{PT_LOAD, TEXT_OFF, TEXT_PADDR, TEXT_PADDR, TEXT_SIZE, TEXT_SIZE + BSS_SIZE}},
	    .entry = ENTRY,
	    .mb_flags = LOADER_MB_FLAG_PAGE_ALIGN | LOADER_MB_FLAG_MEMINFO,
	    .mb_off = MB_OFF,
	    .bh_off = BH_OFF,
	    .ap_entry = TEXT_PADDR + 0x100,
	    .len = TEXT_OFF + TEXT_SIZE,
	};
	return s;
}

static void put32(size_t off, uint32_t v)
{
	memcpy(img + off, &v, 4);
}

static void put64(size_t off, uint64_t v)
{
	memcpy(img + off, &v, 8);
}

static void write_mb_header(size_t off, uint32_t flags)
{
	put32(off, LOADER_MB_MAGIC);
	put32(off + 4, flags);
	put32(off + 8, (uint32_t) - (LOADER_MB_MAGIC + flags));
}

static void write_boot_hdr(size_t off, uint32_t flags, uint64_t ap_entry)
{
	put32(off, STRESS_BOOT_HDR_MAGIC);
	put32(off + 4, (uint32_t) - (STRESS_BOOT_HDR_MAGIC + flags));
	put32(off + 8, flags);
	put32(off + 12, 0);
	put64(off + 16, ap_entry);
}

static void build(const struct spec *s)
{
	assert_true(s->len <= IMG_MAX);
	for (size_t i = 0; i < IMG_MAX; i++)
		img[i] = pattern(i);
	memset(img, 0, MB_OFF);

	if (s->is64) {
		Elf64_Ehdr eh = {
		    .e_type = ET_EXEC,
		    .e_machine = s->machine ? s->machine : EM_X86_64,
		    .e_version = EV_CURRENT,
		    .e_entry = s->entry,
		    .e_phoff = PH_OFF,
		    .e_ehsize = sizeof(Elf64_Ehdr),
		    .e_phentsize = sizeof(Elf64_Phdr),
		    .e_phnum = (uint16_t)s->nph,
		};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img, &eh, sizeof(eh));
		for (unsigned i = 0; i < s->nph; i++) {
			Elf64_Phdr ph = {
			    .p_type = s->ph[i].type,
			    .p_offset = s->ph[i].offset,
			    .p_vaddr = s->ph[i].vaddr,
			    .p_paddr = s->ph[i].paddr,
			    .p_filesz = s->ph[i].filesz,
			    .p_memsz = s->ph[i].memsz,
			    .p_flags = PF_R | PF_X,
			    .p_align = 0x1000,
			};

			memcpy(img + PH_OFF + i * sizeof(ph), &ph, sizeof(ph));
		}
	} else {
		Elf32_Ehdr eh = {
		    .e_type = ET_EXEC,
		    .e_machine = s->machine ? s->machine : EM_386,
		    .e_version = EV_CURRENT,
		    .e_entry = (uint32_t)s->entry,
		    .e_phoff = PH_OFF,
		    .e_ehsize = sizeof(Elf32_Ehdr),
		    .e_phentsize = sizeof(Elf32_Phdr),
		    .e_phnum = (uint16_t)s->nph,
		};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img, &eh, sizeof(eh));
		for (unsigned i = 0; i < s->nph; i++) {
			Elf32_Phdr ph = {
			    .p_type = s->ph[i].type,
			    .p_offset = (uint32_t)s->ph[i].offset,
			    .p_vaddr = (uint32_t)s->ph[i].vaddr,
			    .p_paddr = (uint32_t)s->ph[i].paddr,
			    .p_filesz = (uint32_t)s->ph[i].filesz,
			    .p_memsz = (uint32_t)s->ph[i].memsz,
			    .p_flags = PF_R | PF_X,
			    .p_align = 0x1000,
			};

			memcpy(img + PH_OFF + i * sizeof(ph), &ph, sizeof(ph));
		}
	}
	write_mb_header(s->mb_off, s->mb_flags);
	if (s->boot_hdr)
		write_boot_hdr(s->bh_off, s->bh_flags, s->ap_entry);
}

static int parse(size_t len, uint64_t mem)
{
	err[0] = '\0';
	return loader_parse(img, len, mem, &li, err, sizeof(err));
}

/* Build @s and parse it whole; expect failure @want with @needle in the message. */
static void expect_fail(const struct spec *s, uint64_t mem, int want, const char *needle)
{
	int r;

	build(s);
	r = parse(s->len, mem);
	if (r != want || !strstr(err, needle))
		fail_msg("ELF%d: got %d \"%s\", wanted %d and \"%s\"", s->is64 ? 64 : 32, r, err,
			 want, needle);
}

static void expect_ok(const struct spec *s, uint64_t mem)
{
	int r;

	build(s);
	r = parse(s->len, mem);
	if (r != 0)
		fail_msg("ELF%d: got %d \"%s\"", s->is64 ? 64 : 32, r, err);
}

static void test_valid(void **state)
{
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		expect_ok(&s, MEM);
		assert_int_equal(li.format, is64 ? LOADER_ELF64 : LOADER_ELF32);
		assert_int_equal(li.mb_offset, MB_OFF);
		assert_int_equal(li.mb_flags, s.mb_flags);
		assert_true(li.entry == ENTRY);
		assert_int_equal(li.nsegs, 1);
		assert_true(li.seg[0].paddr == TEXT_PADDR);
		assert_true(li.seg[0].offset == TEXT_OFF);
		assert_true(li.seg[0].filesz == TEXT_SIZE);
		assert_true(li.seg[0].memsz == TEXT_SIZE + BSS_SIZE);
		assert_false(li.has_ap_entry);
	}
}

static void test_copy(void **state)
{
	uint8_t *mem = malloc(MEM);

	assert_non_null(mem);
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		s.nph = 2;
		s.ph[1] = (struct ph){PT_LOAD, 0x2000, 0x200000, 0x200000, 0x800, 0x1000};
		s.len = 0x2800;
		expect_ok(&s, MEM);
		assert_int_equal(li.nsegs, 2);

		memset(mem, 0xaa, MEM);
		assert_int_equal(loader_copy(&li, img, mem, MEM), 0);
		assert_memory_equal(mem + TEXT_PADDR, img + TEXT_OFF, TEXT_SIZE);
		for (size_t i = 0; i < BSS_SIZE; i++)
			assert_int_equal(mem[TEXT_PADDR + TEXT_SIZE + i], 0);
		assert_int_equal(mem[TEXT_PADDR - 1], 0xaa);
		assert_int_equal(mem[TEXT_PADDR + TEXT_SIZE + BSS_SIZE], 0xaa);
		assert_memory_equal(mem + 0x200000, img + 0x2000, 0x800);
		for (size_t i = 0x800; i < 0x1000; i++)
			assert_int_equal(mem[0x200000 + i], 0);
		assert_int_equal(mem[0x201000], 0xaa);

		/* A guest smaller than the one parsed for is refused, nothing copied. */
		memset(mem, 0xaa, MEM);
		assert_int_equal(loader_copy(&li, img, mem, 0x200800), -EINVAL);
		assert_int_equal(mem[TEXT_PADDR], 0xaa);
	}
	free(mem);
}

static void test_truncated(void **state)
{
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		s.boot_hdr = true;
		build(&s);
		assert_int_equal(parse(s.len, MEM), 0);
		/* Every shorter prefix fails cleanly (run under ASan to see no read beyond). */
		for (size_t len = 0; len < s.len; len++) {
			uint8_t *copy = malloc(len ? len : 1);

			assert_non_null(copy);
			memcpy(copy, img, len);
			err[0] = '\0';
			assert_true(loader_parse(copy, len, MEM, &li, err, sizeof(err)) < 0);
			assert_true(strlen(err) > 0);
			free(copy);
		}
	}
	assert_int_equal(loader_parse(NULL, 0, MEM, &li, err, sizeof(err)), -ENOEXEC);
}

static void test_truncated_headers(void **state)
{
	struct spec s = default_spec(true);

	/* ELF header cut short: the Multiboot header is found first, then the ELF is short. */
	build(&s);
	memmove(img + 0x20, img + MB_OFF, 12);
	assert_int_equal(parse(0x2c, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "truncated"));

	/* Program headers past the end. */
	s = default_spec(false);
	s.nph = 1;
	build(&s);
	put32(offsetof(Elf32_Ehdr, e_phoff), (uint32_t)(s.len - 16));
	assert_int_equal(parse(s.len, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "program headers"));

	s = default_spec(true);
	build(&s);
	put64(offsetof(Elf64_Ehdr, e_phoff), UINT64_MAX - 8);
	assert_int_equal(parse(s.len, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "program headers"));
}

static void test_bad_multiboot(void **state)
{
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		/* No magic at all. */
		build(&s);
		memset(img + MB_OFF, 0, 12);
		assert_int_equal(parse(s.len, MEM), -ENOEXEC);
		assert_non_null(strstr(err, "no Multiboot header"));

		/* Bad checksum. */
		build(&s);
		img[MB_OFF + 8] ^= 1;
		assert_int_equal(parse(s.len, MEM), -ENOEXEC);
		assert_non_null(strstr(err, "checksum"));
		assert_non_null(strstr(err, "0x800"));

		/* A bad one then a good one: the good one is used. */
		build(&s);
		img[MB_OFF + 8] ^= 1;
		write_mb_header(MB_OFF + 0x40, s.mb_flags);
		assert_int_equal(parse(s.len, MEM), 0);
		assert_int_equal(li.mb_offset, MB_OFF + 0x40);

		/* Not 4-byte aligned: not a header. */
		s.mb_off = MB_OFF + 2;
		build(&s);
		memset(img + MB_OFF, 0, 2);
		expect_fail(&s, MEM, -ENOEXEC, "no Multiboot header");

		/* Last place it can be: ends at byte 8192. */
		s = default_spec(is64);
		s.len = 0x3000;
		s.mb_off = LOADER_MB_SEARCH - 12;
		expect_ok(&s, MEM);
		assert_int_equal(li.mb_offset, LOADER_MB_SEARCH - 12);

		/* Past the first 8 KiB. */
		s.mb_off = LOADER_MB_SEARCH;
		build(&s);
		memset(img + MB_OFF, 0, 12);
		assert_int_equal(parse(s.len, MEM), -ENOEXEC);
		assert_non_null(strstr(err, "no Multiboot header"));
		s.mb_off = LOADER_MB_SEARCH - 8;
		build(&s);
		memset(img + MB_OFF, 0, 12);
		assert_int_equal(parse(s.len, MEM), -ENOEXEC);
	}
}

static void test_multiboot_flags(void **state)
{
	struct spec s = default_spec(false);

	s.mb_flags = 0;
	expect_ok(&s, MEM);
	s.mb_flags = LOADER_MB_FLAG_PAGE_ALIGN | LOADER_MB_FLAG_MEMINFO | LOADER_MB_FLAG_VIDEO;
	expect_ok(&s, MEM);
	/* Optional bits (17..31) are ignored. */
	s.mb_flags = (1u << 17) | (1u << 31) | 3;
	expect_ok(&s, MEM);
	s.mb_flags = 3 | (1u << 3);
	expect_fail(&s, MEM, -ENOEXEC, "flag bit 3");
	s.mb_flags = (1u << 15) | (1u << 9);
	expect_fail(&s, MEM, -ENOEXEC, "flag bit 9");
	s.mb_flags = 1u << 15;
	expect_fail(&s, MEM, -ENOEXEC, "flag bit 15");
}

static void test_segment_beyond_file(void **state)
{
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		s.ph[0].offset = TEXT_OFF + 1;
		expect_fail(&s, MEM, -ENOEXEC, "past the end");
		s.ph[0].offset = is64 ? UINT64_MAX - 0x10 : 0xfffffff0;
		expect_fail(&s, MEM, -ENOEXEC, "past the end");
		s = default_spec(is64);
		s.ph[0].filesz = s.ph[0].memsz = is64 ? UINT64_MAX : 0xffffffff;
		expect_fail(&s, MEM, -ENOEXEC, "past the end");
	}
}

static void test_segment_memory_bounds(void **state)
{
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		/* Below 1 MiB. */
		s.ph[0].paddr = s.ph[0].vaddr = 0xff000;
		s.entry = 0xff010;
		expect_fail(&s, MEM, -ENOEXEC, "below 1 MiB");
		s.ph[0].paddr = s.ph[0].vaddr = 0;
		s.entry = 0x10;
		expect_fail(&s, MEM, -ENOEXEC, "below 1 MiB");

		/* Beyond RAM, by one page and by a lot. */
		s.ph[0].paddr = s.ph[0].vaddr = MEM - 0x1000;
		s.entry = MEM - 0x1000;
		expect_fail(&s, MEM, -ENOEXEC, "beyond the guest's RAM");
		s.ph[0].paddr = s.ph[0].vaddr = 0xfffff000;
		s.entry = 0xfffff000;
		expect_fail(&s, MEM, -ENOEXEC, "beyond the guest's RAM");

		/* Exactly at the top. */
		s.ph[0].paddr = s.ph[0].vaddr = MEM - 0x2000;
		s.entry = MEM - 0x2000;
		expect_ok(&s, MEM);
	}
}

static void test_segment_overflow(void **state)
{
	struct spec s = default_spec(true);

	s.nph = 2;
	s.ph[1] = (struct ph){PT_LOAD, TEXT_OFF, 0, UINT64_MAX - 0xfff, 0x10, 0x2000};
	expect_fail(&s, MEM, -ENOEXEC, "overflows");
	s.ph[1] = (struct ph){PT_LOAD, TEXT_OFF, 0, UINT64_MAX, 1, 1};
	expect_fail(&s, MEM, -ENOEXEC, "overflows");
	/* The virtual range may overflow too: it only matters for the entry. */
	s.ph[1] = (struct ph){PT_LOAD, TEXT_OFF, UINT64_MAX - 0xf, 0x200000, 0x10, 0x20};
	expect_ok(&s, MEM);
}

static void test_filesz_above_memsz(void **state)
{
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		s.ph[0].memsz = s.ph[0].filesz - 1;
		expect_fail(&s, MEM, -ENOEXEC, "larger than memory size");
		/* A PT_LOAD with nothing in memory but something in the file. */
		s.ph[0].memsz = 0;
		expect_fail(&s, MEM, -ENOEXEC, "larger than memory size");
	}
}

static void test_no_pt_load(void **state)
{
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		s.ph[0].type = PT_NOTE;
		expect_fail(&s, MEM, -ENOEXEC, "no loadable");
		/* Empty PT_LOADs do not count. */
		s.ph[0] = (struct ph){PT_LOAD, TEXT_OFF, TEXT_PADDR, TEXT_PADDR, 0, 0};
		expect_fail(&s, MEM, -ENOEXEC, "no loadable");
		/* ...and are skipped next to a real one. */
		s.nph = 3;
		s.ph[1] = default_spec(is64).ph[0];
		s.ph[2] = (struct ph){PT_GNU_STACK, 0, 0, 0, 0, 0};
		expect_ok(&s, MEM);
		assert_int_equal(li.nsegs, 1);
	}
}

static void test_entry(void **state)
{
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		s.entry = 0x80000;
		expect_fail(&s, MEM, -ENOEXEC, "entry point");
		s.entry = TEXT_PADDR + TEXT_SIZE + 0x10; /* in the bss */
		expect_fail(&s, MEM, -ENOEXEC, "entry point");
		s.entry = TEXT_PADDR + TEXT_SIZE - 1; /* last byte of the file contents */
		expect_ok(&s, MEM);
		s.entry = TEXT_PADDR;
		expect_ok(&s, MEM);
	}
}

static void test_entry_above_4g(void **state)
{
	struct spec s = default_spec(true);

	s.ph[0].paddr = s.ph[0].vaddr = 1ull << 32;
	s.entry = (1ull << 32) + 0x10;
	expect_fail(&s, 8ull << 30, -ENOEXEC, "below 4 GiB");
}

static void test_entry_virtual(void **state)
{
	struct spec s = default_spec(true);

	/* A higher-half kernel: entry virtual, loaded at its physical address. */
	s.ph[0].vaddr = 0xffffffff80100000ull;
	s.entry = 0xffffffff80100020ull;
	expect_ok(&s, MEM);
	assert_true(li.entry == TEXT_PADDR + 0x20);
	assert_true(li.seg[0].paddr == TEXT_PADDR);
}

static void test_wrong_machine(void **state)
{
	struct spec s = default_spec(false);

	s.machine = EM_X86_64;
	expect_fail(&s, MEM, -ENOEXEC, "not i386");
	s.machine = EM_ARM;
	expect_fail(&s, MEM, -ENOEXEC, "machine 40");
	s = default_spec(true);
	s.machine = EM_386;
	expect_fail(&s, MEM, -ENOEXEC, "not x86-64");
	s.machine = EM_AARCH64;
	expect_fail(&s, MEM, -ENOEXEC, "machine 183");
}

static void test_bad_elf_identity(void **state)
{
	struct spec s = default_spec(true);

	build(&s);
	img[EI_CLASS] = 3;
	assert_int_equal(parse(s.len, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "class"));

	build(&s);
	img[EI_DATA] = ELFDATA2MSB;
	assert_int_equal(parse(s.len, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "little-endian"));

	build(&s);
	img[EI_VERSION] = 0;
	assert_int_equal(parse(s.len, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "version"));

	build(&s);
	img[0] = 0;
	assert_int_equal(parse(s.len, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "not an ELF"));

	build(&s);
	img[offsetof(Elf64_Ehdr, e_type)] = ET_DYN;
	assert_int_equal(parse(s.len, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "ET_EXEC"));

	build(&s);
	put32(offsetof(Elf64_Ehdr, e_version), 2);
	assert_int_equal(parse(s.len, MEM), -ENOEXEC);

	s.nph = 0;
	expect_fail(&s, MEM, -ENOEXEC, "no program headers");
	s.nph = 1;
	build(&s);
	img[offsetof(Elf64_Ehdr, e_phentsize)] = sizeof(Elf32_Phdr);
	assert_int_equal(parse(s.len, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "program header size"));

	build(&s);
	put32(offsetof(Elf64_Ehdr, e_phnum), 0xffff);
	img[offsetof(Elf64_Ehdr, e_phnum) + 2] = 0; /* e_shentsize, unused */
	img[offsetof(Elf64_Ehdr, e_phnum) + 3] = 0;
	assert_int_equal(parse(s.len, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "extended number"));
}

static void test_overlap(void **state)
{
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		s.nph = 2;
		s.ph[1] = (struct ph){PT_LOAD, TEXT_OFF, 0x101000, 0x101000, 0x100, 0x100};
		expect_fail(&s, MEM, -ENOEXEC, "overlap");
		s.ph[1].paddr = TEXT_PADDR - 0x10;
		s.ph[1].memsz = 0x20;
		s.ph[1].filesz = 0x20;
		expect_fail(&s, MEM, -ENOEXEC, "below 1 MiB");
		s.ph[1].paddr = TEXT_PADDR + TEXT_SIZE + BSS_SIZE; /* adjacent: fine */
		expect_ok(&s, MEM);
		assert_int_equal(li.nsegs, 2);
	}
}

static void test_too_many_segments(void **state)
{
	struct spec s = default_spec(true);

	s.nph = LOADER_MAX_SEGMENTS;
	for (unsigned i = 1; i < s.nph; i++)
		s.ph[i] = (struct ph){PT_LOAD, 0,     0x200000 + i * 0x1000, 0x200000 + i * 0x1000,
				      0,       0x1000};
	expect_ok(&s, MEM);
	assert_int_equal(li.nsegs, LOADER_MAX_SEGMENTS);
	s.nph = LOADER_MAX_SEGMENTS + 1;
	s.ph[s.nph - 1] = (struct ph){PT_LOAD, 0, 0x300000, 0x300000, 0, 0x1000};
	expect_fail(&s, MEM, -E2BIG, "more than 16");
}

static void test_boot_hdr(void **state)
{
	for (int is64 = 0; is64 <= 1; is64++) {
		struct spec s = default_spec(is64);

		s.boot_hdr = true;
		expect_ok(&s, MEM);
		assert_true(li.has_ap_entry);
		assert_true(li.ap_entry == TEXT_PADDR + 0x100);

		s.ap_entry = 0x300000;
		expect_fail(&s, MEM, -ENOEXEC, "ap_entry 0x300000");
		s.ap_entry = TEXT_PADDR + TEXT_SIZE; /* first byte of the bss */
		expect_fail(&s, MEM, -ENOEXEC, "ap_entry");
		s.ap_entry = TEXT_PADDR + 0x100;

		s.bh_flags = 1;
		expect_fail(&s, MEM, -ENOEXEC, "unknown flags");
		s.bh_flags = 0;

		build(&s);
		img[BH_OFF + 4] ^= 0x80;
		assert_int_equal(parse(s.len, MEM), -ENOEXEC);
		assert_non_null(strstr(err, "checksum"));

		/* Only 8-byte aligned headers count. */
		s.bh_off = BH_OFF + 4;
		expect_ok(&s, MEM);
		assert_false(li.has_ap_entry);

		/* Only within the first 8 KiB. */
		s.len = 0x3000;
		s.bh_off = STRESS_BOOT_HDR_SEARCH - sizeof(struct stress_boot_hdr);
		expect_ok(&s, MEM);
		assert_true(li.has_ap_entry);
		s.bh_off = STRESS_BOOT_HDR_SEARCH;
		expect_ok(&s, MEM);
		assert_false(li.has_ap_entry);
	}
}

static void test_boot_hdr_above_4g(void **state)
{
	struct spec s = default_spec(true);

	s.nph = 2;
	s.ph[1] = (struct ph){PT_LOAD, TEXT_OFF, 1ull << 32, 1ull << 32, 0x100, 0x100};
	s.boot_hdr = true;
	s.ap_entry = (1ull << 32) + 0x10;
	expect_fail(&s, 8ull << 30, -ENOEXEC, "below 4 GiB");
}

/* An a.out-kludge image: raw bytes, Multiboot header with load addresses. */
#define AOUT_LEN 0x1000
#define AOUT_MB	 0x40

static void build_aout(uint64_t header_addr, uint64_t load_addr, uint64_t load_end,
		       uint64_t bss_end, uint64_t entry)
{
	uint32_t flags = LOADER_MB_FLAG_AOUT_KLUDGE | LOADER_MB_FLAG_PAGE_ALIGN;

	for (size_t i = 0; i < IMG_MAX; i++)
		img[i] = pattern(i);
	write_mb_header(AOUT_MB, flags);
	put32(AOUT_MB + 12, (uint32_t)header_addr);
	put32(AOUT_MB + 16, (uint32_t)load_addr);
	put32(AOUT_MB + 20, (uint32_t)load_end);
	put32(AOUT_MB + 24, (uint32_t)bss_end);
	put32(AOUT_MB + 28, (uint32_t)entry);
}

static void test_aout_kludge(void **state)
{
	const uint64_t base = 0x100000;
	uint8_t *mem;

	build_aout(base + AOUT_MB, base, base + AOUT_LEN, base + 0x2000, base + 0x80);
	assert_int_equal(parse(AOUT_LEN, MEM), 0);
	assert_int_equal(li.format, LOADER_AOUT_KLUDGE);
	assert_int_equal(li.nsegs, 1);
	assert_true(li.seg[0].paddr == base);
	assert_true(li.seg[0].offset == 0);
	assert_true(li.seg[0].filesz == AOUT_LEN);
	assert_true(li.seg[0].memsz == 0x2000);
	assert_true(li.entry == base + 0x80);

	mem = calloc(1, MEM);
	assert_non_null(mem);
	assert_int_equal(loader_copy(&li, img, mem, MEM), 0);
	assert_memory_equal(mem + base, img, AOUT_LEN);
	free(mem);

	/* The image may start after the file's first byte. */
	build_aout(base + 0x10, base, base + 0x100, 0, base + 0x20);
	assert_int_equal(parse(AOUT_LEN, MEM), 0);
	assert_true(li.seg[0].offset == AOUT_MB - 0x10);
	assert_true(li.seg[0].memsz == 0x100);

	/* load_end_addr 0: up to the end of the file. */
	build_aout(base + AOUT_MB, base, 0, 0, base + 0x80);
	assert_int_equal(parse(0x800, MEM), 0);
	assert_true(li.seg[0].filesz == 0x800);
	assert_true(li.seg[0].memsz == 0x800);
}

static void test_aout_kludge_bad(void **state)
{
	const uint64_t base = 0x100000;

	build_aout(base - 1, base, base + AOUT_LEN, 0, base + 0x80);
	assert_int_equal(parse(AOUT_LEN, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "before the start of the file"));
	build_aout(base + AOUT_MB + 4, base, base + AOUT_LEN, 0, base + 0x80);
	assert_int_equal(parse(AOUT_LEN, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "before the start of the file"));
	build_aout(base + AOUT_MB, base, base, 0, base + 0x80);
	assert_int_equal(parse(AOUT_LEN, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "load_end_addr"));
	build_aout(base + AOUT_MB, base, base + AOUT_LEN + 1, 0, base + 0x80);
	assert_int_equal(parse(AOUT_LEN, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "past the end"));
	build_aout(base + AOUT_MB, base, base + AOUT_LEN, base + AOUT_LEN - 1, base + 0x80);
	assert_int_equal(parse(AOUT_LEN, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "bss_end_addr"));
	build_aout(base + AOUT_MB, base, base + AOUT_LEN, 0, base + AOUT_LEN);
	assert_int_equal(parse(AOUT_LEN, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "entry point"));
	/* The messages name the segment (they once printed an unfilled buffer). */
	build_aout(AOUT_MB, 0, AOUT_LEN, 0, 0x80);
	assert_int_equal(parse(AOUT_LEN, MEM), -ENOEXEC);
	assert_string_equal(
	    err,
	    "the segment given by the Multiboot load addresses loads at 0x0, below 1 MiB (0x100000) where the boot structures live");
	build_aout(0xfff00000 + AOUT_MB, 0xfff00000, 0xfff00000 + AOUT_LEN, 0xffffffff, 0xfff00080);
	assert_int_equal(parse(AOUT_LEN, MEM), -ENOEXEC);
	assert_string_equal(
	    err,
	    "the segment given by the Multiboot load addresses (0xfff00000-0xffffffff) ends beyond the guest's RAM (0x1000000 bytes): give more --mem");
	/* The address fields must be in the file. */
	build_aout(base + AOUT_MB, base, 0, 0, base + 0x80);
	assert_int_equal(parse(AOUT_MB + 20, MEM), -ENOEXEC);
	assert_non_null(strstr(err, "end of the file"));
}

static void test_aout_kludge_wins_over_elf(void **state)
{
	struct spec s = default_spec(false);
	uint32_t flags = LOADER_MB_FLAG_AOUT_KLUDGE;

	build(&s);
	/* Describe the whole file as one image loaded at 2 MiB. */
	write_mb_header(MB_OFF, flags);
	put32(MB_OFF + 12, 0x200000 + MB_OFF);
	put32(MB_OFF + 16, 0x200000);
	put32(MB_OFF + 20, 0);
	put32(MB_OFF + 24, 0);
	put32(MB_OFF + 28, 0x200000 + TEXT_OFF);
	assert_int_equal(parse(s.len, MEM), 0);
	assert_int_equal(li.format, LOADER_AOUT_KLUDGE);
	assert_true(li.seg[0].paddr == 0x200000);
	assert_true(li.entry == 0x200000 + TEXT_OFF);
}

/* Deterministic xorshift, so a failure can be reproduced. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void check_invariants(size_t len, uint64_t mem_size)
{
	assert_true(li.nsegs >= 1 && li.nsegs <= LOADER_MAX_SEGMENTS);
	for (unsigned i = 0; i < li.nsegs; i++) {
		const struct loader_segment *g = &li.seg[i];

		assert_true(g->offset <= len && g->filesz <= len - g->offset);
		assert_true(g->filesz <= g->memsz);
		assert_true(g->paddr >= LOADER_LOAD_MIN);
		assert_true(g->paddr <= mem_size && g->memsz <= mem_size - g->paddr);
	}
	assert_true(li.entry < (1ull << 32));
}

static void test_random_corruption(void **state)
{
	static const uint32_t interesting[] = {0,	   1,	       0x7fffffff, 0x80000000,
					       0xffffffff, 0xfffffff0, 0x1000,	   0x100000};
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint8_t *mem = malloc(MEM);
	unsigned ok = 0;

	assert_non_null(mem);
	for (int iter = 0; iter < 40000; iter++) {
		struct spec s = default_spec(iter & 1);
		size_t len;
		uint8_t *copy;

		s.boot_hdr = iter & 2;
		s.nph = 2;
		s.ph[1] = (struct ph){PT_LOAD, 0x1800, 0x200000, 0x200000, 0x800, 0x1000};
		build(&s);
		for (int n = (int)(rnd(&seed) % 4) + 1; n > 0; n--) {
			/* Aim at the headers: ELF and program headers, Multiboot, boot header. */
			static const size_t base[] = {0, MB_OFF, BH_OFF};
			static const size_t span[] = {PH_OFF + 2 * sizeof(Elf64_Phdr), 32, 24};
			unsigned which = (unsigned)(rnd(&seed) % 3);
			size_t off = base[which] + rnd(&seed) % span[which];

			if (rnd(&seed) & 1)
				img[off] ^= (uint8_t)(1u << (rnd(&seed) % 8));
			else
				put32(off & ~3ul, interesting[rnd(&seed) % 8]);
		}
		len = (rnd(&seed) % 4) ? s.len : rnd(&seed) % (s.len + 1);
		/* An exact-size heap copy, so ASan sees any read beyond the end. */
		copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, img, len);
		err[0] = '\0';
		if (loader_parse(copy, len, MEM, &li, err, sizeof(err)) == 0) {
			ok++;
			check_invariants(len, MEM);
			assert_int_equal(loader_copy(&li, copy, mem, MEM), 0);
		} else {
			assert_true(strlen(err) > 0);
		}
		free(copy);
	}
	/* Most corruptions hit bytes the loader ignores; some must still parse. */
	assert_true(ok > 100);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_copy),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_truncated_headers),
	    cmocka_unit_test(test_bad_multiboot),
	    cmocka_unit_test(test_multiboot_flags),
	    cmocka_unit_test(test_segment_beyond_file),
	    cmocka_unit_test(test_segment_memory_bounds),
	    cmocka_unit_test(test_segment_overflow),
	    cmocka_unit_test(test_filesz_above_memsz),
	    cmocka_unit_test(test_no_pt_load),
	    cmocka_unit_test(test_entry),
	    cmocka_unit_test(test_entry_above_4g),
	    cmocka_unit_test(test_entry_virtual),
	    cmocka_unit_test(test_wrong_machine),
	    cmocka_unit_test(test_bad_elf_identity),
	    cmocka_unit_test(test_overlap),
	    cmocka_unit_test(test_too_many_segments),
	    cmocka_unit_test(test_boot_hdr),
	    cmocka_unit_test(test_boot_hdr_above_4g),
	    cmocka_unit_test(test_aout_kludge),
	    cmocka_unit_test(test_aout_kludge_bad),
	    cmocka_unit_test(test_aout_kludge_wins_over_elf),
	    cmocka_unit_test(test_random_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

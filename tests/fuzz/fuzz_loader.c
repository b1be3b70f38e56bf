// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the kernel image loader (src/vmm/loader.c), ELF32, ELF64
 * and the Multiboot a.out kludge, as `--kernel FILE` feeds it.
 *
 * Input: 3 control bytes, then the image.
 *   bytes 0-1  guest RAM: (value % 2048 + 1) pages of 4 KiB, up to 8 MiB
 *   byte 2     bit 0: first repair the checksums of the Multiboot header
 *              and of the vmm boot header (the first candidate of each in
 *              the searched area), so that mutations of their flags and
 *              addresses reach the checks behind them
 * Checked:
 *   - a refusal is -ENOEXEC or -E2BIG with one printable line;
 *   - an image accepted keeps every promise of loader.h: 1 to
 *     LOADER_MAX_SEGMENTS segments, each inside the file and inside guest
 *     RAM at or above 1 MiB, with filesz <= memsz, none overlapping; the
 *     entry (and ap_entry) inside a segment's file bytes, below 4 GiB;
 *   - loading it writes guest RAM only inside those segments (the RAM ends
 *     at an inaccessible page) and puts exactly the file's bytes, then
 *     zeros, in each.
 */
#include "fuzz.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "stress_abi.h"
#include "vmm/loader.h"

#define FZ_CTRL	      3
#define FZ_FIX	      0x01
#define FZ_PAGE	      4096u
#define FZ_MAX_PAGES  2048u /* 8 MiB: the bundled kernel needs 4 */
#define FZ_MAX_MEM    ((uint64_t)FZ_MAX_PAGES * FZ_PAGE)
#define MB_HDR_SIZE   12
#define BOOT_HDR_SIZE 24

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/*
 * Guest RAM, mapped once: FZ_MAX_MEM bytes then an inaccessible page.  A
 * guest of mem bytes is its last mem bytes, so that its end is the guard.
 */
static uint8_t *ram_end(void)
{
	static uint8_t *end;

	if (!end) {
		uint8_t *m = mmap(NULL, FZ_MAX_MEM + FZ_PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (m == MAP_FAILED || mprotect(m + FZ_MAX_MEM, FZ_PAGE, PROT_NONE))
			abort();
		end = m + FZ_MAX_MEM;
	}
	return end;
}

static void repair(uint8_t *img, size_t len)
{
	size_t off;

	for (off = 0; off + MB_HDR_SIZE <= len && off < LOADER_MB_SEARCH; off += 4) {
		if (rd32(img + off) == LOADER_MB_MAGIC) {
			wr32(img + off + 8, (uint32_t) - (LOADER_MB_MAGIC + rd32(img + off + 4)));
			break;
		}
	}
	for (off = 0; off + BOOT_HDR_SIZE <= len && off < STRESS_BOOT_HDR_SEARCH; off += 8) {
		if (rd32(img + off) == STRESS_BOOT_HDR_MAGIC) {
			wr32(img + off + 4,
			     (uint32_t) - (STRESS_BOOT_HDR_MAGIC + rd32(img + off + 8)));
			break;
		}
	}
}

/* addr inside the file-backed bytes of a segment? */
static bool in_file_bytes(const struct loader_image *li, uint64_t addr)
{
	unsigned int i;

	for (i = 0; i < li->nsegs; i++)
		if (addr >= li->seg[i].paddr && addr - li->seg[i].paddr < li->seg[i].filesz)
			return true;
	return false;
}

static void check_image(const struct loader_image *li, size_t len, uint64_t mem)
{
	unsigned int i, j;

	FUZZ_CHECK(li->nsegs >= 1 && li->nsegs <= LOADER_MAX_SEGMENTS, "%u segments", li->nsegs);
	FUZZ_CHECK(li->format >= LOADER_ELF32 && li->format <= LOADER_AOUT_KLUDGE, "format %d",
		   li->format);
	for (i = 0; i < li->nsegs; i++) {
		const struct loader_segment *s = &li->seg[i];

		FUZZ_CHECK(s->filesz <= s->memsz, "segment %u: filesz above memsz", i);
		FUZZ_CHECK(s->offset <= len && s->filesz <= len - s->offset,
			   "segment %u: file bytes 0x%llx+0x%llx outside the %zu-byte file", i,
			   (unsigned long long)s->offset, (unsigned long long)s->filesz, len);
		FUZZ_CHECK(s->paddr >= LOADER_LOAD_MIN && s->paddr <= mem &&
			       s->memsz <= mem - s->paddr,
			   "segment %u at 0x%llx+0x%llx outside RAM [1 MiB, 0x%llx)", i,
			   (unsigned long long)s->paddr, (unsigned long long)s->memsz,
			   (unsigned long long)mem);
		for (j = 0; j < i; j++) {
			const struct loader_segment *t = &li->seg[j];

			FUZZ_CHECK(s->paddr >= t->paddr + t->memsz ||
				       t->paddr >= s->paddr + s->memsz,
				   "segments %u and %u overlap", j, i);
		}
	}
	FUZZ_CHECK(li->entry < LOADER_ENTRY_LIMIT && in_file_bytes(li, li->entry),
		   "entry 0x%llx outside the segments' file bytes", (unsigned long long)li->entry);
	FUZZ_CHECK(!li->has_ap_entry ||
		       (li->ap_entry < LOADER_AP_ENTRY_LIMIT && in_file_bytes(li, li->ap_entry)),
		   "ap_entry 0x%llx outside the segments' file bytes",
		   (unsigned long long)li->ap_entry);
	FUZZ_CHECK(li->mb_offset < LOADER_MB_SEARCH && li->mb_offset % 4 == 0,
		   "Multiboot header at 0x%llx", (unsigned long long)li->mb_offset);
}

static void check_load(const struct loader_image *li, const uint8_t *img, uint64_t mem)
{
	uint8_t *ram = ram_end() - mem;
	unsigned int i;

	/* What was there before: one byte value, so that a zero written is seen. */
	for (i = 0; i < li->nsegs; i++)
		memset(ram + li->seg[i].paddr, 0x5a, li->seg[i].memsz);
	FUZZ_CHECK(loader_copy(li, img, ram, mem) == 0, "loader_copy() refused a parsed image");
	for (i = 0; i < li->nsegs; i++) {
		const struct loader_segment *s = &li->seg[i];
		const uint8_t *p = ram + s->paddr;
		uint64_t k;

		FUZZ_CHECK(memcmp(p, img + s->offset, s->filesz) == 0,
			   "segment %u does not hold its file bytes", i);
		k = s->memsz - s->filesz;
		FUZZ_CHECK(k == 0 || (p[s->filesz] == 0 &&
				      !memcmp(p + s->filesz, p + s->filesz + 1, k - 1)),
			   "segment %u: its bss is not all zeros", i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loader_image li;
	char err[512];
	uint8_t *img;
	uint64_t mem;
	size_t len;
	int r;

	if (size < FZ_CTRL)
		return 0;
	mem = ((uint64_t)(data[0] | data[1] << 8) % FZ_MAX_PAGES + 1) * FZ_PAGE;
	len = size - FZ_CTRL;
	img = malloc(len ? len : 1);
	if (!img)
		abort();
	memcpy(img, data + FZ_CTRL, len);
	if (data[2] & FZ_FIX)
		repair(img, len);

	memset(err, 0, sizeof(err));
	r = loader_parse(len ? img : NULL, len, mem, &li, err, sizeof(err));
	if (r == 0) {
		check_image(&li, len, mem);
		check_load(&li, img, mem);
	} else {
		FUZZ_CHECK(r == -ENOEXEC || r == -E2BIG, "loader_parse() returned %d", r);
		FUZZ_CHECK(fuzz_msg_ok(err, sizeof(err)),
			   "the message is not one printable line: %s", err);
	}
	fuzz_valid(r == 0, "load", err);
	free(img);
	return 0;
}

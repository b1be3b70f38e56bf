/* SPDX-License-Identifier: MIT */
/*
 * Kernel image loader: Multiboot v1 over ELF32 or ELF64 (x86), or the
 * Multiboot "a.out kludge" (header flag 16: load addresses in the header,
 * any file format).  Pure: the caller reads the file into memory; the image
 * is treated as hostile (every offset and size is bounds-checked, every sum
 * checked for overflow).
 *
 * Multiboot header flags, bits 0..15 are "required" (a loader that cannot
 * honour one must refuse the kernel):
 *   0 (modules page-aligned): honoured, the one module (the FDT) is at a
 *     page-aligned address;
 *   1 (memory information): honoured, the information structure always has
 *     mem_lower/mem_upper and the memory map;
 *   2 (video mode): accepted and ignored; there is no display, and the
 *     information structure never has the video fields (its flags bits 11
 *     and 12 stay clear), which the kernel can see;
 *   3..15: refused.
 * Bits 16..31 are optional: 16 (a.out kludge) is honoured, others ignored.
 * With flag 16 the header's addresses win over the ELF headers (as GRUB
 * does).
 */
#ifndef VMM_LOADER_H
#define VMM_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOADER_MB_MAGIC 0x1BADB002u
/* The Multiboot header must lie within the file's first 8 KiB, 4-byte aligned. */
#define LOADER_MB_SEARCH	   8192
#define LOADER_MB_FLAG_PAGE_ALIGN  (1u << 0)
#define LOADER_MB_FLAG_MEMINFO	   (1u << 1)
#define LOADER_MB_FLAG_VIDEO	   (1u << 2)
#define LOADER_MB_FLAG_AOUT_KLUDGE (1u << 16)
/* The required flags (bits 0..15) we can honour; see above. */
#define LOADER_MB_FLAGS_SUPPORTED                                                                  \
	(LOADER_MB_FLAG_PAGE_ALIGN | LOADER_MB_FLAG_MEMINFO | LOADER_MB_FLAG_VIDEO)
#define LOADER_MB_FLAGS_REQUIRED 0x0000ffffu

/* Segments must lie at or above 1 MiB: the boot structures live below. */
#define LOADER_LOAD_MIN 0x100000ull
/* vCPU 0 starts in 32-bit mode, so the entry point must be below 4 GiB. */
#define LOADER_ENTRY_LIMIT (1ull << 32)
/* The identity map for vCPUs > 0 covers the first 4 GiB. */
#define LOADER_AP_ENTRY_LIMIT (1ull << 32)
/* A kernel has a handful of loadable segments; this bounds struct loader_image. */
#define LOADER_MAX_SEGMENTS 16

struct loader_segment {
	uint64_t paddr;	 /* guest-physical load address */
	uint64_t offset; /* in the file */
	uint64_t filesz; /* bytes copied from the file */
	uint64_t memsz;	 /* bytes in memory (>= filesz; the rest is zeroed) */
};

enum loader_format {
	LOADER_ELF32 = 1,
	LOADER_ELF64,
	LOADER_AOUT_KLUDGE,
};

struct loader_image {
	enum loader_format format;
	uint32_t mb_flags;  /* the Multiboot header's flags */
	uint64_t mb_offset; /* file offset of the Multiboot header */
	uint64_t entry;	    /* guest-physical entry of vCPU 0 (32-bit), < 4 GiB */
	unsigned nsegs;	    /* >= 1 */
	struct loader_segment seg[LOADER_MAX_SEGMENTS];
	bool has_ap_entry; /* a struct stress_boot_hdr was found */
	uint64_t ap_entry; /* guest-physical 64-bit entry of vCPUs > 0 */
};

/*
 * Parse a kernel image of @len bytes for a guest of @mem_size bytes.
 * Returns 0 and fills @out, or a negative errno (-ENOEXEC for anything
 * wrong with the image, -E2BIG for too many segments) with a message.
 * Checked: a Multiboot header (magic, checksum, flags), ELF identity
 * (class, little-endian, version, ET_EXEC, machine EM_386 for ELF32 and
 * EM_X86_64 for ELF64), every program header within the file, every
 * PT_LOAD's file range within the file, p_filesz <= p_memsz, no address
 * overflow, every segment within [1 MiB, mem_size), no two segments
 * overlapping, at least one non-empty PT_LOAD, the entry point inside a
 * segment's file-backed bytes and below 4 GiB.  The optional struct
 * stress_boot_hdr (8-aligned, first 8 KiB) must have a good checksum, flags 0
 * and ap_entry inside a segment's file-backed bytes, below 4 GiB.
 *
 * The ELF entry (e_entry) is a virtual address: it is translated through
 * the segment whose virtual range contains it (as GRUB does).
 */
int loader_parse(const uint8_t *img, size_t len, uint64_t mem_size, struct loader_image *out,
		 char *err, size_t errlen);

/*
 * Copy the segments of @li (from a successful loader_parse() of @img) into
 * @guest_mem and zero their bss.  Returns 0, or -EINVAL if a segment does
 * not fit @mem_size (a different size than was parsed for).
 */
int loader_copy(const struct loader_image *li, const uint8_t *img, uint8_t *guest_mem,
		uint64_t mem_size);

#endif

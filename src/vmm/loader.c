// SPDX-License-Identifier: MIT
/* Kernel image loader: see loader.h.  Every read of the image is bounds-checked. */
#include "vmm/loader.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "stress_abi.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "loader.c reads little-endian headers with memcpy: x86 hosts only"
#endif

/* Multiboot header: magic, flags, checksum; with flag 16, five address words. */
#define MB_HDR_SIZE	 12
#define MB_HDR_AOUT_SIZE 32

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Is [off, off + size) inside a buffer of @len bytes (no overflow)? */
static bool in_file(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

/* Find a valid Multiboot header; fills mb_offset and mb_flags. */
static int find_multiboot(const uint8_t *img, size_t len, struct loader_image *out, char *err,
			  size_t errlen)
{
	uint64_t limit = min_u64(len, LOADER_MB_SEARCH);
	int64_t bad = -1;
	uint32_t flags, unsupported;
	uint64_t off;

	for (off = 0; off + MB_HDR_SIZE <= limit; off += 4) {
		if (rd32(img + off) != LOADER_MB_MAGIC)
			continue;
		flags = rd32(img + off + 4);
		if ((uint32_t)(LOADER_MB_MAGIC + flags + rd32(img + off + 8)) == 0)
			break;
		if (bad < 0)
			bad = (int64_t)off;
	}
	if (off + MB_HDR_SIZE > limit) {
		if (bad >= 0)
			snprintf(err, errlen,
				 "the Multiboot header at file offset 0x%llx has a bad checksum",
				 (unsigned long long)bad);
		else
			snprintf(
			    err, errlen,
			    "no Multiboot header (magic 0x1BADB002) in the first %d bytes of the kernel: is it a Multiboot kernel?",
			    LOADER_MB_SEARCH);
		return -ENOEXEC;
	}

	unsupported = flags & LOADER_MB_FLAGS_REQUIRED & ~LOADER_MB_FLAGS_SUPPORTED;
	if (unsupported) {
		snprintf(err, errlen,
			 "the Multiboot header requires a feature this loader lacks (flag bit %d)",
			 __builtin_ctz(unsupported));
		return -ENOEXEC;
	}
	if ((flags & LOADER_MB_FLAG_AOUT_KLUDGE) && off + MB_HDR_AOUT_SIZE > limit) {
		snprintf(
		    err, errlen,
		    "the Multiboot header at file offset 0x%llx asks for load addresses (flag 16) but its address fields run past %s",
		    (unsigned long long)off,
		    limit < LOADER_MB_SEARCH ? "the end of the file" : "the first 8192 bytes");
		return -ENOEXEC;
	}
	out->mb_offset = off;
	out->mb_flags = flags;
	return 0;
}

/* Multiboot flag 16: one segment described by the header's addresses. */
static int parse_aout_kludge(const uint8_t *img, size_t len, struct loader_image *out, char *err,
			     size_t errlen)
{
	const uint8_t *h = img + out->mb_offset;
	uint64_t header_addr = rd32(h + 12), load_addr = rd32(h + 16);
	uint64_t load_end_addr = rd32(h + 20), bss_end_addr = rd32(h + 24);
	struct loader_segment *s = &out->seg[0];

	if (load_addr > header_addr || header_addr - load_addr > out->mb_offset) {
		snprintf(
		    err, errlen,
		    "Multiboot load addresses: load_addr 0x%llx and header_addr 0x%llx put the start of the image before the start of the file",
		    (unsigned long long)load_addr, (unsigned long long)header_addr);
		return -ENOEXEC;
	}
	s->paddr = load_addr;
	s->offset = out->mb_offset - (header_addr - load_addr);
	if (load_end_addr == 0) {
		s->filesz = len - s->offset;
	} else if (load_end_addr <= load_addr) {
		snprintf(
		    err, errlen,
		    "Multiboot load addresses: load_end_addr 0x%llx is not above load_addr 0x%llx",
		    (unsigned long long)load_end_addr, (unsigned long long)load_addr);
		return -ENOEXEC;
	} else {
		s->filesz = load_end_addr - load_addr;
	}
	if (bss_end_addr == 0) {
		s->memsz = s->filesz;
	} else if (bss_end_addr < load_addr + s->filesz) {
		snprintf(
		    err, errlen,
		    "Multiboot load addresses: bss_end_addr 0x%llx is below the end of the loaded image 0x%llx",
		    (unsigned long long)bss_end_addr, (unsigned long long)(load_addr + s->filesz));
		return -ENOEXEC;
	} else {
		s->memsz = bss_end_addr - load_addr;
	}
	out->nsegs = 1;
	out->format = LOADER_AOUT_KLUDGE;
	out->entry = rd32(h + 28);
	return 0;
}

/* A program header, whichever the class. */
struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

static void read_phdr(const uint8_t *p, bool is64, struct phdr *ph)
{
	if (is64) {
		Elf64_Phdr e;

		memcpy(&e, p, sizeof(e));
		*ph = (struct phdr){e.p_type,  e.p_offset, e.p_vaddr,
				    e.p_paddr, e.p_filesz, e.p_memsz};
	} else {
		Elf32_Phdr e;

		memcpy(&e, p, sizeof(e));
		*ph = (struct phdr){e.p_type,  e.p_offset, e.p_vaddr,
				    e.p_paddr, e.p_filesz, e.p_memsz};
	}
}

static int parse_elf(const uint8_t *img, size_t len, struct loader_image *out, char *err,
		     size_t errlen)
{
	uint64_t phoff, entry, phentsize, need_phentsize;
	unsigned phnum, machine, want_machine;
	bool is64, entry_found = false;

	if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG)) {
		snprintf(
		    err, errlen,
		    "the kernel is not an ELF file and its Multiboot header has no load addresses (flag 16)");
		return -ENOEXEC;
	}
	if (img[EI_CLASS] != ELFCLASS32 && img[EI_CLASS] != ELFCLASS64) {
		snprintf(err, errlen, "unknown ELF class %u (neither 32- nor 64-bit)",
			 img[EI_CLASS]);
		return -ENOEXEC;
	}
	is64 = img[EI_CLASS] == ELFCLASS64;
	if (img[EI_DATA] != ELFDATA2LSB) {
		snprintf(err, errlen, "the ELF file is not little-endian: not an x86 kernel");
		return -ENOEXEC;
	}
	if (img[EI_VERSION] != EV_CURRENT) {
		snprintf(err, errlen, "unknown ELF version %u", img[EI_VERSION]);
		return -ENOEXEC;
	}
	if (len < (is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
		snprintf(err, errlen,
			 "the kernel is truncated: %zu bytes, shorter than an ELF header", len);
		return -ENOEXEC;
	}

	if (is64) {
		Elf64_Ehdr eh;

		memcpy(&eh, img, sizeof(eh));
		if (eh.e_type != ET_EXEC || eh.e_version != EV_CURRENT)
			goto not_exec;
		machine = eh.e_machine;
		entry = eh.e_entry;
		phoff = eh.e_phoff;
		phentsize = eh.e_phentsize;
		phnum = eh.e_phnum;
	} else {
		Elf32_Ehdr eh;

		memcpy(&eh, img, sizeof(eh));
		if (eh.e_type != ET_EXEC || eh.e_version != EV_CURRENT)
			goto not_exec;
		machine = eh.e_machine;
		entry = eh.e_entry;
		phoff = eh.e_phoff;
		phentsize = eh.e_phentsize;
		phnum = eh.e_phnum;
	}
	want_machine = is64 ? EM_X86_64 : EM_386;
	if (machine != want_machine) {
		snprintf(err, errlen, "the kernel is an ELF%d file for machine %u, not %s",
			 is64 ? 64 : 32, machine, is64 ? "x86-64 (EM_X86_64)" : "i386 (EM_386)");
		return -ENOEXEC;
	}
	need_phentsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (phnum == 0 || phnum == PN_XNUM) {
		snprintf(err, errlen, "the ELF file has %s program headers",
			 phnum ? "an extended number of" : "no");
		return -ENOEXEC;
	}
	if (phentsize != need_phentsize) {
		snprintf(err, errlen, "ELF program header size %llu, expected %llu",
			 (unsigned long long)phentsize, (unsigned long long)need_phentsize);
		return -ENOEXEC;
	}
	if (!in_file(phoff, phnum * phentsize, len)) {
		snprintf(
		    err, errlen,
		    "the ELF program headers (offset 0x%llx, %u of them) run past the end of the %zu-byte file",
		    (unsigned long long)phoff, phnum, len);
		return -ENOEXEC;
	}

	out->format = is64 ? LOADER_ELF64 : LOADER_ELF32;
	out->nsegs = 0;
	for (unsigned i = 0; i < phnum; i++) {
		struct phdr ph;

		read_phdr(img + phoff + i * phentsize, is64, &ph);
		if (ph.type != PT_LOAD)
			continue;
		if (ph.filesz > ph.memsz) {
			snprintf(
			    err, errlen,
			    "ELF program header %u: file size 0x%llx is larger than memory size 0x%llx",
			    i, (unsigned long long)ph.filesz, (unsigned long long)ph.memsz);
			return -ENOEXEC;
		}
		if (ph.memsz == 0)
			continue;
		if (out->nsegs == LOADER_MAX_SEGMENTS) {
			snprintf(err, errlen, "the kernel has more than %d loadable segments",
				 LOADER_MAX_SEGMENTS);
			return -E2BIG;
		}
		out->seg[out->nsegs++] =
		    (struct loader_segment){ph.paddr, ph.offset, ph.filesz, ph.memsz};
		/* The entry is virtual: translate through the segment holding it. */
		if (!entry_found && ph.vaddr <= entry && entry - ph.vaddr < ph.filesz) {
			entry_found = true;
			out->entry = ph.paddr + (entry - ph.vaddr);
		}
	}
	if (out->nsegs == 0) {
		snprintf(err, errlen, "the ELF file has no loadable (PT_LOAD) segment");
		return -ENOEXEC;
	}
	if (!entry_found) {
		snprintf(
		    err, errlen,
		    "the ELF entry point 0x%llx is not inside the file contents of any loadable segment",
		    (unsigned long long)entry);
		return -ENOEXEC;
	}
	return 0;

not_exec:
	snprintf(
	    err, errlen,
	    "the ELF file is not a static executable (ET_EXEC, version 1): link the kernel without -pie");
	return -ENOEXEC;
}

/* Describe segment @i for messages: "ELF segment 2" or "the a.out kludge segment". */
static const char *seg_name(const struct loader_image *li, unsigned i, char *buf, size_t len)
{
	if (li->format == LOADER_AOUT_KLUDGE)
		return "the segment given by the Multiboot load addresses";
	snprintf(buf, len, "loadable segment %u", i);
	return buf;
}

static int check_segments(const struct loader_image *li, size_t len, uint64_t mem_size, char *err,
			  size_t errlen)
{
	char buf[64];

	for (unsigned i = 0; i < li->nsegs; i++) {
		const struct loader_segment *s = &li->seg[i];
		/* The returned name, not buf: the a.out kludge's name is a constant. */
		const char *name = seg_name(li, i, buf, sizeof(buf));

		if (!in_file(s->offset, s->filesz, len)) {
			snprintf(
			    err, errlen,
			    "%s (file offset 0x%llx, 0x%llx bytes) runs past the end of the %zu-byte file",
			    name, (unsigned long long)s->offset, (unsigned long long)s->filesz,
			    len);
			return -ENOEXEC;
		}
		if (s->paddr + s->memsz < s->paddr) {
			snprintf(err, errlen, "%s: address 0x%llx plus size 0x%llx overflows", name,
				 (unsigned long long)s->paddr, (unsigned long long)s->memsz);
			return -ENOEXEC;
		}
		if (s->paddr < LOADER_LOAD_MIN) {
			snprintf(
			    err, errlen,
			    "%s loads at 0x%llx, below 1 MiB (0x100000) where the boot structures live",
			    name, (unsigned long long)s->paddr);
			return -ENOEXEC;
		}
		if (s->paddr + s->memsz > mem_size) {
			snprintf(
			    err, errlen,
			    "%s (0x%llx-0x%llx) ends beyond the guest's RAM (0x%llx bytes): give more --mem",
			    name, (unsigned long long)s->paddr,
			    (unsigned long long)(s->paddr + s->memsz),
			    (unsigned long long)mem_size);
			return -ENOEXEC;
		}
		for (unsigned j = 0; j < i; j++) {
			const struct loader_segment *t = &li->seg[j];

			if (s->paddr < t->paddr + t->memsz && t->paddr < s->paddr + s->memsz) {
				snprintf(err, errlen, "loadable segments %u and %u overlap", j, i);
				return -ENOEXEC;
			}
		}
	}
	return 0;
}

/* Is @addr within the file-backed bytes of a segment? */
static bool in_segment(const struct loader_image *li, uint64_t addr)
{
	for (unsigned i = 0; i < li->nsegs; i++) {
		const struct loader_segment *s = &li->seg[i];

		if (addr >= s->paddr && addr - s->paddr < s->filesz)
			return true;
	}
	return false;
}

static int find_boot_hdr(const uint8_t *img, size_t len, struct loader_image *out, char *err,
			 size_t errlen)
{
	uint64_t limit = min_u64(len, STRESS_BOOT_HDR_SEARCH);
	struct stress_boot_hdr h;
	int64_t bad = -1;

	out->has_ap_entry = false;
	for (uint64_t off = 0; off + sizeof(h) <= limit; off += 8) {
		if (rd32(img + off) != STRESS_BOOT_HDR_MAGIC)
			continue;
		memcpy(&h, img + off, sizeof(h));
		if ((uint32_t)(h.magic + h.checksum + h.flags) != 0) {
			if (bad < 0)
				bad = (int64_t)off;
			continue;
		}
		if (h.flags != 0) {
			snprintf(err, errlen,
				 "the vmm boot header at file offset 0x%llx has unknown flags 0x%x",
				 (unsigned long long)off, h.flags);
			return -ENOEXEC;
		}
		if (h.ap_entry >= LOADER_AP_ENTRY_LIMIT || !in_segment(out, h.ap_entry)) {
			snprintf(
			    err, errlen,
			    "the vmm boot header's ap_entry 0x%llx is not inside a loaded segment below 4 GiB",
			    (unsigned long long)h.ap_entry);
			return -ENOEXEC;
		}
		out->has_ap_entry = true;
		out->ap_entry = h.ap_entry;
		return 0;
	}
	if (bad >= 0) {
		snprintf(err, errlen,
			 "the vmm boot header at file offset 0x%llx has a bad checksum",
			 (unsigned long long)bad);
		return -ENOEXEC;
	}
	return 0;
}

int loader_parse(const uint8_t *img, size_t len, uint64_t mem_size, struct loader_image *out,
		 char *err, size_t errlen)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (!img || len == 0) {
		snprintf(err, errlen, "the kernel file is empty");
		return -ENOEXEC;
	}
	r = find_multiboot(img, len, out, err, errlen);
	if (r < 0)
		return r;
	if (out->mb_flags & LOADER_MB_FLAG_AOUT_KLUDGE)
		r = parse_aout_kludge(img, len, out, err, errlen);
	else
		r = parse_elf(img, len, out, err, errlen);
	if (r < 0)
		return r;
	r = check_segments(out, len, mem_size, err, errlen);
	if (r < 0)
		return r;
	if (out->entry >= LOADER_ENTRY_LIMIT || !in_segment(out, out->entry)) {
		snprintf(
		    err, errlen,
		    "the entry point 0x%llx is not inside a loaded segment below 4 GiB (vCPU 0 starts in 32-bit mode)",
		    (unsigned long long)out->entry);
		return -ENOEXEC;
	}
	return find_boot_hdr(img, len, out, err, errlen);
}

int loader_copy(const struct loader_image *li, const uint8_t *img, uint8_t *guest_mem,
		uint64_t mem_size)
{
	if (li->nsegs > LOADER_MAX_SEGMENTS)
		return -EINVAL;
	for (unsigned i = 0; i < li->nsegs; i++) {
		const struct loader_segment *s = &li->seg[i];

		if (s->filesz > s->memsz || s->paddr > mem_size || s->memsz > mem_size - s->paddr)
			return -EINVAL;
	}
	for (unsigned i = 0; i < li->nsegs; i++) {
		const struct loader_segment *s = &li->seg[i];

		memcpy(guest_mem + s->paddr, img + s->offset, s->filesz);
		memset(guest_mem + s->paddr + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}

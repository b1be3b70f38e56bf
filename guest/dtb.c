// SPDX-License-Identifier: MIT
/* Flattened device tree reader (see dtb.h and the Devicetree spec, ch. 5). */
#include <stdbool.h>
#include <stddef.h>

#include "dtb.h"

#define FDT_MAGIC      0xd00dfeedu
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP	       4
#define FDT_END	       9

/* Header fields, as byte offsets. */
#define HDR_MAGIC	 0
#define HDR_TOTALSIZE	 4
#define HDR_OFF_STRUCT	 8
#define HDR_OFF_STRINGS	 12
#define HDR_SIZE_STRINGS 32
#define HDR_SIZE_STRUCT	 36
#define HDR_LEN		 40

/* The spec's defaults when the root gives no #address-cells/#size-cells. */
#define DEFAULT_ADDR_CELLS 2
#define DEFAULT_SIZE_CELLS 1

/* Deep enough for /cpus/cpu@N/...; deeper nodes are walked but not read. */
#define MAX_DEPTH 8

enum node_kind {
	NODE_OTHER,
	NODE_ROOT,
	NODE_CHOSEN,
	NODE_MEMORY,
	NODE_CPUS,
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Does the NUL-terminated name start with word, followed by end or '@'? */
static bool node_is(const char *name, const char *word)
{
	while (*word)
		if (*name++ != *word++)
			return false;
	return *name == '\0' || *name == '@';
}

static bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* One or two big-endian cells as one number. */
static uint64_t read_cells(const uint8_t *p, uint32_t cells)
{
	uint64_t val = 0;
	uint32_t i;

	for (i = 0; i < cells; i++)
		val = val << 32 | be32(p + 4 * i);
	return val;
}

struct walk {
	const uint8_t *blob;
	const uint8_t *strings;
	uint32_t strings_size;
	uint32_t addr_cells;
	uint32_t size_cells;
	struct dtb_info *info;
};

static void read_prop(struct walk *w, enum node_kind kind, const char *name, const uint8_t *val,
		      uint32_t len)
{
	struct dtb_info *info = w->info;

	switch (kind) {
	case NODE_ROOT:
		if (str_eq(name, "#address-cells") && len == 4)
			w->addr_cells = be32(val);
		else if (str_eq(name, "#size-cells") && len == 4)
			w->size_cells = be32(val);
		break;
	case NODE_CHOSEN:
		if (str_eq(name, "bootargs") && len > 0 && val[len - 1] == '\0')
			info->bootargs = (const char *)val;
		else if (str_eq(name, "vmm,tsc-khz") && (len == 4 || len == 8))
			info->tsc_khz = (uint32_t)read_cells(val, len / 4);
		else if (str_eq(name, "vmm,stats-region") && len == 16) {
			info->stats_addr = read_cells(val, 2);
			info->stats_size = read_cells(val + 8, 2);
		}
		break;
	case NODE_MEMORY: {
		uint32_t entry = 4 * (w->addr_cells + w->size_cells), off;

		if (!str_eq(name, "reg") || w->addr_cells < 1 || w->addr_cells > 2 ||
		    w->size_cells < 1 || w->size_cells > 2)
			break;
		for (off = 0; off + entry <= len && info->nmem < DTB_MAX_MEM; off += entry) {
			struct dtb_mem *m = &info->mem[info->nmem++];

			m->base = read_cells(val + off, w->addr_cells);
			m->size = read_cells(val + off + 4 * w->addr_cells, w->size_cells);
		}
		break;
	}
	default:
		break;
	}
}

int dtb_parse(const void *fdt, uint64_t max_size, struct dtb_info *info)
{
	const uint8_t *blob = fdt;
	enum node_kind stack[MAX_DEPTH];
	uint32_t total, off, end, size_struct, off_strings, depth = 0;
	struct walk w;

	info->bootargs = NULL;
	info->tsc_khz = 0;
	info->stats_addr = 0;
	info->stats_size = 0;
	info->nmem = 0;
	info->ncpus = 0;

	if (max_size < HDR_LEN || be32(blob + HDR_MAGIC) != FDT_MAGIC)
		return -1;
	total = be32(blob + HDR_TOTALSIZE);
	off = be32(blob + HDR_OFF_STRUCT);
	size_struct = be32(blob + HDR_SIZE_STRUCT);
	off_strings = be32(blob + HDR_OFF_STRINGS);
	w.strings_size = be32(blob + HDR_SIZE_STRINGS);
	/* 64-bit sums: no field can wrap another past a bounds check. */
	if (total > max_size || total < HDR_LEN || off % 4 || (uint64_t)off + size_struct > total ||
	    (uint64_t)off_strings + w.strings_size > total || w.strings_size == 0)
		return -1;
	end = off + size_struct;
	w.strings = blob + off_strings;
	if (w.strings[w.strings_size - 1] != '\0')
		return -1;
	w.blob = blob;
	w.addr_cells = DEFAULT_ADDR_CELLS;
	w.size_cells = DEFAULT_SIZE_CELLS;
	w.info = info;

	while (off + 4 <= end) {
		uint32_t token = be32(blob + off);

		off += 4;
		switch (token) {
		case FDT_BEGIN_NODE: {
			const char *name = (const char *)blob + off;
			enum node_kind kind = NODE_OTHER, parent;
			uint32_t len = 0;

			while (off + len < end && name[len])
				len++;
			if (off + len >= end)
				return -1;
			off = (off + len + 1 + 3) & ~3u;
			parent = depth && depth <= MAX_DEPTH ? stack[depth - 1] : NODE_OTHER;
			if (depth == 0)
				kind = NODE_ROOT;
			else if (depth == 1 && node_is(name, "chosen"))
				kind = NODE_CHOSEN;
			else if (depth == 1 && node_is(name, "memory"))
				kind = NODE_MEMORY;
			else if (depth == 1 && node_is(name, "cpus"))
				kind = NODE_CPUS;
			else if (depth == 2 && parent == NODE_CPUS && node_is(name, "cpu"))
				info->ncpus++;
			if (depth < MAX_DEPTH)
				stack[depth] = kind;
			depth++;
			break;
		}
		case FDT_END_NODE:
			if (depth == 0)
				return -1;
			depth--;
			break;
		case FDT_PROP: {
			uint32_t len, nameoff;

			if (off + 8 > end || depth == 0)
				return -1;
			len = be32(blob + off);
			nameoff = be32(blob + off + 4);
			off += 8;
			if (len > end - off || nameoff >= w.strings_size)
				return -1;
			if (depth <= MAX_DEPTH)
				read_prop(&w, stack[depth - 1], (const char *)w.strings + nameoff,
					  blob + off, len);
			off = (off + len + 3) & ~3u;
			break;
		}
		case FDT_NOP:
			break;
		case FDT_END:
			return depth == 0 ? 0 : -1;
		default:
			return -1;
		}
	}
	return -1;
}

// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the stress kernel's device-tree reader (guest/dtb.c), which
 * reads the machine description vmm hands it as a Multiboot module (and
 * whatever module a boot loader hands it under that name).
 *
 * Input: 1 control byte, then
 *   bit 0 clear: a blob, read as the guest reads its module (an exact-size
 *     buffer: a read past its end is caught);
 *   bit 0 set: a machine description, built by vmm's own writer
 *     (src/vmm/mdesc.c) from the bytes: RAM, vCPUs, TSC, stats region,
 *     ring size, then bootargs (up to the first NUL);
 *   bit 1 set (bit 0 clear): a tree of any shape, written by libfdt's
 *     sequential writer from the bytes read as a little program (open a
 *     node, add a property, close a node: gen_tree() below).
 * Checked:
 *   - a blob is accepted or refused (0 or -1), and what is read from it
 *     lies inside it: bootargs a string ending inside the blob, at most
 *     DTB_MAX_MEM memory ranges;
 *   - a tree libfdt writes is accepted, whatever its shape, and the guest
 *     reads from it what libfdt's reader finds there: bootargs, TSC, stats
 *     region, the memory ranges of /memory's reg under the root's cell
 *     sizes, the cpu nodes under /cpus;
 *   - a machine description vmm writes reads back exactly: the same
 *     bootargs, TSC, stats region, RAM and vCPU count.
 */
#include "fuzz.h"

#include <inttypes.h>
#include <libfdt.h>
#include <string.h>

#include "dtb.h"
#include "stress_abi.h"
#include "vmm/mdesc.h"

#define FZ_MDESC 0x01
#define FZ_TREE	 0x02

static uint64_t get(const uint8_t **p, const uint8_t *end, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < n && *p < end; i++, (*p)++)
		v |= (uint64_t) * *p << (8 * i);
	return v;
}

static void check_blob(const uint8_t *data, size_t size)
{
	uint8_t *blob = malloc(size ? size : 1);
	struct dtb_info info;
	int r;

	if (!blob)
		abort();
	memcpy(blob, data, size);
	r = dtb_parse(blob, size, &info);
	FUZZ_CHECK(r == 0 || r == -1, "dtb_parse() returned %d", r);
	if (r == 0) {
		FUZZ_CHECK(info.nmem <= DTB_MAX_MEM, "%" PRIu32 " memory ranges", info.nmem);
		if (info.bootargs) {
			const uint8_t *b = (const uint8_t *)info.bootargs;

			FUZZ_CHECK(b >= blob && b < blob + size &&
				       memchr(b, '\0', (size_t)(blob + size - b)),
				   "bootargs not a string inside the blob");
		}
	}
	fuzz_valid(r == 0, "device tree", "refused");
	free(blob);
}

static void check_mdesc(const uint8_t *p, const uint8_t *end)
{
	static uint8_t buf[64 << 10] __attribute__((aligned(8)));
	struct mdesc m;
	struct dtb_info info;
	char err[256], *args;
	size_t alen;
	uint8_t *blob;
	size_t size;
	int r;

	memset(&m, 0, sizeof(m));
	m.mem_size = get(&p, end, 4) << 12;
	m.ncpus = (unsigned int)get(&p, end, 2);
	m.tsc_khz = (uint32_t)get(&p, end, 4);
	m.stats_gpa = get(&p, end, 5) << 12;
	m.stats_size = get(&p, end, 3);
	m.dirty_ring_entries = (uint32_t)get(&p, end, 4);
	alen = strnlen((const char *)p, (size_t)(end - p));
	args = malloc(alen + 1);
	if (!args)
		abort();
	memcpy(args, p, alen);
	args[alen] = '\0';
	m.bootargs = args;
	r = mdesc_build(buf, sizeof(buf), &m, err, sizeof(err));
	fuzz_valid(r == 0, "mdesc_build", err);
	if (r) {
		free(args);
		return;
	}
	size = mdesc_size(buf);
	FUZZ_CHECK(size <= sizeof(buf), "mdesc_size() %zu", size);
	blob = malloc(size);
	if (!blob)
		abort();
	memcpy(blob, buf, size);
	r = dtb_parse(blob, size, &info);
	FUZZ_CHECK(r == 0, "the guest refuses vmm's machine description");
	FUZZ_CHECK(info.bootargs && !strcmp(info.bootargs, args), "bootargs \"%s\", wrote \"%s\"",
		   info.bootargs ? info.bootargs : "(none)", args);
	FUZZ_CHECK(info.tsc_khz == m.tsc_khz, "tsc %" PRIu32 ", wrote %" PRIu32, info.tsc_khz,
		   m.tsc_khz);
	FUZZ_CHECK(m.stats_size ? info.stats_addr == m.stats_gpa && info.stats_size == m.stats_size
				: info.stats_addr == 0 && info.stats_size == 0,
		   "stats region");
	FUZZ_CHECK(info.nmem == 1 && info.mem[0].base == 0 && info.mem[0].size == m.mem_size,
		   "memory ranges");
	FUZZ_CHECK(info.ncpus == m.ncpus, "%" PRIu32 " vCPUs, wrote %u", info.ncpus, m.ncpus);
	free(blob);
	free(args);
}

/* ---- trees of any shape ---- */

static const char *const node_names[] = {"chosen", "memory@0", "cpus",	   "cpu@1",
					 "memory", "cpu",      "chosen@0", "cpus@0"};
static const char *const prop_names[] = {"bootargs",	   "vmm,tsc-khz", "vmm,stats-region",
					 "#address-cells", "#size-cells", "reg",
					 "device_type",	   "compatible",  "vmm,dirty-ring-size"};
/* The nodes the guest reads at depth 1. */
static const char *const top_names[] = {"chosen", "memory", "cpus"};
#define NNODE (sizeof(node_names) / sizeof(node_names[0]))
#define NPROP (sizeof(prop_names) / sizeof(prop_names[0]))
/* Deep enough to pass the guest's MAX_DEPTH (8). */
#define TREE_MAX_DEPTH 12

/* The name a node or property is known by: "cpu@1" is a "cpu". */
static bool named(const char *name, const char *word)
{
	size_t n = strlen(word);

	return !strncmp(name, word, n) && (name[n] == '\0' || name[n] == '@');
}

/*
 * Write a tree from the bytes.  Node names at depth 1 are unique by what
 * they are known as, and property names within a node, so that libfdt's
 * reader (first match) and the guest's (last match) must agree; a node's
 * properties come before its children, as the Devicetree spec wants (the
 * writer would let them follow).
 */
static int gen_tree(const uint8_t *p, const uint8_t *end, void *buf, int bufsize)
{
	uint32_t used[TREE_MAX_DEPTH + 1] = {0};     /* per open node: properties given */
	unsigned int depth = 1, top = 0, serial = 0; /* top: depth-1 names used */
	char name[32];

	/* The root's compatible, as every tree has (the guest refuses an empty strings block). */
	if (fdt_create(buf, bufsize) || fdt_finish_reservemap(buf) || fdt_begin_node(buf, "") ||
	    fdt_property_string(buf, "compatible", "fuzz"))
		return -1;
	used[0] = 1u << 7; /* compatible */
	while (p < end) {
		uint8_t op = *p++, k = p < end ? *p++ : 0;

		switch (op % 4) {
		case 0: /* open a node */
			if (depth > TREE_MAX_DEPTH)
				break;
			snprintf(name, sizeof(name), "%s", node_names[k % NNODE]);
			if (depth == 1) {
				unsigned int i, bit = 0;

				for (i = 0; i < 3; i++)
					if (named(name, top_names[i]))
						bit = 1u << i;
				if (bit & top)
					snprintf(name, sizeof(name), "node%u", serial++);
				top |= bit;
			} else if (k & 0x80) {
				snprintf(name, sizeof(name), "cpu@%u", serial++);
			}
			if (fdt_begin_node(buf, name))
				return -1;
			used[depth - 1] = ~0u; /* the parent has a child: no more properties */
			used[depth++] = 0;
			break;
		case 1:	  /* a property: a value of the next (next byte % 48) bytes */
		case 2: { /* a property: one or two cells */
			unsigned int which = k % NPROP, len;
			uint8_t val[48];

			if (used[depth - 1] & (1u << which))
				break;
			used[depth - 1] |= 1u << which;
			if (op % 4 == 1) {
				len = (p < end ? *p++ : 0) % 48;
				if (len > (size_t)(end - p))
					len = (unsigned int)(end - p);
				memcpy(val, p, len);
				p += len;
			} else {
				len = k & 0x80 ? 8 : 4;
				memset(val, 0, len);
				val[len - 1] = p < end ? *p++ : 1;
			}
			if (fdt_property(buf, prop_names[which], val, (int)len))
				return -1;
			break;
		}
		default: /* close a node */
			if (depth > 1) {
				if (fdt_end_node(buf))
					return -1;
				depth--;
			}
		}
	}
	while (depth-- > 0)
		if (fdt_end_node(buf))
			return -1;
	return fdt_finish(buf);
}

static uint64_t cells(const uint8_t *v, unsigned int n)
{
	uint64_t x = 0;

	while (n--) {
		x = x << 32 | fdt32_ld((const fdt32_t *)v);
		v += 4;
	}
	return x;
}

/* What libfdt's reader finds, in the guest's terms (dtb.h). */
static void libfdt_reads(const void *fdt, struct dtb_info *want)
{
	const uint8_t *v;
	int node, len, sub;
	uint32_t ac = 2, sc = 1;

	memset(want, 0, sizeof(*want));
	v = fdt_getprop(fdt, 0, "#address-cells", &len);
	if (v && len == 4)
		ac = fdt32_ld((const fdt32_t *)v);
	v = fdt_getprop(fdt, 0, "#size-cells", &len);
	if (v && len == 4)
		sc = fdt32_ld((const fdt32_t *)v);
	fdt_for_each_subnode(node, fdt, 0)
	{
		const char *name = fdt_get_name(fdt, node, NULL);

		if (named(name, "chosen")) {
			v = fdt_getprop(fdt, node, "bootargs", &len);
			if (v && len > 0 && v[len - 1] == '\0')
				want->bootargs = (const char *)v;
			v = fdt_getprop(fdt, node, "vmm,tsc-khz", &len);
			if (v && (len == 4 || len == 8))
				want->tsc_khz = (uint32_t)cells(v, (unsigned int)len / 4);
			v = fdt_getprop(fdt, node, "vmm,stats-region", &len);
			if (v && len == 16) {
				want->stats_addr = cells(v, 2);
				want->stats_size = cells(v + 8, 2);
			}
		} else if (named(name, "memory")) {
			uint32_t entry = 4 * (ac + sc), off;

			v = fdt_getprop(fdt, node, "reg", &len);
			if (!v || ac < 1 || ac > 2 || sc < 1 || sc > 2)
				continue;
			for (off = 0; off + entry <= (uint32_t)len && want->nmem < DTB_MAX_MEM;
			     off += entry) {
				want->mem[want->nmem].base = cells(v + off, ac);
				want->mem[want->nmem++].size = cells(v + off + 4 * ac, sc);
			}
		} else if (named(name, "cpus")) {
			fdt_for_each_subnode(sub, fdt, node)
			{
				if (named(fdt_get_name(fdt, sub, NULL), "cpu"))
					want->ncpus++;
			}
		}
	}
}

static void check_tree(const uint8_t *p, const uint8_t *end)
{
	static uint8_t buf[64 << 10] __attribute__((aligned(8)));
	struct dtb_info got, want;
	uint8_t *blob;
	size_t size;
	uint32_t i;

	if (gen_tree(p, end, buf, sizeof(buf)))
		return; /* too large for the buffer */
	size = fdt_totalsize(buf);
	blob = malloc(size);
	if (!blob)
		abort();
	memcpy(blob, buf, size);
	FUZZ_CHECK(dtb_parse(blob, size, &got) == 0, "the guest refuses a tree libfdt wrote");
	libfdt_reads(blob, &want);
	FUZZ_CHECK(got.bootargs == want.bootargs, "bootargs: not the property libfdt finds");
	FUZZ_CHECK(got.tsc_khz == want.tsc_khz, "tsc %" PRIu32 ", libfdt %" PRIu32, got.tsc_khz,
		   want.tsc_khz);
	FUZZ_CHECK(got.stats_addr == want.stats_addr && got.stats_size == want.stats_size,
		   "stats region");
	FUZZ_CHECK(got.nmem == want.nmem, "%" PRIu32 " memory ranges, libfdt %" PRIu32, got.nmem,
		   want.nmem);
	for (i = 0; i < got.nmem; i++)
		FUZZ_CHECK(got.mem[i].base == want.mem[i].base &&
			       got.mem[i].size == want.mem[i].size,
			   "memory range %" PRIu32, i);
	FUZZ_CHECK(got.ncpus == want.ncpus, "%" PRIu32 " cpus, libfdt %" PRIu32, got.ncpus,
		   want.ncpus);
	free(blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & FZ_MDESC)
		check_mdesc(data + 1, data + size);
	else if (data[0] & FZ_TREE)
		check_tree(data + 1, data + size);
	else
		check_blob(data + 1, size - 1);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * Writes the generated seeds of the fuzz corpora (docs/fuzzing.md):
 *
 *   build/tests/fuzz/fuzz_gen_corpus tests/fuzz/corpus build/guest/stress.elf
 *   (or: ninja -C build fuzz-corpus)
 *
 * Seeds are made by the project's own writers, so that they are what the
 * parsers meet for real: migration streams by the stream encoder from a
 * guest's memory as vmm lays it out (boot structures, the machine
 * description, the bundled kernel, a working set the stress kernel has
 * written) and vCPU state as vmm sets it at boot; replies by the reply
 * encoder; device trees by vmm's machine-description builder; kernel images
 * from the bundled kernel and the image shapes the loader's tests build;
 * command lines as the README and docs/guest.md write them; QMP sessions
 * and every command of QMP's table; VM state sections by vmm's section
 * encoders (gen_vstate.c).  Files whose
 * name starts with "ok-" must be accepted by their parser: the replay tests
 * fail when one stops being (the format changed: run this again).  Output
 * is the same on every run; other files of the corpora (regression inputs)
 * are left alone.
 */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen_corpus.h"
#include "migrate/mig_stream.h"
#include "qmp/qmp_dispatch.h"
#include "stress_abi.h"
#include "vmm/boot.h"
#include "vmm/loader.h"
#include "vmm/mdesc.h"
#include "vmm/vstate.h"

#define PAGE MIG_PAGE_SIZE

static const char *out_root;

void gen_die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s\n", what);
	exit(1);
}

void gen_emit(const char *target, const char *name, const void *pre, size_t plen, const void *body,
	      size_t blen)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_root, target);
	if (mkdir(path, 0755) && errno != EEXIST)
		gen_die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", out_root, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(pre, 1, plen, f) != plen || fwrite(body, 1, blen, f) != blen || fclose(f))
		gen_die(path);
	printf("%-60s %7zu bytes\n", path, plen + blen);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		gen_die("out of memory");
	return p;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET))
		gen_die(path);
	buf = xcalloc(1, (size_t)n);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		gen_die(path);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* ---- a byte stream ---- */

void gen_put(struct gen_bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->buf = realloc(b->buf, b->cap);
		if (!b->buf)
			gen_die("out of memory");
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

/* ---- migration streams ---- */

/* The fuzz target's control flags (fuzz_mig_stream.c). */
#define FZ_FIX_CHECKS 0x01
#define FZ_FIX_SUMS   0x02
#define FZ_FIX_DIGEST 0x04
#define FZ_GARBAGE    0x08
#define FZ_DIRECT     0x10
#define FZ_VSTATE     0x40
#define FZ_FIX_ALL    (FZ_FIX_CHECKS | FZ_FIX_SUMS | FZ_FIX_DIGEST)

/* The target's section ids (fuzz_mig_stream.c). */
#define SEC_VCPU    1
#define SEC_CONSOLE 2
#define SEC_EXTRA   3

struct src {
	uint8_t *ram;
	uint64_t size;
	struct mig_enc e;
	struct gen_bytes out;
};

/* Move the encoder's queued batch into the stream, as a socket would take it. */
static void drain(struct src *s)
{
	while (mig_enc_queued(&s->e)) {
		int n, i;
		const struct iovec *v = mig_enc_iov(&s->e, &n);
		size_t sent = 0;

		for (i = 0; i < n; i++) {
			gen_put(&s->out, v[i].iov_base, v[i].iov_len);
			sent += v[i].iov_len;
		}
		mig_enc_advance(&s->e, sent);
	}
}

#define ENC(s, call)                                                                               \
	do {                                                                                       \
		int r_;                                                                            \
		while ((r_ = (call)) == -ENOBUFS)                                                  \
			drain(s);                                                                  \
		if (r_)                                                                            \
			gen_die("encoder: " #call);                                                \
	} while (0)

static void src_init(struct src *s, uint8_t *ram, uint64_t size, unsigned int run_pages,
		     size_t batch)
{
	struct mig_enc_params p = {
	    .ram = ram, .ram_size = size, .run_pages = run_pages, .batch_bytes = batch};

	memset(s, 0, sizeof(*s));
	s->ram = ram;
	s->size = size;
	if (mig_enc_init(&s->e, &p))
		gen_die("mig_enc_init");
}

/* Queue pages [first, first + n); drain only when the batch is full. */
static void send_pages(struct src *s, uint64_t first, uint64_t n)
{
	while (n) {
		long k = mig_enc_pages(&s->e, first, n);

		if (k < 0)
			gen_die("mig_enc_pages");
		first += (uint64_t)k;
		n -= (uint64_t)k;
		if (n)
			drain(s);
	}
}

/* Send the pages marked in dirty[], run by run. */
static void send_dirty(struct src *s, const bool *dirty)
{
	uint64_t i = 0, j, n = s->size / PAGE;

	while (i < n) {
		if (!dirty[i]) {
			i++;
			continue;
		}
		for (j = i; j < n && dirty[j]; j++)
			;
		send_pages(s, i, j - i);
		i = j;
	}
}

static void send_end(struct src *s, uint32_t chunk)
{
	uint8_t digest[MIG_DIGEST_LEN];

	if (mig_digest_mem(s->ram, s->size, chunk, digest))
		gen_die("mig_digest_mem");
	ENC(s, mig_enc_end(&s->e, digest));
	drain(s);
	mig_enc_free(&s->e);
}

static struct mig_config config(uint64_t ram_size, uint32_t ncpus, uint32_t chunk)
{
	uint64_t gpa = (ram_size + (2u << 20) - 1) & ~((2ull << 20) - 1);

	return (struct mig_config){
	    .page_size = PAGE,
	    .ncpus = ncpus,
	    .ram_size = ram_size,
	    .ring_entries = 65536,
	    .tsc_khz = 2100000,
	    .stats_gpa = gpa,
	    .stats_size = STRESS_STATS_SIZE,
	    .digest_chunk = chunk,
	};
}

static void emit_stream(const char *name, uint8_t flags, uint32_t cut_seed,
			const struct gen_bytes *b)
{
	uint8_t pre[4] = {flags, (uint8_t)cut_seed, (uint8_t)(cut_seed >> 8),
			  (uint8_t)(cut_seed >> 16)};

	gen_emit("mig_stream", name, pre, sizeof(pre), b->buf, b->len);
}

/*
 * The guest as vmm boots it (src/vmm/boot_vm.c), 2 vCPUs, 4 MiB of RAM (half
 * vmm's minimum, to keep the seed small: the codec does not care): the
 * kernel loaded, the machine description and the boot structures
 * written.  Returns the end of the kernel's memory (its bss).
 */
#define REAL_RAM     (4ull << 20)
#define REAL_CPUS    2
#define REAL_APPEND  "wss=4K pattern=seq report=1000"
#define REAL_WSS_PGS 1 /* per vCPU: wss=4K */
static uint64_t real_guest(uint8_t *ram, const uint8_t *elf, size_t elf_len, struct boot_info *bi,
			   struct loader_image *li)
{
	static uint8_t fdt[BOOT_FDT_MAX] __attribute__((aligned(8)));
	struct mdesc md = {
	    .mem_size = REAL_RAM,
	    .ncpus = REAL_CPUS,
	    .bootargs = REAL_APPEND,
	    .tsc_khz = 2100000,
	    .stats_gpa = REAL_RAM,
	    .stats_size = STRESS_STATS_SIZE,
	    .dirty_ring_entries = 65536,
	};
	struct boot_params bp = {.cmdline = REAL_APPEND, .fdt = fdt};
	char err[256];
	uint64_t end = 0;
	unsigned int i;

	if (loader_parse(elf, elf_len, REAL_RAM, li, err, sizeof(err)) ||
	    loader_copy(li, elf, ram, REAL_RAM))
		gen_die(err);
	if (mdesc_build(fdt, sizeof(fdt), &md, err, sizeof(err)))
		gen_die(err);
	bp.fdt_size = mdesc_size(fdt);
	if (boot_setup(ram, REAL_RAM, &bp, bi, err, sizeof(err)))
		gen_die(err);
	for (i = 0; i < li->nsegs; i++)
		if (li->seg[i].paddr + li->seg[i].memsz > end)
			end = li->seg[i].paddr + li->seg[i].memsz;
	return (end + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

/*
 * What the running kernel has written by a round: its stack and page
 * tables at the start of its bss (the first pages above its file-backed
 * bytes), and each vCPU's working set above the kernel, in the seq
 * pattern (pass p stores p + 1 in each page's first word).
 */
static void real_run(uint8_t *ram, const struct loader_image *li, uint64_t wss_base,
		     unsigned int pass, bool *dirty)
{
	const struct loader_segment *bss = &li->seg[li->nsegs - 1];
	uint64_t pg = (bss->paddr + bss->filesz + PAGE - 1) / PAGE;
	unsigned int cpu, i;

	for (i = 0; i < 2; i++) {
		uint64_t *w = (uint64_t *)(ram + (pg + i) * PAGE);
		unsigned int k;

		/* Page-table-like entries and a stack's return addresses. */
		for (k = 0; k < 64; k++)
			w[k] = (uint64_t)k << 21 | 0x83 | (uint64_t)pass << 52;
		w[500] = 0x100000 + 0x40 * pass;
		dirty[pg + i] = true;
	}
	for (cpu = 0; cpu < REAL_CPUS; cpu++) {
		for (i = 0; i < REAL_WSS_PGS; i++) {
			uint64_t page = wss_base / PAGE + cpu * REAL_WSS_PGS + i;
			uint64_t v = pass + 1;

			memcpy(ram + page * PAGE, &v, sizeof(v));
			dirty[page] = true;
		}
	}
}

/* One state section of the real stream, written by the stream encoder. */
static void real_section(void *opaque, uint32_t id, uint32_t instance, const uint8_t *b, size_t len)
{
	struct src *s = opaque;

	ENC(s, mig_enc_section(&s->e, id, instance, VSTATE_VERSION, b, (uint32_t)len));
	drain(s);
}

static void gen_real_stream(const uint8_t *elf, size_t elf_len)
{
	uint8_t *ram = xcalloc(1, REAL_RAM);
	bool *dirty = xcalloc(REAL_RAM / PAGE, sizeof(bool));
	struct mig_config c = config(REAL_RAM, REAL_CPUS, MIG_DIGEST_CHUNK_DEFAULT);
	struct loader_image li;
	struct boot_info bi;
	uint64_t wss;
	struct src s;
	unsigned int round;

	wss = real_guest(ram, elf, elf_len, &bi, &li);
	gen_vstate(&bi, &li);
	src_init(&s, ram, REAL_RAM, 0, 0);
	ENC(&s, mig_enc_header(&s.e));
	ENC(&s, mig_enc_config(&s.e, &c));
	/* Round 0 while the guest runs its first pass: every page. */
	real_run(ram, &li, wss, 0, dirty);
	ENC(&s, mig_enc_round_begin(&s.e, false));
	send_pages(&s, 0, REAL_RAM / PAGE);
	ENC(&s, mig_enc_round_end(&s.e));
	drain(&s);
	/* Round 1, then the final round with the guest stopped: what it dirtied. */
	for (round = 1; round <= 2; round++) {
		memset(dirty, 0, REAL_RAM / PAGE * sizeof(bool));
		real_run(ram, &li, wss, round, dirty);
		ENC(&s, mig_enc_round_begin(&s.e, round == 2));
		send_dirty(&s, dirty);
		ENC(&s, mig_enc_round_end(&s.e));
		drain(&s);
	}
	/* The vCPU and device state, as vmm saves it (the target's FZ_VSTATE table). */
	gen_vstate_sections(&bi, &li, REAL_CPUS, false, real_section, &s);
	send_end(&s, c.digest_chunk);
	emit_stream("ok-real-4m-3-rounds", FZ_FIX_ALL | FZ_VSTATE, 0x5a5a5a, &s.out);
	free(s.out.buf);
	free(dirty);
	free(ram);
}

/* A page of the small synthetic guests: words from a seed, sometimes zeros. */
static void fill_page(uint8_t *p, uint32_t v)
{
	unsigned int i;

	for (i = 0; i < PAGE; i += 4) {
		uint32_t w = v * 2654435761u + i;

		memcpy(p + i, &w, 4);
	}
}

/*
 * A small guest over several live rounds.  With tear, pages change after
 * the encoder has summed them and before the batch is sent, as a running
 * guest's do: the stream carries torn pages, sent again the next round.
 */
struct small {
	const char *name;
	uint8_t flags;
	unsigned int npages, rounds, run;
	bool tear, sections;
	uint32_t chunk;
};

static void gen_small_stream(const struct small *g)
{
	uint64_t size = (uint64_t)g->npages * PAGE;
	uint8_t *ram = xcalloc(g->npages, PAGE);
	bool *dirty = xcalloc(g->npages, sizeof(bool));
	struct mig_config c = config(size, 2, g->chunk);
	uint32_t rs = 12345;
	unsigned int i, r;
	struct src s;

	for (i = 0; i < g->npages; i++)
		if (i % 3)
			fill_page(ram + (size_t)i * PAGE, i);
	/* Small batches: the encoder must hand over pages mid-round. */
	src_init(&s, ram, size, g->run, 3 * PAGE);
	ENC(&s, mig_enc_header(&s.e));
	ENC(&s, mig_enc_config(&s.e, &c));
	ENC(&s, mig_enc_round_begin(&s.e, g->rounds == 0));
	send_pages(&s, 0, g->npages);
	ENC(&s, mig_enc_round_end(&s.e));
	for (r = 1; r <= g->rounds; r++) {
		if (!g->tear)
			drain(&s);
		for (i = 0; i < g->npages; i++) {
			uint32_t x = (rs = rs * 1103515245u + 12345u) >> 8;

			dirty[i] = x % 3 == 0;
			if (dirty[i] && x % 4 == 0)
				memset(ram + (size_t)i * PAGE, 0, PAGE);
			else if (dirty[i])
				fill_page(ram + (size_t)i * PAGE, x);
		}
		ENC(&s, mig_enc_round_begin(&s.e, r == g->rounds));
		send_dirty(&s, dirty);
		ENC(&s, mig_enc_round_end(&s.e));
	}
	drain(&s);
	if (g->sections) {
		static const char console[] = "login: ";
		uint8_t v[300];

		for (i = 0; i < sizeof(v); i++)
			v[i] = (uint8_t)(i * 7 + 1);
		ENC(&s, mig_enc_section(&s.e, SEC_VCPU, 0, 1, v, 300));
		ENC(&s, mig_enc_section(&s.e, SEC_VCPU, 1, 1, v + 1, 299));
		ENC(&s, mig_enc_section(&s.e, SEC_CONSOLE, 0, 1, console, sizeof(console) - 1));
		ENC(&s, mig_enc_section(&s.e, SEC_EXTRA, 2, 7, NULL, 0));
	}
	send_end(&s, c.digest_chunk);
	emit_stream(g->name, g->flags, 0x1234, &s.out);
	free(s.out.buf);
	free(dirty);
	free(ram);
}

/*
 * Tiny streams: a few pages, mostly zero, so that every record is a few
 * dozen bytes of a few hundred and a mutation lands on a field far more
 * often than in the pages of the larger seeds.  One page holds data when
 * data_page is set.
 */
static void tiny_stream(struct gen_bytes *out, unsigned int npages, bool data_page)
{
	uint64_t size = (uint64_t)npages * PAGE;
	uint8_t *ram = xcalloc(npages, PAGE);
	struct mig_config c = config(size, 2, MIG_DIGEST_CHUNK_DEFAULT);
	static const char console[] = "$ ";
	uint8_t v[64];
	unsigned int i;
	struct src s;

	for (i = 0; i < sizeof(v); i++)
		v[i] = (uint8_t)(i + 1);
	if (data_page)
		fill_page(ram + PAGE, 7);
	src_init(&s, ram, size, 0, 0);
	ENC(&s, mig_enc_header(&s.e));
	ENC(&s, mig_enc_config(&s.e, &c));
	ENC(&s, mig_enc_round_begin(&s.e, false));
	send_pages(&s, 0, npages);
	ENC(&s, mig_enc_round_end(&s.e));
	ENC(&s, mig_enc_round_begin(&s.e, true));
	send_pages(&s, npages - 1, 1);
	ENC(&s, mig_enc_round_end(&s.e));
	ENC(&s, mig_enc_section(&s.e, SEC_VCPU, 0, 1, v, 48));
	ENC(&s, mig_enc_section(&s.e, SEC_VCPU, 1, 1, v + 1, 48));
	ENC(&s, mig_enc_section(&s.e, SEC_CONSOLE, 0, 1, console, sizeof(console) - 1));
	ENC(&s, mig_enc_section(&s.e, SEC_EXTRA, 3, 1, v, 5));
	send_end(&s, c.digest_chunk);
	*out = s.out;
	free(ram);
}

static void gen_tiny_streams(void)
{
	struct gen_bytes b;
	unsigned int k;

	tiny_stream(&b, 4, false);
	emit_stream("ok-tiny-zero-ram", FZ_FIX_ALL, 0x000001, &b);
	/*
	 * The same with other control flags: mutations seldom hit the first
	 * byte of an input, so the corpus carries the combinations.
	 */
	emit_stream("ok-tiny-zero-ram-garbage", FZ_FIX_ALL | FZ_GARBAGE, 0x000002, &b);
	emit_stream("ok-tiny-zero-ram-direct-raw", FZ_DIRECT, 0x000003, &b);
	emit_stream("ok-tiny-zero-ram-checks-only", FZ_FIX_CHECKS | FZ_GARBAGE | FZ_DIRECT,
		    0x000004, &b);
	/*
	 * The same stream with each hook refusing in turn (the target's
	 * FZ_REFUSE: hook call 1 + seed % 16 refuses): configuration, the
	 * rounds' begin and end, the sections, the end.
	 */
	for (k = 0; k < 10; k++) {
		char name[32];

		snprintf(name, sizeof(name), "tiny-refuse-hook-%u", k + 1);
		emit_stream(name, FZ_FIX_ALL | 0x20, k, &b);
	}
	free(b.buf);
	tiny_stream(&b, 2, true);
	emit_stream("ok-tiny-one-page-direct", FZ_FIX_ALL | FZ_DIRECT, 0x00abcd, &b);
	/* The END digest as sent: a page mutated is a digest mismatch. */
	emit_stream("ok-tiny-one-page-digest-as-sent", FZ_FIX_CHECKS | FZ_FIX_SUMS, 0x000777, &b);
	free(b.buf);
}

static void gen_mig_stream(const uint8_t *elf, size_t elf_len)
{
	static const struct small small[] = {
	    /* Torn pages: their sums must stay as sent (no FZ_FIX_SUMS). */
	    {"ok-small-torn-direct", FZ_FIX_CHECKS | FZ_FIX_DIGEST | FZ_DIRECT, 6, 3, 3, true, true,
	     MIG_DIGEST_CHUNK_DEFAULT},
	    {"ok-small-garbage-chunk8k", FZ_FIX_ALL | FZ_GARBAGE, 4, 2, 0, false, true, 8192},
	    /* Exactly as encoded: every check as the source computed it. */
	    {"ok-small-final-only-raw", 0, 4, 0, 3, false, true, MIG_DIGEST_CHUNK_DEFAULT},
	    {"ok-small-runs-of-1", FZ_FIX_ALL | FZ_DIRECT, 4, 2, 1, false, true,
	     MIG_DIGEST_CHUNK_DEFAULT},
	};
	unsigned int i;

	gen_real_stream(elf, elf_len);
	gen_tiny_streams();
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++)
		gen_small_stream(&small[i]);
}

/* ---- replies ---- */

static void gen_mig_reply(void)
{
	static const struct {
		const char *name;
		enum mig_err code;
		uint64_t offset;
		const char *msg;
	} errs[] = {
	    {"ok-error-digest", MIG_E_DIGEST, 1234567,
	     "guest RAM differs from the source's: digest 0123456789abcdef0123456789abcdef there, "
	     "fedcba9876543210fedcba9876543210 here (stream offset 1234567)"},
	    {"ok-error-config", MIG_E_CONFIG, 24,
	     "configuration refused: the guest has 4 vCPUs, this vmm was given 2 (--cpus) (stream "
	     "offset 24)"},
	    {"ok-error-empty-reason", MIG_E_LOCAL, 0, ""},
	};
	static const uint8_t fix = 1, raw = 0;
	uint8_t buf[MIG_REPLY_MAX], digest[MIG_DIGEST_LEN];
	unsigned int i;
	size_t n;

	for (i = 0; i < MIG_DIGEST_LEN; i++)
		digest[i] = (uint8_t)(i * 17 + 3);
	n = mig_reply_ack(buf, digest);
	gen_emit("mig_reply", "ok-ack", &fix, 1, buf, n);
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		struct mig_error e = {.code = errs[i].code, .offset = errs[i].offset};

		snprintf(e.msg, sizeof(e.msg), "%s", errs[i].msg);
		n = mig_reply_error(buf, &e);
		gen_emit("mig_reply", errs[i].name, i ? &fix : &raw, 1, buf, n);
	}
}

/* ---- kernel images ---- */

/* The loader target's control bytes: RAM pages - 1 (u16), flags (bit 0: fix checksums). */
static void emit_image(const char *name, unsigned int mem_pages, uint8_t flags, const void *img,
		       size_t len)
{
	uint8_t pre[3] = {(uint8_t)(mem_pages - 1), (uint8_t)((mem_pages - 1) >> 8), flags};

	gen_emit("loader", name, pre, sizeof(pre), img, len);
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void mb_header(uint8_t *p, uint32_t flags)
{
	wr32(p, LOADER_MB_MAGIC);
	wr32(p + 4, flags);
	wr32(p + 8, (uint32_t) - (LOADER_MB_MAGIC + flags));
}

static void boot_header(uint8_t *p, uint64_t ap_entry)
{
	wr32(p, STRESS_BOOT_HDR_MAGIC);
	wr32(p + 4, (uint32_t)-STRESS_BOOT_HDR_MAGIC);
	wr32(p + 8, 0);
	wr32(p + 12, 0);
	wr64(p + 16, ap_entry);
}

/*
 * A small kernel as the loader's tests build them: headers, the Multiboot
 * header at 0x800, the vmm boot header at 0x900, then text at 1 MiB (file
 * offset 0x1000) and data with a bss after it (in the ELF64 one, right
 * after the text: a byte more of text and they overlap).
 */
#define IMG_LEN	   0x2000
#define IMG_TEXT   0x100000ull
#define IMG_MB_OFF 0x800
#define IMG_BH_OFF 0x900
static void small_elf(uint8_t *img, bool is64)
{
	memset(img, 0, IMG_LEN);
	for (size_t i = 0x1000; i < IMG_LEN; i++)
		img[i] = (uint8_t)(i * 7 + 3);
	if (is64) {
		Elf64_Ehdr eh = {
		    .e_type = ET_EXEC,
		    .e_machine = EM_X86_64,
		    .e_version = EV_CURRENT,
		    .e_entry = IMG_TEXT + 0x10,
		    .e_phoff = sizeof(Elf64_Ehdr),
		    .e_ehsize = sizeof(Elf64_Ehdr),
		    .e_phentsize = sizeof(Elf64_Phdr),
		    .e_phnum = 2,
		};
		Elf64_Phdr ph[2] = {
		    {PT_LOAD, PF_R | PF_X, 0x1000, IMG_TEXT, IMG_TEXT, 0x800, 0x800, 0x1000},
		    {PT_LOAD, PF_R | PF_W, 0x1800, IMG_TEXT + 0x800, IMG_TEXT + 0x800, 0x800,
		     0x3000, 0x1000},
		};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img, &eh, sizeof(eh));
		memcpy(img + sizeof(eh), ph, sizeof(ph));
	} else {
		Elf32_Ehdr eh = {
		    .e_type = ET_EXEC,
		    .e_machine = EM_386,
		    .e_version = EV_CURRENT,
		    .e_entry = (uint32_t)IMG_TEXT + 0x10,
		    .e_phoff = sizeof(Elf32_Ehdr),
		    .e_ehsize = sizeof(Elf32_Ehdr),
		    .e_phentsize = sizeof(Elf32_Phdr),
		    .e_phnum = 3,
		};
		Elf32_Phdr ph[3] = {
		    {PT_LOAD, 0x1000, (uint32_t)IMG_TEXT, (uint32_t)IMG_TEXT, 0x800, 0x800,
		     PF_R | PF_X, 0x1000},
		    {PT_NOTE, 0x900, 0, 0, 0x18, 0x18, PF_R, 4},
		    {PT_LOAD, 0x1800, (uint32_t)IMG_TEXT + 0x1000, (uint32_t)IMG_TEXT + 0x1000,
		     0x800, 0x3000, PF_R | PF_W, 0x1000},
		};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img, &eh, sizeof(eh));
		memcpy(img + sizeof(eh), ph, sizeof(ph));
	}
	mb_header(img + IMG_MB_OFF, LOADER_MB_FLAG_PAGE_ALIGN | LOADER_MB_FLAG_MEMINFO);
	boot_header(img + IMG_BH_OFF, IMG_TEXT + 0x100);
}

static void gen_loader(const uint8_t *elf, size_t elf_len)
{
	uint8_t img[IMG_LEN];

	/* The bundled kernel, in the smallest guest it fits. */
	emit_image("ok-stress-elf32", 1024, 1, elf, elf_len);
	small_elf(img, false);
	emit_image("ok-small-elf32", 512, 1, img, IMG_LEN);
	small_elf(img, true);
	emit_image("ok-small-elf64", 2048, 1, img, IMG_LEN);
	/* The a.out kludge (flag 16): load addresses in the Multiboot header. */
	memset(img, 0, 0x400);
	for (size_t i = 0x20; i < 0x400; i++)
		img[i] = (uint8_t)(i * 5 + 1);
	mb_header(img, LOADER_MB_FLAG_AOUT_KLUDGE | LOADER_MB_FLAG_MEMINFO);
	wr32(img + 12, (uint32_t)IMG_TEXT);	     /* header_addr */
	wr32(img + 16, (uint32_t)IMG_TEXT);	     /* load_addr */
	wr32(img + 20, (uint32_t)IMG_TEXT + 0x400);  /* load_end_addr */
	wr32(img + 24, (uint32_t)IMG_TEXT + 0x2000); /* bss_end_addr */
	wr32(img + 28, (uint32_t)IMG_TEXT + 0x20);   /* entry_addr */
	emit_image("ok-aout-kludge", 512, 1, img, 0x400);
}

/* ---- device trees ---- */

static void le(struct gen_bytes *b, uint64_t v, unsigned int n)
{
	while (n--) {
		uint8_t c = (uint8_t)v;

		gen_put(b, &c, 1);
		v >>= 8;
	}
}

static void gen_guest_dtb(void)
{
	static const struct mdesc trees[] = {
	    {REAL_RAM, REAL_CPUS, REAL_APPEND, 2100000, REAL_RAM, STRESS_STATS_SIZE, 65536},
	    {512ull << 20, 8, "wss=64M pattern=random writers=0-3 readers=4-7", 0, 0, 0, 0},
	    {1ull << 30, 1, "", 3000000, 1ull << 30, STRESS_STATS_SIZE, 4096},
	};
	static uint8_t fdt[BOOT_FDT_MAX] __attribute__((aligned(8)));
	static const char *const names[] = {"ok-real-4m", "ok-8-cpus-no-stats", "ok-empty-args"};
	unsigned int i;
	char err[256];

	for (i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) {
		const struct mdesc *m = &trees[i];
		static const uint8_t raw = 0, built = 1;
		struct gen_bytes b = {0};
		char name[64];

		if (mdesc_build(fdt, sizeof(fdt), m, err, sizeof(err)))
			gen_die(err);
		/* The blob as the guest gets it. */
		gen_emit("guest_dtb", names[i], &raw, 1, fdt, mdesc_size(fdt));
		/* The same description, for vmm's writer to build. */
		le(&b, m->mem_size >> 12, 4);
		le(&b, m->ncpus, 2);
		le(&b, m->tsc_khz, 4);
		le(&b, m->stats_gpa >> 12, 5);
		le(&b, m->stats_size, 3);
		le(&b, m->dirty_ring_entries, 4);
		gen_put(&b, m->bootargs, strlen(m->bootargs));
		snprintf(name, sizeof(name), "%s-built", names[i]);
		gen_emit("guest_dtb", name, &built, 1, b.buf, b.len);
		free(b.buf);
	}
	/*
	 * A tree for libfdt's writer (fuzz_guest_dtb.c, gen_tree()): root cells
	 * 2 and 2, /chosen with bootargs and a TSC, /memory with two ranges,
	 * /cpus with two cpus, one node deeper than the guest reads.
	 */
	{
		static const uint8_t tree[] = {
		    2, 3,    2,						  /* #address-cells = <2> */
		    2, 4,    2,						  /* #size-cells = <2> */
		    0, 0,						  /* chosen { */
		    1, 0,    8,	   'a', '=', '1',  ' ', 'b', '=', '2', 0, /* bootargs */
		    2, 1,    0x20,					  /* vmm,tsc-khz */
		    3, 0,						  /* } */
		    0, 1,						  /* memory@0 { */
		    1, 5,    32,   0,	0,   0,	   0,	0,   0,	  0,   0,
		    0, 0,    0,	   0,	0,   0x40, 0,	0, /* reg */
		    0, 0,    0,	   1,	0,   0,	   0,	0,   0,	  0,   0,
		    0, 0,    0x10, 0,	0,   3,	   0, /* } */
		    0, 2,			      /* cpus { */
		    0, 0x83,			      /* cpu@N { */
		    0, 5,    0,	   5,	0,   5,	   0,	5,   0,	  5,   0,
		    5, 0,    5,	   0,	5,   0,	   5, /* nested deeper than 8 */
		    2, 5,    1,			      /* reg */
		    3, 0,    3,	   0,	3,   0,	   3,	0,   3,	  0,   3,
		    0, 3,    0,	   3,	0,   3,	   0,	3,   0,	  0,   0x83, /* cpu@N { } */
		};
		static const uint8_t mode = 2;

		gen_emit("guest_dtb", "ok-libfdt-tree", &mode, 1, tree, sizeof(tree));
	}
}

/* ---- text: sizes, vmm's command line, the guest's ---- */

static void emit_text(const char *target, const char *name, uint8_t pre, const char *s, size_t len)
{
	gen_emit(target, name, &pre, pre == 0xff ? 0 : 1, s, len);
}

#define NOPRE 0xff

static void gen_text(void)
{
	/* Sizes: the control byte is the default unit (0: bytes, 1: KiB, 2: MiB as --mem). */
	static const struct {
		const char *name;
		uint8_t unit;
		const char *s;
	} sizes[] = {
	    {"ok-mem-512", 2, "512"},	   {"ok-512M", 2, "512M"},   {"ok-2GiB", 2, "2GiB"},
	    {"ok-64kb", 0, "64kb"},	   {"ok-4096B", 0, "4096B"}, {"ok-1t", 1, "1t"},
	    {"too-large", 0, "16777216T"}, {"negative", 2, "-1G"},
	};
	/* vmm's command lines (words separated by NUL), as the README and tests write them. */
	static const struct {
		const char *name;
		const char *s;
		size_t len;
	} clis[] = {
#define W(s) s, sizeof(s) - 1
	    {"ok-readme-stats", W("--cpus\0"
				  "2\0"
				  "--mem\0"
				  "1G\0"
				  "--append\0"
				  "wss=256M pattern=seq\0"
				  "--stats\0"
				  "-\0"
				  "--duration\0"
				  "10")},
	    {"ok-readme-qmp", W("--cpus\0"
				"2\0"
				"--dirty-limit\0"
				"0=25\0"
				"--qmp\0"
				"unix:/tmp/vmm.sock")},
	    {"ok-tcp-v6", W("--qmp=tcp:[::1]:4444\0"
			    "-m\0"
			    "8M\0"
			    "-c\0"
			    "256\0"
			    "--dirty-ring-size=4096\0"
			    "--dirty-limit-period=1")},
	    {"ok-knobs", W("--x-harvester=simple\0"
			   "--x-tick-us=10\0"
			   "--x-harvest-delay-us=5\0"
			   "--stats-interval=10\0"
			   "--stats=/tmp/s\0"
			   "--kernel=/boot/k\0"
			   "--x-flip-word=2.5\0"
			   "--x-no-backstop\0"
			   "-d\0"
			   "0.000000001")},
	    {"ok-name", W("--name\0"
			  "guest 1\0"
			  "--qmp\0"
			  "tcp:localhost:4444")},
	    {"ok-incoming", W("--incoming\0"
			      "tcp:[::1]:4444\0"
			      "-m\0"
			      "8M\0"
			      "--x-incoming-fault=device:stall\0"
			      "--exit-after-migration")},
	    {"ok-incoming-defer", W("--incoming=defer\0"
				    "--qmp=unix:/tmp/d.sock")},
	    {"ok-help", W("-h")},
	    {"unknown-option", W("--mem=1G\0"
				 "--bogus")},
#undef W
	};
	/* The guest's command lines (docs/guest.md). */
	static const struct {
		const char *name;
		const char *s;
	} guest[] = {
	    {"ok-readme", "wss=256M pattern=seq"},
	    {"ok-kernel-name-first", "/boot/stress.elf wss=64MiB pattern=random rate=100 report=0"},
	    {"ok-cpulists", "writers=0,2-3 readers=all report=500"},
	    {"ok-none", "writers=none readers=0-255"},
	    {"warnings", "bogus wss=0 pattern=zigzag rate=4294967296 x=y writers=3-1"},
	};
	/*
	 * QMP sessions (the control byte: a cut seed, bit 7 an asynchronous
	 * stop), as docs/qmp.md and QEMU's clients write them; and the bytes
	 * issue 11 part A item 5 found passed through.
	 */
	static const struct {
		const char *name;
		uint8_t ctl;
		const char *s;
	} qmp[] = {
	    {"ok-negotiate-status", 0x01,
	     "{\"execute\": \"qmp_capabilities\"}\r\n{\"execute\": \"query-status\", \"id\": 1}\r\n"},
	    {"ok-oob-stop-cont", 0x82,
	     "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}\n"
	     "{\"exec-oob\": \"query-status\", \"id\": \"a\"}{\"execute\": \"stop\"}"
	     "{\"execute\": \"cont\", \"id\": [1, {\"x\": null}]}"},
	    {"ok-limits", 0x03,
	     "{\"execute\":\"qmp_capabilities\"}{\"execute\":\"set-vcpu-dirty-limit\","
	     "\"arguments\":{\"cpu-index\":1,\"dirty-rate\":100}}\n"
	     "{\"execute\":\"query-vcpu-dirty-limit\"}\n"
	     "{\"execute\":\"cancel-vcpu-dirty-limit\",\"arguments\":{\"cpu-index\":1}}"},
	    {"ok-queries", 0x04,
	     "{\"execute\":\"qmp_capabilities\"}\n"
	     "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info status\"}}\n"
	     "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine\"}}\n"
	     "{\"execute\":\"calc-dirty-rate\",\"arguments\":{\"calc-time\":1}}\n"
	     "{\"execute\":\"query-dirty-rate\"}\n{\"execute\":\"x-query-guest-stats\"}\n"
	     "{\"execute\":\"query-commands\"}\n{\"execute\":\"quit\"}\n"},
	    {"bad-utf8-nul-quotes", 0x05,
	     "{\"execute\":\"\xc0\x80\"}\n{\"execute\":\"\xed\xa0\x80\"}\n"
	     "{\"execute\":\"query-status\\u0000x\"}\n{'execute': 'qmp_capabilities'}\n"
	     "[1, 2\n{\"a\": 1, \"a\": 2}\n123456789012345678901234567890\n"},
	    {"ok-migrate", 0x08,
	     "{\"execute\": \"qmp_capabilities\"}\n"
	     "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
	     "[{\"capability\": \"dirty-limit\", \"state\": true}, "
	     "{\"capability\": \"events\", \"state\": true}]}}\n"
	     "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"max-bandwidth\": "
	     "134217728, \"downtime-limit\": 300, \"vcpu-dirty-limit\": 1, "
	     "\"x-vcpu-dirty-limit-period\": 1000, \"cpu-throttle-tailslow\": false}}\n"
	     "{\"execute\": \"query-migrate-capabilities\"}\n"
	     "{\"execute\": \"query-migrate-parameters\"}\n"
	     "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:[::1]:4444\"}}\n"
	     "{\"execute\": \"query-migrate\"}\n{\"execute\": \"migrate_cancel\"}\n"
	     "{\"execute\": \"migrate-incoming\", \"arguments\": {\"uri\": \"tcp:0.0.0.0:0\"}}\n"},
	    {"bad-migrate-uris", 0x09,
	     "{\"execute\": \"qmp_capabilities\"}\n"
	     "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:host:0\"}}\n"
	     "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:[::1]4444\"}}\n"
	     "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:/tmp/x\"}}\n"
	     "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp::65536\"}}\n"
	     "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:\\u0001\\u00ff:1\"}}\n"
	     "{\"execute\": \"query-migrate\"}\n"
	     "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
	     "[{\"capability\": \"xbzrle\", \"state\": true}]}}\n"
	     "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"max-bandwidth\": -1}}\n"},
	    /* Envelopes QEMU refuses, each with its own words (docs/qmp.md). */
	    {"bad-envelopes", 0x07,
	     "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}\n"
	     "{\"execute\": \"query-status\", \"arguments\": 1}\n"
	     "{\"execute\": \"query-status\", \"exec-oob\": \"query-status\"}\n"
	     "{\"exec-oob\": \"stop\"}\n{\"execute\": 7}\n{\"id\": 1}\n"
	     "{\"execute\": \"query-status\", \"cmd\": 1}\n[]\n\"execute\"\n"
	     "{\"execute\": \"set-vcpu-dirty-limit\", \"arguments\": {\"dirty-rate\": -1}}\n"
	     "{\"execute\": \"qmp_capabilities\"}\n"},
	};
	unsigned int i;

	for (i = 0; i < sizeof(qmp) / sizeof(qmp[0]); i++)
		emit_text("qmp", qmp[i].name, qmp[i].ctl, qmp[i].s, strlen(qmp[i].s));
	/*
	 * Every command of the table, without arguments (some want them:
	 * errors), a dozen per seed (the target acts on 16 requests at most).
	 */
	for (i = 0; qmp_command_at(i); i += 12) {
		static const char neg[] = "{\"execute\": \"qmp_capabilities\"}\n";
		const struct qmp_command *c;
		struct gen_bytes b = {0};
		char name[32];
		unsigned int k;

		gen_put(&b, neg, sizeof(neg) - 1);
		for (k = i; k < i + 12 && (c = qmp_command_at(k)); k++) {
			char line[128];
			int n = snprintf(line, sizeof(line), "{\"execute\": \"%s\", \"id\": %u}\n",
					 c->name, k);

			gen_put(&b, line, (size_t)n);
		}
		snprintf(name, sizeof(name), "every-command-%u", i / 12 + 1);
		emit_text("qmp", name, 0x06, (const char *)b.buf, b.len);
		free(b.buf);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		emit_text("size", sizes[i].name, sizes[i].unit, sizes[i].s, strlen(sizes[i].s));
	for (i = 0; i < sizeof(clis) / sizeof(clis[0]); i++)
		emit_text("cli", clis[i].name, NOPRE, clis[i].s, clis[i].len);
	for (i = 0; i < sizeof(guest) / sizeof(guest[0]); i++)
		emit_text("guest_cmdline", guest[i].name, NOPRE, guest[i].s, strlen(guest[i].s));
}

int main(int argc, char **argv)
{
	uint8_t *elf;
	size_t elf_len;

	if (argc != 3) {
		fprintf(stderr, "usage: %s CORPUS_DIR STRESS_ELF\n", argv[0]);
		return 2;
	}
	out_root = argv[1];
	elf = read_file(argv[2], &elf_len);
	gen_mig_stream(elf, elf_len);
	gen_mig_reply();
	gen_loader(elf, elf_len);
	gen_guest_dtb();
	gen_text();
	free(elf);
	return 0;
}

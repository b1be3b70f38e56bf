// SPDX-License-Identifier: MIT
/*
 * Hostile input to the mig_stream decoder: every field of every record of
 * a valid stream corrupted (with and without a matching record checksum),
 * set out of range, truncated at every place; records dropped, repeated
 * and moved; then a random mutation loop (meant for the ASan build) that
 * must never crash and never write outside the destination's RAM (which
 * has inaccessible pages on both sides).  Each case expects one error
 * code at one stream offset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "migrate/mig_stream_wire.h"
#include "test_mig_stream_util.h"

#define PAGE	 MIG_PAGE_SIZE
#define MAX_RECS 256

/*
 * The random loop: 4000 damaged streams take half a second, 1.5 s under
 * ASan (the build this loop is for).  ThreadSanitizer has nothing to find
 * in one thread and runs it five times slower: a quarter of the cases there.
 */
#ifdef __SANITIZE_THREAD__
#define RANDOM_ITERATIONS 1000u
#else
#define RANDOM_ITERATIONS 4000u
#endif

/* The reference stream: small, every record type, two live rounds. */
struct ref {
	struct tmig m;
	struct tstream ts;
	struct trec r[MAX_RECS];
	size_t n;
	uint64_t npages;
};

static void ref_build(struct ref *f, unsigned int npages, unsigned int run)
{
	memset(f, 0, sizeof(*f));
	f->m =
	    (struct tmig){.npages = npages, .rounds = 2, .run = run, .sections = true, .seed = 77};
	tmig_build(&f->m, &f->ts);
	f->n = ts_index(f->ts.buf, f->ts.len, f->r, MAX_RECS);
	f->npages = npages;
	assert_true(f->n < MAX_RECS);
	assert_int_equal(f->r[f->n - 1].off + f->r[f->n - 1].size, f->ts.len);
	assert_int_equal(f->r[f->n - 1].type, MIG_REC_END);
}

static void ref_free(struct ref *f)
{
	ts_free(&f->ts);
	tmig_free(&f->m);
}

/* A copy of the reference to break. */
static uint8_t *copy(const struct ref *f)
{
	uint8_t *b = malloc(f->ts.len);

	assert_non_null(b);
	memcpy(b, f->ts.buf, f->ts.len);
	return b;
}

static unsigned int ncases;

static void expect(const uint8_t *buf, size_t len, enum mig_err code, uint64_t off,
		   const char *what)
{
	struct mig_error err = {0};
	enum mig_err got = tdecode(buf, len, &err);

	ncases++;
	if (got != code || (code != MIG_OK && err.offset != off))
		fail_msg("%s: expected %s at %llu, got %s at %llu: %s", what, mig_err_name(code),
			 (unsigned long long)off, mig_err_name(got), (unsigned long long)err.offset,
			 err.msg);
}

static void put(uint8_t *p, unsigned int width, uint64_t v)
{
	if (width == 4)
		mig_put32(p, (uint32_t)v);
	else
		mig_put64(p, v);
}

static uint64_t get(const uint8_t *p, unsigned int width)
{
	return width == 4 ? mig_get32(p) : mig_get64(p);
}

static void test_valid_reference(void **state)
{
	struct ref f;

	(void)state;
	ref_build(&f, 10, 3);
	expect(f.ts.buf, f.ts.len, MIG_OK, 0, "the reference");
	ref_free(&f);
}

/* Every byte of every header, head and fixed part flipped, without a new checksum. */
static void test_every_byte_flipped(void **state)
{
	struct ref f;
	size_t i, b;
	char what[96];

	(void)state;
	ref_build(&f, 10, 3);
	for (b = 0; b < MIG_HDR_SIZE; b++) {
		uint8_t *buf = copy(&f);

		buf[b] ^= 0x01;
		expect(buf, f.ts.len,
		       b < 8	? MIG_E_MAGIC
		       : b < 12 ? MIG_E_VERSION
				: MIG_E_FIELD,
		       b < 8	? 0
		       : b < 12 ? 8
				: 12,
		       "header byte");
		free(buf);
	}
	for (i = 0; i < f.n; i++) {
		const struct trec *r = &f.r[i];

		/* Past the head: the record's check catches any change. */
		for (b = MIG_REC_HEAD; b < r->fixed; b++) {
			uint8_t *buf = copy(&f);

			buf[r->off + b] ^= 0x20;
			snprintf(what, sizeof(what), "%s record %zu byte %zu",
				 mig_rec_name(r->type), i, b);
			expect(buf, f.ts.len, MIG_E_CHECK, r->off + r->fixed - 8, what);
			free(buf);
		}
	}
	ref_free(&f);
}

/* The head: type and length are judged before anything else is read. */
static void test_heads(void **state)
{
	struct ref f;
	size_t i;
	char what[96];

	(void)state;
	ref_build(&f, 10, 3);
	for (i = 0; i < f.n; i++) {
		const struct trec *r = &f.r[i];
		static const uint32_t unknown[] = {0,	      8, 99, MIG_REC_ACK, MIG_REC_ERROR,
						   0xffffffff};
		static const uint32_t lens[] = {0, 7, 0xffffffff};
		unsigned int k;

		snprintf(what, sizeof(what), "%s record %zu head", mig_rec_name(r->type), i);
		for (k = 0; k < sizeof(unknown) / sizeof(unknown[0]); k++) {
			uint8_t *buf = copy(&f);

			mig_put32(buf + r->off, unknown[k]);
			expect(buf, f.ts.len, MIG_E_TYPE, r->off, what);
			free(buf);
		}
		for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			uint8_t *buf = copy(&f);

			mig_put32(buf + r->off + 4, lens[k]);
			expect(buf, f.ts.len, MIG_E_LENGTH, r->off + 4, what);
			free(buf);
		}
		/* A fixed-size record one byte longer. */
		if (r->type != MIG_REC_DATA && r->type != MIG_REC_SECTION) {
			uint8_t *buf = copy(&f);

			mig_put32(buf + r->off + 4, (uint32_t)(r->fixed - MIG_REC_HEAD + 1));
			expect(buf, f.ts.len, MIG_E_LENGTH, r->off + 4, what);
			free(buf);
		}
		/* A known type out of place. */
		if (r->type != MIG_REC_CONFIG) {
			uint8_t *buf = copy(&f);

			mig_put32(buf + r->off, MIG_REC_CONFIG);
			expect(buf, f.ts.len, MIG_E_ORDER, r->off, what);
			free(buf);
		}
		if (r->type != MIG_REC_END && r->type != MIG_REC_SECTION) {
			uint8_t *buf = copy(&f);

			mig_put32(buf + r->off, MIG_REC_END);
			expect(buf, f.ts.len, MIG_E_ORDER, r->off, what);
			free(buf);
		}
	}
	ref_free(&f);
}

/* One field set to one value, the record resealed: expect code at offset (relative to the record). */
struct fcase {
	uint32_t type;
	unsigned int off, width;
	enum {
		SET,
		ADD
	} op;
	uint64_t v;
	enum mig_err code;
	unsigned int at; /* error offset in the record, or END_AT(x): at x in the END record */
	const char *what;
};

#define END_AT(x) (2000u + (x))
#define NPAGES	  0xfffffffffffff001ull /* SET: the RAM's page count (patched at run time) */

static const struct fcase fcases[] = {
    {MIG_REC_CONFIG, MIG_CFG_OFF_PAGE_SIZE, 4, SET, 8192, MIG_E_FIELD, MIG_CFG_OFF_PAGE_SIZE,
     "page size"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_NCPUS, 4, SET, 0, MIG_E_FIELD, MIG_CFG_OFF_NCPUS, "no vCPU"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_NCPUS, 4, SET, MIG_MAX_CPUS + 1, MIG_E_FIELD, MIG_CFG_OFF_NCPUS,
     "vCPUs"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_RAM_SIZE, 8, SET, 0, MIG_E_FIELD, MIG_CFG_OFF_RAM_SIZE, "no RAM"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_RAM_SIZE, 8, SET, 4097, MIG_E_FIELD, MIG_CFG_OFF_RAM_SIZE,
     "part page"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_RAM_SIZE, 8, SET, 1ull << 62, MIG_E_FIELD, MIG_CFG_OFF_RAM_SIZE,
     "RAM 2^62"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_RAM_SIZE, 8, ADD, PAGE, MIG_E_DIGEST, END_AT(MIG_END_OFF_DIGEST),
     "one more page"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_RING, 4, SET, 3000, MIG_E_FIELD, MIG_CFG_OFF_RING, "ring"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_TSC_KHZ, 4, SET, MIG_MAX_TSC_KHZ + 1, MIG_E_FIELD,
     MIG_CFG_OFF_TSC_KHZ, "TSC"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_STATS_GPA, 8, ADD, 1, MIG_E_FIELD, MIG_CFG_OFF_STATS_GPA,
     "stats unaligned"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_STATS_GPA, 8, SET, 0, MIG_E_FIELD, MIG_CFG_OFF_STATS_GPA,
     "stats in RAM"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_STATS_SIZE, 8, SET, MIG_MAX_STATS_SIZE + 1, MIG_E_FIELD,
     MIG_CFG_OFF_STATS_SIZE, "stats size"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_DIGEST_CHUNK, 4, SET, 1000, MIG_E_FIELD, MIG_CFG_OFF_DIGEST_CHUNK,
     "chunk"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_DIGEST_CHUNK, 4, SET, 16384, MIG_E_DIGEST,
     END_AT(MIG_END_OFF_DIGEST), "other chunk"},
    {MIG_REC_CONFIG, MIG_CFG_OFF_FLAGS, 4, SET, 1, MIG_E_FIELD, MIG_CFG_OFF_FLAGS, "config flags"},

    {MIG_REC_ROUND_BEGIN, MIG_RB_OFF_ROUND, 4, ADD, 1, MIG_E_ROUND, MIG_RB_OFF_ROUND,
     "round number"},
    {MIG_REC_ROUND_BEGIN, MIG_RB_OFF_ROUND, 4, SET, 0xffffffff, MIG_E_ROUND, MIG_RB_OFF_ROUND,
     "round max"},
    {MIG_REC_ROUND_BEGIN, MIG_RB_OFF_FLAGS, 4, SET, 2, MIG_E_FIELD, MIG_RB_OFF_FLAGS,
     "round flags"},

    {MIG_REC_DATA, MIG_PG_OFF_NPAGES, 4, SET, 0, MIG_E_RANGE, MIG_PG_OFF_NPAGES, "DATA 0 pages"},
    {MIG_REC_DATA, MIG_PG_OFF_NPAGES, 4, SET, MIG_RUN_MAX_PAGES + 1, MIG_E_RANGE, MIG_PG_OFF_NPAGES,
     "DATA long"},
    {MIG_REC_DATA, MIG_PG_OFF_NPAGES, 4, ADD, 1, MIG_E_LENGTH, MIG_REC_OFF_LEN,
     "DATA count vs length"},
    {MIG_REC_DATA, MIG_REC_OFF_LEN, 4, ADD, PAGE, MIG_E_LENGTH, MIG_REC_OFF_LEN,
     "DATA length not whole pages"},
    {MIG_REC_DATA, MIG_REC_OFF_LEN, 4, ADD, MIG_DATA_PER_PAGE, MIG_E_LENGTH, MIG_REC_OFF_LEN,
     "DATA length vs count"},
    {MIG_REC_DATA, MIG_DATA_OFF_SUMS, 8, ADD, 1, MIG_E_CHECK, MIG_DATA_SIZE, "DATA sums damaged"},
    {MIG_REC_DATA, MIG_PG_OFF_RESERVED, 4, SET, 1, MIG_E_FIELD, MIG_PG_OFF_RESERVED,
     "DATA reserved"},
    {MIG_REC_DATA, MIG_PG_OFF_FIRST, 8, SET, NPAGES, MIG_E_RANGE, MIG_PG_OFF_FIRST,
     "DATA past RAM"},
    {MIG_REC_DATA, MIG_PG_OFF_FIRST, 8, SET, ~0ull, MIG_E_RANGE, MIG_PG_OFF_FIRST,
     "DATA first 2^64-1"},
    {MIG_REC_DATA, MIG_PG_OFF_FIRST, 8, SET, 1ull << 52, MIG_E_RANGE, MIG_PG_OFF_FIRST,
     "DATA first 2^52"},

    {MIG_REC_ZERO, MIG_PG_OFF_NPAGES, 4, SET, 0, MIG_E_RANGE, MIG_PG_OFF_NPAGES, "ZERO 0 pages"},
    {MIG_REC_ZERO, MIG_PG_OFF_NPAGES, 4, SET, 0xffffffff, MIG_E_RANGE, MIG_PG_OFF_FIRST,
     "ZERO 2^32-1"},
    {MIG_REC_ZERO, MIG_PG_OFF_RESERVED, 4, SET, 0x80000000, MIG_E_FIELD, MIG_PG_OFF_RESERVED,
     "ZERO reserved"},
    {MIG_REC_ZERO, MIG_PG_OFF_FIRST, 8, SET, NPAGES, MIG_E_RANGE, MIG_PG_OFF_FIRST,
     "ZERO past RAM"},
    {MIG_REC_ZERO, MIG_PG_OFF_FIRST, 8, SET, ~0ull, MIG_E_RANGE, MIG_PG_OFF_FIRST,
     "ZERO first 2^64-1"},

    {MIG_REC_ROUND_END, MIG_RE_OFF_ROUND, 4, ADD, 1, MIG_E_ROUND, MIG_RE_OFF_ROUND,
     "round end number"},
    {MIG_REC_ROUND_END, MIG_RE_OFF_RESERVED, 4, SET, 1, MIG_E_FIELD, MIG_RE_OFF_RESERVED,
     "round end reserved"},
    {MIG_REC_ROUND_END, MIG_RE_OFF_DATA, 8, ADD, 1, MIG_E_ROUND, MIG_RE_OFF_DATA, "data count"},
    {MIG_REC_ROUND_END, MIG_RE_OFF_ZERO, 8, ADD, 1, MIG_E_ROUND, MIG_RE_OFF_ZERO, "zero count"},
    {MIG_REC_ROUND_END, MIG_RE_OFF_DATA, 8, SET, ~0ull, MIG_E_ROUND, MIG_RE_OFF_DATA,
     "data count max"},

    {MIG_REC_SECTION, MIG_SEC_OFF_ID, 4, SET, 99, MIG_E_SECTION, MIG_SEC_OFF_ID, "unknown section"},
    {MIG_REC_SECTION, MIG_SEC_OFF_INSTANCE, 4, SET, MIG_MAX_INSTANCES, MIG_E_SECTION,
     MIG_SEC_OFF_INSTANCE, "instance"},
    {MIG_REC_SECTION, MIG_SEC_OFF_INSTANCE, 4, SET, 0xffffffff, MIG_E_SECTION, MIG_SEC_OFF_INSTANCE,
     "instance max"},
    {MIG_REC_SECTION, MIG_SEC_OFF_LENGTH, 4, SET, 513, MIG_E_SECTION, MIG_SEC_OFF_LENGTH,
     "section too long"},
    {MIG_REC_SECTION, MIG_SEC_OFF_LENGTH, 4, SET, 0xffffffff, MIG_E_SECTION, MIG_SEC_OFF_LENGTH,
     "section 4 GiB"},
    {MIG_REC_SECTION, MIG_SEC_OFF_LENGTH, 4, ADD, 1, MIG_E_LENGTH, MIG_REC_OFF_LEN,
     "section length vs record"},
    {MIG_REC_SECTION, MIG_SEC_OFF_CHECK, 8, ADD, 1, MIG_E_DATA_CHECK, MIG_SEC_SIZE,
     "section data check"},
    {MIG_REC_SECTION, MIG_SEC_OFF_VERSION, 4, ADD, 1, MIG_OK, 0, "version: the owner's to judge"},

    {MIG_REC_END, MIG_END_OFF_ROUNDS, 4, ADD, 1, MIG_E_ROUND, MIG_END_OFF_ROUNDS, "end rounds"},
    {MIG_REC_END, MIG_END_OFF_SECTIONS, 4, ADD, 1, MIG_E_SECTION, MIG_END_OFF_SECTIONS,
     "end sections"},
    {MIG_REC_END, MIG_END_OFF_DIGEST, 8, ADD, 1, MIG_E_DIGEST, MIG_END_OFF_DIGEST, "digest"},
    {MIG_REC_END, MIG_END_OFF_DIGEST + 8, 8, ADD, 1ull << 63, MIG_E_DIGEST, MIG_END_OFF_DIGEST,
     "digest high"},
};

/* Every case on every record of its type; resealed, so the field checks speak. */
static void test_fields_out_of_range(void **state)
{
	struct ref f;
	size_t i, c;
	char what[128];

	(void)state;
	ref_build(&f, 10, 3);
	for (c = 0; c < sizeof(fcases) / sizeof(fcases[0]); c++) {
		const struct fcase *fc = &fcases[c];
		unsigned int hits = 0;

		for (i = 0; i < f.n; i++) {
			const struct trec *r = &f.r[i];
			uint8_t *buf;
			uint64_t v, at;

			if (r->type != fc->type)
				continue;
			buf = copy(&f);
			v = fc->v == NPAGES ? f.npages : fc->v;
			if (fc->op == ADD)
				v += get(buf + r->off + fc->off, fc->width);
			put(buf + r->off + fc->off, fc->width, v);
			ts_reseal(buf, r);
			at = fc->at >= END_AT(0) ? f.r[f.n - 1].off + fc->at - END_AT(0)
						 : r->off + fc->at;
			snprintf(what, sizeof(what), "%s (%s record %zu)", fc->what,
				 mig_rec_name(r->type), i);
			expect(buf, f.ts.len, fc->code, at, what);
			free(buf);
			hits++;
		}
		if (!hits)
			fail_msg("case '%s': no such record in the reference", fc->what);
	}
	ref_free(&f);
}

/* Cases that need one particular record. */
static void test_fields_in_context(void **state)
{
	struct ref f;
	size_t i, first_rb = 0, last_rb = 0, vcpu1 = 0;
	uint8_t *buf;

	(void)state;
	ref_build(&f, 10, 3);
	for (i = 0; i < f.n; i++) {
		if (f.r[i].type == MIG_REC_ROUND_BEGIN) {
			if (!first_rb)
				first_rb = i;
			last_rb = i;
		}
		if (f.r[i].type == MIG_REC_SECTION &&
		    mig_get32(f.ts.buf + f.r[i].off + MIG_SEC_OFF_ID) == T_SEC_VCPU &&
		    mig_get32(f.ts.buf + f.r[i].off + MIG_SEC_OFF_INSTANCE) == 1)
			vcpu1 = i;
	}
	assert_true(first_rb && last_rb > first_rb && vcpu1);

	/* The first round says it is final: the second ROUND_BEGIN is out of place. */
	buf = copy(&f);
	mig_put32(buf + f.r[first_rb].off + MIG_RB_OFF_FLAGS, MIG_RB_FINAL);
	ts_reseal(buf, &f.r[first_rb]);
	for (i = first_rb + 1; f.r[i].type != MIG_REC_ROUND_BEGIN; i++)
		;
	expect(buf, f.ts.len, MIG_E_ORDER, f.r[i].off, "early final round");
	free(buf);

	/* The final round says it is not: the sections are out of place. */
	buf = copy(&f);
	mig_put32(buf + f.r[last_rb].off + MIG_RB_OFF_FLAGS, 0);
	ts_reseal(buf, &f.r[last_rb]);
	for (i = last_rb; f.r[i].type != MIG_REC_SECTION; i++)
		;
	expect(buf, f.ts.len, MIG_E_ORDER, f.r[i].off, "no final round");
	free(buf);

	/* vCPU 1's section claims to be vCPU 0's: a duplicate. */
	buf = copy(&f);
	mig_put32(buf + f.r[vcpu1].off + MIG_SEC_OFF_INSTANCE, 0);
	ts_reseal(buf, &f.r[vcpu1]);
	expect(buf, f.ts.len, MIG_E_SECTION, f.r[vcpu1].off + MIG_SEC_OFF_INSTANCE, "duplicate");
	free(buf);

	/* One vCPU in the configuration: vCPU 1's section has no place. */
	buf = copy(&f);
	mig_put32(buf + f.r[0].off + MIG_CFG_OFF_NCPUS, 1);
	ts_reseal(buf, &f.r[0]);
	expect(buf, f.ts.len, MIG_E_SECTION, f.r[vcpu1].off + MIG_SEC_OFF_INSTANCE, "1 vCPU");
	free(buf);

	/* A page's sum in the final round, with the sums' own check made to agree. */
	{
		size_t d = 0;

		for (i = last_rb; i < f.n; i++)
			if (f.r[i].type == MIG_REC_DATA)
				d = i;
		assert_true(d > 0);
		buf = copy(&f);
		{
			uint8_t *rec = buf + f.r[d].off;
			uint32_t n = mig_get32(rec + MIG_PG_OFF_NPAGES);

			mig_put64(rec + MIG_DATA_SIZE + 8 * (n - 1),
				  mig_get64(rec + MIG_DATA_SIZE + 8 * (n - 1)) + 1);
			mig_put64(rec + MIG_DATA_OFF_SUMS, XXH3_64bits(rec + MIG_DATA_SIZE, 8 * n));
			ts_reseal(buf, &f.r[d]);
			expect(buf, f.ts.len, MIG_E_DATA_CHECK,
			       f.r[d].off + MIG_DATA_SIZE + 8 * n + (uint64_t)(n - 1) * PAGE,
			       "last page's sum");
		}
		free(buf);
	}

	/* A byte of a section's payload. */
	buf = copy(&f);
	buf[f.r[vcpu1].off + MIG_SEC_SIZE + 50] ^= 4;
	expect(buf, f.ts.len, MIG_E_DATA_CHECK, f.r[vcpu1].off + MIG_SEC_SIZE, "section payload");
	free(buf);

	/* The owner refuses its section: its words, at its offset. */
	{
		struct tdst t = {.refuse_section = T_SEC_CONSOLE};
		const struct mig_error *err;

		tdst_new(&t);
		assert_int_equal(mig_dec_buffer(t.dec, f.ts.buf, f.ts.len), -1);
		err = mig_dec_error(t.dec);
		assert_int_equal(err->code, MIG_E_LOAD);
		assert_non_null(strstr(err->msg, "console: field 'x' out of range"));
		for (i = 0; f.r[i].type != MIG_REC_SECTION ||
			    mig_get32(f.ts.buf + f.r[i].off + MIG_SEC_OFF_ID) != T_SEC_CONSOLE;
		     i++)
			;
		assert_int_equal(err->offset, f.r[i].off);
		tdst_free(&t);
	}
	ref_free(&f);
}

/* Build a stream from the reference's header and the records listed (-1 ends). */
static struct tstream splice(const struct ref *f, const int *order)
{
	struct tstream ts = {0};

	ts_append(&ts, f->ts.buf, MIG_HDR_SIZE);
	for (; *order >= 0; order++)
		ts_append(&ts, f->ts.buf + f->r[*order].off, f->r[*order].size);
	return ts;
}

static size_t find(const struct ref *f, uint32_t type, size_t from)
{
	size_t i;

	for (i = from; i < f->n; i++)
		if (f->r[i].type == type)
			return i;
	fail_msg("no %s record from %zu", mig_rec_name(type), from);
	return 0;
}

/* Records dropped, repeated, moved: the grammar, and the digest catching what it must. */
static void test_records_rearranged(void **state)
{
	struct ref f;
	int order[MAX_RECS + 4];
	size_t i, k, end, fin_rb, fin_data, console;
	struct tstream ts;

	(void)state;
	ref_build(&f, 10, 3);
	end = f.n - 1;
	fin_rb = 0;
	for (i = 0; i < f.n; i++)
		if (f.r[i].type == MIG_REC_ROUND_BEGIN)
			fin_rb = i;
	fin_data = find(&f, MIG_REC_DATA, fin_rb);
	console = find(&f, MIG_REC_SECTION, fin_rb);
	while (mig_get32(f.ts.buf + f.r[console].off + MIG_SEC_OFF_ID) != T_SEC_CONSOLE)
		console = find(&f, MIG_REC_SECTION, console + 1);

#define ORDER_ALL_BUT(skip, dup)                                                                   \
	do {                                                                                       \
		k = 0;                                                                             \
		for (i = 0; i < f.n; i++) {                                                        \
			if (i != (skip))                                                           \
				order[k++] = (int)i;                                               \
			if (i == (dup))                                                            \
				order[k++] = (int)i;                                               \
		}                                                                                  \
		order[k] = -1;                                                                     \
	} while (0)

	/* No CONFIG: a ROUND_BEGIN where CONFIG must be. */
	ORDER_ALL_BUT(0, (size_t)-1);
	ts = splice(&f, order);
	expect(ts.buf, ts.len, MIG_E_ORDER, MIG_HDR_SIZE, "no config");
	ts_free(&ts);

	/* CONFIG twice. */
	ORDER_ALL_BUT((size_t)-1, 0);
	ts = splice(&f, order);
	expect(ts.buf, ts.len, MIG_E_ORDER, MIG_HDR_SIZE + MIG_CFG_SIZE, "config twice");
	ts_free(&ts);

	/* A ROUND_END twice. */
	{
		size_t re = find(&f, MIG_REC_ROUND_END, 0);

		ORDER_ALL_BUT((size_t)-1, re);
		ts = splice(&f, order);
		expect(ts.buf, ts.len, MIG_E_ORDER, f.r[re].off + f.r[re].size, "round end twice");
		ts_free(&ts);
	}

	/* A DATA record between rounds (moved after the first ROUND_END). */
	{
		size_t re = find(&f, MIG_REC_ROUND_END, 0), d = find(&f, MIG_REC_DATA, 0);

		k = 0;
		for (i = 0; i <= re; i++)
			order[k++] = (int)i;
		order[k++] = (int)d;
		order[k] = -1;
		ts = splice(&f, order);
		expect(ts.buf, ts.len, MIG_E_ORDER, ts.len - f.r[d].size, "DATA between rounds");
		ts_free(&ts);
	}

	/* A SECTION inside a live round. */
	k = 0;
	order[k++] = 0;
	order[k++] = 1; /* ROUND_BEGIN 0 */
	order[k++] = (int)console;
	order[k] = -1;
	ts = splice(&f, order);
	expect(ts.buf, ts.len, MIG_E_ORDER, MIG_HDR_SIZE + MIG_CFG_SIZE + MIG_RB_SIZE,
	       "section in a live round");
	ts_free(&ts);

	/* END right after a live round. */
	{
		size_t re = find(&f, MIG_REC_ROUND_END, 0);

		k = 0;
		for (i = 0; i <= re; i++)
			order[k++] = (int)i;
		order[k++] = (int)end;
		order[k] = -1;
		ts = splice(&f, order);
		expect(ts.buf, ts.len, MIG_E_ORDER, ts.len - f.r[end].size, "END too early");
		ts_free(&ts);
	}

	/* The end record missing: truncated, at the end. */
	ORDER_ALL_BUT(end, (size_t)-1);
	ts = splice(&f, order);
	expect(ts.buf, ts.len, MIG_E_TRUNCATED, ts.len, "no END");
	ts_free(&ts);

	/* Anything after END. */
	ORDER_ALL_BUT((size_t)-1, end);
	ts = splice(&f, order);
	expect(ts.buf, ts.len, MIG_E_TRAILING, f.ts.len, "END twice");
	ts_free(&ts);

	/* A DATA record of the final round lost: the ROUND_END counts say so. */
	ORDER_ALL_BUT(fin_data, (size_t)-1);
	ts = splice(&f, order);
	{
		size_t re = find(&f, MIG_REC_ROUND_END, fin_rb);

		expect(ts.buf, ts.len, MIG_E_ROUND,
		       f.r[re].off - f.r[fin_data].size + MIG_RE_OFF_DATA, "final DATA lost");
	}
	ts_free(&ts);

	/*
	 * The same record lost and the counts made to agree, as a dirty
	 * tracker that missed those pages would: only the digest notices.
	 */
	ORDER_ALL_BUT(fin_data, (size_t)-1);
	ts = splice(&f, order);
	{
		size_t re = find(&f, MIG_REC_ROUND_END, fin_rb);
		uint8_t *p = ts.buf + f.r[re].off - f.r[fin_data].size;
		struct trec rr = f.r[re];
		uint32_t lost = mig_get32(f.ts.buf + f.r[fin_data].off + MIG_PG_OFF_NPAGES);

		mig_put64(p + MIG_RE_OFF_DATA, mig_get64(p + MIG_RE_OFF_DATA) - lost);
		rr.off -= f.r[fin_data].size;
		ts_reseal(ts.buf, &rr);
		expect(ts.buf, ts.len, MIG_E_DIGEST, ts.len - MIG_END_SIZE + MIG_END_OFF_DIGEST,
		       "missed pages");
	}
	ts_free(&ts);

	/* A required section missing (END's count fixed): named at END. */
	ORDER_ALL_BUT(console, (size_t)-1);
	ts = splice(&f, order);
	{
		uint8_t *p = ts.buf + ts.len - MIG_END_SIZE;
		struct trec rr = f.r[end];

		mig_put32(p + MIG_END_OFF_SECTIONS, mig_get32(p + MIG_END_OFF_SECTIONS) - 1);
		rr.off = ts.len - MIG_END_SIZE;
		ts_reseal(ts.buf, &rr);
		expect(ts.buf, ts.len, MIG_E_SECTION, ts.len - MIG_END_SIZE, "console missing");
	}
	ts_free(&ts);
#undef ORDER_ALL_BUT
	ref_free(&f);
}

/* Cut anywhere: in the header, in any head or fixed part, in any payload. */
static void test_truncated_everywhere(void **state)
{
	struct ref f;
	size_t k, i;

	(void)state;
	ref_build(&f, 6, 2);
	for (k = 0; k <= MIG_HDR_SIZE; k++)
		expect(f.ts.buf, k, MIG_E_TRUNCATED, k, "cut in the header");
	for (i = 0; i < f.n; i++) {
		const struct trec *r = &f.r[i];

		for (k = r->off + 1; k <= r->off + r->fixed && k < f.ts.len; k++)
			expect(f.ts.buf, k, MIG_E_TRUNCATED, k, "cut in a record");
		if (r->size > r->fixed) {
			expect(f.ts.buf, r->off + r->fixed + 1, MIG_E_TRUNCATED,
			       r->off + r->fixed + 1, "cut in a payload");
			expect(f.ts.buf, r->off + r->size - 1, MIG_E_TRUNCATED,
			       r->off + r->size - 1, "cut before a payload's end");
		}
	}
	ref_free(&f);
}

/*
 * Random damage: flips, resealed field changes, cuts, inserted and deleted
 * bytes, records swapped.  Nothing may crash or write outside RAM (ASan and
 * the guard pages would say); every failure is one error with an offset
 * inside what was fed (tdecode() checks).
 */
static void test_random_damage(void **state)
{
	static const uint64_t interesting[] = {0,	   1,	       2,	   255,
					       4096,	   0x7fffffff, 0x80000000, 0xffffffff,
					       1ull << 32, 1ull << 52, 1ull << 63, ~0ull};
	struct ref f;
	uint32_t rs = 20240601;
	unsigned int it, counts[MIG_E_COUNT] = {0};
	const unsigned int iterations = RANDOM_ITERATIONS;

	(void)state;
	ref_build(&f, 24, 5);
	for (it = 0; it < iterations; it++) {
		uint8_t *buf = malloc(f.ts.len + 64);
		size_t len = f.ts.len, i;
		const struct trec *r = &f.r[t_rand(&rs) % f.n];
		struct mig_error err;
		unsigned int kind = t_rand(&rs) % 6, k;

		assert_non_null(buf);
		memcpy(buf, f.ts.buf, len);
		switch (kind) {
		case 0: /* a few random bit flips anywhere */
			for (k = 1 + t_rand(&rs) % 4; k; k--)
				buf[t_rand(&rs) % len] ^= (uint8_t)(1u << (t_rand(&rs) % 8));
			break;
		case 1: /* a field of a fixed part set to a value that matters, resealed */
		{
			unsigned int width = t_rand(&rs) % 2 ? 8 : 4;
			size_t span = r->fixed - 8 - MIG_REC_HEAD; /* not the check */
			size_t off = MIG_REC_HEAD + (t_rand(&rs) % (span / 4)) * 4;

			if (off + width > r->fixed - 8)
				width = 4;
			put(buf + r->off + off, width,
			    interesting[t_rand(&rs) %
					(sizeof(interesting) / sizeof(interesting[0]))]);
			ts_reseal(buf, r);
			break;
		}
		case 2: /* a byte of a fixed part changed, resealed */
			buf[r->off + MIG_REC_HEAD + t_rand(&rs) % (r->fixed - 8 - MIG_REC_HEAD)] ^=
			    (uint8_t)(1 + t_rand(&rs) % 255);
			ts_reseal(buf, r);
			break;
		case 3: /* cut */
			len = t_rand(&rs) % len;
			break;
		case 4: /* bytes inserted or deleted at a random place */
		{
			size_t at = t_rand(&rs) % len, n = 1 + t_rand(&rs) % 40;

			if (t_rand(&rs) % 2) {
				memmove(buf + at + n, buf + at, len - at);
				for (i = 0; i < n; i++)
					buf[at + i] = (uint8_t)t_rand(&rs);
				len += n;
			} else {
				n = n < len - at ? n : len - at;
				memmove(buf + at, buf + at + n, len - at - n);
				len -= n;
			}
			break;
		}
		default: /* two records' heads and fixed parts swapped where they fit */
		{
			const struct trec *q = &f.r[t_rand(&rs) % f.n];

			if (q->fixed == r->fixed) {
				uint8_t tmp[MIG_FIXED_MAX];

				memcpy(tmp, buf + r->off, r->fixed);
				memcpy(buf + r->off, buf + q->off, r->fixed);
				memcpy(buf + q->off, tmp, r->fixed);
			} else {
				buf[r->off + r->fixed - 1] ^= 0x80;
			}
		}
		}
		counts[tdecode(buf, len, &err)]++;
		free(buf);
	}
	/* The loop reached deep checks, not only the record checksum. */
	for (it = 0; it < MIG_E_COUNT; it++)
		if (counts[it])
			print_message("  %-20s %u\n", mig_err_name((enum mig_err)it), counts[it]);
	assert_true(counts[MIG_E_CHECK] > 0);
	assert_true(counts[MIG_E_RANGE] > 0);
	assert_true(counts[MIG_E_TRUNCATED] > 0);
	assert_true(counts[MIG_E_FIELD] > 0);
	ref_free(&f);
}

static int report(void **state)
{
	(void)state;
	print_message("  %u single-defect cases, each with its error and offset\n", ncases);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_reference),
	    cmocka_unit_test(test_every_byte_flipped),
	    cmocka_unit_test(test_heads),
	    cmocka_unit_test(test_fields_out_of_range),
	    cmocka_unit_test(test_fields_in_context),
	    cmocka_unit_test(test_records_rearranged),
	    cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_random_damage),
	};

	return cmocka_run_group_tests(tests, NULL, report);
}

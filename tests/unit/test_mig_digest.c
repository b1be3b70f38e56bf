// SPDX-License-Identifier: MIT
/* Unit tests of src/migrate/mig_digest.[ch]: the memory digest and its table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "migrate/mig_digest.h"

#define PAGE 4096u
#define KiB  1024u

static uint8_t *pattern(size_t size, uint32_t seed)
{
	uint8_t *m = malloc(size);
	size_t i;

	assert_non_null(m);
	for (i = 0; i < size; i++) {
		seed = seed * 1103515245u + 12345u;
		m[i] = (uint8_t)(seed >> 16);
	}
	return m;
}

static void one_pass(const uint8_t *m, uint64_t size, uint32_t chunk, uint8_t out[16])
{
	assert_int_equal(mig_digest_mem(m, size, chunk, out), 0);
}

/* Refreshed in any pieces, in any order, the table gives the one-pass digest. */
static void test_pieces_equal_one_pass(void **state)
{
	const uint64_t size = 37 * PAGE; /* 16 KiB chunks: the last is short */
	uint8_t *m = pattern(size, 1), want[16], got[16];
	struct mig_digest dg;
	uint64_t i, bytes;

	(void)state;
	one_pass(m, size, 16 * KiB, want);
	assert_int_equal(mig_digest_init(&dg, size, 16 * KiB), 0);
	assert_int_equal(dg.nchunks, 10);
	assert_int_equal(mig_digest_nstale(&dg), 10);
	assert_int_equal(mig_digest_final(&dg, got), -EAGAIN);
	/* Backwards, one chunk at a time, as two threads would split it. */
	bytes = mig_digest_refresh(&dg, m, 5, 10);
	assert_int_equal(bytes, 4 * 16 * KiB + PAGE);
	for (i = 5; i-- > 0;)
		mig_digest_refresh(&dg, m, i, i + 1);
	assert_int_equal(mig_digest_nstale(&dg), 0);
	assert_int_equal(mig_digest_final(&dg, got), 0);
	assert_memory_equal(got, want, 16);
	/* Nothing stale: a refresh reads nothing. */
	assert_int_equal(mig_digest_refresh(&dg, m, 0, 10), 0);
	mig_digest_free(&dg);
	free(m);
}

/* Every byte counts; a change is seen once its chunk is marked stale. */
static void test_detects_changes(void **state)
{
	const uint64_t size = 20 * PAGE;
	uint8_t *m = pattern(size, 2), before[16], after[16], got[16];
	struct mig_digest dg;
	uint64_t off;

	(void)state;
	one_pass(m, size, 8 * KiB, before);
	assert_int_equal(mig_digest_init(&dg, size, 8 * KiB), 0);
	mig_digest_refresh(&dg, m, 0, dg.nchunks);
	for (off = 0; off < size; off += 4093) {
		m[off] ^= 1;
		one_pass(m, size, 8 * KiB, after);
		assert_memory_not_equal(before, after, 16);
		/* Not marked: the table still describes the old memory (the caller's duty). */
		assert_int_equal(mig_digest_final(&dg, got), 0);
		assert_memory_equal(got, before, 16);
		mig_digest_set_stale(&dg, off, 1);
		assert_int_equal(mig_digest_nstale(&dg), 1);
		assert_int_equal(mig_digest_refresh(&dg, m, 0, dg.nchunks), 8 * KiB);
		assert_int_equal(mig_digest_final(&dg, got), 0);
		assert_memory_equal(got, after, 16);
		m[off] ^= 1;
		mig_digest_set_stale(&dg, off, 1);
		mig_digest_refresh(&dg, m, 0, dg.nchunks);
	}
	/* A range across chunks marks each, clamped at the end. */
	mig_digest_set_stale(&dg, 8 * KiB - 1, 2);
	assert_int_equal(mig_digest_nstale(&dg), 2);
	mig_digest_set_stale(&dg, size - 1, 1000000);
	assert_int_equal(mig_digest_nstale(&dg), 3);
	mig_digest_set_stale(&dg, size, 1); /* outside: nothing */
	mig_digest_set_stale(&dg, 0, 0);
	assert_int_equal(mig_digest_nstale(&dg), 3);
	mig_digest_free(&dg);
	free(m);
}

/* Declared zeros hash as zeros without being read; partial chunks are left alone. */
static void test_declared_zero(void **state)
{
	const uint64_t size = 21 * PAGE; /* 16 KiB chunks: 6, the last one page */
	uint8_t *zeros = calloc(1, size), want[16], got[16];
	struct mig_digest dg;

	(void)state;
	assert_non_null(zeros);
	one_pass(zeros, size, 16 * KiB, want);
	assert_int_equal(mig_digest_init(&dg, size, 16 * KiB), 0);
	mig_digest_set_zero(&dg, 0, size);
	assert_int_equal(mig_digest_nstale(&dg), 0);
	assert_int_equal(mig_digest_final(&dg, got), 0);
	assert_memory_equal(got, want, 16);
	/* Never read: NULL memory, nothing stale. */
	assert_int_equal(mig_digest_refresh(&dg, NULL, 0, dg.nchunks), 0);

	/* Only whole chunks: [4 KiB, 36 KiB) covers chunk 1 only. */
	memset(dg.stale, 1, dg.nchunks);
	mig_digest_set_zero(&dg, PAGE, 8 * PAGE);
	assert_int_equal(mig_digest_nstale(&dg), 5);
	assert_int_equal(dg.stale[1], 0);
	/* The region's end closes the short last chunk. */
	mig_digest_set_zero(&dg, 20 * PAGE, PAGE);
	assert_int_equal(dg.stale[5], 0);
	mig_digest_refresh(&dg, zeros, 0, dg.nchunks);
	assert_int_equal(mig_digest_final(&dg, got), 0);
	assert_memory_equal(got, want, 16);
	mig_digest_free(&dg);
	free(zeros);
}

/* pagemap entries: chunks with no present or swapped page are zeros, unread. */
static void test_skip_unpopulated(void **state)
{
	const uint64_t P = 1ull << 63, S = 1ull << 62;
	const uint64_t size = 9 * PAGE; /* 8 KiB chunks: 5, the last one page */
	uint8_t *m = calloc(1, size), want[16], got[16];
	uint64_t e[9] = {0, 0, P, 0, 0, S, 0, 0, 0};
	struct mig_digest dg;

	(void)state;
	assert_non_null(m);
	m[2 * PAGE + 5] = 1; /* the present page holds data */
	m[5 * PAGE] = 2;     /* so does the swapped one */
	one_pass(m, size, 2 * PAGE, want);
	assert_int_equal(mig_digest_init(&dg, size, 2 * PAGE), 0);
	/* Chunks 0, 3 and the short chunk 4 are skipped; 1 (present) and 2 (swapped) are not. */
	assert_int_equal(mig_digest_skip_unpopulated(&dg, 0, PAGE, e, 9), 3);
	assert_int_equal(dg.stale[0], 0);
	assert_int_equal(dg.stale[1], 1);
	assert_int_equal(dg.stale[2], 1);
	assert_int_equal(dg.stale[3], 0);
	assert_int_equal(dg.stale[4], 0);
	assert_int_equal(mig_digest_refresh(&dg, m, 0, dg.nchunks), 4 * PAGE);
	assert_int_equal(mig_digest_final(&dg, got), 0);
	assert_memory_equal(got, want, 16);
	mig_digest_free(&dg);

	/*
	 * Entries for pages 1..6 only (e[0] is page 1's): chunk 0 and chunk 3
	 * are cut by the range and left alone, chunk 1 (pages 2, 3) has a
	 * present page, chunk 2 (pages 4, 5) is skipped.
	 */
	assert_int_equal(mig_digest_init(&dg, size, 2 * PAGE), 0);
	assert_int_equal(mig_digest_skip_unpopulated(&dg, 1, PAGE, e, 6), 1);
	assert_int_equal(mig_digest_nstale(&dg), 4);
	assert_int_equal(dg.stale[1], 1);
	assert_int_equal(dg.stale[2], 0);
	mig_digest_free(&dg);
	/* Nonsense arguments do nothing. */
	assert_int_equal(mig_digest_init(&dg, size, 2 * PAGE), 0);
	assert_int_equal(mig_digest_skip_unpopulated(&dg, 0, 3 * PAGE, e, 9), 0);
	assert_int_equal(mig_digest_skip_unpopulated(&dg, 0, PAGE, e, 0), 0);
	assert_int_equal(mig_digest_nstale(&dg), dg.nchunks);
	mig_digest_free(&dg);
	free(m);
}

/* The digest covers the geometry: same bytes, other size or chunk, other digest. */
static void test_geometry(void **state)
{
	uint8_t *m = calloc(1, 64 * KiB), a[16], b[16], c[16];

	(void)state;
	assert_non_null(m);
	one_pass(m, 64 * KiB, 16 * KiB, a);
	one_pass(m, 64 * KiB, 4 * KiB, b);
	one_pass(m, 60 * KiB, 16 * KiB, c);
	assert_memory_not_equal(a, b, 16);
	assert_memory_not_equal(a, c, 16);
	assert_memory_not_equal(b, c, 16);
	free(m);
}

static void test_bad_arguments(void **state)
{
	struct mig_digest dg;
	uint8_t out[16];

	(void)state;
	assert_int_equal(mig_digest_init(&dg, 0, 16 * KiB), -EINVAL);
	assert_int_equal(mig_digest_init(&dg, PAGE, 2 * KiB), -EINVAL);
	assert_int_equal(mig_digest_init(&dg, PAGE, 12 * KiB), -EINVAL);
	assert_int_equal(mig_digest_init(&dg, PAGE, 1u << 31), -EINVAL);
	assert_int_equal(mig_digest_mem(out, 0, PAGE, out), -EINVAL);
	assert_true(mig_digest_chunk_ok(MIG_DIGEST_CHUNK_MIN));
	assert_true(mig_digest_chunk_ok(MIG_DIGEST_CHUNK_MAX));
	assert_true(mig_digest_chunk_ok(MIG_DIGEST_CHUNK_DEFAULT));
	assert_false(mig_digest_chunk_ok(0));
	assert_int_equal(mig_digest_init(&dg, PAGE, 2 * MIG_DIGEST_CHUNK_MAX), -EINVAL);
	assert_false(mig_digest_chunk_ok(2 * MIG_DIGEST_CHUNK_MAX));
	/* A chunk larger than the region: one short chunk. */
	assert_int_equal(mig_digest_init(&dg, 3 * PAGE, MIG_DIGEST_CHUNK_MAX), 0);
	assert_int_equal(dg.nchunks, 1);
	mig_digest_free(&dg);
}

/*
 * The digest's definition is part of the stream format: a fixed input has
 * a fixed digest.  A change here needs a new MIG_STREAM_VERSION.
 */
static void test_known_answer(void **state)
{
	uint8_t *m = pattern(64 * KiB, 42), d[16];
	char hex[33];

	(void)state;
	uint8_t geom[24] = "vmm-dg2", want[16];
	uint64_t hashes[4], pages[4], v;
	XXH128_canonical_t c;
	unsigned int i, k;

	one_pass(m, 64 * KiB, 16 * KiB, d);
	mig_digest_hex(d, hex);
	assert_string_equal(hex, "9dc1a68cd75e08a197e51add9c132027");
	/*
	 * The definition, spelled out (docs/migration.md, "The digest"): a
	 * chunk's hash is XXH3-64 of its pages' XXH3-64s, little-endian.
	 */
	for (i = 0; i < 4; i++) {
		for (k = 0; k < 4; k++)
			pages[k] = htole64(XXH3_64bits(m + i * 16 * KiB + k * PAGE, PAGE));
		hashes[i] = htole64(XXH3_64bits(pages, sizeof(pages)));
	}
	v = htole64(64 * KiB);
	memcpy(geom + 8, &v, 8);
	v = htole64(16 * KiB);
	memcpy(geom + 16, &v, 8);
	XXH128_canonicalFromHash(
	    &c, XXH3_128bits_withSeed(hashes, sizeof(hashes), XXH3_64bits(geom, sizeof(geom))));
	memcpy(want, c.digest, 16);
	assert_memory_equal(d, want, 16);
	free(m);
}

/* A span refreshes the chunks it overlaps, or only those wholly inside it. */
static void test_refresh_span(void **state)
{
	const uint64_t size = 37 * PAGE; /* 16 KiB chunks: 10, the last one page */
	uint8_t *m = pattern(size, 3), want[16], got[16];
	struct mig_digest dg;

	(void)state;
	one_pass(m, size, 16 * KiB, want);
	assert_int_equal(mig_digest_init(&dg, size, 16 * KiB), 0);
	/* Pages 3..8 lie wholly over chunk 1 only; they overlap chunks 0, 1, 2. */
	assert_int_equal(mig_digest_refresh_span(&dg, m, 3 * PAGE, 6 * PAGE, true), 16 * KiB);
	assert_int_equal(mig_digest_nstale(&dg), 9);
	assert_int_equal(dg.stale[1], 0);
	assert_int_equal(mig_digest_refresh_span(&dg, m, 3 * PAGE, 6 * PAGE, false), 32 * KiB);
	assert_int_equal(mig_digest_nstale(&dg), 7);
	/* The region's end closes the short last chunk; past the end is clamped. */
	assert_int_equal(mig_digest_refresh_span(&dg, m, 36 * PAGE, 100 * PAGE, true), PAGE);
	assert_int_equal(mig_digest_refresh_span(&dg, m, size, PAGE, false), 0);
	assert_int_equal(mig_digest_refresh_span(&dg, m, 0, 0, false), 0);
	assert_int_equal(mig_digest_refresh_span(&dg, m, 0, size, false), 6 * 16 * KiB);
	assert_int_equal(mig_digest_final(&dg, got), 0);
	assert_memory_equal(got, want, 16);
	mig_digest_free(&dg);
	free(m);
}

/* A dirty bitmap marks exactly the chunks of its pages, none other. */
static void test_stale_bitmap(void **state)
{
	const uint64_t npages = 200, size = npages * PAGE; /* 32 KiB chunks: 25 */
	uint64_t bm[4] = {0};
	struct mig_digest dg;
	uint8_t *m = pattern(size, 4);
	uint64_t i;

	(void)state;
	assert_int_equal(mig_digest_init(&dg, size, 32 * KiB), 0);
	mig_digest_refresh(&dg, m, 0, dg.nchunks);
	/* Pages 0, 1, 7 (chunk 0), 8 (chunk 1), 63 and 64 (chunks 7, 8), 199 (24). */
	bm[0] = 1ull | 2ull | 1ull << 7 | 1ull << 8 | 1ull << 63;
	bm[1] = 1ull;
	bm[3] = 1ull << (199 - 192);
	/* A bit past npages is not a page: ignored. */
	bm[3] |= 1ull << 10;
	mig_digest_stale_bitmap(&dg, bm, npages, PAGE);
	assert_int_equal(mig_digest_nstale(&dg), 5);
	for (i = 0; i < dg.nchunks; i++)
		assert_int_equal(dg.stale[i], i == 0 || i == 1 || i == 7 || i == 8 || i == 24);
	/* Every page dirty: every chunk. */
	memset(bm, 0xff, sizeof(bm));
	mig_digest_stale_bitmap(&dg, bm, npages, PAGE);
	assert_int_equal(mig_digest_nstale(&dg), dg.nchunks);
	/* Page chunks: one page, one chunk. */
	mig_digest_free(&dg);
	assert_int_equal(mig_digest_init(&dg, size, PAGE), 0);
	mig_digest_refresh(&dg, m, 0, dg.nchunks);
	memset(bm, 0, sizeof(bm));
	bm[2] = 1ull << 5 | 1ull << 6;
	mig_digest_stale_bitmap(&dg, bm, npages, PAGE);
	assert_int_equal(mig_digest_nstale(&dg), 2);
	assert_int_equal(dg.stale[133], 1);
	assert_int_equal(dg.stale[134], 1);
	mig_digest_free(&dg);
	free(m);
}

/* An audit finds a chunk written behind the table's back, and only that. */
static void test_audit(void **state)
{
	const uint64_t size = 64 * PAGE; /* 32 KiB chunks: 8 */
	uint8_t *m = pattern(size, 5);
	struct mig_digest dg;
	uint64_t bytes;

	(void)state;
	assert_int_equal(mig_digest_init(&dg, size, 32 * KiB), 0);
	mig_digest_refresh(&dg, m, 0, dg.nchunks);
	assert_int_equal(mig_digest_audit(&dg, m, 0, dg.nchunks, PAGE, NULL, &bytes), -1);
	assert_int_equal(bytes, size);
	m[5 * 32 * KiB + 77] ^= 0x40;
	assert_int_equal(mig_digest_audit(&dg, m, 0, dg.nchunks, PAGE, NULL, &bytes), 5);
	assert_int_equal(bytes, 6 * 32 * KiB);
	/* Outside the window: not seen. */
	assert_int_equal(mig_digest_audit(&dg, m, 6, 100, PAGE, NULL, NULL), -1);
	/* Marked stale (reported): not a finding, and not read. */
	mig_digest_set_stale(&dg, 5 * 32 * KiB, 1);
	assert_int_equal(mig_digest_audit(&dg, m, 0, dg.nchunks, PAGE, NULL, &bytes), -1);
	assert_int_equal(bytes, size - 32 * KiB);
	mig_digest_free(&dg);
	free(m);
}

/*
 * The audit with pagemap entries: a clean chunk with no page present or
 * swapped is judged zeros unread; a chunk with any page in memory is read.
 * The size is not a multiple of the chunk: the short last chunk too.
 */
static void test_audit_pagemap(void **state)
{
	const uint64_t per = 8, size = 29 * PAGE; /* 32 KiB chunks: 3 whole, 5 pages */
	const uint64_t present = 1ull << 63, swapped = 1ull << 62;
	uint8_t *m = calloc(1, size);
	uint64_t e[29] = {0}, bytes;
	struct mig_digest dg;

	(void)state;
	assert_non_null(m);
	assert_int_equal(mig_digest_init(&dg, size, 32 * KiB), 0);
	memset(m + per * PAGE, 0x5a, PAGE); /* chunk 1: data */
	mig_digest_refresh(&dg, m, 0, dg.nchunks);
	e[per] = present;
	/* Chunks 0, 2 and the short 3 unpopulated: only chunk 1 is read. */
	assert_int_equal(mig_digest_audit(&dg, m, 0, dg.nchunks, PAGE, e, &bytes), -1);
	assert_int_equal(bytes, per * PAGE);
	/* A write behind the table's back to a page in memory: found. */
	m[per * PAGE + 9] ^= 1;
	assert_int_equal(mig_digest_audit(&dg, m, 0, dg.nchunks, PAGE, e, &bytes), 1);
	m[per * PAGE + 9] ^= 1;
	/* One page of the short chunk in swap: it is read, and a change found. */
	e[3 * per + 2] = swapped;
	m[3 * per * PAGE + 2 * PAGE] = 7;
	assert_int_equal(mig_digest_audit(&dg, m, 0, dg.nchunks, PAGE, e, &bytes), 3);
	assert_int_equal(bytes, per * PAGE + 5 * PAGE); /* chunks 1 and 3 */
	/* The kernel says zeros where the table holds data (chunk 1 unpopulated
	 * now): a finding, from the table alone, nothing read. */
	memset(e, 0, sizeof(e));
	assert_int_equal(mig_digest_audit(&dg, m, 1, 2, PAGE, e + per, &bytes), 1);
	assert_int_equal(bytes, 0);
	/* entries start at chunk first's first page; no entries: every chunk read. */
	m[3 * per * PAGE + 2 * PAGE] = 0;
	assert_int_equal(mig_digest_audit(&dg, m, 2, 4, PAGE, e + 2 * per, &bytes), -1);
	assert_int_equal(bytes, 0);
	assert_int_equal(mig_digest_audit(&dg, m, 0, dg.nchunks, PAGE, NULL, &bytes), -1);
	assert_int_equal(bytes, size);
	/* A page size that does not divide the chunk: the entries are ignored. */
	assert_int_equal(mig_digest_audit(&dg, m, 0, dg.nchunks, 3 * PAGE, e, &bytes), -1);
	assert_int_equal(bytes, size);
	mig_digest_free(&dg);
	free(m);
}

/* Known zero: declared or hashed as zeros and not marked since; nothing else. */
static void test_known_zero(void **state)
{
	const uint64_t size = 33 * PAGE; /* 32 KiB chunks: 5, the last one page */
	uint8_t *m = calloc(1, size);
	struct mig_digest dg;

	(void)state;
	assert_non_null(m);
	assert_int_equal(mig_digest_init(&dg, size, 32 * KiB), 0);
	assert_false(mig_digest_known_zero(&dg, 0)); /* stale */
	mig_digest_set_zero(&dg, 0, 2 * 32 * KiB);
	assert_true(mig_digest_known_zero(&dg, 0));
	assert_true(mig_digest_known_zero(&dg, 1));
	assert_false(mig_digest_known_zero(&dg, 2));
	m[2 * 32 * KiB + 5] = 1;
	mig_digest_refresh(&dg, m, 2, dg.nchunks);
	assert_false(mig_digest_known_zero(&dg, 2)); /* hashed, not zeros */
	assert_true(mig_digest_known_zero(&dg, 3));  /* hashed as zeros */
	assert_true(mig_digest_known_zero(&dg, 4));  /* the short last chunk */
	mig_digest_set_stale(&dg, 0, 1);
	assert_false(mig_digest_known_zero(&dg, 0)); /* reported written */
	assert_false(mig_digest_known_zero(&dg, 5)); /* past the end */
	mig_digest_free(&dg);
	free(m);
}

/* Each page's hash, little-endian, as the stream's DATA sums carry them. */
static uint64_t *page_hashes(const uint8_t *m, uint64_t size)
{
	uint64_t n = (size + PAGE - 1) / PAGE, k;
	uint64_t *h = calloc(n, 8);

	assert_non_null(h);
	for (k = 0; k < n; k++)
		h[k] = htole64(mig_digest_page_hash(
		    m + k * PAGE, size - k * PAGE < PAGE ? size - k * PAGE : PAGE));
	return h;
}

/*
 * A table set from page hashes is the table of the memory: spans aligned
 * to chunks or not (the chunks they cover in part are left stale), the
 * short last chunk, a short last page, page-sized chunks.
 */
static void test_set_pages(void **state)
{
	static const struct {
		uint64_t size;
		uint32_t chunk;
	} g[] = {
	    {64 * PAGE, 32 * KiB},	 /* 8 whole chunks */
	    {37 * PAGE, 16 * KiB},	 /* the last chunk one page */
	    {37 * PAGE + 100, 16 * KiB}, /* the last page 100 bytes */
	    {5 * PAGE - 1, 4 * KiB},	 /* page chunks, the last one short */
	    {300 * PAGE, 1024 * KiB},	 /* the largest chunks, the last short */
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		uint8_t *m = pattern(g[i].size, 10 + i), want[16], got[16];
		uint64_t *h = page_hashes(m, g[i].size), npages = (g[i].size + PAGE - 1) / PAGE;
		uint64_t per = g[i].chunk / PAGE, off, n, c, set;
		struct mig_digest dg;

		one_pass(m, g[i].size, g[i].chunk, want);
		/* Aligned: one span over everything sets every chunk, reads nothing. */
		assert_int_equal(mig_digest_init(&dg, g[i].size, g[i].chunk), 0);
		assert_int_equal(mig_digest_set_pages(&dg, 0, g[i].size, h), dg.nchunks);
		assert_int_equal(mig_digest_nstale(&dg), 0);
		assert_int_equal(mig_digest_final(&dg, got), 0);
		assert_memory_equal(got, want, 16);
		/* The audit hashes memory by the same definition: nothing differs. */
		assert_int_equal(mig_digest_audit(&dg, m, 0, dg.nchunks, PAGE, NULL, NULL), -1);
		mig_digest_free(&dg);

		/*
		 * Unaligned spans of 3 pages from page 1: a chunk is set only
		 * when a span holds it whole; the rest is left stale and
		 * refreshed from memory, which gives the same table.
		 */
		assert_int_equal(mig_digest_init(&dg, g[i].size, g[i].chunk), 0);
		for (off = 1; off < npages; off += 3) {
			n = npages - off < 3 ? npages - off : 3;
			set = mig_digest_set_pages(
			    &dg, off * PAGE, off + n == npages ? g[i].size - off * PAGE : n * PAGE,
			    h + off);
			/* Whole chunks inside [off, off + n): only page chunks fit in 3 pages. */
			if (per > 1 && off + n < npages)
				assert_int_equal(set, 0);
		}
		c = mig_digest_nstale(&dg);
		if (per == 1)
			assert_int_equal(c, 1); /* page 0, never in a span */
		else
			assert_true(c > 0);
		assert_int_equal(mig_digest_refresh(&dg, m, 0, dg.nchunks) > 0, 1);
		assert_int_equal(mig_digest_final(&dg, got), 0);
		assert_memory_equal(got, want, 16);
		mig_digest_free(&dg);
		free(h);
		free(m);
	}
}

/* A span set from the hashes of other pages gives another table; a misaligned span sets nothing. */
static void test_set_pages_checks(void **state)
{
	const uint64_t size = 32 * PAGE; /* 32 KiB chunks: 4 */
	uint8_t *m = pattern(size, 20), want[16], got[16];
	uint64_t *h = page_hashes(m, size), t;
	struct mig_digest dg;

	(void)state;
	one_pass(m, size, 32 * KiB, want);
	assert_int_equal(mig_digest_init(&dg, size, 32 * KiB), 0);
	assert_int_equal(mig_digest_set_pages(&dg, 1, 8 * PAGE, h), 0);
	assert_int_equal(mig_digest_set_pages(&dg, size, PAGE, h), 0);
	assert_int_equal(mig_digest_nstale(&dg), 4);
	/* Two pages' hashes swapped: their chunk differs, as its memory would. */
	t = h[9];
	h[9] = h[10];
	h[10] = t;
	assert_int_equal(mig_digest_set_pages(&dg, 0, size, h), 4);
	assert_int_equal(mig_digest_final(&dg, got), 0);
	assert_memory_not_equal(got, want, 16);
	assert_int_equal(mig_digest_audit(&dg, m, 0, dg.nchunks, PAGE, NULL, NULL), 1);
	mig_digest_free(&dg);
	free(h);
	free(m);
}

/* Zeros: the declared hash is the hash of zero pages, whole chunks and the short last one. */
static void test_zero_hash_is_pages(void **state)
{
	const uint64_t size = 21 * PAGE + 8; /* 16 KiB chunks: 6, the last one page and 8 bytes */
	uint8_t *zeros = calloc(1, size);
	uint64_t *h;
	struct mig_digest a, b;
	uint64_t i;

	(void)state;
	assert_non_null(zeros);
	h = page_hashes(zeros, size);
	assert_int_equal(mig_digest_init(&a, size, 16 * KiB), 0);
	assert_int_equal(mig_digest_init(&b, size, 16 * KiB), 0);
	mig_digest_set_zero(&a, 0, size);
	mig_digest_set_pages(&b, 0, size, h);
	for (i = 0; i < a.nchunks; i++) {
		assert_int_equal(a.hash[i], b.hash[i]);
		assert_int_equal(le64toh(a.hash[i]), mig_digest_zero_hash(&a, i));
		assert_true(mig_digest_known_zero(&b, i));
	}
	assert_int_equal(mig_digest_zero_hash(&a, 0), mig_digest_chunk_hash(zeros, 16 * KiB));
	assert_int_equal(mig_digest_zero_hash(&a, 5), mig_digest_chunk_hash(zeros, PAGE + 8));
	mig_digest_free(&a);
	mig_digest_free(&b);
	free(h);
	free(zeros);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pieces_equal_one_pass),
	    cmocka_unit_test(test_detects_changes),
	    cmocka_unit_test(test_declared_zero),
	    cmocka_unit_test(test_skip_unpopulated),
	    cmocka_unit_test(test_geometry),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_known_answer),
	    cmocka_unit_test(test_refresh_span),
	    cmocka_unit_test(test_stale_bitmap),
	    cmocka_unit_test(test_audit),
	    cmocka_unit_test(test_audit_pagemap),
	    cmocka_unit_test(test_known_zero),
	    cmocka_unit_test(test_set_pages),
	    cmocka_unit_test(test_set_pages_checks),
	    cmocka_unit_test(test_zero_hash_is_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

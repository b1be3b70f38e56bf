// SPDX-License-Identifier: MIT
/* mig_digest: per-chunk hashes of a memory region and their digest. */
#include "migrate/mig_digest.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Mixed into the seed, so a digest of another kind or layout never matches. */
static const char DIGEST_TAG[8] = "vmm-dg2";

/* The most page hashes one chunk has (MIG_DIGEST_CHUNK_MAX / MIG_DIGEST_PAGE). */
#define MAX_CHUNK_PAGES (MIG_DIGEST_CHUNK_MAX / MIG_DIGEST_PAGE)

static const uint8_t zero_page[MIG_DIGEST_PAGE];

bool mig_digest_chunk_ok(uint64_t chunk)
{
	return chunk >= MIG_DIGEST_CHUNK_MIN && chunk <= MIG_DIGEST_CHUNK_MAX &&
	       (chunk & (chunk - 1)) == 0;
}

uint64_t mig_digest_page_hash(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

uint64_t mig_digest_combine(const void *page_hashes, size_t npages)
{
	return XXH3_64bits(page_hashes, npages * 8);
}

/*
 * The hash of n bytes (at most a chunk) from their pages' hashes; stride 0
 * reads the same page again and again (p: the zero page), hashing it once.
 */
static uint64_t hash_pages(const uint8_t *p, uint64_t n, size_t stride)
{
	uint64_t h[MAX_CHUNK_PAGES], whole = n / MIG_DIGEST_PAGE, k;
	uint64_t same = stride ? 0 : htole64(mig_digest_page_hash(p, MIG_DIGEST_PAGE));

	for (k = 0; k < whole; k++)
		h[k] =
		    stride ? htole64(mig_digest_page_hash(p + k * stride, MIG_DIGEST_PAGE)) : same;
	if (n % MIG_DIGEST_PAGE)
		h[k++] = htole64(mig_digest_page_hash(p + whole * stride, n % MIG_DIGEST_PAGE));
	return mig_digest_combine(h, k);
}

uint64_t mig_digest_chunk_hash(const void *p, size_t n)
{
	return n <= MIG_DIGEST_CHUNK_MAX ? hash_pages(p, n, MIG_DIGEST_PAGE) : 0;
}

static uint64_t chunk_len(const struct mig_digest *dg, uint64_t i)
{
	uint64_t off = i << dg->shift;

	return dg->size - off < dg->chunk ? dg->size - off : dg->chunk;
}

int mig_digest_init(struct mig_digest *dg, uint64_t size, uint32_t chunk)
{
	memset(dg, 0, sizeof(*dg));
	if (size == 0 || !mig_digest_chunk_ok(chunk))
		return -EINVAL;
	dg->size = size;
	dg->chunk = chunk;
	dg->shift = (unsigned int)__builtin_ctz(chunk);
	dg->nchunks = (size >> dg->shift) + ((size & (chunk - 1)) != 0);
	if (dg->nchunks > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	dg->hash = calloc(dg->nchunks, sizeof(uint64_t));
	dg->stale = malloc(dg->nchunks);
	if (!dg->hash || !dg->stale) {
		mig_digest_free(dg);
		return -ENOMEM;
	}
	memset(dg->stale, 1, dg->nchunks);
	dg->zero_hash = hash_pages(zero_page, chunk, 0);
	dg->zero_hash_last = hash_pages(zero_page, chunk_len(dg, dg->nchunks - 1), 0);
	return 0;
}

void mig_digest_free(struct mig_digest *dg)
{
	free(dg->hash);
	free(dg->stale);
	dg->hash = NULL;
	dg->stale = NULL;
	dg->nchunks = 0;
}

void mig_digest_set_stale(struct mig_digest *dg, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (len == 0 || off >= dg->size)
		return;
	if (len > dg->size - off)
		len = dg->size - off;
	first = off >> dg->shift;
	last = (off + len - 1) >> dg->shift;
	memset(dg->stale + first, 1, last - first + 1);
}

void mig_digest_set(struct mig_digest *dg, uint64_t i, uint64_t hash)
{
	if (i >= dg->nchunks)
		return;
	dg->hash[i] = htole64(hash);
	dg->stale[i] = 0;
}

uint64_t mig_digest_set_pages(struct mig_digest *dg, uint64_t off, uint64_t len,
			      const void *page_hashes)
{
	const uint8_t *h = page_hashes;
	uint64_t first, end, i;

	if (len == 0 || off >= dg->size || off % MIG_DIGEST_PAGE)
		return 0;
	if (len > dg->size - off)
		len = dg->size - off;
	/* Whole chunks only; the region's end closes the last chunk. */
	first = (off + dg->chunk - 1) >> dg->shift;
	end = off + len == dg->size ? dg->nchunks : (off + len) >> dg->shift;
	for (i = first; i < end; i++) {
		uint64_t page = ((i << dg->shift) - off) / MIG_DIGEST_PAGE;
		uint64_t n = (chunk_len(dg, i) + MIG_DIGEST_PAGE - 1) / MIG_DIGEST_PAGE;

		dg->hash[i] = htole64(mig_digest_combine(h + page * 8, n));
		dg->stale[i] = 0;
	}
	return first < end ? end - first : 0;
}

uint64_t mig_digest_zero_hash(const struct mig_digest *dg, uint64_t i)
{
	return i == dg->nchunks - 1 ? dg->zero_hash_last : dg->zero_hash;
}

bool mig_digest_known_zero(const struct mig_digest *dg, uint64_t i)
{
	return i < dg->nchunks && !dg->stale[i] &&
	       dg->hash[i] == htole64(mig_digest_zero_hash(dg, i));
}

void mig_digest_set_zero(struct mig_digest *dg, uint64_t off, uint64_t len)
{
	uint64_t first, end, i;

	if (len == 0 || off >= dg->size)
		return;
	if (len > dg->size - off)
		len = dg->size - off;
	/* Whole chunks only; the region's end closes the last chunk. */
	first = (off + dg->chunk - 1) >> dg->shift;
	end = off + len == dg->size ? dg->nchunks : (off + len) >> dg->shift;
	for (i = first; i < end; i++) {
		dg->hash[i] = htole64(mig_digest_zero_hash(dg, i));
		dg->stale[i] = 0;
	}
}

/* pagemap: the page is in memory, or in swap (or being migrated). */
#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)

/* None of n pagemap entries is present or swapped: the pages read as zeros. */
static bool unpopulated(const uint64_t *entries, uint64_t n)
{
	uint64_t used = 0;

	for (uint64_t k = 0; k < n; k++)
		used |= entries[k] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED);
	return !used;
}

uint64_t mig_digest_skip_unpopulated(struct mig_digest *dg, uint64_t first_page, uint32_t page_size,
				     const uint64_t *entries, uint64_t n)
{
	uint64_t per, k, skipped = 0;

	if (page_size == 0 || dg->chunk % page_size || n == 0)
		return 0;
	per = dg->chunk / page_size;
	/* From the first chunk boundary inside the range. */
	k = (per - first_page % per) % per;
	for (; k < n; k += per) {
		uint64_t end = k + per, off = (first_page + k) * page_size;

		if (end > n) {
			/* A partial chunk counts only if the region ends there. */
			if (off + (n - k) * page_size != dg->size)
				break;
			end = n;
		}
		if (!unpopulated(entries + k, end - k) || off >= dg->size)
			continue;
		mig_digest_set_zero(dg, off, (end - k) * page_size);
		skipped++;
	}
	return skipped;
}

uint64_t mig_digest_refresh(struct mig_digest *dg, const void *mem, uint64_t first, uint64_t end)
{
	const uint8_t *base = mem;
	uint64_t i, bytes = 0;

	if (end > dg->nchunks)
		end = dg->nchunks;
	for (i = first; i < end; i++) {
		uint64_t n;

		if (!dg->stale[i])
			continue;
		n = chunk_len(dg, i);
		dg->hash[i] = htole64(mig_digest_chunk_hash(base + (i << dg->shift), n));
		dg->stale[i] = 0;
		bytes += n;
	}
	return bytes;
}

uint64_t mig_digest_refresh_span(struct mig_digest *dg, const void *mem, uint64_t off, uint64_t len,
				 bool whole)
{
	uint64_t first, end;

	if (len == 0 || off >= dg->size)
		return 0;
	if (len > dg->size - off)
		len = dg->size - off;
	if (whole) {
		first = (off + dg->chunk - 1) >> dg->shift;
		end = off + len == dg->size ? dg->nchunks : (off + len) >> dg->shift;
	} else {
		first = off >> dg->shift;
		end = ((off + len - 1) >> dg->shift) + 1;
	}
	return first < end ? mig_digest_refresh(dg, mem, first, end) : 0;
}

void mig_digest_stale_bitmap(struct mig_digest *dg, const uint64_t *bitmap, uint64_t npages,
			     uint32_t page_size)
{
	uint64_t w, words = (npages + 63) / 64;

	if (page_size == 0 || dg->chunk % page_size)
		return;
	for (w = 0; w < words; w++) {
		uint64_t bits = bitmap[w];

		if (w == words - 1 && npages % 64)
			bits &= (1ull << (npages % 64)) - 1;
		while (bits) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
			uint64_t c = p * page_size >> dg->shift;
			/* The chunk's pages are one stale mark: skip the rest of them in this word. */
			uint64_t next = ((c + 1) << dg->shift) / page_size;

			if (c < dg->nchunks)
				dg->stale[c] = 1;
			if (next >= (w + 1) * 64)
				break;
			bits &= ~0ull << (next - w * 64);
		}
	}
}

int64_t mig_digest_audit(const struct mig_digest *dg, const void *mem, uint64_t first, uint64_t end,
			 uint32_t page_size, const uint64_t *entries, uint64_t *bytes)
{
	const uint8_t *base = mem;
	uint64_t i, read = 0;
	int64_t bad = -1;

	if (page_size == 0 || dg->chunk % page_size)
		entries = NULL;
	if (end > dg->nchunks)
		end = dg->nchunks;
	for (i = first; i < end; i++) {
		uint64_t n = chunk_len(dg, i), h;
		uint64_t pages = entries ? (n + page_size - 1) / page_size : 0;

		if (dg->stale[i])
			continue;
		if (entries &&
		    unpopulated(entries + (i - first) * (dg->chunk / page_size), pages)) {
			h = mig_digest_zero_hash(dg, i);
		} else {
			read += n;
			h = mig_digest_chunk_hash(base + (i << dg->shift), n);
		}
		if (htole64(h) != dg->hash[i]) {
			bad = (int64_t)i;
			break;
		}
	}
	if (bytes)
		*bytes = read;
	return bad;
}

uint64_t mig_digest_nstale(const struct mig_digest *dg)
{
	uint64_t i, n = 0;

	for (i = 0; i < dg->nchunks; i++)
		n += dg->stale[i];
	return n;
}

int mig_digest_final(const struct mig_digest *dg, uint8_t out[MIG_DIGEST_LEN])
{
	uint8_t geom[24];
	uint64_t v, seed;
	XXH128_hash_t h;
	XXH128_canonical_t c;

	if (dg->nchunks == 0 || mig_digest_nstale(dg))
		return -EAGAIN;
	memcpy(geom, DIGEST_TAG, 8);
	v = htole64(dg->size);
	memcpy(geom + 8, &v, 8);
	v = htole64(dg->chunk);
	memcpy(geom + 16, &v, 8);
	seed = XXH3_64bits(geom, sizeof(geom));
	h = XXH3_128bits_withSeed(dg->hash, dg->nchunks * sizeof(uint64_t), seed);
	/* Big-endian canonical form, as xxHash prints it. */
	XXH128_canonicalFromHash(&c, h);
	memcpy(out, c.digest, MIG_DIGEST_LEN);
	return 0;
}

int mig_digest_mem(const void *mem, uint64_t size, uint32_t chunk, uint8_t out[MIG_DIGEST_LEN])
{
	struct mig_digest dg;
	int r = mig_digest_init(&dg, size, chunk);

	if (r)
		return r;
	mig_digest_refresh(&dg, mem, 0, dg.nchunks);
	r = mig_digest_final(&dg, out);
	mig_digest_free(&dg);
	return r;
}

void mig_digest_hex(const uint8_t d[MIG_DIGEST_LEN], char out[2 * MIG_DIGEST_LEN + 1])
{
	int i;

	for (i = 0; i < MIG_DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

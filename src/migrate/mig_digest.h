/* SPDX-License-Identifier: MIT */
/*
 * mig_digest: a 128-bit digest of a memory region (guest RAM), built from
 * one hash per fixed-size chunk so that it can be kept up to date cheaply.
 *
 * The digest of a region is XXH3-128 over the array of its chunk hashes
 * (u64, little-endian), seeded with a hash of the region's size and chunk
 * size.  A chunk's hash is XXH3-64 over the array of its pages' hashes
 * (u64, little-endian), and a page's hash is XXH3-64 of its 4096 bytes
 * (of its bytes, for a short last page where the region's size is not a
 * page multiple): exactly the migration stream's page sum, so that whoever
 * has just hashed a chunk's pages has its hash without reading them again
 * (mig_digest_set_pages()).  The digest depends only on the bytes of the
 * region and on the chunk size: a table refreshed piece by piece gives the
 * same digest as one pass over the whole region (mig_digest_mem()).
 *
 * A table (struct mig_digest) remembers each chunk's hash and whether it is
 * stale.  Whoever writes the memory marks what it wrote stale; whoever
 * knows a range is all zeros (fresh anonymous memory never written) may
 * declare it so, which costs no reading.  mig_digest_refresh() hashes the
 * stale chunks of a range; disjoint ranges may be refreshed by different
 * threads at once (each chunk's state is its own byte).  Soundness of what
 * is marked and declared is the caller's: see docs/migration.md, "The
 * digest".
 *
 * Pure: no I/O, no threads, no KVM.  Hashes come from libxxhash.
 */
#ifndef MIG_DIGEST_H
#define MIG_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_DIGEST_LEN 16

/* The page of the chunk hash's definition (the stream's page). */
#define MIG_DIGEST_PAGE 4096u

/*
 * Chunk sizes a table accepts: powers of two from one page to 1 MiB.  At
 * most 256 pages, so that a chunk's page hashes (2 KiB) are combined in one
 * call from the stack; larger chunks would save nothing (the table is
 * 0.0009% of RAM at 1 MiB).
 */
#define MIG_DIGEST_CHUNK_MIN MIG_DIGEST_PAGE
#define MIG_DIGEST_CHUNK_MAX (1u << 20)
/*
 * The chunk size the source proposes: 8 pages.  The table costs 9 bytes
 * per chunk: 0.027% of RAM at 32 KiB (it was 0.22% at one page, over the
 * 0.1% the whole tracking may cost).  Both sides keep their table up to
 * date while the pages move (mig_digest_stale_bitmap(),
 * mig_digest_refresh_span()), so the switchover hashes only the chunks of
 * the final round; a chunk dirtied by one 4 KiB write costs re-hashing 8
 * pages, so larger chunks trade table memory for hashing of scattered
 * writes (docs/migration.md, "The digest").
 */
#define MIG_DIGEST_CHUNK_DEFAULT 32768u

struct mig_digest {
	uint64_t size;		 /* bytes covered */
	uint32_t chunk;		 /* bytes per chunk; the last chunk may be shorter */
	unsigned int shift;	 /* log2(chunk) */
	uint64_t nchunks;	 /* ceil(size / chunk) */
	uint64_t *hash;		 /* per chunk: XXH3-64, stored little-endian */
	uint8_t *stale;		 /* per chunk: 1 = hash[] does not describe memory */
	uint64_t zero_hash;	 /* the hash of a whole chunk of zeros */
	uint64_t zero_hash_last; /* of the last chunk (shorter or not) of zeros */
};

bool mig_digest_chunk_ok(uint64_t chunk);

/* The hash of one page of n bytes (at most a page): XXH3-64, unseeded; the stream's page sum. */
uint64_t mig_digest_page_hash(const void *p, size_t n);
/* The hash of a chunk from its npages pages' hashes (little-endian u64s at page_hashes). */
uint64_t mig_digest_combine(const void *page_hashes, size_t npages);
/* The hash of one chunk of n bytes (at most MIG_DIGEST_CHUNK_MAX): hashed page by page, combined. */
uint64_t mig_digest_chunk_hash(const void *p, size_t n);

/* A table over size bytes (size > 0), every chunk stale.  0, -EINVAL or -ENOMEM. */
int mig_digest_init(struct mig_digest *dg, uint64_t size, uint32_t chunk);
void mig_digest_free(struct mig_digest *dg);

/* Chunks overlapping [off, off + len) changed (clamped to the region). */
void mig_digest_set_stale(struct mig_digest *dg, uint64_t off, uint64_t len);
/*
 * The chunks lying wholly inside [off, off + len) are all zeros: they get
 * the hash of zeros without being read.  Partly covered chunks are left as
 * they are.  The caller vouches for the zeros.
 */
void mig_digest_set_zero(struct mig_digest *dg, uint64_t off, uint64_t len);

/*
 * Declare never-populated memory zero, from the kernel's page tables:
 * entries[k] is the /proc/self/pagemap entry (u64) of the region's page
 * first_page + k, for n pages of page_size bytes.  A page neither present
 * (bit 63) nor swapped (bit 62) reads as zeros in a private anonymous
 * mapping (and only there: not in a shared or file mapping).  Chunks lying
 * wholly inside the range with no such page get the hash of zeros;
 * returns how many.  Sound on the source at switchover: it is the kernel's
 * word, not the dirty tracker's.
 */
uint64_t mig_digest_skip_unpopulated(struct mig_digest *dg, uint64_t first_page, uint32_t page_size,
				     const uint64_t *entries, uint64_t n);

/*
 * Chunk i holds bytes whose mig_digest_chunk_hash() the caller has just
 * computed from the memory itself (never from what a peer claims).
 */
void mig_digest_set(struct mig_digest *dg, uint64_t i, uint64_t hash);
/*
 * The pages of [off, off + len) (off page-aligned; len whole pages, or
 * reaching the region's end) were just hashed from the memory itself:
 * page_hashes holds one little-endian u64 per page, mig_digest_page_hash()
 * of it (the stream's DATA sums are such an array).  Every chunk lying
 * wholly inside the span gets its hash from them, unread; partly covered
 * chunks are left as they are (mig_digest_refresh()).  Returns the chunks
 * set.
 */
uint64_t mig_digest_set_pages(struct mig_digest *dg, uint64_t off, uint64_t len,
			      const void *page_hashes);
/*
 * Chunk i is not stale and its hash is that of zeros: declared zero (or
 * hashed as zeros) and not marked since.
 */
bool mig_digest_known_zero(const struct mig_digest *dg, uint64_t i);
/* The hash of chunk i when it is all zeros. */
uint64_t mig_digest_zero_hash(const struct mig_digest *dg, uint64_t i);

/*
 * Hash the stale chunks with index in [first, end) from mem (the region's
 * first byte), page by page.  Returns the bytes read.  Threads may refresh disjoint
 * ranges at once.
 */
uint64_t mig_digest_refresh(struct mig_digest *dg, const void *mem, uint64_t first, uint64_t end);
uint64_t mig_digest_nstale(const struct mig_digest *dg);

/*
 * Hash the stale chunks that overlap [off, off + len) (whole = false) or
 * lie wholly inside it (whole = true; the region's end closes the last
 * chunk).  Returns the bytes read.
 */
uint64_t mig_digest_refresh_span(struct mig_digest *dg, const void *mem, uint64_t off, uint64_t len,
				 bool whole);

/*
 * Mark stale every chunk holding a page whose bit is set in bitmap (bit p
 * of word p / 64: page p, page_size bytes), for the first npages pages.
 * A dirty tracker's report after a sync: what it names changed.
 */
void mig_digest_stale_bitmap(struct mig_digest *dg, const uint64_t *bitmap, uint64_t npages,
			     uint32_t page_size);

/*
 * Re-hash the chunks in [first, end) that are not stale and compare with
 * the table.  Returns the index of the first chunk whose memory no longer
 * matches its hash (someone wrote it without marking it stale), or -1.
 * *bytes (if not NULL) gets the bytes read.
 *
 * entries (NULL: read every chunk) are the /proc/self/pagemap entries of
 * every page of those chunks (of page_size bytes, dividing the chunk;
 * entries[0] is chunk first's first page).  A clean chunk with no page
 * present or swapped reads as zeros (a private anonymous mapping, as
 * mig_digest_skip_unpopulated() says), so it is compared with the hash of
 * zeros unread: the same verdict without a fault per page.  Reading
 * untouched memory maps the zero page page by page, which made a 16 MiB
 * window over an idle guest cost 5-6 ms of its downtime.
 */
int64_t mig_digest_audit(const struct mig_digest *dg, const void *mem, uint64_t first, uint64_t end,
			 uint32_t page_size, const uint64_t *entries, uint64_t *bytes);

/* The digest; -EAGAIN (out untouched) while a chunk is stale. */
int mig_digest_final(const struct mig_digest *dg, uint8_t out[MIG_DIGEST_LEN]);

/* One pass: the digest of size bytes at mem.  0, -EINVAL or -ENOMEM. */
int mig_digest_mem(const void *mem, uint64_t size, uint32_t chunk, uint8_t out[MIG_DIGEST_LEN]);

/* 32 hex digits and a NUL, for messages. */
void mig_digest_hex(const uint8_t d[MIG_DIGEST_LEN], char out[2 * MIG_DIGEST_LEN + 1]);

#endif /* MIG_DIGEST_H */

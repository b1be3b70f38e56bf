/* SPDX-License-Identifier: MIT */
/*
 * The decoder's state, shared by its two files (internal to
 * src/migrate/mig_stream_dec*.c): mig_stream_dec.c reads bytes and frames
 * records, mig_stream_dec_rec.c checks and applies each record.
 */
#ifndef MIG_STREAM_DEC_H
#define MIG_STREAM_DEC_H

#include <stdlib.h>

#include "migrate/mig_stream.h"
#include "migrate/mig_stream_wire.h"

enum dec_state {
	ST_HEADER,  /* the 16-byte stream header */
	ST_HEAD,    /* a record's 8-byte head */
	ST_FIXED,   /* the rest of its fixed part */
	ST_SUMS,    /* a DATA record's page sums */
	ST_DATA,    /* page data, into guest RAM */
	ST_SECDATA, /* section bytes, into the section buffer */
	ST_DONE,    /* after the end record */
	ST_ERROR,
};

/* The grammar: CONFIG, rounds (the last one final), sections, END. */
enum dec_phase {
	PH_CONFIG,
	PH_ROUNDS,
	PH_IN_ROUND,
	PH_SECTIONS,
	PH_END,
};

struct mig_dec {
	struct mig_dec_params p;
	struct mig_section_spec specs[MIG_MAX_SECTION_KIND];
	uint64_t *seen[MIG_MAX_SECTION_KIND]; /* per spec: instances received */
	unsigned int nspecs;

	enum dec_state state;
	enum dec_phase phase;
	uint8_t buf[MIG_FIXED_MAX]; /* the stream header or a record's fixed part */
	size_t have, need;
	uint64_t off;	  /* stream offset of the next byte */
	uint64_t rec_off; /* of the current record */
	uint32_t rec_type, rec_len;

	/* The DATA record being received. */
	uint64_t data_first;
	uint32_t data_n;
	uint64_t sums_check;
	uint8_t sums[MIG_RUN_MAX_PAGES * 8];
	size_t sums_have;
	uint8_t *data_dst;			    /* where the next byte goes */
	size_t data_left;			    /* bytes still to come */
	uint32_t data_done;			    /* pages checked */
	uint64_t data_torn[MIG_RUN_MAX_PAGES / 64]; /* its pages whose sum failed */

	/* The SECTION record being received. */
	uint8_t *secbuf;
	size_t seccap;
	size_t sec_have;
	uint64_t sec_check;
	struct mig_section sec;
	unsigned int sec_spec;

	struct mig_config cfg;
	bool have_cfg;
	uint8_t *ram;
	uint64_t npages;
	uint64_t *maybe_nonzero; /* pages that may hold non-zero bytes */
	uint64_t *pending;	 /* pages whose checksum failed, not yet re-sent */
	uint64_t npending;
	struct mig_digest dg;
	bool have_dg;
	bool page_chunks; /* digest chunks are pages: a ZERO page sets its own chunk */

	uint32_t round;
	bool final;
	uint64_t round_data, round_zero;
	struct mig_dec_stats st;
	struct mig_error err;
};

/* ---- errors ---- */

#define FAIL(d, code, off, ...)                                                                    \
	do {                                                                                       \
		mig_fail(&(d)->err, (code), (off), __VA_ARGS__);                                   \
		(d)->state = ST_ERROR;                                                             \
		return -1;                                                                         \
	} while (0)

/* A hook refused: its message, prefixed, at the record's offset. */
int mig_dec_hook_failed(struct mig_dec *d, enum mig_err code, const char *what, const char *msg);

/* A record's fixed part is complete: check it and act on it. */
int mig_dec_on_fixed(struct mig_dec *d);
/* A DATA record's sums are in: check them, then its pages follow. */
int mig_dec_sums_done(struct mig_dec *d);
/* Check the pages of the DATA record that are complete. */
int mig_dec_check_pages(struct mig_dec *d);
/* The DATA record's pages are all in and checked. */
void mig_dec_data_done(struct mig_dec *d);
/* A SECTION record's bytes are in: check them, hand them over. */
int mig_dec_section_done(struct mig_dec *d);

/* ---- bitmaps (one bit per page) ---- */

static inline uint64_t *bitmap_new(uint64_t nbits, bool ones)
{
	size_t words = (size_t)((nbits + 63) / 64) + 1; /* never 0 */
	uint64_t *b = malloc(words * 8);

	if (b)
		memset(b, ones ? 0xff : 0, words * 8);
	return b;
}

/* Set or clear bits [first, first + n); returns how many changed. */
static inline uint64_t bitmap_assign(uint64_t *b, uint64_t first, uint64_t n, bool set)
{
	uint64_t changed = 0;

	while (n) {
		uint64_t w = first / 64, bit = first % 64;
		uint64_t k = 64 - bit < n ? 64 - bit : n;
		uint64_t mask = (k == 64 ? ~0ull : ((1ull << k) - 1)) << bit;
		uint64_t old = b[w];

		b[w] = set ? old | mask : old & ~mask;
		changed += (uint64_t)__builtin_popcountll((old ^ b[w]) & mask);
		first += k;
		n -= k;
	}
	return changed;
}

/* The first set bit in [first, end), or end. */
static inline uint64_t bitmap_next(const uint64_t *b, uint64_t first, uint64_t end)
{
	while (first < end) {
		uint64_t w = b[first / 64] >> (first % 64);

		if (w) {
			uint64_t i = first + (uint64_t)__builtin_ctzll(w);

			return i < end ? i : end;
		}
		first = (first / 64 + 1) * 64;
	}
	return end;
}

#endif /* MIG_STREAM_DEC_H */

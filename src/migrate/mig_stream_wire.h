/* SPDX-License-Identifier: MIT */
/*
 * mig_stream's wire layout (version MIG_STREAM_VERSION), shared by the encoder, the decoder
 * and the replies; internal to src/migrate/mig_stream*.  Every integer is
 * little-endian.  docs/migration.md ("The stream") has the same tables.
 *
 * A stream is a 16-byte header then records.  A record is an 8-byte head
 * (type u32, len u32: bytes after the head), a fixed part that ends with
 * `check` (XXH3-64 of every byte of the record before it, seeded with
 * MIG_CHECK_SEED), then for DATA, SECTION and ERROR a payload of a length
 * the fixed part states, covered by XXH3-64 sums in the fixed part (and
 * for DATA, one per page).
 * Offsets below are from the record's first byte.
 */
#ifndef MIG_STREAM_WIRE_H
#define MIG_STREAM_WIRE_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

#include "migrate/mig_stream.h"

/* The stream header: magic[8], version u32, flags u32 (0). */
#define MIG_MAGIC	    "VMM-MIG\n"
#define MIG_HDR_SIZE	    16
#define MIG_HDR_OFF_VERSION 8
#define MIG_HDR_OFF_FLAGS   12

/* Seed of every record check: "vmm-mig1". */
#define MIG_CHECK_SEED 0x3167696d2d6d6d76ull

enum mig_rec_type {
	MIG_REC_CONFIG = 1,
	MIG_REC_ROUND_BEGIN = 2,
	MIG_REC_DATA = 3,
	MIG_REC_ZERO = 4,
	MIG_REC_ROUND_END = 5,
	MIG_REC_SECTION = 6,
	MIG_REC_END = 7,
	/* Destination to source. */
	MIG_REC_ACK = 0x81,
	MIG_REC_ERROR = 0x82,
};

#define MIG_REC_OFF_TYPE 0
#define MIG_REC_OFF_LEN	 4
#define MIG_REC_HEAD	 8

/* CONFIG */
#define MIG_CFG_OFF_PAGE_SIZE	 8
#define MIG_CFG_OFF_NCPUS	 12
#define MIG_CFG_OFF_RAM_SIZE	 16
#define MIG_CFG_OFF_RING	 24
#define MIG_CFG_OFF_TSC_KHZ	 28
#define MIG_CFG_OFF_STATS_GPA	 32
#define MIG_CFG_OFF_STATS_SIZE	 40
#define MIG_CFG_OFF_DIGEST_CHUNK 48
#define MIG_CFG_OFF_FLAGS	 52
#define MIG_CFG_SIZE		 64

/* ROUND_BEGIN */
#define MIG_RB_OFF_ROUND 8
#define MIG_RB_OFF_FLAGS 12
#define MIG_RB_SIZE	 24
#define MIG_RB_FINAL	 1u /* the guest is stopped: the last round */

/*
 * DATA and ZERO.  DATA's payload: npages sums (u64: XXH3-64 of each page,
 * unseeded: mig_digest_page_hash()), then the npages pages.  One sum per
 * page, so that a page torn by a guest write in a live round is the only
 * one the destination waits for again, and so that the sums of a digest
 * chunk's pages, once checked, make its hash (see docs/migration.md).
 */
#define MIG_PG_OFF_FIRST    8
#define MIG_PG_OFF_NPAGES   16
#define MIG_PG_OFF_RESERVED 20
#define MIG_DATA_OFF_SUMS   24 /* XXH3-64 of the sums */
#define MIG_DATA_SIZE	    40
#define MIG_DATA_PER_PAGE   (8 + MIG_PAGE_SIZE) /* payload bytes per page */
#define MIG_ZERO_SIZE	    32

/* ROUND_END */
#define MIG_RE_OFF_ROUND    8
#define MIG_RE_OFF_RESERVED 12
#define MIG_RE_OFF_DATA	    16
#define MIG_RE_OFF_ZERO	    24
#define MIG_RE_SIZE	    40

/* SECTION (then length bytes) */
#define MIG_SEC_OFF_ID	     8
#define MIG_SEC_OFF_INSTANCE 12
#define MIG_SEC_OFF_VERSION  16
#define MIG_SEC_OFF_LENGTH   20
#define MIG_SEC_OFF_CHECK    24 /* XXH3-64 of the bytes */
#define MIG_SEC_SIZE	     40

/* END */
#define MIG_END_OFF_ROUNDS   8
#define MIG_END_OFF_SECTIONS 12
#define MIG_END_OFF_DIGEST   16
#define MIG_END_SIZE	     40

/* ACK */
#define MIG_ACK_OFF_DIGEST 8
#define MIG_ACK_SIZE	   32

/* ERROR (then reason_len bytes) */
#define MIG_ERR_OFF_CODE   8
#define MIG_ERR_OFF_LEN	   12
#define MIG_ERR_OFF_OFFSET 16
#define MIG_ERR_OFF_CHECK  24 /* XXH3-64 of the reason */
#define MIG_ERR_SIZE	   40

/* The largest fixed part. */
#define MIG_FIXED_MAX 64

static inline uint32_t mig_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline uint64_t mig_get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline void mig_put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline void mig_put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* The check of a fixed part of size bytes (the check field is its last 8). */
uint64_t mig_rec_check(const uint8_t *rec, size_t size);
/* Write the check into the last 8 bytes of a fixed part. */
void mig_rec_seal(uint8_t *rec, size_t size);
/* The fixed size of a record type, 0 if unknown. */
size_t mig_rec_fixed(uint32_t type);
const char *mig_rec_name(uint32_t type);

/* Fill *e: code, offset and a sentence that ends with the offset. */
void mig_fail(struct mig_error *e, enum mig_err code, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* mig_config_check(), with the offset in a CONFIG record of the bad field. */
int mig_config_check_at(const struct mig_config *c, unsigned int *off, char *msg, size_t len);

#endif /* MIG_STREAM_WIRE_H */

/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the mig_stream tests: a growable byte stream, an encoder
 * driven over a synthetic guest (several rounds, sections, the end
 * record), a record index of a valid stream, and a destination whose RAM
 * has inaccessible guard pages on both sides.
 */
#ifndef TEST_MIG_STREAM_UTIL_H
#define TEST_MIG_STREAM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/mig_stream.h"

struct tstream {
	uint8_t *buf;
	size_t len, cap;
};

void ts_append(struct tstream *ts, const void *p, size_t n);
/* Send the encoder's batch into ts (in short pieces, to exercise advance()). */
void ts_drain(struct tstream *ts, struct mig_enc *e);
void ts_free(struct tstream *ts);

/* One record of a valid stream. */
struct trec {
	size_t off; /* first byte */
	uint32_t type;
	size_t fixed; /* head and fixed part */
	size_t size;  /* whole record */
};
/* Index the records after the header; returns how many (at most max). */
size_t ts_index(const uint8_t *buf, size_t len, struct trec *r, size_t max);
/* Recompute a record's check after a field was changed. */
void ts_reseal(uint8_t *buf, const struct trec *r);

/* Section ids of the tests' table. */
#define T_SEC_VCPU    1 /* one per vCPU, required, up to 512 bytes */
#define T_SEC_CONSOLE 2 /* one, required, up to 64 bytes */
#define T_SEC_EXTRA   3 /* up to 4, optional, up to 100 bytes */
#define T_NCPUS	      2

extern const struct mig_section_spec t_specs[3];

/* The synthetic migration. */
struct tmig {
	unsigned int npages; /* guest RAM */
	unsigned int rounds; /* live rounds before the final one (>= 1) */
	unsigned int run;    /* pages per DATA record (0: the maximum) */
	bool sections;	     /* send the required sections (and one extra) */
	uint32_t seed;	     /* page contents */
	/*
	 * Change pages while their records are queued but not yet sent, as a
	 * running guest does: their sums no longer match, and the pages come
	 * again in the next round.  Off: each round is sent before the next
	 * change (a stream with no torn page).
	 */
	bool tear;
	uint32_t chunk; /* digest chunk (0: the default, one page) */
	/* Out: the source's RAM as it was at switchover. */
	uint8_t *src;
};

struct mig_config t_config(uint64_t ram_size);
/* Encode the whole migration into ts; returns 0.  Frees nothing: tmig_free(). */
void tmig_build(struct tmig *m, struct tstream *ts);
void tmig_free(struct tmig *m);

/* A destination. */
struct tdst {
	uint8_t *map; /* guard page, RAM, guard page */
	size_t map_len;
	uint8_t *ram;
	uint64_t size;
	uint64_t max_ram;
	bool garbage; /* fill RAM with non-zero bytes before decoding (ram_zeroed false) */
	struct mig_config local; /* compared with mig_config_match() if local.page_size */
	unsigned int rounds_begun, rounds_ended, nsec;
	struct {
		uint32_t id, instance, version, len;
		uint8_t data[512];
	} sec[16];
	uint32_t refuse_section; /* this section id's hook fails */
	struct mig_dec *dec;
};

/* A decoder for t (zeroed RAM unless t->garbage), with the tests' section table. */
struct mig_dec *tdst_new(struct tdst *t);
void tdst_free(struct tdst *t);
/* Decode a whole buffer into a fresh destination: the error code (MIG_OK when done). */
enum mig_err tdecode(const uint8_t *buf, size_t len, struct mig_error *err);

uint32_t t_rand(uint32_t *state);

#endif /* TEST_MIG_STREAM_UTIL_H */

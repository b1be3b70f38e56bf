// SPDX-License-Identifier: MIT
/*
 * mig_stream encoder: record headers in an arena, iovecs into guest RAM.
 * It copies no page: a DATA record is a 40-byte header and 8 bytes of sum
 * per page in the arena, and an iovec over the pages themselves.
 */
#include "migrate/mig_stream.h"
#include "migrate/mig_stream_wire.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <xxhash.h>

/* Defaults (mig_enc_params zeros). */
#define ENC_MAX_IOV 1024u /* IOV_MAX on Linux: one writev() per batch */
/*
 * A batch stops taking pages past 4 MiB: the pages were just read by the
 * zero check and the checksum, and the kernel copies them into the socket
 * while they are still in the cache (32 MiB of L3 here, shared).
 */
#define ENC_BATCH_BYTES (4u << 20)

/* Where the stream is; the decoder enforces the same grammar. */
enum enc_phase {
	PH_HEADER,   /* nothing yet */
	PH_CONFIG,   /* header sent */
	PH_ROUNDS,   /* between rounds */
	PH_IN_ROUND, /* inside a round */
	PH_SECTIONS, /* after the final round */
	PH_DONE,     /* end record queued */
};

static const uint8_t zero_page[MIG_PAGE_SIZE];

bool mig_page_is_zero(const void *page)
{
	/* glibc's memcmp is vectorised; the zero page stays in L1. */
	return memcmp(page, zero_page, MIG_PAGE_SIZE) == 0;
}

int mig_enc_init(struct mig_enc *e, const struct mig_enc_params *p)
{
	memset(e, 0, sizeof(*e));
	e->p = *p;
	if (!e->p.max_iov)
		e->p.max_iov = ENC_MAX_IOV;
	if (!e->p.batch_bytes)
		e->p.batch_bytes = ENC_BATCH_BYTES;
	if (!e->p.run_pages)
		e->p.run_pages = MIG_RUN_MAX_PAGES;
	if (e->p.max_iov < 2 || e->p.max_iov > ENC_MAX_IOV || e->p.run_pages > MIG_RUN_MAX_PAGES ||
	    e->p.ram_size % MIG_PAGE_SIZE)
		return -EINVAL;
	/*
	 * Every record takes at most one iovec of header; DATA records add a
	 * sum per page, and pages are queued only while under batch_bytes.
	 */
	e->arena_cap = (size_t)e->p.max_iov * MIG_FIXED_MAX +
		       (e->p.batch_bytes / MIG_PAGE_SIZE + e->p.run_pages) * 8;
	e->zero_sum = htole64(mig_digest_page_hash(zero_page, MIG_PAGE_SIZE));
	e->iov = calloc(e->p.max_iov, sizeof(*e->iov));
	e->arena = malloc(e->arena_cap);
	if (!e->iov || !e->arena) {
		mig_enc_free(e);
		return -ENOMEM;
	}
	return 0;
}

void mig_enc_free(struct mig_enc *e)
{
	free(e->iov);
	free(e->arena);
	e->iov = NULL;
	e->arena = NULL;
}

/* Room for one record of a header of hlen bytes and maybe a payload iovec. */
static bool room(const struct mig_enc *e, size_t hlen, bool payload)
{
	return e->niov + 1 + payload <= e->p.max_iov && e->arena_used + hlen <= e->arena_cap;
}

static void push_iov(struct mig_enc *e, const void *base, size_t len)
{
	struct iovec *last = e->niov > e->sent ? &e->iov[e->niov - 1] : NULL;

	if (len == 0)
		return;
	if (last && (const uint8_t *)last->iov_base + last->iov_len == (const uint8_t *)base) {
		last->iov_len += len;
	} else {
		e->iov[e->niov].iov_base = (void *)base;
		e->iov[e->niov].iov_len = len;
		e->niov++;
	}
	e->queued += len;
	e->st.bytes += len;
}

/* A zeroed header of hlen bytes in the arena, with its type and length. */
static uint8_t *new_rec(struct mig_enc *e, uint32_t type, size_t hlen, uint64_t payload)
{
	uint8_t *h = e->arena + e->arena_used;

	memset(h, 0, hlen);
	mig_put32(h + MIG_REC_OFF_TYPE, type);
	mig_put32(h + MIG_REC_OFF_LEN, (uint32_t)(hlen - MIG_REC_HEAD + payload));
	return h;
}

/* Seal the header, queue it (and the payload). */
static void queue_rec(struct mig_enc *e, uint8_t *h, size_t hlen, const void *payload, size_t plen)
{
	mig_rec_seal(h, hlen);
	e->arena_used += hlen;
	push_iov(e, h, hlen);
	push_iov(e, payload, plen);
	e->st.records++;
}

int mig_enc_header(struct mig_enc *e)
{
	uint8_t *h;

	if (e->phase != PH_HEADER)
		return -EPROTO;
	if (!room(e, MIG_HDR_SIZE, false))
		return -ENOBUFS;
	h = e->arena + e->arena_used;
	memcpy(h, MIG_MAGIC, 8);
	mig_put32(h + MIG_HDR_OFF_VERSION, MIG_STREAM_VERSION);
	mig_put32(h + MIG_HDR_OFF_FLAGS, 0);
	e->arena_used += MIG_HDR_SIZE;
	push_iov(e, h, MIG_HDR_SIZE);
	e->phase = PH_CONFIG;
	return 0;
}

int mig_enc_config(struct mig_enc *e, const struct mig_config *c)
{
	unsigned int off;
	char msg[128];
	uint8_t *h;

	if (e->phase != PH_CONFIG)
		return -EPROTO;
	if (mig_config_check_at(c, &off, msg, sizeof(msg)) || c->ram_size != e->p.ram_size)
		return -EINVAL;
	if (!room(e, MIG_CFG_SIZE, false))
		return -ENOBUFS;
	h = new_rec(e, MIG_REC_CONFIG, MIG_CFG_SIZE, 0);
	mig_put32(h + MIG_CFG_OFF_PAGE_SIZE, c->page_size);
	mig_put32(h + MIG_CFG_OFF_NCPUS, c->ncpus);
	mig_put64(h + MIG_CFG_OFF_RAM_SIZE, c->ram_size);
	mig_put32(h + MIG_CFG_OFF_RING, c->ring_entries);
	mig_put32(h + MIG_CFG_OFF_TSC_KHZ, c->tsc_khz);
	mig_put64(h + MIG_CFG_OFF_STATS_GPA, c->stats_gpa);
	mig_put64(h + MIG_CFG_OFF_STATS_SIZE, c->stats_size);
	mig_put32(h + MIG_CFG_OFF_DIGEST_CHUNK, c->digest_chunk);
	queue_rec(e, h, MIG_CFG_SIZE, NULL, 0);
	e->phase = PH_ROUNDS;
	return 0;
}

int mig_enc_round_begin(struct mig_enc *e, bool final)
{
	uint8_t *h;

	if (e->phase != PH_ROUNDS || e->round == UINT32_MAX)
		return -EPROTO;
	if (!room(e, MIG_RB_SIZE, false))
		return -ENOBUFS;
	h = new_rec(e, MIG_REC_ROUND_BEGIN, MIG_RB_SIZE, 0);
	mig_put32(h + MIG_RB_OFF_ROUND, e->round);
	mig_put32(h + MIG_RB_OFF_FLAGS, final ? MIG_RB_FINAL : 0);
	queue_rec(e, h, MIG_RB_SIZE, NULL, 0);
	e->final = final;
	e->round_data = 0;
	e->round_zero = 0;
	e->phase = PH_IN_ROUND;
	return 0;
}

static void queue_zero(struct mig_enc *e, uint64_t first, uint64_t n)
{
	uint8_t *h = new_rec(e, MIG_REC_ZERO, MIG_ZERO_SIZE, 0);

	mig_put64(h + MIG_PG_OFF_FIRST, first);
	mig_put32(h + MIG_PG_OFF_NPAGES, (uint32_t)n);
	queue_rec(e, h, MIG_ZERO_SIZE, NULL, 0);
	e->round_zero += n;
	e->st.zero_pages += n;
}

/*
 * The fixed part, then the sums (in the arena, one iovec), then the pages
 * (from RAM).  The sums are copied to hashes (if not NULL) too.
 */
static void queue_data(struct mig_enc *e, uint64_t first, uint64_t n, uint64_t *hashes)
{
	const uint8_t *data = e->p.ram + first * MIG_PAGE_SIZE;
	uint8_t *h = new_rec(e, MIG_REC_DATA, MIG_DATA_SIZE, n * MIG_DATA_PER_PAGE);
	uint8_t *sums = h + MIG_DATA_SIZE;
	uint64_t i;

	for (i = 0; i < n; i++)
		mig_put64(sums + 8 * i,
			  mig_digest_page_hash(data + i * MIG_PAGE_SIZE, MIG_PAGE_SIZE));
	if (hashes)
		memcpy(hashes, sums, n * 8);
	mig_put64(h + MIG_PG_OFF_FIRST, first);
	mig_put32(h + MIG_PG_OFF_NPAGES, (uint32_t)n);
	mig_put64(h + MIG_DATA_OFF_SUMS, XXH3_64bits(sums, n * 8));
	mig_rec_seal(h, MIG_DATA_SIZE);
	e->arena_used += MIG_DATA_SIZE + n * 8;
	push_iov(e, h, MIG_DATA_SIZE + n * 8);
	push_iov(e, data, n * MIG_PAGE_SIZE);
	e->st.records++;
	e->round_data += n;
	e->st.data_pages += n;
}

long mig_enc_pages(struct mig_enc *e, uint64_t first, uint64_t n)
{
	return mig_enc_pages_hashed(e, first, n, NULL);
}

long mig_enc_pages_hashed(struct mig_enc *e, uint64_t first, uint64_t n, uint64_t *hashes)
{
	const uint64_t npages = e->p.ram_size / MIG_PAGE_SIZE;
	uint64_t i = first, end;

	if (e->phase != PH_IN_ROUND || first > npages || n > npages - first || n > LONG_MAX)
		return -EPROTO;
	end = first + n;
	while (i < end) {
		const uint8_t *p = e->p.ram + i * MIG_PAGE_SIZE;
		uint64_t j = i + 1;

		if (e->queued >= e->p.batch_bytes ||
		    !room(e, MIG_DATA_SIZE + 8 * (size_t)e->p.run_pages, true))
			break;
		if (mig_page_is_zero(p)) {
			while (j < end && j - i < UINT32_MAX &&
			       mig_page_is_zero(e->p.ram + j * MIG_PAGE_SIZE))
				j++;
			queue_zero(e, i, j - i);
			for (uint64_t k = i; hashes && k < j; k++)
				hashes[k - first] = e->zero_sum;
		} else {
			while (j < end && j - i < e->p.run_pages &&
			       !mig_page_is_zero(e->p.ram + j * MIG_PAGE_SIZE))
				j++;
			queue_data(e, i, j - i, hashes ? hashes + (i - first) : NULL);
		}
		i = j;
	}
	return (long)(i - first);
}

int mig_enc_zero(struct mig_enc *e, uint64_t first, uint64_t n)
{
	const uint64_t npages = e->p.ram_size / MIG_PAGE_SIZE;

	if (e->phase != PH_IN_ROUND || n == 0 || n > UINT32_MAX || first > npages ||
	    n > npages - first)
		return -EPROTO;
	if (!room(e, MIG_ZERO_SIZE, false))
		return -ENOBUFS;
	queue_zero(e, first, n);
	return 0;
}

int mig_enc_round_end(struct mig_enc *e)
{
	uint8_t *h;

	if (e->phase != PH_IN_ROUND)
		return -EPROTO;
	if (!room(e, MIG_RE_SIZE, false))
		return -ENOBUFS;
	h = new_rec(e, MIG_REC_ROUND_END, MIG_RE_SIZE, 0);
	mig_put32(h + MIG_RE_OFF_ROUND, e->round);
	mig_put64(h + MIG_RE_OFF_DATA, e->round_data);
	mig_put64(h + MIG_RE_OFF_ZERO, e->round_zero);
	queue_rec(e, h, MIG_RE_SIZE, NULL, 0);
	e->round++;
	e->phase = e->final ? PH_SECTIONS : PH_ROUNDS;
	return 0;
}

int mig_enc_section(struct mig_enc *e, uint32_t id, uint32_t instance, uint32_t version,
		    const void *data, uint32_t len)
{
	uint8_t *h;

	if (e->phase != PH_SECTIONS || len > MIG_MAX_SECTION || e->sections == UINT32_MAX)
		return -EPROTO;
	if (!room(e, MIG_SEC_SIZE, true))
		return -ENOBUFS;
	h = new_rec(e, MIG_REC_SECTION, MIG_SEC_SIZE, len);
	mig_put32(h + MIG_SEC_OFF_ID, id);
	mig_put32(h + MIG_SEC_OFF_INSTANCE, instance);
	mig_put32(h + MIG_SEC_OFF_VERSION, version);
	mig_put32(h + MIG_SEC_OFF_LENGTH, len);
	mig_put64(h + MIG_SEC_OFF_CHECK, XXH3_64bits(data, len));
	queue_rec(e, h, MIG_SEC_SIZE, data, len);
	e->sections++;
	return 0;
}

int mig_enc_end(struct mig_enc *e, const uint8_t digest[MIG_DIGEST_LEN])
{
	uint8_t *h;

	if (e->phase != PH_SECTIONS)
		return -EPROTO;
	if (!room(e, MIG_END_SIZE, false))
		return -ENOBUFS;
	h = new_rec(e, MIG_REC_END, MIG_END_SIZE, 0);
	mig_put32(h + MIG_END_OFF_ROUNDS, e->round);
	mig_put32(h + MIG_END_OFF_SECTIONS, e->sections);
	memcpy(h + MIG_END_OFF_DIGEST, digest, MIG_DIGEST_LEN);
	queue_rec(e, h, MIG_END_SIZE, NULL, 0);
	e->phase = PH_DONE;
	return 0;
}

const struct iovec *mig_enc_iov(struct mig_enc *e, int *n)
{
	*n = (int)(e->niov - e->sent);
	return *n ? &e->iov[e->sent] : NULL;
}

size_t mig_enc_queued(const struct mig_enc *e)
{
	return e->queued;
}

void mig_enc_advance(struct mig_enc *e, size_t n)
{
	if (n > e->queued)
		n = e->queued;
	e->queued -= n;
	while (n && e->sent < e->niov) {
		struct iovec *v = &e->iov[e->sent];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			n = 0;
		} else {
			n -= v->iov_len;
			e->sent++;
		}
	}
	if (e->sent == e->niov) {
		/* All sent: the arena and the iovecs start over. */
		e->sent = e->niov = 0;
		e->arena_used = 0;
	}
}

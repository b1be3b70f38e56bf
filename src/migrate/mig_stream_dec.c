// SPDX-License-Identifier: MIT
/*
 * mig_stream decoder: an incremental state machine over hostile bytes.
 *
 * Every record goes through the same steps: its 8-byte head (type and
 * length checked against the type and the grammar before anything else is
 * read), its fixed part (checksum, then each field), then its payload, if
 * any, straight to where it belongs: page data into guest RAM at a checked
 * place, section bytes into a buffer bounded by the section's maximum.
 * The first problem stops the decoder for good with one error.
 *
 * Allocations: the bitmaps and the digest table are sized from the RAM
 * size, after it is checked against params.max_ram; the section buffer and
 * seen-maps from the caller's section table (bounded by MIG_MAX_*).
 */
#include "migrate/mig_stream.h"
#include "migrate/mig_stream_wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <xxhash.h>

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
	uint8_t *data_dst;  /* where the next byte goes */
	size_t data_left;   /* bytes still to come */
	uint32_t data_done; /* pages checked */

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
	bool page_chunks; /* digest chunks are pages: page sums are digest hashes */

	uint32_t round;
	bool final;
	uint64_t round_data, round_zero;
	struct mig_dec_stats st;
	struct mig_error err;
};

/* ---- bitmaps (one bit per page) ---- */

static uint64_t *bitmap_new(uint64_t nbits, bool ones)
{
	size_t words = (size_t)((nbits + 63) / 64) + 1; /* never 0 */
	uint64_t *b = malloc(words * 8);

	if (b)
		memset(b, ones ? 0xff : 0, words * 8);
	return b;
}

/* Set or clear bits [first, first + n); returns how many changed. */
static uint64_t bitmap_assign(uint64_t *b, uint64_t first, uint64_t n, bool set)
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
static uint64_t bitmap_next(const uint64_t *b, uint64_t first, uint64_t end)
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

/* ---- errors ---- */

#define FAIL(d, code, off, ...)                                                                    \
	do {                                                                                       \
		mig_fail(&(d)->err, (code), (off), __VA_ARGS__);                                   \
		(d)->state = ST_ERROR;                                                             \
		return -1;                                                                         \
	} while (0)

/* A hook refused: its message, prefixed, at the record's offset. */
static int hook_failed(struct mig_dec *d, enum mig_err code, const char *what, const char *msg)
{
	mig_fail(&d->err, code, d->rec_off, "%s: %s", what, msg[0] ? msg : "refused");
	d->state = ST_ERROR;
	return -1;
}

/* ---- set-up ---- */

struct mig_dec *mig_dec_new(const struct mig_dec_params *p)
{
	struct mig_dec *d;

	if (!p || !p->ops || !p->ops->config)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->p = *p;
	if (d->p.max_ram == 0 || d->p.max_ram > MIG_MAX_RAM)
		d->p.max_ram = MIG_MAX_RAM;
	d->state = ST_HEADER;
	d->need = MIG_HDR_SIZE;
	if (mig_dec_set_sections(d, p->sections, p->nsections)) {
		mig_dec_free(d);
		return NULL;
	}
	return d;
}

static void free_seen(struct mig_dec *d)
{
	unsigned int i;

	for (i = 0; i < MIG_MAX_SECTION_KIND; i++) {
		free(d->seen[i]);
		d->seen[i] = NULL;
	}
}

void mig_dec_free(struct mig_dec *d)
{
	if (!d)
		return;
	free_seen(d);
	free(d->secbuf);
	free(d->maybe_nonzero);
	free(d->pending);
	if (d->have_dg)
		mig_digest_free(&d->dg);
	free(d);
}

int mig_dec_set_sections(struct mig_dec *d, const struct mig_section_spec *s, unsigned int n)
{
	unsigned int i, j;

	if (d->st.sections)
		return -EBUSY;
	if (n > MIG_MAX_SECTION_KIND || (n && !s))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i].instances == 0 || s[i].instances > MIG_MAX_INSTANCES ||
		    s[i].max_len > MIG_MAX_SECTION)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (s[j].id == s[i].id)
				return -EINVAL;
	}
	free_seen(d);
	for (i = 0; i < n; i++) {
		d->seen[i] = bitmap_new(s[i].instances, false);
		if (!d->seen[i]) {
			free_seen(d);
			d->nspecs = 0;
			return -ENOMEM;
		}
		d->specs[i] = s[i];
		if (!d->specs[i].name)
			d->specs[i].name = "section";
	}
	d->nspecs = n;
	return 0;
}

int mig_dec_set_ram(struct mig_dec *d, uint8_t *ram, uint64_t size)
{
	if (!d->have_cfg || !ram || size != d->cfg.ram_size || d->ram)
		return -EINVAL;
	d->ram = ram;
	return 0;
}

struct mig_digest *mig_dec_digest(struct mig_dec *d)
{
	return d->have_dg ? &d->dg : NULL;
}

bool mig_dec_done(const struct mig_dec *d)
{
	return d->state == ST_DONE;
}

const struct mig_error *mig_dec_error(const struct mig_dec *d)
{
	return &d->err;
}

const struct mig_dec_stats *mig_dec_stats(const struct mig_dec *d)
{
	return &d->st;
}

const struct mig_config *mig_dec_config(const struct mig_dec *d)
{
	return d->have_cfg ? &d->cfg : NULL;
}

/* ---- records ---- */

static const char *phase_wants(enum dec_phase ph)
{
	switch (ph) {
	case PH_CONFIG:
		return "CONFIG";
	case PH_ROUNDS:
		return "ROUND_BEGIN";
	case PH_IN_ROUND:
		return "DATA, ZERO or ROUND_END";
	case PH_SECTIONS:
		return "SECTION or END";
	case PH_END:
		break;
	}
	return "nothing";
}

static bool allowed(enum dec_phase ph, uint32_t type)
{
	switch (type) {
	case MIG_REC_CONFIG:
		return ph == PH_CONFIG;
	case MIG_REC_ROUND_BEGIN:
		return ph == PH_ROUNDS;
	case MIG_REC_DATA:
	case MIG_REC_ZERO:
	case MIG_REC_ROUND_END:
		return ph == PH_IN_ROUND;
	case MIG_REC_SECTION:
	case MIG_REC_END:
		return ph == PH_SECTIONS;
	}
	return false;
}

/* The 8-byte head: type and length, before reading any further. */
static int on_head(struct mig_dec *d)
{
	uint32_t type = mig_get32(d->buf + MIG_REC_OFF_TYPE);
	uint32_t len = mig_get32(d->buf + MIG_REC_OFF_LEN);
	size_t fixed = mig_rec_fixed(type);
	uint64_t extra;
	bool ok;

	if (fixed == 0 || type == MIG_REC_ACK || type == MIG_REC_ERROR)
		FAIL(d, MIG_E_TYPE, d->rec_off, "unknown record type %" PRIu32, type);
	if (!allowed(d->phase, type))
		FAIL(d, MIG_E_ORDER, d->rec_off, "%s record where the stream expects %s",
		     mig_rec_name(type), phase_wants(d->phase));
	extra = len < fixed - MIG_REC_HEAD ? 0 : len - (fixed - MIG_REC_HEAD);
	switch (type) {
	case MIG_REC_DATA:
		ok = len >= fixed - MIG_REC_HEAD && extra >= MIG_DATA_PER_PAGE &&
		     extra <= (uint64_t)MIG_RUN_MAX_PAGES * MIG_DATA_PER_PAGE &&
		     extra % MIG_DATA_PER_PAGE == 0;
		break;
	case MIG_REC_SECTION:
		ok = len >= fixed - MIG_REC_HEAD && extra <= MIG_MAX_SECTION;
		break;
	default:
		ok = len == fixed - MIG_REC_HEAD;
	}
	if (!ok)
		FAIL(d, MIG_E_LENGTH, d->rec_off + MIG_REC_OFF_LEN, "%s record of length %" PRIu32,
		     mig_rec_name(type), len);
	d->rec_type = type;
	d->rec_len = len;
	d->need = fixed;
	d->state = ST_FIXED;
	return 0;
}

static int on_config(struct mig_dec *d)
{
	const uint8_t *b = d->buf;
	struct mig_config c = {
	    .page_size = mig_get32(b + MIG_CFG_OFF_PAGE_SIZE),
	    .ncpus = mig_get32(b + MIG_CFG_OFF_NCPUS),
	    .ram_size = mig_get64(b + MIG_CFG_OFF_RAM_SIZE),
	    .ring_entries = mig_get32(b + MIG_CFG_OFF_RING),
	    .tsc_khz = mig_get32(b + MIG_CFG_OFF_TSC_KHZ),
	    .stats_gpa = mig_get64(b + MIG_CFG_OFF_STATS_GPA),
	    .stats_size = mig_get64(b + MIG_CFG_OFF_STATS_SIZE),
	    .digest_chunk = mig_get32(b + MIG_CFG_OFF_DIGEST_CHUNK),
	};
	unsigned int off = 0;
	char msg[200] = "";

	if (mig_config_check_at(&c, &off, msg, sizeof(msg)))
		FAIL(d, MIG_E_FIELD, d->rec_off + off, "CONFIG: %s", msg);
	if (mig_get32(b + MIG_CFG_OFF_FLAGS))
		FAIL(d, MIG_E_FIELD, d->rec_off + MIG_CFG_OFF_FLAGS, "CONFIG: flags 0x%" PRIx32,
		     mig_get32(b + MIG_CFG_OFF_FLAGS));
	if (c.ram_size > d->p.max_ram)
		FAIL(d, MIG_E_CONFIG, d->rec_off + MIG_CFG_OFF_RAM_SIZE,
		     "the guest has %" PRIu64
		     " MiB of RAM, more than this destination takes (%" PRIu64 " MiB)",
		     c.ram_size >> 20, d->p.max_ram >> 20);
	d->cfg = c;
	d->have_cfg = true;
	d->npages = c.ram_size / MIG_PAGE_SIZE;
	if (d->p.ops->config(d->p.opaque, d, &c, msg, sizeof(msg)))
		return hook_failed(d, MIG_E_CONFIG, "configuration refused", msg);
	if (!d->ram)
		FAIL(d, MIG_E_STATE, d->rec_off, "the config hook gave no guest memory");
	if (mig_digest_init(&d->dg, c.ram_size, c.digest_chunk))
		FAIL(d, MIG_E_LOCAL, d->rec_off, "no memory for the digest table");
	d->have_dg = true;
	d->page_chunks = c.digest_chunk == MIG_PAGE_SIZE;
	d->maybe_nonzero = bitmap_new(d->npages, !d->p.ram_zeroed);
	d->pending = bitmap_new(d->npages, false);
	if (!d->maybe_nonzero || !d->pending)
		FAIL(d, MIG_E_LOCAL, d->rec_off, "no memory for the page maps");
	/* Fresh memory is zeros: its hash is known without reading it. */
	if (d->p.ram_zeroed)
		mig_digest_set_zero(&d->dg, 0, c.ram_size);
	d->phase = PH_ROUNDS;
	return 0;
}

static int on_round_begin(struct mig_dec *d)
{
	uint32_t round = mig_get32(d->buf + MIG_RB_OFF_ROUND);
	uint32_t flags = mig_get32(d->buf + MIG_RB_OFF_FLAGS);
	struct mig_round r;
	char msg[200] = "";

	if (round != d->st.rounds)
		FAIL(d, MIG_E_ROUND, d->rec_off + MIG_RB_OFF_ROUND,
		     "ROUND_BEGIN of round %" PRIu32 ", expected round %" PRIu32, round,
		     d->st.rounds);
	if (flags & ~MIG_RB_FINAL)
		FAIL(d, MIG_E_FIELD, d->rec_off + MIG_RB_OFF_FLAGS, "ROUND_BEGIN: flags 0x%" PRIx32,
		     flags);
	if (round == UINT32_MAX)
		FAIL(d, MIG_E_ROUND, d->rec_off + MIG_RB_OFF_ROUND, "too many rounds");
	d->round = round;
	d->final = flags & MIG_RB_FINAL;
	d->round_data = d->round_zero = 0;
	d->phase = PH_IN_ROUND;
	r = (struct mig_round){.round = round, .final = d->final};
	if (d->p.ops->round_begin && d->p.ops->round_begin(d->p.opaque, &r, msg, sizeof(msg)))
		return hook_failed(d, MIG_E_LOCAL, "round start", msg);
	return 0;
}

/* DATA and ZERO: a run of pages inside RAM. */
static int check_run(struct mig_dec *d, uint64_t *first, uint32_t *n)
{
	const char *name = mig_rec_name(d->rec_type);

	*first = mig_get64(d->buf + MIG_PG_OFF_FIRST);
	*n = mig_get32(d->buf + MIG_PG_OFF_NPAGES);
	if (*n == 0 || (d->rec_type == MIG_REC_DATA && *n > MIG_RUN_MAX_PAGES))
		FAIL(d, MIG_E_RANGE, d->rec_off + MIG_PG_OFF_NPAGES,
		     "%s record of %" PRIu32 " pages", name, *n);
	if (mig_get32(d->buf + MIG_PG_OFF_RESERVED))
		FAIL(d, MIG_E_FIELD, d->rec_off + MIG_PG_OFF_RESERVED,
		     "%s record: reserved field 0x%" PRIx32, name,
		     mig_get32(d->buf + MIG_PG_OFF_RESERVED));
	if (!d->ram)
		FAIL(d, MIG_E_STATE, d->rec_off, "%s record before guest memory was given", name);
	if (*first >= d->npages || *n > d->npages - *first)
		FAIL(d, MIG_E_RANGE, d->rec_off + MIG_PG_OFF_FIRST,
		     "%s record of pages %" PRIu64 "+%" PRIu32 " beyond guest RAM (%" PRIu64
		     " pages)",
		     name, *first, *n, d->npages);
	return 0;
}

static int on_data(struct mig_dec *d)
{
	uint64_t first;
	uint32_t n = mig_get32(d->buf + MIG_PG_OFF_NPAGES);

	/* Framing first: the length must be that of the count (check_run() judges the count). */
	if (n && n <= MIG_RUN_MAX_PAGES &&
	    d->rec_len != MIG_DATA_SIZE - MIG_REC_HEAD + (uint64_t)n * MIG_DATA_PER_PAGE)
		FAIL(d, MIG_E_LENGTH, d->rec_off + MIG_REC_OFF_LEN,
		     "DATA record of length %" PRIu32 " for %" PRIu32 " pages", d->rec_len, n);
	if (check_run(d, &first, &n))
		return -1;
	d->data_first = first;
	d->data_n = n;
	d->sums_check = mig_get64(d->buf + MIG_DATA_OFF_SUMS);
	d->sums_have = 0;
	d->state = ST_SUMS;
	return 0;
}

static int sums_done(struct mig_dec *d)
{
	if (XXH3_64bits(d->sums, (size_t)d->data_n * 8) != d->sums_check)
		FAIL(d, MIG_E_CHECK, d->rec_off + MIG_DATA_SIZE,
		     "DATA record of pages %" PRIu64 "+%" PRIu32 ": its page sums are damaged",
		     d->data_first, d->data_n);
	d->data_dst = d->ram + d->data_first * MIG_PAGE_SIZE;
	d->data_left = (size_t)d->data_n * MIG_PAGE_SIZE;
	d->data_done = 0;
	d->state = ST_DATA;
	return 0;
}

/*
 * Check the pages that are complete, while they are still in the cache.
 * In a live round a page may change between the source's sum and the
 * kernel's copy: the guest wrote it, so the dirty tracker sends it again.
 * Such a page stays pending until then; the end record fails if it never
 * comes.  In the final round the guest is stopped: a bad page is an error.
 */
static int check_pages(struct mig_dec *d)
{
	uint32_t full = d->data_n - (uint32_t)((d->data_left + MIG_PAGE_SIZE - 1) / MIG_PAGE_SIZE);

	for (; d->data_done < full; d->data_done++) {
		uint64_t pg = d->data_first + d->data_done;
		uint64_t h = mig_digest_chunk_hash(d->ram + pg * MIG_PAGE_SIZE, MIG_PAGE_SIZE);

		if (h == mig_get64(d->sums + 8 * (size_t)d->data_done)) {
			d->npending -= bitmap_assign(d->pending, pg, 1, false);
			/* Hashed from our RAM just now: the page's digest hash too. */
			if (d->page_chunks)
				mig_digest_set(&d->dg, pg, h);
			continue;
		}
		if (d->page_chunks)
			mig_digest_set_stale(&d->dg, pg * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
		if (d->final)
			FAIL(d, MIG_E_DATA_CHECK,
			     d->rec_off + MIG_DATA_SIZE + (uint64_t)d->data_n * 8 +
				 (uint64_t)d->data_done * MIG_PAGE_SIZE,
			     "page %" PRIu64 ": checksum mismatch in the final round", pg);
		d->npending += bitmap_assign(d->pending, pg, 1, true);
		d->st.torn_pages++;
	}
	return 0;
}

/* The pages of a DATA record are all in RAM and checked. */
static void data_done(struct mig_dec *d)
{
	uint64_t first = d->data_first, n = d->data_n;

	bitmap_assign(d->maybe_nonzero, first, n, true);
	if (!d->page_chunks)
		mig_digest_set_stale(&d->dg, first * MIG_PAGE_SIZE, n * MIG_PAGE_SIZE);
	d->round_data += n;
	d->st.data_pages += n;
	d->state = ST_HEAD;
	d->need = MIG_REC_HEAD;
}

static int on_zero(struct mig_dec *d)
{
	uint64_t first, i, end;
	uint32_t n;

	if (check_run(d, &first, &n))
		return -1;
	end = first + n;
	/* Only pages that may hold data are read; fresh memory is not touched. */
	for (i = bitmap_next(d->maybe_nonzero, first, end); i < end;
	     i = bitmap_next(d->maybe_nonzero, i + 1, end)) {
		uint8_t *page = d->ram + i * MIG_PAGE_SIZE;

		if (!mig_page_is_zero(page)) {
			memset(page, 0, MIG_PAGE_SIZE);
			mig_digest_set_stale(&d->dg, i * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
			d->st.zeroed_pages++;
		}
		if (d->page_chunks)
			mig_digest_set(&d->dg, i, mig_digest_zero_hash(&d->dg, i));
	}
	bitmap_assign(d->maybe_nonzero, first, n, false);
	d->npending -= bitmap_assign(d->pending, first, n, false);
	d->round_zero += n;
	d->st.zero_pages += n;
	return 0;
}

static int on_round_end(struct mig_dec *d)
{
	uint32_t round = mig_get32(d->buf + MIG_RE_OFF_ROUND);
	uint64_t data = mig_get64(d->buf + MIG_RE_OFF_DATA);
	uint64_t zero = mig_get64(d->buf + MIG_RE_OFF_ZERO);
	struct mig_round r;
	char msg[200] = "";

	if (round != d->round)
		FAIL(d, MIG_E_ROUND, d->rec_off + MIG_RE_OFF_ROUND,
		     "ROUND_END of round %" PRIu32 " inside round %" PRIu32, round, d->round);
	if (mig_get32(d->buf + MIG_RE_OFF_RESERVED))
		FAIL(d, MIG_E_FIELD, d->rec_off + MIG_RE_OFF_RESERVED,
		     "ROUND_END: reserved field 0x%" PRIx32,
		     mig_get32(d->buf + MIG_RE_OFF_RESERVED));
	if (data != d->round_data)
		FAIL(d, MIG_E_ROUND, d->rec_off + MIG_RE_OFF_DATA,
		     "round %" PRIu32 " ends claiming %" PRIu64 " data pages, %" PRIu64 " arrived",
		     round, data, d->round_data);
	if (zero != d->round_zero)
		FAIL(d, MIG_E_ROUND, d->rec_off + MIG_RE_OFF_ZERO,
		     "round %" PRIu32 " ends claiming %" PRIu64 " zero pages, %" PRIu64 " arrived",
		     round, zero, d->round_zero);
	d->st.rounds++;
	d->phase = d->final ? PH_SECTIONS : PH_ROUNDS;
	r = (struct mig_round){
	    .round = round, .final = d->final, .data_pages = data, .zero_pages = zero};
	if (d->p.ops->round_end && d->p.ops->round_end(d->p.opaque, &r, msg, sizeof(msg)))
		return hook_failed(d, MIG_E_LOCAL, "round end", msg);
	return 0;
}

static int on_section(struct mig_dec *d)
{
	uint32_t id = mig_get32(d->buf + MIG_SEC_OFF_ID);
	uint32_t inst = mig_get32(d->buf + MIG_SEC_OFF_INSTANCE);
	uint32_t len = mig_get32(d->buf + MIG_SEC_OFF_LENGTH);
	const struct mig_section_spec *s = NULL;
	unsigned int i;

	for (i = 0; i < d->nspecs && !s; i++)
		if (d->specs[i].id == id)
			s = &d->specs[i];
	if (!s)
		FAIL(d, MIG_E_SECTION, d->rec_off + MIG_SEC_OFF_ID, "unknown section id %" PRIu32,
		     id);
	i = (unsigned int)(s - d->specs);
	if (inst >= s->instances)
		FAIL(d, MIG_E_SECTION, d->rec_off + MIG_SEC_OFF_INSTANCE,
		     "%s section instance %" PRIu32 " (this destination has %" PRIu32 ")", s->name,
		     inst, s->instances);
	if (len > s->max_len)
		FAIL(d, MIG_E_SECTION, d->rec_off + MIG_SEC_OFF_LENGTH,
		     "%s section %" PRIu32 " of %" PRIu32 " bytes (at most %" PRIu32 ")", s->name,
		     inst, len, s->max_len);
	if (d->rec_len != MIG_SEC_SIZE - MIG_REC_HEAD + (uint64_t)len)
		FAIL(d, MIG_E_LENGTH, d->rec_off + MIG_REC_OFF_LEN,
		     "SECTION record of length %" PRIu32 " for %" PRIu32 " bytes", d->rec_len, len);
	if (d->seen[i][inst / 64] >> (inst % 64) & 1)
		FAIL(d, MIG_E_SECTION, d->rec_off + MIG_SEC_OFF_INSTANCE,
		     "%s section %" PRIu32 " sent twice", s->name, inst);
	if (len > d->seccap) {
		/* The largest section of the table, once: bounded by MIG_MAX_SECTION. */
		size_t cap = 0;
		unsigned int k;

		for (k = 0; k < d->nspecs; k++)
			cap = d->specs[k].max_len > cap ? d->specs[k].max_len : cap;
		free(d->secbuf);
		d->secbuf = malloc(cap);
		d->seccap = d->secbuf ? cap : 0;
		if (!d->secbuf)
			FAIL(d, MIG_E_LOCAL, d->rec_off, "no memory for a %" PRIu32 "-byte section",
			     len);
	}
	d->sec = (struct mig_section){
	    .id = id,
	    .instance = inst,
	    .version = mig_get32(d->buf + MIG_SEC_OFF_VERSION),
	    .len = len,
	    .data = d->secbuf,
	    .spec = s,
	};
	d->sec_spec = i;
	d->sec_check = mig_get64(d->buf + MIG_SEC_OFF_CHECK);
	d->sec_have = 0;
	d->state = ST_SECDATA;
	return 0;
}

static int section_done(struct mig_dec *d)
{
	const struct mig_section *s = &d->sec;
	char msg[200] = "";

	if (XXH3_64bits(d->secbuf, s->len) != d->sec_check)
		FAIL(d, MIG_E_DATA_CHECK, d->rec_off + MIG_SEC_SIZE,
		     "%s section %" PRIu32 ": checksum mismatch", s->spec->name, s->instance);
	d->seen[d->sec_spec][s->instance / 64] |= 1ull << (s->instance % 64);
	d->st.sections++;
	if (d->p.ops->section && d->p.ops->section(d->p.opaque, s, msg, sizeof(msg)))
		return hook_failed(d, MIG_E_LOAD, s->spec->name, msg);
	d->state = ST_HEAD;
	d->need = MIG_REC_HEAD;
	return 0;
}

static int on_end(struct mig_dec *d)
{
	struct mig_end e = {
	    .rounds = mig_get32(d->buf + MIG_END_OFF_ROUNDS),
	    .sections = mig_get32(d->buf + MIG_END_OFF_SECTIONS),
	};
	uint8_t mine[MIG_DIGEST_LEN];
	char msg[200] = "", a[40], b[40];
	unsigned int i;

	memcpy(e.digest, d->buf + MIG_END_OFF_DIGEST, MIG_DIGEST_LEN);
	if (e.rounds != d->st.rounds)
		FAIL(d, MIG_E_ROUND, d->rec_off + MIG_END_OFF_ROUNDS,
		     "END claims %" PRIu32 " rounds, %" PRIu32 " arrived", e.rounds, d->st.rounds);
	if (e.sections != d->st.sections)
		FAIL(d, MIG_E_SECTION, d->rec_off + MIG_END_OFF_SECTIONS,
		     "END claims %" PRIu32 " sections, %" PRIu32 " arrived", e.sections,
		     d->st.sections);
	if (d->npending)
		FAIL(d, MIG_E_UNREPAIRED, d->rec_off,
		     "%" PRIu64
		     " pages failed their checksum and were never sent again (first: page %" PRIu64
		     ")",
		     d->npending, bitmap_next(d->pending, 0, d->npages));
	for (i = 0; i < d->nspecs; i++) {
		const struct mig_section_spec *s = &d->specs[i];
		uint64_t miss;

		if (!s->required)
			continue;
		/* The first instance not seen: the first zero bit. */
		for (miss = 0; miss < s->instances; miss++)
			if (!(d->seen[i][miss / 64] >> (miss % 64) & 1))
				break;
		if (miss < s->instances)
			FAIL(d, MIG_E_SECTION, d->rec_off, "%s section %" PRIu64 " never arrived",
			     s->name, miss);
	}
	if (d->p.ops->end && d->p.ops->end(d->p.opaque, &e, msg, sizeof(msg)))
		return hook_failed(d, MIG_E_LOCAL, "end", msg);
	d->st.digest_bytes += mig_digest_refresh(&d->dg, d->ram, 0, d->dg.nchunks);
	if (mig_digest_final(&d->dg, mine))
		FAIL(d, MIG_E_LOCAL, d->rec_off, "digest table still stale");
	if (memcmp(mine, e.digest, MIG_DIGEST_LEN)) {
		mig_digest_hex(e.digest, a);
		mig_digest_hex(mine, b);
		FAIL(d, MIG_E_DIGEST, d->rec_off + MIG_END_OFF_DIGEST,
		     "guest RAM differs from the source's: digest %s there, %s here", a, b);
	}
	d->phase = PH_END;
	d->state = ST_DONE;
	return 0;
}

/* A record's fixed part is complete. */
static int on_fixed(struct mig_dec *d)
{
	size_t fixed = d->need;
	int r;

	if (mig_get64(d->buf + fixed - 8) != mig_rec_check(d->buf, fixed))
		FAIL(d, MIG_E_CHECK, d->rec_off + fixed - 8, "%s record: checksum mismatch",
		     mig_rec_name(d->rec_type));
	d->state = ST_HEAD;
	d->need = MIG_REC_HEAD;
	switch (d->rec_type) {
	case MIG_REC_CONFIG:
		r = on_config(d);
		break;
	case MIG_REC_ROUND_BEGIN:
		r = on_round_begin(d);
		break;
	case MIG_REC_DATA:
		r = on_data(d);
		break;
	case MIG_REC_ZERO:
		r = on_zero(d);
		break;
	case MIG_REC_ROUND_END:
		r = on_round_end(d);
		break;
	case MIG_REC_SECTION:
		r = on_section(d);
		if (!r && d->sec.len == 0)
			r = section_done(d);
		break;
	default: /* MIG_REC_END: on_head() let nothing else through */
		r = on_end(d);
	}
	return r;
}

static int on_header(struct mig_dec *d)
{
	uint32_t v = mig_get32(d->buf + MIG_HDR_OFF_VERSION);

	if (memcmp(d->buf, MIG_MAGIC, 8))
		FAIL(d, MIG_E_MAGIC, 0, "not a vmm migration stream (bad magic)");
	if (v != MIG_STREAM_VERSION)
		FAIL(d, MIG_E_VERSION, MIG_HDR_OFF_VERSION,
		     "stream version %" PRIu32 ", this vmm speaks version %d", v,
		     MIG_STREAM_VERSION);
	if (mig_get32(d->buf + MIG_HDR_OFF_FLAGS))
		FAIL(d, MIG_E_FIELD, MIG_HDR_OFF_FLAGS, "stream header flags 0x%" PRIx32,
		     mig_get32(d->buf + MIG_HDR_OFF_FLAGS));
	d->state = ST_HEAD;
	d->need = MIG_REC_HEAD;
	return 0;
}

/* ---- feeding ---- */

void *mig_dec_direct(struct mig_dec *d, size_t *len)
{
	if (d->state != ST_DATA) {
		*len = 0;
		return NULL;
	}
	*len = d->data_left;
	return d->data_dst;
}

int mig_dec_commit(struct mig_dec *d, size_t n)
{
	if (d->state == ST_ERROR)
		return -1;
	if (d->state != ST_DATA || n > d->data_left)
		FAIL(d, MIG_E_STATE, d->off, "commit of %zu bytes outside page data", n);
	d->data_dst += n;
	d->data_left -= n;
	d->off += n;
	d->st.bytes += n;
	if (check_pages(d))
		return -1;
	if (d->data_left == 0)
		data_done(d);
	return 0;
}

int mig_dec_feed(struct mig_dec *d, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		size_t k;
		int r = 0;

		switch (d->state) {
		case ST_ERROR:
			return -1;
		case ST_DONE:
			FAIL(d, MIG_E_TRAILING, d->off, "%zu bytes after the end record", len);
		case ST_DATA:
			k = len < d->data_left ? len : d->data_left;
			memcpy(d->data_dst, p, k);
			p += k;
			len -= k;
			r = mig_dec_commit(d, k);
			break;
		case ST_SUMS:
			k = (size_t)d->data_n * 8 - d->sums_have;
			k = len < k ? len : k;
			memcpy(d->sums + d->sums_have, p, k);
			d->sums_have += k;
			p += k;
			len -= k;
			d->off += k;
			d->st.bytes += k;
			if (d->sums_have == (size_t)d->data_n * 8)
				r = sums_done(d);
			break;
		case ST_SECDATA:
			k = d->sec.len - d->sec_have;
			k = len < k ? len : k;
			memcpy(d->secbuf + d->sec_have, p, k);
			d->sec_have += k;
			p += k;
			len -= k;
			d->off += k;
			d->st.bytes += k;
			if (d->sec_have == d->sec.len)
				r = section_done(d);
			break;
		default: /* ST_HEADER, ST_HEAD, ST_FIXED: into buf */
			if (d->state == ST_HEAD && d->have == 0)
				d->rec_off = d->off;
			k = d->need - d->have;
			k = len < k ? len : k;
			memcpy(d->buf + d->have, p, k);
			d->have += k;
			p += k;
			len -= k;
			d->off += k;
			d->st.bytes += k;
			if (d->have < d->need)
				break;
			if (d->state == ST_HEADER) {
				d->have = 0;
				r = on_header(d);
			} else if (d->state == ST_HEAD) {
				/* The head stays in buf: the check covers it. */
				r = on_head(d);
			} else {
				d->have = 0;
				r = on_fixed(d);
			}
		}
		if (r)
			return -1;
	}
	return d->state == ST_ERROR ? -1 : 0;
}

int mig_dec_finish(struct mig_dec *d)
{
	if (d->state == ST_DONE)
		return 0;
	if (d->state == ST_ERROR)
		return -1;
	if (d->state == ST_HEADER)
		FAIL(d, MIG_E_TRUNCATED, d->off, "the stream ended in its header");
	if (d->state == ST_HEAD && d->have == 0)
		FAIL(d, MIG_E_TRUNCATED, d->off, "the stream ended before its end record");
	if (d->state == ST_HEAD)
		FAIL(d, MIG_E_TRUNCATED, d->off,
		     "the stream ended inside the head of a record that starts at %" PRIu64,
		     d->rec_off);
	FAIL(d, MIG_E_TRUNCATED, d->off,
	     "the stream ended inside a %s record that starts at %" PRIu64,
	     mig_rec_name(d->rec_type), d->rec_off);
}

int mig_dec_buffer(struct mig_dec *d, const void *buf, size_t len)
{
	if (mig_dec_feed(d, buf, len))
		return -1;
	return mig_dec_finish(d);
}

// SPDX-License-Identifier: MIT
/*
 * mig_stream decoder, the records: each fixed part checked field by field
 * against what the decoder knows, then applied (pages into guest RAM,
 * sections to their owner, the end against the digest).
 */
#include "migrate/mig_stream_dec.h"

#include <inttypes.h>
#include <xxhash.h>

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
		return mig_dec_hook_failed(d, MIG_E_CONFIG, "configuration refused", msg);
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
		return mig_dec_hook_failed(d, MIG_E_LOCAL, "round start", msg);
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

int mig_dec_sums_done(struct mig_dec *d)
{
	if (XXH3_64bits(d->sums, (size_t)d->data_n * 8) != d->sums_check)
		FAIL(d, MIG_E_CHECK, d->rec_off + MIG_DATA_SIZE,
		     "DATA record of pages %" PRIu64 "+%" PRIu32 ": its page sums are damaged",
		     d->data_first, d->data_n);
	d->data_dst = d->ram + d->data_first * MIG_PAGE_SIZE;
	d->data_left = (size_t)d->data_n * MIG_PAGE_SIZE;
	d->data_done = 0;
	memset(d->data_torn, 0, sizeof(d->data_torn));
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
int mig_dec_check_pages(struct mig_dec *d)
{
	uint32_t full = d->data_n - (uint32_t)((d->data_left + MIG_PAGE_SIZE - 1) / MIG_PAGE_SIZE);

	for (; d->data_done < full; d->data_done++) {
		uint64_t pg = d->data_first + d->data_done;
		uint64_t h = mig_digest_page_hash(d->ram + pg * MIG_PAGE_SIZE, MIG_PAGE_SIZE);

		if (h == mig_get64(d->sums + 8 * (size_t)d->data_done)) {
			d->npending -= bitmap_assign(d->pending, pg, 1, false);
			continue;
		}
		d->data_torn[d->data_done / 64] |= 1ull << (d->data_done % 64);
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
void mig_dec_data_done(struct mig_dec *d)
{
	uint64_t first = d->data_first, n = d->data_n, k;

	bitmap_assign(d->maybe_nonzero, first, n, true);
	/*
	 * Every chunk the run touches changed.  Those wholly inside it take
	 * their hash from the page sums, each verified just now against a
	 * hash of our own RAM: nothing is read again.  A chunk with a torn
	 * page stays stale, as do those the run covers in part: hashed from
	 * RAM at the round's end, when their other pages may have come too.
	 */
	mig_digest_set_stale(&d->dg, first * MIG_PAGE_SIZE, n * MIG_PAGE_SIZE);
	mig_digest_set_pages(&d->dg, first * MIG_PAGE_SIZE, n * MIG_PAGE_SIZE, d->sums);
	for (k = 0; k < n; k++)
		if (d->data_torn[k / 64] >> (k % 64) & 1)
			mig_digest_set_stale(&d->dg, (first + k) * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
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
	/* A live round's partly covered chunks: hashed now, not in the downtime. */
	if (!d->final && !d->page_chunks)
		d->st.digest_bytes += mig_digest_refresh(&d->dg, d->ram, 0, d->dg.nchunks);
	r = (struct mig_round){
	    .round = round, .final = d->final, .data_pages = data, .zero_pages = zero};
	if (d->p.ops->round_end && d->p.ops->round_end(d->p.opaque, &r, msg, sizeof(msg)))
		return mig_dec_hook_failed(d, MIG_E_LOCAL, "round end", msg);
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

int mig_dec_section_done(struct mig_dec *d)
{
	const struct mig_section *s = &d->sec;
	char msg[200] = "";

	if (XXH3_64bits(d->secbuf, s->len) != d->sec_check)
		FAIL(d, MIG_E_DATA_CHECK, d->rec_off + MIG_SEC_SIZE,
		     "%s section %" PRIu32 ": checksum mismatch", s->spec->name, s->instance);
	d->seen[d->sec_spec][s->instance / 64] |= 1ull << (s->instance % 64);
	d->st.sections++;
	if (d->p.ops->section && d->p.ops->section(d->p.opaque, s, msg, sizeof(msg)))
		return mig_dec_hook_failed(d, MIG_E_LOAD, s->spec->name, msg);
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
		return mig_dec_hook_failed(d, MIG_E_LOCAL, "end", msg);
	/* Only what the final round changed is left to hash. */
	d->st.end_digest_bytes = mig_digest_refresh(&d->dg, d->ram, 0, d->dg.nchunks);
	d->st.digest_bytes += d->st.end_digest_bytes;
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
int mig_dec_on_fixed(struct mig_dec *d)
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
			r = mig_dec_section_done(d);
		break;
	default: /* MIG_REC_END: on_head() let nothing else through */
		r = on_end(d);
	}
	return r;
}

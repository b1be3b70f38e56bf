// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the migration stream decoder (src/migrate/mig_stream_dec*.c),
 * the destination's whole parser of what a source sends.
 *
 * Input: 4 control bytes, then the stream.
 *   byte 0   flags (FZ_*, below)
 *   bytes 1-3  a seed for where the incremental run cuts the stream
 * A stream recorded from a real migration becomes an input with
 * tests/fuzz/add_stream.sh (docs/fuzzing.md).
 *
 * Every record carries checksums that random mutations would break, so
 * that the decoder's later checks would never be reached.  With the FZ_FIX
 * flags the target first repairs them (as an encoder would compute them):
 * then a mutated field reaches the check of that field.  Walking the
 * stream for that, it also keeps a model of guest RAM: the pages every DATA
 * record carries, zeros for every ZERO record, applied in order.
 *
 * The stream is decoded twice into fresh destinations whose RAM has
 * inaccessible space on each side: once whole (mig_dec_buffer()), once cut
 * into pieces chosen by the seed, with page data received in place through
 * mig_dec_direct()/mig_dec_commit() when FZ_DIRECT is set.  Checked:
 *   - the decoder never touches memory outside the RAM it was given (a MiB
 *     of inaccessible space on each side, ASan for everything else), and
 *     mig_dec_direct() only ever points inside it; inside it, it changes
 *     no page that no record names, whether it accepts or not;
 *   - the hooks see what the decoder promises: a checked configuration, RAM
 *     within max_ram, rounds in order, sections within their table's
 *     bounds, one at a time;
 *   - an error is one error: a known code (never the caller-bug code), an
 *     offset inside the stream, one printable line; it is sticky; and it
 *     travels to the source intact (mig_reply_error() -> mig_reply_parse());
 *   - a stream accepted is what the model says: guest RAM equal to the
 *     model byte for byte, its digest equal to the END record's, every byte
 *     counted; the ACK round-trips;
 *   - both runs agree: the same outcome, error code and offset, the same
 *     RAM and statistics when accepted (the cut points change nothing).
 */
#include "fuzz.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "migrate/mig_stream.h"
#include "migrate/mig_stream_wire.h"
#include "vmm/vstate.h"

/* Control flags (byte 0). */
#define FZ_FIX_CHECKS 0x01 /* record checks, DATA sums checks, SECTION checks */
#define FZ_FIX_SUMS   0x02 /* DATA per-page sums (clear: the input's, maybe torn) */
#define FZ_FIX_DIGEST 0x04 /* END digest: the model RAM's */
#define FZ_GARBAGE    0x08 /* destination RAM starts non-zero (ram_zeroed false) */
#define FZ_DIRECT     0x10 /* incremental run: page data through mig_dec_direct() */
#define FZ_REFUSE     0x20 /* hook call 1 + seed % 16 refuses (the first is config) */
#define FZ_VSTATE     0x40 /* the destination's own section table (below) */
#define FZ_CTRL	      4

/*
 * The largest guest the target accepts.  Small enough that every
 * execution stays fast (RAM is mapped twice and hashed at the end), large
 * enough for a real guest of the minimum size (--mem 8M) and a stream
 * recorded from it.
 */
#define FZ_MAX_RAM (8ull << 20)

/*
 * Inaccessible address space on each side of the destination's RAM: a
 * write a little outside it faults (costs no memory).
 */
#define FZ_GUARD (1u << 20)

/* The byte a FZ_GARBAGE destination's RAM starts with. */
#define FZ_GARBAGE_BYTE 0xa5

/*
 * The destination's section table.  With FZ_VSTATE, vmm's own: every kind
 * of state section a VM of the stream's vCPUs saves, all required
 * (vstate_section_kinds(), no irqchip, as vmm runs).  Without it, the
 * shapes the stream codec's tests use, small enough that mutations reach
 * every path: one section per vCPU, required; one device, required; an
 * optional kind with several instances.
 */
#define FZ_SEC_VCPU    1
#define FZ_SEC_CONSOLE 2
#define FZ_SEC_EXTRA   3
static const struct mig_section_spec fz_specs[] = {
    {.id = FZ_SEC_VCPU, .instances = 1, .max_len = 4096, .required = true, .name = "vcpu"},
    {.id = FZ_SEC_CONSOLE, .instances = 1, .max_len = 600, .required = true, .name = "console"},
    {.id = FZ_SEC_EXTRA, .instances = 4, .max_len = 100, .name = "extra"},
};
#define FZ_NSPECS (sizeof(fz_specs) / sizeof(fz_specs[0]))

/* The table for a stream of ncpus vCPUs; returns its length. */
static unsigned fz_table(uint8_t flags, uint32_t ncpus, struct mig_section_spec *s)
{
	struct vstate_section_kind k[VSTATE_MAX_KINDS];
	unsigned n;

	if (!(flags & FZ_VSTATE)) {
		memcpy(s, fz_specs, sizeof(fz_specs));
		s[0].instances = ncpus;
		return FZ_NSPECS;
	}
	n = vstate_section_kinds(ncpus, false, k);
	for (unsigned i = 0; i < n; i++)
		s[i] = (struct mig_section_spec){.id = k[i].id,
						 .instances = k[i].instances,
						 .max_len = (uint32_t)k[i].max_len,
						 .required = true,
						 .name = k[i].name};
	return n;
}

static uint64_t get64(const uint8_t *p)
{
	return mig_get64(p);
}

/* ---- the model, and the repairs ---- */

struct model {
	bool have_cfg;
	uint64_t ram_size; /* 0: no usable configuration */
	uint32_t chunk;
	uint8_t *ram;
	uint8_t *named; /* per page: a DATA or ZERO record names it, valid or not */
	bool end_seen;
	uint8_t end_digest[MIG_DIGEST_LEN]; /* the END record's, as decoded */
};

static void model_config(struct model *m, const uint8_t *rec, uint8_t flags)
{
	uint64_t size = get64(rec + MIG_CFG_OFF_RAM_SIZE);

	if (m->have_cfg)
		return; /* the decoder refuses a second CONFIG */
	m->have_cfg = true;
	m->chunk = mig_get32(rec + MIG_CFG_OFF_DIGEST_CHUNK);
	if (size == 0 || size % MIG_PAGE_SIZE || size > FZ_MAX_RAM)
		return;
	m->ram = malloc(size);
	m->named = calloc(size / MIG_PAGE_SIZE, 1);
	if (!m->ram || !m->named)
		abort();
	memset(m->ram, flags & FZ_GARBAGE ? FZ_GARBAGE_BYTE : 0, size);
	m->ram_size = size;
}

/* A record names pages [first, first + n): those inside RAM may be written. */
static void model_name(struct model *m, uint64_t first, uint64_t n)
{
	uint64_t pages = m->ram_size / MIG_PAGE_SIZE;

	if (m->named && first < pages)
		memset(m->named + first, 1, n < pages - first ? n : pages - first);
}

/* Pages [first, first + n) inside the model's RAM? */
static bool model_has(const struct model *m, uint64_t first, uint64_t n)
{
	uint64_t pages = m->ram_size / MIG_PAGE_SIZE;

	return m->ram && first < pages && n <= pages - first;
}

/*
 * Walk the records (leniently: stop at the first one that cannot be
 * framed), repair what the flags ask for, and build the model.
 */
static void walk(uint8_t *s, size_t len, uint8_t flags, struct model *m)
{
	size_t off = MIG_HDR_SIZE;

	while (off + MIG_REC_HEAD <= len) {
		uint8_t *rec = s + off;
		uint32_t type = mig_get32(rec + MIG_REC_OFF_TYPE);
		uint64_t size = MIG_REC_HEAD + (uint64_t)mig_get32(rec + MIG_REC_OFF_LEN);
		size_t fixed = mig_rec_fixed(type);
		size_t avail = len - off; /* bytes of this record in the input */
		bool whole;

		if (fixed == 0 || size < fixed || fixed > avail)
			break;
		whole = size <= avail;
		switch (type) {
		case MIG_REC_CONFIG:
			model_config(m, rec, flags);
			break;
		case MIG_REC_DATA: {
			uint64_t first = get64(rec + MIG_PG_OFF_FIRST);
			uint32_t n = mig_get32(rec + MIG_PG_OFF_NPAGES), i;
			uint8_t *sums = rec + MIG_DATA_SIZE;
			uint8_t *pages = sums + (size_t)n * 8;

			model_name(m, first, n);
			if (n == 0 || n > MIG_RUN_MAX_PAGES || !whole ||
			    size != MIG_DATA_SIZE + (uint64_t)n * MIG_DATA_PER_PAGE)
				break;
			for (i = 0; i < n && (flags & FZ_FIX_SUMS); i++)
				mig_put64(
				    sums + 8 * (size_t)i,
				    XXH3_64bits(pages + (size_t)i * MIG_PAGE_SIZE, MIG_PAGE_SIZE));
			if (flags & FZ_FIX_CHECKS)
				mig_put64(rec + MIG_DATA_OFF_SUMS,
					  XXH3_64bits(sums, (size_t)n * 8));
			if (model_has(m, first, n))
				memcpy(m->ram + first * MIG_PAGE_SIZE, pages,
				       (size_t)n * MIG_PAGE_SIZE);
			break;
		}
		case MIG_REC_ZERO: {
			uint64_t first = get64(rec + MIG_PG_OFF_FIRST);
			uint32_t n = mig_get32(rec + MIG_PG_OFF_NPAGES);

			model_name(m, first, n);
			if (model_has(m, first, n))
				memset(m->ram + first * MIG_PAGE_SIZE, 0,
				       (size_t)n * MIG_PAGE_SIZE);
			break;
		}
		case MIG_REC_SECTION: {
			uint32_t n = mig_get32(rec + MIG_SEC_OFF_LENGTH);

			if ((flags & FZ_FIX_CHECKS) && fixed + (uint64_t)n <= avail)
				mig_put64(rec + MIG_SEC_OFF_CHECK, XXH3_64bits(rec + fixed, n));
			break;
		}
		case MIG_REC_END:
			if ((flags & FZ_FIX_DIGEST) && m->ram && mig_digest_chunk_ok(m->chunk) &&
			    mig_digest_mem(m->ram, m->ram_size, m->chunk, rec + MIG_END_OFF_DIGEST))
				abort();
			if (!m->end_seen)
				memcpy(m->end_digest, rec + MIG_END_OFF_DIGEST, MIG_DIGEST_LEN);
			m->end_seen = true;
			break;
		}
		if (flags & FZ_FIX_CHECKS)
			mig_rec_seal(rec, fixed);
		if (!whole)
			break;
		off += size;
	}
}

/* ---- a destination ---- */

struct dst {
	uint8_t flags;
	uint32_t refuse_at; /* with FZ_REFUSE: the hook call that refuses (from 1) */
	uint32_t calls;	    /* hook calls so far */
	uint8_t *map;	    /* guard, RAM, guard */
	size_t map_len;
	uint8_t *ram;
	uint64_t size;
	struct mig_config cfg;
	uint32_t rounds_begun, rounds_ended, nsec, ends;
	uint64_t sec_sum; /* of every section byte seen: reads them all */
	struct mig_dec *dec;
};

/* Count a hook call; true if this one must refuse. */
static bool refuse(struct dst *t, char *msg, size_t len)
{
	t->calls++;
	if (!(t->flags & FZ_REFUSE) || t->calls != t->refuse_at)
		return false;
	snprintf(msg, len, "hook %u refuses on purpose", t->calls);
	return true;
}

static int hook_config(void *opaque, struct mig_dec *d, const struct mig_config *c, char *msg,
		       size_t len)
{
	struct dst *t = opaque;
	struct mig_section_spec s[MIG_MAX_SECTION_KIND];
	unsigned ns;
	char why[200];

	FUZZ_CHECK(t->map == NULL, "config hook called twice");
	FUZZ_CHECK(mig_config_check(c, NULL, why, sizeof(why)) == 0,
		   "the decoder passed a configuration it should have refused: %s", why);
	FUZZ_CHECK(c->ram_size <= FZ_MAX_RAM, "RAM of %llu bytes is above max_ram",
		   (unsigned long long)c->ram_size);
	t->cfg = *c;
	if (refuse(t, msg, len))
		return -1;
	t->size = c->ram_size;
	t->map_len = c->ram_size + 2 * FZ_GUARD;
	t->map = mmap(NULL, t->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->map == MAP_FAILED)
		abort();
	t->ram = t->map + FZ_GUARD;
	if (mprotect(t->ram, c->ram_size, PROT_READ | PROT_WRITE))
		abort();
	if (t->flags & FZ_GARBAGE)
		memset(t->ram, FZ_GARBAGE_BYTE, c->ram_size);
	FUZZ_CHECK(mig_dec_set_ram(d, t->ram, c->ram_size) == 0, "set_ram refused");
	/* The vCPU sections of the stream's vCPUs, as a real destination has. */
	ns = fz_table(t->flags, c->ncpus, s);
	FUZZ_CHECK(mig_dec_set_sections(d, s, ns) == 0, "set_sections refused");
	return 0;
}

static int hook_round_begin(void *opaque, const struct mig_round *r, char *msg, size_t len)
{
	struct dst *t = opaque;

	FUZZ_CHECK(t->map != NULL, "a round before the configuration");
	FUZZ_CHECK(r->round == t->rounds_begun && t->rounds_begun == t->rounds_ended,
		   "round %u begins after %u begun, %u ended", r->round, t->rounds_begun,
		   t->rounds_ended);
	t->rounds_begun++;
	return refuse(t, msg, len) ? -1 : 0;
}

static int hook_round_end(void *opaque, const struct mig_round *r, char *msg, size_t len)
{
	struct dst *t = opaque;

	FUZZ_CHECK(r->round + 1 == t->rounds_begun && r->round == t->rounds_ended,
		   "round %u ends after %u begun, %u ended", r->round, t->rounds_begun,
		   t->rounds_ended);
	t->rounds_ended++;
	return refuse(t, msg, len) ? -1 : 0;
}

static int hook_section(void *opaque, const struct mig_section *s, char *msg, size_t len)
{
	struct dst *t = opaque;
	uint32_t i;

	FUZZ_CHECK(t->rounds_ended > 0 && t->rounds_begun == t->rounds_ended,
		   "a section inside or before the rounds");
	FUZZ_CHECK(s->spec && s->spec->id == s->id, "section %u with the spec of %u", s->id,
		   s->spec ? s->spec->id : 0);
	FUZZ_CHECK(s->instance < s->spec->instances, "instance %u of %u", s->instance,
		   s->spec->instances);
	FUZZ_CHECK(s->len <= s->spec->max_len, "section of %u bytes, at most %u", s->len,
		   s->spec->max_len);
	FUZZ_CHECK(s->len == 0 || s->data, "section bytes missing");
	for (i = 0; i < s->len; i++)
		t->sec_sum += s->data[i];
	t->nsec++;
	return refuse(t, msg, len) ? -1 : 0;
}

static int hook_end(void *opaque, const struct mig_end *e, char *msg, size_t len)
{
	struct dst *t = opaque;

	FUZZ_CHECK(e->rounds == t->rounds_ended && e->sections == t->nsec,
		   "END of %u rounds and %u sections after %u and %u", e->rounds, e->sections,
		   t->rounds_ended, t->nsec);
	t->ends++;
	return refuse(t, msg, len) ? -1 : 0;
}

static const struct mig_dec_ops fz_ops = {
    .config = hook_config,
    .round_begin = hook_round_begin,
    .round_end = hook_round_end,
    .section = hook_section,
    .end = hook_end,
};

static void dst_new(struct dst *t, uint8_t flags, uint32_t refuse_at)
{
	struct mig_section_spec s[MIG_MAX_SECTION_KIND];
	struct mig_dec_params p = {
	    .ops = &fz_ops,
	    .opaque = t,
	    .max_ram = FZ_MAX_RAM,
	    .ram_zeroed = !(flags & FZ_GARBAGE),
	    .sections = s,
	    .nsections = fz_table(flags, 1, s),
	};

	memset(t, 0, sizeof(*t));
	t->flags = flags;
	t->refuse_at = refuse_at;
	t->dec = mig_dec_new(&p);
	if (!t->dec)
		abort();
}

static void dst_free(struct dst *t)
{
	mig_dec_free(t->dec);
	if (t->map)
		munmap(t->map, t->map_len);
}

/* ---- the runs ---- */

/* Feed s in pieces whose sizes the seed picks. */
static void feed_pieces(struct dst *t, const uint8_t *s, size_t len, uint32_t seed)
{
	size_t off = 0;

	while (off < len) {
		uint32_t r = fuzz_rand(&seed);
		size_t k, room = 0;
		uint8_t *where;

		switch (r & 3) {
		case 0:
			k = 1 + (r >> 8) % 8; /* inside heads and fixed parts */
			break;
		case 1:
			k = 1 + (r >> 8) % 100;
			break;
		case 2:
			k = 1 + (r >> 8) % (2 * MIG_PAGE_SIZE + 100); /* across pages */
			break;
		default:
			k = len - off;
		}
		if (k > len - off)
			k = len - off;
		where = (t->flags & FZ_DIRECT) ? mig_dec_direct(t->dec, &room) : NULL;
		if (where) {
			FUZZ_CHECK(t->ram && where >= t->ram && room > 0 &&
				       room <= (size_t)(t->ram + t->size - where),
				   "mig_dec_direct() points outside guest RAM (%zu bytes at +%td)",
				   room, t->ram ? where - t->ram : 0);
			if (k > room)
				k = room;
			memcpy(where, s + off, k);
			if (mig_dec_commit(t->dec, k))
				return;
		} else {
			FUZZ_CHECK(room == 0, "mig_dec_direct() gave a length but no place");
			if (mig_dec_feed(t->dec, s + off, k))
				return;
		}
		off += k;
	}
	mig_dec_finish(t->dec);
}

/* Pages no record names hold what they held before, accepted or not. */
static void check_untouched(const struct dst *t, const struct model *m)
{
	static uint8_t before[MIG_PAGE_SIZE];
	uint64_t i;

	if (!t->ram)
		return;
	FUZZ_CHECK(m->named && m->ram_size == t->size, "the model has no RAM of this size");
	memset(before, t->flags & FZ_GARBAGE ? FZ_GARBAGE_BYTE : 0, sizeof(before));
	for (i = 0; i < t->size / MIG_PAGE_SIZE; i++)
		FUZZ_CHECK(m->named[i] ||
			       !memcmp(t->ram + i * MIG_PAGE_SIZE, before, MIG_PAGE_SIZE),
			   "page %llu changed, and no record names it", (unsigned long long)i);
}

static void check_error(const struct mig_error *e, size_t len)
{
	uint8_t buf[MIG_REPLY_MAX];
	struct mig_reply r;
	struct mig_error perr;
	size_t n, i;
	long got;

	FUZZ_CHECK(e->code > MIG_OK && e->code < MIG_E_COUNT && e->code != MIG_E_STATE,
		   "error code %d (%s): %s", e->code, mig_err_name(e->code), e->msg);
	FUZZ_CHECK(e->offset <= len, "error at offset %llu of a %zu-byte stream: %s",
		   (unsigned long long)e->offset, len, e->msg);
	FUZZ_CHECK(fuzz_msg_ok(e->msg, sizeof(e->msg)), "error message not one printable line");
	/* The destination sends it back; the source must read the same error. */
	n = mig_reply_error(buf, e);
	FUZZ_CHECK(n <= MIG_REPLY_MAX, "ERROR reply of %zu bytes", n);
	got = mig_reply_parse(buf, n, &r, &perr);
	FUZZ_CHECK(got == (long)n, "own ERROR reply parsed as %ld of %zu bytes: %s", got, n,
		   got < 0 ? perr.msg : "");
	FUZZ_CHECK(r.type == MIG_REPLY_ERROR && r.code == e->code && r.offset == e->offset,
		   "ERROR reply changed the error");
	for (i = 0; i < MIG_REASON_MAX && e->msg[i]; i++)
		FUZZ_CHECK(r.reason[i] == e->msg[i], "reason differs at byte %zu", i);
	FUZZ_CHECK(r.reason[i] == '\0', "reason longer than the message");
}

static void check_done(struct dst *t, const struct model *m, size_t len)
{
	const struct mig_dec_stats *st = mig_dec_stats(t->dec);
	uint8_t digest[MIG_DIGEST_LEN], buf[MIG_REPLY_MAX];
	struct mig_reply r;
	struct mig_error perr;
	size_t n;

	FUZZ_CHECK(st->bytes == len, "accepted after %llu of %zu bytes",
		   (unsigned long long)st->bytes, len);
	FUZZ_CHECK(t->ram && m->ram && m->ram_size == t->size && m->end_seen,
		   "accepted a stream the model could not follow");
	FUZZ_CHECK(memcmp(t->ram, m->ram, t->size) == 0,
		   "guest RAM differs from the pages the stream carried");
	FUZZ_CHECK(mig_digest_mem(t->ram, t->size, t->cfg.digest_chunk, digest) == 0,
		   "digest of the result");
	FUZZ_CHECK(memcmp(digest, m->end_digest, MIG_DIGEST_LEN) == 0,
		   "accepted RAM whose digest is not the END record's");
	FUZZ_CHECK(t->ends == 1 && t->rounds_begun == t->rounds_ended && t->rounds_ended > 0,
		   "accepted without one END after whole rounds");
	n = mig_reply_ack(buf, digest);
	FUZZ_CHECK(mig_reply_parse(buf, n, &r, &perr) == (long)n && r.type == MIG_REPLY_ACK &&
		       memcmp(r.digest, digest, MIG_DIGEST_LEN) == 0,
		   "ACK does not round-trip");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model m = {0};
	struct dst a, b;
	uint8_t flags, *s;
	uint32_t seed;
	size_t len;
	bool a_done, b_done;

	if (size < FZ_CTRL)
		return 0;
	flags = data[0];
	seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16;
	len = size - FZ_CTRL;
	s = malloc(len ? len : 1);
	if (!s)
		abort();
	memcpy(s, data + FZ_CTRL, len);
	walk(s, len, flags, &m);

	/* Whole. */
	dst_new(&a, flags, 1 + seed % 16);
	a_done = mig_dec_buffer(a.dec, s, len) == 0;
	FUZZ_CHECK(a_done == mig_dec_done(a.dec), "return value and mig_dec_done() disagree");
	if (a_done) {
		check_done(&a, &m, len);
	} else {
		const struct mig_error *e = mig_dec_error(a.dec);

		check_error(e, len);
		FUZZ_CHECK(mig_dec_feed(a.dec, "x", 1) == -1 && mig_dec_finish(a.dec) == -1 &&
			       mig_dec_error(a.dec)->code == e->code,
			   "the error is not sticky");
	}
	check_untouched(&a, &m);
	fuzz_valid(a_done, "decode", a_done ? NULL : mig_dec_error(a.dec)->msg);

	/* In pieces. */
	dst_new(&b, flags, 1 + seed % 16);
	feed_pieces(&b, s, len, seed | 1);
	b_done = mig_dec_done(b.dec);
	check_untouched(&b, &m);
	FUZZ_CHECK(a_done == b_done, "whole: %s; in pieces: %s",
		   a_done ? "done" : mig_dec_error(a.dec)->msg,
		   b_done ? "done" : mig_dec_error(b.dec)->msg);
	if (a_done) {
		const struct mig_dec_stats *sa = mig_dec_stats(a.dec), *sb = mig_dec_stats(b.dec);

		check_done(&b, &m, len);
		FUZZ_CHECK(sa->bytes == sb->bytes && sa->data_pages == sb->data_pages &&
			       sa->zero_pages == sb->zero_pages &&
			       sa->zeroed_pages == sb->zeroed_pages &&
			       sa->torn_pages == sb->torn_pages && sa->rounds == sb->rounds &&
			       sa->sections == sb->sections && a.sec_sum == b.sec_sum,
			   "the statistics depend on the cut points");
	} else {
		const struct mig_error *ea = mig_dec_error(a.dec), *eb = mig_dec_error(b.dec);

		FUZZ_CHECK(ea->code == eb->code && ea->offset == eb->offset,
			   "whole: %s; in pieces: %s", ea->msg, eb->msg);
	}
	dst_free(&a);
	dst_free(&b);
	free(m.ram);
	free(m.named);
	free(s);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * Unit tests of src/migrate/mig_stream*: round trips of every record and of
 * whole migrations, feeding in pieces of every size, direct receive, the
 * encoder's batches, the configuration checks, replies.  The hostile-input
 * tests are in test_mig_stream_bad.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "migrate/mig_stream_wire.h"
#include "test_mig_stream_util.h"

#define PAGE MIG_PAGE_SIZE

/* A whole migration, decoded from one buffer: memory, sections, counters. */
static void check_migration(unsigned int npages, unsigned int rounds, unsigned int run,
			    uint32_t seed, uint32_t chunk)
{
	struct tmig m = {.npages = npages,
			 .rounds = rounds,
			 .run = run,
			 .sections = true,
			 .seed = seed,
			 .chunk = chunk};
	struct tstream ts = {0};
	struct tdst t = {0};
	const struct mig_dec_stats *st;
	unsigned int i;

	tmig_build(&m, &ts);
	tdst_new(&t);
	assert_int_equal(mig_dec_buffer(t.dec, ts.buf, ts.len), 0);
	assert_true(mig_dec_done(t.dec));
	assert_int_equal(mig_dec_error(t.dec)->code, MIG_OK);
	assert_memory_equal(t.ram, m.src, (size_t)npages * PAGE);
	st = mig_dec_stats(t.dec);
	assert_int_equal(st->bytes, ts.len);
	assert_int_equal(st->rounds, rounds + 1);
	assert_int_equal(t.rounds_begun, rounds + 1);
	assert_int_equal(t.rounds_ended, rounds + 1);
	assert_int_equal(st->torn_pages, 0);
	assert_true(st->data_pages + st->zero_pages >= npages);
	/* Sections arrive whole, in order, with their versions. */
	assert_int_equal(t.nsec, T_NCPUS + 2);
	for (i = 0; i < T_NCPUS; i++) {
		assert_int_equal(t.sec[i].id, T_SEC_VCPU);
		assert_int_equal(t.sec[i].instance, i);
		assert_int_equal(t.sec[i].version, 3);
		assert_int_equal(t.sec[i].len, 200 + i);
		assert_int_equal(t.sec[i].data[0], (uint8_t)(i * 7 + seed));
	}
	assert_int_equal(t.sec[T_NCPUS].id, T_SEC_CONSOLE);
	assert_memory_equal(t.sec[T_NCPUS].data, "console!!", 10);
	assert_int_equal(t.sec[T_NCPUS + 1].id, T_SEC_EXTRA);
	assert_int_equal(t.sec[T_NCPUS + 1].instance, 2);
	assert_int_equal(t.sec[T_NCPUS + 1].len, 0);
	/* The digest table was refreshed, nothing left stale. */
	assert_int_equal(mig_digest_nstale(mig_dec_digest(t.dec)), 0);
	/*
	 * A chunk wholly inside a DATA record takes its hash from the checked
	 * page sums: with page-sized chunks, or one page of RAM, nothing is
	 * read again.  Larger chunks: those records cover in part are.
	 */
	if (chunk == PAGE || npages == 1)
		assert_int_equal(st->digest_bytes, 0);
	else
		assert_true(st->digest_bytes > 0);
	/* At END, at most what the final round can have touched. */
	assert_true(st->end_digest_bytes <= st->digest_bytes);
	tdst_free(&t);
	ts_free(&ts);
	tmig_free(&m);
}

/* Pages changed while queued (a running guest): torn, re-sent, repaired. */
static void test_migration_with_tearing(void **state)
{
	struct tmig m = {
	    .npages = 200, .rounds = 4, .run = 16, .sections = true, .seed = 21, .tear = true};
	struct tstream ts = {0};
	struct tdst t = {0};

	(void)state;
	tmig_build(&m, &ts);
	tdst_new(&t);
	assert_int_equal(mig_dec_buffer(t.dec, ts.buf, ts.len), 0);
	assert_true(mig_dec_stats(t.dec)->torn_pages > 0);
	assert_memory_equal(t.ram, m.src, (size_t)m.npages * PAGE);
	tdst_free(&t);
	ts_free(&ts);
	tmig_free(&m);
}

static void test_migration_round_trip(void **state)
{
	(void)state;
	check_migration(64, 3, 0, 1, 0);
	check_migration(61, 1, 5, 2, 16384);	 /* short last digest chunk, short runs */
	check_migration(300, 4, 1, 3, 0);	 /* one page per record */
	check_migration(1, 0, 0, 4, 0);		 /* one page, the final round only */
	check_migration(600, 2, 256, 5, 0);	 /* runs of the maximum */
	check_migration(600, 2, 7, 6, 1u << 20); /* one short digest chunk */
	check_migration(300, 3, 9, 7, PAGE);	 /* page chunks: each set from its page's sum */
}

/*
 * The encoder hands back each page's hash (its DATA sum, or the zero
 * page's), and a digest table set from them is that of the memory.
 */
static void test_encoder_hashes(void **state)
{
	static uint8_t ram[40 * PAGE];
	struct mig_enc_params p = {.ram = ram, .ram_size = sizeof(ram), .batch_bytes = 5 * PAGE};
	uint64_t h[40], first = 0;
	uint8_t want[MIG_DIGEST_LEN], got[MIG_DIGEST_LEN];
	struct tstream ts = {0};
	struct mig_digest dg;
	struct mig_enc e;
	unsigned int i;

	(void)state;
	for (i = 0; i < 40; i++)
		memset(ram + i * PAGE, i % 3 ? (int)i : 0, PAGE); /* every third page zeros */
	assert_int_equal(mig_enc_init(&e, &p), 0);
	assert_int_equal(mig_enc_header(&e), 0);
	assert_int_equal(mig_enc_config(&e, &(struct mig_config){.page_size = PAGE,
								 .ncpus = 1,
								 .ram_size = sizeof(ram),
								 .ring_entries = 4096,
								 .digest_chunk = 4 * PAGE}),
			 0);
	assert_int_equal(mig_enc_round_begin(&e, false), 0);
	/* In batches: each call hands back the hashes of what it queued. */
	while (first < 40) {
		long k = mig_enc_pages_hashed(&e, first, 40 - first, h + first);

		assert_true(k > 0);
		first += (uint64_t)k;
		ts_drain(&ts, &e);
	}
	for (i = 0; i < 40; i++)
		assert_int_equal(le64toh(h[i]), XXH3_64bits(ram + i * PAGE, PAGE));
	assert_int_equal(mig_digest_mem(ram, sizeof(ram), 4 * PAGE, want), 0);
	assert_int_equal(mig_digest_init(&dg, sizeof(ram), 4 * PAGE), 0);
	assert_int_equal(mig_digest_set_pages(&dg, 0, sizeof(ram), h), 10);
	assert_int_equal(mig_digest_final(&dg, got), 0);
	assert_memory_equal(got, want, MIG_DIGEST_LEN);
	mig_digest_free(&dg);
	mig_enc_free(&e);
	ts_free(&ts);
}

/* The state sections every test stream carries (two vCPUs, a console). */
static void enc_sections(struct mig_enc *e)
{
	assert_int_equal(mig_enc_section(e, T_SEC_VCPU, 0, 0, "a", 1), 0);
	assert_int_equal(mig_enc_section(e, T_SEC_VCPU, 1, 0, "b", 1), 0);
	assert_int_equal(mig_enc_section(e, T_SEC_CONSOLE, 0, 0, "c", 1), 0);
}

/* The END record with the digest of ram[0, size). */
static void enc_end(struct mig_enc *e, const uint8_t *ram, size_t size, uint32_t chunk)
{
	uint8_t digest[MIG_DIGEST_LEN];

	assert_int_equal(mig_digest_mem(ram, size, chunk, digest), 0);
	assert_int_equal(mig_enc_end(e, digest), 0);
}

/*
 * The destination's table after one live DATA record of 16 pages (two 32
 * KiB chunks): both chunks set from the checked sums, nothing read.  With
 * page 3 torn (changed after its sum was taken), chunk 0 stays stale and
 * is hashed from RAM at the round's end; chunk 1 is set.
 */
static void test_digest_from_sums(void **state)
{
	static uint8_t ram[16 * PAGE];
	int tear;

	(void)state;
	for (tear = 0; tear < 2; tear++) {
		struct mig_config c = t_config(sizeof(ram));
		struct mig_enc_params p = {.ram = ram, .ram_size = sizeof(ram)};
		const struct mig_digest *dg;
		struct tstream ts = {0};
		struct tdst t = {0};
		size_t data_off, data_end;
		struct mig_enc e;
		unsigned int i;

		for (i = 0; i < 16; i++)
			memset(ram + i * PAGE, (int)i + 1, PAGE);
		assert_int_equal(c.digest_chunk, 8 * PAGE);
		assert_int_equal(mig_enc_init(&e, &p), 0);
		assert_int_equal(mig_enc_header(&e), 0);
		assert_int_equal(mig_enc_config(&e, &c), 0);
		assert_int_equal(mig_enc_round_begin(&e, false), 0);
		ts_drain(&ts, &e);
		data_off = ts.len;
		assert_int_equal(mig_enc_pages(&e, 0, 16), 16);
		ts_drain(&ts, &e);
		data_end = ts.len;
		assert_int_equal(data_end - data_off, MIG_DATA_SIZE + 16 * (8 + PAGE));
		if (tear)
			ts.buf[data_off + MIG_DATA_SIZE + 16 * 8 + 3 * PAGE + 9] ^= 0x20;
		assert_int_equal(mig_enc_round_end(&e), 0);
		/* The final round sends chunk 0 again: the torn page is repaired. */
		assert_int_equal(mig_enc_round_begin(&e, true), 0);
		assert_int_equal(mig_enc_pages(&e, 0, 8), 8);
		assert_int_equal(mig_enc_round_end(&e), 0);
		enc_sections(&e);
		enc_end(&e, ram, sizeof(ram), c.digest_chunk);
		ts_drain(&ts, &e);
		mig_enc_free(&e);

		tdst_new(&t);
		assert_int_equal(mig_dec_feed(t.dec, ts.buf, data_end), 0);
		dg = mig_dec_digest(t.dec);
		assert_int_equal(mig_dec_stats(t.dec)->torn_pages, (uint64_t)tear);
		assert_int_equal(mig_dec_stats(t.dec)->digest_bytes, 0);
		assert_int_equal(dg->stale[0], tear);
		assert_int_equal(dg->stale[1], 0);
		assert_int_equal(le64toh(dg->hash[1]),
				 mig_digest_chunk_hash(ram + 8 * PAGE, 8 * PAGE));
		if (!tear)
			assert_int_equal(le64toh(dg->hash[0]),
					 mig_digest_chunk_hash(ram, 8 * PAGE));
		/* The round's end hashes the stale chunk from RAM (the torn page as it came). */
		assert_int_equal(mig_dec_feed(t.dec, ts.buf + data_end, MIG_RE_SIZE), 0);
		assert_int_equal(mig_digest_nstale(dg), 0);
		assert_int_equal(mig_dec_stats(t.dec)->digest_bytes, tear ? 8 * PAGE : 0);
		assert_int_equal(le64toh(dg->hash[0]), mig_digest_chunk_hash(t.ram, 8 * PAGE));
		assert_int_equal(mig_dec_feed(t.dec, ts.buf + data_end + MIG_RE_SIZE,
					      ts.len - data_end - MIG_RE_SIZE),
				 0);
		assert_int_equal(mig_dec_finish(t.dec), 0);
		assert_memory_equal(t.ram, ram, sizeof(ram));
		tdst_free(&t);
		ts_free(&ts);
	}
}

/* A version 1 peer (page sums not in the digest yet) is refused by name. */
static void test_version_1_refused(void **state)
{
	struct tmig m = {.npages = 16, .rounds = 1, .sections = true, .seed = 8};
	struct tstream ts = {0};
	struct mig_error err;

	(void)state;
	tmig_build(&m, &ts);
	assert_int_equal(MIG_STREAM_VERSION, 2);
	mig_put32(ts.buf + MIG_HDR_OFF_VERSION, 1);
	assert_int_equal(tdecode(ts.buf, ts.len, &err), MIG_E_VERSION);
	assert_int_equal(err.offset, MIG_HDR_OFF_VERSION);
	assert_string_equal(err.msg,
			    "stream version 1, this vmm speaks version 2 (stream offset 8)");
	ts_free(&ts);
	tmig_free(&m);
}

/* Every record type, one at a time, through the hooks. */
static void test_each_record(void **state)
{
	struct mig_config c = t_config(16 * PAGE);
	uint8_t ram[16 * PAGE], digest[MIG_DIGEST_LEN], sec[7] = "abcdef";
	struct mig_enc_params p = {.ram = ram, .ram_size = sizeof(ram)};
	struct mig_enc e;
	struct tstream ts = {0};
	struct tdst t = {0};
	const struct mig_config *got;
	size_t at;

	(void)state;
	memset(ram, 0, sizeof(ram));
	memset(ram + 3 * PAGE, 0x11, 2 * PAGE); /* pages 3, 4 */
	ram[9 * PAGE + 4095] = 1;		/* page 9 */
	assert_int_equal(mig_enc_init(&e, &p), 0);
	tdst_new(&t);

	/* Header and CONFIG: the config hook sees every field. */
	assert_int_equal(mig_enc_header(&e), 0);
	assert_int_equal(mig_enc_config(&e, &c), 0);
	ts_drain(&ts, &e);
	assert_int_equal(ts.len, MIG_HDR_SIZE + MIG_CFG_SIZE);
	assert_memory_equal(ts.buf, MIG_MAGIC, 8);
	assert_int_equal(mig_dec_feed(t.dec, ts.buf, ts.len), 0);
	got = mig_dec_config(t.dec);
	assert_non_null(got);
	assert_int_equal(got->page_size, c.page_size);
	assert_int_equal(got->ncpus, c.ncpus);
	assert_int_equal(got->ram_size, c.ram_size);
	assert_int_equal(got->ring_entries, c.ring_entries);
	assert_int_equal(got->tsc_khz, c.tsc_khz);
	assert_int_equal(got->stats_gpa, c.stats_gpa);
	assert_int_equal(got->stats_size, c.stats_size);
	assert_int_equal(got->digest_chunk, c.digest_chunk);
	at = ts.len;

	/* A round of pages 2..10: ZERO 2, DATA 3-4, ZERO 5-8, DATA 9, ZERO 10. */
	assert_int_equal(mig_enc_round_begin(&e, false), 0);
	assert_int_equal(mig_enc_pages(&e, 2, 9), 9);
	assert_int_equal(mig_enc_round_end(&e), 0);
	ts_drain(&ts, &e);
	assert_int_equal(ts.len - at, MIG_RB_SIZE + 3 * MIG_ZERO_SIZE + 2 * MIG_DATA_SIZE +
					  3 * MIG_DATA_PER_PAGE + MIG_RE_SIZE);
	assert_int_equal(mig_get32(ts.buf + at + MIG_RB_SIZE), MIG_REC_ZERO);
	assert_int_equal(mig_dec_feed(t.dec, ts.buf + at, ts.len - at), 0);
	assert_int_equal(t.rounds_begun, 1);
	assert_int_equal(t.rounds_ended, 1);
	assert_memory_equal(t.ram, ram, sizeof(ram));
	assert_int_equal(mig_dec_stats(t.dec)->data_pages, 3);
	assert_int_equal(mig_dec_stats(t.dec)->zero_pages, 6);
	assert_int_equal(e.st.data_pages, 3);
	assert_int_equal(e.st.zero_pages, 6);
	at = ts.len;

	/* The final round: page 3 becomes zero on the destination too. */
	memset(ram + 3 * PAGE, 0, PAGE);
	assert_int_equal(mig_enc_round_begin(&e, true), 0);
	/* Known zeros go unread as one ZERO record; ranges are checked. */
	assert_int_equal(mig_enc_zero(&e, 3, 0), -EPROTO);
	assert_int_equal(mig_enc_zero(&e, sizeof(ram) / PAGE, 1), -EPROTO);
	assert_int_equal(mig_enc_zero(&e, 3, sizeof(ram) / PAGE), -EPROTO);
	assert_int_equal(mig_enc_zero(&e, 3, 1), 0);
	assert_int_equal(mig_enc_round_end(&e), 0);
	assert_int_equal(mig_enc_zero(&e, 3, 1), -EPROTO);	   /* outside a round */
	assert_int_equal(mig_enc_round_begin(&e, false), -EPROTO); /* no round after the final */
	/* Sections, then END. */
	assert_int_equal(mig_enc_section(&e, T_SEC_VCPU, 0, 7, sec, 6), 0);
	assert_int_equal(mig_enc_section(&e, T_SEC_VCPU, 1, 7, sec, 3), 0);
	assert_int_equal(mig_enc_section(&e, T_SEC_CONSOLE, 0, 1, sec, 1), 0);
	assert_int_equal(mig_digest_mem(ram, sizeof(ram), c.digest_chunk, digest), 0);
	assert_int_equal(mig_enc_end(&e, digest), 0);
	ts_drain(&ts, &e);
	assert_int_equal(mig_dec_feed(t.dec, ts.buf + at, ts.len - at), 0);
	assert_true(mig_dec_done(t.dec));
	assert_int_equal(mig_dec_stats(t.dec)->zeroed_pages, 1);
	assert_memory_equal(t.ram, ram, sizeof(ram));
	assert_int_equal(t.nsec, 3);
	assert_int_equal(t.sec[0].version, 7);
	assert_memory_equal(t.sec[0].data, "abcdef", 6);
	assert_int_equal(t.sec[1].len, 3);
	assert_int_equal(mig_dec_finish(t.dec), 0);
	/* Nothing may follow the end. */
	assert_int_equal(mig_dec_feed(t.dec, "x", 1), -1);
	assert_int_equal(mig_dec_error(t.dec)->code, MIG_E_TRAILING);
	assert_int_equal(mig_dec_error(t.dec)->offset, ts.len);

	assert_int_equal(mig_enc_end(&e, digest), -EPROTO);
	mig_enc_free(&e);
	tdst_free(&t);
	ts_free(&ts);
}

/* Decode in pieces of size k (and direct receive when asked): same result as one buffer. */
static void decode_pieces(const struct tstream *ts, size_t k, bool direct, struct tdst *t)
{
	size_t off = 0;

	tdst_new(t);
	while (off < ts->len) {
		size_t n = ts->len - off < k ? ts->len - off : k, room;
		void *dst = direct ? mig_dec_direct(t->dec, &room) : NULL;

		if (dst) {
			/* recv() straight into guest RAM. */
			n = n < room ? n : room;
			memcpy(dst, ts->buf + off, n);
			if (mig_dec_commit(t->dec, n))
				break;
		} else if (mig_dec_feed(t->dec, ts->buf + off, n)) {
			break;
		}
		off += n;
	}
	if (off == ts->len)
		mig_dec_finish(t->dec);
}

static void same_result(const struct tstream *ts, size_t k, bool direct,
			const struct mig_error *want, const uint8_t *want_ram, uint64_t size)
{
	struct tdst t = {0};
	const struct mig_error *got;

	decode_pieces(ts, k, direct, &t);
	got = mig_dec_error(t.dec);
	if (got->code != want->code || got->offset != want->offset)
		fail_msg("pieces of %zu: %s at %llu, one buffer: %s at %llu", k,
			 mig_err_name(got->code), (unsigned long long)got->offset,
			 mig_err_name(want->code), (unsigned long long)want->offset);
	assert_string_equal(got->msg, want->msg);
	if (want_ram)
		assert_memory_equal(t.ram, want_ram, size);
	tdst_free(&t);
}

static void test_pieces_of_every_size(void **state)
{
	struct tmig m = {.npages = 12, .rounds = 2, .run = 3, .sections = true, .seed = 9};
	struct tstream ts = {0};
	struct tdst one = {0};
	struct mig_error want, bad_want;
	uint8_t *want_ram;
	struct trec r[64];
	size_t k, n;

	(void)state;
	tmig_build(&m, &ts);
	tdst_new(&one);
	assert_int_equal(mig_dec_buffer(one.dec, ts.buf, ts.len), 0);
	want = *mig_dec_error(one.dec);
	want_ram = malloc(one.size);
	assert_non_null(want_ram);
	memcpy(want_ram, one.ram, one.size);
	assert_memory_equal(want_ram, m.src, one.size);
	tdst_free(&one);

	/* Every size up to well past the largest fixed part, then a spread up to the whole. */
	for (k = 1; k <= 300; k++) {
		same_result(&ts, k, false, &want, want_ram, (uint64_t)m.npages * PAGE);
		same_result(&ts, k, true, &want, want_ram, (uint64_t)m.npages * PAGE);
	}
	for (k = 301; k <= ts.len; k = k * 5 / 4 + 7)
		same_result(&ts, k, k % 2, &want, want_ram, (uint64_t)m.npages * PAGE);
	same_result(&ts, ts.len, true, &want, want_ram, (uint64_t)m.npages * PAGE);

	/* A bad stream fails the same way in any pieces: break the last DATA record's check. */
	n = ts_index(ts.buf, ts.len, r, 64);
	while (n && r[n - 1].type != MIG_REC_DATA)
		n--;
	assert_true(n > 0);
	ts.buf[r[n - 1].off + MIG_DATA_SIZE - 1] ^= 0x40;
	assert_int_equal(tdecode(ts.buf, ts.len, &bad_want), MIG_E_CHECK);
	for (k = 1; k <= 120; k++)
		same_result(&ts, k, k % 2, &bad_want, NULL, 0);
	free(want_ram);
	ts_free(&ts);
	tmig_free(&m);
}

/* A tiny migration with every record type, fed in pieces of every size up to its whole length. */
static void test_pieces_of_every_size_tiny(void **state)
{
	struct tmig m = {.npages = 3, .rounds = 1, .run = 2, .sections = true, .seed = 31};
	struct tstream ts = {0};
	struct mig_error want = {0};
	size_t k;

	(void)state;
	tmig_build(&m, &ts);
	assert_int_equal(tdecode(ts.buf, ts.len, &want), MIG_OK);
	{
		struct trec r[32];
		size_t n = ts_index(ts.buf, ts.len, r, 32), i;
		unsigned int seen = 0;

		for (i = 0; i < n; i++)
			seen |= 1u << r[i].type;
		assert_int_equal(seen, 0xfe); /* types 1 to 7 */
	}
	for (k = 1; k <= ts.len; k++)
		same_result(&ts, k, k % 3 == 0, &want, m.src, 3 * PAGE);
	print_message("  %zu-byte stream, every piece size\n", ts.len);
	ts_free(&ts);
	tmig_free(&m);
}

/*
 * A small stream by hand: round 0 sends pages 0-7 (one DATA record), the
 * final round sends pages [final_first, final_first + final_n), then the
 * required sections and END.  Returns the offsets of the first DATA record
 * and of END.
 */
static void torn_stream(struct tstream *ts, uint8_t *ram, uint64_t final_first, uint64_t final_n,
			size_t *data_off, size_t *end_off)
{
	struct mig_config c = t_config(8 * PAGE);
	struct mig_enc_params p = {.ram = ram, .ram_size = 8 * PAGE};
	uint8_t digest[MIG_DIGEST_LEN];
	struct mig_enc e;

	assert_int_equal(mig_enc_init(&e, &p), 0);
	assert_int_equal(mig_enc_header(&e), 0);
	assert_int_equal(mig_enc_config(&e, &c), 0);
	assert_int_equal(mig_enc_round_begin(&e, false), 0);
	ts_drain(ts, &e); /* the ROUND_BEGIN is out: the DATA record is next */
	*data_off = ts->len;
	assert_int_equal(mig_enc_pages(&e, 0, 8), 8);
	assert_int_equal(mig_enc_round_end(&e), 0);
	assert_int_equal(mig_enc_round_begin(&e, true), 0);
	assert_int_equal(mig_enc_pages(&e, final_first, final_n), (long)final_n);
	assert_int_equal(mig_enc_round_end(&e), 0);
	enc_sections(&e);
	ts_drain(ts, &e);
	*end_off = ts->len;
	assert_int_equal(mig_digest_mem(ram, 8 * PAGE, c.digest_chunk, digest), 0);
	assert_int_equal(mig_enc_end(&e, digest), 0);
	ts_drain(ts, &e);
	mig_enc_free(&e);
	{
		struct trec r[16];
		size_t n = ts_index(ts->buf, ts->len, r, 16), i = 0;

		while (i < n && r[i].type != MIG_REC_DATA)
			i++;
		assert_true(i < n);
		assert_int_equal(r[i].off, *data_off); /* the first DATA record */
	}
}

/*
 * A live round's page changed between the source's checksum and the
 * kernel's copy (the guest runs): the destination keeps the pages pending
 * until they come again.  Never again: the end fails.  In the final round
 * (guest stopped) a bad checksum fails at once.
 */
static void test_torn_pages(void **state)
{
	static uint8_t ram[8 * PAGE];
	struct tstream ts = {0};
	struct tdst t = {0};
	struct mig_error err;
	size_t data_off, end_off;

	(void)state;
	memset(ram, 0x3c, sizeof(ram));
	/* Page 5 torn in round 0 and re-sent in the final round (pages 4-5): success. */
	torn_stream(&ts, ram, 4, 2, &data_off, &end_off);
	ts.buf[data_off + MIG_DATA_SIZE + 8 * 8 + 5 * PAGE + 17] ^= 0x10;
	tdst_new(&t);
	assert_int_equal(mig_dec_buffer(t.dec, ts.buf, ts.len), 0);
	assert_int_equal(mig_dec_stats(t.dec)->torn_pages, 1);
	assert_memory_equal(t.ram, ram, sizeof(ram));
	tdst_free(&t);
	ts_free(&ts);

	/* Page 7 torn, only pages 0-6 re-sent: page 7 stays pending, the end names it. */
	torn_stream(&ts, ram, 0, 7, &data_off, &end_off);
	ts.buf[data_off + MIG_DATA_SIZE + 8 * 8 + 7 * PAGE] ^= 0x10;
	assert_int_equal(tdecode(ts.buf, ts.len, &err), MIG_E_UNREPAIRED);
	assert_int_equal(err.offset, end_off);
	assert_non_null(strstr(err.msg, "1 pages"));
	assert_non_null(strstr(err.msg, "page 7"));
	ts_free(&ts);

	/* The guest zeroes page 6 while round 0 is queued: torn, then repaired by a ZERO record. */
	{
		struct mig_config c = t_config(8 * PAGE);
		struct mig_enc_params p = {.ram = ram, .ram_size = 8 * PAGE};
		struct mig_enc e;

		assert_int_equal(mig_enc_init(&e, &p), 0);
		assert_int_equal(mig_enc_header(&e), 0);
		assert_int_equal(mig_enc_config(&e, &c), 0);
		assert_int_equal(mig_enc_round_begin(&e, false), 0);
		assert_int_equal(mig_enc_pages(&e, 0, 8), 8);
		assert_int_equal(mig_enc_round_end(&e), 0);
		memset(ram + 6 * PAGE, 0, PAGE); /* before the batch is sent */
		assert_int_equal(mig_enc_round_begin(&e, true), 0);
		assert_int_equal(mig_enc_pages(&e, 6, 1), 1);
		assert_int_equal(mig_enc_round_end(&e), 0);
		enc_sections(&e);
		enc_end(&e, ram, 8 * PAGE, c.digest_chunk);
		assert_int_equal(e.st.zero_pages, 1);
		ts_drain(&ts, &e);
		mig_enc_free(&e);
		memset(&t, 0, sizeof(t));
		tdst_new(&t);
		assert_int_equal(mig_dec_buffer(t.dec, ts.buf, ts.len), 0);
		assert_int_equal(mig_dec_stats(t.dec)->torn_pages, 1);
		/* What arrived for page 6 in round 0 was already zeros: nothing to clear. */
		assert_int_equal(mig_dec_stats(t.dec)->zeroed_pages, 0);
		assert_memory_equal(t.ram, ram, sizeof(ram));
		tdst_free(&t);
		ts_free(&ts);
		memset(ram + 6 * PAGE, 0x3c, PAGE);
	}

	/* Bad data in the final round: at once, at the payload. */
	torn_stream(&ts, ram, 2, 3, &data_off, &end_off);
	{
		struct trec r[16];
		size_t n = ts_index(ts.buf, ts.len, r, 16), i, fin = 0;

		for (i = 0; i < n; i++)
			if (r[i].type == MIG_REC_DATA)
				fin = i; /* the last DATA: the final round's */
		/* Page 3 of 2-4: the second page of the record. */
		ts.buf[r[fin].off + MIG_DATA_SIZE + 3 * 8 + PAGE + 99] ^= 1;
		assert_int_equal(tdecode(ts.buf, ts.len, &err), MIG_E_DATA_CHECK);
		assert_int_equal(err.offset, r[fin].off + MIG_DATA_SIZE + 3 * 8 + PAGE);
		assert_non_null(strstr(err.msg, "page 3"));
	}
	ts_free(&ts);
}

/* Garbage in the destination's RAM (not fresh memory): ZERO records clear it. */
static void test_dirty_destination(void **state)
{
	struct tmig m = {.npages = 50, .rounds = 2, .run = 0, .sections = true, .seed = 12};
	struct tstream ts = {0};
	struct tdst t = {.garbage = true};

	(void)state;
	tmig_build(&m, &ts);
	tdst_new(&t);
	assert_int_equal(mig_dec_buffer(t.dec, ts.buf, ts.len), 0);
	assert_memory_equal(t.ram, m.src, (size_t)m.npages * PAGE);
	assert_true(mig_dec_stats(t.dec)->zeroed_pages > 0);
	tdst_free(&t);
	ts_free(&ts);
	tmig_free(&m);
}

/* The encoder: batches fill, short sends, iovecs merge, order is enforced. */
static void test_encoder_batches(void **state)
{
	static uint8_t ram[64 * PAGE];
	struct mig_enc_params p = {.ram = ram, .ram_size = sizeof(ram), .max_iov = 4};
	struct mig_config c = t_config(sizeof(ram));
	struct mig_enc e;
	const struct iovec *v;
	long k;
	int n;

	(void)state;
	memset(ram, 0, sizeof(ram));
	for (n = 0; n < 64; n += 2)
		ram[(size_t)n * PAGE] = 1; /* even pages data, odd pages zero */
	assert_int_equal(mig_enc_init(&e, &p), 0);
	assert_int_equal(mig_enc_config(&e, &c), -EPROTO); /* header first */
	assert_int_equal(mig_enc_pages(&e, 0, 1), -EPROTO);
	assert_int_equal(mig_enc_header(&e), 0);
	assert_int_equal(mig_enc_config(&e, &c), 0);
	assert_int_equal(mig_enc_round_begin(&e, false), 0);
	/* The three headers merged into one iovec. */
	v = mig_enc_iov(&e, &n);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].iov_len, MIG_HDR_SIZE + MIG_CFG_SIZE + MIG_RB_SIZE);
	/* Headers and page 0's record head, page 0, the next heads, page 2: the batch fills. */
	k = mig_enc_pages(&e, 0, 64);
	assert_true(k > 0 && k < 64);
	v = mig_enc_iov(&e, &n);
	assert_true(n <= 4);
	/* The data iovec points into RAM: no copy. */
	assert_ptr_equal(v[1].iov_base, ram);
	assert_int_equal(v[1].iov_len, PAGE);
	assert_int_equal(mig_enc_pages(&e, (uint64_t)k, 64 - (uint64_t)k), 0);
	/* A short send leaves the rest in place. */
	mig_enc_advance(&e, 10);
	v = mig_enc_iov(&e, &n);
	assert_int_equal(v[0].iov_len,
			 MIG_HDR_SIZE + MIG_CFG_SIZE + MIG_RB_SIZE + MIG_DATA_SIZE + 8 - 10);
	mig_enc_advance(&e, mig_enc_queued(&e));
	assert_null(mig_enc_iov(&e, &n));
	assert_int_equal(n, 0);
	assert_true(mig_enc_pages(&e, (uint64_t)k, 64 - (uint64_t)k) > 0);
	/* Out of range is a caller bug. */
	assert_int_equal(mig_enc_pages(&e, 60, 5), -EPROTO);
	assert_int_equal(mig_enc_section(&e, 1, 0, 0, "x", 1), -EPROTO); /* not in a round */
	mig_enc_free(&e);

	/* Bad parameters. */
	p.max_iov = 1;
	assert_int_equal(mig_enc_init(&e, &p), -EINVAL);
	p.max_iov = 0;
	p.run_pages = MIG_RUN_MAX_PAGES + 1;
	assert_int_equal(mig_enc_init(&e, &p), -EINVAL);
}

/* Runs are cut at run_pages and at MIG_RUN_MAX_PAGES. */
static void test_encoder_runs(void **state)
{
	static uint8_t ram[600 * PAGE];
	struct mig_enc_params p = {.ram = ram, .ram_size = sizeof(ram), .batch_bytes = 1u << 30};
	struct tstream ts = {0};
	struct mig_enc e;
	struct trec r[16];
	size_t n;

	(void)state;
	memset(ram, 7, sizeof(ram));
	assert_int_equal(mig_enc_init(&e, &p), 0);
	assert_int_equal(mig_enc_header(&e), 0);
	{
		struct mig_config c = t_config(sizeof(ram));

		assert_int_equal(mig_enc_config(&e, &c), 0);
	}
	assert_int_equal(mig_enc_round_begin(&e, false), 0);
	assert_int_equal(mig_enc_pages(&e, 0, 600), 600);
	ts_drain(&ts, &e);
	n = ts_index(ts.buf, ts.len, r, 16);
	assert_int_equal(n, 5); /* CONFIG, ROUND_BEGIN, DATA 256 + 256 + 88 */
	assert_int_equal(mig_get32(ts.buf + r[2].off + MIG_PG_OFF_NPAGES), 256);
	assert_int_equal(mig_get32(ts.buf + r[4].off + MIG_PG_OFF_NPAGES), 88);
	mig_enc_free(&e);
	ts_free(&ts);
}

static void test_page_is_zero(void **state)
{
	static uint8_t page[PAGE];
	unsigned int i;

	(void)state;
	assert_true(mig_page_is_zero(page));
	for (i = 0; i < PAGE; i += 511) {
		page[i] = 0x80;
		assert_false(mig_page_is_zero(page));
		page[i] = 0;
	}
	page[PAGE - 1] = 1;
	assert_false(mig_page_is_zero(page));
}

static void test_config_check(void **state)
{
	struct mig_config good = t_config(1u << 30), c;
	const char *field;
	char msg[200];

	(void)state;
	assert_int_equal(mig_config_check(&good, &field, msg, sizeof(msg)), 0);
#define BAD(stmt, name)                                                                            \
	do {                                                                                       \
		c = good;                                                                          \
		stmt;                                                                              \
		assert_int_not_equal(mig_config_check(&c, &field, msg, sizeof(msg)), 0);           \
		assert_non_null(field);                                                            \
		assert_string_equal(field, name);                                                  \
	} while (0)
	BAD(c.page_size = 8192, "page-size");
	BAD(c.ncpus = 0, "ncpus");
	BAD(c.ncpus = MIG_MAX_CPUS + 1, "ncpus");
	BAD(c.ram_size = 0, "ram-size");
	BAD(c.ram_size = 4097, "ram-size");
	BAD(c.ram_size = MIG_MAX_RAM + PAGE, "ram-size");
	BAD(c.ring_entries = 0, "ring-entries");
	BAD(c.ring_entries = 3000, "ring-entries");
	BAD(c.ring_entries = MIG_MAX_RING * 2, "ring-entries");
	BAD(c.tsc_khz = MIG_MAX_TSC_KHZ + 1, "tsc-khz");
	BAD(c.stats_size = MIG_MAX_STATS_SIZE + 1, "stats-size");
	BAD(c.stats_gpa = c.stats_gpa + 1, "stats-gpa");
	BAD(c.stats_gpa = 0, "stats-gpa"); /* inside RAM */
	BAD(c.stats_gpa = (1ull << 52), "stats-gpa");
	BAD((c.stats_size = 0, c.stats_gpa = 4096), "stats-gpa");
	BAD(c.digest_chunk = 2048, "digest-chunk");
	BAD(c.digest_chunk = 3 * 4096, "digest-chunk");
#undef BAD
	c = good;
	c.stats_size = 0;
	c.stats_gpa = 0;
	c.tsc_khz = 0;
	assert_int_equal(mig_config_check(&c, &field, msg, sizeof(msg)), 0);
}

static void test_config_match(void **state)
{
	struct mig_config s = t_config(1u << 30), l = s;
	char msg[200];

	(void)state;
	assert_int_equal(mig_config_match(&s, &l, false, msg, sizeof(msg)), 0);
	/* 0 locally: take the stream's (the user gave no such option). */
	l.ram_size = 0;
	l.ncpus = 0;
	l.ring_entries = 0;
	assert_int_equal(mig_config_match(&s, &l, false, msg, sizeof(msg)), 0);
	l = s;
	l.ram_size = 512u << 20;
	assert_int_equal(mig_config_match(&s, &l, false, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "1024 MiB"));
	assert_non_null(strstr(msg, "--mem"));
	l = s;
	l.ncpus = 4;
	assert_int_equal(mig_config_match(&s, &l, false, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "--cpus"));
	l = s;
	l.ring_entries = 65536;
	assert_int_equal(mig_config_match(&s, &l, false, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "--dirty-ring-size"));
	l = s;
	l.stats_gpa += 4096;
	assert_int_equal(mig_config_match(&s, &l, false, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "stats"));
	l = s;
	l.tsc_khz = 3000000;
	assert_int_equal(mig_config_match(&s, &l, false, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "TSC"));
	assert_int_equal(mig_config_match(&s, &l, true, msg, sizeof(msg)), 0); /* scaling */
	s.tsc_khz = 0;
	assert_int_equal(mig_config_match(&s, &l, false, msg, sizeof(msg)), 0); /* unknown */
}

/* The config hook compares with the local command line: a mismatch fails with its words. */
static void test_config_refused(void **state)
{
	struct tmig m = {.npages = 8, .rounds = 1, .sections = true, .seed = 13};
	struct tstream ts = {0};
	struct tdst t = {0};
	const struct mig_error *err;

	(void)state;
	tmig_build(&m, &ts);
	t.local = t_config(16 * PAGE);
	tdst_new(&t);
	assert_int_equal(mig_dec_buffer(t.dec, ts.buf, ts.len), -1);
	err = mig_dec_error(t.dec);
	assert_int_equal(err->code, MIG_E_CONFIG);
	assert_int_equal(err->offset, MIG_HDR_SIZE);
	assert_non_null(strstr(err->msg, "--mem"));
	assert_null(t.ram); /* no memory was made */
	tdst_free(&t);

	/* Over the destination's own limit: refused before the hook, before any allocation. */
	memset(&t, 0, sizeof(t));
	t.max_ram = 4 * PAGE;
	tdst_new(&t);
	assert_int_equal(mig_dec_buffer(t.dec, ts.buf, ts.len), -1);
	err = mig_dec_error(t.dec);
	assert_int_equal(err->code, MIG_E_CONFIG);
	assert_int_equal(err->offset, MIG_HDR_SIZE + MIG_CFG_OFF_RAM_SIZE);
	assert_null(t.ram);
	tdst_free(&t);
	ts_free(&ts);
	tmig_free(&m);
}

static void test_replies(void **state)
{
	uint8_t buf[MIG_REPLY_MAX], d[MIG_DIGEST_LEN];
	struct mig_error e = {.code = MIG_E_DIGEST, .offset = 123456789012ull}, perr;
	struct mig_reply r;
	size_t n, k;

	(void)state;
	memset(d, 0x5a, sizeof(d));
	n = mig_reply_ack(buf, d);
	for (k = 0; k < n; k++)
		assert_int_equal(mig_reply_parse(buf, k, &r, &perr), 0); /* need more */
	assert_int_equal(mig_reply_parse(buf, n, &r, &perr), (long)n);
	assert_int_equal(r.type, MIG_REPLY_ACK);
	assert_memory_equal(r.digest, d, sizeof(d));

	snprintf(e.msg, sizeof(e.msg), "guest RAM differs\n\x01 here");
	n = mig_reply_error(buf, &e);
	for (k = 0; k < n; k++)
		assert_int_equal(mig_reply_parse(buf, k, &r, &perr), 0);
	assert_int_equal(mig_reply_parse(buf, n + 5, &r, &perr), (long)n); /* more after it */
	assert_int_equal(r.type, MIG_REPLY_ERROR);
	assert_int_equal(r.code, MIG_E_DIGEST);
	assert_int_equal(r.offset, 123456789012ull);
	assert_string_equal(r.reason, "guest RAM differs?? here"); /* unprintable replaced */

	/* A long reason is cut. */
	memset(e.msg, 'x', sizeof(e.msg) - 1);
	e.msg[sizeof(e.msg) - 1] = 0;
	n = mig_reply_error(buf, &e);
	assert_int_equal(n, MIG_REPLY_MAX);
	assert_int_equal(mig_reply_parse(buf, n, &r, &perr), (long)n);
	assert_int_equal(strlen(r.reason), MIG_REASON_MAX);
}

/* The caller's own mistakes: bad tables, memory of the wrong size, calls out of turn. */
static void test_decoder_api(void **state)
{
	struct mig_section_spec s[2] = {
	    {.id = 1, .instances = 1, .max_len = 10},
	    {.id = 1, .instances = 1, .max_len = 10},
	};
	struct mig_dec_params p = {0};
	struct tdst t = {0};
	struct mig_error first;
	uint8_t junk[16] = "VMM-MIG\n", ram[PAGE];
	size_t room;

	(void)state;
	assert_null(mig_dec_new(&p)); /* no config hook */
	assert_null(mig_dec_new(NULL));
	tdst_new(&t);
	assert_int_equal(mig_dec_set_sections(t.dec, s, 2), -EINVAL); /* id twice */
	s[1].id = 2;
	s[1].instances = 0;
	assert_int_equal(mig_dec_set_sections(t.dec, s, 2), -EINVAL);
	s[1].instances = MIG_MAX_INSTANCES + 1;
	assert_int_equal(mig_dec_set_sections(t.dec, s, 2), -EINVAL);
	s[1].instances = 1;
	s[1].max_len = MIG_MAX_SECTION + 1;
	assert_int_equal(mig_dec_set_sections(t.dec, s, 2), -EINVAL);
	assert_int_equal(mig_dec_set_sections(t.dec, s, MIG_MAX_SECTION_KIND + 1), -EINVAL);
	/* RAM before any configuration. */
	assert_int_equal(mig_dec_set_ram(t.dec, ram, sizeof(ram)), -EINVAL);
	assert_null(mig_dec_config(t.dec));
	assert_null(mig_dec_digest(t.dec));
	/* Not inside page data: nothing direct, and a commit is a caller error. */
	assert_null(mig_dec_direct(t.dec, &room));
	assert_int_equal(room, 0);
	assert_int_equal(mig_dec_commit(t.dec, 1), -1);
	assert_int_equal(mig_dec_error(t.dec)->code, MIG_E_STATE);
	tdst_free(&t);

	/* An error sticks: every later call fails the same way. */
	memset(&t, 0, sizeof(t));
	tdst_new(&t);
	junk[0] = 'X';
	assert_int_equal(mig_dec_feed(t.dec, junk, sizeof(junk)), -1);
	first = *mig_dec_error(t.dec);
	assert_int_equal(first.code, MIG_E_MAGIC);
	assert_int_equal(mig_dec_feed(t.dec, junk, sizeof(junk)), -1);
	assert_int_equal(mig_dec_finish(t.dec), -1);
	assert_int_equal(mig_dec_error(t.dec)->code, MIG_E_MAGIC);
	assert_int_equal(mig_dec_error(t.dec)->offset, first.offset);
	assert_false(mig_dec_done(t.dec));
	tdst_free(&t);
}

/* A reply is hostile too (the source reads it): every field checked. */
static void test_reply_hostile(void **state)
{
	uint8_t good[MIG_REPLY_MAX], b[MIG_REPLY_MAX + 8];
	struct mig_error e = {.code = MIG_E_RANGE, .offset = 7}, perr;
	struct mig_reply r;
	size_t n, i;

	(void)state;
	snprintf(e.msg, sizeof(e.msg), "bad pages");
	n = mig_reply_error(good, &e);
#define BAD(stmt, reseal, want, off)                                                               \
	do {                                                                                       \
		memcpy(b, good, n);                                                                \
		stmt;                                                                              \
		if (reseal)                                                                        \
			mig_rec_seal(b, MIG_ERR_SIZE);                                             \
		assert_int_equal(mig_reply_parse(b, n, &r, &perr), -1);                            \
		assert_int_equal(perr.code, want);                                                 \
		assert_int_equal(perr.offset, off);                                                \
	} while (0)
	BAD(mig_put32(b, MIG_REC_DATA), false, MIG_E_TYPE, 0);
	BAD(mig_put32(b, 0x83), false, MIG_E_TYPE, 0);
	BAD(mig_put32(b + 4, 8), false, MIG_E_LENGTH, 4);
	BAD(mig_put32(b + 4, MIG_ERR_SIZE - 8 + MIG_REASON_MAX + 1), false, MIG_E_LENGTH, 4);
	BAD(b[MIG_ERR_OFF_OFFSET] ^= 1, false, MIG_E_CHECK, MIG_ERR_OFF_CHECK + 8);
	BAD(mig_put32(b + MIG_ERR_OFF_CODE, 0), true, MIG_E_FIELD, MIG_ERR_OFF_CODE);
	BAD(mig_put32(b + MIG_ERR_OFF_CODE, MIG_E_COUNT), true, MIG_E_FIELD, MIG_ERR_OFF_CODE);
	BAD(mig_put32(b + MIG_ERR_OFF_LEN, 3), true, MIG_E_LENGTH, MIG_ERR_OFF_LEN);
	BAD(b[MIG_ERR_SIZE + 2] ^= 1, false, MIG_E_DATA_CHECK, MIG_ERR_SIZE);
	/* An unprintable byte with every sum made to agree. */
	BAD((b[MIG_ERR_SIZE + 3] = '\n',
	     mig_put64(b + MIG_ERR_OFF_CHECK, XXH3_64bits(b + MIG_ERR_SIZE, n - MIG_ERR_SIZE))),
	    true, MIG_E_FIELD, MIG_ERR_SIZE + 3);
	/* An ACK with a bad check. */
	n = mig_reply_ack(good, (const uint8_t *)"0123456789abcdef");
	BAD(b[MIG_ACK_OFF_DIGEST] ^= 1, false, MIG_E_CHECK, MIG_ACK_SIZE - 8);
#undef BAD
	/* Random bytes never crash the parser nor claim more than they hold. */
	{
		uint32_t rs = 5;

		for (i = 0; i < 20000; i++) {
			size_t k, len = t_rand(&rs) % sizeof(b);
			long got;

			for (k = 0; k < len; k++)
				b[k] = (uint8_t)t_rand(&rs);
			if (i % 2)
				mig_put32(b, i % 4 == 1 ? MIG_REC_ACK : MIG_REC_ERROR);
			got = mig_reply_parse(b, len, &r, &perr);
			assert_true(got == -1 || (got >= 0 && (size_t)got <= len));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_migration_round_trip),
	    cmocka_unit_test(test_migration_with_tearing),
	    cmocka_unit_test(test_encoder_hashes),
	    cmocka_unit_test(test_digest_from_sums),
	    cmocka_unit_test(test_version_1_refused),
	    cmocka_unit_test(test_each_record),
	    cmocka_unit_test(test_pieces_of_every_size),
	    cmocka_unit_test(test_pieces_of_every_size_tiny),
	    cmocka_unit_test(test_torn_pages),
	    cmocka_unit_test(test_dirty_destination),
	    cmocka_unit_test(test_encoder_batches),
	    cmocka_unit_test(test_encoder_runs),
	    cmocka_unit_test(test_page_is_zero),
	    cmocka_unit_test(test_config_check),
	    cmocka_unit_test(test_config_match),
	    cmocka_unit_test(test_config_refused),
	    cmocka_unit_test(test_replies),
	    cmocka_unit_test(test_reply_hostile),
	    cmocka_unit_test(test_decoder_api),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

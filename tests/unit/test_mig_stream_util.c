// SPDX-License-Identifier: MIT
/* Helpers of the mig_stream tests (see the header). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "migrate/mig_stream_wire.h"
#include "test_mig_stream_util.h"

#define PAGE MIG_PAGE_SIZE

const struct mig_section_spec t_specs[3] = {
    {.id = T_SEC_VCPU, .instances = T_NCPUS, .max_len = 512, .required = true, .name = "vcpu"},
    {.id = T_SEC_CONSOLE, .instances = 1, .max_len = 64, .required = true, .name = "console"},
    {.id = T_SEC_EXTRA, .instances = 4, .max_len = 100, .name = "extra"},
};

uint32_t t_rand(uint32_t *s)
{
	/* xorshift32: reproducible from the seed. */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

void ts_append(struct tstream *ts, const void *p, size_t n)
{
	if (ts->len + n > ts->cap) {
		ts->cap = (ts->len + n) * 2;
		ts->buf = realloc(ts->buf, ts->cap);
		assert_non_null(ts->buf);
	}
	memcpy(ts->buf + ts->len, p, n);
	ts->len += n;
}

void ts_free(struct tstream *ts)
{
	free(ts->buf);
	memset(ts, 0, sizeof(*ts));
}

void ts_drain(struct tstream *ts, struct mig_enc *e)
{
	/* Like a socket that takes at most 3000 bytes per writev(). */
	while (mig_enc_queued(e)) {
		int n, i;
		const struct iovec *v = mig_enc_iov(e, &n);
		size_t want = 3000, sent = 0;

		assert_non_null(v);
		for (i = 0; i < n && sent < want; i++) {
			size_t k = v[i].iov_len < want - sent ? v[i].iov_len : want - sent;

			ts_append(ts, v[i].iov_base, k);
			sent += k;
		}
		mig_enc_advance(e, sent);
	}
}

size_t ts_index(const uint8_t *buf, size_t len, struct trec *r, size_t max)
{
	size_t off = MIG_HDR_SIZE, n = 0;

	while (off + MIG_REC_HEAD <= len && n < max) {
		uint32_t type = mig_get32(buf + off);
		uint32_t rlen = mig_get32(buf + off + 4);

		r[n].off = off;
		r[n].type = type;
		r[n].fixed = mig_rec_fixed(type);
		r[n].size = MIG_REC_HEAD + (size_t)rlen;
		assert_true(r[n].fixed >= MIG_REC_HEAD);
		off += r[n].size;
		n++;
	}
	return n;
}

void ts_reseal(uint8_t *buf, const struct trec *r)
{
	mig_rec_seal(buf + r->off, r->fixed);
}

struct mig_config t_config(uint64_t ram_size)
{
	uint64_t gpa = (ram_size + (2u << 20) - 1) & ~((2ull << 20) - 1);

	return (struct mig_config){
	    .page_size = PAGE,
	    .ncpus = T_NCPUS,
	    .ram_size = ram_size,
	    .ring_entries = 4096,
	    .tsc_khz = 2000000,
	    .stats_gpa = gpa,
	    .stats_size = 0x9000,
	    .digest_chunk = MIG_DIGEST_CHUNK_DEFAULT,
	};
}

static void fill_page(uint8_t *p, uint32_t v)
{
	unsigned int i;

	for (i = 0; i < PAGE; i += 4) {
		uint32_t w = v * 2654435761u + i;

		memcpy(p + i, &w, 4);
	}
}

#define ENC(ts, e, call)                                                                           \
	do {                                                                                       \
		int r_;                                                                            \
		while ((r_ = (call)) == -ENOBUFS)                                                  \
			ts_drain((ts), (e));                                                       \
		assert_int_equal(r_, 0);                                                           \
	} while (0)

static void enc_pages(struct tstream *ts, struct mig_enc *e, uint64_t first, uint64_t n)
{
	while (n) {
		long k = mig_enc_pages(e, first, n);

		assert_true(k >= 0);
		if (k == 0)
			assert_true(mig_enc_queued(e) > 0); /* full: only then no progress */
		first += (uint64_t)k;
		n -= (uint64_t)k;
		if (n)
			ts_drain(ts, e);
	}
}

/* Send the pages marked in dirty[], run by run. */
static void send_dirty(struct tstream *ts, struct mig_enc *e, const uint8_t *dirty,
		       unsigned int npages)
{
	unsigned int i = 0;

	while (i < npages) {
		unsigned int j;

		if (!dirty[i]) {
			i++;
			continue;
		}
		for (j = i; j < npages && dirty[j]; j++)
			;
		enc_pages(ts, e, i, j - i);
		i = j;
	}
}

/* Change about a third of the pages: some to zeros, some to new data. */
static void mutate(struct tmig *m, uint8_t *dirty, uint32_t *rs)
{
	unsigned int i;

	for (i = 0; i < m->npages; i++) {
		uint32_t x = t_rand(rs);

		dirty[i] = x % 3 == 0;
		if (!dirty[i])
			continue;
		if (x % 4 == 0)
			memset(m->src + (size_t)i * PAGE, 0, PAGE);
		else
			fill_page(m->src + (size_t)i * PAGE, x);
	}
}

void tmig_build(struct tmig *m, struct tstream *ts)
{
	struct mig_config c = t_config((uint64_t)m->npages * PAGE);
	struct mig_enc e;
	struct mig_enc_params p = {
	    .ram_size = c.ram_size, .max_iov = 8, .batch_bytes = 3 * PAGE, .run_pages = m->run};
	uint8_t *dirty = calloc(m->npages, 1);
	uint8_t vcpu[300], console[10], digest[MIG_DIGEST_LEN];
	uint32_t rs = m->seed | 1;
	unsigned int i, r;

	assert_non_null(dirty);
	if (m->chunk)
		c.digest_chunk = m->chunk;
	m->src = calloc(m->npages, PAGE);
	assert_non_null(m->src);
	for (i = 0; i < m->npages; i++)
		if (t_rand(&rs) % 4)
			fill_page(m->src + (size_t)i * PAGE, i + m->seed);
	p.ram = m->src;
	assert_int_equal(mig_enc_init(&e, &p), 0);
	ENC(ts, &e, mig_enc_header(&e));
	ENC(ts, &e, mig_enc_config(&e, &c));
	/* Round 0: every page. */
	ENC(ts, &e, mig_enc_round_begin(&e, m->rounds == 0));
	enc_pages(ts, &e, 0, m->npages);
	ENC(ts, &e, mig_enc_round_end(&e));
	for (r = 1; r <= m->rounds; r++) {
		if (!m->tear)
			ts_drain(ts, &e);
		mutate(m, dirty, &rs);
		ENC(ts, &e, mig_enc_round_begin(&e, r == m->rounds));
		send_dirty(ts, &e, dirty, m->npages);
		ENC(ts, &e, mig_enc_round_end(&e));
	}
	if (m->sections) {
		for (i = 0; i < sizeof(vcpu); i++)
			vcpu[i] = (uint8_t)(i * 7 + m->seed);
		memcpy(console, "console!!", 10);
		for (i = 0; i < T_NCPUS; i++)
			ENC(ts, &e,
			    mig_enc_section(&e, T_SEC_VCPU, i, 3, vcpu + i, (uint32_t)(200 + i)));
		ENC(ts, &e, mig_enc_section(&e, T_SEC_CONSOLE, 0, 1, console, sizeof(console)));
		ENC(ts, &e, mig_enc_section(&e, T_SEC_EXTRA, 2, 9, NULL, 0));
	}
	assert_int_equal(mig_digest_mem(m->src, c.ram_size, c.digest_chunk, digest), 0);
	ENC(ts, &e, mig_enc_end(&e, digest));
	ts_drain(ts, &e);
	mig_enc_free(&e);
	free(dirty);
}

void tmig_free(struct tmig *m)
{
	free(m->src);
	m->src = NULL;
}

/* ---- the destination ---- */

static int t_config_hook(void *opaque, struct mig_dec *d, const struct mig_config *c, char *msg,
			 size_t len)
{
	struct tdst *t = opaque;
	struct mig_section_spec s[3];

	if (t->local.page_size && mig_config_match(c, &t->local, false, msg, len))
		return -1;
	t->size = c->ram_size;
	t->map_len = c->ram_size + 2 * PAGE;
	t->map = mmap(NULL, t->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(t->map != MAP_FAILED);
	t->ram = t->map + PAGE;
	assert_int_equal(mprotect(t->ram, c->ram_size, PROT_READ | PROT_WRITE), 0);
	if (t->garbage)
		memset(t->ram, 0xa5, c->ram_size);
	assert_int_equal(mig_dec_set_ram(d, t->ram, c->ram_size), 0);
	/* One vCPU section per vCPU of the stream. */
	memcpy(s, t_specs, sizeof(s));
	s[0].instances = c->ncpus;
	assert_int_equal(mig_dec_set_sections(d, s, 3), 0);
	return 0;
}

static int t_round_begin(void *opaque, const struct mig_round *r, char *msg, size_t len)
{
	struct tdst *t = opaque;

	assert_int_equal(r->round, t->rounds_begun);
	t->rounds_begun++;
	return 0;
}

static int t_round_end(void *opaque, const struct mig_round *r, char *msg, size_t len)
{
	struct tdst *t = opaque;

	assert_int_equal(r->round, t->rounds_ended);
	t->rounds_ended++;
	return 0;
}

static int t_section(void *opaque, const struct mig_section *s, char *msg, size_t len)
{
	struct tdst *t = opaque;

	if (s->id == t->refuse_section) {
		snprintf(msg, len, "field 'x' out of range");
		return -1;
	}
	assert_true(t->nsec < 16);
	assert_true(s->len <= sizeof(t->sec[0].data));
	t->sec[t->nsec].id = s->id;
	t->sec[t->nsec].instance = s->instance;
	t->sec[t->nsec].version = s->version;
	t->sec[t->nsec].len = s->len;
	if (s->len)
		memcpy(t->sec[t->nsec].data, s->data, s->len);
	t->nsec++;
	return 0;
}

static const struct mig_dec_ops t_ops = {
    .config = t_config_hook,
    .round_begin = t_round_begin,
    .round_end = t_round_end,
    .section = t_section,
};

struct mig_dec *tdst_new(struct tdst *t)
{
	struct mig_dec_params p = {
	    .ops = &t_ops,
	    .opaque = t,
	    .max_ram = t->max_ram ? t->max_ram : 64u << 20,
	    .ram_zeroed = !t->garbage,
	    .sections = t_specs,
	    .nsections = 3,
	};

	t->dec = mig_dec_new(&p);
	assert_non_null(t->dec);
	return t->dec;
}

void tdst_free(struct tdst *t)
{
	mig_dec_free(t->dec);
	if (t->map)
		munmap(t->map, t->map_len);
	t->map = NULL;
	t->dec = NULL;
}

enum mig_err tdecode(const uint8_t *buf, size_t len, struct mig_error *err)
{
	struct tdst t = {0};
	enum mig_err code;

	tdst_new(&t);
	if (mig_dec_buffer(t.dec, buf, len) == 0) {
		code = MIG_OK;
		assert_true(mig_dec_done(t.dec));
	} else {
		*err = *mig_dec_error(t.dec);
		code = err->code;
		assert_true(code > MIG_OK && code < MIG_E_COUNT);
		assert_true(err->offset <= len);
	}
	tdst_free(&t);
	return code;
}

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
#include "migrate/mig_stream_dec.h"

#include <errno.h>
#include <inttypes.h>

/* ---- errors ---- */

/* A hook refused: its message, prefixed, at the record's offset. */
int mig_dec_hook_failed(struct mig_dec *d, enum mig_err code, const char *what, const char *msg)
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
	if (mig_dec_check_pages(d))
		return -1;
	if (d->data_left == 0)
		mig_dec_data_done(d);
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
				r = mig_dec_sums_done(d);
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
				r = mig_dec_section_done(d);
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
				r = mig_dec_on_fixed(d);
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

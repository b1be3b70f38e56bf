// SPDX-License-Identifier: MIT
/* mig_stream: what the encoder and decoder share; the configuration checks; replies. */
#include "migrate/mig_stream.h"
#include "migrate/mig_stream_wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <xxhash.h>

/* Guest-physical addresses have at most 52 bits on x86-64. */
#define GPA_LIMIT (1ull << 52)

static const char *const err_names[MIG_E_COUNT] = {
    [MIG_OK] = "ok",
    [MIG_E_MAGIC] = "bad-magic",
    [MIG_E_VERSION] = "bad-version",
    [MIG_E_TYPE] = "bad-record-type",
    [MIG_E_ORDER] = "bad-record-order",
    [MIG_E_LENGTH] = "bad-length",
    [MIG_E_CHECK] = "bad-record-checksum",
    [MIG_E_FIELD] = "bad-field",
    [MIG_E_RANGE] = "bad-page-range",
    [MIG_E_DATA_CHECK] = "bad-data-checksum",
    [MIG_E_ROUND] = "bad-round",
    [MIG_E_SECTION] = "bad-section",
    [MIG_E_UNREPAIRED] = "unrepaired-pages",
    [MIG_E_DIGEST] = "digest-mismatch",
    [MIG_E_TRUNCATED] = "truncated",
    [MIG_E_TRAILING] = "trailing-bytes",
    [MIG_E_CONFIG] = "config-mismatch",
    [MIG_E_LOAD] = "load-refused",
    [MIG_E_LOCAL] = "destination-failed",
    [MIG_E_STATE] = "caller-error",
};

const char *mig_err_name(enum mig_err e)
{
	return (unsigned int)e < MIG_E_COUNT ? err_names[e] : "unknown";
}

void mig_fail(struct mig_error *e, enum mig_err code, uint64_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	e->code = code;
	e->offset = off;
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, " (stream offset %" PRIu64 ")",
			 off);
}

uint64_t mig_rec_check(const uint8_t *rec, size_t size)
{
	return XXH3_64bits_withSeed(rec, size - 8, MIG_CHECK_SEED);
}

void mig_rec_seal(uint8_t *rec, size_t size)
{
	mig_put64(rec + size - 8, mig_rec_check(rec, size));
}

size_t mig_rec_fixed(uint32_t type)
{
	switch (type) {
	case MIG_REC_CONFIG:
		return MIG_CFG_SIZE;
	case MIG_REC_ROUND_BEGIN:
		return MIG_RB_SIZE;
	case MIG_REC_DATA:
		return MIG_DATA_SIZE;
	case MIG_REC_ZERO:
		return MIG_ZERO_SIZE;
	case MIG_REC_ROUND_END:
		return MIG_RE_SIZE;
	case MIG_REC_SECTION:
		return MIG_SEC_SIZE;
	case MIG_REC_END:
		return MIG_END_SIZE;
	case MIG_REC_ACK:
		return MIG_ACK_SIZE;
	case MIG_REC_ERROR:
		return MIG_ERR_SIZE;
	}
	return 0;
}

const char *mig_rec_name(uint32_t type)
{
	switch (type) {
	case MIG_REC_CONFIG:
		return "CONFIG";
	case MIG_REC_ROUND_BEGIN:
		return "ROUND_BEGIN";
	case MIG_REC_DATA:
		return "DATA";
	case MIG_REC_ZERO:
		return "ZERO";
	case MIG_REC_ROUND_END:
		return "ROUND_END";
	case MIG_REC_SECTION:
		return "SECTION";
	case MIG_REC_END:
		return "END";
	case MIG_REC_ACK:
		return "ACK";
	case MIG_REC_ERROR:
		return "ERROR";
	}
	return "unknown";
}

static bool pow2(uint64_t v)
{
	return v && (v & (v - 1)) == 0;
}

int mig_config_check_at(const struct mig_config *c, unsigned int *off, char *msg, size_t len)
{
#define BAD(o, ...)                                                                                \
	do {                                                                                       \
		*off = (o);                                                                        \
		snprintf(msg, len, __VA_ARGS__);                                                   \
		return MIG_E_FIELD;                                                                \
	} while (0)
	if (c->page_size != MIG_PAGE_SIZE)
		BAD(MIG_CFG_OFF_PAGE_SIZE, "page size %" PRIu32 " (version %d knows %u only)",
		    c->page_size, MIG_STREAM_VERSION, MIG_PAGE_SIZE);
	if (c->ncpus == 0 || c->ncpus > MIG_MAX_CPUS)
		BAD(MIG_CFG_OFF_NCPUS, "vCPU count %" PRIu32 " (1 to %u)", c->ncpus, MIG_MAX_CPUS);
	if (c->ram_size == 0 || c->ram_size % MIG_PAGE_SIZE || c->ram_size > MIG_MAX_RAM)
		BAD(MIG_CFG_OFF_RAM_SIZE,
		    "RAM size %" PRIu64 " (whole pages, at least one, at most %llu)", c->ram_size,
		    MIG_MAX_RAM);
	if (!pow2(c->ring_entries) || c->ring_entries > MIG_MAX_RING)
		BAD(MIG_CFG_OFF_RING, "dirty ring size %" PRIu32 " (a power of two up to %u)",
		    c->ring_entries, MIG_MAX_RING);
	if (c->tsc_khz > MIG_MAX_TSC_KHZ)
		BAD(MIG_CFG_OFF_TSC_KHZ, "TSC frequency %" PRIu32 " kHz (at most %u)", c->tsc_khz,
		    MIG_MAX_TSC_KHZ);
	if (c->stats_size > MIG_MAX_STATS_SIZE)
		BAD(MIG_CFG_OFF_STATS_SIZE, "stats device size %" PRIu64 " (at most %u)",
		    c->stats_size, MIG_MAX_STATS_SIZE);
	if (c->stats_size == 0 ? c->stats_gpa != 0
			       : c->stats_gpa % MIG_PAGE_SIZE || c->stats_gpa < c->ram_size ||
				     c->stats_gpa > GPA_LIMIT - c->stats_size)
		BAD(MIG_CFG_OFF_STATS_GPA,
		    "stats device at 0x%" PRIx64 " (page aligned, above RAM, below 2^52)",
		    c->stats_gpa);
	if (!mig_digest_chunk_ok(c->digest_chunk))
		BAD(MIG_CFG_OFF_DIGEST_CHUNK,
		    "digest chunk %" PRIu32 " (a power of two from %u to %u)", c->digest_chunk,
		    MIG_DIGEST_CHUNK_MIN, MIG_DIGEST_CHUNK_MAX);
#undef BAD
	return 0;
}

int mig_config_check(const struct mig_config *c, const char **field, char *msg, size_t len)
{
	static const struct {
		unsigned int off;
		const char *name;
	} names[] = {
	    {MIG_CFG_OFF_PAGE_SIZE, "page-size"},   {MIG_CFG_OFF_NCPUS, "ncpus"},
	    {MIG_CFG_OFF_RAM_SIZE, "ram-size"},	    {MIG_CFG_OFF_RING, "ring-entries"},
	    {MIG_CFG_OFF_TSC_KHZ, "tsc-khz"},	    {MIG_CFG_OFF_STATS_GPA, "stats-gpa"},
	    {MIG_CFG_OFF_STATS_SIZE, "stats-size"}, {MIG_CFG_OFF_DIGEST_CHUNK, "digest-chunk"},
	};
	unsigned int off = 0, i;
	int r = mig_config_check_at(c, &off, msg, len);

	if (field) {
		*field = NULL;
		for (i = 0; r && i < sizeof(names) / sizeof(names[0]); i++)
			if (names[i].off == off)
				*field = names[i].name;
	}
	return r;
}

int mig_config_match(const struct mig_config *s, const struct mig_config *l, bool tsc_scaling,
		     char *msg, size_t len)
{
	if (s->page_size != l->page_size) {
		snprintf(msg, len, "the stream's page size is %" PRIu32 ", this vmm's %" PRIu32,
			 s->page_size, l->page_size);
		return -1;
	}
	if (l->ram_size && s->ram_size != l->ram_size) {
		snprintf(msg, len,
			 "the guest has %" PRIu64 " MiB of RAM, this vmm was given %" PRIu64
			 " MiB (--mem)",
			 s->ram_size >> 20, l->ram_size >> 20);
		return -1;
	}
	if (l->ncpus && s->ncpus != l->ncpus) {
		snprintf(msg, len,
			 "the guest has %" PRIu32 " vCPUs, this vmm was given %" PRIu32 " (--cpus)",
			 s->ncpus, l->ncpus);
		return -1;
	}
	if (l->ring_entries && s->ring_entries != l->ring_entries) {
		snprintf(msg, len,
			 "the source's dirty ring has %" PRIu32
			 " entries, this vmm was given %" PRIu32 " (--dirty-ring-size)",
			 s->ring_entries, l->ring_entries);
		return -1;
	}
	if (s->stats_gpa != l->stats_gpa || s->stats_size != l->stats_size) {
		snprintf(msg, len,
			 "the stats device is at 0x%" PRIx64 " (%" PRIu64
			 " bytes) on the source, at 0x%" PRIx64 " (%" PRIu64 " bytes) here",
			 s->stats_gpa, s->stats_size, l->stats_gpa, l->stats_size);
		return -1;
	}
	if (s->tsc_khz && s->tsc_khz != l->tsc_khz && !tsc_scaling) {
		snprintf(msg, len,
			 "the guest's TSC runs at %" PRIu32 " kHz, this host's at %" PRIu32
			 " kHz and KVM cannot scale it",
			 s->tsc_khz, l->tsc_khz);
		return -1;
	}
	return 0;
}

/* ---- Replies ---- */

size_t mig_reply_ack(uint8_t *buf, const uint8_t digest[MIG_DIGEST_LEN])
{
	memset(buf, 0, MIG_ACK_SIZE);
	mig_put32(buf + MIG_REC_OFF_TYPE, MIG_REC_ACK);
	mig_put32(buf + MIG_REC_OFF_LEN, MIG_ACK_SIZE - MIG_REC_HEAD);
	memcpy(buf + MIG_ACK_OFF_DIGEST, digest, MIG_DIGEST_LEN);
	mig_rec_seal(buf, MIG_ACK_SIZE);
	return MIG_ACK_SIZE;
}

size_t mig_reply_error(uint8_t *buf, const struct mig_error *err)
{
	uint8_t *reason = buf + MIG_ERR_SIZE;
	size_t n = strnlen(err->msg, sizeof(err->msg)), i;

	if (n > MIG_REASON_MAX)
		n = MIG_REASON_MAX;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)err->msg[i];

		reason[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
	}
	memset(buf, 0, MIG_ERR_SIZE);
	mig_put32(buf + MIG_REC_OFF_TYPE, MIG_REC_ERROR);
	mig_put32(buf + MIG_REC_OFF_LEN, (uint32_t)(MIG_ERR_SIZE - MIG_REC_HEAD + n));
	mig_put32(buf + MIG_ERR_OFF_CODE,
		  err->code > MIG_OK && err->code < MIG_E_COUNT ? err->code : MIG_E_LOCAL);
	mig_put32(buf + MIG_ERR_OFF_LEN, (uint32_t)n);
	mig_put64(buf + MIG_ERR_OFF_OFFSET, err->offset);
	mig_put64(buf + MIG_ERR_OFF_CHECK, XXH3_64bits(reason, n));
	mig_rec_seal(buf, MIG_ERR_SIZE);
	return MIG_ERR_SIZE + n;
}

long mig_reply_parse(const uint8_t *buf, size_t len, struct mig_reply *r, struct mig_error *err)
{
	uint32_t type, rlen, code, n;
	size_t fixed, i;

	if (len < MIG_REC_HEAD)
		return 0;
	type = mig_get32(buf + MIG_REC_OFF_TYPE);
	rlen = mig_get32(buf + MIG_REC_OFF_LEN);
	if (type != MIG_REC_ACK && type != MIG_REC_ERROR) {
		mig_fail(err, MIG_E_TYPE, MIG_REC_OFF_TYPE,
			 "reply of type %" PRIu32 " (%s), expected ACK or ERROR", type,
			 mig_rec_name(type));
		return -1;
	}
	fixed = mig_rec_fixed(type);
	if (type == MIG_REC_ACK
		? rlen != fixed - MIG_REC_HEAD
		: rlen < fixed - MIG_REC_HEAD || rlen > fixed - MIG_REC_HEAD + MIG_REASON_MAX) {
		mig_fail(err, MIG_E_LENGTH, MIG_REC_OFF_LEN, "%s reply of length %" PRIu32,
			 mig_rec_name(type), rlen);
		return -1;
	}
	if (len < fixed)
		return 0;
	if (mig_get64(buf + fixed - 8) != mig_rec_check(buf, fixed)) {
		mig_fail(err, MIG_E_CHECK, fixed - 8, "%s reply: checksum mismatch",
			 mig_rec_name(type));
		return -1;
	}
	memset(r, 0, sizeof(*r));
	if (type == MIG_REC_ACK) {
		r->type = MIG_REPLY_ACK;
		memcpy(r->digest, buf + MIG_ACK_OFF_DIGEST, MIG_DIGEST_LEN);
		return (long)fixed;
	}
	code = mig_get32(buf + MIG_ERR_OFF_CODE);
	n = mig_get32(buf + MIG_ERR_OFF_LEN);
	if (code == MIG_OK || code >= MIG_E_COUNT) {
		mig_fail(err, MIG_E_FIELD, MIG_ERR_OFF_CODE, "ERROR reply with code %" PRIu32,
			 code);
		return -1;
	}
	if (n != rlen - (fixed - MIG_REC_HEAD)) {
		mig_fail(err, MIG_E_LENGTH, MIG_ERR_OFF_LEN,
			 "ERROR reply: reason of %" PRIu32 " bytes in a record of %" PRIu32, n,
			 rlen);
		return -1;
	}
	if (len < fixed + n)
		return 0;
	if (mig_get64(buf + MIG_ERR_OFF_CHECK) != XXH3_64bits(buf + fixed, n)) {
		mig_fail(err, MIG_E_DATA_CHECK, fixed, "ERROR reply: reason checksum mismatch");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (buf[fixed + i] < 0x20 || buf[fixed + i] >= 0x7f) {
			mig_fail(err, MIG_E_FIELD, fixed + i,
				 "ERROR reply: unprintable byte 0x%02x in the reason",
				 buf[fixed + i]);
			return -1;
		}
	}
	r->type = MIG_REPLY_ERROR;
	r->code = (enum mig_err)code;
	r->offset = mig_get64(buf + MIG_ERR_OFF_OFFSET);
	memcpy(r->reason, buf + fixed, n);
	r->reason[n] = '\0';
	return (long)(fixed + n);
}

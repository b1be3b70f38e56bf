// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the destination's reply as the source decodes it
 * (mig_reply_parse(), src/migrate/mig_stream.c), an ACK or an ERROR read
 * from the socket after the stream.
 *
 * Input: 1 control byte, then the bytes the source receives.
 *   byte 0  bit 0: first repair the reply's checks (record check; with an
 *           ERROR, its reason's check), so that mutations reach the fields
 *           behind them
 * Checked:
 *   - a reply is read from its prefix alone: every prefix shorter than a
 *     complete reply asks for more (0); once a prefix is refused (-1) or
 *     accepted, every longer one gets the same answer; an accepted length
 *     lies within the bytes;
 *   - a refusal is one error: a known code, an offset inside the reply, one
 *     printable line;
 *   - what is accepted is well formed (an ERROR's code is a real error, its
 *     reason printable) and encodes back to exactly the bytes it came from.
 */
#include "fuzz.h"

#include <string.h>
#include <xxhash.h>

#include "migrate/mig_stream.h"
#include "migrate/mig_stream_wire.h"

#define FZ_FIX 0x01

/* Repair the checks of a reply at the start of s, as far as its bytes go. */
static void repair(uint8_t *s, size_t len)
{
	uint32_t type;
	size_t fixed;

	if (len < MIG_REC_HEAD)
		return;
	type = mig_get32(s + MIG_REC_OFF_TYPE);
	fixed = mig_rec_fixed(type);
	if ((type != MIG_REC_ACK && type != MIG_REC_ERROR) || len < fixed)
		return;
	if (type == MIG_REC_ERROR) {
		uint32_t n = mig_get32(s + MIG_ERR_OFF_LEN);

		if (n <= len - fixed)
			mig_put64(s + MIG_ERR_OFF_CHECK, XXH3_64bits(s + fixed, n));
	}
	mig_rec_seal(s, fixed);
}

/* One parse; the reply and error are poisoned first, so that a field left unset shows. */
static long parse(const uint8_t *s, size_t len, struct mig_reply *r, struct mig_error *e)
{
	memset(r, 0xee, sizeof(*r));
	memset(e, 0xee, sizeof(*e));
	return mig_reply_parse(s, len, r, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig_reply r, rk;
	struct mig_error e, ek;
	uint8_t *s, out[MIG_REPLY_MAX];
	size_t len, k, n;
	long got;

	if (size < 1)
		return 0;
	len = size - 1;
	s = malloc(len ? len : 1);
	if (!s)
		abort();
	memcpy(s, data + 1, len);
	if (data[0] & FZ_FIX)
		repair(s, len);

	got = parse(s, len, &r, &e);
	FUZZ_CHECK(got >= -1 && got <= (long)len, "parse of %zu bytes returned %ld", len, got);
	if (got < 0) {
		FUZZ_CHECK(e.code > MIG_OK && e.code < MIG_E_COUNT, "error code %d", e.code);
		FUZZ_CHECK(e.offset <= len, "error at %llu of %zu bytes",
			   (unsigned long long)e.offset, len);
		FUZZ_CHECK(fuzz_msg_ok(e.msg, sizeof(e.msg)), "error message not one line");
	}

	/* Every prefix: 0 until the answer, then the same answer. */
	for (k = 0; k < len; k++) {
		long gk = parse(s, k, &rk, &ek);

		if (gk == 0)
			continue;
		FUZZ_CHECK(gk == got, "%zu bytes give %ld, all %zu give %ld", k, gk, len, got);
		if (gk < 0)
			FUZZ_CHECK(ek.code == e.code && ek.offset == e.offset,
				   "the error changes with more bytes: %s, then %s", ek.msg, e.msg);
		break;
	}

	if (got > 0) {
		if (r.type == MIG_REPLY_ACK) {
			n = mig_reply_ack(out, r.digest);
		} else {
			struct mig_error re = {.code = r.code, .offset = r.offset};

			FUZZ_CHECK(r.type == MIG_REPLY_ERROR, "reply type %d", r.type);
			FUZZ_CHECK(r.code > MIG_OK && r.code < MIG_E_COUNT, "ERROR with code %d",
				   r.code);
			FUZZ_CHECK(
			    strnlen(r.reason, sizeof(r.reason)) < sizeof(r.reason) &&
				(r.reason[0] == '\0' || fuzz_msg_ok(r.reason, sizeof(r.reason))),
			    "reason not printable");
			memcpy(re.msg, r.reason, strlen(r.reason) + 1);
			n = mig_reply_error(out, &re);
		}
		FUZZ_CHECK(n == (size_t)got && memcmp(out, s, n) == 0,
			   "the reply does not encode back to its %ld bytes", got);
	}
	fuzz_valid(got > 0, "reply", got < 0 ? e.msg : "incomplete");
	free(s);
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include "vmm/wire.h"

#include <stdlib.h>
#include <string.h>

/* First allocation: most sections are a few hundred bytes. */
#define WIRE_MIN_CAP 256

void wire_out_init(struct wire_out *w)
{
	memset(w, 0, sizeof(*w));
}

void wire_out_free(struct wire_out *w)
{
	free(w->buf);
	wire_out_init(w);
}

uint8_t *wire_out_take(struct wire_out *w, size_t *len)
{
	uint8_t *b = w->failed ? NULL : w->buf;

	*len = w->failed ? 0 : w->len;
	if (w->failed)
		free(w->buf);
	else if (!b)
		b = malloc(1); /* an empty section is still a buffer */
	wire_out_init(w);
	return b;
}

void wire_put_bytes(struct wire_out *w, const void *p, size_t n)
{
	if (w->failed)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : WIRE_MIN_CAP;
		uint8_t *b;

		while (cap < w->len + n)
			cap *= 2;
		b = realloc(w->buf, cap);
		if (!b) {
			w->failed = true;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_le(struct wire_out *w, uint64_t v, int bytes)
{
	uint8_t b[8];

	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	wire_put_bytes(w, b, (size_t)bytes);
}

void wire_put_u8(struct wire_out *w, uint8_t v)
{
	put_le(w, v, 1);
}

void wire_put_u16(struct wire_out *w, uint16_t v)
{
	put_le(w, v, 2);
}

void wire_put_u32(struct wire_out *w, uint32_t v)
{
	put_le(w, v, 4);
}

void wire_put_u64(struct wire_out *w, uint64_t v)
{
	put_le(w, v, 8);
}

void wire_in_init(struct wire_in *r, const uint8_t *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->short_read = false;
}

void wire_get_bytes(struct wire_in *r, void *p, size_t n)
{
	if (r->short_read || n > r->len - r->pos) {
		r->short_read = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, r->buf + r->pos, n);
	r->pos += n;
}

static uint64_t get_le(struct wire_in *r, int bytes)
{
	uint8_t b[8];
	uint64_t v = 0;

	wire_get_bytes(r, b, (size_t)bytes);
	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

uint8_t wire_get_u8(struct wire_in *r)
{
	return (uint8_t)get_le(r, 1);
}

uint16_t wire_get_u16(struct wire_in *r)
{
	return (uint16_t)get_le(r, 2);
}

uint32_t wire_get_u32(struct wire_in *r)
{
	return (uint32_t)get_le(r, 4);
}

uint64_t wire_get_u64(struct wire_in *r)
{
	return get_le(r, 8);
}

bool wire_in_done(const struct wire_in *r)
{
	return !r->short_read && r->pos == r->len;
}

/* SPDX-License-Identifier: MIT */
/*
 * wire: fixed-width little-endian fields in and out of byte buffers, for the
 * state sections (vstate.h).  Writing grows a heap buffer; reading never
 * reads past the end: a short buffer reads as zeros and is remembered, so a
 * decoder reads every field and checks once at the end.  Pure.
 */
#ifndef VMM_WIRE_H
#define VMM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wire_out {
	uint8_t *buf; /* heap, owned until wire_out_take() */
	size_t len, cap;
	bool failed; /* out of memory: everything after is dropped */
};

void wire_out_init(struct wire_out *w);
void wire_out_free(struct wire_out *w);
/* Hand the buffer over (NULL if writing failed); w is empty again. */
uint8_t *wire_out_take(struct wire_out *w, size_t *len);
void wire_put_u8(struct wire_out *w, uint8_t v);
void wire_put_u16(struct wire_out *w, uint16_t v);
void wire_put_u32(struct wire_out *w, uint32_t v);
void wire_put_u64(struct wire_out *w, uint64_t v);
void wire_put_bytes(struct wire_out *w, const void *p, size_t n);

struct wire_in {
	const uint8_t *buf;
	size_t len, pos;
	bool short_read; /* a read went past the end */
};

void wire_in_init(struct wire_in *r, const uint8_t *buf, size_t len);
uint8_t wire_get_u8(struct wire_in *r);
uint16_t wire_get_u16(struct wire_in *r);
uint32_t wire_get_u32(struct wire_in *r);
uint64_t wire_get_u64(struct wire_in *r);
void wire_get_bytes(struct wire_in *r, void *p, size_t n);
/* Every byte read, none missing. */
bool wire_in_done(const struct wire_in *r);

#endif

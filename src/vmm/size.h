/* SPDX-License-Identifier: MIT */
/*
 * Human sizes on the command line: "512M", "4GiB", "64k", "1t".
 *
 * A size is a decimal integer (no sign, no fraction, no spaces) followed by
 * an optional binary suffix K, M, G or T (case-insensitive, powers of 1024),
 * itself optionally followed by "B" or "iB": "2G", "2GB" and "2GiB" are the
 * same.  A lone "B" means bytes.  A bare number is scaled by the caller's
 * default unit (QEMU's -m takes a bare number as MiB).
 */
#ifndef VMM_SIZE_H
#define VMM_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Default units for a number without a suffix (a shift count). */
#define SIZE_UNIT_BYTES 0
#define SIZE_UNIT_KIB	10
#define SIZE_UNIT_MIB	20

/*
 * Parse @s into *@out (bytes).  A bare number is multiplied by
 * 2^@default_shift.  Zero is accepted (the caller decides whether it makes
 * sense).  Returns 0, -EINVAL for malformed text or -ERANGE when the value
 * does not fit in 64 bits; on error *@out is untouched and @err says why.
 */
int size_parse(const char *s, unsigned default_shift, uint64_t *out, char *err, size_t errlen);

/*
 * Write @bytes to @buf in the shortest exact form ("512M", "1G", "4100K",
 * "123" for bytes).  Returns 0, or -ENOSPC when @buf is too small (it is
 * then still NUL-terminated if @len > 0).  24 bytes always suffice.
 */
int size_format(uint64_t bytes, char *buf, size_t len);

#endif

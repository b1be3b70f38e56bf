/* SPDX-License-Identifier: MIT */
/* vstate: the devices' sections (layouts in docs/vm-state.md). */
#include "vmm/vstate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* lcr, scratch, len: then len bytes. */
#define CONSOLE_HDR 4u
#define REPORT_LEN  9u

static int bad_version(const char *what, uint32_t version, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: version %u, this vmm reads version %u", what, version,
		 VSTATE_VERSION);
	return -EINVAL;
}

void vstate_console_encode(const struct vstate_console *c, struct wire_out *w)
{
	wire_put_u8(w, c->lcr);
	wire_put_u8(w, c->scratch);
	wire_put_u16(w, c->len);
	wire_put_bytes(w, c->line, c->len);
}

int vstate_console_decode(struct vstate_console *c, uint32_t version, const uint8_t *b, size_t len,
			  char *err, size_t errlen)
{
	struct wire_in r;

	if (version != VSTATE_VERSION)
		return bad_version("console", version, err, errlen);
	memset(c, 0, sizeof(*c));
	wire_in_init(&r, b, len);
	c->lcr = wire_get_u8(&r);
	c->scratch = wire_get_u8(&r);
	c->len = wire_get_u16(&r);
	if (c->len > VSTATE_CONSOLE_LINE_MAX) {
		snprintf(err, errlen, "console: a partial line of %u bytes, at most %u", c->len,
			 VSTATE_CONSOLE_LINE_MAX);
		return -EINVAL;
	}
	wire_get_bytes(&r, c->line, c->len);
	if (!wire_in_done(&r)) {
		snprintf(err, errlen, "console: %zu bytes, the layout has %u", len,
			 CONSOLE_HDR + c->len);
		return -EINVAL;
	}
	return 0;
}

void vstate_report_encode(const struct vstate_report *rp, struct wire_out *w)
{
	wire_put_u8(w, rp->booted);
	wire_put_u64(w, rp->data_errors_reported);
}

int vstate_report_decode(struct vstate_report *rp, uint32_t version, const uint8_t *b, size_t len,
			 char *err, size_t errlen)
{
	struct wire_in r;

	if (version != VSTATE_VERSION)
		return bad_version("report", version, err, errlen);
	wire_in_init(&r, b, len);
	rp->booted = wire_get_u8(&r);
	rp->data_errors_reported = wire_get_u64(&r);
	if (!wire_in_done(&r)) {
		snprintf(err, errlen, "report: %zu bytes, the layout has %u", len, REPORT_LEN);
		return -EINVAL;
	}
	if (rp->booted > 1) {
		snprintf(err, errlen, "report: booted is %u, not 0 or 1", rp->booted);
		return -EINVAL;
	}
	return 0;
}

void vstate_stats_encode(const void *region, uint32_t size, struct wire_out *w)
{
	wire_put_u32(w, size);
	wire_put_bytes(w, region, size);
}

int vstate_stats_decode(const uint8_t **data, uint32_t size, uint32_t version, const uint8_t *b,
			size_t len, char *err, size_t errlen)
{
	struct wire_in r;
	uint32_t n;

	if (version != VSTATE_VERSION)
		return bad_version("stats", version, err, errlen);
	wire_in_init(&r, b, len);
	n = wire_get_u32(&r);
	if (r.short_read || n != size || len - 4 != n) {
		snprintf(err, errlen, "stats: a region of %u bytes in %zu, this VM's has %u",
			 r.short_read ? 0 : n, len, size);
		return -EINVAL;
	}
	*data = b + 4;
	return 0;
}

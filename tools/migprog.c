/* SPDX-License-Identifier: MIT */
#include "migprog.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* QEMU's "mbps" is megabits (10^6 bits) per second; we show MiB/s like every other rate. */
#define MBPS_TO_MIBS (1e6 / 8.0 / 1048576.0)

bool migprog_final(const char *status)
{
	return !strcmp(status, "completed") || !strcmp(status, "failed") ||
	       !strcmp(status, "cancelled");
}

static bool get_u64(json_object *o, const char *key, uint64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return false;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return false;
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);

		*out = d <= 0 ? 0 : d >= 1.8e19 ? UINT64_MAX : (uint64_t)d;
	} else {
		int64_t i = json_object_get_int64(v);

		/* json-c keeps values above INT64_MAX as uint64. */
		*out = i < 0 ? 0 : json_object_get_uint64(v);
	}
	return true;
}

static void get_str(json_object *o, const char *key, char *buf, size_t len)
{
	json_object *v;

	buf[0] = '\0';
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		snprintf(buf, len, "%s", json_object_get_string(v));
}

int migprog_parse(json_object *ret, struct migprog *p)
{
	json_object *ram, *v;
	uint64_t u;

	memset(p, 0, sizeof(*p));
	p->page_size = 4096;
	if (!json_object_is_type(ret, json_type_object))
		return -1;
	get_str(ret, "status", p->status, sizeof(p->status));
	/* QEMU leaves status out before the first migration: that is "none". */
	if (!p->status[0])
		snprintf(p->status, sizeof(p->status), "none");
	p->has_total_time = get_u64(ret, "total-time", &p->total_time_ms);
	p->has_setup_time = get_u64(ret, "setup-time", &p->setup_time_ms);
	p->has_expected_downtime = get_u64(ret, "expected-downtime", &p->expected_downtime_ms);
	p->has_downtime = get_u64(ret, "downtime", &p->downtime_ms);
	p->has_throttle = get_u64(ret, "cpu-throttle-percentage", &u);
	p->throttle_pct = u > 100 ? 100 : (unsigned)u;
	if (!p->has_throttle)
		p->throttle_pct = 0;
	get_str(ret, "error-desc", p->error_desc, sizeof(p->error_desc));
	get_str(ret, "x-note", p->note, sizeof(p->note));
	if (json_object_object_get_ex(ret, "ram", &ram) &&
	    json_object_is_type(ram, json_type_object)) {
		p->has_ram = true;
		get_u64(ram, "transferred", &p->transferred);
		get_u64(ram, "remaining", &p->remaining);
		get_u64(ram, "total", &p->total);
		get_u64(ram, "normal-bytes", &p->normal_bytes);
		get_u64(ram, "duplicate", &p->duplicate);
		get_u64(ram, "dirty-pages-rate", &p->dirty_pages_rate);
		get_u64(ram, "dirty-sync-count", &p->dirty_sync_count);
		if (get_u64(ram, "page-size", &u) && u)
			p->page_size = u;
		if (json_object_object_get_ex(ram, "mbps", &v) &&
		    (json_object_is_type(v, json_type_double) ||
		     json_object_is_type(v, json_type_int)))
			p->mbps = json_object_get_double(v);
	}
	return 0;
}

void migprog_limits(json_object *ret, struct migprog *p)
{
	size_t i, n;

	p->limited = 0;
	p->limit_min = p->limit_max = 0;
	if (!ret || !json_object_is_type(ret, json_type_array))
		return;
	n = json_object_array_length(ret);
	for (i = 0; i < n; i++) {
		uint64_t lim;

		if (!get_u64(json_object_array_get_idx(ret, i), "limit-rate", &lim) || !lim)
			continue;
		if (!p->limited || lim < p->limit_min)
			p->limit_min = lim;
		if (!p->limited || lim > p->limit_max)
			p->limit_max = lim;
		p->limited++;
	}
}

void migprog_carry(const struct migprog *prev, struct migprog *p)
{
	if (prev) {
		p->peak_throttle = prev->peak_throttle;
		p->peak_limited = prev->peak_limited;
		p->lowest_limit = prev->lowest_limit;
	}
	if (p->throttle_pct > p->peak_throttle)
		p->peak_throttle = p->throttle_pct;
	if (p->limited > p->peak_limited)
		p->peak_limited = p->limited;
	if (p->limited && (!p->lowest_limit || p->limit_min < p->lowest_limit))
		p->lowest_limit = p->limit_min;
}

void migprog_bytes(uint64_t b, char *buf, size_t len)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)b;
	int u = -1;

	if (b < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", b);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	/* Three significant digits: 1.00 GiB, 12.0 MiB, 512 KiB. */
	snprintf(buf, len, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* Append to buf at *off, never past len (a cut line, never an overflow). */
static void add(char *buf, size_t len, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + (size_t)n < len ? *off + (size_t)n : len - 1;
}

static double dirty_mibs(const struct migprog *p)
{
	return (double)p->dirty_pages_rate * (double)p->page_size / 1048576.0;
}

/* "limit none", "throttle 30%", "limit 2 vCPUs at 1 MiB/s", both, ... */
static void add_limit(const struct migprog *p, char *buf, size_t len, size_t *off)
{
	if (!p->throttle_pct && !p->limited) {
		add(buf, len, off, "no limit");
		return;
	}
	if (p->throttle_pct)
		add(buf, len, off, "throttle %u%%", p->throttle_pct);
	if (p->limited) {
		add(buf, len, off, "%slimit %u vCPU%s at ", p->throttle_pct ? ", " : "", p->limited,
		    p->limited == 1 ? "" : "s");
		if (p->limit_min == p->limit_max)
			add(buf, len, off, "%" PRIu64 " MiB/s", p->limit_min);
		else
			add(buf, len, off, "%" PRIu64 "-%" PRIu64 " MiB/s", p->limit_min,
			    p->limit_max);
	}
}

void migprog_line(const struct migprog *p, double elapsed_s, char *buf, size_t len)
{
	char sent[16], left[16], total[16];
	size_t off = 0;

	buf[0] = '\0';
	add(buf, len, &off, "%5.1fs %-10s", elapsed_s, p->status);
	if (!p->has_ram)
		return;
	migprog_bytes(p->transferred, sent, sizeof(sent));
	migprog_bytes(p->remaining, left, sizeof(left));
	migprog_bytes(p->total, total, sizeof(total));
	add(buf, len, &off,
	    " round %" PRIu64 "  sent %s, left %s of %s  %.1f MiB/s  dirty %.1f MiB/s",
	    p->dirty_sync_count, sent, left, total, p->mbps * MBPS_TO_MIBS, dirty_mibs(p));
	if (p->has_expected_downtime)
		add(buf, len, &off, "  downtime ~%" PRIu64 " ms", p->expected_downtime_ms);
	add(buf, len, &off, "  ");
	add_limit(p, buf, len, &off);
	if (p->note[0])
		add(buf, len, &off, "  (%s)", p->note);
}

void migprog_summary(const struct migprog *p, double elapsed_s, char *buf, size_t len)
{
	double secs = p->has_total_time ? (double)p->total_time_ms / 1000.0 : elapsed_s;
	char sent[16], normal[16], total[16];
	size_t off = 0;

	buf[0] = '\0';
	if (!strcmp(p->status, "completed"))
		add(buf, len, &off, "migration completed in %.2f s", secs);
	else if (!strcmp(p->status, "failed"))
		add(buf, len, &off, "migration failed after %.2f s: %s", secs,
		    p->error_desc[0] ? p->error_desc : "(no reason given)");
	else if (!strcmp(p->status, "cancelled"))
		add(buf, len, &off, "migration cancelled after %.2f s", secs);
	else
		add(buf, len, &off, "migration %s after %.2f s", p->status, secs);
	if (p->has_setup_time)
		add(buf, len, &off, " (setup %" PRIu64 " ms)", p->setup_time_ms);
	add(buf, len, &off, "\n");
	if (p->has_ram) {
		migprog_bytes(p->transferred, sent, sizeof(sent));
		migprog_bytes(p->normal_bytes, normal, sizeof(normal));
		migprog_bytes(p->total, total, sizeof(total));
		add(buf, len, &off,
		    "  RAM %s: sent %s (%s of page data, %" PRIu64 " zero pages) in %" PRIu64
		    " round%s",
		    total, sent, normal, p->duplicate, p->dirty_sync_count,
		    p->dirty_sync_count == 1 ? "" : "s");
		if (secs > 0)
			add(buf, len, &off, ", %.1f MiB/s on average",
			    (double)p->transferred / secs / 1048576.0);
		add(buf, len, &off, "\n");
	}
	if (p->has_downtime)
		add(buf, len, &off, "  downtime %" PRIu64 " ms\n", p->downtime_ms);
	if (strcmp(p->status, "completed") && p->has_ram) {
		migprog_bytes(p->remaining, sent, sizeof(sent));
		add(buf, len, &off, "  left unsent: %s\n", sent);
	}
	if (!p->peak_throttle && !p->lowest_limit) {
		add(buf, len, &off, "  no throttle or dirty limit was in force\n");
	} else {
		add(buf, len, &off, "  held back:");
		if (p->peak_throttle)
			add(buf, len, &off, " CPU throttle up to %u%%%s", p->peak_throttle,
			    p->lowest_limit ? ";" : "");
		if (p->lowest_limit)
			add(buf, len, &off,
			    " dirty limit down to %" PRIu64 " MiB/s, on up to %u vCPU%s",
			    p->lowest_limit, p->peak_limited, p->peak_limited == 1 ? "" : "s");
		add(buf, len, &off, "\n");
	}
	if (p->note[0])
		add(buf, len, &off, "  note: %s\n", p->note);
}

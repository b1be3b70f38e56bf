// SPDX-License-Identifier: MIT
/*
 * Fuzz target: QMP, from the bytes a client sends to the replies it reads
 * (src/qmp/): the JSON stream cut into values as QEMU's streamer cuts it
 * (qmp_json_in), each value dispatched in order through negotiation and
 * the command table (qmp_dispatch) against a backend with fixed answers,
 * but for migration's URIs, which go through the real parser
 * (mig_uri_parse(): an accepted one has a host and, to connect to, a port).
 *
 * Input: 1 control byte, then what the client sends (tests/fuzz/qmp.dict).
 *   byte 0: a seed for where the second run cuts the bytes; bit 7: the
 *           backend's stop finishes later (QMP_IN_PROGRESS), as the real
 *           one does while vCPUs park
 * Checked:
 *   - the stream cuts the same wherever the reads end: fed whole and fed
 *     in pieces, the same values and the same errors in the same order;
 *   - every value and every reply is written as one line of ASCII ending
 *     in "\r\n" that reads back to a value written the same way;
 *   - a parse error has a description, and the error reply made of it is
 *     such a line too;
 *   - every request gets exactly one reply, an object with "return" or
 *     "error" (the latter with a class and a desc), with the request's
 *     "id" when it had one;
 *   - nothing leaks (LeakSanitizer), whatever the client sends.
 * An "ok-" seed must go through without a parse error or an error reply.
 */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "migrate/mig_conn.h"
#include "qmp/qmp.h"
#include "qmp/qmp_dispatch.h"
#include "qmp/qmp_json.h"

#define FZ_ASYNC_STOP 0x80
/* Requests acted on per input: enough for a session, bounded for speed. */
#define FZ_MAX_VALUES 16
#define FZ_NCPUS      2

/* ---- a backend with fixed answers ---- */

struct fzbe {
	bool running, async_stop;
	unsigned int quits;
	uint64_t limit[FZ_NCPUS];
	char last_uri[512];
	struct qmp_migrate_params params;
	struct qmp_migrate_caps caps;
};

static const char *be_status(void *o, bool *running)
{
	struct fzbe *b = o;

	*running = b->running;
	return b->running ? "running" : "paused";
}

static int be_stop(void *o, char *err, size_t len)
{
	struct fzbe *b = o;

	b->running = false;
	return b->async_stop ? QMP_IN_PROGRESS : 0;
}

static int be_cont(void *o, char *err, size_t len)
{
	struct fzbe *b = o;

	b->running = true;
	return 0;
}

static void be_quit(void *o)
{
	((struct fzbe *)o)->quits++;
}

static int be_cpus(void *o, struct qmp_cpu_info *out, int max)
{
	int i;

	for (i = 0; i < FZ_NCPUS && i < max; i++)
		out[i] = (struct qmp_cpu_info){.cpu_index = i, .thread_id = 1000 + i};
	return i;
}

static int be_calc(void *o, uint64_t ms, const char *mode, char *err, size_t len)
{
	return 0;
}

static int be_query_rate(void *o, struct qmp_dirty_rate *out)
{
	out->status = QMP_DIRTY_RATE_MEASURED;
	out->dirty_rate = 123;
	out->calc_time_ms = 1000;
	out->nr_vcpus = FZ_NCPUS;
	out->vcpu[0] = (struct qmp_vcpu_rate){0, 100};
	out->vcpu[1] = (struct qmp_vcpu_rate){1, 23};
	return 0;
}

static int be_stats(void *o, struct qmp_guest_stats *out, int max, bool reset)
{
	int i;

	for (i = 0; i < FZ_NCPUS && i < max; i++)
		out[i] = (struct qmp_guest_stats){.cpu_index = i, .pages_written = 4096u * i};
	return i;
}

static int be_set_limit(void *o, int cpu, uint64_t mib, char *err, size_t len)
{
	struct fzbe *b = o;

	if (cpu >= FZ_NCPUS) {
		snprintf(err, len, "incorrect cpu index specified");
		return -EINVAL;
	}
	for (int i = 0; i < FZ_NCPUS; i++)
		if (cpu < 0 || cpu == i)
			b->limit[i] = mib;
	return 0;
}

static int be_cancel_limit(void *o, int cpu, char *err, size_t len)
{
	return be_set_limit(o, cpu, 0, err, len);
}

static int be_query_limit(void *o, struct qmp_dirty_limit *out, int max)
{
	struct fzbe *b = o;
	int i, n = 0;

	for (i = 0; i < FZ_NCPUS && n < max; i++)
		if (b->limit[i])
			out[n++] = (struct qmp_dirty_limit){i, b->limit[i], b->limit[i] / 2};
	return n;
}

/*
 * Migration: the URIs through the real parser (mig_uri_parse(), as
 * vm_migrate_start() and the destination's listen do); parameters and
 * capabilities kept and given back as set; query-migrate reports the last
 * URI as a failed migration's error, as a destination's ERROR reply, bytes
 * from outside, would be.
 */
static int be_migrate_uri(void *o, const char *uri, bool listen, char *err, size_t len)
{
	struct fzbe *b = o;
	struct mig_uri u;
	int r = mig_uri_parse(uri, listen, &u, err, len);

	FUZZ_CHECK(r == 0 || (r == -EINVAL && err[0] && strnlen(err, len) < len),
		   "mig_uri_parse: %d without a message", r);
	if (r == 0)
		FUZZ_CHECK(u.host[0] && strnlen(u.host, sizeof(u.host)) < sizeof(u.host) &&
			       (listen || u.port),
			   "mig_uri_parse accepted \"%s\" as host \"%s\" port %u", uri, u.host,
			   u.port);
	snprintf(b->last_uri, sizeof(b->last_uri), "%s", uri);
	return r;
}

static int be_migrate(void *o, const char *uri, char *err, size_t len)
{
	return be_migrate_uri(o, uri, false, err, len);
}

static int be_migrate_incoming(void *o, const char *uri, char *err, size_t len)
{
	return be_migrate_uri(o, uri, true, err, len);
}

static void be_migrate_cancel(void *o)
{
}

static void be_query_migrate(void *o, struct qmp_migrate_info *out)
{
	struct fzbe *b = o;

	if (!b->last_uri[0])
		return;
	out->status = "failed";
	out->has_ram = out->has_times = true;
	out->transferred = 4096;
	out->mbps = 1.5;
	out->error_desc = b->last_uri;
}

static int be_set_params(void *o, const struct qmp_migrate_params *p, char *err, size_t len)
{
	struct fzbe *b = o;

	for (int k = 0; k < QMP_MP_COUNT; k++)
		if (p->has[k]) {
			b->params.has[k] = true;
			b->params.v[k] = p->v[k];
		}
	return 0;
}

static void be_query_params(void *o, struct qmp_migrate_params *out)
{
	*out = ((struct fzbe *)o)->params;
}

static int be_set_caps(void *o, const struct qmp_migrate_caps *c, char *err, size_t len)
{
	struct fzbe *b = o;

	for (int k = 0; k < QMP_MC_COUNT; k++)
		if (c->has[k]) {
			b->caps.has[k] = true;
			b->caps.on[k] = c->on[k];
		}
	return 0;
}

static void be_query_caps(void *o, struct qmp_migrate_caps *out)
{
	*out = ((struct fzbe *)o)->caps;
}

/* ---- checks ---- */

/*
 * One line of ASCII ending in "\r\n" that parses back to a value written
 * the same way: a fixed point after one round.  (Not always an equal value:
 * as QEMU does, 10e0 is written 10, and bytes that are not UTF-8 in an
 * error quoting the client are written as U+FFFD.)
 */
static void check_line(json_object *v, const char *what)
{
	size_t len, i, len2;
	char *line = qmp_json_line(v, &len), *line2;
	json_object *back;

	if (!line)
		abort();
	FUZZ_CHECK(len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n' && !line[len],
		   "%s: not one line ending in CR LF", what);
	for (i = 0; i + 2 < len; i++)
		FUZZ_CHECK(line[i] >= 0x20 && line[i] < 0x7f, "%s: byte 0x%02x at %zu", what,
			   (unsigned char)line[i], i);
	back = json_tokener_parse(line);
	FUZZ_CHECK(back || !strcmp(line, "null\r\n"), "%s does not parse back: %s", what, line);
	line2 = qmp_json_line(back, &len2);
	FUZZ_CHECK(line2 && len2 == len && !memcmp(line, line2, len),
		   "%s is written another way once read back: %s", what, line);
	free(line2);
	json_object_put(back);
	free(line);
}

static void check_reply(json_object *req, json_object *reply)
{
	json_object *ret, *err, *cls, *desc, *id, *rid;
	bool has_ret, has_err;

	FUZZ_CHECK(json_object_is_type(reply, json_type_object), "a reply that is not an object");
	has_ret = json_object_object_get_ex(reply, "return", &ret);
	has_err = json_object_object_get_ex(reply, "error", &err);
	FUZZ_CHECK(has_ret != has_err, "a reply with %s", has_ret ? "both" : "neither");
	if (has_err) {
		FUZZ_CHECK(json_object_object_get_ex(err, "class", &cls) &&
			       json_object_is_type(cls, json_type_string) &&
			       json_object_object_get_ex(err, "desc", &desc) &&
			       json_object_is_type(desc, json_type_string),
			   "an error without a class and a desc");
	}
	if (req && json_object_is_type(req, json_type_object) &&
	    json_object_object_get_ex(req, "id", &id))
		FUZZ_CHECK(json_object_object_get_ex(reply, "id", &rid) &&
			       json_object_equal(rid, id),
			   "the reply lost the request's id");
	check_line(reply, "a reply");
}

/* ---- the stream ---- */

struct item {
	bool error;
	char *text; /* the value as written, or the error's description */
};

struct items {
	unsigned int n;
	struct item it[FZ_MAX_VALUES];
};

static void items_free(struct items *l)
{
	for (unsigned int i = 0; i < l->n; i++)
		free(l->it[i].text);
	l->n = 0;
}

/*
 * Cut data into values, fed in pieces whose sizes come from seed (0: all
 * at once).  Values go to v (NULL: freed) and their text to l.
 */
static void cut(const uint8_t *data, size_t size, uint32_t seed, struct items *l,
		json_object **vals)
{
	struct qmp_json_in in;
	size_t off = 0;

	if (qmp_json_in_init(&in, QMP_MAX_REQUEST, QMP_JSON_MAX_DEPTH))
		abort();
	while (off < size && l->n < FZ_MAX_VALUES) {
		size_t n = size - off, used;

		if (seed)
			n = 1 + fuzz_rand(&seed) % (n < 64 ? n : 64);
		while (n && l->n < FZ_MAX_VALUES) {
			char desc[QMP_JSON_ERR_MAX];
			json_object *v = NULL;
			int r = qmp_json_in_feed(&in, (const char *)data + off, n, &used, &v, desc);
			struct item *it = &l->it[l->n];

			FUZZ_CHECK(r == QMP_JSON_MORE || r == QMP_JSON_VALUE || r == QMP_JSON_ERROR,
				   "qmp_json_in_feed() returned %d", r);
			FUZZ_CHECK(used <= n, "used %zu of %zu", used, n);
			off += used;
			n -= used;
			if (r == QMP_JSON_MORE) {
				FUZZ_CHECK(n == 0, "MORE with %zu bytes left", n);
				break;
			}
			if (r == QMP_JSON_ERROR) {
				json_object *e = qmp_error_reply_new("GenericError", "%s", desc);

				FUZZ_CHECK(desc[0] && strnlen(desc, sizeof(desc)) < sizeof(desc),
					   "a parse error without a description");
				/* The reply the server sends for it. */
				check_reply(NULL, e);
				json_object_put(e);
				it->error = true;
				it->text = strdup(desc);
			} else {
				size_t len;

				it->error = false; /* v is NULL for a JSON null */
				it->text = v ? qmp_json_line(v, &len) : strdup("null");
				if (vals)
					vals[l->n] = v;
				else
					json_object_put(v);
			}
			if (!it->text)
				abort();
			l->n++;
		}
	}
	qmp_json_in_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct items whole, pieces;
	json_object *vals[FZ_MAX_VALUES] = {0};
	struct fzbe fb = {.running = true};
	struct qmp_backend be = {
	    .opaque = &fb,
	    .name = "fuzz",
	    .status = be_status,
	    .stop = be_stop,
	    .cont = be_cont,
	    .quit = be_quit,
	    .cpus = be_cpus,
	    .calc_dirty_rate = be_calc,
	    .query_dirty_rate = be_query_rate,
	    .guest_stats = be_stats,
	    .set_dirty_limit = be_set_limit,
	    .cancel_dirty_limit = be_cancel_limit,
	    .query_dirty_limit = be_query_limit,
	    .migrate = be_migrate,
	    .migrate_incoming = be_migrate_incoming,
	    .migrate_cancel = be_migrate_cancel,
	    .query_migrate = be_query_migrate,
	    .migrate_set_parameters = be_set_params,
	    .query_migrate_parameters = be_query_params,
	    .migrate_set_capabilities = be_set_caps,
	    .query_migrate_capabilities = be_query_caps,
	};
	struct qmp_session s = {0};
	char why[256] = "";
	unsigned int i;

	if (size < 1)
		return 0;
	fb.async_stop = data[0] & FZ_ASYNC_STOP;
	cut(data + 1, size - 1, 0, &whole, vals);
	cut(data + 1, size - 1, (data[0] & 0x7f) | 0x100, &pieces, NULL);
	/* The second run may stop later (FZ_MAX_VALUES): compare what both have. */
	for (i = 0; i < whole.n && i < pieces.n; i++)
		FUZZ_CHECK(whole.it[i].error == pieces.it[i].error &&
			       !strcmp(whole.it[i].text, pieces.it[i].text),
			   "item %u: \"%s\" whole, \"%s\" in pieces", i, whole.it[i].text,
			   pieces.it[i].text);
	FUZZ_CHECK(whole.n == pieces.n || whole.n == FZ_MAX_VALUES || pieces.n == FZ_MAX_VALUES,
		   "%u items whole, %u in pieces", whole.n, pieces.n);

	for (i = 0; i < whole.n; i++) {
		struct qmp_pending pend = {0};
		json_object *reply;

		if (whole.it[i].error) {
			if (!why[0])
				snprintf(why, sizeof(why), "%s", whole.it[i].text);
			continue;
		}
		check_line(vals[i], "a request");
		reply = qmp_dispatch(&be, &s, vals[i], &pend);
		if (!reply) {
			FUZZ_CHECK(pend.active, "no reply and nothing pending");
			reply = qmp_dispatch_finish(&be, &pend, 0, "");
		}
		FUZZ_CHECK(reply != NULL && !pend.active, "no reply");
		check_reply(vals[i], reply);
		if (!why[0] && json_object_object_get_ex(reply, "error", NULL))
			snprintf(why, sizeof(why), "%s", json_object_to_json_string(reply));
		json_object_put(reply);
		json_object_put(vals[i]);
	}
	fuzz_valid(!why[0], "QMP session", why);
	items_free(&whole);
	items_free(&pieces);
	return 0;
}

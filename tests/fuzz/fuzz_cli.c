// SPDX-License-Identifier: MIT
/*
 * Fuzz target: vmm's command line (cli_parse(), src/vmm/cli.c).
 *
 * Input: the words after "vmm", separated by NUL bytes (at most
 * FZ_MAX_WORDS; each a string of its own, exactly as long as it is, so a
 * read past one is caught).  tests/fuzz/cli.dict has the option names.
 * Checked:
 *   - the result is 0, CLI_HELP, CLI_VERSION, or a negative errno with a
 *     one-line message;
 *   - parsing is repeatable: a second parse of the same words gives the
 *     same result, message and configuration (getopt's state is reset);
 *   - a configuration accepted keeps the bounds cli.h states (RAM, vCPUs,
 *     ring size, limits, periods, the QMP address, the lengths); its
 *     --incoming address and --x-incoming-fault go through the parsers vmm
 *     hands them to at start (mig_uri_parse(), mig_fault_parse()), which
 *     answer with a result or one message;
 *   - it round-trips: written back as one canonical option per field
 *     (--mem=SIZE, --dirty-limit=0=R,1=R,..., --qmp=tcp:[HOST]:PORT, ...),
 *     it parses to the same configuration.
 */
#include "fuzz.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "migrate/mig_conn.h"
#include "migrate/mig_dst.h"
#include "vmm/cli.h"
#include "vmm/size.h"

#define FZ_MAX_WORDS 64

struct words {
	int argc;
	char *argv[FZ_MAX_WORDS + 2];
};

static void add(struct words *w, const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		abort();
	memcpy(p, s, len);
	p[len] = '\0';
	w->argv[w->argc++] = p;
	w->argv[w->argc] = NULL;
}

static void addf(struct words *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void addf(struct words *w, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		abort();
	va_end(ap);
	w->argv[w->argc++] = p;
	w->argv[w->argc] = NULL;
}

static void words_free(struct words *w)
{
	int i;

	for (i = 0; i < w->argc; i++)
		free(w->argv[i]);
	w->argc = 0;
}

/* getopt permutes argv: parse a copy, keep the words. */
static int parse(const struct words *w, struct vmm_config *cfg, char *err, size_t len)
{
	char *argv[FZ_MAX_WORDS + 2];

	memcpy(argv, w->argv, sizeof(argv));
	memset(err, 0, len);
	return cli_parse(w->argc, argv, cfg, err, len);
}

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* The fields cli.h defines, compared (strings by content). */
static void check_same(const struct vmm_config *a, const struct vmm_config *b, const char *what)
{
	unsigned int i;

	FUZZ_CHECK(a->mem_size == b->mem_size && a->ncpus == b->ncpus &&
		       str_same(a->kernel, b->kernel) && str_same(a->append, b->append) &&
		       a->duration_ns == b->duration_ns &&
		       a->dirty_ring_size == b->dirty_ring_size &&
		       a->dirty_limit_period_ms == b->dirty_limit_period_ms &&
		       str_same(a->stats_path, b->stats_path) && str_same(a->name, b->name) &&
		       a->stats_interval_ms == b->stats_interval_ms &&
		       a->harvester == b->harvester && a->harvest_delay_us == b->harvest_delay_us &&
		       a->tick_us == b->tick_us && a->x_flip_ns == b->x_flip_ns &&
		       a->x_no_backstop == b->x_no_backstop && str_same(a->incoming, b->incoming) &&
		       a->exit_after_migration == b->exit_after_migration &&
		       str_same(a->x_incoming_fault, b->x_incoming_fault),
		   "%s: a scalar or string field differs", what);
	for (i = 0; i < STRESS_MAX_CPUS; i++)
		FUZZ_CHECK(a->dirty_limit_mib[i] == b->dirty_limit_mib[i],
			   "%s: vCPU %u's limit %" PRIu64 " vs %" PRIu64, what, i,
			   a->dirty_limit_mib[i], b->dirty_limit_mib[i]);
	FUZZ_CHECK(a->qmp.kind == b->qmp.kind && !strcmp(a->qmp.path, b->qmp.path) &&
		       !strcmp(a->qmp.host, b->qmp.host) && a->qmp.port == b->qmp.port,
		   "%s: the QMP address differs", what);
}

/* What vmm does with --incoming's address at start: the drivers' parser, to listen. */
static void check_uri(const char *uri)
{
	struct mig_uri u;
	char err[512] = "";
	int r = mig_uri_parse(uri, true, &u, err, sizeof(err));

	FUZZ_CHECK(r == 0 || (r == -EINVAL && err[0] && strnlen(err, sizeof(err)) < sizeof(err)),
		   "mig_uri_parse(\"%s\"): %d without a message", uri, r);
	FUZZ_CHECK(r < 0 || (u.host[0] && strnlen(u.host, sizeof(u.host)) < sizeof(u.host)),
		   "mig_uri_parse accepted \"%s\" without a host", uri);
}

/* And with --x-incoming-fault's STAGE:ACTION (mig_fault_parse()). */
static void check_fault(const char *s)
{
	struct mig_fault f;
	char err[512] = "";
	int r = mig_fault_parse(s, &f, err, sizeof(err));

	FUZZ_CHECK((r == 0 && f.stage != MIG_FAULT_NONE && f.stage <= MIG_FAULT_END &&
		    (f.action == MIG_FAULT_EXIT || f.action == MIG_FAULT_STALL)) ||
		       (r == -EINVAL && err[0] && f.stage == MIG_FAULT_NONE),
		   "mig_fault_parse(\"%s\"): %d, stage %d", s, r, f.stage);
}

static void check_bounds(const struct vmm_config *c)
{
	unsigned int i;

	FUZZ_CHECK(c->mem_size >= CLI_MEM_MIN && c->mem_size <= CLI_MEM_MAX &&
		       c->mem_size % CLI_MEM_ALIGN == 0,
		   "mem %" PRIu64, c->mem_size);
	FUZZ_CHECK(c->ncpus >= 1 && c->ncpus <= CLI_CPUS_MAX, "ncpus %u", c->ncpus);
	FUZZ_CHECK(!c->kernel || c->kernel[0], "empty kernel name");
	FUZZ_CHECK(c->append && strlen(c->append) <= CLI_APPEND_MAX, "append");
	FUZZ_CHECK(c->duration_ns <= (uint64_t)CLI_DURATION_MAX_S * 1000000000ull + 999999999ull,
		   "duration %" PRIu64, c->duration_ns);
	FUZZ_CHECK(c->x_flip_ns <= (uint64_t)CLI_DURATION_MAX_S * 1000000000ull + 999999999ull,
		   "flip time %" PRIu64, c->x_flip_ns);
	FUZZ_CHECK(!c->incoming || !strcmp(c->incoming, "defer") ||
		       !strncmp(c->incoming, "tcp:", 4),
		   "--incoming \"%s\"", c->incoming);
	FUZZ_CHECK(!c->x_incoming_fault || c->incoming, "a fault without --incoming");
	if (c->incoming && strcmp(c->incoming, "defer"))
		check_uri(c->incoming);
	if (c->x_incoming_fault)
		check_fault(c->x_incoming_fault);
	FUZZ_CHECK(c->dirty_ring_size >= CLI_DIRTY_RING_MIN &&
		       c->dirty_ring_size <= CLI_DIRTY_RING_MAX &&
		       !(c->dirty_ring_size & (c->dirty_ring_size - 1)),
		   "ring %u", c->dirty_ring_size);
	for (i = 0; i < STRESS_MAX_CPUS; i++)
		FUZZ_CHECK(c->dirty_limit_mib[i] <= CLI_DIRTY_LIMIT_MAX_MIB &&
			       (i < c->ncpus || c->dirty_limit_mib[i] == 0),
			   "limit of vCPU %u: %" PRIu64, i, c->dirty_limit_mib[i]);
	/* 0: each law's own period (--dirty-limit-law), the default. */
	FUZZ_CHECK(c->dirty_limit_period_ms == CLI_DEFAULT_DIRTY_LIMIT_PERIOD_MS ||
		       (c->dirty_limit_period_ms >= CLI_DIRTY_LIMIT_PERIOD_MIN_MS &&
			c->dirty_limit_period_ms <= CLI_DIRTY_LIMIT_PERIOD_MAX_MS),
		   "period %u", c->dirty_limit_period_ms);
	FUZZ_CHECK(!c->stats_path || c->stats_path[0], "empty stats path");
	FUZZ_CHECK(!c->name || (c->name[0] && strlen(c->name) <= CLI_NAME_MAX), "name");
	FUZZ_CHECK(c->stats_interval_ms >= CLI_STATS_INTERVAL_MIN_MS &&
		       c->stats_interval_ms <= CLI_STATS_INTERVAL_MAX_MS,
		   "stats interval %u", c->stats_interval_ms);
	FUZZ_CHECK(c->harvester == CLI_HARVESTER_SELF || c->harvester == CLI_HARVESTER_SIMPLE,
		   "harvester %d", c->harvester);
	FUZZ_CHECK(c->harvest_delay_us <= CLI_HARVEST_DELAY_MAX_US, "harvest delay");
	FUZZ_CHECK(c->tick_us == 0 ||
		       (c->tick_us >= CLI_TICK_MIN_US && c->tick_us <= CLI_TICK_MAX_US),
		   "tick %u", c->tick_us);
	switch (c->qmp.kind) {
	case CLI_QMP_NONE:
		break;
	case CLI_QMP_UNIX:
		FUZZ_CHECK(c->qmp.path[0] &&
			       strnlen(c->qmp.path, CLI_QMP_PATH_MAX) < CLI_QMP_PATH_MAX,
			   "unix path");
		break;
	case CLI_QMP_TCP:
		FUZZ_CHECK(c->qmp.host[0] &&
			       strnlen(c->qmp.host, CLI_QMP_HOST_MAX) < CLI_QMP_HOST_MAX &&
			       c->qmp.port >= 1,
			   "tcp address");
		break;
	default:
		FUZZ_CHECK(false, "QMP kind %d", c->qmp.kind);
	}
}

/* One canonical option per field. */
static void canonical(const struct vmm_config *c, struct words *w)
{
	char size[24];
	unsigned int i;
	char *lim = NULL;
	size_t llen = 0;
	FILE *f;

	addf(w, "vmm");
	FUZZ_CHECK(size_format(c->mem_size, size, sizeof(size)) == 0, "size_format");
	addf(w, "--mem=%s", size);
	addf(w, "--cpus=%u", c->ncpus);
	if (c->kernel)
		addf(w, "--kernel=%s", c->kernel);
	addf(w, "--append=%s", c->append);
	if (c->duration_ns)
		addf(w, "--duration=%" PRIu64 ".%09" PRIu64, c->duration_ns / UINT64_C(1000000000),
		     c->duration_ns % UINT64_C(1000000000));
	addf(w, "--dirty-ring-size=%u", c->dirty_ring_size);
	f = open_memstream(&lim, &llen);
	if (!f)
		abort();
	for (i = 0; i < c->ncpus; i++)
		fprintf(f, "%s%u=%" PRIu64, i ? "," : "", i, c->dirty_limit_mib[i]);
	fclose(f);
	addf(w, "--dirty-limit=%s", lim);
	free(lim);
	if (c->dirty_limit_period_ms != CLI_DEFAULT_DIRTY_LIMIT_PERIOD_MS)
		addf(w, "--dirty-limit-period=%u", c->dirty_limit_period_ms);
	if (c->qmp.kind == CLI_QMP_UNIX)
		addf(w, "--qmp=unix:%s", c->qmp.path);
	else if (c->qmp.kind == CLI_QMP_TCP && (strchr(c->qmp.host, ':') || c->qmp.host[0] == '['))
		addf(w, "--qmp=tcp:[%s]:%u", c->qmp.host, c->qmp.port);
	else if (c->qmp.kind == CLI_QMP_TCP)
		addf(w, "--qmp=tcp:%s:%u", c->qmp.host, c->qmp.port);
	if (c->stats_path)
		addf(w, "--stats=%s", c->stats_path);
	if (c->name)
		addf(w, "--name=%s", c->name);
	addf(w, "--stats-interval=%u", c->stats_interval_ms);
	addf(w, "--x-harvester=%s", c->harvester == CLI_HARVESTER_SIMPLE ? "simple" : "self");
	addf(w, "--x-harvest-delay-us=%u", c->harvest_delay_us);
	addf(w, "--x-tick-us=%u", c->tick_us);
	if (c->x_flip_ns)
		addf(w, "--x-flip-word=%" PRIu64 ".%09" PRIu64, c->x_flip_ns / UINT64_C(1000000000),
		     c->x_flip_ns % UINT64_C(1000000000));
	if (c->x_no_backstop)
		addf(w, "--x-no-backstop");
	if (c->incoming)
		addf(w, "--incoming=%s", c->incoming);
	if (c->exit_after_migration)
		addf(w, "--exit-after-migration");
	if (c->x_incoming_fault)
		addf(w, "--x-incoming-fault=%s", c->x_incoming_fault);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vmm_config a, b;
	struct words w = {0}, canon = {0};
	char err[512], err2[512];
	size_t start = 0, i;
	int r, r2;

	add(&w, "vmm", 3);
	for (i = 0; size && i <= size && w.argc <= FZ_MAX_WORDS; i++) {
		if (i == size || data[i] == '\0') {
			add(&w, (const char *)data + start, i - start);
			start = i + 1;
		}
	}

	r = parse(&w, &a, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == CLI_HELP || r == CLI_VERSION || r == -EINVAL || r == -ERANGE ||
		       r == -E2BIG || r == -ENAMETOOLONG,
		   "cli_parse() returned %d", r);
	if (r < 0)
		FUZZ_CHECK(err[0] && strnlen(err, sizeof(err)) < sizeof(err), "no message for %d",
			   r);

	r2 = parse(&w, &b, err2, sizeof(err2));
	FUZZ_CHECK(r2 == r && !strcmp(err, err2), "second parse: %d (%s), first: %d (%s)", r2, err2,
		   r, err);
	if (r == 0) {
		check_same(&a, &b, "second parse");
		check_bounds(&a);
		canonical(&a, &canon);
		r2 = parse(&canon, &b, err2, sizeof(err2));
		FUZZ_CHECK(r2 == 0, "the canonical form is refused: %s", err2);
		check_same(&a, &b, "canonical form");
		words_free(&canon);
	}
	fuzz_valid(r >= 0, "command line", err);
	words_free(&w);
	return 0;
}

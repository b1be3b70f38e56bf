// SPDX-License-Identifier: MIT
/* Command-line parsing: see cli.h. */
#include "vmm/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "vmm/size.h"

#define STR_(x) #x
#define STR(x)	STR_(x)

/* Values of the long-only options (above any character). */
enum {
	OPT_DIRTY_RING_SIZE = 256,
	OPT_DIRTY_LIMIT,
	OPT_DIRTY_LIMIT_PERIOD,
	OPT_DIRTY_LIMIT_LAW,
	OPT_QMP,
	OPT_NAME,
	OPT_STATS,
	OPT_STATS_INTERVAL,
	OPT_X_HARVESTER,
	OPT_X_HARVEST_DELAY_US,
	OPT_X_TICK_US,
	OPT_X_FLIP_WORD,
	OPT_X_NO_BACKSTOP,
	OPT_INCOMING,
	OPT_EXIT_AFTER_MIGRATION,
	OPT_OBJECT,
	OPT_X_INCOMING_FAULT,
};

static const struct option long_options[] = {
    {"mem", required_argument, NULL, 'm'},
    {"cpus", required_argument, NULL, 'c'},
    {"kernel", required_argument, NULL, 'k'},
    {"append", required_argument, NULL, 'a'},
    {"duration", required_argument, NULL, 'd'},
    {"dirty-ring-size", required_argument, NULL, OPT_DIRTY_RING_SIZE},
    {"dirty-limit", required_argument, NULL, OPT_DIRTY_LIMIT},
    {"dirty-limit-period", required_argument, NULL, OPT_DIRTY_LIMIT_PERIOD},
    {"dirty-limit-law", required_argument, NULL, OPT_DIRTY_LIMIT_LAW},
    {"qmp", required_argument, NULL, OPT_QMP},
    {"name", required_argument, NULL, OPT_NAME},
    {"stats", required_argument, NULL, OPT_STATS},
    {"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
    {"x-harvester", required_argument, NULL, OPT_X_HARVESTER},
    {"x-harvest-delay-us", required_argument, NULL, OPT_X_HARVEST_DELAY_US},
    {"x-tick-us", required_argument, NULL, OPT_X_TICK_US},
    {"x-flip-word", required_argument, NULL, OPT_X_FLIP_WORD},
    {"x-no-backstop", no_argument, NULL, OPT_X_NO_BACKSTOP},
    {"incoming", required_argument, NULL, OPT_INCOMING},
    {"exit-after-migration", no_argument, NULL, OPT_EXIT_AFTER_MIGRATION},
    {"object", required_argument, NULL, OPT_OBJECT},
    {"x-incoming-fault", required_argument, NULL, OPT_X_INCOMING_FAULT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* Leading ':' so that a missing argument is reported as ':' (not '?'). */
static const char short_options[] = ":m:c:k:a:d:hV";

/* The help text, laid out by hand as the user sees it. */
// clang-format off
static const char usage_text[] =
	"Usage: vmm [OPTIONS]\n"
	"\n"
	"Run a Multiboot kernel (by default the bundled stress kernel) in a minimal\n"
	"KVM virtual machine, with per-vCPU dirty-rate measurement and limiting.\n"
	"\n"
	"Machine:\n"
	"  -m, --mem SIZE             guest RAM, " STR(CLI_MEM_MIN_MIB) "M.." STR(CLI_MEM_MAX_TIB) "T (default " STR(CLI_DEFAULT_MEM_MIB) "M);\n"
	"                             suffixes K, M, G, T are powers of 1024 (\"2G\",\n"
	"                             \"2GiB\"), a bare number is MiB\n"
	"  -c, --cpus N               vCPUs, 1.." STR(CLI_CPUS_MAX) " (default " STR(CLI_DEFAULT_CPUS) ")\n"
	"  -k, --kernel FILE          Multiboot ELF kernel (default: the bundled stress kernel)\n"
	"  -a, --append ARGS          kernel command line, at most " STR(CLI_APPEND_MAX) " bytes (default: empty)\n"
	"  -d, --duration SECONDS     stop the guest after this long, fractions allowed\n"
	"                             (default: run until interrupted)\n"
	"\n"
	"Dirty tracking and limiting:\n"
	"      --dirty-ring-size N    dirty ring entries per vCPU, a power of two,\n"
	"                             " STR(CLI_DIRTY_RING_MIN) ".." STR(CLI_DIRTY_RING_MAX) " (default " STR(CLI_DEFAULT_DIRTY_RING) ")\n"
	"      --dirty-limit SPEC     cap the dirty rate, in MiB/s (2^20 bytes per second):\n"
	"                             MIB_PER_S for every vCPU, or CPU=MIB_PER_S[,CPU=MIB_PER_S...]\n"
	"                             for some; 0 means no limit (default: no limit); when\n"
	"                             given more than once, later settings win\n"
	"      --dirty-limit-period MS\n"
	"                             rate sampling and tuning period of the controller,\n"
	"                             " STR(CLI_DIRTY_LIMIT_PERIOD_MIN_MS) ".." STR(CLI_DIRTY_LIMIT_PERIOD_MAX_MS) " (default: samples every 50 ms, and each law\n"
	"                             tunes at its own period: qemu and linear 1000, pct 15000);\n"
	"                             a migration with the dirty-limit capability tunes every\n"
	"                             x-vcpu-dirty-limit-period instead, to its end (as QEMU 8.1)\n"
	"      --dirty-limit-law NAME[:KEY=VALUE,...]\n"
	"                             the control law for every vCPU (default " CLI_DEFAULT_DIRTY_LIMIT_LAW "):\n"
	"                             bucket  a token bucket per vCPU, charged at every\n"
	"                                     harvest (vmm's)\n"
	"                             qemu    QEMU 8.1's: a sleep per ring's worth of pages,\n"
	"                                     tuned once a period, 25 MB/s dead band\n"
	"                             linear  the same sleep, a fixed step up or down once a\n"
	"                                     period; ki=K adds an integral term\n"
	"                             pct     QEMU's first proposal: a percentage throttle\n"
	"                                     per vCPU, decided once a period\n"
	"                             qemu and linear take sync=wait: sample as QEMU does,\n"
	"                             waiting for sleeping vCPUs (docs/dirtylimit.md)\n"
	"\n"
	"Monitoring and control:\n"
	"      --qmp ADDR             QMP control socket: unix:PATH or tcp:HOST:PORT\n"
	"                             (default: none)\n"
	"      --name NAME            the VM's name, as QMP query-name reports it,\n"
	"                             at most " STR(CLI_NAME_MAX) " bytes (default: none)\n"
	"      --stats FILE           write statistics to FILE, \"-\" for standard output\n"
	"                             (default: none)\n"
	"      --stats-interval MS    time between two statistics records,\n"
	"                             " STR(CLI_STATS_INTERVAL_MIN_MS) ".." STR(CLI_STATS_INTERVAL_MAX_MS) " (default " STR(CLI_DEFAULT_STATS_INTERVAL_MS) ")\n"
	"\n"
	"Live migration (docs/migration.md):\n"
	"      --incoming tcp:HOST:PORT\n"
	"                             be a migration destination: listen there, take one\n"
	"                             incoming migration (--mem, --cpus and\n"
	"                             --dirty-ring-size must match the source's), then\n"
	"                             run the guest; no kernel is loaded\n"
	"      --incoming defer       the same, listening only once QMP migrate-incoming\n"
	"                             gives the address\n"
	"      --exit-after-migration once a migration of this guest to a destination has\n"
	"                             completed, exit 0 (default: stay paused in\n"
	"                             \"postmigrate\" until QMP quit, as QEMU)\n"
	"      --object tls-creds-psk,id=ID,dir=DIR,endpoint=client|server[,username=NAME]\n"
	"                             pre-shared key credentials (DIR/keys.psk, QEMU's\n"
	"                             format); QMP migrate-set-parameters tls-creds=ID\n"
	"                             then authenticates and encrypts migrations with\n"
	"                             TLS 1.3 (docs/security.md); up to " STR(CLI_OBJECTS_MAX) " times\n"
	"\n"
	"Testing (not a stable interface):\n"
	"      --x-harvester self|simple\n"
	"                             who harvests the dirty rings (default self)\n"
	"      --x-harvest-delay-us N artificial delay per harvest, 0.." STR(CLI_HARVEST_DELAY_MAX_US) " (default 0)\n"
	"      --x-tick-us N          harvest tick, 0 or " STR(CLI_TICK_MIN_US) ".." STR(CLI_TICK_MAX_US) " (default 0: automatic)\n"
	"      --x-flip-word SECONDS  once SECONDS after launch (and once every worker has\n"
	"                             work done), flip one bit of one checked word in each\n"
	"                             seq writer's and reader's working set: each must\n"
	"                             report exactly one data error\n"
	"      --x-no-backstop        the controller does not harvest the rings (only the\n"
	"                             vCPUs do), to show that a pause leaves none unharvested\n"
	"      --x-incoming-fault STAGE:ACTION\n"
	"                             as a migration destination, at STAGE (header, config,\n"
	"                             ram1, ram2, device, state, end) die at once as if\n"
	"                             killed (ACTION exit) or stop reading for ever (stall)\n"
	"\n"
	"  -h, --help                 show this help and exit\n"
	"  -V, --version              show the version and exit\n"
	"\n"
	"Exit status: 0 when the run ends as asked (--duration, a signal, QMP quit, the\n"
	"guest halting); the guest's power-off value when it powers off (0..254 as is,\n"
	"255 for 255 and above); 1 for an error while running, including output lost\n"
	"to a write error (no space left, a closed pipe; output dropped because nobody\n"
	"was reading it is said on stderr but is not an error); 2 for bad input (the\n"
	"command line, the kernel file, a file that cannot be opened).\n";
// clang-format on

const char *cli_usage(void)
{
	return usage_text;
}

void cli_defaults(struct vmm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_size = (uint64_t)CLI_DEFAULT_MEM_MIB << 20;
	cfg->ncpus = CLI_DEFAULT_CPUS;
	cfg->kernel = NULL;
	cfg->append = "";
	cfg->duration_ns = 0;
	cfg->dirty_ring_size = CLI_DEFAULT_DIRTY_RING;
	cfg->dirty_limit_period_ms = CLI_DEFAULT_DIRTY_LIMIT_PERIOD_MS;
	cfg->dirty_limit_law.law = dl_law_find(CLI_DEFAULT_DIRTY_LIMIT_LAW);
	cfg->qmp.kind = CLI_QMP_NONE;
	cfg->stats_path = NULL;
	cfg->stats_interval_ms = CLI_DEFAULT_STATS_INTERVAL_MS;
	cfg->harvester = CLI_HARVESTER_SELF;
	cfg->harvest_delay_us = 0;
	cfg->tick_us = 0;
	cfg->x_flip_ns = 0;
	cfg->x_no_backstop = false;
}

/* Strict decimal: digits only, no sign, no spaces.  -EINVAL or -ERANGE. */
static int parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (end)
		*end = p;
	else if (*p)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A whole number in [min, max] for option @opt. */
static int parse_ranged(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
			char *err, size_t errlen)
{
	uint64_t v;
	int r = parse_u64(s, NULL, &v);

	if (r == -EINVAL) {
		snprintf(err, errlen, "%s: \"%s\" is not a whole number", opt, s);
		return r;
	}
	if (r < 0 || v < min || v > max) {
		snprintf(err, errlen, "%s must be between %llu and %llu, not %s", opt,
			 (unsigned long long)min, (unsigned long long)max, s);
		return -ERANGE;
	}
	*out = v;
	return 0;
}

static int parse_unsigned(const char *opt, const char *s, unsigned min, unsigned max, unsigned *out,
			  char *err, size_t errlen)
{
	uint64_t v;
	int r = parse_ranged(opt, s, min, max, &v, err, errlen);

	if (r == 0)
		*out = (unsigned)v;
	return r;
}

static int parse_mem(const char *s, uint64_t *out, char *err, size_t errlen)
{
	char why[256];
	uint64_t v;
	int r = size_parse(s, SIZE_UNIT_MIB, &v, why, sizeof(why));

	if (r < 0) {
		snprintf(err, errlen, "--mem: %s", why);
		return r;
	}
	if (v == 0) {
		snprintf(err, errlen, "--mem must not be zero");
		return -EINVAL;
	}
	if (v < CLI_MEM_MIN) {
		snprintf(
		    err, errlen,
		    "--mem %s is below the minimum of %dM (the bundled kernel fills the first 4 MiB and its working sets start at 4 MiB)",
		    s, CLI_MEM_MIN_MIB);
		return -ERANGE;
	}
	if (v > CLI_MEM_MAX) {
		snprintf(err, errlen, "--mem %s is above the maximum of %dT", s, CLI_MEM_MAX_TIB);
		return -ERANGE;
	}
	if (v % CLI_MEM_ALIGN) {
		snprintf(err, errlen, "--mem %s is not a whole number of 4 KiB pages", s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* SECONDS[.FRACTION] into nanoseconds; must be positive. */
static int parse_duration(const char *s, uint64_t *out_ns, char *err, size_t errlen)
{
	const uint64_t ns_per_s = 1000000000ull;
	uint64_t secs = 0, frac = 0, scale = ns_per_s;
	const char *p = s;
	int digits = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		/* Once over the limit, stop accumulating (no overflow) but keep scanning. */
		if (secs <= CLI_DURATION_MAX_S)
			secs = secs * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
			/* Digits below a nanosecond are dropped. */
			if (scale >= 10) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
		}
	}
	if (!digits || *p) {
		snprintf(err, errlen,
			 "--duration: \"%s\" is not a number of seconds (e.g. 10 or 2.5)", s);
		return -EINVAL;
	}
	if (secs > CLI_DURATION_MAX_S) {
		snprintf(err, errlen, "--duration %s is too long: the limit is %d seconds", s,
			 CLI_DURATION_MAX_S);
		return -ERANGE;
	}
	if (secs == 0 && frac == 0) {
		snprintf(err, errlen,
			 "--duration must be positive (leave it out to run until interrupted)");
		return -EINVAL;
	}
	*out_ns = secs * ns_per_s + frac;
	return 0;
}

static int parse_ring_size(const char *s, uint32_t *out, char *err, size_t errlen)
{
	uint64_t v;
	int r = parse_ranged("--dirty-ring-size", s, CLI_DIRTY_RING_MIN, CLI_DIRTY_RING_MAX, &v,
			     err, errlen);

	if (r == -ERANGE && parse_u64(s, NULL, &v) == 0 && v < CLI_DIRTY_RING_MIN) {
		snprintf(
		    err, errlen,
		    "--dirty-ring-size %s is below the minimum of %d: one guest instruction (a ring-0 rep stosd, emulated by some hosts' KVM) can log 1024 entries without an exit, and a smaller ring fills up and wedges the guest",
		    s, CLI_DIRTY_RING_MIN);
	}
	if (r < 0)
		return r;
	if (v & (v - 1)) {
		snprintf(err, errlen, "--dirty-ring-size must be a power of two, not %s", s);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int bad_limit_spec(const char *spec, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "--dirty-limit %s: expected MIB_PER_S or CPU=MIB_PER_S[,CPU=MIB_PER_S...]", spec);
	return -EINVAL;
}

static int parse_rate(const char *spec, const char *s, const char **end, uint64_t *out, char *err,
		      size_t errlen)
{
	int r = parse_u64(s, end, out);

	if (r == 0 && *out > CLI_DIRTY_LIMIT_MAX_MIB)
		r = -ERANGE;
	if (r == -ERANGE)
		snprintf(err, errlen, "--dirty-limit %s: a rate is at most %d MiB/s", spec,
			 CLI_DIRTY_LIMIT_MAX_MIB);
	else if (r < 0)
		bad_limit_spec(spec, err, errlen);
	return r;
}

/*
 * --dirty-limit SPEC into cfg->dirty_limit_mib.  *@ncpus_needed is raised
 * to one more than the highest vCPU named, checked against --cpus once every
 * option is known.
 */
static int parse_dirty_limit(const char *spec, struct vmm_config *cfg, unsigned *ncpus_needed,
			     char *err, size_t errlen)
{
	bool seen[STRESS_MAX_CPUS] = {false};
	uint64_t lim[STRESS_MAX_CPUS];
	const char *p = spec;
	uint64_t rate;
	int r;

	if (!strchr(spec, '=')) {
		r = parse_rate(spec, spec, NULL, &rate, err, errlen);
		if (r < 0)
			return r;
		for (unsigned i = 0; i < STRESS_MAX_CPUS; i++)
			cfg->dirty_limit_mib[i] = rate;
		return 0;
	}

	/* Per-vCPU list: apply only once all of it parsed. */
	memcpy(lim, cfg->dirty_limit_mib, sizeof(lim));
	for (;;) {
		uint64_t cpu;

		r = parse_u64(p, &p, &cpu);
		if (r == -EINVAL || (r == 0 && *p != '=')) {
			return bad_limit_spec(spec, err, errlen);
		}
		if (r < 0 || cpu >= STRESS_MAX_CPUS) {
			snprintf(err, errlen, "--dirty-limit %s: vCPU indices must be below %d",
				 spec, CLI_CPUS_MAX);
			return -ERANGE;
		}
		if (seen[cpu]) {
			snprintf(err, errlen, "--dirty-limit %s: vCPU %u is given twice", spec,
				 (unsigned)cpu);
			return -EINVAL;
		}
		seen[cpu] = true;
		r = parse_rate(spec, p + 1, &p, &rate, err, errlen);
		if (r < 0)
			return r;
		lim[cpu] = rate;
		if (cpu + 1 > *ncpus_needed)
			*ncpus_needed = (unsigned)cpu + 1;
		if (!*p)
			break;
		if (*p != ',') {
			return bad_limit_spec(spec, err, errlen);
		}
		p++;
	}
	memcpy(cfg->dirty_limit_mib, lim, sizeof(lim));
	return 0;
}

static int parse_qmp(const char *s, struct cli_qmp_addr *q, char *err, size_t errlen)
{
	const char *host, *host_end, *port;
	uint64_t v;

	if (!strncmp(s, "unix:", 5)) {
		const char *path = s + 5;

		if (!*path) {
			snprintf(err, errlen, "--qmp %s: the socket path is empty", s);
			return -EINVAL;
		}
		if (strlen(path) >= sizeof(q->path)) {
			snprintf(
			    err, errlen,
			    "--qmp: the socket path is %zu bytes long; a Unix socket path has at most %zu",
			    strlen(path), sizeof(q->path) - 1);
			return -ENAMETOOLONG;
		}
		memset(q, 0, sizeof(*q));
		q->kind = CLI_QMP_UNIX;
		strcpy(q->path, path);
		return 0;
	}
	if (strncmp(s, "tcp:", 4)) {
		snprintf(err, errlen, "--qmp %s: expected unix:PATH or tcp:HOST:PORT", s);
		return -EINVAL;
	}

	host = s + 4;
	if (*host == '[') {
		host++;
		host_end = strchr(host, ']');
		if (!host_end || host_end[1] != ':') {
			snprintf(err, errlen, "--qmp %s: expected tcp:[ADDRESS]:PORT", s);
			return -EINVAL;
		}
		port = host_end + 2;
	} else {
		host_end = strrchr(host, ':');
		if (!host_end) {
			snprintf(err, errlen, "--qmp %s: expected tcp:HOST:PORT", s);
			return -EINVAL;
		}
		if (memchr(host, ':', (size_t)(host_end - host))) {
			snprintf(err, errlen,
				 "--qmp %s: put an IPv6 address in brackets, as in tcp:[::1]:4444",
				 s);
			return -EINVAL;
		}
		port = host_end + 1;
	}
	if (host_end == host) {
		snprintf(err, errlen, "--qmp %s: the host is empty (e.g. tcp:127.0.0.1:4444)", s);
		return -EINVAL;
	}
	if ((size_t)(host_end - host) >= sizeof(q->host)) {
		snprintf(err, errlen, "--qmp: the host name is longer than %zu bytes",
			 sizeof(q->host) - 1);
		return -ENAMETOOLONG;
	}
	if (parse_u64(port, NULL, &v) < 0 || v < 1 || v > 65535) {
		snprintf(err, errlen, "--qmp %s: the port must be a number from 1 to 65535", s);
		return -EINVAL;
	}
	memset(q, 0, sizeof(*q));
	q->kind = CLI_QMP_TCP;
	memcpy(q->host, host, (size_t)(host_end - host));
	q->port = (uint16_t)v;
	return 0;
}

static int parse_harvester(const char *s, enum cli_harvester *out, char *err, size_t errlen)
{
	if (!strcmp(s, "self")) {
		*out = CLI_HARVESTER_SELF;
	} else if (!strcmp(s, "simple")) {
		*out = CLI_HARVESTER_SIMPLE;
	} else {
		snprintf(err, errlen, "--x-harvester: \"%s\" is neither self nor simple", s);
		return -EINVAL;
	}
	return 0;
}

/* The option word as typed, without any "=value", for messages. */
static void option_word(const char *word, char *buf, size_t len)
{
	size_t n = strcspn(word, "=");

	if (n >= len)
		n = len - 1;
	memcpy(buf, word, n);
	buf[n] = '\0';
}

/* How many long options start with @prefix. */
static unsigned prefix_matches(const char *prefix)
{
	unsigned n = 0;

	for (const struct option *o = long_options; o->name; o++)
		n += !strncmp(o->name, prefix, strlen(prefix));
	return n;
}

/* Report a getopt error ('?' or ':'), naming the word that failed. */
static int getopt_error(int c, char **argv, char *err, size_t errlen)
{
	/* The failing long option (or a missing argument) is the last word getopt consumed. */
	const char *word = argv[optind - 1];
	bool is_long = !strncmp(word, "--", 2);
	/*
	 * An option given an argument it does not take: --help and --version
	 * (whose values are short options) or a long-only flag such as
	 * --x-no-backstop (whose value is above any character).
	 */
	bool known =
	    optopt >= 256 || (optopt > 0 && optopt != ':' && strchr(short_options, optopt));
	char name[64];

	option_word(word, name, sizeof(name));
	if (c == ':') {
		if (is_long)
			snprintf(err, errlen, "option %s needs an argument", name);
		else
			snprintf(err, errlen, "option -%c needs an argument", optopt);
	} else if (optopt == 0 && is_long && prefix_matches(name + 2) > 1) {
		snprintf(err, errlen, "option %s is ambiguous (see --help)", name);
	} else if (optopt == 0) {
		snprintf(err, errlen, "unknown option %s (see --help)", name);
	} else if (known) {
		snprintf(err, errlen, "option %s takes no argument", name);
	} else {
		snprintf(err, errlen, "unknown option -%c (see --help)", optopt);
	}
	return -EINVAL;
}

int cli_parse(int argc, char **argv, struct vmm_config *cfg, char *err, size_t errlen)
{
	unsigned ncpus_needed = 0;
	uint64_t v;
	int c, r = 0;

	cli_defaults(cfg);
	/* optind = 0 makes glibc reinitialise getopt completely. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
		switch (c) {
		case 'm':
			r = parse_mem(optarg, &cfg->mem_size, err, errlen);
			break;
		case 'c':
			r = parse_unsigned("--cpus", optarg, 1, CLI_CPUS_MAX, &cfg->ncpus, err,
					   errlen);
			break;
		case 'k':
			if (!*optarg) {
				snprintf(err, errlen, "--kernel: the file name is empty");
				r = -EINVAL;
			}
			cfg->kernel = optarg;
			break;
		case 'a':
			if (strlen(optarg) > CLI_APPEND_MAX) {
				snprintf(err, errlen,
					 "--append is %zu bytes long; the limit is %d bytes",
					 strlen(optarg), CLI_APPEND_MAX);
				r = -E2BIG;
			}
			cfg->append = optarg;
			break;
		case 'd':
			r = parse_duration(optarg, &cfg->duration_ns, err, errlen);
			break;
		case OPT_DIRTY_RING_SIZE:
			r = parse_ring_size(optarg, &cfg->dirty_ring_size, err, errlen);
			break;
		case OPT_DIRTY_LIMIT:
			r = parse_dirty_limit(optarg, cfg, &ncpus_needed, err, errlen);
			break;
		case OPT_DIRTY_LIMIT_PERIOD:
			r = parse_unsigned("--dirty-limit-period", optarg,
					   CLI_DIRTY_LIMIT_PERIOD_MIN_MS,
					   CLI_DIRTY_LIMIT_PERIOD_MAX_MS,
					   &cfg->dirty_limit_period_ms, err, errlen);
			break;
		case OPT_DIRTY_LIMIT_LAW: {
			char msg[200];

			r = dl_law_parse(optarg, &cfg->dirty_limit_law, msg, sizeof(msg));
			if (r < 0)
				snprintf(err, errlen, "--dirty-limit-law %s: %s", optarg, msg);
			break;
		}
		case OPT_QMP:
			r = parse_qmp(optarg, &cfg->qmp, err, errlen);
			break;
		case OPT_NAME:
			if (!*optarg || strlen(optarg) > CLI_NAME_MAX) {
				snprintf(err, errlen, "--name: give 1 to %d bytes", CLI_NAME_MAX);
				r = -EINVAL;
			}
			cfg->name = optarg;
			break;
		case OPT_STATS:
			if (!*optarg) {
				snprintf(
				    err, errlen,
				    "--stats: the file name is empty (use - for standard output)");
				r = -EINVAL;
			}
			cfg->stats_path = optarg;
			break;
		case OPT_STATS_INTERVAL:
			r = parse_unsigned("--stats-interval", optarg, CLI_STATS_INTERVAL_MIN_MS,
					   CLI_STATS_INTERVAL_MAX_MS, &cfg->stats_interval_ms, err,
					   errlen);
			break;
		case OPT_X_HARVESTER:
			r = parse_harvester(optarg, &cfg->harvester, err, errlen);
			break;
		case OPT_X_HARVEST_DELAY_US:
			r = parse_unsigned("--x-harvest-delay-us", optarg, 0,
					   CLI_HARVEST_DELAY_MAX_US, &cfg->harvest_delay_us, err,
					   errlen);
			break;
		case OPT_X_TICK_US:
			r = parse_ranged("--x-tick-us", optarg, 0, CLI_TICK_MAX_US, &v, err,
					 errlen);
			if (r == 0 && v != 0 && v < CLI_TICK_MIN_US) {
				snprintf(
				    err, errlen,
				    "--x-tick-us must be 0 (automatic) or between %d and %d, not %s",
				    CLI_TICK_MIN_US, CLI_TICK_MAX_US, optarg);
				r = -ERANGE;
			}
			if (r == 0)
				cfg->tick_us = (unsigned)v;
			break;
		case OPT_X_FLIP_WORD:
			r = parse_duration(optarg, &cfg->x_flip_ns, err, errlen);
			if (r < 0) /* the message names --duration: name ours */
				snprintf(
				    err, errlen,
				    "--x-flip-word: \"%s\" is not a positive number of seconds",
				    optarg);
			break;
		case OPT_X_NO_BACKSTOP:
			cfg->x_no_backstop = true;
			break;
		case OPT_INCOMING:
			if (strcmp(optarg, "defer") && strncmp(optarg, "tcp:", 4)) {
				snprintf(err, errlen,
					 "--incoming: \"%s\" is not tcp:HOST:PORT or defer",
					 optarg);
				r = -EINVAL;
			}
			cfg->incoming = optarg;
			break;
		case OPT_EXIT_AFTER_MIGRATION:
			cfg->exit_after_migration = true;
			break;
		case OPT_OBJECT:
			if (cfg->nobjects == CLI_OBJECTS_MAX) {
				snprintf(err, errlen, "--object: at most %d", CLI_OBJECTS_MAX);
				r = -EINVAL;
			} else {
				cfg->objects[cfg->nobjects++] = optarg;
			}
			break;
		case OPT_X_INCOMING_FAULT:
			cfg->x_incoming_fault = optarg;
			break;
		case 'h':
			return CLI_HELP;
		case 'V':
			return CLI_VERSION;
		default:
			return getopt_error(c, argv, err, errlen);
		}
		if (r < 0)
			return r;
	}

	if (optind < argc) {
		snprintf(err, errlen,
			 "unexpected argument \"%s\" (vmm takes options only; see --help)",
			 argv[optind]);
		return -EINVAL;
	}
	if (ncpus_needed > cfg->ncpus) {
		snprintf(
		    err, errlen,
		    "--dirty-limit names vCPU %u, but there %s only %u (--cpus; vCPUs are numbered from 0)",
		    ncpus_needed - 1, cfg->ncpus == 1 ? "is" : "are", cfg->ncpus);
		return -EINVAL;
	}
	if (cfg->x_incoming_fault && !cfg->incoming) {
		snprintf(err, errlen, "--x-incoming-fault needs --incoming");
		return -EINVAL;
	}
	for (unsigned i = cfg->ncpus; i < STRESS_MAX_CPUS; i++)
		cfg->dirty_limit_mib[i] = 0;
	return 0;
}

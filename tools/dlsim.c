// SPDX-License-Identifier: MIT
/*
 * dlsim: run the dirty limiter's control law against a simulated vCPU and
 * print what a benchmark would see.
 *
 *   dlsim --table                  the standard table (docs/dirtylimit.md)
 *   dlsim --console-table          the console-line scenario, first design
 *                                  against the half-life (docs/dirtylimit.md)
 *   dlsim --limit 25 --pps 300000  one run: unthrottled for 1 s, then limited
 *
 * All times in the options are microseconds, speeds pages/s, limits MiB/s.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirtylimit/dl_law.h"
#include "dirtylimit/dl_rate.h"
#include "dirtylimit/dl_sim.h"

#define US 1000ull
#define MS 1000000ull
#define S  1000000000ull

/* Limit set 1 s after start: the unthrottled phase fills the speed estimate
 * as it would in a running guest. */
#define SET_AT_NS (1 * S)
/* The steady state starts this long after the set (the settling bound). */
#define STEADY_AFTER_NS (500 * MS)
#define WINDOW_NS	(100 * MS)
#define BAND		0.10

struct opts {
	struct dl_sim_cfg cfg;
	double limit_mib; /* < 0: 90% of the unthrottled rate */
	uint64_t dur_ns;  /* after the set */
	int table;
	int console_table;
	int first_design;
};

/* The first design: half-way down per sample, readers on the full tick. */
static void set_first_design(struct dl_params *p)
{
	p->rate_down_shift = 1;
	p->read_slice_ns = p->tick_ns;
}

/* The stress kernel's console line: every second, 5 ms of running cut into
 * 250 port I/O exits that dirty nothing. */
static void set_console(struct dl_sim_cfg *c)
{
	c->io_every_ns = 1 * S;
	c->io_first_ns = 300 * MS;
	c->io_len_ns = 5 * MS;
	c->io_run_ns = 20 * US;
	c->io_exit_ns = 10 * US;
}

static double unthrottled(const struct opts *o)
{
	struct dl_sim_cfg c = o->cfg;
	struct dl_sim_result r;
	double m;

	c.nlimit = 0;
	c.end_ns = 2 * S;
	if (dl_sim_run(&c, &r))
		exit(1);
	m = dl_sim_mean(&r, 1 * S, 2 * S);
	dl_sim_free(&r);
	return m;
}

static void one(const struct opts *o, double limit_pps, int header)
{
	struct dl_sim_cfg c = o->cfg;
	struct dl_sim_step lim[1] = {{SET_AT_NS, (uint64_t)limit_pps}};
	struct dl_sim_result r;
	struct dl_sim_pct w, w1, after;
	uint64_t end = SET_AT_NS + o->dur_ns, steady = SET_AT_NS + STEADY_AFTER_NS, settle;
	double mean, lim_pps = (double)lim[0].pps;

	c.limit = lim;
	c.nlimit = 1;
	c.end_ns = end;
	if (dl_sim_run(&c, &r)) {
		fprintf(stderr, "dlsim: out of memory\n");
		exit(1);
	}
	mean = dl_sim_mean(&r, steady, end);
	dl_sim_windows(&r, steady, end, WINDOW_NS, &w);
	dl_sim_windows(&r, steady, end, 1 * S, &w1);
	/* The limit is applied at the first harvest after the set, at most a
	 * tick later: overshoot is judged from there. */
	dl_sim_windows(&r, SET_AT_NS + c.params.tick_ns, end, WINDOW_NS, &after);
	settle = dl_sim_settle(&r, SET_AT_NS, end, WINDOW_NS, lim_pps, BAND);
	if (header)
		printf("| limit MiB/s | settle ms | mean err %% | 100 ms p5 / p95 %% | "
		       "1 s p5 / p95 %% | worst 100 ms %% | longest sleep ms | exits/s |\n"
		       "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	printf("| %.1f | ", dl_pages_to_mib(lim_pps));
	if (settle == UINT64_MAX)
		printf("never | ");
	else
		printf("%.0f | ", (double)settle / MS);
	printf("%+.2f | %+.1f / %+.1f | %+.1f / %+.1f | %+.1f | %.1f | %.0f |\n",
	       100 * (mean / lim_pps - 1), 100 * (w.p5 / lim_pps - 1), 100 * (w.p95 / lim_pps - 1),
	       100 * (w1.p5 / lim_pps - 1), 100 * (w1.p95 / lim_pps - 1),
	       100 * (after.max / lim_pps - 1), (double)r.stats.max_penalty_ns / MS,
	       (double)r.exits * S / (double)end);
	dl_sim_free(&r);
}

/*
 * The console-line scenario for each design and accounting: limit set at
 * 1 s, measured from 1.5 s for dur (500 ms windows, as the benchmark reads
 * the guest's counter).
 */
static void console_table(struct opts *o)
{
	static const double mibs[] = {1, 5, 25, 100, 400};
	size_t i;
	int first, acc;

	printf(
	    "| estimator | accounted after | limit MiB/s | mean err %% | 500 ms min / max %% | "
	    "longest penalty ms | exits/s |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
	for (first = 1; first >= 0; first--) {
		for (acc = 1; acc >= 0; acc--) {
			for (i = 0; i < sizeof(mibs) / sizeof(mibs[0]); i++) {
				struct dl_sim_cfg c = o->cfg;
				double lim_pps = (double)dl_mib_to_pages((uint64_t)mibs[i]);
				struct dl_sim_step lim[1] = {{SET_AT_NS, (uint64_t)lim_pps}};
				uint64_t from = SET_AT_NS + STEADY_AFTER_NS, end = from + o->dur_ns;
				struct dl_sim_result r;
				struct dl_sim_pct w;
				double mean;

				if (!c.io_every_ns)
					set_console(&c);
				c.io_accounted = acc;
				if (first)
					set_first_design(&c.params);
				c.limit = lim;
				c.nlimit = 1;
				c.end_ns = end;
				if (dl_sim_run(&c, &r)) {
					fprintf(stderr, "dlsim: out of memory\n");
					exit(1);
				}
				mean = dl_sim_mean(&r, from, end);
				dl_sim_windows(&r, from, end, 500 * MS, &w);
				printf("| %s | %s | %.0f | %+.2f | %+.1f / %+.1f | %.1f | %.0f |\n",
				       first ? "per sample (first)" : "half-life",
				       acc ? "every exit" : "kicks only", mibs[i],
				       100 * (mean / lim_pps - 1), 100 * (w.min / lim_pps - 1),
				       100 * (w.max / lim_pps - 1),
				       (double)r.stats.max_penalty_ns / MS,
				       (double)r.exits * S / (double)end);
				dl_sim_free(&r);
			}
		}
	}
}

static void table(struct opts *o)
{
	static const double mibs[] = {1, 2, 5, 10, 25, 100, 400, -1};
	double full = unthrottled(o);
	size_t i;

	printf("unthrottled: %.0f pages/s (%.0f MiB/s)\n\n", full, dl_pages_to_mib(full));
	for (i = 0; i < sizeof(mibs) / sizeof(mibs[0]); i++) {
		double pps = mibs[i] < 0 ? 0.9 * full : (double)dl_mib_to_pages((uint64_t)mibs[i]);

		one(o, pps, i == 0);
	}
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (*end) {
		fprintf(stderr, "dlsim: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: dlsim [--table | --console-table] [--limit MIB|-1] [--pps N]\n"
		"             [--ft-pps N --ft-pages N] [--tick US] [--min-slice US]\n"
		"             [--pace US] [--burst US] [--max-sleep US] [--read-slice US]\n"
		"             [--halflife US] [--down-shift N] [--first-design]\n"
		"             [--console] [--io-every MS] [--io-len US] [--io-run US]\n"
		"             [--io-exit US] [--io-accounted] [--background N]\n"
		"             [--slice-jitter US] [--sleep-jitter US] [--kick US] [--dur MS]\n"
		"             [--seed N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"table", no_argument, NULL, 'T'},
	    {"console-table", no_argument, NULL, 'C'},
	    {"read-slice", required_argument, NULL, 'R'},
	    {"halflife", required_argument, NULL, 'H'},
	    {"down-shift", required_argument, NULL, 'D'},
	    {"first-design", no_argument, NULL, '1'},
	    {"console", no_argument, NULL, 'c'},
	    {"io-every", required_argument, NULL, 'e'},
	    {"io-len", required_argument, NULL, 'i'},
	    {"io-run", required_argument, NULL, 'u'},
	    {"io-exit", required_argument, NULL, 'x'},
	    {"io-accounted", no_argument, NULL, 'a'},
	    {"background", required_argument, NULL, 'g'},
	    {"limit", required_argument, NULL, 'l'},
	    {"pps", required_argument, NULL, 'r'},
	    {"ft-pps", required_argument, NULL, 'f'},
	    {"ft-pages", required_argument, NULL, 'F'},
	    {"tick", required_argument, NULL, 't'},
	    {"min-slice", required_argument, NULL, 'm'},
	    {"pace", required_argument, NULL, 'p'},
	    {"burst", required_argument, NULL, 'b'},
	    {"max-sleep", required_argument, NULL, 'M'},
	    {"slice-jitter", required_argument, NULL, 'j'},
	    {"sleep-jitter", required_argument, NULL, 'J'},
	    {"kick", required_argument, NULL, 'k'},
	    {"dur", required_argument, NULL, 'd'},
	    {"seed", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	struct dl_sim_step load[1] = {{0, 300000}};
	struct opts o;
	int c;

	memset(&o, 0, sizeof(o));
	dl_params_default(&o.cfg.params);
	o.cfg.params.tick_ns = 10 * MS; /* vm.c's, for its default 65536-entry ring */
	o.cfg.load = load;
	o.cfg.nload = 1;
	o.cfg.slice_jitter_ns = 50 * US;
	o.cfg.sleep_jitter_ns = 50 * US;
	o.cfg.kick_ns = 10 * US;
	o.cfg.bin_ns = 1 * MS;
	o.cfg.seed = 1;
	o.limit_mib = 25;
	o.dur_ns = 10 * S;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'T':
			o.table = 1;
			break;
		case 'C':
			o.console_table = 1;
			break;
		case 'R':
			o.cfg.params.read_slice_ns = num(optarg) * US;
			break;
		case 'H':
			o.cfg.params.rate_halflife_ns = num(optarg) * US;
			break;
		case 'D':
			o.cfg.params.rate_down_shift = (unsigned int)num(optarg);
			break;
		case '1':
			o.first_design = 1;
			break;
		case 'c':
			set_console(&o.cfg);
			break;
		case 'e':
			o.cfg.io_every_ns = num(optarg) * MS;
			break;
		case 'i':
			o.cfg.io_len_ns = num(optarg) * US;
			break;
		case 'u':
			o.cfg.io_run_ns = num(optarg) * US;
			break;
		case 'x':
			o.cfg.io_exit_ns = num(optarg) * US;
			break;
		case 'a':
			o.cfg.io_accounted = 1;
			break;
		case 'g':
			o.cfg.background_pps = num(optarg);
			break;
		case 'l':
			o.limit_mib = atof(optarg);
			break;
		case 'r':
			load[0].pps = num(optarg);
			break;
		case 'f':
			o.cfg.first_touch_pps = num(optarg);
			break;
		case 'F':
			o.cfg.first_touch_pages = num(optarg);
			break;
		case 't':
			o.cfg.params.tick_ns = num(optarg) * US;
			break;
		case 'm':
			o.cfg.params.min_slice_ns = num(optarg) * US;
			break;
		case 'p':
			o.cfg.params.pace_ns = num(optarg) * US;
			break;
		case 'b':
			o.cfg.params.burst_ns = num(optarg) * US;
			break;
		case 'M':
			o.cfg.params.max_sleep_ns = num(optarg) * US;
			break;
		case 'j':
			o.cfg.slice_jitter_ns = num(optarg) * US;
			break;
		case 'J':
			o.cfg.sleep_jitter_ns = num(optarg) * US;
			break;
		case 'k':
			o.cfg.kick_ns = num(optarg) * US;
			break;
		case 'd':
			o.dur_ns = num(optarg) * MS;
			break;
		case 's':
			o.cfg.seed = num(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (o.first_design)
		set_first_design(&o.cfg.params);
	printf("pps %llu, tick %llu us, min slice %llu us, pace %llu us, burst %llu us, "
	       "read slice %llu us, ",
	       (unsigned long long)load[0].pps, (unsigned long long)(o.cfg.params.tick_ns / US),
	       (unsigned long long)(o.cfg.params.min_slice_ns / US),
	       (unsigned long long)(o.cfg.params.pace_ns / US),
	       (unsigned long long)(o.cfg.params.burst_ns / US),
	       (unsigned long long)(o.cfg.params.read_slice_ns / US));
	if (o.cfg.params.rate_down_shift)
		printf("speed estimate 1/%u of the way down per sample, ",
		       1u << o.cfg.params.rate_down_shift);
	else
		printf("speed estimate half-life %llu us, ",
		       (unsigned long long)(o.cfg.params.rate_halflife_ns / US));
	printf("jitter %llu/%llu us, kick %llu us\n",
	       (unsigned long long)(o.cfg.slice_jitter_ns / US),
	       (unsigned long long)(o.cfg.sleep_jitter_ns / US),
	       (unsigned long long)(o.cfg.kick_ns / US));
	if (o.cfg.io_every_ns && !o.console_table)
		printf("console: every %llu ms, %llu us of running, I/O exit every %llu us "
		       "(%llu us each), %s\n",
		       (unsigned long long)(o.cfg.io_every_ns / MS),
		       (unsigned long long)(o.cfg.io_len_ns / US),
		       (unsigned long long)(o.cfg.io_run_ns / US),
		       (unsigned long long)(o.cfg.io_exit_ns / US),
		       o.cfg.io_accounted ? "accounted" : "not accounted");
	if (o.console_table) {
		console_table(&o);
	} else if (o.table) {
		table(&o);
	} else {
		double full = o.limit_mib < 0 ? unthrottled(&o) : 0;

		one(&o, o.limit_mib < 0 ? 0.9 * full : o.limit_mib * DL_PAGES_PER_MIB, 1);
	}
	return 0;
}

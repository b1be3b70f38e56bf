// SPDX-License-Identifier: MIT
/*
 * dlsim: run a dirty limiter control law against a simulated vCPU and print
 * what a benchmark would see.
 *
 *   dlsim --table                  the standard table (docs/dirtylimit.md)
 *   dlsim --console-table          the console-line scenario, first design
 *                                  against the half-life (docs/dirtylimit.md)
 *   dlsim --limit 25 --pps 300000  one run: unthrottled for 1 s, then limited
 *   dlsim --law qemu --ring 4096 --limit 25 --series 1000
 *                                  the same under another law, with the rate
 *                                  of every second
 *   dlsim --laws-table             every law at every limit and ring
 *
 * All times in the options are microseconds unless said otherwise, speeds
 * pages/s, limits MiB/s.
 */
#include <getopt.h>
#include <stdbool.h>
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
	int laws_table;
	int first_design;
	bool tick_given;
	uint64_t series_ns; /* print the rate of every window of this length */
	double from_mib;    /* a limit in force before the set (0: unthrottled) */
};

/* vm.c's automatic tick: a quarter of the ring at 1M pages/s, 50 us .. 10 ms. */
static uint64_t auto_tick_ns(uint32_t ring)
{
	uint64_t ns = (uint64_t)ring / 4 * 1000;

	return ns < 50 * US ? 50 * US : ns > 10 * MS ? 10 * MS : ns;
}

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

/* The rate of every window of o->series_ns, MiB/s, from 0 to end. */
static void series(const struct opts *o, const struct dl_sim_result *r, uint64_t end)
{
	for (uint64_t t = 0; t + o->series_ns <= end; t += o->series_ns)
		printf("%8.3f s  %9.1f MiB/s\n", (double)(t + o->series_ns) / S,
		       dl_pages_to_mib(dl_sim_mean(r, t, t + o->series_ns)));
}

static void one(const struct opts *o, double limit_pps, int header)
{
	struct dl_sim_cfg c = o->cfg;
	struct dl_sim_step lim[2] = {{0, (uint64_t)dl_mib_to_pages((uint64_t)o->from_mib)},
				     {SET_AT_NS, (uint64_t)limit_pps}};
	struct dl_sim_result r;
	struct dl_sim_pct w, w1, after;
	uint64_t end = SET_AT_NS + o->dur_ns, steady = SET_AT_NS + STEADY_AFTER_NS, settle;
	double mean, lim_pps = limit_pps;

	c.limit = o->from_mib > 0 ? lim : lim + 1;
	c.nlimit = o->from_mib > 0 ? 2 : 1;
	c.end_ns = end;
	if (dl_sim_run(&c, &r)) {
		fprintf(stderr, "dlsim: out of memory\n");
		exit(1);
	}
	if (o->series_ns)
		series(o, &r, end);
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
	if (r.tunings)
		printf("tunings %llu, last throttle %llu\n", (unsigned long long)r.tunings,
		       (unsigned long long)r.stats.throttle);
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

/*
 * Every law at every limit and ring, as the side-by-side benchmark runs
 * them (bench/dirtylimit_laws.py): unthrottled 1 s, then the limit for the
 * law's phase (5 s for the bucket, 20 s for the 1 s laws, 60 s for pct);
 * settle and windows as the benchmark computes them; "last 5 s" = the mean
 * of the phase's last 5 s against the limit; "law's samples" = the range of
 * what the law itself read (QEMU's current-rate) from 10 s on.
 */
static void laws_table(struct opts *o)
{
	static const char *const laws[] = {"bucket", "qemu",	    "qemu:sync=wait",
					   "linear", "linear:ki=1", "pct"};
	static const uint32_t rings[] = {4096, 65536};
	static const double mibs[] = {1, 25, 100, 400, -1};

	printf(
	    "| law | ring | limit MiB/s | settle ms | mean err %% | last 5 s %% | 1 s p5 / p95 %% | "
	    "longest sleep ms | law's samples MB/s |\n"
	    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (size_t l = 0; l < sizeof(laws) / sizeof(laws[0]); l++) {
		for (size_t r = 0; r < 2; r++) {
			for (size_t i = 0; i < sizeof(mibs) / sizeof(mibs[0]); i++) {
				struct opts x = *o;
				struct dl_sim_cfg *c = &x.cfg;
				struct dl_sim_step lim[1];
				struct dl_sim_result res;
				struct dl_sim_pct w1;
				uint64_t dur, end, settle, from, lo = UINT64_MAX, hi = 0;
				double full, pps, mean, last;
				char err[128];

				if (dl_law_parse(laws[l], &c->law, err, sizeof(err)) < 0)
					exit(1);
				c->params.ring_entries = rings[r];
				c->params.tick_ns = auto_tick_ns(rings[r]);
				dur = c->law.law == &dl_law_bucket ? 5 * S
				      : c->law.law == &dl_law_pct  ? 60 * S
								   : 20 * S;
				full = unthrottled(&x);
				pps = mibs[i] < 0 ? 0.9 * full
						  : (double)dl_mib_to_pages((uint64_t)mibs[i]);
				lim[0] = (struct dl_sim_step){SET_AT_NS, (uint64_t)pps};
				end = SET_AT_NS + dur;
				c->limit = lim;
				c->nlimit = 1;
				c->end_ns = end;
				if (dl_sim_run(c, &res)) {
					fprintf(stderr, "dlsim: out of memory\n");
					exit(1);
				}
				settle = dl_sim_settle(&res, SET_AT_NS, end, WINDOW_NS, pps, BAND);
				/* The benchmark's "never": not 3 s in band at the end. */
				if (settle != UINT64_MAX && end - SET_AT_NS - settle < 3 * S)
					settle = UINT64_MAX;
				from = SET_AT_NS + (settle == UINT64_MAX || settle < STEADY_AFTER_NS
							? STEADY_AFTER_NS
							: settle);
				mean = dl_sim_mean(&res, from, end);
				last = dl_sim_mean(&res, end - 5 * S, end);
				dl_sim_windows(&res, from, end, 1 * S, &w1);
				for (size_t k = 0; k < res.nsamples; k++) {
					uint64_t m = res.samples[k].rate_mib;

					if (res.samples[k].t_ns < SET_AT_NS + 10 * S)
						continue;
					lo = m < lo ? m : lo;
					hi = m > hi ? m : hi;
				}
				printf("| %s | %u | %.0f%s | ", laws[l], rings[r],
				       dl_pages_to_mib(pps), mibs[i] < 0 ? " (90%)" : "");
				if (settle == UINT64_MAX)
					printf("never | ");
				else
					printf("%.0f | ", (double)settle / MS);
				printf("%+.1f | %+.1f | %+.0f / %+.0f | %.0f | ",
				       100 * (mean / pps - 1), 100 * (last / pps - 1),
				       100 * (w1.p5 / pps - 1), 100 * (w1.p95 / pps - 1),
				       (double)res.stats.max_penalty_ns / MS);
				if (lo == UINT64_MAX)
					printf(" |\n");
				else
					printf("%llu..%llu |\n", (unsigned long long)lo,
					       (unsigned long long)hi);
				dl_sim_free(&res);
			}
		}
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
		"             [--seed N] [--law NAME[:K=V,...]] [--period MS] [--ring N]\n"
		"             [--paced MIB] [--series MS] [--from MIB] [--budget MS]\n"
		"             [--laws-table]\n");
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
	    {"law", required_argument, NULL, 'L'},
	    {"period", required_argument, NULL, 'P'},
	    {"ring", required_argument, NULL, 'G'},
	    {"paced", required_argument, NULL, 'Q'},
	    {"series", required_argument, NULL, 'S'},
	    {"from", required_argument, NULL, 'O'},
	    {"laws-table", no_argument, NULL, 'W'},
	    {"budget", required_argument, NULL, 'B'},
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
			o.tick_given = true;
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
		case 'L': {
			char err[200];

			if (dl_law_parse(optarg, &o.cfg.law, err, sizeof(err)) < 0) {
				fprintf(stderr, "dlsim: --law %s: %s\n", optarg, err);
				exit(2);
			}
			break;
		}
		case 'P':
			o.cfg.tune_period_ns = num(optarg) * MS;
			break;
		case 'G':
			o.cfg.params.ring_entries = (uint32_t)num(optarg);
			break;
		case 'Q':
			o.cfg.paced_pps = dl_mib_to_pages(num(optarg));
			break;
		case 'S':
			o.series_ns = num(optarg) * MS;
			break;
		case 'O':
			o.from_mib = atof(optarg);
			break;
		case 'W':
			o.laws_table = 1;
			break;
		case 'B':
			o.cfg.pace_budget_ns = num(optarg) * MS;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (!o.tick_given)
		o.cfg.params.tick_ns = auto_tick_ns(o.cfg.params.ring_entries);
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
	if (o.cfg.law.law) {
		char spec[64];

		printf("law %s, period %llu ms, ring %u, ",
		       dl_law_format(&o.cfg.law, spec, sizeof(spec)),
		       (unsigned long long)(dl_law_period(&o.cfg.law, o.cfg.tune_period_ns) / MS),
		       o.cfg.params.ring_entries);
	}
	if (o.cfg.paced_pps)
		printf("guest paced at %.0f MiB/s, ", dl_pages_to_mib((double)o.cfg.paced_pps));
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
	if (o.laws_table) {
		laws_table(&o);
	} else if (o.console_table) {
		console_table(&o);
	} else if (o.table) {
		table(&o);
	} else {
		double full = o.limit_mib < 0 ? unthrottled(&o) : 0;

		one(&o, o.limit_mib < 0 ? 0.9 * full : o.limit_mib * DL_PAGES_PER_MIB, 1);
	}
	return 0;
}

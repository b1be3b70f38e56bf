// SPDX-License-Identifier: MIT
/*
 * migsim: run the migration's convergence policies against a simulated
 * guest and link, and print what a benchmark would see.
 *
 *   migsim --table         the issue's case under every policy, our loop and
 *                          QEMU's (docs/migration.md, "Converging")
 *   migsim --cases         the other scenarios under every policy
 *   migsim --share-table   ours on the issue's case, share 1/8 to 4/5
 *   migsim --case issue --policy share --trace    one run, round by round
 *   migsim --mem 2048 --writer 200:400:random --reader 256 --link 125
 *                          a guest and a link of one's own (--help)
 *
 * Units: links and bandwidths MB/s (10^6 bytes), dirty limits MiB/s (QEMU's
 * "MB/s"), data MiB.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/mig_sim.h"

#define MS  1000000ull
#define S   1000000000.0
#define MIB 1048576.0

static const enum mig_policy_kind kinds[] = {
    MIG_POLICY_NONE,
    MIG_POLICY_AUTO_CONVERGE,
    MIG_POLICY_DIRTY_LIMIT_FIXED,
    MIG_POLICY_DIRTY_LIMIT_SHARE,
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: migsim --table | --cases | --share-table\n"
		"       migsim [--case NAME] [--policy none|auto-converge|fixed|share]\n"
		"              [--qemu-loop] [--share PERMILLE] [--aim MS] [--land PERMILLE]\n"
		"              [--downtime-limit MS] [--max-bandwidth MB/s]\n"
		"              [--vcpu-dirty-limit MiB/s] [--tailslow] [--max-time S]\n"
		"              [--seed N] [--trace]\n"
		"              [--mem MiB] [--link MB/s] [--link-at MS:MB/s]...\n"
		"              [--writer MiB:MB/s[:random]]... [--reader MiB]...\n"
		"A run starts from a case (default: issue); --writer and --reader\n"
		"replace its vCPUs (in the order given), --link its link (loopback).\n"
		"cases:");
	for (int k = 0; k < MIG_SIM_CASE_COUNT; k++)
		fprintf(code ? stderr : stdout, " %s", mig_sim_case_name(k));
	fprintf(code ? stderr : stdout, "\n");
	exit(code);
}

static const char *short_name(enum mig_policy_kind k)
{
	switch (k) {
	case MIG_POLICY_NONE:
		return "none";
	case MIG_POLICY_AUTO_CONVERGE:
		return "auto-converge";
	case MIG_POLICY_DIRTY_LIMIT_FIXED:
		return "dirty-limit 1 MB/s (QEMU)";
	case MIG_POLICY_DIRTY_LIMIT_SHARE:
		return "dirty-limit, ours";
	}
	return "?";
}

static void header(int with_case)
{
	printf("%s| policy | loop | converged | total s | rounds | expected downtime ms | "
	       "downtime ms | first action s | writer MiB written | ... while held | "
	       "writer speed %% | reader speed %% | throttle %% | limits MiB/s | note |\n"
	       "%s| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
	       "| ---: | --- | --- |\n",
	       with_case ? "| case " : "", with_case ? "| --- " : "");
}

/* Values of every vCPU of a role, " / " between them. */
static void per_role(const struct mig_sim_cfg *c, enum mig_sim_role role, const double *v,
		     const char *fmt)
{
	int any = 0;

	for (unsigned i = 0; i < c->nvcpus; i++) {
		if (c->vcpu[i].role != role)
			continue;
		printf(any ? " / " : "");
		printf(fmt, v[i]);
		any = 1;
	}
	printf(any ? " | " : "- | ");
}

static void row(const struct mig_sim_cfg *c, const struct mig_sim_result *r, enum mig_policy_kind k,
		const char *case_name)
{
	double mib[MIG_SIM_MAX_VCPUS], held[MIG_SIM_MAX_VCPUS], pct[MIG_SIM_MAX_VCPUS];

	for (unsigned i = 0; i < c->nvcpus; i++) {
		mib[i] = r->written[i] * 4096.0 / MIB;
		held[i] = r->written_held[i] * 4096.0 / MIB;
		pct[i] = 100 * r->speed_share[i];
	}
	if (case_name)
		printf("| %s ", case_name);
	printf("| %s | %s | %s | %.2f | %llu | ", short_name(k), c->qemu_loop ? "QEMU's" : "ours",
	       r->converged ? "yes" : "no", r->total_ns / S, (unsigned long long)r->syncs);
	if (r->converged)
		printf("%llu | %.1f | ", (unsigned long long)r->expected_downtime_ms,
		       r->downtime_ns / 1e6);
	else
		printf("- | - | ");
	if (r->first_action_ns == UINT64_MAX)
		printf("- | ");
	else
		printf("%.2f | ", r->first_action_ns / S);
	per_role(c, MIG_SIM_WRITER, mib, "%.0f");
	per_role(c, MIG_SIM_WRITER, held, "%.1f");
	per_role(c, MIG_SIM_WRITER, pct, "%.1f");
	per_role(c, MIG_SIM_READER, pct, "%.1f");
	printf("%u | ", r->max_throttle_pct);
	for (unsigned i = 0; i < c->nvcpus; i++) {
		printf("%s%.1f", i ? " / " : "", r->min_limit_pps[i] / 256.0);
		if (r->max_limit_pps[i] != r->min_limit_pps[i])
			printf("-%.1f", r->max_limit_pps[i] / 256.0);
	}
	printf(" | %s |\n", mig_note_text(r->note));
}

static void run(const struct mig_sim_cfg *c, struct mig_sim_result *r, mig_sim_round_fn fn)
{
	int err = mig_sim_run(c, r, fn, NULL);

	if (err) {
		fprintf(stderr, "migsim: %s\n",
			err == -EINVAL ? "bad configuration (working sets must fit in memory "
					 "above 4 MiB, a link above 0 B/s)"
				       : "out of memory");
		exit(1);
	}
}

static void on_round(void *ctx, const struct mig_sim_round *rd)
{
	(void)ctx;
	printf("  %7.3f s  round %6.1f MiB dirtied, next %6.1f MiB, %6.1f MB/s, "
	       "expected %5llu ms, throttle %2u%%, limits",
	       rd->t_ns / S, rd->dirty_bytes / MIB, rd->remaining_bytes / MIB,
	       rd->dec.bandwidth / 1e6, (unsigned long long)rd->dec.expected_downtime_ms,
	       rd->dec.throttle_pct);
	for (unsigned i = 0; i < MIG_SIM_MAX_VCPUS && i < 4; i++)
		printf(" %.1f", rd->limit_pps[i] / 256.0);
	printf(" MiB/s%s%s\n", rd->dec.switchover ? ", switch over" : "",
	       rd->dec.note ? " (note)" : "");
}

/* The issue's case: every policy, our loop then QEMU's. */
static void table(void)
{
	for (int rd = 0; rd < 2; rd++) {
		printf("\n%s\n\n",
		       mig_sim_case_text(rd ? MIG_SIM_CASE_READER : MIG_SIM_CASE_ISSUE));
		header(0);
		for (int loop = 0; loop < 2; loop++) {
			for (size_t k = 0; k < NKINDS; k++) {
				struct mig_sim_cfg c;
				struct mig_sim_result r;

				mig_sim_case(&c, rd ? MIG_SIM_CASE_READER : MIG_SIM_CASE_ISSUE,
					     kinds[k]);
				c.qemu_loop = loop;
				run(&c, &r, NULL);
				row(&c, &r, kinds[k], NULL);
			}
		}
	}
}

/* The other scenarios (the issue's case and the reader: --table). */
static void cases_table(void)
{
	header(1);
	for (int k = MIG_SIM_CASE_TWO_WRITERS; k < MIG_SIM_CASE_COUNT; k++) {
		for (size_t p = 0; p < NKINDS; p++) {
			struct mig_sim_cfg c;
			struct mig_sim_result r;

			mig_sim_case(&c, k, kinds[p]);
			run(&c, &r, NULL);
			row(&c, &r, kinds[p], mig_sim_case_name(k));
		}
	}
}

static void share_table(void)
{
	static const unsigned shares[] = {125, 250, 333, 500, 667, 800};

	printf("| share | land | total s | rounds | expected downtime ms | writer MiB written | "
	       "... while held | held MiB/s | guest time lost s |\n"
	       "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (int land = 0; land < 2; land++) {
		for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
			struct mig_sim_cfg c;
			struct mig_sim_result r;
			double held_s;

			mig_sim_case(&c, MIG_SIM_CASE_ISSUE, MIG_POLICY_DIRTY_LIMIT_SHARE);
			c.share.share_permille = shares[i];
			c.share.land_permille = land ? MIG_LAND_PERMILLE : 0;
			run(&c, &r, NULL);
			held_s = (r.live_ns - r.first_action_ns) / S;
			printf("| %.3f | %s | %.2f | %llu | %llu | %.0f | %.1f | %.1f | %.2f |\n",
			       shares[i] / 1000.0, land ? "0.8" : "off", r.total_ns / S,
			       (unsigned long long)r.syncs,
			       (unsigned long long)r.expected_downtime_ms,
			       r.written[0] * 4096.0 / MIB, r.written_held[0] * 4096.0 / MIB,
			       r.written_held[0] * 4096.0 / MIB / held_s,
			       (1 - r.speed_share[0]) * r.live_ns / S);
		}
	}
}

static enum mig_policy_kind policy_of(const char *s)
{
	if (!strcmp(s, "none"))
		return MIG_POLICY_NONE;
	if (!strcmp(s, "auto-converge"))
		return MIG_POLICY_AUTO_CONVERGE;
	if (!strcmp(s, "fixed"))
		return MIG_POLICY_DIRTY_LIMIT_FIXED;
	if (!strcmp(s, "share"))
		return MIG_POLICY_DIRTY_LIMIT_SHARE;
	usage(2);
	return MIG_POLICY_NONE;
}

static long long num(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (!*s || *end || v < 0 || v > 1000000000000ll)
		usage(2);
	return v;
}

/* Options that change the case's configuration; -1 = keep the case's. */
struct over {
	long long share, aim, land, downtime, maxbw, vdl, max_s, seed, mem;
	bool qemu_loop, tailslow;
	struct mig_sim_vcpu vcpu[MIG_SIM_MAX_VCPUS];
	unsigned nvcpus;
	struct mig_sim_step link[16];
	size_t nlink;
};

/* "A:B[:C]" into numbers; returns how many, 0 if malformed. */
static int fields(const char *s, long long *v, int max, const char **rest)
{
	int n = 0;

	*rest = NULL;
	while (n < max) {
		char *end;

		if (*s < '0' || *s > '9')
			return 0;
		v[n++] = strtoll(s, &end, 10);
		if (v[n - 1] > 1000000000000ll)
			return 0;
		if (*end != ':') {
			if (*end)
				*rest = end;
			return n;
		}
		s = end + 1;
		if (*s < '0' || *s > '9') {
			*rest = s;
			return n;
		}
	}
	return n;
}

static void add_vcpu(struct over *o, const char *arg, bool writer)
{
	long long v[2];
	const char *rest;
	int n = fields(arg, v, writer ? 2 : 1, &rest);
	struct mig_sim_vcpu *vc;

	if (o->nvcpus == MIG_SIM_MAX_VCPUS || n != (writer ? 2 : 1) || !v[0])
		usage(2);
	vc = &o->vcpu[o->nvcpus++];
	*vc = (struct mig_sim_vcpu){.wss_pages = (uint64_t)v[0] * 256};
	if (writer) {
		vc->role = MIG_SIM_WRITER;
		vc->speed_pps = (uint64_t)v[1] * 1000000 / 4096;
		vc->pattern = MIG_SIM_SEQ;
		if (rest && !strcmp(rest, "random"))
			vc->pattern = MIG_SIM_RANDOM;
		else if (rest)
			usage(2);
	} else {
		if (rest)
			usage(2);
		vc->role = MIG_SIM_READER;
		vc->speed_pps = 5242880; /* 20 GiB/s */
		vc->bg_pps = 3;
	}
}

static void add_link(struct over *o, const char *arg, bool at)
{
	long long v[2];
	const char *rest;
	int n = fields(arg, v, at ? 2 : 1, &rest);

	if (rest || n != (at ? 2 : 1) || o->nlink == sizeof(o->link) / sizeof(o->link[0]))
		usage(2);
	if (!at) {
		/* The link from the start: replaces the first step. */
		if (!v[0])
			usage(2);
		if (!o->nlink)
			o->nlink = 1;
		o->link[0] = (struct mig_sim_step){0, (uint64_t)v[0] * 1000000};
		return;
	}
	if (!o->nlink) {
		o->link[0] = (struct mig_sim_step){0, 3000000000ull};
		o->nlink = 1;
	}
	if (!v[1] || (uint64_t)v[0] * 1000000 < o->link[o->nlink - 1].t_ns)
		usage(2);
	o->link[o->nlink++] =
	    (struct mig_sim_step){(uint64_t)v[0] * 1000000, (uint64_t)v[1] * 1000000};
}

static void apply(struct mig_sim_cfg *c, const struct over *o, enum mig_policy_kind kind)
{
	c->qemu_loop = o->qemu_loop;
	c->params.cpu_throttle_tailslow = o->tailslow;
	if (o->share >= 0)
		c->share.share_permille = (unsigned)o->share;
	if (o->aim >= 0)
		c->share.aim_ms = (uint64_t)o->aim;
	if (o->land >= 0)
		c->share.land_permille = (unsigned)o->land;
	if (o->downtime >= 0)
		c->params.downtime_limit_ms = (uint64_t)o->downtime;
	if (o->maxbw >= 0)
		c->params.max_bandwidth = (uint64_t)o->maxbw * 1000000;
	if (o->vdl >= 0) {
		c->params.vcpu_dirty_limit = (uint64_t)o->vdl;
		c->params.vcpu_dirty_limit_set = kind == MIG_POLICY_DIRTY_LIMIT_FIXED;
	}
	if (o->max_s >= 0)
		c->max_ns = (uint64_t)o->max_s * 1000 * MS;
	if (o->seed >= 0)
		c->seed = (uint64_t)o->seed;
	if (o->mem >= 0)
		c->mem_pages = (uint64_t)o->mem * 256;
	if (o->nvcpus) {
		memcpy(c->vcpu, o->vcpu, sizeof(o->vcpu));
		c->nvcpus = o->nvcpus;
	}
	if (o->nlink) {
		c->link = o->link;
		c->nlink = o->nlink;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"table", no_argument, NULL, 'T'},
	    {"cases", no_argument, NULL, 'C'},
	    {"share-table", no_argument, NULL, 'S'},
	    {"case", required_argument, NULL, 'c'},
	    {"policy", required_argument, NULL, 'p'},
	    {"qemu-loop", no_argument, NULL, 'q'},
	    {"share", required_argument, NULL, 's'},
	    {"aim", required_argument, NULL, 'a'},
	    {"land", required_argument, NULL, 'l'},
	    {"downtime-limit", required_argument, NULL, 'd'},
	    {"max-bandwidth", required_argument, NULL, 'b'},
	    {"vcpu-dirty-limit", required_argument, NULL, 'v'},
	    {"tailslow", no_argument, NULL, 'w'},
	    {"max-time", required_argument, NULL, 'm'},
	    {"seed", required_argument, NULL, 'r'},
	    {"mem", required_argument, NULL, 'M'},
	    {"link", required_argument, NULL, 'L'},
	    {"link-at", required_argument, NULL, 'A'},
	    {"writer", required_argument, NULL, 'W'},
	    {"reader", required_argument, NULL, 'R'},
	    {"trace", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static struct over o = {-1, -1,	   -1,	  -1,	 -1, -1,    -1, -1,
				-1, false, false, {{0}}, 0,  {{0}}, 0};
	struct mig_sim_cfg c;
	struct mig_sim_result r;
	enum mig_policy_kind kind = MIG_POLICY_DIRTY_LIMIT_SHARE;
	int k = MIG_SIM_CASE_ISSUE, opt, trace = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'T':
			table();
			return 0;
		case 'C':
			cases_table();
			return 0;
		case 'S':
			share_table();
			return 0;
		case 'c':
			for (k = 0; k < MIG_SIM_CASE_COUNT; k++)
				if (!strcmp(optarg, mig_sim_case_name(k)))
					break;
			if (k == MIG_SIM_CASE_COUNT)
				usage(2);
			break;
		case 'p':
			kind = policy_of(optarg);
			break;
		case 'q':
			o.qemu_loop = true;
			break;
		case 's':
			o.share = num(optarg);
			break;
		case 'a':
			o.aim = num(optarg);
			break;
		case 'l':
			o.land = num(optarg);
			break;
		case 'd':
			o.downtime = num(optarg);
			break;
		case 'b':
			o.maxbw = num(optarg);
			break;
		case 'v':
			o.vdl = num(optarg);
			break;
		case 'w':
			o.tailslow = true;
			break;
		case 'm':
			o.max_s = num(optarg);
			break;
		case 'r':
			o.seed = num(optarg);
			break;
		case 'M':
			o.mem = num(optarg);
			break;
		case 'L':
			add_link(&o, optarg, false);
			break;
		case 'A':
			add_link(&o, optarg, true);
			break;
		case 'W':
			add_vcpu(&o, optarg, true);
			break;
		case 'R':
			add_vcpu(&o, optarg, false);
			break;
		case 't':
			trace = 1;
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	mig_sim_case(&c, k, kind);
	apply(&c, &o, kind);
	if (o.nvcpus || o.nlink || o.mem >= 0)
		printf("own guest or link, policy %s, %s loop\n\n", mig_policy_name(kind),
		       c.qemu_loop ? "QEMU's" : "our");
	else
		printf("%s (%s), policy %s, %s loop\n\n", mig_sim_case_name(k),
		       mig_sim_case_text(k), mig_policy_name(kind), c.qemu_loop ? "QEMU's" : "our");
	run(&c, &r, trace ? on_round : NULL);
	if (trace)
		printf("\n");
	header(0);
	row(&c, &r, kind, NULL);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * The simulator's scenarios (mig_sim.h): the issue's case and the others
 * that the tests assert and docs/migration.md shows.
 */
#include "migrate/mig_sim.h"

#include <errno.h>
#include <string.h>

#define MS 1000000ull

void mig_sim_set_policy(struct mig_sim_cfg *c, enum mig_policy_kind k)
{
	c->caps.auto_converge = k == MIG_POLICY_AUTO_CONVERGE;
	c->caps.dirty_limit =
	    k == MIG_POLICY_DIRTY_LIMIT_FIXED || k == MIG_POLICY_DIRTY_LIMIT_SHARE;
	c->params.vcpu_dirty_limit_set = k == MIG_POLICY_DIRTY_LIMIT_FIXED;
}

#define CASE_LINK	   3000000000ull /* one TCP stream over loopback */
#define CASE_READER_PPS	   5242880u	 /* 20 GiB/s: what readers reach here */
#define CASE_READER_PAGES  16384u	 /* 64 MiB */
#define CASE_SLOW_WSS	   4096u	 /* 16 MiB */
#define CASE_SLOW_MEM	   65536u	 /* 256 MiB */
#define CASE_SLOW_WRITER_B 1953u	 /* 8 MB/s */

static const struct mig_sim_step link_loopback[] = {{0, CASE_LINK}};
static const struct mig_sim_step link_drop[] = {{0, CASE_LINK}, {500 * MS, 50000000}};
static const struct mig_sim_step link_rise[] = {{0, 50000000}, {500 * MS, CASE_LINK}};

static const struct {
	const char *name, *text;
} cases[MIG_SIM_CASE_COUNT] = {
    [MIG_SIM_CASE_ISSUE] = {"issue", "80 MiB set at 1.2 GB/s, 100 MB/s"},
    [MIG_SIM_CASE_READER] = {"reader", "the same and a reader (64 MiB)"},
    [MIG_SIM_CASE_TWO_WRITERS] = {"two-writers",
				  "the same and a writer at 8 MB/s (64 MiB, random)"},
    [MIG_SIM_CASE_SMALL_SET] = {"small-set", "4 MiB set at 1.2 GB/s: fits in the aim"},
    [MIG_SIM_CASE_MID_SET] = {"mid-set", "16 MiB set: above the aim, within downtime-limit"},
    [MIG_SIM_CASE_SLOW_2MB] = {"slow-2MB", "256 MiB guest, 16 MiB set, 2 MB/s"},
    [MIG_SIM_CASE_SLOW_1MB] = {"slow-1MB", "256 MiB guest, 16 MiB set, 1 MB/s"},
    [MIG_SIM_CASE_LINK_DROP] = {"link-drop", "issue case, link 50 MB/s from 0.5 s"},
    [MIG_SIM_CASE_LINK_RISE] = {"link-rise", "issue case, link 50 MB/s until 0.5 s"},
};

const char *mig_sim_case_name(enum mig_sim_case k)
{
	return k < MIG_SIM_CASE_COUNT ? cases[k].name : "?";
}

const char *mig_sim_case_text(enum mig_sim_case k)
{
	return k < MIG_SIM_CASE_COUNT ? cases[k].text : "?";
}

int mig_sim_case(struct mig_sim_cfg *c, enum mig_sim_case k, enum mig_policy_kind p)
{
	if (k >= MIG_SIM_CASE_COUNT)
		return -EINVAL;
	mig_sim_default(c);
	c->link = link_loopback;
	c->nlink = 1;
	c->params.max_bandwidth = MIG_SIM_CASE_MAXBW;
	c->vcpu[0] = (struct mig_sim_vcpu){
	    .role = MIG_SIM_WRITER,
	    .wss_pages = 20480, /* 80 MiB */
	    .speed_pps = MIG_SIM_CASE_WRITER_PPS,
	    .pattern = MIG_SIM_SEQ,
	};
	c->nvcpus = 1;
	switch (k) {
	case MIG_SIM_CASE_READER:
		c->vcpu[1] = (struct mig_sim_vcpu){
		    .role = MIG_SIM_READER,
		    .wss_pages = CASE_READER_PAGES,
		    .speed_pps = CASE_READER_PPS,
		    .bg_pps = 3, /* stack and console: 1-3 pages/s measured */
		};
		c->nvcpus = 2;
		break;
	case MIG_SIM_CASE_TWO_WRITERS:
		c->vcpu[1] = (struct mig_sim_vcpu){
		    .role = MIG_SIM_WRITER,
		    .wss_pages = 16384,
		    .speed_pps = CASE_SLOW_WRITER_B,
		    .pattern = MIG_SIM_RANDOM,
		};
		c->nvcpus = 2;
		break;
	case MIG_SIM_CASE_SMALL_SET:
		c->vcpu[0].wss_pages = 1024;
		break;
	case MIG_SIM_CASE_MID_SET:
		c->vcpu[0].wss_pages = CASE_SLOW_WSS;
		break;
	case MIG_SIM_CASE_SLOW_2MB:
	case MIG_SIM_CASE_SLOW_1MB:
		c->mem_pages = CASE_SLOW_MEM;
		c->vcpu[0].wss_pages = CASE_SLOW_WSS;
		c->params.max_bandwidth = k == MIG_SIM_CASE_SLOW_2MB ? 2000000 : 1000000;
		c->max_ns = 120000 * MS;
		break;
	case MIG_SIM_CASE_LINK_DROP:
		c->link = link_drop;
		c->nlink = 2;
		break;
	case MIG_SIM_CASE_LINK_RISE:
		c->link = link_rise;
		c->nlink = 2;
		break;
	default:
		break;
	}
	mig_sim_set_policy(c, p);
	return 0;
}

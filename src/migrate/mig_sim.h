/* SPDX-License-Identifier: MIT */
/*
 * A simulated pre-copy migration driven by the convergence policies, for
 * the unit tests and tools/migsim.  Not linked into vmm.  Pure and
 * deterministic for a given seed.
 *
 * The guest: memory of mem_pages pages, zero but for a static part (the
 * kernel) and what the vCPUs write; each vCPU is a writer (a working set
 * written page by page, in order or at random, at a speed while it runs),
 * a reader (reads its working set, filled at boot, dirtying only a few
 * stack pages a second) or idle.  Working sets are laid out as the stress
 * kernel lays them out (from 4 MiB, 2 MiB-aligned).  The guest runs warm-up
 * before the migration starts, so that the measured rates are those of a
 * running guest.
 *
 * The link: bytes/s over time (steps), capped at max-bandwidth while the
 * guest runs; the final stop-and-copy goes at the link's own speed (QEMU
 * lifts its rate limit for it).
 *
 * The migration: a first pass over all memory (a zero page costs only
 * zero_page_bytes on the wire), then rounds of the pages dirtied since the
 * last sync.  A page written while still to be sent in this round is simply
 * sent with its new content; a page written after it was sent is dirty for
 * the next round, once however often it is rewritten.  Two loops: ours
 * (a sync at the end of each pass), or QEMU's (chunks of 100 ms of sending,
 * a sync whenever what remains falls below the policy's threshold), which
 * the simulator offers to compare with QEMU's measured figures.
 *
 * The policies' actuators: a dirty limit is held exactly (a token bucket
 * per vCPU with a 2 ms burst, as docs/dirtylimit.md measures the limiter),
 * a reader under a limit runs at MIG_SIM_LIMITED_READER_PERMILLE; the CPU
 * throttle takes its share of every vCPU's run time.  The measured dirty
 * rate of a vCPU counts what its dirty ring would log: a page once per 10 ms
 * harvest while unlimited (a small hot set is logged once per harvest), every
 * write while limited (the limiter harvests every slice).
 */
#ifndef MIG_SIM_H
#define MIG_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/mig_policy.h"

#define MIG_SIM_MAX_VCPUS 16u

/* A reader under a dirty limit runs this share (1/1000) of an unlimited
 * one: the limiter's 2 ms read slice costs it 0.9-1.6% (docs/dirtylimit.md,
 * "Reader turning writer": 99.07% / 98.36% measured in its simulator). */
#define MIG_SIM_LIMITED_READER_PERMILLE 990u

enum mig_sim_role {
	MIG_SIM_IDLE,
	MIG_SIM_WRITER,
	MIG_SIM_READER,
};

enum mig_sim_pattern {
	MIG_SIM_SEQ,
	MIG_SIM_RANDOM,
};

struct mig_sim_vcpu {
	enum mig_sim_role role;
	uint64_t wss_pages;
	uint64_t speed_pps; /* writer: page writes per second of running;
			     * reader: pages read per second of running */
	enum mig_sim_pattern pattern;
	uint64_t bg_pps;	 /* pages/s dirtied besides the working set (stack) */
	uint64_t user_limit_pps; /* the user's own dirty limit, 0 = none */
};

/* From t_ns after the migration starts, value applies. */
struct mig_sim_step {
	uint64_t t_ns;
	uint64_t value;
};

struct mig_sim_cfg {
	uint64_t mem_pages;
	uint64_t static_pages; /* non-zero from boot, from 1 MiB (the kernel) */
	struct mig_sim_vcpu vcpu[MIG_SIM_MAX_VCPUS];
	unsigned nvcpus;
	const struct mig_sim_step *link; /* bytes/s, sorted, [0] at 0 */
	size_t nlink;
	struct mig_params params; /* max_bandwidth caps the live phase (0 = no cap) */
	struct mig_caps caps;
	struct mig_share share;
	bool qemu_loop;		 /* QEMU's migration loop instead of ours */
	uint64_t step_ns;	 /* simulation step (1 ms) */
	uint64_t warmup_ns;	 /* the guest runs this long first */
	uint64_t max_ns;	 /* give up after this long migrating */
	uint64_t page_hdr_bytes; /* per page sent, besides its 4096 bytes */
	uint64_t zero_page_bytes;
	uint64_t seed;
};

/* At every sync. */
struct mig_sim_round {
	uint64_t t_ns;
	uint64_t dirty_bytes;	  /* dirtied during the round */
	uint64_t remaining_bytes; /* the next round */
	uint64_t sent_bytes;	  /* since the start */
	struct mig_decision dec;
	uint64_t limit_pps[MIG_SIM_MAX_VCPUS]; /* in force after the sync */
};

struct mig_sim_result {
	bool converged;
	uint64_t total_ns;    /* migration start to the guest running on the destination */
	uint64_t live_ns;     /* until the switchover */
	uint64_t downtime_ns; /* the stop-and-copy, at the link's speed */
	uint64_t syncs;
	uint64_t sent_bytes;
	uint64_t final_bytes;	       /* sent in the stop-and-copy */
	uint64_t expected_downtime_ms; /* the policy's figure at the switchover */
	uint64_t first_action_ns;      /* first limit or throttle, UINT64_MAX = none */
	unsigned max_throttle_pct;
	enum mig_note note;			   /* the gravest seen */
	uint64_t written[MIG_SIM_MAX_VCPUS];	   /* page writes while live */
	uint64_t written_held[MIG_SIM_MAX_VCPUS];  /* ... from the first action on */
	double speed_share[MIG_SIM_MAX_VCPUS];	   /* progress while live / unthrottled */
	uint64_t max_limit_pps[MIG_SIM_MAX_VCPUS]; /* the migration's, highest */
	uint64_t last_limit_pps[MIG_SIM_MAX_VCPUS];
	uint64_t min_limit_pps[MIG_SIM_MAX_VCPUS]; /* lowest non-zero, 0 = never */
	uint64_t end_limit_pps[MIG_SIM_MAX_VCPUS]; /* in force after the end */
};

/* 1 GiB, no vCPU, 100 MB/s link from the caller, QEMU's parameters, no
 * capability, ours' defaults, our loop, 1 ms steps, 1 s warm-up, 60 s max,
 * 8-byte page headers, 8-byte zero pages. */
void mig_sim_default(struct mig_sim_cfg *c);

/*
 * The scenarios of the tests and of tools/migsim (docs/migration.md shows
 * them).  All start from the issue's case (issue 8, section 8): 1 GiB
 * guest, vCPU 0 writing an 80 MiB working set in order at 1.2 GB/s,
 * max-bandwidth 100 MB/s over loopback (a 3 GB/s link), downtime-limit
 * 300 ms.
 */
enum mig_sim_case {
	MIG_SIM_CASE_ISSUE,	  /* as above */
	MIG_SIM_CASE_READER,	  /* + vCPU 1 reading 64 MiB at 20 GiB/s */
	MIG_SIM_CASE_TWO_WRITERS, /* + vCPU 1 writing 64 MiB at random, 8 MB/s */
	MIG_SIM_CASE_SMALL_SET,	  /* vCPU 0's set is 4 MiB: fits in the aim */
	MIG_SIM_CASE_MID_SET,	  /* 16 MiB: above the aim, within the limit */
	MIG_SIM_CASE_SLOW_2MB,	  /* 256 MiB guest, 16 MiB set, max-bandwidth 2 MB/s */
	MIG_SIM_CASE_SLOW_1MB,	  /* the same at 1 MB/s */
	MIG_SIM_CASE_LINK_DROP,	  /* the link falls to 50 MB/s at 0.5 s */
	MIG_SIM_CASE_LINK_RISE,	  /* the link is 50 MB/s until 0.5 s */
	MIG_SIM_CASE_COUNT,
};

#define MIG_SIM_CASE_WRITER_PPS 292969u /* 1.2e9 B/s */
#define MIG_SIM_CASE_MAXBW	100000000ull

/* Fills c with case k under policy p (fixed: vcpu-dirty-limit 1 MB/s,
 * QEMU's default).  Returns 0, or -EINVAL for an unknown case. */
int mig_sim_case(struct mig_sim_cfg *c, enum mig_sim_case k, enum mig_policy_kind p);
const char *mig_sim_case_name(enum mig_sim_case k);
const char *mig_sim_case_text(enum mig_sim_case k);

/* Capabilities and parameters selecting policy k (fixed: the user's
 * vcpu-dirty-limit as it is in c->params, marked as given). */
void mig_sim_set_policy(struct mig_sim_cfg *c, enum mig_policy_kind k);

typedef void (*mig_sim_round_fn)(void *ctx, const struct mig_sim_round *r);

/* Returns 0, -EINVAL (bad configuration) or -ENOMEM.  on_round may be NULL. */
int mig_sim_run(const struct mig_sim_cfg *c, struct mig_sim_result *r, mig_sim_round_fn on_round,
		void *ctx);

#endif /* MIG_SIM_H */

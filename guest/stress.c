// SPDX-License-Identifier: MIT
/*
 * The work loops.  The rule: in the loops, the only memory a vcpu writes is
 * its working set and its own stats entry (not dirty-tracked under vmm).
 * Loop state lives in registers; the TSC is read inline; anything that
 * needs the stack (the summary, an error message) is a cold call made at
 * most once per report interval or per error.
 */
#include <stdbool.h>

#include "console.h"
#include "io.h"
#include "kernel.h"

#define PAGE_WORDS (PAGE_SIZE / sizeof(uint64_t))

/*
 * A reader loads one word per 64-byte cache line: that pulls the whole page
 * through the cache at a fraction of the instructions.
 */
#define READ_STRIDE_WORDS (64 / sizeof(uint64_t))

/*
 * A paced writer that fell behind (descheduled, paused for migration, busy
 * printing the summary) may catch up for at most this long: enough to
 * absorb jitter, short enough that a long stop does not become a burst.
 */
#define PACE_MAX_BACKLOG_MS 10

/* Any non-zero xorshift64 seed works; this one differs per vcpu. */
#define RANDOM_SEED 0x9e3779b97f4a7c15ull

/*
 * A reader's pattern: the word it loads from line l of its working set
 * holds READ_KEY * (cpu + 1) + l.  Any odd 64-bit constant will do: the
 * values then differ per vcpu and per line, and are neither small counts
 * (a seq writer's) nor zero (memory never written, or a page lost).
 */
#define READ_KEY 0x6a09e667f3bcc909ull

/* The summary's bookkeeping; only vcpu 0 touches it. */
static SCRATCH uint64_t report_last_tsc;
static SCRATCH uint64_t report_prev[STRESS_MAX_CPUS];

/* Tenths of MiB/s for pages in us microseconds, rounded. */
static uint64_t rate10(uint64_t pages, uint64_t us)
{
	/* pages * 4096 / 2^20 / (us / 1e6) * 10 = pages * 78125 / (2 * us) */
	return us ? (pages * 78125 + us) / (2 * us) : 0;
}

/* The stall clock of the vCPU that prints the summary (note_gap's state). */
struct stall_clock {
	volatile struct stress_cpu_stats *st;
	uint64_t last;
};

/* What report_tick() hands back: two registers (RAX:RDX), no memory. */
struct report_next {
	uint64_t due;  /* when the next summary is due */
	uint64_t last; /* the stall clock after the summary */
};

static void note_gap_now(void *ctx);

static void __attribute__((noinline, cold)) report(uint64_t now, struct stall_clock *clock)
{
	uint64_t us = (now - report_last_tsc) * 1000 / k.tsc_khz;
	void (*tick)(void *) = clock ? note_gap_now : NULL;
	unsigned int cpu;

	for (cpu = 0; cpu < k.ncpus; cpu++) {
		volatile struct stress_cpu_stats *st = &k.stats->cpu[cpu];
		uint64_t passes = st->passes, errors = st->errors, cur, r;

		switch (k.plan[cpu].role) {
		case STRESS_ROLE_WRITER:
			cur = st->pages_written;
			r = rate10(cur - report_prev[cpu], us);
			kprintf_ticked(
			    tick, clock,
			    "stress: cpu%u pages=%lu MiB/s=%lu.%lu passes=%lu errors=%lu\n", cpu,
			    cur, r / 10, r % 10, passes, errors);
			break;
		case STRESS_ROLE_READER:
			cur = st->bytes_read;
			r = rate10((cur - report_prev[cpu]) / PAGE_SIZE, us);
			kprintf_ticked(tick, clock,
				       "stress: cpu%u read_MiB/s=%lu.%lu passes=%lu errors=%lu\n",
				       cpu, r / 10, r % 10, passes, errors);
			break;
		default:
			continue;
		}
		report_prev[cpu] = cur;
	}
	report_last_tsc = now;
}

/*
 * Print the summary; returns when the next one is due and the stall clock
 * (st NULL: no clock).  The clock is copied in and out, so that the loops'
 * own copy never needs an address and stays in a register.
 */
static struct report_next __attribute__((noinline, cold))
report_tick(uint64_t due, uint64_t now, volatile struct stress_cpu_stats *st, uint64_t last)
{
	uint64_t interval = (uint64_t)k.cfg.report_ms * k.tsc_khz;
	struct stall_clock clock = {st, last};
	struct report_next next;

	report(now, st ? &clock : NULL);
	due += interval;
	if ((int64_t)(due - now) <= 0)
		due = now + interval;
	next.due = due;
	next.last = clock.last;
	return next;
}

static void __attribute__((noinline, cold))
data_error(volatile struct stress_cpu_stats *st, volatile uint64_t *page, uint64_t expect,
	   uint64_t found)
{
	if (st->errors++ == 0) {
		outl(STRESS_PORT_REPORT, STRESS_REPORT_DATA_ERROR);
		kprintf("stress: cpu%lu data error at 0x%lx: expected %lu, found %lu\n",
			(uint64_t)(st - k.stats->cpu), (uint64_t)(uintptr_t)page, expect, found);
	}
}

static uint64_t first_report_due(unsigned int cpu, uint64_t now)
{
	if (cpu != 0 || k.cfg.report_ms == 0)
		return UINT64_MAX;
	report_last_tsc = now;
	return now + (uint64_t)k.cfg.report_ms * k.tsc_khz;
}

/* TSC ticks per page at the configured rate, 0 when unpaced. */
static uint64_t tsc_per_page(void)
{
	uint64_t pages_per_s = (uint64_t)k.cfg.rate_mib * (MIB / PAGE_SIZE);

	return pages_per_s ? k.tsc_khz * 1000 / pages_per_s : 0;
}

/*
 * Wait until the next page is due (inlined in the loops: registers only).
 * Returns the TSC read last.
 */
static inline __attribute__((always_inline)) uint64_t pace(uint64_t *due, uint64_t tpp,
							   uint64_t backlog)
{
	uint64_t now = rdtsc();

	if (tpp) {
		while ((int64_t)(*due - now) > 0) {
			cpu_relax();
			now = rdtsc();
		}
		if (now - *due > backlog)
			*due = now - backlog;
		*due += tpp;
	}
	return now;
}

/*
 * Raise max_gap_tsc if the time since the last unit of work (*last) is the
 * longest yet, then make now the last (inlined: a load, a compare and,
 * rarely, a store to the stats entry).  The monitor resets max_gap_tsc to 0
 * to start a new measurement, so it is read back every time, never cached.
 */
static inline __attribute__((always_inline)) void note_gap(volatile struct stress_cpu_stats *st,
							   uint64_t *last, uint64_t now)
{
	uint64_t gap = now - *last;

	if (gap > st->max_gap_tsc)
		st->max_gap_tsc = gap;
	*last = now;
}

/* While the summary prints, each character is a unit of work (report_if_due). */
static void __attribute__((cold)) note_gap_now(void *ctx)
{
	struct stall_clock *c = ctx;

	note_gap(c->st, &c->last, rdtsc());
}

/*
 * In a loop: print the summary if it is due (vcpu 0).  The summary is the
 * guest's own doing, not a stall imposed on it: its port I/O (two exits per
 * character) takes a few ms on kvm-pvm, which would otherwise be vcpu 0's
 * longest gap once per report.  So while it prints, every character sent
 * counts as a unit of work: the clock never stops, and a pause that lands
 * in the middle of the summary is measured like any other.  (It used to be
 * restarted after the summary, which hid such a pause: 13 of 20 stop/cont
 * cycles with report=10, about 1 in 15 with the default.)
 */
static inline __attribute__((always_inline)) void
report_if_due(volatile struct stress_cpu_stats *st, uint64_t *report_due, uint64_t now,
	      uint64_t *last)
{
	if (now >= *report_due) {
		struct report_next next = report_tick(*report_due, now, st, *last);

		*report_due = next.due;
		*last = next.last;
	}
}

/*
 * The loops below keep only loop state in registers and otherwise use
 * their stats entry as memory (it is not dirty-tracked): the working set's
 * base and size and the counters are read back from it rather than held in
 * registers, so that the compiler never needs to spill to the stack.
 */

/*
 * seq: pass p stores p + 1 in the first word of every page, in order, after
 * checking that the page still holds p (pass 0 checks nothing: the memory
 * may not be zero).
 */
static void __attribute__((noreturn))
run_writer_seq(volatile struct stress_cpu_stats *st, uint64_t report_due)
{
	const uint64_t tpp = tsc_per_page(), backlog = PACE_MAX_BACKLOG_MS * k.tsc_khz;
	uint64_t pass = 0, due = rdtsc(), last = due;

	for (;;) {
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)st->wss_base;
		volatile uint64_t *const end = p + st->wss_size / sizeof(uint64_t);

		for (; p != end; p += PAGE_WORDS) {
			uint64_t now = pace(&due, tpp, backlog);

			note_gap(st, &last, now);
			if (pass) {
				uint64_t found = *p;

				if (found != pass)
					data_error(st, p, pass, found);
			}
			*p = pass + 1;
			st->pages_written++;
			st->tsc = now;
			report_if_due(st, &report_due, now, &last);
		}
		st->passes = ++pass;
	}
}

/*
 * random: npages writes per pass, each to a page drawn by xorshift64; the
 * page's first word gets the running write count.
 */
static void __attribute__((noreturn))
run_writer_random(volatile struct stress_cpu_stats *st, uint64_t report_due, uint64_t seed)
{
	const uint64_t tpp = tsc_per_page(), backlog = PACE_MAX_BACKLOG_MS * k.tsc_khz;
	const uint64_t npages = st->wss_size / PAGE_SIZE;
	uint64_t due = rdtsc(), last = due, x = seed;

	for (;;) {
		uint64_t left;

		for (left = npages; left; left--) {
			uint64_t now = pace(&due, tpp, backlog);
			volatile uint64_t *page;

			note_gap(st, &last, now);

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* Scale the top 32 bits into [0, npages): no division. */
			page = (volatile uint64_t *)(uintptr_t)(st->wss_base +
								(((x >> 32) * npages) >> 32) *
								    PAGE_SIZE);
			*page = st->pages_written + 1;
			st->pages_written++;
			st->tsc = now;
			report_if_due(st, &report_due, now, &last);
		}
		st->passes++;
	}
}

/*
 * A reader's one-time fill: every word it will load gets its pattern value
 * (READ_KEY).  These are page writes like any other: they count in
 * pages_written, page by page, and dirty the working set once; each is a
 * unit of work for the stall clock (*last), so a pause during the fill is
 * seen too.
 */
static void reader_fill(volatile struct stress_cpu_stats *st, uint64_t key, uint64_t *last)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)st->wss_base;
	volatile uint64_t *const end = p + st->wss_size / sizeof(uint64_t);
	uint64_t v = key;

	for (; p != end; p += PAGE_WORDS) {
		uint64_t i;

		for (i = 0; i < PAGE_WORDS; i += READ_STRIDE_WORDS)
			p[i] = v++;
		st->pages_written++;
		note_gap(st, last, rdtsc());
	}
}

/*
 * A reader found word *w, expected to hold expect, holding found: count and
 * report it like a writer's error, then restore the whole page's pattern, so
 * that a damaged page counts once (as with seq writers) rather than once
 * per line and per pass.  The repair dirties the page; errors are rare.
 */
static void __attribute__((noinline, cold))
read_error(volatile struct stress_cpu_stats *st, const volatile uint64_t *w, uint64_t expect,
	   uint64_t found)
{
	uint64_t off = (uintptr_t)w & (PAGE_SIZE - 1);
	volatile uint64_t *page = (volatile uint64_t *)((uintptr_t)w - off);
	uint64_t v = expect - off / (READ_STRIDE_WORDS * sizeof(uint64_t)), i;

	data_error(st, (volatile uint64_t *)(uintptr_t)w, expect, found);
	for (i = 0; i < PAGE_WORDS; i += READ_STRIDE_WORDS)
		page[i] = v++;
	st->pages_written++;
}

/*
 * Readers fill their working set once, then load it over and over (one
 * word per line) and check every word against the pattern; they count
 * bytes read a page at a time.
 */
static void __attribute__((noreturn))
run_reader(volatile struct stress_cpu_stats *st, uint64_t report_due, uint64_t key)
{
	uint64_t last = rdtsc();

	reader_fill(st, key, &last);
	for (;;) {
		const volatile uint64_t *p = (const volatile uint64_t *)(uintptr_t)st->wss_base;
		const volatile uint64_t *const end = p + st->wss_size / sizeof(uint64_t);
		uint64_t expect = key;

		for (; p != end; p += PAGE_WORDS) {
			uint64_t now, i;

			for (i = 0; i < PAGE_WORDS; i += READ_STRIDE_WORDS, expect++) {
				uint64_t found = p[i];

				if (found != expect)
					read_error(st, &p[i], expect, found);
			}
			now = rdtsc();
			note_gap(st, &last, now);
			st->bytes_read += PAGE_SIZE;
			st->tsc = now;
			report_if_due(st, &report_due, now, &last);
		}
		st->passes++;
	}
}

/* vcpu 0 without work still prints the summary. */
static void __attribute__((noreturn)) run_reporter(void)
{
	uint64_t report_due = first_report_due(0, rdtsc());

	for (;;) {
		uint64_t now = rdtsc();

		if (now >= report_due)
			report_due = report_tick(report_due, now, NULL, 0).due;
		cpu_relax();
	}
}

static const char *role_name(uint32_t role)
{
	switch (role) {
	case STRESS_ROLE_WRITER:
		return "writer";
	case STRESS_ROLE_READER:
		return "reader";
	default:
		return "idle";
	}
}

/* Announce, then work forever. */
static void __attribute__((noreturn)) worker_run(unsigned int cpu)
{
	const struct worker_plan *w = &k.plan[cpu];
	volatile struct stress_cpu_stats *st = &k.stats->cpu[cpu];
	uint64_t report_due;

	kprintf("stress: cpu%u online role=%s wss=0x%lx+0x%lx\n", cpu, role_name(w->role), w->base,
		w->size);
	outl(STRESS_PORT_REPORT, STRESS_REPORT_CPU_ONLINE);
	report_due = first_report_due(cpu, rdtsc());
	if (w->role == STRESS_ROLE_READER)
		run_reader(st, report_due, READ_KEY * (cpu + 1));
	if (k.cfg.pattern == STRESS_PATTERN_RANDOM)
		run_writer_random(st, report_due, RANDOM_SEED * (cpu + 1));
	run_writer_seq(st, report_due);
}

void stress_worker(unsigned int cpu)
{
	const struct worker_plan *w = &k.plan[cpu];
	volatile struct stress_cpu_stats *st = &k.stats->cpu[cpu];

	st->role = w->role;
	st->wss_base = w->base;
	st->wss_size = w->size;
	st->tsc = rdtsc();
	if (w->role == STRESS_ROLE_NONE || w->size == 0) {
		st->state = STRESS_CPU_IDLE;
		kprintf("stress: cpu%u idle\n", cpu);
		/* vcpu 0 still prints the summary. */
		if (cpu == 0 && k.cfg.report_ms)
			run_reporter();
		halt_forever();
	}
	st->state = STRESS_CPU_RUNNING;
	worker_run(cpu);
}

/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_harness: what the C micro-benchmarks (bench/mig_stream.c,
 * bench/mig_tls.c) share around their measurements: the clock, medians
 * over runs, the VM lock, a loopback TCP pair, guest-like data and the
 * --runs option.  No measurement of its own.
 *
 * now(), median() and cmp_double() keep the names the benchmarks always
 * called them by (their measuring lines are left as they were).
 */
#ifndef VMM_BENCH_HARNESS_H
#define VMM_BENCH_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

/* The most runs a cell takes (--runs): the benchmarks keep a cell's runs in arrays of 16. */
#define BENCH_RUNS_MAX 15
/* Runs per cell without --runs, or with a value out of 1..BENCH_RUNS_MAX. */
#define BENCH_RUNS_DEFAULT 3

/* Seconds on CLOCK_MONOTONIC. */
double now(void);
/* For qsort(): doubles, ascending. */
int cmp_double(const void *a, const void *b);
/* The median of v[0..n), n >= 1 (sorts v). */
double median(double *v, int n);

/* --runs' value: 1..BENCH_RUNS_MAX, else BENCH_RUNS_DEFAULT. */
int bench_runs(const char *arg);

/*
 * Take /tmp/vmm-vm.lock (flock, waiting for it) for the rest of the process:
 * a benchmark keeps both cores busy and would distort a VM's rates (and a VM
 * would distort it).  -1 with a message on stderr if it cannot be taken.
 */
int bench_lock(void);

/*
 * A connected loopback TCP pair: *src the connecting end (TCP_NODELAY if
 * nodelay), *dst the accepted end.  Exits with a message on failure.
 */
void bench_tcp_pair(int *src, int *dst, bool nodelay);

/* n bytes of xorshift data from seed (every 8 bytes non-zero: a guest's data, incompressible). */
void bench_fill(uint8_t *p, uint64_t n, uint64_t seed);

#endif

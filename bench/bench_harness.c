// SPDX-License-Identifier: MIT
/* bench/bench_harness: see bench_harness.h. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_harness.h"

#define BENCH_LOCK_PATH "/tmp/vmm-vm.lock"

double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_runs(const char *arg)
{
	int runs = atoi(arg);

	return runs >= 1 && runs <= BENCH_RUNS_MAX ? runs : BENCH_RUNS_DEFAULT;
}

int bench_lock(void)
{
	int fd = open(BENCH_LOCK_PATH, O_RDWR | O_CREAT, 0666);

	if (fd < 0 || flock(fd, LOCK_EX)) {
		perror(BENCH_LOCK_PATH);
		return -1;
	}
	return fd;
}

void bench_tcp_pair(int *src, int *dst, bool nodelay)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &al)) {
		perror("loopback listen");
		exit(1);
	}
	*src = socket(AF_INET, SOCK_STREAM, 0);
	if (*src < 0 || connect(*src, (struct sockaddr *)&a, sizeof(a))) {
		perror("loopback connect");
		exit(1);
	}
	*dst = accept(l, NULL, NULL);
	if (*dst < 0) {
		perror("loopback accept");
		exit(1);
	}
	close(l);
	if (nodelay)
		setsockopt(*src, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void bench_fill(uint8_t *p, uint64_t n, uint64_t seed)
{
	uint64_t x = seed | 1, i;

	for (i = 0; i + 8 <= n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
}

// SPDX-License-Identifier: MIT
/* ram_populate: fault in guest RAM ahead of an incoming migration (ram_populate.h). */
#include "vmm/ram_populate.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/*
 * Bytes per madvise call: about 0.5 ms of work (2.2 GB/s here).  The call
 * holds the address space's lock for reading throughout: a thread that
 * needs the lock for writing (mmap, a large malloc, a new thread's stack)
 * waits for that step.  Small steps keep that short.
 */
#define RAM_POPULATE_STEP (1ull << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Once the stream flows (ram_populate_pace()), after each step the helper
 * sleeps this many times as long as the step took: it uses at most half
 * of one core.  Before, it runs flat out: the destination waits for its
 * source, and whatever the helper faults in then is off the migration's
 * clock (on a 1 GiB guest started a second before `migrate`, the fill
 * case's 13% of both cores during the migration, docs/bench-migration.md).
 * Not SCHED_IDLE (the first version): a SCHED_IDLE thread on a host whose
 * cores are busy (here the source's vCPUs share them) gets a core seconds
 * late, and a process dies only when every one of its threads has run: a
 * SIGKILLed destination took 1.5 to 2 s to go (20 ms without the helper;
 * 3 tries each, 2 busy loops on the 2 cores), long enough to fail
 * int_migrate_cancel in every build, and its halt at the stop waited as
 * long.  At normal priority the
 * thread runs at once when asked to stop or killed, and the duty cycle
 * bounds what it takes from a source sharing the host (at full speed it
 * made fill 1.8 s into 3.0 s).
 */
#define RAM_POPULATE_IDLE_RATIO 1

static void *populate_thread(void *arg)
{
	struct ram_populate *rp = arg;
	uint64_t t0 = now_ns(), off;

	for (off = 0; off < rp->size && !atomic_load(&rp->stop); off += RAM_POPULATE_STEP) {
		uint64_t n =
		    rp->size - off < RAM_POPULATE_STEP ? rp->size - off : RAM_POPULATE_STEP;
		uint64_t ts = now_ns(), idle;
		struct timespec d;

		/* EINVAL: an older kernel; ENOMEM/EFAULT: no memory now. Either way, stop helping. */
		if (madvise(rp->mem + off, n, MADV_POPULATE_WRITE))
			break;
		atomic_store(&rp->done, off + n);
		if (!atomic_load(&rp->paced))
			continue;
		idle = (now_ns() - ts) * RAM_POPULATE_IDLE_RATIO;
		d.tv_sec = (time_t)(idle / 1000000000ull);
		d.tv_nsec = (long)(idle % 1000000000ull);
		nanosleep(&d, NULL);
	}
	atomic_store(&rp->took_ns, now_ns() - t0);
	return NULL;
}

int ram_populate_start(struct ram_populate *rp, void *mem, uint64_t size)
{
	int r;

	memset(rp, 0, sizeof(*rp));
	rp->mem = mem;
	rp->size = size;
	atomic_init(&rp->stop, false);
	atomic_init(&rp->paced, false);
	atomic_init(&rp->done, 0);
	atomic_init(&rp->took_ns, 0);
	r = pthread_create(&rp->thread, NULL, populate_thread, rp);
	if (r)
		return -r;
	pthread_setname_np(rp->thread, "mig-populate");
	rp->started = true;
	return 0;
}

void ram_populate_pace(struct ram_populate *rp)
{
	if (rp->started)
		atomic_store(&rp->paced, true);
}

void ram_populate_halt(struct ram_populate *rp)
{
	if (rp->started)
		atomic_store(&rp->stop, true);
}

void ram_populate_stop(struct ram_populate *rp)
{
	if (!rp->started)
		return;
	atomic_store(&rp->stop, true);
	pthread_join(rp->thread, NULL);
	rp->started = false;
}

/* SPDX-License-Identifier: MIT */
/*
 * ram_populate: fault in a destination's guest RAM on a helper thread
 * (mig-populate) while it waits for the incoming stream, so that the
 * decoder writes into pages that exist.  On our hosts the first write to a
 * fresh 4 KiB page costs about 1 us: the decoder falls from 3.5 GB/s into
 * populated memory to about 0.9 into fresh pages (docs/migration.md,
 * "Performance").
 *
 * MADV_POPULATE_WRITE only faults pages in: it never changes a byte, so
 * the decoder may write the same memory meanwhile (the helper goes on
 * while the stream arrives, from low addresses up, as the first pass
 * does).  Until the stream starts it runs flat out (the destination has
 * nothing else to do); from ram_populate_pace() on it uses at most half of
 * one core (RAM_POPULATE_IDLE_RATIO), leaving the rest to the decoder.
 * Kernels without it (before 5.14): the helper does nothing.
 */
#ifndef VMM_RAM_POPULATE_H
#define VMM_RAM_POPULATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct ram_populate {
	uint8_t *mem;
	uint64_t size;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	_Atomic bool paced;	  /* the stream flows: share the core */
	_Atomic uint64_t done;	  /* bytes populated so far */
	_Atomic uint64_t took_ns; /* how long it took, once finished */
};

/* Start the helper over [mem, mem + size).  0 or -errno (nothing started). */
int ram_populate_start(struct ram_populate *rp, void *mem, uint64_t size);
/* The stream has started: from the next step on, pace the helper. */
void ram_populate_pace(struct ram_populate *rp);
/* Ask it to stop after its current step, without waiting; safe if never started. */
void ram_populate_halt(struct ram_populate *rp);
/* Stop it (at its next step) and join; safe if never started. */
void ram_populate_stop(struct ram_populate *rp);

#endif /* VMM_RAM_POPULATE_H */

/* SPDX-License-Identifier: MIT */
/*
 * mig_dst: the destination side of a live migration (vmm --incoming), on
 * its own thread.  It takes one connection, feeds the stream to the
 * decoder (mig_stream.h: every byte checked), which writes guest RAM and
 * hands the state sections over; once the digest of the RAM received
 * equals the source's, the owner loads the state, the thread acknowledges
 * and reports success.  Any error: one ERROR reply to the source (when the
 * connection still works), one message naming what and where, failure.
 *
 * The thread knows no KVM: it reaches the VM through struct mig_dst_ops
 * (src/vmm/vm_migrate_dst.c).
 */
#ifndef MIG_DST_H
#define MIG_DST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "migrate/mig_conn.h"
#include "migrate/mig_src.h"
#include "migrate/mig_stream.h"

/* Where a test may make the destination fail (--x-incoming-fault STAGE:ACTION). */
enum mig_fault_stage {
	MIG_FAULT_NONE,
	MIG_FAULT_HEADER, /* connected, before the stream header is read */
	MIG_FAULT_CONFIG, /* the configuration record arrived */
	MIG_FAULT_RAM1,	  /* the first pass began */
	MIG_FAULT_RAM2,	  /* a later round began */
	MIG_FAULT_DEVICE, /* the final round (the source's guest is stopped) began */
	MIG_FAULT_STATE,  /* the first state section arrived */
	MIG_FAULT_END,	  /* the end record arrived (before the digest check) */
};

enum mig_fault_action {
	MIG_FAULT_EXIT,	 /* die at once, as if killed (SIGKILL) */
	MIG_FAULT_STALL, /* stop reading, for ever */
};

struct mig_fault {
	enum mig_fault_stage stage;
	enum mig_fault_action action;
};

/* Parse "STAGE:ACTION": 0, or -EINVAL with a sentence. */
int mig_fault_parse(const char *s, struct mig_fault *f, char *err, size_t errlen);

/* How the incoming thread reaches the VM.  Every hook runs on that thread. */
struct mig_dst_ops {
	/*
	 * The stream's configuration, checked in itself: compare it with the
	 * local one and give guest RAM of its size (all zeros) and the table of
	 * state sections.  0, or -1 with a sentence.
	 */
	int (*config)(void *o, const struct mig_config *c, uint8_t **ram,
		      struct mig_section_spec *specs, unsigned *nspecs, char *msg, size_t len);
	/* One checked section's bytes (kept until load). */
	int (*section)(void *o, const struct mig_section *s, char *msg, size_t len);
	/* The digest matched: load every section kept.  0, or -1 with a sentence. */
	int (*load)(void *o, char *msg, size_t len);
	/* The status changed (MIGRATION event on the destination). */
	void (*status)(void *o, enum mig_status st);
};

struct mig_dst {
	const struct mig_dst_ops *ops;
	void *opaque;
	uint64_t max_ram;
	struct mig_fault fault;
	int lfd; /* the listener, from mig_dst_listen() */
	uint16_t port;
	struct mig_conn conn;
	/* Set before mig_dst_start(): the PSK channel's credentials; NULL: plain TCP. */
	const struct mig_tls_creds *tls;
	pthread_t thread;
	bool thread_started;
	_Atomic bool cancel;
	_Atomic unsigned io_ms; /* x-io-timeout: no byte for this long, the source is gone */

	pthread_mutex_t lock; /* what follows */
	struct mig_info info; /* status and what arrived */
	bool done;	      /* the thread has finished: status completed or failed */
	char error[512];      /* the one message of a failure */
	uint64_t t_start_ns;
	uint64_t acked_ns; /* CLOCK_MONOTONIC when the ACK left; 0 before */
};

void mig_dst_init(struct mig_dst *d, const struct mig_dst_ops *ops, void *opaque, uint64_t max_ram);
/* Listen on uri (tcp:HOST:PORT); errors at once, before any thread. */
int mig_dst_listen(struct mig_dst *d, const char *uri, char *err, size_t errlen);
/* x-io-timeout (ms, checked by mig_params_check()): at once, even mid-stream. */
void mig_dst_set_io_timeout(struct mig_dst *d, unsigned ms);
/* Start the incoming thread (after mig_dst_listen()). */
int mig_dst_start(struct mig_dst *d, char *err, size_t errlen);
/* Finished?  *ok: it succeeded (the guest may run); else mig_dst_error(). */
bool mig_dst_done(struct mig_dst *d, bool *ok);
/* When the ACK left (CLOCK_MONOTONIC ns), 0 if it has not. */
uint64_t mig_dst_acked_ns(struct mig_dst *d);
const char *mig_dst_error(struct mig_dst *d);
void mig_dst_info(struct mig_dst *d, struct mig_info *out);
/* Stop the thread (whatever it is doing) and close everything. */
void mig_dst_destroy(struct mig_dst *d);

#endif /* MIG_DST_H */

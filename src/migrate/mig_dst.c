// SPDX-License-Identifier: MIT
/* The destination's incoming thread: see mig_dst.h and docs/migration.md. */
#include "migrate/mig_dst.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "migrate/mig_phases.h"

/* Our acknowledgement or error must leave within this. */
#define MIG_DST_REPLY_MS 5000u
/* After an error reply, how long the source may take to stop sending (it looks after every batch). */
#define MIG_DST_LINGER_MS 2000u
/* Framing bytes read at a time (page data goes straight into guest RAM). */
#define MIG_DST_STAGING (64u * 1024u)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *const stage_names[] = {
    [MIG_FAULT_NONE] = "",	 [MIG_FAULT_HEADER] = "header", [MIG_FAULT_CONFIG] = "config",
    [MIG_FAULT_RAM1] = "ram1",	 [MIG_FAULT_RAM2] = "ram2",	[MIG_FAULT_DEVICE] = "device",
    [MIG_FAULT_STATE] = "state", [MIG_FAULT_END] = "end",
};

int mig_fault_parse(const char *s, struct mig_fault *f, char *err, size_t errlen)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : 0;

	memset(f, 0, sizeof(*f));
	for (unsigned i = 1; colon && i < sizeof(stage_names) / sizeof(stage_names[0]); i++)
		if (strlen(stage_names[i]) == n && !strncmp(s, stage_names[i], n))
			f->stage = (enum mig_fault_stage)i;
	if (f->stage == MIG_FAULT_NONE ||
	    (strcmp(colon + 1, "exit") && strcmp(colon + 1, "stall"))) {
		snprintf(err, errlen,
			 "--x-incoming-fault: \"%s\" is not STAGE:ACTION (STAGE header, config, "
			 "ram1, ram2, device, state or end; ACTION exit or stall)",
			 s);
		f->stage = MIG_FAULT_NONE;
		return -EINVAL;
	}
	f->action = strcmp(colon + 1, "exit") ? MIG_FAULT_STALL : MIG_FAULT_EXIT;
	return 0;
}

/* The test knob: at its stage, die as if killed, or stop reading until destroyed. */
static void fault_at(struct mig_dst *d, enum mig_fault_stage st)
{
	if (d->fault.stage != st)
		return;
	fprintf(stderr, "vmm: --x-incoming-fault: %s at stage %s\n",
		d->fault.action == MIG_FAULT_EXIT ? "dying" : "stalling", stage_names[st]);
	if (d->fault.action == MIG_FAULT_EXIT)
		kill(getpid(), SIGKILL);
	while (!atomic_load(&d->cancel)) {
		struct timespec ts = {.tv_nsec = 50000000};

		nanosleep(&ts, NULL);
	}
}

static void set_status(struct mig_dst *d, enum mig_status st)
{
	pthread_mutex_lock(&d->lock);
	if (d->info.status != st) {
		d->info.status = st;
		if (d->ops->status)
			d->ops->status(d->opaque, st);
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- the decoder's hooks ---- */

/* The destination's side of the stop (VMM_MIG_PHASES=1; docs/migration.md, "The stop"). */
enum {
	DPH_FINAL,
	DPH_STATE,
	DPH_END,
	DPH_CHECKED,
	DPH_LOADED,
	DPH_ACKED,
	DPH_N
};

struct dst_run {
	struct mig_dst *d;
	uint64_t t[DPH_N]; /* when each step began; 0 = not reached */
	struct mig_section_spec specs[MIG_MAX_SECTION_KIND];
	uint8_t digest[MIG_DIGEST_LEN];
	bool first_section;
};

static int hook_config(void *o, struct mig_dec *dec, const struct mig_config *c, char *msg,
		       size_t len)
{
	struct dst_run *r = o;
	unsigned n = 0;
	uint8_t *ram = NULL;

	fault_at(r->d, MIG_FAULT_CONFIG);
	if (r->d->ops->config(r->d->opaque, c, &ram, r->specs, &n, msg, len))
		return -1;
	if (mig_dec_set_ram(dec, ram, c->ram_size) || mig_dec_set_sections(dec, r->specs, n)) {
		snprintf(msg, len, "cannot take guest RAM or the section table");
		return -1;
	}
	pthread_mutex_lock(&r->d->lock);
	r->d->info.total = c->ram_size;
	pthread_mutex_unlock(&r->d->lock);
	return 0;
}

static int hook_round_begin(void *o, const struct mig_round *rd, char *msg, size_t len)
{
	struct dst_run *r = o;

	(void)msg;
	(void)len;
	fault_at(r->d, rd->final ? MIG_FAULT_DEVICE : rd->round ? MIG_FAULT_RAM2 : MIG_FAULT_RAM1);
	if (rd->final)
		r->t[DPH_FINAL] = now_ns();
	pthread_mutex_lock(&r->d->lock);
	r->d->info.dirty_sync_count = rd->round + 1;
	pthread_mutex_unlock(&r->d->lock);
	return 0;
}

static int hook_section(void *o, const struct mig_section *s, char *msg, size_t len)
{
	struct dst_run *r = o;

	if (!r->first_section) {
		r->first_section = true;
		r->t[DPH_STATE] = now_ns();
		fault_at(r->d, MIG_FAULT_STATE);
	}
	return r->d->ops->section(r->d->opaque, s, msg, len);
}

static int hook_end(void *o, const struct mig_end *e, char *msg, size_t len)
{
	struct dst_run *r = o;

	(void)msg;
	(void)len;
	fault_at(r->d, MIG_FAULT_END);
	r->t[DPH_END] = now_ns();
	memcpy(r->digest, e->digest, MIG_DIGEST_LEN);
	return 0;
}

/*
 * With VMM_MIG_PHASES=1 the destination prints where its part of the stop
 * went, as the source does: the final round's records, the state sections
 * (and halting the populate helper), the END check (the digest), loading
 * the state into KVM, the ACK out.  A measuring aid, read once.
 */
static void print_phases(const struct dst_run *r)
{
	static const char *const name[DPH_N - 1] = {"final round", "state", "end check", "load",
						    "ack"};
	char tail[60];

	if (!r->t[DPH_FINAL])
		return;
	snprintf(tail, sizeof(tail), "total %" PRIu64 " us",
		 (r->t[DPH_ACKED] - r->t[DPH_FINAL]) / 1000u);
	mig_phases_print("incoming downtime phases", name, r->t, DPH_N - 1, tail);
}

static const struct mig_dec_ops dec_ops = {
    .config = hook_config,
    .round_begin = hook_round_begin,
    .section = hook_section,
    .end = hook_end,
};

/* ---- the thread ---- */

static void failed(struct mig_dst *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failed(struct mig_dst *d, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&d->lock);
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
	snprintf(d->info.error_desc, sizeof(d->info.error_desc), "%s", d->error);
	pthread_mutex_unlock(&d->lock);
}

/*
 * Tell the source what went wrong, if it still listens; best effort.  Then
 * read and drop what it still sends, until it closes (it stops at our
 * reply) or MIG_DST_LINGER_MS: closing with unread bytes would reset the
 * connection and could discard the reply before the source reads it.
 */
static void reply_error(struct mig_dst *d, const struct mig_error *e)
{
	uint8_t buf[MIG_REPLY_MAX], sink[4096];
	size_t n = mig_reply_error(buf, e);
	uint64_t end = now_ns() + MIG_DST_LINGER_MS * 1000000ull;

	if (mig_conn_write_all(&d->conn, buf, n, MIG_DST_REPLY_MS))
		return;
	while (now_ns() < end && mig_conn_read(&d->conn, sink, sizeof(sink), MIG_DST_LINGER_MS) > 0)
		;
}

static bool receive(struct mig_dst *d, struct mig_dec *dec, uint8_t *staging)
{
	while (!mig_dec_done(dec)) {
		size_t room;
		void *dst = mig_dec_direct(dec, &room);
		/* Read at every wait: x-io-timeout may change while we wait. */
		unsigned io_ms = atomic_load(&d->io_ms);
		ssize_t n;
		int rc;

		if (dst)
			n = mig_conn_read(&d->conn, dst, room, io_ms);
		else
			n = mig_conn_read(&d->conn, staging, MIG_DST_STAGING, io_ms);
		if (n == -ETIMEDOUT) {
			failed(d,
			       "incoming migration failed: the source sent nothing for %u ms "
			       "(x-io-timeout) after %" PRIu64 " bytes of the stream",
			       io_ms, mig_dec_stats(dec)->bytes);
			return false;
		}
		if (n < 0) {
			failed(d,
			       "incoming migration failed: %s after %" PRIu64
			       " bytes of the stream",
			       n == -ECANCELED ? "cancelled" : mig_conn_strerror(&d->conn, (int)n),
			       mig_dec_stats(dec)->bytes);
			return false;
		}
		if (n == 0)
			rc = mig_dec_finish(dec);
		else if (dst)
			rc = mig_dec_commit(dec, (size_t)n);
		else
			rc = mig_dec_feed(dec, staging, (size_t)n);
		if (rc) {
			const struct mig_error *e = mig_dec_error(dec);

			failed(d, "incoming migration failed: %s: %s", mig_err_name(e->code),
			       e->msg);
			if (n > 0)
				reply_error(d, e);
			return false;
		}
		pthread_mutex_lock(&d->lock);
		d->info.transferred = d->conn.bytes_in;
		d->info.normal = mig_dec_stats(dec)->data_pages;
		d->info.duplicate = mig_dec_stats(dec)->zero_pages;
		pthread_mutex_unlock(&d->lock);
	}
	return true;
}

static void *dst_thread(void *arg)
{
	struct mig_dst *d = arg;
	struct dst_run run = {.d = d};
	struct mig_dec_params p = {
	    .ops = &dec_ops, .opaque = &run, .max_ram = d->max_ram, .ram_zeroed = true};
	struct mig_dec *dec = NULL;
	uint8_t *staging = NULL;
	char err[256];
	bool ok = false;
	int rc;

	rc = mig_conn_accept(&d->conn, d->lfd, 0, err, sizeof(err));
	close(d->lfd);
	d->lfd = -1;
	/* The PSK channel: the source proves the key before one byte of the stream is read. */
	if (rc == 0 && d->tls)
		rc = mig_conn_start_tls(&d->conn, d->tls, MIG_CONN_HANDSHAKE_MS, err, sizeof(err));
	if (rc) {
		failed(d, "incoming migration failed: %s", err);
		goto out;
	}
	set_status(d, MIG_STATUS_ACTIVE);
	fault_at(d, MIG_FAULT_HEADER);
	dec = mig_dec_new(&p);
	staging = malloc(MIG_DST_STAGING);
	if (!dec || !staging) {
		failed(d, "incoming migration failed: out of memory");
		goto out;
	}
	if (!receive(d, dec, staging))
		goto out;
	run.t[DPH_CHECKED] = now_ns();
	/* The digest matched: load the vCPU and device state, then say yes. */
	if (d->ops->load(d->opaque, err, sizeof(err))) {
		struct mig_error e = {.code = MIG_E_LOAD, .offset = mig_dec_stats(dec)->bytes};

		snprintf(e.msg, sizeof(e.msg), "%s", err);
		failed(d, "incoming migration failed: cannot load the state: %s", err);
		reply_error(d, &e);
		goto out;
	}
	run.t[DPH_LOADED] = now_ns();
	{
		uint8_t buf[MIG_REPLY_MAX];
		size_t n = mig_reply_ack(buf, run.digest);

		rc = mig_conn_write_all(&d->conn, buf, n, MIG_DST_REPLY_MS);
	}
	if (rc) {
		/* The source cannot know we have the guest: it keeps it. */
		failed(d, "incoming migration failed: cannot acknowledge to the source: %s",
		       strerror(-rc));
		goto out;
	}
	run.t[DPH_ACKED] = now_ns();
	pthread_mutex_lock(&d->lock);
	d->acked_ns = run.t[DPH_ACKED];
	pthread_mutex_unlock(&d->lock);
	print_phases(&run);
	ok = true;
out:
	mig_conn_close(&d->conn);
	mig_dec_free(dec);
	free(staging);
	pthread_mutex_lock(&d->lock);
	d->info.total_time_ms = (now_ns() - d->t_start_ns) / 1000000u;
	d->done = true;
	d->info.status = ok ? MIG_STATUS_COMPLETED : MIG_STATUS_FAILED;
	if (d->ops->status)
		d->ops->status(d->opaque, d->info.status);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

void mig_dst_init(struct mig_dst *d, const struct mig_dst_ops *ops, void *opaque, uint64_t max_ram)
{
	memset(d, 0, sizeof(*d));
	d->ops = ops;
	d->opaque = opaque;
	d->max_ram = max_ram;
	d->lfd = -1;
	mig_conn_init(&d->conn);
	atomic_init(&d->cancel, false);
	atomic_init(&d->io_ms, (unsigned)MIG_IO_TIMEOUT_DEFAULT_MS);
	pthread_mutex_init(&d->lock, NULL);
}

void mig_dst_set_io_timeout(struct mig_dst *d, unsigned ms)
{
	atomic_store(&d->io_ms, ms);
}

int mig_dst_listen(struct mig_dst *d, const char *uri, char *err, size_t errlen)
{
	struct mig_uri u;
	int rc = mig_uri_parse(uri, true, &u, err, errlen);

	if (rc)
		return rc;
	return mig_conn_listen(&u, &d->lfd, &d->port, err, errlen);
}

int mig_dst_start(struct mig_dst *d, char *err, size_t errlen)
{
	int rc;

	d->t_start_ns = now_ns();
	set_status(d, MIG_STATUS_SETUP);
	rc = -pthread_create(&d->thread, NULL, dst_thread, d);
	if (rc) {
		snprintf(err, errlen, "cannot start the incoming migration thread: %s",
			 strerror(-rc));
		return rc;
	}
	pthread_setname_np(d->thread, "mig-incoming");
	d->thread_started = true;
	return 0;
}

bool mig_dst_done(struct mig_dst *d, bool *ok)
{
	bool done;

	pthread_mutex_lock(&d->lock);
	done = d->done;
	*ok = done && d->info.status == MIG_STATUS_COMPLETED;
	pthread_mutex_unlock(&d->lock);
	return done;
}

uint64_t mig_dst_acked_ns(struct mig_dst *d)
{
	uint64_t t;

	pthread_mutex_lock(&d->lock);
	t = d->acked_ns;
	pthread_mutex_unlock(&d->lock);
	return t;
}

const char *mig_dst_error(struct mig_dst *d)
{
	return d->error; /* written before done, read after */
}

void mig_dst_info(struct mig_dst *d, struct mig_info *out)
{
	pthread_mutex_lock(&d->lock);
	*out = d->info;
	out->incoming = true;
	if (!d->done && d->t_start_ns)
		out->total_time_ms = (now_ns() - d->t_start_ns) / 1000000u;
	pthread_mutex_unlock(&d->lock);
}

void mig_dst_destroy(struct mig_dst *d)
{
	atomic_store(&d->cancel, true);
	mig_conn_cancel(&d->conn);
	if (d->thread_started)
		pthread_join(d->thread, NULL);
	d->thread_started = false;
	if (d->lfd >= 0)
		close(d->lfd);
	d->lfd = -1;
	pthread_mutex_destroy(&d->lock);
}

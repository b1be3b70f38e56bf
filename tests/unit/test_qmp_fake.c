// SPDX-License-Identifier: MIT
/* The fake QMP backend; see test_qmp_fake.h. */
#include "test_qmp_fake.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->running = true;
	f->limit_cpu = -2;
	for (int i = 0; i < FAKE_CPUS; i++)
		f->max_stall_us[i] = FAKE_MAX_STALL_US + i;
}

void fake_destroy(struct fake *f)
{
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
}

void fake_gate(struct fake *f, bool closed)
{
	pthread_mutex_lock(&f->lock);
	f->gate_closed = closed;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

int fake_get(struct fake *f, const int *field)
{
	int v;

	pthread_mutex_lock(&f->lock);
	v = *field;
	pthread_mutex_unlock(&f->lock);
	return v;
}

/* Consume a planned failure: its -errno, or 0. */
static int planned_failure(struct fake *f, char *err, size_t errlen)
{
	int r = -f->fail_errno;

	if (r && f->fail_msg)
		snprintf(err, errlen, "%s", f->fail_msg);
	f->fail_errno = 0;
	f->fail_msg = NULL;
	return r;
}

static const char *fake_status(void *opaque, bool *running)
{
	struct fake *f = opaque;

	pthread_mutex_lock(&f->lock);
	*running = f->running;
	pthread_mutex_unlock(&f->lock);
	return *running ? "running" : "paused";
}

/* The stop itself: state, counter, event. */
static int do_stop(struct fake *f, char *err, size_t errlen)
{
	struct qmp_server *srv;
	bool changed;
	int r;

	pthread_mutex_lock(&f->lock);
	srv = f->srv;
	r = planned_failure(f, err, errlen);
	changed = !r && f->running;
	if (!r) {
		f->running = false;
		f->stops++;
	}
	pthread_mutex_unlock(&f->lock);
	/* As the real backend: the event before the reply. */
	if (changed)
		qmp_server_emit_event(srv, "STOP", NULL);
	return r;
}

static int fake_stop(void *opaque, char *err, size_t errlen)
{
	struct fake *f = opaque;

	pthread_mutex_lock(&f->lock);
	if (f->async_stop) {
		f->stop_pending = true;
		pthread_mutex_unlock(&f->lock);
		return QMP_IN_PROGRESS;
	}
	/* A backend breaking the rules: lets the tests hold the QMP thread. */
	f->in_gate = f->gate_closed;
	while (f->gate_closed)
		pthread_cond_wait(&f->cond, &f->lock);
	f->in_gate = false;
	pthread_mutex_unlock(&f->lock);
	return do_stop(f, err, errlen);
}

bool fake_stop_pending(struct fake *f)
{
	bool v;

	pthread_mutex_lock(&f->lock);
	v = f->stop_pending;
	pthread_mutex_unlock(&f->lock);
	return v;
}

int fake_complete_stop(struct fake *f, char *err, size_t errlen)
{
	struct qmp_server *srv;
	int r;

	err[0] = '\0';
	r = do_stop(f, err, errlen);
	pthread_mutex_lock(&f->lock);
	f->stop_pending = false;
	srv = f->srv;
	pthread_mutex_unlock(&f->lock);
	if (srv)
		qmp_server_complete(srv, r, err);
	return r;
}

static int fake_cont(void *opaque, char *err, size_t errlen)
{
	struct fake *f = opaque;
	struct qmp_server *srv;
	bool changed;
	int r;

	pthread_mutex_lock(&f->lock);
	srv = f->srv;
	r = planned_failure(f, err, errlen);
	changed = !r && !f->running;
	if (!r) {
		f->running = true;
		f->conts++;
	}
	pthread_mutex_unlock(&f->lock);
	if (changed)
		qmp_server_emit_event(srv, "RESUME", NULL);
	return r;
}

/* As the real backend: SHUTDOWN now (before the reply), then the stop request. */
static void fake_quit(void *opaque)
{
	struct fake *f = opaque;
	struct qmp_server *srv;
	json_object *data = json_object_new_object();

	pthread_mutex_lock(&f->lock);
	f->quits++;
	srv = f->srv;
	pthread_mutex_unlock(&f->lock);
	json_object_object_add(data, "guest", json_object_new_boolean(false));
	json_object_object_add(data, "reason", json_object_new_string("host-qmp-quit"));
	qmp_server_emit_event(srv, "SHUTDOWN", data);
}

static int fake_cpus(void *opaque, struct qmp_cpu_info *out, int max)
{
	int i;

	for (i = 0; i < FAKE_CPUS && i < max; i++) {
		out[i].cpu_index = i;
		out[i].thread_id = 1000 + i;
	}
	return i;
}

static int fake_calc(void *opaque, uint64_t ms, const char *mode, char *err, size_t errlen)
{
	struct fake *f = opaque;

	pthread_mutex_lock(&f->lock);
	f->calcs++;
	f->calc_ms = ms;
	snprintf(f->calc_mode, sizeof(f->calc_mode), "%s", mode);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fake_query_rate(void *opaque, struct qmp_dirty_rate *out)
{
	struct fake *f = opaque;
	int i;

	pthread_mutex_lock(&f->lock);
	if (!f->calcs) {
		out->status = QMP_DIRTY_RATE_UNSTARTED;
	} else {
		out->status = QMP_DIRTY_RATE_MEASURED;
		out->dirty_rate = 300;
		out->start_time = 1700000000;
		out->calc_time_ms = (int64_t)f->calc_ms;
		out->nr_vcpus = FAKE_CPUS;
		for (i = 0; i < FAKE_CPUS; i++) {
			out->vcpu[i].id = i;
			out->vcpu[i].dirty_rate = 100 + 100 * i;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fake_guest_stats(void *opaque, struct qmp_guest_stats *out, int max,
			    bool reset_max_stall)
{
	struct fake *f = opaque;
	int i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < FAKE_CPUS && i < max; i++) {
		out[i].cpu_index = i;
		out[i].pages_written = 5000000000ull + i;
		out[i].bytes_read = 7;
		out[i].passes = 3;
		out[i].errors = 0;
		out[i].max_stall_us = f->max_stall_us[i];
		if (reset_max_stall)
			f->max_stall_us[i] = 0;
	}
	f->stall_resets += reset_max_stall;
	pthread_mutex_unlock(&f->lock);
	return i;
}

static int check_cpu(int cpu, char *err, size_t errlen)
{
	if (cpu >= FAKE_CPUS) {
		snprintf(err, errlen, "incorrect cpu index specified");
		return -EINVAL;
	}
	return 0;
}

static int fake_set_limit(void *opaque, int cpu, uint64_t rate, char *err, size_t errlen)
{
	struct fake *f = opaque;
	int i, r;

	r = check_cpu(cpu, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&f->lock);
	r = planned_failure(f, err, errlen);
	if (!r) {
		f->limit_cpu = cpu;
		for (i = 0; i < FAKE_CPUS; i++)
			if (cpu < 0 || cpu == i)
				f->limit[i] = rate;
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int fake_cancel_limit(void *opaque, int cpu, char *err, size_t errlen)
{
	struct fake *f = opaque;
	int i, r;

	r = check_cpu(cpu, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&f->lock);
	f->cancels++;
	f->limit_cpu = cpu;
	for (i = 0; i < FAKE_CPUS; i++)
		if (cpu < 0 || cpu == i)
			f->limit[i] = 0;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fake_query_limit(void *opaque, struct qmp_dirty_limit *out, int max)
{
	struct fake *f = opaque;
	int i, n = 0;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < FAKE_CPUS && n < max; i++) {
		if (!f->limit[i])
			continue;
		out[n].cpu_index = i;
		out[n].limit_rate = f->limit[i];
		out[n].current_rate = f->limit[i] / 2;
		n++;
	}
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* Knows one law with an option, as vmm's parser words its refusal. */
static int fake_set_law(void *opaque, const char *law, int64_t period_ms, char *err, size_t errlen)
{
	struct fake *f = opaque;

	if (strcmp(law, "qemu") && strcmp(law, "bucket")) {
		snprintf(err, errlen, "unknown law '%s'", law);
		return -EINVAL;
	}
	pthread_mutex_lock(&f->lock);
	snprintf(f->law, sizeof(f->law), "%s", law);
	f->law_period_ms = period_ms;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fake_query_law(void *opaque, char *law, size_t len, uint64_t *period_ms)
{
	struct fake *f = opaque;

	pthread_mutex_lock(&f->lock);
	snprintf(law, len, "%s", f->law[0] ? f->law : "bucket");
	*period_ms = f->law_period_ms > 0 ? (uint64_t)f->law_period_ms : 0;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

struct qmp_backend fake_backend(struct fake *f)
{
	return (struct qmp_backend){
	    .opaque = f,
	    .status = fake_status,
	    .stop = fake_stop,
	    .cont = fake_cont,
	    .quit = fake_quit,
	    .cpus = fake_cpus,
	    .calc_dirty_rate = fake_calc,
	    .query_dirty_rate = fake_query_rate,
	    .guest_stats = fake_guest_stats,
	    .set_dirty_limit = fake_set_limit,
	    .cancel_dirty_limit = fake_cancel_limit,
	    .query_dirty_limit = fake_query_limit,
	    .set_dirty_limit_law = fake_set_law,
	    .query_dirty_limit_law = fake_query_law,
	};
}

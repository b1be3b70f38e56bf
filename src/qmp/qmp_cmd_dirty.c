// SPDX-License-Identifier: MIT
/*
 * The dirty-rate commands: calc-dirty-rate and query-dirty-rate (QEMU's,
 * dirty-ring mode), the per-vCPU dirty limit (QEMU's), and our
 * x-query-guest-stats (what the stress kernel counts).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp_args.h"
#include "qmp/qmp_dispatch.h"

/* The only measurement mode we implement; also our default. */
#define QMP_MODE_DIRTY_RING "dirty-ring"

/* Optional "cpu-index": -1 when absent; false (and c->error set) if out of range. */
static bool cpu_index_arg(struct qmp_call *c, int *cpu)
{
	int64_t v = -1;

	*cpu = -1;
	if (!qmp_arg_int(c->args, "cpu-index", &v))
		return true;
	if (v < 0 || v > INT_MAX) {
		qmp_call_fail(c, "incorrect cpu index specified");
		return false;
	}
	*cpu = (int)v;
	return true;
}

/* --- calc-dirty-rate, query-dirty-rate ---------------------------------------------- */

static const char *const time_units[] = {"second", "millisecond", NULL};
static const char *const dirty_rate_modes[] = {"page-sampling", "dirty-ring", "dirty-bitmap", NULL};

const struct qmp_arg qmp_calc_dirty_rate_args[] = {
    {"calc-time", QMP_ARG_INT, false, NULL},
    {"calc-time-unit", QMP_ARG_ENUM, true, time_units},
    {"sample-pages", QMP_ARG_INT, true, NULL},
    {"mode", QMP_ARG_ENUM, true, dirty_rate_modes},
    {.name = NULL},
};

void qmp_cmd_calc_dirty_rate(struct qmp_call *c)
{
	const char *unit = "second", *mode = QMP_MODE_DIRTY_RING;
	char err[QMP_ERR_MAX] = "";
	int64_t t = 0, ms;
	int r;

	qmp_arg_int(c->args, "calc-time", &t);
	qmp_arg_str(c->args, "calc-time-unit", &unit);
	qmp_arg_str(c->args, "mode", &mode);
	/* Compare before multiplying: a huge calc-time must not overflow into range. */
	if (!strcmp(unit, "second"))
		ms = (t >= 0 && t <= QMP_CALC_TIME_MAX_MS) ? t * 1000 : -1;
	else
		ms = t;
	if (ms < QMP_CALC_TIME_MIN_MS || ms > QMP_CALC_TIME_MAX_MS) {
		qmp_call_fail(c, "Calculation time is out of range [%dms, %dms].",
			      QMP_CALC_TIME_MIN_MS, QMP_CALC_TIME_MAX_MS);
		return;
	}
	if (strcmp(mode, QMP_MODE_DIRTY_RING)) {
		qmp_call_fail(c, "mode %s is not supported, only %s is", mode, QMP_MODE_DIRTY_RING);
		return;
	}
	/* QEMU refuses sample-pages outside page-sampling mode, which we lack. */
	if (qmp_arg_get(c->args, "sample-pages")) {
		qmp_call_fail(c, "sample-pages is used only in page-sampling mode");
		return;
	}
	r = c->be->calc_dirty_rate(c->be->opaque, (uint64_t)ms, mode, err, sizeof(err));
	if (r < 0)
		qmp_call_fail_backend(c, r, err);
	else
		c->ret = json_object_new_object();
}

const struct qmp_arg qmp_query_dirty_rate_args[] = {
    {"calc-time-unit", QMP_ARG_ENUM, true, time_units},
    {.name = NULL},
};

static const char *const status_names[] = {
    [QMP_DIRTY_RATE_UNSTARTED] = "unstarted",
    [QMP_DIRTY_RATE_MEASURING] = "measuring",
    [QMP_DIRTY_RATE_MEASURED] = "measured",
};

static json_object *vcpu_rates(const struct qmp_dirty_rate *dr)
{
	json_object *a = json_object_new_array();
	int i;

	for (i = 0; a && i < dr->nr_vcpus && i < QMP_MAX_VCPUS; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int(dr->vcpu[i].id));
		json_object_object_add(o, "dirty-rate",
				       json_object_new_int64(dr->vcpu[i].dirty_rate));
		json_object_array_add(a, o);
	}
	return a;
}

/*
 * QEMU's DirtyRateInfo, member for member: dirty-rate and vcpu-dirty-rate
 * only once measured.
 */
void qmp_cmd_query_dirty_rate(struct qmp_call *c)
{
	struct qmp_dirty_rate *dr = calloc(1, sizeof(*dr));
	const char *unit = "second", *mode;
	bool measured;
	json_object *o;
	int r;

	if (!dr)
		return;
	qmp_arg_str(c->args, "calc-time-unit", &unit);
	r = c->be->query_dirty_rate(c->be->opaque, dr);
	if (r < 0 || (unsigned)dr->status > QMP_DIRTY_RATE_MEASURED) {
		qmp_call_fail(c, "%s", strerror(r < 0 ? -r : EINVAL));
		goto out;
	}
	measured = dr->status == QMP_DIRTY_RATE_MEASURED;
	mode = dr->mode ? dr->mode : QMP_MODE_DIRTY_RING;
	c->ret = o = json_object_new_object();
	if (!o)
		goto out;
	if (measured)
		json_object_object_add(o, "dirty-rate", json_object_new_int64(dr->dirty_rate));
	json_object_object_add(o, "status", json_object_new_string(status_names[dr->status]));
	json_object_object_add(o, "start-time", json_object_new_int64(dr->start_time));
	json_object_object_add(o, "calc-time",
			       json_object_new_int64(strcmp(unit, "second")
							 ? dr->calc_time_ms
							 : dr->calc_time_ms / 1000));
	json_object_object_add(o, "calc-time-unit", json_object_new_string(unit));
	/* As QEMU: 0 says page sampling was not used. */
	json_object_object_add(o, "sample-pages", json_object_new_int(0));
	json_object_object_add(o, "mode", json_object_new_string(mode));
	if (measured && !strcmp(mode, QMP_MODE_DIRTY_RING))
		json_object_object_add(o, "vcpu-dirty-rate", vcpu_rates(dr));
out:
	free(dr);
}

/* --- guest statistics (ours) ---------------------------------------------------- */

const struct qmp_arg qmp_guest_stats_args[] = {
    {"reset-max-stall", QMP_ARG_BOOL, true, NULL},
    {.name = NULL},
};

void qmp_cmd_x_query_guest_stats(struct qmp_call *c)
{
	struct qmp_guest_stats *st = calloc(QMP_MAX_VCPUS, sizeof(*st));
	bool reset = false;
	int i, n;

	if (!st)
		return;
	qmp_arg_bool(c->args, "reset-max-stall", &reset);
	n = c->be->guest_stats(c->be->opaque, st, QMP_MAX_VCPUS, reset);
	if (n < 0) {
		qmp_call_fail(c, "%s", strerror(-n));
		goto out;
	}
	c->ret = json_object_new_array();
	for (i = 0; c->ret && i < n && i < QMP_MAX_VCPUS; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "cpu-index", json_object_new_int(st[i].cpu_index));
		json_object_object_add(o, "pages-written",
				       json_object_new_uint64(st[i].pages_written));
		json_object_object_add(o, "bytes-read", json_object_new_uint64(st[i].bytes_read));
		json_object_object_add(o, "passes", json_object_new_uint64(st[i].passes));
		json_object_object_add(o, "errors", json_object_new_uint64(st[i].errors));
		json_object_object_add(o, "max-stall-us",
				       json_object_new_uint64(st[i].max_stall_us));
		json_object_array_add(c->ret, o);
	}
out:
	free(st);
}

/* --- dirty limit ------------------------------------------------------------------ */

const struct qmp_arg qmp_set_limit_args[] = {
    {"cpu-index", QMP_ARG_INT, true, NULL},
    {"dirty-rate", QMP_ARG_UINT, false, NULL},
    {.name = NULL},
};

const struct qmp_arg qmp_cancel_limit_args[] = {
    {"cpu-index", QMP_ARG_INT, true, NULL},
    {.name = NULL},
};

static void cancel_limit(struct qmp_call *c, int cpu)
{
	char err[QMP_ERR_MAX] = "";
	int r = c->be->cancel_dirty_limit(c->be->opaque, cpu, err, sizeof(err));

	if (r < 0)
		qmp_call_fail_backend(c, r, err);
	else
		c->ret = json_object_new_object();
}

void qmp_cmd_set_vcpu_dirty_limit(struct qmp_call *c)
{
	char err[QMP_ERR_MAX] = "";
	uint64_t rate = 0;
	int cpu, r;

	if (!cpu_index_arg(c, &cpu))
		return;
	qmp_arg_uint(c->args, "dirty-rate", &rate);
	/* As QEMU: a limit of 0 cancels the limit. */
	if (!rate) {
		cancel_limit(c, cpu);
		return;
	}
	r = c->be->set_dirty_limit(c->be->opaque, cpu, rate, err, sizeof(err));
	if (r < 0)
		qmp_call_fail_backend(c, r, err);
	else
		c->ret = json_object_new_object();
}

void qmp_cmd_cancel_vcpu_dirty_limit(struct qmp_call *c)
{
	int cpu;

	if (cpu_index_arg(c, &cpu))
		cancel_limit(c, cpu);
}

void qmp_cmd_query_vcpu_dirty_limit(struct qmp_call *c)
{
	struct qmp_dirty_limit *dl = calloc(QMP_MAX_VCPUS, sizeof(*dl));
	int i, n;

	if (!dl)
		return;
	n = c->be->query_dirty_limit(c->be->opaque, dl, QMP_MAX_VCPUS);
	if (n < 0) {
		qmp_call_fail(c, "%s", strerror(-n));
		goto out;
	}
	c->ret = json_object_new_array();
	for (i = 0; c->ret && i < n && i < QMP_MAX_VCPUS; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "cpu-index", json_object_new_int(dl[i].cpu_index));
		json_object_object_add(o, "limit-rate", json_object_new_uint64(dl[i].limit_rate));
		json_object_object_add(o, "current-rate",
				       json_object_new_uint64(dl[i].current_rate));
		json_object_array_add(c->ret, o);
	}
out:
	free(dl);
}

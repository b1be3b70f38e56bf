// SPDX-License-Identifier: MIT
/*
 * The QMP commands: argument specs and handlers.  Names, arguments and
 * results follow QEMU's schema (the qapi directory) unless docs/qmp.md marks a
 * command as ours.  Handlers translate JSON to backend calls and back.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp_args.h"
#include "qmp/qmp_dispatch.h"

/* QEMU's page size for the "page-size" member of query-dirty-rate. */
#define QMP_PAGE_SIZE 4096

/* QEMU's words for qmp_capabilities in command mode. */
#define MSG_ALREADY_NEGOTIATED "Capabilities negotiation is already complete, command ignored"

/* The only measurement mode we implement; also our default. */
#define QMP_MODE_DIRTY_RING "dirty-ring"

static void fail(struct qmp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct qmp_call *c, const char *fmt, ...)
{
	va_list ap;
	char *desc;

	va_start(ap, fmt);
	if (vasprintf(&desc, fmt, ap) < 0)
		desc = NULL;
	va_end(ap);
	c->error = qmp_error_new(QMP_ERROR_GENERIC, "%s", desc ? desc : "out of memory");
	free(desc);
}

/* A failed backend call: its message, or strerror() if it left none. */
static void fail_backend(struct qmp_call *c, int r, const char *err)
{
	if (err[0])
		fail(c, "%s", err);
	else
		fail(c, "%s", strerror(r < 0 ? -r : EIO));
}

static json_object *empty(void)
{
	return json_object_new_object();
}

/* Optional "cpu-index": -1 when absent; false (and c->error set) if out of range. */
static bool cpu_index_arg(struct qmp_call *c, int *cpu)
{
	int64_t v = -1;

	*cpu = -1;
	if (!qmp_arg_int(c->args, "cpu-index", &v))
		return true;
	if (v < 0 || v > INT_MAX) {
		fail(c, "incorrect cpu index specified");
		return false;
	}
	*cpu = (int)v;
	return true;
}

/* --- qmp_capabilities ---------------------------------------------------- */

static const struct qmp_arg caps_args[] = {
    {"enable", QMP_ARG_ARRAY, true, NULL},
    {.name = NULL},
};

static void cmd_qmp_capabilities(struct qmp_call *c)
{
	json_object *enable = qmp_arg_get(c->args, "enable");
	size_t n = enable ? json_object_array_length(enable) : 0;

	if (c->session->negotiated) {
		c->error = qmp_error_new(QMP_ERROR_NOT_FOUND, "%s", MSG_ALREADY_NEGOTIATED);
		return;
	}
	/* We offer no capability (no "oob"), so any requested one is refused. */
	if (n) {
		json_object *cap = json_object_array_get_idx(enable, 0);

		if (!json_object_is_type(cap, json_type_string))
			fail(c, "Invalid parameter type for 'enable[0]', expected: string");
		else
			fail(c, "Capability '%s' not available", json_object_get_string(cap));
		return;
	}
	c->session->negotiated = true;
	c->ret = empty();
}

/* --- run state ------------------------------------------------------------ */

static bool have_status(const struct qmp_backend *be)
{
	return be->status;
}

static void cmd_query_status(struct qmp_call *c)
{
	bool running = false;
	const char *st = c->be->status(c->be->opaque, &running);

	c->ret = json_object_new_object();
	if (!c->ret)
		return;
	json_object_object_add(c->ret, "status", json_object_new_string(st ? st : "running"));
	json_object_object_add(c->ret, "running", json_object_new_boolean(running));
	json_object_object_add(c->ret, "singlestep", json_object_new_boolean(false));
}

static bool have_stop(const struct qmp_backend *be)
{
	return be->stop;
}

/* A backend call with no arguments whose success returns {}. */
static void call_void(struct qmp_call *c, int (*fn)(void *, char *, size_t))
{
	char err[QMP_ERR_MAX] = "";
	int r = fn(c->be->opaque, err, sizeof(err));

	if (r < 0)
		fail_backend(c, r, err);
	else
		c->ret = empty();
}

static void cmd_stop(struct qmp_call *c)
{
	call_void(c, c->be->stop);
}

static bool have_cont(const struct qmp_backend *be)
{
	return be->cont;
}

static void cmd_cont(struct qmp_call *c)
{
	call_void(c, c->be->cont);
}

static bool have_quit(const struct qmp_backend *be)
{
	return be->quit;
}

/* The server calls be->quit() once this reply is on its way (see qmp_session). */
static void cmd_quit(struct qmp_call *c)
{
	c->session->quit_requested = true;
	c->ret = empty();
}

/* --- introspection --------------------------------------------------------- */

static void cmd_query_version(struct qmp_call *c)
{
	json_object *g = qmp_greeting(), *qmp, *ver;

	/* The greeting carries the same version object. */
	if (json_object_object_get_ex(g, "QMP", &qmp) &&
	    json_object_object_get_ex(qmp, "version", &ver))
		c->ret = json_object_get(ver);
	json_object_put(g);
}

static void cmd_query_commands(struct qmp_call *c)
{
	const struct qmp_command *cmd;
	size_t i;

	c->ret = json_object_new_array();
	for (i = 0; c->ret && (cmd = qmp_command_at(i)); i++) {
		json_object *o;

		if (!qmp_command_available(cmd, c->be))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(cmd->name));
		json_object_array_add(c->ret, o);
	}
}

static bool have_cpus(const struct qmp_backend *be)
{
	return be->cpus;
}

static void cmd_query_cpus_fast(struct qmp_call *c)
{
	struct qmp_cpu_info *cpus = calloc(QMP_MAX_VCPUS, sizeof(*cpus));
	char path[64];
	int i, n;

	if (!cpus)
		return;
	n = c->be->cpus(c->be->opaque, cpus, QMP_MAX_VCPUS);
	if (n < 0) {
		fail(c, "%s", strerror(-n));
		goto out;
	}
	c->ret = json_object_new_array();
	for (i = 0; c->ret && i < n && i < QMP_MAX_VCPUS; i++) {
		json_object *o = json_object_new_object();

		snprintf(path, sizeof(path), "/machine/unattached/device[%d]", cpus[i].cpu_index);
		json_object_object_add(o, "cpu-index", json_object_new_int(cpus[i].cpu_index));
		json_object_object_add(o, "qom-path", json_object_new_string(path));
		json_object_object_add(o, "thread-id", json_object_new_int64(cpus[i].thread_id));
		json_object_object_add(o, "target", json_object_new_string("x86_64"));
		json_object_array_add(c->ret, o);
	}
out:
	free(cpus);
}

/* --- dirty-rate measurement -------------------------------------------------- */

static const char *const time_units[] = {"second", "millisecond", NULL};
static const char *const dirty_rate_modes[] = {"page-sampling", "dirty-ring", "dirty-bitmap", NULL};

static const struct qmp_arg calc_dirty_rate_args[] = {
    {"calc-time", QMP_ARG_INT, false, NULL},
    {"calc-time-unit", QMP_ARG_ENUM, true, time_units},
    {"sample-pages", QMP_ARG_INT, true, NULL},
    {"mode", QMP_ARG_ENUM, true, dirty_rate_modes},
    {.name = NULL},
};

static bool have_calc_dirty_rate(const struct qmp_backend *be)
{
	return be->calc_dirty_rate;
}

static void cmd_calc_dirty_rate(struct qmp_call *c)
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
		fail(c, "Calculation time is out of range [%dms, %dms].", QMP_CALC_TIME_MIN_MS,
		     QMP_CALC_TIME_MAX_MS);
		return;
	}
	if (strcmp(mode, QMP_MODE_DIRTY_RING)) {
		fail(c, "mode %s is not supported, only %s is", mode, QMP_MODE_DIRTY_RING);
		return;
	}
	/* QEMU refuses sample-pages outside page-sampling mode, which we lack. */
	if (qmp_arg_get(c->args, "sample-pages")) {
		fail(c, "sample-pages is used only in page-sampling mode");
		return;
	}
	r = c->be->calc_dirty_rate(c->be->opaque, (uint64_t)ms, mode, err, sizeof(err));
	if (r < 0)
		fail_backend(c, r, err);
	else
		c->ret = empty();
}

static const struct qmp_arg query_dirty_rate_args[] = {
    {"calc-time-unit", QMP_ARG_ENUM, true, time_units},
    {.name = NULL},
};

static bool have_query_dirty_rate(const struct qmp_backend *be)
{
	return be->query_dirty_rate;
}

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

/* Member order as QEMU's DirtyRateInfo. */
static void cmd_query_dirty_rate(struct qmp_call *c)
{
	struct qmp_dirty_rate *dr = calloc(1, sizeof(*dr));
	const char *unit = "second", *mode;
	json_object *o;
	int r;

	if (!dr)
		return;
	qmp_arg_str(c->args, "calc-time-unit", &unit);
	r = c->be->query_dirty_rate(c->be->opaque, dr);
	if (r < 0 || (unsigned)dr->status > QMP_DIRTY_RATE_MEASURED) {
		fail(c, "%s", strerror(r < 0 ? -r : EINVAL));
		goto out;
	}
	mode = dr->mode ? dr->mode : QMP_MODE_DIRTY_RING;
	c->ret = o = json_object_new_object();
	if (!o)
		goto out;
	if (dr->status == QMP_DIRTY_RATE_MEASURED)
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
	if (!strcmp(mode, QMP_MODE_DIRTY_RING))
		json_object_object_add(o, "vcpu-dirty-rate", vcpu_rates(dr));
	json_object_object_add(o, "page-size", json_object_new_int(QMP_PAGE_SIZE));
out:
	free(dr);
}

/* --- guest statistics (ours) ---------------------------------------------------- */

static const struct qmp_arg guest_stats_args[] = {
    {"reset-max-stall", QMP_ARG_BOOL, true, NULL},
    {.name = NULL},
};

static bool have_guest_stats(const struct qmp_backend *be)
{
	return be->guest_stats;
}

static void cmd_x_query_guest_stats(struct qmp_call *c)
{
	struct qmp_guest_stats *st = calloc(QMP_MAX_VCPUS, sizeof(*st));
	bool reset = false;
	int i, n;

	if (!st)
		return;
	qmp_arg_bool(c->args, "reset-max-stall", &reset);
	n = c->be->guest_stats(c->be->opaque, st, QMP_MAX_VCPUS, reset);
	if (n < 0) {
		fail(c, "%s", strerror(-n));
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

static const struct qmp_arg set_limit_args[] = {
    {"cpu-index", QMP_ARG_INT, true, NULL},
    {"dirty-rate", QMP_ARG_UINT, false, NULL},
    {.name = NULL},
};

static const struct qmp_arg cancel_limit_args[] = {
    {"cpu-index", QMP_ARG_INT, true, NULL},
    {.name = NULL},
};

static bool have_limit(const struct qmp_backend *be)
{
	return be->set_dirty_limit && be->cancel_dirty_limit;
}

static void cancel_limit(struct qmp_call *c, int cpu)
{
	char err[QMP_ERR_MAX] = "";
	int r = c->be->cancel_dirty_limit(c->be->opaque, cpu, err, sizeof(err));

	if (r < 0)
		fail_backend(c, r, err);
	else
		c->ret = empty();
}

static void cmd_set_vcpu_dirty_limit(struct qmp_call *c)
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
		fail_backend(c, r, err);
	else
		c->ret = empty();
}

static void cmd_cancel_vcpu_dirty_limit(struct qmp_call *c)
{
	int cpu;

	if (cpu_index_arg(c, &cpu))
		cancel_limit(c, cpu);
}

static bool have_query_limit(const struct qmp_backend *be)
{
	return be->query_dirty_limit;
}

static void cmd_query_vcpu_dirty_limit(struct qmp_call *c)
{
	struct qmp_dirty_limit *dl = calloc(QMP_MAX_VCPUS, sizeof(*dl));
	int i, n;

	if (!dl)
		return;
	n = c->be->query_dirty_limit(c->be->opaque, dl, QMP_MAX_VCPUS);
	if (n < 0) {
		fail(c, "%s", strerror(-n));
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

/* --- the table ---------------------------------------------------------------------- */

static const struct qmp_command commands[] = {
    {"qmp_capabilities", caps_args, cmd_qmp_capabilities, NULL},
    {"query-status", NULL, cmd_query_status, have_status},
    {"stop", NULL, cmd_stop, have_stop},
    {"cont", NULL, cmd_cont, have_cont},
    {"quit", NULL, cmd_quit, have_quit},
    {"query-version", NULL, cmd_query_version, NULL},
    {"query-commands", NULL, cmd_query_commands, NULL},
    {"query-cpus-fast", NULL, cmd_query_cpus_fast, have_cpus},
    {"calc-dirty-rate", calc_dirty_rate_args, cmd_calc_dirty_rate, have_calc_dirty_rate},
    {"query-dirty-rate", query_dirty_rate_args, cmd_query_dirty_rate, have_query_dirty_rate},
    {"x-query-guest-stats", guest_stats_args, cmd_x_query_guest_stats, have_guest_stats},
    {"set-vcpu-dirty-limit", set_limit_args, cmd_set_vcpu_dirty_limit, have_limit},
    {"cancel-vcpu-dirty-limit", cancel_limit_args, cmd_cancel_vcpu_dirty_limit, have_limit},
    {"query-vcpu-dirty-limit", NULL, cmd_query_vcpu_dirty_limit, have_query_limit},
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct qmp_command *qmp_command_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < NR_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

const struct qmp_command *qmp_command_at(size_t i)
{
	return i < NR_COMMANDS ? &commands[i] : NULL;
}

bool qmp_command_available(const struct qmp_command *cmd, const struct qmp_backend *be)
{
	return !cmd->available || cmd->available(be);
}

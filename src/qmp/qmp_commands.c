// SPDX-License-Identifier: MIT
/*
 * The QMP command table, and the commands about the protocol, the run
 * state and the machine.  Names, arguments and results follow QEMU's
 * schema (the qapi directory) unless docs/qmp.md marks a command as ours.
 * Handlers translate JSON to backend calls and back; the dirty-rate
 * commands are in qmp_cmd_dirty.c, QOM in qmp_cmd_qom.c, HMP in qmp_hmp.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp_args.h"
#include "qmp/qmp_dispatch.h"

/* QEMU's words for qmp_capabilities in command mode. */
#define MSG_ALREADY_NEGOTIATED "Capabilities negotiation is already complete, command ignored"

/* What query-uuid says without a UUID, as QEMU without -uuid. */
#define QMP_NULL_UUID "00000000-0000-0000-0000-000000000000"

static json_object *empty(void)
{
	return json_object_new_object();
}

/* --- qmp_capabilities ---------------------------------------------------- */

static const char *const capabilities[] = {"oob", NULL};

static const struct qmp_arg caps_args[] = {
    {"enable", QMP_ARG_ARRAY, true, NULL},
    {.name = NULL},
};

static void cmd_qmp_capabilities(struct qmp_call *c)
{
	json_object *enable = qmp_arg_get(c->args, "enable");
	size_t i, n = enable ? json_object_array_length(enable) : 0;
	bool oob = false;

	if (c->session->negotiated) {
		c->error = qmp_error_new(QMP_ERROR_NOT_FOUND, "%s", MSG_ALREADY_NEGOTIATED);
		return;
	}
	for (i = 0; i < n; i++) {
		json_object *cap = json_object_array_get_idx(enable, i);
		const char *s = json_object_get_string(cap);
		size_t k;

		if (!json_object_is_type(cap, json_type_string)) {
			qmp_call_fail(
			    c, "Invalid parameter type for 'enable[%zu]', expected: string", i);
			return;
		}
		for (k = 0; capabilities[k] && strcmp(capabilities[k], s); k++)
			;
		/* QEMU's visitor names a list element 'null' here. */
		if (!capabilities[k]) {
			qmp_call_fail(c, "Parameter 'null' does not accept value '%s'", s);
			return;
		}
		oob = true;
	}
	c->session->oob = oob;
	c->session->negotiated = true;
	c->ret = empty();
}

/* --- run state ------------------------------------------------------------ */

static bool have_status(const struct qmp_backend *be)
{
	return be->status;
}

/* Member order as QEMU 7.2 sends it. */
static void cmd_query_status(struct qmp_call *c)
{
	bool running = false;
	const char *st = c->be->status(c->be->opaque, &running);

	c->ret = json_object_new_object();
	if (!c->ret)
		return;
	json_object_object_add(c->ret, "status", json_object_new_string(st ? st : "running"));
	json_object_object_add(c->ret, "singlestep", json_object_new_boolean(false));
	json_object_object_add(c->ret, "running", json_object_new_boolean(running));
}

static void finish_void(struct qmp_call *c, int r, const char *err)
{
	if (r < 0)
		qmp_call_fail_backend(c, r, err);
	else
		c->ret = empty();
}

/* A backend call with no arguments whose success returns {}; it may go pending. */
static void call_void(struct qmp_call *c, int (*fn)(void *, char *, size_t))
{
	char err[QMP_ERR_MAX] = "";
	int r = fn(c->be->opaque, err, sizeof(err));

	if (r == QMP_IN_PROGRESS)
		c->finish = finish_void;
	else
		finish_void(c, r, err);
}

static bool have_stop(const struct qmp_backend *be)
{
	return be->stop;
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

/* The backend emits SHUTDOWN, which reaches the clients before this reply (as in QEMU 7.2). */
static void cmd_quit(struct qmp_call *c)
{
	c->be->quit(c->be->opaque);
	c->ret = empty();
}

/* --- about the protocol ------------------------------------------------------ */

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

/* --- about the machine --------------------------------------------------------- */

static void cmd_query_name(struct qmp_call *c)
{
	c->ret = json_object_new_object();
	if (c->ret && c->be->name)
		json_object_object_add(c->ret, "name", json_object_new_string(c->be->name));
}

static void cmd_query_uuid(struct qmp_call *c)
{
	c->ret = json_object_new_object();
	if (c->ret)
		json_object_object_add(c->ret, "UUID", json_object_new_string(QMP_NULL_UUID));
}

/* vmm runs on KVM only. */
static void cmd_query_kvm(struct qmp_call *c)
{
	c->ret = json_object_new_object();
	if (!c->ret)
		return;
	json_object_object_add(c->ret, "enabled", json_object_new_boolean(true));
	json_object_object_add(c->ret, "present", json_object_new_boolean(true));
}

static void cmd_query_target(struct qmp_call *c)
{
	c->ret = json_object_new_object();
	if (c->ret)
		json_object_object_add(c->ret, "arch", json_object_new_string(QMP_TARGET));
}

/* One machine type, ours; QEMU's MachineInfo members. */
static void cmd_query_machines(struct qmp_call *c)
{
	json_object *m = json_object_new_object();

	c->ret = json_object_new_array();
	if (!c->ret || !m) {
		json_object_put(m);
		return;
	}
	json_object_object_add(m, "name", json_object_new_string(QMP_MACHINE));
	json_object_object_add(m, "is-default", json_object_new_boolean(true));
	json_object_object_add(m, "cpu-max", json_object_new_int(QMP_MAX_VCPUS));
	/* No vCPU can be added to a running vmm. */
	json_object_object_add(m, "hotpluggable-cpus", json_object_new_boolean(false));
	json_object_object_add(m, "numa-mem-supported", json_object_new_boolean(false));
	json_object_object_add(m, "deprecated", json_object_new_boolean(false));
	json_object_object_add(m, "default-cpu-type", json_object_new_string(QMP_CPU_TYPE));
	json_object_array_add(c->ret, m);
}

static bool have_cpus(const struct qmp_backend *be)
{
	return be->cpus;
}

/* The vCPUs, or NULL (with c->error set) and *n. */
static struct qmp_cpu_info *get_cpus(struct qmp_call *c, int *n)
{
	struct qmp_cpu_info *cpus = calloc(QMP_MAX_VCPUS, sizeof(*cpus));

	if (!cpus)
		return NULL;
	*n = c->be->cpus(c->be->opaque, cpus, QMP_MAX_VCPUS);
	if (*n < 0) {
		qmp_call_fail(c, "%s", strerror(-*n));
		free(cpus);
		return NULL;
	}
	if (*n > QMP_MAX_VCPUS)
		*n = QMP_MAX_VCPUS;
	return cpus;
}

/* QEMU's CpuInstanceProperties of vCPU i: one socket of cores, as QEMU 7.2's -smp N. */
static json_object *cpu_props(int i)
{
	json_object *p = json_object_new_object();

	if (!p)
		return NULL;
	json_object_object_add(p, "core-id", json_object_new_int(i));
	json_object_object_add(p, "thread-id", json_object_new_int(0));
	json_object_object_add(p, "socket-id", json_object_new_int(0));
	return p;
}

static json_object *qom_path(int i)
{
	char path[64];

	snprintf(path, sizeof(path), QMP_CPU_QOM_PREFIX "%d]", i);
	return json_object_new_string(path);
}

static void cmd_query_cpus_fast(struct qmp_call *c)
{
	struct qmp_cpu_info *cpus;
	int i, n;

	cpus = get_cpus(c, &n);
	if (!cpus)
		return;
	c->ret = json_object_new_array();
	for (i = 0; c->ret && i < n; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "cpu-index", json_object_new_int(cpus[i].cpu_index));
		json_object_object_add(o, "qom-path", qom_path(cpus[i].cpu_index));
		json_object_object_add(o, "thread-id", json_object_new_int64(cpus[i].thread_id));
		json_object_object_add(o, "props", cpu_props(cpus[i].cpu_index));
		json_object_object_add(o, "target", json_object_new_string(QMP_TARGET));
		json_object_array_add(c->ret, o);
	}
	free(cpus);
}

/* Every vCPU slot is taken (no hotplug); QEMU lists them last first. */
static void cmd_query_hotpluggable_cpus(struct qmp_call *c)
{
	struct qmp_cpu_info *cpus;
	int i, n;

	cpus = get_cpus(c, &n);
	if (!cpus)
		return;
	c->ret = json_object_new_array();
	for (i = n - 1; c->ret && i >= 0; i--) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string(QMP_CPU_TYPE));
		json_object_object_add(o, "vcpus-count", json_object_new_int(1));
		json_object_object_add(o, "props", cpu_props(cpus[i].cpu_index));
		json_object_object_add(o, "qom-path", qom_path(cpus[i].cpu_index));
		json_object_array_add(c->ret, o);
	}
	free(cpus);
}

/* vmm has no I/O threads. */
static void cmd_query_iothreads(struct qmp_call *c)
{
	c->ret = json_object_new_array();
}

/* --- the table ----------------------------------------------------------------------- */

static bool have_calc_dirty_rate(const struct qmp_backend *be)
{
	return be->calc_dirty_rate;
}

static bool have_query_dirty_rate(const struct qmp_backend *be)
{
	return be->query_dirty_rate;
}

static bool have_guest_stats(const struct qmp_backend *be)
{
	return be->guest_stats;
}

static bool have_limit(const struct qmp_backend *be)
{
	return be->set_dirty_limit && be->cancel_dirty_limit;
}

static bool have_law(const struct qmp_backend *be)
{
	return be->set_dirty_limit_law && be->query_dirty_limit_law;
}

static bool have_query_limit(const struct qmp_backend *be)
{
	return be->query_dirty_limit;
}

/*
 * Every command.  Adding one (migrate, query-migrate, ...) is a line here,
 * a handler, and the backend callback it calls.  QMP_CMD_OOB marks those
 * that may run out of band: they answer at once, without waiting.
 */
static const struct qmp_command commands[] = {
    {"qmp_capabilities", caps_args, cmd_qmp_capabilities, NULL, 0},
    {"query-status", NULL, cmd_query_status, have_status, QMP_CMD_OOB},
    {"stop", NULL, cmd_stop, have_stop, 0},
    {"cont", NULL, cmd_cont, have_cont, 0},
    {"quit", NULL, cmd_quit, have_quit, 0},
    {"query-version", NULL, cmd_query_version, NULL, 0},
    {"query-commands", NULL, cmd_query_commands, NULL, 0},
    {"query-name", NULL, cmd_query_name, NULL, 0},
    {"query-uuid", NULL, cmd_query_uuid, NULL, 0},
    {"query-kvm", NULL, cmd_query_kvm, NULL, 0},
    {"query-target", NULL, cmd_query_target, NULL, 0},
    {"query-machines", NULL, cmd_query_machines, NULL, 0},
    {"query-cpus-fast", NULL, cmd_query_cpus_fast, have_cpus, 0},
    {"query-hotpluggable-cpus", NULL, cmd_query_hotpluggable_cpus, have_cpus, 0},
    {"query-iothreads", NULL, cmd_query_iothreads, NULL, 0},
    {"qom-list", qmp_qom_list_args, qmp_cmd_qom_list, have_cpus, 0},
    {"qom-get", qmp_qom_get_args, qmp_cmd_qom_get, have_cpus, 0},
    {"human-monitor-command", qmp_hmp_args, qmp_cmd_human_monitor_command, NULL, 0},
    {"calc-dirty-rate", qmp_calc_dirty_rate_args, qmp_cmd_calc_dirty_rate, have_calc_dirty_rate, 0},
    {"query-dirty-rate", qmp_query_dirty_rate_args, qmp_cmd_query_dirty_rate, have_query_dirty_rate,
     QMP_CMD_OOB},
    {"x-query-guest-stats", qmp_guest_stats_args, qmp_cmd_x_query_guest_stats, have_guest_stats,
     QMP_CMD_OOB},
    {"set-vcpu-dirty-limit", qmp_set_limit_args, qmp_cmd_set_vcpu_dirty_limit, have_limit,
     QMP_CMD_OOB},
    {"cancel-vcpu-dirty-limit", qmp_cancel_limit_args, qmp_cmd_cancel_vcpu_dirty_limit, have_limit,
     QMP_CMD_OOB},
    {"query-vcpu-dirty-limit", NULL, qmp_cmd_query_vcpu_dirty_limit, have_query_limit, QMP_CMD_OOB},
    {"migrate", qmp_migrate_args, qmp_cmd_migrate, qmp_have_migrate, 0},
    {"migrate-incoming", qmp_migrate_incoming_args, qmp_cmd_migrate_incoming,
     qmp_have_migrate_incoming, 0},
    {"migrate_cancel", NULL, qmp_cmd_migrate_cancel, qmp_have_migrate, 0},
    {"query-migrate", NULL, qmp_cmd_query_migrate, qmp_have_migrate, QMP_CMD_OOB},
    {"migrate-set-parameters", qmp_migrate_set_parameters_args, qmp_cmd_migrate_set_parameters,
     qmp_have_migrate, 0},
    {"query-migrate-parameters", NULL, qmp_cmd_query_migrate_parameters, qmp_have_migrate, 0},
    {"migrate-set-capabilities", qmp_migrate_set_capabilities_args,
     qmp_cmd_migrate_set_capabilities, qmp_have_migrate, 0},
    {"query-migrate-capabilities", NULL, qmp_cmd_query_migrate_capabilities, qmp_have_migrate, 0},
    {"x-set-dirty-limit-law", qmp_set_law_args, qmp_cmd_x_set_dirty_limit_law, have_law,
     QMP_CMD_OOB},
    {"x-query-dirty-limit-law", NULL, qmp_cmd_x_query_dirty_limit_law, have_law, QMP_CMD_OOB},
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

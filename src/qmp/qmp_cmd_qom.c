// SPDX-License-Identifier: MIT
/*
 * qom-list and qom-get over the part of QEMU's object tree that vmm has:
 * the root, the machine, and each vCPU at the qom-path query-cpus-fast
 * reports.  Paths are absolute; QEMU's errors and classes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp_args.h"
#include "qmp/qmp_dispatch.h"

/* QEMU's error class for a path that names no object. */
#define QMP_ERROR_DEVICE_NOT_FOUND "DeviceNotFound"

enum qom_node {
	QOM_NONE,
	QOM_ROOT,
	QOM_MACHINE,
	QOM_UNATTACHED,
	QOM_CPU
};

/* One property: its name and QOM type; the value comes from prop_value(). */
struct qom_prop {
	const char *name;
	const char *type;
};

static const struct qom_prop root_props[] = {
    {"type", "string"},
    {"machine", "child<" QMP_MACHINE_TYPE ">"},
    {NULL, NULL},
};

static const struct qom_prop machine_props[] = {
    {"type", "string"},
    {"unattached", "child<container>"},
    {NULL, NULL},
};

static const struct qom_prop container_props[] = {
    {"type", "string"},
    {NULL, NULL},
};

static const struct qom_prop cpu_props[] = {
    {"type", "string"},	  {"realized", "bool"},	  {"socket-id", "int32"},
    {"core-id", "int32"}, {"thread-id", "int32"}, {NULL, NULL},
};

const struct qmp_arg qmp_qom_list_args[] = {
    {"path", QMP_ARG_STR, false, NULL},
    {.name = NULL},
};

const struct qmp_arg qmp_qom_get_args[] = {
    {"path", QMP_ARG_STR, false, NULL},
    {"property", QMP_ARG_STR, false, NULL},
    {.name = NULL},
};

static int nr_cpus(struct qmp_call *c)
{
	struct qmp_cpu_info *cpus = calloc(QMP_MAX_VCPUS, sizeof(*cpus));
	int n;

	if (!cpus)
		return 0;
	n = c->be->cpus(c->be->opaque, cpus, QMP_MAX_VCPUS);
	free(cpus);
	return n < 0 ? 0 : n;
}

/* Which object path names, and for a vCPU its index.  Empty components are skipped. */
static enum qom_node resolve(struct qmp_call *c, const char *path, int *cpu)
{
	static const char *const names[] = {"machine", "unattached"};
	enum qom_node node = QOM_ROOT;
	const char *p = path, *end;
	size_t len;
	int depth = 0;

	if (path[0] != '/')
		return QOM_NONE;
	for (; *p; p = end) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		end = strchrnul(p, '/');
		len = end - p;
		if (depth < 2) {
			if (len != strlen(names[depth]) || memcmp(p, names[depth], len))
				return QOM_NONE;
			node = depth ? QOM_UNATTACHED : QOM_MACHINE;
		} else if (depth == 2) {
			char buf[32], tail;
			int i;

			if (len >= sizeof(buf))
				return QOM_NONE;
			memcpy(buf, p, len);
			buf[len] = '\0';
			if (sscanf(buf, "device[%d%c", &i, &tail) != 2 || tail != ']' ||
			    strcmp(strchr(buf, ']'), "]") || i < 0 || i >= nr_cpus(c))
				return QOM_NONE;
			*cpu = i;
			node = QOM_CPU;
		} else {
			return QOM_NONE;
		}
		depth++;
	}
	return node;
}

static const char *node_type(enum qom_node n)
{
	switch (n) {
	case QOM_MACHINE:
		return QMP_MACHINE_TYPE;
	case QOM_CPU:
		return QMP_CPU_TYPE;
	default:
		return "container";
	}
}

static const struct qom_prop *node_props(enum qom_node n)
{
	switch (n) {
	case QOM_ROOT:
		return root_props;
	case QOM_MACHINE:
		return machine_props;
	case QOM_CPU:
		return cpu_props;
	default:
		return container_props;
	}
}

static enum qom_node lookup(struct qmp_call *c, const char *path, int *cpu)
{
	enum qom_node n = resolve(c, path, cpu);

	if (n == QOM_NONE)
		c->error = qmp_error_new(QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
	return n;
}

void qmp_cmd_qom_list(struct qmp_call *c)
{
	const char *path = "";
	const struct qom_prop *p;
	enum qom_node n;
	int cpu = 0, i, ncpu;

	qmp_arg_str(c->args, "path", &path);
	n = lookup(c, path, &cpu);
	if (n == QOM_NONE)
		return;
	c->ret = json_object_new_array();
	for (p = node_props(n); c->ret && p->name; p++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(p->name));
		json_object_object_add(o, "type", json_object_new_string(p->type));
		json_object_array_add(c->ret, o);
	}
	if (n != QOM_UNATTACHED || !c->ret)
		return;
	ncpu = nr_cpus(c);
	for (i = 0; i < ncpu; i++) {
		json_object *o = json_object_new_object();
		char name[32];

		snprintf(name, sizeof(name), "device[%d]", i);
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "type",
				       json_object_new_string("child<" QMP_CPU_TYPE ">"));
		json_object_array_add(c->ret, o);
	}
}

void qmp_cmd_qom_get(struct qmp_call *c)
{
	const char *path = "", *prop = "";
	const struct qom_prop *p;
	enum qom_node n;
	int cpu = 0;

	qmp_arg_str(c->args, "path", &path);
	qmp_arg_str(c->args, "property", &prop);
	n = lookup(c, path, &cpu);
	if (n == QOM_NONE)
		return;
	for (p = node_props(n); p->name && strcmp(p->name, prop); p++)
		;
	if (!p->name || !strncmp(p->type, "child<", 6)) {
		/* QEMU reads a child property as its path; we list children only. */
		if (p->name) {
			char child[64];

			snprintf(child, sizeof(child), "%s/%s", n == QOM_ROOT ? "" : "/machine",
				 p->name);
			c->ret = json_object_new_string(child);
			return;
		}
		qmp_call_fail(c, "Property '%s.%s' not found", node_type(n), prop);
		return;
	}
	if (!strcmp(prop, "type"))
		c->ret = json_object_new_string(node_type(n));
	else if (!strcmp(prop, "realized"))
		c->ret = json_object_new_boolean(true);
	else if (!strcmp(prop, "core-id"))
		c->ret = json_object_new_int(cpu);
	else
		c->ret = json_object_new_int(0); /* socket-id, thread-id */
}

// SPDX-License-Identifier: MIT
/*
 * The live-migration commands, with QEMU's names, arguments, units and
 * result members (qapi/migration.json): migrate, migrate-incoming,
 * migrate_cancel, query-migrate, migrate-set-parameters,
 * query-migrate-parameters, migrate-set-capabilities,
 * query-migrate-capabilities.  docs/migration.md says where vmm differs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp_args.h"
#include "qmp/qmp_dispatch.h"

bool qmp_have_migrate(const struct qmp_backend *be)
{
	return be->migrate && be->migrate_cancel && be->query_migrate &&
	       be->migrate_set_parameters && be->query_migrate_parameters &&
	       be->migrate_set_capabilities && be->query_migrate_capabilities;
}

bool qmp_have_migrate_incoming(const struct qmp_backend *be)
{
	return be->migrate_incoming;
}

/* --- migrate, migrate-incoming, migrate_cancel ------------------------------ */

/* QEMU 7.2's members; blk, inc and resume name features vmm lacks. */
const struct qmp_arg qmp_migrate_args[] = {
    {"uri", QMP_ARG_STR, false, NULL},	  {"blk", QMP_ARG_BOOL, true, NULL},
    {"inc", QMP_ARG_BOOL, true, NULL},	  {"detach", QMP_ARG_BOOL, true, NULL},
    {"resume", QMP_ARG_BOOL, true, NULL}, {.name = NULL},
};

void qmp_cmd_migrate(struct qmp_call *c)
{
	char err[QMP_ERR_MAX] = "";
	const char *uri = NULL;
	bool blk = false, inc = false, resume = false;
	int r;

	qmp_arg_str(c->args, "uri", &uri);
	qmp_arg_bool(c->args, "blk", &blk);
	qmp_arg_bool(c->args, "inc", &inc);
	qmp_arg_bool(c->args, "resume", &resume);
	if (blk || inc) {
		qmp_call_fail(c, "vmm has no block devices: blk and inc are not supported");
		return;
	}
	if (resume) {
		qmp_call_fail(c, "Cannot resume if there is no paused migration");
		return;
	}
	r = c->be->migrate(c->be->opaque, uri, err, sizeof(err));
	if (r < 0)
		qmp_call_fail_backend(c, r, err);
	else
		c->ret = json_object_new_object();
}

const struct qmp_arg qmp_migrate_incoming_args[] = {
    {"uri", QMP_ARG_STR, false, NULL},
    {.name = NULL},
};

void qmp_cmd_migrate_incoming(struct qmp_call *c)
{
	char err[QMP_ERR_MAX] = "";
	const char *uri = NULL;
	int r;

	qmp_arg_str(c->args, "uri", &uri);
	r = c->be->migrate_incoming(c->be->opaque, uri, err, sizeof(err));
	if (r < 0)
		qmp_call_fail_backend(c, r, err);
	else
		c->ret = json_object_new_object();
}

void qmp_cmd_migrate_cancel(struct qmp_call *c)
{
	c->be->migrate_cancel(c->be->opaque);
	c->ret = json_object_new_object();
}

/* --- query-migrate ----------------------------------------------------------------- */

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v));
}

/* Member order as QEMU 8.1 sends it (migration.c, populate_ram_info). */
void qmp_cmd_query_migrate(struct qmp_call *c)
{
	struct qmp_migrate_info *i = calloc(1, sizeof(*i));
	json_object *ret = NULL, *ram;

	if (!i)
		return;
	c->be->query_migrate(c->be->opaque, i);
	ret = json_object_new_object();
	if (!ret || !i->status)
		goto out;
	json_object_object_add(ret, "status", json_object_new_string(i->status));
	if (i->has_ram) {
		ram = json_object_new_object();
		add_u64(ram, "transferred", i->transferred);
		add_u64(ram, "remaining", i->remaining);
		add_u64(ram, "total", i->total);
		add_u64(ram, "duplicate", i->duplicate);
		add_u64(ram, "skipped", 0);
		add_u64(ram, "normal", i->normal);
		add_u64(ram, "normal-bytes", i->normal_bytes);
		add_u64(ram, "dirty-pages-rate", i->dirty_pages_rate);
		json_object_object_add(ram, "mbps", json_object_new_double(i->mbps));
		add_u64(ram, "dirty-sync-count", i->dirty_sync_count);
		add_u64(ram, "postcopy-requests", 0);
		add_u64(ram, "page-size", 4096);
		add_u64(ram, "multifd-bytes", 0);
		add_u64(ram, "pages-per-second", i->pages_per_second);
		add_u64(ram, "precopy-bytes", i->precopy_bytes);
		add_u64(ram, "downtime-bytes", i->downtime_bytes);
		add_u64(ram, "postcopy-bytes", 0);
		add_u64(ram, "dirty-sync-missed-zero-copy", 0);
		json_object_object_add(ret, "ram", ram);
	}
	if (i->has_times)
		add_u64(ret, "total-time", i->total_time_ms);
	if (i->has_expected_downtime)
		add_u64(ret, "expected-downtime", i->expected_downtime_ms);
	if (i->has_downtime)
		add_u64(ret, "downtime", i->downtime_ms);
	if (i->has_times)
		add_u64(ret, "setup-time", i->setup_time_ms);
	if (i->has_throttle)
		add_u64(ret, "cpu-throttle-percentage", i->cpu_throttle_percentage);
	if (i->error_desc)
		json_object_object_add(ret, "error-desc", json_object_new_string(i->error_desc));
	if (i->has_dirty_limit) {
		add_u64(ret, "dirty-limit-throttle-time-per-round",
			i->dl_throttle_time_per_round_us);
		add_u64(ret, "dirty-limit-ring-full-time", i->dl_ring_full_time_us);
	}
	if (i->note)
		json_object_object_add(ret, "x-note", json_object_new_string(i->note));
out:
	c->ret = ret;
	free(i);
}

/* --- parameters ------------------------------------------------------------------------ */

static const char *const param_names[QMP_MP_COUNT] = {
    [QMP_MP_MAX_BANDWIDTH] = "max-bandwidth",
    [QMP_MP_DOWNTIME_LIMIT] = "downtime-limit",
    [QMP_MP_THROTTLE_TRIGGER_THRESHOLD] = "throttle-trigger-threshold",
    [QMP_MP_CPU_THROTTLE_INITIAL] = "cpu-throttle-initial",
    [QMP_MP_CPU_THROTTLE_INCREMENT] = "cpu-throttle-increment",
    [QMP_MP_CPU_THROTTLE_TAILSLOW] = "cpu-throttle-tailslow",
    [QMP_MP_MAX_CPU_THROTTLE] = "max-cpu-throttle",
    [QMP_MP_X_VCPU_DIRTY_LIMIT_PERIOD] = "x-vcpu-dirty-limit-period",
    [QMP_MP_VCPU_DIRTY_LIMIT] = "vcpu-dirty-limit",
    [QMP_MP_X_IO_TIMEOUT] = "x-io-timeout",
    [QMP_MP_X_DIGEST_AUDIT] = "x-digest-audit",
};

/* In QEMU's schema order (MigrateSetParameters). */
const struct qmp_arg qmp_migrate_set_parameters_args[] = {
    {"throttle-trigger-threshold", QMP_ARG_UINT, true, NULL},
    {"cpu-throttle-initial", QMP_ARG_UINT, true, NULL},
    {"cpu-throttle-increment", QMP_ARG_UINT, true, NULL},
    {"cpu-throttle-tailslow", QMP_ARG_BOOL, true, NULL},
    {"max-bandwidth", QMP_ARG_UINT, true, NULL},
    {"downtime-limit", QMP_ARG_UINT, true, NULL},
    {"max-cpu-throttle", QMP_ARG_UINT, true, NULL},
    {"x-vcpu-dirty-limit-period", QMP_ARG_UINT, true, NULL},
    {"vcpu-dirty-limit", QMP_ARG_UINT, true, NULL},
    {"tls-creds", QMP_ARG_STR, true, NULL},
    /* Ours (QEMU has none): after QEMU's members. */
    {"x-io-timeout", QMP_ARG_UINT, true, NULL},
    {"x-digest-audit", QMP_ARG_UINT, true, NULL},
    {.name = NULL},
};

void qmp_cmd_migrate_set_parameters(struct qmp_call *c)
{
	struct qmp_migrate_params p;
	char err[QMP_ERR_MAX] = "";
	int r;

	memset(&p, 0, sizeof(p));
	for (int k = 0; k < QMP_MP_COUNT; k++) {
		if (k == QMP_MP_CPU_THROTTLE_TAILSLOW) {
			bool b = false;

			p.has[k] = qmp_arg_bool(c->args, param_names[k], &b);
			p.v[k] = b;
		} else {
			p.has[k] = qmp_arg_uint(c->args, param_names[k], &p.v[k]);
		}
	}
	{
		const char *tls = NULL;

		p.has_tls_creds = qmp_arg_str(c->args, "tls-creds", &tls);
		if (p.has_tls_creds && strlen(tls) > QMP_TLS_CREDS_MAX) {
			qmp_call_fail(c, "Parameter 'tls-creds' is longer than %d characters",
				      QMP_TLS_CREDS_MAX);
			return;
		}
		if (p.has_tls_creds)
			snprintf(p.tls_creds, sizeof(p.tls_creds), "%s", tls);
	}
	r = c->be->migrate_set_parameters(c->be->opaque, &p, err, sizeof(err));
	if (r < 0)
		qmp_call_fail_backend(c, r, err);
	else
		c->ret = json_object_new_object();
}

void qmp_cmd_query_migrate_parameters(struct qmp_call *c)
{
	struct qmp_migrate_params p;

	memset(&p, 0, sizeof(p));
	c->be->query_migrate_parameters(c->be->opaque, &p);
	c->ret = json_object_new_object();
	for (int k = 0; c->ret && k < QMP_MP_COUNT; k++) {
		if (!p.has[k] || k >= QMP_MP_X_IO_TIMEOUT)
			continue;
		if (k == QMP_MP_CPU_THROTTLE_TAILSLOW)
			json_object_object_add(c->ret, param_names[k],
					       json_object_new_boolean(p.v[k] != 0));
		else
			add_u64(c->ret, param_names[k], p.v[k]);
	}
	if (c->ret && p.has_tls_creds)
		json_object_object_add(c->ret, "tls-creds", json_object_new_string(p.tls_creds));
	/* Ours, after QEMU's members. */
	for (int k = QMP_MP_X_IO_TIMEOUT; c->ret && k < QMP_MP_COUNT; k++)
		if (p.has[k])
			add_u64(c->ret, param_names[k], p.v[k]);
}

/* --- capabilities ---------------------------------------------------------------------- */

/* QEMU 8.1's MigrationCapability, in its order; those we implement map to ours. */
static const struct {
	const char *name;
	int ours; /* enum qmp_migrate_cap, or -1 */
} qemu_caps[] = {
    {"xbzrle", -1},
    {"rdma-pin-all", -1},
    {"auto-converge", QMP_MC_AUTO_CONVERGE},
    {"zero-blocks", -1},
    {"compress", -1},
    {"events", QMP_MC_EVENTS},
    {"postcopy-ram", -1},
    {"x-colo", -1},
    {"release-ram", -1},
    {"block", -1},
    {"return-path", -1},
    {"pause-before-switchover", -1},
    {"multifd", -1},
    {"dirty-bitmaps", -1},
    {"postcopy-blocktime", -1},
    {"late-block-activate", -1},
    {"x-ignore-shared", -1},
    {"validate-uuid", -1},
    {"background-snapshot", -1},
    {"zero-copy-send", -1},
    {"postcopy-preempt", -1},
    {"switchover-ack", -1},
    {"dirty-limit", QMP_MC_DIRTY_LIMIT},
};
#define NR_QEMU_CAPS (sizeof(qemu_caps) / sizeof(qemu_caps[0]))

const struct qmp_arg qmp_migrate_set_capabilities_args[] = {
    {"capabilities", QMP_ARG_ARRAY, false, NULL},
    {.name = NULL},
};

void qmp_cmd_migrate_set_capabilities(struct qmp_call *c)
{
	json_object *list = qmp_arg_get(c->args, "capabilities");
	size_t n = list ? json_object_array_length(list) : 0;
	struct qmp_migrate_caps caps;
	char err[QMP_ERR_MAX] = "";
	int r;

	memset(&caps, 0, sizeof(caps));
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(list, i), *cap, *state;
		const char *name;
		size_t k;

		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "capability", &cap) ||
		    !json_object_object_get_ex(e, "state", &state)) {
			qmp_call_fail(c,
				      "Parameter 'capabilities[%zu]' expects an object with "
				      "'capability' and 'state'",
				      i);
			return;
		}
		if (!json_object_is_type(cap, json_type_string)) {
			qmp_call_fail(c,
				      "Invalid parameter type for 'capabilities[%zu].capability', "
				      "expected: string",
				      i);
			return;
		}
		if (!json_object_is_type(state, json_type_boolean)) {
			qmp_call_fail(c,
				      "Invalid parameter type for 'capabilities[%zu].state', "
				      "expected: boolean",
				      i);
			return;
		}
		if (json_object_object_length(e) != 2) {
			qmp_call_fail(c, "Parameter 'capabilities[%zu]' has unexpected members", i);
			return;
		}
		name = json_object_get_string(cap);
		for (k = 0; k < NR_QEMU_CAPS && strcmp(qemu_caps[k].name, name); k++)
			;
		if (k == NR_QEMU_CAPS) {
			qmp_call_fail(c, "Parameter 'capability' does not accept value '%s'", name);
			return;
		}
		if (qemu_caps[k].ours < 0) {
			if (json_object_get_boolean(state)) {
				qmp_call_fail(
				    c, "Migration capability '%s' is not supported by vmm", name);
				return;
			}
			continue;
		}
		caps.has[qemu_caps[k].ours] = true;
		caps.on[qemu_caps[k].ours] = json_object_get_boolean(state);
	}
	r = c->be->migrate_set_capabilities(c->be->opaque, &caps, err, sizeof(err));
	if (r < 0)
		qmp_call_fail_backend(c, r, err);
	else
		c->ret = json_object_new_object();
}

/* Every QEMU capability, in QEMU's order: ours as set, the others false. */
void qmp_cmd_query_migrate_capabilities(struct qmp_call *c)
{
	struct qmp_migrate_caps caps;

	memset(&caps, 0, sizeof(caps));
	c->be->query_migrate_capabilities(c->be->opaque, &caps);
	c->ret = json_object_new_array();
	for (size_t k = 0; c->ret && k < NR_QEMU_CAPS; k++) {
		json_object *o = json_object_new_object();
		int ours = qemu_caps[k].ours;

		json_object_object_add(o, "capability", json_object_new_string(qemu_caps[k].name));
		json_object_object_add(o, "state",
				       json_object_new_boolean(ours >= 0 && caps.on[ours]));
		json_object_array_add(c->ret, o);
	}
}

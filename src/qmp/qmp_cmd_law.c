// SPDX-License-Identifier: MIT
/*
 * Our x-set-dirty-limit-law and x-query-dirty-limit-law: which control law
 * the dirty limiter applies (--dirty-limit-law, docs/dirtylimit.md), at run
 * time.  The x- prefix is QEMU's convention for unstable interfaces.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qmp/qmp_args.h"
#include "qmp/qmp_dispatch.h"

/*
 * The longest tuning period, as QEMU's x-vcpu-dirty-limit-period (1 s):
 * a law tuned less often than that cannot follow a guest.  0 asks for the
 * law's own period.
 */
#define QMP_LAW_PERIOD_MAX_MS 1000

/* Room for a law spec with its options ("linear:step=...,ki=...,..."). */
#define QMP_LAW_SPEC_MAX 128

const struct qmp_arg qmp_set_law_args[] = {
    {"law", QMP_ARG_STR, false, NULL},
    {"period-ms", QMP_ARG_INT, true, NULL},
    {.name = NULL},
};

void qmp_cmd_x_set_dirty_limit_law(struct qmp_call *c)
{
	char err[QMP_ERR_MAX] = "";
	const char *law = "";
	int64_t period = -1;
	int r;

	qmp_arg_str(c->args, "law", &law);
	if (qmp_arg_int(c->args, "period-ms", &period) &&
	    (period < 0 || period > QMP_LAW_PERIOD_MAX_MS)) {
		qmp_call_fail(
		    c,
		    "Parameter 'period-ms' expects a period from 1 to %d ms, or 0 for the law's own",
		    QMP_LAW_PERIOD_MAX_MS);
		return;
	}
	r = c->be->set_dirty_limit_law(c->be->opaque, law, period, err, sizeof(err));
	if (r < 0)
		qmp_call_fail_backend(c, r, err);
	else
		c->ret = json_object_new_object();
}

void qmp_cmd_x_query_dirty_limit_law(struct qmp_call *c)
{
	char law[QMP_LAW_SPEC_MAX] = "";
	uint64_t period = 0;
	int r = c->be->query_dirty_limit_law(c->be->opaque, law, sizeof(law), &period);

	if (r < 0) {
		qmp_call_fail(c, "%s", strerror(-r));
		return;
	}
	c->ret = json_object_new_object();
	json_object_object_add(c->ret, "law", json_object_new_string(law));
	json_object_object_add(c->ret, "period-ms", json_object_new_uint64(period));
}

// SPDX-License-Identifier: MIT
/* QMP request handling without sockets: every command, every bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qmp/qmp.h"
#include "qmp/qmp_args.h"
#include "qmp/qmp_dispatch.h"
#include "test_qmp_fake.h"

struct ctx {
	struct fake fake;
	struct qmp_backend be;
	struct qmp_session s;
	json_object *reply; /* the last one, freed by the next call */
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	fake_init(&c->fake);
	c->be = fake_backend(&c->fake);
	*state = c;
	return 0;
}

static int setup_negotiated(void **state)
{
	setup(state);
	((struct ctx *)*state)->s.negotiated = true;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	json_object_put(c->reply);
	fake_destroy(&c->fake);
	free(c);
	return 0;
}

/* Send one line; returns the reply (owned by c). */
static json_object *req(struct ctx *c, const char *line)
{
	json_object_put(c->reply);
	c->reply = NULL;
	assert_int_equal(qmp_dispatch_line(&c->be, &c->s, line, strlen(line), &c->reply), 0);
	return c->reply;
}

/* o at a path of member names and array indices: "return.vcpu-dirty-rate.1.id". */
static json_object *at(json_object *o, const char *path)
{
	char buf[256], *save = NULL, *seg;

	snprintf(buf, sizeof(buf), "%s", path);
	for (seg = strtok_r(buf, ".", &save); o && seg; seg = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, atoi(seg));
		else if (!json_object_object_get_ex(o, seg, &o))
			o = NULL;
	}
	return o;
}

static bool has(json_object *o, const char *path)
{
	return at(o, path) != NULL;
}

static const char *str(json_object *o, const char *path)
{
	json_object *v = at(o, path);

	assert_non_null(v);
	return json_object_get_string(v);
}

static int64_t num(json_object *o, const char *path)
{
	json_object *v = at(o, path);

	assert_non_null(v);
	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

static void expect_error(json_object *r, const char *klass, const char *desc)
{
	assert_non_null(r);
	assert_false(has(r, "return"));
	assert_string_equal(str(r, "error.class"), klass);
	assert_string_equal(str(r, "error.desc"), desc);
}

static void expect_generic(json_object *r, const char *desc)
{
	expect_error(r, QMP_ERROR_GENERIC, desc);
}

/* A {"return": {}} reply. */
static void expect_empty_return(json_object *r)
{
	assert_non_null(r);
	assert_false(has(r, "error"));
	assert_true(json_object_is_type(at(r, "return"), json_type_object));
	assert_int_equal(json_object_object_length(at(r, "return")), 0);
}

/* --- greeting, negotiation, envelope --------------------------------------- */

static void test_greeting(void **state)
{
	json_object *g = qmp_greeting();

	assert_int_equal(num(g, "QMP.version.qemu.major"), 0);
	assert_int_equal(num(g, "QMP.version.qemu.minor"), 1);
	assert_int_equal(num(g, "QMP.version.qemu.micro"), 0);
	assert_string_equal(str(g, "QMP.version.package"), "vmm 0.1.0");
	assert_true(json_object_is_type(at(g, "QMP.capabilities"), json_type_array));
	assert_int_equal(json_object_array_length(at(g, "QMP.capabilities")), 0);
	json_object_put(g);
}

static void test_needs_negotiation(void **state)
{
	struct ctx *c = *state;
	const char *expecting = "Expecting capabilities negotiation with 'qmp_capabilities'";

	expect_error(req(c, "{\"execute\": \"query-status\"}"), QMP_ERROR_NOT_FOUND, expecting);
	expect_error(req(c, "{\"execute\": \"no-such\"}"), QMP_ERROR_NOT_FOUND, expecting);
	expect_error(req(c, "{\"execute\": \"stop\", \"id\": 7}"), QMP_ERROR_NOT_FOUND, expecting);
	assert_int_equal(num(c->reply, "id"), 7);
	assert_int_equal(fake_get(&c->fake, &c->fake.stops), 0);
	/* Malformed input keeps its own error, as in QEMU. */
	expect_generic(req(c, "{\"arguments\": {}}"), "QMP input lacks member 'execute'");

	expect_empty_return(req(c, "{\"execute\": \"qmp_capabilities\"}"));
	assert_true(c->s.negotiated);
	expect_error(req(c, "{\"execute\": \"qmp_capabilities\"}"), QMP_ERROR_NOT_FOUND,
		     "Capabilities negotiation is already complete, command ignored");
	assert_string_equal(str(req(c, "{\"execute\": \"query-status\"}"), "return.status"),
			    "running");
}

static void test_capabilities_enable(void **state)
{
	struct ctx *c = *state;

	expect_generic(req(c, "{\"execute\": \"qmp_capabilities\", "
			      "\"arguments\": {\"enable\": [\"oob\"]}}"),
		       "Capability 'oob' not available");
	assert_false(c->s.negotiated);
	expect_generic(
	    req(c, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": 1}}"),
	    "Invalid parameter type for 'enable', expected: array");
	expect_empty_return(
	    req(c, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}}"));
	assert_true(c->s.negotiated);
}

static void test_id_echo(void **state)
{
	struct ctx *c = *state;

	req(c, "{\"execute\": \"query-version\", \"id\": \"abc\"}");
	assert_string_equal(str(c->reply, "id"), "abc");
	req(c, "{\"id\": {\"n\": [1, 2]}, \"execute\": \"query-version\"}");
	assert_int_equal(num(c->reply, "id.n.1"), 2);
	/* Errors carry it too. */
	req(c, "{\"execute\": \"nope\", \"id\": 42}");
	assert_int_equal(num(c->reply, "id"), 42);
	req(c, "{\"execute\": \"stop\", \"arguments\": {\"x\": 1}, \"id\": null}");
	assert_true(has(c->reply, "error"));
	/* An id of null is still present. */
	assert_true(json_object_object_get_ex(c->reply, "id", NULL));
	/* No id, no id member. */
	req(c, "{\"execute\": \"query-version\"}");
	assert_false(json_object_object_get_ex(c->reply, "id", NULL));
}

static void test_malformed_json(void **state)
{
	struct ctx *c = *state;
	static const char *const bad[] = {
	    "{\"execute\": ",
	    "{\"execute\" \"stop\"}",
	    "nonsense",
	    "{\"execute\": \"stop\"} trailing",
	    "{\"execute\": \"stop\"}{\"execute\": \"cont\"}",
	    "]",
	    /* Not UTF-8: a lone continuation byte, a truncated sequence. */
	    "{\"execute\": \"st\x80op\"}",
	    "{\"execute\": \"stop\", \"id\": \"\xe2\x82\"}",
	};
	char deep[2 * QMP_JSON_MAX_DEPTH + 8];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req(c, bad[i]);
		assert_string_equal(str(c->reply, "error.class"), QMP_ERROR_GENERIC);
		assert_memory_equal(str(c->reply, "error.desc"), "JSON parse error, ", 18);
		assert_false(has(c->reply, "id"));
	}
	assert_int_equal(fake_get(&c->fake, &c->fake.stops), 0);
	/* An embedded NUL. */
	json_object_put(c->reply);
	assert_int_equal(qmp_dispatch_line(&c->be, &c->s, "{\"a\0\": 1}", 9, &c->reply), 0);
	expect_generic(c->reply, "JSON parse error, NUL byte in input");
	/* Too deep. */
	memset(deep, '[', QMP_JSON_MAX_DEPTH + 2);
	memset(deep + QMP_JSON_MAX_DEPTH + 2, ']', QMP_JSON_MAX_DEPTH + 2);
	deep[2 * QMP_JSON_MAX_DEPTH + 4] = '\0';
	assert_memory_equal(str(req(c, deep), "error.desc"), "JSON parse error, ", 18);
}

static void test_blank_line(void **state)
{
	struct ctx *c = *state;

	assert_null(req(c, ""));
	assert_null(req(c, "   \t \r"));
}

static void test_not_an_object(void **state)
{
	struct ctx *c = *state;
	static const char *const bad[] = {"[1, 2]", "42", "\"execute\"", "null", "true"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_generic(req(c, bad[i]), "QMP input must be a JSON object");
}

static void test_envelope(void **state)
{
	struct ctx *c = *state;

	expect_generic(req(c, "{}"), "QMP input lacks member 'execute'");
	expect_generic(req(c, "{\"id\": 1}"), "QMP input lacks member 'execute'");
	expect_generic(req(c, "{\"execute\": 1}"), "QMP input member 'execute' must be a string");
	expect_generic(req(c, "{\"execute\": \"stop\", \"arguments\": []}"),
		       "QMP input member 'arguments' must be an object");
	expect_generic(req(c, "{\"execute\": \"stop\", \"exec-oob\": \"stop\"}"),
		       "QMP input member 'exec-oob' is unexpected");
	expect_error(req(c, "{\"execute\": \"no-such-command\"}"), QMP_ERROR_NOT_FOUND,
		     "The command no-such-command has not been found");
	/* Single quotes, a QEMU extension json-c shares. */
	assert_true(has(req(c, "{'execute': 'query-version'}"), "return.qemu"));
}

static void test_arguments(void **state)
{
	struct ctx *c = *state;

	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\"}"),
		       "Parameter 'calc-time' is missing");
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": {}}"),
		       "Parameter 'calc-time' is missing");
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", "
			      "\"arguments\": {\"calc-time\": \"1\"}}"),
		       "Invalid parameter type for 'calc-time', expected: integer");
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", "
			      "\"arguments\": {\"calc-time\": 1.5}}"),
		       "Invalid parameter type for 'calc-time', expected: integer");
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", "
			      "\"arguments\": {\"calc-time\": 18446744073709551615}}"),
		       "Parameter 'calc-time' expects int64");
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", "
			      "\"arguments\": {\"calc-time\": 1, \"mode\": 3}}"),
		       "Invalid parameter type for 'mode', expected: string");
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", "
			      "\"arguments\": {\"calc-time\": 1, \"mode\": \"fast\"}}"),
		       "Parameter 'mode' does not accept value 'fast'");
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", "
			      "\"arguments\": {\"calc-time\": 1, \"calc-time-unit\": \"hour\"}}"),
		       "Parameter 'calc-time-unit' does not accept value 'hour'");
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", "
			      "\"arguments\": {\"calc-time\": 1, \"extra\": true}}"),
		       "Parameter 'extra' is unexpected");
	expect_generic(req(c, "{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}"),
		       "Parameter 'x' is unexpected");
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
			      "\"arguments\": {\"cpu-index\": \"0\", \"dirty-rate\": 1}}"),
		       "Invalid parameter type for 'cpu-index', expected: integer");
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
			      "\"arguments\": {\"dirty-rate\": -1}}"),
		       "Parameter 'dirty-rate' expects uint64");
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
			      "\"arguments\": {\"dirty-rate\": true}}"),
		       "Invalid parameter type for 'dirty-rate', expected: integer");
	/* A present null is a wrong type, not an absent member. */
	expect_generic(req(c, "{\"execute\": \"cancel-vcpu-dirty-limit\", "
			      "\"arguments\": {\"cpu-index\": null}}"),
		       "Invalid parameter type for 'cpu-index', expected: integer");
	/* Missing is reported before unexpected, as QEMU's visitor does. */
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", \"arguments\": {\"x\": 1}}"),
		       "Parameter 'dirty-rate' is missing");
	assert_int_equal(fake_get(&c->fake, &c->fake.calcs), 0);
}

/* --- commands -------------------------------------------------------------- */

static void test_query_status_stop_cont(void **state)
{
	struct ctx *c = *state;

	req(c, "{\"execute\": \"query-status\"}");
	assert_string_equal(str(c->reply, "return.status"), "running");
	assert_true(json_object_get_boolean(at(c->reply, "return.running")));
	assert_false(json_object_get_boolean(at(c->reply, "return.singlestep")));

	expect_empty_return(req(c, "{\"execute\": \"stop\"}"));
	assert_int_equal(fake_get(&c->fake, &c->fake.stops), 1);
	req(c, "{\"execute\": \"query-status\"}");
	assert_string_equal(str(c->reply, "return.status"), "paused");
	assert_false(json_object_get_boolean(at(c->reply, "return.running")));

	expect_empty_return(req(c, "{\"execute\": \"cont\"}"));
	assert_int_equal(fake_get(&c->fake, &c->fake.conts), 1);
	assert_string_equal(str(req(c, "{\"execute\": \"query-status\"}"), "return.status"),
			    "running");

	/* Backend failures: its message, or strerror() without one. */
	c->fake.fail_errno = EBUSY;
	c->fake.fail_msg = "migration in progress";
	expect_generic(req(c, "{\"execute\": \"stop\"}"), "migration in progress");
	c->fake.fail_errno = EBUSY;
	expect_generic(req(c, "{\"execute\": \"cont\"}"), strerror(EBUSY));
}

static void test_quit(void **state)
{
	struct ctx *c = *state;

	expect_empty_return(req(c, "{\"execute\": \"quit\"}"));
	/* The server calls the backend once the reply is out. */
	assert_true(c->s.quit_requested);
	assert_int_equal(fake_get(&c->fake, &c->fake.quits), 0);
}

static void test_query_cpus_fast(void **state)
{
	struct ctx *c = *state;
	json_object *r = req(c, "{\"execute\": \"query-cpus-fast\"}");

	assert_int_equal(json_object_array_length(at(r, "return")), FAKE_CPUS);
	assert_int_equal(num(r, "return.1.cpu-index"), 1);
	assert_int_equal(num(r, "return.1.thread-id"), 1001);
	assert_string_equal(str(r, "return.1.qom-path"), "/machine/unattached/device[1]");
	assert_string_equal(str(r, "return.0.target"), "x86_64");
}

static void test_query_version(void **state)
{
	struct ctx *c = *state;
	json_object *r = req(c, "{\"execute\": \"query-version\"}");

	assert_int_equal(num(r, "return.qemu.minor"), 1);
	assert_string_equal(str(r, "return.package"), "vmm 0.1.0");
}

static bool listed(json_object *arr, const char *name)
{
	size_t i;

	for (i = 0; i < json_object_array_length(arr); i++)
		if (!strcmp(str(json_object_array_get_idx(arr, i), "name"), name))
			return true;
	return false;
}

static void test_query_commands(void **state)
{
	struct ctx *c = *state;
	static const char *const all[] = {
	    "qmp_capabilities",
	    "query-status",
	    "stop",
	    "cont",
	    "quit",
	    "query-version",
	    "query-commands",
	    "query-cpus-fast",
	    "calc-dirty-rate",
	    "query-dirty-rate",
	    "x-query-guest-stats",
	    "set-vcpu-dirty-limit",
	    "cancel-vcpu-dirty-limit",
	    "query-vcpu-dirty-limit",
	};
	json_object *r = req(c, "{\"execute\": \"query-commands\"}");
	size_t i;

	assert_int_equal(json_object_array_length(at(r, "return")), sizeof(all) / sizeof(all[0]));
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		assert_true(listed(at(r, "return"), all[i]));
}

static void test_missing_callbacks(void **state)
{
	struct ctx *c = *state;
	struct qmp_backend minimal = {.opaque = &c->fake, .status = c->be.status};
	json_object *r;

	c->be = minimal;
	r = req(c, "{\"execute\": \"query-commands\"}");
	assert_true(listed(at(r, "return"), "query-status"));
	assert_true(listed(at(r, "return"), "query-version"));
	assert_false(listed(at(r, "return"), "stop"));
	assert_false(listed(at(r, "return"), "set-vcpu-dirty-limit"));
	expect_generic(req(c, "{\"execute\": \"stop\"}"),
		       "The command stop has been disabled for this instance");
	expect_generic(req(c, "{\"execute\": \"query-dirty-rate\"}"),
		       "The command query-dirty-rate has been disabled for this instance");
}

static void test_calc_dirty_rate(void **state)
{
	struct ctx *c = *state;
	char range[80];

	snprintf(range, sizeof(range), "Calculation time is out of range [%dms, %dms].",
		 QMP_CALC_TIME_MIN_MS, QMP_CALC_TIME_MAX_MS);
	expect_empty_return(
	    req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 2}}"));
	assert_int_equal(c->fake.calc_ms, 2000);
	assert_string_equal(c->fake.calc_mode, "dirty-ring");

	expect_empty_return(req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": "
				   "{\"calc-time\": 500, \"calc-time-unit\": \"millisecond\", "
				   "\"mode\": \"dirty-ring\"}}"));
	assert_int_equal(c->fake.calc_ms, 500);

	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": "
			      "{\"calc-time\": 0}}"),
		       range);
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": "
			      "{\"calc-time\": 61}}"),
		       range);
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": "
			      "{\"calc-time\": -5}}"),
		       range);
	/* Large enough to overflow if multiplied before the check. */
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": "
			      "{\"calc-time\": 9223372036854775}}"),
		       range);
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": "
			      "{\"calc-time\": 49, \"calc-time-unit\": \"millisecond\"}}"),
		       range);
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": "
			      "{\"calc-time\": 1, \"mode\": \"page-sampling\"}}"),
		       "mode page-sampling is not supported, only dirty-ring is");
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": "
			      "{\"calc-time\": 1, \"mode\": \"dirty-bitmap\"}}"),
		       "mode dirty-bitmap is not supported, only dirty-ring is");
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": "
			      "{\"calc-time\": 1, \"sample-pages\": 512}}"),
		       "sample-pages is used only in page-sampling mode");
	assert_int_equal(fake_get(&c->fake, &c->fake.calcs), 2);
}

static void test_query_dirty_rate(void **state)
{
	struct ctx *c = *state;
	json_object *r;

	r = req(c, "{\"execute\": \"query-dirty-rate\"}");
	assert_string_equal(str(r, "return.status"), "unstarted");
	assert_false(has(r, "return.dirty-rate"));
	assert_string_equal(str(r, "return.mode"), "dirty-ring");
	assert_int_equal(json_object_array_length(at(r, "return.vcpu-dirty-rate")), 0);

	req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 3}}");
	r = req(c, "{\"execute\": \"query-dirty-rate\"}");
	assert_string_equal(str(r, "return.status"), "measured");
	assert_int_equal(num(r, "return.dirty-rate"), 300);
	assert_int_equal(num(r, "return.start-time"), 1700000000);
	assert_int_equal(num(r, "return.calc-time"), 3);
	assert_string_equal(str(r, "return.calc-time-unit"), "second");
	assert_int_equal(num(r, "return.sample-pages"), 0);
	assert_int_equal(num(r, "return.page-size"), 4096);
	assert_int_equal(num(r, "return.vcpu-dirty-rate.1.id"), 1);
	assert_int_equal(num(r, "return.vcpu-dirty-rate.1.dirty-rate"), 200);

	r = req(c, "{\"execute\": \"query-dirty-rate\", "
		   "\"arguments\": {\"calc-time-unit\": \"millisecond\"}}");
	assert_int_equal(num(r, "return.calc-time"), 3000);
	assert_string_equal(str(r, "return.calc-time-unit"), "millisecond");
}

static void test_guest_stats(void **state)
{
	struct ctx *c = *state;
	json_object *r = req(c, "{\"execute\": \"x-query-guest-stats\"}");

	assert_int_equal(json_object_array_length(at(r, "return")), FAKE_CPUS);
	assert_int_equal(num(r, "return.1.cpu-index"), 1);
	assert_int_equal(num(r, "return.1.pages-written"), 5000000001);
	assert_int_equal(num(r, "return.0.bytes-read"), 7);
	assert_int_equal(num(r, "return.0.passes"), 3);
	assert_int_equal(num(r, "return.0.errors"), 0);
	assert_int_equal(num(r, "return.0.max-stall-us"), FAKE_MAX_STALL_US);
	assert_int_equal(num(r, "return.1.max-stall-us"), FAKE_MAX_STALL_US + 1);
	assert_int_equal(fake_get(&c->fake, &c->fake.stall_resets), 0);

	/* reset-max-stall: this reply still has the old maximum, the next one not. */
	r = req(c, "{\"execute\": \"x-query-guest-stats\", "
		   "\"arguments\": {\"reset-max-stall\": false}}");
	assert_int_equal(num(r, "return.1.max-stall-us"), FAKE_MAX_STALL_US + 1);
	assert_int_equal(fake_get(&c->fake, &c->fake.stall_resets), 0);
	r = req(c, "{\"execute\": \"x-query-guest-stats\", "
		   "\"arguments\": {\"reset-max-stall\": true}}");
	assert_int_equal(num(r, "return.1.max-stall-us"), FAKE_MAX_STALL_US + 1);
	assert_int_equal(fake_get(&c->fake, &c->fake.stall_resets), 1);
	r = req(c, "{\"execute\": \"x-query-guest-stats\"}");
	assert_int_equal(num(r, "return.0.max-stall-us"), 0);
	assert_int_equal(num(r, "return.1.max-stall-us"), 0);

	expect_generic(req(c, "{\"execute\": \"x-query-guest-stats\", "
			      "\"arguments\": {\"reset-max-stall\": 1}}"),
		       "Invalid parameter type for 'reset-max-stall', expected: boolean");
	expect_generic(req(c, "{\"execute\": \"x-query-guest-stats\", "
			      "\"arguments\": {\"reset\": true}}"),
		       "Parameter 'reset' is unexpected");
	assert_int_equal(fake_get(&c->fake, &c->fake.stall_resets), 1);
}

static void test_dirty_limit(void **state)
{
	struct ctx *c = *state;
	json_object *r;

	r = req(c, "{\"execute\": \"query-vcpu-dirty-limit\"}");
	assert_int_equal(json_object_array_length(at(r, "return")), 0);

	expect_empty_return(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
				   "\"arguments\": {\"dirty-rate\": 200}}"));
	assert_int_equal(c->fake.limit_cpu, -1);
	expect_empty_return(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
				   "\"arguments\": {\"cpu-index\": 1, \"dirty-rate\": 50}}"));
	assert_int_equal(c->fake.limit_cpu, 1);

	r = req(c, "{\"execute\": \"query-vcpu-dirty-limit\"}");
	assert_int_equal(json_object_array_length(at(r, "return")), 2);
	assert_int_equal(num(r, "return.0.cpu-index"), 0);
	assert_int_equal(num(r, "return.0.limit-rate"), 200);
	assert_int_equal(num(r, "return.0.current-rate"), 100);
	assert_int_equal(num(r, "return.1.limit-rate"), 50);

	expect_empty_return(req(c, "{\"execute\": \"cancel-vcpu-dirty-limit\", "
				   "\"arguments\": {\"cpu-index\": 0}}"));
	r = req(c, "{\"execute\": \"query-vcpu-dirty-limit\"}");
	assert_int_equal(json_object_array_length(at(r, "return")), 1);
	assert_int_equal(num(r, "return.0.cpu-index"), 1);

	/* As QEMU, a limit of 0 cancels. */
	expect_empty_return(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
				   "\"arguments\": {\"cpu-index\": 1, \"dirty-rate\": 0}}"));
	assert_int_equal(fake_get(&c->fake, &c->fake.cancels), 2);
	assert_int_equal(json_object_array_length(
			     at(req(c, "{\"execute\": \"query-vcpu-dirty-limit\"}"), "return")),
			 0);

	expect_empty_return(req(c, "{\"execute\": \"cancel-vcpu-dirty-limit\"}"));
	assert_int_equal(c->fake.limit_cpu, -1);

	/* Out of range: ours (negative, huge) and the backend's (>= vCPUs). */
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
			      "\"arguments\": {\"cpu-index\": -1, \"dirty-rate\": 5}}"),
		       "incorrect cpu index specified");
	expect_generic(req(c, "{\"execute\": \"cancel-vcpu-dirty-limit\", "
			      "\"arguments\": {\"cpu-index\": 4294967296}}"),
		       "incorrect cpu index specified");
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
			      "\"arguments\": {\"cpu-index\": 2, \"dirty-rate\": 5}}"),
		       "incorrect cpu index specified");
}

/* --- building blocks -------------------------------------------------------- */

static void test_event_and_line(void **state)
{
	struct timespec ts = {.tv_sec = 1234, .tv_nsec = 567891234};
	json_object *data = json_object_new_object(), *ev, *back;
	size_t len;
	char *line;

	json_object_object_add(data, "guest", json_object_new_boolean(false));
	json_object_object_add(data, "reason", json_object_new_string("host-qmp-quit"));
	ev = qmp_event_new("SHUTDOWN", data, &ts);
	assert_string_equal(str(ev, "event"), "SHUTDOWN");
	assert_string_equal(str(ev, "data.reason"), "host-qmp-quit");
	assert_int_equal(num(ev, "timestamp.seconds"), 1234);
	assert_int_equal(num(ev, "timestamp.microseconds"), 567891);

	line = qmp_to_line(ev, &len);
	assert_non_null(line);
	assert_int_equal(strlen(line), len);
	assert_string_equal(line + len - 2, "\r\n");
	assert_null(memchr(line, '\n', len - 1));
	back = json_tokener_parse(line);
	assert_string_equal(str(back, "data.reason"), "host-qmp-quit");
	json_object_put(back);
	free(line);
	json_object_put(ev);

	ev = qmp_event_new("STOP", NULL, &ts);
	assert_false(has(ev, "data"));
	json_object_put(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_greeting),
	    cmocka_unit_test_setup_teardown(test_needs_negotiation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capabilities_enable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_id_echo, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_json, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_blank_line, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_not_an_object, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_envelope, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_arguments, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_query_status_stop_cont, setup_negotiated,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_quit, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_query_cpus_fast, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_query_version, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_query_commands, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_callbacks, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_calc_dirty_rate, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_query_dirty_rate, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_guest_stats, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_dirty_limit, setup_negotiated, teardown),
	    cmocka_unit_test(test_event_and_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

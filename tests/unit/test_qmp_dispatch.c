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
	json_object *reply;	 /* the last one, freed by the next call */
	struct qmp_pending pend; /* a command under way after req() */
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
	if (c->pend.active)
		qmp_pending_drop(&c->pend);
	fake_destroy(&c->fake);
	free(c);
	return 0;
}

/*
 * text, cut as the server cuts it, must hold exactly one value (or one
 * parse error); returns its reply (owned by c), or NULL for blank text or
 * a command under way (then c->pend is active).
 */
static json_object *req(struct ctx *c, const char *text)
{
	char desc[QMP_JSON_ERR_MAX];
	struct qmp_json_in in;
	json_object *v = NULL;
	size_t used, len = strlen(text);
	int r;

	json_object_put(c->reply);
	c->reply = NULL;
	assert_false(c->pend.active);
	assert_int_equal(qmp_json_in_init(&in, QMP_MAX_REQUEST, QMP_JSON_MAX_DEPTH), 0);
	/* A trailing space ends a bare number, as the next byte would on the wire. */
	r = qmp_json_in_feed(&in, text, len, &used, &v, desc);
	if (r == QMP_JSON_MORE && used == len)
		r = qmp_json_in_feed(&in, " ", 1, &used, &v, desc);
	if (r == QMP_JSON_VALUE) {
		assert_true(used <= len);
		c->reply = qmp_dispatch(&c->be, &c->s, v, &c->pend);
		json_object_put(v);
		assert_true(c->reply || c->pend.active);
	} else if (r == QMP_JSON_ERROR) {
		c->reply = qmp_error_reply_new(QMP_ERROR_GENERIC, "%s", desc);
	} else {
		assert_false(qmp_json_in_partial(&in));
	}
	qmp_json_in_free(&in);
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
	assert_int_equal(json_object_array_length(at(g, "QMP.capabilities")), 1);
	assert_string_equal(str(g, "QMP.capabilities.0"), "oob");
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

	/* QEMU 7.2's words: its visitor names the list element 'null'. */
	expect_generic(req(c, "{\"execute\": \"qmp_capabilities\", "
			      "\"arguments\": {\"enable\": [\"foo\"]}}"),
		       "Parameter 'null' does not accept value 'foo'");
	expect_generic(req(c, "{\"execute\": \"qmp_capabilities\", "
			      "\"arguments\": {\"enable\": [7]}}"),
		       "Invalid parameter type for 'enable[0]', expected: string");
	assert_false(c->s.negotiated);
	expect_generic(
	    req(c, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": 1}}"),
	    "Invalid parameter type for 'enable', expected: array");
	expect_empty_return(
	    req(c, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}}"));
	assert_true(c->s.negotiated);
	assert_false(c->s.oob);
}

/* exec-oob, as QEMU 7.2 answers it. */
static void test_oob(void **state)
{
	struct ctx *c = *state;

	/* Before oob is enabled, exec-oob is an unknown member (its id comes back). */
	expect_empty_return(req(c, "{\"execute\": \"qmp_capabilities\"}"));
	expect_generic(req(c, "{\"exec-oob\": \"query-status\", \"id\": \"o\"}"),
		       "QMP input member 'exec-oob' is unexpected");
	assert_string_equal(str(c->reply, "id"), "o");
	{
		json_object *o = json_tokener_parse("{\"exec-oob\": \"x\"}");

		assert_true(qmp_request_is_oob(o));
		json_object_put(o);
	}

	memset(&c->s, 0, sizeof(c->s));
	expect_empty_return(req(c, "{\"execute\": \"qmp_capabilities\", "
				   "\"arguments\": {\"enable\": [\"oob\"]}}"));
	assert_true(c->s.oob);
	assert_string_equal(
	    str(req(c, "{\"exec-oob\": \"query-status\", \"id\": 5}"), "return.status"), "running");
	assert_int_equal(num(c->reply, "id"), 5);
	expect_generic(req(c, "{\"exec-oob\": \"stop\"}"), "The command stop does not support OOB");
	expect_generic(req(c, "{\"execute\": \"stop\", \"exec-oob\": \"stop\"}"),
		       "QMP input member 'execute' clashes with 'exec-oob'");
	expect_generic(req(c, "{\"exec-oob\": \"stop\", \"execute\": \"stop\"}"),
		       "QMP input member 'execute' clashes with 'exec-oob'");
	expect_generic(req(c, "{\"exec-oob\": 1}"), "QMP input member 'exec-oob' must be a string");
	expect_error(req(c, "{\"exec-oob\": \"nope\"}"), QMP_ERROR_NOT_FOUND,
		     "The command nope has not been found");
	assert_int_equal(fake_get(&c->fake, &c->fake.stops), 0);
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
	    "{\"execute\" \"stop\"}",
	    "nonsense",
	    "]",
	    "{\"execute\": \"stop\", \"id\": 1, \"id\": 2}",
	    /* Not UTF-8: a lone continuation byte, a truncated sequence, QEMU's NUL. */
	    "{\"execute\": \"st\x80op\"}",
	    "{\"execute\": \"stop\", \"id\": \"\xe2\x82\"}",
	    "{\"execute\": \"\xc0\x80\"}",
	    "{\"execute\": \"stop\\u0000x\"}",
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
	/* Too deep. */
	memset(deep, '[', QMP_JSON_MAX_DEPTH + 2);
	memset(deep + QMP_JSON_MAX_DEPTH + 2, ']', QMP_JSON_MAX_DEPTH + 2);
	deep[2 * QMP_JSON_MAX_DEPTH + 4] = '\0';
	expect_generic(req(c, deep), "JSON nesting depth limit exceeded");
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
	/* Single quotes, a QEMU extension. */
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
	/* QEMU 7.2: an int64 beyond its range is of the wrong type. */
	expect_generic(req(c, "{\"execute\": \"calc-dirty-rate\", "
			      "\"arguments\": {\"calc-time\": 18446744073709551615}}"),
		       "Invalid parameter type for 'calc-time', expected: integer");
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", \"arguments\": "
			      "{\"dirty-rate\": 1, \"cpu-index\": 9223372036854775808}}"),
		       "Invalid parameter type for 'cpu-index', expected: integer");
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
	/* QEMU 7.2: anything but a uint64 "expects uint64", 2^64 (a double to QEMU) too. */
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
			      "\"arguments\": {\"dirty-rate\": true}}"),
		       "Parameter 'dirty-rate' expects uint64");
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
			      "\"arguments\": {\"dirty-rate\": \"5\"}}"),
		       "Parameter 'dirty-rate' expects uint64");
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
			      "\"arguments\": {\"dirty-rate\": 1.5}}"),
		       "Parameter 'dirty-rate' expects uint64");
	expect_generic(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
			      "\"arguments\": {\"dirty-rate\": 18446744073709551616}}"),
		       "Parameter 'dirty-rate' expects uint64");
	expect_empty_return(req(c, "{\"execute\": \"set-vcpu-dirty-limit\", "
				   "\"arguments\": {\"dirty-rate\": 18446744073709551615}}"));
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

/* A backend that answers QMP_IN_PROGRESS: the reply comes when it is done. */
static void test_stop_under_way(void **state)
{
	struct ctx *c = *state;
	char err[QMP_ERR_MAX];

	c->fake.async_stop = true;
	assert_null(req(c, "{\"execute\": \"stop\", \"id\": \"s1\"}"));
	assert_true(c->pend.active);
	assert_true(fake_stop_pending(&c->fake));
	assert_int_equal(fake_complete_stop(&c->fake, err, sizeof(err)), 0);
	c->reply = qmp_dispatch_finish(&c->be, &c->pend, 0, "");
	expect_empty_return(c->reply);
	assert_string_equal(str(c->reply, "id"), "s1");
	assert_false(c->pend.active);

	/* A failure, with its message or strerror(). */
	assert_null(req(c, "{\"execute\": \"stop\"}"));
	c->reply = qmp_dispatch_finish(&c->be, &c->pend, -ETIMEDOUT, "the vCPUs did not stop");
	expect_generic(c->reply, "the vCPUs did not stop");
	assert_false(has(c->reply, "id"));
	assert_null(req(c, "{\"execute\": \"stop\", \"id\": null}"));
	c->reply = qmp_dispatch_finish(&c->be, &c->pend, -EBUSY, NULL);
	expect_generic(c->reply, strerror(EBUSY));
	assert_true(json_object_object_get_ex(c->reply, "id", NULL));

	/* HMP's stop goes under way too, and prints nothing on success. */
	assert_null(req(c, "{\"execute\": \"human-monitor-command\", "
			   "\"arguments\": {\"command-line\": \"stop\"}}"));
	c->reply = qmp_dispatch_finish(&c->be, &c->pend, 0, "");
	assert_string_equal(str(c->reply, "return"), "");
	assert_null(req(c, "{\"execute\": \"human-monitor-command\", "
			   "\"arguments\": {\"command-line\": \"s\"}}"));
	c->reply = qmp_dispatch_finish(&c->be, &c->pend, -EIO, "stuck");
	assert_string_equal(str(c->reply, "return"), "Error: stuck\r\n");
	/* Dropping one (its client left) frees it. */
	assert_null(req(c, "{\"execute\": \"stop\", \"id\": [1]}"));
	qmp_pending_drop(&c->pend);
	assert_false(c->pend.active);
}

static void test_quit(void **state)
{
	struct ctx *c = *state;

	/* The backend runs at once: its SHUTDOWN goes out before this reply. */
	expect_empty_return(req(c, "{\"execute\": \"quit\"}"));
	assert_int_equal(fake_get(&c->fake, &c->fake.quits), 1);
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
	/* QEMU 7.2's props for -smp N: one socket of N cores. */
	assert_int_equal(num(r, "return.1.props.core-id"), 1);
	assert_int_equal(num(r, "return.1.props.socket-id"), 0);
	assert_int_equal(num(r, "return.1.props.thread-id"), 0);
	assert_int_equal(json_object_object_length(at(r, "return.1.props")), 3);
}

static void test_machine_queries(void **state)
{
	struct ctx *c = *state;
	json_object *r;

	/* Without --name, QEMU's query-name returns {}. */
	r = req(c, "{\"execute\": \"query-name\"}");
	assert_int_equal(json_object_object_length(at(r, "return")), 0);
	c->be.name = "guest-1";
	assert_string_equal(str(req(c, "{\"execute\": \"query-name\"}"), "return.name"), "guest-1");
	assert_string_equal(str(req(c, "{\"execute\": \"query-uuid\"}"), "return.UUID"),
			    "00000000-0000-0000-0000-000000000000");
	r = req(c, "{\"execute\": \"query-kvm\"}");
	assert_true(json_object_get_boolean(at(r, "return.enabled")));
	assert_true(json_object_get_boolean(at(r, "return.present")));
	assert_string_equal(str(req(c, "{\"execute\": \"query-target\"}"), "return.arch"),
			    "x86_64");
	r = req(c, "{\"execute\": \"query-machines\"}");
	assert_int_equal(json_object_array_length(at(r, "return")), 1);
	assert_string_equal(str(r, "return.0.name"), "vmm");
	assert_true(json_object_get_boolean(at(r, "return.0.is-default")));
	assert_false(json_object_get_boolean(at(r, "return.0.hotpluggable-cpus")));
	assert_int_equal(num(r, "return.0.cpu-max"), QMP_MAX_VCPUS);
	r = req(c, "{\"execute\": \"query-hotpluggable-cpus\"}");
	assert_int_equal(json_object_array_length(at(r, "return")), FAKE_CPUS);
	/* QEMU lists them last first. */
	assert_string_equal(str(r, "return.0.qom-path"), "/machine/unattached/device[1]");
	assert_int_equal(num(r, "return.0.props.core-id"), 1);
	assert_int_equal(num(r, "return.1.vcpus-count"), 1);
	assert_string_equal(str(r, "return.1.type"), "host-x86_64-cpu");
	r = req(c, "{\"execute\": \"query-iothreads\"}");
	assert_int_equal(json_object_array_length(at(r, "return")), 0);
}

static void test_qom(void **state)
{
	struct ctx *c = *state;
	json_object *r;

	r = req(c, "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"/\"}}");
	assert_string_equal(str(r, "return.1.name"), "machine");
	assert_string_equal(str(r, "return.1.type"), "child<vmm-machine>");
	r = req(c, "{\"execute\": \"qom-list\", "
		   "\"arguments\": {\"path\": \"/machine/unattached/\"}}");
	assert_int_equal(json_object_array_length(at(r, "return")), 1 + FAKE_CPUS);
	assert_string_equal(str(r, "return.2.name"), "device[1]");
	r = req(c, "{\"execute\": \"qom-list\", "
		   "\"arguments\": {\"path\": \"/machine/unattached/device[1]\"}}");
	assert_string_equal(str(r, "return.0.name"), "type");
	assert_string_equal(str(req(c, "{\"execute\": \"qom-get\", \"arguments\": "
				       "{\"path\": \"/machine/unattached/device[1]\", "
				       "\"property\": \"type\"}}"),
				"return"),
			    "host-x86_64-cpu");
	assert_int_equal(num(req(c, "{\"execute\": \"qom-get\", \"arguments\": "
				    "{\"path\": \"/machine/unattached/device[1]\", "
				    "\"property\": \"core-id\"}}"),
			     "return"),
			 1);
	assert_string_equal(str(req(c, "{\"execute\": \"qom-get\", \"arguments\": "
				       "{\"path\": \"/machine\", \"property\": \"type\"}}"),
				"return"),
			    "vmm-machine");
	assert_string_equal(str(req(c, "{\"execute\": \"qom-get\", \"arguments\": "
				       "{\"path\": \"/\", \"property\": \"machine\"}}"),
				"return"),
			    "/machine");
	/* QEMU's errors: class DeviceNotFound for a path, GenericError for a property. */
	expect_error(req(c, "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"/nope\"}}"),
		     "DeviceNotFound", "Device '/nope' not found");
	expect_error(req(c,
			 "{\"execute\": \"qom-get\", \"arguments\": "
			 "{\"path\": \"/machine/unattached/device[2]\", \"property\": \"type\"}}"),
		     "DeviceNotFound", "Device '/machine/unattached/device[2]' not found");
	expect_error(req(c,
			 "{\"execute\": \"qom-get\", \"arguments\": "
			 "{\"path\": \"/machine/unattached/device[1]x\", \"property\": \"type\"}}"),
		     "DeviceNotFound", "Device '/machine/unattached/device[1]x' not found");
	expect_generic(req(c, "{\"execute\": \"qom-get\", \"arguments\": "
			      "{\"path\": \"/machine\", \"property\": \"nope\"}}"),
		       "Property 'vmm-machine.nope' not found");
	expect_generic(req(c, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/\"}}"),
		       "Parameter 'property' is missing");
}

/* The HMP command line through human-monitor-command (text as QEMU 7.2's). */
static const char *hmp(struct ctx *c, const char *line)
{
	json_object *cmd = json_object_new_object(), *args = json_object_new_object();
	json_object *r;

	json_object_object_add(cmd, "execute", json_object_new_string("human-monitor-command"));
	json_object_object_add(args, "command-line", json_object_new_string(line));
	json_object_object_add(cmd, "arguments", args);
	r = req(c, json_object_to_json_string(cmd));
	json_object_put(cmd);
	return str(r, "return");
}

static void test_hmp(void **state)
{
	struct ctx *c = *state;

	assert_string_equal(hmp(c, ""), "");
	assert_string_equal(hmp(c, "info status"), "VM status: running\r\n");
	assert_string_equal(hmp(c, "info cpus"),
			    "* CPU #0: thread_id=1000\r\n  CPU #1: thread_id=1001\r\n");
	assert_string_equal(hmp(c, "info vcpu_dirty_limit"), "Dirty page limit not enabled!\r\n");
	assert_string_equal(hmp(c, "info dirty_rate"),
			    "Status: unstarted\r\nStart Time: 0 (ms)\r\nPeriod: 0 (sec)\r\n"
			    "Mode: dirty-ring\r\nDirty rate: (not ready)\r\n");
	assert_string_equal(hmp(c, "calc_dirty_rate 2"),
			    "Starting dirty rate measurement with period 2 seconds\r\n"
			    "[Please use 'info dirty_rate' to check results]\r\n");
	assert_int_equal(c->fake.calc_ms, 2000);
	assert_string_equal(
	    hmp(c, "info dirty_rate"),
	    "Status: measured\r\nStart Time: 1700000000 (ms)\r\nPeriod: 2 (sec)\r\n"
	    "Mode: dirty-ring\r\nDirty rate: 300 (MB/s)\r\n"
	    "vcpu[0], Dirty rate: 100 (MB/s)\r\nvcpu[1], Dirty rate: 200 (MB/s)\r\n");
	assert_string_equal(hmp(c, "set_vcpu_dirty_limit 40 1"), "");
	assert_int_equal(c->fake.limit_cpu, 1);
	assert_string_equal(hmp(c, "info vcpu_dirty_limit"),
			    "vcpu[1], limit rate 40 (MB/s), current rate 20 (MB/s)\r\n");
	assert_string_equal(hmp(c, "cancel_vcpu_dirty_limit"),
			    "[Please use 'info vcpu_dirty_limit' to query dirty limit for virtual "
			    "CPU]\r\n");
	assert_int_equal(c->fake.limit_cpu, -1);
	assert_string_equal(hmp(c, "set_vcpu_dirty_limit 40 7"),
			    "Error: incorrect cpu index specified\r\n");
	assert_string_equal(hmp(c, "set_vcpu_dirty_limit -5"),
			    "Error: invalid dirty page limit -5\r\n");
	assert_string_equal(hmp(c, "stop"), "");
	assert_string_equal(hmp(c, "info status"), "VM status: paused\r\n");
	assert_string_equal(hmp(c, "c"), "");
	assert_string_equal(hmp(c, "info version"), "0.1.0vmm 0.1.0\r\n");
	assert_string_equal(hmp(c, "info kvm"), "kvm support: enabled\r\n");
	/* QEMU's complaints, word for word. */
	assert_string_equal(hmp(c, "frob"), "unknown command: 'frob'\r\n");
	assert_string_equal(hmp(c, "info frob"), "unknown command: 'info frob'\r\n");
	assert_string_equal(hmp(c, "help frob"), "unknown command: 'frob'\r\n");
	assert_string_equal(hmp(c, "help stop"), "stop|s  -- stop emulation\r\n");
	assert_string_equal(hmp(c, "calc_dirty_rate"),
			    "unexpected end of expression\r\n"
			    "Try \"help calc_dirty_rate\" for more information\r\n");
	assert_string_equal(hmp(c, "calc_dirty_rate x"),
			    "invalid char 'x' in expression\r\n"
			    "Try \"help calc_dirty_rate\" for more information\r\n");
	assert_string_equal(hmp(c, "stop x"), "stop|s: extraneous characters at the end of line\r\n"
					      "Try \"help stop\" for more information\r\n");
	assert_string_equal(hmp(c, "info status extra"),
			    "status: extraneous characters at the end of line\r\n"
			    "Try \"help info status\" for more information\r\n");
	/* qmp-shell -H completes from these: "name args -- help" and "info x -- help". */
	assert_non_null(strstr(hmp(c, "help"), "\r\nstop|s  -- stop emulation\r\n"));
	assert_non_null(strstr(hmp(c, "info"), "info status  -- show the current VM status"));
	/* cpu-index picks the current CPU; QEMU's error for one that is not a vCPU. */
	req(c, "{\"execute\": \"human-monitor-command\", "
	       "\"arguments\": {\"command-line\": \"info cpus\", \"cpu-index\": 1}}");
	assert_string_equal(str(c->reply, "return"),
			    "  CPU #0: thread_id=1000\r\n* CPU #1: thread_id=1001\r\n");
	expect_generic(req(c,
			   "{\"execute\": \"human-monitor-command\", "
			   "\"arguments\": {\"command-line\": \"info cpus\", \"cpu-index\": 2}}"),
		       "Parameter 'cpu-index' expects a CPU number");
	expect_generic(req(c, "{\"execute\": \"human-monitor-command\"}"),
		       "Parameter 'command-line' is missing");
	assert_string_equal(hmp(c, "quit"), "");
	assert_int_equal(fake_get(&c->fake, &c->fake.quits), 1);
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
	    "query-name",
	    "query-uuid",
	    "query-kvm",
	    "query-target",
	    "query-machines",
	    "query-cpus-fast",
	    "query-hotpluggable-cpus",
	    "query-iothreads",
	    "qom-list",
	    "qom-get",
	    "human-monitor-command",
	    "calc-dirty-rate",
	    "query-dirty-rate",
	    "x-query-guest-stats",
	    "set-vcpu-dirty-limit",
	    "cancel-vcpu-dirty-limit",
	    "query-vcpu-dirty-limit",
	    "x-set-dirty-limit-law",
	    "x-query-dirty-limit-law",
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
	assert_false(listed(at(r, "return"), "x-set-dirty-limit-law"));
	/* QEMU 7.2's class for it: CommandNotFound. */
	expect_error(req(c, "{\"execute\": \"stop\"}"), QMP_ERROR_NOT_FOUND,
		     "The command stop has been disabled for this instance");
	expect_error(req(c, "{\"execute\": \"query-dirty-rate\"}"), QMP_ERROR_NOT_FOUND,
		     "The command query-dirty-rate has been disabled for this instance");
	/* HMP commands whose backend is missing print nothing. */
	assert_string_equal(hmp(c, "stop"), "");
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
	/* QEMU's DirtyRateInfo: no rates before a measurement, and no page-size ever. */
	assert_false(has(r, "return.dirty-rate"));
	assert_string_equal(str(r, "return.mode"), "dirty-ring");
	assert_false(has(r, "return.vcpu-dirty-rate"));
	assert_false(has(r, "return.page-size"));

	req(c, "{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 3}}");
	r = req(c, "{\"execute\": \"query-dirty-rate\"}");
	assert_string_equal(str(r, "return.status"), "measured");
	assert_int_equal(num(r, "return.dirty-rate"), 300);
	assert_int_equal(num(r, "return.start-time"), 1700000000);
	assert_int_equal(num(r, "return.calc-time"), 3);
	assert_string_equal(str(r, "return.calc-time-unit"), "second");
	assert_int_equal(num(r, "return.sample-pages"), 0);
	assert_false(has(r, "return.page-size"));
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

static void test_dirty_limit_law(void **state)
{
	struct ctx *c = *state;
	json_object *r;

	r = req(c, "{\"execute\": \"x-query-dirty-limit-law\"}");
	assert_string_equal(str(r, "return.law"), "bucket");
	assert_int_equal(num(r, "return.period-ms"), 0);

	/* No period-ms: the backend keeps the one in force (-1). */
	expect_empty_return(
	    req(c, "{\"execute\": \"x-set-dirty-limit-law\", \"arguments\": {\"law\": \"qemu\"}}"));
	assert_string_equal(c->fake.law, "qemu");
	assert_int_equal(c->fake.law_period_ms, -1);
	expect_empty_return(req(c, "{\"execute\": \"x-set-dirty-limit-law\", "
				   "\"arguments\": {\"law\": \"qemu\", \"period-ms\": 250}}"));
	assert_int_equal(c->fake.law_period_ms, 250);
	r = req(c, "{\"execute\": \"x-query-dirty-limit-law\"}");
	assert_string_equal(str(r, "return.law"), "qemu");
	assert_int_equal(num(r, "return.period-ms"), 250);
	/* 0: the law's own; 1000 is QEMU's longest x-vcpu-dirty-limit-period. */
	expect_empty_return(req(c, "{\"execute\": \"x-set-dirty-limit-law\", "
				   "\"arguments\": {\"law\": \"qemu\", \"period-ms\": 0}}"));
	assert_int_equal(c->fake.law_period_ms, 0);
	expect_empty_return(req(c, "{\"execute\": \"x-set-dirty-limit-law\", "
				   "\"arguments\": {\"law\": \"qemu\", \"period-ms\": 1000}}"));
	assert_int_equal(c->fake.law_period_ms, 1000);

	/* Refused before the backend sees them. */
	expect_generic(req(c, "{\"execute\": \"x-set-dirty-limit-law\", "
			      "\"arguments\": {\"law\": \"bucket\", \"period-ms\": 1001}}"),
		       "Parameter 'period-ms' expects a period from 1 to 1000 ms, or 0 for the "
		       "law's own");
	expect_generic(req(c, "{\"execute\": \"x-set-dirty-limit-law\", "
			      "\"arguments\": {\"law\": \"bucket\", \"period-ms\": -1}}"),
		       "Parameter 'period-ms' expects a period from 1 to 1000 ms, or 0 for the "
		       "law's own");
	expect_generic(req(c, "{\"execute\": \"x-set-dirty-limit-law\"}"),
		       "Parameter 'law' is missing");
	expect_generic(
	    req(c, "{\"execute\": \"x-set-dirty-limit-law\", \"arguments\": {\"law\": 1}}"),
	    "Invalid parameter type for 'law', expected: string");
	assert_string_equal(c->fake.law, "qemu");
	assert_int_equal(c->fake.law_period_ms, 1000);
	/* The backend's refusal, in its words. */
	expect_generic(
	    req(c, "{\"execute\": \"x-set-dirty-limit-law\", \"arguments\": {\"law\": \"tcp\"}}"),
	    "unknown law 'tcp'");
	assert_string_equal(c->fake.law, "qemu");
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

	line = qmp_json_line(ev, &len);
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
	    cmocka_unit_test_setup_teardown(test_oob, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_id_echo, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_json, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_blank_line, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_not_an_object, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_envelope, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_arguments, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_query_status_stop_cont, setup_negotiated,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stop_under_way, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_quit, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_machine_queries, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_qom, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_hmp, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_query_cpus_fast, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_query_version, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_query_commands, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_callbacks, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_calc_dirty_rate, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_query_dirty_rate, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_guest_stats, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_dirty_limit, setup_negotiated, teardown),
	    cmocka_unit_test_setup_teardown(test_dirty_limit_law, setup_negotiated, teardown),
	    cmocka_unit_test(test_event_and_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

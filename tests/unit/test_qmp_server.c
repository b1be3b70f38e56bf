// SPDX-License-Identifier: MIT
/*
 * The QMP server on real sockets, with the fake backend: protocol, limits,
 * misbehaving clients, socket-file rules, events.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "qmp/qmp.h"
#include "qmp/qmp_endpoint.h"
#include "qmp/qmp_framing.h"
#include "test_qmp_fake.h"

/* Generous: only a broken server makes a test wait this long. */
#define TIMEOUT_MS 5000

struct ctx {
	char dir[64];
	char path[128];
	char spec[140];
	struct fake fake;
	struct qmp_backend be;
	struct qmp_server *srv;
};

struct tc {
	int fd;
	struct qmp_linebuf in;
};

/* --- helpers ----------------------------------------------------------- */

/* Open and run the server, with opts (NULL: the defaults). */
static void start_server_opts(struct ctx *c, const struct qmp_server_opts *opts)
{
	char err[QMP_ERR_MAX] = "";
	int r = qmp_server_open(c->spec, &c->be, opts, &c->srv, err, sizeof(err));

	if (r < 0)
		fail_msg("qmp_server_open: %s", err);
	pthread_mutex_lock(&c->fake.lock);
	c->fake.srv = c->srv;
	pthread_mutex_unlock(&c->fake.lock);
	if (qmp_server_run(c->srv, err, sizeof(err)) < 0)
		fail_msg("qmp_server_run: %s", err);
}

static void start_server(struct ctx *c)
{
	start_server_opts(c, NULL);
}

static void stop_server(struct ctx *c)
{
	pthread_mutex_lock(&c->fake.lock);
	c->fake.srv = NULL;
	pthread_mutex_unlock(&c->fake.lock);
	qmp_server_stop(c->srv);
	c->srv = NULL;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	snprintf(c->dir, sizeof(c->dir), "/tmp/qmp-test-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->path, sizeof(c->path), "%s/vmm.sock", c->dir);
	snprintf(c->spec, sizeof(c->spec), "unix:%s", c->path);
	fake_init(&c->fake);
	c->be = fake_backend(&c->fake);
	*state = c;
	return 0;
}

static int setup_started(void **state)
{
	setup(state);
	start_server(*state);
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	struct stat st;

	if (c->srv) {
		stop_server(c);
		/* The server removes its socket file. */
		assert_int_equal(lstat(c->path, &st), -1);
	}
	unlink(c->path);
	rmdir(c->dir);
	fake_destroy(&c->fake);
	free(c);
	return 0;
}

static void tc_connect(const char *spec, struct tc *t)
{
	char err[QMP_ERR_MAX];
	struct qmp_endpoint ep;

	assert_int_equal(qmp_endpoint_parse(spec, &ep, err, sizeof(err)), 0);
	if (qmp_endpoint_connect(&ep, TIMEOUT_MS, &t->fd, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(qmp_linebuf_init(&t->in, QMP_OUTBUF_MAX), 0);
}

static void tc_close(struct tc *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	qmp_linebuf_free(&t->in);
}

/* The next message, or NULL at end of stream.  Fails the test after TIMEOUT_MS. */
static json_object *tc_recv(struct tc *t)
{
	struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
	size_t room, len;
	char *p, *line;
	ssize_t n;
	int r;

	for (;;) {
		r = qmp_linebuf_next(&t->in, &line, &len);
		assert_true(r >= 0);
		if (r > 0) {
			json_object *o = json_tokener_parse(line);

			assert_true(json_object_is_type(o, json_type_object));
			return o;
		}
		r = poll(&pfd, 1, TIMEOUT_MS);
		if (r == 0)
			fail_msg("no message from the server within %d ms", TIMEOUT_MS);
		p = qmp_linebuf_space(&t->in, &room);
		n = recv(t->fd, p, room, 0);
		if (n <= 0)
			return NULL; /* EOF or reset: either way the server hung up */
		qmp_linebuf_commit(&t->in, n);
	}
}

static void tc_send(struct tc *t, const char *s)
{
	size_t off = 0, len = strlen(s);
	ssize_t n;

	while (off < len) {
		n = send(t->fd, s + off, len - off, MSG_NOSIGNAL);
		assert_true(n > 0);
		off += n;
	}
}

/* Send a line, return the next message. */
static json_object *tc_cmd(struct tc *t, const char *json)
{
	tc_send(t, json);
	tc_send(t, "\n");
	return tc_recv(t);
}

static json_object *member(json_object *o, const char *a, const char *b)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return v;
}

static void expect_return(json_object *r)
{
	assert_non_null(r);
	if (!member(r, "return", NULL))
		fail_msg("expected a return, got %s", json_object_to_json_string(r));
	json_object_put(r);
}

static void expect_error(json_object *r, const char *klass, const char *desc_prefix)
{
	assert_non_null(r);
	if (!member(r, "error", NULL))
		fail_msg("expected an error, got %s", json_object_to_json_string(r));
	assert_string_equal(json_object_get_string(member(r, "error", "class")), klass);
	assert_memory_equal(json_object_get_string(member(r, "error", "desc")), desc_prefix,
			    strlen(desc_prefix));
	json_object_put(r);
}

static void expect_event(json_object *r, const char *name)
{
	assert_non_null(r);
	assert_string_equal(json_object_get_string(member(r, "event", NULL)), name);
	assert_non_null(member(r, "timestamp", "seconds"));
	assert_non_null(member(r, "timestamp", "microseconds"));
	json_object_put(r);
}

static void expect_greeting(struct tc *t)
{
	json_object *g = tc_recv(t);

	assert_non_null(g);
	assert_string_equal(
	    json_object_get_string(member(member(g, "QMP", "version"), "package", NULL)),
	    "vmm 0.1.0");
	json_object_put(g);
}

/* Connected, greeted and in command mode. */
static void tc_open(struct ctx *c, struct tc *t)
{
	tc_connect(c->spec, t);
	expect_greeting(t);
	expect_return(tc_cmd(t, "{\"execute\": \"qmp_capabilities\"}"));
}

/* Wait until f(c) holds or TIMEOUT_MS passes. */
static bool eventually(struct ctx *c, bool (*f)(struct ctx *))
{
	struct timespec ts = {0, 1000000};
	int i;

	for (i = 0; i < TIMEOUT_MS; i++) {
		if (f(c))
			return true;
		nanosleep(&ts, NULL);
	}
	return f(c);
}

/* A fresh client gets served: the server survived whatever came before. */
static void expect_alive(struct ctx *c)
{
	struct tc t;

	tc_open(c, &t);
	expect_return(tc_cmd(&t, "{\"execute\": \"query-status\"}"));
	tc_close(&t);
}

/* --- protocol ------------------------------------------------------------- */

static void test_greeting_and_negotiation(void **state)
{
	struct ctx *c = *state;
	struct tc t;

	tc_connect(c->spec, &t);
	expect_greeting(&t);
	expect_error(tc_cmd(&t, "{\"execute\": \"query-status\"}"), "CommandNotFound",
		     "Expecting capabilities negotiation with 'qmp_capabilities'");
	expect_return(tc_cmd(&t, "{\"execute\": \"qmp_capabilities\"}"));
	expect_error(tc_cmd(&t, "{\"execute\": \"qmp_capabilities\"}"), "CommandNotFound",
		     "Capabilities negotiation is already complete");
	expect_return(tc_cmd(&t, "{\"execute\": \"query-status\"}"));
	tc_close(&t);
}

static void test_every_command(void **state)
{
	static const char *const cmds[] = {
	    "{\"execute\": \"query-status\"}",
	    "{\"execute\": \"query-version\"}",
	    "{\"execute\": \"query-commands\"}",
	    "{\"execute\": \"query-cpus-fast\"}",
	    "{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 1}}",
	    "{\"execute\": \"query-dirty-rate\"}",
	    "{\"execute\": \"x-query-guest-stats\"}",
	    "{\"execute\": \"set-vcpu-dirty-limit\", \"arguments\": {\"dirty-rate\": 10}}",
	    "{\"execute\": \"query-vcpu-dirty-limit\"}",
	    "{\"execute\": \"cancel-vcpu-dirty-limit\", \"arguments\": {\"cpu-index\": 1}}",
	    "{\"execute\": \"cont\"}",
	};
	struct ctx *c = *state;
	json_object *r;
	struct tc t;
	size_t i;

	tc_open(c, &t);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		expect_return(tc_cmd(&t, cmds[i]));
	/* The id comes back, with \r\n line ends too. */
	tc_send(&t, "{\"execute\": \"query-version\", \"id\": \"x1\"}\r\n");
	r = tc_recv(&t);
	assert_string_equal(json_object_get_string(member(r, "id", NULL)), "x1");
	json_object_put(r);
	tc_close(&t);
}

static void test_bad_input(void **state)
{
	struct ctx *c = *state;
	struct tc t;

	tc_open(c, &t);
	expect_error(tc_cmd(&t, "{\"execute\" \"x\"}"), "GenericError",
		     "JSON parse error, missing : in object pair");
	expect_error(tc_cmd(&t, "{\"execute\": \"stop\", \"id\": 1, \"id\": 1}"), "GenericError",
		     "JSON parse error, duplicate key");
	expect_error(tc_cmd(&t, "{\"execute\": \"\xc0\x80\"}"), "GenericError",
		     "JSON parse error, invalid UTF-8 sequence in string");
	expect_error(tc_cmd(&t, "{\"execute\": \"query-status\\u0000x\"}"), "GenericError",
		     "JSON parse error, \\u0000 is not supported");
	expect_error(tc_cmd(&t, "[\"execute\"]"), "GenericError",
		     "QMP input must be a JSON object");
	expect_error(tc_cmd(&t, "{\"id\": 3}"), "GenericError", "QMP input lacks member 'execute'");
	expect_error(tc_cmd(&t, "{\"execute\": \"frobnicate\"}"), "CommandNotFound",
		     "The command frobnicate has not been found");
	expect_error(tc_cmd(&t, "{\"execute\": \"calc-dirty-rate\"}"), "GenericError",
		     "Parameter 'calc-time' is missing");
	expect_error(tc_cmd(&t, "{\"execute\": \"set-vcpu-dirty-limit\", \"arguments\": "
				"{\"cpu-index\": \"0\", \"dirty-rate\": 1}}"),
		     "GenericError", "Invalid parameter type for 'cpu-index', expected: integer");
	expect_error(tc_cmd(&t, "{\"execute\": \"stop\", \"arguments\": {\"x\": 1}}"),
		     "GenericError", "Parameter 'x' is unexpected");
	/* Blank lines are skipped; the session goes on. */
	tc_send(&t, "\n\r\n  \n");
	expect_return(tc_cmd(&t, "{\"execute\": \"query-status\"}"));
	tc_close(&t);
}

static void test_split_and_batched(void **state)
{
	struct ctx *c = *state;
	json_object *r;
	struct tc t;

	tc_open(c, &t);
	/* One command in three writes. */
	tc_send(&t, "{\"execute\": \"qu");
	usleep(20000);
	tc_send(&t, "ery-version\", \"id\"");
	usleep(20000);
	tc_send(&t, ": 1}\n");
	r = tc_recv(&t);
	assert_int_equal(json_object_get_int(member(r, "id", NULL)), 1);
	json_object_put(r);
	/* Three commands in one write: three replies, in order. */
	tc_send(&t, "{\"execute\": \"query-status\", \"id\": 2}\n"
		    "{\"execute\": \"nope\", \"id\": 3}\r\n"
		    "{\"execute\": \"query-version\", \"id\": 4}\n");
	for (int id = 2; id <= 4; id++) {
		r = tc_recv(&t);
		assert_int_equal(json_object_get_int(member(r, "id", NULL)), id);
		json_object_put(r);
	}
	tc_close(&t);
}

/* --- limits and misbehaving clients ---------------------------------------------- */

/* Too long: reported at once, the rest of it skipped, the connection goes on. */
static void test_oversized_request(void **state)
{
	struct ctx *c = *state;
	size_t n = QMP_MAX_REQUEST + 100;
	char *big = malloc(n + 64);
	struct tc t;
	json_object *r;

	tc_open(c, &t);
	expect_return(tc_cmd(&t, "{\"execute\": \"query-status\"}"));
	memset(big, 'x', n);
	memcpy(big, "{\"execute\": \"stop\", \"id\": \"", 27);
	strcpy(big + n, "\"}{\"execute\": \"query-version\", \"id\": 9}");
	tc_send(&t, big);
	expect_error(tc_recv(&t), "GenericError", "JSON token size limit exceeded");
	r = tc_recv(&t);
	assert_int_equal(json_object_get_int(member(r, "id", NULL)), 9);
	json_object_put(r);
	tc_close(&t);
	free(big);
	assert_int_equal(fake_get(&c->fake, &c->fake.stops), 0);
	expect_alive(c);
}

static void test_request_at_limit(void **state)
{
	struct ctx *c = *state;
	size_t n = QMP_MAX_REQUEST;
	char *big = malloc(n + 1);
	json_object *r;
	struct tc t;

	tc_open(c, &t);
	memset(big, 'x', n);
	memcpy(big, "{\"execute\": \"query-status\", \"id\": \"", 35);
	memcpy(big + n - 2, "\"}", 3);
	tc_send(&t, big);
	r = tc_recv(&t);
	assert_int_equal(json_object_get_string_len(member(r, "id", NULL)), n - 37);
	expect_return(r);
	tc_close(&t);
	free(big);
}

/*
 * How QEMU's own Python client (qemu.qmp) frames requests: compact JSON,
 * no newline.  Also several in one write, and one split over many writes
 * with pauses: the stream is cut by JSON, as QEMU cuts it.
 */
static void test_stream_framing(void **state)
{
	struct ctx *c = *state;
	const char *q = "{\"execute\":\"query-version\",\"id\":\"__qmp#00002\"}";
	json_object *r;
	struct tc t;

	tc_connect(c->spec, &t);
	expect_greeting(&t);
	tc_send(&t, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]},"
		    "\"id\":\"__qmp#00001\"}");
	r = tc_recv(&t);
	assert_string_equal(json_object_get_string(member(r, "id", NULL)), "__qmp#00001");
	expect_return(r);
	tc_send(&t, q);
	r = tc_recv(&t);
	assert_string_equal(json_object_get_string(member(r, "id", NULL)), "__qmp#00002");
	expect_return(r);
	/* Three in one write, no separators. */
	tc_send(&t, "{\"execute\":\"query-status\",\"id\":1}{\"execute\":\"nope\",\"id\":2}"
		    "{\"execute\":\"query-name\",\"id\":3}");
	for (int id = 1; id <= 3; id++) {
		r = tc_recv(&t);
		assert_int_equal(json_object_get_int(member(r, "id", NULL)), id);
		json_object_put(r);
	}
	/* One, a byte at a time with pauses; a slow client holds up nobody else. */
	for (const char *p = q; *p; p++) {
		char one[2] = {*p, 0};

		tc_send(&t, one);
		if (p - q == 10)
			expect_alive(c);
		usleep(500);
	}
	r = tc_recv(&t);
	assert_string_equal(json_object_get_string(member(r, "id", NULL)), "__qmp#00002");
	json_object_put(r);
	/* A parse error, then the connection goes on (QEMU resets its parser). */
	tc_send(&t, "{\"a\":01}{\"execute\":\"query-status\",\"id\":4}");
	expect_error(tc_recv(&t), "GenericError", "JSON parse error, stray '01'");
	expect_error(tc_recv(&t), "GenericError", "JSON parse error, expecting value");
	r = tc_recv(&t);
	assert_int_equal(json_object_get_int(member(r, "id", NULL)), 4);
	json_object_put(r);
	tc_close(&t);
}

/* A client that sends and never reads is cut off; the server goes on. */
static void test_flood(void **state)
{
	static const char req[] = "{\"execute\": \"x-query-guest-stats\"}\n";
	struct ctx *c = *state;
	struct timespec start, now;
	int small = 4096, rounds = 0;
	bool cut = false;
	struct tc t;
	ssize_t n;

	tc_open(c, &t);
	setsockopt(t.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!cut) {
		n = send(t.fd, req, sizeof(req) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			cut = true;
		else if (n < 0 && errno == EAGAIN)
			usleep(1000);
		else
			assert_int_equal(n, sizeof(req) - 1);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 20)
			fail_msg("flooding client still connected after %d requests", rounds);
		rounds++;
	}
	/* Replies were queued up to the bound, then the server hung up. */
	print_message("flooding client cut off after %d requests\n", rounds);
	assert_true(rounds > 100);
	tc_close(&t);
	expect_alive(c);
}

static bool stopped_once(struct ctx *c)
{
	return fake_get(&c->fake, &c->fake.stops) == 1;
}

/* Hanging up in the middle of a command, or before its reply, is harmless. */
static void test_disconnect_mid_command(void **state)
{
	struct ctx *c = *state;
	struct tc t;
	int i;

	for (i = 0; i < 20; i++) {
		tc_open(c, &t);
		tc_send(&t, "{\"execute\": \"query-cpus-fast\"}\n{\"execute\": \"query-st");
		tc_close(&t);
	}
	/* The command arrives, the client is gone before its reply. */
	tc_open(c, &t);
	tc_send(&t, "{\"execute\": \"stop\"}\n");
	tc_close(&t);
	/* Hang up before the greeting is read. */
	tc_connect(c->spec, &t);
	tc_close(&t);
	expect_alive(c);
	assert_true(eventually(c, stopped_once));
}

static void test_clients_at_once(void **state)
{
	struct ctx *c = *state;
	struct tc t[QMP_MAX_CLIENTS], extra;
	json_object *r;
	int i;

	for (i = 0; i < QMP_MAX_CLIENTS; i++)
		tc_open(c, &t[i]);
	/* Interleaved: each gets its own reply. */
	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "{\"execute\": \"query-version\", \"id\": %d}\n", i);
		tc_send(&t[i], cmd);
	}
	for (i = QMP_MAX_CLIENTS - 1; i >= 0; i--) {
		r = tc_recv(&t[i]);
		assert_int_equal(json_object_get_int(member(r, "id", NULL)), i);
		json_object_put(r);
	}
	/* One too many: an error instead of the greeting, then the end. */
	tc_connect(c->spec, &extra);
	expect_error(tc_recv(&extra), "GenericError", "too many QMP clients");
	assert_null(tc_recv(&extra));
	tc_close(&extra);
	/* A slot frees up when a client leaves. */
	tc_close(&t[0]);
	usleep(50000);
	tc_open(c, &t[0]);
	expect_return(tc_cmd(&t[0], "{\"execute\": \"query-status\"}"));
	for (i = 0; i < QMP_MAX_CLIENTS; i++)
		tc_close(&t[i]);
}

/* --- socket file rules ---------------------------------------------------------- */

static void test_socket_mode(void **state)
{
	struct ctx *c = *state;
	mode_t old = umask(0);
	struct stat st;

	/* Even with a permissive umask, only the owner may connect. */
	start_server(c);
	umask(old);
	assert_int_equal(lstat(c->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_stale_socket_replaced(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct stat st;

	/* A socket file nobody listens on, as a crashed vmm leaves behind. */
	assert_true(strlen(c->path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(lstat(c->path, &st), 0);
	start_server(c);
	expect_alive(c);
}

static void test_live_socket_refused(void **state)
{
	struct ctx *c = *state;
	struct qmp_server *second = NULL;
	char err[QMP_ERR_MAX] = "", want[400];

	start_server(c);
	assert_int_equal(qmp_server_start(c->spec, &c->be, &second, err, sizeof(err)), -EADDRINUSE);
	assert_null(second);
	snprintf(want, sizeof(want), "another vmm is listening on %s (%s.lock is locked)", c->path,
		 c->path);
	assert_string_equal(err, want);
	/* The first one is untouched. */
	expect_alive(c);
}

static void test_other_file_untouched(void **state)
{
	struct ctx *c = *state;
	struct qmp_server *srv = NULL;
	char err[QMP_ERR_MAX] = "", buf[16] = "";
	int fd;

	fd = open(c->path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "precious", 8), 8);
	close(fd);
	assert_int_equal(qmp_server_start(c->spec, &c->be, &srv, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not a socket"));
	fd = open(c->path, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 8);
	assert_string_equal(buf, "precious");
	close(fd);
	unlink(c->path);
	/* A directory, too. */
	assert_int_equal(mkdir(c->path, 0700), 0);
	assert_int_equal(qmp_server_start(c->spec, &c->be, &srv, err, sizeof(err)), -EEXIST);
	rmdir(c->path);
}

static void test_bad_specs(void **state)
{
	struct ctx *c = *state;
	struct qmp_server *srv = NULL;
	char err[QMP_ERR_MAX], longpath[200];

	assert_int_equal(qmp_server_start("tcp:nohostport", &c->be, &srv, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(qmp_server_start("unix:", &c->be, &srv, err, sizeof(err)), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(qmp_server_start(longpath, &c->be, &srv, err, sizeof(err)), -ENAMETOOLONG);
	assert_null(srv);
}

static void test_tcp(void **state)
{
	struct ctx *c = *state;
	char err[QMP_ERR_MAX];

	snprintf(c->spec, sizeof(c->spec), "tcp:127.0.0.1:0");
	if (qmp_server_start(c->spec, &c->be, &c->srv, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_true(qmp_server_tcp_port(c->srv) > 0);
	snprintf(c->spec, sizeof(c->spec), "tcp:127.0.0.1:%d", qmp_server_tcp_port(c->srv));
	expect_alive(c);
	stop_server(c);
}

/* --- events ------------------------------------------------------------------------ */

static void test_events(void **state)
{
	struct ctx *c = *state;
	struct tc a, b, raw;
	json_object *data;

	tc_open(c, &a);
	tc_open(c, &b);
	tc_connect(c->spec, &raw);
	expect_greeting(&raw);

	/* STOP is emitted inside the command: it comes before the reply, to everyone. */
	tc_send(&a, "{\"execute\": \"stop\"}\n");
	expect_event(tc_recv(&a), "STOP");
	expect_return(tc_recv(&a));
	expect_event(tc_recv(&b), "STOP");

	/* From another thread (this one), with data. */
	data = json_object_new_object();
	json_object_object_add(data, "guest", json_object_new_boolean(true));
	json_object_object_add(data, "reason", json_object_new_string("guest-shutdown"));
	assert_int_equal(qmp_server_emit_event(c->srv, "SHUTDOWN", data), 0);
	for (int i = 0; i < 2; i++) {
		json_object *ev = tc_recv(i ? &b : &a);

		assert_string_equal(json_object_get_string(member(ev, "data", "reason")),
				    "guest-shutdown");
		expect_event(ev, "SHUTDOWN");
	}
	/* A client still negotiating gets no events: its next message is its reply. */
	expect_error(tc_cmd(&raw, "{\"execute\": \"stop\"}"), "CommandNotFound", "Expecting");
	tc_close(&raw);
	tc_close(&a);
	tc_close(&b);
	/* No server: nothing to do, and the data is freed. */
	assert_int_equal(qmp_server_emit_event(NULL, "STOP", json_object_new_object()), 0);
}

static bool in_gate(struct ctx *c)
{
	bool v;

	pthread_mutex_lock(&c->fake.lock);
	v = c->fake.in_gate;
	pthread_mutex_unlock(&c->fake.lock);
	return v;
}

/* While the QMP thread is held up, the event queue stops at its bound. */
static void test_event_queue_bound(void **state)
{
	struct ctx *c = *state;
	int i, queued = 0, refused = 0;
	json_object *r;
	struct tc t;

	tc_open(c, &t);
	fake_gate(&c->fake, true);
	tc_send(&t, "{\"execute\": \"stop\"}\n");
	assert_true(eventually(c, in_gate));
	for (i = 0; i < QMP_EVENT_QUEUE_MAX + 44; i++) {
		if (qmp_server_emit_event(c->srv, "TEST", NULL) == 0)
			queued++;
		else
			refused++;
	}
	assert_int_equal(queued, QMP_EVENT_QUEUE_MAX);
	assert_int_equal(refused, 44);
	assert_int_equal(qmp_server_dropped_events(c->srv), 44);
	fake_gate(&c->fake, false);
	/* The queued events, then the reply: STOP found the queue full and was dropped. */
	for (i = 0; i < QMP_EVENT_QUEUE_MAX; i++)
		expect_event(tc_recv(&t), "TEST");
	r = tc_recv(&t);
	expect_return(r);
	assert_int_equal(qmp_server_dropped_events(c->srv), 45);
	tc_close(&t);
}

/* A client that reads nothing while events pour in is cut off; readers are not. */
static void test_events_to_a_sleeping_client(void **state)
{
	struct ctx *c = *state;
	int i, got = 0, small = 4096;
	char pad[1024];
	json_object *o;
	struct tc t;

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	tc_open(c, &t);
	setsockopt(t.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (i = 0; i < 2000; i++) {
		json_object *data = json_object_new_object();

		json_object_object_add(data, "pad", json_object_new_string(pad));
		while (qmp_server_emit_event(c->srv, "BIG", json_object_get(data)) == -ENOSPC)
			usleep(1000);
		json_object_put(data);
	}
	while ((o = tc_recv(&t))) {
		json_object_put(o);
		got++;
	}
	print_message("sleeping client got %d of 2000 events, then was cut off\n", got);
	/* What fitted in the socket; the rest, queued for it, was dropped with it. */
	assert_true(got < 2000);
	tc_close(&t);
	expect_alive(c);
}

/* quit: SHUTDOWN first (QEMU 7.2's order), then the reply; the end follows. */
static void test_quit(void **state)
{
	struct ctx *c = *state;
	struct tc t, other;

	tc_open(c, &t);
	tc_open(c, &other);
	tc_send(&t, "{\"execute\": \"quit\"}");
	expect_event(tc_recv(&t), "SHUTDOWN");
	expect_return(tc_recv(&t));
	expect_event(tc_recv(&other), "SHUTDOWN");
	assert_int_equal(fake_get(&c->fake, &c->fake.quits), 1);
	/* What the program's main thread does next. */
	stop_server(c);
	assert_null(tc_recv(&t));
	assert_null(tc_recv(&other));
	tc_close(&t);
	tc_close(&other);
	assert_int_equal(access(c->path, F_OK), -1);
}

/*
 * stop waits for the vCPUs on the backend's thread: meanwhile the QMP
 * thread goes on (out-of-band requests, events, new clients), and the
 * in-band requests of every client wait their turn, in order.
 */
static void test_stop_under_way(void **state)
{
	struct ctx *c = *state;
	char err[QMP_ERR_MAX];
	struct tc a, b, late;
	json_object *r;

	c->fake.async_stop = true;
	tc_open(c, &b);
	tc_connect(c->spec, &a);
	expect_greeting(&a);
	expect_return(tc_cmd(&a, "{\"execute\": \"qmp_capabilities\", "
				 "\"arguments\": {\"enable\": [\"oob\"]}}"));
	tc_send(&a, "{\"execute\": \"stop\", \"id\": \"s\"}{\"execute\": \"query-status\", "
		    "\"id\": \"a2\"}");
	while (!fake_stop_pending(&c->fake))
		usleep(1000);
	tc_send(&b, "{\"execute\": \"query-version\", \"id\": \"b1\"}");
	/* Out of band: answered at once, ahead of the queue. */
	r = tc_cmd(&a, "{\"exec-oob\": \"query-status\", \"id\": \"oob\"}");
	assert_string_equal(json_object_get_string(member(r, "id", NULL)), "oob");
	assert_string_equal(json_object_get_string(member(r, "return", "status")), "running");
	json_object_put(r);
	/* A new client is greeted; its negotiation, in-band too, waits its turn. */
	tc_connect(c->spec, &late);
	expect_greeting(&late);
	tc_send(&late, "{\"execute\": \"qmp_capabilities\"}");
	/* Done: STOP to everyone, then the reply, then the waiting requests. */
	assert_int_equal(fake_complete_stop(&c->fake, err, sizeof(err)), 0);
	expect_event(tc_recv(&a), "STOP");
	r = tc_recv(&a);
	assert_string_equal(json_object_get_string(member(r, "id", NULL)), "s");
	expect_return(r);
	r = tc_recv(&a);
	assert_string_equal(json_object_get_string(member(r, "id", NULL)), "a2");
	assert_string_equal(json_object_get_string(member(r, "return", "status")), "paused");
	json_object_put(r);
	expect_event(tc_recv(&b), "STOP");
	r = tc_recv(&b);
	assert_string_equal(json_object_get_string(member(r, "id", NULL)), "b1");
	json_object_put(r);
	expect_return(tc_recv(&late));
	/* A client that leaves while its stop is under way: the reply goes nowhere. */
	tc_send(&b, "{\"execute\": \"stop\"}");
	while (!fake_stop_pending(&c->fake))
		usleep(1000);
	tc_close(&b);
	usleep(20000);
	assert_int_equal(fake_complete_stop(&c->fake, err, sizeof(err)), 0);
	expect_return(tc_cmd(&a, "{\"execute\": \"query-status\"}"));
	tc_close(&a);
	tc_close(&late);
}

/* Issue 11 item 6: a client that never negotiates is dropped (unix and TCP). */
static void negotiation_timeout(struct ctx *c)
{
	const struct qmp_server_opts opts = {.negotiate_timeout_ms = 300, .idle_evict_ms = 60000};
	struct tc t[QMP_MAX_CLIENTS], fresh;
	struct timespec t0, t1;
	double el;
	int i;

	start_server_opts(c, &opts);
	if (c->spec[0] == 't') {
		snprintf(c->spec, sizeof(c->spec), "tcp:127.0.0.1:%d", qmp_server_tcp_port(c->srv));
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Every place taken by clients that connect and say nothing. */
	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		tc_connect(c->spec, &t[i]);
		expect_greeting(&t[i]);
	}
	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		expect_error(tc_recv(&t[i]), "GenericError",
			     "capabilities negotiation not completed within 300 ms");
		assert_null(tc_recv(&t[i]));
		tc_close(&t[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	el = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(el >= 0.3 && el < 2.0);
	/* The owner gets in. */
	tc_open(c, &fresh);
	expect_return(tc_cmd(&fresh, "{\"execute\": \"query-status\"}"));
	tc_close(&fresh);
}

static void test_negotiation_timeout_unix(void **state)
{
	negotiation_timeout(*state);
}

static void test_negotiation_timeout_tcp(void **state)
{
	struct ctx *c = *state;

	snprintf(c->spec, sizeof(c->spec), "tcp:127.0.0.1:0");
	negotiation_timeout(c);
}

/*
 * Issue 11 item 6: eight negotiated clients that then say nothing; a
 * ninth is let in in place of the one silent longest (unix and TCP).
 */
static void idle_eviction(struct ctx *c)
{
	const struct qmp_server_opts opts = {.negotiate_timeout_ms = 60000, .idle_evict_ms = 300};
	struct tc t[QMP_MAX_CLIENTS], extra, owner;
	int i;

	start_server_opts(c, &opts);
	if (c->spec[0] == 't')
		snprintf(c->spec, sizeof(c->spec), "tcp:127.0.0.1:%d", qmp_server_tcp_port(c->srv));
	for (i = 0; i < QMP_MAX_CLIENTS; i++)
		tc_open(c, &t[i]);
	/* Not silent long enough yet: refused, as before. */
	tc_connect(c->spec, &extra);
	expect_error(tc_recv(&extra), "GenericError", "too many QMP clients");
	tc_close(&extra);
	usleep(200000);
	/* Client 3 spoke lately: it is not the one to go.  Client 0 is the oldest silent. */
	expect_return(tc_cmd(&t[0], "{\"execute\": \"query-status\"}"));
	usleep(150000);
	for (i = 1; i < QMP_MAX_CLIENTS; i++)
		if (i != 3)
			expect_return(tc_cmd(&t[i], "{\"execute\": \"query-status\"}"));
	usleep(350000);
	tc_open(c, &owner);
	expect_return(tc_cmd(&owner, "{\"execute\": \"query-status\"}"));
	/* Client 3, silent for ~700 ms, was told why and dropped. */
	expect_error(tc_recv(&t[3]), "GenericError", "disconnected: silent for 0 s");
	assert_null(tc_recv(&t[3]));
	for (i = 0; i < QMP_MAX_CLIENTS; i++)
		if (i != 3)
			expect_return(tc_cmd(&t[i], "{\"execute\": \"query-status\"}"));
	for (i = 0; i < QMP_MAX_CLIENTS; i++)
		tc_close(&t[i]);
	tc_close(&owner);
}

static void test_idle_eviction_unix(void **state)
{
	idle_eviction(*state);
}

static void test_idle_eviction_tcp(void **state)
{
	struct ctx *c = *state;

	snprintf(c->spec, sizeof(c->spec), "tcp:127.0.0.1:0");
	idle_eviction(c);
}

/*
 * Issue 11 item 12: another vmm that has taken the path (its lock) and
 * bound its socket but not yet listened.  A refused connect() used to
 * make us delete its socket; the lock says it is alive.
 */
static void test_lock_guards_a_starting_owner(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct qmp_server *srv = NULL;
	char lock[160], err[QMP_ERR_MAX] = "";
	struct stat before, after;
	int fd, lfd;

	snprintf(lock, sizeof(lock), "%s.lock", c->path);
	lfd = open(lock, O_RDWR | O_CREAT, 0600);
	assert_true(lfd >= 0);
	assert_int_equal(flock(lfd, LOCK_EX | LOCK_NB), 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(lstat(c->path, &before), 0);

	assert_int_equal(qmp_server_start(c->spec, &c->be, &srv, err, sizeof(err)), -EADDRINUSE);
	assert_null(srv);
	assert_non_null(strstr(err, "another vmm is listening on"));
	assert_int_equal(lstat(c->path, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(access(lock, F_OK), 0);

	/* Its owner dies (lock released, socket left): the next one takes over. */
	close(fd);
	close(lfd);
	start_server(c);
	expect_alive(c);
	assert_int_equal(access(lock, F_OK), 0);
	stop_server(c);
	/* Both files go with the server. */
	assert_int_equal(access(c->path, F_OK), -1);
	assert_int_equal(access(lock, F_OK), -1);
}

/* A directory or a missing directory: refused, and nothing created beside it. */
static void test_bad_paths(void **state)
{
	struct ctx *c = *state;
	struct qmp_server *srv = NULL;
	char spec[200], err[QMP_ERR_MAX] = "";

	snprintf(spec, sizeof(spec), "unix:%s", c->dir);
	assert_int_equal(qmp_server_start(spec, &c->be, &srv, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "exists and is not a socket"));
	snprintf(spec, sizeof(spec), "%s.lock", c->dir);
	assert_int_equal(access(spec, F_OK), -1);
	snprintf(spec, sizeof(spec), "unix:%s/missing/vmm.sock", c->dir);
	assert_int_equal(qmp_server_start(spec, &c->be, &srv, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_null(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_greeting_and_negotiation, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_every_command, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_split_and_batched, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_request, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_request_at_limit, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_framing, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_flood, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_mid_command, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_clients_at_once, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_socket_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_file_untouched, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_specs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_event_queue_bound, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_events_to_a_sleeping_client, setup_started,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_quit, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_under_way, setup_started, teardown),
	    cmocka_unit_test_setup_teardown(test_negotiation_timeout_unix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_negotiation_timeout_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_eviction_unix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_eviction_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_guards_a_starting_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * vmmctl end to end: the real binary (argv[1]) against the QMP server with
 * the fake backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "qmp/qmp.h"
#include "test_qmp_fake.h"

/* Room for what vmmctl prints in these tests. */
#define OUT_MAX 8192

static const char *vmmctl;

struct ctx {
	char dir[64];
	char sock[128];
	struct fake fake;
	struct qmp_backend be;
	struct qmp_server *srv;
	char out[OUT_MAX]; /* stdout of the last run */
	char err[OUT_MAX]; /* stderr of the last run */
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[QMP_ERR_MAX];

	snprintf(c->dir, sizeof(c->dir), "/tmp/qmp-vmmctl-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->sock, sizeof(c->sock), "%s/vmm.sock", c->dir);
	fake_init(&c->fake);
	c->be = fake_backend(&c->fake);
	if (qmp_server_start(c->sock, &c->be, &c->srv, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	pthread_mutex_lock(&c->fake.lock);
	c->fake.srv = c->srv;
	pthread_mutex_unlock(&c->fake.lock);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	pthread_mutex_lock(&c->fake.lock);
	c->fake.srv = NULL;
	pthread_mutex_unlock(&c->fake.lock);
	qmp_server_stop(c->srv);
	rmdir(c->dir);
	fake_destroy(&c->fake);
	free(c);
	return 0;
}

static void slurp(const char *path, char *buf)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, OUT_MAX - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* Run vmmctl with args (NULL-terminated); returns its exit status. */
static int run(struct ctx *c, ...)
{
	char outp[96], errp[96];
	const char *argv[16];
	int n = 0, status;
	va_list ap;
	pid_t pid;

	argv[n++] = vmmctl;
	va_start(ap, c);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	snprintf(outp, sizeof(outp), "%s/out", c->dir);
	snprintf(errp, sizeof(errp), "%s/err", c->dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(outp, O_CREAT | O_TRUNC | O_WRONLY, 0600);
		int e = open(errp, O_CREAT | O_TRUNC | O_WRONLY, 0600);

		dup2(o, 1);
		dup2(e, 2);
		execv(vmmctl, (char **)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	slurp(outp, c->out);
	slurp(errp, c->err);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int limit_of(struct ctx *c, int cpu)
{
	int v;

	pthread_mutex_lock(&c->fake.lock);
	v = (int)c->fake.limit[cpu];
	pthread_mutex_unlock(&c->fake.lock);
	return v;
}

static void test_query(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(run(c, c->sock, "query-status", NULL), 0);
	assert_non_null(strstr(c->out, "\"status\": \"running\""));
	assert_string_equal(c->err, "");
	/* unix: prefix and raw JSON. */
	char spec[160];
	snprintf(spec, sizeof(spec), "unix:%s", c->sock);
	assert_int_equal(run(c, spec, "raw", "{\"execute\": \"query-version\"}", NULL), 0);
	assert_non_null(strstr(c->out, "\"package\": \"vmm 0.1.0\""));
}

static void test_arguments_and_human(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(
	    run(c, c->sock, "set-vcpu-dirty-limit", "cpu-index=1", "dirty-rate=50", NULL), 0);
	assert_int_equal(limit_of(c, 1), 50);
	assert_int_equal(limit_of(c, 0), 0);
	assert_int_equal(run(c, "--human", c->sock, "query-vcpu-dirty-limit", NULL), 0);
	assert_string_equal(c->out, "cpu-index  limit-rate  current-rate\n"
				    "        1          50            25\n");
	/* Objects as key: value lines, nested tables indented. */
	assert_int_equal(run(c, c->sock, "calc-dirty-rate", "calc-time=1", NULL), 0);
	assert_int_equal(run(c, "-H", c->sock, "query-dirty-rate", NULL), 0);
	assert_non_null(strstr(c->out, "status: measured\n"));
	assert_non_null(strstr(c->out, "vcpu-dirty-rate:\n  id  dirty-rate\n   0         100\n"));
	/* A quoted value stays a string: a type error from the server. */
	assert_int_equal(run(c, c->sock, "calc-dirty-rate", "calc-time=\"1\"", NULL), 1);
	assert_non_null(strstr(c->err, "GenericError: Invalid parameter type for 'calc-time'"));
	/* Booleans are typed too. */
	assert_int_equal(run(c, c->sock, "calc-dirty-rate", "calc-time=true", NULL), 1);
	assert_non_null(strstr(c->err, "expected: integer"));
}

static void test_errors(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(run(c, c->sock, "no-such-command", NULL), 1);
	assert_non_null(strstr(c->err, "CommandNotFound: The command no-such-command has not"));
	assert_string_equal(c->out, "");
	/* Events arriving first (STOP) are skipped. */
	assert_int_equal(run(c, c->sock, "stop", NULL), 0);
	assert_string_equal(c->out, "{}\n");
	assert_int_equal(run(c, c->sock, "raw", "{not json", NULL), 2);
	assert_int_equal(run(c, c->sock, "set-vcpu-dirty-limit", "oops", NULL), 2);
	assert_non_null(strstr(c->err, "not key=value"));
}

static void test_usage_and_connection(void **state)
{
	struct ctx *c = *state;
	char missing[160];

	assert_int_equal(run(c, "--help", NULL), 0);
	assert_non_null(strstr(c->out, "usage: vmmctl"));
	assert_int_equal(run(c, NULL), 2);
	assert_non_null(strstr(c->err, "usage: vmmctl"));
	assert_int_equal(run(c, c->sock, NULL), 2);
	assert_int_equal(run(c, "--bogus", c->sock, "query-status", NULL), 2);
	snprintf(missing, sizeof(missing), "%s/nobody.sock", c->dir);
	assert_int_equal(run(c, missing, "query-status", NULL), 2);
	assert_non_null(strstr(c->err, "cannot connect to"));
	assert_int_equal(run(c, "tcp:127.0.0.1", "query-status", NULL), 2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_arguments_and_human, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_usage_and_connection, setup, teardown),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-VMMCTL\n", argv[0]);
		return 2;
	}
	vmmctl = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}

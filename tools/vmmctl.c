// SPDX-License-Identifier: MIT
/*
 * vmmctl: send one QMP command to a running vmm and print the answer.
 *
 *   vmmctl [--human] SOCKET COMMAND [key=value ...]
 *   vmmctl [--human] SOCKET raw '{"execute": ...}'
 *
 * Exit status: 0 the command returned, 1 it failed (class and message on
 * stderr), 2 usage, connection or protocol trouble.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "qmp/qmp.h"
#include "qmp/qmp_endpoint.h"
#include "qmp/qmp_framing.h"

/*
 * How long to wait for the server at each step (connect, greeting, each
 * reply).  Every command we send answers at once; a server silent this
 * long is wedged, and a script should hear about it rather than hang.
 */
#define VMMCTL_TIMEOUT_MS 10000

#define EXIT_CMD_ERROR 1
#define EXIT_TROUBLE   2

/* Widest column in --human tables; longer cells are printed whole anyway. */
#define HUMAN_COL_MAX 40

struct conn {
	int fd;
	struct qmp_linebuf in;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmctl [--human] SOCKET COMMAND [key=value ...]\n"
		"       vmmctl [--human] SOCKET raw JSON\n"
		"\n"
		"Send one QMP command to vmm's control socket and print the reply.\n"
		"\n"
		"  SOCKET       a unix socket path (or unix:PATH), or tcp:HOST:PORT\n"
		"  COMMAND      a QMP command, e.g. query-status, set-vcpu-dirty-limit\n"
		"  key=value    an argument: an integer, true/false, or else a string;\n"
		"               a value in double or single quotes is always a string\n"
		"               (mind the shell: key='\"1\"')\n"
		"  raw JSON     send JSON as it is, e.g. '{\"execute\": \"query-status\"}'\n"
		"\n"
		"  -H, --human  print the result as text tables instead of JSON\n"
		"  -h, --help   this text\n"
		"\n"
		"Events arriving meanwhile are skipped.  Gives up after %d s of silence.\n"
		"Exit status: 0 success, 1 the command failed, 2 usage or connection error.\n"
		"\n"
		"Examples:\n"
		"  vmmctl /tmp/vmm.sock query-status\n"
		"  vmmctl /tmp/vmm.sock set-vcpu-dirty-limit cpu-index=0 dirty-rate=200\n"
		"  vmmctl --human /tmp/vmm.sock query-vcpu-dirty-limit\n",
		VMMCTL_TIMEOUT_MS / 1000);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("vmmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_TROUBLE);
}

/* --- arguments ------------------------------------------------------------ */

/* "123", "-5" -> integer; "true"/"false" -> boolean; '"x"' -> "x"; else string. */
static json_object *typed_value(const char *v)
{
	size_t n = strlen(v);
	char *end;

	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0])
		return json_object_new_string_len(v + 1, (int)n - 2);
	if (!strcmp(v, "true"))
		return json_object_new_boolean(true);
	if (!strcmp(v, "false"))
		return json_object_new_boolean(false);
	if (n && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))) {
		errno = 0;
		if (v[0] == '-') {
			long long ll = strtoll(v, &end, 10);

			if (!*end && !errno)
				return json_object_new_int64(ll);
		} else {
			unsigned long long ull = strtoull(v, &end, 10);

			if (!*end && !errno)
				return ull > INT64_MAX ? json_object_new_uint64(ull)
						       : json_object_new_int64((int64_t)ull);
		}
	}
	return json_object_new_string(v);
}

static json_object *build_request(const char *cmd, char **kv, int n)
{
	json_object *req = json_object_new_object(), *args = NULL;
	int i;

	json_object_object_add(req, "execute", json_object_new_string(cmd));
	for (i = 0; i < n; i++) {
		char *eq = strchr(kv[i], '=');

		if (!eq || eq == kv[i])
			die("argument '%s' is not key=value (see --help)", kv[i]);
		if (!args)
			args = json_object_new_object();
		*eq = '\0';
		json_object_object_add(args, kv[i], typed_value(eq + 1));
	}
	if (args)
		json_object_object_add(req, "arguments", args);
	return req;
}

static json_object *parse_raw(const char *text)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;

	o = json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
	if (json_tokener_get_error(tok) != json_tokener_success || !o)
		die("raw: not valid JSON: %s",
		    json_tokener_error_desc(json_tokener_get_error(tok)));
	json_tokener_free(tok);
	return o;
}

/* --- the connection ----------------------------------------------------------- */

static void send_json(struct conn *c, json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	char *line = malloc(len + 1);
	size_t off = 0;
	ssize_t n;

	if (!line)
		die("out of memory");
	memcpy(line, s, len);
	line[len++] = '\n';
	while (off < len) {
		n = send(c->fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("sending: %s", strerror(errno));
		off += n;
	}
	free(line);
}

/* The next JSON object from the server. */
static json_object *recv_json(struct conn *c)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	json_object *o;
	size_t room, len;
	char *p, *line;
	ssize_t n;
	int r;

	for (;;) {
		r = qmp_linebuf_next(&c->in, &line, &len);
		if (r < 0)
			die("reply longer than %d bytes", QMP_OUTBUF_MAX);
		if (r > 0) {
			o = json_tokener_parse(line);
			if (!json_object_is_type(o, json_type_object))
				die("the server sent something that is not a JSON object: %.80s",
				    line);
			return o;
		}
		r = poll(&pfd, 1, VMMCTL_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("poll: %s", strerror(errno));
		if (r == 0)
			die("no answer from the server in %d s", VMMCTL_TIMEOUT_MS / 1000);
		p = qmp_linebuf_space(&c->in, &room);
		n = recv(c->fd, p, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("receiving: %s", strerror(errno));
		if (n == 0)
			die("the server closed the connection");
		qmp_linebuf_commit(&c->in, n);
	}
}

/* The next reply ({"return"} or {"error"}), skipping events. */
static json_object *recv_reply(struct conn *c)
{
	json_object *o, *v;

	for (;;) {
		o = recv_json(c);
		if (json_object_object_get_ex(o, "return", &v) ||
		    json_object_object_get_ex(o, "error", &v))
			return o;
		json_object_put(o);
	}
}

/* Print the error of reply on stderr.  Returns whether there was one. */
static bool report_error(json_object *reply, const char *what)
{
	json_object *err, *cls, *desc;

	if (!json_object_object_get_ex(reply, "error", &err))
		return false;
	json_object_object_get_ex(err, "class", &cls);
	json_object_object_get_ex(err, "desc", &desc);
	fprintf(stderr, "vmmctl: %s: %s: %s\n", what, cls ? json_object_get_string(cls) : "?",
		desc ? json_object_get_string(desc) : "?");
	return true;
}

static void handshake(struct conn *c)
{
	json_object *greeting, *req, *reply, *v;

	greeting = recv_json(c);
	if (!json_object_object_get_ex(greeting, "QMP", &v)) {
		/* A refused connection gets an error instead of the greeting. */
		if (report_error(greeting, "connection refused"))
			exit(EXIT_TROUBLE);
		die("no QMP greeting from the server");
	}
	json_object_put(greeting);
	req = json_object_new_object();
	json_object_object_add(req, "execute", json_object_new_string("qmp_capabilities"));
	send_json(c, req);
	json_object_put(req);
	reply = recv_reply(c);
	if (report_error(reply, "qmp_capabilities"))
		exit(EXIT_TROUBLE);
	json_object_put(reply);
}

/* --- printing ------------------------------------------------------------------- */

static void print_pretty(json_object *v)
{
	/* json-c would print "{ }" for an empty object. */
	if (json_object_is_type(v, json_type_object) && !json_object_object_length(v)) {
		puts("{}");
		return;
	}
	if (json_object_is_type(v, json_type_array) && !json_object_array_length(v)) {
		puts("[]");
		return;
	}
	puts(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						   JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* A scalar as plain text (strings unquoted), anything else as compact JSON. */
static const char *cell(json_object *v)
{
	if (!v)
		return "";
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
}

static bool is_table(json_object *v)
{
	size_t i, n;

	if (!json_object_is_type(v, json_type_array))
		return false;
	n = json_object_array_length(v);
	for (i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_object))
			return false;
	return n > 0;
}

/* An array of objects as a table: one column per key, in order of first appearance. */
static void print_table(json_object *arr, const char *indent)
{
	size_t i, k, n = json_object_array_length(arr), ncol = 0;
	const char **cols = NULL;
	int *width = NULL;

	for (i = 0; i < n; i++) {
		json_object_object_foreach(json_object_array_get_idx(arr, i), key, val)
		{
			for (k = 0; k < ncol && strcmp(cols[k], key); k++)
				;
			if (k == ncol) {
				cols = realloc(cols, (ncol + 1) * sizeof(*cols));
				width = realloc(width, (ncol + 1) * sizeof(*width));
				if (!cols || !width)
					die("out of memory");
				cols[ncol] = key;
				width[ncol++] = (int)strlen(key);
			}
		}
	}
	for (i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(arr, i), *v;

		for (k = 0; k < ncol; k++) {
			int w;

			v = NULL;
			json_object_object_get_ex(row, cols[k], &v);
			w = (int)strlen(cell(v));
			if (w > width[k])
				width[k] = w > HUMAN_COL_MAX ? HUMAN_COL_MAX : w;
		}
	}
	printf("%s", indent);
	for (k = 0; k < ncol; k++)
		printf("%-*s%s", width[k], cols[k], k + 1 < ncol ? "  " : "\n");
	for (i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(arr, i), *v;

		printf("%s", indent);
		for (k = 0; k < ncol; k++) {
			v = NULL;
			json_object_object_get_ex(row, cols[k], &v);
			/* Numbers right-aligned, text left-aligned. */
			if (v && (json_object_is_type(v, json_type_int) ||
				  json_object_is_type(v, json_type_double)))
				printf("%*s", width[k], cell(v));
			else
				printf("%-*s", width[k], cell(v));
			printf("%s", k + 1 < ncol ? "  " : "\n");
		}
	}
	free(cols);
	free(width);
}

static void print_human(json_object *v)
{
	if (is_table(v)) {
		print_table(v, "");
		return;
	}
	if (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0)
		return;
	if (!json_object_is_type(v, json_type_object)) {
		puts(cell(v));
		return;
	}
	json_object_object_foreach(v, key, val)
	{
		if (is_table(val)) {
			printf("%s:\n", key);
			print_table(val, "  ");
		} else {
			printf("%s: %s\n", key, cell(val));
		}
	}
}

/* --- main ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"human", no_argument, NULL, 'H'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char err[QMP_ERR_MAX];
	struct qmp_endpoint ep;
	json_object *req, *reply, *ret;
	struct conn c;
	bool human = false;
	int opt, status;

	/* "+": stop at the first operand, so "cpu-index=-1"-like values are not options. */
	while ((opt = getopt_long(argc, argv, "+Hh", opts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			human = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_TROUBLE;
		}
	}
	if (argc - optind < 2) {
		usage(stderr);
		return EXIT_TROUBLE;
	}
	if (!strcmp(argv[optind + 1], "raw")) {
		if (argc - optind != 3)
			die("raw takes exactly one JSON argument");
		req = parse_raw(argv[optind + 2]);
	} else {
		req = build_request(argv[optind + 1], argv + optind + 2, argc - optind - 2);
	}

	if (qmp_endpoint_parse(argv[optind], &ep, err, sizeof(err)) < 0)
		die("%s", err);
	if (qmp_endpoint_connect(&ep, VMMCTL_TIMEOUT_MS, &c.fd, err, sizeof(err)) < 0)
		die("%s", err);
	/* A reply cannot be longer than the server's output buffer. */
	if (qmp_linebuf_init(&c.in, QMP_OUTBUF_MAX) < 0)
		die("out of memory");

	handshake(&c);
	send_json(&c, req);
	reply = recv_reply(&c);
	if (report_error(reply, argv[optind + 1])) {
		status = EXIT_CMD_ERROR;
	} else {
		json_object_object_get_ex(reply, "return", &ret);
		if (human)
			print_human(ret);
		else
			print_pretty(ret);
		status = 0;
	}
	json_object_put(reply);
	json_object_put(req);
	qmp_linebuf_free(&c.in);
	close(c.fd);
	return status;
}

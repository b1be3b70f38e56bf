// SPDX-License-Identifier: MIT
/*
 * vmmctl: send one QMP command to a running vmm and print the answer.
 *
 *   vmmctl [--human] SOCKET COMMAND [key=value ...]
 *   vmmctl [--human] SOCKET raw '{"execute": ...}'
 *   vmmctl [--json] [--interval MS] SOCKET migrate tcp:HOST:PORT
 *
 * Exit status: 0 the command returned (migrate: the migration completed),
 * 1 it failed (class and message on stderr; migrate: the migration failed
 * or was cancelled), 2 usage, connection or protocol trouble.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "qmp/qmp.h"
#include "qmp/qmp_endpoint.h"
#include "qmp/qmp_framing.h"
#include "migprog.h"

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

/*
 * migrate: how often to sample query-migrate.  On a terminal the line is
 * redrawn in place, four times a second reads as live without flicker;
 * elsewhere (a log, a pipe) one line per second, as the issue asks.
 */
#define MIG_TTY_INTERVAL_MS  250
#define MIG_PIPE_INTERVAL_MS 1000
#define MIG_INTERVAL_MIN_MS  10
#define MIG_INTERVAL_MAX_MS  60000
/*
 * Between two printed samples, query-migrate is still asked this often, so
 * that a status change (a short migration's end, the final copy) is shown
 * and acted on within this long: QEMU sends MIGRATION events only with the
 * "events" capability on, which is not ours to change.
 */
#define MIG_POLL_MS 100

struct conn {
	int fd;
	struct qmp_linebuf in;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmctl [--human] SOCKET COMMAND [key=value ...]\n"
		"       vmmctl [--human] SOCKET raw JSON\n"
		"       vmmctl [--json] [--interval MS] SOCKET migrate tcp:HOST:PORT\n"
		"\n"
		"Send one QMP command to vmm's control socket and print the reply.\n"
		"\n"
		"migrate URI starts a live migration (QMP migrate) and follows it with\n"
		"query-migrate until it ends: a progress line (round, sent and left,\n"
		"rate, dirty rate, expected downtime, the throttle or dirty limit in\n"
		"force), redrawn in place on a terminal, one line per second otherwise;\n"
		"then a summary.  Ctrl-C cancels the migration (migrate_cancel); a\n"
		"second Ctrl-C leaves at once.  Works with QEMU as with vmm.\n"
		"  --json         one JSON object per sample ({\"elapsed-ms\", \"migrate\":\n"
		"                 query-migrate's reply, \"vcpu-dirty-limit\"}), then\n"
		"                 {\"summary\": {...}}\n"
		"  --interval MS  sample every MS ms (default %d on a terminal, else %d)\n"
		"  Exit status 0 only if the migration completed, 1 if it failed or\n"
		"  was cancelled.  (migrate uri=URI sends the plain command.)\n"
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
		"  vmmctl --human /tmp/vmm.sock query-vcpu-dirty-limit\n"
		"  vmmctl /tmp/vmm.sock migrate tcp:10.0.0.2:4444\n",
		MIG_TTY_INTERVAL_MS, MIG_PIPE_INTERVAL_MS, VMMCTL_TIMEOUT_MS / 1000);
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

/*
 * One recv() into the line buffer, once poll() says there is something:
 * an interrupted call receives nothing (the caller loops and polls again).
 * Dies on an error and when the server closes the connection.
 */
static void recv_some(struct conn *c)
{
	size_t room;
	char *p = qmp_linebuf_space(&c->in, &room);
	ssize_t n = recv(c->fd, p, room, 0);

	if (n < 0 && errno == EINTR)
		return;
	if (n < 0)
		die("receiving: %s", strerror(errno));
	if (n == 0)
		die("the server closed the connection");
	qmp_linebuf_commit(&c->in, (size_t)n);
}

/* The next JSON object from the server. */
static json_object *recv_json(struct conn *c)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	json_object *o;
	size_t len;
	char *line;
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
		recv_some(c);
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

/* --- migrate: follow a migration ---------------------------------------------- */

/* Set by SIGINT: 1 = cancel the migration, 2 = leave now. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	if (interrupted)
		_exit(EXIT_CMD_ERROR);
	interrupted = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Send one command, return its reply (events skipped); the caller puts it. */
static json_object *command(struct conn *c, const char *name, json_object *args)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "execute", json_object_new_string(name));
	if (args)
		json_object_object_add(req, "arguments", args);
	send_json(c, req);
	json_object_put(req);
	return recv_reply(c);
}

/*
 * Wait up to ms for a MIGRATION event (a status change: sample at once).
 * Other events are dropped.  Returns early on Ctrl-C too.
 */
static void wait_migration_event(struct conn *c, int ms)
{
	double end = now_s() + ms / 1000.0;
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

	for (;;) {
		json_object *o, *ev;
		size_t len;
		char *line;
		int r, left;

		while ((r = qmp_linebuf_next(&c->in, &line, &len)) > 0) {
			bool mig = false;

			o = json_tokener_parse(line);
			if (o && json_object_object_get_ex(o, "event", &ev))
				mig = !strcmp(json_object_get_string(ev), "MIGRATION");
			json_object_put(o);
			if (mig)
				return;
		}
		if (r < 0)
			die("a line longer than %d bytes", QMP_OUTBUF_MAX);
		left = (int)((end - now_s()) * 1000.0);
		if (left <= 0 || interrupted)
			return;
		r = poll(&pfd, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("poll: %s", strerror(errno));
		if (r == 0)
			return;
		recv_some(c);
	}
}

/* Print a line in place on a terminal: cut to its width, so that it never wraps. */
static void print_in_place(const char *line)
{
	struct winsize ws;
	int w = 0;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		w = ws.ws_col - 1;
	if (w > 0)
		printf("\r%.*s\033[K", w, line);
	else
		printf("\r%s\033[K", line);
	fflush(stdout);
}

static void json_put_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static json_object *summary_json(const struct migprog *p, double elapsed)
{
	json_object *s = json_object_new_object(), *o = json_object_new_object();

	json_object_object_add(s, "status", json_object_new_string(p->status));
	json_put_u64(s, "total-time",
		     p->has_total_time ? p->total_time_ms : (uint64_t)(elapsed * 1000.0));
	if (p->has_setup_time)
		json_put_u64(s, "setup-time", p->setup_time_ms);
	if (p->has_downtime)
		json_put_u64(s, "downtime", p->downtime_ms);
	if (p->has_ram) {
		json_put_u64(s, "transferred", p->transferred);
		json_put_u64(s, "remaining", p->remaining);
		json_put_u64(s, "total", p->total);
		json_put_u64(s, "normal-bytes", p->normal_bytes);
		json_put_u64(s, "duplicate", p->duplicate);
		json_put_u64(s, "dirty-sync-count", p->dirty_sync_count);
	}
	json_put_u64(s, "peak-cpu-throttle-percentage", p->peak_throttle);
	json_put_u64(s, "lowest-dirty-limit", p->lowest_limit);
	json_put_u64(s, "peak-vcpus-limited", p->peak_limited);
	if (p->error_desc[0])
		json_object_object_add(s, "error-desc", json_object_new_string(p->error_desc));
	json_object_object_add(o, "summary", s);
	return o;
}

static void print_compact(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						   JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
}

/*
 * vmmctl SOCKET migrate URI: start it, follow it, summarise it.  Returns the
 * exit status: 0 completed, 1 failed or cancelled (or refused).
 */
static int migrate_follow(struct conn *c, const char *uri, bool json, int interval_ms)
{
	bool tty = !json && isatty(STDOUT_FILENO), ask_limits = true, cancel_sent = false;
	struct migprog prev, cur;
	char line[MIGPROG_LINE_MAX], sum[MIGPROG_SUMMARY_MAX];
	json_object *args = json_object_new_object(), *reply, *ret, *lim;
	struct sigaction sa = {.sa_handler = on_sigint};
	double t0, elapsed = 0, printed = -1e9;
	bool have_prev = false, show;

	if (interval_ms <= 0)
		interval_ms = tty ? MIG_TTY_INTERVAL_MS : MIG_PIPE_INTERVAL_MS;
	json_object_object_add(args, "uri", json_object_new_string(uri));
	reply = command(c, "migrate", args);
	if (report_error(reply, "migrate")) {
		json_object_put(reply);
		return EXIT_CMD_ERROR;
	}
	json_object_put(reply);
	t0 = now_s();
	/* No SA_RESTART: a Ctrl-C wakes the poll, and we cancel at once. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);

	for (;;) {
		if (interrupted && !cancel_sent) {
			if (tty)
				printf("\n");
			fprintf(stderr, "vmmctl: interrupted: cancelling the migration "
					"(Ctrl-C again to leave at once)\n");
			reply = command(c, "migrate_cancel", NULL);
			report_error(reply, "migrate_cancel");
			json_object_put(reply);
			cancel_sent = true;
		}
		reply = command(c, "query-migrate", NULL);
		if (report_error(reply, "query-migrate")) {
			json_object_put(reply);
			return EXIT_TROUBLE;
		}
		elapsed = now_s() - t0;
		json_object_object_get_ex(reply, "return", &ret);
		if (migprog_parse(ret, &cur) < 0)
			die("query-migrate: the reply is not an object");
		lim = NULL;
		if (ask_limits) {
			/* A monitor without dirty limits in force refuses: stop asking. */
			lim = command(c, "query-vcpu-dirty-limit", NULL);
			if (json_object_object_get_ex(lim, "error", NULL)) {
				json_object_put(lim);
				lim = NULL;
				ask_limits = false;
			}
		}
		migprog_limits(lim ? json_object_object_get(lim, "return") : NULL, &cur);
		migprog_carry(have_prev ? &prev : NULL, &cur);
		/* Every interval, and at once when the status changes. */
		show = elapsed - printed >= interval_ms / 1000.0 - 0.005 || !have_prev ||
		       strcmp(prev.status, cur.status);
		if (show)
			printed = elapsed;
		if (show && json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "elapsed-ms",
					       json_object_new_int64((int64_t)(elapsed * 1000.0)));
			json_object_object_add(o, "migrate", json_object_get(ret));
			json_object_object_add(
			    o, "vcpu-dirty-limit",
			    lim ? json_object_get(json_object_object_get(lim, "return")) : NULL);
			print_compact(o);
			json_object_put(o);
		} else if (show) {
			migprog_line(&cur, elapsed, line, sizeof(line));
			if (tty)
				print_in_place(line);
			else
				printf("%s\n", line), fflush(stdout);
		}
		json_object_put(lim);
		json_object_put(reply);
		prev = cur;
		have_prev = true;
		/* Before any migration QEMU says "none": ours did not start. */
		if (migprog_final(cur.status) || (!strcmp(cur.status, "none") && elapsed > 1.0))
			break;
		wait_migration_event(c, interval_ms < MIG_POLL_MS ? interval_ms : MIG_POLL_MS);
	}
	if (tty)
		printf("\n");
	if (json) {
		json_object *o = summary_json(&cur, elapsed);

		print_compact(o);
		json_object_put(o);
	} else {
		migprog_summary(&cur, elapsed, sum, sizeof(sum));
		fputs(sum, stdout);
	}
	return strcmp(cur.status, "completed") ? EXIT_CMD_ERROR : 0;
}

/* --- main ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"human", no_argument, NULL, 'H'},
	    {"help", no_argument, NULL, 'h'},
	    {"json", no_argument, NULL, 'j'},
	    {"interval", required_argument, NULL, 'i'},
	    {NULL, 0, NULL, 0},
	};
	char err[QMP_ERR_MAX];
	struct qmp_endpoint ep;
	json_object *req, *reply, *ret;
	struct conn c;
	bool human = false, json = false, follow;
	int opt, status, interval_ms = 0;
	char *end;
	long l;

	/* "+": stop at the first operand, so "cpu-index=-1"-like values are not options. */
	while ((opt = getopt_long(argc, argv, "+Hh", opts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			human = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'j':
			json = true;
			break;
		case 'i':
			errno = 0;
			l = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || l < MIG_INTERVAL_MIN_MS ||
			    l > MIG_INTERVAL_MAX_MS)
				die("--interval: '%s' is not a number of ms from %d to %d", optarg,
				    MIG_INTERVAL_MIN_MS, MIG_INTERVAL_MAX_MS);
			interval_ms = (int)l;
			break;
		default:
			usage(stderr);
			return EXIT_TROUBLE;
		}
	}
	if (argc - optind < 2) {
		usage(stderr);
		return EXIT_TROUBLE;
	}
	/* "migrate URI" (no '='): start and follow; "migrate uri=URI" is the plain command. */
	follow = !strcmp(argv[optind + 1], "migrate") && argc - optind == 3 &&
		 !strchr(argv[optind + 2], '=');
	if ((json || interval_ms) && !follow)
		die("--json and --interval go with 'migrate URI' (see --help)");
	if (human && follow)
		die("--human does not go with 'migrate URI' (its output is for people already)");
	req = NULL;
	if (follow) {
		/* The URI is the server's to check (QEMU takes more kinds than tcp:). */
	} else if (!strcmp(argv[optind + 1], "raw")) {
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
	if (follow) {
		status = migrate_follow(&c, argv[optind + 2], json, interval_ms);
		qmp_linebuf_free(&c.in);
		close(c.fd);
		return status;
	}
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

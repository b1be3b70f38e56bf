// SPDX-License-Identifier: MIT
/*
 * human-monitor-command: the HMP commands that match ours, with QEMU's
 * names, arguments and output text (lines end in "\r\n", as QEMU's monitor
 * sends them), so that qmp-shell -H and scripts that read HMP text work.
 * Each one calls the same backend as its QMP twin.  As in QEMU, a failing
 * HMP command still "returns": its output says "Error: ...".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp_args.h"
#include "qmp/qmp_dispatch.h"

/* Words in one HMP command line that we look at; the rest is "extraneous". */
#define HMP_MAX_WORDS 8

const struct qmp_arg qmp_hmp_args[] = {
    {"command-line", QMP_ARG_STR, false, NULL},
    {"cpu-index", QMP_ARG_INT, true, NULL},
    {.name = NULL},
};

struct hmp {
	struct qmp_call *c;
	char *out; /* what the command printed */
	size_t len;
	bool oom;
	int cpu;	  /* the monitor's current CPU (cpu-index) */
	const char *name; /* the command as typed, for "Try help" */
	char *words[HMP_MAX_WORDS];
	int nwords; /* words after the command name */
	bool extra; /* more words than HMP_MAX_WORDS */
};

static void hmp_printf(struct hmp *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print, turning "\n" into "\r\n" as QEMU's monitor does. */
static void hmp_printf(struct hmp *h, const char *fmt, ...)
{
	char *s, *nb;
	va_list ap;
	size_t i;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		h->oom = true;
		return;
	}
	nb = realloc(h->out, h->len + 2 * (size_t)n + 1);
	if (!nb) {
		h->oom = true;
		free(s);
		return;
	}
	h->out = nb;
	for (i = 0; i < (size_t)n; i++) {
		if (s[i] == '\n')
			h->out[h->len++] = '\r';
		h->out[h->len++] = s[i];
	}
	h->out[h->len] = '\0';
	free(s);
}

/* The command's output becomes the return value. */
static void hmp_done(struct hmp *h)
{
	if (!h->oom)
		h->c->ret = json_object_new_string_len(h->out ? h->out : "", (int)h->len);
	free(h->out);
	h->out = NULL;
}

static void try_help(struct hmp *h, const char *topic)
{
	hmp_printf(h, "Try \"help %s\" for more information\n", topic);
}

/* QEMU's complaint about arguments left over. */
static bool no_more(struct hmp *h, int used, const char *table_name, const char *topic)
{
	if (h->nwords <= used && !h->extra)
		return true;
	hmp_printf(h, "%s: extraneous characters at the end of line\n", table_name);
	try_help(h, topic);
	return false;
}

/* An integer argument (decimal or 0x hex, optionally negative), QEMU's complaints otherwise. */
static bool int_arg(struct hmp *h, int i, int64_t *v)
{
	const char *s = h->words[i], *p;
	char *end;

	if (i >= h->nwords) {
		hmp_printf(h, "unexpected end of expression\n");
		try_help(h, h->name);
		return false;
	}
	errno = 0;
	*v = strtoll(s, &end, 0);
	if (end == s || *end || errno) {
		for (p = s; *p && strchr("-0123456789xX", *p); p++)
			;
		hmp_printf(h, "invalid char '%c' in expression\n", *p ? *p : s[0]);
		try_help(h, h->name);
		return false;
	}
	return true;
}

/* --- info ----------------------------------------------------------------------- */

static void info_status(struct hmp *h)
{
	bool running = false;
	const char *st = h->c->be->status ? h->c->be->status(h->c->be->opaque, &running) : NULL;

	hmp_printf(h, "VM status: %s", running ? "running" : "paused");
	if (!running && st && strcmp(st, "paused"))
		hmp_printf(h, " (%s)", st);
	hmp_printf(h, "\n");
}

static void info_cpus(struct hmp *h)
{
	struct qmp_cpu_info *cpus = calloc(QMP_MAX_VCPUS, sizeof(*cpus));
	int i, n;

	if (!cpus || !h->c->be->cpus) {
		free(cpus);
		return;
	}
	n = h->c->be->cpus(h->c->be->opaque, cpus, QMP_MAX_VCPUS);
	for (i = 0; i < n && i < QMP_MAX_VCPUS; i++)
		hmp_printf(h, "%c CPU #%d: thread_id=%" PRId64 "\n",
			   cpus[i].cpu_index == h->cpu ? '*' : ' ', cpus[i].cpu_index,
			   cpus[i].thread_id);
	free(cpus);
}

static void info_dirty_rate(struct hmp *h)
{
	static const char *const st[] = {"unstarted", "measuring", "measured"};
	struct qmp_dirty_rate *dr = calloc(1, sizeof(*dr));

	if (!dr || !h->c->be->query_dirty_rate ||
	    h->c->be->query_dirty_rate(h->c->be->opaque, dr) < 0 ||
	    (unsigned)dr->status > QMP_DIRTY_RATE_MEASURED) {
		free(dr);
		return;
	}
	hmp_printf(h, "Status: %s\n", st[dr->status]);
	/* QEMU labels the start time "(ms)" and prints seconds; so do we. */
	hmp_printf(h, "Start Time: %" PRId64 " (ms)\n", dr->start_time);
	/* QEMU 8.2 prints the period in the unit it was asked in. */
	if (dr->calc_time_ms % 1000)
		hmp_printf(h, "Period: %" PRId64 " (ms)\n", dr->calc_time_ms);
	else
		hmp_printf(h, "Period: %" PRId64 " (sec)\n", dr->calc_time_ms / 1000);
	hmp_printf(h, "Mode: %s\n", dr->mode ? dr->mode : "dirty-ring");
	hmp_printf(h, "Dirty rate: ");
	if (dr->status == QMP_DIRTY_RATE_MEASURED) {
		hmp_printf(h, "%" PRId64 " (MB/s)\n", dr->dirty_rate);
		for (int i = 0; i < dr->nr_vcpus && i < QMP_MAX_VCPUS; i++)
			hmp_printf(h, "vcpu[%d], Dirty rate: %" PRId64 " (MB/s)\n", dr->vcpu[i].id,
				   dr->vcpu[i].dirty_rate);
	} else {
		hmp_printf(h, "(not ready)\n");
	}
	free(dr);
}

static void info_vcpu_dirty_limit(struct hmp *h)
{
	struct qmp_dirty_limit *dl = calloc(QMP_MAX_VCPUS, sizeof(*dl));
	int i, n = -1;

	if (dl && h->c->be->query_dirty_limit)
		n = h->c->be->query_dirty_limit(h->c->be->opaque, dl, QMP_MAX_VCPUS);
	if (n <= 0)
		hmp_printf(h, "Dirty page limit not enabled!\n");
	for (i = 0; i < n && i < QMP_MAX_VCPUS; i++)
		hmp_printf(
		    h, "vcpu[%d], limit rate %" PRIu64 " (MB/s), current rate %" PRIu64 " (MB/s)\n",
		    dl[i].cpu_index, dl[i].limit_rate, dl[i].current_rate);
	free(dl);
}

static void info_version(struct hmp *h)
{
	int major, minor, micro;

	qmp_version(&major, &minor, &micro);
	/* QEMU's format: the version, then the package, unseparated. */
	hmp_printf(h, "%d.%d.%d%s\n", major, minor, micro, "vmm " QMP_VMM_VERSION);
}

static void info_name(struct hmp *h)
{
	if (h->c->be->name)
		hmp_printf(h, "%s\n", h->c->be->name);
}

static void info_uuid(struct hmp *h)
{
	hmp_printf(h, "00000000-0000-0000-0000-000000000000\n");
}

static void info_kvm(struct hmp *h)
{
	hmp_printf(h, "kvm support: enabled\n");
}

static void info_iothreads(struct hmp *h)
{
	(void)h; /* none */
}

struct hmp_info {
	const char *name;
	const char *help;
	void (*run)(struct hmp *h);
};

/* Sorted by name, as QEMU lists them. */
static const struct hmp_info infos[] = {
    {"cpus", "show infos for each CPU", info_cpus},
    {"dirty_rate", "show dirty rate information", info_dirty_rate},
    {"iothreads", "show iothreads", info_iothreads},
    {"kvm", "show KVM information", info_kvm},
    {"name", "show the current VM name", info_name},
    {"status", "show the current VM status (running|paused)", info_status},
    {"uuid", "show the current VM UUID", info_uuid},
    {"vcpu_dirty_limit", "show dirty page limit information of all vCPU", info_vcpu_dirty_limit},
    {"version", "show the version of QEMU", info_version},
};

#define NR_INFOS (sizeof(infos) / sizeof(infos[0]))

static void list_infos(struct hmp *h)
{
	for (size_t i = 0; i < NR_INFOS; i++)
		hmp_printf(h, "info %s  -- %s\n", infos[i].name, infos[i].help);
}

static void cmd_info(struct hmp *h)
{
	char topic[64];
	size_t i;

	if (!h->nwords) {
		list_infos(h);
		return;
	}
	for (i = 0; i < NR_INFOS && strcmp(infos[i].name, h->words[0]); i++)
		;
	if (i == NR_INFOS) {
		hmp_printf(h, "unknown command: 'info %s'\n", h->words[0]);
		return;
	}
	snprintf(topic, sizeof(topic), "info %s", infos[i].name);
	if (no_more(h, 1, infos[i].name, topic))
		infos[i].run(h);
}

/* --- the commands ---------------------------------------------------------------------- */

static void print_error(struct hmp *h, int r, const char *err)
{
	hmp_printf(h, "Error: %s\n", err && err[0] ? err : strerror(r < 0 ? -r : EIO));
}

/* The output of a command that went pending (stop), once done. */
static void finish_quiet(struct qmp_call *c, int r, const char *err)
{
	struct hmp h = {.c = c};

	if (r < 0)
		print_error(&h, r, err);
	hmp_done(&h);
}

static void cmd_stop(struct hmp *h)
{
	char err[QMP_ERR_MAX] = "";
	int r;

	if (!h->c->be->stop)
		return;
	r = h->c->be->stop(h->c->be->opaque, err, sizeof(err));
	if (r == QMP_IN_PROGRESS)
		h->c->finish = finish_quiet;
	else if (r < 0)
		print_error(h, r, err);
}

static void cmd_cont(struct hmp *h)
{
	char err[QMP_ERR_MAX] = "";
	int r;

	if (!h->c->be->cont)
		return;
	r = h->c->be->cont(h->c->be->opaque, err, sizeof(err));
	if (r < 0)
		print_error(h, r, err);
}

static void cmd_quit(struct hmp *h)
{
	if (h->c->be->quit)
		h->c->be->quit(h->c->be->opaque);
}

static void cmd_cpu(struct hmp *h)
{
	int64_t i;

	if (int_arg(h, 0, &i))
		h->cpu = (int)i;
}

/* calc_dirty_rate [-r] [-b] second [sample_pages_per_GB] */
static void cmd_calc_dirty_rate(struct hmp *h)
{
	char err[QMP_ERR_MAX] = "";
	bool ring = false, bitmap = false;
	int64_t sec, pages;
	int a = 0, r;

	for (; a < h->nwords && h->words[a][0] == '-' && strchr("rb", h->words[a][1]) &&
	       !h->words[a][2];
	     a++) {
		ring |= h->words[a][1] == 'r';
		bitmap |= h->words[a][1] == 'b';
	}
	if (!int_arg(h, a, &sec))
		return;
	if (a + 1 < h->nwords && !int_arg(h, a + 1, &pages))
		return;
	if (!no_more(h, a + 2, "calc_dirty_rate", "calc_dirty_rate"))
		return;
	if (!sec) {
		hmp_printf(h, "Incorrect period length specified!\n");
		return;
	}
	if (ring && bitmap) {
		hmp_printf(h, "Either dirty ring or dirty bitmap can be specified!\n");
		return;
	}
	/* The dirty ring is the only method vmm has: it is the default here. */
	if (bitmap) {
		hmp_printf(h, "Error: mode dirty-bitmap is not supported, only dirty-ring is\n");
		return;
	}
	if (a + 1 < h->nwords) {
		hmp_printf(h, "Error: sample-pages is used only in page-sampling mode\n");
		return;
	}
	if (sec < 0 || sec > QMP_CALC_TIME_MAX_MS / 1000) {
		hmp_printf(h, "Error: Calculation time is out of range [%dms, %dms].\n",
			   QMP_CALC_TIME_MIN_MS, QMP_CALC_TIME_MAX_MS);
		return;
	}
	if (!h->c->be->calc_dirty_rate)
		return;
	r = h->c->be->calc_dirty_rate(h->c->be->opaque, (uint64_t)sec * 1000, "dirty-ring", err,
				      sizeof(err));
	if (r < 0) {
		print_error(h, r, err);
		return;
	}
	hmp_printf(h, "Starting dirty rate measurement with period %" PRId64 " seconds\n", sec);
	hmp_printf(h, "[Please use 'info dirty_rate' to check results]\n");
}

/* The optional cpu_index at word i: -1 (every vCPU) if absent. */
static bool cpu_word(struct hmp *h, int i, int *cpu, bool *ok)
{
	int64_t v;

	*cpu = -1;
	*ok = true;
	if (i >= h->nwords)
		return true;
	if (!int_arg(h, i, &v)) {
		*ok = false;
		return false;
	}
	*cpu = v < 0 || v > 0x7fffffff ? 0x7fffffff : (int)v;
	return true;
}

/* set_vcpu_dirty_limit dirty_rate [cpu_index] */
static void cmd_set_vcpu_dirty_limit(struct hmp *h)
{
	char err[QMP_ERR_MAX] = "";
	int64_t rate;
	bool ok;
	int cpu, r;

	if (!int_arg(h, 0, &rate) || !cpu_word(h, 1, &cpu, &ok) || !ok ||
	    !no_more(h, 2, "set_vcpu_dirty_limit", "set_vcpu_dirty_limit"))
		return;
	if (rate < 0) {
		hmp_printf(h, "Error: invalid dirty page limit %" PRId64 "\n", rate);
		return;
	}
	if (!h->c->be->set_dirty_limit || !h->c->be->cancel_dirty_limit)
		return;
	if (rate)
		r = h->c->be->set_dirty_limit(h->c->be->opaque, cpu, (uint64_t)rate, err,
					      sizeof(err));
	else
		r = h->c->be->cancel_dirty_limit(h->c->be->opaque, cpu, err, sizeof(err));
	if (r < 0)
		print_error(h, r, err);
}

/* cancel_vcpu_dirty_limit [cpu_index] */
static void cmd_cancel_vcpu_dirty_limit(struct hmp *h)
{
	char err[QMP_ERR_MAX] = "";
	bool ok;
	int cpu, r;

	if (!cpu_word(h, 0, &cpu, &ok) || !ok ||
	    !no_more(h, 1, "cancel_vcpu_dirty_limit", "cancel_vcpu_dirty_limit"))
		return;
	if (!h->c->be->cancel_dirty_limit)
		return;
	r = h->c->be->cancel_dirty_limit(h->c->be->opaque, cpu, err, sizeof(err));
	if (r < 0) {
		print_error(h, r, err);
		return;
	}
	hmp_printf(h,
		   "[Please use 'info vcpu_dirty_limit' to query dirty limit for virtual CPU]\n");
}

struct hmp_cmd {
	const char *names; /* "stop|s": the name and its short form, as QEMU lists them */
	const char *params;
	const char *help;
	int max_words; /* words it takes; more are "extraneous" (-1: checks itself) */
	void (*run)(struct hmp *h);
};

static void cmd_help(struct hmp *h);

/* Sorted by name, as QEMU lists them. */
static const struct hmp_cmd cmds[] = {
    {"calc_dirty_rate", "[-r] [-b] second [sample_pages_per_GB]",
     "start a round of guest dirty rate measurement (-r: the dirty ring, vmm's only method)", -1,
     cmd_calc_dirty_rate},
    {"cancel_vcpu_dirty_limit", "[cpu_index]",
     "cancel dirty page rate limit, use cpu_index to cancel limit on a specified virtual cpu", -1,
     cmd_cancel_vcpu_dirty_limit},
    {"cont|c", "", "resume emulation", 0, cmd_cont},
    {"cpu", "index", "set the default CPU", 1, cmd_cpu},
    {"help|?", "[cmd]", "show the help", -1, cmd_help},
    {"info", "[subcommand]", "show various information about the system state", -1, cmd_info},
    {"quit|q", "", "quit the emulator", 0, cmd_quit},
    {"set_vcpu_dirty_limit", "dirty_rate [cpu_index]",
     "set dirty page rate limit, use cpu_index to set limit on a specified virtual cpu", -1,
     cmd_set_vcpu_dirty_limit},
    {"stop|s", "", "stop emulation", 0, cmd_stop},
};

#define NR_CMDS (sizeof(cmds) / sizeof(cmds[0]))

/* Does typed name the command whose names are "long|short"? */
static bool names_match(const char *names, const char *typed)
{
	size_t n = strlen(typed);
	const char *p = names;

	for (;;) {
		const char *bar = strchrnul(p, '|');

		if ((size_t)(bar - p) == n && !memcmp(p, typed, n))
			return true;
		if (!*bar)
			return false;
		p = bar + 1;
	}
}

static const struct hmp_cmd *find_cmd(const char *typed)
{
	for (size_t i = 0; i < NR_CMDS; i++)
		if (names_match(cmds[i].names, typed))
			return &cmds[i];
	return NULL;
}

static void print_cmd_help(struct hmp *h, const struct hmp_cmd *c)
{
	hmp_printf(h, "%s %s -- %s\n", c->names, c->params, c->help);
}

static void cmd_help(struct hmp *h)
{
	const struct hmp_cmd *c;

	if (!no_more(h, 1, "help|?", "help"))
		return;
	if (!h->nwords) {
		for (size_t i = 0; i < NR_CMDS; i++)
			print_cmd_help(h, &cmds[i]);
		return;
	}
	if (!strcmp(h->words[0], "info")) {
		list_infos(h);
		return;
	}
	c = find_cmd(h->words[0]);
	if (c)
		print_cmd_help(h, c);
	else
		hmp_printf(h, "unknown command: '%s'\n", h->words[0]);
}

void qmp_cmd_human_monitor_command(struct qmp_call *c)
{
	const char *line = "";
	const struct hmp_cmd *cmd;
	struct hmp h = {.c = c, .cpu = 0};
	char *copy, *save = NULL, *w;
	int64_t cpu;

	qmp_arg_str(c->args, "command-line", &line);
	if (qmp_arg_int(c->args, "cpu-index", &cpu)) {
		struct qmp_cpu_info *cpus = calloc(QMP_MAX_VCPUS, sizeof(*cpus));
		int n = cpus && c->be->cpus ? c->be->cpus(c->be->opaque, cpus, QMP_MAX_VCPUS) : 0;

		free(cpus);
		/* QEMU's words for a cpu-index that is not a vCPU. */
		if (cpu < 0 || cpu >= n) {
			qmp_call_fail(c, "Parameter 'cpu-index' expects a CPU number");
			return;
		}
		h.cpu = (int)cpu;
	}
	copy = strdup(line);
	if (!copy)
		return;
	h.name = strtok_r(copy, " \t\r\n", &save);
	if (!h.name) {
		free(copy);
		hmp_done(&h);
		return;
	}
	while ((w = strtok_r(NULL, " \t\r\n", &save))) {
		if (h.nwords == HMP_MAX_WORDS) {
			h.extra = true;
			break;
		}
		h.words[h.nwords++] = w;
	}
	cmd = find_cmd(h.name);
	if (!cmd)
		hmp_printf(&h, "unknown command: '%s'\n", h.name);
	else if (cmd->max_words < 0 || no_more(&h, cmd->max_words, cmd->names, h.name))
		cmd->run(&h);
	free(copy);
	/* A command gone pending (stop) prints when it is done. */
	if (c->finish) {
		free(h.out);
		return;
	}
	hmp_done(&h);
}

/* SPDX-License-Identifier: MIT */
/*
 * vmm: the program.  The main thread parses the command line, checks and
 * opens what the run needs from outside (the kernel file, the output
 * streams), builds the VM, starts the vCPU, controller and control-socket
 * threads, then waits for a signal, the end of --duration or a stop
 * request, and tears down.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/app.h"
#include "vmm/cli.h"
#include "vmm/hostmem.h"
#include "vmm/log.h"
#include "vmm/nbout.h"
#include "vmm/vm.h"

/* A kernel image larger than this is not a kernel we can load. */
#define MAIN_KERNEL_MAX (256u << 20)
/* /proc/meminfo is about 1.5 KiB; its first lines are the ones we read. */
#define MAIN_MEMINFO_MAX 8192
/* The exit status for a guest power-off value that does not fit in one (> 254). */
#define MAIN_STATUS_MAX 255

extern const unsigned char vmm_stress_elf[];
extern const unsigned long vmm_stress_elf_len;

static const char *file_type(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

/*
 * The kernel must be a regular file: look before opening (a FIFO would
 * block the open until a writer came, a device could do anything), open
 * without blocking all the same, and look again at what was opened.
 */
static int read_kernel(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "cannot open kernel %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "kernel %s is not a regular file (it is %s)", path,
			 file_type(st.st_mode));
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open kernel %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "kernel %s is not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > MAIN_KERNEL_MAX) {
		snprintf(err, errlen, "kernel %s is %s (%lld bytes; at most %u MiB)", path,
			 st.st_size == 0 ? "empty" : "too large", (long long)st.st_size,
			 MAIN_KERNEL_MAX >> 20);
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory reading %s", path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cannot read kernel %s: %s", path,
				 n < 0 ? strerror(errno) : "short read");
			free(buf);
			close(fd);
			return -EIO;
		}
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}

/* Does the host have @want bytes for the guest? 0, or -ENOMEM with a sentence. */
static int check_host_memory(uint64_t want, char *err, size_t errlen)
{
	char text[MAIN_MEMINFO_MAX];
	struct hostmem h;
	ssize_t n = -1;
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
	}
	if (n > 0) {
		text[n] = '\0';
		if (hostmem_parse(text, &h) == 0)
			return hostmem_check(want, &h, err, errlen);
	}
	/* No /proc/meminfo (or too old a kernel): at least the host's RAM. */
	h.total = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	if (h.total && want > h.total) {
		snprintf(err, errlen, "--mem %llu MiB is more than this host has (%llu MiB of RAM)",
			 (unsigned long long)(want >> 20), (unsigned long long)(h.total >> 20));
		return -ENOMEM;
	}
	return 0;
}

/* An output stream's first loss, said on stderr (nbout.h). */
static void say(const char *line)
{
	vmm_log("%s", line);
}

/*
 * Close an output stream and say what it lost.  Output lost to an error (a
 * full disk, /dev/full, a reader that closed the pipe) is a failure of the
 * run: it returns true.  Output dropped because nobody was reading is not.
 */
static bool close_output(struct nbout *o)
{
	struct nbout_stats st;
	char line[384];

	nbout_close(o, &st);
	if (!st.dropped)
		return false;
	nbout_describe(o->name, &st, line, sizeof(line));
	vmm_log("%s", line);
	return st.error != 0;
}

/*
 * The stop signals are blocked from the first instruction on and read by
 * the main thread once the VM runs (app.c).  Blocked, a signal waits for us
 * even when it arrives early: a script's background command starts with
 * SIGINT ignored (POSIX shells do that without job control), and an ignored
 * signal that is not blocked is simply lost, so `vmm & kill -INT $!` early
 * in start-up left vmm running for good.  Every step before the main thread
 * waits is short, so a signal is acted on within a fraction of a second.
 */
static void block_stop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int main(int argc, char **argv)
{
	/* --duration counts from here, not from the end of start-up. */
	uint64_t launch_ns = vmm_now_ns();
	struct nbout errs, out, stats_file;
	struct app_env env = {.launch_ns = launch_ns};
	struct vmm_config cfg;
	char err[512], name[160];
	uint8_t *kernel = NULL;
	size_t kernel_len = 0;
	bool lost = false;
	int r, status;

	block_stop_signals();
	r = cli_parse(argc, argv, &cfg, err, sizeof(err));
	if (r == CLI_HELP) {
		fputs(cli_usage(), stdout);
		return 0;
	}
	if (r == CLI_VERSION) {
		printf("vmm %s\n", VMM_VERSION);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "vmm: %s\nTry 'vmm --help' for more information.\n", err);
		return 2;
	}
	if (check_host_memory(cfg.mem_size, err, sizeof(err)) < 0) {
		vmm_log("%s", err);
		return 2;
	}
	if (cfg.kernel) {
		r = read_kernel(cfg.kernel, &kernel, &kernel_len, err, sizeof(err));
		if (r < 0) {
			vmm_log("%s", err);
			return 2;
		}
	}

	/* From here on, no output blocks the VM or its shutdown (nbout.h). */
	signal(SIGPIPE, SIG_IGN);
	nbout_adopt(&errs, 2, "standard error", NULL);
	vmm_log_to(&errs);
	nbout_adopt(&out, 1,
		    cfg.stats_path && !strcmp(cfg.stats_path, "-")
			? "standard output (console and --stats)"
			: "standard output (console)",
		    say);
	env.console = &out;
	if (cfg.stats_path && !strcmp(cfg.stats_path, "-")) {
		env.stats = &out;
	} else if (cfg.stats_path) {
		snprintf(name, sizeof(name), "--stats %s", cfg.stats_path);
		r = nbout_open(&stats_file, cfg.stats_path, name, say, err, sizeof(err));
		if (r < 0) {
			vmm_log("%s", err);
			status = 2;
			goto out;
		}
		env.stats = &stats_file;
	}

	status = app_run(&cfg, &env, kernel ? kernel : vmm_stress_elf,
			 kernel ? kernel_len : (size_t)vmm_stress_elf_len);
	/* A guest's power-off value is 32 bits: one that does not fit is 255, never 0. */
	if (status < 0 || status > MAIN_STATUS_MAX)
		status = MAIN_STATUS_MAX;
	if (env.stats && env.stats != &out)
		lost |= close_output(&stats_file);
out:
	lost |= close_output(&out);
	if (lost && status == 0)
		status = 1;
	vmm_log_to(NULL);
	nbout_close(&errs, NULL);
	free(kernel);
	return status;
}

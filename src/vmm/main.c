/* SPDX-License-Identifier: MIT */
/*
 * vmm: the program.  The main thread parses the command line, builds the
 * VM, starts the vCPU, controller and control-socket threads, then waits
 * for a signal, the end of --duration or a stop request, and tears down.
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
#include "vmm/log.h"

/* A kernel image larger than this is not a kernel we can load. */
#define MAIN_KERNEL_MAX (256u << 20)

extern const unsigned char vmm_stress_elf[];
extern const unsigned long vmm_stress_elf_len;

static int read_kernel(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
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

/* The host's RAM: a guest larger than this cannot be backed. */
static uint64_t host_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long psz = sysconf(_SC_PAGESIZE);

	return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	char err[512];
	uint8_t *kernel = NULL;
	size_t kernel_len = 0;
	int r, status;

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
	if (host_ram() && cfg.mem_size > host_ram()) {
		vmm_log("--mem %llu MiB is more than this host has (%llu MiB of RAM)",
			(unsigned long long)(cfg.mem_size >> 20),
			(unsigned long long)(host_ram() >> 20));
		return 2;
	}
	if (cfg.kernel) {
		r = read_kernel(cfg.kernel, &kernel, &kernel_len, err, sizeof(err));
		if (r < 0) {
			vmm_log("%s", err);
			return 2;
		}
	}
	status = app_run(&cfg, kernel ? kernel : vmm_stress_elf,
			 kernel ? kernel_len : (size_t)vmm_stress_elf_len);
	free(kernel);
	return status;
}

/* SPDX-License-Identifier: MIT */
/*
 * vm_create() unwinds: with too few file descriptors left, creation fails at
 * each of its fd-opening steps in turn (/dev/kvm, the VM, each vCPU).  After
 * every failure the error names the failing call, every descriptor the
 * attempt opened is closed again, fd 0 is untouched (vm_destroy() once
 * closed fd 0 for the vCPUs that were never created), and a second
 * vm_destroy() is harmless.  The last step succeeds and is destroyed too.
 *
 * Exits 0 (pass), 1 (fail) or 77 (no /dev/kvm).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/vm.h"

/* Enough vCPUs that a failure in the middle of the vCPU loop is tested. */
#define TEST_NCPUS 4
/* /dev/kvm, the VM and one per vCPU. */
#define TEST_FDS    (2 + TEST_NCPUS)
#define TEST_MAX_FD 1024

static int fails;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL: " __VA_ARGS__);                                              \
			printf("\n");                                                              \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)

/* Which descriptors are open: set[fd] = 1. */
static void open_fds(char *set)
{
	memset(set, 0, TEST_MAX_FD);
	for (int fd = 0; fd < TEST_MAX_FD; fd++)
		set[fd] = fcntl(fd, F_GETFD) >= 0;
}

/* The lowest limit under which exactly n more descriptors can be opened. */
static int limit_for(const char *set, int n)
{
	int fd = 0;

	for (;; fd++) {
		if (!set[fd] && n-- == 0)
			return fd;
	}
}

static const char *expected_call(int step)
{
	static char buf[64];

	if (step == 0)
		return "/dev/kvm";
	if (step == 1)
		return "KVM_CREATE_VM";
	snprintf(buf, sizeof(buf), "KVM_CREATE_VCPU(%d)", step - 2);
	return buf;
}

int main(void)
{
	static struct vm vm;
	struct vm_params p = {
	    .shape = {.mem_size = 64ull << 20, .ncpus = TEST_NCPUS, .ring_entries = 4096},
	    .console_out = NULL, /* guest output goes nowhere */
	};
	char before[TEST_MAX_FD], after[TEST_MAX_FD], err[512];
	struct stat st0, st;
	struct rlimit old, lim;
	int pipefd[2];

	if (access("/dev/kvm", F_OK) != 0) {
		printf("SKIP: /dev/kvm is absent\n");
		return 77;
	}
	/* fd 0 is a pipe we know: a close of fd 0 shows as a changed or missing inode. */
	if (pipe(pipefd) < 0 || dup2(pipefd[0], 0) < 0) {
		perror("pipe");
		return 1;
	}
	close(pipefd[0]);
	fstat(0, &st0);
	getrlimit(RLIMIT_NOFILE, &old);

	for (int step = 0; step <= TEST_FDS; step++) {
		int r;

		open_fds(before);
		lim = old;
		lim.rlim_cur = (rlim_t)limit_for(before, step);
		setrlimit(RLIMIT_NOFILE, &lim);
		err[0] = 0;
		r = vm_create(&vm, &p, err, sizeof(err));
		setrlimit(RLIMIT_NOFILE, &old);
		if (step < TEST_FDS) {
			CHECK(r == -EMFILE, "step %d: vm_create returned %d (%s), expected -EMFILE",
			      step, r, err);
			CHECK(strstr(err, expected_call(step)) && strstr(err, strerror(EMFILE)),
			      "step %d: error '%s' does not name %s and '%s'", step, err,
			      expected_call(step), strerror(EMFILE));
		} else {
			CHECK(r == 0, "step %d: vm_create failed with %d fds to spare: %s", step,
			      step, err);
		}
		vm_destroy(&vm);
		vm_destroy(&vm); /* a second destroy must do nothing */
		open_fds(after);
		for (int fd = 0; fd < TEST_MAX_FD; fd++) {
			CHECK(!(before[fd] && !after[fd]), "step %d: fd %d was closed", step, fd);
			CHECK(!(!before[fd] && after[fd]), "step %d: fd %d was left open", step,
			      fd);
		}
		CHECK(fstat(0, &st) == 0 && st.st_ino == st0.st_ino && st.st_dev == st0.st_dev,
		      "step %d: fd 0 is no longer the pipe it was", step);
		printf("step %d: %s\n", step, r < 0 ? err : "created and destroyed");
	}
	if (fails) {
		printf("%d check(s) failed\n", fails);
		return 1;
	}
	printf("ok: vm_create unwinds at every fd-opening step\n");
	return 0;
}

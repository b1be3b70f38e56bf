/* SPDX-License-Identifier: MIT */
/*
 * What the C integration tests (the programs kvm_prog.sh runs: vm_state.c,
 * dirty_mirror.c) share: checks that print "ok:" or "FAIL:" lines, and the
 * start both make (skip without /dev/kvm, read the stress kernel, block
 * the stop signal).  Each program is one file, so the helpers are static.
 */
#ifndef VMM_TESTS_KVM_PROG_H
#define VMM_TESTS_KVM_PROG_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/boot_vm.h"
#include "vmm/vm.h"

/* Checks failed so far: written by check() on the program's main thread only. */
static int fails;

/* One check: "ok: WHAT" or "FAIL: WHAT", counted in fails. */
static inline void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf(ok ? "ok: " : "FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (!ok)
		fails++;
}

/*
 * The start of every such program, after its usage check: exit 77 (skipped)
 * without /dev/kvm, exit 1 if the stress kernel at PATH cannot be read;
 * else the kernel's bytes (malloc()ed) and their count in *len.
 */
static inline uint8_t *kvm_prog_kernel(const char *path, size_t *len)
{
	FILE *f;
	struct stat st;
	uint8_t *kernel = NULL;
	bool ok = false;

	if (access("/dev/kvm", F_OK) != 0) {
		printf("SKIP: /dev/kvm is absent\n");
		exit(77);
	}
	f = fopen(path, "rb");
	if (f && fstat(fileno(f), &st) == 0) {
		*len = (size_t)st.st_size;
		kernel = malloc(*len + 1);
		ok = kernel && fread(kernel, 1, *len, f) == *len;
	}
	if (f)
		fclose(f);
	if (!ok) {
		printf("FAIL: cannot read %s\n", path);
		exit(1);
	}
	return kernel;
}

/*
 * kvm_prog_kernel() into k, then the stop signal blocked on this thread
 * (and the threads it starts), as app.c does: the monitor takes it
 * synchronously; these programs never do.  Returns the kernel's buffer,
 * for free().
 */
static inline uint8_t *kvm_prog_start(const char *path, struct vm_kernel *k)
{
	uint8_t *kernel = kvm_prog_kernel(path, &k->len);
	sigset_t set;

	k->image = kernel;
	sigemptyset(&set);
	sigaddset(&set, VMM_SIG_STOP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return kernel;
}

#endif

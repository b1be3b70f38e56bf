/* SPDX-License-Identifier: MIT */
/* Test knobs acting on a running VM: see testknob.h. */
#include "vmm/testknob.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "vmm/log.h"
#include "vmm/vm.h"

#define TK_PAGE 4096ull
/* stress_stats_hdr.pattern of a seq writer (stress_abi.h): the pattern that checks. */
#define TK_PATTERN_SEQ 0

/* The guest-physical address of the word to flip for vCPU @cpu, or 0 if none yet. */
static uint64_t flip_target(struct vm *vm, int cpu, uint32_t pattern, bool *worker)
{
	struct stress_cpu_stats gs;
	uint64_t npages;

	*worker = false;
	if (vm_guest_stats(vm, cpu, &gs) < 0)
		return 0;
	if (gs.role != STRESS_ROLE_READER &&
	    (gs.role != STRESS_ROLE_WRITER || pattern != TK_PATTERN_SEQ))
		return 0; /* idle, or a random writer: nothing checks its memory */
	*worker = true;
	/* The guest wrote these: check them before touching host memory. */
	npages = gs.wss_size / TK_PAGE;
	if (npages < 2 || gs.wss_base % TK_PAGE || gs.wss_base > vm->ram_size ||
	    gs.wss_size > vm->ram_size - gs.wss_base)
		return 0;
	if (gs.role == STRESS_ROLE_READER)
		/* Filled (the fill counts every page) and reading: word 0 is checked each pass. */
		return gs.pages_written >= npages && gs.bytes_read ? gs.wss_base : 0;
	/* The page written last holds this pass's value; the next pass checks it. */
	if (!gs.pages_written)
		return 0;
	return gs.wss_base + (gs.pages_written - 1) % npages * TK_PAGE;
}

int testknob_flip_words(struct vm *vm, char *msg, size_t msglen)
{
	int n = vm->ncpus < STRESS_MAX_CPUS ? vm->ncpus : STRESS_MAX_CPUS;
	bool paused_here = false, worker;
	uint32_t pattern;
	size_t len = 0;
	int r = 0, flipped = 0;

	if (__atomic_load_n(&vm->stats->hdr.magic, __ATOMIC_ACQUIRE) != STRESS_STATS_MAGIC)
		return -EAGAIN; /* not booted yet (or not the stress kernel: the caller's deadline) */
	pattern = vm->stats->hdr.pattern;
	/* Cheap look first: most calls come before every worker is ready. */
	for (int i = 0; i < n; i++)
		if (!flip_target(vm, i, pattern, &worker) && worker)
			return -EAGAIN;
	if (!vm_is_paused(vm)) {
		r = vm_pause(vm, RUNSTATE_MONITOR);
		if (r < 0)
			return r;
		paused_here = true;
	}
	/* Parked: the counters are still, and so is every working set. */
	for (int i = 0; i < n; i++)
		if (!flip_target(vm, i, pattern, &worker) && worker)
			r = -EAGAIN;
	len = (size_t)snprintf(msg, msglen, "--x-flip-word: flipped bit 0 of the word at");
	for (int i = 0; i < n && r == 0; i++) {
		uint64_t gpa = flip_target(vm, i, pattern, &worker);
		volatile uint64_t *w;

		if (!gpa)
			continue;
		w = (volatile uint64_t *)(vm->ram + gpa);
		*w ^= 1;
		flipped++;
		if (len < msglen)
			len += (size_t)snprintf(msg + len, msglen - len, "%s 0x%llx (vCPU %d)",
						flipped > 1 ? "," : "", (unsigned long long)gpa, i);
	}
	if (r == 0 && !flipped) {
		snprintf(msg, msglen,
			 "--x-flip-word: no seq writer and no reader: nothing the guest checks");
		r = -ENODATA;
	}
	/* Said before the guest runs again, so it comes before the guest's reports. */
	if (r == 0 || r == -ENODATA)
		vmm_log("%s", msg);
	if (paused_here)
		vm_resume(vm, RUNSTATE_MONITOR);
	return r;
}

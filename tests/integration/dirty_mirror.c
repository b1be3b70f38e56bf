/* SPDX-License-Identifier: MIT */
/*
 * The dirty tracker's promise to migration, checked without a network: a
 * mirror of guest RAM kept up to date only from the dirty bitmap equals
 * guest RAM at every "switchover".
 *
 * The stress kernel runs (2 vCPUs: a seq writer and a reader, unthrottled)
 * with the controller's backstop harvest.  The test copies all of RAM into
 * a mirror once after a first take, then loops as the migration thread
 * does: take the bitmap, copy the pages it names into the mirror.  Every
 * few rounds it switches over: vm_pause(MIGRATION), a last take and copy,
 * then every page of the mirror is compared with RAM (any difference is a
 * page whose write the tracker lost: the digest-mismatch of a migration),
 * then vm_resume(MIGRATION).  Meanwhile a chaos thread does what the soak's
 * QMP client does, aimed at the switchover: dirty limits set and cancelled
 * on random vCPUs, a user's stop and cont.
 *
 * The chaos thread also kicks the vCPUs every KICK_US: a kick that lands
 * while a vCPU thread is inside KVM_RESET_DIRTY_RINGS made the kernel drop
 * the batch of pages it was write-protecting again; those pages then took
 * writes with no ring entry, for good (the mirror shows such a page one
 * seq pass behind RAM at every later switchover).
 *
 * A switchover here takes a few milliseconds (no stream), so a run of a few
 * seconds makes over a hundred of them: the soak made 302 in 12 minutes.
 *
 * Usage: test_dirty_mirror STRESS_ELF [SECONDS]
 * Exits 0 (pass), 1 (fail) or 77 (no /dev/kvm).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirtylimit/dl_ctrl.h"
#include "dirtylimit/dl_rate.h"
#include "vmm/boot_vm.h"
#include "vmm/vm.h"

#include "kvm_prog.h"

#define NCPUS	2
#define MEM	(64ull << 20)
#define RING	65536u
#define CMDLINE "writers=0 readers=1 wss=16M pattern=seq report=0"
#define WRITER	0
#define PAGE	4096u
/* Rounds of pre-copy between two switchovers (the soak's hops took 4-6). */
#define ROUNDS_PER_SWITCH 4
/* A round's length: the migration thread's shortest (MIG_SRC_ROUND_MIN_NS). */
#define ROUND_US 5000
/*
 * Default run time.  Before the fix in kvm_vm_reset_dirty_rings(), 4 s runs
 * lost pages in 7 of 9 (2 to 755 pages); the soak lost one in 302 hops.
 */
#define DEFAULT_SECONDS 4
/* Between two kicks of the chaos thread (each vCPU is also kicked every tick, 10 ms). */
#define KICK_US 100
/* The fewest switchovers a run must make (see the check). */
#define MIN_SWITCHOVERS 5
/* Differing pages printed per switchover. */
#define SHOW_MAX 8

/* ---- the chaos thread: the soak's QMP client, without QMP ---- */

struct chaos {
	struct vm *vm;
	_Atomic bool stop;
	_Atomic uint64_t limits, stops;
};

static void *chaos_thread(void *arg)
{
	struct chaos *c = arg;
	static const unsigned rates[] = {1, 5, 20, 100, 400, 2000};
	unsigned seed = 188;

	while (!atomic_load(&c->stop)) {
		unsigned r = (unsigned)rand_r(&seed);
		int cpu = (int)(r % NCPUS);

		switch ((r >> 8) % 8) {
		case 0:
		case 1:
			vm_set_dirty_limit(c->vm, cpu, dl_mib_to_pages(rates[(r >> 12) % 6]));
			atomic_fetch_add(&c->limits, 1);
			break;
		case 2:
			vm_set_dirty_limit(c->vm, -1, dl_mib_to_pages(rates[(r >> 12) % 6]));
			atomic_fetch_add(&c->limits, 1);
			break;
		case 3:
		case 4:
			vm_set_dirty_limit(c->vm, (r >> 16) & 1 ? cpu : -1, 0);
			atomic_fetch_add(&c->limits, 1);
			break;
		case 5:
			if (vm_pause(c->vm, RUNSTATE_USER) == 0) {
				usleep((r >> 12) % 3000);
				atomic_fetch_add(&c->stops, 1);
			}
			vm_resume(c->vm, RUNSTATE_USER);
			break;
		default:
			break;
		}
		/* Kicks in between: signals that land while a vCPU resets its ring. */
		for (unsigned n = 0; n < 20; n++) {
			vm_kick(c->vm, (int)(n % NCPUS));
			usleep(KICK_US);
		}
	}
	vm_set_dirty_limit(c->vm, -1, 0);
	return NULL;
}

/* ---- the mirror ---- */

static uint32_t *last_copy; /* main thread: the round each page was last copied */
static uint32_t cur_round;

static void copy_marked(const uint8_t *ram, uint8_t *mirror, const uint64_t *bm, size_t words)
{
	for (size_t w = 0; w < words; w++)
		for (uint64_t b = bm[w]; b; b &= b - 1) {
			uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(b);

			memcpy(mirror + pg * PAGE, ram + pg * PAGE, PAGE);
			last_copy[pg] = cur_round;
		}
}

/* Pages where mirror and RAM differ (RAM as the guest left it, paused). */
static uint64_t compare(const uint8_t *ram, uint8_t *mirror, uint64_t npages, int sw)
{
	uint64_t bad = 0;

	for (uint64_t pg = 0; pg < npages; pg++) {
		if (!memcmp(ram + pg * PAGE, mirror + pg * PAGE, PAGE))
			continue;
		if (bad < SHOW_MAX)
			printf("  switchover %d: page %llu (gpa 0x%llx) differs from its last copy "
			       "(round %u, now %u): word 0 0x%llx there, 0x%llx in RAM\n",
			       sw, (unsigned long long)pg, (unsigned long long)pg * PAGE,
			       last_copy[pg], cur_round,
			       (unsigned long long)*(const uint64_t *)(mirror + pg * PAGE),
			       (unsigned long long)*(const uint64_t *)(ram + pg * PAGE));
		/* The next switchover judges only what happens from here. */
		memcpy(mirror + pg * PAGE, ram + pg * PAGE, PAGE);
		bad++;
	}
	return bad;
}

int main(int argc, char **argv)
{
	static struct vm vm;
	static struct dl_ctrl ctl;
	struct vm_params p = {
	    .shape = {.mem_size = MEM, .ncpus = NCPUS, .ring_entries = RING},
	};
	struct vm_kernel k = {.append = CMDLINE};
	struct dl_law_cfg law = {0};
	struct chaos c = {0};
	struct stress_cpu_stats s0, s1;
	pthread_t chaos_tid;
	uint64_t npages = MEM / PAGE, words = npages / 64, lost = 0, end, taken = 0;
	uint64_t *bm;
	uint8_t *mirror, *kernel;
	char err[512];
	int seconds = argc > 2 ? atoi(argv[2]) : DEFAULT_SECONDS, sw = 0, round = 0, r;

	if (argc < 2) {
		fprintf(stderr, "usage: %s STRESS_ELF [SECONDS]\n", argv[0]);
		return 2;
	}
	kernel = kvm_prog_start(argv[1], &k);
	bm = calloc(words, sizeof(*bm));
	mirror = malloc(MEM);
	last_copy = calloc(npages, sizeof(*last_copy));
	if (!bm || !mirror)
		return 1;

	law.law = dl_law_find("bucket");
	r = vm_create(&vm, &p, err, sizeof(err));
	if (r == 0)
		r = boot_vm(&vm, &k, err, sizeof(err));
	if (r == 0)
		r = dl_ctrl_start(&ctl, &vm, 0, &law, NULL, 0, err, sizeof(err));
	if (r == 0)
		r = vm_start(&vm, err, sizeof(err));
	if (r < 0) {
		printf("FAIL: starting the VM: %s\n", err);
		return 1;
	}
	/* Let the writer get going (first touch of its working set). */
	for (end = vmm_now_ns() + 5000000000ull; vmm_now_ns() < end;) {
		if (vm_guest_stats(&vm, WRITER, &s0) == 0 && s0.passes >= 2)
			break;
		usleep(10000);
	}
	vm_guest_stats(&vm, WRITER, &s0);
	check(s0.passes >= 2, "the writer runs (%llu passes)", (unsigned long long)s0.passes);

	/* The first sync, then the first pass: every page. */
	dirty_take_bitmap(&vm.dirty, 0, bm, words);
	memcpy(mirror, vm.ram, MEM);
	c.vm = &vm;
	pthread_create(&chaos_tid, NULL, chaos_thread, &c);
	for (end = vmm_now_ns() + (uint64_t)seconds * 1000000000ull; vmm_now_ns() < end;) {
		taken += dirty_take_bitmap(&vm.dirty, 0, bm, words);
		cur_round = (uint32_t)round;
		copy_marked(vm.ram, mirror, bm, words);
		if (++round % ROUNDS_PER_SWITCH) {
			usleep(ROUND_US);
			continue;
		}
		/* Switchover: as mig_src.c complete(). */
		r = vm_pause(&vm, RUNSTATE_MIGRATION);
		if (r) {
			check(false, "switchover %d: vm_pause: %s", sw, strerror(-r));
			break;
		}
		taken += dirty_take_bitmap(&vm.dirty, 0, bm, words);
		copy_marked(vm.ram, mirror, bm, words);
		lost += compare(vm.ram, mirror, npages, sw);
		vm_resume(&vm, RUNSTATE_MIGRATION);
		sw++;
	}
	atomic_store(&c.stop, true);
	pthread_join(chaos_tid, NULL);
	vm_guest_stats(&vm, WRITER, &s1);
	printf("measured: %d switchovers, %d rounds, %llu pages taken, %llu limit changes, "
	       "%llu user stops, writer %llu -> %llu pages\n",
	       sw, round, (unsigned long long)taken, (unsigned long long)atomic_load(&c.limits),
	       (unsigned long long)atomic_load(&c.stops), (unsigned long long)s0.pages_written,
	       (unsigned long long)s1.pages_written);
	/* 100+ in the plain build, 22 seen under ThreadSanitizer: a floor against a run that did nothing. */
	check(sw >= MIN_SWITCHOVERS, "at least %d switchovers (%d)", MIN_SWITCHOVERS, sw);
	check(s1.pages_written > s0.pages_written, "the writer wrote meanwhile");
	check(lost == 0, "no page lost: mirror equals RAM at every switchover (%llu differing)",
	      (unsigned long long)lost);
	check(s1.errors == 0, "the guest saw no data error (%llu)", (unsigned long long)s1.errors);

	vm_request_stop(&vm, 0, VM_STOP_DURATION, "test over");
	vm_join(&vm);
	dl_ctrl_stop(&ctl);
	vm_destroy(&vm);
	free(bm);
	free(mirror);
	free(kernel);
	return fails ? 1 : 0;
}

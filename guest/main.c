// SPDX-License-Identifier: MIT
/*
 * vcpu 0's init: read the machine description (the FDT from vmm, or the
 * Multiboot information from QEMU), map memory, calibrate, plan the working
 * sets, fill the stats header, release the other vcpus, then work.
 */
#include <stdbool.h>

#include "console.h"
#include "dtb.h"
#include "io.h"
#include "kernel.h"
#include "multiboot.h"

_Static_assert(GUEST_MAX_CPUS == STRESS_MAX_CPUS, "layout.h and the ABI disagree");

/*
 * The default working set per worker is an even share of free memory, but
 * no more than this: big enough to defeat caches and to keep a migration
 * busy, small enough that a pass takes well under a second unpaced.
 */
#define DEFAULT_WSS_MAX (256 * MIB)

/* The longest token quoted in a command-line warning. */
#define WARN_TOKEN_MAX 64

#define PIC1_DATA    0x21
#define PIC2_DATA    0xa1
#define PIC_MASK_ALL 0xff

/* A guess when nothing tells the TSC frequency: wrong, but runs. */
#define FALLBACK_TSC_KHZ 2000000

struct kernel k;

/* The stats area when vmm provides none (QEMU). */
static struct stress_stats bss_stats __attribute__((aligned(4096)));

struct boot {
	const struct multiboot_info *mbi;
	struct dtb_info dtb;
	bool have_dtb;
	const char *cmdline;
	uint64_t reserved_end; /* end of the kernel and of boot data above it */
	uint64_t ram_end;      /* end of the RAM range holding the kernel */
	uint64_t free_start;   /* where working sets go */
	uint64_t free_end;
};

static void *phys(uint64_t addr)
{
	return (void *)(uintptr_t)addr;
}

/* Boot data at or above the kernel must not end up in a working set. */
static void reserve(struct boot *b, uint64_t start, uint64_t end)
{
	if (start >= KERNEL_LOAD_ADDR && end > b->reserved_end)
		b->reserved_end = end;
}

static bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static uint64_t str_len(const char *s)
{
	uint64_t n = 0;

	while (s[n])
		n++;
	return n;
}

static void read_multiboot(struct boot *b)
{
	const struct multiboot_info *mbi = b->mbi;
	const struct multiboot_mod *mods;
	uint32_t i;

	reserve(b, (uintptr_t)mbi, (uintptr_t)mbi + sizeof(*mbi));
	if (mbi->flags & MB_INFO_CMDLINE) {
		b->cmdline = phys(mbi->cmdline);
		reserve(b, mbi->cmdline, mbi->cmdline + str_len(b->cmdline) + 1);
	}
	if (mbi->flags & MB_INFO_MMAP)
		reserve(b, mbi->mmap_addr, (uint64_t)mbi->mmap_addr + mbi->mmap_length);
	if (!(mbi->flags & MB_INFO_MODS))
		return;
	mods = phys(mbi->mods_addr);
	reserve(b, mbi->mods_addr, mbi->mods_addr + mbi->mods_count * sizeof(*mods));
	for (i = 0; i < mbi->mods_count; i++) {
		const char *name = mods[i].string ? phys(mods[i].string) : "";

		reserve(b, mods[i].mod_start, mods[i].mod_end);
		if (mods[i].string)
			reserve(b, mods[i].string, mods[i].string + str_len(name) + 1);
		if (b->have_dtb || !str_eq(name, STRESS_FDT_MODULE_NAME))
			continue;
		if (dtb_parse(phys(mods[i].mod_start), mods[i].mod_end - mods[i].mod_start,
			      &b->dtb) == 0)
			b->have_dtb = true;
		else
			kprintf("stress: warning: module %s is not a valid FDT\n", name);
	}
}

/* The RAM range that holds the kernel: from the FDT, else from Multiboot. */
static void find_ram(struct boot *b)
{
	const struct multiboot_info *mbi = b->mbi;
	uint32_t i;

	if (b->have_dtb) {
		for (i = 0; i < b->dtb.nmem; i++) {
			const struct dtb_mem *m = &b->dtb.mem[i];

			if (m->base <= KERNEL_LOAD_ADDR && m->base + m->size > KERNEL_LOAD_ADDR)
				b->ram_end = m->base + m->size;
		}
		if (b->ram_end)
			return;
		kprintf("stress: warning: no /memory range holds the kernel\n");
	}
	if (mbi && (mbi->flags & MB_INFO_MMAP)) {
		uint64_t off = 0;

		while (off + sizeof(struct multiboot_mmap_entry) <= mbi->mmap_length) {
			const struct multiboot_mmap_entry *e = phys(mbi->mmap_addr + off);

			if (e->type == MB_MMAP_AVAILABLE && e->addr <= KERNEL_LOAD_ADDR &&
			    e->addr + e->len > KERNEL_LOAD_ADDR)
				b->ram_end = e->addr + e->len;
			off += e->size + sizeof(e->size);
		}
	}
	if (!b->ram_end && mbi && (mbi->flags & MB_INFO_MEMORY))
		b->ram_end = KERNEL_LOAD_ADDR + (uint64_t)mbi->mem_upper * 1024;
	if (!b->ram_end)
		panic("no memory map\n");
}

/*
 * Without vmm's FDT we run under a PC emulator whose firmware programmed the
 * PIC and the PIT: mask every line, as user mode runs with interrupts
 * deliverable on some hypervisors (kvm-pvm).
 */
static void mask_pic(void)
{
	outb(PIC1_DATA, PIC_MASK_ALL);
	outb(PIC2_DATA, PIC_MASK_ALL);
}

static void warn_cmdline(void *ctx, const char *what, const char *tok, unsigned int len)
{
	char buf[WARN_TOKEN_MAX + 1];
	unsigned int i;

	(void)ctx;
	for (i = 0; i < len && i < WARN_TOKEN_MAX; i++)
		buf[i] = tok[i];
	buf[i] = '\0';
	kprintf("stress: warning: %s: %s\n", what, buf);
}

static void setup_stats(struct boot *b)
{
	uint64_t need =
	    sizeof(struct stress_stats_hdr) + (uint64_t)k.ncpus * sizeof(struct stress_cpu_stats);
	volatile struct stress_stats *st = &bss_stats;
	uint32_t cpu;
	uint64_t i;

	k.stats_slots = STRESS_MAX_CPUS;
	if (b->have_dtb && b->dtb.stats_addr) {
		if (b->dtb.stats_size >= need) {
			uint64_t slots = (b->dtb.stats_size - sizeof(struct stress_stats_hdr)) /
					 sizeof(struct stress_cpu_stats);

			st = phys(b->dtb.stats_addr);
			k.stats_slots = slots < STRESS_MAX_CPUS ? (uint32_t)slots : STRESS_MAX_CPUS;
		} else
			kprintf("stress: warning: stats region of %lu bytes is too small\n",
				b->dtb.stats_size);
	}
	kprintf("stress: stats at 0x%lx\n", (uint64_t)(uintptr_t)st);

	st->hdr.magic = 0;
	barrier();
	for (i = 0; i < sizeof(st->hdr.pad); i++)
		st->hdr.pad[i] = 0;
	for (cpu = 0; cpu < k.ncpus; cpu++) {
		st->cpu[cpu].pages_written = 0;
		st->cpu[cpu].bytes_read = 0;
		st->cpu[cpu].passes = 0;
		st->cpu[cpu].errors = 0;
		st->cpu[cpu].tsc = 0;
		st->cpu[cpu].state = STRESS_CPU_OFFLINE;
		st->cpu[cpu].role = STRESS_ROLE_NONE;
		st->cpu[cpu].wss_base = 0;
		st->cpu[cpu].wss_size = 0;
		st->cpu[cpu].max_gap_tsc = 0;
		for (i = 0; i < sizeof(st->cpu[cpu].reserved) / sizeof(uint64_t); i++)
			st->cpu[cpu].reserved[i] = 0;
	}
	k.stats = st;
}

static void fill_stats_header(uint64_t wss, uint64_t boot_tsc)
{
	volatile struct stress_stats_hdr *h = &k.stats->hdr;

	h->version = 1;
	h->ncpus = k.ncpus;
	h->tsc_khz = k.tsc_khz;
	h->boot_tsc = boot_tsc;
	h->pattern = k.cfg.pattern;
	h->rate_mib = k.cfg.rate_mib;
	h->wss = wss;
	barrier(); /* x86 keeps stores in order: magic is seen last */
	h->magic = STRESS_STATS_MAGIC;
}

/* Give every worker a disjoint working set after the kernel; returns the size. */
static uint64_t plan_work(struct boot *b)
{
	uint64_t avail, share, wss, stride, next;
	uint32_t cpu, nworkers = 0;

	for (cpu = 0; cpu < k.ncpus; cpu++) {
		uint32_t role = STRESS_ROLE_NONE;

		if (cpuset_has(k.cfg.writers, cpu))
			role = STRESS_ROLE_WRITER;
		else if (cpuset_has(k.cfg.readers, cpu))
			role = STRESS_ROLE_READER;
		k.plan[cpu].role = role;
		nworkers += role != STRESS_ROLE_NONE;
	}
	if (nworkers == 0)
		return 0;

	b->free_start = ALIGN_UP(b->reserved_end, HUGE_PAGE_SIZE);
	b->free_end = ALIGN_DOWN(b->ram_end, PAGE_SIZE);
	avail = b->free_end > b->free_start ? b->free_end - b->free_start : 0;
	share = avail / nworkers;
	share = ALIGN_DOWN(share, share >= HUGE_PAGE_SIZE ? HUGE_PAGE_SIZE : PAGE_SIZE);
	if (share == 0)
		panic("no memory for %u working sets (0x%lx-0x%lx free)\n", nworkers, b->free_start,
		      b->free_end);

	wss = share < DEFAULT_WSS_MAX ? share : DEFAULT_WSS_MAX;
	if (k.cfg.wss) {
		wss = ALIGN_UP(k.cfg.wss, PAGE_SIZE);
		if (wss > share) {
			kprintf("stress: warning: wss=%luK does not fit %u times, using %luK\n",
				wss / 1024, nworkers, share / 1024);
			wss = share;
		}
	}
	/* 2 MiB-aligned working sets when they fit, else packed. */
	stride = ALIGN_UP(wss, HUGE_PAGE_SIZE);
	if (stride * nworkers > avail)
		stride = wss;

	next = b->free_start;
	for (cpu = 0; cpu < k.ncpus; cpu++) {
		if (k.plan[cpu].role == STRESS_ROLE_NONE)
			continue;
		k.plan[cpu].base = next;
		k.plan[cpu].size = wss;
		next += stride;
	}
	return wss;
}

/* Room for "18446744073709551615K". */
#define SIZE_STR_MAX 24

static void print_size(char *buf, uint64_t bytes)
{
	if (bytes % MIB == 0)
		ksnprintf(buf, SIZE_STR_MAX, "%luM", bytes / MIB);
	else
		ksnprintf(buf, SIZE_STR_MAX, "%luK", bytes / 1024);
}

static void print_boot_line(const struct boot *b, uint64_t wss)
{
	char mem[SIZE_STR_MAX], ws[SIZE_STR_MAX];
	uint32_t cpu, writers = 0, readers = 0;

	for (cpu = 0; cpu < k.ncpus; cpu++) {
		writers += k.plan[cpu].role == STRESS_ROLE_WRITER;
		readers += k.plan[cpu].role == STRESS_ROLE_READER;
	}
	print_size(mem, ALIGN_UP(b->ram_end, MIB));
	print_size(ws, wss);
	kprintf("stress: boot cpus=%u mem=%s wss=%s pattern=%s rate=%u tsc_khz=%lu writers=%u "
		"readers=%u report=%u\n",
		k.ncpus, mem, ws, k.cfg.pattern == STRESS_PATTERN_RANDOM ? "random" : "seq",
		k.cfg.rate_mib, k.tsc_khz, writers, readers, k.cfg.report_ms);
}

/* vcpu 0's init, in ring 3; arg is the Multiboot magic << 32 | info address. */
static void __attribute__((noreturn)) kmain_user(uint64_t arg)
{
	uint64_t boot_tsc = rdtsc(), map_end, wss;
	uint32_t magic = (uint32_t)(arg >> 32), mbi_addr = (uint32_t)arg;
	struct boot b = {0};

	console_init();
	cpu_setup_idt();
	b.reserved_end = (uintptr_t)__kernel_end;
	if (magic == MULTIBOOT_BOOTLOADER_MAGIC) {
		b.mbi = phys(mbi_addr);
		read_multiboot(&b);
	} else {
		kprintf("stress: warning: not started by a Multiboot loader\n");
	}
	if (!b.have_dtb)
		mask_pic();
	if (b.have_dtb && b.dtb.bootargs)
		b.cmdline = b.dtb.bootargs;
	cmdline_defaults(&k.cfg);
	cmdline_parse(&k.cfg, b.cmdline, warn_cmdline, NULL);

	k.ncpus = b.have_dtb && b.dtb.ncpus ? b.dtb.ncpus : 1;
	if (k.ncpus > STRESS_MAX_CPUS) {
		kprintf("stress: warning: using %u of %u vcpus\n", STRESS_MAX_CPUS, k.ncpus);
		k.ncpus = STRESS_MAX_CPUS;
	}

	find_ram(&b);
	map_end = b.ram_end;
	if (b.have_dtb && b.dtb.stats_addr + b.dtb.stats_size > map_end)
		map_end = b.dtb.stats_addr + b.dtb.stats_size;
	if (paging_identity_map(map_end))
		panic("cannot map 0x%lx bytes of guest-physical space\n", map_end);

	k.tsc_khz = b.have_dtb ? b.dtb.tsc_khz : 0;
	if (!k.tsc_khz)
		k.tsc_khz = tsc_calibrate_pit();
	if (!k.tsc_khz) {
		kprintf("stress: warning: TSC frequency unknown, guessing %u kHz\n",
			FALLBACK_TSC_KHZ);
		k.tsc_khz = FALLBACK_TSC_KHZ;
	}

	setup_stats(&b);
	wss = plan_work(&b);
	print_boot_line(&b, wss);
	fill_stats_header(wss, boot_tsc);

	__atomic_store_n(&ap_release, 1, __ATOMIC_RELEASE);
	outl(STRESS_PORT_REPORT, STRESS_REPORT_BOOTED);
	stress_worker(0);
}

/* Ring 0, from entry.S: as little as possible (see cpu.c), then ring 3. */
void kmain(uint32_t magic, uint32_t mbi_addr)
{
	cpu_load_tables(0);
	cpu_enter_user(0, kmain_user, (uint64_t)magic << 32 | mbi_addr);
}

static void __attribute__((noreturn)) ap_main_user(uint64_t cpu)
{
	stress_worker((unsigned int)cpu);
}

void ap_main(uint64_t cpu)
{
	if (cpu >= k.ncpus) {
		if (cpu < k.stats_slots)
			k.stats->cpu[cpu].state = STRESS_CPU_IDLE;
		halt_forever();
	}
	cpu_load_tables((unsigned int)cpu);
	cpu_enter_user((unsigned int)cpu, ap_main_user, cpu);
}

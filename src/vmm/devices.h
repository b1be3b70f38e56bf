/* SPDX-License-Identifier: MIT */
/*
 * devices: the device table and the console.
 *
 * Every device registers itself in the VM's table (as kvmtool's iotrap
 * registration does): its port range and handler, and the save and load
 * hooks of its state section.  Port exits find their device there, and so
 * does a migration's save and load.
 *
 *   0x3f8-0x3ff  COM1 (here), transmit only: bytes go to the console sink
 *                (stdout) a line at a time, so lines of two vCPUs never
 *                interleave; the sink never blocks (a reader that stopped
 *                reading loses lines, counted, rather than stopping the vCPU)
 *   0x00f0       report port (STRESS_PORT_REPORT): guest events (dev_stress.c)
 *   0x00f4       power-off port (STRESS_PORT_POWEROFF): value = exit status
 *   (memory)     the stats device: no ports, a memslot of its own (dev_stress.c)
 *
 * Other ports read as all ones and ignore writes, as an empty ISA bus does.
 * Port handlers run on vCPU threads; the console has its own lock.  Save and
 * load run while no vCPU runs (the VM paused, or not started).
 */
#ifndef VMM_DEVICES_H
#define VMM_DEVICES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/wire.h"

#define DEV_COM1_BASE  0x3f8
#define DEV_COM1_PORTS 8
/* One console line; a longer one is flushed in pieces. */
#define DEV_LINE_MAX 512

struct vm;
struct nbout;

struct dev_ops {
	const char *name;
	uint16_t port;	 /* first port */
	uint16_t nports; /* 0: no port I/O */
	/* One access of size bytes at port + offset; for an IN, fill data. */
	void (*pio)(struct vm *vm, int vcpu, uint16_t offset, bool is_out, uint8_t *data, int size);
	uint32_t section; /* its state section (VSTATE_SEC_*), 0 if it has none */
	/* Write the section's bytes (version VSTATE_VERSION). */
	void (*save)(struct vm *vm, struct wire_out *w);
	/*
	 * Check a section's bytes; with apply, also load them (only ever after
	 * a check of the same bytes passed).  Returns 0 or -EINVAL with err.
	 */
	int (*load)(struct vm *vm, const uint8_t *b, size_t len, uint32_t version, bool apply,
		    char *err, size_t errlen);
};

/* The machine has four devices; room for a few more. */
#define DEV_MAX 8

struct dev_table {
	const struct dev_ops *dev[DEV_MAX];
	int n;
};

/* Add a device; fails if the table is full or its ports or section are taken. */
int dev_register(struct dev_table *t, const struct dev_ops *ops, char *err, size_t errlen);
/* Register every device of the machine. */
int dev_register_all(struct dev_table *t, char *err, size_t errlen);
const struct dev_ops *dev_by_section(const struct dev_table *t, uint32_t section);

extern const struct dev_ops dev_com1_ops;
/* dev_stress.c */
extern const struct dev_ops dev_report_ops, dev_poweroff_ops, dev_stats_ops;

struct dev_console {
	pthread_mutex_t lock;
	struct nbout *out; /* where guest output goes (standard output); NULL: nowhere */
	char line[DEV_LINE_MAX];
	int len;
	uint8_t scratch; /* the 8250's scratch register, for probes */
	uint8_t lcr;	 /* line control, so the divisor latch bit reads back */
};

void dev_console_init(struct dev_console *c, struct nbout *out);
void dev_console_flush(struct dev_console *c);
void dev_console_destroy(struct dev_console *c);

/*
 * Handle one port access of `size` bytes (1, 2 or 4) through the table.
 * For an IN, fill data.  Unknown ports behave as an empty bus.
 */
void dev_pio(struct vm *vm, int vcpu, uint16_t port, bool is_out, uint8_t *data, int size);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * devices: the port-I/O devices of the machine.
 *
 *   0x3f8-0x3ff  COM1, transmit only: bytes go to the console sink (stdout)
 *                a line at a time, so lines of two vCPUs never interleave;
 *                the sink never blocks (a reader that stopped reading loses
 *                lines, counted, rather than stopping the vCPU)
 *   0x00f0       report port (STRESS_PORT_REPORT): guest events
 *   0x00f4       power-off port (STRESS_PORT_POWEROFF): value = exit status
 *
 * Other ports read as all ones and ignore writes, as an empty ISA bus does.
 * Called from vCPU threads; the console has its own lock.
 */
#ifndef VMM_DEVICES_H
#define VMM_DEVICES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define DEV_COM1_BASE  0x3f8
#define DEV_COM1_PORTS 8
/* One console line; a longer one is flushed in pieces. */
#define DEV_LINE_MAX 512

struct vm;
struct nbout;

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
 * Handle one port access of `size` bytes (1, 2 or 4).  For an IN, fill
 * data.  Returns true if the access was ours (it always is: unknown ports
 * behave as an empty bus).
 */
void dev_pio(struct vm *vm, int vcpu, uint16_t port, bool is_out, uint8_t *data, int size);

#endif

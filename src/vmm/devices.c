/* SPDX-License-Identifier: MIT */
#include "vmm/devices.h"

#include <string.h>

#include "stress_abi.h"
#include "vmm/nbout.h"
#include "vmm/vm.h"

/* 8250 register offsets and the bits we emulate. */
#define UART_THR 0 /* transmit holding register (write) */
#define UART_LCR 3
#define UART_LSR 5
#define UART_SCR 7
/* LSR: transmitter empty and holding register empty: always ready. */
#define UART_LSR_IDLE 0x60

void dev_console_init(struct dev_console *c, struct nbout *out)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->out = out;
}

static void console_flush_locked(struct dev_console *c)
{
	/* Never blocks the vCPU: a line the reader cannot take now is kept or dropped (nbout.h). */
	if (c->len && c->out)
		nbout_write(c->out, c->line, (size_t)c->len);
	c->len = 0;
}

void dev_console_flush(struct dev_console *c)
{
	pthread_mutex_lock(&c->lock);
	console_flush_locked(c);
	pthread_mutex_unlock(&c->lock);
}

void dev_console_destroy(struct dev_console *c)
{
	dev_console_flush(c);
	pthread_mutex_destroy(&c->lock);
}

/* Called with c->lock held. */
static void console_putc(struct dev_console *c, uint8_t ch)
{
	if (ch != '\r')
		c->line[c->len++] = (char)ch;
	if (ch == '\n' || c->len == DEV_LINE_MAX)
		console_flush_locked(c);
}

/* Two vCPUs may print at once: the registers and the line share one lock. */
static void com1_pio(struct dev_console *c, uint16_t reg, bool is_out, uint8_t *data)
{
	pthread_mutex_lock(&c->lock);
	if (is_out) {
		if (reg == UART_THR && !(c->lcr & 0x80))
			console_putc(c, data[0]);
		else if (reg == UART_LCR)
			c->lcr = data[0];
		else if (reg == UART_SCR)
			c->scratch = data[0];
	} else if (reg == UART_LSR) {
		data[0] = UART_LSR_IDLE;
	} else if (reg == UART_LCR) {
		data[0] = c->lcr;
	} else if (reg == UART_SCR) {
		data[0] = c->scratch;
	} else {
		data[0] = 0;
	}
	pthread_mutex_unlock(&c->lock);
}

static uint32_t le32(const uint8_t *d, int size)
{
	uint32_t v = 0;

	memcpy(&v, d, (size_t)(size > 4 ? 4 : size));
	return v;
}

void dev_pio(struct vm *vm, int vcpu, uint16_t port, bool is_out, uint8_t *data, int size)
{
	if (port >= DEV_COM1_BASE && port < DEV_COM1_BASE + DEV_COM1_PORTS) {
		com1_pio(&vm->console, (uint16_t)(port - DEV_COM1_BASE), is_out, data);
		return;
	}
	if (port == STRESS_PORT_REPORT && is_out) {
		vm_guest_report(vm, vcpu, le32(data, size));
		return;
	}
	if (port == STRESS_PORT_POWEROFF && is_out) {
		vm_request_stop(vm, (int)le32(data, size), VM_STOP_GUEST_POWEROFF,
				"guest powered off");
		return;
	}
	if (!is_out)
		memset(data, 0xff, (size_t)size);
}

/* SPDX-License-Identifier: MIT */
#include "vmm/devices.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/nbout.h"
#include "vmm/vm.h"
#include "vmm/vstate.h"

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

/* The table's hooks for COM1. */
static void com1_port(struct vm *vm, int vcpu, uint16_t offset, bool is_out, uint8_t *data,
		      int size)
{
	(void)vcpu;
	(void)size;
	com1_pio(&vm->console, offset, is_out, data);
}

static void com1_save(struct vm *vm, struct wire_out *w)
{
	struct dev_console *c = &vm->console;
	struct vstate_console st;

	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&c->lock);
	st.lcr = c->lcr;
	st.scratch = c->scratch;
	st.len = (uint16_t)c->len;
	memcpy(st.line, c->line, (size_t)c->len);
	pthread_mutex_unlock(&c->lock);
	vstate_console_encode(&st, w);
}

static int com1_load(struct vm *vm, const uint8_t *b, size_t len, uint32_t version, bool apply,
		     char *err, size_t errlen)
{
	struct dev_console *c = &vm->console;
	struct vstate_console st;
	int r = vstate_console_decode(&st, version, b, len, err, errlen);

	if (r < 0 || !apply)
		return r;
	pthread_mutex_lock(&c->lock);
	c->lcr = st.lcr;
	c->scratch = st.scratch;
	c->len = st.len;
	memcpy(c->line, st.line, st.len);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

_Static_assert(DEV_LINE_MAX == VSTATE_CONSOLE_LINE_MAX, "the partial line fits its section");

const struct dev_ops dev_com1_ops = {
    .name = "com1",
    .port = DEV_COM1_BASE,
    .nports = DEV_COM1_PORTS,
    .pio = com1_port,
    .section = VSTATE_SEC_CONSOLE,
    .save = com1_save,
    .load = com1_load,
};

int dev_register(struct dev_table *t, const struct dev_ops *ops, char *err, size_t errlen)
{
	if (t->n == DEV_MAX) {
		snprintf(err, errlen, "device %s: the device table is full", ops->name);
		return -ENOSPC;
	}
	for (int i = 0; i < t->n; i++) {
		const struct dev_ops *d = t->dev[i];

		if (ops->nports && d->nports && ops->port < d->port + d->nports &&
		    d->port < ops->port + ops->nports) {
			snprintf(err, errlen, "device %s: ports 0x%x-0x%x overlap %s's", ops->name,
				 ops->port, ops->port + ops->nports - 1, d->name);
			return -EBUSY;
		}
		if (ops->section && ops->section == d->section) {
			snprintf(err, errlen, "device %s: state section 0x%x is %s's", ops->name,
				 ops->section, d->name);
			return -EBUSY;
		}
	}
	t->dev[t->n++] = ops;
	return 0;
}

int dev_register_all(struct dev_table *t, char *err, size_t errlen)
{
	static const struct dev_ops *const all[] = {&dev_com1_ops, &dev_report_ops,
						    &dev_poweroff_ops, &dev_stats_ops};
	int r = 0;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]) && r == 0; i++)
		r = dev_register(t, all[i], err, errlen);
	return r;
}

const struct dev_ops *dev_by_section(const struct dev_table *t, uint32_t section)
{
	for (int i = 0; i < t->n; i++)
		if (section && t->dev[i]->section == section)
			return t->dev[i];
	return NULL;
}

void dev_pio(struct vm *vm, int vcpu, uint16_t port, bool is_out, uint8_t *data, int size)
{
	const struct dev_table *t = &vm->devs;

	for (int i = 0; i < t->n; i++) {
		const struct dev_ops *d = t->dev[i];

		if (port >= d->port && port - d->port < d->nports) {
			d->pio(vm, vcpu, (uint16_t)(port - d->port), is_out, data, size);
			return;
		}
	}
	if (!is_out)
		memset(data, 0xff, (size_t)size);
}

// SPDX-License-Identifier: MIT
/* COM1 output by polling, and printf for it. */
#include <stdbool.h>
#include <stdint.h>

#include "console.h"
#include "io.h"
#include "kernel.h"
#include "stress_abi.h"

#define COM1	 0x3f8
#define UART_THR 0 /* transmit holding register */
#define UART_DLL 0 /* divisor latch, low (with DLAB) */
#define UART_IER 1
#define UART_DLM 1 /* divisor latch, high (with DLAB) */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5

#define LCR_DLAB	0x80
#define LCR_8N1		0x03
#define FCR_FIFO	0x07 /* enable and clear both FIFOs */
#define MCR_DTR_RTS	0x03
#define LSR_THRE	0x20
#define BAUD_DIV_115200 1

/*
 * A UART that never shows THRE (a monitor that does not model LSR) must not
 * hang the kernel: after this many polls we stop waiting for good.  A real
 * or emulated 16550 at 115200 baud frees its register well within it.
 */
#define LSR_MAX_POLLS 100000

/* The longest line printed at once; longer output is cut. */
#define LINE_MAX 160

static SCRATCH volatile uint32_t console_lock;
static SCRATCH bool lsr_broken;

static void lock(void)
{
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		while (console_lock)
			cpu_relax();
}

static void unlock(void)
{
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

void console_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DLL, BAUD_DIV_115200);
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, FCR_FIFO);
	outb(COM1 + UART_MCR, MCR_DTR_RTS);
}

static void serial_putc(char c)
{
	unsigned int polls = 0;

	while (!lsr_broken && !(inb(COM1 + UART_LSR) & LSR_THRE))
		if (++polls == LSR_MAX_POLLS)
			lsr_broken = true;
	outb(COM1 + UART_THR, (uint8_t)c);
}

static void serial_write_ticked(const char *s, size_t len, void (*tick)(void *), void *ctx)
{
	size_t i;

	for (i = 0; i < len; i++) {
		serial_putc(s[i]);
		if (tick)
			tick(ctx);
	}
}

static void serial_write(const char *s, size_t len)
{
	serial_write_ticked(s, len, NULL, NULL);
}

struct out {
	char *buf;
	size_t size;
	size_t len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_num(struct out *o, uint64_t val, unsigned int base, bool neg, unsigned int width,
		    char pad)
{
	char digits[24];
	unsigned int n = 0;

	do {
		digits[n++] = "0123456789abcdef"[val % base];
		val /= base;
	} while (val);
	if (neg)
		digits[n++] = '-';
	while (width > n) {
		put(o, pad);
		width--;
	}
	while (n)
		put(o, digits[--n]);
}

size_t kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};

	for (; *fmt; fmt++) {
		unsigned int width = 0, longs = 0;
		char pad = ' ';
		uint64_t uval;
		int64_t sval;
		const char *s;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned int)(*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i':
			sval = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			uval = sval < 0 ? -(uint64_t)sval : (uint64_t)sval;
			put_num(&o, uval, 10, sval < 0, width, pad);
			break;
		case 'u':
		case 'x':
			uval = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			put_num(&o, uval, *fmt == 'u' ? 10 : 16, false, width, pad);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, false, width, pad);
			break;
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			while (*s)
				put(&o, *s++);
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(&o, *fmt);
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len < size ? o.len : (size ? size - 1 : 0);
}

size_t ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return len;
}

void kprintf(const char *fmt, ...)
{
	char line[LINE_MAX];
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = kvsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	lock();
	serial_write(line, len);
	unlock();
}

void kprintf_ticked(void (*tick)(void *ctx), void *ctx, const char *fmt, ...)
{
	char line[LINE_MAX];
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = kvsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	lock();
	serial_write_ticked(line, len, tick, ctx);
	unlock();
}

void panic(const char *fmt, ...)
{
	char line[LINE_MAX];
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = kvsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* No lock: the holder may be the one panicking. */
	serial_write("stress: PANIC: ", 15);
	serial_write(line, len);
	outl(STRESS_PORT_REPORT, STRESS_REPORT_PANIC);
	halt_forever();
}

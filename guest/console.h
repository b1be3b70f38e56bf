/* SPDX-License-Identifier: MIT */
/* Serial console (COM1, polled) and a small printf, shared by all vcpus. */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>

void console_init(void);

/*
 * %d %i %u %x %s %c %p %%, with l/ll/z and an optional '0' flag and width.
 * One call prints atomically with respect to the other vcpus.
 */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * kprintf, calling tick(ctx) after every character sent: the summary keeps
 * its vCPU's stall clock running while it prints (stress.c).
 */
void kprintf_ticked(void (*tick)(void *ctx), void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Into buf, always NUL-terminated; returns the length written. */
size_t kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

size_t ksnprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Print, report STRESS_REPORT_PANIC and halt this vcpu. */
void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

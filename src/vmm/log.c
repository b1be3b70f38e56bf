/* SPDX-License-Identifier: MIT */
#include "vmm/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "vmm/nbout.h"

/* The longest line: longer messages are cut (they are one sentence). */
#define LOG_LINE_MAX 1024

/*
 * Where lines go.  Written only by the main thread (vmm_log_to, before the
 * other threads start and after they are joined), read by any thread.
 */
static _Atomic(struct nbout *) log_sink;

void vmm_log_to(struct nbout *sink)
{
	atomic_store(&log_sink, sink);
}

void vmm_logf(const char *fmt, ...)
{
	struct nbout *sink = atomic_load(&log_sink);
	char line[LOG_LINE_MAX];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "vmm: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (sink)
		nbout_write(sink, line, (size_t)n);
	else if (write(2, line, (size_t)n) < 0)
		return; /* nowhere left to say it */
}

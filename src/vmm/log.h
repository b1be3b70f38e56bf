/* SPDX-License-Identifier: MIT */
/*
 * log: one line on stderr, prefixed "vmm: ".  Once main() has handed it a
 * sink (nbout.h), a line never blocks its caller, whichever thread that is:
 * a vCPU reporting a guest error must not wait for a stopped terminal.
 */
#ifndef VMM_LOG_H
#define VMM_LOG_H

struct nbout;

/* From now on, lines go through @sink (NULL: straight to file descriptor 2). */
void vmm_log_to(struct nbout *sink);

void vmm_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define vmm_log(...) vmm_logf(__VA_ARGS__)

#endif

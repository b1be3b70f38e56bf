/* SPDX-License-Identifier: MIT */
/* log: one line on stderr, prefixed "vmm: ". */
#ifndef VMM_LOG_H
#define VMM_LOG_H

#include <stdio.h>

#define vmm_log(...)                                                                               \
	do {                                                                                       \
		fprintf(stderr, "vmm: " __VA_ARGS__);                                              \
		fputc('\n', stderr);                                                               \
	} while (0)

#endif

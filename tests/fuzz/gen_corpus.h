/* SPDX-License-Identifier: MIT */
/* What gen_corpus.c shares with the seed writers of its other files. */
#ifndef FUZZ_GEN_CORPUS_H
#define FUZZ_GEN_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vmm/boot.h"
#include "vmm/loader.h"

/* A growing byte buffer. */
struct gen_bytes {
	uint8_t *buf;
	size_t len, cap;
};

void gen_put(struct gen_bytes *b, const void *p, size_t n);
/* Say what went wrong and exit 1. */
void gen_die(const char *what) __attribute__((noreturn));
/* Write corpus/<target>/<name>: a prefix (control bytes) and a body. */
void gen_emit(const char *target, const char *name, const void *pre, size_t plen, const void *body,
	      size_t blen);

/* gen_vstate.c: the vstate seeds, from the guest as vmm boots it. */
void gen_vstate(const struct boot_info *bi, const struct loader_image *li);
/*
 * The state sections of that guest with ncpus vCPUs, in the order vmm
 * saves them, each handed to fn.
 */
typedef void (*gen_section_fn)(void *opaque, uint32_t id, uint32_t instance, const uint8_t *b,
			       size_t len);
void gen_vstate_sections(const struct boot_info *bi, const struct loader_image *li, unsigned ncpus,
			 bool irqchip, gen_section_fn fn, void *opaque);

#endif

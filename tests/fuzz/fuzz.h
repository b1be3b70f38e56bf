/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share (docs/fuzzing.md).  Each target is one file
 * tests/fuzz/fuzz_<name>.c defining LLVMFuzzerTestOneInput(); the fuzz
 * build links it with libFuzzer, the other builds with replay.c, which runs
 * it once on every file of its corpus.
 *
 * A target checks what its parser promises, not only that it does not
 * crash: FUZZ_CHECK() prints what broke and aborts, which libFuzzer reports
 * as a crash and saves the input of.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz check failed: %s: ", __FILE__, __LINE__,      \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * Set by replay.c while it runs a corpus file whose name starts with "ok-":
 * a seed that its parser must accept (a stream that decodes, an image that
 * loads).  Such a seed that stops being accepted has gone stale (the format
 * changed): regenerate it (docs/fuzzing.md).  Always false under libFuzzer.
 */
extern bool fuzz_expect_valid;

/* Fail if the current input is an "ok-" seed and was refused (with why). */
void fuzz_valid(bool accepted, const char *what, const char *why);

/* A message is one clear line: NUL-terminated within cap, not empty, printable ASCII. */
bool fuzz_msg_ok(const char *msg, size_t cap);

/* xorshift32: reproducible choices from a seed taken from the input. */
static inline uint32_t fuzz_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

#endif /* FUZZ_H */

/* SPDX-License-Identifier: MIT */
/*
 * testknob: what the --x-* test knobs do to a running VM.  None of it runs
 * unless a test asks for it.  Main thread.
 */
#ifndef VMM_TESTKNOB_H
#define VMM_TESTKNOB_H

#include <stddef.h>

struct vm;

/*
 * --x-flip-word: with every vCPU parked (the pause protocol, so no guest
 * write races with ours), flip one bit of one word that the guest will
 * check: in each seq writer's working set, the first word of the page it
 * wrote last (checked on its next pass); in each reader's, the first word
 * of its working set (checked on its next pass).  The stress kernel must
 * then count exactly one error on each and print its data-error line.
 * Returns 0 (having logged what it flipped), -EAGAIN while some worker has
 * not yet done the work that makes its flip visible (try again later),
 * -ENODATA (logged) if no vCPU runs a checked pattern, or the pause's error.
 */
int testknob_flip_words(struct vm *vm, char *msg, size_t msglen);

#endif

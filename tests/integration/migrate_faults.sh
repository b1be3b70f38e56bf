#!/bin/bash
# Failure leaves the guest whole (issue 8 section 5, issue 11 part B item 2):
# the destination dies at every point of the stream.  Each time the source
# ends "failed" with an error-desc, its guest runs on with errors 0 and its
# counters growing, a retry to a fresh destination succeeds, and the dead
# destination leaves no process behind.  The points: after the header, in
# the first pass, in a later round, in the final copy (the source has
# stopped its vCPUs: it must be runnable again, with cont if it stays
# paused, nothing lost), in the state, before the acknowledgement; by the
# destination's own test knob (--x-incoming-fault STAGE:exit, a SIGKILL of
# itself at exactly that point) and once by a SIGKILL from outside.
# Between two namespaces (netns.sh); the guest crosses the link at every
# case (each retry becomes the next source).
#
# Runs in the plain and ASan builds: a peer that vanishes mid-stream is
# where the source's error and teardown paths run (buffers half sent, the
# connection closed under a pending write, the limits and the pause
# released), the paths a use-after-free or a leak hides in.  Not under
# TSan: the kill comes from another process, so no thread of ours races
# another here that migrate_cancel.sh (which runs under TSan) does not race
# harder; leaving it out saves TSan's slowest minute.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
ns_setup

# A seq writer paced at 40 MiB/s over 32 MiB and a reader of 32 MiB.  With
# a downtime limit of 20 ms the migration takes several rounds at 1 Gbit/s
# (first pass ~0.6 s, then rounds of a third of the one before), so that
# "a later round" is a point the test can reach.
GUEST=(--cpus 2 --mem 256M --append "wss=32M writers=0 readers=1 rate=40 report=0")
MIG_ARGS=(--param downtime-limit=20 --timeout 30)
mig_first

for stage in header ram1 ram2; do
	mig_case "the destination dies at $stage" $stage:exit killed
done
# The final copy and the state: the source's vCPUs are stopped when the
# destination dies.  It must come back (QEMU resumes it; cont if not).
for stage in device state end; do
	mig_case "the destination dies at $stage (vCPUs stopped)" $stage:exit killed --cont
done
mig_case "the destination is killed (SIGKILL) in the first pass" "" killed \
	--at ram1 --do 'kill -9 $(cat '"$TMP"'/%DST%.pid)'
mig_last
finish

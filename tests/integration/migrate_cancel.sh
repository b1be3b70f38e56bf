#!/bin/bash
# migrate_cancel at every point (issue 8 section 5): as soon as migrate has
# returned, in the first pass, in a later round, in the final copy and
# while the source waits for the acknowledgement (the destination held
# there by --x-incoming-fault STAGE:stall, so that the point is reached
# every time).  Each time the source ends "cancelled", its guest runs on
# with errors 0, a retry to a fresh destination succeeds, and the
# destination (whose stream was cut) exits non-zero by itself and leaves
# no file; a stalled one is killed by the test.
#
# Runs in all three builds: migrate_cancel comes from the QMP thread while
# the migration thread sends, waits or holds the vCPUs paused; that race
# is what ThreadSanitizer is for, and ASan sees the teardown it triggers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
ns_setup

GUEST=(--cpus 2 --mem 256M --append "wss=32M writers=0 readers=1 rate=40 report=0")
MIG_ARGS=(--param downtime-limit=20 --timeout 30)
mig_first

# mig_case expects "failed" unless told otherwise: the last --expect wins.
mig_case "cancelled at once" "" idle --cancel-at setup --expect cancelled
mig_case "cancelled in the first pass" "" exits --cancel-at ram1 --expect cancelled
mig_case "cancelled in a later round" "" exits --cancel-at ram2 --expect cancelled
mig_case "cancelled in the final copy (vCPUs stopped)" device:stall stalled \
	--cancel-at device --expect cancelled --cont
mig_case "cancelled while waiting for the acknowledgement" end:stall stalled \
	--cancel-at device --delay 1 --expect cancelled --cont
mig_last
finish

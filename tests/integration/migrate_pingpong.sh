#!/bin/bash
# Back and forth (issue 8 section 7): the same running guest, a seq writer
# and a reader on 2 vCPUs, migrates from namespace A to B and back to A,
# five times (ten migrations), each to a fresh vmm --incoming.  Every hop
# is held to the guest's counters (nothing goes back, everything grows,
# errors 0: migrate_gt.py); each old source ends in postmigrate and quits
# with status 0; the last home quits with 0 and a summary without errors.
# A state that drifts a little at each hop (the TSC, a register, the stats
# region, a page the last round missed) adds up over ten.
#
# Plain build only: each hop is the code migrate_netns.sh runs in all three
# builds (and migrate_cancel.sh's retries run under TSan ten times a test);
# ten more hops under TSan would cost about 40 s of the suite's budget for
# races those tests already give ThreadSanitizer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
ns_setup

GUEST=(--cpus 2 --mem 256M --append "wss=32M writers=0 readers=1 rate=40 report=0")
MIG_ARGS=(--timeout 30)
mig_first
first=$(mig guest "$(qmp $SRC)")
for trip in 1 2 3 4 5; do
	mig_retry "round trip $trip, A to B"
	mig_retry "round trip $trip, B to A"
done
last=$(mig guest "$(qmp $SRC)")
echo "    first: $first"
echo "    last:  $last"
[ "$SRC_NS" = "$NS_A" ] && pass "the guest is home in A after ten migrations" || fail "the guest ended in $SRC_NS"
mig_last
finish

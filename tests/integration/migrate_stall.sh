#!/bin/bash
# A destination that goes silent, and a link that goes down (issue 8
# section 5, issue 11 part B item 2): the source must notice within its
# I/O deadline, end "failed" with an error-desc, keep its guest running
# with errors 0, and succeed at a retry to a fresh destination.  The
# points: after the header, in a later round and in the final copy (the
# destination's --x-incoming-fault STAGE:stall: it stops reading, for
# good), in the first pass (SIGSTOP from outside), and the veth pair set
# down in the first pass (both ends: the destination too must give up by
# itself, exit non-zero and leave no file).  A stalled destination is
# killed by the test once the source has failed, as an operator would.
#
# Plain build only: every case waits out the source's I/O deadline (10 s),
# which a sanitizer cannot shorten and which dominates the test's time; the
# code that runs (a poll that times out, then the same failure path as
# migrate_faults.sh) runs under ASan there and under TSan in
# migrate_cancel.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
ns_setup

GUEST=(--cpus 2 --mem 256M --append "wss=32M writers=0 readers=1 rate=40 report=0")
MIG_ARGS=(--param downtime-limit=20 --timeout 40)
mig_first

mig_case "the destination stalls after the header" header:stall stalled
mig_case "the destination stalls in a later round" ram2:stall stalled
mig_case "the destination stalls in the final copy (vCPUs stopped)" device:stall stalled --cont
mig_case "the destination is stopped (SIGSTOP) in the first pass" "" stalled \
	--at ram1 --do 'kill -STOP $(cat '"$TMP"'/%DST%.pid)'
MIG_REPAIR=link_up
mig_case "the link goes down in the first pass" "" exits \
	--at ram1 --do "ip -n $NS_A link set $VETH_A down; ip -n $NS_B link set $VETH_B down"
mig_last
finish

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
# Both sides' I/O deadline is the x-io-timeout parameter (docs/migration.md),
# set to 1 s here (the default, 10 s, made this test take 66 s): the source's
# on the source for every migration, the destination's on each case's
# destination (the link-down one must give up by itself).  A healthy hop of
# this guest is never silent for 1 s (its switchover takes ~0.1 s).
#
# Plain build only: every case waits out a deadline, which a sanitizer
# cannot shorten; the code that runs (a poll that times out, then the same
# failure path as migrate_faults.sh) runs under ASan there and under TSan in
# migrate_cancel.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
ns_setup

GUEST=(--cpus 2 --mem 256M --append "wss=32M writers=0 readers=1 rate=40 report=0")
MIG_ARGS=(--param downtime-limit=20 --param x-io-timeout=1000 --timeout 20)
MIG_DST_PARAMS=(x-io-timeout=1000)
mig_first

# deadline_held DESC: the source's failure names the 1 s deadline (not 10 s).
deadline_held() {
	case $MIG_OUT in
	*"no progress for 1000 ms"*) pass "$1: the source gave up after x-io-timeout, 1000 ms" ;;
	*) fail "$1: the source's failure does not name x-io-timeout 1000 ms: $MIG_OUT" ;;
	esac
	MIG_OUT=
}

MIG_OUT=
mig_case "the destination stalls after the header" header:stall stalled
deadline_held "after the header"
mig_case "the destination stalls in a later round" ram2:stall stalled
deadline_held "in a later round"
mig_case "the destination stalls in the final copy (vCPUs stopped)" device:stall stalled --cont
deadline_held "in the final copy"
mig_case "the destination is stopped (SIGSTOP) in the first pass" "" stalled \
	--at ram1 --do 'kill -STOP $(cat '"$TMP"'/%DST%.pid)'
deadline_held "SIGSTOP"
MIG_REPAIR=link_up
mig_case "the link goes down in the first pass" "" exits \
	--at ram1 --do "ip -n $NS_A link set $VETH_A down; ip -n $NS_B link set $VETH_B down"
deadline_held "link down"
# The destination's own deadline (its case's name: the retry took the next).
grep -q "the source sent nothing for 1000 ms (x-io-timeout)" "$TMP/d$((CASE - 1)).err" &&
	pass "link down: the destination gave up after its x-io-timeout, 1000 ms" ||
	fail "link down: the destination did not give up after its 1000 ms: $(vm_said d$((CASE - 1)))"
mig_last
finish

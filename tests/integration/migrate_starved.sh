#!/bin/bash
# A bandwidth-starved migration converges only with dirty-limit (issue 8
# sections 4 and 7).  An unpaced seq writer rewrites its 16 MiB working set
# every few milliseconds; with max-bandwidth at 20 MB/s and the default
# downtime limit (300 ms: 6 MB may be left for the final copy), every round
# has the whole working set to send again.  Without a throttle the
# migration must still be iterating after 6 s (at least three passes, never
# switching over), then cancelled with the guest running on, errors 0; the
# same migration to the same kind of destination with the dirty-limit
# capability on (our law: the writer's limit derived from the measured
# bandwidth and the downtime target) completes, and the guest continues on
# the destination with errors 0.  Between two namespaces (netns.sh).
#
# Plain build only: what it checks is a rate (the writer outruns the link
# unless limited), which the guest sets and the sanitizers do not change;
# the law is unit-tested with its simulator (tests/unit/test_mig_policy*),
# and the migration thread's code under sanitizers is exercised by
# migrate_netns.sh, migrate_cancel.sh and migrate_faults.sh.
# The link itself is starved too (tbf at 200 Mbit/s, 25 MB/s): the final
# copy is not rate-limited (as in QEMU), so with max-bandwidth alone a
# driver that sizes the switchover by the link's speed could switch over
# with the whole working set in the final copy.
NS_RATE=200mbit
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
ns_setup

GUEST=(--cpus 2 --mem 128M --append "wss=16M writers=0 readers=1 report=0")
# 20 MB/s: 1.2 s for the first pass of both working sets, 0.8 s per round
# after it, 6 MB (2% of a round) the most the final copy may carry.
STARVED=(--param max-bandwidth=20000000 --param downtime-limit=300)
mig_first

# mig_case with "cancelled": a fresh destination, never switched over to.
CASE=$((CASE + 1))
d=d$CASE
vm_dst $d "$NS_B" 5100 "${GUEST[@]}"
if out=$(mig incoming "$(qmp $d)" 20) &&
	out=$(mig migrate "$(qmp $SRC)" "$(qmp $d)" "tcp:$ADDR_B:5100" "${STARVED[@]}" \
		--cap dirty-limit=false --cap auto-converge=false --expect active --timeout 6); then
	pass "without a throttle it does not converge: $out"
else
	fail "without a throttle: $out"
	vm_tail $SRC
	vm_tail $d
fi
vm_wait_exit $d $DST_EXIT_S
[ "$RC" != running ] && [ "$RC" != 0 ] && [ "$RC" -lt 128 ] &&
	pass "the cancelled destination exits $RC: $(vm_said $d)" ||
	fail "the cancelled destination's exit status is $RC, not 1..127"
left=$(vm_left_behind $d)
[ -z "$left" ] && pass "the cancelled destination leaves nothing behind" || fail "the cancelled destination left $(echo $left)"

MIG_ARGS=("${STARVED[@]}" --cap dirty-limit=true --timeout 30)
mig_retry "with dirty-limit it converges"
mig_last
finish

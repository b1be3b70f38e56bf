#!/bin/bash
# migrate_cancel at every point (issue 8 section 5): as soon as migrate has
# returned, in the first pass, in a later round, in the final copy and
# while the source waits for the acknowledgement (the destination held
# there by --x-incoming-fault STAGE:stall, so that the point is reached
# every time).  Each time the source ends "cancelled", its guest runs on
# with errors 0, a retry to a fresh destination succeeds, and the
# destination (whose stream was cut) exits non-zero by itself, with its
# one message and nothing after it, and leaves no file; a stalled one is
# killed by the test.  Then the race of a cancel with the connection, 20
# times (migrate_cancel_loop.py): every destination whose stream was cut
# exits by itself at once with its one message.
#
# Runs in all three builds: migrate_cancel comes from the QMP thread while
# the migration thread sends, waits or holds the vCPUs paused; that race
# is what ThreadSanitizer is for, and ASan sees the teardown it triggers.
# But not every case in every build (it took 48 s under TSan): each case
# costs a retry, a whole migration, and two cases repeat another's code.
# The sanitizer builds run the three points where the code differs: the
# first pass (the thread sending), the final copy (the vCPUs held paused,
# resumed by the cancel) and the wait for the acknowledgement (END sent:
# the cancel no longer decides); and 10 tries of the loop.  Plain only:
# "at once" (the loop's 0 ms tries reach the same point, in every build)
# and "a later round" (the first pass's send loop again), and 20 tries.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
ns_setup

GUEST=(--cpus 2 --mem 256M --append "wss=32M writers=0 readers=1 rate=40 report=0")
MIG_ARGS=(--param downtime-limit=20 --timeout 30)
mig_first

# mig_case expects "failed" unless told otherwise: the last --expect wins.
PLAIN=$([ "$SLOW" = 1 ] && echo 1)
LOOP_TRIES=$([ -n "$PLAIN" ] && echo 20 || echo 10)
[ -n "$PLAIN" ] && mig_case "cancelled at once" "" idle --cancel-at setup --expect cancelled
mig_case "cancelled in the first pass" "" exits --cancel-at ram1 --expect cancelled
[ -n "$PLAIN" ] && mig_case "cancelled in a later round" "" exits --cancel-at ram2 --expect cancelled
# The cancel waits until the destination says it stalls (at the final
# round's start, at the end record): the source reaches "device" while
# the destination, a socket buffer behind, may still be reading earlier
# rounds, and a cancel then cuts a stream the destination had not stalled
# in yet: it reads to the cut and exits, rightly ("truncated: the stream
# ended before its end record"), which the test took for a hang under TSan.
stalled_at() {
	echo "timeout $((20 * SLOW)) sh -c 'until grep -q \"stalling at stage $1\" $TMP/%DST%.err; do sleep 0.02; done'"
}
mig_case "cancelled in the final copy (vCPUs stopped)" device:stall stalled \
	--at device --do "$(stalled_at device)" --cancel-at device --expect cancelled --cont
mig_case "cancelled while waiting for the acknowledgement" end:stall stalled \
	--at device --do "$(stalled_at end)" --cancel-at device --expect cancelled --cont

# The race of a cancel with the connection: 20 (10) fresh destinations, each
# cancelled 0 to 20 ms after migrate returned; each one cut must exit by
# itself at once with its one message, each never reached must still wait.
if out=$(SLOW=$SLOW "$PY" "$(dirname "$0")/migrate_cancel_loop.py" "$(qmp $SRC)" "$TMP" \
	"$(other_ns "$SRC_NS")" "$(ns_addr "$(other_ns "$SRC_NS")")" 5500 "$LOOP_TRIES" "$VMM" "${GUEST[@]}"); then
	pass "connect+cancel: $out"
else
	fail "connect+cancel: $out"
fi
mig_last
finish

#!/bin/bash
# Migration soak (issue 11 part B item 3), outside the default suite:
#
#   sudo tools/soak.sh [ROUND_TRIPS] [VMM]     (default 100, build/vmm)
#
# A 2-vCPU guest (a seq writer and a reader) migrates back and forth
# between two network namespaces joined by a 1 Gbit/s veth pair
# (tests/integration/netns.sh), ROUND_TRIPS times (two migrations each),
# each time to a fresh vmm --incoming.  During every hop a QMP client
# (migrate_gt.py chaos) hammers the current source with random valid and
# invalid commands, dirty limits set and cancelled at random rates on
# random vCPUs among them, and a user's stop/cont now and then.  Every hop
# is held to the guest's counters (nothing goes back, everything grows,
# errors 0); at the end the guest's errors are 0, and the monitor's memory
# has not grown: the resident set of each vmm just before it hands the
# guest on, the last ten hops against the first ten.
#
# Runs nice'd, under the VM lock for its whole run (lib.sh), as root (ip
# netns).  Prints one line per hop and a summary; the figures of a run are
# in docs/testing-migration.md.  Exit status 0 when every check held.
set -u
cd "$(dirname "$0")/.."
TRIPS=${1:-100}
set -- "${2:-build/vmm}"
renice -n 19 $$ >/dev/null
. tests/integration/lib.sh
. tests/integration/netns.sh
ns_setup

GUEST=(--cpus 2 --mem 256M --append "wss=32M writers=0 readers=1 rate=40 report=0")
# The dirty-limit capability on, as a user who wants convergence would
# have it: the soak's own random limits then meet the migration's.
MIG_ARGS=(--cap dirty-limit=true --timeout 60 --json "$TMP/hops.jsonl")
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

start=$(date +%s)
mig_first
first=$(mig guest "$(qmp $SRC)")
: >"$TMP/rss"
: >"$TMP/chaos"
hop=0
for trip in $(seq "$TRIPS"); do
	for dir in there back; do
		hop=$((hop + 1))
		mig chaos "$(qmp $SRC)" "$hop" >>"$TMP/chaos" &
		chaos=$!
		sleep 0.3
		rss_kib "$(vm_pid $SRC)" >>"$TMP/rss"
		before=$FAILS
		MIG_RETRY_RETURN=1 mig_retry "hop $hop (round trip $trip, $dir)"
		kill -TERM $chaos 2>/dev/null
		wait $chaos
		if [ $FAILS -ne $before ]; then
			# The guest is still on SRC: the figures so far, then its state.
			echo "soak: stopped at hop $hop: $(mig guest "$(qmp $SRC)" 2>&1 | head -c 600)"
			break 2
		fi
	done
done
last=$(mig guest "$(qmp $SRC)")
rss_kib "$(vm_pid $SRC)" >>"$TMP/rss"
mig_last
elapsed=$(($(date +%s) - start))

"$PY" - "$TMP/hops.jsonl" "$TMP/rss" "$TMP/chaos" "$first" "$last" "$elapsed" <<'EOF'
import json, math, statistics as st, sys
hops = [json.loads(l) for l in open(sys.argv[1])]
rss = [int(l) for l in open(sys.argv[2]) if l.strip()]
chaos = [json.loads(l) for l in open(sys.argv[3]) if l.startswith("{")]
first, last = json.loads(sys.argv[4]), json.loads(sys.argv[5])
def q(xs):
    # p90 by nearest rank: the smallest value that 90% of them do not exceed.
    xs = sorted(xs)
    return "median %.0f, p90 %.0f, max %.0f" % (st.median(xs), xs[math.ceil(0.9 * len(xs)) - 1], xs[-1])
print("soak: %d migrations in %s s" % (len(hops), sys.argv[6]))
if hops:
    print("  total-time ms: %s" % q([h["total-time"] for h in hops]))
    print("  downtime ms (monitor): %s" % q([h["downtime"] for h in hops]))
    print("  longest stall ms (guest-seen): %s" % q([h["guest-stall-ms"] for h in hops]))
    print("  passes: %s" % q([h["passes"] for h in hops]))
for i, (a, b) in enumerate(zip(first, last)):
    print("  vCPU %d: pages-written %d -> %d, bytes-read %d -> %d, errors %d" %
          (i, a["pages-written"], b["pages-written"], a["bytes-read"], b["bytes-read"], b["errors"]))
tot = {k: sum(c.get(k, 0) for c in chaos) for k in ("sent", "ok", "errors", "stop-cont")}
print("  chaos QMP: %(sent)d requests (%(ok)d returned, %(errors)d error replies), %(stop-cont)d stop/cont pairs" % tot)
bad = 0
if len(rss) >= 20:
    a, b = st.median(rss[:10]), st.median(rss[-10:])
    grew = b - a
    print("  vmm RSS before handing on, KiB: first ten median %d, last ten median %d (%+d)" % (a, b, grew))
    # A leak of a page per hop would show as 800 KiB over 200 hops; allow
    # 2% of noise (the guest's touched pages vary with when the hop came).
    if grew > 0.02 * a:
        print("FAIL: the monitor's memory grew")
        bad = 1
if any(c["errors"] for c in last):
    print("FAIL: the guest counts errors")
    bad = 1
sys.exit(bad)
EOF
[ $? -eq 0 ] || FAILS=$((FAILS + 1))
finish

#!/bin/bash
# Every dirty limit law (--dirty-limit-law, docs/dirtylimit.md) on a real
# guest: not a benchmark (bench/dirtylimit_laws.py is), a short check that
# each law runs, from the command line and at run time, and moves the rate
# the right way.  Two writer vCPUs on a 4096-entry ring (the ring laws'
# quantum is then 16 MiB), a 100 ms tuning period so that the slow laws
# move within a second.  The host is shared and busy (sanitizer builds
# write several times slower, and the speed of one vCPU changes by 5x in a
# minute), so no check reads an absolute rate: cpu1, never limited, is the
# reference in the same seconds, and each limit is an eighth of what cpu1
# wrote unthrottled just before it.  Rates are the stress kernel's own
# counters.
#   - from the command line (one short VM per law, cpu0 limited to 1 MiB/s):
#     the stream names the law, both vCPU threads apply it, and it acts
#     (a tuned law's "throttle", the bucket's penalty, is not 0);
#   - at run time (one VM, QMP x-set-dirty-limit-law to each law in turn,
#     then cpu0 limited): x-query-dirty-limit-law names the law, the stream
#     shows both vCPU threads switching in turn, cpu0 writes at most 60% of
#     cpu1 one second after the set (an eighth, plus qemu's 25 MB/s dead
#     band, is under 60% from 52 MiB/s up), and after a cancel at least 60%
#     again within 6 s (a sleep in progress is served);
#   - a bad law is refused with one clear error, at start and at run time.
# About 25 s; holds the VM lock throughout (lib.sh).
. "$(dirname "$0")/lib.sh"
need_kvm

CLIENT_DIR=$(cd "$(dirname "$0")" && pwd)
VMARGS=(-c 2 -m 512M --dirty-ring-size 4096 -a "wss=64M report=0" --dirty-limit-period 100)

# --- from the command line ----------------------------------------------------
cat >"$TMP/check.py" <<'EOF'
import json, sys

path, law = sys.argv[1], sys.argv[2]
recs = []
with open(path) as f:
    for line in f:
        try:
            recs.append(json.loads(line))
        except ValueError:
            pass
if len(recs) < 3:
    sys.exit("only %d stats records" % len(recs))
laws = {r.get("law") for r in recs}
if laws != {law}:
    sys.exit("law in the stream: %s, not %s" % (sorted(map(str, laws)), law))
applied = {v["law"] for r in recs for v in r["vcpus"]}
if applied != {law}:
    sys.exit("the vCPU threads applied %s, not %s" % (sorted(applied), law))
if law == "bucket":
    acted = max(r["vcpus"][0]["max-penalty-us"] for r in recs)
    what = "max-penalty-us"
else:
    acted = max(r["vcpus"][0]["throttle"] for r in recs)
    what = "throttle"
if acted == 0:
    sys.exit("cpu0 limited to 1 MiB/s, yet its %s stayed 0" % what)
print("%s: named, applied by both vCPUs, cpu0's %s reached %d" % (law, what, acted))
EOF

# Under a sanitizer one law from the command line: the start-up path is
# the same for every law (the plain build runs all four), and the run-time
# part below has every law's code run by both vCPU threads in every build.
CLI_LAWS="bucket qemu linear pct"
[ "$SANITIZER" = none ] || CLI_LAWS=qemu
for law in $CLI_LAWS; do
	timeout 30 "$VMM" "${VMARGS[@]}" --dirty-limit 0=1 --dirty-limit-law "$law" \
		--stats "$TMP/$law.json" --stats-interval 250 --duration 1.5 \
		>"$TMP/$law.out" 2>"$TMP/$law.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$law from the command line: vmm exited $rc: $(tail -n 2 "$TMP/$law.err")"
	elif msg=$($PY "$TMP/check.py" "$TMP/$law.json" "$law" 2>&1); then
		pass "from the command line: $msg"
	else
		fail "$law from the command line: $msg"
	fi
done

# --- at run time --------------------------------------------------------------
cat >"$TMP/rt.py" <<'PYEOF'
import sys, time

sys.path.insert(0, sys.argv[2])
from qmp_client import Qmp  # noqa: E402

# Seconds: the law's first tunings after a set (100 ms periods), then the
# window the rates are compared over.  After a cancel a law may finish what
# it started: qemu serves a sleep in progress to its end (QEMU's usleep()),
# up to 99 ring-full times (seconds, for a limit far below the speed), and
# pct's throttle holds to its period's end; so the cancel check looks at
# windows of FREED_WINDOW for up to FREED_WITHIN.
SETTLE, WINDOW, FREED_WINDOW, FREED_WITHIN = 1.0, 1.0, 0.5, 6.0
# cpu0 limited to LIMIT_SHARE of cpu1's speed must write at most HELD of
# cpu1 (qemu stops tuning within 25 MB/s of the limit, linear is still
# stepping), and at least FREED once cancelled (two unlimited vCPUs of one
# guest differ by up to ~20% on this host).
LIMIT_SHARE, HELD, FREED = 1 / 8, 0.6, 0.6
fails = 0


def say(ok, msg):
    global fails
    print(("ok: " if ok else "FAIL: ") + msg)
    fails += 0 if ok else 1


def connect(path):
    for _ in range(200):
        try:
            q = Qmp(path)
            q.hello()
            return q
        except OSError:
            time.sleep(0.05)
    sys.exit("FAIL: no QMP socket")


def rates(q, secs):
    a, ta = q.guest()
    time.sleep(secs)
    b, tb = q.guest()
    return [(y - x) / 256 / (tb - ta) for x, y in zip(a, b)]


q = connect(sys.argv[1])
for _ in range(200):
    if all(p > 0 for p in q.guest()[0]):
        break
    time.sleep(0.05)
r = q.cmd("x-set-dirty-limit-law", {"law": "pct:ki=1"})
say("error" in r and r["error"]["desc"] == "pct takes no options (got 'ki')",
    "a bad law at run time: %s" % r.get("error", r))
r = q.cmd("x-set-dirty-limit-law", {"law": "qemu", "period-ms": 1001})
say("error" in r, "period-ms 1001 refused: %s" % r.get("error", r))
for law in ("qemu", "linear", "pct", "bucket"):
    full = rates(q, 0.5)
    limit = max(1, int(full[1] * LIMIT_SHARE))
    r = q.cmd("x-set-dirty-limit-law", {"law": law})
    got = q.cmd("x-query-dirty-limit-law").get("return", {})
    say(r.get("return") == {} and got == {"law": law, "period-ms": 0 if law == "bucket" else 100},
        "%s set: x-query-dirty-limit-law says %s" % (law, got))
    q.cmd("set-vcpu-dirty-limit", {"cpu-index": 0, "dirty-rate": limit})
    time.sleep(SETTLE)
    w = rates(q, WINDOW)
    say(w[0] <= HELD * w[1], "%s holds cpu0 back: %.0f MiB/s (limit %d: cpu1 wrote %.0f "
        "before the set) against cpu1's %.0f" % (law, w[0], limit, full[1], w[1]))
    q.cmd("cancel-vcpu-dirty-limit", {"cpu-index": 0})
    t_cancel = time.monotonic()
    while True:
        w = rates(q, FREED_WINDOW)
        took = time.monotonic() - t_cancel
        if w[0] >= FREED * w[1] or took >= FREED_WITHIN:
            break
    say(w[0] >= FREED * w[1], "%s cancelled: cpu0 back to %.0f MiB/s against cpu1's %.0f "
        "within %.1f s" % (law, w[0], w[1], took))
q.cmd("quit")
sys.exit(1 if fails else 0)
PYEOF
"$VMM" "${VMARGS[@]}" --qmp "unix:$TMP/rt.sock" --duration 60 --stats "$TMP/rt.json" \
	--stats-interval 250 >"$TMP/rt.out" 2>"$TMP/rt.err" &
BGPID=$!
$PY "$TMP/rt.py" "$TMP/rt.sock" "$CLIENT_DIR" >"$TMP/rt.log" 2>&1
while read -r line; do
	case $line in
	ok:*) pass "run time: ${line#ok: }" ;;
	*) fail "run time: ${line#FAIL: }" ;;
	esac
done <"$TMP/rt.log"
wait "$BGPID"
rc=$?
BGPID=
[ $rc -eq 0 ] && pass "vmm exited 0 after the switches" || fail "vmm exited $rc: $(tail -n 2 "$TMP/rt.err")"
# The vCPU threads themselves switched, one after the other, both of them.
seen=$($PY -c '
import json, sys
order = []
for line in open(sys.argv[1]):
    try:
        both = [v["law"] for v in json.loads(line)["vcpus"]]
    except (ValueError, KeyError):
        continue
    if both[0] == both[1] and (not order or order[-1] != both[0]):
        order.append(both[0])
print(" ".join(order))' "$TMP/rt.json")
if [ "$seen" = "bucket qemu linear pct bucket" ]; then
	pass "the stream shows both vCPUs applying, in turn: $seen"
else
	fail "the vCPUs applied, in turn: '$seen', want 'bucket qemu linear pct bucket'"
fi

expect_fail "unknown law" "^vmm: --dirty-limit-law tcp: unknown law 'tcp' \(laws: bucket, qemu, linear, pct\)$" \
	--dirty-limit-law tcp
expect_fail "option the law does not take" "^vmm: --dirty-limit-law pct:ki=1: pct takes no options" \
	--dirty-limit-law pct:ki=1

finish

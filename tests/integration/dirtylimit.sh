#!/bin/bash
# The dirty limiter on a real guest, through QMP (docs/qmp.md, docs/dirtylimit.md).
# Every rate is the stress kernel's own counter (x-query-guest-stats), never
# vmm's self-report:
#   - a limit holds within +-10% over 2 s windows;
#   - limits change at runtime (set on one vCPU, then on every vCPU, and
#     query-vcpu-dirty-limit shows each step);
#   - a reader is not slowed by a limit (its own and its neighbour's): it
#     never sleeps, and reads as much per second of CPU as without a limit;
#   - cancel restores the speed (> 3x the limit over the first second);
#   - a limit of 0 cancels;
#   - --dirty-limit CPU=MIB at start limits that vCPU alone.
# The QMP side: a python3 script written out below, on qmp_client.py's Session.
# Runs in ~25 s and holds the VM lock throughout (lib.sh), so VMs of other
# runs do not overlap its measurements.
# Plain build only (tests/integration/meson.build): every check here is a
# rate, the same in every build; the limiter's code with its threads (a
# limit set, changed, cancelled from QMP while the vCPU threads apply it)
# runs under ASan and TSan in int_qmp's dirty-limit part, a limit from
# --dirty-limit at start in int_dirtylimit_laws.
. "$(dirname "$0")/lib.sh"
need_kvm

cat >"$TMP/dl.py" <<'EOF'
import json, sys, time

# tests/integration's client (PYTHONPATH): Session retries the connect,
# negotiates; cmd() exits with the error, raw() returns it.
from qmp_client import Closed, QmpError, Session

PAGES_PER_MIB = 256


def sched(tid):
    """The kernel's account of a vCPU thread: (ns on a CPU, ns waiting for one)."""
    a = open("/proc/%d/schedstat" % tid).read().split()
    return int(a[0]), int(a[1])


def sample(q):
    """Now, and per vCPU: pages written, bytes read (the guest's own counters), and
    the kernel's account of its thread."""
    tids = [c["thread-id"] for c in q.cmd("query-cpus-fast")]
    r = q.stats()
    return (time.monotonic(), [c["pages-written"] for c in r], [c["bytes-read"] for c in r],
            [sched(t) for t in tids])


def rates(a, b):
    """MiB/s written and read per vCPU; then per vCPU, MiB read per second
    the thread was on a CPU, and the share of the time it slept (neither on
    a CPU nor waiting for one: only the limiter's sleeps, or a pause).  The
    last two are what host load and instrumentation cannot bend: another
    process taking the CPU shows as waiting, a slow monitor as CPU time."""
    dt = b[0] - a[0]
    w = ["%.2f" % ((y - x) / PAGES_PER_MIB / dt) for x, y in zip(a[1], b[1])]
    r = ["%.1f" % ((y - x) / 1048576 / dt) for x, y in zip(a[2], b[2])]
    oncpu = [(y[0] - x[0]) / 1e9 for x, y in zip(a[3], b[3])]
    waited = [(y[1] - x[1]) / 1e9 for x, y in zip(a[3], b[3])]
    eff = ["%.1f" % ((y - x) / 1048576 / c if c > 0 else 0) for x, y, c in zip(a[2], b[2], oncpu)]
    slept = ["%.3f" % max(0.0, 1 - (c + q) / dt) for c, q in zip(oncpu, waited)]
    return " ".join(w + r + eff + slept)


sock, what = sys.argv[1], sys.argv[2]
if what == "wait":  # until every vCPU has made progress (10 s at most)
    end = time.monotonic() + 10
    try:
        q = Session(sock, wait=10)
        while time.monotonic() < end:
            s = q.stats()
            if s and all(c["pages-written"] + c["bytes-read"] > 0 for c in s):
                sys.exit(0)
            time.sleep(0.05)
    except (OSError, Closed, QmpError):
        pass
    sys.exit(1)
q = Session(sock)
if what == "cmd":  # NAME [ARGS_JSON]: the reply, compact
    r = q.raw(sys.argv[3], json.loads(sys.argv[4]) or None if len(sys.argv) > 4 else None)
    print(json.dumps(r.get("return", r), separators=(",", ":")))
elif what == "limits":  # "cpu:limit-rate ..." from query-vcpu-dirty-limit, "none" if empty
    r = q.cmd("query-vcpu-dirty-limit")
    print(" ".join("%d:%d" % (e["cpu-index"], e["limit-rate"]) for e in r) or "none")
elif what == "rates":  # SECONDS [SKIP]: see rates()
    time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 0)
    a = sample(q)
    time.sleep(float(sys.argv[3]))
    print(rates(a, sample(q)))
elif what == "after":  # NAME ARGS_JSON SECONDS: run a command, then the rates from its reply on
    r = q.raw(sys.argv[3], json.loads(sys.argv[4]) or None)
    a = sample(q)
    time.sleep(float(sys.argv[5]))
    print(rates(a, sample(q)) if "return" in r else "error: %s" % r)
EOF
dl() { "$PY" "$TMP/dl.py" "$@"; }
num() {
	for x in "$@"; do [[ $x =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || return 1; done
}
# near VALUE TARGET PERCENT: |VALUE - TARGET| <= PERCENT% of TARGET.
near() {
	num "$1" "$2" &&
		awk -v v="$1" -v t="$2" -v p="$3" 'BEGIN { d = v - t; if (d < 0) d = -d; exit !(d <= t * p / 100) }'
}
# is A OP B: compare decimals.
is() { num "$1" "$3" && awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; }
expect() {
	if [ "$2" = "$3" ]; then pass "$1: $2"; else fail "$1: got '$2', want '$3'"; fi
}
# start SOCK NAME ARGS...: vmm in the background, until every vCPU makes progress.
start() {
	local s=$1 n=$2
	shift 2
	"$VMM" --qmp "unix:$s" -m 512M "$@" >"$TMP/$n.out" 2>"$TMP/$n.err" &
	VPID=$!
	PIDS="$PIDS $VPID"
	if ! dl "$s" wait; then
		fail "$n: the guest made no progress within 10 s: $(tail -3 "$TMP/$n.err")"
		finish
	fi
}

# --- one writer (cpu0) next to one reader (cpu1) ------------------------------
S=$TMP/a.sock
start "$S" a -c 2 -a "wss=64M writers=0 report=0"
PA=$VPID
read -r W0 _ _ RD0 _ EF0 _ _ < <(dl "$S" rates 1.5)
# The checks below need a writer well above the limits they set (at most 40):
# 3x.  (It runs at 300-550 MiB/s alone, 166 was seen under ThreadSanitizer
# with other work on the host: a bar at 200 was a flaky check of its own.)
is "$W0" '>' 120 && pass "unthrottled: writer $W0 MiB/s, reader $RD0 MiB/s read" ||
	fail "unthrottled writer at '$W0' MiB/s: below 3x the limits set below, which then mean nothing"

expect "set-vcpu-dirty-limit cpu0 25" "$(dl "$S" cmd set-vcpu-dirty-limit '{"cpu-index": 0, "dirty-rate": 25}')" '{}'
expect "query-vcpu-dirty-limit" "$(dl "$S" limits)" "0:25"
read -r W _ < <(dl "$S" rates 2 0.5)
near "$W" 25 10 && pass "limit 25 holds: $W MiB/s over 2 s" || fail "limit 25: '$W' MiB/s over 2 s (+-10%)"

# Changed at runtime, and now on every vCPU: the reader gets a limit of its own.
expect "set-vcpu-dirty-limit, every vCPU, 40" "$(dl "$S" cmd set-vcpu-dirty-limit '{"dirty-rate": 40}')" '{}'
expect "query-vcpu-dirty-limit after the change" "$(dl "$S" limits)" "0:40 1:40"
read -r W _ _ RDL _ EFL _ SLL < <(dl "$S" rates 2 0.5)
near "$W" 40 10 && pass "limit changed to 40 holds: $W MiB/s over 2 s" ||
	fail "limit changed to 40: '$W' MiB/s over 2 s (+-10%)"

read -r W _ < <(dl "$S" after cancel-vcpu-dirty-limit '{}' 1)
is "$W" '>' 120 && pass "cancel: $W MiB/s over the first second (> 3x 40)" ||
	fail "cancel: '$W' MiB/s over the first second, want > 120"
expect "query-vcpu-dirty-limit after cancel" "$(dl "$S" limits)" "none"
read -r _ _ _ RD1 _ EF1 _ _ < <(dl "$S" rates 1.5)

# The reader, limited itself and next to a limited writer, is not slowed by
# the limiter: the limiter could only sleep it (its thread would sleep) or
# kick it too often (each kick costs the thread CPU).  So, from the kernel's
# account of the reader's thread, it sleeps under 2% of the time, and the
# guest reads at least 90% as many bytes per second of CPU as in the
# unlimited phases before and after.  Its speed per second of wall time
# moved by 15-50% here whatever the limiter did (other processes on the two
# cores take its CPU; under ThreadSanitizer the limited writer does too:
# once 85% against the 90% this check used to want), so that is shown, not
# checked; bench/dirtylimit.py measures it (>= 97%, median of interleaved
# 1 s phases, on a quiet host).
reader_ok() { num "$1" "$2" "$3" "$4" && awk -v l="$1" -v a="$2" -v b="$3" -v s="$4" 'BEGIN { exit !(l >= 0.9 * (a + b) / 2 && s < 0.02) }'; }
reader_ok "$EFL" "$EF0" "$EF1" "$SLL" &&
	pass "reader not slowed: $EFL MiB read per CPU-second limited vs $EF0 / $EF1 unlimited (>= 90%), asleep $SLL of the time (< 2%); by the clock $RDL vs $RD0 / $RD1 MiB/s" ||
	fail "reader slowed: '$EFL' MiB per CPU-second limited vs '$EF0' / '$EF1' unlimited (want >= 90% of their mean), asleep '$SLL' of the time (want < 2%); by the clock $RDL vs $RD0 / $RD1 MiB/s"

# A limit of 0 cancels, per vCPU.
dl "$S" cmd set-vcpu-dirty-limit '{"dirty-rate": 30}' >/dev/null
expect "set cpu1 to 0" "$(dl "$S" cmd set-vcpu-dirty-limit '{"cpu-index": 1, "dirty-rate": 0}')" '{}'
expect "query-vcpu-dirty-limit after cpu1 set to 0" "$(dl "$S" limits)" "0:30"
read -r W _ < <(dl "$S" rates 1 0.3)
near "$W" 30 15 && pass "cpu0 still limited to 30: $W MiB/s over 1 s" ||
	fail "cpu0 after cpu1's limit went to 0: '$W' MiB/s, want 30 (+-15%)"
read -r W _ < <(dl "$S" after set-vcpu-dirty-limit '{"cpu-index": 0, "dirty-rate": 0}' 1)
is "$W" '>' 90 && pass "dirty-rate 0 cancels: $W MiB/s over the first second (> 3x 30)" ||
	fail "dirty-rate 0 on cpu0: '$W' MiB/s over the first second, want > 90"
expect "query-vcpu-dirty-limit after 0" "$(dl "$S" limits)" "none"
dl "$S" cmd quit >/dev/null

# --- --dirty-limit at start, one vCPU of two ------------------------------------
S=$TMP/b.sock
start "$S" b -c 2 -a "wss=64M report=0" --dirty-limit 1=20
PB=$VPID
expect "query-vcpu-dirty-limit with --dirty-limit 1=20" "$(dl "$S" limits)" "1:20"
read -r W0 W1 _ < <(dl "$S" rates 2 0.5)
near "$W1" 20 10 && pass "--dirty-limit 1=20 holds: cpu1 $W1 MiB/s over 2 s" ||
	fail "--dirty-limit 1=20: cpu1 '$W1' MiB/s over 2 s (+-10%)"
is "$W0" '>' 60 && pass "cpu0 unlimited beside it: $W0 MiB/s" || fail "cpu0 (no limit) at '$W0' MiB/s"
dl "$S" cmd quit >/dev/null

# Both quit cleanly (exit status 0: no wedged ring, no failed ioctl).
wait_exit $PA a 0 5
wait_exit $PB b 0 5
finish

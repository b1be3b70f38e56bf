#!/bin/bash
# The dirty limiter on a real guest, through QMP (docs/qmp.md, docs/dirtylimit.md).
# Every rate is the stress kernel's own counter (x-query-guest-stats), never
# vmm's self-report:
#   - a limit holds within +-10% over 2 s windows;
#   - limits change at runtime (set on one vCPU, then on every vCPU, and
#     query-vcpu-dirty-limit shows each step);
#   - a reader is not slowed by a limit (its own and its neighbour's): it
#     never sleeps, exits no more often than its read slice asks (exits
#     from vmm's --stats), and reads as much per second of CPU as without
#     a limit, within the host's noise;
#   - cancel restores the speed (> 3x the limit over the first second);
#   - a limit of 0 cancels;
#   - --dirty-limit CPU=MIB at start limits that vCPU alone.
# The QMP side: a python3 script written out below, on qmp_client.py's Session.
# Runs in ~30 s and holds the VM lock throughout (lib.sh), so VMs of other
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
from statistics import median

# tests/integration's client (PYTHONPATH): Session retries the connect,
# negotiates; cmd() exits with the error, raw() returns it.
from qmp_client import Closed, QmpError, Session

PAGES_PER_MIB = 256
# After a limit is set or cancelled, before a window: the writer's change of
# speed is over (its first penalty comes within a 2 ms slice; a cancel wakes
# it at once).
SETTLE_S = 0.3


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


def columns(a, b):
    """MiB/s written and read per vCPU; then per vCPU, MiB read per second
    the thread was on a CPU, and the share of the time it slept (neither on
    a CPU nor waiting for one: only the limiter's sleeps, or a pause).  The
    last two are what host load and instrumentation cannot bend: another
    process taking the CPU shows as waiting, a slow monitor as CPU time."""
    dt = b[0] - a[0]
    w = [(y - x) / PAGES_PER_MIB / dt for x, y in zip(a[1], b[1])]
    r = [(y - x) / 1048576 / dt for x, y in zip(a[2], b[2])]
    oncpu = [(y[0] - x[0]) / 1e9 for x, y in zip(a[3], b[3])]
    waited = [(y[1] - x[1]) / 1e9 for x, y in zip(a[3], b[3])]
    eff = [(y - x) / 1048576 / c if c > 0 else 0 for x, y, c in zip(a[2], b[2], oncpu)]
    slept = [max(0.0, 1 - (c + q) / dt) for c, q in zip(oncpu, waited)]
    return w, r, eff, slept


def rates(a, b):
    """columns() as one line: "W0 W1 R0 R1 EFF0 EFF1 SLEPT0 SLEPT1"."""
    w, r, eff, slept = columns(a, b)
    return " ".join(["%.2f" % x for x in w] + ["%.1f" % x for x in r + eff] +
                    ["%.3f" % x for x in slept])


def exits(stats, cpu):
    """vCPU CPU's exits so far, from the last line vmm wrote to its --stats
    file (one every 100 ms here)."""
    with open(stats) as f:
        return json.loads(f.read().rstrip("\n").rsplit("\n", 1)[-1])["vcpus"][cpu]["exits"]


def alternate(q, stats, cpu, rounds, secs):
    """The reader on vCPU CPU, with every vCPU limited to 40 MiB/s and
    without, in turns: unlimited first and last, ROUNDS limited windows of
    SECS each between.  Each limited window's MiB read per CPU-second is
    divided by the mean of its two unlimited neighbours, so that a host
    that drifts (a build starting beside us) moves both sides of a ratio.
    Prints: the median of those ratios; the largest share of a limited
    window the reader slept; its median exits per second without a limit
    and with one; then each window's MiB per CPU-second (U/L/U/.../U)."""
    effs, sleeps, ex = [], [], ([], [])
    for i in range(2 * rounds + 1):
        limited = i % 2 == 1
        if limited:
            q.cmd("set-vcpu-dirty-limit", {"dirty-rate": 40})
        else:
            q.cmd("cancel-vcpu-dirty-limit")
        time.sleep(SETTLE_S)
        a, e0 = sample(q), exits(stats, cpu)
        time.sleep(secs)
        b, e1 = sample(q), exits(stats, cpu)
        _, _, eff, slept = columns(a, b)
        effs.append(eff[cpu])
        ex[limited].append((e1 - e0) / (b[0] - a[0]))
        if limited:
            sleeps.append(slept[cpu])
    ratios = [effs[i] / ((effs[i - 1] + effs[i + 1]) / 2) for i in range(1, 2 * rounds, 2)]
    print("%.3f %.3f %.0f %.0f %s" % (median(ratios), max(sleeps), median(ex[0]), median(ex[1]),
                                      "/".join("%.0f" % e for e in effs)))


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
elif what == "alternate":  # STATS CPU ROUNDS SECONDS: see alternate()
    alternate(q, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
elif what == "after":  # NAME ARGS_JSON SECONDS: run a command, then the rates from its reply on
    r = q.raw(sys.argv[3], json.loads(sys.argv[4]) or None)
    a = sample(q)
    time.sleep(float(sys.argv[5]))
    print(rates(a, sample(q)) if "return" in r else "error: %s" % r)
EOF
dl() { "$PY" "$TMP/dl.py" "$@"; }
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
start "$S" a -c 2 -a "wss=64M writers=0 report=0" --stats "$TMP/a.stats" --stats-interval 100
PA=$VPID
read -r W0 _ _ RD0 _ < <(dl "$S" rates 1.5)
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
read -r W _ < <(dl "$S" rates 2 0.5)
near "$W" 40 10 && pass "limit changed to 40 holds: $W MiB/s over 2 s" ||
	fail "limit changed to 40: '$W' MiB/s over 2 s (+-10%)"

read -r W _ < <(dl "$S" after cancel-vcpu-dirty-limit '{}' 1)
is "$W" '>' 120 && pass "cancel: $W MiB/s over the first second (> 3x 40)" ||
	fail "cancel: '$W' MiB/s over the first second, want > 120"
expect "query-vcpu-dirty-limit after cancel" "$(dl "$S" limits)" "none"
# The reader is not slowed by the limiter, whether it is limited itself and
# next to a limited writer or not.  The limiter could only sleep it or kick
# it (each exit costs the thread CPU), so, in three limited windows of 1 s
# between four unlimited ones (dl.py's alternate()):
#   - from the kernel's account of the reader's thread, it sleeps under 2%
#     of each limited window;
#   - its exits per second under a limit are at most those without one plus
#     one per read slice (2 ms, dl_params_default(): a limited vCPU that
#     dirties nothing gets that slice, so that a reader that starts writing
#     is caught within 2 ms), with 20% to spare;
#   - the catch-all for any cost not foreseen: it reads at least 85% as many
#     bytes per second of CPU as in the unlimited windows beside (median of
#     three ratios).  That figure moves 10-15% from one 1 s window to the
#     next here whatever the limiter does (the reader streams 64 MiB, so the
#     host's memory traffic sets its speed): one window against a bar at
#     90% failed a CI run at 88.7%.  The two checks above are exact where
#     this one is coarse; bench/dirtylimit.py measures the reader's speed
#     (>= 97%, medians of interleaved phases, on a quiet host).
# Its speed per second of wall time is not checked: other processes on the
# two cores take its CPU.
READ_SLICE_EXITS=500
read -r RATIO SLL EXU EXL EFFS < <(dl "$S" alternate "$TMP/a.stats" 1 3 1)
if num "$RATIO" "$SLL" "$EXU" "$EXL" &&
	awk -v r="$RATIO" -v s="$SLL" -v u="$EXU" -v l="$EXL" -v x="$READ_SLICE_EXITS" \
		'BEGIN { exit !(r >= 0.85 && s < 0.02 && l <= u + 1.2 * x) }'; then
	pass "reader not slowed: asleep at most $SLL of a limited window (< 2%), $EXL exits/s limited vs $EXU (<= +$READ_SLICE_EXITS +20%), MiB read per CPU-second limited/unlimited $RATIO (>= 0.85; windows $EFFS)"
else
	fail "reader slowed: asleep '$SLL' of a limited window (want < 2%), '$EXL' exits/s limited vs '$EXU' (want <= +$READ_SLICE_EXITS +20%), MiB read per CPU-second limited/unlimited '$RATIO' (want >= 0.85; windows $EFFS)"
fi

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

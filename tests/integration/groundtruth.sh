#!/bin/bash
# The guest's own counters are the ground truth for every claim we make
# (docs/guest.md); this test proves that they bite:
#  (a) the self-checks: --x-flip-word flips one checked word in a seq
#      writer's and in a reader's working set from the host; each must count
#      exactly one error, at the address flipped, and print its data-error line;
#  (b) the pause protocol leaves no dirty page in any ring: with the
#      controller's backstop harvest off (--x-no-backstop), between two
#      pauses the monitor harvests the pages the guest wrote, on every vCPU,
#      to the page (but for a write in flight at a pause; this also catches
#      a re-logged page counted twice);
#  (c) the longest stall has no holes: over stop/cont cycles, every vCPU's
#      max-stall-us covers the pause, vCPU 0 too while it prints its summary
#      (report=10 keeps it printing a large share of the time).
# It holds the VM lock for its whole run (lib.sh).
# Plain build only (tests/integration/meson.build): its checks are of the
# guest's counters and of exact page counts, which mean the same in every
# build; the monitor code it drives (stop/cont, the pause protocol's
# harvest) runs under ASan and TSan in int_qmp (stop/cont with a second
# client) and in every migration test (the final copy's pause).
. "$(dirname "$0")/lib.sh"
need_kvm

cat >"$TMP/gt.py" <<'EOF'
import json, re, sys, time

# tests/integration's client (PYTHONPATH): Session retries the connect
# (10 s here), negotiates; cmd() exits with the error.
from qmp_client import Session


def Qmp(path):
    return Session(path, wait=10, timeout=10)


def flip(out, err):
    """Each flipped word: exactly one error on its vCPU, at its address."""
    m = re.search(r"--x-flip-word: flipped bit 0 of the word at (.*)", open(err).read())
    if not m:
        sys.exit("no flip was logged")
    flipped = {int(c): int(a, 16) for a, c in re.findall(r"(0x[0-9a-f]+) \(vCPU (\d+)\)", m.group(1))}
    if sorted(flipped) != [0, 1]:
        sys.exit("flipped %s, want vCPUs 0 and 1" % flipped)
    lines = re.findall(r"^stress: cpu(\d+) data error at (0x[0-9a-f]+)", open(out).read(), re.M)
    errs = {int(c): int(n) for c, n in
            re.findall(r"^vmm: vCPU (\d+): \d+ pages harvested, \d+ guest pages written, (\d+) errors", open(err).read(), re.M)}
    for cpu, gpa in sorted(flipped.items()):
        mine = [int(a, 16) for c, a in lines if int(c) == cpu]
        if mine != [gpa]:
            sys.exit("vCPU %d: data-error lines at %s, want one at 0x%x" % (cpu, [hex(a) for a in mine], gpa))
        if errs.get(cpu) != 1:
            sys.exit("vCPU %d: the guest counted %s errors, want exactly 1" % (cpu, errs.get(cpu)))
    print("vCPU 0 (seq writer) and vCPU 1 (reader): one error each, at the flipped addresses %s" %
          ", ".join("0x%x" % flipped[c] for c in sorted(flipped)))


def pauses(sock, stats, cycles):
    """stop/cont cycles; from the --stats file, each pause's last record."""
    q = Qmp(sock)
    q.wait_progress()
    time.sleep(0.2)
    for _ in range(cycles):
        q.cmd("stop")
        time.sleep(0.15)
        q.cmd("cont")
        time.sleep(0.25)
    q.cmd("quit")
    seen, prev = [], None
    for r in (json.loads(l) for l in open(stats)):
        if r["status"] == "paused":
            prev = r  # the last record of a pause: every vCPU long parked
        elif prev is not None:
            seen.append(prev)
            prev = None
    if len(seen) < cycles - 1:
        sys.exit("only %d pauses in the stats stream" % len(seen))
    # Equal, but for the one write a vCPU may have in flight when it stops:
    # KVM logs its page when it faults, the guest counts it once it
    # completes, after cont.  So each interval may be off by one either
    # way, and the whole run too (the errors telescope); a page left in a
    # ring at a pause is hundreds off, a re-logged page counted twice tens.
    bad = 0
    for a, b in zip(seen, seen[1:]) if len(seen) > 1 else []:
        for va, vb in zip(a["vcpus"], b["vcpus"]):
            dh = vb["pages-harvested"] - va["pages-harvested"]
            dw = vb["guest"]["pages-written"] - va["guest"]["pages-written"]
            rl = vb["relogged"] - va["relogged"]
            ok = abs(dh - dw) <= 1 and dw > 1000
            bad += not ok
            print("%s cpu%d: harvested %d, guest wrote %d (%d re-logged entries counted once)" %
                  ("   " if ok else "BAD", va["cpu-index"], dh, dw, rl))
    for va, vb in zip(seen[0]["vcpus"], seen[-1]["vcpus"]):
        d = (vb["pages-harvested"] - va["pages-harvested"]) - (vb["guest"]["pages-written"] - va["guest"]["pages-written"])
        if abs(d) > 1:
            bad += 1
            print("BAD cpu%d: over the run the monitor is %+d pages off" % (va["cpu-index"], d))
    if bad:
        sys.exit("%d interval(s) where the monitor's count is not the guest's" % bad)


def stalls(sock, cycles, pause):
    """Every vCPU's max-stall-us covers each pause."""
    q = Qmp(sock)
    q.wait_progress()
    time.sleep(0.2)
    missed = 0
    for k in range(cycles):
        q.cmd("x-query-guest-stats", {"reset-max-stall": True})
        q.cmd("stop")
        t0 = time.monotonic()
        time.sleep(pause)
        t1 = time.monotonic()
        q.cmd("cont")
        time.sleep(0.05)
        got = [c["max-stall-us"] for c in q.cmd("x-query-guest-stats")]
        # The guest stood still at least from stop's reply to cont's request.
        want = (t1 - t0) * 1e6
        short = [i for i, g in enumerate(got) if g < 0.95 * want]
        missed += bool(short)
        if short:
            print("cycle %d: pause %.0f us, max-stall-us %s: vCPU %s missed it" % (k, want, got, short))
    q.cmd("quit")
    if missed:
        sys.exit("%d of %d pauses missed" % (missed, cycles))
    print("%d pauses of %.0f ms, each seen by every vCPU" % (cycles, pause * 1000))


what = sys.argv[1]
if what == "flip":
    flip(sys.argv[2], sys.argv[3])
elif what == "pauses":
    pauses(sys.argv[2], sys.argv[3], int(sys.argv[4]))
elif what == "stalls":
    stalls(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
EOF
gt() { "$PY" "$TMP/gt.py" "$@"; }

# (a) one flipped word each in a seq writer's and a reader's working set
timeout 30 "$VMM" --cpus 2 --mem 256M --append "wss=16M writers=0 readers=1 report=0" \
	--x-flip-word 0.5 --duration 2.5 >"$TMP/flip.out" 2>"$TMP/flip.err"
rc=$?
[ $rc -eq 0 ] && pass "flip: exit 0" || fail "flip: exit $rc: $(tail -3 "$TMP/flip.err")"
if out=$(gt flip "$TMP/flip.out" "$TMP/flip.err" 2>&1); then pass "flip: $out"; else fail "flip: $out"; fi
grep -q "^vmm: guest vCPU [01] reports a memory self-check error" "$TMP/flip.err" &&
	pass "flip: the monitor heard the guest's data-error report" ||
	fail "flip: no data-error report: $(cat "$TMP/flip.err")"

# (b) a pause leaves every ring empty: harvested == written between pauses
"$VMM" --cpus 2 --mem 512M --append "wss=64M report=0" --x-no-backstop --qmp "unix:$TMP/p.sock" \
	--stats "$TMP/p.jsonl" --stats-interval 20 >"$TMP/pauses.out" 2>"$TMP/pauses.err" &
p=$!
PIDS="$PIDS $p"
if out=$(gt pauses "$TMP/p.sock" "$TMP/p.jsonl" 4 2>&1); then
	pass "pauses: between every two pauses the monitor counts the pages the guest wrote (+-1 in flight)"
else
	fail "pauses: $(echo "$out" | tail -1)"
fi
echo "$out" | sed 's/^/    /'
wait_exit $p pauses 0 5

# (c) the longest stall sees every pause, vCPU 0's summary notwithstanding
"$VMM" --cpus 2 --mem 256M --append "wss=32M report=10" --qmp "unix:$TMP/s.sock" \
	>"$TMP/stalls.out" 2>"$TMP/stalls.err" &
p=$!
PIDS="$PIDS $p"
if out=$(gt stalls "$TMP/s.sock" 15 0.1 2>&1); then pass "stalls: $out"; else
	fail "stalls: $(echo "$out" | tail -1)"
	echo "$out" | sed 's/^/    /'
fi
wait_exit $p stalls 0 5
finish

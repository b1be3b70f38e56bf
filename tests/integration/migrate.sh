#!/bin/bash
# Live migration over loopback (docs/migration.md, "Source and destination"):
# a running 2-vCPU stress guest (vCPU 0 a seq writer, vCPU 1 a reader) moves
# from vmm A to vmm B (--incoming tcp:), and on B the guest's own counters are
# the truth: errors 0 (the seq pattern and the reader's data intact), pages
# written and bytes read never go back from what A had at the switchover, and
# keep growing.  Then the failure rule: a destination that refuses the stream
# (another --mem) exits 1 with one message; the source reports "failed" with
# QEMU's error-desc and its guest runs on, errors 0; a second migrate to a
# fresh destination succeeds.  Also: query-migrate's fields and units, the
# MIGRATION and MIGRATION_PASS events, postmigrate, the destination's
# inmigrate.  It holds the VM lock for the pair of VMs (lib.sh).
#
# It runs in every build: the sanitizer builds are where a race between the
# migration thread, the vCPU threads and QMP shows (TSan) and where the
# drivers' buffers are checked (ASan); a 256 MiB guest keeps it to seconds.
. "$(dirname "$0")/lib.sh"
need_kvm

APPEND="writers=0 readers=1 wss=32M pattern=seq report=0"

cat >"$TMP/mt.py" <<'PYEOF'
import json, os, sys, time

# tests/integration's client (PYTHONPATH): Session retries the connect,
# negotiates, keeps events; cmd() exits with the error, raw() returns it.
from qmp_client import Checks, Session as Qmp


check = Checks()


def wait_progress(q):
    for _ in range(400):
        s = q.stats()
        if all(c["pages-written"] > 0 for c in s) and s[1]["bytes-read"] > 0:
            return s
        time.sleep(0.05)
    sys.exit("the guest made no progress within 20 s")


def migrate(a, b, port, name):
    """Migrate A to B; check the source's side.  Returns A's last stats."""
    a.events = []
    # The full proof: all of guest RAM re-hashed at switchover (docs/migration.md).
    a.cmd("migrate-set-parameters", {"x-digest-audit": 1 << 40})
    check(a.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port}) == {}, name + ": migrate returns at once")
    info = a.wait_status(("completed", "failed", "cancelled"), 60)
    check(info["status"] == "completed", name + ": completed (%s)" % info.get("error-desc", ""))
    ram = info.get("ram", {})
    check(ram.get("total") == 256 << 20 and ram.get("normal", 0) > 32 * 256 and
          ram.get("normal-bytes") == ram.get("normal", 0) * 4096 and ram.get("duplicate", 0) > 0 and
          ram.get("transferred", 0) > ram.get("normal-bytes", 1) and ram.get("remaining") == 0 and
          ram.get("dirty-sync-count", 0) >= 3 and ram.get("precopy-bytes", 0) > 0 and
          ram.get("downtime-bytes", 0) > 0 and ram.get("page-size") == 4096,
          name + ": ram figures: %s" % json.dumps(ram, sort_keys=True))
    check(info.get("downtime", -1) >= 0 and info["total-time"] >= info["downtime"] and
          "setup-time" in info and "expected-downtime" not in info,
          name + ": total-time %s ms, setup-time %s ms, downtime %s ms" %
          (info.get("total-time"), info.get("setup-time"), info.get("downtime")))
    st = [e["data"]["status"] for e in a.events if e["event"] == "MIGRATION"]
    passes = [e["data"]["pass"] for e in a.events if e["event"] == "MIGRATION_PASS"]
    check(st == ["active", "device", "completed"] or st == ["setup", "active", "device", "completed"],
          name + ": MIGRATION events %s" % st)
    check(passes == list(range(1, len(passes) + 1)) and len(passes) == ram.get("dirty-sync-count"),
          name + ": MIGRATION_PASS 1..%d, one per dirty sync" % len(passes))
    check(a.cmd("query-status")["status"] == "postmigrate", name + ": the source is in postmigrate")
    return a.stats()


def continues(b, last, name):
    """On B: errors 0, counters from where A stopped, growing."""
    s1 = b.cmd("x-query-guest-stats", {"reset-max-stall": True})
    time.sleep(0.5)
    s2 = b.stats()
    w0, r0 = last[0]["pages-written"], last[1]["bytes-read"]
    check(all(c["errors"] == 0 for c in s1 + s2), name + ": errors 0 on the destination")
    check(w0 <= s1[0]["pages-written"] < s2[0]["pages-written"],
          name + ": pages written go on: %d at the switchover, %d, then %d" %
          (w0, s1[0]["pages-written"], s2[0]["pages-written"]))
    check(r0 <= s1[1]["bytes-read"] < s2[1]["bytes-read"],
          name + ": bytes read go on: %d at the switchover, %d, then %d" %
          (r0, s1[1]["bytes-read"], s2[1]["bytes-read"]))
    check(b.cmd("query-status")["status"] == "running", name + ": the destination runs")
    print("%s: the guest saw a longest stall of %d us across the switchover" %
          (name, max(c["max-stall-us"] for c in s1)))


def still_runs(q, name):
    """After a failed or cancelled migration the source's guest runs on, errors 0."""
    s1 = q.stats()
    time.sleep(0.3)
    s2 = q.stats()
    check(q.cmd("query-status")["status"] == "running" and s2[0]["pages-written"] > s1[0]["pages-written"]
          and s2[1]["bytes-read"] > s1[1]["bytes-read"] and all(c["errors"] == 0 for c in s2),
          name + ": the source's guest runs on, errors 0")
    lim = q.cmd("query-vcpu-dirty-limit")
    check(lim == [], name + ": no dirty limit left behind: %s" % lim)


what = sys.argv[1]
d = sys.argv[2]
if what == "main":
    port1, port3 = int(sys.argv[3]), int(sys.argv[4])
    a, b = Qmp(d + "/a.sock"), Qmp(d + "/b.sock")
    check(b.cmd("query-status")["status"] == "inmigrate", "the destination waits in inmigrate")
    caps = {c["capability"]: c["state"] for c in a.cmd("query-migrate-capabilities")}
    check(caps.get("dirty-limit") is False and caps.get("auto-converge") is False, "capabilities off by default")
    p = a.cmd("query-migrate-parameters")
    check(p["downtime-limit"] == 300 and p["max-bandwidth"] == 128 << 20 and p["vcpu-dirty-limit"] == 1,
          "QEMU's defaults: %s" % p)
    check(a.cmd("query-migrate") == {}, "query-migrate before any migration: {}")
    # Ours: the migration socket's deadline (docs/migration.md), 100..3600000 ms.
    check(p.get("x-io-timeout") == 10000, "x-io-timeout 10000 ms by default: %s" % p.get("x-io-timeout"))
    r = a.raw("migrate-set-parameters", {"x-io-timeout": 99})
    check("Parameter 'x-io-timeout' expects" in r.get("error", {}).get("desc", ""),
          "x-io-timeout 99 refused: %s" % r)
    a.cmd("migrate-set-parameters", {"x-io-timeout": 20000})
    check(a.cmd("query-migrate-parameters").get("x-io-timeout") == 20000, "x-io-timeout set to 20000")
    check(b.cmd("query-migrate-parameters").get("x-io-timeout") == 10000, "the destination's own: 10000")
    check(a.cmd("query-migrate-parameters").get("x-digest-audit") == 16 << 20,
          "x-digest-audit 16 MiB by default: %s" % a.cmd("query-migrate-parameters").get("x-digest-audit"))
    r = a.raw("migrate-set-capabilities", {"capabilities": [
        {"capability": "dirty-limit", "state": True}, {"capability": "auto-converge", "state": True}]})
    check("conflicts" in r.get("error", {}).get("desc", ""), "dirty-limit with auto-converge refused: %s" % r)
    # Unlimited, as a first test of the drivers: the bandwidth cap is tested by the policies' tests.
    a.cmd("migrate-set-parameters", {"max-bandwidth": 0})
    wait_progress(a)
    time.sleep(0.3)
    last = migrate(a, b, port1, "A to B")
    continues(b, last, "A to B")
    r = a.raw("cont")
    check("error" in r, "cont refused in postmigrate: %s" % r.get("error", {}).get("desc"))
    a.cmd("quit")
    # B now is the source: a refused destination first, then a good one.
    b.events = []
    b.cmd("migrate-set-parameters", {"max-bandwidth": 0})
    check(b.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % int(sys.argv[5])}) == {}, "B to a bad destination: migrate")
    info = b.wait_status(("completed", "failed", "cancelled"), 60)
    check(info["status"] == "failed" and "the destination refused the migration: the guest has 256 MiB"
          in info.get("error-desc", ""),
          "B to a bad destination: failed: %s" % info.get("error-desc"))
    time.sleep(0.3)
    s = b.stats()
    check(b.cmd("query-status")["status"] == "running" and all(c["errors"] == 0 for c in s),
          "B runs on after the failure, errors 0")
    c = Qmp(d + "/c.sock")
    last = migrate(b, c, port3, "B to C")
    continues(c, last, "B to C")
    b.cmd("quit")
    port_e, port_f, port_d = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])

    # Cancel while the rounds go (10 MB/s: the first pass alone takes 3 s).
    c.events = []
    c.cmd("migrate-set-parameters", {"max-bandwidth": 10 * 1000 * 1000})
    c.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port_e})
    c.wait_status(("active",), 10)
    time.sleep(0.3)
    check(c.cmd("migrate_cancel") == {}, "cancel: migrate_cancel")
    info = c.wait_status(("cancelled", "failed", "completed"), 10)
    st = [e["data"]["status"] for e in c.events if e["event"] == "MIGRATION"]
    check(info["status"] == "cancelled" and st[-2:] == ["cancelling", "cancelled"],
          "cancel: cancelled, events %s" % st)
    still_runs(c, "cancel")

    # A destination killed while the source's guest is stopped for the final copy.
    c.cmd("migrate-set-parameters", {"max-bandwidth": 0})
    c.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port_f})
    info = c.wait_status(("cancelled", "failed", "completed"), 30)
    check(info["status"] == "failed", "killed destination: failed: %s" % info.get("error-desc"))
    still_runs(c, "killed destination")

    # --incoming defer, then migrate-incoming.
    dd = Qmp(d + "/d.sock")
    check(dd.cmd("query-status")["status"] == "inmigrate", "defer: the destination waits in inmigrate")
    check(dd.cmd("migrate-incoming", {"uri": "tcp:127.0.0.1:%d" % port_d}) == {}, "defer: migrate-incoming")
    r = dd.raw("migrate-incoming", {"uri": "tcp:127.0.0.1:%d" % port_d})
    check("already been started" in r.get("error", {}).get("desc", ""), "defer: a second migrate-incoming refused")
    last = migrate(c, dd, port_d, "C to D")
    continues(dd, last, "C to D")
    c.cmd("quit")
    dd.cmd("quit")
    sys.exit(1 if check.fails else 0)
PYEOF

freeport() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(freeport) P2=$(freeport) P3=$(freeport) P4=$(freeport) P5=$(freeport) P6=$(freeport)
# A and B print where their stop went (VMM_MIG_PHASES, docs/migration.md "The stop").
VMM_MIG_PHASES=1 "$VMM" --cpus 2 --mem 256M --append "$APPEND" --qmp "unix:$TMP/a.sock" \
	>"$TMP/a.out" 2>"$TMP/a.err" &
A=$!
VMM_MIG_PHASES=1 "$VMM" --cpus 2 --mem 256M --incoming "tcp:127.0.0.1:$P1" --qmp "unix:$TMP/b.sock" \
	>"$TMP/b.out" 2>"$TMP/b.err" &
B=$!
# A destination of another size: it must refuse the stream.
"$VMM" --cpus 2 --mem 128M --incoming "tcp:127.0.0.1:$P2" >"$TMP/bad.out" 2>"$TMP/bad.err" &
BAD=$!
"$VMM" --cpus 2 --mem 256M --incoming "tcp:127.0.0.1:$P3" --qmp "unix:$TMP/c.sock" >"$TMP/c.out" 2>"$TMP/c.err" &
C=$!
# The cancelled migration's destination, the one that dies at the final copy, a deferred one.
"$VMM" --cpus 2 --mem 256M --incoming "tcp:127.0.0.1:$P4" >"$TMP/e.out" 2>"$TMP/e.err" &
E=$!
"$VMM" --cpus 2 --mem 256M --incoming "tcp:127.0.0.1:$P5" --x-incoming-fault device:exit \
	>"$TMP/f.out" 2>"$TMP/f.err" &
F=$!
"$VMM" --cpus 2 --mem 256M --incoming defer --qmp "unix:$TMP/d.sock" >"$TMP/d.out" 2>"$TMP/d.err" &
D=$!
PIDS="$A $B $BAD $C $D $E $F"

if out=$(timeout 200 "$PY" "$TMP/mt.py" main "$TMP" "$P1" "$P3" "$P2" "$P4" "$P5" "$P6" 2>&1); then
	echo "$out"
	pass "loopback migrations"
else
	echo "$out"
	fail "loopback migrations"
fi

wait_exit $A a 0
wait_exit $B b 0
wait_exit $C c 0
wait_exit $BAD bad 1
wait_exit $D d 0
wait_exit $E e 1
wait_exit $F f 137
# A's one completed migration (to B), seen from both ends: B's part of
# the stop (its first final-round record to its ACK) lies inside A's
# (pause to ACK received).
src_us=$(sed -n 's/^vmm: downtime phases (us): pause [0-9]*, .*, total \([0-9]*\) us$/\1/p' "$TMP/a.err")
dst_us=$(sed -n 's/^vmm: incoming downtime phases (us): final round [0-9]*, state [0-9]*, end check [0-9]*, load [0-9]*, ack [0-9]*; total \([0-9]*\) us$/\1/p' "$TMP/b.err")
if [ "$(echo "$src_us" | grep -c .)" = 1 ] && [ "$(echo "$dst_us" | grep -c .)" = 1 ] &&
	[ "$dst_us" -le "$src_us" ]; then
	pass "the stop's phases: source $src_us us, destination's part $dst_us us"
else
	fail "the stop's phases: source '$src_us', destination '$dst_us': $(grep phases "$TMP/a.err" "$TMP/b.err")"
fi
# B started its vCPUs right after its ACK: the end of the incoming
# migration wakes the main thread (a lost wake waits for app.c's 1 s
# backstop; the 20 ms poll that was all there was cost the guest's
# blackout up to 20 ms).  200 ms leaves room for the sanitizers.
res_us=$(sed -n 's/^vmm: incoming resume phases (us): start \([0-9]*\); .*/\1/p' "$TMP/b.err")
if [ "$(echo "$res_us" | grep -c .)" = 1 ] && [ "$res_us" -lt 200000 ]; then
	pass "the destination's vCPUs started $res_us us after its ACK (< 200 ms)"
else
	fail "the destination's vCPUs started '$res_us' us after its ACK, want one figure < 200000: $(grep "resume phases" "$TMP/b.err")"
fi
grep -q "^vmm: incoming migration failed: .*cancel\|truncated\|reset" "$TMP/e.err" &&
	pass "the cancelled migration's destination: $(head -n 1 "$TMP/e.err")" ||
	fail "the cancelled migration's destination: $(cat "$TMP/e.err")"
for f in a b c d; do [ -e "$TMP/$f.sock" ] && fail "$f left its QMP socket behind"; done
if grep -q "the guest has 256 MiB of RAM, more than this destination takes (128 MiB)" "$TMP/bad.err" &&
	[ "$(grep -c . "$TMP/bad.err")" -le 3 ]; then
	pass "the refusing destination says why: $(head -n 1 "$TMP/bad.err")"
else
	fail "the refusing destination's message: $(cat "$TMP/bad.err")"
fi
finish

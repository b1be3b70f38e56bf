#!/bin/bash
# The tuning period of the dirty limit laws during a migration
# (docs/dirtylimit.md, "The tuning period"): as in QEMU 8.1, a migration
# with the dirty-limit capability tunes the limiter every
# x-vcpu-dirty-limit-period ms from its start to its end, whatever
# --dirty-limit-period (or the law's own period) says; then the period
# given before is back.  One source (qemu law, --dirty-limit-period 300)
# migrating at 4 MB/s (so the migration lasts seconds) to a real
# destination, x-query-dirty-limit-law read at each step:
#   - before the migration, capability and parameter set: 300 still;
#   - while it is active: x-vcpu-dirty-limit-period (200);
#   - the parameter changed during the migration: the new one (120);
#   - a law switched during the migration keeps the migration's period;
#   - after migrate_cancel: 300 again; the source then quits with status 0.
# About 5 s; holds the VM lock throughout (lib.sh).
. "$(dirname "$0")/lib.sh"
need_kvm

CLIENT_DIR=$(cd "$(dirname "$0")" && pwd)

cat >"$TMP/t.py" <<'PYEOF'
import os, socket, subprocess, sys, time

sys.path.insert(0, sys.argv[1])
import qmp_client as qc  # noqa: E402

vmm, tmp = sys.argv[2], sys.argv[3]
fails = 0


def check(ok, what, detail=""):
    global fails
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else " (%s)" % (detail,)))
    fails += 0 if ok else 1


def connect(path, proc):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("FAIL: vmm exited %s before its QMP socket answered" % proc.returncode)
        try:
            q = qc.Qmp(path)
            q.hello()
            return q
        except (OSError, qc.Closed):
            time.sleep(0.05)
    sys.exit("FAIL: no QMP on %s within 10 s" % path)


def period(q):
    r = q.cmd("x-query-dirty-limit-law")["return"]
    return r["law"], r["period-ms"]


def wait_for(fn, want, secs):
    deadline = time.monotonic() + secs
    got = fn()
    while got != want and time.monotonic() < deadline:
        time.sleep(0.05)
        got = fn()
    return got


def status(q):
    return q.cmd("query-migrate")["return"].get("status")


s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
common = ["-c", "1", "-m", "256M", "--dirty-ring-size", "4096"]
dst = subprocess.Popen([vmm] + common + ["--incoming", "tcp:127.0.0.1:%d" % port,
                                          "--qmp", "unix:%s/dst.sock" % tmp],
                       stdout=open(tmp + "/dst.out", "w"), stderr=open(tmp + "/dst.err", "w"))
src = subprocess.Popen([vmm] + common + ["--dirty-limit-law", "qemu", "--dirty-limit-period", "300",
                                          "-a", "wss=32M report=0", "--qmp", "unix:%s/src.sock" % tmp],
                       stdout=open(tmp + "/src.out", "w"), stderr=open(tmp + "/src.err", "w"))
try:
    d = connect(tmp + "/dst.sock", dst)
    a = connect(tmp + "/src.sock", src)
    check(period(a) == ("qemu", 300), "before: --dirty-limit-period 300", period(a))
    r = a.cmd("migrate-set-capabilities",
              {"capabilities": [{"capability": "dirty-limit", "state": True}]})
    check("return" in r, "dirty-limit capability set", r)
    r = a.cmd("migrate-set-parameters", {"x-vcpu-dirty-limit-period": 200,
                                         "max-bandwidth": 4 << 20})
    check("return" in r, "x-vcpu-dirty-limit-period 200, max-bandwidth 4 MiB/s", r)
    check(period(a) == ("qemu", 300), "no migration yet: still 300", period(a))
    check("return" in a.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port}), "migrate")
    st = wait_for(lambda: status(a), "active", 5)
    check(st == "active", "the migration is active", st)
    got = wait_for(lambda: period(a), ("qemu", 200), 2)
    check(got == ("qemu", 200), "during the migration: x-vcpu-dirty-limit-period (200)", got)
    a.cmd("migrate-set-parameters", {"x-vcpu-dirty-limit-period": 120})
    got = wait_for(lambda: period(a), ("qemu", 120), 5)
    check(got == ("qemu", 120), "the parameter changed during the migration: 120", got)
    a.cmd("x-set-dirty-limit-law", {"law": "linear"})
    check(period(a) == ("linear", 120), "a law switched during the migration keeps 120",
          period(a))
    st = status(a)
    check(st == "active", "still active (the checks above were made during the migration)", st)
    a.cmd("migrate_cancel")
    st = wait_for(lambda: status(a), "cancelled", 10)
    check(st == "cancelled", "cancelled", st)
    got = wait_for(lambda: period(a), ("linear", 300), 2)
    check(got == ("linear", 300), "after the migration: --dirty-limit-period (300) again", got)
    a.cmd("quit")
    rc = src.wait(10)
    check(rc == 0, "the source exits 0 after quit", "exit %s: %s" % (
        rc, open(tmp + "/src.err").read().strip()[-300:]))
finally:
    for p in (src, dst):
        if p.poll() is None:
            p.kill()
            p.wait()
sys.exit(1 if fails else 0)
PYEOF

timeout 60 $PY "$TMP/t.py" "$CLIENT_DIR" "$VMM" "$TMP" || fail "see above; source: $(tail -n 3 "$TMP/src.err" 2>/dev/null)"
finish

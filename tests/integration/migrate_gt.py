#!/usr/bin/env python3
"""The migration tests' QMP side: drive a migration and hold both guests to
their ground truth (the stress kernel's own counters, x-query-guest-stats:
docs/qmp.md, docs/stats.md, docs/guest.md).

    migrate_gt.py ready SOCK [TIMEOUT]
        Wait until SOCK answers and every vCPU of the guest has done work
        (a writer's pages-written, a reader's bytes-read, above 0).
    migrate_gt.py incoming SOCK [TIMEOUT]
        Wait until SOCK answers with run state "inmigrate".
    migrate_gt.py migrate SRC DST URI [options]
        Migrate the guest of SRC to the vmm --incoming behind DST (its QMP
        socket) at URI, and check the outcome:
          --param NAME=JSON       migrate-set-parameters first (repeatable);
                                  x-digest-audit is FULL_AUDIT unless given
          --cap NAME=true|false   migrate-set-capabilities first (repeatable)
          --expect STATUS         completed (default), failed, cancelled, or
                                  active: it must still be running at
                                  --timeout (not converging); it is then
                                  cancelled and must end cancelled
          --timeout S             give up after S seconds (default 30)
          --at STAGE --do CMD     when the source reaches STAGE, run the
                                  shell command CMD (a fault: kill, link down)
          --cancel-at STAGE       send migrate_cancel at STAGE
          --delay S               act S seconds after the stage is reached
          --cont                  a source left paused after failing may be
                                  resumed with cont (the final copy's case);
                                  without it, it must be running by itself
        STAGE: setup (migrate has returned), ram1 (the first pass is under
        way: bytes sent, no second pass yet), ram2 (a later pass has
        begun), device (the final copy: the source's vCPUs are stopped).
        completed: the source ends in postmigrate, the destination runs;
        every counter on the destination is at least the source's last
        (nothing went back), and grows; errors 0 on both sides.  Otherwise:
        the source ends with the expected status (failed: with an
        error-desc), runs (after cont if --cont and it was paused), its
        counters grow and its errors stay 0.  Prints one line of figures.
          --json FILE             append the figures, one JSON line
    migrate_gt.py chaos SOCK SEED
        Until SIGTERM: random valid and invalid QMP on SOCK, a command every
        10-60 ms: dirty limits set and cancelled on random vCPUs at random
        rates, queries, stop/cont pairs, unknown commands, wrong arguments,
        malformed JSON, a migrate while one runs.  Every request must get
        a reply (an error is a reply).  At exit prints one JSON line of
        counts: {"sent", "ok", "errors", "closed"}.
    migrate_gt.py settle SOCK [TIMEOUT]
        Every vCPU completes two more passes over its working set (every
        page it owns written or read, and checked, again) with errors 0.
    migrate_gt.py guest SOCK
        Print the guest's counters (x-query-guest-stats) as JSON.
    migrate_gt.py quit SOCK
        Send quit.

Exit status 0 when every check held; 1 (with the reason on the last line of
standard output) when one did not; 2 when QMP itself failed.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp_client import Closed, Qmp  # noqa: E402

# How long a check watches the guest to see its counters move: a writer
# writes hundreds of MiB/s and a reader reads GiB/s, so 0.3 s is thousands
# of pages even under a sanitizer on a busy host.
GROW_S = 0.3
# Polling interval of query-migrate: short enough to see a pass of a
# quarter second (the fault tests' stages), long enough to cost nothing.
POLL_S = 0.02
FINAL = ("completed", "failed", "cancelled")


class Fail(Exception):
    pass


def connect(path, timeout=10.0):
    """A negotiated QMP connection, retrying while the socket appears."""
    end = time.monotonic() + timeout
    while True:
        try:
            q = Qmp(path)
            q.hello()
            return q
        except (OSError, Closed):
            if time.monotonic() > end:
                raise Fail("no QMP at %s within %.0f s" % (path, timeout))
            time.sleep(0.05)


def call(q, name, args=None, timeout=5.0):
    r = q.cmd(name, args, timeout=timeout)
    if r is None:
        raise Fail("%s: no reply within %.0f s" % (name, timeout))
    if "error" in r:
        raise Fail("%s %s: %s" % (name, json.dumps(args) if args else "", r["error"]["desc"]))
    return r["return"]


def stats(q, reset=False):
    return call(q, "x-query-guest-stats", {"reset-max-stall": True} if reset else None)


def working(s):
    """Per vCPU: what its work counter is (writers write, readers read)."""
    return [c["pages-written"] + c["bytes-read"] for c in s]


def check_errors(s, where):
    bad = [(c["cpu-index"], c["errors"]) for c in s if c["errors"]]
    if bad:
        raise Fail("%s: the guest counts errors %s (vCPU, errors)" % (where, bad))


def check_grows(q, where):
    """The guest runs: every vCPU's work counter grows, errors stay 0."""
    a = stats(q)
    time.sleep(GROW_S)
    b = stats(q)
    check_errors(b, where)
    check_not_back(a, b, where)
    still = [c["cpu-index"] for c, w0, w1 in zip(b, working(a), working(b)) if w1 <= w0]
    if still:
        raise Fail("%s: vCPU %s did no work in %.1f s" % (where, still, GROW_S))
    return b


COUNTERS = ("pages-written", "bytes-read", "passes")


def check_not_back(old, new, where):
    if len(old) != len(new):
        raise Fail("%s: %d vCPUs, was %d" % (where, len(new), len(old)))
    for o, n in zip(old, new):
        for k in COUNTERS:
            if n[k] < o[k]:
                raise Fail("%s: vCPU %d %s went back from %d to %d" % (where, o["cpu-index"], k, o[k], n[k]))


def wait_ready(path, timeout):
    q = connect(path, timeout)
    end = time.monotonic() + timeout
    while True:
        s = stats(q)
        if all(w > 0 for w in working(s)):
            check_errors(s, "source")
            return q
        if time.monotonic() > end:
            raise Fail("the guest did no work within %.0f s: %s" % (timeout, s))
        time.sleep(0.05)


def runstate(q):
    return call(q, "query-status")["status"]


def stage_reached(stage, info, passes):
    st = info.get("status")
    if stage == "setup":
        return True
    if stage == "ram1":
        return st == "active" and info.get("ram", {}).get("transferred", 0) > 0 and max(passes, default=1) <= 1
    if stage == "ram2":
        return st == "active" and max(passes, default=0) >= 2
    if stage == "device":
        return st == "device"
    raise Fail("unknown stage %s" % stage)


def parse_kv(items, conv):
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        out[k] = conv(v)
    return out


# x-digest-audit of at least the guest's RAM: all of it (1 TiB).
FULL_AUDIT = 1 << 40


def cmd_migrate(argv):
    src, dst, uri = argv[:3]
    opts = {"param": [], "cap": [], "expect": "completed", "timeout": "30", "at": None,
            "do": None, "cancel-at": None, "cont": False, "delay": "0", "json": None}
    i = 3
    while i < len(argv):
        k = argv[i][2:]
        if k == "cont":
            opts[k] = True
            i += 1
            continue
        if k in ("param", "cap"):
            opts[k].append(argv[i + 1])
        else:
            opts[k] = argv[i + 1]
        i += 2
    expect, timeout = opts["expect"], float(opts["timeout"])
    q = connect(src)
    # QEMU sends MIGRATION and MIGRATION_PASS only with the events capability.
    caps = {"events": True}
    caps.update(parse_kv(opts["cap"], lambda v: v == "true"))
    call(q, "migrate-set-capabilities",
         {"capabilities": [{"capability": k, "state": v} for k, v in caps.items()]})
    # The tests want the full proof: every byte of guest RAM re-hashed at
    # switchover, so a write the dirty tracker missed fails the migration
    # (docs/migration.md, "The digest").  Users get a 16 MiB sample.
    params = {"x-digest-audit": FULL_AUDIT}
    params.update(parse_kv(opts["param"], json.loads))
    call(q, "migrate-set-parameters", params)
    before = stats(q, reset=True)
    check_errors(before, "source before migrating")
    t0 = time.monotonic()
    call(q, "migrate", {"uri": uri})
    info, passes, statuses, fired, cancelled = {}, [], [], False, False
    delay, seen_at = float(opts["delay"]), None
    while True:
        info = call(q, "query-migrate")
        for e in q.events:
            if e["event"] == "MIGRATION_PASS":
                passes.append(e["data"]["pass"])
            elif e["event"] == "MIGRATION":
                statuses.append(e["data"]["status"])
        q.events = []
        st = info.get("status")
        stage = opts["at"] or opts["cancel-at"]
        if stage and seen_at is None and stage_reached(stage, info, passes):
            seen_at = time.monotonic()
        if seen_at is not None and time.monotonic() - seen_at >= delay:
            if opts["at"] and not fired:
                fired = True
                subprocess.run(opts["do"], shell=True, check=False)
            if opts["cancel-at"] and not cancelled:
                cancelled = True
                call(q, "migrate_cancel")
        if st in FINAL:
            break
        if time.monotonic() - t0 > timeout:
            if expect == "active":
                call(q, "migrate_cancel")
                expect, cancelled = "cancelled", True
                timeout += 10
                continue
            raise Fail("still %s after %.0f s: %s" % (st, timeout, json.dumps(info)))
        time.sleep(POLL_S)
    took = time.monotonic() - t0
    # Events trail the status a little: give them a moment.
    q.recv_pending(0.1)
    for e in q.events:
        if e["event"] == "MIGRATION":
            statuses.append(e["data"]["status"])
    q.events = []
    ram = info.get("ram", {})
    figures = "%s in %.2f s, %d passes, transferred %.1f MiB, total-time %s ms, downtime %s ms" % (
        st, took, max(passes, default=0), ram.get("transferred", 0) / 2**20, info.get("total-time"),
        info.get("downtime"))
    if (opts["at"] or opts["cancel-at"]) and not (fired or cancelled):
        raise Fail("the migration ended (%s) before stage %s was seen" % (figures, opts["at"] or opts["cancel-at"]))
    if opts["expect"] == "active" and max(passes, default=0) < 3:
        raise Fail("not converging, but only %d passes in %.0f s: %s" % (max(passes, default=0), took, figures))
    if st != expect:
        raise Fail("the migration ended %s, expected %s: %s" % (st, expect, json.dumps(info)))
    if not statuses or statuses[-1] != st:
        raise Fail("MIGRATION events %s do not end in %s" % (statuses, st))
    rec = {"status": st, "took": round(took, 3), "passes": max(passes, default=0),
           "transferred": ram.get("transferred"), "total-time": info.get("total-time"),
           "downtime": info.get("downtime")}
    if st == "completed":
        return completed(q, dst, before, figures, rec, opts["json"])
    if st == "failed" and not info.get("error-desc"):
        raise Fail("failed without an error-desc: %s" % json.dumps(info))
    rs = runstate(q)
    note = ""
    if rs != "running":
        if not opts["cont"]:
            raise Fail("after %s the source is %s, not running" % (st, rs))
        call(q, "cont")
        note = ", resumed from %s with cont" % rs
        if runstate(q) != "running":
            raise Fail("the source is %s after cont" % runstate(q))
    after = check_grows(q, "source after %s" % st)
    check_not_back(before, after, "source after %s" % st)
    print("%s (%s)%s; the source's guest runs on, errors 0" % (figures, info.get("error-desc", ""), note))
    return 0


def completed(q, dst, before, figures, rec, json_file):
    rs = runstate(q)
    if rs != "postmigrate":
        raise Fail("completed, but the source is %s, not postmigrate" % rs)
    last = stats(q)  # the guest as it was stopped for the final copy
    check_errors(last, "source at the switchover")
    check_not_back(before, last, "source at the switchover")
    d = connect(dst)
    end = time.monotonic() + 10
    while runstate(d) != "running":
        if time.monotonic() > end:
            raise Fail("the destination is %s 10 s after completed" % runstate(d))
        time.sleep(0.02)
    first = stats(d)
    check_not_back(last, first, "destination against the source's last")
    after = check_grows(d, "destination")
    stall = max(c["max-stall-us"] for c in after) / 1000.0
    if json_file:
        rec["guest-stall-ms"] = stall
        rec["guest"] = [{k: c[k] for k in ("pages-written", "bytes-read", "errors")} for c in after]
        with open(json_file, "a") as f:
            f.write(json.dumps(rec) + "\n")
    print("%s, guest-seen longest stall %.1f ms; on the destination errors 0, counters continue" %
          (figures, stall))
    return 0


def cmd_ready(argv):
    wait_ready(argv[0], float(argv[1]) if len(argv) > 1 else 10)
    return 0


def cmd_incoming(argv):
    timeout = float(argv[1]) if len(argv) > 1 else 10
    q = connect(argv[0], timeout)
    rs = runstate(q)
    if rs != "inmigrate":
        raise Fail("the destination is %s, not inmigrate" % rs)
    return 0


def chaos_requests(rng, ncpus):
    """One random request: (bytes to send, whether it is valid)."""
    cpu = rng.randrange(ncpus)
    valid = [
        {"execute": "set-vcpu-dirty-limit", "arguments": {"cpu-index": cpu, "dirty-rate": rng.choice([1, 5, 20, 100, 400, 2000])}},
        {"execute": "set-vcpu-dirty-limit", "arguments": {"dirty-rate": rng.choice([10, 50, 300])}},
        {"execute": "cancel-vcpu-dirty-limit", "arguments": {"cpu-index": cpu}},
        {"execute": "cancel-vcpu-dirty-limit"},
        {"execute": "query-vcpu-dirty-limit"},
        {"execute": "query-status"},
        {"execute": "query-migrate"},
        {"execute": "query-migrate-parameters"},
        {"execute": "query-migrate-capabilities"},
        {"execute": "x-query-guest-stats"},
        {"execute": "query-dirty-rate"},
        {"execute": "query-cpus-fast"},
        {"execute": "qom-list", "arguments": {"path": "/machine"}},
        {"execute": "query-commands"},
        {"execute": "human-monitor-command", "arguments": {"command-line": "info status"}},
    ]
    invalid = [
        b'{"execute": "no-such-command"}',
        b'{"execute": "set-vcpu-dirty-limit", "arguments": {"dirty-rate": -1}}',
        b'{"execute": "set-vcpu-dirty-limit", "arguments": {"cpu-index": 999, "dirty-rate": 5}}',
        b'{"execute": "set-vcpu-dirty-limit", "arguments": {"dirty-rate": "fast"}}',
        b'{"execute": "cancel-vcpu-dirty-limit", "arguments": {"cpu-index": -3}}',
        b'{"execute": "migrate", "arguments": {"uri": "tcp:nowhere"}}',
        b'{"execute": "migrate", "arguments": {"uri": "exec:true"}}',
        b'{"execute": "migrate-set-parameters", "arguments": {"downtime-limit": "soon"}}',
        b'{"execute": "migrate-set-parameters", "arguments": {"no-such-parameter": 1}}',
        b'{"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "nope", "state": true}]}}',
        b'{"execute": "migrate-incoming", "arguments": {"uri": "tcp:127.0.0.1:1"}}',
        b'{"execute": "query-status", "arguments": {"x": 1}}',
        b'{"execute": 42}',
        b'{"arguments": {}}',
        b'[1, 2]',
        b'{"execute": "query-status", "execute": "stop"}',
        b'{"execute": "query-\\u0000status"}',
        b'{"execute": "x-query-guest-stats", "arguments": {"reset-max-stall": "yes"}}',
        b'{"execute": "qom-get", "arguments": {"path": "/nope", "property": "x"}}',
    ]
    if rng.random() < 0.5:
        return json.dumps(rng.choice(valid)).encode(), True
    return rng.choice(invalid), False


def cmd_chaos(argv):
    import random
    import signal
    rng = random.Random(int(argv[1]))
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    counts = {"sent": 0, "ok": 0, "errors": 0, "stop-cont": 0, "closed": 0}
    try:
        q = connect(argv[0])
        ncpus = len(stats(q))
        while not stop:
            if rng.random() < 0.02:
                # A user's stop and cont during whatever runs: both must answer.
                for name in ("stop", "cont"):
                    r = q.cmd(name, timeout=10)
                    if r is None:
                        raise Fail("chaos: no reply to %s within 10 s" % name)
                counts["stop-cont"] += 1
            data, _ = chaos_requests(rng, ncpus)
            q.send_raw(data)
            counts["sent"] += 1
            r = q.reply(10)
            if r is None:
                raise Fail("chaos: no reply within 10 s to %r" % data)
            counts["ok" if "return" in r else "errors"] += 1
            q.events = []
            time.sleep(rng.uniform(0.01, 0.06))
    except (Closed, OSError):
        # The source quit under us (the hop ended): not an error.
        counts["closed"] = 1
    print(json.dumps(counts), flush=True)
    return 0


def cmd_settle(argv):
    q = connect(argv[0])
    timeout = float(argv[1]) if len(argv) > 1 else 10
    a = stats(q)
    end = time.monotonic() + timeout
    while True:
        b = stats(q)
        check_errors(b, "guest")
        check_not_back(a, b, "guest")
        if all(y["passes"] >= x["passes"] + 2 for x, y in zip(a, b)):
            print("every vCPU made two more passes, errors 0")
            return 0
        if time.monotonic() > end:
            raise Fail("not every vCPU made two passes in %.0f s: %s -> %s" % (timeout, a, b))
        time.sleep(0.1)


def cmd_guest(argv):
    print(json.dumps(stats(connect(argv[0]))))
    return 0


def cmd_quit(argv):
    q = connect(argv[0])
    call(q, "quit")
    return 0


COMMANDS = {"migrate": cmd_migrate, "ready": cmd_ready, "incoming": cmd_incoming,
            "guest": cmd_guest, "settle": cmd_settle, "quit": cmd_quit, "chaos": cmd_chaos}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.stderr.write(__doc__)
        return 2
    try:
        return COMMANDS[sys.argv[1]](sys.argv[2:])
    except Fail as e:
        print(e)
        return 1
    except (Closed, OSError, ValueError, KeyError, TypeError) as e:
        print("migrate_gt: %s: %s" % (type(e).__name__, e))
        return 2


if __name__ == "__main__":
    sys.exit(main())

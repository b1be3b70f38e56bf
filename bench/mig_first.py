#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""First figures of vmm's live migration over loopback (docs/migration.md,
"Source and destination"; the full benchmark against QEMU is
bench/migrate.py).  Each case starts a source and an --incoming destination
under the VM lock, migrates once and prints one table row:

  idle      1 GiB, 1 vCPU reading 4 MiB (it never writes: nothing to
            resend), unlimited bandwidth
  data      1 GiB, 1 vCPU reading 960 MiB it filled (non-zero pages that
            stay clean): the throughput on non-zero pages
  w80-*     1 GiB, 1 vCPU writing an 80 MiB working set flat out,
            max-bandwidth 100 MB/s, downtime-limit 300 ms, one policy each:
            none, auto-converge, dirty-limit with vcpu-dirty-limit 1 (QEMU's
            fixed policy), dirty-limit without it (ours)

Columns: total-time, downtime (the monitor's), the longest stall the guest
saw across the switchover (its own TSC, x-query-guest-stats right after),
rounds (dirty-sync-count), the throughput on non-zero pages (normal-bytes /
total-time), MiB the guest wrote during the migration, errors on the
destination.  A case that has not converged after --max-time s is cancelled.

    python3 bench/mig_first.py [--vmm build/vmm] [--cases idle,data,...] [--max-time 40]
"""
import argparse, fcntl, os, socket, subprocess, sys, tempfile, time

LOCK = os.environ.get("VMM_VM_LOCK", "/tmp/vmm-vm.lock")


# The tests' QMP client (tests/integration/qmp_client.py): Session retries
# the connect, negotiates; cmd() returns "return" or raises QmpError.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from qmp_client import Session  # noqa: E402


def Qmp(path):
    return Session(path, wait=30, timeout=30)


CASES = {
    "idle": dict(append="writers=none readers=0 wss=4M report=0", caps={}, params={"max-bandwidth": 100 << 30}),
    "data": dict(append="writers=none readers=0 wss=960M report=0", caps={}, params={"max-bandwidth": 100 << 30}),
    "w80-none": dict(append="writers=0 wss=80M pattern=seq report=0", caps={}, params={}),
    "w80-auto-converge": dict(append="writers=0 wss=80M pattern=seq report=0", caps={"auto-converge": True}, params={}),
    "w80-dirty-limit-qemu": dict(append="writers=0 wss=80M pattern=seq report=0", caps={"dirty-limit": True},
                                 params={"vcpu-dirty-limit": 1}),
    "w80-dirty-limit-ours": dict(append="writers=0 wss=80M pattern=seq report=0", caps={"dirty-limit": True}, params={}),
}
W80 = {"max-bandwidth": 100 * 1000 * 1000, "downtime-limit": 300}


def run(vmm, name, max_time):
    c = CASES[name]
    d = tempfile.mkdtemp(prefix="vmm-migfig.")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    lock = open(LOCK, "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    common = ["--mem", "1G", "--cpus", "1"]
    a = subprocess.Popen([vmm] + common + ["--append", c["append"], "--qmp", "unix:%s/a.sock" % d],
                         stdout=subprocess.DEVNULL, stderr=open(d + "/a.err", "w"))
    b = subprocess.Popen([vmm] + common + ["--incoming", "tcp:127.0.0.1:%d" % port, "--qmp", "unix:%s/b.sock" % d],
                         stdout=subprocess.DEVNULL, stderr=open(d + "/b.err", "w"))
    try:
        qa, qb = Qmp(d + "/a.sock"), Qmp(d + "/b.sock")
        params = dict(W80) if name.startswith("w80") else {}
        params.update(c["params"])
        qa.cmd("migrate-set-parameters", params)
        if c["caps"]:
            qa.cmd("migrate-set-capabilities", {"capabilities": [{"capability": k, "state": v} for k, v in c["caps"].items()]})
        # Warm up: the working set written (or filled) and a second of steady state.
        time.sleep(2.5 if name == "data" else 1.5)
        g0 = qa.cmd("x-query-guest-stats", {"reset-max-stall": True})[0]
        qa.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        t0 = time.monotonic()
        while True:
            info = qa.cmd("query-migrate")
            if info["status"] in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() - t0 > max_time:
                qa.cmd("migrate_cancel")
            time.sleep(0.02)
        g1 = qa.cmd("x-query-guest-stats")[0]
        row = {"case": name, "status": info["status"]}
        if info["status"] == "completed":
            gb = qb.cmd("x-query-guest-stats")[0]
            ram = info["ram"]
            tt = info["total-time"]
            row.update({
                "total_ms": tt, "downtime_ms": info["downtime"],
                "guest_stall_ms": round(gb["max-stall-us"] / 1000, 1),
                "rounds": ram["dirty-sync-count"],
                "nonzero_GBps": round(ram["normal-bytes"] / (tt / 1000) / 1e9, 2) if tt else 0,
                "written_MiB": round((g1["pages-written"] - g0["pages-written"]) * 4096 / 2**20),
                "errors": gb["errors"]})
            qb.cmd("quit")
        else:
            row.update({"total_ms": info.get("total-time"), "rounds": info.get("ram", {}).get("dirty-sync-count"),
                        "written_MiB": round((g1["pages-written"] - g0["pages-written"]) * 4096 / 2**20)})
            b.kill()
        qa.cmd("quit")
        return row
    finally:
        for p in (a, b):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", default="build/vmm")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--max-time", type=float, default=40)
    o = ap.parse_args()
    cols = ["case", "status", "total_ms", "downtime_ms", "guest_stall_ms", "rounds", "nonzero_GBps",
            "written_MiB", "errors"]
    print("| " + " | ".join(cols) + " |")
    print("|" + " --- |" * len(cols))
    for name in o.cases.split(","):
        r = run(o.vmm, name, o.max_time)
        print("| " + " | ".join(str(r.get(k, "-")) for k in cols) + " |", flush=True)


if __name__ == "__main__":
    main()

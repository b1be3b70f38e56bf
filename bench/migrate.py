#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark of live migration on loopback: vmm against Debian's QEMU 7.2.

    bench/migrate.py [--engines vmm,qemu,qemu-ring] [--cases idle,fill,hot,hot2,big]
                     [--policies none,auto-converge,dirty-limit-fixed,dirty-limit]
                     [--repeats N] [--build DIR] [--data DIR] [--json FILE]
                     [--plots DIR] [--no-lock]

Boots the bundled stress kernel (guest/) twice per run, a source and a
destination listening on 127.0.0.1, migrates with QMP `migrate`, polls
`query-migrate` every 100 ms and the guest's own counters
(include/stress_abi.h) every 5 ms on both sides, and prints markdown tables
of medians over the repeats (default 3).

The guest's counters are the ground truth:
- under QEMU, read from the guest's RAM through /proc/PID/mem (the stats
  area's address is printed on the serial console: "stress: stats at
  0x..."; QEMU's monitor is left alone while it migrates);
- under vmm, `x-query-guest-stats` on each side's QMP socket.

Cases (the issue's section 8):
  idle   1 GiB, a guest that touches no memory (one vCPU reading one 4 KiB
         page over and over: vmm exits when every vCPU has halted), no
         bandwidth limit: total time
  fill   1 GiB, one reader whose 768 MiB working set was written once
         (non-zero pages, never dirtied again), no bandwidth limit:
         throughput on non-zero pages = normal-bytes / total time
  hot    1 GiB, one vCPU writing an 80 MiB working set flat out,
         max-bandwidth 100 MB/s, downtime-limit 300 ms
  hot2   the same with a second vCPU reading its own 80 MiB (vmm only: the
         stress kernel runs one vCPU under QEMU, which hands it no device
         tree)
  big    8 GiB, one reader's 2 GiB written once, no bandwidth limit
Policies: none, auto-converge (QEMU's CPU throttle), dirty-limit-fixed
(QEMU 8.1's dirty-limit semantics, every vCPU at vcpu-dirty-limit 1 MB/s
once triggered), dirty-limit (ours: the limit derived from the link and the
downtime target).  QEMU 7.2 has no dirty-limit capability: its
dirty-limit-fixed row is the nearest it has, `set-vcpu-dirty-limit
dirty-rate=1` by hand as the migration starts, which needs its dirty-ring
mode (engine qemu-ring).  A migration that has not completed 30 s after
`migrate` is cancelled and counted as "cut at 30 s".

Per run: total time, setup time and downtime as the monitor reports them;
rounds (dirty-sync-count); the blackout the guest saw (from the host clock:
the last 5 ms poll in which the source guest's counters moved, to the first
in which the destination's moved past them); the guest's own longest stall
(max_gap_tsc, reset as the migration starts and read on the destination:
the guest's TSC runs on through the switchover under both monitors, so this
includes the blackout); pages the writer wrote during the migration, and
its mean speed then and in the second before (absolute: QEMU tracks no dirty
page before `migrate`, vmm always does); a reader's speed against the
second before, and the same while it was runnable (its thread's time
waiting for a CPU taken out of both spans, from /proc's schedstat: on two
cores the monitor's threads and the writer take the reader's CPU, which is
not the policy's doing, while a policy's sleeps still count); errors on the
destination after it ran 1 s.

Every pair of VMs runs under an exclusive lock on /tmp/vmm-vm.lock (the host
has two cores).  Do not wrap this script in flock yourself (or pass
--no-lock).  Progress on stderr, tables on stdout.  Python 3 standard
library; the plots need matplotlib (python3-matplotlib, bench/setup.sh), from
/usr/bin/python3 if the python3 on PATH lacks it.
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dirtylimit import (Guest, QemuGuest, QmpError, with_lock, host_facts, log,  # noqa: E402
                        mono)

POLL = 0.005  # s between two reads of the guest's counters: the blackout's resolution
QUERY_EVERY = 0.1  # s between two query-migrate: the plot's resolution
CUT = 30.0  # s: a migration still running this long after `migrate` is cancelled
BEFORE = 1.0  # s of guest progress measured before `migrate`: the reference speed
AFTER = 1.0  # s the destination runs after the switchover before its counters are checked
RESUME_WAIT = 5.0  # s to wait for the destination's guest to move after `completed`
BOOT_WAIT = 30.0  # s for a guest to boot and start its work
HOT_BW = 100 * 1000 * 1000  # bytes/s: "max-bandwidth 100 MB/s" (the case)
NO_BW = 100 * 1000 * 1000 * 1000  # bytes/s: no limit in practice (QEMU 7.2's default is 128 MiB/s)
DOWNTIME = 300  # ms, downtime-limit (QEMU's default)
FIXED_LIMIT = 1  # MB/s, QEMU 8.1's default vcpu-dirty-limit
CPU_OFF = 4096  # the per-vCPU entries follow the stats header page
CPU_SIZE = 128  # bytes per struct stress_cpu_stats

CASES = {
    # name: (memory, vCPUs, kernel command line, bandwidth, policies apply)
    # One vCPU reading one page: no memory activity, but not halted (vmm exits when every
    # vCPU has halted; QEMU would idle on).
    "idle": ("1G", 1, "writers=none readers=all wss=4K report=0", NO_BW, False),
    "fill": ("1G", 1, "writers=none readers=all wss=768M report=0", NO_BW, False),
    "hot": ("1G", 1, "writers=all wss=80M report=0", HOT_BW, True),
    "hot2": ("1G", 2, "writers=0 readers=1 wss=80M report=0", HOT_BW, True),
    "big": ("8G", 1, "writers=none readers=all wss=2G report=0", NO_BW, False),
}
POLICIES = ["none", "auto-converge", "dirty-limit-fixed", "dirty-limit"]
ENGINES = ["qemu", "qemu-ring", "vmm"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid, key="RssAnon"):
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"^%s:\s+(\d+) kB" % key, f.read(), re.M)
            return int(m.group(1)) if m else None
    except OSError:
        return None


# ---------------------------------------------------------------- the two monitors

class Side(Guest):
    """One monitor process (source or destination) with its QMP socket: dirtylimit.py's
    Guest (launch, QMP, quit, kill), with its own QMP timeout."""

    def __init__(self, argv, workdir, name, qmp_timeout=10.0):
        super().__init__(argv, workdir, name)
        self.qmp.sock.settimeout(qmp_timeout)

    def stderr_tail(self, n=3):
        return " | ".join(super().stderr_tail(n).splitlines())

    def vcpu_wait_ns(self, cpu):
        """ns vCPU cpu's thread has waited for a CPU (runnable, not running), or None."""
        try:
            tids = {c["cpu-index"]: c["thread-id"] for c in self.cmd("query-cpus-fast")}
            with open("/proc/%d/task/%d/schedstat" % (self.proc.pid, tids[cpu])) as f:
                return int(f.read().split()[1])
        except (QmpError, OSError, KeyError, ValueError, IndexError):
            return None


class QemuSide(Side):
    """QEMU 7.2; the guest's counters read from its RAM through /proc/PID/mem."""

    def __init__(self, args, workdir, name, case, ring, incoming=None):
        mem, ncpus, append, _, _ = CASES[case]
        self.serial = os.path.join(workdir, name + ".serial")
        accel = "kvm" if not ring else "kvm,dirty-ring-size=%d" % ring
        argv = ["qemu-system-x86_64", "-accel", accel, "-m", mem, "-smp", "1", "-kernel", args.stress,
                "-append", append, "-qmp", "unix:%s,server=on,wait=off" % os.path.join(workdir, name + ".sock"),
                "-serial", "file:" + self.serial, "-display", "none", "-nodefaults"]
        if incoming:
            argv += ["-incoming", incoming]
        self.ncpus = ncpus
        self.ram = None
        self.addr = None
        self.fd = None
        # QEMU's monitor has been seen to stop answering here (docs/bench-dirtylimit.md).
        super().__init__(argv, workdir, name, qmp_timeout=5.0)

    def boot(self):
        """Source: the stats area's address from the console, then its RAM."""
        deadline = mono() + BOOT_WAIT
        self.addr = QemuGuest.wait_stats_addr(self, deadline)
        while not self.find_ram():
            if mono() > deadline:
                raise QmpError("QEMU: the stats magic never appeared in guest RAM")
            time.sleep(0.05)

    def find_ram(self, addr=None):
        """Host address of guest-physical 0 (dirtylimit.py's QemuGuest.find_ram: the
        smallest rw mapping holding the stats magic at the guest address the kernel
        printed), kept open for reading the counters."""
        if addr is not None:
            self.addr = addr
        lo = QemuGuest.find_ram(self)
        if lo is None:
            return False
        try:
            fd = os.open("/proc/%d/mem" % self.proc.pid, os.O_RDONLY)
        except OSError:
            return False
        self.ram, self.fd = lo, fd
        hdr = os.pread(fd, 24, self.ram + self.addr)
        self.tsc_khz = struct.unpack("<Q", hdr[16:24])[0]
        return True

    def counters(self):
        """[(pages_written, bytes_read, errors, max_gap_us)] per vCPU, or None."""
        if self.fd is None:
            return None
        try:
            b = os.pread(self.fd, CPU_SIZE * self.ncpus, self.ram + self.addr + CPU_OFF)
        except OSError:
            return None
        if len(b) < CPU_SIZE * self.ncpus:  # the process is gone (a failed incoming QEMU exits)
            return None
        out = []
        for i in range(self.ncpus):
            v = struct.unpack_from("<4Q", b, i * CPU_SIZE)
            gap = struct.unpack_from("<Q", b, i * CPU_SIZE + 64)[0]
            out.append((v[0], v[1], v[3], gap * 1000 // self.tsc_khz if self.tsc_khz else None))
        return out

    def reset_stall(self):
        fd = os.open("/proc/%d/mem" % self.proc.pid, os.O_WRONLY)
        try:
            for i in range(self.ncpus):
                os.pwrite(fd, struct.pack("<Q", 0), self.ram + self.addr + CPU_OFF + i * CPU_SIZE + 64)
        finally:
            os.close(fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        super().close()


class VmmSide(Side):
    """vmm; the guest's counters from x-query-guest-stats."""

    def __init__(self, args, workdir, name, case, ring, incoming=None):
        mem, ncpus, append, _, _ = CASES[case]
        argv = [args.vmm, "--qmp", "unix:" + os.path.join(workdir, name + ".sock"), "-m", mem, "-c",
                str(ncpus), "--dirty-ring-size", str(ring or 65536)]
        # A destination loads no kernel: its guest comes from the stream.
        argv += ["--incoming", incoming] if incoming else ["-a", append]
        self.ncpus = ncpus
        super().__init__(argv, workdir, name)

    def boot(self):
        pass

    def find_ram(self, addr=None):
        return True

    def counters(self):
        try:
            r = sorted(self.cmd("x-query-guest-stats"), key=lambda e: e["cpu-index"])
        except (QmpError, OSError, ValueError):
            return None
        if len(r) < self.ncpus:
            return None
        return [(e["pages-written"], e["bytes-read"], e["errors"], e.get("max-stall-us")) for e in r]

    def reset_stall(self):
        self.cmd("x-query-guest-stats", {"reset-max-stall": True})


# ---------------------------------------------------------------- one migration

def progress(c):
    """One number that moves whenever any vCPU works: pages written plus pages read."""
    return sum(p + b // 4096 for p, b, _, _ in c)


def policy_setup(engine, src, policy):
    """Capabilities and parameters of a policy; returns what was done, for the notes."""
    if policy == "none":
        return ""
    if policy == "auto-converge":
        src.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "auto-converge", "state": True}]})
        return ""
    if engine.startswith("qemu"):
        if policy == "dirty-limit-fixed":
            # QEMU 7.2 has no dirty-limit capability: the limit by hand, from the start.
            src.cmd("set-vcpu-dirty-limit", {"dirty-rate": FIXED_LIMIT})
            return "set-vcpu-dirty-limit %d by hand" % FIXED_LIMIT
        raise QmpError("QEMU has no policy %s" % policy)
    src.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "dirty-limit", "state": True}]})
    if policy == "dirty-limit-fixed":
        src.cmd("migrate-set-parameters", {"vcpu-dirty-limit": FIXED_LIMIT})
    return ""


def run_one(ctx, engine, case, policy, rep):
    """Boot a source and a destination, migrate once, measure.  Returns the metrics."""
    args = ctx.args
    mem, ncpus, append, bw, _ = CASES[case]
    ring = 4096 if engine == "qemu-ring" else None
    name = "%s-%s-%s-r%d" % (engine, case, policy, rep)
    port = free_port()
    uri = "tcp:127.0.0.1:%d" % port
    Cls = VmmSide if engine == "vmm" else QemuSide
    m = {"engine": engine, "case": case, "policy": policy, "rep": rep}
    series = []  # (t, remaining, dirty-pages-rate, transferred, throttle)
    samples = []  # (t, side, counters) when they change
    src = dst = None
    try:
        src = Cls(args, ctx.workdir, name + "-src", case, ring)
        src.boot()
        # Wait for the work to start: a reader has finished its fill once it has read.
        deadline = mono() + BOOT_WAIT
        while True:
            c = src.counters()
            if c and (case == "idle" or all(p > 0 or b > 0 for p, b, _, _ in c)) and \
                    (ncpus == 1 or c[1][1] > 0) and (case not in ("fill", "big") or c[0][1] > 0):
                break
            if mono() > deadline:
                raise QmpError("the guest did not start its work within %.0f s" % BOOT_WAIT)
            time.sleep(0.05)
        dst = Cls(args, ctx.workdir, name + "-dst", case, ring, incoming=uri)
        src.cmd("migrate-set-parameters", {"max-bandwidth": bw, "downtime-limit": DOWNTIME})
        c0, t0, w0 = src.counters(), mono(), src.vcpu_wait_ns(1) if ncpus == 2 else None
        time.sleep(BEFORE)
        c1, t1, w1 = src.counters(), mono(), src.vcpu_wait_ns(1) if ncpus == 2 else None
        m["note"] = policy_setup(engine, src, policy)
        m["rss_before_kib"] = rss_kib(src.proc.pid)
        src.reset_stall()
        c_start = src.counters()
        w_start = src.vcpu_wait_ns(1) if ncpus == 2 else None
        t_mig = mono()
        src.cmd("migrate", {"uri": uri})
        last_src = (t_mig, progress(c_start))
        samples.append((t_mig, "src", c_start))
        next_q = t_mig
        status = "setup"
        r = {}
        rss_max = 0
        dst_found = engine == "vmm"
        while True:
            now = mono()
            if now >= next_q:
                r = src.cmd("query-migrate")
                status = r.get("status", "?")
                ram = r.get("ram", {})
                series.append((now - t_mig, ram.get("remaining"), ram.get("dirty-pages-rate"),
                               ram.get("transferred"), r.get("cpu-throttle-percentage", 0),
                               ram.get("dirty-sync-count")))
                rss_max = max(rss_max, rss_kib(src.proc.pid) or 0)
                next_q += QUERY_EVERY
                if status in ("completed", "failed", "cancelled"):
                    break
                if now - t_mig > CUT and status != "cancelling":
                    log("%s: not converged after %.0f s: migrate_cancel" % (name, CUT))
                    m["cut"] = True
                    src.cmd("migrate_cancel")
            c = src.counters()
            if c is not None and progress(c) != last_src[1]:
                last_src = (mono(), progress(c))
                samples.append((last_src[0], "src", c))
            # Whatever the last query-migrate said: it is up to QUERY_EVERY old, and an
            # idle guest's migration (30 ms) ends before the second one.  Gated on
            # "active" this once read an idle guest's blackout as 67-85 ms (the wait
            # for that query) where the guest itself stalled 9-25 ms.
            if not dst_found:
                dst_found = dst.find_ram(src.addr)
            if dst_found:
                d = dst.counters()  # before the switchover: old figures or None
                if d is not None and progress(d) > last_src[1]:
                    samples.append((mono(), "dst", d))
            time.sleep(POLL)
        t_end = mono()
        w_end = src.vcpu_wait_ns(1) if ncpus == 2 else None
        m["status"] = status
        m["wall_s"] = t_end - t_mig
        m["total_ms"] = r.get("total-time")
        m["setup_ms"] = r.get("setup-time")
        m["downtime_ms"] = r.get("downtime")
        ram = r.get("ram", {})
        m["rounds"] = ram.get("dirty-sync-count")
        m["transferred"] = ram.get("transferred")
        m["normal_bytes"] = ram.get("normal-bytes")
        m["mbps"] = ram.get("mbps")
        if m["total_ms"] and m["normal_bytes"] is not None:
            m["nonzero_gbs"] = m["normal_bytes"] / (m["total_ms"] / 1000) / 1e9
        m["rss_growth_kib"] = rss_max - (m["rss_before_kib"] or 0)
        m["mem"] = mem
        # The source's last progress: its final counters (a paused or cancelled source).
        c_src_end = src.counters()
        if c_src_end is None:
            c_src_end = [s for s in samples if s[1] == "src"][-1][2]
        src_final = progress(c_src_end)
        t_src_last = min(t for t, side, c in samples if side == "src" and progress(c) == src_final) \
            if any(side == "src" and progress(c) == src_final for t, side, c in samples) else last_src[0]
        dur = t_src_last - t_mig
        if c1[0][0] > c0[0][0] and CASES[case][4]:
            # Absolute rates: QEMU tracks nothing before `migrate` (its writer then runs at
            # cache speed), vmm always does, so a ratio to "before" would not compare.
            m["writer_before_mibs"] = (c1[0][0] - c0[0][0]) / 256 / (t1 - t0)
            m["written_mib"] = (c_src_end[0][0] - c_start[0][0]) / 256
            if dur > 0:
                m["writer_mibs"] = m["written_mib"] / dur
        if ncpus == 2 and c1[1][1] > c0[1][1] and dur > 0:
            before = (c1[1][1] - c0[1][1]) / (t1 - t0)
            m["reader_pct"] = (c_src_end[1][1] - c_start[1][1]) / dur / before * 100
            if None not in (w0, w1, w_start, w_end):
                # Waits after the switchover (the vCPU parked) are none: all of
                # [w_start, w_end] falls inside the migration's span.
                run_before = (t1 - t0) - (w1 - w0) / 1e9
                run_during = dur - (w_end - w_start) / 1e9
                if run_before > 0 and run_during > 0:
                    m["reader_runnable_pct"] = ((c_src_end[1][1] - c_start[1][1]) / run_during /
                                                ((c1[1][1] - c0[1][1]) / run_before) * 100)
        if status == "completed":
            # The destination's guest: first progress past the source's, then 1 s of running.
            if not dst_found:
                dst_found = dst.find_ram(src.addr)
            t_dst_first = next((t for t, side, c in samples if side == "dst" and progress(c) > src_final), None)
            deadline = mono() + RESUME_WAIT
            while t_dst_first is None and mono() < deadline:
                d = dst.counters()
                if d is not None and progress(d) > src_final:
                    t_dst_first = mono()
                    samples.append((t_dst_first, "dst", d))
                time.sleep(POLL)
            if t_dst_first is not None:
                m["blackout_ms"] = (t_dst_first - t_src_last) * 1000
            else:
                m["dst_stuck"] = True
            time.sleep(AFTER)
            d = dst.counters()
            if d is not None:
                m["dst_errors"] = sum(e for _, _, e, _ in d)
                m["guest_stall_ms"] = max((g or 0) for _, _, _, g in d) / 1000
                m["dst_moving"] = progress(d) > src_final
        elif status == "cancelled":
            c = src.counters()
            m["src_errors"] = sum(e for _, _, e, _ in c) if c else None
        m["series"] = series
        m["guest_series"] = [(t - t_mig, side, [p for p, _, _, _ in c]) for t, side, c in samples]
    except Exception as e:  # one run's trouble (or a bug) must not lose the others' results
        m["status"] = "error"
        m["error"] = "%s: %s" % (type(e).__name__, e)
        log("%s: %s" % (name, e))
        for s in (src, dst):
            if s is not None and s.proc.poll() is not None:
                m["error"] += "; %s exited %s: %s" % (s.name, s.proc.returncode, s.stderr_tail())
    finally:
        for s in (src, dst):
            if s is not None:
                s.close()
    return m


# ---------------------------------------------------------------- tables

def med(ms, key):
    vals = [m[key] for m in ms if m.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, f="%.0f"):
    return "n/a" if v is None else f % v


HEADER = ("| engine | case | policy | completed | total s | rounds | downtime ms (monitor) "
          "| blackout ms (guest, host clock) | guest's longest stall ms | written during MiB "
          "| writer MiB/s during (before) | reader % of before (while runnable) | non-zero GB/s | transferred MiB | errors | n |\n"
          "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def fmt_row(key, ms):
    engine, case, policy = key
    done = [m for m in ms if m.get("status") == "completed"]
    cut = sum(1 for m in ms if m.get("cut"))
    errs = [m.get("error") for m in ms if m.get("status") == "error"]
    status = "%d/%d" % (len(done), len(ms))
    if cut:
        status += ", cut at 30 s: %d" % cut
    if errs:
        status += ", failed: %d" % len(errs)
    use = done or ms
    total = med(use, "total_ms")
    e = [m.get("dst_errors") for m in done if m.get("dst_errors") is not None]
    cells = [engine, case, policy, status,
             fmt(total / 1000 if total is not None else None, "%.2f") if done else "> 30",
             fmt(med(use, "rounds")), fmt(med(done, "downtime_ms")), fmt(med(done, "blackout_ms")),
             fmt(med(done, "guest_stall_ms")), fmt(med(use, "written_mib")),
             "%s (%s)" % (fmt(med(use, "writer_mibs")), fmt(med(use, "writer_before_mibs")))
             if med(use, "writer_mibs") is not None else "n/a",
             "%s (%s)" % (fmt(med(use, "reader_pct"), "%.1f"), fmt(med(use, "reader_runnable_pct"), "%.1f"))
             if med(use, "reader_pct") is not None else "n/a",
             fmt(med(done, "nonzero_gbs"), "%.2f"), fmt((med(use, "transferred") or 0) / 2**20),
             str(max(e)) if e else "n/a", str(len(ms))]
    return "| " + " | ".join(cells) + " |"


def memory_table(ctx):
    lines = ["| engine | case | policy | guest RAM | source RssAnon growth during the migration (median) "
             "| % of guest RAM |", "| --- | --- | --- | --- | ---: | ---: |"]
    for key in ctx.order:
        ms = [m for m in ctx.results[key] if m.get("status") == "completed"]
        g = med(ms, "rss_growth_kib")
        if g is None or key[1] not in ("big", "hot", "idle"):
            continue
        mem = ms[0]["mem"]
        mem_kib = int(mem[:-1]) * (1 << 20 if mem[-1] == "G" else 1 << 10)
        lines.append("| %s | %s | %s | %s | %d KiB | %.3f |" % (key[0], key[1], key[2], mem, g,
                                                             g / mem_kib * 100))
    return "\n".join(lines)


# ---------------------------------------------------------------- plots

def plot(data_json, outdir):
    """Remaining bytes and the writer's rate over time, per policy (case hot, first repeat)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = []
    for path in data_json.split(","):
        with open(path) as f:
            runs += json.load(f)["runs"]
    made = []
    os.makedirs(outdir, exist_ok=True)
    for case in ("hot", "hot2"):
        sel = [m for m in runs if m["case"] == case and m.get("rep") == 0 and m.get("series")]
        if not sel:
            continue
        fig, (a1, a2) = plt.subplots(2, 1, sharex=True, figsize=(9, 7))
        for m in sel:
            label = "%s %s" % (m["engine"], m["policy"])
            s = [x for x in m["series"] if x[1] is not None]
            a1.plot([x[0] for x in s], [x[1] / 2**20 for x in s], label=label, drawstyle="steps-post")
            g = [x for x in m["guest_series"] if x[1] == "src"]
            # The writer's rate in 100 ms windows from the source's counter samples.
            t, r, i = [], [], 0
            while i < len(g):
                j = i
                while j < len(g) and g[j][0] - g[i][0] < 0.1:
                    j += 1
                if j >= len(g):
                    break
                t.append(g[j][0])
                # Floored at 0.1 MiB/s for the log scale (a stopped writer shows at the floor).
                r.append(max(0.1, (g[j][2][0] - g[i][2][0]) / 256 / (g[j][0] - g[i][0])))
                i = j
            a2.plot(t, r, label=label)
        a1.set_ylabel("remaining, query-migrate (MiB)")
        a1.set_yscale("symlog", linthresh=1)
        a1.legend(fontsize=8)
        a2.set_ylabel("writer, guest's counter (MiB/s)")
        a2.set_xlabel("s after migrate")
        a2.set_yscale("log")
        a1.set_title("case %s: 1 GiB, writer on 80 MiB, max-bandwidth 100 MB/s, downtime-limit 300 ms" % case)
        path = os.path.join(outdir, "migrate-%s.png" % case)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        made.append(path)
    return made


# ---------------------------------------------------------------- main

class Ctx:
    def __init__(self, args):
        self.args = args
        self.workdir = args.data
        self.results = {}
        self.order = []
        self.runs = []

    def add(self, m):
        key = (m["engine"], m["case"], m["policy"])
        if key not in self.results:
            self.results[key] = []
            self.order.append(key)
        self.results[key].append(m)
        self.runs.append(m)


def applies(engine, case, policy):
    if not CASES[case][4] and policy != "none":
        return False
    if engine.startswith("qemu") and case == "hot2":
        return False  # one vCPU under QEMU
    if engine == "qemu" and policy.startswith("dirty-limit"):
        return False  # QEMU's dirty limit needs its dirty ring
    if engine == "qemu-ring" and policy == "dirty-limit":
        return False  # ours
    if engine == "qemu-ring" and (not CASES[case][4] or policy == "none"):
        return False  # the ring matters under a writer only; without a policy it never converges either
    return True


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--vmm")
    ap.add_argument("--stress")
    ap.add_argument("--data", help="directory for logs (default: a new /tmp dir)")
    ap.add_argument("--json", help="write every run (with its time series) to this file")
    ap.add_argument("--plots", help="write PNG plots into this directory (needs --json or makes one)")
    ap.add_argument("--plot-only", help="only draw the plots from these --json files (comma-separated)")
    ap.add_argument("--tables-from", help="only print the tables of these --json files (comma-separated), "
                                          "e.g. runs of several invocations or an interrupted one")
    ap.add_argument("--no-lock", action="store_true", help="the caller holds /tmp/vmm-vm.lock")
    ap.add_argument("--hold", choices=["pair", "case", "repeat", "all"], default="pair",
                    help="hold the VM lock per pair of VMs (default), per case and repeat (every "
                         "engine and policy of one case back to back), or per repeat (every case): "
                         "fewer waits on a busy host; or for the whole run (all)")
    args = ap.parse_args()
    if args.plot_only:
        for p in plot(args.plot_only, args.plots or "."):
            print(p)
        return
    if args.tables_from:
        ctx = Ctx(args)
        for path in args.tables_from.split(","):
            with open(path) as f:
                d = json.load(f)
            print("- `%s`: started %s, `%s`, %d runs" % (path, d["started"], " ".join(d["argv"]), len(d["runs"])))
            for m in d["runs"]:
                ctx.add(m)
        print()
        report(ctx)
        return
    args.vmm = args.vmm or os.path.join(args.build, "vmm")
    args.stress = args.stress or os.path.join(args.build, "guest", "stress.elf")
    engines = args.engines.split(",")
    cases = args.cases.split(",")
    policies = args.policies.split(",")
    for lst, ok, what in ((engines, ENGINES, "engine"), (cases, CASES, "case"), (policies, POLICIES, "policy")):
        for x in lst:
            if x not in ok:
                ap.error("unknown %s %s" % (what, x))
    if not os.path.exists(args.stress):
        sys.exit("migrate.py: %s not found (build first)" % args.stress)
    if "vmm" in engines and not os.path.exists(args.vmm):
        sys.exit("migrate.py: %s not found (build first)" % args.vmm)
    if any(e.startswith("qemu") for e in engines) and not shutil.which("qemu-system-x86_64"):
        subprocess.run([os.path.join(root, "bench", "setup.sh"), "qemu-system-x86"], check=True)
    if args.plots and subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"],
                                     capture_output=True).returncode != 0:
        subprocess.run([os.path.join(root, "bench", "setup.sh"), "python3-matplotlib"], check=True)
    args.data = args.data or tempfile.mkdtemp(prefix="mig-bench-")
    os.makedirs(args.data, exist_ok=True)
    log("data in %s" % args.data)
    ctx = Ctx(args)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t_start = mono()
    jpath = args.json or os.path.join(args.data, "runs.json")
    facts = host_facts()

    def save():
        """After every run: an interrupted benchmark keeps what it measured (--tables-from)."""
        with open(jpath + ".tmp", "w") as f:
            json.dump({"started": started, "facts": facts, "argv": sys.argv, "runs": ctx.runs}, f)
        os.replace(jpath + ".tmp", jpath)

    def one(engine, case, policy, rep):
        log("repeat %d: %s %s %s" % (rep + 1, engine, case, policy))
        fn = lambda: run_one(ctx, engine, case, policy, rep)  # noqa: E731
        m = fn() if args.no_lock or args.hold != "pair" else with_lock(fn)
        log("  %s, total %s ms, downtime %s ms, blackout %s ms, rounds %s" % (
            m.get("status"), m.get("total_ms"), m.get("downtime_ms"),
            fmt(m.get("blackout_ms")), m.get("rounds")))
        ctx.add(m)
        save()

    def all_of_case(case, rep):
        todo = [(e, p) for e in engines for p in policies if applies(e, case, p)]
        if todo and args.hold == "case" and not args.no_lock:
            with_lock(lambda: [one(e, case, p, rep) for e, p in todo])
        else:
            for e, p in todo:
                one(e, case, p, rep)

    def all_repeats():
        for rep in range(args.repeats):
            if args.hold == "repeat" and not args.no_lock:
                with_lock(lambda: [all_of_case(case, rep) for case in cases])
            else:
                for case in cases:
                    all_of_case(case, rep)

    if args.hold == "all" and not args.no_lock:
        with_lock(all_repeats)
    else:
        all_repeats()

    print("# live migration benchmark, %s (%.0f s)\n" % (started, mono() - t_start))
    print("Host: %s; command: `%s`\n" % (", ".join("%s %s" % kv for kv in facts.items()), " ".join(sys.argv)))
    report(ctx)
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)
        try:
            made = plot(jpath, args.plots)
        except ImportError:
            # The python3 on PATH may lack Debian's matplotlib: draw with Debian's python3.
            r = subprocess.run(["/usr/bin/python3", os.path.abspath(__file__), "--plot-only", jpath,
                                "--plots", args.plots], capture_output=True, text=True)
            made = r.stdout.split() if r.returncode == 0 else ["(plot failed: %s)" % r.stderr.strip()[-300:]]
        print("\nPlots: " + ", ".join(made))


def report(ctx):
    print("Loopback, medians over the repeats of the completed runs (of all runs where none completed).\n")
    print(HEADER)
    for key in ctx.order:
        print(fmt_row(key, ctx.results[key]))
    print("\n## Memory\n")
    print(memory_table(ctx))
    notes = []
    for m in ctx.runs:
        if m.get("error"):
            notes.append("%s %s %s run %d: %s" % (m["engine"], m["case"], m["policy"], m["rep"] + 1, m["error"]))
        if m.get("note"):
            notes.append("%s %s %s run %d: %s" % (m["engine"], m["case"], m["policy"], m["rep"] + 1, m["note"]))
        if m.get("dst_stuck"):
            notes.append("%s %s %s run %d: the destination's guest did not move within %.0f s"
                         % (m["engine"], m["case"], m["policy"], m["rep"] + 1, RESUME_WAIT))
    if notes:
        print("\n## Notes\n")
        for n in sorted(set(notes)):
            print("- " + n)


if __name__ == "__main__":
    main()

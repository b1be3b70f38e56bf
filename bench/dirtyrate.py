#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmarks of vmm's dirty page tracking (the sensor of the dirty limiter).

Every figure is taken from vmm's --stats stream (JSON lines, docs/stats.md):
the monitor's count is `pages-harvested` (what the dirty ring reported,
re-logged entries not counted) and the ground truth is the stress kernel's
own counter, `guest.pages-written`.  Both are cumulative and sampled by the
controller thread in the same instant, right after it has harvested every
ring, so a 1 s window's rates are exact page differences over the same time.

Sub-commands (each prints markdown tables on stdout, progress on stderr):

  accuracy    monitor vs guest, 1 s windows: seq at several rates, random
              with small working sets (the ring counts a page once per
              harvest interval however often it is written)
  overhead    guest write throughput, our harvester vs the simplest one
              (--x-harvester simple: one thread, every ring every 1 ms),
              interleaved, repeated
  robustness  60 s at full speed, small and large rings, slow harvester:
              progress every second, no data error, no host warning
  all         all three, then the harvest cost per page

Every VM run holds an exclusive flock on /tmp/vmm-vm.lock (the host has two
cores and is shared), so two benchmarks, or a benchmark and a test, never
run VMs at the same time.  Python 3 standard library only.
"""

import argparse
import datetime
import fcntl
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time

LOCK_PATH = "/tmp/vmm-vm.lock"
PAGES_PER_MIB = 256  # 4 KiB pages; MiB is 2^20 bytes, as in the stats
# The controller's backstop harvest period (dl_ctrl.c, --dirty-limit-period
# default 50 ms): it harvests every ring 20 times a second.
BACKSTOP_PER_S = 20
# dmesg lines that mean the host KVM overran a dirty ring (host-kvm.md).
DMESG_RE = re.compile(r"kvm_dirty_ring_push|WARNING")
WEDGE_RE = re.compile(r"dirty ring is wedged")
# Robustness: every writer must be writing within this many 1 s windows.
BOOT_MAX_S = 5


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def dmesg_lines():
    """Lines of the kernel log that mention a ring overrun, or None."""
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [l for l in out.stdout.splitlines() if DMESG_RE.search(l)]


class Run:
    """One VM run: the command, its stats records, exit status, stderr."""

    def __init__(self, cmd, records, rc, stderr, wall, dmesg_new, interval_ms):
        self.cmd = cmd
        self.records = records
        self.rc = rc
        self.stderr = stderr
        self.wall = wall
        self.dmesg_new = dmesg_new  # list of new warning lines, or None
        self.interval_ms = interval_ms

    @property
    def ncpus(self):
        return len(self.records[0]["vcpus"]) if self.records else 0

    def windows(self, skip=0):
        """Per-window deltas: a list of (secs, [per-vCPU dict]).

        The stream's first record covers the time since the controller
        started (boot included); its deltas are taken from zero, as vmm
        does.  Windows whose length is off by more than 20% (a partial last
        record) are dropped, then the first `skip` are skipped.
        """
        out = []
        prev = None
        for rec in self.records:
            secs = rec["interval-ms"] / 1000.0
            cpus = []
            for i, v in enumerate(rec["vcpus"]):
                g = v.get("guest", {})
                p = prev["vcpus"][i] if prev else {}
                pg = p.get("guest", {})
                cpus.append({
                    "mon": v["pages-harvested"] - p.get("pages-harvested", 0),
                    "guest": g.get("pages-written", 0) - pg.get("pages-written", 0),
                    "exits": v["exits"] - p.get("exits", 0),
                    "relogged": v["relogged"] - p.get("relogged", 0),
                    "errors": g.get("errors", 0),
                    "booted": bool(g),
                    "guest_rate": g.get("dirty-rate", 0.0),
                    "mon_rate": v["dirty-rate"],
                })
            prev = rec
            if abs(rec["interval-ms"] - self.interval_ms) > 0.2 * self.interval_ms:
                continue
            out.append((secs, cpus))
        return out[skip:]

    def last(self, cpu):
        return self.records[-1]["vcpus"][cpu] if self.records else {}


def run_vm(opts, cpus, append, duration, extra=(), mem="512M", interval_ms=1000):
    cmd = [opts.vmm, "--cpus", str(cpus), "--mem", mem, "--append", append,
           "--duration", str(duration), "--stats", "-"]
    if interval_ms != 1000:
        cmd += ["--stats-interval", str(interval_ms)]
    cmd += list(extra)
    with open(LOCK_PATH, "a") as lock:
        if not opts.no_lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log("  waiting for %s (another VM is running)" % LOCK_PATH)
                fcntl.flock(lock, fcntl.LOCK_EX)
        before = dmesg_lines()
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = -9, e.stdout or "", (e.stderr or "") + "\n(timed out)"
            if isinstance(out, bytes):
                out = out.decode(errors="replace")
            if isinstance(err, bytes):
                err = err.decode(errors="replace")
        wall = time.monotonic() - t0
        after = dmesg_lines()
    new = None
    if before is not None and after is not None:
        # The log may wrap; count what appeared, not an index.
        new = after[len(before):] if after[:len(before)] == before else \
            [l for l in after if l not in set(before)]
    records = []
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                log("warning: unparsable stats line: " + line[:120])
    if opts.save:
        os.makedirs(opts.save, exist_ok=True)
        opts.run_no += 1
        base = os.path.join(opts.save, "run%03d" % opts.run_no)
        with open(base + ".cmd", "w") as f:
            f.write(shlex.join(cmd) + "\n")
        with open(base + ".out", "w") as f:
            f.write(out)
        with open(base + ".err", "w") as f:
            f.write(err)
    r = Run(cmd, records, rc, err, wall, new, interval_ms)
    opts.commands.append(shlex.join(cmd))
    if rc != 0:
        log("  exit %d: %s" % (rc, err.strip().splitlines()[-1] if err.strip() else ""))
    return r


def mib(pages, secs):
    return pages / PAGES_PER_MIB / secs if secs > 0 else 0.0


def pct(x):
    return "%+.2f%%" % (100.0 * x)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def emit(opts, text=""):
    print(text, flush=True)


# --------------------------------------------------------------------------
# accuracy

def acc_row(r, skip, cpus, label):
    ws = r.windows(skip)
    errs, g_rates, m_rates = [], [], []
    for secs, cs in ws:
        for c in cs:
            if c["guest"] > 0:
                errs.append((c["mon"] - c["guest"]) / c["guest"])
            g_rates.append(mib(c["guest"], secs))
            m_rates.append(mib(c["mon"], secs))
    tot_g = sum(c["guest"] for _, cs in ws for c in cs)
    tot_m = sum(c["mon"] for _, cs in ws for c in cs)
    worst = max(errs, key=abs) if errs else float("nan")
    ok = bool(errs) and all(abs(e) <= 0.02 for e in errs) and r.rc == 0
    return [cpus, label, len(ws), "%.2f" % median(g_rates), "%.2f" % median(m_rates),
            pct(median([abs(e) for e in errs])) if errs else "-", pct(worst),
            pct((tot_m - tot_g) / tot_g) if tot_g else "-", "yes" if ok else "**NO**"]


def accuracy(opts):
    dur = 6 if opts.quick else 12
    skip = 2
    rates = [1, 100, 0] if opts.quick else [1, 10, 100, 500, 0]
    rows = []
    misses = 0
    for cpus in (1, 2):
        for rate in rates:
            append = "pattern=seq wss=64M rate=%d report=0" % rate
            log("accuracy: seq %d vCPU(s) rate=%d" % (cpus, rate))
            r = run_vm(opts, cpus, append, dur)
            rows.append(acc_row(r, skip, cpus, rate if rate else "unthrottled"))
            misses += 0 if rows[-1][-1] == "yes" else 1
    # The guest's once-a-second summary (report=1000, the default) dirties a
    # few pages on vCPU 0 that its counter does not count: shown, not judged.
    log("accuracy: seq 1 vCPU rate=1 report=1000")
    r = run_vm(opts, 1, "pattern=seq wss=64M rate=1 report=1000", dur)
    rows.append(acc_row(r, skip, 1, "1, report=1000"))
    rows[-1][-1] = "(not a target)"
    emit(opts, "### Accuracy, pattern=seq (1 s windows, first %d skipped, %d s runs)\n" %
         (skip, dur))
    emit(opts, "Per vCPU and window: error = (monitor - guest) / guest pages.\n")
    emit(opts, table(["vCPUs", "rate= MiB/s per vCPU", "windows", "guest MiB/s (median)",
                      "monitor MiB/s (median)", "median abs error", "worst error",
                      "error of the total", "all within 2%"], rows))
    emit(opts)

    # random: a page written twice between two harvests is one dirty page.
    rows = []
    cases = [(1, "4M", None), (1, "64M", None), (2, "4M", None), (2, "64M", None),
             (1, "4M", 1000), (1, "64M", 1000)]
    if opts.quick:
        cases = [(1, "4M", None), (1, "64M", None)]
    rdur = 5 if opts.quick else 8
    for cpus, wss, tick in cases:
        extra = ["--x-tick-us", str(tick)] if tick else []
        log("accuracy: random %d vCPU(s) wss=%s tick=%s" % (cpus, wss, tick or "auto"))
        r = run_vm(opts, cpus, "pattern=random wss=%s report=0" % wss, rdur, extra)
        ws = r.windows(skip)
        npages = int(wss[:-1]) * 256
        secs = sum(s for s, _ in ws)
        g = sum(c["guest"] for _, cs in ws for c in cs)
        m = sum(c["mon"] for _, cs in ws for c in cs)
        # Model: each vCPU's ring is harvested h times a second (its own exits,
        # each followed by a harvest, plus the controller's backstop); between
        # two harvests w writes land uniformly on N pages, of which
        # N (1 - (1 - 1/N)^w) are distinct.  Even spacing assumed.
        pred = 0.0
        for i in range(r.ncpus):
            gi = sum(cs[i]["guest"] for _, cs in ws)
            hi = sum(cs[i]["exits"] for _, cs in ws) + BACKSTOP_PER_S * secs
            if gi and hi:
                w = gi / hi
                pred += hi * npages * (1 - (1 - 1 / npages) ** w)
        hs = sum(cs[0]["exits"] for _, cs in ws) / secs + BACKSTOP_PER_S if secs else 0
        rows.append([
            cpus, wss, "%d µs" % tick if tick else "auto", len(ws),
            "%.0f" % (g / secs / 1000), "%.0f" % (m / secs / 1000),
            "%.3f" % (m / g if g else float("nan")),
            "%.3f" % (pred / g if g else float("nan")),
            "%.0f" % hs, "%.0f" % (npages * hs * r.ncpus / 1000),
        ])
    emit(opts, "### Accuracy, pattern=random (%d s runs, first %d windows skipped)\n" %
         (rdur, skip))
    emit(opts, "Rates are for the whole VM, in thousands per second. The guest counts "
         "page writes (one word each); the monitor counts pages the ring reported dirty. "
         "`model` = N(1-(1-1/N)^w) distinct pages per harvest interval of w writes over "
         "an N-page working set, divided by w; `ceiling` = N x harvests/s x vCPUs, the "
         "most the ring can report (every page once per harvest).\n")
    emit(opts, table(["vCPUs", "wss", "tick", "windows", "guest k writes/s",
                      "monitor k pages/s", "monitor/guest", "model", "harvests/s per vCPU",
                      "ceiling k pages/s"], rows))
    emit(opts)
    return misses


# --------------------------------------------------------------------------
# overhead

def throughput(r, skip=2):
    """Guest pages written per second (whole VM) after warm-up, in MiB/s."""
    ws = r.windows(skip)
    secs = sum(s for s, _ in ws)
    return mib(sum(c["guest"] for _, cs in ws for c in cs), secs)


def overhead(opts):
    reps = 3 if opts.quick else 7
    dur = 6 if opts.quick else 12
    rows, cost_runs = [], []
    misses = 0
    for cpus in (1, 2):
        res = {"self": [], "simple": []}
        for rep in range(reps):
            # ABBA order so that a slow drift of the host does not favour one.
            order = ("self", "simple") if rep % 2 == 0 else ("simple", "self")
            for h in order:
                log("overhead: %d vCPU(s) harvester=%s rep %d" % (cpus, h, rep + 1))
                r = run_vm(opts, cpus, "pattern=seq wss=64M report=0", dur,
                           ["--x-harvester", h])
                res[h].append(throughput(r))
                cost_runs.append(("overhead, %s" % h, r))
        ms, mp = median(res["self"]), median(res["simple"])
        ratio = ms / mp if mp else float("nan")
        ok = ratio >= 0.95
        misses += 0 if ok else 1
        rows.append([cpus, "self (ours)", " ".join("%.0f" % x for x in res["self"]),
                     "%.0f" % ms, "%.3f" % ratio, "yes" if ok else "**NO**"])
        rows.append([cpus, "simple (1 ms thread)",
                     " ".join("%.0f" % x for x in res["simple"]), "%.0f" % mp, "", ""])
    emit(opts, "### Overhead: guest write throughput, unthrottled seq, wss=64M per vCPU "
         "(%d runs each, %d s, interleaved ABBA)\n" % (reps, dur))
    emit(opts, "Guest MiB/s for the whole VM, from guest.pages-written over the windows "
         "after the first two.\n")
    emit(opts, table(["vCPUs", "harvester", "runs (guest MiB/s)", "median",
                      "ours / simple", "within 5%"], rows))
    emit(opts)
    return misses, cost_runs


# --------------------------------------------------------------------------
# robustness

def robustness(opts):
    dur = 10 if opts.quick else 60
    rows, cost_runs = [], []
    misses = 0
    cases = [(ring, cpus, delay, dur) for ring in (4096, 65536) for cpus in (1, 2)
             for delay in (0, 5000, 20000)]
    # 4096 is the smallest ring vmm accepts (cli.h: a ring-0 rep stosd fills
    # smaller ones); 8192, between it and the default, for a shorter time.
    cases += [(ring, 2, delay, 5 if opts.quick else 20) for ring in (8192,)
              for delay in (0, 5000)]
    for ring, cpus, delay, secs in cases:
        log("robustness: ring %d, %d vCPU(s), delay %d us, %d s" %
            (ring, cpus, delay, secs))
        extra = ["--dirty-ring-size", str(ring)]
        if delay:
            extra += ["--x-harvest-delay-us", str(delay)]
        r = run_vm(opts, cpus, "pattern=seq report=0", secs, extra)
        ws = r.windows(0)
        # Windows before every writer has started (boot, which is emulated
        # and slow when the harvester is made slow) are not stalls; a guest
        # that takes more than BOOT_MAX_S to get there fails.
        boot = next((k for k, (_, cs) in enumerate(ws)
                     if all(c["booted"] and c["guest"] > 0 for c in cs)), len(ws))
        stalled = sum(1 for _, cs in ws[boot:] if any(c["guest"] <= 0 for c in cs))
        rates = [mib(c["guest"], s) for s, cs in ws[boot:] for c in cs]
        steady = [mib(c["guest"], s) for s, cs in ws[boot + 1:] for c in cs]
        errors = max((c["errors"] for _, cs in ws for c in cs), default=0)
        rfe = sum(r.last(i).get("ring-full-exits", 0) for i in range(r.ncpus))
        batch = max((r.last(i).get("max-harvest-batch", 0) for i in range(r.ncpus)),
                    default=0)
        wedged = bool(WEDGE_RE.search(r.stderr))
        dm = "n/a" if r.dmesg_new is None else str(len(r.dmesg_new))
        enough = len(ws) >= secs - 1 and boot < BOOT_MAX_S
        ok = (r.rc == 0 and enough and stalled == 0 and errors == 0 and not wedged
              and (r.dmesg_new is None or not r.dmesg_new))
        misses += 0 if ok else 1
        rows.append([ring, cpus, delay, secs, len(ws), boot, stalled,
                     "%.1f" % min(rates) if rates else "-",
                     "%.1f" % median(steady), errors, rfe,
                     "%d (%.1f%%)" % (batch, 100.0 * batch / ring), r.rc,
                     "yes" if wedged else "no", dm, "yes" if ok else "**NO**"])
        if delay == 0:
            cost_runs.append(("robustness, ring %d" % ring, r))
    emit(opts, "### Robustness: %d s at full speed (seq, default wss), every 1 s window\n" % dur)
    emit(opts, "Rings 4096 (the smallest vmm accepts) and 65536 on 1 and 2 vCPUs for %d s; "
         "ring 8192 (2 vCPUs) for a shorter time.\n" % dur)
    emit(opts, ("`boot windows` = windows before every writer was writing (the guest's "
                "boot; at most %d allowed); `stalled` = windows after that in which some "
                "writer made no progress; rates are per writer after boot (the median from "
                "the second window after boot); `max batch` = the most entries one harvest "
                "found (how full a ring ever got); `dmesg` = new kernel log lines mentioning "
                "kvm_dirty_ring_push or WARNING.\n") % (BOOT_MAX_S - 1))
    emit(opts, table(["ring", "vCPUs", "harvest delay µs", "s", "windows", "boot windows",
                      "stalled",
                      "min window MiB/s", "median MiB/s", "guest errors", "ring-full exits",
                      "max batch (of ring)", "exit", "wedge msg", "dmesg", "pass"], rows))
    emit(opts)
    return misses, cost_runs


# --------------------------------------------------------------------------
# harvest cost

def cost_table(opts, runs):
    rows = []
    groups = {}
    for label, r in runs:
        if not r.records:
            continue
        for i in range(r.ncpus):
            v = r.last(i)
            ent = v["pages-harvested"] + v["relogged"]
            if not ent:
                continue
            key = (label, r.ncpus)
            groups.setdefault(key, []).append(
                (v["harvest-ns"] / ent, ent, v["relogged"], v["harvest-ns"],
                 v["max-harvest-batch"]))
    for (label, cpus), xs in groups.items():
        ns = [x[0] for x in xs]
        rows.append([label, cpus, len(xs), "%.1f" % median(ns),
                     "%.1f .. %.1f" % (min(ns), max(ns)),
                     "%.0f" % median([x[1] for x in xs]),
                     "%.2f%%" % (100.0 * median([x[2] / x[1] for x in xs])),
                     max(x[4] for x in xs)])
    emit(opts, "### Harvest cost per entry (cumulative harvest-ns / (pages-harvested + "
         "relogged), per vCPU at the end of each run)\n")
    emit(opts, "harvest-ns covers the whole harvest: taking the ring lock, walking the "
         "ring, marking the bitmap, KVM_RESET_DIRTY_RINGS; only runs without an "
         "artificial delay are shown.\n")
    emit(opts, table(["runs", "vCPUs", "samples (vCPU x run)", "median ns/entry",
                      "range", "median entries per vCPU", "relogged share",
                      "max batch"], rows))
    emit(opts)


# --------------------------------------------------------------------------

def host_facts(opts):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.0f GiB" % (int(f.readline().split()[1]) / 1048576)
    except (OSError, ValueError, IndexError):
        pass
    # Built-in or loaded, KVM's modules show up in /sys/module (kvm_pvm here).
    try:
        mods = ", ".join(sorted(m for m in os.listdir("/sys/module")
                                if m == "kvm" or m.startswith("kvm_"))) or "none"
    except OSError:
        mods = "?"
    try:
        ver = subprocess.run([opts.vmm, "--version"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    except OSError:
        ver = "?"
    return [
        "- date: %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "- host: %s, %d CPUs, %s RAM, Linux %s, KVM modules: %s" %
        (cpu, os.cpu_count() or 0, mem, platform.release(), mods),
        "- vmm: %s (`%s`)" % (ver, opts.vmm),
        "- python: %s" % platform.python_version(),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("what", choices=["accuracy", "overhead", "robustness", "all"])
    ap.add_argument("--vmm", default="build/vmm", help="the vmm binary (default build/vmm)")
    ap.add_argument("--quick", action="store_true", help="shorter and fewer runs")
    ap.add_argument("--save", metavar="DIR", help="keep every run's command, stdout, stderr")
    ap.add_argument("--no-lock", action="store_true",
                    help="do not take %s (the caller holds it already; wrapping this "
                    "script in flock without --no-lock deadlocks)" % LOCK_PATH)
    opts = ap.parse_args()
    opts.run_no = 0
    opts.commands = []
    if not os.access(opts.vmm, os.X_OK):
        sys.exit("%s: not an executable; build first or pass --vmm" % opts.vmm)
    if not os.path.exists("/dev/kvm"):
        sys.exit("/dev/kvm is absent: these benchmarks need a real VM")

    emit(opts, "## Dirty tracking benchmark: %s%s\n" % (opts.what, " (quick)" if opts.quick else ""))
    emit(opts, "\n".join(host_facts(opts)) + "\n")
    t0 = time.monotonic()
    misses = 0
    costs = []
    if opts.what in ("accuracy", "all"):
        misses += accuracy(opts)
    if opts.what in ("overhead", "all"):
        m, c = overhead(opts)
        misses += m
        costs += c
    if opts.what in ("robustness", "all"):
        m, c = robustness(opts)
        misses += m
        costs += c
    if costs:
        cost_table(opts, costs)
    emit(opts, "%d VM runs, %.0f s; %s" % (
        len(opts.commands), time.monotonic() - t0,
        "every target met" if not misses else "%d row(s) miss their target" % misses))
    if opts.commands:
        emit(opts, "\nCommands run (each under flock %s; repeats listed once):\n" % LOCK_PATH)
        emit(opts, "```")
        for c in dict.fromkeys(opts.commands):  # unique, in order
            emit(opts, c)
        emit(opts, "```")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())

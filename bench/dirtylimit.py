#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark of the per-vCPU dirty limiter: vmm against Debian's QEMU 7.2.

    bench/dirtylimit.py [--quick] [--repeats N] [--build DIR] [--plots DIR]
                        [--data DIR] [--json FILE] [--no-qemu] [--only GROUP,...]

Boots the bundled stress kernel (guest/) under `vmm --qmp unix:...` and under
`qemu-system-x86_64 -accel kvm,dirty-ring-size=...`, sets dirty limits over
QMP, and measures everything from the guest's own counters
(include/stress_abi.h), never from the monitor's self-report:

- vmm: `x-query-guest-stats` every 100 ms (host CLOCK_MONOTONIC stamps, the
  midpoint of each request);
- QEMU: `human-monitor-command` `xp /9gx ADDR` of the stats area whose address
  the guest prints on its serial console ("stress: stats at 0x...").

Per case (a limit applied from an unthrottled start, then cancelled):

settle     from the set-vcpu-dirty-limit reply to the end of the last 100 ms
           window outside limit +-10%; "<=100" if none was, "never" if the
           phase has no 3 s in band at its end
mean err   guest pages over the steady phase (from max(settle, 0.5 s) after
           the set, or 0.5 s if never settled, to the cancel) against the limit
p5/p95     of the 100 ms (and 1 s) windows of the steady phase, % of the limit
stall      the longest gap between two page writes the guest saw during the
           phase (x-query-guest-stats max-stall-us, reset at the set; under
           QEMU the stats area's max_gap_tsc, read with xp and reset through
           /proc/PID/mem, and the longest time the counter did not move)
reader     a reading vCPU next to the limited writer (or with a limit of its
           own): the median over 1 s on / 1 s off cycles of its read rate
           while limited, as a % of the mean of the unlimited seconds around
           it; "neighbour", an unlimited writer next to a limited one: its
           rate in the steady phase against the unthrottled phases around it
cancel     from the cancel reply to the end of the first 100 ms window at
           >= 90% of full speed, full speed being the speed then held (median
           window from 0.5 s after the cancel) or the run's baseline if lower;
           in brackets, against the baseline alone (the literal target), and
           the held speed as a % of the baseline

This host's unthrottled speed moves between two levels ~25% apart for
seconds at a time whatever the limiter does (pinned or not, limited or not):
that is why "full speed" is taken around each phase and not only at the start,
and why the "90%" limit sometimes asks for more than the host then gives (the
"what the host gave" table).

The QEMU rows run `-accel kvm,dirty-ring-size=4096` (and 65536); QEMU tracks
no dirty page until a limit is set, so its "unthrottled" speed is the guest
writing at cache speed.  If QEMU's monitor stops answering, the counters are
read from its guest RAM through /proc/PID/mem and the phase is recorded as
such.

Every VM runs under an exclusive fcntl lock on /tmp/vmm-vm.lock (the host has
two cores and other people measure too): do not wrap this script in
`flock /tmp/vmm-vm.lock` yourself, it would wait for itself.

Prints markdown tables (medians over the repeats) on standard output,
progress on standard error.  Python 3 standard library only; gnuplot and
QEMU are installed by bench/setup.sh if missing.
"""
import argparse
import fcntl
import json
import math
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

PAGES_PER_MIB = 256  # 4 KiB pages in 2^20 bytes
PERIOD = 0.1  # s between two guest-counter samples (the 100 ms windows)
BAND = 0.10  # +-10% of the limit: "in band"
MIN_STEADY = 3.0  # s in band at the end of a phase to count as settled
STEADY_FROM = 0.5  # s after the set: the earliest start of the steady phase
LOCK = "/tmp/vmm-vm.lock"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository
QMP_TIMEOUT = 10.0  # s: every command we send answers at once; silence means a wedged monitor
QEMU_QMP_TIMEOUT = 3.0  # s: QEMU's monitor has been seen to stop answering; notice it sooner
STATS_MAGIC = 0x3153544154535453  # "STSTATS1", include/stress_abi.h
MEM = "1G"
WSS = "256M"  # per writer: 65536 pages, a pass in ~0.2 s at full speed

# Targets (the issue's): (key, text).
TARGETS = {
    "lowest": "lowest limit held (mean within 2%) with either ring: 1 MiB/s",
    "settle": "settle < 0.5 s",
    "mean": "mean error within 2% from 1 MiB/s to 90% of unthrottled",
    "win": "100 ms windows p5/p95 within +-10%",
    "reader": "reader >= 97% of its unlimited speed",
    "cancel": "cancel -> 90% of full speed within 0.5 s (full = the speed then held)",
    "cancel_base": "the same, full = the run's unthrottled baseline (literal)",
}


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def mono():
    return time.monotonic()


# ---------------------------------------------------------------- QMP

class QmpError(Exception):
    pass


class Qmp:
    """One QMP connection: greeting, negotiation, one command at a time."""

    def __init__(self, path, proc, timeout=QMP_TIMEOUT):
        deadline = mono() + timeout
        while True:
            if proc.poll() is not None:
                raise QmpError("the monitor exited (status %s) before its QMP socket answered"
                               % proc.returncode)
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if mono() > deadline:
                    raise QmpError("cannot connect to %s" % path)
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        greeting = json.loads(self._line())
        if "QMP" not in greeting:
            raise QmpError("no QMP greeting: %r" % greeting)
        self.cmd("qmp_capabilities")

    def _line(self):
        while b"\n" not in self.buf:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise QmpError("QMP timeout (%.0f s of silence)" % self.sock.gettimeout())
            if not data:
                raise QmpError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall((json.dumps(msg) + "\n").encode())
        while True:
            line = self._line().strip()
            if not line:
                continue
            reply = json.loads(line)
            if "event" in reply:
                self.events.append((mono(), reply))
                continue
            if "error" in reply:
                raise QmpError("%s: %s" % (name, reply["error"].get("desc")))
            return reply.get("return")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- guests

class Sample:
    __slots__ = ("t", "pages", "bytes", "stall_us")

    def __init__(self, t, pages, bytes_, stall_us):
        self.t, self.pages, self.bytes, self.stall_us = t, pages, bytes_, stall_us


class Guest:
    """A monitor process running the stress kernel, with its QMP socket."""

    kind = "?"

    def __init__(self, argv, workdir, name):
        self.dir = workdir
        self.name = name
        self.sock = os.path.join(workdir, name + ".sock")
        self.out = os.path.join(workdir, name + ".out")
        self.err = os.path.join(workdir, name + ".err")
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(self.out, "wb"),
                                     stderr=open(self.err, "wb"))
        try:
            self.qmp = Qmp(self.sock, self.proc)
        except Exception:
            self.kill()
            raise

    def cmd(self, name, args=None):
        return self.qmp.cmd(name, args)

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self):
        try:
            self.qmp.cmd("quit")
        except (QmpError, OSError, ValueError):
            pass
        self.qmp.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def stderr_tail(self, n=5):
        try:
            with open(self.err, errors="replace") as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return ""


class VmmGuest(Guest):
    kind = "vmm"

    def __init__(self, vmm, workdir, name, ncpus, ring, append, extra=()):
        argv = [vmm, "--qmp", "unix:" + os.path.join(workdir, name + ".sock"), "-m", MEM, "-c",
                str(ncpus), "--dirty-ring-size", str(ring), "-a", append] + list(extra)
        super().__init__(argv, workdir, name)
        self.ncpus = ncpus
        try:
            # max-stall-us and reset-max-stall are newer than the rest of the command.
            try:
                r = self.cmd("x-query-guest-stats", {"reset-max-stall": True})
                self.has_reset = True
            except QmpError:
                r = self.cmd("x-query-guest-stats")
                self.has_reset = False
            self.has_stall = bool(r) and "max-stall-us" in r[0]
        except BaseException:
            self.kill()
            raise

    def stats(self, reset=False):
        args = {"reset-max-stall": True} if reset and self.has_reset else None
        r = sorted(self.cmd("x-query-guest-stats", args), key=lambda e: e["cpu-index"])
        return ([e["pages-written"] for e in r], [e["bytes-read"] for e in r],
                [e.get("max-stall-us") for e in r])


class QemuGuest(Guest):
    kind = "qemu"
    CPU_OFF = 4096  # stats header size
    GAP_OFF = 64  # max_gap_tsc in struct stress_cpu_stats

    def __init__(self, stress, workdir, name, ring, append):
        sock = os.path.join(workdir, name + ".sock")
        self.serial = os.path.join(workdir, name + ".serial")
        self.qmp_dead = None  # host time QEMU's monitor stopped answering
        self.dead_threads = None
        argv = ["qemu-system-x86_64", "-accel", "kvm,dirty-ring-size=%d" % ring, "-m", MEM,
                "-smp", "1", "-kernel", stress, "-append", append, "-qmp",
                "unix:%s,server=on,wait=off" % sock, "-serial", "file:" + self.serial,
                "-display", "none", "-nodefaults"]
        super().__init__(argv, workdir, name)
        self.ncpus = 1
        try:
            self._boot()
        except BaseException:
            self.kill()
            raise

    def _boot(self):
        deadline = mono() + 20
        self.addr = self.wait_stats_addr(deadline)
        # The header: magic is written last at boot.
        while True:
            hdr = self.xp(self.addr, 3)
            if hdr[0] == STATS_MAGIC:
                break
            if mono() > deadline:
                raise QmpError("QEMU: stats magic never appeared")
            time.sleep(0.05)
        self.tsc_khz = hdr[2]
        self.has_reset = False
        self.has_stall = True  # max_gap_tsc, raised by the guest (0 if it does not)
        self.qmp.sock.settimeout(QEMU_QMP_TIMEOUT)
        self.ram = self.find_ram()

    def wait_stats_addr(self, deadline):
        """The guest-physical address of the stress kernel's stats area, from the line it
        prints on the serial console (self.serial); QmpError if QEMU exits first or the
        line is not there by mono() time DEADLINE.  bench/migrate.py's QemuSide calls it
        too."""
        while True:
            try:
                with open(self.serial, errors="replace") as f:
                    m = re.search(r"stress: stats at (0x[0-9a-f]+)", f.read())
            except OSError:
                m = None
            if m:
                return int(m.group(1), 16)
            if mono() > deadline or not self.alive():
                raise QmpError("QEMU: no 'stress: stats at' line on the serial console")
            time.sleep(0.05)

    def find_ram(self):
        """Host address of guest-physical 0, for reading the counters from /proc/PID/mem
        when the monitor stops answering (the guest RAM block: the mapping that holds
        the stats magic at the address the guest printed)."""
        best = None
        try:
            fd = os.open("/proc/%d/mem" % self.proc.pid, os.O_RDONLY)
        except OSError:
            return None
        try:
            with open("/proc/%d/maps" % self.proc.pid) as f:
                for line in f:
                    w = line.split()
                    lo, hi = (int(x, 16) for x in w[0].split("-"))
                    if not w[1].startswith("rw") or hi - lo < self.addr + 0x9000:
                        continue
                    try:
                        if struct.unpack("<Q", os.pread(fd, 8, lo + self.addr))[0] == STATS_MAGIC:
                            if best is None or hi - lo < best[1]:
                                best = (lo, hi - lo)
                    except OSError:
                        continue
        finally:
            os.close(fd)
        return best[0] if best else None

    def mem_stats(self):
        fd = os.open("/proc/%d/mem" % self.proc.pid, os.O_RDONLY)
        try:
            v = struct.unpack("<9Q", os.pread(fd, 72, self.ram + self.addr + self.CPU_OFF))
        finally:
            os.close(fd)
        return v

    def cmd(self, name, args=None):
        if self.qmp_dead is not None:
            raise QmpError("QEMU's monitor stopped answering earlier")
        try:
            return self.qmp.cmd(name, args)
        except QmpError as e:
            if "timeout" in str(e) and self.qmp_dead is None:
                self.qmp_dead = mono()
                self.dead_threads = thread_report(self.proc.pid)
                log("QEMU: %s (threads: %s)" % (e, self.dead_threads))
            raise

    def xp(self, addr, n):
        out = self.cmd("human-monitor-command", {"command-line": "xp /%dgx 0x%x" % (n, addr)})
        vals = []
        for line in out.splitlines():
            if ":" in line:
                vals += [int(w, 16) for w in line.split(":", 1)[1].split()]
        if len(vals) != n:
            raise QmpError("QEMU xp: unexpected reply %r" % out)
        return vals

    def stats(self, reset=False):
        """The counters with HMP xp; from /proc/PID/mem once the monitor is dead."""
        if self.qmp_dead is None:
            try:
                v = self.xp(self.addr + self.CPU_OFF, 9)
            except QmpError:
                if self.qmp_dead is None or self.ram is None:
                    raise
                v = self.mem_stats()
        elif self.ram is not None:
            v = self.mem_stats()
        else:
            raise QmpError("QEMU's monitor is dead and its RAM was not found")
        gap_us = v[8] * 1000 // self.tsc_khz if self.tsc_khz else None
        if reset:
            self.reset_gap()
        return [v[0]], [v[1]], [gap_us]

    def reset_gap(self):
        """max_gap_tsc := 0, as vmm's reset-max-stall does (HMP has no memory write: this
        writes the guest's RAM through /proc/PID/mem, which needs root or ptrace rights)."""
        if self.ram is None:
            return False
        try:
            fd = os.open("/proc/%d/mem" % self.proc.pid, os.O_WRONLY)
            try:
                os.pwrite(fd, struct.pack("<Q", 0), self.ram + self.addr + self.CPU_OFF + self.GAP_OFF)
            finally:
                os.close(fd)
            self.has_reset = True
            return True
        except OSError:
            return False

    def close(self):
        if self.qmp_dead is not None:
            self.kill()
        else:
            super().close()


def thread_report(pid):
    """name: state, CPU % over 0.5 s, kernel wait channel, for every thread of PID."""
    def snap():
        out = {}
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                    st = f.read()
                rest = st[st.rindex(")") + 2:].split()
                out[t] = (st[st.index("(") + 1:st.rindex(")")], rest[0], int(rest[11]) + int(rest[12]))
            except (OSError, ValueError):
                pass
        return out

    try:
        a = snap()
        time.sleep(0.5)
        b = snap()
    except OSError:
        return "?"
    hz = os.sysconf("SC_CLK_TCK")
    rows = []
    for t, (name, state, ticks) in sorted(b.items()):
        try:
            with open("/proc/%d/task/%s/wchan" % (pid, t)) as f:
                wchan = f.read().strip() or "-"
        except OSError:
            wchan = "?"
        cpu = (ticks - a[t][2]) * 100 / hz / 0.5 if t in a else 0
        rows.append("%s %s %.0f%% %s" % (name, state, cpu, wchan))
    return "; ".join(rows)


class Recorder:
    """Guest-counter samples every PERIOD, and the commands between them."""

    def __init__(self, guest):
        self.g = guest
        self.samples = []
        self.marks = []  # (t, label)
        self.limits = []  # (t, {cpu: MiB/s or None}) for the plots

    def sample(self, reset=False):
        t0 = mono()
        pages, bytes_, stall = self.g.stats(reset)
        t1 = mono()
        # The midpoint of the request; the end if it was slow (a QEMU monitor that timed
        # out before the counters were read from its RAM).
        s = Sample((t0 + t1) / 2 if t1 - t0 < 0.5 else t1, pages, bytes_, stall)
        self.samples.append(s)
        return s

    def poll(self, seconds):
        """Sample every PERIOD for SECONDS after the newest sample."""
        anchor = self.samples[-1].t if self.samples else mono()
        end = anchor + seconds
        k = 1
        while True:
            due = anchor + k * PERIOD
            if due > end + 1e-3:
                break
            d = due - mono()
            if d > 0:
                time.sleep(d)
            elif d < -PERIOD:  # late by more than a period: skip ticks, keep the grid
                k += int(-d / PERIOD)
                continue
            self.sample()
            k += 1

    def act(self, label, name, args=None, reset=False, limits=None):
        """Run a command; returns the host time of its reply, then samples at once."""
        self.g.cmd(name, args)
        t = mono()
        self.marks.append((t, label))
        if limits is not None:
            self.limits.append((t, limits))
        self.sample(reset)
        return t

    def wait_running(self, cpus, key="pages", timeout=20):
        deadline = mono() + timeout
        while mono() < deadline:
            s = self.sample()
            vals = s.pages if key == "pages" else [p + b for p, b in zip(s.pages, s.bytes)]
            if all(vals[c] > 0 for c in cpus):
                return
            time.sleep(0.05)
        raise QmpError("the guest made no progress within %d s" % timeout)

    # -- analysis helpers

    def idx(self, t):
        """Index of the first sample at or after t."""
        for i, s in enumerate(self.samples):
            if s.t >= t - 1e-6:
                return i
        return len(self.samples) - 1

    def idx_before(self, t):
        """Index of the last sample at or before t."""
        j = 0
        for i, s in enumerate(self.samples):
            if s.t <= t + 1e-6:
                j = i
        return j

    def windows(self, cpu, t0, t1, key="pages", step=1):
        """(start, end, MiB/s) of consecutive windows within [t0, t1]."""
        i, j = self.idx(t0), self.idx_before(t1)
        out = []
        while i + step <= j:
            a, b = self.samples[i], self.samples[i + step]
            va = a.pages[cpu] if key == "pages" else a.bytes[cpu] / 4096
            vb = b.pages[cpu] if key == "pages" else b.bytes[cpu] / 4096
            out.append((a.t, b.t, (vb - va) / PAGES_PER_MIB / (b.t - a.t)))
            i += step
        return out

    def rate(self, cpu, t0, t1, key="pages"):
        """Mean MiB/s (or, key "bytes", MiB/s read) between the samples bounding [t0, t1]."""
        a, b = self.samples[self.idx(t0)], self.samples[self.idx_before(t1)]
        if b.t <= a.t:
            return float("nan")
        if key == "pages":
            return (b.pages[cpu] - a.pages[cpu]) / PAGES_PER_MIB / (b.t - a.t)
        return (b.bytes[cpu] - a.bytes[cpu]) / (1 << 20) / (b.t - a.t)

    def dump(self, path, t_origin, t_from=None, t_to=None):
        """Time series for the plots: per cpu, 100 ms windows as flat segments."""
        t_from = self.samples[0].t if t_from is None else t_from
        t_to = self.samples[-1].t if t_to is None else t_to
        with open(path, "w") as f:
            f.write("# t_s cpu rate_MiB_s (two points per 100 ms window)\n")
            for c in range(len(self.samples[0].pages)):
                for a, b, r in self.windows(c, t_from, t_to):
                    if b - a < 0.02:  # the sliver between a command's reply and the sample before it
                        continue
                    f.write("%.4f %d %.4f\n%.4f %d %.4f\n" % (a - t_origin, c, r, b - t_origin, c, r))
                f.write("\n\n")


def pct(values, p):
    """Percentile by linear interpolation (numpy's default)."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def analyse_phase(rec, cpu, limit, t_set, t_end):
    """Metrics of one vCPU limited to LIMIT MiB/s from t_set to t_end."""
    w = rec.windows(cpu, t_set, t_end)
    bad = [x for x in w if abs(x[2] / limit - 1) > BAND]
    settle = (bad[-1][1] - t_set) if bad else 0.0
    if t_end - t_set - settle < MIN_STEADY - 0.05:
        settle = None  # never settled
    ts = t_set + (max(STEADY_FROM, settle) if settle is not None else STEADY_FROM)
    steady = [x for x in w if x[0] >= ts - 1e-6]
    errs = [(x[2] / limit - 1) * 100 for x in steady]
    w1 = rec.windows(cpu, ts, t_end, step=10)
    errs1 = [(x[2] / limit - 1) * 100 for x in w1]
    last = rec.samples[rec.idx_before(t_end)]
    stall = last.stall_us[cpu]
    return {
        "limit": limit,
        "settle": settle,
        "mean": (rec.rate(cpu, ts, t_end) / limit - 1) * 100,
        "p5": pct(errs, 5),
        "p95": pct(errs, 95),
        "p5_1s": pct(errs1, 5) if errs1 else None,
        "p95_1s": pct(errs1, 95) if errs1 else None,
        "worst": max(errs) if errs else None,
        "stall_ms": stall / 1000 if stall is not None else None,
        "steady_s": t_end - ts,
    }


def cancel_metrics(rec, cpu, t_cancel, t_end, full):
    """After a cancel: seconds from the reply to the end of the first 100 ms window at >= 90%
    of full speed, "full" taken two ways.  cancel_base: the run's unthrottled baseline (the
    literal target).  cancel: the speed the vCPU then holds (median window from 0.5 s after the
    cancel), when that is lower: this host's speed for one unthrottled vCPU moves between two
    levels ~25% apart for seconds at a time, limiter or not, and a target taken against the
    fast level would time the host, not the limiter.  plateau: that held speed, % of baseline
    (a limiter that kept throttling after the cancel would show here)."""
    w = rec.windows(cpu, t_cancel, t_end)
    held = [r for a, b, r in w if a >= t_cancel + 0.5]
    plateau = statistics.median(held) if held else float("nan")

    def first(ref):
        for a, b, r in w:
            if r >= 0.9 * ref:
                return b - t_cancel
        return None

    return {"cancel_base": first(full), "cancel": first(min(full, plateau) if held else full),
            "plateau": plateau / full * 100}


def unthrottled(rec, cpu, t0, t1, key="pages"):
    """Median 100 ms rate over [t0, t1]."""
    if key == "pages":
        return statistics.median(r for _, _, r in rec.windows(cpu, t0, t1))
    return rec.rate(cpu, t0, t1, key)


# ---------------------------------------------------------------- the cases

class Ctx:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.results = {}  # case key -> list of metric dicts (one per repeat)
        self.order = []
        self.notes = []
        self.series = {}  # plot name -> (recorder, origin, ...)
        self.calc = []  # calc-dirty-rate comparisons
        self.qemu_obs = []  # what QEMU did, per run
        self.rep = 0
        self.workdir = args.data

    def dur(self, limit):
        """Length of a limited phase: long enough at low limits for the mean to mean something."""
        if self.quick:
            return 4.0
        if limit <= 1:
            return 10.0
        if limit <= 5:
            return 6.0
        return 5.0

    def add(self, key, m):
        if key not in self.results:
            self.results[key] = []
            self.order.append(key)
        self.results[key].append(m)


def with_lock(fn):
    """Run fn() holding the VM lock (one VM at a time on this host)."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        t = mono()
        fcntl.flock(fd, fcntl.LOCK_EX)
        if mono() - t > 1:
            log("waited %.0f s for %s" % (mono() - t, LOCK))
        return fn()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def dmesg_lines():
    try:
        return subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None


def new_warnings(before, after):
    if before is None or after is None:
        return ["(dmesg not readable)"]
    # dmesg is a ring buffer: take what follows the last line we had seen.
    last = before[-1] if before else None
    start = 0
    if last is not None and last in after:
        start = len(after) - after[::-1].index(last)
    return [l for l in after[start:] if re.search(r"WARNING|dirty_ring|BUG|Call Trace", l)]


def vmm_session(ctx, name, ncpus, ring, append, body, extra=()):
    """Boot vmm under the lock, run body(rec), always shut it down."""

    def run():
        d0 = dmesg_lines()
        g = VmmGuest(ctx.args.vmm, ctx.workdir, "%s-r%d" % (name, ctx.rep), ncpus, ring, append, extra)
        rec = Recorder(g)
        try:
            if not g.has_stall and "stall" not in ctx.notes:
                ctx.notes.append("stall")
                log("x-query-guest-stats has no max-stall-us here: the stall column is n/a")
            body(rec)
        finally:
            g.close()
            save_series(rec, os.path.join(ctx.workdir, g.name))
        w = new_warnings(d0, dmesg_lines())
        if w:
            ctx.notes.append("dmesg after vmm %s: %s" % (name, " | ".join(w[:3])))
        if g.proc.returncode not in (0, None):
            ctx.notes.append("vmm %s exited %s: %s" % (name, g.proc.returncode, g.stderr_tail(2)))
        return rec

    log("vmm %s (%d vCPU, ring %d): %s" % (name, ncpus, ring, append))
    return with_lock(run)


def save_series(rec, base):
    """Every run's raw samples and commands, for a look afterwards."""
    if not rec.samples:
        return
    t0 = rec.samples[0].t
    with open(base + ".samples", "w") as f:
        f.write("# t_s pages_written... bytes_read... stall_us...\n")
        for s in rec.samples:
            f.write("%.4f %s %s %s\n" % (s.t - t0, " ".join(map(str, s.pages)),
                                        " ".join(map(str, s.bytes)), " ".join(map(str, s.stall_us))))
    with open(base + ".marks", "w") as f:
        for t, label in rec.marks:
            f.write("%.4f %s\n" % (t - t0, label))


def limit_cycle(rec, limit, dur, cancel_dur, cpu=None):
    """Set LIMIT (on cpu, or every vCPU), hold for dur, cancel, run cancel_dur; (t_set, t_cancel, t_end)."""
    args = {"dirty-rate": limit}
    cargs = None
    if cpu is not None:
        args["cpu-index"] = cpu
        cargs = {"cpu-index": cpu}
    lim = {"cpu": cpu, "mib": limit}
    t_set = rec.act("set %d" % limit, "set-vcpu-dirty-limit", args, reset=True, limits=lim)
    rec.poll(dur)
    t_c = rec.act("cancel", "cancel-vcpu-dirty-limit", cargs, limits={"cpu": cpu, "mib": None})
    rec.poll(cancel_dur)
    return t_set, t_c, rec.samples[-1].t


def worst(ms):
    """Combine the metrics of several limited vCPUs: the worse of each."""
    out = dict(ms[0])
    for m in ms[1:]:
        out["settle"] = None if None in (out["settle"], m["settle"]) else max(out["settle"], m["settle"])
        if abs(m["mean"]) > abs(out["mean"]):
            out["mean"] = m["mean"]
        for k, f in (("p5", min), ("p95", max), ("p5_1s", min), ("p95_1s", max), ("worst", max),
                     ("stall_ms", max), ("cancel", max), ("cancel_base", max), ("plateau", min)):
            vals = [x for x in (out.get(k), m.get(k)) if x is not None]
            if k.startswith("cancel") and (out.get(k) is None or m.get(k) is None):
                out[k] = None
            else:
                out[k] = f(vals) if vals else None
    return out


def group_single(ctx, pattern, ring):
    """One writer: every limit from an unthrottled start, then cancel."""
    name = "%s-1cpu-%d" % (pattern, ring)
    cancel_dur = 1.0 if ctx.quick else 1.5
    base_dur = 2.0 if ctx.quick else 3.0
    out = {}

    def body(rec):
        rec.wait_running([0])
        rec.poll(base_dur)
        t0 = rec.samples[-1].t
        full = unthrottled(rec, 0, t0 - (base_dur - 1.0), t0)
        out["full"] = full
        if pattern == "seq" and ring == 65536:
            calc_compare(ctx, rec, "vmm")
            rec.poll(0.5)
        limits = ctx.args.limits or [1, 5, 25, 100, 400, None]
        for lim in limits:
            label = lim
            if lim is None:
                lim = int(0.9 * full)
                label = "90%"
            dur = ctx.dur(lim)
            if pattern == "seq" and ring == 65536 and lim == 25 and not ctx.quick:
                dur = 10.0  # as long as QEMU's 25 MiB/s phase, for the plot side by side
            t_set, t_c, t_end = limit_cycle(rec, lim, dur, cancel_dur)
            m = analyse_phase(rec, 0, lim, t_set, t_c)
            m.update(cancel_metrics(rec, 0, t_c, t_end, full))
            m["full"] = full
            # What the host gave an unthrottled vCPU just before the set and after the cancel:
            # the 90% rows ask for more than that when the host is in its slow phase.
            m["avail_before"] = unthrottled(rec, 0, t_set - 1.0, t_set)
            m["avail_after"] = m["plateau"] * full / 100
            m["achieved"] = rec.rate(0, t_set + STEADY_FROM, t_c)
            ctx.add(("%s, 1 vCPU" % pattern, ring, label), m)
            if ctx.rep == 0 and pattern == "seq" and ring == 65536 and lim in (1, 25):
                ctx.series["ours-%d" % lim] = (rec, t_set, t_c, lim)

    vmm_session(ctx, name, 1, ring, "wss=%s pattern=%s report=0" % (WSS, pattern), body)
    return out


def group_two(ctx, mode, ring=65536):
    """Two writers: both limited ("both"), or cpu0 limited next to an unlimited writer ("one")."""
    name = "seq-2cpu-%s-%d" % (mode, ring)
    cancel_dur = 1.5 if ctx.quick else 2.0
    base_dur = 2.0 if ctx.quick else 3.0

    def body(rec):
        rec.wait_running([0, 1])
        rec.poll(base_dur)
        t0 = rec.samples[-1].t
        full = [unthrottled(rec, c, t0 - (base_dur - 1.0), t0) for c in (0, 1)]
        t_prev = t0 - (base_dur - 1.0) - 0.5  # unthrottled from t_prev + 0.5 s
        for lim in (1, 25, 400):
            cpu = None if mode == "both" else 0
            t_set, t_c, t_end = limit_cycle(rec, lim, ctx.dur(lim), cancel_dur, cpu)
            if mode == "both":
                ms = []
                for c in (0, 1):
                    m = analyse_phase(rec, c, lim, t_set, t_c)
                    m.update(cancel_metrics(rec, c, t_c, t_end, full[c]))
                    ms.append(m)
                m = worst(ms)
                ctx.add(("seq, 2 vCPUs, both limited (worse of the 2)", ring, lim), m)
            else:
                m = analyse_phase(rec, 0, lim, t_set, t_c)
                m.update(cancel_metrics(rec, 0, t_c, t_end, full[0]))
                # the unlimited neighbour: its rate in the steady phase vs unthrottled around it
                ts = t_set + STEADY_FROM
                before = rec.rate(1, max(t_prev + 0.5, t_set - 1.5), t_set)
                after = rec.rate(1, t_c + 0.5, t_end)
                m["reader"] = rec.rate(1, ts, t_c) / ((before + after) / 2) * 100
                ctx.add(("seq, cpu0 limited, cpu1 unlimited writer", ring, lim), m)
            t_prev = t_c

    vmm_session(ctx, name, 2, ring, "wss=%s pattern=seq report=0" % WSS, body)


def group_reader(ctx, ring=65536):
    """cpu0 writes, cpu1 reads: the reader's speed with cpu0 (or every vCPU) limited.

    This host's speed for one vCPU moves between levels up to ~25% apart for
    seconds at a time, limiter or not, so one long limited phase against one
    unlimited phase measures the host.  Instead: 1 s unlimited, 1 s limited,
    repeated; each limited second is compared with the mean of the unlimited
    seconds around it (first 0.2 s of each dropped), and the median ratio is
    reported.  The writer's mean error is over its limited seconds (from 0.3 s
    after each set: they are too short for the other metrics)."""
    name = "reader-%d" % ring
    cycles = 3 if ctx.quick else 6

    def body(rec):
        rec.wait_running([0, 1], key="any")
        rec.poll(2.0)
        for lim, cpu in ((1, 0), (25, 0), (400, 0), (1, None), (25, None)):
            args = {"dirty-rate": lim}
            cargs = None
            if cpu is not None:
                args["cpu-index"] = cpu
                cargs = {"cpu-index": cpu}
            free = [(rec.samples[-1].t - 0.8, rec.samples[-1].t)]
            held = []
            for _ in range(cycles):
                t_set = rec.act("set %d" % lim, "set-vcpu-dirty-limit", args,
                                limits={"cpu": cpu, "mib": lim})
                rec.poll(1.0)
                t_c = rec.act("cancel", "cancel-vcpu-dirty-limit", cargs,
                              limits={"cpu": cpu, "mib": None})
                rec.poll(1.0)
                held.append((t_set, t_c))
                free.append((t_c, rec.samples[-1].t))
            ratios = []
            for i, (t_set, t_c) in enumerate(held):
                r = rec.rate(1, t_set + 0.2, t_c, "bytes")
                around = [rec.rate(1, a + 0.2, b, "bytes") for a, b in (free[i], free[i + 1])]
                ratios.append(r / (sum(around) / 2) * 100)
            pages = sum(rec.samples[rec.idx_before(t_c)].pages[0] - rec.samples[rec.idx(t_set + 0.3)].pages[0]
                        for t_set, t_c in held)
            secs = sum(rec.samples[rec.idx_before(t_c)].t - rec.samples[rec.idx(t_set + 0.3)].t
                       for t_set, t_c in held)
            m = {"limit": lim, "settle": 0.0, "mean": (pages / PAGES_PER_MIB / secs / lim - 1) * 100,
                 "p5": None, "p95": None, "p5_1s": None, "p95_1s": None, "stall_ms": None,
                 "reader": statistics.median(ratios), "reader_all": ratios, "reader_only": True}
            who = "cpu0" if cpu == 0 else "both vCPUs (the reader too)"
            ctx.add(("seq, cpu0 writer + cpu1 reader, %s limited (1 s on / 1 s off)" % who, ring, lim), m)

    vmm_session(ctx, name, 2, ring, "wss=%s pattern=seq writers=0 report=0" % WSS, body)


def group_step(ctx, ring):
    """400 -> 25 -> 100 MiB/s while running, then cancel."""
    name = "step-%d" % ring
    hold = 4.0

    def body(rec):
        rec.wait_running([0])
        rec.poll(2.0 if ctx.quick else 3.0)
        t0 = rec.samples[-1].t
        full = unthrottled(rec, 0, t0 - 1.5, t0)
        prev = "unthrottled"
        ts = []
        for lim in (400, 25, 100):
            t = rec.act("set %d" % lim, "set-vcpu-dirty-limit", {"dirty-rate": lim}, reset=True,
                        limits={"cpu": None, "mib": lim})
            rec.poll(hold)
            ts.append((t, lim, prev))
            prev = lim
        t_c = rec.act("cancel", "cancel-vcpu-dirty-limit", limits={"cpu": None, "mib": None})
        rec.poll(1.5)
        for i, (t, lim, p) in enumerate(ts):
            t_end = ts[i + 1][0] if i + 1 < len(ts) else t_c
            m = analyse_phase(rec, 0, lim, t, t_end)
            if i + 1 == len(ts):
                m.update(cancel_metrics(rec, 0, t_c, rec.samples[-1].t, full))
            ctx.add(("seq, step %s -> %d" % (p, lim), ring, lim), m)
        if ctx.rep == 0 and ring == 65536:
            ctx.series["step"] = (rec, ts[0][0] - 1.0, rec.samples[-1].t, None)

    vmm_session(ctx, name, 1, ring, "wss=%s pattern=seq report=0" % WSS, body)


def calc_compare(ctx, rec, who):
    """calc-dirty-rate (dirty-ring mode) against the guest's own counter over the same second."""
    g = rec.g
    args = {"calc-time": 1}
    if who == "qemu":
        args["mode"] = "dirty-ring"
    t0 = rec.act("calc-dirty-rate", "calc-dirty-rate", args)
    rec.poll(1.0)
    t1 = rec.samples[-1].t
    deadline = mono() + 5
    r = None
    while mono() < deadline:
        r = g.cmd("query-dirty-rate")
        if r.get("status") == "measured":
            break
        rec.poll(0.1)
    guest = rec.rate(0, t0, min(t1, t0 + 1.0))
    ctx.calc.append({"who": who, "reported": r.get("dirty-rate") if r else None,
                     "status": r.get("status") if r else None, "guest": guest,
                     "mode": r.get("mode") if r else None})


def qemu_session(ctx, ring, limits):
    """The same guest under QEMU: unthrottled, calc-dirty-rate, then each limit and its cancel."""
    name = "qemu-%d-r%d" % (ring, ctx.rep)
    append = "wss=%s pattern=seq report=0" % WSS
    obs = {"ring": ring, "rep": ctx.rep, "phases": []}

    def run():
        d0 = dmesg_lines()
        g = QemuGuest(ctx.args.stress, ctx.workdir, name, ring, append)
        rec = Recorder(g)
        try:
            rec.wait_running([0])
            rec.poll(3.0)
            t0 = rec.samples[-1].t
            full = unthrottled(rec, 0, t0 - 2.0, t0)
            obs["untracked"] = full
            if ring == 4096:
                calc_compare(ctx, rec, "qemu")
                rec.poll(1.0)
            for lim in limits:
                dur = 4.0 if ctx.quick else (10.0 if lim == 25 else 6.0)
                cancel_dur = 3.0
                gap0 = rec.samples[-1].stall_us[0]
                q, t_c = None, None
                try:
                    t_set = rec.act("set %d" % lim, "set-vcpu-dirty-limit", {"dirty-rate": lim},
                                    reset=True, limits={"cpu": None, "mib": lim})
                except QmpError:
                    t_set = g.qmp_dead or mono()
                    rec.limits.append((t_set, {"cpu": None, "mib": lim}))
                rec.poll(dur)
                if g.qmp_dead is None:
                    try:
                        q = g.cmd("query-vcpu-dirty-limit")
                        t_c = rec.act("cancel", "cancel-vcpu-dirty-limit",
                                      limits={"cpu": None, "mib": None})
                    except QmpError:
                        pass
                if t_c is None:  # the monitor is dead: nothing can be cancelled; keep watching
                    t_c = rec.samples[-1].t
                rec.poll(cancel_dur)
                t_end = rec.samples[-1].t
                m = analyse_phase(rec, 0, lim, t_set, t_c)
                m.update(cancel_metrics(rec, 0, t_c, t_end, full))
                # max_gap_tsc was reset at the set if /proc/PID/mem was writable; if not, a
                # raise during the phase is the phase's maximum.
                gap1 = rec.samples[rec.idx_before(t_c)].stall_us[0]
                if g.has_reset:
                    m["stall_ms"] = gap1 / 1000 if gap1 is not None else None
                else:
                    m["stall_ms"] = gap1 / 1000 if gap1 and gap0 is not None and gap1 > gap0 else None
                # A freeze shows as a counter that stopped moving: the longest run of flat samples.
                flat, run_start = 0.0, None
                i0, i1 = rec.idx(t_set), rec.idx_before(t_end)
                for s0, s1 in zip(rec.samples[i0:i1], rec.samples[i0 + 1:i1 + 1]):
                    if s1.pages[0] == s0.pages[0]:
                        run_start = s0.t if run_start is None else run_start
                        flat = max(flat, s1.t - run_start)
                    else:
                        run_start = None
                m["flat_ms"] = flat * 1000
                if m["flat_ms"] >= 200:
                    m["stall_ms"] = max(m["stall_ms"] or 0, m["flat_ms"])
                ctx.add(("QEMU 7.2, seq, 1 vCPU", ring, lim), m)
                ph = {"limit": lim, "first_1s": rec.rate(0, t_set, t_set + 1.0),
                      "last_2s": rec.rate(0, t_c - 2.0, t_c), "after_cancel": rec.rate(0, t_c + 1.0, t_end),
                      "qemu_current_rate": [e.get("current-rate") for e in q or []],
                      "progress_after_cancel": rec.samples[-1].pages[0] > rec.samples[rec.idx(t_c)].pages[0],
                      "flat_ms": m["flat_ms"]}
                if g.qmp_dead is not None:
                    ph["qmp_dead_s_after_set"] = g.qmp_dead - t_set
                    ph["rate_after_qmp_dead"] = rec.rate(0, g.qmp_dead, t_end)
                    ph["threads"] = g.dead_threads
                obs["phases"].append(ph)
                if ctx.rep == 0 and ring == 4096 and lim == 25:
                    ctx.series["qemu-25"] = (rec, t_set, t_c, lim)
                if not g.alive() or g.qmp_dead is not None:
                    break
        finally:
            g.close()
            save_series(rec, os.path.join(ctx.workdir, g.name))
        obs["dmesg"] = new_warnings(d0, dmesg_lines())
        obs["stderr"] = g.stderr_tail(3)
        return rec

    log("qemu ring %d: limits %s" % (ring, limits))
    try:
        with_lock(run)
    except QmpError as e:
        obs["error"] = str(e)
        log("qemu: %s" % e)
    ctx.qemu_obs.append(obs)


# ---------------------------------------------------------------- output

def med(ms, key):
    vals = [m.get(key) for m in ms]
    if key in ("settle", "cancel", "cancel_base"):
        vals = [math.inf if v is None else v for v in vals]
    else:
        vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return None
    return statistics.median(vals)


def mark(ok):
    return " ✓" if ok else " ✗"


def fmt_row(key, ms):
    case, ring, label = key
    lim = statistics.median(m["limit"] for m in ms)
    lim_s = "%s (%d)" % (label, lim) if isinstance(label, str) else "%g" % lim
    st = med(ms, "settle")
    if ms[0].get("reader_only"):
        settle = "n/a"
    elif st == math.inf:
        settle = "never" + mark(False)
    else:
        settle = ("≤100" if st == 0 else "%.0f" % (st * 1000)) + mark(st < 0.5)
    mean = med(ms, "mean")
    p5, p95 = med(ms, "p5"), med(ms, "p95")
    p51, p951 = med(ms, "p5_1s"), med(ms, "p95_1s")
    stall = med(ms, "stall_ms")
    rd = med(ms, "reader")
    cc, cb, pl = med(ms, "cancel"), med(ms, "cancel_base"), med(ms, "plateau")
    has_cancel = any("cancel" in m for m in ms)

    def ms_(x):
        return "> run" if x == math.inf else "%.0f" % (x * 1000)
    cells = [
        case, str(ring), lim_s, settle,
        "%+.1f%s" % (mean, mark(abs(mean) <= 2)) if mean is not None else "n/a",
        "%+.0f / %+.0f%s" % (p5, p95, mark(p5 >= -10 and p95 <= 10)) if p5 is not None else "n/a",
        "%+.0f / %+.0f" % (p51, p951) if p51 is not None else "n/a",
        "%.1f" % stall if stall is not None else "n/a",
        ("%.1f%s" % (rd, mark(rd >= 97))) if rd is not None else "",
        "%s%s (%s; %.0f%%)" % (ms_(cc), mark(cc <= 0.5), ms_(cb), pl)
        if has_cancel and cc is not None else "",
        str(len(ms)),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = ("| case | ring | limit MiB/s | settle ms | mean err % | 100 ms p5 / p95 % | 1 s p5 / p95 % "
          "| longest stall ms | reader / neighbour % | cancel → 90% ms (vs baseline ms; held speed % of baseline) | n |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def summary(ctx):
    """The targets, judged on the medians."""
    lines = ["| target | result | |", "| --- | --- | --- |"]
    ours = {k: v for k, v in ctx.results.items() if not k[0].startswith("QEMU")}
    # lowest limit held (mean within 2%) per ring, single writer, either pattern
    for ring in (4096, 65536):
        held = sorted({med(v, "limit") for k, v in ours.items()
                       if k[1] == ring and "1 vCPU" in k[0] and abs(med(v, "mean")) <= 2})
        missed = sorted({med(v, "limit") for k, v in ours.items()
                         if k[1] == ring and "1 vCPU" in k[0] and abs(med(v, "mean")) > 2})
        if held or missed:
            lo = held[0] if held else None
            lines.append("| %s, ring %d | lowest held: %s MiB/s%s | %s |" % (
                TARGETS["lowest"], ring, "%g" % lo if lo is not None else "none",
                ("; missed at %s" % ", ".join("%g" % x for x in missed)) if missed else "",
                "✓" if lo is not None and lo <= 1 else "✗"))

    def judge(name, test, rows):
        bad = [k for k, v in rows.items() if not test(v)]
        lines.append("| %s | %d of %d cases%s | %s |" % (
            TARGETS[name], len(rows) - len(bad), len(rows),
            ("; misses: " + "; ".join("%s ring %d @ %s" % k for k in bad[:8]) +
             (" ..." if len(bad) > 8 else "")) if bad else "", "✓" if not bad else "✗"))

    judge("settle", lambda v: med(v, "settle") < 0.5,
          {k: v for k, v in ours.items() if not v[0].get("reader_only")})
    judge("mean", lambda v: abs(med(v, "mean")) <= 2, ours)
    judge("win", lambda v: med(v, "p5") >= -10 and med(v, "p95") <= 10,
          {k: v for k, v in ours.items() if not v[0].get("reader_only")})
    judge("reader", lambda v: med(v, "reader") >= 97,
          {k: v for k, v in ours.items() if med(v, "reader") is not None and "reader" in k[0]})
    judge("cancel", lambda v: med(v, "cancel") <= 0.5,
          {k: v for k, v in ours.items() if any("cancel" in m for m in v)})
    judge("cancel_base", lambda v: med(v, "cancel_base") <= 0.5,
          {k: v for k, v in ours.items() if any("cancel" in m for m in v)})
    return "\n".join(lines)


def qemu_report(ctx):
    out = []
    for o in ctx.qemu_obs:
        out.append("- QEMU ring %d, run %d: unthrottled (no dirty tracking) %.0f MiB/s%s" % (
            o["ring"], o["rep"] + 1, o.get("untracked", float("nan")),
            (" — ERROR: " + o["error"]) if "error" in o else ""))
        for p in o["phases"]:
            out.append("  - limit %d: first 1 s after the set %.1f MiB/s, last 2 s %.1f MiB/s, "
                       "QEMU's current-rate %s, longest flat counter %.0f ms, after cancel %.0f MiB/s, "
                       "progress after cancel: %s" % (
                           p["limit"], p["first_1s"], p["last_2s"], p["qemu_current_rate"],
                           p["flat_ms"], p["after_cancel"],
                           "yes" if p["progress_after_cancel"] else "NO"))
            if "qmp_dead_s_after_set" in p:
                out.append("  - QEMU's monitor stopped answering %.1f s after the set (nothing could be "
                           "cancelled); the guest's counter read from /proc/PID/mem afterwards: %.1f MiB/s; "
                           "QEMU's threads then: %s" % (p["qmp_dead_s_after_set"], p["rate_after_qmp_dead"],
                                                         p["threads"]))
        out.append("  - kernel log: %s" % ("; ".join(o.get("dmesg", [])) or "no warning"))
    return "\n".join(out)


def ninety_report(ctx):
    lines = ["| case | ring | run | limit MiB/s | achieved (from 0.5 s) | unthrottled 1 s before the set | "
             "unthrottled after the cancel |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for key in ctx.order:
        if key[2] != "90%":
            continue
        for i, m in enumerate(ctx.results[key]):
            lines.append("| %s | %d | %d | %d | %.0f (%+.1f%%) | %.0f | %.0f |" % (
                key[0], key[1], i + 1, m["limit"], m["achieved"], (m["achieved"] / m["limit"] - 1) * 100,
                m["avail_before"], m["avail_after"]))
    return "\n".join(lines)


def calc_report(ctx):
    lines = ["| monitor | mode | reported MiB/s | guest's counter MiB/s | ratio |",
             "| --- | --- | ---: | ---: | ---: |"]
    for c in ctx.calc:
        rep = c["reported"]
        lines.append("| %s | %s | %s | %.0f | %s |" % (
            c["who"], c["mode"], rep if rep is not None else c["status"], c["guest"],
            "%.2f" % (rep / c["guest"]) if rep is not None and c["guest"] else "n/a"))
    return "\n".join(lines)


# ---------------------------------------------------------------- plots

def plots(ctx, outdir):
    os.makedirs(outdir, exist_ok=True)
    d = ctx.workdir
    made = []
    common = ('set terminal pngcairo size 1100,%d enhanced font "DejaVu Sans,11"\n'
              'set grid ytics xtics lc rgb "#dddddd"\nset key top right box opaque\n'
              'set xlabel "time since the set-vcpu-dirty-limit reply (s)"\n')

    def band_file(path, pieces):
        """Limit segments: t0 t1 limit -> 'x y ylow yhigh' lines, blank line between."""
        with open(path, "w") as f:
            for t0, t1, lim in pieces:
                for t in (t0, t1):
                    f.write("%.4f %.4f %.4f %.4f\n" % (t, lim, lim * (1 - BAND), lim * (1 + BAND)))
                f.write("\n")

    def pieces_of(rec, origin, t_stop):
        out = []
        cur = None
        for t, l in rec.limits:
            if cur is not None and cur[1] is not None:
                out.append((cur[0] - origin, min(t, t_stop) - origin, cur[1]))
            cur = (t, l["mib"])
        if cur is not None and cur[1] is not None and cur[0] < t_stop:
            out.append((cur[0] - origin, t_stop - origin, cur[1]))
        return [p for p in out if p[1] > p[0]]

    if "step" in ctx.series:
        rec, t_from, t_to, _ = ctx.series["step"]
        origin = t_from + 1.0
        rec.dump(os.path.join(d, "step.dat"), origin)
        band_file(os.path.join(d, "step-limit.dat"), pieces_of(rec, origin, t_to))
        png = os.path.join(outdir, "dirtylimit-step.png")
        gp = common % 520 + (
            'set output "%s"\n'
            'set title "vmm: limit 400 → 25 → 100 MiB/s, then cancel (1 vCPU, seq, ring 65536; guest counter, 100 ms windows)"\n'
            'set xlabel "time since the first set-vcpu-dirty-limit reply (400 MiB/s) (s)"\n'
            'set ylabel "guest dirty rate (MiB/s, log scale)"\nset logscale y\nset yrange [10:5000]\n'
            'set xrange [-1:%.1f]\n'
            'plot "%s" using 1:3:4 with filledcurves lc rgb "#c8e6c9" title "limit ±10%%", '
            '"%s" using 1:2 with lines lw 2 dt 2 lc rgb "#1b5e20" title "limit", '
            '"%s" index 0 using 1:3 with lines lw 1.5 lc rgb "#1565c0" title "guest, 100 ms windows"\n') % (
            png, t_to - origin, os.path.join(d, "step-limit.dat"), os.path.join(d, "step-limit.dat"),
            os.path.join(d, "step.dat"))
        made.append(gnuplot(gp, d, "step"))

    if "ours-1" in ctx.series and "ours-25" in ctx.series:
        png = os.path.join(outdir, "dirtylimit-1-25.png")
        gp = common % 800 + 'set output "%s"\nset multiplot layout 2,1\n' % png
        for key, lim in (("ours-1", 1), ("ours-25", 25)):
            rec, t_set, t_c, _ = ctx.series[key]
            f = os.path.join(d, "%s.dat" % key)
            fl = os.path.join(d, "%s-limit.dat" % key)
            f1 = os.path.join(d, "%s-1s.dat" % key)
            rec.dump(f, t_set)
            band_file(fl, [(0.0, t_c - t_set, lim)])
            with open(f1, "w") as out:
                for a, b, r in rec.windows(0, t_set, t_c, step=10):
                    out.write("%.4f %.4f\n%.4f %.4f\n" % (a - t_set, r, b - t_set, r))
            gp += (
                'set title "vmm: limit %d MiB/s set at 0 s, cancelled at %.1f s (1 vCPU, seq, ring 65536; unthrottled ≈ %.0f MiB/s, off scale)"\n'
                'set ylabel "guest dirty rate (MiB/s)"\nunset logscale y\nset yrange [0:%g]\nset xrange [-0.5:%.1f]\n'
                'plot "%s" using 1:3:4 with filledcurves lc rgb "#c8e6c9" title "limit ±10%%", '
                '"%s" using 1:2 with lines lw 2 dt 2 lc rgb "#1b5e20" title "limit", '
                '"%s" index 0 using 1:3 with lines lw 1 lc rgb "#1565c0" title "100 ms windows", '
                '"%s" using 1:2 with lines lw 3 lc rgb "#e65100" title "1 s windows"\n') % (
                lim, t_c - t_set, ctx.results[("seq, 1 vCPU", 65536, 1)][0].get("full", 0) or 0,
                3 * lim, t_c - t_set + 0.7, fl, fl, f, f1)
        gp += "unset multiplot\n"
        made.append(gnuplot(gp, d, "one-25"))

    if "ours-25" in ctx.series and "qemu-25" in ctx.series:
        png = os.path.join(outdir, "dirtylimit-vs-qemu.png")
        ro, so, co, _ = ctx.series["ours-25"]
        rq, sq, cq, _ = ctx.series["qemu-25"]
        fo, fq = os.path.join(d, "vsq-ours.dat"), os.path.join(d, "vsq-qemu.dat")
        ro.dump(fo, so, so - 1.2, co + 1.5)
        rq.dump(fq, sq, sq - 1.2, cq + 1.5)
        fl = os.path.join(d, "vsq-limit.dat")
        band_file(fl, [(0.0, max(co - so, cq - sq), 25)])
        gp = common % 560 + (
            'set output "%s"\n'
            'set title "Limit 25 MiB/s set at 0 s on the same guest (seq, 256 MiB working set): vmm (ring 65536) vs QEMU 7.2 (ring 4096)"\n'
            'set ylabel "guest dirty rate (MiB/s, log scale)"\nset logscale y\nset yrange [5:300000]\n'
            'set xrange [-1:%.1f]\n'
            'set arrow from %.2f, graph 0 to %.2f, graph 1 nohead dt 3 lc rgb "#b71c1c"\n'
            'set label "QEMU cancel" at %.2f, graph 0.35 right offset -0.5,0 tc rgb "#b71c1c"\n'
            'set arrow from %.2f, graph 0 to %.2f, graph 1 nohead dt 3 lc rgb "#0d47a1"\n'
            'set label "vmm cancel" at %.2f, graph 0.28 right offset -0.5,0 tc rgb "#0d47a1"\n'
            'set key at graph 0.99, graph 0.80 box opaque\n'
            'set label "QEMU tracks no dirty pages until a limit is set: its guest writes at cache speed" at first -0.95, first 40000 left tc rgb "#c62828"\n'
            'plot "%s" using 1:3:4 with filledcurves lc rgb "#c8e6c9" title "limit ±10%%", '
            '"%s" using 1:2 with lines lw 2 dt 2 lc rgb "#1b5e20" title "limit", '
            '"%s" index 0 using 1:3 with lines lw 1.5 lc rgb "#1565c0" title "vmm", '
            '"%s" index 0 using 1:3 with lines lw 1.5 lc rgb "#c62828" title "QEMU 7.2 (dirty-ring-size=4096)"\n') % (
            png, max(co - so, cq - sq) + 1.5, cq - sq, cq - sq, cq - sq, co - so, co - so, co - so,
            fl, fl, fo, fq)
        made.append(gnuplot(gp, d, "vsq"))
    return [m for m in made if m]


def gnuplot(script, d, name):
    path = os.path.join(d, name + ".gp")
    with open(path, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", path], capture_output=True, text=True)
    if r.returncode != 0:
        log("gnuplot %s failed: %s" % (name, r.stderr.strip()[-500:]))
        return None
    m = re.search(r'set output "([^"]+)"', script)
    return m.group(1) if m else None


# ---------------------------------------------------------------- main

GROUPS = ["seq65536", "seq4096", "random65536", "random4096", "both", "one", "reader", "step65536",
          "step4096", "qemu"]


def host_facts():
    facts = {}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            facts["cpu"] = m.group(1) if m else "?"
    except OSError:
        pass
    facts["cores"] = os.cpu_count()
    facts["kernel"] = os.uname().release
    try:
        facts["kvm_module"] = "kvm-pvm" if os.path.exists("/sys/module/kvm_pvm") else ", ".join(
            m for m in ("kvm_intel", "kvm_amd") if os.path.exists("/sys/module/" + m)) or "?"
    except OSError:
        pass
    try:
        facts["qemu"] = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                                       text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        facts["qemu"] = "absent"
    return facts


def add_build_args(ap):
    """--build, --vmm and --stress, as every benchmark here takes them (check_run resolves
    them)."""
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="meson build directory")
    ap.add_argument("--vmm", help="vmm binary (default BUILD/vmm)")
    ap.add_argument("--stress", help="stress kernel (default BUILD/guest/stress.elf)")


def check_run(prog, args, qemu):
    """Before a run: args.vmm and args.stress (BUILD's unless given) exist and /dev/kvm is
    there, or exit with one message naming PROG; QEMU (if qemu) and gnuplot (for --plots)
    are installed by bench/setup.sh when missing."""
    args.vmm = args.vmm or os.path.join(args.build, "vmm")
    args.stress = args.stress or os.path.join(args.build, "guest", "stress.elf")
    for p in (args.vmm, args.stress):
        if not os.path.exists(p):
            sys.exit("%s: %s not found (build first: meson setup build && ninja -C build)" % (prog, p))
    if not os.path.exists("/dev/kvm"):
        sys.exit("%s: /dev/kvm is absent: nothing to measure" % prog)
    need = []
    if qemu and not shutil.which("qemu-system-x86_64"):
        need.append("qemu-system-x86")
    if args.plots and not shutil.which("gnuplot"):
        need.append("gnuplot-nox")
    if need:
        subprocess.run([os.path.join(ROOT, "bench", "setup.sh")] + need, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one repeat, short phases")
    ap.add_argument("--repeats", type=int, default=None, help="repeats (default 3, 1 with --quick)")
    add_build_args(ap)
    ap.add_argument("--data", help="directory for logs and time series (default: a new /tmp dir)")
    ap.add_argument("--plots", help="write the PNG plots into this directory (e.g. docs/img)")
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--no-qemu", action="store_true", help="skip the QEMU rows")
    ap.add_argument("--limits", type=lambda v: [None if x == "90%" else int(x) for x in v.split(",")],
                    help="limits of the single-writer groups (default 1,5,25,100,400,90%%)")
    ap.add_argument("--only", help="comma-separated groups: " + ",".join(GROUPS))
    args = ap.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    groups = args.only.split(",") if args.only else list(GROUPS)
    if args.no_qemu and "qemu" in groups:
        groups.remove("qemu")
    for g in groups:
        if g not in GROUPS:
            ap.error("unknown group %s" % g)
    check_run("dirtylimit.py", args, "qemu" in groups)
    args.data = args.data or tempfile.mkdtemp(prefix="dl-bench-")
    os.makedirs(args.data, exist_ok=True)
    log("data in %s; %d repeat(s); groups %s" % (args.data, repeats, ",".join(groups)))

    ctx = Ctx(args)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t_start = mono()
    for rep in range(repeats):
        ctx.rep = rep
        log("--- repeat %d of %d" % (rep + 1, repeats))
        for grp in groups:
            try:
                if grp.startswith("seq") or grp.startswith("random"):
                    pat = "seq" if grp.startswith("seq") else "random"
                    group_single(ctx, pat, int(grp[len(pat):]))
                elif grp in ("both", "one"):
                    group_two(ctx, grp)
                elif grp == "reader":
                    group_reader(ctx)
                elif grp.startswith("step"):
                    group_step(ctx, int(grp[4:]))
                elif grp == "qemu":
                    qemu_session(ctx, 4096, [25, 400, 1])
                    qemu_session(ctx, 65536, [25, 400])
            except QmpError as e:
                ctx.notes.append("group %s, repeat %d: %s" % (grp, rep + 1, e))
                log("group %s failed: %s" % (grp, e))

    print("# dirty limiter benchmark, %s (%.0f s)\n" % (started, mono() - t_start))
    facts = host_facts()
    print("Host: %s; command: `%s`\n" % (
        ", ".join("%s %s" % (k, v) for k, v in facts.items()), " ".join(sys.argv)))
    print("Guest: stress kernel, -m %s, wss=%s per writer, report=0. Medians over the repeats "
          "(n); ✓/✗ against the targets.\n" % (MEM, WSS))
    print(HEADER)
    for key in ctx.order:
        print(fmt_row(key, ctx.results[key]))
    print("\n## Targets\n")
    print(summary(ctx))
    if any(k[2] == "90%" for k in ctx.order):
        print("\n## 90% of unthrottled: what the host gave\n")
        print(ninety_report(ctx))
    if ctx.calc:
        print("\n## calc-dirty-rate against the guest's counter\n")
        print(calc_report(ctx))
    if ctx.qemu_obs:
        print("\n## What QEMU did\n")
        print(qemu_report(ctx))
    notes = [n for n in ctx.notes if n != "stall"]
    if "stall" in ctx.notes:
        notes.insert(0, "this vmm's x-query-guest-stats has no max-stall-us: the stall column is n/a for vmm")
    if notes:
        print("\n## Notes\n")
        for n in notes:
            print("- " + n)
    if args.plots:
        made = plots(ctx, args.plots)
        print("\nPlots: " + ", ".join(made))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"started": started, "facts": facts, "argv": sys.argv,
                       "results": [{"case": k[0], "ring": k[1], "limit": str(k[2]), "runs": v}
                                   for k, v in ((k, ctx.results[k]) for k in ctx.order)],
                       "calc": ctx.calc, "qemu": ctx.qemu_obs, "notes": ctx.notes}, f, indent=1,
                      default=str)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The dirty limit laws side by side: vmm's four laws and QEMU 7.2 itself.

    bench/dirtylimit_laws.py [--quick] [--repeats N] [--laws L,...] [--cases C,...]
                             [--build DIR] [--data DIR] [--json FILE] [--plots DIR]

Runs the same guest (the bundled stress kernel), the same cases and the same
sensor (the guest's own counters, sampled every 100 ms) under every law of
`vmm --dirty-limit-law` (docs/dirtylimit.md) and under Debian's QEMU 7.2
(`-accel kvm,dirty-ring-size=N`, its own set-vcpu-dirty-limit), and prints
one table.  The measuring machinery (QMP clients, the guest-counter recorder,
settle / mean error / window / stall / cancel metrics, the VM lock) is
bench/dirtylimit.py's, imported; the columns mean what they mean there
(docs/bench-dirtylimit.md, "Method").

Cases (the limiter benchmark's):
  single   one writer (seq, 256 MiB), unthrottled 3 s, a limit for a phase,
           cancel, 2 s more; rings 4096 and 65536; limits 1, 25, 100, 400
           MiB/s and 90% of the unthrottled speed
  step     400 -> 25 -> 100 MiB/s, a phase each, then cancel; both rings
  reader   cpu0 writes, cpu1 reads; cpu0 limited for a phase (25 and 400
           MiB/s): the reader's speed in the steady part of the phase against
           its unlimited speed in the seconds before the set and after the
           cancel, in the same VM; ring 65536 by default (--reader-ring), as
           the limiter benchmark: with 4096 entries an unlimited writer halves
           the reader's speed on this host (shadow-MMU work: a reader beside a
           limited writer then reads 2.3-2.8x its "unlimited" speed, a
           reference that flatters every law); vmm only (the stress kernel
           runs one vCPU under QEMU)

Every phase starts from an unthrottled vCPU and a fresh law: the tuned
laws keep state across a cancel and the next set, as QEMU does (a vCPU's
sleep time; pct's throttle holds to the end of its period), so vmm's law is
restarted before each phase (x-set-dirty-limit-law) and QEMU gets a VM per
limit.  vmm's single-writer limits share a VM per law and ring (pct's two
by two), its reader limits one VM per law, each step one VM (inheriting
the previous limit's state is the point there).  No VM holds the lock more
than ~2.5 min but pct's step (~3 min).  Phases are as long as each law needs to show where it goes: 5 s for
the bucket, 20 s for qemu, linear and QEMU 7.2 (1 s periods), 60 s for pct
(15 s periods); the step phases too.  Extra column "last 5 s": the mean of
the last 5 s of the phase against the limit, where a slow law ends up.

QEMU 7.2 tracks no dirty page until a limit is set, so its unthrottled speed
is not comparable; its "90%" limit is 90% of vmm's unthrottled speed on the
same ring in the same repeat.  If its monitor stops answering (it has frozen
guests on this host), the case is recorded as such.

Takes /tmp/vmm-vm.lock around every VM: do not wrap it in flock.  Prints
markdown on standard output, progress on standard error.  Python 3 standard
library; gnuplot and QEMU from bench/setup.sh (installed if missing).
"""
import argparse
import fcntl
import json
import math
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dirtylimit as dlb  # noqa: E402  (bench/dirtylimit.py)

QEMU = "QEMU 7.2"
LAWS = ["bucket", "qemu", "linear", "pct", QEMU]
PHASE = {"bucket": 5.0, "qemu": 20.0, "linear": 20.0, "pct": 60.0, QEMU: 20.0}
QUICK_PHASE = {"bucket": 3.0, "qemu": 8.0, "linear": 8.0, "pct": 20.0, QEMU: 8.0}
BASE = 3.0  # s unthrottled before the first set
CANCEL = 2.0  # s after the cancel
LIMITS = [1, 25, 100, 400, "90%"]
RINGS = [4096, 65536]
STEP = [400, 25, 100]
READER_LIMITS = [25, 400]
READER_RING = 65536  # the limiter benchmark's; with 4096 the unlimited writer slows the reader (above)
CASES = ["single", "step", "reader"]
APPEND = "wss=%s pattern=seq report=0" % dlb.WSS
LAST = 5.0  # s: the "last 5 s" column


def law_name(spec):
    return spec if spec != QEMU else QEMU


def phase_of(ctx, law):
    base = law.split(":")[0]
    return (QUICK_PHASE if ctx.quick else PHASE).get(base, PHASE["qemu"])


class Ctx:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.workdir = args.data
        self.rep = 0
        self.results = {}  # (case, ring, limit label, law) -> [metrics]
        self.order = []
        self.series = {}  # (case, ring, limit label) -> {law: (recorder, t_origin, t_end, marks)}
        self.full = {}  # ring -> vmm's unthrottled speed this repeat
        self.notes = []
        self.lock_wait = 0.0
        self.lock_fd = None  # the VM lock while held across VMs (--hold)
        self.lock_since = 0.0

    def add(self, key, m):
        if key not in self.results:
            self.results[key] = []
            self.order.append(key)
        self.results[key].append(m)


def locked(ctx, fn):
    """Run fn() (one VM) holding the VM lock.  With --hold S the lock is kept for the next
    VM too while this hold has lasted less than S seconds: on a host shared with other
    people's suites, each new take of the lock waits minutes, so a long run takes it a few
    times rather than once per VM.  Never held between VMs past S, nor after the run."""
    if ctx.lock_fd is None:
        t = dlb.mono()
        fd = os.open(dlb.LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        wait = dlb.mono() - t
        if wait > 1:
            dlb.log("waited %.0f s for %s" % (wait, dlb.LOCK))
        ctx.lock_wait += wait
        ctx.lock_fd, ctx.lock_since = fd, dlb.mono()
    try:
        return fn()
    finally:
        if dlb.mono() - ctx.lock_since >= ctx.args.hold:
            unlock(ctx)


def unlock(ctx):
    if ctx.lock_fd is not None:
        fcntl.flock(ctx.lock_fd, fcntl.LOCK_UN)
        os.close(ctx.lock_fd)
        ctx.lock_fd = None


def boot(ctx, law, name, ncpus, ring):
    if law == QEMU:
        return dlb.QemuGuest(ctx.args.stress, ctx.workdir, name, ring, APPEND)
    append = APPEND + (" writers=0" if ncpus == 2 else "")
    return dlb.VmmGuest(ctx.args.vmm, ctx.workdir, name, ncpus, ring, append,
                        extra=["--dirty-limit-law", law])


def session(ctx, law, name, ncpus, ring, body):
    """One VM under the lock; body(rec, guest) -> None.  Always shut down."""

    def run():
        g = boot(ctx, law, "%s-r%d" % (name, ctx.rep), ncpus, ring)
        rec = dlb.Recorder(g)
        try:
            body(rec, g)
        finally:
            g.close()
            dlb.save_series(rec, os.path.join(ctx.workdir, g.name))
        if g.kind == "vmm" and g.proc.returncode not in (0, None):
            ctx.notes.append("vmm %s exited %s: %s" % (name, g.proc.returncode, g.stderr_tail(2)))
        return rec

    dlb.log("%s: %s (ring %d)" % (law, name, ring))
    return locked(ctx, run)


def set_limit(rec, g, lim, cpu=None):
    args = {"dirty-rate": lim}
    if cpu is not None:
        args["cpu-index"] = cpu
    try:
        return rec.act("set %d" % lim, "set-vcpu-dirty-limit", args, reset=True,
                       limits={"cpu": cpu, "mib": lim})
    except dlb.QmpError:
        if g.kind != "qemu" or g.qmp_dead is None:
            raise
        return g.qmp_dead


def cancel(rec, g, cpu=None):
    try:
        return rec.act("cancel", "cancel-vcpu-dirty-limit",
                       {"cpu-index": cpu} if cpu is not None else None,
                       limits={"cpu": cpu, "mib": None})
    except dlb.QmpError:
        if g.kind != "qemu" or g.qmp_dead is None:
            raise
        return rec.samples[-1].t


def last_mean(rec, cpu, limit, t_set, t_end):
    """The mean of the last 5 s of the phase (of its second half if shorter), % of the limit."""
    r = rec.rate(cpu, t_end - min(LAST, (t_end - t_set) / 2), t_end)
    return (r / limit - 1) * 100


def phase_metrics(rec, g, cpu, lim, t_set, t_end):
    m = dlb.analyse_phase(rec, cpu, lim, t_set, t_end)
    m["last5"] = last_mean(rec, cpu, lim, t_set, t_end)
    m["load1"] = os.getloadavg()[0]  # the host's, at the end of the phase (others' work)
    if g.kind == "qemu":
        m["qmp_dead"] = g.qmp_dead is not None
    return m


def case_single(ctx, law, ring, labels):
    """One VM: unthrottled, then each limit of labels in turn (a phase, cancel, 2 s)."""
    dur = phase_of(ctx, law)
    out = []

    def body(rec, g):
        rec.wait_running([0])
        rec.poll(BASE)
        t0 = rec.samples[-1].t
        full = dlb.unthrottled(rec, 0, t0 - (BASE - 1.0), t0)
        if g.kind == "vmm" and ring not in ctx.full:
            ctx.full[ring] = full  # the bucket's, which runs first
        ref = ctx.full.get(ring) or full
        for label in labels:
            lim = int(0.9 * ref) if label == "90%" else label
            fresh_law(rec, g, law)
            t_set = set_limit(rec, g, lim)
            rec.poll(dur)
            t_c = cancel(rec, g)
            rec.poll(CANCEL)
            m = phase_metrics(rec, g, 0, lim, t_set, t_c)
            m.update(dlb.cancel_metrics(rec, 0, t_c, rec.samples[-1].t, ref))
            m["full"] = full
            out.append((label, m, (rec, t_set, t_c, lim)))
            if g.kind == "qemu" and g.qmp_dead is not None:
                break

    try:
        session(ctx, law, "single-%s-%d-%s" % (law.replace(":", "_").replace(" ", ""), ring,
                                               "-".join(map(str, labels)).replace("%", "pct")),
                1, ring, body)
    except dlb.QmpError as e:
        ctx.notes.append("%s, ring %d, %s, repeat %d: %s" % (law, ring, labels, ctx.rep + 1, e))
    for label, m, series in out:
        ctx.add(("single", ring, label, law), m)
        if ctx.rep == 0:
            ctx.series.setdefault(("single", ring, label), {})[law] = series


def single_chunks(ctx, law, limits):
    """Each phase must start from an unthrottled vCPU *and* a fresh law: the tuned laws keep
    state across a cancel and the next set, as QEMU does (a vCPU's sleep time; pct's
    throttle holds to the end of its period).  vmm restarts the law before each phase
    (x-set-dirty-limit-law, docs/dirtylimit.md), so its limits share a VM, in VMs of at
    most ~2.5 min (pct's two by two); QEMU cannot, so each of its limits gets a VM."""
    if law == QEMU:
        return [[x] for x in limits]
    per = max(1, int(150 // (phase_of(ctx, law) + CANCEL + 1)))
    return [limits[i:i + per] for i in range(0, len(limits), per)]


def fresh_law(rec, g, law):
    """Restart the law (vmm only) and let the vCPU run unthrottled a moment."""
    if g.kind == "vmm":
        rec.act("law %s" % law, "x-set-dirty-limit-law", {"law": law})
        rec.poll(1.0)


def case_step(ctx, law, ring):
    dur = phase_of(ctx, law)
    out = {}

    def body(rec, g):
        rec.wait_running([0])
        rec.poll(BASE)
        t0 = rec.samples[-1].t
        full = dlb.unthrottled(rec, 0, t0 - (BASE - 1.0), t0)
        ts = []
        for lim in STEP:
            ts.append((set_limit(rec, g, lim), lim))
            rec.poll(dur)
        t_c = cancel(rec, g)
        rec.poll(CANCEL)
        ms = []
        for i, (t, lim) in enumerate(ts):
            t_end = ts[i + 1][0] if i + 1 < len(ts) else t_c
            m = phase_metrics(rec, g, 0, lim, t, t_end)
            if i + 1 == len(ts):
                m.update(dlb.cancel_metrics(rec, 0, t_c, rec.samples[-1].t,
                                            ctx.full.get(ring) or full))
            ms.append(m)
        out["ms"] = ms
        out["series"] = (rec, ts[0][0], t_c, None)

    try:
        session(ctx, law, "step-%s-%d" % (law.replace(":", "_").replace(" ", ""), ring), 1, ring,
                body)
    except dlb.QmpError as e:
        ctx.notes.append("%s, ring %d, step, repeat %d: %s" % (law, ring, ctx.rep + 1, e))
        return
    prev = "unthrottled"
    for lim, m in zip(STEP, out["ms"]):
        ctx.add(("step", ring, "%s -> %d" % (prev, lim), law), m)
        prev = lim
    if ctx.rep == 0:
        ctx.series.setdefault(("step", ring, "400-25-100"), {})[law] = out["series"]


def case_reader(ctx, law, lims, ring=READER_RING):
    """cpu0 writes, cpu1 reads; cpu0 limited for a phase at each reader limit (the law
    restarted before each)."""
    dur = phase_of(ctx, law)
    out = []

    def body(rec, g):
        rec.wait_running([0, 1], key="any")
        rec.poll(BASE)
        for lim in lims:
            fresh_law(rec, g, law)
            t_set = set_limit(rec, g, lim, cpu=0)
            rec.poll(dur)
            t_c = cancel(rec, g, cpu=0)
            rec.poll(BASE)
            m = phase_metrics(rec, g, 0, lim, t_set, t_c)
            before = rec.rate(1, t_set - (BASE - 0.5), t_set, "bytes")
            after = rec.rate(1, t_c + 0.5, rec.samples[-1].t, "bytes")
            ts = t_set + dlb.STEADY_FROM
            m["reader_mibs"] = rec.rate(1, ts, t_c, "bytes")
            m["reader_free_mibs"] = (before + after) / 2
            m["reader"] = m["reader_mibs"] / m["reader_free_mibs"] * 100
            out.append((lim, m, (rec, t_set, t_c, lim)))

    try:
        session(ctx, law, "reader-%s-%d" % (law.replace(":", "_"), ring), 2, ring, body)
    except dlb.QmpError as e:
        ctx.notes.append("%s, reader, repeat %d: %s" % (law, ctx.rep + 1, e))
    for lim, m, series in out:
        ctx.add(("reader", ring, lim, law), m)
        if ctx.rep == 0:
            ctx.series.setdefault(("reader", ring, lim), {})[law] = series


# ---------------------------------------------------------------- reproduction

def per_second(rec, cpu, t0, t1):
    """MiB/s of the consecutive 1 s windows in [t0, t1]."""
    return [r for a, b, r in rec.windows(cpu, t0, t1, step=10)]


def stats_lines(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def repro_run(ctx, name, law, ring, append, phases):
    """One VM: unthrottled BASE s, then each (limit, seconds) in turn.  Returns the recorder,
    the set times and the --stats records (1 s)."""
    stats = os.path.join(ctx.workdir, "%s.stats" % name)
    out = {}

    def run():
        g = dlb.VmmGuest(ctx.args.vmm, ctx.workdir, name, 1, ring, append,
                         extra=["--dirty-limit-law", law, "--stats", stats,
                                "--stats-interval", "1000"])
        rec = dlb.Recorder(g)
        try:
            rec.wait_running([0])
            rec.poll(BASE)
            sets = []
            for lim, secs in phases:
                sets.append(set_limit(rec, g, lim))
                rec.poll(secs)
            sets.append(cancel(rec, g))
            rec.poll(1.0)
            out["sets"] = sets
        finally:
            g.close()
            dlb.save_series(rec, os.path.join(ctx.workdir, name))
        out["rec"] = rec

    dlb.log("repro %s: %s ring %d, %s" % (name, law, ring, phases))
    locked(ctx, run)
    return out["rec"], out["sets"], stats_lines(stats)


def repro(ctx):
    """What QEMU and the seeds' authors published, on this host (docs/dirtylimit.md)."""
    lines = []
    quick = 0.4 if ctx.quick else 1.0

    # pct: 500 -> 200 "about a minute", swinging "tens of MB/s to 300".
    for tag, append in (("paced", APPEND + " rate=500"), ("unpaced", APPEND)):
        dur = 150 * quick
        rec, sets, _ = repro_run(ctx, "repro-pct-%s" % tag, "pct", 65536, append, [(200, dur)])
        ps = per_second(rec, 0, sets[0], sets[1])
        before = dlb.unthrottled(rec, 0, sets[0] - 2, sets[0])
        reach = next((i + 1 for i, r in enumerate(ps) if r <= 220), None)
        late = ps[60:] if len(ps) > 70 else ps[len(ps) // 2:]
        lines.append("| pct, guest %s (%.0f MiB/s before), limit 200 | first 1 s window <= 220 after %s s; "
                     "from %d s: 1 s windows %.0f..%.0f MiB/s, mean %.0f | %s |" % (
                         "paced at 500 MiB/s (rate=500)" if tag == "paced" else "unpaced", before,
                         reach if reach is not None else "> %d" % len(ps), len(ps) - len(late),
                         min(late), max(late), statistics.mean(late),
                         " ".join("%.0f" % r for r in ps)))

    # qemu: 500 held within 415..528, 300 measured 342; the 25 MB/s dead band.
    for ring in RINGS:
        rec, sets, st = repro_run(ctx, "repro-qemu-%d" % ring, "qemu", ring, APPEND,
                                  [(500, 30 * quick), (300, 30 * quick)])
        for i, lim in enumerate((500, 300)):
            ps = per_second(rec, 0, sets[i] + 5, sets[i + 1])
            lines.append("| qemu, ring %d, limit %d (from 5 s after the set) | 1 s windows %.0f..%.0f MiB/s, "
                         "mean %.0f | %s |" % (ring, lim, min(ps), max(ps), statistics.mean(ps),
                                               " ".join("%.0f" % r for r in ps)))

    # The lowest reachable limit: ~25 with 4096 entries, 256 with 65536.
    for law, ring, lim in (("qemu", 4096, 25), ("qemu", 65536, 100), ("qemu:sync=wait", 65536, 100)):
        rec, sets, st = repro_run(ctx, "repro-lowest-%s-%d" % (law.replace(":", "_").replace("=", "-"),
                                                                ring), law, ring, APPEND,
                                  [(lim, 40 * quick)])
        ps = per_second(rec, 0, sets[0] + 10, sets[1])
        samples = [r["vcpus"][0]["law-rate"] for r in st if r["vcpus"][0].get("limit-rate")]
        seen = sorted(set(samples))
        lines.append("| %s, ring %d, limit %d (from 10 s after the set) | guest mean %.1f MiB/s, 1 s windows "
                     "%.0f..%.0f; the law's own samples (MB/s): %s | %s |" % (
                         law, ring, lim, statistics.mean(ps), min(ps), max(ps),
                         ", ".join(map(str, seen[:12])) + (" ..." if len(seen) > 12 else ""),
                         " ".join("%.0f" % r for r in ps)))
    return lines


# ---------------------------------------------------------------- output

def med(ms, key):
    return dlb.med(ms, key)


CASE_TEXT = {"single": "seq, 1 vCPU", "step": "seq, step %s",
             "reader": "cpu0 writer limited, cpu1 reader"}


def sort_key(ctx, key):
    group, ring, sub, law = key
    if group == "single":
        pos = LIMITS.index(sub) if sub in LIMITS else 99
    elif group == "step":
        pos = [i for i, x in enumerate(STEP) if sub.endswith("-> %d" % x)][0]
    else:
        pos = sub
    return (CASES.index(group), ring, pos,
            ctx.args.laws.index(law) if law in ctx.args.laws else 99)


def reader_table(ctx):
    """The reader's own speeds (MiB/s read) behind the reader column, medians over the repeats."""
    rows = []
    for key in sorted(ctx.order, key=lambda k: sort_key(ctx, k)):
        group, ring, lim, law = key
        ms = [m for m in ctx.results[key] if "reader_mibs" in m]
        if group != "reader" or not ms:
            continue
        rows.append("| %d | %s | %s | %.0f | %.0f | %.1f (%s) | %+.1f | %d |" % (
            ring, lim, law_name(law), med(ms, "reader_mibs"), med(ms, "reader_free_mibs"),
            med(ms, "reader"), " ".join("%.1f" % m["reader"] for m in ms), med(ms, "mean"),
            len(ms)))
    if not rows:
        return ""
    return ("\n| ring | writer's limit MiB/s | law | reader limited MiB/s | reader unlimited MiB/s "
            "(same VM, before the set and after the cancel) | reader % (each repeat) | "
            "writer's mean err % | n |\n| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n"
            + "\n".join(rows))


def fmt_row(key, ms):
    group, ring, sub, law = key
    case = CASE_TEXT[group] % sub if group == "step" else CASE_TEXT[group]
    label = sub if group != "step" else int(sub.split("-> ")[1])
    lim = statistics.median(m["limit"] for m in ms)
    lim_s = "%s (%d)" % (label, lim) if isinstance(label, str) else "%g" % lim
    st = med(ms, "settle")
    settle = "never" if st == math.inf else ("≤100" if st == 0 else "%.0f" % (st * 1000))

    def pm(a, b, f="%+.0f / %+.0f"):
        return f % (a, b) if a is not None and b is not None else "n/a"

    mean, last5 = med(ms, "mean"), med(ms, "last5")
    stall, rd = med(ms, "stall_ms"), med(ms, "reader")
    cc = med(ms, "cancel") if any("cancel" in m for m in ms) else None
    cells = [case, str(ring), lim_s, law_name(law), settle,
             "%+.1f" % mean if mean is not None else "n/a",
             "%+.1f" % last5 if last5 is not None else "n/a",
             pm(med(ms, "p5"), med(ms, "p95")), pm(med(ms, "p5_1s"), med(ms, "p95_1s")),
             "%.1f" % stall if stall is not None else "n/a",
             "%.1f" % rd if rd is not None else "",
             ("> run" if cc == math.inf else "%.0f" % (cc * 1000)) if cc is not None else "",
             str(len(ms))]
    if any(m.get("qmp_dead") for m in ms):
        cells[3] += " (monitor froze in %d of %d)" % (sum(bool(m.get("qmp_dead")) for m in ms),
                                                       len(ms))
    return "| " + " | ".join(cells) + " |"


HEADER = ("| case | ring | limit MiB/s | law | settle ms | mean err % | last 5 s % | "
          "100 ms p5 / p95 % | 1 s p5 / p95 % | longest stall ms | reader % | cancel → 90% ms | n |\n"
          "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


# ---------------------------------------------------------------- plots

COLOURS = {"bucket": "#1565c0", "qemu": "#c62828", "linear": "#2e7d32", "linear:ki=1": "#00acc1",
           "pct": "#ef6c00", QEMU: "#6a1b9a"}


def plots(ctx, outdir):
    os.makedirs(outdir, exist_ok=True)
    made = []
    for key, per_law in ctx.series.items():
        kind, ring, label = key
        name = "laws-%s-%d-%s" % (kind, ring, str(label).replace("%", "pct"))
        lines, tmax, lim = [], 0.0, None
        for law in ctx.args.laws:
            if law not in per_law:
                continue
            rec, t_set, t_c, lim_ = per_law[law]
            lim = lim_ if lim_ is not None else lim
            f = os.path.join(ctx.workdir, name + "-" + law.replace(" ", "").replace(":", "_") + ".dat")
            rec.dump(f, t_set, t_set - 1.5, t_c + 1.5)
            tmax = max(tmax, t_c - t_set + 1.5)
            colour = COLOURS.get(law, COLOURS.get(law.split(":")[0], "#555555"))
            lines.append('"%s" index 0 using 1:3 with lines lw 1.3 lc rgb "%s" title "%s"'
                         % (f, colour, law_name(law)))
        if not lines:
            continue
        if kind == "step":
            lim_plot = ""
            title = "limit 400 → 25 → 100 MiB/s, then cancel (a phase each, as long as the law's)"
        else:
            lim_plot = "%g title \"limit\" with lines dt 2 lw 2 lc rgb \"#1b5e20\", " % lim
            if kind == "reader":
                title = "cpu0 limited to %g MiB/s next to a reader on cpu1 (cpu0's write rate)" % lim
            else:
                title = "limit %s MiB/s set at 0 s" % (label if not isinstance(label, str)
                                                       else "%s = %d" % (label, lim))
        png = os.path.join(outdir, name + ".png")
        gp = ('set terminal pngcairo size 1100,480 enhanced font "DejaVu Sans,10"\n'
              'set output "%s"\nset grid ytics xtics lc rgb "#dddddd"\n'
              'set key outside right top box opaque\nset logscale y\nset yrange [0.3:5000]\n'
              'set xrange [-1.5:%.1f]\n'
              'set title "%s (%s, seq, ring %d; guest counter, 100 ms windows, repeat 1)"\n'
              'set xlabel "time since the set (s)"\nset ylabel "MiB/s (log)"\n'
              'plot %s%s\n') % (png, tmax, title, "2 vCPUs" if kind == "reader" else "1 vCPU",
                                   ring, lim_plot, ", ".join(lines))
        made.append(dlb.gnuplot(gp, ctx.workdir, name))
    return [m for m in made if m]


# ---------------------------------------------------------------- main

def save_json(ctx, args, started, t_start):
    """Every measurement so far (written after each group: a long run that dies keeps them)."""
    if not args.json:
        return
    tmp = args.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"started": started, "took_s": dlb.mono() - t_start,
                   "lock_wait_s": ctx.lock_wait, "facts": dlb.host_facts(), "argv": sys.argv,
                   "repeats_done": ctx.rep, "notes": ctx.notes,
                   "results": [{"case": k[0], "ring": k[1], "limit": str(k[2]), "law": k[3],
                                "runs": ctx.results[k]} for k in ctx.order]},
                  f, indent=1, default=str)
    os.replace(tmp, args.json)


class Replay(dlb.Recorder):
    """A run read back from the --data directory (save_series' files), for --report."""

    def __init__(self, base):
        super().__init__(None)
        with open(base + ".samples") as f:
            for line in f:
                if line.startswith("#"):
                    continue
                v = line.split()
                n = (len(v) - 1) // 3
                self.samples.append(dlb.Sample(float(v[0]), [int(x) for x in v[1:1 + n]],
                                               [int(x) for x in v[1 + n:1 + 2 * n]],
                                               [int(x) for x in v[1 + 2 * n:]]))
        with open(base + ".marks") as f:
            for line in f:
                t, _, label = line.rstrip("\n").partition(" ")
                self.marks.append((float(t), label))


def report(ctx, path):
    """The table and plots (single writer and step) of a run that did not finish (killed, or
    out of time), from its --json file and --data directory: every group saved so far."""
    with open(path) as f:
        d = json.load(f)
    for r in d["results"]:
        lim = r["limit"]
        lim = int(lim) if lim.isdigit() else lim
        for m in r["runs"]:
            for k in ("settle", "cancel"):
                if m.get(k) == "inf":
                    m[k] = math.inf
            ctx.add((r["case"], r["ring"], lim, r["law"]), m)
        law = r["law"]
        tag = law.replace(":", "_").replace(" ", "")
        if r["case"] == "step":
            base = os.path.join(ctx.workdir, "step-%s-%d-r0" % (tag, r["ring"]))
            key = ("step", r["ring"], "400-25-100")
            if os.path.exists(base + ".marks") and law not in ctx.series.get(key, {}):
                rec = Replay(base)
                t_set = next(t for t, lb in rec.marks if lb.startswith("set "))
                t_c = next(t for t, lb in rec.marks if lb == "cancel")
                ctx.series.setdefault(key, {})[law] = (rec, t_set, t_c, None)
            continue
        if r["case"] == "reader":
            base = os.path.join(ctx.workdir, "reader-%s-%d-r0" % (law.replace(":", "_"), r["ring"]))
            key = ("reader", r["ring"], lim)
            if os.path.exists(base + ".marks") and law not in ctx.series.get(key, {}):
                rec = Replay(base)
                want = "set %d" % r["runs"][0]["limit"]
                sets = [i for i, (t, lb) in enumerate(rec.marks) if lb == want]
                if sets:
                    t_set = rec.marks[sets[0]][0]
                    t_c = next(t for t, lb in rec.marks[sets[0]:] if lb == "cancel")
                    ctx.series.setdefault(key, {})[law] = (rec, t_set, t_c, r["runs"][0]["limit"])
            continue
        if r["case"] != "single":
            continue
        for base in sorted(x[:-6] for x in os.listdir(ctx.workdir)
                           if x.startswith("single-%s-%d-" % (tag, r["ring"])) and
                           x.endswith("-r0.marks")):
            rec = Replay(os.path.join(ctx.workdir, base))
            want = "set %d" % r["runs"][0]["limit"]
            sets = [i for i, (t, lb) in enumerate(rec.marks) if lb == want]
            if not sets:
                continue
            t_set = rec.marks[sets[0]][0]
            t_c = next(t for t, lb in rec.marks[sets[0]:] if lb == "cancel")
            ctx.series.setdefault(("single", r["ring"], lim), {})[law] = (
                rec, t_set, t_c, r["runs"][0]["limit"])
            break
    return d


def rescan(ctx, datadir):
    """Every run's metrics recomputed from the samples and marks in datadir (save_series'
    files), for a run stopped in the middle of a group: its JSON holds only whole groups.
    Single writer and reader cases; the cancel columns against each VM's own unthrottled
    speed (the full run takes the bucket's, which ran first)."""
    tags = {x.replace(":", "_").replace(" ", ""): x for x in ctx.args.laws}
    for f in sorted(os.listdir(datadir)):
        if not f.endswith(".marks") or not f.startswith(("single-", "reader-")):
            continue
        base = os.path.join(datadir, f[:-6])
        kind, tag, ring = f.split("-")[:3]
        rep = int(f[:-6].rsplit("-r", 1)[1])
        law = tags.get(tag)
        if law is None:
            continue
        rec = Replay(base)
        if not rec.samples or not rec.marks:
            continue
        first = next((t for t, lb in rec.marks if lb.startswith(("set ", "law "))), None)
        if first is None:
            continue
        full = dlb.unthrottled(rec, 0, first - (BASE - 1.0), first)
        for i, (t_set, lb) in enumerate(rec.marks):
            if not lb.startswith("set "):
                continue
            lim = int(lb.split()[1])
            t_c = next((t for t, l2 in rec.marks[i + 1:] if l2 == "cancel"), None)
            if t_c is None:
                continue
            nxt = next((t for t, l2 in rec.marks if t > t_c), rec.samples[-1].t)
            after = CANCEL if kind == "single" else BASE
            t_after = min(nxt, t_c + after + 0.15)
            if rec.samples[-1].t < t_c + after - 0.2:
                continue  # the VM ended before the phase did
            m = dlb.analyse_phase(rec, 0, lim, t_set, t_c)
            m["last5"] = last_mean(rec, 0, lim, t_set, t_c)
            if kind == "single":
                m.update(dlb.cancel_metrics(rec, 0, t_c, t_after, full))
                m["full"] = full
                key = ("single", int(ring), lim, law)
            else:
                before = rec.rate(1, t_set - (BASE - 0.5), t_set, "bytes")
                aft = rec.rate(1, t_c + 0.5, t_after, "bytes")
                m["reader_mibs"] = rec.rate(1, t_set + dlb.STEADY_FROM, t_c, "bytes")
                m["reader_free_mibs"] = (before + aft) / 2
                m["reader"] = m["reader_mibs"] / m["reader_free_mibs"] * 100
                key = ("reader", int(ring), lim, law)
            ctx.add(key, m)
            if rep == 0:
                ctx.series.setdefault(key[:3], {})[law] = (rec, t_set, t_c, lim)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one repeat, short phases")
    ap.add_argument("--repeats", type=int, default=None, help="repeats (default 3, 1 with --quick)")
    ap.add_argument("--laws", default=",".join(LAWS),
                    help="comma-separated: vmm law specs (bucket, qemu, linear:ki=1, ...) and "
                    "'%s' (default %s)" % (QEMU, ",".join(LAWS)))
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ",".join(CASES))
    ap.add_argument("--rings", default=",".join(map(str, RINGS)))
    ap.add_argument("--limits", default=",".join(map(str, LIMITS)))
    ap.add_argument("--hold", type=float, default=0,
                    help="keep the VM lock across consecutive VMs for up to this many seconds "
                    "(default 0: take it per VM)")
    ap.add_argument("--only", action="append", default=[], metavar="LAW:KEY=V1,V2",
                    help="restrict a law: LAW:limits=25,100 (its single-writer and reader "
                    "limits), LAW:rings=4096, LAW:cases=single,reader; repeatable")
    ap.add_argument("--reader-ring", type=int, default=READER_RING,
                    help="ring of the reader case (default %d)" % READER_RING)
    ap.add_argument("--step-rings", default=None,
                    help="rings of the step case (default: --rings)")
    ap.add_argument("--pct-rings", default=None,
                    help="rings pct runs on (default: --rings; pct sleeps per 10 ms of running, "
                    "not per ring-full, so one ring shows it)")
    dlb.add_build_args(ap)
    ap.add_argument("--data", help="directory for logs and series (default: a new /tmp dir)")
    ap.add_argument("--plots", help="write one PNG per case into this directory (e.g. docs/img)")
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--report", metavar="JSON",
                    help="no run: the table and the single-writer and step plots of an unfinished run, "
                    "from its --json file and --data directory")
    ap.add_argument("--rescan", action="store_true",
                    help="with --report: recompute every run's metrics from the --data directory "
                    "(a run stopped inside a group: the JSON has whole groups only)")
    ap.add_argument("--repro", action="store_true",
                    help="instead of the table: the published behaviour, reproduced (~12 min)")
    args = ap.parse_args()
    args.laws = args.laws.split(",")
    cases = args.cases.split(",")
    rings = [int(r) for r in args.rings.split(",")]
    step_rings = [int(r) for r in args.step_rings.split(",")] if args.step_rings else rings
    pct_rings = [int(r) for r in args.pct_rings.split(",")] if args.pct_rings else rings

    only = {}
    for o in args.only:
        law, _, kv = o.rpartition(":")
        key, _, vals = kv.partition("=")
        if not law or key not in ("limits", "rings", "cases") or not vals:
            ap.error("--only %s: want LAW:limits=..., LAW:rings=... or LAW:cases=..." % o)
        only.setdefault(law, {})[key] = [v if v == "90%" or key == "cases" else int(v)
                                         for v in vals.split(",")]

    def runs_on(law, ring, case=None):
        o = only.get(law, {})
        if case and case not in o.get("cases", [case]):
            return False
        return (law.split(":")[0] != "pct" or ring in pct_rings) and ring in o.get("rings", [ring])

    def limits_of(law, of=None):
        of = limits if of is None else of
        return [x for x in of if x in only.get(law, {}).get("limits", of)]
    limits = [x if x == "90%" else int(x) for x in args.limits.split(",")]
    repeats = args.repeats or (1 if args.quick else 3)
    for c in cases:
        if c not in CASES:
            ap.error("unknown case %s" % c)
    dlb.check_run("dirtylimit_laws.py", args, QEMU in args.laws)
    args.data = args.data or tempfile.mkdtemp(prefix="dl-laws-")
    os.makedirs(args.data, exist_ok=True)
    dlb.log("data in %s; %d repeat(s); laws %s; cases %s" % (args.data, repeats, args.laws, cases))

    ctx = Ctx(args)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t_start = dlb.mono()
    if args.report:
        if args.rescan:
            with open(args.report) as f:
                d = json.load(f)
            rescan(ctx, args.data)
        else:
            d = report(ctx, args.report)
        print("# dirty limit laws side by side, %s (%.0f s, of which %.0f s waiting for the VM "
              "lock; stopped after %s)\n" % (d["started"], d["took_s"], d["lock_wait_s"],
                                              ", ".join(sorted({r["case"] + " " + str(r["ring"])
                                                                for r in d["results"]}))))
        print("Command: `%s`\n" % " ".join(d["argv"]))
        print(HEADER)
        for key in sorted(ctx.order, key=lambda k: sort_key(ctx, k)):
            print(fmt_row(key, ctx.results[key]))
        print(reader_table(ctx))
        if args.plots:
            print("\nPlots: " + ", ".join(plots(ctx, args.plots)))
        return
    if args.repro:
        lines = repro(ctx)
        unlock(ctx)
        print("# the published behaviour on this host, %s (%.0f s, of which %.0f s waiting for the "
              "VM lock)\n" % (started, dlb.mono() - t_start, ctx.lock_wait))
        print("Host: %s; command: `%s`\n" % (", ".join("%s %s" % kv for kv in dlb.host_facts().items()),
                                             " ".join(sys.argv)))
        print("| run | result | every 1 s window (MiB/s) |\n| --- | --- | --- |")
        print("\n".join(lines))
        return
    for rep in range(repeats):
        ctx.rep = rep
        ctx.full = {}
        dlb.log("--- repeat %d of %d" % (rep + 1, repeats))
        # vmm's bucket first in every case: QEMU's 90% refers to its speed.
        laws = sorted(args.laws, key=lambda x: x != "bucket")
        if "single" in cases:
            for ring in rings:
                for law in [x for x in laws if runs_on(x, ring, "single")]:
                    for chunk in single_chunks(ctx, law, limits_of(law)):
                        case_single(ctx, law, ring, chunk)
                save_json(ctx, args, started, t_start)
        if "step" in cases:
            for ring in step_rings:
                for law in [x for x in laws if runs_on(x, ring, "step")]:
                    case_step(ctx, law, ring)
                save_json(ctx, args, started, t_start)
        if "reader" in cases:
            for law in laws:
                if law != QEMU and runs_on(law, args.reader_ring, "reader"):
                    case_reader(ctx, law, limits_of(law, READER_LIMITS), args.reader_ring)
            save_json(ctx, args, started, t_start)
    unlock(ctx)
    took = dlb.mono() - t_start

    print("# dirty limit laws side by side, %s (%.0f s, of which %.0f s waiting for the VM lock)\n"
          % (started, took, ctx.lock_wait))
    facts = dlb.host_facts()
    print("Host: %s; command: `%s`\n" % (", ".join("%s %s" % kv for kv in facts.items()),
                                         " ".join(sys.argv)))
    print("Guest: stress kernel, -m %s, %s. Medians over the repeats (n). Phases: %s s.\n"
          % (dlb.MEM, APPEND, ", ".join("%s %g" % (law_name(x), phase_of(ctx, x))
                                        for x in args.laws)))
    print(HEADER)
    for key in sorted(ctx.order, key=lambda k: sort_key(ctx, k)):
        print(fmt_row(key, ctx.results[key]))
    print(reader_table(ctx))
    loads = sorted(m["load1"] for ms in ctx.results.values() for m in ms if "load1" in m)
    if loads:
        print("\nHost load (1 min average, 2 cores) at the end of the phases: median %.1f, "
              "10th-90th percentile %.1f-%.1f, max %.1f." % (
                  statistics.median(loads), dlb.pct(loads, 10), dlb.pct(loads, 90), loads[-1]))
    if ctx.notes:
        print("\n## Notes\n")
        for n in ctx.notes:
            print("- " + n)
    if args.plots:
        print("\nPlots: " + ", ".join(plots(ctx, args.plots)))
    save_json(ctx, args, started, t_start)


if __name__ == "__main__":
    main()

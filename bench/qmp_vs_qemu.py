#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""QMP side by side: vmm and Debian's QEMU 7.2 given the same bytes.

Boots the stress kernel under QEMU 7.2 (qemu-system-x86_64 -accel kvm,
2 vCPUs, -name guest=bench, -qmp unix:...) and under vmm (--cpus 2
--name bench --qmp unix:...), sends both the same requests, byte for byte,
each case on a fresh connection, and prints a markdown table: what each
answered (events included) and whether the answers are the same once the
values that must differ are masked (timestamps, thread ids, version
numbers, start times).  docs/qmp.md's table of where vmm is QEMU's and
where it is ours comes from this.

    python3 bench/qmp_vs_qemu.py              # ~50 s plus the VM lock waits
    python3 bench/qmp_vs_qemu.py --only json  # cases whose label starts so

Installs QEMU if missing (bench/setup.sh).  Holds /tmp/vmm-vm.lock around
each VM (--no-lock if you hold it yourself).  Exit status 0 always: the
differences are the result, documented in docs/qmp.md.
"""

import argparse
import fcntl
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

LOCK_PATH = "/tmp/vmm-vm.lock"
# Every reply comes at once; events within a few ms.  A case is over when
# nothing has arrived for this long after its last request.
SETTLE_S = 0.25
# Shown in the table per answer; the rest is cut.
SHOW_CHARS = 150
HERE = os.path.dirname(os.path.abspath(__file__))

NEG = b'{"execute":"qmp_capabilities"}'
NEG_OOB = b'{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}'


def ex(cmd, args=None, id=None, key="execute"):
    m = {key: cmd}
    if args is not None:
        m["arguments"] = args
    if id is not None:
        m["id"] = id
    return json.dumps(m, separators=(",", ":")).encode()


def hmp(line, cpu=None):
    a = {"command-line": line}
    if cpu is not None:
        a["cpu-index"] = cpu
    return ex("human-monitor-command", a)


# (label, negotiation: None / NEG / NEG_OOB, requests).  Requests are sent
# one by one, each after the previous one's answers.
CASES = [
    ("greeting", None, []),
    ("negotiation: a command before it", None, [ex("query-status", id=1)]),
    ("negotiation: unknown capability", None, [ex("qmp_capabilities", {"enable": ["foo"]})]),
    ("negotiation: enable not an array", None, [ex("qmp_capabilities", {"enable": "oob"})]),
    ("negotiation: oob", None, [NEG_OOB]),
    ("negotiation: twice", NEG, [NEG]),
    ("envelope: {}", NEG, [b"{}"]),
    ("envelope: execute not a string", NEG, [b'{"execute":1}']),
    ("envelope: arguments not an object", NEG, [b'{"execute":"stop","arguments":[]}']),
    ("envelope: another member", NEG, [b'{"execute":"query-status","a":1}']),
    ("envelope: not an object", NEG, [b"[1,2] "]),
    ("envelope: id echo", NEG, [ex("query-status", id={"a": [1, None]})]),
    ("envelope: unknown command", NEG, [ex("nope", id="x")]),
    ("oob: exec-oob not negotiated", NEG, [ex("query-status", id="o", key="exec-oob")]),
    ("oob: exec-oob and execute", NEG_OOB, [b'{"execute":"stop","exec-oob":"stop"}']),
    ("oob: a command that is not oob", NEG_OOB, [ex("stop", key="exec-oob")]),
    ("json: two requests in one write", NEG,
     [ex("query-status", id=1) + ex("query-name", id=2)]),
    ("json: missing colon", NEG, [b'{"execute" "x"}']),
    ("json: lone }", NEG, [b"}"]),
    ("json: lone ]", NEG, [b"]"]),
    ("json: trailing comma", NEG, [b'{"execute":"query-status","id":1,}']),
    ("json: [1 2]", NEG, [b"[1 2] "]),
    ("json: {\"a\":1]", NEG, [b'{"a":1]']),
    ("json: {1:2}", NEG, [b"{1:2}"]),
    ("json: {bad}", NEG, [b"{bad}"]),
    ("json: nan", NEG, [b'{"execute":"query-status","id":nan}']),
    ("json: leading zero", NEG, [b'{"a":01}']),
    ("json: stray @", NEG, [b"@"]),
    ("json: stray 0xFF", NEG, [b"\xff"]),
    ("json: NUL byte", NEG, [b"\x00"]),
    ("json: control byte in a string", NEG, [b'{"execute":"query-status","id":"\\t\x01"}']),
    ("json: duplicate key", NEG, [b'{"execute":"query-status","id":1,"id":2}']),
    ("json: duplicate key deeper", NEG, [b'{"execute":"query-status","arguments":{"x":1,"x":2}}']),
    ("json: lone surrogate", NEG, [b'{"execute":"query-status","id":"\\ud800"}']),
    ("json: surrogate pair, accents", NEG,
     [b'{"execute":"query-status","id":"\\u00e9\\u4e2d\\ud83d\\ude00\xc3\xa9"}']),
    ("json: escapes echoed", NEG, [b'{"execute":"query-status","id":"a\\/b\\"c\\\\d\\u0001\\u007f"}']),
    ("json: single quotes", NEG, [b"{'execute':'query-status','id':'sq\\'x'}"]),
    ("json: 1.5e3, -0", NEG, [b'{"execute":"query-status","id":[1.5e3,-0]}']),
    ("json: integer 2^64 (a double)", NEG, [b'{"execute":"query-status","id":18446744073709551616}']),
    ("json: 1E400", NEG, [b'{"execute":"query-status","id":1E400}']),
    ("json: overlong NUL C0 80", NEG, [b'{"execute":"\xc0\x80"}']),
    ("json: UTF-8 surrogate ED A0 80", NEG, [b'{"execute":"a","id":"\xed\xa0\x80"}']),
    ("json: beyond U+10FFFF", NEG, [b'{"execute":"q\xf4\x90\x80\x80"}']),
    ("json: escaped NUL", NEG, [b'{"execute":"query-status\\u0000x"}']),
    ("json: too deep (40)", NEG, [b"[" * 40 + b"]" * 40]),
    ("query-status", NEG, [ex("query-status")]),
    ("query-name", NEG, [ex("query-name")]),
    ("query-uuid", NEG, [ex("query-uuid")]),
    ("query-kvm", NEG, [ex("query-kvm")]),
    ("query-target", NEG, [ex("query-target")]),
    ("query-version", NEG, [ex("query-version")]),
    ("query-iothreads", NEG, [ex("query-iothreads")]),
    ("query-cpus-fast", NEG, [ex("query-cpus-fast")]),
    ("query-hotpluggable-cpus", NEG, [ex("query-hotpluggable-cpus")]),
    ("query-machines (the default one)", NEG, [ex("query-machines")]),
    ("qom-list /", NEG, [ex("qom-list", {"path": "/"})]),
    ("qom-get cpu type", NEG, [ex("qom-get", {"path": "/machine/unattached/device[0]",
                                              "property": "type"})]),
    ("qom-get machine type", NEG, [ex("qom-get", {"path": "/machine", "property": "type"})]),
    ("qom-get no such path", NEG, [ex("qom-get", {"path": "/nope", "property": "type"})]),
    ("qom-get no such property", NEG, [ex("qom-get", {"path": "/machine", "property": "nope"})]),
    ("qom-list no such path", NEG, [ex("qom-list", {"path": "/nope"})]),
    ("stop, stop, cont, cont", NEG, [ex("stop"), ex("stop"), ex("cont"), ex("cont")]),
    ("args: missing", NEG, [ex("set-vcpu-dirty-limit", {})]),
    ("args: unexpected", NEG, [ex("query-status", {"a": 1})]),
    ("args: uint64 given a string", NEG, [ex("set-vcpu-dirty-limit", {"dirty-rate": "x"})]),
    ("args: uint64 given 2^64", NEG, [b'{"execute":"set-vcpu-dirty-limit","arguments":'
                                      b'{"dirty-rate":18446744073709551616}}']),
    ("args: uint64 given 1.5", NEG, [ex("set-vcpu-dirty-limit", {"dirty-rate": 1.5})]),
    ("args: uint64 given null", NEG, [ex("set-vcpu-dirty-limit", {"dirty-rate": None})]),
    ("args: int64 given a string", NEG,
     [ex("set-vcpu-dirty-limit", {"dirty-rate": 5, "cpu-index": "a"})]),
    ("args: int64 given 2^63", NEG, [b'{"execute":"set-vcpu-dirty-limit","arguments":'
                                     b'{"dirty-rate":5,"cpu-index":9223372036854775808}}']),
    ("args: int64 given 1.0", NEG, [ex("set-vcpu-dirty-limit", {"dirty-rate": 5, "cpu-index": 1.0})]),
    ("args: enum value", NEG, [ex("calc-dirty-rate", {"calc-time": 1, "mode": "x"})]),
    ("args: enum type", NEG, [ex("calc-dirty-rate", {"calc-time": 1, "mode": 5})]),
    ("query-dirty-rate before any", NEG, [ex("query-dirty-rate")]),
    ("hmp: info status", NEG, [hmp("info status")]),
    ("hmp: info cpus, cpu-index 1", NEG, [hmp("info cpus", 1)]),
    ("hmp: cpu-index 5", NEG, [hmp("info status", 5)]),
    ("hmp: info name, uuid, kvm", NEG, [hmp("info name"), hmp("info uuid"), hmp("info kvm")]),
    ("hmp: info version", NEG, [hmp("info version")]),
    ("hmp: stop, info status, cont", NEG, [hmp("stop"), hmp("info status"), hmp("cont")]),
    ("hmp: unknown", NEG, [hmp("frob"), hmp("info frob"), hmp("help frob"), hmp("")]),
    ("hmp: help stop, help info status", NEG, [hmp("help stop"), hmp("help cont")]),
    ("hmp: extraneous", NEG, [hmp("stop x"), hmp("info status extra")]),
    ("hmp: bad numbers", NEG, [hmp("calc_dirty_rate"), hmp("calc_dirty_rate x"),
                               hmp("set_vcpu_dirty_limit 0 x")]),
    # From here on the state differs: QEMU has no dirty ring here (it wedges on this host).
    ("calc-dirty-rate calc-time 0", NEG, [ex("calc-dirty-rate", {"calc-time": 0})]),
    ("calc-dirty-rate calc-time-unit (8.2)", NEG,
     [ex("calc-dirty-rate", {"calc-time": 1, "calc-time-unit": "second"})]),
    ("set-vcpu-dirty-limit", NEG, [ex("set-vcpu-dirty-limit", {"dirty-rate": 100})]),
    ("query-vcpu-dirty-limit", NEG, [ex("query-vcpu-dirty-limit")]),
    ("hmp: info vcpu_dirty_limit", NEG, [hmp("info vcpu_dirty_limit")]),
    ("hmp: info dirty_rate", NEG, [hmp("info dirty_rate")]),
    ("hmp: calc_dirty_rate -r -b 1", NEG, [hmp("calc_dirty_rate -r -b 1")]),
    ("args: uint64 given -5", NEG, [ex("set-vcpu-dirty-limit", {"dirty-rate": -5})]),
    ("quit", NEG, [ex("quit")]),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(5)
        self.s.connect(path)
        self.buf = b""

    def messages(self, settle=SETTLE_S):
        """Every message until nothing comes for settle seconds (or EOF)."""
        out = []
        end = time.monotonic() + settle
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                try:
                    out.append(json.loads(line))
                except ValueError:
                    # QEMU writes a double beyond range as inf: not JSON.
                    out.append("<not JSON> " + line.decode(errors="replace").strip())
                end = time.monotonic() + settle
            left = end - time.monotonic()
            if left <= 0:
                return out
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                return out
            try:
                data = self.s.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                out.append("<closed>")
                return out
            self.buf += data

    def close(self):
        self.s.close()


def run_cases(path, cases):
    results = []
    for label, neg, reqs in cases:
        c = Conn(path)
        got = c.messages()
        if neg:
            c.s.sendall(neg)
            c.messages()
            got = []
        for r in reqs:
            c.s.sendall(r)
            got += c.messages()
        c.close()
        results.append(got)
    return results


def mask(v, key=None):
    """The values that must differ between two programs, masked."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k == "timestamp":
                out[k] = "<time>"
            elif k in ("start-time",) or (k == "thread-id" and isinstance(x, int) and x > 0):
                out[k] = "<n>"
            elif k == "qemu" and isinstance(x, dict) and "major" in x:
                out[k] = "<version>"
            elif k == "package":
                out[k] = "<package>"
            else:
                out[k] = mask(x, k)
        return out
    if isinstance(v, list):
        return [mask(x) for x in v]
    if isinstance(v, str):
        return re.sub(r"thread_id=\d+", "thread_id=<n>", v)
    return v


def show(msgs):
    s = " ".join(m if isinstance(m, str) else json.dumps(m) for m in msgs)
    s = s.replace("|", "\\|")
    return s if len(s) <= SHOW_CHARS else s[:SHOW_CHARS] + "..."


class Lock:
    def __init__(self, use):
        self.use = use
        self.fd = None

    def __enter__(self):
        if self.use:
            self.fd = open(LOCK_PATH, "a")
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *a):
        if self.fd:
            self.fd.close()


def wait_socket(path, proc):
    for _ in range(100):
        if os.path.exists(path):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def run_under(argv, sock, cases, lock):
    with Lock(lock):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            if not wait_socket(sock, p):
                sys.exit("%s did not open %s: %s" % (argv[0], sock, p.stderr.read().decode()))
            time.sleep(0.5)  # the guest up and writing
            return run_cases(sock, cases)
        finally:
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vmm", default="build/vmm")
    ap.add_argument("--kernel", default="build/guest/stress.elf")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--only", default="", help="run the cases whose label starts with this")
    ap.add_argument("--no-lock", action="store_true")
    a = ap.parse_args()
    if not shutil.which(a.qemu):
        subprocess.run(["sh", os.path.join(HERE, "setup.sh"), "qemu-system-x86"], check=True)
    cases = [c for c in CASES if c[0].startswith(a.only)]
    tmp = tempfile.mkdtemp(prefix="qmp-vs-qemu.")
    qsock, vsock = os.path.join(tmp, "qemu.sock"), os.path.join(tmp, "vmm.sock")
    log("QEMU 7.2: %d cases" % len(cases))
    qemu = run_under([a.qemu, "-accel", "kvm", "-m", "512", "-smp", "2", "-name", "guest=bench",
                      "-kernel", a.kernel, "-append", "wss=64M", "-display", "none",
                      "-serial", "null", "-monitor", "none",
                      "-qmp", "unix:%s,server,nowait" % qsock], qsock, cases, not a.no_lock)
    log("vmm: %d cases" % len(cases))
    vmm = run_under([a.vmm, "--cpus", "2", "--mem", "512M", "--name", "bench",
                     "--append", "wss=64M", "--qmp", "unix:" + vsock], vsock, cases,
                    not a.no_lock)
    shutil.rmtree(tmp, ignore_errors=True)
    same = 0
    print("| case | QEMU 7.2 | vmm | same |")
    print("| --- | --- | --- | --- |")
    for (label, _, _), q, v in zip(cases, qemu, vmm):
        ok = mask(q) == mask(v)
        same += ok
        print("| %s | `%s` | %s | %s |" % (label, show(q), "same" if ok else "`%s`" % show(v),
                                          "yes" if ok else "**no**"))
    print()
    print("%d of %d cases answered the same (timestamps, thread ids, versions, start times "
          "masked)" % (same, len(cases)))


if __name__ == "__main__":
    main()

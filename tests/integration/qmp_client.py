#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A small QMP client for the integration tests (python3 stdlib only).

It frames requests as QEMU's own Python client (qemu.qmp) does: compact
JSON ("," and ":" separators), no newline, ids "__qmp#NNNNN" for
execute() and none for legacy cmd_obj() (what qmp-shell sends); it
negotiates as qemu.qmp does, enabling "oob" when the greeting offers it.
Replies are read a line at a time, as qemu.qmp reads them.

    qmp_client.py exec SOCK CMD [ARGS_JSON] [-g PATH]... [--id ID]
        Connect, negotiate, run CMD.  Prints the events that arrived first,
        then the reply, one JSON object a line; with -g, only the value at
        PATH of the reply (one line per -g).  Exit 0 on "return", 1 on
        "error", 2 on trouble (no greeting, closed, timeout).
    qmp_client.py raw SOCK [--wait S] [--hold]
        Send standard input as it is (no negotiation: include qmp_capabilities
        if wanted), shut the write side (not with --hold), print every line
        received (the greeting first) until the server closes ("<closed>")
        or S seconds (default 5) of silence ("<timeout>").
    qmp_client.py listen SOCK N [TIMEOUT]
        Negotiate, print "ready", then print events until N have arrived.
        Exit 0 if N arrived within TIMEOUT seconds, else 1.
    qmp_client.py rate SOCK SECONDS
        The guest's pages-written rate per vCPU over SECONDS, in MiB/s, from
        two x-query-guest-stats on one connection: "cpuN RATE" lines.
    qmp_client.py calc SOCK TIME UNIT
        calc-dirty-rate over TIME UNIT; prints the query-dirty-rate reply at
        once (measuring), the reply to a second calc-dirty-rate, the
        query-dirty-rate reply once no longer measuring, the guest's own
        rate over the same interval ("guest TOTAL CPU0 CPU1 ...", MiB/s) and
        that interval ("elapsed SECONDS").
    qmp_client.py flood SOCK N
        Negotiate, send N query-status without reading a byte, wait 1 s
        more, then read everything: prints "replies R closed C" (C is 1 if
        the server hung up).
    qmp_client.py clients SOCK N
        Open N clients, negotiate each, then one more: prints the extra
        one's first line, then "served K" for how many of the N still
        answer query-status.
    qmp_client.py shell [-H] SOCK
        A qmp-shell session (QEMU 7.2's scripts/qmp/qmp-shell, -H for HMP):
        standard input is typed at the shell, one command a line
        ("NAME key=value ...", values parsed as qmp-shell parses them; an
        empty line prints the events received).  Prints each reply as one
        JSON line (with -H: the "return" text, repr'd, or "CLASS: desc").
    qmp_client.py stream SOCK
        Requests as a stream: three in one write, one split over five
        writes 50 ms apart, one in one write with a parse error before it.
        Prints every reply line.
    qmp_client.py get PATH...
        Print the value at each PATH of the JSON object on standard input.

PATH: keys separated by dots; an integer indexes an array; "#" is the
length of an array or object; "*" maps the rest of the path over an array
(values joined by spaces).  Strings print bare, anything else as JSON;
a missing member (or input that is not JSON) prints "<missing>".

A server silent for 5 s at any step is taken as wedged (exit 2).
"""
import json
import os
import select
import socket
import sys
import time

# Every command answers at once: a server silent this long is wedged.
TIMEOUT = 5.0
MISSING = object()
PAGE = 4096
MIB = 1 << 20


class Closed(Exception):
    pass


class Qmp:
    def __init__(self, path, timeout=TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        self.greeting = None

    def close(self):
        self.sock.close()

    def readline(self, timeout=TIMEOUT):
        """One line (bytes, without the line end); Closed at EOF; None on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                raise Closed()
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def recv(self, timeout=TIMEOUT):
        line = self.readline(timeout)
        return None if line is None else json.loads(line)

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        # As qemu.qmp's Message: compact, no newline.
        self.send_raw(json.dumps(obj, separators=(",", ":")).encode())

    def hello(self, negotiate=True):
        self.greeting = self.recv()
        if self.greeting is None or "QMP" not in self.greeting:
            raise Closed()
        if negotiate:
            # As qemu.qmp's QMPClient._negotiate(): oob if offered, no id.
            args = {}
            if "oob" in self.greeting["QMP"]["capabilities"]:
                args["enable"] = ["oob"]
            r = self.cmd("qmp_capabilities", args)
            if "return" not in r:
                raise Closed()
        return self.greeting

    def recv_pending(self, timeout):
        """Events that arrive within timeout, kept in self.events."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.0, deadline - time.monotonic()))
            if m is None:
                return
            self.events.append(m)

    def reply(self, timeout=TIMEOUT):
        """The next reply; events met on the way are kept in self.events."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.0, deadline - time.monotonic()))
            if m is None:
                return None
            if "event" in m:
                self.events.append(m)
                continue
            return m

    def cmd(self, name, args=None, id=MISSING, timeout=TIMEOUT):
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        if id is not MISSING:
            req["id"] = id
        self.send(req)
        return self.reply(timeout)

    def guest(self):
        """pages-written per vCPU, and when the reply came (monotonic s)."""
        r = self.cmd("x-query-guest-stats")
        return [c["pages-written"] for c in r["return"]], time.monotonic()


class Checks:
    """check(cond, msg) prints "ok: msg" or "FAIL: msg", as lib.sh's pass
    and fail do, and counts the failures in check.fails."""

    def __init__(self):
        self.fails = 0

    def __call__(self, cond, msg):
        print(("ok: " if cond else "FAIL: ") + msg)
        if not cond:
            self.fails += 1


class QmpError(SystemExit):
    """A command answered with an error, or not at all.  A SystemExit, so
    that a test script that does not catch it ends as sys.exit(message)
    would: the message on stderr, exit status 1."""


class Session:
    """A negotiated connection as the test scripts and benchmarks use it
    (tests/integration/*.sh write their Python next to this file):

        q = Session(path)             # retries while the socket appears
        q.cmd(name, args)             # the "return" value; QmpError on error
        q.raw(name, args)             # the whole reply
        q.stats()                     # x-query-guest-stats
        q.wait_status(statuses, secs) # query-migrate until its status is one
        q.wait_progress(secs)         # until every vCPU wrote a page
        q.events                      # events met on the way (a list)
    """

    def __init__(self, path, wait=20.0, timeout=20.0):
        end = time.monotonic() + wait
        while True:
            try:
                self.q = Qmp(path, timeout)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self.timeout = timeout
        self.q.hello()

    @property
    def events(self):
        return self.q.events

    @events.setter
    def events(self, v):
        self.q.events = v

    def close(self):
        self.q.close()

    def raw(self, name, args=None):
        r = self.q.cmd(name, args, timeout=self.timeout)
        if r is None:
            raise QmpError("%s: no reply within %.0f s" % (name, self.timeout))
        return r

    def cmd(self, name, args=None):
        r = self.raw(name, args)
        if "error" in r:
            raise QmpError("%s: %s" % (name, r["error"]))
        return r["return"]

    def stats(self, reset_max_stall=False):
        return self.cmd("x-query-guest-stats", {"reset-max-stall": True} if reset_max_stall else None)

    def wait_status(self, want, secs):
        end = time.monotonic() + secs
        while True:
            r = self.cmd("query-migrate")
            if r.get("status") in want:
                return r
            if time.monotonic() >= end:
                raise QmpError("query-migrate: no status in %s within %d s: %s" % (want, secs, r))
            time.sleep(0.05)

    def wait_progress(self, secs=10.0):
        end = time.monotonic() + secs
        while True:
            s = self.stats()
            if all(c["pages-written"] > 0 for c in s):
                return s
            if time.monotonic() >= end:
                raise QmpError("the guest made no progress within %.0f s: %s" % (secs, s))
            time.sleep(0.05)


def dig(obj, path):
    parts = path.split(".") if path else []
    for i, p in enumerate(parts):
        if p == "#":
            return len(obj) if isinstance(obj, (list, dict)) else MISSING
        if p == "*":
            if not isinstance(obj, list):
                return MISSING
            rest = ".".join(parts[i + 1:])
            return " ".join(show(dig(o, rest)) for o in obj)
        if isinstance(obj, list):
            try:
                obj = obj[int(p)]
            except (ValueError, IndexError):
                return MISSING
        elif isinstance(obj, dict):
            if p not in obj:
                return MISSING
            obj = obj[p]
        else:
            return MISSING
    return obj


def show(v):
    if v is MISSING:
        return "<missing>"
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"))


def out(obj):
    print(json.dumps(obj, separators=(",", ":")), flush=True)


def cmd_exec(argv):
    paths, cid, rest = [], MISSING, []
    i = 0
    while i < len(argv):
        if argv[i] == "-g":
            paths.append(argv[i + 1])
            i += 2
        elif argv[i] == "--id":
            cid = json.loads(argv[i + 1])
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    sock, name = rest[0], rest[1]
    args = json.loads(rest[2]) if len(rest) > 2 else None
    q = Qmp(sock)
    q.hello()
    r = q.cmd(name, args, cid)
    if r is None:
        print("<timeout>")
        return 2
    if paths:
        for p in paths:
            print(show(dig(r, p)))
    else:
        for e in q.events:
            out(e)
        out(r)
    q.close()
    return 0 if "return" in r else 1


def cmd_raw(argv):
    wait, hold = 5.0, False
    if "--wait" in argv:
        k = argv.index("--wait")
        wait = float(argv[k + 1])
        del argv[k:k + 2]
    if "--hold" in argv:
        argv.remove("--hold")
        hold = True
    q = Qmp(argv[0])
    data = sys.stdin.buffer.read()
    try:
        q.send_raw(data)
        if not hold:
            q.sock.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        while True:
            line = q.readline(wait)
            if line is None:
                print("<timeout>")
                return 0
            print(line.decode(errors="replace"), flush=True)
    except Closed:
        print("<closed>")
    return 0


def cmd_listen(argv):
    n = int(argv[1])
    timeout = float(argv[2]) if len(argv) > 2 else TIMEOUT
    q = Qmp(argv[0])
    q.hello()
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    got = 0
    try:
        while got < n:
            m = q.recv(max(0.0, deadline - time.monotonic()))
            if m is None:
                return 1
            if "event" in m:
                out(m)
                got += 1
    except Closed:
        return 1
    return 0


def cmd_rate(argv):
    q = Qmp(argv[0])
    q.hello()
    p0, t0 = q.guest()
    time.sleep(float(argv[1]))
    p1, t1 = q.guest()
    for i, (a, b) in enumerate(zip(p0, p1)):
        print("cpu%d %.1f" % (i, (b - a) * PAGE / MIB / (t1 - t0)))
    return 0


def cmd_calc(argv):
    sock, t, unit = argv[0], int(argv[1]), argv[2]
    q = Qmp(sock)
    q.hello()
    qargs = {"calc-time-unit": unit}
    p0, t0 = q.guest()
    r = q.cmd("calc-dirty-rate", {"calc-time": t, "calc-time-unit": unit})
    if "return" not in r:
        out(r)
        return 1
    out(q.cmd("query-dirty-rate", qargs))
    out(q.cmd("calc-dirty-rate", {"calc-time": t, "calc-time-unit": unit}))
    limit = time.monotonic() + t / (1000.0 if unit == "millisecond" else 1.0) + 3
    while time.monotonic() < limit:
        time.sleep(0.02)
        r = q.cmd("query-dirty-rate", qargs)
        if r.get("return", {}).get("status") != "measuring":
            break
    p1, t1 = q.guest()
    out(r)
    rates = [(b - a) * PAGE / MIB / (t1 - t0) for a, b in zip(p0, p1)]
    print("guest %.1f %s" % (sum(rates), " ".join("%.1f" % x for x in rates)))
    print("elapsed %.3f" % (t1 - t0))
    return 0


def cmd_flood(argv):
    n = int(argv[1])
    q = Qmp(argv[0])
    q.hello()
    line = b'{"execute": "query-status"}\n'
    closed = 0
    try:
        q.sock.setblocking(False)
        data = line * n
        # Send what the socket takes without ever reading: the server's
        # output buffer fills and it must drop us rather than buffer more.
        deadline = time.monotonic() + 10
        while data and time.monotonic() < deadline:
            _, w, _ = select.select([], [q.sock], [], 0.5)
            if w:
                data = data[q.sock.send(data):]
    except (BrokenPipeError, ConnectionResetError):
        closed = 1
    # Still not reading while the server works through the rest.
    time.sleep(1)
    q.sock.setblocking(True)
    replies = 0
    try:
        while True:
            line = q.readline(3)
            if line is None:
                break
            if line.startswith(b'{"return"'):
                replies += 1
    except Closed:
        closed = 1
    print("replies %d closed %d" % (replies, closed))
    return 0


def cmd_clients(argv):
    n = int(argv[1])
    qs = []
    for _ in range(n):
        q = Qmp(argv[0])
        q.hello()
        qs.append(q)
    extra = Qmp(argv[0])
    try:
        first = extra.readline(5)
        print(first.decode() if first is not None else "<timeout>")
        print("<timeout>" if extra.readline(2) is None else "<more>")
    except Closed:
        print("<closed>")
    served = 0
    for q in qs:
        r = q.cmd("query-status")
        served += r is not None and "return" in r
        q.close()
    print("served %d" % served)
    return 0


def shell_value(val):
    """qmp-shell's QMPShell._parse_value()."""
    try:
        return int(val)
    except ValueError:
        pass
    if val.lower() == "true":
        return True
    if val.lower() == "false":
        return False
    if val.startswith(("{", "[")):
        try:
            return json.loads(val)
        except ValueError:
            pass
    return val


def shell_cmd(line):
    """qmp-shell's _build_cmd() for a plain command: NAME key=value ..."""
    words = line.split()
    args = {}
    for w in words[1:]:
        key, _, val = w.partition("=")
        args[key] = shell_value(val)
    return {"execute": words[0], "arguments": args}


def cmd_shell(argv):
    hmp = argv[0] == "-H"
    q = Qmp(argv[-1])
    q.hello()
    cpu = 0
    for line in sys.stdin.read().splitlines():
        if line == "":
            # qmp-shell prints what arrived meanwhile.
            q.recv_pending(0.2)
            for e in q.events:
                out(e)
            q.events = []
            continue
        if hmp:
            if line.split()[0] == "cpu":
                cpu = int(line.split()[1])
            req = {"execute": "human-monitor-command",
                   "arguments": {"command-line": line, "cpu-index": cpu}}
        else:
            req = shell_cmd(line)
        q.send(req)
        r = q.reply()
        if r is None:
            print("<timeout>")
            return 2
        if not hmp:
            out(r)
        elif "return" in r:
            print(repr(r["return"]))
        else:
            print("%s: %s" % (r["error"]["class"], r["error"]["desc"]))
    return 0


def cmd_stream(argv):
    q = Qmp(argv[0])
    q.hello()
    q.send_raw(b'{"execute":"query-status","id":1}{"execute":"query-name","id":2}'
               b' {"execute":"nope","id":3}')
    split = b'{"execute":"query-version","id":"split"}'
    for i in range(0, len(split), 9):
        q.send_raw(split[i:i + 9])
        time.sleep(0.05)
    q.send_raw(b'{"a":01}{"execute":"query-kvm","id":5}')
    try:
        while True:
            line = q.readline(0.3)
            if line is None:
                break
            print(line.decode(errors="replace"), flush=True)
    except Closed:
        print("<closed>")
    return 0


def cmd_get(argv):
    try:
        obj = json.loads(sys.stdin.read())
    except ValueError:
        obj = MISSING
    for p in argv:
        print(show(dig(obj, p) if obj is not MISSING else MISSING))
    return 0


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.stderr.write(__doc__)
        return 2
    try:
        return COMMANDS[sys.argv[1]](sys.argv[2:])
    except (Closed, OSError, ValueError, KeyError, TypeError) as e:
        print("qmp_client: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 2


COMMANDS = {
    "exec": cmd_exec,
    "raw": cmd_raw,
    "listen": cmd_listen,
    "rate": cmd_rate,
    "calc": cmd_calc,
    "flood": cmd_flood,
    "clients": cmd_clients,
    "shell": cmd_shell,
    "stream": cmd_stream,
    "get": cmd_get,
}

if __name__ == "__main__":
    sys.exit(main())

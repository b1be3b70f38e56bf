#!/usr/bin/env python3
"""Record the stream of a real migration for the mig_stream fuzz target.

    tests/fuzz/record_stream.py [--vmm build/vmm] [--append "wss=2M ..."] OUT

Takes the VM lock, starts vmm (8 MiB, 2 vCPUs, the bundled stress kernel),
lets the guest run a moment, and migrates it over loopback to a listener of
this script's own that keeps every byte and answers nothing: the source
sends its whole stream, header to END record, then waits for an
acknowledgement that never comes, and ends its migration "failed" when the
listener hangs up.  The bytes go to OUT; tests/fuzz/add_stream.sh OUT NAME
then adds them to the corpus (docs/fuzzing.md, "Recorded streams").
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

# Silence after the last byte at which the listener takes the stream as
# whole: the source sends the END record at once, then only waits for the
# acknowledgement (10 s, MIG_SRC_IO_MS); within the stream it pauses only
# to stop its guest for the final round (well under a second).
QUIET_S = 5.0
# The longest the whole recording may take (boot, rounds, the end).
DEADLINE_S = 120


def listener(sock, out, done):
    conn, _ = sock.accept()
    conn.settimeout(QUIET_S)
    with open(out, "wb") as f:
        while True:
            try:
                d = conn.recv(1 << 20)
            except socket.timeout:
                break
            if not d:
                break
            f.write(d)
    conn.close()
    done.set()


class Qmp:
    def __init__(self, path):
        end = time.monotonic() + 20
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self.f = self.s.makefile("rb")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, name, args=None):
        m = {"execute": name}
        if args is not None:
            m["arguments"] = args
        self.s.sendall((json.dumps(m) + "\n").encode())
        while True:
            r = json.loads(self.f.readline())
            if "event" not in r:
                if "error" in r:
                    sys.exit("%s: %s" % (name, r["error"]["desc"]))
                return r["return"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vmm", default="build/vmm")
    ap.add_argument("--append", default="wss=2M pattern=seq report=0")
    ap.add_argument("--run", type=float, default=1.0, help="seconds the guest runs first")
    ap.add_argument("out")
    a = ap.parse_args()
    # The VM lock for the whole recording (docs: the machine is shared).
    if os.environ.get("VMM_VM_LOCK_HELD") != "1":
        lock = os.environ.get("VMM_VM_LOCK", "/tmp/vmm-vm.lock")
        os.execvp("flock", ["flock", lock, "env", "VMM_VM_LOCK_HELD=1", sys.executable]
                  + sys.argv)

    tmp = tempfile.mkdtemp(prefix="vmm-record-")
    qsock = os.path.join(tmp, "qmp.sock")
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    done = threading.Event()
    threading.Thread(target=listener, args=(lsock, a.out, done), daemon=True).start()

    cmd = [a.vmm, "--mem", "8M", "--cpus", "2", "--append", a.append,
           "--qmp", "unix:" + qsock, "--duration", str(DEADLINE_S)]
    vmm = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        q = Qmp(qsock)
        time.sleep(a.run)
        q.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        if not done.wait(DEADLINE_S):
            sys.exit("record_stream: no whole stream within %d s" % DEADLINE_S)
        end = time.monotonic() + 30
        while q.cmd("query-migrate").get("status") not in ("failed", "completed"):
            if time.monotonic() > end:
                sys.exit("record_stream: the source did not end its migration")
            time.sleep(0.1)
        q.cmd("quit")
    finally:
        try:
            vmm.wait(10)
        except subprocess.TimeoutExpired:
            vmm.kill()
        for n in os.listdir(tmp):
            os.unlink(os.path.join(tmp, n))
        os.rmdir(tmp)
    print("record_stream: %d bytes in %s" % (os.path.getsize(a.out), a.out))


if __name__ == "__main__":
    main()

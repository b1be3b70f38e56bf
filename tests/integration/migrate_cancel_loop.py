#!/usr/bin/env python3
"""migrate_cancel.sh's race loop: N migrations from SRC, each to a fresh
`vmm --incoming` started here, each cancelled a few milliseconds after
`migrate` returned (0, 2, 5, 10 or 20 ms: before the source connects,
right after, or in its first pass).  Every destination must then, by
itself, within EXIT_S:
  - exit with a status 1..127 (not 0, not a signal), having printed
    exactly one line, "vmm: incoming migration failed: ..." (issue 8: a
    failed incoming migration says one thing and prints no summary); or
  - if the source never reached it, still wait in "inmigrate" (as QEMU's
    does), answer QMP, and then be stopped by this test.
At least MIN_CUT of the N must have got a stream and exited, or the loop
tested nothing.  The source must end every migration "cancelled".

    migrate_cancel_loop.py SRC_QMP DIR NETNS ADDR PORT0 N VMM GUEST-ARGS...

Prints one line per try that failed and a summary; exit 0 when every check
held, 1 otherwise.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migrate_gt as g  # noqa: E402
from qmp_client import Closed  # noqa: E402

# A destination whose stream was cut exits in tens of milliseconds (plain
# and TSan alike, measured); 5 s means stuck.  Times SLOW for sanitizers.
EXIT_S = 5.0
DELAYS_MS = (0, 2, 5, 10, 20)
MIN_CUT = 4


def main():
    src_qmp, tmp, ns, addr, port0, n, vmm = sys.argv[1:8]
    guest = sys.argv[8:]
    n, port0 = int(n), int(port0)
    slow = float(os.environ.get("SLOW", "1"))
    q = g.connect(src_qmp)
    bad, cut, waited = [], 0, 0
    for i in range(n):
        port, sock, err = port0 + i, "%s/loop%d.sock" % (tmp, i), "%s/loop%d.err" % (tmp, i)
        dst = subprocess.Popen(["ip", "netns", "exec", ns, vmm, "--qmp", "unix:" + sock,
                                "--incoming", "tcp:%s:%d" % (addr, port)] + guest,
                               stdout=subprocess.DEVNULL, stderr=open(err, "w"))
        try:
            d = g.connect(sock)
            if g.runstate(d) != "inmigrate":
                raise g.Fail("not in inmigrate")
            d.close()
            g.call(q, "migrate", {"uri": "tcp:%s:%d" % (addr, port)})
            time.sleep(DELAYS_MS[i % len(DELAYS_MS)] / 1000.0)
            g.call(q, "migrate_cancel")
            t0 = time.monotonic()
            while True:
                st = g.call(q, "query-migrate").get("status")
                if st in g.FINAL:
                    break
                if time.monotonic() - t0 > 10:
                    raise g.Fail("the source is still %s 10 s after migrate_cancel" % st)
                time.sleep(0.01)
            if st != "cancelled":
                raise g.Fail("the source ended %s, not cancelled" % st)
            try:
                rc = dst.wait(EXIT_S * slow)
            except subprocess.TimeoutExpired:
                rc = None
            lines = open(err).read().splitlines()
            if rc is None:
                # Never reached (cancelled before connecting): it must still wait.
                try:
                    d = g.connect(sock, 2)
                    rs = g.runstate(d)
                    d.close()
                except (g.Fail, Closed, OSError) as e:
                    rs = "no QMP (%s)" % e
                if rs != "inmigrate" or lines:
                    raise g.Fail("still running %.0f s after the cancel, %s, saying %s"
                                 % (EXIT_S * slow, rs, lines))
                waited += 1
            else:
                if rc <= 0 or rc >= 128:
                    raise g.Fail("exit status %d, not 1..127; said %s" % (rc, lines))
                if len(lines) != 1 or not lines[0].startswith("vmm: incoming migration failed: "):
                    raise g.Fail("exit %d saying %d lines, not one: %s" % (rc, len(lines), lines))
                cut += 1
        except g.Fail as e:
            bad.append("try %d (cancel after %d ms): %s" % (i, DELAYS_MS[i % len(DELAYS_MS)], e))
        finally:
            if dst.poll() is None:
                dst.kill()
                dst.wait()
    for b in bad:
        print("FAIL: connect+cancel %s" % b)
    if cut < MIN_CUT:
        bad.append("only %d of %d destinations got a stream" % (cut, n))
        print("FAIL: only %d of %d destinations got a stream (at least %d wanted)" % (cut, n, MIN_CUT))
    print("%d tries: %d destinations cut exited alone with one message, %d never reached "
          "still waited, %d failed" % (n, cut, waited, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

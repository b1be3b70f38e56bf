#!/bin/bash
# Output never holds the VM or its shutdown (docs/architecture.md, "Output"):
#  - stdout (the console and --stats -) into a pipe nobody reads: --duration,
#    SIGTERM and QMP quit still stop vmm within a second, the loss is said
#    once on stderr, and the exit status is 0 (nobody reading is not an error);
#  - stdout on a terminal whose output is stopped (Ctrl-S): the same;
#  - stdout closed by its reader (| head -1): said once, exit status 1;
#  - --stats /dev/full: said once, exit status 1;
#  - --stats on a FIFO: with a reader, records arrive; with none, one error at
#    once (not a wait for a reader).
# It holds the VM lock for its whole run (lib.sh).
. "$(dirname "$0")/lib.sh"
need_kvm

cat >"$TMP/out.py" <<'EOF'
import os, pty, signal, subprocess, sys, termios, time

# tests/integration's client (PYTHONPATH): Session retries the connect, negotiates.
from qmp_client import Session

vmm, tmp, how, slow = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
STOP_AT = 2.0        # seconds after launch: the reader has long stopped reading by then
PROMPT = 1.0 * slow  # the stop must act within this long (lib.sh's SLOW)


# Four vCPUs: ~1.3 KB a record, 130 KB/s, more than the pipe and what vmm keeps.
args = [vmm, "--mem", "256M", "--cpus", "4", "--stats", "-", "--stats-interval", "10"]
if how == "duration":
    args += ["--duration", str(STOP_AT)]
elif how == "quit":
    args += ["--qmp", "unix:%s/q.sock" % tmp]
err = open("%s/%s.err" % (tmp, how), "w")
if how == "terminal":
    # A terminal whose output is stopped, as Ctrl-S (IXON) stops it.
    master, slave = pty.openpty()
    termios.tcflow(slave, termios.TCOOFF)
    out, keep = slave, master
else:
    # A pipe whose reader never reads.
    keep, out = os.pipe()
t0 = time.monotonic()
p = subprocess.Popen(args, stdout=out, stderr=err)
os.close(out)
time.sleep(STOP_AT)
t1 = time.monotonic()
if how in ("sigterm", "terminal"):
    p.send_signal(signal.SIGTERM)
elif how == "quit":
    q = Session("%s/q.sock" % tmp, timeout=5)
    q.cmd("quit")
    q.close()
elif how == "duration":
    t1 = t0 + STOP_AT
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    p.kill()
    sys.exit("still running 20 s after the stop")
took = time.monotonic() - t1
os.close(keep)
text = open("%s/%s.err" % (tmp, how)).read()
said = text.count("is not being read")
print("exit %d %.2f s after the stop; the loss said %d time(s)" % (rc, took, said))
if rc != 0 or took > PROMPT or said != 1 or "records" not in text:
    sys.exit("want exit 0 within %.1f s, the loss said once and counted: %s" % (PROMPT, text[-400:]))
EOF

for how in duration sigterm quit terminal; do
	if out=$("$PY" "$TMP/out.py" "$VMM" "$TMP" $how "$SLOW" 2>&1); then
		pass "stdout not read, stopped by $how: $out"
	else
		fail "stdout not read, stopped by $how: $out"
	fi
done

# The reader closes the pipe: EPIPE is an error (output was lost), said once.
start=$(date +%s.%N)
"$VMM" --mem 128M --stats - --stats-interval 10 --duration 2 2>"$TMP/head.err" | head -1 >"$TMP/head.out"
rc=${PIPESTATUS[0]}
t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
n=$(grep -c "Broken pipe" "$TMP/head.err")
if [ "$rc" -eq 1 ] && [ "$(grep -c "cannot write to standard output" "$TMP/head.err")" -eq 1 ] &&
	grep -q "records (.* bytes) dropped: Broken pipe" "$TMP/head.err" &&
	awk -v t="$t" 'BEGIN { exit !(t < 3.5) }'; then
	pass "| head -1: exit 1 after ${t}s, said once: $(head -1 "$TMP/head.err")"
else
	fail "| head -1: exit $rc after ${t}s, $n Broken pipe line(s): $(cat "$TMP/head.err")"
fi

# --stats /dev/full: every record fails; said once; exit 1.
timeout 20 "$VMM" --mem 128M --stats /dev/full --stats-interval 10 --duration 1 >/dev/null 2>"$TMP/full.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c "cannot write to --stats /dev/full: No space left on device" "$TMP/full.err")" -eq 1 ] &&
	grep -q "^vmm: --stats /dev/full: [0-9]* of [0-9]* records (.* bytes) dropped: No space left on device" "$TMP/full.err"; then
	pass "--stats /dev/full: exit 1, said once: $(grep -m1 "/dev/full" "$TMP/full.err")"
else
	fail "--stats /dev/full: exit $rc: $(cat "$TMP/full.err")"
fi

# --stats on a FIFO with a reader: the records arrive.
mkfifo "$TMP/fifo"
cat "$TMP/fifo" >"$TMP/fifo.out" &
reader=$!
sleep 0.2
timeout 20 "$VMM" --mem 128M --stats "$TMP/fifo" --stats-interval 100 --duration 1 >/dev/null 2>"$TMP/fifo.err"
rc=$?
wait $reader
n=$(grep -c '"vcpus"' "$TMP/fifo.out")
[ $rc -eq 0 ] && [ "$n" -ge 5 ] && pass "--stats FIFO with a reader: $n records" ||
	fail "--stats FIFO with a reader: exit $rc, $n records: $(cat "$TMP/fifo.err")"
# ... and without one: an error at once, not a wait (and SIGTERM still works if it waited).
start=$(date +%s.%N)
timeout -k 2 -s TERM 5 "$VMM" --mem 128M --stats "$TMP/fifo" --duration 1 >/dev/null 2>"$TMP/nofifo.err"
rc=$?
t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
if [ $rc -eq 2 ] && grep -q "is a FIFO that no process has open for reading" "$TMP/nofifo.err" &&
	awk -v t="$t" 'BEGIN { exit !(t < 1) }'; then
	pass "--stats FIFO without a reader: exit 2 after ${t}s: $(cat "$TMP/nofifo.err")"
else
	fail "--stats FIFO without a reader: exit $rc after ${t}s: $(cat "$TMP/nofifo.err")"
fi
finish

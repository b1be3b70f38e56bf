#!/bin/bash
# Boot the bundled stress kernel on 1 and 2 vCPUs; check the serial output,
# the guest's counters against the monitor's, --duration, and a clean stop
# on SIGINT.  The smallest --mem boots; a guest's power-off value becomes the
# exit status (255 for what does not fit); with 256 vCPUs on our 2 cores,
# SIGINT acts within a second at every stage of start-up and --duration
# counts from launch.
. "$(dirname "$0")/lib.sh"
need_kvm

# The monitor's summary: harvested pages are the pages written, plus what
# boot and the summary dirty (about 3 pages a report): within 1% and 300
# pages.  (A tracker that died after 16,401 pages of 257 million passed the
# old "at least 1" check.)
summary_ok() { # FILE CPU
	awk -v c="$2" '$3 == c":" && $6 == "harvested," { h = $4; w = $7 }
		END { if (!(w > 10000 && h + 1 >= w && h - w <= w / 100 + 300)) { print "harvested " h ", written " w; exit 1 }
		      print "harvested " h ", written " w }' "$1"
}
# The 1-vCPU run in the plain build only: under a sanitizer the 2-vCPU run
# below drives the same code with one more vCPU thread.
if [ "$SANITIZER" = none ]; then
	start=$(date +%s.%N)
	timeout 30 "$VMM" --cpus 1 --mem 256M --duration 3 >"$TMP/one" 2>"$TMP/one.err"
	rc=$?
	t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	[ $rc -eq 0 ] && pass "1 vCPU: exit 0 after ${t}s" || fail "1 vCPU: exit $rc: $(tail -3 "$TMP/one.err")"
	grep -q "^stress: boot cpus=1 " "$TMP/one" && pass "1 vCPU: boot line" || fail "1 vCPU: no boot line"
	n=$(progress_lines "$TMP/one" 0)
	[ "$n" -ge 2 ] && pass "1 vCPU: $n progress lines" || fail "1 vCPU: $n progress lines"
	grep -E "errors=[1-9]" "$TMP/one" && fail "1 vCPU: errors reported"
	if out=$(summary_ok "$TMP/one.err" 0); then pass "1 vCPU: monitor summary: $out"; else
		fail "1 vCPU: summary: $out: $(cat "$TMP/one.err")"
	fi
fi

start=$(date +%s.%N)
timeout 30 "$VMM" --cpus 2 --mem 512M --duration 3 >"$TMP/two" 2>"$TMP/two.err"
rc=$?
t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ $rc -eq 0 ] && pass "2 vCPUs: exit 0 after ${t}s" || fail "2 vCPUs: exit $rc: $(tail -3 "$TMP/two.err")"
if awk -v t="$t" 'BEGIN { exit !(t > 2.5 && t < 8) }'; then pass "2 vCPUs: about 3 s"; else fail "2 vCPUs: took ${t}s"; fi
for c in 0 1; do
	n=$(progress_lines "$TMP/two" $c)
	[ "$n" -ge 2 ] && pass "2 vCPUs: cpu$c $n progress lines" || fail "2 vCPUs: cpu$c $n progress lines"
done
grep -q "^stress: cpu1 online" "$TMP/two" && pass "2 vCPUs: cpu1 online" || fail "2 vCPUs: cpu1 never online"
grep -E "errors=[1-9]" "$TMP/two" && fail "2 vCPUs: errors reported"
for c in 0 1; do
	if out=$(summary_ok "$TMP/two.err" $c); then pass "2 vCPUs: cpu$c monitor summary: $out"; else
		fail "2 vCPUs: cpu$c summary: $out"
	fi
done

# The smallest --mem that --help offers boots, with 4 vCPUs working.
min=$("$VMM" --help | sed -n 's/.*guest RAM, \([0-9]*[KMG]\)\.\..*/\1/p')
timeout 30 "$VMM" --mem "$min" --cpus 4 --duration 3 >"$TMP/min" 2>"$TMP/min.err"
rc=$?
n=0
for c in 0 1 2 3; do [ "$(progress_lines "$TMP/min" $c)" -ge 1 ] && n=$((n + 1)); done
[ $rc -eq 0 ] && [ $n -eq 4 ] && pass "--mem $min (the minimum): 4 vCPUs at work" ||
	fail "--mem $min (the minimum): exit $rc, $n of 4 vCPUs at work: $(grep -m2 -E "PANIC|warning" "$TMP/min") $(tail -2 "$TMP/min.err")"

# A guest's power-off value is the exit status; one that does not fit is 255, never 0.
for v in 0 3 254 255 256 512 4294967295; do
	case $v in 0 | 3 | 254 | 255) want=$v ;; *) want=255 ;; esac
	mb_kernel "$TMP/off.bin" "$(poweroff_code $v)"
	timeout 20 "$VMM" --kernel "$TMP/off.bin" --mem 16M >/dev/null 2>"$TMP/off.err"
	rc=$?
	[ $rc -eq $want ] && pass "power-off value $v: exit $rc" || fail "power-off value $v: exit $rc, want $want: $(cat "$TMP/off.err")"
done

# SIGINT stops the VM cleanly, with status 0.
"$VMM" --mem 128M >"$TMP/int" 2>"$TMP/int.err" &
BGPID=$!
# Once it has made progress (its first report, within 10 s).
for _ in $(seq 100); do [ "$(progress_lines "$TMP/int" 0)" -ge 1 ] && break; sleep 0.1; done
kill -INT $BGPID
for _ in $(seq 50); do kill -0 $BGPID 2>/dev/null || break; sleep 0.1; done
if kill -0 $BGPID 2>/dev/null; then
	fail "SIGINT: still running 5 s later"
else
	wait $BGPID
	rc=$?
	[ $rc -eq 0 ] && pass "SIGINT: clean exit" || fail "SIGINT: exit $rc"
fi
BGPID=
[ "$(progress_lines "$TMP/int" 0)" -ge 1 ] && pass "SIGINT: had progress" || fail "SIGINT: no progress"

# 256 vCPUs on 2 cores: SIGINT acts within a second at every stage of start-up
# (vCPU threads are created while none runs the guest), and --duration counts
# from launch.  It once took 23 to 38 s: running vCPUs starved the main thread.
# Each must act within a second (two under a sanitizer: lib.sh's SLOW).  vmm
# runs with SIGINT at its default action, as from a terminal: a script's
# background command inherits it ignored, and before main() blocks it (the
# sanitizers' start-up takes ~10 ms) an ignored signal is lost.  Killed by it
# before main() (130) is acting on it too.
for at in 0.01 0.3 1.5; do
	env --default-signal=INT "$VMM" --cpus 256 --mem 1G >"$TMP/many" 2>"$TMP/many.err" &
	BGPID=$!
	sleep $at
	sent=$(date +%s.%N)
	kill -INT $BGPID
	for _ in $(seq 100); do kill -0 $BGPID 2>/dev/null || break; sleep 0.05; done
	t=$(awk -v a="$sent" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	if kill -0 $BGPID 2>/dev/null; then
		fail "256 vCPUs, SIGINT at ${at}s: still running 5 s later"
		kill -9 $BGPID
		wait $BGPID
	else
		wait $BGPID
		rc=$?
		if [ $rc -eq 0 ] || [ $rc -eq 130 ]; then
			awk -v t="$t" -v s="$SLOW" 'BEGIN { exit !(t < s) }' && pass "256 vCPUs, SIGINT at ${at}s: exit $rc ${t}s later" ||
				fail "256 vCPUs, SIGINT at ${at}s: exit $rc only ${t}s later"
		else
			fail "256 vCPUs, SIGINT at ${at}s: exit $rc: $(tail -2 "$TMP/many.err")"
		fi
	fi
	BGPID=
done
start=$(date +%s.%N)
# --duration counts from launch: 1 s, plus start-up and shutdown of 256
# threads (about 1 s plain; 2.1 s seen under ASan on a loaded 2-core host).
# Before the fix this took 23-38 s.
timeout 60 "$VMM" --cpus 256 --mem 1G --duration 1 >"$TMP/many" 2>"$TMP/many.err"
rc=$?
t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ $rc -eq 0 ] && awk -v t="$t" -v s="$SLOW" 'BEGIN { exit !(t < 1 + 2 * s) }' && pass "256 vCPUs, --duration 1: exit 0 after ${t}s" ||
	fail "256 vCPUs, --duration 1: exit $rc after ${t}s"

# --kernel boots a Multiboot ELF from a file (here the same stress kernel),
# and guest parameters (--append) reach the guest: one run for both.
timeout 30 "$VMM" --kernel "$STRESS" --mem 128M --append "wss=16M rate=20" --duration 2 >"$TMP/file" 2>&1
rc=$?
[ $rc -eq 0 ] && [ "$(progress_lines "$TMP/file" 0)" -ge 1 ] && pass "--kernel FILE boots" ||
	fail "--kernel FILE: exit $rc: $(tail -3 "$TMP/file")"
grep -q "wss=16M" "$TMP/file" && pass "append: wss reached the guest" || fail "append: $(head -5 "$TMP/file")"
finish

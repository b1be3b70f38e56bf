#!/bin/bash
# Boot the bundled stress kernel on 1 and 2 vCPUs; check the serial output,
# the guest's counters, --duration, and a clean stop on SIGINT.
. "$(dirname "$0")/lib.sh"
need_kvm

start=$(date +%s.%N)
timeout 30 "$VMM" --cpus 1 --mem 256M --duration 3 >"$TMP/one" 2>"$TMP/one.err"
rc=$?
t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ $rc -eq 0 ] && pass "1 vCPU: exit 0 after ${t}s" || fail "1 vCPU: exit $rc: $(tail -3 "$TMP/one.err")"
grep -q "^stress: boot cpus=1 " "$TMP/one" && pass "1 vCPU: boot line" || fail "1 vCPU: no boot line"
n=$(progress_lines "$TMP/one" 0)
[ "$n" -ge 2 ] && pass "1 vCPU: $n progress lines" || fail "1 vCPU: $n progress lines"
grep -E "errors=[1-9]" "$TMP/one" && fail "1 vCPU: errors reported"
# The monitor's summary: harvested pages are of the same order as written.
grep -Eq "vCPU 0: [1-9][0-9]* pages harvested, [1-9][0-9]* guest pages written, 0 errors" "$TMP/one.err" &&
	pass "1 vCPU: monitor summary" || fail "1 vCPU: summary: $(cat "$TMP/one.err")"

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

# SIGINT stops the VM cleanly, with status 0.
"$VMM" --mem 128M >"$TMP/int" 2>"$TMP/int.err" &
BGPID=$!
sleep 2
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

# --kernel boots a Multiboot ELF from a file (here the same stress kernel).
timeout 30 "$VMM" --kernel "$STRESS" --mem 128M --append "wss=8M" --duration 2 >"$TMP/file" 2>&1
rc=$?
[ $rc -eq 0 ] && [ "$(progress_lines "$TMP/file" 0)" -ge 1 ] && pass "--kernel FILE boots" ||
	fail "--kernel FILE: exit $rc: $(tail -3 "$TMP/file")"

# Guest parameters reach the guest.
timeout 30 "$VMM" --mem 256M --append "wss=16M rate=20" --duration 3 >"$TMP/rate" 2>&1
grep -q "wss=16M" "$TMP/rate" && pass "append: wss reached the guest" || fail "append: $(head -5 "$TMP/rate")"
finish

#!/bin/sh
# Run every test: the unit and integration tests in build/, then again with
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/) and with
# ThreadSanitizer (build-tsan/), then the fuzz targets briefly (build-fuzz/,
# clang).  Prints how long each part took and one summary line at the end:
#   "N passed, N failed, N skipped".
# Run tools/setup.sh first (the README's command does).
#
# Where the time goes (docs/testing.md): the integration tests hold the VM
# lock and must have the two cores to themselves (they measure rates), so
# they run one at a time.  The other builds compile meanwhile in the
# background at SCHED_IDLE priority (chrt --idle): they take only the CPU
# time the tests leave idle (a test sleeping, a 1-vCPU guest), never the
# tests' own.  Tests without a VM run two at a time.
set -u
cd "$(dirname "$0")/.."

pass=0 fail=0 skip=0
T0=$(date +%s)
# Tests without a VM: two at a time (two cores).
UNIT_JOBS=2

took() { echo "test: $1 done at $(($(date +%s) - T0)) s"; }

# setup_build DIR MESON-ARGS...: configure DIR if needed, then build it;
# the output in build-bg/DIR.log, shown if it fails.
LOGS=build-bg
setup_build() {
	dir=$1
	shift
	mkdir -p $LOGS
	{ [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"; } >"$LOGS/$dir.log" 2>&1 &&
		ninja -C "$dir" >>"$LOGS/$dir.log" 2>&1 || {
		echo "test: setting up or building $dir failed:"
		tail -30 "$LOGS/$dir.log"
		return 1
	}
}

# The other builds, one after the other (each uses both cores): what
# "test.sh --bg-builds" does, started at SCHED_IDLE so that it never takes a
# core from a running test.  Each writes build-bg/DIR.ok or DIR.failed.
if [ "${1:-}" = --bg-builds ]; then
	setup_build build-asan -Db_sanitize=address,undefined -Db_lundef=false &&
		: >$LOGS/build-asan.ok || : >$LOGS/build-asan.failed
	setup_build build-tsan -Db_sanitize=thread -Db_lundef=false &&
		: >$LOGS/build-tsan.ok || : >$LOGS/build-tsan.failed
	# The fuzz targets (tests/fuzz, docs/fuzzing.md): clang, libFuzzer,
	# ASan and UBSan.
	CC=clang-14 && export CC &&
		setup_build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false &&
		: >$LOGS/build-fuzz.ok || : >$LOGS/build-fuzz.failed
	exit 0
fi
bg_builds() {
	mkdir -p $LOGS
	rm -f $LOGS/*.ok $LOGS/*.failed
	if command -v chrt >/dev/null && chrt --idle 0 true 2>/dev/null; then
		chrt --idle 0 sh tools/test.sh --bg-builds >$LOGS/bg.log 2>&1 &
	else
		nice -n 19 sh tools/test.sh --bg-builds >$LOGS/bg.log 2>&1 &
	fi
	BG=$!
}

# wait_build DIR: until the background build of DIR is done; 0 if it built.
wait_build() {
	while [ ! -e "$LOGS/$1.ok" ] && [ ! -e "$LOGS/$1.failed" ]; do
		# The background builder gone without a word (killed): a failure,
		# never a wait for ever.
		kill -0 "$BG" 2>/dev/null || [ -e "$LOGS/$1.ok" ] || { : >"$LOGS/$1.failed"; break; }
		sleep 1
	done
	if [ -e "$LOGS/$1.failed" ]; then
		grep -v '^$' $LOGS/bg.log | tail -30
		fail=$((fail + 1))
		return 1
	fi
	took "build of $1"
}

# run_suite DIR [MESON-TEST-ARGS...]: DIR's tests without a VM, then its
# integration tests under one hold of the VM lock: each integration test
# would otherwise take it itself, and on a machine shared with other runs
# its wait would count against the test's own timeout.
run_suite() {
	dir=$1
	shift
	echo "== $dir"
	run_meson "$dir" --num-processes $UNIT_JOBS --no-suite integration "$@"
	if [ "${VMM_VM_LOCK_HELD:-0}" = 1 ]; then
		run_meson "$dir" --num-processes 1 --suite integration
	else
		VMM_VM_LOCK_HELD=1 flock "${VMM_VM_LOCK:-/tmp/vmm-vm.lock}" \
			meson test -C "$dir" --print-errorlogs --num-processes 1 --suite integration
		count "$dir"
	fi
	took "$dir"
}

run_meson() {
	dir=$1
	shift
	meson test -C "$dir" --print-errorlogs "$@"
	count "$dir"
}

# Count from meson's JSON log of the last run (one object per test).
count() {
	eval "$(python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(f"p={p} f={f} s={s}")
PY
)"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
}

if setup_build build; then
	took "build of build"
	bg_builds
	run_suite build
else
	fail=$((fail + 1))
	bg_builds
fi
# Sanitizer builds: the sanitizers slow vCPU threads a little, nothing else.
wait_build build-asan && run_suite build-asan
# ThreadSanitizer: not the single-threaded tests (the suite 'no-threads':
# TSan finds nothing in one thread); the integration tests that run say why
# in tests/integration/meson.build.
wait_build build-tsan && run_suite build-tsan --no-suite no-threads
# The fuzz targets: a short run of each from a fixed seed.  No VM.
if wait_build build-fuzz; then
	echo "== build-fuzz"
	run_meson build-fuzz --num-processes $UNIT_JOBS
	took build-fuzz
fi
wait $BG 2>/dev/null

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

#!/bin/sh
# Run every test: the unit and integration tests in build/, then again with
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/) and with
# ThreadSanitizer (build-tsan/), then the fuzz targets briefly (build-fuzz/,
# clang).  Prints one summary line at the end:
#   "N passed, N failed, N skipped".
# Run tools/setup.sh first (the README's command does).
set -u
cd "$(dirname "$0")/.."

pass=0 fail=0 skip=0
run_suite() {
	dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null || { fail=$((fail + 1)); return; }
	fi
	ninja -C "$dir" >/dev/null || { echo "test: build of $dir failed"; ninja -C "$dir" | tail -30; fail=$((fail + 1)); return; }
	echo "== $dir"
	# Tests without a VM first, then the integration tests under one hold of
	# the VM lock: each integration test would otherwise take it itself, and
	# on a machine shared with other runs its wait would count against the
	# test's own timeout.
	run_meson "$dir" --no-suite integration
	if [ "${VMM_VM_LOCK_HELD:-0}" = 1 ]; then
		run_meson "$dir" --suite integration
	else
		VMM_VM_LOCK_HELD=1 flock "${VMM_VM_LOCK:-/tmp/vmm-vm.lock}" \
			meson test -C "$dir" --print-errorlogs --num-processes 1 --suite integration $SUITE_ARGS
		count "$dir"
	fi
}

run_meson() {
	dir=$1
	shift
	meson test -C "$dir" --print-errorlogs --num-processes 1 "$@" $SUITE_ARGS
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

SUITE_ARGS=""
run_suite build
# Sanitizer builds: the sanitizers slow vCPU threads a little, nothing else.
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false
run_suite build-tsan -Db_sanitize=thread -Db_lundef=false
# The fuzz targets (tests/fuzz, docs/fuzzing.md): clang, libFuzzer, ASan and
# UBSan; a short run of each from a fixed seed.  No VM, no integration suite.
if [ ! -f build-fuzz/build.ninja ] &&
	! CC=clang-14 meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null; then
	echo "test: setting up build-fuzz failed (clang-14, libclang-rt-14-dev: tools/setup.sh)"
	fail=$((fail + 1))
elif ! ninja -C build-fuzz >/dev/null; then
	echo "test: build of build-fuzz failed"
	ninja -C build-fuzz | tail -30
	fail=$((fail + 1))
else
	echo "== build-fuzz"
	run_meson build-fuzz
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

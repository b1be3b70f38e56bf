#!/bin/sh
# One long run of fuzz targets, one after another, each under nice -n 19
# (docs/fuzzing.md, "Running for hours"):
#   tests/fuzz/long_run.sh NAME=SECONDS...
# e.g. tests/fuzz/long_run.sh mig_stream=3600 qmp=1800
# Runs build-fuzz/tests/fuzz/fuzz_NAME for SECONDS from its seed corpus
# (tests/fuzz/corpus/NAME, only read) and what earlier runs found
# ($FUZZ_DIR/NAME, default /tmp/vmm-fuzz/NAME: reuse it to continue), with
# the target's dictionary.  A crash or a failed check stops that target's
# run and leaves the input as $FUZZ_DIR/NAME-crash-SHA1 (docs/fuzzing.md
# says how to reproduce it); the next target runs anyway.  Prints one line
# per target: executions, executions per second, coverage (libFuzzer's
# edges and features), inputs in the corpus at the end, and the artifacts
# written.  The whole log of each run is $FUZZ_DIR/NAME.log.
set -u
cd "$(dirname "$0")/../.."
dir=${FUZZ_DIR:-/tmp/vmm-fuzz}
[ $# -gt 0 ] || { echo "usage: $0 NAME=SECONDS..." >&2; exit 2; }
mkdir -p "$dir"
printf '%-14s %8s %12s %8s %6s %7s %6s  %s\n' target seconds executions exec/s cov ft corpus artifacts
status=0
for arg in "$@"; do
	t=${arg%%=*} secs=${arg#*=}
	exe=build-fuzz/tests/fuzz/fuzz_$t
	[ -x "$exe" ] || { echo "long_run: $exe missing (ninja -C build-fuzz)" >&2; exit 2; }
	dict=
	[ -f "tests/fuzz/$t.dict" ] && dict=-dict=tests/fuzz/$t.dict
	mkdir -p "$dir/$t"
	before=$(ls "$dir" | grep -c "^$t-" || true)
	# shellcheck disable=SC2086 # $dict is one word or none
	nice -n 19 "$exe" -max_total_time="$secs" -timeout=20 -print_final_stats=1 \
		-artifact_prefix="$dir/$t-" $dict "$dir/$t" "tests/fuzz/corpus/$t" \
		>"$dir/$t.log" 2>&1 || status=1
	after=$(ls "$dir" | grep -c "^$t-" || true)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$t.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/$t.log")
	last=$(grep -E '^#[0-9]+' "$dir/$t.log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	printf '%-14s %8s %12s %8s %6s %7s %6s  %s\n' "$t" "$secs" "${runs:-?}" "${rate:-?}" \
		"${cov:-?}" "${ft:-?}" "${corp:-?}" "$((after - before))"
done
exit $status

#!/bin/sh
# One short libFuzzer run, as a test (tests/fuzz/meson.build):
#   run_fuzzer.sh FUZZER CORPUS_DIR RUNS ARTIFACT_DIR [libFuzzer flags...]
# Runs the seeds and regression inputs of CORPUS_DIR, then mutates them
# until RUNS executions in all, from a fixed random seed (the same run every
# time).  New inputs go to a scratch directory, never into CORPUS_DIR.  A
# crash or a failed check leaves the input in ARTIFACT_DIR and fails the
# test; docs/fuzzing.md says how to reproduce it.
set -eu
fuzzer=$1 corpus=$2 runs=$3 artifacts=$4
shift 4
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vmm-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
if "$fuzzer" -runs="$runs" -seed=1 -timeout=20 -print_final_stats=1 \
	-artifact_prefix="$artifacts/$(basename "$fuzzer")-" "$@" "$scratch" "$corpus"; then
	exit 0
fi
echo "run_fuzzer: $(basename "$fuzzer") failed; the input is in $artifacts;" \
	"reproduce with: $fuzzer FILE (docs/fuzzing.md)"
exit 1

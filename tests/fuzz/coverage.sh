#!/bin/sh
# Line and branch coverage of a parser reached by a corpus (docs/fuzzing.md):
#   tests/fuzz/coverage.sh TARGET [CORPUS_DIR...]
# Builds the target's replay program with clang's source-based coverage in
# build-cov/ (only that program and the libraries it needs), runs it on the
# corpus directories (default: tests/fuzz/corpus/TARGET) and prints
# llvm-cov's report for the parser's own source files, then for its
# functions (those of the file that the target calls, directly or not).
set -eu
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 TARGET [CORPUS_DIR...]" >&2; exit 2; }
t=$1
shift
case $t in
mig_stream) files="src/migrate/mig_stream_dec.c src/migrate/mig_stream_dec_rec.c" ;;
mig_reply) files="src/migrate/mig_stream.c" funcs="mig_reply_parse" ;;
loader) files="src/vmm/loader.c" ;;
size) files="src/vmm/size.c" ;;
cli) files="src/vmm/cli.c" funcs="mig_uri_parse mig_fault_parse" ;;
guest_cmdline) files="guest/cmdline.c" ;;
guest_dtb) files="guest/dtb.c" ;;
vstate) files="src/vmm/vstate.c src/vmm/vstate_dev.c src/vmm/wire.c" funcs="check_section check_complete" ;;
qmp) files="src/qmp/qmp_json_in.c src/qmp/qmp_json_out.c src/qmp/qmp_dispatch.c src/qmp/qmp_args.c src/qmp/qmp_commands.c src/qmp/qmp_cmd_migrate.c" funcs="mig_uri_parse" ;;
*) echo "unknown target $t" >&2; exit 2 ;;
esac
if [ ! -f build-cov/build.ninja ]; then
	# meson runs the compiler's test programs: their profiles go nowhere.
	LLVM_PROFILE_FILE=/dev/null CC=clang-14 meson setup build-cov \
		-Dc_args='-fprofile-instr-generate -fcoverage-mapping' \
		-Dc_link_args=-fprofile-instr-generate >/dev/null
fi
ninja -C build-cov "tests/fuzz/replay_$t" >/dev/null
[ $# -gt 0 ] || set -- "tests/fuzz/corpus/$t"
prof=build-cov/cov-$t
rm -f "$prof".profraw "$prof".profdata
LLVM_PROFILE_FILE=$prof.profraw "build-cov/tests/fuzz/replay_$t" "$@" 2>/dev/null
llvm-profdata-14 merge -o "$prof.profdata" "$prof.profraw"
report() {
	llvm-cov-14 report "build-cov/tests/fuzz/replay_$t" -instr-profile="$prof.profdata"
}
# The header, and the parser's files (llvm-cov 14 ignores a file filter here).
report | head -2
for f in $files; do
	report | grep "^$f "
done
# A function alone: its lines with a count, and those never run.
for fn in ${funcs:-}; do
	llvm-cov-14 show "build-cov/tests/fuzz/replay_$t" -instr-profile="$prof.profdata" -name="$fn" |
		awk -F'|' -v fn="$fn" '$2 ~ /[0-9]/ { n++; if ($2 + 0 == 0) z++ }
			END { printf "%s: %d lines run of %d (%.2f%%)\n", fn, n - z, n, 100 * (n - z) / n }'
done

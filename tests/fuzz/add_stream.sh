#!/bin/sh
# Add a migration stream recorded from a real migration to the corpus of
# fuzz_mig_stream (docs/fuzzing.md, "Recorded streams"):
#   tests/fuzz/add_stream.sh STREAM_FILE [NAME]
# The file is the bytes a source sent, from the 16-byte header to the END
# record (e.g. what `nc -l PORT > FILE` received as the destination).  It
# is written as corpus/mig_stream/ok-recorded-NAME (default: its SHA-1)
# behind the target's 4 control bytes: flags 0x47 (repair checks, page sums
# and the digest, so that mutations reach the fields behind them; vmm's own
# section table) and a fixed cut seed.  The stream must decode as it is: the replay test
# (fuzz_replay_mig_stream) then checks that it still does.  Keep it small:
# a guest of --mem 8M, vmm's minimum (the target refuses more than 8 MiB).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 STREAM_FILE [NAME]" >&2; exit 2; }
src=$1
dir=$(dirname "$0")/corpus/mig_stream
name=${2:-$(sha1sum "$src" | cut -c1-16)}
head=$(head -c 8 "$src")
if [ "$head" != "VMM-MIG" ]; then
	echo "$src: not a vmm migration stream (no VMM-MIG header)" >&2
	exit 1
fi
out=$dir/ok-recorded-$name
{ printf '\107\001\002\003'; cat "$src"; } >"$out"
echo "added $out ($(wc -c <"$out") bytes)"

# Shared by the integration tests (sourced).  $1 of each test is the vmm
# binary.  Tests exit 0 (pass), 1 (fail) or 77 (skipped: no /dev/kvm).
set -u
VMM=${1:?usage: $0 path/to/vmm}
STRESS=${2:-$(dirname "$VMM")/guest/stress.elf}
TMP=$(mktemp -d /tmp/vmm-test.XXXXXX)
# Processes a test starts go into PIDS (or BGPID): killed at exit, however
# the test ends, so no VM outlives it.
PIDS=
trap 'for p in $PIDS; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"
[ -n "${BGPID:-}" ] && kill -9 "$BGPID" 2>/dev/null; true' EXIT
# The tests' Python: Debian's when there is one.  It starts in 30 ms, a
# pyenv shim on PATH in 200 (int_qmp starts ~150 of them).
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
FAILS=0
# The tests' Python (scripts written to $TMP) imports this directory's
# modules: qmp_client.py's Session is the one QMP client of the tests.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"

# The host has two cores: two VMs at once distort each other's rates, and
# several people (and their suites) share a machine.  Each integration test
# holds the VM lock for its whole run, as bench/ does per VM.  A caller that
# already holds it (a script that wraps the suite in flock) sets
# VMM_VM_LOCK_HELD=1, or the test would wait for itself.
VMM_VM_LOCK=${VMM_VM_LOCK:-/tmp/vmm-vm.lock}
# Long enough for another suite's longest integration test to finish.
VMM_VM_LOCK_WAIT_S=900
if [ "${VMM_VM_LOCK_HELD:-0}" != 1 ]; then
	exec 9>>"$VMM_VM_LOCK"
	if ! flock -w "$VMM_VM_LOCK_WAIT_S" 9; then
		echo "FAIL: could not take the VM lock $VMM_VM_LOCK within ${VMM_VM_LOCK_WAIT_S} s"
		exit 1
	fi
	export VMM_VM_LOCK_HELD=1
fi

# Sanitizer builds run the monitor's own code 2 to 15 times slower
# (ThreadSanitizer takes about 3 ms to create a thread: 0.7 s for 256 vCPUs):
# limits on how long start-up and shutdown may take are multiplied by SLOW.
# SANITIZER: the build's sanitizer (none, address or thread), for tests that
# run less of what a sanitizer cannot judge (rates: the plain build checks them).
SANITIZER=none
if grep -qa __tsan_init "$VMM" 2>/dev/null; then
	SANITIZER=thread
elif grep -qa __asan_init "$VMM" 2>/dev/null; then
	SANITIZER=address
fi
if [ $SANITIZER = none ]; then SLOW=1; else SLOW=2; fi

need_kvm() {
	if [ ! -e /dev/kvm ]; then
		echo "SKIP: /dev/kvm is absent on this host (no KVM); the test needs a real VM"
		exit 77
	fi
}

pass() { echo "ok: $*"; }
fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}
# expect DESC GOT WANT: exact string match.
expect() {
	if [ "$2" = "$3" ]; then pass "$1: $2"; else fail "$1: got '$2', want '$3'"; fi
}
# num X...: every X is a decimal number (so that an empty answer never passes).
num() {
	for x in "$@"; do [[ $x =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || return 1; done
}
# is A OP B: compare decimals.
is() { num "$1" "$3" && awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; }
# near VALUE TARGET PERCENT: |VALUE - TARGET| <= PERCENT% of TARGET.
near() {
	num "$1" "$2" &&
		awk -v v="$1" -v t="$2" -v p="$3" 'BEGIN { d = v - t; if (d < 0) d = -d; exit !(d <= t * p / 100) }'
}

finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$FAILS check(s) failed"
		exit 1
	fi
	exit 0
}

# wait_exit PID NAME WANT [SECONDS]: the background process PID (a child of
# this shell) must exit within SECONDS (default 10) with status WANT, or with
# WANT "nonzero" any failure that is not a signal or a timeout.  A failure
# shows the end of $TMP/NAME.err.
wait_exit() {
	local secs=${4:-10}
	for _ in $(seq $((secs * 10))); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$1" 2>/dev/null; then
		fail "$2: still running $secs s later"
		return
	fi
	wait "$1"
	rc=$?
	if [ "$3" = nonzero ] && [ $rc -ne 0 ] && [ $rc -lt 124 ]; then
		pass "$2: exit $rc"
	elif [ "$3" != nonzero ] && [ $rc -eq "$3" ]; then
		pass "$2: exit $rc"
	else
		fail "$2: exit $rc, want $3: $(tail -3 "$TMP/$2.err")"
	fi
}

# expect_fail "description" "message regexp" vmm-args...
# vmm must exit non-zero (and not by a signal) with one line matching on stderr.
expect_fail() {
	desc=$1 re=$2
	shift 2
	timeout 20 "$VMM" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ $rc -eq 0 ]; then
		fail "$desc: exit status 0"
	elif [ $rc -ge 124 ]; then
		fail "$desc: exit status $rc (crash, signal or hang)"
	elif ! grep -Eq -- "$re" "$TMP/err"; then
		fail "$desc: stderr does not match /$re/: $(head -c 300 "$TMP/err")"
	else
		pass "$desc (exit $rc): $(head -n 1 "$TMP/err")"
	fi
}

# Count of guest summary lines for a vCPU with progress and no errors.
progress_lines() { grep -Ec "^stress: cpu$2 pages=[1-9][0-9]* .*errors=0$" "$1"; }

# mb_kernel FILE HEX: a minimal Multiboot kernel (a.out kludge, loaded at
# 1 MiB) whose code is the machine code HEX, run by vCPU 0 as Multiboot
# starts it: 32-bit protected mode, ring 0, paging off.
mb_kernel() {
	python3 - "$1" "$2" <<'PY'
import struct, sys
base, flags, magic = 0x100000, 0x00010000, 0x1BADB002
code = bytes.fromhex(sys.argv[2])
hdr = struct.pack("<8I", magic, flags, (-(magic + flags)) & 0xffffffff,
                  base, base, 0, 0, base + 32)
open(sys.argv[1], "wb").write(hdr + code)
PY
}
# Little-endian hex of a 32-bit value, for mb_kernel's immediates.
le32() { python3 -c "import struct,sys; print(struct.pack('<I', int(sys.argv[1], 0)).hex())" "$1"; }
# x86: power off with VALUE (mov eax, VALUE; out 0xf4, eax), then hlt.
poweroff_code() { echo "b8$(le32 "$1")e7f4f4ebfd"; }

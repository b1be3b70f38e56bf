# Shared by the integration tests (sourced).  $1 of each test is the vmm
# binary.  Tests exit 0 (pass), 1 (fail) or 77 (skipped: no /dev/kvm).
set -u
VMM=${1:?usage: $0 path/to/vmm}
STRESS=${2:-$(dirname "$VMM")/guest/stress.elf}
TMP=$(mktemp -d /tmp/vmm-test.XXXXXX)
trap 'rm -rf "$TMP"; [ -n "${BGPID:-}" ] && kill -9 "$BGPID" 2>/dev/null; true' EXIT
FAILS=0

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

finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$FAILS check(s) failed"
		exit 1
	fi
	exit 0
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

#!/bin/bash
# Every bad input gets one clear line on stderr and a non-zero exit status,
# never a crash or a hang: sizes, vCPU counts, kernel files, the command
# line, the dirty ring size, and /dev/kvm missing or not accessible.
. "$(dirname "$0")/lib.sh"
need_kvm

expect_fail "zero memory" "mem.*(zero|0|at least)" --mem 0
expect_fail "garbage size" "mem" --mem 12Q
expect_fail "negative size" "mem" --mem -5M
expect_fail "tiny memory" "minimum" --mem 1M
expect_fail "absurd memory" "mem" --mem 99999999999999999999G
expect_fail "more memory than the host" "more than this host has" --mem 900G
expect_fail "zero vCPUs" "cpus" --cpus 0
expect_fail "too many vCPUs" "cpus" --cpus 100000
expect_fail "vCPUs not a number" "cpus" --cpus two
expect_fail "missing kernel file" "cannot open kernel .*/nonexistent" --kernel "$TMP/nonexistent"
expect_fail "kernel is a directory" "not a regular file" --kernel "$TMP"
printf 'hello, I am not a kernel\n' >"$TMP/text"
expect_fail "kernel is text" "Multiboot" --kernel "$TMP/text"
: >"$TMP/empty"
expect_fail "empty kernel" "empty" --kernel "$TMP/empty"
# A real Multiboot ELF cut short: headers promise more than the file has.
head -c 6000 "$STRESS" >"$TMP/short.elf"
expect_fail "truncated kernel" "kernel|segment|ELF|file" --kernel "$TMP/short.elf"
# An ELF that is not Multiboot (the vmm binary itself).
expect_fail "ELF without Multiboot header" "Multiboot" --kernel "$VMM"
long=$(head -c 5000 /dev/zero | tr '\0' a)
expect_fail "command line too long" "4095|too long" --append "$long"
expect_fail "ring size not a power of two" "power of two" --dirty-ring-size 1000
expect_fail "ring size too large" "dirty-ring-size" --dirty-ring-size 131072
expect_fail "unknown option" "unrecognized|unknown|--frobnicate" --frobnicate
expect_fail "stray argument" "stray|unexpected|extra" foo
expect_fail "bad duration" "duration" --duration soon
expect_fail "bad dirty limit" "dirty-limit" --dirty-limit fast
expect_fail "dirty limit for a missing vCPU" "dirty-limit|cpu" --cpus 2 --dirty-limit 5=100
expect_fail "bad qmp address" "qmp" --qmp ftp:nowhere

# /dev/kvm missing: a private mount namespace with an empty /dev.
if unshare -m true 2>/dev/null; then
	unshare -m sh -c "mount -t tmpfs none /dev && exec timeout 20 '$VMM' --duration 1" \
		>"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -lt 124 ] && grep -q "/dev/kvm does not exist" "$TMP/err"; then
		pass "no /dev/kvm (exit $rc): $(head -n 1 "$TMP/err")"
	else
		fail "no /dev/kvm: exit $rc: $(cat "$TMP/err")"
	fi
else
	fail "cannot create a mount namespace to hide /dev/kvm (needs root)"
fi
# /dev/kvm not accessible: run as an unprivileged user.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	cp "$VMM" "$TMP/vmm" && chmod 755 "$TMP" "$TMP/vmm"
	if [ "$(stat -c %a /dev/kvm)" = 600 ] || [ "$(stat -c %a /dev/kvm)" = 660 ]; then
		timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups "$TMP/vmm" --duration 1 \
			>"$TMP/out" 2>"$TMP/err"
		rc=$?
		if [ $rc -ne 0 ] && [ $rc -lt 124 ] && grep -q "no permission to open /dev/kvm" "$TMP/err"; then
			pass "/dev/kvm not accessible (exit $rc): $(head -n 1 "$TMP/err")"
		else
			fail "/dev/kvm not accessible: exit $rc: $(cat "$TMP/err")"
		fi
	else
		echo "note: /dev/kvm is world-accessible here; permission case not testable"
	fi
fi

# Help and version tell the truth and succeed.
"$VMM" --help >"$TMP/help" 2>&1 && grep -q -- "--dirty-ring-size" "$TMP/help" &&
	pass "--help" || fail "--help"
"$VMM" --version | grep -q "^vmm " && pass "--version" || fail "--version"
finish

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
# The bundled kernel cannot run in 4M: refused, with the reason.
expect_fail "memory below what boots" "below the minimum of 8M \(the bundled kernel" --mem 4M
expect_fail "absurd memory" "mem" --mem 99999999999999999999G
expect_fail "more memory than the host" "more than this host has" --mem 900G
# Between what the host has available and its total: refused too (the guest
# would run the host out of memory later, not at start).
avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
total=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
if [ $((total - avail)) -ge 4 ]; then
	expect_fail "more memory than available ($avail of $total MiB)" \
		"more than this host has available: [0-9]+ MiB free of $total MiB" --mem "$(((avail + total) / 2))M"
else
	echo "note: only $((total - avail)) MiB of this host's RAM is in use: --mem between available and total not testable"
fi
expect_fail "zero vCPUs" "cpus" --cpus 0
expect_fail "too many vCPUs" "cpus" --cpus 100000
expect_fail "vCPUs not a number" "cpus" --cpus two
expect_fail "missing kernel file" "cannot open kernel .*/nonexistent" --kernel "$TMP/nonexistent"
expect_fail "kernel is a directory" "not a regular file" --kernel "$TMP"
printf 'hello, I am not a kernel\n' >"$TMP/text"
expect_fail "kernel is text" "Multiboot" --kernel "$TMP/text"
: >"$TMP/empty"
expect_fail "empty kernel" "empty" --kernel "$TMP/empty"
# A real Multiboot ELF cut short: headers promise more than the file has
# (an unrelated triple fault must not pass for this message).
head -c 6000 "$STRESS" >"$TMP/short.elf"
expect_fail "truncated kernel" \
	"^vmm: loadable segment [0-9]+ \(file offset 0x[0-9a-f]+, 0x[0-9a-f]+ bytes\) runs past the end of the 6000-byte file$" \
	--kernel "$TMP/short.elf"
# A Multiboot a.out-kludge kernel loading below 1 MiB: the message names the
# segment (it once printed an uninitialised buffer).
python3 -c "import struct;f=0x10000;open('$TMP/aout.bin','wb').write(struct.pack('<8I',0x1BADB002,f,(-(0x1BADB002+f))&0xffffffff,0x1000,0x1000,0,0,0x1020)+b'\xf4')"
expect_fail "a.out kludge below 1 MiB" \
	"^vmm: the segment given by the Multiboot load addresses loads at 0x1000, below 1 MiB" --kernel "$TMP/aout.bin"
# Files that would block the open: refused at once, before they are opened.
mkfifo "$TMP/fifo"
start=$(date +%s.%N)
timeout -k 1 3 "$VMM" --kernel "$TMP/fifo" >"$TMP/out" 2>"$TMP/err"
rc=$?
t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ $rc -eq 2 ] && grep -q "kernel .*/fifo is not a regular file (it is a FIFO)" "$TMP/err" &&
	pass "kernel is a FIFO (exit 2 after ${t}s): $(cat "$TMP/err")" ||
	fail "kernel is a FIFO: exit $rc after ${t}s: $(cat "$TMP/err")"
expect_fail "kernel is a character device" "not a regular file \(it is a character device\)" --kernel /dev/zero
expect_fail "stats file is a directory" "--stats .* is a directory" --stats "$TMP" --duration 1
expect_fail "stats file in a missing directory" "cannot open --stats .*/missing/s: No such file" \
	--stats "$TMP/missing/s" --duration 1
# An ELF that is not Multiboot (the vmm binary itself).
expect_fail "ELF without Multiboot header" "Multiboot" --kernel "$VMM"
long=$(head -c 5000 /dev/zero | tr '\0' a)
expect_fail "command line too long" "4095|too long" --append "$long"
expect_fail "ring size not a power of two" "power of two" --dirty-ring-size 5000
expect_fail "ring size too large" "dirty-ring-size" --dirty-ring-size 131072
expect_fail "ring size below the minimum" "below the minimum of 4096: one guest instruction" --dirty-ring-size 2048
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

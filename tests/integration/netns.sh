# Two "hosts" for the migration tests (sourced after lib.sh): two network
# namespaces joined by a veth pair, each direction shaped to 1 Gbit/s with
# tbf (netem and fq are not in our hosts' kernel; tbf measured ~119 MB/s),
# and helpers to start a vmm in either, to fault the link, and to check
# what a process left behind.  Everything it makes is removed on exit,
# whatever happens (EXIT, INT, TERM): the vmm processes first, then the
# namespaces (which takes the veth pair with them), then $TMP.
#
# Names carry this shell's pid, so parallel runs (two worktrees, two suites)
# never collide; addresses live inside the namespaces, so they cannot
# collide either.  Namespaces left by a run that was killed outright (no
# trap runs on SIGKILL) are swept the next time, when their pid is gone.
#
# The pair of VMs counts as one VM for the lock: lib.sh holds it for the
# whole test.  Needs root (CI is root); exits 77 only without /dev/kvm.
#
#   ns_setup                      make both namespaces and the shaped link
#   vm_src NAME NS ARGS...        a running vmm in NS, QMP at $(qmp NAME)
#   vm_dst NAME NS PORT ARGS...   a vmm --incoming tcp:ADDR(NS):PORT in NS
#   vm_pid NAME, qmp NAME, vm_dir NAME, ns_addr NS
#   link_down / link_up           the veth pair, both ends
#   vm_wait_exit NAME SECONDS     wait for it to exit by itself: RC= its status
#   vm_kill NAME                  SIGKILL and reap it
#   vm_left_behind NAME           a process or file it left: prints them
need_kvm
if [ "$(id -u)" -ne 0 ]; then
	# Not a skip: CI runs as root, and a skipped migration test proves nothing.
	echo "FAIL: the two-namespace migration tests need root (ip netns, tc)"
	exit 1
fi

NS_TAG=vmt$$
NS_A=vmm-$NS_TAG-a
NS_B=vmm-$NS_TAG-b
# Interface names: at most 15 bytes ("vmt" + a pid of at most 7 digits + 1).
VETH_A=${NS_TAG}a
VETH_B=${NS_TAG}b
ADDR_A=10.77.0.1
ADDR_B=10.77.0.2
# The link's rate each way (tc's units); a test may set NS_RATE first.
NS_RATE=${NS_RATE:-1gbit}
# tbf's bucket: 256 KiB lets one TCP burst through at line rate without
# raising the average; latency bounds the queue (10 ms at 1 Gbit/s).
NS_BURST=256kb
NS_LATENCY=10ms

VM_NAMES=""
MIG_PY="$(dirname "${BASH_SOURCE[0]}")/migrate_gt.py"
mig() { "$PY" "$MIG_PY" "$@"; }

ns_cleanup() {
	local n p
	for n in $VM_NAMES; do
		p=$(vm_pid "$n")
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
	done
	wait # the subshells that reap them
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	# The pair normally goes with its namespace; not if setup stopped halfway.
	ip link del "$VETH_A" 2>/dev/null
	rm -rf "$TMP"
	true
}
trap ns_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Namespaces of earlier runs that were killed before their trap ran.
ns_sweep() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | sed -n 's/^\(vmm-vmt[0-9]*-[ab]\).*/\1/p'); do
		pid=${ns#vmm-vmt}
		pid=${pid%-?}
		kill -0 "$pid" 2>/dev/null || ip netns del "$ns" 2>/dev/null
	done
}

ns_setup() {
	ns_sweep
	ip netns add "$NS_A" && ip netns add "$NS_B" &&
		ip link add "$VETH_A" type veth peer name "$VETH_B" &&
		ip link set "$VETH_A" netns "$NS_A" &&
		ip link set "$VETH_B" netns "$NS_B" &&
		ip -n "$NS_A" addr add "$ADDR_A/30" dev "$VETH_A" &&
		ip -n "$NS_B" addr add "$ADDR_B/30" dev "$VETH_B" &&
		ip -n "$NS_A" link set lo up && ip -n "$NS_B" link set lo up &&
		ip -n "$NS_A" link set "$VETH_A" up && ip -n "$NS_B" link set "$VETH_B" up &&
		tc -n "$NS_A" qdisc add dev "$VETH_A" root tbf rate "$NS_RATE" burst $NS_BURST latency $NS_LATENCY &&
		tc -n "$NS_B" qdisc add dev "$VETH_B" root tbf rate "$NS_RATE" burst $NS_BURST latency $NS_LATENCY ||
		{
			echo "FAIL: could not make the namespaces and their link"
			exit 1
		}
	# The pair is up once B can reach A through it (no ping here: a TCP
	# connect that is refused proves the route).
	if ! ip netns exec "$NS_B" "$PY" -c '
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection((sys.argv[1], 9), 0.1).close()
        sys.exit(0)
    except ConnectionRefusedError:
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)' "$ADDR_A"; then
		echo "FAIL: $NS_B cannot reach $ADDR_A through the veth pair"
		exit 1
	fi
	echo "ok: namespaces $NS_A ($ADDR_A) and $NS_B ($ADDR_B), veth $VETH_A-$VETH_B, tbf $NS_RATE each way"
}

ns_addr() { [ "$1" = "$NS_A" ] && echo $ADDR_A || echo $ADDR_B; }
vm_dir() { echo "$TMP/$1.d"; }
qmp() { echo "$TMP/$1.d/qmp.sock"; }
vm_pid() { cat "$TMP/$1.pid" 2>/dev/null; }

# vm_start NAME NS ARGS...: a vmm in NS with a QMP socket in its own
# directory (so that what it leaves behind is easy to see), its console
# in $TMP/NAME.out and its stderr in $TMP/NAME.err.  A subshell starts and
# reaps it and writes its exit status to $TMP/NAME.rc: so the status is
# known whoever asks (a $(...) cannot reap this shell's children), and bash
# does not litter the log with "Killed" for the vmm the tests kill.
vm_start() {
	local name=$1 ns=$2
	shift 2
	mkdir -p "$(vm_dir "$name")"
	rm -f "$TMP/$name.pid" "$TMP/$name.rc"
	(
		ip netns exec "$ns" "$VMM" --qmp "unix:$(qmp "$name")" "$@" \
			>"$TMP/$name.out" 2>"$TMP/$name.err" &
		echo $! >"$TMP/$name.pid.new"
		mv "$TMP/$name.pid.new" "$TMP/$name.pid"
		wait $!
		echo $? >"$TMP/$name.rc"
	) 2>/dev/null &
	while [ ! -s "$TMP/$name.pid" ]; do sleep 0.01; done
	VM_NAMES="$VM_NAMES $name"
}
vm_src() { vm_start "$@"; }
vm_dst() {
	local name=$1 ns=$2 port=$3
	shift 3
	vm_start "$name" "$ns" --incoming "tcp:$(ns_addr "$ns"):$port" "$@"
}

# vm_wait_exit NAME SECONDS: wait for it to exit by itself; RC gets its
# exit status (128 + N for signal N), or "running" if it did not within
# SECONDS.
vm_wait_exit() {
	local i
	for i in $(seq $(($2 * 20))); do
		[ -s "$TMP/$1.rc" ] && break
		sleep 0.05
	done
	RC=$(cat "$TMP/$1.rc" 2>/dev/null)
	[ -n "$RC" ] || RC=running
}

vm_kill() {
	kill -9 "$(vm_pid "$1")" 2>/dev/null
	vm_wait_exit "$1" 5
}

# What NAME left behind once it is gone: a process, a file in its
# directory, a socket still listening in its namespace on its port.
vm_left_behind() {
	local p
	p=$(vm_pid "$1")
	kill -0 "$p" 2>/dev/null && echo "process $p"
	ls -A "$(vm_dir "$1")" 2>/dev/null | sed 's/^/file /'
	true
}

link_down() { ip -n "$NS_A" link set "$VETH_A" down && ip -n "$NS_B" link set "$VETH_B" down; }
link_up() { ip -n "$NS_A" link set "$VETH_A" up && ip -n "$NS_B" link set "$VETH_B" up; }

# The last thing a vmm said on stderr, but for its per-vCPU summary.
vm_said() { grep '^vmm:' "$TMP/$1.err" | grep -v '^vmm: vCPU [0-9]*: ' | tail -n 1; }

# one_message DESC NAME: a destination that failed said one thing, its
# error, and nothing after it (no per-vCPU summary: no guest ran there);
# the test knob's own line does not count.
one_message() {
	local lines
	lines=$(grep -v '^vmm: --x-incoming-fault: ' "$TMP/$2.err")
	[ "$(printf '%s\n' "$lines" | grep -c .)" = 1 ] ||
		fail "$1: the failed destination said more (or less) than its one message: $(echo $lines)"
}

# Lines of a vmm's stderr worth showing when a check fails.
vm_tail() { tail -n "${2:-5}" "$TMP/$1.err" 2>/dev/null | sed 's/^/    /'; }

# link_rate: MB/s (10^6 bytes) of one bulk TCP transfer of 48 MiB from A
# to B, measured by the receiver from its first byte.
link_rate() {
	ip netns exec "$NS_B" "$PY" - "$ADDR_B" >"$TMP/link_rate" <<'PYEOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001))
s.listen(1)
s.settimeout(10)
c, _ = s.accept()
c.settimeout(10)
n, t = 0, None
while True:
    d = c.recv(1 << 20)
    if not d:
        break
    if t is None:
        t = time.monotonic()
    n += len(d)
print("%.0f" % (n / (time.monotonic() - t) / 1e6))
PYEOF
	local rpid=$!
	ip netns exec "$NS_A" "$PY" - "$ADDR_B" <<'PYEOF'
import socket, sys, time
for _ in range(100):
    try:
        s = socket.create_connection((sys.argv[1], 5001), 2)
        break
    except ConnectionRefusedError:
        time.sleep(0.05)
b = b"x" * (1 << 20)
for _ in range(48):
    s.sendall(b)
s.close()
PYEOF
	wait $rpid
	cat "$TMP/link_rate"
}

# ---- A guest that moves from case to case (migrate_faults.sh and friends)
#
# SRC is the vmm that holds the guest now, in SRC_NS; each case migrates it
# to a fresh destination in the other namespace, which fails as the case
# says; a retry to another fresh destination there must then succeed, and
# that one becomes SRC (so the guest crosses the link at every case, and
# every retry is a real migration held to the guest's counters).
# The test sets GUEST (the vmm arguments of the guest, an array) and may
# set MIG_ARGS (an array of migrate_gt.py options for every migration).
CASE=0
other_ns() { [ "$1" = "$NS_A" ] && echo "$NS_B" || echo "$NS_A"; }

# mig_first: start the guest in NS_A.
mig_first() {
	SRC=s0 SRC_NS=$NS_A
	vm_src $SRC "$SRC_NS" "${GUEST[@]}"
	local out
	out=$(mig ready "$(qmp $SRC)" 20) || {
		fail "the first source does not run: $out"
		vm_tail $SRC
		finish
	}
}

# mig_case DESC FAULT END MIGRATE-OPTIONS...: one failing migration.
#   FAULT: the destination's --x-incoming-fault, or "".
#   END, what becomes of the destination:
#     killed   it dies (the knob's exit is a SIGKILL, or the test's kill):
#              no process may be left (a killed process cannot remove its
#              socket file: files are not checked)
#     exits    it must see the failure and exit by itself, non-zero and
#              not by a signal, within DST_EXIT_S, leaving no file
#     stalled  it stops reading for good (the knob's stall, SIGSTOP): the
#              test kills it once the source has failed
#     idle     a migration cancelled before it connected: the destination
#              either got a stream and exits as for "exits", or never got
#              one and still waits in inmigrate (then the test kills it)
#   The options go to migrate_gt.py; %DST% in them becomes the
#   destination's name (for --do commands: $(vm_pid %DST%)).
#   MIG_DST_PARAMS (an array of NAME=VALUE, may be unset): set with
#   migrate-set-parameters on the case's destination before the migration
#   (e.g. its x-io-timeout).
# Then MIG_REPAIR, if set (a command that undoes a lasting fault, e.g.
# link_up; it is cleared), and the retry.
DST_EXIT_S=15
mig_case() {
	local desc=$1 fault=$2 end=$3 d dns port out rc left a
	shift 3
	CASE=$((CASE + 1))
	d=d$CASE dns=$(other_ns "$SRC_NS") port=$((5000 + CASE))
	vm_dst $d "$dns" $port "${GUEST[@]}" ${fault:+--x-incoming-fault "$fault"}
	local args=()
	for a in "$@"; do args+=("${a//%DST%/$d}"); done
	if ! out=$(mig incoming "$(qmp $d)" 20); then
		fail "$desc: the destination is not waiting: $out"
		vm_tail $d
	elif [ -n "${MIG_DST_PARAMS+x}" ] &&
		! out=$("$VMMCTL" "$(qmp $d)" migrate-set-parameters "${MIG_DST_PARAMS[@]}" 2>&1); then
		fail "$desc: the destination's parameters: $out"
	elif out=$(mig migrate "$(qmp $SRC)" "$(qmp $d)" "tcp:$(ns_addr "$dns"):$port" \
		--expect failed "${MIG_ARGS[@]}" "${args[@]}"); then
		MIG_OUT=$out # for the test's own checks
		pass "$desc: $out"
	else
		fail "$desc: $out"
		vm_tail $SRC
		vm_tail $d
	fi
	case $end in
	killed)
		vm_wait_exit $d $DST_EXIT_S
		rc=$RC
		left=$(vm_left_behind $d | grep -v '^file')
		;;
	exits)
		vm_wait_exit $d $DST_EXIT_S
		rc=$RC
		left=$(vm_left_behind $d)
		if [ "$rc" = running ] || [ "$rc" = 0 ] || [ "$rc" -ge 128 ]; then
			fail "$desc: the destination's exit status is $rc, not 1..127"
		else
			pass "$desc: the destination exits $rc: $(vm_said $d)"
			one_message "$desc" $d
		fi
		;;
	idle)
		vm_wait_exit $d 2
		rc=$RC
		if [ "$rc" = running ]; then
			out=$(mig incoming "$(qmp $d)" 2) || fail "$desc: the destination is not waiting: $out"
			vm_kill $d
			left=$(vm_left_behind $d | grep -v '^file')
			pass "$desc: the destination never got a stream and still waits"
		else
			left=$(vm_left_behind $d)
			[ "$rc" != 0 ] && [ "$rc" -lt 128 ] &&
				pass "$desc: the destination exits $rc: $(vm_said $d)" ||
				fail "$desc: the destination's exit status is $rc, not 1..127"
			one_message "$desc" $d
		fi
		;;
	stalled)
		[ -n "$(vm_left_behind $d | grep '^process')" ] ||
			fail "$desc: the stalled destination is gone: $(vm_tail $d 2)"
		vm_kill $d
		left=$(vm_left_behind $d | grep -v '^file')
		;;
	esac
	[ -z "$left" ] && pass "$desc: nothing left behind by the destination" ||
		fail "$desc: the destination left $(echo $left)"
	# A fault that outlives the case (a link left down) is repaired first.
	if [ -n "${MIG_REPAIR:-}" ]; then
		$MIG_REPAIR
		MIG_REPAIR=
	fi
	mig_retry "$desc: retry to a fresh destination"
}

# mig_retry DESC: a fresh destination in the other namespace takes the guest
# (migrate_gt.py's checks of a completed migration); the old source quits.
# If it fails the test ends, or with MIG_RETRY_RETURN=1 (the soak) it
# returns 1 and the guest stays where it was (SRC).
mig_retry() {
	local r dns port out rc
	CASE=$((CASE + 1))
	r=r$CASE dns=$(other_ns "$SRC_NS") port=$((5000 + CASE))
	vm_dst $r "$dns" $port "${GUEST[@]}"
	if out=$(mig incoming "$(qmp $r)" 20) &&
		out=$(mig migrate "$(qmp $SRC)" "$(qmp $r)" "tcp:$(ns_addr "$dns"):$port" "${MIG_ARGS[@]}"); then
		pass "$1: $out"
	else
		fail "$1: $out"
		vm_tail $SRC
		vm_tail $r
		[ "${MIG_RETRY_RETURN:-0}" = 1 ] && return 1
		finish
	fi
	mig quit "$(qmp $SRC)" >/dev/null
	vm_wait_exit $SRC 10
	rc=$RC
	[ "$rc" = 0 ] || fail "$1: the old source exits $rc after quit, not 0"
	SRC=$r SRC_NS=$dns
}

# mig_last: the guest's last home quits cleanly, its summary without errors.
mig_last() {
	local rc
	mig quit "$(qmp $SRC)" >/dev/null
	vm_wait_exit $SRC 10
	rc=$RC
	[ "$rc" = 0 ] && pass "the last destination exits 0 at quit" || fail "the last destination exits $rc"
	if grep -E "^vmm: vCPU [0-9]+: " "$TMP/$SRC.err" | grep -qv " 0 errors"; then
		fail "the last destination's summary counts errors: $(grep -E '^vmm: vCPU' "$TMP/$SRC.err")"
	fi
}

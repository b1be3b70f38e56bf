#!/bin/bash
# The PSK migration channel end to end (docs/security.md): vmm's --object
# tls-creds-psk and QMP migrate-set-parameters tls-creds, as QEMU's, on a
# running 2-vCPU stress guest over loopback.  Destinations wait with
# --incoming defer, get tls-creds and then migrate-incoming, as QEMU's do.
#   1. a source without the key (no tls-creds) to a TLS destination: the
#      destination refuses before reading the stream and exits non-zero; the
#      source ends "failed", its guest runs on with errors 0;
#   2. a source with another key under the same name: the same, both sides
#      naming the key;
#   3. a TLS source to a plain destination: refused both ways;
#   4. the same key on both sides: the migration completes and the guest's
#      counters go on on the destination, errors 0.
# Also QEMU's errors for a missing or wrong-endpoint tls-creds, and keys
# files refused at start-up (mode 0644, a missing username).  It holds the
# VM lock for all the VMs (lib.sh).  It runs in the plain and ASan builds:
# the TLS layer copies every byte and parses what the peer sends (ASan).
# Not under TSan: a TLS session lives on one migration thread; its one
# cross-thread path, a cancel, is test_mig_conn_tls's under TSan, and the
# migration thread against the vCPU and QMP threads is int_migrate's.  A
# 256 MiB guest keeps it to seconds.
. "$(dirname "$0")/lib.sh"
need_kvm

APPEND="writers=0 readers=1 wss=32M pattern=seq report=0"

# Two keys directories: the right key and another one, both named "qemu".
mkdir -m 700 "$TMP/keys" "$TMP/other" "$TMP/open"
"$PY" -c 'import os; print("qemu:" + os.urandom(32).hex())' >"$TMP/keys/keys.psk"
"$PY" -c 'import os; print("qemu:" + os.urandom(32).hex())' >"$TMP/other/keys.psk"
cp "$TMP/keys/keys.psk" "$TMP/open/keys.psk"
chmod 600 "$TMP/keys/keys.psk" "$TMP/other/keys.psk"
chmod 644 "$TMP/open/keys.psk"

# Refused at start-up, exit status 2, nothing run.
expect_fail "a keys file open to others" "keys.psk is open to group or others \(mode 0644\).*chmod 600" \
	--cpus 1 --mem 64M --duration 1 --object "tls-creds-psk,id=t,dir=$TMP/open,endpoint=client"
[ "$rc" = 2 ] || fail "a keys file open to others: exit $rc, want 2"
expect_fail "a username without a key" "has no key for username 'bob'" \
	--cpus 1 --mem 64M --duration 1 --object "tls-creds-psk,id=t,dir=$TMP/keys,username=bob"
expect_fail "an unknown object property" "Property 'tls-creds-psk.hostname' not found" \
	--cpus 1 --mem 64M --duration 1 --object "tls-creds-psk,id=t,dir=$TMP/keys,hostname=x"

cat >"$TMP/tls.py" <<'PYEOF'
import sys, time

# tests/integration's client (PYTHONPATH): Session retries the connect,
# negotiates; cmd() exits with the error, raw() returns it.
from qmp_client import Checks, Session as Qmp


check = Checks()


def incoming(path, port, creds):
    """A deferred destination: tls-creds (or none), then migrate-incoming."""
    q = Qmp(path)
    if creds:
        q.cmd("migrate-set-parameters", {"tls-creds": creds})
        check(q.cmd("query-migrate-parameters").get("tls-creds") == creds,
              "destination %s: tls-creds %s" % (path, creds))
    q.cmd("migrate-incoming", {"uri": "tcp:127.0.0.1:%d" % port})
    return q


def refused(a, port, creds, want, name):
    a.cmd("migrate-set-parameters", {"tls-creds": creds})
    check(a.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port}) == {}, name + ": migrate")
    info = a.wait_status(("completed", "failed", "cancelled"), 30)
    check(info["status"] == "failed" and want in info.get("error-desc", ""),
          name + ": the source failed: %s" % info.get("error-desc"))
    time.sleep(0.3)
    s = a.cmd("x-query-guest-stats")
    time.sleep(0.3)
    s2 = a.cmd("x-query-guest-stats")
    st = a.cmd("query-status")["status"]
    check(st == "running" and all(c["errors"] == 0 for c in s2) and
          s2[0]["pages-written"] > s[0]["pages-written"] and s2[1]["bytes-read"] > s[1]["bytes-read"],
          name + ": the source's guest runs on, errors 0 (%s, pages written %d then %d, errors %s)" %
          (st, s[0]["pages-written"], s2[0]["pages-written"], [c["errors"] for c in s2]))


d = sys.argv[1]
p_nokey, p_wrong, p_plain, p_good = (int(x) for x in sys.argv[2:6])
a = Qmp(d + "/a.sock")
for _ in range(400):
    s = a.cmd("x-query-guest-stats")
    if all(c["pages-written"] > 0 for c in s) and s[1]["bytes-read"] > 0:
        break
    time.sleep(0.05)
else:
    sys.exit("the guest made no progress within 20 s: %s" % s)
# Unlimited, and a downtime limit the first pass meets: under ThreadSanitizer the
# channel moves about 40 MB/s, slower than the writer dirties its set, and this
# test is about the channel, not about converging (migrate.sh and the policies' tests).
a.cmd("migrate-set-parameters", {"max-bandwidth": 0, "downtime-limit": 10000})
check(a.cmd("query-migrate-parameters").get("tls-creds") == "", "tls-creds is \"\" by default")

# QEMU's errors when tls-creds names nothing usable: at migrate, not at set.
a.cmd("migrate-set-parameters", {"tls-creds": "nosuch"})
r = a.raw("migrate", {"uri": "tcp:127.0.0.1:%d" % p_good})
check(r.get("error", {}).get("desc") == "No TLS credentials with id 'nosuch'", "unknown id: %s" % r)
a.cmd("migrate-set-parameters", {"tls-creds": "srv"})
r = a.raw("migrate", {"uri": "tcp:127.0.0.1:%d" % p_good})
check(r.get("error", {}).get("desc") == "Expected TLS credentials for a client endpoint",
      "a server object on a source: %s" % r)

# 1. No key: a plain source to a TLS destination.
incoming(d + "/b1.sock", p_nokey, "tls0")
refused(a, p_nokey, "", "", "no key")
# 2. Another key under the same name.
incoming(d + "/b2.sock", p_wrong, "tls0")
refused(a, p_wrong, "tls0", "refused our key for 'qemu'", "wrong key")
# 3. A TLS source to a plain destination.
incoming(d + "/b3.sock", p_plain, None)
refused(a, p_plain, "tls0", "does not speak TLS", "plain destination")
# 4. The same key on both sides.
b = incoming(d + "/b4.sock", p_good, "tls0")
a.cmd("migrate-set-parameters", {"tls-creds": "tls0"})
last = a.cmd("x-query-guest-stats")
check(a.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % p_good}) == {}, "with the key: migrate")
info = a.wait_status(("completed", "failed", "cancelled"), 60)
check(info["status"] == "completed", "with the key: completed (%s)" % info.get("error-desc", ""))
ram = info.get("ram", {})
check(ram.get("transferred", 0) > ram.get("normal-bytes", 1) > 32 << 20,
      "with the key: %d bytes of the stream for %d bytes of pages" %
      (ram.get("transferred", 0), ram.get("normal-bytes", 0)))
s1 = b.cmd("x-query-guest-stats")
time.sleep(0.5)
s2 = b.cmd("x-query-guest-stats")
check(all(c["errors"] == 0 for c in s1 + s2), "with the key: errors 0 on the destination")
check(last[0]["pages-written"] <= s1[0]["pages-written"] < s2[0]["pages-written"] and
      last[1]["bytes-read"] <= s1[1]["bytes-read"] < s2[1]["bytes-read"],
      "with the key: the guest's counters go on: %d, %d, %d pages written" %
      (last[0]["pages-written"], s1[0]["pages-written"], s2[0]["pages-written"]))
check(b.cmd("query-status")["status"] == "running", "with the key: the destination runs")
a.cmd("quit")
b.cmd("quit")
sys.exit(1 if check.fails else 0)
PYEOF

freeport() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(freeport) P2=$(freeport) P3=$(freeport) P4=$(freeport)
SRV="tls-creds-psk,id=tls0,endpoint=server,dir=$TMP/keys"
"$VMM" --cpus 2 --mem 256M --append "$APPEND" --qmp "unix:$TMP/a.sock" \
	--object "tls-creds-psk,id=tls0,endpoint=client,dir=$TMP/keys" \
	--object "tls-creds-psk,id=srv,endpoint=server,dir=$TMP/keys" >"$TMP/a.out" 2>"$TMP/a.err" &
A=$!
"$VMM" --cpus 2 --mem 256M --incoming defer --object "$SRV" --qmp "unix:$TMP/b1.sock" >"$TMP/b1.out" 2>"$TMP/b1.err" &
B1=$!
"$VMM" --cpus 2 --mem 256M --incoming defer --qmp "unix:$TMP/b2.sock" \
	--object "tls-creds-psk,id=tls0,endpoint=server,dir=$TMP/other" >"$TMP/b2.out" 2>"$TMP/b2.err" &
B2=$!
"$VMM" --cpus 2 --mem 256M --incoming defer --qmp "unix:$TMP/b3.sock" >"$TMP/b3.out" 2>"$TMP/b3.err" &
B3=$!
"$VMM" --cpus 2 --mem 256M --incoming defer --object "$SRV" --qmp "unix:$TMP/b4.sock" >"$TMP/b4.out" 2>"$TMP/b4.err" &
B4=$!
PIDS="$A $B1 $B2 $B3 $B4"

if out=$(timeout 120 "$PY" "$TMP/tls.py" "$TMP" "$P1" "$P2" "$P3" "$P4" 2>&1); then
	echo "$out"
	pass "TLS migrations"
else
	echo "$out"
	fail "TLS migrations"
fi

# said NAME REGEXP: the destination's one message.
said() {
	if grep -Eq -- "$2" "$TMP/$1.err"; then
		pass "$1 says: $(grep -E -- "$2" "$TMP/$1.err" | head -n 1)"
	else
		fail "$1's message does not match /$2/: $(head -c 400 "$TMP/$1.err")"
	fi
}
wait_exit $A a 0
wait_exit $B1 b1 nonzero
wait_exit $B2 b2 nonzero
wait_exit $B3 b3 nonzero
wait_exit $B4 b4 0
said b1 "the source does not speak TLS \(first byte 0x56\)"
said b2 "the source did not prove the key for 'qemu'"
said b3 "bad-magic"
finish

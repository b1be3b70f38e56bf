#!/bin/bash
# SPDX-License-Identifier: MIT
# vmmctl SOCKET migrate URI against vmm, and the migration's figures in the
# --stats stream (issue 8 section 6): a migration to a port nobody listens
# on fails (exit 1, the reason in the summary, the guest runs on), on a pipe
# and on a terminal (the line redrawn in place); a loopback migration to a
# vmm --incoming completes (--json: samples, then the summary; exit 0), the
# source's --stats records carry "migration" while it runs and after, and
# the destination's guest goes on without an error.
# Plain and ASan builds (tests/integration/meson.build): vmmctl is one
# thread, so TSan could judge only the vmm side, which is int_migrate's
# migration under TSan; ASan judges vmmctl's reading of the replies.
. "$(dirname "$0")/lib.sh"
need_kvm
VMMCTL=${VMMCTL:-$(dirname "$VMM")/tools/vmmctl}
QC="python3 $(dirname "$0")/qmp_client.py"
MEM=256M
APPEND="writers=0 readers=1 wss=32M report=0"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_sock PATH: until the QMP socket exists (10 s x SLOW).
wait_sock() {
	for _ in $(seq $((100 * SLOW))); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# Both vCPUs of the guest behind SOCK have worked: "yes".
guest_works() {
	$QC exec "$1" x-query-guest-stats -g 'return.*.pages-written' 2>/dev/null |
		awk '{ for (i = 1; i <= NF; i++) if ($i == 0) bad = 1 } END { print (NF >= 2 && !bad) ? "yes" : "no" }'
}

# The source, with its --stats stream every 100 ms.
"$VMM" --qmp "unix:$TMP/src.sock" -m $MEM -c 2 -a "$APPEND" --stats "$TMP/src.stats" \
	--stats-interval 100 >"$TMP/src.out" 2>"$TMP/src.err" &
SRC=$!
DST=
trap 'kill -9 $SRC $DST 2>/dev/null; rm -rf "$TMP"' EXIT
wait_sock "$TMP/src.sock" || fail "the source's QMP socket did not appear: $(head -c 300 "$TMP/src.err")"
ok=no
for _ in $(seq $((100 * SLOW))); do
	[ "$(guest_works "$TMP/src.sock")" = yes ] && ok=yes && break
	sleep 0.1
done
[ $ok = yes ] || fail "the source's guest did not start: $(head -c 300 "$TMP/src.err")"

# --- a migration that fails: nobody listens on the port ---------------------------
DEAD=$(free_port)
timeout $((20 * SLOW)) "$VMMCTL" "$TMP/src.sock" migrate "tcp:127.0.0.1:$DEAD" >"$TMP/fail.out" 2>&1
rc=$?
if [ $rc = 1 ] && grep -q '^migration failed after [0-9.]* s: .' "$TMP/fail.out" &&
	grep -Eq '^ *[0-9.]+s (setup|active|failed) ' "$TMP/fail.out"; then
	pass "vmmctl migrate to a closed port: exit 1, $(grep '^migration failed' "$TMP/fail.out")"
else
	fail "vmmctl migrate to a closed port: exit $rc: $(head -c 600 "$TMP/fail.out")"
fi
[ "$(guest_works "$TMP/src.sock")" = yes ] &&
	[ "$($QC exec "$TMP/src.sock" query-status -g return.status)" = running ] &&
	pass "the source runs on after the failed migration" ||
	fail "the source after the failed migration: $($QC exec "$TMP/src.sock" query-status)"

# The same on a terminal: the line is redrawn in place (\r, erase to the end).
if command -v script >/dev/null; then
	timeout $((20 * SLOW)) script -qec "$VMMCTL $TMP/src.sock migrate tcp:127.0.0.1:$DEAD" \
		"$TMP/tty.out" >/dev/null 2>&1
	rc=$?
	if [ $rc = 1 ] && grep -q $'\r.*\e\[K' "$TMP/tty.out" && grep -q 'migration failed after' "$TMP/tty.out"; then
		pass "on a terminal: the progress line is redrawn in place, then the summary, exit 1"
	else
		fail "on a terminal: exit $rc: $(head -c 400 "$TMP/tty.out" | od -c | head -8)"
	fi
else
	fail "script (util-linux) is missing: cannot check the terminal output"
fi

# --- a loopback migration to a vmm --incoming ----------------------------------------
PORT=$(free_port)
"$VMM" --incoming "tcp:127.0.0.1:$PORT" --qmp "unix:$TMP/dst.sock" -m $MEM -c 2 -a "$APPEND" \
	>"$TMP/dst.out" 2>"$TMP/dst.err" &
DST=$!
wait_sock "$TMP/dst.sock" || fail "the destination's QMP socket did not appear: $(head -c 300 "$TMP/dst.err")"
# 200 MB/s: long enough for several 100 ms samples, short enough for the suite.
$QC exec "$TMP/src.sock" migrate-set-parameters '{"max-bandwidth": 200000000}' >/dev/null
timeout $((60 * SLOW)) "$VMMCTL" --json --interval 100 "$TMP/src.sock" migrate "tcp:127.0.0.1:$PORT" \
	>"$TMP/json.out" 2>"$TMP/json.err"
rc=$?
python3 - "$TMP/json.out" <<'PY' >"$TMP/json.check"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
samples, summary = lines[:-1], lines[-1].get("summary", {})
st = [s["migrate"].get("status") for s in samples]
el = [s["elapsed-ms"] for s in samples]
ok = (len(samples) >= 2 and el == sorted(el) and st[-1] == "completed"
      and all("ram" in s["migrate"] for s in samples if s["migrate"].get("status") == "active")
      and summary.get("status") == "completed" and "downtime" in summary
      and summary.get("transferred", 0) > 0 and summary.get("dirty-sync-count", 0) >= 1)
print("ok" if ok else "bad", len(samples), "samples; statuses", sorted(set(st)), "summary", summary)
PY
if [ $rc = 0 ] && grep -q '^ok' "$TMP/json.check"; then
	pass "vmmctl --json migrate: exit 0; $(cut -c1-160 "$TMP/json.check")"
else
	fail "vmmctl --json migrate: exit $rc: $(cat "$TMP/json.check") $(head -c 300 "$TMP/json.err")"
fi

# The source's --stats stream: "migration" while active, and completed after.
sleep 0.3
python3 - "$TMP/src.stats" <<'PY' >"$TMP/stats.check"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mig = [r["migration"] for r in recs if "migration" in r]
first = next((i for i, r in enumerate(recs) if "migration" in r), None)
active = [m for m in mig if m["status"] == "active"]
ok = (first is not None and first > 0
      and any(m["ram"]["remaining"] > 0 and m["ram"]["transferred"] > 0 and "mbps" in m["ram"]
              and "expected-downtime" in m for m in active)
      and mig[-1]["status"] == "completed" and "downtime" in mig[-1])
print("ok" if ok else "bad", len(recs), "records,", len(mig), "with migration,", len(active), "active;",
      "last", json.dumps(mig[-1] if mig else None)[:200])
PY
grep -q '^ok' "$TMP/stats.check" &&
	pass "--stats carries the migration: $(cut -c1-150 "$TMP/stats.check")" ||
	fail "--stats and the migration: $(cat "$TMP/stats.check")"

# The guest on the destination goes on, without an error.
sleep 0.5
E=$($QC exec "$TMP/dst.sock" x-query-guest-stats -g 'return.*.errors' 2>&1)
W1=$($QC exec "$TMP/dst.sock" x-query-guest-stats -g 'return.0.pages-written' 2>&1)
sleep 0.3
W2=$($QC exec "$TMP/dst.sock" x-query-guest-stats -g 'return.0.pages-written' 2>&1)
[ "$E" = "0 0" ] && [ "$W2" -gt "$W1" ] 2>/dev/null &&
	pass "the destination's guest runs on: errors $E, writer $W1 -> $W2" ||
	fail "the destination's guest: errors '$E', writer '$W1' -> '$W2'"

for s in src dst; do $QC exec "$TMP/$s.sock" quit >/dev/null 2>&1; done
wait $SRC $DST 2>/dev/null
finish

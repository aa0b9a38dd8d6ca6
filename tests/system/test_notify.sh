#!/usr/bin/env bash
# Readiness notification (systemd's sd_notify protocol, Type=notify in
# packaging/systemd/stewardd.service): with NOTIFY_SOCKET set, stewardd
# sends READY=1 once it serves and STOPPING=1 when SIGTERM stops it, to a
# socket path and to an abstract socket ('@name'). Without NOTIFY_SOCKET it
# runs as before (every other test); with an unusable one it still serves
# and says why in its log.
. "$(dirname "$0")/lib.sh"

# listen NAME OUT: a unix datagram socket of the test's own that writes
# each datagram it receives to OUT, one per line (\n inside shown as |)
listen() {
	python3 - "$1" "$2" <<'PY' &
import socket, sys
name, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + name[1:] if name.startswith("@") else name)
open(out + ".bound", "w").close()
s.settimeout(60)
with open(out, "a") as f:
    try:
        while True:
            d = s.recv(8192).decode()
            f.write(d.replace("\n", "|") + "\n")
            f.flush()
    except socket.timeout:
        pass
PY
	PIDS+=("$!")
	local i
	for i in $(seq 1 50); do
		[ -e "$2.bound" ] && return 0
		sleep 0.1
	done
	fail "the test's notify socket $1 was not bound"
}

# wait_for FILE TEXT SECONDS
wait_for() {
	local i
	for i in $(seq 1 $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no $2 in $1 within $3 s: $(cat "$1" 2>/dev/null)"
}

for sock in "$T/notify.sock" "@steward-test-notify-$$"; do
	out=$T/notify.$([ "${sock:0:1}" = @ ] && echo abstract || echo path)
	listen "$sock" "$out"
	start=$(date +%s)
	NOTIFY_SOCKET=$sock site_start "site-$(basename "$out")"
	wait_for "$out" '^READY=1' 10
	grep -q '^READY=1|STATUS=serving site T01 on port ' "$out" || fail "READY=1 without the STATUS line: $(cat "$out")"
	# READY=1 comes once it serves: /health answered before the test read it
	[ $(($(date +%s) - start)) -le 20 ] || fail "READY=1 took more than 20 s"
	kill -TERM "$SITE_PID"
	wait "$SITE_PID" || fail "stewardd did not exit 0 on SIGTERM"
	wait_for "$out" '^STOPPING=1' 5
	[ "$(grep -c '^READY=1' "$out")" = 1 ] || fail "READY=1 sent more than once: $(cat "$out")"
	pass "NOTIFY_SOCKET=$sock: READY=1 when serving, STOPPING=1 on SIGTERM"
done

# an unusable NOTIFY_SOCKET does not stop the site; the log says what is wrong
NOTIFY_SOCKET=relative/path site_start site-bad
grep -q 'notify_failed .*error=invalid' "$T/site-bad.log" ||
	fail "no notify_failed line for a relative NOTIFY_SOCKET: $(tail -3 "$T/site-bad.log")"
pass "an unusable NOTIFY_SOCKET is logged and the site serves"

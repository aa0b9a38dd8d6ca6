#!/usr/bin/env bash
# Slowloris: connections that send part of a request and stall must not
# hold the site. With --http_timeout 2, other clients are served at once
# while they stall, and the site closes each stalled connection within
# timeout + 2 s (the client reads EOF). Connections that trickle a byte a
# second reset that idle timeout forever; the head and body deadlines
# (--http_head_timeout 4, --http_body_timeout 3) close them anyway.
. "$(dirname "$0")/lib.sh"

# stop_checked NAME: SIGTERM; stewardd must exit 0 with no sanitizer report
# in its log (under -DSTEWARD_SAN=ON a leak or error only shows at exit)
stop_checked() {
	local rc=0
	site_stop || rc=$?
	[ $rc -eq 0 ] || fail "stewardd ($1) exited $rc on SIGTERM"
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/$1.log"; then
		fail "sanitizer report in the log of stewardd ($1): $(grep -m1 -A 12 -E 'Sanitizer|runtime error:' "$T/$1.log")"
	fi
}

command -v python3 >/dev/null || fail "python3 missing (the stalling clients need it)"

TIMEOUT=2
HEAD_TIMEOUT=4
BODY_TIMEOUT=3
# the stalling clients speak plain HTTP (a TLS handshake stalls the same way)
site_start site --http_timeout $TIMEOUT --http_head_timeout $HEAD_TIMEOUT \
	--http_body_timeout $BODY_TIMEOUT --tls false
PORT=${SITE_URL##*:}

# Each stalling client prints "NAME SECONDS RESULT" when the site closes it
# (RESULT: eof, reset, or 'data:...' if the site answered), or 'open' if
# it is still open after 15 s.
cat >"$T/stall.py" <<'EOF'
import socket, sys, time
port, name = int(sys.argv[1]), sys.argv[2]
partial = {
    "request-line": b"GET /hea",
    "headers": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    "body": b"POST /api/v1/checkin HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"agent_version\":",
    "chunked": b"POST /bootstrap/report HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
    "nothing": b"",
}[name]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
if partial:
    s.sendall(partial)
t0 = time.monotonic()
s.settimeout(15)
try:
    data = s.recv(4096)
    result = "eof" if not data else "data:" + data[:40].decode("latin-1").replace("\r\n", " ")
except ConnectionResetError:
    result = "reset"
except socket.timeout:
    result = "open"
print("%s %.2f %s" % (name, time.monotonic() - t0, result), flush=True)
EOF

NAMES="request-line headers body chunked nothing"
for n in $NAMES; do
	timeout 30 python3 "$T/stall.py" "$PORT" "$n" >"$T/stall-$n.out" 2>&1 &
	PIDS+=("$!")
done
sleep 0.3

# meanwhile other clients are served quickly
for i in 1 2 3 4 5; do
	START=$(date +%s%N)
	curl -fsS -m 1 "$SITE_URL/health" >/dev/null || fail "/health not served while connections stall (try $i)"
	MS=$((($(date +%s%N) - START) / 1000000))
	[ "$MS" -lt 500 ] || fail "/health took $MS ms while connections stall"
	sleep 0.2
done
pass "5 × /health served promptly while 5 connections stall"

# every stalled connection is closed by the site within timeout + 2 s
LIMIT=$((TIMEOUT + 2))
for n in $NAMES; do
	for _ in $(seq 1 100); do
		[ -s "$T/stall-$n.out" ] && break
		sleep 0.1
	done
	read -r name secs result <"$T/stall-$n.out" || fail "stalling client '$n' printed nothing"
	case "$result" in
	eof | reset) ;;
	*) fail "stalled '$name' connection: $result after $secs s (expected the site to close it)" ;;
	esac
	awk -v s="$secs" -v l="$LIMIT" 'BEGIN { exit !(s <= l) }' ||
		fail "stalled '$name' connection closed after $secs s; limit $LIMIT s"
	# not at once either: a slow but live client gets the timeout's grace
	awk -v s="$secs" -v t="$TIMEOUT" 'BEGIN { exit !(s >= t - 1) }' ||
		fail "stalled '$name' connection closed after only $secs s (http_timeout is $TIMEOUT s)"
	pass "stalled '$name' connection closed by the site after $secs s ($result)"
done

# ---- trickling clients ------------------------------------------------------------
# A byte a second, which no idle timeout ever fires on: four clients
# trickle a head that never ends, four the body of an open route (100
# bytes announced), two the body of a request refused from its headers
# (read and dropped). The site closes the heads at http_head_timeout
# after the connect, answers the bodies 408 request_timeout at
# http_body_timeout (plus their few bytes at http_body_min_rate) and
# closes the refused ones then too; /health is served throughout.
RAW=$BIN/steward-rawhttp
long() { head -c "$1" /dev/zero | tr '\0' "${2:-a}"; }
TRICKLERS=()
for i in 1 2 3 4; do
	"$RAW" --port "$PORT" --trickle-ms 1000 --timeout-ms 20000 \
		--send "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: $(long 60)\r\n\r\n" >"$T/trickle-head$i.out" &
	TRICKLERS+=($!)
	"$RAW" --port "$PORT" --trickle-ms 1000 --trickle-body --timeout-ms 20000 \
		--send "POST /bootstrap/report HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n$(long 100 b)" \
		>"$T/trickle-body$i.out" &
	TRICKLERS+=($!)
done
for i in 1 2; do
	"$RAW" --port "$PORT" --trickle-ms 1000 --trickle-body --timeout-ms 20000 \
		--send "POST /api/v1/checkin HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n$(long 100 c)" \
		>"$T/trickle-refused$i.out" &
	TRICKLERS+=($!)
done
PIDS+=("${TRICKLERS[@]}")
sleep 0.5
for i in 1 2 3 4 5; do
	START=$(date +%s%N)
	curl -fsS -m 1 "$SITE_URL/health" >/dev/null || fail "/health not served while connections trickle (try $i)"
	MS=$((($(date +%s%N) - START) / 1000000))
	[ "$MS" -lt 500 ] || fail "/health took $MS ms while connections trickle"
	sleep 0.3
done
pass "5 × /health served promptly while 10 connections trickle a byte a second"
for pid in "${TRICKLERS[@]}"; do wait "$pid" || fail "steward-rawhttp failed"; done

# within [deadline - 0.5, deadline + 1.5] s of the connect
within() {
	awk -v s="$1" -v d="$2" 'BEGIN { exit !(s >= d - 0.5 && s <= d + 1.5) }'
}
field() { tr ' ' '\n' <"$1" | sed -n "s/^$2=//p"; }
for f in "$T"/trickle-*.out; do
	name=$(basename "$f" .out)
	out=$(cat "$f")
	secs=$(field "$f" close_s)
	[ "$(field "$f" closed)" = yes ] || fail "$name: the site did not close the trickling connection: $out"
	case $name in
	trickle-head*)
		deadline=$HEAD_TIMEOUT
		[ "$(field "$f" responses)" = 0 ] || fail "$name: a head that never ended got a reply: $out"
		;;
	trickle-body*)
		deadline=$BODY_TIMEOUT
		[ "$(field "$f" status)" = 408 ] && [ "$(field "$f" code)" = request_timeout ] ||
			fail "$name: expected 408 request_timeout: $out"
		;;
	*) deadline=$BODY_TIMEOUT ;;
	esac
	within "$secs" "$deadline" || fail "$name: closed after $secs s, the deadline is $deadline s: $out"
	pass "$name: closed after $secs s (deadline $deadline s) $(field "$f" status)"
done

kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd died"
curl -fsS -m 2 "$SITE_URL/health" >/dev/null || fail "stewardd not healthy after the stalls"
pass "stewardd up and healthy after the slowloris connections"
stop_checked site
pass "stewardd exits 0 on SIGTERM, no sanitizer report"

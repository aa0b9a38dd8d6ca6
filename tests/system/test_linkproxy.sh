#!/usr/bin/env bash
# steward-linkproxy, the bad link the network fault tests put between client
# and server, does what each mode says: curl through it to a real stewardd
# (and, for the byte rate, to a plain file server) sees the link pass, cut,
# stall, lag, throttle, drip, cut after N bytes, swallow and flood, and the
# control port counts
# and refuses as documented in docs/internals/testing-tools.md.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/linkproxy.sh"

command -v python3 >/dev/null || fail "python3 missing (the file server for the rate test needs it)"

now_ms() {
	date +%s%3N
}

proxy_has_open_connections() {
	[ "$(linkproxy_stat active)" -ge 1 ]
}

# secs_between LO HI VALUE: LO <= VALUE < HI (decimals allowed)
secs_between() {
	awk -v lo="$1" -v hi="$2" -v v="$3" 'BEGIN { exit !(v >= lo && v < hi) }'
}

# the proxy's own answers (endless, drip) are plain HTTP: this test of the
# proxy runs its site without TLS
LP_SCHEME=http
site_start site --tls false
SITE_PORT=${SITE_URL##*:}
linkproxy_start proxy "127.0.0.1:$SITE_PORT"
P=$LP_URL
DIRECT=$(curl -fsS -m 5 "$SITE_URL/health")

# ---- pass -------------------------------------------------------------------------
linkproxy_ctl reset-stats >/dev/null
got=$(curl -fsS -m 5 "$P/health") || fail "/health through the proxy failed"
expect_eq "$got" "$DIRECT" "/health through the proxy"
expect_eq "$(linkproxy_stat accepted)" 1 "connections accepted after one request"
[ "$(linkproxy_stat bytes_up)" -gt 0 ] || fail "no bytes counted client->server"
[ "$(linkproxy_stat bytes_down)" -ge "${#DIRECT}" ] || fail "bytes_down below the body's size"
expect_eq "$(linkproxy_stat mode)" pass "mode in the stats"
pass "pass: /health through the proxy is the site's own answer, and counted"

# ---- cut: open connections close, new ones are refused ----------------------------
expect_eq "$(linkproxy_ctl drip 1)" "ok mode=drip 1" "reply to drip 1"
curl -sS -m 10 -o /dev/null "$P/health" 2>"$T/cut-open.err" &
BG=$!
PIDS+=("$BG")
wait_for 5 "the dripping connection is open" proxy_has_open_connections
START=$(now_ms)
expect_eq "$(linkproxy_ctl cut)" "ok mode=cut" "reply to cut"
OPEN_RC=0
wait "$BG" || OPEN_RC=$?
MS=$(($(now_ms) - START))
[ $OPEN_RC -ne 0 ] || fail "a connection open through the cut completed"
[ "$MS" -lt 2000 ] || fail "the open connection ended ${MS} ms after the cut"
[ "$(linkproxy_stat cut_closed)" -ge 1 ] || fail "cut_closed not counted"
rc=0
TIME=$(curl -sS -m 5 -o /dev/null -w '%{time_total}' "$P/health" 2>/dev/null) || rc=$?
[ $rc -ne 0 ] || fail "a new connection went through while cut"
secs_between 0 1 "$TIME" || fail "curl took $TIME s to fail on the cut link"
[ "$(linkproxy_stat refused)" -ge 1 ] || fail "refused not counted"
linkproxy_ctl pass >/dev/null
curl -fsS -m 5 "$P/health" >/dev/null || fail "/health after the cut healed"
pass "cut: an open connection ends in ${MS} ms (curl rc=$OPEN_RC), a new one fails in $TIME s (rc=$rc); pass heals"

# ---- stall: nothing moves, then what was held arrives -------------------------------
linkproxy_ctl stall >/dev/null
rc=0
curl -sS -m 2 -o /dev/null "$P/health" 2>/dev/null || rc=$?
expect_eq "$rc" 28 "curl --max-time 2 through a stalled link (28: timed out)"
curl -sS -m 10 -o "$T/stalled.body" "$P/health" 2>"$T/stalled.err" &
BG=$!
PIDS+=("$BG")
sleep 1
kill -0 "$BG" 2>/dev/null || fail "a request through the stalled link finished: $(cat "$T/stalled.err")"
linkproxy_ctl pass >/dev/null
rc=0
wait "$BG" || rc=$?
[ $rc -eq 0 ] || fail "the request held by the stall failed once the link passed: $(cat "$T/stalled.err")"
expect_eq "$(cat "$T/stalled.body")" "$DIRECT" "the request held by the stall"
pass "stall: curl -m 2 times out; a held request completes once the link passes"

# ---- delay: every chunk waits, both ways -------------------------------------------
expect_eq "$(linkproxy_ctl rate 20000 delay 300)" "ok mode=delay 300 rate 20000" "a combined mode"
linkproxy_ctl delay 300 >/dev/null
TIME=$(curl -fsS -m 5 -o /dev/null -w '%{time_total}' "$P/health") || fail "/health with delay 300 failed"
# the request waits 300 ms and so does the answer
secs_between 0.58 3 "$TIME" || fail "/health with delay 300 took $TIME s (expected 0.6..3)"
linkproxy_ctl pass >/dev/null
pass "delay 300: /health takes $TIME s"

# ---- drip: one byte a second from the server ----------------------------------------
linkproxy_ctl reset-stats >/dev/null
linkproxy_ctl drip 1 >/dev/null
rc=0
curl -sS -m 3 -o /dev/null "$P/health" 2>/dev/null || rc=$?
expect_eq "$rc" 28 "curl --max-time 3 against a 1 byte/s drip (28: timed out)"
DOWN=$(linkproxy_stat bytes_down)
[ "$DOWN" -ge 1 ] && [ "$DOWN" -le 5 ] || fail "drip 1 let $DOWN bytes through in 3 s"
[ "$(linkproxy_stat bytes_up)" -gt 20 ] || fail "drip held back the request too"
linkproxy_ctl pass >/dev/null
pass "drip 1: the client got $DOWN bytes in 3 s, its request went through whole"

# ---- blackhole: accepts, reads, never answers --------------------------------------
linkproxy_ctl reset-stats >/dev/null
linkproxy_ctl blackhole >/dev/null
rc=0
TIME=$(curl -sS -m 2 -o /dev/null -w '%{time_total}' "$P/health" 2>/dev/null) || rc=$?
expect_eq "$rc" 28 "curl --max-time 2 against the blackhole"
expect_eq "$(linkproxy_stat bytes_down)" 0 "bytes from the blackhole"
pass "blackhole: curl -m 2 times out after $TIME s with nothing received"

# ---- endless: a 200 that never ends ------------------------------------------------
linkproxy_ctl endless 20000 >/dev/null
rc=0
CODE=$(curl -sS -m 2 -o "$T/endless.body" -w '%{http_code}' "$P/health" 2>/dev/null) || rc=$?
expect_eq "$rc" 28 "curl --max-time 2 against the endless stream"
expect_eq "$CODE" 200 "status of the endless stream"
SIZE=$(stat -c %s "$T/endless.body")
[ "$SIZE" -ge 20000 ] && [ "$SIZE" -le 60000 ] || fail "endless 20000 sent $SIZE bytes in 2 s"
linkproxy_ctl endless 20000 length 100000000 >/dev/null
rc=0
curl -sS -m 5 --max-filesize 100000 -o /dev/null "$P/health" 2>/dev/null || rc=$?
expect_eq "$rc" 63 "curl --max-filesize against a stream announcing 100 MB (63: too large)"
linkproxy_ctl pass >/dev/null
pass "endless: curl -m 2 got $SIZE bytes of a 200 and timed out; --max-filesize refuses a 100 MB one"

# ---- the control port refuses what it does not understand --------------------------
for bad in "bogus" "delay" "delay -5" "rate 0" "cut now" "delay 1 delay 2" "stats please" \
	"cutafter" "cutafter 0" "cutafter 10 cutafter 20" "endless cutafter 5"; do
	rc=0
	# shellcheck disable=SC2086 # word splitting is the point
	reply=$("$BIN/steward-linkproxy" --ctl "$LP_CTL" $bad) || rc=$?
	expect_eq "$rc" 1 "exit status of --ctl '$bad'"
	case $reply in "error: "*) ;; *) fail "'$bad' got '$reply'" ;; esac
done
reply=$(python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"delay " + b"9" * 300 + b"\n")
print(s.recv(1000).decode().strip())
' "${LP_CTL##*:}")
case $reply in "error: "*256*) ;; *) fail "a 306-byte control line got '$reply'" ;; esac
expect_eq "$(linkproxy_stat mode)" pass "mode after the refused commands"
pass "control port: malformed and over-long commands get 'error: ...' and change nothing"

# ---- cutafter: each connection is reset after N bytes down ---------------------------
# a 200,000-byte blob from the site's distribution point, through a link that
# resets every connection after 60,000 bytes toward the client: each curl
# gets exactly 60,000 bytes (headers included) and fails; curl -C - resumes
# by Range from what it has, so four connections bring the blob whole
AUTH="Authorization: Bearer $(cat "$ADMIN")"
head -c 200000 /dev/urandom >"$T/cutblob"
CH=$(sha256sum "$T/cutblob" | cut -d' ' -f1)
curl -fsS -o /dev/null -H "$AUTH" -T "$T/cutblob" "$SITE_URL/api/v1/content/$CH" || fail "upload the blob"
expect_eq "$(linkproxy_ctl cutafter 60000 rate 1000000)" "ok mode=rate 1000000 cutafter 60000" \
	"reply to cutafter with a rate"
expect_eq "$(linkproxy_ctl cutafter 60000)" "ok mode=cutafter 60000" "reply to cutafter"
got=$(curl -fsS -m 5 "$P/health") || fail "/health (shorter than 60000 bytes) through cutafter"
expect_eq "$got" "$DIRECT" "/health through cutafter 60000"
linkproxy_ctl reset-stats >/dev/null
rm -f "$T/cut.got"
n=0
while :; do
	n=$((n + 1))
	[ $n -le 6 ] || fail "the blob did not come whole in 5 connections"
	rc=0
	curl -sS -m 10 -H "$AUTH" -C - -o "$T/cut.got" -D "$T/cut.hdrs" "$P/content/$CH" 2>"$T/cut.err" || rc=$?
	have=$(stat -c %s "$T/cut.got" 2>/dev/null || echo 0)
	hdr=$(stat -c %s "$T/cut.hdrs")
	if [ $rc -eq 0 ]; then
		break
	fi
	# the client holds all 60,000 bytes the proxy wrote, not fewer: the RST
	# waits for them to be acknowledged
	expect_eq "$((have - ${last:-0} + hdr))" 60000 "bytes (headers included) of connection $n"
	last=$have
done
cmp -s "$T/cut.got" "$T/cutblob" || fail "the blob pieced together over cuts differs"
expect_eq "$n" 4 "connections for 200,000 bytes at 60,000 a connection"
expect_eq "$(linkproxy_stat cutafter_closed)" 3 "cutafter_closed"
DOWN=$(linkproxy_stat bytes_down)
[ "$DOWN" -lt 202000 ] || fail "bytes_down $DOWN: more than the blob and four heads"
linkproxy_ctl pass >/dev/null
pass "cutafter 60000: each connection reset at exactly 60,000 bytes; curl -C - got the blob whole in $n ($DOWN bytes down)"

# ---- rate: 200 kB at 20000 bytes/s takes 10 s --------------------------------------
mkdir -p "$T/www"
head -c 200000 /dev/urandom >"$T/www/blob"
python3 -u -m http.server --bind 127.0.0.1 --directory "$T/www" 0 >"$T/files.log" 2>&1 &
PIDS+=("$!")
wait_for 10 "the file server's port" grep -q ' port [0-9]' "$T/files.log"
FILES_PORT=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$T/files.log" | head -n 1)
curl -fsS -m 5 -o /dev/null "http://127.0.0.1:$FILES_PORT/blob" || fail "the file server does not serve"
SITE_CTL=$LP_CTL
linkproxy_start rate-proxy "127.0.0.1:$FILES_PORT" --mode "rate 20000"
TIME=$(curl -fsS -m 30 -o "$T/blob.got" -w '%{time_total}' "$LP_URL/blob") || fail "download at rate 20000 failed"
cmp -s "$T/www/blob" "$T/blob.got" || fail "the rate-limited download differs from the file"
secs_between 7 13 "$TIME" || fail "200000 bytes at 20000 bytes/s took $TIME s (expected 10 s ±30%)"
pass "rate 20000: 200000 bytes in $TIME s, intact"

# ---- ends by itself: SIGTERM, and --max-seconds ------------------------------------
kill -TERM "$LP_PID"
wait_for 3 "the rate proxy exits on SIGTERM" sh -c "! kill -0 $LP_PID 2>/dev/null"
rc=0
wait "$LP_PID" || rc=$?
expect_eq "$rc" 0 "exit status of steward-linkproxy on SIGTERM"
LP_MAX_SECONDS=1 linkproxy_start short "127.0.0.1:$SITE_PORT"
wait_for 4 "a proxy with --max-seconds 1 exits by itself" sh -c "! kill -0 $LP_PID 2>/dev/null"
grep -q 'exit (max-seconds)' "$T/short.log" || fail "no 'exit (max-seconds)' in $(cat "$T/short.log")"
LP_CTL=$SITE_CTL
expect_eq "$(linkproxy_stat mode)" pass "the first proxy still answers"
pass "steward-linkproxy exits 0 on SIGTERM and by itself after --max-seconds"

#!/usr/bin/env bash
# Servers that answer a byte a second, or never stop answering, in front of
# the management point (check-ins) and the distribution point (downloads),
# played by steward-linkproxy: the agent gives up at its timeout, its
# low-speed floor, its per-transfer deadline or its byte cap; says so in its
# log and, for downloads, in a status message with the rate it measured;
# keeps its memory and the partial file bounded; and its next cycle against
# a good server works. Plain HTTP (the proxy's own answers are plain HTTP).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/linkproxy.sh"

BLOB=40000
RSS_MAX_KB=65536 # the agent's peak memory, whatever the server sends
sha() { sha256sum "$1" | cut -c1-64; }
size() { stat -c %s "$1" 2>/dev/null || echo 0; }

LP_SCHEME=http
site_start site --tls false --enroll_auto_approve true
PORT=${SITE_URL##*:}
linkproxy_start mp "127.0.0.1:$PORT"
MP_URL=$LP_URL MP_CTL=$LP_CTL
linkproxy_start dp "127.0.0.1:$PORT"
DP_URL=$LP_URL DP_CTL=$LP_CTL
site_stop
site_restart --tls false --enroll_auto_approve true --public_url "$DP_URL"
mp() { LP_CTL=$MP_CTL linkproxy_ctl "$@" >/dev/null; }
dp() { LP_CTL=$DP_CTL linkproxy_ctl "$@" >/dev/null; }

# once SECONDS [args]: one --once run through the MP proxy; its peak RSS
# (KiB) in $T/rss
once() {
	local s=$1
	shift
	/usr/bin/time -f %M -o "$T/rss" "$BIN/steward-agent" --server "$MP_URL" --state-dir "$T/agent-a" \
		--once --timeout "$s" --log-level debug "$@" >>"$T/agent-a.log" 2>&1
}
rss_ok() { # WHAT
	local kb
	kb=$(tail -n 1 "$T/rss")
	[ "$kb" -lt $RSS_MAX_KB ] || fail "$1: the agent's peak RSS was $kb KiB"
	echo "$kb"
}
# log_since N: the agent's log after line N
log_since() { tail -n +"$(($1 + 1))" "$T/agent-a.log"; }
logged_since() { log_since "$1" | grep -q "$2"; } # N PATTERN
# seconds on the kernel's boot clock, which the wall clock's steps (a VM's
# time sync) do not move: a 9 s step once made a 5 s wait read as 14 s
secs() { cut -d. -f1 /proc/uptime; }

once 30 --enroll-token "$(new_token 2)" || fail "the agent did not enroll"
ID_A=$(agent_id a)
ctl collections create just-a --members "$ID_A" >/dev/null || fail "collections create"

# ---- the management point drips a byte a second -----------------------------------------
mp drip 1
n=$(wc -l <"$T/agent-a.log")
t0=$(secs)
once 5 && fail "a check-in against a dripping server succeeded"
took=$(($(secs) - t0))
[ "$took" -le 12 ] || fail "the agent needed ${took}s to give up on a dripping check-in (--timeout 5)"
log_since "$n" | grep -E "request_failed path=/api/v1/(checkin|session) code=timeout" >/dev/null ||
	fail "no request_failed ... code=timeout in the log: $(log_since "$n" | tail -n 5)"
kb=$(rss_ok "drip 1 check-in")
pass "check-in, drip 1: gave up in ${took}s at its timeout (code=timeout, peak RSS ${kb} KiB)"

# ---- the management point never stops answering --------------------------------------------
mp endless 10000000
n=$(wc -l <"$T/agent-a.log")
t0=$(secs)
once 5 && fail "a check-in against an endless server succeeded"
took=$(($(secs) - t0))
[ "$took" -le 12 ] || fail "the agent needed ${took}s to give up on an endless check-in"
log_since "$n" | grep -E "request_failed path=/api/v1/(checkin|session) code=response_too_large" >/dev/null ||
	fail "no request_failed ... code=response_too_large in the log: $(log_since "$n" | tail -n 5)"
kb=$(rss_ok "endless check-in")
pass "check-in, endless: refused at the body cap (code=response_too_large, peak RSS ${kb} KiB)"

mp pass
once 30 || fail "the check-in after the bad servers failed: $(tail -n 5 "$T/agent-a.log")"
pass "check-in, a good server again: the next cycle works"

# ---- downloads: the agent as a service, HTTP calls capped at 4 s ----------------------------
mkdir -p "$T/pkg"
head -c $BLOB /dev/urandom >"$T/pkg/payload.bin"
H=$(sha "$T/pkg/payload.bin")
printf '#!/bin/sh\nset -e\necho "%s  payload.bin" | sha256sum -c --quiet\necho ran >>"%s"\n' \
	"$H" "$T/ran.log" >"$T/pkg/run.sh"
ctl packages add slow --version 1 --source "$T/pkg" >/dev/null || fail "packages add"
ctl programs add slow --package slow --command "sh run.sh" >/dev/null || fail "programs add"
ctl adverts create slow --program slow --collection just-a >/dev/null || fail "adverts create"
PARTIAL=$T/agent-a/swdist/cache/partial/$H

state_of() {
	ctl --json status advert slow | jq -r --arg id "$ID_A" '.clients[] | select(.id == $id) | .state'
}
details() { # every status message of the client for the advert
	ctl --json status client "$ID_A" |
		jq -r '.adverts[] | select(.advert == "slow") | .history[] | "\(.state) \(.detail)"'
}
reported() { details | grep -q "$1"; } # PATTERN
backoff_over() { # a failed download waits a minute: these runs stand for it
	local f=$T/agent-a/swdist/adverts.json
	[ -f "$f" ] || return 0
	jq 'walk(if type == "object" and has("retry_at") then .retry_at = 0 else . end)' "$f" >"$f.new" &&
		mv "$f.new" "$f"
}
# service CODE SECONDS: the agent as a service until a dp_failed with CODE is
# in its log (at most SECONDS after its check-in); then its peak RSS in
# $T/rss, and SIGTERM
service() {
	local code=$1 max=$2 n pid
	n=$(wc -l <"$T/agent-a.log")
	backoff_over
	"$BIN/steward-agent" --server "$MP_URL" --state-dir "$T/agent-a" --timeout 4 \
		--log-level debug >>"$T/agent-a.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	# it checked in a moment ago: SIGUSR1 asks for a check-in now, as an
	# administrator's policy retrieval would; the download follows it
	wait_for 10 "the agent service waits for its next check-in" logged_since "$n" "agent sleeping"
	kill -USR1 "$pid"
	t0=$(secs)
	wait_for "$max" "dp_failed code=$code" logged_since "$n" "dp_failed .* code=$code "
	took=$(($(secs) - t0))
	sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" >"$T/rss"
	kill -TERM "$pid"
	wait "$pid" || fail "the agent did not stop cleanly after $code (rc=$?)"
	log_since "$n" | grep "dp_failed .* code=$code " | head -n 1 >"$T/dp_failed"
}

# a byte a second: the low-speed floor (1024 bytes/s over the 4 s timeout)
dp drip 1
service download_too_slow 20
[ "$took" -le 12 ] || fail "the agent needed ${took}s to drop a 1 byte/s download"
grep -q 'too slow: [0-9]* bytes in [0-9.]* s ([0-9]* bytes/s; under 1024 bytes/s for 4 s)' "$T/dp_failed" ||
	fail "the log line does not give the rate: $(cat "$T/dp_failed")"
wait_for 10 "a download_failed status with the rate" reported '^download_failed .*too slow: .* bytes/s'
kb=$(rss_ok "drip 1 download")
[ "$(size "$PARTIAL")" -le $BLOB ] || fail "the partial file grew past the blob"
pass "download, drip 1: dropped in ${took}s, reported: $(details | grep -o 'too slow: [^;]*;' | tail -n 1)"

# just above the floor (1500 bytes/s): the deadline from the size. 40,000
# bytes at 4096 bytes/s, plus connecting and a timeout: about 18 s, where
# the drip would need 27 s
dp drip 1500
service download_too_slow 40
[ "$took" -ge 14 ] && [ "$took" -le 30 ] || fail "the deadline took ${took}s (about 18 s expected)"
grep -q "not done within 17 s ($BLOB bytes at 4096 bytes/s): [0-9]* bytes in [0-9.]* s ([0-9]* bytes/s)" \
	"$T/dp_failed" || fail "the log line does not give the deadline and the rate: $(cat "$T/dp_failed")"
rate=$(sed -n 's/.* s (\([0-9]*\) bytes\/s).*/\1/p' "$T/dp_failed")
[ "$rate" -ge 1000 ] && [ "$rate" -le 1600 ] || fail "measured $rate bytes/s of a 1500 bytes/s drip"
wait_for 10 "a download_failed status with the deadline" reported '^download_failed .*not done within'
[ "$(state_of)" = download_failed ] || fail "state after the deadline: $(state_of)"
have=$(size "$PARTIAL")
[ "$have" -gt 10000 ] && [ "$have" -lt $BLOB ] || fail "the partial file holds $have bytes after the deadline"
kb=$(rss_ok "drip 1500 download")
pass "download, drip 1500: dropped at its deadline after ${took}s, $have bytes kept to resume"

# a server that never stops sending: the byte cap (the blob's size)
dp endless 10000000 length 100000000
service download_failed 20
grep -q "sent bytes that do not match $H" "$T/dp_failed" || fail "the log line: $(cat "$T/dp_failed")"
wait_for 10 "a verification_failed status naming the cap" reported "^verification_failed blob $H from $DP_URL: got more than $BLOB bytes"
[ "$(size "$PARTIAL")" -le $BLOB ] || fail "the partial file grew past the blob: $(size "$PARTIAL")"
kb=$(rss_ok "endless download")
pass "download, endless: stopped at the blob's $BLOB bytes, partial file $(size "$PARTIAL") bytes, peak RSS ${kb} KiB"

# ---- a good distribution point again ------------------------------------------------------
dp pass
backoff_over
once 30 || fail "the cycle after the bad servers failed: $(tail -n 5 "$T/agent-a.log")"
expect_eq "$(state_of)" succeeded "state with a good DP"
expect_eq "$(cat "$T/ran.log" 2>/dev/null)" ran "the program's runs"
[ ! -e "$PARTIAL" ] || fail "the partial file is left behind"
pass "download, a good server again: verified and ran once"

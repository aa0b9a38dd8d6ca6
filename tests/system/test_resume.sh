#!/usr/bin/env bash
# Downloads on a link that breaks, with a real site, distribution point and
# agent, and steward-linkproxy between the agent and the DP (the site's
# public_url): a 3 MB blob cut at 10%, 50% and 99% of its bytes is resumed
# each time from the byte the agent had (its Range, the DP's log and the
# proxy's byte count: about one blob in all, not one per attempt), then
# verifies and runs. An agent killed with SIGKILL mid-download resumes from
# its partial file when it starts again. A partial file corrupted on disk
# between two runs fails verification, is thrown away and fetched whole:
# the program runs once, from verified bytes only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/linkproxy.sh"

WAIT_S=30
BLOB=3000000
sha() { sha256sum "$1" | cut -c1-64; }
size() { stat -c %s "$1" 2>/dev/null || echo 0; }

site_start site --enroll_auto_approve true
linkproxy_start dp "127.0.0.1:${SITE_URL##*:}"
# the site's own distribution point is handed to agents as the proxy's URL:
# every content request goes over the bad link, check-ins do not
site_stop
site_restart --enroll_auto_approve true --public_url "$LP_URL"
grep -q "swdist distribution_point url=$LP_URL" "$T/site.log" ||
	fail "the site does not hand out the proxy as its DP: $(grep distribution_point "$T/site.log")"

run_agent() {
	"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/agent-a" --once --timeout 60 \
		--log-level debug "$@" >>"$T/agent-a.log" 2>&1
}
run_agent --enroll-token "$(new_token 2)" || fail "the agent did not enroll"
ID_A=$(agent_id a)
ctl collections create just-a --members "$ID_A" >/dev/null || fail "collections create"

state_of() { # ADVERT
	ctl --json status advert "$1" | jq -r --arg id "$ID_A" '.clients[] | select(.id == $id) | .state'
}
history_of() { # ADVERT: every status message of the client for it, one a line
	ctl --json status client "$ID_A" |
		jq -r --arg a "$1" '.adverts[] | select(.advert == $a) | .history[] | "\(.state) \(.detail)"'
}
# a package whose program checks its payload's SHA-256 and records that it ran
make_pkg() { # NAME
	mkdir -p "$T/pkg-$1"
	head -c $BLOB /dev/urandom >"$T/pkg-$1/payload.bin"
	printf '#!/bin/sh\nset -e\necho "%s" | sha256sum -c --quiet\necho %s >>"%s"\n' \
		"$(sha "$T/pkg-$1/payload.bin")  payload.bin" "$1" "$T/ran.log" >"$T/pkg-$1/run.sh"
	ctl packages add "$1" --version 1 --source "$T/pkg-$1" >/dev/null || fail "packages add $1"
	ctl programs add "$1" --package "$1" --command "sh run.sh" >/dev/null || fail "programs add $1"
	ctl adverts create "$1" --program "$1" --collection just-a >/dev/null || fail "adverts create $1"
}
ran_count() { if [ -f "$T/ran.log" ]; then grep -cx "$1" "$T/ran.log" || true; else echo 0; fi; }
partial() { echo "$T/agent-a/swdist/cache/partial/$1"; }
# a failed download is retried after a back-off of a minute; these runs
# stand for the minutes going by (the schedule has tests of its own)
backoff_over() {
	local f=$T/agent-a/swdist/adverts.json
	[ -f "$f" ] || return 0
	jq 'walk(if type == "object" and has("retry_at") then .retry_at = 0 else . end)' "$f" >"$f.new" &&
		mv "$f.new" "$f"
}
# resumed_from HASH: the byte the agent's last request for HASH started at
resumed_from() {
	sed -n "s|.* swdist get url=$LP_URL/content/$1 resume_from=\([0-9]*\).*|\1|p" "$T/agent-a.log" |
		tail -n 1
}
# dp_line_after N HASH: the DP's first log line for HASH after line N of its log
dp_line_after() {
	tail -n +"$(($1 + 1))" "$T/site.log" | grep -E "dp download(_aborted)? hash=$2 " | head -n 1
}
dp_logged_after() { [ -n "$(dp_line_after "$1" "$2")" ]; }

# ---- cut at 10%, 50% and 99% ------------------------------------------------------------
make_pkg cuts
H=$(sha "$T/pkg-cuts/payload.bin")
TOTAL_DOWN=0
for pct in 10 50 99; do
	target=$((BLOB * pct / 100))
	have=$(size "$(partial "$H")")
	# this connection may carry the bytes up to the cut point (TLS records,
	# the handshake and the head included: the agent keeps what it could
	# decrypt, whole records of 16 KiB, so a little under the cut point)
	linkproxy_ctl cutafter $((target - have)) >/dev/null
	linkproxy_ctl reset-stats >/dev/null
	lines=$(wc -l <"$T/site.log")
	backoff_over
	run_agent || true
	now=$(size "$(partial "$H")")
	[ "$now" -le "$target" ] && [ "$now" -gt $((target - 24576)) ] ||
		fail "cut at $pct%: the partial file holds $now bytes, expected just under $target"
	expect_eq "$(resumed_from "$H")" "$have" "the Range the agent asked for at the $pct% attempt"
	wait_for 10 "the DP's log line for the $pct% attempt" dp_logged_after "$lines" "$H"
	line=$(dp_line_after "$lines" "$H")
	case $line in *" from=$have"*) ;; *) fail "the DP did not start at byte $have: '$line'" ;; esac
	if [ "$have" -gt 0 ]; then
		case $line in *" status=206 "*) ;; *) fail "no 206 for the resume at $have: '$line'" ;; esac
	fi
	expect_eq "$(linkproxy_stat cutafter_closed)" 1 "connections cut at the $pct% attempt"
	TOTAL_DOWN=$((TOTAL_DOWN + $(linkproxy_stat bytes_down)))
	expect_eq "$(state_of cuts)" download_failed "state after the cut at $pct%"
	expect_eq "$(ran_count cuts)" 0 "runs before the download completed"
	pass "cut at $pct%: the agent kept $now bytes; it had asked for the rest from byte $have"
done
history_of cuts | grep -q "^download_failed .*retrying at" ||
	fail "no download_failed status with its retry: $(history_of cuts)"
linkproxy_ctl pass >/dev/null
linkproxy_ctl reset-stats >/dev/null
have=$(size "$(partial "$H")")
lines=$(wc -l <"$T/site.log")
backoff_over
run_agent || fail "the agent's cycle after the cuts failed: $(tail -n 5 "$T/agent-a.log")"
expect_eq "$(state_of cuts)" succeeded "state once the link holds"
expect_eq "$(resumed_from "$H")" "$have" "the Range of the last attempt"
wait_for 10 "the DP's log line for the last attempt" dp_logged_after "$lines" "$H"
line=$(dp_line_after "$lines" "$H")
case $line in *" status=206 bytes=$((BLOB - have)) "*" from=$have"*) ;;
*) fail "the last attempt was not the last $((BLOB - have)) bytes: '$line'" ;;
esac
TOTAL_DOWN=$((TOTAL_DOWN + $(linkproxy_stat bytes_down)))
# the blob once, plus the manifest, TLS (five handshakes, record overhead, the
# records cut in half) and the heads: not even 5% more, far from 2 blobs
[ "$TOTAL_DOWN" -ge $BLOB ] && [ "$TOTAL_DOWN" -lt $((BLOB + BLOB / 20)) ] ||
	fail "the link carried $TOTAL_DOWN bytes toward the agent for a $BLOB-byte blob"
expect_eq "$(sha "$T/agent-a/swdist/cache/blobs/$H")" "$H" "the cached blob"
[ ! -e "$(partial "$H")" ] || fail "the partial file is left behind"
expect_eq "$(ran_count cuts)" 1 "runs of the program"
pass "cut at 10%, 50% and 99%: resumed each time, $TOTAL_DOWN bytes over the link for $BLOB, verified, ran once"

# ---- the agent killed in the middle of a download ----------------------------------------
make_pkg killed
H2=$(sha "$T/pkg-killed/payload.bin")
linkproxy_ctl rate 300000 >/dev/null # 10 s for the blob
partial_at_least() { [ "$(size "$(partial "$1")")" -ge "$2" ]; }
# the agent itself in the background (not a subshell): SIGKILL must reach it
"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/agent-a" --once --timeout 60 \
	--log-level debug >>"$T/agent-a.log" 2>&1 &
apid=$!
PIDS+=("$apid")
wait_for $WAIT_S "the download under way" partial_at_least "$H2" 600000
kill -KILL "$apid"
wait "$apid" 2>/dev/null || true
have=$(size "$(partial "$H2")")
[ "$have" -lt $BLOB ] || fail "the download had finished before the kill"
expect_eq "$(ran_count killed)" 0 "runs before the download completed"
linkproxy_ctl pass >/dev/null
lines=$(wc -l <"$T/site.log")
run_agent || fail "the agent's cycle after the kill failed: $(tail -n 5 "$T/agent-a.log")"
expect_eq "$(state_of killed)" succeeded "state after the restart"
expect_eq "$(resumed_from "$H2")" "$have" "the Range after the restart"
wait_for 10 "the DP's log line after the restart" dp_logged_after "$lines" "$H2"
line=$(dp_line_after "$lines" "$H2")
case $line in *" status=206 bytes=$((BLOB - have)) "*" from=$have"*) ;;
*) fail "the restarted agent did not ask for the last $((BLOB - have)) bytes: '$line'" ;;
esac
expect_eq "$(ran_count killed)" 1 "runs of the program"
[ ! -e "$(partial "$H2")" ] || fail "the partial file is left behind"
pass "an agent killed (SIGKILL) at byte $have resumed from its partial file and ran once"

# ---- a partial file corrupted on disk ------------------------------------------------------
make_pkg corrupt
H3=$(sha "$T/pkg-corrupt/payload.bin")
linkproxy_ctl cutafter $((BLOB / 2)) >/dev/null
run_agent || true
have=$(size "$(partial "$H3")")
[ "$have" -gt $((BLOB / 2 - 24576)) ] || fail "the half download left $have bytes"
expect_eq "$(state_of corrupt)" download_failed "state after the cut"
# eight bytes in the middle of what the agent has, as a bad disk or a crash would leave
printf 'CORRUPT!' | dd of="$(partial "$H3")" bs=1 seek=100000 conv=notrunc status=none
linkproxy_ctl pass >/dev/null
lines=$(wc -l <"$T/site.log")
backoff_over
run_agent || fail "the agent's cycle after the corruption failed: $(tail -n 5 "$T/agent-a.log")"
history_of corrupt | grep -q "^verification_failed blob $H3 from $LP_URL (resumed at byte $have)" ||
	fail "no verification_failed naming the resume: $(history_of corrupt)"
wait_for 10 "the DP's log lines after the corruption" dp_logged_after "$lines" "$H3"
tail -n +"$((lines + 1))" "$T/site.log" | grep -E "dp download hash=$H3 status=206 .* from=$have" >/dev/null ||
	fail "the agent did not resume at $have first: $(grep "hash=$H3" "$T/site.log")"
tail -n +"$((lines + 1))" "$T/site.log" | grep -E "dp download hash=$H3 status=200 bytes=$BLOB .* from=0" >/dev/null ||
	fail "the blob was not fetched whole after the mismatch: $(grep "hash=$H3" "$T/site.log")"
expect_eq "$(state_of corrupt)" succeeded "state after fetching it whole"
expect_eq "$(sha "$T/agent-a/swdist/cache/blobs/$H3")" "$H3" "the cached blob"
history_of corrupt | grep -q '^failed' && fail "the program ran on wrong bytes: $(history_of corrupt)"
expect_eq "$(ran_count corrupt)" 1 "runs of the program"
[ ! -e "$(partial "$H3")" ] || fail "the partial file is left behind"
pass "a corrupted partial file: verification failed, thrown away, fetched whole, ran once on verified bytes"

site_stop

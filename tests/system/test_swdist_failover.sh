#!/usr/bin/env bash
# Agents and several distribution points, with real processes on loopback:
# a site server and a remote DP (roles = distribution_point) that clients on
# 127.0.0.0/8 prefer. A blob tampered with on the remote DP's disk is
# detected by the agent, thrown away, reported (verification_failed naming
# the DP) and fetched from the site's own DP; the program runs once, on the
# right bytes. The remote DP killed with SIGKILL in the middle of a download:
# the agent goes on from the byte it had, at the next DP (206, only the
# rest). The agent itself killed in the middle of a download: its next run
# asks for the rest of the partial file and nothing ran in between.
. "$(dirname "$0")/lib.sh"

WAIT_S=30
PACE=2000000 # bytes/s on every DP: a download of 8 MB takes ~4 s
sha() { sha256sum "$1" | cut -c1-64; }
size() { stat -c %s "$1"; }

holds() { # DATA_DIR HASH
	local f=$1/content/blobs/${2:0:2}/$2
	[ -f "$f" ] && [ "$(sha "$f")" = "$2" ]
}
partial_at_least() { # HASH BYTES
	local f=$T/agent-a/swdist/cache/partial/$1
	[ -f "$f" ] && [ "$(size "$f")" -ge "$2" ]
}
run_agent() {
	"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/agent-a" --once --timeout 60 \
		--log-level debug "$@" >>"$T/agent-a.log" 2>&1
}
state_of() { # ADVERT
	ctl --json status advert "$1" | jq -r --arg id "$ID_A" '.clients[] | select(.id == $id) | .state'
}
history_of() { # ADVERT: every status message of client a for it, one a line
	ctl --json status client "$ID_A" |
		jq -r --arg a "$1" '.adverts[] | select(.advert == $a) | .history[] | "\(.state) \(.detail)"'
}
# a package whose program checks its payload and records that it ran
make_pkg() { # NAME BYTES
	mkdir -p "$T/pkg-$1"
	head -c "$2" /dev/urandom >"$T/pkg-$1/payload.bin"
	printf '#!/bin/sh\nset -e\necho "%s" | sha256sum -c --quiet\necho %s >>"%s"\n' \
		"$(sha "$T/pkg-$1/payload.bin")  payload.bin" "$1" "$T/ran.log" >"$T/pkg-$1/run.sh"
	ctl packages add "$1" --version 1 --source "$T/pkg-$1" >/dev/null || fail "packages add $1"
	ctl programs add "$1" --package "$1" --command "sh run.sh" >/dev/null ||
		fail "programs add $1"
}
ran_count() { grep -cx "$1" "$T/ran.log" 2>/dev/null || true; }

# ---- the site server and its packages ---------------------------------------------------
site_start site --enroll_auto_approve true
SITE=$SITE_URL
SITE_MAIN_PID=$SITE_PID
SITE_ADMIN=$ADMIN
make_pkg tampered 300000
make_pkg dpkill 8000000
make_pkg agentkill 8000000
H1=$(sha "$T/pkg-tampered/payload.bin")
H2=$(sha "$T/pkg-dpkill/payload.bin")
H3=$(sha "$T/pkg-agentkill/payload.bin")
S2=$(size "$T/pkg-dpkill/payload.bin")
S3=$(size "$T/pkg-agentkill/payload.bin")

# ---- a remote DP: one sync round at start, none again during the test --------------------
site_start dp --roles distribution_point --upstream "$SITE" --upstream_token_file "$SITE_ADMIN" \
	--dp_sync_interval 1h --dp_max_bandwidth $PACE
DP_URL=$SITE_URL
DP_PID=$SITE_PID
DP_D=$SITE_DIR
SITE_URL=$SITE
SITE_DIR=$T/site
ADMIN=$SITE_ADMIN
for h in "$H1" "$H2" "$H3"; do
	wait_for $WAIT_S "the remote DP holds $h" holds "$DP_D" "$h"
done
wait_for $WAIT_S "the remote DP's first round" grep -q "dp_sync result=ok" "$T/dp.log"

# the site hands clients on loopback the remote DP first, its own second
SITE_PID=$SITE_MAIN_PID
site_stop
site_restart --enroll_auto_approve true --distribution_point "$DP_URL 127.0.0.0/8" \
	--dp_max_bandwidth $PACE
run_agent --enroll-token "$(new_token 2)" || fail "the agent did not enroll"
ID_A=$(agent_id a)
ctl collections create just-a --members "$ID_A" >/dev/null || fail "collections create"
pass "a remote DP holds every blob"

# ---- a tampered blob on the remote DP -------------------------------------------------
f=$DP_D/content/blobs/${H1:0:2}/$H1
printf 'tampered' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
[ "$(sha "$f")" != "$H1" ] || fail "the blob on the DP was not changed"
ctl adverts create tampered --program tampered --collection just-a >/dev/null
run_agent || fail "the agent's cycle failed: $(tail -n 5 "$T/agent-a.log")"
expect_eq "$(state_of tampered)" succeeded "state after failing over"
expect_eq "$(sed -n 's/.* swdist get url=\([^ ]*\) .*/\1/p' "$T/agent-a.log" | grep "$H1" | tr '\n' ' ')" \
	"$DP_URL/content/$H1 $SITE_URL/content/$H1 " "the DPs asked for the blob, in order"
history_of tampered | grep -q "^verification_failed blob $H1 from $DP_URL" ||
	fail "no verification_failed naming the DP: $(history_of tampered)"
grep -q "dp_failed dp=$DP_URL blob=$H1" "$T/agent-a.log" || fail "no dp_failed in the agent's log"
grep -q "dp download hash=$H1 status=200 " "$T/site.log" ||
	fail "the blob was not fetched from the site's own DP"
expect_eq "$(ran_count tampered)" 1 "runs of the tampered package's program"
expect_eq "$(sha "$T/agent-a/swdist/cache/blobs/$H1")" "$H1" "the cached blob"
pass "a blob tampered with on a DP: detected, thrown away, reported, fetched from the next DP"

# ---- the remote DP killed in the middle of a download -----------------------------------
ctl adverts create dpkill --program dpkill --collection just-a >/dev/null
run_agent &
apid=$!
PIDS+=("$apid")
wait_for $WAIT_S "the download from the remote DP under way" partial_at_least "$H2" 1000000
kill -KILL "$DP_PID"
wait "$DP_PID" 2>/dev/null || true
wait "$apid" || fail "the agent's cycle failed after the DP died: $(tail -n 5 "$T/agent-a.log")"
expect_eq "$(state_of dpkill)" succeeded "state after the DP died"
grep -q "dp_failed dp=$DP_URL blob=$H2" "$T/agent-a.log" || fail "no dp_failed for the dead DP"
line=$(grep "dp download hash=$H2 " "$T/site.log" | tail -n 1)
case $line in *" status=206 "*) ;; *) fail "the site's DP did not send a range: '$line'" ;; esac
rest=$(sed -n 's/.* bytes=\([0-9]*\) .*/\1/p' <<<"$line")
[ "$rest" -gt 0 ] && [ "$rest" -le $((S2 - 1000000)) ] ||
	fail "the site's DP sent $rest of $S2 bytes: the agent did not resume"
expect_eq "$(ran_count dpkill)" 1 "runs of the program"
pass "a DP killed mid-download: the agent resumed at the next DP ($rest of $S2 bytes sent there)"

# ---- the agent killed in the middle of a download ------------------------------------
ctl adverts create agentkill --program agentkill --collection just-a >/dev/null
"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/agent-a" --once --timeout 60 \
	--log-level debug >>"$T/agent-a.log" 2>&1 &
apid=$!
PIDS+=("$apid")
wait_for $WAIT_S "the download under way" partial_at_least "$H3" 1000000
kill -KILL "$apid"
wait "$apid" 2>/dev/null || true
have=$(size "$T/agent-a/swdist/cache/partial/$H3")
[ "$have" -lt "$S3" ] || fail "the download had finished before the kill"
expect_eq "$(ran_count agentkill)" 0 "runs before the download completed"
run_agent || fail "the agent's cycle after the kill failed: $(tail -n 5 "$T/agent-a.log")"
expect_eq "$(state_of agentkill)" succeeded "state after the restart"
grep -q "dp download hash=$H3 status=206 bytes=$((S3 - have)) " "$T/site.log" ||
	fail "no range request for the last $((S3 - have)) bytes: $(grep "hash=$H3" "$T/site.log")"
expect_eq "$(ran_count agentkill)" 1 "runs of the program"
[ ! -e "$T/agent-a/swdist/cache/partial/$H3" ] || fail "the partial file is left behind"
pass "an agent killed mid-download resumed at byte $have of $S3 on its next run"

site_stop

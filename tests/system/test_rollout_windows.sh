#!/usr/bin/env bash
# Rollouts start only inside a client's maintenance windows (steward-sim
# clients, a real site). Fleet A and fleet B (40 clients each, agent 1.0.0)
# share two windows a day: W1 (UTC) opening at the next minute boundary at
# least 25 s away, W2 (Europe/Berlin) two minutes later, each one minute
# long.
#  - before W1 nobody is offered anything;
#  - A checks in during W1 and upgrades;
#  - B was off during W1 and checks in between the windows: its half with
#    --late wait gets nothing, its half with --late run-at-next-checkin
#    upgrades at once;
#  - B checks in during W2: the waiting half catches up there.
# Bad windows (zero length, unknown zone, bad day) are refused naming the field.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

SIM=$BIN/steward-sim
CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")
stage_release_as "$T/rk" 2.0.0 1.0.0 "$T/r.tar.zst" tiny
site_start s1 --tls false --enroll_auto_approve true --release_key "$PUB" --release_halt_failures 0 \
	--rollout_offers_per_minute 0 --rollout_dp_offers_per_minute 0
ctl releases import "$T/r.tar.zst" >/dev/null 2>&1 || fail "import"

sim() { # FLEET OUT [args...]
	local fleet=$1 out=$2
	shift 2
	"$SIM" --server "$SITE_URL" --token-file "$ADMIN" --clients 40 --concurrency 8 \
		--timeout 10s --setup-timeout 60s --state "$T/$fleet.state" --json --quiet \
		--duration 3s --versions-out "$T/$out.versions" "$@" \
		>"$T/$out.json" 2>"$T/$out.log" || fail "steward-sim $out: $(tail -n 5 "$T/$out.log")"
}
num() { jq -r ".$2" "$T/$1.json"; }
st() { ctl --json rollouts status "$1" | jq -r "$2"; }

sim a enroll-a --agent-version 1.0.0
ctl --json clients list | jq -r '.[].id' | sort >"$T/ids-a"
sim b enroll-b --agent-version 1.0.0
ctl --json clients list | jq -r '.[].id' | sort | comm -13 "$T/ids-a" - >"$T/ids-b"
expect_eq "$(wc -l <"$T/ids-b")" 40 "clients of fleet B"
ctl collections create fleet-a --members "$(paste -sd, "$T/ids-a")" >/dev/null || fail "fleet-a"
ctl collections create fleet-b-wait --members "$(head -n 20 "$T/ids-b" | paste -sd,)" >/dev/null || fail "b-wait"
ctl collections create fleet-b-late --members "$(tail -n 20 "$T/ids-b" | paste -sd,)" >/dev/null || fail "b-late"
ctl collections create windowed --include fleet-a,fleet-b-wait,fleet-b-late >/dev/null || fail "windowed"

# ---- bad windows ------------------------------------------------------------------------
bad() { # WHAT TEXT ARGS...
	local what=$1 text=$2
	shift 2
	if ctl windows create bad "$@" >"$T/bad.out" 2>&1; then fail "$what accepted"; fi
	grep -q -- "$text" "$T/bad.out" || fail "$what: no '$text' in $(cat "$T/bad.out")"
}
bad "a zero length" "duration" --collection windowed --weekly "sat 22:00" --duration 0s
bad "an unknown zone" "unknown time zone 'Mars/Olympus'" --collection windowed --weekly "sat 22:00" --duration 1h --tz Mars/Olympus
bad "a zone name with dots" "tz:" --collection windowed --weekly "sat 22:00" --duration 1h --tz ../etc/passwd
bad "a day that is none" "weekly" --collection windowed --weekly "funday 22:00" --duration 1h
bad "an hour that is none" "weekly" --collection windowed --weekly "sat 25:00" --duration 1h
bad "a collection that is none" "field 'collection'" --weekly "sat 22:00" --duration 1h --collection nosuch
pass "bad windows refused, each naming its field"

# ---- the windows --------------------------------------------------------------------------
now=$(date -u +%s)
t1=$(((now + 25 + 59) / 60 * 60))
t2=$((t1 + 120))
ctl windows create w1 --collection windowed --weekly "daily $(date -u -d "@$t1" +%H:%M)" --duration 1m >/dev/null ||
	fail "window w1"
ctl windows create w2 --collection windowed --weekly "daily $(TZ=Europe/Berlin date -d "@$t2" +%H:%M)" \
	--duration 1m --tz Europe/Berlin >/dev/null || fail "window w2"
expect_eq "$(ctl --json windows list | jq -r '.windows | map(.open_now) | join(",")')" "false,false" "windows open now"
expect_eq "$(ctl --json windows list | jq -r '.windows[1].next_open')" "$(date -u -d "@$t2" +%Y-%m-%dT%H:%M:%SZ)" "w2 opens (Europe/Berlin) at"
ctl rollouts create ra --release 2.0.0 --collection fleet-a --soak 0 >/dev/null || fail "ra"
ctl rollouts create rb --release 2.0.0 --collection fleet-b-wait --soak 0 >/dev/null || fail "rb"
ctl rollouts create rc --release 2.0.0 --collection fleet-b-late --soak 0 --late run-at-next-checkin >/dev/null || fail "rc"
for r in ra rb rc; do ctl rollouts start $r >/dev/null || fail "start $r"; done

# before W1: nobody
sim a before-a --reuse
sim b before-b --reuse
expect_eq "$(($(num before-a upgrades_offered) + $(num before-b upgrades_offered)))" 0 "offers before the first window"
[ "$(date -u +%s)" -lt "$t1" ] || fail "the test was too slow: W1 opened during the first runs"
curl -fsS "$SITE_URL/metrics" | grep -q '^steward_rollout_outside_window_total [1-9]' || fail "no offer counted as put off to a window"
pass "before the first window: no offer to 80 clients"

wait_until() { while [ "$(date -u +%s)" -lt "$1" ]; do sleep 1; done; }
# W1: A upgrades
wait_until $((t1 + 2))
sim a during-w1 --reuse
expect_eq "$(st ra '[.state, .succeeded] | join(" ")')" "completed 40" "ra after W1"
[ "$(date -u +%s)" -lt $((t1 + 60)) ] || fail "the test was too slow: W1 closed during the run"
pass "inside W1: fleet A upgraded"

# between the windows: B was off during W1
wait_until $((t1 + 62))
sim b between --reuse
expect_eq "$(st rb .offered),$(st rb .succeeded)" "0,0" "rb (--late wait) between the windows"
expect_eq "$(st rc '[.state, .succeeded] | join(" ")')" "completed 20" "rc (--late run-at-next-checkin) between the windows"
[ "$(date -u +%s)" -lt "$t2" ] || fail "the test was too slow: W2 opened during the run"
pass "between the windows: the late half waits, the run-at-next-checkin half upgraded"

# W2: the waiting half catches up
wait_until $((t2 + 2))
sim b during-w2 --reuse
expect_eq "$(st rb '[.state, .succeeded] | join(" ")')" "completed 20" "rb after W2"
expect_eq "$(awk '$2 != "2.0.0"' "$T/during-w2.versions" | wc -l)" 0 "clients of B not on 2.0.0"
pass "inside W2 (Europe/Berlin): the clients that missed W1 caught up"

ctl windows delete w1 >/dev/null || fail "delete w1"
if ctl windows delete w1 >"$T/del.out" 2>&1; then fail "w1 deleted twice"; fi
grep -q window_not_found "$T/del.out" || fail "second delete: $(cat "$T/del.out")"
pass "windows deleted"

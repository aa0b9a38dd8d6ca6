#!/usr/bin/env bash
# Mandatory advertisements start only inside a client's maintenance
# windows, with a real site and two real agent daemons on loopback: "win"
# is in a collection with a daily window of 2 minutes that opens 60 to 120
# s from now, "free" is in one without windows. Both get a mandatory
# advertisement due now. free runs at its check-in; win reports
# waiting_for_window and runs nothing until the window opens, then runs
# without another check-in (the agent wakes at the opening: the site's
# check-in interval is the default 23 h). Times are polled with bounded
# waits; nothing asserts an exact second.
. "$(dirname "$0")/lib.sh"

site_start site --enroll_auto_approve true
TOKEN=$(new_token 5)
agent_once win "$TOKEN" || fail "agent win did not enroll"
agent_once free "$TOKEN" || fail "agent free did not enroll"
WIN_ID=$(agent_id win)
FREE_ID=$(agent_id free)
ctl collections create windowed --members "$WIN_ID" >/dev/null || fail "collections create windowed"
ctl collections create unwindowed --members "$FREE_ID" >/dev/null ||
	fail "collections create unwindowed"
pass "two clients in two static collections"

# the package: a script that writes when and for which advertisement it ran
mkdir -p "$T/pkg" "$T/out"
cat >"$T/pkg/run.sh" <<EOF
#!/bin/sh
echo "\$(date +%s) \$STEWARD_ADVERT" >>"$T/out/ran.log"
echo "ran \$STEWARD_ADVERT"
EOF
ctl packages add tool --version 1.0 --source "$T/pkg" >"$T/add.out" ||
	fail "packages add: $(cat "$T/add.out")"
ctl programs add run --package tool@1.0 --command "sh run.sh" --timeout 1m >/dev/null ||
	fail "programs add"

# the window: the first whole minute at least 60 s ahead (so 60 to 119 s)
NOW=$(date -u +%s)
OPEN=$(((NOW + 60 + 59) / 60 * 60))
HHMM=$(date -u -d "@$OPEN" +%H:%M)
ctl windows create nightly --collection windowed --weekly "daily $HHMM" --duration 2m \
	>"$T/win.out" || fail "windows create: $(cat "$T/win.out")"
ctl adverts create held --program run --collection windowed --mandatory now >/dev/null ||
	fail "adverts create held"
ctl adverts create at-once --program run --collection unwindowed --mandatory now >/dev/null ||
	fail "adverts create at-once"
pass "window daily $HHMM UTC for 2m (opens in $((OPEN - NOW)) s); two mandatory advertisements"

# The daemons keep the schedule the enrollment gave them (next check-in in
# about a day): SIGUSR1 makes each check in now, once its handler is set.
start_daemon() {
	local n=$1 pid i
	"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/agent-$n" \
		>>"$T/agent-$n.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	for i in $(seq 1 100); do
		grep -q " agent sleeping " "$T/agent-$n.log" && break
		sleep 0.1
	done
	grep -q " agent sleeping " "$T/agent-$n.log" || fail "agent $n did not start"
	kill -USR1 "$pid"
}
start_daemon win
start_daemon free

ran() { # the advertisement ran
	[ -f "$T/out/ran.log" ] && grep -q " $1\$" "$T/out/ran.log"
}
state_of() { # advertisement, client: its state and detail
	ctl --json status advert "$1" | jq -r --arg id "$2" \
		'.clients[] | select(.id == $id) | "\(.state) \(.detail)"'
}
waiting_for_window() {
	state_of held "$WIN_ID" | grep -q "^waiting waiting_for_window: .*opens at "
}
succeeded() {
	[ "$(state_of "$1" "$2" | cut -d' ' -f1)" = succeeded ]
}

wait_for 30 "the advertisement without a window ran" ran at-once
wait_for 15 "at-once reported succeeded" succeeded at-once "$FREE_ID"
pass "a client without windows runs its mandatory advertisement at once"

wait_for 30 "held reported waiting_for_window" waiting_for_window
detail=$(state_of held "$WIN_ID")
expect_eq "$(echo "$detail" | sed -n 's/.* opens at \([0-9TZ:-]*\).*/\1/p')" \
	"$(date -u -d "@$OPEN" +%Y-%m-%dT%H:%M:%SZ)" "the opening in the waiting detail"
jq -e --argjson o "$OPEN" '.windows[0][0] == $o and .windows[0][1] == $o + 120' \
	"$T/agent-win/swdist/adverts.json" >/dev/null ||
	fail "the agent did not keep the window: $(jq -c .windows "$T/agent-win/swdist/adverts.json")"
pass "the windowed client waits: $detail"

# nothing runs before the window opens
while [ "$(date -u +%s)" -lt $((OPEN - 1)) ]; do
	ran held && fail "held ran at $(date -u +%s), before the window opened at $OPEN"
	sleep 1
done
pass "held did not run before the window opened"

wait_for 60 "held ran inside its window" ran held
AT=$(sed -n 's/^\([0-9]*\) held$/\1/p' "$T/out/ran.log")
[ "$AT" -ge "$OPEN" ] && [ "$AT" -lt $((OPEN + 120)) ] ||
	fail "held ran at $AT, outside the window [$OPEN, $((OPEN + 120)))"
wait_for 15 "held reported succeeded" succeeded held "$WIN_ID"
grep -c " agent checked_in " "$T/agent-win.log" | grep -qx 2 ||
	fail "agent win checked in again instead of waking at the window"
expect_eq "$(grep -c ' at-once$' "$T/out/ran.log")" 1 "runs of at-once"
pass "held ran $((AT - OPEN)) s after the window opened, woken by the agent itself"

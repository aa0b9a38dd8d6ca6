#!/usr/bin/env bash
# steward-launcher on one prefix, as machines run it:
#   - one launcher per prefix: the init system and the logon script
#     (bootstrap.sh) starting it at once, and again after a kill -9 of the
#     one that ran, leave exactly one launcher and one agent;
#   - a trial passes only on a check-in the site acknowledged for the agent
#     this launcher started: a launcher killed -9 during a trial, restarted
#     while the site cannot be reached, does not pass the trial on the
#     stamp the killed agent left; once the site is back, it passes.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")

# 0.x of this build, staged as a release without compiling
V=$(build_version)
stage_release "$T/rk" "$T/out/steward-$V.tar.zst"
# and a newer one, compiled with its version stamped in
NEW=9.1.0
build_release "$NEW" agent

site_start s1 --enroll_auto_approve true --release_key "$PUB" --checkin_interval 60 \
	--checkin_jitter 0
ctl releases import "$T/out/steward-$V.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
tok=$(new_token 5)
P=$T/m1
LAUNCHER=$P/launcher/bin/steward-launcher
AGENT=$P/current/bin/steward-agent

# count EXE: live processes running EXE (their argv[0])
count() {
	local p n=0 exe
	for p in /proc/[0-9]*; do
		exe=$(tr '\0' '\n' 2>/dev/null <"$p/cmdline" | head -n 1) || continue
		[ "$exe" = "$1" ] && n=$((n + 1))
	done
	echo "$n"
}
no_agent() { [ "$(count "$AGENT")" = 0 ]; }
one_each() { [ "$(count "$LAUNCHER")" = 1 ] && [ "$(count "$AGENT")" = 1 ]; }
# settled: exactly one launcher and one agent, and still so 2 s later
settled() {
	wait_for 30 "one launcher and one agent on $P" one_each
	sleep 2
	one_each || fail "$(count "$LAUNCHER") launchers and $(count "$AGENT") agents on $P"
}
boot() {
	rc=0
	curl -fsS "$SITE_URL/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$P" "$@" >>"$T/boot.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] || fail "bootstrap: $(cat "$T/boot.out")"
}
holder() { cat "$P/launcher.pid"; }
# the init system's start of the launcher (what a unit's ExecStart runs)
init_start() {
	"$P/run" >>"$T/init.log" 2>&1 &
	PIDS+=("$!")
}

# ---- one launcher per prefix -------------------------------------------------------------
boot --token "$tok" --no-start
[ -x "$LAUNCHER" ] || fail "no launcher installed"
init_start
boot
settled
PIDS+=("$(holder)")
grep -q "already runs the agent in $P" "$T/init.log" "$P/log/agent.log" 2>/dev/null ||
	grep -q "the agent is running" "$T/boot.out" ||
	fail "neither a refused second launcher nor a running one was reported: $(cat "$T/boot.out")"
# a second launcher by hand: it exits at once with status 75 and says who runs
rc=0
timeout 10 "$LAUNCHER" --prefix "$P" --server "$SITE_URL" >"$T/second.out" 2>&1 || rc=$?
expect_eq "$rc" 75 "exit status of a second launcher"
grep -q "another steward-launcher (pid $(holder)) already runs the agent in $P" "$T/second.out" ||
	fail "second launcher: $(cat "$T/second.out")"
one_each || fail "the second launcher changed what runs"

# a kill -9 of the launcher, then the init system and the logon script at once
kill -KILL "$(holder)"
wait_for 30 "the killed launcher's agent to end" no_agent
init_start
boot
settled
PIDS+=("$(holder)")
kill -0 "$(holder)" || fail "launcher.pid does not name a live launcher"
pass "one launcher per prefix: init system and logon script at once, also after a kill -9, leave one launcher and one agent"

# ---- a trial passes only on this launcher's agent's acknowledged check-in -------------------
ID=$(jq -r .client_id "$P/state/state.json")
ctl releases import "$T/out/steward-$NEW.tar.zst" >"$T/import.out" 2>&1 || fail "import $NEW: $(cat "$T/import.out")"
ctl site client-upgrade --collection "All Clients" >"$T/cu.out" || fail "client-upgrade: $(cat "$T/cu.out")"
kill -USR1 "$(holder)"
# A trial can pass within a second of its start. The agent needs the site
# no more once it has its release: freeze the site then (looking every
# 20 ms), so that the trial's check-in waits and the kill finds the trial
# still running.
ready() { { cat "$T/init.log" "$P/log/agent.log" 2>/dev/null || true; } | grep -q "upgrade_ready version=$NEW"; }
for _ in $(seq 1 6000); do ready && break || sleep 0.02; done
ready || fail "the agent did not get $NEW within 120 s"
kill -STOP "$SITE_PID"
wait_for 30 "the trial of $NEW to start" test -e "$P/launcher.state"
kill -KILL "$(holder)"
wait_for 30 "the killed launcher's agent to end" no_agent
[ -e "$P/launcher.state" ] || fail "the trial ended before the kill"
kill -CONT "$SITE_PID"
site_stop
# The killed trial agent may have stamped a check-in just before the kill;
# stamps have one-second resolution, so one from the second the new launcher
# starts in looks fresh to it. Leave such a stamp (a few seconds ahead, so
# that it is always "fresh" however long the restart takes).
printf '%s %s 0123456789abcdef\n' "$NEW" $(($(date +%s) + 5)) >"$P/state/health"
# what the launcher and its agent log, wherever they were started from,
# from the restart on: the killed launcher's lines are not what is tested
a0=$({ cat "$P/log/agent.log" 2>/dev/null || true; } | wc -l)
i0=$({ cat "$T/init.log" 2>/dev/null || true; } | wc -l)
# the site is down, so it is the init system that starts the launcher again
init_start
logs() {
	tail -n +$((a0 + 1)) "$P/log/agent.log" 2>/dev/null || true
	tail -n +$((i0 + 1)) "$T/init.log" 2>/dev/null || true
}
resumed() { logs | grep -q "trial_resumed version=$NEW"; }
wait_for 20 "the restarted launcher to resume the trial" resumed
sleep 8
! logs | grep -q "upgrade_succeeded version=$NEW" ||
	fail "the trial passed while the site was unreachable: $(logs | grep -E 'upgrade_succeeded|trial_resumed')"
[ -e "$P/launcher.state" ] || fail "the trial record went away while the site was unreachable"
pass "a launcher killed -9 during a trial does not pass it on a stale stamp while the site is unreachable"

site_restart --enroll_auto_approve true --release_key "$PUB" --checkin_interval 60 --checkin_jitter 0
passed() {
	kill -USR1 "$(holder)" 2>/dev/null || true
	logs | grep -q "upgrade_succeeded version=$NEW"
}
wait_for 90 "the trial to pass once the site is back" passed
version() { ctl --json clients show "$ID" | jq -r .agent_version; }
wait_for 30 "the site to see $NEW" test "$(version)" = "$NEW"
expect_eq "$(readlink "$P/current")" slots/B "current after the trial"
[ ! -e "$P/launcher.state" ] || fail "the trial record is still there"
one_each || fail "$(count "$LAUNCHER") launchers and $(count "$AGENT") agents after the trial"
pass "once the site answers, the new agent's acknowledged check-in passes the trial"

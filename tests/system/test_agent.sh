#!/usr/bin/env bash
# steward-agent on its own terms: arguments, state dir, --once, daemon mode
# and signals, corrupt state, the state-dir lock, and re-enrollment when the
# site does not know the saved client id.
. "$(dirname "$0")/lib.sh"

AGENT=$BIN/steward-agent

# ---- arguments: every mistake exits 2 with a message, before any I/O ----
expect_usage() {
	local want=$1
	shift
	local rc=0
	"$AGENT" "$@" >"$T/usage.out" 2>&1 || rc=$?
	expect_eq "$rc" 2 "exit status of: steward-agent $*"
	grep -q -- "$want" "$T/usage.out" || fail "steward-agent $*: no '$want' in: $(cat "$T/usage.out")"
}
expect_usage "--server URL is required" --state-dir "$T/x"
expect_usage "--state-dir DIR is required" --server http://127.0.0.1:1
expect_usage "must start with http:// or https://" --server ftp://h --state-dir "$T/x"
expect_usage "names no host" --server http:// --state-dir "$T/x"
expect_usage "too long" --server "http://$(printf 'a%.0s' $(seq 1 600))" --state-dir "$T/x"
expect_usage "--timeout" --server http://h --state-dir "$T/x" --timeout 0
expect_usage "--log-level" --server http://h --state-dir "$T/x" --log-level loud
expect_usage "unknown option" --server http://h --state-dir "$T/x" --bogus
expect_usage "unexpected argument" --server http://h --state-dir "$T/x" extra
expect_usage "--resume is for the daemon" --server http://h --state-dir "$T/x" --once --resume=3:time
# --resume is steward-agent-idle's: memory that is not the agent's is refused
expect_usage "resume_invalid" --server http://h --state-dir "$T/x" --resume=0:time </dev/null
expect_usage "resume_invalid" --server http://h --state-dir "$T/x" --resume=0:later </dev/null
rc=0
"$BIN/steward-agent-idle" >"$T/usage.out" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit status of steward-agent-idle run by hand"
[ ! -e "$T/x" ] || fail "a refused command line created the state dir"
"$AGENT" --version | grep -Eq '^steward-agent [0-9]+\.[0-9]+\.[0-9]+ \(protocol [0-9]+-[0-9]+\)$' ||
	fail "--version: $("$AGENT" --version)"
"$AGENT" --help | grep -q -- "--enroll-token" || fail "--help lacks --enroll-token"
pass "arguments validated"

# ---- no site: --once fails fast with the error and remedy ----
rc=0
"$AGENT" --server http://127.0.0.1:1 --state-dir "$T/nosite/deep" --once --timeout 20 \
	>"$T/nosite.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status with no site"
grep -q "unreachable" "$T/nosite.out" || fail "no 'unreachable' in: $(cat "$T/nosite.out")"
grep -q "remedy:" "$T/nosite.out" || fail "no remedy in: $(cat "$T/nosite.out")"
expect_eq "$(stat -c %a "$T/nosite/deep")" 700 "state dir mode"
expect_eq "$(stat -c %a "$T/nosite/deep/client.key")" 600 "client.key mode"
expect_eq "$(stat -c %s "$T/nosite/deep/client.key")" 64 "client.key size"
pass "unreachable site reported; state dir 0700, key 0600"

# ---- enroll, session, check-in ----
site_start site --enroll_auto_approve true
TOKEN=$(new_token 5)
A=$T/agent-a
"$AGENT" --server "$SITE_URL/" --state-dir "$A" --enroll-token "$TOKEN" --once \
	>"$T/a1.out" 2>"$T/agent-a.log" || fail "first --once failed: $(tail -n 5 "$T/agent-a.log")"
grep -q "^checked in: client [0-9a-f]\{32\} site T01 state approved" "$T/a1.out" ||
	fail "unexpected --once output: $(cat "$T/a1.out")"
ID=$(jq -r .client_id "$A/state.json")
expect_eq "$(jq -r .site "$A/state.json")" T01 "state.json site"
expect_eq "$(jq -r .state "$A/state.json")" approved "state.json state"
expect_eq "$(jq -r .server "$A/state.json")" "$SITE_URL" "state.json server (trailing / dropped)"
for ev in starting enroll enrolled session_opened checked_in; do
	grep -q " agent $ev " "$T/agent-a.log" || fail "no '$ev' log line"
done
SHOW=$(ctl --json clients show "$ID")
expect_eq "$(echo "$SHOW" | jq -r '.components[0].name')" base "component name"
expect_eq "$(echo "$SHOW" | jq -r .last_seq)" "$(jq -r .last_seq "$A/state.json")" "last_seq site vs agent"
[ "$(echo "$SHOW" | jq -r '.addresses | length')" -ge 1 ] || fail "no addresses reported"
pass "enrolled and checked in as $ID"

# a second run reuses the id and the sequence only grows
SEQ1=$(jq -r .last_seq "$A/state.json")
"$AGENT" --server "$SITE_URL" --state-dir "$A" --once >/dev/null 2>>"$T/agent-a.log" ||
	fail "second --once failed"
expect_eq "$(jq -r .client_id "$A/state.json")" "$ID" "client id after second run"
[ "$(jq -r .last_seq "$A/state.json")" -gt "$SEQ1" ] || fail "last_seq did not grow"
pass "second run reuses the client id"

# ---- corrupt state: clear error naming the file, exit 2 ----
cp "$A/state.json" "$T/state.good"
head -c 40 "$T/state.good" >"$A/state.json"
rc=0
"$AGENT" --server "$SITE_URL" --state-dir "$A" --once >"$T/corrupt.out" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit status with corrupt state.json"
grep -q "$A/state.json" "$T/corrupt.out" || fail "error does not name the file: $(cat "$T/corrupt.out")"
grep -q "remedy: move the file aside" "$T/corrupt.out" || fail "no remedy: $(cat "$T/corrupt.out")"
cp "$T/state.good" "$A/state.json"
pass "corrupt state.json refused with a clear error"

# ---- daemon: a restarted one keeps its schedule ----
"$AGENT" --server "$SITE_URL" --state-dir "$A" >"$T/agent-restart.log" 2>&1 &
DPID=$!
PIDS+=("$DPID")
for i in $(seq 1 100); do
	grep -q " agent sleeping " "$T/agent-restart.log" && break
	sleep 0.1
done
grep -q " agent sleeping seconds=[0-9]\{4,\} " "$T/agent-restart.log" ||
	fail "restarted daemon did not keep the saved schedule: $(cat "$T/agent-restart.log")"
grep -q " agent checked_in " "$T/agent-restart.log" && fail "restarted daemon checked in early"
kill -TERM "$DPID"
wait "$DPID" || fail "daemon exit status after SIGTERM"
pass "restarted daemon sleeps until the saved next check-in"

# ---- daemon: a new one enrolls and checks in, holds the lock, stops on SIGTERM ----
B=$T/agent-b
"$AGENT" --server "$SITE_URL" --state-dir "$B" --enroll-token "$TOKEN" >"$T/agent-daemon.log" 2>&1 &
DPID=$!
PIDS+=("$DPID")
for i in $(seq 1 100); do
	grep -q " agent sleeping " "$T/agent-daemon.log" && break
	sleep 0.1
done
grep -q " agent checked_in " "$T/agent-daemon.log" || fail "daemon did not check in"
rc=0
"$AGENT" --server "$SITE_URL" --state-dir "$B" --once >"$T/busy.out" 2>&1 || rc=$?
expect_eq "$rc" 2 "second agent on the same state dir"
grep -q state_dir_busy "$T/busy.out" || fail "no state_dir_busy: $(cat "$T/busy.out")"
# between cycles it is steward-agent-idle (same PID, the lock kept), small;
# poked, it is the agent again, with the session it had
idle() { case $(readlink "/proc/$DPID/exe") in */steward-agent-idle) ;; *) return 1 ;; esac; }
wait_for 10 "the daemon waiting as steward-agent-idle" idle
rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$DPID/status")
# (a sanitizer's runtime alone is more than that; no "ldd | grep -q" here:
# with pipefail, grep leaving early fails the pipe)
case $(ldd "$BIN/steward-agent-idle" 2>/dev/null) in
*libasan*) ;;
*) [ "$rss" -lt 5120 ] || fail "the daemon between cycles holds $rss kB (more than 5 MB)" ;;
esac
rc=0
"$AGENT" --server "$SITE_URL" --state-dir "$B" --once >"$T/busy.out" 2>&1 || rc=$?
expect_eq "$rc" 2 "second agent on the state dir of an idle one"
kill -USR1 "$DPID"
checkins() { grep -c " agent checked_in " "$T/agent-daemon.log" || true; }
wait_for 30 "a check-in after SIGUSR1" eval '[ "$(checkins)" -ge 2 ]'
expect_eq "$(grep -c " agent session_opened " "$T/agent-daemon.log")" 1 \
	"sessions opened (kept across steward-agent-idle)"
wait_for 10 "the daemon idle again" idle
pass "between cycles the daemon is steward-agent-idle ($rss kB), keeps its lock and its session"
kill -TERM "$DPID"
for i in $(seq 1 30); do
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$DPID" 2>/dev/null && fail "daemon still running 3 s after SIGTERM"
rc=0
wait "$DPID" || rc=$?
expect_eq "$rc" 0 "daemon exit status after SIGTERM"
grep -q " agent stopping " "$T/agent-daemon.log" || fail "no stopping log line"
[ "$(jq -r .next_checkin "$B/state.json")" -gt "$(date +%s)" ] || fail "next_checkin not saved"
pass "daemon checks in, locks its state dir and stops on SIGTERM"

# ---- the site does not know the saved id: re-enroll with the same key ----
jq '.client_id = "00000000000000000000000000000001"' "$T/state.good" >"$A/state.json"
"$AGENT" --server "$SITE_URL" --state-dir "$A" --once --timeout 90 >/dev/null 2>"$T/agent-re.log" ||
	fail "re-enrollment failed: $(tail -n 5 "$T/agent-re.log")"
grep -q " agent reenroll " "$T/agent-re.log" || fail "no reenroll log line"
expect_eq "$(jq -r .client_id "$A/state.json")" "$ID" "client id after re-enrollment (same key)"
pass "unknown client id re-enrolled and got its own id back"

#!/usr/bin/env bash
# steward-sim --replay-out writes check-ins that wrk sends unchanged
# (bench/checkin/replay.lua): every one is accepted once, in order, and
# every client's last accepted sequence number is the last one written;
# the same files sent again are all refused (replayed_sequence). Also with
# status messages and with a changed component in every check-in.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

command -v jq >/dev/null || fail "jq missing (scripts/deps.sh installs it)"
command -v wrk >/dev/null || fail "wrk missing (scripts/deps.sh installs it)"
SIM=$BIN/steward-sim
LUA=$SRC/bench/checkin/replay.lua
N=100
K=3000

"$SIM" --server http://127.0.0.1:1 --clients 1 --replay-out "$T/x" --replay-requests 1 \
	--replay-status 65 >/dev/null 2>&1 && fail "--replay-status 65 accepted"
"$SIM" --server http://127.0.0.1:1 --clients 1 --replay-status 1 --duration 1s \
	>/dev/null 2>&1 && fail "--replay-status without --replay-out accepted"
pass "replay options checked"

site_start s1 --enroll_auto_approve true

# replay NAME COUNT [sim args...]: steward-sim writes COUNT check-ins to
# $T/NAME.0 and .1
replay() {
	local name=$1 count=$2
	shift 2
	"$SIM" --server "$SITE_URL" --token-file "$ADMIN" --clients $N --concurrency 16 --quiet \
		--state "$T/fleet.state" --replay-out "$T/$name" --replay-requests "$count" "$@" \
		>"$T/$name.out" 2>"$T/$name.log" || fail "steward-sim $name: $(tail -n 5 "$T/$name.log")"
}
# send NAME: wrk sends the files; prints "ANSWERED NON2XX SENT EXHAUSTED".
# wrk runs for the whole -d: long enough for every file at the rate of a
# busy machine (a check-in waits for PostgreSQL's commit, a round trip more)
SEND_FOR=3s
on_postgresql && SEND_FOR=10s
send() {
	wrk -t 2 -c 8 -d "$SEND_FOR" -s "$LUA" "$SITE_URL" -- "$T/$1" >"$T/$1.wrk" 2>&1 ||
		fail "wrk $1: $(tail -n 5 "$T/$1.wrk")"
	awk '/ requests in / { n = $1 } /Non-2xx or 3xx responses:/ { bad = $NF }
	     /replay_sent=/ { split($1, a, "="); split($2, b, "="); s = a[2]; x = b[2] }
	     END { print n + 0, bad + 0, s + 0, x + 0 }' "$T/$1.wrk"
}
# seqs_match: every client's last_seq at the site is the one the state file saved
seqs_match() {
	ctl --json clients list >"$T/clients.json" 2>/dev/null || return 1
	jq -r '.[] | "\(.id) \(.last_seq)"' "$T/clients.json" | sort >"$T/site.seqs"
	awk '!/^#/ { print $1, $3 }' "$T/fleet.state" | sort >"$T/state.seqs"
	cmp -s "$T/site.seqs" "$T/state.seqs"
}

replay steady $K
expect_eq "$(cut -d' ' -f1-3 "$T/steady.out")" "replay_requests=$K clients=$N threads=2" "summary"
read -r answered bad sent exhausted < <(send steady)
expect_eq "$bad" 0 "refused check-ins ($(cat "$T/steady.wrk"))"
expect_eq "$exhausted" 2 "threads that sent their whole file"
# all handed to wrk (it never sends the first one it asks thread 0 for: it
# only checks its shape)
expect_eq "$sent" "$K" "check-ins handed to wrk"
[ "$answered" -gt $((K / 2)) ] || fail "only $answered answered"
wait_for 10 "every client's last sequence number at the site" seqs_match
pass "$K replayed check-ins of $N clients accepted in order ($answered answers read)"

read -r answered bad sent exhausted < <(send steady)
[ "$answered" -gt 0 ] || fail "nothing answered on the second send"
expect_eq "$bad" "$answered" "check-ins accepted twice ($(cat "$T/steady.wrk"))"
pass "the same files sent again: all $answered answers refused"

# 64 status messages make a check-in far slower: fewer, so that wrk sends
# them all within its 3 s
replay status 400 --reuse --replay-status 64
grep -q " status=64 " "$T/status.out" || fail "status summary: $(cat "$T/status.out")"
read -r answered bad sent exhausted < <(send status)
expect_eq "$bad" 0 "refused check-ins with 64 status messages ($(cat "$T/status.wrk"))"
expect_eq "$exhausted" 2 "threads that sent their whole status file"
wait_for 10 "sequence numbers after the status run" seqs_match
pass "check-ins with 64 status messages each accepted"

# 31 check-ins per client: the first and every other one after it report
# the inventory component at 0.0.1, the others at the agent's version
replay changed $((K + N)) --reuse --replay-changed
grep -q " bodies=2 " "$T/changed.out" || fail "changed summary: $(cat "$T/changed.out")"
read -r answered bad sent exhausted < <(send changed)
expect_eq "$bad" 0 "refused check-ins with a changed component ($(cat "$T/changed.wrk"))"
expect_eq "$exhausted" 2 "threads that sent their whole changed file"
wait_for 10 "sequence numbers after the changed run" seqs_match
v=$(jq -r '[.[] | .components[] | select(.name == "inventory") | .version] | unique | join(" ")' \
	"$T/clients.json")
expect_eq "$v" 0.0.1 "inventory versions at the site after the changed run"
pass "check-ins with a changed component accepted, the last change stored"

#!/usr/bin/env bash
# steward-sim --cycle D: in the measured phase each client checks in once
# per D (clients / D requests per second, round-robin), and the summary
# says what was offered and how many never started. Without --cycle the
# clients check in as fast as the concurrency allows.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

SIM=$BIN/steward-sim
N=300

"$SIM" --plain-url http://127.0.0.1:1/ --duration 1s --cycle 5s >/dev/null 2>&1 &&
	fail "--cycle with --plain-url accepted"
"$SIM" --server http://127.0.0.1:1 --clients 1 --duration 1s --cycle 0s >/dev/null 2>&1 &&
	fail "--cycle 0s accepted"
"$SIM" --server http://127.0.0.1:1 --clients 1 --duration 1s --cycle 25h >/dev/null 2>&1 &&
	fail "--cycle 25h accepted"
"$SIM" --help | grep -q -- '--cycle D' || fail "--help does not show --cycle"
pass "cycle options checked"

site_start s1 --enroll_auto_approve true

# field NAME LINE
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | sed 's#/s$##'; }

# one cycle of 4 s: every client once, 75/s offered
out=$("$SIM" --server "$SITE_URL" --token-file "$ADMIN" --clients $N --concurrency 16 --quiet \
	--state "$T/fleet.state" --cycle 4s --duration 4s) || fail "steward-sim --cycle: $out"
expect_eq "$(field offered "$out")" "75.0" "offered rate ($out)"
expect_eq "$(field errors "$out")" 0 "errors ($out)"
n=$(field checkins "$out")
behind=$(field behind "$out")
# the schedule offers N by the end; the last few may still have been in flight
[ "$n" -ge $((N - 20)) ] && [ "$n" -le "$N" ] || fail "$n check-ins in one cycle of $N clients ($out)"
[ "$behind" -le 20 ] || fail "$behind check-ins never started ($out)"
pass "one 4 s cycle: $n check-ins of $N clients, $behind behind"

# two cycles: every client twice, no more
out=$("$SIM" --server "$SITE_URL" --token-file "$ADMIN" --clients $N --concurrency 16 --quiet \
	--state "$T/fleet.state" --reuse --cycle 2s --duration 4s) || fail "steward-sim --cycle: $out"
n=$(field checkins "$out")
[ "$n" -ge $((2 * N - 40)) ] && [ "$n" -le $((2 * N)) ] ||
	fail "$n check-ins in two cycles of $N clients ($out)"
pass "two 2 s cycles: $n check-ins of $N clients"

# without --cycle: flat out, far more than one per client in 2 s, and no
# offered= in the summary
out=$("$SIM" --server "$SITE_URL" --token-file "$ADMIN" --clients $N --concurrency 16 --quiet \
	--state "$T/fleet.state" --reuse --duration 2s) || fail "steward-sim: $out"
case $out in *" offered="*) fail "offered= without --cycle: $out" ;; esac
[ "$(field checkins "$out")" -gt "$N" ] || fail "flat out made only $(field checkins "$out") check-ins"
pass "without --cycle the clients check in flat out"

# a setup that runs out of time: the 300 clients of the state file have
# their sessions within a second, the 10,000 new ones are still enrolling
# at 2 s. The cycle is for the clients with a session and starts with
# their check-ins (it used to start with the clients still to be set up,
# and made no check-in at all).
out=$("$SIM" --server "$SITE_URL" --token-file "$ADMIN" --clients $((N + 10000)) --concurrency 16 \
	--quiet --state "$T/fleet.state" --reuse --setup-timeout 2s --cycle 3s --duration 3s) ||
	fail "steward-sim --setup-timeout 2s: $out"
offered=$(field offered "$out")
n=$(field checkins "$out")
ready=$(awk -v o="$offered" 'BEGIN { printf "%.0f", o * 3 }')
[ "$ready" -ge $N ] && [ "$ready" -lt $((N + 10000)) ] ||
	fail "$ready clients in the cycle after a 2 s setup ($out)"
[ "$n" -ge $((ready * 8 / 10)) ] && [ "$n" -le "$ready" ] ||
	fail "$n check-ins in one cycle of the $ready clients ready ($out)"
pass "a setup cut short: $n check-ins in one cycle of the $ready clients with a session"

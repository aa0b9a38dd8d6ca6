#!/usr/bin/env bash
# A rollout across 10,000 steward-sim clients (time scaled: they check in
# back to back), CTest label "fleet":
#  1. 1.0.0 -> 2.0.0 in waves 1%,10%,50%,100% (gate 95%, no soak): each wave
#     starts only after the one before passed its gate; the rollout completes
#     and every client runs 2.0.0.
#  2. 2.0.0 -> 3.0.0 with --halt-at 5 --auto-rollback: the 1% wave passes;
#     in the 10% wave a fifth of the switches fail; the rollout halts by
#     itself at that wave (no client of a later wave is offered anything),
#     status says why, and the clients that took 3.0.0 go back to 2.0.0
#     (those that failed went back by themselves): every client ends on 2.0.0.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

N=${ROLLOUT_FLEET_CLIENTS:-10000}
SIM=$BIN/steward-sim
CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")

# releases 2.0.0 (from 1.0.0) and 3.0.0 (from 2.0.0), their agent a few
# bytes (the sim downloads it and never runs it)
stage_release_as "$T/rk" 2.0.0 1.0.0 "$T/r-2.0.0.tar.zst" tiny
stage_release_as "$T/rk" 3.0.0 2.0.0 "$T/r-3.0.0.tar.zst" tiny

# plain HTTP: the rollout is what is tested here (test_tls covers HTTPS)
site_start s1 --tls false --enroll_auto_approve true --release_key "$PUB" --release_halt_failures 0 \
	--rollout_offers_per_minute 0 --rollout_dp_offers_per_minute 0
for v in 2.0.0 3.0.0; do
	ctl releases import "$T/r-$v.tar.zst" >"$T/import-$v.out" 2>&1 || fail "import $v: $(cat "$T/import-$v.out")"
done

sim() { # OUT DURATION [args...]
	local out=$1 d=$2
	shift 2
	"$SIM" --server "$SITE_URL" --token-file "$ADMIN" --clients "$N" --concurrency 48 \
		--timeout 10s --setup-timeout 240s --state "$T/fleet.state" --json --quiet \
		--duration "$d" --versions-out "$T/$out.versions" "$@" \
		>"$T/$out.json" 2>"$T/$out.log" || fail "steward-sim $out: $(tail -n 5 "$T/$out.log")"
}
status() { ctl --json rollouts status "$1"; }
# the fleet checking in, in the background, until sim_stop
sim_bg() { # OUT [args...]
	local out=$1
	shift
	"$SIM" --server "$SITE_URL" --token-file "$ADMIN" --clients "$N" --concurrency 48 \
		--timeout 10s --setup-timeout 240s --state "$T/fleet.state" --json --quiet \
		--duration 480s --versions-out "$T/$out.versions" --reuse "$@" \
		>"$T/sim-$out.json" 2>"$T/$out.log" &
	SIM_PID=$!
	PIDS+=("$SIM_PID")
	SIM_OUT=$out
}
sim_stop() {
	kill -TERM "$SIM_PID" 2>/dev/null || true
	wait "$SIM_PID" || fail "steward-sim $SIM_OUT: $(tail -n 5 "$T/$SIM_OUT.log")"
}
# poll the rollout until jq condition COND holds on its status (bounded)
until_status() { # NAME SECONDS COND
	local i
	for i in $(seq 1 "$2"); do
		status "$1" >"$T/$1.json"
		jq -e "$3" "$T/$1.json" >/dev/null && return 0
		kill -0 "$SIM_PID" 2>/dev/null || fail "steward-sim ended early: $(tail -n 5 "$T/$SIM_OUT.log")"
		sleep 1
	done
	fail "rollout $1: '$3' not within $2 s: $(ctl rollouts status "$1")"
}
sim enroll 2s --agent-version 1.0.0
pass "$N clients enrolled at agent 1.0.0 ($(jq -r .checkins "$T/enroll.json") check-ins)"

# ---- 1. the whole fleet, wave by wave ----------------------------------------------------------
ctl rollouts create up2 --release 2.0.0 --collection "All Clients" --waves 1%,10%,50%,100% \
	--gate 95 --soak 0 --halt-at 5 >/dev/null || fail "create up2"
ctl rollouts start up2 >/dev/null || fail "start up2"
expect_eq "$(status up2 | jq -r '.waves | map(.clients) | join(",")')" "100,900,4000,5000" "clients per wave"
# no wave runs ahead of the one before it: a later wave has had no offer
ahead='[.wave as $w | .waves[] | select(.wave > $w) | .offered + .succeeded + .failed] | add // 0'
sim_bg up2
for i in $(seq 1 200); do
	status up2 >"$T/up2.json"
	expect_eq "$(jq -r "$ahead" "$T/up2.json")" 0 "offers in waves after wave $(jq -r .wave "$T/up2.json")"
	[ "$(jq -r '[.state, .succeeded] | join(" ")' "$T/up2.json")" = "completed $N" ] && break
	kill -0 "$SIM_PID" 2>/dev/null || fail "steward-sim ended early: $(tail -n 5 "$T/up2.log")"
	sleep 1
done
sim_stop
expect_eq "$(jq -r '[.state, .succeeded, .failed] | join(" ")' "$T/up2.json")" "completed $N 0" "up2 at the end"
expect_eq "$(awk '$2 != "2.0.0"' "$T/up2.versions" | wc -l)" 0 "clients not on 2.0.0"
grep -o 'wave_started rollout=up2 wave=[0-9]' "$T/s1.log" | awk -F= '{print $3}' | paste -sd, >"$T/waves"
expect_eq "$(cat "$T/waves")" "2,3,4" "the waves in the order they started"
pass "up2: 1% -> 10% -> 50% -> 100%, each after its gate; all $N clients on 2.0.0 in ${i} s"

# ---- 2. a fifth fail in the second wave: halt, and back to 2.0.0 ---------------------------------
# going back needs the release key's word
AUTH=$("$CTL" releases rollback-sign --key "$T/rk" --version 2.0.0 --valid-for 1d) || fail "rollback-sign"
ctl releases import "$T/r-2.0.0.tar.zst" --rollback --authorization "$AUTH" >"$T/auth.out" 2>&1 ||
	fail "import --rollback 2.0.0: $(cat "$T/auth.out")"
# a soak of 5 s: the first wave's clients take 3.0.0 without failures, the
# sim stops while that wave soaks, and the one that fails a fifth of its
# switches checks in when the second wave starts
ctl rollouts create up3 --release 3.0.0 --collection "All Clients" --waves 1%,10%,50%,100% \
	--gate 95 --soak 5s --halt-at 5 --auto-rollback >/dev/null || fail "create up3"
ctl rollouts start up3 >/dev/null || fail "start up3"
sim_bg up3-a
until_status up3 120 '.waves[0].state == "soaking"'
sim_stop
# the soak begins at the gate (95 of the wave's 100), so a few of the
# first wave may still be on their way when the sim stops; on a slow
# machine the soak may end before this look, and with no client checking
# in the second wave has offered nothing yet
status up3 >"$T/up3-a.json"
jq -e '.state == "running" and (.wave == 1 or .wave == 2) and .waves[0].succeeded >= 95 and .waves[0].failed == 0 and
	.waves[1].offered + .waves[1].succeeded == 0' "$T/up3-a.json" >/dev/null ||
	fail "up3 after its first wave: $(jq -c '[.state, .wave, .waves[0,1]]' "$T/up3-a.json")"
sim_bg up3-b --upgrade-fail-rate 20 --upgrade-fail-release 3.0.0
until_status up3 180 '.state == "rolled_back"'
sim_stop
status up3 >"$T/up3.json"
ctl rollouts status up3 >"$T/up3.txt"
expect_eq "$(jq -r .state "$T/up3.json")" rolled_back "up3 at the end ($(cat "$T/up3.txt"))"
grep -q "^halted:  (wave 2 (10%): .* clients failed" "$T/up3.txt" || fail "status does not say where it halted: $(cat "$T/up3.txt")"
grep -q "simulated failure" "$T/up3.txt" || fail "status has no failure reason: $(cat "$T/up3.txt")"
jq -e '.waves[1].failed * 100 > 5 * .waves[1].clients' "$T/up3.json" >/dev/null || fail "wave 2 failed too little to halt: $(jq -c '.waves[1]' "$T/up3.json")"
jq -e '[.waves[2,3] | .offered + .succeeded + .failed + .rollback_offered + .rolled_back] | add == 0' "$T/up3.json" >/dev/null ||
	fail "a client of wave 3 or 4 was touched: $(jq -c .waves "$T/up3.json")"
jq -e '.by_version | map(select(.from == "3.0.0" and .to == "2.0.0"))[0].rolled_back >= 100' "$T/up3.json" >/dev/null ||
	fail "no rollbacks by version pair: $(jq -c .by_version "$T/up3.json")"
expect_eq "$(awk '$2 != "2.0.0"' "$T/up3-b.versions" | wc -l)" 0 "clients not back on 2.0.0"
pass "up3: halted in wave 2 at $(jq -r '.waves[1].failed' "$T/up3.json") failures; $(jq -r .rolled_back "$T/up3.json") clients rolled back; all on 2.0.0"

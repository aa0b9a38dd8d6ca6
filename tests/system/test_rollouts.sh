#!/usr/bin/env bash
# Staged rollouts with steward-sim clients (time scaled: they check in back
# to back). A fleet at agent 1.0.0, releases 1.5.0 (upgrades from 1.0.0) and
# 2.0.0 (upgrades from 1.5.0 only):
#  - a rollout of 2.0.0 with a pilot and waves 10%,50%,100% goes wave by wave
#    (gate 90%, no soak) and completes; every client reaches 2.0.0 through
#    1.5.0, one hop per cycle, without an administrator;
#  - excluded clients get no offer and ask for no content;
#  - waves are drawn in a stable order: the same clients, run after run;
#  - bad input: a missing release or collection, waves that do not end at
#    100% or do not increase, a gate over 100 are refused naming the field.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

N=${ROLLOUT_CLIENTS:-400}
SIM=$BIN/steward-sim
CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")

# release V (agent V), upgrading agents from FROM on, imported
release_as() { # V FROM
	stage_release_as "$T/rk" "$1" "$2" "$T/r-$1.tar.zst"
	ctl releases import "$T/r-$1.tar.zst" >"$T/import-$1.out" 2>&1 || fail "import $1: $(cat "$T/import-$1.out")"
}

site_start s1 --enroll_auto_approve true --release_key "$PUB" --release_halt_failures 0 \
	--rollout_offers_per_minute 600000 --rollout_dp_offers_per_minute 600000
release_as 1.5.0 1.0.0
release_as 2.0.0 1.5.0

sim() { # OUT DURATION [args...]
	local out=$1 d=$2
	shift 2
	"$SIM" --server "$SITE_URL" --token-file "$ADMIN" --clients "$N" --concurrency 32 \
		--timeout 5s --setup-timeout 120s --state "$T/fleet.state" --json --quiet \
		--duration "$d" --versions-out "$T/$out.versions" "$@" \
		>"$T/$out.json" 2>"$T/$out.log" || fail "steward-sim $out: $(tail -n 5 "$T/$out.log")"
}
num() { jq -r ".$2" "$T/$1.json"; }

# ---- the fleet ---------------------------------------------------------------------------
sim enroll 2s --agent-version 1.0.0
expect_eq "$(num enroll upgrades_offered)" 0 "offers before any rollout"
ctl --json clients list | jq -r '.[].id' | sort >"$T/ids"
expect_eq "$(wc -l <"$T/ids")" "$N" "clients enrolled"
head -n 4 "$T/ids" | paste -sd, >"$T/pilot-ids"
sed -n '5,14p' "$T/ids" | paste -sd, >"$T/excluded-ids"
ctl collections create pilots --members "$(cat "$T/pilot-ids")" >/dev/null || fail "pilots"
ctl collections create frozen --members "$(cat "$T/excluded-ids")" >/dev/null || fail "frozen"
pass "$N clients at agent 1.0.0; releases 1.5.0 (from 1.0.0) and 2.0.0 (from 1.5.0)"

# ---- bad input ------------------------------------------------------------------------------
refused() { # WHAT EXPECTED-TEXT ARGS...
	local what=$1 text=$2
	shift 2
	if ctl rollouts create bad "$@" >"$T/bad.out" 2>&1; then fail "$what accepted"; fi
	grep -q -- "$text" "$T/bad.out" || fail "$what: no '$text' in: $(cat "$T/bad.out")"
}
refused "a missing release" "field 'release'" --release 9.9.9 --collection "All Clients"
refused "a missing collection" "field 'collection'" --release 2.0.0 --collection nosuch
refused "a missing pilot" "field 'pilot'" --release 2.0.0 --collection "All Clients" --pilot nosuch
refused "waves not ending at 100%" "field 'waves'" --release 2.0.0 --collection "All Clients" --waves 1%,10%,50%
refused "waves that do not increase" "waves must increase" --release 2.0.0 --collection "All Clients" --waves 10%,5%,100%
refused "a wave over 100%" "field 'waves'" --release 2.0.0 --collection "All Clients" --waves 10%,150%
refused "a gate over 100" "field 'gate'" --release 2.0.0 --collection "All Clients" --gate 101
refused "a halt-at over 100" "field 'halt_at'" --release 2.0.0 --collection "All Clients" --halt-at 200
refused "a gate that is no number" "--gate" --release 2.0.0 --collection "All Clients" --gate lots
refused "a late policy of its own" "field 'late'" --release 2.0.0 --collection "All Clients" --late never
expect_eq "$(ctl --json rollouts list | jq '.rollouts | length')" 0 "rollouts after the refusals"
pass "bad rollouts refused, each naming its field"

# ---- the rollout ------------------------------------------------------------------------------
ctl rollouts create r1 --release 2.0.0 --collection "All Clients" --pilot pilots --exclude frozen \
	--waves 10%,50%,100% --gate 90 --soak 0 --halt-at 5 >"$T/create.out" || fail "create: $(cat "$T/create.out")"
grep -q "state:   created" "$T/create.out" || fail "create output: $(cat "$T/create.out")"
# created, not started: nothing is offered
sim idle 2s --reuse
expect_eq "$(num idle upgrades_offered)" 0 "offers of a rollout not started"
ctl rollouts start r1 >"$T/start.out" || fail "start: $(cat "$T/start.out")"
ctl --json rollouts status r1 >"$T/st0.json"
expect_eq "$(jq -r .state "$T/st0.json")" running "state after start"
expect_eq "$(jq -r '.waves | map(.clients) | join(",")' "$T/st0.json")" \
	"4,$(((N - 14 + 9) / 10)),$(( (N - 14) / 2 - (N - 14 + 9) / 10 )),$(( N - 14 - (N - 14) / 2 ))" \
	"clients per wave (pilot, 10%, 50%, 100% of the rest, excluded left out)"
expect_eq "$(jq -r .clients "$T/st0.json")" $((N - 10)) "clients in the rollout"
pass "rollout r1 started: waves $(jq -r '.waves | map(.clients) | join(",")' "$T/st0.json")"

# On PostgreSQL the site hears r1 announced a hundred times a second while
# the waves run (as beside busy management points), so that its re-reads
# of the members overlap its own writes of them: a re-read must not put a
# row older than what the site knows over it (a success read back as an
# offer was counted twice in the version pairs below). Bounded: 9000
# announcements, 10 ms apart, stopped when the waves are done.
STORM=""
if on_postgresql; then
	for _ in $(seq 1 9000); do
		echo "SELECT pg_notify('steward_changes', 'rollout:r1'); SELECT pg_sleep(0.01);"
	done | "$PSQL" -X -q "${SITE_DB[$SITE_DIR]}" >/dev/null 2>&1 &
	STORM=$!
	CLEANUPS+=("kill $STORM 2>/dev/null")
fi
# the waves run while the sim checks in; each gate passes in turn (a few
# runs do it; the bound leaves room for a slow machine: the sanitizer
# build on PostgreSQL needed more than 12). Completed means every wave
# passed its gate (90%): the last stragglers take it at their next check-in.
for i in $(seq 1 30); do
	sim run$i 3s --reuse
	st=$(ctl --json rollouts status r1 | jq -r '.state + " " + (.succeeded | tostring)')
	[ "$st" = "completed $((N - 10))" ] && break
done
[ -z "$STORM" ] || kill "$STORM" 2>/dev/null || true
if [ -n "$STORM" ]; then
	# each announcement reads only the members written since the last
	# read: before, every one read all of r1's, refreshes x members rows
	curl -fsS "$SITE_URL/metrics" >"$T/storm.metrics"
	refreshes=$(awk '$1 == "steward_rollout_refreshes_total" {print $2}' "$T/storm.metrics")
	read_rows=$(awk '$1 == "steward_rollout_members_read_total" {print $2}' "$T/storm.metrics")
	[ "${refreshes:-0}" -ge 100 ] || fail "the site read r1 again only ${refreshes:-no} times under the storm"
	[ "$read_rows" -lt $((refreshes * (N - 10) / 20)) ] ||
		fail "$refreshes reads of r1 returned $read_rows members: more than what changed"
	pass "$refreshes announcements of r1 read $read_rows member rows ($((N - 10)) members)"
fi
ctl --json rollouts status r1 >"$T/st1.json"
expect_eq "$(jq -r .state "$T/st1.json")" completed "state at the end ($(ctl rollouts status r1))"
expect_eq "$(jq -r .succeeded "$T/st1.json")" $((N - 10)) "clients that reached 2.0.0"
ctl rollouts status r1 >"$T/st1.txt"
grep -q "^2 .*10%.*passed" "$T/st1.txt" || fail "status shows no passed 10% wave: $(cat "$T/st1.txt")"
# the path: every client went 1.0.0 -> 1.5.0 -> 2.0.0
jq -e --arg n $((N - 10)) '.by_version | map(select(.from == "1.0.0" and .to == "1.5.0"))[0].succeeded == ($n|tonumber)' "$T/st1.json" >/dev/null ||
	fail "1.0.0 -> 1.5.0 pairs: $(jq -c .by_version "$T/st1.json")"
jq -e --arg n $((N - 10)) '.by_version | map(select(.from == "1.5.0" and .to == "2.0.0"))[0].succeeded == ($n|tonumber)' "$T/st1.json" >/dev/null ||
	fail "1.5.0 -> 2.0.0 pairs: $(jq -c .by_version "$T/st1.json")"
pass "r1 completed: $((N - 10)) clients went 1.0.0 -> 1.5.0 -> 2.0.0 by themselves"

# excluded clients: untouched, no request for content
last=$(ls -t "$T"/run*.versions | head -n 1)
tr ',' '\n' <"$T/excluded-ids" | while read -r id; do
	v=$(awk -v id="$id" '$1 == id {print $2}' "$last")
	[ "$v" = 1.0.0 ] || fail "excluded client $id runs $v"
done
# the site logs every download with the client its content token names
grep -c "download.*client=[0-9a-f]" "$T/s1.log" >"$T/all-content" || true
[ "$(cat "$T/all-content")" -ge $((2 * (N - 10))) ] || fail "downloads logged: $(cat "$T/all-content")"
grep -E -c "download.*client=($(tr ',' '|' <"$T/excluded-ids"))" "$T/s1.log" >"$T/excl-content" || true
expect_eq "$(cat "$T/excl-content")" 0 "content requests of excluded clients (site log)"
expect_eq "$(ctl --json rollouts status r1 | jq -r .offered)" 0 "clients left with an offer"
pass "the 10 excluded clients still run 1.0.0 and asked for no content"

# metrics by version pair
curl -fsS "$SITE_URL/metrics" >"$T/metrics"
grep -q "steward_rollout_upgrades_total{rollout=\"r1\",from=\"1.5.0\",to=\"2.0.0\",outcome=\"succeeded\"} $((N - 10))" "$T/metrics" ||
	fail "metrics: $(grep rollout "$T/metrics")"
pass "/metrics counts the upgrades by version pair"

# the readiness check lists the rollouts: one of another release moving
# clients fails it
ctl rollouts create back --release 1.5.0 --collection frozen --soak 0 >/dev/null || fail "create back"
ctl rollouts start back >/dev/null || fail "start back"
if ctl --json upgrade check --to 2.0.0 >"$T/check.json" 2>"$T/check.err"; then fail "upgrade check passed with a rollout moving clients"; fi
jq -e '.items[] | select(.id == "rollouts") | .result == "fail" and (.facts | map(select(test("rollout back \\(running\\) moves clients of .frozen. to 1.5.0"))) | length == 1)' "$T/check.json" >/dev/null ||
	fail "upgrade check: $(jq -c '.items[] | select(.id == "rollouts")' "$T/check.json")"
ctl rollouts pause back >/dev/null || fail "pause back"
jq -e '.items[] | select(.id == "rollouts")' <(ctl --json upgrade check --to 2.0.0 2>/dev/null) | jq -e '.result == "warn"' >/dev/null ||
	fail "upgrade check with the rollout paused: $(ctl upgrade check --to 2.0.0 2>&1 | tail -n 20)"
ctl rollouts abort back >/dev/null && ctl rollouts delete back >/dev/null || fail "abort and delete back"
pass "upgrade check fails on a rollout of another release moving clients, warns once it is paused"

# ---- a scheduled start, pause, resume, promote --------------------------------------------
ctl rollouts create sched --release 2.0.0 --collection frozen --waves 50%,100% --gate 100 --soak 1h \
	--start +3s >/dev/null || fail "create sched"
ctl rollouts start sched >/dev/null || fail "start sched"
expect_eq "$(ctl --json rollouts status sched | jq -r .state)" scheduled "sched before its --start"
sched_running() { [ "$(ctl --json rollouts status sched | jq -r .state)" = running ]; }
wait_for 10 "sched starting at its --start time" sched_running
ctl rollouts pause sched >/dev/null || fail "pause sched"
sim paused 2s --reuse
expect_eq "$(num paused upgrades_offered)" 0 "offers of a paused rollout"
ctl rollouts resume sched >/dev/null || fail "resume sched"
sim resumed 3s --reuse
ctl --json rollouts status sched >"$T/sched.json"
expect_eq "$(jq -r '[.wave, .waves[0].state, .waves[0].succeeded, .waves[1].succeeded] | join(" ")' "$T/sched.json")" \
	"1 soaking 5 0" "sched: wave 1 done and soaking (1h), wave 2 untouched"
ctl rollouts promote sched >/dev/null || fail "promote sched"
sim promoted 3s --reuse
expect_eq "$(ctl --json rollouts status sched | jq -r '[.state, .wave, .succeeded] | join(" ")')" "running 2 10" "sched after promote"
ctl rollouts promote sched >/dev/null || fail "promote sched again"
expect_eq "$(ctl --json rollouts status sched | jq -r .state)" completed "sched after the last promote"
ctl rollouts abort sched >/dev/null && ctl rollouts delete sched >/dev/null || fail "abort and delete sched"
pass "a rollout starts at its --start time, pauses, resumes, soaks, and is promoted wave by wave"

# ---- stable order: rollouts over the same clients draw the same waves --------------------
for r in r2 r3; do
	ctl rollouts create $r --release 2.0.0 --collection "All Clients" --waves 10%,100% --soak 0 >/dev/null ||
		fail "create $r"
done
ctl rollouts start r2 >/dev/null || fail "start r2"
ctl --json rollouts clients r2 | jq -r '.clients[] | select(.wave == 1) | .id' | sort >"$T/r2-w1"
expect_eq "$(wc -l <"$T/r2-w1")" $(((N + 9) / 10)) "clients in the first wave of r2"
# ?wave=N: only that wave's clients; not a wave number: 400
expect_eq "$(admin_call GET "/api/v1/rollouts/r2/clients?wave=1" | cut -d' ' -f2- | jq -r '.clients[].id' | sort)" \
	"$(cat "$T/r2-w1")" "r2's clients with ?wave=1"
for bad in 0 x "" 99999999999999999999; do
	expect_status "$(admin_call GET "/api/v1/rollouts/r2/clients?wave=$bad")" 400 bad_request
done
ctl rollouts abort r2 >/dev/null || fail "abort r2"
ctl rollouts start r3 >/dev/null || fail "start r3"
ctl --json rollouts clients r3 | jq -r '.clients[] | select(.wave == 1) | .id' | sort >"$T/r3-w1"
cmp -s "$T/r2-w1" "$T/r3-w1" || fail "r2 and r3 drew different first waves"
if ctl rollouts delete r3 >"$T/del.out" 2>&1; then fail "a running rollout was deleted"; fi
grep -q "abort it first" "$T/del.out" || fail "delete of a running rollout: $(cat "$T/del.out")"
ctl rollouts delete r2 >/dev/null || fail "delete r2 (aborted)"
expect_eq "$(ctl --json rollouts list | jq -r '.rollouts | map(.name) | join(",")')" "r1,r3" "rollouts after deleting r2"
pass "two rollouts over the same clients draw the same first wave; an aborted one is deleted"

# ---- a restart keeps the rollouts and where each client stands ------------------------------
site_stop
site_restart --enroll_auto_approve true --release_key "$PUB" --release_halt_failures 0 \
	--rollout_offers_per_minute 600000 --rollout_dp_offers_per_minute 600000
ctl --json rollouts status r1 >"$T/st2.json"
expect_eq "$(jq -r '[.state, .succeeded] | join(" ")' "$T/st2.json")" "completed $((N - 10))" "r1 after the restart"
ctl --json rollouts clients r3 | jq -r '.clients[] | select(.wave == 1) | .id' | sort >"$T/r3-w1-after"
cmp -s "$T/r3-w1" "$T/r3-w1-after" || fail "r3's first wave changed across the restart"
# r3 has no exclusion: every client checks in and counts
for i in 1 2 3 4 5 6; do
	sim after$i 3s --reuse
	[ "$(ctl --json rollouts status r3 | jq -r '[.state, .succeeded] | join(" ")')" = "completed $N" ] && break
done
expect_eq "$(ctl --json rollouts status r3 | jq -r '[.state, .succeeded] | join(" ")')" "completed $N" "r3 after its waves"
expect_eq "$(awk '$2 != "2.0.0"' "$T/after$i.versions" | wc -l)" 0 "clients not at 2.0.0"
pass "rollouts and their clients survive a restart; r3 completes"

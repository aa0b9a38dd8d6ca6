#!/usr/bin/env bash
# Several management points on one PostgreSQL database
# (docs/internals/management-points.md): a site server S and two stewardd
# with roles = management_point (M1, M2), each with its own data_dir and
# the site's secret and TLS identity copied from S.
#
# - a client enrolled through S is served by M1 and M2;
# - blocked through S, it is refused by M2 within the bound (measured);
# - a pending client approved through S is served as approved by both;
# - an advertisement made through S reaches a check-in at M2;
# - a collection, a maintenance window and the pause of advertisements
#   made through S reach check-ins at M2; an inventory and a new agent
#   version reported at M2 change memberships at S; M1 and M2 skip the
#   periodic jobs; a rollout started at S runs through check-ins at M2
#   (which holds a copy of the content) and is moved wave by wave by S;
# - a replayed check-in (one M1 accepted, sent to M2) is refused;
# - a change nobody announced (made in the database by hand) reaches M2
#   within its changes_recheck_interval; one announced while the
#   listeners' connections were cut reaches M2 after its reconnect, also
#   with M2's wall clock stepped an hour back;
# - kill -9 of M1 during a steward-sim burst: every check-in it
#   acknowledged is in the database;
# - the site server names M1 and M2 (management_points): an agent sent to
#   the dead M1 moves to M2 at once and checks in there.
#
# The bound: an announcement is applied within CHANGES_POLL_MS (0.5 s) of
# its COMMIT; the test allows BOUND_S (2 s) for scheduling noise on a
# loaded machine. The PostgreSQL server is this test's own (pgtmp.sh).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

BOUND_S=2
RECHECK_S=3 # M2's changes_recheck_interval
pg_server_start # tests/tools/pgtmp.sh
DBURL=$PG_URL
REQ=$BIN/steward-req

# ---- the site server and two management points -------------------------------------
"$BIN/stewardctl" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
RK=(--release_key "$(cat "$T/rk.pub")" --rollout_offers_per_minute 600000
	--rollout_dp_offers_per_minute 600000)
named_site S T01 --database "$DBURL" --enroll_auto_approve false "${RK[@]}"
# what a management point needs from the site server's data_dir: the
# secret sessions derive from, the site key, the TLS identity
mp_dir() {
	mkdir -p "$T/$1"
	chmod 700 "$T/$1"
	for f in site.secret site.key tls.key tls.crt; do
		cp -p "${DIR[S]}/$f" "$T/$1/$f" || fail "copy $f to $1"
	done
}
mp_dir M1
mp_dir M2
SITE_CODE=T01 site_start M1 --database "$DBURL" --roles management_point
URL[M1]=$SITE_URL PID[M1]=$SITE_PID
# M2's time() can be stepped (libsteward-clockshift.so reads the seconds
# in $T/clockshift): the listener must schedule by the monotonic clock
echo 0 >"$T/clockshift"
LD_PRELOAD=$BIN/libsteward-clockshift.so STEWARD_CLOCKSHIFT_FILE=$T/clockshift \
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	SITE_CODE=T01 site_start M2 --database "$DBURL" --roles management_point,distribution_point \
	--changes_recheck_interval ${RECHECK_S}s "${RK[@]}"
URL[M2]=$SITE_URL PID[M2]=$SITE_PID
SITE_URL=${URL[S]} ADMIN=${ADM[S]}
for m in M1 M2; do
	cmp -s "${DIR[S]}/tls.pin" "$T/$m/tls.pin" || fail "$m does not serve the site's certificate"
	grep -q "changes listening channel=steward_changes" "$T/$m.log" ||
		fail "$m does not listen for changes: $(grep changes "$T/$m.log" || true)"
	[ -e "$T/$m/admin.token" ] && fail "$m wrote an admin token of its own"
done
pass "site server and two management points on one PostgreSQL database, one certificate"

# ---- a client enrolled through S ------------------------------------------------------
TOKEN=$(new_token 5)
agent_once a "$TOKEN" || fail "agent a did not enroll: $(tail -n 5 "$T/agent-a.log")"
A=$(agent_id a)
KEY_A=$T/agent-a/client.key
GOOD='{"agent_version":"0.1.0","protocol":{"min":1,"max":1},"uptime":5}'
# the sequence numbers of client a, in a file: state_at runs in subshells
echo $(($(date +%s%3N) + 1000)) >"$T/seq"
next_seq() {
	SEQ=$(($(cat "$T/seq") + 1))
	echo "$SEQ" >"$T/seq"
}
# checkin NAME ID KEY: a signed check-in of client ID at NAME; "STATUS BODY" in R
checkin() {
	next_seq
	R=$("$REQ" --server "${URL[$1]}" --path /api/v1/checkin --key "$3" --client "$2" \
		--seq "$SEQ" --body "$GOOD" --print-status "${@:4}") || fail "steward-req at $1 failed"
}
state_at() { # NAME ID KEY: the state a check-in at NAME is answered with, or the error code
	checkin "$1" "$2" "$3"
	local body=${R#* }
	case ${R%% *} in
	200) jq -r .state <<<"$body" ;;
	*) jq -r .error.code <<<"$body" ;;
	esac
}
# enrolled through S, known at M2 without its restart (the enrollment was announced)
is_state() { [ "$(state_at "$1" "$A" "$KEY_A")" = "$2" ]; }
advert_at() { checkin "$1" "$A" "$KEY_A" && grep -q mp-advert <<<"$R"; }
wait_for 5 "M2 knows the client enrolled through S" is_state M2 pending
expect_eq "$(state_at M1 "$A" "$KEY_A")" pending "client a at M1"
expect_eq "$(state_at M2 "$A" "$KEY_A")" pending "client a at M2"
pass "a client enrolled through the site server checks in at both management points (pending)"

# ---- approve through S: served as approved by both ----------------------------------------
T0=$(date +%s%3N)
ctl clients approve "$A" >/dev/null || fail "approve a"
for m in M1 M2; do
	wait_for $BOUND_S "$m serves client a as approved" is_state "$m" approved
done
pass "approved through the site server: served as approved by M1 and M2 after $(($(date +%s%3N) - T0)) ms (bound ${BOUND_S} s)"

# ---- an advertisement through S reaches a check-in at M2 -----------------------------------
mkdir -p "$T/pkg"
printf '#!/bin/sh\necho hello\n' >"$T/pkg/run.sh"
ctl packages add tool --version 1.0 --source "$T/pkg" >"$T/add.out" || fail "packages add: $(cat "$T/add.out")"
ctl programs add run --package tool@1.0 --command "sh run.sh" --timeout 1m >/dev/null || fail "programs add"
T0=$(date +%s%3N)
ctl adverts create mp-advert --program run --collection "All Clients" >/dev/null || fail "adverts create"
wait_for $BOUND_S "the advertisement in a check-in reply at M2" advert_at M2
pass "an advertisement made through the site server is in M2's check-in reply after $(($(date +%s%3N) - T0)) ms"

# ---- a collection made through S: its members at M2 ------------------------------------------
# a static collection of client a and an advertisement for it: M2 tells
# the agent of it only once it knows the collection (announced, not read
# at its start)
reply_has() { # NAME JQ-FILTER: a check-in at NAME whose reply body passes the filter
	checkin "$1" "$A" "$KEY_A" && [ "${R%% *}" = 200 ] && jq -e "$2" <<<"${R#* }" >/dev/null
}
T0=$(date +%s%3N)
ctl collections create mp-static --members "$A" >/dev/null || fail "collections create mp-static"
ctl adverts create coll-ad --program run --collection mp-static >/dev/null ||
	fail "adverts create coll-ad"
wait_for $BOUND_S "M2 tells client a of the advertisement for the new collection" \
	reply_has M2 '[.adverts[]?.name] | index("coll-ad")'
pass "a collection made through the site server has its members at M2: its advertisement is in M2's reply after $(($(date +%s%3N) - T0)) ms"

# ---- a maintenance window and the pause of advertisements made through S, honoured by M2 ----
T0=$(date +%s%3N)
ctl windows create mp-win --collection mp-static --weekly "daily 03:00" --duration 1h \
	>"$T/win.out" || fail "windows create: $(cat "$T/win.out")"
wait_for $BOUND_S "M2's reply carries client a's window" reply_has M2 '(.windows | length) > 0'
pass "a maintenance window made through the site server is in M2's reply after $(($(date +%s%3N) - T0)) ms"
T0=$(date +%s%3N)
ctl site pause-adverts --reason "mp test" >/dev/null || fail "site pause-adverts"
wait_for $BOUND_S "M2 says the advertisements are paused" reply_has M2 '.adverts_paused == true'
MS=$(($(date +%s%3N) - T0))
ctl site resume-adverts >/dev/null || fail "site resume-adverts"
wait_for $BOUND_S "M2 says the advertisements run again" reply_has M2 '.adverts_paused == false'
pass "the pause of advertisements made through the site server is honoured by M2 after $MS ms, and its end"

# ---- inventory facts reported at M2 change membership at S --------------------------------
[ -s "$T/agent-a/inventory.json" ] || fail "agent a kept no inventory.json to start from"
python3 "$(dirname "$0")/inventory_gen.py" "$T/agent-a/inventory.json" "$T/inv-marked.json" \
	--add-package mp-marker=1 || fail "inventory_gen"
ctl collections create mp-marked --query 'package("mp-marker").version = "1"' >/dev/null ||
	fail "collections create mp-marked"
member_at_s() { ctl --json collections members mp-marked | grep -q "$A"; }
member_at_s && fail "client a is in mp-marked before its inventory says so"
next_seq
T0=$(date +%s%3N)
R=$("$REQ" --server "${URL[M2]}" --path /api/v1/inventory --key "$KEY_A" --client "$A" \
	--seq "$SEQ" --body-file "$T/inv-marked.json" --print-status) || fail "steward-req inventory at M2"
expect_status "$R" 200
wait_for $BOUND_S "client a in mp-marked as the site server sees it" member_at_s
pass "an inventory reported at M2 puts client a in a query collection at the site server after $(($(date +%s%3N) - T0)) ms"
# and a new agent version a check-in at M2 reports (the check-in writer announces it)
ctl collections create mp-newer --query 'agent.version = "0.1.1"' >/dev/null ||
	fail "collections create mp-newer"
newer_at_s() { ctl --json collections members mp-newer | grep -q "$A"; }
newer_at_s && fail "client a is in mp-newer before it reports 0.1.1"
next_seq
T0=$(date +%s%3N)
R=$("$REQ" --server "${URL[M2]}" --path /api/v1/checkin --key "$KEY_A" --client "$A" --seq "$SEQ" \
	--body "${GOOD/0.1.0/0.1.1}" --print-status) || fail "steward-req check-in 0.1.1 at M2"
expect_status "$R" 200
wait_for $BOUND_S "client a in mp-newer as the site server sees it" newer_at_s
pass "a new agent version reported at M2 puts client a in a query collection at the site server after $(($(date +%s%3N) - T0)) ms"

# ---- the periodic jobs: the site server's alone ---------------------------------------------
grep -q 'site jobs runs="rollout waves' "$T/S.log" ||
	fail "the site server does not say it runs the rollout waves: $(grep 'site jobs' "$T/S.log" || true)"
for m in M1 M2; do
	grep -q 'site jobs runs=none skips="rollout waves' "$T/$m.log" ||
		fail "$m does not say it skips the periodic jobs: $(grep 'site jobs' "$T/$m.log" || true)"
done
pass "the rollout waves, links and pruning run in the site server only (M1 and M2 say they skip them)"

# ---- block through S: refused by M2 within the bound --------------------------------------
expect_eq "$(state_at M2 "$A" "$KEY_A")" approved "client a at M2 before the block"
T0=$(date +%s%3N)
ctl clients block "$A" --reason "lost laptop" >/dev/null || fail "block a"
until [ "$(state_at M2 "$A" "$KEY_A")" = client_blocked ]; do
	[ $(($(date +%s%3N) - T0)) -le $((BOUND_S * 1000)) ] ||
		fail "M2 still serves client a $BOUND_S s after the block: $R"
	sleep 0.05
done
MS=$(($(date +%s%3N) - T0))
expect_eq "$(state_at M1 "$A" "$KEY_A")" client_blocked "client a at M1 after the block"
pass "blocked through the site server: refused by M2 after $MS ms and by M1 (bound ${BOUND_S} s)"
ctl clients approve "$A" >/dev/null || fail "approve a again"
wait_for $BOUND_S "M2 serves client a again" is_state M2 approved

# ---- a check-in accepted by M1 and replayed at M2 -----------------------------------------
next_seq
R=$("$REQ" --server "${URL[M1]}" --path /api/v1/checkin --key "$KEY_A" --client "$A" --seq "$SEQ" \
	--body "$GOOD" --print-status)
expect_status "$R" 200
R=$("$REQ" --server "${URL[M2]}" --path /api/v1/checkin --key "$KEY_A" --client "$A" --seq "$SEQ" \
	--body "$GOOD" --print-status)
expect_status "$R" 401 replayed_sequence
expect_eq "$(psql_q "SELECT k.last_seq FROM checkins k JOIN clients c ON c.rid = k.client_rid WHERE c.id = '$A'")" \
	"$SEQ" "last_seq in the database after the replay"
pass "a check-in M1 accepted, sent again to M2, is refused (replayed_sequence)"

# ---- a change nobody announced: M2's full re-read finds it -------------------------------
T0=$(date +%s%3N)
psql_q "UPDATE clients SET state = 'blocked', block_reason = 'by hand' WHERE id = '$A'"
until [ "$(state_at M2 "$A" "$KEY_A")" = client_blocked ]; do
	[ $(($(date +%s%3N) - T0)) -le $(((RECHECK_S + BOUND_S) * 1000)) ] ||
		fail "M2 still serves client a $((RECHECK_S + BOUND_S)) s after a change without announcement: $R"
	sleep 0.1
done
pass "a change made without announcement is honoured by M2 after $(($(date +%s%3N) - T0)) ms (changes_recheck_interval ${RECHECK_S} s)"
ctl clients approve "$A" >/dev/null || fail "approve a again"
wait_for $BOUND_S "M2 serves client a again" is_state M2 approved

# ---- the listeners' connections cut: the change made meanwhile arrives after the reconnect ---
N=$(psql_q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'stewardd-listen'")
expect_eq "$N" 3 "listening connections cut (one per stewardd)"
T0=$(date +%s%3N)
ctl clients block "$A" --reason "while cut" >/dev/null || fail "block a while the listeners are cut"
# the reconnect is tried every 2 s; then everything is read again
until [ "$(state_at M2 "$A" "$KEY_A")" = client_blocked ]; do
	[ $(($(date +%s%3N) - T0)) -le $(((2 + BOUND_S) * 1000)) ] ||
		fail "M2 still serves client a $((2 + BOUND_S)) s after a block made while its listener was cut: $R"
	sleep 0.1
done
MS=$(($(date +%s%3N) - T0))
wait_for 5 "M2 logs its reconnect" grep -q "changes listening_again" "$T/M2.log"
pass "a block made while the listeners were cut is honoured by M2 after $MS ms (reconnect and full re-read)"
ctl clients approve "$A" >/dev/null || fail "approve a again"

# ---- the wall clock stepped back while the listener is away: it connects again at once ------
m2_said() { [ "$(grep -c "changes $1" "$T/M2.log")" -gt "$2" ]; } # EVENT COUNT: said it more often
AGAIN=$(grep -c "changes listening_again" "$T/M2.log")
LOST=$(grep -c "changes listen_lost" "$T/M2.log")
psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'stewardd-listen'" >/dev/null
wait_for 3 "M2 notices its listener is gone" m2_said listen_lost "$LOST"
echo 3600 >"$T/clockshift" # M2's wall clock an hour back, as an NTP step would
T0=$(date +%s%3N)
wait_for $((2 + BOUND_S)) "M2 listening again with its wall clock an hour back" \
	m2_said listening_again "$AGAIN"
echo 0 >"$T/clockshift"
pass "the wall clock stepped back an hour: M2's listener connects again after $(($(date +%s%3N) - T0)) ms"

# ---- a rollout made through S runs through check-ins at M2, its waves moved by S ------------
# 20 simulated clients at 1.0.0, a release 2.0.0 for them, a rollout in two
# waves (gate 90%, no soak) started at S; the clients check in at M2 only.
# M2 (also a distribution point, holding a copy of S's content) learns the
# rollout and its waves from S's announcements and offers; the outcomes it
# takes reach S, whose tick alone passes the gate. M1, without the
# content, offers nothing and counts no offer.
stage_release_as "$T/rk" 2.0.0 1.0.0 "$T/r-2.0.0.tar.zst" tiny
ctl releases import "$T/r-2.0.0.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
cp -a "${DIR[S]}/content/." "$T/M2/content/" || fail "copy S's content to M2"
fleet() { # OUT URL DURATION [args...]
	local out=$1 url=$2 d=$3
	shift 3
	"$BIN/steward-sim" --server "$url" --token-file "${ADM[S]}" --clients 20 --concurrency 8 \
		--timeout 3s --setup-timeout 30s --state "$T/fleet.state" --json --quiet \
		--duration "$d" "$@" >"$T/$out.json" 2>"$T/$out.log" ||
		fail "steward-sim $out: $(tail -n 5 "$T/$out.log")"
}
fleet fleet0 "${URL[S]}" 1s --agent-version 1.0.0
ctl --json clients list | jq -r --arg a "$A" '.[].id | select(. != $a)' | paste -sd, >"$T/fleet-ids"
ctl clients approve $(tr , ' ' <"$T/fleet-ids") >/dev/null 2>&1 ||
	for id in $(tr , ' ' <"$T/fleet-ids"); do ctl clients approve "$id" >/dev/null; done
ctl collections create fleet --members "$(cat "$T/fleet-ids")" >/dev/null || fail "collections create fleet"
ctl rollouts create r-mp --release 2.0.0 --collection fleet --waves 50%,100% --gate 90 --soak 0 \
	>"$T/ro.out" 2>&1 || fail "rollouts create: $(cat "$T/ro.out")"
ctl rollouts start r-mp >"$T/ro.out" 2>&1 || fail "rollouts start: $(cat "$T/ro.out")"
T0=$(date +%s%3N)
wait_for $BOUND_S "M2 learns of rollout r-mp" grep -q "rollouts loaded rollout=r-mp" "$T/M2.log"
fleet fleet-m1 "${URL[M1]}" 1s --reuse
expect_eq "$(jq -r .upgrades_offered "$T/fleet-m1.json")" 0 "offers by M1, which holds no content"
sleep 1.5 # M1's tick would write an offer it counted within a second
expect_eq "$(ctl --json rollouts status r-mp | jq -r .offered)" 0 "offers counted at S after M1's check-ins"
for i in $(seq 1 10); do
	fleet fleet$i "${URL[M2]}" 2s --reuse
	[ "$(ctl --json rollouts status r-mp | jq -r .state)" = completed ] && break
done
ctl --json rollouts status r-mp >"$T/ro.json"
expect_eq "$(jq -r .state "$T/ro.json")" completed "rollout r-mp at S ($(ctl rollouts status r-mp))"
expect_eq "$(jq -r .succeeded "$T/ro.json")" 20 "clients of r-mp at 2.0.0"
pass "a rollout started through S completed with its clients checking in at M2 only, its waves moved by S ($(($(date +%s%3N) - T0)) ms)"

# ---- kill -9 of M1 during a burst: nothing acknowledged lost -------------------------------
# 60 clients enrolled through S (steward-sim keeps their keys), then a burst at M1
"$BIN/steward-sim" --server "${URL[S]}" --token-file "${ADM[S]}" --clients 60 --concurrency 16 \
	--duration 1s --timeout 3s --setup-timeout 30s --state "$T/sim.state" --json --quiet \
	>"$T/sim0.out" 2>"$T/sim0.log" || fail "steward-sim setup: $(tail -n 5 "$T/sim0.log")"
ACKS=$T/acks
"$BIN/steward-sim" --server "${URL[M1]}" --token-file "${ADM[S]}" --clients 60 --concurrency 16 \
	--duration 8s --timeout 3s --setup-timeout 30s --state "$T/sim.state" --reuse \
	--ack-log "$ACKS" --json --quiet >"$ACKS.out" 2>"$ACKS.log" &
SIM=$!
PIDS+=("$SIM")
wait_for 30 "a check-in acknowledged by M1" test -s "$ACKS"
sleep 2
{ kill -9 "${PID[M1]}" && wait "${PID[M1]}"; } 2>/dev/null || true
wait "$SIM" || true
N_ACKS=$(wc -l <"$ACKS")
[ "$N_ACKS" -ge 50 ] || fail "only $N_ACKS check-ins acknowledged by M1; need 50 for a meaningful test"
psql_q "DROP TABLE IF EXISTS t_acks; CREATE TABLE t_acks (id TEXT NOT NULL, seq BIGINT NOT NULL)"
awk '{ print $1 "," $2 }' "$ACKS" >"$ACKS.csv"
"$PGBIN/psql" -X -q "$DBURL" -c "\\copy t_acks FROM '$ACKS.csv' WITH (FORMAT csv)" ||
	fail "cannot load the acknowledgements into PostgreSQL"
LOST=$(psql_q "WITH acked AS (SELECT id, max(seq) AS seq FROM t_acks GROUP BY id)
	SELECT count(*) FROM acked LEFT JOIN clients c ON c.id = acked.id
	LEFT JOIN checkins k ON k.client_rid = c.rid
	WHERE k.last_seq IS NULL OR k.last_seq < acked.seq")
expect_eq "$LOST" 0 "clients whose check-ins M1 acknowledged are missing after its kill -9"
# and the other management point takes the same clients at once
"$BIN/steward-sim" --server "${URL[M2]}" --token-file "${ADM[S]}" --clients 60 --concurrency 16 \
	--duration 2s --timeout 3s --setup-timeout 30s --state "$T/sim.state" --reuse --json --quiet \
	>"$T/sim2.out" 2>"$T/sim2.log" || fail "steward-sim at M2: $(tail -n 5 "$T/sim2.log")"
jq -e '.checkins > 0 and .errors == 0' "$T/sim2.out" >/dev/null ||
	fail "M2 did not take M1's clients: $(cat "$T/sim2.out")"
pass "kill -9 of M1 mid-burst: all $N_ACKS acknowledged check-ins in PostgreSQL; M2 takes the same clients ($(jq .checkins "$T/sim2.out") check-ins, no errors)"

# ---- agent failover: the site names its management points, the agent moves on ---------------
SITE_PID=${PID[S]} SITE_DIR=${DIR[S]} SITE_URL=${URL[S]}
site_stop || fail "the site server did not stop cleanly"
site_restart --site_name "site T01" --database "$DBURL" --enroll_auto_approve false \
	--management_points "${URL[M1]}" --management_points "${URL[M2]}"
PID[S]=$SITE_PID
agent_once a || fail "agent a did not check in at the site server: $(tail -n 5 "$T/agent-a.log")"
expect_eq "$(jq -c .management_points "$T/agent-a/state.json")" "[\"${URL[M1]}\",\"${URL[M2]}\"]" \
	"the management points in agent a's state"
# the agent now told to use M1, which is dead: it moves to M2 at once
"$BIN/steward-agent" --server "${URL[M1]}" --state-dir "$T/agent-a" >>"$T/agent-a-daemon.log" 2>&1 &
APID=$!
PIDS+=("$APID")
wait_for 10 "agent a's daemon started" grep -q " agent sleeping " "$T/agent-a-daemon.log"
T0=$(date +%s%3N)
kill -USR1 "$APID"
wait_for 10 "agent a checked in after failing over" grep -q " agent checked_in " "$T/agent-a-daemon.log"
grep -q "server_failover from=${URL[M1]} to=${URL[M2]}" "$T/agent-a-daemon.log" ||
	fail "agent a did not say it moved from M1 to M2: $(grep -E 'failover|failed' "$T/agent-a-daemon.log" | tail -n 3)"
# M1 is dead and the site server is not on the list: the check-in went to M2
kill -0 "${PID[M1]}" 2>/dev/null && fail "M1 still runs"
pass "agent failover: the site names M1 and M2, the agent finds M1 dead and checks in at M2 after $(($(date +%s%3N) - T0)) ms"

#!/usr/bin/env bash
# The watch after a site upgrade (site_upgrade_watch), with real releases of
# stewardd built from this source:
#   - 1.2.0 carries a migration that succeeds (table upgrade_probe_ok) and
#     dies (SIGKILL) a few seconds after it serves; started again from
#     DATA_DIR/current, as a service manager would, it restores the backup
#     and hands over to the old version: the migration's change is gone,
#     the clients enrolled before are kept, site show says why;
#   - 1.1.0 is fine: an orderly restart during its watch is no rollback,
#     and after the window the upgrade has succeeded;
#   - 1.2.0 again, alive but no longer answering on its port: its health
#     check fails 3 times and the same process goes back to 1.1.0.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
# the schema this build migrates to; 1.2.0 adds one more
SCHEMA=$(sed -n 's/^#define STORE_SCHEMA_VERSION \([0-9]*\)$/\1/p' "$SRC/include/steward/store.h")
[ -n "$SCHEMA" ] || fail "STORE_SCHEMA_VERSION not found in include/steward/store.h"
build_release 1.1.0 site
build_release 1.2.0 site RELEASE_CMAKE_ARGS=-DSTEWARD_TEST_DIES_AFTER_START=ON
pass "stewardd releases 1.1.0 and 1.2.0 (its migration $((SCHEMA + 1)) succeeds, then it fails) built"

# the test release fails this long after it serves (the default: it dies)
export STEWARD_TEST_FAULT_AFTER=4
ARGS=(--enroll_auto_approve true --release_key "$(cat "$T/rk.pub")" --site_upgrade_health_interval 1s)
health() { curl -fsS "$SITE_URL/health" | jq -r .version; }
schema() { site_schema "$SITE_DIR"; }
probe() { site_tables "$SITE_DIR" upgrade_probe_ok; }
record() { jq -r "$1" "$SITE_DIR/site-upgrade.json"; }
last() { ctl --json site show | jq -r ".last_upgrade.$1"; }
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" | cut -c1)" = Z ]; }
# start BIN [ARGS...]: BIN on the site's port and data dir, as a service
# manager would start it; sets SITE_PID
start() {
	local bin=$1 i
	shift
	site_db_args "$SITE_DIR" # the site's database, when it is in PostgreSQL
	"$bin" --listen "127.0.0.1:$PORT" --data_dir "$SITE_DIR" --site_code T01 "${DB_ARGS[@]}" "${ARGS[@]}" "$@" \
		>>"$T/s1.log" 2>&1 &
	SITE_PID=$!
	PIDS+=("$SITE_PID")
	for i in $(seq 1 150); do
		curl -fsS "$SITE_URL/health" >/dev/null 2>&1 && return 0
		gone "$SITE_PID" && fail "$bin exited at start: $(tail -n 5 "$T/s1.log")"
		sleep 0.1
	done
	fail "$bin did not serve within 15 s"
}
clients_kept() {
	ctl clients list >"$T/clients" && grep -q "$id" "$T/clients" || fail "client $id lost: $1"
}

site_start s1 "${ARGS[@]}" --site_upgrade_watch 60s
PORT=${SITE_URL##*:}
pid=$SITE_PID
old=$(health)
agent_once a1 "$(new_token)" || fail "agent: $(tail -n 5 "$T/agent-a1.log")"
id=$(agent_id a1)
for v in 1.1.0 1.2.0; do
	ctl releases import "$T/out/steward-$v.tar.zst" >"$T/import.out" 2>&1 || fail "import $v: $(cat "$T/import.out")"
done
expect_eq "$(schema)" "$SCHEMA" "schema before"

# ---- 1.2.0 dies on watch; started again, it goes back to the old version -------------------
ctl site upgrade --to 1.2.0 >"$T/up.out" 2>&1 || fail "upgrade to 1.2.0: $(cat "$T/up.out")"
grep -q "^the site runs 1.2.0$" "$T/up.out" || fail "$(cat "$T/up.out")"
grep -q "^it is watched until .*: if it dies or fails its health check before then, the site goes back to $old" "$T/up.out" ||
	fail "no word of the watch: $(cat "$T/up.out")"
# from the files, not the site: 1.2.0 may already be dying
expect_eq "$(record .state)" watching "the record on watch"
expect_eq "$(schema)" $((SCHEMA + 1)) "schema of 1.2.0"
expect_eq "$(probe)" 1 "the table of 1.2.0's migration"
expect_eq "$(readlink "$SITE_DIR/current")" versions/1.2.0 "DATA_DIR/current on watch"
wait_for 20 "1.2.0 dying on watch" gone "$pid"
rc=0
wait "$pid" || rc=$?
expect_eq "$rc" 137 "exit status of 1.2.0 (SIGKILL)"
expect_eq "$(record .state)" watching "the record after the death"
expect_eq "$(record .stopped_cleanly)" null "stopped_cleanly after a death"
start "$SITE_DIR/current/bin/stewardd" --site_upgrade_watch 60s
pid=$SITE_PID
expect_eq "$(health)" "$old" "version after the death"
kill -0 "$pid" || fail "stewardd is gone after the handover"
expect_eq "$(readlink "/proc/$pid/exe")" "$SITE_DIR/versions/$old/bin/stewardd" "the binary that runs"
expect_eq "$(schema)" "$SCHEMA" "schema after the rollback"
expect_eq "$(probe)" 0 "the table of 1.2.0's migration after the rollback"
expect_eq "$(site_db_ok "$SITE_DIR")" ok "integrity after the rollback"
clients_kept "in the rollback after a death"
expect_eq "$(last state)" rolled_back "last_upgrade.state after the death"
last reason | grep -Eq "^the new version died [0-9]+ s after it started$" ||
	fail "reason: $(last reason)"
expect_eq "$(readlink "$SITE_DIR/current")" "versions/$old" "DATA_DIR/current after the rollback"
grep -q "siteupgrade.*data_lost" "$T/s1.log" || fail "the log does not say what was lost"
agent_once a1 || fail "the agent cannot check in after the rollback"
pass "1.2.0 died on watch: started again from DATA_DIR/current, it restored the backup and ran $old (same PID); migration gone, clients kept"

# ---- 1.1.0: an orderly restart on watch is no rollback; then it succeeds ----------------------
site_stop || fail "$old did not stop cleanly"
start "$SITE_DIR/current/bin/stewardd" --site_upgrade_watch 10s
ctl site upgrade --to 1.1.0 >"$T/up.out" 2>&1 || fail "upgrade to 1.1.0: $(cat "$T/up.out")"
grep -q "^the site runs 1.1.0$" "$T/up.out" || fail "$(cat "$T/up.out")"
ctl --json site show >"$T/show.json" || fail "site show on watch"
expect_eq "$(jq -r .last_upgrade.state "$T/show.json")" watching "state of 1.1.0 on watch"
jq -e '.last_upgrade.watch_left > 0 and (.last_upgrade.watch_until_at | test("^20[0-9-]+T"))' \
	"$T/show.json" >/dev/null || fail "site show does not say when the watch ends: $(cat "$T/show.json")"
until_at=$(jq -r .last_upgrade.watch_until_at "$T/show.json")
site_stop || fail "1.1.0 did not stop cleanly on watch"
expect_eq "$(record .state)" watching "the record after an orderly stop"
[ "$(record .stopped_cleanly)" -gt 0 ] || fail "no stopped_cleanly mark: $(cat "$SITE_DIR/site-upgrade.json")"
start "$SITE_DIR/current/bin/stewardd" --site_upgrade_watch 10s
expect_eq "$(health)" 1.1.0 "version after an orderly restart on watch"
expect_eq "$(last state)" watching "state after an orderly restart on watch"
expect_eq "$(last watch_until_at)" "$until_at" "the end of the watch after a restart"
expect_eq "$(record .stopped_cleanly)" null "stopped_cleanly after the restart"
# a second stewardd on the data dir must not judge the watch of the one that runs
rc=0
"$SITE_DIR/current/bin/stewardd" --listen 127.0.0.1:0 --data_dir "$SITE_DIR" --site_code T01 \
	"${DB_ARGS[@]}" "${ARGS[@]}" >"$T/second.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of a second stewardd on the data dir"
grep -q "^stewardd: data_dir_in_use: " "$T/second.out" || fail "second stewardd: $(cat "$T/second.out")"
expect_eq "$(record .state)" watching "the record after a second stewardd"
wait_for 20 "the watch of 1.1.0 ending" sh -c "[ \"\$(jq -r .state '$SITE_DIR/site-upgrade.json')\" = succeeded ]"
expect_eq "$(last state)" succeeded "state after the watch"
expect_eq "$(health)" 1.1.0 "version after the watch"
expect_eq "$(readlink "$SITE_DIR/current")" versions/1.1.0 "DATA_DIR/current after the watch"
clients_kept "in the upgrade to 1.1.0"
grep -q "siteupgrade.*succeeded.*to=1.1.0" "$T/s1.log" || fail "no success in the log"
pass "1.1.0: an orderly restart on watch resumed the watch; after it the upgrade succeeded"

# ---- 1.2.0 again: alive but not answering; its health check brings 1.1.0 back ----------------
site_stop || fail "1.1.0 did not stop cleanly"
STEWARD_TEST_FAULT=unhealthy start "$SITE_DIR/current/bin/stewardd" --site_upgrade_watch 60s
pid=$SITE_PID
ctl site upgrade --to 1.2.0 >"$T/up.out" 2>&1 || fail "upgrade to 1.2.0: $(cat "$T/up.out")"
grep -q "^the site runs 1.2.0$" "$T/up.out" || fail "$(cat "$T/up.out")"
expect_eq "$(probe)" 1 "the table of 1.2.0's migration"
wait_for 40 "1.1.0 back after failed health checks" sh -c "[ \"\$(curl -fsS '$SITE_URL/health' 2>/dev/null | jq -r .version)\" = 1.1.0 ]"
kill -0 "$pid" || fail "stewardd is gone after the rollback"
expect_eq "$(readlink "/proc/$pid/exe")" "$SITE_DIR/versions/1.1.0/bin/stewardd" "the binary that runs"
expect_eq "$(last state)" rolled_back "last_upgrade.state after failed health checks"
last reason | grep -Eq "^the new version failed its health check 3 times in a row: the listener does not answer" ||
	fail "reason: $(last reason)"
expect_eq "$(schema)" "$SCHEMA" "schema after the rollback"
expect_eq "$(probe)" 0 "the table of 1.2.0's migration after the rollback"
expect_eq "$(site_db_ok "$SITE_DIR")" ok "integrity after the rollback"
expect_eq "$(readlink "$SITE_DIR/current")" versions/1.1.0 "DATA_DIR/current after the rollback"
clients_kept "in the rollback after failed health checks"
agent_once a1 || fail "the agent cannot check in after the rollback"
pass "1.2.0 failed its health check 3 times: the same process went back to 1.1.0 with the backup"

site_stop || fail "stewardd 1.1.0 did not stop cleanly"

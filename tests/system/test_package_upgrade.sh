#!/usr/bin/env bash
# A package upgrade of steward-site takes the site upgrade's backup-and-
# rollback path (packaging/deb/steward-site.preinst, docs/packaging.md):
# the old stewardd, stopped, runs `stewardd --prepare-upgrade NEW`, which
# keeps its binary in DATA_DIR/versions, backs up the database and records a
# trial; then the new binary takes its place and starts. Here the new
# stewardd is a release whose migration fails: its start restores the backup
# and execs the old version (same PID), which serves the old database. A
# running stewardd, a version already running, a bad version and an upgrade
# still on trial are refused.
. "$(dirname "$0")/lib.sh"

"$BIN/stewardctl" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
SCHEMA=$(sed -n 's/^#define STORE_SCHEMA_VERSION \([0-9]*\)$/\1/p' "$SRC/include/steward/store.h")
[ -n "$SCHEMA" ] || fail "STORE_SCHEMA_VERSION not found in include/steward/store.h"
build_release 1.2.0 site RELEASE_CMAKE_ARGS=-DSTEWARD_TEST_FAILING_MIGRATION=ON
NEW=$T/new-stewardd
cp "$T/build-1.2.0/bin/stewardd" "$NEW" || fail "no stewardd in $T/build-1.2.0/bin"
chmod 755 "$NEW"
"$NEW" --version | grep -q '^stewardd 1.2.0 ' || fail "the 1.2.0 stewardd: $("$NEW" --version 2>&1)"
pass "stewardd 1.2.0 (its migration $((SCHEMA + 1)) fails) built"

# the installed binary: a copy, as /usr/sbin/stewardd would be
INST=$T/usr-sbin
mkdir -p "$INST"
cp "$BIN/stewardd" "$INST/stewardd"
old=$("$INST/stewardd" --version | awk '{ print $2 }')
cat >"$T/stewardd.conf" <<CONF
site_code = T01
listen = 127.0.0.1:0
data_dir = $T/site
enroll_auto_approve = true
site_upgrade_watch = 0
CONF
# on PostgreSQL the database is in the file too: --prepare-upgrade backs it up
site_db_args "$T/site"
[ ${#DB_ARGS[@]} -eq 0 ] || echo "database = ${DB_ARGS[1]}" >>"$T/stewardd.conf"
STEWARDD=$INST/stewardd site_start site -c "$T/stewardd.conf"
tok=$(new_token)
agent_once a1 "$tok" || fail "agent: $(tail -n 5 "$T/agent-a1.log")"
id=$(agent_id a1)

# ---- refusals ---------------------------------------------------------------------------
prep() { rc=0; "$INST/stewardd" --prepare-upgrade "$@" -c "$T/stewardd.conf" >"$T/prep.out" 2>&1 || rc=$?; }
prep 1.2.0
expect_eq "$rc" 1 "prepare while stewardd runs"
grep -q "data_dir_in_use: a running stewardd holds" "$T/prep.out" || fail "running: $(cat "$T/prep.out")"
grep -q "remedy: stop stewardd first" "$T/prep.out" || fail "no remedy: $(cat "$T/prep.out")"
site_stop
prep 1.2
expect_eq "$rc" 1 "prepare with a bad version"
grep -q "'1.2' is not a version X.Y.Z" "$T/prep.out" || fail "bad version: $(cat "$T/prep.out")"
prep "$old"
expect_eq "$rc" 0 "prepare for the version installed"
grep -q "is this version; nothing to prepare" "$T/prep.out" || fail "same version: $(cat "$T/prep.out")"
[ ! -e "$T/site/site-upgrade.json" ] && [ ! -d "$T/site/backups" ] || fail "a refusal wrote something"
pass "refused while stewardd runs and for a bad version; nothing to do for the same version"

# ---- the upgrade: prepared by the old version, started as the new ------------------------
prep 1.2.0
expect_eq "$rc" 0 "prepare for 1.2.0: $(cat "$T/prep.out")"
expect_eq "$(jq -r .state "$T/site/site-upgrade.json")" trial "record state"
expect_eq "$(jq -r .from "$T/site/site-upgrade.json")/$(jq -r .to "$T/site/site-upgrade.json")" "$old/1.2.0" "record"
ls "$T/site"/backups/steward-"$old"-before-1.2.0-*.db >/dev/null || fail "no backup"
"$T/site/versions/$old/bin/stewardd" --version | grep -q "^stewardd $old " || fail "the old binary was not kept"
prep 1.2.0
expect_eq "$rc" 1 "prepare again while on trial"
grep -q "the upgrade from $old to 1.2.0 is trial" "$T/prep.out" || fail "again: $(cat "$T/prep.out")"
pass "prepared: the old binary kept, a backup, the record on trial"

# the package manager puts 1.2.0 in place; the unit starts it
cp "$NEW" "$INST/stewardd"
STEWARDD=$INST/stewardd site_start site -c "$T/stewardd.conf"
pid=$SITE_PID
expect_eq "$(curl -fsS "$SITE_URL/health" | jq -r .version)" "$old" "version after the failed upgrade"
kill -0 "$pid" || fail "stewardd is gone"
expect_eq "$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)" "$T/site/versions/$old/bin/stewardd" "the binary running"
expect_eq "$(site_schema "$T/site")" "$SCHEMA" "schema after the rollback"
expect_eq "$(jq -r .state "$T/site/site-upgrade.json")" rolled_back "record state after"
grep -q "migration_failed" "$T/site.log" || fail "the log does not say why: $(tail -n 5 "$T/site.log")"
ctl clients list >"$T/clients" && grep -q "$id" "$T/clients" || fail "client $id lost"
agent_once a1 || fail "the agent cannot check in after the rollback"
pass "1.2.0's migration failed: the backup restored and $old serves again (same PID), clients kept"

#!/usr/bin/env bash
# stewardctl site upgrade with real releases of stewardd built from this
# source: a release whose migration fails is rolled back (the old binary
# runs again, same PID, the database restored from the backup taken
# before); a good release is taken and the site keeps its clients; a
# release that would cut the agents off (another protocol), a release the
# site does not hold and the version already running are refused.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
# the schema this build migrates to; the failing release adds one that fails
SCHEMA=$(sed -n 's/^#define STORE_SCHEMA_VERSION \([0-9]*\)$/\1/p' "$SRC/include/steward/store.h")
[ -n "$SCHEMA" ] || fail "STORE_SCHEMA_VERSION not found in include/steward/store.h"
build_release 1.1.0 site
build_release 1.2.0 site RELEASE_CMAKE_ARGS=-DSTEWARD_TEST_FAILING_MIGRATION=ON
pass "stewardd releases 1.1.0 and 1.2.0 (its migration $((SCHEMA + 1)) fails) built"

# the watch after an upgrade is test_site_upgrade_watch.sh's; off here, an
# upgrade succeeds as soon as the new version serves. The site runs from a
# copy of stewardd that is removed once it runs, as a package upgrade
# replaces the file under a running stewardd: the upgrade keeps the
# running binary all the same.
mkdir -p "$T/installed"
cp "$BIN/stewardd" "$T/installed/stewardd"
STEWARDD=$T/installed/stewardd site_start s1 --enroll_auto_approve true --release_key "$(cat "$T/rk.pub")" \
	--site_upgrade_watch 0
rm "$T/installed/stewardd"
pid=$SITE_PID
old=$(curl -fsS "$SITE_URL/health" | jq -r .version)
tok=$(new_token)
agent_once a1 "$tok" || fail "agent: $(tail -n 5 "$T/agent-a1.log")"
id=$(agent_id a1)
for v in 1.1.0 1.2.0; do
	ctl releases import "$T/out/steward-$v.tar.zst" >"$T/import.out" 2>&1 || fail "import $v: $(cat "$T/import.out")"
done
health() { curl -fsS "$SITE_URL/health" | jq -r .version; }
schema() { site_schema "$SITE_DIR"; }
expect_eq "$(schema)" "$SCHEMA" "schema before"

# ---- refusals: nothing changes ----------------------------------------------------------
expect_refusal() { # CODE ARGS...: site upgrade exits 1 naming CODE
	local code=$1 rc=0
	shift
	ctl site upgrade "$@" >"$T/up.out" 2>&1 || rc=$?
	expect_eq "$rc" 1 "exit status of site upgrade $*"
	grep -q "^error: $code:" "$T/up.out" || fail "expected $code: $(cat "$T/up.out")"
}
expect_refusal release_not_found --to 9.9.9
expect_refusal site_upgrade_refused --to "$old"
S=$T/stage
mkdir -p "$S/stewardd/bin" && cp "$BIN/stewardd" "$S/stewardd/bin/"
echo "stewardd site 3.0.0 7-9" >"$S/components"
"$CTL" releases build --version 3.0.0 --key "$T/rk" --stage "$S" --out "$T/r3.tar.zst" >/dev/null ||
	fail "build 3.0.0"
ctl releases import "$T/r3.tar.zst" >/dev/null 2>&1 || fail "import 3.0.0"
expect_refusal site_upgrade_incompatible --to 3.0.0
grep -q "speaks protocol 7-9" "$T/up.out" || fail "incompatible: $(cat "$T/up.out")"
expect_eq "$(health)" "$old" "version after the refusals"
pass "an unknown release, the running version and a release on another protocol are refused"

# ---- 1.2.0: its migration fails; the old version comes back with its database -----------
rc=0
ctl site upgrade --to 1.2.0 >"$T/up.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of the failed upgrade"
grep -q "^error: site_upgrade_rolled_back: the upgrade to 1.2.0 failed and was rolled back: migration_failed" "$T/up.out" ||
	fail "rollback: $(cat "$T/up.out")"
expect_eq "$(health)" "$old" "version after the rollback"
kill -0 "$pid" || fail "stewardd is gone after the rollback"
expect_eq "$(schema)" "$SCHEMA" "schema after the rollback"
expect_eq "$(site_tables "$SITE_DIR" upgrade_probe)" 0 \
	"the failed migration's table"
expect_eq "$(site_db_ok "$SITE_DIR")" ok "integrity after the rollback"
ctl clients list >"$T/clients" && grep -q "$id" "$T/clients" || fail "client $id lost in the rollback"
expect_eq "$(ctl --json site show | jq -r .last_upgrade.state)" rolled_back "last_upgrade.state"
ls "$SITE_DIR"/backups/steward-"$old"-before-1.2.0-*.db >/dev/null || fail "no backup kept"
expect_eq "$(stat -c %a "$SITE_DIR"/backups/steward-"$old"-before-1.2.0-*.db)" 600 "backup mode"
agent_once a1 || fail "the agent cannot check in after the rollback"
pass "1.2.0 with a failing migration: rolled back to $old, same PID, database restored, clients kept"

# ---- 1.1.0: taken ----------------------------------------------------------------------------
ctl site upgrade --to 1.1.0 >"$T/up.out" 2>&1 || fail "upgrade to 1.1.0: $(cat "$T/up.out")"
grep -q "the site runs 1.1.0" "$T/up.out" || fail "$(cat "$T/up.out")"
expect_eq "$(health)" 1.1.0 "version after the upgrade"
kill -0 "$pid" || fail "stewardd is gone after the upgrade"
expect_eq "$(readlink "$SITE_DIR/current")" versions/1.1.0 "DATA_DIR/current"
expect_eq "$(ctl --json site show | jq -r .last_upgrade.state)" succeeded "last_upgrade.state"
ctl clients list >"$T/clients" && grep -q "$id" "$T/clients" || fail "client $id lost in the upgrade"
agent_once a1 || fail "the agent cannot check in after the upgrade"
"$SITE_DIR/versions/$old/bin/stewardd" --version | grep -q "^stewardd $old " || fail "the old binary was not kept"
pass "1.1.0 taken: same PID, clients kept, DATA_DIR/current -> versions/1.1.0, the old binary kept for going back"

site_stop || fail "stewardd 1.1.0 did not stop cleanly"

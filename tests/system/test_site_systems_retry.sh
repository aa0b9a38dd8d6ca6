#!/usr/bin/env bash
# A remote site system whose upgrade rolled back is tried again only when an
# administrator asks, once the cause is fixed: `systems upgrade --to` makes
# a remote distribution point take release 1.2.0, whose stewardd fails its
# health checks on watch while a file exists (a test release: the cause);
# the DP goes back to its old version by itself and the site lists it
# upgrade_failed_rolled_back, and it is not asked again for 1.2.0. `systems
# retry` of a system that did not fail is refused (site_system_not_failed).
# The file removed (the cause fixed), `systems retry URL` makes it try once
# more, and it runs 1.2.0. docs/upgrading.md, "Remote site systems".
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")
build_release 1.2.0 site RELEASE_CMAKE_ARGS=-DSTEWARD_TEST_DIES_AFTER_START=ON
pass "stewardd release 1.2.0 built (a test release that fails on watch while $T/fault exists)"

site_start s1 --release_key "$PUB"
SITE=$SITE_URL
SITE_ADMIN=$ADMIN
ctl releases import "$T/out/steward-1.2.0.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
old=$(curl -fsS "$SITE/health" | jq -r .version)

touch "$T/fault"
STEWARD_TEST_FAULT=unhealthy STEWARD_TEST_FAULT_AFTER=1 STEWARD_TEST_FAULT_FILE=$T/fault \
	site_start dp --roles distribution_point --upstream "$SITE" --upstream_token_file "$SITE_ADMIN" \
	--dp_sync_interval 1s --release_key "$PUB" --site_upgrade_watch 30s \
	--site_upgrade_health_interval 1s
DP_URL=$SITE_URL
DP_PID=$SITE_PID
SITE_URL=$SITE
ADMIN=$SITE_ADMIN
dp_version() { curl -fsS --max-time 2 "$DP_URL/health" 2>/dev/null | jq -r .version; }
state() { ctl --json systems list | jq -r --arg u "$DP_URL" '.systems[] | select(.url == $u) | .state'; }
is() { [ "$(state)" = "$1" ]; }
wait_for 20 "the DP listed" is current

# a system that did not fail has nothing to retry
rc=0
ctl systems retry "$DP_URL" >"$T/bad.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of a retry with nothing failed"
grep -q "^error: site_system_not_failed" "$T/bad.out" || fail "$(cat "$T/bad.out")"
rc=0
ctl systems retry http://127.0.0.1:1 >"$T/bad.out" 2>&1 || rc=$?
grep -q "^error: site_system_not_found" "$T/bad.out" || fail "$(cat "$T/bad.out")"
pass "retry refused for a system that did not fail and for an unknown one"

# ---- the upgrade fails on watch and rolls back ----------------------------------------------
ctl systems upgrade --to 1.2.0 >"$T/up.out" || fail "systems upgrade: $(cat "$T/up.out")"
wait_for 60 "the DP tried 1.2.0" grep -q "siteupgrade health_check_failed" "$T/dp.log"
wait_for 60 "the site lists the DP as rolled back" is upgrade_failed_rolled_back
expect_eq "$(dp_version)" "$old" "the DP's version after the rollback"
kill -0 "$DP_PID" || fail "the DP process is gone"
tries=$(grep -c "siteupgrade starting from=" "$T/dp.log" || true)
sleep 4
expect_eq "$(grep -c "siteupgrade starting from=" "$T/dp.log" || true)" "$tries" \
	"attempts by the DP without a retry"
expect_eq "$(state)" upgrade_failed_rolled_back "state without a retry"
pass "1.2.0 failed on watch at the DP, which went back to $old and was not asked again"

# ---- the cause fixed, one retry ---------------------------------------------------------------
rm -f "$T/fault"
ctl systems retry "$DP_URL" >"$T/retry.out" 2>&1 || fail "systems retry: $(cat "$T/retry.out")"
grep -q "distribution_point  $old  upgrading" "$T/retry.out" || fail "after retry: $(cat "$T/retry.out")"
at() { [ "$(dp_version)" = "$1" ]; }
wait_for 60 "the DP runs 1.2.0 after the retry" at 1.2.0
wait_for 20 "the site lists the DP current" is current
kill -0 "$DP_PID" || fail "the DP process is gone"
grep -q "sitesystems retry url=$DP_URL version=1.2.0 by=admin" "$T/s1.log" || fail "no retry in the site's log"
pass "after systems retry the DP took 1.2.0 (same PID) and the site lists it current"

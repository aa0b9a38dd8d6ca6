#!/usr/bin/env bash
# Remote site systems are upgraded by their site server: a remote
# distribution point (stewardd with roles = distribution_point) shows up in
# `systems list` with its version; `systems upgrade --to` makes it upgrade
# itself from the release it synced (the same staged, backed-up, reversible
# upgrade as the site server's); one behind a link marked slow waits until
# an administrator confirms it.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")
build_release 1.1.0 site

site_start s1 --release_key "$PUB"
SITE=$SITE_URL
SITE_DIR_S1=$SITE_DIR
SITE_ADMIN=$ADMIN
# the DP holds a token of the service role distribution_point, not an admin's
ctl admins create dp1 --role distribution_point >"$T/dp.token" 2>/dev/null ||
	fail "admins create dp1 --role distribution_point"
ctl releases import "$T/out/steward-1.1.0.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
old=$(curl -fsS "$SITE/health" | jq -r .version)

site_start dp --roles distribution_point --upstream "$SITE" --upstream_token_file "$T/dp.token" \
	--upstream_pin "$(cat "$SITE_DIR_S1/tls.pin")" \
	--dp_sync_interval 1s --release_key "$PUB"
DP_URL=$SITE_URL
DP_PID=$SITE_PID
DP_DIR=$SITE_DIR
SITE_URL=$SITE
ADMIN=$SITE_ADMIN
dp_version() { curl -fsS --max-time 2 "$DP_URL/health" 2>/dev/null | jq -r .version; }
listed() { ctl --json systems list | jq -e --arg u "$DP_URL" --arg v "$1" \
	'.systems | map(select(.url == $u and .version == $v and .roles == "distribution_point")) | length == 1' >/dev/null; }
wait_for 20 "the DP listed with version $old" listed "$old"
ctl --json site show | jq -e '.consoles | map(select(.address == "127.0.0.1" and .admin == "admin")) | length <= 1' >/dev/null ||
	fail "the DP's calls are counted as a console"
pass "the remote distribution point is listed with its URL, roles and version"

# ---- a slow link waits for confirmation -----------------------------------------------
ctl systems slow "$DP_URL" >/dev/null || fail "systems slow"
ctl systems upgrade --to 1.1.0 >"$T/up.out" || fail "systems upgrade: $(cat "$T/up.out")"
grep -q "waiting_for_confirmation  (slow link)" "$T/up.out" || fail "state: $(cat "$T/up.out")"
wait_for 20 "the DP says it waits" grep -q "upgrade_waiting to=1.1.0 reason=\"the link to $DP_URL is marked slow" "$T/dp.log"
sleep 2
expect_eq "$(dp_version)" "$old" "DP version while it waits"
pass "behind a link marked slow the DP waits for confirmation and keeps $old"

# ---- confirmed: it upgrades itself ---------------------------------------------------------
ctl systems confirm "$DP_URL" >/dev/null || fail "systems confirm"
at() { [ "$(dp_version)" = "$1" ]; }
wait_for 60 "the DP runs 1.1.0" at 1.1.0
kill -0 "$DP_PID" || fail "the DP process is gone"
wait_for 20 "the site lists the DP at 1.1.0" listed 1.1.0
ctl systems list >"$T/list.out"
grep -q "distribution_point  1.1.0  current  (slow link)" "$T/list.out" || fail "list: $(cat "$T/list.out")"
expect_eq "$(readlink "$DP_DIR/current")" versions/1.1.0 "the DP's DATA_DIR/current"
ls "$DP_DIR"/backups/steward-"$old"-before-1.1.0-*.db >/dev/null || fail "the DP kept no backup"
pass "confirmed, the DP upgraded itself to 1.1.0 (same PID, backup kept) and the site lists it current"

# refusals
rc=0
ctl systems upgrade --to 9.9.9 >"$T/bad.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status for an unknown release"
grep -q "^error: release_not_found" "$T/bad.out" || fail "$(cat "$T/bad.out")"
rc=0
ctl systems confirm http://127.0.0.1:1 >"$T/bad.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status for an unknown system"
grep -q "^error: site_system_not_found" "$T/bad.out" || fail "$(cat "$T/bad.out")"
pass "an unknown release and an unknown site system are refused"

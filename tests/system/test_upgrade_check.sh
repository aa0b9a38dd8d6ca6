#!/usr/bin/env bash
# stewardctl upgrade check --to V, the checklist before an upgrade
# (server/readiness.c, docs/upgrading.md "Readiness check"):
#   - with installs running unchecked it fails (exit 5), the installs item
#     names the remedy; with no check-ins yet there is no quiet period;
#   - advertisements due within 24 h (mandatory in 2 h, recurring daily)
#     while adverts run: listed, the adverts item fails;
#   - after site pause-installs and site pause-adverts nothing fails (exit 0);
#   - a site below (C01) reports its installs up: running (warn), then
#     paused by pause-installs --hierarchy (pass);
#   - a release whose stewardd speaks another protocol, or that upgrades only
#     from a newer version, fails the versions item;
#   - a remote distribution point marked slow is listed (warn);
#   - accepted check-ins are counted per hour of the week and saved at a
#     clean stop; a history written into the settings with a known quiet
#     Wednesday 02:00-05:00 UTC gives --start at the next Wednesday 02:00;
#   - DATA_DIR/backups a file: the backup item fails;
#   - bad input: a release the site does not hold (404 release_not_found),
#     a malformed or too long version, no version (400).
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")
site_start up --enroll_auto_approve true --release_key "$PUB"
V=9.7.0
R=$("$BIN/steward-agent" --version | sed -n 's/.*protocol \([0-9]*-[0-9]*\).*/\1/p')
# stage VERSION SITE-RANGE [releases build args...]: a release of a stewardd
# (this build's binary: the check never runs it) and the agent
stage() {
	local v=$1 range=$2 s=$T/stage-$1
	shift 2
	mkdir -p "$s/stewardd/bin" "$s/steward-agent/bin"
	cp "$BIN/stewardd" "$s/stewardd/bin/"
	cp "$BIN/steward-agent" "$s/steward-agent/bin/"
	printf 'stewardd site %s %s\nsteward-agent base %s %s\n' "$v" "$range" "$v" "$R" >"$s/components"
	"$CTL" releases build --version "$v" --key "$T/rk" --stage "$s" --out "$T/r-$v.tar.zst" "$@" \
		>"$T/build-$v.out" 2>&1 || fail "releases build $v: $(cat "$T/build-$v.out")"
	ctl releases import "$T/r-$v.tar.zst" >"$T/import-$v.out" 2>&1 ||
		fail "import $v: $(cat "$T/import-$v.out")"
}
stage "$V" "$R"

# check [stewardctl args...]: upgrade check to $V; exit status in RC, output in $T/check.out
check() {
	RC=0
	ctl upgrade check --to "${TO:-$V}" "$@" >"$T/check.out" 2>&1 || RC=$?
}
item() { jq -r --arg id "$1" '.items[] | select(.id == $id) | .result' "$T/check.out"; }

# ---- installs running: fail, exit 5 ---------------------------------------------------------
check
expect_eq "$RC" 5 "exit status while installs run unchecked"
grep -q "^\[fail\] installs      this site (T01): installs run without a limit" "$T/check.out" ||
	fail "installs item: $(cat "$T/check.out")"
grep -q "^       remedy: stewardctl site pause-installs \[--hierarchy\]" "$T/check.out" ||
	fail "installs remedy: $(cat "$T/check.out")"
grep -q "^upgrade to $V at site T01: [1-9][0-9]* failed, [0-9]* warned: NOT READY" "$T/check.out" ||
	fail "summary: $(cat "$T/check.out")"
grep -q "^suggested: no --start (no check-in history yet)" "$T/check.out" ||
	fail "no history: $(cat "$T/check.out")"
check --json
expect_eq "$RC" 5 "exit status with --json"
expect_eq "$(jq -r '[.items[].id] | join(" ")' "$T/check.out")" \
	"installs adverts versions slow_systems slow_clients consoles backup quiet rollouts" "the items"
expect_eq "$(jq -r '"\(.to) \(.failed >= 1) \(.suggested_start)"' "$T/check.out")" "$V true null" "JSON summary"
jq -e 'all(.items[]; (.result | test("^(pass|warn|fail)$")) and (.facts | type) == "array"
	and (.remedy | type) == "string" and (.title | type) == "string")' "$T/check.out" >/dev/null ||
	fail "item shape: $(cat "$T/check.out")"
expect_eq "$(item installs) $(item adverts) $(item versions) $(item quiet)" "fail warn pass warn" \
	"installs, adverts, versions, quiet before the pauses"
jq -e '.items[] | select(.id == "slow_clients") | .facts | any(test("counted from: each client"))' \
	"$T/check.out" >/dev/null || fail "slow clients say what they count: $(cat "$T/check.out")"
pass "installs running unchecked: exit 5, the installs item fails with its remedy; no history, no --start"

# ---- an advertisement due within 24 h: the adverts item fails and lists it ---------------------
P=$T/pkg
mkdir -p "$P" && echo 'echo hi' >"$P/run.sh"
ctl packages add tool --version 1.0 --source "$P" >/dev/null || fail "packages add"
ctl programs add nightly --package tool@1.0 --command "sh run.sh" >/dev/null || fail "programs add"
ctl adverts create nightly --program nightly --collection "All Clients" --mandatory +2h \
	>"$T/ad.out" 2>&1 || fail "adverts create: $(cat "$T/ad.out")"
ctl adverts create daily --program nightly --collection "All Clients" --recurring 1d --start now \
	>"$T/ad.out" 2>&1 || fail "adverts create: $(cat "$T/ad.out")"
check --json
expect_eq "$(item adverts)" fail "adverts item with two due within 24 h"
jq -e '.items[] | select(.id == "adverts") | .facts | any(test("^  nightly \\(collection .All Clients.\\) at [0-9T:-]+Z$"))' \
	"$T/check.out" >/dev/null || fail "the advert due in 2 h: $(cat "$T/check.out")"
jq -e '.items[] | select(.id == "adverts") | .facts | any(test("^  daily .*, recurring$"))' \
	"$T/check.out" >/dev/null || fail "the recurring advert: $(cat "$T/check.out")"
pass "advertisements due within 24 h while adverts run: listed, the item fails"

# ---- paused: nothing fails ---------------------------------------------------------------
ctl site pause-installs >/dev/null || fail "pause-installs"
ctl site pause-adverts >/dev/null || fail "pause-adverts"
check
expect_eq "$RC" 0 "exit status once installs and adverts are paused: $(cat "$T/check.out")"
grep -q "^\[pass\] installs      this site (T01): paused" "$T/check.out" || fail "paused: $(cat "$T/check.out")"
grep -q "^\[pass\] adverts       advertisements are paused" "$T/check.out" || fail "adverts: $(cat "$T/check.out")"
grep -q "^\[fail\]" "$T/check.out" && fail "an item fails: $(cat "$T/check.out")"
grep -q "^upgrade to $V at site T01: 0 failed, [0-9]* warned: ready" "$T/check.out" ||
	fail "summary: $(cat "$T/check.out")"
check --json
expect_eq "$RC" 0 "exit status with --json"
expect_eq "$(jq -r '.failed' "$T/check.out")" 0 "failed items"
expect_eq "$(item installs) $(item adverts) $(item versions)" "pass pass pass" "after the pauses"
pass "after site pause-installs and site pause-adverts: exit 0, no item fails"

# ---- a site below: its installs as it reported them ---------------------------------------------
URL[up]=$SITE_URL ADM[up]=$ADMIN
UP_URL=$SITE_URL UP_DIR=$SITE_DIR UP_ADMIN=$ADMIN UP_PID=$SITE_PID
named_site c01 C01
attach c01 up
SITE_URL=$UP_URL SITE_DIR=$UP_DIR ADMIN=$UP_ADMIN SITE_PID=$UP_PID
below() { # TEXT: the installs item says TEXT of C01
	check --json
	jq -e --arg t "site C01 (below): $1" '.items[0].facts | any(startswith($t))' "$T/check.out" >/dev/null
}
wait_for 20 "C01's installs reported up" below "installs run without a limit"
expect_eq "$(item installs)" warn "installs item with C01 running installs"
ctl site pause-installs --hierarchy >/dev/null || fail "pause-installs --hierarchy"
wait_for 20 "C01's pause reported up" below "paused"
expect_eq "$(item installs)" pass "installs item with C01 paused"
jq -r '.items[] | select(.id == "versions") | .facts[]' "$T/check.out" >"$T/versions"
grep -q "^site C01 (level 1): .*, protocol [0-9]*-[0-9]*: " "$T/versions" || fail "C01's version: $(cat "$T/versions")"
kill "${PID[c01]}" && wait "${PID[c01]}" 2>/dev/null || true
pass "a site below: installs running (warn), then paused with --hierarchy (pass), as it reported"

# ---- the compatibility matrix: another protocol, upgrade_from above this version ----------
stage 9.8.0 "70-71"
TO=9.8.0 check --json
expect_eq "$RC" 5 "exit status for a stewardd on another protocol"
expect_eq "$(item versions)" fail "versions item, protocol 70-71"
jq -e '.items[] | select(.id == "versions") | .facts | any(test("^site T01 .*NOT READY: "))' \
	"$T/check.out" >/dev/null || fail "versions facts: $(cat "$T/check.out")"
stage 9.9.0 "$R" --upgrade-from 9.5.0
TO=9.9.0 check
expect_eq "$RC" 5 "exit status for a release upgrading from 9.5.0 only"
grep -q "older than 9.5.0, the oldest version release 9.9.0 upgrades from" "$T/check.out" ||
	fail "upgrade_from: $(cat "$T/check.out")"
pass "a stewardd on another protocol, a release upgrading only from 9.5.0: the versions item fails"

# ---- a remote distribution point behind a slow link ------------------------------------------
UP_URL=$SITE_URL UP_DIR=$SITE_DIR UP_ADMIN=$ADMIN UP_PID=$SITE_PID
site_start dp --roles distribution_point --upstream "$UP_URL" --upstream_token_file "$UP_ADMIN" \
	--dp_sync_interval 1s --release_key "$PUB"
DP=$SITE_URL DP_PID=$SITE_PID
SITE_URL=$UP_URL SITE_DIR=$UP_DIR ADMIN=$UP_ADMIN SITE_PID=$UP_PID
dp_listed() { ctl --json systems list | jq -e --arg u "$DP" '.systems | any(.url == $u)' >/dev/null; }
wait_for 20 "the distribution point listed" dp_listed
ctl systems slow "$DP" >/dev/null || fail "systems slow"
check --json
expect_eq "$(item slow_systems)" warn "slow systems item"
jq -e --arg u "$DP" '.items[] | select(.id == "slow_systems") | .facts[0] | startswith($u + " runs ")' \
	"$T/check.out" >/dev/null || fail "slow system listed: $(cat "$T/check.out")"
jq -e --arg u "$DP" '.items[] | select(.id == "versions") | .facts | any(startswith("site system " + $u))' \
	"$T/check.out" >/dev/null || fail "the site system's version: $(cat "$T/check.out")"
kill "$DP_PID" && wait "$DP_PID" 2>/dev/null || true
pass "a remote distribution point marked slow: listed with its version (warn)"

# ---- check-ins counted per hour of the week, saved at a clean stop ------------------------------
tok=$(new_token)
agent_once a1 "$tok" || fail "agent: $(tail -n 5 "$T/agent-a1.log")"
agent_once a1 || fail "agent check-in: $(tail -n 5 "$T/agent-a1.log")"
site_stop
hours=$(site_sql "$SITE_DIR" "SELECT value FROM settings WHERE key = 'checkin_hours'")
expect_eq "$(echo "$hours" | jq 'length')" 168 "hours in checkin_hours"
[ "$(echo "$hours" | jq 'add')" -ge 1 ] || fail "no check-in counted: $hours"
pass "check-ins counted per hour of the week and saved at a clean stop"

# ---- a synthetic history: Wednesday 02:00-05:00 UTC is quiet --------------------------------------
# hour 0 is Monday 00:00 UTC; Wednesday 02:00 is hour 50
hist=$(jq -nc '[range(168) | if . >= 50 and . < 53 then 1 else 40 end]')
site_sql "$SITE_DIR" "INSERT INTO settings(key, value) VALUES ('checkin_hours', '$hist')
	ON CONFLICT(key) DO UPDATE SET value = excluded.value"
site_restart
now=$(date +%s)
nb=$(((now + 3599) / 3600 * 3600))
d=$(((50 - (nb / 3600 + 72) % 168 + 168) % 168))
want=$(date -u -d "@$((nb + d * 3600))" +%Y-%m-%dT%H:%M:%SZ)
check --json
expect_eq "$(jq -r .suggested_start "$T/check.out")" "$want" "suggested start"
expect_eq "$(item quiet)" pass "quiet item"
jq -e '.items[] | select(.id == "quiet") | .facts[0] | test("begin Wednesday 02:00 UTC: 3 of ")' \
	"$T/check.out" >/dev/null || fail "quiet facts: $(cat "$T/check.out")"
check
grep -qF "suggested: --start \"$(date -d "$want" '+%Y-%m-%d %H:%M')\" (local time; $(date -u -d "$want" '+%Y-%m-%d %H:%M') UTC)" \
	"$T/check.out" || fail "suggested start: $(cat "$T/check.out")"
pass "a history with a quiet Wednesday 02:00 UTC: --start $want"

# ---- a backup directory the upgrade cannot use: the backup item fails --------------------------
rm -rf "$SITE_DIR/backups" && : >"$SITE_DIR/backups"
check --json
expect_eq "$RC" 5 "exit status when the backup cannot be made"
expect_eq "$(item backup)" fail "backup item with DATA_DIR/backups a file"
jq -e '.items[] | select(.id == "backup") | .facts[0] | test("cannot back up the database: .*backups is not a directory")' \
	"$T/check.out" >/dev/null || fail "backup facts: $(cat "$T/check.out")"
rm -f "$SITE_DIR/backups"
pass "DATA_DIR/backups not a directory: the backup item fails (exit 5)"

# ---- bad input ---------------------------------------------------------------------------------
TO=9.9.9 check
expect_eq "$RC" 1 "exit status for a release the site does not hold"
grep -q "^error: release_not_found: no release 9.9.9 on this site" "$T/check.out" || fail "404: $(cat "$T/check.out")"
grep -q "^remedy: import it first" "$T/check.out" || fail "404 remedy: $(cat "$T/check.out")"
TO=1.x check
expect_eq "$RC" 2 "exit status for a malformed version"
expect_status "$(admin_call GET '/api/v1/upgrade/check?to=9.9.9')" 404 release_not_found
expect_status "$(admin_call GET '/api/v1/upgrade/check?to=1.x')" 400 bad_request
expect_status "$(admin_call GET '/api/v1/upgrade/check?to=1.2.3;rm')" 400 bad_request
expect_status "$(admin_call GET "/api/v1/upgrade/check?to=1.2.$(printf '%040d' 3)")" 400 bad_request
expect_status "$(admin_call GET '/api/v1/upgrade/check')" 400 bad_request
curl -fsS "$SITE_URL/health" >/dev/null || fail "stewardd not healthy after bad input"
pass "bad input: a missing release 404, malformed, too long or no version 400"

#!/usr/bin/env bash
# steward-sim takes client upgrades as the real agent does: 200 virtual
# clients of agent 0.0.1 are offered this build's release (staged without
# compiling) through "All Clients"; each downloads bin/steward-agent from
# the DP with its content token and switches; 25% (chosen by client id and
# release, so the same clients every run) roll back. The sim's counters,
# its --versions-out and the site's view (releases show, clients list)
# must agree, and a second run with --reuse must not take the failed
# release again.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

command -v jq >/dev/null || fail "jq missing (scripts/deps.sh installs it)"
SIM=$BIN/steward-sim
[ -x "$SIM" ] || fail "steward-sim not built ($SIM)"
"$SIM" --help 2>&1 | grep -q -- --upgrade-fail-rate || fail "steward-sim has no --upgrade-fail-rate"

N=200
OLD=0.0.1
CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")
NEW=$(build_version)
stage_release "$T/rk" "$T/out/steward-$NEW.tar.zst"

# release_halt_failures 0: the site keeps offering the release whatever
# fails, so that the clients' own refusal to take it again is checked
site_start s1 --enroll_auto_approve true --release_key "$PUB" --release_halt_failures 0
ctl releases import "$T/out/steward-$NEW.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
ctl site client-upgrade --collection "All Clients" >"$T/cu.out" || fail "client-upgrade: $(cat "$T/cu.out")"
pass "release $NEW imported and offered to All Clients"

sim() { # sim OUT [args...]
	local out=$1
	shift
	"$SIM" --server "$SITE_URL" --token-file "$ADMIN" --clients $N --concurrency 32 \
		--timeout 10s --setup-timeout 60s --state "$T/fleet.state" --json --quiet "$@" \
		>"$T/$out.json" 2>"$T/$out.log" || fail "steward-sim $out: $(tail -n 5 "$T/$out.log")"
}
num() { jq -r ".$2" "$T/$1.json"; }

# ---- phase 1: the upgrade, a quarter failing -----------------------------------------
# (16 s: time for every failed client to check in again, with room for a
# sanitizer build on a busy machine, where 8 s left two thirds without)
sim run1 --agent-version $OLD --upgrade-fail-rate 25 --duration 16s --versions-out "$T/v1"
OK=$(num run1 upgrades_succeeded)
FAILED=$(num run1 upgrades_failed)
expect_eq "$(num run1 errors)" 0 "errors in run 1 ($(cat "$T/run1.json"))"
expect_eq "$(num run1 upgrades_offered)" $N "upgrades offered"
expect_eq "$((OK + FAILED))" $N "succeeded + failed"
expect_eq "$(num run1 content_requests)" $N "content requests (one blob each, none taken twice)"
SIZE=$(tar --zstd -xOf "$T/out/steward-$NEW.tar.zst" components/steward-agent/bin/steward-agent | wc -c)
expect_eq "$(num run1 content_bytes)" $((N * SIZE)) "content bytes (bin/steward-agent is $SIZE bytes)"
# 25% of 200: a binomial count, about 50
[ "$FAILED" -ge 25 ] && [ "$FAILED" -le 75 ] || fail "$FAILED of $N failed with --upgrade-fail-rate 25"
# every failed client was offered the release again and did not take it
expect_eq "$(num run1 upgrades_skipped)" "$FAILED" "failed clients that declined the release again"
pass "sim: $N offered, $OK succeeded, $FAILED rolled back, $N blobs of $SIZE bytes"

# the documented choice: SHA-256("CLIENT_ID RELEASE"), first 8 hex digits, mod 10000 < 2500
expect_eq "$(wc -l <"$T/v1")" $N "lines of --versions-out"
want_failed=0
while read -r id v; do
	h=$(printf '%s %s' "$id" "$NEW" | sha256sum | cut -c1-8)
	if [ $((16#$h % 10000)) -lt 2500 ]; then
		want_failed=$((want_failed + 1))
		expect_eq "$v" $OLD "version of $id (chosen to fail)"
	else
		expect_eq "$v" "$NEW" "version of $id (chosen to succeed)"
	fi
done <"$T/v1"
expect_eq "$FAILED" $want_failed "failures the rule predicts"
pass "the failing clients are the ones SHA-256(\"ID $NEW\") chooses"

# ---- the site's view -----------------------------------------------------------------
ctl --json releases show "$NEW" >"$T/rel.json" || fail "releases show $NEW"
expect_eq "$(jq -r .succeeded "$T/rel.json")" "$OK" "succeeded as the site counts ($(cat "$T/rel.json"))"
expect_eq "$(jq -r .failed "$T/rel.json")" "$FAILED" "failed as the site counts"
ctl --json clients list >"$T/clients.json" || fail "clients list"
jq -r '.[] | "\(.id) \(.agent_version)"' "$T/clients.json" | sort >"$T/site-versions"
sort "$T/v1" >"$T/sim-versions"
cmp -s "$T/site-versions" "$T/sim-versions" ||
	fail "the site's agent versions differ from the sim's: $(diff "$T/site-versions" "$T/sim-versions" | head -n 6)"
# the outcome in the agent's own words
one_failed=$(awk -v o=$OLD '$2 == o { print $1; exit }' "$T/v1")
one_ok=$(awk -v n="$NEW" '$2 == n { print $1; exit }' "$T/v1")
ctl clients show "$one_failed" >"$T/failed.show"
grep -q "upgrade_failed_rolled_back  upgrade to $NEW failed and was rolled back to $OLD: simulated failure" "$T/failed.show" ||
	fail "status of $one_failed: $(cat "$T/failed.show")"
ctl clients show "$one_ok" >"$T/ok.show"
grep -q "upgrade_succeeded  now running $NEW (slot B)" "$T/ok.show" || fail "status of $one_ok: $(cat "$T/ok.show")"
pass "the site counts $OK succeeded and $FAILED rolled back, and lists the same version per client"

# ---- phase 2: the same fleet again; the failed release is not taken again -------------
sim run2 --reuse --upgrade-fail-rate 25 --duration 3s --versions-out "$T/v2"
expect_eq "$(num run2 errors)" 0 "errors in run 2 ($(cat "$T/run2.json"))"
expect_eq "$(num run2 upgrades_offered)" 0 "offers taken in run 2"
expect_eq "$(num run2 content_requests)" 0 "downloads in run 2"
expect_eq "$(num run2 upgrades_skipped)" "$FAILED" "offers declined in run 2"
cmp -s "$T/v1" "$T/v2" || fail "versions changed in run 2: $(diff "$T/v1" "$T/v2" | head -n 6)"
expect_eq "$(ctl --json releases show "$NEW" | jq -r .failed)" "$FAILED" "failed as the site counts after run 2"
pass "run 2 (--reuse): the $FAILED clients that rolled back did not take $NEW again"

# ---- phase 3: back to an older release -----------------------------------------------
# 0.0.5 (the same binaries), imported as a rollback: without the release
# key's authorization the clients that ran $NEW refuse it (release_older)
# while those still on $OLD take it as an upgrade; with it, they go down
PREV=0.0.5
s=$(mktemp -d "$T/stage.XXXXXX")
mkdir -p "$s/steward-agent/bin" "$s/steward-launcher/bin"
cp "$BIN/steward-agent" "$s/steward-agent/bin/"
cp "$BIN/steward-launcher" "$s/steward-launcher/bin/"
r=$("$BIN/steward-agent" --version | sed -n 's/.*protocol \([0-9]*-[0-9]*\).*/\1/p')
printf 'steward-agent base %s %s\nsteward-launcher launcher %s %s\n' $PREV "$r" $PREV "$r" >"$s/components"
"$CTL" releases build --version $PREV --key "$T/rk" --stage "$s" --out "$T/out/steward-$PREV.tar.zst" \
	>"$T/build-prev.out" 2>&1 || fail "releases build $PREV: $(cat "$T/build-prev.out")"
ctl releases import "$T/out/steward-$PREV.tar.zst" --rollback >"$T/import.out" 2>&1 || fail "import $PREV: $(cat "$T/import.out")"
# runs 3 and 4 move clients (downloads and installs): as long as run 1, so
# that a slow machine (a sanitizer build) finishes every one in time
sim run3 --reuse --duration 8s --versions-out "$T/v3"
expect_eq "$(num run3 errors)" 0 "errors in run 3 ($(cat "$T/run3.json"))"
expect_eq "$(num run3 upgrades_offered)" "$FAILED" "offers of $PREV taken without an authorization"
expect_eq "$(num run3 upgrades_succeeded)" "$FAILED" "upgrades to $PREV"
expect_eq "$(num run3 upgrades_skipped)" "$OK" "offers of $PREV refused as older"
expect_eq "$(grep -c " $PREV\$" "$T/v3")" "$FAILED" "clients on $PREV after run 3"
ctl clients show "$one_ok" | grep -q "release_older  release $PREV is older than $NEW, which ran here: the offer carries no rollback authorization" ||
	fail "no release_older for $one_ok: $(ctl clients show "$one_ok")"
"$CTL" releases rollback-sign --key "$T/rk" --version $PREV --valid-for 1h >"$T/auth" 2>/dev/null || fail "rollback-sign"
ctl releases import "$T/out/steward-$PREV.tar.zst" --rollback --authorization "$(cat "$T/auth")" >"$T/rb.out" 2>&1 ||
	fail "import with the authorization: $(cat "$T/rb.out")"
sim run4 --reuse --duration 8s --versions-out "$T/v4"
expect_eq "$(num run4 errors)" 0 "errors in run 4 ($(cat "$T/run4.json"))"
expect_eq "$(num run4 upgrades_offered)" "$OK" "authorized rollbacks taken"
expect_eq "$(num run4 upgrades_succeeded)" "$OK" "rollbacks to $PREV"
expect_eq "$(grep -c " $PREV\$" "$T/v4")" $N "clients on $PREV after run 4"
ctl clients show "$one_ok" | grep -q "upgrade_succeeded  now running $PREV (slot A)" ||
	fail "no rollback report for $one_ok: $(ctl clients show "$one_ok")"
pass "rollback to $PREV: refused as older without the authorization ($OK), taken with it; all $N on $PREV"

#!/usr/bin/env bash
# Releases flow down the hierarchy: a release imported at central CEN is
# fetched (its files from the parent, each checked against the signed
# manifest) and imported by C01 below it, which passes it on to C02 below
# it, stopped meanwhile and started later; C03, which does not trust the
# release key, refuses it, and CEN's `releases show` says so for each site
# below. A machine installs the release from C02.
. "$(dirname "$0")/lib.sh"

"$BIN/stewardctl" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
"$BIN/stewardctl" releases keygen --out "$T/other" >/dev/null || fail "keygen other"
PUB=$(cat "$T/rk.pub")
V=$(build_version)
stage_release "$T/rk" "$T/out/steward-$V.tar.zst"

named_site cen CEN --release_key "$PUB"
named_site c01 C01 --release_key "$PUB"
named_site c02 C02 --release_key "$PUB"
named_site c03 C03 --release_key "$(cat "$T/other.pub")"
attach c01 cen
attach c02 c01
attach c03 cen
# C02 is down while the release goes out
kill -TERM "${PID[c02]}"
wait "${PID[c02]}" 2>/dev/null || true

on cen releases import "$T/out/steward-$V.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
held() { on "$1" --json releases list | jq -e --arg v "$V" 'map(select(.version == $v)) | length == 1' >/dev/null; }
wait_for 30 "release $V at C01" held c01
expect_eq "$(on c01 --json releases show "$V" | jq -r .imported_by)" "site CEN" "who imported it at C01"
expect_eq "$(on c01 --json site show | jq -r .installs.release)" "$V" "release C01 installs"
state_below() { on cen --json releases show "$V" | jq -r --arg s "$1" '.sites_below[] | select(.site == $s) | .state'; }
imported_c01() { [ "$(state_below C01)" = imported ]; }
wait_for 30 "C01's report at CEN" imported_c01
refused_c03() { [ "$(state_below C03)" = refused ]; }
wait_for 30 "C03's refusal at CEN" refused_c03
on cen --json releases show "$V" | jq -r '.sites_below[] | select(.site == "C03") | .detail' | grep -q "release_untrusted" ||
	fail "C03's reason: $(on cen --json releases show "$V" | jq .sites_below)"
held c03 && fail "C03 imported a release signed by a key it does not trust"
on cen releases show "$V" | grep -qE "^C03 +refused " || fail "releases show at CEN: $(on cen releases show "$V")"
pass "a release imported at CEN reaches C01 (its files fetched and checked); C03, trusting another key, refuses it and CEN says why"

# C02 was down: it gets it when it comes back, from C01
SITE_CODE=C02 SITE_DIR=${DIR[c02]} SITE_URL=${URL[c02]} site_restart --site_name "site C02" \
	--enroll_auto_approve true --release_key "$PUB"
wait_for 60 "release $V at C02 after its restart" held c02
imported_c02() { [ "$(state_below C02)" = imported ]; }
wait_for 30 "C02's report at CEN, through C01" imported_c02
tok=$(on c02 --json enroll-tokens create --uses 1 --ttl 1h | jq -r .token)
rc=0
curl -fsS "${URL[c02]}/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$T/m1" --token "$tok" --no-start >"$T/boot.out" 2>&1 || rc=$?
expect_eq "$rc" 0 "install from C02: $(cat "$T/boot.out")"
"$T/m1/current/bin/steward-agent" --version | grep -q "^steward-agent $V " || fail "the installed agent"
pass "C02, down while it went out, fetched it from C01 once back; a machine installs it from C02"

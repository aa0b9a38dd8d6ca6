#!/usr/bin/env bash
# Consoles: the site lists the stewardctl copies that called it in the
# last 30 days with their versions (kept across a restart), and
# stewardctl self-update replaces itself with the console of the site's
# release after checking the signed manifest, the pinned key and the
# file's hash; a wrong key or a tampered file leaves it as it was.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
"$CTL" releases keygen --out "$T/other" >/dev/null || fail "keygen other"
PUB=$(cat "$T/rk.pub")
build_release 1.1.0 console
site_start s1 --release_key "$PUB"
ctl releases import "$T/out/steward-1.1.0.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
mkdir -p "$T/ctl"
cp "$CTL" "$T/ctl/stewardctl"
MINE=$T/ctl/stewardctl
mine() { "$MINE" -s "$SITE_URL" -t "$ADMIN" "$@"; }
V=$("$CTL" --version | awk '{print $2}')

# ---- consoles seen ---------------------------------------------------------------
mine --json site show >"$T/show.json" || fail "site show"
jq -e --arg v "$V" '.consoles | map(select(.admin == "admin" and .version == $v and .address == "127.0.0.1")) | length == 1' \
	"$T/show.json" >/dev/null || fail "consoles: $(jq .consoles "$T/show.json")"
mine site show >"$T/show.txt"
grep -q "^Consoles seen in the last 30 days" "$T/show.txt" || fail "site show text: $(cat "$T/show.txt")"
grep -q "^  admin  $V  1-1  127.0.0.1  " "$T/show.txt" || fail "console line: $(cat "$T/show.txt")"
pass "site show lists the consoles that called, with their versions"

# ---- self-update: refusals leave the binary alone -------------------------------------
cp "$MINE" "$T/before"
rc=0
mine self-update --release-key "$(cat "$T/other.pub")" >"$T/su.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status with another key pinned"
grep -q "^error: release_untrusted: release 1.1.0 is signed with key $PUB, not the --release-key given" "$T/su.out" ||
	fail "pin: $(cat "$T/su.out")"
cmp -s "$MINE" "$T/before" || fail "the refused self-update changed stewardctl"
hash=$(tar --zstd -xOf "$T/out/steward-1.1.0.tar.zst" release.manifest | awk -F '\t' '$1 == "file" && $2 == "stewardctl" {print $5}')
blob=$SITE_DIR/content/blobs/${hash:0:2}/$hash
cp "$blob" "$T/blob.good"
printf 'XXXX' | dd of="$blob" bs=1 seek=4096 conv=notrunc status=none
rc=0
mine self-update --release-key "$PUB" >"$T/su.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status with a tampered file"
grep -q "^error: release_signature: the downloaded stewardctl has SHA-256 .*, not $hash as signed" "$T/su.out" ||
	fail "tamper: $(cat "$T/su.out")"
cmp -s "$MINE" "$T/before" || fail "a tampered file replaced stewardctl"
[ ! -e "$MINE.new" ] || fail "a tampered download was left next to stewardctl"
cp "$T/blob.good" "$blob"
pass "self-update refuses another key and a tampered file, and changes nothing"

# ---- self-update: to the release's console -------------------------------------------------
mine self-update --release-key "$PUB" >"$T/su.out" 2>&1 || fail "self-update: $(cat "$T/su.out")"
grep -q "stewardctl updated from $V to 1.1.0" "$T/su.out" || fail "$(cat "$T/su.out")"
"$MINE" --version | grep -q "^stewardctl 1.1.0 " || fail "the new stewardctl: $("$MINE" --version)"
mine self-update --release-key "$PUB" >"$T/su.out" 2>&1 || fail "second self-update: $(cat "$T/su.out")"
grep -q "already the newest console" "$T/su.out" || fail "$(cat "$T/su.out")"
ctl --json site show >"$T/show.json"
jq -e '.consoles | map(select(.version == "unknown")) | length == 0' "$T/show.json" >/dev/null ||
	fail "a stewardctl call did not name its version: $(jq .consoles "$T/show.json")"
pass "self-update replaced stewardctl $V with the release's 1.1.0; a second run has nothing to do"

# a caller that names no version is listed as unknown
curl -fsS -H "Authorization: Bearer $(cat "$ADMIN")" "$SITE_URL/api/v1/clients" >/dev/null
ctl --json site show >"$T/show.json"
jq -e '.consoles | map(select(.version == "unknown")) | length == 1' "$T/show.json" >/dev/null ||
	fail "a caller without Steward-Version is not listed as unknown: $(jq .consoles "$T/show.json")"
pass "an admin caller without Steward-Version is listed as an unknown console"

# ---- the list survives a restart ----------------------------------------------------------
site_stop
site_restart --release_key "$PUB"
ctl --json site show >"$T/show.json"
jq -e '.consoles | map(select(.version == "1.1.0")) | length == 1' "$T/show.json" >/dev/null ||
	fail "consoles after a restart: $(jq .consoles "$T/show.json")"
pass "the consoles seen are kept across a restart"

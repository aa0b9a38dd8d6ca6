#!/usr/bin/env bash
# A console left behind (issue 20): a stewardctl that shares no protocol
# with its site is refused on every call at once, with a remedy that works:
# `stewardctl self-update`, whose two routes (GET /update/console and
# /update/console/files/HASH) skip the version handshake. The site lists the
# refused console (site show) with its version and why. self-update keeps
# every check: a wrong --release-key or a tampered file changes nothing;
# with the right key the console becomes the site's protocol-1 release and
# its writes work again. docs/upgrading.md, "A console left behind", shows
# the same commands.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
SITE_V=$("$BIN/stewardd" --version | awk '{print $2}')
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
"$CTL" releases keygen --out "$T/other" >/dev/null || fail "keygen other"
PUB=$(cat "$T/rk.pub")

build_release 2.0.0 console PROTO_MIN=2 PROTO_MAX=2 # a console of another protocol: the one left behind
build_release 1.1.0 console                       # the console of the site's protocol the site offers
"$T/build-2.0.0/bin/stewardctl" --version | grep -q '^stewardctl 2.0.0 (API 1, protocol 2-2)' ||
	fail "the 2.0.0 console: $("$T/build-2.0.0/bin/stewardctl" --version)"

site_start s1 --release_key "$PUB"
ctl releases import "$T/out/steward-1.1.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 1.1.0: $(cat "$T/import.out")"
# newer, but its console speaks protocol 2 only: never offered to consoles here
ctl releases import "$T/out/steward-2.0.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 2.0.0: $(cat "$T/import.out")"

mkdir -p "$T/old"
cp "$T/build-2.0.0/bin/stewardctl" "$T/old/stewardctl"
OLD=$T/old/stewardctl
old() { "$OLD" -s "$SITE_URL" -t "$ADMIN" "$@"; }

# ---- every other call is refused at once, naming self-update ---------------------------
ctl --json enroll-tokens list >"$T/tokens.before" || fail "enroll-tokens list"
for call in "clients list" "site show" "enroll-tokens create --uses 1 --ttl 1h"; do
	rc=0
	# shellcheck disable=SC2086 # the call's words, split on purpose
	timeout 5 "$OLD" -s "$SITE_URL" -t "$ADMIN" $call >"$T/old.out" 2>&1 || rc=$?
	[ $rc -ne 124 ] || fail "'$call' from the 2.0.0 console: no answer within 5 s"
	expect_eq "$rc" 3 "exit status of '$call' from the 2.0.0 console"
	grep -q "^error: version_incompatible: peer 2.0.0 speaks protocol 2-2; this site ($SITE_V) speaks 1-1" "$T/old.out" ||
		fail "'$call': $(cat "$T/old.out")"
	grep -q "^remedy: update this console: stewardctl self-update (it works whatever the protocol)" "$T/old.out" ||
		fail "'$call' does not name stewardctl self-update: $(cat "$T/old.out")"
done
ctl --json enroll-tokens list >"$T/tokens.after"
cmp -s "$T/tokens.before" "$T/tokens.after" || fail "a refused enroll-tokens create made a token"
pass "the 2.0.0 console (protocol 2-2) is refused within 5 s on reads and writes, the remedy names stewardctl self-update"

# a console of another API major is told the same
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $(cat "$ADMIN")" \
	-H 'Steward-Version: 7.0.0' -H 'Steward-Api: 2' "$SITE_URL/api/v1/clients")
expect_eq "$code" 409 "a console of API 2"
jq -e '.error.code == "version_incompatible" and (.error.remedy | test("stewardctl self-update"))' "$T/resp" >/dev/null ||
	fail "API 2: $(cat "$T/resp")"
pass "a console of another API is refused with the same remedy"

# ---- the site lists the refused console -------------------------------------------------
ctl --json site show >"$T/show.json" || fail "site show"
jq -e '.consoles | map(select(.admin == "admin" and .version == "2.0.0" and .protocol == "2-2" and
	.address == "127.0.0.1" and .refused == true and
	.reason == "speaks protocol 2-2, site 1-1; run stewardctl self-update")) | length == 1' \
	"$T/show.json" >/dev/null || fail "the refused console in site show --json: $(jq .consoles "$T/show.json")"
jq -e --arg v "$SITE_V" '.consoles | map(select(.version == $v and .refused == false)) | length == 1' \
	"$T/show.json" >/dev/null || fail "the accepted console in site show --json: $(jq .consoles "$T/show.json")"
ctl site show >"$T/show.txt"
grep -q "^  admin  2\.0\.0  2-2  127\.0\.0\.1  [0-9T:Z-]*  refused: speaks protocol 2-2, site 1-1; run stewardctl self-update$" "$T/show.txt" ||
	fail "the refused console in site show: $(cat "$T/show.txt")"
# a refused caller whose token is not the site's is not listed
BOGUS=stw_$(head -c 64 /dev/zero | tr '\0' 1)
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $BOGUS" \
	-H 'Steward-Version: 9.9.9' -H 'Steward-Protocol: 9-9' "$SITE_URL/api/v1/site")
expect_eq "$code" 409 "an incompatible caller with an unknown token"
ctl --json site show >"$T/show.json"
jq -e '.consoles | map(select(.version == "9.9.9")) | length == 0' "$T/show.json" >/dev/null ||
	fail "a caller with an unknown token was listed: $(jq .consoles "$T/show.json")"
pass "site show lists the refused console with version 2.0.0 and why; unknown tokens are not listed"

# ---- the update routes answer any version, and only with console files -----------------
H_AUTH="Authorization: Bearer $(cat "$ADMIN")"
curl -fsS -H "$H_AUTH" -H 'Steward-Version: 2.0.0' -H 'Steward-Protocol: 2-2' -H 'Steward-Api: 2' \
	"$SITE_URL/update/console" >"$T/update.json" || fail "GET /update/console from protocol 2"
jq -e --arg v "$SITE_V" '.format == "steward-console-update-1" and .site.version == $v and
	.site.protocol == "1-1" and .site.api == 1 and .release.version == "1.1.0" and
	.console.version == "1.1.0" and .console.protocol == "1-1" and .console.path == "bin/stewardctl" and
	(.release.manifest | startswith("steward-release")) and
	.console.download == "/update/console/files/" + .console.sha256' "$T/update.json" >/dev/null ||
	fail "the console update document: $(jq 'del(.release.manifest)' "$T/update.json")"
hash=$(jq -r .console.sha256 "$T/update.json")
curl -fsS -H "$H_AUTH" -H 'Steward-Protocol: 2-2' "$SITE_URL/update/console/files/$hash" >"$T/file" ||
	fail "GET /update/console/files/HASH from protocol 2"
[ "$(sha256sum <"$T/file" | awk '{print $1}')" = "$hash" ] || fail "the console file's hash"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H "$H_AUTH" "$SITE_URL/update/console?version=2.0.0")
expect_eq "$code" 404 "asking for the protocol-2 console"
expect_eq "$(jq -r .error.code "$T/resp")" release_not_found "code for the protocol-2 console"
manifest=$(ctl --json releases show 1.1.0 | jq -r .manifest)
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H "$H_AUTH" "$SITE_URL/update/console/files/$manifest")
expect_eq "$code" 404 "a blob that is no console file"
expect_eq "$(jq -r .error.code "$T/resp")" not_a_console_file "code for a blob that is no console file"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Steward-Protocol: 2-2' "$SITE_URL/update/console")
expect_eq "$code" 401 "GET /update/console without a token"
pass "/update/console offers release 1.1.0 to a protocol-2 console; its files route serves console files only"

# ---- self-update: refusals leave the binary alone -------------------------------------
cp "$OLD" "$T/before"
rc=0
timeout 30 "$OLD" -s "$SITE_URL" -t "$ADMIN" self-update --release-key "$(cat "$T/other.pub")" >"$T/su.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status with another key pinned"
grep -q "^error: release_untrusted: release 1.1.0 is signed with key $PUB, not the --release-key given" "$T/su.out" ||
	fail "pin: $(cat "$T/su.out")"
cmp -s "$OLD" "$T/before" || fail "the refused self-update changed stewardctl"
blob=$SITE_DIR/content/blobs/${hash:0:2}/$hash
cp "$blob" "$T/blob.good"
printf 'XXXX' | dd of="$blob" bs=1 seek=4096 conv=notrunc status=none
rc=0
timeout 30 "$OLD" -s "$SITE_URL" -t "$ADMIN" self-update --release-key "$PUB" >"$T/su.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status with a tampered file"
grep -q "^error: release_signature: the downloaded stewardctl has SHA-256 .*, not $hash as signed" "$T/su.out" ||
	fail "tamper: $(cat "$T/su.out")"
cmp -s "$OLD" "$T/before" || fail "a tampered file replaced stewardctl"
[ ! -e "$OLD.new" ] || fail "a tampered download was left next to stewardctl"
cp "$T/blob.good" "$blob"
pass "the left-behind console's self-update refuses another key and a tampered file, and changes nothing"

# ---- self-update: back to the site's protocol -------------------------------------------
timeout 30 "$OLD" -s "$SITE_URL" -t "$ADMIN" self-update --release-key "$PUB" >"$T/su.out" 2>&1 ||
	fail "self-update: $(cat "$T/su.out")"
grep -q "^stewardctl updated from 2.0.0 to 1.1.0 " "$T/su.out" || fail "$(cat "$T/su.out")"
"$OLD" --version | grep -q "^stewardctl 1.1.0 (API 1, protocol 1-1)" || fail "the new stewardctl: $("$OLD" --version)"
old --json enroll-tokens create --uses 1 --ttl 1h >"$T/token.json" || fail "a write after self-update"
jq -e '.token | length > 0' "$T/token.json" >/dev/null || fail "enroll-tokens create: $(cat "$T/token.json")"
old --json site show >"$T/show.json" || fail "site show after self-update"
jq -e '.consoles | map(select(.version == "1.1.0" and .refused == false)) | length == 1' "$T/show.json" >/dev/null ||
	fail "the updated console in site show: $(jq .consoles "$T/show.json")"
pass "self-update took the 2.0.0 console to 1.1.0 (protocol 1-1); its writes work again"

# ---- the refused mark survives a restart ------------------------------------------------
site_stop
site_restart --release_key "$PUB"
ctl --json site show >"$T/show.json"
jq -e '.consoles | map(select(.version == "2.0.0" and .refused == true and (.reason | test("self-update")))) | length == 1' \
	"$T/show.json" >/dev/null || fail "the refused console after a restart: $(jq .consoles "$T/show.json")"
pass "the refused console is still listed as refused after a restart"

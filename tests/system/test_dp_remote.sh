#!/usr/bin/env bash
# Remote distribution points (server/dpsync.c): a stewardd with
# roles = distribution_point and upstream = the site server pulls every blob
# the site's packages need, verified before it becomes visible; resumes a
# partial transfer with Range; rejects and refetches bytes that do not hash
# right; serves the blobs to content tokens signed by the site's key (also
# after a restart while the site is unreachable); finds and repairs a blob
# damaged on its own disk; drops blobs of deleted packages; refuses a
# configuration that cannot work; and stops promptly.
. "$(dirname "$0")/lib.sh"

WAIT_S=20

sha() { sha256sum "$1" | cut -c1-64; }
size() { stat -c %s "$1"; }
blob_path() { echo "$1/content/blobs/${2:0:2}/$2"; } # DATA_DIR HASH

# holds DATA_DIR HASH: the DP's store has the blob and its bytes hash to its name
holds() {
	local f
	f=$(blob_path "$1" "$2")
	[ -f "$f" ] && [ "$(sha "$f")" = "$2" ]
}
gone() { [ ! -e "$(blob_path "$1" "$2")" ]; }

# mint_token KEYFILE CLIENTID EXPIRES: a content token as the site signs it
# (docs/internals/swdist.md) from a libsodium secret key file (seed || pk)
mint_token() {
	{
		printf '\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20'
		head -c 32 "$1"
	} >"$T/k.der"
	openssl pkey -inform DER -in "$T/k.der" -out "$T/k.pem" 2>/dev/null ||
		fail "openssl cannot read an Ed25519 key"
	printf 'steward-content-v1\n%s\n%s\n' "$2" "$3" >"$T/canon"
	echo "v1.$2.$3.$(openssl pkeyutl -sign -inkey "$T/k.pem" -rawin -in "$T/canon" | base64 -w0)"
}

# dp_get AUTH HASH: GET DP/content/HASH into $T/got; prints the status
dp_get() {
	curl -sS -o "$T/got" -w '%{http_code}' -H "Authorization: $1" "$DP_URL/content/$2"
}

command -v openssl >/dev/null || fail "openssl missing (scripts/deps.sh installs it)"

# ---- the site server: two blobs in one package ------------------------------------
site_start site
SITE=$SITE_URL
SITE_D=$SITE_DIR
SITE_ADMIN=$ADMIN
# the DP holds a token of the service role distribution_point, not an admin's
ctl admins create dp1 --role distribution_point >"$T/dp.token" 2>/dev/null ||
	fail "admins create dp1 --role distribution_point"
DP_TOKEN=$T/dp.token
# and the site's certificate pin, which its token file does not bring
SITE_PIN=$(cat "$SITE_D/tls.pin")
head -c 3000000 /dev/urandom >"$T/b1"
printf 'a small file for every distribution point\n' >"$T/b2"
h1=$(sha "$T/b1")
h2=$(sha "$T/b2")
s1=$(size "$T/b1")
s2=$(size "$T/b2")
for n in 1 2; do
	h=$(sha "$T/b$n")
	st=$(curl -sS -o "$T/resp" -w '%{http_code}' -X PUT -H "Authorization: Bearer $(cat "$ADMIN")" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$T/b$n" \
		"$SITE/api/v1/content/$h")
	[ "$st" = 201 ] || fail "PUT blob $n: HTTP $st: $(cat "$T/resp")"
done
expect_status "$(admin_call POST /api/v1/packages "{\"name\":\"tools\",\"version\":\"1.0\",
	\"files\":[{\"path\":\"b1\",\"type\":\"file\",\"mode\":420,\"size\":$s1,\"hash\":\"$h1\"},
	           {\"path\":\"b2\",\"type\":\"file\",\"mode\":420,\"size\":$s2,\"hash\":\"$h2\"}]}")" 201
hm=$(jq -r .manifest "$T/resp")
admin_call GET /api/v1/content/index >/dev/null
expect_eq "$(jq -r '[.[].hash] | sort | join(" ")' "$T/resp")" \
	"$(printf '%s\n' "$h1" "$h2" "$hm" | sort | tr '\n' ' ' | sed 's/ $//')" "content index"
site_key=$(admin_call GET /api/v1/site | cut -d' ' -f2- | jq -r .site_key)
[ ${#site_key} = 64 ] || fail "GET /api/v1/site has no site_key"
# the token helper below is right when the site server itself (all roles) takes it
cid=0123456789abcdef0123456789abcdef
tok=$(mint_token "$SITE_D/site.key" "$cid" $(($(date +%s) + 600)))
st=$(curl -sS -o "$T/got" -w '%{http_code}' -H "Authorization: Steward-Content $tok" \
	"$SITE/content/$h2")
[ "$st" = 200 ] || fail "the site server refuses a minted content token: HTTP $st: $(cat "$T/got")"
pass "site server: two blobs and a package (manifest $hm)"

# ---- a remote DP with partials left by an earlier run ------------------------------
# b1: its first MB, good (resumed with Range: only the rest is transferred);
# b2: two wrong bytes (the rest completes it, the hash fails: blob_rejected,
# the partial is dropped and the blob fetched whole the next round).
DP_D=$T/dp
mkdir -p "$DP_D/content/tmp"
head -c 1000000 "$T/b1" >"$DP_D/content/tmp/part.$h1"
printf 'XX' >"$DP_D/content/tmp/part.$h2"
dp_args=(--roles distribution_point --upstream "$SITE" --upstream_pin "$SITE_PIN" --upstream_token_file "$DP_TOKEN"
	--dp_sync_interval 1s)
site_start dp "${dp_args[@]}"
DP_URL=$SITE_URL
DP_PID=$SITE_PID
DP_ADMIN=$ADMIN
SITE_URL=$SITE
ADMIN=$SITE_ADMIN
for h in "$h1" "$h2" "$hm"; do
	wait_for $WAIT_S "the DP holds blob $h" holds "$DP_D" "$h"
done
grep -q "dpsync blob_rejected hash=$h2 " "$T/dp.log" ||
	fail "no blob_rejected for the damaged partial"
# a round with nothing left to do: every transfer is in the log
wait_for $WAIT_S "a quiet round" \
	grep -q "dp_sync result=ok blobs=3 fetched=0 bytes=0 removed=0 failed=0" "$T/dp.log"
bytes=$(sed -n 's/.* dp_sync result=ok .* bytes=\([0-9]*\) .*/\1/p' "$T/dp.log" |
	awk '{n += $1} END {print n}')
sm=$(size "$(blob_path "$DP_D" "$hm")")
expect_eq "$bytes" $((s1 - 1000000 + (s2 - 2) + s2 + sm)) "bytes transferred (b1 resumed at 1 MB)"
expect_eq "$(ls "$DP_D/content/tmp")" "" "partials left in the DP's tmp/"
expect_eq "$(cat "$DP_D/upstream.key")" "$site_key" "DATA_DIR/upstream.key"
pass "the DP fetched every blob, resumed b1, rejected and refetched b2, saved the site key"

# its token reads content and the DP's plan, nothing else
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $(cat "$DP_TOKEN")" \
	"$SITE/api/v1/clients")
expect_eq "$code" 403 "the DP's token on GET /api/v1/clients"
expect_eq "$(jq -r .error.code "$T/resp")" role_forbidden "code for the DP's token on clients"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $(cat "$DP_TOKEN")" \
	-X POST "$SITE/api/v1/site/pause-adverts")
expect_eq "$code" 403 "the DP's token on POST /api/v1/site/pause-adverts"
pass "the DP's distribution_point token is refused outside content and its plan"

# ---- serving: content tokens of the site, not the site's admin tokens -------------
st=$(dp_get "Steward-Content $tok" "$h1")
[ "$st" = 200 ] || fail "GET DP/content/h1 with a content token: HTTP $st: $(head -c 300 "$T/got")"
expect_eq "$(sha "$T/got")" "$h1" "downloaded b1"
st=$(dp_get "Steward-Content $(mint_token "$DP_D/site.key" "$cid" $(($(date +%s) + 600)))" "$h1")
expect_eq "$st" 401 "a token signed by another key"
expect_eq "$(dp_get "Bearer $(cat "$SITE_ADMIN")" "$h1")" 401 "the site's admin token on the DP"
expect_eq "$(dp_get "Bearer $(cat "$DP_ADMIN")" "$h2")" 200 "the DP's own admin token"
pass "the DP serves content tokens signed by the site key"

# ---- damage on the DP's disk: found by the re-hash, removed, fetched again --------
f=$(blob_path "$DP_D" "$h1")
printf 'damage' | dd of="$f" bs=1 seek=12345 conv=notrunc status=none
[ "$(sha "$f")" != "$h1" ] || fail "the blob was not damaged"
wait_for $WAIT_S "blob_corrupt logged" grep -q "dpsync blob_corrupt hash=$h1 " "$T/dp.log"
wait_for $WAIT_S "the damaged blob is fetched again" holds "$DP_D" "$h1"
pass "a blob damaged on the DP's disk is found, removed and fetched again"

# ---- restart while the site is unreachable: the saved key still verifies tokens ---
SITE_PID=$DP_PID
site_stop || fail "the DP did not stop cleanly"
port=${DP_URL##*:}
"$BIN/stewardd" --listen "127.0.0.1:$port" --data_dir "$DP_D" --site_code T01 \
	--roles distribution_point --upstream http://127.0.0.1:1 --upstream_token_file "$DP_TOKEN" \
	--dp_sync_interval 1s >>"$T/dp.log" 2>&1 &
DP_PID=$!
PIDS+=("$DP_PID")
wait_for 10 "the DP restarts" curl -fs -o /dev/null "$DP_URL/health"
expect_eq "$(dp_get "Steward-Content $tok" "$h2")" 200 \
	"content token after a restart, the site unreachable"
wait_for 10 "a failed round logged" grep -q "dp_sync result=failed .*code=unreachable" "$T/dp.log"
holds "$DP_D" "$h1" || fail "an unreachable site must not empty the DP"
SITE_PID=$DP_PID
site_stop || fail "the DP did not stop cleanly"
pass "after a restart the saved key verifies tokens while the site is unreachable"

# ---- a new DP that has never reached its site: not ready, rather than guessing ----
site_start dp3 --roles distribution_point --upstream http://127.0.0.1:1 \
	--upstream_token_file "$DP_TOKEN" --dp_sync_interval 1s
DP_URL=$SITE_URL
st=$(dp_get "Steward-Content $tok" "$h2")
[ "$st" = 503 ] && [ "$(jq -r .error.code "$T/got")" = dp_not_ready ] ||
	fail "a DP without the site key: HTTP $st: $(cat "$T/got")"
[ ! -e "$SITE_DIR/upstream.key" ] || fail "upstream.key written without reaching the site"
site_stop || fail "the new DP did not stop cleanly"
DP_URL=https://127.0.0.1:$port
pass "a DP that never reached its site answers dp_not_ready"

# ---- a site that accepts and never answers: SIGTERM still stops the DP at once ----
python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])
' >"$T/stall.port" &
PIDS+=($!)
wait_for 5 "the silent listener" test -s "$T/stall.port"
"$BIN/stewardd" --listen "127.0.0.1:$port" --data_dir "$DP_D" --site_code T01 \
	--roles distribution_point --upstream "http://127.0.0.1:$(cat "$T/stall.port")" \
	--upstream_token_file "$DP_TOKEN" --dp_sync_interval 1s >>"$T/dp.log" 2>&1 &
DP_PID=$!
PIDS+=("$DP_PID")
wait_for 10 "the DP restarts" curl -fs -o /dev/null "$DP_URL/health"
sleep 1 # the sync thread is now waiting for an answer that never comes
SITE_PID=$DP_PID
t0=$(date +%s%N)
site_stop || fail "the DP did not stop cleanly"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 5000 ] || fail "the DP took $ms ms to stop during a hung request"
pass "SIGTERM during a hung request to the site stops the DP in $ms ms"

# ---- a deleted package leaves the DP ----------------------------------------------
site_start dp2 --data_dir "$DP_D" "${dp_args[@]}"
DP_PID=$SITE_PID
SITE_URL=$SITE
ADMIN=$SITE_ADMIN
expect_status "$(admin_call DELETE /api/v1/packages/tools/1.0)" 200
for h in "$h1" "$h2" "$hm"; do
	wait_for $WAIT_S "blob $h leaves the DP" gone "$DP_D" "$h"
done
grep -q "dpsync blob_removed hash=$h1 " "$T/dp2.log" || fail "no blob_removed logged"
pass "the blobs of a deleted package leave the DP"

# ---- configurations that cannot work -----------------------------------------------
if "$BIN/stewardd" --listen 127.0.0.1:0 --data_dir "$T/bad1" --site_code T01 \
	--upstream "$SITE" --upstream_pin "$SITE_PIN" --upstream_token_file "$DP_TOKEN" >"$T/bad1.out" 2>&1; then
	fail "upstream with roles = all started"
fi
grep -q "upstream_config" "$T/bad1.out" || fail "roles = all: $(cat "$T/bad1.out")"
if "$BIN/stewardd" --listen 127.0.0.1:0 --data_dir "$T/bad2" --site_code T01 \
	--roles distribution_point --upstream "$SITE" --upstream_token_file "$T/none" \
	>"$T/bad2.out" 2>&1; then
	fail "a missing upstream_token_file started"
fi
grep -q "upstream_token_invalid" "$T/bad2.out" || fail "no token file: $(cat "$T/bad2.out")"
pass "upstream with roles = all, or without a token file, is refused at start"

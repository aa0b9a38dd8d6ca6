#!/usr/bin/env bash
# The web console's server side (docs/security.md#the-web-console,
# docs/internals/console-server.md), with a real stewardd and curl as the
# browser:
#   - /console/ serves the compiled-in files with their content types, the
#     security headers and an ETag (304 on If-None-Match); unknown names and
#     traversals are 404; HEAD works;
#   - sign-in with an admin token sets an HttpOnly, SameSite=Strict (and,
#     under TLS, Secure) cookie; a bad token is 401; GET session gives the
#     csrf back; the cookie works on the admin API; a write without the CSRF
#     header is 403 csrf_missing, with a wrong one csrf_mismatch, with
#     another Origin origin_forbidden, with the right one it goes through; a
#     read admin's session is refused a write (role_forbidden); revoking the
#     admin ends its session; sign-out makes the cookie useless; sign-ins
#     are in the audit log; an idle session is 401 session_expired;
#   - GET /api/v1/clients pages and filters (total, q, state, limit, offset,
#     sorted by hostname, 400 on bad values) and keeps its array without them;
#   - GET /api/v1/overview counts the enrolled clients.
. "$(dirname "$0")/lib.sh"

site_start console
TOKEN=$(cat "$ADMIN")
HOSTPORT=${SITE_URL#*://}

# ---- the files ------------------------------------------------------------------------------
# get PATH [curl args...]: the status; headers in $T/h, body in $T/b
get() {
	local path=$1
	shift
	rm -f "$T/b" # curl writes no file for a reply without a body
	curl -sS --path-as-is -o "$T/b" -D "$T/h" -w '%{http_code}' "$@" "$SITE_URL$path"
}
# header NAME: its value in $T/h (without the CR)
header() {
	grep -i "^$1:" "$T/h" | head -n 1 | cut -d: -f2- | sed 's/^ //' | tr -d '\r'
}
CSP="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
check_asset() {
	local path=$1 type=$2 file=$3
	expect_eq "$(get "$path")" 200 "GET $path"
	expect_eq "$(header Content-Type)" "$type" "Content-Type of $path"
	expect_eq "$(header Content-Security-Policy)" "$CSP" "CSP of $path"
	expect_eq "$(header X-Content-Type-Options)" nosniff "X-Content-Type-Options of $path"
	expect_eq "$(header Referrer-Policy)" no-referrer "Referrer-Policy of $path"
	expect_eq "$(header X-Frame-Options)" DENY "X-Frame-Options of $path"
	expect_eq "$(header Cache-Control)" no-cache "Cache-Control of $path"
	[[ "$(header ETag)" =~ ^\"[0-9a-f]{32}\"$ ]] || fail "ETag of $path: '$(header ETag)'"
	cmp -s "$T/b" "$SRC/console/$file" || fail "$path is not console/$file"
}
check_asset /console/ "text/html; charset=utf-8" index.html
check_asset /console/index.html "text/html; charset=utf-8" index.html
check_asset /console/app.js "text/javascript; charset=utf-8" app.js
check_asset /console/app.css "text/css; charset=utf-8" app.css
pass "the console's files: content types, CSP, nosniff, no-referrer, DENY, no-cache, ETag"

ETAG=$(header ETag)
expect_eq "$(get /console/app.css -H "If-None-Match: $ETAG")" 304 "app.css with If-None-Match"
[ ! -s "$T/b" ] || fail "a 304 with a body: $(cat "$T/b")"
expect_eq "$(header ETag)" "$ETAG" "the ETag of the 304"
expect_eq "$(get /console/app.css -H 'If-None-Match: "0000"')" 200 "app.css with another ETag"
expect_eq "$(get /console)" 301 "GET /console"
expect_eq "$(header Location)" /console/ "where /console leads"
code=$(curl -sS -I -o /dev/null -D "$T/h" -w '%{http_code}' "$SITE_URL/console/app.js")
expect_eq "$code" 200 "HEAD /console/app.js"
expect_eq "$(header Content-Type)" "text/javascript; charset=utf-8" "HEAD's Content-Type"
pass "304 on If-None-Match, 200 on another tag; /console -> 301 /console/; HEAD"

for p in /console/nope.js /console/.. /console/../health /console/..%2fhealth /console/%2e%2e/health \
	/console/.hidden /console/index.html/x; do
	code=$(get "$p")
	[ "$code" = 404 ] || fail "GET $p answered $code, not 404: $(head -c 200 "$T/b")"
	grep -q '"status":"ok"' "$T/b" && fail "GET $p reached /health"
done
pass "unknown names and traversals are 404"

# ---- sessions -------------------------------------------------------------------------------
# signin TOKEN JAR: the status; the reply in $T/b, headers in $T/h, the cookie in JAR
signin() {
	local tok=$1 jar=$2
	shift 2
	curl -sS -o "$T/b" -D "$T/h" -c "$jar" -w '%{http_code}' -X POST "$@" \
		-H 'Content-Type: application/json' --data "{\"token\":\"$tok\"}" \
		"$SITE_URL/api/v1/console/session"
}
# as JAR METHOD PATH [curl args...]: a call with the cookie of JAR; status, body in $T/b
as() {
	local jar=$1 method=$2 path=$3
	shift 3
	: >"$T/b"
	curl -sS -o "$T/b" -D "$T/h" -w '%{http_code}' -b "$jar" -X "$method" "$@" "$SITE_URL$path"
}
errcode() { jq -r '.error.code // ""' "$T/b"; }

expect_eq "$(signin "$TOKEN" "$T/jar")" 200 "sign-in with the admin token"
expect_eq "$(jq -r '"\(.name) \(.role)"' "$T/b")" "admin admin" "who signed in"
CSRF=$(jq -r .csrf "$T/b")
[[ "$CSRF" =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "csrf: '$CSRF'"
EXP=$(jq -r .expires "$T/b")
NOW=$(date +%s)
[ "$EXP" -gt $((NOW + 1700)) ] && [ "$EXP" -le $((NOW + 1810)) ] || fail "expires $EXP, now $NOW (idle 30 min)"
COOKIE=$(header Set-Cookie)
[[ "$COOKIE" =~ ^steward_session=[A-Za-z0-9_-]{43}\;\ Path=/\;\ HttpOnly\;\ SameSite=Strict ]] ||
	fail "Set-Cookie: '$COOKIE'"
case "$SITE_URL" in https:*) [[ "$COOKIE" == *"; Secure"* ]] || fail "no Secure under TLS: '$COOKIE'" ;; esac
pass "sign-in: 200 {name, role, csrf, expires}, cookie HttpOnly, SameSite=Strict, Secure under TLS"

expect_eq "$(signin "stw_$(printf '0%.0s' {1..64})" "$T/nojar")" 401 "sign-in with an unknown token"
expect_eq "$(errcode)" token_invalid "code of an unknown token"
expect_eq "$(signin "nonsense" "$T/nojar")" 401 "sign-in with a malformed token"
grep -qi '^Set-Cookie' "$T/h" && fail "a refused sign-in set a cookie: $(cat "$T/h")"
code=$(curl -sS -o "$T/b" -w '%{http_code}' -X POST --data '{"tok":1}' "$SITE_URL/api/v1/console/session")
expect_eq "$code" 400 "sign-in without a token field"
pass "a bad token: 401 and no cookie; a body without token: 400"

expect_eq "$(as "$T/jar" GET /api/v1/console/session)" 200 "GET session"
expect_eq "$(jq -r '"\(.name) \(.role) \(.csrf)"' "$T/b")" "admin admin $CSRF" "GET session's reply"
code=$(curl -sS -o "$T/b" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$SITE_URL/api/v1/console/session")
expect_eq "$code" 401 "GET session with a bearer token only"
expect_eq "$(as "$T/jar" GET /api/v1/clients)" 200 "clients list with the cookie"
expect_eq "$(jq -r type "$T/b")" array "clients list's shape"
pass "GET session gives the csrf back; the cookie reads the admin API"

W=/api/v1/windows
expect_eq "$(as "$T/jar" POST $W --data '{}')" 403 "a write without X-Steward-CSRF"
expect_eq "$(errcode)" csrf_missing "its code"
expect_eq "$(as "$T/jar" POST $W --data '{}' -H "X-Steward-CSRF: ${CSRF}x")" 403 "a write with a wrong csrf"
expect_eq "$(errcode)" csrf_mismatch "its code"
expect_eq "$(as "$T/jar" POST $W --data '{}' -H "X-Steward-CSRF: $CSRF" -H 'Origin: https://evil.example')" 403 \
	"a write from another origin"
expect_eq "$(errcode)" origin_forbidden "its code"
E=/api/v1/enroll-tokens
BODY='{"uses":1,"ttl":600}'
code=$(as "$T/jar" POST $E --data "$BODY" -H "X-Steward-CSRF: $CSRF" -H "Origin: https://$HOSTPORT")
expect_eq "$code" 201 "a write with the csrf and this site's origin: $(cat "$T/b")"
ID=$(jq -r .id "$T/b")
expect_eq "$(as "$T/jar" DELETE "$E/$ID" -H "X-Steward-CSRF: $CSRF")" 200 "a delete with the csrf: $(cat "$T/b")"
# stewardctl's bearer calls need neither
ctl enroll-tokens list >/dev/null || fail "stewardctl with the bearer token"
expect_eq "$(admin_call POST $E "$BODY" | cut -d' ' -f1)" 201 "a bearer write without csrf"
pass "session writes: 403 csrf_missing, csrf_mismatch, origin_forbidden; 201 with the csrf; bearer calls unchanged"

# the audit log names the session's admin, and the sign-ins
ctl --json audit list >"$T/audit.json" || fail "audit list"
jq -e 'any(.[]; .who == "admin" and .route == "console_signin" and .status == 200)' "$T/audit.json" >/dev/null ||
	fail "no audit entry of the sign-in: $(jq -c 'map([.who,.route,.status])' "$T/audit.json")"
jq -e 'any(.[]; .who == "admin" and .route == "windows_create" and .code == "csrf_missing")' "$T/audit.json" >/dev/null ||
	fail "no audit entry of the refused session write"
pass "sign-ins and session writes are in the audit log"

# roles: a read admin's session cannot write
ctl admins create reader --role read >"$T/read.tok" 2>/dev/null || fail "admins create reader"
expect_eq "$(signin "$(cat "$T/read.tok")" "$T/rjar")" 200 "sign-in of a read admin"
RCSRF=$(jq -r .csrf "$T/b")
expect_eq "$(jq -r .role "$T/b")" read "its role"
expect_eq "$(as "$T/rjar" GET /api/v1/clients)" 200 "a read admin's session reading"
expect_eq "$(as "$T/rjar" POST $E --data "$BODY" -H "X-Steward-CSRF: $RCSRF")" 403 "a read admin's session writing"
expect_eq "$(errcode)" role_forbidden "its code"
ctl admins create dp --role distribution_point >"$T/dp.tok" 2>/dev/null || fail "admins create dp"
expect_eq "$(signin "$(cat "$T/dp.tok")" "$T/nojar")" 403 "sign-in with a service token"
expect_eq "$(errcode)" role_forbidden "its code"
pass "a read admin's session: reads, 403 role_forbidden on a write; a service token cannot sign in"

# revoking the admin ends its session
ctl admins create op --role operator >"$T/op.tok" 2>/dev/null || fail "admins create op"
expect_eq "$(signin "$(cat "$T/op.tok")" "$T/ojar")" 200 "sign-in of an operator"
expect_eq "$(as "$T/ojar" GET /api/v1/clients)" 200 "the operator's session reading"
ctl admins revoke op >/dev/null || fail "admins revoke op"
expect_eq "$(as "$T/ojar" GET /api/v1/clients)" 401 "the revoked operator's session"
expect_eq "$(errcode)" token_revoked "its code"
expect_eq "$(as "$T/ojar" GET /api/v1/console/session)" 401 "the revoked operator's session, again"
expect_eq "$(signin "$(cat "$T/op.tok")" "$T/nojar")" 401 "sign-in with the revoked token"
expect_eq "$(errcode)" token_revoked "its code"
pass "revoking an admin ends its sessions at once; its token cannot sign in"

# signing in again with the same browser replaces its session
cp "$T/jar" "$T/jar.old"
expect_eq "$(signin "$TOKEN" "$T/jar2" -b "$T/jar")" 200 "sign-in again from the same browser"
expect_eq "$(as "$T/jar.old" GET /api/v1/console/session)" 401 "the session it replaced"
expect_eq "$(as "$T/jar2" GET /api/v1/console/session)" 200 "the new session"
cp "$T/jar2" "$T/jar"
CSRF=$(jq -r .csrf "$T/b")
pass "a second sign-in from the same browser ends its first session"

# sign-out
expect_eq "$(as "$T/jar" DELETE /api/v1/console/session)" 403 "sign-out without the csrf"
expect_eq "$(as "$T/jar" DELETE /api/v1/console/session -H "X-Steward-CSRF: $CSRF")" 204 "sign-out"
[[ "$(header Set-Cookie)" == "steward_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"* ]] ||
	fail "sign-out's Set-Cookie: '$(header Set-Cookie)'"
expect_eq "$(as "$T/jar" GET /api/v1/clients)" 401 "the signed-out cookie"
expect_eq "$(errcode)" auth_required "its code"
expect_eq "$(as "$T/jar" GET /api/v1/console/session)" 401 "GET session after sign-out"
pass "sign-out: 204, the cookie cleared and useless"

# ---- the clients list, paged and filtered ------------------------------------------------------
"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients 6 --duration 1s --quiet \
	>"$T/sim.out" 2>&1 || fail "steward-sim: $(cat "$T/sim.out")"
ctl --json clients list >"$T/all.json" || fail "clients list"
expect_eq "$(jq 'type + " " + (length | tostring)' -r "$T/all.json")" "array 6" "the whole list without parameters"
mapfile -t IDS < <(jq -r '.[].id' "$T/all.json")
for i in 0 1 2; do ctl clients approve "${IDS[$i]}" >/dev/null || fail "approve ${IDS[$i]}"; done
ctl clients block "${IDS[3]}" --reason test >/dev/null || fail "block ${IDS[3]}"

page() { curl -fsS -H "Authorization: Bearer $TOKEN" "$SITE_URL/api/v1/clients?$1"; }
expect_eq "$(page limit=2 | jq -c '[.total, .offset, .limit, (.clients | length)]')" "[6,0,2,2]" "limit=2"
expect_eq "$(page 'offset=0' | jq -c '[.total, .limit, (.clients | length)]')" "[6,50,6]" "the default limit"
got=$( (page 'limit=2&offset=0'; page 'limit=2&offset=2'; page 'limit=2&offset=4') | jq -r '.clients[].id' | tr '\n' ' ')
expect_eq "$got" "$(jq -r 'sort_by(.hostname, .id) | .[].id' "$T/all.json" | tr '\n' ' ')" \
	"three pages of 2, in the order of hostnames"
expect_eq "$(page 'limit=2&offset=6' | jq -c '[.total, (.clients | length)]')" "[6,0]" "a page past the end"
expect_eq "$(page state=approved | jq -c '[.total, ([.clients[].state] | unique)]')" '[3,["approved"]]' "state=approved"
expect_eq "$(page state=blocked | jq -r '.total, .clients[0].id' | tr '\n' ' ')" "1 ${IDS[3]} " "state=blocked"
expect_eq "$(page state=pending | jq .total)" 2 "state=pending"
HOST3=$(jq -r ".[] | select(.id == \"${IDS[3]}\") | .hostname" "$T/all.json")
expect_eq "$(page "q=$HOST3" | jq -r '.total, .clients[0].id' | tr '\n' ' ')" "1 ${IDS[3]} " "q=$HOST3"
expect_eq "$(page "q=$(echo "$HOST3" | tr a-z A-Z)" | jq .total)" 1 "q is case-insensitive"
expect_eq "$(page "q=${IDS[5]:0:12}" | jq -r '.clients[0].id')" "${IDS[5]}" "q matches the id"
expect_eq "$(page "q=$HOST3&state=approved" | jq .total)" 0 "q and state together"
expect_eq "$(page "q=zzzz-no-such" | jq -c '[.total, .clients]')" "[0,[]]" "q matching nothing"
pass "paged list: total, limit, offset, hostname order, state, q (hostname, id, any case)"

for bad in state=deleted state=nope limit=0 limit=501 limit=x offset=-1 "q=$(printf 'a%.0s' {1..129})"; do
	code=$(curl -sS -o "$T/b" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$SITE_URL/api/v1/clients?$bad")
	expect_eq "$code" 400 "clients?${bad:0:20}"
done
curl -sS -o "$T/b" -H "Authorization: Bearer $TOKEN" "$SITE_URL/api/v1/clients?state=nope"
expect_eq "$(errcode)" bad_state "code of a bad state"
pass "bad state, limit, offset or q: 400"

# ---- the overview -------------------------------------------------------------------------------
expect_eq "$(signin "$TOKEN" "$T/jar")" 200 "sign-in again"
expect_eq "$(as "$T/jar" GET /api/v1/overview)" 200 "the overview with the cookie: $(cat "$T/b")"
expect_eq "$(jq -c '[.clients.total, .clients.by_state.pending, .clients.by_state.approved, .clients.by_state.blocked, .pending]' "$T/b")" \
	"[6,2,3,1,2]" "the overview's client counts"
expect_eq "$(jq -c .clients.by_version "$T/b")" '{"0.1.0":6}' "the overview's versions"
expect_eq "$(jq -c '[(.checkins_per_hour | length), (.checkins_per_hour | add), .checkins_per_hour[23]]' "$T/b")" \
	"[24,6,6]" "check-ins per hour (all six in the last hour)"
expect_eq "$(jq -c '[.adverts, .rollouts, .links]' "$T/b")" "[[],[],[]]" "no adverts, rollouts or links"
pass "the overview counts the enrolled clients by state, version and hour of check-in"

# ---- idle expiry ----------------------------------------------------------------------------------
site_stop
site_start console-idle --console_session_idle 2s
expect_eq "$(signin "$(cat "$ADMIN")" "$T/ijar")" 200 "sign-in (idle 2 s)"
expect_eq "$(as "$T/ijar" GET /api/v1/console/session)" 200 "the session at once"
sleep 3.2
expect_eq "$(as "$T/ijar" GET /api/v1/clients)" 401 "the session after 3 s idle"
expect_eq "$(errcode)" session_expired "its code"
expect_eq "$(as "$T/ijar" GET /api/v1/console/session)" 401 "GET session after expiry"
expect_eq "$(errcode)" session_expired "its code, again"
pass "an idle session: 401 session_expired"

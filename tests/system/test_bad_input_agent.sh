#!/usr/bin/env bash
# Bad input from agents against a running stewardd, crafted with
# steward-req (tests/tools): malformed and out-of-range check-in and
# enrollment bodies (400 naming the field), bad signatures, unknown
# clients, replays, skewed clocks and wrong session MACs (401 with distinct
# codes), expired, used-up and revoked enrollment tokens (403) and foreign
# protocol ranges (409). The site must stay up and keep serving the real
# agent afterwards.
. "$(dirname "$0")/lib.sh"

# stop_checked NAME: SIGTERM; stewardd must exit 0 with no sanitizer report
# in its log (under -DSTEWARD_SAN=ON a leak or error only shows at exit)
stop_checked() {
	local rc=0
	site_stop || rc=$?
	[ $rc -eq 0 ] || fail "stewardd ($1) exited $rc on SIGTERM"
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/$1.log"; then
		fail "sanitizer report in the log of stewardd ($1): $(grep -m1 -A 12 -E 'Sanitizer|runtime error:' "$T/$1.log")"
	fi
}

on_postgresql || command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (scripts/deps.sh installs it)"
[ -x "$BIN/steward-req" ] || fail "steward-req not built ($BIN/steward-req)"

site_start site
SITE_RANGE=$("$BIN/stewardd" --version | sed -n 's/.* protocol \([0-9]*-[0-9]*\).*/\1/p')
[ -n "$SITE_RANGE" ] || fail "cannot read the protocol range from stewardd --version"

agent_once a "$(new_token 1)" || fail "agent a could not enroll"
ID=$(agent_id a)
KEY=$T/agent-a/client.key
ctl clients approve "$ID" >/dev/null

# Every request of this test gets the next sequence number; the base is
# the clock in ms like the agent's, so the agent can still check in after.
SEQ=$(date +%s%3N)

# req [steward-req args...]: one request as client a; result in R as "STATUS BODY"
req() {
	SEQ=$((SEQ + 1))
	R=$("$BIN/steward-req" --server "$SITE_URL" --key "$KEY" --client "$ID" --seq "$SEQ" \
		--path /api/v1/checkin --print-status "$@") || fail "steward-req failed: $*"
}

# expect_msg TEXT: the error message in R contains TEXT
expect_msg() {
	local msg
	msg=$(echo "${R#* }" | jq -r .error.message 2>/dev/null || true)
	case "$msg" in
	*"$1"*) ;;
	*) fail "error message does not mention '$1': ${R#* }" ;;
	esac
}

expect_alive() {
	kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd died ($1): $(tail -n 5 "$T/site.log")"
	curl -fsS -m 5 "$SITE_URL/health" >/dev/null || fail "stewardd not healthy after $1"
}

long() { head -c "$1" /dev/zero | tr '\0' "${2:-a}"; }

GOOD='{"agent_version":"0.1.0","protocol":{"min":1,"max":1},"uptime":5}'
req --body "$GOOD"
expect_status "$R" 200
pass "a well-formed signed check-in is accepted (baseline)"

# ---- check-in bodies: 400 bad_request naming the field ----------------------------
bad_checkin() { # BODY TEXT-IN-MESSAGE
	req --body "$1"
	expect_status "$R" 400 bad_request
	expect_msg "$2"
}
V='"agent_version":"0.1.0","protocol":{"min":1,"max":1}'
bad_checkin '{"agent_version":' "malformed JSON"
bad_checkin '' "malformed JSON"
bad_checkin '[]' "must be a JSON object"
bad_checkin "{$V, $V}" "malformed JSON"
bad_checkin "{$V,\"uptime\":\"x\"}" "'uptime' must be an integer"
bad_checkin "{$V,\"uptime\":1.5}" "'uptime' must be an integer"
bad_checkin "{$V,\"uptime\":-1}" "'uptime' is out of range"
bad_checkin "{$V,\"uptime\":99999999999999}" "'uptime' is out of range"
bad_checkin "{$V,\"uptime\":123456789012345678901234567890}" "malformed JSON"
bad_checkin '{"protocol":{"min":1,"max":1}}' "'agent_version' is missing"
bad_checkin '{"agent_version":7,"protocol":{"min":1,"max":1}}' "'agent_version' must be a string"
bad_checkin "{\"agent_version\":\"$(long 40 9)\",\"protocol\":{\"min\":1,\"max\":1}}" "'agent_version' is too long"
bad_checkin '{"agent_version":"0.1\u0001","protocol":{"min":1,"max":1}}' "'agent_version' contains control characters"
bad_checkin '{"agent_version":"0.1.0","protocol":{"min":0,"max":1}}' "'protocol.min' is out of range"
bad_checkin '{"agent_version":"0.1.0","protocol":{"min":1,"max":70000}}' "'protocol.max' is out of range"
bad_checkin '{"agent_version":"0.1.0","protocol":{"min":2,"max":1}}' "'protocol' has max below min"
bad_checkin '{"agent_version":"0.1.0","protocol":"1-1"}' "'protocol' must be an object"
COMPS=$(jq -cn '[range(40) | {name: "c\(.)", version: "1"}]')
bad_checkin "{$V,\"components\":$COMPS}" "'components' has too many entries"
bad_checkin "{$V,\"components\":[{\"name\":\"$(long 100 n)\",\"version\":\"1\"}]}" "'components[0].name' is too long"
bad_checkin "{$V,\"components\":[\"base\"]}" "'components' must hold objects"
bad_checkin "{$V,\"status\":[{\"type\":\"t\",\"text\":\"$(long 1100 s)\",\"time\":1}]}" "'status[0].text' is too long"
STATUS=$(jq -cn '[range(65) | {type: "t", text: "x", time: 1}]')
bad_checkin "{$V,\"status\":$STATUS}" "'status' has too many entries"
bad_checkin "{$V,\"status\":[{\"type\":\"t\",\"time\":-5}]}" "'status[0].time' is out of range"
bad_checkin "{$V,\"inventory_hash\":\"$(long 100 f)\"}" "'inventory_hash' is too long"
# nesting far deeper than any parser should follow
{ printf '{"agent_version":"0.1.0","protocol":{"min":1,"max":1},"x":'; long 100000 '['; } >"$T/deep"
req --body-file "$T/deep"
expect_status "$R" 400 bad_request
pass "malformed, mistyped, out-of-range and over-cap check-ins -> 400 naming the field"
expect_alive "bad check-in bodies"

# ---- enrollment bodies ----------------------------------------------------------------
TOKEN=$(new_token 5)
PK=$("$BIN/steward-req" --gen-key "$T/new.key") || fail "steward-req --gen-key"
enroll() { # BODY [steward-req args...] -> R
	local body=$1
	shift
	R=$("$BIN/steward-req" --server "$SITE_URL" --key "${EKEY:-$T/new.key}" --client - \
		--path /api/v1/enroll --print-status --body "$body" "$@") || fail "steward-req enroll failed"
}
enroll_body() { # jq-filter applied to a good enrollment body
	jq -cn --arg t "$TOKEN" --arg pk "$PK" \
		"{token: \$t, public_key: \$pk, hostname: \"web01\", addresses: [\"10.0.0.1\"],
		  os: {name: \"Debian\", version: \"12\"}, agent_version: \"0.1.0\",
		  protocol: {min: 1, max: 1}} | $1"
}
bad_enroll() { # JQ-FILTER TEXT-IN-MESSAGE
	enroll "$(enroll_body "$1")"
	expect_status "$R" 400 bad_request
	expect_msg "$2"
}
bad_enroll ".hostname = \"$(long 300 h)\"" "'hostname' is too long"
bad_enroll '.hostname = ""' "'hostname' must not be empty"
bad_enroll '.hostname = 5' "'hostname' must be a string"
bad_enroll '.protocol.min = 0' "'protocol.min' is out of range"
bad_enroll 'del(.token)' "'token' is missing"
bad_enroll ".token = \"$(long 300 t)\"" "'token' is too long"
bad_enroll '.public_key = "not base64!"' "'public_key'"
bad_enroll '.public_key = "AAAA"' "'public_key'"
bad_enroll '.addresses = [range(40) | "10.0.0.\(.)"]' "'addresses' has too many entries"
bad_enroll ".addresses = [\"$(long 100 1)\"]" "'addresses'"
bad_enroll '.os = "linux"' "'os' must be an object"
bad_enroll ".os.name = \"$(long 200 o)\"" "'os.name' is too long"
enroll "{\"token\":"
expect_status "$R" 400 bad_request
expect_msg "malformed JSON"
pass "malformed and over-cap enrollments -> 400 naming the field"

# enrollment signed by another key than the one it enrolls
"$BIN/steward-req" --gen-key "$T/other.key" >/dev/null
EKEY=$T/other.key enroll "$(enroll_body .)"
expect_status "$R" 401 signature_invalid
enroll "$(enroll_body .)" --ts-offset -7200
expect_status "$R" 401 clock_skew
expect_msg "clock skew"
pass "enrollment signed by another key -> 401 signature_invalid; skewed -> clock_skew"
expect_alive "bad enrollments"

# ---- authentication: 401 with a distinct code each -----------------------------------
req --body "$GOOD" --bad-signature
expect_status "$R" 401 signature_invalid
req --body "$GOOD" --tamper-body
expect_status "$R" 401 signature_invalid
pass "bad and tampered signatures -> 401 signature_invalid"

R=$("$BIN/steward-req" --server "$SITE_URL" --key "$KEY" --client 0123456789abcdef0123456789abcdef \
	--path /api/v1/checkin --print-status --body "$GOOD")
expect_status "$R" 401 unknown_client
R=$("$BIN/steward-req" --server "$SITE_URL" --key "$KEY" --client "$(long 200 z)" \
	--path /api/v1/checkin --print-status --body "$GOOD")
expect_status "$R" 401 unknown_client
pass "unknown client ids -> 401 unknown_client"

req --body "$GOOD"
expect_status "$R" 200
ACCEPTED=$SEQ
R=$("$BIN/steward-req" --server "$SITE_URL" --key "$KEY" --client "$ID" --seq "$ACCEPTED" \
	--path /api/v1/checkin --print-status --body "$GOOD")
expect_status "$R" 401 replayed_sequence
expect_msg "$ACCEPTED"
R=$("$BIN/steward-req" --server "$SITE_URL" --key "$KEY" --client "$ID" --seq 1 \
	--path /api/v1/checkin --print-status --body "$GOOD")
expect_status "$R" 401 replayed_sequence
pass "replayed and older sequence numbers -> 401 replayed_sequence"

# Sequence numbers above 2^63-1, signed as the agent would: the store keeps
# them as signed 64-bit integers, so one was accepted, stored as a negative
# number, and after a restart the same captured request replayed. Refused
# now, without claiming the number: the next real one still goes through.
for big in 9223372036854775808 18446744073709551615; do
	R=$("$BIN/steward-req" --server "$SITE_URL" --key "$KEY" --client "$ID" --seq "$big" \
		--path /api/v1/checkin --print-status --body "$GOOD")
	expect_status "$R" 401 sequence_invalid
	expect_msg "2^63-1"
done
req --body "$GOOD"
expect_status "$R" 200
pass "sequence numbers above 2^63-1 -> 401 sequence_invalid; the next real one is accepted"

req --body "$GOOD" --ts-offset -7200
expect_status "$R" 401 clock_skew
expect_msg "clock skew"
req --body "$GOOD" --ts-offset 7200
expect_status "$R" 401 clock_skew
expect_msg "clock skew"
pass "timestamps 2 h off either way -> 401 clock_skew ('clock skew' in the message)"

# the session request takes the sequence number before the request's
req_session() {
	SEQ=$((SEQ + 1))
	req --session-from-site "$@"
}
req_session --body "$GOOD"
expect_status "$R" 200
req_session --body "$GOOD" --bad-mac
expect_status "$R" 401 mac_invalid
req_session --body "$GOOD" --tamper-body
expect_status "$R" 401 mac_invalid
pass "session MAC accepted when right; wrong or over a tampered body -> 401 mac_invalid"

# headers missing or malformed
curl_agent() { # extra headers... -> R
	R=$(curl -sS -o "$T/resp" -w '%{http_code}' -X POST --data "$GOOD" "$@" "$SITE_URL/api/v1/checkin")
	R="$R $(cat "$T/resp")"
}
curl_agent
expect_status "$R" 401 auth_required
curl_agent -H "Steward-Client: $ID" -H "Steward-Signature: AAAA" -H "Steward-Timestamp: $(date +%s)" -H "Steward-Seq: abc"
expect_status "$R" 401 auth_required
curl_agent -H "Steward-Client: $ID" -H "Steward-Signature: AAAA" -H "Steward-Timestamp: -5" -H "Steward-Seq: 9"
expect_status "$R" 401 auth_required
curl_agent -H "Steward-Client: $ID" -H "Steward-Mac: 00" -H "Steward-Timestamp: $(date +%s)" -H "Steward-Seq: 99999999999999999999999"
expect_status "$R" 401 auth_required
pass "missing or malformed auth headers -> 401 auth_required"
NOW=$(date +%s)
curl_agent -H "Steward-Client: $ID" -H "Steward-Signature: !!!not-base64!!!" -H "Steward-Timestamp: $NOW" -H "Steward-Seq: $((SEQ + 1))"
expect_status "$R" 401 signature_invalid
curl_agent -H "Steward-Client: $ID" -H "Steward-Signature: $(long 500 A)" -H "Steward-Timestamp: $NOW" -H "Steward-Seq: $((SEQ + 1))"
expect_status "$R" 401 signature_invalid
curl_agent -H "Steward-Client: $ID" -H "Steward-Mac: $(long 64 0)" -H "Steward-Timestamp: $NOW" -H "Steward-Seq: $((SEQ + 1))"
expect_status "$R" 401 mac_invalid
curl_agent -H "Steward-Client: $ID" -H "Steward-Session: $NOW" -H "Steward-Mac: zz" -H "Steward-Timestamp: $NOW" -H "Steward-Seq: $((SEQ + 1))"
expect_status "$R" 401 mac_invalid
pass "garbage signatures -> 401 signature_invalid; garbage MACs and sessions -> 401 mac_invalid"
expect_alive "bad authentication"

# ---- enrollment tokens: 403 ----------------------------------------------------------
fresh_key() { PK=$("$BIN/steward-req" --gen-key "$T/k$1.key") && EKEY=$T/k$1.key; }

# expired: moved into the past in the database while the site runs (WAL)
J=$(ctl --json enroll-tokens create --uses 5 --ttl 1h)
TOKEN=$(echo "$J" | jq -r .token)
site_sql "$SITE_DIR" \
	"UPDATE enroll_tokens SET expires = $(($(date +%s) - 60)) WHERE id = '$(echo "$J" | jq -r .id)'" ||
	fail "cannot expire the token in SQL"
fresh_key 1
enroll "$(enroll_body .)"
expect_status "$R" 403 token_expired
pass "expired token -> 403 token_expired"

TOKEN=$(new_token 1)
fresh_key 2
enroll "$(enroll_body .)"
expect_status "$R" 200
fresh_key 3
enroll "$(enroll_body .)"
expect_status "$R" 403 token_used_up
pass "used-up token -> 403 token_used_up"

J=$(ctl --json enroll-tokens create --uses 5 --ttl 1h)
TOKEN=$(echo "$J" | jq -r .token)
ctl enroll-tokens revoke "$(echo "$J" | jq -r .id)" >/dev/null || fail "cannot revoke the token"
fresh_key 4
enroll "$(enroll_body .)"
expect_status "$R" 403 token_revoked
pass "revoked token -> 403 token_revoked"

TOKEN=$(long 40 0)
fresh_key 5
enroll "$(enroll_body .)"
expect_status "$R" 403 token_invalid
pass "unknown token -> 403 token_invalid"

# ---- versions: 409 -----------------------------------------------------------------
for path in /api/v1/checkin /api/v1/enroll /api/v1/session; do
	req --body "$GOOD" --protocol 9-9 --path "$path"
	expect_status "$R" 409 version_incompatible
	expect_msg "9-9"
	expect_msg "$SITE_RANGE"
done
pass "Steward-Protocol: 9-9 -> 409 version_incompatible naming 9-9 and $SITE_RANGE"
req --body '{"agent_version":"9.0.0","protocol":{"min":9,"max":9}}'
expect_status "$R" 409 version_incompatible
expect_msg "9-9"
req --body "$GOOD" --protocol 'abc'
expect_status "$R" 400 bad_request
expect_msg "Steward-Protocol"
pass "protocol 9-9 in the body -> 409; malformed Steward-Protocol -> 400"

# ---- the site stayed up and still serves the real agent ------------------------------
expect_alive "all agent bad input"
agent_once a || fail "the real agent cannot check in after the bad input: $(tail -n 5 "$T/agent-a.log")"
pass "stewardd up; the real agent still checks in"
stop_checked site
pass "stewardd exits 0 on SIGTERM, no sanitizer report"

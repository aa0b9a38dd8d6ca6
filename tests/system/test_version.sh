#!/usr/bin/env bash
# Version handshake. The site refuses a console with another API major and
# an agent with no protocol in common, at once, with 409
# version_incompatible naming both sides and a remedy. And the other way
# round: stewardctl and steward-agent refuse a site that reports an API or
# protocol they do not speak (a small fake site stands in for a newer one).
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

command -v python3 >/dev/null || fail "python3 missing (the fake site needs it)"

site_start site
read -r _ SITE_VERSION _ SITE_RANGE _ SITE_API < <("$BIN/stewardd" --version)
[ -n "$SITE_API" ] || fail "cannot parse stewardd --version"

# every reply carries the site's versions, errors included
for path in /health /nope; do
	curl -sS -o /dev/null -D "$T/hdrs" "$SITE_URL$path"
	grep -qi "^Steward-Version: $SITE_VERSION" "$T/hdrs" || fail "$path reply lacks Steward-Version"
	grep -qi "^Steward-Protocol: $SITE_RANGE" "$T/hdrs" || fail "$path reply lacks Steward-Protocol"
	grep -qi "^Steward-Api: $SITE_API" "$T/hdrs" || fail "$path reply lacks Steward-Api"
done
pass "replies carry Steward-Version $SITE_VERSION, Steward-Protocol $SITE_RANGE, Steward-Api $SITE_API"

# ---- a console with another API major -----------------------------------------------
console() { # API-HEADER-VALUE -> R
	R=$(curl -sS -o "$T/resp" -w '%{http_code}' -m 5 -H "Authorization: Bearer $(cat "$ADMIN")" \
		-H "Steward-Version: 9.0.0" -H "Steward-Api: $1" "$SITE_URL/api/v1/site")
	R="$R $(cat "$T/resp")"
}
console 2
expect_status "$R" 409 version_incompatible
MSG=$(echo "${R#* }" | jq -r .error.message)
REMEDY=$(echo "${R#* }" | jq -r .error.remedy)
case "$MSG" in *"API 2"*"API $SITE_API"*) ;; *) fail "409 does not name both APIs: $MSG" ;; esac
[ -n "$REMEDY" ] && [ "$REMEDY" != null ] || fail "409 without a remedy: ${R#* }"
pass "Steward-Api: 2 -> 409 version_incompatible: $MSG (remedy: $REMEDY)"
console abc
expect_status "$R" 409 version_incompatible
console "$SITE_API"
expect_status "$R" 200
pass "Steward-Api: abc -> 409; the site's own API -> 200"
expect_eq "$(ctl --json site show | jq -r .api)" "$SITE_API" "API the site reports to stewardctl"

# ---- an agent with no protocol in common ----------------------------------------------
agent_once a "$(new_token 1)" || fail "agent a could not enroll"
ID=$(agent_id a)
for range in 2-3 9-9 2; do
	START=$(date +%s%N)
	R=$("$BIN/steward-req" --server "$SITE_URL" --key "$T/agent-a/client.key" --client "$ID" \
		--path /api/v1/checkin --protocol "$range" --timeout-ms 2000 --print-status \
		--body '{"agent_version":"0.1.0","protocol":{"min":1,"max":1}}') ||
		fail "no answer within 2 s to a check-in with protocol $range"
	MS=$((($(date +%s%N) - START) / 1000000))
	expect_status "$R" 409 version_incompatible
	MSG=$(echo "${R#* }" | jq -r .error.message)
	case "$MSG" in *"$range"*"$SITE_RANGE"*) ;; *) fail "409 does not name both ranges: $MSG" ;; esac
	[ "$MS" -lt 2000 ] || fail "409 took $MS ms"
done
pass "Steward-Protocol 2-3, 9-9, 2 on /api/v1/checkin -> 409 within 2 s ($MS ms): $MSG"
agent_once a || fail "the real agent cannot check in after the refusals"

# ---- agent <-> distribution point: the download route refuses too ---------------------
R=$(curl -sS -o "$T/dp" -w '%{http_code}' --max-time 2 -H "Steward-Protocol: 9-9" -H "Steward-Version: 9.0.0" \
	"$SITE_URL/content/$(printf '%064d' 0)") || fail "no answer within 2 s from the DP"
expect_eq "$R" 409 "DP status for protocol 9-9"
jq -e '.error.code == "version_incompatible"' "$T/dp" >/dev/null || fail "DP refusal: $(cat "$T/dp")"
pass "GET /content/HASH with Steward-Protocol 9-9 -> 409 version_incompatible at once"

# ---- the other way round: a site from the future -------------------------------------
cat >"$T/fake_site.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Steward-Version", "9.0.0")
        self.send_header("Steward-Api", "2")
        self.send_header("Steward-Protocol", "5-6")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_DELETE = reply
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
EOF
python3 "$T/fake_site.py" >"$T/fake.port" 2>"$T/fake.log" &
PIDS+=("$!")
for _ in $(seq 1 50); do
	[ -s "$T/fake.port" ] && break
	sleep 0.1
done
FAKE=http://127.0.0.1:$(cat "$T/fake.port")
curl -fsS -m 2 "$FAKE/health" >/dev/null || fail "the fake site did not start"

rc=0
timeout 20 "$BIN/stewardctl" -s "$FAKE" -t "$ADMIN" site show >"$T/ctl.out" 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "stewardctl against a site with API 2 exited $rc, not 3: $(cat "$T/ctl.out")"
grep -q version_incompatible "$T/ctl.out" || fail "stewardctl did not say version_incompatible: $(cat "$T/ctl.out")"
grep -q "9.0.0" "$T/ctl.out" || fail "stewardctl did not name the site's version: $(cat "$T/ctl.out")"
pass "stewardctl against a site with API 2 -> exit 3: $(head -n 2 "$T/ctl.out" | tr '\n' ' ')"

rc=0
timeout 20 "$BIN/steward-agent" --server "$FAKE" --state-dir "$T/agent-future" \
	--enroll-token "stwenr1.$(printf 'a%.0s' $(seq 1 40)).$(printf 'b%.0s' $(seq 1 64))" \
	--once --timeout 10 >"$T/agent-future.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the agent accepted a site that speaks protocol 5-6"
[ $rc -ne 124 ] || fail "the agent hung against a site that speaks protocol 5-6"
grep -q "version_incompatible\|protocol_mismatch" "$T/agent-future.log" ||
	fail "the agent did not report the protocol mismatch: $(tail -n 5 "$T/agent-future.log")"
pass "steward-agent against a site with protocol 5-6 refuses (exit $rc)"

kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd died"
curl -fsS "$SITE_URL/health" >/dev/null || fail "stewardd not healthy at the end"
stop_checked site
pass "stewardd exits 0 on SIGTERM, no sanitizer report"

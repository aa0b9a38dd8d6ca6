#!/usr/bin/env bash
# Every protected route refuses a caller without credentials. Generated
# from the route table (stewardd --routes), so a new route cannot be
# forgotten: each route whose permission is not 'none' or 'enroll' must
# answer 401 without credentials on a site with metrics_loopback off.
# Also /metrics: open to loopback by default (Prometheus text), and a bad
# Bearer token is refused there with 401 token_invalid.
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

"$BIN/stewardd" --routes >"$T/routes" || fail "stewardd --routes failed"
[ -s "$T/routes" ] || fail "stewardd --routes printed nothing"

site_start locked --metrics_loopback false

# One id that looks valid for any {param}: 32 hex digits
PARAM=00000000000000000000000000000000
N=0
SKIPPED=0
while read -r method path perm _roles; do
	[ -n "$method" ] || continue
	[ -n "$perm" ] || fail "route line without a permission: '$method $path'"
	case "$perm" in
	none | enroll)
		SKIPPED=$((SKIPPED + 1))
		continue
		;;
	esac
	url=$(echo "$path" | sed -E "s/\{[^}]+\}/$PARAM/g")
	args=(-X "$method")
	[ "$method" = GET ] || args+=(-H 'Content-Type: application/json' --data '{}')
	code=$(curl -sS -o "$T/resp" -w '%{http_code}' -m 10 "${args[@]}" "$SITE_URL$url") ||
		fail "$method $url: no answer"
	[ "$code" = 401 ] || fail "$method $path ($perm) without credentials answered $code, not 401: $(cat "$T/resp")"
	err=$(jq -r .error.code "$T/resp" 2>/dev/null || true)
	[ -n "$err" ] && [ "$err" != null ] || fail "$method $path: 401 without a JSON error: $(cat "$T/resp")"
	N=$((N + 1))
done <"$T/routes"
[ "$N" -ge 10 ] || fail "only $N protected routes tested; the route table looks truncated: $(cat "$T/routes")"
pass "$N protected routes answer 401 without credentials ($SKIPPED open or enrollment routes skipped)"

# the same routes with a token that is not the site's: 401 too
BOGUS=stw_$(head -c 64 /dev/zero | tr '\0' 0)
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $BOGUS" "$SITE_URL/api/v1/clients")
[ "$code" = 401 ] || fail "unknown admin token answered $code"
expect_eq "$(jq -r .error.code "$T/resp")" token_invalid "code for an unknown admin token"
pass "an unknown admin token -> 401 token_invalid"

curl -fsS "$SITE_URL/health" >/dev/null || fail "stewardd not healthy after the route sweep"
stop_checked locked

# ---- /metrics with the default configuration ----------------------------------------
site_start open
# some traffic first, so the request counter has a line
curl -fsS "$SITE_URL/health" >/dev/null
code=$(curl -sS -o "$T/metrics" -D "$T/mhdrs" -w '%{http_code}' "$SITE_URL/metrics")
[ "$code" = 200 ] || fail "/metrics from loopback answered $code: $(head -c 300 "$T/metrics")"
grep -qi '^Content-Type: text/plain' "$T/mhdrs" || fail "/metrics is not text/plain: $(cat "$T/mhdrs")"
grep -q '^# TYPE steward_http_requests_total counter' "$T/metrics" || fail "/metrics lacks the TYPE line of steward_http_requests_total"
grep -q '^steward_http_requests_total{route="health",status="200"} [0-9]' "$T/metrics" ||
	fail "/metrics does not count the /health request: $(grep steward_http_requests_total "$T/metrics")"
grep -q '^steward_clients{state="[a-z]*"} [0-9]' "$T/metrics" || fail "/metrics lacks steward_clients"
# every sample line is NAME{labels} VALUE or NAME VALUE
BAD=$(grep -v '^#' "$T/metrics" | grep -Ev '^[a-z_:][a-z0-9_:]*(\{[^}]*\})? [-+0-9.eE]+$|^[a-z_:][a-z0-9_:]*(\{[^}]*\})? [+-]Inf$' || true)
[ -z "$BAD" ] || fail "/metrics has lines that are not Prometheus samples: $BAD"
pass "/metrics from loopback: 200, Prometheus text with steward_http_requests_total and steward_clients"

code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H 'Authorization: Bearer not-a-token' "$SITE_URL/metrics")
[ "$code" = 401 ] || fail "/metrics with a bad Bearer token answered $code"
expect_eq "$(jq -r .error.code "$T/resp")" token_invalid "code for /metrics with a bad token"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $BOGUS" "$SITE_URL/metrics")
[ "$code" = 401 ] || fail "/metrics with an unknown token answered $code"
expect_eq "$(jq -r .error.code "$T/resp")" token_invalid "code for /metrics with an unknown token"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$ADMIN")" "$SITE_URL/metrics")
[ "$code" = 200 ] || fail "/metrics with the admin token answered $code"
pass "/metrics with a bad Bearer token -> 401 token_invalid; with the admin token -> 200"

kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd died"
curl -fsS "$SITE_URL/health" >/dev/null || fail "stewardd not healthy at the end"
stop_checked open
pass "stewardd exits 0 on SIGTERM, no sanitizer report"

#!/usr/bin/env bash
# Bad input at the HTTP layer against a running stewardd: oversized headers
# (431) and bodies (413, with Content-Length and chunked), unknown paths
# (404), wrong methods (405 with Allow), malformed admin bodies (400 naming
# the field) and raw socket junk. The site must answer each in JSON with the
# documented code and stay up through all of them.
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

command -v python3 >/dev/null || fail "python3 missing (raw socket cases need it)"

# the smallest body limit the configuration allows, so the cases stay small
BODY_MAX=4096
# steward-rawhttp speaks plain HTTP (test_content sends the same refusals over HTTPS)
site_start site --http_max_body_bytes $BODY_MAX --inventory_max_bytes 67108864 --tls false
PORT=${SITE_URL##*:}

# http METHOD PATH [curl args...]: prints "STATUS BODY" (headers in $T/hdrs)
http() {
	local method=$1 path=$2
	shift 2
	curl -sS -o "$T/resp" -D "$T/hdrs" -w '%{http_code}' -X "$method" "$@" "$SITE_URL$path" || true
	echo " $(tr '\n' ' ' <"$T/resp")"
}

# expect_msg "STATUS BODY" TEXT: the error message contains TEXT
expect_msg() {
	local msg
	msg=$(echo "${1#* }" | jq -r .error.message 2>/dev/null || true)
	case "$msg" in
	*"$2"*) ;;
	*) fail "error message does not mention '$2': ${1#* }" ;;
	esac
}

expect_alive() {
	kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd died ($1): $(tail -n 5 "$T/site.log")"
	curl -fsS -m 5 "$SITE_URL/health" >/dev/null || fail "stewardd not healthy after $1"
}

long() { head -c "$1" /dev/zero | tr '\0' "${2:-a}"; }

# ---- headers --------------------------------------------------------------
R=$(http GET /health -H "X-Big: $(long 10000)")
expect_status "$R" 431 headers_too_large
expect_msg "$R" "the limit is 8192"
grep -qi '^Steward-Version:' "$T/hdrs" || fail "431 reply lacks Steward-Version"
pass "10 kB header -> 431 headers_too_large (JSON)"

# several headers adding up over the limit, on a protected POST route:
# refused before authentication looks at them
ARGS=()
for i in $(seq 1 40); do ARGS+=(-H "X-Filler-$i: $(long 250 b)"); done
R=$(http POST /api/v1/checkin "${ARGS[@]}" --data '{}')
expect_status "$R" 431 headers_too_large
pass "40 headers totalling ~10 kB -> 431 headers_too_large"

# under the limit in bytes, many headers: still served
ARGS=()
for i in $(seq 1 50); do ARGS+=(-H "X-Filler-$i: $(long 70 b)"); done
R=$(http GET /health "${ARGS[@]}")
expect_status "$R" 200
# Many headers over the limit: the site's JSON 431. (libmicrohttpd keeps
# ~64 bytes per header in its connection pool; the pool is sized so that
# the site sees such a head before libmicrohttpd would refuse it in HTML,
# see mem_limit in lib/net/server.c and test_http_framing.)
ARGS=()
for i in $(seq 1 120); do ARGS+=(-H "X-Filler-$i: $(long 70 b)"); done
R=$(http GET /health "${ARGS[@]}")
expect_status "$R" 431 headers_too_large
pass "50 headers under the limit served; 120 headers over it -> 431 headers_too_large"

# many tiny headers well under the byte limit are served (the connection
# pool once had no room for libmicrohttpd's own per-header bookkeeping and
# answered its own HTML 431 at about 2.3 kB of headers)
ARGS=()
for i in $(seq 1 250); do ARGS+=(-H "X$i: b"); done
R=$(http GET /health "${ARGS[@]}")
expect_status "$R" 200
pass "250 tiny headers (~2.3 kB) served"

# the query string counts toward the header limit
R=$(http GET "/health?$(long 9000 p)")
expect_status "$R" 431 headers_too_large
pass "9 kB query string -> 431 headers_too_large"

# far over the limit: a 1 MB header block (one 64 kB line, then many
# lines). libmicrohttpd may answer 431 itself or close; either is fine as
# long as the site stays up.
python3 - "$PORT" >"$T/huge.out" <<'EOF'
import socket, sys
port = int(sys.argv[1])
def attempt(block):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + block + b"\r\n")
    except OSError:
        pass  # the site closed while we were still sending
    try:
        data = s.recv(200)
    except OSError:
        data = b""
    s.close()
    return data.split(b"\r\n", 1)[0].decode("latin-1") if data else "closed"
print(attempt(b"X-One: " + b"a" * 65536 + b"\r\n"))
print(attempt(b"".join(b"X-H%d: %s\r\n" % (i, b"c" * 100) for i in range(10000))))
EOF
while read -r line; do
	case "$line" in
	closed | "HTTP/1.1 431"*) ;;
	*) fail "a 1 MB header block got '$line', expected 431 or a closed connection" ;;
	esac
done <"$T/huge.out"
expect_alive "huge header blocks"
pass "huge header blocks -> $(paste -sd, "$T/huge.out"); site up"

# ---- bodies -----------------------------------------------------------------
long 5000 x >"$T/body5k"
long 200000 x >"$T/body200k"
long $BODY_MAX x >"$T/body-at-limit"

R=$(http POST /api/v1/checkin --data-binary @"$T/body5k" -H 'Content-Type: application/json')
expect_status "$R" 413 body_too_large
expect_msg "$R" "$BODY_MAX"
R=$(http POST /api/v1/checkin --data-binary @"$T/body200k" -H 'Expect:')
expect_status "$R" 413 body_too_large
pass "body over the limit with Content-Length -> 413 body_too_large"

# a chunked body has no length to refuse from the headers: a caller who
# passes them (an admin) reaches the cap; one who does not, never the body
BEARER="Authorization: Bearer $(cat "$ADMIN")"
R=$(http POST /api/v1/enroll-tokens --data-binary @"$T/body5k" -H 'Transfer-Encoding: chunked' -H "$BEARER")
expect_status "$R" 413 body_too_large
R=$(http POST /api/v1/enroll-tokens --data-binary @"$T/body200k" -H 'Transfer-Encoding: chunked' -H "$BEARER")
expect_status "$R" 413 body_too_large
R=$(http POST /api/v1/checkin --data-binary @"$T/body200k" -H 'Transfer-Encoding: chunked')
expect_status "$R" 401 auth_required
pass "chunked body over the limit -> 413 body_too_large (401 first without credentials)"

# the limit itself is allowed: the request goes on to authentication
R=$(http POST /api/v1/checkin --data-binary @"$T/body-at-limit")
expect_status "$R" 401 auth_required
pass "body of exactly http_max_body_bytes passes the size check"

# a Content-Length that overflows is refused, not wrapped
R=$(http POST /api/v1/enroll -H 'Content-Length: 18446744073709551615')
expect_status "$R" 413 body_too_large
pass "Content-Length 2^64-1 -> 413"
expect_alive "oversized bodies"

# ---- credentials before the body ---------------------------------------------
# An upload without valid credentials is refused from its headers: none of
# its body is read or buffered. Four at once, 50 MiB each (under the
# routes' caps): two to an admin route without a token (packages, 64 MiB
# cap) and two to an agent route from a client the site does not know
# (inventory, raised to 64 MiB). They used to be buffered whole before the
# 401, some 200 MB; now stewardd's peak RSS grows by less than 20 MB and
# each client gets its 401 before it could send its body.
hwm_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$SITE_PID/status"; }
BIG=$((50 * 1024 * 1024))
UNKNOWN=0123456789abcdef0123456789abcdef
HWM0=$(hwm_kb)
UPS=()
for i in 1 2; do
	"$BIN/steward-rawhttp" --port "$PORT" --timeout-ms 60000 --body-bytes $BIG \
		--send "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
		--send "Content-Length: $BIG\r\n\r\n" >"$T/up-admin$i.out" &
	UPS+=($!)
	"$BIN/steward-rawhttp" --port "$PORT" --timeout-ms 60000 --body-bytes $BIG \
		--send "POST /api/v1/inventory HTTP/1.1\r\nHost: x\r\nSteward-Client: $UNKNOWN\r\n" \
		--send "Steward-Signature: AAAA\r\nSteward-Timestamp: $(date +%s)\r\nSteward-Seq: 1\r\n" \
		--send "Content-Length: $BIG\r\n\r\n" >"$T/up-agent$i.out" &
	UPS+=($!)
done
PIDS+=("${UPS[@]}")
for pid in "${UPS[@]}"; do wait "$pid" || fail "steward-rawhttp failed"; done
HWM1=$(hwm_kb)
for f in "$T"/up-*.out; do
	out=$(cat "$f")
	case $(basename "$f") in
	up-admin*) want="status=401 code=auth_required" ;;
	*) want="status=401 code=unknown_client" ;;
	esac
	case "$out" in "$want "*) ;; *) fail "unauthenticated 50 MiB upload: expected '$want', got: $out" ;; esac
	sent=$(echo "$out" | sed -n 's/.* sent=\([0-9]*\).*/\1/p')
	[ "$sent" -lt $BIG ] || fail "the site read the whole unauthenticated body before refusing it: $out"
done
GROWTH_MB=$(((HWM1 - HWM0) / 1024))
[ $GROWTH_MB -lt 20 ] ||
	fail "4 unauthenticated 50 MiB uploads raised stewardd's peak RSS by $GROWTH_MB MB ($HWM0 -> $HWM1 kB)"
pass "4 unauthenticated 50 MiB uploads -> 401 from the headers; peak RSS $((HWM0 / 1024)) -> $((HWM1 / 1024)) MB"
expect_alive "unauthenticated uploads"

# ---- paths and methods ------------------------------------------------------
R=$(http GET /nope)
expect_status "$R" 404 not_found
R=$(http GET /api/v1/clients/a/b/c/d)
expect_status "$R" 404 not_found
R=$(http GET "/$(long 3000 p)")
expect_status "$R" 404 not_found
pass "unknown paths -> 404 not_found"

R=$(http DELETE /health)
expect_status "$R" 405 method_not_allowed
grep -qi '^Allow: GET' "$T/hdrs" || fail "405 on /health without 'Allow: GET': $(cat "$T/hdrs")"
R=$(http PUT /api/v1/checkin --data '{}')
expect_status "$R" 405 method_not_allowed
grep -qi '^Allow: POST' "$T/hdrs" || fail "405 on /api/v1/checkin without 'Allow: POST'"
R=$(http POST /api/v1/clients/00000000000000000000000000000000 --data '{}')
expect_status "$R" 405 method_not_allowed
ALLOW=$(grep -i '^Allow:' "$T/hdrs" | tr -d '\r')
case "$ALLOW" in
*GET*DELETE* | *DELETE*GET*) ;;
*) fail "405 on /api/v1/clients/ID should allow GET and DELETE, got '$ALLOW'" ;;
esac
pass "wrong methods -> 405 with Allow ($ALLOW)"

# ---- admin bodies -------------------------------------------------------------
AUTH=(-H "Authorization: Bearer $(cat "$ADMIN")" -H 'Content-Type: application/json')
admin_bad() { # BODY FIELD-OR-TEXT [PATH]
	local r
	r=$(http POST "${3:-/api/v1/enroll-tokens}" "${AUTH[@]}" --data-binary "$1")
	expect_status "$r" 400 bad_request
	expect_msg "$r" "$2"
}
admin_bad '{"uses":' "malformed JSON"
admin_bad '[1, 2]' "must be a JSON object"
admin_bad '{"uses": 1, "uses": 2, "ttl": 3600}' "malformed JSON"
admin_bad '{"uses": "x", "ttl": 3600}' "'uses'"
admin_bad '{"uses": 0, "ttl": 3600}' "'uses'"
admin_bad '{"uses": 1e300, "ttl": 3600}' "'uses'"
admin_bad '{"uses": 1, "ttl": 10}' "'ttl'"
admin_bad '{"uses": 1, "ttl": 3600, "site": "toolong"}' "'site'"
printf '{"uses": 1, "ttl": 3600, "site": "\xff\xfe"}' >"$T/bad-utf8"
admin_bad @"$T/bad-utf8" "malformed JSON"
admin_bad "{\"name\": \"$(long 100 n)\"}" "'name'" /api/v1/admins/tokens
admin_bad '{"name": "a b"}' "'name'" /api/v1/admins/tokens
admin_bad "{\"reason\": \"$(long 300 r)\"}" "'reason'" /api/v1/clients/00000000000000000000000000000000/block
admin_bad '{"reason": 42}' "'reason'" /api/v1/clients/00000000000000000000000000000000/block
R=$(http GET /api/v1/clients/not-a-client-id "${AUTH[@]}")
expect_status "$R" 400 bad_request
R=$(http DELETE /api/v1/enroll-tokens/zz "${AUTH[@]}")
expect_status "$R" 400 bad_request
pass "malformed admin bodies and ids -> 400 bad_request naming the field"
expect_alive "malformed admin bodies"

# ---- raw junk on the socket ---------------------------------------------------
python3 - "$PORT" >"$T/junk.out" <<'EOF'
import socket, sys
port = int(sys.argv[1])
cases = [
    b"GARBAGE\r\n\r\n",
    b"GET /health HTTP/1.1\r\nNoColonHeader\r\n\r\n",
    b"POST /api/v1/checkin HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/v1/checkin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
    b"\x00\xff\xfe\xfd\r\n\r\n",
]
for c in cases:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(c)
    s.shutdown(socket.SHUT_WR)  # no more is coming: answer or close now
    try:
        data = s.recv(200)
    except OSError:
        data = b""
    s.close()
    print(data.split(b"\r\n", 1)[0].decode("latin-1") if data else "closed")
EOF
while read -r line; do
	case "$line" in
	closed | "HTTP/1.1 4"* | "HTTP/1.1 505"*) ;;
	*) fail "junk on the socket got '$line'" ;;
	esac
done <"$T/junk.out"
pass "raw junk -> $(paste -sd, "$T/junk.out")"

expect_alive "all HTTP bad input"
pass "stewardd up and healthy after every bad HTTP input"
stop_checked site
pass "stewardd exits 0 on SIGTERM, no sanitizer report"

#!/usr/bin/env bash
# The HTTP framing rules, so they cannot come back: every case in
# tests/system/http_cases/ (what to send, what must come back) runs on a
# fresh connection with steward-rawhttp, which writes exactly the given
# bytes; then a sweep over every combination of framing headers checks the
# rules of RFC 9112 6.3 against an oracle written here, independently of
# lib/net/server.c. The site must stay up through all of it.
. "$(dirname "$0")/lib.sh"

RAW=$BIN/steward-rawhttp
CASES=$SRC/tests/system/http_cases
[ -x "$RAW" ] || fail "steward-rawhttp is not built ($RAW)"

# steward-rawhttp speaks plain HTTP: the framing rules under test are the
# same behind TLS (test_tls checks the HTTPS side)
site_start site --http_max_body_bytes 4096 --tls false
PORT=${SITE_URL##*:}

# field OUTPUT NAME: the value of NAME=... in a steward-rawhttp line
field() {
	local kv
	for kv in $1; do
		[ "${kv%%=*}" = "$2" ] && echo "${kv#*=}" && return 0
	done
	return 0
}

expect_alive() {
	kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd died ($1): $(tail -n 5 "$T/site.log")"
	curl -fsS -m 5 "$SITE_URL/health" >/dev/null || fail "stewardd not healthy after $1"
}

# run_case FILE: sends what the case says; fails on the first expectation
# that does not hold
run_case() {
	local f=$1 name line key val out got
	local -a send=() args=() more=()
	local -A want=()
	name=$(basename "$f" .case)
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in '' | '#'*) continue ;; esac
		key=${line%%:*}
		val=${line#*:}
		val=${val# }
		case "$key" in
		send) send+=(--send "$val") ;;
		send-fill)
			read -r -a more <<<"$val"
			[ ${#more[@]} -eq 2 ] || fail "$name: send-fill wants 'CHAR COUNT', got '$val'"
			send+=(--send "$(head -c "${more[1]}" /dev/zero | tr '\0' "${more[0]}")")
			;;
		args)
			read -r -a more <<<"$val"
			args+=("${more[@]}")
			;;
		status | code | json | closed | responses | close-within) want[$key]=$val ;;
		*) fail "$name: unknown key '$key' in $f" ;;
		esac
	done <"$f"
	[ ${#send[@]} -gt 0 ] || fail "$name: nothing to send"
	[ ${#want[@]} -gt 0 ] || fail "$name: expects nothing"
	if [ -n "${want[code]:-}" ] && [ "${want[code]}" != - ] && [ -z "${want[json]:-}" ]; then
		want[json]=yes
	fi
	out=$("$RAW" --port "$PORT" "${send[@]}" "${args[@]}") || fail "$name: steward-rawhttp failed"
	for key in "${!want[@]}"; do
		case "$key" in
		close-within)
			got=$(field "$out" close_s)
			awk -v s="$got" -v l="${want[$key]}" 'BEGIN { exit !(s >= 0 && s <= l) }' ||
				fail "$name: expected the site to close within ${want[$key]} s: $out"
			;;
		*)
			got=$(field "$out" "$key")
			[ "$got" = "${want[$key]}" ] || fail "$name: expected $key=${want[$key]}, got $key=$got: $out"
			;;
		esac
	done
	pass "$name: $out"
}

N=0
for f in "$CASES"/*.case; do
	run_case "$f"
	N=$((N + 1))
done
[ "$N" -ge 10 ] || fail "only $N cases in $CASES"
expect_alive "the framing cases"
pass "$N framing cases as their files say"

# ---- every combination of framing headers ------------------------------------
# Each request is a POST to a protected route whose body, if framed at all,
# is "0\r\n\r\n" (5 bytes: the end of a chunked body, or Content-Length 5),
# followed by a GET /health. The oracle says what RFC 9112 6.1 and 6.3 make
# of the head; the site must agree:
#   faulty framing -> one response (400 bad_framing or 501), connection closed;
#   good framing   -> 401 first; a second response, if any, is the GET's 200
#                     exactly when the framing covers the 5 bytes.
CL_TAGS=(none one twice zero-five spaced)
CL_HDRS=("" 'Content-Length: 5\r\n' 'Content-Length: 5\r\nContent-Length: 5\r\n'
	'Content-Length: 0\r\nContent-Length: 5\r\n' 'Content-Length : 5\r\n')
TE_TAGS=(none chunked Chunked gzip gzip,chunked chunked,gzip identity twice spaced)
TE_HDRS=("" 'Transfer-Encoding: chunked\r\n' 'Transfer-Encoding: Chunked\r\n'
	'Transfer-Encoding: gzip\r\n' 'Transfer-Encoding: gzip, chunked\r\n'
	'Transfer-Encoding: chunked, gzip\r\n' 'Transfer-Encoding: identity\r\n'
	'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n'
	'Transfer-Encoding : chunked\r\n')

# oracle CL_TAG TE_TAG VERSION: prints "STATUS CODE BODY_BYTES"
oracle() {
	local cl=$1 te=$2 v=$3 n_cl=0 n_te=0
	case $cl in one | spaced) n_cl=1 ;; twice | zero-five) n_cl=2 ;; esac
	case $te in none) ;; twice) n_te=2 ;; *) n_te=1 ;; esac
	if [ "$cl" = spaced ] || [ "$te" = spaced ]; then
		echo "400 bad_framing"
	elif [ $n_cl -gt 1 ] || { [ $n_cl -eq 1 ] && [ $n_te -gt 0 ]; }; then
		echo "400 bad_framing"
	elif [ $n_te -gt 0 ] && [ "$v" = 1.0 ]; then
		echo "400 bad_framing"
	elif [ $n_te -gt 1 ] || { [ $n_te -eq 1 ] && [ "$te" != chunked ] && [ "$te" != Chunked ]; }; then
		echo "501 transfer_encoding_unsupported"
	elif [ $n_cl -eq 1 ] || [ $n_te -eq 1 ]; then
		echo "401 auth_required 5"
	else
		echo "401 auth_required 0"
	fi
}

SWEPT=0
for v in 1.1 1.0; do
	for i in "${!CL_TAGS[@]}"; do
		for j in "${!TE_TAGS[@]}"; do
			what="HTTP/$v, Content-Length ${CL_TAGS[$i]}, Transfer-Encoding ${TE_TAGS[$j]}"
			read -r wstatus wcode wbody <<<"$(oracle "${CL_TAGS[$i]}" "${TE_TAGS[$j]}" $v)"
			out=$("$RAW" --port "$PORT" --linger-ms 300 \
				--send "POST /api/v1/checkin HTTP/$v\r\nHost: x\r\n${CL_HDRS[$i]}${TE_HDRS[$j]}\r\n" \
				--send '0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n') ||
				fail "$what: steward-rawhttp failed"
			[ "$(field "$out" status)" = "$wstatus" ] && [ "$(field "$out" code)" = "$wcode" ] ||
				fail "$what: expected $wstatus $wcode, got: $out"
			statuses=$(field "$out" statuses)
			if [ -z "$wbody" ]; then
				[ "$(field "$out" responses)" = 1 ] && [ "$(field "$out" closed)" = yes ] ||
					fail "$what: faulty framing must get one response and a close: $out"
			elif [ "$wbody" = 5 ]; then
				case $statuses in "$wstatus" | "$wstatus,200") ;; *)
					fail "$what: after a body of 5 bytes only the GET's 200 may follow: $out" ;;
				esac
			else
				case $statuses in *,200*)
					fail "$what: no body is framed, yet the bytes after the head were served as the GET: $out" ;;
				esac
			fi
			SWEPT=$((SWEPT + 1))
		done
	done
done
expect_alive "the framing sweep"
pass "$SWEPT combinations of Content-Length, Transfer-Encoding and version framed as RFC 9112 says"

# ---- heads of every size ---------------------------------------------------------
# A head within http_max_header_bytes (8192 here) is served; one over it by
# up to half is refused with the site's JSON 431, never libmicrohttpd's
# HTML one. libmicrohttpd keeps about 64 bytes of its own for each header,
# so 400 tiny headers (3.6 kB) used to overflow its connection pool and get
# its HTML 431 while the site counted them well under the limit. The site
# now counts each header as at least 32 bytes, and sizes the pool (3 x the
# limit + 8 KiB) to hold any head it counts up to one and a half times the
# limit. Far larger heads are refused by libmicrohttpd itself (see the
# mhd-*.case files). Counted: "GET" + "/health" + 12, then each header
# (Host: x too) as name + value + 4, at least 32.
LIMIT=8192
# size_case WHAT COUNTED HEAD [STATUS]: what must come back for a head of
# COUNTED bytes; STATUS (default 200) when it is within the limit
size_case() {
	local what=$1 counted=$2 head=$3 ok=${4:-200} out
	out=$("$RAW" --port "$PORT" --linger-ms 100 --send "$head") || fail "$what: steward-rawhttp failed"
	if [ "$counted" -le $LIMIT ]; then
		[ "$(field "$out" status)" = "$ok" ] || fail "$what ($counted bytes counted): expected $ok: $out"
	elif [ "$counted" -le $((LIMIT * 3 / 2)) ]; then
		[ "$(field "$out" status) $(field "$out" code)" = "431 headers_too_large" ] ||
			fail "$what ($counted bytes counted): expected the site's JSON 431: $out"
	else
		case "$(field "$out" status) $(field "$out" closed)" in
		"431 yes" | "414 yes" | "0 yes") ;;
		*) fail "$what ($counted bytes counted): expected 431 (or 414) and a close: $out" ;;
		esac
	fi
	pass "$what: $counted bytes counted -> $(field "$out" status) $(field "$out" code)"
}
for n in 100 200 254 255 300 382 1000 4000; do
	h=""
	for i in $(seq 1 $n); do h="${h}X$i: b\r\n"; done
	size_case "$n tiny headers" $((22 + 32 * (n + 1))) "GET /health HTTP/1.1\r\nHost: x\r\n$h\r\n"
done
for len in 8000 8133 8134 12229 100000; do
	size_case "one header of $len bytes" $((22 + 32 + 1 + len + 4)) \
		"GET /health HTTP/1.1\r\nHost: x\r\nX: $(head -c $len /dev/zero | tr '\0' a)\r\n\r\n"
done
for len in 8145 8146 12241 40000; do
	size_case "a path of $len bytes" $((3 + len + 12 + 32)) \
		"GET /$(head -c $((len - 1)) /dev/zero | tr '\0' p) HTTP/1.1\r\nHost: x\r\n\r\n" 404
done
expect_alive "heads of every size"

stop_checked() {
	local rc=0
	site_stop || rc=$?
	[ $rc -eq 0 ] || fail "stewardd ($1) exited $rc on SIGTERM"
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/$1.log"; then
		fail "sanitizer report in the log of stewardd ($1): $(grep -m1 -A 12 -E 'Sanitizer|runtime error:' "$T/$1.log")"
	fi
}
stop_checked site
pass "stewardd exits 0 on SIGTERM, no sanitizer report"

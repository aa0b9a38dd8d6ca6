#!/usr/bin/env bash
# Content end to end with curl: uploads streamed into the blob store and
# verified (a wrong hash stores nothing, an interrupted upload leaves
# nothing), the missing list, and downloads from the distribution point:
# full, Range (206, 416), ETag and If-None-Match (304), If-Range, 404 and
# 401; then dp_max_downloads and dp_max_bandwidth: a paced download keeps
# the only slot, so a second one gets 503 dp_busy with Retry-After.
. "$(dirname "$0")/lib.sh"

site_start s1
AUTH="Authorization: Bearer $(cat "$ADMIN")"
ZERO=0000000000000000000000000000000000000000000000000000000000000000

# get PATH [curl args...]: prints the status; body in $T/body, headers in $T/hdrs
get() {
	local path=$1
	shift
	: >"$T/body" # curl writes no file for an empty body
	curl -sS -o "$T/body" -D "$T/hdrs" -w '%{http_code}' "$@" "$SITE_URL$path"
}
# hdr NAME: a header of the last get, without its CR
hdr() {
	sed -n "s/^$1: *//Ip" "$T/hdrs" | tr -d '\r'
}
# put HASH FILE [curl args...]: prints "STATUS BODY"
put() {
	local hash=$1 file=$2
	shift 2
	curl -sS -o "$T/resp" -w '%{http_code}' -H "$AUTH" -T "$file" "$@" \
		"$SITE_URL/api/v1/content/$hash"
	echo " $(cat "$T/resp")"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
tmp_empty() {
	[ -z "$(ls -A "$SITE_DIR/content/tmp")" ] ||
		fail "leftovers in content/tmp: $(ls -A "$SITE_DIR/content/tmp")"
}

head -c 1000000 /dev/urandom >"$T/blob"
H=$(sha "$T/blob")

# ---- uploads ---------------------------------------------------------------------------
r=$(put "$H" "$T/blob")
expect_status "$r" 201
expect_eq "$(jq -r .hash "$T/resp")" "$H" "hash in the 201"
expect_eq "$(jq -r .size "$T/resp")" 1000000 "size in the 201"
[ -f "$SITE_DIR/content/blobs/${H:0:2}/$H" ] || fail "not stored under content/blobs/${H:0:2}/"
expect_eq "$(stat -c %a "$SITE_DIR/content/blobs/${H:0:2}/$H")" 644 "blob mode"
pass "upload -> 201, stored under blobs/ab/HASH with mode 0644"

r=$(put "$H" "$T/blob")
expect_status "$r" 200
expect_eq "$(jq -r .size "$T/resp")" 1000000 "size in the 200"
pass "the same blob again -> 200"

# chunked (no Content-Length): streamed all the same
head -c 300000 /dev/urandom >"$T/chunked"
C=$(sha "$T/chunked")
r=$(put "$C" - -H 'Transfer-Encoding: chunked' <"$T/chunked")
expect_status "$r" 201
pass "chunked upload -> 201"

printf 'other bytes' >"$T/other"
O=$(sha "$T/other")
r=$(put "$ZERO" "$T/other")
expect_status "$r" 400 hash_mismatch
echo "$r" | grep -q "$O" || fail "hash_mismatch does not name the bytes' hash: $r"
echo "$r" | grep -q "$ZERO" || fail "hash_mismatch does not name the expected hash: $r"
[ ! -e "$SITE_DIR/content/blobs/${O:0:2}/$O" ] || fail "a mismatched upload was stored under its own hash"
[ ! -e "$SITE_DIR/content/blobs/00/$ZERO" ] || fail "a mismatched upload was stored"
tmp_empty
pass "wrong hash -> 400 hash_mismatch naming both, nothing stored"

r=$(put nothex "$T/other")
expect_status "$r" 400 bad_request
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -T "$T/blob" "$SITE_URL/api/v1/content/$H")
expect_eq "$code" 401 "upload without credentials"
pass "bad hash -> 400; no credentials -> 401"

# the client goes away in the middle: nothing stored, nothing left in tmp/
head -c 3000000 /dev/urandom >"$T/slow"
S=$(sha "$T/slow")
curl -sS -o /dev/null -H "$AUTH" -T "$T/slow" --limit-rate 500k "$SITE_URL/api/v1/content/$S" &
cpid=$!
sleep 1
kill "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
sleep 0.5
[ ! -e "$SITE_DIR/content/blobs/${S:0:2}/$S" ] || fail "an interrupted upload was stored"
tmp_empty
pass "interrupted upload -> nothing stored, nothing left in content/tmp"

# ---- the missing list ------------------------------------------------------------------------
r=$(admin_call POST /api/v1/content/missing "{\"hashes\":[\"$H\",\"$O\",\"$C\"]}")
expect_status "$r" 200
expect_eq "$(echo "${r#* }" | jq -c .missing)" "[\"$O\"]" "missing"
r=$(admin_call POST /api/v1/content/missing '{"hashes":[]}')
expect_eq "$(echo "${r#* }" | jq -c .missing)" "[]" "missing of none"
expect_status "$(admin_call POST /api/v1/content/missing '{"hashes":["nope"]}')" 400 bad_request
expect_status "$(admin_call POST /api/v1/content/missing '{"hashes":"x"}')" 400 bad_request
expect_status "$(admin_call POST /api/v1/content/missing 'not json')" 400 bad_request
# too large for a command line: from a file
missing_file() {
	curl -sS -o "$T/resp" -w '%{http_code}' -H "$AUTH" -H 'Content-Type: application/json' \
		--data-binary "@$1" "$SITE_URL/api/v1/content/missing"
	echo " $(cat "$T/resp")"
}
python3 -c "import json; print(json.dumps({'hashes': ['$ZERO'] * 10001}))" >"$T/many.json"
expect_status "$(missing_file "$T/many.json")" 400 bad_request
python3 -c "import json; print(json.dumps({'hashes': ['$ZERO'] * 10000}))" >"$T/max.json"
expect_status "$(missing_file "$T/max.json")" 200
expect_eq "$(jq '.missing | length' "$T/resp")" 10000 "missing of 10000"
pass "missing: lists what is not stored; bad input and 10001 hashes -> 400"

# ---- downloads ------------------------------------------------------------------------------
expect_eq "$(get "/content/$H" -H "$AUTH")" 200 "full GET"
expect_eq "$(sha "$T/body")" "$H" "sha256 of the download"
expect_eq "$(hdr ETag)" "\"$H\"" "ETag"
expect_eq "$(hdr Accept-Ranges)" bytes "Accept-Ranges"
expect_eq "$(hdr Cache-Control)" "public, max-age=31536000, immutable" "Cache-Control"
expect_eq "$(hdr Content-Type)" application/octet-stream "Content-Type"
grep -q "dp download hash=$H status=200 bytes=1000000 peer=127.0.0.1 client=admin ms=" "$T/s1.log" ||
	fail "no log line for the download: $(grep 'dp ' "$T/s1.log" | tail -3)"
pass "full GET: same sha256, ETag, Accept-Ranges, immutable caching, one log line"

expect_eq "$(get "/content/$H" -H "$AUTH" -H 'Range: bytes=1000-1999')" 206 "middle range"
expect_eq "$(hdr Content-Range)" "bytes 1000-1999/1000000" "Content-Range"
cmp -s "$T/body" <(tail -c +1001 "$T/blob" | head -c 1000) || fail "the middle range has other bytes"
expect_eq "$(get "/content/$H" -H "$AUTH" -H 'Range: bytes=-100')" 206 "suffix range"
expect_eq "$(hdr Content-Range)" "bytes 999900-999999/1000000" "suffix Content-Range"
cmp -s "$T/body" <(tail -c 100 "$T/blob") || fail "the suffix range has other bytes"
expect_eq "$(get "/content/$H" -H "$AUTH" -H 'Range: bytes=999000-')" 206 "open-ended range"
expect_eq "$(hdr Content-Range)" "bytes 999000-999999/1000000" "open-ended Content-Range"
expect_eq "$(stat -c %s "$T/body")" 1000 "open-ended length"
cmp -s "$T/body" <(tail -c 1000 "$T/blob") || fail "the open-ended range has other bytes"
pass "Range: middle, suffix and open-ended -> 206 with Content-Range"

expect_eq "$(get "/content/$H" -H "$AUTH" -H 'Range: bytes=1000000-')" 416 "range past the end"
expect_eq "$(hdr Content-Range)" "bytes */1000000" "416 Content-Range"
expect_eq "$(jq -r .error.code "$T/body")" range_not_satisfiable "416 code"
expect_eq "$(get "/content/$H" -H "$AUTH" -H 'Range: bytes=0-1,5-6')" 200 "several ranges"
expect_eq "$(sha "$T/body")" "$H" "several ranges: the whole blob"
pass "416 with Content-Range: bytes */SIZE; several ranges -> 200 whole"

expect_eq "$(get "/content/$H" -H "$AUTH" -H "If-None-Match: \"$H\"")" 304 "If-None-Match"
[ ! -s "$T/body" ] || fail "304 with a body"
expect_eq "$(hdr ETag)" "\"$H\"" "ETag on 304"
expect_eq "$(get "/content/$H" -H "$AUTH" -H "If-None-Match: \"$O\", W/\"$H\"")" 304 "If-None-Match list"
expect_eq "$(get "/content/$H" -H "$AUTH" -H "If-None-Match: \"$O\"")" 200 "If-None-Match other"
expect_eq "$(get "/content/$H" -H "$AUTH" -H "If-Range: \"$H\"" -H 'Range: bytes=0-9')" 206 "If-Range ours"
expect_eq "$(get "/content/$H" -H "$AUTH" -H "If-Range: \"$O\"" -H 'Range: bytes=0-9')" 200 "If-Range other"
expect_eq "$(stat -c %s "$T/body")" 1000000 "If-Range other: the whole blob"
pass "If-None-Match -> 304; If-Range honoured"

expect_eq "$(get "/content/$O" -H "$AUTH")" 404 "unknown blob"
expect_eq "$(jq -r .error.code "$T/body")" content_not_found "404 code"
jq -r .error.remedy "$T/body" | grep -q 'next distribution point' || fail "404 remedy: $(cat "$T/body")"
expect_eq "$(get "/content/nothex" -H "$AUTH")" 400 "bad hash"
expect_eq "$(get "/content/$H")" 401 "no credentials"
expect_eq "$(get "/content/$H" -H "Authorization: Bearer stw_$ZERO")" 401 "unknown token"
pass "404 content_not_found, 400 bad hash, 401 without or with a bad token"

# the empty blob
: >"$T/empty"
E=$(sha "$T/empty")
expect_status "$(put "$E" "$T/empty")" 201
expect_eq "$(get "/content/$E" -H "$AUTH")" 200 "empty blob"
[ ! -s "$T/body" ] || fail "the empty blob is not empty"
pass "the empty blob round-trips"

# ---- limits ---------------------------------------------------------------------------------
# Over the cap: a chunked body is refused once it passes package_max_bytes.
site_stop
site_restart --package_max_bytes 1048576
head -c 2000000 /dev/urandom >"$T/big"
B=$(sha "$T/big")
r=$(put "$B" - -H 'Transfer-Encoding: chunked' <"$T/big")
expect_status "$r" 413 body_too_large
r=$(put "$B" "$T/big")
expect_status "$r" 413 body_too_large
[ ! -e "$SITE_DIR/content/blobs/${B:0:2}/$B" ] || fail "an upload over the cap was stored"
tmp_empty
pass "over package_max_bytes -> 413 (chunked and with Content-Length), nothing stored"

# One download at a time, paced at 1 MB/s: 4 MB keep the only slot for
# seconds, so a second download meanwhile gets 503. The bound on the time
# is loose: this checks the behaviour, not the speed.
site_stop
site_restart --dp_max_downloads 1 --dp_max_bandwidth 1000000
cat "$T/blob" "$T/blob" "$T/blob" "$T/blob" >"$T/four"
head -c 100 /dev/urandom >>"$T/four"
F=$(sha "$T/four")
expect_status "$(put "$F" "$T/four")" 201
curl -sS -o "$T/paced" -w '%{http_code} %{time_total}' -H "$AUTH" "$SITE_URL/content/$F" \
	>"$T/paced.out" &
cpid=$!
sleep 0.5
code=$(get "/content/$H" -H "$AUTH")
wait "$cpid" || fail "the paced download failed"
expect_eq "$code" 503 "a second download while the only slot is taken"
expect_eq "$(jq -r .error.code "$T/body")" dp_busy "503 code"
expect_eq "$(hdr Retry-After)" 5 "Retry-After"
pcode=$(cut -d" " -f1 "$T/paced.out")
secs=$(cut -d" " -f2 "$T/paced.out")
expect_eq "$pcode" 200 "the paced download"
expect_eq "$(sha "$T/paced")" "$F" "sha256 of the paced download"
awk -v s="$secs" 'BEGIN { exit !(s >= 2.0) }' || fail "4 MB at 1 MB/s took only $secs s"
pass "dp_max_downloads=1: a second download -> 503 dp_busy, Retry-After: 5; 4 MB at 1 MB/s took $secs s"
expect_eq "$(get "/content/$F" -H "$AUTH" -H 'Range: bytes=0-9')" 206 "the slot is free again"
pass "the slot is free once the download completed"

site_stop || fail "stewardd did not exit 0"
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/s1.log"; then
	fail "sanitizer report: $(grep -m1 -A 12 -E 'Sanitizer|runtime error:' "$T/s1.log")"
fi
pass "stewardd stopped cleanly"

#!/usr/bin/env bash
# Configuration: `stewardd -n -c FILE` accepts a good file and refuses each
# kind of mistake with exit 1 and FILE:LINE: message; flags override the
# file; site_code is required; --version and --help-config say what they
# should; a database with a newer schema is refused at start.
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

command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (scripts/deps.sh installs it)"

# ---- a good file -------------------------------------------------------------------
cat >"$T/good.conf" <<EOF
# a site with every kind of value
listen = 127.0.0.1:8420
data_dir = $T/gooddata
site_code = ABC
site_name = Head office   # comments after values are fine
boundary = 10.1.0.0/16 ABC
boundary = 10.2.0.0/16 XY1
boundary = fd00::/8 ABC
checkin_interval = 23h
checkin_jitter = 1h
enroll_auto_approve = yes
http_max_header_bytes = 8192
http_max_body_bytes = 262144
http_timeout = 30s
http_max_connections = 1024
http_max_per_ip = 256
log_level = warn
EOF
"$BIN/stewardd" -n -c "$T/good.conf" >"$T/good.out" 2>&1 || fail "a good file was refused: $(cat "$T/good.out")"
grep -q "configuration ok" "$T/good.out" || fail "-n did not say the configuration is ok: $(cat "$T/good.out")"
[ ! -e "$T/gooddata" ] || fail "-n created the data_dir; it must only check"
pass "-n -c good.conf exits 0 ($(cat "$T/good.out"))"

# ---- one mistake per file: exit 1 and FILE:LINE: message ---------------------------
# bad_conf NAME 'LINE' TEXT: the mistake goes on line 3, after two good lines
bad_conf() {
	local name=$1 line=$2 text=$3 f=$T/$1.conf rc=0
	printf '# %s\nsite_code = ABC\n%s\nsite_name = after the mistake\n' "$name" "$line" >"$f"
	"$BIN/stewardd" -n -c "$f" >"$T/$name.out" 2>&1 || rc=$?
	[ $rc -eq 1 ] || fail "$name: '$line' gave exit $rc, not 1: $(cat "$T/$name.out")"
	grep -qF "$f:3: " "$T/$name.out" || fail "$name: no '$f:3: ' in: $(cat "$T/$name.out")"
	grep -qF "$text" "$T/$name.out" || fail "$name: message does not say '$text': $(cat "$T/$name.out")"
	pass "$name: '$line' -> $(sed "s|$T/||" "$T/$name.out")"
}
bad_conf unknown_key 'colour = blue' "unknown key 'colour'"
bad_conf site_code_short 'site_code = ab' "site_code"
bad_conf site_code_long 'site_code = ABCD' "site_code"
bad_conf site_code_dash 'site_code = a-b' "site_code"
bad_conf site_code_lower 'site_code = abc' "must be exactly 3 characters"
bad_conf number_range 'http_max_connections = 5' "out of range"
bad_conf number_range_high 'http_max_header_bytes = 1000000' "out of range"
bad_conf duration_range 'checkin_interval = 10s' "out of range"
bad_conf not_a_number 'http_threads = two' "not a valid integer"
bad_conf number_space 'http_threads = 2 3' "not a valid integer"
bad_conf bad_duration 'checkin_interval = 5x' "not a valid duration"
bad_conf bad_duration_word 'http_timeout = soon' "not a valid duration"
bad_conf cidr_host_bits 'boundary = 10.0.0.1/8 XYZ' "host bits"
bad_conf cidr_prefix 'boundary = 10.0.0.0/33 XYZ' "/33"
bad_conf cidr_address 'boundary = 300.0.0.0/8 XYZ' "boundary"
bad_conf cidr_no_site 'boundary = 10.0.0.0/8' "boundary"
bad_conf bad_bool 'enroll_auto_approve = maybe' "not a boolean"
bad_conf missing_equals 'site_name steward' "expected 'key = value'"
bad_conf missing_key '= value' "missing key"
bad_conf bad_listen 'listen = nowhere' "ADDRESS:PORT"
bad_conf bad_log_level 'log_level = verbose' "must be debug, info, warn or error"

# a mistake on the command line names the command line
rc=0
"$BIN/stewardd" -n -c "$T/good.conf" --http_timeout 0 >"$T/cl.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "--http_timeout 0 gave exit $rc: $(cat "$T/cl.out")"
grep -q "command line: http_timeout" "$T/cl.out" || fail "command-line mistake not named: $(cat "$T/cl.out")"
pass "--http_timeout 0 -> exit 1: $(cat "$T/cl.out")"

# a missing file is named
rc=0
"$BIN/stewardd" -n -c "$T/nonexistent.conf" >"$T/nf.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a missing config file was accepted"
grep -qF "$T/nonexistent.conf" "$T/nf.out" || fail "missing file not named: $(cat "$T/nf.out")"
pass "missing config file refused"

# ---- site_code: required, and the command line overrides the file ---------------------
printf 'site_name = no code here\n' >"$T/nocode.conf"
rc=0
"$BIN/stewardd" -n -c "$T/nocode.conf" >"$T/nocode.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "a file without site_code gave exit $rc: $(cat "$T/nocode.out")"
grep -q "site_code is required" "$T/nocode.out" || fail "missing site_code not explained: $(cat "$T/nocode.out")"
rc=0
"$BIN/stewardd" -n >"$T/nocode2.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "no site_code anywhere gave exit $rc"
grep -q "site_code is required" "$T/nocode2.out" || fail "missing site_code not explained: $(cat "$T/nocode2.out")"
"$BIN/stewardd" -n -c "$T/nocode.conf" --site_code XYZ >"$T/nocode3.out" 2>&1 ||
	fail "--site_code did not complete a file without one: $(cat "$T/nocode3.out")"
pass "missing site_code refused ('site_code is required'); --site_code supplies it"

printf 'site_code = ABC\nsite_name = overridden\n' >"$T/override.conf"
SITE_CODE=XYZ site_start override -c "$T/override.conf"
expect_eq "$(curl -fsS "$SITE_URL/health" | jq -r .site)" XYZ "site code with --site_code XYZ over a file saying ABC"
pass "--site_code on the command line overrides the file"
stop_checked override

# ---- --version and --help-config ---------------------------------------------------
VERSION=$("$BIN/stewardd" --version) || fail "stewardd --version failed"
echo "$VERSION" | grep -Eq '^stewardd [0-9]+\.[0-9]+\.[0-9]+ protocol [0-9]+-[0-9]+' ||
	fail "--version does not give the version and protocol range: '$VERSION'"
pass "--version: $VERSION"

"$BIN/stewardd" --help-config >"$T/help" || fail "stewardd --help-config failed"
for key in listen data_dir site_code site_name boundary checkin_interval checkin_jitter \
	enroll_auto_approve http_max_header_bytes http_max_body_bytes http_timeout \
	http_max_connections http_max_per_ip log_level; do
	grep -Eq "^${key}[[:space:]]" "$T/help" || fail "--help-config does not list $key"
done
pass "--help-config lists every key of the issue"

# ---- a database from a newer stewardd ----------------------------------------------------
site_start schema
stop_checked schema
site_schema_set "$SITE_DIR" 99 || fail "cannot set the schema version"
rc=0
site_db_args "$SITE_DIR"
timeout 20 "$BIN/stewardd" --listen 127.0.0.1:0 --data_dir "$SITE_DIR" --site_code T01 "${DB_ARGS[@]}" \
	>"$T/schema.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "stewardd started on a database with schema version 99"
[ $rc -ne 124 ] || fail "stewardd neither started nor refused within 20 s: $(cat "$T/schema.out")"
! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/schema.out" ||
	fail "sanitizer report when refusing the schema: $(cat "$T/schema.out")"
grep -q "99" "$T/schema.out" || fail "the refusal does not say which version it found (99): $(cat "$T/schema.out")"
grep -Eq "supports (up to )?[0-9]+" "$T/schema.out" ||
	fail "the refusal does not say which version it supports: $(cat "$T/schema.out")"
expect_eq "$(site_schema "$SITE_DIR")" 99 "schema version after the refusal (must be untouched)"
pass "schema 99 refused (exit $rc): $(grep -m1 99 "$T/schema.out" | sed "s|$T/||")"

# every refusal above exited on its own: none may hide a sanitizer report
if grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T"/*.out >"$T/san.list"; then
	fail "sanitizer reports in: $(cat "$T/san.list")"
fi
pass "no sanitizer report in any stewardd -n or refused start"

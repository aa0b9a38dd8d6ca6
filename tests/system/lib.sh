# Shared helpers for system tests. Source it first:  . "$(dirname "$0")/lib.sh"
# Every test runs real processes on loopback, in its own temp dir, and
# cleans up everything it started (by PID) even when it fails.
set -euo pipefail

BIN=${STEWARD_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build/bin" && pwd)}
BUILD_BIN=$BIN # this build's, whatever a test sets BIN to
SRC=${STEWARD_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T=$(mktemp -d "${TMPDIR:-/tmp}/steward-test.XXXXXX")
PIDS=()
# commands (strings for eval) run by cleanup after the processes are gone,
# last registered first: netns.sh, for one, removes what it made this way
CLEANUPS=()
TEST_NAME=$(basename "$0" .sh)
# jq is Debian's gojq where it is installed (scripts/deps.sh installs it):
# the same filters, and it starts in 2 ms of CPU where jq 1.6 takes 35 to
# 40 ms; the suite runs some 5,000 filters. gojq always prints an object's
# keys sorted, and has no -S for it. Its output goes out at the end, in one
# write, as jq's did: gojq writes value by value (and bash's printf line by
# line), and a reader that stops early (grep -q) would leave the writer to
# die of SIGPIPE, a failure under pipefail.
if command -v gojq >/dev/null 2>&1; then
	jq() {
		local a=() x rc=0 out=$T/.jq.$BASHPID
		for x in "$@"; do [ "$x" = -S ] || a+=("$x"); done
		gojq "${a[@]}" >"$out" || rc=$?
		cat "$out"
		return $rc
	}
fi
# Sites serve HTTPS with their own self-signed certificates: stewardctl
# trusts each by its pin (the trust file, or DATA_DIR/tls.pin beside the
# admin token), the curl of the tests by the certificate itself.
export STEWARD_TRUST_FILE=$T/trust
# and the release keys a console pins stay in the test's own directory
export STEWARD_RELEASE_KEYS_FILE=$T/release-keys
export CURL_CA_BUNDLE=$T/ca.pem
: >"$CURL_CA_BUNDLE"

cleanup() {
	local rc=$?
	# A test may have stopped one with SIGSTOP: continued first, then
	# ended. Only one that is stopped: a SIGCONT sent after the SIGTERM, or
	# to a process on its way out, can resume one that LeakSanitizer's exit
	# check has just stopped to scan it (make test SAN=1), and then both
	# wait for each other for ever (steward-linkproxy did, twice in a run).
	for pid in "${PIDS[@]:-}"; do
		[ -n "$pid" ] || continue
		[ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = T ] &&
			kill -CONT "$pid" 2>/dev/null
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]:-}"; do
		[ -n "$pid" ] && wait "$pid" 2>/dev/null || true
	done
	# what the test's own installs started in the background (launchers and
	# agents that bootstrap.sh detached) runs from under $T: end those too,
	# so a test that fails half-way leaves nothing running
	local p exe left
	for _ in 1 2 3; do
		left=""
		for p in /proc/[0-9]*; do
			exe=$(tr '\0' '\n' 2>/dev/null <"$p/cmdline" | head -n 1) || continue
			case $exe in "$T"/*) kill "${p#/proc/}" 2>/dev/null && left=1 ;; esac
		done
		[ -n "$left" ] || break
		sleep 1
	done
	local i
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUPS[$i]}" || true
	done
	# 77: the test skipped itself (and said why); that is no failure
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "--- $TEST_NAME failed (rc=$rc); logs:" >&2
		# the sites' logs, and the agents' that bootstrap.sh started
		for f in "$T"/*.log "$T"/*/log/agent.log; do
			[ -f "$f" ] || continue
			echo "--- $f" >&2
			# a sanitizer's report is longer than a tail, and its first
			# lines (where the fault was) are what matter: show it whole
			if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$f"; then
				sed -nE '/ERROR: (Address|Leak)Sanitizer|runtime error:/,$p' "$f" | head -n 300 >&2
			else
				tail -n 40 "$f" >&2
			fi
		done
	fi
	[ -n "${KEEP_T:-}" ] || rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

pass() {
	echo "ok: $*"
}

# ---- the suite on PostgreSQL -----------------------------------------------------------
# With STEWARD_TEST_PG_URL_FILE set (CTest's system_pg_* twins: the file the
# postgresql fixture writes), every site that site_start starts keeps its
# database in a PostgreSQL database of its own on that server, made here
# and dropped at cleanup; without it, the SQLite file in its data dir.
declare -A SITE_DB
PG_BASE=""
if [ -n "${STEWARD_TEST_PG_URL_FILE:-}" ]; then
	PG_BASE=$(head -n 1 "$STEWARD_TEST_PG_URL_FILE" 2>/dev/null) ||
		fail "cannot read the PostgreSQL URL from $STEWARD_TEST_PG_URL_FILE (the postgresql fixture writes it)"
	[ -n "$PG_BASE" ] || fail "$STEWARD_TEST_PG_URL_FILE is empty"
	PSQL=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -n 1)
	[ -x "$PSQL" ] || fail "psql missing (scripts/deps.sh installs postgresql-15)"
fi

# pg_server_start: a PostgreSQL server of the test's own (tests/tools/pgtmp.sh),
# in a dir beside $T, not in it ($T is root's alone, and the server runs as
# postgres); sets PG (that dir), PG_URL and PGBIN, and stops it at cleanup.
# Exits 77 (a skip) where PostgreSQL is not installed.
pg_server_start() {
	local pgtmp=$SRC/tests/tools/pgtmp.sh rc=0
	PG=$(mktemp -d /tmp/steward-test-pg.XXXXXX)
	"$pgtmp" start "$PG" >"$T/pgtmp.log" 2>&1 || rc=$?
	if [ "$rc" = 77 ]; then
		cat "$T/pgtmp.log"
		rmdir "$PG" 2>/dev/null || true
		exit 77
	fi
	CLEANUPS+=("'$pgtmp' stop '$PG' >/dev/null 2>&1")
	[ "$rc" = 0 ] || fail "the test's PostgreSQL did not start: $(tail -n 5 "$T/pgtmp.log")"
	PG_URL=$(cat "$PG/url")
	PGBIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)")
}
# psql_q SQL: SQL on pg_server_start's server, rows unaligned, no headers
psql_q() { "$PGBIN/psql" -X -A -t -q "$PG_URL" -c "$1"; }

# on_postgresql: true when this run keeps the sites' databases in PostgreSQL
on_postgresql() { [ -n "$PG_BASE" ]; }

# sqlite_only WHY: a test (or the rest of one) about SQLite's own file skips
# itself on PostgreSQL, saying why
sqlite_only() {
	if on_postgresql; then
		echo "SKIP: on SQLite only: $*"
		exit 77
	fi
}

# site_db_new DIR: a fresh PostgreSQL database for the site of data dir
# DIR, its URL kept in SITE_DB[DIR] (for site_restart and site_sql)
site_db_new() {
	local dir=$1 db
	db=$(echo "t_${TEST_NAME#test_}_$(basename "$dir")_$$_$RANDOM" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_\n' _)
	db=${db:0:63}
	"$PSQL" -X -q -v ON_ERROR_STOP=1 "$PG_BASE" -c "CREATE DATABASE $db" >/dev/null ||
		fail "cannot create database $db on $PG_BASE"
	# KEEP_T=1 keeps the databases too, beside the temp dir
	[ -n "${KEEP_T:-}" ] ||
		CLEANUPS+=("\"$PSQL\" -X -q \"$PG_BASE\" -c 'DROP DATABASE IF EXISTS $db WITH (FORCE)' >/dev/null 2>&1")
	SITE_DB[$dir]=${PG_BASE%/*}/$db
}

# site_db_args DIR: sets DB_ARGS to stewardd's --database for the site of
# DIR (empty on SQLite), making its database at the first call
site_db_args() {
	DB_ARGS=()
	on_postgresql || return 0
	[ -n "${SITE_DB[$1]:-}" ] || site_db_new "$1"
	DB_ARGS=(--database "${SITE_DB[$1]}")
}

# site_sql DIR SQL: SQL on the database of the site of data dir DIR (sqlite3
# on its steward.db, or psql), rows printed with columns joined by '|'
site_sql() {
	local dir=$1
	if on_postgresql; then
		"$PSQL" -X -A -t -q -v ON_ERROR_STOP=1 -F '|' "${SITE_DB[$dir]:?no PostgreSQL database for $dir}" -c "$2"
	else
		sqlite3 -cmd ".timeout 10000" "$dir/steward.db" "$2"
	fi
}

# site_schema DIR: the schema version of the site of DIR's database
site_schema() {
	if on_postgresql; then
		site_sql "$1" "SELECT max(version) FROM steward_schema"
	else
		site_sql "$1" "PRAGMA user_version"
	fi
}

# site_schema_set DIR N: writes schema version N into that database
site_schema_set() {
	if on_postgresql; then
		site_sql "$1" "UPDATE steward_schema SET version = $2"
	else
		site_sql "$1" "PRAGMA user_version=$2"
	fi
}

# site_tables DIR NAME: 1 when that database has table NAME, 0 otherwise
site_tables() {
	if on_postgresql; then
		site_sql "$1" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = '$2'"
	else
		site_sql "$1" "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '$2'"
	fi
}

# site_db_ok DIR: "ok" when that database is sound: SQLite's integrity
# check of the file; on PostgreSQL (whose server keeps its own files sound)
# the database answers and holds a schema version
site_db_ok() {
	if on_postgresql; then
		site_sql "$1" "SELECT CASE WHEN max(version) > 0 THEN 'ok' ELSE 'no schema' END FROM steward_schema"
	else
		site_sql "$1" "PRAGMA integrity_check"
	fi
}

# site_start NAME [extra stewardd args...]: starts stewardd on a free port.
# Sets SITE_URL, SITE_PID, SITE_DIR, ADMIN (token file). STEWARDD names
# another stewardd to run (a test release), this build's by default.
# SITE_LISTEN names the IPv4 address to listen on (127.0.0.1 by default;
# netns.sh's NETNS_HOST_ADDR lets an agent in a network namespace reach it).
site_start() {
	local name=$1 addr=${SITE_LISTEN:-127.0.0.1}
	shift
	SITE_DIR=$T/$name
	mkdir -p "$SITE_DIR"
	: >"$T/$name.log" # exists before the port is read from it
	site_db_args "$SITE_DIR"
	"${STEWARDD:-$BIN/stewardd}" --listen "$addr:0" --data_dir "$SITE_DIR" --site_code "${SITE_CODE:-T01}" \
		"${DB_ARGS[@]}" "$@" >"$T/$name.log" 2>&1 &
	SITE_PID=$!
	PIDS+=("$SITE_PID")
	local i port=""
	for i in $(seq 1 100); do
		port=$(sed -n "s/.* started .*listen=${addr//./\\.}:\\([0-9]*\\).*/\\1/p" "$T/$name.log" | tail -n 1)
		[ -n "$port" ] && break
		kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd exited at start: $(tail -n 5 "$T/$name.log")"
		sleep 0.1
	done
	[ -n "$port" ] || fail "stewardd did not start within 10 s"
	if grep -q " started .* tls=off " "$T/$name.log"; then
		SITE_URL=http://$addr:$port
	else
		SITE_URL=https://$addr:$port
		local a dd=$SITE_DIR prev=""
		for a in "$@"; do # a later --data_dir wins, as in stewardd
			[ "$prev" = --data_dir ] && dd=$a
			prev=$a
		done
		site_trust "$SITE_URL" "$dd"
	fi
	ADMIN=$SITE_DIR/admin.token
	for i in $(seq 1 50); do
		curl -fsS "$SITE_URL/health" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "stewardd not healthy at $SITE_URL"
}

# site_trust URL DATA_DIR: trust the site of DATA_DIR at URL (the trust file
# and the CA bundle the tests' curl reads)
site_trust() {
	local url=$1 dir=$2
	"$BUILD_BIN/stewardctl" -s "$url" site trust --pin "$(cat "$dir/tls.pin")" >/dev/null ||
		fail "stewardctl site trust $url"
	grep -qF "$(sed -n 2p "$dir/tls.crt")" "$CURL_CA_BUNDLE" 2>/dev/null ||
		cat "$dir/tls.crt" >>"$CURL_CA_BUNDLE"
}

# site_restart: restart the same site on the same port and data dir
# (with STEWARDD, if set, as site_start).
site_restart() {
	local name
	name=$(basename "$SITE_DIR")
	local port=${SITE_URL##*:} addr=${SITE_URL#*://}
	addr=${addr%:*}
	site_db_args "$SITE_DIR"
	"${STEWARDD:-$BIN/stewardd}" --listen "$addr:$port" --data_dir "$SITE_DIR" --site_code "${SITE_CODE:-T01}" \
		"${DB_ARGS[@]}" "$@" >>"$T/$name.log" 2>&1 &
	SITE_PID=$!
	PIDS+=("$SITE_PID")
	local i
	for i in $(seq 1 100); do
		curl -fsS "$SITE_URL/health" >/dev/null 2>&1 && return 0
		kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd exited at restart: $(tail -n 5 "$T/$name.log")"
		sleep 0.1
	done
	fail "stewardd did not come back at $SITE_URL"
}

# site_stop: SIGTERM and wait (fails if it does not exit 0 within 15 s).
site_stop() {
	kill -TERM "$SITE_PID"
	local i
	for i in $(seq 1 150); do
		if ! kill -0 "$SITE_PID" 2>/dev/null; then
			wait "$SITE_PID"
			return $?
		fi
		sleep 0.1
	done
	fail "stewardd did not stop within 15 s of SIGTERM"
}

ctl() {
	"$BIN/stewardctl" -s "$SITE_URL" -t "$ADMIN" "$@"
}

# admin_call METHOD PATH [BODY]: prints "STATUS BODY"
admin_call() {
	local method=$1 path=$2 body=${3:-}
	curl -sS -o "$T/resp" -w '%{http_code}' -X "$method" \
		-H "Authorization: Bearer $(cat "$ADMIN")" \
		${body:+-H 'Content-Type: application/json' --data "$body"} \
		"$SITE_URL$path"
	echo " $(cat "$T/resp")"
}

# build_release VERSION PARTS [VAR=VALUE...]: a test release built from this
# source by scripts/release.sh (PARTS as RELEASE_PARTS, e.g. agent or
# site,console; VARs such as PROTO_MIN=2 or RELEASE_CMAKE_ARGS=...), signed
# with $T/rk into $T/out/steward-VERSION.tar.zst; its binaries are copied to
# $T/build-VERSION/bin. It compiles in RELEASE_DIR.
build_release() {
	local v=$1 parts=$2
	shift 2
	mkdir -p "$T/build-$v/bin"
	in_release_dir env RELEASE_PARTS="$parts" RELEASE_SIGNER="$BIN/stewardctl" \
		RELEASE_BUILD_DIR="$RELEASE_DIR" JOBS=2 "$@" \
		sh -c '"$1" "$2" "$3" "$4" && cp "$5"/stage/*/bin/* "$6"' sh \
		"$SRC/scripts/release.sh" "$v" "$T/rk" "$T/out" "$RELEASE_DIR" "$T/build-$v/bin" \
		>"$T/release-$v.log" 2>&1 || fail "release $v: $(tail -n 20 "$T/release-$v.log")"
}

# RELEASE_DIR: the build dir of every test release of this build, shared by
# all tests. The version, the protocol range and the test options reach a
# few source files only (generated headers, CMakeLists.txt), so a release
# that differs from the one before recompiles those and relinks instead of
# compiling it all
# (a whole build is about a minute of CPU, and the suite makes some 70).
RELEASE_DIR=$(cd "$BUILD_BIN/.." && pwd)/test-releases
# in_release_dir COMMAND...: COMMAND holding RELEASE_DIR's lock: tests
# running at once take turns (the first build there can take minutes)
in_release_dir() {
	mkdir -p "$RELEASE_DIR"
	(
		flock -w 900 9 || { echo "in_release_dir: $RELEASE_DIR.lock still held after 900 s" >&2; exit 1; }
		"$@"
	) 9>"$RELEASE_DIR.lock"
}

# ---- several sites in one test (the hierarchy tests) -----------------------------------
# named_site NAME CODE [stewardd args...]: a site with code CODE, named
# "site CODE", approving enrollments itself; its URL, PID, data dir and
# admin token file are kept under NAME (STEWARDD picks another binary)
declare -A URL PID DIR ADM
named_site() {
	local name=$1 code=$2
	shift 2
	SITE_CODE=$code site_start "$name" --site_name "site $code" --enroll_auto_approve true "$@"
	URL[$name]=$SITE_URL PID[$name]=$SITE_PID DIR[$name]=$SITE_DIR ADM[$name]=$ADMIN
}
# on NAME stewardctl-args...: stewardctl against that site
on() {
	local name=$1
	shift
	"$BIN/stewardctl" -s "${URL[$name]}" -t "${ADM[$name]}" "$@"
}
# attach CHILD PARENT: with a fresh attach token of the parent
attach() {
	local tok
	tok=$(on "$2" sites attach-token create 2>/dev/null)
	on "$1" sites attach --parent "${URL[$2]}" --token "$tok" >/dev/null || fail "attach $1 below $2"
}

new_token() {
	local uses=${1:-10}
	ctl --json enroll-tokens create --uses "$uses" --ttl 1h | jq -r .token
}

# agent_once NAME TOKEN: enroll + check in once with a state dir under $T.
agent_once() {
	local name=$1 token=${2:-}
	"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/agent-$name" \
		${token:+--enroll-token "$token"} --once --timeout 30 >>"$T/agent-$name.log" 2>&1
}

agent_id() {
	jq -r .client_id "$T/agent-$1/state.json"
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND until it succeeds, every
# 0.1 s at first and then less often, up to every 0.5 s (a COMMAND here
# mostly starts stewardctl, jq or psql: polled ten times a second it would
# take half a core from the tests running beside it); fails once the
# pauses between tries add up to SECONDS
# WAIT_EXPLAIN=FUNCTION wait_for ...: a wait that fails adds what FUNCTION
# prints (the state it waited on) to its message
wait_for() {
	local secs=$1 what=$2 pause=1 slept=0 # tenths of a second
	shift 2
	until "$@"; do
		[ "$slept" -lt $((secs * 10)) ] ||
			fail "$what: not within ${secs} s${WAIT_EXPLAIN:+ ($("$WAIT_EXPLAIN" 2>&1 | tr '\n' ' '))}"
		sleep "0.$pause"
		slept=$((slept + pause))
		pause=$((pause < 5 ? pause + 1 : 5))
	done
}

expect_eq() {
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

# expect_status "STATUS BODY" CODE [error-code]
expect_status() {
	local got=${1%% *} body=${1#* }
	[ "$got" = "$2" ] || fail "expected HTTP $2, got $got: $body"
	if [ -n "${3:-}" ]; then
		local code
		code=$(echo "$body" | jq -r .error.code 2>/dev/null || true)
		[ "$code" = "$3" ] || fail "expected error code $3, got '$code': $body"
	fi
}

# build_version: the version this build's programs report (e.g. 0.1.0)
build_version() {
	"$BIN/steward-agent" --version | awk '{print $2}'
}

# stage_release KEY OUT: a signed release of this build's agent and launcher,
# made without compiling (releases build over a stage of the binaries); its
# version is build_version's
stage_release() {
	stage_release_as "$1" "$(build_version)" 0.0.0 "$2"
}

# stage_release_as KEY V FROM OUT [tiny]: a signed release whose agent is
# version V, upgrading agents from FROM on, made without compiling: this
# build's agent and launcher staged under V, or with "tiny" a few bytes in
# place of the agent (steward-sim downloads it and never runs it)
stage_release_as() {
	local key=$1 v=$2 from=$3 out=$4 tiny=${5:-} r s
	r=$("$BIN/steward-agent" --version | sed -n 's/.*protocol \([0-9]*-[0-9]*\).*/\1/p')
	s=$(mktemp -d "$T/stage.XXXXXX")
	mkdir -p "$s/steward-agent/bin" "$(dirname "$out")"
	if [ -n "$tiny" ]; then
		printf '#!/bin/sh\necho %s\n' "$v" >"$s/steward-agent/bin/steward-agent"
		chmod 755 "$s/steward-agent/bin/steward-agent"
		printf 'steward-agent base %s %s\n' "$v" "$r" >"$s/components"
	else
		mkdir -p "$s/steward-launcher/bin"
		cp "$BIN/steward-agent" "$s/steward-agent/bin/"
		cp "$BIN/steward-launcher" "$s/steward-launcher/bin/"
		printf 'steward-agent base %s %s\nsteward-launcher launcher %s %s\n' "$v" "$r" "$v" "$r" >"$s/components"
	fi
	"$BIN/stewardctl" releases build --version "$v" --upgrade-from "$from" --key "$key" --stage "$s" \
		--out "$out" >"$T/stage-release.out" 2>&1 || fail "releases build $v: $(cat "$T/stage-release.out")"
}

#!/usr/bin/env bash
# bench/checkin: check-ins per second of stewardd as a ratio to nginx serving
# a 300-byte static file, at the same concurrency and duration on the same
# machine, over plain HTTP (the headline) and over HTTPS (both with an ECDSA
# P-256 certificate, keep-alive connections). Each server is driven twice:
# by wrk, which costs far less CPU than the servers (the headline figures:
# stewardd's check-ins are pre-built and MACed by steward-sim --replay-out
# and sent by wrk with replay.lua), and by steward-sim itself (the _sim
# figures beside them). Also check-ins with status messages and with a
# changed component, each generator's CPU share, and stewardd's memory
# after enrolling a large fleet. Appends a dated section to
# docs/benchmarks.md. See bench/README.md.
#
# Environment (all optional):
#   BUILD                 build directory, relative to the repo root (build)
#   BENCH_CONCURRENCY     requests in flight (64)
#   BENCH_DURATION        each measured run (15s)
#   BENCH_WARMUP          warm-up before each measured run (3s)
#   BENCH_CLIENTS         virtual clients for the check-in run (2000; at least 8 × concurrency)
#   BENCH_STATUS          status messages in each check-in of the status run (64, the most allowed)
#   BENCH_WRK_THREADS     wrk threads (2)
#   BENCH_REPLAY_MAX      the most check-ins one replay file holds (3000000)
#   BENCH_RSS_CLIENTS     clients enrolled for the memory figure; 0 skips it (100000)
#   BENCH_POSTGRESQL      1: the plain check-in run again with the database in a
#                         PostgreSQL of the script's own (tests/tools/pgtmp.sh); 0 skips it (1)
#   BENCH_OUT             where to append the results (docs/benchmarks.md)
#   NGINX                 the nginx binary (/usr/sbin/nginx, Debian's nginx-light)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
BIN=$BUILD_DIR/bin
CONC=${BENCH_CONCURRENCY:-64}
DUR=${BENCH_DURATION:-15s}
WARM=${BENCH_WARMUP:-3s}
CLIENTS=${BENCH_CLIENTS:-2000}
STATUS_N=${BENCH_STATUS:-64}
RSS_CLIENTS=${BENCH_RSS_CLIENTS:-100000}
WITH_PG=${BENCH_POSTGRESQL:-1}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
NGINX=${NGINX:-/usr/sbin/nginx}
SITE=BEN

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ -x "$BIN/stewardd" ] || die "$BIN/stewardd not found: run 'make build' first"
[ -x "$BIN/steward-sim" ] || die "$BIN/steward-sim not found: run 'make build' first"
[ -x "$BIN/steward-mkcert" ] || die "$BIN/steward-mkcert not found: run 'make build' first"
[ -x "$NGINX" ] || die "$NGINX not found: install nginx-light (scripts/deps.sh does)"
command -v python3 >/dev/null || die "python3 is needed to pick free ports"
command -v wrk >/dev/null || die "wrk not found: install it (scripts/deps.sh does)"
# wrk thread t sends the check-ins of its own clients in order on its
# connections; with many more clients than connections, one client's two
# requests are far apart (sim/README.md, "Replay files")
[ "$CLIENTS" -ge $((8 * CONC)) ] ||
	die "BENCH_CLIENTS ($CLIENTS) must be at least 8 × BENCH_CONCURRENCY ($CONC) for the replayed run"

# ---- cleanup: every process we started, by PID, and the temp dir ---------------
TMP=$(mktemp -d /tmp/steward-bench.XXXXXX)
bench_on_exit() {
	if [ -n "${PG_DIR:-}" ]; then
		"$ROOT/tests/tools/pgtmp.sh" stop "$PG_DIR/pg" >/dev/null 2>&1 || true
		rm -rf "$PG_DIR"
	fi
}
. "$ROOT/bench/lib.sh"

# wait_http URL SECONDS PID [CA]: until URL answers 200 (verified with the
# certificate CA over HTTPS), the process dies, or time runs out
wait_http() {
	local url=$1 secs=$2 pid=$3 ca=${4:-}
	for _ in $(seq $((secs * 10))); do
		if curl -sf -o /dev/null --max-time 1 ${ca:+--cacert "$ca"} "$url"; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# field NAME LINE: the value of NAME=value in a summary line
field() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | sed 's#/s$##'
}

# ---- nginx: its own config, 2 workers, a 300-byte file ------------------------------
# The temp dir must be readable by nginx's workers (they drop to nobody as root).
chmod 755 "$TMP"
mkdir -p "$TMP/nginx/www" "$TMP/nginx/tmp"
chmod 755 "$TMP/nginx" "$TMP/nginx/www"
head -c 300 /dev/zero | tr '\0' 's' >"$TMP/nginx/www/static.txt"
chmod 644 "$TMP/nginx/www/static.txt"
NGINX_PORT=$(free_port)
NGINX_TLS_PORT=$(free_port)
# the same key type as stewardd's self-signed certificate (ECDSA P-256)
NGINX_PIN=$("$BIN/steward-mkcert" "$TMP/nginx/tls.key" "$TMP/nginx/tls.crt" -60 86400 127.0.0.1)
chmod 644 "$TMP/nginx/tls.key"
# steward-sim trusts nginx by its pin, as it trusts stewardd
export STEWARD_TRUST_FILE=$TMP/trust
echo "https://127.0.0.1:$NGINX_TLS_PORT $NGINX_PIN" >"$STEWARD_TRUST_FILE"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    client_body_temp_path $TMP/nginx/tmp;
    proxy_temp_path $TMP/nginx/tmp;
    fastcgi_temp_path $TMP/nginx/tmp;
    uwsgi_temp_path $TMP/nginx/tmp;
    scgi_temp_path $TMP/nginx/tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $TMP/nginx/www;
    }
    server {
        listen 127.0.0.1:$NGINX_TLS_PORT ssl;
        ssl_certificate $TMP/nginx/tls.crt;
        ssl_certificate_key $TMP/nginx/tls.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $TMP/nginx/www;
    }
}
EOF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
	>"$TMP/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
NGINX_URL=http://127.0.0.1:$NGINX_PORT/static.txt
NGINX_TLS_URL=https://127.0.0.1:$NGINX_TLS_PORT/static.txt
wait_http "$NGINX_URL" 10 "$NGINX_PID" ||
	die "nginx did not serve $NGINX_URL: $(cat "$TMP/nginx/error.log" 2>/dev/null)"
wait_http "$NGINX_TLS_URL" 10 "$NGINX_PID" "$TMP/nginx/tls.crt" ||
	die "nginx did not serve $NGINX_TLS_URL: $(cat "$TMP/nginx/error.log" 2>/dev/null)"

# ---- stewardd --------------------------------------------------------------------------
# start_site NAME TLS: starts stewardd with a fresh data dir, over HTTPS
# (TLS true, its own self-signed certificate) or plain HTTP (false); sets
# SITE_PID, SITE_URL, SITE_DATA. steward-sim finds the pin beside the token.
# SITE_ARGS (an array) are more stewardd arguments (--database for one).
SITE_ARGS=()
start_site() {
	local name=$1 tls=$2 port
	port=$(free_port)
	SITE_DATA=$TMP/$name/data
	mkdir -p "$TMP/$name"
	"$BIN/stewardd" --listen "127.0.0.1:$port" --data_dir "$SITE_DATA" --site_code "$SITE" \
		--log_level warn --http_max_connections 8192 --http_max_per_ip 4096 --tls "$tls" \
		"${SITE_ARGS[@]}" >"$TMP/$name/stewardd.log" 2>&1 &
	SITE_PID=$!
	PIDS+=("$SITE_PID")
	if [ "$tls" = true ]; then
		SITE_URL=https://127.0.0.1:$port
		for _ in $(seq 100); do [ -s "$SITE_DATA/tls.crt" ] && break; sleep 0.1; done
	else
		SITE_URL=http://127.0.0.1:$port
	fi
	wait_http "$SITE_URL/health" 30 "$SITE_PID" "$([ "$tls" = true ] && echo "$SITE_DATA/tls.crt")" ||
		die "stewardd did not answer $SITE_URL/health: $(tail -5 "$TMP/$name/stewardd.log")"
	[ -s "$SITE_DATA/admin.token" ] || die "stewardd wrote no $SITE_DATA/admin.token"
}

SIM=("$BIN/steward-sim" --concurrency "$CONC" --quiet)
REPLAY_LUA=$ROOT/bench/checkin/replay.lua
NPROC=$(nproc)
HZ=$(getconf CLK_TCK)

# ticks PID...: CPU time (user + system, in clock ticks) of the processes
ticks() {
	local p f=()
	for p; do [ -r "/proc/$p/stat" ] && f+=("/proc/$p/stat"); done
	[ "${#f[@]}" -gt 0 ] || return 0
	awk '{ s += $14 + $15 } END { print s + 0 }' "${f[@]}" 2>/dev/null || true
}

# measure OUT "SERVER_PIDS" CMD...: runs the load generator CMD in the
# background with its stdout in OUT and waits for it (so a signal to this
# script is handled at once: cleanup stops it too), sampling every 0.1 s its
# CPU time and that of the server's processes. Sets GEN_CPU and SRV_CPU:
# CPU seconds over wall seconds × cores, from the generator's start to its
# last sample (a generator's time before that sample is all counted, its
# start-up included).
measure() {
	local out=$1 srv=$2 pid rc=0 t0 t1 g=0 v s0 s1
	shift 2
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2086
	s0=$(ticks $srv)
	s1=$s0
	t1=$t0
	"$@" >"$out" &
	pid=$!
	PIDS+=("$pid")
	while kill -0 "$pid" 2>/dev/null; do
		v=$(ticks "$pid")
		if [ -n "$v" ] && [ "$v" -ge "$g" ] && kill -0 "$pid" 2>/dev/null; then
			g=$v
			# shellcheck disable=SC2086
			s1=$(ticks $srv)
			t1=$EPOCHREALTIME
		fi
		sleep 0.1
	done
	wait "$pid" || rc=$?
	forget_pid "$pid"
	read -r GEN_CPU SRV_CPU < <(awk -v g="$g" -v s="$((s1 - s0))" -v t0="$t0" -v t1="$t1" \
		-v hz="$HZ" -v n="$NPROC" 'BEGIN {
		w = (t1 - t0) * n; if (w <= 0) w = 1
		printf "%.2f %.2f\n", g / hz / w, s / hz / w }')
	return "$rc"
}

# server_pids NAME: the processes whose CPU counts as the server's
server_pids() {
	if [ "$1" = nginx ]; then
		echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
	else
		echo "$SITE_PID"
	fi
}

# run_sim OUT SERVER ARGS...: steward-sim with its summary line in OUT, the
# CPU shares appended to it
run_sim() {
	local out=$1 srv=$2 rc=0
	shift 2
	measure "$out" "$(server_pids "$srv")" "${SIM[@]}" "$@" || rc=$?
	if [ "$out" != /dev/null ]; then
		printf '%s gen_cpu=%s srv_cpu=%s\n' "$(cat "$out")" "$GEN_CPU" "$SRV_CPU" >"$out.tmp"
		mv "$out.tmp" "$out"
	fi
	return "$rc"
}

# wrk_summary FILE: wrk's report as a steward-sim-like summary line. Only 2xx
# answers count in checkins and rate; other statuses and socket errors are
# errors (replayed_sequence would show here).
wrk_summary() {
	awk '
	function ms(v) {
		if (v ~ /us$/) return v / 1000
		if (v ~ /ms$/) return v + 0
		if (v ~ /s$/) return v * 1000
		return v + 0
	}
	/ requests in / { n = $1; d = $4; sub(/,$/, "", d); secs = d ~ /m$/ ? d * 60 : d + 0 }
	/^ +50%/ { p50 = ms($2) }
	/^ +99%/ { p99 = ms($2) }
	/Non-2xx or 3xx responses:/ { bad = $NF }
	/Socket errors:/ { gsub(/,/, ""); se = $4 + $6 + $8 + $10 }
	/replay_exhausted_threads=/ { split($2, kv, "="); ex = kv[2] }
	END {
		ok = n - bad
		printf "checkins=%d rate=%.1f/s p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d socket_errors=%d exhausted_threads=%d\n",
			ok, (secs > 0 ? ok / secs : 0), p50, p99, bad + se, bad, se, ex
	}' "$1"
}

# run_wrk OUT SERVER URL DURATION [REPLAY_FILE]: wrk at the same concurrency,
# BENCH_WRK_THREADS threads; with a replay file it sends those check-ins.
# The summary line, with the CPU shares, in OUT.
WRK_THREADS=${BENCH_WRK_THREADS:-2}
run_wrk() {
	local out=$1 srv=$2 url=$3 dur=$4 file=${5:-} rc=0
	local args=(wrk -t "$WRK_THREADS" -c "$CONC" -d "$dur" --latency --timeout 10s)
	[ -z "$file" ] || args+=(-s "$REPLAY_LUA")
	args+=("$url")
	[ -z "$file" ] || args+=(-- "$file")
	measure "$out.wrk" "$(server_pids "$srv")" "${args[@]}" || rc=$?
	[ "$rc" = 0 ] || die "wrk failed ($rc): $(tail -3 "$out.wrk")"
	{ wrk_summary "$out.wrk" | tr -d '\n'; printf ' gen_cpu=%s srv_cpu=%s\n' "$GEN_CPU" "$SRV_CPU"; } >"$out"
}

# replay_file NAME COUNT ARGS...: steward-sim opens the sessions of the saved
# clients and writes COUNT check-ins for wrk to $TMP/NAME/replay.N (the
# previous files removed first: they can be hundreds of MB)
replay_file() {
	local name=$1 count=$2
	shift 2
	rm -f "$TMP/$name"/replay.*
	"${SIM[@]}" --server "$SITE_URL" --token-file "$SITE_DATA/admin.token" --clients "$CLIENTS" \
		--state "$TMP/$name/clients.state" --reuse --replay-out "$TMP/$name/replay" \
		--replay-requests "$count" --replay-threads "$WRK_THREADS" "$@" >"$TMP/$name/replay.out" ||
		die "steward-sim could not write the replay file: $(cat "$TMP/$name/replay.out")"
}

# replay_count RATE SECONDS FACTOR: check-ins a file needs to outlast a run
# at RATE, with room to spare, within BENCH_REPLAY_MAX
REPLAY_MAX=${BENCH_REPLAY_MAX:-3000000}
replay_count() {
	awk -v r="$1" -v s="$2" -v f="$3" -v m="$REPLAY_MAX" -v c="$CLIENTS" 'BEGIN {
		k = int(r * s * f) + 20 * c; if (k > m) k = m; print k }'
}

# secs DURATION: "15s", "2m" in seconds
secs() {
	awk -v d="$1" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60; else if (d ~ /h$/) n *= 3600; print n }'
}

# ---- phase 1: the rates, over HTTPS and over plain HTTP ---------------------------------
# Each server is measured by both generators: wrk (the headline figures: it
# costs far less CPU than the servers it drives) and steward-sim (the
# figures beside them, _sim).
# nginx_rate NAME URL: warm-up, then the measured runs
nginx_rate() {
	say "nginx static file ($1): warm-up $WARM, then $DUR at concurrency $CONC, steward-sim and wrk"
	run_sim /dev/null nginx --plain-url "$2" --duration "$WARM"
	run_sim "$TMP/$1_sim.summary" nginx --plain-url "$2" --duration "$DUR"
	say "nginx $1, steward-sim: $(cat "$TMP/$1_sim.summary")"
	run_wrk "$TMP/$1_warm.summary" nginx "$2" "$WARM"
	run_wrk "$TMP/$1.summary" nginx "$2" "$DUR"
	say "nginx $1, wrk: $(cat "$TMP/$1.summary")"
}

# wrk_replay NAME SUMMARY RATE_HINT ARGS...: a replay file for a run of $DUR
# at up to RATE_HINT × 2.5 check-ins/s, then wrk sends it; once more with
# a file twice as long when a thread ran out (its rate would be too low)
wrk_replay() {
	local name=$1 summary=$2 hint=$3 count try
	shift 3
	count=$(replay_count "$hint" "$(secs "$DUR")" 2.5)
	for try in 1 2; do
		replay_file "$name" "$count" "$@"
		run_wrk "$summary" "$name" "$SITE_URL" "$DUR" "$TMP/$name/replay"
		[ "$(field exhausted_threads "$(cat "$summary")")" = 0 ] && break
		say "the replay file of $count check-ins ran out; again with twice as many"
		count=$((count * 2))
		[ "$count" -le "$REPLAY_MAX" ] || count=$REPLAY_MAX
	done
	rm -f "$TMP/$name"/replay.*
}

# steward_rate NAME TLS [plain]: the same against a fresh stewardd; over
# plain HTTP also with status messages and with a changed component in every
# check-in, unless the third argument is "plain"
steward_rate() {
	local hint
	start_site "$1" "$2"
	say "stewardd check-ins ($1): enrolling $CLIENTS clients and warm-up $WARM, then $DUR, steward-sim"
	run_sim /dev/null "$1" --server "$SITE_URL" --token-file "$SITE_DATA/admin.token" \
		--clients "$CLIENTS" --state "$TMP/$1/clients.state" --duration "$WARM"
	run_sim "$TMP/$1_sim.summary" "$1" --server "$SITE_URL" --token-file "$SITE_DATA/admin.token" \
		--clients "$CLIENTS" --state "$TMP/$1/clients.state" --reuse --duration "$DUR"
	say "stewardd $1, steward-sim: $(cat "$TMP/$1_sim.summary")"
	# wrk: a warm-up, then the measured run, each from its own file
	hint=$(field rate "$(cat "$TMP/$1_sim.summary")")
	say "stewardd check-ins ($1): warm-up $WARM, then $DUR, wrk replaying steward-sim's check-ins"
	replay_file "$1" "$(replay_count "$hint" "$(secs "$WARM")" 2.5)"
	run_wrk "$TMP/$1_warm.summary" "$1" "$SITE_URL" "$WARM" "$TMP/$1/replay"
	hint=$(field rate "$(cat "$TMP/$1_warm.summary")")
	wrk_replay "$1" "$TMP/$1.summary" "$hint"
	say "stewardd $1, wrk: $(cat "$TMP/$1.summary")"
	hint=$(field rate "$(cat "$TMP/$1.summary")")
	if [ "$2" = false ] && [ "${3:-}" != plain ]; then
		say "stewardd check-ins ($1): $DUR with $STATUS_N status messages in each, wrk"
		wrk_replay "$1" "$TMP/$1_status.summary" "$hint" --replay-status "$STATUS_N"
		say "stewardd $1 status: $(cat "$TMP/$1_status.summary")"
		say "stewardd check-ins ($1): $DUR with a changed component in each, wrk"
		wrk_replay "$1" "$TMP/$1_changed.summary" "$hint" --replay-changed
		say "stewardd $1 changed: $(cat "$TMP/$1_changed.summary")"
	fi
	CHECKIN_RSS_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SITE_PID/status")
	stop_pid "$SITE_PID"
}
ratio() {
	local s n
	s=$(field rate "$(cat "$TMP/$1.summary")")
	n=$(field rate "$(cat "$TMP/$2.summary")")
	awk -v n="$n" 'BEGIN { exit !(n > 0) }' || die "nginx served nothing: $(cat "$TMP/$2.summary")"
	awk -v s="$s" -v n="$n" 'BEGIN { printf "%.2f", s / n }'
}
nginx_rate nginx_tls "$NGINX_TLS_URL"
steward_rate checkin_tls true
nginx_rate nginx "$NGINX_URL"
steward_rate checkin false
line() { cat "$TMP/$1.summary"; }
RATIO=$(ratio checkin nginx)
TLS_RATIO=$(ratio checkin_tls nginx_tls)
SIM_RATIO=$(ratio checkin_sim nginx_sim)
SIM_TLS_RATIO=$(ratio checkin_tls_sim nginx_tls_sim)
STATUS_RATIO=$(ratio checkin_status nginx)
CHANGED_RATIO=$(ratio checkin_changed nginx)

# ---- the plain run again, the site's database in PostgreSQL -----------------------------
# A PostgreSQL 15 of the script's own (tests/tools/pgtmp.sh: initdb in a temp
# dir, loopback, its default durability: fsync and synchronous_commit on),
# then nginx again so that the ratio's two sides are measured side by side.
PG_RATIO="" PG_NOTE="skipped (BENCH_POSTGRESQL=0)"
if [ "$WITH_PG" != 0 ]; then
	PG_DIR=$(mktemp -d /tmp/steward-bench-pg.XXXXXX)
	chmod 755 "$PG_DIR" # the postgres user runs the server in it
	say "PostgreSQL: starting a server of the benchmark's own"
	if PG_URL=$("$ROOT/tests/tools/pgtmp.sh" start "$PG_DIR/pg" 2>"$TMP/pgtmp.err"); then
		SITE_ARGS=(--database "$PG_URL")
		steward_rate checkin_pg false plain
		SITE_ARGS=()
		nginx_rate nginx_pg "$NGINX_URL"
		PG_RATIO=$(ratio checkin_pg nginx_pg)
		"$ROOT/tests/tools/pgtmp.sh" stop "$PG_DIR/pg" >/dev/null 2>&1 || true
	else
		PG_NOTE="not measured: $(tail -n 1 "$TMP/pgtmp.err")"
		say "PostgreSQL: $PG_NOTE"
	fi
	rm -rf "$PG_DIR"
	PG_DIR=""
fi

# ---- phase 2: memory after enrolling a large fleet ------------------------------------
RSS_NOTE="skipped (BENCH_RSS_CLIENTS=0)"
RSS_FIGURE=""
if [ "$RSS_CLIENTS" -gt 0 ]; then
	start_site rss true
	IDLE_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SITE_PID/status")
	say "stewardd memory: enrolling $RSS_CLIENTS clients (this takes a while)"
	T0=$(date +%s)
	run_sim "$TMP/rss.summary" --server "$SITE_URL" --token-file "$SITE_DATA/admin.token" \
		--clients "$RSS_CLIENTS" --duration 5s --setup-timeout 40m
	RSS_LINE=$(cat "$TMP/rss.summary")
	T1=$(date +%s)
	RSS_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SITE_PID/status")
	HWM_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SITE_PID/status")
	DB_KB=$(du -sk "$SITE_DATA" | awk '{ print $1 }')
	say "stewardd after $RSS_CLIENTS clients: VmRSS ${RSS_KB} kB, VmHWM ${HWM_KB} kB ($RSS_LINE)"
	stop_pid "$SITE_PID"
	RSS_FIGURE=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
	RSS_NOTE=$(awk -v r="$RSS_KB" -v h="$HWM_KB" -v i="$IDLE_KB" -v d="$DB_KB" -v t=$((T1 - T0)) \
		-v n="$RSS_CLIENTS" 'BEGIN {
		printf "%.1f MB VmRSS (peak VmHWM %.1f MB; %.1f MB idle at start; %.0f bytes per client); data dir %.1f MB; enrolling, opening sessions and 5 s of check-ins took %d s",
			r / 1024, h / 1024, i / 1024, (r - i) * 1024 / n, d / 1024, t }')
fi

# ---- the disk's sync latency -----------------------------------------------------------
# A check-in is acknowledged only after its group commit's fdatasync, so at a
# fixed concurrency the rate cannot exceed concurrency / (sync latency + round
# trip). Measured in the same run so the figure explains the ratio.
SYNC_MS=$(cd "$TMP" && dd if=/dev/zero of=sync.test bs=4k count=200 oflag=dsync 2>&1 |
	awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") printf "%.2f", $(i - 1) * 1000 / 200 }')
rm -f "$TMP/sync.test"
say "disk: one 4 KiB O_DSYNC write takes ${SYNC_MS} ms"

# ---- report ------------------------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
KERNEL=$(uname -sr)
if COMMIT=$(GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
	if ! GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null; then
		COMMIT="$COMMIT with uncommitted changes"
	fi
else
	COMMIT=uncommitted
fi
NOW=$(date -u '+%Y-%m-%d %H:%M UTC')

if [ ! -s "$OUT" ]; then
	cat >"$OUT" <<'EOF'
# Benchmarks

`make bench` builds, runs `bench/checkin/run.sh` and appends one dated
section below. It starts nginx (Debian's nginx-light, two workers,
serving a 300-byte static file) and stewardd, each on a free loopback port,
and drives both at the same concurrency for the same time with wrk: GETs of
the static file against nginx, and against stewardd MACed check-ins that
steward-sim pre-built for sessions it opened (`--replay-out`). The headline
figure is **checkin_vs_nginx_static**: check-ins per second divided by nginx
requests per second. The goal is **≥ 0.50**: a check-in (parse, MAC verify,
version handshake, a group-committed SQLite write before the reply) should
cost no more than twice what the fastest static file server needs to send
300 bytes. The same ratios with steward-sim driving both servers stay
beside it (`_sim`), and every run reports its generator's CPU share. A
second phase enrolls a large fleet (100,000 clients by default) and reports
stewardd's resident memory.

Why ratios, not absolute numbers: the machines we run on are shared and
their speed drifts from run to run and from machine to machine, while ratios
measured side by side hold. Both servers are measured side by side in one
run, on the same cores, with the same client, so the drift cancels in the
ratio. Absolute rates are recorded only for context. See bench/README.md
for what each figure means and the environment variables that change the
run.
EOF
fi

# rate NAME: "N/s, p50 N ms, p99 N ms, errors N; CPU: generator N%, server N%"
pct() { awk -v v="$1" 'BEGIN { printf "%.0f%%", v * 100 }'; }
rate() {
	local l
	l=$(line "$1")
	printf '%s/s, p50 %s ms, p99 %s ms, errors %s; CPU: generator %s, server %s' \
		"$(field rate "$l")" "$(field p50_ms "$l")" "$(field p99_ms "$l")" "$(field errors "$l")" \
		"$(pct "$(field gen_cpu "$l")")" "$(pct "$(field srv_cpu "$l")")"
}

cat >>"$OUT" <<EOF

## $NOW — $COMMIT

| figure | value |
|---|---|
| **checkin_vs_nginx_static** | **$RATIO** (goal ≥ 0.50; plain HTTP, both driven by wrk, stewardd's check-ins pre-built by steward-sim) |
| checkin_vs_nginx_static_tls | $TLS_RATIO (both over HTTPS, ECDSA P-256, keep-alive; wrk) |
| checkin_status${STATUS_N}_vs_nginx_static | $STATUS_RATIO ($STATUS_N status messages in every check-in; wrk) |
| checkin_changed_vs_nginx_static | $CHANGED_RATIO (a component version changed in every check-in, so its details are written; wrk) |
| **checkin_vs_nginx_static_postgresql** | **${PG_RATIO:-—}** (plain HTTP, wrk, the site's database in PostgreSQL 15 on this machine; nginx measured again beside it) |
| checkin_vs_nginx_static_sim | $SIM_RATIO (plain HTTP, both driven by steward-sim) |
| checkin_vs_nginx_static_tls_sim | $SIM_TLS_RATIO (HTTPS, both driven by steward-sim) |
| stewardd check-ins, plain, wrk | $(rate checkin) |
| nginx 300-byte static file, plain, wrk | $(rate nginx) |
| stewardd, $STATUS_N status messages each, wrk | $(rate checkin_status) |
| stewardd, a changed component each, wrk | $(rate checkin_changed) |
| stewardd check-ins on PostgreSQL, plain, wrk | $(if [ -n "$PG_RATIO" ]; then rate checkin_pg; else echo "$PG_NOTE"; fi) |
| nginx 300-byte static file, plain, wrk, beside it | $(if [ -n "$PG_RATIO" ]; then rate nginx_pg; else echo "$PG_NOTE"; fi) |
| stewardd check-ins, HTTPS, wrk | $(rate checkin_tls) |
| nginx 300-byte static file, HTTPS, wrk | $(rate nginx_tls) |
| stewardd check-ins, plain, steward-sim | $(rate checkin_sim) |
| nginx 300-byte static file, plain, steward-sim | $(rate nginx_sim) |
| stewardd check-ins, HTTPS, steward-sim | $(rate checkin_tls_sim) |
| nginx 300-byte static file, HTTPS, steward-sim | $(rate nginx_tls_sim) |
| load | concurrency $CONC, $DUR each after $WARM warm-up, $CLIENTS virtual clients, wrk with $WRK_THREADS threads (stewardd RSS after the plain runs $(awk -v k="$CHECKIN_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }') MB) |
| stewardd memory after enrolling $RSS_CLIENTS clients | $RSS_NOTE |
| machine | nproc $NPROC, $CPU, $KERNEL; one 4 KiB O_DSYNC write ${SYNC_MS} ms (commit-bound ceiling at this concurrency ≈ $(awk -v c="$CONC" -v m="$SYNC_MS" 'BEGIN { if (m > 0) printf "%.0f", c * 1000 / m; else print "?" }') check-ins/s) |

CPU is a share of the whole machine ($NPROC cores) over the run: the load
generator's process, and the server's (stewardd, or nginx's master and
workers). Summaries:

    wrk nginx:                  $(line nginx)
    wrk stewardd:               $(line checkin)
    wrk stewardd status:        $(line checkin_status)
    wrk stewardd changed:       $(line checkin_changed)
    wrk nginx https:            $(line nginx_tls)
    wrk stewardd https:         $(line checkin_tls)
    steward-sim nginx:          $(line nginx_sim)
    steward-sim stewardd:       $(line checkin_sim)
    steward-sim nginx https:    $(line nginx_tls_sim)
    steward-sim stewardd https: $(line checkin_tls_sim)
EOF
if [ -n "$PG_RATIO" ]; then
	printf '    wrk stewardd postgresql:    %s\n    wrk nginx beside it:        %s\n' \
		"$(line checkin_pg)" "$(line nginx_pg)" >>"$OUT"
fi
if [ -n "${RSS_LINE:-}" ]; then
	printf '    rss run:  %s\n' "$RSS_LINE" >>"$OUT"
fi

say "appended to $OUT"
echo "checkin_vs_nginx_static=$RATIO"
echo "checkin_vs_nginx_static_tls=$TLS_RATIO"
echo "checkin_status${STATUS_N}_vs_nginx_static=$STATUS_RATIO"
echo "checkin_changed_vs_nginx_static=$CHANGED_RATIO"
[ -z "$PG_RATIO" ] || echo "checkin_vs_nginx_static_postgresql=$PG_RATIO"
echo "checkin_vs_nginx_static_sim=$SIM_RATIO"
echo "checkin_vs_nginx_static_tls_sim=$SIM_TLS_RATIO"
for n in nginx checkin checkin_status checkin_changed nginx_tls checkin_tls; do
	echo "cpu_share_wrk_$n=$(field gen_cpu "$(line "$n")")"
done
for n in nginx checkin nginx_tls checkin_tls; do
	echo "cpu_share_sim_$n=$(field gen_cpu "$(line "${n}_sim")")"
done
if [ -n "$RSS_FIGURE" ]; then
	echo "stewardd_rss_mb_after_${RSS_CLIENTS}_clients=$RSS_FIGURE"
fi

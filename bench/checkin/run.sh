#!/usr/bin/env bash
# bench/checkin: check-ins per second of stewardd as a ratio to nginx serving
# a 300-byte static file, both driven by steward-sim with the same
# concurrency and duration on the same machine, over HTTPS (the headline:
# both with an ECDSA P-256 certificate, keep-alive connections) and over
# plain HTTP; plus stewardd's memory after enrolling a large fleet. Appends
# a dated section to docs/benchmarks.md. See bench/README.md.
#
# Environment (all optional):
#   BUILD                 build directory, relative to the repo root (build)
#   BENCH_CONCURRENCY     requests in flight (64)
#   BENCH_DURATION        each measured run (15s)
#   BENCH_WARMUP          warm-up before each measured run (3s)
#   BENCH_CLIENTS         virtual clients for the check-in run (2000)
#   BENCH_RSS_CLIENTS     clients enrolled for the memory figure; 0 skips it (100000)
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
RSS_CLIENTS=${BENCH_RSS_CLIENTS:-100000}
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

# ---- cleanup: every process we started, by PID, and the temp dir ---------------
PIDS=()
TMP=$(mktemp -d /tmp/steward-bench.XXXXXX)

# A PID leaves the list as soon as it is reaped, so cleanup can never signal
# a recycled PID that belongs to someone else.
forget_pid() {
	local p keep=()
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

stop_pid() {
	local pid=$1
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

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
start_site() {
	local name=$1 tls=$2 port
	port=$(free_port)
	SITE_DATA=$TMP/$name/data
	mkdir -p "$TMP/$name"
	"$BIN/stewardd" --listen "127.0.0.1:$port" --data_dir "$SITE_DATA" --site_code "$SITE" \
		--log_level warn --http_max_connections 8192 --http_max_per_ip 4096 --tls "$tls" \
		>"$TMP/$name/stewardd.log" 2>&1 &
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

# run_sim OUT ARGS...: steward-sim with its summary line in OUT. It runs in
# the background and we wait for it, so a signal to this script is handled
# at once (cleanup stops the simulator too) instead of after the run.
run_sim() {
	local out=$1 pid rc=0
	shift
	"${SIM[@]}" "$@" >"$out" &
	pid=$!
	PIDS+=("$pid")
	wait "$pid" || rc=$?
	forget_pid "$pid"
	return "$rc"
}

# ---- phase 1: the rates, over HTTPS and over plain HTTP ---------------------------------
# nginx_rate NAME URL: warm-up, then the measured run; the summary in NAME_LINE
nginx_rate() {
	say "nginx static file ($1): warm-up $WARM, then $DUR at concurrency $CONC"
	run_sim /dev/null --plain-url "$2" --duration "$WARM"
	run_sim "$TMP/$1.summary" --plain-url "$2" --duration "$DUR"
	say "nginx $1: $(cat "$TMP/$1.summary")"
}
# steward_rate NAME TLS: the same against a fresh stewardd
steward_rate() {
	start_site "$1" "$2"
	say "stewardd check-ins ($1): enrolling $CLIENTS clients and warm-up $WARM, then $DUR"
	run_sim /dev/null --server "$SITE_URL" --token-file "$SITE_DATA/admin.token" \
		--clients "$CLIENTS" --state "$TMP/$1/clients.state" --duration "$WARM"
	run_sim "$TMP/$1.summary" --server "$SITE_URL" --token-file "$SITE_DATA/admin.token" \
		--clients "$CLIENTS" --state "$TMP/$1/clients.state" --reuse --duration "$DUR"
	say "stewardd $1: $(cat "$TMP/$1.summary")"
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
NGINX_LINE=$(cat "$TMP/nginx.summary")
STEWARD_LINE=$(cat "$TMP/checkin.summary")
NGINX_TLS_LINE=$(cat "$TMP/nginx_tls.summary")
STEWARD_TLS_LINE=$(cat "$TMP/checkin_tls.summary")
RATIO=$(ratio checkin nginx)
TLS_RATIO=$(ratio checkin_tls nginx_tls)

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
NPROC=$(nproc)
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
and drives both with the same load engine, `steward-sim`, at the same
concurrency for the same time: `--plain-url` GETs against nginx, signed
enrollment, sessions and MACed check-ins against stewardd. The headline
figure is **checkin_vs_nginx_static**: check-ins per second divided by nginx
requests per second. The goal is **≥ 0.50**: a check-in (parse, MAC verify,
version handshake, a group-committed SQLite write before the reply) should
cost no more than twice what the fastest static file server needs to send
300 bytes. A second phase enrolls a large fleet (100,000 clients by default)
and reports stewardd's resident memory.

Why ratios, not absolute numbers: the machines we run on are shared and
their speed drifts from run to run and from machine to machine, while ratios
measured side by side hold (those in ARCHITECTURE.md held within ±8%). Both servers are measured side by side in one run, on the
same cores, with the same client, so the drift cancels in the ratio.
Absolute rates are recorded only for context. On a 2-core machine the load
generator takes about one core in both runs. See bench/README.md for what
each figure means and the environment variables that change the run.
EOF
fi

cat >>"$OUT" <<EOF

## $NOW — $COMMIT

| figure | value |
|---|---|
| **checkin_vs_nginx_static_tls** | **$TLS_RATIO** (goal ≥ 0.50; both over HTTPS, ECDSA P-256, keep-alive) |
| checkin_vs_nginx_static (plain HTTP) | $RATIO |
| stewardd check-ins, HTTPS | $(field rate "$STEWARD_TLS_LINE")/s, p50 $(field p50_ms "$STEWARD_TLS_LINE") ms, p99 $(field p99_ms "$STEWARD_TLS_LINE") ms, errors $(field errors "$STEWARD_TLS_LINE") |
| nginx 300-byte static file, HTTPS | $(field rate "$NGINX_TLS_LINE")/s, p50 $(field p50_ms "$NGINX_TLS_LINE") ms, p99 $(field p99_ms "$NGINX_TLS_LINE") ms, errors $(field errors "$NGINX_TLS_LINE") |
| stewardd check-ins, plain | $(field rate "$STEWARD_LINE")/s, p50 $(field p50_ms "$STEWARD_LINE") ms, p99 $(field p99_ms "$STEWARD_LINE") ms, errors $(field errors "$STEWARD_LINE") |
| nginx 300-byte static file, plain | $(field rate "$NGINX_LINE")/s, p50 $(field p50_ms "$NGINX_LINE") ms, p99 $(field p99_ms "$NGINX_LINE") ms, errors $(field errors "$NGINX_LINE") |
| load | concurrency $CONC, $DUR each after $WARM warm-up, $CLIENTS virtual clients (stewardd RSS after the run $(awk -v k="$CHECKIN_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }') MB) |
| stewardd memory after enrolling $RSS_CLIENTS clients | $RSS_NOTE |
| machine | nproc $NPROC, $CPU, $KERNEL; one 4 KiB O_DSYNC write ${SYNC_MS} ms (commit-bound ceiling at this concurrency ≈ $(awk -v c="$CONC" -v m="$SYNC_MS" 'BEGIN { if (m > 0) printf "%.0f", c * 1000 / m; else print "?" }') check-ins/s) |

steward-sim summaries:

    nginx https:    $NGINX_TLS_LINE
    stewardd https: $STEWARD_TLS_LINE
    nginx:          $NGINX_LINE
    stewardd:       $STEWARD_LINE
EOF
if [ -n "${RSS_LINE:-}" ]; then
	printf '    rss run:  %s\n' "$RSS_LINE" >>"$OUT"
fi

say "appended to $OUT"
echo "checkin_vs_nginx_static_tls=$TLS_RATIO"
echo "checkin_vs_nginx_static=$RATIO"
if [ -n "$RSS_FIGURE" ]; then
	echo "stewardd_rss_mb_after_${RSS_CLIENTS}_clients=$RSS_FIGURE"
fi

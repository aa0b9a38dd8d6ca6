#!/usr/bin/env bash
# bench/checkin: check-ins per second of stewardd as a ratio to nginx serving
# a 300-byte static file, both driven by steward-sim with the same
# concurrency and duration on the same machine; plus stewardd's memory
# after enrolling a large fleet. Appends a dated section to
# docs/benchmarks.md. See bench/README.md.
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

# wait_http URL SECONDS PID: until URL answers 200, the process dies, or time runs out
wait_http() {
	local url=$1 secs=$2 pid=$3
	for _ in $(seq $((secs * 10))); do
		if curl -sf -o /dev/null --max-time 1 "$url"; then
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
}
EOF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
	>"$TMP/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
NGINX_URL=http://127.0.0.1:$NGINX_PORT/static.txt
wait_http "$NGINX_URL" 10 "$NGINX_PID" ||
	die "nginx did not serve $NGINX_URL: $(cat "$TMP/nginx/error.log" 2>/dev/null)"

# ---- stewardd --------------------------------------------------------------------------
# start_site NAME: starts stewardd with a fresh data dir; sets SITE_PID, SITE_URL, SITE_DATA
start_site() {
	local name=$1 port
	port=$(free_port)
	SITE_DATA=$TMP/$name/data
	mkdir -p "$TMP/$name"
	"$BIN/stewardd" --listen "127.0.0.1:$port" --data_dir "$SITE_DATA" --site_code "$SITE" \
		--log_level warn --http_max_connections 8192 --http_max_per_ip 4096 \
		>"$TMP/$name/stewardd.log" 2>&1 &
	SITE_PID=$!
	PIDS+=("$SITE_PID")
	SITE_URL=http://127.0.0.1:$port
	wait_http "$SITE_URL/health" 30 "$SITE_PID" ||
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

# ---- phase 1: the rates ------------------------------------------------------------------
say "nginx static file: warm-up $WARM, then $DUR at concurrency $CONC"
run_sim /dev/null --plain-url "$NGINX_URL" --duration "$WARM"
run_sim "$TMP/nginx.summary" --plain-url "$NGINX_URL" --duration "$DUR"
NGINX_LINE=$(cat "$TMP/nginx.summary")
say "nginx:    $NGINX_LINE"

start_site checkin
say "stewardd check-ins: enrolling $CLIENTS clients and warm-up $WARM, then $DUR"
run_sim /dev/null --server "$SITE_URL" --token-file "$SITE_DATA/admin.token" \
	--clients "$CLIENTS" --state "$TMP/checkin/clients.state" --duration "$WARM"
run_sim "$TMP/checkin.summary" --server "$SITE_URL" --token-file "$SITE_DATA/admin.token" \
	--clients "$CLIENTS" --state "$TMP/checkin/clients.state" --reuse --duration "$DUR"
STEWARD_LINE=$(cat "$TMP/checkin.summary")
say "stewardd: $STEWARD_LINE"
CHECKIN_RSS_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SITE_PID/status")
stop_pid "$SITE_PID"

NGINX_RATE=$(field rate "$NGINX_LINE")
STEWARD_RATE=$(field rate "$STEWARD_LINE")
awk -v n="$NGINX_RATE" 'BEGIN { exit !(n > 0) }' || die "nginx served nothing: $NGINX_LINE"
RATIO=$(awk -v s="$STEWARD_RATE" -v n="$NGINX_RATE" 'BEGIN { printf "%.2f", s / n }')

# ---- phase 2: memory after enrolling a large fleet ------------------------------------
RSS_NOTE="skipped (BENCH_RSS_CLIENTS=0)"
RSS_FIGURE=""
if [ "$RSS_CLIENTS" -gt 0 ]; then
	start_site rss
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
| **checkin_vs_nginx_static** | **$RATIO** (goal ≥ 0.50) |
| stewardd check-ins | $(field rate "$STEWARD_LINE")/s, p50 $(field p50_ms "$STEWARD_LINE") ms, p99 $(field p99_ms "$STEWARD_LINE") ms, errors $(field errors "$STEWARD_LINE") |
| nginx 300-byte static file | $(field rate "$NGINX_LINE")/s, p50 $(field p50_ms "$NGINX_LINE") ms, p99 $(field p99_ms "$NGINX_LINE") ms, errors $(field errors "$NGINX_LINE") |
| load | concurrency $CONC, $DUR each after $WARM warm-up, $CLIENTS virtual clients (stewardd RSS after the run $(awk -v k="$CHECKIN_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }') MB) |
| stewardd memory after enrolling $RSS_CLIENTS clients | $RSS_NOTE |
| machine | nproc $NPROC, $CPU, $KERNEL; one 4 KiB O_DSYNC write ${SYNC_MS} ms (commit-bound ceiling at this concurrency ≈ $(awk -v c="$CONC" -v m="$SYNC_MS" 'BEGIN { if (m > 0) printf "%.0f", c * 1000 / m; else print "?" }') check-ins/s) |

steward-sim summaries:

    nginx:    $NGINX_LINE
    stewardd: $STEWARD_LINE
EOF
if [ -n "${RSS_LINE:-}" ]; then
	printf '    rss run:  %s\n' "$RSS_LINE" >>"$OUT"
fi

say "appended to $OUT"
echo "checkin_vs_nginx_static=$RATIO"
if [ -n "$RSS_FIGURE" ]; then
	echo "stewardd_rss_mb_after_${RSS_CLIENTS}_clients=$RSS_FIGURE"
fi

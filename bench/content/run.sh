#!/usr/bin/env bash
# bench/content: the distribution point (over plain HTTP, tls = off, like
# its nginx reference: the figure is sendfile against sendfile). Throughput of GET /content/HASH
# (a 100 MB blob, sendfile) as a ratio to nginx serving the same file with
# sendfile on, both fetched by the same client (curl -o /dev/null, rounds
# alternating, medians); then memory: stewardd's VmHWM before and during
# 1,000 concurrent paced downloads of a 1 MB blob, and how many got 200 or
# 503. Appends a dated section to docs/benchmarks.md. See bench/README.md.
#
# Environment (all optional):
#   BUILD                 build directory, relative to the repo root (build)
#   BENCH_BLOB_MB         size of the throughput blob (100)
#   BENCH_ROUNDS          rounds per server, alternating (7)
#   BENCH_REPEAT          downloads of the blob per round, one connection (5)
#   BENCH_PARALLEL        concurrent downloads in the memory phase; 0 skips it (1000)
#   BENCH_DP_BANDWIDTH    dp_max_bandwidth during the memory phase, bytes/s (50000000)
#   BENCH_OUT             where to append the results (docs/benchmarks.md)
#   NGINX                 the nginx binary (/usr/sbin/nginx, Debian's nginx-light)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
BIN=$BUILD_DIR/bin
BLOB_MB=${BENCH_BLOB_MB:-100}
ROUNDS=${BENCH_ROUNDS:-7}
REPEAT=${BENCH_REPEAT:-5}
PARALLEL=${BENCH_PARALLEL:-1000}
DP_BW=${BENCH_DP_BANDWIDTH:-50000000}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
NGINX=${NGINX:-/usr/sbin/nginx}
SITE=BEN

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ -x "$BIN/stewardd" ] || die "$BIN/stewardd not found: run 'make build' first"
[ -x "$NGINX" ] || die "$NGINX not found: install nginx-light (scripts/deps.sh does)"
command -v python3 >/dev/null || die "python3 is needed to pick free ports"
curl --help all 2>/dev/null | grep -q -- '--parallel-max' ||
	die "curl without --parallel (curl 7.66 or later is needed)"

# ---- cleanup: every process we started, by PID, and the temp dir ---------------
TMP=$(mktemp -d /tmp/steward-bench-content.XXXXXX)
. "$ROOT/bench/lib.sh"

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

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Many connections: raise the soft limit of open files as far as allowed
# (stewardd and curl inherit it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the blob, and nginx serving it ---------------------------------------------------
chmod 755 "$TMP"
mkdir -p "$TMP/nginx/www" "$TMP/nginx/tmp"
chmod 755 "$TMP/nginx" "$TMP/nginx/www"
say "making a ${BLOB_MB} MB random blob"
head -c $((BLOB_MB * 1000 * 1000)) /dev/urandom >"$TMP/nginx/www/blob"
chmod 644 "$TMP/nginx/www/blob"
HASH=$(sha256sum "$TMP/nginx/www/blob" | cut -d' ' -f1)
NGINX_PORT=$(free_port)
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
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
NGINX_URL=http://127.0.0.1:$NGINX_PORT/blob
wait_http "$NGINX_URL" 10 "$NGINX_PID" ||
	die "nginx did not serve $NGINX_URL: $(cat "$TMP/nginx/error.log" 2>/dev/null)"

# ---- stewardd --------------------------------------------------------------------------
# start_site NAME ARGS...: a fresh stewardd with every role; sets SITE_PID, SITE_URL, TOKEN
start_site() {
	local name=$1 port
	shift
	port=$(free_port)
	mkdir -p "$TMP/$name"
	"$BIN/stewardd" --listen "127.0.0.1:$port" --data_dir "$TMP/$name/data" --site_code "$SITE" \
		--roles all --log_level warn --tls false "$@" >"$TMP/$name/stewardd.log" 2>&1 &
	SITE_PID=$!
	PIDS+=("$SITE_PID")
	SITE_URL=http://127.0.0.1:$port
	wait_http "$SITE_URL/health" 30 "$SITE_PID" ||
		die "stewardd did not answer $SITE_URL/health: $(tail -5 "$TMP/$name/stewardd.log")"
	TOKEN=$(cat "$TMP/$name/data/admin.token")
}

# upload FILE HASH
upload() {
	local code
	code=$(curl -sS -o "$TMP/upload.out" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		-T "$1" "$SITE_URL/api/v1/content/$2")
	[ "$code" = 201 ] || [ "$code" = 200 ] || die "upload answered $code: $(cat "$TMP/upload.out")"
}

# ---- phase 1: throughput, the same client against both ---------------------------------
start_site tput
upload "$TMP/nginx/www/blob" "$HASH"
STEWARD_URL=$SITE_URL/content/$HASH
# Both get the same header, so the client does the same work. One round is
# one curl fetching the blob REPEAT times over one kept-alive connection: a
# single 100 MB transfer takes tens of milliseconds on loopback, too short
# to measure steadily. The rate is bytes ÷ transfer time summed over them.
fetch() {
	local args=() i
	for i in $(seq "$REPEAT"); do
		args+=(-o /dev/null "$1")
	done
	curl -sS --max-time 120 -H "Authorization: Bearer $TOKEN" \
		-w '%{http_code} %{size_download} %{time_total}\n' "${args[@]}" |
		awk '$1 != 200 { bad = $1 } { b += $2; t += $3 }
			END { if (bad) print "status " bad; else printf "%.0f\n", b / t }'
}
check_fetch() { # check_fetch NAME LINE -> bytes/s
	case $2 in
	status*) die "$1 answered $2" ;;
	esac
	echo "$2"
}
say "throughput: warm-up, then $ROUNDS rounds of $REPEAT × ${BLOB_MB} MB from each, alternating"
check_fetch nginx "$(fetch "$NGINX_URL")" >/dev/null
check_fetch stewardd "$(fetch "$STEWARD_URL")" >/dev/null
: >"$TMP/nginx.speeds"
: >"$TMP/steward.speeds"
for i in $(seq "$ROUNDS"); do
	check_fetch nginx "$(fetch "$NGINX_URL")" >>"$TMP/nginx.speeds"
	check_fetch stewardd "$(fetch "$STEWARD_URL")" >>"$TMP/steward.speeds"
	say "round $i: nginx $(tail -1 "$TMP/nginx.speeds") B/s, stewardd $(tail -1 "$TMP/steward.speeds") B/s"
done
NGINX_BPS=$(median <"$TMP/nginx.speeds")
STEWARD_BPS=$(median <"$TMP/steward.speeds")
RATIO=$(awk -v s="$STEWARD_BPS" -v n="$NGINX_BPS" 'BEGIN { printf "%.2f", s / n }')
mbs() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1e6 }'; }
say "median: nginx $(mbs "$NGINX_BPS") MB/s, stewardd $(mbs "$STEWARD_BPS") MB/s, ratio $RATIO"
TPUT_RSS_KB=$(status_kb "$SITE_PID" VmRSS)
TPUT_HWM_KB=$(status_kb "$SITE_PID" VmHWM)
stop_pid "$SITE_PID"

# ---- phase 2: memory with many concurrent paced downloads ---------------------------------
MEM_LINE="skipped (BENCH_PARALLEL=0)"
if [ "$PARALLEL" -gt 0 ]; then
	CONNS=$((PARALLEL * 2 + 64))
	[ "$CONNS" -le 60000 ] || CONNS=60000
	[ "$NOFILE" -gt $((PARALLEL + 200)) ] ||
		die "open files limit $NOFILE is too low for $PARALLEL connections (ulimit -Hn)"
	start_site mem --dp_max_downloads "$PARALLEL" --dp_max_bandwidth "$DP_BW" \
		--http_max_connections "$CONNS" --http_max_per_ip "$CONNS" --http_timeout 120s
	head -c 1000000 /dev/urandom >"$TMP/small"
	SMALL=$(sha256sum "$TMP/small" | cut -d' ' -f1)
	upload "$TMP/small" "$SMALL"
	IDLE_RSS_KB=$(status_kb "$SITE_PID" VmRSS)
	IDLE_HWM_KB=$(status_kb "$SITE_PID" VmHWM)
	# curl runs at most 300 transfers in parallel per process: 250 each
	NPROCS=$(((PARALLEL + 249) / 250))
	for p in $(seq "$NPROCS"); do
		echo "header = \"Authorization: Bearer $TOKEN\"" >"$TMP/curl.$p.cfg"
	done
	for i in $(seq "$PARALLEL"); do
		p=$(((i - 1) / 250 + 1))
		printf 'url = "%s/content/%s?n=%d"\noutput = "/dev/null"\n' "$SITE_URL" "$SMALL" "$i" \
			>>"$TMP/curl.$p.cfg"
	done
	say "memory: $PARALLEL concurrent downloads of 1 MB ($NPROCS curl processes), dp_max_bandwidth $DP_BW B/s shared"
	T0=$(date +%s%N)
	CURL_PIDS=()
	for p in $(seq "$NPROCS"); do
		curl -sS --parallel --parallel-immediate --parallel-max 250 --max-time 150 \
			-K "$TMP/curl.$p.cfg" -w '%{http_code}\n' >"$TMP/codes.$p" 2>"$TMP/curl.$p.err" &
		CURL_PIDS+=($!)
		PIDS+=($!)
	done
	PEAK_CONN=0
	PEAK_RSS_KB=0
	PORT=${SITE_URL##*:}
	# sample until every curl is done (bounded: curl's own --max-time, and 180 s here)
	running() {
		local pid
		for pid in "${CURL_PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && return 0
		done
		return 1
	}
	for _ in $(seq 900); do
		running || break
		c=$(ss -Htn state established "( sport = :$PORT )" 2>/dev/null | wc -l)
		[ "$c" -le "$PEAK_CONN" ] || PEAK_CONN=$c
		r=$(status_kb "$SITE_PID" VmRSS)
		[ "$r" -le "$PEAK_RSS_KB" ] || PEAK_RSS_KB=$r
		sleep 0.2
	done
	for pid in "${CURL_PIDS[@]}"; do
		stop_pid "$pid"
	done
	T1=$(date +%s%N)
	cat "$TMP"/codes.* >"$TMP/codes"
	DURING_HWM_KB=$(status_kb "$SITE_PID" VmHWM)
	N200=$(grep -c '^200$' "$TMP/codes" || true)
	N503=$(grep -c '^503$' "$TMP/codes" || true)
	NOTHER=$(grep -vcE '^(200|503)$' "$TMP/codes" || true)
	WALL=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
	say "memory: VmHWM $IDLE_HWM_KB kB before, $DURING_HWM_KB kB during; 200: $N200, 503: $N503, other: $NOTHER; peak $PEAK_CONN connections; ${WALL}s"
	stop_pid "$SITE_PID"
	MEM_LINE=$(awk -v i="$IDLE_HWM_KB" -v ir="$IDLE_RSS_KB" -v d="$DURING_HWM_KB" \
		-v p="$PEAK_RSS_KB" -v n="$PARALLEL" -v c="$PEAK_CONN" 'BEGIN {
		printf "VmHWM %.1f MB before (VmRSS %.1f MB), %.1f MB during (peak sampled VmRSS %.1f MB): %.1f kB per concurrent download (peak %d established connections)",
			i / 1024, ir / 1024, d / 1024, p / 1024, (d - i) / (c > 0 ? c : n), c }')
	MEM_LINE="$MEM_LINE; statuses: $N200 × 200, $N503 × 503, $NOTHER other; all done in ${WALL} s"
fi

# ---- report ------------------------------------------------------------------------------
NPROC=$(nproc)
CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
KERNEL=$(uname -sr)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
if COMMIT=$(GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
	if ! GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null; then
		COMMIT="$COMMIT with uncommitted changes"
	fi
else
	COMMIT=uncommitted
fi
NOW=$(date -u '+%Y-%m-%d %H:%M UTC')

cat >>"$OUT" <<EOF

## $NOW — bench/content — $COMMIT

| figure | value |
|---|---|
| **dp_download_vs_nginx_sendfile** | **$RATIO** (goal ≥ 0.9): median of $ROUNDS rounds each, alternating; a round is one curl -o /dev/null fetching a $BLOB_MB MB blob $REPEAT times on one connection |
| stewardd GET /content/HASH | $(mbs "$STEWARD_BPS") MB/s median ($(sort -g "$TMP/steward.speeds" | awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $1 / 1e6 }') MB/s); VmRSS $(awk -v k="$TPUT_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }') MB after, VmHWM $(awk -v k="$TPUT_HWM_KB" 'BEGIN { printf "%.1f", k / 1024 }') MB (the upload streamed in) |
| nginx sendfile on | $(mbs "$NGINX_BPS") MB/s median ($(sort -g "$TMP/nginx.speeds" | awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $1 / 1e6 }') MB/s) |
| memory: $PARALLEL concurrent downloads of 1 MB, dp_max_bandwidth $DP_BW | $MEM_LINE |
| machine | nproc $NPROC, $CPU, $KERNEL; open files $NOFILE; load average $LOAD_START at the start, $LOAD_END at the end |
EOF

say "appended to $OUT"
echo "dp_download_vs_nginx_sendfile=$RATIO"

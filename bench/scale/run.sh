#!/usr/bin/env bash
# bench/scale: one site (SQLite) and a million virtual clients. steward-sim
# enrolls the fleet through stewardd's real enrollment path in batches
# (10,000, then 100,000, then 1,000,000: each batch reuses the clients the
# one before saved with --state), stewardd's memory is read after each, the
# whole fleet checks in once over a scaled check-in cycle (--cycle: the
# agent's 23 h compressed, so the offered rate is clients ÷ cycle), then
# stewardd is restarted on the filled data dir and timed until GET /health
# answers and until it logs "site started". Collection upkeep at 10,000 and
# at 1,000,000 clients is timed in-process with bench-collections (the same
# engine code stewardd links). Appends a dated section to
# docs/benchmarks.md; prints one name=value line per figure. See
# bench/README.md.
#
# Environment (all optional):
#   BUILD                       build directory, relative to the repo root (build)
#   BENCH_SCALE_CLIENTS         the full fleet (1000000)
#   BENCH_SCALE_MID_CLIENTS     the middle batch, memory measured there too (100000)
#   BENCH_SCALE_SMALL_CLIENTS   the first batch and the small collection fleet (10000)
#   BENCH_SCALE_CYCLE           the scaled check-in cycle (83s: 23 h ÷ 1000)
#   BENCH_SCALE_CONCURRENCY     requests in flight (64)
#   BENCH_SCALE_HTTP_THREADS    stewardd's http_threads (16): enrollments and session
#                               opens wait for their commit in an HTTP thread
#   BENCH_SCALE_SETUP_TIMEOUT   bound on the last batch's enrollment and sessions (60m);
#                               when it runs out the run goes on with the clients ready
#   BENCH_SCALE_COLL_CHANGES    inventory changes timed by bench-collections (5000)
#   BENCH_SCALE_TMP             where the data dir goes (/tmp); needs a few GB
#   BENCH_OUT                   where to append the results (docs/benchmarks.md)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
BIN=$BUILD_DIR/bin
BIG=${BENCH_SCALE_CLIENTS:-1000000}
MID=${BENCH_SCALE_MID_CLIENTS:-100000}
SMALL=${BENCH_SCALE_SMALL_CLIENTS:-10000}
CYCLE=${BENCH_SCALE_CYCLE:-83s}
CONC=${BENCH_SCALE_CONCURRENCY:-64}
HTTP_THREADS=${BENCH_SCALE_HTTP_THREADS:-16}
SETUP_TIMEOUT=${BENCH_SCALE_SETUP_TIMEOUT:-60m}
COLL_CHANGES=${BENCH_SCALE_COLL_CHANGES:-5000}
TMP_BASE=${BENCH_SCALE_TMP:-/tmp}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
SITE=BEN

say() { printf 'bench: %s [%s]\n' "$*" "$(date -u +%H:%M:%S)" >&2; }
die() { say "error: $*"; exit 1; }

for b in stewardd steward-sim bench-collections; do
	[ -x "$BIN/$b" ] || die "$BIN/$b not found: run 'make build' first"
done
command -v python3 >/dev/null || die "python3 is needed to pick free ports"
case $BIG$MID$SMALL in *[!0-9]*) die "BENCH_SCALE_*CLIENTS must be numbers" ;; esac
[ "$SMALL" -ge 1 ] && [ "$SMALL" -lt "$MID" ] && [ "$MID" -lt "$BIG" ] && [ "$BIG" -le 1000000 ] ||
	die "need 1 <= BENCH_SCALE_SMALL_CLIENTS < BENCH_SCALE_MID_CLIENTS < BENCH_SCALE_CLIENTS <= 1000000"
CYCLE_S=$(printf '%s' "$CYCLE" | awk '/^[0-9]+s$/ { print $0 + 0; next } /^[0-9]+m$/ { print $0 * 60; next } { print 0 }')
[ "$CYCLE_S" -ge 10 ] && [ "$CYCLE_S" -le 3600 ] || die "BENCH_SCALE_CYCLE must be 10s..60m (e.g. 83s, 5m)"

# a label for a fleet size: 1000000 -> 1m, 100000 -> 100k, 2500 -> 2500
label() {
	if [ $(($1 % 1000000)) -eq 0 ]; then echo "$(($1 / 1000000))m"
	elif [ $(($1 % 1000)) -eq 0 ]; then echo "$(($1 / 1000))k"
	else echo "$1"; fi
}
L_BIG=$(label "$BIG")
L_MID=$(label "$MID")
L_SMALL=$(label "$SMALL")

# 1,000,000 clients took 260 MB of data dir and 204 MB of state file: ask for twice that
NEED_KB=$((BIG * 1))
AVAIL_KB=$(df -Pk "$TMP_BASE" | awk 'NR == 2 { print $4 }')
[ "$AVAIL_KB" -ge "$NEED_KB" ] ||
	die "$TMP_BASE has $((AVAIL_KB / 1024)) MB free; $BIG clients need about $((NEED_KB / 1024)) MB (set BENCH_SCALE_TMP)"

# ---- cleanup: every process we started, by PID, and the temp dir ---------------
TMP=$(mktemp -d "$TMP_BASE/steward-scale.XXXXXX")
BENCH_STOP_TENTHS=600 # a site with a million clients may take a while to stop
. "$ROOT/bench/lib.sh"

# field NAME LINE: the value of NAME=value in a summary line
field() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | sed 's#/s$##' | head -1
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# run_bg OUT CMD...: a program of ours in the background, waited for, so a
# signal to this script is handled at once (cleanup stops it too).
run_bg() {
	local out=$1 pid rc=0
	shift
	"$@" >"$out" &
	pid=$!
	PIDS+=("$pid")
	wait "$pid" || rc=$?
	forget_pid "$pid"
	return "$rc"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_BEGIN=$(now)

# ---- the site ---------------------------------------------------------------------
# Plain HTTP: the check-in path, not TLS, is what grows with the fleet (the
# TLS cost per check-in is measured by bench/checkin). --log_level info for
# the "site started" line.
PORT=$(free_port)
SITE_URL=http://127.0.0.1:$PORT
SITE_DATA=$TMP/data
STATE=$TMP/clients.state
LOG_N=0

# start_site LEVEL: stewardd on the data dir; sets SITE_PID, SITE_LOG, and
# STARTUP_HEALTH_S / STARTUP_LOG_S (from the spawn to GET /health answering,
# and to the "site started" line in its log), bounded by 600 s
start_site() {
	local level=$1 t0 i health="" logged=""
	LOG_N=$((LOG_N + 1))
	SITE_LOG=$TMP/stewardd.$LOG_N.log
	t0=$(now)
	"$BIN/stewardd" --listen "127.0.0.1:$PORT" --data_dir "$SITE_DATA" --site_code "$SITE" \
		--log_level "$level" --tls false --http_max_connections 8192 --http_max_per_ip 4096 \
		--http_threads "$HTTP_THREADS" \
		>"$SITE_LOG" 2>&1 &
	SITE_PID=$!
	PIDS+=("$SITE_PID")
	for i in $(seq 12000); do
		if [ -z "$logged" ] && { [ "$level" != info ] || grep -q ' site started ' "$SITE_LOG"; }; then
			logged=$(since "$t0")
		fi
		if [ -z "$health" ] && curl -sf -o /dev/null --max-time 1 "$SITE_URL/health"; then
			health=$(since "$t0")
		fi
		[ -n "$health" ] && [ -n "$logged" ] && break
		kill -0 "$SITE_PID" 2>/dev/null || die "stewardd exited: $(tail -5 "$SITE_LOG")"
		[ "$i" -lt 12000 ] || die "stewardd did not answer $SITE_URL/health in 600 s"
		sleep 0.05
	done
	STARTUP_HEALTH_S=$health
	STARTUP_LOG_S=$logged
	[ -s "$SITE_DATA/admin.token" ] || die "stewardd wrote no $SITE_DATA/admin.token"
}

SIM=("$BIN/steward-sim" --server "$SITE_URL" --token-file "$SITE_DATA/admin.token"
	--concurrency "$CONC" --state "$STATE" --reuse)

# warn: an enrollment logs a line at info, a million of them would be a log of 200 MB
start_site warn
IDLE_KB=$(rss_kb "$SITE_PID")
say "stewardd up (VmRSS $(mb "$IDLE_KB") MB idle); enrolling in batches: $SMALL, $MID, $BIG clients"

# enroll N: grow the fleet to N clients (those in the state file are reused
# and only open a session; the rest enroll), 1 s of check-ins at the end.
# Sets ENROLL_S, ENROLL_LINE.
enroll() {
	local n=$1 t0
	t0=$(now)
	run_bg "$TMP/enroll.$n" "${SIM[@]}" --clients "$n" --duration 1s --setup-timeout 1h ||
		die "steward-sim --clients $n failed"
	ENROLL_S=$(since "$t0")
	ENROLL_LINE=$(cat "$TMP/enroll.$n")
}

enroll "$SMALL"
S_ENROLL_S=$ENROLL_S
S_RSS_KB=$(rss_kb "$SITE_PID")
say "$SMALL clients in ${ENROLL_S} s: VmRSS $(mb "$S_RSS_KB") MB ($ENROLL_LINE)"

enroll "$MID"
M_ENROLL_S=$ENROLL_S
M_RSS_KB=$(rss_kb "$SITE_PID")
M_HWM_KB=$(hwm_kb "$SITE_PID")
say "$MID clients (+$((MID - SMALL))) in ${ENROLL_S} s: VmRSS $(mb "$M_RSS_KB") MB ($ENROLL_LINE)"

# The last batch enrolls the rest, opens every client's session, then the
# measured phase: each client checks in once over the scaled cycle.
say "$BIG clients: enrolling $((BIG - MID)) more, sessions for all, then one ${CYCLE} cycle of check-ins"
T0=$(now)
run_bg "$TMP/run.big" "${SIM[@]}" --clients "$BIG" --cycle "$CYCLE" --duration "$CYCLE" \
	--setup-timeout "$SETUP_TIMEOUT" ||
	die "steward-sim --clients $BIG failed"
B_TOTAL_S=$(since "$T0")
RUN_LINE=$(cat "$TMP/run.big")
B_RSS_KB=$(rss_kb "$SITE_PID")
B_HWM_KB=$(hwm_kb "$SITE_PID")
say "$BIG clients after the cycle (${B_TOTAL_S} s in all): VmRSS $(mb "$B_RSS_KB") MB ($RUN_LINE)"
DB_KB=$(du -sk "$SITE_DATA" | awk '{ print $1 }')
STATE_KB=$(du -sk "$STATE" | awk '{ print $1 }')
STOP_T0=$(now)
stop_pid "$SITE_PID"
STOP_S=$(since "$STOP_T0")

# ---- start-up on the filled data dir ------------------------------------------------
say "restarting stewardd on the data dir of $BIG clients ($(mb "$DB_KB") MB)"
sync
start_site info
R_RSS_KB=$(rss_kb "$SITE_PID")
R_CLIENTS=$(sed -n 's/.* site started .*clients=\([0-9]*\).*/\1/p' "$SITE_LOG" | head -1)
say "up: /health after $STARTUP_HEALTH_S s, \"site started\" after $STARTUP_LOG_S s, clients=$R_CLIENTS, VmRSS $(mb "$R_RSS_KB") MB"
stop_pid "$SITE_PID"

# ---- collection upkeep: bench-collections at both sizes ------------------------------
say "collections: bench-collections with $SMALL and $BIG clients (50 collections, $COLL_CHANGES changes)"
run_bg "$TMP/coll.small" "$BIN/bench-collections" --clients "$SMALL" --changes "$COLL_CHANGES" ||
	die "bench-collections --clients $SMALL failed"
run_bg "$TMP/coll.big" "$BIN/bench-collections" --clients "$BIG" --changes "$COLL_CHANGES" ||
	die "bench-collections --clients $BIG failed"
COLL_S=$(tr '\n' ' ' <"$TMP/coll.small")
COLL_B=$(tr '\n' ' ' <"$TMP/coll.big")
C_S_US=$(field membership_one_change_us "$COLL_S")
C_B_US=$(field membership_one_change_us "$COLL_B")
C_RATIO=$(awk -v a="$C_B_US" -v b="$C_S_US" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED_MIN=$(awk -v a="$T_BEGIN" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) / 60 }')

# ---- figures --------------------------------------------------------------------------
RSS_MID=$(mb "$M_RSS_KB")
RSS_BIG=$(mb "$B_RSS_KB")
RATE=$(field rate "$RUN_LINE")
OFFERED=$(field offered "$RUN_LINE")
BEHIND=$(field behind "$RUN_LINE")
P50=$(field p50_ms "$RUN_LINE")
P99=$(field p99_ms "$RUN_LINE")
ERRORS=$(field errors "$RUN_LINE")
CHECKINS=$(field checkins "$RUN_LINE")
HELD=$(awk -v r="$RATE" -v o="$OFFERED" 'BEGIN { printf "%.2f", (o > 0 ? r / o : 0) }')
PER_CLIENT_MID=$(awk -v r="$M_RSS_KB" -v i="$IDLE_KB" -v n="$MID" 'BEGIN { printf "%.0f", (r - i) * 1024 / n }')
PER_CLIENT_BIG=$(awk -v r="$B_RSS_KB" -v i="$IDLE_KB" -v n="$BIG" 'BEGIN { printf "%.0f", (r - i) * 1024 / n }')
REACHED=${R_CLIENTS:-0}
REACHED_NOTE=""
if [ "$REACHED" -lt "$BIG" ]; then
	REACHED_NOTE=" — **only $REACHED enrolled**: the last batch's setup ran out of its $SETUP_TIMEOUT"
fi
READY=$(awk -v o="$OFFERED" -v c="$CYCLE_S" 'BEGIN { printf "%.0f", o * c }')
goal() { awk -v v="$1" -v g="$2" 'BEGIN { print (v + 0 < g + 0) ? "met" : "not met" }'; }

NPROC=$(nproc)
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | sed 's/ [0-9]*-Core Processor//')
KERNEL="$(uname -s) $(uname -r)"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	COMMIT="$COMMIT with uncommitted changes"
fi

if [ ! -s "$OUT" ]; then
	printf '# Benchmarks\n\nResults appended by bench/*/run.sh; see bench/README.md.\n' >"$OUT"
fi
cat >>"$OUT" <<EOF

## $(date -u '+%Y-%m-%d %H:%M UTC') — bench/scale — $COMMIT

| figure | value |
|---|---|
| **stewardd RSS, $MID clients** | **$RSS_MID MB** (goal < 200 MB: $(goal "$RSS_MID" 200)); $(mb "$IDLE_KB") MB idle at start, $PER_CLIENT_MID bytes per client; peak VmHWM $(mb "$M_HWM_KB") MB |
| fleet | $BIG clients asked for, $REACHED enrolled at the end$REACHED_NOTE; $READY of them in the check-in cycle |
| **stewardd RSS, $BIG clients** | **$RSS_BIG MB** (goal < 1536 MB: $(goal "$RSS_BIG" 1536)) after enrolling, sessions and one cycle of check-ins; $PER_CLIENT_BIG bytes per client; peak VmHWM $(mb "$B_HWM_KB") MB; $(mb "$R_RSS_KB") MB right after a restart |
| **start-up, $BIG clients** | **$STARTUP_HEALTH_S s** until GET /health answered (goal < 30 s: $(goal "$STARTUP_HEALTH_S" 30)); $STARTUP_LOG_S s until "site started" (clients=$R_CLIENTS); the stop before it took $STOP_S s |
| **check-ins, $BIG clients** | **$RATE/s held of $OFFERED/s offered ($HELD)** over one $CYCLE cycle (23 h scaled), $CHECKINS check-ins, p50 $P50 ms, **p99 $P99 ms**, errors $ERRORS, $BEHIND never started by the end |
| **collection change** | **$C_S_US µs** per changed client at $SMALL clients, **$C_B_US µs** at $BIG: ratio **$C_RATIO** (in-process, bench-collections: 50 collections, $COLL_CHANGES changes) |
| enrollment | $SMALL clients in $S_ENROLL_S s; +$((MID - SMALL)) in $M_ENROLL_S s; +$((BIG - MID)) with sessions for all $BIG and the cycle in $B_TOTAL_S s; concurrency $CONC |
| disk | data dir $(mb "$DB_KB") MB; the sim's state file $(mb "$STATE_KB") MB |
| site | SQLite, plain HTTP, http_threads $HTTP_THREADS, everything else default; data dir under $TMP_BASE |
| machine | nproc $NPROC, $CPU, $KERNEL; load average $LOAD_START at the start, $LOAD_END at the end; $ELAPSED_MIN min in all |

Summaries:

    $SMALL clients:  $(cat "$TMP/enroll.$SMALL")
    $MID clients:  $(cat "$TMP/enroll.$MID")
    $BIG clients:  $RUN_LINE
    collections, $SMALL clients:  $COLL_S
    collections, $BIG clients:  $COLL_B
EOF
say "appended to $OUT"

echo "scale_clients_reached=$REACHED"
echo "scale_rss_mb_${L_MID}=$RSS_MID"
echo "scale_rss_mb_${L_BIG}=$RSS_BIG"
echo "scale_rss_mb_${L_BIG}_restarted=$(mb "$R_RSS_KB")"
echo "scale_startup_s_${L_BIG}=$STARTUP_HEALTH_S"
echo "scale_startup_log_s_${L_BIG}=$STARTUP_LOG_S"
echo "scale_checkin_rate_${L_BIG}=$RATE"
echo "scale_checkin_offered_${L_BIG}=$OFFERED"
echo "scale_p99_ms_${L_BIG}=$P99"
echo "scale_errors_${L_BIG}=$ERRORS"
echo "scale_collection_change_us_${L_SMALL}=$C_S_US"
echo "scale_collection_change_us_${L_BIG}=$C_B_US"
echo "scale_collection_change_${L_BIG}_vs_${L_SMALL}=$C_RATIO"

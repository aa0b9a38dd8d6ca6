#!/usr/bin/env bash
# bench/checkin/profile.sh: where stewardd's CPU goes under the check-in
# benchmark's load. Starts stewardd (plain HTTP) on a free loopback port,
# enrolls the clients with steward-sim, has wrk replay pre-built check-ins
# (as bench/checkin/run.sh does) and records stewardd with `perf record -g`
# (DWARF call graphs) for PROFILE_SECONDS in the middle of the run. Prints
# the shares of its threads and of the main areas of a check-in, and keeps
# perf.data when PROFILE_KEEP names a directory. See bench/README.md.
#
# Environment (all optional):
#   BUILD              build directory, relative to the repo root (build)
#   BENCH_CONCURRENCY  requests in flight (64)
#   BENCH_CLIENTS      virtual clients (2000)
#   BENCH_STATUS       status messages in each check-in (0)
#   BENCH_CHANGED      1: every check-in changes a component (0)
#   PROFILE_SECONDS    how long perf records (10)
#   PROFILE_KEEP       a directory to copy perf.data and the reports into
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
BIN=$BUILD_DIR/bin
CONC=${BENCH_CONCURRENCY:-64}
CLIENTS=${BENCH_CLIENTS:-2000}
STATUS_N=${BENCH_STATUS:-0}
CHANGED=${BENCH_CHANGED:-0}
SECS=${PROFILE_SECONDS:-10}
KEEP=${PROFILE_KEEP:-}

say() { printf 'profile: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ -x "$BIN/stewardd" ] || die "$BIN/stewardd not found: run 'make build' first"
[ -x "$BIN/steward-sim" ] || die "$BIN/steward-sim not found: run 'make build' first"
command -v wrk >/dev/null || die "wrk not found (scripts/deps.sh installs it)"
command -v perf >/dev/null || die "perf not found"

PIDS=()
TMP=$(mktemp -d /tmp/steward-profile.XXXXXX)
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
"$BIN/stewardd" --listen "127.0.0.1:$PORT" --data_dir "$TMP/data" --site_code PRF --log_level warn \
	--http_max_connections 8192 --http_max_per_ip 4096 --tls false >"$TMP/stewardd.log" 2>&1 &
SITE_PID=$!
PIDS+=("$SITE_PID")
for _ in $(seq 100); do
	curl -sf -o /dev/null --max-time 1 "$URL/health" && break
	kill -0 "$SITE_PID" 2>/dev/null || die "stewardd exited: $(tail -3 "$TMP/stewardd.log")"
	sleep 0.1
done

SIM=("$BIN/steward-sim" --server "$URL" --token-file "$TMP/data/admin.token" --clients "$CLIENTS"
	--concurrency "$CONC" --quiet --state "$TMP/clients.state")
say "enrolling $CLIENTS clients, 3 s of steward-sim check-ins"
"${SIM[@]}" --duration 3s >"$TMP/warm.out"
# a file that outlasts the run at the steward-sim rate × 4
RUN=$((SECS + 10))
RATE=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' "$TMP/warm.out")
COUNT=$(awk -v r="$RATE" -v s="$RUN" 'BEGIN { k = int(r * s * 4) + 50000; if (k > 3000000) k = 3000000; print k }')
ARGS=()
[ "$STATUS_N" = 0 ] || ARGS+=(--replay-status "$STATUS_N")
[ "$CHANGED" = 0 ] || ARGS+=(--replay-changed)
say "writing $COUNT check-ins${ARGS[*]:+ (${ARGS[*]})}"
"${SIM[@]}" --reuse --replay-out "$TMP/replay" --replay-requests "$COUNT" "${ARGS[@]}" >"$TMP/replay.out"

say "wrk for ${RUN}s; perf records stewardd for ${SECS}s after 5 s"
wrk -t 2 -c "$CONC" -d "${RUN}s" --latency -s "$ROOT/bench/checkin/replay.lua" "$URL" -- "$TMP/replay" \
	>"$TMP/wrk.out" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
sleep 5
T0=$(awk '{ print $14 + $15 }' "/proc/$SITE_PID/stat")
W0=$EPOCHREALTIME
perf record -q -F 499 --call-graph dwarf,16384 -o "$TMP/perf.data" -p "$SITE_PID" -- sleep "$SECS" \
	>"$TMP/perf.log" 2>&1 || die "perf record failed: $(tail -3 "$TMP/perf.log")"
T1=$(awk '{ print $14 + $15 }' "/proc/$SITE_PID/stat")
W1=$EPOCHREALTIME
wait "$WRK_PID" || die "wrk failed: $(tail -3 "$TMP/wrk.out")"
say "wrk: $(grep -E 'Requests/sec|Non-2xx' "$TMP/wrk.out" | tr -s ' ' | tr '\n' ' ')"

perf report -i "$TMP/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null >"$TMP/threads.txt"
perf report -i "$TMP/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null >"$TMP/dso.txt"
perf report -i "$TMP/perf.data" --children --sort symbol --stdio -g none 2>/dev/null >"$TMP/children.txt"

# inclusive share of a symbol: the first (largest) line that names it
share() {
	awk -v s="$1" '$4 == s { print $1; exit }' "$TMP/children.txt"
}

echo "wrk: $(sed -n 's/^Requests\/sec: *//p' "$TMP/wrk.out") check-ins/s; $(cat "$TMP/replay.out")"
echo "stewardd while recording: $(awk -v t="$((T1 - T0))" -v hz="$(getconf CLK_TCK)" -v a="$W0" -v b="$W1" \
	'BEGIN { printf "%.2f", t / hz / (b - a) }') cores; samples: $(sed -n 's/^# Samples: //p' "$TMP/threads.txt" | head -1)"
echo "threads (self):"
grep '%' "$TMP/threads.txt" | sed 's/^/    /'
echo "libraries (self):"
grep '%' "$TMP/dso.txt" | head -10 | sed 's/^/    /'
echo "areas (inclusive, share of all stewardd samples):"
for s in on_request site_authorize auth_agent proto_canonical h_checkin proto_checkin_req_parse \
	json_loadb json_delete parse_components parse_status components_text status_text \
	registry_details_hash queue_reply checkin_done MHD_resume_connection writer_main \
	sq_checkin_apply sqlite3_step __GI_fdatasync __libc_sendmsg __libc_recv epoll_wait \
	__GI_epoll_ctl __memset_avx2_unaligned_erms; do
	printf '    %-28s %s\n' "$s" "$(share "$s")"
done
if [ -n "$KEEP" ]; then
	mkdir -p "$KEEP"
	cp "$TMP/perf.data" "$TMP/threads.txt" "$TMP/dso.txt" "$TMP/children.txt" "$TMP/wrk.out" "$KEEP/"
	say "perf.data and the reports copied to $KEEP"
fi

#!/usr/bin/env bash
# bench/inventory (stewardd over plain HTTP, tls = off: the figure is the
# ingest, not the transport): (1) full inventories of 2,000 packages ingested per second
# by a real stewardd, as a ratio to a plain SQLite insert of the same rows
# measured in the same run; (2) membership upkeep of the collections engine
# with 100,000 clients and 50 query collections (one inventory change, one
# full re-evaluation), and again with 10,000 clients to show that one change
# does not grow with the fleet. Appends a dated section to
# docs/benchmarks.md. See bench/README.md.
#
# Environment (all optional):
#   BUILD                     build directory, relative to the repo root (build)
#   BENCH_INV_CLIENTS         enrolled clients posting inventories (100)
#   BENCH_INV_ROUNDS          inventories per client; the first is the warm-up (4)
#   BENCH_INV_CONCURRENCY     inventories in flight (4)
#   BENCH_INV_PACKAGES        packages per inventory (2000)
#   BENCH_COLL_CLIENTS        fleet of the membership figures (100000)
#   BENCH_COLL_SMALL_CLIENTS  the smaller fleet it is compared with (10000)
#   BENCH_COLL_COLLECTIONS    query collections (50)
#   BENCH_COLL_IMAGES         distinct software images in the fleet (500)
#   BENCH_COLL_CHANGES        inventory changes timed (5000)
#   BENCH_OUT                 where to append the results (docs/benchmarks.md)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
BIN=$BUILD_DIR/bin
INV_CLIENTS=${BENCH_INV_CLIENTS:-100}
INV_ROUNDS=${BENCH_INV_ROUNDS:-4}
INV_CONC=${BENCH_INV_CONCURRENCY:-4}
INV_PACKAGES=${BENCH_INV_PACKAGES:-2000}
COLL_CLIENTS=${BENCH_COLL_CLIENTS:-100000}
COLL_SMALL=${BENCH_COLL_SMALL_CLIENTS:-10000}
COLL_N=${BENCH_COLL_COLLECTIONS:-50}
COLL_IMAGES=${BENCH_COLL_IMAGES:-500}
COLL_CHANGES=${BENCH_COLL_CHANGES:-5000}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
SITE=BEN

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for b in stewardd steward-sim bench-inventory-post bench-sqlite-insert bench-collections; do
	[ -x "$BIN/$b" ] || die "$BIN/$b not found: run 'make build' first"
done
command -v python3 >/dev/null || die "python3 is needed to pick free ports"
[ "$INV_ROUNDS" -ge 2 ] || die "BENCH_INV_ROUNDS must be at least 2 (the first is the warm-up)"

# ---- cleanup: every process we started, by PID, and the temp dir ---------------
TMP=$(mktemp -d /tmp/steward-bench-inv.XXXXXX)
. "$ROOT/bench/lib.sh"

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

# field NAME TEXT: the value of NAME=value in a summary line or name=value lines
field() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | sed 's#/s$##' | head -1
}

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

# The machines are shared: the load when the run starts and ends goes into the report.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- phase 1: ingest against stewardd, and the SQLite reference --------------------
PORT=$(free_port)
SITE_DATA=$TMP/site/data
mkdir -p "$TMP/site"
"$BIN/stewardd" --listen "127.0.0.1:$PORT" --data_dir "$SITE_DATA" --site_code "$SITE" \
	--log_level warn --tls false >"$TMP/site/stewardd.log" 2>&1 &
SITE_PID=$!
PIDS+=("$SITE_PID")
SITE_URL=http://127.0.0.1:$PORT
wait_http "$SITE_URL/health" 30 "$SITE_PID" ||
	die "stewardd did not answer $SITE_URL/health: $(tail -5 "$TMP/site/stewardd.log")"
[ -s "$SITE_DATA/admin.token" ] || die "stewardd wrote no $SITE_DATA/admin.token"

say "enrolling $INV_CLIENTS clients with steward-sim"
run_bg "$TMP/enroll.summary" "$BIN/steward-sim" --server "$SITE_URL" \
	--token-file "$SITE_DATA/admin.token" --clients "$INV_CLIENTS" --state "$TMP/clients.state" \
	--duration 1s --quiet || die "steward-sim could not enroll: $(cat "$TMP/enroll.summary")"

MEASURED=$((INV_CLIENTS * (INV_ROUNDS - 1)))
say "ingest: $INV_CLIENTS clients x $INV_ROUNDS full inventories of $INV_PACKAGES packages" \
	"(first round warm-up; $MEASURED timed), concurrency $INV_CONC"
run_bg "$TMP/ingest.summary" "$BIN/bench-inventory-post" --server "$SITE_URL" \
	--state "$TMP/clients.state" --clients "$INV_CLIENTS" --rounds "$INV_ROUNDS" \
	--concurrency "$INV_CONC" --packages "$INV_PACKAGES" ||
	die "bench-inventory-post failed: $(cat "$TMP/ingest.summary") $(tail -5 "$TMP/site/stewardd.log")"
INGEST_LINE=$(cat "$TMP/ingest.summary")
say "stewardd: $INGEST_LINE"
SITE_RSS_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SITE_PID/status")
SITE_DB_KB=$(du -sk "$SITE_DATA" | awk '{ print $1 }')
stop_pid "$SITE_PID"

say "reference: SQLite insert of $MEASURED x $INV_PACKAGES package rows (WAL, synchronous=FULL)"
run_bg "$TMP/sqlite.summary" "$BIN/bench-sqlite-insert" --db "$TMP/reference.db" \
	--clients "$MEASURED" --packages "$INV_PACKAGES" || die "bench-sqlite-insert failed"
SQLITE_LINE=$(cat "$TMP/sqlite.summary")
say "sqlite:   $SQLITE_LINE"
rm -f "$TMP"/reference.db*

INGEST_RATE=$(field rate "$INGEST_LINE")
SQLITE_RATE=$(field rate "$SQLITE_LINE")
awk -v n="$SQLITE_RATE" 'BEGIN { exit !(n > 0) }' || die "the SQLite reference inserted nothing"
INGEST_RATIO=$(awk -v s="$INGEST_RATE" -v n="$SQLITE_RATE" 'BEGIN { printf "%.2f", s / n }')

# ---- phase 2: membership upkeep -------------------------------------------------------
coll_run() { # OUT CLIENTS
	run_bg "$1" "$BIN/bench-collections" --clients "$2" --collections "$COLL_N" \
		--images "$COLL_IMAGES" --packages "$INV_PACKAGES" --changes "$COLL_CHANGES" ||
		die "bench-collections --clients $2 failed"
}
say "membership: $COLL_CLIENTS clients, $COLL_N query collections, $COLL_CHANGES changes"
coll_run "$TMP/coll.big" "$COLL_CLIENTS"
BIG=$(cat "$TMP/coll.big")
say "membership: $COLL_SMALL clients, the same collections"
coll_run "$TMP/coll.small" "$COLL_SMALL"
SMALL=$(cat "$TMP/coll.small")

ONE_US=$(field membership_one_change_us "$BIG")
ONE_P99=$(field membership_one_change_p99_us "$BIG")
NEWSW_US=$(field membership_one_change_new_software_us "$BIG")
REEVAL_MS=$(field membership_full_reeval_ms "$BIG")
RATIO_CR=$(field one_change_vs_full_reeval "$BIG")
COLL_RSS=$(field rss_mb "$BIG")
S_ONE_US=$(field membership_one_change_us "$SMALL")
S_ONE_P99=$(field membership_one_change_p99_us "$SMALL")
S_REEVAL_MS=$(field membership_full_reeval_ms "$SMALL")
S_RSS=$(field rss_mb "$SMALL")
SLOW_Q=$(printf '%s\n' "$BIG" | sed -n "s/^slowest_collection_query='\(.*\)'\$/\1/p")
GROWTH=$(awk -v b="$ONE_US" -v s="$S_ONE_US" 'BEGIN { printf "%.2f", b / s }')

# ---- the disk's sync latency (the SQLite reference commits 1 transaction per client) -
SYNC_MS=$(cd "$TMP" && dd if=/dev/zero of=sync.test bs=4k count=200 oflag=dsync 2>&1 |
	awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") printf "%.2f", $(i - 1) * 1000 / 200 }')
rm -f "$TMP/sync.test"

# ---- report ------------------------------------------------------------------------------
NPROC=$(nproc)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
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

Dated sections appended by `make bench` (bench/checkin/run.sh and
bench/inventory/run.sh). See bench/README.md for what each figure means.
EOF
fi

cat >>"$OUT" <<EOF

## $NOW — bench/inventory — $COMMIT

| figure | value |
|---|---|
| **inventory_ingest_vs_sqlite_insert** | **$INGEST_RATIO** (stewardd full inventories per second ÷ plain SQLite inserts of the same $INV_PACKAGES package rows per client per second) |
| inventory_ingest_per_s | $INGEST_RATE/s: $(field inventories "$INGEST_LINE") full inventories of $INV_PACKAGES packages ($(field bytes_per_inventory "$INGEST_LINE") bytes each) from $INV_CLIENTS enrolled clients, concurrency $INV_CONC, p50 $(field p50_ms "$INGEST_LINE") ms, p99 $(field p99_ms "$INGEST_LINE") ms, errors $(field errors "$INGEST_LINE"); stewardd RSS after $(awk -v k="$SITE_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }') MB, data dir $(awk -v k="$SITE_DB_KB" 'BEGIN { printf "%.1f", k / 1024 }') MB |
| SQLite reference | $SQLITE_RATE clients/s ($(field rows "$SQLITE_LINE") rows, one transaction per client, WAL, synchronous=FULL) |
| **membership_one_change_us** ($COLL_CLIENTS clients, $COLL_N collections) | **$ONE_US µs** median, p99 $ONE_P99 µs (facts swapped to another image's software, memberships in all $COLL_N updated); with software nobody had before (2,000 packages read) $NEWSW_US µs |
| **membership_full_reeval_ms** ($COLL_CLIENTS clients) | **$REEVAL_MS ms** (every collection re-evaluated for every client); the slowest collection, \`$SLOW_Q\`, alone $(field slowest_collection_reeval_ms "$BIG") ms |
| one_change ÷ full_reeval | $RATIO_CR |
| the same with $COLL_SMALL clients | one change $S_ONE_US µs median (p99 $S_ONE_P99 µs), full re-evaluation $S_REEVAL_MS ms: one change at $COLL_CLIENTS ÷ at $COLL_SMALL = **$GROWTH** |
| bench-collections memory | VmRSS $COLL_RSS MB with $COLL_CLIENTS clients, $S_RSS MB with $COLL_SMALL ($(field package_sets "$BIG") package sets from $COLL_IMAGES images) |
| machine | nproc $NPROC, $CPU, $KERNEL; one 4 KiB O_DSYNC write ${SYNC_MS} ms; load average $LOAD_START at the start, $LOAD_END at the end |

Summaries:

    stewardd ingest:   $INGEST_LINE
    SQLite reference:  $SQLITE_LINE
    $COLL_CLIENTS clients: $(printf '%s' "$BIG" | tr '\n' ' ')
    $COLL_SMALL clients:  $(printf '%s' "$SMALL" | tr '\n' ' ')
EOF

say "appended to $OUT"
echo "inventory_ingest_per_s=$INGEST_RATE"
echo "inventory_ingest_vs_sqlite_insert=$INGEST_RATIO"
echo "membership_one_change_us=$ONE_US"
echo "membership_full_reeval_ms=$REEVAL_MS"
echo "membership_one_change_vs_full_reeval=$RATIO_CR"
echo "membership_one_change_us_at_${COLL_SMALL}_clients=$S_ONE_US"
echo "membership_rss_mb=$COLL_RSS"

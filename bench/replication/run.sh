#!/usr/bin/env bash
# bench/replication (both sites over plain HTTP, tls = off, like the
# direct reference): a child site's status reports to its parent.
#   (1) status reports per second from a child to its parent over a real
#       site link (two stewardd on loopback; the child's outbox filled while
#       its schedule is closed, then opened and timed until the parent holds
#       them all), as a ratio to the same reports applied straight into a
#       parent's store in the same run (bench-link-direct: the receiver's
#       store call, without the link): replication_vs_direct;
#   (2) bytes on the wire per report (compressed batches, counted by the
#       parent);
#   (3) the time a child with 100,000 clients takes to send its first full
#       summary after it attaches (until the parent holds every client).
# Appends a dated section to docs/benchmarks.md. See bench/README.md.
#
# Environment (all optional):
#   BUILD                  build directory, relative to the repo root (build)
#   BENCH_REPL_REPORTS     status reports replicated (100000)
#   BENCH_REPL_DETAIL      bytes of detail text per report (40)
#   BENCH_REPL_CLIENTS     clients of the child for the full summary (100000)
#   BENCH_OUT              where to append the results (docs/benchmarks.md)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
BIN=$BUILD_DIR/bin
N=${BENCH_REPL_REPORTS:-100000}
PAD=${BENCH_REPL_DETAIL:-40}
CLIENTS=${BENCH_REPL_CLIENTS:-100000}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for b in stewardd stewardctl bench-link-direct; do
	[ -x "$BIN/$b" ] || die "$BIN/$b not found: run 'make build' first"
done
command -v sqlite3 >/dev/null || die "sqlite3 is needed (scripts/deps.sh installs it)"

TMP=$(mktemp -d /tmp/steward-bench-repl.XXXXXX)
BENCH_STOP_TENTHS=100
. "$ROOT/bench/lib.sh"
declare -A URL PID
# start NAME CODE: a stewardd on a free port with its data in $TMP/NAME
start() {
	local name=$1 code=$2 port
	port=$(free_port)
	"$BIN/stewardd" --listen "127.0.0.1:$port" --data_dir "$TMP/$name" --site_code "$code" \
		--log_level warn --link_seen_interval 3600 --tls false >>"$TMP/$name.log" 2>&1 &
	PID[$name]=$!
	PIDS+=("${PID[$name]}")
	URL[$name]=http://127.0.0.1:$port
	for _ in $(seq 300); do
		curl -sf -o /dev/null --max-time 1 "${URL[$name]}/health" && return 0
		kill -0 "${PID[$name]}" 2>/dev/null || die "stewardd $name exited: $(tail -5 "$TMP/$name.log")"
		sleep 0.1
	done
	die "stewardd $name did not answer"
}
on() {
	local name=$1
	shift
	"$BIN/stewardctl" -s "${URL[$name]}" -t "$TMP/$name/admin.token" "$@"
}
sql() { sqlite3 -cmd ".timeout 10000" "$TMP/$1/steward.db" "$2"; }
attach() { # attach CHILD PARENT
	local tok
	tok=$(on "$2" sites attach-token create 2>/dev/null) || die "attach-token create"
	on "$1" sites attach --parent "${URL[$2]}" --token "$tok" >/dev/null || die "attach $1"
}
now() { date +%s.%N; }
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- (1) and (2): status reports over the link ---------------------------------------
start parent CEN
start child C01
attach child parent
on child links set CEN --schedule "*:00-24=closed" >/dev/null
mkdir -p "$TMP/pkg" && echo x >"$TMP/pkg/f"
on child packages add tool --version 1 --source "$TMP/pkg" >/dev/null
on child programs add install --package tool@1 --command true >/dev/null
on child adverts create roll-out --program install --collection "All Clients" >/dev/null
say "queueing $N status reports at the child (its link closed)"
sql child "WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < $N)
	INSERT INTO status_history(advert_rid, client_id, revision, seq, state, exit_code, detail, time)
	SELECT (SELECT rid FROM adverts WHERE name = 'roll-out'), printf('%032x', x % 3000), 1, x,
	       'succeeded', 0, substr(hex(randomblob($PAD + 1)), 1, $PAD), strftime('%s', 'now') FROM i"
queued=$(sql child "SELECT count(*) FROM site_outbox WHERE kind = 'status'")
[ "$queued" = "$N" ] || die "the child queued $queued reports, not $N"
b0=$(on parent --json sites list | jq '.[] | select(.code == "C01") | .since_start.bytes_in')
say "opening the link"
t0=$(now)
on child links set CEN --schedule all >/dev/null
for _ in $(seq 6000); do
	[ "$(sql parent "SELECT count(*) FROM site_status")" = "$N" ] && break
	sleep 0.05
done
t1=$(now)
got=$(sql parent "SELECT count(*) FROM site_status")
[ "$got" = "$N" ] || die "the parent holds $got of $N reports after 5 minutes"
b1=$(on parent --json sites list | jq '.[] | select(.code == "C01") | .since_start.bytes_in')
REPL_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
REPL_RATE=$(awk -v n="$N" -v s="$REPL_S" 'BEGIN { printf "%.0f", n / s }')
WIRE=$(awk -v a="$b0" -v b="$b1" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
say "link: $N reports in $REPL_S s ($REPL_RATE/s), $WIRE bytes on the wire each"
PARENT_RSS=$(awk '/^VmRSS:/ { print $2 }' "/proc/${PID[parent]}/status")
stop_pid "${PID[child]}"
stop_pid "${PID[parent]}"

say "reference: the same $N reports applied straight into a parent's store"
"$BIN/bench-link-direct" --db "$TMP/direct.db" --reports "$N" --detail "$PAD" >"$TMP/direct.out" ||
	die "bench-link-direct failed"
DIRECT_LINE=$(cat "$TMP/direct.out")
DIRECT_RATE=$(printf '%s\n' "$DIRECT_LINE" | sed -n 's/.* rate=\([0-9]*\)\/s.*/\1/p')
RATIO=$(awk -v r="$REPL_RATE" -v d="$DIRECT_RATE" 'BEGIN { printf "%.2f", r / d }')
say "direct: $DIRECT_LINE; replication_vs_direct=$RATIO"

# ---- (3): the first full summary of a child with many clients --------------------------------
start parent2 CEN
start child2 C02
stop_pid "${PID[child2]}"
say "writing $CLIENTS clients into the child's database"
sql child2 "WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < $CLIENTS)
	INSERT INTO clients(id, public_key, hostname, site, state, enrolled, agent_version, protocol)
	SELECT printf('%032x', x), randomblob(32), 'host' || x, 'C02', 'approved',
	       strftime('%s', 'now'), '1.0.0', '1-1' FROM i"
start child2 C02
t0=$(now)
attach child2 parent2
for _ in $(seq 12000); do
	[ "$(sql parent2 "SELECT count(*) FROM site_clients")" = "$CLIENTS" ] && break
	sleep 0.05
done
t1=$(now)
got=$(sql parent2 "SELECT count(*) FROM site_clients")
[ "$got" = "$CLIENTS" ] || die "the parent holds $got of $CLIENTS clients after 10 minutes"
SUMMARY_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
SUMMARY_BYTES=$(on parent2 --json sites list | jq '.[] | select(.code == "C02") | .since_start.bytes_in')
say "full summary of $CLIENTS clients: $SUMMARY_S s, $SUMMARY_BYTES bytes on the wire"

NPROC=$(nproc)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
KERNEL=$(uname -sr)
if COMMIT=$(GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
	GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || COMMIT="$COMMIT with uncommitted changes"
else
	COMMIT=uncommitted
fi
cat >>"$OUT" <<EOF

## $(date -u '+%Y-%m-%d %H:%M UTC') — $COMMIT — replication

| figure | value |
|---|---|
| **replication_vs_direct** | **$RATIO** (goal ≥ 0.50): status reports per second from a child to its parent over a site link ÷ the same reports applied straight into a parent's store |
| over the link | $N reports in $REPL_S s: $REPL_RATE/s (batches of up to 1000, zstd, signed, applied in one transaction each, acknowledged; two stewardd on loopback); parent VmRSS $(awk -v k="$PARENT_RSS" 'BEGIN { printf "%.1f", k / 1024 }') MB after |
| direct reference | $DIRECT_LINE (site_apply, one transaction per 1000, WAL, synchronous=FULL) |
| bytes on the wire per report | $WIRE (compressed batch bodies counted by the parent; each report carries $PAD bytes of detail) |
| first full summary, $CLIENTS clients | $SUMMARY_S s from \`sites attach\` until the parent holds every client; $SUMMARY_BYTES bytes on the wire |
| machine | nproc $NPROC, $CPU, $KERNEL; load average $LOAD_START at the start, $LOAD_END at the end |
EOF
say "appended to $OUT"

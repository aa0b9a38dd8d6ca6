#!/usr/bin/env bash
# bench/agent: the resident memory of steward-agent between cycles. One
# stewardd (this build, HTTPS, embedded SQLite, approving enrollments itself,
# the shortest check-in interval) and one real steward-agent daemon (not
# --once) enrolled with a token. The site advertises a small package to "All
# Clients" (a program that runs once); the agent's first cycle enrolls,
# sends its full inventory, downloads, runs and reports the program. Then the
# agent is poked (SIGUSR1) for a few more check-ins, and its memory is read
# from /proc while it sleeps between cycles. The headline is
# agent_rss_idle_kb (VmRSS between cycles; goal < 5120 kB), with the peak
# (VmHWM), its anonymous and file-backed parts, and stewardd's own VmRSS
# beside it. See bench/README.md.
#
# Environment (all optional):
#   BUILD               build directory, relative to the repo root (build)
#   BENCH_AGENT_CYCLES  check-ins after the first, each poked by SIGUSR1 (5)
#   BENCH_OUT           where to append the results (docs/benchmarks.md)
#   BENCH_AGENT_LOG     a file to copy the agent's log into at the end (none)
#   BENCH_AGENT_SMAPS   a file to copy the agent's /proc/PID/smaps into, between
#                       cycles (none)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
BIN=$BUILD_DIR/bin
CYCLES=${BENCH_AGENT_CYCLES:-5}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
GOAL_KB=5120
SITE=BEN

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for b in stewardd stewardctl steward-agent; do
	[ -x "$BIN/$b" ] || die "$BIN/$b not found: run 'make build' first"
done
command -v python3 >/dev/null || die "python3 is needed to pick a free port"
command -v jq >/dev/null || die "jq is needed to read stewardctl's JSON"
case $CYCLES in '' | *[!0-9]*) die "BENCH_AGENT_CYCLES must be a number" ;; esac

# ---- cleanup: every process we started, by PID, and the temp dir ---------------
TMP=$(mktemp -d /tmp/steward-bench-agent.XXXXXX)
# stewardctl's trusted sites and pinned release keys stay in the temp dir
export STEWARD_TRUST_FILE=$TMP/trust
export STEWARD_RELEASE_KEYS_FILE=$TMP/release-keys
bench_on_exit() {
	[ -z "${BENCH_AGENT_LOG:-}" ] || cp "$TMP/agent.log" "$BENCH_AGENT_LOG" 2>/dev/null || true
	if [ "$1" -ne 0 ] && [ -f "$TMP/agent.log" ]; then
		say "the agent's log ends:"
		tail -n 15 "$TMP/agent.log" >&2 || true
	fi
}
. "$ROOT/bench/lib.sh"

proc_kb() { # PID FIELD: a kB field of /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile)
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.1 s
wait_for() {
	local secs=$1 what=$2 i
	shift 2
	for i in $(seq $((secs * 10))); do
		"$@" && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || die "steward-agent exited while waiting for $what"
		sleep 0.1
	done
	die "$what: not within $secs s"
}

# ---- the site ----------------------------------------------------------------------------
PORT=$(free_port)
DATA=$TMP/site
"$BIN/stewardd" --listen "127.0.0.1:$PORT" --data_dir "$DATA" --site_code "$SITE" \
	--log_level warn --enroll_auto_approve true --checkin_interval 60 --checkin_jitter 0 \
	>"$TMP/stewardd.log" 2>&1 &
SITE_PID=$!
PIDS+=("$SITE_PID")
SITE_URL=https://127.0.0.1:$PORT
for _ in $(seq 100); do [ -s "$DATA/tls.pin" ] && [ -s "$DATA/tls.crt" ] && break; sleep 0.1; done
for i in $(seq 300); do
	curl -sf -o /dev/null --max-time 1 --cacert "$DATA/tls.crt" "$SITE_URL/health" && break
	kill -0 "$SITE_PID" 2>/dev/null || die "stewardd exited: $(tail -5 "$TMP/stewardd.log")"
	[ "$i" -lt 300 ] || die "stewardd did not answer $SITE_URL/health within 30 s"
	sleep 0.1
done
[ -s "$DATA/admin.token" ] || die "stewardd wrote no $DATA/admin.token"
"$BIN/stewardctl" -s "$SITE_URL" site trust --pin "$(cat "$DATA/tls.pin")" >/dev/null ||
	die "stewardctl site trust"
ctl() { "$BIN/stewardctl" -s "$SITE_URL" -t "$DATA/admin.token" "$@"; }

# a package of two files, a program that runs it once, advertised to everyone
mkdir -p "$TMP/pkg" "$TMP/out"
printf '#!/bin/sh\nset -e\ntest "$(cat data.txt)" = payload\necho "$STEWARD_ADVERT" >>"%s"\n' \
	"$TMP/out/ran.log" >"$TMP/pkg/install.sh"
echo payload >"$TMP/pkg/data.txt"
ctl packages add tool --version 1.0 --source "$TMP/pkg" >"$TMP/ctl.out" 2>&1 ||
	die "packages add: $(cat "$TMP/ctl.out")"
ctl programs add install --package tool@1.0 --command "sh install.sh" --timeout 2m \
	>"$TMP/ctl.out" 2>&1 || die "programs add: $(cat "$TMP/ctl.out")"
ctl adverts create once --program install --collection "All Clients" >"$TMP/ctl.out" 2>&1 ||
	die "adverts create: $(cat "$TMP/ctl.out")"
TOKEN=$(ctl --json enroll-tokens create --uses 1 --ttl 1h | jq -r .token)
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || die "enroll-tokens create"

# ---- the agent ---------------------------------------------------------------------------
"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$TMP/agent" --enroll-token "$TOKEN" \
	--log-level info >"$TMP/agent.out" 2>"$TMP/agent.log" &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
T0=$(date +%s.%N)

sleeps() { grep -c ' sleeping ' "$TMP/agent.log" 2>/dev/null || true; }
ran() { [ -s "$TMP/out/ran.log" ]; }
inventoried() { [ -s "$TMP/agent/inventory.json" ]; }
outbox_empty() { [ ! -s "$TMP/agent/swdist/outbox.jsonl" ]; }
# the first cycle: enrolled, inventory sent, the program run and reported
wait_for 120 "the first cycle (enrollment, inventory, the advertisement)" \
	eval 'inventoried && ran && outbox_empty && [ "$(sleeps)" -ge 1 ]'
FIRST_S=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
after_first_rss=$(proc_kb "$AGENT_PID" VmRSS)

# the peak: VmHWM starts anew with every execve (between cycles the agent
# is steward-agent-idle), so it is sampled every 50 ms during the cycles
# and the highest value kept
( hwm=0
  while kill -0 "$AGENT_PID" 2>/dev/null; do
	v=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$AGENT_PID/status" 2>/dev/null || true)
	[ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v && echo "$hwm" >"$TMP/hwm"
	sleep 0.05
  done ) &
SAMPLER_PID=$!
PIDS+=("$SAMPLER_PID")

# later cycles: a check-in each, poked by SIGUSR1 once the agent sleeps
for c in $(seq "$CYCLES"); do
	n=$(sleeps)
	sleep 0.5
	kill -USR1 "$AGENT_PID"
	wait_for 60 "check-in $((c + 1))" eval '[ "$(sleeps)" -gt "$n" ]'
done
grep -q ' checkin_requested ' "$TMP/agent.log" || die "the agent never logged checkin_requested"
RUNS=$(wc -l <"$TMP/out/ran.log")
[ "$RUNS" -eq 1 ] || die "the program ran $RUNS times, not once"
CHECKINS=$(grep -c 'checkin_requested' "$TMP/agent.log" || true)

# between cycles: sample for three seconds, keep the last (the smallest
# once the cycle's memory has been given back)
sleep 1
for _ in 1 2 3; do
	RSS=$(proc_kb "$AGENT_PID" VmRSS)
	sleep 1
done
stop_pid "$SAMPLER_PID"
HWM=$(cat "$TMP/hwm" 2>/dev/null || echo 0)
NOW_HWM=$(proc_kb "$AGENT_PID" VmHWM)
[ "$NOW_HWM" -le "$HWM" ] || HWM=$NOW_HWM
ANON=$(proc_kb "$AGENT_PID" RssAnon)
FILE=$(proc_kb "$AGENT_PID" RssFile)
SHMEM=$(proc_kb "$AGENT_PID" RssShmem)
HEAP_KB=$(awk '/\[heap\]/ { h = 1; next } h && /^Rss:/ { r = $2; h = 0 } END { print r + 0 }' "/proc/$AGENT_PID/smaps" 2>/dev/null || echo "?")
PRIV_DIRTY=$(awk '/^Private_Dirty:/ { print $2 }' "/proc/$AGENT_PID/smaps_rollup" 2>/dev/null || echo "?")
PSS=$(awk '/^Pss:/ { print $2 }' "/proc/$AGENT_PID/smaps_rollup" 2>/dev/null || echo "?")
[ -z "${BENCH_AGENT_SMAPS:-}" ] || cp "/proc/$AGENT_PID/smaps" "$BENCH_AGENT_SMAPS"
SITE_RSS=$(proc_kb "$SITE_PID" VmRSS)
SITE_HWM=$(proc_kb "$SITE_PID" VmHWM)
kill -0 "$AGENT_PID" 2>/dev/null || die "steward-agent exited"
# the floor, for scale: a process of this machine that only links libc and sleeps
sleep 30 &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")
sleep 0.5
FLOOR=$(proc_kb "$FLOOR_PID" VmRSS)
stop_pid "$FLOOR_PID"
grep -q ' sleeping ' <(tail -n 1 "$TMP/agent.log") || say "warning: the agent's last log line is not 'sleeping'"
INV_BYTES=$(stat -c %s "$TMP/agent/inventory.json")

# ---- report ------------------------------------------------------------------------------
NPROC=$(nproc)
CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
KERNEL=$(uname -sr)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
if COMMIT=$(GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
	if ! GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null; then
		COMMIT="$COMMIT with uncommitted changes"
	fi
else
	COMMIT=uncommitted
fi
NOW=$(date -u '+%Y-%m-%d %H:%M UTC')
MB() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
VERDICT=$([ "$RSS" -lt "$GOAL_KB" ] && echo "under the goal" || echo "over the goal")

cat >>"$OUT" <<EOF

## $NOW — bench/agent — $COMMIT

| figure | value |
|---|---|
| **agent_rss_idle_kb** | **$RSS** ($(MB "$RSS") MB; goal < $GOAL_KB kB, $VERDICT): VmRSS of the steward-agent daemon sleeping between cycles |
| parts | RssAnon $ANON kB, RssFile $FILE kB, RssShmem $SHMEM kB; [heap] $HEAP_KB kB; Private_Dirty $PRIV_DIRTY kB, Pss $PSS kB |
| peak | VmHWM $HWM kB ($(MB "$HWM") MB), the highest seen during the later cycles (sampled every 50 ms: VmHWM starts anew at every execve); VmRSS $after_first_rss kB right after the first cycle |
| cycles | the first (enroll, session, full inventory of $INV_BYTES bytes, download, run and report of the advertisement) in ${FIRST_S} s, then $CYCLES check-ins poked by SIGUSR1 ($CHECKINS logged); the program ran $RUNS time |
| floor | VmRSS $FLOOR kB of \`sleep\` (a process that links only libc), same machine |
| stewardd beside it | VmRSS $(MB "$SITE_RSS") MB (VmHWM $(MB "$SITE_HWM") MB), one client, HTTPS, embedded SQLite |
| machine | nproc $NPROC, $CPU, $KERNEL; load average at the end $LOAD |
EOF
say "appended to $OUT"

echo "agent_rss_idle_kb=$RSS"
echo "agent_rss_peak_kb=$HWM"
echo "agent_rss_anon_kb=$ANON"
echo "agent_rss_file_kb=$FILE"
echo "stewardd_rss_kb=$SITE_RSS"
echo "floor_rss_kb=$FLOOR"

#!/usr/bin/env bash
# bench/rollout: what a rollout costs the check-in path. One stewardd (this
# build, embedded SQLite, HTTPS like bench/checkin's headline), a fleet of
# steward-sim clients at agent 1.0.0, and one rollout of release 2.0.0 to
# "All Clients" in waves 1%,10%,50%,100% (gate 95%, no soak), driven from
# start to completed while the fleet checks in back to back. The headline is
# rollout_vs_idle: check-ins per second during the waves ÷ the same fleet's
# check-ins per second with no rollout, same site, same run (goal ≥ 0.90).
# Also the peak offers per minute against rollout_offers_per_minute, the
# time to converge and stewardd's memory. See bench/README.md.
#
# Environment (all optional):
#   BUILD                      build directory, relative to the repo root (build)
#   BENCH_ROLLOUT_CLIENTS      simulated clients (100000)
#   BENCH_CONCURRENCY          requests in flight (64, as bench/checkin)
#   BENCH_ROLLOUT_IDLE         the idle phase (20s)
#   BENCH_ROLLOUT_CAP          give up on the rollout after this many seconds (2400)
#   BENCH_ROLLOUT_OFFERS_PER_MIN  rollout_offers_per_minute (6000, stewardd's default)
#   BENCH_ROLLOUT_DP_OFFERS_PER_MIN  rollout_dp_offers_per_minute (0: no cap of its
#                              own; the site is its own and only distribution point,
#                              so the management point's cap is the one measured)
#   BENCH_ROLLOUT_TLS          true (HTTPS) or false (plain HTTP) (true)
#   BENCH_OUT                  where to append the results (docs/benchmarks.md)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
BIN=$BUILD_DIR/bin
N=${BENCH_ROLLOUT_CLIENTS:-100000}
CONC=${BENCH_CONCURRENCY:-64}
IDLE=${BENCH_ROLLOUT_IDLE:-20s}
CAP_S=${BENCH_ROLLOUT_CAP:-2400}
OPM=${BENCH_ROLLOUT_OFFERS_PER_MIN:-6000}
DP_OPM=${BENCH_ROLLOUT_DP_OFFERS_PER_MIN:-0}
TLS=${BENCH_ROLLOUT_TLS:-true}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
SITE=BEN

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for b in stewardd steward-sim stewardctl steward-launcher; do
	[ -x "$BIN/$b" ] || die "$BIN/$b not found: run 'make build' first"
done
command -v python3 >/dev/null || die "python3 is needed to pick a free port"
command -v jq >/dev/null || die "jq is needed to read stewardctl's JSON"
case $N in '' | *[!0-9]*) die "BENCH_ROLLOUT_CLIENTS must be a number" ;; esac
[ "$N" -ge 100 ] || die "BENCH_ROLLOUT_CLIENTS must be at least 100 (a 1% wave of one client)"
case $CAP_S in '' | *[!0-9]*) die "BENCH_ROLLOUT_CAP is seconds" ;; esac
[ "$CAP_S" -le 3500 ] || die "BENCH_ROLLOUT_CAP is at most 3500 s (steward-sim runs at most 1 h)"

# ---- cleanup: every process we started, by PID, and the temp dir ---------------
TMP=$(mktemp -d /tmp/steward-bench-rollout.XXXXXX)
# stewardctl's trusted sites and pinned release keys stay in the temp dir
export STEWARD_TRUST_FILE=$TMP/trust
export STEWARD_RELEASE_KEYS_FILE=$TMP/release-keys
. "$ROOT/bench/lib.sh"

# field NAME LINE: the value of NAME=value in a summary line
field() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | sed 's#/s$##'
}

proc_kb() { # PID FIELD: VmRSS or VmHWM in kB
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# ---- the site ----------------------------------------------------------------------------
PORT=$(free_port)
DATA=$TMP/site/data
mkdir -p "$TMP/site"
"$BIN/stewardctl" releases keygen --out "$TMP/rk" >/dev/null || die "releases keygen"
"$BIN/stewardd" --listen "127.0.0.1:$PORT" --data_dir "$DATA" --site_code "$SITE" \
	--log_level warn --http_max_connections 8192 --http_max_per_ip 4096 --tls "$TLS" \
	--enroll_auto_approve true --release_key "$(cat "$TMP/rk.pub")" --release_halt_failures 0 \
	--rollout_offers_per_minute "$OPM" --rollout_dp_offers_per_minute "$DP_OPM" \
	>"$TMP/site/stewardd.log" 2>&1 &
SITE_PID=$!
PIDS+=("$SITE_PID")
CACERT=()
if [ "$TLS" = true ]; then
	SITE_URL=https://127.0.0.1:$PORT
	for _ in $(seq 100); do [ -s "$DATA/tls.pin" ] && [ -s "$DATA/tls.crt" ] && break; sleep 0.1; done
	CACERT=(--cacert "$DATA/tls.crt")
else
	SITE_URL=http://127.0.0.1:$PORT
fi
for i in $(seq 300); do
	curl -sf -o /dev/null --max-time 1 "${CACERT[@]}" "$SITE_URL/health" && break
	kill -0 "$SITE_PID" 2>/dev/null || die "stewardd exited: $(tail -5 "$TMP/site/stewardd.log")"
	[ "$i" -lt 300 ] || die "stewardd did not answer $SITE_URL/health within 30 s"
	sleep 0.1
done
[ -s "$DATA/admin.token" ] || die "stewardd wrote no $DATA/admin.token"
ADMIN=$DATA/admin.token
if [ "$TLS" = true ]; then
	"$BIN/stewardctl" -s "$SITE_URL" site trust --pin "$(cat "$DATA/tls.pin")" >/dev/null ||
		die "stewardctl site trust"
fi
ctl() { "$BIN/stewardctl" -s "$SITE_URL" -t "$ADMIN" "$@"; }
IDLE_RSS_KB=$(proc_kb "$SITE_PID" VmRSS)

# Two releases from this build's binaries under other versions. The agent
# is staged as a few bytes: steward-sim downloads it but never runs it, and
# `releases build` does not look inside, so the run measures offers and
# check-ins rather than 100,000 copies of an 858 KB file.
PROTO=$("$BIN/steward-agent" --version | sed -n 's/.*protocol \([0-9]*-[0-9]*\).*/\1/p')
[ -n "$PROTO" ] || die "cannot read the protocol range from steward-agent --version"
release_as() { # VERSION UPGRADE-FROM
	local s=$TMP/stage-$1
	mkdir -p "$s/steward-agent/bin" "$s/steward-launcher/bin"
	printf 'bench %s\n' "$1" >"$s/steward-agent/bin/steward-agent"
	chmod 755 "$s/steward-agent/bin/steward-agent"
	cp "$BIN/steward-launcher" "$s/steward-launcher/bin/"
	printf 'steward-agent base %s %s\nsteward-launcher launcher %s %s\n' "$1" "$PROTO" "$1" "$PROTO" \
		>"$s/components"
	"$BIN/stewardctl" releases build --version "$1" --upgrade-from "$2" --key "$TMP/rk" --stage "$s" \
		--out "$TMP/r-$1.tar.zst" >"$TMP/build-$1.out" 2>&1 ||
		die "releases build $1: $(cat "$TMP/build-$1.out")"
	ctl releases import "$TMP/r-$1.tar.zst" >"$TMP/import-$1.out" 2>&1 ||
		die "releases import $1: $(cat "$TMP/import-$1.out")"
}
release_as 1.0.0 0.0.1
release_as 2.0.0 1.0.0
AGENT_BYTES=$(wc -c <"$TMP/stage-2.0.0/steward-agent/bin/steward-agent")

# sim_start NAME DURATION ARGS...: steward-sim in the background, its summary
# in TMP/NAME.json and its progress in TMP/NAME.log; sets SIM_PID
SIM_SETUP_TIMEOUT=$((N / 50 + 120))
[ "$SIM_SETUP_TIMEOUT" -le 3600 ] || SIM_SETUP_TIMEOUT=3600
sim_start() {
	local name=$1 dur=$2
	shift 2
	"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients "$N" \
		--concurrency "$CONC" --state "$TMP/fleet.state" --setup-timeout "${SIM_SETUP_TIMEOUT}s" \
		--duration "$dur" --json "$@" >"$TMP/$name.json" 2>"$TMP/$name.log" &
	SIM_PID=$!
	PIDS+=("$SIM_PID")
}
sim_wait() { # NAME: wait for the running simulator; its summary must be there
	local rc=0
	wait "$SIM_PID" || rc=$?
	forget_pid "$SIM_PID"
	[ "$rc" -eq 0 ] && [ -s "$TMP/$1.json" ] ||
		die "steward-sim $1 failed (rc $rc): $(tail -n 5 "$TMP/$1.log")"
}
num() { jq -r ".$2" "$TMP/$1.json"; }
# the setup line of a simulator run: "N of M clients ready (...) in S s, E errors"
setup_line() { sed -n 's/^steward-sim: setup: \(.* clients ready .*\)$/\1/p' "$TMP/$1.log" | tail -n 1; }

# wait_ready NAME: until the simulator's setup is over (its measured phase begins)
wait_ready() {
	local i
	for i in $(seq $((SIM_SETUP_TIMEOUT * 10 + 100))); do
		grep -q ' clients ready ' "$TMP/$1.log" 2>/dev/null && return 0
		kill -0 "$SIM_PID" 2>/dev/null || die "steward-sim $1 ended in its setup: $(tail -n 5 "$TMP/$1.log")"
		sleep 0.1
	done
	die "steward-sim $1: no setup within ${SIM_SETUP_TIMEOUT} s"
}

# ---- sampling, the same in both phases ------------------------------------------------------
metrics() { # prints "offers capped"
	curl -sf --max-time 2 "${CACERT[@]}" "$SITE_URL/metrics" |
		awk '$1 == "steward_rollout_offers_total" { o = $2 }
		     $1 == "steward_rollout_offers_capped_total" { c = $2 }
		     END { printf "%d %d\n", o, c }'
}
# sample FILE T0: appends "seconds-since-T0 offers capped state wave succeeded"
# and sets STATE. Once a second in both phases, so the idle rate pays for
# the same stewardctl, curl and jq as the rollout's.
sample() {
	local now o c
	now=$(date +%s.%N)
	read -r o c < <(metrics)
	ctl --json rollouts status r >"$TMP/status.json" 2>/dev/null || true
	read -r STATE w ok < <(jq -r '"\(.state // "?") \(.wave // 0) \(.succeeded // 0)"' \
		"$TMP/status.json" 2>/dev/null || echo '? 0 0')
	printf '%s %s %s %s %s %s\n' "$(awk -v a="$now" -v b="$2" 'BEGIN { printf "%.2f", a - b }')" \
		"$o" "$c" "$STATE" "$w" "$ok" >>"$1"
}

# The rollout is created first and started after the idle phase: a created
# rollout offers nothing, and the status the sampler reads exists in both.
ctl rollouts create r --release 2.0.0 --collection "All Clients" --waves 1%,10%,50%,100% \
	--gate 95 --soak 0 --halt-at 5 >"$TMP/create.out" 2>&1 || die "rollouts create: $(cat "$TMP/create.out")"

# ---- the fleet, enrolled once; then idle: it checks in, no rollout running -----------------------
# The measured phase of the enrolling run is the idle phase: each run of the
# simulator opens a session for every client first (sessions are not saved),
# which at 100,000 clients takes minutes, so the fleet pays it twice, not three times.
say "enrolling $N clients at agent 1.0.0 over $SITE_URL (concurrency $CONC), then $IDLE idle"
sim_start idle "$IDLE" --agent-version 1.0.0
wait_ready idle
ENROLL_SETUP=$(setup_line idle)
SETUP_S=$(printf '%s\n' "$ENROLL_SETUP" | sed -n 's/.* in \([0-9.]*\) s,.*/\1/p')
say "enrolled: $ENROLL_SETUP"
READY=$(printf '%s\n' "$ENROLL_SETUP" | awk '{ print $1 }')
[ "$READY" = "$N" ] || die "only $READY of $N clients enrolled and opened a session"
I0=$(date +%s.%N)
: >"$TMP/idle.samples"
while kill -0 "$SIM_PID" 2>/dev/null; do
	sample "$TMP/idle.samples" "$I0"
	sleep 1
done
sim_wait idle
IDLE_RATE=$(num idle rate)
say "idle: $(jq -c '{checkins, rate, p50_ms, p99_ms, errors}' "$TMP/idle.json")"
[ "$(num idle upgrades_offered)" = 0 ] || die "offers with no rollout: $(cat "$TMP/idle.json")"
awk -v r="$IDLE_RATE" 'BEGIN { exit !(r > 0) }' || die "no check-ins in the idle phase"

# ---- the rollout -------------------------------------------------------------------------------
# The simulator first opens a session for every client (not measured); the
# rollout starts once its measured phase has begun, so the phase's rate is
# the rate during the waves. It runs until the rollout completes, then is
# stopped with SIGTERM (it still prints its summary).
sim_start rollout "$((CAP_S + 120))s" --reuse --versions-out "$TMP/rollout.versions"
wait_ready rollout
say "rollout: $(setup_line rollout); starting rollout r (cap ${OPM}/min, give up after ${CAP_S} s)"
read -r OFFERS0 CAPPED0 < <(metrics)
ctl rollouts start r >"$TMP/start.out" 2>&1 || die "rollouts start: $(cat "$TMP/start.out")"
R0=$(date +%s.%N)
: >"$TMP/samples"
STATE=running
GAVE_UP=""
# once a second: the counters and the rollout's state (t offers capped state wave succeeded)
while :; do
	sample "$TMP/samples" "$R0"
	case $STATE in completed | halted | aborted | rolled_back | rolling_back) break ;; esac
	kill -0 "$SIM_PID" 2>/dev/null || die "steward-sim ended during the rollout: $(tail -n 5 "$TMP/rollout.log")"
	if awk -v a="$(date +%s.%N)" -v b="$R0" -v c="$CAP_S" 'BEGIN { exit !(a - b >= c) }'; then
		GAVE_UP=1
		break
	fi
	[ $(( $(wc -l <"$TMP/samples") % 30 )) -eq 0 ] &&
		say "rollout: $(tail -n 1 "$TMP/samples" | awk '{ printf "%ds, wave %s, %s succeeded, %s offers, %s capped", $1, $5, $6, $2, $3 }')"
	sleep 1
done
R1=$(date +%s.%N)
CONVERGE_S=$(awk -v a="$R1" -v b="$R0" 'BEGIN { printf "%.0f", a - b }')
kill -TERM "$SIM_PID" 2>/dev/null || true
sim_wait rollout
ctl --json rollouts status r >"$TMP/status.json" 2>/dev/null || die "rollouts status"
ctl rollouts status r >"$TMP/status.txt" 2>&1 || true
RSS_KB=$(proc_kb "$SITE_PID" VmRSS)
HWM_KB=$(proc_kb "$SITE_PID" VmHWM)
read -r OFFERS1 CAPPED1 < <(metrics)
DB_KB=$(du -sk "$DATA" | awk '{ print $1 }')
STATE=$(jq -r .state "$TMP/status.json")
SUCCEEDED=$(jq -r .succeeded "$TMP/status.json")
FAILED=$(jq -r .failed "$TMP/status.json")
WAVES=$(jq -r '.waves | map("\(.label) \(.clients) clients, \(.succeeded) succeeded") | join("; ")' "$TMP/status.json")
AT_2=$(awk '$2 == "2.0.0"' "$TMP/rollout.versions" | wc -l)
stop_pid "$SITE_PID"
ROLLOUT_RATE=$(num rollout rate)
say "rollout: $STATE after ${CONVERGE_S} s; $(jq -c '{checkins, rate, p50_ms, p99_ms, errors, error_codes, upgrades_offered, upgrades_succeeded, content_requests}' "$TMP/rollout.json")"
if [ -n "$GAVE_UP" ]; then
	say "gave up after ${CAP_S} s: the rollout is $STATE ($SUCCEEDED of $N succeeded)"
elif [ "$STATE" != completed ]; then
	die "the rollout ended $STATE: $(jq -r .why "$TMP/status.json")"
fi
RATIO=$(awk -v r="$ROLLOUT_RATE" -v i="$IDLE_RATE" 'BEGIN { printf "%.2f", r / i }')

# Peak offers per minute: the most offers in any 60 s between two samples
# (the whole phase, scaled to a minute, when it was shorter), so the first
# burst of the token bucket (a tenth of a minute's worth) is in the window
# it belongs to and not multiplied by 60. Also the busiest second, for context.
PEAKS=$(awk -v o0="$OFFERS0" '
	{ t[NR] = $1; o[NR] = $2 - o0 }
	END {
		span = t[NR]; w = span < 60 ? span : 60; best = 0; sec = 0; j = 1
		t[0] = 0; o[0] = 0
		for (i = 1; i <= NR; i++) {
			if (t[i] - t[i - 1] > 0 && (o[i] - o[i - 1]) / (t[i] - t[i - 1]) > sec)
				sec = (o[i] - o[i - 1]) / (t[i] - t[i - 1])
			while (j < i && t[i] - t[j] > 60) j++
			k = j - 1                         # the sample at or just over 60 s back
			if (t[i] - t[k] >= w && w > 0) {
				r = (o[i] - o[k]) * 60 / (t[i] - t[k])
				if (r > best) best = r
			}
		}
		printf "%.0f %.0f\n", best, sec
	}' "$TMP/samples")
PEAK_PM=${PEAKS% *}
PEAK_PS=${PEAKS#* }
OFFERS=$((OFFERS1 - OFFERS0))
CAPPED=$((CAPPED1 - CAPPED0))
# the time each wave began, from the samples
WAVE_TIMES=$(awk '$5 != w { printf "%swave %s at %.0f s", (n++ ? ", " : ""), $5, $1; w = $5 } END { print "" }' "$TMP/samples")

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
SCHEME=$([ "$TLS" = true ] && echo HTTPS || echo "plain HTTP")
MB() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

cat >>"$OUT" <<EOF

## $NOW — bench/rollout — $COMMIT

| figure | value |
|---|---|
| **rollout_vs_idle** | **$RATIO** (goal ≥ 0.90): check-ins/s during the waves ÷ with no rollout |
| idle check-ins | $IDLE_RATE/s, p50 $(num idle p50_ms) ms, p99 $(num idle p99_ms) ms, errors $(num idle errors) $(jq -c .error_codes "$TMP/idle.json"); $IDLE (errors count every phase of a run: enrollment and sessions too) |
| check-ins during the rollout | $ROLLOUT_RATE/s, p50 $(num rollout p50_ms) ms, p99 $(num rollout p99_ms) ms, errors $(num rollout errors) $(jq -c .error_codes "$TMP/rollout.json") |
| time to converge | ${CONVERGE_S} s from \`rollouts start\` to $STATE$([ -n "$GAVE_UP" ] && echo " (gave up after ${CAP_S} s)"); $WAVE_TIMES |
| offers | peak $PEAK_PM a minute (any 60 s) against rollout_offers_per_minute $OPM (dp cap $DP_OPM); busiest second $PEAK_PS; $OFFERS offers and $CAPPED put off by the cap in all |
| clients | $N at agent 1.0.0; $SUCCEEDED succeeded, $FAILED failed when it ended ($AT_2 run 2.0.0 by the sim's count); $(num rollout upgrades_offered) offers taken, $(num rollout content_requests) downloads of the ${AGENT_BYTES}-byte staged agent |
| waves | $WAVES |
| stewardd memory at the end | VmRSS $(MB "$RSS_KB") MB (peak VmHWM $(MB "$HWM_KB") MB, $(MB "$IDLE_RSS_KB") MB at start); data dir $(MB "$DB_KB") MB |
| setup | enrolling the fleet and opening its sessions: ${SETUP_S} s ($ENROLL_SETUP); reopening the sessions before the rollout: $(setup_line rollout) |
| load | $SCHEME, concurrency $CONC, stewardd with embedded SQLite |
| machine | nproc $NPROC, $CPU, $KERNEL; load average at the end $LOAD |

steward-sim summaries:

    idle:    $(jq -c . "$TMP/idle.json")
    rollout: $(jq -c . "$TMP/rollout.json")
EOF
say "appended to $OUT"

echo "rollout_vs_idle=$RATIO"
echo "idle_checkins_per_s=$IDLE_RATE"
echo "rollout_checkins_per_s=$ROLLOUT_RATE"
echo "rollout_peak_offers_per_min=$PEAK_PM cap=$OPM"
echo "rollout_converge_s=$CONVERGE_S state=$STATE clients=$N succeeded=$SUCCEEDED${GAVE_UP:+ gave_up_after_s=$CAP_S}"
echo "stewardd_rss_mb_after_rollout=$(MB "$RSS_KB")"
echo "fleet_setup_s=$SETUP_S"

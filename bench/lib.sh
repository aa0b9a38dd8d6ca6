# bench/lib.sh: the process bookkeeping every benchmark script shares.
# Source it right after making the script's temp dir:
#
#   TMP=$(mktemp -d /tmp/steward-bench-NAME.XXXXXX)
#   . "$ROOT/bench/lib.sh"
#
# Then add each process started in the background to PIDS; stop_pid PID
# stops one (TERM, then KILL after BENCH_STOP_TENTHS tenths of a second,
# default 50) and forgets it. At exit, however the script ends, every PID
# still in PIDS is stopped, bench_on_exit RC is called if the script
# defines it (to copy or show a log, stop a database), and TMP is removed.
# Only processes the script started are ever signalled, by their PID.

PIDS=()

# A PID leaves the list as soon as it is reaped, so cleanup never signals a
# recycled PID that belongs to someone else.
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
		for _ in $(seq "${BENCH_STOP_TENTHS:-50}"); do
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
	if declare -F bench_on_exit >/dev/null; then
		bench_on_exit "$rc"
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

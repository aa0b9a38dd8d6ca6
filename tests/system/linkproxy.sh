# Helpers for tests that put steward-linkproxy (a bad network link) between a
# client and a server. Source it after lib.sh:
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/linkproxy.sh"
# docs/internals/testing-tools.md describes the proxy's modes and commands.

# linkproxy_start NAME HOST:PORT [steward-linkproxy args...]: starts a proxy
# in front of HOST:PORT, with its stderr in $T/NAME.log (shown when the test
# fails). It listens on LP_LISTEN (an IPv4 address, 127.0.0.1 by default;
# netns.sh's NETNS_HOST_ADDR for a client in a namespace). Sets LP_PID,
# LP_PORT, LP_URL (LP_SCHEME://LP_LISTEN:LP_PORT; https unless LP_SCHEME says
# http) and LP_CTL (its control address, always on 127.0.0.1). It ends by itself after LP_MAX_SECONDS (default
# 300) even if nothing stops it; lib.sh's cleanup stops it before that.
linkproxy_start() {
	local name=$1 to=$2 line="" i addr=${LP_LISTEN:-127.0.0.1}
	shift 2
	: >"$T/$name.out"
	"$BIN/steward-linkproxy" --listen "$addr:0" --control 127.0.0.1:0 --to "$to" \
		--max-seconds "${LP_MAX_SECONDS:-300}" "$@" >"$T/$name.out" 2>"$T/$name.log" &
	LP_PID=$!
	PIDS+=("$LP_PID")
	for i in $(seq 1 50); do
		line=$(head -n 1 "$T/$name.out")
		[ -n "$line" ] && break
		kill -0 "$LP_PID" 2>/dev/null || fail "steward-linkproxy $name exited at start: $(cat "$T/$name.log")"
		sleep 0.1
	done
	[ -n "$line" ] || fail "steward-linkproxy $name printed no ports within 5 s"
	LP_PORT=$(echo "$line" | sed -n 's/.* listen=[0-9.]*:\([0-9]*\) .*/\1/p')
	LP_CTL=$(echo "$line" | sed -n 's/.* control=\(127\.0\.0\.1:[0-9]*\) .*/\1/p')
	[ -n "$LP_PORT" ] && [ -n "$LP_CTL" ] || fail "steward-linkproxy $name: cannot read its ports from '$line'"
	LP_URL=${LP_SCHEME:-https}://$addr:$LP_PORT
}

# linkproxy_ctl COMMAND...: sends one command to the proxy at $LP_CTL (or
# LP_CTL=ADDR linkproxy_ctl ...) and prints its reply; fails the test unless
# the reply is "ok ...".
linkproxy_ctl() {
	local reply rc=0
	reply=$("$BIN/steward-linkproxy" --ctl "$LP_CTL" "$@") || rc=$?
	[ $rc -eq 0 ] || fail "linkproxy '$*': ${reply:-no reply} (rc=$rc)"
	echo "$reply"
}

# linkproxy_stat KEY: one count from the proxy's stats (accepted, refused,
# active, upstream_failed, cut_closed, cutafter_closed, bytes_up, bytes_down)
# or its mode.
linkproxy_stat() {
	local reply
	reply=$(linkproxy_ctl stats)
	if [ "$1" = mode ]; then
		echo "${reply##* mode=}"
	else
		echo "${reply%% mode=*}" | tr ' ' '\n' | sed -n "s/^$1=//p"
	fi
}

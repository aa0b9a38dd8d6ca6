# Shell functions for tests that put a client behind a real network link:
# a network namespace joined to the host by a veth pair, optionally with a
# tc tbf rate limit each way. Source it after lib.sh:
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/netns.sh"
#   netns_setup cl                       # skips the test (exit 77) if refused
#   SITE_LISTEN=$NETNS_HOST_ADDR site_start site
#   netns_rate cl 512                    # 512 kbit/s each way
#   netns_exec cl "$BIN/steward-agent" --server "$SITE_URL" ...
# docs/internals/testing-tools.md describes them. Everything made here is
# removed by lib.sh's cleanup, whether the test passes or fails.

# per NAME: the namespace, the veth ends and the two addresses
declare -A NETNS_NS NETNS_VETH_HOST NETNS_VETH_NS NETNS_HOST NETNS_PEER
NETNS_COUNT=0
# the /30s are taken from 10.200.0.0/16 (16384 of them)
NETNS_NET=${NETNS_NET:-10.200}

# netns_skip REASON: the machine cannot run this test; CTest shows it as
# skipped (tests/system/CMakeLists.txt sets SKIP_RETURN_CODE 77 on tests
# that source this file)
netns_skip() {
	echo "SKIP: $TEST_NAME needs network namespaces: $*"
	exit 77
}

# netns_require: skips the test unless network namespaces can be made here
netns_require() {
	[ "$(id -u)" = 0 ] || netns_skip "not root (uid $(id -u))"
	command -v ip >/dev/null || netns_skip "no ip command (iproute2)"
	local probe=stwprobe$$ out
	out=$(ip netns add "$probe" 2>&1) || netns_skip "ip netns add refused: $out"
	ip netns del "$probe" 2>/dev/null || true
}

# netns_setup NAME: a network namespace (steward-NAME-PID), a veth pair
# between it and the host with a free private /30 (host .1, namespace .2,
# lo up inside). Sets NETNS_HOST_ADDR (where a server on the host listens
# for the namespace to reach it) and NETNS_ADDR (the namespace's address),
# and NETNS_HOST[NAME], NETNS_PEER[NAME] for tests with several.
netns_setup() {
	local name=$1 ns vh vn lockfd b base host peer out
	[ -z "${NETNS_NS[$name]:-}" ] || fail "netns_setup $name: already set up"
	netns_require
	NETNS_COUNT=$((NETNS_COUNT + 1))
	ns=steward-$name-$$
	# interface names are at most 15 bytes: sw + pid (7 digits at most) + h/n + count
	vh=sw$$h$NETNS_COUNT
	vn=sw$$n$NETNS_COUNT
	# names with this PID can only be left from a test that had it before
	# and was killed before its cleanup ran: stale, ours to replace
	[ -e "/run/netns/$ns" ] && ip netns del "$ns" 2>/dev/null
	ip link del "$vh" 2>/dev/null || true
	out=$(ip netns add "$ns" 2>&1) || netns_skip "ip netns add $ns refused: $out"
	NETNS_NS[$name]=$ns
	# removal first, so that a failure half-way leaves nothing behind: the
	# processes still inside end (they are this test's), then the namespace
	# and the host end of the pair (which takes the other end with it)
	CLEANUPS+=("netns_remove '$name'")
	ip link add "$vh" type veth peer name "$vn" || fail "netns_setup $name: ip link add veth"
	NETNS_VETH_HOST[$name]=$vh
	NETNS_VETH_NS[$name]=$vn
	ip link set "$vn" netns "$ns" || fail "netns_setup $name: move $vn into $ns"
	# a free /30: start from the PID so that parallel tests start apart, take
	# the first block that no route on the host covers yet (our own /30s and
	# any real network), under a lock so two tests never pick the same one
	exec {lockfd}>"${TMPDIR:-/tmp}/steward-netns.lock"
	flock -w 30 "$lockfd" || fail "netns_setup $name: lock"
	for ((b = $$ % 16384, base = 0; base < 16384; base++, b = (b + 1) % 16384)); do
		host=$NETNS_NET.$((b * 4 / 256)).$((b * 4 % 256 + 1))
		peer=$NETNS_NET.$((b * 4 / 256)).$((b * 4 % 256 + 2))
		[ -z "$(ip -4 route show match "$host" | grep -v '^default')" ] && break
		host=""
	done
	[ -n "$host" ] || { flock -u "$lockfd"; fail "netns_setup $name: no free /30 in $NETNS_NET.0.0/16"; }
	ip addr add "$host/30" dev "$vh" && ip link set "$vh" up ||
		{ flock -u "$lockfd"; fail "netns_setup $name: address $host on $vh"; }
	flock -u "$lockfd"
	exec {lockfd}>&-
	ip netns exec "$ns" ip addr add "$peer/30" dev "$vn" &&
		ip netns exec "$ns" ip link set "$vn" up &&
		ip netns exec "$ns" ip link set lo up || fail "netns_setup $name: addresses inside $ns"
	NETNS_HOST[$name]=$host
	NETNS_PEER[$name]=$peer
	NETNS_HOST_ADDR=$host
	NETNS_ADDR=$peer
	export NETNS_HOST_ADDR NETNS_ADDR
	# the link is up when the namespace reaches the host (no ping here: bash)
	local i
	for i in $(seq 1 50); do
		ip netns exec "$ns" ip -4 route get "$host" >/dev/null 2>&1 &&
			[ "$(ip -br link show "$vh" | awk '{print $2}')" != DOWN ] && return 0
		sleep 0.1
	done
	fail "netns_setup $name: the veth pair did not come up"
}

# netns_exec NAME COMMAND...: runs COMMAND inside the namespace, in the
# foreground (netns_exec ... & would leave $! the PID of a subshell)
netns_exec() {
	local name=$1
	shift
	[ -n "${NETNS_NS[$name]:-}" ] || fail "netns_exec: no namespace $name"
	ip netns exec "${NETNS_NS[$name]}" "$@"
}

# netns_spawn NAME COMMAND...: starts COMMAND inside the namespace in the
# background; NETNS_PID is its PID (ip netns exec execs it), in PIDS so
# cleanup stops it. Redirect its output as with any process:
#   netns_spawn cl "$BIN/steward-agent" ... >>"$T/agent.log" 2>&1
netns_spawn() {
	local name=$1
	shift
	[ -n "${NETNS_NS[$name]:-}" ] || fail "netns_spawn: no namespace $name"
	ip netns exec "${NETNS_NS[$name]}" "$@" &
	NETNS_PID=$!
	PIDS+=("$NETNS_PID")
}

# netns_rate NAME KBIT | off: a tc tbf on both ends of the pair, so both
# directions are held to KBIT kbit/s: the host end's egress is the traffic
# toward the namespace (downloads of a client inside), the namespace end's
# egress the traffic from it (requests, uploads). "off" removes both.
#
# burst: the bucket, the bytes that may leave at line speed after a pause;
#   20 ms worth of the rate, but at least 2 full 1514-byte frames (tbf drops
#   a packet larger than its bucket) so 512 kbit/s gets 3028 bytes and a
#   transfer of a few hundred KB runs at the rate within 1%.
# latency: how long a packet may wait in the queue before tbf drops it,
#   which sizes the queue (rate × latency + burst). 100 ms keeps TCP's
#   window from piling up seconds of delay (a modem's bufferbloat is not
#   what the tests are after) while a queue of a few packets lets TCP run
#   at the rate without a drop per round trip.
netns_rate() {
	local name=$1 kbit=$2 ns vh vn burst out
	ns=${NETNS_NS[$name]:-}
	[ -n "$ns" ] || fail "netns_rate: no namespace $name"
	vh=${NETNS_VETH_HOST[$name]}
	vn=${NETNS_VETH_NS[$name]}
	if [ "$kbit" = off ]; then
		tc qdisc del dev "$vh" root 2>/dev/null || true
		ip netns exec "$ns" tc qdisc del dev "$vn" root 2>/dev/null || true
		return 0
	fi
	case $kbit in '' | *[!0-9]*) fail "netns_rate $name: '$kbit' is not a number of kbit/s or off" ;; esac
	command -v tc >/dev/null || netns_skip "no tc command (iproute2)"
	burst=$((kbit * 1000 / 8 / 50))
	[ "$burst" -ge 3028 ] || burst=3028
	out=$(tc qdisc replace dev "$vh" root tbf rate "${kbit}kbit" burst "$burst" latency 100ms 2>&1) ||
		netns_skip "tc tbf refused on $vh: $out"
	out=$(ip netns exec "$ns" tc qdisc replace dev "$vn" root tbf rate "${kbit}kbit" burst "$burst" \
		latency 100ms 2>&1) || netns_skip "tc tbf refused in $ns: $out"
}

# netns_remove NAME: what netns_setup made goes (cleanup calls it; a test
# may call it earlier). Processes still in the namespace are this test's.
netns_remove() {
	local name=$1 ns pid
	ns=${NETNS_NS[$name]:-}
	[ -n "$ns" ] || return 0
	if ip netns pids "$ns" >/dev/null 2>&1; then
		for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
	fi
	[ -n "${NETNS_VETH_HOST[$name]:-}" ] && ip link del "${NETNS_VETH_HOST[$name]}" 2>/dev/null
	ip netns del "$ns" 2>/dev/null || true
	unset "NETNS_NS[$name]"
	return 0
}

#!/usr/bin/env bash
# The guarantee of the compatibility matrix: a site hands a client an agent
# only if the client's distribution points speak its protocol too. A site
# server that speaks protocols 1-2 (a release built from this source) with
# a remote distribution point that speaks only 1: an agent release on
# protocol 2 is not offered to a client of that distribution point, and the
# client's status says why; without that distribution point the same client
# takes it.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")
build_release 1.5.0 site PROTO_MIN=1 PROTO_MAX=2
build_release 2.0.0 agent PROTO_MIN=2 PROTO_MAX=2
mkdir -p "$T/sbin" && tar --zstd -xOf "$T/out/steward-1.5.0.tar.zst" components/stewardd/bin/stewardd >"$T/sbin/stewardd"
chmod 755 "$T/sbin/stewardd"
pass "stewardd 1.5.0 (protocols 1-2) and agent 2.0.0 (protocol 2) built"

# the site server: stewardd 1.5.0
SITE_ARGS=(--enroll_auto_approve true --release_key "$PUB" --checkin_interval 60 --checkin_jitter 0)
REAL_BIN=$BIN
BIN=$T/sbin site_start s1 "${SITE_ARGS[@]}"
BIN=$REAL_BIN
S1_URL=$SITE_URL S1_DIR=$SITE_DIR S1_ADMIN=$ADMIN S1_PID=$SITE_PID
expect_eq "$(curl -fsS "$SITE_URL/health" | jq -r .version)" 1.5.0 "site version"

# a remote distribution point of this build (protocol 1 only)
site_start dp --roles distribution_point --upstream "$S1_URL" --upstream_token_file "$S1_ADMIN" \
	--dp_sync_interval 1s
DP_URL=$SITE_URL
SITE_URL=$S1_URL SITE_DIR=$S1_DIR ADMIN=$S1_ADMIN SITE_PID=$S1_PID
R=$("$BIN/steward-agent" --version | sed -n 's/.*protocol \([0-9]*-[0-9]*\).*/\1/p')
expect_eq "$R" 1-1 "this build's protocol"
for _ in $(seq 1 100); do
	ctl --json systems list | jq -e --arg u "$DP_URL" '.systems | map(select(.url == $u and .protocol == "1-1")) | length == 1' >/dev/null && break
	sleep 0.2
done
ctl --json systems list | jq -e --arg u "$DP_URL" '.systems | map(select(.url == $u and .protocol == "1-1")) | length == 1' >/dev/null ||
	fail "the DP is not listed with protocol 1-1: $(ctl --json systems list)"

# the site gives clients that DP
site_stop
BIN=$T/sbin site_restart "${SITE_ARGS[@]}" --distribution_point "$DP_URL"
BIN=$REAL_BIN

# an agent of this build, installed with its launcher
S=$T/stage
mkdir -p "$S/steward-agent/bin" "$S/steward-launcher/bin"
cp "$BIN/steward-agent" "$S/steward-agent/bin/" && cp "$BIN/steward-launcher" "$S/steward-launcher/bin/"
V=$("$BIN/steward-agent" --version | awk '{print $2}')
printf 'steward-agent base %s 1-1\nsteward-launcher launcher %s 1-1\n' "$V" "$V" >"$S/components"
"$CTL" releases build --version "$V" --key "$T/rk" --stage "$S" --out "$T/r0.tar.zst" >/dev/null || fail "build $V"
ctl releases import "$T/r0.tar.zst" >/dev/null 2>&1 || fail "import $V"
curl -fsS "$SITE_URL/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$T/a1" --token "$(new_token)" >"$T/boot.out" 2>&1 ||
	fail "bootstrap: $(cat "$T/boot.out")"
PIDS+=("$(cat "$T/a1/agent.pid")")
ID=$(jq -r .client_id "$T/a1/state/state.json")
poke() { kill -USR1 "$(cat "$T/a1/agent.pid")" 2>/dev/null || true; }
until_poked() { # SECONDS CMD...
	local secs=$1
	shift
	for _ in $(seq 1 $((secs / 2))); do
		"$@" && return 0
		poke
		sleep 2
	done
	"$@"
}

# ---- 2.0.0 is not offered: the client's DP speaks only 1 ----------------------------------
ctl releases import "$T/out/steward-2.0.0.tar.zst" >/dev/null 2>&1 || fail "import 2.0.0"
ctl site client-upgrade --collection "All Clients" >/dev/null || fail "client-upgrade"
why() { ctl clients show "$ID" | grep -q "upgrade_not_offered  its distribution point $DP_URL speaks protocol 1-1; agent 2.0.0 speaks 2-2"; }
until_poked 40 why || fail "no upgrade_not_offered naming the DP: $(ctl clients show "$ID")"
expect_eq "$(ctl --json clients show "$ID" | jq -r .agent_version)" "$V" "agent version next to the DP"
pass "agent 2.0.0 (protocol 2) is not offered to a client whose distribution point speaks 1-1; its status says why"

# ---- without that DP the same client takes it -------------------------------------------
site_stop
BIN=$T/sbin site_restart "${SITE_ARGS[@]}"
BIN=$REAL_BIN
at2() { [ "$(ctl --json clients show "$ID" | jq -r .agent_version)" = 2.0.0 ]; }
until_poked 60 at2 || fail "the client did not take 2.0.0: $(tail -n 20 "$T/a1/log/agent.log")"
pass "with no distribution point of protocol 1 in its way, the client takes agent 2.0.0"

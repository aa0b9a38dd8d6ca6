#!/usr/bin/env bash
# Link classes with real processes on an emulated link (docs/slow-links.md):
#  - an agent under steward-launcher in a network namespace, behind a veth
#    pair held to 56 kbit/s by tc tbf and 300 ms of round trip from
#    steward-linkproxy: it measures its link (a small probe), the site calls
#    it slow, and a rollout whose link policy defers slow links offers it
#    nothing: the distribution point serves it no byte, the rollout's client
#    list and the client say "deferred: slow link (measured N kbit/s)", and
#    an advertisement with the default policy waits the same way;
#  - moved to a LAN link (no rate limit, no delay), it measures again at its
#    next check-in, runs the advertisement and upgrades to the rollout's
#    release;
#  - an agent that says its link is metered (--metered) with an
#    advertisement marked never for metered links downloads nothing and its
#    status says why; bad link policies are refused naming the field.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")
netns_setup cl

# the release the rollout offers: compiled, so that it is a real 9.9.0
build_release 9.9.0 agent &
BUILD=$!
PIDS+=("$BUILD")

# ---- the site behind a link proxy on the host end of the pair ---------------------------
# Both listen on the host end of the pair, not on loopback: a client the
# site sees arriving over loopback is on the site's own machine, and lan
free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('$NETNS_HOST_ADDR',0)); print(s.getsockname()[1])"; }
SP=$(free_port)
: >"$T/lp.out" # before the proxy opens it: head below may run first
"$BIN/steward-linkproxy" --listen "$NETNS_HOST_ADDR:0" --control 127.0.0.1:0 --to "$NETNS_HOST_ADDR:$SP" \
	--max-seconds 900 >"$T/lp.out" 2>"$T/lp.log" &
PIDS+=("$!")
for _ in $(seq 1 50); do
	LINE=$(head -n 1 "$T/lp.out")
	[ -n "$LINE" ] && break
	sleep 0.1
done
LP_PORT=$(echo "$LINE" | sed -n 's/.* listen=[0-9.]*:\([0-9]*\) .*/\1/p')
LP_CTL=$(echo "$LINE" | sed -n 's/.* control=\(127\.0\.0\.1:[0-9]*\) .*/\1/p')
[ -n "$LP_PORT" ] && [ -n "$LP_CTL" ] || fail "steward-linkproxy: no ports in '$LINE' $(cat "$T/lp.log")"
lp() { "$BIN/steward-linkproxy" --ctl "$LP_CTL" "$@" >/dev/null || fail "linkproxy $*"; }
PUBLIC=https://$NETNS_HOST_ADDR:$LP_PORT

SITE_LISTEN=$NETNS_HOST_ADDR site_start s1 --listen "$NETNS_HOST_ADDR:$SP" --public_url "$PUBLIC" --tls_name "$NETNS_HOST_ADDR" \
	--enroll_auto_approve true --release_key "$PUB" --checkin_interval 60 --checkin_jitter 0 \
	--client_link_probe_interval 10 --client_link_probe_retry 10 --client_link_probe_bytes 16384 \
	--rollout_offers_per_minute 0 --rollout_dp_offers_per_minute 0
stage_release "$T/rk" "$T/base.tar.zst"
ctl releases import "$T/base.tar.zst" >"$T/import.out" 2>&1 || fail "import base: $(cat "$T/import.out")"
BASE=$(build_version)
tok=$(new_token 5)

# ---- bad link policies ------------------------------------------------------------------
refused() { # WHAT TEXT ARGS...
	local what=$1 text=$2
	shift 2
	if ctl "$@" >"$T/bad.out" 2>&1; then fail "$what accepted"; fi
	grep -q -- "$text" "$T/bad.out" || fail "$what: no '$text' in: $(cat "$T/bad.out")"
}
mkdir -p "$T/pkg"
printf '#!/bin/sh\necho hello from a fast link\n' >"$T/pkg/hello.sh"
head -c 300000 /dev/urandom >"$T/pkg/payload.bin"
ctl packages add hello --version 1 --source "$T/pkg" >/dev/null || fail "packages add"
ctl programs add hello --package hello --command "sh hello.sh" >/dev/null || fail "programs add"
refused "an unknown class" "unknown link class 'modem'" adverts create bad --program hello \
	--collection "All Clients" --links modem=defer
refused "an unknown action" "unknown action 'later' for slow links" adverts create bad \
	--program hello --collection "All Clients" --links slow=later
refused "a rollout's bad policy" "field 'links'" rollouts create bad --release "$BASE" \
	--collection "All Clients" --links slow
pass "bad link policies refused, each naming what is wrong"

# ---- an agent in the namespace, installed at full speed ------------------------------
netns_exec cl sh -c "curl -fsS '$PUBLIC/bootstrap.sh' | sh -s -- --release-key '$PUB' \
	--prefix '$T/a1' --token '$tok'" >"$T/boot.out" 2>&1 || fail "bootstrap: $(cat "$T/boot.out")"
PIDS+=("$(cat "$T/a1/agent.pid")")
ID=$(jq -r .client_id "$T/a1/state/state.json")
poke() { kill -USR1 "$(cat "$T/a1/agent.pid")" 2>/dev/null || true; }
# until_poked SECONDS CMD...: poke the agent every 2 s until CMD holds
until_poked() {
	local secs=$1
	shift
	for _ in $(seq 1 $((secs / 2))); do
		"$@" && return 0
		poke
		sleep 2
	done
	"$@"
}
link_of() { ctl --json clients show "$ID" | jq -r '.link.class // "none"'; }
# is WHAT VALUE: evaluated afresh at every poke
is() { test "$("$1")" = "$2"; }
until_poked 30 is link_of lan || fail "the agent's first measurement: $(ctl clients show "$ID")"
pass "agent $BASE in namespace ${NETNS_NS[cl]} enrolled; its first probe says lan"

# ---- the link becomes a modem: 56 kbit/s, 300 ms round trip ------------------------------
netns_rate cl 56
lp delay 150
wait "$BUILD" || fail "the 9.9.0 release did not build: $(tail -n 20 "$T/release-9.9.0.log")"
ctl releases import "$T/out/steward-9.9.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 9.9.0: $(cat "$T/import.out")"
sleep 10 # the measurement is older than client_link_probe_interval now
until_poked 90 is link_of slow || fail "never classified slow: $(ctl clients show "$ID")"
ctl clients show "$ID" >"$T/show.out"
grep -E "^Link: +slow link \(measured [0-9]+ kbit/s\), round trip [0-9]+ ms" "$T/show.out" >/dev/null ||
	fail "clients show: $(grep Link "$T/show.out")"
KBPS=$(ctl --json clients show "$ID" | jq -r .link.kbps)
RTT=$(ctl --json clients show "$ID" | jq -r .link.rtt_ms)
[ "$KBPS" -ge 20 ] && [ "$KBPS" -le 80 ] || fail "measured $KBPS kbit/s behind 56 kbit/s"
[ "$RTT" -ge 250 ] || fail "measured a round trip of $RTT ms behind 300 ms"
pass "behind 56 kbit/s and 300 ms the site calls it slow: $(grep Link "$T/show.out" | sed 's/  */ /g')"

# what the slow client is offered now: an advertisement with the default
# link policy, and a rollout that says so explicitly
ctl collections create branch --members "$ID" >/dev/null || fail "collections create"
ctl adverts create hello --program hello --collection branch >/dev/null || fail "adverts create"
ctl rollouts create r1 --release 9.9.0 --collection branch --links slow=defer,metered=never \
	--soak 0 --gate 90 >"$T/create.out" || fail "rollouts create: $(cat "$T/create.out")"
grep -q "links:   lan=download,wan=download,slow=defer,metered=never" "$T/create.out" ||
	fail "rollouts create: $(cat "$T/create.out")"
ctl rollouts start r1 >/dev/null || fail "rollouts start"
member() { ctl --json rollouts clients r1 | jq -r --arg id "$ID" ".clients[] | select(.id == \$id) | .$1"; }
member_state() { member state; }
until_poked 60 is member_state deferred || fail "rollout member: $(ctl --json rollouts clients r1)"
REASON=$(member reason)
echo "$REASON" | grep -Eq "^deferred: slow link \(measured [0-9]+ kbit/s\)$" || fail "member reason: $REASON"
ctl rollouts status r1 >"$T/status.out"
grep -q "1 client(s) held for their link" "$T/status.out" || fail "rollouts status: $(cat "$T/status.out")"
advert_detail() { ctl --json status advert hello | jq -r --arg id "$ID" '.clients[] | select(.id == $id) | "\(.state) \(.detail)"'; }
until_poked 30 sh -c "ctl_out=\$('$CTL' -s '$SITE_URL' -t '$ADMIN' --json status advert hello); echo \"\$ctl_out\" | grep -q 'deferred: slow link (measured'" ||
	fail "advert status: $(advert_detail)"
advert_detail | grep -Eq "^waiting deferred: slow link \(measured [0-9]+ kbit/s\): waits for a faster link$" ||
	fail "advert status: $(advert_detail)"
# a few more check-ins on the slow link: still nothing
for _ in 1 2 3; do
	poke
	sleep 3
done
expect_eq "$(grep -c "download .*client=$ID" "$T/s1.log")" 0 "downloads by the deferred client"
expect_eq "$(readlink "$T/a1/current")" slots/A "the agent's slot while deferred"
pass "deferred on the slow link: no byte from the distribution point; rollout and advert say '$REASON'"

# ---- back on the LAN -----------------------------------------------------------------------------
netns_rate cl off
lp pass
sleep 10 # the next probe is due (client_link_probe_retry)
version_of() { ctl --json clients show "$ID" | jq -r .agent_version; }
until_poked 120 is version_of 9.9.0 ||
	fail "no upgrade on the LAN: link $(link_of), member $(member state) $(member reason); $(tail -n 20 "$T/a1/agent.log" 2>/dev/null)"
expect_eq "$(link_of)" lan "the link class on the LAN"
[ "$(grep -c "download .*client=$ID" "$T/s1.log")" -gt 0 ] || fail "no download logged for the client"
until_poked 60 sh -c "'$CTL' -s '$SITE_URL' -t '$ADMIN' --json status advert hello | grep -q '\"succeeded\"'" ||
	fail "advert on the LAN: $(advert_detail)"
pass "on the LAN it measured again at its next check-in, ran the advertisement and upgraded to 9.9.0"

# ---- a metered client and an advertisement that never downloads on metered links ---------------
"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/m1" --enroll-token "$tok" --once --metered \
	--timeout 60 >"$T/m1.log" 2>&1 || fail "metered agent: $(tail -n 5 "$T/m1.log")"
MID=$(jq -r .client_id "$T/m1/state.json")
ctl collections create metered --members "$MID" >/dev/null || fail "collections create metered"
ctl adverts create hello-m --program hello --collection metered --links metered=never >/dev/null ||
	fail "adverts create hello-m"
"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/m1" --once --metered --timeout 60 \
	>>"$T/m1.log" 2>&1 || fail "metered agent: $(tail -n 5 "$T/m1.log")"
expect_eq "$(ctl --json clients show "$MID" | jq -r .link.class)" metered "the metered client's class"
D=$(ctl --json status advert hello-m | jq -r --arg id "$MID" '.clients[] | select(.id == $id) | "\(.state) \(.detail)"')
expect_eq "$D" "waiting not downloaded: metered link (reported by the agent): never on metered links" \
	"the metered client's status"
expect_eq "$(grep -c "download .*client=$MID" "$T/s1.log")" 0 "downloads by the metered client"
pass "a metered client downloads nothing for an advertisement that never runs on metered links: $D"

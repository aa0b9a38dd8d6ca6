#!/usr/bin/env bash
# Agents upgrade themselves through the launcher, with real releases built
# from this source (scripts/release.sh, agent and launcher only):
#   1.0.0 -> 1.1.0 on three agents installed by bootstrap.sh, one of whose
#   launchers is killed -9 in the middle of the switch;
#   1.1.1, built with a base component that exits at start, rolls back
#   automatically on every agent, and clients show says so;
#   1.1.5 moves only the optional inventory component, the base stays;
#   2.0.0 (protocol 2) is not offered by a site that speaks protocol 1, and
#   its agent is refused with version_incompatible at once;
#   2.1.0, which upgrades agents only from 1.2.0 on, is not offered to the
#   1.1.0 agents, and their status says why.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")

build_release 1.0.0 agent
build_release 1.1.0 agent
build_release 1.1.1 agent RELEASE_CMAKE_ARGS=-DSTEWARD_TEST_AGENT_FAILS_AT_START=ON
build_release 2.0.0 agent PROTO_MIN=2 PROTO_MAX=2
build_release 2.1.0 agent UPGRADE_FROM=1.2.0
build_release 1.1.5 agent
pass "test releases 1.0.0, 1.1.0, 1.1.1 (fails at start), 2.0.0 (protocol 2), 2.1.0 (from 1.2.0 on) and 1.1.5 built"

# release_halt_failures 0: the site never stops offering a release that
# failed, so that the agents' own refusal to take one again is what is
# checked here (test_bad_release.sh covers the halt)
site_start s1 --enroll_auto_approve true --release_key "$PUB" --checkin_interval 60 \
	--checkin_jitter 0 --release_halt_failures 0
ctl releases import "$T/out/steward-1.0.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 1.0.0: $(cat "$T/import.out")"
tok=$(new_token 10)

# ---- three agents of 1.0.0, each under its launcher -------------------------------
AGENTS=(a1 a2 a3)
declare -A ID
for a in "${AGENTS[@]}"; do
	rc=0
	curl -fsS "$SITE_URL/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$T/$a" --token "$tok" >"$T/boot-$a.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] || fail "bootstrap $a: $(cat "$T/boot-$a.out")"
	PIDS+=("$(cat "$T/$a/agent.pid")")
	ID[$a]=$(jq -r .client_id "$T/$a/state/state.json")
done
version_of() { ctl --json clients show "${ID[$1]}" | jq -r .agent_version; }
messages_of() { ctl clients show "${ID[$1]}"; }
poke() { kill -USR1 "$(cat "$T/$1/agent.pid")" 2>/dev/null || true; }
# until_poked AGENT SECONDS CMD...: poke the agent every 2 s until CMD holds
until_poked() {
	local a=$1 secs=$2
	shift 2
	for _ in $(seq 1 $((secs / 2))); do
		"$@" && return 0
		poke "$a"
		sleep 2
	done
	"$@"
}
for a in "${AGENTS[@]}"; do
	expect_eq "$(version_of "$a")" 1.0.0 "version of $a"
	expect_eq "$(readlink "$T/$a/current")" slots/A "current of $a"
done
pass "three agents of 1.0.0 installed under steward-launcher"

# ---- 1.0.0 -> 1.1.0, with a kill -9 of one launcher mid-switch ------------------------
ctl releases import "$T/out/steward-1.1.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 1.1.0: $(cat "$T/import.out")"
ctl site client-upgrade --collection "All Clients" >"$T/cu.out" || fail "client-upgrade: $(cat "$T/cu.out")"
# a3: kill its launcher -9 as soon as the trial is recorded
(
	for _ in $(seq 1 1500); do
		if [ -e "$T/a3/launcher.state" ]; then
			kill -KILL "$(cat "$T/a3/agent.pid")" && echo killed >"$T/killed"
			exit 0
		fi
		sleep 0.02
	done
) &
killer=$!
PIDS+=("$killer")
for a in "${AGENTS[@]}"; do poke "$a"; done
at_version() { [ "$(version_of "$1")" = "$2" ]; }
until_poked a1 60 at_version a1 1.1.0 || fail "a1 did not reach 1.1.0: $(tail -n 30 "$T/a1/log/agent.log")"
until_poked a2 60 at_version a2 1.1.0 || fail "a2 did not reach 1.1.0: $(tail -n 30 "$T/a2/log/agent.log")"
wait "$killer" || true
[ -f "$T/killed" ] || fail "the kill -9 did not land during a3's switch: $(tail -n 30 "$T/a3/log/agent.log")"
# the machine's next logon (or boot) starts it again
rc=0
curl -fsS "$SITE_URL/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$T/a3" >"$T/boot-a3.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "restart of a3: $(cat "$T/boot-a3.out")"
PIDS+=("$(cat "$T/a3/agent.pid")")
until_poked a3 60 at_version a3 1.1.0 || fail "a3 did not reach 1.1.0 after the kill: $(tail -n 30 "$T/a3/log/agent.log")"
grep -q "trial_resumed version=1.1.0" "$T/a3/log/agent.log" || fail "a3's launcher did not resume the trial"
for a in "${AGENTS[@]}"; do
	for _ in $(seq 1 50); do [ ! -e "$T/$a/launcher.state" ] && break; sleep 0.1; done
	expect_eq "$(readlink "$T/$a/current")" slots/B "current of $a after 1.1.0"
	"$T/$a/current/bin/steward-agent" --version | grep -q "^steward-agent 1.1.0 " || fail "slot B of $a"
	reported() { messages_of "$1" | grep -q "upgrade_succeeded  now running 1.1.0 (slot B)"; }
	until_poked "$a" 30 reported "$a" || fail "$a did not report upgrade_succeeded: $(messages_of "$a")"
done
pass "1.0.0 -> 1.1.0 on three agents; a kill -9 of a launcher mid-switch is resumed at its next start"

# ---- 1.1.1 fails at start: every agent rolls back to 1.1.0 -----------------------------
ctl releases import "$T/out/steward-1.1.1.tar.zst" >"$T/import.out" 2>&1 || fail "import 1.1.1: $(cat "$T/import.out")"
expect_eq "$(ctl --json site show | jq -r .installs.release)" 1.1.1 "release offered"
rolled() { messages_of "$1" | grep -q "upgrade_failed_rolled_back  upgrade to 1.1.1 failed and was rolled back to 1.1.0: the new agent exited with status 1, 2 times"; }
for a in "${AGENTS[@]}"; do
	until_poked "$a" 90 rolled "$a" || fail "$a did not report the rollback: $(messages_of "$a"; tail -n 30 "$T/$a/log/agent.log")"
	expect_eq "$(version_of "$a")" 1.1.0 "version of $a after the rollback"
	expect_eq "$(readlink "$T/$a/current")" slots/B "current of $a after the rollback"
	expect_eq "$(cat "$T/$a/upgrade.failed")" 1.1.1 "upgrade.failed of $a"
done
# offered again, it is not taken again
poke a1
sleep 2
poke a1
for _ in $(seq 1 50); do grep -q "upgrade_not_taken version=1.1.1" "$T/a1/log/agent.log" && break; sleep 0.1; done
grep -q 'upgrade_not_taken version=1.1.1 reason="it failed here before and was rolled back"' "$T/a1/log/agent.log" ||
	fail "a1 took 1.1.1 again: $(tail -n 20 "$T/a1/log/agent.log")"
pass "1.1.1 rolled back automatically on every agent; clients show reports upgrade_failed_rolled_back"

# ---- 1.1.5 changes only the optional inventory component --------------------------------
# its base and launcher are 1.1.0's, its inventory component 1.1.5's
S=$T/stage-1.1.5
mkdir -p "$T/x110" "$T/x115" "$S/steward-agent/bin" "$S/steward-launcher/bin" "$S/inventory/bin"
tar --zstd -xf "$T/out/steward-1.1.0.tar.zst" -C "$T/x110"
tar --zstd -xf "$T/out/steward-1.1.5.tar.zst" -C "$T/x115"
cp "$T/x110/components/steward-agent/bin/steward-agent" "$S/steward-agent/bin/"
cp "$T/x110/components/steward-launcher/bin/steward-launcher" "$S/steward-launcher/bin/"
cp "$T/x115/components/inventory/bin/steward-inventory" "$S/inventory/bin/"
printf 'steward-agent base 1.1.0 1-1\nsteward-launcher launcher 1.1.0 1-1\ninventory optional 1.1.5 1-1 1.1.0\n' >"$S/components"
rm -f "$T/out/steward-1.1.5.tar.zst"
"$CTL" releases build --version 1.1.5 --key "$T/rk" --stage "$S" --out "$T/out/steward-1.1.5.tar.zst" \
	>"$T/build-115.out" 2>&1 || fail "build 1.1.5: $(cat "$T/build-115.out")"
ctl releases import "$T/out/steward-1.1.5.tar.zst" >"$T/import.out" 2>&1 || fail "import 1.1.5: $(cat "$T/import.out")"
comp_of() { ctl --json clients show "${ID[$1]}" | jq -r --arg n "$2" '.components[] | select(.name == $n) | .version'; }
expect_eq "$(comp_of a1 inventory)" 1.1.0 "inventory component of a1 before"
inv115() { [ "$(comp_of a1 inventory)" = 1.1.5 ]; }
until_poked a1 60 inv115 || fail "a1's inventory did not reach 1.1.5: $(tail -n 30 "$T/a1/log/agent.log")"
expect_eq "$(version_of a1)" 1.1.0 "base of a1 after the inventory upgrade"
expect_eq "$(readlink "$T/a1/current")" slots/A "current of a1 after the inventory upgrade"
"$T/a1/current/bin/steward-inventory" --version | grep -q "^steward-inventory 1.1.5 " || fail "slot A's inventory"
"$T/a1/current/bin/steward-agent" --version | grep -q "^steward-agent 1.1.0 " || fail "slot A's base"
ctl inventory show "${ID[a1]}" >/dev/null || fail "no inventory from the 1.1.5 component"
pass "1.1.5 moved only the optional inventory component (1.1.0 -> 1.1.5); the base stays 1.1.0"

# ---- 2.0.0 speaks protocol 2: not offered; its agent is refused at once --------------------
ctl releases import "$T/out/steward-2.0.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 2.0.0: $(cat "$T/import.out")"
expect_eq "$(ctl --json site show | jq -r .installs.release)" 1.1.5 "release offered next to 2.0.0"
poke a2
sleep 2
! grep -q "version=2.0.0" "$T/a2/log/agent.log" || fail "a2 was offered 2.0.0: $(grep 2.0.0 "$T/a2/log/agent.log")"
mkdir -p "$T/x2" && tar --zstd -xf "$T/out/steward-2.0.0.tar.zst" -C "$T/x2"
start=$(date +%s)
rc=0
"$T/x2/components/steward-agent/bin/steward-agent" --server "$SITE_URL" --state-dir "$T/v2" \
	--enroll-token "$tok" --once --timeout 20 >"$T/v2.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of the 2.0.0 agent"
grep -q "version_incompatible" "$T/v2.out" || fail "2.0.0 agent: $(cat "$T/v2.out")"
[ $(($(date +%s) - start)) -lt 15 ] || fail "the refusal took $(($(date +%s) - start)) s"
pass "2.0.0 (protocol 2) is not offered to agents of a protocol-1 site, and its agent is refused with version_incompatible"

# ---- 2.1.0 takes agents from 1.2.0 on: the 1.1.0 agents are told why not ------------------
ctl releases import "$T/out/steward-2.1.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 2.1.0: $(cat "$T/import.out")"
expect_eq "$(ctl --json site show | jq -r .installs.release)" 2.1.0 "release offered"
why() { messages_of a2 | grep -q "upgrade_not_offered  release 2.1.0 upgrades agents from 1.2.0 on; 1.1.0 must first take a release in between"; }
until_poked a2 30 why || fail "a2's status does not say why: $(messages_of a2)"
expect_eq "$(version_of a2)" 1.1.0 "version of a2 next to 2.1.0"
pass "2.1.0 (from 1.2.0 on) is not offered to 1.1.0 agents; clients show says why"

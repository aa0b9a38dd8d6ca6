#!/usr/bin/env bash
# A bad newest release, as an administrator meets it:
#   - a new machine whose agent of the newest release fails its first start
#     ends with a working agent of the previous good release (the script
#     removes what it installed, tells the site, and falls back), and the
#     site stops installing the bad release on new machines;
#   - agents offered it roll back; once release_halt_failures machines
#     failed, the site offers it to no agent either ("halted");
#   - stewardctl releases withdraw stops every offer of it: agents that
#     rolled back stay where they are and are never offered it again;
#   - releases import FILE --rollback of a release the site already holds
#     offers it again instead of failing with release_exists.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")

# the good release: this build's agent and launcher, staged without compiling
GOOD=$(build_version)
stage_release "$T/rk" "$T/out/steward-$GOOD.tar.zst"
# the bad one: its agent exits at start
BAD=9.2.0
build_release "$BAD" agent RELEASE_CMAKE_ARGS=-DSTEWARD_TEST_AGENT_FAILS_AT_START=ON

# three machines that fail halt the offer to agents (here: one install and
# two upgrades); one is enough to stop installs on new machines
site_start s1 --enroll_auto_approve true --release_key "$PUB" --checkin_interval 60 \
	--checkin_jitter 0 --release_halt_failures 3
ctl releases import "$T/out/steward-$GOOD.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
tok=$(new_token 20)

boot() { # boot NAME [args]: output in $T/boot-NAME.out, status in $rc
	local name=$1
	shift
	rc=0
	curl -fsS "$SITE_URL/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$T/$name" "$@" >"$T/boot-$name.out" 2>&1 || rc=$?
	[ "$rc" != 0 ] || wait_for 10 "the launcher of $name" test -s "$T/$name/launcher.pid"
}
launcher_of() { cat "$T/$1/launcher.pid"; }
poke() { kill -USR1 "$(launcher_of "$1")" 2>/dev/null || true; }
installs() { ctl --json site show | jq -r ".installs.$1"; }
rel() { ctl --json releases show "$1" | jq -r ".$2"; }
version_of() { ctl --json clients show "$(jq -r .client_id "$T/$1/state/state.json")" | jq -r .agent_version; }

boot a1 --token "$tok"
[ "$rc" = 0 ] || fail "bootstrap a1: $(cat "$T/boot-a1.out")"
PIDS+=("$(launcher_of a1)")
ctl releases import "$T/out/steward-$BAD.tar.zst" >"$T/import.out" 2>&1 || fail "import $BAD: $(cat "$T/import.out")"
expect_eq "$(installs release)" "$BAD" "release new machines get before anything failed"

# ---- a new machine: the bad agent fails its first start, the script falls back ----------
boot n1 --token "$tok"
[ "$rc" = 0 ] || fail "bootstrap n1 did not fall back: $(cat "$T/boot-n1.out")"
PIDS+=("$(launcher_of n1)")
grep -q "the agent of release $BAD failed its first start" "$T/boot-n1.out" || fail "n1: $(cat "$T/boot-n1.out")"
grep -q "installed release $GOOD instead of $BAD" "$T/boot-n1.out" || fail "n1: $(cat "$T/boot-n1.out")"
"$T/n1/current/bin/steward-agent" --version | grep -q "^steward-agent $GOOD " || fail "n1 runs $("$T/n1/current/bin/steward-agent" --version)"
expect_eq "$(version_of n1)" "$GOOD" "version the site has for n1"
[ -z "$(ls -d "$T"/n1/slots/.stage.* 2>/dev/null)" ] || fail "n1 kept a stage"
expect_eq "$(rel "$BAD" failed)" 1 "failures of $BAD after the failed install"
ctl --json releases show "$BAD" | jq -e '.outcomes | map(select(.outcome == "install_failed")) | length == 1' >/dev/null ||
	fail "no install_failed outcome: $(ctl --json releases show "$BAD" | jq .outcomes)"
expect_eq "$(installs release)" "$GOOD" "release new machines get after a failed install"
expect_eq "$(installs upgrade_release)" "$BAD" "release offered to agents after one failure (halt at 3)"
pass "a new machine whose agent of $BAD fails its first start ends with a working $GOOD, and new machines stop getting $BAD"

# a machine where the site cannot be told: a clear error, nothing installed
# (the fallback run itself refuses the same release again)
curl -fsS "$SITE_URL/bootstrap.sh" >"$T/script-now.sh"
rc=0
sh "$T/script-now.sh" --release-key "$PUB" --prefix "$T/n0" --token "$tok" --failed-release "$GOOD" >"$T/boot-n0.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of a fallback offered the release that failed"
grep -q "the site still offers release $GOOD, whose agent failed its first start here" "$T/boot-n0.out" ||
	fail "n0: $(cat "$T/boot-n0.out")"
[ ! -e "$T/n0" ] || fail "the refused fallback created $T/n0"

# ---- agents offered the bad release roll back; the third failure halts it --------------
ctl site client-upgrade --collection "All Clients" >"$T/cu.out" || fail "client-upgrade: $(cat "$T/cu.out")"
rolled() {
	poke "$1"
	[ -e "$T/$1/upgrade.failed" ] && [ ! -e "$T/$1/launcher.state" ] &&
		ctl clients show "$(jq -r .client_id "$T/$1/state/state.json")" | grep -q "upgrade_failed_rolled_back  upgrade to $BAD failed"
}
wait_for 120 "a1 to roll back from $BAD" rolled a1
wait_for 120 "n1 to roll back from $BAD" rolled n1
for m in a1 n1; do
	expect_eq "$(version_of "$m")" "$GOOD" "version of $m after the rollback"
	expect_eq "$(cat "$T/$m/upgrade.failed")" "$BAD" "upgrade.failed of $m"
done
halted() { [ "$(rel "$BAD" state)" = halted ]; }
wait_for 20 "$BAD to be halted" halted
expect_eq "$(rel "$BAD" failed)" 3 "failures of $BAD (one install, two rollbacks)"
expect_eq "$(installs upgrade_release)" "$GOOD" "release offered to agents once $BAD is halted"
ctl releases list >"$T/list.out"
grep -qE "^$BAD +(yes +)?halted " "$T/list.out" || fail "releases list: $(cat "$T/list.out")"
boot n2 --token "$tok"
[ "$rc" = 0 ] || fail "bootstrap n2: $(cat "$T/boot-n2.out")"
PIDS+=("$(launcher_of n2)")
! grep -q "failed its first start" "$T/boot-n2.out" || fail "n2 was given $BAD: $(cat "$T/boot-n2.out")"
"$T/n2/current/bin/steward-agent" --version | grep -q "^steward-agent $GOOD " || fail "n2 does not run $GOOD"
pass "agents roll back from $BAD; after release_halt_failures machines it is offered to no agent, and new machines get $GOOD at once"

# ---- reinstate offers it again; withdraw stops every offer -------------------------------
ctl releases reinstate "$BAD" --reason "try once more" >"$T/reinstate.out" || fail "reinstate: $(cat "$T/reinstate.out")"
expect_eq "$(rel "$BAD" state)" good "state after reinstate"
expect_eq "$(rel "$BAD" failed)" 0 "failures counted after reinstate"
expect_eq "$(installs upgrade_release)" "$BAD" "release offered to agents after reinstate"
ctl releases withdraw "$BAD" --reason "its agent fails at start" >"$T/withdraw.out" ||
	fail "withdraw: $(cat "$T/withdraw.out")"
grep -q "release $BAD withdrawn" "$T/withdraw.out" || fail "withdraw: $(cat "$T/withdraw.out")"
expect_eq "$(rel "$BAD" state)" withdrawn "state after withdraw"
expect_eq "$(installs upgrade_release)" "$GOOD" "release offered to agents after withdraw"
expect_eq "$(installs release)" "$GOOD" "release new machines get after withdraw"
offered_before=$(installs upgrades_offered)
for _ in 1 2 3; do
	for m in a1 n1 n2; do poke "$m"; done
	sleep 2
done
expect_eq "$(installs upgrades_offered)" "$offered_before" "upgrade offers sent after the withdraw"
for m in a1 n1 n2; do
	expect_eq "$(version_of "$m")" "$GOOD" "version of $m after the withdraw"
	expect_eq "$(readlink "$T/$m/current")" slots/A "current of $m after the withdraw"
done
pass "releases withdraw $BAD: no agent is offered it, those that rolled back stay on $GOOD"

# ---- the documented way back: import --rollback of a release the site holds ---------------
ctl releases import "$T/out/steward-$GOOD.tar.zst" --rollback >"$T/rb.out" 2>&1 ||
	fail "import --rollback of a held release: $(cat "$T/rb.out")"
expect_eq "$(rel "$GOOD" rollback)" true "rollback flag of $GOOD"
rc=0
ctl releases import "$T/out/steward-$GOOD.tar.zst" >"$T/again.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of importing a held release again"
grep -q "release_exists" "$T/again.out" && grep -q "releases withdraw" "$T/again.out" ||
	fail "import again: $(cat "$T/again.out")"
rc=0
ctl releases withdraw 7.7.7 >"$T/w404.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of withdrawing a release the site does not hold"
grep -q "release_not_found" "$T/w404.out" || fail "withdraw 7.7.7: $(cat "$T/w404.out")"
pass "releases import --rollback offers a held release again; importing it plainly names releases withdraw"

#!/usr/bin/env bash
# Release keys end to end (docs/security.md): what runs is
# what a release key the machine trusts signed, not only what the site says.
#   - bootstrap.sh without a pinned key refuses and installs nothing;
#   - an agent learns its release keys at enrollment and refuses, keeping
#     its slot and telling the site why (clients show):
#       a release signed by a key the site trusts but the agent does not
#       (release_key_untrusted), one whose signed expiry has passed while
#       the site's database says otherwise (release_expired; bootstrap.sh
#       refuses to install it too), and an older
#       one imported with --rollback but without the release key's
#       authorization (release_older); with the authorization
#       (releases rollback-sign) it takes the older release;
#   - a new key endorsed by a trusted one (releases endorse-key,
#     release_key_endorsement) reaches the agent;
#   - stewardctl self-update without a pinned key, with a release signed by
#     a key it does not trust, and with an expired release: refused, the
#     binary unchanged (cmp).
# Releases are staged from this build's binaries (no compiling): the agent
# refuses before it downloads anything, so their contents never run.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
"$CTL" releases keygen --out "$T/rk2" >/dev/null || fail "keygen 2"
PUB=$(cat "$T/rk.pub")
PUB2=$(cat "$T/rk2.pub")
GOOD=$(build_version)
R=$("$BIN/steward-agent" --version | sed -n 's/.*protocol \([0-9]*-[0-9]*\).*/\1/p')
stage_release "$T/rk" "$T/out/steward-$GOOD.tar.zst"

# stage VERSION KEY OUT [releases build args]: this build's agent, launcher and
# console, labelled VERSION
S=$T/stage
mkdir -p "$S/steward-agent/bin" "$S/steward-launcher/bin" "$S/stewardctl/bin"
cp "$BIN/steward-agent" "$S/steward-agent/bin/"
cp "$BIN/steward-launcher" "$S/steward-launcher/bin/"
cp "$BIN/stewardctl" "$S/stewardctl/bin/"
stage() {
	local v=$1 key=$2 out=$3
	shift 3
	printf 'steward-agent base %s %s\nsteward-launcher launcher %s %s\nstewardctl console %s %s\n' \
		"$v" "$R" "$v" "$R" "$v" "$R" >"$S/components"
	"$CTL" releases build --version "$v" --key "$key" --stage "$S" --out "$out" "$@" \
		>"$T/build-$v.out" 2>&1 || fail "releases build $v: $(cat "$T/build-$v.out")"
}

SITE_ARGS=(--enroll_auto_approve true --checkin_interval 60 --checkin_jitter 0
	--release_halt_failures 0)
site_start s1 "${SITE_ARGS[@]}" --release_key "$PUB"
ctl releases import "$T/out/steward-$GOOD.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
tok=$(new_token 10)

# ---- bootstrap.sh fails closed without a pinned key ------------------------------------
rc=0
curl -fsS "$SITE_URL/bootstrap.sh" | env -u STEWARD_RELEASE_KEY sh -s -- --prefix "$T/nopin" --token "$tok" \
	>"$T/nopin.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status without a pinned key"
grep -q "no release key is pinned, so nothing is installed" "$T/nopin.out" || fail "no pin: $(cat "$T/nopin.out")"
grep -q "remedy: pass --release-key HEX (or set STEWARD_RELEASE_KEY=HEX)" "$T/nopin.out" || fail "no pin remedy: $(cat "$T/nopin.out")"
[ ! -e "$T/nopin" ] || fail "the script without a pin created $T/nopin"
pass "bootstrap.sh without a pinned release key refuses, says what to pass, and installs nothing"

# ---- an agent under its launcher: its release keys come with enrollment ---------------------
rc=0
curl -fsS "$SITE_URL/bootstrap.sh" | STEWARD_RELEASE_KEY=$PUB sh -s -- --prefix "$T/a1" --token "$tok" \
	>"$T/boot-a1.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "bootstrap a1: $(cat "$T/boot-a1.out")"
wait_for 10 "the launcher of a1" test -s "$T/a1/launcher.pid"
PIDS+=("$(cat "$T/a1/launcher.pid")")
ID=$(jq -r .client_id "$T/a1/state/state.json")
expect_eq "$(jq -c .release_keys "$T/a1/state/state.json")" "[\"$PUB\"]" "release keys of a1"
poke() { kill -USR1 "$(cat "$T/a1/launcher.pid")" 2>/dev/null || true; }
until_poked() { # SECONDS CMD...: poke a1 every 2 s until CMD holds
	local secs=$1
	shift
	for _ in $(seq 1 $((secs / 2))); do
		"$@" && return 0
		poke
		sleep 2
	done
	"$@"
}
newest() { [ "$(jq -r .newest_release "$T/a1/state/state.json")" = "$GOOD" ]; }
until_poked 20 newest || fail "a1 did not record $GOOD as the newest release run: $(cat "$T/a1/state/state.json")"
ctl site client-upgrade --collection "All Clients" >"$T/cu.out" || fail "client-upgrade: $(cat "$T/cu.out")"
shows() { ctl clients show "$ID" | grep -q "$1"; }
unchanged() {
	expect_eq "$(ctl --json clients show "$ID" | jq -r .agent_version)" "$GOOD" "version of a1 ($1)"
	expect_eq "$(readlink "$T/a1/current")" slots/A "current of a1 ($1)"
	[ ! -e "$T/a1/slots/B" ] || fail "a1 built slot B for $1"
}
pass "a1 of $GOOD enrolled; it trusts the site's release key and recorded $GOOD as run"

# ---- a release key the site trusts and the agent does not --------------------------------
site_stop
site_restart "${SITE_ARGS[@]}" --release_key "$PUB" --release_key "$PUB2"
stage 9.0.0 "$T/rk2" "$T/r-9.0.0.tar.zst"
ctl releases import "$T/r-9.0.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 9.0.0: $(cat "$T/import.out")"
until_poked 30 shows "release_key_untrusted  release 9.0.0 is signed with release key $PUB2, which this agent does not trust" ||
	fail "no release_key_untrusted: $(ctl clients show "$ID"; tail -n 20 "$T/a1/log/agent.log")"
unchanged "9.0.0, an untrusted key"
! grep -q "upgrade_downloading version=9.0.0" "$T/a1/log/agent.log" || fail "a1 downloaded 9.0.0"
pass "a release signed by a key the agent does not trust is refused; the slot stays, clients show says why"

# ---- self-update: a pin is required, an untrusted key is refused ---------------------------------
mkdir -p "$T/con"
cp "$BIN/stewardctl" "$T/con/stewardctl"
cp "$BIN/stewardctl" "$T/con.before"
con() { STEWARD_RELEASE_KEYS_FILE=$T/pins timeout 30 "$T/con/stewardctl" -s "$SITE_URL" -t "$ADMIN" "$@"; }
rc=0
con self-update >"$T/su.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "self-update without a pinned key"
grep -q "^error: release_key_not_pinned: this console trusts no release key in $T/pins" "$T/su.out" || fail "no pin: $(cat "$T/su.out")"
grep -q "releases trust-key HEX" "$T/su.out" || fail "no pin remedy: $(cat "$T/su.out")"
con releases trust-key "$PUB" >"$T/trust.out" 2>&1 || fail "trust-key: $(cat "$T/trust.out")"
expect_eq "$(cat "$T/pins")" "$PUB" "the console's pinned keys"
rc=0
con self-update >"$T/su.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "self-update of a release signed by an untrusted key"
grep -q "^error: release_untrusted: release 9.0.0 is signed with key $PUB2, which is not in $T/pins" "$T/su.out" ||
	fail "untrusted: $(cat "$T/su.out")"
rc=0
con self-update --release-key "$PUB" >"$T/su.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "self-update with --release-key of another key"
grep -q "^error: release_untrusted: release 9.0.0 is signed with key $PUB2, not the --release-key given" "$T/su.out" ||
	fail "untrusted --release-key: $(cat "$T/su.out")"
cmp -s "$T/con/stewardctl" "$T/con.before" || fail "a refused self-update changed stewardctl"
[ ! -e "$T/con/stewardctl.new" ] || fail "a refused self-update left stewardctl.new"
pass "self-update refuses without a pinned key and with a release of an untrusted key; the binary is unchanged"

# ---- expired: the signed expiry counts, whatever the site's database says --------------------
start=$(date +%s)
stage 9.1.0 "$T/rk" "$T/r-9.1.0.tar.zst" --valid-for 20s
ctl releases import "$T/r-9.1.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 9.1.0 (valid 20 s): $(cat "$T/import.out")"
while [ "$(date +%s)" -le $((start + 21)) ]; do sleep 0.5; done
# a site that offers it anyway (its record says it is good for a year)
site_sql "$SITE_DIR" "UPDATE releases SET expires = expires + 31536000 WHERE version = '9.1.0';" ||
	fail "cannot move the release's expiry in SQL"
until_poked 30 shows "release_expired  release 9.1.0 expired at" ||
	fail "no release_expired: $(ctl clients show "$ID"; tail -n 20 "$T/a1/log/agent.log")"
unchanged "9.1.0, expired"
rc=0
con self-update >"$T/su.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "self-update of an expired release"
grep -q "^error: release_expired: release 9.1.0 expired at" "$T/su.out" || fail "expired: $(cat "$T/su.out")"
cmp -s "$T/con/stewardctl" "$T/con.before" || fail "an expired self-update changed stewardctl"
# and by bootstrap.sh, which new machines get it from
rc=0
curl -fsS "$SITE_URL/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$T/n-exp" --token "$tok" \
	>"$T/boot-exp.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of bootstrap.sh offered an expired release"
grep -q "release 9.1.0 expired at" "$T/boot-exp.out" || fail "bootstrap expired: $(cat "$T/boot-exp.out")"
[ ! -e "$T/n-exp" ] || fail "bootstrap.sh of an expired release created $T/n-exp"
pass "an expired release is refused by the agent (slot kept, clients show says why), by self-update and by bootstrap.sh"

# ---- a new key endorsed by a trusted one reaches the agent ------------------------------------------
# (the release keys travel with an offer: here the expired 9.1.0, still offered)
"$CTL" releases endorse-key --key "$T/rk" "$PUB2" >"$T/endorse" 2>/dev/null || fail "endorse-key"
"$CTL" releases endorse-key --key "$T/rk2" "$PUB" >"$T/self-endorse" 2>/dev/null || fail "endorse-key 2"
site_stop
site_restart "${SITE_ARGS[@]}" --release_key "$PUB" --release_key "$PUB2" \
	--release_key_endorsement "$(cat "$T/self-endorse")" --release_key_endorsement "$(cat "$T/endorse")"
endorsed() { jq -e --arg k "$PUB2" '.release_keys | index($k)' "$T/a1/state/state.json" >/dev/null; }
until_poked 30 endorsed || fail "a1 does not trust the endorsed key: $(cat "$T/a1/state/state.json"; tail -n 20 "$T/a1/log/agent.log")"
grep -q "release_key_endorsed key=$PUB2" "$T/a1/log/agent.log" || fail "no release_key_endorsed in a1's log"
unchanged "the endorsement"
pass "a release key endorsed by one the agent trusts (release_key_endorsement) reaches it"

# ---- older: only with the release key's rollback authorization --------------------------------
ctl releases withdraw 9.1.0 >/dev/null || fail "withdraw 9.1.0"
ctl releases withdraw 9.0.0 >/dev/null || fail "withdraw 9.0.0"
stage 0.0.5 "$T/rk" "$T/r-0.0.5.tar.zst"
ctl releases import "$T/r-0.0.5.tar.zst" --rollback >"$T/import.out" 2>&1 || fail "import 0.0.5: $(cat "$T/import.out")"
until_poked 30 shows "release_older  release 0.0.5 is older than $GOOD, which ran here: the offer carries no rollback authorization" ||
	fail "no release_older: $(ctl clients show "$ID"; tail -n 20 "$T/a1/log/agent.log")"
unchanged "0.0.5, older"
# an authorization for another release, or by an untrusted key, is refused by the site
"$CTL" releases rollback-sign --key "$T/rk" --version 0.0.4 >"$T/auth-other" 2>/dev/null || fail "rollback-sign"
rc=0
ctl releases import "$T/r-0.0.5.tar.zst" --rollback --authorization "$(cat "$T/auth-other")" >"$T/rb.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "import with another release's authorization"
grep -q "rollback_invalid" "$T/rb.out" || fail "other release's authorization: $(cat "$T/rb.out")"
"$CTL" releases rollback-sign --key "$T/rk" --version 0.0.5 --valid-for 1h >"$T/auth" 2>/dev/null || fail "rollback-sign"
ctl releases import "$T/r-0.0.5.tar.zst" --rollback --authorization "$(cat "$T/auth")" >"$T/rb.out" 2>&1 ||
	fail "import with the authorization: $(cat "$T/rb.out")"
authorized() { grep -q "rollback_authorized release=0.0.5 newest=$GOOD" "$T/a1/log/agent.log"; }
until_poked 30 authorized || fail "a1 did not take the authorized rollback: $(tail -n 20 "$T/a1/log/agent.log")"
grep -q "upgrade_downloading version=0.0.5" "$T/a1/log/agent.log" || fail "a1 did not download 0.0.5"
pass "an older release is refused without the release key's authorization, and taken with it"


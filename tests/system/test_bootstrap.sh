#!/usr/bin/env bash
# Client installation the logon-script way, with the real script, the real
# agent and a real site: curl -fsS SITE/bootstrap.sh | sh -s -- --release-key "$PUB" --token T.
# It refuses (exit 1, nothing written) without a release, while installs
# are paused, over the install rate, with a pinned key that is not the
# release's; installs, enrolls and starts the agent from PREFIX/current ->
# slots/A; is a no-op on an installed machine (and restarts a stopped
# agent); under systemd installs a unit instead of nohup; catches a tampered file; recovers from a bad token and from a
# kill in the middle of a download.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
# a machine that runs systemd: the cases below start the agent with nohup,
# except the one that says it is under systemd (which uses a stand-in)
export STEWARD_SYSTEMD_DIR=$T/no-systemd
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
"$CTL" releases keygen --out "$T/other" >/dev/null || fail "keygen other"
PUB=$(cat "$T/rk.pub")
SITE_ARGS=(--enroll_auto_approve true --release_key "$PUB")
site_start s1 "${SITE_ARGS[@]}"

# boot PREFIX [args]: the documented command; output in $T/boot.out, status in $rc
boot() {
	local prefix=$1
	shift
	rc=0
	curl -fsS "$SITE_URL/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$prefix" "$@" >"$T/boot.out" 2>&1 || rc=$?
}
track_agent() { # the agent the script started is ours to stop
	PIDS+=("$(cat "$1/agent.pid")")
}
installs() { ctl --json site show | jq -r ".installs.$1"; }

# ---- no release yet: refused, nothing written ------------------------------------
boot "$T/p0" --token x
expect_eq "$rc" 1 "exit status without a release"
grep -q "site T01 has no agent to install: site T01 holds no release; nothing was changed" "$T/boot.out" ||
	fail "no-release refusal: $(cat "$T/boot.out")"
grep -q "remedy: .*stewardctl releases import" "$T/boot.out" || fail "no remedy: $(cat "$T/boot.out")"
[ ! -e "$T/p0" ] || fail "the refused script created $T/p0"
curl -sS -D "$T/h" -o /dev/null "$SITE_URL/bootstrap.sh"
grep -qi '^Steward-Refusal: no_release' "$T/h" || fail "no Steward-Refusal header: $(cat "$T/h")"
pass "without a release the script refuses, says why and writes nothing"

# ---- a release with this build's agent -----------------------------------------------
S=$T/stage
mkdir -p "$S/steward-agent/bin" "$S/steward-launcher/bin" "$S/stewardd/bin" "$S/stewardctl/bin"
cp "$BIN/steward-agent" "$S/steward-agent/bin/"
cp "$BIN/steward-launcher" "$S/steward-launcher/bin/"
cp "$BIN/stewardd" "$S/stewardd/bin/"
cp "$BIN/stewardctl" "$S/stewardctl/bin/"
V=$("$BIN/steward-agent" --version | awk '{print $2}')
R=$("$BIN/steward-agent" --version | sed -n 's/.*protocol \([0-9]*-[0-9]*\).*/\1/p')
printf 'steward-agent base %s %s\nsteward-launcher launcher %s %s\nstewardd site %s %s\nstewardctl console %s %s\n' \
	"$V" "$R" "$V" "$R" "$V" "$R" "$V" "$R" >"$S/components"
"$CTL" releases build --version "$V" --key "$T/rk" --stage "$S" --out "$T/r.tar.zst" >"$T/build.out" 2>&1 ||
	fail "releases build: $(cat "$T/build.out")"
ctl releases import "$T/r.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
expect_eq "$(installs release)" "$V" "release offered by site show"

# no openssl on the machine: the signature cannot be checked, nothing is installed
mkdir -p "$T/nossl"
for tool in sh curl sha256sum awk od mktemp mv ln cat rm mkdir head tr sed cut base64 printf \
	chmod cp dirname basename id uname date sleep ls grep env flock nohup kill stat readlink tail wc; do
	p=$(command -v "$tool" 2>/dev/null) && ln -sf "$p" "$T/nossl/$tool"
done
rc=0
curl -fsS "$SITE_URL/bootstrap.sh" | PATH=$T/nossl sh -s -- --release-key "$PUB" --prefix "$T/p-nossl" --token x >"$T/boot.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status without openssl"
grep -q "cannot check the release signature: this machine has no openssl" "$T/boot.out" ||
	fail "without openssl: $(cat "$T/boot.out")"
[ ! -e "$T/p-nossl" ] || fail "the script without openssl created $T/p-nossl: $(ls -R "$T/p-nossl" | head)"
pass "without openssl the script refuses (fails closed) and installs nothing"

# a pinned key that is not the release's: refused before anything is fetched
boot "$T/p1" --token x --release-key "$(cat "$T/other.pub")"
expect_eq "$rc" 1 "exit status with another key pinned"
grep -q "is signed with key $PUB, not the --release-key given" "$T/boot.out" || fail "pin: $(cat "$T/boot.out")"
[ ! -e "$T/p1" ] || fail "the pinned refusal created $T/p1"
pass "a --release-key that did not sign the release is refused before anything is written"

# a manifest altered on the way: the signature check (openssl) catches it
curl -fsS "$SITE_URL/bootstrap.sh" | sed 's/^created\t20/created\t19/' >"$T/altered.sh"
grep -q "^created	19" "$T/altered.sh" || fail "the alteration did not apply"
rc=0
sh "$T/altered.sh" --release-key "$PUB" --prefix "$T/p1" --token x >"$T/boot.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status with an altered manifest"
grep -q "the signature of release $V does not verify" "$T/boot.out" || fail "altered: $(cat "$T/boot.out")"
[ ! -e "$T/p1" ] || fail "the altered script created $T/p1"
pass "a manifest altered on the way fails its signature check before anything is written"

# ---- install, enroll, start ----------------------------------------------------------
tok=$(new_token 20)
P=$T/opt
boot "$P" --token "$tok" --release-key "$PUB"
[ "$rc" = 0 ] || fail "bootstrap failed ($rc): $(cat "$T/boot.out")"
track_agent "$P"
expect_eq "$(readlink "$P/current")" slots/A "current"
cmp -s "$P/current/bin/steward-agent" "$BIN/steward-agent" || fail "the installed agent differs from the release's"
expect_eq "$(stat -c %a "$P/state/client.key")" 600 "client key mode"
cmp -s "$P/release.manifest" <(tar --zstd -xOf "$T/r.tar.zst" release.manifest) || fail "release.manifest"
id=$(jq -r .client_id "$P/state/state.json")
[[ $id =~ ^[0-9a-f]{32}$ ]] || fail "no client id in $P/state/state.json"
ctl clients list >"$T/clients.out"; grep -q "$id" "$T/clients.out" || fail "client $id not listed"
kill -0 "$(cat "$P/agent.pid")" 2>/dev/null || fail "the agent is not running: $(cat "$P/log/agent.log")"
cmp -s "$P/launcher/bin/steward-launcher" "$BIN/steward-launcher" || fail "the launcher was not installed"
grep -q 'steward-launcher' "$P/run" || fail "run does not start the launcher: $(cat "$P/run")"
for _ in $(seq 1 50); do
	pgrep -P "$(cat "$P/agent.pid")" -f steward-agent >/dev/null && break
	sleep 0.1
done
pgrep -P "$(cat "$P/agent.pid")" -f steward-agent >/dev/null || fail "the launcher runs no agent: $(cat "$P/log/agent.log")"
grep -q "installed the steward agent $V (.* bytes, every file verified)" "$T/boot.out" || fail "$(cat "$T/boot.out")"
[ -z "$(ls -A "$P/slots" | grep -v '^A$')" ] || fail "left in slots: $(ls -A "$P/slots")"
expect_eq "$(installs started)" 1 "installs started"
pass "installed $V in PREFIX/slots/A with its launcher, current -> slots/A, enrolled as $id and running"

# ---- a logon script runs it again: nothing to do ---------------------------------
pid=$(cat "$P/agent.pid")
boot "$P"
[ "$rc" = 0 ] || fail "second run failed: $(cat "$T/boot.out")"
grep -q "is installed in $P and enrolled; nothing to install" "$T/boot.out" || fail "$(cat "$T/boot.out")"
expect_eq "$(cat "$P/agent.pid")" "$pid" "agent pid after a second run"
expect_eq "$(installs started)" 1 "installs started after a no-op run"
kill "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
boot "$P"
[ "$rc" = 0 ] || fail "run after the agent stopped: $(cat "$T/boot.out")"
track_agent "$P"
[ "$(cat "$P/agent.pid")" != "$pid" ] && kill -0 "$(cat "$P/agent.pid")" || fail "the agent was not restarted"
expect_eq "$(jq -r .client_id "$P/state/state.json")" "$id" "client id after a rerun"
# killed -9 and not reaped yet (a zombie), the old process still answers
# kill -0: it must not pass for a running agent
pid=$(cat "$P/agent.pid")
kill -KILL "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null && [ -s "/proc/$pid/cmdline" ] || break; sleep 0.1; done
sh -c 'sleep 0 & echo $! >"$1"; exec sleep 10' zombie "$T/zombie.pid" &
PIDS+=("$!")
for _ in $(seq 1 50); do [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$(cat "$T/zombie.pid" 2>/dev/null)/stat" 2>/dev/null)" = Z ] && break; sleep 0.1; done
cp "$T/zombie.pid" "$P/agent.pid"
boot "$P"
[ "$rc" = 0 ] || fail "run after a kill -9: $(cat "$T/boot.out")"
grep -q "agent started" "$T/boot.out" || fail "a zombie passed for the running agent: $(cat "$T/boot.out")"
track_agent "$P"
kill -0 "$(cat "$P/agent.pid")" || fail "the agent was not started after the kill -9"
pass "on an installed machine the script changes nothing, uses no install slot, restarts a stopped agent (also one killed -9 and not reaped)"

# ---- pause-installs: the seed's GOTO END ------------------------------------------
ctl site pause-installs --reason "service pack 2 goes in tonight" >"$T/pause.out" || fail "pause-installs"
grep -q "client installations paused: service pack 2 goes in tonight" "$T/pause.out" || fail "$(cat "$T/pause.out")"
boot "$T/p2" --token "$tok"
expect_eq "$rc" 1 "exit status while paused"
grep -q "installations are paused at site T01: service pack 2 goes in tonight; nothing was changed" "$T/boot.out" ||
	fail "paused refusal: $(cat "$T/boot.out")"
[ ! -e "$T/p2" ] || fail "the paused script created $T/p2"
expect_eq "$(installs paused)" true "site show installs.paused"
r=$(curl -sS -o "$T/claim" -w '%{http_code}' -X POST --data "{\"release\":\"$V\"}" "$SITE_URL/bootstrap/claim")
expect_eq "$r" 503 "claim while paused"
grep -q installs_paused "$T/claim" || fail "claim: $(cat "$T/claim")"
pass "pause-installs: the script refuses with the reason and writes nothing"

# ---- resume with a rate: one per hour ----------------------------------------------------
ctl site resume-installs --rate 1/hour >"$T/resume.out" || fail "resume-installs"
grep -q "at most 1 per hour" "$T/resume.out" || fail "$(cat "$T/resume.out")"
boot "$T/p3" --token "$tok" --no-start
[ "$rc" = 0 ] || fail "install after resume: $(cat "$T/boot.out")"
grep -q "not started (--no-start)" "$T/boot.out" || fail "--no-start: $(cat "$T/boot.out")"
[ ! -e "$T/p3/agent.pid" ] || fail "--no-start started the agent"
boot "$T/p4" --token "$tok"
expect_eq "$rc" 1 "exit status over the rate"
grep -q "HTTP 429): site T01 starts at most 1 installations per hour" "$T/boot.out" || fail "rate: $(cat "$T/boot.out")"
[ ! -e "$T/p4" ] || fail "the rate-limited script created $T/p4"
boot "$P"
[ "$rc" = 0 ] || fail "an installed machine must not need a slot: $(cat "$T/boot.out")"
expect_eq "$(installs started_last_hour)" 1 "started in the last hour"
ctl site resume-installs >/dev/null || fail "resume without a rate"
expect_eq "$(installs rate_per_hour)" 0 "rate after a plain resume"
pass "resume-installs --rate 1/hour: one install, the next refused (429) untouched, installed machines unaffected"

# ---- what the files route serves ------------------------------------------------------
agent_hash=$(awk -F '\t' '$1 == "file" && $2 == "steward-agent" {print $5}' "$P/release.manifest")
site_hash=$(awk -F '\t' '$1 == "file" && $2 == "stewardd" {print $5}' "$P/release.manifest")
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$SITE_URL/bootstrap/files/$agent_hash")" 200 "agent file"
expect_eq "$(curl -s -o "$T/f" -w '%{http_code}' "$SITE_URL/bootstrap/files/$site_hash")" 404 "stewardd file"
grep -q not_a_bootstrap_file "$T/f" || fail "$(cat "$T/f")"
pass "/bootstrap/files serves the offered agent's files and nothing else"

# ---- a tampered file on the site ------------------------------------------------------
blob=$SITE_DIR/content/blobs/${agent_hash:0:2}/$agent_hash
cp "$blob" "$T/blob.good"
chmod u+w "$blob"
printf 'XXXX' | dd of="$blob" bs=1 seek=1000 conv=notrunc status=none
boot "$T/p5" --token "$tok"
expect_eq "$rc" 1 "exit status with a tampered file"
grep -q "bin/steward-agent does not match the signed manifest" "$T/boot.out" || fail "tamper: $(cat "$T/boot.out")"
[ ! -e "$T/p5/current" ] && [ ! -e "$T/p5/run" ] || fail "a tampered install was switched to"
cp "$T/blob.good" "$blob"
pass "a tampered file is caught by its hash and nothing is switched to"

# ---- the matrix: a newer release whose agent this site cannot talk to is not offered ----
S2=$T/stage2
cp -a "$S" "$S2"
printf 'steward-agent base 99.0.0 7-9\nstewardd site 99.0.0 7-9\nstewardctl console 99.0.0 7-9\n' >"$S2/components"
"$CTL" releases build --version 99.0.0 --key "$T/rk" --stage "$S2" --out "$T/r99.tar.zst" >"$T/build99.out" 2>&1 ||
	fail "releases build 99: $(cat "$T/build99.out")"
ctl releases import "$T/r99.tar.zst" >"$T/import99.out" 2>&1 || fail "import 99: $(cat "$T/import99.out")"
expect_eq "$(installs release)" "$V" "release offered next to one that speaks protocol 7-9"
curl -fsS "$SITE_URL/bootstrap.sh" >"$T/offer.sh"
grep -q "^RELEASE_VERSION='$V'$" "$T/offer.sh" || fail "the script offers another release"
pass "a newer release whose agent speaks protocol 7-9 is not offered by a site that speaks $R"

# ---- a bad token, then a good one ----------------------------------------------------------
boot "$T/p6" --token 0000000000000000000000000000000000000000
expect_eq "$rc" 1 "exit status with a bad token"
grep -q "the agent could not enroll" "$T/boot.out" || fail "bad token: $(cat "$T/boot.out")"
[ ! -e "$T/p6" ] || fail "a failed enrollment left $T/p6 behind: $(ls -R "$T/p6" | head)"
boot "$T/p6" --token "$tok" --no-start
[ "$rc" = 0 ] || fail "retry with a good token: $(cat "$T/boot.out")"
jq -e '.client_id | test("^[0-9a-f]{32}$")' "$T/p6/state/state.json" >/dev/null || fail "not enrolled after retry"
pass "a bad token fails with the agent's reason and leaves nothing; the same command with a good one finishes the job"

# ---- killed in the middle of a download -----------------------------------------------------
site_stop
site_restart "${SITE_ARGS[@]}" --dp_max_bandwidth 65536
curl -fsS "$SITE_URL/bootstrap.sh" >"$T/boot.sh"
# its temp dir goes under $T: the kill -9 leaves it behind, the test removes it
TMPDIR="$T" setsid sh "$T/boot.sh" --release-key "$PUB" --prefix "$T/p7" --token "$tok" >"$T/boot7.out" 2>&1 &
bpid=$!
PIDS+=("$bpid")
for _ in $(seq 1 100); do
	ls "$T"/p7/slots/.stage.*/bin/steward-agent >/dev/null 2>&1 && break
	sleep 0.05
done
sleep 0.5
kill -KILL -- -"$bpid" 2>/dev/null || kill -KILL "$bpid"
wait "$bpid" 2>/dev/null || true
[ ! -e "$T/p7/current" ] && [ ! -e "$T/p7/run" ] || fail "a half download was switched to"
ls -d "$T"/p7/slots/.stage.* >/dev/null 2>&1 || fail "the kill came too late to test anything: $(cat "$T/boot7.out")"
site_stop
site_restart "${SITE_ARGS[@]}"
boot "$T/p7" --token "$tok" --no-start
[ "$rc" = 0 ] || fail "rerun after the kill: $(cat "$T/boot.out")"
expect_eq "$(ls -A "$T/p7/slots")" A "slots after the rerun"
cmp -s "$T/p7/current/bin/steward-agent" "$BIN/steward-agent" || fail "agent after the rerun"
pass "kill -9 during the download: nothing switched; the next run cleans up and installs"

# ---- under systemd (a stand-in systemctl) ---------------------------------------------------
# With /run/systemd/system and a writable unit directory the script writes a
# unit for its PREFIX and runs systemctl enable --now instead of nohup. The
# stand-in systemctl records its calls and starts the unit's ExecStart.
mkdir -p "$T/sd/run" "$T/sd/units" "$T/sd/bin"
cat >"$T/sd/bin/systemctl" <<EOF
#!/bin/sh
echo "\$*" >>"$T/sd/systemctl.log"
if [ "\$1 \$2" = "enable --now" ]; then
	cmd=\$(sed -n 's/^ExecStart=//p' "$T/sd/units/\$3")
	nohup \$cmd >>"$T/sd/unit.log" 2>&1 </dev/null &
	echo \$! >"$T/sd/unit.pid"
fi
EOF
chmod 755 "$T/sd/bin/systemctl"
P8=$T/p8
UNIT=steward-agent-$(printf '%s' "${P8#/}" | tr '/' '-').service
rc=0
curl -fsS "$SITE_URL/bootstrap.sh" | STEWARD_SYSTEMD_DIR=$T/sd/run STEWARD_UNIT_DIR=$T/sd/units PATH=$T/sd/bin:$PATH \
	sh -s -- --release-key "$PUB" --prefix "$P8" --token "$tok" >"$T/boot.out" 2>&1 || rc=$?
[ -s "$T/sd/unit.pid" ] && PIDS+=("$(cat "$T/sd/unit.pid")")
[ "$rc" = 0 ] || fail "bootstrap under systemd failed ($rc): $(cat "$T/boot.out")"
grep -q "agent started by systemd: unit $UNIT" "$T/boot.out" || fail "under systemd: $(cat "$T/boot.out")"
expect_eq "$(cat "$T/sd/systemctl.log")" "daemon-reload
enable --now $UNIT" "systemctl calls"
grep -qx "ExecStart=$P8/run" "$T/sd/units/$UNIT" || fail "the unit does not start $P8/run: $(cat "$T/sd/units/$UNIT")"
grep -qx "Restart=always" "$T/sd/units/$UNIT" || fail "the unit does not restart the agent"
[ ! -e "$P8/agent.pid" ] && [ ! -e "$P8/log/agent.log" ] || fail "nohup started the agent too"
for _ in $(seq 1 50); do
	pgrep -P "$(cat "$T/sd/unit.pid")" -f steward-agent >/dev/null && break
	sleep 0.1
done
pgrep -P "$(cat "$T/sd/unit.pid")" -f steward-agent >/dev/null || fail "the unit's launcher runs no agent: $(cat "$T/sd/unit.log")"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --man=no "$T/sd/units/$UNIT" >"$T/sd/verify.out" 2>&1 ||
		fail "systemd-analyze verify on the bootstrap's unit: $(cat "$T/sd/verify.out")"
fi
# the next run finds it running
curl -fsS "$SITE_URL/bootstrap.sh" | STEWARD_SYSTEMD_DIR=$T/sd/run STEWARD_UNIT_DIR=$T/sd/units PATH=$T/sd/bin:$PATH \
	sh -s -- --release-key "$PUB" --prefix "$P8" >"$T/boot.out" 2>&1 || fail "second run: $(cat "$T/boot.out")"
grep -q "the agent is running (steward-launcher pid" "$T/boot.out" || fail "second run under systemd: $(cat "$T/boot.out")"
expect_eq "$(grep -c enable "$T/sd/systemctl.log")" 1 "enable calls after a second run"
kill "$(cat "$T/sd/unit.pid")"
pass "under systemd the script installs a unit for its prefix and enables it instead of nohup"

# ---- bad arguments ----------------------------------------------------------------------
for args in "--prefix relative" "--prefix /" "--prefix /a/../b" "--token a;b" "--release-key xyz" "--bogus"; do
	rc=0
	# shellcheck disable=SC2086
	curl -fsS "$SITE_URL/bootstrap.sh" | sh -s -- --release-key "$PUB" --token t $args >"$T/bad.out" 2>&1 || rc=$?
	expect_eq "$rc" 1 "exit status for '$args'"
	grep -q "remedy:" "$T/bad.out" || fail "no remedy for '$args': $(cat "$T/bad.out")"
done
[ ! -e relative ] || fail "a relative prefix was created"
pass "bad arguments are refused with a remedy"

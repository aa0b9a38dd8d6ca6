#!/usr/bin/env bash
# The web console in a real browser: Playwright (tests/console, pinned in
# its package-lock.json) drives Debian's Chromium headless against a real
# stewardd over HTTPS, with a real agent (inventory, an advertisement it
# runs) and steward-sim clients (a fleet to page through and approve).
# tests/console/console.test.mjs holds the steps; this script builds the
# site they need. Screenshots of every page go to build/console-shots
# (docs/console.md shows them).
. "$(dirname "$0")/lib.sh"

NODE_DIR=$STEWARD_SRC/tests/console
command -v node >/dev/null || fail "node is missing: run scripts/deps.sh"
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing: run scripts/deps.sh"
[ -f "$NODE_DIR/node_modules/playwright-core/package.json" ] ||
	fail "playwright-core is missing in $NODE_DIR: run scripts/deps.sh (npm ci there)"
SHOTS=${STEWARD_CONSOLE_SHOTS:-$(dirname "$BIN")/console-shots}
mkdir -p "$SHOTS"
rm -f "$SHOTS"/failed-*.png

"$BIN/stewardctl" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
stage_release_as "$T/rk" 2.0.0 0.1.0 "$T/r-2.0.0.tar.zst" tiny

# HTTPS (the site's own certificate): the cookie must be Secure
site_start s1 --release_key "$(cat "$T/rk.pub")"
ctl releases import "$T/r-2.0.0.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
ctl admins create viewer --role read >"$T/read.tok" 2>/dev/null || fail "admins create viewer"

# a fleet: 40 pending clients, and one real agent, approved, with inventory
"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients 40 --duration 1s \
	--quiet --state "$T/sim.state" >"$T/sim.out" 2>&1 || fail "steward-sim: $(tail -n 3 "$T/sim.out")"
tok=$(new_token 2)
agent_once a1 "$tok" || fail "agent enroll: $(tail -n 3 "$T/agent-a1.log")"
A1=$(agent_id a1)
ctl clients approve "$A1" >/dev/null || fail "approve $A1"
agent_once a1 || fail "agent check-in: $(tail -n 3 "$T/agent-a1.log")"

# software to advertise from the console
mkdir -p "$T/pkg"
echo "hello from the console test" >"$T/pkg/hello.txt"
ctl packages add hello --version 1.0 --source "$T/pkg" >/dev/null || fail "packages add"
ctl programs add hello-run --package hello --command "cat hello.txt" >/dev/null || fail "programs add"

# a rollout the console starts and pauses
ctl rollouts create r2 --release 2.0.0 --collection "All Clients" --waves 10%,100% \
	--gate 95 --soak 0 >/dev/null || fail "rollouts create"

# the agent, for the browser test to run when it has created an advert
cat >"$T/agent-run.sh" <<EOF
#!/bin/sh
exec "$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/agent-a1" --once --timeout 30 >>"$T/agent-a1.log" 2>&1
EOF
chmod 755 "$T/agent-run.sh"

export CONSOLE_URL=$SITE_URL CONSOLE_ADMIN_TOKEN=$(cat "$ADMIN") CONSOLE_READ_TOKEN=$(cat "$T/read.tok")
export CONSOLE_AGENT_ID=$A1 CONSOLE_AGENT_HOST=$(ctl --json clients show "$A1" | jq -r .hostname)
export CONSOLE_AGENT_RUN=$T/agent-run.sh CONSOLE_SHOTS=$SHOTS
rc=0
timeout 300 node "$NODE_DIR/console.test.mjs" >"$T/console.out" 2>&1 || rc=$?
cat "$T/console.out"
[ "$rc" -eq 0 ] || fail "the console's browser test failed (exit $rc)"
pass "console: $(grep -c '^ok ' "$T/console.out") browser checks; screenshots in $SHOTS"

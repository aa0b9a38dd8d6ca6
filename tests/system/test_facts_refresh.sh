#!/usr/bin/env bash
# A check-in that reports a new agent version updates the client's query
# facts (off the writer thread, within a couple of seconds), so collections
# built on agent.version follow an upgrade without waiting for inventory.
. "$(dirname "$0")/lib.sh"

site_start site --enroll_auto_approve true
TOKEN=$(new_token 2)
agent_once a "$TOKEN" || fail "agent a"
agent_once b "$TOKEN" || fail "agent b"
A=$(agent_id a)
B=$(agent_id b)

ctl collections create upgraded --query 'agent.version >= "0.2.0"' >/dev/null
expect_eq "$(ctl --json collections members upgraded | jq length)" 0 "members before"

# client a reports agent 0.2.0 in a signed check-in
BODY='{"agent_version":"0.2.0","protocol":{"min":1,"max":1},"components":[{"name":"base","version":"0.2.0"}],"status":[],"uptime":5,"inventory_hash":""}'
R=$("$BIN/steward-req" --server "$SITE_URL" --path /api/v1/checkin --key "$T/agent-a/client.key" \
	--client "$A" --body "$BODY" --print-status)
expect_status "$R" 200

members() { ctl --json collections members upgraded | jq -r '.[].id' | sort | tr '\n' ' '; }
for _ in $(seq 1 40); do
	[ "$(members)" = "$A " ] && break
	sleep 0.1
done
expect_eq "$(members)" "$A " "members after a's upgrade"
expect_eq "$(ctl --json clients show "$A" | jq -r .agent_version)" 0.2.0 "stored agent version"
pass "a check-in reporting agent 0.2.0 moved the client into the collection"

# the facts also survive a restart (they come from the stored row)
site_stop
site_restart
expect_eq "$(members)" "$A " "members after restart"
ctl --json collections explain upgraded "$B" >"$T/explain" || fail "explain"
grep -q '0.1.0' "$T/explain" || fail "explain for b does not name its version: $(cat "$T/explain")"
pass "after a restart; explain names b's version"

#!/usr/bin/env bash
# Enrollment, approval, signed check-ins, block, delete and restart persistence.
. "$(dirname "$0")/lib.sh"

site_start site
TOKEN=$(new_token 3)
[ ${#TOKEN} -ge 32 ] || fail "token looks wrong: $TOKEN"

# a pending client checks in but stays pending until approved
agent_once a "$TOKEN" || fail "agent a did not complete a cycle"
ID=$(agent_id a)
expect_eq "$(ctl --json clients show "$ID" | jq -r .state)" pending "state after enrollment"
pass "enrolled client is pending"

ctl clients approve "$ID" >/dev/null
expect_eq "$(ctl --json clients show "$ID" | jq -r .state)" approved "state after approve"
agent_once a || fail "approved agent cannot check in"
expect_eq "$(ctl --json clients list | jq -r --arg id "$ID" '.[] | select(.id==$id) | .state')" approved "list state"
LAST=$(ctl --json clients show "$ID" | jq -r .last_seen)
[ "$LAST" != null ] || fail "last_seen not recorded"
pass "approved client checks in; last_seen=$LAST"

# the JSON shape scripts rely on
ctl --json clients list | jq -e '.[0] | has("id") and has("hostname") and has("site") and has("state") and has("last_seen") and has("agent_version")' >/dev/null \
	|| fail "clients list --json lacks a documented field"

# the enrollment token is single-purpose: 3 uses
agent_once b "$TOKEN" || fail "agent b"
agent_once c "$TOKEN" || fail "agent c"
if agent_once d "$TOKEN"; then fail "a used-up token enrolled a fourth client"; fi
grep -q token_used_up "$T/agent-d.log" || fail "agent d was not told token_used_up"
pass "used-up token refused with token_used_up"

# re-enrolling with the same key returns the same id and uses no token
rm "$T/agent-b/state.json"
agent_once b "$(new_token 1)" || fail "re-enroll b"
expect_eq "$(ctl --json enroll-tokens list | jq '[.[] | select(.used > 0)] | length')" 1 "tokens used"

# block: the agent is refused with the reason
ctl clients block "$ID" --reason "stolen laptop" >/dev/null
if agent_once a; then fail "blocked client checked in"; fi
grep -q "stolen laptop" "$T/agent-a.log" || fail "blocked client not told the reason"
pass "blocked client refused with reason"

# delete: the key can never enroll again
ctl clients delete "$ID" >/dev/null
rm "$T/agent-a/state.json"
if agent_once a "$(new_token 1)"; then fail "deleted client's key enrolled again"; fi
grep -q client_deleted "$T/agent-a/../agent-a.log" || fail "deleted key not refused with client_deleted"
pass "deleted client's key refused"

# a token pinned to a site assigns that site, whatever the boundaries say
PINNED=$(ctl --json enroll-tokens create --uses 1 --ttl 1h --site XYZ | jq -r .token)
agent_once e "$PINNED" || fail "agent e with a pinned token"
EID=$(agent_id e)
expect_eq "$(jq -r .site "$T/agent-e/state.json")" XYZ "site the agent was told"
expect_eq "$(ctl --json clients show "$EID" | jq -r .site)" XYZ "site of the pinned client"
pass "pinned token assigns its site"

# restart persistence: clients, states and tokens survive
BEFORE=$(ctl --json clients list | jq -c '[.[] | {id, state}] | sort_by(.id)')
site_stop || fail "stewardd did not exit 0 on SIGTERM"
site_restart
AFTER=$(ctl --json clients list | jq -c '[.[] | {id, state}] | sort_by(.id)')
expect_eq "$AFTER" "$BEFORE" "clients after restart"
expect_eq "$(ctl --json clients show "$EID" | jq -r .site)" XYZ "pinned site after restart"
agent_once c || fail "agent c cannot check in after restart"
pass "state persists across restart"

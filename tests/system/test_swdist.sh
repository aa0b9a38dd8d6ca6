#!/usr/bin/env bash
# Software distribution end to end, with real processes on loopback: 24
# agents enroll; 20 of them get the package "swd-pilot" in their inventory
# (their own real inventory, altered and signed with their own key); a
# package is added with stewardctl, a program made from it and advertised to
# the query collection has_package("swd-pilot"). Each agent then runs one
# cycle: exactly the 20 members run the program (it writes where it ran),
# and `status advert` counts 20 succeeded. Then the seed's pre-upgrade step:
# pause-adverts stops new runs within one check-in (status says why),
# resume-adverts starts them again.
. "$(dirname "$0")/lib.sh"
GEN="$(dirname "$0")/inventory_gen.py"

site_start site --enroll_auto_approve true
TOKEN=$(new_token 30)
MEMBERS=$(seq -f 'm%02g' 1 20)
OTHERS="x1 x2 x3 x4"
declare -A ID

# enroll everyone (four at a time; each --once is one real agent process)
enroll_batch() {
	local n pids=()
	for n in "$@"; do
		agent_once "$n" "$TOKEN" &
		pids+=($!)
	done
	for n in "${pids[@]}"; do wait "$n" || fail "an agent did not complete its first cycle"; done
}
set -- $MEMBERS $OTHERS
while [ $# -gt 0 ]; do
	enroll_batch "${@:1:4}"
	shift $(($# < 4 ? $# : 4))
done
for n in $MEMBERS $OTHERS; do ID[$n]=$(agent_id "$n"); done
pass "24 agents enrolled"

post_inventory() {
	local n=$1 r
	shift
	python3 "$GEN" "$T/agent-$n/inventory.json" "$T/inv-$n.json" "$@" || fail "inventory_gen for $n"
	r=$("$BIN/steward-req" --server "$SITE_URL" --path /api/v1/inventory \
		--key "$T/agent-$n/client.key" --client "${ID[$n]}" --body-file "$T/inv-$n.json" \
		--print-status) || fail "steward-req for $n"
	expect_status "$r" 200
}
for n in $MEMBERS; do post_inventory "$n" --add-package swd-pilot=1.0-1; done
for n in $OTHERS; do post_inventory "$n" --remove-package swd-pilot; done
ctl collections create pilots --query 'has_package("swd-pilot")' >/dev/null ||
	fail "collections create"
expect_eq "$(ctl --json collections members pilots | jq length)" 20 "pilot members"
pass "20 of 24 clients are in the query collection"

# the package: a script in a subdirectory, and data it checks
mkdir -p "$T/pkg/bin" "$T/out"
cat >"$T/pkg/bin/install.sh" <<EOF
#!/bin/sh
# records which agent ran it: the work dir lies in that agent's state dir
set -e
test "\$(cat ../data.txt)" = "payload"
echo "\$(pwd) \$STEWARD_ADVERT" >>"$T/out/ran.log"
EOF
chmod 755 "$T/pkg/bin/install.sh"
echo payload >"$T/pkg/data.txt"
ctl packages add tool --version 1.0 --source "$T/pkg" >"$T/add.out" || fail "packages add: $(cat "$T/add.out")"
ctl programs add install --package tool@1.0 --command "sh install.sh" --workdir bin \
	--timeout 2m >/dev/null || fail "programs add"
ctl adverts create roll-out --program install --collection pilots >/dev/null || fail "adverts create"
pass "package, program and advertisement created with stewardctl"

# one cycle for every agent, four at a time
cycle() {
	local n pids=()
	for n in "$@"; do
		agent_once "$n" &
		pids+=($!)
	done
	for n in "${pids[@]}"; do wait "$n" || fail "an agent cycle failed"; done
}
cycle_all() {
	set -- $MEMBERS $OTHERS
	while [ $# -gt 0 ]; do
		cycle "${@:1:4}"
		shift $(($# < 4 ? $# : 4))
	done
}
cycle_all

ran_by() { # the agent names that ran advert $1
	[ -f "$T/out/ran.log" ] || return 0
	grep " $1\$" "$T/out/ran.log" | sed -n 's#.*/agent-\([a-z0-9]*\)/.*#\1#p' | sort | tr '\n' ' '
}
expect_eq "$(ran_by roll-out)" "$(echo $MEMBERS | tr ' ' '\n' | sort | tr '\n' ' ')" \
	"agents that ran roll-out"
ctl --json status advert roll-out >"$T/status.json" || fail "status advert"
expect_eq "$(jq -r .counts.succeeded "$T/status.json")" 20 "succeeded count"
expect_eq "$(jq -r '[.clients[] | select(.state == "succeeded")] | length' "$T/status.json")" 20 \
	"clients listed as succeeded"
for n in $OTHERS; do
	jq -e --arg id "${ID[$n]}" '.clients[] | select(.id == $id)' "$T/status.json" >/dev/null &&
		fail "non-member $n has status for roll-out"
done
ctl status advert roll-out >"$T/status.txt" || fail "status advert (text)"
grep -q succeeded "$T/status.txt" || fail "status advert text lacks the succeeded state"
pass "exactly the 20 members ran the program; status advert shows 20 succeeded"

# a run-once program does not run again on the next cycle
cycle_all
expect_eq "$(grep -c ' roll-out$' "$T/out/ran.log")" 20 "runs after a second cycle"
pass "run-once advertisement did not run twice"

# pause: nothing new starts within one check-in; status says why
ctl site pause-adverts --reason "upgrading the site" >/dev/null || fail "pause-adverts"
expect_eq "$(ctl --json site show | jq -r .adverts_paused)" true "adverts_paused after pause"
ctl adverts create second --program install --collection pilots >/dev/null || fail "adverts create second"
cycle_all
expect_eq "$(ran_by second)" "" "runs of 'second' while paused"
ctl --json status advert second >"$T/status2.json"
expect_eq "$(jq -r .counts.waiting "$T/status2.json")" 20 "members waiting while paused"
jq -r '.clients[].detail' "$T/status2.json" | grep -q -i paused ||
	fail "waiting status does not say adverts are paused: $(jq -c '.clients[0]' "$T/status2.json")"
pass "pause-adverts: no new runs within one check-in, status says why"

ctl site resume-adverts >/dev/null || fail "resume-adverts"
cycle_all
expect_eq "$(ran_by second)" "$(echo $MEMBERS | tr ' ' '\n' | sort | tr '\n' ' ')" \
	"agents that ran 'second' after resume"
expect_eq "$(ctl --json status advert second | jq -r .counts.succeeded)" 20 "succeeded after resume"
pass "resume-adverts: runs start again at the next check-in"

# status client shows both advertisements with their history
ctl --json status client "${ID[m01]}" >"$T/client.json" || fail "status client"
expect_eq "$(jq -r '[.adverts[].advert] | sort | join(",")' "$T/client.json")" "roll-out,second" \
	"adverts in status client"
jq -e '.adverts[] | select(.advert == "roll-out") | .history | length >= 3' "$T/client.json" \
	>/dev/null || fail "status client lacks the history of roll-out"
pass "status client lists every advertisement with its history"

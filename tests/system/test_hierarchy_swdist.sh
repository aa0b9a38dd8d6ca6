#!/usr/bin/env bash
# Software distribution down the hierarchy: a collection, a package (with
# its content), a program and an advertisement created at central CEN reach
# C01 below it and C02 below C01. Each child evaluates the collection over
# its own clients; a real agent at C01 and one at C02 run the program from
# their own site's content, and `status advert` at CEN counts both, naming
# each site. The content crossed each link once, not once per client. At a
# child the objects are read-only (object_from_above); disabling and then
# deleting the advertisement at CEN reaches both children; a package of the
# same name as a local one at C02 is refused there (name_conflict), not
# overwritten; `hierarchy objects` at CEN shows how each object went at each
# site below. C03, attached to CEN afterwards, is sent what CEN holds then.
. "$(dirname "$0")/lib.sh"

named_site cen CEN
named_site c01 C01
named_site c02 C02
attach c01 cen
attach c02 c01

# one agent at each child
for s in c01 c02; do
	tok=$(on "$s" --json enroll-tokens create --uses 2 --ttl 1h | jq -r .token)
	SITE_URL=${URL[$s]} agent_once "$s" "$tok" || fail "agent at $s: $(tail -n 5 "$T/agent-$s.log")"
done
# C02 has a package of its own named like one CEN will send
mkdir -p "$T/own" "$T/clash" "$T/pkg" "$T/out"
echo "C02's own" >"$T/own/own.txt"
echo "CEN's" >"$T/clash/clash.txt"
on c02 packages add clash --version 1.0 --source "$T/own" >/dev/null || fail "packages add at C02"
pass "CEN > C01 > C02 attached, an agent enrolled at C01 and at C02"

# ---- defined at CEN ----------------------------------------------------------------------
cat >"$T/pkg/install.sh" <<EOF
#!/bin/sh
# records which agent ran it: the work dir lies in that agent's state dir
set -e
test "\$(cat data.txt)" = "payload"
echo "\$(pwd) \$STEWARD_ADVERT" >>"$T/out/ran.log"
echo "installed"
EOF
echo payload >"$T/pkg/data.txt"
on cen collections create approved --query 'state = "approved"' >/dev/null || fail "collections create"
on cen packages add tool --version 1.0 --source "$T/pkg" >/dev/null || fail "packages add"
on cen packages add clash --version 1.0 --source "$T/clash" >/dev/null || fail "packages add clash"
on cen programs add install --package tool@1.0 --command "sh install.sh" --timeout 1m >/dev/null ||
	fail "programs add"
on cen adverts create roll-out --program install --collection approved >/dev/null ||
	fail "adverts create"

from_cen() { on "$1" --json adverts show roll-out 2>/dev/null | jq -e '.origin == "CEN" and .enabled' >/dev/null; }
wait_for 40 "the advertisement at C01" from_cen c01
wait_for 40 "the advertisement at C02" from_cen c02
expect_eq "$(on c02 --json collections show approved | jq -r .query)" 'state = "approved"' "the collection at C02"
expect_eq "$(on c02 --json packages list | jq -r '.[] | select(.name == "tool") | .origin')" CEN "the package's origin at C02"
# signed anew at each site: its agents trust only their own site's key
m_cen=$(on cen --json packages list | jq -r '.[] | select(.name == "tool") | .manifest')
m_c02=$(on c02 --json packages list | jq -r '.[] | select(.name == "tool") | .manifest')
[ "$m_cen" != "$m_c02" ] || fail "C02 serves CEN's manifest, which its agents cannot check"
pass "collection, package, program and advertisement from CEN at C01 and at C02 (through C01)"

# ---- how each went, at CEN -------------------------------------------------------------------------
state_at() { on cen --json hierarchy objects | jq -r --arg s "$1" --arg k "$2" --arg n "$3" \
	'.below[] | select(.site == $s and .kind == $k and .name == $n) | .state'; }
all_applied() {
	local s k
	for s in C01 C02; do
		for k in "collection approved" "package tool@1.0" "program install" "advert roll-out"; do
			[ "$(state_at $s $k)" = applied ] || return 1
		done
	done
}
wait_for 30 "every object applied at C01 and C02, as CEN sees it" all_applied
conflict() { [ "$(state_at C02 package clash@1.0)" = name_conflict ]; }
wait_for 30 "C02's name conflict at CEN" conflict
on cen --json hierarchy objects | jq -r '.below[] | select(.site == "C02" and .name == "clash@1.0") | .detail' |
	grep -q "a local package has this name at C02" || fail "conflict detail: $(on cen --json hierarchy objects)"
expect_eq "$(state_at C01 package clash@1.0)" applied "clash at C01"

	on c02 --json packages show clash | jq -e '.versions[0].origin == ""' >/dev/null ||
	fail "C02's own package clash was overwritten"
on cen hierarchy objects >"$T/objects.out" || fail "hierarchy objects"
cat "$T/objects.out"
grep -qE "^C02 +package +clash@1.0 +name_conflict " "$T/objects.out" || fail "hierarchy objects: $(cat "$T/objects.out")"
pass "CEN shows each object applied at C01 and C02, and C02's name_conflict for its own package"

# ---- the agents run it ------------------------------------------------------------------------------
# metric SITE ROUTE: requests of that route the site answered, whatever the status
metric() { curl -fsS "${URL[$1]}/metrics" | awk -v r="steward_http_requests_total{route=\"$2\"," \
	'index($0, r) == 1 { n += $2 } END { print n + 0 }'; }
link_before=$(metric cen link_content)
for s in c01 c02; do
	SITE_URL=${URL[$s]} agent_once "$s" || fail "agent cycle at $s: $(tail -n 5 "$T/agent-$s.log")"
done
for s in c01 c02; do
	grep -q "$T/agent-$s/.* roll-out$" "$T/out/ran.log" || fail "the agent at $s did not run it: $(cat "$T/out/ran.log" 2>/dev/null)"
done
succeeded() {
	on cen --json status advert roll-out | jq -e '[.clients[] | select(.state == "succeeded") | .site] | sort == ["C01", "C02"]' >/dev/null
}
wait_for 30 "both agents' success at CEN" succeeded
on cen status advert roll-out >"$T/status.out" || fail "status advert"
cat "$T/status.out"
grep -q " C02 " "$T/status.out" || fail "status advert names no site: $(cat "$T/status.out")"
pass "the agents at C01 and C02 ran CEN's program; status advert at CEN counts both, naming each site"

# content: once over each link, whatever the clients
expect_eq "$(grep -c 'package_content_fetched package=tool@1.0 ' "$T/c01.log")" 1 "fetches of tool at C01"
expect_eq "$(grep -c 'package_content_fetched package=tool@1.0 ' "$T/c02.log")" 1 "fetches of tool at C02"
expect_eq "$(metric cen link_content)" "$link_before" "content CEN served over its links while agents ran"
expect_eq "$(metric cen content_get)" 0 "downloads of agents from CEN"
[ "$(metric c01 content_get)" -gt 0 ] || fail "the agent at C01 did not download from C01"
[ "$(metric c02 content_get)" -gt 0 ] || fail "the agent at C02 did not download from C02"
pass "the package's content crossed each link once; agents downloaded from their own site"

# ---- read-only below ---------------------------------------------------------------------------------
refused() {
	local s=$1
	shift
	rc=0
	on "$s" "$@" >"$T/refused.out" 2>&1 || rc=$?
	[ "$rc" != 0 ] || fail "$* at $s was not refused"
	grep -q "object_from_above" "$T/refused.out" || fail "$* at $s: $(cat "$T/refused.out")"
	grep -q "site CEN" "$T/refused.out" || fail "$* at $s names no site: $(cat "$T/refused.out")"
}
refused c01 adverts delete roll-out
refused c02 adverts disable roll-out
refused c01 programs delete install
refused c02 packages delete tool@1.0
refused c01 collections delete approved
from_cen c02 || fail "the advertisement at C02 after the refusals"
pass "at C01 and C02, changing or deleting objects from CEN is refused with object_from_above"

# ---- changes at CEN reach the children ------------------------------------------------------------------
on cen adverts disable roll-out >/dev/null || fail "adverts disable at CEN"
disabled() { on "$1" --json adverts show roll-out | jq -e '.enabled == false' >/dev/null; }
wait_for 30 "the advertisement disabled at C02" disabled c02
disabled c01 || fail "the advertisement at C01 is still enabled"
on cen adverts delete roll-out >/dev/null || fail "adverts delete at CEN"
on cen programs delete install >/dev/null || fail "programs delete at CEN"
gone() { ! on "$1" adverts show roll-out >/dev/null 2>&1 && ! on "$1" programs show install >/dev/null 2>&1; }
wait_for 30 "the advertisement and program gone at C02" gone c02
gone c01 || fail "the advertisement at C01 after its deletion at CEN"
deleted() { [ "$(state_at C02 advert roll-out)" = deleted ]; }
wait_for 30 "C02's report of the deletion at CEN" deleted
pass "disabling, then deleting, the advertisement at CEN reached C01 and C02"

# ---- a site attached later gets what is there ---------------------------------------------------------
named_site c03 C03
attach c03 cen
late() {
	on c03 --json packages list | jq -e 'map(select(.name == "tool" and .origin == "CEN")) | length == 1' >/dev/null &&
		on c03 --json collections show approved >/dev/null 2>&1
}
wait_for 30 "CEN's package and collection at C03, attached later" late
on c03 adverts show roll-out >/dev/null 2>&1 && fail "C03 got the advertisement deleted before it attached"
pass "C03, attached later, gets CEN's collection and packages (not what was deleted)"

# ---- client upgrades offered to a collection from the top ----------------------------------------------
coll_at() { on "$1" --json site show | jq -r '.installs.upgrade_collection // "none"'; }
on cen site client-upgrade --collection approved --hierarchy >"$T/cu.out" || fail "client-upgrade: $(cat "$T/cu.out")"
grep -q "and at every site below the release that site offers" "$T/cu.out" || fail "client-upgrade output: $(cat "$T/cu.out")"
offered() { [ "$(coll_at c02)" = approved ] && [ "$(coll_at c03)" = approved ]; }
wait_for 30 "the client upgrade of 'approved' at C02 and C03" offered
expect_eq "$(coll_at c01)" approved "the client upgrade collection at C01"
on cen site client-upgrade --off --hierarchy >/dev/null || fail "client-upgrade --off"
stopped() { [ "$(coll_at c02)" = none ] && [ "$(coll_at c01)" = none ]; }
wait_for 30 "client upgrades stopped at C01 and C02" stopped
pass "site client-upgrade --hierarchy at CEN offers the release to 'approved' at every site below, and --off stops it"

#!/usr/bin/env bash
# Inventory up the hierarchy: central CEN, C01 below it, C02 below C01, real
# agents at C01 and C02 whose inventories are then changed the way agents
# report (their own real inventory, altered, sealed and signed with their
# key: tests/system/inventory_gen.py).
#   - by default each link sends summaries up: `inventory query --all-sites`
#     at CEN finds the clients of C01 and C02 by a summary field and names
#     their sites; a query on packages says which sites sent only summaries
#   - `links set C01 --inventory full` at CEN: C01's clients become
#     searchable by package; C02's only once C01 also asks full of C02
#     (a site passes on no more than it got)
#   - one change below reaches the top once (one row per client, replaced)
#   - none: a change below is no longer seen above
#   - a kill -9 of C01 while a change passes through: it arrives all the same
. "$(dirname "$0")/lib.sh"
GEN="$(dirname "$0")/inventory_gen.py"

start() {
	local name=$1 code=$2
	shift 2
	named_site "$name" "$code" --checkin_interval 60 --checkin_jitter 0 "$@"
}
sql() { site_sql "${DIR[$1]}" "$2"; }

start cen CEN
start c01 C01
start c02 C02
attach c01 cen
attach c02 c01
pass "C01 below CEN, C02 below C01"

# ---- real agents: two at C01, one at C02 -------------------------------------------------
declare -A ID AT
for s in c01 c02; do
	tok=$(on "$s" --json enroll-tokens create --uses 5 --ttl 1h | jq -r .token)
	names="a b"
	[ "$s" = c02 ] && names="c"
	for n in $names; do
		"$BIN/steward-agent" --server "${URL[$s]}" --state-dir "$T/agent-$n" --enroll-token "$tok" \
			--once --timeout 30 >>"$T/agent-$n.log" 2>&1 || fail "agent $n: $(tail -n 3 "$T/agent-$n.log")"
		[ -s "$T/agent-$n/inventory.json" ] || fail "agent $n kept no inventory.json"
		ID[$n]=$(jq -r .client_id "$T/agent-$n/state.json")
		AT[$n]=$s
	done
done
# post NAME [inventory_gen options]: NAME's real inventory, altered, sent to its site
post() {
	local n=$1 r
	shift
	python3 "$GEN" "$T/agent-$n/inventory.json" "$T/inv-$n.json" "$@" || fail "inventory_gen for $n"
	r=$("$BIN/steward-req" --server "${URL[${AT[$n]}]}" --path /api/v1/inventory \
		--key "$T/agent-$n/client.key" --client "${ID[$n]}" --body-file "$T/inv-$n.json" \
		--print-status) || fail "steward-req for $n"
	expect_status "$r" 200
}
post a --mem 3001 --add-package zz-inv-probe=1.0
post b --mem 3002 --remove-package zz-inv-probe
post c --mem 3003 --add-package zz-inv-probe=1.0
pass "three agents enrolled (a, b at C01; c at C02) and reported changed inventories"

# q QUERY: the --json answer of CEN's query over every site
q() { on cen --json inventory query "$1" --all-sites; }
ids_of() { q "$1" | jq -r '[.clients[] | "\(.id):\(.site)"] | sort | join(" ")'; }
want() { # want NAME...: "id:site" of each, sorted as ids_of gives them
	local n out=()
	for n in "$@"; do
		local site=${AT[$n]}
		out+=("${ID[$n]}:${site^^}")
	done
	printf '%s\n' "${out[@]}" | LC_ALL=C sort | paste -sd' '
}

# ---- summaries by default ---------------------------------------------------------------
MEM='memory.total_mb >= 3001 and memory.total_mb <= 3003'
all_three() { [ "$(ids_of "$MEM")" = "$(want a b c)" ]; }
wait_for 30 "the summaries of a, b (C01) and c (C02) at CEN" all_three
on cen inventory query "$MEM" --all-sites >"$T/q.out" || fail "inventory query --all-sites"
grep -q "${ID[c]}  *[^ ]*  *C02" "$T/q.out" || fail "no C02 row: $(cat "$T/q.out")"
grep -q "${ID[a]}  *[^ ]*  *C01" "$T/q.out" || fail "no C01 row: $(cat "$T/q.out")"
grep -q "^3 clients match" "$T/q.out" || fail "count: $(cat "$T/q.out")"
expect_eq "$(on cen --json inventory query "$MEM" | jq .count)" 0 "the same query without --all-sites"
expect_eq "$(on cen --json sites list | jq -r '.[] | select(.code == "C01") | .inventory')" summary \
	"C01's level at CEN"
expect_eq "$(sql c01 "SELECT inventory FROM sites WHERE code = 'CEN'")" summary "what C01 was asked"
on c01 sites list >"$T/sites.out" || fail "sites list at C01"
grep -q "^CEN  *parent .* summary$" "$T/sites.out" || fail "sites list at C01: $(cat "$T/sites.out")"
grep -q "^C02  *child .* summary$" "$T/sites.out" || fail "sites list at C01: $(cat "$T/sites.out")"
# a query on packages cannot be answered from summaries: it says so
PKG='has_package("zz-inv-probe")'
r=$(q "$PKG")
expect_eq "$(echo "$r" | jq .count)" 0 "package query over summaries"
expect_eq "$(echo "$r" | jq -c '[.not_searched[] | "\(.site) \(.level) \(.clients)"]')" \
	'["C01 summary 2","C02 summary 1"]' "sites not searched"
on cen inventory query "$PKG" --all-sites >"$T/q2.out"
grep -q "^note: C02: 1 client not searched: summary only" "$T/q2.out" || fail "note: $(cat "$T/q2.out")"
pass "summaries: a memory query at CEN finds the clients of C01 and C02 and names their sites; a package query names the sites that sent only summaries"

# ---- full, at the lower of the two links ------------------------------------------------
on cen links set C01 --inventory full >"$T/ls.out" || fail "links set --inventory full"
grep -q "inventory up from C01: full" "$T/ls.out" || fail "links set: $(cat "$T/ls.out")"
# other settings of the link leave its level as it is
on cen links set C01 --rate 0 >/dev/null || fail "links set --rate without --inventory"
expect_eq "$(on cen --json sites list | jq -r '.[] | select(.code == "C01") | .inventory')" full \
	"C01's level after links set --rate"
a_found() { [ "$(ids_of "$PKG")" = "$(want a)" ]; }
wait_for 30 "a's full inventory at CEN" a_found
r=$(q "$PKG")
expect_eq "$(echo "$r" | jq -c '[.not_searched[] | "\(.site) \(.level)"]')" '["C02 summary"]' \
	"C02 still summary (C01 is asked only summaries of it)"
on c01 links set C02 --inventory full >/dev/null || fail "links set C02 at C01"
a_c_found() { [ "$(ids_of "$PKG")" = "$(want a c)" ]; }
wait_for 30 "c's full inventory at CEN through C01" a_c_found
expect_eq "$(q "$PKG" | jq '.not_searched | length')" 0 "sites not searched once all is full"
on cen clients show "${ID[c]}" >"$T/show.out" || fail "clients show of a client below"
grep -q "A client of site C02 (through C01)" "$T/show.out" || fail "clients show: $(cat "$T/show.out")"
grep -q "^Inventory (full" "$T/show.out" || fail "clients show: $(cat "$T/show.out")"
grep -q "Memory:  3003 MiB" "$T/show.out" || fail "clients show: $(cat "$T/show.out")"
pass "full: a package query finds C01's client, then C02's once both links send full; clients show at CEN shows a client below"

# ---- one change below reaches the top once ----------------------------------------------
post c --mem 3333 --add-package zz-inv-probe=1.0
c_new() { [ "$(ids_of 'memory.total_mb = 3333')" = "$(want c)" ]; }
wait_for 30 "c's change at CEN" c_new
expect_eq "$(sql cen "SELECT count(*) FROM site_inventory WHERE client = '${ID[c]}'")" 1 "rows of c at CEN"
expect_eq "$(sql cen "SELECT count(*) FROM site_inventory")" 3 "rows at CEN"
expect_eq "$(sql c01 "SELECT count(*) FROM site_inventory")" 1 "rows at C01 (c only)"
expect_eq "$(sql cen "SELECT site || ' ' || via || ' ' || level FROM site_inventory WHERE client = '${ID[c]}'")" \
	"C02 C01 full" "c's row at CEN"
pass "a change at C02 reaches CEN once: one row per client, replaced"

# ---- kill -9 of C01 while a change passes through ---------------------------------------
post c --mem 3444 --add-package zz-inv-probe=1.0
kill -KILL "${PID[c01]}"
wait "${PID[c01]}" 2>/dev/null || true
SITE_CODE=C01 SITE_DIR=${DIR[c01]} SITE_URL=${URL[c01]} site_restart --site_name "site C01" \
	--enroll_auto_approve true --checkin_interval 60 --checkin_jitter 0
PID[c01]=$SITE_PID
c_kill() { [ "$(ids_of 'memory.total_mb = 3444')" = "$(want c)" ]; }
wait_for 40 "c's change at CEN after C01's kill -9" c_kill
expect_eq "$(sql cen "SELECT count(*) FROM site_inventory WHERE client = '${ID[c]}'")" 1 "rows of c at CEN after the kill"
pass "kill -9 of C01 while a change passed through: it arrived, once"

# ---- none: changes below are no longer seen above ---------------------------------------
on cen links set C01 --inventory none >/dev/null || fail "links set --inventory none"
told() { [ "$(sql c01 "SELECT inventory FROM sites WHERE code = 'CEN'")" = none ]; }
wait_for 30 "C01 told none" told
post b --mem 3999 --remove-package zz-inv-probe
stored_b() { [ "$(on c01 --json inventory show "${ID[b]}" | jq .classes.hardware.memory.total_mb)" = 3999 ]; }
wait_for 10 "b's change at C01" stored_b
sleep 3
expect_eq "$(sql c01 "SELECT count(*) FROM site_outbox WHERE kind = 'inventory'")" 0 "inventory queued at C01 under none"
expect_eq "$(q 'memory.total_mb = 3999' | jq .count)" 0 "b's change seen at CEN under none"
expect_eq "$(q 'memory.total_mb = 3002' | jq .count)" 1 "b as it was before none, at CEN"
pass "none: a change below is not seen above"

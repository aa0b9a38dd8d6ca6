#!/usr/bin/env bash
# Collections over live inventories: six real agents enroll and report; each
# then reports a different inventory (its own real one, altered and sealed
# again) through POST /api/v1/inventory, signed with its own key, while the
# site runs. The issue's example query must select exactly the right
# clients, as a collection and as an ad-hoc query; a changed inventory moves
# a client in or out at once; explain names the deciding clause.
. "$(dirname "$0")/lib.sh"
GEN="$(dirname "$0")/inventory_gen.py"

site_start site --enroll_auto_approve true
TOKEN=$(new_token 10)
NAMES="a b c d e f"
declare -A ID
for n in $NAMES; do
	agent_once $n "$TOKEN" || fail "agent $n did not complete a cycle: $(tail -n 5 "$T/agent-$n.log")"
	[ -s "$T/agent-$n/inventory.json" ] || fail "agent $n kept no inventory.json"
	ID[$n]=$(agent_id $n)
done
pass "six agents enrolled and reported their real inventories"

# post NAME [inventory_gen options]: the agent's real inventory, altered,
# sealed, and sent with its own key; must be stored in full.
post() {
	local n=$1 r
	shift
	python3 "$GEN" "$T/agent-$n/inventory.json" "$T/inv-$n.json" "$@" || fail "inventory_gen for $n"
	r=$("$BIN/steward-req" --server "$SITE_URL" --path /api/v1/inventory \
		--key "$T/agent-$n/client.key" --client "${ID[$n]}" --body-file "$T/inv-$n.json" \
		--print-status) || fail "steward-req for $n"
	expect_status "$r" 200
	expect_eq "$(echo "${r#* }" | jq -r .stored)" full "stored ($n)"
	expect_eq "$(echo "${r#* }" | jq -r .full_hash)" "$(jq -r .full_hash "$T/inv-$n.json")" "full_hash ($n)"
}
DEB="Debian GNU/Linux"
#   a Debian 4096 no nginx -> member      b Debian 8192 nginx   -> no (nginx)
#   c Debian  512 no nginx -> no (memory) d Ubuntu 4096 no nginx -> no (os)
#   e Debian 1024 no nginx -> member (>= is inclusive)
#   f Debian 1023 nginx    -> no
post a --os-name "$DEB" --mem 4096 --remove-package nginx
post b --os-name "$DEB" --mem 8192 --add-package nginx=1.22.1-9
post c --os-name "$DEB" --mem 512 --remove-package nginx
post d --os-name "Ubuntu" --mem 4096 --remove-package nginx
post e --os-name "$DEB" --mem 1024 --remove-package nginx
post f --os-name "$DEB" --mem 1023 --add-package nginx=1.22.1-9
for n in $NAMES; do
	expect_eq "$(ctl --json inventory show "${ID[$n]}" | jq -r .full_hash)" \
		"$(jq -r .full_hash "$T/inv-$n.json")" "stored inventory of $n"
done
expect_eq "$(ctl --json inventory show "${ID[d]}" | jq -r .classes.os.name)" Ubuntu "os.name of d"
expect_eq "$(ctl --json inventory show "${ID[c]}" | jq -r .classes.hardware.memory.total_mb)" 512 "memory of c"
pass "six different inventories posted through the real route, signed by each agent"

sorted() { tr ' ' '\n' | grep -v '^$' | sort | tr '\n' ' '; }
ids() { local n out=""; for n in "$@"; do out="$out ${ID[$n]}"; done; echo "$out" | sorted; }
EXAMPLE='os.name = "Debian GNU/Linux" and memory.total_mb >= 1024 and not has_package("nginx")'
members() { ctl --json collections members web-candidates | jq -r '.[].id' | sorted; }
queried() { ctl --json inventory query "$EXAMPLE" | jq -r '.clients[].id' | sorted; }

ctl collections create web-candidates --query "$EXAMPLE" >"$T/c.out" ||
	fail "create: $(cat "$T/c.out")"
grep -q "2 members" "$T/c.out" || fail "create output: $(cat "$T/c.out")"
expect_eq "$(members)" "$(ids a e)" "web-candidates members"
expect_eq "$(queried)" "$(ids a e)" "inventory query"
expect_eq "$(ctl --json collections show web-candidates | jq -r .members)" 2 "show: member count"
pass "the example query selects exactly a and e, as a collection and as a query"

# ---- explain names the deciding clause -------------------------------------------------
explain() { # NAME -> "member<TAB>reason"
	ctl --json collections explain web-candidates "${ID[$1]}" | jq -r '[.member, .reason] | @tsv'
}
x=$(explain a)
[ "${x%%$'\t'*}" = true ] || fail "explain a: $x"
for clause in 'os.name = "Debian GNU/Linux" is true' 'memory.total_mb >= 1024 is true' \
	'not has_package("nginx") is true'; do
	echo "$x" | grep -qF "$clause" || fail "explain a lacks '$clause': $x"
done
x=$(explain b)
[ "${x%%$'\t'*}" = false ] && echo "$x" | grep -q 'has_package("nginx")' || fail "explain b: $x"
x=$(explain c)
[ "${x%%$'\t'*}" = false ] && echo "$x" | grep -q 'memory.total_mb' || fail "explain c: $x"
echo "$x" | grep -q 'has_package' && fail "explain c names a clause that did not decide: $x"
x=$(explain d)
[ "${x%%$'\t'*}" = false ] && echo "$x" | grep -q 'os.name' || fail "explain d: $x"
echo "$x" | grep -q 'memory.total_mb\|has_package' && fail "explain d names a clause that did not decide: $x"
ctl collections explain web-candidates "${ID[c]}" >"$T/x" || fail "explain (text)"
grep -q "is not a member" "$T/x" && grep -q "memory.total_mb" "$T/x" || fail "explain text: $(cat "$T/x")"
ctl collections explain web-candidates "${ID[a]}" >"$T/x" || fail "explain (text)"
grep -q "is a member" "$T/x" || fail "explain text of a member: $(cat "$T/x")"
pass "explain names the deciding clause for included and excluded clients"

# ---- incremental upkeep: changed inventories move clients at once ------------------------
post a --os-name "$DEB" --mem 4096 --add-package nginx=1.24.0-1 # installs nginx: leaves
expect_eq "$(members)" "$(ids e)" "members after a installed nginx"
expect_eq "$(queried)" "$(ids e)" "query after a installed nginx"
x=$(explain a)
[ "${x%%$'\t'*}" = false ] && echo "$x" | grep -q 'has_package("nginx")' || fail "explain a after nginx: $x"
post c --os-name "$DEB" --mem 2048 --remove-package nginx # more memory: joins
expect_eq "$(members)" "$(ids c e)" "members after c got memory"
post d --os-name "$DEB" --mem 4096 --remove-package nginx # Ubuntu -> Debian: joins
expect_eq "$(members)" "$(ids c d e)" "members after d became Debian"
post b --os-name "$DEB" --mem 8192 --remove-package nginx # removes nginx: joins
expect_eq "$(members)" "$(ids b c d e)" "members after b removed nginx"
post e --os-name "$DEB" --mem 1023 --remove-package nginx # below 1 GiB: leaves
expect_eq "$(members)" "$(ids b c d)" "members after e lost memory"
expect_eq "$(queried)" "$(ids b c d)" "query after the changes"
expect_eq "$(ctl --json collections show web-candidates | jq -r .members)" 3 "show after the changes"
# the agent's own next report (a delta, or a full one after a resync) puts
# back its real inventory: this machine has nginx installed or not
jq '.last_inventory = 0' "$T/agent-b/state.json" >"$T/st" && cp "$T/st" "$T/agent-b/state.json"
agent_once b || fail "agent b's second cycle: $(tail -n 5 "$T/agent-b.log")"
real_mem=$(jq -r .classes.hardware.memory.total_mb "$T/agent-b/inventory.json")
real_os=$(jq -r .classes.os.name "$T/agent-b/inventory.json")
if [ "$real_os" = "$DEB" ] && [ "$real_mem" -ge 1024 ] &&
	! jq -e '.classes.software.packages[] | select(.name == "nginx")' "$T/agent-b/inventory.json" >/dev/null; then
	want="$(ids b c d)"
else
	want="$(ids c d)"
fi
expect_eq "$(members)" "$want" "members after agent b reported its real inventory"
kill -0 "$SITE_PID" || fail "the site died"
pass "membership follows each changed inventory at once, without a restart"

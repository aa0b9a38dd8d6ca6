#!/usr/bin/env bash
# Collections and inventory queries: agents with different inventories,
# query, static and composed collections, explain, delete refusal,
# positioned query errors, persistence across a restart, and membership
# following a client's state at once.
. "$(dirname "$0")/lib.sh"

site_start site
TOKEN=$(new_token 10)
for n in a b c d e; do
	agent_once $n "$TOKEN" || fail "agent $n did not complete a cycle"
done
A=$(agent_id a) B=$(agent_id b) C=$(agent_id c) D=$(agent_id d) E=$(agent_id e)
for id in "$A" "$B" "$C" "$D"; do ctl clients approve "$id" >/dev/null; done
# e stays pending

# inventories written straight into the database while the site is down:
#   a Debian, 4096 MB, no nginx   b Debian, 8192 MB, nginx
#   c Debian, 512 MB, no nginx    d Ubuntu, 4096 MB, no nginx   e Debian, 2048 MB (pending)
site_stop
inv() { # ID OSNAME MEM PACKAGES_JSON
	local hw os sw swh
	hw=$(printf '{"cpu":{"model":"Test CPU","sockets":1,"cores":4,"threads":8},"memory":{"total_mb":%s},"disks":[],"network":[{"name":"eth0","mac":"52:54:00:00:00:01","addresses":["10.1.2.3/24"]}],"dmi":{"vendor":"QEMU","product":"Standard PC","serial":""},"virtualization":"kvm"}' "$3")
	os=$(printf '{"id":"x","name":"%s","version_id":"12","version":"12","pretty_name":"%s 12","kernel_release":"6.1.0-13-amd64","arch":"x86_64","boot_time":0,"timezone":"UTC"}' "$2" "$2")
	sw=$(printf '{"packages":%s,"steward":[]}' "$4")
	# equal software hashes mean equal software: the site reads each set once
	swh=$(printf %s "$sw" | sha256sum | cut -d' ' -f1)
	site_sql "$SITE_DIR" "INSERT INTO inventory(client_rid, received, full_hash, hardware_hash, os_hash, software_hash, hardware, os, software) SELECT rid, 1, 'h', 'h', 'h', '$swh', '$hw', '$os', '$sw' FROM clients WHERE id='$1' ON CONFLICT(client_rid) DO UPDATE SET received = excluded.received, full_hash = excluded.full_hash, hardware_hash = excluded.hardware_hash, os_hash = excluded.os_hash, software_hash = excluded.software_hash, hardware = excluded.hardware, os = excluded.os, software = excluded.software;"
}
NGINX='[{"name":"nginx","version":"1.22.1-9","arch":"amd64","source":"dpkg"},{"name":"openssl","version":"3.0.11-1~deb12u2","arch":"amd64","source":"dpkg"}]'
PLAIN='[{"name":"bash","version":"5.2.15-2+b2","arch":"amd64","source":"dpkg"},{"name":"openssl","version":"3.0.9-1","arch":"amd64","source":"dpkg"}]'
inv "$A" "Debian GNU/Linux" 4096 "$PLAIN"
inv "$B" "Debian GNU/Linux" 8192 "$NGINX"
inv "$C" "Debian GNU/Linux" 512 "$PLAIN"
inv "$D" "Ubuntu" 4096 "$PLAIN"
inv "$E" "Debian GNU/Linux" 2048 "$PLAIN"
site_restart

sorted() { tr ' ' '\n' | grep -v '^$' | sort | tr '\n' ' '; }
EXAMPLE='os.name = "Debian GNU/Linux" and memory.total_mb >= 1024 and not has_package("nginx")'

# ---- ad-hoc queries ---------------------------------------------------------------
got=$(ctl --json inventory query "$EXAMPLE" | jq -r '.clients[].id' | sorted)
expect_eq "$got" "$(echo "$A $E" | sorted)" "the issue's example query"
ctl inventory query "$EXAMPLE" >"$T/q.out" || fail "inventory query (table)"
grep -q "2 clients match" "$T/q.out" || fail "query table: $(cat "$T/q.out")"
got=$(ctl --json inventory query 'package("openssl").version < "3.0.11"' | jq -r '.clients[].id' | sorted)
expect_eq "$got" "$(echo "$A $C $D $E" | sorted)" "package version query"
got=$(ctl --json inventory query 'ip in 10.1.0.0/16 and cpu.cores = 4' | jq -r '.count')
expect_eq "$got" 5 "ip and cpu query"
pass "inventory query selects the right clients"

if ctl inventory query 'os.name = "Debian" and memory.total_mb >= ' 2>"$T/err"; then
	fail "a malformed query was accepted"
fi
grep -q "query_invalid" "$T/err" || fail "no query_invalid: $(cat "$T/err")"
grep -q "column 43" "$T/err" || fail "no position in: $(cat "$T/err")"
expect_status "$(admin_call GET '/api/v1/inventory/query?q=memory.total_mb%20%3E%3D%20%22x%22')" 400 query_invalid
pass "malformed queries get positioned errors"

# ---- collections ----------------------------------------------------------------------
ctl collections create "Debian without nginx" --query "$EXAMPLE" >"$T/c.out" || fail "create query collection"
grep -q "2 members" "$T/c.out" || fail "create output: $(cat "$T/c.out")"
got=$(ctl --json collections members "Debian without nginx" | jq -r '.[].id' | sorted)
expect_eq "$got" "$(echo "$A $E" | sorted)" "query collection members"
ctl collections create Picked --members "$B,$C" >/dev/null || fail "create static collection"
ctl collections create "Approved minus picked" --include "All Clients of site T01" \
	--exclude "Picked,Pending Clients" >/dev/null || fail "create composed collection"
got=$(ctl --json collections members "Approved minus picked" | jq -r '.[].id' | sorted)
expect_eq "$got" "$(echo "$A $D" | sorted)" "composed collection members"
ctl collections list >"$T/list" || fail "collections list"
for n in "All Clients" "Pending Clients" "All Clients of site T01" "Debian without nginx" Picked "Approved minus picked"; do
	grep -q "$n" "$T/list" || fail "collections list lacks '$n': $(cat "$T/list")"
done
expect_eq "$(ctl --json collections show "Pending Clients" | jq -r .members)" 1 "pending built-in"
ctl collections show "Debian without nginx" | grep -q "has_package" || fail "show lacks the query"
pass "query, static and composed collections have the right members"

# ---- explain -------------------------------------------------------------------------------
ctl collections explain "Approved minus picked" "$B" >"$T/x" || fail "explain"
grep -q "is not a member" "$T/x" && grep -q "excluded" "$T/x" && grep -q "Picked" "$T/x" ||
	fail "explain of an excluded client: $(cat "$T/x")"
ctl --json collections explain "Debian without nginx" "$B" | jq -r .reason >"$T/x"
grep -q 'has_package("nginx")' "$T/x" || fail "explain of a query: $(cat "$T/x")"
expect_eq "$(ctl --json collections explain "Debian without nginx" "$A" | jq -r .member)" true "explain member"
pass "explain names the deciding clause"

# ---- refusals -----------------------------------------------------------------------------
if ctl collections delete Picked 2>"$T/err"; then fail "deleted a collection in use"; fi
grep -q "collection_in_use" "$T/err" && grep -q "Approved minus picked" "$T/err" ||
	fail "delete refusal does not say who uses it: $(cat "$T/err")"
if ctl collections create "All Clients" --members "$A" 2>"$T/err"; then fail "took a built-in name"; fi
grep -q collection_builtin "$T/err" || fail "built-in name: $(cat "$T/err")"
if ctl collections create Broken --query 'os.name = ' 2>"$T/err"; then fail "bad query accepted"; fi
grep -q "query_invalid" "$T/err" && grep -q "column 11" "$T/err" || fail "create with a bad query: $(cat "$T/err")"
if ctl collections create Picked --members "$A" 2>"$T/err"; then fail "duplicate name accepted"; fi
grep -q name_exists "$T/err" || fail "duplicate: $(cat "$T/err")"
if ctl collections create Ghost --include Nowhere 2>"$T/err"; then fail "unknown include accepted"; fi
grep -q "Nowhere" "$T/err" || fail "unknown include: $(cat "$T/err")"
expect_status "$(admin_call GET /api/v1/collections/Nowhere)" 404 collection_not_found
pass "delete in use, built-in names, bad queries, duplicates refused"

# ---- persistence and upkeep -----------------------------------------------------------------
site_stop
site_restart
got=$(ctl --json collections members "Approved minus picked" | jq -r '.[].id' | sorted)
expect_eq "$got" "$(echo "$A $D" | sorted)" "composed members after restart"
expect_eq "$(ctl --json collections show Picked | jq -r '.static_members | length')" 2 "static members after restart"

# approving e moves it into the site's collection, and deleting d removes it, at once
ctl clients approve "$E" >/dev/null
ctl clients delete "$D" >/dev/null
got=$(ctl --json collections members "Approved minus picked" | jq -r '.[].id' | sorted)
expect_eq "$got" "$(echo "$A $E" | sorted)" "composed members after approve and delete"
expect_eq "$(ctl --json collections show "Pending Clients" | jq -r .members)" 0 "pending after approve"
pass "definitions persist; memberships follow client changes"

# names compare case-insensitively, in memory and in the store
ctl collections delete "approved MINUS picked" >/dev/null || fail "delete the composed collection"
ctl collections delete picked >/dev/null || fail "delete Picked once unused"
expect_status "$(admin_call GET /api/v1/collections/Picked)" 404 collection_not_found
if ctl collections delete "Pending Clients" 2>"$T/err"; then fail "deleted a built-in"; fi
grep -q collection_builtin "$T/err" || fail "built-in delete: $(cat "$T/err")"
site_stop
site_restart
expect_status "$(admin_call GET /api/v1/collections/Picked)" 404 collection_not_found
expect_eq "$(ctl --json collections list | jq -r '.[].name' | tr '\n' ,)" \
	"All Clients,Pending Clients,All Clients of site T01,Debian without nginx," "collections after restart"
pass "collections delete, and stay deleted"

#!/usr/bin/env bash
# Inventory end to end: a real agent on this machine reports its real
# hardware, OS and packages; stewardctl shows them; later reports are
# deltas; a delta the site cannot apply leads to a full resync; refused
# reports (over a cap, malformed, bad hashes) leave the stored one intact;
# history records what changed.
. "$(dirname "$0")/lib.sh"

site_start s1 --enroll_auto_approve true
tok=$(new_token)
agent_once a1 "$tok" || fail "agent --once failed: $(tail -n 20 "$T/agent-a1.log")"
id=$(agent_id a1)
grep -q 'inventory_sent .*kind=full .*stored=full' "$T/agent-a1.log" ||
	fail "the first report was not a full inventory: $(grep inventory "$T/agent-a1.log")"
pass "the first cycle sends a full inventory"

# ---- show: the machine's real facts --------------------------------------------
ctl inventory show "$id" >"$T/show.out" || fail "inventory show failed"
threads=$(sed -n 's/^CPU topology: .* \([0-9]*\) threads$/\1/p' "$T/show.out")
[ -n "$threads" ] && [ "$threads" -gt 0 ] || fail "CPU threads not > 0: $(cat "$T/show.out")"
mem=$(sed -n 's/^Memory: *\([0-9]*\) MiB$/\1/p' "$T/show.out")
[ -n "$mem" ] && [ "$mem" -gt 0 ] || fail "memory not > 0: $(cat "$T/show.out")"
os_name=$(. /etc/os-release && echo "$NAME")
grep -q "^OS: *$os_name" "$T/show.out" || fail "OS is not '$os_name': $(grep '^OS' "$T/show.out")"
pkgs=$(sed -n 's/^Packages: *\([0-9]*\)$/\1/p' "$T/show.out")
dpkg_n=$(grep -c '^Status: install ok installed$' /var/lib/dpkg/status)
[ "$pkgs" -gt 100 ] || fail "only $pkgs packages"
expect_eq "$pkgs" "$dpkg_n" "package count vs 'install ok installed' stanzas"
pass "inventory show: $threads threads, $mem MiB, $os_name, $pkgs packages"

ctl inventory show "$id" --packages >"$T/showp.out" || fail "inventory show --packages failed"
grep -q '^dpkg  *[^ ]* ' "$T/showp.out" || fail "--packages does not list dpkg itself"
ctl --json inventory show "$id" >"$T/show.json" || fail "inventory show --json failed"
expect_eq "$(jq -r .classes.os.name "$T/show.json")" "$os_name" "--json os.name"
expect_eq "$(jq '.classes.software.packages | length' "$T/show.json")" "$pkgs" "--json packages"
expect_eq "$(jq -r .full_hash "$T/show.json")" "$(jq -r .inventory_hash "$T/agent-a1/state.json")" \
	"stored full_hash vs the agent's"
pass "inventory show --packages and --json"

ctl inventory history "$id" >"$T/hist.out"
grep -q 'software  *first inventory: [0-9]* packages' "$T/hist.out" || fail "history: $(cat "$T/hist.out")"
pass "history records the first inventory"
# ?limit=N: 1 to 1000, anything else refused
expect_eq "$(admin_call GET "/api/v1/clients/$id/inventory/history?limit=1" | cut -d' ' -f2- | jq length)" 1 \
	"history entries with limit=1"
for bad in 0 1001 x "" -1 99999999999999999999; do
	expect_status "$(admin_call GET "/api/v1/clients/$id/inventory/history?limit=$bad")" 400 bad_request
done
pass "history ?limit=1 gives one entry; 0, 1001, x, empty, -1 and an overflow are refused"

# ---- a second report is a delta ---------------------------------------------------
# Not due for inventory_interval (24h): make it due by forgetting when it was sent.
jq '.last_inventory = 0' "$T/agent-a1/state.json" >"$T/st" && cp "$T/st" "$T/agent-a1/state.json"
agent_once a1 || fail "second --once failed"
grep -q 'inventory_sent .*kind=delta .*stored=delta' "$T/agent-a1.log" ||
	fail "the second report was not a delta: $(grep inventory "$T/agent-a1.log")"
pass "the second report is a delta"

# ---- steward-req: requests signed with the agent's own key ------------------------
req() { # req BODY_FILE: prints "STATUS BODY"
	"$BIN/steward-req" --server "$SITE_URL" --path /api/v1/inventory --key "$T/agent-a1/client.key" \
		--client "$id" --body-file "$1" --print-status
}
stored_hash() { ctl --json inventory show "$id" | jq -r .full_hash; }
before=$(stored_hash)

# a delta against a base the site does not hold
jq -c '{schema, base: ("0" * 64), classes: {}, hashes, full_hash}' "$T/agent-a1/inventory.json" >"$T/d.json"
expect_status "$(req "$T/d.json")" 409 inventory_resync
pass "delta against an unknown base -> 409 inventory_resync"

# over the package cap (counts are checked before anything else)
python3 - "$T/agent-a1/inventory.json" "$T/big.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["classes"]["software"]["packages"] = [
    {"name": "p%05d" % i, "version": "1", "arch": "amd64", "source": "dpkg"} for i in range(20001)]
json.dump(d, open(sys.argv[2], "w"))
PY
r=$(req "$T/big.json")
expect_status "$r" 413 inventory_too_large
echo "$r" | grep -q 'the cap packages is 20000' || fail "413 does not name the cap: $r"
pass "over the package cap -> 413 naming the cap"

# over inventory_max_bytes: refused by the HTTP layer, naming the route's limit
head -c 9000000 /dev/zero | tr '\0' ' ' >"$T/huge.json"
r=$(req "$T/huge.json")
expect_status "$r" 413 body_too_large
echo "$r" | grep -q '8388608 bytes for inventory_post' || fail "413 does not name the limit: $r"
pass "over inventory_max_bytes -> 413 naming the limit"

# malformed and damaged
echo '{"schema": 1, "classes": {"hardware": 5}}' >"$T/bad.json"
r=$(req "$T/bad.json")
expect_status "$r" 400 bad_request
echo "$r" | grep -q "classes" || fail "400 does not name the field: $r"
echo 'not json' >"$T/bad2.json"
expect_status "$(req "$T/bad2.json")" 400 bad_request
jq -c '.classes.os.timezone = "Mars/Olympus"' "$T/agent-a1/inventory.json" >"$T/tamper.json"
expect_status "$(req "$T/tamper.json")" 400 inventory_hash_mismatch
pass "malformed -> 400 naming the field; tampered -> 400 inventory_hash_mismatch"

expect_eq "$(stored_hash)" "$before" "stored full_hash after the refusals"
pass "the stored inventory is unchanged after every refusal"

# ---- a real change: history, then the agent's delta needs a resync ---------------------
# A full report (sealed here the way lib/proto does) with one package removed,
# one upgraded and another time zone.
python3 - "$T/agent-a1/inventory.json" "$T/changed.json" <<'PY'
import hashlib, json, sys
d = json.load(open(sys.argv[1]))
cl = d["classes"]
pk = cl["software"]["packages"]
gone = pk.pop(0)
pk[0]["version"] = pk[0]["version"] + "+test1"
cl["os"]["timezone"] = "Mars/Olympus"
def h(o):
    t = json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.blake2b(t.encode(), digest_size=32)
names = ["hardware", "os", "software"]
d["hashes"] = {n: h(cl[n]).hexdigest() for n in names}
d["full_hash"] = hashlib.blake2b(b"".join(bytes.fromhex(d["hashes"][n]) for n in names),
                                 digest_size=32).hexdigest()
json.dump(d, open(sys.argv[2], "w"))
print(gone["name"], pk[0]["name"], file=open(sys.argv[2] + ".names", "w"))
PY
read -r gone upgraded <"$T/changed.json.names"
r=$(req "$T/changed.json")
expect_status "$r" 200
expect_eq "$(echo "${r#* }" | jq -r .stored)" full "stored"
ctl --json inventory history "$id" >"$T/hist.json"
jq -e --arg g "$gone" 'map(select(.class == "software"))[0].change.removed | map(.name) | index($g)' \
	"$T/hist.json" >/dev/null || fail "history does not show $gone removed: $(head -c 600 "$T/hist.json")"
jq -e --arg u "$upgraded" 'map(select(.class == "software"))[0].change.changed[] | select(.name == $u) | .new | endswith("+test1")' \
	"$T/hist.json" >/dev/null || fail "history does not show $upgraded upgraded"
jq -e 'map(select(.class == "os"))[0].change.fields[] | select(.field == "os.timezone") | .new == "Mars/Olympus"' \
	"$T/hist.json" >/dev/null || fail "history does not show the time zone change"
ctl inventory history "$id" >"$T/hist2.out"
grep -q "os.timezone: .* -> Mars/Olympus" "$T/hist2.out" || fail "history text: $(cat "$T/hist2.out")"
pass "history shows packages removed/upgraded and fields old -> new"

# The agent's next delta names a base the site no longer holds: 409, then a
# full report at once, in the same cycle.
jq '.last_inventory = 0' "$T/agent-a1/state.json" >"$T/st" && cp "$T/st" "$T/agent-a1/state.json"
: >"$T/agent-a1.log"
agent_once a1 || fail "third --once failed: $(cat "$T/agent-a1.log")"
grep -q 'inventory_resync' "$T/agent-a1.log" || fail "no resync: $(grep inventory "$T/agent-a1.log")"
grep -q 'inventory_sent .*kind=full .*stored=full' "$T/agent-a1.log" ||
	fail "no full report after the resync: $(grep inventory "$T/agent-a1.log")"
expect_eq "$(stored_hash)" "$(jq -r .inventory_hash "$T/agent-a1/state.json")" "full_hash after resync"
ctl --json inventory history "$id" >"$T/hist3.json"
jq -e --arg g "$gone" 'map(select(.class == "software"))[0].change.added | map(.name) | index($g)' \
	"$T/hist3.json" >/dev/null || fail "history does not show $gone added back"
pass "unknown base -> 409 inventory_resync -> the agent sends a full inventory"

# ---- clients list: inactive -------------------------------------------------------
expect_eq "$(ctl --json clients list | jq -r '.[0].inactive')" false "inactive"
expect_eq "$(ctl --json clients list --inactive | jq length)" 0 "clients list --inactive"
pass "an active client is not inactive"

# not seen for longer than inactive_days: inactive, and still queryable
site_stop
site_sql "$SITE_DIR" "UPDATE checkins SET last_seen = last_seen - 20 * 86400; UPDATE clients SET enrolled = enrolled - 20 * 86400"
site_restart --enroll_auto_approve true
expect_eq "$(ctl --json clients list | jq -r '.[0].inactive')" true "inactive after 20 days"
expect_eq "$(ctl --json clients list --inactive | jq -r '.[0].id')" "$id" "clients list --inactive"
ctl clients list --inactive | grep -q "$id" || fail "clients list --inactive does not show $id"
ctl inventory show "$id" >/dev/null || fail "an inactive client's inventory is not shown"
site_stop
site_restart --enroll_auto_approve true --inactive_days 30
expect_eq "$(ctl --json clients list | jq -r '.[0].inactive')" false "inactive_days 30"
pass "clients not seen for inactive_days are inactive and stay queryable"

# ---- admin routes refuse bad ids and unknown clients --------------------------------
expect_status "$(admin_call GET /api/v1/clients/00000000000000000000000000000000/inventory)" 404 client_not_found
pass "inventory of an unknown client -> 404"

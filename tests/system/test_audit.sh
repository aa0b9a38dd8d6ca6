#!/usr/bin/env bash
# The audit log (docs/security.md#the-audit-log). Generated from the
# route table (stewardd --routes): every write route (not a GET) that takes
# an admin token, called with the admin token, leaves exactly one new entry
# naming the route, the method, the path, the status and the error code;
# a write refused for its role leaves one too, a read none. audit verify
# passes; an entry edited in the database with sqlite3 makes it fail
# naming that entry, and so does an entry deleted.
. "$(dirname "$0")/lib.sh"

on_postgresql || command -v sqlite3 >/dev/null || fail "sqlite3 missing (scripts/deps.sh installs it)"
"$BIN/stewardd" --routes >"$T/routes" || fail "stewardd --routes failed"
site_start audit

# last_id: the id of the newest entry (0 when none)
last_id() {
	local n
	n=$(ctl --json audit list | jq 'if length == 0 then 0 else .[-1].id end') || fail "audit list"
	echo "$n"
}
# entries_after ID: the entries after ID, as JSON
entries_after() {
	curl -fsS -H "Authorization: Bearer $(cat "$ADMIN")" "$SITE_URL/api/v1/audit?after=$1"
}

ctl admins create reader --role read >"$T/read.tok" 2>/dev/null || fail "admins create reader"
expect_eq "$(last_id)" 1 "entries after admins create"
entries_after 0 >"$T/e.json"
expect_eq "$(jq -r '.[0] | "\(.who) \(.role) \(.route) \(.method) \(.path) \(.object) \(.status) \(.peer)"' "$T/e.json")" \
	"admin admin admins_create POST /api/v1/admins/tokens reader 201 127.0.0.1" "the entry of admins create"
expect_eq "$(jq -r '.[0].prev' "$T/e.json")" "" "the first entry's previous hash"
[ "$(jq -r '.[0].hash | length' "$T/e.json")" = 64 ] || fail "the entry has no hash: $(cat "$T/e.json")"

# ---- generated: one entry per write -------------------------------------------------------
PARAM=00000000000000000000000000000000
N=0
while read -r method path perm allow _roles; do
	[ -n "$method" ] && [ "$method" != GET ] && [ "$perm" = token ] || continue
	url=$(echo "$path" | sed -E "s/\{[^}]+\}/$PARAM/g")
	before=$(last_id)
	code=$(curl -sS -o "$T/resp" -w '%{http_code}' -m 10 -X "$method" \
		-H "Authorization: Bearer $(cat "$ADMIN")" -H 'Content-Type: application/json' \
		--data '{}' "$SITE_URL$url") || fail "$method $url: no answer"
	err=$(jq -r '.error.code // ""' "$T/resp" 2>/dev/null || true)
	entries_after "$before" >"$T/new.json"
	expect_eq "$(jq length "$T/new.json")" 1 "new audit entries after $method $path ($code)"
	expect_eq "$(jq -r '.[0] | "\(.who) \(.method) \(.path) \(.status) \(.code)"' "$T/new.json")" \
		"admin $method $url $code $err" "the entry of $method $path"
	# the route's name is the table's: the one in metrics and logs
	rname=$(jq -r '.[0].route' "$T/new.json")
	[ -n "$rname" ] && [ "$rname" != null ] || fail "the entry of $method $path has no route name"
	N=$((N + 1))
done <"$T/routes"
[ "$N" -ge 30 ] || fail "only $N write routes; the route table looks truncated"
pass "$N write routes called with the admin token: one audit entry each, with method, path, status and code"

# a refusal for the role is recorded; a read and a caller without a token are not
before=$(last_id)
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$T/read.tok")" \
	"$SITE_URL/api/v1/clients/$PARAM/approve")
expect_eq "$code" 403 "a read token approving"
curl -fsS -o /dev/null -H "Authorization: Bearer $(cat "$T/read.tok")" "$SITE_URL/api/v1/clients"
curl -sS -o /dev/null -X POST "$SITE_URL/api/v1/clients/$PARAM/approve"
entries_after "$before" >"$T/new.json"
expect_eq "$(jq -r 'map("\(.who) \(.role) \(.route) \(.status) \(.code) \(.object)") | join(";")' "$T/new.json")" \
	"reader read clients_approve 403 role_forbidden $PARAM" "entries after a refused write, a read and no token"
pass "a write refused for its role is recorded with its code; reads and unknown callers are not"

# a revoked token trying a write: recorded, with its holder
ctl admins create gone --role operator >"$T/gone.tok" 2>/dev/null || fail "admins create gone"
ctl admins revoke gone >/dev/null || fail "admins revoke gone"
before=$(last_id)
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$T/gone.tok")" \
	"$SITE_URL/api/v1/clients/$PARAM/block")
expect_eq "$code" 401 "a revoked token blocking"
entries_after "$before" >"$T/new.json"
expect_eq "$(jq -r 'map("\(.who) \(.role) \(.route) \(.status) \(.code)") | join(";")' "$T/new.json")" \
	"gone operator clients_block 401 token_revoked" "the entry of a revoked token's write"
pass "a write tried with a revoked token is recorded with its holder"

# --since and --who
ctl --json audit list --who reader | jq -e 'length == 1 and .[0].who == "reader"' >/dev/null ||
	fail "audit list --who reader: $(ctl --json audit list --who reader)"
ctl --json audit list --since +1h | jq -e 'length == 0' >/dev/null || fail "audit list --since +1h is not empty"
ctl --json audit list --since -1h | jq -e "length == $(last_id)" >/dev/null || fail "audit list --since -1h misses entries"
ctl audit list >"$T/list.out" || fail "audit list"
grep -q "reader.*read.*clients_approve.*403.*role_forbidden" "$T/list.out" ||
	fail "audit list table: $(cat "$T/list.out")"
"$BIN/stewardctl" -s "$SITE_URL" -t "$T/read.tok" audit verify >/dev/null || fail "a read token cannot verify"
pass "audit list --who, --since; the read role may list and verify"

# ---- verify: OK, then an edited entry, then a deleted one ------------------------------------
total=$(last_id)
ctl audit verify >"$T/v.out" || fail "audit verify of an untouched log: $(cat "$T/v.out")"
expect_eq "$(cat "$T/v.out")" "OK: $total audit entries, chained and unchanged" "audit verify"
ctl --json audit verify | jq -e ".ok == true and .count == $total" >/dev/null || fail "audit verify --json"

sq() { site_sql "$SITE_DIR" "$1"; }
# drop_trigger NAME: the trigger on the audit table, in either engine's words
drop_trigger() {
	if on_postgresql; then sq "DROP TRIGGER $1 ON audit"; else sq "DROP TRIGGER $1"; fi
}
# the log refuses changes through SQL while its triggers stand
if sq "UPDATE audit SET who='mallory' WHERE id=3" 2>"$T/sq.err"; then fail "UPDATE of the audit table worked"; fi
grep -q "append-only" "$T/sq.err" || fail "UPDATE refused without saying why: $(cat "$T/sq.err")"
if sq "DELETE FROM audit WHERE id=3" 2>/dev/null; then fail "DELETE from the audit table worked"; fi

IFS='|' read -r who3 st3 <<<"$(sq "SELECT who, status FROM audit WHERE id=3")"
{ drop_trigger audit_no_update && sq "UPDATE audit SET who='mallory' WHERE id=3"; } || fail "edit in SQL"
if ctl audit verify >"$T/v.out" 2>&1; then fail "audit verify passed an edited entry"; fi
grep -q "error: audit_chain_broken: audit entry 3 does not check out: its hash does not match its contents" "$T/v.out" ||
	fail "audit verify of an edited entry: $(cat "$T/v.out")"
sq "UPDATE audit SET who='$who3' WHERE id=3"
ctl audit verify >/dev/null || fail "audit verify after entry 3 was put back"
sq "UPDATE audit SET status=299 WHERE id=3"
if ctl audit verify >"$T/v.out" 2>&1; then fail "audit verify passed an entry whose status was changed"; fi
grep -q "audit entry 3 does not check out" "$T/v.out" || fail "a changed status: $(cat "$T/v.out")"
sq "UPDATE audit SET status=$st3 WHERE id=3"
ctl audit verify >/dev/null || fail "audit verify after entry 3 was put back"
pass "audit verify: OK with the count; an edited entry fails naming it (exit 1)"

{ drop_trigger audit_no_delete && sq "DELETE FROM audit WHERE id=5"; } || fail "delete in SQL"
if ctl audit verify >"$T/v.out" 2>&1; then fail "audit verify passed a deleted entry"; fi
grep -q "error: audit_chain_broken: audit entry 6 does not check out: entry 5 before it is missing (deleted)" "$T/v.out" ||
	fail "audit verify of a deleted entry: $(cat "$T/v.out")"
# the newest entries deleted: the chain alone cannot tell, the running site can
sq "DELETE FROM audit WHERE id >= 5"
if ctl audit verify >"$T/v.out" 2>&1; then fail "audit verify passed a log missing its newest entries"; fi
grep -q "the newest entries were deleted" "$T/v.out" || fail "audit verify of a cut log: $(cat "$T/v.out")"
pass "audit verify names a deleted entry, and a log whose newest entries were deleted"

kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd died"
site_stop || fail "stewardd did not exit 0"

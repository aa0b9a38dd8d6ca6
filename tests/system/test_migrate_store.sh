#!/usr/bin/env bash
# stewardctl site migrate-store: a site filled on SQLite (agents enrolled
# with inventory, steward-sim clients, a collection, a package with its
# blobs, programs, advertisements one of them deleted, admins, the audit
# log) moved into an empty PostgreSQL database, then run there:
#   - refused while stewardd runs (it holds DATA_DIR/stewardd.lock) or
#     another process holds SQLite's write lock, for a URL that is not
#     postgresql://, an unreachable server (the password masked), no site
#     database, an older schema, a target with other tables or already
#     holding steward data; none of these writes a row;
#   - a row PostgreSQL cannot take fails the copy half-way: nothing
#     committed, and the empty schema left is accepted by the next run;
#   - the copy: every table's row count printed and equal, ids, blobs (one
#     of every byte) and text (quotes, backslash, newline, tab, UTF-8, JSON)
#     byte for byte as in SQLite, the sequences past SQLite's
#     AUTOINCREMENT counters, no change queued by the tables' triggers;
#   - stewardd with --database on it shows the same clients, collections,
#     packages, programs, advertisements and audit log (audit verify
#     passes); an agent checks in without enrolling again; new writes get
#     new ids;
#   - upgrade check counts the PostgreSQL database's size
#     (pg_database_size) for the backup.
# The PostgreSQL server is this test's own (tests/tools/pgtmp.sh).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

pg_server_start # tests/tools/pgtmp.sh
URL=$PG_URL
command -v sqlite3 >/dev/null || fail "sqlite3 (the command-line shell) is needed"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")
# migrate ARGS...: stewardctl site migrate-store; exit status in MRC, output in $T/m.out
migrate() {
	MRC=0
	"$CTL" site migrate-store "$@" >"$T/m.out" 2>&1 || MRC=$?
}

# ---- a site on SQLite with some of everything -------------------------------------------
site_start site --enroll_auto_approve true --release_key "$PUB"
TOK=$(new_token 10)
agent_once a1 "$TOK" || fail "agent a1 did not enroll: $(tail -n 5 "$T/agent-a1.log")"
agent_once a2 "$TOK" || fail "agent a2 did not enroll: $(tail -n 5 "$T/agent-a2.log")"
A1=$(agent_id a1)
"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients 20 --concurrency 4 \
	--duration 3s --timeout 5s --setup-timeout 60s --quiet >"$T/sim.out" 2>"$T/sim.log" ||
	fail "steward-sim: $(tail -n 5 "$T/sim.log")"
ctl collections create everyone --query 'os.name != ""' >/dev/null || fail "collections create"
P=$T/pkg
mkdir -p "$P/bin"
printf '#!/bin/sh\necho installed\n' >"$P/bin/install.sh"
head -c 200000 /dev/urandom >"$P/data.bin"
ctl packages add hello --version 1.0 --source "$P" >/dev/null || fail "packages add"
ctl programs add install-hello --package hello@1.0 --command "sh bin/install.sh" >/dev/null ||
	fail "programs add"
ctl adverts create first --program install-hello --collection everyone --available now >/dev/null ||
	fail "adverts create first"
ctl adverts create second --program install-hello --collection everyone --disabled >/dev/null ||
	fail "adverts create second"
ctl adverts delete second >/dev/null || fail "adverts delete"
ctl admins create ops --role operator >/dev/null || fail "admins create"
agent_once a1 || fail "agent a1 check-in"
ctl audit verify >/dev/null || fail "audit verify on SQLite"

# what the site shows, to compare with the site on PostgreSQL
snapshot() {
	ctl --json clients list | jq -S 'sort_by(.id) | map(del(.last_seen))' >"$1.clients"
	ctl --json collections list | jq -S . >"$1.collections"
	ctl --json packages list | jq -S . >"$1.packages"
	ctl --json programs list | jq -S . >"$1.programs"
	ctl --json adverts list | jq -S . >"$1.adverts"
	ctl --json audit list | jq -S . >"$1.audit"
	ctl --json admins list | jq -S . >"$1.admins"
	ctl --json inventory show "$A1" | jq -S . >"$1.inventory"
}
snapshot "$T/before"
N_CLIENTS=$(jq length "$T/before.clients")
[ "$N_CLIENTS" -ge 22 ] || fail "only $N_CLIENTS clients before the move"
pass "a site on SQLite: $N_CLIENTS clients, a collection, a package, adverts, $(jq length "$T/before.audit") audit entries"

# ---- refusals ----------------------------------------------------------------------------
migrate --data-dir "$SITE_DIR" --to "$URL"
expect_eq "$MRC" 1 "exit status while stewardd runs"
grep -q "^error: migrate_source_busy: a stewardd is running on $SITE_DIR" "$T/m.out" ||
	fail "stewardd running: $(cat "$T/m.out")"
grep -q "stop stewardd" "$T/m.out" || fail "no remedy while stewardd runs: $(cat "$T/m.out")"
expect_eq "$(psql_q "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" 0 \
	"tables made while stewardd ran"
site_stop || fail "stewardd did not stop cleanly"
DB=$SITE_DIR/steward.db
# values that show a copy that is not byte for byte: a blob of every byte
# (a revoked token's hash), text with quotes, a backslash, a newline, a
# tab and letters outside ASCII (an unused setting)
ALL=$(for i in $(seq 0 255); do printf '%02x' "$i"; done)
ODD=$(printf 'it'"'"'s "quoted" \\ back\nslash\tand \303\274 \342\234\223 {"a":"\\u00e9"}')
sqlite3 "$DB" "INSERT INTO enroll_tokens(id, hash, uses, expires, revoked, created, created_by)
	VALUES ('00ff00ff00ff00ff', X'$ALL', 1, 0, 1, 0, 'test')" || fail "odd token"
Q="'"
sqlite3 "$DB" "INSERT INTO settings(key, value) VALUES ('t_odd', '${ODD//$Q/$Q$Q}')" || fail "odd setting"
expect_eq "$(sqlite3 "$DB" "SELECT value FROM settings WHERE key = 't_odd'")" "$ODD" "the odd setting in SQLite"
SUM=$(sha256sum <"$DB")

migrate --data-dir "$SITE_DIR" --to "mysql://steward@127.0.0.1/steward"
expect_eq "$MRC" 2 "exit status for a URL that is not postgresql://"
grep -q "^error: usage: --to must be a postgresql://" "$T/m.out" || fail "bad URL: $(cat "$T/m.out")"
migrate --data-dir "$SITE_DIR" --to "postgresql://steward:s3cret@127.0.0.1:1/steward"
expect_eq "$MRC" 1 "exit status for an unreachable server"
grep -q "^error: store_open_failed: cannot connect to postgresql://steward:\*\*\*@127.0.0.1:1/steward" \
	"$T/m.out" || fail "unreachable server: $(cat "$T/m.out")"
grep -q s3cret "$T/m.out" && fail "the password was printed: $(cat "$T/m.out")"
migrate --data-dir "$T/nothing-here" --to "$URL"
expect_eq "$MRC" 1 "exit status without a site database"
grep -q "^error: migrate_source_invalid: no site database at $T/nothing-here/steward.db" "$T/m.out" ||
	fail "no site database: $(cat "$T/m.out")"
# the SQLite write lock: a writer holding it (a stewardd of a version
# without the lock file would) makes it refuse too
printf 'BEGIN IMMEDIATE;\n.shell sleep 4\nROLLBACK;\n' | sqlite3 "$DB" >/dev/null 2>&1 &
HOLD=$!
PIDS+=("$HOLD")
sleep 0.5
migrate --data-dir "$SITE_DIR" --to "$URL"
expect_eq "$MRC" 1 "exit status while another process holds the write lock"
grep -q "^error: migrate_source_busy: the site database $DB is in use" "$T/m.out" ||
	fail "write lock held: $(cat "$T/m.out")"
wait "$HOLD" || true
# a database of an older schema: the new stewardd must migrate it first
mkdir -p "$T/old"
cp "$DB" "$T/old/steward.db"
sqlite3 "$T/old/steward.db" "PRAGMA user_version = 14"
migrate --data-dir "$T/old" --to "$URL"
expect_eq "$MRC" 1 "exit status for an older schema"
grep -q "^error: migrate_source_version: $T/old/steward.db has schema version 14" "$T/m.out" ||
	fail "older schema: $(cat "$T/m.out")"
grep -q "^remedy: start this version's stewardd on the site once" "$T/m.out" ||
	fail "older schema remedy: $(cat "$T/m.out")"
expect_eq "$(psql_q "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" 0 \
	"tables made by a refused migration"
# a database holding tables of something else
psql_q "CREATE DATABASE other" || fail "create database other"
OTHER=${URL%/*}/other
"$PGBIN/psql" -X -q "$OTHER" -c "CREATE TABLE notes (x TEXT)" || fail "a table in other"
migrate --data-dir "$SITE_DIR" --to "$OTHER"
expect_eq "$MRC" 1 "exit status for a target with other tables"
grep -q "^error: migrate_target_not_empty: .*/other is not empty: it holds tables that are not steward's (notes" \
	"$T/m.out" || fail "other tables: $(cat "$T/m.out")"
pass "refused: stewardd running, another writer, a URL that is not postgresql://, an unreachable server (password masked), no database, an older schema, a database of other tables"

# a row PostgreSQL cannot take, in the last client: the copy fails half-way
# and leaves nothing but the empty schema, which the next run accepts
mkdir -p "$T/bad"
cp "$DB" "$T/bad/steward.db"
sqlite3 "$T/bad/steward.db" "UPDATE clients SET min_epoch = 'soon' WHERE rid = (SELECT max(rid) FROM clients)"
migrate --data-dir "$T/bad" --to "$URL"
expect_eq "$MRC" 1 "exit status for a row PostgreSQL cannot take"
grep -q "^error: migrate_failed: clients.min_epoch of row [0-9]* in $T/bad/steward.db is not a whole number" \
	"$T/m.out" || fail "bad row: $(cat "$T/m.out")"
grep -q "^  copied clients " "$T/m.out" && fail "clients reported copied: $(cat "$T/m.out")"
grep -q "^  copied " "$T/m.out" || fail "no table copied before the bad row: $(cat "$T/m.out")"
expect_eq "$(psql_q "SELECT count(*) FROM steward_schema")" 1 "the schema left by the failed copy"
for t in clients settings admins audit packages; do
	expect_eq "$(psql_q "SELECT count(*) FROM $t")" 0 "rows of $t after the failed copy"
done
pass "a copy failing half-way commits nothing"

# ---- the move ----------------------------------------------------------------------------
migrate --data-dir "$SITE_DIR" --to "$URL"
expect_eq "$MRC" 0 "exit status of the move: $(cat "$T/m.out")"
cp "$T/m.out" "$T/move.out"
grep -q "^migrated: [0-9]* tables, [0-9]* rows, every count the same on both sides" "$T/m.out" ||
	fail "no summary: $(cat "$T/m.out")"
grep -q "database = $URL" "$T/m.out" || fail "no next step: $(cat "$T/m.out")"
grep -q "DIFFERS" "$T/m.out" && fail "counts differ: $(cat "$T/m.out")"
expect_eq "$(sha256sum <"$DB")" "$SUM" "the SQLite file after the move"
# every table: its count as printed, and its rows byte for byte (blobs as
# hex, JSON and other text as they are, ids kept), sorted as lines
n=0
for t in $(sqlite3 "$DB" "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"); do
	s=$(sqlite3 "$DB" "SELECT count(*) FROM \"$t\"")
	p=$(psql_q "SELECT count(*) FROM \"$t\"")
	expect_eq "$p" "$s" "rows of $t in PostgreSQL"
	grep -qE "^$t +$s +$s\$" "$T/m.out" || fail "count of $t not printed as $s: $(cat "$T/m.out")"
	cols=$(sqlite3 "$DB" "SELECT group_concat(CASE WHEN type = 'BLOB' THEN 'lower(hex(\"' || name || '\"))' ELSE '\"' || name || '\"' END, ', ') FROM pragma_table_info('$t')")
	sqlite3 -separator '|' "$DB" "SELECT $cols FROM \"$t\"" | sort >"$T/s.txt"
	"$PGBIN/psql" -X -A -t -q -F '|' "$URL" -c "SELECT $(echo "$cols" | sed -E "s/lower\(hex\((\"[a-z_]+\")\)\)/encode(\1, 'hex')/g") FROM \"$t\"" |
		sort >"$T/p.txt"
	diff "$T/s.txt" "$T/p.txt" >"$T/diff.txt" || fail "rows of $t differ: $(head -n 6 "$T/diff.txt")"
	n=$((n + s))
done
[ "$n" -gt 60 ] || fail "only $n rows compared"
expect_eq "$(psql_q "SELECT encode(hash, 'hex') FROM enroll_tokens WHERE id = '00ff00ff00ff00ff'")" "$ALL" \
	"a blob of every byte in PostgreSQL"
expect_eq "$(psql_q "SELECT value FROM settings WHERE key = 't_odd'")" "$ODD" "the odd text in PostgreSQL"
# the adverts' counter: past the deleted one, as SQLite's AUTOINCREMENT was
expect_eq "$(psql_q 'SELECT last_value FROM adverts_rid_seq')" \
	"$(sqlite3 "$DB" "SELECT seq FROM sqlite_sequence WHERE name = 'adverts'")" "adverts_rid_seq"
[ "$(psql_q 'SELECT last_value FROM adverts_rid_seq')" -gt "$(psql_q 'SELECT max(rid) FROM adverts')" ] ||
	fail "adverts_rid_seq not past the deleted advertisement"
pass "moved: every table's rows counted equal and printed, bytes and ids kept, sequences past SQLite's counters"

# a second move into it: refused, nothing changed
BEFORE=$(psql_q 'SELECT count(*) FROM clients')
migrate --data-dir "$SITE_DIR" --to "$URL"
expect_eq "$MRC" 1 "exit status for a target holding steward data"
grep -q "^error: migrate_target_not_empty: postgresql://steward@.* already holds steward data ($BEFORE clients" \
	"$T/m.out" || fail "target not empty: $(cat "$T/m.out")"
expect_eq "$(psql_q 'SELECT count(*) FROM clients')" "$BEFORE" "clients after the refused second move"
pass "a target that holds steward data is refused"

# ---- the site on PostgreSQL --------------------------------------------------------------
site_restart --enroll_auto_approve true --release_key "$PUB" --database "$URL"
grep -q "started .*database=postgresql://steward@" "$T/site.log" ||
	fail "the site did not start on PostgreSQL: $(grep started "$T/site.log" | tail -n 1)"
snapshot "$T/after"
for k in clients collections packages programs adverts audit admins inventory; do
	diff "$T/before.$k" "$T/after.$k" >"$T/diff.txt" || fail "$k differ on PostgreSQL: $(head -n 20 "$T/diff.txt")"
done
ctl audit verify >"$T/verify.out" || fail "audit verify on PostgreSQL: $(cat "$T/verify.out")"
# an agent checks in with the key it enrolled with (no token given)
SEEN=$(psql_q "SELECT k.last_seen FROM checkins k JOIN clients c ON c.rid = k.client_rid WHERE c.id = '$A1'")
sleep 1.1
agent_once a1 || fail "agent a1 check-in on PostgreSQL: $(tail -n 5 "$T/agent-a1.log")"
[ "$(psql_q "SELECT k.last_seen FROM checkins k JOIN clients c ON c.rid = k.client_rid WHERE c.id = '$A1'")" -gt "$SEEN" ] ||
	fail "the check-in of a1 did not reach PostgreSQL"
expect_eq "$(psql_q 'SELECT count(*) FROM clients')" "$N_CLIENTS" "clients after the check-in (no new enrollment)"
# new rows get new ids
ctl adverts create third --program install-hello --collection everyone --disabled >/dev/null ||
	fail "adverts create after the move"
[ "$(psql_q "SELECT rid FROM adverts WHERE name = 'third'")" -gt "$(sqlite3 "$DB" "SELECT seq FROM sqlite_sequence WHERE name = 'adverts'")" ] ||
	fail "the new advertisement took an id SQLite had given"
TOK2=$(new_token 1)
agent_once a3 "$TOK2" || fail "a new agent on PostgreSQL: $(tail -n 5 "$T/agent-a3.log")"
ctl audit verify >/dev/null || fail "audit verify after new entries"
pass "the site on PostgreSQL: the same clients, collections, packages, programs, adverts, admins, inventory and audit log (verified); agents check in without enrolling again; new ids follow the old"

# ---- upgrade check counts the PostgreSQL database ------------------------------------------
V=9.7.0
R=$("$BIN/steward-agent" --version | sed -n 's/.*protocol \([0-9]*-[0-9]*\).*/\1/p')
S=$T/stage
mkdir -p "$S/stewardd/bin" "$S/steward-agent/bin"
cp "$BIN/stewardd" "$S/stewardd/bin/"
cp "$BIN/steward-agent" "$S/steward-agent/bin/"
printf 'stewardd site %s %s\nsteward-agent base %s %s\n' "$V" "$R" "$V" "$R" >"$S/components"
"$CTL" releases build --version "$V" --key "$T/rk" --stage "$S" --out "$T/r.tar.zst" >"$T/build.out" 2>&1 ||
	fail "releases build: $(cat "$T/build.out")"
ctl releases import "$T/r.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
ctl --json upgrade check --to "$V" >"$T/check.out" 2>&1 || true
DBB=$(jq '.items[] | select(.id == "backup") | .data.db_bytes' "$T/check.out")
PGB=$(psql_q 'SELECT pg_database_size(current_database())')
[ -n "$DBB" ] && [ "$DBB" -gt 1000000 ] || fail "upgrade check: database size $DBB on PostgreSQL: $(cat "$T/check.out")"
# the same database, read a moment apart
[ "$DBB" -le $((PGB + 4000000)) ] && [ "$DBB" -ge $((PGB - 4000000)) ] ||
	fail "upgrade check says $DBB bytes, pg_database_size $PGB"
jq -e '.items[] | select(.id == "backup") | .facts[0] | test("database [0-9]+ MiB x 2")' "$T/check.out" >/dev/null ||
	fail "backup facts: $(cat "$T/check.out")"
pass "upgrade check counts the database on PostgreSQL: $DBB bytes (pg_database_size $PGB)"

#!/usr/bin/env bash
# A site on PostgreSQL (database = postgresql://...): check-ins and their
# acknowledgements, kill -9 of stewardd mid-burst, the database server
# stopped under load (503 with Retry-After, nothing acknowledged lost,
# service back by itself when it returns).
#
# The PostgreSQL server is this test's own: tests/tools/pgtmp.sh in $T,
# stopped on exit. Exit 77 (a skip) where PostgreSQL is not installed.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

pg_server_start # tests/tools/pgtmp.sh
URL=$PG_URL
pg_ctl_as() { # pg_ctl as the server's owner (the postgres user under root)
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$PGBIN/pg_ctl" "$@"; else "$PGBIN/pg_ctl" "$@"; fi
}

# burst ACKLOG CLIENTS CONCURRENCY DURATION: steward-sim in the background
# ($SIM), returning once its first check-in was acknowledged
burst() {
	"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients "$2" \
		--concurrency "$3" --duration "$4" --timeout 3s --setup-timeout 60s --ack-log "$1" \
		--json --quiet >"$1.out" 2>"$1.log" &
	SIM=$!
	PIDS+=("$SIM")
	for _ in $(seq 1 600); do
		[ -s "$1" ] && return 0
		kill -0 "$SIM" 2>/dev/null || fail "steward-sim exited before any check-in: $(tail -n 5 "$1.log")"
		sleep 0.1
	done
	fail "no check-in was acknowledged within 60 s"
}
# lost ACKLOG: how many clients of the log have a last_seq in PostgreSQL
# below the highest sequence acknowledged to them
lost() {
	psql_q "DROP TABLE IF EXISTS t_acks; CREATE TABLE t_acks (id TEXT NOT NULL, seq BIGINT NOT NULL)"
	awk '{ print $1 "," $2 }' "$1" >"$1.csv"
	"$PGBIN/psql" -X -q "$URL" -c "\\copy t_acks FROM '$1.csv' WITH (FORMAT csv)" ||
		fail "cannot load $1 into PostgreSQL"
	psql_q "WITH acked AS (SELECT id, max(seq) AS seq FROM t_acks GROUP BY id)
		SELECT count(*) FROM acked LEFT JOIN clients c ON c.id = acked.id
		LEFT JOIN checkins k ON k.client_rid = c.rid
		WHERE k.last_seq IS NULL OR k.last_seq < acked.seq"
}

# ---- a site on it ---------------------------------------------------------------
site_start site --database "$URL"
[ -e "$SITE_DIR/steward.db" ] && fail "stewardd made DATA_DIR/steward.db although database is set"
grep -q "started .*database=postgresql://steward@" "$T/site.log" ||
	fail "the start line does not name the database: $(grep started "$T/site.log")"
[ "$(psql_q 'SELECT max(version) FROM steward_schema')" -ge 15 ] || fail "no schema version in PostgreSQL"
"$BIN/stewardd" --data_dir "$T/bad" --site_code T01 --database "sqlite:///x" -n >"$T/bad.out" 2>&1 &&
	fail "a database that is not a postgresql:// URL was taken"
grep -q "must be a postgresql:// URL" "$T/bad.out" || fail "bad database refused without saying why: $(cat "$T/bad.out")"
pass "a site on PostgreSQL: schema $(psql_q 'SELECT max(version) FROM steward_schema') made there, no SQLite file; a bad URL is refused"

# a database made with another collation than C: the start says so, once
grep -q "database_collation" "$T/site.log" && fail "database_collation on a database made with the C locale"
psql_q "CREATE DATABASE coll TEMPLATE template0 LC_COLLATE 'C.utf8' LC_CTYPE 'C.utf8'" ||
	fail "cannot make a database with collation C.utf8"
"$BIN/stewardd" --listen 127.0.0.1:0 --data_dir "$T/coll" --site_code T02 --database "${URL%/*}/coll" \
	>"$T/coll.log" 2>&1 &
COLL=$!
PIDS+=("$COLL")
wait_for 20 "stewardd on the C.utf8 database" grep -q " started " "$T/coll.log"
kill "$COLL" && wait "$COLL" || true
grep -q 'warn store database_collation collate=C.utf8 .*remedy="make the database with --locale C' "$T/coll.log" ||
	fail "no database_collation warning: $(cat "$T/coll.log")"
pass "a database whose collation is not C is named at start (database_collation)"

# ---- a burst, kill -9 in the middle of it ------------------------------------------
ACKS=$T/acks
burst "$ACKS" 200 32 10s
sleep 2
{ kill -9 "$SITE_PID" && wait "$SITE_PID"; } 2>/dev/null || true
for _ in $(seq 1 300); do
	kill -0 "$SIM" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$SIM" 2>/dev/null && fail "steward-sim still running 30 s after the kill"
wait "$SIM" || true
N_ACKS=$(wc -l <"$ACKS")
[ "$N_ACKS" -ge 100 ] || fail "only $N_ACKS acknowledged check-ins; need 100 for a meaningful test"

LOST=$(lost "$ACKS")
expect_eq "$LOST" 0 "clients whose acknowledged check-ins are missing after kill -9"
pass "kill -9 mid-burst: all $N_ACKS acknowledged check-ins are in PostgreSQL"

# ---- the database server stopped under load -----------------------------------------
site_restart --database "$URL"
ACKS2=$T/acks2
burst "$ACKS2" 50 8 14s
pg_ctl_as -D "$PG/data" -m fast -w -t 30 stop >/dev/null || fail "pg_ctl stop"
sleep 1
# a write while it is down: 503 with Retry-After, and the code that says why
out=$(curl -sS -D "$T/h503" -o "$T/b503" -w '%{http_code}' -X POST \
	-H "Authorization: Bearer $(cat "$ADMIN")" -H 'Content-Type: application/json' \
	--data '{"uses":1,"ttl":3600}' "$SITE_URL/api/v1/enroll-tokens")
expect_eq "$out" 503 "a token made while PostgreSQL is down"
grep -qi '^Retry-After: ' "$T/h503" || fail "503 without Retry-After: $(cat "$T/h503")"
grep -q store_unavailable "$T/b503" || fail "503 without store_unavailable: $(cat "$T/b503")"
sleep 2
kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd exited while PostgreSQL was down: $(tail -n 5 "$T/site.log")"
pg_ctl_as -D "$PG/data" -l "$PG/server.log" -w -t 30 start >/dev/null || fail "pg_ctl start"
wait "$SIM" || true
grep -q "database_unavailable" "$T/site.log" || fail "the site's log does not say the database was unavailable"
# after it returns: check-ins are taken again, without restarting stewardd
"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients 5 --concurrency 4 \
	--duration 3s --timeout 3s --setup-timeout 30s --json --quiet >"$T/sim3.out" 2>"$T/sim3.log" ||
	fail "steward-sim after PostgreSQL came back: $(tail -n 5 "$T/sim3.log")"
jq -e '.checkins > 0 and .errors == 0' "$T/sim3.out" >/dev/null ||
	fail "check-ins did not flow again after PostgreSQL came back: $(cat "$T/sim3.out")"
LOST=$(lost "$ACKS2")
expect_eq "$LOST" 0 "clients whose acknowledged check-ins are missing after the outage"
pass "PostgreSQL stopped under load: 503 with Retry-After and store_unavailable, $(wc -l <"$ACKS2") acknowledged check-ins kept, service back without a restart ($(jq .checkins "$T/sim3.out") check-ins)"

#!/usr/bin/env bash
# kill -9 in the middle of a check-in burst loses no acknowledged check-in.
#
# stewardd answers a check-in only after the group commit that holds it
# (WAL, synchronous=FULL). steward-sim logs "CLIENT_ID SEQ" for every check-in
# answered 200. After SIGKILL the database must be intact and, for every
# client in that log, hold a last_seq at least as high as the highest seq
# acknowledged to it. The restarted site must then serve as before.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
sqlite_only "reads the SQLite file after SIGKILL; on PostgreSQL test_postgresql kills stewardd mid-burst"

command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (scripts/deps.sh installs it)"
command -v jq >/dev/null || fail "jq missing (scripts/deps.sh installs it)"
[ -x "$BIN/steward-sim" ] || fail "steward-sim not built ($BIN/steward-sim)"
"$BIN/steward-sim" --help 2>&1 | grep -q -- --ack-log || fail "steward-sim has no --ack-log"

CLIENTS=${CRASH_CLIENTS:-200}
CONCURRENCY=${CRASH_CONCURRENCY:-32}
MIN_ACKS=100

site_start site
DB=$SITE_DIR/steward.db
ACKS=$T/acks

"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients "$CLIENTS" \
	--concurrency "$CONCURRENCY" --duration 10s --timeout 3s --setup-timeout 60s \
	--ack-log "$ACKS" --json --quiet >"$T/sim.out" 2>"$T/sim.log" &
SIM=$!
PIDS+=("$SIM")

# Wait until the burst is under way (the ack log is written once a second),
# then let it run a little longer so the kill lands in the middle of it.
for _ in $(seq 1 600); do
	[ -s "$ACKS" ] && break
	kill -0 "$SIM" 2>/dev/null || fail "steward-sim exited before any check-in: $(tail -n 5 "$T/sim.log")"
	sleep 0.1
done
[ -s "$ACKS" ] || fail "no check-in was acknowledged within 60 s"
sleep 2
kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd died before the kill"
{ kill -9 "$SITE_PID" && wait "$SITE_PID"; } 2>/dev/null || true
KILLED_AT=$(wc -l <"$ACKS")
pass "stewardd killed with SIGKILL mid-burst (ack log had $KILLED_AT lines)"

# The simulator keeps going until its 10 s are over, failing against the
# dead site, then writes the rest of its ack log and exits.
for _ in $(seq 1 300); do
	kill -0 "$SIM" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$SIM" 2>/dev/null && fail "steward-sim still running 30 s after the kill"
wait "$SIM" || fail "steward-sim exited with $?: $(tail -n 5 "$T/sim.log")"
jq -e '.errors > 0' "$T/sim.out" >/dev/null ||
	fail "steward-sim saw no errors: the kill did not land during the burst ($(cat "$T/sim.out"))"

# The ack log must be well formed, or the checks below prove nothing.
BAD=$(grep -c -v -E '^[0-9a-f]{32} [0-9]+$' "$ACKS" || true)
[ "$BAD" = 0 ] || fail "ack log has $BAD malformed lines: $(grep -v -E '^[0-9a-f]{32} [0-9]+$' "$ACKS" | head -n 3)"
N_ACKS=$(wc -l <"$ACKS")
[ "$N_ACKS" -ge "$MIN_ACKS" ] || fail "only $N_ACKS acknowledged check-ins; need $MIN_ACKS for a meaningful test"

# ---- what is on disk, read before anything else touches the data dir ----
expect_eq "$(sqlite3 "$DB" 'PRAGMA integrity_check')" ok "integrity_check after SIGKILL"

# Where last_seq lives depends on the schema version: clients.last_seq, or
# the narrow checkins table keyed by the client's rowid.
if [ "$(sqlite3 "$DB" "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='checkins'")" = 1 ]; then
	SEQS="SELECT c.id AS id, k.last_seq AS last_seq FROM site.clients c LEFT JOIN site.checkins k ON k.client_rid = c.rid"
else
	SEQS="SELECT id, last_seq FROM site.clients"
fi

# Load the ack log into a scratch database and join it with the site's.
{
	echo "CREATE TABLE acks(id TEXT NOT NULL, seq INTEGER NOT NULL);"
	echo "BEGIN;"
	awk '{ printf "INSERT INTO acks VALUES(\x27%s\x27, %s);\n", $1, $2 }' "$ACKS"
	echo "COMMIT;"
} | sqlite3 "$T/check.db"
expect_eq "$(sqlite3 "$T/check.db" 'SELECT count(*) FROM acks')" "$N_ACKS" "ack rows loaded"

LOST=$(sqlite3 -separator ' ' "$T/check.db" "
	ATTACH '$DB' AS site;
	WITH acked AS (SELECT id, max(seq) AS seq FROM acks GROUP BY id),
	     db AS ($SEQS)
	SELECT acked.id, acked.seq, coalesce(db.last_seq, 'none')
	FROM acked LEFT JOIN db ON db.id = acked.id
	WHERE db.last_seq IS NULL OR db.last_seq < acked.seq
	ORDER BY acked.id;")
if [ -n "$LOST" ]; then
	echo "client acked_seq db_last_seq:" >&2
	echo "$LOST" | head -n 20 >&2
	fail "$(echo "$LOST" | wc -l) clients lost acknowledged check-ins"
fi
N_CLIENTS=$(sqlite3 "$T/check.db" 'SELECT count(DISTINCT id) FROM acks')
pass "$N_ACKS acknowledged check-ins from $N_CLIENTS clients are all in the database"

# ---- the site comes back on the same data dir ----
site_restart
curl -fsS "$SITE_URL/health" | jq -e '.status == "ok"' >/dev/null || fail "/health not ok after restart"
ctl --json clients list >"$T/clients.json" || fail "stewardctl clients list failed after restart"
LISTED=$(jq 'length' "$T/clients.json")
[ "$LISTED" -ge "$N_CLIENTS" ] || fail "site lists $LISTED clients; $N_CLIENTS had acknowledged check-ins"
# the site's own view agrees: every acknowledged seq is at or below last_seq
jq -r '.[] | "\(.id) \(.last_seq)"' "$T/clients.json" | sort >"$T/site_seqs"
sort -k1,1 -k2,2n "$ACKS" | awk '{ m[$1] = $2 } END { for (c in m) print c, m[c] }' | sort >"$T/acked_max"
BEHIND=$(join -a 1 -e none -o 1.1,1.2,2.2 "$T/acked_max" "$T/site_seqs" |
	awk '$3 == "none" || $3 < $2')
[ -z "$BEHIND" ] || fail "the restarted site reports seqs behind acknowledged ones: $(echo "$BEHIND" | head -n 5)"
pass "restarted site serves /health and lists all $LISTED clients with their sequence numbers"

# and takes check-ins again
"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients 5 --concurrency 4 \
	--duration 2s --timeout 3s --setup-timeout 30s --json --quiet >"$T/sim2.out" 2>"$T/sim2.log" ||
	fail "steward-sim after restart: $(tail -n 5 "$T/sim2.log")"
jq -e '.checkins > 0' "$T/sim2.out" >/dev/null || fail "no check-in succeeded after restart: $(cat "$T/sim2.out")"
pass "check-ins flow again after restart ($(jq .checkins "$T/sim2.out") in 2 s)"

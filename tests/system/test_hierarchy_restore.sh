#!/usr/bin/env bash
# A site whose database is restored from a backup (by hand, or by a site
# upgrade that rolls back) loses nothing on its links and applies nothing
# twice. Central CEN, child C01 below it; each is backed up the documented
# way (sqlite3 .backup while it runs), traffic flows both ways, then it is
# stopped and the backup put back (docs/operations.md, Restore):
#   - C01 restored: the status reports it had sent since the backup stay at
#     CEN once each; the pause and the enrollment token CEN sent down since
#     the backup (and C01 had applied, and CEN acknowledged) are applied at
#     C01 again, also when a new message from CEN reaches C01 first;
#     reports C01 queues before its first exchange, numbered from its
#     restored counter, are not taken at CEN for ones it applied
#   - CEN restored: the reports CEN had applied since its backup come up
#     again from C01, each once; a token CEN queues before its first
#     exchange reaches C01
#   - afterwards new messages flow both ways
# docs/internals/hierarchy.md, "A restored site".
. "$(dirname "$0")/lib.sh"
sqlite_only "restores a site from the sqlite3 online backup of its file; the PostgreSQL backup (pg_dump) and restore are test_store's test_backup_restore"

declare -A PORT

# start NAME CODE: a site; remembers its URL, PID, dir
start() {
	local name=$1 code=$2
	named_site "$name" "$code" --checkin_interval 60 --checkin_jitter 0
	PORT[$name]=${SITE_URL##*:}
}
# stop NAME: SIGTERM, and wait for a clean exit
stop() {
	SITE_PID=${PID[$1]} site_stop || fail "$1 did not stop cleanly"
}
# restore NAME BACKUP: the documented restore, the site stopped: the
# database aside with its -wal and -shm, the backup in its place; started
restore() {
	local name=$1 code=${1^^}
	stop "$name"
	mkdir -p "$T/aside-$name"
	mv "${DIR[$name]}"/steward.db* "$T/aside-$name/"
	install -m 600 "$T/backup-$name.db" "${DIR[$name]}/steward.db"
	SITE_CODE=$code SITE_DIR=${DIR[$name]} SITE_URL=${URL[$name]} site_restart \
		--site_name "site $code" --enroll_auto_approve true --checkin_interval 60 \
		--checkin_jitter 0
	PID[$name]=$SITE_PID
}
# backup NAME: sqlite3's online backup while the site runs (docs/operations.md)
backup() {
	rm -f "$T/backup-$1.db"
	sqlite3 "${DIR[$1]}/steward.db" ".backup $T/backup-$1.db" || fail "backup of $1"
	expect_eq "$(sqlite3 "$T/backup-$1.db" "PRAGMA integrity_check")" ok "the backup of $1"
}
sql() { site_sql "${DIR[$1]}" "$2"; }
at_cen() { sql cen "SELECT count(*) FROM site_status WHERE site = 'C01'"; }
distinct_at_cen() {
	sql cen "SELECT count(*) FROM (SELECT DISTINCT client, advert, revision, seq FROM site_status
		WHERE site = 'C01') AS d"
}
# add_status FROM COUNT: COUNT reports at C01 numbered FROM.., as if its
# agents had sent them (the trigger queues each up with its row)
add_status() {
	sql c01 "WITH RECURSIVE i(x) AS (SELECT $1 UNION ALL SELECT x + 1 FROM i WHERE x < $1 + $2 - 1)
		INSERT INTO status_history(advert_rid, client_id, revision, seq, state, exit_code, detail, time)
		SELECT (SELECT rid FROM adverts WHERE name = 'roll-out'), (SELECT id FROM clients ORDER BY rid LIMIT 1),
		       1, x, 'succeeded', 0, '', $(date +%s) FROM i"
}
status_at_cen() { [ "$(at_cen)" = "$1" ]; }
wait_status() {
	wait_for 30 "$1 status reports of C01 at CEN" status_at_cen "$1"
	expect_eq "$(distinct_at_cen)" "$1" "distinct reports of C01 at CEN"
}
paused() { [ "$(on c01 --json site show | jq -r .installs.paused)" = "$1" ]; }
has_token() { [ "$(sql c01 "SELECT count(*) FROM enroll_tokens WHERE id = '$1'")" = 1 ]; }
closed() { on "$1" links set "$2" --schedule "*:00-24=closed" >/dev/null || fail "close $1's link to $2"; }
opened() { on "$1" links set "$2" --schedule all >/dev/null || fail "open $1's link to $2"; }

start cen CEN
start c01 C01
attach c01 cen
# two agents at C01 and an advertisement for their status reports
tok=$(on c01 --json enroll-tokens create --uses 5 --ttl 1h | jq -r .token)
for i in 1 2; do
	"$BIN/steward-agent" --server "${URL[c01]}" --state-dir "$T/ag-$i" --enroll-token "$tok" \
		--once --timeout 30 >>"$T/agent-$i.log" 2>&1 || fail "agent $i: $(tail -n 3 "$T/agent-$i.log")"
done
mkdir -p "$T/pkg"
echo x >"$T/pkg/file.txt"
on c01 packages add tool --version 1.0 --source "$T/pkg" >/dev/null || fail "packages add"
on c01 programs add install --package tool@1.0 --command "true" >/dev/null || fail "programs add"
on c01 adverts create roll-out --program install --collection "All Clients" >/dev/null ||
	fail "adverts create"
clients_up() { [ "$(sql cen "SELECT count(*) FROM site_clients WHERE site = 'C01'")" = 2 ]; }
wait_for 30 "C01's clients at CEN" clients_up
add_status 1 20
wait_status 20
pass "CEN > C01 attached; C01's clients and 20 status reports at CEN"

# ---- C01 restored --------------------------------------------------------------------------------
# the backup holds 10 reports still waiting in C01's outbox (its link
# closed), and the link closed: after the restore C01 queues before it sends
closed c01 CEN
add_status 21 10
backup c01
opened c01 CEN
wait_status 30
# since the backup: reports up, a pause and a token down (applied at C01)
add_status 31 20
wait_status 50
on cen site pause-installs --hierarchy --reason "restore test" >/dev/null || fail "pause-installs"
tid=$(on cen --json enroll-tokens create --uses 5 --ttl 1h --hierarchy | jq -r .id)
[ -n "$tid" ] && [ "$tid" != null ] || fail "enroll-tokens create --hierarchy"
wait_for 20 "the pause at C01" paused true
wait_for 20 "the token at C01" has_token "$tid"
restore c01
expect_eq "$(on c01 --json site show | jq -r .installs.paused)" false "C01 right after the restore"
has_token "$tid" && fail "the restored C01 has the token already"
# a new message from CEN reaches the restarted C01 first: applied, it would
# lift C01's counter past the gap, and CEN would never see what C01 lost
on cen site pause-adverts --hierarchy --reason "right after" >/dev/null || fail "pause-adverts"
ads_paused() { [ "$(on c01 --json status advert roll-out | jq -r .adverts_paused)" = "$1" ]; }
wait_for 20 "advertisements paused at C01" ads_paused true
# numbered from the restored counter, queued before C01's first exchange
add_status 51 20
# its first batch carries its new epoch: CEN hears at once what C01 has
opened c01 CEN
wait_for 20 "the pause at C01 again" paused true
wait_for 20 "the token at C01 again" has_token "$tid"
expect_eq "$(on c01 --json site show | jq -r .installs.reason)" "restore test" "the reason at C01"
wait_status 70
left() { [ "$(sql c01 "SELECT count(*) FROM site_outbox WHERE link = 'CEN' AND kind = 'status'")" = 0 ]; }
wait_for 10 "C01's outbox to drain" left
pass "C01 restored: the pause and the token from CEN applied again, 70 reports at CEN, each once"

# ---- CEN restored --------------------------------------------------------------------------------
closed cen C01
backup cen
opened cen C01
add_status 71 20
wait_status 90
on cen site resume-installs --hierarchy >/dev/null || fail "resume-installs"
wait_for 20 "installs resumed at C01" paused false
restore cen
expect_eq "$(at_cen)" 70 "reports at CEN right after its restore"
# queued at CEN before its first exchange, from its restored counter
tid2=$(on cen --json enroll-tokens create --uses 5 --ttl 1h --hierarchy | jq -r .id)
# CEN's first batch carries its new epoch: C01 hears at once what CEN has
opened cen C01
wait_for 20 "the token made after CEN's restore at C01" has_token "$tid2"
wait_status 90
pass "CEN restored: the 20 reports it had lost came up again from C01, each once; its new token reached C01"

# ---- new messages, both ways ---------------------------------------------------------------------
add_status 91 10
wait_status 100
on cen site resume-adverts --hierarchy >/dev/null || fail "resume-adverts"
wait_for 20 "advertisements resumed at C01" ads_paused false
pass "after both restores, reports flow up and pauses down"

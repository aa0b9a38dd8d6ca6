#!/usr/bin/env bash
# A request captured before a restart and replayed after it is refused.
#
# Every signed or MACed request's sequence number is in the database before
# its reply (docs/internals/protocol.md, "Replay across restarts"): a
# session open, a check-in (accepted or refused), an inventory report, a
# software distribution status report and a site-link batch (applied or
# refused).
# For each, the test captures the exact bytes of a real request
# (steward-req --save-request), sends it once, stops stewardd with SIGKILL
# right after the reply (or with SIGTERM), starts it again on the same
# database and sends the captured bytes again (steward-rawhttp): refused
# with replayed_sequence, and the database unchanged by it.
. "$(dirname "$0")/lib.sh"

on_postgresql || command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (scripts/deps.sh installs it)"
REQ=$BIN/steward-req
RAW=$BIN/steward-rawhttp
GEN="$(dirname "$0")/inventory_gen.py"
[ -x "$REQ" ] || fail "steward-req not built ($REQ)"
[ -x "$RAW" ] || fail "steward-rawhttp not built ($RAW)"

# steward-rawhttp replays the captured bytes as they are: the sites of this
# test serve plain HTTP (what is stored when does not depend on TLS, which
# test_tls covers; without TLS a capture is easy, which is the case here)
PLAIN=(--tls false)

# ---- one site, one enrolled agent ----------------------------------------------------------
named_site site T01 "${PLAIN[@]}"
agent_once a "$(new_token 1)" || fail "agent a could not enroll: $(tail -n 5 "$T/agent-a.log")"
ID=$(agent_id a)
KEY=$T/agent-a/client.key
[ "$(ctl --json clients show "$ID" | jq -r .state)" = approved ] || fail "agent a not approved"
DB=${DIR[site]}

# Sequence numbers like the agent's (unix ms), above what it used.
SEQ=$(($(date +%s%3N) + 1000))

# capture NAME [steward-req args...]: send one request as client a with the
# next sequence number, saving its bytes in $T/NAME.http; "STATUS BODY" in R
capture() {
	local name=$1
	shift
	SEQ=$((SEQ + 10))
	R=$("$REQ" --server "${URL[site]}" --key "$KEY" --client "$ID" --seq "$SEQ" \
		--save-request "$T/$name.http" --print-status "$@") || fail "steward-req $name failed"
}

# replay NAME URL: send the captured bytes again; the rawhttp line in R
replay() {
	local port=${2##*:}
	R=$("$RAW" --port "$port" --send-file "$T/$1.http" --linger-ms 100) ||
		fail "steward-rawhttp could not replay $1"
}

# expect_refused NAME: R (from replay) is a 401 replayed_sequence
expect_refused() {
	case $R in
	*"status=401 code=replayed_sequence "*) ;;
	*) fail "$1 replayed after the restart: $R" ;;
	esac
}

# db_state DIR [receiver]: what a replay must not change in the database of
# the site of data dir DIR: every row of every
# table (taken after the restart, so what stewardd writes at start is in
# both). With "receiver", for the receiving end of a site link, what the
# site's own senders change meanwhile (their outbox, the sending half of a
# link's row) is left out: only what an applied batch would change counts.
db_state() {
	local t skip="'sqlite_sequence'" tables
	[ "${2:-}" = receiver ] &&
		skip="$skip, 'sites', 'site_outbox', 'site_outbox_held', 'site_outbox_kept'"
	if on_postgresql; then
		tables="SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ($skip) ORDER BY 1"
	else
		tables="SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ($skip) ORDER BY name"
	fi
	for t in $(site_sql "$1" "$tables"); do
		echo "== $t"
		site_sql "$1" "SELECT * FROM \"$t\" ORDER BY 1" 2>/dev/null || true
	done
	if [ "${2:-}" = receiver ]; then
		echo "== sites (receiving)"
		site_sql "$1" "SELECT code, attached, last_in, in_req_seq, in_applied0, in_applied1,
				in_applied2 FROM sites ORDER BY code"
	fi
}

# restart_site NAME HOW: stop NAME with SIGKILL (kill9) or SIGTERM (term),
# start it again on the same port and database
restart_site() {
	local name=$1 how=$2
	SITE_URL=${URL[$name]} SITE_PID=${PID[$name]} SITE_DIR=${DIR[$name]}
	if [ "$how" = kill9 ]; then
		{ kill -9 "$SITE_PID" && wait "$SITE_PID"; } 2>/dev/null || true
	else
		site_stop || fail "$name did not exit 0 on SIGTERM"
	fi
	SITE_CODE=$3 site_restart --site_name "site $3" --enroll_auto_approve true "${PLAIN[@]}"
	PID[$name]=$SITE_PID
}

GOOD='{"agent_version":"0.1.0","protocol":{"min":1,"max":1},"uptime":5}'
python3 "$GEN" "$T/agent-a/inventory.json" "$T/inv1.json" --add-package replay-a=1 ||
	fail "inventory_gen"
python3 "$GEN" "$T/agent-a/inventory.json" "$T/inv2.json" --add-package replay-b=1 ||
	fail "inventory_gen"
stored_hash() { ctl --json inventory show "$ID" | jq -r .full_hash; }

# ---- each kind of agent request, kill -9 right after its reply ----------------------------
# kind NAME STATUS steward-req-args...: capture, accepted with STATUS, kill
# -9 at once, restart, replay: refused, nothing changed
kind() {
	local name=$1 st=$2 before after
	shift 2
	capture "$name" "$@"
	expect_status "$R" "$st"
	restart_site site kill9 T01
	before=$(db_state "$DB")
	replay "$name" "${URL[site]}"
	expect_refused "$name (kill -9)"
	after=$(db_state "$DB")
	[ "$before" = "$after" ] || fail "$name: the replay changed the database: $(diff <(echo "$before") <(echo "$after") | head -n 20)"
}

kind session 200 --path /api/v1/session --body '{}'
pass "a session open captured before a kill -9 is refused after the restart"

kind checkin 200 --path /api/v1/checkin --session-from-site \
	--body '{"agent_version":"0.1.0","protocol":{"min":1,"max":1},"uptime":7,"status":[{"type":"replay_test","text":"once","time":1764000000}]}'
expect_eq "$(site_sql "$DB" "SELECT count(*) FROM status_messages WHERE type = 'replay_test'")" 1 \
	"status messages of the captured check-in"
pass "a MACed check-in captured before a kill -9 is refused after the restart (its status message stored once)"

kind checkin_refused 400 --path /api/v1/checkin --body '{"agent_version":'
pass "a refused check-in's sequence number is kept too"

# the captured report, then a newer one: the replay must not bring the old one back
capture inventory --path /api/v1/inventory --body-file "$T/inv1.json"
expect_status "$R" 200
SEQ=$((SEQ + 10))
R=$("$REQ" --server "${URL[site]}" --key "$KEY" --client "$ID" --seq "$SEQ" --print-status \
	--path /api/v1/inventory --body-file "$T/inv2.json") || fail "steward-req inventory 2"
expect_status "$R" 200
restart_site site kill9 T01
replay inventory "${URL[site]}"
expect_refused "inventory (kill -9)"
expect_eq "$(stored_hash)" "$(jq -r .full_hash "$T/inv2.json")" "stored inventory after the replay"
pass "an inventory report captured before a kill -9 is refused after the restart; the newer one stays"

kind status 200 --path /api/v1/agent/status \
	--body '{"messages":[{"seq":1,"advert":999999,"revision":1,"state":"succeeded","time":1764000000}]}'
pass "a status report captured before a kill -9 is refused after the restart"

# ---- the same after SIGTERM ---------------------------------------------------------------
# the check-in first: it always stored its number, and the numbers of the
# others (above it) are what this round tests
capture t_checkin --path /api/v1/checkin --body "$GOOD"
expect_status "$R" 200
capture t_session --path /api/v1/session --body '{}'
expect_status "$R" 200
capture t_inventory --path /api/v1/inventory --body-file "$T/inv1.json"
expect_status "$R" 200
capture t_status --path /api/v1/agent/status --body '{"messages":[]}'
expect_status "$R" 200
restart_site site term T01
before=$(db_state "$DB")
for k in t_checkin t_session t_inventory t_status; do
	replay "$k" "${URL[site]}"
	expect_refused "$k (SIGTERM)"
done
expect_eq "$(db_state "$DB")" "$before" "the database after the replays (SIGTERM)"
pass "session open, check-in, inventory and status captured before a SIGTERM are refused after the restart"

# the real agent goes on as before: its sequence numbers are its clock's
agent_once a || fail "agent a cannot check in after the replays: $(tail -n 5 "$T/agent-a.log")"
pass "the agent still checks in"

# ---- a site-link batch between two sites ---------------------------------------------------
named_site cen CEN "${PLAIN[@]}"
named_site c01 C01 "${PLAIN[@]}"
attach c01 cen
# C01 itself sends nothing meanwhile: its own batches would raise the
# sequence above the captured one and hide what is tested here
on c01 links set CEN --schedule "*:00-24=closed" >/dev/null
sleep 2
# Sequence numbers an hour ahead of C01's clock: C01 still sends a batch
# to tell a restarted CEN what it has (the link's epoch), schedule or not,
# and with a sequence above the captured one that batch would hide a
# replay that was not refused.
SEQ=$(($(date +%s%3N) + 3600000))
SKEY=${DIR[c01]}/site.key
[ -f "$SKEY" ] || fail "no site key at C01"
CDB=${DIR[cen]}
link_capture() { # NAME BODY: a batch from C01 to CEN signed with C01's key
	SEQ=$((SEQ + 10))
	R=$("$REQ" --server "${URL[cen]}" --path /site-link/batch --key "$SKEY" --as-site C01 --zstd \
		--seq "$SEQ" --save-request "$T/$1.http" --print-status --body "$2") ||
		fail "steward-req $1 failed"
}
batch='{"format":"steward-link-batch-1","from":"C01","to":"CEN","messages":[{"seq":999999999,"class":1,"kind":"status","body":{"advert":"x","client":"00000000000000000000000000000001","revision":1,"seq":1,"state":"succeeded","exit_code":0,"detail":"","time":1}}]}'
for how in kill9 term; do
	link_capture "batch_$how" "$batch"
	expect_status "$R" 200
	link_capture "misdirected_$how" "${batch/\"to\":\"CEN\"/\"to\":\"C02\"}"
	expect_status "$R" 400 batch_misdirected
	restart_site cen "$how" CEN
	before=$(db_state "$CDB" receiver)
	replay "batch_$how" "${URL[cen]}"
	expect_refused "a site-link batch ($how)"
	replay "misdirected_$how" "${URL[cen]}"
	expect_refused "a refused site-link batch ($how)"
	expect_eq "$(db_state "$CDB" receiver)" "$before" "CEN's database after the replays ($how)"
	batch=${batch/999999999/1000000000}
done
pass "a site-link batch (applied or refused) captured before a kill -9 or a SIGTERM is refused after the restart"

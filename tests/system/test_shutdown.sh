#!/usr/bin/env bash
# SIGTERM under load: stewardd stops accepting, finishes in-flight requests
# (check-ins waiting for their commit included), flushes the writer and
# exits 0; every acknowledged check-in is in the database.
# Regression: handlers on kept-alive connections used the writer after it
# was freed during shutdown (exit 139 about one time in three).
. "$(dirname "$0")/lib.sh"

on_postgresql || command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (scripts/deps.sh installs it)"

for round in 1 2 3; do
	site_start "site$round"
	"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients 50 \
		--concurrency 32 --duration 6s --timeout 2s --setup-timeout 30s \
		--ack-log "$T/acks$round" --quiet >"$T/sim$round.log" 2>&1 &
	SIM=$!
	PIDS+=("$SIM")
	# wait until check-ins are flowing, then stop the site mid-burst
	for _ in $(seq 1 100); do
		[ -s "$T/acks$round" ] && break
		sleep 0.1
	done
	sleep 1
	[ -s "$T/acks$round" ] || fail "round $round: no check-in was acknowledged before SIGTERM"
	site_stop || fail "round $round: stewardd did not exit 0 on SIGTERM under load (rc=$?)"
	wait "$SIM" || true
	expect_eq "$(site_db_ok "$SITE_DIR")" ok "integrity after shutdown"
	# every acknowledged (client, seq) is durable
	MISSING=$(sort -k1,1 -k2,2n "$T/acks$round" | awk '{m[$1]=$2} END {for (c in m) print c, m[c]}' |
		while read -r id seq; do
			got=$(site_sql "$SITE_DIR" "SELECT k.last_seq FROM checkins k JOIN clients c ON c.rid = k.client_rid WHERE c.id='$id'")
			[ -n "$got" ] && [ "$got" -ge "$seq" ] || echo "$id acked=$seq db=${got:-none}"
		done)
	[ -z "$MISSING" ] || fail "round $round: acknowledged check-ins lost: $MISSING"
	pass "round $round: clean exit under load, $(wc -l <"$T/acks$round") acknowledged check-ins all durable"
done

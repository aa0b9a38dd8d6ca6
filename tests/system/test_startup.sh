#!/usr/bin/env bash
# Start-up and the site's files: --key=value flags, friendly refusals, file
# modes, and a client registry that grows past its initial size.
. "$(dirname "$0")/lib.sh"

# --key=value is the same as --key value, and does not eat the next argument
"$BIN/stewardd" --site_code=ABC --listen=127.0.0.1:9 -n >"$T/n.out" 2>&1 || fail "--key=value refused: $(cat "$T/n.out")"
grep -q "configuration ok" "$T/n.out" || fail "-n after --key=value was lost"
pass "--key=value flags"

# a bad log level names the allowed values, not a length
if "$BIN/stewardd" --site_code ABC --log_level verbose -n >"$T/ll.out" 2>&1; then fail "log_level verbose accepted"; fi
grep -q "must be debug, info, warn or error" "$T/ll.out" || fail "unhelpful log_level refusal: $(cat "$T/ll.out")"
pass "log_level refusal names the choices"

# a data_dir that is a file is refused for what it is
touch "$T/notadir"
if "$BIN/stewardd" --site_code ABC --data_dir "$T/notadir" --listen 127.0.0.1:0 >"$T/dd.out" 2>&1; then
	fail "a file accepted as data_dir"
fi
grep -q "Not a directory" "$T/dd.out" || fail "data_dir refusal does not say why: $(cat "$T/dd.out")"
pass "data_dir that is a file refused"

# every file the site keeps is private
site_start site
files="site.secret admin.token tls.key"
on_postgresql || files="steward.db $files" # else the database is in PostgreSQL
for f in $files; do
	mode=$(stat -c %a "$SITE_DIR/$f")
	expect_eq "$mode" 600 "mode of $f"
done
pass "data files are 0600"

# more clients than the registry's first table holds: all of them keep
# checking in, and all are there after a restart
N=5000
"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients $N --concurrency 32 \
	--duration 3s --timeout 5s --setup-timeout 120s --json --quiet >"$T/sim.json" 2>"$T/sim.log" ||
	fail "steward-sim: $(tail -3 "$T/sim.log")"
expect_eq "$(jq .errors "$T/sim.json")" 0 "check-in errors with $N clients"
expect_eq "$(ctl --json clients list | jq length)" $N "clients listed"
# the write-ahead log is checkpointed and restarted as it goes: it must not
# grow with every enrollment (it reached 96 MB for 5,000 when checkpoints
# ran on a thread of their own and never completed between writes)
WAL=$(stat -c %s "$SITE_DIR/steward.db-wal" 2>/dev/null || echo 0)
[ "$WAL" -lt $((32 * 1024 * 1024)) ] || fail "write-ahead log is $WAL bytes after $N enrollments"
site_stop
site_restart
expect_eq "$(ctl --json clients list | jq length)" $N "clients after restart"
curl -s "$SITE_URL/metrics" | grep -q "steward_clients{state=\"approved\"} $N\|steward_clients{state=\"pending\"} $N" ||
	fail "metrics do not count $N clients: $(curl -s "$SITE_URL/metrics" | grep steward_clients)"
pass "$N clients enrolled, checked in and survived a restart"

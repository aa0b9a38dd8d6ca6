#!/usr/bin/env bash
# A hierarchy of real sites on loopback: central CEN, child C01 below it
# (its link to CEN runs through steward-linkproxy, a link that can be cut),
# and C02 below C01.
#   - attaching: one-time tokens that carry the parent key's fingerprint;
#     a malformed, foreign, expired or used token is refused, nothing attached
#   - clients and status travel up, from C02 through C01 to CEN
#   - a kill -9 of the child and of the parent in the middle of replication:
#     every status report arrives exactly once (rows counted)
#   - a link cut for 60 s: replication resumes by itself
#   - a link closed by its schedule sends nothing; a rate-limited link keeps
#     within 10% of its rate over a minute (bytes counted at the receiver)
#   - pause-installs --hierarchy reaches every site below
#   - bad input on the site link, each refused with its code, nothing applied
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/linkproxy.sh"

REQ=$BIN/steward-req
declare -A PORT

# start NAME CODE [stewardd args...]: a site; remembers its URL, PID, dir
start() {
	local name=$1 code=$2
	shift 2
	named_site "$name" "$code" --link_seen_interval 2 --checkin_interval 60 --checkin_jitter 0 "$@"
	PORT[$name]=${SITE_URL##*:}
}
# restart NAME CODE: the same site again (same port and data) after a kill
restart() {
	local name=$1 code=$2
	SITE_CODE=$code SITE_DIR=${DIR[$name]} SITE_URL=${URL[$name]} site_restart \
		--site_name "site $code" --enroll_auto_approve true --link_seen_interval 2 \
		--checkin_interval 60 --checkin_jitter 0
	PID[$name]=$SITE_PID
}
sql() { site_sql "${DIR[$1]}" "$2"; }
# the SQL function that makes a character of a code point, in each engine
CHR=char
on_postgresql && CHR=chr
# rand_hex N: an SQL expression of N random hex digits for each row of the
# recursive i(x) below (random, so that zstd cannot shrink the batches)
rand_hex() {
	if on_postgresql; then
		echo "substr((SELECT string_agg(md5(random()::text), '') FROM generate_series(0, x * 0 + $1 / 32)), 1, $1)"
	else
		echo "substr(hex(randomblob($1 + 1)), 1, $1)"
	fi
}
below_status() { sql cen "SELECT count(*) FROM site_status WHERE site = '$1'"; }

start cen CEN
start c01 C01
start c02 C02
# C01's link up to CEN runs through a link that can be cut
linkproxy_start lp "127.0.0.1:${PORT[cen]}"

# ---- attaching ------------------------------------------------------------------------------
tok=$(on cen sites attach-token create --ttl 1h 2>/dev/null) || fail "attach-token create"
[[ $tok == stwsite1.* ]] || fail "token: $tok"
fp=${tok##*.}
attach_fails() { # attach_fails CODE TOKEN: refused with CODE, nothing attached
	local rc=0
	on c01 sites attach --parent "$LP_URL" --token "$2" >"$T/attach.out" 2>&1 || rc=$?
	expect_eq "$rc" 1 "exit status of an attach that must fail with $1"
	grep -q "^error: $1:" "$T/attach.out" || fail "expected $1: $(cat "$T/attach.out")"
	expect_eq "$(sql c01 "SELECT count(*) FROM sites")" 0 "sites at C01 after a refused attach"
}
attach_fails attach_token_invalid "stwsite1.garbage"
# a token made by another site: its pin is not CEN's certificate (refused
# in the handshake, before the token is sent)
other=$(on c02 sites attach-token create 2>/dev/null)
attach_fails tls_pin_mismatch "$other"
# a token with CEN's id, secret and pin but another fingerprint
attach_fails attach_fingerprint_mismatch \
	"$(echo "$tok" | awk -F . -v z="$(printf '0%.0s' $(seq 1 64))" '{ print $1 "." $2 "." $3 "." z "." $5 }')"
# an expired one
exp=$(on cen sites attach-token create --ttl 1m 2>/dev/null)
sql cen "UPDATE site_attach_tokens SET expires = 1 WHERE id = '$(echo "$exp" | cut -d. -f2)'"
attach_fails attach_token_expired "$exp"
on c01 sites attach --parent "$LP_URL" --token "$tok" >"$T/attach.out" 2>&1 || fail "attach: $(cat "$T/attach.out")"
grep -q "attached below site CEN" "$T/attach.out" || fail "attach: $(cat "$T/attach.out")"
# used: one-time
rc=0
on c02 sites attach --parent "${URL[cen]}" --token "$tok" >"$T/attach2.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of a second attach with one token"
grep -q "^error: attach_token_used:" "$T/attach2.out" || fail "reused token: $(cat "$T/attach2.out")"
tok2=$(on c01 sites attach-token create 2>/dev/null)
on c02 sites attach --parent "${URL[c01]}" --token "$tok2" >/dev/null || fail "attach C02 below C01"
expect_eq "$(on cen --json sites list | jq -r '.[] | select(.code == "C01") | .relation')" child "C01 at CEN"
expect_eq "$(on c01 --json sites list | jq -r '.[] | select(.code == "CEN") | .relation')" parent "CEN at C01"
pass "attach: malformed, foreign, mismatched, expired and used tokens refused; C01 below CEN, C02 below C01"

# ---- clients and status travel up two levels --------------------------------------------------
# three agents at C01, two at C02
for s in c01 c02; do
	t=$(on "$s" --json enroll-tokens create --uses 5 --ttl 1h | jq -r .token)
	n=3
	[ "$s" = c02 ] && n=2
	for i in $(seq 1 $n); do
		"$BIN/steward-agent" --server "${URL[$s]}" --state-dir "$T/ag-$s-$i" --enroll-token "$t" \
			--once --timeout 30 >>"$T/agent-$s-$i.log" 2>&1 || fail "agent $s-$i: $(tail -n 3 "$T/agent-$s-$i.log")"
	done
done
all_up() { [ "$(on cen --json clients list --all-sites | jq length)" = 5 ]; }
wait_for 30 "the five clients of C01 and C02 at CEN" all_up
expect_eq "$(on cen --json clients list --all-sites | jq '[.[] | select(.site == "C02")] | length')" 2 "C02's clients at CEN"
on cen clients list --all-sites | grep -q " C02 " || fail "clients list --all-sites names no site: $(on cen clients list --all-sites)"
seen() { [ "$(sql cen "SELECT count(*) FROM site_clients WHERE last_seen > 0")" = 5 ]; }
wait_for 20 "last-seen times at CEN" seen

# an advertisement at C01 and C02, with status rows written the way reports are;
# C02 first: what C01 defines goes down to C02, where C02's own objects of the
# same names stay (the ones from C01 are refused there as name conflicts)
mkdir -p "$T/pkg"
echo x >"$T/pkg/file.txt"
for s in c02 c01; do
	on "$s" packages add tool --version 1.0 --source "$T/pkg" >/dev/null || fail "packages add at $s"
	on "$s" programs add install --package tool@1.0 --command "true" >/dev/null || fail "programs add at $s"
	on "$s" adverts create roll-out --program install --collection "All Clients" >/dev/null ||
		fail "adverts create at $s"
done
# add_status SITE FROM COUNT [DETAIL_BYTES]: COUNT reports numbered FROM.., as if
# agents had sent them (the triggers queue them up with the insert)
status_sql() { # FROM COUNT [DETAIL_BYTES]: the SQL add_status runs
	local from=$1 n=$2 pad=${3:-0}
	echo "WITH RECURSIVE i(x) AS (SELECT $from UNION ALL SELECT x + 1 FROM i WHERE x < $from + $n - 1)
		INSERT INTO status_history(advert_rid, client_id, revision, seq, state, exit_code, detail, time)
		SELECT (SELECT rid FROM adverts WHERE name = 'roll-out'), (SELECT id FROM clients ORDER BY rid LIMIT 1),
		       1, x, 'succeeded', 0, $(rand_hex "$pad"), $(date +%s) FROM i"
}
add_status() { sql "$1" "$(status_sql "$2" "$3" "${4:-0}")"; }
add_status c02 1 40
# and one whose detail is what a program printed last: its newline, not ASCII
sql c02 "INSERT INTO status_history(advert_rid, client_id, revision, seq, state, exit_code, detail, time)
	SELECT (SELECT rid FROM adverts WHERE name = 'roll-out'), (SELECT id FROM clients ORDER BY rid LIMIT 1),
	       1, 41, 'succeeded', 0, 'installed, ' || $CHR(233) || $CHR(10), $(date +%s)"
c02_up() { [ "$(below_status C02)" = 41 ]; }
wait_for 30 "C02's status at CEN through C01" c02_up
expect_eq "$(sql cen "SELECT detail FROM site_status WHERE site = 'C02' AND seq = 41")" "installed, ?? " \
	"a detail with a newline and a non-ASCII letter, at CEN"
on cen --json status advert roll-out | jq -e '.clients | map(select(.site == "C02")) | length == 1' >/dev/null ||
	fail "status advert at CEN: $(on cen --json status advert roll-out)"
pass "clients, last-seen times and status travel up from C02 through C01 to CEN"

# ---- kill -9 of the child and of the parent in the middle of replication -------------------------
N=3000
on c01 links set CEN --rate 8k >/dev/null || fail "links set --rate"
add_status c01 1 "$N" 200
some() { local n; n=$(below_status C01); [ "$n" -gt 0 ] && [ "$n" -lt "$N" ]; }
wait_for 60 "replication from C01 to be under way" some
kill -KILL "${PID[c01]}"
wait "${PID[c01]}" 2>/dev/null || true
restart c01 C01
sleep 2
kill -KILL "${PID[cen]}"
wait "${PID[cen]}" 2>/dev/null || true
restart cen CEN
on c01 links set CEN --rate 0 >/dev/null
all_status() { [ "$(below_status C01)" = "$N" ]; }
# should it fail: what C01 holds for CEN and what CEN has
link_state() {
	echo "at CEN: $(below_status C01);" \
		"C01's outbox (class|count|min|max): $(sql c01 "SELECT class, count(*), min(seq), max(seq) FROM site_outbox WHERE link = 'CEN' GROUP BY class");" \
		"kept: $(sql c01 "SELECT count(*) FROM site_outbox_kept WHERE link = 'CEN'");" \
		"C01's link (epoch|acked0-2|error): $(sql c01 "SELECT out_epoch, out_acked0, out_acked1, out_acked2, last_error FROM sites WHERE code = 'CEN'");" \
		"CEN's applied from C01 (0-2): $(sql cen "SELECT in_applied0, in_applied1, in_applied2 FROM sites WHERE code = 'C01'")"
}
WAIT_EXPLAIN=link_state wait_for 90 "all $N status reports of C01 at CEN" all_status
expect_eq "$(sql cen "SELECT count(*) FROM (SELECT DISTINCT client, advert, revision, seq FROM site_status WHERE site = 'C01') AS d")" "$N" "distinct reports"
# C01 learns that CEN applied its last batch from CEN's reply, which comes
# after CEN's commit (what all_status saw): the outbox drains right after
outbox_drained() { [ "$(sql c01 "SELECT count(*) FROM site_outbox WHERE kind = 'status'")" = 0 ]; }
wait_for 30 "C01's outbox to drain of status reports" outbox_drained
pass "kill -9 of C01 and of CEN during replication: all $N status reports arrived, each once"

# ---- a link cut for 60 s ---------------------------------------------------------------------------
linkproxy_ctl cut >/dev/null
add_status c01 100001 100
failing() { on c01 --json sites list | jq -e '.[] | select(.code == "CEN") | .state | startswith("failing")' >/dev/null; }
wait_for 30 "C01 to see its link fail" failing
sleep 55
expect_eq "$(below_status C01)" "$N" "status at CEN while the link is cut"
linkproxy_ctl pass >/dev/null
after_cut() { [ "$(below_status C01)" = $((N + 100)) ]; }
wait_for 90 "replication to resume after the cut" after_cut
link_ok() { on c01 --json sites list | jq -e '.[] | select(.code == "CEN") | .state == "ok"' >/dev/null; }
wait_for 10 "C01's link to be ok again" link_ok
pass "a link cut for 60 s: nothing lost, replication resumed by itself"

# ---- a closed schedule sends nothing; a rate holds ------------------------------------------------------
on c01 links set CEN --schedule "*:00-24=closed" >"$T/links.out" || fail "links set --schedule: $(cat "$T/links.out")"
grep -q "now: closed" "$T/links.out" || fail "links set: $(cat "$T/links.out")"
linkproxy_ctl reset-stats >/dev/null
add_status c01 200001 50
sleep 6
stats=$(linkproxy_ctl stats)
[[ $stats == *" bytes_up=0 "* ]] || fail "a closed link sent something: $stats"
expect_eq "$(below_status C01)" $((N + 100)) "status at CEN while the schedule is closed"
on c01 hierarchy show >/dev/null || fail "hierarchy show at C01"
# what waits at C01 to come up shows at CEN: C01's answers to CEN's
# batches say it (the link down stays open); a pause sent down makes one
up_at_cen() { on cen --json hierarchy show | jq -r '.children[] | select(.code == "C01") | .backlog_in.messages // -1'; }
for _ in $(seq 1 15); do
	on cen site pause-adverts --hierarchy --reason "backlog check" >/dev/null || fail "pause-adverts"
	sleep 1
	[ "$(up_at_cen)" -ge 50 ] && break
done
[ "$(up_at_cen)" -ge 50 ] || fail "CEN shows $(up_at_cen) messages waiting at C01, not 50 or more"
on cen hierarchy show | grep -qE "backlog down [0-9]+ msgs, [0-9]+ [KM]?i?B; up [0-9]+ msgs" ||
	fail "hierarchy show: $(on cen hierarchy show)"
on cen site resume-adverts --hierarchy >/dev/null || fail "resume-adverts"
on c01 links set CEN --schedule all >/dev/null
opened() { [ "$(below_status C01)" = $((N + 150)) ]; }
wait_for 30 "the backlog once the schedule opens" opened
pass "a link closed by its schedule sends nothing (0 bytes through the link); open again, it delivers"

RATE=16000
on c01 links set CEN --rate "$RATE" >/dev/null
add_status c01 300001 8000 400
bytes_in() { on cen --json sites list | jq '.[] | select(.code == "C01") | .since_start.bytes_in'; }
sleep 5 # the first batch at the new rate is on its way
b0=$(bytes_in)
t0=$(date +%s.%N)
sleep 60
b1=$(bytes_in)
t1=$(date +%s.%N)
measured=$(echo "($b1 - $b0) / ($t1 - $t0)" | bc -l)
echo "rate-limited link: $(printf '%.0f' "$measured") bytes/s at the receiver for a rate of $RATE"
ok=$(echo "$measured >= $RATE * 0.9 && $measured <= $RATE * 1.1" | bc -l)
expect_eq "$ok" 1 "measured rate $(printf '%.0f' "$measured") within 10% of $RATE"
on c01 links set CEN --rate 0 >/dev/null
pass "a link limited to $RATE bytes/s carried $(printf '%.0f' "$measured") bytes/s over a minute"

# ---- a share of each hour: quiet in proportion to the time on the wire ------------------------------
drained() { [ "$(below_status C01)" = $((N + 8150)) ]; }
wait_for 90 "the rest of the rate-limited backlog" drained
on c01 links set CEN --rate 20% --pulse 1/0 >"$T/share.out" || fail "links set --rate 20%: $(cat "$T/share.out")"
grep -q "rate 20% of each hour" "$T/share.out" || fail "links set: $(cat "$T/share.out")"
expect_eq "$(on c01 --json sites list | jq '.[] | select(.code == "CEN") | [.share, .rate] | join(",")' -r)" \
	"20,0" "share and rate of C01's link up"
rc=0
on c01 links set CEN --rate 150% >"$T/bad.out" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit status of --rate 150%"
# every exchange at least 200 ms on the wire (100 ms each way), 2 reports a batch
linkproxy_ctl delay 100 >/dev/null
add_status c01 400001 20 400
t0=$(date +%s.%N)
shared() { [ "$(below_status C01)" = $((N + 8170)) ]; }
wait_for 60 "20 reports over a link limited to 20% of each hour" shared
took=$(echo "$(date +%s.%N) - $t0" | bc -l)
echo "20% of each hour: 10 batches of 200 ms or more on the wire took $(printf '%.1f' "$took") s"
# busy 10 x 0.2 s at least, quiet 4 times that: 8 s or more (2 s without the share)
[ "$(echo "$took >= 7" | bc -l)" = 1 ] || fail "a link at 20% of each hour sent 10 batches in $took s"
linkproxy_ctl pass >/dev/null
on c01 links set CEN --rate 0 --pulse 0/0 >/dev/null
pass "a link limited to 20% of each hour stays quiet four times as long as it sends"

# ---- two writers at once: the outbox goes up in the order of its commits ---------------------------
# On PostgreSQL a site adds to its outbox from more than one connection at
# once (the check-in writer's, the store's, each management point's). Here
# the first writer draws its sequences and commits 4 s later; the second
# commits at once. Before the outbox took its writers one at a time, C01
# sent the second's reports first, CEN then counted the first's, numbered
# lower, as repeats, and they were lost.
if on_postgresql; then
	before=$(below_status C01)
	"$PSQL" -X -q -v ON_ERROR_STOP=1 "${SITE_DB[${DIR[c01]}]}" -c "BEGIN" -c "$(status_sql 500001 10)" \
		-c "SELECT pg_sleep(4)" -c "COMMIT" >"$T/slow-writer.out" 2>&1 &
	slow=$!
	sleep 1
	add_status c01 500101 10
	wait "$slow" || fail "the slow writer: $(cat "$T/slow-writer.out")"
	both() { [ "$(below_status C01)" = $((before + 20)) ]; }
	WAIT_EXPLAIN=link_state wait_for 30 "both writers' reports at CEN" both
	pass "two writers at once at C01 (the first to draw its sequences commits last): all their reports at CEN"
fi

# ---- pauses reach every site below ---------------------------------------------------------------------
on cen site pause-installs --hierarchy --reason "service pack 2 tonight" >/dev/null || fail "pause-installs --hierarchy"
paused() { [ "$(on "$1" --json site show | jq -r .installs.paused)" = true ]; }
wait_for 20 "the pause at C01" paused c01
wait_for 20 "the pause at C02" paused c02
expect_eq "$(on c02 --json site show | jq -r .installs.reason)" "service pack 2 tonight" "reason at C02"
on cen site pause-adverts --hierarchy --reason "upgrade" >/dev/null || fail "pause-adverts --hierarchy"
ads_paused() { [ "$(on "$1" --json status advert roll-out | jq -r .adverts_paused)" = true ]; }
wait_for 20 "advertisements paused at C02" ads_paused c02
on cen site resume-installs --hierarchy --rate 40/hour >/dev/null
unpaused() { [ "$(on c02 --json site show | jq -r .installs.paused)" = false ]; }
wait_for 20 "installs resumed at C02" unpaused
expect_eq "$(on c02 --json site show | jq -r .installs.rate_per_hour)" 40 "the install rate at C02"
pass "pause-installs and pause-adverts --hierarchy at CEN reach C01 and C02; resume too, at the rate given"

# ---- bad input on the site link -------------------------------------------------------------------------
KEY=${DIR[c01]}/site.key
[ -f "$KEY" ] || fail "no site key at C01"
# C01 itself sends nothing meanwhile, so that what CEN applied stays put
on c01 links set CEN --schedule "*:00-24=closed" >/dev/null
sleep 2
applied() { sql cen "SELECT in_applied0 || ',' || in_applied1 || ',' || in_applied2 FROM sites WHERE code = 'C01'"; }
before=$(applied)
rows=$(sql cen "SELECT count(*) FROM site_status")
good='{"format":"steward-link-batch-1","from":"C01","to":"CEN","messages":[{"seq":999999999,"class":1,"kind":"status","body":{"advert":"x","client":"00000000000000000000000000000001","revision":1,"seq":1,"state":"succeeded","exit_code":0,"detail":"","time":1}}]}'
SEQ=$(date +%s%3N)
link() { # link EXPECT_STATUS EXPECT_CODE steward-req-args...: each with a fresh sequence
	local st=$1 code=$2 out
	shift 2
	SEQ=$((SEQ + 1))
	out=$("$REQ" --server "${URL[cen]}" --path /site-link/batch --key "$KEY" --print-status \
		--seq "$SEQ" "$@") || fail "steward-req $*"
	expect_status "$out" "$st" "$code"
}
link 401 unknown_site --as-site ZZZ --zstd --body "$good"
link 401 signature_invalid --as-site C01 --zstd --bad-signature --body "$good"
link 400 batch_invalid --as-site C01 --body "not zstd"
# a batch that was applied (an empty one: it changes nothing), then the
# very same request again
empty='{"format":"steward-link-batch-1","from":"C01","to":"CEN","messages":[]}'
link 200 "" --as-site C01 --zstd --body "$empty"
SEQ=$((SEQ - 1))
link 401 replayed_sequence --as-site C01 --zstd --body "$empty"
link 400 batch_misdirected --as-site C01 --zstd --body "${good/\"to\":\"CEN\"/\"to\":\"C02\"}"
link 400 batch_invalid --as-site C01 --zstd --body '{"format":"steward-link-batch-1","from":"C01","to":"CEN","messages":[{"seq":0}]}'
link 422 link_kind_unknown --as-site C01 --zstd --body "${good/\"kind\":\"status\"/\"kind\":\"advert\"}"
link 403 link_kind_refused --as-site C01 --zstd --body '{"format":"steward-link-batch-1","from":"C01","to":"CEN","messages":[{"seq":999999999,"class":0,"kind":"settings","body":{"settings":{"installs_paused":"1"}}}]}'
# a zstd bomb: 64 MiB of zeros in a few KiB
head -c $((64 * 1024 * 1024)) /dev/zero | zstd -19 -q -c >"$T/bomb.zst"
[ "$(stat -c %s "$T/bomb.zst")" -lt 100000 ] || fail "the bomb is not small"
link 413 batch_too_large --as-site C01 --body-file "$T/bomb.zst"
# larger than the route accepts at all
head -c $((17 * 1024 * 1024)) /dev/urandom >"$T/big"
SEQ=$((SEQ + 1))
out=$("$REQ" --server "${URL[cen]}" --path /site-link/batch --key "$KEY" --print-status --as-site C01 \
	--seq "$SEQ" --body-file "$T/big" --timeout-ms 30000 --header "Expect: 100-continue") || true
[ "${out%% *}" = 413 ] || fail "an oversized batch: ${out:0:200}"
expect_eq "$(applied)" "$before" "sequences applied from C01 after the bad batches"
expect_eq "$(sql cen "SELECT count(*) FROM site_status")" "$rows" "status rows after the bad batches"
pass "bad input on the site link refused with its code, nothing applied: unknown site, bad signature, replay, malformed, misdirected, unknown kind, refused setting, zstd bomb, oversized"

on c01 links set CEN --schedule all >/dev/null

# ---- detach -------------------------------------------------------------------------------------------
on cen sites detach C01 >/dev/null || fail "detach C01"
add_status c01 900001 5
refused() { on c01 --json sites list | jq -e '.[] | select(.code == "CEN") | .last_error | test("site_detached")' >/dev/null; }
wait_for 30 "C01 to be told it is detached" refused
pass "a detached child is refused with site_detached and says so in sites list"

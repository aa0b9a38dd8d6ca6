#!/usr/bin/env bash
# Version skew across a site link, with real stewardd releases built from
# this source: central CEN runs 9.7.0 (this build's protocol), C01 below it
# runs this build.
#   - one release apart within the shared protocol range, the link works:
#     a client enrolled at C01 shows at CEN, a pause from CEN reaches C01,
#     and `hierarchy show` shows both versions
#   - a site that speaks only protocol 2 (10.0.0) cannot attach below CEN:
#     version_incompatible, naming both versions and the remedy
#   - C01 restarted as 10.0.0 on its data dir: each side refuses the
#     other's batches with version_incompatible and logs it; nothing is
#     applied; the messages wait in each outbox and `sites list` and
#     `hierarchy show` on the sending side mark the link, naming both
#     versions
#   - C01 back on this build: both backlogs drain, every message once
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
V=$(build_version)
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
build_release 9.7.0 site
# protocol 2 only, with a console that speaks it
build_release 10.0.0 site,console PROTO_MIN=2 PROTO_MAX=2
NEAR=$T/build-9.7.0/bin/stewardd
FAR=$T/build-10.0.0/bin/stewardd
FARCTL=$T/build-10.0.0/bin/stewardctl
"$NEAR" --version | grep -q "^stewardd 9.7.0 protocol 1-1 " || fail "9.7.0: $("$NEAR" --version)"
"$FAR" --version | grep -q "^stewardd 10.0.0 protocol 2-2 " || fail "10.0.0: $("$FAR" --version)"
"$BIN/stewardd" --version | grep -q "^stewardd $V protocol 1-1 " || fail "this build: $("$BIN/stewardd" --version)"
pass "stewardd 9.7.0 (protocol 1-1) and 10.0.0 (protocol 2-2) built"

start() { # start NAME CODE STEWARDD
	STEWARDD=$3 named_site "$1" "$2" --link_seen_interval 2
}
restart() { # restart NAME CODE STEWARDD: stop it, start it again on its port and data dir
	SITE_PID=${PID[$1]}
	site_stop || fail "stewardd $1 did not stop cleanly"
	STEWARDD=$3 SITE_CODE=$2 SITE_DIR=${DIR[$1]} SITE_URL=${URL[$1]} site_restart \
		--site_name "site $2" --enroll_auto_approve true --link_seen_interval 2
	PID[$1]=$SITE_PID
}
far() { # far NAME stewardctl-args...: the console of 10.0.0
	local name=$1
	shift
	"$FARCTL" -s "${URL[$name]}" -t "${ADM[$name]}" "$@"
}
sql() { site_sql "${DIR[$1]}" "$2"; }
link_state() { # link_state CONSOLE NAME CODE: the link's state in sites list
	"$1" "$2" --json sites list | jq -r --arg c "$3" '.[] | select(.code == $c) | .state'
}

# ---- one release apart, the same protocol: the link works ------------------------------------
start cen CEN "$NEAR"
start c01 C01 "$BIN/stewardd"
tok=$(on cen sites attach-token create 2>/dev/null) || fail "attach-token create"
on c01 sites attach --parent "${URL[cen]}" --token "$tok" >"$T/attach.out" 2>&1 || fail "attach: $(cat "$T/attach.out")"
grep -q "attached below site CEN (site CEN, version 9.7.0, protocol 1-1)" "$T/attach.out" ||
	fail "attach: $(cat "$T/attach.out")"
agent_tok=$(on c01 --json enroll-tokens create --uses 5 --ttl 1h | jq -r .token)
SITE_URL=${URL[c01]} agent_once a1 "$agent_tok" || fail "agent at C01: $(tail -n 5 "$T/agent-a1.log")"
id=$(agent_id a1)
up() { on cen --json clients list --all-sites | jq -e --arg id "$id" '.[] | select(.id == $id and .site == "C01")' >/dev/null; }
wait_for 30 "C01's client at CEN" up
on cen site pause-installs --hierarchy --reason "skew test" >/dev/null || fail "pause-installs --hierarchy"
paused() { [ "$("$1" c01 --json site show | jq -r .installs.paused)" = "$2" ]; }
wait_for 20 "the pause from CEN at C01" paused on true
on cen hierarchy show >"$T/show.out" || fail "hierarchy show at CEN"
cat "$T/show.out"
grep -q "^CEN  site CEN  9.7.0 (protocol 1-1)$" "$T/show.out" || fail "CEN's line: $(cat "$T/show.out")"
grep -q "C01  site C01  $V (protocol 1-1)$" "$T/show.out" || fail "C01's line: $(cat "$T/show.out")"
grep -q "link ok;" "$T/show.out" || fail "the link at CEN: $(cat "$T/show.out")"
on c01 hierarchy show | grep -q "^parent: CEN  site CEN  9.7.0; link ok;" ||
	fail "hierarchy show at C01: $(on c01 hierarchy show)"
pass "CEN at 9.7.0, C01 at $V, one protocol: a client goes up, a pause comes down; hierarchy show names both versions"

# an advertisement at C01, for status reports later
mkdir -p "$T/pkg" && echo x >"$T/pkg/file.txt"
on c01 packages add tool --version 1.0 --source "$T/pkg" >/dev/null || fail "packages add"
on c01 programs add install --package tool@1.0 --command "true" >/dev/null || fail "programs add"
on c01 adverts create roll-out --program install --collection "All Clients" >/dev/null || fail "adverts create"

# ---- outside the range: attaching is refused -----------------------------------------------------
start c02 C02 "$FAR"
tok=$(on cen sites attach-token create 2>/dev/null) || fail "attach-token create for C02"
rc=0
far c02 sites attach --parent "${URL[cen]}" --token "$tok" >"$T/attach2.out" 2>&1 || rc=$?
cat "$T/attach2.out"
expect_eq "$rc" 3 "exit status of an attach across protocols: $(cat "$T/attach2.out")"
# told from C02's side: the parent's version, then its own
grep -q "^error: version_incompatible: the parent at ${URL[cen]} runs 9.7.0 (protocol 1-1), this site 10.0.0 (protocol 2-2): no protocol in common" \
	"$T/attach2.out" || fail "attach: $(cat "$T/attach2.out")"
grep -q "^remedy: upgrade the older site (the parent) to a release that speaks protocol 2, then attach" \
	"$T/attach2.out" || fail "attach: $(cat "$T/attach2.out")"
expect_eq "$(on cen --json sites list | jq '[.[] | select(.code == "C02")] | length')" 0 "C02 at CEN"
expect_eq "$(sql c02 "SELECT count(*) FROM sites")" 0 "sites at C02"
expect_eq "$(sql cen "SELECT used FROM site_attach_tokens WHERE id = '$(echo "$tok" | cut -d. -f2)'")" 0 \
	"the token after the refusal"
SITE_PID=${PID[c02]} site_stop || fail "C02 did not stop cleanly"
pass "C02 at 10.0.0 (protocol 2-2) cannot attach below CEN at 9.7.0 (1-1): version_incompatible, both versions, the remedy; the token is not used"

# ---- an attached child upgraded out of the range -------------------------------------------------
below_status() { sql cen "SELECT count(*) FROM site_status WHERE site = 'C01'"; }
expect_eq "$(below_status)" 0 "status from C01 at CEN before"
restart c01 C01 "$FAR"
# status reports at C01, as if its agents had sent them (the triggers queue them up)
N=200
sql c01 "WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < $N)
	INSERT INTO status_history(advert_rid, client_id, revision, seq, state, exit_code, detail, time)
	SELECT (SELECT rid FROM adverts WHERE name = 'roll-out'), '$id', 1, x, 'succeeded', 0, '',
	       $(date +%s) FROM i"
# and a resume from CEN, for C01
on cen site resume-installs --hierarchy >/dev/null || fail "resume-installs --hierarchy"
refused() { [[ $(link_state "$1" "$2" "$3") == "failing: version_incompatible"* ]]; }
wait_for 30 "CEN to mark its link to C01" refused on cen C01
wait_for 30 "C01 to mark its link to CEN" refused far c01 CEN
cen_state=$(link_state on cen C01)
c01_state=$(link_state far c01 CEN)
echo "at CEN: $cen_state"
echo "at C01: $c01_state"
# each side tells it from its own side, naming the older site
expect_eq "$cen_state" "failing: version_incompatible (HTTP 409): site C01 runs 10.0.0 (protocol 2-2), this site 9.7.0 (protocol 1-1): no protocol in common; remedy: upgrade the older site (this one) to a release that speaks protocol 2" "the link at CEN"
expect_eq "$c01_state" "failing: version_incompatible (HTTP 409): site CEN runs 9.7.0 (protocol 1-1), this site 10.0.0 (protocol 2-2): no protocol in common; remedy: upgrade the older site (CEN) to a release that speaks protocol 2" "the link at C01"
on cen hierarchy show >"$T/show2.out" || fail "hierarchy show at CEN"
cat "$T/show2.out"
grep -q "link failing: version_incompatible" "$T/show2.out" || fail "hierarchy show at CEN: $(cat "$T/show2.out")"
far c01 hierarchy show >"$T/show3.out" || fail "hierarchy show at C01"
cat "$T/show3.out"
grep -q "^parent: CEN .*link failing: version_incompatible" "$T/show3.out" || fail "hierarchy show at C01: $(cat "$T/show3.out")"
# the receivers log it
grep -q "hierarchy link_refused site=C01 .*code=version_incompatible .*10\.0\.0.*9\.7\.0" "$T/cen.log" ||
	fail "CEN's log: $(grep link_ "$T/cen.log")"
grep -q "hierarchy link_refused site=CEN .*code=version_incompatible .*9\.7\.0.*10\.0\.0" "$T/c01.log" ||
	fail "C01's log: $(grep link_ "$T/c01.log")"
# nothing applied, everything waits
sleep 3
expect_eq "$(below_status)" 0 "status from C01 at CEN while the protocols differ"
paused far true || fail "C01 took the resume from CEN while the protocols differ"
backlog() { "$1" "$2" --json sites list | jq -r --arg c "$3" '.[] | select(.code == $c) | .backlog_out_messages'; }
b=$(backlog far c01 CEN)
[ "$b" -ge "$N" ] || fail "C01's backlog to CEN: $b messages, expected at least $N"
b=$(backlog on cen C01)
[ "$b" -ge 1 ] || fail "CEN's backlog to C01: $b messages"
pass "C01 at 10.0.0 below CEN at 9.7.0: both sides refuse with version_incompatible and log it; nothing applied; $N status reports and a resume wait"

# ---- back to a shared protocol: both backlogs drain --------------------------------------------------
restart c01 C01 "$BIN/stewardd"
all_up() { [ "$(below_status)" = "$N" ]; }
wait_for 30 "C01's $N status reports at CEN" all_up
# CEN's sender tries again after a delay that grew while C01 refused (at most a minute)
wait_for 70 "the resume from CEN at C01" paused on false
expect_eq "$(sql cen "SELECT count(*) FROM (SELECT DISTINCT client, advert, revision, seq FROM site_status WHERE site = 'C01') AS d")" "$N" "distinct reports"
link_ok() { [ "$(link_state "$1" "$2" "$3")" = ok ]; }
wait_for 30 "CEN's link to C01 to be ok" link_ok on cen C01
wait_for 30 "C01's link to CEN to be ok" link_ok on c01 CEN
expect_eq "$(sql c01 "SELECT count(*) FROM site_outbox WHERE kind = 'status'")" 0 "status in C01's outbox"
expect_eq "$(sql cen "SELECT count(*) FROM site_outbox WHERE kind = 'settings'")" 0 "settings in CEN's outbox"
expect_eq "$(grep -c 'installs_resumed .*by="the parent site"' "$T/c01.log")" 1 "the resume applied at C01"
pass "C01 back on $V: both backlogs drained, each of the $N reports once, the resume applied"

#!/usr/bin/env bash
# An enrollment point shared by several sites (one network, one place
# machines are installed from): central CEN serves /bootstrap.sh to the
# machines of its children C01 and C02, told apart by boundaries
# (127.0.0.2 and 127.0.0.3 on loopback). C01 was upgraded (its stewardd runs
# 9.5.0 and it offers the 9.5.0 agent), C02 was not (0.1.0). Thirty machines
# install through CEN with one token made for the whole hierarchy:
#   - each machine installs from its own site, the release its own site
#     offers: no machine of C02 gets 9.5.0, which C02 cannot serve;
#   - every install finishes within its timeout (measured and printed);
#   - a machine whose boundary names a site not attached below CEN is
#     refused, with nothing installed;
#   - then `hierarchy upgrade --to 9.5.0 --collection "All Clients"` at CEN
#     brings every site and all thirty machines to 9.5.0.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")
OLD=$(build_version)
stage_release "$T/rk" "$T/out/steward-$OLD.tar.zst"
NEW=9.5.0
build_release "$NEW" site,agent

WATCH=(--site_upgrade_watch 2s --site_upgrade_health_interval 1s)
named_site cen CEN --release_key "$PUB" --boundary "127.0.0.2/32 C01" --boundary "127.0.0.3/32 C02" \
	--boundary "127.0.0.4/32 C09" "${WATCH[@]}"
named_site c01 C01 --release_key "$PUB" "${WATCH[@]}"
named_site c02 C02 --release_key "$PUB" "${WATCH[@]}"
for s in c01 c02; do
	tok=$(on cen sites attach-token create 2>/dev/null)
	on "$s" sites attach --parent "${URL[cen]}" --token "$tok" >/dev/null || fail "attach $s"
	on "$s" releases import "$T/out/steward-$OLD.tar.zst" >/dev/null 2>&1 || fail "import $OLD at $s"
done
on c01 releases import "$T/out/steward-$NEW.tar.zst" >/dev/null 2>&1 || fail "import $NEW at C01"
# its agent comes with stewardd 9.5.0: offered only once C01 runs it
expect_eq "$(on c01 --json site show | jq -r .installs.release)" "$OLD" "release C01 installs before its upgrade"
on c01 site upgrade --to "$NEW" >"$T/up.out" 2>&1 || fail "C01's upgrade: $(cat "$T/up.out")"
expect_eq "$(curl -fsS "${URL[c01]}/health" | jq -r .version)" "$NEW" "C01's version"
expect_eq "$(on c01 --json site show | jq -r .installs.release)" "$NEW" "release C01 installs"
expect_eq "$(on c02 --json site show | jq -r .installs.release)" "$OLD" "release C02 installs"

# one token for the machines of every site
tok=$(on cen --json enroll-tokens create --uses 40 --ttl 1h --hierarchy | jq -r .token)
id=$(on cen --json enroll-tokens list | jq -r '.[0].id')
has_token() { on "$1" --json enroll-tokens list | jq -e --arg id "$id" 'map(select(.id == $id)) | length == 1' >/dev/null; }
wait_for 20 "the hierarchy token at C01" has_token c01
wait_for 20 "the hierarchy token at C02" has_token c02
pass "an enrollment token made at CEN with --hierarchy is valid at C01 and C02"

# ---- thirty machines through CEN's /bootstrap.sh ------------------------------------------------
# install ADDR NAME: the documented command, from source address ADDR
install() {
	local addr=$1 name=$2 t0 t1 rc=0
	t0=$(date +%s%N)
	curl --interface "$addr" -fsS --max-time 60 "${URL[cen]}/bootstrap.sh" |
		timeout 180 sh -s -- --release-key "$PUB" --prefix "$T/m/$name" --token "$tok" >"$T/boot-$name.out" 2>&1 || rc=$?
	t1=$(date +%s%N)
	echo "$name $rc $(((t1 - t0) / 1000000))" >>"$T/installs"
}
mkdir -p "$T/m"
: >"$T/installs"
# six at a time (a bare `wait` would wait for the sites too)
jobs_=()
for i in $(seq 1 15); do
	install 127.0.0.2 "a$i" &
	jobs_+=("$!")
	install 127.0.0.3 "b$i" &
	jobs_+=("$!")
	if [ $((i % 3)) -eq 0 ]; then
		for j in "${jobs_[@]}"; do wait "$j" || true; done
		jobs_=()
	fi
done
for j in "${jobs_[@]}"; do wait "$j" || true; done
expect_eq "$(wc -l <"$T/installs")" 30 "installs run"
while read -r name rc ms; do
	[ "$rc" = 0 ] || fail "install $name: exit $rc: $(cat "$T/boot-$name.out")"
	PIDS+=("$(cat "$T/m/$name/agent.pid")")
done <"$T/installs"
slowest=$(sort -k3 -n "$T/installs" | tail -n 1 | awk '{print $1 " in " $3 " ms"}')
echo "30 installs through the shared enrollment point; the slowest, $slowest (each call's limit: 180000 ms)"
for i in $(seq 1 15); do
	"$T/m/a$i/current/bin/steward-agent" --version | grep -q "^steward-agent $NEW " ||
		fail "a$i (C01) runs $("$T/m/a$i/current/bin/steward-agent" --version)"
	"$T/m/b$i/current/bin/steward-agent" --version | grep -q "^steward-agent $OLD " ||
		fail "b$i (C02) runs $("$T/m/b$i/current/bin/steward-agent" --version)"
	grep -q "this machine belongs to site C01" "$T/boot-a$i.out" || fail "a$i: $(cat "$T/boot-a$i.out")"
	grep -q "this machine belongs to site C02" "$T/boot-b$i.out" || fail "b$i: $(cat "$T/boot-b$i.out")"
	grep -q "${URL[c01]}" "$T/m/a$i/run" || fail "a$i does not check in at C01: $(cat "$T/m/a$i/run")"
	grep -q "${URL[c02]}" "$T/m/b$i/run" || fail "b$i does not check in at C02: $(cat "$T/m/b$i/run")"
done
expect_eq "$(on c01 --json clients list | jq length)" 15 "clients of C01"
expect_eq "$(on c02 --json clients list | jq length)" 15 "clients of C02"
expect_eq "$(on c02 --json clients list | jq '[.[] | select(.agent_version != "'"$OLD"'")] | length')" 0 "C02 clients not on $OLD"
all_up() { [ "$(on cen --json clients list --all-sites | jq length)" = 30 ]; }
wait_for 30 "the thirty clients at CEN" all_up
pass "30 machines installed through CEN: C01's 15 got $NEW from C01, C02's 15 got $OLD from C02 (none got $NEW)"

# ---- a boundary that names a site not attached here ------------------------------------------------
rc=0
curl --interface 127.0.0.4 -fsS "${URL[cen]}/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$T/m/c1" --token "$tok" >"$T/boot-c1.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status for a machine of an unattached site"
grep -q "belongs to site C09 by the boundaries of site CEN, and C09 is not attached below CEN" "$T/boot-c1.out" ||
	fail "unattached site: $(cat "$T/boot-c1.out")"
[ ! -e "$T/m/c1" ] || fail "the refused script created $T/m/c1"
pass "a machine whose boundary names a site not attached below CEN is refused and nothing is installed"

# ---- then the whole hierarchy, sites and machines, to 9.5.0 ----------------------------------------
on cen releases import "$T/out/steward-$NEW.tar.zst" >"$T/import.out" 2>&1 || fail "import at CEN: $(cat "$T/import.out")"
imported() { [ "$(on cen --json releases show "$NEW" | jq -r --arg s "$1" '.sites_below[] | select(.site == $s) | .state')" = imported ]; }
wait_for 60 "release $NEW at C01 (held already)" imported C01
wait_for 60 "release $NEW at C02" imported C02
on cen hierarchy upgrade --to "$NEW" --collection "All Clients" >"$T/hup.out" 2>&1 || fail "hierarchy upgrade: $(cat "$T/hup.out")"
hup_done() { [ "$(on cen --json hierarchy status 2>/dev/null | jq -r .state)" = done ]; }
wait_for 120 "the hierarchy upgrade" hup_done
for s in cen c01 c02; do
	expect_eq "$(curl -fsS "${URL[$s]}/health" | jq -r .version)" "$NEW" "version of $s"
done
# the machines take it at their next check-in (poked here instead of waiting)
all_new() { [ "$(on cen --json clients list --all-sites | jq --arg v "$NEW" '[.[] | select(.agent_version == $v)] | length')" = 30 ]; }
for _ in $(seq 1 45); do
	all_new && break
	for i in $(seq 1 15); do kill -USR1 "$(cat "$T/m/b$i/agent.pid")" 2>/dev/null || true; done
	sleep 2
done
all_new || fail "machines not at $NEW: $(on cen clients list --all-sites | grep -v " $NEW\$")"
for i in $(seq 1 15); do
	"$T/m/b$i/current/bin/steward-agent" --version | grep -q "^steward-agent $NEW " ||
		fail "b$i (C02) runs $("$T/m/b$i/current/bin/steward-agent" --version)"
done
pass "hierarchy upgrade --to $NEW --collection 'All Clients' at CEN: every site and all thirty machines run $NEW"

#!/usr/bin/env bash
# The coordinated upgrade of a hierarchy CEN > C01 > C02 to a release of
# stewardd and the agent built from this source (9.6.0):
#   - a release whose agent comes with a newer stewardd is offered to no
#     machine of a site that does not run that stewardd yet;
#   - the plan names what is not ready (the release not imported) and, once
#     it is, the order: CEN, then C01, then C02;
#   - installs and advertisements pause at every site; each level upgrades
#     only once the one above is done, and a site counts as done only once
#     the watch after its own upgrade ended well and its remote site
#     systems run it too: C01's distribution point,
#     behind a link marked slow, waits for `systems confirm`, and until
#     then C01 offers 9.6.0 to none of its clients;
#   - C02 cannot back up its database (its backups directory is a file): its
#     upgrade fails, it says so up the links and the whole upgrade halts with
#     that reason; C02 keeps 9.6.0 from its clients while it runs the old
#     version (new machines get the old release);
#   - fixed, but C02 is down when it is resumed: the upgrade halts again when
#     C02 does not run 9.6.0 within hierarchy_upgrade_timeout;
#   - C02 back: resumed, every site runs 9.6.0; installs resume at the rate
#     given (at C02 too), advertisements run again, and the machines of
#     every site (one at C01, one at C02, installed before under their
#     launchers) move to 9.6.0 with the collection given.
. "$(dirname "$0")/lib.sh"

V=9.6.0
CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")
build_release "$V" site,agent
pass "release $V of stewardd and the agent built"

version() { curl -fsS "${URL[$1]}/health" | jq -r .version; }
# each site watches its new version for 5 s after its upgrade
WATCH=(--site_upgrade_watch 5s --site_upgrade_health_interval 1s)
named_site cen CEN --release_key "$PUB" --hierarchy_upgrade_timeout 30s "${WATCH[@]}"
named_site c01 C01 --release_key "$PUB" "${WATCH[@]}"
named_site c02 C02 --release_key "$PUB" "${WATCH[@]}"
attach c01 cen
attach c02 c01
OLD=$(version cen)
# a remote distribution point of C01, behind a slow link
SITE_CODE=C01 site_start dp --roles distribution_point --upstream "${URL[c01]}" \
	--upstream_token_file "${ADM[c01]}" --dp_sync_interval 1s --release_key "$PUB"
DP=$SITE_URL
dp_listed() { on c01 --json systems list | jq -e --arg u "$DP" '.systems | map(select(.url == $u)) | length == 1' >/dev/null; }
wait_for 20 "C01's distribution point listed" dp_listed
on c01 systems slow "$DP" >/dev/null || fail "systems slow"

# ---- the plan: not ready, then ready ----------------------------------------------------------
rc=0
on cen hierarchy upgrade --to "$V" --plan >"$T/plan.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of a plan that is not ready"
grep -q "^upgrade of the hierarchy to $V: NOT READY" "$T/plan.out" || fail "plan: $(cat "$T/plan.out")"
grep -q "release $V is not here" "$T/plan.out" || fail "plan's blocker: $(cat "$T/plan.out")"
rc=0
on cen hierarchy upgrade --to "$V" >"$T/up.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of an upgrade that is not ready"
grep -q "^error: hierarchy_not_ready:" "$T/up.out" || fail "not ready: $(cat "$T/up.out")"
expect_eq "$(on cen --json site show | jq -r .installs.paused)" false "installs paused by a refused upgrade"

# ---- one machine at each child, running this build's agent under its launcher --------------------
stage_release "$T/rk" "$T/out/steward-$OLD.tar.zst"
on cen releases import "$T/out/steward-$OLD.tar.zst" >"$T/import.out" 2>&1 || fail "import $OLD: $(cat "$T/import.out")"
imported() { # SITE VERSION
	[ "$(on cen --json releases show "$2" | jq -r --arg s "$1" '.sites_below[] | select(.site == $s) | .state')" = imported ]
}
wait_for 60 "release $OLD imported at C01" imported C01 "$OLD"
wait_for 60 "release $OLD imported at C02" imported C02 "$OLD"
declare -A MACHINE=([m1]=c01 [m2]=c02)
for m in m1 m2; do
	tok=$(on "${MACHINE[$m]}" --json enroll-tokens create --uses 1 --ttl 1h | jq -r .token)
	rc=0
	curl -fsS "${URL[${MACHINE[$m]}]}/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$T/$m" --token "$tok" >"$T/boot-$m.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] || fail "install $m: $(cat "$T/boot-$m.out")"
	PIDS+=("$(cat "$T/$m/agent.pid")")
done
agents_at() { # VERSION: both machines, as CEN sees them
	[ "$(on cen --json clients list --all-sites | jq -r --arg v "$1" '[.[] | select(.agent_version == $v)] | length')" = 2 ]
}
wait_for 30 "both machines at CEN, running $OLD" agents_at "$OLD"

on cen releases import "$T/out/steward-$V.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
wait_for 60 "release $V imported at C01" imported C01 "$V"
wait_for 60 "release $V imported at C02" imported C02 "$V"
# its agent comes with stewardd 9.6.0: no site offers it before it runs that
for site in cen c01 c02; do
	expect_eq "$(on $site --json site show | jq -r '.installs.release + " " + .installs.upgrade_release')" \
		"$OLD $OLD" "the release $site offers before it runs $V"
done
on cen hierarchy upgrade --to "$V" --plan >"$T/plan.out" 2>&1 || fail "plan: $(cat "$T/plan.out")"
grep -q "^upgrade of the hierarchy to $V: ready" "$T/plan.out" || fail "plan: $(cat "$T/plan.out")"
grep -qE "^0 +CEN +site CEN +$OLD +- +- +here" "$T/plan.out" || fail "plan CEN: $(cat "$T/plan.out")"
grep -qE "^1 +C01 +site C01 +$OLD +ok +[0-9]+ msgs +imported" "$T/plan.out" || fail "plan C01: $(cat "$T/plan.out")"
grep -qE "^2 +C02 +site C02 +$OLD +ok +[0-9]+ msgs +imported" "$T/plan.out" || fail "plan C02: $(cat "$T/plan.out")"
grep -q "then CEN; then C01; then C02" "$T/plan.out" || fail "plan order: $(cat "$T/plan.out")"
grep -qE "^2 +C02 .* imported +ok, [0-9]+ MiB free +- *$" "$T/plan.out" || fail "plan C02's backup: $(cat "$T/plan.out")"
grep -qE "^1 +C01 .* imported +ok, [0-9]+ MiB free +1 \(1 slow\) *$" "$T/plan.out" ||
	fail "plan C01's backup and site systems: $(cat "$T/plan.out")"
cp "$T/plan.out" "$T/plan-ready.out"
pass "the plan names what is missing, then the order CEN, C01, C02 with each site's readiness"

# ---- C02 cannot back up: its upgrade fails, everything halts ------------------------------------
rc=0
on cen hierarchy upgrade --to "$V" --collection "No Such" >"$T/up.out" 2>&1 || rc=$?
grep -q "^error: collection_not_found:" "$T/up.out" || fail "unknown collection: $(cat "$T/up.out")"
on cen hierarchy upgrade --to "$V" --rate 50/hour --collection "All Clients" >"$T/up.out" 2>&1 ||
	fail "start: $(cat "$T/up.out")"
grep -q "^started the upgrade of the hierarchy to $V over 3 sites" "$T/up.out" || fail "start: $(cat "$T/up.out")"
# broken after the start (before it, the plan would have refused: test_hierarchy_tree.sh)
touch "${DIR[c02]}/backups"
# (CEN restarts into the new version meanwhile: ask until it answers)
refused_again() {
	on cen hierarchy upgrade --to "$V" >"$T/again.out" 2>&1 && fail "a second upgrade started"
	grep -q "^error: hierarchy_upgrade_running:" "$T/again.out"
}
wait_for 30 "a second start refused with hierarchy_upgrade_running" refused_again
paused() { [ "$(on "$1" --json site show | jq -r '.installs.paused, .adverts_paused' | sort -u)" = true ]; }
wait_for 30 "installs and adverts paused at C02" paused c02
at_version() { [ "$(version "$1" 2>/dev/null)" = "$V" ]; }
wait_for 60 "CEN at $V" at_version cen
wait_for 90 "C01 at $V" at_version c01
c01_detail() { on cen --json hierarchy status | jq -r '.sites[] | select(.code == "C01") | .detail'; }
on_watch() { c01_detail | grep -q "^watching the new version until .* (site_upgrade_watch)$"; }
wait_for 20 "C01 on watch after its upgrade" on_watch
dp_waits() { c01_detail | grep -q "site system $DP runs $OLD: waiting_for_confirmation"; }
wait_for 30 "C01 waiting for its distribution point" dp_waits
# at C01 itself: its part, and no second upgrade of the hierarchy from there
on c01 hierarchy status >"$T/c01-status.out" 2>&1 || fail "status at C01: $(cat "$T/c01-status.out")"
grep -q "^site C01 takes part in an upgrade of the hierarchy to $V ordered from above$" "$T/c01-status.out" &&
	grep -q "^this site: waiting since .*: site system $DP runs $OLD: waiting_for_confirmation" "$T/c01-status.out" ||
	fail "status at C01: $(cat "$T/c01-status.out")"
rc=0
on c01 hierarchy upgrade --to "$V" >"$T/c01-up.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of an upgrade started at C01 meanwhile"
grep -q "^error: hierarchy_upgrade_running: this site is part of an upgrade of the hierarchy to $V ordered from above" "$T/c01-up.out" ||
	fail "second upgrade at C01: $(cat "$T/c01-up.out")"
pass "at C01, hierarchy status shows its part of the upgrade, and a second one is refused there"
expect_eq "$(on c01 --json site show | jq -r .installs.release)" "$OLD" "the release C01 installs while its DP runs $OLD"
expect_eq "$(on cen --json hierarchy status | jq -r '.sites[] | select(.code == "C02") | .state')" pending \
	"C02 while C01's distribution point is not done"
on c01 systems confirm "$DP" >/dev/null || fail "systems confirm"
dp_at() { [ "$(curl -fsS --max-time 2 "$DP/health" 2>/dev/null | jq -r .version)" = "$V" ]; }
wait_for 60 "C01's distribution point at $V" dp_at
pass "C01 runs $V but is done only once its distribution point does (slow link: after systems confirm); meanwhile its clients are not offered $V"
state() { on cen --json hierarchy status | jq -r .state; }
halted() { [ "$(state)" = halted ]; }
wait_for 90 "the upgrade halted" halted
on cen hierarchy status >"$T/status.out" 2>&1 || fail "status: $(cat "$T/status.out")"
grep -q "^halted: site C02: site_upgrade_failed: cannot create ${DIR[c02]}/backups" "$T/status.out" ||
	fail "halt reason: $(cat "$T/status.out")"
grep -qE "^2 +C02 +site C02 +$OLD +failed " "$T/status.out" || fail "status of C02: $(cat "$T/status.out")"
grep -qE "^1 +C01 +site C01 +$V +done" "$T/status.out" || fail "status of C01: $(cat "$T/status.out")"
expect_eq "$(version c02)" "$OLD" "C02's version after its failure"
expect_eq "$(on c02 --json site show | jq -r .installs.release)" "$OLD" "the release C02 installs while it runs $OLD"
paused cen || fail "installs resumed at CEN after the halt"
cp "$T/status.out" "$T/status-halted.out"
pass "C02's failure travels up two links and halts the upgrade with its reason; C02 keeps $V from its clients"

# ---- fixed, but C02 is down: halted again by the timeout ----------------------------------------
rm -f "${DIR[c02]}/backups"
kill -TERM "${PID[c02]}"
wait "${PID[c02]}" 2>/dev/null || true
on cen hierarchy upgrade --resume >"$T/up.out" 2>&1 || fail "resume: $(cat "$T/up.out")"
grep -q "^resumed the upgrade of the hierarchy to $V" "$T/up.out" || fail "resume: $(cat "$T/up.out")"
running() { [ "$(state)" = running ]; }
running || fail "state after resume: $(state)"
wait_for 60 "the upgrade halted by the timeout" halted
on cen --json hierarchy status | jq -r .reason | grep -q "^site C02 did not run $V within 30s" ||
	fail "timeout reason: $(on cen --json hierarchy status | jq -r .reason)"
pass "C02 down after a resume: the upgrade halts when it does not run $V within hierarchy_upgrade_timeout"

# ---- C02 back: resumed to the end --------------------------------------------------------------
SITE_CODE=C02 SITE_DIR=${DIR[c02]} SITE_URL=${URL[c02]} site_restart --site_name "site C02" \
	--enroll_auto_approve true --release_key "$PUB" "${WATCH[@]}"
PID[c02]=$SITE_PID
wait_for 120 "C02 at $V" at_version c02
on cen hierarchy upgrade --resume >"$T/up.out" 2>&1 || fail "resume: $(cat "$T/up.out")"
done_() { [ "$(state)" = done ]; }
wait_for 90 "the upgrade done" done_
on cen hierarchy status >"$T/status.out" 2>&1 || fail "status: $(cat "$T/status.out")"
grep -q "^every site runs $V; installs resumed at 50 per hour" "$T/status.out" || fail "status: $(cat "$T/status.out")"
for s in cen c01 c02; do
	expect_eq "$(version $s)" "$V" "version of $s"
	resumed() { [ "$(on "$1" --json site show | jq -r '.installs.paused, .adverts_paused' | sort -u)" = false ]; }
	wait_for 30 "installs and adverts resumed at $s" resumed $s
done
expect_eq "$(on c02 --json site show | jq -r .installs.rate_per_hour)" 50 "installs rate at C02"
expect_eq "$(on c02 --json site show | jq -r .installs.release)" "$V" "the release C02 installs"
expect_eq "$(on c02 --json site show | jq -r '.installs.upgrade_collection + " " + .installs.upgrade_release')" \
	"All Clients $V" "the agents C02 offers $V"
grep -q "^the agents of 'All Clients' at every site are offered $V" "$T/status.out" || fail "status: $(cat "$T/status.out")"
# the machines take it at their next check-in (poked here instead of waiting for the interval)
poke_all() { for m in m1 m2; do kill -USR1 "$(cat "$T/$m/agent.pid")" 2>/dev/null || true; done; }
agents_done() { poke_all; agents_at "$V"; }
for _ in $(seq 1 30); do agents_done && break; sleep 2; done
# on failure: where each machine's news stopped on its way up
news_state() {
	local c
	for c in c01 c02; do
		echo "at ${c^^}: $(on $c --json clients list | jq -c 'map([.id[0:8], .agent_version])');" \
			"its outbox up (class|count|min|max): $(site_sql "${DIR[$c]}" "SELECT class, count(*), min(seq), max(seq) FROM site_outbox WHERE link = (SELECT code FROM sites WHERE relation = 0) GROUP BY class");" \
			"its link up (code|epoch|acked0-2|error): $(site_sql "${DIR[$c]}" "SELECT code, out_epoch, out_acked0, out_acked1, out_acked2, last_error FROM sites WHERE relation = 0");"
	done
	echo "C01's applied from C02 (0-2): $(site_sql "${DIR[c01]}" "SELECT in_applied0, in_applied1, in_applied2 FROM sites WHERE code = 'C02'");" \
		"CEN's from C01: $(site_sql "${DIR[cen]}" "SELECT in_applied0, in_applied1, in_applied2 FROM sites WHERE code = 'C01'")"
}
agents_at "$V" || fail "the machines after the upgrade: $(on cen clients list --all-sites); $(news_state 2>&1)"
for m in m1 m2; do
	"$T/$m/current/bin/steward-agent" --version | grep -q "^steward-agent $V " || fail "$m runs $("$T/$m/current/bin/steward-agent" --version)"
done
expect_eq "$(readlink "${DIR[c02]}/current")" "versions/$V" "C02's DATA_DIR/current"
ls "${DIR[c02]}"/backups/steward-"$OLD"-before-"$V"-*.db >/dev/null || fail "C02 kept no backup"
cp "$T/status.out" "$T/status-done.out"
pass "resumed once C02 is back: every site runs $V; installs resume at 50/hour at every site, advertisements run, and the machines of every site (All Clients) run $V"

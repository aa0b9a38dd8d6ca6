#!/usr/bin/env bash
# What the central site shows of a link two levels down follows that link
# within seconds, not at the next minute's tree report: CEN > C01 > C02,
# C02 stopped → CEN's `hierarchy show` says C01's link to C02 is failing,
# C02 started again → ok; the plan of a hierarchy upgrade (which reads the
# same tree) stops naming the link. What each site says of its readiness
# (can it back up its database, its site systems) reaches the plan as
# fast: C02's backups directory made a file → the plan is NOT READY and
# names it; fixed → it no longer does. docs/internals/hierarchy.md.
. "$(dirname "$0")/lib.sh"

for s in cen:CEN c01:C01 c02:C02; do
	named_site "${s%%:*}" "${s##*:}"
done
attach c01 cen
attach c02 c01

# C02's link as CEN's tree has it
c02_at_cen() {
	on cen --json hierarchy show |
		jq -r '.children[] | select(.code == "C01") | .children[] | select(.code == "C02") | .state'
}
is_state() { # PATTERN
	# shellcheck disable=SC2053
	[[ "$(c02_at_cen)" == $1 ]]
}
# within LIMIT seconds CEN shows C02's link as PATTERN; sets took
shows() { # LIMIT PATTERN
	local t0=$SECONDS
	wait_for "$1" "CEN shows C02's link as '$2'" is_state "$2"
	took=$((SECONDS - t0))
}
shows 20 ok
pass "CEN shows C02's link ok ${took} s after the attach"

SITE_PID=${PID[c02]} site_stop || fail "c02 did not stop"
# C01 sends down to C02 at least every minute; a pause makes it try at once
on cen site pause-installs --hierarchy --reason "tree test" >/dev/null || fail "pause"
shows 20 "failing*"
pass "C02 stopped: CEN shows its link failing after ${took} s"
rc=0
on cen hierarchy upgrade --to 9.9.9 --plan >"$T/plan.out" 2>&1 || rc=$?
grep -q "the link to site C02 is not ok: failing" "$T/plan.out" || fail "plan: $(cat "$T/plan.out")"

SITE_CODE=C02 SITE_DIR=${DIR[c02]} SITE_URL=${URL[c02]} site_restart --site_name "site C02" \
	--enroll_auto_approve true
PID[c02]=$SITE_PID
shows 20 ok
pass "C02 back: CEN shows its link ok after ${took} s"
on cen hierarchy upgrade --to 9.9.9 --plan >"$T/plan.out" 2>&1 || true
if grep -q "the link to site C02" "$T/plan.out"; then
	fail "the plan still names C02's link: $(cat "$T/plan.out")"
fi
pass "the plan no longer names C02's link"

# ---- readiness: C02 cannot back up ------------------------------------------------------------
plan() { on cen hierarchy upgrade --to 9.9.9 --plan >"$T/plan.out" 2>&1 || true; }
names_backup() { plan; grep -q "site C02 cannot back up its database for the upgrade: ${DIR[c02]}/backups is not a directory" "$T/plan.out"; }
grep -qE "^2 +C02 .* ok, [0-9]+ MiB free +- *$" "$T/plan.out" || fail "C02's backup column: $(cat "$T/plan.out")"
rm -rf "${DIR[c02]}/backups"
touch "${DIR[c02]}/backups"
t0=$SECONDS
wait_for 20 "the plan names C02's backup problem" names_backup
grep -qE "^2 +C02 .* CANNOT +- *$" "$T/plan.out" || fail "C02's backup column: $(cat "$T/plan.out")"
pass "C02's backups directory a file: CEN's plan is NOT READY and says why after $((SECONDS - t0)) s"
rm -f "${DIR[c02]}/backups"
t0=$SECONDS
fixed() { plan; ! grep -q "cannot back up" "$T/plan.out"; }
wait_for 20 "the plan no longer names C02's backup" fixed
pass "fixed: the plan drops it after $((SECONDS - t0)) s"

# the whole tree as an administrator reads it (docs/hierarchy.md shows one)
on cen hierarchy show >"$T/show.out" || fail "hierarchy show"
grep -qE "^    └── C02  site C02  .*$" "$T/show.out" &&
	grep -qE "link ok; last in .*; backlog down [0-9]+ msgs, [0-9]+ [KM]?i?B; up ([0-9]+ msgs, [0-9]+ [KM]?i?B|not reported yet); schedule now open to all$" "$T/show.out" ||
	fail "hierarchy show: $(cat "$T/show.out")"
pass "hierarchy show draws CEN > C01 > C02 with each link's backlog both ways"

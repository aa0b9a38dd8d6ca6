#!/usr/bin/env bash
# The offer caps of rollouts: a site's (rollout_offers_per_minute) and a
# distribution point's (rollout_dp_offers_per_minute), token buckets with a
# burst of a tenth of a minute. 50 steward-sim clients check in back to back
# for 4 s against a site capped at 60 offers a minute and its distribution
# point at 30: the distribution point's cap binds (3 at once, then one every
# 2 s), and a client it holds spends none of the site's offers, so the
# site's cap never holds anyone.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

"$BIN/stewardctl" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
stage_release_as "$T/rk" 2.0.0 1.0.0 "$T/r.tar.zst" tiny
site_start s1 --tls false --enroll_auto_approve true --release_key "$(cat "$T/rk.pub")" \
	--release_halt_failures 0 --rollout_offers_per_minute 60 --rollout_dp_offers_per_minute 30
ctl releases import "$T/r.tar.zst" >/dev/null 2>&1 || fail "import"
sim() { # OUT DURATION [args...]
	local out=$1 d=$2
	shift 2
	"$BIN/steward-sim" --server "$SITE_URL" --token-file "$ADMIN" --clients 50 --concurrency 8 \
		--timeout 10s --setup-timeout 60s --state "$T/fleet.state" --json --quiet \
		--duration "$d" "$@" >"$T/$out.json" 2>"$T/$out.log" || fail "steward-sim $out: $(tail -n 5 "$T/$out.log")"
}
sim enroll 1s --agent-version 1.0.0
ctl rollouts create capped --release 2.0.0 --collection "All Clients" --soak 0 >/dev/null || fail "create"
ctl rollouts start capped >/dev/null || fail "start"
sim run 4s --reuse
curl -fsS "$SITE_URL/metrics" >"$T/metrics"
metric() { awk -v k="$1" '$1 == k { print $2 }' "$T/metrics"; }
offers=$(metric steward_rollout_offers_total)
[ "$offers" -ge 3 ] && [ "$offers" -le 8 ] || fail "offers in 4 s under a cap of 30 a minute (burst 3): $offers"
expect_eq "$(jq -r .upgrades_offered "$T/run.json")" "$offers" "offers the sim took"
[ "$(metric 'steward_rollout_offers_capped_by_total{cap="distribution_point"}')" -gt 0 ] ||
	fail "no check-in held by the distribution point's cap: $(grep capped "$T/metrics")"
expect_eq "$(metric 'steward_rollout_offers_capped_by_total{cap="site"}')" 0 \
	"check-ins held by the site's cap (a hold by the distribution point spends none of its offers)"
expect_eq "$(metric steward_rollout_offers_capped_total)" \
	"$(metric 'steward_rollout_offers_capped_by_total{cap="distribution_point"}')" "capped in all"
pass "the distribution point's cap binds at $offers offers in 4 s; the site's cap held nobody"

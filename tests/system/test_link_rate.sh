#!/usr/bin/env bash
# A boundary that declares a link class, and the agent's rate limit for that
# class (docs/slow-links.md):
#  - clients in "127.0.0.0/8 T01 wan final" are on a wan link whatever they
#    measure, and the site says so (clients show: "wan link (boundary
#    (final))");
#  - with client_rate_limit_wan = 400 kbit/s (50,000 bytes a second) a
#    download of 600,000 bytes takes the agent well over 8 s (12 s at the
#    limit; the socket buffers' first bytes come at full speed, so a little
#    less; on loopback, without the limit, it takes milliseconds);
#  - a download held back by the limit does not count as a measurement (it
#    would measure the limit);
#  - a boundary with an unknown class is refused at start, naming it;
#  - without a boundary, a client over loopback is lan (the site's own machine).
. "$(dirname "$0")/lib.sh"

# ---- a bad boundary class -----------------------------------------------------------------
if "$BIN/stewardd" --listen 127.0.0.1:0 --data_dir "$T/bad" --site_code T01 \
	--boundary "10.8.0.0/16 BR1 modem" >"$T/bad.log" 2>&1; then
	fail "a boundary with class 'modem' was accepted"
fi
grep -q "'modem' after site code BR1 is not a link class (lan, wan, slow or metered)" "$T/bad.log" ||
	fail "the refusal: $(cat "$T/bad.log")"
pass "a boundary with an unknown link class is refused at start, naming it"

site_start s1 --enroll_auto_approve true --boundary "127.0.0.0/8 T01 wan final" \
	--client_rate_limit_wan 400
TOKEN=$(new_token 5)
run_agent() { # NAME [args]
	local n=$1
	shift
	"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/$n" --once --timeout 60 \
		--log-level debug "$@" >>"$T/$n.log" 2>&1 || fail "agent $n: $(tail -n 5 "$T/$n.log")"
}
run_agent a --enroll-token "$TOKEN"
ID=$(jq -r .client_id "$T/a/state.json")
expect_eq "$(ctl --json clients show "$ID" | jq -r .link.class)" wan "the class the boundary gives"
ctl clients show "$ID" | grep -q "^Link: .*wan link (boundary (final))" ||
	fail "clients show: $(ctl clients show "$ID" | grep Link)"
pass "a client in a boundary marked 'wan final' is on a wan link"

mkdir -p "$T/pkg"
head -c 600000 /dev/urandom >"$T/pkg/payload.bin"
printf '#!/bin/sh\necho done\n' >"$T/pkg/run.sh"
ctl packages add big --version 1 --source "$T/pkg" >/dev/null || fail "packages add"
ctl programs add big --package big --command "sh run.sh" >/dev/null || fail "programs add"
ctl collections create just-a --members "$ID" >/dev/null || fail "collections create"
ctl adverts create big --program big --collection just-a --links wan=download >/dev/null ||
	fail "adverts create"
start=$(date +%s%N)
run_agent a
ms=$((($(date +%s%N) - start) / 1000000))
state=$(ctl --json status advert big | jq -r --arg id "$ID" '.clients[] | select(.id == $id) | .state')
expect_eq "$state" succeeded "the advertisement on the rate-limited wan link"
grep -q " download .*bytes=600000 .*client=$ID" "$T/s1.log" || fail "no download of the payload in the site's log"
# the distribution point writes into the socket at once on loopback: the
# limit shows in how long the agent took to take the bytes in. 12 s at the
# exact rate; libcurl's receive limit lets the first socket buffers through
# at once (up to a third more on a transfer this short), so the floor is
# half the nominal time: an unlimited transfer takes milliseconds here
[ "$ms" -ge 6000 ] || fail "600,000 bytes at 400 kbit/s took only $ms ms"
grep -q "link_measured.*via=download" "$T/a.log" && fail "a rate-limited download counted as a measurement"
pass "600,000 bytes under client_rate_limit_wan = 400 kbit/s took $ms ms; not taken as a measurement"

# ---- over loopback: the site's own machine ---------------------------------------------------
# without a boundary, a client that reaches the site over loopback is lan
# whatever a busy machine makes its probe look like
site_start s2 --enroll_auto_approve true
run_agent b --enroll-token "$(new_token 1)"
BID=$(jq -r .client_id "$T/b/state.json")
expect_eq "$(ctl --json clients show "$BID" | jq -r '.link.class + " / " + .link.source')" \
	"lan / the site's own machine" "the class and source of a client over loopback"
pass "a client that reaches the site over loopback is lan: the site's own machine"

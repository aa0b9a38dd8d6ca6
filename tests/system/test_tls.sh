#!/usr/bin/env bash
# HTTPS on every link and enrollment without trust on first use:
#   - a man in the middle (tests/tools/steward-mitm.py) that swaps the
#     certificate, the site key in the enrollment reply (holding the site's
#     own TLS key, and computing a fresh MAC with the token it read), or the
#     reply itself: the agent refuses, says why, and has enrolled nothing;
#   - a wrong certificate (another site's pin), an expired certificate, and
#     plain HTTP to an HTTPS site: refused with a clear message by the agent,
#     stewardctl and a site attaching below a parent;
#   - tls = off: plain HTTP only when asked for, and site show says so.
. "$(dirname "$0")/lib.sh"

MITM=$SRC/tests/tools/steward-mitm.py
MKCERT=$BIN/steward-mkcert
[ -x "$MKCERT" ] || fail "steward-mkcert is not built"
command -v python3 >/dev/null || fail "python3 missing (scripts/deps.sh installs it)"

named_site a TA1
named_site b TB1
PORT_A=${URL[a]##*:}
TOK_A=$(on a --json enroll-tokens create --uses 20 --ttl 1h | jq -r .token)
TOK_B=$(on b --json enroll-tokens create --uses 20 --ttl 1h | jq -r .token)
case $TOK_A in stwenr1.*.*.*) ;; *) fail "the token does not carry the site's fingerprint and pin: $TOK_A" ;; esac
expect_eq "${TOK_A##*.}" "$(sed 's/^sha256://' "${DIR[a]}/tls.pin")" "the token's pin"
pass "an enrollment token carries the site key's fingerprint and the certificate's pin"

# mitm NAME MODE CERT KEY: a man in the middle in front of site a; sets MITM_URL
mitm() {
	local name=$1 mode=$2 crt=$3 key=$4 line="" i
	# made here, not only by the background redirection: head below may
	# run before the child has opened it, and a failed head ends the test
	: >"$T/$name.out"
	python3 -u "$MITM" --to "127.0.0.1:$PORT_A" --cert "$crt" --key "$key" --mode "$mode" \
		--count-file "$T/$name.count" --max-seconds 120 >"$T/$name.out" 2>"$T/$name.log" &
	PIDS+=("$!")
	for i in $(seq 1 50); do
		line=$(head -n 1 "$T/$name.out")
		[ -n "$line" ] && break
		sleep 0.1
	done
	MITM_URL=https://${line##*listen=}
	[ -n "$line" ] || fail "steward-mitm $name did not start: $(cat "$T/$name.log")"
}

# enroll_via NAME URL TOKEN CODE: the agent refuses with CODE and keeps no id
enroll_refused() {
	local name=$1 url=$2 tok=$3 code=$4 rc=0
	"$BIN/steward-agent" --server "$url" --state-dir "$T/agent-$name" --enroll-token "$tok" \
		--once --timeout 15 >"$T/agent-$name.log" 2>&1 || rc=$?
	[ $rc -ne 0 ] || fail "$name: the agent enrolled through $url"
	grep -q "$code" "$T/agent-$name.log" || fail "$name: no $code: $(tail -n 3 "$T/agent-$name.log")"
	if [ -f "$T/agent-$name/state.json" ]; then
		expect_eq "$(jq -r .client_id "$T/agent-$name/state.json")" "" "$name: client id kept"
	fi
}

n_clients() { on a --json clients list | jq 'length'; }

# ---- a man in the middle ----------------------------------------------------------------
OTHER_PIN=$("$MKCERT" "$T/other.key" "$T/other.crt" -60 86400 127.0.0.1)
mitm swap pass "$T/other.crt" "$T/other.key"
enroll_refused swap "$MITM_URL" "$TOK_A" tls_pin_mismatch
grep -q "not the pinned site" "$T/agent-swap.log" || fail "the refusal does not say why: $(tail -n 2 "$T/agent-swap.log")"
expect_eq "$(cat "$T/swap.count" 2>/dev/null || echo 0)" 0 "requests the man in the middle read"
expect_eq "$(n_clients)" 0 "clients at the site"
pass "certificate swapped: the agent refuses in the handshake ($OTHER_PIN is not pinned); the token never leaves it"

# the attacker holds the site's own TLS key: the reply is what it changes
mitm key sitekey "${DIR[a]}/tls.crt" "${DIR[a]}/tls.key"
enroll_refused key "$MITM_URL" "$TOK_A" site_key_mismatch
[ "$(cat "$T/key.count")" -ge 1 ] || fail "the man in the middle saw no request"
pass "site key swapped (and the MAC recomputed with the stolen token): refused, the fingerprint does not match"

mitm reply reply "${DIR[a]}/tls.crt" "${DIR[a]}/tls.key"
enroll_refused reply "$MITM_URL" "$TOK_A" enroll_reply_unauthenticated
pass "enrollment reply changed: refused, its MAC does not verify"

# the same token straight to the site works
"$BIN/steward-agent" --server "${URL[a]}" --state-dir "$T/agent-ok" --enroll-token "$TOK_A" \
	--once --timeout 30 >"$T/agent-ok.log" 2>&1 || fail "direct enrollment: $(tail -n 3 "$T/agent-ok.log")"
expect_eq "$(jq -r .tls_pin "$T/agent-ok/state.json")" "${TOK_A##*.}" "the pin the agent keeps"
[ -n "$(jq -r .client_id "$T/agent-ok/state.json")" ] || fail "no client id after a direct enrollment"
pass "straight to the site the same token enrolls; the agent keeps the pin"

# ---- another site's pin, plain HTTP, an unpinned token -----------------------------------
enroll_refused other "${URL[a]}" "$TOK_B" tls_pin_mismatch
enroll_refused plain "http://127.0.0.1:$PORT_A" "$TOK_A" tls_required
enroll_refused bare "${URL[a]}" "$(echo "$TOK_A" | cut -d. -f2)" token_unpinned
pass "agent: another site's pin, plain HTTP to a pinned site and a token without a fingerprint are refused"

rc=0
"$BIN/stewardctl" -s "${URL[a]}" -t "${ADM[b]}" site show >"$T/ctl1.out" 2>&1 || rc=$?
# the trust file holds a's pin for a's URL, b's tls.pin sits beside b's token: both pins
# apply, a's matches, and b's token is refused by a: not a TLS failure
grep -q "tls_" "$T/ctl1.out" && fail "a pinned site refused at the TLS layer: $(cat "$T/ctl1.out")"
STEWARD_TRUST_FILE=$T/trust.wrong
"$BIN/stewardctl" -s "${URL[a]}" site trust --pin "$(cat "${DIR[b]}/tls.pin")" >/dev/null
cp "${ADM[a]}" "$T/a.token"
rc=0
"$BIN/stewardctl" -s "${URL[a]}" -t "$T/a.token" site show >"$T/ctl2.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q tls_pin_mismatch "$T/ctl2.out" || fail "stewardctl with another site's pin: $(cat "$T/ctl2.out")"
rm -f "$T/trust.wrong"
rc=0
"$BIN/stewardctl" -s "${URL[a]}" -t "$T/a.token" site show >"$T/ctl3.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q tls_untrusted "$T/ctl3.out" || fail "stewardctl without a pin: $(cat "$T/ctl3.out")"
grep -q "site trust" "$T/ctl3.out" || fail "the refusal does not say how to pin: $(cat "$T/ctl3.out")"
rc=0
"$BIN/stewardctl" -s "http://127.0.0.1:$PORT_A" -t "$T/a.token" site show >"$T/ctl4.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q tls_plain_to_https "$T/ctl4.out" || fail "stewardctl over plain HTTP: $(cat "$T/ctl4.out")"
export STEWARD_TRUST_FILE=$T/trust
pass "stewardctl: another site's pin, no pin and plain HTTP to an HTTPS site are refused, each saying what to do"

# ---- an expired certificate ------------------------------------------------------------
"$MKCERT" "$T/old.key" "$T/old.crt" -86400 -3600 127.0.0.1 localhost >/dev/null
# (started by hand: site_start's health check would refuse it too)
mkdir -p "$T/x"
"$BIN/stewardd" --listen 127.0.0.1:0 --data_dir "$T/x" --site_code TX1 --tls_cert "$T/old.crt" \
	--tls_key "$T/old.key" >"$T/x.log" 2>&1 &
PIDS+=("$!")
wait_for 10 "the site with an expired certificate starts" grep -q " started " "$T/x.log"
grep -q "tls_cert_expired" "$T/x.log" || fail "the site does not warn of its expired certificate"
X_URL=https://127.0.0.1:$(sed -n 's/.* started .*listen=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/x.log")
rc=0
"$BIN/stewardctl" -s "$X_URL" -t "$T/x/admin.token" site show >"$T/x-ctl.err" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q tls_cert_expired "$T/x-ctl.err" || fail "stewardctl and the expired certificate: $(cat "$T/x-ctl.err")"
XTOK="stwenr1.$(printf '1%.0s' $(seq 1 40)).$(printf '2%.0s' $(seq 1 64)).$(sed 's/^sha256://' "$T/x/tls.pin")"
enroll_refused expired "$X_URL" "$XTOK" tls_cert_expired
pass "an expired certificate: refused by stewardctl and the agent, and the site warns at start"

# ---- site links ----------------------------------------------------------------------------
named_site c TC1
ATOK=$(on a sites attach-token create 2>/dev/null)
case $ATOK in stwsite1.*.*.*.*) ;; *) fail "the attach token carries no pin: $ATOK" ;; esac
rc=0
on c sites attach --parent "${URL[b]}" --token "$ATOK" >"$T/attach1.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q tls_pin_mismatch "$T/attach1.out" || fail "attach to another site's URL: $(cat "$T/attach1.out")"
mitm link pass "$T/other.crt" "$T/other.key"
rc=0
on c sites attach --parent "$MITM_URL" --token "$ATOK" >"$T/attach2.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q tls_pin_mismatch "$T/attach2.out" || fail "attach through a certificate swap: $(cat "$T/attach2.out")"
rc=0
on c sites attach --parent "http://127.0.0.1:$PORT_A" --token "$ATOK" >"$T/attach3.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q tls_required "$T/attach3.out" || fail "attach over plain HTTP: $(cat "$T/attach3.out")"
on c sites attach --parent "${URL[a]}" --token "$ATOK" >/dev/null || fail "attach with the right URL"
wait_for 30 "the link in both directions" sh -c \
	"$BIN/stewardctl -s ${URL[a]} -t ${ADM[a]} --json sites list | jq -e '.[] | select(.code == \"TC1\" and .last_in > 0)' >/dev/null"
grep -q "TC1\|127.0.0.1" "${DIR[a]}/peers.trust" || fail "the parent keeps no pin for its child"
pass "site links: another site's URL, a certificate swap and plain HTTP are refused; the right parent links both ways over HTTPS"

# ---- tls = off: only when asked -------------------------------------------------------------
named_site p TP1 --tls false
case ${URL[p]} in http://*) ;; *) fail "a tls = off site at ${URL[p]}" ;; esac
expect_eq "$(on p --json site show | jq -r .tls)" "off" "site show of a plain site"
expect_eq "$(on a --json site show | jq -r .tls)" "$(cat "${DIR[a]}/tls.pin")" "site show of an HTTPS site"
[ ! -e "${DIR[p]}/tls.pin" ] || fail "a plain site publishes a pin"
pass "tls = off serves plain HTTP and site show says so; an HTTPS site shows its pin"

# ---- rotating the site's key -------------------------------------------------------------
# a announces a next key; its agent, a console and its child site C each
# keep the next pin from a reply over the current one; after the switch
# and a restart, all three go on without anyone handing out a pin
OLD_PIN=$(cat "${DIR[a]}/tls.pin")
on a site rotate-key >"$T/rot.out" || fail "site rotate-key: $(cat "$T/rot.out")"
NEXT=$(on a --json site rotate-key | jq -r .next)
case $NEXT in sha256:*) ;; *) fail "no next pin: $NEXT" ;; esac
[ "$NEXT" != "$OLD_PIN" ] || fail "the next pin is the current one"
"$BIN/steward-agent" --server "${URL[a]}" --state-dir "$T/agent-ok" --once --timeout 30 \
	>>"$T/agent-ok.log" 2>&1 || fail "check-in during the rotation: $(tail -n 3 "$T/agent-ok.log")"
expect_eq "$(jq -r .tls_pin_next "$T/agent-ok/state.json")" "${NEXT#sha256:}" "the agent's next pin"
cp "${ADM[a]}" "$T/a2.token"
"$BIN/stewardctl" -s "${URL[a]}" -t "$T/a2.token" site show >/dev/null 2>"$T/rot-ctl.err" ||
	fail "stewardctl during the rotation: $(cat "$T/rot-ctl.err")"
grep -q "${URL[a]} $NEXT" "$STEWARD_TRUST_FILE" || fail "the console did not keep the next pin: $(cat "$STEWARD_TRUST_FILE")"
wait_for 60 "the child keeps its parent's next pin" grep -q "$NEXT" "${DIR[c]}/peers.trust"
on a site rotate-key --finish >"$T/rot2.out" || fail "rotate-key --finish: $(cat "$T/rot2.out")"
cat "${DIR[a]}/tls.crt" >>"$CURL_CA_BUNDLE"
SITE_URL=${URL[a]} SITE_PID=${PID[a]} SITE_DIR=${DIR[a]}
site_stop || fail "site a did not stop"
SITE_CODE=TA1 site_restart --site_name "site TA1" --enroll_auto_approve true
PID[a]=$SITE_PID
expect_eq "$(cat "${DIR[a]}/tls.pin")" "$NEXT" "the pin a serves after the switch"
"$BIN/steward-agent" --server "${URL[a]}" --state-dir "$T/agent-ok" --once --timeout 30 \
	>>"$T/agent-ok.log" 2>&1 || fail "check-in after the switch: $(tail -n 3 "$T/agent-ok.log")"
expect_eq "$(jq -r .tls_pin "$T/agent-ok/state.json")" "${NEXT#sha256:}" "the agent's pin after the switch"
expect_eq "$(jq -r .tls_pin_next "$T/agent-ok/state.json")" "" "the agent's next pin after the switch"
"$BIN/stewardctl" -s "${URL[a]}" -t "$T/a2.token" site show >/dev/null 2>"$T/rot-ctl2.err" ||
	fail "stewardctl after the switch: $(cat "$T/rot-ctl2.err")"
before=$(on a --json sites list | jq -r '.[] | select(.code == "TC1") | .last_in')
wait_for 60 "the child's link after the switch" sh -c \
	"$BIN/stewardctl -s ${URL[a]} -t ${ADM[a]} --json sites list | jq -e '.[] | select(.code == \"TC1\" and .last_in != \"$before\")' >/dev/null"
rc=0
printf '%s %s\n' "${URL[a]}" "$OLD_PIN" >"$T/trust.old"
STEWARD_TRUST_FILE=$T/trust.old "$BIN/stewardctl" -s "${URL[a]}" -t "$T/a2.token" site show \
	>"$T/rot-old.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q tls_pin_mismatch "$T/rot-old.out" || fail "a console with only the old pin: $(cat "$T/rot-old.out")"
pass "key rotation: agent, console and child site keep the next pin over the current key and go on after the switch; the old pin alone is refused"

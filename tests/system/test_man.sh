#!/usr/bin/env bash
# The manual pages cannot drift from the code: scripts/gen-man.sh makes them
# from the programs' tables and help (into this test's own directory, from
# this build's programs), and each one
#   1. renders with man -l without a single warning;
#   2. names what it documents: stewardd.conf(5) every configuration key,
#      stewardctl(1) every command, steward-agent(8) and
#      steward-launcher(8) every option of their --help;
#   3. is what the build put in build/man (the packages install those).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C.UTF-8

command -v man >/dev/null || { echo "SKIP: man is not installed (apt-get install man-db)"; exit 77; }
command -v groff >/dev/null || { echo "SKIP: groff is not installed (apt-get install groff)"; exit 77; }

sh "$SRC/scripts/gen-man.sh" "$BIN" "$T/man" || fail "scripts/gen-man.sh failed"
PAGES="stewardd.8 stewardd.conf.5 stewardctl.1 steward-agent.8 steward-launcher.8"

# ---- 1. man -l renders each without warnings ----------------------------------
for p in $PAGES; do
	[ -s "$T/man/$p" ] || fail "$p was not made"
	MANWIDTH=80 man --warnings -l "$T/man/$p" >"$T/$p.txt" 2>"$T/$p.err" ||
		fail "man -l $p failed: $(cat "$T/$p.err")"
	[ ! -s "$T/$p.err" ] || fail "man -l $p warns: $(head -5 "$T/$p.err")"
	[ "$(wc -l <"$T/$p.txt")" -gt 10 ] || fail "$p renders to almost nothing"
done
pass "man --warnings -l renders all five pages without a warning"

# The rendered text, joined so that a key or command split over a line end
# still counts; man turns some hyphens into other characters, so compare
# with ASCII hyphens
flat() { sed 's/\xe2\x80\x90/-/g; s/\xe2\x88\x92/-/g' "$T/$1.txt" | tr -s ' \n' '  '; }

# ---- 2. every key, command and option is there ----------------------------------
conf=$(flat stewardd.conf.5)
n=0
for key in $("$BIN/stewardd" --help-config | awk '{ print $1 }'); do
	grep -qF " $key (" <<<"$conf" || fail "stewardd.conf(5) does not describe the key $key"
	n=$((n + 1))
done
[ "$n" -gt 20 ] || fail "stewardd --help-config listed only $n keys"
pass "stewardd.conf(5) describes all $n configuration keys"

ctl=$(flat stewardctl.1)
n=0
while IFS=$'\t' read -r syn _; do
	cmd=$(awk '{ if ($2 ~ /^[a-z]/) print $1, $2; else print $1 }' <<<"$syn")
	grep -qF "$cmd" <<<"$ctl" || fail "stewardctl(1) does not describe '$cmd'"
	n=$((n + 1))
done < <("$BIN/stewardctl" help --tsv)
[ "$n" -gt 20 ] || fail "stewardctl help --tsv listed only $n commands"
for o in --server --token-file --json --timeout; do
	grep -qF -- "$o" <<<"$ctl" || fail "stewardctl(1) does not describe $o"
done
pass "stewardctl(1) describes all $n commands and the options"

for prog in steward-agent steward-launcher; do
	page=$(flat "$prog.8")
	for o in $("$BIN/$prog" --help | grep -oE '^ +--[a-z-]+' | tr -d ' '); do
		grep -qF -- "$o" <<<"$page" || fail "$prog(8) does not describe $o"
	done
done
pass "steward-agent(8) and steward-launcher(8) describe every option of their --help"

# ---- 3. the build's pages are these ------------------------------------------------
MAN_BUILT=$(dirname "$BIN")/man
if [ -d "$MAN_BUILT" ]; then
	for p in $PAGES; do
		diff -q "$MAN_BUILT/$p" "$T/man/$p" >/dev/null ||
			fail "build/man/$p differs from what gen-man.sh makes now; rebuild (make build)"
	done
	pass "build/man holds the same pages"
fi

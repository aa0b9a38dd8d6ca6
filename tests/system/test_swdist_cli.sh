#!/usr/bin/env bash
# stewardctl for software distribution against a real site: packages add of
# a nested tree (executable script, symlink, equal files), list/show, an
# immutable version, import refusals, programs, advertisements with every
# TIME form, in-use refusals naming the advertisement, status of a new
# advertisement, pausing, deleting, and bad arguments refused with exit 2.
. "$(dirname "$0")/lib.sh"

site_start site

# expect_exit CODE OUTFILE CMD...: run, require the exit status, keep stderr
expect_exit() {
	local want=$1 out=$2 rc=0
	shift 2
	"$@" >"$out.out" 2>"$out" || rc=$?
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, not $want: $(cat "$out" "$out.out")"
}

# ---- packages add ---------------------------------------------------------------
P=$T/pkg
mkdir -p "$P/bin" "$P/share/doc/deep/er"
printf '#!/bin/sh\necho installed >"$STEWARD_OUT"\n' >"$P/bin/install.sh"
chmod 755 "$P/bin/install.sh"
echo "read me" >"$P/share/doc/README"
cp "$P/share/doc/README" "$P/share/doc/deep/er/README.copy" # equal content: one blob
head -c 300000 /dev/urandom >"$P/share/data.bin"
ln -s ../bin/install.sh "$P/share/install"
chmod 640 "$P/share/data.bin"

ctl packages add hello --version 1.0 --source "$P" --comment "first package" >"$T/add.out" ||
	fail "packages add: $(cat "$T/add.out")"
grep -q '^Package: *hello$' "$T/add.out" || fail "add output: $(cat "$T/add.out")"
grep -qE '^Manifest: *[0-9a-f]{64}$' "$T/add.out" || fail "no manifest hash: $(cat "$T/add.out")"
grep -q '^Files: *4$' "$T/add.out" || fail "file count: $(cat "$T/add.out")"
grep -q '^Uploaded: *3 of 3 distinct contents' "$T/add.out" || fail "uploads: $(cat "$T/add.out")"
SCRIPT=$(stat -c %s "$P/bin/install.sh")
BYTES=$((SCRIPT + 8 + 8 + 300000))
grep -q "^Bytes: *$BYTES " "$T/add.out" || fail "bytes: $(cat "$T/add.out")"
# the blobs arrived whole: the site has them under their hashes
for f in bin/install.sh share/data.bin share/doc/README; do
	h=$(sha256sum "$P/$f" | cut -d' ' -f1)
	[ -f "$SITE_DIR/content/blobs/${h:0:2}/$h" ] || fail "blob of $f is not in the site's store"
done
pass "packages add uploads each distinct file once and prints the package"

ctl packages list >"$T/list" || fail "packages list"
grep -qE '^hello +1\.0 +4 +'"$BYTES"' +[0-9a-f]{12} ' "$T/list" || fail "list: $(cat "$T/list")"
expect_eq "$(ctl --json packages list | jq -r '.[0].name + " " + .[0].version')" "hello 1.0" "list json"
ctl packages show hello >"$T/show" || fail "packages show"
grep -qE "^file +0755 +$SCRIPT +[0-9a-f]{64} +bin/install\.sh$" "$T/show" || fail "show: $(cat "$T/show")"
grep -qE '^file +0640 +300000 ' "$T/show" || fail "show mode 0640: $(cat "$T/show")"
grep -qE '^link .* share/install -> \.\./bin/install\.sh$' "$T/show" || fail "show link: $(cat "$T/show")"
grep -qE '^dir +0755 .* share/doc/deep/er$' "$T/show" || fail "show nested dir: $(cat "$T/show")"
grep -q '^Programs: *none$' "$T/show" || fail "show programs: $(cat "$T/show")"
J=$(ctl --json packages show hello)
expect_eq "$(echo "$J" | jq -r '.versions[0].entries[] | select(.path=="bin/install.sh") | .mode')" 493 "script mode"
expect_eq "$(echo "$J" | jq -r '.versions[0].comment')" "first package" "comment"
pass "packages list and show: files, modes, links, nested directories"

expect_exit 1 "$T/again" ctl packages add hello --version 1.0 --source "$P"
grep -q 'error: package_exists: ' "$T/again" || fail "second add: $(cat "$T/again")"
grep -q '^remedy: ' "$T/again" || fail "no remedy: $(cat "$T/again")"
expect_eq "$(ctl --json packages list | jq length)" 1 "packages after the refused add"
pass "a second add of the same version is refused (409) with its remedy"

mkdir -p "$T/out1/a" "$T/out2" "$T/fifo"
echo x >"$T/out1/a/ok"
ln -s /etc/passwd "$T/out1/a/passwd"
expect_exit 1 "$T/r1" ctl packages add bad --version 1 --source "$T/out1"
grep -q 'import_refused' "$T/r1" && grep -q "passwd" "$T/r1" || fail "absolute link: $(cat "$T/r1")"
ln -s ../../../etc/passwd "$T/out2/up"
expect_exit 1 "$T/r2" ctl packages add bad --version 1 --source "$T/out2"
grep -q 'import_refused' "$T/r2" && grep -q "'up'" "$T/r2" || fail "link leaving: $(cat "$T/r2")"
mkfifo "$T/fifo/pipe"
expect_exit 1 "$T/r3" ctl packages add bad --version 1 --source "$T/fifo"
grep -q 'import_refused' "$T/r3" && grep -q 'FIFO' "$T/r3" || fail "FIFO: $(cat "$T/r3")"
expect_exit 1 "$T/r4" ctl packages add bad --version 1 --source "$T/nonexistent"
grep -q 'import_refused' "$T/r4" || fail "missing source: $(cat "$T/r4")"
expect_eq "$(ctl --json packages list | jq length)" 1 "packages after refusals"
pass "links leaving the package, FIFOs and missing sources are refused (exit 1, named)"

# ---- programs ---------------------------------------------------------------------
# a global --timeout before the command, the program's after it
ctl --timeout 20 programs add install-hello --package hello@1.0 --command "sh bin/install.sh" \
	--timeout 10m --success-codes 0,3 --reboot-codes 194 --env A=1 --env "B=two words" \
	--run always --min-free-mb 5 --requirement 'os.id = "debian"' --comment "installs hello" \
	>"$T/prog" || fail "programs add: $(cat "$T/prog")"
grep -q '^Timeout: *10m$' "$T/prog" || fail "program output: $(cat "$T/prog")"
J=$(ctl --json programs show install-hello)
expect_eq "$(echo "$J" | jq -c '[.timeout, .success_codes, .reboot_codes, .env.A, .env.B, .run, .min_free_mb]')" \
	'[600,[0,3],[194],"1","two words","always",5]' "program fields"
expect_eq "$(echo "$J" | jq -r '.package + "@" + .version')" "hello@1.0" "program package"
ctl programs add plain --package hello --command "true" >/dev/null || fail "programs add (defaults)"
expect_eq "$(ctl --json programs show plain | jq -c '[.timeout, .success_codes, .reboot_codes, .run]')" \
	'[3600,[0],[],"once"]' "program defaults"
ctl programs list >"$T/plist" || fail "programs list"
grep -qE '^install-hello +hello +1\.0 +always +10m +sh bin/install\.sh$' "$T/plist" ||
	fail "programs list: $(cat "$T/plist")"
ctl programs show install-hello | grep -q '^Environment: *A=1, B=two words$' || fail "show env"
ctl programs delete plain | grep -q "program 'plain' deleted" || fail "programs delete"
expect_exit 1 "$T/np" ctl programs show plain
grep -q 'program_not_found' "$T/np" || fail "deleted program: $(cat "$T/np")"
pass "programs add/show/list/delete, a program's --timeout beside the global one"

# ---- advertisements, every TIME form ----------------------------------------------
ctl collections create debian --query 'os.id = "debian"' >/dev/null || fail "collection"
adv() { ctl --json adverts create "$@" --program install-hello --collection debian; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
epoch() { date -u -d "$1" +%s; }
near() { # SECONDS WANT GOT
	local d=$(($(epoch "$3") - $2))
	[ "${d#-}" -le "$1" ] || fail "$3 is not within $1 s of $(iso "$2")"
}

NOW=$(date +%s)
J=$(adv a-now --available now --expires +7d) || fail "adverts create (now)"
near 5 "$NOW" "$(echo "$J" | jq -r .available)"
near 5 $((NOW + 7 * 86400)) "$(echo "$J" | jq -r .expires)"
J=$(adv a-rel --available +1h30m) || fail "adverts create (+1h30m)"
near 5 $((NOW + 5400)) "$(echo "$J" | jq -r .available)"
J=$(adv a-utc --available 2030-01-02T03:04:05Z --mandatory 2030-01-03T00:00:00.5Z --disabled) ||
	fail "adverts create (RFC 3339)"
expect_eq "$(echo "$J" | jq -c '[.available, .mandatory, .enabled, .recurring]')" \
	'["2030-01-02T03:04:05Z","2030-01-03T00:00:00Z",false,0]' "RFC 3339 times"
J=$(adv a-off --available 2030-01-02T05:04:05+02:00 --expires 2030-01-01T23:00:00-05:00) ||
	fail "adverts create (offsets)"
expect_eq "$(echo "$J" | jq -c '[.available, .expires]')" \
	'["2030-01-02T03:04:05Z","2030-01-02T04:00:00Z"]' "times with offsets"
J=$(TZ=UTC0 adv a-local --available "2030-01-02 03:04") || fail "adverts create (local, UTC)"
expect_eq "$(echo "$J" | jq -r .available)" "2030-01-02T03:04:00Z" "local time in UTC"
J=$(TZ=CET-1CEST,M3.5.0,M10.5.0/3 adv a-cest --available "2030-07-01 12:00") ||
	fail "adverts create (local, CEST)"
expect_eq "$(echo "$J" | jq -r .available)" "2030-07-01T10:00:00Z" "local summer time"
J=$(adv a-rec --recurring 1h30m --start +2h) || fail "adverts create (recurring)"
expect_eq "$(echo "$J" | jq -r .recurring)" 5400 "recurring seconds"
near 5 $((NOW + 7200)) "$(echo "$J" | jq -r .mandatory)"
pass "adverts create: now, +DURATION, RFC 3339 (Z, fraction, offsets), local time, recurring"

ctl adverts list >"$T/alist" || fail "adverts list"
grep -qE '^a-utc +install-hello +debian +no +2030-01-02T03:04:05Z +at 2030-01-03T00:00:00Z +-$' "$T/alist" ||
	fail "adverts list: $(cat "$T/alist")"
grep -qE '^a-rec .* every 1h30m from ' "$T/alist" || fail "recurring in list: $(cat "$T/alist")"
ctl adverts show a-utc >"$T/ashow" || fail "adverts show"
grep -q '^Mandatory: *2030-01-03T00:00:00Z$' "$T/ashow" && grep -q '^Enabled: *no$' "$T/ashow" ||
	fail "adverts show: $(cat "$T/ashow")"
ctl adverts enable a-utc | grep -q "advertisement 'a-utc' enabled" || fail "enable output"
expect_eq "$(ctl --json adverts show a-utc | jq .enabled)" true "after enable"
ctl adverts disable a-utc | grep -q "advertisement 'a-utc' disabled" || fail "disable output"
expect_eq "$(ctl --json adverts show a-utc | jq .enabled)" false "after disable"
expect_exit 1 "$T/na" ctl adverts show nothing-here
grep -q 'advert_not_found' "$T/na" || fail "unknown advert: $(cat "$T/na")"
pass "adverts list/show/enable/disable"

# ---- status of a new advertisement -----------------------------------------------
ctl status advert a-now >"$T/st" || fail "status advert"
for s in received waiting download_started download_finished download_failed \
	verification_failed running succeeded succeeded_reboot failed timed_out expired; do
	grep -qE "^$s +0$" "$T/st" || fail "status lacks '$s 0': $(cat "$T/st")"
done
J=$(ctl --json status advert a-now)
expect_eq "$(echo "$J" | jq -c '[(.counts | to_entries | map(.value) | add // 0), .clients]')" '[0,[]]' "new advert status"
expect_eq "$(echo "$J" | jq -r .advert)" a-now "status advert name"
ctl status client 00000000000000000000000000000000 | grep -q "no advertisements have reached" ||
	fail "status client"
expect_eq "$(ctl --json status client 00000000000000000000000000000000 | jq -c .adverts)" '[]' "status client json"
pass "status of a new advertisement: every state zero, no clients"

# ---- deletes refused while in use ----------------------------------------------------
expect_exit 1 "$T/pin" ctl programs delete install-hello
grep -q 'error: program_in_use: .*a-now' "$T/pin" || fail "program delete: $(cat "$T/pin")"
expect_exit 1 "$T/kin" ctl packages delete hello@1.0
grep -q 'error: package_in_use: .*install-hello.*a-now' "$T/kin" || fail "package delete: $(cat "$T/kin")"
grep -q '^remedy: ' "$T/kin" || fail "no remedy: $(cat "$T/kin")"
pass "deleting an advertised program or its package is refused, naming the advertisement"

# ---- pausing ---------------------------------------------------------------------------
ctl site pause-adverts --reason "site upgrade to 0.2" | grep -q "advertisements paused: site upgrade to 0.2" ||
	fail "pause output"
expect_eq "$(ctl --json site show | jq -c '[.adverts_paused, .adverts_pause_reason]')" '[true,"site upgrade to 0.2"]' "paused"
expect_eq "$(ctl --json status advert a-now | jq .adverts_paused)" true "status shows the pause"
expect_eq "$(ctl --json site resume-adverts | jq .adverts_paused)" false "resume"
pass "site pause-adverts and resume-adverts"

# ---- deleting -------------------------------------------------------------------------
for a in a-now a-rel a-utc a-off a-local a-cest a-rec; do
	ctl adverts delete $a | grep -q "advertisement '$a' deleted" || fail "adverts delete $a"
done
ctl programs delete install-hello >/dev/null || fail "programs delete after the adverts"
ctl packages delete hello --version 1.0 | grep -q "package hello 1.0 deleted" || fail "packages delete"
expect_eq "$(ctl --json packages list | jq length)" 0 "packages after delete"
h=$(sha256sum "$P/share/data.bin" | cut -d' ' -f1)
[ ! -f "$SITE_DIR/content/blobs/${h:0:2}/$h" ] || fail "an unused blob stayed in the store"
pass "adverts, programs and packages delete in order"

# ---- bad arguments: exit 2, nothing sent ---------------------------------------------------
bad() { # PHRASE ARGS...: exit 2 and the phrase in the usage error
	local phrase=$1
	shift
	expect_exit 2 "$T/bad" ctl "$@"
	grep -q "error: usage: .*$phrase" "$T/bad" || fail "'$*': no '$phrase' in: $(cat "$T/bad")"
}
bad "needs --source" packages add x --version 1
bad "not a package name" packages add bad/name --version 1 --source "$P"
bad "not a package version" packages add x --version '1 0' --source "$P"
bad "say which version" packages delete hello
bad "give the version once" packages delete hello@1 --version 1
bad "unit 'x'" programs add p --package hello --command c --timeout 10x
bad "out of order" programs add p --package hello --command c --timeout 30m1h
bad "longer than 7d" programs add p --package hello --command c --timeout 8d
bad "has 256; exit codes are 0 to 255" programs add p --package hello --command c --success-codes 0,256
bad "whole numbers" programs add p --package hello --command c --reboot-codes 1,,2
bad "in both" programs add p --package hello --command c --success-codes 0,3 --reboot-codes 3
bad "NAME=VALUE" programs add p --package hello --command c --env 1A=x
bad "given twice" programs add p --package hello --command c --env A=1 --env A=2
bad "once .* or always" programs add p --package hello --command c --run sometimes
bad "whole number of MB" programs add p --package hello --command c --min-free-mb -1
bad "command is empty" programs add p --package hello --command ""
bad "not NAME or NAME@VERSION" programs add p --package "hello@" --command c
bad "month 13" adverts create x --program p --collection c --available 2030-13-01T00:00:00Z
bad "2030-02 has 28 days" adverts create x --program p --collection c --available "2030-02-29 10:00"
bad "no time zone" adverts create x --program p --collection c --available 2030-01-01T00:00:00
bad "not a time" adverts create x --program p --collection c --available tomorrow
bad "not both" adverts create x --program p --collection c --mandatory now --recurring 1h
bad "belongs to --recurring" adverts create x --program p --collection c --start +1h
bad "at least 5m" adverts create x --program p --collection c --recurring 1m
bad "in the past" adverts create x --program p --collection c --expires 2020-01-01T00:00:00Z
bad "not after" adverts create x --program p --collection c --available +2d --expires +1d
bad "before --available" adverts create x --program p --collection c --available +2d --mandatory +1d
bad "needs --collection" adverts create x --program p
bad "not a client id" status client nope
bad "printable ASCII" site pause-adverts --reason "$(printf 'a\tb')"
# --version and --timeout stay global where the command has no option of that name
"$BIN/stewardctl" --version | grep -q '^stewardctl ' || fail "stewardctl --version"
ctl packages list --version | grep -q '^stewardctl ' || fail "--version after a command without one"
ctl adverts list --timeout 0 >/dev/null 2>&1 && fail "a global --timeout 0 was accepted"
# none of them reached the site
expect_eq "$(ctl --json programs list | jq length)" 0 "programs after bad arguments"
expect_eq "$(ctl --json adverts list | jq length)" 0 "adverts after bad arguments"
pass "bad arguments exit 2 with a usage error saying what is wrong"

site_stop

#!/usr/bin/env bash
# make deb's packages (packaging/deb/build.sh, docs/packaging.md):
#   1. the three packages build from this build, and lintian finds no error;
#   2. their control data: versions, dependencies from dpkg-shlibdeps,
#      conffiles, md5sums, maintainer scripts;
#   3. unpacked into a throwaway root (dpkg -x: nothing touches this
#      machine's dpkg database), the files are where and as the doc says,
#      and systemd-analyze verify passes on the units as installed;
#   4. steward-site's postinst, run in a throwaway root with stand-ins for
#      adduser and systemd's helpers, makes the steward user and
#      /var/lib/steward 0750 and enables the unit.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

for t in dpkg-deb dpkg-shlibdeps fakeroot lintian; do
	command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (scripts/deps.sh installs it)"; exit 77; }
done
BUILD=$(dirname "$BIN")
[ -s "$BUILD/man/stewardd.8" ] || fail "$BUILD/man has no pages; build first (make build)"

# ---- 1. build, lintian ---------------------------------------------------------------------
"$SRC/packaging/deb/build.sh" "$BUILD" "$T/deb" >"$T/build.out" 2>&1 || fail "build.sh: $(cat "$T/build.out")"
V=$("$BIN/stewardd" --version | awk '{ print $2 }')
ARCH=$(dpkg --print-architecture)
for p in steward-site steward-agent steward-console; do
	[ -s "$T/deb/${p}_$V-1_$ARCH.deb" ] || fail "no $p package: $(cat "$T/build.out")"
done
# lintian refuses to be root without a word; its tags are what counts
lintian --no-tag-display-limit "$T"/deb/*.deb >"$T/lintian.out" 2>&1 || true
if grep -q '^E: ' "$T/lintian.out"; then
	fail "lintian errors: $(grep '^E: ' "$T/lintian.out")"
fi
grep -q '^[EWI]: \|^running with root' "$T/lintian.out" || [ ! -s "$T/lintian.out" ] ||
	fail "lintian did not run: $(head -n 5 "$T/lintian.out")"
# the warnings docs/packaging.md lists, and no others
grep '^W: ' "$T/lintian.out" | sed 's/^W: [a-z-]*: \([a-z.-]*\).*/\1/' | sort -u >"$T/warnings"
for w in $(cat "$T/warnings"); do
	grep -q "\`$w\`" "$SRC/docs/packaging.md" || fail "lintian warning $w is not explained in docs/packaging.md"
done
pass "make deb builds steward-site, steward-agent, steward-console $V; lintian: no errors, $(wc -l <"$T/warnings") kinds of warning, each explained"

# ---- 2. control data -----------------------------------------------------------------------
field() { dpkg-deb -f "$T/deb/${1}_$V-1_$ARCH.deb" "$2"; }
for p in steward-site steward-agent steward-console; do
	expect_eq "$(field $p Version)" "$V-1" "$p Version"
	field $p Depends | grep -q 'libc6 (>= ' || fail "$p Depends lacks the shared libraries: $(field $p Depends)"
	mkdir -p "$T/ctrl/$p"
	dpkg-deb -e "$T/deb/${p}_$V-1_$ARCH.deb" "$T/ctrl/$p"
	(cd "$T/x-$p" 2>/dev/null || { mkdir -p "$T/x-$p" && dpkg-deb -x "$T/deb/${p}_$V-1_$ARCH.deb" "$T/x-$p" && cd "$T/x-$p"; } &&
		md5sum --quiet -c "$T/ctrl/$p/md5sums") || fail "$p md5sums do not match its files"
done
field steward-site Depends | grep -q 'libmicrohttpd12' || fail "steward-site does not depend on libmicrohttpd"
field steward-site Depends | grep -q 'adduser' || fail "steward-site does not depend on adduser"
expect_eq "$(cat "$T/ctrl/steward-site/conffiles")" /etc/steward/stewardd.conf "steward-site conffiles"
expect_eq "$(cat "$T/ctrl/steward-agent/conffiles")" /etc/default/steward-agent "steward-agent conffiles"
for s in preinst postinst prerm postrm; do
	[ -x "$T/ctrl/steward-site/$s" ] || fail "steward-site has no $s"
	sh -n "$T/ctrl/steward-site/$s" || fail "steward-site $s is not valid sh"
done
grep -q "prepare-upgrade \"\$NEW_VERSION\"" "$T/ctrl/steward-site/preinst" || fail "preinst does not prepare the upgrade"
grep -q "^NEW_VERSION=$V$" "$T/ctrl/steward-site/preinst" || fail "preinst does not name $V"
pass "control data: versions, shared-library dependencies, conffiles, md5sums, maintainer scripts"

# ---- 3. the files ----------------------------------------------------------------------------
R=$T/root
mkdir -p "$R"
for p in steward-site steward-agent steward-console; do
	dpkg-deb -x "$T/deb/${p}_$V-1_$ARCH.deb" "$R"
	dpkg-deb -c "$T/deb/${p}_$V-1_$ARCH.deb" | awk '$2 != "root/root" { print "owner", $2, $6 }' >>"$T/owners"
done
[ ! -s "$T/owners" ] || fail "files not owned by root: $(head -n 3 "$T/owners")"
mode() { expect_eq "$(stat -c %a "$R$1")" "$2" "mode of $1"; }
mode /usr/sbin/stewardd 755
mode /usr/sbin/steward-launcher 755
mode /usr/bin/stewardctl 755
mode /usr/lib/steward/agent/bin/steward-agent 755
mode /usr/lib/steward/agent/bin/steward-agent-idle 755
mode /usr/lib/steward/agent-seed 755
mode /usr/lib/steward/site-start 755
mode /etc/steward/stewardd.conf 644
mode /lib/systemd/system/stewardd.service 644
mode /lib/systemd/system/steward-launcher.service 644
expect_eq "$(readlink "$R/usr/sbin/steward-agent")" ../lib/steward/agent/bin/steward-agent "steward-agent link"
for m in man8/stewardd.8 man5/stewardd.conf.5 man1/stewardctl.1 man8/steward-agent.8 man8/steward-launcher.8; do
	zcat "$R/usr/share/man/$m.gz" | cmp -s - "$BUILD/man/$(basename "$m")" || fail "$m.gz is not build/man's page"
	MANWIDTH=80 man --warnings -l "$R/usr/share/man/$m.gz" >/dev/null 2>"$T/man.err" && [ ! -s "$T/man.err" ] ||
		fail "man -l $m.gz: $(cat "$T/man.err")"
done
for p in steward-site steward-agent steward-console; do
	[ -s "$R/usr/share/doc/$p/copyright" ] || fail "$p has no copyright file"
	zcat "$R/usr/share/doc/$p/changelog.Debian.gz" | head -n 1 | grep -q "^$p ($V-1) " ||
		fail "$p changelog: $(zcat "$R/usr/share/doc/$p/changelog.Debian.gz" | head -n 1)"
done
"$R/usr/sbin/stewardd" --version | grep -q "^stewardd $V " || fail "the packaged stewardd does not run"
# the shipped configuration checks out once site_code is set
sed 's/^#site_code = ABC/site_code = ABC/' "$R/etc/steward/stewardd.conf" >"$T/conf"
"$R/usr/sbin/stewardd" -n -c "$T/conf" >/dev/null || fail "the shipped stewardd.conf with site_code set: $("$R/usr/sbin/stewardd" -n -c "$T/conf" 2>&1)"
if "$R/usr/sbin/stewardd" -n -c "$R/etc/steward/stewardd.conf" >/dev/null 2>&1; then
	fail "the shipped stewardd.conf starts a site without a site_code"
fi
if command -v systemd-analyze >/dev/null; then
	# the units the packages' ones pull in (sysinit.target, ...), from
	# this machine; the packages' own are not overwritten
	cp -an /lib/systemd/system/. "$R/lib/systemd/system/"
	MANPATH=$R/usr/share/man systemd-analyze verify --root="$R" \
		"$R/lib/systemd/system/stewardd.service" "$R/lib/systemd/system/steward-launcher.service" \
		>"$T/verify.out" 2>&1 || fail "systemd-analyze verify on the installed units: $(cat "$T/verify.out")"
	[ ! -s "$T/verify.out" ] || fail "systemd-analyze verify warns: $(cat "$T/verify.out")"
fi
pass "unpacked: binaries, units, conffiles, man pages (rendering cleanly) and docs where docs/packaging.md says; units verify"

# ---- 4. steward-site's postinst in a throwaway root ---------------------------------------------
# The script runs with PATH pointing at stand-ins that record what they are
# asked and act inside $R: adduser and getent (a passwd file in $R),
# deb-systemd-helper, systemctl. Paths of the script are rewritten into $R.
F=$T/fake
mkdir -p "$F" "$R/etc"
: >"$R/etc/passwd"
cat >"$F/getent" <<FAKE
#!/bin/sh
grep "^\$2:" "$R/etc/passwd"
FAKE
cat >"$F/adduser" <<FAKE
#!/bin/sh
echo "adduser \$*" >>"$T/calls"
for a; do u=\$a; done
echo "\$u:x:999:999::/var/lib/steward:/usr/sbin/nologin" >>"$R/etc/passwd"
FAKE
for c in deb-systemd-helper deb-systemd-invoke systemctl; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$c" "$T/calls" >"$F/$c"
done
# chown to a user this machine lacks: recorded, not done
printf '#!/bin/sh\necho "chown $*" >>"%s"\n' "$T/calls" >"$F/chown"
chmod 755 "$F"/*
sed -e "s#/var/lib/steward#$R/var/lib/steward#g" -e "s#/etc/steward/#$R/etc/steward/#g" \
	-e "s#/run/steward-site#$R/run/steward-site#g" "$T/ctrl/steward-site/postinst" >"$T/postinst"
PATH=$F:$R/usr/sbin:$PATH sh "$T/postinst" configure "" >"$T/postinst.out" 2>&1 ||
	fail "postinst configure: $(cat "$T/postinst.out")"
grep -q "^adduser --system --group --home $R/var/lib/steward --no-create-home .* steward$" "$T/calls" ||
	fail "postinst did not add the system user steward: $(cat "$T/calls")"
grep -q '^steward:' "$R/etc/passwd" || fail "no steward user"
mode /var/lib/steward 750
grep -q "^chown steward:steward $R/var/lib/steward$" "$T/calls" || fail "data dir not given to steward: $(cat "$T/calls")"
grep -q "^chown root:steward $R/etc/steward/stewardd.conf$" "$T/calls" || fail "conffile group: $(cat "$T/calls")"
mode /etc/steward/stewardd.conf 640
grep -q "^deb-systemd-helper enable stewardd.service$" "$T/calls" || fail "unit not enabled: $(cat "$T/calls")"
# a second configure (an upgrade) does not add the user again
: >"$T/calls"
PATH=$F:$R/usr/sbin:$PATH sh "$T/postinst" configure "$V-0" >"$T/postinst.out" 2>&1 ||
	fail "postinst configure (upgrade): $(cat "$T/postinst.out")"
! grep -q '^adduser' "$T/calls" || fail "the upgrade added the user again"
pass "postinst: the system user steward, /var/lib/steward 0750 steward's, the conffile root:steward 0640, the unit enabled"

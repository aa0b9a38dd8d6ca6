#!/usr/bin/env bash
# The packages installed for real, maintainer scripts and all, into a
# throwaway Debian 12 made by mmdebstrap (docs/packaging.md): the user
# steward, /var/lib/steward, the conffiles, the enabled units; stewardd
# runs there as steward from the packaged configuration; an upgrade to a
# newer stewardd goes through --prepare-upgrade (the old binary kept, a
# backup, the trial record) and the new version takes it; removal keeps the
# site's data, purging the agent removes its own.
#
# It downloads Debian 12 from the configured mirror (about 60 s), so it runs
# only when asked: STEWARD_TEST_CHROOT=1 and mmdebstrap installed (apt-get
# install mmdebstrap); otherwise it is skipped. As root only (chroot).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

[ "${STEWARD_TEST_CHROOT:-0}" = 1 ] ||
	{ echo "SKIP: set STEWARD_TEST_CHROOT=1 to install the packages into a Debian 12 chroot (downloads it)"; exit 77; }
command -v mmdebstrap >/dev/null || { echo "SKIP: mmdebstrap is not installed (apt-get install mmdebstrap)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: the chroot needs root"; exit 77; }
BUILD=$(dirname "$BIN")

# ---- the packages: this build's, and a newer stewardd -------------------------------------
"$SRC/packaging/deb/build.sh" "$BUILD" "$T/deb" >"$T/build.out" 2>&1 || fail "build.sh: $(cat "$T/build.out")"
V=$("$BIN/stewardd" --version | awk '{ print $2 }')
NEXT=$(echo "$V" | awk -F. '{ printf "%d.%d.%d", $1, $2, $3 + 1 }')
"$BIN/stewardctl" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
build_release "$NEXT" site
mkdir -p "$T/next/bin" "$T/next/man"
cp "$BIN"/stewardd "$BIN"/stewardctl "$BIN"/steward-agent "$BIN"/steward-agent-idle "$BIN"/steward-inventory \
	"$BIN"/steward-launcher "$T/next/bin/"
cp "$BUILD"/man/* "$T/next/man/"
cp "$T/build-$NEXT/bin/stewardd" "$T/next/bin/stewardd"
"$SRC/packaging/deb/build.sh" "$T/next" "$T/deb-next" >"$T/build.out" 2>&1 || fail "build.sh next: $(cat "$T/build.out")"
ARCH=$(dpkg --print-architecture)
pass "packages $V and a steward-site $NEXT built"

# ---- a Debian 12 with the packages' dependencies, then dpkg -i ----------------------------------
deps=$(for p in "$T"/deb/*.deb; do dpkg-deb -f "$p" Depends; done | tr ',' '\n' |
	sed 's/(.*)//; s/ //g' | grep . | sort -u | paste -sd, -)
R=$T/root
mmdebstrap --variant=minbase --include="init-system-helpers,$deps" bookworm "$R" >"$T/mmdebstrap.log" 2>&1 ||
	fail "mmdebstrap: $(tail -n 5 "$T/mmdebstrap.log")"
mkdir -p "$R/tmp/deb"
cp "$T"/deb/*.deb "$T"/deb-next/steward-site_*.deb "$R/tmp/deb/"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
in_root dpkg -i /tmp/deb/steward-site_"$V"-1_"$ARCH".deb /tmp/deb/steward-agent_"$V"-1_"$ARCH".deb \
	/tmp/deb/steward-console_"$V"-1_"$ARCH".deb >"$T/install.out" 2>&1 || fail "dpkg -i: $(cat "$T/install.out")"
pass "installed into a Debian 12 chroot with dpkg -i"

# ---- what they brought ----------------------------------------------------------------------------
u=$(in_root getent passwd steward) || fail "no user steward"
uid=$(echo "$u" | cut -d: -f3)
[ "$uid" -lt 1000 ] || fail "steward is not a system user: $u"
expect_eq "$(echo "$u" | cut -d: -f6-)" "/var/lib/steward:/usr/sbin/nologin" "steward's home and shell"
in_root getent group steward >/dev/null || fail "no group steward"
st() { in_root stat -c '%a %U:%G' "$1"; }
expect_eq "$(st /var/lib/steward)" "750 steward:steward" "/var/lib/steward"
expect_eq "$(st /etc/steward/stewardd.conf)" "640 root:steward" "stewardd.conf"
expect_eq "$(st /var/lib/steward-agent)" "700 root:root" "/var/lib/steward-agent"
in_root dpkg-query -W -f='${Conffiles}\n' steward-site | grep -q '^ /etc/steward/stewardd.conf [0-9a-f]\{32\}$' ||
	fail "stewardd.conf is not a conffile"
in_root dpkg-query -W -f='${Conffiles}\n' steward-agent | grep -q '^ /etc/default/steward-agent ' ||
	fail "/etc/default/steward-agent is not a conffile"
for u in stewardd steward-launcher; do
	[ -L "$R/etc/systemd/system/multi-user.target.wants/$u.service" ] || fail "$u.service is not enabled"
done
grep -q "set site_code in /etc/steward/stewardd.conf" "$T/install.out" ||
	fail "the postinst does not say what to configure: $(cat "$T/install.out")"
if command -v systemd-analyze >/dev/null; then
	cp -an /lib/systemd/system/. "$R/lib/systemd/system/"
	systemd-analyze verify --man=no --root="$R" "$R/lib/systemd/system/stewardd.service" \
		"$R/lib/systemd/system/steward-launcher.service" >"$T/verify.out" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$T/verify.out")"
fi
pass "the system user steward, /var/lib/steward 0750, the conffiles, both units enabled and verified"

# ---- stewardd as steward, from the packaged configuration -------------------------------------------
sed -i 's/^#site_code = ABC/site_code = ABC/; s/^listen .*/listen = 127.0.0.1:0/' "$R/etc/steward/stewardd.conf"
run_site() { # start stewardd in the chroot as steward; SITE_PID, PORT
	: >"$T/site.log"
	chroot "$R" setpriv --reuid=steward --regid=steward --init-groups \
		/usr/lib/steward/site-start -c /etc/steward/stewardd.conf >>"$T/site.log" 2>&1 &
	SITE_PID=$!
	PIDS+=("$SITE_PID")
	PORT=""
	for _ in $(seq 1 100); do
		PORT=$(sed -n 's/.* started .*listen=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/site.log" | tail -n 1)
		[ -n "$PORT" ] && break
		kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd exited: $(tail -n 5 "$T/site.log")"
		sleep 0.1
	done
	[ -n "$PORT" ] || fail "stewardd did not start: $(tail -n 5 "$T/site.log")"
}
stop_site() { kill "$SITE_PID"; wait "$SITE_PID" || fail "stewardd did not stop cleanly"; }
run_site
curl -fsS -k "https://127.0.0.1:$PORT/health" | jq -e ".version == \"$V\"" >/dev/null || fail "no health from $V"
expect_eq "$(st /var/lib/steward/admin.token)" "600 steward:steward" "admin.token"
stop_site
pass "stewardd $V serves as steward from /etc/steward/stewardd.conf"

# ---- an upgrade to NEXT through --prepare-upgrade ------------------------------------------------------
mkdir -p "$R/proc"
mount -t proc proc "$R/proc" || fail "cannot mount /proc in the chroot"
CLEANUPS+=("umount -l '$R/proc' 2>/dev/null")
in_root dpkg -i /tmp/deb/steward-site_"$NEXT"-1_"$ARCH".deb >"$T/upgrade.out" 2>&1 || fail "upgrade: $(cat "$T/upgrade.out")"
grep -q "ready for the upgrade from $V to $NEXT" "$T/upgrade.out" || fail "preinst did not prepare: $(cat "$T/upgrade.out")"
expect_eq "$(jq -r .state "$R/var/lib/steward/site-upgrade.json")" trial "record after the package upgrade"
expect_eq "$(st "/var/lib/steward/site-upgrade.json" | cut -d' ' -f2)" steward:steward "record owner"
ls "$R"/var/lib/steward/backups/steward-"$V"-before-"$NEXT"-*.db >/dev/null || fail "no backup"
in_root /var/lib/steward/versions/"$V"/bin/stewardd --version | grep -q "^stewardd $V " || fail "old binary not kept"
expect_eq "$(readlink "$R/var/lib/steward/current")" "versions/$NEXT" "current after the package upgrade"
expect_eq "$(st /var/lib/steward/versions/$NEXT/bin/stewardd)" "755 steward:steward" "the kept $NEXT binary"
run_site
curl -fsS -k "https://127.0.0.1:$PORT/health" | jq -e ".version == \"$NEXT\"" >/dev/null || fail "no health from $NEXT"
expect_eq "$(tr '\0' '\n' <"/proc/$SITE_PID/cmdline" | head -n 1)" "/var/lib/steward/current/bin/stewardd" \
	"the binary site-start ran"
for _ in $(seq 1 50); do
	[ "$(jq -r .state "$R/var/lib/steward/site-upgrade.json")" != trial ] && break
	sleep 0.1
done
expect_eq "$(jq -r .state "$R/var/lib/steward/site-upgrade.json")" watching "record once $NEXT serves"
stop_site
# a restart (systemd's, a reboot's) runs the same version again
run_site
curl -fsS -k "https://127.0.0.1:$PORT/health" | jq -e ".version == \"$NEXT\"" >/dev/null || fail "restart: not $NEXT"
stop_site
umount "$R/proc" || fail "cannot unmount the chroot's /proc"
pass "upgrade $V -> $NEXT: preinst kept $V and backed up the database; postinst pointed current at $NEXT, which took the trial, is watched and runs again after a restart"

# ---- removal -----------------------------------------------------------------------------------------
in_root dpkg -r steward-site >"$T/remove.out" 2>&1 || fail "dpkg -r steward-site: $(cat "$T/remove.out")"
[ -f "$R/var/lib/steward/steward.db" ] || fail "removing steward-site removed the database"
[ ! -e "$R/usr/sbin/stewardd" ] || fail "stewardd left after removal"
in_root dpkg -P steward-agent >"$T/purge.out" 2>&1 || fail "dpkg -P steward-agent: $(cat "$T/purge.out")"
[ ! -e "$R/var/lib/steward-agent" ] || fail "purging steward-agent left /var/lib/steward-agent"
[ ! -e "$R/etc/systemd/system/multi-user.target.wants/steward-launcher.service" ] || fail "the launcher unit is still enabled"
pass "removing steward-site keeps /var/lib/steward; purging steward-agent removes its installation and unit"

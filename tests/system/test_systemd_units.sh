#!/usr/bin/env bash
# The systemd units of the packages (packaging/systemd/) pass
# systemd-analyze verify, and keep the hardening docs/packaging.md promises.
# The units name /usr/sbin and /usr/lib/steward, which this machine need
# not have: they are verified with those paths pointed at this build
# (test_deb.sh verifies the units as a package installs them).
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null ||
	{ echo "SKIP: systemd-analyze is not installed (apt-get install systemd)"; exit 77; }
U=$SRC/packaging/systemd
mkdir -p "$T/units"
for u in stewardd.service steward-launcher.service; do
	[ -f "$U/$u" ] || fail "packaging/systemd/$u is missing"
	sed -e "s#/usr/sbin/#$BIN/#g" -e "s#/usr/lib/steward/agent-seed#$SRC/packaging/agent-seed#g" \
		-e "s#/usr/lib/steward/site-start#$SRC/packaging/site-start#g" \
		"$U/$u" >"$T/units/$u"
done
systemd-analyze verify --man=no "$T/units/stewardd.service" "$T/units/steward-launcher.service" \
	>"$T/verify.out" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.out")"
[ ! -s "$T/verify.out" ] || fail "systemd-analyze verify warns: $(cat "$T/verify.out")"
pass "systemd-analyze verify passes on stewardd.service and steward-launcher.service"

has() { grep -qxF "$2" "$U/$1" || fail "$1 lacks '$2'"; }
for l in Type=notify User=steward Group=steward ProtectSystem=strict ReadWritePaths=/var/lib/steward \
	PrivateTmp=yes NoNewPrivileges=yes CapabilityBoundingSet= Restart=on-failure; do
	has stewardd.service "$l"
done
for l in PrivateTmp=yes Restart=always; do
	has steward-launcher.service "$l"
done
pass "stewardd.service runs as steward with an empty capability set; both restart"

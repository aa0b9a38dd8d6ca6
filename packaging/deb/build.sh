#!/bin/sh
# make deb: steward-site, steward-agent and steward-console .deb packages
# from this build (build/bin, build/man), with dpkg-deb; no debhelper.
#
#   packaging/deb/build.sh [BUILD_DIR [OUT_DIR]]
#
# BUILD_DIR is the CMake build (default build), OUT_DIR gets the packages
# (default BUILD_DIR/deb). The Debian revision is DEB_REVISION (default 1),
# the maintainer DEB_MAINTAINER. docs/packaging.md lists what each package
# installs; tests/system/test_deb.sh checks them with lintian and by
# installing them into a throwaway directory.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PKG=$ROOT/packaging
BUILD=${1:-$ROOT/build}
OUT=${2:-$BUILD/deb}
REV=${DEB_REVISION:-1}
MAINTAINER=${DEB_MAINTAINER:-steward maintainers <steward-maintainers@lists.steward-project.org>}

for p in stewardd stewardctl steward-agent steward-agent-idle steward-inventory steward-launcher; do
	[ -x "$BUILD/bin/$p" ] || { echo "deb: $BUILD/bin/$p not found; build first (make build)" >&2; exit 1; }
done
for p in stewardd.8 stewardd.conf.5 stewardctl.1 steward-agent.8 steward-launcher.8; do
	[ -s "$BUILD/man/$p" ] || { echo "deb: $BUILD/man/$p not found; build first (make build)" >&2; exit 1; }
done
for t in dpkg-deb dpkg-shlibdeps fakeroot strip gzip; do
	command -v "$t" >/dev/null || { echo "deb: $t is missing; run scripts/deps.sh" >&2; exit 1; }
done
VERSION=$("$BUILD/bin/stewardd" --version | awk '{ print $2 }')
case $VERSION in
[0-9]*.[0-9]*.[0-9]*) ;;
*) echo "deb: stewardd --version printed no X.Y.Z version" >&2; exit 1 ;;
esac
DEBVERSION=$VERSION-$REV
ARCH=$(dpkg --print-architecture)
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

W=$(mktemp -d "${TMPDIR:-/tmp}/steward-deb.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/debian" "$OUT"
# dpkg-shlibdeps reads the package names from here
printf 'Source: steward\n\nPackage: steward-site\nArchitecture: any\n\nPackage: steward-agent\nArchitecture: any\n\nPackage: steward-console\nArchitecture: any\n' \
	>"$W/debian/control"

# inst MODE SRC DST: one file into the package tree
inst() {
	mkdir -p "$(dirname "$3")"
	install -m "$1" "$2" "$3"
}
bin() { # SRC DST: an executable, stripped as Debian strips them
	mkdir -p "$(dirname "$2")"
	install -m 0755 "$1" "$2"
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$2"
}
man_page() { # PAGE SECTION TREE
	mkdir -p "$3/usr/share/man/man$2"
	gzip -9n <"$BUILD/man/$1" >"$3/usr/share/man/man$2/$1.gz"
	chmod 0644 "$3/usr/share/man/man$2/$1.gz"
}
doc() { # NAME TREE: copyright and changelog.Debian.gz
	mkdir -p "$2/usr/share/doc/$1"
	install -m 0644 "$PKG/deb/copyright" "$2/usr/share/doc/$1/copyright"
	{
		printf '%s (%s) unstable; urgency=medium\n\n' "$1" "$DEBVERSION"
		printf '  * steward %s (built from the steward source by make deb).\n\n' "$VERSION"
		printf ' -- %s  %s\n' "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
	} | gzip -9n >"$2/usr/share/doc/$1/changelog.Debian.gz"
	chmod 0644 "$2/usr/share/doc/$1/changelog.Debian.gz"
}
script() { # NAME TREE: a maintainer script, @VERSION@ filled in
	sed "s/@VERSION@/$VERSION/g" "$PKG/deb/$1" >"$2/DEBIAN/${1##*.}"
	chmod 0755 "$2/DEBIAN/${1##*.}"
}

# ---- the trees ---------------------------------------------------------------------
S=$W/debian/steward-site
bin "$BUILD/bin/stewardd" "$S/usr/sbin/stewardd"
inst 0644 "$PKG/systemd/stewardd.service" "$S/lib/systemd/system/stewardd.service"
inst 0755 "$PKG/site-start" "$S/usr/lib/steward/site-start"
inst 0644 "$PKG/deb/stewardd.conf" "$S/etc/steward/stewardd.conf"
man_page stewardd.8 8 "$S"
man_page stewardd.conf.5 5 "$S"
doc steward-site "$S"
mkdir -p "$S/DEBIAN"
for f in preinst postinst prerm postrm; do script "steward-site.$f" "$S"; done
echo /etc/steward/stewardd.conf >"$S/DEBIAN/conffiles"

A=$W/debian/steward-agent
bin "$BUILD/bin/steward-launcher" "$A/usr/sbin/steward-launcher"
for p in steward-agent steward-agent-idle steward-inventory; do
	bin "$BUILD/bin/$p" "$A/usr/lib/steward/agent/bin/$p"
done
ln -s ../lib/steward/agent/bin/steward-agent "$A/usr/sbin/steward-agent"
inst 0755 "$PKG/agent-seed" "$A/usr/lib/steward/agent-seed"
inst 0644 "$PKG/systemd/steward-launcher.service" "$A/lib/systemd/system/steward-launcher.service"
inst 0644 "$PKG/deb/steward-agent.default" "$A/etc/default/steward-agent"
man_page steward-agent.8 8 "$A"
man_page steward-launcher.8 8 "$A"
doc steward-agent "$A"
mkdir -p "$A/DEBIAN"
for f in postinst prerm postrm; do script "steward-agent.$f" "$A"; done
echo /etc/default/steward-agent >"$A/DEBIAN/conffiles"

C=$W/debian/steward-console
bin "$BUILD/bin/stewardctl" "$C/usr/bin/stewardctl"
man_page stewardctl.1 1 "$C"
doc steward-console "$C"
mkdir -p "$C/DEBIAN"

# ---- control, md5sums, the .deb -----------------------------------------------------------
for name in steward-site steward-agent steward-console; do
	T=$W/debian/$name
	elfs=$(find "$T" -type f -perm -0100 ! -path "$T/DEBIAN/*" -exec sh -c \
		'head -c 4 "$1" | grep -q "ELF" && echo "$1"' _ {} \;)
	# shellcheck disable=SC2086
	shlibs=$(cd "$W" && dpkg-shlibdeps -O -e$(echo $elfs | sed 's/ / -e/g') 2>"$W/shlibdeps.err" |
		sed -n 's/^shlibs:Depends=//p') || { cat "$W/shlibdeps.err" >&2; exit 1; }
	[ -n "$shlibs" ] || { echo "deb: dpkg-shlibdeps found no libraries for $name" >&2; exit 1; }
	size=$(du -k -s --exclude=DEBIAN "$T" | awk '{ print $1 }')
	sed -e "s/@DEBVERSION@/$DEBVERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$size/" \
		-e "s|@MAINTAINER@|$MAINTAINER|" -e "s/@SHLIBS@/$shlibs/" \
		"$PKG/deb/$name.control" >"$T/DEBIAN/control"
	(cd "$T" && find . -type f ! -path './DEBIAN/*' | sed 's|^\./||' | LC_ALL=C sort |
		xargs md5sum) >"$T/DEBIAN/md5sums"
	chmod 0644 "$T/DEBIAN/control" "$T/DEBIAN/md5sums"
	[ ! -f "$T/DEBIAN/conffiles" ] || chmod 0644 "$T/DEBIAN/conffiles"
	find "$T" -type d -exec chmod 0755 {} +
	# every file root's, and the same bytes from the same source
	fakeroot dpkg-deb --root-owner-group -Zxz --build "$T" "$OUT/${name}_${DEBVERSION}_$ARCH.deb" >/dev/null
	echo "deb: $OUT/${name}_${DEBVERSION}_$ARCH.deb"
done

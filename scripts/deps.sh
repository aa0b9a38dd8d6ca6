#!/bin/sh
# Install every Debian package that steward's build, tests and benchmarks need.
# Idempotent: runs apt-get update once, and only when something is missing.
set -eu

PKGS="build-essential cmake pkg-config clang llvm libclang-rt-14-dev \
libmicrohttpd-dev libsodium-dev libjansson-dev libsqlite3-dev sqlite3 libpq-dev postgresql-15 \
libcurl4-openssl-dev libssl-dev libgnutls28-dev openssl libcmocka-dev libzstd-dev zstd libarchive-dev \
curl jq gojq nginx-light wrk procps iproute2 python3 ca-certificates tzdata \
man-db groff systemd lintian dpkg-dev fakeroot mmdebstrap \
chromium fonts-dejavu-core"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

# Node.js and npm for the console's browser tests: Debian's, unless the
# machine has its own Node.js (whose npm comes with it: Debian's npm
# package would conflict with it)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		SUDO="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends $missing
fi

# The console's browser tests: the npm packages pinned in
# tests/console/package-lock.json (npm ci installs exactly those), again
# whenever the lock file changes.
CONSOLE=$(cd "$(dirname "$0")/.." && pwd)/tests/console
STAMP=$CONSOLE/node_modules/.steward-lock
if ! cmp -s "$CONSOLE/package-lock.json" "$STAMP"; then
	echo "deps: npm ci in tests/console"
	(cd "$CONSOLE" && npm ci --no-audit --no-fund --loglevel=error)
	cp "$CONSOLE/package-lock.json" "$STAMP"
fi

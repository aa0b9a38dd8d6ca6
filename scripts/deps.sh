#!/bin/sh
# Install every Debian package that steward's build, tests and benchmarks need.
# Idempotent: runs apt-get update once, and only when something is missing.
set -eu

PKGS="build-essential cmake pkg-config clang llvm libclang-rt-14-dev \
libmicrohttpd-dev libsodium-dev libjansson-dev libsqlite3-dev sqlite3 libpq-dev postgresql-15 \
libcurl4-openssl-dev libssl-dev libgnutls28-dev openssl libcmocka-dev libzstd-dev zstd libarchive-dev \
curl jq nginx-light wrk procps iproute2 python3 ca-certificates tzdata \
man-db groff systemd lintian dpkg-dev fakeroot mmdebstrap"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing

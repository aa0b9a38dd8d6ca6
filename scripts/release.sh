#!/bin/sh
# Build a signed steward release: make release VERSION=x.y.z RELEASE_KEY=FILE
#
#   scripts/release.sh VERSION KEY [OUT_DIR]
#
# Compiles stewardd, steward-agent and stewardctl with VERSION stamped into
# them in build/release-build/VERSION, stages each as a component with the
# protocol range the binary itself reports, and has stewardctl sign the
# stage into OUT_DIR/steward-VERSION.tar.zst (OUT_DIR: build/releases).
#
# Optional environment: VALID_FOR (default 365d), UPGRADE_FROM (X.Y.Z: the
# lowest version that may upgrade to this one directly; default any),
# PREVIOUS (the .tar.zst of the release agents run now: each file that
# changed gets a zstd delta from it, docs/slow-links.md), JOBS. Test releases only: PROTO_MIN / PROTO_MAX (override the protocol
# range), RELEASE_CMAKE_ARGS (e.g. -DSTEWARD_TEST_AGENT_FAILS_AT_START=ON),
# RELEASE_PARTS=agent, site or console, or several comma-separated (the
# agent and its launcher, stewardd, stewardctl: a faster build),
# RELEASE_SIGNER (a stewardctl to sign with instead of building one).
# docs/upgrading.md describes the whole procedure.
set -eu

usage() {
	echo "usage: make release VERSION=x.y.z RELEASE_KEY=FILE" >&2
	echo "  (the key comes from: build/bin/stewardctl releases keygen --out FILE)" >&2
	exit 2
}

VERSION=${1:-}
KEY=${2:-}
[ -n "$VERSION" ] && [ -n "$KEY" ] || usage
if ! echo "$VERSION" | grep -Eq '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$'; then
	echo "release: VERSION '$VERSION' is not X.Y.Z (no leading zeros)" >&2
	exit 2
fi
[ -f "$KEY" ] || { echo "release: RELEASE_KEY '$KEY' is not a file" >&2; exit 2; }
if [ -n "${PREVIOUS:-}" ] && [ ! -f "$PREVIOUS" ]; then
	echo "release: PREVIOUS '$PREVIOUS' is not a file (the .tar.zst of the release before)" >&2
	exit 2
fi

SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT_DIR=${3:-$SRC/build/releases}
B=${RELEASE_BUILD_DIR:-$SRC/build/release-build/$VERSION}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
OUT=$OUT_DIR/steward-$VERSION.tar.zst

# a build dir used for another release before (the tests share one)
# forgets that release's protocol range and test options (-U) first
set -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -USTEWARD_PROTO_MIN -USTEWARD_PROTO_MAX '-USTEWARD_TEST_*' \
	-DSTEWARD_RELEASE_VERSION="$VERSION"
[ -z "${PROTO_MIN:-}" ] || set -- "$@" -DSTEWARD_PROTO_MIN="$PROTO_MIN"
[ -z "${PROTO_MAX:-}" ] || set -- "$@" -DSTEWARD_PROTO_MAX="$PROTO_MAX"
# shellcheck disable=SC2086 # test-only extra arguments, split on purpose
[ -z "${RELEASE_CMAKE_ARGS:-}" ] || set -- "$@" $RELEASE_CMAKE_ARGS
BINS=
for part in $(echo "${RELEASE_PARTS:-all}" | tr ',' ' '); do
	case $part in
	all) BINS="$BINS steward-launcher steward-agent steward-inventory stewardd stewardctl" ;;
	agent) BINS="$BINS steward-launcher steward-agent steward-inventory" ;;
	site) BINS="$BINS stewardd" ;;
	console) BINS="$BINS stewardctl" ;;
	*)
		echo "release: RELEASE_PARTS part '$part' is not all, agent, site or console" >&2
		exit 2
		;;
	esac
done
[ -n "$BINS" ] || { echo "release: RELEASE_PARTS names no part" >&2; exit 2; }
# each once, in the order given
BINS=$(echo "$BINS" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')
echo "release: building $VERSION in $B"
mkdir -p "$B"
cmake -S "$SRC" -B "$B" "$@" >"$B/cmake.log" 2>&1 || {
	cat "$B/cmake.log" >&2
	exit 1
}
# the stewardctl that signs: this build's, or (test releases) RELEASE_SIGNER
SIGNER=${RELEASE_SIGNER:-$B/bin/stewardctl}
[ -n "${RELEASE_SIGNER:-}" ] || BUILD_EXTRA=stewardctl
# shellcheck disable=SC2086
cmake --build "$B" -j "$JOBS" --target $BINS ${BUILD_EXTRA:-}

# the protocol range a binary reports: "... protocol 1-2 ..."
range() {
	"$1" --version | sed -n 's/.*protocol \([0-9]*-[0-9]*\).*/\1/p' | head -n 1
}
# the version it reports must be the release's
for bin in $BINS; do
	v=$("$B/bin/$bin" --version | awk '{print $2}')
	[ "$v" = "$VERSION" ] || { echo "release: $bin reports $v, not $VERSION" >&2; exit 1; }
done

STAGE=$B/stage
rm -rf "$STAGE"
mkdir -p "$STAGE"
echo "# NAME KIND VERSION PROTOCOL" >"$B/components"
for bin in $BINS; do
	name=$bin base=
	case $bin in
	steward-launcher) kind=launcher ;;
	steward-agent) kind=base ;;
	# an optional component: versioned apart from the base it needs
	steward-inventory) kind=optional name=inventory base=$VERSION ;;
	stewardd) kind=site ;;
	stewardctl) kind=console ;;
	esac
	mkdir -p "$STAGE/$name/bin"
	cp "$B/bin/$bin" "$STAGE/$name/bin/"
	# what the agent execs between cycles (agent/idle.c): part of the base
	[ "$bin" != steward-agent ] || cp "$B/bin/steward-agent-idle" "$STAGE/$name/bin/"
	echo "$name $kind $VERSION $(range "$B/bin/$bin") $base" >>"$B/components"
done
mv "$B/components" "$STAGE/components"

mkdir -p "$OUT_DIR"
rm -f "$OUT"
set -- --version "$VERSION" --key "$KEY" --stage "$STAGE" --out "$OUT" --valid-for "${VALID_FOR:-365d}"
[ -z "${UPGRADE_FROM:-}" ] || set -- "$@" --upgrade-from "$UPGRADE_FROM"
[ -z "${PREVIOUS:-}" ] || set -- "$@" --previous "$PREVIOUS"
"$SIGNER" releases build "$@"

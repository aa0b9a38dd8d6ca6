#!/usr/bin/env bash
# bench/delta: what a delta update saves on a patch release of steward
# itself. Builds two releases of the agent parts from this source with
# scripts/release.sh: 1.0.0 from the tree as it is, and 1.0.1 from a copy of
# the tree with one user-visible string of the agent changed, built with
# PREVIOUS=1.0.0's file. Then counts the bytes an agent running 1.0.0
# downloads to build its new slot (the agent and its optional inventory
# component), whole files against patches (plus the delta list the offer
# carries), and times applying the patches as the agent does
# (bench-delta-apply: read, apply with the size cap, SHA-256 check). Appends
# a dated section to docs/benchmarks.md. See bench/README.md.
#
# The figure: delta_vs_full = bytes with deltas ÷ bytes without. Goal < 0.10.
#
# Environment (all optional):
#   BUILD       build directory, relative to the repo root (build)
#   JOBS        compile jobs for the two release builds (nproc)
#   BENCH_OUT   where to append the results (docs/benchmarks.md)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
BIN=$BUILD_DIR/bin
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
# the change: one user-visible string of the agent (why it does not take a
# release again)
FILE=agent/upgrade.c
FROM="it failed here before and was rolled back"
TO="it failed here earlier and was rolled back"

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ -x "$BIN/stewardctl" ] && [ -x "$BIN/bench-delta-apply" ] ||
	die "$BIN/stewardctl or bench-delta-apply not found: run 'make build' first"
command -v git >/dev/null || die "git is needed to copy the tree"

TMP=$(mktemp -d /tmp/steward-bench-delta.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$BIN/stewardctl" releases keygen --out "$TMP/rk" >/dev/null || die "keygen"
mkdir -p "$TMP/src" "$TMP/out"
# the tree as git sees it (uncommitted and untracked files too, not the
# ignored build dirs), the string changed
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$TMP/src"
grep -qF "$FROM" "$TMP/src/$FILE" || die "'$FROM' is not in $FILE any more: pick another string"
sed -i "s/$FROM/$TO/" "$TMP/src/$FILE"

release() { # SRC_ROOT VERSION [VAR=VALUE...]
	local src=$1 v=$2
	shift 2
	say "building release $v (agent parts) from $src"
	env RELEASE_PARTS=agent RELEASE_SIGNER="$BIN/stewardctl" RELEASE_BUILD_DIR="$TMP/build-$v" \
		JOBS="$JOBS" "$@" "$src/scripts/release.sh" "$v" "$TMP/rk" "$TMP/out" >"$TMP/release-$v.log" 2>&1 ||
		die "release $v: $(tail -n 20 "$TMP/release-$v.log")"
}
release "$ROOT" 1.0.0
release "$TMP/src" 1.0.1 PREVIOUS="$TMP/out/steward-1.0.0.tar.zst"
OLD=$TMP/out/steward-1.0.0.tar.zst NEW=$TMP/out/steward-1.0.1.tar.zst
mkdir -p "$TMP/old" "$TMP/new"
tar --zstd -xf "$OLD" -C "$TMP/old"
tar --zstd -xf "$NEW" -C "$TMP/new"
[ -f "$TMP/new/release.deltas" ] || die "1.0.1 has no release.deltas: $(tail -n 5 "$TMP/release-1.0.1.log")"

# ---- bytes: the files of the agent's slot, whole or as patches ---------------------------
# file lines: file COMPONENT MODE SIZE HASH PATH; delta lines: delta TARGET BASE PATCH SIZE
FULL=0 DELTA=0 APPLY_MS=0 ROWS=""
LIST_BYTES=$(stat -c %s "$TMP/new/release.deltas")
while IFS=$'\t' read -r _ comp _ size hash path; do
	case $comp in steward-agent | inventory) ;; *) continue ;; esac
	old_hash=$(awk -F'\t' -v c="$comp" -v p="$path" '$1 == "file" && $2 == c && $6 == p {print $5}' "$TMP/old/release.manifest")
	[ "$old_hash" != "$hash" ] || continue # unchanged: downloaded by neither
	read -r patch psize < <(awk -F'\t' -v h="$hash" '$1 == "delta" && $2 == h {print $4, $5}' "$TMP/new/release.deltas") || true
	FULL=$((FULL + size))
	if [ -n "${patch:-}" ]; then
		DELTA=$((DELTA + psize))
		ms=$("$BIN/bench-delta-apply" "$TMP/old/components/$comp/$path" "$TMP/new/deltas/$patch" \
			"$size" "$hash" | sed -n 's/.*median=\([0-9.]*\).*/\1/p')
		[ -n "$ms" ] || die "the patch for $comp/$path does not apply"
		APPLY_MS=$(awk -v a="$APPLY_MS" -v b="$ms" 'BEGIN { printf "%.2f", a + b }')
		ROWS="$ROWS| $comp/$path | $size | $psize | $ms |"$'\n'
	else
		DELTA=$((DELTA + size))
		ROWS="$ROWS| $comp/$path | $size | (no delta: whole file) | — |"$'\n'
	fi
	patch=""
done < <(grep -P '^file\t' "$TMP/new/release.manifest")
[ "$FULL" -gt 0 ] || die "no file of the agent's slot changed between 1.0.0 and 1.0.1"
DELTA=$((DELTA + LIST_BYTES))
RATIO=$(awk -v d="$DELTA" -v f="$FULL" 'BEGIN { printf "%.2f", d / f }')
RATIO4=$(awk -v d="$DELTA" -v f="$FULL" 'BEGIN { printf "%.5f", d / f }')
echo "delta_vs_full=$RATIO ($DELTA of $FULL bytes; apply ${APPLY_MS} ms)"

# ---- report ------------------------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
if COMMIT=$(GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
	GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || COMMIT="$COMMIT with uncommitted changes"
else
	COMMIT=uncommitted
fi
cat >>"$OUT" <<REPORT

## $(date -u '+%Y-%m-%d %H:%M UTC') — bench/delta — $COMMIT

Release 1.0.0 of the agent parts built from the tree, 1.0.1 from a copy with
one string of \`$FILE\` changed ("$FROM" → "$TO"), built with
\`PREVIOUS\`; both by scripts/release.sh (RelWithDebInfo). Bytes an agent of
1.0.0 downloads to build its 1.0.1 slot:

| figure | value |
|---|---|
| **delta_vs_full** | **$RATIO** (goal < 0.10; $RATIO4): $DELTA bytes with deltas (patches and the ${LIST_BYTES}-byte delta list) ÷ $FULL bytes of whole files |
| time to apply on the agent | $APPLY_MS ms for all patches (median of 7 each: read, apply capped at the file's size, SHA-256) |
| machine | nproc $(nproc), $CPU, $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg) |

| file | whole (bytes) | patch (bytes) | apply (ms) |
|---|---|---|---|
$ROWS
REPORT
say "appended to $OUT"

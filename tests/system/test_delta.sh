#!/usr/bin/env bash
# Delta updates: release 1.1.0 is built from this source (scripts/release.sh,
# agent parts) with PREVIOUS=1.0.0's file, so it carries a zstd patch for
# each file that changed. Two agents of 1.0.0 under steward-launcher take it:
#   a1 runs 1.0.0 as released: it downloads the patches, not the new files of
#   its slot (agent, inventory)
#   (the site's download log says which blobs went), applies them, and its
#   log says upgrade_delta outcome=applied;
#   a2's running agent binary differs from 1.0.0's (the base does not match):
#   it falls back to the whole file for that one, and still upgrades.
# The site lists the patches in its content index, which distribution
# points sync. Releases built without --previous are what the other upgrade
# tests import.
. "$(dirname "$0")/lib.sh"

CTL=$BIN/stewardctl
"$CTL" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
PUB=$(cat "$T/rk.pub")

build_release 1.0.0 agent
build_release 1.1.0 agent PREVIOUS="$T/out/steward-1.0.0.tar.zst"
R=$T/out/steward-1.1.0.tar.zst
grep -q "deltas from 1.0.0" "$T/release-1.1.0.log" || fail "no deltas built: $(tail -n 5 "$T/release-1.1.0.log")"
tar --zstd -tf "$R" >"$T/list"
grep -qx release.deltas "$T/list" || fail "release.deltas not in the file: $(cat "$T/list")"
tar --zstd -xOf "$R" release.deltas >"$T/deltas"
n=$(grep -c "^delta	" "$T/deltas")
expect_eq "$n" 3 "deltas (agent, launcher, inventory)"
# the patches are small next to the files they rebuild
full=0 patch=0
while IFS=$'\t' read -r _ target _ phash psize; do
	fsize=$(tar --zstd -xOf "$T/out/steward-1.1.0.tar.zst" release.manifest | awk -F'\t' -v h="$target" '$1 == "file" && $5 == h {print $4}')
	full=$((full + fsize)) patch=$((patch + psize))
	grep -qx "deltas/$phash" "$T/list" || fail "patch $phash not in the file"
done < <(grep "^delta	" "$T/deltas")
[ $((patch * 10)) -lt "$full" ] || fail "patches of $patch bytes for $full bytes of files"
pass "releases build --previous: 3 deltas of $patch bytes for $full bytes of changed files"

site_start s1 --enroll_auto_approve true --release_key "$PUB" --checkin_interval 60 \
	--checkin_jitter 0
ctl releases import "$T/out/steward-1.0.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 1.0.0: $(cat "$T/import.out")"
tok=$(new_token 10)
declare -A ID
for a in a1 a2; do
	rc=0
	curl -fsS "$SITE_URL/bootstrap.sh" | sh -s -- --release-key "$PUB" --prefix "$T/$a" --token "$tok" >"$T/boot-$a.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] || fail "bootstrap $a: $(cat "$T/boot-$a.out")"
	PIDS+=("$(cat "$T/$a/agent.pid")")
	ID[$a]=$(jq -r .client_id "$T/$a/state/state.json")
done
version_of() { ctl --json clients show "${ID[$1]}" | jq -r .agent_version; }
poke() { kill -USR1 "$(cat "$T/$1/agent.pid")" 2>/dev/null || true; }
until_poked() {
	local a=$1 secs=$2
	shift 2
	for _ in $(seq 1 $((secs / 2))); do
		"$@" && return 0
		poke "$a"
		sleep 2
	done
	"$@"
}
for a in a1 a2; do expect_eq "$(version_of "$a")" 1.0.0 "version of $a"; done

# a2's agent binary is no longer 1.0.0's (as after a local rebuild): a copy
# with one byte more, put in place by rename (the running one keeps its inode)
B=$T/a2/current/bin/steward-agent
cp "$B" "$B.new" && printf 'x' >>"$B.new" && chmod 755 "$B.new" && mv "$B.new" "$B" || fail "change a2's base"

# a delta list changed after signing is refused by stewardctl, and by the
# site when sent to it directly
mkdir -p "$T/x"
tar --zstd -xf "$R" -C "$T/x"
sed -i 's/^previous\t1\.0\.0$/previous\t0.9.0/' "$T/x/release.deltas"
tar --zstd -cf "$T/bad.tar.zst" -C "$T/x" release.manifest release.deltas components deltas
rc=0
ctl releases import "$T/bad.tar.zst" >"$T/bad.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "import with a changed delta list"
grep -q "deltas_invalid" "$T/bad.out" || fail "bad delta list: $(cat "$T/bad.out")"
body=$(jq -cn --rawfile m "$T/x/release.manifest" --rawfile d "$T/x/release.deltas" '{manifest: $m, deltas: $d}')
expect_status "$(admin_call POST /api/v1/releases "$body")" 400 deltas_invalid
pass "a delta list changed after signing is refused (deltas_invalid) by stewardctl and by the site"

ctl releases import "$R" >"$T/import.out" 2>&1 || fail "import 1.1.0: $(cat "$T/import.out")"
grep -q "with 3 deltas from release 1.0.0" "$T/import.out" || fail "import: $(cat "$T/import.out")"
# distribution points sync what the content index lists: the patches and
# the delta list are there, like the release's files
admin_call GET /api/v1/content/index >/dev/null
DLIST=$(sha256sum "$T/deltas" | cut -c1-64)
for h in $DLIST $(awk -F'\t' '$1 == "delta" {print $4}' "$T/deltas"); do
	jq -e --arg h "$h" 'any(.[]; .hash == $h)' "$T/resp" >/dev/null || fail "blob $h is not in the content index"
done
pass "the site imported 1.1.0 with its 3 deltas; the patches and the list are in the content index distribution points sync"
ctl site client-upgrade --collection "All Clients" >"$T/cu.out" || fail "client-upgrade: $(cat "$T/cu.out")"
at_version() { [ "$(version_of "$1")" = "$2" ]; }
for a in a1 a2; do poke "$a"; done
until_poked a1 90 at_version a1 1.1.0 || fail "a1 did not reach 1.1.0: $(tail -n 30 "$T/a1/log/agent.log")"
until_poked a2 90 at_version a2 1.1.0 || fail "a2 did not reach 1.1.0: $(tail -n 30 "$T/a2/log/agent.log")"
"$T/a1/current/bin/steward-agent" --version | grep -q "^steward-agent 1.1.0 " || fail "a1's slot"
"$T/a2/current/bin/steward-agent" --version | grep -q "^steward-agent 1.1.0 " || fail "a2's slot"

# what each downloaded, from the site's download log
hash_of() { tar --zstd -xOf "$R" release.manifest | awk -F'\t' -v p="$1" '$1 == "file" && $6 == p {print $5}'; }
AGENT_HASH=$(hash_of bin/steward-agent)
AGENT_PATCH=$(awk -F'\t' -v h="$AGENT_HASH" '$1 == "delta" && $2 == h {print $4}' "$T/deltas")
[ -n "$AGENT_HASH" ] && [ -n "$AGENT_PATCH" ] || fail "no hash or patch for bin/steward-agent"
got() { grep " download " "$T/s1.log" | grep "client=${ID[$1]}" | grep -c "hash=$2" || true; }
expect_eq "$(got a1 "$AGENT_PATCH")" 1 "a1's downloads of the agent's patch"
expect_eq "$(got a1 "$AGENT_HASH")" 0 "a1's downloads of the whole agent"
# the slot holds the agent and its optional inventory component (the
# launcher's own binary is not switched with the slots)
INV_HASH=$(hash_of bin/steward-inventory)
INV_PATCH=$(awk -F'\t' -v h="$INV_HASH" '$1 == "delta" && $2 == h {print $4}' "$T/deltas")
expect_eq "$(got a1 "$INV_PATCH")" 1 "a1's downloads of the inventory's patch"
expect_eq "$(got a1 "$INV_HASH")" 0 "a1's downloads of the whole inventory"
expect_eq "$(grep -c 'upgrade_delta path=.* outcome=applied' "$T/a1/log/agent.log")" 2 "deltas applied on a1"
pass "a1 upgraded 1.0.0 -> 1.1.0 from patches; the whole changed files were not downloaded"

grep -q 'upgrade_delta path=bin/steward-agent outcome=fallback reason="base mismatch' "$T/a2/log/agent.log" ||
	fail "a2's log does not say why: $(grep upgrade_delta "$T/a2/log/agent.log")"
expect_eq "$(got a2 "$AGENT_HASH")" 1 "a2's downloads of the whole agent"
expect_eq "$(got a2 "$AGENT_PATCH")" 0 "a2's downloads of the agent's patch"
expect_eq "$(grep -c 'upgrade_delta path=.* outcome=applied' "$T/a2/log/agent.log")" 1 "deltas applied on a2 (inventory)"
pass "a2, whose agent binary is not 1.0.0's, fetched the whole file for it and upgraded"

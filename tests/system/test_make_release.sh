#!/usr/bin/env bash
# make release: scripts/release.sh compiles stewardd, steward-agent,
# steward-launcher and stewardctl from this source with the release's version stamped in, stages
# them with the protocol range each binary reports, and signs the stage;
# the file imports into a site that trusts the key, and the binaries in it
# run and report the release's version. A protocol override (used only by
# test releases) shows up in the manifest.
. "$(dirname "$0")/lib.sh"

"$BIN/stewardctl" releases keygen --out "$T/rk" >/dev/null || fail "keygen"
# in the build dir the test releases share (lib.sh RELEASE_DIR), which
# builds everything here: this test's release signs with its own stewardctl
in_release_dir env RELEASE_BUILD_DIR="$RELEASE_DIR" JOBS=2 PROTO_MAX=2 \
	"$SRC/scripts/release.sh" 9.8.7 "$T/rk" "$T/out" >"$T/release.log" 2>&1 ||
	fail "release.sh: $(tail -n 20 "$T/release.log")"
R=$T/out/steward-9.8.7.tar.zst
[ -f "$R" ] || fail "no $R"
tar --zstd -xOf "$R" release.manifest >"$T/manifest"
grep -qP '^version\t9\.8\.7$' "$T/manifest" || fail "manifest version: $(cat "$T/manifest")"
grep -qP "^component\tinventory\toptional\t9\.8\.7\t1-2\t9\.8\.7$" "$T/manifest" || fail "inventory component: $(cat "$T/manifest")"
for c in "steward-agent	base" "steward-launcher	launcher" "stewardd	site" "stewardctl	console"; do
	grep -qP "^component\t$c\t9\.8\.7\t1-2\t-$" "$T/manifest" || fail "component $c: $(cat "$T/manifest")"
done
mkdir -p "$T/x" && tar --zstd -xf "$R" -C "$T/x"
"$T/x/components/stewardd/bin/stewardd" --version | grep -q "^stewardd 9.8.7 protocol 1-2" ||
	fail "stewardd in the release: $("$T/x/components/stewardd/bin/stewardd" --version)"
"$T/x/components/steward-agent/bin/steward-agent" --version | grep -q "^steward-agent 9.8.7 " ||
	fail "agent in the release"
pass "make release builds, stamps and signs the components"

site_start site --release_key "$(cat "$T/rk.pub")"
ctl releases import "$R" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
expect_eq "$(ctl --json releases show 9.8.7 | jq -r '[.components[].name] | join(" ")')" \
	"inventory steward-agent steward-launcher stewardctl stewardd" "components"
pass "the release imports into a site that trusts its key"

# refusals of the script itself
rc=0
"$SRC/scripts/release.sh" 1.02.0 "$T/rk" "$T/out" >"$T/bad.log" 2>&1 || rc=$?
expect_eq "$rc" 2 "leading zero version"
rc=0
"$SRC/scripts/release.sh" 1.2.0 "$T/no-such-key" "$T/out" >"$T/bad.log" 2>&1 || rc=$?
expect_eq "$rc" 2 "missing key"
grep -q "RELEASE_KEY" "$T/bad.log" || fail "missing key message: $(cat "$T/bad.log")"
pass "make release refuses a bad version and a missing key"

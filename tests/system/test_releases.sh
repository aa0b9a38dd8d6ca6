#!/usr/bin/env bash
# Releases end to end with the real stewardctl and stewardd: keygen, build a
# signed release file from a stage, import it into a site that trusts the
# key, list and show it, the blobs offered to distribution points; and the
# refusals: an untrusted key, a tampered manifest, a tampered file, an
# expired release (by stewardctl and by the site itself), the same version
# twice, an older release (a replay) unless --rollback, bad stages, keys
# others may read, files that are not release archives. Releases and the
# newest version survive a restart.
. "$(dirname "$0")/lib.sh"

# expect_exit CODE OUTFILE CMD...: run, require the exit status, keep stderr
expect_exit() {
	local want=$1 out=$2 rc=0
	shift 2
	"$@" >"$out.out" 2>"$out" || rc=$?
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, not $want: $(cat "$out" "$out.out")"
}
expect_err() { # FILE CODE: the refusal names the code
	grep -q "^error: $2:" "$1" || fail "expected error $2: $(cat "$1")"
}
CTL=$BIN/stewardctl

# ---- keys ----------------------------------------------------------------------
"$CTL" releases keygen --out "$T/rk" >"$T/keygen.out" || fail "keygen: $(cat "$T/keygen.out")"
expect_eq "$(stat -c %a "$T/rk")" 600 "secret key mode"
expect_eq "$(stat -c %s "$T/rk")" 64 "secret key size"
grep -qE '^[0-9a-f]{64}$' "$T/rk.pub" || fail "rk.pub: $(cat "$T/rk.pub")"
grep -q "release_key = $(cat "$T/rk.pub")" "$T/keygen.out" || fail "keygen does not print the config line"
cp "$T/rk" "$T/rk.before"
expect_exit 1 "$T/keygen2" "$CTL" releases keygen --out "$T/rk"
expect_err "$T/keygen2" key_exists
cmp -s "$T/rk" "$T/rk.before" || fail "keygen changed an existing key"
"$CTL" releases keygen --out "$T/other" >/dev/null || fail "second key"
pass "keygen writes a 0600 secret and its public half, and never overwrites"

# ---- a stage and a release -----------------------------------------------------
# stage DIR VERSION: components of that version with small files
stage() {
	local d=$1 v=$2
	rm -rf "$d"
	mkdir -p "$d/steward-agent/bin" "$d/inventory/lib" "$d/stewardd/bin" "$d/stewardctl/bin"
	printf '#!/bin/sh\necho agent %s\n' "$v" >"$d/steward-agent/bin/steward-agent"
	printf 'inventory %s\n' "$v" >"$d/inventory/lib/inventory.so"
	printf '#!/bin/sh\necho stewardd %s\n' "$v" >"$d/stewardd/bin/stewardd"
	printf '#!/bin/sh\necho stewardctl %s\n' "$v" >"$d/stewardctl/bin/stewardctl"
	cp "$d/stewardctl/bin/stewardctl" "$d/stewardd/bin/stewardctl-copy" # one blob, twice
	head -c 200000 /dev/urandom >"$d/stewardd/bin/data"
	chmod 755 "$d"/*/bin/*
	cat >"$d/components" <<-EOF
		# NAME KIND VERSION PROTOCOL [BASE]
		steward-agent base $v 1-2
		inventory     optional $v 1-2 1.0.0
		stewardd      site $v 1-2
		stewardctl    console $v 1-2
	EOF
}
build() { # VERSION OUT [extra args]
	local v=$1 out=$2
	shift 2
	stage "$T/stage-$v" "$v"
	"$CTL" releases build --version "$v" --key "$T/rk" --stage "$T/stage-$v" --out "$out" "$@" \
		>"$T/build-$v.out" 2>&1 || fail "build $v: $(cat "$T/build-$v.out")"
}
build 1.0.0 "$T/r-1.0.0.tar.zst"
grep -q "^Release 1.0.0: " "$T/build-1.0.0.out" || fail "build output: $(cat "$T/build-1.0.0.out")"
tar --zstd -tf "$T/r-1.0.0.tar.zst" >"$T/list.tar"
expect_eq "$(head -n 1 "$T/list.tar")" release.manifest "first entry"
expect_eq "$(wc -l <"$T/list.tar")" 7 "archive entries"
tar --zstd -xOf "$T/r-1.0.0.tar.zst" release.manifest >"$T/m-1.0.0"
grep -q "^key	$(cat "$T/rk.pub")$" "$T/m-1.0.0" || fail "manifest key line: $(cat "$T/m-1.0.0")"
grep -qP '^component\tinventory\toptional\t1\.0\.0\t1-2\t1\.0\.0$' "$T/m-1.0.0" || fail "component line"
grep -qP '^file\tstewardd\t0755\t200000\t[0-9a-f]{64}\tbin/data$' "$T/m-1.0.0" || fail "file line"
expect_exit 1 "$T/again" "$CTL" releases build --version 1.0.0 --key "$T/rk" --stage "$T/stage-1.0.0" \
	--out "$T/r-1.0.0.tar.zst"
grep -q "already exists" "$T/again" || fail "build over an existing file: $(cat "$T/again")"
pass "build signs the staged components into a tar.zst with the manifest first"

# ---- bad stages and keys are refused before anything is written ------------------
S=$T/stage-1.0.0
bad_build() { # CODE LABEL: build of $S refused with CODE, no file written
	expect_exit 1 "$T/bad" "$CTL" releases build --version 1.0.1 --key "${KEY:-$T/rk}" --stage "$S" \
		--out "$T/bad.tar.zst"
	expect_err "$T/bad" "$1"
	[ ! -e "$T/bad.tar.zst" ] && [ ! -e "$T/bad.tar.zst.partial" ] || fail "$2: a file was left"
}
cp "$S/components" "$T/components.good"
echo "stewardd2 server 1.0.0 1-2" >>"$S/components"
bad_build release_stage_invalid "unknown kind"
grep -q "components:6: 'server' is not a kind" "$T/bad" || fail "stage line: $(cat "$T/bad")"
cp "$T/components.good" "$S/components"
echo "stewardd site 1.0.0 1-2" >>"$S/components"
bad_build release_stage_invalid "listed twice"
cp "$T/components.good" "$S/components"
echo "extra site 1.0.0 2-1" >>"$S/components"
bad_build release_stage_invalid "bad protocol range"
cp "$T/components.good" "$S/components"
ln -s /etc/passwd "$S/stewardd/bin/passwd"
bad_build import_refused "symlink out of the stage"
rm "$S/stewardd/bin/passwd"
ln -s data "$S/stewardd/bin/data-link"
bad_build release_stage_invalid "symlink inside"
rm "$S/stewardd/bin/data-link"
cp "$T/rk" "$T/rk-open" && chmod 644 "$T/rk-open"
KEY=$T/rk-open bad_build release_key_open "key readable by others"
KEY=$T/rk.pub bad_build release_key_unreadable "the public half as the key"
expect_exit 2 "$T/usage" "$CTL" releases build --version 1.0 --key "$T/rk" --stage "$S" --out "$T/x"
expect_exit 2 "$T/usage" "$CTL" releases build --version 01.0.0 --key "$T/rk" --stage "$S" --out "$T/x"
expect_exit 2 "$T/usage" "$CTL" releases build --key "$T/rk" --stage "$S" --out "$T/x"
pass "bad stages, keys and versions are refused and leave no file"

# ---- a site that trusts no key, and one that trusts another key ------------------
site_start plain
expect_exit 1 "$T/untrusted" "$CTL" -s "$SITE_URL" -t "$ADMIN" releases import "$T/r-1.0.0.tar.zst"
expect_err "$T/untrusted" release_untrusted
site_stop
site_start site-other --release_key "$(cat "$T/other.pub")"
expect_exit 1 "$T/untrusted" "$CTL" -s "$SITE_URL" -t "$ADMIN" releases import "$T/r-1.0.0.tar.zst"
expect_err "$T/untrusted" release_untrusted
grep -q "release_key" "$T/untrusted" || fail "remedy names release_key: $(cat "$T/untrusted")"
expect_eq "$("$CTL" -s "$SITE_URL" -t "$ADMIN" --json releases list | jq length)" 0 "releases after refusal"
expect_eq "$(find "$SITE_DIR/content" -type f -path '*/blobs/*' | wc -l)" 0 "blobs uploaded to a site that refuses"
site_stop
pass "a site imports only releases signed by a key in its configuration"

# ---- import ----------------------------------------------------------------------
site_start site --release_key "$(cat "$T/other.pub")" --release_key "$(cat "$T/rk.pub")"
ctl releases import "$T/r-1.0.0.tar.zst" >"$T/import.out" 2>&1 || fail "import: $(cat "$T/import.out")"
grep -q "^Imported release 1.0.0: uploaded 5 of 5 distinct files" "$T/import.out" ||
	fail "import output: $(cat "$T/import.out")"
J=$(ctl --json releases show 1.0.0)
expect_eq "$(echo "$J" | jq -r .newest)" true "newest"
expect_eq "$(echo "$J" | jq -r .rollback)" false "rollback"
expect_eq "$(echo "$J" | jq -r .files)" 6 "files"
expect_eq "$(echo "$J" | jq -r .key)" "$(cat "$T/rk.pub")" "key"
expect_eq "$(echo "$J" | jq -r '.components[] | select(.name=="inventory") | .kind + " " + .protocol + " " + .needs_base')" \
	"optional 1-2 1.0.0" "optional component"
expect_eq "$(echo "$J" | jq -r '.file_list | length')" 6 "file list"
H=$(sha256sum "$S/stewardd/bin/data" | cut -d' ' -f1)
[ -f "$SITE_DIR/content/blobs/${H:0:2}/$H" ] || fail "release file not in the content store"
expect_eq "$(echo "$J" | jq -r '.file_list[] | select(.path=="bin/data") | .hash')" "$H" "file hash"
MH=$(echo "$J" | jq -r .manifest)
expect_eq "$(sha256sum "$T/m-1.0.0" | cut -d' ' -f1)" "$MH" "manifest blob hash"
# distribution points are offered the release's files and manifest
IDX=$(admin_call GET /api/v1/content/index)
expect_status "$IDX" 200
echo "${IDX#* }" | grep -q "$H" || fail "content index lacks a release file"
echo "${IDX#* }" | grep -q "$MH" || fail "content index lacks the release manifest"
ctl releases list >"$T/rl" || fail "releases list"
grep -qE '^1\.0\.0 +yes +' "$T/rl" || fail "list: $(cat "$T/rl")"
ctl releases show 1.0.0 >"$T/rs" || fail "releases show"
grep -qE '^stewardd +bin/data +0755 +200000 +'"$H"'$' "$T/rs" || fail "show files: $(cat "$T/rs")"
grep -qE '^inventory +optional +1\.0\.0 +1-2 +1\.0\.0$' "$T/rs" || fail "show components: $(cat "$T/rs")"
pass "import uploads the files, the site stores the release, list and show describe it"

expect_exit 1 "$T/twice" ctl releases import "$T/r-1.0.0.tar.zst"
expect_err "$T/twice" release_exists
build 1.1.0 "$T/r-1.1.0.tar.zst" --upgrade-from 1.0.0
ctl releases import "$T/r-1.1.0.tar.zst" >"$T/import.out" 2>&1 || fail "import 1.1.0: $(cat "$T/import.out")"
expect_eq "$(ctl --json releases list | jq -r '.[] | select(.newest) | .version')" 1.1.0 "newest after 1.1.0"
expect_eq "$(ctl --json releases show 1.1.0 | jq -r .upgrade_from)" 1.0.0 "upgrade_from"
pass "the same version twice is refused; a newer one becomes the newest"

# ---- an older release is a replay unless the admin asks for a rollback ------------
build 1.0.5 "$T/r-1.0.5.tar.zst"
N_BLOBS=$(find "$SITE_DIR/content" -type f -path '*/blobs/*' | wc -l)
expect_exit 1 "$T/older" ctl releases import "$T/r-1.0.5.tar.zst"
expect_err "$T/older" release_not_newer
expect_eq "$(find "$SITE_DIR/content" -type f -path '*/blobs/*' | wc -l)" "$N_BLOBS" "blobs uploaded for a refused replay"
grep -q -- "--rollback" "$T/older" || fail "remedy names --rollback: $(cat "$T/older")"
ctl releases import "$T/r-1.0.5.tar.zst" --rollback >"$T/rb.out" 2>&1 || fail "rollback: $(cat "$T/rb.out")"
J=$(ctl --json releases show 1.0.5)
expect_eq "$(echo "$J" | jq -r .rollback)" true "rollback flag"
expect_eq "$(echo "$J" | jq -r .newest)" false "a rollback is not the newest"
expect_eq "$(ctl --json releases list | jq -r '.[] | select(.newest) | .version')" 1.1.0 "newest after rollback"
pass "an older release is refused as a replay, and imported with --rollback"

# ---- tampering ---------------------------------------------------------------------
# repack DIR OUT: a release archive of DIR with the manifest first
repack() {
	(cd "$1" && tar --zstd -cf "$2" release.manifest components)
}
X=$T/x
mkdir -p "$X" && tar --zstd -xf "$T/r-1.1.0.tar.zst" -C "$X"
build 1.2.0 "$T/r-1.2.0.tar.zst"
rm -rf "$X" && mkdir -p "$X" && tar --zstd -xf "$T/r-1.2.0.tar.zst" -C "$X"
sed -i 's/^\(component\tstewardd\tsite\t1\.2\.0\t\)1-2/\11-9/' "$X/release.manifest"
grep -qP '^component\tstewardd\tsite\t1\.2\.0\t1-9' "$X/release.manifest" || fail "edit did not apply"
repack "$X" "$T/tampered.tar.zst"
expect_exit 1 "$T/tamp" ctl releases import "$T/tampered.tar.zst"
expect_err "$T/tamp" release_signature
# and the site refuses it on its own
BODY=$(jq -Rs '{manifest: ., rollback: false}' <"$X/release.manifest")
expect_status "$(admin_call POST /api/v1/releases "$BODY")" 400 release_signature
# a file changed after signing
rm -rf "$X" && mkdir -p "$X" && tar --zstd -xf "$T/r-1.2.0.tar.zst" -C "$X"
echo "evil" >>"$X/components/stewardd/bin/stewardd"
repack "$X" "$T/tampered2.tar.zst"
expect_exit 1 "$T/tamp2" ctl releases import "$T/tampered2.tar.zst"
expect_err "$T/tamp2" release_file_invalid
grep -q "bin/stewardd is .* bytes; the manifest says\|does not match its hash" "$T/tamp2" || fail "names the file: $(cat "$T/tamp2")"
# the same size, different bytes
rm -rf "$X" && mkdir -p "$X" && tar --zstd -xf "$T/r-1.2.0.tar.zst" -C "$X"
printf 'X' | dd of="$X/components/stewardd/bin/data" bs=1 seek=100 conv=notrunc status=none
repack "$X" "$T/tampered3.tar.zst"
expect_exit 1 "$T/tamp3" ctl releases import "$T/tampered3.tar.zst"
grep -q "bin/data does not match its hash in the signed manifest" "$T/tamp3" || fail "hash: $(cat "$T/tamp3")"
# an extra file, a missing file, a link, a manifest not first
rm -rf "$X" && mkdir -p "$X" && tar --zstd -xf "$T/r-1.2.0.tar.zst" -C "$X"
echo extra >"$X/components/stewardd/bin/extra"
repack "$X" "$T/t4.tar.zst"
expect_exit 1 "$T/t4" ctl releases import "$T/t4.tar.zst"
grep -q "components/stewardd/bin/extra is not in the release manifest" "$T/t4" || fail "extra: $(cat "$T/t4")"
rm "$X/components/stewardd/bin/extra" "$X/components/inventory/lib/inventory.so"
repack "$X" "$T/t5.tar.zst"
expect_exit 1 "$T/t5" ctl releases import "$T/t5.tar.zst"
grep -q "inventory/lib/inventory.so is in the manifest but not in the archive" "$T/t5" || fail "missing: $(cat "$T/t5")"
(cd "$X" && tar --zstd -cf "$T/t6.tar.zst" components release.manifest)
expect_exit 1 "$T/t6" ctl releases import "$T/t6.tar.zst"
grep -q "the first entry is not release.manifest" "$T/t6" || fail "order: $(cat "$T/t6")"
head -c 5000 /dev/urandom >"$T/junk.tar.zst"
expect_exit 1 "$T/t7" ctl releases import "$T/junk.tar.zst"
expect_err "$T/t7" release_file_invalid
expect_exit 1 "$T/t8" ctl releases import "$T/does-not-exist.tar.zst"
expect_err "$T/t8" release_file_invalid
expect_eq "$(ctl --json releases list | jq length)" 3 "releases after tampering"
ctl releases import "$T/r-1.2.0.tar.zst" >/dev/null 2>&1 || fail "the untampered 1.2.0 imports"
pass "tampered manifests and files, extra, missing and misordered entries are refused"

# ---- expiry ------------------------------------------------------------------------
build 1.3.0 "$T/r-1.3.0.tar.zst" --valid-for 1s
sleep 2
expect_exit 1 "$T/exp" ctl releases import "$T/r-1.3.0.tar.zst"
expect_err "$T/exp" release_expired
tar --zstd -xOf "$T/r-1.3.0.tar.zst" release.manifest >"$T/m-1.3.0"
BODY=$(jq -Rs '{manifest: ., rollback: false}' <"$T/m-1.3.0")
expect_status "$(admin_call POST /api/v1/releases "$BODY")" 400 release_expired
pass "an expired release is refused by stewardctl and by the site"

# ---- bad requests ---------------------------------------------------------------------
expect_status "$(admin_call POST /api/v1/releases '{"manifest": 5}')" 400 bad_request
expect_status "$(admin_call POST /api/v1/releases '{"manifest": "x", "rollback": "yes"}')" 400 bad_request
expect_status "$(admin_call POST /api/v1/releases '{"manifest": "steward-release\t1\n"}')" 400 release_invalid
expect_status "$(admin_call GET /api/v1/releases/9.9.9)" 404 release_not_found
expect_exit 1 "$T/nf" ctl releases show 9.9.9
expect_err "$T/nf" release_not_found
expect_exit 2 "$T/nf2" ctl releases show 1.0
pass "malformed imports and unknown versions get clear errors"

# ---- releases and the newest version survive a restart -------------------------------
site_stop
site_restart --release_key "$(cat "$T/rk.pub")"
expect_eq "$(ctl --json releases list | jq -r '[.[].version] | sort | join(" ")')" "1.0.0 1.0.5 1.1.0 1.2.0" "after restart"
expect_eq "$(ctl --json releases list | jq -r '.[] | select(.newest) | .version')" 1.2.0 "newest after restart"
build 1.1.5 "$T/r-1.1.5.tar.zst"
expect_exit 1 "$T/older2" ctl releases import "$T/r-1.1.5.tar.zst"
expect_err "$T/older2" release_not_newer
pass "releases and the newest version survive a restart; a replay is still refused"

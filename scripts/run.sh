#!/usr/bin/env bash
# make run: start a complete demo site in the foreground.
#   stewardd with every role and an embedded SQLite database under ./var/site,
#   enrollment auto-approve ON (for this demo only), and one local agent
#   enrolled against it, over HTTPS with the site's own self-signed
#   certificate (pinned by the agent through its enrollment token, by
#   stewardctl through var/site/tls.pin beside the admin token, by curl
#   through var/site/tls.crt). Ctrl-C stops everything cleanly.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=$ROOT/build/bin
VAR=$ROOT/var
LISTEN=${STEWARD_LISTEN:-127.0.0.1:8420}
URL=https://$LISTEN
SITE_PID=""
AGENT_PID=""

stop() {
	local rc=${1:-0}
	trap - INT TERM EXIT
	echo
	echo "run: stopping"
	[ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null || true
	[ -n "$SITE_PID" ] && kill -TERM "$SITE_PID" 2>/dev/null || true
	[ -n "$AGENT_PID" ] && wait "$AGENT_PID" 2>/dev/null || true
	[ -n "$SITE_PID" ] && wait "$SITE_PID" 2>/dev/null || true
	echo "run: stopped (data kept in $VAR; remove it to start afresh)"
	exit "$rc"
}
trap 'stop 0' INT TERM
trap 'stop $?' EXIT

HOST=${LISTEN%:*}
PORT=${LISTEN##*:}
if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
	echo "run: something already answers on $URL; stop it or set STEWARD_LISTEN=127.0.0.1:PORT" >&2
	trap - INT TERM EXIT
	exit 1
fi

mkdir -p "$VAR"
chmod 700 "$VAR"
# an agent of a demo run from before HTTPS holds no pin: enroll it afresh
if [ -f "$VAR/agent/state.json" ] && ! grep -q '"tls_pin": *"[0-9a-f]' "$VAR/agent/state.json"; then
	echo "run: the demo agent in $VAR/agent has no certificate pin; enrolling it again"
	rm -rf "$VAR/agent"
fi
"$BIN/stewardd" --listen "$LISTEN" --data_dir "$VAR/site" --site_code DEM \
	--site_name "steward demo site" --enroll_auto_approve true \
	--checkin_interval 5m --checkin_jitter 30s 2>>"$VAR/stewardd.log" &
SITE_PID=$!

for _ in $(seq 1 100); do
	[ -f "$VAR/site/tls.crt" ] &&
		curl -fsS -m 1 --cacert "$VAR/site/tls.crt" "$URL/health" >/dev/null 2>&1 && break
	if ! kill -0 "$SITE_PID" 2>/dev/null; then
		echo "run: stewardd failed to start; its log:" >&2
		tail -n 20 "$VAR/stewardd.log" >&2
		exit 1
	fi
	sleep 0.1
done

CTL=("$BIN/stewardctl" -s "$URL" -t "$VAR/site/admin.token")
TOKEN_ARGS=()
if [ ! -f "$VAR/agent/state.json" ]; then
	TOKEN=$("${CTL[@]}" --json enroll-tokens create --uses 1 --ttl 1h | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
	[ -n "$TOKEN" ] || { echo "run: could not create an enrollment token" >&2; exit 1; }
	TOKEN_ARGS=(--enroll-token "$TOKEN")
fi
"$BIN/steward-agent" --server "$URL" --state-dir "$VAR/agent" "${TOKEN_ARGS[@]}" \
	2>>"$VAR/agent.log" &
AGENT_PID=$!

cat <<MSG

  steward demo site DEM is running at $URL
  admin token:  $VAR/site/admin.token   (mode 0600)
  certificate:  $VAR/site/tls.crt   pin $(cat "$VAR/site/tls.pin")
  logs:         $VAR/stewardd.log  $VAR/agent.log
  web console:  $URL/console/   (sign in with the admin token; the browser
                will ask you to accept the site's own certificate)

  Try, in another terminal (stewardctl defaults to this site and token):
    build/bin/stewardctl site show
    build/bin/stewardctl clients list
    build/bin/stewardctl --json clients list
    build/bin/stewardctl enroll-tokens create --uses 5 --ttl 24h
    curl -s --cacert var/site/tls.crt $URL/metrics | head

  Enrollment auto-approve is ON for this demo only. Press Ctrl-C to stop.

MSG

# Show the agent's first check-in, then wait for Ctrl-C or a process to exit.
for _ in $(seq 1 60); do
	if "${CTL[@]}" --json clients list 2>/dev/null | grep -q '"last_seen": *"'; then
		"${CTL[@]}" clients list || true
		break
	fi
	sleep 1
done
while kill -0 "$SITE_PID" 2>/dev/null && kill -0 "$AGENT_PID" 2>/dev/null; do
	sleep 1
done
echo "run: a process exited; see $VAR/*.log" >&2
exit 1

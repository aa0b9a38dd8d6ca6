#!/bin/bash
# A throwaway PostgreSQL server for tests, from Debian's binaries.
#
#   pgtmp.sh start DIR   initdb in DIR/data, start on a free loopback port,
#                        create database "steward"; prints the URL and
#                        writes it to DIR/url
#   pgtmp.sh stop DIR    stop that server (fast shutdown) and remove DIR
#
# The server listens on 127.0.0.1 only, trusts its one user (steward) and
# keeps its socket in DIR. As root it runs as the postgres user (PostgreSQL
# refuses root), so DIR's parent must be one that user can enter. Every wait is bounded (pg_ctl -t). Exit 77 when PostgreSQL
# is not installed, so CTest shows a skip.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
	echo "usage: pgtmp.sh start|stop DIR" >&2
	exit 2
}

bindir=""
for v in 17 16 15; do
	if [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]; then
		bindir=/usr/lib/postgresql/$v/bin
		break
	fi
done
if [ -z "$bindir" ]; then
	echo "SKIP: PostgreSQL server binaries not found (scripts/deps.sh installs postgresql-15)"
	exit 77
fi

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

stop_server() {
	[ -d "$dir/data" ] || return 0
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
	# a server that would not stop: its postmaster, which this script started
	if [ -f "$dir/data/postmaster.pid" ]; then
		pid=$(head -1 "$dir/data/postmaster.pid")
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
	fi
}

case "$cmd" in
start)
	# a server left by an interrupted run in the same place: ours, stop it
	stop_server
	rm -rf "$dir"
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
	fi
	as_owner "$bindir/initdb" -D "$dir/data" -U steward --auth=trust -E UTF8 --locale=C \
		--no-sync >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		exit 1
	}
	started=0
	for _ in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 30000))
		if ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then
			continue
		fi
		# in the data directory's own settings, so that a test that stops
		# the server can start it again with a plain pg_ctl start
		{
			echo "port = $port"
			echo "listen_addresses = '127.0.0.1'"
			echo "unix_socket_directories = '$dir'"
			echo "max_connections = 200"
		} >"$dir/data/postgresql.auto.conf"
		if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
			start >/dev/null 2>&1; then
			started=1
			break
		fi
	done
	if [ "$started" -ne 1 ]; then
		echo "pgtmp: the server did not start; its log:" >&2
		tail -20 "$dir/server.log" >&2 || true
		exit 1
	fi
	as_owner "$bindir/psql" -q -h 127.0.0.1 -p "$port" -U steward -d postgres \
		-c "CREATE DATABASE steward" >/dev/null
	url="postgresql://steward@127.0.0.1:$port/steward"
	echo "$url" >"$dir/url"
	echo "$url"
	;;
stop)
	stop_server
	rm -rf "$dir"
	;;
*)
	echo "usage: pgtmp.sh start|stop DIR" >&2
	exit 2
	;;
esac

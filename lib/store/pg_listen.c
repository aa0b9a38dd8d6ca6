/* store/pg_listen: the notifications several management points exchange.
 *
 * One connection of its own per stewardd, idle but for LISTEN: the
 * statement connection is used under the store's lock and by the writer,
 * and a notification must not wait behind a group commit. Every wait is
 * bounded (poll with the caller's timeout); a lost connection is reported
 * to the caller, who reconnects and reloads what it may have missed
 * (docs/internals/management-points.md).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "steward/store.h"
#include "db.h"

struct store_listener {
	PGconn *conn;
};

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int store_listener_open(const char *target, struct store_listener **out, struct steward_err *err)
{
	const char *keys[] = {"connect_timeout",
			      "application_name",
			      "keepalives_idle",
			      "keepalives_interval",
			      "keepalives_count",
			      "dbname",
			      NULL};
	const char *vals[] = {"10", "stewardd-listen", "30", "10", "3", target, NULL};
	char masked[512];
	struct store_listener *l;
	PGresult *res;

	*out = NULL;
	if (!target || !db_target_is_postgresql(target)) {
		steward_err_set(err, STEWARD_EINVAL, "store_open_failed",
				"set database to a postgresql:// URL",
				"changes are announced only on a PostgreSQL database");
		return -STEWARD_EINVAL;
	}
	store_target_masked(target, masked, sizeof(masked));
	l = calloc(1, sizeof(*l));
	if (!l)
		return -STEWARD_ENOMEM;
	l->conn = PQconnectdbParams(keys, vals, 1);
	if (!l->conn || PQstatus(l->conn) != CONNECTION_OK) {
		steward_err_set(err, STEWARD_ESTORE, "store_open_failed",
				"check that the PostgreSQL server is running and reachable",
				"cannot connect to %s to listen for changes: %s", masked,
				l->conn ? PQerrorMessage(l->conn) : "out of memory");
		store_listener_close(l);
		return -STEWARD_ESTORE;
	}
	PQsetNoticeProcessor(l->conn, ignore_notice, NULL);
	res = PQexec(l->conn, "LISTEN " STORE_CHANGES_CHANNEL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		steward_err_set(err, STEWARD_ESTORE, "store_open_failed",
				"check that the PostgreSQL server is running and reachable",
				"LISTEN on %s failed: %s", masked, PQerrorMessage(l->conn));
		PQclear(res);
		store_listener_close(l);
		return -STEWARD_ESTORE;
	}
	PQclear(res);
	*out = l;
	return 0;
}

/* "KIND" or "KIND:ID": a lower-case kind, an id of letters, digits, '-',
 * '_' and '.'; anything else is not ours. */
static bool payload_split(const char *p, char *kind, size_t kindsz, char *id, size_t idsz)
{
	size_t n = 0, m = 0;

	while (p[n] && p[n] != ':') {
		if (!(p[n] >= 'a' && p[n] <= 'z') && p[n] != '_')
			return false;
		n++;
	}
	if (n == 0 || n >= kindsz)
		return false;
	memcpy(kind, p, n);
	kind[n] = '\0';
	id[0] = '\0';
	if (!p[n])
		return true;
	p += n + 1;
	while (p[m]) {
		char ch = p[m];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
		m++;
	}
	if (m == 0 || m >= idsz)
		return false;
	memcpy(id, p, m + 1);
	return true;
}

int store_listener_wait(struct store_listener *l, int timeout_ms, store_change_cb cb, void *ctx)
{
	struct pollfd pfd;
	PGnotify *nt;
	int n = 0, fd;

	if (!l || !l->conn || PQstatus(l->conn) != CONNECTION_OK)
		return -STEWARD_ESTORE;
	fd = PQsocket(l->conn);
	if (fd < 0)
		return -STEWARD_ESTORE;
	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
		return -STEWARD_ESTORE;
	/* also with nothing to read: a connection the server closed shows
	 * here, not only when the next notification is due */
	if (!PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK)
		return -STEWARD_ESTORE;
	while ((nt = PQnotifies(l->conn)) != NULL) {
		char kind[24], id[STORE_CHANGE_PAYLOAD_MAX + 1];

		if (nt->extra && strlen(nt->extra) <= STORE_CHANGE_PAYLOAD_MAX &&
		    payload_split(nt->extra, kind, sizeof(kind), id, sizeof(id))) {
			cb(kind, id[0] ? id : NULL, ctx);
			n++;
		}
		PQfreemem(nt);
	}
	return n;
}

void store_listener_close(struct store_listener *l)
{
	if (!l)
		return;
	PQfinish(l->conn);
	free(l);
}

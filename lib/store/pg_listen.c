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
#include "steward/util.h"
#include "db.h"

/* LISTEN is answered at once; like connect_timeout, a bound for a server
 * that has stopped answering */
#define LISTEN_ANSWER_MS 10000

struct store_listener {
	PGconn *conn;
};

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* LISTEN, waiting at most timeout_ms for the server's answer: a server, or
 * a link to it, that stops answering once the connection is made must not
 * hold the changes thread (and with it stewardd's stop) for ever. 0, or -1
 * with why filled. */
static int listen_bounded(PGconn *c, int timeout_ms, char *why, size_t whysz)
{
	int64_t end = time_mono_us() + (int64_t)timeout_ms * 1000;
	PGresult *res;
	int rc = 0;

	if (!PQsendQuery(c, "LISTEN " STORE_CHANGES_CHANNEL)) {
		snprintf(why, whysz, "%s", PQerrorMessage(c));
		return -1;
	}
	for (;;) {
		struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
		int64_t left;

		while (!PQisBusy(c)) {
			res = PQgetResult(c);
			if (!res)
				return rc;
			if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc) {
				snprintf(why, whysz, "%s", PQerrorMessage(c));
				rc = -1;
			}
			PQclear(res);
		}
		left = (end - time_mono_us()) / 1000;
		if (left <= 0) {
			snprintf(why, whysz, "no answer within %d s", timeout_ms / 1000);
			return -1;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			snprintf(why, whysz, "poll: %s", strerror(errno));
			return -1;
		}
		if (!PQconsumeInput(c)) {
			snprintf(why, whysz, "%s", PQerrorMessage(c));
			return -1;
		}
	}
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
	char masked[512], why[256];
	struct store_listener *l;

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
	if (listen_bounded(l->conn, LISTEN_ANSWER_MS, why, sizeof(why)) != 0) {
		steward_err_set(err, STEWARD_ESTORE, "store_open_failed",
				"check that the PostgreSQL server is running and reachable",
				"LISTEN on %s failed: %s", masked, why);
		store_listener_close(l);
		return -STEWARD_ESTORE;
	}
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

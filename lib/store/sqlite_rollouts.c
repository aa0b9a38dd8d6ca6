/* store/sqlite: rollouts, the clients taking part in them, and maintenance
 * windows.
 *
 * A rollout's definition and progress are one JSON document: server/
 * rollouts.c owns its shape, so a new field needs no migration. Members are
 * rows, written in batches (one transaction per batch) by the rollout
 * engine's flusher, never on the check-in path itself.
 */
#include <string.h>

#include "sqlite_int.h"

const char sqlite_migration_rollouts[] =
    "CREATE TABLE rollouts ("
    " name TEXT PRIMARY KEY,"
    " doc TEXT NOT NULL,"
    " updated INTEGER NOT NULL);"
    "CREATE TABLE rollout_members ("
    " rollout TEXT NOT NULL,"
    " client TEXT NOT NULL,"
    " wave INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " from_version TEXT NOT NULL,"
    " started INTEGER NOT NULL,"
    " finished INTEGER NOT NULL,"
    " reason TEXT NOT NULL,"
    " PRIMARY KEY (rollout, client)) WITHOUT ROWID;"
    "CREATE TABLE windows ("
    " rid INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " collection TEXT NOT NULL,"
    " weekly TEXT NOT NULL,"
    " duration INTEGER NOT NULL CHECK (duration > 0),"
    " tz TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " created_by TEXT NOT NULL);";

/* Schema 16: the number of the put that last wrote each member, so that
 * another process, told of a put, reads what changed since the last one
 * it read instead of every member (a rollout may hold every client of the
 * site). The numbers come from one row of settings that every put raises
 * in its transaction: on PostgreSQL that row's lock, held to the commit,
 * makes a later number commit after an earlier one, so a reader that saw
 * number n has seen every put numbered below it. BIGINT: INTEGER on
 * SQLite, a 64-bit integer where the same text runs on PostgreSQL. */
const char sqlite_migration_rollout_changes[] =
    "ALTER TABLE rollout_members ADD COLUMN changed BIGINT NOT NULL DEFAULT 0;"
    "CREATE INDEX rollout_members_changed ON rollout_members(rollout, changed);";

#define MEMBERS_CHANGED_KEY "rollout_members_changed"

int sqlite_rollout_put(struct store *st, const char *name, const char *doc)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if (strlen(doc) > STORE_ROLLOUT_DOC_MAX || strlen(name) > STORE_ROLLOUT_NAME_MAX)
		return -STEWARD_EINVAL;
	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "INSERT INTO rollouts(name, doc, updated) VALUES(?1,?2,?3)"
			   " ON CONFLICT(name) DO UPDATE SET doc = excluded.doc,"
			   " updated = excluded.updated");
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		db_bind_text(q, 1, name);
		db_bind_text(q, 2, doc);
		db_bind_int64(q, 3, time_now_s());
		rc = sqlite_run_once(s, q);
	}
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_ROLLOUT, name);
	return sqlite_end(s, rc);
}

static int rollout_row(struct db_stmt *q, void *cb, void *ctx)
{
	return ((store_rollout_cb)cb)(db_col_text(q, 0),
				      db_col_text(q, 1), ctx);
}

int sqlite_rollout_list(struct store *st, store_rollout_cb cb, void *ctx)
{
	/* in the order they were made; PostgreSQL has no rowid to tell it,
	 * so there by name until the table gains a creation column */
	return sqlite_read_rows(st, db_kind(SS(st)->db) == DB_SQLITE
					? "SELECT name, doc FROM rollouts ORDER BY rowid"
					: "SELECT name, doc FROM rollouts ORDER BY name",
				0, NULL, 0,
				rollout_row, (void *)cb, ctx);
}

int sqlite_rollout_members_put(struct store *st, const char *rollout,
			       const struct store_rollout_member *m, size_t n)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int64_t changed = 0;
	int rc;

	if (!n)
		return 0;
	rc = sqlite_begin(s);
	if (rc)
		return rc;
	/* this put's number, first: the row stays locked to the commit */
	q = sqlite_prep(s, "INSERT INTO settings(key, value) VALUES('" MEMBERS_CHANGED_KEY "', '1')"
			   " ON CONFLICT(key) DO UPDATE SET"
			   " value = CAST(CAST(settings.value AS BIGINT) + 1 AS TEXT)"
			   " RETURNING CAST(value AS BIGINT)");
	if (!q || db_step(q) != DB_ROW)
		rc = -STEWARD_ESTORE;
	else
		changed = db_col_int64(q, 0);
	db_finalize(q);
	q = NULL;
	if (!rc && !(q = sqlite_prep(s, "INSERT INTO rollout_members(rollout, client, wave, state,"
				       " from_version, started, finished, reason, changed)"
				       " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"
				       " ON CONFLICT(rollout, client) DO UPDATE SET"
				       " wave = excluded.wave, state = excluded.state,"
				       " from_version = excluded.from_version,"
				       " started = excluded.started, finished = excluded.finished,"
				       " reason = excluded.reason, changed = excluded.changed")))
		rc = -STEWARD_ESTORE;
	for (size_t i = 0; !rc && i < n; i++) {
		db_bind_text(q, 1, rollout);
		db_bind_text(q, 2, m[i].client);
		db_bind_int64(q, 3, m[i].wave);
		db_bind_int64(q, 4, m[i].state);
		db_bind_text(q, 5, m[i].from);
		db_bind_int64(q, 6, m[i].started);
		db_bind_int64(q, 7, m[i].finished);
		db_bind_text(q, 8, m[i].reason);
		db_bind_int64(q, 9, changed);
		rc = sqlite_step_reset(q);
	}
	db_finalize(q);
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_ROLLOUT, rollout);
	return sqlite_end(s, rc);
}

static int member_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_rollout_member m;

	memset(&m, 0, sizeof(m));
	sqlite_col_text(q, 0, m.client, sizeof(m.client));
	m.wave = db_col_int64(q, 1);
	m.state = db_col_int64(q, 2);
	sqlite_col_text(q, 3, m.from, sizeof(m.from));
	m.started = db_col_int64(q, 4);
	m.finished = db_col_int64(q, 5);
	sqlite_col_text(q, 6, m.reason, sizeof(m.reason));
	m.changed = db_col_int64(q, 7);
	return ((store_rollout_member_cb)cb)(&m, ctx);
}

int sqlite_rollout_members_list(struct store *st, const char *rollout, int64_t since,
				store_rollout_member_cb cb, void *ctx)
{
	return sqlite_read_rows(st, "SELECT client, wave, state, from_version, started, finished,"
				    " reason, changed FROM rollout_members"
				    " WHERE rollout = ?2 AND changed > ?1",
				since, rollout, 0, member_row, (void *)cb, ctx);
}

int sqlite_rollout_delete(struct store *st, const char *name)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc = sqlite_begin(s);

	if (rc)
		return rc;
	q = sqlite_prep(s, "DELETE FROM rollouts WHERE name = ?1");
	if (!q)
		return sqlite_end(s, -STEWARD_ESTORE);
	db_bind_text(q, 1, name);
	rc = sqlite_run_once(s, q);
	if (!rc && db_changes(s->db) == 0)
		rc = -STEWARD_ENOTFOUND;
	if (!rc) {
		q = sqlite_prep(s, "DELETE FROM rollout_members WHERE rollout = ?1");
		if (!q)
			return sqlite_end(s, -STEWARD_ESTORE);
		db_bind_text(q, 1, name);
		rc = sqlite_run_once(s, q);
	}
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_ROLLOUT, name);
	return sqlite_end(s, rc);
}

int sqlite_window_insert(struct store *st, const struct store_window *w)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "INSERT INTO windows(name, collection, weekly, duration, tz, created,"
			   " created_by) VALUES(?1,?2,?3,?4,?5,?6,?7)");
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		db_bind_text(q, 1, w->name);
		db_bind_text(q, 2, w->collection);
		db_bind_text(q, 3, w->weekly);
		db_bind_int64(q, 4, w->duration);
		db_bind_text(q, 5, w->tz);
		db_bind_int64(q, 6, w->created);
		db_bind_text(q, 7, w->created_by);
		rc = sqlite_run_once(s, q);
	}
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_WINDOWS, NULL);
	return sqlite_end(s, rc);
}

int sqlite_window_delete(struct store *st, const char *name)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "DELETE FROM windows WHERE name = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		db_bind_text(q, 1, name);
		rc = sqlite_run_once(s, q);
		if (!rc && db_changes(s->db) == 0)
			rc = -STEWARD_ENOTFOUND;
	}
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_WINDOWS, NULL);
	return sqlite_end(s, rc);
}

static int window_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_window w;

	memset(&w, 0, sizeof(w));
	sqlite_col_text(q, 0, w.name, sizeof(w.name));
	sqlite_col_text(q, 1, w.collection, sizeof(w.collection));
	sqlite_col_text(q, 2, w.weekly, sizeof(w.weekly));
	w.duration = db_col_int64(q, 3);
	sqlite_col_text(q, 4, w.tz, sizeof(w.tz));
	w.created = db_col_int64(q, 5);
	sqlite_col_text(q, 6, w.created_by, sizeof(w.created_by));
	return ((store_window_cb)cb)(&w, ctx);
}

int sqlite_window_list(struct store *st, store_window_cb cb, void *ctx)
{
	return sqlite_read_rows(st, "SELECT name, collection, weekly, duration, tz, created,"
				    " created_by FROM windows ORDER BY rid",
				0, NULL, 0, window_row, (void *)cb, ctx);
}

/* store/sqlite: administrators with roles, and the audit log.
 *
 * Migration 13 replaces admin_tokens (a name and a hash) with admins: a
 * role, who made it and when it was revoked. Tokens made before roles
 * become role admin, so they keep working. The audit log is one table the
 * site only appends to; triggers refuse an UPDATE or DELETE through SQL,
 * and the hash chain (server/audit.c computes it) shows one made behind
 * their back. docs/security.md.
 */
#include <stdio.h>
#include <string.h>

#include "sqlite_int.h"

/* Self-contained: another migration may be numbered before or after it. */
const char sqlite_migration_admins[] =
    "CREATE TABLE admins ("
    " rid INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL CHECK (role IN ('read','operator','admin','distribution_point')),"
    " hash BLOB NOT NULL UNIQUE,"
    " created INTEGER NOT NULL,"
    " created_by TEXT NOT NULL DEFAULT '',"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO admins(rid, name, role, hash, created)"
    " SELECT rid, name, 'admin', hash, created FROM admin_tokens;"
    "DROP TABLE admin_tokens;"
    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " who TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " route TEXT NOT NULL,"
    " method TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " object TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " code TEXT NOT NULL,"
    " peer TEXT NOT NULL,"
    " prev TEXT NOT NULL,"
    " hash TEXT NOT NULL);"
    "CREATE INDEX audit_by_time ON audit(time);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

/* ---- administrators -------------------------------------------------------------- */

int sqlite_admin_insert(struct store *st, const struct store_admin *a,
			const uint8_t hash[PROTO_HASH_BYTES])
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	pthread_mutex_lock(&s->lock);
	q = sqlite_prep(s, "INSERT INTO admins(name, role, hash, created, created_by)"
			   " VALUES(?1,?2,?3,?4,?5)");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, a->name);
	db_bind_text(q, 2, a->role);
	db_bind_blob(q, 3, hash, PROTO_HASH_BYTES);
	db_bind_int64(q, 4, a->created);
	db_bind_text(q, 5, a->created_by);
	rc = sqlite_run_once(s, q);
	if (rc == -STEWARD_EBUSY) /* the CHECK of the role */
		rc = -STEWARD_EINVAL;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void admin_row(struct db_stmt *q, struct store_admin *a)
{
	memset(a, 0, sizeof(*a));
	sqlite_col_text(q, 0, a->name, sizeof(a->name));
	sqlite_col_text(q, 1, a->role, sizeof(a->role));
	a->created = db_col_int64(q, 2);
	sqlite_col_text(q, 3, a->created_by, sizeof(a->created_by));
	a->revoked = db_col_int64(q, 4);
}

#define ADMIN_COLS "name, role, created, created_by, revoked"

int sqlite_admin_find(struct store *st, const uint8_t hash[PROTO_HASH_BYTES],
		      struct store_admin *out)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	pthread_mutex_lock(&s->lock);
	q = sqlite_prep(s, "SELECT " ADMIN_COLS " FROM admins WHERE hash=?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_blob(q, 1, hash, PROTO_HASH_BYTES);
	switch (db_step(q)) {
	case DB_ROW:
		admin_row(q, out);
		rc = 0;
		break;
	case DB_DONE:
		rc = -STEWARD_ENOTFOUND;
		break;
	default:
		rc = -STEWARD_ESTORE;
	}
	db_finalize(q);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sqlite_admin_count(struct store *st, int64_t *n)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc = -STEWARD_ESTORE;

	pthread_mutex_lock(&s->lock);
	q = sqlite_prep(s, "SELECT count(*) FROM admins");
	if (q && db_step(q) == DB_ROW) {
		*n = db_col_int64(q, 0);
		rc = 0;
	}
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int admin_list_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_admin a;

	admin_row(q, &a);
	return ((store_admin_cb)cb)(&a, ctx);
}

int sqlite_admin_list(struct store *st, store_admin_cb cb, void *ctx)
{
	return sqlite_read_rows(st, "SELECT " ADMIN_COLS " FROM admins ORDER BY rid", 0, NULL, 0,
				admin_list_row, (void *)cb, ctx);
}

int sqlite_admin_revoke(struct store *st, const char *name, int64_t now)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	pthread_mutex_lock(&s->lock);
	/* a second revoke keeps the time of the first */
	q = sqlite_prep(s, "UPDATE admins SET revoked=CASE WHEN revoked=0 THEN ?2 ELSE revoked END"
			   " WHERE name=?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, name);
	db_bind_int64(q, 2, now);
	rc = sqlite_run_once(s, q);
	if (!rc && db_changes(s->db) == 0)
		rc = -STEWARD_ENOTFOUND;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- the audit log ----------------------------------------------------------------- */

#define AUDIT_COLS                                                                                 \
	"id, time, who, role, route, method, path, object, status, code, peer, prev, hash"

static void audit_row(struct db_stmt *q, struct store_audit *e)
{
	memset(e, 0, sizeof(*e));
	e->id = db_col_int64(q, 0);
	e->time = db_col_int64(q, 1);
	sqlite_col_text(q, 2, e->who, sizeof(e->who));
	sqlite_col_text(q, 3, e->role, sizeof(e->role));
	sqlite_col_text(q, 4, e->route, sizeof(e->route));
	sqlite_col_text(q, 5, e->method, sizeof(e->method));
	sqlite_col_text(q, 6, e->path, sizeof(e->path));
	sqlite_col_text(q, 7, e->object, sizeof(e->object));
	e->status = db_col_int64(q, 8);
	sqlite_col_text(q, 9, e->code, sizeof(e->code));
	sqlite_col_text(q, 10, e->peer, sizeof(e->peer));
	sqlite_col_text(q, 11, e->prev, sizeof(e->prev));
	sqlite_col_text(q, 12, e->hash, sizeof(e->hash));
}

int sqlite_audit_last(struct store *st, struct store_audit *out)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	pthread_mutex_lock(&s->lock);
	q = sqlite_prep(s, "SELECT " AUDIT_COLS " FROM audit ORDER BY id DESC LIMIT 1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	switch (db_step(q)) {
	case DB_ROW:
		audit_row(q, out);
		rc = 0;
		break;
	case DB_DONE:
		rc = -STEWARD_ENOTFOUND;
		break;
	default:
		rc = -STEWARD_ESTORE;
	}
	db_finalize(q);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sqlite_audit_append(struct store *st, const struct store_audit *e)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	pthread_mutex_lock(&s->lock);
	q = sqlite_prep(s, "INSERT INTO audit(" AUDIT_COLS ")"
			   " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_int64(q, 1, e->id);
	db_bind_int64(q, 2, e->time);
	db_bind_text(q, 3, e->who);
	db_bind_text(q, 4, e->role);
	db_bind_text(q, 5, e->route);
	db_bind_text(q, 6, e->method);
	db_bind_text(q, 7, e->path);
	db_bind_text(q, 8, e->object);
	db_bind_int64(q, 9, e->status);
	db_bind_text(q, 10, e->code);
	db_bind_text(q, 11, e->peer);
	db_bind_text(q, 12, e->prev);
	db_bind_text(q, 13, e->hash);
	rc = sqlite_run_once(s, q);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int audit_list_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_audit e;

	audit_row(q, &e);
	return ((store_audit_cb)cb)(&e, ctx);
}

int sqlite_audit_list(struct store *st, const struct store_audit_filter *f, store_audit_cb cb,
		      void *ctx)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	pthread_mutex_lock(&s->lock);
	q = sqlite_prep(s, "SELECT " AUDIT_COLS " FROM audit"
			   " WHERE id > ?1 AND time >= ?2 AND (?3 = '' OR who = ?3)"
			   " ORDER BY id LIMIT ?4");
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		db_bind_int64(q, 1, f->after_id);
		db_bind_int64(q, 2, f->since);
		db_bind_text(q, 3, f->who);
		db_bind_limit(q, 4, f->limit > 0 ? f->limit : -1);
		rc = sqlite_each_row(q, audit_list_row, (void *)cb, ctx);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

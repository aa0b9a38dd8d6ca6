/* store/sqlite_inventory: each client's current inventory and its history.
 *
 * The current inventory keeps one row per client with the canonical JSON
 * of each class and its hash, so a delta can be applied to the class it
 * replaces and an unknown base is detected by comparing full hashes. The
 * history keeps one row per changed class per report. */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

const char sqlite_migration_inventory[] =
    "CREATE TABLE inventory ("
    " client_rid INTEGER PRIMARY KEY REFERENCES clients(rid),"
    " received INTEGER NOT NULL,"
    " full_hash TEXT NOT NULL,"
    " hardware_hash TEXT NOT NULL,"
    " os_hash TEXT NOT NULL,"
    " software_hash TEXT NOT NULL,"
    " hardware TEXT NOT NULL,"
    " os TEXT NOT NULL,"
    " software TEXT NOT NULL);"
    "CREATE TABLE inventory_history ("
    " rid INTEGER PRIMARY KEY,"
    " client_rid INTEGER NOT NULL REFERENCES clients(rid),"
    " time INTEGER NOT NULL,"
    " class TEXT NOT NULL CHECK (class IN ('hardware','os','software')),"
    " change TEXT NOT NULL);"
    "CREATE INDEX inventory_history_by_client ON inventory_history(client_rid, time);";

static const char *const inv_class_names[STORE_INV_CLASSES] = {"hardware", "os", "software"};

void store_inventory_clear(struct store_inventory *inv)
{
	if (!inv)
		return;
	for (int i = 0; i < STORE_INV_CLASSES; i++)
		free(inv->classes[i]);
	memset(inv, 0, sizeof(*inv));
}

/* The client's row id; -STEWARD_ENOTFOUND when there is no such client. */
static int client_rid(struct db *db, const char *id, int64_t *rid)
{
	struct db_stmt *q = NULL;
	int rc = -STEWARD_ESTORE, step;

	if (!(q = db_prepare(db, "SELECT rid FROM clients WHERE id=?1")))
		return rc;
	db_bind_text(q, 1, id);
	step = db_step(q);
	if (step == DB_ROW) {
		*rid = db_col_int64(q, 0);
		rc = 0;
	} else if (step == DB_DONE) {
		rc = -STEWARD_ENOTFOUND;
	}
	db_finalize(q);
	return rc;
}

static char *col_dup(struct db_stmt *q, int i)
{
	const char *t = db_col_text(q, i);

	return strdup(t ? t : "");
}

/* Read the row of rid into out (texts too when with_texts). Caller holds
 * the lock. -STEWARD_ENOTFOUND when the client has no inventory. */
static int inv_read(struct db *db, int64_t rid, bool with_texts, struct store_inventory *out)
{
	struct db_stmt *q = NULL;
	int rc = -STEWARD_ESTORE, step;

	memset(out, 0, sizeof(*out));
	if (!(q = db_prepare(db, with_texts ? "SELECT received, full_hash, hardware_hash, os_hash,"
					    " software_hash, hardware, os, software FROM inventory"
					    " WHERE client_rid=?1"
					  : "SELECT received, full_hash, hardware_hash, os_hash,"
					    " software_hash FROM inventory WHERE client_rid=?1")))
		return rc;
	db_bind_int64(q, 1, rid);
	step = db_step(q);
	if (step == DB_DONE) {
		rc = -STEWARD_ENOTFOUND;
		goto out;
	}
	if (step != DB_ROW)
		goto out;
	out->received = db_col_int64(q, 0);
	sqlite_col_text(q, 1, out->full_hash, sizeof(out->full_hash));
	for (int i = 0; i < STORE_INV_CLASSES; i++)
		sqlite_col_text(q, 2 + i, out->hashes[i], sizeof(out->hashes[i]));
	rc = 0;
	if (!with_texts)
		goto out;
	for (int i = 0; i < STORE_INV_CLASSES; i++) {
		out->classes[i] = col_dup(q, 5 + i);
		if (!out->classes[i])
			rc = -STEWARD_ENOMEM;
	}
	if (rc)
		store_inventory_clear(out);
out:
	db_finalize(q);
	return rc;
}

int sqlite_inventory_get(struct store *st, const char *id, struct store_inventory *out)
{
	struct sqlite_store *s = SS(st);
	int64_t rid;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!proto_client_id_valid(id))
		return -STEWARD_EINVAL;
	pthread_mutex_lock(&s->lock);
	rc = client_rid(s->db, id, &rid);
	if (!rc)
		rc = inv_read(s->db, rid, true, out);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int history_insert(struct db *db, int64_t rid, int64_t time, const char *cls,
			  const char *change)
{
	struct db_stmt *q = NULL;
	int rc = -STEWARD_ESTORE;

	if (!(q = db_prepare(db, "INSERT INTO inventory_history(client_rid, time, class, change)"
			       " VALUES(?1,?2,?3,?4)")))
		return rc;
	db_bind_int64(q, 1, rid);
	db_bind_int64(q, 2, time);
	db_bind_text(q, 3, cls);
	db_bind_text(q, 4, change);
	if (db_step(q) == DB_DONE)
		rc = 0;
	db_finalize(q);
	return rc;
}

int sqlite_inventory_put(struct store *st, const char *id, const struct store_inventory_put *in)
{
	struct sqlite_store *s = SS(st);
	struct store_inventory cur;
	struct db_stmt *q = NULL;
	bool exists;
	int64_t rid;
	int rc;

	if (!proto_client_id_valid(id))
		return -STEWARD_EINVAL;
	pthread_mutex_lock(&s->lock);
	if (db_begin(s->db)) {
		rc = -STEWARD_ESTORE;
		goto unlock;
	}
	rc = client_rid(s->db, id, &rid);
	if (rc)
		goto rollback;
	rc = inv_read(s->db, rid, false, &cur);
	if (rc && rc != -STEWARD_ENOTFOUND)
		goto rollback;
	exists = rc == 0;
	/* the caller built this report on what it read: it must still hold */
	if (in->expect_full_hash &&
	    strcmp(in->expect_full_hash, exists ? cur.full_hash : "") != 0) {
		rc = -STEWARD_EBUSY;
		goto rollback;
	}
	if (!exists && (!in->classes[0] || !in->classes[1] || !in->classes[2])) {
		rc = -STEWARD_EINVAL;
		goto rollback;
	}
	rc = -STEWARD_ESTORE;
	if (!(q = db_prepare(s->db, exists ? "UPDATE inventory SET received=?2, full_hash=?3, hardware_hash=?4,"
			 " os_hash=?5, software_hash=?6, hardware=COALESCE(?7, hardware),"
			 " os=COALESCE(?8, os), software=COALESCE(?9, software)"
			 " WHERE client_rid=?1"
		       : "INSERT INTO inventory(client_rid, received, full_hash, hardware_hash,"
			 " os_hash, software_hash, hardware, os, software)"
			 " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)")))
		goto rollback;
	db_bind_int64(q, 1, rid);
	db_bind_int64(q, 2, in->time);
	db_bind_text(q, 3, in->full_hash);
	for (int i = 0; i < STORE_INV_CLASSES; i++) {
		db_bind_text(q, 4 + i, in->hashes[i]);
		if (in->classes[i])
			db_bind_text(q, 7 + i, in->classes[i]);
		else
			db_bind_null(q, 7 + i);
	}
	if (db_step(q) != DB_DONE)
		goto rollback;
	db_finalize(q);
	q = NULL;
	for (int i = 0; i < STORE_INV_CLASSES; i++) {
		if (!in->changes[i])
			continue;
		if (history_insert(s->db, rid, in->time, inv_class_names[i], in->changes[i]))
			goto rollback;
	}
	/* the other management points read this client's facts again */
	if (sqlite_notify(s, STORE_CHANGE_FACTS, id))
		goto rollback;
	if (sqlite_exec(s->db, "COMMIT"))
		goto rollback;
	rc = 0;
	goto unlock;
rollback:
	db_finalize(q);
	sqlite_exec(s->db, "ROLLBACK");
unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sqlite_inventory_history(struct store *st, const char *id, int64_t limit,
			     store_inventory_history_cb cb, void *ctx)
{
	struct sqlite_store *s = SS(st);
	struct store_inventory_change h;
	struct db_stmt *q = NULL;
	int64_t rid;
	int rc, step;

	if (!proto_client_id_valid(id))
		return -STEWARD_EINVAL;
	if (limit <= 0 || limit > STORE_INV_HISTORY_MAX)
		limit = STORE_INV_HISTORY_MAX;
	pthread_mutex_lock(&s->lock);
	rc = client_rid(s->db, id, &rid);
	if (rc)
		goto out;
	rc = -STEWARD_ESTORE;
	if (!(q = db_prepare(s->db, "SELECT time, class, change FROM inventory_history WHERE client_rid=?1"
			       " ORDER BY time DESC, rid DESC LIMIT ?2")))
		goto out;
	db_bind_int64(q, 1, rid);
	db_bind_limit(q, 2, limit);
	rc = 0;
	while ((step = db_step(q)) == DB_ROW) {
		h.time = db_col_int64(q, 0);
		h.cls = db_col_text(q, 1);
		h.change = db_col_text(q, 2);
		if (!h.cls || !h.change)
			continue;
		rc = cb(&h, ctx);
		if (rc)
			break;
	}
	if (!rc && step != DB_DONE && step != DB_ROW)
		rc = -STEWARD_ESTORE;
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int since_row(struct db_stmt *q, void *cb, void *ctx)
{
	const char *id = db_col_text(q, 0);

	return id ? ((store_id_cb)cb)(id, ctx) : 0;
}

int sqlite_inventory_since(struct store *st, int64_t since, store_id_cb cb, void *ctx)
{
	return sqlite_read_rows(st,
				"SELECT c.id FROM inventory i JOIN clients c ON"
				" c.rid = i.client_rid WHERE i.received >= ?1",
				since, NULL, 0, since_row, (void *)cb, ctx);
}

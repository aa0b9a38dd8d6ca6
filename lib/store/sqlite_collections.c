/* store/sqlite_collections: collections and their definitions.
 *
 * Only definitions are stored (static members, query text, include and
 * exclude rules); membership is derived and kept current in memory by the
 * site. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sqlite_int.h"

const char sqlite_migration_collections[] =
    "CREATE TABLE collections ("
    " rid INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " kind TEXT NOT NULL CHECK (kind IN ('static','query')),"
    " query TEXT NOT NULL DEFAULT '',"
    " comment TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL,"
    " created_by TEXT NOT NULL);"
    "CREATE TABLE collection_members ("
    " collection_rid INTEGER NOT NULL REFERENCES collections(rid) ON DELETE CASCADE,"
    " client_id TEXT NOT NULL,"
    " PRIMARY KEY (collection_rid, client_id)) WITHOUT ROWID;"
    "CREATE TABLE collection_rules ("
    " collection_rid INTEGER NOT NULL REFERENCES collections(rid) ON DELETE CASCADE,"
    " kind TEXT NOT NULL CHECK (kind IN ('include','exclude')),"
    " other_name TEXT NOT NULL,"
    " PRIMARY KEY (collection_rid, kind, other_name)) WITHOUT ROWID;";

/* ---- names ------------------------------------------------------------------ */

bool store_collection_name_builtin(const char *name)
{
	static const char site_prefix[] = "All Clients of site ";

	return strcasecmp(name, "All Clients") == 0 || strcasecmp(name, "Pending Clients") == 0 ||
	       strncasecmp(name, site_prefix, sizeof(site_prefix) - 1) == 0;
}

bool store_collection_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n < 1 || n > STORE_COLLECTION_NAME_MAX || name[0] == ' ' || name[n - 1] == ' ')
		return false;
	for (const char *p = name; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == ' ' || *p == '.' || *p == '_' ||
		      *p == '-'))
			return false;
	return !store_collection_name_builtin(name);
}

void store_collection_clear(struct store_collection *c)
{
	free(c->members);
	free(c->include);
	free(c->exclude);
	memset(c, 0, sizeof(*c));
}

/* ---- operations --------------------------------------------------------------- */

static int insert_names(struct db *db, struct db_stmt *q, int64_t rid, const char *kind,
			const char (*names)[STORE_COLLECTION_NAME_MAX + 1], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		db_bind_int64(q, 1, rid);
		db_bind_text(q, 2, kind);
		db_bind_text(q, 3, names[i]);
		int rc = db_run(q);

		if (rc)
			return rc == -STEWARD_EEXIST ? -STEWARD_EINVAL : -STEWARD_ESTORE;
	}
	return 0;
}

static int insert_members(struct db *db, int64_t rid, const char (*ids)[PROTO_CLIENT_ID_HEX + 1],
			  size_t n)
{
	struct db_stmt *q = NULL;
	int rc = 0;

	if (!(q = db_prepare(db, "INSERT INTO collection_members(collection_rid, client_id)"
			       " VALUES(?1,?2) ON CONFLICT DO NOTHING")))
		return -STEWARD_ESTORE;
	for (size_t i = 0; i < n && !rc; i++) {
		db_bind_int64(q, 1, rid);
		db_bind_text(q, 2, ids[i]);
		rc = sqlite_step_reset(q) ? -STEWARD_ESTORE : 0;
	}
	db_finalize(q);
	return rc;
}

int sqlite_collection_create(struct store *st, struct store_collection *c)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int rc = 0;

	if (!store_collection_name_valid(c->name))
		return -STEWARD_EINVAL;
	pthread_mutex_lock(&s->lock);
	if (db_begin(s->db)) {
		rc = -STEWARD_ESTORE;
		goto unlock;
	}
	if (!(q = db_prepare(s->db, "INSERT INTO collections(name, kind, query, comment, created, created_by, origin)"
		" VALUES(?1,?2,?3,?4,?5,?6,?7) RETURNING rid"))) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	db_bind_text(q, 1, c->name);
	db_bind_text(q, 2, c->is_query ? "query" : "static");
	db_bind_text(q, 3, c->query);
	db_bind_text(q, 4, c->comment);
	db_bind_int64(q, 5, c->created);
	db_bind_text(q, 6, c->created_by);
	db_bind_text(q, 7, c->origin);
	rc = db_run_rid(q, &c->rid);
	if (rc) {
		if (rc != -STEWARD_EEXIST)
			rc = -STEWARD_ESTORE;
		goto rollback;
	}
	db_finalize(q);
	q = NULL;
	rc = insert_members(s->db, c->rid, (const char(*)[PROTO_CLIENT_ID_HEX + 1]) c->members,
			    c->n_members);
	if (rc)
		goto rollback;
	if (!(q = db_prepare(s->db, "INSERT INTO collection_rules(collection_rid, kind, other_name)"
			       " VALUES(?1,?2,?3)"))) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	rc = insert_names(s->db, q, c->rid, "include",
			  (const char(*)[STORE_COLLECTION_NAME_MAX + 1]) c->include, c->n_include);
	if (!rc)
		rc = insert_names(s->db, q, c->rid, "exclude",
				  (const char(*)[STORE_COLLECTION_NAME_MAX + 1]) c->exclude,
				  c->n_exclude);
	if (rc)
		goto rollback;
	db_finalize(q);
	q = NULL;
	/* down to the children, whole, with the change */
	rc = sqlite_down_collection(s->db, c->rid);
	if (!rc) /* and to the other management points, at COMMIT */
		rc = sqlite_notify(s, STORE_CHANGE_COLLECTIONS, NULL);
	if (rc)
		goto rollback;
	if (sqlite_exec(s->db, "COMMIT")) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	goto unlock;
rollback:
	db_finalize(q);
	q = NULL;
	sqlite_exec(s->db, "ROLLBACK");
unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Grow an array of fixed-size names by one slot; returns the new slot. */
static void *push(void *arr, size_t *n, size_t elem, void **out)
{
	char *p = realloc(arr, (*n + 1) * elem);

	if (!p)
		return NULL;
	*out = p;
	memset(p + *n * elem, 0, elem);
	return p + (*n)++ * elem;
}

/* Fill members and rules of c (c->rid set); the caller holds the lock. */
static int load_parts(struct db *db, struct store_collection *c)
{
	struct db_stmt *q = NULL;
	void *slot, *arr;
	int rc = 0, step;

	if (!(q = db_prepare(db, "SELECT client_id FROM collection_members WHERE collection_rid=?1"
			       " ORDER BY client_id")))
		return -STEWARD_ESTORE;
	db_bind_int64(q, 1, c->rid);
	while ((step = db_step(q)) == DB_ROW) {
		arr = c->members;
		slot = push(arr, &c->n_members, sizeof(c->members[0]), &arr);
		if (!slot) {
			rc = -STEWARD_ENOMEM;
			break;
		}
		c->members = arr;
		sqlite_col_text(q, 0, slot, sizeof(c->members[0]));
	}
	if (!rc && step != DB_DONE)
		rc = -STEWARD_ESTORE;
	db_finalize(q);
	q = NULL;
	if (rc)
		return rc;
	if (!(q = db_prepare(db, "SELECT kind, other_name FROM collection_rules WHERE collection_rid=?1"
		" ORDER BY kind, other_name")))
		return -STEWARD_ESTORE;
	db_bind_int64(q, 1, c->rid);
	while ((step = db_step(q)) == DB_ROW) {
		const char *kind = db_col_text(q, 0);
		bool inc = kind && strcmp(kind, "include") == 0;

		arr = inc ? (void *)c->include : (void *)c->exclude;
		slot = push(arr, inc ? &c->n_include : &c->n_exclude, sizeof(c->include[0]), &arr);
		if (!slot) {
			rc = -STEWARD_ENOMEM;
			break;
		}
		if (inc)
			c->include = arr;
		else
			c->exclude = arr;
		sqlite_col_text(q, 1, slot, sizeof(c->include[0]));
	}
	if (!rc && step != DB_DONE)
		rc = -STEWARD_ESTORE;
	db_finalize(q);
	return rc;
}

#define COLLECTION_SELECT                                                                          \
	"SELECT rid, name, kind, query, comment, created, created_by, origin FROM collections"

static void row_to_collection(struct db_stmt *q, struct store_collection *c)
{
	const char *kind = db_col_text(q, 2);

	memset(c, 0, sizeof(*c));
	c->rid = db_col_int64(q, 0);
	sqlite_col_text(q, 1, c->name, sizeof(c->name));
	c->is_query = kind && strcmp(kind, "query") == 0;
	sqlite_col_text(q, 3, c->query, sizeof(c->query));
	sqlite_col_text(q, 4, c->comment, sizeof(c->comment));
	c->created = db_col_int64(q, 5);
	sqlite_col_text(q, 6, c->created_by, sizeof(c->created_by));
	sqlite_col_text(q, 7, c->origin, sizeof(c->origin));
}

int sqlite_collection_list(struct store *st, store_collection_cb cb, void *ctx)
{
	struct sqlite_store *s = SS(st);
	struct store_collection *c = calloc(1, sizeof(*c));
	struct db_stmt *q = NULL;
	int rc = 0, step;

	if (!c)
		return -STEWARD_ENOMEM;
	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, COLLECTION_SELECT " ORDER BY rid"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	while ((step = db_step(q)) == DB_ROW) {
		row_to_collection(q, c);
		rc = load_parts(s->db, c);
		if (!rc)
			rc = cb(c, ctx);
		store_collection_clear(c);
		if (rc)
			break;
	}
	if (!rc && step != DB_DONE)
		rc = -STEWARD_ESTORE;
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	free(c);
	return rc;
}

int sqlite_collection_get(struct store *st, const char *name, struct store_collection *out)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int rc = 0, step;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, COLLECTION_SELECT " WHERE name=?1"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, name);
	step = db_step(q);
	if (step == DB_ROW) {
		row_to_collection(q, out);
		rc = load_parts(s->db, out);
		if (rc)
			store_collection_clear(out);
	} else {
		rc = step == DB_DONE ? -STEWARD_ENOTFOUND : -STEWARD_ESTORE;
	}
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sqlite_collection_delete(struct store *st, const char *name)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int rc = 0, step;

	pthread_mutex_lock(&s->lock);
	if (db_begin(s->db)) {
		rc = -STEWARD_ESTORE;
		goto unlock;
	}
	/* a rule naming it keeps it: deleting would silently change another
	 * collection's members */
	if (!(q = db_prepare(s->db, "SELECT 1 FROM collection_rules WHERE other_name=?1 LIMIT 1"))) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	db_bind_text(q, 1, name);
	step = db_step(q);
	if (step == DB_ROW) {
		rc = -STEWARD_EBUSY;
		goto rollback;
	}
	if (step != DB_DONE) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	db_finalize(q);
	q = NULL;
	if (!(q = db_prepare(s->db, "DELETE FROM collections WHERE name=?1"))) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	db_bind_text(q, 1, name);
	if (db_step(q) != DB_DONE) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	if (db_changes(s->db) == 0) {
		rc = -STEWARD_ENOTFOUND;
		goto rollback;
	}
	db_finalize(q);
	q = NULL;
	if ((rc = sqlite_notify(s, STORE_CHANGE_COLLECTIONS, NULL)))
		goto rollback;
	if (sqlite_exec(s->db, "COMMIT")) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	goto unlock;
rollback:
	db_finalize(q);
	sqlite_exec(s->db, "ROLLBACK");
unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sqlite_collection_set_members(struct store *st, const char *name,
				  const char (*ids)[PROTO_CLIENT_ID_HEX + 1], size_t n)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int64_t rid = 0;
	int rc = 0, step;

	pthread_mutex_lock(&s->lock);
	if (db_begin(s->db)) {
		rc = -STEWARD_ESTORE;
		goto unlock;
	}
	if (!(q = db_prepare(s->db, "SELECT rid FROM collections WHERE name=?1"))) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	db_bind_text(q, 1, name);
	step = db_step(q);
	if (step != DB_ROW) {
		rc = step == DB_DONE ? -STEWARD_ENOTFOUND : -STEWARD_ESTORE;
		goto rollback;
	}
	rid = db_col_int64(q, 0);
	db_finalize(q);
	q = NULL;
	if (!(q = db_prepare(s->db, "DELETE FROM collection_members WHERE collection_rid=?1"))) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	db_bind_int64(q, 1, rid);
	if (db_step(q) != DB_DONE) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	db_finalize(q);
	q = NULL;
	rc = insert_members(s->db, rid, ids, n);
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_COLLECTIONS, NULL);
	if (rc)
		goto rollback;
	if (sqlite_exec(s->db, "COMMIT")) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	goto unlock;
rollback:
	db_finalize(q);
	sqlite_exec(s->db, "ROLLBACK");
unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static const char *col_or_null(struct db_stmt *q, int i)
{
	return db_col_null(q, i) ? NULL
							: db_col_text(q, i);
}

int sqlite_collection_facts(struct store *st, const char *id, store_facts_cb cb, void *ctx)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	struct store_client_facts f;
	int rc = 0, step;

	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, id ? "SELECT c.id, c.hostname, c.site, c.state, c.agent_version,"
		     " c.addresses, i.hardware, i.os, i.software, i.software_hash FROM clients c"
		     " LEFT JOIN inventory i ON i.client_rid=c.rid WHERE c.id=?1"
		   : "SELECT c.id, c.hostname, c.site, c.state, c.agent_version,"
		     " c.addresses, i.hardware, i.os, i.software, i.software_hash FROM clients c"
		     " LEFT JOIN inventory i ON i.client_rid=c.rid ORDER BY c.rid"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	if (id)
		db_bind_text(q, 1, id);
	while ((step = db_step(q)) == DB_ROW) {
		memset(&f, 0, sizeof(f));
		f.id = db_col_text(q, 0);
		f.hostname = db_col_text(q, 1);
		f.site = db_col_text(q, 2);
		if (store_client_state_parse(db_col_text(q, 3), &f.state))
			f.state = CLIENT_DELETED;
		f.agent_version = db_col_text(q, 4);
		f.addresses = db_col_text(q, 5);
		f.hardware = col_or_null(q, 6);
		f.os = col_or_null(q, 7);
		f.software = col_or_null(q, 8);
		f.software_hash = col_or_null(q, 9);
		if (!f.id)
			continue;
		rc = cb(&f, ctx);
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

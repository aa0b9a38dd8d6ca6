/* store/sqlite: the embedded SQLite backend.
 *
 * WAL mode with synchronous=FULL: a committed transaction survives a kill
 * or power loss, which is what lets the site acknowledge a check-in only
 * after COMMIT. Two connections: one used only by the check-in writer
 * thread, one (behind a mutex) for everything else, so admin reads do not
 * queue behind a group commit's fsync. Checkpoints stay SQLite's own
 * (after a commit that takes the log past 1000 pages): a checkpoint thread
 * of its own could not finish while writes arrived continuously, so the
 * log never restarted and grew without bound. journal_size_limit trims the
 * log file when it restarts. The database file is created 0600; SQLite gives its -wal and
 * -shm files the same mode.
 *
 * Migrations are numbered; each runs in its own transaction together with
 * the PRAGMA user_version bump, so a crash never leaves half a migration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>


#include <sqlite3.h>

#include "steward/build_test.h" /* generated: CMakeLists.txt */
#include "sqlite_int.h"
#include "pg_schema.h"

static const char *const migrations[] = {
    /* 1: clients, status, enrollment tokens, admin tokens, settings */
    "CREATE TABLE clients ("
    " rid INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " public_key BLOB NOT NULL UNIQUE,"
    " hostname TEXT NOT NULL,"
    " site TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('pending','approved','blocked','deleted')),"
    " block_reason TEXT NOT NULL DEFAULT '',"
    " enrolled INTEGER NOT NULL,"
    " min_epoch INTEGER NOT NULL DEFAULT 0,"
    " agent_version TEXT NOT NULL,"
    " protocol TEXT NOT NULL,"
    " os_name TEXT NOT NULL DEFAULT '',"
    " os_version TEXT NOT NULL DEFAULT '',"
    " addresses TEXT NOT NULL DEFAULT '[]',"
    " components TEXT NOT NULL DEFAULT '[]');"
    /* Written by every check-in: narrow rows keyed by the client's rowid,
     * so a group commit touches few pages. */
    "CREATE TABLE checkins ("
    " client_rid INTEGER PRIMARY KEY REFERENCES clients(rid),"
    " last_seen INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL);"
    "CREATE TABLE status_messages ("
    " rid INTEGER PRIMARY KEY,"
    " client_id TEXT NOT NULL,"
    " time INTEGER NOT NULL,"
    " received INTEGER NOT NULL,"
    " type TEXT NOT NULL,"
    " text TEXT NOT NULL);"
    "CREATE INDEX status_by_client ON status_messages(client_id, time);"
    "CREATE INDEX status_by_received ON status_messages(received);"
    "CREATE TABLE enroll_tokens ("
    " id TEXT PRIMARY KEY,"
    " hash BLOB NOT NULL UNIQUE,"
    " uses INTEGER NOT NULL,"
    " used INTEGER NOT NULL DEFAULT 0,"
    " expires INTEGER NOT NULL,"
    " site TEXT NOT NULL DEFAULT '',"
    " revoked INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL,"
    " created_by TEXT NOT NULL);"
    "CREATE TABLE admin_tokens ("
    " rid INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " hash BLOB NOT NULL UNIQUE,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    /* 2: inventory (sqlite_inventory.c) */
    sqlite_migration_inventory,
    /* 3: collections (sqlite_collections.c) */
    sqlite_migration_collections,
    /* 4: software distribution (sqlite_swdist.c) */
    sqlite_migration_swdist,
    /* 5: releases (sqlite_swdist.c) */
    sqlite_migration_releases,
    /* 6: withdrawn releases and the clients' outcomes (sqlite_swdist.c) */
    sqlite_migration_release_marks,
    /* 7: linked sites, their outbox, what sites below report (sqlite_hierarchy.c) */
    sqlite_migration_hierarchy,
    /* 8: releases fetched from above, how objects went below (sqlite_hierarchy.c) */
    sqlite_migration_hierarchy_objects,
    /* 9: acknowledged link messages kept, what a receiver last said (sqlite_hierarchy.c) */
    sqlite_migration_hierarchy_kept,
    /* 10: objects from above: their origin, what waits here, what waits for an older child
     * (sqlite_hierarchy.c) */
    sqlite_migration_hierarchy_down,
    /* 11: inventory up the links, and what came up from below (sqlite_hierarchy.c) */
    sqlite_migration_hierarchy_inventory,
    /* 12: a link limited to a share of each hour (sqlite_hierarchy.c) */
    sqlite_migration_hierarchy_share,
    /* 13: administrators with roles, the audit log (sqlite_admins.c) */
    sqlite_migration_admins,
    /* 14: rollouts, their members, maintenance windows (sqlite_rollouts.c) */
    sqlite_migration_rollouts,
    /* 15: each client's link: its class and what its agent measured (server/clientlink.c) */
    sqlite_migration_links,
    /* 16: which put last wrote each rollout member (sqlite_rollouts.c) */
    sqlite_migration_rollout_changes,
    /* the test-only migrations below stay after the last real one */
#ifdef STEWARD_TEST_DIES_AFTER_START
    /* test releases only (test_site_upgrade_watch.sh): a migration that
     * succeeds, so that only a restore of the backup undoes it */
    "CREATE TABLE upgrade_probe_ok (x INTEGER); INSERT INTO upgrade_probe_ok VALUES (1);",
#endif
#ifdef STEWARD_TEST_FAILING_MIGRATION
    /* test releases only (test_site_upgrade.sh): a migration that fails */
    "CREATE TABLE upgrade_probe (x INTEGER); INSERT INTO no_such_table VALUES (1);",
#endif
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

_Static_assert(N_MIGRATIONS == STORE_SCHEMA_VERSION, "one migration per schema version");

const char *store_migration_sql(int v)
{
	return v >= 1 && v <= (int)N_MIGRATIONS ? migrations[v - 1] : NULL;
}

int sqlite_exec(struct db *db, const char *sql)
{
	return db_exec(db, sql) ? -STEWARD_ESTORE : 0;
}

/* ---- helpers the backend's files share (sqlite_int.h) ---- */

/* Prepare sql on the general connection; the caller holds s->lock. */
struct db_stmt *sqlite_prep(struct sqlite_store *s, const char *sql)
{
	return db_prepare(s->db, sql);
}

/* Step q to its end, calling fn for each row; finalizes q. */
int sqlite_each_row(struct db_stmt *q, sqlite_row_fn fn, void *cb, void *ctx)
{
	int rc = 0, r;

	while (!rc && (r = db_step(q)) == DB_ROW)
		rc = fn(q, cb, ctx);
	if (!rc && r != DB_DONE)
		rc = -STEWARD_ESTORE;
	db_finalize(q);
	return rc;
}

/* Run one statement that must finish; finalizes q. On a constraint
 * failure returns -STEWARD_EEXIST for duplicates, -STEWARD_EBUSY otherwise
 * (a foreign key still pointing at the row). */
int sqlite_run_once(struct sqlite_store *s, struct db_stmt *q)
{
	int rc = db_run(q);

	(void)s;
	db_finalize(q);
	return rc;
}

int sqlite_insert_once(struct sqlite_store *s, struct db_stmt *q, int64_t *rid)
{
	int rc = db_run_rid(q, rid);

	(void)s;
	db_finalize(q);
	return rc;
}

int sqlite_begin(struct sqlite_store *s)
{
	pthread_mutex_lock(&s->lock);
	if (db_begin(s->db)) {
		pthread_mutex_unlock(&s->lock);
		return -STEWARD_ESTORE;
	}
	return 0;
}

/* The announcement on connection db (the store's, or the check-in
 * writer's), in its open transaction. */
static int notify_on(struct db *db, const char *kind, const char *id)
{
	char payload[STORE_CHANGE_PAYLOAD_MAX + 1];
	struct db_stmt *q;
	int rc, n;

	if (db_kind(db) != DB_POSTGRESQL)
		return 0;
	n = snprintf(payload, sizeof(payload), "%s%s%s", kind, id ? ":" : "", id ? id : "");
	if (n < 0 || (size_t)n >= sizeof(payload))
		return -STEWARD_EINVAL;
	if (!(q = db_prepare(db, "SELECT pg_notify('" STORE_CHANGES_CHANNEL "', ?1)")))
		return -STEWARD_ESTORE;
	db_bind_text(q, 1, payload);
	rc = db_step(q) == DB_ROW ? 0 : -STEWARD_ESTORE;
	db_finalize(q);
	return rc;
}

int sqlite_notify(struct sqlite_store *s, const char *kind, const char *id)
{
	return notify_on(s->db, kind, id);
}

int sqlite_end(struct sqlite_store *s, int rc)
{
	if (rc == 0 && sqlite_exec(s->db, "COMMIT"))
		rc = -STEWARD_ESTORE;
	if (rc)
		sqlite_exec(s->db, "ROLLBACK");
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* A read under the lock: prepare, bind rid/id (when given), walk rows. */
int sqlite_read_rows(struct store *st, const char *sql, int64_t rid, const char *id,
		     int64_t limit, sqlite_row_fn fn, void *cb, void *ctx)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	pthread_mutex_lock(&s->lock);
	q = sqlite_prep(s, sql);
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		if (db_param_index(q, "?1"))
			db_bind_int64(q, 1, rid);
		if (db_param_index(q, "?2"))
			db_bind_text(q, 2, id ? id : "");
		if (db_param_index(q, "?3"))
			db_bind_limit(q, 3, limit);
		rc = sqlite_each_row(q, fn, cb, ctx);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}


/* The schema version: SQLite keeps it in the file's header (PRAGMA
 * user_version), PostgreSQL in a table of its own (0 before the first
 * migration made it). -1 when it cannot be read. */
static int user_version(struct db *db)
{
	struct db_stmt *s = NULL;
	int v = -1;

	if (db_kind(db) == DB_POSTGRESQL) {
		/* the table is named only once it is known to exist */
		s = db_prepare(db, "SELECT to_regclass('steward_schema') IS NOT NULL");
		if (!s || db_step(s) != DB_ROW) {
			db_finalize(s);
			return -1;
		}
		v = (int)db_col_int64(s, 0);
		db_finalize(s);
		if (!v)
			return 0;
		v = -1;
		s = db_prepare(db, "SELECT max(version) FROM steward_schema");
	} else {
		s = db_prepare(db, "PRAGMA user_version");
	}
	if (s && db_step(s) == DB_ROW)
		v = (int)db_col_int64(s, 0);
	db_finalize(s);
	return v;
}

static int schema_too_new(int v, const char *path, struct steward_err *err)
{
	return steward_err_set(err, STEWARD_ESCHEMA, "schema_too_new",
			       "run the stewardd version that wrote this database, or restore a backup made for this version",
			       "database %s has schema version %d; this stewardd (%s) supports up to %d",
			       path, v, proto_self_version(), (int)N_MIGRATIONS);
}

static int open_conn(const char *path, struct db **out, struct steward_err *err)
{
	struct db *db = NULL;
	int v;

	*out = NULL;
	if (db_open(path, &db, err))
		return -STEWARD_ESTORE;
	/* Refuse a newer schema before the PRAGMAs below change the file. */
	v = user_version(db);
	if (v > (int)N_MIGRATIONS) {
		int rc = schema_too_new(v, db_target(db), err);

		db_close(db);
		return rc;
	}
	if (db_kind(db) == DB_SQLITE && sqlite_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
		     "PRAGMA temp_store=MEMORY; PRAGMA journal_size_limit=67108864;")) {
		db_close(db);
		return steward_err_set(err, STEWARD_ESTORE, "store_open_failed",
				       "check the database file and the site's log",
				       "cannot set up database %s", path);
	}
	*out = db;
	return 0;
}

/* Run migration i (0-based) and record version i + 1, in the caller's
 * transaction. On PostgreSQL the schema is made whole at version
 * PG_SCHEMA_VERSION (pg_schema.c); later migrations run as on SQLite. */
static int migrate_one(struct db *db, int i)
{
	char sql[96];

	if (db_kind(db) == DB_POSTGRESQL) {
		if (i < PG_SCHEMA_VERSION) {
			if (i > 0)
				return -STEWARD_ESTORE; /* a partial schema: never written */
			if (sqlite_exec(db, pg_schema_v15) ||
			    sqlite_exec(db, "CREATE TABLE steward_schema (version BIGINT NOT NULL)"))
				return -STEWARD_ESTORE;
			snprintf(sql, sizeof(sql), "INSERT INTO steward_schema VALUES (%d)",
				 PG_SCHEMA_VERSION);
			return sqlite_exec(db, sql);
		}
		snprintf(sql, sizeof(sql), "UPDATE steward_schema SET version = %d", i + 1);
	} else {
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", i + 1);
	}
	return sqlite_exec(db, migrations[i]) || sqlite_exec(db, sql) ? -STEWARD_ESTORE : 0;
}

/* What a PostgreSQL database needs beyond its schema version, made when
 * missing (pg_schema.h), under the migrations' lock: management points
 * that start at once make it one after the other. */
static int pg_guards(struct db *db, const char *path, struct steward_err *err)
{
	struct db_stmt *q = db_prepare(db, "SELECT count(*) FROM pg_trigger WHERE tgname = '"
					   PG_OUTBOX_IN_ORDER "'");
	int have = -1;

	if (q && db_step(q) == DB_ROW)
		have = (int)db_col_int64(q, 0);
	db_finalize(q);
	if (have > 0)
		return 0;
	if (have < 0 || db_begin(db))
		return steward_err_set(err, STEWARD_ESTORE, "store_open_failed",
				       "check the database and that this user may read its catalog",
				       "cannot look for the outbox's order trigger in %s", path);
	if (sqlite_exec(db, "SELECT pg_advisory_xact_lock(" PG_LOCK_SCHEMA ")") ||
	    sqlite_exec(db, pg_outbox_in_order) || db_commit(db)) {
		db_rollback(db);
		return steward_err_set(err, STEWARD_ESTORE, "store_open_failed",
				       "check that this user owns the site's tables (the user that made them)",
				       "cannot make the outbox's order trigger in %s", path);
	}
	log_info("store", "outbox_in_order", "made=" PG_OUTBOX_IN_ORDER " path=%s", path);
	return 0;
}

static int migrate(struct db *db, const char *path, struct steward_err *err)
{
	int v = user_version(db);
	bool pg = db_kind(db) == DB_POSTGRESQL;

	if (v < 0)
		return steward_err_set(err, STEWARD_ESTORE, "store_open_failed",
				       pg ? "check that the database is a steward database and that "
					    "this user may read it"
					  : "check that the file is a steward database",
				       "cannot read the schema version of %s", path);
	if (v > (int)N_MIGRATIONS)
		return schema_too_new(v, path, err);
	path = db_target(db); /* a URL's password masked */
	for (int i = v; i < (int)N_MIGRATIONS; i = user_version(db)) {
		if (i < 0)
			return steward_err_set(err, STEWARD_ESTORE, "migration_failed", "see the log",
					       "cannot read the schema version of %s", path);
		if (db_begin(db))
			return steward_err_set(err, STEWARD_ESTORE, "migration_failed", "see the log", "cannot begin migration %d", i + 1);
		/* Another process may have migrated while this one waited for the
		 * write lock (several management points start at once on one
		 * PostgreSQL database: they take turns on an advisory lock): if
		 * the version moved, go on from it. */
		if (pg && sqlite_exec(db, "SELECT pg_advisory_xact_lock(" PG_LOCK_SCHEMA ")")) {
			db_rollback(db);
			return steward_err_set(err, STEWARD_ESTORE, "migration_failed", "see the log",
					       "cannot lock %s for migration %d", path, i + 1);
		}
		if (user_version(db) != i) {
			db_rollback(db);
			if (user_version(db) > (int)N_MIGRATIONS)
				return schema_too_new(user_version(db), path, err);
			continue;
		}
		if (migrate_one(db, i)) {
			db_rollback(db);
			return steward_err_set(err, STEWARD_ESTORE, "migration_failed",
					       "restore the database from a backup and report the log",
					       "migration %d of %s failed; the database is unchanged", i + 1, path);
		}
		if (db_commit(db))
			return steward_err_set(err, STEWARD_ESTORE, "migration_failed", "see the log", "cannot commit migration %d", i + 1);
		log_info("store", "migrated", "version=%d path=%s", user_version(db), path);
	}
	return pg ? pg_guards(db, path, err) : 0;
}

static void sq_close(struct store *st)
{
	struct sqlite_store *s = SS(st);

	if (!s)
		return;
	db_finalize(s->w_update);
	db_finalize(s->w_seq);
	db_finalize(s->w_details);
	db_finalize(s->w_link);
	db_finalize(s->w_status);
	db_finalize(s->w_many);
	/* leave a compact database behind: fold the log back, empty it */
	if (s->db && db_sqlite_handle(s->db))
		sqlite3_wal_checkpoint_v2(db_sqlite_handle(s->db), NULL, SQLITE_CHECKPOINT_TRUNCATE,
					  NULL, NULL);
	db_close(s->wdb);
	db_close(s->db);
	free(s->target);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* A check-in's status messages, a JSON array, one row each. */
#define STATUS_INSERT_SQLITE                                                                       \
	"INSERT INTO status_messages(client_id, time, received, type, text)"                       \
	" SELECT ?1, json_extract(value,'$.time'), ?2,"                                            \
	" json_extract(value,'$.type'), coalesce(json_extract(value,'$.text'),'')"                 \
	" FROM json_each(?3)"
#define STATUS_INSERT_PG                                                                           \
	"INSERT INTO status_messages(client_id, time, received, type, text)"                       \
	" SELECT ?1, (e->>'time')::bigint, ?2, e->>'type', coalesce(e->>'text','')"                \
	" FROM jsonb_array_elements(?3::jsonb) AS e"

/* Text in a PostgreSQL database made with another collation than C sorts
 * by language rules, not byte by byte as in SQLite: listings come out in
 * another order. Said once at start; the site works either way. */
static void pg_check_collation(struct db *db)
{
	struct db_stmt *q = db_prepare(db, "SELECT datcollate FROM pg_database"
					   " WHERE datname = current_database()");
	char coll[64] = "";

	if (q && db_step(q) == DB_ROW)
		db_col_copy(q, 0, coll, sizeof(coll));
	db_finalize(q);
	if (coll[0] && strcmp(coll, "C") && strcmp(coll, "POSIX"))
		log_warn("store", "database_collation",
			 "collate=%s path=%s remedy=\"make the database with --locale C"
			 " (docs/operations.md, Choosing a database)\"",
			 coll, db_target(db));
}

/* A batch's check-ins in one statement on PostgreSQL, where each statement
 * is a round trip to the server: the rows as three arrays, each client once
 * (ON CONFLICT may touch a row once per statement). As w_update and w_seq:
 * the sequence number only moves up, and a row whose number is not above
 * the stored one writes nothing; RETURNING names the rows written, the
 * others are stale. A sequence-only row (time 0) leaves last_seen alone. */
#define CHECKINS_MANY_PG                                                                           \
	"INSERT INTO checkins(client_rid, last_seen, last_seq)"                                    \
	" SELECT r, t, q FROM unnest(?1::bigint[], ?2::bigint[], ?3::bigint[]) AS u(r, t, q)"      \
	" ON CONFLICT(client_rid) DO UPDATE SET last_seq=excluded.last_seq,"                       \
	" last_seen=CASE WHEN excluded.last_seen > 0 THEN excluded.last_seen"                      \
	" ELSE checkins.last_seen END WHERE checkins.last_seq < excluded.last_seq"                 \
	" RETURNING client_rid"

static int sq_open(const char *path, struct store **out, struct steward_err *err)
{
	struct sqlite_store *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return -STEWARD_ENOMEM;
	/* db_open makes the file 0600 (SQLite would make it 0644) */
	s->base.ops = &store_sqlite_ops;
	s->target = strdup(path);
	if (!s->target) {
		free(s);
		return -STEWARD_ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	rc = open_conn(path, &s->db, err);
	if (!rc)
		rc = migrate(s->db, path, err);
	if (!rc && db_kind(s->db) == DB_POSTGRESQL)
		pg_check_collation(s->db);
	if (!rc)
		rc = open_conn(path, &s->wdb, err);

	if (!rc &&
	    (!(s->w_update = db_prepare(s->wdb, "INSERT INTO checkins(client_rid, last_seen, last_seq) VALUES(?1, ?2, ?3)"
				" ON CONFLICT(client_rid) DO UPDATE SET last_seen=excluded.last_seen,"
				" last_seq=excluded.last_seq WHERE checkins.last_seq < excluded.last_seq")) ||
	     /* a request other than a check-in: its sequence number only */
	     !(s->w_seq = db_prepare(s->wdb, "INSERT INTO checkins(client_rid, last_seen, last_seq) VALUES(?1, 0, ?2)"
				" ON CONFLICT(client_rid) DO UPDATE SET"
				" last_seq=excluded.last_seq WHERE checkins.last_seq < excluded.last_seq")) ||
	     !(s->w_details = db_prepare(s->wdb, "UPDATE clients SET agent_version=?2, protocol=?3, components=?4"
				" WHERE rid=?1")) ||
	     !(s->w_link = db_prepare(s->wdb, "UPDATE clients SET link=?2 WHERE rid=?1")) ||
	     (db_kind(s->wdb) == DB_POSTGRESQL && !(s->w_many = db_prepare(s->wdb, CHECKINS_MANY_PG))) ||
	     !(s->w_status = db_prepare(s->wdb, db_kind(s->wdb) == DB_POSTGRESQL ? STATUS_INSERT_PG
									    : STATUS_INSERT_SQLITE))))
		rc = steward_err_set(err, STEWARD_ESTORE, "store_open_failed", "see the log",
				     "cannot prepare statements: %s", db_errmsg(s->wdb));
	if (rc) {
		sq_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}

static int sq_schema_version(struct store *st)
{
	int v;

	pthread_mutex_lock(&SS(st)->lock);
	v = user_version(SS(st)->db);
	pthread_mutex_unlock(&SS(st)->lock);
	return v;
}

/* ---- clients ---------------------------------------------------------------- */

#define CLIENT_INSERT_COLS                                                                    \
	"id, public_key, hostname, site, state, block_reason, enrolled, min_epoch,"            \
	" agent_version, protocol, os_name, os_version, addresses, components"
#define CLIENT_SELECT                                                                         \
	"SELECT c.id, c.public_key, c.hostname, c.site, c.state, c.block_reason, c.enrolled,"   \
	" coalesce(k.last_seen, 0), coalesce(k.last_seq, 0), c.min_epoch, c.agent_version,"      \
	 " c.protocol, c.os_name, c.os_version, c.addresses, c.components, c.rid, c.link"        \
	" FROM clients c LEFT JOIN checkins k ON k.client_rid = c.rid"

void sqlite_col_text(struct db_stmt *s, int i, char *out, size_t outsz)
{
	db_col_copy(s, i, out, outsz);
}

static void row_to_client(struct db_stmt *s, struct store_client *c)
{
	size_t pklen;
	const void *pk = db_col_blob(s, 1, &pklen);
	char state[16];

	memset(c, 0, offsetof(struct store_client, addresses));
	sqlite_col_text(s, 0, c->id, sizeof(c->id));
	if (pk && pklen == PROTO_PK_BYTES)
		memcpy(c->public_key, pk, PROTO_PK_BYTES);
	sqlite_col_text(s, 2, c->hostname, sizeof(c->hostname));
	sqlite_col_text(s, 3, c->site, sizeof(c->site));
	sqlite_col_text(s, 4, state, sizeof(state));
	store_client_state_parse(state, &c->state);
	sqlite_col_text(s, 5, c->block_reason, sizeof(c->block_reason));
	c->enrolled = db_col_int64(s, 6);
	c->last_seen = db_col_int64(s, 7);
	c->last_seq = (uint64_t)db_col_int64(s, 8);
	c->min_epoch = (uint64_t)db_col_int64(s, 9);
	sqlite_col_text(s, 10, c->agent_version, sizeof(c->agent_version));
	sqlite_col_text(s, 11, c->protocol, sizeof(c->protocol));
	sqlite_col_text(s, 12, c->os_name, sizeof(c->os_name));
	sqlite_col_text(s, 13, c->os_version, sizeof(c->os_version));
	sqlite_col_text(s, 14, c->addresses, sizeof(c->addresses));
	sqlite_col_text(s, 15, c->components, sizeof(c->components));
	c->rid = db_col_int64(s, 16);
	sqlite_col_text(s, 17, c->link, sizeof(c->link));
}

static int token_check(struct db *db, const uint8_t *hash, int64_t now,
		       enum store_token_refusal *refusal, char *token_site)
{
	struct db_stmt *s = NULL;
	int rc = 0;

	*refusal = TOKEN_UNKNOWN;
	if (!(s = db_prepare(db, "SELECT uses, used, expires, revoked, site FROM enroll_tokens WHERE hash=?1")))
		return -STEWARD_ESTORE;
	db_bind_blob(s, 1, hash, PROTO_HASH_BYTES);
	switch (db_step(s)) {
	case DB_ROW:
		if (db_col_int64(s, 3))
			*refusal = TOKEN_REVOKED;
		else if (db_col_int64(s, 2) <= now)
			*refusal = TOKEN_EXPIRED;
		else if (db_col_int64(s, 1) >= db_col_int64(s, 0))
			*refusal = TOKEN_USED_UP;
		else
			*refusal = TOKEN_OK;
		sqlite_col_text(s, 4, token_site, PROTO_SITE_CODE_LEN + 1);
		break;
	case DB_DONE:
		break;
	default:
		rc = -STEWARD_ESTORE;
	}
	db_finalize(s);
	return rc;
}

static int sq_token_check(struct store *st, const uint8_t *token_hash, int64_t now,
			  enum store_token_refusal *refusal)
{
	struct sqlite_store *s = SS(st);
	char site[PROTO_SITE_CODE_LEN + 1];
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = token_check(s->db, token_hash, now, refusal, site);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sq_enroll(struct store *st, const uint8_t *token_hash, int64_t now,
		     struct store_client *c, enum store_token_refusal *refusal,
		     char *token_site)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *ins = NULL, *use = NULL;
	int rc = 0;

	*refusal = TOKEN_OK;
	token_site[0] = '\0';
	pthread_mutex_lock(&s->lock);
	if (db_begin(s->db)) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	if (token_hash) {
		rc = token_check(s->db, token_hash, now, refusal, token_site);
		if (rc || *refusal != TOKEN_OK)
			goto rollback;
		/* a token pinned to a site wins over boundaries */
		if (token_site[0])
			memcpy(c->site, token_site, sizeof(c->site));
		if (!(use = db_prepare(s->db, "UPDATE enroll_tokens SET used=used+1 WHERE hash=?1"))) {
			rc = -STEWARD_ESTORE;
			goto rollback;
		}
		db_bind_blob(use, 1, token_hash, PROTO_HASH_BYTES);
		if (db_step(use) != DB_DONE) {
			rc = -STEWARD_ESTORE;
			goto rollback;
		}
	}
	if (!(ins = db_prepare(s->db, "INSERT INTO clients(" CLIENT_INSERT_COLS ") VALUES"
			       "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14) RETURNING rid"))) {
		rc = -STEWARD_ESTORE;
		goto rollback;
	}
	db_bind_text(ins, 1, c->id);
	db_bind_blob(ins, 2, c->public_key, PROTO_PK_BYTES);
	db_bind_text(ins, 3, c->hostname);
	db_bind_text(ins, 4, c->site);
	db_bind_text(ins, 5, store_client_state_name(c->state));
	db_bind_text(ins, 6, c->block_reason);
	db_bind_int64(ins, 7, c->enrolled);
	db_bind_int64(ins, 8, (int64_t)c->min_epoch);
	db_bind_text(ins, 9, c->agent_version);
	db_bind_text(ins, 10, c->protocol);
	db_bind_text(ins, 11, c->os_name);
	db_bind_text(ins, 12, c->os_version);
	db_bind_text(ins, 13, c->addresses);
	db_bind_text(ins, 14, c->components);
	rc = db_run_rid(ins, &c->rid);
	if (rc) {
		if (rc != -STEWARD_EEXIST)
			rc = -STEWARD_ESTORE;
		goto rollback;
	}
	/* the other management points learn of the new client at COMMIT */
	if ((rc = sqlite_notify(s, STORE_CHANGE_CLIENT, c->id)))
		goto rollback;
	if (sqlite_exec(s->db, "COMMIT"))
		rc = -STEWARD_ESTORE;
	goto out;
rollback:
	sqlite_exec(s->db, "ROLLBACK");
out:
	db_finalize(ins);
	db_finalize(use);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int client_query_one(struct store *st, const char *where, const void *key, int keylen,
			    struct store_client *out)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	char sql[512];
	int rc;

	snprintf(sql, sizeof(sql), CLIENT_SELECT " WHERE %s", where);
	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, sql))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	if (keylen < 0)
		db_bind_text(q, 1, key);
	else
		db_bind_blob(q, 1, key, keylen);
	switch (db_step(q)) {
	case DB_ROW:
		row_to_client(q, out);
		rc = 0;
		break;
	case DB_DONE:
		rc = -STEWARD_ENOTFOUND;
		break;
	default:
		rc = -STEWARD_ESTORE;
	}
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sq_client_get(struct store *st, const char *id, struct store_client *out)
{
	return client_query_one(st, "c.id=?1", id, -1, out);
}

static int sq_client_get_by_key(struct store *st, const uint8_t pk[PROTO_PK_BYTES],
				struct store_client *out)
{
	return client_query_one(st, "c.public_key=?1", pk, PROTO_PK_BYTES, out);
}

static int sq_client_list(struct store *st, bool include_deleted, store_client_cb cb, void *ctx)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	struct store_client *c = malloc(sizeof(*c));
	int rc = 0, step;

	if (!c)
		return -STEWARD_ENOMEM;
	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, include_deleted
				   ? CLIENT_SELECT " ORDER BY c.rid"
				   : CLIENT_SELECT " WHERE c.state!='deleted' ORDER BY c.rid"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	while ((step = db_step(q)) == DB_ROW) {
		row_to_client(q, c);
		rc = cb(c, ctx);
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

static int sq_client_set_state(struct store *st, const char *id, enum store_client_state state,
			       const char *reason, uint64_t min_epoch)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int rc = 0;

	/* one transaction with the announcement: the other management points
	 * hear of the change at COMMIT, and of a rolled-back one never */
	if ((rc = sqlite_begin(s)))
		return rc;
	if (!(q = db_prepare(s->db, "UPDATE clients SET state=?2, block_reason=?3,"
			       " min_epoch=max(min_epoch, ?4) WHERE id=?1"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, id);
	db_bind_text(q, 2, store_client_state_name(state));
	db_bind_text(q, 3, reason ? reason : "");
	db_bind_int64(q, 4, (int64_t)min_epoch);
	if (db_step(q) != DB_DONE)
		rc = -STEWARD_ESTORE;
	else if (db_changes(s->db) == 0)
		rc = -STEWARD_ENOTFOUND;
	else
		rc = sqlite_notify(s, STORE_CHANGE_CLIENT, id);
out:
	db_finalize(q);
	return sqlite_end(s, rc);
}

static int sq_client_count(struct store *st, int64_t counts[4])
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int rc = 0;

	memset(counts, 0, 4 * sizeof(int64_t));
	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, "SELECT state, count(*) FROM clients GROUP BY state"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	while (db_step(q) == DB_ROW) {
		enum store_client_state cs;
		if (store_client_state_parse(db_col_text(q, 0), &cs) == 0)
			counts[cs] = db_col_int64(q, 1);
	}
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- enrollment tokens -------------------------------------------------------- */

static int sq_token_insert(struct store *st, const struct store_token *t)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, "INSERT INTO enroll_tokens(id, hash, uses, used, expires, site, revoked,"
			       " created, created_by) VALUES(?1,?2,?3,0,?4,?5,0,?6,?7)"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, t->id);
	db_bind_blob(q, 2, t->hash, PROTO_HASH_BYTES);
	db_bind_int64(q, 3, t->uses);
	db_bind_int64(q, 4, t->expires);
	db_bind_text(q, 5, t->site);
	db_bind_int64(q, 6, t->created);
	db_bind_text(q, 7, t->created_by);
	if (db_step(q) != DB_DONE)
		rc = -STEWARD_ESTORE;
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sq_token_list(struct store *st, store_token_cb cb, void *ctx)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	struct store_token t;
	int rc = 0, step;

	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, "SELECT id, uses, used, expires, site, revoked, created, created_by"
			       " FROM enroll_tokens ORDER BY created"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	while ((step = db_step(q)) == DB_ROW) {
		memset(&t, 0, sizeof(t));
		sqlite_col_text(q, 0, t.id, sizeof(t.id));
		t.uses = db_col_int64(q, 1);
		t.used = db_col_int64(q, 2);
		t.expires = db_col_int64(q, 3);
		sqlite_col_text(q, 4, t.site, sizeof(t.site));
		t.revoked = db_col_int64(q, 5) != 0;
		t.created = db_col_int64(q, 6);
		sqlite_col_text(q, 7, t.created_by, sizeof(t.created_by));
		rc = cb(&t, ctx);
		if (rc)
			break;
	}
	if (!rc && step != DB_DONE)
		rc = -STEWARD_ESTORE;
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sq_token_revoke(struct store *st, const char *id)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, "UPDATE enroll_tokens SET revoked=1 WHERE id=?1"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, id);
	if (db_step(q) != DB_DONE)
		rc = -STEWARD_ESTORE;
	else if (db_changes(s->db) == 0)
		rc = -STEWARD_ENOTFOUND;
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- check-ins (writer thread only) ----------------------------------------- */

int sqlite_step_reset(struct db_stmt *q)
{
	int rc = db_step(q) == DB_DONE ? 0 : -STEWARD_ESTORE;

	db_reset(q);
	db_clear(q);
	return rc;
}

/* One check-in's row in checkins, or a sequence number alone; marks it
 * stale when the stored number is as high already (nothing written). */
static int checkin_row(struct sqlite_store *s, struct store_checkin *c)
{
	struct db_stmt *q = c->seq_only ? s->w_seq : s->w_update;
	int rc;

	db_bind_int64(q, 1, c->rid);
	if (c->seq_only) {
		db_bind_int64(q, 2, (int64_t)c->seq);
	} else {
		db_bind_int64(q, 2, c->time);
		db_bind_int64(q, 3, (int64_t)c->seq);
	}
	rc = sqlite_step_reset(q);
	if (!rc && db_changes(s->wdb) == 0)
		c->stale = true;
	return rc;
}

/* What else a check-in changed: its client's versions and components, its
 * link, its status messages. */
static int checkin_details(struct sqlite_store *s, const struct store_checkin *c)
{
	int rc = 0;

	if (c->details) {
		db_bind_int64(s->w_details, 1, c->rid);
		db_bind_text(s->w_details, 2, c->agent_version);
		db_bind_text(s->w_details, 3, c->protocol);
		db_bind_text(s->w_details, 4, c->components ? c->components : "[]");
		rc = sqlite_step_reset(s->w_details);
	}
	if (!rc && c->link) {
		db_bind_int64(s->w_link, 1, c->rid);
		db_bind_text(s->w_link, 2, c->link);
		rc = sqlite_step_reset(s->w_link);
	}
	if (!rc && c->status) {
		db_bind_text(s->w_status, 1, c->id);
		db_bind_int64(s->w_status, 2, c->time);
		db_bind_text(s->w_status, 3, c->status);
		rc = sqlite_step_reset(s->w_status);
	}
	return rc;
}

struct rid_ix {
	int64_t rid;
	size_t i;
};

static int rid_ix_cmp(const void *a, const void *b)
{
	const struct rid_ix *x = a, *y = b;

	return x->rid < y->rid ? -1 : x->rid > y->rid ? 1 : 0;
}

/* PostgreSQL: the rows of the clients that appear once in the batch in
 * one statement (CHECKINS_MANY_PG); many[i] says which rows it took (a
 * client twice in a batch goes row by row, in order). Each taken row is
 * stale unless RETURNING names its client. */
static int checkin_many(struct sqlite_store *s, struct store_checkin *batch, size_t n,
			bool *many)
{
	struct rid_ix *ix = malloc(n * sizeof(*ix));
	struct buf a[3];
	size_t taken = 0;
	int rc = 0, step;

	for (int k = 0; k < 3; k++)
		buf_init(&a[k], (n + 1) * 24); /* 20 digits, a sign and a comma each */
	if (!ix)
		return -STEWARD_ENOMEM;
	for (size_t i = 0; i < n; i++)
		ix[i] = (struct rid_ix){.rid = batch[i].rid, .i = i};
	qsort(ix, n, sizeof(*ix), rid_ix_cmp);
	for (int k = 0; k < 3 && !rc; k++)
		rc = buf_append(&a[k], "{", 1);
	for (size_t j = 0; j < n && !rc; j++) {
		struct store_checkin *c = &batch[ix[j].i];
		const char *sep = taken ? "," : "";

		many[ix[j].i] = (j == 0 || ix[j - 1].rid != c->rid) &&
				(j + 1 == n || ix[j + 1].rid != c->rid);
		if (!many[ix[j].i])
			continue;
		c->stale = true; /* until RETURNING names it */
		taken++;
		if (buf_printf(&a[0], "%s%lld", sep, (long long)c->rid) < 0 ||
		    buf_printf(&a[1], "%s%lld", sep, c->seq_only ? 0LL : (long long)c->time) < 0 ||
		    buf_printf(&a[2], "%s%lld", sep, (long long)c->seq) < 0)
			rc = -STEWARD_ENOMEM;
	}
	for (int k = 0; k < 3 && !rc; k++)
		rc = buf_append(&a[k], "}", 1);
	if (!rc && taken) {
		for (int k = 0; k < 3; k++)
			db_bind_textn(s->w_many, k + 1, a[k].data, a[k].len);
		while ((step = db_step(s->w_many)) == DB_ROW) {
			struct rid_ix key = {.rid = db_col_int64(s->w_many, 0)}, *hit;

			hit = bsearch(&key, ix, n, sizeof(*ix), rid_ix_cmp);
			if (hit)
				batch[hit->i].stale = false;
		}
		rc = step == DB_DONE ? 0 : -STEWARD_ESTORE;
		db_reset(s->w_many);
		db_clear(s->w_many);
	}
	for (int k = 0; k < 3; k++)
		buf_free(&a[k]);
	free(ix);
	return rc;
}

static int sq_checkin_apply(struct store *st, struct store_checkin *batch, size_t n)
{
	struct sqlite_store *s = SS(st);
	bool *many = NULL;
	int rc = 0;

	if (db_begin(s->wdb))
		return -STEWARD_ESTORE;
	/* The sequence number moves only up, and a record whose number is not
	 * above the stored one writes nothing and is marked stale: with
	 * several management points on one database, another may have
	 * accepted that number (or a higher one) already, and this request is
	 * then a replay (docs/internals/management-points.md). */
	for (size_t i = 0; i < n; i++)
		batch[i].stale = false;
	if (s->w_many && n) {
		many = calloc(n, sizeof(*many));
		rc = many ? checkin_many(s, batch, n, many) : -STEWARD_ENOMEM;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct store_checkin *c = &batch[i];

		if (!(many && many[i]))
			rc = checkin_row(s, c);
		if (!rc && !c->stale && !c->seq_only)
			rc = checkin_details(s, c);
		/* a new agent version is a fact collections may select on: the
		 * other management points read this client's facts again (rare:
		 * only when the details changed) */
		if (!rc && !c->stale && !c->seq_only && c->details)
			rc = notify_on(s->wdb, STORE_CHANGE_FACTS, c->id);
	}
	free(many);
	if (rc) {
		log_error("store", "checkin_batch_failed", "n=%zu error=\"%s\"", n,
			  db_errmsg(s->wdb));
		sqlite_exec(s->wdb, "ROLLBACK");
		return rc;
	}
	rc = sqlite_exec(s->wdb, "COMMIT");
	if (rc)
		sqlite_exec(s->wdb, "ROLLBACK");
	return rc;
}

static int sq_backup(struct store *st, const char *path)
{
	struct sqlite_store *s = SS(st);
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int rc = 0, fd;

	/* created 0600 before SQLite or pg_dump opens it: the copy holds
	 * every secret hash */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? -STEWARD_EEXIST : -STEWARD_EIO;
	close(fd);
	if (db_kind(s->db) == DB_POSTGRESQL) {
		rc = store_pg_dump(s->target, path);
		if (rc)
			unlink(path);
		return rc;
	}
	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		sqlite3_close(dst);
		unlink(path);
		return -STEWARD_ESTORE;
	}
	pthread_mutex_lock(&s->lock);
	b = sqlite3_backup_init(dst, "main", db_sqlite_handle(s->db), "main");
	if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE)
		rc = -STEWARD_ESTORE;
	if (b && sqlite3_backup_finish(b) != SQLITE_OK)
		rc = -STEWARD_ESTORE;
	pthread_mutex_unlock(&s->lock);
	if (sqlite3_close(dst) != SQLITE_OK)
		rc = -STEWARD_ESTORE;
	if (rc)
		unlink(path);
	return rc;
}

static int sq_db_bytes(struct store *st, uint64_t *bytes)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc = -STEWARD_ESTORE;

	*bytes = 0;
	pthread_mutex_lock(&s->lock);
	q = db_prepare(s->db, db_kind(s->db) == DB_POSTGRESQL
				  ? "SELECT pg_database_size(current_database())"
				  : "SELECT p.page_count * s.page_size FROM pragma_page_count() p,"
				    " pragma_page_size() s");
	if (q && db_step(q) == DB_ROW && db_col_int64(q, 0) >= 0) {
		*bytes = (uint64_t)db_col_int64(q, 0);
		rc = 0;
	}
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sq_status_prune(struct store *st, int64_t before)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, "DELETE FROM status_messages WHERE received < ?1"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_int64(q, 1, before);
	if (db_step(q) != DB_DONE)
		rc = -STEWARD_ESTORE;
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sq_status_messages(struct store *st, const char *client_id, int limit,
			      store_message_cb cb, void *ctx)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int rc = 0, step;

	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, "SELECT time, received, type, text FROM status_messages"
			       " WHERE client_id = ?1 ORDER BY time DESC, rid DESC LIMIT ?2"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, client_id);
	db_bind_limit(q, 2, limit);
	while (!rc && (step = db_step(q)) == DB_ROW) {
		struct store_message m;

		memset(&m, 0, sizeof(m));
		m.time = db_col_int64(q, 0);
		m.received = db_col_int64(q, 1);
		snprintf(m.type, sizeof(m.type), "%s", db_col_text(q, 2));
		snprintf(m.text, sizeof(m.text), "%s", db_col_text(q, 3));
		rc = cb(&m, ctx);
	}
	if (!rc && step != DB_DONE)
		rc = -STEWARD_ESTORE;
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- settings ------------------------------------------------------------- */

static int sq_setting_get(struct store *st, const char *key, char *out, size_t outsz)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	if (!(q = db_prepare(s->db, "SELECT value FROM settings WHERE key=?1"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, key);
	switch (db_step(q)) {
	case DB_ROW:
		sqlite_col_text(q, 0, out, outsz);
		rc = 0;
		break;
	case DB_DONE:
		rc = -STEWARD_ENOTFOUND;
		break;
	default:
		rc = -STEWARD_ESTORE;
	}
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Settings whose key fits a payload ("setting:KEY", a-z 0-9 _) are
 * announced; the others (release_deltas:V, ...) no stewardd holds. */
static bool setting_announced(const char *key)
{
	size_t n = strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_");

	return n > 0 && !key[n] && n + sizeof(STORE_CHANGE_SETTING) < STORE_CHANGE_PAYLOAD_MAX;
}

static int sq_setting_set(struct store *st, const char *key, const char *value)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q = NULL;
	bool announced = db_kind(s->db) == DB_POSTGRESQL && setting_announced(key);
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (announced && db_begin(s->db)) {
		pthread_mutex_unlock(&s->lock);
		return -STEWARD_ESTORE;
	}
	if (!(q = db_prepare(s->db, "INSERT INTO settings(key, value) VALUES(?1, ?2)"
			       " ON CONFLICT(key) DO UPDATE SET value=excluded.value"))) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, key);
	db_bind_text(q, 2, value);
	if (db_step(q) != DB_DONE)
		rc = -STEWARD_ESTORE;
	/* a key another stewardd may hold in memory (the pauses): announced
	 * in the same transaction; keys of other characters are not */
	if (!rc && announced && (rc = sqlite_notify(s, STORE_CHANGE_SETTING, key)) == 0 &&
	    sqlite_exec(s->db, "COMMIT"))
		rc = -STEWARD_ESTORE;
	if (rc && announced)
		sqlite_exec(s->db, "ROLLBACK");
out:
	db_finalize(q);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .schema_version = sq_schema_version,
    .enroll = sq_enroll,
    .client_get = sq_client_get,
    .client_get_by_key = sq_client_get_by_key,
    .client_list = sq_client_list,
    .client_set_state = sq_client_set_state,
    .client_count = sq_client_count,
    .token_insert = sq_token_insert,
    .token_list = sq_token_list,
    .token_check = sq_token_check,
    .token_revoke = sq_token_revoke,
    /* administrators and the audit log (sqlite_admins.c) */
    .admin_insert = sqlite_admin_insert,
    .admin_find = sqlite_admin_find,
    .admin_count = sqlite_admin_count,
    .admin_list = sqlite_admin_list,
    .admin_revoke = sqlite_admin_revoke,
    .audit_last = sqlite_audit_last,
    .audit_append = sqlite_audit_append,
    .audit_list = sqlite_audit_list,
    .checkin_apply = sq_checkin_apply,
    .status_prune = sq_status_prune,
    .backup = sq_backup,
    .db_bytes = sq_db_bytes,
    .status_messages = sq_status_messages,
    .rollout_put = sqlite_rollout_put,
    .rollout_list = sqlite_rollout_list,
    .rollout_members_put = sqlite_rollout_members_put,
    .rollout_members_list = sqlite_rollout_members_list,
    .rollout_delete = sqlite_rollout_delete,
    .window_insert = sqlite_window_insert,
    .window_delete = sqlite_window_delete,
    .window_list = sqlite_window_list,
    .setting_get = sq_setting_get,
    .setting_set = sq_setting_set,
    /* collections (sqlite_collections.c) */
    .collection_create = sqlite_collection_create,
    .collection_list = sqlite_collection_list,
    .collection_get = sqlite_collection_get,
    .collection_delete = sqlite_collection_delete,
    .collection_set_members = sqlite_collection_set_members,
    .collection_facts = sqlite_collection_facts,
    /* inventory (sqlite_inventory.c) */
    .inventory_get = sqlite_inventory_get,
    .inventory_put = sqlite_inventory_put,
    .inventory_history = sqlite_inventory_history,
    .inventory_since = sqlite_inventory_since,
    /* software distribution (sqlite_swdist.c) */
    .package_create = sqlite_package_create,
    .package_list = sqlite_package_list,
    .package_blobs = sqlite_package_blobs,
    .package_delete = sqlite_package_delete,
    .blob_list = sqlite_blob_list,
    .release_create = sqlite_release_create,
    .release_list = sqlite_release_list,
    .release_mark = sqlite_release_mark,
    .release_rollback = sqlite_release_rollback,
    .release_outcome_put = sqlite_release_outcome_put,
    .release_outcome_list = sqlite_release_outcome_list,
    /* the hierarchy (sqlite_hierarchy.c) */
    .site_token_insert = sqlite_site_token_insert,
    .site_token_use = sqlite_site_token_use,
    .site_put = sqlite_site_put,
    .site_get = sqlite_site_get,
    .site_list = sqlite_site_list,
    .site_get_backlog = sqlite_site_get_backlog,
    .site_update = sqlite_site_update,
    .site_apply = sqlite_site_apply,
    .outbox_put = sqlite_outbox_put,
    .outbox_peek = sqlite_outbox_peek,
    .outbox_ack = sqlite_outbox_ack,
    .outbox_prune = sqlite_outbox_prune,
    .outbox_lift = sqlite_outbox_lift,
    .outbox_seen = sqlite_outbox_seen,
    .outbox_summary = sqlite_outbox_summary,
    .site_client_list = sqlite_site_client_list,
    .site_status_list = sqlite_site_status_list,
    .fetch_list = sqlite_fetch_list,
    .fetch_update = sqlite_fetch_update,
    .site_object_list = sqlite_site_object_list,
    .down_list = sqlite_down_list,
    .down_update = sqlite_down_update,
    .outbox_hold = sqlite_outbox_hold,
    .outbox_objects = sqlite_outbox_objects,
    .site_inventory_level = sqlite_site_inventory_level,
    .site_inventory_list = sqlite_site_inventory_list,
    .program_create = sqlite_program_create,
    .program_list = sqlite_program_list,
    .program_delete = sqlite_program_delete,
    .advert_create = sqlite_advert_create,
    .advert_list = sqlite_advert_list,
    .advert_set_enabled = sqlite_advert_set_enabled,
    .advert_delete = sqlite_advert_delete,
    .status_apply = sqlite_status_apply,
    .status_current = sqlite_status_current,
    .status_history = sqlite_status_history,
    .status_history_prune = sqlite_status_history_prune,
};

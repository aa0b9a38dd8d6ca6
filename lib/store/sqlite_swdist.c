/* store/sqlite_swdist: packages, programs, advertisements and their status.
 *
 * Definitions are few and read whole at start (the site keeps them in
 * memory); status rows are many: one current row per advertisement and
 * client, plus a history pruned by age. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

const char sqlite_migration_swdist[] =
    "CREATE TABLE packages ("
    " rid INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL COLLATE NOCASE,"
    " version TEXT NOT NULL,"
    " manifest TEXT NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " files INTEGER NOT NULL,"
    " created INTEGER NOT NULL,"
    " created_by TEXT NOT NULL,"
    " comment TEXT NOT NULL DEFAULT '',"
    " UNIQUE (name, version));"
    "CREATE TABLE package_blobs ("
    " package_rid INTEGER NOT NULL REFERENCES packages(rid) ON DELETE CASCADE,"
    " hash TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " PRIMARY KEY (package_rid, hash)) WITHOUT ROWID;"
    "CREATE INDEX package_blobs_by_hash ON package_blobs(hash);"
    "CREATE TABLE programs ("
    " rid INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " package_rid INTEGER NOT NULL REFERENCES packages(rid),"
    " spec TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " created_by TEXT NOT NULL);"
    /* AUTOINCREMENT: agents remember what they ran by advertisement id
     * and revision, so an id must never come back after a delete */
    "CREATE TABLE adverts ("
    " rid INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " program_rid INTEGER NOT NULL REFERENCES programs(rid),"
    " collection TEXT NOT NULL,"
    " available INTEGER NOT NULL DEFAULT 0,"
    " mandatory INTEGER NOT NULL DEFAULT 0,"
    " recurring INTEGER NOT NULL DEFAULT 0,"
    " expires INTEGER NOT NULL DEFAULT 0,"
    " enabled INTEGER NOT NULL DEFAULT 1,"
    " revision INTEGER NOT NULL DEFAULT 1,"
    " created INTEGER NOT NULL,"
    " created_by TEXT NOT NULL);"
    "CREATE TABLE advert_status ("
    " advert_rid INTEGER NOT NULL REFERENCES adverts(rid) ON DELETE CASCADE,"
    " client_id TEXT NOT NULL,"
    " revision INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " exit_code INTEGER,"
    " detail TEXT NOT NULL,"
    " time INTEGER NOT NULL,"
    " PRIMARY KEY (advert_rid, client_id));"
    "CREATE INDEX advert_status_by_client ON advert_status(client_id);"
    "CREATE TABLE status_history ("
    " rid INTEGER PRIMARY KEY,"
    " advert_rid INTEGER NOT NULL REFERENCES adverts(rid) ON DELETE CASCADE,"
    " client_id TEXT NOT NULL,"
    " revision INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " exit_code INTEGER,"
    " detail TEXT NOT NULL,"
    " time INTEGER NOT NULL);"
    "CREATE INDEX status_history_by_key ON status_history(advert_rid, client_id, time);"
    "CREATE INDEX status_history_by_time ON status_history(time);";

/* Releases share the content store with packages: their blobs join
 * package_blobs in blob_list, so that remote distribution points fetch
 * them and the site never removes them as orphans. */
const char sqlite_migration_releases[] =
    "CREATE TABLE releases ("
    " rid INTEGER PRIMARY KEY,"
    " version TEXT NOT NULL UNIQUE,"
    " manifest TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " upgrade_from TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " imported INTEGER NOT NULL,"
    " imported_by TEXT NOT NULL,"
    " rollback INTEGER NOT NULL DEFAULT 0,"
    " components TEXT NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " files INTEGER NOT NULL);"
    "CREATE TABLE release_blobs ("
    " release_rid INTEGER NOT NULL REFERENCES releases(rid) ON DELETE CASCADE,"
    " hash TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " PRIMARY KEY (release_rid, hash)) WITHOUT ROWID;";

/* Release rows never change; what the site and its clients made of a
 * release since lives beside it: an administrator's withdrawal (or
 * reinstatement), a re-offer as a rollback, and one outcome per client. */
const char sqlite_migration_release_marks[] =
    "CREATE TABLE release_marks ("
    " version TEXT PRIMARY KEY REFERENCES releases(version),"
    " withdrawn INTEGER NOT NULL DEFAULT 0,"
    " reason TEXT NOT NULL DEFAULT '',"
    " marked INTEGER NOT NULL DEFAULT 0,"
    " marked_by TEXT NOT NULL DEFAULT '',"
    " failures_since INTEGER NOT NULL DEFAULT 0,"
    " rollback_at INTEGER NOT NULL DEFAULT 0,"
    " rollback_by TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE release_outcomes ("
    " version TEXT NOT NULL,"
    " client TEXT NOT NULL,"
    " outcome TEXT NOT NULL CHECK (outcome IN ('succeeded','rolled_back','install_failed')),"
    " time INTEGER NOT NULL,"
    " detail TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (version, client));"
    "CREATE INDEX release_outcomes_by_kind ON release_outcomes(version, outcome, time);";

/* ---- packages ------------------------------------------------------------------- */

int sqlite_package_create(struct store *st, struct store_package *p, const struct store_blob *b,
			  size_t n)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "INSERT INTO packages(name, version, manifest, bytes, files, created,"
		    " created_by, comment, origin) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) RETURNING rid");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, p->name);
	db_bind_text(q, 2, p->version);
	db_bind_text(q, 3, p->manifest);
	db_bind_int64(q, 4, p->bytes);
	db_bind_int64(q, 5, p->files);
	db_bind_int64(q, 6, p->created);
	db_bind_text(q, 7, p->created_by);
	db_bind_text(q, 8, p->comment);
	db_bind_text(q, 9, p->origin);
	if ((rc = sqlite_insert_once(s, q, &p->rid)))
		goto out;
	q = sqlite_prep(s, "INSERT INTO package_blobs(package_rid, hash, size) VALUES(?1,?2,?3)"
			   " ON CONFLICT DO NOTHING");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		db_bind_int64(q, 1, p->rid);
		db_bind_text(q, 2, b[i].hash);
		db_bind_int64(q, 3, b[i].size);
		rc = sqlite_step_reset(q) ? -STEWARD_ESTORE : 0;
	}
	db_finalize(q);
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_SWDIST, NULL);
out:
	return sqlite_end(s, rc);
}

static int package_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_package p;

	memset(&p, 0, sizeof(p));
	p.rid = db_col_int64(q, 0);
	sqlite_col_text(q, 1, p.name, sizeof(p.name));
	sqlite_col_text(q, 2, p.version, sizeof(p.version));
	sqlite_col_text(q, 3, p.manifest, sizeof(p.manifest));
	p.bytes = db_col_int64(q, 4);
	p.files = db_col_int64(q, 5);
	p.created = db_col_int64(q, 6);
	sqlite_col_text(q, 7, p.created_by, sizeof(p.created_by));
	sqlite_col_text(q, 8, p.comment, sizeof(p.comment));
	sqlite_col_text(q, 9, p.origin, sizeof(p.origin));
	return ((store_package_cb)cb)(&p, ctx);
}

int sqlite_package_list(struct store *st, store_package_cb cb, void *ctx)
{
	return sqlite_read_rows(st,
			 "SELECT rid, name, version, manifest, bytes, files, created, created_by,"
			 " comment, origin FROM packages ORDER BY name, rid",
			 0, NULL, 0, package_row, (void *)cb, ctx);
}

static int blob_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_blob b;

	sqlite_col_text(q, 0, b.hash, sizeof(b.hash));
	b.size = db_col_int64(q, 1);
	return ((store_blob_cb)cb)(&b, ctx);
}

int sqlite_package_blobs(struct store *st, int64_t package_rid, store_blob_cb cb, void *ctx)
{
	return sqlite_read_rows(st, "SELECT hash, size FROM package_blobs WHERE package_rid=?1", package_rid,
			 NULL, 0, blob_row, (void *)cb, ctx);
}

int sqlite_blob_list(struct store *st, store_blob_cb cb, void *ctx)
{
	return sqlite_read_rows(st,
			 "SELECT hash, max(size) FROM (SELECT hash, size FROM package_blobs"
			 " UNION ALL SELECT hash, size FROM release_blobs) AS b GROUP BY hash",
			 0, NULL, 0, blob_row, (void *)cb, ctx);
}

/* ---- releases ------------------------------------------------------------------- */

int sqlite_release_create(struct store *st, struct store_release *r, const struct store_blob *b,
			  size_t n, bool newest)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "INSERT INTO releases(version, manifest, key, upgrade_from, created, expires,"
		    " imported, imported_by, rollback, components, bytes, files)"
		    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12) RETURNING rid");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, r->version);
	db_bind_text(q, 2, r->manifest);
	db_bind_text(q, 3, r->key);
	db_bind_text(q, 4, r->upgrade_from);
	db_bind_int64(q, 5, r->created);
	db_bind_int64(q, 6, r->expires);
	db_bind_int64(q, 7, r->imported);
	db_bind_text(q, 8, r->imported_by);
	db_bind_int64(q, 9, r->rollback);
	db_bind_text(q, 10, r->components);
	db_bind_int64(q, 11, r->bytes);
	db_bind_int64(q, 12, r->files);
	if ((rc = sqlite_insert_once(s, q, &r->rid)))
		goto out;
	q = sqlite_prep(s, "INSERT INTO release_blobs(release_rid, hash, size) VALUES(?1,?2,?3)"
			   " ON CONFLICT DO NOTHING");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		db_bind_int64(q, 1, r->rid);
		db_bind_text(q, 2, b[i].hash);
		db_bind_int64(q, 3, b[i].size);
		rc = sqlite_step_reset(q) ? -STEWARD_ESTORE : 0;
	}
	db_finalize(q);
	if (!rc && newest) {
		q = sqlite_prep(s, "INSERT INTO settings(key, value) VALUES('" STORE_SETTING_RELEASE_NEWEST
			    "', ?1) ON CONFLICT(key) DO UPDATE SET value=excluded.value");
		if (!q) {
			rc = -STEWARD_ESTORE;
			goto out;
		}
		db_bind_text(q, 1, r->version);
		rc = sqlite_run_once(s, q);
	}
out:
	return sqlite_end(s, rc);
}

static int release_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_release r;

	memset(&r, 0, sizeof(r));
	r.rid = db_col_int64(q, 0);
	sqlite_col_text(q, 1, r.version, sizeof(r.version));
	sqlite_col_text(q, 2, r.manifest, sizeof(r.manifest));
	sqlite_col_text(q, 3, r.key, sizeof(r.key));
	sqlite_col_text(q, 4, r.upgrade_from, sizeof(r.upgrade_from));
	r.created = db_col_int64(q, 5);
	r.expires = db_col_int64(q, 6);
	r.imported = db_col_int64(q, 7);
	sqlite_col_text(q, 8, r.imported_by, sizeof(r.imported_by));
	r.rollback = db_col_int64(q, 9) != 0;
	sqlite_col_text(q, 10, r.components, sizeof(r.components));
	r.bytes = db_col_int64(q, 11);
	r.files = db_col_int64(q, 12);
	r.withdrawn = db_col_int64(q, 13) != 0;
	sqlite_col_text(q, 14, r.mark_reason, sizeof(r.mark_reason));
	sqlite_col_text(q, 15, r.marked_by, sizeof(r.marked_by));
	r.marked = db_col_int64(q, 16);
	r.rollback_at = db_col_int64(q, 17);
	r.succeeded = db_col_int64(q, 18);
	r.failed = db_col_int64(q, 19);
	sqlite_col_text(q, 20, r.last_failure, sizeof(r.last_failure));
	r.failed_total = db_col_int64(q, 21);
	return ((store_release_cb)cb)(&r, ctx);
}

/* The counts come from the index on (version, outcome, time): a few
 * releases, each counted by a range of the index. */
int sqlite_release_list(struct store *st, store_release_cb cb, void *ctx)
{
	return sqlite_read_rows(
	    st,
	    "SELECT r.rid, r.version, r.manifest, r.key, r.upgrade_from, r.created, r.expires,"
	    " r.imported, r.imported_by, r.rollback, r.components, r.bytes, r.files,"
	    " COALESCE(m.withdrawn, 0), COALESCE(m.reason, ''), COALESCE(m.marked_by, ''),"
	    " COALESCE(m.marked, 0), COALESCE(m.rollback_at, 0),"
	    " (SELECT count(*) FROM release_outcomes o WHERE o.version = r.version"
	    "   AND o.outcome = 'succeeded'),"
	    " (SELECT count(*) FROM release_outcomes o WHERE o.version = r.version"
	    "   AND o.outcome IN ('rolled_back', 'install_failed')"
	    "   AND o.time > COALESCE(m.failures_since, -1)),"
	    " (SELECT o.detail FROM release_outcomes o WHERE o.version = r.version"
	    "   AND o.outcome IN ('rolled_back', 'install_failed')"
	    "   AND o.time > COALESCE(m.failures_since, -1) ORDER BY o.time DESC LIMIT 1),"
	    " (SELECT count(*) FROM release_outcomes o WHERE o.version = r.version"
	    "   AND o.outcome IN ('rolled_back', 'install_failed'))"
	    " FROM releases r LEFT JOIN release_marks m ON m.version = r.version ORDER BY r.rid",
	    0, NULL, 0, release_row, (void *)cb, ctx);
}

/* The mark row of a held release exists afterwards; ENOTFOUND otherwise.
 * Caller is inside sqlite_begin(). */
static int mark_row(struct sqlite_store *s, const char *version)
{
	struct db_stmt *q = sqlite_prep(s, "INSERT INTO release_marks(version)"
				  " SELECT version FROM releases WHERE version = ?1 ON CONFLICT DO NOTHING");
	int rc;

	if (!q)
		return -STEWARD_ESTORE;
	db_bind_text(q, 1, version);
	if ((rc = sqlite_run_once(s, q)))
		return rc;
	q = sqlite_prep(s, "SELECT 1 FROM release_marks WHERE version = ?1");
	if (!q)
		return -STEWARD_ESTORE;
	db_bind_text(q, 1, version);
	rc = db_step(q);
	db_finalize(q);
	return rc == DB_ROW ? 0 : rc == DB_DONE ? -STEWARD_ENOTFOUND : -STEWARD_ESTORE;
}

int sqlite_release_mark(struct store *st, const char *version, bool withdrawn, const char *reason,
			const char *by, int64_t now)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	if ((rc = mark_row(s, version)))
		goto out;
	/* reinstating starts the count of failures afresh */
	q = sqlite_prep(s, withdrawn ? "UPDATE release_marks SET withdrawn = 1, reason = ?2, marked = ?3,"
				" marked_by = ?4 WHERE version = ?1"
			      : "UPDATE release_marks SET withdrawn = 0, reason = ?2, marked = ?3,"
				" marked_by = ?4, failures_since = ?3 WHERE version = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, version);
	db_bind_text(q, 2, reason);
	db_bind_int64(q, 3, now);
	db_bind_text(q, 4, by);
	rc = sqlite_run_once(s, q);
out:
	return sqlite_end(s, rc);
}

int sqlite_release_rollback(struct store *st, const char *version, const char *by, int64_t at)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	if ((rc = mark_row(s, version)))
		goto out;
	/* a rollback offers it again: it is no longer withdrawn */
	q = sqlite_prep(s, "UPDATE release_marks SET rollback_at = ?2, rollback_by = ?3, withdrawn = 0"
		    " WHERE version = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, version);
	db_bind_int64(q, 2, at);
	db_bind_text(q, 3, by);
	rc = sqlite_run_once(s, q);
out:
	return sqlite_end(s, rc);
}

int sqlite_release_outcome_put(struct store *st, const struct store_release_outcome *o)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	/* a report sent again (its reply was lost) keeps its first time, so
	 * it is not counted anew after a reinstatement */
	q = sqlite_prep(s, "INSERT INTO release_outcomes(version, client, outcome, time, detail)"
		    " VALUES(?1,?2,?3,?4,?5) ON CONFLICT(version, client) DO UPDATE SET"
		    " time = CASE WHEN release_outcomes.outcome = excluded.outcome"
		  " THEN release_outcomes.time ELSE excluded.time END,"
		    " outcome = excluded.outcome, detail = excluded.detail");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, o->version);
	db_bind_text(q, 2, o->client);
	db_bind_text(q, 3, o->outcome);
	db_bind_int64(q, 4, o->time);
	db_bind_text(q, 5, o->detail);
	rc = sqlite_run_once(s, q);
	if (rc == -STEWARD_EBUSY)
		rc = -STEWARD_EINVAL; /* the CHECK on outcome */
out:
	return sqlite_end(s, rc);
}

static int outcome_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_release_outcome o;

	memset(&o, 0, sizeof(o));
	sqlite_col_text(q, 0, o.version, sizeof(o.version));
	sqlite_col_text(q, 1, o.client, sizeof(o.client));
	sqlite_col_text(q, 2, o.outcome, sizeof(o.outcome));
	o.time = db_col_int64(q, 3);
	sqlite_col_text(q, 4, o.detail, sizeof(o.detail));
	return ((store_release_outcome_cb)cb)(&o, ctx);
}

int sqlite_release_outcome_list(struct store *st, const char *version, int64_t limit,
				store_release_outcome_cb cb, void *ctx)
{
	return sqlite_read_rows(st,
			 "SELECT version, client, outcome, time, detail FROM release_outcomes"
			 " WHERE version = ?2 ORDER BY outcome = 'succeeded', time DESC LIMIT ?3",
			 0, version, limit, outcome_row, (void *)cb, ctx);
}

/* Delete one row by rid; -STEWARD_ENOTFOUND when absent, -STEWARD_EBUSY
 * while a foreign key refers to it. */
static int delete_rid(struct store *st, const char *sql, int64_t rid)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, sql);
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		db_bind_int64(q, 1, rid);
		rc = sqlite_run_once(s, q);
		if (!rc && db_changes(s->db) == 0)
			rc = -STEWARD_ENOTFOUND;
	}
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_SWDIST, NULL);
	return sqlite_end(s, rc);
}

int sqlite_package_delete(struct store *st, int64_t rid)
{
	return delete_rid(st, "DELETE FROM packages WHERE rid=?1", rid);
}

/* ---- programs ------------------------------------------------------------------- */

int sqlite_program_create(struct store *st, struct store_program *p)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "INSERT INTO programs(name, package_rid, spec, created, created_by,"
		    " origin) VALUES(?1,?2,?3,?4,?5,?6) RETURNING rid");
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		db_bind_text(q, 1, p->name);
		db_bind_int64(q, 2, p->package_rid);
		db_bind_text(q, 3, p->spec);
		db_bind_int64(q, 4, p->created);
		db_bind_text(q, 5, p->created_by);
		db_bind_text(q, 6, p->origin);
		rc = sqlite_insert_once(s, q, &p->rid);
		/* a constraint that is not a duplicate: the package is gone */
		if (rc == -STEWARD_EBUSY)
			rc = -STEWARD_ENOTFOUND;
	}
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_SWDIST, NULL);
	return sqlite_end(s, rc);
}

static int program_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_program p;

	memset(&p, 0, sizeof(p));
	p.rid = db_col_int64(q, 0);
	sqlite_col_text(q, 1, p.name, sizeof(p.name));
	p.package_rid = db_col_int64(q, 2);
	p.spec = db_col_text(q, 3);
	if (!p.spec)
		p.spec = "{}";
	p.created = db_col_int64(q, 4);
	sqlite_col_text(q, 5, p.created_by, sizeof(p.created_by));
	sqlite_col_text(q, 6, p.origin, sizeof(p.origin));
	return ((store_program_cb)cb)(&p, ctx);
}

int sqlite_program_list(struct store *st, store_program_cb cb, void *ctx)
{
	return sqlite_read_rows(st,
			 "SELECT rid, name, package_rid, spec, created, created_by, origin FROM"
			 " programs ORDER BY rid",
			 0, NULL, 0, program_row, (void *)cb, ctx);
}

int sqlite_program_delete(struct store *st, int64_t rid)
{
	return delete_rid(st, "DELETE FROM programs WHERE rid=?1", rid);
}

/* ---- advertisements ----------------------------------------------------------- */

int sqlite_advert_create(struct store *st, struct store_advert *a)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "INSERT INTO adverts(name, program_rid, collection, available, mandatory,"
		    " recurring, expires, enabled, revision, created, created_by, origin, links,"
		    " link_deadline) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"
		    " RETURNING rid");
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		db_bind_text(q, 1, a->name);
		db_bind_int64(q, 2, a->program_rid);
		db_bind_text(q, 3, a->collection);
		db_bind_int64(q, 4, a->available);
		db_bind_int64(q, 5, a->mandatory);
		db_bind_int64(q, 6, a->recurring);
		db_bind_int64(q, 7, a->expires);
		db_bind_int64(q, 8, a->enabled);
		db_bind_int64(q, 9, a->revision > 0 ? a->revision : 1);
		db_bind_int64(q, 10, a->created);
		db_bind_text(q, 11, a->created_by);
		db_bind_text(q, 12, a->origin);
		db_bind_text(q, 13, a->links);
		db_bind_int64(q, 14, a->link_deadline);
		rc = sqlite_insert_once(s, q, &a->rid);
		if (rc == -STEWARD_EBUSY)
			rc = -STEWARD_ENOTFOUND;
		if (!rc) {
			if (a->revision <= 0)
				a->revision = 1;
		}
	}
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_SWDIST, NULL);
	return sqlite_end(s, rc);
}

static int advert_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_advert a;

	memset(&a, 0, sizeof(a));
	a.rid = db_col_int64(q, 0);
	sqlite_col_text(q, 1, a.name, sizeof(a.name));
	a.program_rid = db_col_int64(q, 2);
	sqlite_col_text(q, 3, a.collection, sizeof(a.collection));
	a.available = db_col_int64(q, 4);
	a.mandatory = db_col_int64(q, 5);
	a.recurring = db_col_int64(q, 6);
	a.expires = db_col_int64(q, 7);
	a.enabled = db_col_int64(q, 8) != 0;
	a.revision = db_col_int64(q, 9);
	a.created = db_col_int64(q, 10);
	sqlite_col_text(q, 11, a.created_by, sizeof(a.created_by));
	sqlite_col_text(q, 12, a.origin, sizeof(a.origin));
	sqlite_col_text(q, 13, a.links, sizeof(a.links));
	a.link_deadline = db_col_int64(q, 14);
	return ((store_advert_cb)cb)(&a, ctx);
}

int sqlite_advert_list(struct store *st, store_advert_cb cb, void *ctx)
{
	return sqlite_read_rows(st,
			 "SELECT rid, name, program_rid, collection, available, mandatory, recurring,"
			 " expires, enabled, revision, created, created_by, origin, links, link_deadline"
			 " FROM adverts"
			 " ORDER BY rid",
			 0, NULL, 0, advert_row, (void *)cb, ctx);
}

int sqlite_advert_set_enabled(struct store *st, int64_t rid, bool enabled, int64_t *revision)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "UPDATE adverts SET enabled=?2, revision=revision+1 WHERE rid=?1"
		    " RETURNING revision");
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		db_bind_int64(q, 1, rid);
		db_bind_int64(q, 2, enabled);
		switch (db_step(q)) {
		case DB_ROW:
			if (revision)
				*revision = db_col_int64(q, 0);
			rc = db_step(q) == DB_DONE ? 0 : -STEWARD_ESTORE;
			break;
		case DB_DONE: rc = -STEWARD_ENOTFOUND; break;
		default: rc = -STEWARD_ESTORE;
		}
		db_finalize(q);
	}
	if (!rc)
		rc = sqlite_notify(s, STORE_CHANGE_SWDIST, NULL);
	return sqlite_end(s, rc);
}

int sqlite_advert_delete(struct store *st, int64_t rid)
{
	return delete_rid(st, "DELETE FROM adverts WHERE rid=?1", rid);
}

/* ---- status ----------------------------------------------------------------------- */

static void bind_status(struct db_stmt *q, const struct store_status *m)
{
	db_bind_int64(q, 1, m->advert_rid);
	db_bind_text(q, 2, m->client_id);
	db_bind_int64(q, 3, m->revision);
	db_bind_int64(q, 4, m->seq);
	db_bind_text(q, 5, m->state);
	if (m->has_exit_code)
		db_bind_int64(q, 6, m->exit_code);
	else
		db_bind_null(q, 6);
	db_bind_text(q, 7, m->detail);
	db_bind_int64(q, 8, m->time);
}

int sqlite_status_apply(struct store *st, const struct store_status *m, size_t n, size_t *applied)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *cur = NULL, *hist = NULL, *known = NULL;
	size_t done = 0;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	known = sqlite_prep(s, "SELECT 1 FROM adverts WHERE rid=?1");
	/* The current row moves forward only: a resent older report does not
	 * roll it back (the seq check), and its history row is skipped too. */
	cur = sqlite_prep(s, "INSERT INTO advert_status(advert_rid, client_id, revision, seq, state,"
		      " exit_code, detail, time) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"
		      " ON CONFLICT(advert_rid, client_id) DO UPDATE SET revision=excluded.revision,"
		      " seq=excluded.seq, state=excluded.state, exit_code=excluded.exit_code,"
		      " detail=excluded.detail, time=excluded.time WHERE excluded.seq > advert_status.seq");
	hist = sqlite_prep(s, "INSERT INTO status_history(advert_rid, client_id, revision, seq, state,"
		       " exit_code, detail, time) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
	if (!known || !cur || !hist) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		int r;

		db_bind_int64(known, 1, m[i].advert_rid);
		r = db_step(known);
		db_reset(known);
		if (r == DB_DONE)
			continue; /* the advertisement was deleted meanwhile */
		if (r != DB_ROW) {
			rc = -STEWARD_ESTORE;
			break;
		}
		bind_status(cur, &m[i]);
		if (sqlite_step_reset(cur)) {
			rc = -STEWARD_ESTORE;
			break;
		}
		if (db_changes(s->db) == 0)
			continue; /* seen before */
		bind_status(hist, &m[i]);
		if (sqlite_step_reset(hist))
			rc = -STEWARD_ESTORE;
		else
			done++;
	}
out:
	db_finalize(known);
	db_finalize(cur);
	db_finalize(hist);
	rc = sqlite_end(s, rc);
	if (applied)
		*applied = rc ? 0 : done;
	return rc;
}

static int status_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_status m;

	memset(&m, 0, sizeof(m));
	m.advert_rid = db_col_int64(q, 0);
	sqlite_col_text(q, 1, m.client_id, sizeof(m.client_id));
	m.revision = db_col_int64(q, 2);
	m.seq = db_col_int64(q, 3);
	sqlite_col_text(q, 4, m.state, sizeof(m.state));
	m.has_exit_code = !db_col_null(q, 5);
	m.exit_code = db_col_int64(q, 5);
	sqlite_col_text(q, 6, m.detail, sizeof(m.detail));
	m.time = db_col_int64(q, 7);
	return ((store_status_cb)cb)(&m, ctx);
}

#define STATUS_COLS "advert_rid, client_id, revision, seq, state, exit_code, detail, time"

int sqlite_status_current(struct store *st, int64_t advert_rid, const char *client_id,
			  store_status_cb cb, void *ctx)
{
	if (client_id && advert_rid)
		return sqlite_read_rows(st, "SELECT " STATUS_COLS " FROM advert_status"
				     " WHERE advert_rid=?1 AND client_id=?2",
				 advert_rid, client_id, 0, status_row, (void *)cb, ctx);
	if (client_id)
		return sqlite_read_rows(st, "SELECT " STATUS_COLS " FROM advert_status WHERE client_id=?2"
				     " ORDER BY advert_rid",
				 0, client_id, 0, status_row, (void *)cb, ctx);
	return sqlite_read_rows(st, "SELECT " STATUS_COLS " FROM advert_status WHERE advert_rid=?1"
			     " ORDER BY state, client_id",
			 advert_rid, NULL, 0, status_row, (void *)cb, ctx);
}

int sqlite_status_history(struct store *st, int64_t advert_rid, const char *client_id,
			  int64_t limit, store_status_cb cb, void *ctx)
{
	return sqlite_read_rows(st, "SELECT " STATUS_COLS " FROM status_history"
			     " WHERE advert_rid=?1 AND client_id=?2 ORDER BY time DESC, seq DESC"
			     " LIMIT ?3",
			 advert_rid, client_id, limit, status_row, (void *)cb, ctx);
}

int sqlite_status_history_prune(struct store *st, int64_t before)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "DELETE FROM status_history WHERE time < ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		db_bind_int64(q, 1, before);
		rc = sqlite_run_once(s, q);
	}
	return sqlite_end(s, rc);
}

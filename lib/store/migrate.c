/* store/migrate: copy a stopped site's SQLite database into an empty
 * PostgreSQL database (stewardctl site migrate-store).
 *
 * The target's schema is made by the store's own open (pg_schema.c and the
 * migrations after it), so both ends carry the same tables and columns;
 * this file only moves rows. Everything is copied in one PostgreSQL
 * transaction: a failure anywhere, or a row count that differs at the end,
 * leaves the target as the schema made it. The SQLite file is only read,
 * under its write lock, so no stewardd can change it meanwhile.
 *
 * Rows arrive as they were: ids and rowids (identity columns take explicit
 * values), blobs as bytea, JSON as the same text. The tables' user
 * triggers are disabled for the copy (ALTER TABLE ... DISABLE TRIGGER USER,
 * which the tables' owner may do inside the transaction): they would queue
 * the copied rows as new changes for the sites around, and the audit log's
 * refuse changes. Foreign keys stay checked (they are system triggers), so
 * tables are copied parents first. The identities' sequences are set past
 * the copied rows and past SQLite's AUTOINCREMENT counters, which may be
 * higher than any row left (the outbox's numbers must never go back).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "steward/store.h"
#include "steward/util.h"

#include "db.h"

#define MIG_NAME_MAX   STORE_MIGRATE_NAME_MAX
#define MIG_COLS_MAX   64
#define MIG_PARAMS_MAX 64 /* a statement's parameters, as the PostgreSQL driver takes them */
#define MIG_SQL_MAX    8192
#define MIG_BUSY_MS    2000

#define REMEDY_UNTOUCHED                                                                           \
	"the target holds no steward data (an empty schema at most, which a new run accepts) and " \
	"the SQLite database is untouched: start stewardd again without database to go on there, " \
	"or fix what is named and run migrate-store again"

struct mig_col {
	char name[MIG_NAME_MAX + 1];
	enum { COL_INT, COL_BOOL, COL_BYTES, COL_TEXT } type;
};

struct mig_table {
	char name[MIG_NAME_MAX + 1];
	struct mig_col cols[MIG_COLS_MAX];
	int ncols;
	char parents[8][MIG_NAME_MAX + 1]; /* tables its foreign keys name */
	int nparents;
	bool placed;
};

struct mig {
	const char *src_path;
	char target[1024]; /* masked */
	sqlite3 *src;
	struct db *pg;
	struct mig_table *t; /* in copy order once sorted */
	size_t nt;
	struct store_migrate_report *rep;
	struct steward_err *err;
};

/* A name from a catalog, used between double quotes. */
static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > MIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static int pg_failed(struct mig *m, const char *what)
{
	return steward_err_set(m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
			       "%s on %s: %s", what, m->target, db_errmsg(m->pg));
}

static int src_failed(struct mig *m, const char *what)
{
	return steward_err_set(m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
			       "%s %s: %s", what, m->src_path, sqlite3_errmsg(m->src));
}

/* One number from PostgreSQL: 0 and *v, or the failure. */
static int pg_int(struct mig *m, const char *sql, int64_t *v)
{
	struct db_stmt *q = db_prepare(m->pg, sql);
	int r;

	*v = 0;
	if (!q)
		return pg_failed(m, "cannot prepare a query");
	r = db_step(q);
	if (r == DB_ROW)
		*v = db_col_null(q, 0) ? 0 : db_col_int64(q, 0);
	db_finalize(q);
	return r == DB_ROW || r == DB_DONE ? 0 : pg_failed(m, "a query failed");
}

static int src_int(struct mig *m, const char *sql, int64_t *v)
{
	sqlite3_stmt *q = NULL;
	int r;

	*v = 0;
	if (sqlite3_prepare_v2(m->src, sql, -1, &q, NULL) != SQLITE_OK)
		return src_failed(m, "cannot read");
	r = sqlite3_step(q);
	if (r == SQLITE_ROW)
		*v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return src_failed(m, "cannot read");
	return 0;
}

/* ---- the source ----------------------------------------------------------------- */

#define REMEDY_DATA_DIR                                                                            \
	"give --data-dir the data_dir of the site (the directory holding steward.db)"

static int open_source(struct mig *m)
{
	struct stat st;
	int64_t v;
	int r;

	if (stat(m->src_path, &st) != 0 || !S_ISREG(st.st_mode))
		return steward_err_set(m->err, STEWARD_ENOTFOUND, "migrate_source_invalid",
				       REMEDY_DATA_DIR, "no site database at %s", m->src_path);
	/* read-write (the write lock below), never created */
	if (sqlite3_open_v2(m->src_path, &m->src, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return steward_err_set(
		    m->err, STEWARD_ESTORE, "migrate_source_invalid",
		    "check the file and its permissions (run as stewardd's user)",
		    "cannot open %s: %s", m->src_path,
		    m->src ? sqlite3_errmsg(m->src) : "out of memory");
	sqlite3_busy_timeout(m->src, MIG_BUSY_MS);
	/* only read: not even the checkpoint SQLite makes when the last
	 * connection closes (a log left by a stewardd that died stays as it is) */
	sqlite3_db_config(m->src, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	if (sqlite3_exec(m->src, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) ==
	    SQLITE_BUSY)
		goto busy;
	if (src_int(m,
		    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name ="
		    " 'clients'",
		    &v) ||
	    !v)
		return steward_err_set(m->err, STEWARD_ESTORE, "migrate_source_invalid",
				       REMEDY_DATA_DIR, "%s is not a steward site database",
				       m->src_path);
	if (src_int(m, "PRAGMA user_version", &v))
		return -STEWARD_ESTORE;
	if (v != STORE_SCHEMA_VERSION)
		return steward_err_set(
		    m->err, STEWARD_ESCHEMA, "migrate_source_version",
		    v < STORE_SCHEMA_VERSION
			? "start this version's stewardd on the site once (it migrates "
			  "the database), stop it, then run migrate-store again"
			: "use the stewardctl of the stewardd version that wrote the "
			  "database",
		    "%s has schema version %" PRId64 "; this stewardctl (%s) copies "
		    "version %d only",
		    m->src_path, v, proto_self_version(), STORE_SCHEMA_VERSION);
	/* The write lock for the whole copy: a stewardd writing now makes this
	 * fail, and one started meanwhile cannot change what is being read. */
	r = sqlite3_exec(m->src, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (r == SQLITE_BUSY || r == SQLITE_LOCKED)
		goto busy;
	if (r != SQLITE_OK)
		return src_failed(m, "cannot lock");
	return 0;
busy:
	return steward_err_set(
	    m->err, STEWARD_EBUSY, "migrate_source_busy",
	    "stop stewardd (e.g. systemctl stop stewardd), then run migrate-store again",
	    "the site database %s is in use (is stewardd running?)", m->src_path);
}

/* ---- the target ------------------------------------------------------------------ */

/* Refuse a database that holds anything: tables that are not steward's, or
 * rows in steward's. A fresh schema holds none (its version is in
 * steward_schema, which is not copied). */
static int target_empty(struct mig *m)
{
	struct db_stmt *q;
	char names[STORE_MIGRATE_TABLES_MAX][MIG_NAME_MAX + 1];
	char sql[256];
	bool steward = false;
	size_t n = 0;
	int r;

	q = db_prepare(m->pg, "SELECT c.relname FROM pg_class c JOIN pg_namespace s ON s.oid ="
			      " c.relnamespace WHERE s.nspname = current_schema() AND c.relkind"
			      " IN ('r', 'p') ORDER BY 1");
	if (!q)
		return pg_failed(m, "cannot list the tables");
	while ((r = db_step(q)) == DB_ROW) {
		const char *t = db_col_text(q, 0);

		if (t && strcmp(t, "steward_schema") == 0) {
			steward = true;
			continue;
		}
		if (n < STORE_MIGRATE_TABLES_MAX && t && name_ok(t))
			snprintf(names[n], sizeof(names[n]), "%s", t);
		else
			snprintf(names[n < STORE_MIGRATE_TABLES_MAX ? n : 0], MIG_NAME_MAX + 1,
				 "?");
		if (n < STORE_MIGRATE_TABLES_MAX)
			n++;
	}
	db_finalize(q);
	if (r != DB_DONE)
		return pg_failed(m, "cannot list the tables");
	if (n && !steward) {
		return steward_err_set(
		    m->err, STEWARD_ESTORE, "migrate_target_not_empty",
		    "migrate into a new, empty database (createdb --owner steward --locale C "
		    "--template template0 steward)",
		    "%s is not empty: it holds tables that are not steward's (%s, ...)", m->target,
		    names[0]);
	}
	for (size_t i = 0; i < n; i++) {
		int64_t any;

		if (!name_ok(names[i])) {
			return steward_err_set(m->err, STEWARD_ESTORE, "migrate_target_not_empty",
					       "migrate into a new, empty database",
					       "%s holds a table named oddly", m->target);
		}
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT 1 FROM \"%s\" LIMIT 1) x",
			 names[i]);
		if (pg_int(m, sql, &any))
			return -STEWARD_ESTORE;
		if (any) {
			int64_t clients = 0;

			if (pg_int(m, "SELECT count(*) FROM clients", &clients))
				clients = 0;
			return steward_err_set(
			    m->err, STEWARD_ESTORE, "migrate_target_not_empty",
			    "migrate into a new, empty database (createdb --owner steward "
			    "--locale C --template template0 steward); a database a site "
			    "already uses is never overwritten",
			    "%s already holds steward data (%" PRId64 " clients; table %s has "
			    "rows)",
			    m->target, clients, names[i]);
		}
	}
	return 0;
}

static struct mig_table *find_table(struct mig *m, const char *name)
{
	for (size_t i = 0; i < m->nt; i++)
		if (strcmp(m->t[i].name, name) == 0)
			return &m->t[i];
	return NULL;
}

/* The target's tables and columns (the schema the store made), checked
 * against the source's: every table and column of either must be in the
 * other, or rows would be lost. */
static int read_tables(struct mig *m)
{
	struct db_stmt *q;
	sqlite3_stmt *sq = NULL;
	size_t nsrc = 0;
	int r;

	m->t = calloc(STORE_MIGRATE_TABLES_MAX, sizeof(*m->t));
	if (!m->t)
		return steward_err_set(m->err, STEWARD_ENOMEM, "internal", "", "out of memory");
	q = db_prepare(m->pg, "SELECT c.table_name, c.column_name, c.data_type FROM"
			      " information_schema.columns c JOIN information_schema.tables t ON"
			      " t.table_schema = c.table_schema AND t.table_name = c.table_name"
			      " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE"
			      " TABLE' AND c.table_name <> 'steward_schema'"
			      " ORDER BY c.table_name, c.ordinal_position");
	if (!q)
		return pg_failed(m, "cannot read the schema");
	while ((r = db_step(q)) == DB_ROW) {
		const char *tn = db_col_text(q, 0), *cn = db_col_text(q, 1),
			   *ty = db_col_text(q, 2);
		struct mig_table *t;
		struct mig_col *c;

		if (!name_ok(tn) || !name_ok(cn) || !ty) {
			db_finalize(q);
			return steward_err_set(m->err, STEWARD_ESTORE, "migrate_failed",
					       REMEDY_UNTOUCHED,
					       "%s holds a table or column named oddly", m->target);
		}
		t = find_table(m, tn);
		if (!t) {
			if (m->nt == STORE_MIGRATE_TABLES_MAX) {
				db_finalize(q);
				return steward_err_set(
				    m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
				    "the schema has more tables than this stewardctl copies");
			}
			t = &m->t[m->nt++];
			snprintf(t->name, sizeof(t->name), "%s", tn);
		}
		if (t->ncols == MIG_COLS_MAX) {
			db_finalize(q);
			return steward_err_set(m->err, STEWARD_ESTORE, "migrate_failed",
					       REMEDY_UNTOUCHED,
					       "table %s has more columns than this stewardctl "
					       "copies",
					       tn);
		}
		c = &t->cols[t->ncols++];
		snprintf(c->name, sizeof(c->name), "%s", cn);
		c->type = strcmp(ty, "bigint") == 0 || strcmp(ty, "integer") == 0 ||
				  strcmp(ty, "smallint") == 0
			      ? COL_INT
			  : strcmp(ty, "boolean") == 0 ? COL_BOOL
			  : strcmp(ty, "bytea") == 0   ? COL_BYTES
						       : COL_TEXT;
	}
	db_finalize(q);
	if (r != DB_DONE)
		return pg_failed(m, "cannot read the schema");

	/* every source table is in the target, with every column */
	if (sqlite3_prepare_v2(m->src,
			       "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT"
			       " LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
			       -1, &sq, NULL) != SQLITE_OK)
		return steward_err_set(m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
				       "%s", sqlite3_errmsg(m->src));
	while ((r = sqlite3_step(sq)) == SQLITE_ROW) {
		const char *tn = (const char *)sqlite3_column_text(sq, 0);

		nsrc++;
		if (!tn || !find_table(m, tn)) {
			r = steward_err_set(
			    m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
			    "table %s of %s has no counterpart on %s: the schemas differ",
			    tn ? tn : "?", m->src_path, m->target);
			sqlite3_finalize(sq);
			return r;
		}
	}
	sqlite3_finalize(sq);
	if (r != SQLITE_DONE)
		return steward_err_set(m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
				       "%s", sqlite3_errmsg(m->src));
	if (nsrc != m->nt) {
		return steward_err_set(m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
				       "%s has %zu tables, %s %zu: the schemas differ", m->src_path,
				       nsrc, m->target, m->nt);
	}
	for (size_t i = 0; i < m->nt; i++) {
		for (int j = 0; j < m->t[i].ncols; j++) {
			if (sqlite3_table_column_metadata(m->src, "main", m->t[i].name,
							  m->t[i].cols[j].name, NULL, NULL, NULL,
							  NULL, NULL) != SQLITE_OK) {
				return steward_err_set(
				    m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
				    "column %s.%s of %s is missing from %s: the schemas "
				    "differ",
				    m->t[i].name, m->t[i].cols[j].name, m->target, m->src_path);
			}
		}
	}
	return 0;
}

/* Parents before children, by the target's foreign keys. */
static int sort_tables(struct mig *m)
{
	struct db_stmt *q;
	struct mig_table *sorted;
	size_t n = 0;
	int r;

	q = db_prepare(m->pg, "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text"
			      " FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace"
			      " WHERE c.contype = 'f' AND s.nspname = current_schema()");
	if (!q)
		return pg_failed(m, "cannot read the foreign keys");
	while ((r = db_step(q)) == DB_ROW) {
		struct mig_table *t = find_table(m, db_col_text(q, 0) ?: "");
		const char *p = db_col_text(q, 1) ?: "";

		if (!t || strcmp(t->name, p) == 0)
			continue; /* a table naming itself: rows come in key order */
		if (t->nparents == (int)(sizeof(t->parents) / sizeof(t->parents[0]))) {
			db_finalize(q);
			return steward_err_set(
			    m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
			    "a table has more foreign keys than this stewardctl orders");
		}
		snprintf(t->parents[t->nparents++], MIG_NAME_MAX + 1, "%s", p);
	}
	db_finalize(q);
	if (r != DB_DONE)
		return pg_failed(m, "cannot read the foreign keys");
	sorted = calloc(STORE_MIGRATE_TABLES_MAX, sizeof(*sorted));
	if (!sorted)
		return steward_err_set(m->err, STEWARD_ENOMEM, "internal", "", "out of memory");
	while (n < m->nt) {
		size_t before = n;

		for (size_t i = 0; i < m->nt; i++) {
			struct mig_table *t = &m->t[i];
			bool ready = !t->placed;

			for (int p = 0; ready && p < t->nparents; p++) {
				struct mig_table *pt = find_table(m, t->parents[p]);

				ready = !pt || pt->placed;
			}
			if (ready) {
				t->placed = true;
				sorted[n++] = *t;
			}
		}
		if (n == before) {
			free(sorted);
			return steward_err_set(
			    m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
			    "the tables' foreign keys form a cycle: no order to copy them in");
		}
	}
	free(m->t);
	m->t = sorted;
	return 0;
}

/* ---- the copy -------------------------------------------------------------------- */

/* The blob copies bound to a batch: SQLite's pointer lasts only until its
 * next row, the statement needs them until it runs. */
struct mig_keep {
	void *p[MIG_PARAMS_MAX];
	int n;
};

static void keep_free(struct mig_keep *k)
{
	for (int i = 0; i < k->n; i++)
		free(k->p[i]);
	k->n = 0;
}

/* Column j of the source's current row as parameter i of q. */
static int bind_value(struct mig *m, const struct mig_table *t, int j, sqlite3_stmt *sq,
		      struct db_stmt *q, int i, int64_t row, struct mig_keep *keep)
{
	const struct mig_col *c = &t->cols[j];
	int ty = sqlite3_column_type(sq, j);
	const char *why = NULL;

	if (ty == SQLITE_NULL) {
		db_bind_null(q, i);
		return 0;
	}
	switch (c->type) {
	case COL_INT:
	case COL_BOOL:
		if (ty != SQLITE_INTEGER) {
			why = "not a whole number";
			break;
		}
		if (c->type == COL_BOOL)
			db_bind_text(q, i, sqlite3_column_int64(sq, j) ? "true" : "false");
		else
			db_bind_int64(q, i, sqlite3_column_int64(sq, j));
		return 0;
	case COL_BYTES: {
		const void *b = sqlite3_column_blob(sq, j);
		size_t n = (size_t)sqlite3_column_bytes(sq, j);
		void *copy = malloc(n ? n : 1);

		if (!copy || keep->n == MIG_PARAMS_MAX) {
			free(copy);
			return steward_err_set(m->err, STEWARD_ENOMEM, "internal", "",
					       "out of memory");
		}
		if (n)
			memcpy(copy, b, n);
		keep->p[keep->n++] = copy;
		db_bind_blob(q, i, copy, n);
		return 0;
	}
	case COL_TEXT: {
		const char *v = (const char *)sqlite3_column_text(sq, j);
		int n = sqlite3_column_bytes(sq, j);

		if (!v) {
			why = "unreadable";
			break;
		}
		if (memchr(v, '\0', (size_t)n)) {
			why = "text with a NUL byte, which PostgreSQL cannot hold";
			break;
		}
		db_bind_textn(q, i, v, (size_t)n); /* copied */
		return 0;
	}
	}
	return steward_err_set(m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
			       "%s.%s of row %" PRId64 " in %s is %s", t->name, c->name, row,
			       m->src_path, why ? why : "of an unknown type");
}

/* "INSERT INTO t (c1, ...) VALUES (?1, ...), (...)" for rows rows */
static int insert_sql(const struct mig_table *t, int rows, char *out, size_t outsz)
{
	size_t n = (size_t)snprintf(out, outsz, "INSERT INTO \"%s\" (", t->name);

	for (int j = 0; j < t->ncols && n < outsz; j++)
		n += (size_t)snprintf(out + n, outsz - n, "%s\"%s\"", j ? ", " : "",
				      t->cols[j].name);
	if (n < outsz)
		n += (size_t)snprintf(out + n, outsz - n, ") VALUES ");
	for (int r = 0; r < rows && n < outsz; r++)
		for (int j = 0; j < t->ncols && n < outsz; j++)
			n += (size_t)snprintf(out + n, outsz - n, "%s?%d%s",
					      j	  ? ", "
					      : r ? ", ("
						  : "(",
					      r * t->ncols + j + 1, j == t->ncols - 1 ? ")" : "");
	return n < outsz ? 0 : -1;
}

/* Rows go over several to a statement (as many as the driver's 64
 * parameters hold), so a large table costs few round trips; the rows of
 * the last, partial batch one by one. The count comes from the same read
 * transaction, so it is the number of rows the scan returns. */
static int copy_table(struct mig *m, const struct mig_table *t, int64_t *rows)
{
	char sel[MIG_SQL_MAX], ins[MIG_SQL_MAX], what[128];
	struct mig_keep keep = {.n = 0};
	sqlite3_stmt *sq = NULL;
	struct db_stmt *batch = NULL, *one = NULL;
	int per = t->ncols > 0 ? MIG_PARAMS_MAX / t->ncols : 0, at = 0;
	int64_t total = 0, first = 1;
	size_t ns;
	int rc = 0, r;

	*rows = 0;
	if (per < 1)
		return steward_err_set(m->err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
				       "table %s has too many columns to copy", t->name);
	ns = (size_t)snprintf(sel, sizeof(sel), "SELECT ");
	for (int j = 0; j < t->ncols && ns < sizeof(sel); j++)
		ns += (size_t)snprintf(sel + ns, sizeof(sel) - ns, "%s\"%s\"", j ? ", " : "",
				       t->cols[j].name);
	if (ns < sizeof(sel))
		ns += (size_t)snprintf(sel + ns, sizeof(sel) - ns, " FROM \"%s\"", t->name);
	if (ns >= sizeof(sel) || insert_sql(t, 1, ins, sizeof(ins)) ||
	    !(one = db_prepare(m->pg, ins)) || insert_sql(t, per, ins, sizeof(ins)) ||
	    !(batch = db_prepare(m->pg, ins))) {
		db_finalize(one);
		return pg_failed(m, "cannot prepare the copy of a table");
	}
	snprintf(what, sizeof(what), "SELECT count(*) FROM \"%s\"", t->name);
	if ((rc = src_int(m, what, &total)))
		goto out;
	if (sqlite3_prepare_v2(m->src, sel, -1, &sq, NULL) != SQLITE_OK) {
		rc = src_failed(m, "cannot read");
		goto out;
	}
	while ((r = sqlite3_step(sq)) == SQLITE_ROW) {
		/* in a full batch while one can still fill, else alone */
		bool batched = *rows - (*rows % per) + per <= total;
		struct db_stmt *q = batched ? batch : one;

		if (at == 0)
			first = *rows + 1;
		for (int j = 0; j < t->ncols && !rc; j++)
			rc = bind_value(m, t, j, sq, q, (batched ? at : 0) * t->ncols + j + 1,
					*rows + 1, &keep);
		if (rc)
			break;
		(*rows)++;
		if (batched && ++at < per)
			continue;
		at = 0;
		if (db_run(q)) {
			snprintf(what, sizeof(what),
				 "copying rows %" PRId64 " to %" PRId64 " of table %s failed",
				 first, *rows, t->name);
			rc = pg_failed(m, what);
			break;
		}
		keep_free(&keep);
	}
	if (!rc && r != SQLITE_DONE)
		rc = src_failed(m, "cannot read");
	if (!rc && *rows != total)
		rc = steward_err_set(m->err, STEWARD_ESTORE, "migrate_count_mismatch",
				     REMEDY_UNTOUCHED,
				     "table %s of %s gave %" PRId64 " rows, counted %" PRId64,
				     t->name, m->src_path, *rows, total);
out:
	keep_free(&keep);
	sqlite3_finalize(sq);
	db_finalize(batch);
	db_finalize(one);
	return rc;
}

/* sql_before "table" sql_after, for every table */
static int exec_each(struct mig *m, const char *before, const char *after, const char *what)
{
	char sql[256];

	for (size_t i = 0; i < m->nt; i++) {
		snprintf(sql, sizeof(sql), "%s\"%s\"%s", before, m->t[i].name, after);
		if (db_exec(m->pg, sql))
			return pg_failed(m, what);
	}
	return 0;
}

/* Each identity's sequence past the copied rows and SQLite's counter. */
static int set_sequences(struct mig *m)
{
	struct db_stmt *q;
	struct {
		char table[MIG_NAME_MAX + 1], col[MIG_NAME_MAX + 1], seq[2 * MIG_NAME_MAX + 4];
	} ids[STORE_MIGRATE_TABLES_MAX];
	size_t n = 0;
	int64_t has_counter = 0;
	int r;

	q = db_prepare(m->pg, "SELECT c.relname, a.attname,"
			      " pg_get_serial_sequence(quote_ident(c.relname), a.attname)"
			      " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
			      " JOIN pg_namespace s ON s.oid = c.relnamespace"
			      " WHERE s.nspname = current_schema() AND a.attidentity <> ''"
			      " AND NOT a.attisdropped ORDER BY 1");
	if (!q)
		return pg_failed(m, "cannot list the sequences");
	while ((r = db_step(q)) == DB_ROW && n < STORE_MIGRATE_TABLES_MAX) {
		if (!name_ok(db_col_text(q, 0)) || !name_ok(db_col_text(q, 1)) ||
		    !db_col_text(q, 2))
			continue;
		db_col_copy(q, 0, ids[n].table, sizeof(ids[n].table));
		db_col_copy(q, 1, ids[n].col, sizeof(ids[n].col));
		db_col_copy(q, 2, ids[n].seq, sizeof(ids[n].seq));
		n++;
	}
	db_finalize(q);
	if (r != DB_DONE && r != DB_ROW)
		return pg_failed(m, "cannot list the sequences");
	if (src_int(m, "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'",
		    &has_counter))
		return -STEWARD_ESTORE;
	for (size_t i = 0; i < n; i++) {
		char sql[256];
		int64_t top = 0, counter = 0;
		struct db_stmt *s;

		snprintf(sql, sizeof(sql), "SELECT max(\"%s\") FROM \"%s\"", ids[i].col,
			 ids[i].table);
		if (pg_int(m, sql, &top))
			return -STEWARD_ESTORE;
		if (has_counter) {
			sqlite3_stmt *sq = NULL;

			if (sqlite3_prepare_v2(m->src,
					       "SELECT seq FROM sqlite_sequence WHERE name = ?1",
					       -1, &sq, NULL) != SQLITE_OK)
				return steward_err_set(m->err, STEWARD_ESTORE, "migrate_failed",
						       REMEDY_UNTOUCHED, "%s",
						       sqlite3_errmsg(m->src));
			sqlite3_bind_text(sq, 1, ids[i].table, -1, SQLITE_STATIC);
			if (sqlite3_step(sq) == SQLITE_ROW)
				counter = sqlite3_column_int64(sq, 0);
			sqlite3_finalize(sq);
		}
		if (counter > top)
			top = counter;
		s = db_prepare(m->pg, top > 0 ? "SELECT setval(?1::regclass, ?2::bigint)"
					      : "SELECT setval(?1::regclass, 1, false)");
		if (!s)
			return pg_failed(m, "cannot set a sequence");
		db_bind_text(s, 1, ids[i].seq);
		if (top > 0)
			db_bind_int64(s, 2, top);
		r = db_step(s);
		db_finalize(s);
		if (r != DB_ROW)
			return pg_failed(m, "cannot set a sequence");
	}
	return 0;
}

/* Row counts on both sides, kept in the report; -STEWARD_ESTORE when one
 * differs. */
static int compare_counts(struct mig *m)
{
	char sql[256];
	const char *differs = NULL;

	for (size_t i = 0; i < m->nt; i++) {
		struct store_migrate_table *rt = &m->rep->tables[i];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", m->t[i].name);
		if (src_int(m, sql, &rt->source_rows) || pg_int(m, sql, &rt->target_rows))
			return -STEWARD_ESTORE;
		snprintf(rt->name, sizeof(rt->name), "%s", m->t[i].name);
		m->rep->rows += rt->target_rows;
		if (rt->source_rows != rt->target_rows && !differs)
			differs = rt->name;
	}
	m->rep->ntables = m->nt;
	if (differs) {
		return steward_err_set(m->err, STEWARD_ESTORE, "migrate_count_mismatch",
				       REMEDY_UNTOUCHED,
				       "the row counts differ after the copy (table %s)", differs);
	}
	return 0;
}

int store_migrate_to_pg(const char *sqlite_path, const char *url,
			store_migrate_progress_fn progress, void *ctx,
			struct store_migrate_report *rep, struct steward_err *err)
{
	struct mig m = {.src_path = sqlite_path, .rep = rep, .err = err};
	struct store *st = NULL;
	bool in_tx = false;
	int rc;

	memset(rep, 0, sizeof(*rep));
	if (!sqlite_path || !url || !db_target_is_postgresql(url))
		return steward_err_set(err, STEWARD_EINVAL, "migrate_target_invalid",
				       "give --to a postgresql://USER@HOST:PORT/DB URL",
				       "the target is not a postgresql:// URL");
	store_target_masked(url, m.target, sizeof(m.target));
	if ((rc = open_source(&m)))
		goto out;

	/* refuse a database holding anything before the schema is made there */
	if (db_open(url, &m.pg, err)) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	if ((rc = target_empty(&m)))
		goto out;
	db_close(m.pg);
	m.pg = NULL;
	if ((rc = store_sqlite_ops.open(url, &st, err)))
		goto out;
	if (st->ops->schema_version(st) != STORE_SCHEMA_VERSION) {
		rc = steward_err_set(m.err, STEWARD_ESTORE, "migrate_failed", REMEDY_UNTOUCHED,
				     "the target's schema version is not this stewardctl's");
		goto out;
	}
	st->ops->close(st);
	st = NULL;
	if (db_open(url, &m.pg, err)) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	if ((rc = read_tables(&m)) || (rc = sort_tables(&m)))
		goto out;
	if (db_begin(m.pg)) {
		rc = pg_failed(&m, "cannot begin the copy");
		goto out;
	}
	in_tx = true;
	/* the target is checked empty, but another stewardctl may have started
	 * on it too: the first to lock every table wins, the other fails */
	if ((rc = exec_each(&m, "LOCK TABLE ", " IN ACCESS EXCLUSIVE MODE NOWAIT",
			    "cannot lock the tables")) ||
	    (rc = target_empty(&m)) ||
	    (rc = exec_each(&m, "ALTER TABLE ", " DISABLE TRIGGER USER",
			    "cannot disable the tables' triggers for the copy")))
		goto out;
	for (size_t i = 0; i < m.nt; i++) {
		int64_t rows;

		if ((rc = copy_table(&m, &m.t[i], &rows)))
			goto out;
		if (progress)
			progress(m.t[i].name, rows, ctx);
	}
	if ((rc = exec_each(&m, "ALTER TABLE ", " ENABLE TRIGGER USER",
			    "cannot enable the tables' triggers again")) ||
	    (rc = set_sequences(&m)) || (rc = compare_counts(&m)))
		goto out;
	if (db_commit(m.pg)) {
		rc = pg_failed(&m, "cannot commit the copy");
		goto out;
	}
	in_tx = false;
	rc = 0;
out:
	if (in_tx)
		db_rollback(m.pg);
	if (st)
		st->ops->close(st);
	db_close(m.pg);
	if (m.src) {
		sqlite3_exec(m.src, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(m.src);
	}
	free(m.t);
	return rc;
}

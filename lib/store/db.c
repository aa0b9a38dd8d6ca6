/* store/db: the calls every driver shares (see db.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "db_drv.h"
#include "steward/store.h"

bool db_target_is_postgresql(const char *target)
{
	return target && (strncmp(target, "postgresql://", 13) == 0 ||
			  strncmp(target, "postgres://", 11) == 0);
}

void db_set_target(struct db *db, const char *target)
{
	store_target_masked(target, db->target, sizeof(db->target));
}

int db_open(const char *target, struct db **out, struct steward_err *err)
{
	*out = NULL;
	if (!target || !*target)
		return steward_err_set(err, STEWARD_ESTORE, "store_open_failed",
				       "set database (a file path or a postgresql:// URL)",
				       "no database given");
	if (db_target_is_postgresql(target))
		return db_pg_driver.open(target, out, err);
	return db_sqlite_driver.open(target, out, err);
}

void db_close(struct db *db)
{
	if (db)
		db->drv->close(db);
}

enum db_kind db_kind(const struct db *db)
{
	return db->drv->kind;
}

void db_answer_bound(struct db *db, int ms)
{
	if (db_kind(db) == DB_POSTGRESQL)
		db_pg_answer_bound(db, ms);
}

const char *db_target(const struct db *db)
{
	return db->target;
}

int db_exec(struct db *db, const char *sql)
{
	return db->drv->exec(db, sql);
}

int db_begin(struct db *db)
{
	return db_exec(db, db->drv->kind == DB_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN");
}

int db_commit(struct db *db)
{
	return db_exec(db, "COMMIT");
}

void db_rollback(struct db *db)
{
	db_exec(db, "ROLLBACK");
}

struct db_stmt *db_prepare(struct db *db, const char *sql)
{
	return db->drv->prepare(db, sql);
}

void db_finalize(struct db_stmt *q)
{
	if (q)
		q->db->drv->finalize(q);
}

void db_reset(struct db_stmt *q)
{
	q->db->drv->reset(q);
}

void db_clear(struct db_stmt *q)
{
	q->db->drv->clear(q);
}

int db_param_index(struct db_stmt *q, const char *name)
{
	return q->db->drv->param_index(q, name);
}

void db_bind_int64(struct db_stmt *q, int i, int64_t v)
{
	q->db->drv->bind_int64(q, i, v);
}

void db_bind_limit(struct db_stmt *q, int i, int64_t v)
{
	db_bind_int64(q, i, v < 0 ? INT64_MAX : v);
}

void db_bind_text(struct db_stmt *q, int i, const char *v)
{
	if (v)
		q->db->drv->bind_text(q, i, v);
	else
		q->db->drv->bind_null(q, i);
}

void db_bind_textn(struct db_stmt *q, int i, const char *v, size_t n)
{
	q->db->drv->bind_textn(q, i, v, n);
}

void db_bind_blob(struct db_stmt *q, int i, const void *v, size_t n)
{
	q->db->drv->bind_blob(q, i, v, n);
}

void db_bind_null(struct db_stmt *q, int i)
{
	q->db->drv->bind_null(q, i);
}

int db_step(struct db_stmt *q)
{
	return q->db->drv->step(q);
}

int db_rc(int step_result)
{
	switch (step_result) {
	case DB_ROW:
	case DB_DONE:
		return 0;
	case DB_DUPLICATE:
		return -STEWARD_EEXIST;
	case DB_CONSTRAINT:
		return -STEWARD_EBUSY;
	default:
		return -STEWARD_ESTORE;
	}
}

int db_run(struct db_stmt *q)
{
	int r;

	while ((r = db_step(q)) == DB_ROW)
		;
	db_reset(q);
	return db_rc(r);
}

int db_run_rid(struct db_stmt *q, int64_t *rid)
{
	int r = db_step(q);

	if (r == DB_ROW) {
		*rid = db_col_int64(q, 0);
		while ((r = db_step(q)) == DB_ROW)
			;
	}
	db_reset(q);
	return db_rc(r);
}

int db_col_count(struct db_stmt *q)
{
	return q->db->drv->col_count(q);
}

bool db_col_null(struct db_stmt *q, int i)
{
	return q->db->drv->col_null(q, i);
}

int64_t db_col_int64(struct db_stmt *q, int i)
{
	return q->db->drv->col_int64(q, i);
}

const char *db_col_text(struct db_stmt *q, int i)
{
	return q->db->drv->col_text(q, i);
}

void db_col_copy(struct db_stmt *q, int i, char *out, size_t outsz)
{
	const char *t = db_col_text(q, i);

	if (outsz)
		snprintf(out, outsz, "%s", t ? t : "");
}

const void *db_col_blob(struct db_stmt *q, int i, size_t *n)
{
	return q->db->drv->col_blob(q, i, n);
}

size_t db_col_bytes(struct db_stmt *q, int i)
{
	return q->db->drv->col_bytes(q, i);
}

int64_t db_changes(struct db *db)
{
	return db->drv->changes(db);
}

const char *db_errmsg(struct db *db)
{
	return db->drv->errmsg(db);
}

/* ---- parameters: SQLite's spelling to PostgreSQL's -------------------------- */

static bool is_ident(int c)
{
	return isalnum(c) || c == '_' || c == '$';
}

/* SQLite numbers parameters this way: ?NNN is NNN; a bare ? is one more
 * than the largest so far; :name, @name and $name take one more than the
 * largest so far on first sight and keep it. */
int db_rewrite_params(const char *sql, char *out, size_t outsz, const char **names,
		      size_t *name_len, int max_names)
{
	size_t o = 0;
	int largest = 0;
	const char *named[256];
	size_t named_len[256];
	int named_idx[256];
	int n_named = 0;

#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (o + 1 >= outsz)                                                                \
			return -1;                                                                 \
		out[o++] = (c);                                                                    \
	} while (0)

	for (const char *p = sql; *p;) {
		if (*p == '\'' || *p == '"') { /* quoted text or identifier, '' doubles */
			char quote = *p;
			PUT(*p++);
			while (*p) {
				if (*p == quote && p[1] == quote) {
					PUT(*p++);
					PUT(*p++);
					continue;
				}
				if (*p == quote)
					break;
				PUT(*p++);
			}
			if (!*p)
				return -1;
			PUT(*p++);
			continue;
		}
		if (p[0] == '-' && p[1] == '-') { /* comment to the end of the line */
			while (*p && *p != '\n')
				PUT(*p++);
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");
			if (!end)
				return -1;
			while (p < end + 2)
				PUT(*p++);
			continue;
		}
		int idx = 0;
		const char *start = p;
		if (*p == '?') {
			p++;
			if (isdigit((unsigned char)*p)) {
				long v = 0;
				while (isdigit((unsigned char)*p) && v < 100000)
					v = v * 10 + (*p++ - '0');
				if (v < 1 || v > 32766)
					return -1;
				idx = (int)v;
			} else {
				idx = largest + 1;
			}
			if (names && idx <= max_names && !names[idx - 1]) {
				names[idx - 1] = start;
				name_len[idx - 1] = (size_t)(p - start);
			}
		} else if ((*p == ':' || *p == '@' || *p == '$') && is_ident((unsigned char)p[1]) &&
			   !(*p == ':' && p[1] == ':') && !(p > sql && p[-1] == ':')) {
			/* :: is PostgreSQL's cast, not a parameter */
			p++;
			while (is_ident((unsigned char)*p))
				p++;
			size_t len = (size_t)(p - start);
			for (int k = 0; k < n_named && !idx; k++)
				if (named_len[k] == len && memcmp(named[k], start, len) == 0)
					idx = named_idx[k];
			if (!idx) {
				if (n_named == 256)
					return -1;
				idx = largest + 1;
				named[n_named] = start;
				named_len[n_named] = len;
				named_idx[n_named++] = idx;
				if (names && idx <= max_names) {
					names[idx - 1] = start;
					name_len[idx - 1] = len;
				}
			}
		} else {
			PUT(*p++);
			continue;
		}
		if (idx > largest)
			largest = idx;
		char num[16];
		int k = snprintf(num, sizeof(num), "$%d", idx);
		for (int j = 0; j < k; j++)
			PUT(num[j]);
	}
	if (o >= outsz)
		return -1;
	out[o] = '\0';
#undef PUT
	return largest;
}

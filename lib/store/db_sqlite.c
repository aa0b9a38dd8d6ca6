/* store/db_sqlite: the embedded SQLite driver of store/db.
 *
 * WAL mode with synchronous=FULL: a committed transaction survives a kill
 * or power loss. The file is created 0600 (SQLite would make it 0644);
 * SQLite gives its -wal and -shm files the same mode.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db_drv.h"

struct sq_db {
	struct db base;
	sqlite3 *h;
};

struct sq_stmt {
	struct db_stmt base;
	sqlite3_stmt *s;
};

#define SQDB(d) ((struct sq_db *)(d))
#define SQS(q)	(((struct sq_stmt *)(q))->s)

static int sq_open(const char *path, struct db **out, struct steward_err *err)
{
	struct sq_db *d = calloc(1, sizeof(*d));
	int fd;

	if (!d)
		return -STEWARD_ENOMEM;
	d->base.drv = &db_sqlite_driver;
	db_set_target(&d->base, path);
	/* Made 0600 only when it does not exist (O_EXCL): closing a
	 * descriptor of a database this process has open elsewhere would drop
	 * every POSIX lock the process holds on it, and another process could
	 * then take the file as unused and delete its write-ahead log. */
	if (strcmp(path, ":memory:") != 0) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	if (sqlite3_open_v2(path, &d->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		steward_err_set(err, STEWARD_ESTORE, "store_open_failed",
				"check that data_dir exists and is writable",
				"cannot open database %s: %s", path,
				d->h ? sqlite3_errmsg(d->h) : "out of memory");
		sqlite3_close(d->h);
		free(d);
		return -STEWARD_ESTORE;
	}
	sqlite3_busy_timeout(d->h, 10000);
	*out = &d->base;
	return 0;
}

static void sq_close(struct db *db)
{
	sqlite3_close(SQDB(db)->h);
	free(db);
}

static int step_result(sqlite3 *h, int r)
{
	int ext;

	if (r == SQLITE_ROW)
		return DB_ROW;
	if (r == SQLITE_DONE || r == SQLITE_OK)
		return DB_DONE;
	if ((r & 0xff) == SQLITE_CONSTRAINT) {
		ext = sqlite3_extended_errcode(h);
		return ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY
			   ? DB_DUPLICATE
			   : DB_CONSTRAINT;
	}
	return DB_ERROR;
}

static int sq_exec(struct db *db, const char *sql)
{
	char *msg = NULL;
	int r = sqlite3_exec(SQDB(db)->h, sql, NULL, NULL, &msg);

	if (r != SQLITE_OK) {
		log_error("store", "sql_failed", "error=\"%s\"", msg ? msg : "?");
		sqlite3_free(msg);
		return db_rc(step_result(SQDB(db)->h, r));
	}
	return 0;
}

static struct db_stmt *sq_prepare(struct db *db, const char *sql)
{
	struct sq_stmt *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->base.db = db;
	if (sqlite3_prepare_v2(SQDB(db)->h, sql, -1, &q->s, NULL) != SQLITE_OK) {
		log_error("store", "sql_prepare_failed", "error=\"%s\" sql=\"%.120s\"",
			  sqlite3_errmsg(SQDB(db)->h), sql);
		sqlite3_finalize(q->s);
		free(q);
		return NULL;
	}
	return &q->base;
}

static void sq_finalize(struct db_stmt *q)
{
	sqlite3_finalize(SQS(q));
	free(q);
}

static void sq_reset(struct db_stmt *q)
{
	sqlite3_reset(SQS(q));
}

static void sq_clear(struct db_stmt *q)
{
	sqlite3_clear_bindings(SQS(q));
}

static int sq_param_index(struct db_stmt *q, const char *name)
{
	return sqlite3_bind_parameter_index(SQS(q), name);
}

static void sq_bind_int64(struct db_stmt *q, int i, int64_t v)
{
	sqlite3_bind_int64(SQS(q), i, v);
}

static void sq_bind_text(struct db_stmt *q, int i, const char *v)
{
	sqlite3_bind_text(SQS(q), i, v, -1, SQLITE_STATIC);
}

static void sq_bind_textn(struct db_stmt *q, int i, const char *v, size_t n)
{
	sqlite3_bind_text(SQS(q), i, v, (int)n, SQLITE_TRANSIENT);
}

static void sq_bind_blob(struct db_stmt *q, int i, const void *v, size_t n)
{
	sqlite3_bind_blob(SQS(q), i, v, (int)n, SQLITE_STATIC);
}

static void sq_bind_null(struct db_stmt *q, int i)
{
	sqlite3_bind_null(SQS(q), i);
}

static int sq_step(struct db_stmt *q)
{
	int r = sqlite3_step(SQS(q));
	int res = step_result(SQDB(q->db)->h, r);

	if (res == DB_ERROR)
		log_error("store", "sql_failed", "error=\"%s\"", sqlite3_errmsg(SQDB(q->db)->h));
	return res;
}

static int sq_col_count(struct db_stmt *q)
{
	return sqlite3_column_count(SQS(q));
}

static bool sq_col_null(struct db_stmt *q, int i)
{
	return sqlite3_column_type(SQS(q), i) == SQLITE_NULL;
}

static int64_t sq_col_int64(struct db_stmt *q, int i)
{
	return sqlite3_column_int64(SQS(q), i);
}

static const char *sq_col_text(struct db_stmt *q, int i)
{
	return (const char *)sqlite3_column_text(SQS(q), i);
}

static const void *sq_col_blob(struct db_stmt *q, int i, size_t *n)
{
	const void *p = sqlite3_column_blob(SQS(q), i);

	*n = (size_t)sqlite3_column_bytes(SQS(q), i);
	return p;
}

static size_t sq_col_bytes(struct db_stmt *q, int i)
{
	return (size_t)sqlite3_column_bytes(SQS(q), i);
}

static int64_t sq_changes(struct db *db)
{
	return sqlite3_changes(SQDB(db)->h);
}

static const char *sq_errmsg(struct db *db)
{
	return sqlite3_errmsg(SQDB(db)->h);
}

struct sqlite3 *db_sqlite_handle(struct db *db)
{
	return db->drv->kind == DB_SQLITE ? SQDB(db)->h : NULL;
}

const struct db_driver db_sqlite_driver = {
    .kind = DB_SQLITE,
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .reset = sq_reset,
    .clear = sq_clear,
    .param_index = sq_param_index,
    .bind_int64 = sq_bind_int64,
    .bind_text = sq_bind_text,
    .bind_textn = sq_bind_textn,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .col_count = sq_col_count,
    .col_null = sq_col_null,
    .col_int64 = sq_col_int64,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .col_bytes = sq_col_bytes,
    .changes = sq_changes,
    .errmsg = sq_errmsg,
};

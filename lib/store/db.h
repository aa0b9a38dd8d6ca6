/* store/db: one SQL interface over the two database engines a site can use.
 *
 * The store's operations are written once, against this interface, and run
 * on the embedded SQLite database or on a PostgreSQL server. The calls
 * follow SQLite's statement model (prepare, bind, step through rows, reset,
 * finalize) because the store was written to it; the PostgreSQL driver
 * maps them onto libpq's prepared statements.
 *
 * SQL text: parameters are written as SQLite writes them, ?NNN (numbered
 * from 1), a bare ? (the next number) or :name / @name / $name (a number
 * given on first sight). The PostgreSQL driver rewrites them to $NNN before
 * preparing, skipping quoted text and comments; everything else must be SQL
 * both engines accept, or be chosen with db_kind().
 *
 * Threads: a connection is used by one thread at a time (the caller's lock).
 * Lifetimes: text and blobs bound to a statement must stay valid until its
 * next db_step(); column values returned by db_col_*() stay valid until the
 * next db_step(), db_reset() or db_finalize() of the same statement.
 */
#ifndef STEWARD_STORE_DB_H
#define STEWARD_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steward/util.h"

enum db_kind {
	DB_SQLITE = 1,
	DB_POSTGRESQL = 2,
};

/* db_step() results */
enum db_step_result {
	DB_ROW = 1,	    /* a row is ready: read it with db_col_*() */
	DB_DONE = 2,	    /* the statement finished */
	DB_DUPLICATE = 3,   /* a UNIQUE or PRIMARY KEY constraint refused the change */
	DB_CONSTRAINT = 4,  /* another constraint (CHECK, NOT NULL, FOREIGN KEY) refused it */
	DB_UNAVAILABLE = 5, /* the server is gone or refusing connections: try again later */
	DB_ERROR = 6,	    /* anything else: the error is logged and kept in db_errmsg() */
};

struct db;
struct db_stmt;

/* Is target a PostgreSQL connection URL (postgresql:// or postgres://)? */
bool db_target_is_postgresql(const char *target);

/* Open a connection: a PostgreSQL URL, else the path of an SQLite file
 * (created 0600 when missing; a busy timeout of 10 s, the store sets its
 * PRAGMAs). PostgreSQL connections get connect and statement timeouts
 * unless the URL gives its own. On failure sets err (code store_open_failed) and returns
 * -STEWARD_ESTORE. */
int db_open(const char *target, struct db **out, struct steward_err *err);
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);
/* PostgreSQL: the longest a call waits for the server's answer before it
 * fails as on a lost server (90 s, above the statement_timeout of 60 s;
 * ms <= 0: that again). Tests shorten it; nothing on SQLite, whose waits
 * are its busy timeout. */
void db_answer_bound(struct db *db, int ms);
/* The target with any password replaced by "***", for logs and messages. */
const char *db_target(const struct db *db);

/* Run one or more statements without parameters or results: 0, or the
 * failure as db_rc() gives it (logged). */
int db_exec(struct db *db, const char *sql);
/* Start a transaction that writes: SQLite takes the write lock at once
 * (BEGIN IMMEDIATE), PostgreSQL begins one. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Prepare one statement. NULL (logged, with the SQL) on failure. The
 * PostgreSQL driver prepares on the server at the first step (it keeps
 * each text prepared per connection), so there a text the server refuses
 * fails at db_step() with DB_ERROR instead. */
struct db_stmt *db_prepare(struct db *db, const char *sql);
void db_finalize(struct db_stmt *q);
/* Back to before the first step; bindings stay. */
void db_reset(struct db_stmt *q);
/* Unbind every parameter (they read as NULL). */
void db_clear(struct db_stmt *q);
/* The number of the parameter written as name (":x", "?3"), 0 if absent. */
int db_param_index(struct db_stmt *q, const char *name);

void db_bind_int64(struct db_stmt *q, int i, int64_t v);
/* v NULL binds NULL. v must stay valid until the next db_step(). */
void db_bind_text(struct db_stmt *q, int i, const char *v);
/* n bytes of text that need not end in a NUL (copied: the PostgreSQL
 * driver sends text as a C string) */
void db_bind_textn(struct db_stmt *q, int i, const char *v, size_t n);
void db_bind_blob(struct db_stmt *q, int i, const void *v, size_t n);
void db_bind_null(struct db_stmt *q, int i);
/* A LIMIT: a negative one is no limit (SQLite reads LIMIT -1 so,
 * PostgreSQL refuses it). */
void db_bind_limit(struct db_stmt *q, int i, int64_t v);

/* One of enum db_step_result. */
int db_step(struct db_stmt *q);
/* Step a statement that returns no rows to its end and reset it:
 * 0, -STEWARD_EEXIST (duplicate), -STEWARD_EBUSY (other constraint),
 * -STEWARD_ESTORE (anything else). */
int db_run(struct db_stmt *q);
/* db_run for an INSERT ... RETURNING rid: *rid gets the first row's
 * first column (left alone when there is no row). */
int db_run_rid(struct db_stmt *q, int64_t *rid);
/* The same as a return code: 0 for DB_ROW and DB_DONE, -STEWARD_EEXIST
 * for DB_DUPLICATE, -STEWARD_EBUSY for DB_CONSTRAINT (a row still in use),
 * -STEWARD_ESTORE otherwise. */
int db_rc(int step_result);

int db_col_count(struct db_stmt *q);
bool db_col_null(struct db_stmt *q, int i);
int64_t db_col_int64(struct db_stmt *q, int i);
/* NULL for a NULL value. */
const char *db_col_text(struct db_stmt *q, int i);
/* Copy a text column ("" for NULL), truncated to fit outsz. */
void db_col_copy(struct db_stmt *q, int i, char *out, size_t outsz);
const void *db_col_blob(struct db_stmt *q, int i, size_t *n);
/* The length in bytes of a text or blob column. */
size_t db_col_bytes(struct db_stmt *q, int i);

/* Rows changed by the connection's last INSERT, UPDATE or DELETE. */
int64_t db_changes(struct db *db);
/* The connection's last error text ("" when none). */
const char *db_errmsg(struct db *db);

/* For the SQLite driver's own users (backup, checkpoints): the sqlite3
 * handle, NULL on another engine. */
struct sqlite3 *db_sqlite_handle(struct db *db);

/* Exposed for tests: rewrite SQLite-style parameters as $N. Returns the
 * largest parameter number, or -1 if out is too small or the text
 * malformed. names (may be NULL; zeroed by the caller) receives for each
 * parameter number the text it was first written as ("?2", ":name", "?"),
 * as pointers into sql with lengths in name_len; numbers never written
 * stay NULL. */
int db_rewrite_params(const char *sql, char *out, size_t outsz, const char **names,
		      size_t *name_len, int max_names);

#endif

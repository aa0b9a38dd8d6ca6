/* Unit tests for lib/store/db: the SQL interface both engines sit behind.
 *
 * Every case runs on a fresh SQLite file; with STEWARD_TEST_PG_URL (or
 * STEWARD_TEST_PG_URL_FILE naming a file that holds it: the postgresql
 * fixture of tests/unit/CMakeLists.txt writes one) it runs again on a
 * database of its own on that PostgreSQL server, dropped afterwards. The
 * engines must give the same answers: that is the point of the layer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pgtest.h"

#include "../../lib/store/db.h"

static char pg_base[512]; /* the fixture's URL, "" to skip PostgreSQL */

struct fx {
	char dir[64];
	char target[600];
	char pg_name[64];
	struct db *db;
};

/* ---- parameters ---------------------------------------------------------------- */

static void rewrite(const char *in, const char *want, int want_n)
{
	char out[256];
	const char *names[8] = {0};
	size_t len[8] = {0};
	int n = db_rewrite_params(in, out, sizeof(out), names, len, 8);

	assert_int_equal(n, want_n);
	if (want)
		assert_string_equal(out, want);
}

static void test_rewrite_params(void **state)
{
	const char *names[8] = {0};
	size_t len[8] = {0};
	char out[128];

	(void)state;
	rewrite("SELECT 1", "SELECT 1", 0);
	rewrite("SELECT a FROM t WHERE b=?1 AND c=?2", "SELECT a FROM t WHERE b=$1 AND c=$2", 2);
	rewrite("VALUES(?, ?, ?)", "VALUES($1, $2, $3)", 3);
	/* a bare ? after ?5 is 6, as in SQLite */
	rewrite("?5, ?", "$5, $6", 6);
	rewrite("x=:a OR y=:b OR z=:a", "x=$1 OR y=$2 OR z=$1", 2);
	rewrite("@a $b", "$1 $2", 2);
	/* quoted text, identifiers, comments and casts are left alone */
	rewrite("SELECT '?1', \"a?\", 'it''s ?' -- ?3\n, ?1",
		"SELECT '?1', \"a?\", 'it''s ?' -- ?3\n, $1", 1);
	rewrite("/* :x */ SELECT ?1::text", "/* :x */ SELECT $1::text", 1);
	rewrite("SELECT json_extract(v, '$.time')", "SELECT json_extract(v, '$.time')", 0);
	/* malformed: unterminated quote or comment, ?0, out too small */
	rewrite("SELECT 'x", NULL, -1);
	rewrite("SELECT /* x", NULL, -1);
	rewrite("SELECT ?0", NULL, -1);
	assert_int_equal(db_rewrite_params("SELECT ?1", out, 8, NULL, NULL, 0), -1);
	/* what each number was written as, gaps stay NULL */
	assert_int_equal(
	    db_rewrite_params("a=?1 AND c=?3 AND d=:n", out, sizeof(out), names, len, 8), 4);
	assert_non_null(names[0]);
	assert_int_equal(len[0], 2);
	assert_null(names[1]);
	assert_memory_equal(names[2], "?3", 2);
	assert_memory_equal(names[3], ":n", 2);
	assert_int_equal(len[3], 2);
}

/* ---- fixtures: one database per case and engine ------------------------------- */

static int setup_sqlite(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct steward_err err = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/steward-test.dbXXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->target, sizeof(f->target), "%s/site.db", f->dir);
	assert_int_equal(db_open(f->target, &f->db, &err), 0);
	assert_int_equal(db_exec(f->db, "PRAGMA foreign_keys=ON"), 0);
	*state = f;
	return 0;
}

static int setup_pg(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct steward_err err = {0};

	assert_non_null(f);
	if (!pg_base[0]) { /* no server given: the case skips itself */
		free(f);
		*state = NULL;
		return 0;
	}
	snprintf(f->pg_name, sizeof(f->pg_name), "t_db_%d_%ld", (int)getpid(), random() % 1000000);
	assert_int_equal(pgtest_db_create(pg_base, f->pg_name, f->target, sizeof(f->target)), 0);
	assert_int_equal(db_open(f->target, &f->db, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];

	if (!f)
		return 0;
	db_close(f->db);
	if (f->pg_name[0]) {
		pgtest_db_drop(pg_base, f->pg_name);
	} else {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", f->dir);
	}
	free(f);
	return 0;
}

static void make_table(struct db *db)
{
	bool pg = db_kind(db) == DB_POSTGRESQL;

	assert_int_equal(
	    db_exec(db, pg ? "CREATE TABLE t (rid BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
			     " data BYTEA, n BIGINT NOT NULL DEFAULT 0 CHECK (n >= 0));"
			     "CREATE TABLE u (rid BIGINT NOT NULL REFERENCES t(rid))"
			   : "CREATE TABLE t (rid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
			     " data BLOB, n INTEGER NOT NULL DEFAULT 0 CHECK (n >= 0));"
			     "CREATE TABLE u (rid INTEGER NOT NULL REFERENCES t(rid))"),
	    0);
}

static int64_t insert(struct db *db, const char *name, const void *data, size_t n, int64_t num)
{
	struct db_stmt *q =
	    db_prepare(db, "INSERT INTO t(name, data, n) VALUES(?1, ?2, ?3) RETURNING rid");
	int64_t rid = -1;
	int r;

	assert_non_null(q);
	db_bind_text(q, 1, name);
	if (data)
		db_bind_blob(q, 2, data, n);
	else
		db_bind_null(q, 2);
	db_bind_int64(q, 3, num);
	r = db_step(q);
	if (r == DB_ROW) {
		rid = db_col_int64(q, 0);
		r = db_step(q);
		assert_int_equal(r, DB_DONE);
	} else {
		rid = -db_rc(r);
	}
	db_finalize(q);
	return rid;
}

/* ---- the same cases on each engine ---------------------------------------------- */

static void test_rows_and_types(void **state)
{
	struct fx *f = *state;
	const uint8_t blob[] = {0x00, 0xff, 0x5c, 0x78, 0x01, 0x80};
	struct db_stmt *q;
	size_t n;
	const uint8_t *b;
	int64_t r1, r2;
	char copy[4];

	if (!f)
		skip();

	make_table(f->db);
	r1 = insert(f->db, "alpha", blob, sizeof(blob), INT64_C(9007199254740993));
	r2 = insert(f->db, "beta", NULL, 0, 0);
	assert_true(r1 > 0);
	assert_true(r2 > r1);

	q = db_prepare(f->db, "SELECT rid, name, data, n, NULL FROM t WHERE n >= ?1 ORDER BY rid");
	assert_non_null(q);
	db_bind_int64(q, 1, 0);
	assert_int_equal(db_step(q), DB_ROW);
	assert_int_equal(db_col_count(q), 5);
	assert_int_equal(db_col_int64(q, 0), r1);
	assert_string_equal(db_col_text(q, 1), "alpha");
	b = db_col_blob(q, 2, &n);
	assert_int_equal(n, sizeof(blob));
	assert_memory_equal(b, blob, sizeof(blob));
	assert_int_equal(db_col_int64(q, 3), INT64_C(9007199254740993));
	assert_true(db_col_null(q, 4));
	assert_null(db_col_text(q, 4));
	assert_false(db_col_null(q, 1));
	db_col_copy(q, 1, copy, sizeof(copy));
	assert_string_equal(copy, "alp");
	assert_int_equal(db_step(q), DB_ROW);
	assert_string_equal(db_col_text(q, 1), "beta");
	assert_true(db_col_null(q, 2));
	assert_int_equal(db_step(q), DB_DONE);
	/* again, with another binding: the statement is reused */
	db_reset(q);
	db_bind_int64(q, 1, 1);
	assert_int_equal(db_step(q), DB_ROW);
	assert_string_equal(db_col_text(q, 1), "alpha");
	assert_int_equal(db_step(q), DB_DONE);
	db_finalize(q);

	/* an empty text is not NULL; an empty blob is not NULL */
	q = db_prepare(f->db, "SELECT ?1, ?2 IS NULL, ?3 IS NULL");
	assert_non_null(q);
	db_bind_text(q, 1, "");
	db_bind_text(q, 2, NULL);
	db_bind_blob(q, 3, "", 0);
	assert_int_equal(db_step(q), DB_ROW);
	assert_string_equal(db_col_text(q, 0), "");
	assert_int_equal(db_col_int64(q, 1), 1);
	assert_int_equal(db_col_int64(q, 2), 0);
	db_finalize(q);
}

static void test_constraints(void **state)
{
	struct fx *f = *state;
	struct db_stmt *q;
	int64_t r1;

	if (!f)
		skip();

	make_table(f->db);
	r1 = insert(f->db, "alpha", NULL, 0, 1);
	assert_true(r1 > 0);
	/* duplicate name: EEXIST; CHECK: EBUSY, as the store expects */
	assert_int_equal(insert(f->db, "alpha", NULL, 0, 1), STEWARD_EEXIST);
	assert_int_equal(insert(f->db, "gamma", NULL, 0, -1), STEWARD_EBUSY);
	/* a foreign key to a missing row */
	q = db_prepare(f->db, "INSERT INTO u(rid) VALUES(?1)");
	assert_non_null(q);
	db_bind_int64(q, 1, r1 + 100);
	assert_int_equal(db_run(q), -STEWARD_EBUSY);
	db_bind_int64(q, 1, r1);
	assert_int_equal(db_run(q), 0);
	db_finalize(q);
	/* the row is still referenced: deleting it is refused */
	q = db_prepare(f->db, "DELETE FROM t WHERE rid=?1");
	db_bind_int64(q, 1, r1);
	assert_int_equal(db_run(q), -STEWARD_EBUSY);
	db_finalize(q);
	/* a statement that cannot be prepared: refused at once by SQLite, at
	 * its first step by PostgreSQL */
	q = db_prepare(f->db, "SELECT no_such_column FROM t");
	if (db_kind(f->db) == DB_SQLITE) {
		assert_null(q);
	} else {
		assert_non_null(q);
		assert_int_equal(db_step(q), DB_ERROR);
		db_finalize(q);
	}
	assert_true(db_errmsg(f->db)[0] != '\0');
}

static void test_changes_upsert_transactions(void **state)
{
	struct fx *f = *state;
	struct db_stmt *q;

	if (!f)
		skip();

	make_table(f->db);
	insert(f->db, "a", NULL, 0, 1);
	insert(f->db, "b", NULL, 0, 2);
	insert(f->db, "c", NULL, 0, 3);
	q = db_prepare(f->db, "UPDATE t SET n = n + 10 WHERE n >= ?1");
	db_bind_int64(q, 1, 2);
	assert_int_equal(db_run(q), 0);
	assert_int_equal(db_changes(f->db), 2);
	db_finalize(q);

	/* an upsert both engines spell the same way */
	q = db_prepare(f->db, "INSERT INTO t(name, n) VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE"
			      " SET n = excluded.n");
	db_bind_text(q, 1, "a");
	db_bind_int64(q, 2, 42);
	assert_int_equal(db_run(q), 0);
	db_finalize(q);
	q = db_prepare(f->db, "SELECT n FROM t WHERE name='a'");
	assert_int_equal(db_step(q), DB_ROW);
	assert_int_equal(db_col_int64(q, 0), 42);
	db_finalize(q);

	/* rolled back: gone; committed: there. A statement whose parameter
	 * types only the bindings tell, first prepared inside a transaction,
	 * leaves the transaction usable */
	assert_int_equal(db_begin(f->db), 0);
	insert(f->db, "rolled", NULL, 0, 1);
	q = db_prepare(f->db, "SELECT ?1 IS NULL");
	db_bind_int64(q, 1, 7);
	assert_int_equal(db_step(q), DB_ROW);
	assert_int_equal(db_col_int64(q, 0), 0);
	db_finalize(q);
	insert(f->db, "rolled2", NULL, 0, 1);
	db_rollback(f->db);
	assert_int_equal(db_begin(f->db), 0);
	insert(f->db, "kept", NULL, 0, 1);
	assert_int_equal(db_commit(f->db), 0);
	q = db_prepare(f->db, "SELECT count(*) FROM t WHERE name IN ('rolled', 'rolled2', 'kept')");
	assert_int_equal(db_step(q), DB_ROW);
	assert_int_equal(db_col_int64(q, 0), 1);
	db_finalize(q);
}

static void test_param_index(void **state)
{
	struct fx *f = *state;
	struct db_stmt *q;

	if (!f)
		skip();

	make_table(f->db);
	insert(f->db, "a", NULL, 0, 5);
	/* ?1 and ?3 without ?2: what store's sqlite_read_rows relies on */
	q = db_prepare(f->db, "SELECT name FROM t WHERE n >= ?1 LIMIT ?3");
	assert_non_null(q);
	assert_int_equal(db_param_index(q, "?1"), 1);
	assert_int_equal(db_param_index(q, "?2"), 0);
	assert_int_equal(db_param_index(q, "?3"), 3);
	db_bind_int64(q, 1, 1);
	db_bind_int64(q, 3, 10);
	assert_int_equal(db_step(q), DB_ROW);
	assert_string_equal(db_col_text(q, 0), "a");
	db_finalize(q);
	q = db_prepare(f->db, "SELECT :x + :y + :x");
	assert_int_equal(db_param_index(q, ":x"), 1);
	assert_int_equal(db_param_index(q, ":y"), 2);
	assert_int_equal(db_param_index(q, ":z"), 0);
	db_finalize(q);
}

/* PostgreSQL only: the server ends the session; the next call says so and
 * the one after works on a new connection, its statements prepared again. */
static void test_pg_connection_lost(void **state)
{
	struct fx *f = *state;
	struct steward_err err = {0};
	struct db *other;
	struct db_stmt *q, *kill;
	int r;

	if (!f)
		skip();

	make_table(f->db);
	insert(f->db, "a", NULL, 0, 5);
	q = db_prepare(f->db, "SELECT n FROM t WHERE name=?1");
	db_bind_text(q, 1, "a");
	assert_int_equal(db_step(q), DB_ROW);
	db_reset(q);

	assert_int_equal(db_open(f->target, &other, &err), 0);
	kill = db_prepare(other, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
				 " WHERE datname = current_database() AND pid <> pg_backend_pid()");
	assert_int_equal(db_step(kill), DB_ROW);
	db_finalize(kill);
	db_close(other);

	r = db_step(q);
	assert_int_equal(r, DB_UNAVAILABLE);
	db_reset(q);
	assert_int_equal(db_step(q), DB_ROW);
	assert_int_equal(db_col_int64(q, 0), 5);
	db_finalize(q);
}

static void test_open_refusals(void **state)
{
	struct steward_err err = {0};
	struct db *db = NULL;

	(void)state;
	assert_int_equal(db_open("", &db, &err), -STEWARD_ESTORE);
	assert_string_equal(err.code, "store_open_failed");
	memset(&err, 0, sizeof(err));
	/* nothing listens on port 1; the password never reaches the message */
	assert_int_equal(
	    db_open("postgresql://u:secret@127.0.0.1:1/x?connect_timeout=2", &db, &err),
	    -STEWARD_ESTORE);
	assert_string_equal(err.code, "store_open_failed");
	assert_non_null(strstr(err.message, "cannot connect to postgresql://u:***@127.0.0.1:1/x"));
	assert_null(strstr(err.message, "secret"));
	assert_non_null(strstr(err.remedy, "PostgreSQL server is running"));
	assert_true(db_target_is_postgresql("postgres://h/d"));
	assert_false(db_target_is_postgresql("/var/lib/steward/site.db"));
	assert_int_equal(db_open("/nonexistent-dir/x/site.db", &db, &err), -STEWARD_ESTORE);
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_setup_teardown(fn, setup_sqlite, teardown),                               \
	    cmocka_unit_test_setup_teardown(fn, setup_pg, teardown)

int main(void)
{
	if (pgtest_base_url(pg_base, sizeof(pg_base)))
		return 1;
	srandom((unsigned)getpid());
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rewrite_params),
	    cmocka_unit_test(test_open_refusals),
	    BOTH(test_rows_and_types),
	    BOTH(test_constraints),
	    BOTH(test_changes_upsert_transactions),
	    BOTH(test_param_index),
	    cmocka_unit_test_setup_teardown(test_pg_connection_lost, setup_pg, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for lib/store/pg_schema: PostgreSQL's schema 15 against SQLite's.
 *
 * Each case builds both: a SQLite database migrated by store_sqlite_ops.open
 * in a temporary directory, and a database of its own on the PostgreSQL
 * server given by STEWARD_TEST_PG_URL (or the file STEWARD_TEST_PG_URL_FILE
 * names) with pg_schema_v15 and the migrations after it run in it. It then
 * checks that every SQLite table, column, index and trigger has its
 * PostgreSQL twin, and that the same changes on both make the triggers
 * queue the same outbox rows. Without a server the cases skip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pgtest.h"
#include <jansson.h>

#include "steward/store.h"
#include "../../lib/store/db.h"
#include "../../lib/store/pg_schema.h"

static char pg_base[512]; /* the fixture's URL, "" to skip */

struct fx {
	char dir[64];
	char pg_name[64];
	struct db *lite; /* the migrated SQLite database */
	struct db *pg;	 /* pg_schema_v15 and the later migrations on an empty database */
};

static int setup(void **state)
{
	struct fx *f;
	struct steward_err err = {0};
	struct store *st = NULL;
	char path[128], url[600];

	*state = NULL;
	if (!pg_base[0]) /* no server given: the cases skip themselves */
		return 0;
	f = calloc(1, sizeof(*f));
	assert_non_null(f);

	snprintf(f->dir, sizeof(f->dir), "/tmp/steward-test.pgschemaXXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/site.db", f->dir);
	assert_int_equal(store_sqlite_ops.open(path, &st, &err), 0);
	assert_int_equal(st->ops->schema_version(st), STORE_SCHEMA_VERSION);
	st->ops->close(st);
	assert_int_equal(db_open(path, &f->lite, &err), 0);
	assert_int_equal(db_exec(f->lite, "PRAGMA foreign_keys=ON"), 0);

	snprintf(f->pg_name, sizeof(f->pg_name), "t_pgschema_%d_%ld", (int)getpid(),
		 random() % 1000000);
	assert_int_equal(pgtest_db_create(pg_base, f->pg_name, url, sizeof(url)), 0);
	assert_int_equal(db_open(url, &f->pg, &err), 0);
	assert_int_equal(db_begin(f->pg), 0);
	assert_int_equal(db_exec(f->pg, pg_schema_v15), 0);
	/* the migrations after it run on PostgreSQL as written */
	for (int v = PG_SCHEMA_VERSION + 1; v <= STORE_SCHEMA_VERSION; v++)
		assert_int_equal(db_exec(f->pg, store_migration_sql(v)), 0);
	assert_int_equal(db_commit(f->pg), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];

	if (!f)
		return 0;
	db_close(f->lite);
	db_close(f->pg);
	pgtest_db_drop(pg_base, f->pg_name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

/* The first column of the one row sql (with text ?1 and ?2) returns on db,
 * copied into out; false when there is no row. */
static bool one_text(struct db *db, const char *sql, const char *p1, const char *p2, char *out,
		     size_t outsz)
{
	struct db_stmt *q = db_prepare(db, sql);
	bool found;

	assert_non_null(q);
	if (p1)
		db_bind_text(q, 1, p1);
	if (p2)
		db_bind_text(q, 2, p2);
	found = db_step(q) == DB_ROW;
	if (found)
		db_col_copy(q, 0, out, outsz);
	db_finalize(q);
	return found;
}

static int64_t one_int(struct db *db, const char *sql)
{
	struct db_stmt *q = db_prepare(db, sql);
	int64_t v;

	assert_non_null(q);
	assert_int_equal(db_step(q), DB_ROW);
	v = db_col_int64(q, 0);
	db_finalize(q);
	return v;
}

/* SQLite's declared type -> PostgreSQL's information_schema data_type */
static const char *pg_family(const char *sqlite_type)
{
	if (strcmp(sqlite_type, "INTEGER") == 0 || strcmp(sqlite_type, "BIGINT") == 0)
		return "bigint";
	if (strcmp(sqlite_type, "TEXT") == 0)
		return "text";
	if (strcmp(sqlite_type, "BLOB") == 0)
		return "bytea";
	return NULL;
}

/* ---- structure ------------------------------------------------------------------ */

static void test_tables_and_columns(void **state)
{
	struct fx *f = *state;
	struct db_stmt *q;
	char type[64], pos[16], want_pos[16], last_table[64] = "";
	int tables = 0, columns = 0;

	if (!f)
		skip();
	q = db_prepare(f->lite,
		       "SELECT m.name, p.name, p.type, p.cid, p.\"notnull\", p.pk"
		       " FROM sqlite_master m, pragma_table_info(m.name) p"
		       " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
		       " ORDER BY m.name, p.cid");
	assert_non_null(q);
	while (db_step(q) == DB_ROW) {
		const char *table = db_col_text(q, 0), *col = db_col_text(q, 1);
		const char *family = pg_family(db_col_text(q, 2));

		if (strcmp(table, last_table) != 0) {
			snprintf(last_table, sizeof(last_table), "%s", table);
			tables++;
		}
		columns++;
		if (!family)
			fail_msg("%s.%s: unexpected SQLite type %s", table, col, db_col_text(q, 2));
		if (!one_text(f->pg,
			      "SELECT data_type || ' ' || ordinal_position || ' ' || is_nullable"
			      " FROM information_schema.columns WHERE table_schema = 'public'"
			      " AND table_name = ?1 AND column_name = ?2",
			      table, col, type, sizeof(type)))
			fail_msg("%s.%s: missing on PostgreSQL", table, col);
		/* same family, same place; NOT NULL where SQLite says so */
		snprintf(want_pos, sizeof(want_pos), " %d ", (int)db_col_int64(q, 3) + 1);
		if (strncmp(type, family, strlen(family)) != 0 || !strstr(type, want_pos))
			fail_msg("%s.%s: PostgreSQL has %s, want %s%s", table, col, type, family,
				 want_pos);
		snprintf(pos, sizeof(pos), "%s", strrchr(type, ' ') + 1);
		if (db_col_int64(q, 4) && strcmp(pos, "NO") != 0)
			fail_msg("%s.%s: nullable on PostgreSQL", table, col);
	}
	db_finalize(q);
	assert_true(tables >= 36);
	/* and nothing more on PostgreSQL */
	assert_int_equal(one_int(f->pg, "SELECT count(*) FROM information_schema.tables"
					" WHERE table_schema = 'public'"),
			 tables);
	assert_int_equal(one_int(f->pg, "SELECT count(*) FROM information_schema.columns"
					" WHERE table_schema = 'public'"),
			 columns);
}

/* Every named SQLite index and trigger exists by the same name. */
static void test_indexes_and_triggers(void **state)
{
	struct fx *f = *state;
	struct db_stmt *q;
	char out[128];
	int triggers = 0;

	if (!f)
		skip();
	q = db_prepare(f->lite, "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN"
				" ('index', 'trigger') AND sql IS NOT NULL ORDER BY name");
	assert_non_null(q);
	while (db_step(q) == DB_ROW) {
		const char *type = db_col_text(q, 0), *name = db_col_text(q, 1);
		const char *table = db_col_text(q, 2);
		bool index = strcmp(type, "index") == 0;

		triggers += !index;
		if (!one_text(
			f->pg,
			index ? "SELECT tablename FROM pg_indexes WHERE schemaname = 'public'"
				" AND indexname = ?1"
			      : "SELECT c.relname FROM pg_trigger t JOIN pg_class c"
				" ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND t.tgname = ?1",
			name, NULL, out, sizeof(out)))
			fail_msg("%s %s: missing on PostgreSQL", type, name);
		if (strcmp(out, table) != 0)
			fail_msg("%s %s: on %s on PostgreSQL, on %s in SQLite", type, name, out,
				 table);
	}
	db_finalize(q);
	assert_int_equal(one_int(f->pg, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"),
			 triggers);
}

/* ---- behaviour ------------------------------------------------------------------ */

/* Run one statement on db: its db_step() result. */
static int run(struct db *db, const char *sql)
{
	struct db_stmt *q = db_prepare(db, sql);
	int r;

	if (!q)
		return DB_ERROR;
	r = db_step(q);
	db_finalize(q);
	return r;
}

#define HW1                                                                                        \
	"'{\"cpu\": {\"model\": \"Xeon\", \"sockets\": 1, \"cores\": 4, \"threads\": 8},"          \
	" \"memory\": {\"total_mb\": 16384}, \"disks\": [{\"size_mb\": 100}, {\"size_mb\": 50}],"  \
	" \"dmi\": {\"vendor\": \"Acme\", \"product\": true}, \"virtualization\": \"kvm\"}'"
#define HW2                                                                                        \
	"'{\"cpu\": {\"model\": \"Xeon\", \"sockets\": 1, \"cores\": 4, \"threads\": 8},"          \
	" \"memory\": {\"total_mb\": 32768}, \"disk_total_mb\": 500, \"virtualization\": null}'"
#define OS1                                                                                        \
	"'{\"id\": \"debian\", \"version_id\": \"12\", \"pretty_name\": \"Debian 12\","            \
	" \"arch\": \"x86_64\", \"extra\": [1, 2]}'"

/* The same changes, in order, on both engines: each fires one or more of
 * the outbox triggers (or, where noted, must not). */
static const char *const changes[] = {
    "INSERT INTO sites(code, relation, url, public_key, attached_at)"
    " VALUES ('up', 0, 'https://up', 'k', 1), ('dn', 1, 'https://dn', 'k', 1),"
    " ('gone', 1, 'https://gone', 'k', 1)",
    "UPDATE sites SET attached = 0 WHERE code = 'gone'",
    /* up_client_new, then up_client with the check-in's last_seen */
    "INSERT INTO clients(id, public_key, hostname, site, state, enrolled, agent_version,"
    " protocol) VALUES ('c1', 'pk1', 'host1', 'S1', 'pending', 100, '1.0', '3')",
    "INSERT INTO checkins(client_rid, last_seen, last_seq) VALUES (1, 150, 7)",
    "UPDATE clients SET state = 'approved' WHERE id = 'c1'",
    "UPDATE clients SET min_epoch = 2 WHERE id = 'c1'", /* fires nothing */
    /* down_package, down_program, down_advert, down_advert_change */
    "INSERT INTO packages(name, version, manifest, bytes, files, created, created_by, comment)"
    " VALUES ('Tool', '2.1', '{\"files\": []}', 1234, 3, 200, 'ann', 'it''s \"quoted\"')",
    "INSERT INTO programs(name, package_rid, spec, created, created_by)"
    " VALUES ('tool-install', 1, '{\"run\": \"x\"}', 201, 'ann')",
    "INSERT INTO adverts(name, program_rid, collection, available, mandatory, created,"
    " created_by, links, link_deadline) VALUES ('tool-all', 1, 'all', 300, 400, 202, 'ann',"
    " 'lan,wan', 900)",
    "UPDATE adverts SET enabled = 0 WHERE name = 'TOOL-ALL'",
    "UPDATE adverts SET revision = 2", /* fires nothing */
    /* collections: no trigger on insert, down_collection_gone on delete */
    "INSERT INTO collections(name, kind, created, created_by, origin)"
    " VALUES ('web', 'static', 203, 'ann', 'top')",
    "INSERT INTO collection_members(collection_rid, client_id) VALUES (1, 'c1')",
    "DELETE FROM collections WHERE name = 'web'",
    /* up_status with a NULL exit code, up_status_below with one */
    "INSERT INTO status_history(advert_rid, client_id, revision, seq, state, exit_code,"
    " detail, time) VALUES (1, 'c1', 1, 5, 'running', NULL, 'started', 500)",
    "INSERT INTO site_status(site, advert, client, revision, seq, state, exit_code, detail,"
    " time, received) VALUES ('S2', 'a2', 'c9', 3, 4, 'failed', 2, 'exit 2', 501, 502)",
    /* up_client_below_new, up_client_below, site_inventory_gone */
    "INSERT INTO site_clients(id, site, via, hostname, state, agent_version, protocol,"
    " enrolled, last_seen, updated) VALUES ('c9', 'S2', 'S2', 'h9', 'approved', '1.0', '3',"
    " 10, 20, 30)",
    "INSERT INTO site_inventory(site, client, via, level, received, hardware, os, software,"
    " updated) VALUES ('S2', 'c9', 'S2', 'full', 40, " HW2 ", " OS1 ", NULL, 41)",
    "UPDATE site_clients SET hostname = 'h9b', last_seen = 21 WHERE id = 'c9'",
    "UPDATE site_clients SET state = 'deleted' WHERE id = 'c9'",
    /* up_outcome, up_outcome_change */
    "INSERT INTO release_outcomes(version, client, outcome, time)"
    " VALUES ('2.0', 'c1', 'install_failed', 600)",
    "UPDATE release_outcomes SET outcome = 'succeeded', detail = 'retried'",
    /* up_object, up_object_change; up_down, up_down_change */
    "INSERT INTO site_objects(site, kind, name, state, updated)"
    " VALUES ('S2', 'advert', 'x', 'waiting', 700)",
    "UPDATE site_objects SET state = 'applied', detail = 'ok'",
    "UPDATE site_objects SET updated = 701", /* fires nothing */
    "INSERT INTO site_down(kind, name, source, origin, op, body, state, updated)"
    " VALUES ('package', 'p', 'up', 'top', 'put', '{}', 'fetching', 800)",
    "UPDATE site_down SET state = 'applied', detail = 'done'",
    /* up_inventory_new (summary: the parent takes summaries) */
    "INSERT INTO inventory(client_rid, received, full_hash, hardware_hash, os_hash,"
    " software_hash, hardware, os, software) VALUES (1, 900, 'f1', 'h1', 'o1', 's1', " HW1 ", " OS1
    ", '[{\"name\": \"bash\"}]')",
    /* a new full hash, the same summary: nothing; then a new summary */
    "UPDATE inventory SET full_hash = 'f2', software = '[]'",
    "UPDATE inventory SET full_hash = 'f3', hardware = " HW2,
    "UPDATE inventory SET received = 901", /* the same hash: nothing */
    /* the parent takes full inventory now */
    "UPDATE sites SET inventory = 'full' WHERE code = 'up'",
    "UPDATE inventory SET full_hash = 'f4', received = 902",
    "INSERT INTO site_inventory(site, client, via, level, received, hardware, os, software,"
    " updated) VALUES ('S3', 'c8', 'S3', 'summary', 50, " HW1 ", " OS1 ", NULL, 51)",
    "UPDATE site_inventory SET level = 'full', full_hash = 'g1', software = '[]'"
    " WHERE client = 'c8'",
    /* down_advert_gone, down_program_gone, down_package_gone */
    "DELETE FROM adverts",
    "DELETE FROM programs",
    "DELETE FROM packages",
};

static json_t *parse(const char *text, const char *what)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!j)
		fail_msg("%s: not JSON (%s): %s", what, jerr.text, text);
	return j;
}

static void test_triggers_queue_the_same(void **state)
{
	struct fx *f = *state;
	struct db_stmt *a, *b;
	const char *sel =
	    "SELECT seq, link, class, kind, body, created FROM site_outbox ORDER BY seq";
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int rows = 0;

	if (!f)
		skip();
	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		int ra = run(f->lite, changes[i]), rb = run(f->pg, changes[i]);

		if (ra != DB_DONE || rb != DB_DONE)
			fail_msg("change %zu: SQLite %d (%s), PostgreSQL %d (%s)", i, ra,
				 db_errmsg(f->lite), rb, db_errmsg(f->pg));
	}
	a = db_prepare(f->lite, sel);
	b = db_prepare(f->pg, sel);
	assert_non_null(a);
	assert_non_null(b);
	for (;;) {
		int sa = db_step(a), sb = db_step(b);
		json_t *ja, *jb;

		assert_int_equal(sa, sb);
		if (sa != DB_ROW)
			break;
		rows++;
		assert_int_equal(db_col_int64(a, 0), db_col_int64(b, 0));
		assert_string_equal(db_col_text(a, 1), db_col_text(b, 1));
		assert_int_equal(db_col_int64(a, 2), db_col_int64(b, 2));
		assert_string_equal(db_col_text(a, 3), db_col_text(b, 3));
		ja = parse(db_col_text(a, 4), "SQLite body");
		jb = parse(db_col_text(b, 4), "PostgreSQL body");
		if (!json_equal(ja, jb))
			fail_msg("outbox row %lld differs:\n SQLite:     %s\n PostgreSQL: %s",
				 (long long)db_col_int64(a, 0), db_col_text(a, 4),
				 db_col_text(b, 4));
		json_decref(ja);
		json_decref(jb);
		assert_true(db_col_int64(b, 5) >= now - 60 && db_col_int64(b, 5) <= now + 60);
	}
	db_finalize(a);
	db_finalize(b);
	/* every change above that fires did, once per attached site */
	assert_int_equal(rows, 27);
	/* and the deletes cascaded or not alike */
	assert_int_equal(one_int(f->pg, "SELECT count(*) FROM site_inventory"),
			 one_int(f->lite, "SELECT count(*) FROM site_inventory"));
	assert_int_equal(one_int(f->pg, "SELECT count(*) FROM collection_members"), 0);
}

/* Identity keys number rows like rowids; NOCASE names collide alike; the
 * audit log refuses changes with a constraint failure on both. */
static void test_keys_and_constraints(void **state)
{
	struct fx *f = *state;
	struct db *dbs[2];
	int i;

	if (!f)
		skip();
	dbs[0] = f->lite;
	dbs[1] = f->pg;
	for (i = 0; i < 2; i++) {
		struct db *db = dbs[i];
		struct db_stmt *q;
		int64_t rid = 0;

		q = db_prepare(db, "INSERT INTO collections(name, kind, created, created_by)"
				   " VALUES (?1, 'query', 1, 'ann') RETURNING rid");
		assert_non_null(q);
		db_bind_text(q, 1, "one");
		assert_int_equal(db_run_rid(q, &rid), 0);
		assert_int_equal(rid, 1);
		db_bind_text(q, 1, "two");
		assert_int_equal(db_run_rid(q, &rid), 0);
		assert_int_equal(rid, 2);
		db_finalize(q);
		assert_int_equal(run(db, "INSERT INTO collections(name, kind, created, created_by)"
					 " VALUES ('three', 'dynamic', 1, 'ann')"),
				 DB_CONSTRAINT);
		assert_int_equal(run(db, "INSERT INTO packages(name, version, manifest, bytes,"
					 " files, created, created_by) VALUES ('Pkg', '1', '{}', 1,"
					 " 1, 1, 'a')"),
				 DB_DONE);
		assert_int_equal(run(db, "INSERT INTO packages(name, version, manifest, bytes,"
					 " files, created, created_by) VALUES ('pKG', '1', '{}', 1,"
					 " 1, 1, 'a')"),
				 DB_DUPLICATE);
		assert_int_equal(one_int(db, "SELECT count(*) FROM packages"
					     " WHERE name = 'PKG' COLLATE NOCASE"),
				 1);
		assert_int_equal(run(db, "INSERT INTO programs(name, package_rid, spec, created,"
					 " created_by) VALUES ('p', 99, '{}', 1, 'a')"),
				 DB_CONSTRAINT);
		assert_int_equal(run(db, "INSERT INTO audit(time, who, role, route, method, path,"
					 " object, status, code, peer, prev, hash) VALUES (1, 'a',"
					 " 'admin', 'r', 'GET', '/', '', 200, '', '', '', 'h')"),
				 DB_DONE);
		assert_int_equal(run(db, "UPDATE audit SET who = 'b'"), DB_CONSTRAINT);
		assert_int_equal(run(db, "DELETE FROM audit"), DB_CONSTRAINT);
		assert_int_equal(one_int(db, "SELECT count(*) FROM audit WHERE who = 'a'"), 1);
	}
}

/* SQLite functions the store's statements use, provided on PostgreSQL:
 * the same text gives the same answer on both. */
static void test_compat_functions(void **state)
{
	struct fx *f = *state;
	const char *sql =
	    "SELECT max(?1, 5), min(?1, 5), max(last_out, ?1), instr(',a,b,', ',' || ?2 || ','),"
	    " CAST(strftime('%s', 'now') AS INTEGER), printf('site %s runs %s: no %ss', ?2,"
	    " 'x', 'thing'), CASE WHEN max(NULL, 1) IS NULL THEN 1 ELSE 0 END,"
	    " (1 << last_out) & 12"
	    " FROM (SELECT CAST(3 AS BIGINT) AS last_out) s";
	struct db_stmt *a, *b;
	int i;

	if (!f)
		skip();
	a = db_prepare(f->lite, sql);
	b = db_prepare(f->pg, sql);
	assert_non_null(a);
	assert_non_null(b);
	db_bind_int64(a, 1, 7);
	db_bind_int64(b, 1, 7);
	db_bind_text(a, 2, "b");
	db_bind_text(b, 2, "b");
	assert_int_equal(db_step(a), DB_ROW);
	assert_int_equal(db_step(b), DB_ROW);
	assert_int_equal(db_col_int64(b, 0), 7);
	assert_int_equal(db_col_int64(b, 1), 5);
	for (i = 0; i < 8; i++) {
		if (i == 4) { /* the clock: a second apart at most */
			assert_true(llabs(db_col_int64(a, i) - db_col_int64(b, i)) <= 1);
			continue;
		}
		assert_string_equal(db_col_text(a, i), db_col_text(b, i));
	}
	db_finalize(a);
	db_finalize(b);
	/* the aggregates still answer beside them */
	assert_int_equal(one_int(f->pg, "SELECT max(x) + min(x) FROM (VALUES (2), (9)) v(x)"), 11);
}

int main(void)
{
	if (pgtest_base_url(pg_base, sizeof(pg_base)))
		return 1;
	srandom((unsigned)getpid());
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_tables_and_columns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indexes_and_triggers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_triggers_queue_the_same, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_and_constraints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compat_functions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

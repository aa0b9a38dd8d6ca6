/* Unit tests for lib/store against the real SQLite backend, each test in a
 * fresh temp directory: migrations, schema refusal, enrollment and its
 * transaction, clients, tokens, admins, settings, check-in batches and the
 * check-in writer. store_faulty.c injects failures through the store seam
 * to prove the writer's and enrollment's error paths.
 *
 * Checks on what is really on disk use a separate sqlite3 connection, so
 * they see only what was committed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <dirent.h>
#include <unistd.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "pgtest.h"

#include <sqlite3.h>

#include "steward/store.h"
#include "store_faulty.h"
#include "../../lib/store/db.h"
#include "../../lib/store/pg_schema.h"

#define assert_contains(hay, needle)                                                       \
	do {                                                                               \
		const char *h_ = (hay), *n_ = (needle);                                    \
		if (!h_ || !strstr(h_, n_))                                                \
			fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_);    \
	} while (0)

#define NOW INT64_C(1764000000)

/* ---- fixture: a temp dir and a database path in it -------------------------- */

struct fx {
	char dir[PATH_MAX];
	char db[PATH_MAX + 64]; /* the database: a file, or a PostgreSQL URL */
	char pg_name[64];
	struct store *st;
};

/* A PostgreSQL server to run the same cases on (STEWARD_TEST_PG_URL, or
 * a file named by STEWARD_TEST_PG_URL_FILE): each case then gets a
 * database of its own there. "" runs them on SQLite. */
static char pg_base[512];
static unsigned pg_count;

/* The cases about SQLite's own mechanisms (its file, its header's schema
 * version, its online backup) skip themselves on PostgreSQL. */
#define SQLITE_ONLY()                                                                      \
	do {                                                                               \
		if (pg_base[0])                                                            \
			skip();                                                            \
	} while (0)

static int fx_setup(void **state)
{
	const char *base = getenv("TMPDIR");
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/steward-test-store.XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	if (pg_base[0]) {
		snprintf(f->pg_name, sizeof(f->pg_name), "t_store_%d_%u", (int)getpid(), ++pg_count);
		if (pgtest_db_create(pg_base, f->pg_name, f->db, sizeof(f->db))) {
			rmdir(f->dir);
			free(f);
			return -1;
		}
	} else {
		snprintf(f->db, sizeof(f->db), "%s/steward.db", f->dir);
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *e;
	char p[PATH_MAX + 256];

	if (f->st)
		f->st->ops->close(f->st);
	if (f->pg_name[0])
		pgtest_db_drop(pg_base, f->pg_name);
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Open the real backend (or the faulty wrapper) into f->st. */
static struct store *fx_open(struct fx *f, const struct store_ops *ops)
{
	struct steward_err err;

	memset(&err, 0, sizeof(err));
	if (ops->open(f->db, &f->st, &err) != 0)
		fail_msg("open %s: %s: %s", f->db, err.code, err.message);
	assert_non_null(f->st);
	return f->st;
}

static void fx_close(struct fx *f)
{
	f->st->ops->close(f->st);
	f->st = NULL;
}

/* One integer from SQL on a connection of our own. */
static int64_t q64(const char *db, const char *sql)
{
	struct steward_err err = {0};
	struct db *c = NULL;
	struct db_stmt *s;
	int64_t v = INT64_MIN;
	char norm[2048];

	if (db_open(db, &c, &err))
		fail_msg("%s: %s", db, err.message);
	/* on PostgreSQL the outbox's documents have spaces SQLite does not
	 * write: the patterns below are written for the compact form */
	const char *from = strstr(sql, "FROM site_outbox ");
	if (pg_base[0] && from && strstr(sql, "body")) {
		snprintf(norm, sizeof(norm), "%.*sFROM (SELECT seq, link, class, kind,"
			 " regexp_replace(body, '\\s', '', 'g') AS body, created FROM site_outbox)"
			 " AS site_outbox %s",
			 (int)(from - sql), sql, from + strlen("FROM site_outbox "));
		sql = norm;
	}
	if (!(s = db_prepare(c, sql)))
		fail_msg("%s: %s", sql, db_errmsg(c));
	if (db_step(s) == DB_ROW)
		v = db_col_int64(s, 0);
	db_finalize(s);
	db_close(c);
	return v;
}

static void sql_exec(const char *db, const char *sql)
{
	struct steward_err err = {0};
	struct db *c = NULL;

	if (db_open(db, &c, &err))
		fail_msg("%s: %s", db, err.message);
	if (db_exec(c, sql))
		fail_msg("%s: %s", sql, db_errmsg(c));
	db_close(c);
}

/* The result of SQL run on a connection of our own: 0, or the store's
 * code for the failure (db_rc). */
static int sql_try(const char *db, const char *sql)
{
	struct steward_err err = {0};
	struct db *c = NULL;
	int rc;

	if (db_open(db, &c, &err))
		fail_msg("%s: %s", db, err.message);
	rc = db_exec(c, sql);
	db_close(c);
	return rc;
}

/* Make every insert into table fail, as a database refusing it would. */
static void inject_failure(const char *db, const char *table)
{
	char sql[512];

	if (pg_base[0])
		snprintf(sql, sizeof(sql),
			 "CREATE OR REPLACE FUNCTION injected() RETURNS trigger LANGUAGE plpgsql AS"
			 " $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;"
			 "CREATE TRIGGER injected BEFORE INSERT ON %s FOR EACH ROW"
			 " EXECUTE FUNCTION injected();",
			 table);
	else
		snprintf(sql, sizeof(sql),
			 "CREATE TRIGGER injected BEFORE INSERT ON %s"
			 " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
			 table);
	sql_exec(db, sql);
}

/* ---- builders ---------------------------------------------------------------- */

static void client_id_of(int n, char out[PROTO_CLIENT_ID_HEX + 1])
{
	snprintf(out, PROTO_CLIENT_ID_HEX + 1, "%032x", n);
}

static void make_client(struct store_client *c, int n)
{
	memset(c, 0, sizeof(*c));
	client_id_of(n, c->id);
	rand_bytes(c->public_key, sizeof(c->public_key));
	snprintf(c->hostname, sizeof(c->hostname), "host%d", n);
	snprintf(c->site, sizeof(c->site), "T01");
	c->state = CLIENT_PENDING;
	c->enrolled = NOW;
	snprintf(c->agent_version, sizeof(c->agent_version), "0.1.0");
	snprintf(c->protocol, sizeof(c->protocol), "1-1");
	snprintf(c->os_name, sizeof(c->os_name), "Debian GNU/Linux");
	snprintf(c->os_version, sizeof(c->os_version), "12");
	snprintf(c->addresses, sizeof(c->addresses), "[\"10.0.0.%d\"]", n % 250);
	snprintf(c->components, sizeof(c->components), "[]");
}

static void token_hash(const char *secret, uint8_t h[PROTO_HASH_BYTES])
{
	proto_hash(secret, strlen(secret), h);
}

static void add_token(struct store *st, const char *id, const char *secret, int64_t uses,
		      int64_t expires, const char *site)
{
	struct store_token t;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	token_hash(secret, t.hash);
	t.uses = uses;
	t.expires = expires;
	snprintf(t.site, sizeof(t.site), "%s", site ? site : "");
	t.created = NOW;
	snprintf(t.created_by, sizeof(t.created_by), "tester");
	assert_int_equal(st->ops->token_insert(st, &t), 0);
}

static int64_t token_used(const char *db, const char *id)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT used FROM enroll_tokens WHERE id='%s'", id);
	return q64(db, sql);
}

static int64_t client_rows(const char *db)
{
	return q64(db, "SELECT count(*) FROM clients");
}

/* Enroll client n with the token secret (NULL: without a token). */
static int enroll(struct store *st, int n, const char *secret, enum store_token_refusal *refusal,
		  struct store_client *out)
{
	struct store_client c;
	uint8_t h[PROTO_HASH_BYTES];
	char site[PROTO_SITE_CODE_LEN + 1];

	int rc;

	make_client(&c, n);
	if (secret)
		token_hash(secret, h);
	rc = st->ops->enroll(st, secret ? h : NULL, NOW, &c, refusal, site);
	if (out)
		*out = c; /* with the row id the store assigned */
	return rc;
}

static uint64_t last_seq_of(struct store *st, const char *id)
{
	struct store_client c;

	assert_int_equal(st->ops->client_get(st, id, &c), 0);
	return c.last_seq;
}

/* ---- migrations and opening ------------------------------------------------------ */

static void test_migrate_from_empty(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);

	SQLITE_ONLY();

	assert_int_equal(st->ops->schema_version(st), STORE_SCHEMA_VERSION);
	assert_string_equal(st->ops->name, "sqlite");
	assert_int_equal(q64(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN"
				    " ('clients','status_messages','enroll_tokens','admins','audit','settings')"),
			 6);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM clients"), 0);
	/* WAL is what makes an acknowledged commit durable and readers free */
	assert_int_equal(q64(f->db, "SELECT journal_mode='wal' FROM pragma_journal_mode"), 1);
}

static void test_reopen_idempotent(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	char v[32];

	assert_int_equal(st->ops->setting_set(st, "k", "v1"), 0);
	assert_int_equal(enroll(st, 1, NULL, &(enum store_token_refusal){0}, NULL), 0);
	fx_close(f);
	for (int i = 0; i < 3; i++) {
		st = fx_open(f, &store_sqlite_ops);
		assert_int_equal(st->ops->schema_version(st), STORE_SCHEMA_VERSION);
		assert_int_equal(st->ops->setting_get(st, "k", v, sizeof(v)), 0);
		assert_string_equal(v, "v1");
		fx_close(f);
	}
	assert_int_equal(client_rows(f->db), 1);
	assert_int_equal(q64(f->db, pg_base[0] ? "SELECT max(version) FROM steward_schema"
					       : "PRAGMA user_version"),
			 STORE_SCHEMA_VERSION);
}

/* Migration 13: the admin tokens of schema 12 become admins of role admin,
 * found by the same hash. */
static void test_migrate_admin_tokens(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	uint8_t h[PROTO_HASH_BYTES];
	char sql[1024], hex[2 * PROTO_HASH_BYTES + 1];
	struct store_admin a;

	SQLITE_ONLY();

	fx_close(f);
	token_hash("stw_old", h);
	hex_encode(h, sizeof(h), hex);
	snprintf(sql, sizeof(sql),
		 "DROP TABLE audit; DROP TABLE admins;"
		 "DROP TABLE rollouts; DROP TABLE rollout_members; DROP TABLE windows;"
		 "DROP TRIGGER down_advert; DROP TRIGGER down_advert_change;"
		 "ALTER TABLE clients DROP COLUMN link; ALTER TABLE adverts DROP COLUMN links;"
		 "ALTER TABLE adverts DROP COLUMN link_deadline;"
		 "CREATE TABLE admin_tokens (rid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
		 " hash BLOB NOT NULL UNIQUE, created INTEGER NOT NULL);"
		 "INSERT INTO admin_tokens(name, hash, created) VALUES('old', x'%s', %lld);"
		 "PRAGMA user_version=12;",
		 hex, (long long)NOW);
	sql_exec(f->db, sql);
	st = fx_open(f, &store_sqlite_ops);
	assert_int_equal(st->ops->schema_version(st), STORE_SCHEMA_VERSION);
	assert_int_equal(st->ops->admin_find(st, h, &a), 0);
	assert_string_equal(a.name, "old");
	assert_string_equal(a.role, "admin");
	assert_string_equal(a.created_by, "");
	assert_int_equal(a.created, NOW);
	assert_int_equal(a.revoked, 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM sqlite_master WHERE name='admin_tokens'"), 0);
}

static int count_rollout(const char *name, const char *doc, void *ctx)
{
	json_t *o = json_loads(doc, 0, NULL);

	assert_non_null(o);
	json_decref(o);
	assert_true(strcmp(name, "r1") == 0 || strcmp(name, "r2") == 0);
	(*(int *)ctx)++;
	return 0;
}

static int sum_members(const struct store_rollout_member *m, void *ctx)
{
	int64_t *sum = ctx;

	sum[0]++;
	sum[1] += m->wave + m->state;
	if (m->changed > sum[2])
		sum[2] = m->changed;
	if (strcmp(m->client, "00000000000000000000000000000001") == 0) {
		assert_string_equal(m->from, "1.0.0");
		assert_string_equal(m->reason, "disk full");
		assert_int_equal(m->state, 3);
	}
	return 0;
}

static int max_changed(const struct store_rollout_member *m, void *ctx)
{
	int64_t *max = ctx;

	if (m->changed > *max)
		*max = m->changed;
	return 0;
}

static int count_window(const struct store_window *w, void *ctx)
{
	assert_string_equal(w->weekly, "sat 22:00");
	assert_int_equal(w->duration, 21600);
	(*(int *)ctx)++;
	return 0;
}

/* Rollouts: documents replaced whole, members upserted in batches, each
 * batch numbered so that a reader takes only what changed since its last
 * read, across a deletion too; windows: unique names, deleted by name. */
static void test_rollout_ops(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_rollout_member m[3];
	struct store_window w;
	int64_t sum[3] = {0, 0, 0}, first, second;
	int n = 0;

	assert_int_equal(st->ops->rollout_put(st, "r1", "{\"state\":\"created\"}"), 0);
	assert_int_equal(st->ops->rollout_put(st, "r1", "{\"state\":\"running\"}"), 0);
	assert_int_equal(st->ops->rollout_put(st, "r2", "{}"), 0);
	assert_int_equal(st->ops->rollout_list(st, count_rollout, &n), 0);
	assert_int_equal(n, 2);
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 3; i++) {
		snprintf(m[i].client, sizeof(m[i].client), "%032d", i + 1);
		m[i].wave = i;
	}
	snprintf(m[0].from, sizeof(m[0].from), "1.0.0");
	assert_int_equal(st->ops->rollout_members_put(st, "r1", m, 3), 0);
	first = 0;
	assert_int_equal(st->ops->rollout_members_list(st, "r1", -1, max_changed, &first), 0);
	assert_true(first > 0);
	m[0].state = 3;
	snprintf(m[0].reason, sizeof(m[0].reason), "disk full");
	assert_int_equal(st->ops->rollout_members_put(st, "r1", m, 1), 0);
	memset(sum, 0, sizeof(sum));
	assert_int_equal(st->ops->rollout_members_list(st, "r1", -1, sum_members, sum), 0);
	assert_int_equal(sum[0], 3);
	assert_int_equal(sum[1], 0 + 1 + 2 + 3);
	second = sum[2];
	assert_true(second > first);
	/* since the first put: only the member the second wrote */
	memset(sum, 0, sizeof(sum));
	assert_int_equal(st->ops->rollout_members_list(st, "r1", first, sum_members, sum), 0);
	assert_int_equal(sum[0], 1);
	assert_int_equal(sum[1], 0 + 3);
	memset(sum, 0, sizeof(sum));
	assert_int_equal(st->ops->rollout_members_list(st, "r1", second, sum_members, sum), 0);
	assert_int_equal(sum[0], 0);
	assert_int_equal(st->ops->rollout_members_list(st, "r2", -1, sum_members, sum), 0);
	assert_int_equal(sum[0], 0);
	assert_int_equal(st->ops->rollout_members_put(st, "r1", m, 0), 0); /* nothing: no number */
	assert_int_equal(st->ops->rollout_delete(st, "r1"), 0);
	assert_int_equal(st->ops->rollout_delete(st, "r1"), -STEWARD_ENOTFOUND);
	assert_int_equal(st->ops->rollout_members_list(st, "r1", -1, sum_members, sum), 0);
	assert_int_equal(sum[0], 0);
	/* a rollout made again under the name: its numbers go on from the
	 * deleted one's, so a reader that held that one misses nothing */
	assert_int_equal(st->ops->rollout_members_put(st, "r1", &m[1], 1), 0);
	assert_int_equal(st->ops->rollout_members_list(st, "r1", second, sum_members, sum), 0);
	assert_int_equal(sum[0], 1);
	assert_int_equal(sum[2], second + 1);
	memset(&w, 0, sizeof(w));
	snprintf(w.name, sizeof(w.name), "sat-night");
	snprintf(w.collection, sizeof(w.collection), "servers");
	snprintf(w.weekly, sizeof(w.weekly), "sat 22:00");
	w.duration = 21600;
	assert_int_equal(st->ops->window_insert(st, &w), 0);
	assert_int_equal(st->ops->window_insert(st, &w), -STEWARD_EEXIST);
	n = 0;
	assert_int_equal(st->ops->window_list(st, count_window, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(st->ops->window_delete(st, "sat-night"), 0);
	assert_int_equal(st->ops->window_delete(st, "sat-night"), -STEWARD_ENOTFOUND);
	n = 0;
	assert_int_equal(st->ops->window_list(st, count_window, &n), 0);
	assert_int_equal(n, 0);
}

static void test_schema_too_new(void **state)
{
	struct fx *f = *state;
	struct steward_err err;
	struct store *st = (struct store *)1;
	char want[64];

	SQLITE_ONLY();

	sql_exec(f->db, "CREATE TABLE future(x); PRAGMA user_version=99;");
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_sqlite_ops.open(f->db, &st, &err), -STEWARD_ESCHEMA);
	assert_null(st);
	assert_string_equal(err.code, "schema_too_new");
	assert_contains(err.message, "schema version 99");
	snprintf(want, sizeof(want), "supports up to %d", STORE_SCHEMA_VERSION);
	assert_contains(err.message, want);
	assert_contains(err.message, proto_self_version());
	assert_true(err.remedy[0] != '\0');
	/* refused untouched: not migrated, and not even switched to WAL */
	assert_int_equal(q64(f->db, "PRAGMA user_version"), 99);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM sqlite_master WHERE name='clients'"), 0);
	assert_int_equal(q64(f->db, "SELECT journal_mode='delete' FROM pragma_journal_mode"), 1);
	/* and the err argument may be NULL */
	assert_int_equal(store_sqlite_ops.open(f->db, &st, NULL), -STEWARD_ESCHEMA);
}

static void test_not_a_database(void **state)
{
	struct fx *f = *state;
	struct steward_err err;
	struct store *st = NULL;

	SQLITE_ONLY();

	assert_int_equal(file_write_atomic(f->db, "this is not a database, not at all. padding...",
					   46, 0600),
			 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_sqlite_ops.open(f->db, &st, &err), -STEWARD_ESTORE);
	assert_null(st);
	assert_true(err.message[0] != '\0');
	/* a directory that does not exist */
	snprintf(f->db, sizeof(f->db), "%s/missing/steward.db", f->dir);
	assert_int_equal(store_sqlite_ops.open(f->db, &st, &err), -STEWARD_ESTORE);
	assert_string_equal(err.code, "store_open_failed");
	snprintf(f->db, sizeof(f->db), "%s/steward.db", f->dir);
}

struct open_race {
	const char *path;
	int rc;
	struct steward_err err;
};

static void *open_thread(void *arg)
{
	struct open_race *o = arg;
	struct store *st = NULL;

	o->rc = store_sqlite_ops.open(o->path, &st, &o->err);
	if (st)
		st->ops->close(st);
	return NULL;
}

/* Several processes (here: threads with their own connections) opening a
 * database that needs migrating at once must all succeed, the migration
 * running once. Each file is created empty in WAL mode first: switching a
 * brand-new file to WAL is a separate race (PRAGMA journal_mode can fail
 * with "database is locked" without waiting), not what this test is about. */
static void test_concurrent_first_open(void **state)
{
	struct fx *f = *state;
	pthread_t t[4];
	struct open_race o[4];

	SQLITE_ONLY();

	for (int round = 0; round < 20; round++) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/race%d.db", f->dir, round);
		sql_exec(path, "PRAGMA journal_mode=WAL;");
		for (int i = 0; i < 4; i++) {
			memset(&o[i], 0, sizeof(o[i]));
			o[i].path = path;
			assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
		}
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		for (int i = 0; i < 4; i++)
			if (o[i].rc != 0)
				fail_msg("round %d opener %d: %s: %s", round, i, o[i].err.code,
					 o[i].err.message);
		assert_int_equal(q64(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	}
}

/* ---- enrollment ------------------------------------------------------------------ */

static void test_enroll_token_uses(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r = TOKEN_UNKNOWN;
	struct store_client c, got;

	add_token(st, "00000000000000aa", "secret-a", 2, NOW + 3600, NULL);
	assert_int_equal(token_used(f->db, "00000000000000aa"), 0);

	assert_int_equal(enroll(st, 1, "secret-a", &r, &c), 0);
	assert_int_equal(r, TOKEN_OK);
	assert_int_equal(token_used(f->db, "00000000000000aa"), 1);
	assert_int_equal(st->ops->client_get(st, c.id, &got), 0);
	assert_true(c.rid > 0); /* enroll hands back the row id */
	assert_int_equal(got.rid, c.rid);
	assert_string_equal(got.hostname, "host1");
	assert_memory_equal(got.public_key, c.public_key, PROTO_PK_BYTES);
	assert_string_equal(got.addresses, c.addresses);
	assert_int_equal(got.state, CLIENT_PENDING);
	assert_int_equal(got.enrolled, NOW);
	assert_int_equal(got.last_seen, 0);

	assert_int_equal(enroll(st, 2, "secret-a", &r, NULL), 0);
	assert_int_equal(r, TOKEN_OK);
	assert_int_equal(token_used(f->db, "00000000000000aa"), 2);

	/* used up: refused with a reason, rc 0, no client row, count unchanged */
	assert_int_equal(enroll(st, 3, "secret-a", &r, &c), 0);
	assert_int_equal(r, TOKEN_USED_UP);
	assert_int_equal(token_used(f->db, "00000000000000aa"), 2);
	assert_int_equal(st->ops->client_get(st, c.id, &got), -STEWARD_ENOTFOUND);
	assert_int_equal(client_rows(f->db), 2);
}

static void test_enroll_refusal_reasons(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r;
	uint8_t h[PROTO_HASH_BYTES];
	struct store_client c;
	char site[PROTO_SITE_CODE_LEN + 1];

	add_token(st, "0000000000000001", "expired", 5, NOW, NULL);       /* expires == now */
	add_token(st, "0000000000000002", "revoked", 5, NOW + 60, NULL);
	add_token(st, "0000000000000003", "both", 5, NOW - 60, NULL);     /* revoked and expired */
	add_token(st, "0000000000000004", "pinned", 5, NOW + 60, "P01");
	add_token(st, "0000000000000005", "zero", 0, NOW + 60, NULL);
	assert_int_equal(st->ops->token_revoke(st, "0000000000000002"), 0);
	assert_int_equal(st->ops->token_revoke(st, "0000000000000003"), 0);

	r = TOKEN_OK;
	assert_int_equal(enroll(st, 1, "never-issued", &r, NULL), 0);
	assert_int_equal(r, TOKEN_UNKNOWN);
	assert_int_equal(enroll(st, 2, "expired", &r, NULL), 0);
	assert_int_equal(r, TOKEN_EXPIRED);
	assert_int_equal(enroll(st, 3, "revoked", &r, NULL), 0);
	assert_int_equal(r, TOKEN_REVOKED);
	assert_int_equal(enroll(st, 4, "both", &r, NULL), 0);
	assert_int_equal(r, TOKEN_REVOKED); /* revocation is the reason that matters */
	assert_int_equal(enroll(st, 5, "zero", &r, NULL), 0);
	assert_int_equal(r, TOKEN_USED_UP);
	/* no refused enrollment left a row or used a token */
	assert_int_equal(client_rows(f->db), 0);
	assert_int_equal(q64(f->db, "SELECT sum(used) FROM enroll_tokens"), 0);

	/* a pinned token reports its site */
	make_client(&c, 6);
	token_hash("pinned", h);
	memset(site, 'x', sizeof(site));
	assert_int_equal(st->ops->enroll(st, h, NOW, &c, &r, site), 0);
	assert_int_equal(r, TOKEN_OK);
	assert_string_equal(site, "P01");
	/* an unpinned one reports "" */
	add_token(st, "0000000000000006", "free", 5, NOW + 60, NULL);
	make_client(&c, 7);
	token_hash("free", h);
	memset(site, 'x', sizeof(site));
	assert_int_equal(st->ops->enroll(st, h, NOW, &c, &r, site), 0);
	assert_string_equal(site, "");
	assert_int_equal(client_rows(f->db), 2);
}

static void test_enroll_without_token(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r = TOKEN_UNKNOWN;
	struct store_client c, got;

	assert_int_equal(enroll(st, 9, NULL, &r, &c), 0);
	assert_int_equal(r, TOKEN_OK);
	assert_int_equal(st->ops->client_get_by_key(st, c.public_key, &got), 0);
	assert_string_equal(got.id, c.id);
}

static void test_enroll_duplicates(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r;
	struct store_client a, b;
	uint8_t h[PROTO_HASH_BYTES];
	char site[4];

	add_token(st, "00000000000000bb", "tok", 10, NOW + 60, NULL);
	assert_int_equal(enroll(st, 1, "tok", &r, &a), 0);
	assert_int_equal(token_used(f->db, "00000000000000bb"), 1);
	/* same public key, new id: EEXIST, and the token use is rolled back */
	make_client(&b, 2);
	memcpy(b.public_key, a.public_key, PROTO_PK_BYTES);
	token_hash("tok", h);
	assert_int_equal(st->ops->enroll(st, h, NOW, &b, &r, site), -STEWARD_EEXIST);
	assert_int_equal(token_used(f->db, "00000000000000bb"), 1);
	assert_int_equal(client_rows(f->db), 1);
	/* same id, new key: EEXIST too */
	make_client(&b, 1);
	assert_int_equal(st->ops->enroll(st, h, NOW, &b, &r, site), -STEWARD_EEXIST);
	assert_int_equal(token_used(f->db, "00000000000000bb"), 1);
	/* the connection is usable afterwards (the transaction was closed) */
	assert_int_equal(enroll(st, 3, "tok", &r, NULL), 0);
	assert_int_equal(token_used(f->db, "00000000000000bb"), 2);
}

/* A failure that is not a duplicate must not be reported as one: the
 * enrollment route turns EEXIST into "409 already_enrolled, retry". */
static void test_enroll_other_constraint_is_not_eexist(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r;
	struct store_client c;
	uint8_t h[PROTO_HASH_BYTES];
	char site[4];

	add_token(st, "00000000000000cc", "tok", 10, NOW + 60, NULL);
	make_client(&c, 1);
	c.state = (enum store_client_state)7; /* fails the CHECK on state */
	token_hash("tok", h);
	assert_int_equal(st->ops->enroll(st, h, NOW, &c, &r, site), -STEWARD_ESTORE);
	assert_int_equal(token_used(f->db, "00000000000000cc"), 0);
	assert_int_equal(client_rows(f->db), 0);
}

/* A real database failure inside the enrollment transaction, after the
 * token's use was counted: the whole transaction rolls back. */
static void test_enroll_failure_in_transaction(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r;

	add_token(st, "00000000000000dd", "tok", 10, NOW + 60, NULL);
	inject_failure(f->db, "clients");
	assert_int_equal(enroll(st, 1, "tok", &r, NULL), -STEWARD_ESTORE);
	assert_int_equal(token_used(f->db, "00000000000000dd"), 0);
	assert_int_equal(client_rows(f->db), 0);
	sql_exec(f->db, pg_base[0] ? "DROP TRIGGER injected ON clients" : "DROP TRIGGER injected");
	assert_int_equal(enroll(st, 1, "tok", &r, NULL), 0);
	assert_int_equal(r, TOKEN_OK);
	assert_int_equal(token_used(f->db, "00000000000000dd"), 1);
}

/* Through the seam: an enrollment the store fails leaves the token alone,
 * and the next enrollment works. */
static void test_enroll_faulty(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_faulty_ops);
	enum store_token_refusal r = TOKEN_UNKNOWN;

	assert_string_equal(st->ops->name, "faulty");
	add_token(st, "00000000000000ee", "tok", 10, NOW + 60, NULL);
	store_faulty_fail_nth(st, FAULTY_ENROLL, 2, -STEWARD_ESTORE);
	assert_int_equal(enroll(st, 1, "tok", &r, NULL), 0);
	assert_int_equal(enroll(st, 2, "tok", &r, NULL), -STEWARD_ESTORE);
	assert_int_equal(r, TOKEN_OK);
	assert_int_equal(token_used(f->db, "00000000000000ee"), 1);
	assert_int_equal(client_rows(f->db), 1);
	assert_int_equal(enroll(st, 3, "tok", &r, NULL), 0);
	assert_int_equal(token_used(f->db, "00000000000000ee"), 2);
	assert_int_equal(store_faulty_calls(st, FAULTY_ENROLL), 3);
	assert_int_equal(store_faulty_failures(st, FAULTY_ENROLL), 1);
}

/* ---- clients ---------------------------------------------------------------------- */

struct list_acc {
	int n;
	char ids[16][PROTO_CLIENT_ID_HEX + 1];
	int stop_after;
};

static int list_cb(const struct store_client *c, void *ctx)
{
	struct list_acc *a = ctx;

	if (a->n < 16)
		snprintf(a->ids[a->n], sizeof(a->ids[0]), "%s", c->id);
	a->n++;
	return a->stop_after && a->n >= a->stop_after ? 42 : 0;
}

static void test_clients(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r;
	struct store_client c[4], got;
	struct list_acc acc;
	int64_t counts[4];
	char id[PROTO_CLIENT_ID_HEX + 1];

	for (int i = 0; i < 4; i++)
		assert_int_equal(enroll(st, i + 1, NULL, &r, &c[i]), 0);

	client_id_of(99, id);
	assert_int_equal(st->ops->client_get(st, id, &got), -STEWARD_ENOTFOUND);
	assert_int_equal(st->ops->client_set_state(st, id, CLIENT_APPROVED, NULL, 0),
			 -STEWARD_ENOTFOUND);
	{
		uint8_t pk[PROTO_PK_BYTES] = {0};
		assert_int_equal(st->ops->client_get_by_key(st, pk, &got), -STEWARD_ENOTFOUND);
	}

	assert_int_equal(st->ops->client_set_state(st, c[0].id, CLIENT_APPROVED, NULL, 0), 0);
	assert_int_equal(st->ops->client_set_state(st, c[1].id, CLIENT_BLOCKED, "stolen laptop", 5),
			 0);
	assert_int_equal(st->ops->client_set_state(st, c[2].id, CLIENT_DELETED, "", 9), 0);

	assert_int_equal(st->ops->client_get_by_key(st, c[1].public_key, &got), 0);
	assert_string_equal(got.id, c[1].id);
	assert_int_equal(got.state, CLIENT_BLOCKED);
	assert_string_equal(got.block_reason, "stolen laptop");
	assert_int_equal(got.min_epoch, 5);
	/* min_epoch never goes down: a session killed stays dead */
	assert_int_equal(st->ops->client_set_state(st, c[1].id, CLIENT_APPROVED, NULL, 2), 0);
	assert_int_equal(st->ops->client_get(st, c[1].id, &got), 0);
	assert_int_equal(got.state, CLIENT_APPROVED);
	assert_string_equal(got.block_reason, "");
	assert_int_equal(got.min_epoch, 5);
	/* a deleted client's key stays known */
	assert_int_equal(st->ops->client_get_by_key(st, c[2].public_key, &got), 0);
	assert_int_equal(got.state, CLIENT_DELETED);

	memset(&acc, 0, sizeof(acc));
	assert_int_equal(st->ops->client_list(st, false, list_cb, &acc), 0);
	assert_int_equal(acc.n, 3);
	assert_string_equal(acc.ids[0], c[0].id); /* in enrollment order */
	assert_string_equal(acc.ids[1], c[1].id);
	assert_string_equal(acc.ids[2], c[3].id);
	memset(&acc, 0, sizeof(acc));
	assert_int_equal(st->ops->client_list(st, true, list_cb, &acc), 0);
	assert_int_equal(acc.n, 4);
	assert_string_equal(acc.ids[2], c[2].id);
	/* a callback's nonzero return stops the walk and is passed back */
	memset(&acc, 0, sizeof(acc));
	acc.stop_after = 2;
	assert_int_equal(st->ops->client_list(st, true, list_cb, &acc), 42);
	assert_int_equal(acc.n, 2);

	assert_int_equal(st->ops->client_count(st, counts), 0);
	assert_int_equal(counts[CLIENT_PENDING], 1);
	assert_int_equal(counts[CLIENT_APPROVED], 2);
	assert_int_equal(counts[CLIENT_BLOCKED], 0);
	assert_int_equal(counts[CLIENT_DELETED], 1);
}

static void test_client_state_names(void **state)
{
	enum store_client_state s;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(store_client_state_parse(
				     store_client_state_name((enum store_client_state)i), &s),
				 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(store_client_state_name(CLIENT_BLOCKED), "blocked");
	assert_string_equal(store_client_state_name((enum store_client_state)9), "unknown");
	assert_int_equal(store_client_state_parse("Approved", &s), -STEWARD_EINVAL);
	assert_int_equal(store_client_state_parse(NULL, &s), -STEWARD_EINVAL);
}

/* ---- tokens, admins, settings ---------------------------------------------------- */

struct tok_acc {
	int n;
	struct store_token t[4];
};

static int tok_cb(const struct store_token *t, void *ctx)
{
	struct tok_acc *a = ctx;

	if (a->n < 4)
		a->t[a->n] = *t;
	a->n++;
	return 0;
}

static void test_tokens(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct tok_acc acc;
	struct store_token dup;

	add_token(st, "0000000000000001", "one", 3, NOW + 60, "ABC");
	add_token(st, "0000000000000002", "two", 1, NOW + 120, NULL);
	memset(&acc, 0, sizeof(acc));
	assert_int_equal(st->ops->token_list(st, tok_cb, &acc), 0);
	assert_int_equal(acc.n, 2);
	assert_string_equal(acc.t[0].id, "0000000000000001");
	assert_int_equal(acc.t[0].uses, 3);
	assert_int_equal(acc.t[0].used, 0);
	assert_int_equal(acc.t[0].expires, NOW + 60);
	assert_string_equal(acc.t[0].site, "ABC");
	assert_false(acc.t[0].revoked);
	assert_string_equal(acc.t[0].created_by, "tester");
	assert_string_equal(acc.t[1].site, "");

	assert_int_equal(st->ops->token_revoke(st, "0000000000000002"), 0);
	assert_int_equal(st->ops->token_revoke(st, "00000000000000ff"), -STEWARD_ENOTFOUND);
	memset(&acc, 0, sizeof(acc));
	assert_int_equal(st->ops->token_list(st, tok_cb, &acc), 0);
	assert_true(acc.t[1].revoked);

	/* the same id or the same secret twice is refused */
	memset(&dup, 0, sizeof(dup));
	snprintf(dup.id, sizeof(dup.id), "0000000000000001");
	token_hash("fresh", dup.hash);
	assert_int_not_equal(st->ops->token_insert(st, &dup), 0);
	snprintf(dup.id, sizeof(dup.id), "0000000000000009");
	token_hash("one", dup.hash);
	assert_int_not_equal(st->ops->token_insert(st, &dup), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM enroll_tokens"), 2);
}

static void admin_of(struct store_admin *a, const char *name, const char *role)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->role, sizeof(a->role), "%s", role);
	snprintf(a->created_by, sizeof(a->created_by), "admin");
	a->created = NOW;
}

static int count_admin(const struct store_admin *a, void *ctx)
{
	(void)a;
	(*(int *)ctx)++;
	return 0;
}

static void test_admin_tokens(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	uint8_t h1[PROTO_HASH_BYTES], h2[PROTO_HASH_BYTES], h3[PROTO_HASH_BYTES];
	struct store_admin a, got;
	int64_t n = -1;
	int listed = 0;

	token_hash("stw_one", h1);
	token_hash("stw_two", h2);
	token_hash("stw_three", h3);
	assert_int_equal(st->ops->admin_count(st, &n), 0);
	assert_int_equal(n, 0);
	admin_of(&a, "admin", "admin");
	assert_int_equal(st->ops->admin_insert(st, &a, h1), 0);
	admin_of(&a, "ops", "operator");
	assert_int_equal(st->ops->admin_insert(st, &a, h2), 0);
	admin_of(&a, "admin", "read");
	assert_int_equal(st->ops->admin_insert(st, &a, h3), -STEWARD_EEXIST);
	admin_of(&a, "other", "read");
	assert_int_equal(st->ops->admin_insert(st, &a, h1), -STEWARD_EEXIST);
	admin_of(&a, "bad", "root");
	assert_int_equal(st->ops->admin_insert(st, &a, h3), -STEWARD_EINVAL);
	assert_int_equal(st->ops->admin_count(st, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(st->ops->admin_find(st, h2, &got), 0);
	assert_string_equal(got.name, "ops");
	assert_string_equal(got.role, "operator");
	assert_string_equal(got.created_by, "admin");
	assert_int_equal(got.revoked, 0);
	assert_int_equal(st->ops->admin_find(st, h3, &got), -STEWARD_ENOTFOUND);
	/* a revoked token is still found, so that the site can say so */
	assert_int_equal(st->ops->admin_revoke(st, "ops", NOW + 5), 0);
	assert_int_equal(st->ops->admin_revoke(st, "ops", NOW + 9), 0);
	assert_int_equal(st->ops->admin_revoke(st, "nobody", NOW), -STEWARD_ENOTFOUND);
	assert_int_equal(st->ops->admin_find(st, h2, &got), 0);
	assert_int_equal(got.revoked, NOW + 5);
	assert_int_equal(st->ops->admin_list(st, count_admin, &listed), 0);
	assert_int_equal(listed, 2);
}

static int keep_audit(const struct store_audit *e, void *ctx)
{
	*(struct store_audit *)ctx = *e;
	return 0;
}

/* The log is appended to in order and refuses changes through SQL. */
static void test_audit_log(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_audit e, got;
	struct store_audit_filter flt = {.who = ""};

	assert_int_equal(st->ops->audit_last(st, &got), -STEWARD_ENOTFOUND);
	memset(&e, 0, sizeof(e));
	e.id = 1;
	e.time = NOW;
	snprintf(e.who, sizeof(e.who), "admin");
	snprintf(e.role, sizeof(e.role), "admin");
	snprintf(e.route, sizeof(e.route), "clients_block");
	snprintf(e.method, sizeof(e.method), "POST");
	snprintf(e.path, sizeof(e.path), "/api/v1/clients/x/block");
	e.status = 200;
	snprintf(e.hash, sizeof(e.hash), "%064d", 1);
	assert_int_equal(st->ops->audit_append(st, &e), 0);
	assert_int_equal(st->ops->audit_append(st, &e), -STEWARD_EEXIST);
	e.id = 2;
	e.time = NOW + 10;
	snprintf(e.who, sizeof(e.who), "ops");
	snprintf(e.prev, sizeof(e.prev), "%064d", 1);
	assert_int_equal(st->ops->audit_append(st, &e), 0);
	assert_int_equal(st->ops->audit_last(st, &got), 0);
	assert_int_equal(got.id, 2);
	assert_string_equal(got.prev, e.prev);
	flt.who = "admin";
	assert_int_equal(st->ops->audit_list(st, &flt, keep_audit, &got), 0);
	assert_int_equal(got.id, 1);
	flt.who = "";
	flt.since = NOW + 1;
	assert_int_equal(st->ops->audit_list(st, &flt, keep_audit, &got), 0);
	assert_int_equal(got.id, 2);
	/* append-only through SQL */
	assert_int_equal(q64(f->db, "SELECT count(*) FROM audit"), 2);
	assert_int_not_equal(sql_try(f->db, "DELETE FROM audit WHERE id=1"), 0);
	assert_int_not_equal(sql_try(f->db, "UPDATE audit SET who='x' WHERE id=1"), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM audit WHERE who='admin'"), 1);
}

static void test_settings(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	char v[8];

	assert_int_equal(st->ops->setting_get(st, "rollout.paused", v, sizeof(v)),
			 -STEWARD_ENOTFOUND);
	assert_int_equal(st->ops->setting_set(st, "rollout.paused", "true"), 0);
	assert_int_equal(st->ops->setting_get(st, "rollout.paused", v, sizeof(v)), 0);
	assert_string_equal(v, "true");
	assert_int_equal(st->ops->setting_set(st, "rollout.paused", "false"), 0);
	assert_int_equal(st->ops->setting_get(st, "rollout.paused", v, sizeof(v)), 0);
	assert_string_equal(v, "false");
	assert_int_equal(q64(f->db, "SELECT count(*) FROM settings"), 1);
	/* a value longer than the caller's buffer is cut, still terminated */
	assert_int_equal(st->ops->setting_set(st, "long", "0123456789"), 0);
	assert_int_equal(st->ops->setting_get(st, "long", v, sizeof(v)), 0);
	assert_string_equal(v, "0123456");
}

/* ---- check-ins -------------------------------------------------------------------- */

static void checkin_rec(struct store_checkin *rec, const struct store_client *c, int64_t t,
			uint64_t seq, const char *status)
{
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->id, sizeof(rec->id), "%s", c->id);
	rec->rid = c->rid;
	rec->details = true;
	rec->time = t;
	rec->seq = seq;
	snprintf(rec->agent_version, sizeof(rec->agent_version), "0.2.0");
	snprintf(rec->protocol, sizeof(rec->protocol), "1-2");
	rec->components = strdup("[{\"name\":\"base\",\"version\":\"0.2.0\"}]");
	rec->status = status ? strdup(status) : NULL;
	assert_non_null(rec->components);
}

static void checkin_rec_free(struct store_checkin *rec)
{
	free(rec->components);
	free(rec->status);
	rec->components = rec->status = NULL;
}

/* What a listener heard within ms: "kind" or "kind:id", one per line. */
struct heard {
	char text[1024];
	int n;
};

static void on_heard(const char *kind, const char *id, void *ctx)
{
	struct heard *h = ctx;
	size_t len = strlen(h->text);

	snprintf(h->text + len, sizeof(h->text) - len, "%s%s%s\n", kind, id ? ":" : "",
		 id ? id : "");
	h->n++;
}

static void listen_for(struct store_listener *l, int ms, struct heard *h)
{
	memset(h, 0, sizeof(*h));
	for (int t = 0; t < ms; t += 50)
		assert_true(store_listener_wait(l, 50, on_heard, h) >= 0);
}

/* Several stewardd add to one outbox at once on PostgreSQL, and a row is
 * seen only at COMMIT: a writer draws its seq only once any other that
 * added to the outbox is done, so the sender never sends a seq above one
 * still to come (pg_schema.c, pg_outbox_in_order). Before, the second
 * writer drew the next seq at once and committed first. */
static void test_outbox_commit_order(void **state)
{
	struct fx *f = *state;
	struct steward_err err = {0};
	struct db *a = NULL, *b = NULL;
	const char *add = "INSERT INTO site_outbox(link, class, kind, body, created)"
			  " VALUES ('CEN', 1, 'clients', '{}', 1)";

	if (!pg_base[0])
		skip(); /* SQLite: one writer, which commits in the order of its seqs */
	fx_open(f, &store_sqlite_ops); /* makes the trigger */
	fx_close(f);
	assert_int_equal(db_open(f->db, &a, &err), 0);
	assert_int_equal(db_open(f->db, &b, &err), 0);
	assert_int_equal(db_begin(a), 0);
	assert_int_equal(db_exec(a, add), 0); /* a drew seq 1, not committed */
	assert_int_equal(db_exec(b, "SET lock_timeout = '300ms'"), 0);
	assert_int_not_equal(db_exec(b, add), 0); /* b waits for a (here: 300 ms) */
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox"), 0);
	assert_int_equal(db_commit(a), 0);
	assert_int_equal(db_exec(b, add), 0); /* a done: b goes on */
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox"), 2);
	/* a store opened again finds the trigger made and makes nothing */
	fx_open(f, &store_sqlite_ops);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM pg_trigger WHERE tgname = '"
				    PG_OUTBOX_IN_ORDER "'"),
			 1);
	db_close(a);
	db_close(b);
}

/* The changes several management points must agree on are announced at
 * COMMIT on PostgreSQL (docs/internals/management-points.md), a write
 * that fails announces nothing, and SQLite has no listener. */
static void test_changes_announced(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct steward_err err = {.code = ""};
	struct store_listener *l = NULL;
	enum store_token_refusal r;
	struct store_client a;
	struct store_package pk = {.bytes = 10, .files = 1, .created = NOW};
	struct store_blob blob = {.size = 10};
	char want[128];
	struct heard h;

	if (!pg_base[0]) {
		assert_int_equal(store_listener_open(f->db, &l, &err), -STEWARD_EINVAL);
		assert_null(l);
		return;
	}
	assert_int_equal(store_listener_open(f->db, &l, &err), 0);
	assert_int_equal(enroll(st, 1, NULL, &r, &a), 0);
	listen_for(l, 300, &h);
	snprintf(want, sizeof(want), "client:%s\n", a.id);
	assert_string_equal(h.text, want);

	assert_int_equal(st->ops->client_set_state(st, a.id, CLIENT_BLOCKED, "lost", NOW), 0);
	listen_for(l, 300, &h);
	assert_string_equal(h.text, want);
	/* no such client: nothing written, nothing announced */
	assert_int_equal(st->ops->client_set_state(st, "00000000000000000000000000000000",
						   CLIENT_BLOCKED, "", NOW),
			 -STEWARD_ENOTFOUND);
	listen_for(l, 300, &h);
	assert_int_equal(h.n, 0);

	snprintf(pk.name, sizeof(pk.name), "tool");
	snprintf(pk.version, sizeof(pk.version), "1.0");
	memset(pk.manifest, 'm', 64);
	memset(blob.hash, 'a', 64);
	assert_int_equal(st->ops->package_create(st, &pk, &blob, 1), 0);
	listen_for(l, 300, &h);
	assert_string_equal(h.text, "swdist\n");
	/* the same again: refused, rolled back, not announced */
	assert_int_equal(st->ops->package_create(st, &pk, &blob, 1), -STEWARD_EEXIST);
	listen_for(l, 300, &h);
	assert_int_equal(h.n, 0);
	assert_int_equal(st->ops->package_delete(st, pk.rid), 0);
	listen_for(l, 300, &h);
	assert_string_equal(h.text, "swdist\n");

	/* collections, windows, rollouts, settings, facts */
	{
		struct store_collection col;
		struct store_window w;
		struct store_rollout_member m = {.wave = 0, .state = 1};
		struct store_inventory_put p;

		memset(&col, 0, sizeof(col));
		snprintf(col.name, sizeof(col.name), "servers");
		col.created = NOW;
		assert_int_equal(st->ops->collection_create(st, &col), 0);
		listen_for(l, 300, &h);
		assert_string_equal(h.text, "collections\n");
		assert_int_equal(st->ops->collection_create(st, &col), -STEWARD_EEXIST);
		listen_for(l, 300, &h);
		assert_int_equal(h.n, 0);

		memset(&w, 0, sizeof(w));
		snprintf(w.name, sizeof(w.name), "nightly");
		snprintf(w.collection, sizeof(w.collection), "servers");
		snprintf(w.weekly, sizeof(w.weekly), "daily 03:00");
		w.duration = 3600;
		assert_int_equal(st->ops->window_insert(st, &w), 0);
		assert_int_equal(st->ops->window_insert(st, &w), -STEWARD_EEXIST);
		assert_int_equal(st->ops->window_delete(st, "nightly"), 0);
		assert_int_equal(st->ops->window_delete(st, "nightly"), -STEWARD_ENOTFOUND);
		listen_for(l, 300, &h);
		assert_string_equal(h.text, "windows\nwindows\n");

		assert_int_equal(st->ops->rollout_put(st, "r1", "{}"), 0);
		snprintf(m.client, sizeof(m.client), "%s", a.id);
		assert_int_equal(st->ops->rollout_members_put(st, "r1", &m, 1), 0);
		assert_int_equal(st->ops->rollout_delete(st, "r1"), 0);
		assert_int_equal(st->ops->rollout_delete(st, "r1"), -STEWARD_ENOTFOUND);
		listen_for(l, 300, &h);
		assert_string_equal(h.text, "rollout:r1\nrollout:r1\nrollout:r1\n");

		/* a key no stewardd holds in memory, of other characters: not */
		assert_int_equal(st->ops->setting_set(st, "adverts_paused", "1"), 0);
		assert_int_equal(st->ops->setting_set(st, "release_deltas:1.0", "x"), 0);
		listen_for(l, 300, &h);
		assert_string_equal(h.text, "setting:adverts_paused\n");

		memset(&p, 0, sizeof(p));
		p.time = NOW;
		p.expect_full_hash = "";
		memset(p.full_hash, 'a', 64);
		for (int i = 0; i < STORE_INV_CLASSES; i++) {
			memset(p.hashes[i], 'a' + i, 64);
			p.changes[i] = "{\"initial\":true}";
		}
		p.classes[0] = "{\"cpu\":1}";
		p.classes[1] = "{\"os\":1}";
		p.classes[2] = "{\"packages\":[]}";
		assert_int_equal(st->ops->inventory_put(st, a.id, &p), 0);
		listen_for(l, 300, &h);
		snprintf(want, sizeof(want), "facts:%s\n", a.id);
		assert_string_equal(h.text, want);
	}
	store_listener_close(l);
}

/* A server that lets the listener connect and then never answers its
 * LISTEN (a stalled server or link): the open gives up within its bound
 * instead of holding the changes thread, and stewardd's stop, for ever.
 * The server is a few lines of PostgreSQL's protocol on loopback: refuse
 * encryption, accept the start-up with "authentication ok" and "ready",
 * then read and keep silent. */
struct mute_pg {
	int lfd;
	_Atomic int answered; /* the start-ups answered */
	bool again;	      /* serve the next connection too, until lfd is shut */
};

static bool read_full(int fd, void *p, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (char *)p + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

static void *mute_pg_serve(void *arg)
{
	static const unsigned char ready[] = {'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'};
	struct mute_pg *m = arg;
	unsigned char hdr[8], rest[4096], sink[512];
	int fd;

next:
	fd = accept(m->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	for (;;) { /* SSLRequest / GSSENCRequest: 'N'; then the start-up */
		uint32_t len, code;

		if (!read_full(fd, hdr, 8))
			goto out;
		len = (uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
		code = (uint32_t)hdr[4] << 24 | hdr[5] << 16 | hdr[6] << 8 | hdr[7];
		if (code == 80877103 || code == 80877104) {
			if (write(fd, "N", 1) != 1)
				goto out;
			continue;
		}
		if (len < 8 || len - 8 > sizeof(rest) || !read_full(fd, rest, len - 8))
			goto out;
		break;
	}
	m->answered++; /* before the reply: the client may return on reading it */
	if (write(fd, ready, sizeof(ready)) != (ssize_t)sizeof(ready))
		goto out;
	while (read(fd, sink, sizeof(sink)) > 0) /* the LISTEN, unanswered */
		;
out:
	close(fd);
	if (m->again)
		goto next;
	return NULL;
}

/* A mute server on loopback (mute_pg_serve in a thread): its URL in url. */
static void mute_pg_start(struct mute_pg *m, pthread_t *th, char *url, size_t urlsz)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t slen = sizeof(sa);

	m->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(m->lfd >= 0);
	assert_int_equal(bind(m->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(m->lfd, 1), 0);
	assert_int_equal(getsockname(m->lfd, (struct sockaddr *)&sa, &slen), 0);
	snprintf(url, urlsz, "postgresql://steward@127.0.0.1:%u/steward?sslmode=disable",
		 (unsigned)ntohs(sa.sin_port));
	assert_int_equal(pthread_create(th, NULL, mute_pg_serve, m), 0);
}

/* A statement the server never answers (a frozen server, or a link that
 * drops everything while the peer's kernel acknowledges): the call fails
 * within the connection's bound as on a lost server, saying so, and the
 * next call connects again. Before, db_exec waited for ever, holding the
 * store's lock and every check-in behind it. */
static void test_db_stalled(void **state)
{
	struct mute_pg m = {.again = true};
	struct steward_err err = {.code = ""};
	struct db *db = NULL;
	char url[128];
	pthread_t th;
	int64_t t0, took;

	(void)state;
	mute_pg_start(&m, &th, url, sizeof(url));
	assert_int_equal(db_open(url, &db, &err), 0);
	assert_int_equal(m.answered, 1);
	db_answer_bound(db, 1000);
	t0 = time_mono_us();
	assert_int_not_equal(db_exec(db, "SELECT 1"), 0);
	took = time_mono_us() - t0;
	assert_true(took >= 1000000 && took < 8000000);
	assert_non_null(strstr(db_errmsg(db), "no answer from the server within 1 s"));
	assert_int_equal(m.answered, 2); /* connected again at once */
	assert_int_not_equal(db_exec(db, "SELECT 1"), 0); /* and that one is mute too */
	assert_int_equal(m.answered, 3);
	db_close(db);
	shutdown(m.lfd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(m.lfd);
}

static void test_listen_stalled(void **state)
{
	struct mute_pg m = {.again = false};
	struct steward_err err = {.code = ""};
	struct store_listener *l = NULL;
	char url[128];
	pthread_t th;
	int64_t t0;

	(void)state;
	mute_pg_start(&m, &th, url, sizeof(url));
	t0 = time_mono_us();
	assert_int_equal(store_listener_open(url, &l, &err), -STEWARD_ESTORE);
	assert_null(l);
	assert_int_equal(m.answered, 1); /* it got as far as the LISTEN */
	assert_true(time_mono_us() - t0 >= 9000000 && time_mono_us() - t0 < 20000000);
	assert_string_equal(err.code, "store_open_failed");
	assert_non_null(strstr(err.message, "LISTEN on "));
	assert_non_null(strstr(err.message, "no answer within 10 s"));
	pthread_join(th, NULL);
	close(m.lfd);
}

static void test_checkin_apply(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r;
	struct store_client a, b, got;
	struct store_checkin batch[3];

	assert_int_equal(enroll(st, 1, NULL, &r, &a), 0);
	assert_int_equal(enroll(st, 2, NULL, &r, &b), 0);

	checkin_rec(&batch[0], &a, NOW + 10, 100,
		    "[{\"type\":\"agent_started\",\"text\":\"hello\",\"time\":1764000001},"
		    "{\"type\":\"x\",\"text\":\"\",\"time\":1764000002}]");
	checkin_rec(&batch[1], &b, NOW + 11, 7, NULL);
	checkin_rec(&batch[2], &a, NOW + 12, 101, "[{\"type\":\"y\",\"time\":5}]");
	assert_int_equal(st->ops->checkin_apply(st, batch, 3), 0);
	for (int i = 0; i < 3; i++) {
		assert_false(batch[i].stale);
		checkin_rec_free(&batch[i]);
	}

	assert_int_equal(st->ops->client_get(st, a.id, &got), 0);
	assert_int_equal(got.last_seen, NOW + 12);
	assert_int_equal(got.last_seq, 101);
	assert_string_equal(got.agent_version, "0.2.0");
	assert_string_equal(got.protocol, "1-2");
	assert_string_equal(got.components, "[{\"name\":\"base\",\"version\":\"0.2.0\"}]");
	assert_int_equal(st->ops->client_get(st, b.id, &got), 0);
	assert_int_equal(got.last_seq, 7);
	assert_int_equal(got.last_seen, NOW + 11);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages"), 3);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages WHERE type='agent_started'"
				    " AND text='hello' AND time=1764000001 AND received=1764000010"),
			 1);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages WHERE type='y' AND text=''"),
			 1);

	/* a stale sequence number never moves last_seq back, and its record
	 * writes nothing and is marked stale (another management point took
	 * the number: a replay), the one equal to the stored one too, with or
	 * without a check-in's details */
	checkin_rec(&batch[0], &a, NOW + 20, 50,
		    "[{\"type\":\"stale\",\"text\":\"\",\"time\":1764000003}]");
	snprintf(batch[0].agent_version, sizeof(batch[0].agent_version), "8.8.8");
	checkin_rec(&batch[1], &b, NOW + 20, 8, NULL);
	assert_int_equal(st->ops->checkin_apply(st, batch, 2), 0);
	assert_true(batch[0].stale);
	assert_false(batch[1].stale);
	checkin_rec_free(&batch[0]);
	checkin_rec_free(&batch[1]);
	assert_int_equal(st->ops->client_get(st, a.id, &got), 0);
	assert_int_equal(got.last_seq, 101);
	assert_int_equal(got.last_seen, NOW + 12);
	assert_string_equal(got.agent_version, "0.2.0");
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages WHERE type='stale'"), 0);
	checkin_rec(&batch[0], &a, NOW + 20, 101, NULL);
	batch[0].seq_only = true;
	assert_int_equal(st->ops->checkin_apply(st, batch, 1), 0);
	assert_true(batch[0].stale);
	checkin_rec_free(&batch[0]);
	checkin_rec(&batch[0], &a, NOW + 20, 102, NULL);
	batch[0].seq_only = true;
	assert_int_equal(st->ops->checkin_apply(st, batch, 1), 0);
	assert_false(batch[0].stale);
	checkin_rec_free(&batch[0]);
	assert_int_equal(st->ops->client_get(st, a.id, &got), 0);
	assert_int_equal(got.last_seq, 102);
	/* full 64-bit-ish sequence numbers (agents use unix ms) survive */
	checkin_rec(&batch[0], &a, NOW + 21, UINT64_C(1764000000123), NULL);
	assert_int_equal(st->ops->checkin_apply(st, batch, 1), 0);
	checkin_rec_free(&batch[0]);
	assert_int_equal(st->ops->client_get(st, a.id, &got), 0);
	assert_int_equal(got.last_seq, UINT64_C(1764000000123));

	/* without details, only last_seen and last_seq move */
	checkin_rec(&batch[0], &a, NOW + 22, UINT64_C(1764000000124), NULL);
	snprintf(batch[0].agent_version, sizeof(batch[0].agent_version), "9.9.9");
	batch[0].details = false;
	assert_int_equal(st->ops->checkin_apply(st, batch, 1), 0);
	checkin_rec_free(&batch[0]);
	assert_int_equal(st->ops->client_get(st, a.id, &got), 0);
	assert_int_equal(got.last_seq, UINT64_C(1764000000124));
	assert_int_equal(got.last_seen, NOW + 22);
	assert_string_equal(got.agent_version, "0.2.0");

	/* an empty batch is a no-op */
	assert_int_equal(st->ops->checkin_apply(st, batch, 0), 0);

	/* status_prune removes what was received before the cut-off */
	assert_int_equal(st->ops->status_prune(st, NOW + 11), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages"), 1);
	assert_int_equal(st->ops->status_prune(st, NOW + 12), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages"), 1);
	assert_int_equal(st->ops->status_prune(st, NOW + 13), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages"), 0);
}

/* One bad record fails its whole batch, and nothing of the batch lands. */
static void test_checkin_batch_is_atomic(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r;
	struct store_client a, got;
	struct store_checkin batch[2];

	assert_int_equal(enroll(st, 1, NULL, &r, &a), 0);
	checkin_rec(&batch[0], &a, NOW + 10, 100, "[{\"type\":\"ok\",\"text\":\"\",\"time\":1}]");
	checkin_rec(&batch[1], &a, NOW + 11, 101, "[{\"type\":\"no time\"}]"); /* NOT NULL */
	assert_int_equal(st->ops->checkin_apply(st, batch, 2), -STEWARD_ESTORE);
	checkin_rec_free(&batch[0]);
	checkin_rec_free(&batch[1]);
	assert_int_equal(st->ops->client_get(st, a.id, &got), 0);
	assert_int_equal(got.last_seq, 0);
	assert_int_equal(got.last_seen, 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages"), 0);
	/* and the writer connection is usable for the next batch */
	checkin_rec(&batch[0], &a, NOW + 12, 102, NULL);
	assert_int_equal(st->ops->checkin_apply(st, batch, 1), 0);
	checkin_rec_free(&batch[0]);
	assert_int_equal(st->ops->client_get(st, a.id, &got), 0);
	assert_int_equal(got.last_seq, 102);
}

/* A sequence-only record (a session open, an inventory or status report)
 * raises last_seq, never lowers it, and leaves last_seen and the details
 * alone; with no check-in row yet it makes one that says "never seen". */
static void test_checkin_seq_only(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r;
	struct store_client a, b, got;
	struct store_checkin batch[3];

	assert_int_equal(enroll(st, 1, NULL, &r, &a), 0);
	assert_int_equal(enroll(st, 2, NULL, &r, &b), 0);
	checkin_rec(&batch[0], &a, NOW + 10, 100, NULL);
	/* in the same batch as a check-in of the same client, and of another */
	checkin_rec(&batch[1], &a, NOW + 11, 105, NULL);
	batch[1].seq_only = true;
	snprintf(batch[1].agent_version, sizeof(batch[1].agent_version), "9.9.9");
	checkin_rec(&batch[2], &b, NOW + 12, 7, NULL);
	batch[2].seq_only = true;
	assert_int_equal(st->ops->checkin_apply(st, batch, 3), 0);
	for (int i = 0; i < 3; i++)
		checkin_rec_free(&batch[i]);
	assert_int_equal(st->ops->client_get(st, a.id, &got), 0);
	assert_int_equal(got.last_seq, 105);
	assert_int_equal(got.last_seen, NOW + 10);
	assert_string_equal(got.agent_version, "0.2.0");
	assert_int_equal(st->ops->client_get(st, b.id, &got), 0);
	assert_int_equal(got.last_seq, 7);
	assert_int_equal(got.last_seen, 0);

	/* a lower one leaves it where it is */
	checkin_rec(&batch[0], &a, NOW + 20, 50, NULL);
	batch[0].seq_only = true;
	assert_int_equal(st->ops->checkin_apply(st, batch, 1), 0);
	checkin_rec_free(&batch[0]);
	assert_int_equal(last_seq_of(st, a.id), 105);
	/* and a later check-in still sets last_seen */
	checkin_rec(&batch[0], &b, NOW + 21, 8, NULL);
	assert_int_equal(st->ops->checkin_apply(st, batch, 1), 0);
	checkin_rec_free(&batch[0]);
	assert_int_equal(st->ops->client_get(st, b.id, &got), 0);
	assert_int_equal(got.last_seq, 8);
	assert_int_equal(got.last_seen, NOW + 21);
}

/* ---- the check-in writer ----------------------------------------------------------- */

#define MAX_RECS 1024

struct done_log {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n, ok, failed, late;
	int rc[MAX_RECS];
	int calls[MAX_RECS];
	struct store *check; /* when set: verify the commit from the completion */
};

struct done_ctx {
	struct done_log *log;
	int idx;
	char id[PROTO_CLIENT_ID_HEX + 1];
	uint64_t seq;
};

static struct done_ctx g_ctx[MAX_RECS];

static void done_log_init(struct done_log *l, struct store *check)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->check = check;
}

static void done_log_destroy(struct done_log *l)
{
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
}

/* The completion: runs on the writer thread. */
static void on_done(void *arg, int rc)
{
	struct done_ctx *cx = arg;
	struct done_log *l = cx->log;
	bool late = false;

	/* committed means visible to another connection by now */
	if (rc == 0 && l->check) {
		struct store_client c;
		if (l->check->ops->client_get(l->check, cx->id, &c) != 0 || c.last_seq < cx->seq)
			late = true;
	}
	pthread_mutex_lock(&l->mu);
	l->rc[cx->idx] = rc;
	l->calls[cx->idx]++;
	l->n++;
	if (rc == 0)
		l->ok++;
	else
		l->failed++;
	if (late)
		l->late++;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static void wait_done(struct done_log *l, int n)
{
	pthread_mutex_lock(&l->mu);
	while (l->n < n)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

/* Submit check-in number idx for client id; returns submit's rc and
 * frees the record's strings when the writer did not take them. */
static int submit(struct store_writer *w, struct done_log *l, int idx,
		  const struct store_client *c, uint64_t seq, bool with_status)
{
	struct store_checkin rec;
	struct done_ctx *cx = &g_ctx[idx];
	int rc;

	assert_true(idx < MAX_RECS);
	checkin_rec(&rec, c, NOW + idx, seq,
		    with_status ? "[{\"type\":\"w\",\"text\":\"t\",\"time\":1}]" : NULL);
	cx->log = l;
	cx->idx = idx;
	snprintf(cx->id, sizeof(cx->id), "%s", c->id);
	cx->seq = seq;
	rc = store_writer_submit(w, &rec, on_done, cx);
	if (rc)
		checkin_rec_free(&rec);
	return rc;
}

static void enroll_n(struct store *st, int n, struct store_client *out)
{
	enum store_token_refusal r;

	for (int i = 0; i < n; i++)
		assert_int_equal(enroll(st, i + 1, NULL, &r, &out[i]), 0);
}

static void test_writer_completes_after_commit(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_client c[8], got;
	struct store_writer *w = NULL;
	struct store_writer_stats stats;
	struct done_log l;

	enroll_n(st, 8, c);
	done_log_init(&l, st);
	assert_int_equal(store_writer_start(st, 64, 16, &w), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(submit(w, &l, i, &c[i % 8], 1000 + (uint64_t)i, i % 2 == 0), 0);
	wait_done(&l, 40);
	store_writer_get_stats(w, &stats);
	store_writer_free(w);

	assert_int_equal(l.ok, 40);
	assert_int_equal(l.failed, 0);
	assert_int_equal(l.late, 0); /* every completion saw its own commit */
	for (int i = 0; i < 40; i++)
		assert_int_equal(l.calls[i], 1); /* exactly once each */
	assert_int_equal(stats.records, 40);
	assert_int_equal(stats.failures, 0);
	assert_int_equal(stats.queue_depth, 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(st->ops->client_get(st, c[i].id, &got), 0);
		assert_int_equal(got.last_seq, 1000 + 32 + i);
	}
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages"), 20);
	done_log_destroy(&l);
}

static void test_writer_queue_full(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_faulty_ops);
	struct store_client c[1];
	struct store_writer *w = NULL;
	struct done_log l;

	enroll_n(st, 1, c);
	done_log_init(&l, NULL);
	assert_int_equal(store_writer_start(st, 4, 1, &w), 0);
	/* park the writer inside its first batch ... */
	store_faulty_hold(st, FAULTY_CHECKIN_APPLY);
	assert_int_equal(submit(w, &l, 0, &c[0], 1, false), 0);
	store_faulty_wait_held(st, FAULTY_CHECKIN_APPLY, 1);
	/* ... so the queue of 4 fills and the fifth is refused */
	for (int i = 1; i <= 4; i++)
		assert_int_equal(submit(w, &l, i, &c[0], 1 + (uint64_t)i, false), 0);
	assert_int_equal(submit(w, &l, 5, &c[0], 6, false), -STEWARD_EBUSY);
	assert_int_equal(submit(w, &l, 6, &c[0], 7, false), -STEWARD_EBUSY);
	{
		struct store_writer_stats s;
		store_writer_get_stats(w, &s);
		assert_int_equal(s.queue_depth, 4);
	}
	store_faulty_release(st, FAULTY_CHECKIN_APPLY);
	wait_done(&l, 5);
	/* room again */
	assert_int_equal(submit(w, &l, 7, &c[0], 8, false), 0);
	store_writer_free(w);
	assert_int_equal(l.n, 6);
	assert_int_equal(l.ok, 6);
	assert_int_equal(l.calls[5], 0); /* refused records get no completion */
	assert_int_equal(l.calls[6], 0);
	assert_int_equal(last_seq_of(st, c[0].id), 8);
	done_log_destroy(&l);
}

struct stopper {
	struct store_writer *w;
};

static void *stop_thread(void *arg)
{
	store_writer_stop(((struct stopper *)arg)->w);
	return NULL;
}

static void test_writer_stop_flushes(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_faulty_ops);
	struct store_client c[5];
	struct store_writer *w = NULL;
	struct done_log l;
	struct stopper sp;
	pthread_t t;
	int extra = 0, rc;

	enroll_n(st, 5, c);
	done_log_init(&l, NULL);
	assert_int_equal(store_writer_start(st, 256, 8, &w), 0);
	store_faulty_hold(st, FAULTY_CHECKIN_APPLY);
	assert_int_equal(submit(w, &l, 0, &c[0], 10, false), 0);
	store_faulty_wait_held(st, FAULTY_CHECKIN_APPLY, 1);
	for (int i = 1; i <= 100; i++)
		assert_int_equal(submit(w, &l, i, &c[i % 4], 10 + (uint64_t)i, true), 0);
	/* stop while 100 records wait behind a batch in progress */
	sp.w = w;
	assert_int_equal(pthread_create(&t, NULL, stop_thread, &sp), 0);
	/* until stop has begun, a submit is simply queued (and must be
	 * flushed too); after, it is refused with ECLOSED */
	for (;;) {
		rc = submit(w, &l, 101 + extra, &c[4], 1000 + (uint64_t)extra, false);
		if (rc == -STEWARD_ECLOSED)
			break;
		assert_int_equal(rc, 0);
		extra++;
		assert_true(extra < 500);
		usleep(1000);
	}
	store_faulty_release(st, FAULTY_CHECKIN_APPLY);
	pthread_join(t, NULL);
	/* stopped, not freed: still answers, refuses new work */
	assert_int_equal(submit(w, &l, 102 + extra, &c[4], 5000, false), -STEWARD_ECLOSED);
	{
		struct store_writer_stats s;
		store_writer_get_stats(w, &s);
		assert_int_equal(s.records, (uint64_t)(101 + extra));
		assert_int_equal(s.queue_depth, 0);
	}
	store_writer_free(w);
	assert_int_equal(l.n, 101 + extra);
	assert_int_equal(l.ok, 101 + extra);
	assert_int_equal(l.calls[101 + extra], 0); /* the refused one */
	for (int i = 0; i < 4; i++)
		assert_int_equal(last_seq_of(st, c[i].id), i == 0 ? 10 + 100 : 10 + 96 + i);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages"), 100);
	done_log_destroy(&l);
}

static void test_writer_batches_group(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_faulty_ops);
	struct store_client c[16];
	struct store_writer *w = NULL;
	struct store_writer_stats s;
	struct done_log l;
	const int n = 1 + 300;

	enroll_n(st, 16, c);
	done_log_init(&l, NULL);
	assert_int_equal(store_writer_start(st, 1024, 64, &w), 0);
	store_faulty_hold(st, FAULTY_CHECKIN_APPLY);
	assert_int_equal(submit(w, &l, 0, &c[0], 1, false), 0);
	store_faulty_wait_held(st, FAULTY_CHECKIN_APPLY, 1);
	for (int i = 1; i < n; i++)
		assert_int_equal(submit(w, &l, i, &c[i % 16], 1 + (uint64_t)i, false), 0);
	store_faulty_release(st, FAULTY_CHECKIN_APPLY);
	wait_done(&l, n);
	store_writer_get_stats(w, &s);
	store_writer_free(w);
	assert_int_equal(l.ok, n);
	assert_int_equal(s.records, (uint64_t)n);
	/* 1 held batch, then 300 queued in batches of at most 64: 5 more */
	assert_int_equal(s.batches, 1 + 5);
	assert_int_equal(store_faulty_calls(st, FAULTY_CHECKIN_APPLY), 6);
	assert_int_equal(s.batch_hist[0], 1); /* the single one */
	assert_int_equal(s.batch_hist[3], 5); /* 4 x 64 and 1 x 44: all in 17-64 */
	done_log_destroy(&l);
}

/* Without holding: submitting quickly still groups. */
static void test_writer_batches_group_free_running(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_client c[16];
	struct store_writer *w = NULL;
	struct store_writer_stats s;
	struct done_log l;
	const int n = 800;

	enroll_n(st, 16, c);
	done_log_init(&l, NULL);
	assert_int_equal(store_writer_start(st, 1024, 256, &w), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(submit(w, &l, i, &c[i % 16], 1 + (uint64_t)i, false), 0);
	wait_done(&l, n);
	store_writer_get_stats(w, &s);
	store_writer_free(w);
	assert_int_equal(l.ok, n);
	assert_int_equal(s.records, (uint64_t)n);
	if (!(s.batches < s.records / 4))
		fail_msg("%llu batches for %llu records: no group commit",
			 (unsigned long long)s.batches, (unsigned long long)s.records);
	done_log_destroy(&l);
}

static void test_writer_failure_reaches_whole_batch(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_faulty_ops);
	struct store_client c[4], got;
	struct store_writer *w = NULL;
	struct store_writer_stats s;
	struct done_log l;

	enroll_n(st, 4, c);
	done_log_init(&l, NULL);
	assert_int_equal(store_writer_start(st, 256, 64, &w), 0);
	/* batch 1: record 0 alone (held); batch 2: records 1..10, made to fail */
	store_faulty_hold(st, FAULTY_CHECKIN_APPLY);
	store_faulty_fail_nth(st, FAULTY_CHECKIN_APPLY, 2, -STEWARD_ESTORE);
	assert_int_equal(submit(w, &l, 0, &c[0], 100, false), 0);
	store_faulty_wait_held(st, FAULTY_CHECKIN_APPLY, 1);
	for (int i = 1; i <= 10; i++)
		assert_int_equal(submit(w, &l, i, &c[i % 4], 100 + (uint64_t)i, true), 0);
	store_faulty_release(st, FAULTY_CHECKIN_APPLY);
	wait_done(&l, 11);
	assert_int_equal(l.rc[0], 0);
	for (int i = 1; i <= 10; i++) {
		if (l.rc[i] != -STEWARD_ESTORE)
			fail_msg("record %d of the failed batch completed with %d", i, l.rc[i]);
		assert_int_equal(l.calls[i], 1);
	}
	/* nothing of the failed batch reached the database */
	assert_int_equal(q64(f->db, "SELECT count(*) FROM status_messages"), 0);
	assert_int_equal(st->ops->client_get(st, c[0].id, &got), 0);
	assert_int_equal(got.last_seq, 100);
	for (int i = 1; i < 4; i++) {
		assert_int_equal(st->ops->client_get(st, c[i].id, &got), 0);
		assert_int_equal(got.last_seq, 0);
	}
	/* batch 3 goes through: the writer carried on */
	for (int i = 11; i <= 15; i++)
		assert_int_equal(submit(w, &l, i, &c[i % 4], 100 + (uint64_t)i, false), 0);
	wait_done(&l, 16);
	store_writer_get_stats(w, &s);
	store_writer_free(w);
	for (int i = 11; i <= 15; i++)
		assert_int_equal(l.rc[i], 0);
	assert_int_equal(s.failures, 1);
	assert_int_equal(s.records, 16);
	assert_int_equal(store_faulty_failures(st, FAULTY_CHECKIN_APPLY), 1);
	assert_int_equal(st->ops->client_get(st, c[3].id, &got), 0);
	assert_int_equal(got.last_seq, 115);
	done_log_destroy(&l);
}

/* A real SQLite failure (not injected through the seam) fails the batch
 * and the writer's connection recovers for the next one. */
static void test_writer_real_failure_recovers(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_client c[1];
	struct store_writer *w = NULL;
	struct done_log l;

	enroll_n(st, 1, c);
	done_log_init(&l, NULL);
	inject_failure(f->db, "status_messages");
	assert_int_equal(store_writer_start(st, 16, 16, &w), 0);
	assert_int_equal(submit(w, &l, 0, &c[0], 5, true), 0);
	wait_done(&l, 1);
	assert_int_equal(l.rc[0], -STEWARD_ESTORE);
	assert_int_equal(last_seq_of(st, c[0].id), 0);
	sql_exec(f->db, pg_base[0] ? "DROP TRIGGER injected ON status_messages" : "DROP TRIGGER injected");
	assert_int_equal(submit(w, &l, 1, &c[0], 6, true), 0);
	wait_done(&l, 2);
	store_writer_free(w);
	assert_int_equal(l.rc[1], 0);
	assert_int_equal(last_seq_of(st, c[0].id), 6);
	done_log_destroy(&l);
}

static void test_writer_start_stop_idle(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_writer *w = NULL;
	struct store_writer_stats s;

	assert_int_equal(store_writer_start(st, 0, 0, &w), 0); /* zeros mean 1 */
	store_writer_get_stats(w, &s);
	assert_int_equal(s.batches, 0);
	store_writer_stop(w);
	store_writer_stop(w); /* twice is fine */
	store_writer_free(w);
	store_writer_stop(NULL);
	store_writer_free(NULL);
	/* free alone stops a running writer */
	assert_int_equal(store_writer_start(st, 4, 4, &w), 0);
	store_writer_free(w);
}

/* ---- the wrapper itself ------------------------------------------------------------- */

static void test_faulty_counts_and_modes(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_faulty_ops);
	char v[16];

	assert_ptr_equal(store_faulty_inner(st)->ops, &store_sqlite_ops);
	assert_int_equal(st->ops->schema_version(st), STORE_SCHEMA_VERSION);
	assert_int_equal(st->ops->setting_set(st, "a", "1"), 0);
	store_faulty_fail_nth(st, FAULTY_SETTING_GET, 3, -STEWARD_EIO);
	assert_int_equal(st->ops->setting_get(st, "a", v, sizeof(v)), 0);
	assert_int_equal(st->ops->setting_get(st, "a", v, sizeof(v)), 0);
	assert_int_equal(st->ops->setting_get(st, "a", v, sizeof(v)), -STEWARD_EIO);
	assert_int_equal(st->ops->setting_get(st, "a", v, sizeof(v)), 0); /* one-shot */
	store_faulty_fail_always(st, FAULTY_SETTING_SET, -STEWARD_ESTORE);
	assert_int_equal(st->ops->setting_set(st, "a", "2"), -STEWARD_ESTORE);
	assert_int_equal(st->ops->setting_set(st, "a", "3"), -STEWARD_ESTORE);
	store_faulty_fail_always(st, FAULTY_SETTING_SET, 0);
	assert_int_equal(st->ops->setting_get(st, "a", v, sizeof(v)), 0);
	assert_string_equal(v, "1"); /* failed calls never reached the database */
	assert_int_equal(store_faulty_calls(st, FAULTY_SETTING_GET), 5);
	assert_int_equal(store_faulty_failures(st, FAULTY_SETTING_GET), 1);
	assert_int_equal(store_faulty_calls(st, FAULTY_SETTING_SET), 3);
	assert_int_equal(store_faulty_failures(st, FAULTY_SETTING_SET), 2);
	/* other operations are untouched */
	assert_int_equal(store_faulty_calls(st, FAULTY_CLIENT_GET), 0);
}

/* ---- inventory ---------------------------------------------------------------- */

static void inv_put_init(struct store_inventory_put *p, int64_t t, char h, const char *expect)
{
	memset(p, 0, sizeof(*p));
	p->time = t;
	p->expect_full_hash = expect;
	memset(p->full_hash, h, STORE_INV_HASH_HEX);
	for (int i = 0; i < STORE_INV_CLASSES; i++)
		memset(p->hashes[i], h + i + 1, STORE_INV_HASH_HEX);
}

struct hist {
	int n;
	char cls[8][16];
	char change[8][64];
	int64_t time[8];
};

static int hist_cb(const struct store_inventory_change *h, void *ctx)
{
	struct hist *l = ctx;

	if (l->n >= 8)
		return -1;
	snprintf(l->cls[l->n], sizeof(l->cls[0]), "%s", h->cls);
	snprintf(l->change[l->n], sizeof(l->change[0]), "%s", h->change);
	l->time[l->n++] = h->time;
	return 0;
}

struct heard_ids {
	int n;
	char last[PROTO_CLIENT_ID_HEX + 1];
};

static int count_id(const char *id, void *ctx)
{
	struct heard_ids *h = ctx;

	h->n++;
	snprintf(h->last, sizeof(h->last), "%s", id);
	return 0;
}

static void test_inventory_ops(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	enum store_token_refusal r;
	struct store_client c;
	struct store_inventory inv;
	struct store_inventory_put p;
	struct hist h = {0};
	char a64[65] = {0};

	assert_int_equal(enroll(st, 1, NULL, &r, &c), 0);
	assert_int_equal(st->ops->inventory_get(st, c.id, &inv), -STEWARD_ENOTFOUND);

	/* a first inventory needs every class */
	inv_put_init(&p, NOW, 'a', "");
	p.classes[0] = "{\"cpu\":1}";
	p.classes[1] = "{\"os\":1}";
	assert_int_equal(st->ops->inventory_put(st, c.id, &p), -STEWARD_EINVAL);
	p.classes[2] = "{\"packages\":[]}";
	p.changes[0] = p.changes[1] = p.changes[2] = "{\"initial\":true}";
	assert_int_equal(st->ops->inventory_put(st, c.id, &p), 0);
	assert_int_equal(st->ops->inventory_get(st, c.id, &inv), 0);
	memset(a64, 'a', 64);
	assert_string_equal(inv.full_hash, a64);
	assert_string_equal(inv.classes[1], "{\"os\":1}");
	assert_int_equal(inv.received, NOW);
	store_inventory_clear(&inv);
	/* the clients whose inventory came at or after a time (changes.c) */
	{
		struct heard_ids ids = {0};

		assert_int_equal(st->ops->inventory_since(st, NOW, count_id, &ids), 0);
		assert_int_equal(ids.n, 1);
		assert_string_equal(ids.last, c.id);
		assert_int_equal(st->ops->inventory_since(st, NOW + 1, count_id, &ids), 0);
		assert_int_equal(ids.n, 1);
	}

	/* built on a stale view: refused, nothing changes */
	inv_put_init(&p, NOW + 10, 'b', "");
	p.classes[1] = "{\"os\":2}";
	assert_int_equal(st->ops->inventory_put(st, c.id, &p), -STEWARD_EBUSY);

	/* a merged report writes only the changed class and one history row */
	inv_put_init(&p, NOW + 20, 'b', a64);
	p.classes[1] = "{\"os\":2}";
	p.changes[1] = "{\"fields\":[]}";
	assert_int_equal(st->ops->inventory_put(st, c.id, &p), 0);
	assert_int_equal(st->ops->inventory_get(st, c.id, &inv), 0);
	assert_string_equal(inv.classes[0], "{\"cpu\":1}");
	assert_string_equal(inv.classes[1], "{\"os\":2}");
	assert_int_equal(inv.hashes[2][0], 'b' + 3);
	store_inventory_clear(&inv);

	/* history: newest first, limited */
	assert_int_equal(st->ops->inventory_history(st, c.id, 10, hist_cb, &h), 0);
	assert_int_equal(h.n, 4);
	assert_string_equal(h.cls[0], "os");
	assert_string_equal(h.change[0], "{\"fields\":[]}");
	assert_int_equal(h.time[0], NOW + 20);
	assert_int_equal(h.time[3], NOW);
	memset(&h, 0, sizeof(h));
	assert_int_equal(st->ops->inventory_history(st, c.id, 2, hist_cb, &h), 0);
	assert_int_equal(h.n, 2);

	/* unknown clients */
	client_id_of(99, a64);
	assert_int_equal(st->ops->inventory_get(st, a64, &inv), -STEWARD_ENOTFOUND);
	assert_int_equal(st->ops->inventory_put(st, a64, &p), -STEWARD_ENOTFOUND);
	assert_int_equal(st->ops->inventory_history(st, a64, 10, hist_cb, &h), -STEWARD_ENOTFOUND);
	assert_int_equal(st->ops->inventory_get(st, "nope", &inv), -STEWARD_EINVAL);
}


/* ---- software distribution ---------------------------------------------------- */

static int count_cb(const void *row, void *ctx)
{
	(void)row;
	(*(int *)ctx)++;
	return 0;
}

static int status_copy_cb(const struct store_status *m, void *ctx)
{
	*(struct store_status *)ctx = *m;
	return 0;
}


/* ---- releases ------------------------------------------------------------------- */

static int release_copy_cb(const struct store_release *r, void *ctx)
{
	struct store_release *out = ctx;

	out[out[0].rid ? 1 : 0] = *r;
	return 0;
}

static int blob_count_cb(const struct store_blob *b, void *ctx)
{
	(void)b;
	(*(int *)ctx)++;
	return 0;
}

static void test_release_ops(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_release r = {.created = NOW, .expires = NOW + 86400, .imported = NOW,
				  .bytes = 20, .files = 2};
	struct store_release got[2];
	struct store_blob b[2];
	char newest[32];
	int n = 0;

	snprintf(r.version, sizeof(r.version), "1.1.0");
	snprintf(r.upgrade_from, sizeof(r.upgrade_from), "1.0.0");
	snprintf(r.imported_by, sizeof(r.imported_by), "admin");
	snprintf(r.components, sizeof(r.components), "[]");
	memset(r.manifest, 'm', 64);
	memset(r.key, 'k', 64);
	for (int i = 0; i < 2; i++) {
		memset(b[i].hash, 'c' + i, 64);
		b[i].hash[64] = '\0';
		b[i].size = 10;
	}
	assert_int_equal(st->ops->release_create(st, &r, b, 2, true), 0);
	assert_true(r.rid > 0);
	assert_int_equal(st->ops->setting_get(st, STORE_SETTING_RELEASE_NEWEST, newest,
					     sizeof(newest)),
			 0);
	assert_string_equal(newest, "1.1.0");
	/* the same version again: refused, nothing changes */
	assert_int_equal(st->ops->release_create(st, &r, b, 2, true), -STEWARD_EEXIST);
	/* an explicit rollback to an older release keeps the newest seen */
	snprintf(r.version, sizeof(r.version), "1.0.5");
	r.rollback = true;
	assert_int_equal(st->ops->release_create(st, &r, b, 1, false), 0);
	assert_int_equal(st->ops->setting_get(st, STORE_SETTING_RELEASE_NEWEST, newest,
					     sizeof(newest)),
			 0);
	assert_string_equal(newest, "1.1.0");
	memset(got, 0, sizeof(got));
	assert_int_equal(st->ops->release_list(st, release_copy_cb, got), 0);
	assert_string_equal(got[0].version, "1.1.0");
	assert_false(got[0].rollback);
	assert_string_equal(got[0].upgrade_from, "1.0.0");
	assert_int_equal(got[0].expires, NOW + 86400);
	assert_string_equal(got[1].version, "1.0.5");
	assert_true(got[1].rollback);
	/* release blobs count among the blobs the site keeps */
	assert_int_equal(st->ops->blob_list(st, blob_count_cb, &n), 0);
	assert_int_equal(n, 2);
}

static struct store_release_outcome outcome(const char *client, const char *what, int64_t t)
{
	struct store_release_outcome o = {.time = t};

	snprintf(o.version, sizeof(o.version), "1.1.0");
	snprintf(o.client, sizeof(o.client), "%s", client);
	snprintf(o.outcome, sizeof(o.outcome), "%s", what);
	snprintf(o.detail, sizeof(o.detail), "%s at %lld", what, (long long)t);
	return o;
}

static int outcome_count_cb(const struct store_release_outcome *o, void *ctx)
{
	int *n = ctx;

	/* failures come first */
	if (n[0] == 0)
		assert_string_not_equal(o->outcome, "succeeded");
	n[0]++;
	return 0;
}

/* Withdrawal, reinstatement, rollback and per-client outcomes beside the
 * immutable release row. */
static void test_release_marks(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_release r = {.created = NOW, .expires = NOW + 86400, .imported = NOW};
	struct store_release got[2];
	struct store_release_outcome o;
	struct store_blob b = {.size = 1};
	int n[1] = {0};

	snprintf(r.version, sizeof(r.version), "1.1.0");
	snprintf(r.imported_by, sizeof(r.imported_by), "admin");
	snprintf(r.components, sizeof(r.components), "[]");
	memset(r.manifest, 'm', 64);
	memset(r.key, 'k', 64);
	memset(b.hash, 'c', 64);
	assert_int_equal(st->ops->release_create(st, &r, &b, 1, true), 0);
	/* a release the site does not hold */
	assert_int_equal(st->ops->release_mark(st, "9.9.9", true, "x", "admin", NOW),
			 -STEWARD_ENOTFOUND);
	assert_int_equal(st->ops->release_rollback(st, "9.9.9", "admin", NOW), -STEWARD_ENOTFOUND);

	/* outcomes: one per client, the same one sent again keeps its time */
	o = outcome("c1", "succeeded", NOW);
	assert_int_equal(st->ops->release_outcome_put(st, &o), 0);
	o = outcome("c2", "rolled_back", NOW + 1);
	assert_int_equal(st->ops->release_outcome_put(st, &o), 0);
	o = outcome("install:127.0.0.1 h", "install_failed", NOW + 2);
	assert_int_equal(st->ops->release_outcome_put(st, &o), 0);
	o = outcome("c2", "rolled_back", NOW + 50);
	assert_int_equal(st->ops->release_outcome_put(st, &o), 0);
	o = outcome("c3", "exploded", NOW);
	assert_int_equal(st->ops->release_outcome_put(st, &o), -STEWARD_EINVAL);
	memset(got, 0, sizeof(got));
	assert_int_equal(st->ops->release_list(st, release_copy_cb, got), 0);
	assert_int_equal(got[0].succeeded, 1);
	assert_int_equal(got[0].failed, 2);
	assert_false(got[0].withdrawn);
	{
		char want[64];

		snprintf(want, sizeof(want), "install_failed at %lld", (long long)(NOW + 2));
		assert_string_equal(got[0].last_failure, want);
	}
	assert_int_equal(st->ops->release_outcome_list(st, "1.1.0", 10, outcome_count_cb, n), 0);
	assert_int_equal(n[0], 3);

	/* withdrawn, then reinstated: failures before it no longer count */
	assert_int_equal(st->ops->release_mark(st, "1.1.0", true, "bad agent", "ann", NOW + 60), 0);
	memset(got, 0, sizeof(got));
	assert_int_equal(st->ops->release_list(st, release_copy_cb, got), 0);
	assert_true(got[0].withdrawn);
	assert_string_equal(got[0].mark_reason, "bad agent");
	assert_string_equal(got[0].marked_by, "ann");
	assert_int_equal(got[0].marked, NOW + 60);
	assert_int_equal(got[0].failed, 2);
	assert_int_equal(st->ops->release_mark(st, "1.1.0", false, "fixed", "bob", NOW + 70), 0);
	memset(got, 0, sizeof(got));
	assert_int_equal(st->ops->release_list(st, release_copy_cb, got), 0);
	assert_false(got[0].withdrawn);
	assert_int_equal(got[0].failed, 0);
	assert_int_equal(got[0].failed_total, 2);
	assert_string_equal(got[0].last_failure, "");
	assert_int_equal(got[0].succeeded, 1);
	o = outcome("c4", "rolled_back", NOW + 80);
	assert_int_equal(st->ops->release_outcome_put(st, &o), 0);
	/* offered again as a rollback: no longer withdrawn either */
	assert_int_equal(st->ops->release_mark(st, "1.1.0", true, "", "ann", NOW + 90), 0);
	assert_int_equal(st->ops->release_rollback(st, "1.1.0", "ann", NOW + 100), 0);
	memset(got, 0, sizeof(got));
	assert_int_equal(st->ops->release_list(st, release_copy_cb, got), 0);
	assert_false(got[0].withdrawn);
	assert_int_equal(got[0].rollback_at, NOW + 100);
	assert_int_equal(got[0].failed, 1);
}

/* ---- the hierarchy --------------------------------------------------------------- */

static struct store_site a_site(const char *code, int relation)
{
	struct store_site v;

	memset(&v, 0, sizeof(v));
	snprintf(v.code, sizeof(v.code), "%s", code);
	v.relation = relation;
	snprintf(v.url, sizeof(v.url), "http://127.0.0.1:1");
	memset(v.public_key, 'a', 64);
	v.attached = true;
	v.attached_at = NOW;
	return v;
}

struct msgs {
	int n;
	uint64_t seq[64];
	int cls[64];
	char kind[64][24];
	char body[64][512];
};

static int collect_msg(const struct store_outbox_msg *m, void *ctx)
{
	struct msgs *ms = ctx;

	if (ms->n == 64)
		return 1;
	ms->seq[ms->n] = m->seq;
	ms->cls[ms->n] = m->cls;
	snprintf(ms->kind[ms->n], sizeof(ms->kind[0]), "%s", m->kind);
	snprintf(ms->body[ms->n], sizeof(ms->body[0]), "%.*s", (int)m->len, m->body);
	if (pg_base[0]) {
		/* PostgreSQL writes the same document with spaces: compare the
		 * compact form SQLite writes */
		json_t *doc = json_loadb(m->body, m->len, 0, NULL);
		char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

		if (text)
			snprintf(ms->body[ms->n], sizeof(ms->body[0]), "%s", text);
		free(text);
		json_decref(doc);
	}
	ms->n++;
	return 0;
}

static struct msgs *peek_all(struct store *st, const char *link, unsigned mask)
{
	static struct msgs ms;

	memset(&ms, 0, sizeof(ms));
	assert_int_equal(st->ops->outbox_peek(st, link, mask, 64, 1 << 20, collect_msg, &ms), 0);
	return &ms;
}

/* Tokens are one-time; replays of a request sequence are refused; a
 * batch applies once; triggers queue changes up in their transaction; acks
 * drop what was applied and a restored outbox is renumbered above it. */
/* what site_status_list gave: the count, and the last row's fields */
struct status_seen {
	int n;
	char site[16], state[32];
	int64_t time;
};

static int status_seen_row(const struct store_site_status_row *r, void *ctx)
{
	struct status_seen *seen = ctx;

	seen->n++;
	snprintf(seen->site, sizeof(seen->site), "%s", r->site);
	snprintf(seen->state, sizeof(seen->state), "%s", r->state);
	seen->time = r->time;
	return 0;
}

static void test_hierarchy_ops(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_site parent = a_site("CEN", STORE_SITE_PARENT), got;
	uint8_t h[PROTO_HASH_BYTES];
	enum store_token_refusal refusal;
	struct msgs *ms;
	struct store_link_ack ack = {.now = NOW};
	uint64_t applied[PROTO_LINK_CLASSES];
	size_t n = 0;

	/* attach tokens */
	token_hash("attach-secret", h);
	assert_int_equal(st->ops->site_token_insert(st, "0123456789abcdef", h, NOW + 3600, NOW, "ann"), 0);
	assert_int_equal(st->ops->site_token_use(st, h, NOW + 7200, "C01", &refusal), 0);
	assert_int_equal(refusal, TOKEN_EXPIRED);
	assert_int_equal(st->ops->site_token_use(st, h, NOW, "C01", &refusal), 0);
	assert_int_equal(refusal, TOKEN_OK);
	assert_int_equal(st->ops->site_token_use(st, h, NOW, "C02", &refusal), 0);
	assert_int_equal(refusal, TOKEN_USED_UP);
	token_hash("nope", h);
	assert_int_equal(st->ops->site_token_use(st, h, NOW, "C02", &refusal), 0);
	assert_int_equal(refusal, TOKEN_UNKNOWN);

	/* nothing is queued up without a parent */
	assert_int_equal(enroll(st, 1, NULL, &refusal, NULL), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox"), 0);
	assert_int_equal(st->ops->site_put(st, &parent), 0);
	assert_int_equal(st->ops->site_get(st, "CEN", &got), 0);
	assert_true(got.attached);
	assert_int_equal(got.relation, STORE_SITE_PARENT);
	assert_int_equal(st->ops->site_get(st, "XXX", &got), -STEWARD_ENOTFOUND);

	/* request sequences only grow, and a replay applies nothing */
	assert_int_equal(st->ops->site_apply(st, "CEN", 5, NULL, 0, applied), 0);
	assert_int_equal(st->ops->site_apply(st, "CEN", 5, NULL, 0, applied), -STEWARD_EEXIST);
	assert_int_equal(st->ops->site_apply(st, "CEN", 4, NULL, 0, applied), -STEWARD_EEXIST);
	assert_int_equal(st->ops->site_apply(st, "CEN", 6, NULL, 0, applied), 0);
	assert_int_equal(st->ops->site_apply(st, "ZZZ", 7, NULL, 0, applied), -STEWARD_EEXIST);
	assert_int_equal(st->ops->site_apply(st, "CEN", (uint64_t)INT64_MAX + 1, NULL, 0, applied),
			 -STEWARD_EEXIST);

	/* a new client and a state change travel up through the triggers */
	assert_int_equal(enroll(st, 2, NULL, &refusal, NULL), 0);
	{
		char id[PROTO_CLIENT_ID_HEX + 1];

		client_id_of(2, id);
		assert_int_equal(st->ops->client_set_state(st, id, CLIENT_BLOCKED, "lost", 0), 0);
	}
	ms = peek_all(st, "CEN", 0x7);
	assert_int_equal(ms->n, 2);
	assert_string_equal(ms->kind[0], "clients");
	assert_non_null(strstr(ms->body[1], "\"state\":\"blocked\""));
	assert_true(ms->seq[1] > ms->seq[0]);
	/* control before status, whatever the order of queueing */
	assert_int_equal(st->ops->outbox_put(st, "CEN", 0, 0, "hello", "{}"), 0);
	ms = peek_all(st, "CEN", 0x7);
	assert_int_equal(ms->n, 3);
	assert_int_equal(ms->cls[0], 0);
	assert_string_equal(ms->kind[0], "hello");
	/* only the classes asked for */
	ms = peek_all(st, "CEN", 0x1);
	assert_int_equal(ms->n, 1);
	/* acknowledged: gone */
	ms = peek_all(st, "CEN", 0x7);
	ack.applied[0] = ms->seq[0];
	ack.applied[1] = ms->seq[1];
	assert_int_equal(st->ops->outbox_ack(st, "CEN", &ack), 0);
	ms = peek_all(st, "CEN", 0x7);
	assert_int_equal(ms->n, 1);
	assert_string_equal(ms->kind[0], "clients");
	/* a receiver that applied more than this outbox ever numbered: the
	 * rest is moved above it, not dropped */
	ack.applied[1] = 1000000;
	assert_int_equal(st->ops->outbox_ack(st, "CEN", &ack), 0);
	ms = peek_all(st, "CEN", 0x7);
	assert_int_equal(ms->n, 1);
	assert_true(ms->seq[0] > 1000000);
	assert_int_equal(st->ops->outbox_put(st, "CEN", 0, 2, "bulk", "{\"x\":1}"), 0);
	ms = peek_all(st, "CEN", 0x7);
	assert_int_equal(ms->n, 2);
	assert_true(ms->seq[1] > 1000000);

	/* summaries and last-seen digests */
	assert_int_equal(st->ops->outbox_summary(st, "CEN", "C01", &n), 0);
	assert_int_equal(n, 1); /* two clients fit one message */
	assert_int_equal(st->ops->outbox_seen(st, "CEN", "C01", 0, &n), 0);

	/* applying a batch from a child: once, whatever is sent again */
	{
		struct store_site child = a_site("C01", STORE_SITE_CHILD);
		struct store_site_client c = {.id = "00000000000000000000000000000009",
					      .site = "C01",
					      .hostname = "h9",
					      .state = "approved",
					      .agent_version = "1.0.0",
					      .protocol = "1-1",
					      .enrolled = NOW,
					      .last_seen = NOW};
		struct store_link_rec recs[3];

		assert_int_equal(st->ops->site_put(st, &child), 0);
		memset(recs, 0, sizeof(recs));
		recs[0].cls = 1, recs[0].seq = 10, recs[0].kind = STORE_LINK_CLIENTS;
		recs[0].u.clients.n = 1, recs[0].u.clients.v = &c;
		recs[1].cls = 1, recs[1].seq = 11, recs[1].kind = STORE_LINK_STATUS;
		recs[1].u.status = (struct store_site_status){.site = "C01", .advert = "tool",
							      .client = c.id, .revision = 1,
							      .seq = 3, .state = "succeeded",
							      .detail = "", .has_exit_code = true,
							      .time = NOW};
		static const char *const keys[] = {"adverts_paused"}, *const values[] = {"1"};

		recs[2].cls = 0, recs[2].seq = 4, recs[2].kind = STORE_LINK_SETTINGS;
		recs[2].u.settings.n = 1, recs[2].u.settings.keys = keys;
		recs[2].u.settings.values = values;
		assert_int_equal(st->ops->site_apply(st, "C01", 0, recs, 3, applied), 0);
		assert_true(recs[0].applied && recs[1].applied && recs[2].applied);
		assert_int_equal(applied[0], 4);
		assert_int_equal(applied[1], 11);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_status"), 1);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_clients WHERE via = 'C01'"), 1);
		/* the same batch again: nothing applied twice */
		assert_int_equal(st->ops->site_apply(st, "C01", 0, recs, 3, applied), 0);
		assert_false(recs[0].applied || recs[1].applied || recs[2].applied);
		/* the same report under a new sequence (a restored sender): still once */
		recs[1].seq = 12;
		assert_int_equal(st->ops->site_apply(st, "C01", 0, &recs[1], 1, applied), 0);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_status"), 1);
		/* a newer report of the same client: the list shows that one
		 * alone, for the advertisement (named in any case) and for all */
		recs[1].seq = 13, recs[1].u.status.seq = 4, recs[1].u.status.state = "failed";
		recs[1].u.status.time = NOW + 5;
		assert_int_equal(st->ops->site_apply(st, "C01", 0, &recs[1], 1, applied), 0);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_status"), 2);
		{
			struct status_seen seen = {0};

			assert_int_equal(st->ops->site_status_list(st, "TOOL", status_seen_row, &seen), 0);
			assert_int_equal(seen.n, 1);
			assert_string_equal(seen.state, "failed");
			assert_int_equal(seen.time, NOW + 5);
			memset(&seen, 0, sizeof(seen));
			assert_int_equal(st->ops->site_status_list(st, NULL, status_seen_row, &seen), 0);
			assert_int_equal(seen.n, 1);
			assert_string_equal(seen.state, "failed");
			assert_string_equal(seen.site, "C01");
		}
		/* and what came from below travels further up: both reports */
		assert_true(q64(f->db, "SELECT count(*) FROM site_outbox WHERE link = 'CEN'"
				       " AND kind = 'status' AND body LIKE '%\"site\":\"C01\"%'") == 2);
		assert_int_equal(st->ops->site_apply(st, "NOP", 0, recs, 1, applied), -STEWARD_ENOTFOUND);
	}

	/* a release from above waits for its files; how it went below is kept */
	{
		struct store_link_rec rel;
		struct store_site_object ob = {.site = "C02", .kind = "release", .name = "1.2.0",
					       .state = "refused", .detail = "release_untrusted"};

		memset(&rel, 0, sizeof(rel));
		rel.cls = 1, rel.seq = 50, rel.kind = STORE_LINK_RELEASE;
		rel.u.release.version = "1.2.0";
		rel.u.release.manifest = "manifest text";
		rel.u.release.len = strlen("manifest text");
		assert_int_equal(st->ops->site_apply(st, "CEN", 0, &rel, 1, applied), 0);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_fetch WHERE source = 'CEN'"
					    " AND state = 'fetching'"),
				 1);
		assert_int_equal(st->ops->fetch_update(st, "1.2.0", "fetching", "unreachable"), 0);
		assert_int_equal(q64(f->db, "SELECT tries FROM site_fetch"), 1);
		assert_int_equal(st->ops->fetch_update(st, "1.2.0", "bogus", ""), -STEWARD_EINVAL);
		assert_int_equal(st->ops->fetch_update(st, "1.2.0", NULL, NULL), 0);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_fetch"), 0);
		memset(&rel, 0, sizeof(rel));
		rel.cls = 1, rel.seq = 20, rel.kind = STORE_LINK_OBJECT;
		rel.u.object = ob;
		assert_int_equal(st->ops->site_apply(st, "C01", 0, &rel, 1, applied), 0);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_objects WHERE site = 'C02'"
					    " AND state = 'refused'"),
				 1);
		/* forwarded further up, like status */
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox WHERE link = 'CEN'"
					    " AND kind = 'object'"),
				 1);
	}

	/* a cascade from above is queued for every child with the change
	 * itself, once: nothing is lost between applying and passing on */
	{
		static const char *const keys[] = {"installs_paused"}, *const values[] = {"1"};
		const char *body = "{\"settings\":{\"installs_paused\":\"1\"},\"cascade\":true}";
		struct store_site c02 = a_site("C02", STORE_SITE_CHILD);
		struct store_link_rec set;

		assert_int_equal(st->ops->site_put(st, &c02), 0);
		memset(&set, 0, sizeof(set));
		set.cls = 0, set.seq = 60, set.kind = STORE_LINK_SETTINGS;
		set.u.settings.n = 1, set.u.settings.keys = keys, set.u.settings.values = values;
		set.pass_kind = "settings", set.pass_body = body;
		assert_int_equal(st->ops->site_apply(st, "CEN", 0, &set, 1, applied), 0);
		assert_true(set.applied);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox WHERE kind = 'settings'"
					    " AND link IN ('C01', 'C02') AND class = 0"
					    " AND body LIKE '%\"cascade\":true%'"),
				 2);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox WHERE kind = 'settings'"
					    " AND link = 'CEN'"),
				 0);
		/* the same batch again: neither applied nor passed on twice */
		assert_int_equal(st->ops->site_apply(st, "CEN", 0, &set, 1, applied), 0);
		assert_false(set.applied);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox WHERE kind = 'settings'"),
				 2);
	}

	/* detached: sent nothing more */
	got.attached = false;
	assert_int_equal(st->ops->site_update(st, "CEN", STORE_SITE_F_STATE, &got), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox WHERE link = 'CEN'"), 0);
	assert_int_equal(enroll(st, 3, NULL, &refusal, NULL), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox WHERE link = 'CEN'"), 0);
	assert_int_equal(st->ops->site_update(st, "ZZZ", STORE_SITE_F_STATE, &got), -STEWARD_ENOTFOUND);
}

/* ---- inventory up the links ---------------------------------------------------- */

#define INV_HW(MEM, FREE)                                                                          \
	"{\"cpu\":{\"cores\":2,\"model\":\"Xeon\",\"sockets\":1,\"threads\":4},\"disks\":[{"       \
	"\"device\":\"/dev/vda1\",\"free_mb\":" FREE ",\"fs\":\"ext4\",\"mount\":\"/\","           \
	"\"size_mb\":100},{\"device\":\"/dev/vdb\",\"free_mb\":1,\"fs\":\"ext4\",\"mount\":"       \
	"\"/srv\",\"size_mb\":50}],\"dmi\":{\"product\":\"pc\",\"serial\":\"s\",\"vendor\":"      \
	"\"QEMU\"},\"memory\":{\"total_mb\":" MEM "},\"network\":[],\"virtualization\":\"kvm\"}"
#define INV_OS                                                                                     \
	"{\"arch\":\"x86_64\",\"boot_time\":1,\"id\":\"debian\",\"kernel_release\":\"6.1.0\","     \
	"\"name\":\"Debian\",\"pretty_name\":\"Debian 12\",\"timezone\":\"UTC\",\"version\":"     \
	"\"12\",\"version_id\":\"12\"}"
#define INV_SW(PKG)                                                                                \
	"{\"packages\":[{\"arch\":\"amd64\",\"name\":\"" PKG "\",\"source\":\"dpkg\","             \
	"\"version\":\"1\"}],\"steward\":[]}"

static int64_t inv_queued(struct fx *f, const char *where)
{
	char sql[512];

	/* on PostgreSQL the documents have spaces SQLite does not write */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE kind = 'inventory'%s%s",
		 pg_base[0] ? "(SELECT kind, link, class, regexp_replace(body, '\\s', '', 'g') AS body"
			      " FROM site_outbox) AS site_outbox"
			    : "site_outbox",
		 where ? " AND " : "", where ? where : "");
	return q64(f->db, sql);
}

/* One inventory report of client id: classes NULL stay as they are. */
static void inv_report(struct store *st, const char *id, char h, const char *expect,
		       const char *hw, const char *os, const char *sw)
{
	struct store_inventory_put p;

	inv_put_init(&p, NOW, h, expect);
	p.classes[0] = hw;
	p.classes[1] = os;
	p.classes[2] = sw;
	assert_int_equal(st->ops->inventory_put(st, id, &p), 0);
}

struct inv_rows {
	int n;
	char level[4][8];
	bool software[4];
	char site[4][4];
};

static int inv_row_cb(const struct store_site_inv_row *r, void *ctx)
{
	struct inv_rows *l = ctx;

	if (l->n == 4)
		return 1;
	snprintf(l->level[l->n], sizeof(l->level[0]), "%s", r->level);
	snprintf(l->site[l->n], sizeof(l->site[0]), "%s", r->site);
	l->software[l->n++] = r->software != NULL;
	return 0;
}

/* A child sends up its clients' inventories at the level its parent asks,
 * queued with each change in its transaction: a summary only when the
 * summary changes, a full document at every change; raising the level
 * queues what the parent lacks, none drops what waits. A parent keeps what
 * came from below by (site, client), newest first, forwards it at the lower
 * level of its own link, and drops it when the client is deleted below. */
static void test_hierarchy_inventory(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_site parent = a_site("CEN", STORE_SITE_PARENT), got;
	struct store_client c;
	enum store_token_refusal refusal;
	char h1[65] = {0}, h2[65] = {0}, h3[65] = {0};
	size_t n = 0;

	assert_int_equal(st->ops->site_put(st, &parent), 0);
	assert_int_equal(st->ops->site_get(st, "CEN", &got), 0);
	assert_string_equal(got.inventory, ""); /* it has asked for nothing yet */
	assert_int_equal(enroll(st, 1, NULL, &refusal, &c), 0);
	inv_report(st, c.id, 'a', "", INV_HW("2048", "1"), INV_OS, INV_SW("nginx"));
	memset(h1, 'a', 64);
	/* a parent that asks nothing (an older one) is sent nothing */
	assert_int_equal(inv_queued(f, NULL), 0);

	/* summary: what it lacks now, then only changes of the summary */
	assert_int_equal(st->ops->site_inventory_level(st, "CEN", "summary", "C01", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(inv_queued(f, "class = 1 AND link = 'CEN' AND body LIKE"
				      " '%\"level\":\"summary\"%' AND body LIKE '%\"total_mb\":2048%'"
				      " AND body LIKE '%\"disk_total_mb\":150%' AND body NOT LIKE"
				      " '%nginx%' AND body NOT LIKE '%serial%'"),
			 1);
	assert_int_equal(st->ops->site_inventory_level(st, "CEN", "summary", "C01", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(st->ops->site_get(st, "CEN", &got), 0);
	assert_string_equal(got.inventory, "summary");
	inv_report(st, c.id, 'b', h1, NULL, NULL, INV_SW("apache2")); /* software only */
	memset(h2, 'b', 64);
	inv_report(st, c.id, 'c', h2, INV_HW("2048", "77"), NULL, NULL); /* free space only */
	memset(h3, 'c', 64);
	assert_int_equal(inv_queued(f, NULL), 1);
	inv_report(st, c.id, 'd', h3, INV_HW("4096", "77"), NULL, NULL);
	assert_int_equal(inv_queued(f, "body LIKE '%\"total_mb\":4096%'"), 1);
	memset(h1, 'd', 64);

	/* full: the whole document now, then at every change, as bulk */
	assert_int_equal(st->ops->site_inventory_level(st, "CEN", "full", "C01", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(inv_queued(f, "class = 2 AND body LIKE '%\"level\":\"full\"%'"
				      " AND body LIKE '%apache2%' AND body LIKE '%\"full_hash\":\"ddd%'"),
			 1);
	inv_report(st, c.id, 'e', h1, NULL, NULL, INV_SW("nginx"));
	memset(h2, 'e', 64);
	assert_int_equal(inv_queued(f, "class = 2 AND body LIKE '%nginx%'"), 1);
	assert_int_equal(inv_queued(f, NULL), 4);
	/* lowered to summary: nothing more is queued of it, and nothing is lost */
	assert_int_equal(st->ops->site_inventory_level(st, "CEN", "summary", "C01", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(inv_queued(f, NULL), 4);
	/* none: what waits is dropped, and changes are not sent */
	assert_int_equal(st->ops->site_inventory_level(st, "CEN", "none", "C01", &n), 0);
	assert_int_equal(inv_queued(f, NULL), 0);
	inv_report(st, c.id, 'f', h2, INV_HW("8192", "77"), NULL, NULL);
	assert_int_equal(inv_queued(f, NULL), 0);
	assert_int_equal(st->ops->site_inventory_level(st, "CEN", "bogus", "C01", &n),
			 -STEWARD_EINVAL);
	assert_int_equal(st->ops->site_inventory_level(st, "XXX", "full", "C01", &n),
			 -STEWARD_ENOTFOUND);

	/* as a parent: what C01 sends of C02's client, kept and passed on at
	 * the lower level (this site's own link up asks for summaries) */
	assert_int_equal(st->ops->site_inventory_level(st, "CEN", "summary", "C01", &n), 0);
	{
		struct store_site child = a_site("C01", STORE_SITE_CHILD);
		const char *x = "00000000000000000000000000000077";
		struct store_site_client sc = {.id = x,
					       .site = "C02",
					       .hostname = "h77",
					       .state = "approved",
					       .agent_version = "1.0.0",
					       .protocol = "1-1",
					       .enrolled = NOW,
					       .last_seen = NOW};
		struct proto_link_inv full = {.site = "C02", .full = true, .n = 1}, sum;
		struct proto_link_inv_client fc, smc;
		struct store_link_rec rec;
		struct inv_rows rows = {0};
		uint64_t applied[PROTO_LINK_CLASSES];
		int64_t before = inv_queued(f, "link = 'CEN'");

		assert_int_equal(st->ops->site_put(st, &child), 0);
		assert_int_equal(st->ops->site_get(st, "C01", &got), 0);
		assert_string_equal(got.inventory, "summary"); /* asked of a child by default */
		snprintf(got.inventory, sizeof(got.inventory), "full");
		assert_int_equal(st->ops->site_update(st, "C01", STORE_SITE_F_INVENTORY, &got), 0);
		snprintf(got.inventory, sizeof(got.inventory), "most");
		assert_int_equal(st->ops->site_update(st, "C01", STORE_SITE_F_INVENTORY, &got),
				 -STEWARD_EINVAL);
		assert_int_equal(st->ops->site_get(st, "C01", &got), 0);
		assert_string_equal(got.inventory, "full");
		memset(&rec, 0, sizeof(rec));
		rec.cls = 1, rec.seq = 10, rec.kind = STORE_LINK_CLIENTS;
		rec.u.clients.n = 1, rec.u.clients.v = &sc;
		assert_int_equal(st->ops->site_apply(st, "C01", 0, &rec, 1, applied), 0);

		memset(&fc, 0, sizeof(fc));
		snprintf(fc.id, sizeof(fc.id), "%s", x);
		fc.received = NOW;
		fc.hardware = (char *)INV_HW("1024", "5");
		fc.os = (char *)INV_OS;
		fc.software = (char *)INV_SW("nginx");
		for (int k = 0; k < 3; k++)
			memset(fc.hashes[k], '1' + k, 64);
		memset(fc.full_hash, '9', 64);
		full.v = &fc;
		memset(&rec, 0, sizeof(rec));
		rec.cls = 2, rec.seq = 20, rec.kind = STORE_LINK_INVENTORY;
		rec.u.inventory = &full;
		assert_int_equal(st->ops->site_apply(st, "C01", 0, &rec, 1, applied), 0);
		assert_true(rec.applied);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_inventory WHERE site = 'C02'"
					    " AND via = 'C01' AND level = 'full' AND software IS NOT NULL"),
				 1);
		/* on up as a summary: this site's link up asks no more */
		assert_int_equal(inv_queued(f, "link = 'CEN'") - before, 1);
		assert_int_equal(inv_queued(f, "link = 'CEN' AND class = 1 AND body LIKE"
					      " '%\"site\":\"C02\"%' AND body LIKE '%\"total_mb\":1024%'"
					      " AND body NOT LIKE '%nginx%'"),
				 1);
		/* the same batch again: nothing twice */
		assert_int_equal(st->ops->site_apply(st, "C01", 0, &rec, 1, applied), 0);
		assert_false(rec.applied);
		assert_int_equal(inv_queued(f, "link = 'CEN'") - before, 1);
		/* a summary of the same time does not replace the full document
		 * (the classes may arrive out of order), nor does an older one */
		memset(&smc, 0, sizeof(smc));
		snprintf(smc.id, sizeof(smc.id), "%s", x);
		smc.received = NOW;
		smc.hardware = (char *)"{\"memory\":{\"total_mb\":1}}";
		smc.os = (char *)"{}";
		sum = (struct proto_link_inv){.site = "C02", .full = false, .n = 1, .v = &smc};
		memset(&rec, 0, sizeof(rec));
		rec.cls = 1, rec.seq = 30, rec.kind = STORE_LINK_INVENTORY;
		rec.u.inventory = &sum;
		assert_int_equal(st->ops->site_apply(st, "C01", 0, &rec, 1, applied), 0);
		smc.received = NOW - 5;
		rec.seq = 31;
		assert_int_equal(st->ops->site_apply(st, "C01", 0, &rec, 1, applied), 0);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_inventory WHERE level = 'full'"),
				 1);
		/* a newer one does, and goes up when its summary changed */
		smc.received = NOW + 5;
		rec.seq = 32;
		assert_int_equal(st->ops->site_apply(st, "C01", 0, &rec, 1, applied), 0);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_inventory WHERE"
					    " level = 'summary' AND software IS NULL"),
				 1);
		assert_int_equal(inv_queued(f, "link = 'CEN'") - before, 2);
		/* listed with the client's row */
		assert_int_equal(st->ops->site_inventory_list(st, NULL, inv_row_cb, &rows), 0);
		assert_int_equal(rows.n, 1);
		assert_string_equal(rows.level[0], "summary");
		assert_string_equal(rows.site[0], "C02");
		assert_false(rows.software[0]);
		memset(&rows, 0, sizeof(rows));
		assert_int_equal(st->ops->site_inventory_list(st, c.id, inv_row_cb, &rows), 0);
		assert_int_equal(rows.n, 0);
		/* deleted below: its inventory goes */
		sc.state = "deleted";
		memset(&rec, 0, sizeof(rec));
		rec.cls = 1, rec.seq = 40, rec.kind = STORE_LINK_CLIENTS;
		rec.u.clients.n = 1, rec.u.clients.v = &sc;
		assert_int_equal(st->ops->site_apply(st, "C01", 0, &rec, 1, applied), 0);
		assert_int_equal(q64(f->db, "SELECT count(*) FROM site_inventory"), 0);
	}
	/* raising the level again re-sends own clients' and those from below */
	assert_int_equal(st->ops->site_inventory_level(st, "CEN", "none", "C01", &n), 0);
	assert_int_equal(st->ops->site_inventory_level(st, "CEN", "full", "C01", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(inv_queued(f, "link = 'CEN' AND class = 2 AND body LIKE '%\"site\":\"C01\"%'"),
			 1);
}

static int copy_site_row(const struct store_site *v, void *ctx)
{
	*(struct store_site *)ctx = *v; /* the last one listed */
	return 0;
}

static int64_t kept(const char *db, const char *link)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM site_outbox_kept WHERE link = '%s'", link);
	return q64(db, sql);
}

/* What a receiver acknowledged is kept, not dropped; a receiver that says
 * it applied less than before (restored from a backup) is sent what is
 * kept above that again, in order; kept messages are pruned by age and by
 * count, except toward a site on watch; a detach drops them. */
static void test_outbox_kept(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_site child = a_site("C01", STORE_SITE_CHILD), got;
	struct store_link_ack ack = {.epoch = "aaaaaaaaaaaaaaaa", .now = NOW};
	uint64_t seq[4];
	struct msgs *ms;
	size_t n = 0;

	assert_int_equal(st->ops->site_put(st, &child), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(st->ops->outbox_put(st, "C01", 1, 1, "settings", "{\"n\":1}"), 0);
	assert_int_equal(st->ops->outbox_put(st, "C01", 1, 0, "settings", "{\"n\":0}"), 0);
	ms = peek_all(st, "C01", 0x7);
	assert_int_equal(ms->n, 4);
	seq[3] = ms->seq[0]; /* class 0 first */
	for (int i = 0; i < 3; i++)
		seq[i] = ms->seq[1 + i];
	assert_true(seq[0] < seq[1] && seq[1] < seq[2] && seq[2] < seq[3]);

	/* applied: no longer waiting, but kept; the answer is noted */
	ack.applied[0] = seq[3];
	ack.applied[1] = seq[1];
	assert_int_equal(st->ops->outbox_ack(st, "C01", &ack), 0);
	ms = peek_all(st, "C01", 0x7);
	assert_int_equal(ms->n, 1);
	assert_true(ms->seq[0] == seq[2]);
	assert_int_equal(kept(f->db, "C01"), 3);
	assert_int_equal(st->ops->site_get(st, "C01", &got), 0);
	assert_string_equal(got.out_epoch, "aaaaaaaaaaaaaaaa");
	assert_true(got.out_acked[0] == seq[3] && got.out_acked[1] == seq[1] &&
		    got.out_acked[2] == 0);
	assert_int_equal(st->ops->site_list(st, copy_site_row, &got), 0);
	assert_int_equal(got.out_kept, 3);
	assert_int_equal(got.out_msgs, 1);
	/* the same answer again changes nothing */
	assert_int_equal(st->ops->outbox_ack(st, "C01", &ack), 0);
	assert_int_equal(peek_all(st, "C01", 0x7)->n, 1);
	assert_int_equal(kept(f->db, "C01"), 3);

	/* restored: it has only the first of class 1 and nothing of class 0;
	 * what it lost waits again, in order, before what waited already */
	memset(ack.applied, 0, sizeof(ack.applied));
	ack.applied[1] = seq[0];
	snprintf(ack.epoch, sizeof(ack.epoch), "bbbbbbbbbbbbbbbb");
	assert_int_equal(st->ops->outbox_ack(st, "C01", &ack), 0);
	ms = peek_all(st, "C01", 0x7);
	assert_int_equal(ms->n, 3);
	assert_true(ms->seq[0] == seq[3] && ms->seq[1] == seq[1] && ms->seq[2] == seq[2]);
	assert_string_equal(ms->body[0], "{\"n\":0}");
	assert_int_equal(kept(f->db, "C01"), 1);
	assert_int_equal(st->ops->site_get(st, "C01", &got), 0);
	assert_string_equal(got.out_epoch, "bbbbbbbbbbbbbbbb");
	assert_true(got.out_acked[0] == 0 && got.out_acked[1] == seq[0]);
	/* all applied now, later */
	ack.now = NOW + 50;
	ack.applied[0] = seq[3];
	ack.applied[1] = seq[2];
	assert_int_equal(st->ops->outbox_ack(st, "C01", &ack), 0);
	assert_int_equal(peek_all(st, "C01", 0x7)->n, 0);
	assert_int_equal(kept(f->db, "C01"), 4);

	/* pruned by age: only the one acknowledged at NOW is older than 100 s */
	assert_int_equal(st->ops->outbox_prune(st, NOW + 100, 100, 1000, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(st->ops->outbox_prune(st, NOW + 120, 100, 1000, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kept(f->db, "C01"), 3);
	/* and by count: the newest one stays */
	assert_int_equal(st->ops->outbox_prune(st, NOW + 120, 1000, 1, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(q64(f->db, "SELECT seq FROM site_outbox_kept"), (int64_t)seq[3]);
	assert_int_equal(q64(f->db, "SELECT out_pruned1 FROM sites WHERE code = 'C01'"),
			 (int64_t)seq[2]);
	assert_int_equal(st->ops->outbox_prune(st, NOW, -1, 1, &n), -STEWARD_EINVAL);
	/* restored to before what was pruned: what is kept goes again, the
	 * rest cannot (logged as link_messages_lost) */
	memset(ack.applied, 0, sizeof(ack.applied));
	assert_int_equal(st->ops->outbox_ack(st, "C01", &ack), 0);
	ms = peek_all(st, "C01", 0x7);
	assert_int_equal(ms->n, 1);
	assert_true(ms->seq[0] == seq[3]);

	/* a receiver on watch: nothing acknowledged is dropped until it ends */
	ack.applied[0] = seq[3];
	ack.watch_until = NOW + 1000;
	assert_int_equal(st->ops->outbox_ack(st, "C01", &ack), 0);
	assert_int_equal(st->ops->outbox_prune(st, NOW + 999, 0, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(kept(f->db, "C01"), 1);
	assert_int_equal(st->ops->outbox_prune(st, NOW + 1000, 0, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kept(f->db, "C01"), 0);

	/* a detach drops what is kept; an attach starts the answers afresh */
	assert_int_equal(st->ops->outbox_put(st, "C01", 1, 1, "settings", "{}"), 0);
	ms = peek_all(st, "C01", 0x7);
	ack.applied[1] = ms->seq[0];
	assert_int_equal(st->ops->outbox_ack(st, "C01", &ack), 0);
	assert_int_equal(kept(f->db, "C01"), 1);
	got.attached = false;
	assert_int_equal(st->ops->site_update(st, "C01", STORE_SITE_F_STATE, &got), 0);
	assert_int_equal(kept(f->db, "C01"), 0);
	assert_int_equal(st->ops->site_put(st, &child), 0);
	assert_int_equal(st->ops->site_get(st, "C01", &got), 0);
	assert_string_equal(got.out_epoch, "");
	assert_true(got.out_acked[1] == 0 && got.out_keep_until == 0);
	assert_int_equal(st->ops->outbox_ack(st, "NOP", &ack), -STEWARD_ENOTFOUND);
}

/* A database restored from a backup has its outbox counter back where the
 * backup left it; the lift at every start (and on a closed file, by a site
 * upgrade's rollback) numbers what is queued next above everything given
 * out before, and never takes the counter down. */
static void test_outbox_lift(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_site parent = a_site("CEN", STORE_SITE_PARENT);
	const int64_t floor = INT64_C(1764000000000000); /* the clock in microseconds */
	struct msgs *ms;

	/* no message queued yet: the counter is made at the floor */
	assert_int_equal(st->ops->outbox_lift(st, floor), 0);
	assert_int_equal(st->ops->site_put(st, &parent), 0);
	assert_int_equal(st->ops->outbox_put(st, "CEN", 0, 1, "hello", "{}"), 0);
	ms = peek_all(st, "CEN", 0x7);
	assert_int_equal(ms->n, 1);
	assert_true(ms->seq[0] == (uint64_t)floor + 1);
	/* a lower floor changes nothing */
	assert_int_equal(st->ops->outbox_lift(st, 5), 0);
	assert_int_equal(st->ops->outbox_put(st, "CEN", 0, 1, "hello", "{}"), 0);
	ms = peek_all(st, "CEN", 0x7);
	assert_true(ms->seq[1] == (uint64_t)floor + 2);
	assert_int_equal(st->ops->outbox_lift(st, -1), -STEWARD_EINVAL);
	/* on PostgreSQL the counter is the outbox's sequence */
	if (pg_base[0]) {
		assert_int_equal(q64(f->db, "SELECT last_value FROM site_outbox_seq_seq"),
				 floor + 2);
		return; /* the rest is about SQLite's file, closed */
	}
	/* the closed file, as a rollback restores it */
	fx_close(f);
	assert_int_equal(store_outbox_lift_target(f->db, floor + 1000), 0);
	assert_int_equal(q64(f->db, "SELECT seq FROM sqlite_sequence WHERE name = 'site_outbox'"),
			 floor + 1000);
	assert_int_equal(store_outbox_lift_target(f->db, 7), 0);
	assert_int_equal(q64(f->db, "SELECT seq FROM sqlite_sequence WHERE name = 'site_outbox'"),
			 floor + 1000);
	st = fx_open(f, &store_sqlite_ops);
	assert_int_equal(st->ops->outbox_put(st, "CEN", 0, 1, "hello", "{}"), 0);
	ms = peek_all(st, "CEN", 0x7);
	assert_true(ms->seq[2] == (uint64_t)floor + 1001);
	fx_close(f);
	/* a database without an outbox (an old schema) has nothing to lift */
	unlink(f->db);
	sql_exec(f->db, "CREATE TABLE t (x INTEGER)");
	assert_int_equal(store_outbox_lift_target(f->db, floor), 0);
	assert_int_equal(
	    q64(f->db, "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'"), 0);
	assert_int_not_equal(store_outbox_lift_target("/nonexistent/steward.db", floor), 0);
}

/* A site upgrade's backup and its restore: SQLite's online backup into a
 * file; on PostgreSQL pg_dump, and pg_restore into the emptied schema, so
 * that what the version rolled back from made is gone too. */
static void test_backup_restore(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	char path[PATH_MAX + 64], v[32];

	snprintf(path, sizeof(path), "%s/backup.db", f->dir);
	assert_int_equal(st->ops->setting_set(st, "k", "before"), 0);
	assert_int_equal(st->ops->backup(st, path), 0);
	assert_int_equal(st->ops->backup(st, path), -STEWARD_EEXIST); /* never over a backup */
	assert_int_equal(st->ops->setting_set(st, "k", "after"), 0);
	fx_close(f);
	if (!pg_base[0]) {
		assert_int_equal(q64(path, "SELECT count(*) FROM settings WHERE value = 'before'"), 1);
		return;
	}
	/* what a newer version would have made */
	sql_exec(f->db, "CREATE TABLE made_later (x BIGINT)");
	assert_int_equal(store_pg_restore(f->db, path), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM pg_tables WHERE tablename = 'made_later'"),
			 0);
	st = fx_open(f, &store_sqlite_ops);
	assert_int_equal(st->ops->setting_get(st, "k", v, sizeof(v)), 0);
	assert_string_equal(v, "before");
	fx_close(f);
	assert_int_equal(store_pg_restore(f->db, "/nonexistent/backup.db"), -STEWARD_ENOTFOUND);
}

/* The size upgrade check counts for the backup: the database's pages on
 * SQLite, pg_database_size() on PostgreSQL. */
static void test_db_bytes(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	uint64_t b = 0, again = 0;
	int64_t want;

	assert_int_equal(st->ops->db_bytes(st, &b), 0);
	assert_true(b > 0);
	for (int i = 0; i < 200; i++) {
		char k[32], v[1024];

		snprintf(k, sizeof(k), "k%d", i);
		memset(v, 'a' + i % 26, sizeof(v) - 1);
		v[sizeof(v) - 1] = '\0';
		assert_int_equal(st->ops->setting_set(st, k, v), 0);
	}
	assert_int_equal(st->ops->db_bytes(st, &again), 0);
	want =
	    q64(f->db, pg_base[0] ? "SELECT pg_database_size(current_database())"
				  : "SELECT p.page_count * s.page_size FROM pragma_page_count() p,"
				    " pragma_page_size() s");
	assert_true(again >= b);
	/* the same database read a moment apart (PostgreSQL's own writes may move it) */
	assert_true((int64_t)again <= want + (1 << 20) && (int64_t)again >= want - (1 << 20));
	fx_close(f);
}

static void test_swdist_ops(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_package pk = {.bytes = 30, .files = 2, .created = NOW};
	struct store_blob blobs[3];
	struct store_program pr = {.spec = "{\"command\":\"true\"}", .created = NOW};
	struct store_advert ad = {.collection = "All Clients", .enabled = true, .created = NOW};
	struct store_status m[3], got;
	int64_t rev = 0;
	size_t applied = 0;
	int n = 0;

	snprintf(pk.name, sizeof(pk.name), "tool");
	snprintf(pk.version, sizeof(pk.version), "1.0");
	memset(pk.manifest, 'm', 64);
	for (int i = 0; i < 3; i++) {
		memset(blobs[i].hash, 'a' + i, 64);
		blobs[i].hash[64] = '\0';
		blobs[i].size = 10;
	}
	assert_int_equal(st->ops->package_create(st, &pk, blobs, 3), 0);
	assert_true(pk.rid > 0);
	/* a version is immutable: the same name (any case) and version again fails */
	snprintf(pk.name, sizeof(pk.name), "TOOL");
	assert_int_equal(st->ops->package_create(st, &pk, blobs, 1), -STEWARD_EEXIST);
	snprintf(pk.version, sizeof(pk.version), "2.0");
	assert_int_equal(st->ops->package_create(st, &pk, blobs + 1, 2), 0);
	assert_int_equal(st->ops->package_list(st, (store_package_cb)count_cb, &n), 0);
	assert_int_equal(n, 2);
	n = 0; /* blobs shared by two packages are listed once */
	assert_int_equal(st->ops->blob_list(st, (store_blob_cb)count_cb, &n), 0);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(st->ops->package_blobs(st, pk.rid, (store_blob_cb)count_cb, &n), 0);
	assert_int_equal(n, 2);

	/* programs need their package; packages in use cannot go */
	snprintf(pr.name, sizeof(pr.name), "install");
	pr.package_rid = 999;
	assert_int_equal(st->ops->program_create(st, &pr), -STEWARD_ENOTFOUND);
	pr.package_rid = pk.rid;
	assert_int_equal(st->ops->program_create(st, &pr), 0);
	assert_int_equal(st->ops->program_create(st, &pr), -STEWARD_EEXIST);
	assert_int_equal(st->ops->package_delete(st, pk.rid), -STEWARD_EBUSY);

	/* advertisements */
	snprintf(ad.name, sizeof(ad.name), "roll out");
	ad.program_rid = pr.rid;
	assert_int_equal(st->ops->advert_create(st, &ad), 0);
	assert_int_equal(ad.revision, 1);
	assert_int_equal(st->ops->program_delete(st, pr.rid), -STEWARD_EBUSY);
	assert_int_equal(st->ops->advert_set_enabled(st, ad.rid, false, &rev), 0);
	assert_int_equal(rev, 2);
	assert_int_equal(st->ops->advert_set_enabled(st, 12345, false, &rev), -STEWARD_ENOTFOUND);

	/* status: newer seqs move the current row; older or repeated ones are
	 * ignored, history keeps every new one; unknown adverts are skipped */
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 3; i++) {
		m[i].advert_rid = ad.rid;
		memset(m[i].client_id, 'c', 32);
		m[i].revision = 2;
		m[i].time = NOW + i;
	}
	m[0].seq = 5;
	snprintf(m[0].state, sizeof(m[0].state), "running");
	m[1].seq = 6;
	snprintf(m[1].state, sizeof(m[1].state), "failed");
	m[1].has_exit_code = true;
	m[1].exit_code = 2;
	m[2] = m[0];
	m[2].advert_rid = 777;
	assert_int_equal(st->ops->status_apply(st, m, 3, &applied), 0);
	assert_int_equal(applied, 2);
	assert_int_equal(st->ops->status_apply(st, m, 2, &applied), 0);
	assert_int_equal(applied, 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(st->ops->status_current(st, ad.rid, NULL, status_copy_cb, &got), 0);
	assert_string_equal(got.state, "failed");
	assert_true(got.has_exit_code);
	assert_int_equal(got.exit_code, 2);
	n = 0;
	assert_int_equal(st->ops->status_history(st, ad.rid, m[0].client_id, 10,
						 (store_status_cb)count_cb, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(st->ops->status_history_prune(st, NOW + 1), 0);
	n = 0;
	assert_int_equal(st->ops->status_history(st, ad.rid, m[0].client_id, 10,
						 (store_status_cb)count_cb, &n), 0);
	assert_int_equal(n, 1);

	/* deleting the advert takes its status along and frees the program;
	 * its id is never handed out again (agents key their records on it) */
	assert_int_equal(st->ops->advert_delete(st, ad.rid), 0);
	{
		int64_t old = ad.rid;

		snprintf(ad.name, sizeof(ad.name), "again");
		assert_int_equal(st->ops->advert_create(st, &ad), 0);
		assert_true(ad.rid > old);
		assert_int_equal(st->ops->advert_delete(st, ad.rid), 0);
	}
	n = 0;
	assert_int_equal(st->ops->status_current(st, 0, m[0].client_id, (store_status_cb)count_cb,
						 &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(st->ops->program_delete(st, pr.rid), 0);
	assert_int_equal(st->ops->package_delete(st, pk.rid), 0);
	assert_int_equal(st->ops->package_delete(st, pk.rid), -STEWARD_ENOTFOUND);
}


static int count_down(const struct store_down *d, void *ctx)
{
	struct store_down *last = ctx;

	*last = *d;
	last->body = NULL;
	return 0;
}

/* Collections, packages, programs and advertisements go down to every
 * child with the change itself (triggers, and the collection's own
 * transaction); toward a child that does not take them they wait, with a
 * status saying why, and go when it does, numbered anew; what comes from
 * above waits in site_down, applied once, its state reported up only when
 * it changes, and only for the copy it was read from. */
static void test_objects_down(void **state)
{
	struct fx *f = *state;
	struct store *st = fx_open(f, &store_sqlite_ops);
	struct store_site c01 = a_site("C01", STORE_SITE_CHILD), cen = a_site("CEN", STORE_SITE_PARENT);
	struct store_package pk = {.bytes = 10, .files = 1, .created = NOW};
	struct store_blob blob = {.size = 10};
	struct store_program pr = {.spec = "{\"command\":\"true\"}", .created = NOW};
	struct store_advert ad = {.collection = "All Clients", .enabled = true, .created = NOW};
	struct store_collection col;
	struct store_down last;
	struct store_link_rec rec;
	struct msgs *ms;
	uint64_t applied[PROTO_LINK_CLASSES], top;
	int64_t rev;
	size_t held = 0, n = 0;

	/* nothing goes down without a child */
	snprintf(pk.name, sizeof(pk.name), "early");
	snprintf(pk.version, sizeof(pk.version), "1.0");
	memset(pk.manifest, 'e', 64);
	memset(blob.hash, 'e', 64);
	assert_int_equal(st->ops->package_create(st, &pk, &blob, 1), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox"), 0);
	assert_int_equal(st->ops->site_put(st, &c01), 0);
	/* a child attached later gets what is here */
	assert_int_equal(st->ops->outbox_objects(st, "C01", &n), 0);
	assert_int_equal(n, 1);
	ms = peek_all(st, "C01", 0x7);
	assert_int_equal(ms->n, 1);
	assert_string_equal(ms->kind[0], "package");
	assert_non_null(strstr(ms->body[0], "\"op\":\"put\",\"name\":\"early\""));

	/* then every change, in order */
	snprintf(pk.name, sizeof(pk.name), "tool");
	memset(pk.manifest, 'm', 64);
	memset(blob.hash, 'b', 64);
	assert_int_equal(st->ops->package_create(st, &pk, &blob, 1), 0);
	snprintf(pr.name, sizeof(pr.name), "install");
	pr.package_rid = pk.rid;
	assert_int_equal(st->ops->program_create(st, &pr), 0);
	memset(&col, 0, sizeof(col));
	snprintf(col.name, sizeof(col.name), "approved");
	col.is_query = true;
	snprintf(col.query, sizeof(col.query), "state = \"approved\"");
	col.members = calloc(1, sizeof(col.members[0]));
	col.include = calloc(1, sizeof(col.include[0]));
	col.exclude = calloc(1, sizeof(col.exclude[0]));
	col.created = NOW;
	assert_int_equal(st->ops->collection_create(st, &col), 0);
	store_collection_clear(&col);
	snprintf(ad.name, sizeof(ad.name), "roll-out");
	snprintf(ad.collection, sizeof(ad.collection), "approved");
	ad.program_rid = pr.rid;
	assert_int_equal(st->ops->advert_create(st, &ad), 0);
	assert_int_equal(st->ops->advert_set_enabled(st, ad.rid, false, &rev), 0);
	assert_int_equal(st->ops->advert_delete(st, ad.rid), 0);
	ms = peek_all(st, "C01", 0x7);
	assert_int_equal(ms->n, 7);
	assert_string_equal(ms->kind[1], "package");
	assert_string_equal(ms->kind[2], "program");
	assert_non_null(strstr(ms->body[2], "\"package\":\"tool\",\"version\":\"1.0\""));
	assert_string_equal(ms->kind[3], "collection");
	assert_non_null(strstr(ms->body[3], "\"query\":\"state = \\\"approved\\\"\""));
	assert_non_null(strstr(ms->body[3], "\"members\":[]"));
	assert_string_equal(ms->kind[4], "advert");
	assert_non_null(strstr(ms->body[4], "\"enabled\":true"));
	assert_non_null(strstr(ms->body[5], "\"enabled\":false"));
	assert_non_null(strstr(ms->body[6], "\"op\":\"delete\",\"name\":\"roll-out\""));
	for (int i = 0; i < ms->n; i++)
		assert_int_equal(ms->cls[i], 1);
	top = ms->seq[ms->n - 1];

	/* an older child takes none of them: they wait here, and say why;
	 * the rest of the traffic goes on */
	assert_int_equal(st->ops->outbox_put(st, "C01", 1, 0, "settings", "{}"), 0);
	assert_int_equal(st->ops->outbox_hold(st, "C01", "", "0.1.0", &held), 0);
	assert_int_equal(held, 7);
	ms = peek_all(st, "C01", 0x7);
	assert_int_equal(ms->n, 1);
	assert_string_equal(ms->kind[0], "settings");
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_objects WHERE site = 'C01'"
				    " AND kind = 'package' AND name = 'tool@1.0' AND state = 'waiting'"
				    " AND detail = 'site C01 runs 0.1.0, which cannot take packages from"
				    " above; upgrade it'"),
			 1);
	/* upgraded: they go, in their order, numbered above all before */
	assert_int_equal(st->ops->outbox_hold(st, "C01", STORE_DOWN_KINDS, "0.2.0", &held), 0);
	assert_int_equal(held, 0);
	ms = peek_all(st, "C01", 0x7);
	assert_int_equal(ms->n, 8);
	assert_string_equal(ms->kind[1], "package");
	assert_non_null(strstr(ms->body[1], "\"name\":\"early\""));
	assert_string_equal(ms->kind[7], "advert");
	assert_true(ms->seq[1] > top);
	assert_true(ms->seq[7] > ms->seq[6]);
	/* a detach drops what waits, held or not */
	assert_int_equal(st->ops->outbox_hold(st, "C01", ",package,", "0.1.5", &held), 0);
	assert_int_equal(held, 5);
	c01.attached = false;
	assert_int_equal(st->ops->site_update(st, "C01", STORE_SITE_F_STATE, &c01), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox_held"), 0);

	/* from above: kept until applied, once */
	assert_int_equal(st->ops->site_put(st, &cen), 0);
	memset(&rec, 0, sizeof(rec));
	rec.cls = 1, rec.seq = 70, rec.kind = STORE_LINK_DOWN;
	rec.u.down.kind = "advert";
	rec.u.down.name = "roll-out";
	rec.u.down.origin = "";
	rec.u.down.op = "put";
	rec.u.down.body = "{\"op\":\"put\",\"name\":\"roll-out\"}";
	assert_int_equal(st->ops->site_apply(st, "CEN", 0, &rec, 1, applied), 0);
	assert_true(rec.applied);
	assert_int_equal(st->ops->site_apply(st, "CEN", 0, &rec, 1, applied), 0);
	assert_false(rec.applied);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_down WHERE origin = 'CEN'"
				    " AND source = 'CEN' AND state = 'received'"),
			 1);
	/* its state goes up with it */
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox WHERE link = 'CEN'"
				    " AND kind = 'object' AND body LIKE '%\"state\":\"received\"%'"),
			 1);
	memset(&last, 0, sizeof(last));
	assert_int_equal(st->ops->down_list(st, NULL, NULL, false, count_down, &last), 0);
	assert_int_equal(last.gen, 1);
	/* a newer copy (disabled at CEN) while the first is being applied */
	rec.seq = 71;
	rec.u.down.origin = "XYZ";
	assert_int_equal(st->ops->site_apply(st, "CEN", 0, &rec, 1, applied), 0);
	assert_int_equal(q64(f->db, "SELECT gen FROM site_down"), 2);
	assert_int_equal(q64(f->db, "SELECT origin = 'XYZ' FROM site_down"), 1);
	/* the outcome of the first copy does not finish the second, which
	 * comes after what arrived meanwhile */
	assert_int_equal(st->ops->down_update(st, last.seq, 1, "applied", "", true), 0);
	assert_int_equal(q64(f->db, "SELECT done FROM site_down"), 0);
	assert_true(q64(f->db, "SELECT seq FROM site_down") > last.seq);
	memset(&last, 0, sizeof(last));
	assert_int_equal(st->ops->down_list(st, NULL, NULL, false, count_down, &last), 0);
	assert_int_equal(last.gen, 2);
	assert_int_equal(st->ops->down_update(st, last.seq, 1, "applied", "", true), 0);
	assert_int_equal(q64(f->db, "SELECT done FROM site_down"), 0);
	assert_int_equal(st->ops->down_update(st, last.seq, 2, "waiting", "for program install",
					      false), 0);
	assert_int_equal(st->ops->down_update(st, last.seq, 2, "waiting", "for program install",
					      false), 0);
	assert_int_equal(q64(f->db, "SELECT count(*) FROM site_outbox WHERE link = 'CEN'"
				    " AND kind = 'object' AND body LIKE '%\"state\":\"waiting\"%'"),
			 1);
	assert_int_equal(st->ops->down_update(st, last.seq, 2, "applied", "", true), 0);
	memset(&last, 0, sizeof(last));
	assert_int_equal(st->ops->down_list(st, NULL, NULL, false, count_down, &last), 0);
	assert_int_equal(last.seq, 0);
	assert_int_equal(st->ops->down_list(st, "advert", "roll-out", true, count_down, &last), 0);
	assert_true(last.done);
	assert_string_equal(last.state, "applied");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	if (pgtest_base_url(pg_base, sizeof(pg_base)))
		return 1;
	const struct CMUnitTest tests[] = {
	    T(test_migrate_from_empty),
	    T(test_inventory_ops),
	    T(test_swdist_ops),
	    T(test_release_ops),
	    T(test_release_marks),
	    T(test_hierarchy_ops),
	    T(test_hierarchy_inventory),
	    T(test_outbox_lift),
	    T(test_backup_restore),
	    T(test_db_bytes),
	    T(test_outbox_kept),
	    T(test_objects_down),
	    T(test_reopen_idempotent),
	    T(test_schema_too_new),
	    T(test_not_a_database),
	    T(test_concurrent_first_open),
	    T(test_enroll_token_uses),
	    T(test_enroll_refusal_reasons),
	    T(test_enroll_without_token),
	    T(test_enroll_duplicates),
	    T(test_enroll_other_constraint_is_not_eexist),
	    T(test_enroll_failure_in_transaction),
	    T(test_enroll_faulty),
	    T(test_clients),
	    cmocka_unit_test(test_client_state_names),
	    T(test_tokens),
	    T(test_admin_tokens),
	    T(test_audit_log),
	    T(test_migrate_admin_tokens),
	    T(test_rollout_ops),
	    T(test_settings),
	    T(test_checkin_apply),
	    T(test_changes_announced),
	    cmocka_unit_test(test_listen_stalled),
	    cmocka_unit_test(test_db_stalled),
	    T(test_outbox_commit_order),
	    T(test_checkin_batch_is_atomic),
	    T(test_checkin_seq_only),
	    T(test_writer_completes_after_commit),
	    T(test_writer_queue_full),
	    T(test_writer_stop_flushes),
	    T(test_writer_batches_group),
	    T(test_writer_batches_group_free_running),
	    T(test_writer_failure_reaches_whole_batch),
	    T(test_writer_real_failure_recovers),
	    T(test_writer_start_stop_idle),
	    T(test_faulty_counts_and_modes),
	};

	if (proto_init() != 0)
		return 1;
	/* the store logs SQL errors that these tests cause on purpose */
	if (!getenv("STEWARD_TEST_LOG"))
		log_set_level((enum log_level)(LOG_ERROR + 1));
	return cmocka_run_group_tests(tests, NULL, NULL);
}

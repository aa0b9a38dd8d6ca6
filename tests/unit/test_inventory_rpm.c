/* Unit tests for the agent's rpm reader, agent/inventory_rpm.c (compiled
 * into this test): agent_rpm_header_parse on header blobs built here from
 * tag/value pairs, good and damaged in every way it checks, and
 * agent_rpmdb_read on a real rpmdb.sqlite made with the sqlite3 API in a
 * temporary directory, the same function the agent calls.
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
#include <sys/stat.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>

#include "steward/inventory.h"
#include "../../agent/inventory.h"

/* ---- building headers -------------------------------------------------------- */

#define T_NAME	  1000
#define T_VERSION 1001
#define T_RELEASE 1002
#define T_EPOCH	  1003
#define T_ARCH	  1022
#define T_OTHER	  1004 /* SUMMARY: present in real headers, not read */

/* One index entry; for STRING the value is s, for INT32 it is i. The raw
 * fields override what the builder would write (to damage a header). */
struct tv {
	int32_t tag, type;
	const char *s;
	uint32_t i;
};

/* clang-format off */
#define S(tag, str) {(tag), 6, (str), 0}
#define I(tag, val) {(tag), 4, NULL, (val)}
#define END	    {0, 0, NULL, 0}
/* clang-format on */

struct blob {
	uint8_t b[4096];
	size_t len;
	size_t il, dl;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A header as rpmdb.sqlite stores it: il, dl, entries, data. Strings end in
 * NUL; INT32 values are 4-aligned like rpm writes them. */
static void build(struct blob *h, const struct tv *tv)
{
	uint8_t data[2048];
	size_t il = 0, dl = 0;

	memset(h, 0, sizeof(*h));
	for (; tv[il].tag; il++)
		;
	for (size_t k = 0; k < il; k++) {
		uint8_t *ent = h->b + 8 + 16 * k;
		put32(ent, (uint32_t)tv[k].tag);
		put32(ent + 4, (uint32_t)tv[k].type);
		if (tv[k].s) {
			size_t n = strlen(tv[k].s) + 1;
			put32(ent + 8, (uint32_t)dl);
			memcpy(data + dl, tv[k].s, n);
			dl += n;
		} else {
			while (dl % 4)
				data[dl++] = 0;
			put32(ent + 8, (uint32_t)dl);
			put32(data + dl, tv[k].i);
			dl += 4;
		}
		put32(ent + 12, 1);
	}
	put32(h->b, (uint32_t)il);
	put32(h->b + 4, (uint32_t)dl);
	memcpy(h->b + 8 + 16 * il, data, dl);
	h->il = il;
	h->dl = dl;
	h->len = 8 + 16 * il + dl;
}

static uint8_t *entry(struct blob *h, size_t k)
{
	return h->b + 8 + 16 * k;
}

/* Parse h from a heap copy of exactly its length (ASan sees any overread). */
static int parse(const struct blob *h, size_t len, json_t **pkg)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, h->b, len);
	rc = agent_rpm_header_parse(copy, len, pkg);
	free(copy);
	return rc;
}

static void assert_pkg(json_t *pkg, const char *name, const char *version, const char *arch)
{
	assert_non_null(pkg);
	assert_string_equal(json_string_value(json_object_get(pkg, "name")), name);
	assert_string_equal(json_string_value(json_object_get(pkg, "version")), version);
	assert_string_equal(json_string_value(json_object_get(pkg, "arch")), arch);
	assert_string_equal(json_string_value(json_object_get(pkg, "source")), "rpm");
	assert_int_equal(json_object_size(pkg), 4);
}

static void assert_malformed(const struct blob *h, size_t len)
{
	json_t *pkg = (json_t *)1;

	assert_int_equal(parse(h, len, &pkg), -STEWARD_EINVAL);
	assert_null(pkg);
}

static const struct tv bash_tv[] = {S(T_NAME, "bash"),	    S(T_VERSION, "5.2.26"),
				    S(T_RELEASE, "3.fc40"), S(T_OTHER, "The GNU shell"),
				    S(T_ARCH, "x86_64"),    END};

/* ---- the header parser --------------------------------------------------------- */

static void test_header_basic(void **state)
{
	struct blob h;
	json_t *pkg;

	build(&h, bash_tv);
	assert_int_equal(parse(&h, h.len, &pkg), 0);
	assert_pkg(pkg, "bash", "5.2.26-3.fc40", "x86_64");
	json_decref(pkg);
}

static void test_header_epoch(void **state)
{
	const struct tv tv[] = {S(T_NAME, "openssl"), S(T_VERSION, "3.2.1"), S(T_RELEASE, "2.fc40"),
				I(T_EPOCH, 1),	      S(T_ARCH, "x86_64"),   END};
	const struct tv zero[] = {S(T_NAME, "z"), I(T_EPOCH, 0), S(T_VERSION, "1"),
				  S(T_RELEASE, "1"), END};
	const struct tv big[] = {S(T_NAME, "z"), I(T_EPOCH, 4294967295u), S(T_VERSION, "1"),
				 S(T_RELEASE, "1"), END};
	struct blob h;
	json_t *pkg;

	build(&h, tv);
	assert_int_equal(parse(&h, h.len, &pkg), 0);
	assert_pkg(pkg, "openssl", "1:3.2.1-2.fc40", "x86_64");
	json_decref(pkg);

	/* an explicit epoch 0 is kept, as rpm -q --qf '%{EVR}' shows it */
	build(&h, zero);
	assert_int_equal(parse(&h, h.len, &pkg), 0);
	assert_pkg(pkg, "z", "0:1-1", "");
	json_decref(pkg);

	build(&h, big); /* rpm's epoch is unsigned */
	assert_int_equal(parse(&h, h.len, &pkg), 0);
	assert_pkg(pkg, "z", "4294967295:1-1", "");
	json_decref(pkg);
}

static void test_header_optional(void **state)
{
	const struct tv norel[] = {S(T_NAME, "x"), S(T_VERSION, "1.0"), S(T_ARCH, "noarch"), END};
	const struct tv noarch[] = {S(T_NAME, "x"), S(T_VERSION, "1.0"), S(T_RELEASE, "1"), END};
	const struct tv dup[] = {S(T_NAME, "first"), S(T_VERSION, "1"), S(T_NAME, "second"), END};
	struct blob h;
	json_t *pkg;

	build(&h, norel);
	assert_int_equal(parse(&h, h.len, &pkg), 0);
	assert_pkg(pkg, "x", "1.0", "noarch");
	json_decref(pkg);

	build(&h, noarch);
	assert_int_equal(parse(&h, h.len, &pkg), 0);
	assert_pkg(pkg, "x", "1.0-1", "");
	json_decref(pkg);

	build(&h, dup); /* a repeated tag: the first wins */
	assert_int_equal(parse(&h, h.len, &pkg), 0);
	assert_pkg(pkg, "first", "1", "");
	json_decref(pkg);
}

static void test_header_pubkey(void **state)
{
	const struct tv tv[] = {S(T_NAME, "gpg-pubkey"), S(T_VERSION, "a15b79cc"),
				S(T_RELEASE, "63d04c2c"), END};
	const struct tv only_name[] = {S(T_NAME, "gpg-pubkey"), END};
	struct blob h;
	json_t *pkg = (json_t *)1;

	build(&h, tv);
	assert_int_equal(parse(&h, h.len, &pkg), AGENT_RPM_PUBKEY);
	assert_null(pkg);
	build(&h, only_name);
	assert_int_equal(parse(&h, h.len, &pkg), AGENT_RPM_PUBKEY);
	assert_null(pkg);
}

static void test_header_truncated(void **state)
{
	struct blob h;

	build(&h, bash_tv);
	/* every length short of the whole, and one byte more */
	for (size_t len = 0; len < h.len; len++)
		assert_malformed(&h, len);
	assert_malformed(&h, h.len + 1);
}

static void test_header_counts(void **state)
{
	struct blob h;

	build(&h, bash_tv);
	put32(h.b, 0); /* il 0 */
	assert_malformed(&h, h.len);
	put32(h.b, 0x10001); /* over rpm's cap */
	assert_malformed(&h, h.len);
	put32(h.b, 0xffffffffu); /* "negative" */
	assert_malformed(&h, h.len);
	put32(h.b, (uint32_t)h.il + 1); /* more entries than the blob holds */
	assert_malformed(&h, h.len);

	build(&h, bash_tv);
	put32(h.b + 4, 256u * 1024 * 1024 + 1); /* dl over rpm's cap */
	assert_malformed(&h, h.len);
	put32(h.b + 4, 0xffffffffu);
	assert_malformed(&h, h.len);
	put32(h.b + 4, (uint32_t)h.dl - 1); /* dl disagrees with the length */
	assert_malformed(&h, h.len);
}

static void test_header_offsets(void **state)
{
	const struct tv tv[] = {S(T_NAME, "n"), S(T_VERSION, "1"), I(T_EPOCH, 2), END};
	struct blob h;

	build(&h, bash_tv);
	put32(entry(&h, 0) + 8, (uint32_t)h.dl); /* NAME just past the data */
	assert_malformed(&h, h.len);
	build(&h, bash_tv);
	put32(entry(&h, 1) + 8, 0x80000000u); /* VERSION at a "negative" offset */
	assert_malformed(&h, h.len);
	build(&h, bash_tv);
	put32(entry(&h, 4) + 8, 0xfffffff0u); /* ARCH far out */
	assert_malformed(&h, h.len);

	build(&h, tv);
	put32(entry(&h, 2) + 8, (uint32_t)h.dl); /* EPOCH: aligned, but no 4 bytes left */
	assert_malformed(&h, h.len);
	build(&h, tv);
	put32(entry(&h, 2) + 8, 1); /* EPOCH not aligned */
	assert_malformed(&h, h.len);
}

static void test_header_no_nul(void **state)
{
	struct blob h;

	/* the last string (ARCH) loses its NUL: the data ends first */
	build(&h, bash_tv);
	h.b[h.len - 1] = 'x';
	assert_malformed(&h, h.len);

	/* no NUL anywhere in the data: every string would run off its end */
	build(&h, bash_tv);
	memset(h.b + 8 + 16 * h.il, 'a', h.dl);
	assert_malformed(&h, h.len);
}

static void test_header_types(void **state)
{
	const struct tv tv[] = {S(T_NAME, "n"), S(T_VERSION, "1"), I(T_EPOCH, 2), END};
	struct blob h;
	json_t *pkg;

	for (size_t k = 0; k < 5; k++) {
		if (k == 3)
			continue; /* SUMMARY is not read: its type does not matter */
		build(&h, bash_tv);
		put32(entry(&h, k) + 4, 8); /* STRING_ARRAY */
		assert_malformed(&h, h.len);
		build(&h, bash_tv);
		put32(entry(&h, k) + 12, 2); /* count 2 */
		assert_malformed(&h, h.len);
	}
	build(&h, bash_tv);
	put32(entry(&h, 3) + 4, 7); /* BIN SUMMARY: ignored */
	put32(entry(&h, 3) + 8, 0xffffffffu);
	assert_int_equal(parse(&h, h.len, &pkg), 0);
	json_decref(pkg);

	build(&h, tv);
	put32(entry(&h, 2) + 4, 6); /* EPOCH as STRING */
	assert_malformed(&h, h.len);
	build(&h, tv);
	put32(entry(&h, 2) + 12, 0); /* EPOCH with no value */
	assert_malformed(&h, h.len);
}

static void test_header_missing_and_values(void **state)
{
	const struct tv noname[] = {S(T_VERSION, "1"), S(T_RELEASE, "1"), END};
	const struct tv nover[] = {S(T_NAME, "x"), S(T_RELEASE, "1"), END};
	const struct tv empty[] = {S(T_NAME, ""), S(T_VERSION, "1"), END};
	const struct tv space[] = {S(T_NAME, "a b"), S(T_VERSION, "1"), END};
	const struct tv high[] = {S(T_NAME, "x"), S(T_VERSION, "1"), S(T_ARCH, "\xc3\xa9"), END};
	char longv[300];
	struct tv toolong[] = {S(T_NAME, "x"), S(T_VERSION, longv), S(T_RELEASE, "1"), END};
	struct tv justfits[] = {S(T_NAME, "x"), S(T_VERSION, longv), S(T_RELEASE, "1"), END};
	struct blob h;
	json_t *pkg;

	build(&h, noname);
	assert_malformed(&h, h.len);
	build(&h, nover);
	assert_malformed(&h, h.len);
	build(&h, empty);
	assert_malformed(&h, h.len);
	build(&h, space);
	assert_malformed(&h, h.len);
	build(&h, high);
	assert_malformed(&h, h.len);

	/* the whole version, release included, is within the site's cap */
	memset(longv, '9', sizeof(longv));
	longv[PROTO_INVENTORY_STRING_MAX - 1] = '\0'; /* 255 + "-1": 257 */
	build(&h, toolong);
	assert_malformed(&h, h.len);
	longv[PROTO_INVENTORY_STRING_MAX - 2] = '\0'; /* 254 + "-1": 256 */
	build(&h, justfits);
	assert_int_equal(parse(&h, h.len, &pkg), 0);
	assert_int_equal(strlen(json_string_value(json_object_get(pkg, "version"))),
			 PROTO_INVENTORY_STRING_MAX);
	json_decref(pkg);
}

/* ---- a real rpmdb.sqlite ----------------------------------------------------------- */

static char tmpdir[64];
static char dbpath[128];

static void make_db(const struct blob *const *blobs, size_t n, bool with_null)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	unlink(dbpath);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	/* the schema rpm 4.16+ creates */
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY "
				      "AUTOINCREMENT, blob BLOB NOT NULL);"
				      "CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL,"
				      " idx INTEGER NOT NULL, UNIQUE(key, hnum, idx));",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "INSERT INTO Packages (blob) VALUES (?)", -1, &st, NULL),
	    SQLITE_OK);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(
		    sqlite3_bind_blob(st, 1, blobs[i]->b, (int)blobs[i]->len, SQLITE_TRANSIENT),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (with_null)
		assert_int_equal(
		    sqlite3_exec(db,
				 "CREATE TABLE P2 AS SELECT * FROM Packages;"
				 "DROP TABLE Packages;"
				 "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB);"
				 "INSERT INTO Packages SELECT * FROM P2;"
				 "INSERT INTO Packages (blob) VALUES (NULL), (x'');"
				 "DROP TABLE P2;",
				 NULL, NULL, NULL),
		    SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int db_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/steward-rpmtest-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(dbpath, sizeof(dbpath), "%s/rpmdb.sqlite", tmpdir);
	return 0;
}

static int db_teardown(void **state)
{
	char p[160];

	unlink(dbpath);
	snprintf(p, sizeof(p), "%s/rpmdb.sqlite-journal", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	return 0;
}

static void test_db_read(void **state)
{
	const struct tv glibc[] = {S(T_NAME, "glibc"), S(T_VERSION, "2.39"), S(T_RELEASE, "5.fc40"),
				   S(T_ARCH, "x86_64"), END};
	const struct tv key[] = {S(T_NAME, "gpg-pubkey"), S(T_VERSION, "a15b79cc"),
				 S(T_RELEASE, "63d04c2c"), END};
	const struct tv perl[] = {S(T_NAME, "perl-Carp"), I(T_EPOCH, 4),
				  S(T_VERSION, "1.54"),	  S(T_RELEASE, "502.fc40"),
				  S(T_ARCH, "noarch"),	  END};
	struct blob a, b, c, d, bad;
	const struct blob *blobs[] = {&a, &b, &c, &bad, &d};
	struct agent_rpm_stats st;
	struct steward_err err;
	json_t *arr = json_array();

	build(&a, bash_tv);
	build(&b, glibc);
	build(&c, key);
	build(&d, perl);
	build(&bad, bash_tv);
	put32(bad.b, 0x10001);
	make_db(blobs, 5, true);

	assert_int_equal(agent_rpmdb_read(dbpath, 100, arr, &st, &err), 0);
	assert_int_equal(st.installed, 3);
	assert_int_equal(st.pubkeys, 1);
	assert_int_equal(st.malformed, 3); /* bad, NULL, empty */
	assert_false(st.truncated);
	assert_int_equal(json_array_size(arr), 3);
	assert_pkg(json_array_get(arr, 0), "bash", "5.2.26-3.fc40", "x86_64");
	assert_pkg(json_array_get(arr, 1), "glibc", "2.39-5.fc40", "x86_64");
	assert_pkg(json_array_get(arr, 2), "perl-Carp", "4:1.54-502.fc40", "noarch");

	/* the cap counts what the array already holds (dpkg's packages) */
	assert_int_equal(agent_rpmdb_read(dbpath, 4, arr, &st, &err), 0);
	assert_int_equal(st.installed, 1);
	assert_true(st.truncated);
	assert_int_equal(json_array_size(arr), 4);
	json_decref(arr);
}

/* A database this process cannot write is opened immutable: no journal or
 * lock files are needed beside it. Root can write anything, so the check is
 * of the result only. */
static void test_db_read_only(void **state)
{
	struct blob a;
	const struct blob *blobs[] = {&a};
	struct agent_rpm_stats st;
	struct steward_err err;
	json_t *arr = json_array();

	build(&a, bash_tv);
	make_db(blobs, 1, false);
	assert_int_equal(chmod(dbpath, 0444), 0);
	assert_int_equal(chmod(tmpdir, 0555), 0);
	assert_int_equal(agent_rpmdb_read(dbpath, 100, arr, &st, &err), 0);
	assert_int_equal(st.installed, 1);
	assert_int_equal(chmod(tmpdir, 0700), 0);
	assert_int_equal(chmod(dbpath, 0644), 0);
	json_decref(arr);
}

static void test_db_errors(void **state)
{
	struct agent_rpm_stats st;
	struct steward_err err;
	json_t *arr = json_array();
	sqlite3 *db;
	char missing[160];
	FILE *f;

	snprintf(missing, sizeof(missing), "%s/nope.sqlite", tmpdir);
	assert_int_equal(agent_rpmdb_read(missing, 100, arr, &st, &err), -STEWARD_EIO);
	assert_non_null(strstr(err.message, "nope.sqlite"));
	assert_int_equal(access(missing, F_OK), -1); /* read-only: never created */

	/* an SQLite file without the Packages table */
	unlink(dbpath);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(agent_rpmdb_read(dbpath, 100, arr, &st, &err), -STEWARD_EIO);
	assert_non_null(strstr(err.message, "not an rpm database"));

	/* not SQLite at all */
	f = fopen(dbpath, "w");
	assert_non_null(f);
	fputs("this is a BerkeleyDB file, honest\n", f);
	fclose(f);
	assert_true(agent_rpmdb_read(dbpath, 100, arr, &st, &err) < 0);

	assert_int_equal(agent_rpmdb_read(dbpath, 100, NULL, &st, &err), -STEWARD_EINVAL);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_basic),
	    cmocka_unit_test(test_header_epoch),
	    cmocka_unit_test(test_header_optional),
	    cmocka_unit_test(test_header_pubkey),
	    cmocka_unit_test(test_header_truncated),
	    cmocka_unit_test(test_header_counts),
	    cmocka_unit_test(test_header_offsets),
	    cmocka_unit_test(test_header_no_nul),
	    cmocka_unit_test(test_header_types),
	    cmocka_unit_test(test_header_missing_and_values),
	    cmocka_unit_test_setup_teardown(test_db_read, db_setup, db_teardown),
	    cmocka_unit_test_setup_teardown(test_db_read_only, db_setup, db_teardown),
	    cmocka_unit_test_setup_teardown(test_db_errors, db_setup, db_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

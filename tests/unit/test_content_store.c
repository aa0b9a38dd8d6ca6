/* Unit tests for lib/content hashing and the blob store: known SHA-256
 * vectors, put/has/open/remove/walk, refusal of a mismatched hash (nothing
 * stored), writing in pieces up to and over a cap, and a blob stored twice,
 * one after the other and interleaved.
 *
 * Each test runs in a fresh directory under $TMPDIR and removes it.
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
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <sodium.h>

#include "steward/content.h"

#define H_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H_ABC	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define H_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_))                                                        \
			fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_);            \
	} while (0)

struct fixture {
	char dir[512];
	struct content_store *cs;
};

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[PATH_MAX];

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		rm_rf(p);
	}
	closedir(d);
	rmdir(path);
}

static int setup(void **state)
{
	const char *base = getenv("TMPDIR");
	struct fixture *f = calloc(1, sizeof(*f));
	struct steward_err err;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/steward-test-content.XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(f->dir) || content_store_open(f->dir, &f->cs, &err) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	content_store_close(f->cs);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* Entries in DIR/tmp: a put that failed must leave none behind. */
static int tmp_entries(struct fixture *f)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(p, sizeof(p), "%s/tmp", f->dir);
	d = opendir(p);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

struct seen {
	int n;
	uint64_t bytes;
	char last[CONTENT_HASH_HEX + 1];
	int stop_after; /* 0: never */
};

static int count_blob(const char *hash, uint64_t size, int64_t mtime, void *ctx)
{
	struct seen *s = ctx;

	assert_true(content_hash_valid(hash));
	assert_true(mtime > 0);
	s->n++;
	s->bytes += size;
	snprintf(s->last, sizeof(s->last), "%s", hash);
	return s->stop_after && s->n >= s->stop_after ? 42 : 0;
}

static int blobs_stored(struct fixture *f)
{
	struct seen s = {0};

	assert_int_equal(content_store_walk(f->cs, count_blob, &s), 0);
	return s.n;
}

/* ---- hashing ------------------------------------------------------------- */

static void test_hash_vectors(void **state)
{
	char out[CONTENT_HASH_HEX + 1];
	struct content_hasher h;

	(void)state;
	content_hash_buf("", 0, out);
	assert_string_equal(out, H_EMPTY);
	content_hash_buf("abc", 3, out);
	assert_string_equal(out, H_ABC);
	/* in pieces, including an empty one */
	content_hasher_init(&h);
	content_hasher_update(&h, "a", 1);
	content_hasher_update(&h, "", 0);
	content_hasher_update(&h, "bc", 2);
	assert_int_equal(h.size, 3);
	content_hasher_final(&h, out);
	assert_string_equal(out, H_ABC);
	content_hasher_init(&h);
	content_hasher_final(&h, out);
	assert_string_equal(out, H_EMPTY);
}

static void test_hash_valid(void **state)
{
	(void)state;
	assert_true(content_hash_valid(H_ABC));
	assert_false(content_hash_valid(NULL));
	assert_false(content_hash_valid(""));
	assert_false(
	    content_hash_valid("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	assert_false(content_hash_valid(H_ABC "0")); /* 65 digits */
	assert_false(content_hash_valid(H_ABC + 1)); /* 63 digits */
	assert_false(
	    content_hash_valid("../../../../etc/passwd000000000000000000000000000000000000000"));
}

static void test_hash_file(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], out[CONTENT_HASH_HEX + 1];
	uint64_t size = 0;

	snprintf(p, sizeof(p), "%s/abc", f->dir);
	assert_int_equal(file_write_atomic(p, "abc", 3, 0600), 0);
	assert_int_equal(content_hash_file(p, out, &size), 0);
	assert_string_equal(out, H_ABC);
	assert_int_equal(size, 3);
	snprintf(p, sizeof(p), "%s/none", f->dir);
	assert_int_equal(content_hash_file(p, out, &size), -STEWARD_ENOTFOUND);
}

/* ---- put, has, open, remove ------------------------------------------------- */

static void test_put_has_open_remove(void **state)
{
	struct fixture *f = *state;
	struct steward_err err = {.code = ""};
	char out[CONTENT_HASH_HEX + 1], p[PATH_MAX], want[PATH_MAX], data[16];
	uint64_t size = 0;
	struct stat st;
	int fd = -1;

	assert_false(content_store_has(f->cs, H_HELLO, &size));
	assert_int_equal(content_store_put_buf(f->cs, "hello", 5, NULL, out, &err), 0);
	assert_string_equal(out, H_HELLO);
	assert_true(content_store_has(f->cs, H_HELLO, &size));
	assert_int_equal(size, 5);
	assert_false(content_store_has(f->cs, "not a hash", NULL));

	/* the layout other tools (and operators) rely on */
	assert_int_equal(content_store_path(f->cs, H_HELLO, p, sizeof(p)), 0);
	snprintf(want, sizeof(want), "%s/blobs/2c/%s", f->dir, H_HELLO);
	assert_string_equal(p, want);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(content_store_path(f->cs, "nope", p, sizeof(p)), -STEWARD_EINVAL);
	assert_int_equal(content_store_path(f->cs, H_HELLO, p, 10), -STEWARD_ETOOBIG);

	assert_int_equal(content_store_open_blob(f->cs, H_HELLO, &fd, &size), 0);
	assert_true(fd >= 0);
	assert_int_equal(size, 5);
	assert_int_equal(read(fd, data, sizeof(data)), 5);
	assert_memory_equal(data, "hello", 5);
	close(fd);
	assert_int_equal(tmp_entries(f), 0);

	assert_int_equal(content_store_remove(f->cs, H_HELLO), 0);
	assert_false(content_store_has(f->cs, H_HELLO, NULL));
	assert_int_equal(content_store_remove(f->cs, H_HELLO), -STEWARD_ENOTFOUND);
	assert_int_equal(content_store_open_blob(f->cs, H_HELLO, &fd, &size), -STEWARD_ENOTFOUND);
	assert_int_equal(fd, -1);
	assert_int_equal(content_store_open_blob(f->cs, "../x", &fd, &size), -STEWARD_EINVAL);
	assert_int_equal(content_store_remove(f->cs, "../x"), -STEWARD_EINVAL);

	/* the empty blob is a blob like any other */
	assert_int_equal(content_store_put_buf(f->cs, "", 0, H_EMPTY, out, &err), 0);
	assert_true(content_store_has(f->cs, H_EMPTY, &size));
	assert_int_equal(size, 0);
}

static void test_put_fd(void **state)
{
	struct fixture *f = *state;
	struct steward_err err = {.code = ""};
	char p[PATH_MAX], out[CONTENT_HASH_HEX + 1], want[CONTENT_HASH_HEX + 1];
	size_t n = 300 * 1024 + 7; /* several read chunks and a partial one */
	char *data = malloc(n);
	uint64_t size = 0;
	int fd;

	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 7 + i / 1000);
	content_hash_buf(data, n, want);
	snprintf(p, sizeof(p), "%s/src", f->dir);
	assert_int_equal(file_write_atomic(p, data, n, 0600), 0);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(content_store_put_fd(f->cs, fd, want, out, &err), 0);
	close(fd);
	assert_string_equal(out, want);
	assert_true(content_store_has(f->cs, want, &size));
	assert_int_equal(size, n);

	/* the wrong expected hash: nothing stored, no leftovers */
	assert_int_equal(content_store_remove(f->cs, want), 0);
	fd = open(p, O_RDONLY);
	assert_int_equal(content_store_put_fd(f->cs, fd, H_ABC, out, &err), -STEWARD_EINVAL);
	close(fd);
	assert_string_equal(err.code, "hash_mismatch");
	assert_false(content_store_has(f->cs, want, NULL));
	assert_int_equal(tmp_entries(f), 0);
	free(data);
}

/* ---- a mismatched hash stores nothing --------------------------------------- */

static void test_mismatch_stores_nothing(void **state)
{
	struct fixture *f = *state;
	struct steward_err err = {.code = ""};
	char out[CONTENT_HASH_HEX + 1];
	struct content_put *p = NULL;

	assert_int_equal(content_store_put_buf(f->cs, "abd", 3, H_ABC, out, &err), -STEWARD_EINVAL);
	assert_string_equal(err.code, "hash_mismatch");
	assert_contains(err.message, H_ABC); /* names both hashes */
	{
		char got[CONTENT_HASH_HEX + 1];
		content_hash_buf("abd", 3, got);
		assert_contains(err.message, got);
		assert_false(content_store_has(f->cs, got, NULL));
	}
	assert_false(content_store_has(f->cs, H_ABC, NULL));

	/* in pieces: the check happens at commit, before anything is visible */
	memset(&err, 0, sizeof(err));
	assert_int_equal(content_put_begin(f->cs, H_ABC, 100, &p, &err), 0);
	assert_int_equal(content_put_write(p, "ab", 2, &err), 0);
	assert_int_equal(content_put_write(p, "d", 1, &err), 0);
	assert_int_equal(content_put_commit(p, out, &err), -STEWARD_EINVAL);
	assert_string_equal(err.code, "hash_mismatch");
	assert_int_equal(blobs_stored(f), 0);
	assert_int_equal(tmp_entries(f), 0);

	/* an expected "hash" that is not one is refused before any file exists */
	assert_int_equal(content_put_begin(f->cs, "../../etc/passwd", 100, &p, &err),
			 -STEWARD_EINVAL);
	assert_null(p);
	assert_string_equal(err.code, "bad_request");
	assert_int_equal(content_store_put_buf(f->cs, "abc", 3, "ABC", out, &err), -STEWARD_EINVAL);
	assert_int_equal(tmp_entries(f), 0);
}

/* ---- writing in pieces, with a cap ------------------------------------------- */

static void test_put_pieces_and_cap(void **state)
{
	struct fixture *f = *state;
	struct steward_err err = {.code = ""};
	char out[CONTENT_HASH_HEX + 1];
	struct content_put *p = NULL;

	/* exactly at the cap is fine */
	assert_int_equal(content_put_begin(f->cs, H_ABC, 3, &p, &err), 0);
	assert_int_equal(tmp_entries(f) <= 1, 1); /* 0 with O_TMPFILE, 1 named */
	assert_int_equal(content_put_write(p, "a", 1, &err), 0);
	assert_int_equal(content_put_write(p, "b", 1, &err), 0);
	assert_int_equal(content_put_write(p, "c", 1, &err), 0);
	assert_int_equal(content_put_commit(p, out, &err), 0);
	assert_string_equal(out, H_ABC);
	assert_true(content_store_has(f->cs, H_ABC, NULL));
	assert_int_equal(tmp_entries(f), 0);

	/* without an expected hash the bytes name themselves */
	assert_int_equal(content_put_begin(f->cs, NULL, 10, &p, &err), 0);
	assert_int_equal(content_put_write(p, "hel", 3, &err), 0);
	assert_int_equal(content_put_write(p, "lo", 2, &err), 0);
	assert_int_equal(content_put_commit(p, out, &err), 0);
	assert_string_equal(out, H_HELLO);

	/* one byte over: refused, and the put can only be aborted */
	assert_int_equal(content_put_begin(f->cs, NULL, 10, &p, &err), 0);
	assert_int_equal(content_put_write(p, "0123456", 7, &err), 0);
	assert_int_equal(content_put_write(p, "7890", 4, &err), -STEWARD_ETOOBIG);
	assert_string_equal(err.code, "content_too_large");
	assert_contains(err.message, "10 bytes");
	assert_int_not_equal(content_put_write(p, "x", 1, &err), 0);
	assert_int_not_equal(content_put_commit(p, out, &err), 0);
	assert_int_equal(blobs_stored(f), 2);
	assert_int_equal(tmp_entries(f), 0);

	/* abort: nothing stored, nothing left */
	assert_int_equal(content_put_begin(f->cs, NULL, 10, &p, &err), 0);
	assert_int_equal(content_put_write(p, "xyz", 3, &err), 0);
	content_put_abort(p);
	content_put_abort(NULL);
	assert_int_equal(blobs_stored(f), 2);
	assert_int_equal(tmp_entries(f), 0);
}

/* ---- the same blob twice -------------------------------------------------------- */

static void test_second_put(void **state)
{
	struct fixture *f = *state;
	struct steward_err err = {.code = ""};
	char out[CONTENT_HASH_HEX + 1], out2[CONTENT_HASH_HEX + 1];
	struct content_put *a = NULL, *b = NULL;
	uint64_t size = 0;

	assert_int_equal(content_store_put_buf(f->cs, "abc", 3, H_ABC, out, &err), 0);
	assert_int_equal(content_store_put_buf(f->cs, "abc", 3, H_ABC, out, &err), 0);
	assert_int_equal(content_store_put_buf(f->cs, "abc", 3, NULL, out, &err), 0);
	assert_string_equal(out, H_ABC);

	/* interleaved, as two uploads of the same file would be: both succeed */
	assert_int_equal(content_store_remove(f->cs, H_ABC), 0);
	assert_int_equal(content_put_begin(f->cs, H_ABC, 100, &a, &err), 0);
	assert_int_equal(content_put_begin(f->cs, H_ABC, 100, &b, &err), 0);
	assert_int_equal(content_put_write(a, "abc", 3, &err), 0);
	assert_int_equal(content_put_write(b, "ab", 2, &err), 0);
	assert_int_equal(content_put_write(b, "c", 1, &err), 0);
	assert_int_equal(content_put_commit(a, out, &err), 0);
	assert_int_equal(content_put_commit(b, out2, &err), 0);
	assert_string_equal(out, H_ABC);
	assert_string_equal(out2, H_ABC);
	assert_true(content_store_has(f->cs, H_ABC, &size));
	assert_int_equal(size, 3);
	assert_int_equal(blobs_stored(f), 1);
	assert_int_equal(tmp_entries(f), 0);
}

/* ---- walking -------------------------------------------------------------------- */

static void test_walk(void **state)
{
	struct fixture *f = *state;
	struct steward_err err = {.code = ""};
	char out[CONTENT_HASH_HEX + 1], p[PATH_MAX];
	struct seen s = {0};
	struct timespec old[2] = {{.tv_sec = time_now_s() - 7200}, {.tv_sec = time_now_s() - 7200}};

	assert_int_equal(content_store_walk(f->cs, count_blob, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(content_store_put_buf(f->cs, "abc", 3, NULL, out, &err), 0);
	assert_int_equal(content_store_put_buf(f->cs, "hello", 5, NULL, out, &err), 0);
	assert_int_equal(content_store_put_buf(f->cs, "", 0, NULL, out, &err), 0);

	/* things that are not blobs are not reported */
	snprintf(p, sizeof(p), "%s/blobs/ba/notahash", f->dir);
	assert_int_equal(file_write_atomic(p, "x", 1, 0644), 0);
	snprintf(p, sizeof(p), "%s/blobs/zz", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/blobs/2c/%s", f->dir, H_ABC); /* wrong fan-out directory */
	assert_int_equal(file_write_atomic(p, "abc", 3, 0644), 0);

	/* leftovers of a crashed put: an old one goes, a recent one stays */
	snprintf(p, sizeof(p), "%s/tmp/put.old", f->dir);
	assert_int_equal(file_write_atomic(p, "partial", 7, 0600), 0);
	assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
	snprintf(p, sizeof(p), "%s/tmp/put.recent", f->dir);
	assert_int_equal(file_write_atomic(p, "partial", 7, 0600), 0);

	assert_int_equal(content_store_walk(f->cs, count_blob, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.bytes, 8);
	assert_int_equal(tmp_entries(f), 1);
	assert_int_equal(access(p, F_OK), 0);

	/* a callback's non-zero return stops the walk and is returned */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(content_store_walk(f->cs, count_blob, &s), 42);
	assert_int_equal(s.n, 2);
}

/* ---- opening -------------------------------------------------------------------- */

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct steward_err err = {.code = ""};
	struct content_store *cs = NULL;
	char p[PATH_MAX];

	assert_int_not_equal(content_store_open("", &cs, &err), 0);
	assert_null(cs);
	/* a file where the directory should be */
	snprintf(p, sizeof(p), "%s/file", f->dir);
	assert_int_equal(file_write_atomic(p, "x", 1, 0600), 0);
	assert_int_equal(content_store_open(p, &cs, &err), -STEWARD_EIO);
	assert_null(cs);
	assert_string_equal(err.code, "content_store_failed");
	assert_contains(err.message, p);
	/* opening the same directory twice shares the blobs */
	assert_int_equal(content_store_open(f->dir, &cs, &err), 0);
	assert_int_equal(content_store_put_buf(f->cs, "abc", 3, NULL, p, &err), 0);
	assert_true(content_store_has(cs, H_ABC, NULL));
	content_store_close(cs);
	content_store_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_vectors),
	    cmocka_unit_test(test_hash_valid),
	    cmocka_unit_test_setup_teardown(test_hash_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_has_open_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_fd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mismatch_stores_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_pieces_and_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_second_put, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_walk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

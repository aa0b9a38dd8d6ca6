/* Unit tests for lib/util: capped buffers, durations, encodings, files,
 * the configuration table parser and the small string and error helpers.
 *
 * File tests run in a fresh directory under $TMPDIR and remove it.
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
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <cmocka.h>

#include <sodium.h>

#include "steward/util.h"
#include "steward/config.h"

#define assert_contains(hay, needle)                                                       \
	do {                                                                               \
		const char *h_ = (hay), *n_ = (needle);                                    \
		if (!h_ || !strstr(h_, n_))                                                \
			fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_);    \
	} while (0)

/* ---- temp directory ----------------------------------------------------- */

static int tmpdir_setup(void **state)
{
	const char *base = getenv("TMPDIR");
	char *dir = malloc(PATH_MAX);

	if (!dir)
		return -1;
	snprintf(dir, PATH_MAX, "%s/steward-test-util.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

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

static int tmpdir_teardown(void **state)
{
	rm_rf(*state);
	free(*state);
	return 0;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- buf ---------------------------------------------------------------- */

static void test_buf_append_to_exact_max(void **state)
{
	struct buf b;
	char ten[10];

	(void)state;
	memset(ten, 'x', sizeof(ten));
	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, ten, 4), 0);
	assert_int_equal(buf_append(&b, ten, 6), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "xxxxxxxxxx");
	/* one more byte is refused and nothing changes */
	assert_int_equal(buf_append(&b, "y", 1), -STEWARD_ETOOBIG);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "xxxxxxxxxx");
	assert_true(b.cap <= b.max + 1);
	/* appending nothing at the cap is fine */
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(b.len, 10);
	buf_free(&b);
	assert_null(b.data);
}

static void test_buf_refuses_without_partial_write(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "abcde"), 0);
	/* 4 more would make 9: refused whole, not truncated to 3 */
	assert_int_equal(buf_puts(&b, "fghi"), -STEWARD_ETOOBIG);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "abcde");
	assert_int_equal(buf_puts(&b, "fgh"), 0);
	assert_string_equal(b.data, "abcdefgh");
	buf_free(&b);
}

static void test_buf_huge_length_does_not_overflow(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_puts(&b, "ab"), 0);
	/* len + n would wrap around: must be refused before touching p */
	assert_int_equal(buf_append(&b, NULL, SIZE_MAX), -STEWARD_ETOOBIG);
	assert_int_equal(buf_append(&b, NULL, SIZE_MAX - 1), -STEWARD_ETOOBIG);
	assert_int_equal(b.len, 2);
	buf_free(&b);
}

/* buf_printf formats in place, through the stack, or twice for a long
 * text: the same bytes each way, and nothing left of a refused one. */
static void test_buf_printf_paths(void **state)
{
	char want[2048];
	struct buf b;
	size_t n = 0;

	(void)state;
	buf_init(&b, 4096);
	for (int i = 0; i < 200; i++) {
		int k = i % 3 == 0 ? 300 : i % 3 == 1 ? 5 : 40;
		assert_int_equal(buf_printf(&b, "%0*d|", k, i), 0);
		n += (size_t)k + 1;
		assert_int_equal(b.len, n);
		assert_int_equal(strlen(b.data), n);
		if (n > 3000)
			break;
	}
	snprintf(want, sizeof(want), "%0*d|%0*d|", 300, 0, 5, 1);
	assert_memory_equal(b.data, want, strlen(want));
	buf_free(&b);
	/* refused in place: the room is there, the cap is not */
	buf_init(&b, 300);
	assert_int_equal(buf_puts(&b, "x"), 0);
	assert_int_equal(buf_printf(&b, "%0*d", 299, 7), 0);
	assert_int_equal(buf_printf(&b, "%d", 1), -STEWARD_ETOOBIG);
	assert_int_equal(b.len, 300);
	assert_int_equal(strlen(b.data), 300);
	buf_free(&b);
}

static void test_buf_printf_cap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_printf(&b, "%d-%s", 12345, "abcd"), 0); /* exactly 10 */
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "12345-abcd");
	assert_int_equal(buf_printf(&b, "%c", 'z'), -STEWARD_ETOOBIG);
	assert_string_equal(b.data, "12345-abcd");
	assert_int_equal(b.len, 10);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	/* a format whose output is over the cap on its own leaves b empty */
	assert_int_equal(buf_printf(&b, "%s", "0123456789A"), -STEWARD_ETOOBIG);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void test_buf_grows_past_initial_chunk(void **state)
{
	struct buf b;
	char chunk[100];

	(void)state;
	memset(chunk, 'q', sizeof(chunk));
	buf_init(&b, 100000);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(strlen(b.data), 100000);
	assert_int_equal(buf_append(&b, "x", 1), -STEWARD_ETOOBIG);
	buf_free(&b);
}

static void test_buf_zero_max(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_append(&b, "a", 1), -STEWARD_ETOOBIG);
	buf_free(&b);
}

static void test_buf_steal(void **state)
{
	struct buf b;
	char *s;

	(void)state;
	buf_init(&b, 64);
	s = buf_steal(&b); /* never NULL, even when nothing was written */
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(buf_puts(&b, "hello"), 0);
	s = buf_steal(&b);
	assert_string_equal(s, "hello");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(s);
	/* b is reusable after steal, with the same max */
	assert_int_equal(buf_puts(&b, "again"), 0);
	assert_string_equal(b.data, "again");
	buf_free(&b);
}

/* ---- time ---------------------------------------------------------------- */

static void test_duration_valid(void **state)
{
	static const struct {
		const char *s;
		int64_t want;
	} ok[] = {
	    {"0", 0},         {"90", 90},          {"90s", 90},         {"15m", 900},
	    {"23h", 82800},   {"7d", 604800},      {"1d", 86400},       {"0d", 0},
	    {"9223372036854775807", INT64_MAX},    {"9223372036854775807s", INT64_MAX},
	    {"106751991167300d", 106751991167300LL * 86400},
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = -1;
		if (time_parse_duration(ok[i].s, &v) != 0)
			fail_msg("'%s' was refused", ok[i].s);
		assert_int_equal(v, ok[i].want);
	}
}

static void test_duration_refused(void **state)
{
	static const char *const bad[] = {
	    "",       "-5",      "+5",     " 5",   "5 ",    "5x",   "5ss",  "m",    "s",
	    "1.5h",   "0x10",    "5S",     "5 m",  "5m ",   "5\n",  "h5",   "--1",
	    "-0",     "\t5",    "\n5",   "99999999999999999999", /* ERANGE */
	    "9223372036854775808",                    /* one over INT64_MAX */
	    "106751991167301d",                       /* overflows after the multiply */
	    "153722867280912931m", "2562047788015216h",
	};
	int64_t v = 1234;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (time_parse_duration(bad[i], &v) != -STEWARD_EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(v, 1234); /* untouched on refusal */
	}
	assert_int_equal(time_parse_duration(NULL, &v), -STEWARD_EINVAL);
}

static void test_time_rfc3339(void **state)
{
	char out[32];

	(void)state;
	time_rfc3339(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	time_rfc3339(1764000000, out);
	assert_string_equal(out, "2025-11-24T16:00:00Z");
	time_rfc3339(253402300799LL, out);
	assert_string_equal(out, "9999-12-31T23:59:59Z");
}

static void test_time_clocks(void **state)
{
	int64_t s = time_now_s(), ms = time_now_ms(), a = time_mono_us(), b = time_mono_us();

	(void)state;
	assert_true(s > 1700000000);
	assert_in_range(ms / 1000 - s, 0, 2);
	assert_true(b >= a);
}

/* ---- encodings ------------------------------------------------------------ */

static void test_hex_round_trip(void **state)
{
	uint8_t in[64], out[64];
	char hex[2 * 64 + 1];

	(void)state;
	for (size_t n = 0; n <= sizeof(in); n++) {
		rand_bytes(in, n);
		hex_encode(in, n, hex);
		assert_int_equal(strlen(hex), 2 * n);
		for (size_t i = 0; i < 2 * n; i++)
			assert_non_null(strchr("0123456789abcdef", hex[i]));
		memset(out, 0, sizeof(out));
		assert_int_equal(hex_decode(hex, out, n), 0);
		assert_memory_equal(in, out, n);
	}
	hex_encode((const uint8_t *)"\x00\x01\xab\xff", 4, hex);
	assert_string_equal(hex, "0001abff");
}

static void test_hex_rejects(void **state)
{
	uint8_t out[4];

	(void)state;
	assert_int_equal(hex_decode("0001abff", out, 4), 0);
	assert_int_equal(hex_decode("0001ABFF", out, 4), 0); /* hex digits in either case */
	assert_memory_equal(out, "\x00\x01\xab\xff", 4);
	assert_int_equal(hex_decode(NULL, out, 4), -STEWARD_EINVAL);
	assert_int_equal(hex_decode("0001abf", out, 4), -STEWARD_EINVAL);   /* odd, short */
	assert_int_equal(hex_decode("0001ab", out, 4), -STEWARD_EINVAL);    /* short */
	assert_int_equal(hex_decode("0001abff00", out, 4), -STEWARD_EINVAL); /* long */
	assert_int_equal(hex_decode("0001abfg", out, 4), -STEWARD_EINVAL);  /* not hex */
	assert_int_equal(hex_decode("0001ab f", out, 4), -STEWARD_EINVAL);  /* space */
	assert_int_equal(hex_decode("0001ab:f", out, 4), -STEWARD_EINVAL);
	assert_int_equal(hex_decode("", out, 0), 0);
}

static void test_b64_round_trip(void **state)
{
	uint8_t in[70], out[70];

	(void)state;
	for (size_t n = 0; n <= sizeof(in); n++) {
		char *s;
		rand_bytes(in, n);
		s = b64_encode_new(in, n);
		assert_non_null(s);
		assert_int_equal(strlen(s), (n + 2) / 3 * 4);
		assert_int_equal(b64_decode(s, out, sizeof(out)), (int)n);
		assert_memory_equal(in, out, n);
		/* an output buffer of exactly n bytes is enough */
		assert_int_equal(b64_decode(s, out, n), (int)n);
		free(s);
	}
	{
		char *s = b64_encode_new((const uint8_t *)"steward", 7);
		assert_string_equal(s, "c3Rld2FyZA==");
		free(s);
	}
}

static void test_b64_rejects(void **state)
{
	uint8_t out[16];

	(void)state;
	assert_int_equal(b64_decode("c3Rld2FyZA==", out, sizeof(out)), 7);
	assert_int_equal(b64_decode(NULL, out, sizeof(out)), -STEWARD_EINVAL);
	assert_int_equal(b64_decode("c3Rld2FyZA==", out, 6), -STEWARD_EINVAL); /* too small */
	assert_int_equal(b64_decode("c3Rld2FyZA", out, sizeof(out)), -STEWARD_EINVAL); /* no pad */
	assert_int_equal(b64_decode("c3Rld2FyZA=", out, sizeof(out)), -STEWARD_EINVAL);
	assert_int_equal(b64_decode("c3Rld2FyZA==x", out, sizeof(out)), -STEWARD_EINVAL);
	assert_int_equal(b64_decode("c3Rld2FyZA==\n", out, sizeof(out)), -STEWARD_EINVAL);
	assert_int_equal(b64_decode("c3Rl d2FyZA==", out, sizeof(out)), -STEWARD_EINVAL);
	assert_int_equal(b64_decode("c3Rl!2FyZA==", out, sizeof(out)), -STEWARD_EINVAL);
	assert_int_equal(b64_decode("c3Rld2F-ZA==", out, sizeof(out)), -STEWARD_EINVAL); /* url */
	assert_int_equal(b64_decode("", out, sizeof(out)), 0);
}

static void test_rand(void **state)
{
	uint8_t a[32] = {0}, b[32] = {0};
	bool seen[4] = {false};

	(void)state;
	rand_bytes(a, sizeof(a));
	rand_bytes(b, sizeof(b));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(rand_uniform(0), 0);
	assert_int_equal(rand_uniform(1), 0);
	for (int i = 0; i < 1000; i++) {
		uint32_t v = rand_uniform(4);
		assert_true(v < 4);
		seen[v] = true;
	}
	assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
}

/* ---- strings and errors ---------------------------------------------------- */

static void test_str_copy(void **state)
{
	char dst[6];

	(void)state;
	assert_int_equal(str_copy(dst, sizeof(dst), "abcde"), 0); /* exactly fits */
	assert_string_equal(dst, "abcde");
	assert_int_equal(str_copy(dst, sizeof(dst), "abcdef"), -STEWARD_ETOOBIG);
	assert_string_equal(dst, "abcde"); /* untouched on refusal */
	assert_int_equal(str_copy(dst, sizeof(dst), ""), 0);
	assert_string_equal(dst, "");
	assert_int_equal(str_copy(dst, 0, ""), -STEWARD_ETOOBIG);
	assert_int_equal(str_copy(dst, 1, ""), 0);
}

static void test_str_printable(void **state)
{
	(void)state;
	assert_true(str_printable(""));
	assert_true(str_printable("Hello, world ~!"));
	assert_false(str_printable("tab\there"));
	assert_false(str_printable("nl\n"));
	assert_false(str_printable("del\x7f"));
	assert_false(str_printable("caf\xc3\xa9"));
}

static void test_err_set(void **state)
{
	struct steward_err err;
	char longmsg[600];

	(void)state;
	assert_int_equal(steward_err_set(NULL, STEWARD_EINVAL, "x", "y", "z"), -STEWARD_EINVAL);
	assert_int_equal(steward_err_set(NULL, -STEWARD_EIO, "x", "y", "z"), -STEWARD_EIO);
	assert_int_equal(steward_err_set(&err, STEWARD_ETOOBIG, "body_too_large", "send less",
					 "body is %d bytes", 70000),
			 -STEWARD_ETOOBIG);
	assert_string_equal(err.code, "body_too_large");
	assert_string_equal(err.remedy, "send less");
	assert_string_equal(err.message, "body is 70000 bytes");
	assert_int_equal(steward_err_set(&err, STEWARD_EIO, NULL, NULL, "m"), -STEWARD_EIO);
	assert_string_equal(err.code, "error");
	assert_string_equal(err.remedy, "");
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	steward_err_set(&err, STEWARD_EIO, "c", "r", "%s", longmsg);
	assert_int_equal(strlen(err.message), STEWARD_ERR_MSG_MAX - 1);
}

static void test_strerror(void **state)
{
	(void)state;
	for (int rc = 0; rc <= STEWARD_ECLOSED; rc++) {
		assert_non_null(steward_strerror(rc));
		assert_string_equal(steward_strerror(rc), steward_strerror(-rc));
		assert_string_not_equal(steward_strerror(rc), "unknown error");
	}
	assert_string_equal(steward_strerror(999), "unknown error");
	assert_string_equal(steward_strerror(-STEWARD_ESCHEMA),
			    "database schema is newer than this program");
}

static void test_log_level(void **state)
{
	enum log_level l = LOG_INFO, old = log_get_level();

	(void)state;
	assert_int_equal(log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_DEBUG);
	assert_int_equal(log_level_parse("WARN", &l), 0);
	assert_int_equal(l, LOG_WARN);
	assert_int_equal(log_level_parse("verbose", &l), -STEWARD_EINVAL);
	assert_string_equal(log_level_name(LOG_ERROR), "error");
	assert_string_equal(log_level_name((enum log_level)9), "?");
	log_set_level(LOG_ERROR);
	assert_int_equal(log_get_level(), LOG_ERROR);
	log_info("test", "suppressed", "x=%d", 1); /* below the level: no output */
	log_set_level(old);
}

/* ---- files ---------------------------------------------------------------- */

static void test_file_write_atomic(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX];
	char *data = NULL;
	size_t len = 0;
	struct stat st;
	mode_t old;

	snprintf(path, sizeof(path), "%s/secret", dir);
	/* a umask that would strip the owner's write bit and everything else */
	old = umask(0277);
	assert_int_equal(file_write_atomic(path, "first", 5, 0600), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(file_read_all(path, 1024, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(data, "first");
	free(data);
	assert_int_equal(count_entries(dir), 1); /* no temp file left behind */

	/* replacing: new content and the new mode, still one file */
	old = umask(0022);
	assert_int_equal(file_write_atomic(path, "second!", 7, 0640), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(file_read_all(path, 1024, &data, &len), 0);
	assert_string_equal(data, "second!");
	free(data);
	assert_int_equal(count_entries(dir), 1);

	/* binary content with NULs, and an empty file */
	assert_int_equal(file_write_atomic(path, "a\0b", 3, 0600), 0);
	assert_int_equal(file_read_all(path, 1024, &data, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "a\0b", 4); /* and NUL-terminated */
	free(data);
	assert_int_equal(file_write_atomic(path, "", 0, 0600), 0);
	assert_int_equal(file_read_all(path, 1024, &data, &len), 0);
	assert_int_equal(len, 0);
	free(data);
	assert_int_equal(count_entries(dir), 1);
}

static void test_file_write_atomic_fails_cleanly(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/missing/file", dir);
	assert_int_equal(file_write_atomic(path, "x", 1, 0600), -STEWARD_EIO);
	/* renaming over a directory fails: the temp file must be removed */
	snprintf(path, sizeof(path), "%s/adir", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	{
		char inner[PATH_MAX];
		snprintf(inner, sizeof(inner), "%s/adir/keep", dir);
		assert_int_equal(file_write_atomic(inner, "k", 1, 0600), 0);
	}
	assert_int_equal(file_write_atomic(path, "x", 1, 0600), -STEWARD_EIO);
	assert_int_equal(count_entries(dir), 1); /* only adir */
}

static void test_file_read_all_cap(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX];
	char *big = malloc(20000), *data = (char *)1;
	size_t len = 77;

	assert_non_null(big);
	memset(big, 'b', 20000);
	snprintf(path, sizeof(path), "%s/big", dir);
	assert_int_equal(file_write_atomic(path, big, 20000, 0600), 0);
	/* exactly at the cap is fine; the file is read past one 8 KB chunk */
	assert_int_equal(file_read_all(path, 20000, &data, &len), 0);
	assert_int_equal(len, 20000);
	assert_memory_equal(data, big, 20000);
	assert_int_equal(data[20000], '\0');
	free(data);
	/* one byte under the file's size is refused, nothing returned */
	len = 77;
	assert_int_equal(file_read_all(path, 19999, &data, &len), -STEWARD_ETOOBIG);
	assert_null(data);
	assert_int_equal(len, 77);
	assert_int_equal(file_read_all(path, 0, &data, NULL), -STEWARD_ETOOBIG);
	snprintf(path, sizeof(path), "%s/nope", dir);
	assert_int_equal(file_read_all(path, 100, &data, &len), -STEWARD_ENOTFOUND);
	assert_null(data);
	free(big);
}

static void test_file_mkdirs(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/a/b/c/", dir);
	assert_int_equal(file_mkdirs(path, 0700), 0);
	assert_int_equal(file_mkdirs(path, 0700), 0); /* exists: fine */
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* a file in the way */
	snprintf(path, sizeof(path), "%s/a/f", dir);
	assert_int_equal(file_write_atomic(path, "", 0, 0600), 0);
	snprintf(path, sizeof(path), "%s/a/f/g", dir);
	assert_int_equal(file_mkdirs(path, 0700), -STEWARD_EIO);
}

/* ---- configuration table ---------------------------------------------------- */

struct tconf {
	int64_t port;
	int64_t interval;
	bool verbose;
	char *name;
	char *code;
	struct conf_list peer;
};

static int check_upper(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	for (const char *p = v; *p; p++) {
		if (*p < 'A' || *p > 'Z') {
			snprintf(msg, msgsz, "%s: '%s' must be upper case letters", d->name, v);
			return -1;
		}
	}
	return 0;
}

static const struct conf_def ttab[] = {
    {"port", CONF_INT, "8420", 1, 65535, offsetof(struct tconf, port), NULL, "port"},
    {"interval", CONF_DURATION, "23h", 60, 7 * 86400, offsetof(struct tconf, interval), NULL,
     "interval"},
    {"verbose", CONF_BOOL, "false", 0, 0, offsetof(struct tconf, verbose), NULL, "verbose"},
    {"name", CONF_STRING, "site", 1, 16, offsetof(struct tconf, name), NULL, "name"},
    {"code", CONF_STRING, NULL, 3, 3, offsetof(struct tconf, code), check_upper, "code"},
    {"peer", CONF_LIST, NULL, 1, 64, offsetof(struct tconf, peer), NULL, "peer"},
};
#define NT (sizeof(ttab) / sizeof(ttab[0]))

static int load(struct tconf *c, const char *text, char *msg, size_t msgsz)
{
	return conf_load_text(ttab, NT, c, "test.conf", text, strlen(text), msg, msgsz);
}

static void test_conf_defaults(void **state)
{
	struct tconf c;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_defaults(ttab, NT, &c), 0);
	assert_int_equal(c.port, 8420);
	assert_int_equal(c.interval, 82800);
	assert_false(c.verbose);
	assert_string_equal(c.name, "site");
	assert_null(c.code);
	assert_int_equal(c.peer.n, 0);
	/* defaults again do not leak the first copy (ASan checks) */
	assert_int_equal(conf_defaults(ttab, NT, &c), 0);
	conf_free(ttab, NT, &c);
	assert_null(c.name);
}

static void test_conf_load_values(void **state)
{
	struct tconf c;
	char msg[256] = "";
	const char *text = "# a comment line\n"
			   "\n"
			   "   port = 80   # trailing comment\n"
			   "interval=15m\n"
			   "\tverbose = YES\n"
			   "name = my site\n"
			   "code = ABC\n"
			   "peer = a.example\n"
			   "peer = b.example\n"
			   "peer = c.example"; /* no final newline */

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_defaults(ttab, NT, &c), 0);
	assert_int_equal(load(&c, text, msg, sizeof(msg)), 0);
	assert_int_equal(c.port, 80);
	assert_int_equal(c.interval, 900);
	assert_true(c.verbose);
	assert_string_equal(c.name, "my site");
	assert_string_equal(c.code, "ABC");
	assert_int_equal(c.peer.n, 3);
	assert_string_equal(c.peer.items[0], "a.example");
	assert_string_equal(c.peer.items[2], "c.example");
	conf_free(ttab, NT, &c);
	assert_int_equal(c.peer.n, 0);
}

static void test_conf_crlf(void **state)
{
	struct tconf c;
	char msg[256] = "";

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_defaults(ttab, NT, &c), 0);
	assert_int_equal(load(&c, "port = 81\r\nname = x y\r\n# c\r\n\r\npeer = p\r\n", msg,
			      sizeof(msg)),
			 0);
	assert_int_equal(c.port, 81);
	assert_string_equal(c.name, "x y");
	assert_int_equal(c.peer.n, 1);
	assert_string_equal(c.peer.items[0], "p");
	conf_free(ttab, NT, &c);
}

struct conf_bad {
	const char *text;
	const char *want; /* the whole message must start with this */
};

static void test_conf_errors_name_file_and_line(void **state)
{
	static const struct conf_bad cases[] = {
	    {"port = 1\nport = 70000\n", "test.conf:2: port: 70000 is out of range (1 to 65535)"},
	    {"port = 0\n", "test.conf:1: port: 0 is out of range (1 to 65535)"},
	    {"\n\nport = 12x\n", "test.conf:3: port: '12x' is not a valid integer"},
	    {"port = 99999999999999999999\n", "test.conf:1: port: '99999999999999999999' is not a valid integer"},
	    {"interval = 59\n", "test.conf:1: interval: 59 is out of range (60 to 604800)"},
	    {"interval = 8d\n", "test.conf:1: interval: 691200 is out of range (60 to 604800)"},
	    {"interval = 5 minutes\n", "test.conf:1: interval: '5 minutes' is not a valid duration"},
	    {"verbose = maybe\n", "test.conf:1: verbose: 'maybe' is not a boolean"},
	    {"# ok\nnope = 1\n", "test.conf:2: unknown key 'nope'"},
	    {"name = 01234567890123456\n", "test.conf:1: name: length 17 is out of range (1 to 16"},
	    {"name =\n", "test.conf:1: name: length 0 is out of range (1 to 16"},
	    {"name = a\x01b\n", "test.conf:1: name: contains control or non-ASCII characters"},
	    {"code = abc\n", "test.conf:1: code: 'abc' must be upper case letters"},
	    {"code = ABCD\n", "test.conf:1: code: length 4 is out of range (3 to 3"},
	    {"port 80\n", "test.conf:1: expected 'key = value'"},
	    {"= 80\n", "test.conf:1: missing key before '='"},
	};
	char msg[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tconf c;
		memset(&c, 0, sizeof(c));
		assert_int_equal(conf_defaults(ttab, NT, &c), 0);
		msg[0] = '\0';
		if (load(&c, cases[i].text, msg, sizeof(msg)) != -STEWARD_EINVAL)
			fail_msg("case %zu accepted: %s", i, cases[i].text);
		if (strncmp(msg, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: got '%s', want '%s...'", i, msg, cases[i].want);
		conf_free(ttab, NT, &c);
	}
}

static void test_conf_refused_value_keeps_old(void **state)
{
	struct tconf c;
	char msg[256];

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_defaults(ttab, NT, &c), 0);
	assert_int_equal(conf_set(ttab, NT, &c, "port", "0", msg, sizeof(msg)), -STEWARD_EINVAL);
	assert_int_equal(c.port, 8420);
	assert_int_equal(conf_set(ttab, NT, &c, "name", "", msg, sizeof(msg)), -STEWARD_EINVAL);
	assert_string_equal(c.name, "site");
	assert_int_equal(conf_set(ttab, NT, &c, "verbose", "2", msg, sizeof(msg)), -STEWARD_EINVAL);
	assert_false(c.verbose);
	assert_int_equal(conf_set(ttab, NT, &c, "port", "65535", msg, sizeof(msg)), 0);
	assert_int_equal(c.port, 65535);
	assert_int_equal(conf_set(ttab, NT, &c, "port", "-1", msg, sizeof(msg)), -STEWARD_EINVAL);
	assert_contains(msg, "out of range");
	/* strtoll skips leading white space; a config value must not */
	assert_int_equal(conf_set(ttab, NT, &c, "port", "\f80", msg, sizeof(msg)), -STEWARD_EINVAL);
	assert_int_equal(conf_set(ttab, NT, &c, "port", "\n80", msg, sizeof(msg)), -STEWARD_EINVAL);
	assert_int_equal(c.port, 65535);
	conf_free(ttab, NT, &c);
}

static void test_conf_bool_spellings(void **state)
{
	static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "On"};
	static const char *const no[] = {"false", "no", "off", "0", "False", "OFF"};
	struct tconf c;
	char msg[256];

	(void)state;
	memset(&c, 0, sizeof(c));
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(conf_set(ttab, NT, &c, "verbose", yes[i], msg, sizeof(msg)), 0);
		assert_true(c.verbose);
		assert_int_equal(conf_set(ttab, NT, &c, "verbose", no[i], msg, sizeof(msg)), 0);
		assert_false(c.verbose);
	}
}

static void test_conf_list_limit(void **state)
{
	struct tconf c;
	char msg[256];

	(void)state;
	memset(&c, 0, sizeof(c));
	for (int i = 0; i < CONF_LIST_MAX; i++)
		assert_int_equal(conf_set(ttab, NT, &c, "peer", "p", msg, sizeof(msg)), 0);
	assert_int_equal(conf_set(ttab, NT, &c, "peer", "p", msg, sizeof(msg)), -STEWARD_EINVAL);
	assert_contains(msg, "peer: more than 64 entries");
	assert_int_equal(c.peer.n, CONF_LIST_MAX);
	conf_free(ttab, NT, &c);
}

static void test_conf_long_lines(void **state)
{
	struct tconf c;
	char msg[256] = "";
	char *text = malloc(5000 + 64);
	size_t n;

	(void)state;
	assert_non_null(text);
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_defaults(ttab, NT, &c), 0);
	/* a comment line of exactly 4096 bytes is accepted */
	n = (size_t)sprintf(text, "port = 81\n#");
	memset(text + n, 'c', 4095);
	n += 4095;
	n += (size_t)sprintf(text + n, "\nport = 82\n");
	assert_int_equal(conf_load_text(ttab, NT, &c, "test.conf", text, n, msg, sizeof(msg)), 0);
	assert_int_equal(c.port, 82);
	/* one byte more is refused with the line number */
	n = (size_t)sprintf(text, "port = 81\n#");
	memset(text + n, 'c', 4096);
	n += 4096;
	n += (size_t)sprintf(text + n, "\nport = 82\n");
	assert_int_equal(conf_load_text(ttab, NT, &c, "test.conf", text, n, msg, sizeof(msg)),
			 -STEWARD_EINVAL);
	assert_string_equal(msg, "test.conf:2: line is longer than 4096 bytes");
	/* a NUL byte inside a line is refused */
	assert_int_equal(conf_load_text(ttab, NT, &c, "test.conf", "port = 8\0" "1\n", 11, msg,
					 sizeof(msg)),
			 -STEWARD_EINVAL);
	assert_string_equal(msg, "test.conf:1: line contains a NUL byte");
	free(text);
	conf_free(ttab, NT, &c);
}

static void test_conf_file(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX], msg[512];
	struct tconf c;
	char *big;

	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_defaults(ttab, NT, &c), 0);
	snprintf(path, sizeof(path), "%s/s.conf", dir);
	assert_int_equal(file_write_atomic(path, "port = 90\nbogus = 1\n", 20, 0600), 0);
	assert_int_equal(conf_load_file(ttab, NT, &c, path, msg, sizeof(msg)), -STEWARD_EINVAL);
	{
		char want[PATH_MAX + 64];
		snprintf(want, sizeof(want), "%s:2: unknown key 'bogus'", path);
		assert_int_equal(strncmp(msg, want, strlen(want)), 0);
	}
	assert_int_equal(c.port, 90); /* lines before the error were applied */
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	assert_int_equal(conf_load_file(ttab, NT, &c, path, msg, sizeof(msg)), -STEWARD_ENOTFOUND);
	assert_contains(msg, ":0: cannot read");
	/* over the file cap */
	big = malloc(CONF_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '#', CONF_FILE_MAX + 1);
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	assert_int_equal(file_write_atomic(path, big, CONF_FILE_MAX + 1, 0600), 0);
	assert_int_equal(conf_load_file(ttab, NT, &c, path, msg, sizeof(msg)), -STEWARD_ETOOBIG);
	assert_int_equal(conf_load_text(ttab, NT, &c, "t", big, CONF_FILE_MAX + 1, msg, sizeof(msg)),
			 -STEWARD_ETOOBIG);
	assert_contains(msg, "the limit is");
	free(big);
	conf_free(ttab, NT, &c);
}

static void test_conf_find_and_names(void **state)
{
	(void)state;
	assert_ptr_equal(conf_find(ttab, NT, "interval"), &ttab[1]);
	assert_null(conf_find(ttab, NT, "Interval"));
	assert_string_equal(conf_type_name(CONF_DURATION), "duration");
	assert_string_equal(conf_type_name(CONF_LIST), "list");
}

/* A signal that interrupts exec_version's wait (the launcher's SIGUSR1
 * "check in now" has no SA_RESTART) must not turn a program that answers
 * into one that "does not run here". */
static volatile sig_atomic_t g_ticks;
static void on_tick(int sig)
{
	(void)sig;
	g_ticks++;
}

static void test_exec_version_through_signals(void **state)
{
	const char *dir = *state;
	const char *script = "#!/bin/sh\nsleep 0.4\necho \"prog 1.2.3 (protocol 1-1)\"\n";
	struct itimerval every = {{0, 20000}, {0, 20000}}, off = {{0, 0}, {0, 0}};
	struct sigaction sa, old;
	char path[PATH_MAX], ver[64];

	snprintf(path, sizeof(path), "%s/prog", dir);
	assert_int_equal(file_write_atomic(path, script, strlen(script), 0755), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick; /* no SA_RESTART: read and waitpid see EINTR */
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	g_ticks = 0;
	assert_int_equal(setitimer(ITIMER_REAL, &every, NULL), 0);
	exec_version(path, 10, ver, sizeof(ver));
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	assert_true(g_ticks > 5);
	assert_string_equal(ver, "1.2.3");
	/* and one that does not run: "" */
	snprintf(path, sizeof(path), "%s/none", dir);
	exec_version(path, 10, ver, sizeof(ver));
	assert_string_equal(ver, "");
}

/* A program that answers --version badly has no version: one that fails,
 * one that prints nothing, one that floods; one that is slow is ended at
 * its limit. */
static void test_exec_version_refusals(void **state)
{
	static const struct {
		const char *script, *want;
	} cases[] = {
	    {"#!/bin/sh\necho 'prog 1.2.3'\nexit 3\n", ""},
	    {"#!/bin/sh\nexit 0\n", ""},
	    {"#!/bin/sh\necho prog\n", ""},
	    {"#!/bin/sh\necho 'prog 1.2.3'; head -c 100000 /dev/zero | tr '\\0' x\n", ""},
	    {"#!/bin/sh\nexec sleep 30\n", ""},
	    {"#!/bin/sh\nprintf 'prog 4.5.6 (protocol 1-1)'\n", "4.5.6"},
	};
	const char *dir = *state;
	char path[PATH_MAX], ver[64];
	int64_t t0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/prog%zu", dir, i);
		assert_int_equal(file_write_atomic(path, cases[i].script, strlen(cases[i].script), 0755), 0);
		t0 = time_mono_us();
		exec_version(path, 1, ver, sizeof(ver));
		assert_string_equal(ver, cases[i].want);
		assert_true(time_mono_us() - t0 < 5000000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_append_to_exact_max),
	    cmocka_unit_test(test_buf_refuses_without_partial_write),
	    cmocka_unit_test(test_buf_huge_length_does_not_overflow),
	    cmocka_unit_test(test_buf_printf_cap),
	    cmocka_unit_test(test_buf_printf_paths),
	    cmocka_unit_test(test_buf_grows_past_initial_chunk),
	    cmocka_unit_test(test_buf_zero_max),
	    cmocka_unit_test(test_buf_steal),
	    cmocka_unit_test(test_duration_valid),
	    cmocka_unit_test(test_duration_refused),
	    cmocka_unit_test(test_time_rfc3339),
	    cmocka_unit_test(test_time_clocks),
	    cmocka_unit_test(test_hex_round_trip),
	    cmocka_unit_test(test_hex_rejects),
	    cmocka_unit_test(test_b64_round_trip),
	    cmocka_unit_test(test_b64_rejects),
	    cmocka_unit_test(test_rand),
	    cmocka_unit_test(test_str_copy),
	    cmocka_unit_test(test_str_printable),
	    cmocka_unit_test(test_err_set),
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_log_level),
	    cmocka_unit_test_setup_teardown(test_file_write_atomic, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_file_write_atomic_fails_cleanly, tmpdir_setup,
					    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_file_read_all_cap, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_file_mkdirs, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test(test_conf_defaults),
	    cmocka_unit_test(test_conf_load_values),
	    cmocka_unit_test(test_conf_crlf),
	    cmocka_unit_test(test_conf_errors_name_file_and_line),
	    cmocka_unit_test(test_conf_refused_value_keeps_old),
	    cmocka_unit_test(test_conf_bool_spellings),
	    cmocka_unit_test(test_conf_list_limit),
	    cmocka_unit_test(test_conf_long_lines),
	    cmocka_unit_test_setup_teardown(test_conf_file, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test(test_conf_find_and_names),
	    cmocka_unit_test_setup_teardown(test_exec_version_refusals, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_exec_version_through_signals, tmpdir_setup,
					    tmpdir_teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

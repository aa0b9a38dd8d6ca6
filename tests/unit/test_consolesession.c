/* Unit tests for the web console's session table and cookie parser
 * (server/consolesession.c): ids and CSRF tokens, idle and absolute
 * expiry, sign-out, eviction of the session used longest ago when the
 * table is full, and the Cookie header. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "steward/util.h"
#include "consolesession.h"

#define T0   1800000000LL
#define IDLE 1800
#define LIFE 43200

static void make(struct csess_table *t, const char *admin, int64_t now, char id[CSESS_TEXT_LEN + 1],
		 struct csess *out)
{
	struct csess s;

	memset(&s, 0, sizeof(s));
	snprintf(s.admin, sizeof(s.admin), "%s", admin);
	s.role = 1;
	memset(s.token_hash, 0xab, sizeof(s.token_hash));
	assert_int_equal(csess_create(t, &s, now, id), 0);
	if (out)
		*out = s;
}

static void test_create_lookup(void **state)
{
	struct csess_table *t;
	struct csess made, got;
	char id[CSESS_TEXT_LEN + 1], id2[CSESS_TEXT_LEN + 1];

	(void)state;
	assert_int_equal(csess_table_new(8, &t), 0);
	make(t, "alice", T0, id, &made);
	assert_int_equal(strlen(id), CSESS_TEXT_LEN);
	assert_int_equal(
	    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	    CSESS_TEXT_LEN);
	assert_int_equal(strlen(made.csrf), CSESS_TEXT_LEN);
	assert_string_not_equal(id, made.csrf);
	make(t, "bob", T0, id2, NULL);
	assert_string_not_equal(id, id2);
	assert_int_equal(csess_count(t), 2);

	assert_int_equal(csess_lookup(t, id, T0 + 10, IDLE, LIFE, &got), CSESS_OK);
	assert_string_equal(got.admin, "alice");
	assert_string_equal(got.csrf, made.csrf);
	assert_int_equal(got.last_used, T0 + 10);
	assert_int_equal(got.created, T0);
	assert_memory_equal(got.token_hash, made.token_hash, sizeof(got.token_hash));

	/* another id, a truncated one, one with a foreign character */
	char bad[CSESS_TEXT_LEN + 1];
	snprintf(bad, sizeof(bad), "%s", id);
	bad[0] = bad[0] == 'A' ? 'B' : 'A';
	assert_int_equal(csess_lookup(t, bad, T0, IDLE, LIFE, &got), CSESS_UNKNOWN);
	bad[5] = '\0';
	assert_int_equal(csess_lookup(t, bad, T0, IDLE, LIFE, &got), CSESS_UNKNOWN);
	snprintf(bad, sizeof(bad), "%s", id);
	bad[3] = '/';
	assert_int_equal(csess_lookup(t, bad, T0, IDLE, LIFE, &got), CSESS_UNKNOWN);
	assert_int_equal(csess_lookup(t, NULL, T0, IDLE, LIFE, &got), CSESS_UNKNOWN);
	csess_table_free(t);
}

static void test_expiry(void **state)
{
	struct csess_table *t;
	struct csess got;
	char id[CSESS_TEXT_LEN + 1];
	int64_t now = T0;

	(void)state;
	assert_int_equal(csess_table_new(4, &t), 0);
	make(t, "alice", T0, id, NULL);
	/* idle: each use moves the deadline */
	assert_int_equal(csess_lookup(t, id, T0 + IDLE, IDLE, LIFE, &got), CSESS_OK);
	assert_int_equal(csess_lookup(t, id, T0 + 2 * IDLE, IDLE, LIFE, &got), CSESS_OK);
	assert_int_equal(csess_lookup(t, id, T0 + 3 * IDLE + 1, IDLE, LIFE, &got), CSESS_EXPIRED);
	assert_string_equal(got.admin, "alice");
	/* and it stays expired */
	assert_int_equal(csess_lookup(t, id, T0 + 3 * IDLE + 2, IDLE, LIFE, &got), CSESS_EXPIRED);

	/* lifetime: used every 10 minutes, it still ends */
	make(t, "bob", T0, id, NULL);
	for (now = T0; now <= T0 + LIFE; now += 600)
		assert_int_equal(csess_lookup(t, id, now, IDLE, LIFE, &got), CSESS_OK);
	assert_int_equal(csess_lookup(t, id, T0 + LIFE + 1, IDLE, LIFE, &got), CSESS_EXPIRED);
	csess_table_free(t);
}

static void test_forget(void **state)
{
	struct csess_table *t;
	struct csess got;
	char id[CSESS_TEXT_LEN + 1];

	(void)state;
	assert_int_equal(csess_table_new(4, &t), 0);
	make(t, "alice", T0, id, NULL);
	assert_true(csess_forget(t, id));
	assert_false(csess_forget(t, id));
	assert_int_equal(csess_lookup(t, id, T0, IDLE, LIFE, &got), CSESS_UNKNOWN);
	assert_int_equal(csess_count(t), 0);
	csess_table_free(t);
}

static void test_eviction(void **state)
{
	struct csess_table *t;
	struct csess got;
	char ids[4][CSESS_TEXT_LEN + 1], extra[CSESS_TEXT_LEN + 1];

	(void)state;
	assert_int_equal(csess_table_new(4, &t), 0);
	for (int i = 0; i < 4; i++)
		make(t, "a", T0 + i, ids[i], NULL);
	/* ids[0] is the oldest but used last: ids[1] makes room */
	assert_int_equal(csess_lookup(t, ids[0], T0 + 10, IDLE, LIFE, &got), CSESS_OK);
	make(t, "b", T0 + 11, extra, NULL);
	assert_int_equal(csess_count(t), 4);
	assert_int_equal(csess_lookup(t, ids[1], T0 + 12, IDLE, LIFE, &got), CSESS_UNKNOWN);
	assert_int_equal(csess_lookup(t, ids[0], T0 + 12, IDLE, LIFE, &got), CSESS_OK);
	assert_int_equal(csess_lookup(t, ids[2], T0 + 12, IDLE, LIFE, &got), CSESS_OK);
	assert_int_equal(csess_lookup(t, extra, T0 + 12, IDLE, LIFE, &got), CSESS_OK);
	assert_string_equal(got.admin, "b");
	csess_table_free(t);
}

/* Many more sessions than slots: the newest ones are found, every older
 * one is gone, and sign-outs in between keep the rest findable (the
 * buckets' chains stay right through evictions and removals). */
static void test_churn(void **state)
{
	enum { MAX = 64, N = 1000 };
	static char ids[N][CSESS_TEXT_LEN + 1];
	struct csess_table *t;
	struct csess got;

	(void)state;
	assert_int_equal(csess_table_new(MAX, &t), 0);
	for (int i = 0; i < N; i++)
		make(t, "a", T0 + i, ids[i], NULL);
	assert_int_equal(csess_count(t), MAX);
	for (int i = 0; i < N; i++)
		assert_int_equal(csess_lookup(t, ids[i], T0 + N, IDLE, LIFE, &got),
				 i >= N - MAX ? CSESS_OK : CSESS_UNKNOWN);
	for (int i = N - MAX; i < N; i += 2)
		assert_true(csess_forget(t, ids[i]));
	assert_int_equal(csess_count(t), MAX / 2);
	for (int i = N - MAX; i < N; i++)
		assert_int_equal(csess_lookup(t, ids[i], T0 + N, IDLE, LIFE, &got),
				 (i - (N - MAX)) % 2 ? CSESS_OK : CSESS_UNKNOWN);
	csess_table_free(t);
}

static void test_cookie(void **state)
{
	char v[64];

	(void)state;
	assert_int_equal(csess_cookie_get("steward_session=abc", "steward_session", v, sizeof(v)),
			 0);
	assert_string_equal(v, "abc");
	assert_int_equal(
	    csess_cookie_get("a=1; steward_session=xyz; b=2", "steward_session", v, sizeof(v)), 0);
	assert_string_equal(v, "xyz");
	assert_int_equal(
	    csess_cookie_get("a=1;steward_session=q ;b", "steward_session", v, sizeof(v)), 0);
	assert_string_equal(v, "q");
	assert_int_equal(
	    csess_cookie_get("steward_session=\"quoted\"", "steward_session", v, sizeof(v)), 0);
	assert_string_equal(v, "quoted");
	assert_int_equal(csess_cookie_get("steward_session=", "steward_session", v, sizeof(v)), 0);
	assert_string_equal(v, "");
	/* the name must match whole */
	assert_int_equal(csess_cookie_get("xsteward_session=1; steward_sessionx=2",
					  "steward_session", v, sizeof(v)),
			 -STEWARD_ENOTFOUND);
	assert_int_equal(csess_cookie_get("", "steward_session", v, sizeof(v)), -STEWARD_ENOTFOUND);
	assert_int_equal(csess_cookie_get(NULL, "steward_session", v, sizeof(v)),
			 -STEWARD_ENOTFOUND);
	/* too long for the buffer: refused, not cut */
	assert_int_equal(csess_cookie_get("steward_session=0123456789", "steward_session", v, 5),
			 -STEWARD_EINVAL);
}

static void test_csrf_equal(void **state)
{
	(void)state;
	assert_true(csess_csrf_equal("abc", "abc"));
	assert_false(csess_csrf_equal("abd", "abc"));
	assert_false(csess_csrf_equal("ab", "abc"));
	assert_false(csess_csrf_equal("abcd", "abc"));
	assert_false(csess_csrf_equal(NULL, "abc"));
	assert_false(csess_csrf_equal("", ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_lookup), cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_forget),	  cmocka_unit_test(test_eviction),
	    cmocka_unit_test(test_churn),	  cmocka_unit_test(test_cookie),
	    cmocka_unit_test(test_csrf_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

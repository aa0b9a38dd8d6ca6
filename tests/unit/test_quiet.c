/* Unit tests for lib/core/quiet.c: the quietest span of the week. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <cmocka.h>

#include "steward/core.h"

#define MON 1796601600LL /* 2026-12-07T00:00:00Z, a Monday */
#define H   3600LL
#define D   86400LL

static void fill(uint64_t c[CORE_SCHEDULE_HOURS], uint64_t v)
{
	for (int i = 0; i < CORE_SCHEDULE_HOURS; i++)
		c[i] = v;
}

static void test_hour_of_week(void **state)
{
	(void)state;
	assert_int_equal(core_hour_of_week(0), 72); /* 1970-01-01, a Thursday */
	assert_int_equal(core_hour_of_week(MON), 0);
	assert_int_equal(core_hour_of_week(MON + H - 1), 0);
	assert_int_equal(core_hour_of_week(MON + 2 * D + 5 * H + 59), 53);
	assert_int_equal(core_hour_of_week(MON - 1), 167); /* Sunday 23:59:59 */
	assert_int_equal(core_hour_of_week(-1), 71);
}

static void test_next(void **state)
{
	(void)state;
	assert_int_equal(core_hour_of_week_next(0, MON), MON); /* at the boundary: now */
	assert_int_equal(core_hour_of_week_next(0, MON + 1), MON + 7 * D);
	assert_int_equal(core_hour_of_week_next(3, MON + 1), MON + 3 * H);
	assert_int_equal(core_hour_of_week_next(167, MON + 10), MON + 6 * D + 23 * H);
	assert_int_equal(core_hour_of_week_next(168, MON), -1);
	assert_int_equal(core_hour_of_week_next(-1, MON), -1);
}

/* One quiet hour in a busy week: the span starts there (it holds it) */
static void test_known_quiet_hour(void **state)
{
	uint64_t c[CORE_SCHEDULE_HOURS], sum = 99;
	int h = -1;
	int64_t t;

	(void)state;
	fill(c, 100);
	/* Wednesday 02:00-05:00 UTC quiet */
	c[2 * 24 + 2] = c[2 * 24 + 3] = c[2 * 24 + 4] = 1;
	assert_int_equal(core_quiet_span(c, 3, 0, &sum), 50);
	assert_int_equal(sum, 3);
	t = core_quiet_next(c, 3, MON + 5 * H + 17, &h, &sum);
	assert_int_equal(h, 50);
	assert_int_equal(t, MON + 2 * D + 2 * H);
	/* now inside it: next week's */
	t = core_quiet_next(c, 3, MON + 2 * D + 2 * H + 1, &h, NULL);
	assert_int_equal(t, MON + 9 * D + 2 * H);
}

/* Equally quiet spans: the soonest after now */
static void test_ties(void **state)
{
	uint64_t c[CORE_SCHEDULE_HOURS];
	int h = -1;

	(void)state;
	fill(c, 10);
	c[10] = c[11] = c[12] = 0;    /* Monday 10-13 */
	c[100] = c[101] = c[102] = 0; /* Friday 04-07 */
	assert_int_equal(core_quiet_span(c, 3, 0, NULL), 10);
	assert_int_equal(core_quiet_span(c, 3, 50, NULL), 100);
	assert_int_equal(core_quiet_next(c, 3, MON + 20 * H, &h, NULL), MON + 4 * D + 4 * H);
	assert_int_equal(h, 100);
	assert_int_equal(core_quiet_next(c, 3, MON, &h, NULL), MON + 10 * H);
	/* all equal: the next hour to begin */
	fill(c, 7);
	assert_int_equal(core_quiet_next(c, 3, MON + 30 * H + 5, &h, NULL), MON + 31 * H);
	assert_int_equal(h, 31);
}

/* A span across Sunday 23:00 into Monday */
static void test_wrap(void **state)
{
	uint64_t c[CORE_SCHEDULE_HOURS], sum;
	int h;

	(void)state;
	fill(c, 50);
	c[166] = c[167] = c[0] = 0;
	assert_int_equal(core_quiet_span(c, 3, 0, &sum), 166);
	assert_int_equal(sum, 0);
	assert_int_equal(core_quiet_next(c, 3, MON + 3 * D, &h, NULL), MON + 6 * D + 22 * H);
	c[166] = 50;
	c[1] = 0;
	assert_int_equal(core_quiet_span(c, 3, 0, &sum), 167);
	assert_int_equal(core_quiet_next(c, 3, MON + 3 * D, &h, NULL), MON + 6 * D + 23 * H);
}

/* No check-ins counted: no suggestion */
static void test_no_history(void **state)
{
	uint64_t c[CORE_SCHEDULE_HOURS];
	int h = 7;

	(void)state;
	fill(c, 0);
	assert_int_equal(core_quiet_span(c, 3, 0, NULL), -1);
	assert_int_equal(core_quiet_next(c, 3, MON, &h, NULL), -1);
	assert_int_equal(h, 7);
	c[5] = 1;
	assert_int_equal(core_quiet_span(c, 0, 0, NULL), -1);
	assert_int_equal(core_quiet_span(c, 169, 0, NULL), -1);
	assert_int_equal(core_quiet_span(c, 3, 168, NULL), -1);
	assert_int_equal(core_quiet_span(c, 168, 0, NULL), 0); /* the whole week */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hour_of_week),
	    cmocka_unit_test(test_next),
	    cmocka_unit_test(test_known_quiet_hour),
	    cmocka_unit_test(test_ties),
	    cmocka_unit_test(test_wrap),
	    cmocka_unit_test(test_no_history),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

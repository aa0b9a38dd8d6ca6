/* Unit tests for stewardctl's argument values (cli/timearg.c): the TIME
 * forms adverts take, compound durations and exit-code lists. Local times
 * are checked under fixed POSIX TZ rules, so no zone database is needed.
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
#include <cmocka.h>

#include "steward/util.h"

#include "../../cli/ctl.h"

#define NOW 1764064800 /* 2025-11-25T10:00:00Z */

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_))                                                        \
			fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_);            \
	} while (0)

static int64_t time_ok(const char *s)
{
	char why[256] = "";
	int64_t t = -1;

	if (ctl_parse_time(s, NOW, &t, why, sizeof(why)) != 0)
		fail_msg("'%s' refused: %s", s, why);
	return t;
}

/* Refused, with why containing the phrase. */
static void time_bad(const char *s, const char *phrase)
{
	char why[256] = "";
	int64_t t = 12345;

	if (ctl_parse_time(s, NOW, &t, why, sizeof(why)) == 0)
		fail_msg("'%s' accepted as %lld", s, (long long)t);
	assert_int_equal(t, 12345); /* untouched on refusal */
	assert_contains(why, phrase);
}

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void test_time_rfc3339(void **state)
{
	(void)state;
	assert_int_equal(time_ok("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(time_ok("2025-11-25T10:00:00Z"), NOW);
	assert_int_equal(time_ok("2025-11-25t10:00:00z"), NOW);
	assert_int_equal(time_ok("2025-11-25T11:00:00+01:00"), NOW);
	assert_int_equal(time_ok("2025-11-25T04:30:00-05:30"), NOW);
	assert_int_equal(time_ok("2025-11-25T10:00:00.999Z"), NOW); /* whole seconds */
	assert_int_equal(time_ok("2000-02-29T00:00:00Z"), 951782400);
	assert_int_equal(time_ok("2024-02-29T12:00:00Z"), 1709208000);
	assert_int_equal(time_ok("2038-01-19T03:14:08Z"), 2147483648LL); /* past 32 bits */
	assert_int_equal(time_ok("9999-12-31T23:59:59Z"), 253402300799LL);
	/* an offset across midnight and the year */
	assert_int_equal(time_ok("2026-01-01T00:30:00+01:00"), time_ok("2025-12-31T23:30:00Z"));
}

static void test_time_rfc3339_refused(void **state)
{
	(void)state;
	time_bad("2025-11-25T10:00:00", "no time zone");
	time_bad("2025-11-25T10:00Z", "needs seconds");
	time_bad("2025-13-01T00:00:00Z", "month 13");
	time_bad("2025-02-29T00:00:00Z", "2025-02 has 28 days");
	time_bad("1900-02-29T00:00:00Z", "year 1900");
	time_bad("2100-02-29T00:00:00Z", "2100-02 has 28 days");
	time_bad("2025-04-31T00:00:00Z", "2025-04 has 30 days");
	time_bad("2025-11-25T24:00:00Z", "hour 24");
	time_bad("2025-11-25T10:60:00Z", "minute 60");
	time_bad("2025-11-25T10:00:61Z", "second 61");
	time_bad("2025-11-25T10:00:00+1:00", "offset");
	time_bad("2025-11-25T10:00:00+01:60", "offset");
	time_bad("2025-11-25T10:00:00+0100", "offset");
	time_bad("2025-11-25T10:00:00Zjunk", "after the time");
	time_bad("2025-11-25T10:00:00.Z", "without digits");
	time_bad("1969-12-31T23:59:59Z", "year 1969");
	time_bad("1970-01-01T00:30:00+01:00", "before 1970");
	time_bad("10000-01-01T00:00:00Z", "not a time");
	time_bad("2025-1-25T10:00:00Z", "not a time");
	time_bad("+2025-11-25T10:00:00Z", "");
}

static void test_time_local(void **state)
{
	(void)state;
	set_tz("UTC0");
	assert_int_equal(time_ok("2025-11-25 10:00"), NOW);
	/* central Europe: +1 h in winter, +2 h in summer */
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	assert_int_equal(time_ok("2025-11-25 11:00"), NOW);
	assert_int_equal(time_ok("2026-07-01 12:00"), time_ok("2026-07-01T10:00:00Z"));
	/* 02:30 on the last Sunday of March 2026 is skipped by the clocks */
	time_bad("2026-03-29 02:30", "does not exist in local time");
	assert_int_equal(time_ok("2026-03-29 03:30"), time_ok("2026-03-29T01:30:00Z"));
	set_tz("UTC0");
	time_bad("2025-11-25 10:00:00", "after HH:MM");
	time_bad("2025-11-25 25:00", "hour 25");
	time_bad("2025-11-25 10", "HH:MM");
	time_bad("2025-11-31 10:00", "2025-11 has 30 days");
	time_bad("2025-11-25", "no time");
}

static void test_time_relative(void **state)
{
	(void)state;
	assert_int_equal(time_ok("now"), NOW);
	assert_int_equal(time_ok("+1h"), NOW + 3600);
	assert_int_equal(time_ok("+1h30m"), NOW + 5400);
	assert_int_equal(time_ok("+90"), NOW + 90);
	assert_int_equal(time_ok("+7d"), NOW + 7 * 86400);
	assert_int_equal(time_ok("+0s"), NOW);
	time_bad("", "empty");
	time_bad("+", "empty");
	time_bad("+1x", "unit 'x'");
	time_bad("+-1h", "not a duration");
	time_bad("+ 1h", "not a duration");
	time_bad("now+1h", "not a time");
	time_bad("NOW", "not a time");
	time_bad("-1h", "not a time");
	time_bad("tomorrow", "not a time");
}

static void dur_is(const char *s, int64_t want)
{
	char why[256] = "";
	int64_t got = -1;

	if (ctl_parse_duration(s, &got, why, sizeof(why)))
		fail_msg("'%s' refused: %s", s, why);
	assert_int_equal(got, want);
}

static void dur_bad(const char *s, const char *phrase)
{
	char why[256] = "";
	int64_t got = -1;

	if (ctl_parse_duration(s, &got, why, sizeof(why)) == 0)
		fail_msg("'%s' accepted as %lld", s, (long long)got);
	assert_contains(why, phrase);
}

static void test_duration(void **state)
{
	(void)state;
	dur_is("10m", 600);
	dur_is("1h30m", 5400);
	dur_is("1d2h3m4s", 93784);
	dur_is("90", 90);
	dur_is("45s", 45);
	dur_is("0", 0);
	dur_is("365d", 365 * 86400);
	dur_is("2h0m", 7200);
	dur_bad("", "empty");
	dur_bad("1h30", "without a unit");
	dur_bad("30m1h", "out of order");
	dur_bad("1h1h", "out of order");
	dur_bad("1w", "unit 'w'");
	dur_bad("h", "not a duration");
	dur_bad("1h 30m", "not a duration");
	dur_bad("-5m", "not a duration");
	dur_bad("366d", "365 days");
	dur_bad("99999999999999999999", "365 days");
	dur_bad("9999999999999h", "365 days");
}

static void codes_are(const char *s, const int *want, size_t nwant)
{
	int got[CTL_CODES_MAX];
	char why[256] = "";
	size_t n = 99;

	if (ctl_parse_codes(s, got, CTL_CODES_MAX, &n, why, sizeof(why)))
		fail_msg("'%s' refused: %s", s, why);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
}

static void codes_bad(const char *s, const char *phrase)
{
	int got[4];
	char why[256] = "";
	size_t n = 99;

	if (ctl_parse_codes(s, got, 4, &n, why, sizeof(why)) == 0)
		fail_msg("'%s' accepted", s);
	assert_int_equal(n, 99);
	assert_contains(why, phrase);
}

static void test_codes(void **state)
{
	static const int a[] = {0}, b[] = {0, 3, 255}, c[] = {17};

	(void)state;
	codes_are("0", a, 1);
	codes_are("0,3,255", b, 3);
	codes_are("017", c, 1);
	codes_bad("", "empty");
	codes_bad("256", "256");
	codes_bad("3010", "3010");
	codes_bad("-1", "whole numbers");
	codes_bad("1,,2", "whole numbers");
	codes_bad("1,", "whole numbers");
	codes_bad(",1", "whole numbers");
	codes_bad("1, 2", "whole numbers");
	codes_bad("1;2", "whole numbers");
	codes_bad("0x10", "whole numbers");
	codes_bad("1,2,1", "twice");
	codes_bad("1,2,3,4,5", "more than 4");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time_rfc3339), cmocka_unit_test(test_time_rfc3339_refused),
	    cmocka_unit_test(test_time_local),	 cmocka_unit_test(test_time_relative),
	    cmocka_unit_test(test_duration),	 cmocka_unit_test(test_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

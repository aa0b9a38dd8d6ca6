/* Unit tests for maintenance windows: lib/core/window.c, lib/core/tz.c and
 * lib/util/tzload.c, with the zone files from /usr/share/zoneinfo.
 *
 * Expected instants were computed outside this code, with GNU date, e.g.
 *     TZ=Europe/Berlin date -d '2026-03-29 03:00' +%s
 * and are written next to each constant.
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
#include <sys/stat.h>
#include <cmocka.h>

#include "steward/window.h"

#define M 60LL
#define H 3600LL
#define D 86400LL

/* Monday 2026-07-06T00:00Z (date -u -d '2026-07-06' +%s) */
#define MON 1783296000LL

static struct core_tz *zone(const char *name)
{
	struct core_tz *tz = NULL;
	char msg[256] = "";

	if (tz_load(name, &tz, msg, sizeof(msg)) < 0)
		fail_msg("tz_load %s: %s", name, msg);
	return tz;
}

static struct core_window win(const char *weekly, const char *duration)
{
	struct core_window w;
	char msg[256] = "";

	if (core_window_parse(weekly, duration, &w, msg, sizeof(msg)) < 0)
		fail_msg("parse '%s' '%s': %s", weekly, duration, msg);
	return w;
}

/* Asserts the occurrence of one window at t. */
static void next_is(const struct core_window *w, const struct core_tz *tz, int64_t t, int64_t open,
		    int64_t close)
{
	int64_t o = -1, c = -1;

	assert_true(core_window_next(w, tz, t, &o, &c));
	assert_int_equal(o, open);
	assert_int_equal(c, close);
}

/* ---- parsing and formatting ---------------------------------------------- */

static void test_parse_accepts(void **state)
{
	static const struct {
		const char *weekly, *duration;
		uint8_t days;
		int32_t start;
		int64_t dur;
	} ok[] = {
	    {"sat 22:00", "6h", 0x20, 22 * 60, 6 * H},
	    {"mon-fri 22:00", "90m", 0x1f, 22 * 60, 90 * M},
	    {"sat,sun 02:30", "1h30m", 0x60, 150, 90 * M},
	    {"daily 01:00", "2d", 0x7f, 60, 2 * D},
	    {"FRI-Mon 0:05", "1m", 0x71, 5, 60},
	    {"Sun 23:59", "7d", 0x40, 1439, 7 * D},
	    {"mon,wed-thu,sun 00:00", "1d12h", 0x4d, 0, 36 * H},
	    {"sun-sat 12:00", "1d1h1m", 0x7f, 720, D + H + M},
	    {"mon-sun 12:00", "3h", 0x7f, 720, 3 * H},
	    {"tue-tue 12:00", "60m", 0x02, 720, H},
	    {"sat   22:00", "6h", 0x20, 22 * 60, 6 * H},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct core_window w = win(ok[i].weekly, ok[i].duration);

		assert_int_equal(w.days, ok[i].days);
		assert_int_equal(w.start_min, ok[i].start);
		assert_int_equal(w.duration_s, ok[i].dur);
		assert_true(core_window_valid(&w));
	}
}

static void test_parse_refuses(void **state)
{
	static const struct {
		const char *weekly, *duration, *msg;
	} bad[] = {
	    {"", "6h",
	     "weekly: missing; expected DAYS HH:MM, e.g. 'sat 22:00', 'mon-fri 01:30' or "
	     "'daily 03:00'"},
	    {NULL, "6h",
	     "weekly: missing; expected DAYS HH:MM, e.g. 'sat 22:00', 'mon-fri 01:30' or "
	     "'daily 03:00'"},
	    {"sat", "6h", "weekly: 'sat' is not DAYS HH:MM, e.g. 'sat 22:00'"},
	    {" sat 22:00", "6h", "weekly: ' sat 22:00' is not DAYS HH:MM, e.g. 'sat 22:00'"},
	    {"sat 25:00", "6h", "weekly: 'sat 25:00' is not DAYS HH:MM (hour 00-23)"},
	    {"sat 24:00", "6h", "weekly: 'sat 24:00' is not DAYS HH:MM (hour 00-23)"},
	    {"sat 22:60", "6h", "weekly: 'sat 22:60' is not DAYS HH:MM (minute 00-59)"},
	    {"sat 22:0", "6h", "weekly: 'sat 22:0' is not DAYS HH:MM, e.g. 'sat 22:00'"},
	    {"sat 2200", "6h", "weekly: 'sat 2200' is not DAYS HH:MM, e.g. 'sat 22:00'"},
	    {"sat 22:00 ", "6h", "weekly: 'sat 22:00 ' is not DAYS HH:MM, e.g. 'sat 22:00'"},
	    {"sat 122:00", "6h", "weekly: 'sat 122:00' is not DAYS HH:MM, e.g. 'sat 22:00'"},
	    {"sat -1:00", "6h", "weekly: 'sat -1:00' is not DAYS HH:MM, e.g. 'sat 22:00'"},
	    {"xyz 22:00", "6h",
	     "weekly: 'xyz' is not days (mon..sun, ranges like mon-fri, lists like sat,sun, or "
	     "daily)"},
	    {"saturday 22:00", "6h",
	     "weekly: 'saturday' is not days (mon..sun, ranges like mon-fri, lists like sat,sun, "
	     "or daily)"},
	    {"sat,,sun 22:00", "6h",
	     "weekly: 'sat,,sun' is not days (mon..sun, ranges like mon-fri, lists like sat,sun, "
	     "or daily)"},
	    {"sat, 22:00", "6h",
	     "weekly: 'sat,' is not days (mon..sun, ranges like mon-fri, lists like sat,sun, or "
	     "daily)"},
	    {"mon- 22:00", "6h",
	     "weekly: 'mon-' is not days (mon..sun, ranges like mon-fri, lists like sat,sun, or "
	     "daily)"},
	    {"mon-fri-sun 22:00", "6h",
	     "weekly: 'mon-fri-sun' is not days (mon..sun, ranges like mon-fri, lists like "
	     "sat,sun, or daily)"},
	    {"daily,mon 22:00", "6h",
	     "weekly: 'daily,mon' is not days (mon..sun, ranges like mon-fri, lists like "
	     "sat,sun, or daily)"},
	    {"mon,tue,wed,thu,fri,sat,sun,mon,tue,wed,thu,fri,sat,sun,mon,tue 01:00", "6h",
	     "weekly: longer than 64 characters"},
	    {"sat 22:00", "0m", "duration: must be more than zero"},
	    {"sat 22:00", "0d0h0m", "duration: must be more than zero"},
	    {"sat 22:00", "8d", "duration: '8d' is longer than 7 days"},
	    {"sat 22:00", "7d1m", "duration: '7d1m' is longer than 7 days"},
	    {"sat 22:00", "9999999m", "duration: '9999999m' is longer than 7 days"},
	    {"sat 22:00", "",
	     "duration: '' is not a duration like 6h, 90m, 1h30m or 2d (1 minute to 7 days)"},
	    {"sat 22:00", NULL,
	     "duration: '' is not a duration like 6h, 90m, 1h30m or 2d (1 minute to 7 days)"},
	    {"sat 22:00", "6",
	     "duration: '6' is not a duration like 6h, 90m, 1h30m or 2d (1 minute to 7 days)"},
	    {"sat 22:00", "30s",
	     "duration: '30s' is not a duration like 6h, 90m, 1h30m or 2d (1 minute to 7 days)"},
	    {"sat 22:00", "h",
	     "duration: 'h' is not a duration like 6h, 90m, 1h30m or 2d (1 minute to 7 days)"},
	    {"sat 22:00", "-1h",
	     "duration: '-1h' is not a duration like 6h, 90m, 1h30m or 2d (1 minute to 7 days)"},
	    {"sat 22:00", "6h 30m",
	     "duration: '6h 30m' is not a duration like 6h, 90m, 1h30m or 2d (1 minute to 7 "
	     "days)"},
	    {"sat 22:00", "30m1h",
	     "duration: '30m1h' is not a duration like 6h, 90m, 1h30m or 2d (1 minute to 7 "
	     "days)"},
	    {"sat 22:00", "1h1h",
	     "duration: '1h1h' is not a duration like 6h, 90m, 1h30m or 2d (1 minute to 7 days)"},
	    {"sat 22:00", "99999999999999999999h",
	     "duration: '99999999999999999999h' is not a duration like 6h, 90m, 1h30m or 2d (1 "
	     "minute to 7 days)"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct core_window w = {0x01, 7, 99};
		char msg[256] = "";

		assert_int_equal(
		    core_window_parse(bad[i].weekly, bad[i].duration, &w, msg, sizeof(msg)), -1);
		assert_string_equal(msg, bad[i].msg);
		/* a refused window is left alone */
		assert_int_equal(w.days, 0x01);
		assert_int_equal(w.start_min, 7);
		assert_int_equal(w.duration_s, 99);
	}
}

static void test_format(void **state)
{
	static const int64_t durs[] = {60, 90 * M, 6 * H, D, 36 * H, D + M, 7 * D};
	char s[96], wk[48], du[24];
	struct core_window w;

	(void)state;
	w = win("sat 22:00", "6h");
	core_window_format(&w, s, sizeof(s));
	assert_string_equal(s, "sat 22:00 for 6h");
	w = win("fri-mon 00:05", "1h30m");
	core_window_format(&w, s, sizeof(s));
	assert_string_equal(s, "mon,fri-sun 00:05 for 1h30m");
	w = win("sat,sun 02:30", "2d");
	core_window_format(&w, s, sizeof(s));
	assert_string_equal(s, "sat,sun 02:30 for 2d");
	w = win("mon-sun 01:00", "90m");
	core_window_format(&w, s, sizeof(s));
	assert_string_equal(s, "daily 01:00 for 1h30m");
	w = win("mon,wed-fri 23:59", "1d1m");
	core_window_format(&w, s, sizeof(s));
	assert_string_equal(s, "mon,wed-fri 23:59 for 1d1m");
	core_window_format(&w, s, 5); /* truncated, terminated */
	assert_string_equal(s, "mon,");

	/* every set of days, several times and durations round-trip */
	for (int days = 1; days < 128; days++)
		for (int start = 0; start < 1440; start += 157)
			for (size_t k = 0; k < sizeof(durs) / sizeof(durs[0]); k++) {
				struct core_window a = {(uint8_t)days, start, durs[k]}, b;
				char msg[128];

				core_window_format_weekly(&a, wk, sizeof(wk));
				core_window_format_duration(&a, du, sizeof(du));
				assert_int_equal(core_window_parse(wk, du, &b, msg, sizeof(msg)),
						 0);
				assert_int_equal(a.days, b.days);
				assert_int_equal(a.start_min, b.start_min);
				assert_int_equal(a.duration_s, b.duration_s);
			}
}

/* ---- one window, UTC ------------------------------------------------------- */

static void test_utc_basic(void **state)
{
	struct core_window w = win("sat 22:00", "6h");
	int64_t sat22 = MON - D - 2 * H; /* Sat 2026-07-04 22:00Z = 1783202400 */

	(void)state;
	assert_int_equal(sat22, 1783202400LL);
	next_is(&w, NULL, sat22 - 1, sat22, sat22 + 6 * H);
	next_is(&w, NULL, sat22, sat22, sat22 + 6 * H);
	next_is(&w, NULL, sat22 + 6 * H - 1, sat22, sat22 + 6 * H);
	next_is(&w, NULL, sat22 + 6 * H, sat22 + 7 * D, sat22 + 7 * D + 6 * H);
	next_is(&w, core_tz_utc(), MON, sat22 + 7 * D, sat22 + 7 * D + 6 * H);
	/* the epoch was a Thursday; its Saturday is 1970-01-03 */
	next_is(&w, NULL, 0, 2 * D + 22 * H, 2 * D + 28 * H);
	next_is(&w, NULL, -5 * D, 2 * D + 22 * H, 2 * D + 28 * H); /* before 1970: as 1970 */
}

static void test_midnight_and_week_end(void **state)
{
	struct core_window w = win("sun 23:00", "3h");
	struct core_window d = win("daily 23:30", "1h");
	struct core_window fm = win("fri-mon 20:00", "10h");
	int64_t sun23 = 1772406000LL; /* date -u -d '2026-03-01 23:00' +%s, a Sunday */
	int64_t mon02 = 1772416800LL; /* date -u -d '2026-03-02 02:00' +%s */

	(void)state;
	next_is(&w, NULL, sun23 - 1, sun23, mon02);
	next_is(&w, NULL, sun23 + 2 * H, sun23, mon02); /* Monday 01:00: still inside */
	next_is(&w, NULL, mon02, sun23 + 7 * D, mon02 + 7 * D);
	/* daily across midnight: Monday 00:15 is inside Sunday's */
	next_is(&d, NULL, mon02 - 105 * M, sun23 + 30 * M, sun23 + 90 * M);
	next_is(&d, NULL, mon02, sun23 + 30 * M + D, sun23 + 90 * M + D);
	/* fri-mon wraps the week: Monday 02:00 is inside Sunday's, Monday
	 * 20:00 is the last, Friday 20:00 the next */
	next_is(&fm, NULL, mon02, mon02 - 6 * H, mon02 + 4 * H);
	next_is(&fm, NULL, mon02 + 4 * H, mon02 + 18 * H, mon02 + 28 * H);
	next_is(&fm, NULL, mon02 + 28 * H, mon02 + 4 * D + 18 * H, mon02 + 4 * D + 28 * H);
}

static void test_invalid_window(void **state)
{
	struct core_window w = {0, 0, 3600};
	int64_t o, c;

	(void)state;
	assert_false(core_window_next(&w, NULL, MON, &o, &c));
	w = (struct core_window){0x80, 0, 3600};
	assert_false(core_window_next(&w, NULL, MON, &o, &c));
	w = (struct core_window){1, 1440, 3600};
	assert_false(core_window_next(&w, NULL, MON, &o, &c));
	w = (struct core_window){1, -1, 3600};
	assert_false(core_window_next(&w, NULL, MON, &o, &c));
	w = (struct core_window){1, 0, 59};
	assert_false(core_window_next(&w, NULL, MON, &o, &c));
	w = (struct core_window){1, 0, 7 * D + 1};
	assert_false(core_window_next(&w, NULL, MON, &o, &c));
	assert_false(core_window_next(NULL, NULL, MON, &o, &c));
}

/* ---- DST in Europe/Berlin ------------------------------------------------- */

static void test_berlin_march(void **state)
{
	struct core_tz *tz = zone("Europe/Berlin");
	struct core_window w0230 = win("sun 02:30", "1h");
	struct core_window w6h = win("sat 22:00", "6h");
	struct core_window w0200 = win("sun 02:00", "1h");
	struct core_window w0300 = win("sun 03:00", "1h");

	(void)state;
	/* 2026-03-29 is the last Sunday of March: 02:00 CET -> 03:00 CEST.
	 * 02:30 does not exist; the window begins at 03:00 CEST = 01:00Z.
	 * TZ=Europe/Berlin date -d '2026-03-29 03:00' +%s = 1774746000 */
	next_is(&w0230, tz, 1774746000LL - 2 * D, 1774746000LL, 1774746000LL + H);
	next_is(&w0200, tz, 1774746000LL - 2 * D, 1774746000LL, 1774746000LL + H);
	next_is(&w0300, tz, 1774746000LL - 2 * D, 1774746000LL, 1774746000LL + H);
	/* a week before and after, 02:30 exists: CET (01:30Z) and CEST (00:30Z) */
	next_is(&w0230, tz, 1774746000LL - 8 * D, 1774746000LL - 7 * D + 30 * M,
		1774746000LL - 7 * D + 90 * M);
	next_is(&w0230, tz, 1774746000LL + H, 1774746000LL + 7 * D - 30 * M,
		1774746000LL + 7 * D + 30 * M);
	/* sat 22:00 CET (1774731600) for 6h ends 05:00 CEST (1774753200): an hour
	 * later in wall time, 21600 s all the same */
	next_is(&w6h, tz, 1774731600LL - D, 1774731600LL, 1774753200LL);
	assert_int_equal(1774753200LL - 1774731600LL, 6 * H);
	assert_int_equal(core_tz_offset(tz, 1774746000LL - 1), 3600);
	assert_int_equal(core_tz_offset(tz, 1774746000LL), 7200);
	assert_int_equal(core_tz_local_to_utc(tz, 1774746000LL - 1 + 3600 + 1), 1774746000LL);
	core_tz_free(tz);
}

static void test_berlin_october(void **state)
{
	struct core_tz *tz = zone("Europe/Berlin");
	struct core_window w0230 = win("sun 02:30", "1h");
	struct core_window w6h = win("sat 22:00", "6h");

	(void)state;
	/* 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice, the window
	 * begins at the first (CEST, 00:30Z).
	 * TZ=Europe/Berlin date -d '2026-10-25 02:30 CEST' +%s = 1792888200 */
	next_is(&w0230, tz, 1792888200LL - D, 1792888200LL, 1792888200LL + H);
	/* inside the second 02:30 (CET) it is the same occurrence, still open */
	next_is(&w0230, tz, 1792888200LL + H - 1, 1792888200LL, 1792888200LL + H);
	/* from its end the next is a week later at 02:30 CET (01:30Z) */
	next_is(&w0230, tz, 1792888200LL + H, 1792888200LL + 7 * D + H,
		1792888200LL + 7 * D + 2 * H);
	/* sat 22:00 CEST (1792872000) for 6h ends 03:00 CET (1792893600): an
	 * hour earlier in wall time */
	next_is(&w6h, tz, 1792872000LL - 3 * D, 1792872000LL, 1792893600LL);
	assert_int_equal(core_tz_offset(tz, 1792893600LL - H - 1), 7200); /* 00:59:59Z */
	assert_int_equal(core_tz_offset(tz, 1792893600LL - H), 3600);
	core_tz_free(tz);
}

/* ---- client zones -------------------------------------------------------- */

static void test_client_zones(void **state)
{
	static const struct {
		const char *zone;
		int64_t jul, jan; /* sat 22:00 local on 2026-07-04 and 2026-01-03 */
		int32_t off_jul, off_jan;
	} z[] = {
	    /* TZ=$zone date -d '2026-07-04 22:00' +%s, ... '2026-01-03 22:00' */
	    {"UTC", 1783202400LL, 1767477600LL, 0, 0},
	    {"America/New_York", 1783216800LL, 1767495600LL, -4 * 3600, -5 * 3600},
	    {"Asia/Kolkata", 1783182600LL, 1767457800LL, 19800, 19800},
	    {"Australia/Lord_Howe", 1783164600LL, 1767438000LL, 37800, 39600},
	    {"Pacific/Chatham", 1783156500LL, 1767428100LL, 45900, 49500},
	};
	struct core_window w = win("sat 22:00", "6h");

	(void)state;
	for (size_t i = 0; i < sizeof(z) / sizeof(z[0]); i++) {
		struct core_tz *tz = zone(z[i].zone);

		next_is(&w, tz, z[i].jul - 3 * D, z[i].jul, z[i].jul + 6 * H);
		next_is(&w, tz, z[i].jan - 3 * D, z[i].jan, z[i].jan + 6 * H);
		/* the same window in UTC is off by exactly the zone's offset */
		next_is(&w, NULL, z[i].jul + z[i].off_jul - 3 * D, z[i].jul + z[i].off_jul,
			z[i].jul + z[i].off_jul + 6 * H);
		assert_int_equal(core_tz_offset(tz, z[i].jul), z[i].off_jul);
		assert_int_equal(core_tz_offset(tz, z[i].jan), z[i].off_jan);
		core_tz_free(tz);
	}
}

static void test_lord_howe_half_hour_dst(void **state)
{
	struct core_tz *tz = zone("Australia/Lord_Howe");
	struct core_window gap = win("sun 02:15", "1h");
	struct core_window twice = win("sun 01:45", "1h");

	(void)state;
	/* 2026-10-04 02:00 +1030 -> 02:30 +11; 02:15 does not exist.
	 * TZ=Australia/Lord_Howe date -d '2026-10-04 02:30' +%s = 1791041400 */
	next_is(&gap, tz, 1791041400LL - 2 * D, 1791041400LL, 1791041400LL + H);
	/* 2026-04-05 02:00 +11 -> 01:30 +1030; 01:45 happens twice, the first
	 * is +11: date -d '2026-04-05 01:45 +1100' +%s = 1775313900 */
	next_is(&twice, tz, 1775313900LL - 2 * D, 1775313900LL, 1775313900LL + H);
	core_tz_free(tz);
}

static void test_samoa_skipped_day(void **state)
{
	struct core_tz *tz = zone("Pacific/Apia");
	struct core_window fri = win("fri 10:00", "1h"), sat = win("sat 10:00", "1h");

	(void)state;
	/* Samoa skipped Friday 2011-12-30: 23:59:59 on Thursday (-10) was
	 * followed by Saturday 00:00 (+14). A Friday window begins at the end of
	 * the gap. TZ=Pacific/Apia date -d '2011-12-31 00:00' +%s = 1325239200,
	 * '2011-12-28 00:00' = 1325066400, '2011-12-31 10:00' = 1325275200 */
	next_is(&fri, tz, 1325066400LL, 1325239200LL, 1325239200LL + H);
	next_is(&sat, tz, 1325066400LL, 1325275200LL, 1325275200LL + H);
	core_tz_free(tz);
}

/* ---- the POSIX footer ---------------------------------------------------- */

static void test_footer_2100(void **state)
{
	struct core_tz *tz = zone("Europe/Berlin");
	struct core_tz *lh = zone("Australia/Lord_Howe");
	struct core_window w0230 = win("sun 02:30", "1h");

	(void)state;
	/* far past the files' transitions: the footer rule decides.
	 * 2100-03-28 is the last Sunday of March:
	 * TZ=Europe/Berlin date -d '2100-03-28 03:00' +%s = 4109878800 */
	next_is(&w0230, tz, 4109878800LL - 2 * D, 4109878800LL, 4109878800LL + H);
	/* date -d '2100-10-31 02:30 CEST' +%s = 4128625800 (first of two) */
	next_is(&w0230, tz, 4128625800LL - 2 * D, 4128625800LL, 4128625800LL + H);
	assert_int_equal(core_tz_offset(tz, 4118119200LL), 7200); /* 2100-07-01 12:00 CEST */
	assert_int_equal(core_tz_offset(tz, 4131342000LL), 3600); /* 2100-12-01 12:00 CET */
	assert_int_equal(core_tz_offset(tz, 4109878800LL - 1), 3600);
	assert_int_equal(core_tz_offset(tz, 4109878800LL), 7200);
	/* southern: Lord Howe's DST runs from October to April.
	 * TZ=Australia/Lord_Howe date -d '2100-01-01 12:00' +%s = 4102448400 (+11)
	 * TZ=Australia/Lord_Howe date -d '2100-07-01 12:00' +%s = 4118088600 (+1030) */
	assert_int_equal(core_tz_offset(lh, 4102448400LL), 39600);
	assert_int_equal(core_tz_offset(lh, 4118088600LL), 37800);
	/* and far beyond: year 9000 (offsets only; no crash near the end) */
	assert_int_equal(core_tz_offset(tz, 221845392000LL), 3600); /* 9000-01-01 */
	(void)core_tz_offset(tz, INT64_MAX);
	(void)core_tz_offset(tz, INT64_MIN);
	(void)core_tz_local_to_utc(tz, INT64_MAX);
	(void)core_tz_local_to_utc(tz, INT64_MIN);
	core_tz_free(tz);
	core_tz_free(lh);
}

/* ---- against glibc ----------------------------------------------------------- */

/* glibc reads the same files with its own code: offsets must agree from
 * 1900 to 2200 (after 2037 the footer decides), and every local time must
 * map to an instant that shows it, or to the end of the gap it fell in. */
static void test_against_libc(void **state)
{
	static const char *const zones[] = {
	    "Europe/Berlin",	   "America/New_York",	 "Asia/Kolkata",
	    "Australia/Lord_Howe", "Pacific/Chatham",	 "America/Sao_Paulo",
	    "Africa/Casablanca",   "America/St_Johns",	 "Antarctica/Troll",
	    "Europe/Dublin",	   "Pacific/Kiritimati", "America/Argentina/Buenos_Aires"};
	uint64_t seed = 42;

	(void)state;
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		struct core_tz *tz = zone(zones[z]);

		setenv("TZ", zones[z], 1);
		tzset();
		for (int i = 0; i < 3000; i++) {
			int64_t t, l, u;
			time_t tt;
			struct tm tm;

			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			t = -2208988800LL + (int64_t)(seed >> 20) % (300 * 365 * D);
			tt = (time_t)t;
			assert_non_null(localtime_r(&tt, &tm));
			if (core_tz_offset(tz, t) != tm.tm_gmtoff)
				fail_msg("%s at %lld: %d, libc %ld", zones[z], (long long)t,
					 (int)core_tz_offset(tz, t), tm.tm_gmtoff);
			/* local to UTC: exact, or the first instant after a gap */
			l = t + core_tz_offset(tz, t) + (int64_t)(seed >> 8) % (4 * H) - 2 * H;
			u = core_tz_local_to_utc(tz, l);
			if (u + core_tz_offset(tz, u) != l) {
				assert_true(u + core_tz_offset(tz, u) > l);
				assert_true(u - 1 + core_tz_offset(tz, u - 1) < l);
			} else {
				/* no earlier instant shows l: the clocks were not at l an
				 * hour or less before under the older offset */
				int32_t before = core_tz_offset(tz, u - 1);
				int64_t u0 = l - before;
				assert_false(u0 < u && core_tz_offset(tz, u0) == before);
			}
		}
		core_tz_free(tz);
	}
	unsetenv("TZ");
	tzset();
}

/* ---- hand-made TZif files -------------------------------------------------- */

struct tzb {
	unsigned char b[4096];
	size_t n;
};

static void put(struct tzb *t, const void *p, size_t n)
{
	assert_true(t->n + n <= sizeof(t->b));
	if (n) /* p may be NULL then */
		memcpy(t->b + t->n, p, n);
	t->n += n;
}

static void put32(struct tzb *t, uint32_t v)
{
	unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
	put(t, b, 4);
}

static void put64(struct tzb *t, int64_t v)
{
	put32(t, (uint32_t)((uint64_t)v >> 32));
	put32(t, (uint32_t)v);
}

static void header(struct tzb *t, char version, uint32_t ntime, uint32_t ntype, uint32_t nchar)
{
	unsigned char zero[15] = {0};

	put(t, "TZif", 4);
	put(t, &version, 1);
	put(t, zero, 15);
	put32(t, 0), put32(t, 0), put32(t, 0); /* isut, isstd, leap */
	put32(t, ntime), put32(t, ntype), put32(t, nchar);
}

/* A file with transitions at[] to types ti[] of offsets off[], in version
 * v ('\0', '2', '3') with footer (v2+). */
static void build(struct tzb *t, char v, const int64_t *at, const uint8_t *ti, uint32_t n,
		  const int32_t *off, uint32_t ntype, const char *footer)
{
	t->n = 0;
	for (int pass = 0; pass < (v ? 2 : 1); pass++) {
		size_t ts = pass ? 8 : 4;

		header(t, v, n, ntype, 4);
		for (uint32_t i = 0; i < n; i++)
			if (ts == 8)
				put64(t, at[i]);
			else
				put32(t, (uint32_t)(int32_t)at[i]);
		put(t, ti, n);
		for (uint32_t i = 0; i < ntype; i++) {
			unsigned char rest[2] = {off[i] != off[0], 0};
			put32(t, (uint32_t)off[i]);
			put(t, rest, 2);
		}
		put(t, "ZZZ", 4);
	}
	if (v) {
		put(t, "\n", 1);
		put(t, footer, strlen(footer));
		put(t, "\n", 1);
	}
}

static struct core_tz *parse_ok(const struct tzb *t)
{
	struct core_tz *tz = NULL;
	char msg[256] = "";

	if (core_tz_parse(t->b, t->n, &tz, msg, sizeof(msg)) < 0)
		fail_msg("core_tz_parse: %s", msg);
	return tz;
}

static void test_slim_and_v1(void **state)
{
	static const int32_t cet[1] = {3600};
	static const int32_t two[2] = {0, 7200};
	static const int64_t at[2] = {1000000, 2000000};
	static const uint8_t ti[2] = {1, 0};
	struct core_tz *berlin = zone("Europe/Berlin"), *tz;
	struct tzb t;

	(void)state;
	/* "slim": no transitions at all, only the footer; it must agree with
	 * the fat system file hour by hour through 2026-2027 */
	build(&t, '3', NULL, NULL, 0, cet, 1, "CET-1CEST,M3.5.0,M10.5.0/3");
	tz = parse_ok(&t);
	for (int64_t u = 1767225600LL; u < 1767225600LL + 2 * 365 * D; u += H)
		assert_int_equal(core_tz_offset(tz, u), core_tz_offset(berlin, u));
	for (int64_t u = 1767225600LL; u < 1767225600LL + 2 * 365 * D; u += 7 * D + 1234)
		assert_int_equal(core_tz_local_to_utc(tz, u), core_tz_local_to_utc(berlin, u));
	core_tz_free(tz);

	/* a footer with <> names and minutes, like Chatham's */
	build(&t, '2', NULL, NULL, 0, cet, 1, "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45");
	tz = parse_ok(&t);
	assert_int_equal(core_tz_offset(tz, 1783156500LL), 45900); /* 2026-07-04 */
	assert_int_equal(core_tz_offset(tz, 1767428100LL), 49500); /* 2026-01-03 */
	core_tz_free(tz);

	/* v3 allows transition times beyond 24h and negative: "EST5EDT,0/0,J365/25"
	 * is DST all year */
	build(&t, '3', NULL, NULL, 0, cet, 1, "EST5EDT,0/0,J365/25");
	tz = parse_ok(&t);
	assert_int_equal(core_tz_offset(tz, 1783156500LL), -4 * 3600);
	core_tz_free(tz);

	/* a fixed zone: "<+0530>-5:30" */
	build(&t, '2', NULL, NULL, 0, cet, 1, "<+0530>-5:30");
	tz = parse_ok(&t);
	assert_int_equal(core_tz_offset(tz, MON), 19800);
	core_tz_free(tz);

	/* version 1 (no footer): before the first transition the first type,
	 * after the last the last transition's */
	build(&t, '\0', at, ti, 2, two, 2, "");
	tz = parse_ok(&t);
	assert_int_equal(core_tz_offset(tz, 999999), 0);
	assert_int_equal(core_tz_offset(tz, 1000000), 7200);
	assert_int_equal(core_tz_offset(tz, 1999999), 7200);
	assert_int_equal(core_tz_offset(tz, 2000000), 0);
	assert_int_equal(core_tz_offset(tz, MON), 0);
	assert_int_equal(core_tz_offset(tz, INT64_MIN), 0);
	core_tz_free(tz);

	/* v2 with an empty footer: the same */
	build(&t, '2', at, ti, 2, two, 2, "");
	tz = parse_ok(&t);
	assert_int_equal(core_tz_offset(tz, 1500000), 7200);
	assert_int_equal(core_tz_offset(tz, MON), 0);
	core_tz_free(tz);

	core_tz_free(berlin);
	core_tz_free(NULL);
	core_tz_free(core_tz_utc());
	assert_int_equal(core_tz_offset(core_tz_utc(), MON), 0);
	assert_int_equal(core_tz_offset(NULL, MON), 0);
}

static void refused(const unsigned char *b, size_t n, const char *want)
{
	struct core_tz *tz = (struct core_tz *)1;
	char msg[256] = "";

	assert_int_equal(core_tz_parse(b, n, &tz, msg, sizeof(msg)), -1);
	assert_null(tz);
	if (want && !strstr(msg, want))
		fail_msg("message '%s' does not say '%s'", msg, want);
}

static void test_hostile(void **state)
{
	static const int32_t two[2] = {0, 7200};
	static const int64_t at[2] = {1000000, 2000000};
	static const int64_t down[2] = {2000000, 1000000};
	static const uint8_t ti[2] = {1, 0}, badti[2] = {1, 2};
	static const int32_t far[2] = {0, 27 * 3600};
	FILE *f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
	unsigned char *real = malloc(CORE_TZ_FILE_MAX), *copy = malloc(CORE_TZ_FILE_MAX);
	size_t rn;
	uint32_t seed = 12345;
	struct tzb t;

	(void)state;
	assert_non_null(f);
	rn = fread(real, 1, CORE_TZ_FILE_MAX, f);
	fclose(f);
	assert_true(rn > 100);

	refused(real, 0, "not a TZif file");
	refused(NULL, 0, "not a TZif file");
	memcpy(copy, real, rn);
	copy[0] = 'X';
	refused(copy, rn, "bad magic");
	memcpy(copy, real, rn);
	copy[4] = '1';
	refused(copy, rn, "version");
	/* every truncation: refused, never read past the end (ASan build) */
	for (size_t n = 0; n < rn; n++) {
		unsigned char *p = malloc(n ? n : 1);

		memcpy(p, real, n);
		refused(p, n, NULL);
		free(p);
	}
	/* huge counts, in the v1 header and in the v2 header */
	for (int off = 20; off < 44; off += 4) {
		memcpy(copy, real, rn);
		copy[off] = 0xff;
		refused(copy, rn, NULL);
	}
	build(&t, '2', at, ti, 2, two, 2, "");
	{
		size_t v2 = t.n - 2 - (44 + 2 * 8 + 2 + 12 + 4); /* second header */

		memcpy(copy, t.b, t.n);
		copy[v2 + 32] = 0x7f; /* 2 billion transitions */
		refused(copy, t.n, "out of range");
		memcpy(copy, t.b, t.n);
		copy[v2 + 35] = 3; /* 3 transitions where 2 are */
		refused(copy, t.n, "truncated");
		memcpy(copy, t.b, t.n);
		copy[v2 + 39] = 0; /* no types */
		refused(copy, t.n, "out of range");
	}
	/* transitions not ascending, a type index out of range, an absurd offset */
	build(&t, '2', down, ti, 2, two, 2, "");
	refused(t.b, t.n, "ascending");
	build(&t, '2', at, badti, 2, two, 2, "");
	refused(t.b, t.n, "out of range");
	build(&t, '2', at, ti, 2, far, 2, "");
	refused(t.b, t.n, "offset");
	/* footers */
	build(&t, '2', at, ti, 2, two, 2, "CET-1CEST,M3.5.0");
	refused(t.b, t.n, "footer");
	build(&t, '2', at, ti, 2, two, 2, "CET-1CEST,M13.5.0,M10.5.0");
	refused(t.b, t.n, "footer");
	build(&t, '2', at, ti, 2, two, 2, "CET-99");
	refused(t.b, t.n, "footer");
	build(&t, '2', at, ti, 2, two, 2, "C-1");
	refused(t.b, t.n, "footer");
	build(&t, '2', at, ti, 2, two, 2, "CET-1CEST,J0,J365");
	refused(t.b, t.n, "footer");
	build(&t, '2', at, ti, 2, two, 2, "CET-1CEST,M3.5.0/200,M10.5.0");
	refused(t.b, t.n, "footer");
	build(&t, '2', at, ti, 2, two, 2, "CET-1CEST,M3.5.0,M10.5.0x");
	refused(t.b, t.n, "footer");
	build(&t, '2', at, ti, 2, two, 2, "CET-1");
	t.n--; /* footer without its closing newline */
	refused(t.b, t.n, "footer");
	/* random damage to the real file: parsed or refused, never a crash */
	for (int i = 0; i < 20000; i++) {
		struct core_tz *tz = NULL;
		char msg[128];
		int flips = 1 + i % 4;

		memcpy(copy, real, rn);
		for (int k = 0; k < flips; k++) {
			seed = seed * 1103515245u + 12345u;
			copy[(seed >> 8) % rn] ^= (unsigned char)(1u << (seed >> 28 & 7));
		}
		if (core_tz_parse(copy, rn, &tz, msg, sizeof(msg)) == 0) {
			struct core_window w = {0x7f, 150, 3600};
			int64_t o, c;

			(void)core_tz_offset(tz, MON);
			(void)core_window_next(&w, tz, MON, &o, &c);
			core_tz_free(tz);
		}
	}
	free(real);
	free(copy);
}

/* ---- several windows -------------------------------------------------------- */

static void test_merge(void **state)
{
	struct core_tz *berlin = zone("Europe/Berlin");
	struct core_window a = win("sat 22:00", "6h"), b = win("sun 03:00", "2h");
	struct core_window c = win("mon 01:00", "1h"), d = win("mon 02:00", "1h");
	struct core_window e = win("sun 01:00", "3h");
	int64_t sat22 = MON - D - 2 * H, o, cl;

	(void)state;
	/* overlapping: sat 22:00-sun 04:00 and sun 03:00-05:00 */
	{
		struct core_window_in ws[2] = {{&a, NULL}, {&b, NULL}};

		assert_true(core_windows_next(ws, 2, sat22 - H, &o, &cl));
		assert_int_equal(o, sat22);
		assert_int_equal(cl, sat22 + 7 * H);
		/* from inside the second one, the merged start is still sat 22:00 */
		assert_true(core_windows_next(ws, 2, sat22 + 6 * H + 30 * M, &o, &cl));
		assert_int_equal(o, sat22);
		assert_int_equal(cl, sat22 + 7 * H);
		assert_true(core_windows_inside(ws, 2, sat22));
		assert_true(core_windows_inside(ws, 2, sat22 + 7 * H - 1));
		assert_false(core_windows_inside(ws, 2, sat22 + 7 * H));
		assert_false(core_windows_inside(ws, 2, sat22 - 1));
	}
	/* touching: mon 01:00-02:00 and 02:00-03:00 join */
	{
		struct core_window_in ws[2] = {{&d, NULL}, {&c, NULL}};

		assert_true(core_windows_next(ws, 2, MON, &o, &cl));
		assert_int_equal(o, MON + H);
		assert_int_equal(cl, MON + 3 * H);
		assert_true(core_windows_next(ws, 2, MON + 2 * H + 30 * M, &o, &cl));
		assert_int_equal(o, MON + H);
		assert_int_equal(cl, MON + 3 * H);
	}
	/* different zones: Berlin sat 22:00 CEST (20:00Z) for 6h and UTC sun
	 * 01:00-04:00 merge into sat 20:00Z-sun 04:00Z */
	{
		struct core_window_in ws[2] = {{&e, NULL}, {&a, berlin}};

		assert_true(core_windows_next(ws, 2, sat22 - 3 * D, &o, &cl));
		assert_int_equal(o, sat22 - 2 * H);
		assert_int_equal(cl, sat22 + 6 * H);
	}
	/* nothing: no windows */
	assert_false(core_windows_next(NULL, 0, MON, &o, &cl));
	{
		struct core_window_in ws[1] = {{&a, NULL}};

		assert_false(core_windows_next(ws, 0, MON, &o, &cl));
		assert_false(core_windows_inside(ws, 0, MON));
	}
	core_tz_free(berlin);
}

static void test_merge_days(void **state)
{
	struct core_tz *berlin = zone("Europe/Berlin");
	struct core_window wd = win("mon-fri 00:00", "1d"), dl = win("daily 00:00", "24h");
	struct core_window_in ws[1] = {{&wd, NULL}}, bs[1] = {{&dl, berlin}};
	int64_t o, c;

	(void)state;
	/* five touching days are one interval, Monday to Saturday 00:00 */
	assert_true(core_windows_next(ws, 1, MON + 3 * D + 5, &o, &c));
	assert_int_equal(o, MON);
	assert_int_equal(c, MON + 5 * D);
	assert_false(core_windows_inside(ws, 1, MON + 5 * D));
	/* daily 24h in Berlin touches itself every day but the fall-back day,
	 * which is 25 h long: the hour 23:00-24:00 CET on 2026-10-25 is out.
	 * TZ=Europe/Berlin date -d '2026-10-25 23:00' +%s = 1792965600,
	 * '2026-10-26 00:00' = 1792969200, '2026-10-20 12:00' = 1792490400.
	 * Backwards it is unbroken since March: cut at SPAN_MAX. */
	assert_true(core_windows_next(bs, 1, 1792490400LL, &o, &c));
	assert_int_equal(o, 1792490400LL - CORE_WINDOWS_SPAN_MAX);
	assert_int_equal(c, 1792965600LL);
	assert_false(core_windows_inside(bs, 1, 1792965600LL));
	assert_true(core_windows_inside(bs, 1, 1792965600LL - 1));
	assert_true(core_windows_next(bs, 1, 1792965600LL, &o, &c));
	assert_int_equal(o, 1792969200LL);
	assert_true(core_windows_missed(bs, 1, 1792490400LL, 1792965600LL));
	assert_false(core_windows_missed(bs, 1, 1792490400LL, 1792965600LL - 1));
	core_tz_free(berlin);
}

static void test_always_open(void **state)
{
	struct core_window a = win("daily 00:00", "2d");
	struct core_window_in ws[1] = {{&a, NULL}};
	int64_t o, c, iv[4][2];

	(void)state;
	assert_true(core_windows_inside(ws, 1, MON + 12345));
	assert_true(core_windows_next(ws, 1, MON + 12345, &o, &c));
	/* cut at SPAN_MAX on both sides */
	assert_int_equal(o, MON + 12345 - CORE_WINDOWS_SPAN_MAX);
	assert_int_equal(c, MON + 12345 + CORE_WINDOWS_SPAN_MAX);
	assert_false(core_windows_missed(ws, 1, MON, MON + 60 * D));
	assert_int_equal(core_windows_list(ws, 1, MON, 7 * D, iv, 4), 1);
	assert_true(iv[0][0] <= MON && iv[0][1] >= MON + 7 * D);
	/* a horizon to the year 9999 is one step, not one per SPAN_MAX */
	assert_int_equal(core_windows_list(ws, 1, MON, INT64_MAX, iv, 4), 1);
	assert_int_equal(iv[0][1], MON + CORE_WINDOWS_SPAN_MAX);
}

static void test_list_week(void **state)
{
	struct core_window a = win("mon-fri 22:00", "2h"), b = win("sat,sun 02:30", "1h");
	struct core_window_in ws[2] = {{&a, NULL}, {&b, NULL}};
	int64_t iv[10][2];
	size_t n;

	(void)state;
	n = core_windows_list(ws, 2, MON, 7 * D, iv, 10);
	assert_int_equal(n, 7);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(iv[i][0], MON + i * D + 22 * H);
		assert_int_equal(iv[i][1], MON + (i + 1) * D);
	}
	assert_int_equal(iv[5][0], MON + 5 * D + 150 * M);
	assert_int_equal(iv[5][1], MON + 5 * D + 210 * M);
	assert_int_equal(iv[6][0], MON + 6 * D + 150 * M);
	assert_int_equal(iv[6][1], MON + 6 * D + 210 * M);
	/* max caps it */
	assert_int_equal(core_windows_list(ws, 2, MON, 7 * D, iv, 3), 3);
	assert_int_equal(iv[2][0], MON + 2 * D + 22 * H);
	/* from inside the first: it is still listed (it ends after t) */
	n = core_windows_list(ws, 2, MON + 23 * H, 1 * D, iv, 10);
	assert_int_equal(n, 2);
	assert_int_equal(iv[0][0], MON + 22 * H);
	assert_int_equal(iv[1][0], MON + D + 22 * H);
	/* the horizon is exclusive of a start exactly at t + horizon */
	assert_int_equal(core_windows_list(ws, 2, MON, 22 * H, iv, 10), 0);
	assert_int_equal(core_windows_list(ws, 2, MON, 22 * H + 1, iv, 10), 1);
	assert_int_equal(core_windows_list(ws, 2, MON, 0, iv, 10), 0);
	assert_int_equal(core_windows_list(ws, 2, MON, 7 * D, iv, 0), 0);
	/* a huge horizon stops at max, no overflow */
	assert_int_equal(core_windows_list(ws, 2, MON, INT64_MAX, iv, 10), 10);
	assert_int_equal(core_windows_list(ws, 2, INT64_MAX, INT64_MAX, iv, 10), 0);
	assert_int_equal(core_windows_list(ws, 2, INT64_MIN, 7 * D, iv, 10), 7); /* from 1970 */
}

static void test_missed(void **state)
{
	struct core_window a = win("sat 22:00", "6h");
	struct core_window_in ws[1] = {{&a, NULL}};
	int64_t sat22 = MON - D - 2 * H;

	(void)state;
	assert_false(core_windows_missed(ws, 1, sat22 - H, sat22 + 5 * H));	/* not over */
	assert_true(core_windows_missed(ws, 1, sat22 - H, sat22 + 6 * H));	/* ended at until */
	assert_true(core_windows_missed(ws, 1, sat22 + H, sat22 + 7 * H));	/* from inside */
	assert_false(core_windows_missed(ws, 1, sat22 + 6 * H, sat22 + 7 * H)); /* ended at since */
	assert_false(core_windows_missed(ws, 1, sat22 + 7 * H, sat22 + 7 * D)); /* next not over */
	assert_true(core_windows_missed(ws, 1, sat22 + 7 * H, sat22 + 8 * D));
	assert_false(core_windows_missed(ws, 1, sat22 + 8 * D, sat22 + 7 * H)); /* until < since */
	assert_false(core_windows_missed(ws, 1, INT64_MAX - 1, INT64_MAX));
	assert_true(core_windows_missed(ws, 1, INT64_MIN, INT64_MAX));
}

static void test_extremes(void **state)
{
	struct core_tz *tz = zone("Europe/Berlin");
	struct core_window a = win("fri-mon 23:30", "7d");
	struct core_window_in ws[2] = {{&a, tz}, {&a, NULL}};
	static const int64_t ts[] = {
	    INT64_MIN,	       INT64_MIN + 1, -1,	0, 1, CORE_TIME_MAX - 60 * D, CORE_TIME_MAX,
	    CORE_TIME_MAX + 1, INT64_MAX - 1, INT64_MAX};
	int64_t o, c, iv[4][2];

	(void)state;
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		(void)core_window_next(&a, tz, ts[i], &o, &c);
		(void)core_windows_next(ws, 2, ts[i], &o, &c);
		(void)core_windows_inside(ws, 2, ts[i]);
		(void)core_windows_list(ws, 2, ts[i], INT64_MAX, iv, 4);
		(void)core_windows_missed(ws, 2, ts[i], INT64_MAX);
		(void)core_windows_missed(ws, 2, INT64_MIN, ts[i]);
	}
	assert_false(core_window_next(&a, tz, CORE_TIME_MAX, &o, &c));
	assert_true(core_window_next(&a, tz, CORE_TIME_MAX - 60 * D, &o, &c));
	core_tz_free(tz);
}

/* ---- loading by name --------------------------------------------------------- */

static void test_names(void **state)
{
	static const char *const good[] = {
	    "UTC",	 "Europe/Berlin", "America/Argentina/Buenos_Aires",
	    "Etc/GMT+5", "Etc/GMT-14",	  "a"};
	static const char *const bad[] = {"",
					  "/etc/passwd",
					  "../etc/passwd",
					  "Europe/../../etc",
					  "Europe//Berlin",
					  "Europe/",
					  "Europe/Ber lin",
					  "Europe/Berlin\n",
					  "Europe\\Berlin",
					  "a..b",
					  "A234567890123456789012345678901234567890123456789012345"
					  "6789012345"};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(core_tz_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(core_tz_name_valid(bad[i]));
	assert_false(core_tz_name_valid(NULL));
	/* 64 characters is the most */
	assert_true(
	    core_tz_name_valid("A23456789012345678901234567890123456789012345678901234567890"
			       "1234"));
}

static void test_load(void **state)
{
	char dir[] = "/tmp/test_window.XXXXXX", path[128], msg[256];
	struct core_tz *tz = NULL;
	FILE *f;

	(void)state;
	unsetenv("STEWARD_ZONEINFO");
	assert_int_equal(tz_load("Mars/Olympus", &tz, msg, sizeof(msg)), -1);
	assert_null(tz);
	assert_string_equal(
	    msg, "unknown time zone 'Mars/Olympus' (no /usr/share/zoneinfo/Mars/Olympus)");
	assert_int_equal(tz_load("../etc/passwd", &tz, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "'../etc/passwd' is not a time zone name (like UTC or "
				 "Europe/Berlin: letters, digits, _ + - and /)");
	assert_int_equal(tz_load("Europe", &tz, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "unknown time zone 'Europe' (/usr/share/zoneinfo/Europe is not a "
				 "readable zone file of at most 256 KiB)");
	assert_int_equal(tz_load("Asia/Kolkata", &tz, msg, sizeof(msg)), 0);
	assert_int_equal(core_tz_offset(tz, MON), 19800);
	core_tz_free(tz);

	/* a zoneinfo directory without tzdata: UTC still works */
	assert_non_null(mkdtemp(dir));
	setenv("STEWARD_ZONEINFO", dir, 1);
	assert_int_equal(tz_load("UTC", &tz, msg, sizeof(msg)), 0);
	assert_ptr_equal(tz, core_tz_utc());
	assert_int_equal(core_tz_offset(tz, MON), 0);
	core_tz_free(tz);
	assert_int_equal(tz_load("Europe/Berlin", &tz, msg, sizeof(msg)), -1);
	snprintf(path, sizeof(path), "unknown time zone 'Europe/Berlin' (no %s/Europe/Berlin)",
		 dir);
	assert_string_equal(msg, path);
	/* a damaged file there is refused with the parser's reason */
	snprintf(path, sizeof(path), "%s/Bad", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs("TZif2 not really", f);
	fclose(f);
	assert_int_equal(tz_load("Bad", &tz, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "time zone 'Bad': "));
	assert_non_null(strstr(msg, "not a TZif file"));
	/* larger than the cap */
	f = fopen(path, "wb");
	assert_non_null(f);
	for (int i = 0; i < CORE_TZ_FILE_MAX + 1; i++)
		fputc('x', f);
	fclose(f);
	assert_int_equal(tz_load("Bad", &tz, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "at most 256 KiB"));
	unlink(path);
	rmdir(dir);
	unsetenv("STEWARD_ZONEINFO");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_accepts),
	    cmocka_unit_test(test_parse_refuses),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_utc_basic),
	    cmocka_unit_test(test_midnight_and_week_end),
	    cmocka_unit_test(test_invalid_window),
	    cmocka_unit_test(test_berlin_march),
	    cmocka_unit_test(test_berlin_october),
	    cmocka_unit_test(test_client_zones),
	    cmocka_unit_test(test_lord_howe_half_hour_dst),
	    cmocka_unit_test(test_samoa_skipped_day),
	    cmocka_unit_test(test_footer_2100),
	    cmocka_unit_test(test_against_libc),
	    cmocka_unit_test(test_slim_and_v1),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_merge_days),
	    cmocka_unit_test(test_always_open),
	    cmocka_unit_test(test_list_week),
	    cmocka_unit_test(test_missed),
	    cmocka_unit_test(test_extremes),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

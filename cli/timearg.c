/* stewardctl argument values: times, durations and exit-code lists.
 *
 * The API speaks unix seconds; people write "2026-11-25T10:00:00Z",
 * "2026-11-25 10:00" (their own clock), "now" or "+1h". Kept apart from
 * the commands so tests/unit/test_cli.c links it alone: no site, no output,
 * only a phrase saying what is wrong for the usage error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "steward/util.h"

#include "ctl.h"

#define YEAR_MIN 1970 /* the API has no times before the epoch */
#define YEAR_MAX 9999

static int why_set(char *why, size_t whysz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int why_set(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	if (why && whysz) {
		va_start(ap, fmt);
		vsnprintf(why, whysz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Exactly n digits at s into *v. */
static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

int ctl_parse_duration(const char *s, int64_t *secs, char *why, size_t whysz)
{
	static const char units[] = "dhms"; /* the only order parts may come in */
	const char *p = s, *last = units - 1;
	int64_t total = 0, part;
	char piece[24];
	size_t n;

	if (!s || !*s)
		return why_set(why, whysz, "is empty");
	/* a bare number is seconds, as time_parse_duration reads it */
	if (strspn(s, "0123456789") == strlen(s)) {
		if (strlen(s) > 18 || time_parse_duration(s, &total) || total > CTL_DURATION_MAX_S)
			return why_set(why, whysz, "is more than 365 days");
		*secs = total;
		return 0;
	}
	while (*p) {
		const char *u;

		n = strspn(p, "0123456789");
		if (n == 0)
			return why_set(why, whysz,
				       "is not a duration (a number with d, h, m or s, e.g. 10m, "
				       "1h30m, 7d)");
		if (!p[n])
			return why_set(why, whysz,
				       "ends in a number without a unit (d, h, m or s)");
		u = strchr(units, p[n]);
		if (!u)
			return why_set(why, whysz, "has unit '%c'; use d, h, m or s", p[n]);
		if (u <= last)
			return why_set(why, whysz,
				       "repeats a unit or has them out of order (write 1d2h30m)");
		if (n > 12)
			return why_set(why, whysz, "is more than 365 days");
		/* each part is a plain duration: let the shared parser read it */
		memcpy(piece, p, n + 1);
		piece[n + 1] = '\0';
		if (time_parse_duration(piece, &part))
			return why_set(why, whysz, "part '%s' is not a duration", piece);
		total += part;
		if (total > CTL_DURATION_MAX_S)
			return why_set(why, whysz, "is more than 365 days");
		last = u;
		p += n + 1;
	}
	*secs = total;
	return 0;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): exact for every year we accept, no timegm() needed. */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD" at s, checked against the calendar. */
static int parse_date(const char *s, int *y, int *mo, int *d, char *why, size_t whysz)
{
	if (!digits(s, 4, y) || s[4] != '-' || !digits(s + 5, 2, mo) || s[7] != '-' ||
	    !digits(s + 8, 2, d))
		return why_set(why, whysz, "does not start with a date YYYY-MM-DD");
	if (*y < YEAR_MIN || *y > YEAR_MAX)
		return why_set(why, whysz, "has year %d; years are %d to %d", *y, YEAR_MIN,
			       YEAR_MAX);
	if (*mo < 1 || *mo > 12)
		return why_set(why, whysz, "has month %d, which does not exist", *mo);
	if (*d < 1 || *d > month_days(*y, *mo))
		return why_set(why, whysz, "has day %d, but %04d-%02d has %d days", *d, *y, *mo,
			       month_days(*y, *mo));
	return 0;
}

/* "HH:MM" at s. */
static int parse_hm(const char *s, int *h, int *mi, char *why, size_t whysz)
{
	if (!digits(s, 2, h) || s[2] != ':' || !digits(s + 3, 2, mi))
		return why_set(why, whysz, "has no time of day HH:MM after the date");
	if (*h > 23)
		return why_set(why, whysz, "has hour %d, which does not exist", *h);
	if (*mi > 59)
		return why_set(why, whysz, "has minute %d, which does not exist", *mi);
	return 0;
}

/* RFC 3339: date 'T' HH:MM:SS [.fraction] ('Z' | +HH:MM | -HH:MM). */
static int parse_rfc3339(const char *s, int64_t *t, char *why, size_t whysz)
{
	int y, mo, d, h, mi, sec, oh, om, sign;
	const char *p;
	int64_t v;

	if (parse_date(s, &y, &mo, &d, why, whysz) || parse_hm(s + 11, &h, &mi, why, whysz))
		return -1;
	if (s[16] != ':' || !digits(s + 17, 2, &sec))
		return why_set(why, whysz, "needs seconds (HH:MM:SS) in an RFC 3339 time");
	if (sec > 60) /* 60: a leap second */
		return why_set(why, whysz, "has second %d, which does not exist", sec);
	p = s + 19;
	if (*p == '.') { /* the API counts whole seconds: a fraction is dropped */
		if (!is_digit(p[1]))
			return why_set(why, whysz, "has a '.' without digits after the seconds");
		for (p++; is_digit(*p); p++)
			;
	}
	if (*p == 'Z' || *p == 'z') {
		sign = oh = om = 0;
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return why_set(why, whysz, "has an offset that is not +HH:MM or -HH:MM");
		p += 6;
	} else {
		return why_set(why, whysz,
			       "has no time zone: end it with Z (UTC) or an offset such as "
			       "+01:00, or write 'YYYY-MM-DD HH:MM' for local time");
	}
	if (*p)
		return why_set(why, whysz, "has '%s' after the time", p);
	v = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	    sign * (oh * 3600 + om * 60);
	if (v < 0)
		return why_set(why, whysz, "is before 1970");
	*t = v;
	return 0;
}

/* "YYYY-MM-DD HH:MM" on this machine's clock (TZ). */
static int parse_local(const char *s, int64_t *t, char *why, size_t whysz)
{
	int y, mo, d, h, mi;
	struct tm tm;
	time_t tt;

	if (parse_date(s, &y, &mo, &d, why, whysz) || parse_hm(s + 11, &h, &mi, why, whysz))
		return -1;
	if (s[16])
		return why_set(why, whysz,
			       "has '%s' after HH:MM (local times are 'YYYY-MM-DD "
			       "HH:MM')",
			       s + 16);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_isdst = -1; /* let the zone rules say whether summer time applies */
	tt = mktime(&tm);
	if (tt == (time_t)-1)
		return why_set(why, whysz, "cannot be converted from local time");
	/* mktime moves a time inside a spring-forward gap; such a time never
	 * happens on this clock, so say so rather than pick one */
	if (tm.tm_hour != h || tm.tm_min != mi || tm.tm_mday != d)
		return why_set(why, whysz,
			       "does not exist in local time (the clocks skip it); use an RFC "
			       "3339 time with an offset");
	if (tt < 0)
		return why_set(why, whysz, "is before 1970");
	*t = (int64_t)tt;
	return 0;
}

int ctl_parse_time(const char *s, int64_t now, int64_t *t, char *why, size_t whysz)
{
	size_t len = s ? strlen(s) : 0;
	int64_t d;

	if (len == 0)
		return why_set(why, whysz, "is empty");
	if (strcmp(s, "now") == 0) {
		*t = now;
		return 0;
	}
	if (s[0] == '+') {
		char sub[128];

		if (ctl_parse_duration(s + 1, &d, sub, sizeof(sub)))
			return why_set(why, whysz, "%s", sub);
		*t = now + d;
		return 0;
	}
	if (len >= 11 && (s[10] == 'T' || s[10] == 't'))
		return parse_rfc3339(s, t, why, whysz);
	if (len >= 11 && s[10] == ' ')
		return parse_local(s, t, why, whysz);
	if (len == 10 && parse_date(s, &(int){0}, &(int){0}, &(int){0}, NULL, 0) == 0)
		return why_set(why, whysz, "has a date but no time: write 'YYYY-MM-DD HH:MM'");
	return why_set(why, whysz,
		       "is not a time: use RFC 3339 (2026-11-25T10:00:00Z, or with an offset "
		       "such as +01:00), 'YYYY-MM-DD HH:MM' in local time, now, or +DURATION "
		       "(+1h)");
}

int ctl_parse_codes(const char *s, int *codes, size_t max, size_t *n, char *why, size_t whysz)
{
	const char *p = s;
	size_t count = 0;

	if (!s || !*s)
		return why_set(why, whysz, "is empty");
	for (;;) {
		size_t len = strspn(p, "0123456789");
		int v = 0;

		if (len == 0)
			return why_set(why, whysz,
				       "must be whole numbers separated by commas, e.g. 0,1");
		if (len > 3)
			return why_set(why, whysz, "has %.*s; exit codes are 0 to %d", (int)len, p,
				       CTL_CODE_MAX);
		for (size_t i = 0; i < len; i++)
			v = v * 10 + (p[i] - '0');
		if (v > CTL_CODE_MAX)
			return why_set(why, whysz, "has %d; exit codes are 0 to %d", v,
				       CTL_CODE_MAX);
		for (size_t i = 0; i < count; i++)
			if (codes[i] == v)
				return why_set(why, whysz, "names %d twice", v);
		if (count == max)
			return why_set(why, whysz, "has more than %zu codes", max);
		codes[count++] = v;
		p += len;
		if (!*p)
			break;
		if (*p != ',')
			return why_set(why, whysz,
				       "must be whole numbers separated by commas, e.g. 0,1");
		p++;
	}
	*n = count;
	return 0;
}

/* core/window: weekly maintenance windows in a time zone.
 *
 * A window is days of the week, a local start time and an elapsed duration
 * (include/steward/window.h says what happens around DST changes). The
 * occurrence of one window around t is found by looking at the 17 local
 * days around t; several windows are merged by extending an interval while
 * some window's occurrence overlaps or touches one of its ends.
 *
 * Pure: time and zones come in as arguments.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "steward/window.h"

#define DAY 86400LL

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* Occurrences are computed only up to here, so nothing below can overflow. */
#define T_LIMIT (CORE_TIME_MAX - 2 * CORE_WINDOWS_SPAN_MAX)

/* ---- parsing ------------------------------------------------------------- */

static int day_of(const char *s, size_t n)
{
	for (int d = 0; d < 7; d++)
		if (n == 3 && strncasecmp(s, day_names[d], 3) == 0)
			return d;
	return -1;
}

/* "mon", "fri-mon", "sat,sun", "daily" into a mask; -1 when it is not that. */
static int parse_days(const char *s, size_t n)
{
	int mask = 0;

	if (n == 5 && strncasecmp(s, "daily", 5) == 0)
		return 0x7f;
	while (n) {
		const char *comma = memchr(s, ',', n);
		size_t len = comma ? (size_t)(comma - s) : n;
		const char *dash = memchr(s, '-', len);
		int first, last;

		if (dash) {
			first = day_of(s, (size_t)(dash - s));
			last = day_of(dash + 1, len - (size_t)(dash - s) - 1);
		} else {
			first = last = day_of(s, len);
		}
		if (first < 0 || last < 0)
			return -1;
		for (int d = first;; d = (d + 1) % 7) {
			mask |= 1 << d;
			if (d == last)
				break;
		}
		if (!comma)
			break;
		n -= len + 1;
		s = comma + 1;
		if (!n)
			return -1; /* trailing comma */
	}
	return mask ? mask : -1;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_weekly(const char *weekly, struct core_window *w, char *msg, size_t msgsz)
{
	const char *sp, *p;
	int mask, h, m;

	if (!weekly || !*weekly) {
		snprintf(msg, msgsz,
			 "weekly: missing; expected DAYS HH:MM, e.g. 'sat 22:00', "
			 "'mon-fri 01:30' or 'daily 03:00'");
		return -1;
	}
	if (strlen(weekly) > CORE_WINDOW_SPEC_MAX) {
		snprintf(msg, msgsz, "weekly: longer than %d characters", CORE_WINDOW_SPEC_MAX);
		return -1;
	}
	sp = strchr(weekly, ' ');
	if (!sp || sp == weekly) {
		snprintf(msg, msgsz, "weekly: '%s' is not DAYS HH:MM, e.g. 'sat 22:00'", weekly);
		return -1;
	}
	mask = parse_days(weekly, (size_t)(sp - weekly));
	if (mask < 0) {
		snprintf(msg, msgsz,
			 "weekly: '%.*s' is not days (mon..sun, ranges like mon-fri, lists like "
			 "sat,sun, or daily)",
			 (int)(sp - weekly), weekly);
		return -1;
	}
	for (p = sp; *p == ' '; p++)
		;
	/* H:MM or HH:MM */
	if (!is_digit(p[0])) {
		snprintf(msg, msgsz, "weekly: '%s' is not DAYS HH:MM, e.g. 'sat 22:00'", weekly);
		return -1;
	}
	h = p[0] - '0';
	p++;
	if (is_digit(*p))
		h = h * 10 + (*p++ - '0');
	if (p[0] != ':' || !is_digit(p[1]) || !is_digit(p[2]) || p[3]) {
		snprintf(msg, msgsz, "weekly: '%s' is not DAYS HH:MM, e.g. 'sat 22:00'", weekly);
		return -1;
	}
	m = (p[1] - '0') * 10 + (p[2] - '0');
	if (h > 23) {
		snprintf(msg, msgsz, "weekly: '%s' is not DAYS HH:MM (hour 00-23)", weekly);
		return -1;
	}
	if (m > 59) {
		snprintf(msg, msgsz, "weekly: '%s' is not DAYS HH:MM (minute 00-59)", weekly);
		return -1;
	}
	w->days = (uint8_t)mask;
	w->start_min = h * 60 + m;
	return 0;
}

static int parse_duration(const char *s, struct core_window *w, char *msg, size_t msgsz)
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = {{'d', DAY}, {'h', 3600}, {'m', 60}};
	const char *p = s;
	int64_t total = 0;
	size_t u = 0;

	if (!s || !*s || strlen(s) > CORE_WINDOW_SPEC_MAX)
		goto bad;
	while (*p) {
		int64_t v = 0;
		int digits = 0;

		while (is_digit(*p) && digits < 7) {
			v = v * 10 + (*p++ - '0');
			digits++;
		}
		if (!digits)
			goto bad;
		while (u < 3 && units[u].unit != *p)
			u++;
		if (u == 3)
			goto bad;
		total += v * units[u++].secs; /* 7 digits of days: far from overflow */
		p++;
	}
	if (total == 0) {
		snprintf(msg, msgsz, "duration: must be more than zero");
		return -1;
	}
	if (total > CORE_WINDOW_DURATION_MAX) {
		snprintf(msg, msgsz, "duration: '%s' is longer than 7 days", s);
		return -1;
	}
	w->duration_s = total;
	return 0;
bad:
	snprintf(msg, msgsz,
		 "duration: '%s' is not a duration like 6h, 90m, 1h30m or 2d (1 minute to 7 days)",
		 s ? s : "");
	return -1;
}

int core_window_parse(const char *weekly, const char *duration, struct core_window *w, char *msg,
		      size_t msgsz)
{
	struct core_window tmp;

	if (parse_weekly(weekly, &tmp, msg, msgsz) < 0 ||
	    parse_duration(duration, &tmp, msg, msgsz) < 0)
		return -1;
	*w = tmp;
	return 0;
}

bool core_window_valid(const struct core_window *w)
{
	return w && (w->days & 0x7f) && !(w->days & 0x80) && w->start_min >= 0 &&
	       w->start_min < 1440 && w->duration_s >= 60 &&
	       w->duration_s <= CORE_WINDOW_DURATION_MAX;
}

/* ---- formatting ---------------------------------------------------------- */

void core_window_format_weekly(const struct core_window *w, char *out, size_t outsz)
{
	char days[40] = "";
	size_t len = 0;

	if (!outsz)
		return;
	if ((w->days & 0x7f) == 0x7f) {
		snprintf(days, sizeof(days), "daily");
	} else {
		for (int d = 0; d < 7;) {
			int e = d;

			if (!(w->days & (1 << d))) {
				d++;
				continue;
			}
			while (e + 1 < 7 && (w->days & (1 << (e + 1))))
				e++;
			if (e - d >= 2)
				len += (size_t)snprintf(days + len, sizeof(days) - len, "%s%s-%s",
							len ? "," : "", day_names[d], day_names[e]);
			else
				for (int k = d; k <= e; k++)
					len +=
					    (size_t)snprintf(days + len, sizeof(days) - len, "%s%s",
							     len ? "," : "", day_names[k]);
			d = e + 1;
		}
	}
	snprintf(out, outsz, "%s %02d:%02d", days[0] ? days : "?", (int)(w->start_min / 60 % 24),
		 (int)(w->start_min % 60));
}

void core_window_format_duration(const struct core_window *w, char *out, size_t outsz)
{
	int64_t s = w->duration_s / 60 * 60, d = s / DAY, h = s % DAY / 3600, m = s % 3600 / 60;
	size_t len = 0;

	if (!outsz)
		return;
	out[0] = '\0';
	if (d)
		len += (size_t)snprintf(out + len, outsz - len, "%lldd", (long long)d);
	if (h && len < outsz)
		len += (size_t)snprintf(out + len, outsz - len, "%lldh", (long long)h);
	if ((m || !s) && len < outsz)
		snprintf(out + len, outsz - len, "%lldm", (long long)m);
}

void core_window_format(const struct core_window *w, char *out, size_t outsz)
{
	char weekly[48], duration[24];

	core_window_format_weekly(w, weekly, sizeof(weekly));
	core_window_format_duration(w, duration, sizeof(duration));
	snprintf(out, outsz, "%s for %s", weekly, duration);
}

/* ---- one window ---------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

bool core_window_next(const struct core_window *w, const struct core_tz *tz, int64_t t,
		      int64_t *open, int64_t *close)
{
	int64_t day;

	if (!core_window_valid(w) || t > T_LIMIT)
		return false;
	if (t < 0)
		t = 0;
	/* An occurrence containing t started at most 7 days (plus a DST shift)
	 * before it; one starts on one of the 7 local days after it. Opens grow
	 * with the day, so the first one that is still open wins. */
	day = floor_div(t + core_tz_offset(tz, t), DAY);
	for (int64_t d = day - 8; d <= day + 8; d++) {
		int wd = (int)(((d + 3) % 7 + 7) % 7); /* 0 = Monday; 1970-01-01 was a Thursday */
		int64_t o;

		if (!(w->days & (1 << wd)))
			continue;
		o = core_tz_local_to_utc(tz, d * DAY + w->start_min * 60LL);
		if (o + w->duration_s > t) {
			*open = o;
			*close = o + w->duration_s;
			return true;
		}
	}
	return false;
}

/* ---- several windows ----------------------------------------------------- */

bool core_windows_next(const struct core_window_in *ws, size_t n, int64_t t, int64_t *open,
		       int64_t *close)
{
	int64_t a = 0, b = 0, lo, hi;
	bool found = false, grew;

	if (!ws || t > T_LIMIT)
		return false;
	if (t < 0)
		t = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t o, c;

		if (core_window_next(ws[i].w, ws[i].tz, t, &o, &c) && (!found || o < a)) {
			a = o, b = c;
			found = true;
		}
	}
	if (!found)
		return false;
	/* The earliest occurrence open at or after t; now join what overlaps
	 * or touches it on either side, within SPAN_MAX of t. */
	lo = t - CORE_WINDOWS_SPAN_MAX, hi = t + CORE_WINDOWS_SPAN_MAX;
	do {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			int64_t o, c;

			while (b < hi && core_window_next(ws[i].w, ws[i].tz, b, &o, &c) && o <= b &&
			       c > b) {
				b = c;
				grew = true;
			}
			while (a > lo && a > 0 &&
			       core_window_next(ws[i].w, ws[i].tz, a - 1, &o, &c) && o < a &&
			       c >= a) {
				a = o;
				grew = true;
			}
		}
	} while (grew); /* each loop above stops at its own end of the span */
	*open = a < lo ? lo : a;
	*close = b > hi ? hi : b;
	return true;
}

bool core_windows_inside(const struct core_window_in *ws, size_t n, int64_t t)
{
	if (!ws)
		return false;
	for (size_t i = 0; i < n; i++) {
		int64_t o, c;

		if (core_window_next(ws[i].w, ws[i].tz, t, &o, &c) && o <= t && t < c)
			return true;
	}
	return false;
}

size_t core_windows_list(const struct core_window_in *ws, size_t n, int64_t t, int64_t horizon,
			 int64_t (*iv)[2], size_t max)
{
	size_t k = 0;
	int64_t cur, end;

	if (t < 0)
		t = 0;
	if (t > T_LIMIT || horizon <= 0)
		return 0;
	end = horizon > T_LIMIT - t ? T_LIMIT : t + horizon;
	cur = t;
	while (k < max) {
		int64_t o, c;

		if (!core_windows_next(ws, n, cur, &o, &c) || o >= end)
			break;
		iv[k][0] = o;
		iv[k][1] = c;
		k++;
		/* An interval cut at SPAN_MAX (windows that never close) ends the
		 * list: following it would take one step per SPAN_MAX to the horizon. */
		if (c >= end || c >= cur + CORE_WINDOWS_SPAN_MAX)
			break;
		cur = c;
	}
	return k;
}

bool core_windows_missed(const struct core_window_in *ws, size_t n, int64_t since, int64_t until)
{
	int64_t o, c;

	if (since < 0)
		since = 0;
	if (until <= since || !core_windows_next(ws, n, since, &o, &c))
		return false;
	/* An interval cut at SPAN_MAX is windows that never close: not missed. */
	return c <= until && c < since + CORE_WINDOWS_SPAN_MAX;
}

/* core/link: when and how fast a link between two sites may send.
 *
 * A link's schedule is one character per hour of the week (Monday 00:00
 * UTC first, 168 in all), each a priority class: 'A' open to all
 * messages, 'M' medium and high (control and status), 'H' high only
 * (control), 'C' closed. An administrator writes it as a list of
 * DAYS:HOURS=CLASS items applied in order over "open to all", e.g.
 *
 *     mon-fri:08-18=high,sat-sun:00-24=closed
 *
 * Pure: time comes in as an argument.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "steward/core.h"

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static const struct {
	const char *name;
	char c;
} classes[] = {{"all", 'A'}, {"medium", 'M'}, {"high", 'H'}, {"closed", 'C'}};

static int day_of(const char *s, size_t n)
{
	for (int d = 0; d < 7; d++)
		if (n == 3 && strncasecmp(s, day_names[d], 3) == 0)
			return d;
	return -1;
}

/* "mon", "mon-fri", "*" into [first, last] (last may wrap: fri-mon). */
static int parse_days(const char *s, size_t n, int *first, int *last)
{
	const char *dash = memchr(s, '-', n);

	if (n == 1 && s[0] == '*') {
		*first = 0, *last = 6;
		return 0;
	}
	if (!dash) {
		*first = *last = day_of(s, n);
		return *first < 0 ? -1 : 0;
	}
	*first = day_of(s, (size_t)(dash - s));
	*last = day_of(dash + 1, n - (size_t)(dash - s) - 1);
	return *first < 0 || *last < 0 ? -1 : 0;
}

/* "08-18": hours [8, 18); "00-24" the whole day. */
static int parse_hours(const char *s, size_t n, int *from, int *to)
{
	int a, b, used = 0;
	char tmp[16];

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (sscanf(tmp, "%2d-%2d%n", &a, &b, &used) != 2 || (size_t)used != n || a < 0 || a > 23 ||
	    b < 1 || b > 24 || a >= b)
		return -1;
	*from = a, *to = b;
	return 0;
}

int core_link_schedule_parse(const char *spec, char out[CORE_SCHEDULE_HOURS + 1], char *msg,
			     size_t msgsz)
{
	const char *p = spec;

	memset(out, 'A', CORE_SCHEDULE_HOURS);
	out[CORE_SCHEDULE_HOURS] = '\0';
	if (!spec || strlen(spec) > CORE_SCHEDULE_SPEC_MAX) {
		snprintf(msg, msgsz, "the schedule is longer than %d characters",
			 CORE_SCHEDULE_SPEC_MAX);
		return -1;
	}
	if (strcmp(spec, "all") == 0 || !*spec)
		return 0;
	while (*p) {
		size_t len = strcspn(p, ","), dlen, hlen;
		const char *colon = memchr(p, ':', len), *eq = memchr(p, '=', len);
		int d0, d1, h0, h1;
		char c = 0;

		if (!colon || !eq || eq < colon)
			goto bad;
		dlen = (size_t)(colon - p);
		hlen = (size_t)(eq - colon - 1);
		if (parse_days(p, dlen, &d0, &d1) || parse_hours(colon + 1, hlen, &h0, &h1))
			goto bad;
		for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
			if (strlen(classes[i].name) == len - (size_t)(eq - p) - 1 &&
			    strncasecmp(eq + 1, classes[i].name, strlen(classes[i].name)) == 0)
				c = classes[i].c;
		if (!c)
			goto bad;
		for (int d = d0;; d = (d + 1) % 7) {
			for (int h = h0; h < h1; h++)
				out[d * 24 + h] = c;
			if (d == d1)
				break;
		}
		p += len;
		if (*p == ',')
			p++;
		continue;
	bad:
		snprintf(msg, msgsz,
			 "'%.*s' is not DAYS:HOURS=CLASS (e.g. mon-fri:08-18=high; days mon..sun or "
			 "*, hours 00-24, class all, medium, high or closed)",
			 (int)(len > 60 ? 60 : len), p);
		return -1;
	}
	return 0;
}

bool core_link_schedule_valid(const char *sched)
{
	size_t n = sched ? strlen(sched) : 0;

	return n == 0 || (n == CORE_SCHEDULE_HOURS && strspn(sched, "AMHC") == n);
}

unsigned core_link_allowed(const char *sched, int64_t now)
{
	int64_t hour;
	char c;

	if (!sched || !*sched || !core_link_schedule_valid(sched))
		return CORE_LINK_ALL;
	/* 1970-01-01 was a Thursday: day 3 when Monday is 0 */
	hour = ((now / 3600) + 3 * 24) % CORE_SCHEDULE_HOURS;
	if (hour < 0)
		hour += CORE_SCHEDULE_HOURS;
	c = sched[hour];
	return c == 'A' ? CORE_LINK_ALL : c == 'M' ? 0x3u : c == 'H' ? 0x1u : 0u;
}

int64_t core_link_next_open(const char *sched, int64_t now)
{
	int64_t t = now - now % 3600 + 3600;

	for (int i = 0; i < CORE_SCHEDULE_HOURS; i++, t += 3600)
		if (core_link_allowed(sched, t))
			return t;
	return 0; /* closed all week */
}

void core_link_describe(const char *sched, int64_t now, char *out, size_t outsz)
{
	unsigned m = core_link_allowed(sched, now);

	snprintf(out, outsz, "%s",
		 m == CORE_LINK_ALL ? "open to all" : m == 0x3u ? "medium and high only"
						: m == 0x1u ? "high only"
							    : "closed");
}

int64_t core_link_share_wait_us(int64_t busy_us, int share)
{
	if (share <= 0 || share >= 100 || busy_us <= 0)
		return 0;
	if (busy_us > INT64_MAX / 100)
		return INT64_MAX / share;
	return busy_us * (100 - share) / share;
}

int64_t core_link_pace_us(int64_t sent_bytes, int64_t rate)
{
	if (rate <= 0 || sent_bytes <= 0)
		return 0;
	if (sent_bytes > INT64_MAX / 1000000)
		return INT64_MAX / rate;
	return sent_bytes * 1000000 / rate;
}

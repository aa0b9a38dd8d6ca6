/* core/tz: UTC offsets over time from a TZif file (RFC 8536).
 *
 * Only what windows need is kept: the transition instants, the UTC offset
 * after each, and the POSIX TZ footer that continues the rule after the last
 * transition (it is all a "slim" file has for recent years). Abbreviations,
 * leap seconds and the std/wall indicators are skipped.
 *
 * The input is untrusted: every count is bounded and every length checked
 * before a field is read.
 *
 * Pure: no I/O; lib/util/tzload.c reads the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/window.h"

#define DAY	   86400LL
#define OFFSET_MAX (26 * 3600) /* no zone is further from UTC */
#define CHARS_MAX  4096

struct posix_rule {
	char kind; /* 'J' (1..365, no Feb 29), 'D' (0..365), 'M' (month.week.day) */
	int a, b, c;
	int32_t time; /* seconds after local midnight, -167..167 h */
};

struct core_tz {
	uint32_t n;	  /* transitions */
	int64_t *at;	  /* n instants, ascending */
	int32_t *off;	  /* n offsets in effect from at[i] */
	int32_t first;	  /* offset before the first transition */
	bool has_footer;  /* footer rule applies from the last transition on */
	bool has_dst;	  /* footer has a daylight saving rule */
	int32_t std, dst; /* footer offsets east of UTC */
	struct posix_rule start, end;
};

static struct core_tz utc_zone;

struct core_tz *core_tz_utc(void)
{
	return &utc_zone;
}

void core_tz_free(struct core_tz *tz)
{
	if (!tz || tz == &utc_zone)
		return;
	free(tz->at);
	free(tz->off);
	free(tz);
}

/* ---- civil dates (proleptic Gregorian; H. Hinnant's algorithms) ---------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int64_t year_of_days(int64_t z)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	return yoe + era * 400 + (mp >= 10);
}

static bool leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && leap_year(y) ? 29 : md[m - 1];
}

/* ---- the POSIX TZ footer ------------------------------------------------- */

/* Day (since 1970) on which rule r falls in year y. */
static int64_t rule_day(const struct posix_rule *r, int64_t y)
{
	int64_t jan1 = days_from_civil(y, 1, 1), d1, d;
	int wd1;

	if (r->kind == 'J')
		return jan1 + r->a - 1 + (leap_year(y) && r->a >= 60);
	if (r->kind == 'D')
		return jan1 + r->a;
	d1 = days_from_civil(y, r->a, 1);
	wd1 = (int)(((d1 + 4) % 7 + 7) % 7); /* 0 = Sunday; 1970-01-01 was a Thursday */
	d = d1 + (r->c - wd1 + 7) % 7 + 7 * (r->b - 1);
	while (d >= d1 + month_days(y, r->a))
		d -= 7;
	return d;
}

struct trans {
	int64_t at;
	int32_t off;
};

/* The footer's transitions in years y0..y1 (at most 4 years), ascending. */
static size_t footer_transitions(const struct core_tz *tz, int64_t y0, int64_t y1,
				 struct trans *out)
{
	size_t n = 0;

	for (int64_t y = y0; y <= y1 && n + 2 <= 8; y++) {
		out[n].at = rule_day(&tz->start, y) * DAY + tz->start.time - tz->std;
		out[n++].off = tz->dst;
		out[n].at = rule_day(&tz->end, y) * DAY + tz->end.time - tz->dst;
		out[n++].off = tz->std;
	}
	for (size_t i = 1; i < n; i++) /* insertion sort: southern zones end before they start */
		for (size_t j = i; j > 0 && out[j - 1].at > out[j].at; j--) {
			struct trans x = out[j];
			out[j] = out[j - 1];
			out[j - 1] = x;
		}
	return n;
}

static int64_t clamp_time(int64_t t)
{
	return t < 0 ? 0 : t > CORE_TIME_MAX ? CORE_TIME_MAX : t;
}

static int32_t footer_offset(const struct core_tz *tz, int64_t t)
{
	struct trans tr[8];
	int64_t y;
	size_t n;
	int32_t off;

	if (!tz->has_dst)
		return tz->std;
	t = clamp_time(t);
	y = year_of_days(floor_div(t + tz->std, DAY));
	n = footer_transitions(tz, y - 1, y + 1, tr);
	off = tz->std;
	for (size_t i = 0; i < n && tr[i].at <= t; i++)
		off = tr[i].off;
	return off;
}

/* std name: 3+ letters or <...> of letters, digits, '+' and '-'. */
static const char *posix_name(const char *p)
{
	const char *s = p;

	if (*p == '<') {
		for (p++; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '+' || *p == '-';
		     p++)
			;
		return *p == '>' && p - s >= 4 ? p + 1 : NULL;
	}
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
		p++;
	return p - s >= 3 ? p : NULL;
}

static const char *posix_num(const char *p, int max, int *v)
{
	int n = 0, digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 4) {
		n = n * 10 + (*p++ - '0');
		digits++;
	}
	if (!digits || n > max || (*p >= '0' && *p <= '9'))
		return NULL;
	*v = n;
	return p;
}

/* [+-]hh[:mm[:ss]] with hours up to max_h, into seconds. */
static const char *posix_hms(const char *p, int max_h, int32_t *out)
{
	int sign = 1, h, m = 0, s = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!(p = posix_num(p, max_h, &h)))
		return NULL;
	if (*p == ':' && !(p = posix_num(p + 1, 59, &m)))
		return NULL;
	if (*p == ':' && !(p = posix_num(p + 1, 59, &s)))
		return NULL;
	*out = sign * (h * 3600 + m * 60 + s);
	return p;
}

static const char *posix_rule(const char *p, struct posix_rule *r)
{
	r->time = 2 * 3600;
	if (*p == 'J') {
		r->kind = 'J';
		if (!(p = posix_num(p + 1, 365, &r->a)) || r->a < 1)
			return NULL;
	} else if (*p == 'M') {
		r->kind = 'M';
		if (!(p = posix_num(p + 1, 12, &r->a)) || r->a < 1 || *p != '.' ||
		    !(p = posix_num(p + 1, 5, &r->b)) || r->b < 1 || *p != '.' ||
		    !(p = posix_num(p + 1, 6, &r->c)))
			return NULL;
	} else {
		r->kind = 'D';
		if (!(p = posix_num(p, 365, &r->a)))
			return NULL;
	}
	if (*p == '/' && !(p = posix_hms(p + 1, 167, &r->time)))
		return NULL;
	return p;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3"; POSIX offsets are west of UTC. */
static int posix_parse(const char *s, struct core_tz *tz)
{
	const char *p = posix_name(s);
	int32_t v;

	if (!p || !(p = posix_hms(p, 24, &v)))
		return -1;
	tz->std = -v;
	tz->has_footer = true;
	if (!*p)
		return 0;
	if (!(p = posix_name(p)))
		return -1;
	tz->has_dst = true;
	tz->dst = tz->std + 3600;
	if (*p && *p != ',') {
		if (!(p = posix_hms(p, 24, &v)))
			return -1;
		tz->dst = -v;
	}
	if (!*p) { /* POSIX default: the US rule */
		tz->start = (struct posix_rule){'M', 3, 2, 0, 7200};
		tz->end = (struct posix_rule){'M', 11, 1, 0, 7200};
		return 0;
	}
	if (*p != ',' || !(p = posix_rule(p + 1, &tz->start)) || *p != ',' ||
	    !(p = posix_rule(p + 1, &tz->end)) || *p)
		return -1;
	return 0;
}

/* ---- the TZif file ------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct hdr {
	int version; /* 0 (v1), 2, 3, 4 */
	uint32_t isut, isstd, leap, time, type, chars;
};

#define HDR_LEN 44

static int read_hdr(const unsigned char *p, size_t len, struct hdr *h, char *msg, size_t msgsz)
{
	if (len < HDR_LEN || memcmp(p, "TZif", 4) != 0) {
		snprintf(msg, msgsz, "not a TZif file (bad magic or shorter than its header)");
		return -1;
	}
	h->version = p[4] == 0 ? 0 : p[4] >= '2' && p[4] <= '9' ? p[4] - '0' : -1;
	if (h->version < 0) {
		snprintf(msg, msgsz, "unknown TZif version byte 0x%02x", p[4]);
		return -1;
	}
	h->isut = be32(p + 20), h->isstd = be32(p + 24), h->leap = be32(p + 28);
	h->time = be32(p + 32), h->type = be32(p + 36), h->chars = be32(p + 40);
	if (h->time > CORE_TZ_MAX_TRANSITIONS || h->type < 1 || h->type > CORE_TZ_MAX_TYPES ||
	    h->chars > CHARS_MAX || h->leap > CORE_TZ_MAX_TRANSITIONS ||
	    (h->isut && h->isut != h->type) || (h->isstd && h->isstd != h->type)) {
		snprintf(msg, msgsz,
			 "TZif counts out of range (%u transitions, %u types, %u characters, "
			 "%u leap seconds)",
			 h->time, h->type, h->chars, h->leap);
		return -1;
	}
	return 0;
}

/* Bytes of the data block after a header with times of tsize bytes. */
static size_t block_len(const struct hdr *h, size_t tsize)
{
	return (size_t)h->time * tsize + h->time + (size_t)h->type * 6 + h->chars +
	       (size_t)h->leap * (tsize + 4) + h->isstd + h->isut;
}

/* Read the transitions and types of the block at p (its length checked). */
static int read_block(const unsigned char *p, const struct hdr *h, size_t tsize, struct core_tz *tz,
		      char *msg, size_t msgsz)
{
	const unsigned char *idx = p + (size_t)h->time * tsize, *types = idx + h->time;
	int32_t off[CORE_TZ_MAX_TYPES];

	for (uint32_t i = 0; i < h->type; i++) {
		off[i] = (int32_t)be32(types + 6 * (size_t)i);
		if (off[i] < -OFFSET_MAX || off[i] > OFFSET_MAX || types[6 * (size_t)i + 4] > 1) {
			snprintf(msg, msgsz, "TZif type %u: offset %d s or dst flag out of range",
				 i, (int)off[i]);
			return -1;
		}
	}
	tz->first = off[0];
	if (h->time) {
		tz->at = malloc(h->time * sizeof(*tz->at));
		tz->off = malloc(h->time * sizeof(*tz->off));
		if (!tz->at || !tz->off) {
			snprintf(msg, msgsz, "out of memory");
			return -1;
		}
	}
	for (uint32_t i = 0; i < h->time; i++) {
		int64_t at = tsize == 8 ? be64(p + 8 * (size_t)i)
					: (int64_t)(int32_t)be32(p + 4 * (size_t)i);
		if (idx[i] >= h->type || (i && at <= tz->at[i - 1])) {
			snprintf(msg, msgsz,
				 "TZif transition %u: type index out of range or not ascending", i);
			return -1;
		}
		tz->at[i] = at;
		tz->off[i] = off[idx[i]];
	}
	tz->n = h->time;
	return 0;
}

int core_tz_parse(const unsigned char *data, size_t len, struct core_tz **out, char *msg,
		  size_t msgsz)
{
	struct core_tz *tz = NULL;
	struct hdr h;
	size_t blen, pos;
	int rc = -1;

	*out = NULL;
	if (read_hdr(data ? data : (const unsigned char *)"", data ? len : 0, &h, msg, msgsz) < 0)
		return -1;
	blen = block_len(&h, 4);
	if (len - HDR_LEN < blen) {
		snprintf(msg, msgsz, "TZif file truncated (%zu bytes, its v1 block needs %zu)", len,
			 HDR_LEN + blen);
		return -1;
	}
	pos = HDR_LEN + blen;
	tz = calloc(1, sizeof(*tz));
	if (!tz) {
		snprintf(msg, msgsz, "out of memory");
		return -1;
	}
	if (h.version == 0) {
		if (read_block(data + HDR_LEN, &h, 4, tz, msg, msgsz) < 0)
			goto out;
	} else {
		const unsigned char *end, *nl;
		char footer[256];

		if (read_hdr(data + pos, len - pos, &h, msg, msgsz) < 0)
			goto out;
		blen = block_len(&h, 8);
		if (len - pos - HDR_LEN < blen) {
			snprintf(msg, msgsz,
				 "TZif file truncated (%zu bytes, its v2 block needs %zu)", len,
				 pos + HDR_LEN + blen);
			goto out;
		}
		if (read_block(data + pos + HDR_LEN, &h, 8, tz, msg, msgsz) < 0)
			goto out;
		pos += HDR_LEN + blen;
		end = data + len;
		if (pos >= len || data[pos] != '\n' ||
		    !(nl = memchr(data + pos + 1, '\n', (size_t)(end - data - pos - 1)))) {
			snprintf(msg, msgsz, "TZif footer missing or not ended by a newline");
			goto out;
		}
		if ((size_t)(nl - (data + pos + 1)) >= sizeof(footer)) {
			snprintf(msg, msgsz, "TZif footer longer than %zu bytes",
				 sizeof(footer) - 1);
			goto out;
		}
		memcpy(footer, data + pos + 1, (size_t)(nl - (data + pos + 1)));
		footer[nl - (data + pos + 1)] = '\0';
		if (footer[0] && posix_parse(footer, tz) < 0) {
			snprintf(msg, msgsz, "TZif footer '%.60s' is not a POSIX TZ rule", footer);
			goto out;
		}
		if (tz->has_footer &&
		    (tz->std < -OFFSET_MAX || tz->std > OFFSET_MAX ||
		     (tz->has_dst && (tz->dst < -OFFSET_MAX || tz->dst > OFFSET_MAX)))) {
			snprintf(msg, msgsz, "TZif footer '%.60s': offset out of range", footer);
			goto out;
		}
	}
	*out = tz;
	tz = NULL;
	rc = 0;
out:
	core_tz_free(tz);
	return rc;
}

/* ---- lookups ------------------------------------------------------------- */

int32_t core_tz_offset(const struct core_tz *tz, int64_t utc)
{
	uint32_t lo = 0, hi;

	if (!tz)
		return 0;
	if (tz->has_footer && (tz->n == 0 || utc >= tz->at[tz->n - 1]))
		return footer_offset(tz, utc);
	if (tz->n == 0 || utc < tz->at[0])
		return tz->first;
	hi = tz->n; /* at[lo] <= utc < at[hi] */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (tz->at[mid] <= utc)
			lo = mid;
		else
			hi = mid;
	}
	return tz->off[lo];
}

/* Up to max transitions in (a, b], ascending: b - a is at most a few days. */
static size_t transitions(const struct core_tz *tz, int64_t a, int64_t b, struct trans *out,
			  size_t max)
{
	size_t n = 0;
	uint32_t lo = 0, hi;

	if (!tz)
		return 0;
	if (tz->n) { /* first stored transition after a */
		hi = tz->n;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (tz->at[mid] <= a)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < tz->n && tz->at[lo] <= b && n < max; lo++)
			out[n++] = (struct trans){tz->at[lo], tz->off[lo]};
	}
	if (tz->has_dst && (tz->n == 0 || b >= tz->at[tz->n - 1])) {
		struct trans tr[8];
		int64_t from = tz->n ? tz->at[tz->n - 1] : a;
		int64_t ya = year_of_days(floor_div(clamp_time(a), DAY));
		int64_t yb = year_of_days(floor_div(clamp_time(b), DAY));
		size_t k = footer_transitions(tz, ya - 1, yb + 1 > ya + 2 ? ya + 2 : yb + 1, tr);

		for (size_t i = 0; i < k && n < max; i++)
			if (tr[i].at > a && tr[i].at > from && tr[i].at <= b)
				out[n++] = tr[i];
	}
	return n;
}

int64_t core_tz_local_to_utc(const struct core_tz *tz, int64_t local)
{
	/* The instant lies within OFFSET_MAX of local; look at the pieces of
	 * constant offset around it. */
	struct trans tr[16];
	int64_t a, b, seg;
	int32_t off;
	size_t n;

	if (local < INT64_MIN / 2 || local > INT64_MAX / 2) /* keeps the sums below defined */
		local = local < 0 ? INT64_MIN / 2 : INT64_MAX / 2;
	a = local - OFFSET_MAX - 3600, b = local + OFFSET_MAX + 3600;
	n = transitions(tz, a, b, tr, 16);
	seg = a;
	off = core_tz_offset(tz, a);

	for (size_t i = 0; i <= n; i++) {
		int64_t end = i < n ? tr[i].at : b + 1;
		int64_t u = local - off;

		if (u >= seg && u < end)
			return u; /* the first occurrence */
		if (i < n) {
			seg = tr[i].at, off = tr[i].off;
			if (seg + off > local)
				return seg; /* local fell into the gap before seg */
		}
	}
	return local - core_tz_offset(tz, local);
}

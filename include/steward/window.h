/* window: weekly maintenance windows in a time zone.
 *
 * An administrator writes a window as
 *
 *     stewardctl windows create NAME --collection C --weekly 'sat 22:00' \
 *             --duration 6h [--tz Europe/Berlin]
 *
 * and a collection may have several. Rollout steps and mandatory
 * advertisements start only inside one of a client's windows.
 *
 * Time zones come from TZif files (RFC 8536; versions 1, 2 and 3, "fat" and
 * "slim"), including the POSIX TZ footer ("CET-1CEST,M3.5.0,M10.5.0/3") that
 * gives the rule after the file's last transition. core_tz_parse and
 * everything about windows are pure (lib/core: no I/O, no clock, no
 * globals); tz_load (lib/util/tzload.c) is the only code that reads a file.
 *
 * Semantics of a window:
 *  - The start is local wall time in the window's zone, on each day in days.
 *  - A start that falls into a gap (spring forward, e.g. 02:30 on the last
 *    Sunday of March in Europe/Berlin) begins at the first instant after the
 *    gap (03:00 local, 01:00 UTC).
 *  - A start that occurs twice (fall back) begins at the first occurrence.
 *  - The duration is elapsed time: 6h is always 21600 s, whatever the clocks
 *    do inside it (so it ends 1 h later or earlier in wall time).
 *  - Windows crossing midnight or the end of the week are normal: sun 23:00
 *    for 3h ends on Monday 02:00.
 *  - Occurrences of several windows that overlap or touch form one merged
 *    interval.
 *
 * Times are UTC seconds since 1970. A t before 1970 is taken as
 * 1970-01-01T00:00Z; after CORE_TIME_MAX minus a few weeks no occurrence is
 * reported (false / 0). Every computation is a fixed number of steps per
 * window; nothing scans a week minute by minute.
 */
#ifndef STEWARD_WINDOW_H
#define STEWARD_WINDOW_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define CORE_TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

/* ---- time zones (lib/core/tz.c) ------------------------------------------ */
#define CORE_TZ_MAX_TRANSITIONS 4096
#define CORE_TZ_MAX_TYPES	256
#define CORE_TZ_FILE_MAX	(256 * 1024)

/* UTC offsets over time, from a TZif file. */
struct core_tz;

/* Parse the TZif file in data[0..len) into a new zone (free with
 * core_tz_free). 0, or -1 with the reason in msg. Every count and length is
 * checked before use: at most CORE_TZ_MAX_TRANSITIONS transitions and
 * CORE_TZ_MAX_TYPES types, offsets within +-26 h, transitions ascending. */
int core_tz_parse(const unsigned char *data, size_t len, struct core_tz **out, char *msg,
		  size_t msgsz);
void core_tz_free(struct core_tz *tz); /* NULL and core_tz_utc() are ignored */
/* A static UTC zone; core_tz_free ignores it. */
struct core_tz *core_tz_utc(void);
/* Seconds east of UTC at utc; tz NULL is UTC. Before the first transition
 * the file's first type applies, after the last one the footer rule (or,
 * without one, the last transition's type). */
int32_t core_tz_offset(const struct core_tz *tz, int64_t utc);
/* The UTC instant at which the local wall time local (seconds since
 * 1970-01-01T00:00 local) occurs: its first occurrence when the clocks went
 * back, the first instant after the gap when they jumped over it. */
int64_t core_tz_local_to_utc(const struct core_tz *tz, int64_t local);

/* ---- loading a zone by name (lib/util/tzload.c) ---------------------------- */
/* "UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires": 1..64 characters
 * of A-Za-z0-9_+-/, no leading '/', no "..", no empty component. */
bool core_tz_name_valid(const char *name);
/* Read $STEWARD_ZONEINFO (or /usr/share/zoneinfo) + "/" + name, at most
 * CORE_TZ_FILE_MAX bytes, into a new zone (core_tz_free). "UTC" works without
 * tzdata. 0, or -1 with msg, e.g. "unknown time zone 'Mars/Olympus' (no
 * /usr/share/zoneinfo/Mars/Olympus)". */
int tz_load(const char *name, struct core_tz **out, char *msg, size_t msgsz);

/* ---- windows (lib/core/window.c) ------------------------------------------ */
#define CORE_WINDOW_SPEC_MAX	 64
#define CORE_WINDOW_DURATION_MAX (7 * 86400LL)
/* A merged interval is followed at most this far either side of t: windows
 * that together are always open are reported as open for this long. */
#define CORE_WINDOWS_SPAN_MAX (28 * 86400LL)

struct core_window {
	uint8_t days;	    /* bit 0 = Monday .. bit 6 = Sunday */
	int32_t start_min;  /* minutes after local midnight, 0..1439 */
	int64_t duration_s; /* 60 .. CORE_WINDOW_DURATION_MAX */
};

/* weekly: "DAYS HH:MM" where DAYS is a comma list of day names (mon..sun,
 * case-insensitive) and ranges (mon-fri; they may wrap: fri-mon), or
 * "daily". duration: "6h", "90m", "1h30m", "2d" (d, h, m in that order;
 * 1 minute .. 7 days). 0, or -1 with msg naming the field and what is
 * accepted, e.g. "weekly: 'sat 25:00' is not DAYS HH:MM (hour 00-23)". */
int core_window_parse(const char *weekly, const char *duration, struct core_window *w, char *msg,
		      size_t msgsz);
/* The two halves for display; each round-trips through core_window_parse:
 * "mon-fri 22:00" / "1h30m". */
void core_window_format_weekly(const struct core_window *w, char *out, size_t outsz);
void core_window_format_duration(const struct core_window *w, char *out, size_t outsz);
/* "sat 22:00 for 6h". */
void core_window_format(const struct core_window *w, char *out, size_t outsz);
/* Whether w holds a window core_window_parse could have produced. */
bool core_window_valid(const struct core_window *w);

/* The occurrence of w (in zone tz, NULL = UTC) that contains t, else the
 * next one after t: [*open, *close) in UTC seconds. False only for an invalid
 * window or a t beyond the supported range. */
bool core_window_next(const struct core_window *w, const struct core_tz *tz, int64_t t,
		      int64_t *open, int64_t *close);

struct core_window_in {
	const struct core_window *w;
	const struct core_tz *tz; /* NULL = UTC */
};

/* The merged interval (overlapping or touching occurrences joined) that
 * contains t, else the next one. Cost: rounds of one core_window_next per
 * window, one round per occurrence joined. */
bool core_windows_next(const struct core_window_in *ws, size_t n, int64_t t, int64_t *open,
		       int64_t *close);
/* Whether t is inside one of the windows (open <= t < close). */
bool core_windows_inside(const struct core_window_in *ws, size_t n, int64_t t);
/* Up to max merged intervals that end after t and start before t + horizon,
 * in order, into iv[i][0] (open) and iv[i][1] (close); returns how many.
 * Windows that never close give one interval ending CORE_WINDOWS_SPAN_MAX
 * after where it was looked up, and the list stops there. */
size_t core_windows_list(const struct core_window_in *ws, size_t n, int64_t t, int64_t horizon,
			 int64_t (*iv)[2], size_t max);
/* Whether a merged interval of the windows ended in (since, until]: "the
 * client was offline during its window". */
bool core_windows_missed(const struct core_window_in *ws, size_t n, int64_t since, int64_t until);

#endif

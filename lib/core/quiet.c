/* quiet: the quietest span of the week, from check-ins counted per hour
 * of the week (Monday 00:00 UTC first, as CORE_SCHEDULE_HOURS), and when
 * it next begins. The readiness check (server/readiness.c) suggests that
 * time as an upgrade's --start. Pure: the counts and the time come in. */
#include "steward/core.h"

int core_hour_of_week(int64_t t)
{
	int64_t hour;

	/* 1970-01-01 was a Thursday: hour 72 of its week */
	hour = ((t >= 0 ? t / 3600 : (t - 3599) / 3600) + 3 * 24) % CORE_SCHEDULE_HOURS;
	if (hour < 0)
		hour += CORE_SCHEDULE_HOURS;
	return (int)hour;
}

int64_t core_hour_of_week_next(int hour, int64_t now)
{
	int64_t start = now >= 0 ? now / 3600 * 3600 : (now - 3599) / 3600 * 3600;
	int d;

	if (hour < 0 || hour >= CORE_SCHEDULE_HOURS)
		return -1;
	if (start < now)
		start += 3600; /* the next hour boundary at or after now */
	d = hour - core_hour_of_week(start);
	if (d < 0)
		d += CORE_SCHEDULE_HOURS;
	return start + (int64_t)d * 3600;
}

int core_quiet_span(const uint64_t counts[CORE_SCHEDULE_HOURS], int span, int from_hour,
		    uint64_t *sum_out)
{
	uint64_t total = 0, sum = 0, best_sum = 0;
	int best = -1;

	if (span < 1 || span > CORE_SCHEDULE_HOURS || from_hour < 0 ||
	    from_hour >= CORE_SCHEDULE_HOURS)
		return -1;
	for (int h = 0; h < CORE_SCHEDULE_HOURS; h++)
		total += counts[h];
	if (total == 0)
		return -1; /* no history: no hour is known to be quiet */
	/* every start in turn from from_hour, the sum of span hours wrapping
	 * past Sunday 23:00 into Monday; a tie goes to the earlier start */
	for (int i = 0; i < CORE_SCHEDULE_HOURS; i++) {
		int h = (from_hour + i) % CORE_SCHEDULE_HOURS;

		sum = 0;
		for (int k = 0; k < span; k++)
			sum += counts[(h + k) % CORE_SCHEDULE_HOURS];
		if (best < 0 || sum < best_sum) {
			best = h;
			best_sum = sum;
		}
	}
	if (sum_out)
		*sum_out = best_sum;
	return best;
}

int64_t core_quiet_next(const uint64_t counts[CORE_SCHEDULE_HOURS], int span, int64_t now,
			int *hour_out, uint64_t *sum_out)
{
	/* the search starts at the hour that begins next, so that of equally
	 * quiet spans the soonest is chosen */
	int64_t next = now >= 0 ? (now + 3599) / 3600 * 3600 : now / 3600 * 3600;
	int h = core_quiet_span(counts, span, core_hour_of_week(next), sum_out);

	if (h < 0)
		return -1;
	if (hour_out)
		*hour_out = h;
	return core_hour_of_week_next(h, now);
}

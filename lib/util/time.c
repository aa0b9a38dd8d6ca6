/* time: clocks and duration parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>

#include "steward/util.h"

int64_t time_now_s(void)
{
	return (int64_t)time(NULL);
}

int64_t time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void time_rfc3339(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		snprintf(out, 32, "invalid");
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int time_parse_duration(const char *s, int64_t *seconds)
{
	char *end = NULL;
	long long v;
	int64_t mult = 1;

	/* strtoll would skip leading white space and accept a sign */
	if (!s || *s < '0' || *s > '9')
		return -STEWARD_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return -STEWARD_EINVAL;
	if (*end) {
		switch (*end) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: return -STEWARD_EINVAL;
		}
		if (end[1])
			return -STEWARD_EINVAL;
	}
	if (v < 0 || v > INT64_MAX / mult)
		return -STEWARD_EINVAL;
	*seconds = (int64_t)v * mult;
	return 0;
}

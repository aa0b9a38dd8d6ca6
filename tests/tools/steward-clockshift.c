/* steward-clockshift: an LD_PRELOAD library that moves time() by the
 * seconds written in the file $STEWARD_CLOCKSHIFT_FILE (read at every
 * call; absent or unreadable: no shift). "3600" sets the wall clock an
 * hour back, as an NTP step would; the monotonic clock and
 * clock_gettime(CLOCK_REALTIME) are left alone. For the tests of code that
 * must not schedule by the wall clock (test_management_points.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long shift(void)
{
	const char *path = getenv("STEWARD_CLOCKSHIFT_FILE");
	long s = 0;
	FILE *f;

	if (!path || !(f = fopen(path, "r")))
		return 0;
	if (fscanf(f, "%ld", &s) != 1)
		s = 0;
	fclose(f);
	return s;
}

time_t time(time_t *out)
{
	struct timespec ts;
	time_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec - shift();
	if (out)
		*out = now;
	return now;
}

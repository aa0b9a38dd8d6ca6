/* fuzz_window: the maintenance-window parsers (include/steward/window.h):
 * TZif zone files (core_tz_parse, what tz_load reads from the site's
 * zoneinfo) and the --weekly / --duration text of windows create
 * (core_window_parse).
 *
 * Input starting with "TZif" is a zone file; anything else is
 * "WEEKLY\0DURATION". Properties: a parsed zone answers offsets within
 * +-26 h at any instant and maps local times back to instants that show
 * them or lie past a gap; a parsed window formats back to text that parses
 * to the same window, and its next occurrence contains or follows t and
 * lasts its duration.
 */
#include "fuzz.h"

#include "steward/window.h"

static const int64_t probes[] = {INT64_MIN, -1, 0, 1700000000, 1711846800, 1729990800,
				 4102444800LL, CORE_TIME_MAX, INT64_MAX};

static void zone(const uint8_t *data, size_t size)
{
	struct core_tz *tz = NULL;
	char msg[256];

	if (core_tz_parse(data, size, &tz, msg, sizeof(msg)) != 0) {
		FUZZ_CHECK(tz == NULL && memchr(msg, '\0', sizeof(msg)));
		return;
	}
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		int32_t off = core_tz_offset(tz, probes[i]);

		FUZZ_CHECK(off >= -26 * 3600 && off <= 26 * 3600);
		if (probes[i] > 0 && probes[i] < CORE_TIME_MAX - 86400) {
			int64_t local = probes[i] + off, back = core_tz_local_to_utc(tz, local);

			/* the first instant that shows local, or the end of its gap */
			FUZZ_CHECK(back <= probes[i] || back + core_tz_offset(tz, back) >= local);
		}
	}
	core_tz_free(tz);
}

static void window(const uint8_t *data, size_t size)
{
	char text[2 * CORE_WINDOW_SPEC_MAX + 2], msg[256], weekly[CORE_WINDOW_SPEC_MAX + 1];
	char dur[32];
	struct core_window w, w2;
	const char *duration;
	int64_t open, close;

	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	duration = memchr(text, '\0', size) ? text + strlen(text) + 1 : "1h";
	if (duration > text + size)
		duration = "1h";
	if (core_window_parse(text, duration, &w, msg, sizeof(msg)) != 0) {
		FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)));
		return;
	}
	FUZZ_CHECK(core_window_valid(&w));
	core_window_format_weekly(&w, weekly, sizeof(weekly));
	core_window_format_duration(&w, dur, sizeof(dur));
	FUZZ_CHECK(core_window_parse(weekly, dur, &w2, msg, sizeof(msg)) == 0);
	FUZZ_CHECK(w2.days == w.days && w2.start_min == w.start_min && w2.duration_s == w.duration_s);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (core_window_next(&w, NULL, probes[i], &open, &close)) {
			FUZZ_CHECK(close - open == w.duration_s);
			FUZZ_CHECK(close > (probes[i] < 0 ? 0 : probes[i]));
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 4 && memcmp(data, "TZif", 4) == 0)
		zone(data, size);
	else
		window(data, size);
	return 0;
}

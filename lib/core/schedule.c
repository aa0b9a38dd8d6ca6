/* core: schedules and request freshness.
 *
 * Every value here may come from the network or a configuration file, so
 * nothing is trusted: negative durations are clamped, doubling stops at the
 * cap before it can overflow, and sums saturate at INT64_MAX instead of
 * wrapping into the past (a wrapped next_at would make the agent hammer).
 */
#include <stdint.h>

#include "steward/core.h"

/* One draw from struct core_rand covers at most UINT32_MAX values. A random
 * span wider than that (about 136 years of seconds) is not a schedule anyone
 * means, so it is narrowed to what one draw can cover; the result still lies
 * inside the documented interval. */
#define CORE_SPAN_MAX ((uint64_t)UINT32_MAX - 1)

/* A uniform value in [0, span]. Without a source of randomness, or when the
 * span is empty, the answer is 0: deterministic, and the lower bound. */
static int64_t core_rand_upto(const struct core_rand *r, uint64_t span)
{
	uint32_t v;

	if (!r || !r->fn || span == 0)
		return 0;
	if (span > CORE_SPAN_MAX)
		span = CORE_SPAN_MAX;
	v = r->fn(r->ctx, (uint32_t)span + 1);
	/* A misbehaving source must not push us outside the interval. */
	if (v > span)
		v = (uint32_t)span;
	return (int64_t)v;
}

static int64_t core_sat_add(int64_t a, int64_t b)
{
	/* b is never negative here. */
	if (a > INT64_MAX - b)
		return INT64_MAX;
	return a + b;
}

int64_t core_next_checkin(int64_t interval, int64_t jitter, const struct core_rand *r)
{
	if (interval < 1)
		interval = 1;
	if (jitter < 0)
		jitter = 0;
	return core_sat_add(interval, core_rand_upto(r, (uint64_t)jitter));
}

int64_t core_backoff(int attempt, int64_t base, int64_t cap, const struct core_rand *r)
{
	int64_t hi;
	int i;

	/* A zero base would retry in a tight loop. */
	if (base < 1)
		base = 1;
	if (cap < base)
		cap = base;
	if (attempt < 0)
		attempt = 0;
	/* Double until the cap: at most 63 rounds whatever attempt is, and the
	 * test before doubling keeps hi * 2 from overflowing. */
	hi = base;
	for (i = 0; i < attempt && hi < cap; i++)
		hi = hi > cap / 2 ? cap : hi * 2;
	return base + core_rand_upto(r, (uint64_t)(hi - base));
}

enum core_fresh core_check_fresh(int64_t ts, int64_t now, int64_t window, uint64_t seq,
				 uint64_t last_seq)
{
	uint64_t diff;

	if (window < 0)
		window = 0;
	/* |ts - now| computed in uint64_t: the true distance between any two
	 * int64_t values fits there, while the signed subtraction can overflow. */
	diff = ts >= now ? (uint64_t)ts - (uint64_t)now : (uint64_t)now - (uint64_t)ts;
	/* Skew is checked first: a request far outside the window is refused
	 * as stale whatever its sequence, and the agent learns its clock is off
	 * rather than chasing a sequence problem it does not have. */
	if (diff > (uint64_t)window)
		return CORE_FRESH_SKEW;
	/* Equal is a replay: the sequence must strictly increase. */
	if (seq <= last_seq)
		return CORE_FRESH_REPLAY;
	return CORE_FRESH_OK;
}

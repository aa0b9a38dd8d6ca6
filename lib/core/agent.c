/* core: the agent's maintenance cycle as a state machine.
 *
 * The agent loop is: act = core_agent_next(a, now); do act (or sleep until
 * a->next_at); store what the site said (session_expires, interval,
 * jitter) in *a; core_agent_done(a, act, result, now, retry_after, r).
 * steward-sim drives the same functions with a fake clock.
 *
 * What is due (core_agent_next):
 *
 *   not enrolled                         -> ENROLL        once now >= next_at
 *   enrolled, no session or the session
 *     expires within 60 s                -> OPEN_SESSION  once now >= next_at
 *   enrolled with a session              -> CHECKIN       once now >= next_at
 *   otherwise                            -> SLEEP until next_at
 *
 * ENROLL and OPEN_SESSION wait for next_at too, so a failing site is backed
 * off whatever step fails, and a session is only reopened when a check-in
 * is due: an idle agent does not keep sessions alive for nothing.
 *
 * What an outcome does (core_agent_done), delays counted from now:
 *
 *   OK           ENROLL: enrolled, go on at once.
 *                OPEN_SESSION: have a session; next_at kept if still ahead,
 *                  else now.
 *                CHECKIN: next_at = interval + jitter.
 *                ENROLL and CHECKIN complete a step, so failures = 0.
 *   SESSION_BAD  drop the session. The first one reopens at once (sessions
 *                expire; that is normal); while failures > 0 it is
 *                counted and backed off like RETRY.
 *   RETRY,
 *   CLOCK_SKEW   failures++, wait max(Retry-After, backoff).
 *   REFUSED      failures++, wait max(Retry-After, interval): a blocked or
 *                incompatible client retries on the normal schedule and
 *                never hammers the site.
 *   REENROLL     forget enrollment and session, wait max(Retry-After,
 *                backoff), failures++.
 *
 * Backoff is core_backoff(failures before this outcome), so the first
 * failure waits about backoff_base and later ones double up to backoff_cap.
 *
 * Why OPEN_SESSION OK leaves failures alone, and the first SESSION_BAD
 * still counts one: if a site refuses every session MAC (say its site
 * secret changed under a replica), the cycle is CHECKIN -> SESSION_BAD ->
 * OPEN_SESSION OK -> CHECKIN -> SESSION_BAD ... Were failures reset by the
 * new session, or the first SESSION_BAD not counted, every round would
 * look like the first and the agent would open sessions in a tight loop.
 * With both rules the second SESSION_BAD in a row backs off, the third
 * backs off longer, and a successful check-in clears it all.
 *
 * done never changes session_expires, interval or jitter: the caller sets
 * them from the site's reply. Only sane values are used from them: an
 * interval below 1 falls back to the default rather than a 1-second loop.
 */
#include <limits.h>
#include <stdint.h>

#include "steward/core.h"

#define AGENT_INTERVAL	     82800 /* 23 h: the site normally sends its own */
#define AGENT_JITTER	     3600
#define AGENT_BACKOFF_BASE   30
#define AGENT_BACKOFF_CAP    3600
#define AGENT_SESSION_MARGIN 60 /* reopen this long before expiry */

void core_agent_init(struct core_agent *a, int64_t now)
{
	if (!a)
		return;
	*a = (struct core_agent){
	    .enrolled = false,
	    .have_session = false,
	    .session_expires = 0,
	    .next_at = now,
	    .failures = 0,
	    .interval = AGENT_INTERVAL,
	    .jitter = AGENT_JITTER,
	    .backoff_base = AGENT_BACKOFF_BASE,
	    .backoff_cap = AGENT_BACKOFF_CAP,
	};
}

static bool agent_session_usable(const struct core_agent *a, int64_t now)
{
	if (!a->have_session)
		return false;
	/* session_expires - margin without overflow at the bottom. */
	if (a->session_expires < INT64_MIN + AGENT_SESSION_MARGIN)
		return false;
	return now < a->session_expires - AGENT_SESSION_MARGIN;
}

enum core_agent_action core_agent_next(const struct core_agent *a, int64_t now)
{
	if (!a || now < a->next_at)
		return CORE_ACT_SLEEP;
	if (!a->enrolled)
		return CORE_ACT_ENROLL;
	if (!agent_session_usable(a, now))
		return CORE_ACT_OPEN_SESSION;
	return CORE_ACT_CHECKIN;
}

static int64_t agent_after(int64_t now, int64_t delay)
{
	if (delay < 0)
		delay = 0;
	if (now > INT64_MAX - delay)
		return INT64_MAX;
	return now + delay;
}

static int64_t agent_max(int64_t x, int64_t y)
{
	return x > y ? x : y;
}

static int64_t agent_interval(const struct core_agent *a)
{
	return a->interval >= 1 ? a->interval : AGENT_INTERVAL;
}

/* Count one more consecutive failure; return the count before it, which is
 * the backoff attempt for this failure. */
static int agent_fail(struct core_agent *a)
{
	int before = a->failures < 0 ? 0 : a->failures;

	a->failures = before < INT_MAX ? before + 1 : INT_MAX;
	return before;
}

static int64_t agent_backoff(const struct core_agent *a, int attempt, const struct core_rand *r)
{
	return core_backoff(attempt, a->backoff_base, a->backoff_cap, r);
}

static void agent_ok(struct core_agent *a, enum core_agent_action act, int64_t now,
		     const struct core_rand *r)
{
	switch (act) {
	case CORE_ACT_ENROLL:
		a->failures = 0;
		a->enrolled = true;
		a->next_at = now;
		break;
	case CORE_ACT_OPEN_SESSION:
		a->have_session = true;
		if (a->next_at < now)
			a->next_at = now;
		break;
	case CORE_ACT_CHECKIN:
		a->failures = 0;
		a->next_at = agent_after(now, core_next_checkin(agent_interval(a), a->jitter, r));
		break;
	case CORE_ACT_SLEEP:
		break;
	}
}

void core_agent_done(struct core_agent *a, enum core_agent_action act, enum core_result res,
		     int64_t now, int64_t retry_after, const struct core_rand *r)
{
	int attempt;

	/* Sleeping (or an action we do not know) is not an attempt: there is
	 * nothing to record. */
	if (!a ||
	    (act != CORE_ACT_ENROLL && act != CORE_ACT_OPEN_SESSION && act != CORE_ACT_CHECKIN))
		return;
	if (retry_after < 0)
		retry_after = 0;

	switch (res) {
	case CORE_RES_OK:
		agent_ok(a, act, now, r);
		break;
	case CORE_RES_SESSION_BAD:
		a->have_session = false;
		/* The first is normal (sessions expire): reopen at once, but
		 * count it, so a second in a row backs off even though a new
		 * session was opened in between. */
		if (a->failures <= 0) {
			agent_fail(a);
			a->next_at = agent_after(now, retry_after);
			break;
		}
		attempt = agent_fail(a);
		a->next_at =
		    agent_after(now, agent_max(retry_after, agent_backoff(a, attempt - 1, r)));
		break;
	case CORE_RES_REFUSED:
		agent_fail(a);
		a->next_at = agent_after(now, agent_max(retry_after, agent_interval(a)));
		break;
	case CORE_RES_REENROLL:
		a->enrolled = false;
		a->have_session = false;
		attempt = agent_fail(a);
		a->next_at = agent_after(now, agent_max(retry_after, agent_backoff(a, attempt, r)));
		break;
	case CORE_RES_RETRY:
	case CORE_RES_CLOCK_SKEW:
	default:
		/* An unknown result is treated as transient: backing off is
		 * the one answer that can neither hammer the site nor stall. */
		attempt = agent_fail(a);
		a->next_at = agent_after(now, agent_max(retry_after, agent_backoff(a, attempt, r)));
		break;
	}
}

/* ---- inventory schedule ---------------------------------------------------- */

bool core_inventory_due(int64_t now, int64_t last, int64_t interval, int64_t retry_at)
{
	if (interval < 1)
		interval = CORE_INVENTORY_INTERVAL;
	if (retry_at > 0 && now < retry_at)
		return false;
	if (last <= 0 || retry_at > 0)
		return true;
	/* a clock set back makes the last report look future: send one */
	if (last > now)
		return true;
	return now - last >= interval;
}

int64_t core_inventory_retry_at(int64_t now, int failures, bool refused, int64_t retry_after,
				int64_t interval, const struct core_rand *r)
{
	int64_t delay;

	if (interval < 1)
		interval = CORE_INVENTORY_INTERVAL;
	if (failures < 1)
		failures = 1;
	delay = refused ? interval
			: core_backoff(failures - 1, AGENT_BACKOFF_BASE, AGENT_BACKOFF_CAP, r);
	return agent_after(now, agent_max(retry_after, delay));
}

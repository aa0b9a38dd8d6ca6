/* core: whether an advertisement's program runs now.
 *
 * The agent calls core_advert_decide for every advertisement of its policy
 * after each check-in (and when a wake_at passes). Inputs are the site's
 * schedule, the agent's own record of past runs, the time and the site's
 * pause switch; nothing is read from anywhere else, so tests and
 * steward-sim get the very decision the agent makes.
 *
 * Occurrences. Without recurring, an advertisement has one occurrence: at
 * mandatory when set, else as soon as it is available. With recurring, the
 * occurrences are base + k * recurring, base being mandatory (or available,
 * or the epoch when neither is set); the one that counts is the latest that
 * is due, so an agent that was off for a week runs once, not seven times.
 *
 * In order:
 *
 *   ran this revision, no recurring            -> DONE (failed runs too: a
 *                                                 failure is not retried
 *                                                 until a new revision)
 *   ran this revision, recurring, run "once",
 *     and that run succeeded                   -> DONE
 *   ran this revision's current occurrence     -> DONE, wake at the next one
 *   past expires                               -> EXPIRED (nothing new starts)
 *   the site paused advertisements             -> WAIT
 *   before available                           -> WAIT until available
 *   before mandatory (or the first occurrence) -> WAIT until then
 *   mandatory or recurring, the client has
 *     maintenance windows, now outside them    -> WAIT until the next opens
 *                                                 (none known: until the
 *                                                 next check-in's list)
 *   download failed, retry_at ahead            -> WAIT until retry_at
 *   otherwise                                  -> RUN this occurrence
 *
 * Maintenance windows (SCCM's rule for required deployments): a mandatory
 * or recurring run whose time has come starts only inside one of the
 * client's windows, so a client that was off during one catches up in the
 * next; a run with neither is what the administrator made available and is
 * never held, and a client without windows is never held. The intervals
 * are those of the last check-in (the site lists about a week ahead); when
 * they have all closed, waiting for a fresh list is safer than running at
 * a time nobody chose. The window only gates the start: a run that starts
 * inside one finishes even if it closes meanwhile.
 *
 * Why DONE comes before the pause and the expiry: a finished advertisement
 * stays finished whatever the site does next, and an agent must not report
 * "expired" for something that ran.
 */
#include <stdio.h>

#include "steward/core.h"
#include "steward/util.h"
#include "steward/window.h"

#define ADVERT_BACKOFF_BASE 60
#define ADVERT_BACKOFF_CAP  3600

int64_t core_advert_backoff(int failures)
{
	int64_t d = ADVERT_BACKOFF_BASE;

	if (failures < 1)
		return 0;
	for (int i = 1; i < failures && d < ADVERT_BACKOFF_CAP; i++)
		d *= 2;
	return d < ADVERT_BACKOFF_CAP ? d : ADVERT_BACKOFF_CAP;
}

static void wait_for(struct core_advert_decision *out, int64_t at, const char *what)
{
	char when[32];

	out->action = CORE_ADVERT_WAIT;
	out->wake_at = at;
	if (at > 0) {
		time_rfc3339(at, when);
		snprintf(out->reason, sizeof(out->reason), "%s %s", what, when);
	} else {
		snprintf(out->reason, sizeof(out->reason), "%s", what);
	}
}

bool core_advert_windows_valid(const int64_t (*iv)[2], size_t n)
{
	if (n > CORE_ADVERT_WINDOWS_MAX || (n && !iv))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (iv[i][0] <= 0 || iv[i][1] <= iv[i][0] || iv[i][1] > CORE_TIME_MAX)
			return false;
		if (i > 0 && iv[i][0] < iv[i - 1][1])
			return false;
	}
	return true;
}

/* Inside one of the windows: 0; else the next opening; -1 when none is ahead. */
static int64_t window_next(const struct core_advert_windows *win, int64_t now)
{
	for (size_t i = 0; win->iv && i < win->n; i++) {
		if (now < win->iv[i][0])
			return win->iv[i][0];
		if (now < win->iv[i][1])
			return 0;
	}
	return -1;
}

static void wait_window(struct core_advert_decision *out, int64_t open, int64_t expires)
{
	if (open > 0)
		wait_for(out, open,
			 CORE_ADVERT_WINDOW_CODE ": the next maintenance window opens at");
	else
		wait_for(out, 0,
			 CORE_ADVERT_WINDOW_CODE ": no maintenance window known until the next "
						 "check-in");
	/* look again at the expiry, to report it, when that comes first */
	if (expires && (!out->wake_at || expires < out->wake_at))
		out->wake_at = expires;
}

void core_advert_decide(const struct core_advert_sched *s, const struct core_advert_local *l,
			int64_t now, bool paused, const struct core_advert_windows *win,
			struct core_advert_decision *out)
{
	int64_t recurring = s->recurring > 0 ? s->recurring : 0;
	int64_t available = s->available > 0 ? s->available : 0;
	int64_t mandatory = s->mandatory > 0 ? s->mandatory : 0;
	int64_t expires = s->expires > 0 ? s->expires : 0;
	int64_t base = mandatory ? mandatory : available;
	int64_t occ = base, next = 0;
	bool ran = l->ran && l->last_revision == s->revision;

	*out = (struct core_advert_decision){.action = CORE_ADVERT_RUN};
	if (recurring && now >= base) {
		occ = base + (now - base) / recurring * recurring;
		next = occ <= INT64_MAX - recurring ? occ + recurring : 0;
	} else if (recurring) {
		next = base; /* the first occurrence is still ahead */
	}
	if (expires && next >= expires)
		next = 0; /* no occurrence left to wake for */

	if (ran && (!recurring || (!s->run_always && l->last_ok))) {
		out->action = CORE_ADVERT_DONE;
		return;
	}
	/* l->last_occurrence >= occ also covers a clock set back before base */
	if (ran && (now < base || l->last_occurrence >= occ)) {
		out->action = CORE_ADVERT_DONE;
		out->wake_at = next;
		return;
	}
	if (expires && now >= expires) {
		out->action = ran ? CORE_ADVERT_DONE : CORE_ADVERT_EXPIRED;
		return;
	}
	if (paused) {
		wait_for(out, 0, "advertisements paused by the site administrator");
		return;
	}
	if (available && now < available) {
		wait_for(out, available, "not available until");
		return;
	}
	if (base && now < base) {
		wait_for(out, base, "mandatory at");
		return;
	}
	if ((mandatory || recurring) && win && win->restricted) {
		int64_t open = window_next(win, now);

		if (open != 0) {
			wait_window(out, open, expires);
			return;
		}
	}
	if (l->download_failures > 0 && l->retry_at > now) {
		wait_for(out, l->retry_at, "retrying download at");
		return;
	}
	out->occurrence = occ;
}

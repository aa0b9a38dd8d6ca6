/* Unit tests for lib/core/advert.c: whether an advertisement runs now. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <cmocka.h>

#include "steward/core.h"

#define T0 1764000000LL /* 2025-11-24T16:00:00Z */
#define H  3600LL
#define D  86400LL

static struct core_advert_decision decide(const struct core_advert_sched *s,
					  const struct core_advert_local *l, int64_t now,
					  bool paused)
{
	struct core_advert_decision d;

	memset(&d, 0x5a, sizeof(d)); /* every field must be set */
	core_advert_decide(s, l, now, paused, NULL, &d);
	return d;
}

/* The same with maintenance windows. */
static struct core_advert_decision decide_w(const struct core_advert_sched *s,
					    const struct core_advert_local *l, int64_t now,
					    const int64_t (*iv)[2], size_t n)
{
	struct core_advert_windows win = {.restricted = true, .n = n, .iv = iv};
	struct core_advert_decision d;

	memset(&d, 0x5a, sizeof(d));
	core_advert_decide(s, l, now, false, &win, &d);
	return d;
}

static void test_asap(void **state)
{
	struct core_advert_sched s = {.revision = 1};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide(&s, &l, T0, false);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, 0);
	s.available = T0 - 10;
	d = decide(&s, &l, T0, false);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, T0 - 10);
}

static void test_not_available(void **state)
{
	struct core_advert_sched s = {.revision = 1, .available = T0 + H};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide(&s, &l, T0, false);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + H);
	assert_string_equal(d.reason, "not available until 2025-11-24T17:00:00Z");
	d = decide(&s, &l, T0 + H, false);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
}

static void test_mandatory(void **state)
{
	struct core_advert_sched s = {.revision = 1, .available = T0 - H, .mandatory = T0 + 2 * H};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide(&s, &l, T0, false);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 2 * H);
	assert_string_equal(d.reason, "mandatory at 2025-11-24T18:00:00Z");
	/* a missed mandatory time runs at once */
	d = decide(&s, &l, T0 + 30 * D, false);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, T0 + 2 * H);
}

static void test_once_per_revision(void **state)
{
	struct core_advert_sched s = {.revision = 3};
	struct core_advert_local l = {
	    .ran = true, .last_revision = 3, .last_occurrence = 0, .last_ok = true};
	struct core_advert_decision d;

	(void)state;
	d = decide(&s, &l, T0, false);
	assert_int_equal(d.action, CORE_ADVERT_DONE);
	assert_int_equal(d.wake_at, 0);
	/* a failed run is not retried either */
	l.last_ok = false;
	assert_int_equal(decide(&s, &l, T0, false).action, CORE_ADVERT_DONE);
	/* an "always" program without recurring: one occurrence, also done */
	s.run_always = true;
	assert_int_equal(decide(&s, &l, T0, false).action, CORE_ADVERT_DONE);
	/* a new revision runs again */
	s.revision = 4;
	assert_int_equal(decide(&s, &l, T0, false).action, CORE_ADVERT_RUN);
}

static void test_recurring_latest_occurrence(void **state)
{
	struct core_advert_sched s = {
	    .revision = 1, .mandatory = T0, .recurring = D, .run_always = true};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide(&s, &l, T0 - 1, false);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0);
	/* off for a week: the latest due occurrence runs, once */
	d = decide(&s, &l, T0 + 7 * D + 5, false);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, T0 + 7 * D);
	l = (struct core_advert_local){
	    .ran = true, .last_revision = 1, .last_occurrence = T0 + 7 * D, .last_ok = true};
	d = decide(&s, &l, T0 + 7 * D + 100, false);
	assert_int_equal(d.action, CORE_ADVERT_DONE);
	assert_int_equal(d.wake_at, T0 + 8 * D);
	d = decide(&s, &l, T0 + 8 * D, false);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, T0 + 8 * D);
}

static void test_recurring_from_available(void **state)
{
	struct core_advert_sched s = {
	    .revision = 1, .available = T0, .recurring = H, .run_always = true};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide(&s, &l, T0 + 90 * 60, false);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, T0 + H);
}

static void test_recurring_once(void **state)
{
	struct core_advert_sched s = {.revision = 1, .mandatory = T0, .recurring = D};
	struct core_advert_local l = {
	    .ran = true, .last_revision = 1, .last_occurrence = T0, .last_ok = true};

	(void)state;
	/* a run-once program that succeeded does not recur */
	assert_int_equal(decide(&s, &l, T0 + 3 * D, false).action, CORE_ADVERT_DONE);
	/* one that failed tries again at the next occurrence, not before */
	l.last_ok = false;
	assert_int_equal(decide(&s, &l, T0 + D - 1, false).action, CORE_ADVERT_DONE);
	assert_int_equal(decide(&s, &l, T0 + D - 1, false).wake_at, T0 + D);
	assert_int_equal(decide(&s, &l, T0 + D, false).action, CORE_ADVERT_RUN);
}

static void test_expires(void **state)
{
	struct core_advert_sched s = {.revision = 1, .mandatory = T0, .expires = T0 + H};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	assert_int_equal(decide(&s, &l, T0 + H - 1, false).action, CORE_ADVERT_RUN);
	assert_int_equal(decide(&s, &l, T0 + H, false).action, CORE_ADVERT_EXPIRED);
	/* one that ran is done, not expired */
	l = (struct core_advert_local){.ran = true, .last_revision = 1, .last_occurrence = T0};
	assert_int_equal(decide(&s, &l, T0 + 2 * H, false).action, CORE_ADVERT_DONE);
	/* recurring: no wake-up for an occurrence past expires */
	s = (struct core_advert_sched){.revision = 1,
				       .mandatory = T0,
				       .recurring = H,
				       .expires = T0 + 90 * 60,
				       .run_always = true};
	l.last_occurrence = T0;
	d = decide(&s, &l, T0 + 10, false);
	assert_int_equal(d.action, CORE_ADVERT_DONE);
	assert_int_equal(d.wake_at, T0 + H);
	l.last_occurrence = T0 + H;
	d = decide(&s, &l, T0 + H + 10, false);
	assert_int_equal(d.action, CORE_ADVERT_DONE);
	assert_int_equal(d.wake_at, 0);
	d = decide(&s, &l, T0 + 2 * H, false);
	assert_int_equal(d.action, CORE_ADVERT_DONE);
}

static void test_paused(void **state)
{
	struct core_advert_sched s = {.revision = 2};
	struct core_advert_local l = {.ran = true, .last_revision = 1, .last_ok = true};
	struct core_advert_decision d;

	(void)state;
	d = decide(&s, &l, T0, true);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, 0);
	assert_string_equal(d.reason, "advertisements paused by the site administrator");
	/* a finished one stays finished */
	l.last_revision = 2;
	assert_int_equal(decide(&s, &l, T0, true).action, CORE_ADVERT_DONE);
}

static void test_download_retry(void **state)
{
	struct core_advert_sched s = {.revision = 1};
	struct core_advert_local l = {.download_failures = 2, .retry_at = T0 + 120};
	struct core_advert_decision d;

	(void)state;
	d = decide(&s, &l, T0, false);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 120);
	assert_string_equal(d.reason, "retrying download at 2025-11-24T16:02:00Z");
	assert_int_equal(decide(&s, &l, T0 + 120, false).action, CORE_ADVERT_RUN);
}

static void test_insane_values(void **state)
{
	struct core_advert_sched s = {
	    .revision = 1, .available = -5, .mandatory = -1, .recurring = -60, .expires = -1};
	struct core_advert_local l = {0};

	(void)state;
	assert_int_equal(decide(&s, &l, T0, false).action, CORE_ADVERT_RUN);
	/* a huge recurring does not overflow */
	s = (struct core_advert_sched){.revision = 1, .mandatory = T0, .recurring = INT64_MAX};
	assert_int_equal(decide(&s, &l, T0 + 1, false).action, CORE_ADVERT_RUN);
	assert_int_equal(decide(&s, &l, T0 + 1, false).occurrence, T0);
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(core_advert_backoff(0), 0);
	assert_int_equal(core_advert_backoff(-3), 0);
	assert_int_equal(core_advert_backoff(1), 60);
	assert_int_equal(core_advert_backoff(2), 120);
	assert_int_equal(core_advert_backoff(6), 1920);
	assert_int_equal(core_advert_backoff(7), 3600);
	assert_int_equal(core_advert_backoff(1000), 3600);
	assert_int_equal(core_advert_backoff(INT32_MAX), 3600);
}

/* Two windows: Monday 00:00 (T0 + 8h) for 2 h and Tuesday 00:00 for 2 h. */
static const int64_t WIN2[2][2] = {{T0 + 8 * H, T0 + 10 * H}, {T0 + 32 * H, T0 + 34 * H}};

static void test_window_inside(void **state)
{
	struct core_advert_sched s = {.revision = 1, .available = T0 - H, .mandatory = T0};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide_w(&s, &l, T0 + 8 * H, WIN2, 2); /* at the opening */
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, T0);
	d = decide_w(&s, &l, T0 + 10 * H - 1, WIN2, 2); /* the last second */
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	d = decide_w(&s, &l, T0 + 33 * H, WIN2, 2); /* inside the second */
	assert_int_equal(d.action, CORE_ADVERT_RUN);
}

static void test_window_before(void **state)
{
	struct core_advert_sched s = {.revision = 1, .mandatory = T0};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide_w(&s, &l, T0, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 8 * H);
	assert_string_equal(d.reason, "waiting_for_window: the next maintenance window opens at "
				      "2025-11-25T00:00:00Z");
	/* before the mandatory time, that time is what it waits for first */
	d = decide_w(&s, &l, T0 - H, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0);
	assert_string_equal(d.reason, "mandatory at 2025-11-24T16:00:00Z");
}

static void test_window_between(void **state)
{
	struct core_advert_sched s = {.revision = 1, .mandatory = T0};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide_w(&s, &l, T0 + 10 * H, WIN2, 2); /* the first just closed */
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 32 * H);
	d = decide_w(&s, &l, T0 + 20 * H, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 32 * H);
	assert_string_equal(d.reason, "waiting_for_window: the next maintenance window opens at "
				      "2025-11-26T00:00:00Z");
}

static void test_window_after_last(void **state)
{
	struct core_advert_sched s = {.revision = 1, .mandatory = T0};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	/* the list ran out: wait for a fresh one rather than run */
	d = decide_w(&s, &l, T0 + 34 * H, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, 0);
	assert_string_equal(d.reason, "waiting_for_window: no maintenance window known until the "
				      "next check-in");
	/* windows, but an empty list: the same */
	d = decide_w(&s, &l, T0, NULL, 0);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, 0);
	/* an expiry still gets its look */
	s.expires = T0 + 40 * H;
	d = decide_w(&s, &l, T0 + 34 * H, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 40 * H);
	d = decide_w(&s, &l, T0 + 40 * H, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_EXPIRED);
}

static void test_window_none(void **state)
{
	struct core_advert_sched s = {.revision = 1, .mandatory = T0};
	struct core_advert_windows unrestricted = {.restricted = false, .n = 2, .iv = WIN2};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	/* no windows at all: not restricted */
	d = decide(&s, &l, T0, false);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	memset(&d, 0x5a, sizeof(d));
	core_advert_decide(&s, &l, T0, false, &unrestricted, &d);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, T0);
}

static void test_window_deadline_passed(void **state)
{
	/* mandatory at T0 + 12h, between the windows; the client was off
	 * during the second: it catches up in the next list's first window */
	struct core_advert_sched s = {.revision = 1, .mandatory = T0 + 12 * H};
	static const int64_t later[1][2] = {{T0 + 56 * H, T0 + 58 * H}};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide_w(&s, &l, T0 + 12 * H, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 32 * H);
	d = decide_w(&s, &l, T0 + 40 * H, later, 1);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 56 * H);
	d = decide_w(&s, &l, T0 + 57 * H, later, 1);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, T0 + 12 * H);
	/* an expiry before the window opens: look again then, to report it */
	s.expires = T0 + 50 * H;
	d = decide_w(&s, &l, T0 + 40 * H, later, 1);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 50 * H);
}

static void test_window_available_not_held(void **state)
{
	struct core_advert_sched s = {.revision = 1, .available = T0 - H};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide_w(&s, &l, T0, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	d = decide_w(&s, &l, T0, NULL, 0);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
}

static void test_window_recurring(void **state)
{
	/* daily from T0; the occurrence due when the window opens runs */
	struct core_advert_sched s = {.revision = 1, .mandatory = T0, .recurring = D};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	d = decide_w(&s, &l, T0 + H, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 8 * H);
	d = decide_w(&s, &l, T0 + 8 * H, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, T0);
	/* ran that one; the next (T0 + 1d) falls outside: wait for the window */
	l = (struct core_advert_local){
	    .ran = true, .last_revision = 1, .last_occurrence = T0, .last_ok = true};
	s.run_always = true;
	d = decide_w(&s, &l, T0 + 9 * H, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_DONE);
	assert_int_equal(d.wake_at, T0 + D);
	d = decide_w(&s, &l, T0 + D, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_int_equal(d.wake_at, T0 + 32 * H);
	d = decide_w(&s, &l, T0 + 32 * H, WIN2, 2);
	assert_int_equal(d.action, CORE_ADVERT_RUN);
	assert_int_equal(d.occurrence, T0 + D);
}

static void test_window_paused_first(void **state)
{
	struct core_advert_sched s = {.revision = 1, .mandatory = T0};
	struct core_advert_windows win = {.restricted = true, .n = 2, .iv = WIN2};
	struct core_advert_local l = {0};
	struct core_advert_decision d;

	(void)state;
	core_advert_decide(&s, &l, T0 + 9 * H, true, &win, &d);
	assert_int_equal(d.action, CORE_ADVERT_WAIT);
	assert_string_equal(d.reason, "advertisements paused by the site administrator");
}

static void test_windows_valid(void **state)
{
	int64_t iv[CORE_ADVERT_WINDOWS_MAX + 1][2];

	(void)state;
	assert_true(core_advert_windows_valid(NULL, 0));
	assert_true(core_advert_windows_valid(WIN2, 2));
	assert_false(core_advert_windows_valid(NULL, 1));
	for (size_t i = 0; i <= CORE_ADVERT_WINDOWS_MAX; i++) {
		iv[i][0] = T0 + (int64_t)i * D;
		iv[i][1] = iv[i][0] + H;
	}
	assert_true(core_advert_windows_valid((const int64_t(*)[2])iv, CORE_ADVERT_WINDOWS_MAX));
	assert_false(
	    core_advert_windows_valid((const int64_t(*)[2])iv, CORE_ADVERT_WINDOWS_MAX + 1));
	iv[1][0] = iv[0][1]; /* touching: still apart */
	assert_true(core_advert_windows_valid((const int64_t(*)[2])iv, 2));
	iv[1][0] = iv[0][1] - 1; /* overlapping */
	assert_false(core_advert_windows_valid((const int64_t(*)[2])iv, 2));
	iv[1][0] = T0 - D; /* out of order */
	assert_false(core_advert_windows_valid((const int64_t(*)[2])iv, 2));
	iv[1][0] = iv[1][1]; /* empty */
	assert_false(core_advert_windows_valid((const int64_t(*)[2])iv + 1, 1));
	iv[1][0] = 0; /* not a time */
	assert_false(core_advert_windows_valid((const int64_t(*)[2])iv + 1, 1));
	iv[1][0] = T0;
	iv[1][1] = 253402300800LL /* CORE_TIME_MAX + 1 */;
	assert_false(core_advert_windows_valid((const int64_t(*)[2])iv + 1, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_asap),
	    cmocka_unit_test(test_not_available),
	    cmocka_unit_test(test_mandatory),
	    cmocka_unit_test(test_once_per_revision),
	    cmocka_unit_test(test_recurring_latest_occurrence),
	    cmocka_unit_test(test_recurring_from_available),
	    cmocka_unit_test(test_recurring_once),
	    cmocka_unit_test(test_expires),
	    cmocka_unit_test(test_paused),
	    cmocka_unit_test(test_download_retry),
	    cmocka_unit_test(test_insane_values),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_window_inside),
	    cmocka_unit_test(test_window_before),
	    cmocka_unit_test(test_window_between),
	    cmocka_unit_test(test_window_after_last),
	    cmocka_unit_test(test_window_none),
	    cmocka_unit_test(test_window_deadline_passed),
	    cmocka_unit_test(test_window_available_not_held),
	    cmocka_unit_test(test_window_recurring),
	    cmocka_unit_test(test_window_paused_first),
	    cmocka_unit_test(test_windows_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

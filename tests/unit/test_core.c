/* Unit tests for lib/core: schedules, freshness, boundaries and the agent's
 * maintenance cycle. Randomness is faked so every expectation is exact: a
 * source that always answers 0 gives the lower bound of each interval, one
 * that answers upper-1 gives the upper bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <limits.h>
#include <string.h>
#include <cmocka.h>

#include "steward/core.h"

/* ---- fake randomness ---------------------------------------------------- */

struct fake_rand {
	uint32_t last_upper; /* the upper bound of the last call */
	int calls;
	uint64_t state; /* for fake_lcg */
};

static uint32_t fake_zero(void *ctx, uint32_t upper)
{
	struct fake_rand *f = ctx;

	f->last_upper = upper;
	f->calls++;
	return 0;
}

static uint32_t fake_top(void *ctx, uint32_t upper)
{
	struct fake_rand *f = ctx;

	f->last_upper = upper;
	f->calls++;
	return upper - 1;
}

/* A broken source that ignores its bound: core must stay in range anyway. */
static uint32_t fake_broken(void *ctx, uint32_t upper)
{
	struct fake_rand *f = ctx;

	f->last_upper = upper;
	f->calls++;
	return UINT32_MAX;
}

static uint32_t fake_lcg(void *ctx, uint32_t upper)
{
	struct fake_rand *f = ctx;

	f->last_upper = upper;
	f->calls++;
	f->state = f->state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)((f->state >> 32) % upper);
}

#define assert_i64_equal(a, b)                                                                     \
	do {                                                                                       \
		int64_t a_ = (a), b_ = (b);                                                        \
		if (a_ != b_)                                                                      \
			fail_msg("%s == %lld, expected %lld", #a, (long long)a_, (long long)b_);   \
	} while (0)

#define assert_i64_between(v, lo, hi)                                                              \
	do {                                                                                       \
		int64_t v_ = (v), lo_ = (lo), hi_ = (hi);                                          \
		if (v_ < lo_ || v_ > hi_)                                                          \
			fail_msg("%s == %lld, not in [%lld, %lld]", #v, (long long)v_,             \
				 (long long)lo_, (long long)hi_);                                  \
	} while (0)

/* ---- core_next_checkin -------------------------------------------------- */

static void test_checkin_bounds(void **state)
{
	struct fake_rand f = {0};
	struct core_rand lo = {fake_zero, &f};
	struct core_rand hi = {fake_top, &f};

	(void)state;
	assert_i64_equal(core_next_checkin(82800, 3600, &lo), 82800);
	/* jitter is inclusive: [0, 3600] is 3601 values. */
	assert_int_equal(f.last_upper, 3601);
	assert_i64_equal(core_next_checkin(82800, 3600, &hi), 82800 + 3600);
	assert_i64_equal(core_next_checkin(1, 1, &hi), 2);
}

static void test_checkin_guards(void **state)
{
	struct fake_rand f = {0};
	struct core_rand hi = {fake_top, &f};
	struct core_rand broken = {fake_broken, &f};
	struct core_rand nofn = {NULL, &f};

	(void)state;
	/* No jitter: no draw at all. */
	assert_i64_equal(core_next_checkin(600, 0, &hi), 600);
	assert_int_equal(f.calls, 0);
	assert_i64_equal(core_next_checkin(600, -5, &hi), 600);
	assert_i64_equal(core_next_checkin(600, INT64_MIN, &hi), 600);
	assert_int_equal(f.calls, 0);
	/* interval >= 1: never a zero or negative wait. */
	assert_i64_equal(core_next_checkin(0, 0, &hi), 1);
	assert_i64_equal(core_next_checkin(-100, 0, &hi), 1);
	assert_i64_equal(core_next_checkin(INT64_MIN, 10, &hi), 11);
	/* Without randomness: the lower bound. */
	assert_i64_equal(core_next_checkin(600, 60, NULL), 600);
	assert_i64_equal(core_next_checkin(600, 60, &nofn), 600);
	/* The sum saturates instead of wrapping into the past. */
	assert_i64_equal(core_next_checkin(INT64_MAX, 3600, &hi), INT64_MAX);
	assert_i64_equal(core_next_checkin(INT64_MAX - 10, 3600, &hi), INT64_MAX);
	/* A jitter wider than one draw is narrowed, never overflowing the bound. */
	assert_i64_equal(core_next_checkin(100, INT64_MAX, &hi), 100 + (int64_t)UINT32_MAX - 1);
	assert_int_equal(f.last_upper, UINT32_MAX);
	assert_i64_equal(core_next_checkin(100, (int64_t)UINT32_MAX, &hi),
			 100 + (int64_t)UINT32_MAX - 1);
	/* A source answering out of range is clamped to the interval. */
	assert_i64_equal(core_next_checkin(600, 60, &broken), 660);
}

/* ---- core_backoff ------------------------------------------------------- */

static void test_backoff_doubling(void **state)
{
	struct fake_rand f = {0};
	struct core_rand lo = {fake_zero, &f};
	struct core_rand hi = {fake_top, &f};
	int attempt;

	(void)state;
	/* attempt 0: exactly base. */
	assert_i64_equal(core_backoff(0, 30, 3600, &hi), 30);
	assert_i64_equal(core_backoff(0, 30, 3600, &lo), 30);
	for (attempt = 0; attempt <= 6; attempt++) {
		int64_t top = (int64_t)30 << attempt;

		assert_i64_equal(core_backoff(attempt, 30, 3600, &hi), top);
		f.last_upper = 0;
		assert_i64_equal(core_backoff(attempt, 30, 3600, &lo), 30);
		/* One draw over the whole interval; none when it is empty. */
		assert_int_equal(f.last_upper, attempt == 0 ? 0 : top - 30 + 1);
	}
	/* 30 * 2^7 = 3840 > cap. */
	assert_i64_equal(core_backoff(7, 30, 3600, &hi), 3600);
	assert_i64_equal(core_backoff(7, 30, 3600, &lo), 30);
	assert_int_equal(f.last_upper, 3600 - 30 + 1);
}

static void test_backoff_extremes(void **state)
{
	struct fake_rand f = {0};
	struct core_rand hi = {fake_top, &f};
	struct core_rand broken = {fake_broken, &f};
	const int attempts[] = {31, 32, 62, 63, 64, 65, 1000, INT_MAX};
	size_t i;

	(void)state;
	/* 2^attempt would overflow int64 from 63 on; the cap holds. */
	for (i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		assert_i64_equal(core_backoff(attempts[i], 30, 3600, &hi), 3600);
		assert_i64_between(core_backoff(attempts[i], 1, INT64_MAX, &hi), 1, INT64_MAX);
		assert_i64_equal(core_backoff(attempts[i], INT64_MAX, INT64_MAX, &hi), INT64_MAX);
		assert_i64_between(core_backoff(attempts[i], INT64_MAX / 3, INT64_MAX, &hi),
				   INT64_MAX / 3, INT64_MAX);
	}
	/* A span wider than one draw is narrowed: the result stays inside. */
	assert_i64_equal(core_backoff(62, 1, INT64_MAX, &hi), (int64_t)UINT32_MAX);
	assert_int_equal(f.last_upper, UINT32_MAX);
	assert_i64_equal(core_backoff(40, 1, INT64_MAX, &hi), (int64_t)UINT32_MAX);
	/* Below that, the span is exact: 2^31 - 1 + 1 values. */
	assert_i64_equal(core_backoff(31, 1, INT64_MAX, &hi), (int64_t)1 << 31);
	/* A source answering out of range is clamped. */
	assert_i64_equal(core_backoff(2, 30, 3600, &broken), 120);
}

static void test_backoff_guards(void **state)
{
	struct fake_rand f = {0};
	struct core_rand hi = {fake_top, &f};
	struct core_rand nofn = {NULL, &f};

	(void)state;
	assert_i64_equal(core_backoff(-1, 30, 3600, &hi), 30);
	assert_i64_equal(core_backoff(INT_MIN, 30, 3600, &hi), 30);
	/* A zero or negative base would retry in a tight loop. */
	assert_i64_equal(core_backoff(0, 0, 3600, &hi), 1);
	assert_i64_equal(core_backoff(3, 0, 3600, &hi), 8);
	assert_i64_equal(core_backoff(0, -10, 3600, &hi), 1);
	assert_i64_equal(core_backoff(0, INT64_MIN, INT64_MIN, &hi), 1);
	/* cap below base: base. */
	assert_i64_equal(core_backoff(5, 30, 10, &hi), 30);
	assert_i64_equal(core_backoff(5, 30, -1, &hi), 30);
	/* Without randomness: the lower bound. */
	assert_i64_equal(core_backoff(5, 30, 3600, NULL), 30);
	assert_i64_equal(core_backoff(5, 30, 3600, &nofn), 30);
}

/* Many draws from a pseudo-random source at every attempt stay within
 * [base, min(cap, base * 2^attempt)]. */
static void test_backoff_property(void **state)
{
	struct fake_rand f = {.state = 42};
	struct core_rand r = {fake_lcg, &f};
	const int64_t bases[] = {1, 30, 1000};
	size_t b;
	int attempt, n;

	(void)state;
	for (b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		for (attempt = 0; attempt < 80; attempt++) {
			int64_t top = 3600;

			if (attempt < 20 && (bases[b] << attempt) < top)
				top = bases[b] << attempt;
			if (top < bases[b])
				top = bases[b];
			for (n = 0; n < 200; n++)
				assert_i64_between(core_backoff(attempt, bases[b], 3600, &r),
						   bases[b], top);
		}
	}
}

/* ---- core_check_fresh --------------------------------------------------- */

static void test_fresh_window(void **state)
{
	(void)state;
	/* The window is inclusive on both sides. */
	assert_int_equal(core_check_fresh(1000, 1000, 300, 2, 1), CORE_FRESH_OK);
	assert_int_equal(core_check_fresh(1300, 1000, 300, 2, 1), CORE_FRESH_OK);
	assert_int_equal(core_check_fresh(700, 1000, 300, 2, 1), CORE_FRESH_OK);
	/* Clock ahead of the site, and behind it. */
	assert_int_equal(core_check_fresh(1301, 1000, 300, 2, 1), CORE_FRESH_SKEW);
	assert_int_equal(core_check_fresh(699, 1000, 300, 2, 1), CORE_FRESH_SKEW);
	assert_int_equal(core_check_fresh(0, 1764000000, 300, 2, 1), CORE_FRESH_SKEW);
	/* A negative window means no tolerance at all. */
	assert_int_equal(core_check_fresh(1000, 1000, -5, 2, 1), CORE_FRESH_OK);
	assert_int_equal(core_check_fresh(1001, 1000, -5, 2, 1), CORE_FRESH_SKEW);
	assert_int_equal(core_check_fresh(999, 1000, 0, 2, 1), CORE_FRESH_SKEW);
}

static void test_fresh_replay(void **state)
{
	(void)state;
	/* An equal sequence is a replay: it must strictly increase. */
	assert_int_equal(core_check_fresh(1000, 1000, 300, 5, 5), CORE_FRESH_REPLAY);
	assert_int_equal(core_check_fresh(1000, 1000, 300, 4, 5), CORE_FRESH_REPLAY);
	assert_int_equal(core_check_fresh(1000, 1000, 300, 0, 0), CORE_FRESH_REPLAY);
	assert_int_equal(core_check_fresh(1000, 1000, 300, 6, 5), CORE_FRESH_OK);
	assert_int_equal(core_check_fresh(1000, 1000, 300, 1, 0), CORE_FRESH_OK);
	assert_int_equal(core_check_fresh(1000, 1000, 300, UINT64_MAX, UINT64_MAX),
			 CORE_FRESH_REPLAY);
	assert_int_equal(core_check_fresh(1000, 1000, 300, UINT64_MAX, UINT64_MAX - 1),
			 CORE_FRESH_OK);
	/* Stale and replayed: skew is reported. */
	assert_int_equal(core_check_fresh(2000, 1000, 300, 5, 5), CORE_FRESH_SKEW);
}

static void test_fresh_extremes(void **state)
{
	(void)state;
	/* Distances that overflow a signed subtraction. */
	assert_int_equal(core_check_fresh(INT64_MIN, INT64_MAX, INT64_MAX, 2, 1), CORE_FRESH_SKEW);
	assert_int_equal(core_check_fresh(INT64_MAX, INT64_MIN, INT64_MAX, 2, 1), CORE_FRESH_SKEW);
	assert_int_equal(core_check_fresh(INT64_MAX, -1, 300, 2, 1), CORE_FRESH_SKEW);
	assert_int_equal(core_check_fresh(INT64_MIN, 1, 300, 2, 1), CORE_FRESH_SKEW);
	assert_int_equal(core_check_fresh(0, INT64_MAX, INT64_MAX, 2, 1), CORE_FRESH_OK);
	assert_int_equal(core_check_fresh(INT64_MAX, INT64_MAX - 1, 1, 2, 1), CORE_FRESH_OK);
	assert_int_equal(core_check_fresh(INT64_MIN, INT64_MIN, 0, 2, 1), CORE_FRESH_OK);
}

/* ---- boundaries --------------------------------------------------------- */

static void test_addr_parse(void **state)
{
	uint8_t a[16];
	static const uint8_t zero[16];
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

	(void)state;
	memset(a, 0xff, sizeof(a));
	assert_int_equal(core_addr_parse("10.1.2.3", a), 4);
	assert_int_equal(a[0], 10);
	assert_int_equal(a[3], 3);
	/* The rest is cleared, so a stale buffer cannot leak into a match. */
	assert_memory_equal(a + 4, zero, 12);

	assert_int_equal(core_addr_parse("2001:db8::1", a), 6);
	assert_memory_equal(a, v6, 16);
	assert_int_equal(core_addr_parse("::", a), 6);
	assert_memory_equal(a, zero, 16);

	/* Invalid input leaves out alone. */
	memset(a, 0x5a, sizeof(a));
	assert_int_equal(core_addr_parse("", a), 0);
	assert_int_equal(core_addr_parse("10.1.2", a), 0);
	assert_int_equal(core_addr_parse("10.1.2.3 ", a), 0);
	assert_int_equal(core_addr_parse(" 10.1.2.3", a), 0);
	assert_int_equal(core_addr_parse("10.1.2.256", a), 0);
	assert_int_equal(core_addr_parse("2001:db8::g", a), 0);
	assert_int_equal(core_addr_parse("fe80::1%eth0", a), 0);
	assert_int_equal(core_addr_parse("10.1.2.3/32", a), 0);
	assert_int_equal(core_addr_parse("host.example", a), 0);
	assert_int_equal(core_addr_parse(NULL, a), 0);
	assert_int_equal(a[0], 0x5a);
	assert_int_equal(a[15], 0x5a);
	assert_int_equal(core_addr_parse("10.1.2.3", NULL), 0);
}

static void test_boundary_parse_ok(void **state)
{
	struct core_boundary b;
	char msg[128];
	static const uint8_t v4[16] = {10, 1};
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
	static const uint8_t zero[16];
	static const uint8_t host6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

	(void)state;
	assert_int_equal(core_boundary_parse("10.1.0.0/16 ABC", &b, msg, sizeof(msg)), 0);
	assert_int_equal(b.family, 4);
	assert_int_equal(b.prefix, 16);
	assert_memory_equal(b.addr, v4, 16);
	assert_string_equal(b.site, "ABC");
	assert_string_equal(msg, "");

	assert_int_equal(core_boundary_parse("2001:db8::/32 X9Z", &b, msg, sizeof(msg)), 0);
	assert_int_equal(b.family, 6);
	assert_int_equal(b.prefix, 32);
	assert_memory_equal(b.addr, v6, 16);
	assert_string_equal(b.site, "X9Z");

	/* Surrounding and separating whitespace of any kind. */
	assert_int_equal(core_boundary_parse(" \t10.1.0.0/16\t \tABC \r\n", &b, msg, sizeof(msg)),
			 0);
	assert_int_equal(b.prefix, 16);
	assert_string_equal(b.site, "ABC");

	/* Whole ranges and single hosts. */
	assert_int_equal(core_boundary_parse("0.0.0.0/0 ALL", &b, msg, sizeof(msg)), 0);
	assert_int_equal(b.prefix, 0);
	assert_memory_equal(b.addr, zero, 16);
	assert_int_equal(core_boundary_parse("::/0 000", &b, msg, sizeof(msg)), 0);
	assert_int_equal(b.family, 6);
	assert_int_equal(b.prefix, 0);
	assert_int_equal(core_boundary_parse("255.255.255.255/32 H01", &b, msg, sizeof(msg)), 0);
	assert_int_equal(b.prefix, 32);
	assert_int_equal(b.addr[3], 255);
	assert_int_equal(core_boundary_parse("2001:db8::1/128 H02", &b, msg, sizeof(msg)), 0);
	assert_int_equal(b.prefix, 128);
	assert_memory_equal(b.addr, host6, 16);
	assert_int_equal(core_boundary_parse("10.1.128.0/17 ODD", &b, msg, sizeof(msg)), 0);
	assert_int_equal(b.prefix, 17);

	/* msg is optional. */
	assert_int_equal(core_boundary_parse("10.0.0.0/8 AAA", &b, NULL, 0), 0);
}

struct parse_error_case {
	const char *text;
	const char *msg; /* expected exactly, or NULL to match only `part` */
	const char *part;
};

static const struct parse_error_case parse_errors[] = {
    {"", NULL, "empty boundary"},
    {" \t\n", NULL, "empty boundary"},
    {"10.1.0.0 ABC", "'10.1.0.0' has no /prefix; expected CIDR like '10.1.0.0/16'", NULL},
    {"10.1.0.0", NULL, "has no /prefix"},
    {"/16 ABC", "missing address before '/'", NULL},
    {"10.1.0/16 ABC", "'10.1.0' is not a valid IPv4 address", NULL},
    {"10.1.0.256/32 ABC", "'10.1.0.256' is not a valid IPv4 address", NULL},
    {"1.2.3.4.5/32 ABC", NULL, "not a valid IPv4 address"},
    {"ten.0.0.0/8 ABC", NULL, "not a valid IPv4 address"},
    {"2001:db8::g/32 ABC", "'2001:db8::g' is not a valid IPv6 address", NULL},
    {"fe80::%eth0/64 ABC", NULL, "not a valid IPv6 address"},
    {"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa/64 ABC", NULL, "is too long"},
    {"10.1.0.0/ ABC", "missing prefix length after '10.1.0.0/'", NULL},
    {"10.1.0.0/", NULL, "missing prefix length"},
    {"10.1.0.0/-1 ABC", NULL, "missing prefix length"},
    {"10.1.0.0/+16 ABC", NULL, "missing prefix length"},
    {"10.1.0.0/33 ABC", "prefix /33 is out of range for IPv4 (0-32)", NULL},
    {"10.1.0.0/100 ABC", "prefix /100 is out of range for IPv4 (0-32)", NULL},
    {"2001:db8::/129 ABC", "prefix /129 is out of range for IPv6 (0-128)", NULL},
    {"10.1.0.0/99999999999999999999999 ABC", NULL, "is out of range for IPv4 (0-32)"},
    {"10.1.0.0/016 ABC", "prefix /016 has a leading zero", NULL},
    {"10.0.0.0/00 ABC", NULL, "leading zero"},
    {"10.1.0.0/16x ABC", "unexpected 'x' after prefix /16", NULL},
    {"10.1.0.0/16ABC", "unexpected 'ABC' after prefix /16", NULL},
    {"10.1.0.0/16/8 ABC", "unexpected '/8' after prefix /16", NULL},
    {"10.1.0.1/16 ABC", "10.1.0.1/16 has host bits set; the network is 10.1.0.0/16", NULL},
    {"10.1.2.3/24 ABC", "10.1.2.3/24 has host bits set; the network is 10.1.2.0/24", NULL},
    {"10.1.255.0/17 ABC", "10.1.255.0/17 has host bits set; the network is 10.1.128.0/17", NULL},
    {"10.0.0.0/0 ABC", "10.0.0.0/0 has host bits set; the network is 0.0.0.0/0", NULL},
    {"2001:db8::1/64 ABC", "2001:db8::1/64 has host bits set; the network is 2001:db8::/64", NULL},
    {"10.1.0.0/16", "missing site code after 10.1.0.0/16", NULL},
    {"10.1.0.0/16 \t ", "missing site code after 10.1.0.0/16", NULL},
    {"10.1.0.0/16 abc", "site code 'abc' must be exactly 3 characters A-Z or 0-9", NULL},
    {"10.1.0.0/16 AB", "site code 'AB' must be exactly 3 characters A-Z or 0-9", NULL},
    {"10.1.0.0/16 ABCD", "site code 'ABCD' must be exactly 3 characters A-Z or 0-9", NULL},
    {"10.1.0.0/16 A-C", NULL, "site code 'A-C'"},
    {"10.1.0.0/16 AbC", NULL, "site code 'AbC'"},
    {"10.1.0.0/16 ABC DEF", "'DEF' after site code ABC is not a link class (lan, wan, slow or metered)", NULL},
    {"10.1.0.0/16 ABC # office", NULL, "'#' after site code ABC is not a link class"},
    {"10.1.0.0/16 ABC final", NULL, "'final' after site code ABC is not a link class"},
    {"10.1.0.0/16 ABC slow fast", "unexpected 'fast' after ABC slow", NULL},
    {"10.1.0.0/16 ABC slow final x", "unexpected 'x' after ABC slow final", NULL},
    {"10.1.0.0/16 ABC SLOW", NULL, "is not a link class"},
};

static void test_boundary_link_class(void **state)
{
	struct core_boundary b[3];
	char msg[256];
	const char *addrs[] = {"10.8.1.2"};

	(void)state;
	assert_int_equal(core_boundary_parse("10.8.0.0/16 BR1 slow", &b[0], msg, sizeof(msg)), 0);
	assert_int_equal(b[0].link_class, CORE_LC_SLOW);
	assert_false(b[0].final);
	assert_int_equal(core_boundary_parse("10.8.1.0/24 BR1 metered final ", &b[1], msg,
					     sizeof(msg)),
			 0);
	assert_int_equal(b[1].link_class, CORE_LC_METERED);
	assert_true(b[1].final);
	assert_int_equal(core_boundary_parse("10.0.0.0/8 ABC", &b[2], msg, sizeof(msg)), 0);
	assert_int_equal(b[2].link_class, CORE_LC_NONE);
	assert_int_equal(core_boundary_find(b, 3, addrs, 1), 1);
	assert_string_equal(core_boundary_assign(b, 3, addrs, 1), "BR1");
}

static void test_link_policy(void **state)
{
	struct core_link_policy p = {.deadline = 77};
	char msg[256], text[128];

	(void)state;
	assert_int_equal(core_link_policy_parse("", &p, msg, sizeof(msg)), 0);
	core_link_policy_format(&p, text, sizeof(text));
	assert_string_equal(text, "lan=download,wan=download,slow=defer,metered=defer");
	assert_int_equal(p.deadline, 77);
	assert_int_equal(core_link_policy_parse("slow=download-in-window,metered=never,lan=defer",
						&p, msg, sizeof(msg)),
			 0);
	core_link_policy_format(&p, text, sizeof(text));
	assert_string_equal(text,
			    "lan=defer,wan=download,slow=download-in-window,metered=never");
	assert_int_equal(core_link_policy_parse("slow=fast", &p, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "unknown action 'fast' for slow links"));
	assert_int_equal(core_link_policy_parse("modem=defer", &p, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "unknown link class 'modem'"));
	assert_int_equal(core_link_policy_parse("slow", &p, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "is not CLASS=ACTION"));
	assert_int_equal(core_link_policy_parse("slow=defer,", &p, msg, sizeof(msg)), -1);
	assert_int_equal(core_link_policy_parse("slow=defer,,wan=never", &p, msg, sizeof(msg)), -1);
	/* a refused spec leaves the policy as it was */
	core_link_policy_format(&p, text, sizeof(text));
	assert_string_equal(text,
			    "lan=defer,wan=download,slow=download-in-window,metered=never");
}

static void test_link_classify(void **state)
{
	struct core_link_thresholds t = {.slow_kbps = 1000, .wan_kbps = 20000, .max_age = 3600};
	struct core_link_obs o = {.kbps = 48, .rtt_ms = 600, .measured = 1000};
	enum core_link_source src;
	char text[96];

	(void)state;
	assert_int_equal(core_link_classify(0, false, NULL, 1000, &t, &src), CORE_LC_LAN);
	assert_int_equal(src, CORE_LS_DEFAULT);
	assert_int_equal(core_link_classify(0, false, &o, 1000, &t, &src), CORE_LC_SLOW);
	assert_int_equal(src, CORE_LS_MEASURED);
	core_link_describe_class(CORE_LC_SLOW, src, o.kbps, text, sizeof(text));
	assert_string_equal(text, "slow link (measured 48 kbit/s)");
	/* measurement wins over a boundary's class, unless it is final */
	assert_int_equal(core_link_classify(CORE_LC_LAN, false, &o, 1000, &t, &src), CORE_LC_SLOW);
	assert_int_equal(core_link_classify(CORE_LC_LAN, true, &o, 1000, &t, &src), CORE_LC_LAN);
	assert_int_equal(src, CORE_LS_BOUNDARY_FINAL);
	/* a stale measurement is not used */
	assert_int_equal(core_link_classify(CORE_LC_WAN, false, &o, 1000 + 3601, &t, &src),
			 CORE_LC_WAN);
	assert_int_equal(src, CORE_LS_BOUNDARY);
	o.kbps = 5000;
	assert_int_equal(core_link_classify(0, false, &o, 1000, &t, &src), CORE_LC_WAN);
	o.kbps = 90000;
	assert_int_equal(core_link_classify(CORE_LC_SLOW, false, &o, 1000, &t, &src), CORE_LC_LAN);
	core_link_describe_class(CORE_LC_LAN, src, o.kbps, text, sizeof(text));
	assert_string_equal(text, "lan link (measured 90 Mbit/s)");
	/* metered is about cost: a fast transfer does not end it */
	assert_int_equal(core_link_classify(CORE_LC_METERED, false, &o, 1000, &t, &src),
			 CORE_LC_METERED);
	o.metered = true;
	assert_int_equal(core_link_classify(0, false, &o, 1000, &t, &src), CORE_LC_METERED);
	assert_int_equal(src, CORE_LS_AGENT);
	/* the site's own machine: lan, however slow a busy machine measured;
	 * a final boundary and metered still say otherwise */
	o.metered = false;
	o.kbps = 48;
	o.local = true;
	assert_int_equal(core_link_classify(0, false, &o, 1000, &t, &src), CORE_LC_LAN);
	assert_int_equal(src, CORE_LS_LOCAL);
	assert_int_equal(core_link_classify(CORE_LC_WAN, true, &o, 1000, &t, &src), CORE_LC_WAN);
	o.metered = true;
	assert_int_equal(core_link_classify(0, false, &o, 1000, &t, &src), CORE_LC_METERED);
}

static void test_link_gate(void **state)
{
	struct core_link_policy p;
	char why[160];

	(void)state;
	core_link_policy_default(&p);
	assert_int_equal(core_link_gate(&p, CORE_LC_LAN, 10, false, false, "x", why, sizeof(why)),
			 CORE_LINK_GO);
	assert_int_equal(core_link_gate(&p, CORE_LC_SLOW, 10, true, true,
					"slow link (measured 48 kbit/s)", why, sizeof(why)),
			 CORE_LINK_WAIT);
	assert_string_equal(why, "deferred: slow link (measured 48 kbit/s): waits for a faster link");
	p.deadline = 100;
	assert_int_equal(core_link_gate(&p, CORE_LC_SLOW, 99, false, false, "s", why, sizeof(why)),
			 CORE_LINK_WAIT);
	assert_int_equal(core_link_gate(&p, CORE_LC_SLOW, 100, false, false, "s", why, sizeof(why)),
			 CORE_LINK_GO);
	assert_int_equal(core_link_policy_parse("slow=download-in-window,metered=never", &p, why,
						sizeof(why)),
			 0);
	assert_int_equal(core_link_gate(&p, CORE_LC_SLOW, 10, true, true, "s", why, sizeof(why)),
			 CORE_LINK_GO);
	assert_int_equal(core_link_gate(&p, CORE_LC_SLOW, 10, false, false, "s", why, sizeof(why)),
			 CORE_LINK_WAIT);
	assert_non_null(strstr(why, "only in a maintenance window and this client has none"));
	assert_int_equal(core_link_gate(&p, CORE_LC_METERED, 10, true, true,
					"metered link (boundary)", why, sizeof(why)),
			 CORE_LINK_NEVER);
	assert_string_equal(why, "not downloaded: metered link (boundary): never on metered links");
}

static void test_boundary_parse_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(parse_errors) / sizeof(parse_errors[0]); i++) {
		const struct parse_error_case *c = &parse_errors[i];
		struct core_boundary b, untouched;
		char msg[160];
		int rc;

		memset(&b, 0xaa, sizeof(b));
		memcpy(&untouched, &b, sizeof(b));
		rc = core_boundary_parse(c->text, &b, msg, sizeof(msg));
		if (rc != -1)
			fail_msg("\"%s\" parsed (rc %d), expected a refusal", c->text, rc);
		if (c->msg && strcmp(msg, c->msg) != 0)
			fail_msg("\"%s\": message \"%s\", expected \"%s\"", c->text, msg, c->msg);
		if (c->part && !strstr(msg, c->part))
			fail_msg("\"%s\": message \"%s\" does not say \"%s\"", c->text, msg,
				 c->part);
		/* A refused line leaves the output alone. */
		assert_memory_equal(&b, &untouched, sizeof(b));
	}
}

static void test_boundary_parse_guards(void **state)
{
	struct core_boundary b;
	char msg[10];

	(void)state;
	assert_int_equal(core_boundary_parse(NULL, &b, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "no bounda");
	assert_int_equal(core_boundary_parse("10.0.0.0/8 AAA", NULL, msg, sizeof(msg)), -1);
	/* No room for a message, or none wanted. */
	assert_int_equal(core_boundary_parse("10.0.0.0/33 AAA", &b, NULL, 0), -1);
	msg[0] = 'x';
	assert_int_equal(core_boundary_parse("10.0.0.0/33 AAA", &b, msg, 0), -1);
	assert_int_equal(msg[0], 'x');
	assert_int_equal(core_boundary_parse("10.0.0.0/33 AAA", &b, msg, 1), -1);
	assert_string_equal(msg, "");
	/* Long junk is echoed only in part. */
	{
		char big[300], out[512];

		memset(big, 'A', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		memcpy(big, "10.0.0.0/8 ", 11);
		assert_int_equal(core_boundary_parse(big, &b, out, sizeof(out)), -1);
		assert_true(strlen(out) < 120);
		assert_non_null(strstr(out, "site code"));
	}
}

static const char *assign1(const struct core_boundary *b, size_t nb, const char *addr)
{
	return core_boundary_assign(b, nb, &addr, 1);
}

static void parse_all(const char *const *lines, size_t n, struct core_boundary *out)
{
	char msg[128];
	size_t i;

	for (i = 0; i < n; i++)
		if (core_boundary_parse(lines[i], &out[i], msg, sizeof(msg)) != 0)
			fail_msg("\"%s\": %s", lines[i], msg);
}

static void test_assign_ipv4(void **state)
{
	/* Deliberately not sorted by prefix. */
	static const char *const lines[] = {
	    "10.0.0.0/8 AAA",	 "10.1.2.0/24 CCC",    "10.1.0.0/16 BBB",
	    "10.1.128.0/17 ODD", "192.168.7.7/32 HST",
	};
	struct core_boundary b[5];

	(void)state;
	parse_all(lines, 5, b);
	assert_string_equal(assign1(b, 5, "10.1.2.3"), "CCC");
	assert_string_equal(assign1(b, 5, "10.1.9.9"), "BBB");
	assert_string_equal(assign1(b, 5, "10.1.127.255"), "BBB");
	assert_string_equal(assign1(b, 5, "10.1.128.0"), "ODD");
	assert_string_equal(assign1(b, 5, "10.1.200.1"), "ODD");
	assert_string_equal(assign1(b, 5, "10.200.0.1"), "AAA");
	assert_string_equal(assign1(b, 5, "192.168.7.7"), "HST");
	assert_null(assign1(b, 5, "192.168.7.8"));
	assert_null(assign1(b, 5, "11.0.0.0"));
	/* IPv6 addresses never match IPv4 boundaries. */
	assert_null(assign1(b, 5, "::a01:203"));
}

static void test_assign_ipv6(void **state)
{
	static const char *const lines[] = {
	    "2001:db8::/32 DDD",
	    "2001:db8:1::/48 EEE",
	    "2001:db8:1:8000::/49 FFF",
	    "::/0 ANY",
	};
	struct core_boundary b[4];

	(void)state;
	parse_all(lines, 4, b);
	assert_string_equal(assign1(b, 4, "2001:db8:1::5"), "EEE");
	assert_string_equal(assign1(b, 4, "2001:db8:1:8000::5"), "FFF");
	assert_string_equal(assign1(b, 4, "2001:db8:1:7fff::5"), "EEE");
	assert_string_equal(assign1(b, 4, "2001:db8:2::5"), "DDD");
	assert_string_equal(assign1(b, 4, "2001:db9::1"), "ANY");
	assert_string_equal(assign1(b, 4, "fe80::1"), "ANY");
	/* ::/0 is all of IPv6, not IPv4. */
	assert_null(assign1(b, 4, "10.1.2.3"));
}

static void test_assign_mixed(void **state)
{
	static const char *const lines[] = {
	    "10.1.0.0/16 BBB",	 "2001:db8:1::/48 EEE", "10.1.2.3/32 HST",
	    "2001:db8::/32 DDD", "0.0.0.0/0 ALL",
	};
	const char *v4_first[] = {"10.1.2.3", "2001:db8:1::5"};
	const char *v6_first[] = {"2001:db8:1::5", "10.1.2.3"};
	const char *v4_other[] = {"10.1.9.9", "2001:db8:1::5"};
	const char *junk[] = {"not-an-address", NULL, "", "10.1.9.9"};
	struct core_boundary b[5];

	(void)state;
	parse_all(lines, 5, b);
	/* /48 beats /16 across families. */
	assert_string_equal(core_boundary_assign(b, 2, v4_other, 2), "EEE");
	assert_string_equal(core_boundary_assign(b, 5, v4_other, 2), "EEE");
	/* /32 (IPv4 host) ties /32 (IPv6): the earlier boundary wins, whatever
	 * the order of the addresses. */
	assert_string_equal(core_boundary_assign(b + 2, 2, v4_first, 2), "HST");
	assert_string_equal(core_boundary_assign(b + 2, 2, v6_first, 2), "HST");
	/* /48 beats both /32s. */
	assert_string_equal(core_boundary_assign(b, 5, v4_first, 2), "EEE");
	assert_string_equal(core_boundary_assign(b, 5, v6_first, 2), "EEE");
	/* The IPv4 default route still catches an otherwise unknown client. */
	assert_string_equal(assign1(b, 5, "172.16.0.1"), "ALL");
	/* Unreadable addresses are skipped, the rest still match. */
	assert_string_equal(core_boundary_assign(b, 2, junk, 4), "BBB");
	assert_null(core_boundary_assign(b, 2, junk, 3));
}

static void test_assign_guards(void **state)
{
	struct core_boundary b[3];
	const char *addr = "10.1.2.3";
	char msg[64];

	(void)state;
	assert_int_equal(core_boundary_parse("10.1.0.0/16 BBB", &b[0], msg, sizeof(msg)), 0);
	assert_null(core_boundary_assign(NULL, 1, &addr, 1));
	assert_null(core_boundary_assign(b, 1, NULL, 1));
	assert_null(core_boundary_assign(b, 0, &addr, 1));
	assert_null(core_boundary_assign(b, 1, &addr, 0));

	/* Hand-built boundaries that would read out of bounds or hand back an
	 * unterminated site are ignored. */
	b[1] = b[0];
	b[1].prefix = 200;
	memcpy(b[1].site, "BAD", 4);
	b[2] = b[0];
	b[2].prefix = 24;
	memcpy(b[2].site, "XYZW", 4);
	assert_string_equal(core_boundary_assign(b, 3, &addr, 1), "BBB");
	b[1].prefix = -1;
	b[1].family = 5;
	assert_string_equal(core_boundary_assign(b, 2, &addr, 1), "BBB");
}

/* ---- the agent state machine ------------------------------------------- */

static void assert_agent_equal(const struct core_agent *x, const struct core_agent *y)
{
	assert_int_equal(x->enrolled, y->enrolled);
	assert_int_equal(x->have_session, y->have_session);
	assert_i64_equal(x->session_expires, y->session_expires);
	assert_i64_equal(x->next_at, y->next_at);
	assert_int_equal(x->failures, y->failures);
	assert_i64_equal(x->interval, y->interval);
	assert_i64_equal(x->jitter, y->jitter);
	assert_i64_equal(x->backoff_base, y->backoff_base);
	assert_i64_equal(x->backoff_cap, y->backoff_cap);
}

/* An enrolled agent with a session that never runs out, nothing failed. */
static void agent_steady(struct core_agent *a, int64_t now)
{
	core_agent_init(a, now);
	a->enrolled = true;
	a->have_session = true;
	a->session_expires = INT64_MAX;
}

static void test_agent_init(void **state)
{
	struct core_agent a;

	(void)state;
	memset(&a, 0x77, sizeof(a));
	core_agent_init(&a, 1764000000);
	assert_false(a.enrolled);
	assert_false(a.have_session);
	assert_i64_equal(a.next_at, 1764000000);
	assert_int_equal(a.failures, 0);
	assert_i64_equal(a.interval, 82800);
	assert_i64_equal(a.jitter, 3600);
	assert_i64_equal(a.backoff_base, 30);
	assert_i64_equal(a.backoff_cap, 3600);
	assert_int_equal(core_agent_next(&a, 1764000000), CORE_ACT_ENROLL);
	assert_int_equal(core_agent_next(&a, 1764000000 - 1), CORE_ACT_SLEEP);
}

static void test_agent_cycle(void **state)
{
	struct fake_rand f = {0};
	struct core_rand lo = {fake_zero, &f};
	struct core_rand hi = {fake_top, &f};
	struct core_agent a;
	int64_t now = 1000;

	(void)state;
	core_agent_init(&a, now);
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_ENROLL);
	core_agent_done(&a, CORE_ACT_ENROLL, CORE_RES_OK, now, 0, &lo);
	assert_true(a.enrolled);
	assert_false(a.have_session);
	assert_i64_equal(a.next_at, now);

	/* Go on at once: open a session. */
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_OPEN_SESSION);
	a.session_expires = now + 3600;
	core_agent_done(&a, CORE_ACT_OPEN_SESSION, CORE_RES_OK, now, 0, &lo);
	assert_true(a.have_session);
	assert_i64_equal(a.next_at, now);
	assert_i64_equal(a.session_expires, now + 3600);

	/* Then check in; the site's schedule decides the next one. */
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_CHECKIN);
	a.interval = 600;
	a.jitter = 60;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_OK, now, 0, &lo);
	assert_i64_equal(a.next_at, now + 600);
	assert_int_equal(f.last_upper, 61);
	assert_int_equal(a.failures, 0);
	assert_i64_equal(a.interval, 600);
	assert_i64_equal(a.jitter, 60);
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_SLEEP);
	assert_int_equal(core_agent_next(&a, now + 599), CORE_ACT_SLEEP);
	assert_int_equal(core_agent_next(&a, now + 600), CORE_ACT_CHECKIN);

	now += 600;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_OK, now, 0, &hi);
	assert_i64_equal(a.next_at, now + 660);

	/* The session ends at 4600; it is renewed within 60 s of that, and
	 * only when a check-in is due. */
	now = 4540 - 1;
	a.next_at = now;
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_CHECKIN);
	a.next_at = now + 1;
	assert_int_equal(core_agent_next(&a, now + 1), CORE_ACT_OPEN_SESSION);
	a.next_at = 4580;
	assert_int_equal(core_agent_next(&a, 4579), CORE_ACT_SLEEP);
	assert_int_equal(core_agent_next(&a, 4580), CORE_ACT_OPEN_SESSION);
	assert_int_equal(core_agent_next(&a, 9999), CORE_ACT_OPEN_SESSION);

	/* A new session keeps a next_at that is still ahead. */
	a.session_expires = 20000;
	core_agent_done(&a, CORE_ACT_OPEN_SESSION, CORE_RES_OK, 4000, 0, &lo);
	assert_i64_equal(a.next_at, 4580);
	assert_i64_equal(a.session_expires, 20000);
	assert_int_equal(core_agent_next(&a, 4580), CORE_ACT_CHECKIN);
}

static void test_agent_retry(void **state)
{
	struct fake_rand f = {0};
	struct core_rand lo = {fake_zero, &f};
	struct core_rand hi = {fake_top, &f};
	struct core_agent a;
	int64_t now = 5000, expect[] = {30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600};
	size_t i;

	(void)state;
	/* Backoff doubles to the cap at the top of each interval... */
	agent_steady(&a, now);
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, now, 0, &hi);
		assert_int_equal(a.failures, (int)i + 1);
		assert_i64_equal(a.next_at, now + expect[i]);
		assert_int_equal(core_agent_next(&a, a.next_at - 1), CORE_ACT_SLEEP);
		assert_int_equal(core_agent_next(&a, a.next_at), CORE_ACT_CHECKIN);
		now = a.next_at;
	}
	/* ...and never goes below the base. */
	agent_steady(&a, now);
	for (i = 0; i < 10; i++) {
		core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, now, 0, &lo);
		assert_i64_equal(a.next_at, now + 30);
	}
	/* The session survives a transient failure. */
	assert_true(a.have_session);
	assert_true(a.enrolled);
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_OK, now, 0, &lo);
	assert_int_equal(a.failures, 0);
}

static void test_agent_retry_after(void **state)
{
	struct fake_rand f = {0};
	struct core_rand hi = {fake_top, &f};
	struct core_agent a;
	int64_t now = 5000;

	(void)state;
	/* Retry-After longer than the backoff wins. */
	agent_steady(&a, now);
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, now, 600, &hi);
	assert_i64_equal(a.next_at, now + 600);
	assert_int_equal(a.failures, 1);
	/* Shorter: the backoff wins (failures 1 -> up to 60). */
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, now, 10, &hi);
	assert_i64_equal(a.next_at, now + 60);
	/* A negative Retry-After is ignored. */
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, now, -100000, &hi);
	assert_i64_equal(a.next_at, now + 120);
	/* A huge one saturates instead of wrapping. */
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, now, INT64_MAX, &hi);
	assert_i64_equal(a.next_at, INT64_MAX);

	/* CLOCK_SKEW backs off like RETRY and honours Retry-After. */
	agent_steady(&a, now);
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_CLOCK_SKEW, now, 0, &hi);
	assert_i64_equal(a.next_at, now + 30);
	assert_int_equal(a.failures, 1);
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_CLOCK_SKEW, now, 900, &hi);
	assert_i64_equal(a.next_at, now + 900);
	assert_int_equal(a.failures, 2);
	assert_true(a.have_session);

	/* Enrollment and session opening back off too. */
	core_agent_init(&a, now);
	core_agent_done(&a, CORE_ACT_ENROLL, CORE_RES_RETRY, now, 0, &hi);
	assert_i64_equal(a.next_at, now + 30);
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_SLEEP);
	assert_int_equal(core_agent_next(&a, now + 30), CORE_ACT_ENROLL);
	core_agent_done(&a, CORE_ACT_ENROLL, CORE_RES_OK, now + 30, 0, &hi);
	assert_int_equal(a.failures, 0);
	core_agent_done(&a, CORE_ACT_OPEN_SESSION, CORE_RES_RETRY, now + 30, 503, &hi);
	assert_i64_equal(a.next_at, now + 30 + 503);
	assert_int_equal(core_agent_next(&a, now + 532), CORE_ACT_SLEEP);
	assert_int_equal(core_agent_next(&a, now + 533), CORE_ACT_OPEN_SESSION);
}

static void test_agent_refused(void **state)
{
	struct fake_rand f = {0};
	struct core_rand hi = {fake_top, &f};
	struct core_agent a;
	int64_t now = 5000;
	int i;

	(void)state;
	/* A permanent refusal waits a full interval, every time. */
	agent_steady(&a, now);
	for (i = 1; i <= 20; i++) {
		core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_REFUSED, now, 0, &hi);
		assert_int_equal(a.failures, i);
		assert_i64_equal(a.next_at, now + 82800);
		now = a.next_at;
	}
	assert_true(a.enrolled);
	assert_true(a.have_session);
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_CHECKIN);

	/* Retry-After beyond the interval is honoured. */
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_REFUSED, now, 100000, &hi);
	assert_i64_equal(a.next_at, now + 100000);
	/* The site's interval is used... */
	a.interval = 600;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_REFUSED, now, 0, &hi);
	assert_i64_equal(a.next_at, now + 600);
	/* ...unless it is nonsense: never a tight loop. */
	a.interval = 0;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_REFUSED, now, 0, &hi);
	assert_i64_equal(a.next_at, now + 82800);
	a.interval = -5;
	core_agent_done(&a, CORE_ACT_ENROLL, CORE_RES_REFUSED, now, 0, &hi);
	assert_i64_equal(a.next_at, now + 82800);
	assert_i64_equal(a.interval, -5);
	/* A successful check-in with a bad interval falls back too. */
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_OK, now, 0, &hi);
	assert_i64_equal(a.next_at, now + 82800 + 3600);
	assert_int_equal(a.failures, 0);
}

static void test_agent_session_bad(void **state)
{
	struct fake_rand f = {0};
	struct core_rand hi = {fake_top, &f};
	struct core_agent a;
	int64_t now = 5000;

	(void)state;
	agent_steady(&a, now);
	/* First: sessions expire, that is normal; reopen at once. */
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_SESSION_BAD, now, 0, &hi);
	assert_false(a.have_session);
	assert_true(a.enrolled);
	assert_i64_equal(a.next_at, now);
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_OPEN_SESSION);
	a.session_expires = now + 3600;
	core_agent_done(&a, CORE_ACT_OPEN_SESSION, CORE_RES_OK, now, 0, &hi);
	assert_true(a.have_session);
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_CHECKIN);

	/* Second in a row, with a brand new session: back off. */
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_SESSION_BAD, now, 0, &hi);
	assert_false(a.have_session);
	assert_i64_equal(a.next_at, now + 30);
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_SLEEP);
	assert_int_equal(core_agent_next(&a, now + 29), CORE_ACT_SLEEP);
	now += 30;
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_OPEN_SESSION);
	core_agent_done(&a, CORE_ACT_OPEN_SESSION, CORE_RES_OK, now, 0, &hi);

	/* Third: longer. */
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_SESSION_BAD, now, 0, &hi);
	assert_i64_equal(a.next_at, now + 60);
	now += 60;

	/* A check-in that succeeds clears it all... */
	core_agent_done(&a, CORE_ACT_OPEN_SESSION, CORE_RES_OK, now, 0, &hi);
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_OK, now, 0, &hi);
	assert_int_equal(a.failures, 0);
	/* ...so the next expiry reopens at once again. */
	now = a.next_at;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_SESSION_BAD, now, 0, &hi);
	assert_i64_equal(a.next_at, now);

	/* After a transient failure a bad session is counted straight away. */
	agent_steady(&a, now);
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, now, 0, &hi);
	assert_int_equal(a.failures, 1);
	now = a.next_at;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_SESSION_BAD, now, 0, &hi);
	assert_int_equal(a.failures, 2);
	assert_i64_equal(a.next_at, now + 30);

	/* Retry-After applies even to the first. */
	agent_steady(&a, now);
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_SESSION_BAD, now, 120, &hi);
	assert_i64_equal(a.next_at, now + 120);
}

/* A site that refuses every session MAC must not be hammered: run the
 * open/check-in loop over three simulated days. Returns the number of
 * requests; *gap_min and *gap_max span the waits after the first refusal. */
static int session_bad_loop(const struct core_rand *r, int64_t *gap_min, int64_t *gap_max)
{
	struct core_agent a;
	int64_t now = 1764000000, start = now;
	int requests = 0, refusals = 0;

	*gap_min = INT64_MAX;
	*gap_max = 0;
	agent_steady(&a, now);
	while (now < start + 3 * 86400) {
		enum core_agent_action act = core_agent_next(&a, now);

		if (act == CORE_ACT_SLEEP) {
			assert_true(a.next_at > now);
			now = a.next_at;
			continue;
		}
		requests++;
		/* Stops a regression from looping here for ever. */
		assert_true(requests < 10000);
		if (act == CORE_ACT_OPEN_SESSION) {
			a.session_expires = now + 3600;
			core_agent_done(&a, act, CORE_RES_OK, now, 0, r);
			continue;
		}
		assert_int_equal(act, CORE_ACT_CHECKIN);
		core_agent_done(&a, act, CORE_RES_SESSION_BAD, now, 0, r);
		if (++refusals == 1) {
			assert_i64_equal(a.next_at, now);
			continue;
		}
		if (a.next_at - now < *gap_min)
			*gap_min = a.next_at - now;
		if (a.next_at - now > *gap_max)
			*gap_max = a.next_at - now;
	}
	return requests;
}

static void test_agent_session_bad_loop(void **state)
{
	struct fake_rand f = {.state = 7};
	struct core_rand hi = {fake_top, &f};
	struct core_rand lcg = {fake_lcg, &f};
	int64_t gap_min, gap_max;
	int n;

	(void)state;
	/* At the top of each interval: 30, 60, ... up to the hour. */
	n = session_bad_loop(&hi, &gap_min, &gap_max);
	assert_i64_equal(gap_min, 30);
	assert_i64_equal(gap_max, 3600);
	/* About 72 hours at the cap plus the ramp, two requests a round. */
	assert_in_range(n, 2 * 72, 2 * 72 + 30);

	/* With jitter: never under the base, never over the cap. */
	n = session_bad_loop(&lcg, &gap_min, &gap_max);
	assert_true(gap_min >= 30);
	assert_true(gap_max <= 3600);
	assert_in_range(n, 2 * 72, 2 * 72 * 4);
}

static void test_agent_reenroll(void **state)
{
	struct fake_rand f = {0};
	struct core_rand hi = {fake_top, &f};
	struct core_agent a;
	int64_t now = 5000;

	(void)state;
	agent_steady(&a, now);
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_REENROLL, now, 0, &hi);
	assert_false(a.enrolled);
	assert_false(a.have_session);
	assert_int_equal(a.failures, 1);
	assert_i64_equal(a.next_at, now + 30);
	assert_int_equal(core_agent_next(&a, now + 29), CORE_ACT_SLEEP);
	now += 30;
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_ENROLL);
	core_agent_done(&a, CORE_ACT_ENROLL, CORE_RES_OK, now, 0, &hi);
	assert_true(a.enrolled);
	assert_int_equal(a.failures, 0);
	assert_i64_equal(a.next_at, now);
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_OPEN_SESSION);

	/* Backoff counts the failures before it. */
	agent_steady(&a, now);
	a.failures = 2;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_REENROLL, now, 0, &hi);
	assert_int_equal(a.failures, 3);
	assert_i64_equal(a.next_at, now + 120);
	agent_steady(&a, now);
	core_agent_done(&a, CORE_ACT_OPEN_SESSION, CORE_RES_REENROLL, now, 700, &hi);
	assert_i64_equal(a.next_at, now + 700);
}

static void test_agent_guards(void **state)
{
	struct fake_rand f = {0};
	struct core_rand hi = {fake_top, &f};
	struct core_agent a, before;
	int64_t now = 5000;

	(void)state;
	/* Sleeping or an unknown action records nothing. */
	agent_steady(&a, now);
	before = a;
	core_agent_done(&a, CORE_ACT_SLEEP, CORE_RES_RETRY, now, 0, &hi);
	core_agent_done(&a, CORE_ACT_SLEEP, CORE_RES_OK, now, 0, &hi);
	core_agent_done(&a, (enum core_agent_action)42, CORE_RES_REENROLL, now, 0, &hi);
	assert_agent_equal(&a, &before);
	/* An unknown result backs off like RETRY. */
	core_agent_done(&a, CORE_ACT_CHECKIN, (enum core_result)42, now, 0, &hi);
	assert_int_equal(a.failures, 1);
	assert_i64_equal(a.next_at, now + 30);
	assert_true(a.have_session);

	/* NULL is harmless. */
	core_agent_init(NULL, now);
	core_agent_done(NULL, CORE_ACT_CHECKIN, CORE_RES_OK, now, 0, &hi);
	assert_int_equal(core_agent_next(NULL, now), CORE_ACT_SLEEP);

	/* The failure count saturates; the delay stays at the cap. */
	agent_steady(&a, now);
	a.failures = INT_MAX;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, now, 0, &hi);
	assert_int_equal(a.failures, INT_MAX);
	assert_i64_equal(a.next_at, now + 3600);
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_SESSION_BAD, now, 0, &hi);
	assert_int_equal(a.failures, INT_MAX);
	assert_i64_equal(a.next_at, now + 3600);
	/* A corrupt negative count starts over. */
	agent_steady(&a, now);
	a.failures = -3;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, now, 0, &hi);
	assert_int_equal(a.failures, 1);
	assert_i64_equal(a.next_at, now + 30);

	/* A zero backoff base still waits. */
	agent_steady(&a, now);
	a.backoff_base = 0;
	a.backoff_cap = 0;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, now, 0, &hi);
	assert_i64_equal(a.next_at, now + 1);

	/* Times at the end of the range saturate. */
	agent_steady(&a, INT64_MAX - 10);
	a.session_expires = INT64_MAX;
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_OK, INT64_MAX - 10, 0, &hi);
	assert_i64_equal(a.next_at, INT64_MAX);
	core_agent_done(&a, CORE_ACT_CHECKIN, CORE_RES_RETRY, INT64_MAX - 10, 0, &hi);
	assert_i64_equal(a.next_at, INT64_MAX);
	assert_int_equal(core_agent_next(&a, INT64_MAX - 1), CORE_ACT_SLEEP);
	assert_int_equal(core_agent_next(&a, INT64_MAX), CORE_ACT_OPEN_SESSION);

	/* A session that "expires" at the bottom of the range is expired. */
	agent_steady(&a, INT64_MIN);
	a.session_expires = INT64_MIN;
	assert_int_equal(core_agent_next(&a, now), CORE_ACT_OPEN_SESSION);
	a.session_expires = INT64_MIN + 59;
	assert_int_equal(core_agent_next(&a, INT64_MIN), CORE_ACT_OPEN_SESSION);
	a.session_expires = INT64_MIN + 61;
	assert_int_equal(core_agent_next(&a, INT64_MIN), CORE_ACT_CHECKIN);
}

/* ---- inventory schedule --------------------------------------------------- */

static void test_inventory_due(void **state)
{
	const int64_t now = 1800000000;

	(void)state;
	/* never sent (just enrolled): due at once */
	assert_true(core_inventory_due(now, 0, 86400, 0));
	/* sent recently: not due until the interval has passed */
	assert_false(core_inventory_due(now, now - 3600, 86400, 0));
	assert_false(core_inventory_due(now, now - 86399, 86400, 0));
	assert_true(core_inventory_due(now, now - 86400, 86400, 0));
	/* the site's interval, or the default when the site never said */
	assert_true(core_inventory_due(now, now - 7200, 3600, 0));
	assert_false(core_inventory_due(now, now - 7200, 0, 0));
	assert_true(core_inventory_due(now, now - CORE_INVENTORY_INTERVAL, -5, 0));
	/* a failure waits for its retry time, then is due whatever the interval */
	assert_false(core_inventory_due(now, now - 60, 86400, now + 30));
	assert_false(core_inventory_due(now, 0, 86400, now + 1));
	assert_true(core_inventory_due(now, now - 60, 86400, now));
	/* a clock set back: the last report looks future, send one */
	assert_true(core_inventory_due(now, now + 3600, 86400, 0));
}

static void test_inventory_retry(void **state)
{
	struct fake_rand f = {0};
	struct core_rand r = {fake_top, &f};
	const int64_t now = 1800000000;
	int64_t t1, t2, t9;

	(void)state;
	/* transient failures back off like check-ins, doubling up to the cap */
	t1 = core_inventory_retry_at(now, 1, false, 0, 86400, &r);
	t2 = core_inventory_retry_at(now, 2, false, 0, 86400, &r);
	t9 = core_inventory_retry_at(now, 30, false, 0, 86400, &r);
	assert_true(t1 > now && t1 <= now + 60);
	assert_true(t2 > t1);
	assert_true(t9 <= now + 3600);
	/* Retry-After wins when longer */
	assert_int_equal(core_inventory_retry_at(now, 1, false, 7200, 86400, &r), now + 7200);
	/* a refusal waits the whole interval */
	assert_int_equal(core_inventory_retry_at(now, 1, true, 0, 86400, &r), now + 86400);
	assert_int_equal(core_inventory_retry_at(now, 1, true, 0, 0, &r),
			 now + CORE_INVENTORY_INTERVAL);
	/* no overflow at the top */
	assert_int_equal(core_inventory_retry_at(INT64_MAX - 10, 1, true, 0, 86400, &r), INT64_MAX);
	/* failures below 1 count as the first */
	assert_int_equal(core_inventory_retry_at(now, 0, false, 0, 86400, &r), t1);
}

/* ---- links between sites ------------------------------------------------------- */

/* 2026-12-07 is a Monday: 00:00 UTC */
#define MON0 INT64_C(1796601600)

static void test_link_schedule(void **state)
{
	char sched[CORE_SCHEDULE_HOURS + 1], msg[256], d[64];

	(void)state;
	assert_int_equal(core_link_schedule_parse("all", sched, msg, sizeof(msg)), 0);
	assert_int_equal(core_link_allowed(sched, MON0), CORE_LINK_ALL);
	assert_int_equal(core_link_allowed("", MON0), CORE_LINK_ALL);
	assert_int_equal(core_link_schedule_parse("mon-fri:08-18=high,sat-sun:00-24=closed", sched,
						  msg, sizeof(msg)),
			 0);
	assert_true(core_link_schedule_valid(sched));
	assert_int_equal(core_link_allowed(sched, MON0 + 7 * 3600), CORE_LINK_ALL); /* Mon 07 */
	assert_int_equal(core_link_allowed(sched, MON0 + 8 * 3600), 0x1u);	     /* Mon 08 */
	assert_int_equal(core_link_allowed(sched, MON0 + 18 * 3600 - 1), 0x1u);
	assert_int_equal(core_link_allowed(sched, MON0 + 18 * 3600), CORE_LINK_ALL);
	assert_int_equal(core_link_allowed(sched, MON0 + 5 * 86400 + 12 * 3600), 0u); /* Sat */
	assert_int_equal(core_link_allowed(sched, MON0 + 6 * 86400 + 23 * 3600), 0u); /* Sun 23 */
	assert_int_equal(core_link_allowed(sched, MON0 + 7 * 86400 + 9 * 3600), 0x1u); /* Mon */
	core_link_describe(sched, MON0 + 5 * 86400, d, sizeof(d));
	assert_string_equal(d, "closed");
	/* the next open hour after Saturday noon is Monday 00 */
	assert_int_equal(core_link_next_open(sched, MON0 + 5 * 86400 + 12 * 3600), MON0 + 7 * 86400);
	/* later items win; days may wrap */
	assert_int_equal(core_link_schedule_parse("*:00-24=closed,fri-mon:10-11=medium", sched, msg,
						  sizeof(msg)),
			 0);
	assert_int_equal(core_link_allowed(sched, MON0 + 10 * 3600), 0x3u);
	assert_int_equal(core_link_allowed(sched, MON0 + 86400 + 10 * 3600), 0u); /* Tue */
	assert_int_equal(core_link_allowed(sched, MON0 + 4 * 86400 + 10 * 3600), 0x3u);
	assert_int_equal(core_link_schedule_parse("*:00-24=closed", sched, msg, sizeof(msg)), 0);
	assert_int_equal(core_link_next_open(sched, MON0), 0);
	/* refusals */
	static const char *const bad[] = {"mon:08-18", "mon:18-08=high", "xyz:00-24=all",
					  "mon:00-25=all", "mon:08-18=fast", "mon08-18=high",
					  "mon:8-9=all,",  "mon:ab-cd=all"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		if (core_link_schedule_parse(bad[i], sched, msg, sizeof(msg)) != -1 &&
		    strcmp(bad[i], "mon:8-9=all,") != 0)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(core_link_schedule_parse("mon:08-18", sched, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "DAYS:HOURS=CLASS"));
	assert_false(core_link_schedule_valid("AMX"));
	assert_int_equal(core_link_allowed("AMX", MON0), CORE_LINK_ALL);
	/* pacing */
	assert_int_equal(core_link_pace_us(1000, 1000), 1000000);
	assert_int_equal(core_link_pace_us(1000, 0), 0);
	assert_int_equal(core_link_pace_us(-5, 100), 0);
	assert_true(core_link_pace_us(INT64_MAX, 1) > 0);
	/* a share of each hour: busy 1 s at 25% → 3 s quiet, so 15 min an hour */
	assert_int_equal(core_link_share_wait_us(1000000, 25), 3000000);
	assert_int_equal(core_link_share_wait_us(1000000, 50), 1000000);
	assert_int_equal(core_link_share_wait_us(1000000, 1), 99000000);
	assert_int_equal(core_link_share_wait_us(1000000, 0), 0);
	assert_int_equal(core_link_share_wait_us(1000000, 100), 0);
	assert_int_equal(core_link_share_wait_us(-1, 25), 0);
	assert_true(core_link_share_wait_us(INT64_MAX, 1) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_checkin_bounds),
	    cmocka_unit_test(test_checkin_guards),
	    cmocka_unit_test(test_backoff_doubling),
	    cmocka_unit_test(test_backoff_extremes),
	    cmocka_unit_test(test_backoff_guards),
	    cmocka_unit_test(test_backoff_property),
	    cmocka_unit_test(test_fresh_window),
	    cmocka_unit_test(test_fresh_replay),
	    cmocka_unit_test(test_fresh_extremes),
	    cmocka_unit_test(test_addr_parse),
	    cmocka_unit_test(test_boundary_parse_ok),
	    cmocka_unit_test(test_boundary_parse_errors),
	    cmocka_unit_test(test_boundary_link_class),
	    cmocka_unit_test(test_link_policy),
	    cmocka_unit_test(test_link_classify),
	    cmocka_unit_test(test_link_gate),
	    cmocka_unit_test(test_boundary_parse_guards),
	    cmocka_unit_test(test_assign_ipv4),
	    cmocka_unit_test(test_assign_ipv6),
	    cmocka_unit_test(test_assign_mixed),
	    cmocka_unit_test(test_assign_guards),
	    cmocka_unit_test(test_agent_init),
	    cmocka_unit_test(test_agent_cycle),
	    cmocka_unit_test(test_agent_retry),
	    cmocka_unit_test(test_agent_retry_after),
	    cmocka_unit_test(test_agent_refused),
	    cmocka_unit_test(test_agent_session_bad),
	    cmocka_unit_test(test_agent_session_bad_loop),
	    cmocka_unit_test(test_agent_reenroll),
	    cmocka_unit_test(test_agent_guards),
	    cmocka_unit_test(test_inventory_due),
	    cmocka_unit_test(test_inventory_retry),
	    cmocka_unit_test(test_link_schedule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

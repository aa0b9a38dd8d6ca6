/* core: pure decisions. No I/O, no clock reads, no globals: time and
 * randomness are passed in, so steward-sim, the tests and the real agent run
 * exactly the same logic.
 */
#ifndef STEWARD_CORE_H
#define STEWARD_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* A source of randomness passed in by the caller: returns 0 .. upper-1. */
typedef uint32_t (*core_rand_fn)(void *ctx, uint32_t upper);

struct core_rand {
	core_rand_fn fn;
	void *ctx;
};

/* ---- links between sites (link.c) --------------------------------------- */
#define CORE_SCHEDULE_HOURS 168 /* one character per hour, Monday 00 UTC first */
#define CORE_SCHEDULE_SPEC_MAX 512
#define CORE_LINK_ALL 0x7u /* every class: control, status, bulk */
/* "mon-fri:08-18=high,sat-sun:00-24=closed" (or "all") into 168 of
 * 'A'/'M'/'H'/'C'; -1 and msg when it is not that. */
int core_link_schedule_parse(const char *spec, char out[CORE_SCHEDULE_HOURS + 1], char *msg,
			     size_t msgsz);
bool core_link_schedule_valid(const char *sched); /* "" or 168 of AMHC */
/* The classes a link may send at now (bit c: class c); "" is open. */
unsigned core_link_allowed(const char *sched, int64_t now);
/* The start of the next hour at which something may be sent; 0 never. */
int64_t core_link_next_open(const char *sched, int64_t now);
/* "open to all", "medium and high only", "high only" or "closed". */
void core_link_describe(const char *sched, int64_t now, char *out, size_t outsz);
/* How long to wait after sending sent_bytes to keep to rate bytes/s. */
int64_t core_link_pace_us(int64_t sent_bytes, int64_t rate);
/* A link limited to share percent of each hour (1..99; else no limit):
 * after busy_us on the wire, how long to stay quiet. */
int64_t core_link_share_wait_us(int64_t busy_us, int share);

/* ---- schedules -------------------------------------------------------- */
/* Seconds until the next maintenance cycle: interval plus a uniform random
 * jitter in [0, jitter]. interval >= 1. */
int64_t core_next_checkin(int64_t interval, int64_t jitter, const struct core_rand *r);

/* Exponential backoff with "full jitter": a uniform random delay in
 * [base, min(cap, base * 2^attempt)], attempt counting from 0. */
int64_t core_backoff(int attempt, int64_t base, int64_t cap, const struct core_rand *r);

/* ---- request freshness ------------------------------------------------- */
enum core_fresh {
	CORE_FRESH_OK = 0,
	CORE_FRESH_SKEW,     /* timestamp outside now +- window: clock skew */
	CORE_FRESH_REPLAY,   /* sequence not above the last accepted one */
};

enum core_fresh core_check_fresh(int64_t ts, int64_t now, int64_t window, uint64_t seq,
				 uint64_t last_seq);

/* ---- boundaries (CIDR -> site) ---------------------------------------- */
struct core_boundary {
	int family;         /* 4 or 6 */
	uint8_t addr[16];   /* network address, host bits cleared */
	int prefix;         /* 0..32 or 0..128 */
	char site[4];       /* 3-character site code */
	int link_class;     /* CORE_LC_*: the class the boundary declares; 0: none */
	bool final;         /* the declared class holds whatever the agent measures */
};

/* Parse "10.1.0.0/16 ABC [CLASS [final]]" (CIDR, whitespace, site code,
 * optionally a link class: lan, wan, slow or metered, and "final"). Host bits set in
 * the address are refused. Returns 0 or -1 with a reason in msg. */
int core_boundary_parse(const char *text, struct core_boundary *out, char *msg, size_t msgsz);
/* Parse an IPv4 or IPv6 address; returns family 4 or 6, or 0 when invalid. */
int core_addr_parse(const char *text, uint8_t out[16]);
/* Longest-prefix match of any of the addresses against the boundaries.
 * Returns the matching boundary's site or NULL when none matches. */
const char *core_boundary_assign(const struct core_boundary *b, size_t nb,
				 const char *const *addrs, size_t naddrs);
/* The same match; the index of the winning boundary, or -1. */
int core_boundary_find(const struct core_boundary *b, size_t nb, const char *const *addrs,
		       size_t naddrs);

/* ---- link classes (linkclass.c) -------------------------------------------
 * What kind of link a client is on, and what an advertisement or rollout
 * does on each kind (docs/slow-links.md). */
enum core_link_class { CORE_LC_NONE = 0, CORE_LC_LAN, CORE_LC_WAN, CORE_LC_SLOW, CORE_LC_METERED };
#define CORE_LC_N 5
enum core_link_action {
	CORE_LA_DOWNLOAD = 0,
	CORE_LA_DEFER,     /* until a faster class, or the deadline */
	CORE_LA_IN_WINDOW, /* only inside a maintenance window */
	CORE_LA_NEVER,
};
#define CORE_LINK_POLICY_TEXT_MAX 160
struct core_link_policy {
	uint8_t act[CORE_LC_N]; /* CORE_LA_* by CORE_LC_* */
	int64_t deadline;	/* defer ends then (unix seconds); 0: never */
};
enum core_link_source {
	CORE_LS_DEFAULT = 0,   /* nothing known: lan */
	CORE_LS_MEASURED,      /* the agent's measurement */
	CORE_LS_BOUNDARY,      /* the boundary's class, no fresh measurement */
	CORE_LS_BOUNDARY_FINAL,/* the boundary's class, final */
	CORE_LS_AGENT,	       /* the agent says its link is metered */
	CORE_LS_LOCAL,	       /* the site's own machine (loopback): lan */
};
struct core_link_obs {
	int64_t kbps;	  /* measured throughput; 0: none */
	int64_t rtt_ms;	  /* measured round trip; 0: none */
	int64_t measured; /* when (unix seconds) */
	bool metered;	  /* the agent's system says the link is metered */
	bool local;	  /* it reached the site over loopback: the site's own machine */
};
struct core_link_thresholds {
	int64_t slow_kbps; /* below: slow */
	int64_t wan_kbps;  /* below: wan; else lan */
	int64_t max_age;   /* a measurement older than this is not used; 0: any */
};
const char *core_link_class_name(int c); /* "" for none */
int core_link_class_parse(const char *s, size_t n); /* 0 when unknown */
const char *core_link_action_name(int a);
const char *core_link_source_name(enum core_link_source s);
/* lan and wan download; slow and metered defer. */
void core_link_policy_default(struct core_link_policy *p);
/* "slow=defer,metered=never" over the defaults ("" is the defaults); the
 * deadline of *p is kept. 0, or -1 with the reason in msg. */
int core_link_policy_parse(const char *spec, struct core_link_policy *p, char *msg, size_t msgsz);
/* All four classes: "lan=download,wan=download,slow=defer,metered=defer". */
void core_link_policy_format(const struct core_link_policy *p, char *out, size_t n);
/* The client's current class from its boundary's (bclass, 0: none) and the
 * agent's observation o (may be NULL). */
int core_link_classify(int bclass, bool bfinal, const struct core_link_obs *o, int64_t now,
		       const struct core_link_thresholds *t, enum core_link_source *source);
/* "slow link (measured 48 kbit/s)", "metered link (boundary)". */
void core_link_describe_class(int cls, enum core_link_source src, int64_t kbps, char *out,
			      size_t n);
enum core_link_verdict { CORE_LINK_GO, CORE_LINK_WAIT, CORE_LINK_NEVER };
/* What policy p says for a client on class cls now; WAIT writes why into
 * reason as "deferred: LINK_TEXT: ...", NEVER as "not downloaded: ..."
 * (link_text from core_link_describe_class). */
enum core_link_verdict core_link_gate(const struct core_link_policy *p, int cls, int64_t now,
				      bool in_window, bool has_windows, const char *link_text,
				      char *reason, size_t n);

/* ---- the agent's maintenance cycle -------------------------------------- */
enum core_agent_action {
	CORE_ACT_ENROLL,       /* no client id yet */
	CORE_ACT_OPEN_SESSION, /* no valid session key */
	CORE_ACT_CHECKIN,      /* due now */
	CORE_ACT_SLEEP,        /* nothing due before next_at */
};

enum core_result {
	CORE_RES_OK,            /* request succeeded */
	CORE_RES_SESSION_BAD,   /* session expired or MAC refused: open a new one */
	CORE_RES_RETRY,         /* transient: network, 5xx, 503 */
	CORE_RES_REFUSED,       /* permanent refusal (blocked, deleted, incompatible) */
	CORE_RES_CLOCK_SKEW,    /* site says our clock is off: retry later */
	CORE_RES_REENROLL,      /* site no longer knows our client id */
};

struct core_agent {
	bool enrolled;
	bool have_session;
	int64_t session_expires; /* unix seconds */
	int64_t next_at;         /* when the next action is due */
	int failures;            /* consecutive failures */
	int64_t interval;        /* from the site */
	int64_t jitter;          /* from the site */
	int64_t backoff_base;    /* first retry delay */
	int64_t backoff_cap;     /* longest retry delay */
};

void core_agent_init(struct core_agent *a, int64_t now);
enum core_agent_action core_agent_next(const struct core_agent *a, int64_t now);
/* Record the outcome of an action. retry_after is the site's Retry-After in
 * seconds (0 when none). Before calling, the caller stores the site's
 * session_expires, interval and jitter in *a; done never changes them. */
void core_agent_done(struct core_agent *a, enum core_agent_action act, enum core_result res,
		     int64_t now, int64_t retry_after, const struct core_rand *r);

/* ---- the agent's inventory schedule --------------------------------------
 * Is an inventory report due after a check-in? last: when the site last
 * stored one (0: never, e.g. just enrolled: due at once); interval: the
 * site's inventory_interval (below 1: CORE_INVENTORY_INTERVAL); retry_at:
 * after a failed report, not before this time (0: no failure pending). */
#define CORE_INVENTORY_INTERVAL 86400
bool core_inventory_due(int64_t now, int64_t last, int64_t interval, int64_t retry_at);
/* When to try again after failures (>= 1) failed reports in a row: transient
 * errors back off like check-ins (base..cap, at least Retry-After); a
 * refusal waits the whole interval. */
int64_t core_inventory_retry_at(int64_t now, int failures, bool refused, int64_t retry_after,
				int64_t interval, const struct core_rand *r);

/* ---- software distribution: one advertisement -----------------------------
 * Whether an advertisement's program runs now (lib/core/advert.c). The
 * schedule comes from the site's policy, the record from what the agent
 * wrote down locally; times are unix seconds, 0 meaning unset. */
enum core_advert_action {
	CORE_ADVERT_RUN,     /* download, verify and run now */
	CORE_ADVERT_WAIT,    /* not yet: reason says why, wake_at when (0: no time) */
	CORE_ADVERT_DONE,    /* already ran this revision / occurrence */
	CORE_ADVERT_EXPIRED, /* past expires and never ran this revision */
};

struct core_advert_sched {
	int64_t revision;
	int64_t available; /* not before */
	int64_t mandatory; /* run at */
	int64_t recurring; /* seconds between occurrences */
	int64_t expires;   /* nothing new starts at or after */
	bool run_always;   /* program "run": "always" (else "once") */
};

struct core_advert_local {
	bool ran;		/* a run finished (any result) for last_revision */
	int64_t last_revision;	/* revision of the last finished run */
	int64_t last_occurrence; /* occurrence of that run */
	bool last_ok;		/* it succeeded (or succeeded_reboot) */
	int download_failures;	/* consecutive download / verification failures */
	int64_t retry_at;	/* after those: not before; 0 when none */
};

/* The client's maintenance windows as the site last sent them: merged
 * intervals [open, close) in UTC seconds, ascending and apart. A mandatory
 * or recurring run starts only inside one; a run with neither (available:
 * as soon as it may) is not held. */
#define CORE_ADVERT_WINDOWS_MAX 16

struct core_advert_windows {
	bool restricted;	 /* the client has windows (n may be 0: none known) */
	size_t n;		 /* intervals in iv, at most CORE_ADVERT_WINDOWS_MAX */
	const int64_t (*iv)[2];	 /* iv[i][0] open, iv[i][1] close */
};

/* Whether n intervals are a list the site could have sent: at most
 * CORE_ADVERT_WINDOWS_MAX, each 0 < open < close <= CORE_TIME_MAX, in order,
 * none overlapping the one before. */
bool core_advert_windows_valid(const int64_t (*iv)[2], size_t n);

#define CORE_ADVERT_REASON_MAX 96
#define CORE_ADVERT_WINDOW_CODE "waiting_for_window" /* how WAIT reasons for a window begin */

struct core_advert_decision {
	enum core_advert_action action;
	int64_t occurrence; /* RUN: the occurrence this run is for (record it) */
	int64_t wake_at;    /* WAIT / DONE: when to look again; 0: only on new policy */
	char reason[CORE_ADVERT_REASON_MAX]; /* WAIT: for a "waiting" status */
};

/* The decision for one advertisement. Never fails; an insane schedule (a
 * negative recurring, say) is read as unset. win NULL (or not restricted):
 * the client has no maintenance windows. */
void core_advert_decide(const struct core_advert_sched *s, const struct core_advert_local *l,
			int64_t now, bool paused, const struct core_advert_windows *win,
			struct core_advert_decision *out);
/* Seconds to wait after failures (>= 1) failed downloads in a row: 60 s,
 * doubling, at most 1 h. 0 for failures < 1. */
int64_t core_advert_backoff(int failures);

/* ---- the quietest span of the week (lib/core/quiet.c) ----------------------
 * counts: check-ins per hour of the week, Monday 00:00 UTC first (as
 * CORE_SCHEDULE_HOURS). */
#define CORE_QUIET_SPAN_HOURS 3 /* the span the readiness check suggests */
/* The hour of the week (0 to 167) unix time t falls in. */
int core_hour_of_week(int64_t t);
/* The first time at or after now that hour of the week begins; -1 for an
 * hour outside 0 to 167. */
int64_t core_hour_of_week_next(int hour, int64_t now);
/* The first hour of the span of span hours (wrapping from Sunday into
 * Monday) with the fewest check-ins, searched from from_hour on (a tie
 * goes to the one found first); *sum_out gets its check-ins. -1 when
 * every count is 0 (no history yet) or span or from_hour is out of range. */
int core_quiet_span(const uint64_t counts[CORE_SCHEDULE_HOURS], int span, int from_hour,
		    uint64_t *sum_out);
/* When the quietest span next begins after now (of equally quiet spans,
 * the soonest), its hour of the week in *hour_out; -1 with no history. */
int64_t core_quiet_next(const uint64_t counts[CORE_SCHEDULE_HOURS], int span, int64_t now,
			int *hour_out, uint64_t *sum_out);

#endif

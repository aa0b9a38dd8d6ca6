/* agent: steward-agent's internal interfaces.
 *
 *   main.c     command line, the maintenance loop driven by lib/core, signals
 *   session.c  the three requests (enroll, session, check-in) and how each
 *              reply maps onto a core result
 *   state.c    STATE_DIR/state.json, loaded and saved whole (atomically)
 *   sysinfo.c  hostname, addresses, OS name/version, uptime
 *   swdist*.c  software distribution: advertisements from the check-in
 *              reply, downloads, runs (run.c), status to the site
 *   idle.c     between cycles: exec steward-agent-idle (idle_main.c) and
 *              take the memory back after it
 *
 * Only main.c touches struct core_agent: session.c reports what the site said
 * in struct agent and returns a core result; main.c hands both to lib/core.
 */
#ifndef STEWARD_AGENT_H
#define STEWARD_AGENT_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "steward/core.h"
#include "steward/inventory.h"
#include "steward/proto.h"
#include "steward/util.h"
#include "steward/tls.h"

#define AGENT_URL_MAX	     512 /* --server is shorter than this */
#define AGENT_MPS_MAX	     8	 /* management points kept (stewardd's management_points) */
#define AGENT_STATE_FILE     "state.json"
#define AGENT_KEY_FILE	     "client.key"
#define AGENT_STATE_MAX	     (64 * 1024) /* cap on reading state.json */
#define AGENT_REPLY_MAX	     (64 * 1024) /* cap on any reply body from the site */
#define AGENT_HTTP_TIMEOUT_S 30		 /* one HTTP call, unless --timeout is shorter */
#define AGENT_STATE_NAME_MAX 15		 /* "pending", "approved" */
#define AGENT_INVENTORY_FILE "inventory.json" /* the last full inventory the site stored */
#define AGENT_INVENTORY_READ_MAX (64u * 1024 * 1024)
#define AGENT_RELEASE_KEYS_MAX	 8 /* CONTENT_RELEASE_KEYS_MAX */

/* ---- state.json ----------------------------------------------------------- */
struct agent_state {
	char client_id[PROTO_CLIENT_ID_HEX + 1]; /* "" until enrolled */
	char site[PROTO_SITE_CODE_LEN + 1];	 /* "" until enrolled */
	char server[AGENT_URL_MAX];		 /* the URL the client id came from */
	char state[AGENT_STATE_NAME_MAX + 1];	 /* "pending" / "approved" / "" */
	uint64_t last_seq;			 /* highest Steward-Seq ever sent */
	int64_t next_checkin;			 /* unix seconds; 0 when none planned */
	int64_t interval;			 /* from the site; 0 when never told */
	int64_t jitter;
	/* inventory (session_inventory) */
	int64_t last_inventory;			 /* when the site last stored one; 0: never */
	int64_t inventory_interval;		 /* from the site; 0 when never told */
	int64_t inventory_retry_at;		 /* after a failure: not before; 0: none */
	int64_t inventory_failures;		 /* failed reports in a row */
	char inventory_hash[PROTO_INVENTORY_HEX + 1]; /* full_hash of inventory.json */
	/* the site's public key (64 hex): verifies manifests; set from the
	 * first reply that carries it and never replaced */
	char site_key[2 * PROTO_PK_BYTES + 1];
	/* the pin of the site's HTTPS certificate (64 hex, "" for a site on
	 * plain HTTP or one with a certificate from a CA): from the enrollment
	 * token, replaced only by what the site signs (a key rotation) */
	char tls_pin[PROTO_PIN_HEX + 1];
	char tls_pin_next[PROTO_PIN_HEX + 1]; /* during a rotation: the next one */
	/* the release keys (64 hex each) this agent checks every release it
	 * installs against: from the enrollment reply, later changed only by
	 * what it already trusts (docs/security.md) */
	size_t n_release_keys;
	char release_keys[AGENT_RELEASE_KEYS_MAX][2 * PROTO_PK_BYTES + 1];
	/* the newest release this agent has run: it never installs an older
	 * one without a rollback authorization; "" before the first check-in */
	char newest_release[32];
	/* the site's management points (check-in replies): where requests go
	 * when the current one does not answer or answers 503 */
	size_t n_mps;
	char mps[AGENT_MPS_MAX][AGENT_URL_MAX];
};

/* Load path into st. A missing file is a fresh state (*found = false).
 * A file that cannot be read or does not hold a valid state fills err with a
 * message naming the file and what to do, and returns a negative code. */
int agent_state_load(const char *path, struct agent_state *st, bool *found,
		     struct steward_err *err);
/* Write st to path atomically (mode 0600). */
int agent_state_save(const char *path, const struct agent_state *st, struct steward_err *err);

/* ---- system facts --------------------------------------------------------- */
struct agent_sysinfo {
	char hostname[PROTO_HOSTNAME_MAX + 1];
	int n_addrs;
	char addrs[PROTO_ADDRS_MAX][PROTO_ADDR_MAX + 1];
	char os_name[PROTO_OS_FIELD_MAX + 1];
	char os_version[PROTO_OS_FIELD_MAX + 1];
};

/* Collect everything; never fails (unknown facts are left at safe defaults). */
void sysinfo_collect(struct agent_sysinfo *si);
/* Parse os-release text: NAME and VERSION_ID, unquoted and capped. Fields
 * missing from the text are left as they were. */
void sysinfo_os_release_parse(const char *text, size_t len, char *name, size_t namesz,
			      char *version, size_t versionsz);
/* Seconds since boot from /proc/uptime, 0 when unknown. */
int64_t sysinfo_uptime(void);

/* ---- software distribution: what swdist keeps ------------------------------ */
struct json_t;

struct swdist {
	char dir[PATH_MAX - 32]; /* STATE_DIR/swdist */
	uint64_t cache_max;	 /* bytes in cache/blobs before the oldest go */
	struct json_t *policy;	 /* the last check-in reply's software part */
	struct json_t *records;	 /* adverts.json */
	uint64_t last_seq;	 /* of status messages */
	uint64_t dropped;	 /* outbox messages dropped, not yet told */
	int64_t wake_at;	 /* an advertisement wants a look then; 0: none */
	bool busy;		 /* inside swdist_cycle */
	/* the maintenance windows of the last check-in reply (also kept in
	 * adverts.json): windowed when it had any, even an unusable list */
	bool windowed;
	size_t n_windows;
	int64_t windows[CORE_ADVERT_WINDOWS_MAX][2];
};

/* ---- upgrades: what upgrade.c keeps (functions below) -------------------- */
struct upgrade {
	char prefix[PATH_MAX - 64]; /* "" when not supervised */
	char trial[32];		    /* the version on trial, "" */
	char run[33];		    /* the launcher's run id for this process, "" */
	struct json_t *offer;	    /* the last check-in's client_upgrade */
	bool result_sent;	    /* upgrade.result went out with a check-in */
	char said[32];		    /* the offer version last logged as not taken */
	char inventory[32];	    /* version of the slot's steward-inventory, "" */
};

/* ---- the agent ------------------------------------------------------------ */
/* ---- the link to the site (link.c; docs/slow-links.md) ----------------------
 * What this agent measured of its link and what the site said about it.
 * The measurement is kept in STATE_DIR/link.json across runs. */
struct agent_link {
	/* measured here */
	int64_t kbps;	  /* throughput of the last transfer big enough to tell; 0: none */
	int64_t rtt_ms;	  /* request to first byte of the last exchange with the site */
	int64_t measured; /* when kbps was measured (unix seconds); 0: never */
	int64_t probed;	  /* the last probe */
	char via[16];	  /* "probe" or "download" */
	bool metered;	  /* --metered: this machine's link costs by the byte */
	/* as the site said at the last check-in */
	char cls[16];	  /* "lan" when it said nothing */
	char text[96];	  /* "slow link (measured 48 kbit/s)" */
	int64_t rate_kbps; /* downloads at most this fast; 0: no limit */
	int64_t probe_interval, probe_retry, probe_bytes;
	bool deferred;	  /* an upgrade waits for a faster link */
	bool waiting;	  /* an advertisement waits for a faster link (swdist.c) */
};

struct agent;
void link_open(struct agent *ag);
/* Before a check-in: measure with a small probe when the last measurement
 * is missing, old, or something waits for a faster link. */
void link_before_checkin(struct agent *ag);
/* Every exchange with the site: from the request sent (us_sent) to the
 * first byte of the answer, the round trip (plus the site's work). */
void link_rtt(struct agent *ag, int64_t us_sent, int64_t us_first_byte);
/* A transfer of bytes in us microseconds (from the request's start to its
 * end) through via; transfers too small to tell, or held back by this
 * agent's own rate limit, are not counted. */
void link_observe(struct agent *ag, uint64_t bytes, int64_t us, bool limited, const char *via);
/* The check-in's "link" part. */
void link_report(const struct agent *ag, struct proto_link_report *r);
/* The check-in reply's "link" part (lan and the defaults when absent). */
void link_policy(struct agent *ag, struct json_t *reply);
/* Bytes per second downloads may take; 0: no limit. */
uint64_t link_rate_bps(const struct agent *ag);
/* Keep what changed (waiting) in STATE_DIR/link.json. */
void link_changed(struct agent *ag);

struct agent {
	/* configuration, fixed after start (but server) */
	char server[AGENT_URL_MAX]; /* no trailing slash; after a failover, a management point */
	int failovers;		    /* servers tried since the last answer (agent_failover) */
	bool failed_over;	    /* the last request moved to another server: retry at once */
	char state_dir[PATH_MAX];
	char state_path[PATH_MAX];
	char key_path[PATH_MAX];
	const char *token;    /* --enroll-token, "" when none */
	struct proto_enroll_token etok; /* token parsed, with --site-pin / --site-fingerprint */
	char ca_file[TLS_CA_FILE_MAX];	/* --ca-file: CAs for a site with a CA's certificate */
	long http_timeout_ms; /* per call */
	int lock_fd;	      /* the state directory, flock'd for the life of the process */
	int64_t deadline_ms;  /* --once: time_now_ms() limit; 0 = none */
	struct proto_keypair kp;

	struct agent_state st; /* mirrored in state.json */
	json_t *dp_pins;       /* {ORIGIN: PIN} of the last check-in reply, or NULL */

	/* the session lives in memory only */
	bool have_session;
	uint8_t session_key[PROTO_SESSION_KEY_BYTES];
	uint64_t session_epoch;
	int64_t session_expires; /* site's unix seconds */

	/* status messages queued for the next check-in */
	int n_status;
	unsigned status_dropped;
	struct proto_status_msg status[PROTO_STATUS_MAX];

	/* what the last successful check-in said */
	int64_t reply_next_checkin; /* seconds from now, already jittered */

	const volatile sig_atomic_t *stop; /* non-zero: SIGTERM/SIGINT arrived */
	struct swdist sw;
	struct upgrade up;
	struct agent_link link;
};

/* Queue a status message for the next check-in (oldest dropped when full). */
void agent_status_add(struct agent *ag, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The server did not answer (or answered 503): move ag->server to the next
 * of st.server and the site's management points. Sets failed_over when
 * that one was not tried since the last answer. */
void agent_failover(struct agent *ag, const char *why);
/* A URL an agent may be sent to: http:// or https://, host and port, no
 * path, printable, shorter than AGENT_URL_MAX. */
bool agent_url_ok(const char *url);
/* Save ag->st; logs and returns the error on failure. */
int agent_save(struct agent *ag, struct steward_err *err);
/* Forget the session key. */
void agent_session_drop(struct agent *ag);

/* The three requests. Each returns the core result for the outcome; on any
 * result but OK, err says what went wrong (code, message, remedy).
 * retry_after receives the site's Retry-After in seconds (0 when none). */
enum core_result session_enroll(struct agent *ag, int64_t *retry_after, struct steward_err *err);
enum core_result session_open(struct agent *ag, int64_t *retry_after, struct steward_err *err);
enum core_result session_checkin(struct agent *ag, int64_t *retry_after, struct steward_err *err);
/* Collect the inventory and send it: a delta against STATE_DIR/inventory.json
 * when the site holds it, else (or on 409 inventory_resync, at once) the full
 * document. On OK the document is kept in inventory.json and ag->st records it. */
enum core_result session_inventory(struct agent *ag, int64_t *retry_after, struct steward_err *err);

const char *agent_result_name(enum core_result res);
/* POST /api/v1/agent/status with body, MAC'd like a check-in. */
enum core_result session_status(struct agent *ag, const char *body, int64_t *retry_after,
				struct steward_err *err);
/* The pins of distribution points the site named (its last check-in
 * reply) for origin, into out (tls_trust_lookup_fn's contract). */
int swdist_trust(struct agent *ag, const char *origin, struct tls_trust *out);

/* ---- software distribution (swdist.c, swdist_fetch.c, swdist_outbox.c) ----
 * After each successful check-in, swdist_cycle decides every advertisement
 * of the policy (core_advert_decide), downloads and verifies what is due,
 * runs it (run.c) and reports each step through the status outbox.
 * Layout of STATE_DIR/swdist: adverts.json (what ran), outbox.jsonl,
 * status_seq, cache/blobs/HASH, cache/partial/HASH, work/ADVERT-REV/,
 * locks/ADVERT.lock. docs/internals/agent.md has the details. */
#define SWDIST_CACHE_MAX    (2ULL << 30) /* default --cache-max */
#define SWDIST_CACHE_AGE_S  (7 * 86400)  /* unused this long: removed */
#define SWDIST_DETAIL_MAX   1024
#define SWDIST_OUTBOX_MAX   (1024 * 1024) /* bytes of outbox.jsonl */

int swdist_open(struct agent *ag, uint64_t cache_max, struct steward_err *err);
void swdist_close(struct agent *ag);
/* Keep the software-distribution part of a check-in reply. */
void swdist_policy(struct agent *ag, struct json_t *reply);
/* Act on the kept policy now: everything due runs (synchronously). */
void swdist_cycle(struct agent *ag);

/* swdist_outbox.c: queue one status message (exit_code < 0: none) durably. */
void swdist_report(struct agent *ag, int64_t advert, int64_t revision, const char *state,
		   int exit_code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Send what the outbox holds; delivered messages leave it. */
void swdist_flush(struct agent *ag);
int swdist_outbox_open(struct agent *ag, struct steward_err *err);

/* swdist_fetch.c: put blob hash into cache/blobs, trying the DPs in order
 * (resuming cache/partial/HASH). size 0: unknown, at most max bytes. A DP
 * that sends the wrong bytes gets a verification_failed status for
 * advert/revision. On failure err says what the last DP did. */
struct swdist_src {
	const char *const *dps;
	int n_dps;
	const char *token;
	int64_t advert, revision;
};
int swdist_fetch(struct agent *ag, const struct swdist_src *src, const char *hash,
		 uint64_t size, uint64_t max, struct steward_err *err);
void swdist_blob_path(const struct agent *ag, const char *hash, char *out, size_t outsz);
/* rm -rf, best effort. */
void swdist_remove_tree(const char *path);
/* Copy cached blob hash to rel under dirfd (created exclusively) with mode. */
int swdist_copy_blob(struct agent *ag, const char *hash, int dirfd, const char *rel,
		     unsigned mode);

/* ---- upgrades under the launcher (upgrade.c; slots.h has the layout) -------
 * Supervised (the launcher set STEWARD_LAUNCHER_DIR), the agent stamps
 * state/health after each check-in, reports how the last switch ended
 * (upgrade.result) in the next check-in, and acts on the site's
 * client_upgrade offer: download into the inactive slot, verify, ask the
 * launcher to switch. */
void upgrade_open(struct agent *ag);
void upgrade_close(struct agent *ag);
/* Before a check-in: queue the status of upgrade.result. */
void upgrade_before_checkin(struct agent *ag);
/* After a successful check-in: health stamp, forget a reported result. */
void upgrade_after_checkin(struct agent *ag);
/* Keep the client_upgrade part of a check-in reply. */
void upgrade_policy(struct agent *ag, struct json_t *reply);
/* The release_keys object of a reply ({"keys": [HEX...], "signature": the
 * site key's over them, "endorsements": [LINE...]}): at enrollment
 * (enrolling true) or while the agent trusts none, the keys become its
 * set; afterwards only endorsements signed by a key already trusted add
 * one. Saves the state when the set changed. */
void upgrade_release_keys(struct agent *ag, struct json_t *o, bool enrolling);
/* Act on the offer; true when the launcher must switch (exit SLOTS_EXIT_SWITCH). */
bool upgrade_cycle(struct agent *ag);
/* The inventory document: from the slot's steward-inventory component when
 * it has one (it is versioned apart from the base), else collected here. */
int upgrade_inventory(struct agent *ag, struct json_t **out, struct steward_err *err);

/* ---- between cycles (idle.c; steward-agent-idle is idle_main.c) ----------
 * A daemon with nothing to do for IDLE_MIN_S or longer replaces itself with
 * steward-agent-idle, which links libc alone, until until_s or a signal;
 * then this binary runs again with --resume and takes back its memory. */
#define IDLE_MIN_S 5

/* Exec steward-agent-idle (argv: this process's command line, without
 * --resume). Returns only when it did not: 0 when a signal arrived (poke or
 * *ag->stop set: act on it), a negative code when it cannot (no such
 * program beside this one, or an error: logged), and then the caller sleeps
 * in place. */
int idle_enter(struct agent *ag, const struct core_agent *a, int64_t until_s, char *const *argv,
	       const volatile sig_atomic_t *poke);
/* --resume=FD:WHY: restore *ag and *a as idle_enter left them, except the
 * pointers to the command line and the stop flag (the caller sets them).
 * *why: 0 the time came, -1 SIGUSR1, else the signal that asks to stop. */
int idle_resume(const char *arg, struct agent *ag, struct core_agent *a, int *why,
		struct steward_err *err);

#endif

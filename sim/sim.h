/* steward-sim internals: the load engine (libcurl multi), statistics, the
 * acknowledgement log and the fleet of virtual clients.
 *
 * One thread. Requests run in a fixed number of slots, each an easy handle
 * reused for the whole run so connections stay alive; see docs in
 * sim/README.md.
 */
#ifndef STEWARD_SIM_H
#define STEWARD_SIM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <curl/curl.h>
#include <jansson.h>

#include "steward/util.h"
#include "steward/tls.h"
#include "steward/proto.h"
#include "steward/core.h"
#include "steward/content.h"

#define SIM_CLIENTS_MAX 1000000u
#define SIM_CONCURRENCY_MAX 4096
#define SIM_DURATION_MAX 3600      /* seconds */
#define SIM_RESPONSE_MAX (64 * 1024)
#define SIM_KEY_MAX STEWARD_ERR_CODE_MAX

/* Set by SIGINT/SIGTERM: 1 = stop starting requests, 2+ = abandon in-flight. */
extern volatile sig_atomic_t sim_stop;

struct sim_opts {
	const char *server;        /* "http://127.0.0.1:8080", no path */
	const char *token_file;
	const char *ack_log;
	const char *state_file;
	const char *plain_url;
	const char *agent_version; /* what new clients report; default ours */
	const char *versions_out;
	bool reuse;
	bool json;
	bool quiet;
	uint32_t clients;
	int concurrency;
	int64_t duration_s;
	int64_t timeout_ms;
	int64_t setup_timeout_s;
	int64_t cycle_s;           /* --cycle: each client checks in once per cycle; 0 = flat out */
	uint32_t upgrade_fail_bp;  /* --upgrade-fail-rate in basis points, 0..10000 */
	const char *upgrade_fail_release; /* --upgrade-fail-release: only this one fails */
	int64_t upgrade_delay_s;
	const char *replay_out;    /* --replay-out: write FILE.0 .. FILE.(threads-1) */
	uint64_t replay_requests;
	uint32_t replay_threads;
	uint32_t replay_status;    /* status messages in each replayed check-in */
	bool replay_changed;       /* every replayed check-in changes a component */
};

/* ---- statistics ---------------------------------------------------------- */
#define SIM_ERR_KEYS 64

struct sim_errkey {
	char key[SIM_KEY_MAX];
	uint64_t n;
};

struct sim_stats {
	uint64_t ok;               /* check-ins (or plain GETs) answered 2xx */
	uint64_t errors;
	uint64_t *hist;            /* latency histogram, see stats.c */
	uint64_t hist_n;
	int n_keys;
	struct sim_errkey keys[SIM_ERR_KEYS]; /* the last one is kept for "other" */
	bool paced;                /* --cycle: print offered and behind */
	double offered;            /* requests per second the schedule offers */
	uint64_t behind;           /* requests due by the end that never started */
};

int stats_init(struct sim_stats *s);
void stats_free(struct sim_stats *s);
void stats_latency(struct sim_stats *s, int64_t usec);
/* Count one error under key (an HTTP status, a server error code or a
 * transport failure); keys beyond SIM_ERR_KEYS are counted as "other". */
void stats_error(struct sim_stats *s, const char *key);
/* Latency at quantile q (0..1) in milliseconds; 0 when nothing was recorded. */
double stats_quantile_ms(const struct sim_stats *s, double q);
/* What the virtual clients did with upgrade offers (see sim/upgrade.c). */
struct sim_up_counts {
	uint64_t offered;          /* offers acted on: once per client and release */
	uint64_t succeeded;
	uint64_t failed;           /* simulated failures, rolled back */
	uint64_t skipped;          /* offers not taken: failed here before, older */
	uint64_t content_requests;
	uint64_t content_bytes;
};

/* The one summary line (or JSON object) on stdout; up is NULL with
 * --plain-url (no upgrade counters). */
void stats_print(const struct sim_stats *s, const struct sim_up_counts *up, double elapsed_s,
		 bool json);

/* ---- acknowledgement log ---------------------------------------------- */
struct sim_acklog {
	int fd;                    /* -1 when off */
	struct buf b;
	int64_t last_flush_us;
	bool failed;
};

int acklog_open(struct sim_acklog *a, const char *path);
/* Called only once the 200 for (client, seq) has arrived. */
void acklog_add(struct sim_acklog *a, const char *client_hex, uint64_t seq);
/* Flush when a second has passed since the last flush (or always when force). */
void acklog_tick(struct sim_acklog *a, int64_t now_us, bool force);
int acklog_close(struct sim_acklog *a);

/* ---- the load engine ----------------------------------------------------- */
struct sim_req {
	CURL *easy;
	struct buf body;           /* response body, capped at SIM_RESPONSE_MAX */
	int64_t retry_after;       /* seconds, from Retry-After */
	int64_t started_us;
	int64_t finished_us;
	uint32_t client;           /* virtual client index */
	enum core_agent_action act;
	uint64_t seq;              /* Steward-Seq of this request */
	bool content;              /* a blob download: body counted, not kept */
	uint64_t got;              /* content: body bytes received */
	uint64_t max;              /* content: more than this fails the transfer */
	char *owned_body;          /* request body freed when the request ends */
	const char *last_url;      /* URL set on the handle (re-parsing costs) */
	struct tls_verify tv;      /* HTTPS verification of the handle */
	struct proto_auth auth;    /* header lines the slist below points into */
	struct curl_slist hdrs[PROTO_AUTH_HEADERS + 4];
};

struct sim_http {
	CURLM *multi;
	struct sim_req *reqs;
	int n;
	int *free_ids;
	int n_free;
	long timeout_ms;
};

typedef void (*sim_done_fn)(struct sim_req *r, CURLcode cc, long status, void *ctx);

int sim_http_init(struct sim_http *h, int slots, long timeout_ms);
void sim_http_free(struct sim_http *h);
/* A free slot, or NULL when all are busy. */
struct sim_req *sim_http_get(struct sim_http *h);
/* Give back a slot taken with sim_http_get that was not started. */
void sim_http_put(struct sim_http *h, struct sim_req *r);
/* Start a request in r. headers is a NULL-terminated list of "Name: value"
 * strings that must live until the request ends; body NULL means GET. On
 * failure the slot is given back. */
int sim_http_start(struct sim_http *h, struct sim_req *r, const char *url,
		   const char *const *headers, const char *body, size_t body_len);
/* Drive transfers once; calls done for each finished request, then frees
 * its slot. Waits up to poll_ms for activity when nothing finished.
 * Returns how many finished. */
int sim_http_step(struct sim_http *h, int poll_ms, sim_done_fn done, void *ctx);
int sim_http_inflight(const struct sim_http *h);
/* Abandon every request in flight; done is called with CURLE_ABORTED_BY_CALLBACK. */
void sim_http_abort_all(struct sim_http *h, sim_done_fn done, void *ctx);
/* Short stable key for a transport failure ("timeout", "connect", ...). */
void sim_curl_key(CURLcode cc, char out[SIM_KEY_MAX]);

/* ---- upgrades (upgrade.c) ------------------------------------------------
 * What one virtual client knows about releases, in 24 bytes: versions are
 * indexes into a table of the distinct version strings the run has seen
 * (0 is ""), the offer under way an index into a table of distinct offers. */
#define SIM_VERSIONS_MAX 4096
#define SIM_OFFERS_MAX 256

enum sim_up_stage { SIM_UP_NONE, SIM_UP_FETCH, SIM_UP_SWITCH };
enum sim_up_report { SIM_REP_NONE, SIM_REP_SUCCEEDED, SIM_REP_ROLLED_BACK, SIM_REP_FETCH_FAILED,
		     SIM_REP_OLDER };

struct sim_vup {
	char *auth;           /* "Authorization: Steward-Content TOKEN" while fetching */
	uint16_t ver;         /* the base component's version: agent_version */
	uint16_t inv;         /* the inventory component's version */
	uint16_t newest;      /* the newest release run here: anti-rollback's floor */
	uint16_t failed;      /* the release that failed here (the agent's upgrade.failed) */
	uint16_t offer;       /* the offer under way (stage != NONE) */
	uint16_t seen;        /* release counted as offered or skipped since the last switch */
	uint16_t report_rel;  /* the release the pending report names */
	uint16_t fetch_status;/* the last failed download's HTTP status, 0 transport */
	uint8_t stage;        /* enum sim_up_stage */
	uint8_t report;       /* enum sim_up_report: told at the next check-in */
	uint8_t slot;         /* 0 A, 1 B */
	uint8_t fetch_fails;  /* downloads failed in a row (backoff) */
};

struct sim_offer {
	uint16_t release, version, inv;
	bool rollback;        /* carries rollback_authorization */
	int64_t expires;      /* of the release */
	char *manifest;       /* the offer's manifest text, to recognise it */
	size_t manifest_len;
	char *dp;             /* dps[0] */
	char *url;            /* DP/content/HASH of bin/steward-agent */
	uint64_t size;
	char component[CONTENT_COMPONENT_NAME_MAX + 1];
};

struct sim_upgrades {
	char (*vers)[CONTENT_VERSION_MAX + 1];
	uint32_t n_vers;
	struct sim_offer *offers;
	uint32_t n_offers;
	uint32_t fail_bp;
	char fail_release[CONTENT_VERSION_MAX + 1]; /* "" any */
	uint16_t initial;     /* --agent-version */
	struct sim_up_counts n;
};

enum sim_up_take { SIM_TAKE_NONE, SIM_TAKE_FETCH, SIM_TAKE_SKIP, SIM_TAKE_BAD };

int up_init(struct sim_upgrades *u, const char *agent_version, uint32_t fail_bp,
	    const char *fail_release);
void up_free(struct sim_upgrades *u);
/* The index of version v (interned), 0 when it is not X.Y.Z or the table is full. */
uint16_t up_intern(struct sim_upgrades *u, const char *v);
const char *up_str(const struct sim_upgrades *u, uint16_t i);
void up_client_init(const struct sim_upgrades *u, struct sim_vup *v);
/* A check-in reply's client_upgrade (o may be NULL): what the client does.
 * SIM_TAKE_FETCH sets stage FETCH, offer and auth; SIM_TAKE_BAD names the
 * error in key. */
enum sim_up_take up_offer(struct sim_upgrades *u, struct sim_vup *v, json_t *o, int64_t now,
			  char key[SIM_KEY_MAX]);
/* Whether client id_hex fails release rel: the first 8 hex digits of
 * SHA-256("ID REL") as a number, modulo 10000, below fail_bp (and, with
 * --upgrade-fail-release, rel is that release). */
bool up_fails(const struct sim_upgrades *u, const char *id_hex, const char *rel);
/* The switch after the download: succeeded or rolled back. */
void up_switch(struct sim_upgrades *u, struct sim_vup *v, const char *id_hex);
/* The pending report as the agent words it; false when none. */
bool up_report(const struct sim_upgrades *u, const struct sim_vup *v, struct proto_status_msg *m,
	       int64_t now);
/* The state file's fields after "ID KEY SEQ": " v=X inv=X newest=X failed=X
 * slot=A report=KIND:REL". */
int up_state_format(const struct sim_upgrades *u, const struct sim_vup *v, struct buf *b);
/* Parse those fields (unknown keys are ignored); 0 or -STEWARD_EINVAL. */
int up_state_parse(struct sim_upgrades *u, struct sim_vup *v, const char *tail);

/* ---- replay files (replay.c) ------------------------------------------------ */
#define SIM_REPLAY_REQUESTS_MAX 20000000u
#define SIM_REPLAY_THREADS_MAX 256u

/* A client whose session is open, as a replay file needs it. */
struct sim_replay_client {
	char id[PROTO_CLIENT_ID_HEX + 1];
	const uint8_t *skey;
	uint64_t epoch;
	uint64_t *seq;             /* the last one used; advanced for every request written */
};

/* Write o->replay_requests check-ins of clients c[0..n) into
 * o->replay_out.0 .. .(threads-1), client i in file i % threads, and print
 * one summary line on stdout. Returns 0 or a negative error code. */
int replay_write(const struct sim_opts *o, const struct proto_checkin_req *tpl,
		 struct sim_replay_client *c, uint32_t n);

/* ---- the fleet ------------------------------------------------------------ */
/* Protocol mode: enroll, open sessions, check in for the duration. Returns
 * the process exit status. */
int fleet_main(const struct sim_opts *o);
/* --plain-url mode: GET the URL with the same engine. */
int plain_main(const struct sim_opts *o);

#endif

/* stewardd internals: the site context shared by the roles' handlers. */
#ifndef STEWARD_SERVER_SITE_H
#define STEWARD_SERVER_SITE_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include <jansson.h>

#include "steward/config.h"
#include "steward/content.h"
#include "steward/core.h"
#include "steward/net.h"
#include "steward/proto.h"
#include "steward/store.h"
#include "steward/tls.h"

#include "consolesession.h"

/* ---- configuration (config.c) ------------------------------------------- */
struct site_config {
	char *listen;
	bool tls;
	char *tls_cert;
	char *tls_key;
	struct conf_list tls_name;
	char *upstream_pin;
	char *data_dir;
	char *database; /* "" for DATA_DIR/steward.db, else a postgresql:// URL */
	char *site_code;
	char *site_name;
	struct conf_list boundary;
	char *roles;
	int64_t checkin_interval;
	int64_t checkin_jitter;
	bool enroll_auto_approve;
	int64_t clock_skew_max;
	int64_t session_ttl;
	int64_t http_max_header_bytes;
	int64_t http_max_body_bytes;
	int64_t http_timeout;
	int64_t http_head_timeout;
	int64_t http_body_timeout;
	int64_t http_body_min_rate;
	int64_t http_max_connections;
	int64_t http_max_per_ip;
	int64_t http_threads;
	int64_t writer_queue_max;
	int64_t writer_batch_max;
	int64_t changes_recheck_interval; /* changes.c */
	struct conf_list management_points; /* sent to agents in check-in replies */
	int64_t status_retention;
	int64_t inventory_interval;  /* inventory (inventory.c) */
	int64_t inventory_max_bytes;
	int64_t inactive_days;
	int64_t package_max_bytes;   /* software distribution */
	char *content_dir;
	char *public_url;
	struct conf_list distribution_point;
	int64_t dp_max_downloads;
	int64_t dp_max_bandwidth;
	char *upstream;
	char *upstream_token_file;
	int64_t dp_sync_interval;
	int64_t status_history_days;
	struct conf_list release_key; /* releases (releases.c) */
	struct conf_list release_key_endorsement; /* releases.c: sent to agents */
	int64_t release_halt_failures;
	int64_t rollout_offers_per_minute, rollout_dp_offers_per_minute;
	int64_t client_link_slow_below, client_link_wan_below; /* link classes (clientlink.c) */
	int64_t client_link_max_age, client_link_probe_interval, client_link_probe_retry;
	int64_t client_link_probe_bytes;
	int64_t client_rate_limit_wan, client_rate_limit_slow, client_rate_limit_metered;
	int64_t link_seen_interval; /* hierarchy (hierarchy.c) */
	int64_t link_retention;
	int64_t link_retention_max;
	int64_t hierarchy_upgrade_timeout; /* hupgrade.c */
	int64_t site_upgrade_watch; /* siteupgrade.c */
	int64_t site_upgrade_health_interval;
	bool metrics_loopback;
	int64_t console_session_idle; /* the web console (console.c) */
	int64_t console_session_lifetime;
	char *log_level;

	/* derived by site_config_finish() */
	char listen_addr[64];
	uint16_t listen_port;
	unsigned role_mask;
	struct core_boundary boundaries[CONF_LIST_MAX];
	size_t n_boundaries;
	uint8_t release_keys[CONF_LIST_MAX][PROTO_PK_BYTES];
	size_t n_release_keys;
};

extern const struct conf_def site_config_table[];
extern const size_t site_config_table_len;

/* The URL others reach this stewardd by: public_url, else the listen
 * address (the host name when listening on every address) and port. */
void site_self_url(const struct site_config *c, unsigned port, char *out, size_t outsz);


/* Validate what one key alone cannot (required keys, derived values). */
int site_config_finish(struct site_config *c, char *msg, size_t msgsz);

/* ---- roles and permissions ----------------------------------------------- */
enum {
	ROLE_SITE_SERVER = 1u << 0,
	ROLE_MANAGEMENT_POINT = 1u << 1,
	ROLE_DISTRIBUTION_POINT = 1u << 2,
	ROLE_ENROLLMENT_POINT = 1u << 3,
	ROLE_ALL = 0xf,
};

enum perm {
	PERM_NONE = 0,      /* anyone */
	PERM_ENROLL,        /* enrollment token in the body, signed with the new key */
	PERM_AGENT_SIGNED,  /* Ed25519 signature of a known client */
	PERM_AGENT,         /* signature or session MAC of a known client */
	PERM_METRICS,       /* a token (allow), or loopback when metrics_loopback */
	PERM_TOKEN,         /* an admin token whose role the route allows */
	PERM_CONTENT,       /* content token signed by the site key, or a token (allow) */
	/* a token (allow), without the version handshake: the way out for a
	 * console the site refuses (consoleupdate.c) */
	PERM_CONSOLE_UPDATE,
	/* a linked site: Steward-Site, signed with its site key, a request
	 * sequence above the last one (hierarchy.c) */
	PERM_SITE,
	/* the web console's session cookie only, for the session's own
	 * routes (console.c); writes need its CSRF token */
	PERM_CONSOLE_SESSION,
};

const char *perm_name(int perm);

/* The roles of admin tokens (docs/security.md). A route's `allow`
 * is the set of roles that may call it; the people's roles nest (read <
 * operator < admin), the service roles of remote site systems stand
 * apart and are named route by route. */
enum token_role {
	TOKEN_ROLE_READ = 1u << 0,     /* every GET of an admin */
	TOKEN_ROLE_OPERATOR = 1u << 1, /* and the day-to-day writes */
	TOKEN_ROLE_ADMIN = 1u << 2,    /* everything */
	TOKEN_ROLE_DP = 1u << 3,       /* a remote distribution point: content, its plan */
};
#define ALLOW_READ (TOKEN_ROLE_READ | TOKEN_ROLE_OPERATOR | TOKEN_ROLE_ADMIN)
#define ALLOW_OPERATOR (TOKEN_ROLE_OPERATOR | TOKEN_ROLE_ADMIN)
#define ALLOW_ADMIN TOKEN_ROLE_ADMIN
/* "read", "operator", "admin", "distribution_point"; "?" for another value */
const char *token_role_name(unsigned role);
/* 0 for a name token_role_name gives, else -STEWARD_EINVAL */
int token_role_parse(const char *name, unsigned *out);
/* allow as "read,operator,admin" ("-" when empty) */
const char *token_roles_text(unsigned allow, char *out, size_t outsz);
/* The least role a route admits, for a refusal: read, else operator, ... */
const char *token_role_needed(unsigned allow);
const char *roles_text(unsigned roles, char *out, size_t outsz);

/* ---- in-memory client registry (registry.c) ------------------------------ *
 * Every client's authentication facts, loaded at start, so a check-in
 * never reads the database. */
struct reg_client {
	int64_t rid;                /* the store's row id */
	uint8_t id[PROTO_CLIENT_ID_BYTES];
	char idhex[PROTO_CLIENT_ID_HEX + 1];
	uint8_t pk[PROTO_PK_BYTES];
	char site[PROTO_SITE_CODE_LEN + 1];
	pthread_mutex_t mu;         /* guards the fields below */
	enum store_client_state state;
	uint64_t last_seq;
	uint64_t min_epoch;
	char *block_reason;
	uint64_t details_hash;      /* of agent_version, protocol, components as stored */
	struct reg_link {           /* the client's link (clientlink.c) */
		int64_t kbps, rtt_ms;   /* the agent's last measurement; 0: none */
		int64_t measured;       /* when, in site time */
		int64_t written;        /* when the stored copy was written */
		int64_t written_kbps;
		uint8_t cls, source;    /* CORE_LC_*, enum core_link_source */
		uint8_t written_cls, written_source;
		bool metered;           /* the agent says its link is metered */
	} link;
	struct reg_client *next;    /* hash chain */
};

struct registry;

int registry_new(size_t expected, struct registry **out);
void registry_free(struct registry *r);
/* Adds (or refreshes) an entry from a database row. */
int registry_put(struct registry *r, const struct store_client *c);
/* The same; *changed (may be NULL) says whether the entry is new or its
 * state or session epoch moved (another management point changed it). A
 * sequence number and an epoch only ever rise. */
int registry_update(struct registry *r, const struct store_client *c, bool *changed);
/* Entries are never freed while the registry lives, so the pointer stays valid. */
struct reg_client *registry_get(struct registry *r, const char *idhex);
void registry_set_state(struct registry *r, struct reg_client *c, enum store_client_state st,
			const char *reason, uint64_t min_epoch);
void registry_counts(struct registry *r, int64_t counts[4]);
/* Hash of the details a check-in reports; equal hashes need no write. */
uint64_t registry_details_hash(const char *agent_version, const char *protocol,
			       const char *components);
/* Make seq, the sequence number a request of c was accepted with, durable:
 * queue it to the check-in writer and wait until the batch holding it has
 * committed (the group commit, no fsync of its own). A request that
 * writes nothing else claims its sequence number this way before it acts
 * or replies, so a copy of it is refused after a restart, even after a
 * kill -9 right after the reply (docs/internals/protocol.md, "Replay
 * across restarts"). */
int registry_seq_persist(struct store_writer *w, const struct reg_client *c, uint64_t seq);
struct site;
struct http_req;
/* registry_seq_persist for the agent request req; false when it failed,
 * and then it has replied (503). */
bool site_seq_claim(struct site *s, struct http_req *req);
/* 401 replayed_sequence for a request the writer found stale: the
 * database held its sequence number or a higher one (another management
 * point took it, docs/internals/management-points.md). */
void site_reply_stale_seq(struct http_req *req, const struct reg_client *c);

/* ---- the clients' links (clientlink.c; docs/slow-links.md) ------------------- */
struct proto_checkin_req;
struct site;
/* A check-in of c from peer (local: over loopback, http_req_peer_loopback):
 * takes the agent's measurement, classifies the link (boundary of peer and
 * measurement) and returns in *store the JSON text to store when it
 * changed enough to be worth a write (else NULL). */
int site_link_checkin(struct site *s, struct reg_client *c, const char *peer, bool local,
		      const struct proto_checkin_req *ci, int64_t now, char **store);
/* The check-in reply's ,"link":{...}: class, rate limit, probe settings;
 * nothing for a lan client with the defaults. deferred: something waits
 * for a faster link (the agent measures again sooner). */
int site_link_reply(struct site *s, struct reg_client *c, bool deferred, struct buf *out);
/* Where c's link stands: its class and "slow link (measured 48 kbit/s)". */
int site_link_describe(struct reg_client *c, char *out, size_t outsz);
/* Restore c's link from the stored JSON (registry_put). */
void site_link_restore(struct reg_link *l, const char *json);
/* The stored JSON as the API shows it (clients show), or NULL. */
struct json_t *site_link_json(const char *stored);
/* The fields "links" ("slow=defer,metered=never") and "link_deadline"
 * (Unix seconds) of an admin request into *p (the defaults when absent);
 * false when refused, and then it has replied (400 bad_link_policy). */
bool site_link_policy_body(struct http_req *req, struct json_t *body, struct core_link_policy *p);
/* {"links": "lan=download,...", "link_deadline": TIME|null} for the API. */
void site_link_policy_json(struct json_t *o, const struct core_link_policy *p);
enum http_result site_h_probe(struct http_req *req, void *app);

/* ---- several management points on one database (changes.c) ------------------ *
 * On PostgreSQL a thread listens for the changes other stewardd announce
 * and applies them to the registry, the software distribution
 * definitions, collections and facts, rollouts, windows and pauses; a
 * full re-read every changes_recheck_interval bounds what a
 * lost announcement can cost (docs/internals/management-points.md). No
 * thread on SQLite. */
struct site;
int site_changes_start(struct site *s, const char *target);
void site_changes_stop(struct site *s);

/* ---- metrics (metrics.c) --------------------------------------------------- */
struct metrics;

int metrics_new(size_t n_routes, struct metrics **out);
void metrics_free(struct metrics *m);
void metrics_observe(struct metrics *m, size_t route_index, int status, int64_t usec);
void metrics_checkin_latency(struct metrics *m, int64_t usec);
struct site;
int metrics_render(struct site *s, struct buf *out);

/* ---- the site -------------------------------------------------------------- */
struct site {
	struct site_config cfg;
	struct store *store;
	struct store_writer *writer;
	struct registry *reg;
	struct metrics *metrics;
	struct http_server *http;
	uint8_t secret[PROTO_SITE_SECRET_BYTES];
	struct proto_keypair site_kp;    /* DATA_DIR/site.key: signs manifests, content tokens */
	/* HTTPS (sitetls.c): what the site serves and the pin clients keep */
	char *tls_key_pem, *tls_cert_pem;
	char tls_pin[TLS_PIN_TEXT_MAX + 1]; /* "" with tls = off */
	uint8_t tls_pin_raw[TLS_PIN_BYTES];
	int64_t tls_not_after;
	/* a key rotation (sitetls.c): the next certificate's pin, announced
	 * on every reply until the site serves it; set before tls_next_on */
	char tls_next[TLS_PIN_TEXT_MAX + 1];
	atomic_bool tls_next_on;
	struct content_store *content;   /* DATA_DIR/content (distribution point, site server) */
	int64_t started;
	atomic_bool stopping;
	pthread_mutex_t refresh_lock;  /* guards the queue below */
	char (*refresh)[PROTO_CLIENT_ID_HEX + 1];
	size_t n_refresh;
	uint64_t refresh_dropped;
	struct site_colls *colls; /* collections (facts.c) */
	struct swd *swd;          /* software distribution (swdist.c) */
	struct boot *boot;        /* client installation (bootstrap.c) */
	struct ros *rollouts;     /* staged rollouts (rollouts.c) */
	struct wins *windows;     /* maintenance windows (windows.c) */
	struct consoles *consoles; /* stewardctl copies seen (consoles.c) */
	struct sitesys *sitesys;   /* remote site systems (sitesystems.c) */
	struct hier *hier;         /* sites above and below (hierarchy.c) */
	struct audit *audit;       /* the audit log's head (audit.c) */
	struct changes *changes;   /* other management points' changes (changes.c) */
	struct csess_table *csess; /* the web console's sessions (console.c) */
	/* accepted check-ins per hour of the week, Monday 00:00 UTC first
	 * (readiness.c): added to without a lock on the check-in path */
	_Atomic uint64_t checkin_hours[CORE_SCHEDULE_HOURS];
	int64_t checkin_hours_saved; /* main loop only */
	/* site upgrades (siteupgrade.c) */
	char exec_path[PATH_MAX]; /* set: main() execs it after the shutdown */
	bool upgrade_rollback;    /* main() restores the backup before that exec */
	char exec_listen[96];        /* --listen for the exec: the port bound now */
	bool upgrade_trial;       /* this process is a version on trial */
	atomic_bool upgrading;    /* an upgrade was accepted: no second one */
	int upgrade_lock_fd;      /* DATA_DIR/stewardd.lock, held while this runs */
	struct {                  /* this process is a new version on watch */
		atomic_bool on;   /* cleared (under siteupgrade.c's lock) when it ends */
		int64_t started;  /* the new version began to serve (wall clock s) */
		int64_t until;    /* the watch ends */
		int64_t serving;  /* this process serves since */
		int64_t next_check;
		int fails;        /* health checks failed in a row */
		int oks;          /* passed since this process serves */
		bool curl;        /* libcurl initialised for the checks */
	} watch;
};

/* Not const: site_routes_configure() sets the limits that come from the
 * configuration (max_body of POST /api/v1/inventory) before the server starts. */
extern struct http_route site_routes[];
extern const size_t site_routes_len;
void site_routes_configure(const struct site_config *c);

/* ---- inventory (inventory.c) ------------------------------------------------ */
enum http_result site_h_inventory_post(struct http_req *req, void *app);
enum http_result site_h_inventory_show(struct http_req *req, void *app);
enum http_result site_h_inventory_history(struct http_req *req, void *app);

int site_authorize(struct http_req *req, const struct http_route *route, enum http_auth_phase phase,
		   void *app, struct steward_err *err);
void site_observe(const struct http_route *route, struct http_req *req, int status,
		  int64_t usec, void *app);

/* ---- the audit log (audit.c) --------------------------------------------------- *
 * Every write of an admin token (any route but a GET, allowed or refused
 * for its role) is one entry, chained by a keyed hash to the one before;
 * docs/security.md. */
struct audit;
int site_audit_load(struct site *s);
void site_audit_free(struct site *s);
/* From site_observe: record req if it is a write of an admin token. */
void site_audit_request(struct site *s, const struct http_route *route, struct http_req *req,
			int status);
enum http_result site_h_audit_list(struct http_req *req, void *app);
enum http_result site_h_audit_verify(struct http_req *req, void *app);

/* Principal attached to an authenticated request. */
struct principal {
	enum {
		PRINCIPAL_ADMIN,
		PRINCIPAL_AGENT,
		PRINCIPAL_LOOPBACK,
		PRINCIPAL_ENROLLING,
		PRINCIPAL_SITE,
	} kind;
	char name[65];              /* admin name; a linked site's code */
	unsigned role;              /* admin: the token's role (one TOKEN_ROLE_ bit) */
	char object[128];           /* admin: what a write acted on, when the path does not say
				     * (a handler may set it; the audit log records it) */
	struct reg_client *client;  /* agent */
	uint64_t seq;
	int64_t ts;
	uint8_t enroll_pk_sig_ok;   /* enrolling: signature checked against body key later */
	bool session;               /* admin: by a web console's session, not a bearer token */
	char csrf[CSESS_TEXT_LEN + 1]; /* session: its CSRF token */
	int64_t session_expires;    /* session: when it ends unless used again */
};

/* The name of the administrator who made req, "?" when it is no admin's
 * (for logs and the records a write keeps: created_by, marked_by). */
const char *site_admin_who(struct http_req *req);

/* Reply helpers for handlers. */
void reply_error(struct http_req *req, int status, const char *code, const char *remedy,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void reply_json_obj(struct http_req *req, int status, void *json_obj); /* takes the reference */
/* 503 store_unavailable with Retry-After. */
void reply_store_error(struct http_req *req, int rc);
/* An admin request's body as a JSON object ({} when empty); on bad input
 * replies 400 itself and returns NULL. */
json_t *admin_body(struct http_req *req);
/* RFC 3339 text, or JSON null for 0. */
json_t *time_json(int64_t t);

/* ---- collections (facts.c, collections.c) ---------------------------------- */
#include "steward/query.h" /* CORE_QUERY_DEP_* for site_facts_client_changed */

/* sitetls.c: load (or, the first time, make) the HTTPS key and
 * certificate; nothing with tls = off. */
int site_tls_start(struct site *s, struct steward_err *err);
void site_tls_stop(struct site *s);
/* The pins stewardd trusts when it calls out: its own, its upstream's;
 * linked sites add theirs with site_trust_pin (URL, "sha256:HEX"). */
void site_trust_init(struct site *s, unsigned port);
int site_trust_pin(const char *url, const char *pin_text);
/* The pin trusted for url's origin as 64 hex digits ("" and
 * -STEWARD_ENOTFOUND when none). */
int site_trust_pin_get(const char *url, char hex[TLS_PIN_HEX + 1]);
/* A linked site announced its next pin: trusted beside the one it has. */
int site_trust_pin_add(const char *url, const char *pin_text);
/* POST /api/v1/site/rotate-key: a next TLS key (start) or the switch to it. */
enum http_result site_h_rotate_key(struct http_req *req, void *app);


struct site_colls;
struct facts;
struct coll_engine;

/* Load every client's query facts and the collection definitions; the
 * built-in collections cover the site's own code and each boundary's. */
int site_collections_load(struct site *s);
void site_collections_free(struct site *s);
/* The definitions read again (another management point changed them):
 * when they differ from those loaded, every collection is evaluated anew
 * and swapped in under the collections mutex (*changed). 0 or the store's
 * error, the collections in memory left as they were. */
int site_collections_refresh(struct site *s, bool *changed);
/* A client's rows changed (enrolled, state changed, inventory stored):
 * reload its facts from the store and update its memberships. dep_mask:
 * the CORE_QUERY_DEP_* classes that changed (0: all). */
int site_facts_client_changed(struct site *s, const char *client_id, unsigned dep_mask);
/* A committed check-in changed what the site knows of a client (its agent
 * version): refresh its facts soon, off the writer thread (main loop). */
void site_facts_refresh_later(struct site *s, const char *client_id);
/* Run the refreshes queued so far; called by the main loop every second. */
void site_facts_refresh_run(struct site *s);
/* Hold the collections mutex around any use of the engine or facts. */
void site_colls_lock(struct site *s, struct facts **f, struct coll_engine **e);
void site_colls_unlock(struct site *s);
/* Route handlers (collections_api.c). */
enum http_result site_h_collections_create(struct http_req *req, void *app);
enum http_result site_h_collections_list(struct http_req *req, void *app);
enum http_result site_h_collections_show(struct http_req *req, void *app);
enum http_result site_h_collections_members(struct http_req *req, void *app);
enum http_result site_h_collections_explain(struct http_req *req, void *app);
enum http_result site_h_collections_delete(struct http_req *req, void *app);
enum http_result site_h_inventory_query(struct http_req *req, void *app);

/* ---- content (content.c) ---------------------------------------------------- *
 * Downloads from the distribution point (GET /content/HASH) and the site
 * server's upload calls; docs/internals/distribution-points.md. */
#define SITE_CONTENT_MISSING_MAX_BODY (1024u * 1024) /* 10,000 hashes in JSON */
extern const struct http_body_sink site_content_put_sink; /* PUT streams into the store */
enum http_result site_h_content_get(struct http_req *req, void *app);
enum http_result site_h_content_missing(struct http_req *req, void *app);
enum http_result site_h_content_put(struct http_req *req, void *app);

/* ---- the web console (console.c; docs/internals/console-server.md) ------------------ */
/* One file of console/, compiled in (cmake/embed_dir.cmake). */
struct site_asset {
	const char *name;
	const char *data;
	size_t len;
	const char *etag; /* quoted */
};
extern const struct site_asset site_console_assets[];
extern const size_t site_console_assets_len;
int site_console_start(struct site *s);
void site_console_free(struct site *s);
/* An admin token's text (stw_...) checked as a bearer token is: 0 and its
 * row in *a (hash_out, may be NULL: the token's hash), or the status to
 * refuse with (401 token_invalid, token_revoked; 503) and err; a revoked
 * token fills *a too. */
int site_admin_token_check(struct site *s, const char *token, struct store_admin *a,
			   uint8_t hash_out[PROTO_HASH_BYTES], struct steward_err *err);
/* The request carries a steward_session cookie. */
bool site_console_has_cookie(struct http_req *req);
/* The session of req's cookie: 0 and *out, or 401 (auth_required,
 * session_expired) and err. */
int site_console_session(struct site *s, struct http_req *req, struct csess *out,
			 struct steward_err *err);
/* Forget the session of req's cookie (sign-out, a revoked admin). */
void site_console_session_end(struct site *s, struct http_req *req);
/* When cs ends unless used again: its idle timeout or lifetime. */
int64_t site_console_session_expires(struct site *s, const struct csess *cs);
/* A write by a session: its Origin (when sent) is this site and its
 * X-Steward-CSRF is the session's; 0, or 403 and err. */
int site_console_write_check(struct site *s, struct http_req *req, const struct csess *cs,
			     struct steward_err *err);
enum http_result site_h_console_redirect(struct http_req *req, void *app);
enum http_result site_h_console_asset(struct http_req *req, void *app);
enum http_result site_h_console_signin(struct http_req *req, void *app);
enum http_result site_h_console_session(struct http_req *req, void *app);
enum http_result site_h_console_signout(struct http_req *req, void *app);
enum http_result site_h_overview(struct http_req *req, void *app);
/* If-None-Match lists etag (content.c) */
bool site_etag_listed(const char *header, const char *etag);

/* GET /api/v1/sites's array (hierarchy.c): 0 and *out, or a store error. */
int site_links_json(struct site *s, json_t **out);
/* Every advertisement with its status counts (swdist.c): [{"name",
 * "enabled", "collection", "members", "succeeded", "failed", "running",
 * "no_status", "counts"}]; NULL on a store error. */
json_t *site_adverts_overview(struct site *s);

/* ---- consoles (consoles.c) --------------------------------------------------------- */
struct consoles;
int site_consoles_load(struct site *s);
void site_consoles_free(struct site *s);
/* An admin request from admin: note its program's version and address.
 * refused: why the site refuses this console (its protocol or API), NULL
 * when it is accepted. */
void site_console_seen(struct site *s, struct http_req *req, const char *admin,
		       const char *refused);
/* Add "consoles" (the last 30 days) to GET /api/v1/site. */
void site_consoles_show(struct site *s, json_t *site_obj);
/* GET /update/console and /update/console/files/{hash}: served to every
 * console whatever it speaks (consoleupdate.c). */
enum http_result site_h_console_update(struct http_req *req, void *app);
enum http_result site_h_console_update_file(struct http_req *req, void *app);

/* ---- remote site systems (sitesystems.c) ------------------------------------------- */
/* "URL ROLES": sent by a remote site system on every call to its site server */
#define SITE_SYSTEM_HEADER "Steward-Site-System"
struct sitesys;
int site_systems_load(struct site *s);
void site_systems_free(struct site *s);
/* An admin request: true when it came from a remote site system (noted). */
bool site_system_seen(struct site *s, struct http_req *req);
enum http_result site_h_systems_list(struct http_req *req, void *app);
enum http_result site_h_systems_upgrade(struct http_req *req, void *app);
enum http_result site_h_systems_slow(struct http_req *req, void *app);
enum http_result site_h_systems_confirm(struct http_req *req, void *app);
enum http_result site_h_systems_retry(struct http_req *req, void *app);
enum http_result site_h_systems_plan(struct http_req *req, void *app);
/* The protocol range the remote site system at url last spoke; false when
 * it never called. */
bool site_system_protocol(struct site *s, const char *url, struct proto_range *out);
/* A coordinated upgrade: make to the version this site's remote site
 * systems should run (as `systems upgrade --to`); 1 when each one seen in
 * the last week runs it, 0 while one is on its way (why names it), -1 when
 * one's upgrade rolled back (why says which). */
int site_systems_at(struct site *s, const char *to, char *why, size_t whysz);

/* ---- site upgrades (siteupgrade.c) ------------------------------------------------ */
/* Before the store opens: note a trial of this version, resume the watch
 * of this version after an orderly stop, or undo an upgrade whose new
 * version died (before it served, or while on watch). 0: go on starting;
 * 1: the database is restored and exec_path is the old binary, which
 * main() starts at once; negative: refuse to start (err says why). */
int site_upgrade_startup(struct site *s, struct steward_err *err);
/* The version on trial or on watch failed (reason): record the rollback,
 * set exec_path to the old binary. 0 when main() should exec it, after
 * site_upgrade_before_exec. */
int site_upgrade_failed(struct site *s, const char *reason);
/* Right before main() execs exec_path, the store closed: restore the
 * backup of a failed upgrade. Non-zero: it could not, do not exec. */
int site_upgrade_before_exec(struct site *s);
/* The trial version serves: the upgrade is watched for site_upgrade_watch
 * (or succeeded at once when that is 0). */
void site_upgrade_serving(struct site *s);
/* Every second from the main loop: the health checks of the version on
 * watch, the end of the watch. 1 when it failed: the main loop stops as on
 * SIGTERM and main() goes back to the old version. */
int site_upgrade_tick(struct site *s);
/* After an orderly shutdown: a version on watch notes that it stopped
 * cleanly, so that its next start resumes the watch instead of rolling
 * back. */
void site_upgrade_stopped(struct site *s);
void site_upgrade_show(struct site *s, json_t *site_obj);
/* The last upgrade of this stewardd to version to rolled back. */
bool site_upgrade_rolled_back(struct site *s, char *to, size_t tosz);
/* Is the version that runs still on watch after its upgrade (until when)?
 * From the main loop only. */
bool site_upgrade_watching(struct site *s, int64_t *until);
/* The same, with the reason the record gives (why may be NULL). */
bool site_upgrade_rolled_back_why(struct site *s, char *to, size_t tosz, char *why, size_t whysz);
/* Whether this site can back up its database for an upgrade now: its size,
 * the free space, the newest backup, and what is wrong ("problem", "" none);
 * for the plan of a coordinated upgrade (the tree carries it up). */
json_t *site_upgrade_readiness(struct site *s);
/* Its remote site systems seen in the last week: {"count", "slow"}. */
json_t *site_systems_summary(struct site *s);
/* The same systems one by one: [{"url", "roles", "version", "protocol",
 * "last_seen", "slow", "confirmed"}] (the readiness check, readiness.c). */
json_t *site_systems_json(struct site *s);
enum http_result site_h_site_upgrade(struct http_req *req, void *app);
/* The site component of release r if this stewardd may become it, else
 * NULL with err (refused, incompatible). */
const struct content_component *site_upgrade_component(const struct content_release *r,
							struct steward_err *err);
/* Whether imported release to could replace this stewardd. */
int site_upgrade_check(struct site *s, const char *to, struct steward_err *err);
/* Upgrade to the imported release to now (site_upgrade_start with its
 * manifest): the process stops and execs into it. */
int site_upgrade_to(struct site *s, const char *to, const char *by, struct steward_err *err);
/* stewardd --prepare-upgrade VERSION (a package upgrade): keep this binary,
 * back up the database and record a trial to VERSION, so that the new
 * version's start rolls back as after site upgrade. 0, 1 (VERSION is this
 * version) or a negative error with err set. */
int site_upgrade_prepare_package(struct site *s, const char *to, struct steward_err *err);
/* Steps 2 to 6 for release r, whose files are in this content store:
 * 0 and the trial record (the caller replies or logs it), then the
 * process stops and execs the new version. */
int site_upgrade_start(struct site *s, const struct content_release *r, const char *by,
		       json_t **record, struct steward_err *err);

/* ---- releases (releases.c) ----------------------------------------------------- */
/* Import a signed release manifest whose files are in the content store
 * (an administrator's upload, or the fetcher of a site below). */
struct release_import {
	const char *text; /* the manifest */
	size_t len;
	bool rollback, check_only;
	const char *rollback_auth; /* releases rollback-sign's line, NULL */
	const char *by; /* who: an admin's name, "site CEN" */
	const char *deltas; /* release.deltas (content.h), NULL: none */
	size_t deltas_len;
	/* out */
	struct store_release row; /* imported; or held already, offered again */
	bool is_newest, held;
	int status; /* the HTTP status of a refusal */
};
/* The setting that keeps the blob hash of release V's delta list. */
#define SITE_RELEASE_DELTAS_SETTING "release_deltas:"
/* The setting that keeps release V's rollback authorization. */
#define SITE_ROLLBACK_AUTH_SETTING "rollback_authorization:"
/* 0, or a refusal with err and imp->status. */
int site_release_import(struct site *s, struct release_import *imp, struct steward_err *err);
/* Every imported release (malloc'd array, the caller frees). */
int site_release_rows(struct site *s, struct store_release **rows, size_t *n);
/* Read and parse the manifest blob hash (text malloc'd, the caller frees
 * it and clears r); trusted_only: its key must be in release_key. */
/* The release_keys object agents get (enrollment reply, upgrade offers):
 * {"keys": the trusted release keys (at most CONTENT_RELEASE_KEYS_MAX),
 * "signature": the site key's over them, "endorsements": the lines of
 * release_key_endorsement}. New reference; NULL when this site trusts none. */
struct json_t *site_release_keys_json(struct site *s);
int site_release_manifest(struct site *s, const char *hash, bool trusted_only,
			  struct content_release *r, char **text, size_t *len,
			  struct steward_err *err);

/* ---- the readiness check before an upgrade (readiness.c) ----------------------- */
/* GET /api/v1/upgrade/check?to=V */
enum http_result site_h_upgrade_check(struct http_req *req, void *app);
/* The check-in history: load it from the settings (at start), save it
 * every few minutes (tick, main loop) and at a clean stop. */
void site_readiness_load(struct site *s);
void site_readiness_tick(struct site *s);
void site_readiness_save(struct site *s);
/* A check-in accepted at t: one more in its hour of the week. */
static inline void site_checkin_counted(struct site *s, int64_t t)
{
	atomic_fetch_add_explicit(&s->checkin_hours[core_hour_of_week(t)], 1,
				  memory_order_relaxed);
}
/* This site's installs as the readiness check and the sites above read
 * them: {"enrollment_point", "paused", "rate_per_hour"}. */
json_t *site_readiness_installs(struct site *s);

/* ---- the hierarchy (hierarchy.c) ----------------------------------------------- */
struct hier;
int site_hierarchy_load(struct site *s);
/* Start the senders toward the linked sites; port is the one bound. */
void site_hierarchy_listening(struct site *s, unsigned port);
void site_hierarchy_stop(struct site *s);
void site_hierarchy_free(struct site *s);
/* Called by the main loop every second: last-seen digests and the tree. */
void site_hierarchy_tick(struct site *s);
/* Something was queued toward the linked sites: send it now. */
void site_hierarchy_wake(struct site *s);
/* Settings (from down_settings in hierarchy.c) for every site below,
 * down the whole tree; settings is not taken. */
int site_hierarchy_settings(struct site *s, json_t *settings);
/* A pause (or its end) for every site below, down the whole tree. */
int site_hierarchy_cascade(struct site *s, const char *paused_key, bool paused,
			   const char *reason_key, const char *reason);
/* A release imported here goes to every site below (they fetch its files). */
void site_hierarchy_release(struct site *s, const char *manifest, size_t len,
			    const char *version, bool rollback);
/* An enrollment token (or its revocation) for every site below. */
int site_hierarchy_token(struct site *s, const struct store_token *t);
int site_hierarchy_token_revoke(struct site *s, const char *id);
/* ---- the coordinated upgrade of the hierarchy (hupgrade.c) ------------------ */
enum http_result site_h_hierarchy_upgrade(struct http_req *req, void *app);
enum http_result site_h_hierarchy_status(struct http_req *req, void *app);
/* The main loop, every second: this site's own target, and the plan. */
void site_hupgrade_tick(struct site *s);
/* Is version held back from clients here (a target this site does not run yet)? */
bool site_hupgrade_holds(struct site *s, const char *version);
/* The plan of `hierarchy upgrade --to V --plan`: the sites in upgrade
 * order, each with its version, protocol, readiness and "blocker" when it
 * is not ready; every blocker also in *blockers. NULL on a store failure. */
json_t *site_hupgrade_plan(struct site *s, const char *to, json_t **blockers);
/* The compatibility matrix of release r for a site or site system that runs
 * version and speaks protocol ("MIN-MAX"): true when it may go to r
 * directly (version at least r's upgrade_from, a protocol in common with r's
 * stewardd), else false and why. */
bool site_hupgrade_matrix(const struct store_release *r, const char *version,
			  const char *protocol, char *why, size_t whysz);

/* This site and what is below it, as far as reports have come up. */
json_t *site_hierarchy_tree(struct site *s);
/* Tell the parent (if any) how an object from above went here. */
void site_hierarchy_report(struct site *s, const char *kind, const char *name, const char *state,
			   const char *detail);
/* Queue a message for every child (body is not taken). */
int site_hierarchy_down(struct site *s, int cls, const char *kind, json_t *body);
/* PERM_SITE: a request from a linked site. */
int site_hierarchy_auth(struct site *s, struct http_req *req, struct steward_err *err);
enum http_result site_h_link_batch(struct http_req *req, void *app);
enum http_result site_h_link_attach(struct http_req *req, void *app);
enum http_result site_h_link_content(struct http_req *req, void *app);
enum http_result site_h_sites_token(struct http_req *req, void *app);
enum http_result site_h_sites_attach(struct http_req *req, void *app);
enum http_result site_h_sites_list(struct http_req *req, void *app);
enum http_result site_h_sites_detach(struct http_req *req, void *app);
enum http_result site_h_sites_link(struct http_req *req, void *app);
enum http_result site_h_hierarchy_show(struct http_req *req, void *app);
enum http_result site_h_hierarchy_objects(struct http_req *req, void *app);

/* ---- objects from above (hierarchy.c applies them through these) --------------
 * Each takes one object the parent sent (d, its parsed body b) and says how
 * it went in out: done (state "applied", "deleted", "name_conflict" or
 * "refused") or not yet (state "waiting..."; tried again later). The
 * bodies were checked when the batch was decoded. */
struct site_down_out {
	bool done;
	char state[24];
	char detail[STORE_OBJECT_DETAIL_MAX + 1];
};
void site_down_set(struct site_down_out *o, bool done, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* programs and advertisements (swdist.c) */
void site_swdist_down(struct site *s, const struct store_down *d, json_t *b,
		      struct site_down_out *out);
/* a package: is NAME@VERSION here (1, *origin filled: "" for this site's
 * own), or not (0)? */
int site_swdist_package_here(struct site *s, const char *name, const char *version,
			     char origin[PROTO_SITE_CODE_LEN + 1]);
/* a package whose content is here now: signed anew with this site's key
 * (its agents trust only that) and stored as defined at origin */
int site_swdist_package_from_above(struct site *s, struct content_manifest *m,
				   const char *comment, const char *by, const char *origin,
				   struct steward_err *err);
/* collections (collections_api.c) */
void site_collection_down(struct site *s, const struct store_down *d, json_t *b,
			  struct site_down_out *out);
/* Checks of a body from above (the batch decoder): a program's name and
 * its spec (command, timeout, codes, ...), false with why. */
bool site_swdist_name_valid(const char *name);
bool site_swdist_spec_valid(json_t *spec, char *why, size_t whysz);
/* The refusal of a change to an object from above (409 object_from_above). */
void site_reply_from_above(struct http_req *req, const char *what, const char *name,
			   const char *origin);

/* ---- client installation (bootstrap.c) ----------------------------------------- */
struct boot;

/* Load the installs pause and rate into memory. */
int site_bootstrap_load(struct site *s);
void site_bootstrap_free(struct site *s);
/* Read the pause of installs again (a parent changed it). */
void site_bootstrap_reload(struct site *s);
enum http_result site_h_bootstrap_script(struct http_req *req, void *app);
enum http_result site_h_bootstrap_claim(struct http_req *req, void *app);
enum http_result site_h_bootstrap_file(struct http_req *req, void *app);
enum http_result site_h_bootstrap_report(struct http_req *req, void *app);
enum http_result site_h_installs_pause(struct http_req *req, void *app);
enum http_result site_h_installs_resume(struct http_req *req, void *app);
/* A release was imported, withdrawn, reinstated or failed somewhere:
 * choose the offer again at the next request. */
void site_bootstrap_releases_changed(struct site *s);
/* The release offered to installed agents and the one new machines
 * install ("" when none), each at most sz bytes. */
void site_bootstrap_offers(struct site *s, char *offer, char *install, size_t sz);
/* Where a release stands at this site; why says it for the administrator
 * ("" when good). Withdrawn and halted releases are offered to no one;
 * one that failed anywhere is not installed on new machines. */
enum {
	SITE_RELEASE_GOOD = 0,
	SITE_RELEASE_FAILED,
	SITE_RELEASE_HALTED,
	SITE_RELEASE_WITHDRAWN,
};
int site_release_state(const struct site *s, const struct store_release *r, char *why,
		       size_t whysz);
/* The release to put forward among rows: the newest whose component for
 * the purpose (the agent, or stewardctl) speaks this site's protocol, not
 * expired and not withdrawn, unless an explicit rollback
 * was put forward later; agents are not offered a halted release, new
 * machines none that failed anywhere. name gets the component's name;
 * NULL and why when there is none. */
enum site_choice { SITE_CHOOSE_AGENTS, SITE_CHOOSE_INSTALL, SITE_CHOOSE_CONSOLE };
const struct store_release *site_release_choose(const struct site *s,
						const struct store_release *rows, size_t n,
						enum site_choice purpose, int64_t now, char *name,
						size_t namesz, char *why, size_t whysz);
/* Add "installs" (pause, rate, the release offered) to GET /api/v1/site. */
void site_bootstrap_show(struct site *s, json_t *site_obj);
/* Append ,"client_upgrade":{...} to a check-in reply under construction
 * when the client is in the upgrade collection and runs another base or
 * optional component version (ci: what it reported) than the release the
 * site offers, or a rollout offers it one (or says why not). *next_in, when
 * set above 0, asks the agent to check in again that soon (the next
 * maintenance window, a capped offer). *link_deferred: the offer waits for
 * a faster link (docs/slow-links.md). */
int site_client_upgrade_policy(struct site *s, struct reg_client *c, const char *peer,
			       const struct proto_checkin_req *ci, struct buf *b, int64_t *next_in,
			       bool *link_deferred);
enum http_result site_h_client_upgrade(struct http_req *req, void *app);

/* ---- rollouts (rollouts.c) and maintenance windows (windows.c) ---------------------- */
struct ros;
struct coll_engine;
enum ro_kind {
	RO_NONE = 0, /* in no active rollout: the site's client-upgrade policy applies */
	RO_EXCLUDED, /* excluded: no offer and no word about one */
	RO_DONE,     /* the rollout has nothing for it (runs the release, or not concerned) */
	RO_HOLD,     /* in a rollout, not now: why */
	RO_OFFER,    /* offer release version (rollback: an older one) */
	RO_NEED_DP,  /* ask again with the client's distribution point (dp NULL) */
};
struct ro_choice {
	enum ro_kind kind;
	char version[32];
	bool rollback;
	char why[400];
	int64_t next_window; /* HOLD outside the windows: when the next one opens */
	int64_t window_len;  /* and how long it stays open */
	int64_t retry_in;    /* HOLD at a cap: ask again soon */
	bool link_deferred;  /* HOLD for the client's link class */
};
int site_rollouts_load(struct site *s);
/* A rollout's or a window's name: 1 to 64 of A-Z a-z 0-9 . _ - */
bool site_rollout_name_ok(const char *n);
/* Whether a rollout is started or scheduled (cheap: an atomic). */
bool site_rollouts_any(struct site *s);
void site_rollouts_free(struct site *s);
/* Once a second (main loop): starts, gates, halts (advance: in the site
 * server only); progress to the database. */
void site_rollouts_tick(struct site *s, bool advance);
/* Rollout name read again (another stewardd announced it): its members'
 * news, and with take_doc (a management point) its document, a new
 * rollout or its deletion. refresh_all: every rollout (the re-read). */
int site_rollouts_refresh(struct site *s, const char *name, bool take_doc);
int site_rollouts_refresh_all(struct site *s, bool take_doc);
/* What the rollouts have for client c at agent_version. dp: the URL of
 * its first distribution point ("" none), or NULL when not looked up yet:
 * then a client about to be offered something gets RO_NEED_DP, and the
 * caller asks again with it (it is looked up outside the locks, and only
 * for those clients). */
int site_rollouts_decide(struct site *s, struct reg_client *c, const char *agent_version,
			 const char *dp, struct ro_choice *out);
void site_rollouts_outcome(struct site *s, const char *client, const char *version,
			   bool succeeded, const char *detail);
int site_rollouts_metrics(struct site *s, struct buf *out);
/* The rollouts that serve clients or are scheduled, in short (readiness.c). */
struct json_t *site_rollouts_summary(struct site *s);
/* The paused and halted rollouts: [{"name", "state", "release", "wave",
 * "why", "halt_why"}] (the console's overview). */
struct json_t *site_rollouts_stopped(struct site *s);
/* Every maintenance window with its next opening (readiness.c, the API). */
struct json_t *site_windows_json(struct site *s);
enum http_result site_h_rollouts_create(struct http_req *req, void *app);
enum http_result site_h_rollouts_list(struct http_req *req, void *app);
enum http_result site_h_rollouts_show(struct http_req *req, void *app);
enum http_result site_h_rollouts_clients(struct http_req *req, void *app);
enum http_result site_h_rollouts_delete(struct http_req *req, void *app);
enum http_result site_h_rollouts_start(struct http_req *req, void *app);
enum http_result site_h_rollouts_pause(struct http_req *req, void *app);
enum http_result site_h_rollouts_resume(struct http_req *req, void *app);
enum http_result site_h_rollouts_promote(struct http_req *req, void *app);
enum http_result site_h_rollouts_abort(struct http_req *req, void *app);
enum http_result site_h_rollouts_rollback(struct http_req *req, void *app);
/* The maintenance windows of the client in slot at now (caller holds the
 * collections): inside one, missed one since `since`, the next opening. */
struct ro_window_gate {
	bool inside;	  /* no windows at all counts as inside */
	bool missed;	  /* a window of it opened and closed after since */
	int64_t next_open; /* 0: no windows */
	int64_t next_close;
};
void site_rollout_window_gate(struct site *s, struct coll_engine *e, uint32_t slot, int64_t now,
			      int64_t since, struct ro_window_gate *g);
/* The client's windows as [[open, close], ...] for the next week, or NULL. */
struct json_t *site_windows_for_client(struct site *s, struct coll_engine *e, uint32_t slot,
				       int64_t now);
int site_windows_load(struct site *s);
/* The windows read again (another management point changed them); *changed
 * when they differ from those held. */
int site_windows_refresh(struct site *s, bool *changed);
void site_windows_free(struct site *s);
enum http_result site_h_windows_create(struct http_req *req, void *app);
enum http_result site_h_windows_list(struct http_req *req, void *app);
enum http_result site_h_windows_delete(struct http_req *req, void *app);

/* ---- software distribution (swdist.c) ------------------------------------------ */
struct swd;

/* Load packages, programs, advertisements and the pause flag into memory. */
int site_swdist_load(struct site *s);
void site_swdist_free(struct site *s);
/* Read the pause of advertisements again (a parent changed it). */
void site_swdist_reload(struct site *s);
/* Packages, programs and advertisements read again from the store (a
 * change another management point announced): 0, or the store's error
 * with the definitions in memory left as they were. */
int site_swdist_refresh(struct site *s);
/* The HTTP server listens on port (the configured one, or the one the
 * kernel chose for port 0): this stewardd's own DP URL uses it. */
void site_swdist_listening(struct site *s, unsigned port);
/* Append ,"adverts_paused":... and, for a targeted client, its policy
 * (site_key, content_token, dps, adverts) to a check-in reply object
 * under construction in b (members only, no closing brace). */
int site_swdist_policy(struct site *s, struct reg_client *c, const char *peer, struct buf *b);
/* How many advertisements target the collection; their names into msg. */
size_t site_swdist_collection_users(struct site *s, const char *collection, char *msg,
				    size_t msgsz);
/* The distribution points for a client at peer, nearest first. */
json_t *site_swdist_dps(struct site *s, const char *peer);
/* Appends ,"dp_pins":{...} (the pinned distribution points) to b, or nothing. */
int site_swdist_dp_pins(struct site *s, struct buf *b);
/* A remote distribution point told its pin (sitesystems.c): recompute. */
void site_swdist_pins_changed(struct site *s);
/* Add site_key and the advertisement summary to GET /api/v1/site. */
void site_swdist_show(struct site *s, json_t *site_obj);
/* Content tokens (docs/internals/swdist.md): sign one for a client, or
 * check one: 0 and the client id, -STEWARD_EINVAL malformed,
 * -STEWARD_EAUTH bad signature, -STEWARD_ETIMEDOUT expired. */
int site_content_token(const struct proto_keypair *kp, const char *client_id, int64_t expires,
		       char *out, size_t outsz);
int site_content_token_check(const uint8_t pk[PROTO_PK_BYTES], const char *token, int64_t now,
			     char *client_id, size_t idsz);
/* The key content tokens must carry: the site server's own, or on a
 * remote distribution point the one its upstream published. false: not
 * known yet. */
bool site_content_key(struct site *s, uint8_t pk[PROTO_PK_BYTES]);
/* Route handlers. */
enum http_result site_h_packages_create(struct http_req *req, void *app);
/* releases (releases.c) */
enum http_result site_h_releases_import(struct http_req *req, void *app);
enum http_result site_h_releases_list(struct http_req *req, void *app);
enum http_result site_h_releases_show(struct http_req *req, void *app);
enum http_result site_h_releases_withdraw(struct http_req *req, void *app);
enum http_result site_h_releases_reinstate(struct http_req *req, void *app);
/* Record how a release went on one machine (outcome "succeeded",
 * "rolled_back" or "install_failed"); a failure makes the site choose its
 * offers again. -STEWARD_ENOTFOUND for a release the site does not hold. */
int site_release_outcome(struct site *s, const char *version, const char *client,
			 const char *outcome, const char *detail);
/* The upgrade outcomes among a check-in's status messages. */
void site_releases_checkin_status(struct site *s, const char *client,
				  const struct proto_checkin_req *ci);
enum http_result site_h_packages_list(struct http_req *req, void *app);
enum http_result site_h_packages_show(struct http_req *req, void *app);
enum http_result site_h_packages_delete(struct http_req *req, void *app);
enum http_result site_h_content_index(struct http_req *req, void *app);
enum http_result site_h_programs_create(struct http_req *req, void *app);
enum http_result site_h_programs_list(struct http_req *req, void *app);
enum http_result site_h_programs_show(struct http_req *req, void *app);
enum http_result site_h_programs_delete(struct http_req *req, void *app);
enum http_result site_h_adverts_create(struct http_req *req, void *app);
enum http_result site_h_adverts_list(struct http_req *req, void *app);
enum http_result site_h_adverts_show(struct http_req *req, void *app);
enum http_result site_h_adverts_enable(struct http_req *req, void *app);
enum http_result site_h_adverts_disable(struct http_req *req, void *app);
enum http_result site_h_adverts_delete(struct http_req *req, void *app);
enum http_result site_h_adverts_pause(struct http_req *req, void *app);
enum http_result site_h_adverts_resume(struct http_req *req, void *app);
enum http_result site_h_agent_status(struct http_req *req, void *app);
enum http_result site_h_status_advert(struct http_req *req, void *app);
enum http_result site_h_status_client(struct http_req *req, void *app);

/* ---- remote distribution point (dpsync.c) -------------------------------------- *
 * With `upstream` set, a thread pulls the blobs the site's packages need
 * from the site server every dp_sync_interval; docs/internals/
 * distribution-points.md. One per process. */
/* Start after the HTTP server and the content store are up; refuses a
 * configuration that cannot work (roles, upstream_token_file, a damaged
 * DATA_DIR/upstream.key). */
int site_dpsync_start(struct site *s, struct steward_err *err);
/* Stop and join the thread (within about a second); before the content
 * store closes. Safe when it never started. */
void site_dpsync_stop(struct site *s);
/* The site's public key as the upstream published it (kept in
 * DATA_DIR/upstream.key across restarts); false until it is known. */
bool site_dpsync_site_key(struct site *s, uint8_t out[PROTO_PK_BYTES]);
/* Append the steward_dp_sync_* counters to /metrics (nothing when not running). */
int site_dpsync_metrics(struct site *s, struct buf *out);

#endif

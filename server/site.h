/* stewardd internals: the site context shared by the roles' handlers. */
#ifndef STEWARD_SERVER_SITE_H
#define STEWARD_SERVER_SITE_H

#include <pthread.h>
#include <stdatomic.h>

#include "steward/config.h"
#include "steward/core.h"
#include "steward/net.h"
#include "steward/proto.h"
#include "steward/store.h"

/* ---- configuration (config.c) ------------------------------------------- */
struct site_config {
	char *listen;
	char *data_dir;
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
	int64_t http_max_connections;
	int64_t http_max_per_ip;
	int64_t http_threads;
	int64_t writer_queue_max;
	int64_t writer_batch_max;
	int64_t status_retention;
	int64_t inventory_interval;  /* inventory (inventory.c) */
	int64_t inventory_max_bytes;
	int64_t inactive_days;
	bool metrics_loopback;
	char *log_level;

	/* derived by site_config_finish() */
	char listen_addr[64];
	uint16_t listen_port;
	unsigned role_mask;
	struct core_boundary boundaries[CONF_LIST_MAX];
	size_t n_boundaries;
};

extern const struct conf_def site_config_table[];
extern const size_t site_config_table_len;

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
	PERM_METRICS,       /* admin token, or loopback when metrics_loopback */
	PERM_ADMIN_READ,
	PERM_ADMIN_WRITE,
};

const char *perm_name(int perm);
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
	struct reg_client *next;    /* hash chain */
};

struct registry;

int registry_new(size_t expected, struct registry **out);
void registry_free(struct registry *r);
/* Adds (or refreshes) an entry from a database row. */
int registry_put(struct registry *r, const struct store_client *c);
/* Entries are never freed while the registry lives, so the pointer stays valid. */
struct reg_client *registry_get(struct registry *r, const char *idhex);
void registry_set_state(struct registry *r, struct reg_client *c, enum store_client_state st,
			const char *reason, uint64_t min_epoch);
void registry_counts(struct registry *r, int64_t counts[4]);
/* Hash of the details a check-in reports; equal hashes need no write. */
uint64_t registry_details_hash(const char *agent_version, const char *protocol,
			       const char *components);

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
	int64_t started;
	atomic_bool stopping;
	pthread_mutex_t refresh_lock;  /* guards the queue below */
	char (*refresh)[PROTO_CLIENT_ID_HEX + 1];
	size_t n_refresh;
	uint64_t refresh_dropped;
	struct site_colls *colls; /* collections (facts.c) */
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

int site_authorize(struct http_req *req, const struct http_route *route, void *app,
		   struct steward_err *err);
void site_observe(const struct http_route *route, int status, int64_t usec, void *app);

/* Principal attached to an authenticated request. */
struct principal {
	enum { PRINCIPAL_ADMIN, PRINCIPAL_AGENT, PRINCIPAL_LOOPBACK, PRINCIPAL_ENROLLING } kind;
	char name[65];              /* admin name */
	struct reg_client *client;  /* agent */
	uint64_t seq;
	int64_t ts;
	uint8_t enroll_pk_sig_ok;   /* enrolling: signature checked against body key later */
};

/* Reply helpers for handlers. */
void reply_error(struct http_req *req, int status, const char *code, const char *remedy,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void reply_json_obj(struct http_req *req, int status, void *json_obj); /* takes the reference */

/* ---- collections (facts.c, collections.c) ---------------------------------- */
#include "steward/query.h" /* CORE_QUERY_DEP_* for site_facts_client_changed */

struct site_colls;
struct facts;
struct coll_engine;

/* Load every client's query facts and the collection definitions; the
 * built-in collections cover the site's own code and each boundary's. */
int site_collections_load(struct site *s);
void site_collections_free(struct site *s);
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

#endif

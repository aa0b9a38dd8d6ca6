/* store: the site database behind a table of operations (struct store_ops).
 *
 * Like SQLite's VFS: the SQLite backend, a later PostgreSQL backend and a
 * fault-injecting wrapper for tests all plug into the same seam. Callers
 * go through st->ops, never a backend's functions directly.
 */
#ifndef STEWARD_STORE_H
#define STEWARD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "steward/util.h"
#include "steward/proto.h"

/* The schema version this build writes and understands. */
#if defined(STEWARD_TEST_FAILING_MIGRATION) && defined(STEWARD_TEST_DIES_AFTER_START)
#define STORE_SCHEMA_VERSION 18 /* test releases only: 17 succeeds, 18 fails */
#elif defined(STEWARD_TEST_FAILING_MIGRATION)
#define STORE_SCHEMA_VERSION 17 /* test releases only: migration 17 fails */
#elif defined(STEWARD_TEST_DIES_AFTER_START)
#define STORE_SCHEMA_VERSION 17 /* test releases only: migration 17 succeeds */
#else
#define STORE_SCHEMA_VERSION 16
#endif

enum store_client_state {
	CLIENT_PENDING = 0,
	CLIENT_APPROVED,
	CLIENT_BLOCKED,
	CLIENT_DELETED, /* tombstone: the key stays known so it can be refused */
};

const char *store_client_state_name(enum store_client_state s);
int store_client_state_parse(const char *s, enum store_client_state *out);

#define STORE_JSON_MAX 16384 /* addresses and components as JSON text */
#define STORE_LINK_MAX 256   /* the client's link as JSON text (server/clientlink.c) */

struct store_client {
	int64_t rid;        /* the backend's row id: fast key for check-ins */
	char id[PROTO_CLIENT_ID_HEX + 1];
	uint8_t public_key[PROTO_PK_BYTES];
	char hostname[PROTO_HOSTNAME_MAX + 1];
	char site[PROTO_SITE_CODE_LEN + 1];
	enum store_client_state state;
	char block_reason[PROTO_REASON_MAX + 1];
	int64_t enrolled;
	int64_t last_seen;  /* 0: never */
	uint64_t last_seq;
	uint64_t min_epoch; /* sessions older than this are dead */
	char agent_version[PROTO_VERSION_MAX + 1];
	char protocol[24];
	char os_name[PROTO_OS_FIELD_MAX + 1];
	char os_version[PROTO_OS_FIELD_MAX + 1];
	char addresses[STORE_JSON_MAX];  /* JSON array */
	char components[STORE_JSON_MAX]; /* JSON array */
	char link[STORE_LINK_MAX];       /* JSON object; "" before the first report */
};

struct store_token {
	char id[17];                     /* 16 hex, shown to admins */
	uint8_t hash[PROTO_HASH_BYTES];  /* BLAKE2b-256 of the secret */
	int64_t uses;
	int64_t used;
	int64_t expires;
	char site[PROTO_SITE_CODE_LEN + 1]; /* "" when not pinned */
	bool revoked;
	int64_t created;
	char created_by[65];
};

/* Why a token cannot be used. */
enum store_token_refusal {
	TOKEN_OK = 0,
	TOKEN_UNKNOWN,
	TOKEN_EXPIRED,
	TOKEN_USED_UP,
	TOKEN_REVOKED,
};

/* One check-in's side effects, applied by the writer thread. A record
 * with seq_only set carries only the sequence number of another signed
 * or MACed request of the client (session open, inventory, status): it
 * raises last_seq and leaves last_seen and everything else alone. */
struct store_checkin {
	int64_t rid;
	char id[PROTO_CLIENT_ID_HEX + 1];
	int64_t time;
	uint64_t seq;
	bool seq_only;
	char agent_version[PROTO_VERSION_MAX + 1];
	char protocol[24];
	bool details;           /* agent_version/protocol/components changed: write them */
	char *components;       /* JSON array text, owned */
	char *status;           /* JSON array of {type,text,time}, owned; NULL: none */
	char *link;             /* the client's link changed: its JSON text, owned; NULL: no */
	/* set by checkin_apply: a sequence number as high or higher was
	 * stored already (another management point accepted it), so nothing
	 * of this record was written and its request is a replay */
	bool stale;
};

typedef int (*store_client_cb)(const struct store_client *c, void *ctx);
typedef int (*store_token_cb)(const struct store_token *t, void *ctx);

/* collections (sqlite_collections.c) */
#define STORE_COLLECTION_NAME_MAX 64
#define STORE_COLLECTION_COMMENT_MAX 256
#define STORE_COLLECTION_QUERY_MAX 4096  /* CORE_QUERY_TEXT_MAX */
#define STORE_COLLECTION_RULES_MAX 64    /* include plus exclude rules */
#define STORE_COLLECTION_MEMBERS_MAX 100000

/* A collection's definition. Membership is derived, never stored. The
 * arrays are heap-allocated; store_collection_clear() frees them. */
struct store_collection {
	int64_t rid;
	char name[STORE_COLLECTION_NAME_MAX + 1];
	bool is_query;                             /* kind 'query', else 'static' */
	char query[STORE_COLLECTION_QUERY_MAX + 1]; /* "" for static */
	char comment[STORE_COLLECTION_COMMENT_MAX + 1];
	int64_t created;
	char created_by[65];
	char (*members)[PROTO_CLIENT_ID_HEX + 1];
	size_t n_members;
	char (*include)[STORE_COLLECTION_NAME_MAX + 1];
	size_t n_include;
	char (*exclude)[STORE_COLLECTION_NAME_MAX + 1];
	size_t n_exclude;
	/* the site above that defined it ("" for this site's own): read-only here */
	char origin[PROTO_SITE_CODE_LEN + 1];
};

/* Free the arrays of c and zero it. */
void store_collection_clear(struct store_collection *c);
/* 1-64 characters of letters, digits, space, '.', '_', '-', not starting
 * or ending with a space, and not a built-in name ("All Clients",
 * "Pending Clients", "All Clients of site ..."; case-insensitive). */
bool store_collection_name_valid(const char *name);
bool store_collection_name_builtin(const char *name);

/* One client's rows for query facts; strings live during the callback. */
struct store_client_facts {
	const char *id, *hostname, *site, *agent_version;
	const char *addresses;                /* JSON array text */
	enum store_client_state state;
	const char *hardware, *os, *software; /* JSON text; NULL without inventory */
	const char *software_hash;            /* equal hashes: equal software; may be NULL */
};

typedef int (*store_collection_cb)(const struct store_collection *c, void *ctx);
typedef int (*store_facts_cb)(const struct store_client_facts *f, void *ctx);
typedef int (*store_id_cb)(const char *id, void *ctx);

/* software distribution (sqlite_swdist.c) */
#define STORE_SWD_NAME_MAX 64
#define STORE_SWD_HASH_HEX 64
#define STORE_SWD_DETAIL_MAX 1024
#define STORE_SWD_STATE_MAX 23

struct store_package {
	int64_t rid;
	char name[STORE_SWD_NAME_MAX + 1];
	char version[STORE_SWD_NAME_MAX + 1];
	char manifest[STORE_SWD_HASH_HEX + 1]; /* hash of the signed manifest blob */
	int64_t bytes, files, created;
	char created_by[65];
	char comment[257];
	char origin[PROTO_SITE_CODE_LEN + 1]; /* the site above that defined it; "" here */
};

/* A blob a package needs (the manifest's own hash included). */
struct store_blob {
	char hash[STORE_SWD_HASH_HEX + 1];
	int64_t size;
};

struct store_program {
	int64_t rid;
	char name[STORE_SWD_NAME_MAX + 1];
	int64_t package_rid;
	const char *spec; /* JSON object text: command, timeout, codes, ... (borrowed) */
	int64_t created;
	char created_by[65];
	char origin[PROTO_SITE_CODE_LEN + 1]; /* the site above that defined it; "" here */
};

struct store_advert {
	int64_t rid;
	char name[STORE_SWD_NAME_MAX + 1];
	int64_t program_rid;
	char collection[STORE_COLLECTION_NAME_MAX + 1];
	int64_t available, mandatory, recurring, expires; /* 0: unset */
	bool enabled;
	int64_t revision;
	int64_t created;
	char created_by[65];
	char origin[PROTO_SITE_CODE_LEN + 1]; /* the site above that defined it; "" here */
	char links[160 + 1]; /* per link class (CORE_LINK_POLICY_TEXT_MAX); "" the defaults */
	int64_t link_deadline;                     /* a deferral ends then; 0: never */
};

/* One status report of an agent about one advertisement. */
struct store_status {
	int64_t advert_rid;
	char client_id[PROTO_CLIENT_ID_HEX + 1];
	int64_t revision;
	int64_t seq;
	char state[STORE_SWD_STATE_MAX + 1];
	bool has_exit_code;
	int exit_code;
	char detail[STORE_SWD_DETAIL_MAX + 1];
	int64_t time;
};

/* An imported release (service pack); its manifest is a blob. */
#define STORE_RELEASE_VERSION_MAX 31
#define STORE_OUTCOME_DETAIL_MAX 512
#define STORE_RELEASE_COMPONENTS_MAX 4096 /* the component summary as JSON text */
struct store_release {
	int64_t rid;
	char version[STORE_RELEASE_VERSION_MAX + 1];
	char manifest[STORE_SWD_HASH_HEX + 1]; /* hash of the signed manifest blob */
	char key[2 * PROTO_PK_BYTES + 1];      /* the release key that signed it, hex */
	char upgrade_from[STORE_RELEASE_VERSION_MAX + 1];
	int64_t created, expires, imported;
	char imported_by[65];
	bool rollback; /* imported as an explicit rollback to an older release */
	char components[STORE_RELEASE_COMPONENTS_MAX + 1]; /* JSON array */
	int64_t bytes, files;
	/* What the site and its clients made of it since (release_list fills
	 * these; release_create ignores them). */
	bool withdrawn;			       /* offered to no one */
	char mark_reason[PROTO_REASON_MAX + 1]; /* why withdrawn or reinstated */
	char marked_by[65];
	int64_t marked;	     /* when withdrawn or reinstated; 0 never */
	int64_t rollback_at; /* offered again as an explicit rollback; 0 never */
	int64_t succeeded;   /* clients whose upgrade to it passed its trial */
	int64_t failed;	     /* rollbacks and failed installs since the last reinstate */
	int64_t failed_total; /* the same, ever */
	char last_failure[STORE_OUTCOME_DETAIL_MAX + 1];
};
/* One client's outcome with a release (or a machine's, for a failed install). */
#define STORE_OUTCOME_CLIENT_MAX 128
struct store_release_outcome {
	char version[STORE_RELEASE_VERSION_MAX + 1];
	char client[STORE_OUTCOME_CLIENT_MAX + 1]; /* client id, or "install:ADDRESS HOSTNAME" */
	char outcome[16]; /* "succeeded", "rolled_back" or "install_failed" */
	int64_t time;
	char detail[STORE_OUTCOME_DETAIL_MAX + 1];
};
/* The settings key holding the newest release version a site imported;
 * releases older than it need an explicit rollback. */
#define STORE_SETTING_RELEASE_NEWEST "release_newest"

/* A status message an agent sent with a check-in. */
struct store_message {
	int64_t time, received;
	char type[PROTO_STATUS_TYPE_MAX + 1];
	char text[PROTO_STATUS_TEXT_MAX + 1];
};
typedef int (*store_message_cb)(const struct store_message *m, void *ctx);
typedef int (*store_package_cb)(const struct store_package *p, void *ctx);
typedef int (*store_release_cb)(const struct store_release *r, void *ctx);
typedef int (*store_release_outcome_cb)(const struct store_release_outcome *o, void *ctx);
typedef int (*store_blob_cb)(const struct store_blob *b, void *ctx);
typedef int (*store_program_cb)(const struct store_program *p, void *ctx);
typedef int (*store_advert_cb)(const struct store_advert *a, void *ctx);
typedef int (*store_status_cb)(const struct store_status *s, void *ctx);

/* ---- the hierarchy of sites (sqlite_hierarchy.c) ------------------------ */
#define STORE_SITE_NAME_MAX 128
#define STORE_SITE_URL_MAX 256
#define STORE_SCHEDULE_HOURS 168 /* one character per hour of the week, Monday 00 UTC first */
#define STORE_LINK_ERROR_MAX 256
enum store_site_relation { STORE_SITE_PARENT = 0, STORE_SITE_CHILD = 1 };

/* A site linked to this one: its parent, or a child attached below. */
struct store_site {
	char code[PROTO_SITE_CODE_LEN + 1];
	int relation; /* STORE_SITE_PARENT or STORE_SITE_CHILD */
	char name[STORE_SITE_NAME_MAX + 1];
	char url[STORE_SITE_URL_MAX + 1];
	char public_key[2 * PROTO_PK_BYTES + 1]; /* hex */
	bool attached;				 /* false once detached */
	char version[PROTO_VERSION_MAX + 1];	 /* as it last said */
	char protocol[24];
	int64_t attached_at, last_in, last_out; /* last batch received; last one it acknowledged */
	char last_error[STORE_LINK_ERROR_MAX + 1];
	uint64_t in_req_seq;			  /* highest request sequence accepted from it */
	uint64_t in_applied[PROTO_LINK_CLASSES]; /* highest message applied from it, by class */
	/* the link's settings (this side's sender): per hour 'A' all
	 * classes, 'M' control and status, 'H' control only, 'C' closed;
	 * "" open always */
	char schedule[STORE_SCHEDULE_HOURS + 1];
	int64_t rate;			 /* bytes per second on the wire; 0 unlimited */
	int share; /* percent of each hour the sender may be busy (1..99); 0 unlimited */
	int64_t pulse_bytes, pulse_wait; /* send pulse_bytes, then wait pulse_wait s; 0 off */
	/* what this side's sender last heard from it as a receiver (outbox_ack):
	 * its epoch ("" before it named one), the highest it said it applied,
	 * and until when it is on watch after an upgrade (0: not) */
	char out_epoch[PROTO_EPOCH_HEX + 1];
	uint64_t out_acked[PROTO_LINK_CLASSES];
	int64_t out_keep_until;
	/* the kinds of objects from above it said it takes (",collection,
	 * package,program,advert,"); "" for a site that named none (older):
	 * those messages wait here (outbox_hold) */
	char takes[96];
	/* inventory up the link: on a child's row, the level this site asks
	 * of it ("none", "summary", "full"); on the parent's row, the level the
	 * parent last asked for ("" before it said: nothing goes up) */
	char inventory[8];
	/* site_list fills (site_get does not): what waits in the outbox toward
	 * it, and how many acknowledged messages are kept for it */
	int64_t out_msgs, out_bytes, out_kept;
};
typedef int (*store_site_cb)(const struct store_site *s, void *ctx);

/* Fields site_update writes (the rest of the row stays). */
enum {
	STORE_SITE_F_STATE = 1u << 0,	  /* attached */
	STORE_SITE_F_PEER = 1u << 1,	  /* name, url, version, protocol, takes */
	STORE_SITE_F_OUT = 1u << 2,	  /* last_out, last_error */
	STORE_SITE_F_LINK = 1u << 3,	  /* schedule, rate, pulse */
	STORE_SITE_F_INVENTORY = 1u << 4, /* inventory (a child's row) */
};

/* One message waiting in the outbox toward a linked site. */
struct store_outbox_msg {
	uint64_t seq;
	int cls;
	char kind[PROTO_LINK_KIND_MAX + 1];
	const char *body; /* JSON text, valid during the callback */
	size_t len;
};
typedef int (*store_outbox_cb)(const struct store_outbox_msg *m, void *ctx);

/* A receiver's signed answer to a batch, for outbox_ack. */
struct store_link_ack {
	uint64_t applied[PROTO_LINK_CLASSES]; /* the highest it has applied, by class */
	char epoch[PROTO_EPOCH_HEX + 1];      /* its epoch; "" when it names none (older) */
	int64_t watch_until;		      /* on watch after an upgrade until then; 0 not */
	int64_t now;
};

/* What sites below reported, as the site above keeps it. */
struct store_site_client {
	const char *id, *site, *hostname, *state, *agent_version, *protocol;
	int64_t enrolled, last_seen;
};
struct store_site_status {
	const char *site, *advert, *client, *state, *detail;
	int64_t revision, seq; /* the agent's report: with client and advert, its identity */
	bool has_exit_code;
	int exit_code;
	int64_t time;
};

/* How an object sent down (a release, a package...) went at a site below.
 * A package is named NAME@VERSION. */
#define STORE_OBJECT_DETAIL_MAX 512
#define STORE_OBJECT_NAME_MAX 160
struct store_site_object {
	const char *site, *kind, *name, *state, *detail;
};
struct store_site_object_row {
	char site[PROTO_SITE_CODE_LEN + 1];
	char kind[24], name[STORE_OBJECT_NAME_MAX + 1], state[24];
	char detail[STORE_OBJECT_DETAIL_MAX + 1];
	int64_t updated;
};
typedef int (*store_site_object_cb)(const struct store_site_object_row *o, void *ctx);
/* A release from above whose files this site still fetches. */
struct store_fetch {
	char version[STORE_RELEASE_VERSION_MAX + 1];
	char source[PROTO_SITE_CODE_LEN + 1];
	char *manifest; /* valid during the callback */
	size_t len;
	bool rollback;
	int64_t added, tries;
	char state[16]; /* "fetching" or "refused" */
	char detail[STORE_OBJECT_DETAIL_MAX + 1];
};
typedef int (*store_fetch_cb)(const struct store_fetch *f, void *ctx);

/* One received message, decoded, for site_apply. */
enum store_link_kind {
	STORE_LINK_NOOP = 0, /* understood, nothing to store (counted as applied) */
	STORE_LINK_CLIENTS,  /* client summaries from below */
	STORE_LINK_SEEN,     /* last-seen times of clients below */
	STORE_LINK_STATUS,   /* an advertisement status report from below */
	STORE_LINK_OUTCOME,  /* an upgrade outcome from below */
	STORE_LINK_SETTINGS, /* settings: pauses from above, the tree from below */
	STORE_LINK_TOKEN,    /* an enrollment token made above for the whole hierarchy */
	STORE_LINK_TOKEN_REVOKE, /* its revocation */
	STORE_LINK_RELEASE,  /* a release from above: its files are fetched next */
	STORE_LINK_OBJECT,   /* how an object from above went at a site below */
	STORE_LINK_DOWN,     /* a collection, package, program or advert from above */
	STORE_LINK_INVENTORY, /* inventories of clients below: summaries or full documents */
};

/* The kinds of objects from above (collections, packages, programs,
 * advertisements) a site of this version takes; a sender holds them for a
 * receiver that does not name them (outbox_hold). */
#define STORE_DOWN_KINDS ",collection,package,program,advert,"

/* An object from above as it waits to be applied here (site_down). */
struct store_down {
	int64_t seq, gen; /* arrival order; changes with every new copy */
	char kind[16];
	char name[STORE_OBJECT_NAME_MAX + 1];
	char source[PROTO_SITE_CODE_LEN + 1]; /* the parent it came from */
	char origin[PROTO_SITE_CODE_LEN + 1]; /* the site that defined it */
	char op[8];			      /* "put" or "delete" */
	const char *body;		      /* JSON text, valid during the callback */
	char state[24];
	char detail[STORE_OBJECT_DETAIL_MAX + 1];
	bool done;
	int64_t updated;
};
typedef int (*store_down_cb)(const struct store_down *d, void *ctx);
struct store_link_rec {
	int cls;
	uint64_t seq;
	int kind;     /* STORE_LINK_* */
	bool applied; /* out: false when a copy was applied before */
	/* when set, the same message is queued for every child in the
	 * transaction that applies it (a cascade down the tree) */
	const char *pass_kind, *pass_body;
	union {
		struct {
			size_t n;
			const struct store_site_client *v;
		} clients;
		struct {
			const char *site;
			size_t n;
			const char *const *ids;
			const int64_t *times;
		} seen;
		struct store_site_status status;
		struct store_release_outcome outcome;
		struct {
			size_t n;
			const char *const *keys, *const *values;
		} settings;
		struct store_token token;
		const char *token_id; /* STORE_LINK_TOKEN_REVOKE */
		struct {
			const char *version, *manifest;
			size_t len;
			bool rollback;
		} release;
		struct store_site_object object;
		struct {
			const char *kind, *name, *origin, *op, *body;
		} down;
		const struct proto_link_inv *inventory; /* its site "": the sender */
	} u;
};

/* A client below, with the inventory that came up of it (site_inventory_list):
 * level "" when none did; the texts NULL then (software NULL at summary).
 * Valid during the callback. */
struct store_site_inv_row {
	const char *id, *site, *via, *hostname, *state, *agent_version, *protocol, *level;
	const char *hardware, *os, *software, *full_hash;
	int64_t enrolled, last_seen, received, updated;
};
typedef int (*store_site_inv_cb)(const struct store_site_inv_row *r, void *ctx);

/* A row of what sites below reported about their clients. */
struct store_site_client_row {
	char id[PROTO_CLIENT_ID_HEX + 1];
	char site[PROTO_SITE_CODE_LEN + 1], via[PROTO_SITE_CODE_LEN + 1];
	char hostname[PROTO_HOSTNAME_MAX + 1];
	char state[16];
	char agent_version[PROTO_VERSION_MAX + 1];
	char protocol[24];
	int64_t enrolled, last_seen, updated;
};
typedef int (*store_site_client_cb)(const struct store_site_client_row *c, void *ctx);
struct store_site_status_row {
	char site[PROTO_SITE_CODE_LEN + 1];
	char advert[STORE_SWD_NAME_MAX + 1];
	char client[PROTO_CLIENT_ID_HEX + 1];
	char state[STORE_SWD_STATE_MAX + 1];
	bool has_exit_code;
	int exit_code;
	char detail[STORE_SWD_DETAIL_MAX + 1];
	int64_t time;
};
typedef int (*store_site_status_cb)(const struct store_site_status_row *s, void *ctx);

/* inventory (sqlite_inventory.c) */
#define STORE_INV_CLASSES 3 /* hardware, os, software: PROTO_INV_* order */
#define STORE_INV_HASH_HEX 64
#define STORE_INV_HISTORY_MAX 1000 /* most rows one history call returns */

/* A client's current inventory as stored: the canonical JSON of each class
 * (malloc'd; store_inventory_clear frees them) and the hashes. */
struct store_inventory {
	int64_t received;
	char full_hash[STORE_INV_HASH_HEX + 1];
	char hashes[STORE_INV_CLASSES][STORE_INV_HASH_HEX + 1];
	char *classes[STORE_INV_CLASSES];
};

void store_inventory_clear(struct store_inventory *inv);

/* One report to store. classes[i] NULL: class i is unchanged (a new row
 * needs all three). changes[i]: the history entry (a small JSON object) for
 * class i, NULL for none. expect_full_hash: the stored full hash the caller
 * built on ("" when it saw no inventory); another value stored by then
 * fails with -STEWARD_EBUSY and nothing changes. NULL skips the check. */
struct store_inventory_put {
	int64_t time;
	const char *expect_full_hash;
	char full_hash[STORE_INV_HASH_HEX + 1];
	char hashes[STORE_INV_CLASSES][STORE_INV_HASH_HEX + 1];
	const char *classes[STORE_INV_CLASSES];
	const char *changes[STORE_INV_CLASSES];
};

/* One history row; strings live during the callback. */
struct store_inventory_change {
	int64_t time;
	const char *cls;    /* "hardware", "os", "software" */
	const char *change; /* JSON object text */
};

typedef int (*store_inventory_history_cb)(const struct store_inventory_change *h, void *ctx);

struct store;

/* An administrator (or a remote site system) and its token's role. */
#define STORE_ROLE_MAX 24
struct store_admin {
	char name[65];
	char role[STORE_ROLE_MAX]; /* read, operator, admin, distribution_point */
	int64_t created;
	char created_by[65]; /* "" for the first token and those from before roles */
	int64_t revoked;     /* when; 0: valid */
};
typedef int (*store_admin_cb)(const struct store_admin *a, void *ctx);

/* One entry of the audit log: a write by an admin, an operator or a
 * remote site system, and how it went. hash chains it to prev. */
#define STORE_AUDIT_PATH_MAX 512
#define STORE_AUDIT_HASH_HEX 64
struct store_audit {
	int64_t id; /* 1, 2, ...: the order of the chain */
	int64_t time;
	char who[65];
	char role[STORE_ROLE_MAX];
	char route[48];
	char method[8];
	char path[STORE_AUDIT_PATH_MAX + 1];
	char object[256]; /* the path's parameters, '/' between them */
	int status;
	char code[48]; /* the error code ("" on success) */
	char peer[64];
	char prev[STORE_AUDIT_HASH_HEX + 1]; /* the previous entry's hash ("" for the first) */
	char hash[STORE_AUDIT_HASH_HEX + 1];
};
typedef int (*store_audit_cb)(const struct store_audit *e, void *ctx);
struct store_audit_filter {
	int64_t after_id; /* entries with a larger id */
	int64_t since;	  /* time at or after */
	const char *who;  /* "" or an admin's name */
	int64_t limit;	  /* 0: all */
};

/* Rollouts (sqlite_rollouts.c): the definition and progress of a rollout as
 * one JSON document (server/rollouts.c owns its shape), and one row per
 * client taking part. */
#define STORE_ROLLOUT_NAME_MAX 64
#define STORE_ROLLOUT_DOC_MAX (64 * 1024)
#define STORE_ROLLOUT_REASON_MAX 160
typedef int (*store_rollout_cb)(const char *name, const char *doc, void *ctx);
struct store_rollout_member {
	char client[PROTO_CLIENT_ID_HEX + 1];
	int wave;			 /* 0 first (the pilot when there is one) */
	int state;			 /* server/rollouts.c: enum ro_state */
	char from[32];			 /* the agent version it ran before */
	int64_t started, finished;	 /* offered, and done (0: not yet) */
	char reason[STORE_ROLLOUT_REASON_MAX + 1]; /* of a failure */
	int64_t changed; /* read: the number of the put that last wrote it */
};
typedef int (*store_rollout_member_cb)(const struct store_rollout_member *m, void *ctx);

/* A maintenance window of a collection (sqlite_rollouts.c). */
#define STORE_WINDOW_SPEC_MAX 64
#define STORE_WINDOW_TZ_MAX 64
struct store_window {
	char name[STORE_ROLLOUT_NAME_MAX + 1];
	char collection[STORE_ROLLOUT_NAME_MAX + 1];
	char weekly[STORE_WINDOW_SPEC_MAX + 1];	/* "sat 22:00" */
	int64_t duration;			/* seconds */
	char tz[STORE_WINDOW_TZ_MAX + 1];	/* "" : the client's own zone (UTC unknown) */
	int64_t created;
	char created_by[65];
};
typedef int (*store_window_cb)(const struct store_window *w, void *ctx);

struct store_ops {
	const char *name;
	/* Open or create, run migrations; refuse newer schemas (-STEWARD_ESCHEMA). */
	int (*open)(const char *path, struct store **out, struct steward_err *err);
	void (*close)(struct store *st);
	int (*schema_version)(struct store *st);

	/* Enrollment in one transaction: use the token (if token_hash) and
	 * insert the client. *refusal says why a token was refused. A token
	 * pinned to a site sets c->site (and token_site). */
	int (*enroll)(struct store *st, const uint8_t *token_hash, int64_t now,
		      struct store_client *c, /* c->rid is set */ enum store_token_refusal *refusal,
		      char *token_site);
	int (*client_get)(struct store *st, const char *id, struct store_client *out);
	int (*client_get_by_key)(struct store *st, const uint8_t pk[PROTO_PK_BYTES],
				 struct store_client *out);
	int (*client_list)(struct store *st, bool include_deleted, store_client_cb cb, void *ctx);
	int (*client_set_state)(struct store *st, const char *id, enum store_client_state state,
				const char *reason, uint64_t min_epoch);
	int (*client_count)(struct store *st, int64_t counts[4]);

	int (*token_insert)(struct store *st, const struct store_token *t);
	int (*token_list)(struct store *st, store_token_cb cb, void *ctx);
	/* Whether an enrollment token could be used now, without using it. */
	int (*token_check)(struct store *st, const uint8_t *token_hash, int64_t now,
			   enum store_token_refusal *refusal);
	int (*token_revoke)(struct store *st, const char *id);

	/* administrators and their tokens (sqlite_admins.c): -STEWARD_EEXIST
	 * when the name or hash is taken, -STEWARD_EINVAL for an unknown role */
	int (*admin_insert)(struct store *st, const struct store_admin *a,
			    const uint8_t hash[PROTO_HASH_BYTES]);
	/* 0 and the row (revoked ones too) when the hash belongs to an admin token. */
	int (*admin_find)(struct store *st, const uint8_t hash[PROTO_HASH_BYTES],
			  struct store_admin *out);
	/* every admin, revoked ones included */
	int (*admin_count)(struct store *st, int64_t *n);
	int (*admin_list)(struct store *st, store_admin_cb cb, void *ctx);
	/* the token is refused from now on; -STEWARD_ENOTFOUND for an unknown name */
	int (*admin_revoke)(struct store *st, const char *name, int64_t now);
	/* the audit log (sqlite_admins.c): append only; the caller computes
	 * the chain (id, prev, hash). -STEWARD_ENOTFOUND when it is empty. */
	int (*audit_last)(struct store *st, struct store_audit *out);
	int (*audit_append)(struct store *st, const struct store_audit *e);
	int (*audit_list)(struct store *st, const struct store_audit_filter *f, store_audit_cb cb,
			  void *ctx);

	/* Apply a batch of check-ins in one transaction (the group commit). */
	int (*checkin_apply)(struct store *st, struct store_checkin *batch, size_t n);
	/* Delete status messages received before `before`. */
	int (*status_prune)(struct store *st, int64_t before);
	/* An online, consistent copy of the whole database at path (a new
	 * file, 0600), taken while the site keeps serving. */
	int (*backup)(struct store *st, const char *path);
	/* The database's size in bytes, what its backup must find room for:
	 * SQLite's pages (the file without its log), PostgreSQL's
	 * pg_database_size(current_database()). */
	int (*db_bytes)(struct store *st, uint64_t *bytes);
	/* The newest limit status messages of a client (check-in "status"),
	 * newest first. */
	int (*status_messages)(struct store *st, const char *client_id, int limit,
			       store_message_cb cb, void *ctx);

	/* rollouts (sqlite_rollouts.c): put inserts or replaces the document;
	 * members_put upserts n rows in one transaction, numbered by a counter
	 * of the whole site that only goes up, in the order of the commits
	 * (several processes may put); members_list gives the members written
	 * by puts numbered above since (-1: every member) */
	int (*rollout_put)(struct store *st, const char *name, const char *doc);
	int (*rollout_list)(struct store *st, store_rollout_cb cb, void *ctx);
	int (*rollout_members_put)(struct store *st, const char *rollout,
				   const struct store_rollout_member *m, size_t n);
	int (*rollout_members_list)(struct store *st, const char *rollout, int64_t since,
				    store_rollout_member_cb cb, void *ctx);
	/* the document and its members, in one transaction; -STEWARD_ENOTFOUND */
	int (*rollout_delete)(struct store *st, const char *name);
	/* maintenance windows: insert (-STEWARD_EEXIST when the name is taken),
	 * delete (-STEWARD_ENOTFOUND), every one in creation order */
	int (*window_insert)(struct store *st, const struct store_window *w);
	int (*window_delete)(struct store *st, const char *name);
	int (*window_list)(struct store *st, store_window_cb cb, void *ctx);

	/* Settings: small key/value pairs the site keeps (e.g. pause flags). */
	int (*setting_get)(struct store *st, const char *key, char *out, size_t outsz);
	int (*setting_set)(struct store *st, const char *key, const char *value);

	/* collections (sqlite_collections.c) */
	/* Insert a definition with its members and rules in one transaction;
	 * -STEWARD_EEXIST when the name is taken. c->rid is set. */
	int (*collection_create)(struct store *st, struct store_collection *c);
	/* Every definition, members and rules included, in creation order. */
	int (*collection_list)(struct store *st, store_collection_cb cb, void *ctx);
	/* One definition (caller clears it with store_collection_clear). */
	int (*collection_get)(struct store *st, const char *name, struct store_collection *out);
	/* -STEWARD_ENOTFOUND, or -STEWARD_EBUSY while a rule of another
	 * collection names it (checked in the same transaction). */
	int (*collection_delete)(struct store *st, const char *name);
	/* Replace the static members of a collection in one transaction. */
	int (*collection_set_members)(struct store *st, const char *name,
				      const char (*ids)[PROTO_CLIENT_ID_HEX + 1], size_t n);
	/* Client rows with their current inventory classes, for query facts:
	 * every client (id NULL, deleted ones included) or one. */
	int (*collection_facts)(struct store *st, const char *id, store_facts_cb cb, void *ctx);

	/* inventory (sqlite_inventory.c) */
	/* The client's current inventory (clear it with store_inventory_clear);
	 * -STEWARD_ENOTFOUND when the client is unknown or has sent none. */
	int (*inventory_get)(struct store *st, const char *id, struct store_inventory *out);
	/* Store a report in one transaction: the changed classes, every hash,
	 * received, and one history row per changes[i]. -STEWARD_ENOTFOUND:
	 * unknown client; -STEWARD_EBUSY: expect_full_hash no longer holds;
	 * -STEWARD_EINVAL: a first inventory without every class. */
	int (*inventory_put)(struct store *st, const char *id, const struct store_inventory_put *in);
	/* History rows of one client, newest first, at most limit of them. */
	int (*inventory_history)(struct store *st, const char *id, int64_t limit,
				 store_inventory_history_cb cb, void *ctx);
	/* The id of every client whose inventory was stored at or after since
	 * (its received time): what another management point may have taken
	 * (changes.c's re-read). cb runs under the store's lock. */
	int (*inventory_since)(struct store *st, int64_t since, store_id_cb cb, void *ctx);

	/* software distribution (sqlite_swdist.c). Names are unique without
	 * regard to case. Deletes refuse with -STEWARD_EBUSY while something
	 * refers to the row (checked in the same transaction). */
	int (*package_create)(struct store *st, struct store_package *p, const struct store_blob *b,
			      size_t n);
	int (*package_list)(struct store *st, store_package_cb cb, void *ctx);
	int (*package_blobs)(struct store *st, int64_t package_rid, store_blob_cb cb, void *ctx);
	int (*package_delete)(struct store *st, int64_t rid);
	/* Every blob some package or release needs, each hash once. */
	int (*blob_list)(struct store *st, store_blob_cb cb, void *ctx);
	/* Releases: rows are never changed. release_create stores the row and
	 * its blobs and, when newest is true, sets STORE_SETTING_RELEASE_NEWEST
	 * to its version, in one transaction; -STEWARD_EEXIST for a version
	 * imported before. */
	int (*release_create)(struct store *st, struct store_release *r, const struct store_blob *b,
			      size_t n, bool newest);
	int (*release_list)(struct store *st, store_release_cb cb, void *ctx);
	/* Withdraw a release (offered to no one) or reinstate it (offered
	 * again, and failures recorded before now no longer count against
	 * it); -STEWARD_ENOTFOUND when the site holds no such release. */
	int (*release_mark)(struct store *st, const char *version, bool withdrawn,
			    const char *reason, const char *by, int64_t now);
	/* Offer a release the site holds again as an explicit rollback. */
	int (*release_rollback)(struct store *st, const char *version, const char *by,
				int64_t at);
	/* Keep one outcome per (release, client): a later report replaces an
	 * earlier one, and the same outcome again keeps its first time. */
	int (*release_outcome_put)(struct store *st, const struct store_release_outcome *o);
	/* Outcomes of one release, failures first, newest first, at most limit. */
	int (*release_outcome_list)(struct store *st, const char *version, int64_t limit,
				    store_release_outcome_cb cb, void *ctx);
	int (*program_create)(struct store *st, struct store_program *p);
	int (*program_list)(struct store *st, store_program_cb cb, void *ctx);
	int (*program_delete)(struct store *st, int64_t rid);
	int (*advert_create)(struct store *st, struct store_advert *a);
	int (*advert_list)(struct store *st, store_advert_cb cb, void *ctx);
	/* Set enabled and bump the revision; a->revision receives the new one. */
	int (*advert_set_enabled)(struct store *st, int64_t rid, bool enabled, int64_t *revision);
	/* Deletes its status rows and history too. */
	int (*advert_delete)(struct store *st, int64_t rid);
	/* Apply reports in one transaction: history rows for each, and the
	 * current row per (advert, client) when seq is newer than the stored
	 * one. Reports naming no advert are skipped. *applied counts them. */
	int (*status_apply)(struct store *st, const struct store_status *s, size_t n,
			    size_t *applied);
	/* Current rows of one advert (client_id NULL) or of one client (advert_rid 0). */
	int (*status_current)(struct store *st, int64_t advert_rid, const char *client_id,
			      store_status_cb cb, void *ctx);
	/* History rows of one client and advert, newest first, at most limit. */
	int (*status_history)(struct store *st, int64_t advert_rid, const char *client_id,
			      int64_t limit, store_status_cb cb, void *ctx);
	int (*status_history_prune)(struct store *st, int64_t before);

	/* the hierarchy of sites (sqlite_hierarchy.c) */
	/* One-time attach tokens a parent hands a child. */
	int (*site_token_insert)(struct store *st, const char *id,
				 const uint8_t hash[PROTO_HASH_BYTES], int64_t expires,
				 int64_t created, const char *by);
	/* Use one: TOKEN_OK and marked used by site, or why not. */
	int (*site_token_use)(struct store *st, const uint8_t hash[PROTO_HASH_BYTES], int64_t now,
			      const char *site, enum store_token_refusal *refusal);
	/* Insert or replace a linked site (an attach); its counters start at 0
	 * and what its old outbox held is dropped. */
	int (*site_put)(struct store *st, const struct store_site *s);
	int (*site_get)(struct store *st, const char *code, struct store_site *out);
	int (*site_list)(struct store *st, store_site_cb cb, void *ctx);
	/* One site as site_list gives it: with its backlog counted. */
	int (*site_get_backlog)(struct store *st, const char *code, struct store_site *out);
	/* Write the fields named by mask (STORE_SITE_F_*). */
	int (*site_update)(struct store *st, const char *code, unsigned mask,
			   const struct store_site *s);
	/* Apply a batch in one transaction: the request's sequence req_seq,
	 * which must be above the last one code sent (-STEWARD_EEXIST: a
	 * replay; 0 skips the check), each record whose sequence is above what
	 * was applied from code in its class (rec->applied says which), and the
	 * new highest sequences; applied gets them. */
	int (*site_apply)(struct store *st, const char *code, uint64_t req_seq,
			  struct store_link_rec *recs, size_t n, uint64_t applied[PROTO_LINK_CLASSES]);
	/* Queue a message toward a linked site (link NULL: every attached site
	 * of the relation). */
	int (*outbox_put)(struct store *st, const char *link, int relation, int cls,
			  const char *kind, const char *body);
	/* The oldest messages toward link in the classes of mask (bit c: class
	 * c), class 0 first, at most max_msgs or about max_bytes of bodies. */
	int (*outbox_peek)(struct store *st, const char *link, unsigned mask, size_t max_msgs,
			   size_t max_bytes, store_outbox_cb cb, void *ctx);
	/* The receiver's answer a: what it applied, up to a->applied[c] in each
	 * class, leaves the outbox and is kept (acknowledged at a->now) for
	 * outbox_prune; when it applied less than it said before (its database
	 * was restored from a backup), what is kept above a->applied[c] waits
	 * in the outbox again, to be sent once more. Its epoch, applied and
	 * watch are noted on the site's row (out_*) with the exchange
	 * (last_out = now, no error), all in one transaction. When it says it
	 * applied more than this outbox ever numbered, what waits is
	 * renumbered above that. */
	int (*outbox_ack)(struct store *st, const char *link, const struct store_link_ack *a);
	/* Drop the acknowledged messages kept longer than keep_s, and beyond
	 * the newest keep_max of each link, except toward a site on watch
	 * (out_keep_until after now); *n gets how many were dropped. */
	int (*outbox_prune)(struct store *st, int64_t now, int64_t keep_s, int64_t keep_max,
			    size_t *n);
	/* Lift the outbox's sequence counter to at least floor (the clock, in
	 * microseconds, at every start): a database restored from a backup
	 * takes the counter back, and without this its next messages would
	 * reuse sequences a receiver applied already. */
	int (*outbox_lift)(struct store *st, int64_t floor);
	/* Queue the last-seen times of clients (local and from below) seen
	 * after since toward the parent; *n gets how many. */
	int (*outbox_seen)(struct store *st, const char *parent, const char *site_code,
			   int64_t since, size_t *n);
	/* Queue every client (local and from below) toward the parent: the
	 * first full summary after an attach. */
	int (*outbox_summary)(struct store *st, const char *parent, const char *site_code, size_t *n);
	/* What sites below reported: their clients, and the status of
	 * advertisements there (advert NULL: all). */
	int (*site_client_list)(struct store *st, store_site_client_cb cb, void *ctx);
	int (*site_status_list)(struct store *st, const char *advert, store_site_status_cb cb,
				void *ctx);
	/* Releases from above this site still fetches (STORE_LINK_RELEASE put
	 * them there): all of them; then, per version, a new state ("fetching"
	 * with a try counted, "refused") and detail, or state NULL: done, gone. */
	int (*fetch_list)(struct store *st, store_fetch_cb cb, void *ctx);
	int (*fetch_update)(struct store *st, const char *version, const char *state,
			    const char *detail);
	/* On a child: the parent asks for inventory at level ("none",
	 * "summary", "full"; "" an older parent that asks nothing). Stored on
	 * the parent's row in one transaction with what it now lacks: raised,
	 * the current inventories of that level (own clients, and those from
	 * below at the lower of the two levels) are queued; none, what waits
	 * of inventory is dropped. *queued gets how many messages. */
	int (*site_inventory_level)(struct store *st, const char *parent, const char *level,
				    const char *site_code, size_t *queued);
	/* The clients below (not deleted) with their inventory: one (id) or
	 * all (id NULL), ordered by site and id. */
	int (*site_inventory_list)(struct store *st, const char *id, store_site_inv_cb cb,
				   void *ctx);
	/* How objects sent down went below: of one kind and name (NULL: all). */
	int (*site_object_list)(struct store *st, const char *kind, const char *name,
				store_site_object_cb cb, void *ctx);
	/* Objects from above (STORE_LINK_DOWN put them there), oldest first:
	 * those not done (all false), or every one (all true); of one kind
	 * and name when they are not NULL. */
	int (*down_list)(struct store *st, const char *kind, const char *name, bool all,
			 store_down_cb cb, void *ctx);
	/* How one went here: written (and reported up by a trigger) only when
	 * it changes, and only while the row is still copy gen. */
	int (*down_update)(struct store *st, int64_t seq, int64_t gen, const char *state,
			   const char *detail, bool done);
	/* Toward a child: objects from above of kinds takes (",kind,...,")
	 * lacks leave the outbox for site_outbox_held, each with a row in
	 * site_objects saying why (version: the child's); held ones of kinds
	 * it now takes go back, numbered anew. *held gets how many wait. */
	int (*outbox_hold)(struct store *st, const char *link, const char *takes,
			   const char *version, size_t *held);
	/* Queue every collection, package, program and advertisement of this
	 * site toward a child that just attached; *n gets how many. */
	int (*outbox_objects)(struct store *st, const char *link, size_t *n);
};

struct store {
	const struct store_ops *ops;
};

extern const struct store_ops store_sqlite_ops;

/* A PostgreSQL site database's backup, written to path (made 0600 by the
 * caller) with pg_dump, and its restore with pg_restore into the emptied
 * schema public: what a rolled-back version made goes too. 0, or
 * -STEWARD_ENOTFOUND (the program or the backup is missing),
 * -STEWARD_ESTORE (it failed: see the log). */
int store_pg_dump(const char *url, const char *path);
int store_pg_restore(const char *url, const char *path);

/* The database as logs and messages may show it: a file path as it is, a
 * postgresql:// URL with its password replaced by "***". */
void store_target_masked(const char *target, char *out, size_t outsz);

/* ---- moving a site from SQLite to PostgreSQL (migrate.c) ------------------ */
#define STORE_MIGRATE_TABLES_MAX 128
#define STORE_MIGRATE_NAME_MAX	 63 /* PostgreSQL's longest name */

struct store_migrate_table {
	char name[STORE_MIGRATE_NAME_MAX + 1];
	int64_t source_rows, target_rows;
};

struct store_migrate_report {
	size_t ntables;
	struct store_migrate_table tables[STORE_MIGRATE_TABLES_MAX]; /* in copy order */
	int64_t rows;						     /* copied in all */
};

/* Called after each table is copied (not yet committed). */
typedef void (*store_migrate_progress_fn)(const char *table, int64_t rows, void *ctx);

/* Copy the site database sqlite_path (which must be at the current schema
 * version and not in use: its write lock is taken for the whole copy) into
 * the empty PostgreSQL database at url: the schema made by the store's
 * open, then every table's rows in one transaction, parents first, without
 * firing the tables' triggers, ids kept, sequences set past the copied
 * rows; committed only when every table's row count matches. The SQLite
 * file is only read. 0 with rep filled, or a negative code with err set
 * (migrate_source_invalid, migrate_source_version, migrate_source_busy,
 * migrate_target_invalid, migrate_target_not_empty, migrate_failed,
 * migrate_count_mismatch, store_open_failed); then the target holds at most
 * the empty schema. */
int store_migrate_to_pg(const char *sqlite_path, const char *url,
			store_migrate_progress_fn progress, void *ctx,
			struct store_migrate_report *rep, struct steward_err *err);

/* outbox_lift on a database not open here, without migrating it: an
 * SQLite file (which must exist) or a postgresql:// URL. A site upgrade's
 * rollback (siteupgrade.c) lifts the restored backup before the old
 * version, which may predate outbox_lift, starts on it. 0 also when the
 * database has no outbox. */
int store_outbox_lift_target(const char *target, int64_t floor);

/* ---- changes announced to the other management points ----------------------- *
 * Several stewardd may share one PostgreSQL database (management points
 * beside the site server, docs/internals/management-points.md). What each
 * keeps in memory (the clients' states, the software distribution
 * definitions, collections, inventory facts, rollouts, maintenance
 * windows, the pauses) is announced when changed: the store operations that
 * change it send a notification on STORE_CHANGES_CHANNEL in their own
 * transaction, with the payload "KIND" or "KIND:ID". A listener takes
 * them on a connection of its own. Nothing is announced on SQLite. */
#define STORE_CHANGES_CHANNEL "steward_changes"
#define STORE_CHANGE_PAYLOAD_MAX 96
#define STORE_CHANGE_CLIENT "client" /* "client:ID": enrolled, state changed */
#define STORE_CHANGE_SWDIST "swdist" /* a package, program or advertisement */
#define STORE_CHANGE_COLLECTIONS "collections" /* a definition or its static members */
#define STORE_CHANGE_FACTS	 "facts"       /* "facts:ID": an inventory report stored */
#define STORE_CHANGE_WINDOWS	 "windows"     /* a maintenance window */
#define STORE_CHANGE_ROLLOUT	 "rollout"     /* "rollout:NAME": its document or members */
#define STORE_CHANGE_SETTING	 "setting"     /* "setting:KEY": a key of a-z 0-9 _ */

struct store_listener;

typedef void (*store_change_cb)(const char *kind, const char *id, void *ctx);

/* Connect to target (a postgresql:// URL) and LISTEN on the channel.
 * -STEWARD_EINVAL for a target that is not PostgreSQL, -STEWARD_ESTORE
 * (err set) when the server cannot be reached. */
int store_listener_open(const char *target, struct store_listener **out,
			struct steward_err *err);
/* Wait up to timeout_ms for notifications and call cb for each (a
 * payload that is not "KIND" or "KIND:ID" of printable text is dropped).
 * Returns how many were delivered, or -STEWARD_ESTORE when the connection
 * was lost: close the listener, open a new one and reload what may have
 * been missed meanwhile. */
int store_listener_wait(struct store_listener *l, int timeout_ms, store_change_cb cb, void *ctx);
void store_listener_close(struct store_listener *l);

/* ---- the check-in writer ------------------------------------------------- *
 * One thread owns the write path for check-in side effects: it takes
 * everything queued, applies it in one transaction, and only after COMMIT
 * calls each record's completion (which sends the reply). */
struct store_writer;

/* rc: 0 committed; -STEWARD_EAUTH the record was stale (its sequence
 * number not above the stored one: a replay, nothing of it written);
 * else the batch failed. */
typedef void (*store_writer_done_fn)(void *ctx, int rc);

struct store_writer_stats {
	uint64_t batches;
	uint64_t records;
	uint64_t failures;
	size_t queue_depth;
	uint64_t batch_hist[8]; /* batch sizes: 1, 2-4, 5-16, 17-64, 65-256, 257-1024, more, - */
};

int store_writer_start(struct store *st, size_t max_queue, size_t max_batch,
		       struct store_writer **out);
/* Queue a record (ownership of its strings passes to the writer). Returns
 * -STEWARD_EBUSY when the queue is full and -STEWARD_ECLOSED after stop;
 * then done is not called and the caller still owns the strings. */
int store_writer_submit(struct store_writer *w, struct store_checkin *rec,
			store_writer_done_fn done, void *ctx);
/* Commit everything queued, run completions, stop the thread. Later
 * submits return -STEWARD_ECLOSED; the writer stays valid until freed. */
void store_writer_stop(struct store_writer *w);
/* Free a writer (stops it first if still running). */
void store_writer_free(struct store_writer *w);
void store_writer_get_stats(struct store_writer *w, struct store_writer_stats *out);

#endif

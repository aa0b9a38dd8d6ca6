/* collections: the membership engine, and the query facts of clients.
 *
 * Private to server/. The engine (collections.c) knows clients only as
 * numbered slots that a source describes (facts.c in stewardd, synthetic
 * facts in tests/unit/test_collections.c), keeps every collection's members
 * as bitsets over those slots and keeps them current one client at a time.
 * Nothing here locks: the site holds its collections mutex around every
 * call (facts.c), the unit test is single-threaded.
 */
#ifndef STEWARD_SERVER_COLLECTIONS_H
#define STEWARD_SERVER_COLLECTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "steward/query.h"
#include "steward/store.h"

#define COLL_ALL_CLIENTS     "All Clients"
#define COLL_PENDING_CLIENTS "Pending Clients"
#define COLL_SITE_PREFIX     "All Clients of site "
#define COLL_MSG_MAX	     768
#define COLL_DEPS_ALL                                                                              \
	(CORE_QUERY_DEP_CLIENT | CORE_QUERY_DEP_HARDWARE | CORE_QUERY_DEP_OS |                     \
	 CORE_QUERY_DEP_NETWORK | CORE_QUERY_DEP_SOFTWARE)

enum coll_kind {
	COLL_KIND_ALL,
	COLL_KIND_PENDING,
	COLL_KIND_SITE,
	COLL_KIND_STATIC,
	COLL_KIND_QUERY
};

/* Results; each comes with a message for the administrator. */
enum {
	COLL_OK = 0,
	COLL_EINVAL = -1, /* bad name, too many rules, duplicate rule */
	COLL_ENOMEM = -2,
	COLL_EEXIST = -3,    /* the name is taken */
	COLL_ENOTFOUND = -4, /* no collection of that name */
	COLL_EQUERY = -5,    /* the query does not parse (see the core_query_error) */
	COLL_EREF = -6,	     /* an include/exclude names no collection */
	COLL_ECYCLE = -7,    /* the rules would make a cycle */
	COLL_EINUSE = -8,    /* another collection's rule names it */
	COLL_EBUILTIN = -9,  /* built-in collections cannot be changed */
	COLL_EBUDGET = -10,  /* an ad-hoc query needed more work than allowed */
	COLL_EMEMBER = -11,  /* a static member is not a known client */
};

/* What the engine asks of one slot. Strings stay valid until the next call
 * into the source. */
struct coll_client {
	const char *id;
	const char *hostname;
	const char *site;
	enum store_client_state state;
	bool live; /* enrolled and not deleted */
	struct core_query_facts facts;
};

struct coll_source {
	void *ctx;
	/* Fill *out for slot; false when the slot holds no client. */
	bool (*client)(void *ctx, uint32_t slot, struct coll_client *out);
	/* The slot of a client id, or -1. */
	int64_t (*find)(void *ctx, const char *id);
};

/* A definition, as the API and the store give it. */
struct coll_def {
	const char *name;
	const char *query; /* NULL: static */
	const char *const *members;
	size_t n_members;
	const char *const *include;
	size_t n_include;
	const char *const *exclude;
	size_t n_exclude;
	const char *comment;
	const char *created_by;
	int64_t created;
};

struct coll_engine;

/* budget: work units allowed per client per query evaluation. */
int coll_engine_new(const struct coll_source *src, uint32_t n_slots, uint64_t budget,
		    struct coll_engine **out);
void coll_engine_free(struct coll_engine *e);
/* "All Clients of site CODE"; several calls with the same code add one. */
int coll_engine_add_site(struct coll_engine *e, const char *code);

/* Check a definition without applying it (name, query, rules, cycles,
 * members when check_members). Returns COLL_* with msg and, for
 * COLL_EQUERY, qerr filled. replace: an existing definition may be
 * replaced. */
int coll_check(struct coll_engine *e, const struct coll_def *d, bool replace, bool check_members,
	       struct core_query_error *qerr, char *msg, size_t msgsz);
/* Check and add (or, with replace, redefine) a collection, then evaluate it
 * for every client and re-derive the collections composed from it. */
int coll_define(struct coll_engine *e, const struct coll_def *d, bool replace,
		struct core_query_error *qerr, char *msg, size_t msgsz);
/* Remove a collection; COLL_EINUSE (naming the users) while another
 * collection includes or excludes it. */
int coll_remove(struct coll_engine *e, const char *name, char *msg, size_t msgsz);
/* Which collections name `name` in a rule, comma-separated into msg;
 * returns how many. */
size_t coll_users(struct coll_engine *e, const char *name, char *msg, size_t msgsz);
bool coll_exists(struct coll_engine *e, const char *name);
/* The name as defined (names compare case-insensitively), or NULL; valid
 * until the collection is removed or redefined. */
const char *coll_name(struct coll_engine *e, const char *name);
/* A static or query collection (not a built-in). */
bool coll_is_user_defined(struct coll_engine *e, const char *name);

/* One client changed in the classes of deps (CORE_QUERY_DEP_* bits; a new
 * or deleted client: COLL_DEPS_ALL). Re-evaluates that client only, and
 * only against query collections whose deps intersect deps. */
int coll_client_changed(struct coll_engine *e, uint32_t slot, unsigned deps);

/* ---- reading --------------------------------------------------------------- */
/* Every collection: name, kind, query, rules, member count. */
json_t *coll_list_json(struct coll_engine *e);
/* One collection in full (no members); NULL when unknown. */
json_t *coll_show_json(struct coll_engine *e, const char *name);
/* Members as [{id, hostname, site, state}]; NULL when unknown. */
json_t *coll_members_json(struct coll_engine *e, const char *name);
/* Is the client in slot a member, and why; COLL_ENOTFOUND when the
 * collection is unknown. *member set on success. */
int coll_explain(struct coll_engine *e, const char *name, uint32_t slot, bool *member, char *buf,
		 size_t bufsz);
/* Is slot a member of name (tests); false when unknown. */
bool coll_is_member(struct coll_engine *e, const char *name, uint32_t slot);
/* Member count; -1 when unknown. */
int64_t coll_count(struct coll_engine *e, const char *name);
/* Query evaluations run for a collection so far (tests: incremental upkeep). */
uint64_t coll_evals(struct coll_engine *e, const char *name);

/* Run an ad-hoc query over every live client, appending matching slots'
 * {id, hostname, site} to out. total_budget caps the work of the whole run
 * (COLL_EBUDGET with msg when over). */
int coll_match(struct coll_engine *e, const struct core_query *q, uint64_t total_budget,
	       json_t *out, uint64_t *used, char *msg, size_t msgsz);

/* ---- facts (facts.c) ---------------------------------------------------------
 * Per-client query facts in memory: interned strings, interned package
 * sets shared by clients with identical software. */
struct facts;

int facts_new(struct facts **out);
void facts_free(struct facts *f);
/* Add or replace a client's facts from its rows; *slot receives its slot. */
int facts_put(struct facts *f, const struct store_client_facts *row, uint32_t *slot);
uint32_t facts_slots(const struct facts *f);
/* The slot of a client id, or -1. */
int64_t facts_find(struct facts *f, const char *id);
/* The engine's source over f. */
void facts_source(struct facts *f, struct coll_source *out);

struct facts_stats {
	size_t clients, strings, string_bytes, packages, package_sets, package_set_refs;
};
void facts_get_stats(const struct facts *f, struct facts_stats *out);

#endif

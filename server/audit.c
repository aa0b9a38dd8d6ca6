/* audit: the append-only log of every write an admin token makes.
 *
 * One entry per request that is not a GET and that carries a known admin
 * token, allowed or refused for its role (role_forbidden), written from
 * the one hook every request ends in (site_observe), so no handler can
 * forget it. Agents, linked sites and open routes are not recorded: their
 * requests carry no administrator, and the check-in path stays free of it.
 *
 * Each entry carries the hash of the one before and its own: a BLAKE2b-256
 * keyed with a key derived from DATA_DIR/site.secret over a canonical text
 * of its fields and that previous hash. An entry edited, deleted or moved
 * in the database breaks the chain at that entry, and someone who can
 * write the database but not read site.secret cannot compute a new chain.
 * Only the removal of the newest entries is not seen by the chain alone:
 * the running site also compares the end of the log with the entry it
 * wrote last. docs/security.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <errno.h>

#include <sodium.h>

#include "site.h"

#define AUDIT_KEY_BYTES	 32
#define AUDIT_HASH_BYTES 32
#define AUDIT_PAGE	 1000 /* entries read at a time: the store's lock is not held long */
#define AUDIT_LIST_MAX	 10000
#define AUDIT_CANON	 "steward-audit-1"

struct audit {
	pthread_mutex_t mu; /* one append at a time: the chain has one head */
	uint8_t key[AUDIT_KEY_BYTES];
	int64_t last_id; /* the head: the entry this process wrote or found last */
	char last_hash[STORE_AUDIT_HASH_HEX + 1];
	uint64_t failed; /* appends that failed (logged) */
};

static void put_field(crypto_generichash_state *st, const char *v)
{
	char len[24];

	snprintf(len, sizeof(len), "%zu:", strlen(v));
	crypto_generichash_update(st, (const unsigned char *)len, strlen(len));
	crypto_generichash_update(st, (const unsigned char *)v, strlen(v));
	crypto_generichash_update(st, (const unsigned char *)"\n", 1);
}

/* The hash of e (its prev included) into hex. Fields are length-prefixed,
 * so no choice of text in one field can pass for another field. */
static void entry_hash(const struct audit *a, const struct store_audit *e,
		       char hex[STORE_AUDIT_HASH_HEX + 1])
{
	crypto_generichash_state st;
	uint8_t h[AUDIT_HASH_BYTES];
	char num[64];

	crypto_generichash_init(&st, a->key, sizeof(a->key), sizeof(h));
	put_field(&st, AUDIT_CANON);
	snprintf(num, sizeof(num), "%" PRId64, e->id);
	put_field(&st, num);
	snprintf(num, sizeof(num), "%" PRId64, e->time);
	put_field(&st, num);
	put_field(&st, e->who);
	put_field(&st, e->role);
	put_field(&st, e->route);
	put_field(&st, e->method);
	put_field(&st, e->path);
	put_field(&st, e->object);
	snprintf(num, sizeof(num), "%d", e->status);
	put_field(&st, num);
	put_field(&st, e->code);
	put_field(&st, e->peer);
	put_field(&st, e->prev);
	crypto_generichash_final(&st, h, sizeof(h));
	hex_encode(h, sizeof(h), hex);
}

int site_audit_load(struct site *s)
{
	static const char ctx[] = "steward audit log key 1";
	struct audit *a = calloc(1, sizeof(*a));
	struct store_audit last;
	int rc;

	if (!a)
		return -STEWARD_ENOMEM;
	pthread_mutex_init(&a->mu, NULL);
	/* derived, so the database holds no key and the site secret is not
	 * used as-is for a second purpose */
	crypto_generichash(a->key, sizeof(a->key), (const unsigned char *)ctx, sizeof(ctx) - 1,
			   s->secret, PROTO_SITE_SECRET_BYTES);
	rc = s->store->ops->audit_last(s->store, &last);
	if (rc == 0) {
		a->last_id = last.id;
		snprintf(a->last_hash, sizeof(a->last_hash), "%s", last.hash);
	} else if (rc != -STEWARD_ENOTFOUND) {
		sodium_memzero(a->key, sizeof(a->key));
		pthread_mutex_destroy(&a->mu);
		free(a);
		return rc;
	}
	s->audit = a;
	return 0;
}

void site_audit_free(struct site *s)
{
	if (!s->audit)
		return;
	sodium_memzero(s->audit->key, sizeof(s->audit->key));
	pthread_mutex_destroy(&s->audit->mu);
	free(s->audit);
	s->audit = NULL;
}

static void copy(char *out, size_t outsz, const char *v)
{
	snprintf(out, outsz, "%s", v ? v : "");
}

void site_audit_request(struct site *s, const struct http_route *route, struct http_req *req,
			int status)
{
	const struct principal *p = http_req_ctx(req);
	const char *m = http_req_method(req);
	struct store_audit e;
	size_t len = 0;
	int rc;

	/* reads are not recorded; nor is what no administrator asked for */
	if (!s->audit || !p || p->kind != PRINCIPAL_ADMIN || strcmp(m, "GET") == 0 ||
	    strcmp(m, "HEAD") == 0)
		return;
	memset(&e, 0, sizeof(e));
	e.time = time_now_s();
	copy(e.who, sizeof(e.who), p->name);
	copy(e.role, sizeof(e.role), token_role_name(p->role));
	copy(e.route, sizeof(e.route), route->name);
	copy(e.method, sizeof(e.method), m);
	copy(e.path, sizeof(e.path), http_req_path(req));
	for (int i = 0; i < HTTP_MAX_PARAMS && http_req_param(req, i); i++)
		len += (size_t)snprintf(e.object + len,
					len < sizeof(e.object) ? sizeof(e.object) - len : 0, "%s%s",
					i ? "/" : "", http_req_param(req, i));
	if (p->object[0] && len < sizeof(e.object))
		snprintf(e.object + len, sizeof(e.object) - len, "%s%s", len ? "/" : "", p->object);
	e.status = status;
	copy(e.code, sizeof(e.code), status >= 300 ? http_req_error_code(req) : "");
	copy(e.peer, sizeof(e.peer), http_req_peer(req));

	pthread_mutex_lock(&s->audit->mu);
	e.id = s->audit->last_id + 1;
	copy(e.prev, sizeof(e.prev), s->audit->last_hash);
	entry_hash(s->audit, &e, e.hash);
	rc = s->store->ops->audit_append(s->store, &e);
	if (rc == 0) {
		s->audit->last_id = e.id;
		copy(s->audit->last_hash, sizeof(s->audit->last_hash), e.hash);
	} else {
		s->audit->failed++;
	}
	pthread_mutex_unlock(&s->audit->mu);
	if (rc)
		log_error(
		    "audit", "append_failed",
		    "who=%s route=%s status=%d error=\"%s\" reason=\"the write is done but not "
		    "in the audit log\"",
		    e.who, e.route, status, steward_strerror(rc));
}

/* ---- GET /api/v1/audit ------------------------------------------------------------- */

static int entry_json(const struct store_audit *e, void *ctx)
{
	json_t *o = json_pack("{s:I,s:o,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s}", "id",
			      (json_int_t)e->id, "time", time_json(e->time), "who", e->who, "role",
			      e->role, "route", e->route, "method", e->method, "path", e->path,
			      "object", e->object, "status", e->status, "code", e->code, "peer",
			      e->peer, "prev", e->prev, "hash", e->hash);

	return o && json_array_append_new(ctx, o) == 0 ? 0 : -STEWARD_ENOMEM;
}

static bool query_i64(struct http_req *req, const char *name, int64_t *out)
{
	return http_req_query_i64(req, name, 0, INT64_MAX, out) == 0;
}

static bool who_valid(const char *w)
{
	size_t len = strlen(w);

	for (const char *c = w; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
			return false;
	return len <= 64;
}

/* ?since=UNIX&who=NAME&after=ID&limit=N: oldest first, at most
 * AUDIT_LIST_MAX at a time (the next page: after= the last id). */
enum http_result site_h_audit_list(struct http_req *req, void *app)
{
	struct site *s = app;
	struct store_audit_filter f = {.who = "", .limit = AUDIT_LIST_MAX};
	const char *who = http_req_query(req, "who");
	json_t *arr;
	int rc;

	if (!query_i64(req, "since", &f.since) || !query_i64(req, "after", &f.after_id) ||
	    !query_i64(req, "limit", &f.limit) || (who && !who_valid(who))) {
		reply_error(
		    req, 400, "bad_request",
		    "since: unix seconds; after, limit: whole numbers; who: an admin's name",
		    "malformed query of GET /api/v1/audit");
		return HTTP_DONE;
	}
	if (f.limit <= 0 || f.limit > AUDIT_LIST_MAX)
		f.limit = AUDIT_LIST_MAX;
	if (who)
		f.who = who;
	arr = json_array();
	rc = arr ? s->store->ops->audit_list(s->store, &f, entry_json, arr) : -STEWARD_ENOMEM;
	if (rc) {
		json_decref(arr);
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200, arr);
	return HTTP_DONE;
}

/* ---- GET /api/v1/audit/verify ------------------------------------------------------ */

struct walk {
	const struct audit *a;
	int64_t count;
	int64_t last_id;
	char last_hash[STORE_AUDIT_HASH_HEX + 1];
	int64_t bad_id; /* the first entry that does not check out (0: none yet) */
	char why[200];
};

static int walk_entry(const struct store_audit *e, void *ctx)
{
	struct walk *w = ctx;
	char want[STORE_AUDIT_HASH_HEX + 1];

	w->count++;
	if (e->id != w->last_id + 1) {
		w->bad_id = e->id;
		if (e->id == w->last_id + 2)
			snprintf(w->why, sizeof(w->why),
				 "entry %" PRId64 " before it is missing (deleted)",
				 w->last_id + 1);
		else
			snprintf(w->why, sizeof(w->why),
				 "entries %" PRId64 " to %" PRId64
				 " before it are missing (deleted)",
				 w->last_id + 1, e->id - 1);
		return 1;
	}
	if (strcmp(e->prev, w->last_hash) != 0) {
		w->bad_id = e->id;
		snprintf(w->why, sizeof(w->why),
			 "it does not follow entry %" PRId64
			 ": its record of the previous hash differs (the previous entry was "
			 "replaced, or this one edited)",
			 w->last_id);
		return 1;
	}
	entry_hash(w->a, e, want);
	if (sodium_memcmp(want, e->hash, STORE_AUDIT_HASH_HEX) != 0 ||
	    strlen(e->hash) != STORE_AUDIT_HASH_HEX) {
		w->bad_id = e->id;
		snprintf(
		    w->why, sizeof(w->why),
		    "its hash does not match its contents: it was edited after it was written");
		return 1;
	}
	w->last_id = e->id;
	snprintf(w->last_hash, sizeof(w->last_hash), "%s", e->hash);
	return 0;
}

enum http_result site_h_audit_verify(struct http_req *req, void *app)
{
	struct site *s = app;
	struct walk w = {.a = s->audit};
	struct store_audit_filter f = {.who = "", .limit = AUDIT_PAGE};
	int64_t head_id, before;
	char head_hash[STORE_AUDIT_HASH_HEX + 1];
	int rc = 0;

	/* the head first: what is appended while we walk comes after it */
	pthread_mutex_lock(&s->audit->mu);
	head_id = s->audit->last_id;
	snprintf(head_hash, sizeof(head_hash), "%s", s->audit->last_hash);
	pthread_mutex_unlock(&s->audit->mu);
	do {
		before = w.count;
		f.after_id = w.last_id;
		rc = s->store->ops->audit_list(s->store, &f, walk_entry, &w);
	} while (rc == 0 && w.count - before == AUDIT_PAGE);
	if (rc < 0) {
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	if (!w.bad_id && w.last_id < head_id) {
		w.bad_id = head_id;
		snprintf(w.why, sizeof(w.why),
			 "the log ends at entry %" PRId64 " but this site wrote entry %" PRId64
			 ": the newest entries were deleted",
			 w.last_id, head_id);
	} else if (!w.bad_id && head_id &&
		   /* head_id was walked: its hash must be the one written */
		   w.last_id == head_id && strcmp(w.last_hash, head_hash) != 0) {
		w.bad_id = head_id;
		snprintf(w.why, sizeof(w.why), "it is not the entry this site wrote");
	}
	if (w.bad_id) {
		log_warn("audit", "chain_broken", "entry=%" PRId64 " reason=\"%s\"", w.bad_id,
			 w.why);
		reply_error(req, 409, "audit_chain_broken",
			    "the database was changed outside the site: restore it from a backup, "
			    "and find who could write DATA_DIR",
			    "audit entry %" PRId64 " does not check out: %s (the %" PRId64
			    " entries before it check out)",
			    w.bad_id, w.why, w.last_id);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200,
		       json_pack("{s:b,s:I,s:s}", "ok", 1, "count", (json_int_t)w.count,
				 "last_hash", w.last_hash));
	return HTTP_DONE;
}

/* collections_api: the admin API of collections and inventory queries.
 *
 * Thin handlers: parse -> check against the engine -> store -> engine ->
 * reply, all under the collections mutex so the engine and the store
 * agree. Membership comes from memory; the store holds only definitions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "collections.h"
#include "site.h"

#define REMEDY_COLL_BODY                                                                           \
	"send {\"name\", \"query\" or \"members\", optional \"include\", \"exclude\", "            \
	"\"comment\"}; "                                                                           \
	"see docs/collections.md"
#define REMEDY_LIST "list collections with: stewardctl collections list"
/* Work allowed for one ad-hoc query over the whole fleet: a few seconds at
 * most, well inside the request timeout. */
#define QUERY_TOTAL_BUDGET 50000000ull

static void reply_store(struct http_req *req, int rc)
{
	http_reply_header(req, "Retry-After", "5");
	reply_error(req, 503, "store_unavailable",
		    "retry shortly; if it persists see the site's log",
		    "the site database failed: %s", steward_strerror(rc));
}

static void reply_coll_error(struct http_req *req, int rc, const char *msg,
			     const struct core_query_error *qerr)
{
	switch (rc) {
	case COLL_ENOTFOUND:
		reply_error(req, 404, "collection_not_found", REMEDY_LIST, "%s", msg);
		break;
	case COLL_EEXIST:
		reply_error(req, 409, "name_exists",
			    "choose another name, or delete the old collection first", "%s", msg);
		break;
	case COLL_EQUERY:
		reply_error(req, 400, "query_invalid",
			    "fix the query at the column given; see docs/collections.md", "%s",
			    qerr && qerr->message[0] ? qerr->message : msg);
		break;
	case COLL_ECYCLE:
		reply_error(
		    req, 409, "collection_cycle",
		    "a collection cannot include or exclude itself, directly or through others",
		    "%s", msg);
		break;
	case COLL_EINUSE:
		reply_error(req, 409, "collection_in_use",
			    "delete or redefine the collections that name it first", "%s", msg);
		break;
	case COLL_EBUILTIN:
		reply_error(req, 409, "collection_builtin",
			    "built-in collections are always present; choose another name", "%s",
			    msg);
		break;
	case COLL_ENOMEM:
		reply_error(req, 500, "internal", "report this with the site's log", "%s", msg);
		break;
	default: /* EINVAL, EREF, EMEMBER */
		reply_error(req, 400, "bad_request", REMEDY_COLL_BODY, "%s", msg);
	}
}

/* A JSON array of strings into a NULL-terminated vector (pointing into
 * the JSON); -1 with a reply when it is not one. */
static int str_vector(struct http_req *req, json_t *body, const char *key, size_t max,
		      const char ***out, size_t *n)
{
	json_t *a = json_object_get(body, key), *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a) || json_array_size(a) > max) {
		reply_error(req, 400, "bad_request", REMEDY_COLL_BODY,
			    "field '%s' must be an array of at most %zu strings", key, max);
		return -1;
	}
	*out = calloc(json_array_size(a) + 1, sizeof(char *));
	if (!*out) {
		reply_error(req, 500, "internal", "", "out of memory");
		return -1;
	}
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v)) {
			reply_error(req, 400, "bad_request", REMEDY_COLL_BODY,
				    "field '%s' must hold only strings", key);
			free(*out);
			*out = NULL;
			return -1;
		}
		(*out)[i] = json_string_value(v);
	}
	*n = json_array_size(a);
	return 0;
}

static void fill_store(struct store_collection *sc, const struct coll_def *d)
{
	snprintf(sc->name, sizeof(sc->name), "%s", d->name);
	sc->is_query = d->query != NULL;
	snprintf(sc->query, sizeof(sc->query), "%s", d->query ? d->query : "");
	snprintf(sc->comment, sizeof(sc->comment), "%s", d->comment ? d->comment : "");
	sc->created = d->created;
	snprintf(sc->created_by, sizeof(sc->created_by), "%s", d->created_by);
}

/* The store copies: arrays of fixed-size names for its seam. Rules name
 * their targets as defined, so the store's in-use check (exact names)
 * agrees with the engine's (case-insensitive). -1 when out of memory. */
static int fill_lists(struct store_collection *sc, struct coll_engine *e, const struct coll_def *d)
{
	sc->members = calloc(d->n_members + 1, sizeof(sc->members[0]));
	sc->include = calloc(d->n_include + 1, sizeof(sc->include[0]));
	sc->exclude = calloc(d->n_exclude + 1, sizeof(sc->exclude[0]));
	if (!sc->members || !sc->include || !sc->exclude)
		return -1;
	for (size_t i = 0; i < d->n_members; i++)
		snprintf(sc->members[i], sizeof(sc->members[i]), "%s", d->members[i]);
	for (size_t i = 0; i < d->n_include; i++)
		snprintf(sc->include[i], sizeof(sc->include[i]), "%s", coll_name(e, d->include[i]));
	for (size_t i = 0; i < d->n_exclude; i++)
		snprintf(sc->exclude[i], sizeof(sc->exclude[i]), "%s", coll_name(e, d->exclude[i]));
	sc->n_members = d->n_members;
	sc->n_include = d->n_include;
	sc->n_exclude = d->n_exclude;
	return 0;
}

enum http_result site_h_collections_create(struct http_req *req, void *app)
{
	struct site *s = app;
	struct principal *p = http_req_ctx(req);
	json_t *body = NULL, *name, *query, *comment;
	const char **members = NULL, **inc = NULL, **exc = NULL;
	struct store_collection *sc = NULL;
	struct core_query_error qerr;
	struct coll_def d;
	struct facts *f;
	struct coll_engine *e;
	char msg[COLL_MSG_MAX];
	size_t len;
	json_error_t jerr;
	const char *text = http_req_body(req, &len);
	int rc;

	memset(&d, 0, sizeof(d));
	memset(&qerr, 0, sizeof(qerr));
	body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(body)) {
		reply_error(req, 400, "bad_request", REMEDY_COLL_BODY,
			    "request body must be a JSON object");
		goto out;
	}
	name = json_object_get(body, "name");
	query = json_object_get(body, "query");
	comment = json_object_get(body, "comment");
	if (!json_is_string(name)) {
		reply_error(req, 400, "bad_request", REMEDY_COLL_BODY,
			    "field 'name' must be a string");
		goto out;
	}
	if (query && !json_is_null(query) && !json_is_string(query)) {
		reply_error(req, 400, "bad_request", REMEDY_COLL_BODY,
			    "field 'query' must be a string");
		goto out;
	}
	if (comment && !json_is_null(comment) && !json_is_string(comment)) {
		reply_error(req, 400, "bad_request", REMEDY_COLL_BODY,
			    "field 'comment' must be a string");
		goto out;
	}
	if (str_vector(req, body, "members", STORE_COLLECTION_MEMBERS_MAX, &members,
		       &d.n_members) ||
	    str_vector(req, body, "include", STORE_COLLECTION_RULES_MAX, &inc, &d.n_include) ||
	    str_vector(req, body, "exclude", STORE_COLLECTION_RULES_MAX, &exc, &d.n_exclude))
		goto out;
	if (json_is_string(query) && members) {
		reply_error(req, 400, "bad_request", REMEDY_COLL_BODY,
			    "give either 'query' or 'members', not both");
		goto out;
	}
	d.name = json_string_value(name);
	d.query = json_string_value(query);
	d.members = members;
	d.include = inc;
	d.exclude = exc;
	d.comment = json_string_value(comment);
	d.created_by = p ? p->name : "";
	d.created = time_now_s();
	if (d.comment &&
	    (strlen(d.comment) > STORE_COLLECTION_COMMENT_MAX || !str_printable(d.comment))) {
		reply_error(req, 400, "bad_request", REMEDY_COLL_BODY,
			    "field 'comment' must be at most 256 printable ASCII characters");
		goto out;
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		reply_error(req, 500, "internal", "", "out of memory");
		goto out;
	}
	site_colls_lock(s, &f, &e);
	rc = coll_check(e, &d, false, true, &qerr, msg, sizeof(msg));
	if (rc) {
		site_colls_unlock(s);
		reply_coll_error(req, rc, msg, &qerr);
		goto out;
	}
	fill_store(sc, &d);
	if (fill_lists(sc, e, &d)) {
		site_colls_unlock(s);
		reply_error(req, 500, "internal", "", "out of memory");
		goto out;
	}
	rc = s->store->ops->collection_create(s->store, sc);
	if (rc) {
		site_colls_unlock(s);
		if (rc == -STEWARD_EEXIST) {
			snprintf(msg, sizeof(msg), "a collection named '%s' already exists",
				 d.name);
			reply_coll_error(req, COLL_EEXIST, msg, NULL);
		} else {
			reply_store(req, rc);
		}
		goto out;
	}
	/* coll_check passed under the same lock: only memory can fail here */
	rc = coll_define(e, &d, false, &qerr, msg, sizeof(msg));
	if (rc) {
		site_colls_unlock(s);
		reply_coll_error(req, rc, msg, &qerr);
		goto out;
	}
	{
		json_t *o = coll_show_json(e, d.name);
		site_colls_unlock(s);
		log_info("collections", "collection_created", "name=\"%s\" kind=%s by=%s", d.name,
			 d.query ? "query" : "static", d.created_by);
		reply_json_obj(req, 201, o);
	}
out:
	if (sc)
		store_collection_clear(sc);
	free(sc);
	free(members);
	free(inc);
	free(exc);
	json_decref(body);
	return HTTP_DONE;
}

enum http_result site_h_collections_list(struct http_req *req, void *app)
{
	struct site *s = app;
	struct facts *f;
	struct coll_engine *e;
	json_t *a;

	site_colls_lock(s, &f, &e);
	a = coll_list_json(e);
	site_colls_unlock(s);
	reply_json_obj(req, 200, a);
	return HTTP_DONE;
}

static void reply_unknown(struct http_req *req, const char *name)
{
	reply_error(req, 404, "collection_not_found", REMEDY_LIST, "no collection '%.80s'",
		    name ? name : "");
}

/* Show one view of a named collection, or 404. */
static enum http_result reply_collection(struct http_req *req, struct site *s,
					 json_t *(*view)(struct coll_engine *, const char *))
{
	const char *name = http_req_param(req, 0);
	struct facts *f;
	struct coll_engine *e;
	json_t *o;

	site_colls_lock(s, &f, &e);
	o = view(e, name);
	site_colls_unlock(s);
	if (!o)
		reply_unknown(req, name);
	else
		reply_json_obj(req, 200, o);
	return HTTP_DONE;
}

enum http_result site_h_collections_show(struct http_req *req, void *app)
{
	return reply_collection(req, app, coll_show_json);
}

enum http_result site_h_collections_members(struct http_req *req, void *app)
{
	return reply_collection(req, app, coll_members_json);
}

enum http_result site_h_collections_explain(struct http_req *req, void *app)
{
	struct site *s = app;
	const char *name = http_req_param(req, 0), *id = http_req_param(req, 1);
	struct facts *f;
	struct coll_engine *e;
	char buf[2048];
	bool member = false;
	int64_t slot;
	int rc;

	if (!proto_client_id_valid(id)) {
		reply_error(req, 400, "bad_request", "client ids are 32 lowercase hex digits",
			    "'%.40s' is not a client id", id ? id : "");
		return HTTP_DONE;
	}
	site_colls_lock(s, &f, &e);
	if (!coll_exists(e, name)) {
		site_colls_unlock(s);
		reply_unknown(req, name);
		return HTTP_DONE;
	}
	slot = facts_find(f, id);
	if (slot < 0) {
		site_colls_unlock(s);
		reply_error(req, 404, "client_not_found",
			    "list clients with: stewardctl clients list", "no client %s", id);
		return HTTP_DONE;
	}
	rc = coll_explain(e, name, (uint32_t)slot, &member, buf, sizeof(buf));
	site_colls_unlock(s);
	if (rc) {
		reply_unknown(req, name);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200,
		       json_pack("{s:s,s:s,s:b,s:s}", "collection", name, "client_id", id, "member",
				 member, "reason", buf));
	return HTTP_DONE;
}

enum http_result site_h_collections_delete(struct http_req *req, void *app)
{
	struct site *s = app;
	struct principal *p = http_req_ctx(req);
	const char *name = http_req_param(req, 0);
	struct facts *f;
	struct coll_engine *e;
	char msg[COLL_MSG_MAX], users[COLL_MSG_MAX], stored[STORE_COLLECTION_NAME_MAX + 24];
	int rc;

	/* one from above is changed only where it was defined */
	site_colls_lock(s, &f, &e);
	snprintf(stored, sizeof(stored), "%s",
		 coll_is_user_defined(e, name) ? coll_name(e, name) : "");
	site_colls_unlock(s);
	if (stored[0]) {
		struct store_collection sc;
		char origin[PROTO_SITE_CODE_LEN + 1] = "";

		if (s->store->ops->collection_get(s->store, stored, &sc) == 0) {
			snprintf(origin, sizeof(origin), "%s", sc.origin);
			store_collection_clear(&sc);
		}
		if (origin[0]) {
			site_reply_from_above(req, "collection", stored, origin);
			return HTTP_DONE;
		}
	}
	/* advertisements first: their lock comes before the collections' */
	if (site_swdist_collection_users(s, name, users, sizeof(users))) {
		reply_error(req, 409, "collection_in_use",
			    "delete the advertisements that target it first",
			    "collection '%.80s' is in use: %s", name, users);
		return HTTP_DONE;
	}
	site_colls_lock(s, &f, &e);
	if (!coll_exists(e, name)) {
		site_colls_unlock(s);
		reply_unknown(req, name);
		return HTTP_DONE;
	}
	if (coll_users(e, name, users, sizeof(users))) {
		site_colls_unlock(s);
		reply_error(req, 409, "collection_in_use",
			    "delete or redefine the collections that name it first",
			    "collection '%.80s' is in use: %s", name, users);
		return HTTP_DONE;
	}
	if (!coll_is_user_defined(e, name)) {
		site_colls_unlock(s);
		reply_coll_error(req, COLL_EBUILTIN, "built-in collections cannot be deleted",
				 NULL);
		return HTTP_DONE;
	}
	/* the store first, under its stored name: a store failure leaves both
	 * as they were */
	snprintf(stored, sizeof(stored), "%s", coll_name(e, name));
	rc = s->store->ops->collection_delete(s->store, stored);
	if (rc && rc != -STEWARD_ENOTFOUND) {
		site_colls_unlock(s);
		if (rc == -STEWARD_EBUSY)
			reply_error(req, 409, "collection_in_use",
				    "delete or redefine the collections that name it first",
				    "collection '%.80s' is named by another collection's rule",
				    stored);
		else
			reply_store(req, rc);
		return HTTP_DONE;
	}
	rc = coll_remove(e, stored, msg, sizeof(msg));
	site_colls_unlock(s);
	if (rc) {
		reply_coll_error(req, rc, msg, NULL);
		return HTTP_DONE;
	}
	name = stored;
	log_info("collections", "collection_deleted", "name=\"%s\" by=%s", name, p ? p->name : "?");
	reply_json_obj(req, 200, json_pack("{s:s}", "deleted", name));
	return HTTP_DONE;
}

/* ---- ?all_sites=1: the clients below too --------------------------------------------- */

/* What a query over the clients below found: they are evaluated on the
 * inventory that came up of them (docs/hierarchy.md). A client whose
 * inventory lacks what the query reads (packages or addresses: only full
 * documents carry them; any inventory: none came up) is not evaluated, so
 * `not has_package("x")` cannot match a machine nobody looked at; it is
 * counted by site and level instead, and the answer names those sites. */
struct below_query {
	const struct core_query *q;
	struct facts *f;
	bool need_full, need_inv;
	uint64_t total, spent;
	json_t *out, *skipped; /* skipped: "SITE level" -> {"site", "level", "clients"} */
	size_t searched;
	int rc; /* a CORE_QUERY_* failure */
	char msg[COLL_MSG_MAX];
};

static int below_one(const struct store_site_inv_row *r, void *ctx)
{
	struct below_query *bq = ctx;
	struct store_client_facts fr;
	struct coll_source src;
	struct coll_client cc;
	enum store_client_state st = CLIENT_APPROVED;
	uint64_t left = bq->total > bq->spent ? bq->total - bq->spent : 0, one = 0;
	uint32_t slot;
	int e;

	if ((bq->need_full && strcmp(r->level, "full") != 0) || (bq->need_inv && !r->level[0])) {
		char key[16];
		json_t *k;

		snprintf(key, sizeof(key), "%s %s", r->site, r->level[0] ? r->level : "none");
		k = json_object_get(bq->skipped, key);
		if (!k) {
			k = json_pack("{s:s,s:s,s:I}", "site", r->site, "level",
				      r->level[0] ? r->level : "none", "clients", (json_int_t)0);
			if (!k || json_object_set_new(bq->skipped, key, k))
				return -STEWARD_ENOMEM;
		}
		json_object_set_new(k, "clients",
				    json_integer(json_integer_value(json_object_get(k, "clients")) +
						 1));
		return 0;
	}
	store_client_state_parse(r->state, &st);
	memset(&fr, 0, sizeof(fr));
	fr.id = r->id;
	fr.hostname = r->hostname;
	fr.site = r->site;
	fr.agent_version = r->agent_version;
	fr.addresses = "[]";
	fr.state = st;
	fr.hardware = r->hardware;
	fr.os = r->os;
	fr.software = r->software;
	fr.software_hash = r->full_hash; /* equal documents, equal software */
	if (facts_put(bq->f, &fr, &slot))
		return -STEWARD_ENOMEM;
	facts_source(bq->f, &src);
	if (!src.client(src.ctx, slot, &cc))
		return -STEWARD_ENOMEM;
	e = core_query_eval(bq->q, &cc.facts,
			    left < CORE_QUERY_BUDGET_DEFAULT ? left : CORE_QUERY_BUDGET_DEFAULT, &one);
	bq->spent += one;
	bq->searched++;
	if (e == CORE_QUERY_EBUDGET) {
		snprintf(bq->msg, sizeof(bq->msg),
			 left < CORE_QUERY_BUDGET_DEFAULT
			     ? "the query needed more than %llu work units over all clients (with "
			       "those below); narrow it, e.g. avoid a leading '*' in package patterns"
			     : "the query needed more than %llu work units for a client of a site "
			       "below; narrow it, e.g. avoid a leading '*' in package patterns",
			 (unsigned long long)(left < CORE_QUERY_BUDGET_DEFAULT
						  ? bq->total
						  : CORE_QUERY_BUDGET_DEFAULT));
		bq->rc = e;
		return 1;
	}
	if (e < 0) {
		snprintf(bq->msg, sizeof(bq->msg), "evaluation failed: %s", core_query_strerror(e));
		bq->rc = e;
		return 1;
	}
	if (e == 1 && json_array_append_new(bq->out,
					    json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", r->id,
						      "hostname", r->hostname, "site", r->site,
						      "via", r->via, "inventory",
						      r->level[0] ? r->level : "none")))
		return -STEWARD_ENOMEM;
	return 0;
}

/* The sites whose clients the query could not look at, sorted by site. */
static json_t *not_searched(json_t *skipped)
{
	json_t *a = json_array(), *v;
	const char *k;

	json_object_foreach(skipped, k, v)
	{
		const char *level = json_string_value(json_object_get(v, "level"));

		json_object_set_new(
		    v, "reason",
		    json_string(strcmp(level, "summary") == 0
				    ? "only a summary of these clients' inventory comes up here; the "
				      "query reads packages or addresses, which only a full "
				      "inventory carries"
				    : "no inventory of these clients came up here (the links up "
				      "from the site send none, or the clients have sent none yet)"));
		json_array_append(a, v);
	}
	return a;
}

enum http_result site_h_inventory_query(struct http_req *req, void *app)
{
	struct site *s = app;
	const char *text = http_req_query(req, "q");
	const char *all = http_req_query(req, "all_sites");
	json_t *below = NULL;
	size_t searched = 0;
	struct core_query *q = NULL;
	struct core_query_error qerr;
	struct facts *f;
	struct coll_engine *e;
	char msg[COLL_MSG_MAX], canon[CORE_QUERY_TEXT_MAX + 1];
	uint64_t used = 0;
	json_t *arr;
	int rc;

	if (!text || !*text) {
		reply_error(req, 400, "query_invalid", "pass the query as ?q=QUERY (URL-encoded)",
			    "the query is empty");
		return HTTP_DONE;
	}
	rc = core_query_parse(text, &q, &qerr);
	if (rc) {
		reply_error(req, 400, "query_invalid",
			    "fix the query at the column given; see docs/collections.md", "%s",
			    qerr.message);
		return HTTP_DONE;
	}
	core_query_format(q, canon, sizeof(canon));
	arr = json_array();
	site_colls_lock(s, &f, &e);
	rc = coll_match(e, q, QUERY_TOTAL_BUDGET, arr, &used, msg, sizeof(msg));
	site_colls_unlock(s);
	if (!rc && all && strcmp(all, "1") == 0) {
		unsigned deps = core_query_deps(q);
		struct below_query bq = {
		    .q = q,
		    .need_full = deps & (CORE_QUERY_DEP_SOFTWARE | CORE_QUERY_DEP_NETWORK),
		    .need_inv = deps & ~(unsigned)CORE_QUERY_DEP_CLIENT,
		    .total = QUERY_TOTAL_BUDGET,
		    .spent = used,
		    .out = arr,
		    .skipped = json_object(),
		};
		int src = bq.skipped ? facts_new(&bq.f) : -STEWARD_ENOMEM;

		/* the store walks the rows; evaluation happens in the callback,
		 * which calls nothing of the store */
		if (!src)
			src = s->store->ops->site_inventory_list(s->store, NULL, below_one, &bq);
		used = bq.spent;
		if (bq.rc == CORE_QUERY_EBUDGET) {
			rc = COLL_EBUDGET;
			snprintf(msg, sizeof(msg), "%s", bq.msg);
		} else if (bq.rc || (src && src != 1)) {
			rc = COLL_EINVAL;
			snprintf(msg, sizeof(msg), "%s",
				 bq.rc ? bq.msg : "the clients below could not be read");
		} else {
			below = not_searched(bq.skipped);
			searched = bq.searched;
		}
		if (bq.f)
			facts_free(bq.f);
		json_decref(bq.skipped);
	}
	core_query_free(q);
	if (rc == COLL_EBUDGET) {
		json_decref(arr);
		reply_error(req, 422, "query_too_expensive",
			    "narrow the query: compare exact package names, avoid leading '*'",
			    "%s", msg);
		return HTTP_DONE;
	}
	if (rc) {
		json_decref(arr);
		reply_error(req, 500, "internal", "report this with the site's log", "%s", msg);
		return HTTP_DONE;
	}
	{
		json_t *o = json_pack("{s:s,s:I,s:I,s:o}", "query", canon, "count",
				      (json_int_t)json_array_size(arr), "work", (json_int_t)used,
				      "clients", arr);

		if (o && below) {
			json_object_set_new(o, "below_searched", json_integer((json_int_t)searched));
			json_object_set_new(o, "not_searched", below);
			below = NULL;
		}
		json_decref(below);
		reply_json_obj(req, 200, o);
	}
	return HTTP_DONE;
}

/* ---- collections from above ---------------------------------------------------------------- *
 * Defined at a site above and evaluated here over this site's own clients
 * (an advertisement from above targets one by name). Static members name
 * the defining site's clients, so here they count only where they match
 * one of this site's. */

/* The strings of a JSON array (checked by the decoder) into a vector. */
static const char **strings_of(json_t *a, size_t *n)
{
	const char **v = calloc(json_array_size(a) + 1, sizeof(*v));
	json_t *x;
	size_t i;

	*n = 0;
	if (!v)
		return NULL;
	json_array_foreach(a, i, x)
		v[(*n)++] = json_string_value(x);
	return v;
}

static void collection_gone(struct site *s, const char *name, struct site_down_out *out)
{
	struct store_collection sc;
	struct facts *f;
	struct coll_engine *e;
	char msg[COLL_MSG_MAX], users[COLL_MSG_MAX], stored[STORE_COLLECTION_NAME_MAX + 24];
	bool local;
	int rc;

	if (site_swdist_collection_users(s, name, users, sizeof(users))) {
		site_down_set(out, true, "refused", "in use here at %s: %.300s", s->cfg.site_code,
			      users);
		return;
	}
	site_colls_lock(s, &f, &e);
	if (!coll_is_user_defined(e, name)) {
		site_colls_unlock(s);
		site_down_set(out, true, "deleted", "%s", "");
		return;
	}
	snprintf(stored, sizeof(stored), "%s", coll_name(e, name));
	rc = s->store->ops->collection_get(s->store, stored, &sc);
	local = rc == 0 && !sc.origin[0];
	if (rc == 0)
		store_collection_clear(&sc);
	if (rc || local) {
		site_colls_unlock(s);
		if (rc)
			site_down_set(out, false, "waiting", "the database: %s", steward_strerror(rc));
		else
			site_down_set(out, true, "deleted", "%s", "");
		return;
	}
	if (coll_users(e, stored, users, sizeof(users))) {
		site_colls_unlock(s);
		site_down_set(out, true, "refused", "collection %.300s at %s names it", users,
			      s->cfg.site_code);
		return;
	}
	rc = s->store->ops->collection_delete(s->store, stored);
	if (!rc || rc == -STEWARD_ENOTFOUND)
		rc = coll_remove(e, stored, msg, sizeof(msg)) == COLL_OK ? 0 : -STEWARD_EINVAL;
	site_colls_unlock(s);
	if (rc)
		site_down_set(out, false, "waiting", "cannot delete it yet: %s",
			      steward_strerror(rc));
	else
		site_down_set(out, true, "deleted", "%s", "");
}

void site_collection_down(struct site *s, const struct store_down *d, json_t *b,
			  struct site_down_out *out)
{
	const char *name = json_string_value(json_object_get(b, "name"));
	const char *kind = json_string_value(json_object_get(b, "kind"));
	struct store_collection *sc = NULL;
	struct core_query_error qerr;
	struct coll_def def;
	struct facts *f;
	struct coll_engine *e;
	const char **members = NULL, **inc = NULL, **exc = NULL;
	char msg[COLL_MSG_MAX];
	int rc;

	if (strcmp(d->op, "delete") == 0) {
		collection_gone(s, name, out);
		return;
	}
	memset(&def, 0, sizeof(def));
	memset(&qerr, 0, sizeof(qerr));
	def.name = name;
	def.query = strcmp(kind, "query") == 0 ? json_string_value(json_object_get(b, "query"))
					       : NULL;
	def.comment = json_string_value(json_object_get(b, "comment"));
	def.created_by = json_string_value(json_object_get(b, "created_by"));
	def.created = time_now_s();
	members = strings_of(json_object_get(b, "members"), &def.n_members);
	inc = strings_of(json_object_get(b, "include"), &def.n_include);
	exc = strings_of(json_object_get(b, "exclude"), &def.n_exclude);
	sc = calloc(1, sizeof(*sc));
	if (!members || !inc || !exc || !sc) {
		site_down_set(out, false, "waiting", "%s", "out of memory");
		goto out;
	}
	def.members = members;
	def.include = inc;
	def.exclude = exc;
	site_colls_lock(s, &f, &e);
	if (coll_exists(e, name)) {
		struct store_collection old;
		bool local = true;

		if (s->store->ops->collection_get(s->store, coll_name(e, name), &old) == 0) {
			local = !old.origin[0];
			store_collection_clear(&old);
		}
		site_colls_unlock(s);
		if (local)
			site_down_set(out, true, "name_conflict",
				      "a local collection has this name at %s", s->cfg.site_code);
		else
			site_down_set(out, true, "applied", "%s", "");
		goto out;
	}
	rc = coll_check(e, &def, false, false, &qerr, msg, sizeof(msg));
	if (rc) {
		site_colls_unlock(s);
		if (rc == COLL_EREF)
			site_down_set(out, false, "waiting", "%.400s", msg);
		else
			site_down_set(out, true, "refused", "%.400s",
				      rc == COLL_EQUERY && qerr.message[0] ? qerr.message : msg);
		goto out;
	}
	fill_store(sc, &def);
	snprintf(sc->origin, sizeof(sc->origin), "%s", d->origin);
	if (fill_lists(sc, e, &def)) {
		site_colls_unlock(s);
		site_down_set(out, false, "waiting", "%s", "out of memory");
		goto out;
	}
	rc = s->store->ops->collection_create(s->store, sc);
	if (!rc)
		rc = coll_define(e, &def, false, &qerr, msg, sizeof(msg)) == COLL_OK ? 0
										      : -STEWARD_ENOMEM;
	site_colls_unlock(s);
	if (rc) {
		site_down_set(out, false, "waiting", "cannot store it yet: %s", steward_strerror(rc));
		goto out;
	}
	log_info("collections", "collection_from_above", "name=\"%s\" kind=%s origin=%s", name,
		 def.query ? "query" : "static", d->origin);
	site_down_set(out, true, "applied", "%s", "");
out:
	if (sc)
		store_collection_clear(sc);
	free(sc);
	free(members);
	free(inc);
	free(exc);
}

/* inventory: the site's side of inventory ingestion and its admin API.
 *
 *   POST /api/v1/inventory                    an agent's report (full or delta)
 *   GET  /api/v1/clients/{id}/inventory       the stored document
 *   GET  /api/v1/clients/{id}/inventory/history
 *
 * A report: parse with caps (lib/proto) -> read the stored inventory ->
 * merge a delta onto it (or refuse with inventory_resync when the site
 * lacks its base) -> one store transaction that writes the changed classes,
 * every hash and one history row per changed class -> tell the collections
 * which classes changed. Every refusal leaves the stored inventory as it was.
 * The flow is described in docs/internals/inventory.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "steward/inventory.h"
#include "site.h"

#define REMEDY_INV	 "send an inventory document as described in docs/internals/inventory.md"
#define REMEDY_RESYNC	 "send a full inventory (the agent does this by itself)"
#define CANON_FLAGS	 (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII)
#define SUMMARY_LIST_MAX 50 /* entries of each list in a history summary */
#define HISTORY_DEFAULT	 100

static void reply_store(struct http_req *req, int rc)
{
	http_reply_header(req, "Retry-After", "5");
	reply_error(req, 503, "store_unavailable",
		    "retry shortly; if it persists see the site's log",
		    "the site database failed: %s", steward_strerror(rc));
}

/* ---- change summaries --------------------------------------------------------- */

/* Flatten a class object into path -> scalar (or unkeyed array) entries.
 * Arrays of objects are keyed by their natural key, so that a disk or an
 * interface is compared with itself whatever its position. */
static int flatten(json_t *v, const char *path, json_t *out)
{
	char sub[512];

	if (json_is_object(v)) {
		const char *k;
		json_t *e;
		json_object_foreach(v, k, e)
		{
			snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", k);
			if (flatten(e, sub, out))
				return -1;
		}
		return 0;
	}
	if (json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0))) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			const char *key = json_string_value(json_object_get(e, "mount"));
			if (!key)
				key = json_string_value(json_object_get(e, "name"));
			if (key)
				snprintf(sub, sizeof(sub), "%s[%s]", path, key);
			else
				snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if (flatten(e, sub, out))
				return -1;
		}
		return 0;
	}
	return json_object_set(out, path, v);
}

static int add_field(json_t *fields, const char *path, json_t *o, json_t *n)
{
	return json_array_append_new(fields,
				     json_pack("{s:s,s:O,s:O}", "field", path, "old",
					       o ? o : json_null(), "new", n ? n : json_null()));
}

/* hardware / os: {"fields": [{"field","old","new"}...], "count": N} */
static json_t *summary_fields(const char *cls, json_t *old_cls, json_t *new_cls)
{
	json_t *fo = json_object(), *fn = json_object(), *fields = json_array(), *res = NULL;
	const char *k;
	json_t *v;
	size_t count = 0;

	if (!fo || !fn || !fields || flatten(old_cls, cls, fo) || flatten(new_cls, cls, fn))
		goto out;
	json_object_foreach(fn, k, v)
	{
		json_t *o = json_object_get(fo, k);
		if (o && json_equal(o, v))
			continue;
		if (count++ < SUMMARY_LIST_MAX)
			add_field(fields, k, o, v);
	}
	json_object_foreach(fo, k, v)
	{
		if (json_object_get(fn, k))
			continue;
		if (count++ < SUMMARY_LIST_MAX)
			add_field(fields, k, v, NULL);
	}
	res = json_pack("{s:O,s:I}", "fields", fields, "count", (json_int_t)count);
out:
	json_decref(fo);
	json_decref(fn);
	json_decref(fields);
	return res;
}

/* name/arch -> package object */
static json_t *package_map(json_t *sw)
{
	json_t *m = json_object(), *p;
	size_t i;
	char key[600];

	json_array_foreach(json_object_get(sw, "packages"), i, p)
	{
		snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(p, "name")),
			 json_string_value(json_object_get(p, "arch")));
		json_object_set(m, key, p);
	}
	return m;
}

static void list_add(json_t *list, size_t *count, json_t *entry)
{
	if ((*count)++ < SUMMARY_LIST_MAX)
		json_array_append_new(list, entry);
	else
		json_decref(entry);
}

/* software: packages added / removed / changed with versions */
static json_t *summary_software(json_t *old_sw, json_t *new_sw)
{
	json_t *mo = package_map(old_sw), *mn = package_map(new_sw);
	json_t *added = json_array(), *removed = json_array(), *changed = json_array();
	json_t *res = NULL, *p;
	size_t na = 0, nr = 0, nc = 0;
	const char *k;

	if (!mo || !mn || !added || !removed || !changed)
		goto out;
	json_object_foreach(mn, k, p)
	{
		json_t *o = json_object_get(mo, k);
		const char *nv = json_string_value(json_object_get(p, "version"));
		if (!o)
			list_add(added, &na,
				 json_pack("{s:O,s:O,s:s}", "name", json_object_get(p, "name"),
					   "arch", json_object_get(p, "arch"), "version", nv));
		else if (strcmp(nv, json_string_value(json_object_get(o, "version"))))
			list_add(changed, &nc,
				 json_pack("{s:O,s:O,s:O,s:s}", "name", json_object_get(p, "name"),
					   "arch", json_object_get(p, "arch"), "old",
					   json_object_get(o, "version"), "new", nv));
	}
	json_object_foreach(mo, k, p)
	{
		if (!json_object_get(mn, k))
			list_add(removed, &nr,
				 json_pack("{s:O,s:O,s:O}", "name", json_object_get(p, "name"),
					   "arch", json_object_get(p, "arch"), "version",
					   json_object_get(p, "version")));
	}
	res = json_pack("{s:O,s:O,s:O,s:I,s:I,s:I,s:I}", "added", added, "removed", removed,
			"changed", changed, "added_count", (json_int_t)na, "removed_count",
			(json_int_t)nr, "changed_count", (json_int_t)nc, "packages",
			(json_int_t)json_object_size(mn));
	if (res &&
	    !json_equal(json_object_get(old_sw, "steward"), json_object_get(new_sw, "steward")))
		json_object_set(res, "steward", json_object_get(new_sw, "steward"));
out:
	json_decref(mo);
	json_decref(mn);
	json_decref(added);
	json_decref(removed);
	json_decref(changed);
	return res;
}

/* The history entry of one changed class: old_text NULL for the first report. */
static char *change_text(int cls, const char *old_text, json_t *new_cls)
{
	json_t *old_cls = NULL, *sum;
	char *t;

	if (!old_text) {
		sum = cls == PROTO_INV_SOFTWARE
			  ? json_pack(
				"{s:b,s:I}", "initial", 1, "packages",
				(json_int_t)json_array_size(json_object_get(new_cls, "packages")))
			  : json_pack("{s:b}", "initial", 1);
	} else {
		old_cls = json_loads(old_text, 0, NULL);
		if (!old_cls)
			old_cls = json_object(); /* unreadable: everything counts as new */
		sum = cls == PROTO_INV_SOFTWARE
			  ? summary_software(old_cls, new_cls)
			  : summary_fields(proto_inventory_class_name(cls), old_cls, new_cls);
	}
	t = sum ? json_dumps(sum, CANON_FLAGS) : NULL;
	json_decref(sum);
	json_decref(old_cls);
	return t;
}

/* ---- POST /api/v1/inventory ---------------------------------------------------- */

/* The stored classes as one full document text, for the delta merge. */
static char *stored_doc_text(const struct store_inventory *inv)
{
	size_t n = 512; /* the keys and four hashes: 372 bytes */
	char *t;

	for (int i = 0; i < PROTO_INV_NCLASSES; i++)
		n += strlen(inv->classes[i]);
	t = malloc(n);
	if (!t)
		return NULL;
	snprintf(t, n,
		 "{\"schema\":%d,\"classes\":{\"hardware\":%s,\"os\":%s,\"software\":%s},"
		 "\"hashes\":{\"hardware\":\"%s\",\"os\":\"%s\",\"software\":\"%s\"},"
		 "\"full_hash\":\"%s\"}",
		 PROTO_INVENTORY_SCHEMA, inv->classes[0], inv->classes[1], inv->classes[2],
		 inv->hashes[0], inv->hashes[1], inv->hashes[2], inv->full_hash);
	return t;
}

static int status_of(int rc)
{
	switch (-rc) {
	case STEWARD_ETOOBIG:
		return 413;
	case STEWARD_EVERSION:
		return 409;
	case STEWARD_ENOMEM:
		return 500;
	default:
		return 400;
	}
}

static unsigned deps_of(unsigned classes)
{
	unsigned m = 0;

	/* network interfaces live in the hardware class */
	if (classes & (1u << PROTO_INV_HARDWARE))
		m |= CORE_QUERY_DEP_HARDWARE | CORE_QUERY_DEP_NETWORK;
	if (classes & (1u << PROTO_INV_OS))
		m |= CORE_QUERY_DEP_OS;
	if (classes & (1u << PROTO_INV_SOFTWARE))
		m |= CORE_QUERY_DEP_SOFTWARE;
	return m;
}

/* One attempt at storing a parsed report. Returns 0 with *changed set, a
 * negative store code, or 1 when it replied (a refusal) itself. */
static int ingest(struct http_req *req, struct site *s, const char *id,
		  const struct proto_inventory *rep, const struct proto_inventory_caps *caps,
		  unsigned *changed)
{
	struct store_inventory cur;
	struct proto_inventory merged = {0};
	const struct proto_inventory *full = rep;
	struct store_inventory_put put;
	struct steward_err err = {.code = ""};
	char *texts[PROTO_INV_NCLASSES] = {0}, *changes[PROTO_INV_NCLASSES] = {0};
	char *stored = NULL;
	bool have;
	int rc;

	*changed = 0;
	rc = s->store->ops->inventory_get(s->store, id, &cur);
	if (rc && rc != -STEWARD_ENOTFOUND)
		return rc;
	have = rc == 0;
	if (rep->delta) {
		if (!have) {
			reply_error(req, 409, "inventory_resync", REMEDY_RESYNC,
				    "the site holds no inventory of this client; the delta's base "
				    "%.16s… cannot be applied",
				    rep->base);
			rc = 1;
			goto out;
		}
		stored = stored_doc_text(&cur);
		if (!stored) {
			rc = -STEWARD_ENOMEM;
			goto out;
		}
		rc = proto_inventory_apply_delta(stored, strlen(stored), cur.full_hash, rep, caps,
						 &merged, &err);
		if (rc) {
			http_reply_error(req, rc == -STEWARD_ENOTFOUND ? 409 : status_of(rc), &err);
			rc = 1;
			goto out;
		}
		full = &merged;
	}
	memset(&put, 0, sizeof(put));
	put.time = time_now_s();
	put.expect_full_hash = have ? cur.full_hash : "";
	snprintf(put.full_hash, sizeof(put.full_hash), "%s", full->full_hash);
	for (int i = 0; i < PROTO_INV_NCLASSES; i++) {
		json_t *c = json_object_get(json_object_get(full->doc, "classes"),
					    proto_inventory_class_name(i));
		snprintf(put.hashes[i], sizeof(put.hashes[i]), "%s", full->hashes[i]);
		if (have && strcmp(cur.hashes[i], full->hashes[i]) == 0)
			continue;
		texts[i] = json_dumps(c, CANON_FLAGS);
		changes[i] = change_text(i, have ? cur.classes[i] : NULL, c);
		if (!texts[i] || !changes[i]) {
			rc = -STEWARD_ENOMEM;
			goto out;
		}
		put.classes[i] = texts[i];
		put.changes[i] = changes[i];
		*changed |= 1u << i;
	}
	rc = s->store->ops->inventory_put(s->store, id, &put);
out:
	for (int i = 0; i < PROTO_INV_NCLASSES; i++) {
		free(texts[i]);
		free(changes[i]);
	}
	free(stored);
	proto_inventory_free(&merged);
	if (have)
		store_inventory_clear(&cur);
	return rc;
}

enum http_result site_h_inventory_post(struct http_req *req, void *app)
{
	struct site *s = app;
	struct principal *p = http_req_ctx(req);
	struct proto_inventory_caps caps;
	struct proto_inventory rep = {0};
	struct steward_err err = {.code = ""};
	const char *id = p->client->idhex;
	unsigned changed = 0;
	size_t len;
	const char *body = http_req_body(req, &len);
	json_t *names;
	int rc;

	/* the sequence number first, in the database: a copy of this
	 * request is refused even after a restart, and if the site stops
	 * before the report is stored the agent sends it again with a new
	 * one (docs/internals/protocol.md, "Replay across restarts") */
	if (!site_seq_claim(s, req))
		return HTTP_DONE;
	proto_inventory_caps_default(&caps);
	caps.total_bytes = (size_t)s->cfg.inventory_max_bytes;
	rc = proto_inventory_parse(body, len, &caps, &rep, &err);
	if (rc) {
		log_info("inventory", "refused", "client=%s code=%s message=\"%s\"", id, err.code,
			 err.message);
		http_reply_error(req, status_of(rc), &err);
		return HTTP_DONE;
	}
	/* A full report may race with another report of the same client:
	 * ingest again on what is stored now. A delta cannot: its base is gone. */
	for (int attempt = 0; attempt < 3; attempt++) {
		rc = ingest(req, s, id, &rep, &caps, &changed);
		if (rc != -STEWARD_EBUSY || rep.delta)
			break;
	}
	if (rc == 1)
		goto out;
	if (rc == -STEWARD_EBUSY) {
		reply_error(req, 409, "inventory_resync", REMEDY_RESYNC,
			    "the stored inventory changed while this delta was applied");
		goto out;
	}
	if (rc == -STEWARD_ENOTFOUND) {
		reply_error(req, 404, "client_not_found", "enroll the agent again", "no client %s",
			    id);
		goto out;
	}
	if (rc) {
		reply_store(req, rc);
		goto out;
	}
	if (changed)
		site_facts_client_changed(s, id, deps_of(changed)); /* collections */
	log_info("inventory", "stored", "client=%s kind=%s changed=0x%x full_hash=%.16s", id,
		 rep.delta ? "delta" : "full", changed, rep.full_hash);
	names = json_array();
	for (int i = 0; i < PROTO_INV_NCLASSES; i++)
		if (changed & (1u << i))
			json_array_append_new(names, json_string(proto_inventory_class_name(i)));
	reply_json_obj(req, 200,
		       json_pack("{s:s,s:s,s:o}", "stored", rep.delta ? "delta" : "full",
				 "full_hash", rep.full_hash, "changed", names));
out:
	proto_inventory_free(&rep);
	return HTTP_DONE;
}

/* ---- admin routes -------------------------------------------------------------- */

/* The client id in the path, known and not deleted; replies itself when not. */
static bool path_client(struct http_req *req, struct site *s, struct store_client *c)
{
	const char *id = http_req_param(req, 0);
	int rc;

	if (!proto_client_id_valid(id)) {
		reply_error(req, 400, "bad_request", "client ids are 32 lowercase hex digits",
			    "'%.40s' is not a client id", id ? id : "");
		return false;
	}
	rc = s->store->ops->client_get(s->store, id, c);
	if (rc == 0 && c->state == CLIENT_DELETED)
		rc = -STEWARD_ENOTFOUND;
	if (rc == -STEWARD_ENOTFOUND)
		reply_error(req, 404, "client_not_found",
			    "list clients with: stewardctl clients list", "no client %s", id);
	else if (rc)
		reply_store(req, rc);
	return rc == 0;
}

enum http_result site_h_inventory_show(struct http_req *req, void *app)
{
	struct site *s = app;
	struct store_client *c = malloc(sizeof(*c));
	struct store_inventory inv;
	json_t *doc = NULL, *classes, *hashes;
	char ts[32];
	int rc;

	if (!c) {
		reply_error(req, 500, "internal", "", "out of memory");
		return HTTP_DONE;
	}
	if (!path_client(req, s, c))
		goto out;
	rc = s->store->ops->inventory_get(s->store, c->id, &inv);
	if (rc == -STEWARD_ENOTFOUND) {
		reply_error(req, 404, "inventory_not_found",
			    "the agent sends its inventory at enrollment and then on the site's "
			    "inventory_interval; run steward-agent --once on the client",
			    "client %s has not sent an inventory yet", c->id);
		goto out;
	}
	if (rc) {
		reply_store(req, rc);
		goto out;
	}
	classes = json_object();
	hashes = json_object();
	for (int i = 0; i < PROTO_INV_NCLASSES; i++) {
		json_t *cj = json_loads(inv.classes[i], 0, NULL);
		json_object_set_new(classes, proto_inventory_class_name(i), cj ? cj : json_null());
		json_object_set_new(hashes, proto_inventory_class_name(i),
				    json_string(inv.hashes[i]));
	}
	time_rfc3339(inv.received, ts);
	doc = json_pack("{s:i,s:o,s:o,s:s,s:s,s:s,s:s}", "schema", PROTO_INVENTORY_SCHEMA,
			"classes", classes, "hashes", hashes, "full_hash", inv.full_hash,
			"client_id", c->id, "hostname", c->hostname, "received", ts);
	store_inventory_clear(&inv);
	reply_json_obj(req, 200, doc);
out:
	free(c);
	return HTTP_DONE;
}

static int collect_change(const struct store_inventory_change *h, void *ctx)
{
	char ts[32];
	json_t *ch = json_loads(h->change, 0, NULL);

	time_rfc3339(h->time, ts);
	return json_array_append_new(ctx, json_pack("{s:s,s:s,s:o}", "time", ts, "class", h->cls,
						    "change", ch ? ch : json_object()))
		   ? -STEWARD_ENOMEM
		   : 0;
}

enum http_result site_h_inventory_history(struct http_req *req, void *app)
{
	struct site *s = app;
	struct store_client *c = malloc(sizeof(*c));
	int64_t limit = HISTORY_DEFAULT;
	json_t *arr;
	int rc;

	if (!c) {
		reply_error(req, 500, "internal", "", "out of memory");
		return HTTP_DONE;
	}
	if (http_req_query_i64(req, "limit", 1, STORE_INV_HISTORY_MAX, &limit)) {
		reply_error(req, 400, "bad_request", "give limit as 1 to 1000",
			    "query parameter 'limit' must be 1 to %d", STORE_INV_HISTORY_MAX);
		goto out;
	}
	if (!path_client(req, s, c))
		goto out;
	arr = json_array();
	rc = s->store->ops->inventory_history(s->store, c->id, limit, collect_change, arr);
	if (rc) {
		json_decref(arr);
		reply_store(req, rc);
		goto out;
	}
	reply_json_obj(req, 200, arr);
out:
	free(c);
	return HTTP_DONE;
}

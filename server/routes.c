/* routes: the route table and the handlers of every role.
 *
 * Handlers are thin: parse (with limits) -> decide (lib/core) -> store ->
 * reply. Authorization already happened (auth.c) by the time a handler
 * runs; the principal is in the request's context.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <ctype.h>
#include <errno.h>

#include <jansson.h>
#include <sodium.h>

#include "site.h"

#define REMEDY_BODY "send a JSON object as described in docs/internals/protocol.md"

void reply_error(struct http_req *req, int status, const char *code, const char *remedy,
		 const char *fmt, ...)
{
	struct steward_err err;
	va_list ap;

	snprintf(err.code, sizeof(err.code), "%s", code);
	snprintf(err.remedy, sizeof(err.remedy), "%s", remedy);
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	http_reply_error(req, status, &err);
}

void reply_json_obj(struct http_req *req, int status, void *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	if (text)
		http_reply_json(req, status, text);
	else
		reply_error(req, 500, "internal", "report this with the site's log",
			    "cannot encode the reply");
	free(text);
	json_decref(obj);
}

void reply_store_error(struct http_req *req, int rc)
{
	http_reply_header(req, "Retry-After", "5");
	reply_error(req, 503, "store_unavailable", "retry shortly; if it persists see the site's log",
		    "the site database failed: %s", steward_strerror(rc));
}

static struct site *site_of(void *app)
{
	return app;
}

static struct principal *principal(struct http_req *req)
{
	return http_req_ctx(req);
}

json_t *time_json(int64_t t)
{
	char ts[32];

	if (t <= 0)
		return json_null();
	time_rfc3339(t, ts);
	return json_string(ts);
}

/* Parse an admin request body: a JSON object (an empty body counts as {}). */
json_t *admin_body(struct http_req *req)
{
	size_t len;
	const char *body = http_req_body(req, &len);
	json_error_t jerr;
	json_t *root;

	if (len == 0)
		return json_object();
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		reply_error(req, 400, "bad_request", REMEDY_BODY, "malformed JSON at line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		reply_error(req, 400, "bad_request", REMEDY_BODY, "request body must be a JSON object");
		return NULL;
	}
	return root;
}

/* ---- health and metrics -------------------------------------------------- */

static enum http_result h_health(struct http_req *req, void *app)
{
	struct site *s = site_of(app);

	reply_json_obj(req, 200, json_pack("{s:s,s:s,s:s}", "status", "ok", "version",
					   proto_self_version(), "site", s->cfg.site_code));
	return HTTP_DONE;
}

static enum http_result h_metrics(struct http_req *req, void *app)
{
	struct buf b;

	buf_init(&b, 4 * 1024 * 1024);
	if (metrics_render(site_of(app), &b) == 0)
		http_reply(req, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
	else
		reply_error(req, 500, "internal", "report this", "metrics output too large");
	buf_free(&b);
	return HTTP_DONE;
}

/* ---- clients as JSON ----------------------------------------------------- */

/* Seconds without contact after which a client is reported inactive
 * (inactive_days; set by site_routes_configure before the server starts). */
static int64_t inactive_after_s = 14 * 86400;

/* Inactive: not seen (or, never seen, not enrolled) within inactive_days.
 * Computed when read, so it needs no sweeper; inactive clients stay listed
 * and queryable. */
static bool client_inactive(const struct store_client *c)
{
	int64_t last = c->last_seen > 0 ? c->last_seen : c->enrolled;

	return time_now_s() - last > inactive_after_s;
}

static json_t *client_json(const struct store_client *c)
{
	json_t *addrs = json_loads(c->addresses, 0, NULL);
	json_t *comps = json_loads(c->components, 0, NULL);
	json_t *o;

	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:o,s:o,s:I}", "id", c->id,
			 "hostname", c->hostname, "site", c->site, "state",
			 store_client_state_name(c->state), "block_reason", c->block_reason,
			 "last_seen", time_json(c->last_seen), "enrolled", time_json(c->enrolled),
			 "agent_version", c->agent_version, "protocol", c->protocol, "os_name",
			 c->os_name, "os_version", c->os_version, "addresses",
			 addrs ? addrs : json_array(), "components", comps ? comps : json_array(),
			 "last_seq", (json_int_t)c->last_seq);
	if (o) {
		json_t *link = site_link_json(c->link);

		json_object_set_new(o, "inactive", json_boolean(client_inactive(c)));
		if (link)
			json_object_set_new(o, "link", link);
	}
	return o;
}

static int collect_client(const struct store_client *c, void *ctx)
{
	json_t *o = client_json(c);

	if (!o)
		return -STEWARD_ENOMEM;
	return json_array_append_new(ctx, o) ? -STEWARD_ENOMEM : 0;
}

/* A client of a site below, as its summary came up the hierarchy. */
static int collect_site_client(const struct store_site_client_row *c, void *ctx)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:b}", "id", c->id, "hostname",
			      c->hostname, "site", c->site, "via", c->via, "state", c->state,
			      "last_seen", time_json(c->last_seen), "enrolled", time_json(c->enrolled),
			      "agent_version", c->agent_version, "protocol", c->protocol, "below",
			      1);

	if (!o)
		return -STEWARD_ENOMEM;
	return json_array_append_new(ctx, o) ? -STEWARD_ENOMEM : 0;
}

/* One page of the clients that match a filter (the console's list), in
 * the order of their hostnames (then ids): one pass over the rows keeps
 * the hostname and id of each match, they are sorted, and only the
 * page's clients are read again and made JSON. 100,000 clients cost a
 * few megabytes for one request and 50 objects, not 37 MB of JSON. */
#define CLIENTS_PAGE_DEFAULT 50
#define CLIENTS_PAGE_MAX 500
#define CLIENTS_Q_MAX 128
#define CLIENTS_NAMES_MAX (256u * 1024 * 1024) /* hostnames of millions of clients */

struct client_key {
	size_t host; /* offset in names while they grow, then ... */
	const char *h; /* ... a pointer once they are all in */
	char id[PROTO_CLIENT_ID_HEX + 1];
};

struct client_page {
	const char *q;          /* lowercase; NULL: any */
	int state;              /* enum store_client_state; -1: any */
	int64_t offset, limit;
	struct buf names;       /* the matches' hostnames, NUL-terminated */
	struct client_key *keys;
	size_t n, cap;
};

/* Case-insensitive substring (q is lowercase already). */
static bool contains_ci(const char *hay, const char *q)
{
	size_t n = strlen(q);

	for (; *hay; hay++) {
		size_t i = 0;

		while (i < n && hay[i] && tolower((unsigned char)hay[i]) == q[i])
			i++;
		if (i == n)
			return true;
	}
	return n == 0;
}

static int page_client(const struct store_client *c, void *ctx)
{
	struct client_page *pg = ctx;
	struct client_key *k;

	if (pg->state >= 0 && (int)c->state != pg->state)
		return 0;
	if (pg->q && !contains_ci(c->id, pg->q) && !contains_ci(c->hostname, pg->q))
		return 0;
	if (pg->n == pg->cap) {
		size_t cap = pg->cap ? pg->cap * 2 : 1024;
		struct client_key *nk = realloc(pg->keys, cap * sizeof(*nk));

		if (!nk)
			return -STEWARD_ENOMEM;
		pg->keys = nk;
		pg->cap = cap;
	}
	k = &pg->keys[pg->n];
	k->host = pg->names.len;
	memcpy(k->id, c->id, sizeof(k->id));
	if (buf_append(&pg->names, c->hostname, strlen(c->hostname) + 1))
		return -STEWARD_ENOMEM;
	pg->n++;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct client_key *x = a, *y = b;
	int c = strcmp(x->h, y->h);

	return c ? c : strcmp(x->id, y->id);
}

/* The page's clients, read again by id; one deleted since the pass is
 * left out. */
static int page_json(struct site *s, struct client_page *pg, json_t *arr)
{
	struct store_client *c = malloc(sizeof(*c));
	int rc = c ? 0 : -STEWARD_ENOMEM;

	for (size_t i = 0; i < pg->n; i++)
		pg->keys[i].h = pg->names.data + pg->keys[i].host;
	if (pg->n)
		qsort(pg->keys, pg->n, sizeof(*pg->keys), key_cmp);
	for (int64_t i = pg->offset; !rc && i < pg->offset + pg->limit && i < (int64_t)pg->n; i++) {
		json_t *o;

		rc = s->store->ops->client_get(s->store, pg->keys[i].id, c);
		if (rc == -STEWARD_ENOTFOUND || (!rc && c->state == CLIENT_DELETED)) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		o = client_json(c);
		rc = o && !json_array_append_new(arr, o) ? 0 : -STEWARD_ENOMEM;
	}
	free(c);
	return rc;
}

/* A query parameter as an integer in [min, max]; dflt when absent. */
static bool query_int(struct http_req *req, const char *name, int64_t min, int64_t max,
		      int64_t dflt, int64_t *out)
{
	*out = dflt;
	if (http_req_query_i64(req, name, min, max, out) == 0)
		return true;
	reply_error(req, 400, "bad_request", "limit is 1 to 500 (50 when absent), offset 0 or more",
		    "%s must be a whole number from %lld to %lld", name, (long long)min,
		    (long long)max);
	return false;
}

static enum http_result clients_page(struct http_req *req, struct site *s)
{
	struct client_page pg = {.state = -1};
	const char *q = http_req_query(req, "q"), *st = http_req_query(req, "state");
	char ql[CLIENTS_Q_MAX + 1];
	enum store_client_state state;
	json_t *arr;
	int rc;

	if (!query_int(req, "limit", 1, CLIENTS_PAGE_MAX, CLIENTS_PAGE_DEFAULT, &pg.limit) ||
	    !query_int(req, "offset", 0, INT64_MAX / 2, 0, &pg.offset))
		return HTTP_DONE;
	if (q && strlen(q) > CLIENTS_Q_MAX) {
		reply_error(req, 400, "bad_request", "search for at most 128 characters",
			    "q is %zu characters long; at most %d", strlen(q), CLIENTS_Q_MAX);
		return HTTP_DONE;
	}
	if (q && *q) {
		size_t i;

		for (i = 0; q[i]; i++)
			ql[i] = (char)tolower((unsigned char)q[i]);
		ql[i] = '\0';
		pg.q = ql;
	}
	if (st) {
		if (store_client_state_parse(st, &state) || state == CLIENT_DELETED) {
			reply_error(req, 400, "bad_state", "state is pending, approved or blocked",
				    "'%.32s' is not a client state", str_printable(st) ? st : "?");
			return HTTP_DONE;
		}
		pg.state = (int)state;
	}
	buf_init(&pg.names, CLIENTS_NAMES_MAX);
	arr = json_array();
	rc = arr ? s->store->ops->client_list(s->store, false, page_client, &pg) : -STEWARD_ENOMEM;
	if (!rc)
		rc = page_json(s, &pg, arr);
	buf_free(&pg.names);
	free(pg.keys);
	if (rc) {
		json_decref(arr);
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200,
		       json_pack("{s:I,s:I,s:I,s:o}", "total", (json_int_t)pg.n, "offset",
				 (json_int_t)pg.offset, "limit", (json_int_t)pg.limit, "clients",
				 arr));
	return HTTP_DONE;
}

static enum http_result h_clients_list(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	json_t *arr;
	const char *all = http_req_query(req, "all_sites");
	int rc;

	/* any of these asks for a page ({"total", "clients": [...]}); without
	 * them the whole list as an array, as stewardctl reads it */
	if (http_req_query(req, "limit") || http_req_query(req, "offset") ||
	    http_req_query(req, "q") || http_req_query(req, "state"))
		return clients_page(req, s);
	arr = json_array();
	rc = s->store->ops->client_list(s->store, false, collect_client, arr);

	/* ?all_sites=1: the clients of every site below too */
	if (!rc && all && strcmp(all, "1") == 0)
		rc = s->store->ops->site_client_list(s->store, collect_site_client, arr);

	if (rc) {
		json_decref(arr);
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200, arr);
	return HTTP_DONE;
}

/* Load the client named in the path; replies 400/404 itself. */
static struct store_client *load_client(struct site *s, struct http_req *req)
{
	const char *id = http_req_param(req, 0);
	struct store_client *c;
	int rc;

	if (!proto_client_id_valid(id)) {
		reply_error(req, 400, "bad_request", "client ids are 32 lowercase hex digits",
			    "'%.40s' is not a client id", id ? id : "");
		return NULL;
	}
	c = malloc(sizeof(*c));
	if (!c) {
		reply_error(req, 500, "internal", "", "out of memory");
		return NULL;
	}
	rc = s->store->ops->client_get(s->store, id, c);
	if (rc == 0 && c->state == CLIENT_DELETED)
		rc = -STEWARD_ENOTFOUND;
	if (rc == -STEWARD_ENOTFOUND)
		reply_error(req, 404, "client_not_found", "list clients with: stewardctl clients list",
			    "no client %s", id);
	else if (rc)
		reply_store_error(req, rc);
	if (rc) {
		free(c);
		return NULL;
	}
	return c;
}

#define CLIENT_MESSAGES_SHOWN 20

static int message_json(const struct store_message *m, void *ctx)
{
	return json_array_append_new(ctx, json_pack("{s:o,s:s,s:s}", "time", time_json(m->time),
						     "type", m->type, "text", m->text))
		   ? -STEWARD_ENOMEM
		   : 0;
}

/* A client of a site below, with the inventory that came up of it. */
static int below_client_json(const struct store_site_inv_row *r, void *ctx)
{
	json_t **out = ctx;
	json_t *hw = r->hardware ? json_loads(r->hardware, 0, NULL) : NULL;
	json_t *os = r->os ? json_loads(r->os, 0, NULL) : NULL;
	json_t *sw = r->software ? json_loads(r->software, 0, NULL) : NULL;
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:b}", "id", r->id,
			      "hostname", r->hostname, "site", r->site, "via", r->via, "state",
			      r->state, "last_seen", time_json(r->last_seen), "enrolled",
			      time_json(r->enrolled), "agent_version", r->agent_version, "protocol",
			      r->protocol, "os_name",
			      json_string_value(json_object_get(os, "name"))
				  ? json_string_value(json_object_get(os, "name"))
				  : "",
			      "os_version",
			      json_string_value(json_object_get(os, "version_id"))
				  ? json_string_value(json_object_get(os, "version_id"))
				  : "",
			      "below", 1);

	/* a full document's hardware: its disks added up, as a summary has them */
	if (json_is_array(json_object_get(hw, "disks")) && !json_object_get(hw, "disk_total_mb")) {
		json_int_t total = 0;
		json_t *d;
		size_t i;

		json_array_foreach(json_object_get(hw, "disks"), i, d)
			total += json_integer_value(json_object_get(d, "size_mb"));
		json_object_set_new(hw, "disk_total_mb", json_integer(total));
	}
	if (o && r->level[0]) {
		json_t *inv = json_pack("{s:s,s:o,s:O,s:O}", "level", r->level, "received",
					time_json(r->received), "hardware",
					hw ? hw : json_null(), "os", os ? os : json_null());

		if (inv && sw)
			json_object_set_new(inv, "packages",
					    json_integer((json_int_t)json_array_size(
						json_object_get(sw, "packages"))));
		json_object_set_new(o, "inventory", inv ? inv : json_null());
	} else if (o) {
		json_object_set_new(o, "inventory", json_null());
	}
	json_decref(hw);
	json_decref(os);
	json_decref(sw);
	if (!o)
		return -STEWARD_ENOMEM;
	*out = o;
	return 1;
}

static enum http_result h_clients_show(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	struct store_client *c;
	json_t *o, *msgs;
	int rc;

	/* a client of a site below: what came up of it */
	{
		const char *id = http_req_param(req, 0);
		struct store_client *here = proto_client_id_valid(id) ? malloc(sizeof(*here)) : NULL;
		json_t *below = NULL;

		if (here && s->store->ops->client_get(s->store, id, here) == -STEWARD_ENOTFOUND &&
		    s->store->ops->site_inventory_list(s->store, id, below_client_json, &below) ==
			1 &&
		    below) {
			free(here);
			reply_json_obj(req, 200, below);
			return HTTP_DONE;
		}
		free(here);
	}
	c = load_client(s, req);
	if (!c)
		return HTTP_DONE;
	o = client_json(c);
	msgs = json_array();
	/* what the agent said lately: upgrades, starts, dropped messages */
	rc = s->store->ops->status_messages(s->store, c->id, CLIENT_MESSAGES_SHOWN, message_json,
					    msgs);
	if (rc) {
		json_decref(o);
		json_decref(msgs);
		reply_store_error(req, rc);
	} else {
		json_object_set_new(o, "messages", msgs);
		reply_json_obj(req, 200, o);
	}
	free(c);
	return HTTP_DONE;
}

static enum http_result set_state(struct http_req *req, struct site *s,
				  enum store_client_state st, const char *reason)
{
	struct store_client *c = load_client(s, req);
	struct reg_client *rc_;
	uint64_t min_epoch;
	struct principal *p = principal(req);
	int rc;

	if (!c)
		return HTTP_DONE;
	/* Blocking or deleting ends every session issued so far. */
	min_epoch = st == CLIENT_APPROVED ? 0 : (uint64_t)time_now_s() + 1;
	rc = s->store->ops->client_set_state(s->store, c->id, st, reason, min_epoch);
	if (rc) {
		reply_store_error(req, rc);
		free(c);
		return HTTP_DONE;
	}
	rc_ = registry_get(s->reg, c->id);
	if (rc_)
		registry_set_state(s->reg, rc_, st, reason, min_epoch);
	site_facts_client_changed(s, c->id, CORE_QUERY_DEP_CLIENT); /* collections */
	log_info("site", "client_state", "client=%s state=%s by=%s", c->id,
		 store_client_state_name(st), p ? p->name : "?");
	if (st == CLIENT_DELETED) {
		reply_json_obj(req, 200, json_pack("{s:s}", "deleted", c->id));
	} else {
		c->state = st;
		snprintf(c->block_reason, sizeof(c->block_reason), "%s", reason ? reason : "");
		reply_json_obj(req, 200, client_json(c));
	}
	free(c);
	return HTTP_DONE;
}

static enum http_result h_clients_approve(struct http_req *req, void *app)
{
	return set_state(req, site_of(app), CLIENT_APPROVED, "");
}

static enum http_result h_clients_block(struct http_req *req, void *app)
{
	json_t *body = admin_body(req), *r;
	const char *reason = "blocked by an administrator";
	enum http_result res;

	if (!body)
		return HTTP_DONE;
	r = json_object_get(body, "reason");
	if (r && !json_is_string(r)) {
		reply_error(req, 400, "bad_request", REMEDY_BODY, "field 'reason' must be a string");
		json_decref(body);
		return HTTP_DONE;
	}
	if (r) {
		reason = json_string_value(r);
		if (strlen(reason) > PROTO_REASON_MAX || !str_printable(reason)) {
			reply_error(req, 400, "bad_request", "give a printable reason of at most 256 characters",
				    "field 'reason' is too long or has control characters");
			json_decref(body);
			return HTTP_DONE;
		}
	}
	res = set_state(req, site_of(app), CLIENT_BLOCKED, reason);
	json_decref(body);
	return res;
}

static enum http_result h_clients_delete(struct http_req *req, void *app)
{
	return set_state(req, site_of(app), CLIENT_DELETED, "");
}

/* ---- site ------------------------------------------------------------------ */

static enum http_result h_site_show(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	int64_t counts[4];
	char range[24], roles[128];
	struct proto_range self = proto_self_range();
	json_t *b = json_array(), *o;

	registry_counts(s->reg, counts);
	proto_range_format(&self, range);
	for (int i = 0; i < s->cfg.boundary.n; i++)
		json_array_append_new(b, json_string(s->cfg.boundary.items[i]));
	o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:o,s:I,s:{s:I,s:I,s:I},s:I,s:I,s:b,s:o}",
				 "code", s->cfg.site_code, "name", s->cfg.site_name, "version",
				 proto_self_version(), "protocol", range, "api", STEWARD_API_MAJOR,
				 "roles", roles_text(s->cfg.role_mask, roles, sizeof(roles)),
				 "started", time_json(s->started), "uptime",
				 (json_int_t)(time_now_s() - s->started), "clients", "pending",
				 (json_int_t)counts[CLIENT_PENDING], "approved",
				 (json_int_t)counts[CLIENT_APPROVED], "blocked",
				 (json_int_t)counts[CLIENT_BLOCKED], "checkin_interval",
				 (json_int_t)s->cfg.checkin_interval, "checkin_jitter",
				 (json_int_t)s->cfg.checkin_jitter, "enroll_auto_approve",
				 s->cfg.enroll_auto_approve, "boundaries", b);
	if (o) {
		/* HTTPS: the pin clients keep, or "off" (plain HTTP, by setting) */
		json_object_set_new(o, "tls", json_string(s->tls_pin[0] ? s->tls_pin : "off"));
		if (s->tls_pin[0])
			json_object_set_new(o, "tls_expires", time_json(s->tls_not_after));
		if (atomic_load(&s->tls_next_on))
			json_object_set_new(o, "tls_next", json_string(s->tls_next));
		site_swdist_show(s, o);
		site_bootstrap_show(s, o);
		site_upgrade_show(s, o);
		site_consoles_show(s, o);
	}
	reply_json_obj(req, 200, o);
	return HTTP_DONE;
}

/* ---- enrollment tokens ------------------------------------------------------- */

static enum http_result h_tokens_create(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	struct principal *p = principal(req);
	json_t *body = admin_body(req), *uses, *ttl, *site, *jh;
	struct store_token t;
	uint8_t secret[20], idb[8];
	char token[2 * sizeof(secret) + 1], exp[32], whole[PROTO_TOKEN_MAX + 1];
	char fp[PROTO_FP_HEX + 1], pin[PROTO_PIN_HEX + 1] = "";
	int rc;

	if (!body)
		return HTTP_DONE;
	memset(&t, 0, sizeof(t));
	uses = json_object_get(body, "uses");
	ttl = json_object_get(body, "ttl");
	site = json_object_get(body, "site");
	if (!json_is_integer(uses) || json_integer_value(uses) < 1 ||
	    json_integer_value(uses) > 1000000) {
		reply_error(req, 400, "bad_request", "give uses between 1 and 1000000",
			    "field 'uses' must be an integer from 1 to 1000000");
		goto out;
	}
	if (!json_is_integer(ttl) || json_integer_value(ttl) < 60 ||
	    json_integer_value(ttl) > 365 * 86400) {
		reply_error(req, 400, "bad_request", "give ttl in seconds, from 60 to 31536000 (365 days)",
			    "field 'ttl' must be an integer number of seconds from 60 to 31536000");
		goto out;
	}
	if (site && !json_is_null(site) &&
	    (!json_is_string(site) || !proto_site_code_valid(json_string_value(site)))) {
		reply_error(req, 400, "bad_request", "site codes are 3 characters A-Z/0-9",
			    "field 'site' must be a site code");
		goto out;
	}
	jh = json_object_get(body, "hierarchy");
	if (jh && !json_is_boolean(jh)) {
		reply_error(req, 400, "bad_request", "send \"hierarchy\": true or false",
			    "field 'hierarchy' must be a boolean");
		goto out;
	}
	rand_bytes(secret, sizeof(secret));
	rand_bytes(idb, sizeof(idb));
	hex_encode(secret, sizeof(secret), token);
	hex_encode(idb, sizeof(idb), t.id);
	proto_hash(token, strlen(token), t.hash);
	t.uses = json_integer_value(uses);
	t.created = time_now_s();
	t.expires = t.created + json_integer_value(ttl);
	if (json_is_string(site))
		snprintf(t.site, sizeof(t.site), "%s", json_string_value(site));
	snprintf(t.created_by, sizeof(t.created_by), "%s", p ? p->name : "");
	rc = s->store->ops->token_insert(s->store, &t);
	/* one token for the machines of every site below too (a logon
	 * script shared by several sites' networks) */
	if (!rc && json_is_true(jh))
		rc = site_hierarchy_token(s, &t);
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	time_rfc3339(t.expires, exp);
	log_info("site", "enroll_token_created", "id=%s uses=%lld expires=%s by=%s", t.id,
		 (long long)t.uses, exp, t.created_by);
	/* what the agent needs to know it speaks to this site: the site key's
	 * fingerprint and, over HTTPS, the certificate's pin */
	proto_site_fingerprint(s->site_kp.pk, fp);
	if (s->tls_pin[0])
		hex_encode(s->tls_pin_raw, TLS_PIN_BYTES, pin);
	proto_enroll_token_format(token, fp, pin, whole, sizeof(whole));
	reply_json_obj(req, 201, json_pack("{s:s,s:s,s:I,s:s,s:s,s:b}", "id", t.id, "token", whole,
					   "uses", (json_int_t)t.uses, "expires", exp, "site", t.site,
					   "hierarchy", json_is_true(jh)));
out:
	sodium_memzero(token, sizeof(token));
	sodium_memzero(whole, sizeof(whole));
	json_decref(body);
	return HTTP_DONE;
}

static int collect_token(const struct store_token *t, void *ctx)
{
	return json_array_append_new(
		   ctx, json_pack("{s:s,s:I,s:I,s:o,s:s,s:b,s:o,s:s}", "id", t->id, "uses",
				  (json_int_t)t->uses, "used", (json_int_t)t->used, "expires",
				  time_json(t->expires), "site", t->site, "revoked", t->revoked,
				  "created", time_json(t->created), "created_by", t->created_by))
	    ? -STEWARD_ENOMEM
	    : 0;
}

static enum http_result h_tokens_list(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	json_t *arr = json_array();
	int rc = s->store->ops->token_list(s->store, collect_token, arr);

	if (rc) {
		json_decref(arr);
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200, arr);
	return HTTP_DONE;
}

static enum http_result h_tokens_revoke(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	const char *id = http_req_param(req, 0);
	uint8_t tmp[8];
	int rc;

	if (!id || hex_decode(id, tmp, sizeof(tmp))) {
		reply_error(req, 400, "bad_request", "token ids are 16 hex digits (stewardctl enroll-tokens list)",
			    "'%.40s' is not a token id", id ? id : "");
		return HTTP_DONE;
	}
	rc = s->store->ops->token_revoke(s->store, id);
	/* a token may have gone down the hierarchy: it ends there too (a
	 * site below that never had it ignores this) */
	if (!rc)
		site_hierarchy_token_revoke(s, id);
	if (rc == -STEWARD_ENOTFOUND)
		reply_error(req, 404, "token_not_found", "list tokens with: stewardctl enroll-tokens list",
			    "no enrollment token %s", id);
	else if (rc)
		reply_store_error(req, rc);
	else
		reply_json_obj(req, 200, json_pack("{s:s}", "revoked", id));
	return HTTP_DONE;
}

/* ---- admin tokens ------------------------------------------------------------- */

static bool admin_name_valid(const char *n)
{
	size_t len = strlen(n);

	if (len < 1 || len > 64)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.'))
			return false;
	return true;
}

/* Make a new admin token "stw_" + 64 hex with role (a name
 * token_role_name gives); out holds 69 bytes. by: who made it ("" for the
 * first token, which the site writes itself). */
int site_admin_token_new(struct site *s, const char *name, const char *role, const char *by,
			 char out[69])
{
	uint8_t raw[32], hash[PROTO_HASH_BYTES];
	struct store_admin a;
	int rc;

	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", name);
	snprintf(a.role, sizeof(a.role), "%s", role);
	snprintf(a.created_by, sizeof(a.created_by), "%s", by);
	a.created = time_now_s();
	rand_bytes(raw, sizeof(raw));
	memcpy(out, "stw_", 4);
	hex_encode(raw, sizeof(raw), out + 4);
	proto_hash(out, strlen(out), hash);
	rc = s->store->ops->admin_insert(s->store, &a, hash);
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

#define REMEDY_ROLES "give role as one of read, operator, admin, distribution_point"

static enum http_result h_admins_create(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	struct principal *p = principal(req);
	json_t *body = admin_body(req), *name, *role;
	unsigned bit;
	char token[69];
	int rc;

	if (!body)
		return HTTP_DONE;
	name = json_object_get(body, "name");
	role = json_object_get(body, "role");
	if (!json_is_string(name) || !admin_name_valid(json_string_value(name))) {
		reply_error(req, 400, "bad_request", "names are 1-64 characters of A-Z a-z 0-9 . _ -",
			    "field 'name' must be a valid admin name");
		goto out;
	}
	snprintf(p->object, sizeof(p->object), "%s", json_string_value(name));
	if (!json_is_string(role) || token_role_parse(json_string_value(role), &bit)) {
		reply_error(req, 400, "role_invalid", REMEDY_ROLES,
			    "field 'role' must be read, operator, admin or distribution_point");
		goto out;
	}
	rc = site_admin_token_new(s, json_string_value(name), json_string_value(role), p->name,
				  token);
	if (rc == -STEWARD_EEXIST)
		reply_error(req, 409, "name_exists",
			    "choose another name (revoked names stay taken: stewardctl admins list)",
			    "an admin token named '%s' already exists", json_string_value(name));
	else if (rc)
		reply_store_error(req, rc);
	else {
		log_info("site", "admin_token_created", "name=%s role=%s by=%s",
			 json_string_value(name), json_string_value(role), p->name);
		reply_json_obj(req, 201,
			       json_pack("{s:s,s:s,s:s}", "name", json_string_value(name), "role",
					 json_string_value(role), "token", token));
	}
	sodium_memzero(token, sizeof(token));
out:
	json_decref(body);
	return HTTP_DONE;
}

static int admin_json(const struct store_admin *a, void *ctx)
{
	json_t *o = json_pack("{s:s,s:s,s:o,s:s,s:o}", "name", a->name, "role", a->role, "created",
			      time_json(a->created), "created_by", a->created_by, "revoked",
			      time_json(a->revoked));

	return o && json_array_append_new(ctx, o) == 0 ? 0 : -STEWARD_ENOMEM;
}

static enum http_result h_admins_list(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	json_t *arr = json_array();
	int rc = arr ? s->store->ops->admin_list(s->store, admin_json, arr) : -STEWARD_ENOMEM;

	if (rc) {
		json_decref(arr);
		reply_store_error(req, rc);
	} else {
		reply_json_obj(req, 200, arr);
	}
	return HTTP_DONE;
}

/* Valid tokens of role admin other than name's. */
struct other_admins {
	const char *name;
	int n;
};

static int count_other_admins(const struct store_admin *a, void *ctx)
{
	struct other_admins *o = ctx;

	if (!a->revoked && strcmp(a->role, "admin") == 0 && strcmp(a->name, o->name) != 0)
		o->n++;
	return 0;
}

static enum http_result h_admins_revoke(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	const char *name = http_req_param(req, 0);
	struct other_admins others = {.name = name};
	int rc;

	if (!admin_name_valid(name)) {
		reply_error(req, 400, "bad_request", "names are 1-64 characters of A-Z a-z 0-9 . _ -",
			    "'%.64s' is not a valid admin name", name);
		return HTTP_DONE;
	}
	/* a site nobody can administer any more is only mended by hand in
	 * its database: keep one token of role admin */
	rc = s->store->ops->admin_list(s->store, count_other_admins, &others);
	if (rc) {
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	if (others.n == 0) {
		reply_error(req, 409, "last_admin",
			    "create another token of role admin first: stewardctl admins create NAME "
			    "--role admin",
			    "'%s' holds the site's last valid token of role admin (or none): it "
			    "stays",
			    name);
		return HTTP_DONE;
	}
	rc = s->store->ops->admin_revoke(s->store, name, time_now_s());
	if (rc == -STEWARD_ENOTFOUND)
		reply_error(req, 404, "admin_not_found", "list them with: stewardctl admins list",
			    "no admin named '%s'", name);
	else if (rc)
		reply_store_error(req, rc);
	else {
		log_info("site", "admin_token_revoked", "name=%s by=%s", name,
			 principal(req)->name);
		reply_json_obj(req, 200, json_pack("{s:s}", "revoked", name));
	}
	return HTTP_DONE;
}

/* ---- enrollment ------------------------------------------------------------------ */

static const char *token_refusal_code(enum store_token_refusal r, const char **msg)
{
	switch (r) {
	case TOKEN_EXPIRED: *msg = "the enrollment token has expired"; return "token_expired";
	case TOKEN_USED_UP: *msg = "the enrollment token has no uses left"; return "token_used_up";
	case TOKEN_REVOKED: *msg = "the enrollment token was revoked"; return "token_revoked";
	default: *msg = "the enrollment token is not known to this site"; return "token_invalid";
	}
}

static void enroll_reply(struct http_req *req, struct site *s, const struct store_client *c,
			 int status, const uint8_t token_hash[PROTO_HASH_BYTES], uint64_t seq)
{
	char pk[PROTO_PK_BYTES * 2 + 1], mac[PROTO_ENROLL_MAC_B64 + 1];
	json_t *o;
	char *text;

	/* the site key, given when the token admits the client: it checks
	 * what the site signs later (package manifests, upgrade offers). The
	 * reply is MACed with the token's hash, so that the agent takes the
	 * key only from the site its token names (proto/enroll.c). The
	 * release keys: what the agent checks releases against. */
	hex_encode(s->site_kp.pk, PROTO_PK_BYTES, pk);
	o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:o*}", "client_id", c->id, "site", c->site,
		      "state", store_client_state_name(c->state), "checkin_interval",
		      (json_int_t)s->cfg.checkin_interval, "checkin_jitter",
		      (json_int_t)s->cfg.checkin_jitter, "site_key", pk, "release_keys",
		      site_release_keys_json(s));
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text) {
		reply_error(req, 500, "internal", "", "out of memory");
		return;
	}
	proto_enroll_mac(token_hash, c->public_key, seq, text, strlen(text), mac);
	http_reply_header(req, PROTO_ENROLL_MAC_HEADER, mac);
	http_reply_json(req, status, text);
	free(text);
}

static enum http_result h_enroll(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	struct principal *p = principal(req);
	struct proto_enroll_req *er = malloc(sizeof(*er));
	struct store_client *c = calloc(1, sizeof(*c));
	struct steward_err err = {.code = ""};
	char canon[PROTO_CANON_MAX], range[24], token_site[PROTO_SITE_CODE_LEN + 1];
	const char *addrs[PROTO_ADDRS_MAX + 1], *assigned, *why;
	uint8_t id[PROTO_CLIENT_ID_BYTES], token_hash[PROTO_HASH_BYTES];
	enum store_token_refusal refusal;
	json_t *aj;
	size_t len, na = 0;
	const char *body = http_req_body(req, &len);
	char secret[PROTO_TOKEN_MAX + 1];
	int rc;

	if (!er || !c) {
		reply_error(req, 500, "internal", "", "out of memory");
		goto out;
	}
	if (proto_enroll_req_parse(body, len, er, &err)) {
		http_reply_error(req, 400, &err);
		goto out;
	}
	/* the site stores the hash of a token's secret; a whole token
	 * (stwenr1.SECRET.FP.PIN) counts by its secret */
	proto_enroll_token_secret(er->token, secret, sizeof(secret));
	proto_hash(secret, strlen(secret), token_hash);
	sodium_memzero(secret, sizeof(secret));
	/* proof of possession: the request is signed with the key it enrolls */
	proto_canonical(http_req_method(req), http_req_path(req), "-", p->ts, p->seq, body, len,
			canon, sizeof(canon));
	if (proto_verify(er->public_key, canon, http_req_header(req, PROTO_H_SIGNATURE))) {
		reply_error(req, 401, "signature_invalid",
			    "sign the enrollment request with the key named in public_key",
			    "the enrollment request is not signed by the key it enrolls");
		goto out;
	}
	{
		struct proto_range ours = proto_self_range();
		if (proto_negotiate(&er->protocol, &ours) < 0) {
			reply_error(req, 409, "version_incompatible",
				    "install an agent release whose protocol range overlaps the site's",
				    "agent %s speaks protocol %d-%d; this site (%s) speaks %d-%d",
				    er->agent_version, er->protocol.min, er->protocol.max,
				    proto_self_version(), ours.min, ours.max);
			goto out;
		}
	}
	/* The same key again: the agent lost our reply. Give it its id back;
	 * a new key never takes over an existing id. */
	rc = s->store->ops->client_get_by_key(s->store, er->public_key, c);
	if (rc == 0) {
		if (c->state == CLIENT_DELETED)
			reply_error(req, 403, "client_deleted",
				    "this key belonged to a deleted client; remove the agent's state dir and enroll again",
				    "client %s was deleted by an administrator", c->id);
		else
			enroll_reply(req, s, c, 200, token_hash, p->seq);
		goto out;
	}
	if (rc != -STEWARD_ENOTFOUND) {
		reply_store_error(req, rc);
		goto out;
	}

	rand_bytes(id, sizeof(id));
	hex_encode(id, sizeof(id), c->id);
	memcpy(c->public_key, er->public_key, PROTO_PK_BYTES);
	snprintf(c->hostname, sizeof(c->hostname), "%s", er->hostname);
	for (int i = 0; i < er->n_addrs; i++)
		addrs[na++] = er->addrs[i];
	addrs[na++] = http_req_peer(req);
	assigned = core_boundary_assign(s->cfg.boundaries, s->cfg.n_boundaries, addrs, na);
	snprintf(c->site, sizeof(c->site), "%s", assigned ? assigned : s->cfg.site_code);
	c->state = s->cfg.enroll_auto_approve ? CLIENT_APPROVED : CLIENT_PENDING;
	c->enrolled = time_now_s();
	snprintf(c->agent_version, sizeof(c->agent_version), "%s", er->agent_version);
	proto_range_format(&er->protocol, range);
	snprintf(c->protocol, sizeof(c->protocol), "%s", range);
	snprintf(c->os_name, sizeof(c->os_name), "%s", er->os_name);
	snprintf(c->os_version, sizeof(c->os_version), "%s", er->os_version);
	aj = json_array();
	for (int i = 0; i < er->n_addrs; i++)
		json_array_append_new(aj, json_string(er->addrs[i]));
	{
		char *t = json_dumps(aj, JSON_COMPACT);
		snprintf(c->addresses, sizeof(c->addresses), "%s", t ? t : "[]");
		free(t);
	}
	json_decref(aj);
	snprintf(c->components, sizeof(c->components), "[]");

	rc = s->store->ops->enroll(s->store, token_hash, c->enrolled, c, &refusal, token_site);
	if (rc == 0 && refusal != TOKEN_OK)
		rc = -STEWARD_EPERM;
	if (rc == -STEWARD_EPERM) {
		const char *code = token_refusal_code(refusal, &why);
		reply_error(req, 403, code, "ask an administrator for a new token (stewardctl enroll-tokens create)",
			    "%s", why);
		goto out;
	}
	if (rc == -STEWARD_EEXIST) {
		reply_error(req, 409, "already_enrolled", "retry: the same key enrolled concurrently",
			    "this key is being enrolled by another request");
		goto out;
	}
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	registry_put(s->reg, c);
	site_facts_client_changed(s, c->id, 0); /* collections: a new client, every class */
	log_info("enroll", "client_enrolled", "client=%s hostname=%s site=%s state=%s peer=%s",
		 c->id, c->hostname, c->site, store_client_state_name(c->state), http_req_peer(req));
	enroll_reply(req, s, c, 200, token_hash, p->seq);
out:
	free(er);
	free(c);
	return HTTP_DONE;
}

/* ---- sessions ------------------------------------------------------------------- */

static enum http_result h_session(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	struct reg_client *c = principal(req)->client;
	uint8_t key[PROTO_SESSION_KEY_BYTES];
	uint64_t epoch = (uint64_t)time_now_s(), min_epoch;
	char *sealed = NULL;

	/* a session open writes nothing else: its sequence number goes to
	 * the database on its own, or a copy would open a session again
	 * after a restart */
	if (!site_seq_claim(s, req))
		return HTTP_DONE;
	pthread_mutex_lock(&c->mu);
	min_epoch = c->min_epoch;
	pthread_mutex_unlock(&c->mu);
	if (epoch < min_epoch)
		epoch = min_epoch;
	proto_session_key(s->secret, c->id, epoch, key);
	if (proto_seal_session_key(c->pk, key, &sealed)) {
		sodium_memzero(key, sizeof(key));
		reply_error(req, 500, "internal", "report this with the site's log", "cannot seal the session key");
		return HTTP_DONE;
	}
	sodium_memzero(key, sizeof(key));
	reply_json_obj(req, 200, json_pack("{s:I,s:I,s:s}", "epoch", (json_int_t)epoch, "expires",
					   (json_int_t)(epoch + (uint64_t)s->cfg.session_ttl),
					   "sealed_key", sealed));
	free(sealed);
	return HTTP_DONE;
}

/* ---- check-in ------------------------------------------------------------------ */

struct checkin_ctx {
	struct http_req *req;
	struct site *s;
	struct reg_client *c;
	size_t reply_len;
	bool details; /* agent version/components changed: refresh query facts */
	char *reply;  /* built before queueing: it does not depend on the commit */
};

static void checkin_ctx_free(struct checkin_ctx *cx)
{
	if (cx)
		free(cx->reply);
	free(cx);
}

/* The parsed check-in is large (64 status messages of up to 1 KiB), so
 * each HTTP thread keeps one instead of allocating it per request. */
static pthread_key_t checkin_key;
static pthread_once_t checkin_once = PTHREAD_ONCE_INIT;

static void checkin_key_init(void)
{
	pthread_key_create(&checkin_key, free);
}

static struct proto_checkin_req *checkin_buffer(void)
{
	struct proto_checkin_req *ci;

	pthread_once(&checkin_once, checkin_key_init);
	ci = pthread_getspecific(checkin_key);
	if (!ci) {
		ci = malloc(sizeof(*ci));
		if (ci && pthread_setspecific(checkin_key, ci) != 0) {
			free(ci);
			ci = NULL;
		}
	}
	return ci;
}

/* The jitter of the next check-in needs no secret: libsodium's generator
 * makes a getrandom system call for every number, so each HTTP thread
 * keeps a generator of its own (xorshift64*), seeded from it once. */
static uint32_t site_rand(void *ctx, uint32_t upper)
{
	static _Thread_local uint64_t x;
	uint32_t v, floor;

	(void)ctx;
	if (upper < 2)
		return 0;
	while (!x)
		randombytes_buf(&x, sizeof(x));
	floor = -upper % upper; /* 2^32 mod upper: below it, v % upper is uneven */
	do {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		v = (uint32_t)((x * UINT64_C(2685821657736338717)) >> 32);
	} while (v < floor);
	return v % upper;
}

/* Runs on the writer thread after COMMIT (or after the batch failed):
 * only copies the prepared reply and wakes the request. */
static void checkin_done(void *arg, int rc)
{
	struct checkin_ctx *cx = arg;

	if (rc) {
		/* not written: make the next check-in write its details again */
		pthread_mutex_lock(&cx->c->mu);
		cx->c->details_hash = 0;
		pthread_mutex_unlock(&cx->c->mu);
		if (rc == -STEWARD_EAUTH)
			site_reply_stale_seq(cx->req, cx->c);
		else
			reply_store_error(cx->req, rc);
	} else {
		http_reply_take(cx->req, 200, "application/json", cx->reply, cx->reply_len);
		cx->reply = NULL;
		if (cx->details)
			site_facts_refresh_later(cx->s, cx->c->idhex);
		metrics_checkin_latency(cx->s->metrics,
					time_mono_us() - http_req_started_us(cx->req));
	}
	http_req_resume(cx->req);
	checkin_ctx_free(cx);
}

/* Component names and versions are validated printable ASCII, so JSON
 * needs only '"' and '\' escaped. */
static char *json_str(char *o, const char *v)
{
	*o++ = '"';
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			*o++ = '\\';
		*o++ = *v;
	}
	*o++ = '"';
	return o;
}

/* This runs on every check-in: one allocation of the most the text can
 * take (32 entries of at most 153 bytes, far below STORE_JSON_MAX). */
static char *components_text(const struct proto_checkin_req *ci)
{
	static const char name[] = "{\"name\":", version[] = ",\"version\":";
	size_t each = 1 + (sizeof(name) - 1) + 2 + 2 * PROTO_COMPONENT_NAME_MAX +
		      (sizeof(version) - 1) + 2 + 2 * PROTO_VERSION_MAX + 1;
	char *t = malloc(3 + (size_t)ci->n_components * each), *o = t;

	if (!t)
		return NULL;
	*o++ = '[';
	for (int i = 0; i < ci->n_components; i++) {
		if (i)
			*o++ = ',';
		memcpy(o, name, sizeof(name) - 1);
		o = json_str(o + sizeof(name) - 1, ci->components[i].name);
		memcpy(o, version, sizeof(version) - 1);
		o = json_str(o + sizeof(version) - 1, ci->components[i].version);
		*o++ = '}';
	}
	*o++ = ']';
	*o = '\0';
	return t;
}

/* bytes a string takes in JSON, quotes included, escaped as jansson's
 * json_dumps escapes it (the short escapes, \u00XX for the other control
 * characters, everything else as it is: the text is valid UTF-8) */
static size_t json_text_len(const char *v)
{
	size_t n = 2;

	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\' || *p == '\b' || *p == '\f' || *p == '\n' || *p == '\r' ||
		    *p == '\t')
			n += 2;
		else
			n += *p < 0x20 ? 6 : 1;
	}
	return n;
}

static char *json_text(char *o, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		char e = 0;

		switch (*p) {
		case '"':
		case '\\':
			e = (char)*p;
			break;
		case '\b':
			e = 'b';
			break;
		case '\f':
			e = 'f';
			break;
		case '\n':
			e = 'n';
			break;
		case '\r':
			e = 'r';
			break;
		case '\t':
			e = 't';
			break;
		}
		if (e) {
			*o++ = '\\';
			*o++ = e;
		} else if (*p < 0x20) {
			memcpy(o, "\\u00", 4);
			o[4] = hex[*p >> 4];
			o[5] = hex[*p & 15];
			o += 6;
		} else {
			*o++ = (char)*p;
		}
	}
	*o++ = '"';
	return o;
}

/* The status messages as the JSON array the writer takes apart with
 * json_each: the bytes json_dumps wrote from a jansson tree, written
 * straight (the tree cost a sixth of stewardd's CPU with 64 messages). */
static char *status_text(const struct proto_checkin_req *ci)
{
	static const char k_type[] = "{\"type\":", k_text[] = ",\"text\":", k_time[] = ",\"time\":";
	size_t len = 3;
	char *t, *o;

	if (ci->n_status == 0)
		return NULL;
	for (int i = 0; i < ci->n_status; i++)
		len += 1 + (sizeof(k_type) - 1) + json_text_len(ci->status[i].type) + (sizeof(k_text) - 1) +
		       json_text_len(ci->status[i].text) + (sizeof(k_time) - 1) + 20 + 1;
	t = malloc(len);
	if (!t)
		return NULL;
	o = t;
	*o++ = '[';
	for (int i = 0; i < ci->n_status; i++) {
		if (i)
			*o++ = ',';
		memcpy(o, k_type, sizeof(k_type) - 1);
		o = json_text(o + sizeof(k_type) - 1, ci->status[i].type);
		memcpy(o, k_text, sizeof(k_text) - 1);
		o = json_text(o + sizeof(k_text) - 1, ci->status[i].text);
		memcpy(o, k_time, sizeof(k_time) - 1);
		o += sizeof(k_time) - 1;
		o += sprintf(o, "%lld", (long long)ci->status[i].time);
		*o++ = '}';
	}
	*o++ = ']';
	*o = '\0';
	return t;
}

static enum http_result h_checkin(struct http_req *req, void *app)
{
	struct site *s = site_of(app);
	struct principal *p = principal(req);
	struct proto_checkin_req *ci = checkin_buffer();
	struct steward_err err = {.code = ""};
	struct store_checkin rec;
	struct checkin_ctx *cx = NULL;
	struct proto_range ours = proto_self_range();
	struct core_rand r = {site_rand, NULL};
	enum store_client_state st;
	uint64_t details;
	size_t len;
	const char *body = http_req_body(req, &len);
	struct buf rb, ub;
	int64_t next, next_in = 0;
	bool link_deferred = false;
	int rc;

	memset(&rec, 0, sizeof(rec));
	if (!ci) {
		reply_error(req, 500, "internal", "", "out of memory");
		return HTTP_DONE;
	}
	/* Refused here, a check-in writes nothing, so its sequence number
	 * is claimed on its own before the refusal (rare: the accepted
	 * ones carry it in their own record below). */
	if (proto_checkin_req_parse(body, len, ci, &err)) {
		if (site_seq_claim(s, req))
			http_reply_error(req, 400, &err);
		return HTTP_DONE;
	}
	if (proto_negotiate(&ci->protocol, &ours) < 0) {
		if (!site_seq_claim(s, req))
			return HTTP_DONE;
		reply_error(req, 409, "version_incompatible",
			    "the agent keeps its working version; install a compatible release",
			    "agent %s speaks protocol %d-%d; this site (%s) speaks %d-%d",
			    ci->agent_version, ci->protocol.min, ci->protocol.max, proto_self_version(),
			    ours.min, ours.max);
		return HTTP_DONE;
	}
	/* how an upgrade went counts for the release (rare: only when an
	 * agent reports the end of a switch) */
	if (ci->n_status)
		site_releases_checkin_status(s, p->client->idhex, ci);
	memcpy(rec.id, p->client->idhex, sizeof(rec.id));
	rec.rid = p->client->rid;
	rec.time = time_now_s();
	rec.seq = p->seq;
	snprintf(rec.agent_version, sizeof(rec.agent_version), "%s", ci->agent_version);
	proto_range_format(&ci->protocol, rec.protocol);
	rec.components = components_text(ci);
	rec.status = status_text(ci);
	cx = malloc(sizeof(*cx));
	if (!cx || !rec.components || (ci->n_status && !rec.status)) {
		reply_error(req, 500, "internal", "", "out of memory");
		free(cx);
		free(rec.components);
		free(rec.status);
		free(rec.link);
		return HTTP_DONE;
	}
	cx->req = req;
	cx->s = s;
	cx->c = p->client;
	cx->details = false;
	cx->reply = NULL;
	/* Most check-ins report what the site already has: write only changes. */
	details = registry_details_hash(rec.agent_version, rec.protocol, rec.components);
	pthread_mutex_lock(&p->client->mu);
	st = p->client->state;
	rec.details = details != p->client->details_hash;
	cx->details = rec.details;
	p->client->details_hash = details;
	pthread_mutex_unlock(&p->client->mu);
	/* the link: classified on every check-in, stored only on a change */
	site_link_checkin(s, p->client, http_req_peer(req), http_req_peer_loopback(req), ci,
			  rec.time, &rec.link);
	/* the policy of a targeted client makes the reply grow past a few
	 * hundred bytes; most replies stay small */
	buf_init(&rb, 1024 * 1024);
	buf_init(&ub, 1024 * 1024);
	/* the upgrade part first: a rollout may ask for an earlier check-in
	 * (the next maintenance window, an offer over its cap) */
	next = core_next_checkin(s->cfg.checkin_interval, s->cfg.checkin_jitter, &r);
	rc = st == CLIENT_APPROVED
		 ? site_client_upgrade_policy(s, p->client, http_req_peer(req), ci, &ub, &next_in,
					      &link_deferred)
		 : 0;
	if (next_in > 0 && next_in < next)
		next = next_in;
	if (!rc)
		rc = buf_printf(&rb,
				"{\"state\":\"%s\",\"next_checkin\":%lld,\"checkin_interval\":%lld,"
				"\"checkin_jitter\":%lld,\"server_time\":%lld,\"inventory_interval\":%lld",
				store_client_state_name(st), (long long)next,
				(long long)s->cfg.checkin_interval, (long long)s->cfg.checkin_jitter,
				(long long)rec.time, (long long)s->cfg.inventory_interval);
	/* where the agent goes when this management point does not answer
	 * (URLs checked by the configuration: no '"' or '\\') */
	for (int i = 0; !rc && i < s->cfg.management_points.n; i++)
		rc = buf_printf(&rb, "%s\"%s\"%s", i ? "," : ",\"management_points\":[",
				s->cfg.management_points.items[i],
				i + 1 == s->cfg.management_points.n ? "]" : "");
	if (!rc && st == CLIENT_APPROVED)
		rc = site_swdist_policy(s, p->client, http_req_peer(req), &rb);
	if (!rc && ub.len)
		rc = buf_append(&rb, ub.data, ub.len);
	buf_free(&ub);
	if (!rc && st == CLIENT_APPROVED)
		rc = site_swdist_dp_pins(s, &rb);
	if (!rc && st == CLIENT_APPROVED)
		rc = site_link_reply(s, p->client, link_deferred, &rb);
	if (!rc)
		rc = buf_puts(&rb, "}");
	if (rc) {
		buf_free(&rb);
		reply_error(req, 500, "internal", "", "cannot build the check-in reply");
		free(cx);
		free(rec.components);
		free(rec.status);
		free(rec.link);
		return HTTP_DONE;
	}
	cx->reply_len = rb.len;
	cx->reply = buf_steal(&rb);
	/* Suspend before queueing: the writer may finish before we return. */
	http_req_suspend(req);
	rc = store_writer_submit(s->writer, &rec, checkin_done, cx);
	if (!rc)
		site_checkin_counted(s, rec.time); /* the quiet hours (readiness.c) */
	if (rc) {
		http_reply_header(req, "Retry-After", "10");
		reply_error(req, 503, rc == -STEWARD_EBUSY ? "overloaded" : "shutting_down",
			    "retry after the time in Retry-After",
			    rc == -STEWARD_EBUSY ? "too many check-ins are waiting for the database"
						 : "the site is shutting down");
		http_req_resume(req);
		checkin_ctx_free(cx);
		free(rec.components);
		free(rec.status);
		free(rec.link);
	}
	return HTTP_PENDING;
}

/* ---- the table ---------------------------------------------------------------- */

#define R_SITE ROLE_SITE_SERVER
#define R_MP ROLE_MANAGEMENT_POINT
#define R_EP ROLE_ENROLLMENT_POINT

/* Rows give max_body only when it differs from the server-wide limit (0),
 * so the positional rows may leave it out. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
struct http_route site_routes[] = {
    {"GET", "/health", ROLE_ALL, PERM_NONE, 0, h_health, "health"},
    /* what agents time to measure their link (clientlink.c) */
    {"GET", "/probe", R_MP, PERM_NONE, 0, site_h_probe, "probe"},
    /* content (content.c); max_body of content_put set by site_routes_configure */
    {"GET", "/content/{hash}", ROLE_DISTRIBUTION_POINT, PERM_CONTENT, ALLOW_READ | TOKEN_ROLE_DP,
     site_h_content_get, "content_get"},
    {"POST", "/api/v1/content/missing", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, site_h_content_missing,
     "content_missing", SITE_CONTENT_MISSING_MAX_BODY},
    {"PUT", "/api/v1/content/{hash}", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, site_h_content_put,
     "content_put", 0, &site_content_put_sink},
    {"GET", "/metrics", ROLE_ALL, PERM_METRICS, ALLOW_READ, h_metrics, "metrics"},
    {"POST", "/api/v1/enroll", R_EP, PERM_ENROLL, 0, h_enroll, "enroll"},
    /* client installation (bootstrap.c): what a logon script fetches */
    {"GET", "/bootstrap.sh", R_EP, PERM_NONE, 0, site_h_bootstrap_script, "bootstrap_script"},
    {"POST", "/bootstrap/claim", R_EP, PERM_NONE, 0, site_h_bootstrap_claim, "bootstrap_claim"},
    {"GET", "/bootstrap/files/{hash}", R_EP, PERM_NONE, 0, site_h_bootstrap_file, "bootstrap_file"},
    /* the enrollment token in the body is its credential (checked by the handler) */
    {"POST", "/bootstrap/report", R_EP, PERM_NONE, 0, site_h_bootstrap_report, "bootstrap_report",
     4096},
    {"POST", "/api/v1/session", R_MP, PERM_AGENT_SIGNED, 0, h_session, "session"},
    {"POST", "/api/v1/checkin", R_MP, PERM_AGENT, 0, h_checkin, "checkin"},
    {"GET", "/api/v1/site", R_SITE, PERM_TOKEN, ALLOW_READ | TOKEN_ROLE_DP, h_site_show,
     "site_show"},
    {"GET", "/api/v1/clients", R_SITE, PERM_TOKEN, ALLOW_READ, h_clients_list, "clients_list"},
    {"GET", "/api/v1/clients/{id}", R_SITE, PERM_TOKEN, ALLOW_READ, h_clients_show, "clients_show"},
    {"POST", "/api/v1/clients/{id}/approve", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, h_clients_approve,
     "clients_approve"},
    {"POST", "/api/v1/clients/{id}/block", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, h_clients_block,
     "clients_block"},
    {"DELETE", "/api/v1/clients/{id}", R_SITE, PERM_TOKEN, ALLOW_ADMIN, h_clients_delete,
     "clients_delete"},
    {"POST", "/api/v1/enroll-tokens", R_SITE, PERM_TOKEN, ALLOW_ADMIN, h_tokens_create,
     "tokens_create"},
    {"GET", "/api/v1/enroll-tokens", R_SITE, PERM_TOKEN, ALLOW_READ, h_tokens_list, "tokens_list"},
    {"DELETE", "/api/v1/enroll-tokens/{id}", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, h_tokens_revoke,
     "tokens_revoke"},
    /* administrators and the audit log (audit.c) */
    {"POST", "/api/v1/admins/tokens", R_SITE, PERM_TOKEN, ALLOW_ADMIN, h_admins_create,
     "admins_create"},
    {"GET", "/api/v1/admins", R_SITE, PERM_TOKEN, ALLOW_READ, h_admins_list, "admins_list"},
    {"POST", "/api/v1/admins/{name}/revoke", R_SITE, PERM_TOKEN, ALLOW_ADMIN, h_admins_revoke,
     "admins_revoke"},
    {"GET", "/api/v1/audit", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_audit_list, "audit_list"},
    {"GET", "/api/v1/audit/verify", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_audit_verify,
     "audit_verify"},
    /* collections (collections_api.c) */
    {"GET", "/api/v1/collections", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_collections_list,
     "collections_list"},
    {"POST", "/api/v1/collections", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, site_h_collections_create,
     "collections_create"},
    {"GET", "/api/v1/collections/{name}", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_collections_show,
     "collections_show"},
    {"DELETE", "/api/v1/collections/{name}", R_SITE, PERM_TOKEN, ALLOW_OPERATOR,
     site_h_collections_delete, "collections_delete"},
    {"GET", "/api/v1/collections/{name}/members", R_SITE, PERM_TOKEN, ALLOW_READ,
     site_h_collections_members, "collections_members"},
    {"GET", "/api/v1/collections/{name}/explain/{id}", R_SITE, PERM_TOKEN, ALLOW_READ,
     site_h_collections_explain, "collections_explain"},
    {"GET", "/api/v1/inventory/query", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_inventory_query,
     "inventory_query"},
    /* inventory (inventory.c); max_body set by site_routes_configure */
    {"POST", "/api/v1/inventory", R_MP, PERM_AGENT, 0, site_h_inventory_post, "inventory_post"},
    {"GET", "/api/v1/clients/{id}/inventory", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_inventory_show,
     "inventory_show"},
    {"GET", "/api/v1/clients/{id}/inventory/history", R_SITE, PERM_TOKEN, ALLOW_READ,
     site_h_inventory_history, "inventory_history"},
    /* software distribution (swdist.c); max_body of packages_create set by
     * site_routes_configure */
    {"POST", "/api/v1/packages", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, site_h_packages_create,
     "packages_create"},
    {"GET", "/api/v1/packages", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_packages_list,
     "packages_list"},
    {"GET", "/api/v1/packages/{name}", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_packages_show,
     "packages_show"},
    {"DELETE", "/api/v1/packages/{name}/{version}", R_SITE, PERM_TOKEN, ALLOW_ADMIN,
     site_h_packages_delete, "packages_delete"},
    {"GET", "/api/v1/content/index", R_SITE, PERM_TOKEN, ALLOW_READ | TOKEN_ROLE_DP,
     site_h_content_index, "content_index"},
    {"POST", "/api/v1/programs", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, site_h_programs_create,
     "programs_create"},
    {"GET", "/api/v1/programs", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_programs_list,
     "programs_list"},
    {"GET", "/api/v1/programs/{name}", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_programs_show,
     "programs_show"},
    {"DELETE", "/api/v1/programs/{name}", R_SITE, PERM_TOKEN, ALLOW_OPERATOR,
     site_h_programs_delete, "programs_delete"},
    {"POST", "/api/v1/adverts", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, site_h_adverts_create,
     "adverts_create"},
    {"GET", "/api/v1/adverts", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_adverts_list, "adverts_list"},
    {"GET", "/api/v1/adverts/{name}", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_adverts_show,
     "adverts_show"},
    {"POST", "/api/v1/adverts/{name}/enable", R_SITE, PERM_TOKEN, ALLOW_OPERATOR,
     site_h_adverts_enable, "adverts_enable"},
    {"POST", "/api/v1/adverts/{name}/disable", R_SITE, PERM_TOKEN, ALLOW_OPERATOR,
     site_h_adverts_disable, "adverts_disable"},
    {"DELETE", "/api/v1/adverts/{name}", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, site_h_adverts_delete,
     "adverts_delete"},
    {"POST", "/api/v1/site/pause-adverts", R_SITE, PERM_TOKEN, ALLOW_OPERATOR, site_h_adverts_pause,
     "adverts_pause"},
    /* a new TLS key for this site, announced before it is served (sitetls.c) */
    {"POST", "/api/v1/site/rotate-key", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_rotate_key,
     "rotate_key", 256},
    {"POST", "/api/v1/site/upgrade", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_site_upgrade,
     "site_upgrade"},
    /* remote site systems (sitesystems.c) */
    {"GET", "/api/v1/site/systems", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_systems_list,
     "systems_list"},
    {"POST", "/api/v1/site/systems/upgrade", R_SITE, PERM_TOKEN, ALLOW_ADMIN,
     site_h_systems_upgrade, "systems_upgrade"},
    {"POST", "/api/v1/site/systems/slow", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_systems_slow,
     "systems_slow"},
    {"POST", "/api/v1/site/systems/confirm", R_SITE, PERM_TOKEN, ALLOW_ADMIN,
     site_h_systems_confirm, "systems_confirm"},
    {"POST", "/api/v1/site/systems/retry", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_systems_retry,
     "systems_retry"},
    {"GET", "/api/v1/site/systems/plan", R_SITE, PERM_TOKEN, ALLOW_READ | TOKEN_ROLE_DP,
     site_h_systems_plan, "systems_plan"},
    {"POST", "/api/v1/site/client-upgrade", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_client_upgrade,
     "client_upgrade"},
    /* staged rollouts (rollouts.c) and maintenance windows (windows.c) */
    {"POST", "/api/v1/rollouts", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_rollouts_create,
     "rollouts_create"},
    {"GET", "/api/v1/rollouts", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_rollouts_list,
     "rollouts_list"},
    {"GET", "/api/v1/rollouts/{name}", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_rollouts_show,
     "rollouts_show"},
    {"GET", "/api/v1/rollouts/{name}/clients", R_SITE, PERM_TOKEN, ALLOW_READ,
     site_h_rollouts_clients, "rollouts_clients"},
    {"DELETE", "/api/v1/rollouts/{name}", R_SITE, PERM_TOKEN, ALLOW_ADMIN,
     site_h_rollouts_delete, "rollouts_delete"},
    {"POST", "/api/v1/rollouts/{name}/start", R_SITE, PERM_TOKEN, ALLOW_ADMIN,
     site_h_rollouts_start, "rollouts_start"},
    {"POST", "/api/v1/rollouts/{name}/pause", R_SITE, PERM_TOKEN, ALLOW_OPERATOR,
     site_h_rollouts_pause, "rollouts_pause"},
    {"POST", "/api/v1/rollouts/{name}/resume", R_SITE, PERM_TOKEN, ALLOW_ADMIN,
     site_h_rollouts_resume, "rollouts_resume"},
    {"POST", "/api/v1/rollouts/{name}/promote", R_SITE, PERM_TOKEN, ALLOW_ADMIN,
     site_h_rollouts_promote, "rollouts_promote"},
    {"POST", "/api/v1/rollouts/{name}/abort", R_SITE, PERM_TOKEN, ALLOW_OPERATOR,
     site_h_rollouts_abort, "rollouts_abort"},
    {"POST", "/api/v1/rollouts/{name}/rollback", R_SITE, PERM_TOKEN, ALLOW_ADMIN,
     site_h_rollouts_rollback, "rollouts_rollback"},
    {"POST", "/api/v1/windows", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_windows_create,
     "windows_create"},
    {"GET", "/api/v1/windows", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_windows_list, "windows_list"},
    {"DELETE", "/api/v1/windows/{name}", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_windows_delete,
     "windows_delete"},
    {"POST", "/api/v1/site/pause-installs", R_SITE, PERM_TOKEN, ALLOW_OPERATOR,
     site_h_installs_pause, "installs_pause"},
    {"POST", "/api/v1/site/resume-installs", R_SITE, PERM_TOKEN, ALLOW_OPERATOR,
     site_h_installs_resume, "installs_resume"},
    {"POST", "/api/v1/site/resume-adverts", R_SITE, PERM_TOKEN, ALLOW_OPERATOR,
     site_h_adverts_resume, "adverts_resume"},
    {"GET", "/api/v1/status/adverts/{name}", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_status_advert,
     "status_advert"},
    {"GET", "/api/v1/status/clients/{id}", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_status_client,
     "status_client"},
    {"POST", "/api/v1/agent/status", R_MP, PERM_AGENT, 0, site_h_agent_status, "agent_status"},
    /* releases (releases.c): a manifest of 1 MiB as a JSON string */
    {"POST", "/api/v1/releases", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_releases_import,
     "releases_import", 3u * 1024 * 1024},
    {"GET", "/api/v1/releases", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_releases_list,
     "releases_list"},
    {"GET", "/api/v1/releases/{version}", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_releases_show,
     "releases_show"},
    {"POST", "/api/v1/releases/{version}/withdraw", R_SITE, PERM_TOKEN, ALLOW_ADMIN,
     site_h_releases_withdraw, "releases_withdraw"},
    {"POST", "/api/v1/releases/{version}/reinstate", R_SITE, PERM_TOKEN, ALLOW_ADMIN,
     site_h_releases_reinstate, "releases_reinstate"},
    /* the hierarchy (hierarchy.c): a zstd batch of at most 16 MiB */
    {"POST", "/site-link/batch", R_SITE, PERM_SITE, 0, site_h_link_batch, "link_batch",
     16u * 1024 * 1024},
    /* a release's files, for the sites below that fetch it */
    {"GET", "/site-link/content/{hash}", R_SITE, PERM_SITE, 0, site_h_link_content, "link_content"},
    /* the one-time attach token in the body is its credential */
    {"POST", "/site-link/attach", R_SITE, PERM_NONE, 0, site_h_link_attach, "link_attach", 16384},
    {"POST", "/api/v1/sites/attach-tokens", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_sites_token,
     "sites_token"},
    {"POST", "/api/v1/sites/attach", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_sites_attach,
     "sites_attach"},
    {"GET", "/api/v1/sites", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_sites_list, "sites_list"},
    {"POST", "/api/v1/sites/{code}/detach", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_sites_detach,
     "sites_detach"},
    {"POST", "/api/v1/sites/{code}/link", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_sites_link,
     "sites_link"},
    {"GET", "/api/v1/hierarchy/objects", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_hierarchy_objects,
     "hierarchy_objects"},
    {"GET", "/api/v1/hierarchy", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_hierarchy_show,
     "hierarchy_show"},
    {"POST", "/api/v1/hierarchy/upgrade", R_SITE, PERM_TOKEN, ALLOW_ADMIN, site_h_hierarchy_upgrade,
     "hierarchy_upgrade"},
    {"GET", "/api/v1/hierarchy/upgrade", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_hierarchy_status,
     "hierarchy_status"},
    /* the checklist before an upgrade (readiness.c): read-only */
    {"GET", "/api/v1/upgrade/check", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_upgrade_check,
     "upgrade_check"},
    /* the web console (console.c): its files are public (the page holds
     * no data); the sign-in's credential is the admin token in its body;
     * the session's own routes take only the session cookie */
    {"GET", "/console", R_SITE, PERM_NONE, 0, site_h_console_redirect, "console_redirect"},
    {"HEAD", "/console", R_SITE, PERM_NONE, 0, site_h_console_redirect, "console_redirect"},
    {"GET", "/console/", R_SITE, PERM_NONE, 0, site_h_console_asset, "console_index"},
    {"HEAD", "/console/", R_SITE, PERM_NONE, 0, site_h_console_asset, "console_index"},
    {"GET", "/console/{name}", R_SITE, PERM_NONE, 0, site_h_console_asset, "console_asset"},
    {"HEAD", "/console/{name}", R_SITE, PERM_NONE, 0, site_h_console_asset, "console_asset"},
    {"POST", "/api/v1/console/session", R_SITE, PERM_NONE, 0, site_h_console_signin,
     "console_signin", 1024},
    {"GET", "/api/v1/console/session", R_SITE, PERM_CONSOLE_SESSION, ALLOW_READ,
     site_h_console_session, "console_session"},
    {"DELETE", "/api/v1/console/session", R_SITE, PERM_CONSOLE_SESSION, ALLOW_READ,
     site_h_console_signout, "console_signout"},
    /* the console's first page (console.c) */
    {"GET", "/api/v1/overview", R_SITE, PERM_TOKEN, ALLOW_READ, site_h_overview, "overview"},
    /* console updates (consoleupdate.c): no version handshake, so that a
     * console this site refuses can still update itself */
    {"GET", PROTO_CONSOLE_UPDATE_PATH, R_SITE, PERM_CONSOLE_UPDATE, ALLOW_READ,
     site_h_console_update, "console_update"},
    {"GET", PROTO_CONSOLE_UPDATE_PATH "/files/{hash}", R_SITE, PERM_CONSOLE_UPDATE, ALLOW_READ,
     site_h_console_update_file, "console_update_file"},
};
#pragma GCC diagnostic pop

void site_routes_configure(const struct site_config *c)
{
	inactive_after_s = c->inactive_days * 86400;
	for (size_t i = 0; i < site_routes_len; i++)
		if (site_routes[i].handler == site_h_inventory_post)
			site_routes[i].max_body = (size_t)c->inventory_max_bytes;
		else if (site_routes[i].handler == site_h_packages_create)
			/* a file list of CONTENT_FILES_MAX entries with long paths */
			site_routes[i].max_body = 64u * 1024 * 1024;
		else if (site_routes[i].handler == site_h_content_put)
			/* streamed into the blob store, never buffered */
			site_routes[i].max_body = (size_t)c->package_max_bytes;
}

const size_t site_routes_len = sizeof(site_routes) / sizeof(site_routes[0]);

/* Every request ends here, whoever answered it (a handler, the
 * authorization, the server's own limits): the one place that counts it
 * and writes it to the audit log. */
void site_observe(const struct http_route *route, struct http_req *req, int status,
		  int64_t usec, void *app)
{
	struct site *s = app;
	size_t idx = route ? (size_t)(route - site_routes) + 1 : 0;

	metrics_observe(s->metrics, idx, status, usec);
	if (req && route)
		site_audit_request(s, route, req, status);
}

/* ---- facts refreshed after check-ins ---------------------------------------- */

#define REFRESH_MAX 65536 /* a whole fleet upgrading at once drains in seconds */

void site_facts_refresh_later(struct site *s, const char *client_id)
{
	pthread_mutex_lock(&s->refresh_lock);
	if (!s->refresh)
		s->refresh = calloc(REFRESH_MAX, sizeof(*s->refresh));
	if (s->refresh && s->n_refresh < REFRESH_MAX)
		memcpy(s->refresh[s->n_refresh++], client_id, sizeof(*s->refresh));
	else
		s->refresh_dropped++;
	pthread_mutex_unlock(&s->refresh_lock);
}

void site_facts_refresh_run(struct site *s)
{
	char (*ids)[PROTO_CLIENT_ID_HEX + 1];
	size_t n;
	uint64_t dropped;

	pthread_mutex_lock(&s->refresh_lock);
	ids = s->refresh;
	n = s->n_refresh;
	dropped = s->refresh_dropped;
	s->refresh = NULL;
	s->n_refresh = 0;
	s->refresh_dropped = 0;
	pthread_mutex_unlock(&s->refresh_lock);
	for (size_t i = 0; i < n; i++)
		site_facts_client_changed(s, ids[i], CORE_QUERY_DEP_CLIENT);
	if (dropped)
		log_warn("collections", "refresh_dropped",
			 "clients=%llu reason=\"more than %d changed in one second; their facts refresh at their next change\"",
			 (unsigned long long)dropped, REFRESH_MAX);
	free(ids);
}

/* console: the server side of the web console (docs/internals/console-server.md).
 *
 * The console's files (console/) are compiled into stewardd and served
 * at /console/ to anyone: the page holds no data, every datum comes from
 * the API. An administrator signs in with an admin token and gets a
 * session cookie (HttpOnly, SameSite=Strict, Secure under TLS) and a
 * CSRF token; auth.c accepts the cookie on every admin route in place of
 * a bearer token, and asks writes for the CSRF token. Sessions live in
 * memory only (consolesession.c): a restart signs everyone out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "site.h"

/* Sent with every file of the console: its scripts and styles come only
 * from the site itself, it cannot be framed, and it leaks no URL. */
#define CONSOLE_CSP                                                                                \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
#define CONSOLE_NAME_MAX 128
#define REMEDY_SIGN_IN	 "sign in to the console again with an admin token"

int site_console_start(struct site *s)
{
	return csess_table_new(CSESS_DEFAULT_MAX, &s->csess) ? -1 : 0;
}

void site_console_free(struct site *s)
{
	csess_table_free(s->csess);
	s->csess = NULL;
}

/* ---- the files ---------------------------------------------------------------------- */

static const char *asset_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".json", "application/json"},
	    {".txt", "text/plain; charset=utf-8"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* The embedded file called name; NULL for any other name. Names are
 * [A-Za-z0-9._-]+ and only ever compared with the table's, never used
 * as a path, so nothing outside the table can be reached. */
static const struct site_asset *asset_find(const char *name)
{
	if (!name || !*name || strlen(name) > CONSOLE_NAME_MAX ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
		strlen(name))
		return NULL;
	for (size_t i = 0; i < site_console_assets_len; i++)
		if (strcmp(site_console_assets[i].name, name) == 0)
			return &site_console_assets[i];
	return NULL;
}

static void security_headers(struct http_req *req)
{
	http_reply_header(req, "Content-Security-Policy", CONSOLE_CSP);
	http_reply_header(req, "X-Content-Type-Options", "nosniff");
	http_reply_header(req, "Referrer-Policy", "no-referrer");
	http_reply_header(req, "X-Frame-Options", "DENY");
}

enum http_result site_h_console_redirect(struct http_req *req, void *app)
{
	(void)app;
	security_headers(req);
	http_reply_header(req, "Location", "/console/");
	http_reply(req, 301, "text/plain; charset=utf-8", "/console/\n", 10);
	return HTTP_DONE;
}

/* GET /console/ (index.html) and GET /console/{name}; HEAD too. */
enum http_result site_h_console_asset(struct http_req *req, void *app)
{
	const char *name = http_req_param(req, 0);
	const struct site_asset *a;

	(void)app;
	a = asset_find(name ? name : "index.html");
	security_headers(req);
	if (!a) {
		reply_error(req, 404, "not_found", "the console's files are listed in console/",
			    "the console has no file '%.64s'", str_printable(name) ? name : "?");
		return HTTP_DONE;
	}
	/* no-cache: the browser asks each time, and gets 304 while the file
	 * is the same; a new stewardd's console is seen at once */
	http_reply_header(req, "Cache-Control", "no-cache");
	http_reply_header(req, "ETag", a->etag);
	if (site_etag_listed(http_req_header(req, "If-None-Match"), a->etag)) {
		http_reply(req, 304, NULL, "", 0);
		return HTTP_DONE;
	}
	http_reply(req, 200, asset_type(a->name), a->data, a->len);
	return HTTP_DONE;
}

/* ---- sessions ----------------------------------------------------------------------- */

static int cookie_value(struct http_req *req, char out[CSESS_TEXT_LEN + 1])
{
	const char *h = http_req_header(req, "Cookie");

	return h ? csess_cookie_get(h, CSESS_COOKIE, out, CSESS_TEXT_LEN + 1) : -STEWARD_ENOTFOUND;
}

bool site_console_has_cookie(struct http_req *req)
{
	const char *h = http_req_header(req, "Cookie");
	char v[8];
	int rc = h ? csess_cookie_get(h, CSESS_COOKIE, v, sizeof(v)) : -STEWARD_ENOTFOUND;

	/* too long for v is there all the same; an empty one (a signed-out
	 * browser's) is not */
	return rc == -STEWARD_EINVAL || (rc == 0 && v[0]);
}

int site_console_session(struct site *s, struct http_req *req, struct csess *out,
			 struct steward_err *err)
{
	char id[CSESS_TEXT_LEN + 1];
	enum csess_result r = CSESS_UNKNOWN;

	if (cookie_value(req, id) == 0)
		r = csess_lookup(s->csess, id, time_now_s(), s->cfg.console_session_idle,
				 s->cfg.console_session_lifetime, out);
	if (r == CSESS_EXPIRED) {
		steward_err_set(err, STEWARD_EAUTH, "session_expired", REMEDY_SIGN_IN,
				"the console session of '%s' has expired (idle for %llds or older "
				"than %llds)",
				out->admin, (long long)s->cfg.console_session_idle,
				(long long)s->cfg.console_session_lifetime);
		return 401;
	}
	if (r != CSESS_OK) {
		steward_err_set(
		    err, STEWARD_EAUTH, "auth_required", REMEDY_SIGN_IN,
		    "this call needs a console session (or an admin token): the session "
		    "cookie is missing, signed out, or from before the site restarted");
		return 401;
	}
	return 0;
}

void site_console_session_end(struct site *s, struct http_req *req)
{
	char id[CSESS_TEXT_LEN + 1];

	if (cookie_value(req, id) == 0)
		csess_forget(s->csess, id);
}

int64_t site_console_session_expires(struct site *s, const struct csess *cs)
{
	int64_t idle = cs->last_used + s->cfg.console_session_idle;
	int64_t life = cs->created + s->cfg.console_session_lifetime;

	return idle < life ? idle : life;
}

/* The Origin a browser sends is this site's: its host[:port] is the
 * request's Host. A page of another site cannot send a matching one. */
static bool origin_ok(struct http_req *req)
{
	const char *origin = http_req_header(req, "Origin");
	const char *host = http_req_header(req, "Host");
	const char *auth;

	if (!origin)
		return true;
	auth = strstr(origin, "://");
	if (!auth || !host || !*host)
		return false;
	auth += 3;
	return strcasecmp(auth, host) == 0;
}

static int origin_check(struct http_req *req, struct steward_err *err)
{
	if (origin_ok(req))
		return 0;
	steward_err_set(
	    err, STEWARD_EPERM, "origin_forbidden",
	    "use the console this site serves (/console/), not a page of another site",
	    "the request comes from origin '%.64s', not from this site",
	    str_printable(http_req_header(req, "Origin")) ? http_req_header(req, "Origin") : "?");
	return 403;
}

int site_console_write_check(struct site *s, struct http_req *req, const struct csess *cs,
			     struct steward_err *err)
{
	const char *sent = http_req_header(req, "X-Steward-CSRF");
	int status = origin_check(req, err);

	(void)s;
	if (status)
		return status;
	if (!sent || !*sent) {
		steward_err_set(err, STEWARD_EPERM, "csrf_missing",
				"send the session's csrf (from GET /api/v1/console/session) in the "
				"X-Steward-CSRF header",
				"a write with a console session needs the X-Steward-CSRF header");
		return 403;
	}
	if (!csess_csrf_equal(sent, cs->csrf)) {
		steward_err_set(err, STEWARD_EPERM, "csrf_mismatch",
				"reload the console (GET /api/v1/console/session gives the csrf of "
				"this session)",
				"the X-Steward-CSRF header is not this session's");
		return 403;
	}
	return 0;
}

static json_t *session_json(const char *name, unsigned role, const char *csrf, int64_t expires)
{
	return json_pack("{s:s,s:s,s:s,s:I}", "name", name, "role", token_role_name(role), "csrf",
			 csrf, "expires", (json_int_t)expires);
}

/* POST /api/v1/console/session {"token":"stw_..."}: the token is the
 * credential, checked as a bearer token is; the sign-in goes to the
 * audit log with the token's holder, allowed or refused. */
enum http_result site_h_console_signin(struct http_req *req, void *app)
{
	struct site *s = app;
	struct steward_err err;
	struct store_admin a;
	struct principal *p;
	struct csess cs;
	char id[CSESS_TEXT_LEN + 1], cookie[160];
	const char *tok;
	unsigned role = 0;
	json_t *body;
	int status;

	http_reply_header(req, "Cache-Control", "no-store");
	status = origin_check(req, &err);
	if (status) {
		http_reply_error(req, status, &err);
		return HTTP_DONE;
	}
	body = admin_body(req);
	if (!body)
		return HTTP_DONE;
	tok = json_string_value(json_object_get(body, "token"));
	if (!tok || strlen(tok) > 128) {
		json_decref(body);
		reply_error(req, 400, "bad_request", "send {\"token\":\"stw_...\"}",
			    "the body needs \"token\", an admin token (stw_ and 64 hex digits)");
		return HTTP_DONE;
	}
	memset(&a, 0, sizeof(a));
	memset(&cs, 0, sizeof(cs));
	status = site_admin_token_check(s, tok, &a, cs.token_hash, &err);
	json_decref(body);
	if (status == 503)
		http_reply_header(req, "Retry-After", "5");
	if (status)
		/* someone trying tokens shows in the log, as on the other routes */
		log_info("console", "sign_in_refused", "status=%d code=%s peer=%s", status,
			 err.code, http_req_peer(req));
	if (status && strcmp(err.code, "token_revoked") != 0) {
		http_reply_error(req, status, &err);
		return HTTP_DONE;
	}
	if (token_role_parse(a.role, &role)) {
		reply_error(req, 503, "store_unavailable", "see the site's log",
			    "admin '%s' has an unknown role '%.24s'", a.name, a.role);
		return HTTP_DONE;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		reply_error(req, 500, "internal", "", "out of memory");
		return HTTP_DONE;
	}
	p->kind = PRINCIPAL_ADMIN;
	p->role = role;
	snprintf(p->name, sizeof(p->name), "%s", a.name);
	http_req_set_ctx(req, p, free);
	if (status) { /* revoked: recorded with its holder */
		http_reply_error(req, status, &err);
		return HTTP_DONE;
	}
	/* a remote site system's service token is not a person's */
	if (!(role & ALLOW_READ)) {
		reply_error(req, 403, "role_forbidden",
			    "sign in with the token of a person (role read, operator or admin)",
			    "the token of '%s' has role %s, which cannot sign in to the console",
			    a.name, token_role_name(role));
		return HTTP_DONE;
	}
	snprintf(cs.admin, sizeof(cs.admin), "%s", a.name);
	cs.role = role;
	/* a browser signing in again drops the session it had */
	site_console_session_end(s, req);
	if (csess_create(s->csess, &cs, time_now_s(), id)) {
		reply_error(req, 500, "internal", "", "cannot make a session");
		return HTTP_DONE;
	}
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s", CSESS_COOKIE,
		 id, s->cfg.tls ? "; Secure" : "");
	sodium_memzero(id, sizeof(id));
	http_reply_header(req, "Set-Cookie", cookie);
	sodium_memzero(cookie, sizeof(cookie));
	log_info("console", "signed_in", "admin=%s role=%s peer=%s", a.name, token_role_name(role),
		 http_req_peer(req));
	reply_json_obj(req, 200,
		       session_json(a.name, role, cs.csrf, site_console_session_expires(s, &cs)));
	return HTTP_DONE;
}

/* GET /api/v1/console/session: who is signed in, and the CSRF token a
 * reloaded page needs again. */
enum http_result site_h_console_session(struct http_req *req, void *app)
{
	struct principal *p = http_req_ctx(req);

	(void)app;
	http_reply_header(req, "Cache-Control", "no-store");
	reply_json_obj(req, 200, session_json(p->name, p->role, p->csrf, p->session_expires));
	return HTTP_DONE;
}

/* DELETE /api/v1/console/session: sign out; the cookie is cleared. */
enum http_result site_h_console_signout(struct http_req *req, void *app)
{
	struct site *s = app;
	char cookie[128];

	site_console_session_end(s, req);
	snprintf(cookie, sizeof(cookie), "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
		 CSESS_COOKIE, s->cfg.tls ? "; Secure" : "");
	http_reply_header(req, "Set-Cookie", cookie);
	http_reply_header(req, "Cache-Control", "no-store");
	http_reply(req, 204, NULL, "", 0);
	return HTTP_DONE;
}

/* ---- GET /api/v1/overview ------------------------------------------------------------- */

#define OVERVIEW_HOURS 24

struct overview_walk {
	int64_t now, total;
	int64_t by_state[CLIENT_DELETED + 1];
	int64_t hours[OVERVIEW_HOURS]; /* oldest first */
	json_t *by_version;
};

static int overview_client(const struct store_client *c, void *ctx)
{
	struct overview_walk *w = ctx;
	const char *v = c->agent_version[0] ? c->agent_version : "unknown";
	json_t *n = json_object_get(w->by_version, v);
	int64_t ago = w->now - c->last_seen;

	w->total++;
	if ((unsigned)c->state <= CLIENT_DELETED)
		w->by_state[c->state]++;
	if (json_object_set_new(w->by_version, v, json_integer(n ? json_integer_value(n) + 1 : 1)))
		return -STEWARD_ENOMEM;
	/* the hour of the last check-in, counted back from now: hour 23 is
	 * the last 60 minutes */
	if (c->last_seen > 0 && ago >= 0 && ago < OVERVIEW_HOURS * 3600)
		w->hours[OVERVIEW_HOURS - 1 - ago / 3600]++;
	return 0;
}

/* What the console shows first, from what the site already keeps: its
 * clients (one pass over the rows), the advertisements' status counts,
 * the rollouts that stopped, the links to other sites. */
enum http_result site_h_overview(struct http_req *req, void *app)
{
	struct site *s = app;
	struct overview_walk w = {.now = time_now_s()};
	json_t *hours = json_array(), *adverts = NULL, *links = NULL, *lk, *o, *l;
	size_t i;
	int rc;

	w.by_version = json_object();
	rc = s->store->ops->client_list(s->store, false, overview_client, &w);
	if (!rc && !(adverts = site_adverts_overview(s)))
		rc = -STEWARD_ESTORE;
	if (!rc)
		rc = site_links_json(s, &links);
	if (rc) {
		json_decref(w.by_version);
		json_decref(hours);
		json_decref(adverts);
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	for (int h = 0; h < OVERVIEW_HOURS; h++)
		json_array_append_new(hours, json_integer(w.hours[h]));
	/* a link in short: who, how it goes, what waits to be sent */
	lk = json_array();
	json_array_foreach(links, i, l) json_array_append_new(
	    lk,
	    json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}", "site", json_object_get(l, "code"), "relation",
		      json_object_get(l, "relation"), "state", json_object_get(l, "state"),
		      "backlog", json_object_get(l, "backlog_out_messages"), "backlog_bytes",
		      json_object_get(l, "backlog_out_bytes"), "last_in",
		      json_object_get(l, "last_in")));
	json_decref(links);
	o = json_pack("{s:{s:I,s:{s:I,s:I,s:I},s:o},s:o,s:I,s:o,s:o,s:o}", "clients", "total",
		      (json_int_t)w.total, "by_state", "pending",
		      (json_int_t)w.by_state[CLIENT_PENDING], "approved",
		      (json_int_t)w.by_state[CLIENT_APPROVED], "blocked",
		      (json_int_t)w.by_state[CLIENT_BLOCKED], "by_version", w.by_version,
		      "checkins_per_hour", hours, "pending", (json_int_t)w.by_state[CLIENT_PENDING],
		      "adverts", adverts, "rollouts", site_rollouts_stopped(s), "links", lk);
	reply_json_obj(req, 200, o);
	return HTTP_DONE;
}

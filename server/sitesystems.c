/* sitesystems: the remote site systems of a site, and their upgrades.
 *
 * A remote site system is a stewardd with only some roles (a remote
 * distribution point) that talks to its site server with an admin token
 * (upstream). Every such call carries "Steward-Site-System: URL ROLES", so
 * the site server knows each one's URL, roles, version and last contact.
 *
 * `stewardctl systems upgrade --to X.Y.Z` sets the version the remote site
 * systems should run. Each asks GET /api/v1/site/systems/plan at the end of
 * its sync round and gets the target, the signed manifest, and whether it
 * may go now: a system behind a link marked slow (`systems slow URL`) waits
 * for `systems confirm URL`, because its upgrade cannot be pulled back
 * quickly if it goes wrong. The system upgrades itself exactly as the site
 * server does (siteupgrade.c: stage from its own content store, backup,
 * exec, roll back when the new version cannot start); a system whose
 * upgrade rolled back says so in its next call and is not asked again for
 * that version.
 *
 * Everything is kept in the setting "site_systems" (JSON), written when it
 * changes and at most once a minute for contact times.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "site.h"

#define SS_MAX		 128
#define SS_URL_MAX	 255
#define SS_SETTING	 "site_systems"
#define SS_TEXT_MAX	 (64 * 1024)
#define SS_WRITE_EVERY	 60
#define SS_FAILED_HEADER "Steward-Upgrade-Failed"

struct sysent {
	char url[SS_URL_MAX + 1];
	char roles[128];
	char version[PROTO_VERSION_MAX + 1];
	char protocol[24]; /* the range it speaks, "MIN-MAX" */
	char address[64];
	char failed[PROTO_VERSION_MAX + 1]; /* the target whose upgrade rolled back */
	int64_t last;
	bool slow, confirmed;
	/* an administrator asked it to try the target again after a rollback
	 * (systems retry): until it starts that attempt, the failure it still
	 * reports from its last record is the old one */
	bool retry;
};

struct sitesys {
	pthread_mutex_t mu;
	struct sysent v[SS_MAX];
	size_t n;
	char target[PROTO_VERSION_MAX + 1]; /* "" none */
	int64_t written;
};

static void field(char *dst, size_t dstsz, const char *src)
{
	snprintf(dst, dstsz, "%s", src && str_printable(src) && strlen(src) < dstsz ? src : "");
}

static json_t *to_json(const struct sitesys *ss)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < ss->n; i++) {
		const struct sysent *e = &ss->v[i];

		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:b,s:b}",
						   "url", e->url, "roles", e->roles, "version",
						   e->version, "protocol", e->protocol, "address",
						   e->address, "failed", e->failed, "last",
						   (json_int_t)e->last, "slow", e->slow, "confirmed",
						   e->confirmed, "retry", e->retry));
	}
	return json_pack("{s:s,s:o}", "target", ss->target, "systems", a ? a : json_array());
}

/* Caller holds the lock; the text to store (malloc'd) or NULL. */
static char *dump(struct sitesys *ss)
{
	json_t *o = to_json(ss);
	char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	ss->written = time_now_s();
	return t;
}

static void save(struct site *s, char *text)
{
	if (text && strlen(text) < SS_TEXT_MAX &&
	    s->store->ops->setting_set(s->store, SS_SETTING, text) != 0)
		log_warn("sitesystems", "not_saved", "reason=\"the database failed\"");
	free(text);
}

int site_systems_load(struct site *s)
{
	struct sitesys *ss = calloc(1, sizeof(*ss));
	char *text = malloc(SS_TEXT_MAX);
	json_t *o, *e;
	size_t i;

	if (!ss || !text) {
		free(ss);
		free(text);
		return -STEWARD_ENOMEM;
	}
	pthread_mutex_init(&ss->mu, NULL);
	if (s->store->ops->setting_get(s->store, SS_SETTING, text, SS_TEXT_MAX) == 0 &&
	    (o = json_loads(text, 0, NULL))) {
		field(ss->target, sizeof(ss->target), json_string_value(json_object_get(o, "target")));
		json_array_foreach(json_object_get(o, "systems"), i, e)
		{
			struct sysent *x;

			if (ss->n == SS_MAX)
				break;
			x = &ss->v[ss->n++];
			field(x->url, sizeof(x->url), json_string_value(json_object_get(e, "url")));
			field(x->roles, sizeof(x->roles), json_string_value(json_object_get(e, "roles")));
			field(x->version, sizeof(x->version),
			      json_string_value(json_object_get(e, "version")));
			field(x->protocol, sizeof(x->protocol),
			      json_string_value(json_object_get(e, "protocol")));
			field(x->address, sizeof(x->address),
			      json_string_value(json_object_get(e, "address")));
			field(x->failed, sizeof(x->failed), json_string_value(json_object_get(e, "failed")));
			x->last = json_integer_value(json_object_get(e, "last"));
			x->slow = json_is_true(json_object_get(e, "slow"));
			x->confirmed = json_is_true(json_object_get(e, "confirmed"));
			x->retry = json_is_true(json_object_get(e, "retry"));
		}
		json_decref(o);
	}
	free(text);
	s->sitesys = ss;
	return 0;
}

void site_systems_free(struct site *s)
{
	if (!s->sitesys)
		return;
	pthread_mutex_destroy(&s->sitesys->mu);
	free(s->sitesys);
	s->sitesys = NULL;
}

static struct sysent *find(struct sitesys *ss, const char *url)
{
	for (size_t i = 0; i < ss->n; i++)
		if (strcmp(ss->v[i].url, url) == 0)
			return &ss->v[i];
	return NULL;
}

bool site_system_seen(struct site *s, struct http_req *req)
{
	struct sitesys *ss = s->sitesys;
	const char *h = http_req_header(req, SITE_SYSTEM_HEADER);
	const char *failed = http_req_header(req, SS_FAILED_HEADER);
	char url[SS_URL_MAX + 1], roles[128], pin[80] = "", *text = NULL;
	struct sysent *e;
	int64_t now = time_now_s();
	bool changed = false;

	if (!ss || !h)
		return false;
	if (sscanf(h, "%255s %127s %79s", url, roles, pin) < 2 ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return false; /* not a site system's word: counted as a console */
	pthread_mutex_lock(&ss->mu);
	e = find(ss, url);
	if (!e && ss->n < SS_MAX) {
		e = &ss->v[ss->n++];
		memset(e, 0, sizeof(*e));
		field(e->url, sizeof(e->url), url);
		changed = true;
		log_info("sitesystems", "seen", "url=%s roles=%s address=%s", url, roles,
			 http_req_peer(req));
	}
	if (e) {
		const char *v = http_req_header(req, PROTO_H_VERSION);

		if (v && strcmp(v, e->version) != 0) {
			log_info("sitesystems", "version", "url=%s from=%s to=%.31s", url,
				 e->version[0] ? e->version : "-", v);
			changed = true;
		}
		field(e->version, sizeof(e->version), v);
		field(e->protocol, sizeof(e->protocol), http_req_header(req, PROTO_H_PROTOCOL));
		field(e->roles, sizeof(e->roles), roles);
		field(e->address, sizeof(e->address), http_req_peer(req));
		/* "pin=sha256:HEX": its HTTPS certificate, for the agents that
		 * download from it (its token authenticated this request) */
		if (strncmp(pin, "pin=", 4) == 0) {
			char had[TLS_PIN_HEX + 1];
			uint8_t raw[TLS_PIN_BYTES];
			char hex[TLS_PIN_HEX + 1];
			if (tls_pin_parse(pin + 4, raw) == 0) {
				hex_encode(raw, sizeof(raw), hex);
				if (site_trust_pin_get(url, had) != 0 || strcmp(had, hex) != 0) {
					site_trust_pin(url, pin + 4);
					site_swdist_pins_changed(s);
					log_info("sitesystems", "pin", "url=%s pin=%s", url, pin + 4);
				}
			}
		}
		if (e->retry) {
			/* a call without the old failure: the new attempt has
			 * begun (or is over); from now on a failure is new */
			if (!failed || strcmp(failed, ss->target) != 0) {
				e->retry = false;
				changed = true;
			}
		} else if (failed && strcmp(failed, e->failed) != 0) {
			field(e->failed, sizeof(e->failed), failed);
			log_warn("sitesystems", "upgrade_failed_rolled_back", "url=%s version=%s", url,
				 e->failed);
			changed = true;
		}
		e->last = now;
	}
	if (changed || now - ss->written >= SS_WRITE_EVERY)
		text = dump(ss);
	pthread_mutex_unlock(&ss->mu);
	save(s, text);
	return true;
}

/* ---- the admin side ------------------------------------------------------------------ */

static const char *state_of(const struct sitesys *ss, const struct sysent *e)
{
	if (!ss->target[0] || strcmp(e->version, ss->target) == 0)
		return "current";
	if (strcmp(e->failed, ss->target) == 0)
		return "upgrade_failed_rolled_back";
	if (e->slow && !e->confirmed)
		return "waiting_for_confirmation";
	return "upgrading";
}

enum http_result site_h_systems_list(struct http_req *req, void *app)
{
	struct site *s = app;
	struct sitesys *ss = s->sitesys;
	json_t *a = json_array();

	pthread_mutex_lock(&ss->mu);
	for (size_t i = 0; a && i < ss->n; i++) {
		const struct sysent *e = &ss->v[i];

		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:b,s:b,s:s}", "url",
						   e->url, "roles", e->roles, "version", e->version,
						   "protocol", e->protocol, "address", e->address,
						   "last_seen", time_json(e->last), "slow", e->slow,
						   "confirmed", e->confirmed, "state", state_of(ss, e)));
	}
	reply_json_obj(req, 200, json_pack("{s:o,s:o}", "target",
					   ss->target[0] ? json_string(ss->target) : json_null(),
					   "systems", a ? a : json_array()));
	pthread_mutex_unlock(&ss->mu);
	return HTTP_DONE;
}

enum http_result site_h_systems_upgrade(struct http_req *req, void *app)
{
	struct site *s = app;
	struct sitesys *ss = s->sitesys;
	json_t *body = admin_body(req), *jto;
	const char *to = NULL;
	struct steward_err err = {.code = ""};
	char *text;
	int x, y, z;

	if (!body)
		return HTTP_DONE;
	jto = json_object_get(body, "to");
	if (jto && !json_is_null(jto)) {
		to = json_string_value(jto);
		if (!to || proto_semver_parse(to, &x, &y, &z) != 0) {
			reply_error(req, 400, "bad_request", "give --to X.Y.Z, or --off",
				    "field 'to' must be a release version X.Y.Z or null");
			goto out;
		}
		/* the release must be one a site system of this version may take;
		 * the version that runs here is fine for them too */
		if (strcmp(to, proto_self_version()) != 0 && site_upgrade_check(s, to, &err) != 0) {
			http_reply_error(req, strcmp(err.code, "release_not_found") == 0 ? 404 : 409,
					 &err);
			goto out;
		}
	}
	pthread_mutex_lock(&ss->mu);
	snprintf(ss->target, sizeof(ss->target), "%s", to ? to : "");
	for (size_t i = 0; i < ss->n; i++)
		ss->v[i].confirmed = false; /* a confirmation is for one upgrade */
	text = dump(ss);
	pthread_mutex_unlock(&ss->mu);
	save(s, text);
	log_info("sitesystems", to ? "target" : "target_off", "version=%s by=%s", to ? to : "-",
		 site_admin_who(req));
	site_h_systems_list(req, app);
out:
	json_decref(body);
	return HTTP_DONE;
}

/* slow/confirm: {"url": URL, ...} on a known site system */
/* The admin body {"url": URL, ...}; NULL when refused (the reply is sent). */
static json_t *url_body(struct http_req *req, const char **url)
{
	json_t *body = admin_body(req);

	*url = json_string_value(json_object_get(body, "url"));
	if (body && !*url) {
		reply_error(req, 400, "bad_request", "name the site system by its URL (systems list)",
			    "field 'url' is missing");
		json_decref(body);
		body = NULL;
	}
	return body;
}

static enum http_result set_flag(struct http_req *req, struct site *s, bool confirm)
{
	struct sitesys *ss = s->sitesys;
	const char *url;
	json_t *body = url_body(req, &url);
	bool on = !json_is_false(json_object_get(body, "on"));
	struct sysent *e;
	char *text = NULL;

	if (!body)
		return HTTP_DONE;
	pthread_mutex_lock(&ss->mu);
	e = find(ss, url);
	if (e) {
		if (confirm)
			e->confirmed = on;
		else
			e->slow = on;
		text = dump(ss);
	}
	pthread_mutex_unlock(&ss->mu);
	if (!e) {
		reply_error(req, 404, "site_system_not_found",
			    "stewardctl systems list shows the site systems this site has heard from",
			    "no site system %.255s", url);
	} else {
		save(s, text);
		log_info("sitesystems", confirm ? "confirmed" : "slow", "url=%s on=%d by=%s", url,
			 (int)on, site_admin_who(req));
		site_h_systems_list(req, s);
	}
	json_decref(body);
	return HTTP_DONE;
}

enum http_result site_h_systems_slow(struct http_req *req, void *app)
{
	return set_flag(req, app, false);
}

enum http_result site_h_systems_confirm(struct http_req *req, void *app)
{
	return set_flag(req, app, true);
}

/* POST /api/v1/site/systems/retry {"url": URL}: a system whose upgrade to
 * the target rolled back tries it once more (after its administrator
 * fixed the cause). It counts as the confirmation of a slow link: asking
 * for the retry is the decision to watch it. */
enum http_result site_h_systems_retry(struct http_req *req, void *app)
{
	struct site *s = app;
	struct sitesys *ss = s->sitesys;
	const char *url;
	json_t *body = url_body(req, &url);
	char state[40] = "", target[PROTO_VERSION_MAX + 1] = "", *text = NULL;
	struct sysent *e;

	if (!body)
		return HTTP_DONE;
	pthread_mutex_lock(&ss->mu);
	e = find(ss, url);
	if (e) {
		snprintf(state, sizeof(state), "%s", state_of(ss, e));
		snprintf(target, sizeof(target), "%s", ss->target);
		if (strcmp(state, "upgrade_failed_rolled_back") == 0) {
			e->failed[0] = '\0';
			e->retry = true;
			e->confirmed = true;
			text = dump(ss);
		}
	}
	pthread_mutex_unlock(&ss->mu);
	if (!e)
		reply_error(req, 404, "site_system_not_found",
			    "stewardctl systems list shows the site systems this site has heard from",
			    "no site system %.255s", url);
	else if (!text)
		reply_error(req, 409, "site_system_not_failed",
			    "only an upgrade that rolled back is retried: stewardctl systems list "
			    "shows each system's state",
			    "site system %.255s is %s%s%s, not upgrade_failed_rolled_back", url, state,
			    target[0] ? " for target " : "", target);
	else {
		save(s, text);
		log_info("sitesystems", "retry", "url=%s version=%s by=%s", url, target, site_admin_who(req));
		site_h_systems_list(req, s);
	}
	json_decref(body);
	return HTTP_DONE;
}

/* ---- GET /api/v1/site/systems/plan: what a site system should run ---------------------- */

enum http_result site_h_systems_plan(struct http_req *req, void *app)
{
	struct site *s = app;
	struct sitesys *ss = s->sitesys;
	const char *h = http_req_header(req, SITE_SYSTEM_HEADER);
	char url[SS_URL_MAX + 1] = "", target[PROTO_VERSION_MAX + 1], why[400] = "";
	struct store_release *rows = NULL;
	struct content_release r;
	struct steward_err err;
	struct sysent *e;
	char *text = NULL;
	size_t n = 0, len = 0;
	bool go = false, retry = false;
	json_t *o;

	if (!h || sscanf(h, "%255s", url) != 1) {
		reply_error(req, 400, "bad_request", "only remote site systems ask for their plan",
			    "the request has no " SITE_SYSTEM_HEADER " header");
		return HTTP_DONE;
	}
	pthread_mutex_lock(&ss->mu);
	e = find(ss, url);
	snprintf(target, sizeof(target), "%s", ss->target);
	if (e && target[0] && strcmp(e->version, target) != 0) {
		if (strcmp(e->failed, target) == 0)
			snprintf(why, sizeof(why), "the upgrade to %s rolled back here", target);
		else if (e->slow && !e->confirmed)
			snprintf(why, sizeof(why),
				 "the link to %s is marked slow: waiting for an administrator "
				 "(stewardctl systems confirm %s)",
				 url, url);
		else
			go = true;
		retry = e->retry;
	}
	pthread_mutex_unlock(&ss->mu);
	memset(&r, 0, sizeof(r));
	memset(&err, 0, sizeof(err));
	if (go) {
		go = false;
		if (site_release_rows(s, &rows, &n) == 0)
			for (size_t i = 0; i < n && !go; i++)
				if (strcmp(rows[i].version, target) == 0 &&
				    site_release_manifest(s, rows[i].manifest, true, &r, &text, &len,
							  &err) == 0)
					go = true;
		if (!go)
			snprintf(why, sizeof(why), "release %s is not on the site server", target);
	}
	o = json_pack("{s:o,s:b,s:s,s:o,s:b}", "to", target[0] ? json_string(target) : json_null(),
		      "go", go, "reason", why, "manifest_text",
		      go ? json_stringn(text, len) : json_null(), "retry", go && retry);
	reply_json_obj(req, 200, o);
	content_release_clear(&r);
	free(text);
	free(rows);
	return HTTP_DONE;
}

bool site_system_protocol(struct site *s, const char *url, struct proto_range *out)
{
	struct sitesys *ss = s->sitesys;
	const struct sysent *e;
	bool known = false;

	if (!ss)
		return false;
	pthread_mutex_lock(&ss->mu);
	e = find(ss, url);
	known = e && proto_range_parse(e->protocol, out) == 0;
	pthread_mutex_unlock(&ss->mu);
	return known;
}

/* ---- the coordinated upgrade (hupgrade.c) ---------------------------------------------- */

#define SS_GONE_AFTER (7 * 86400) /* not seen for a week: no longer waited for */

int site_systems_at(struct site *s, const char *to, char *why, size_t whysz)
{
	struct sitesys *ss = s->sitesys;
	int64_t now = time_now_s();
	char *text = NULL;
	int rc = 1;

	why[0] = '\0';
	if (!ss)
		return 1;
	pthread_mutex_lock(&ss->mu);
	if (strcmp(ss->target, to) != 0) {
		/* what `systems upgrade --to` would do */
		snprintf(ss->target, sizeof(ss->target), "%s", to);
		for (size_t i = 0; i < ss->n; i++)
			ss->v[i].confirmed = false;
		text = dump(ss);
		log_info("sitesystems", "target", "version=%s by=\"the hierarchy upgrade\"", to);
	}
	for (size_t i = 0; i < ss->n && rc == 1; i++) {
		const struct sysent *e = &ss->v[i];
		const char *st = state_of(ss, e);

		if (now - e->last > SS_GONE_AFTER || strcmp(st, "current") == 0)
			continue;
		rc = strcmp(st, "upgrade_failed_rolled_back") == 0 ? -1 : 0;
		if (strcmp(st, "waiting_for_confirmation") == 0)
			snprintf(why, whysz,
				 "site system %s runs %s: waiting_for_confirmation (a slow link: "
				 "stewardctl systems confirm %s)",
				 e->url, e->version, e->url);
		else if (rc < 0)
			snprintf(why, whysz,
				 "site system %s runs %s: %s (fix the cause in its log, then "
				 "stewardctl systems retry %s at this site)",
				 e->url, e->version, st, e->url);
		else
			snprintf(why, whysz, "site system %s runs %s: %s", e->url, e->version, st);
	}
	pthread_mutex_unlock(&ss->mu);
	save(s, text);
	return rc;
}

json_t *site_systems_summary(struct site *s)
{
	struct sitesys *ss = s->sitesys;
	int64_t now = time_now_s();
	json_int_t n = 0, slow = 0;

	if (ss) {
		pthread_mutex_lock(&ss->mu);
		for (size_t i = 0; i < ss->n; i++)
			if (now - ss->v[i].last <= SS_GONE_AFTER) {
				n++;
				slow += ss->v[i].slow;
			}
		pthread_mutex_unlock(&ss->mu);
	}
	return json_pack("{s:I,s:I}", "count", n, "slow", slow);
}

json_t *site_systems_json(struct site *s)
{
	struct sitesys *ss = s->sitesys;
	int64_t now = time_now_s();
	json_t *a = json_array();

	if (!ss || !a)
		return a;
	pthread_mutex_lock(&ss->mu);
	for (size_t i = 0; i < ss->n; i++) {
		const struct sysent *e = &ss->v[i];

		if (now - e->last > SS_GONE_AFTER)
			continue;
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:o,s:b,s:b}", "url", e->url,
						   "roles", e->roles, "version", e->version,
						   "protocol", e->protocol, "last_seen",
						   time_json(e->last), "slow", e->slow, "confirmed",
						   e->confirmed));
	}
	pthread_mutex_unlock(&ss->mu);
	return a;
}

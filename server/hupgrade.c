/* hupgrade: the coordinated upgrade of a whole hierarchy to one release.
 *
 *   stewardctl hierarchy upgrade --to V --plan    the order and each site's readiness
 *   stewardctl hierarchy upgrade --to V           carry it out
 *   stewardctl hierarchy status                   how far it is
 *   stewardctl hierarchy upgrade --resume         go on after a halt, once fixed
 *
 * The site that runs it (usually the central one) keeps the plan in the
 * setting "hierarchy_upgrade" and moves it on from its main loop, so that
 * its own upgrade (which execs into the new version) and any restart leave
 * it where it was. The order keeps clients safe: installs and advertisements
 * are paused everywhere first; then this site upgrades itself; then each
 * level below, a level only once the one above runs V. A site is told with
 * a "site_upgrade" message down the links; it keeps the target (setting
 * "upgrade_target"), upgrades itself with the existing site upgrade (backup,
 * exec, rollback) once the release is there, and says how it went in an
 * object report. While a site has a target it does not run yet, it offers
 * neither its agents nor new machines that release (bootstrap.c): no client
 * moves before the site systems on its path. A failure or a site that does
 * not report within hierarchy_upgrade_timeout halts the rest, with the
 * reason; installs and advertisements stay paused until it is resumed and
 * done, when installs resume at a limited rate.
 * docs/hierarchy.md has the administrator's view.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "collections.h"
#include "site.h"

#define HU_SETTING "hierarchy_upgrade"
#define HU_TEXT_MAX (64u * 1024)
#define HU_SITES_MAX 256
#define HU_RATE_DEFAULT 100 /* installs per hour once done */

static const char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static json_t *hu_load(struct site *s)
{
	char *text = malloc(HU_TEXT_MAX + 1);
	json_t *o = NULL;

	if (text && s->store->ops->setting_get(s->store, HU_SETTING, text, HU_TEXT_MAX + 1) == 0)
		o = json_loads(text, 0, NULL);
	free(text);
	if (o && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int hu_save(struct site *s, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);
	int rc = text && strlen(text) <= HU_TEXT_MAX
		     ? s->store->ops->setting_set(s->store, HU_SETTING, text)
		     : -STEWARD_ETOOBIG;

	free(text);
	return rc;
}

/* ---- the plan ----------------------------------------------------------------------- */

/* Does release to have a site component, held here? */
static bool holds(struct site *s, const char *to)
{
	struct steward_err err;

	return site_upgrade_check(s, to, &err) == 0;
}

/* How the release went at a site below, as it reported (object reports). */
struct object_find {
	const char *site;
	char state[24], detail[STORE_OBJECT_DETAIL_MAX + 1];
	int64_t updated;
};

static int find_object(const struct store_site_object_row *o, void *ctx)
{
	struct object_find *f = ctx;

	if (strcmp(o->site, f->site) == 0) {
		snprintf(f->state, sizeof(f->state), "%s", o->state);
		snprintf(f->detail, sizeof(f->detail), "%s", o->detail);
		f->updated = o->updated;
	}
	return 0;
}

/* What site said of an object; nothing when it said it before since. */
static void object_state(struct site *s, const char *kind, const char *name, const char *site,
			 int64_t since, char *state, size_t ssz, char *detail, size_t dsz)
{
	struct object_find f = {.site = site};

	s->store->ops->site_object_list(s->store, kind, name, find_object, &f);
	if (f.updated < since)
		f.state[0] = f.detail[0] = '\0';
	snprintf(state, ssz, "%s", f.state);
	snprintf(detail, dsz, "%s", f.detail);
}

/* What a site said of its backup and its site systems (from its tree
 * report: another site's word, so every field is checked), for the plan:
 * the BACKUP and SYSTEMS texts, and why it cannot back up ("" it can). */
static void readiness_of(const json_t *v, char *backup, size_t bsz, char *systems, size_t ssz,
			 char *problem, size_t psz)
{
	const json_t *r = json_object_get(v, "readiness");
	const json_t *b = json_object_get(r, "backup"), *sy = json_object_get(r, "systems");
	const json_t *free_b = json_object_get(b, "free_bytes"), *n = json_object_get(sy, "count");
	const char *why = json_string_value(json_object_get(b, "problem"));
	const char *last = json_string_value(json_object_get(b, "last_backup"));

	problem[0] = '\0';
	if (!json_is_integer(free_b) || !why) {
		snprintf(backup, bsz, "not reported");
		snprintf(systems, ssz, "-");
		return;
	}
	if (*why) {
		snprintf(problem, psz, "%.300s", why);
		snprintf(backup, bsz, "CANNOT");
	} else {
		snprintf(backup, bsz, "ok, %lld MiB free%s%.20s",
			 (long long)(json_integer_value(free_b) >> 20), last ? "; last " : "",
			 last ? last : "");
	}
	if (!json_is_integer(n) || json_integer_value(n) <= 0)
		snprintf(systems, ssz, "-");
	else if (json_integer_value(json_object_get(sy, "slow")) > 0)
		snprintf(systems, ssz, "%lld (%lld slow)", (long long)json_integer_value(n),
			 (long long)json_integer_value(json_object_get(sy, "slow")));
	else
		snprintf(systems, ssz, "%lld", (long long)json_integer_value(n));
}

/* Walk the tree into a flat list, level by level (this site is level 0). */
static void flatten(json_t *node, int level, json_t *out)
{
	json_t *kids = json_object_get(node, "children"), *k;
	size_t i;

	if (json_array_size(out) >= HU_SITES_MAX)
		return;
	json_array_append_new(
	    out, json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:I,s:O}", "code", jstr(node, "code"), "name",
			   jstr(node, "name"), "version", jstr(node, "version"), "protocol",
			   jstr(node, "protocol"), "level", level, "link",
			   level ? jstr(node, "state") : "-", "backlog",
			   json_integer_value(json_object_get(node, "backlog_out_messages")),
			   "readiness",
			   json_is_object(json_object_get(node, "readiness"))
			       ? json_object_get(node, "readiness")
			       : json_null()));
	json_array_foreach(kids, i, k)
		flatten(k, level + 1, out);
}

/* The sites in upgrade order (by level, stable within one) with what is
 * known of each, and what is not ready. */
static json_t *plan_of(struct site *s, const char *to, json_t **blockers)
{
	json_t *tree = site_hierarchy_tree(s), *flat = json_array(), *sorted = json_array(), *v;
	size_t i;
	int maxlvl = 0;

	*blockers = json_array();
	if (!tree || !flat || !sorted || !*blockers) {
		json_decref(tree);
		json_decref(flat);
		json_decref(sorted);
		return NULL;
	}
	flatten(tree, 0, flat);
	json_decref(tree);
	json_array_foreach(flat, i, v)
		if (json_integer_value(json_object_get(v, "level")) > maxlvl)
			maxlvl = (int)json_integer_value(json_object_get(v, "level"));
	for (int lvl = 0; lvl <= maxlvl; lvl++)
		json_array_foreach(flat, i, v)
		{
			const char *code = jstr(v, "code"), *link = jstr(v, "link");
			char state[24] = "", detail[STORE_OBJECT_DETAIL_MAX + 1] = "", why[600];
			char backup[64], systems[32], problem[320];
			const char *release;

			if (json_integer_value(json_object_get(v, "level")) != lvl)
				continue;
			why[0] = '\0';
			if (lvl == 0) {
				release = holds(s, to) ? "here" : "missing";
				if (!holds(s, to) && strcmp(proto_self_version(), to) != 0)
					snprintf(why, sizeof(why), "release %s is not here (or holds no "
								   "stewardd): import it first",
						 to);
			} else {
				object_state(s, "release", to, code, 0, state, sizeof(state), detail,
					     sizeof(detail));
				release = strcmp(jstr(v, "version"), to) == 0 ? "runs it"
					  : state[0]			      ? state
									      : "not reported yet";
				if (strcmp(state, "refused") == 0)
					snprintf(why, sizeof(why), "site %s refused release %s: %s",
						 code, to, detail);
				else if (strcmp(link, "ok") != 0 && strncmp(link, "closed", 6) != 0)
					snprintf(why, sizeof(why), "the link to site %s is not ok: %s",
						 code, link);
			}
			if (!why[0] && proto_semver_cmp(jstr(v, "version"), to) > 0)
				snprintf(why, sizeof(why), "site %s runs %s, newer than %s", code,
					 jstr(v, "version"), to);
			readiness_of(v, backup, sizeof(backup), systems, sizeof(systems), problem,
				     sizeof(problem));
			if (!why[0] && problem[0] && strcmp(jstr(v, "version"), to) != 0)
				snprintf(why, sizeof(why),
					 "site %s cannot back up its database for the upgrade: %s", code,
					 problem);
			json_object_set_new(v, "release", json_string(release));
			json_object_set_new(v, "backup", json_string(backup));
			json_object_set_new(v, "systems", json_string(systems));
			if (why[0]) {
				json_object_set_new(v, "blocker", json_string(why));
				json_array_append_new(*blockers, json_string(why));
			}
			json_array_append(sorted, v);
		}
	json_decref(flat);
	return sorted;
}

json_t *site_hupgrade_plan(struct site *s, const char *to, json_t **blockers)
{
	json_t *plan = plan_of(s, to, blockers);

	if (!plan) {
		json_decref(*blockers);
		*blockers = NULL;
	}
	return plan;
}

bool site_hupgrade_matrix(const struct store_release *r, const char *version,
			  const char *protocol, char *why, size_t whysz)
{
	json_t *comps = json_loads(r->components, 0, NULL), *c;
	struct proto_range have, site = {0, -1};
	bool found = false;
	size_t i;

	why[0] = '\0';
	json_array_foreach(comps, i, c)
		if (strcmp(jstr(c, "kind"), "site") == 0 &&
		    proto_range_parse(jstr(c, "protocol"), &site) == 0)
			found = true;
	json_decref(comps);
	if (proto_semver_cmp(version, r->version) == 0)
		return true; /* runs it already */
	if (proto_semver_cmp(version, r->version) > 0)
		snprintf(why, whysz, "runs %s, newer than %s", version, r->version);
	else if (r->upgrade_from[0] && proto_semver_cmp(version, r->upgrade_from) < 0)
		snprintf(why, whysz,
			 "runs %s, older than %s, the oldest version release %s upgrades from: "
			 "upgrade through a release in between",
			 version, r->upgrade_from, r->version);
	else if (!found)
		snprintf(why, whysz, "release %s holds no stewardd", r->version);
	else if (proto_range_parse(protocol, &have) != 0)
		snprintf(why, whysz, "its protocol is not known yet");
	else if (have.max < site.min || have.min > site.max)
		snprintf(why, whysz,
			 "speaks protocol %d-%d, the stewardd of %s %d-%d: no protocol in common",
			 have.min, have.max, r->version, site.min, site.max);
	return why[0] == '\0';
}

/* ---- the routes ---------------------------------------------------------------------- */

/* Is name a collection here? (Each site evaluates it over its own clients.) */
static bool collection_known(struct site *s, const char *name)
{
	struct facts *f;
	struct coll_engine *e;
	bool known;

	site_colls_lock(s, &f, &e);
	known = coll_exists(e, name);
	site_colls_unlock(s);
	return known;
}

/* POST /api/v1/hierarchy/upgrade {"to": V, "plan": bool, "resume": bool,
 * "rate": N, "collection": NAME} */
enum http_result site_h_hierarchy_upgrade(struct http_req *req, void *app)
{
	struct site *s = app;
	json_t *body = admin_body(req), *state = NULL, *plan = NULL, *blockers = NULL, *sites, *v;
	json_t *jrate, *jcoll;
	const char *to, *coll;
	bool resume, dry;
	int x, y, z;
	size_t i;

	if (!body)
		return HTTP_DONE;
	to = json_string_value(json_object_get(body, "to"));
	resume = json_is_true(json_object_get(body, "resume"));
	dry = json_is_true(json_object_get(body, "plan"));
	jrate = json_object_get(body, "rate");
	jcoll = json_object_get(body, "collection");
	coll = json_string_value(jcoll);
	state = hu_load(s);
	if (resume) {
		if (!state || strcmp(jstr(state, "state"), "halted") != 0) {
			reply_error(req, 409, "hierarchy_upgrade_not_halted",
				    "stewardctl hierarchy status shows where it stands",
				    "no halted hierarchy upgrade to resume");
			goto out;
		}
		json_object_set_new(state, "state", json_string("running"));
		json_object_set_new(state, "reason", json_string(""));
		sites = json_object_get(state, "sites");
		json_array_foreach(sites, i, v)
			if (strcmp(jstr(v, "state"), "failed") == 0) {
				json_object_set_new(v, "state", json_string("pending"));
				json_object_set_new(v, "detail", json_string(""));
			}
		if (hu_save(s, state)) {
			reply_store_error(req, -STEWARD_ESTORE);
			goto out;
		}
		log_info("hupgrade", "resumed", "to=%s by=%s", jstr(state, "to"), site_admin_who(req));
		reply_json_obj(req, 200, json_incref(state));
		goto out;
	}
	if (!to || proto_semver_parse(to, &x, &y, &z) ||
	    (jrate && (!json_is_integer(jrate) || json_integer_value(jrate) < 1 ||
		       json_integer_value(jrate) > 100000))) {
		reply_error(req, 400, "bad_request",
			    "give --to X.Y.Z, a release this site holds (--rate N/hour: installs "
			    "afterwards)",
			    "'to' must be a version X.Y.Z and 'rate' 1 to 100000");
		goto out;
	}
	if (jcoll && (!coll || !*coll || strlen(coll) > STORE_COLLECTION_NAME_MAX ||
		      !str_printable(coll))) {
		reply_error(req, 400, "bad_request", "give --collection NAME, e.g. 'All Clients'",
			    "'collection' must be a collection name of 1 to %d characters",
			    STORE_COLLECTION_NAME_MAX);
		goto out;
	}
	if (coll && !collection_known(s, coll)) {
		reply_error(req, 404, "collection_not_found",
			    "stewardctl collections list shows the collections; every site must "
			    "have one of that name ('All Clients' always exists)",
			    "no collection '%.64s'", coll);
		goto out;
	}
	plan = plan_of(s, to, &blockers);
	if (!plan) {
		reply_store_error(req, -STEWARD_ESTORE);
		goto out;
	}
	if (dry) {
		reply_json_obj(req, 200,
			       json_pack("{s:s,s:O,s:O,s:b,s:s,s:s?}", "to", to, "sites", plan,
					 "blockers", blockers, "ready", json_array_size(blockers) == 0,
					 "pauses",
					 "installs and advertisements at every site until every site "
					 "runs the release; then installs resume at a limited rate",
					 "clients", coll));
		goto out;
	}
	if (state && strcmp(jstr(state, "state"), "running") == 0) {
		reply_error(req, 409, "hierarchy_upgrade_running",
			    "stewardctl hierarchy status shows how far it is",
			    "an upgrade of the hierarchy to %s is under way", jstr(state, "to"));
		goto out;
	}
	{
		/* one at a time: an upgrade ordered from above, not done here */
		char told[STORE_RELEASE_VERSION_MAX + 1];

		if (s->store->ops->setting_get(s->store, "upgrade_target", told, sizeof(told)) ==
			0 &&
		    told[0] && (!state || strcmp(jstr(state, "to"), told) != 0)) {
			reply_error(req, 409, "hierarchy_upgrade_running",
				    "let it finish, or stop it where it was started; stewardctl "
				    "hierarchy status here shows this site's part",
				    "this site is part of an upgrade of the hierarchy to %s ordered "
				    "from above, not done here yet",
				    told);
			goto out;
		}
	}
	if (json_array_size(blockers)) {
		reply_error(req, 409, "hierarchy_not_ready",
			    "see stewardctl hierarchy upgrade --to V --plan; fix what it lists first",
			    "the hierarchy is not ready for %s: %s", to,
			    json_string_value(json_array_get(blockers, 0)));
		goto out;
	}
	json_decref(state);
	state = json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:O}", "to", to, "state", "running", "started",
			  (json_int_t)time_now_s(), "by", site_admin_who(req), "reason", "", "rate",
			  (json_int_t)(jrate ? json_integer_value(jrate) : HU_RATE_DEFAULT),
			  "sites", plan);
	if (state && coll)
		json_object_set_new(state, "clients", json_string(coll));
	sites = json_object_get(state, "sites");
	json_array_foreach(sites, i, v)
	{
		json_object_set_new(v, "state", json_string("pending"));
		json_object_set_new(v, "detail", json_string(""));
		json_object_set_new(v, "since", json_integer(0));
	}
	/* the pauses first, everywhere: nothing installs or runs while sites move */
	if (site_hierarchy_cascade(s, "installs_paused", true, "installs_pause_reason",
				   "the hierarchy is being upgraded") ||
	    site_hierarchy_cascade(s, "adverts_paused", true, "adverts_pause_reason",
				   "the hierarchy is being upgraded") ||
	    s->store->ops->setting_set(s->store, "installs_paused", "1") ||
	    s->store->ops->setting_set(s->store, "installs_pause_reason",
				       "the hierarchy is being upgraded") ||
	    s->store->ops->setting_set(s->store, "adverts_paused", "1") ||
	    s->store->ops->setting_set(s->store, "adverts_pause_reason",
				       "the hierarchy is being upgraded") ||
	    hu_save(s, state)) {
		reply_store_error(req, -STEWARD_ESTORE);
		goto out;
	}
	site_bootstrap_reload(s);
	site_swdist_reload(s);
	log_info("hupgrade", "started", "to=%s sites=%zu by=%s", to, json_array_size(sites),
		 site_admin_who(req));
	reply_json_obj(req, 202, json_incref(state));
out:
	json_decref(plan);
	json_decref(blockers);
	json_decref(state);
	json_decref(body);
	return HTTP_DONE;
}

/* GET /api/v1/hierarchy/upgrade */
enum http_result site_h_hierarchy_status(struct http_req *req, void *app)
{
	struct site *s = app;
	json_t *state = hu_load(s);

	char text[STORE_OBJECT_DETAIL_MAX + 256], told[STORE_RELEASE_VERSION_MAX + 1] = "";
	json_t *said = NULL;

	if (state) {
		reply_json_obj(req, 200, state);
		return HTTP_DONE;
	}
	/* none started here: this site's part in one ordered from above */
	s->store->ops->setting_get(s->store, "upgrade_target", told, sizeof(told));
	if (s->store->ops->setting_get(s->store, "upgrade_said", text, sizeof(text)) == 0)
		said = json_loads(text, 0, NULL);
	if (!json_is_object(said) || !*jstr(said, "to")) {
		json_decref(said);
		reply_error(req, 404, "hierarchy_upgrade_none",
			    "start one: stewardctl hierarchy upgrade --to V (--plan first)",
			    "no upgrade of the hierarchy was started from this site, and none "
			    "from above has reached it");
		return HTTP_DONE;
	}
	reply_json_obj(req, 200,
		       json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:o,s:b}}", "to", jstr(said, "to"),
				 "state", "ordered_from_above", "this_site", "code",
				 s->cfg.site_code, "state", jstr(said, "state"), "detail",
				 jstr(said, "detail"),
				 "since", time_json(json_integer_value(json_object_get(said, "at"))),
				 "pending", strcmp(told, jstr(said, "to")) == 0));
	json_decref(said);
	return HTTP_DONE;
}

/* ---- moving it on (the main loop, every second) --------------------------------------- */

static void halt(json_t *state, json_t *site, const char *why)
{
	char own[32];
	size_t n = (size_t)snprintf(own, sizeof(own), "site %s: ", jstr(site, "code"));

	/* the site's row says what happened there; the reason names the site */
	json_object_set_new(site, "state", json_string("failed"));
	json_object_set_new(site, "detail",
			    json_string(strncmp(why, own, n) == 0 ? why + n : why));
	json_object_set_new(state, "state", json_string("halted"));
	json_object_set_new(state, "reason", json_string(why));
	log_error("hupgrade", "halted", "to=%s site=%s why=\"%s\"", jstr(state, "to"),
		  jstr(site, "code"), why);
}

/* What this site last said of its upgrade (upgrade_said), for its own
 * driver: the central site has no parent to report to. */
static void said_here(struct site *s, const char *to, char *state, size_t ssz, char *detail,
		      size_t dsz)
{
	char text[STORE_OBJECT_DETAIL_MAX + 256];
	json_t *o = NULL;

	state[0] = detail[0] = '\0';
	if (s->store->ops->setting_get(s->store, "upgrade_said", text, sizeof(text)) == 0)
		o = json_loads(text, 0, NULL);
	if (o && strcmp(jstr(o, "to"), to) == 0) {
		snprintf(state, ssz, "%s", jstr(o, "state"));
		snprintf(detail, dsz, "%s", jstr(o, "detail"));
	}
	json_decref(o);
}

/* Tell site code (this one at level 0) to upgrade: the order resets what
 * it tried and said, so it tries afresh and says it again. */
static int tell(struct site *s, const char *to, const char *code, int lvl)
{
	json_t *cmd;
	int rc;

	if (lvl == 0)
		return s->store->ops->setting_set(s->store, "upgrade_said", "") ||
		       s->store->ops->setting_set(s->store, "upgrade_state", "") ||
		       s->store->ops->setting_set(s->store, "upgrade_target", to);
	cmd = json_pack("{s:s,s:s,s:b}", "to", to, "site", code, "cascade", 1);
	rc = cmd ? site_hierarchy_down(s, 0, "site_upgrade", cmd) : -STEWARD_ENOMEM;
	json_decref(cmd);
	return rc;
}

static void drive(struct site *s, json_t *state)
{
	const char *to = jstr(state, "to");
	json_t *sites = json_object_get(state, "sites"), *v;
	int64_t now = time_now_s();
	bool changed = false, all_done = true;
	int level_open = -1; /* the first level not done */
	size_t i;

	json_array_foreach(sites, i, v)
	{
		const char *code = jstr(v, "code"), *st = jstr(v, "state");
		int lvl = (int)json_integer_value(json_object_get(v, "level"));
		int64_t since = json_integer_value(json_object_get(v, "since"));
		char ostate[24], detail[STORE_OBJECT_DETAIL_MAX + 1], why[700];

		if (strcmp(st, "done") == 0)
			continue;
		all_done = false;
		if (level_open < 0)
			level_open = lvl;
		if (lvl != level_open)
			continue;
		if (strcmp(st, "pending") == 0) {
			json_object_set_new(v, "state", json_string("upgrading"));
			json_object_set_new(v, "since", json_integer(now));
			changed = true;
			if (tell(s, to, code, lvl) != 0) {
				snprintf(why, sizeof(why), "site %s: the order could not be queued", code);
				halt(state, v, why);
			}
			continue;
		}
		/* upgrading: what did it say since it was told? */
		if (lvl == 0)
			said_here(s, to, ostate, sizeof(ostate), detail, sizeof(detail));
		else
			object_state(s, "site_upgrade", to, code, since, ostate, sizeof(ostate),
				     detail, sizeof(detail));
		if (strcmp(ostate, "done") == 0) {
			json_object_set_new(v, "state", json_string("done"));
			json_object_set_new(v, "version", json_string(to));
			json_object_set_new(v, "detail", json_string(""));
			log_info("hupgrade", "site_done", "to=%s site=%s", to, code);
			changed = true;
		} else if (strcmp(ostate, "failed") == 0) {
			snprintf(why, sizeof(why), "site %s: %s", code, detail);
			halt(state, v, why);
			changed = true;
		} else if (now - since > s->cfg.hierarchy_upgrade_timeout) {
			snprintf(why, sizeof(why),
				 "site %s did not run %s within %llds (last said: %s%s%s)", code, to,
				 (long long)s->cfg.hierarchy_upgrade_timeout,
				 ostate[0] ? ostate : "nothing", detail[0] ? ": " : "", detail);
			halt(state, v, why);
			changed = true;
		} else if (strcmp(jstr(v, "detail"), detail) != 0) {
			json_object_set_new(v, "detail", json_string(detail));
			changed = true;
		}
	}
	if (all_done && strcmp(jstr(state, "state"), "running") == 0) {
		char rate[24];
		json_t *set;

		/* every site runs it: installs again, at a limited rate, and adverts */
		snprintf(rate, sizeof(rate), "%lld",
			 (long long)json_integer_value(json_object_get(state, "rate")));
		set = json_pack("{s:s,s:s,s:s,s:s,s:s}", "installs_paused", "0",
				"installs_pause_reason", "", "installs_rate", rate, "adverts_paused",
				"0", "adverts_pause_reason", "");
		s->store->ops->setting_set(s->store, "installs_rate", rate);
		/* and the agents of that collection, at every site, are offered it */
		if (set && *jstr(state, "clients")) {
			json_object_set_new(set, "client_upgrade_collection",
					    json_string(jstr(state, "clients")));
			s->store->ops->setting_set(s->store, "client_upgrade_collection",
						   jstr(state, "clients"));
		}
		if (!set || site_hierarchy_settings(s, set))
			log_error("hupgrade", "resume_below_failed",
				  "to=%s action=\"stewardctl site resume-installs --hierarchy\"", to);
		json_decref(set);
		s->store->ops->setting_set(s->store, "installs_paused", "0");
		s->store->ops->setting_set(s->store, "adverts_paused", "0");
		site_bootstrap_reload(s);
		site_swdist_reload(s);
		json_object_set_new(state, "state", json_string("done"));
		json_object_set_new(state, "ended", json_integer(now));
		log_info("hupgrade", "done", "to=%s sites=%zu", to, json_array_size(sites));
		changed = true;
	}
	if (changed)
		hu_save(s, state);
}

/* A site told to upgrade (the settings upgrade_target, upgrade_state and
 * upgrade_said, set together by the order): once the release is here, the
 * existing site upgrade; then its remote site systems; how it goes goes up.
 * upgrade_state is "" (not tried), "trying" (saved before the exec: back at
 * the old version means it failed) or "failed" (said so; the target stays,
 * holding clients back, until a new order or the version runs). */
static void target_state(struct site *s, const char *state)
{
	s->store->ops->setting_set(s->store, "upgrade_state", state);
}

/* Say it, once per change: up the links, and here for the central site. */
static void say(struct site *s, const char *to, const char *state, const char *detail)
{
	char ostate[24], odetail[STORE_OBJECT_DETAIL_MAX + 1];
	json_t *o;
	char *text;

	said_here(s, to, ostate, sizeof(ostate), odetail, sizeof(odetail));
	if (strcmp(ostate, state) == 0 && strcmp(odetail, detail) == 0)
		return;
	o = json_pack("{s:s,s:s,s:s,s:I}", "to", to, "state", state, "detail", detail, "at",
		      (json_int_t)time_now_s());
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text)
		s->store->ops->setting_set(s->store, "upgrade_said", text);
	free(text);
	json_decref(o);
	site_hierarchy_report(s, "site_upgrade", to, state, detail);
}

static void follow_target(struct site *s)
{
	char to[STORE_RELEASE_VERSION_MAX + 1], state[16] = "", back[32];
	char why[STORE_OBJECT_DETAIL_MAX + 1];
	struct steward_err err = {.code = ""};

	if (s->store->ops->setting_get(s->store, "upgrade_target", to, sizeof(to)) != 0 || !to[0])
		return;
	s->store->ops->setting_get(s->store, "upgrade_state", state, sizeof(state));
	if (strcmp(to, proto_self_version()) == 0) {
		/* this stewardd runs it, and its watch has ended well; then the
		 * site systems its clients use */
		int64_t until;
		int at;

		if (site_upgrade_watching(s, &until)) {
			char ts[32];

			time_rfc3339(until, ts);
			snprintf(why, sizeof(why),
				 "watching the new version until %s (site_upgrade_watch)", ts);
			say(s, to, "waiting", why);
			return;
		}
		at = site_systems_at(s, to, why, sizeof(why));
		if (at == 0) {
			say(s, to, "waiting", why);
			return;
		}
		if (at < 0) {
			target_state(s, "failed");
			say(s, to, "failed", why);
			return;
		}
		s->store->ops->setting_set(s->store, "upgrade_target", "");
		target_state(s, "");
		say(s, to, "done", "");
		log_info("hupgrade", "this_site_done", "to=%s", to);
		return;
	}
	if (strcmp(state, "failed") == 0 || atomic_load(&s->upgrading))
		return;
	if (strcmp(state, "trying") == 0) {
		char reason[400] = "";

		/* started, and this is still the old version: it was rolled back */
		if (!site_upgrade_rolled_back_why(s, back, sizeof(back), reason, sizeof(reason)) ||
		    strcmp(back, to) != 0)
			snprintf(reason, sizeof(reason), "the new version did not come up");
		snprintf(why, sizeof(why),
			 "the upgrade failed and was rolled back to %s: %s (stewardctl site show on "
			 "that site says more)",
			 proto_self_version(), reason);
		target_state(s, "failed");
		say(s, to, "failed", why);
		log_error("hupgrade", "this_site_failed", "to=%s why=\"%s\"", to, reason);
		return;
	}
	if (!holds(s, to)) {
		say(s, to, "waiting", "the release is not here yet");
		return;
	}
	target_state(s, "trying");
	say(s, to, "upgrading", "");
	log_info("hupgrade", "this_site_upgrading", "to=%s", to);
	if (site_upgrade_to(s, to, "the hierarchy upgrade", &err) != 0) {
		snprintf(why, sizeof(why), "%s: %.400s", err.code, err.message);
		target_state(s, "failed");
		say(s, to, "failed", why);
		log_error("hupgrade", "this_site_failed", "to=%s why=\"%s\"", to, why);
	}
}

void site_hupgrade_tick(struct site *s)
{
	json_t *state;

	follow_target(s);
	state = hu_load(s);
	if (state && strcmp(jstr(state, "state"), "running") == 0)
		drive(s, state);
	json_decref(state);
}

bool site_hupgrade_holds(struct site *s, const char *version)
{
	char to[STORE_RELEASE_VERSION_MAX + 1];

	/* a site told to upgrade to version offers it to no client before it
	 * and its site systems run it */
	return s->store->ops->setting_get(s->store, "upgrade_target", to, sizeof(to)) == 0 &&
	       strcmp(to, version) == 0;
}

/* readiness: the administrator's checklist before an upgrade, as software.
 *
 *   stewardctl upgrade check --to V      GET /api/v1/upgrade/check?to=V
 *
 * Read-only: every item says pass, warn or fail, the facts it judged from
 * and the remedy. An item fails when the upgrade must not start as things
 * are (installs running unchecked here, advertisements due while sites
 * move, sites or site systems the release cannot take, too little disk);
 * it warns when the administrator should look (a state not known, slow
 * links, old consoles, no recent backup). docs/upgrading.md, "Readiness
 * check", has the administrator's view.
 *
 * It also keeps the check-in history the quiet-period suggestion comes
 * from: accepted check-ins counted per hour of the week in struct site
 * (atomic adds on the check-in path, no lock), saved in the setting
 * "checkin_hours" (JSON, 168 integers) every CHECKIN_HOURS_SAVE_S and at a
 * clean stop, loaded at start.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <jansson.h>

#include "site.h"

#define CHECKIN_HOURS_SETTING  "checkin_hours"
#define CHECKIN_HOURS_TEXT_MAX (CORE_SCHEDULE_HOURS * 21 + 8)
#define CHECKIN_HOURS_SAVE_S   300
#define ADVERTS_AHEAD_S	       (24 * 3600) /* adverts that would start during an upgrade */
#define BACKUP_RECENT_S	       (7 * 86400)
#define DISK_MARGIN	       (256ull << 20) /* beyond the database twice and the release */
#define ITEM_LIST_MAX	       50	      /* lines listed per item; the rest counted */

/* ---- the check-in history ------------------------------------------------------------- */

void site_readiness_load(struct site *s)
{
	char text[CHECKIN_HOURS_TEXT_MAX + 1];
	json_t *a = NULL, *v;
	size_t i;

	s->checkin_hours_saved = time_now_s();
	if (s->store->ops->setting_get(s->store, CHECKIN_HOURS_SETTING, text, sizeof(text)) != 0)
		return;
	a = json_loads(text, 0, NULL);
	if (!json_is_array(a) || json_array_size(a) != CORE_SCHEDULE_HOURS) {
		log_warn("readiness", "checkin_hours_ignored",
			 "reason=\"the setting %s is not an array of %d integers\"",
			 CHECKIN_HOURS_SETTING, CORE_SCHEDULE_HOURS);
		json_decref(a);
		return;
	}
	json_array_foreach(a, i, v) if (json_is_integer(v) && json_integer_value(v) > 0)
	    atomic_store_explicit(&s->checkin_hours[i], (uint64_t)json_integer_value(v),
				  memory_order_relaxed);
	json_decref(a);
}

void site_readiness_save(struct site *s)
{
	char text[CHECKIN_HOURS_TEXT_MAX + 1];
	size_t n = 0;
	int rc;

	if (!s->store)
		return;
	for (int h = 0; h < CORE_SCHEDULE_HOURS; h++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%c%llu", h ? ',' : '[',
				      (unsigned long long)atomic_load_explicit(
					  &s->checkin_hours[h], memory_order_relaxed));
	snprintf(text + n, sizeof(text) - n, "]");
	rc = s->store->ops->setting_set(s->store, CHECKIN_HOURS_SETTING, text);
	if (rc)
		log_warn("readiness", "checkin_hours_not_saved", "error=\"%s\"",
			 steward_strerror(rc));
	s->checkin_hours_saved = time_now_s();
}

void site_readiness_tick(struct site *s)
{
	if (time_now_s() - s->checkin_hours_saved >= CHECKIN_HOURS_SAVE_S)
		site_readiness_save(s);
}

json_t *site_readiness_installs(struct site *s)
{
	json_t *o = json_object(), *in;
	json_t *r;

	if (!o)
		return NULL;
	site_bootstrap_show(s, o);
	in = json_object_get(o, "installs");
	r = json_pack("{s:b,s:b,s:I}", "enrollment_point", in != NULL, "paused",
		      json_is_true(json_object_get(in, "paused")), "rate_per_hour",
		      json_integer_value(json_object_get(in, "rate_per_hour")));
	json_decref(o);
	return r;
}

/* ---- items ------------------------------------------------------------------------------ */

enum result { PASS, WARN, FAIL };
static const char *const result_names[] = {"pass", "warn", "fail"};

struct check {
	struct site *s;
	const char *to;
	const struct store_release *rel;
	int64_t now;
	json_t *items;
	int failed, warned;
	json_t *suggested; /* RFC 3339 or null */
};

struct item {
	enum result result;
	json_t *facts; /* array of lines */
	char remedy[512];
};

static void fact(struct item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fact(struct item *it, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	json_array_append_new(it->facts, json_string(line));
}

static void worse(struct item *it, enum result r)
{
	if (r > it->result)
		it->result = r;
}

/* Add it (its facts taken) as item id, with data (taken; may be NULL). */
static void add(struct check *c, const char *id, const char *title, struct item *it, json_t *data)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:s}", "id", id, "title", title, "result",
			      result_names[it->result], "facts", it->facts, "remedy",
			      it->result == PASS ? "" : it->remedy);

	if (o && data)
		json_object_set_new(o, "data", data);
	else
		json_decref(data);
	if (o)
		json_array_append_new(c->items, o);
	c->failed += it->result == FAIL;
	c->warned += it->result == WARN;
}

static void item_init(struct item *it)
{
	it->result = PASS;
	it->facts = json_array();
	it->remedy[0] = '\0';
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static int64_t parse_rfc3339(const char *t)
{
	struct tm tm;
	int y, mo, d, h, mi, sec;

	if (!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &sec) != 6)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (int64_t)timegm(&tm);
}

/* 1. installs: paused or limited at every enrollment point serving clients */
static void installs_below(json_t *node, struct item *it, json_t *below)
{
	json_t *k, *in;
	size_t i;

	json_array_foreach(json_object_get(node, "children"), i, k)
	{
		const char *code = jstr(k, "code");

		in = json_object_get(json_object_get(k, "readiness"), "installs");
		if (!json_is_object(in)) {
			worse(it, WARN);
			fact(it,
			     "site %s (below, runs %s): not known (it has not reported its "
			     "installs; a site older than this one never does)",
			     code, jstr(k, "version"));
			json_array_append_new(
			    below, json_pack("{s:s,s:s}", "site", code, "installs", "unknown"));
		} else if (!json_is_true(json_object_get(in, "enrollment_point"))) {
			fact(it, "site %s (below): runs no enrollment point", code);
			json_array_append_new(
			    below, json_pack("{s:s,s:s}", "site", code, "installs", "none"));
		} else if (json_is_true(json_object_get(in, "paused"))) {
			fact(it, "site %s (below): paused", code);
			json_array_append_new(
			    below, json_pack("{s:s,s:s}", "site", code, "installs", "paused"));
		} else if (json_integer_value(json_object_get(in, "rate_per_hour")) > 0) {
			fact(it, "site %s (below): limited to %lld per hour", code,
			     (long long)json_integer_value(json_object_get(in, "rate_per_hour")));
			json_array_append_new(
			    below, json_pack("{s:s,s:s}", "site", code, "installs", "limited"));
		} else {
			worse(it, WARN);
			fact(it, "site %s (below): installs run without a limit", code);
			json_array_append_new(
			    below, json_pack("{s:s,s:s}", "site", code, "installs", "running"));
		}
		installs_below(k, it, below);
	}
}

static void item_installs(struct check *c, json_t *tree)
{
	json_t *here = site_readiness_installs(c->s), *below = json_array();
	struct item it;

	item_init(&it);
	if (!json_is_true(json_object_get(here, "enrollment_point")))
		fact(&it, "this site (%s): runs no enrollment point", c->s->cfg.site_code);
	else if (json_is_true(json_object_get(here, "paused")))
		fact(&it, "this site (%s): paused", c->s->cfg.site_code);
	else if (json_integer_value(json_object_get(here, "rate_per_hour")) > 0)
		fact(&it, "this site (%s): limited to %lld per hour", c->s->cfg.site_code,
		     (long long)json_integer_value(json_object_get(here, "rate_per_hour")));
	else {
		worse(&it, FAIL);
		fact(&it,
		     "this site (%s): installs run without a limit: new machines would "
		     "install while the site moves",
		     c->s->cfg.site_code);
	}
	installs_below(tree, &it, below);
	snprintf(it.remedy, sizeof(it.remedy),
		 "stewardctl site pause-installs [--hierarchy] (sites below too), or stewardctl "
		 "site resume-installs --rate N/hour");
	add(c, "installs", "installs paused or rate-limited", &it,
	    json_pack("{s:o,s:o}", "here", here ? here : json_null(), "below", below));
}

/* 2. adverts: paused, or those that would start within ADVERTS_AHEAD_S */
struct due {
	int64_t from, until;
	json_t *list;
	size_t n;
};

static int advert_due(const struct store_advert *a, void *ctx)
{
	struct due *d = ctx;
	int64_t next;

	if (!a->enabled || a->mandatory <= 0)
		return 0;
	next = a->mandatory;
	if (next < d->from && a->recurring > 0)
		next += (d->from - next + a->recurring - 1) / a->recurring * a->recurring;
	if (next < d->from || next >= d->until || (a->expires > 0 && next >= a->expires))
		return 0;
	d->n++;
	if (json_array_size(d->list) < ITEM_LIST_MAX)
		json_array_append_new(d->list,
				      json_pack("{s:s,s:s,s:o,s:I}", "name", a->name, "collection",
						a->collection, "starts", time_json(next),
						"recurring", (json_int_t)a->recurring));
	return 0;
}

static void item_adverts(struct check *c)
{
	json_t *o = json_object(), *v;
	struct due d = {c->now, c->now + ADVERTS_AHEAD_S, json_array(), 0};
	struct item it;
	size_t i;
	int rc;

	item_init(&it);
	site_swdist_show(c->s, o);
	snprintf(it.remedy, sizeof(it.remedy), "stewardctl site pause-adverts [--hierarchy]");
	if (json_is_true(json_object_get(o, "adverts_paused"))) {
		fact(&it, "advertisements are paused (%s)",
		     *jstr(o, "adverts_pause_reason") ? jstr(o, "adverts_pause_reason")
						      : "no reason given");
	} else if ((rc = c->s->store->ops->advert_list(c->s->store, advert_due, &d)) != 0) {
		worse(&it, WARN);
		fact(&it, "cannot list the advertisements: %s", steward_strerror(rc));
	} else if (d.n == 0) {
		/* nothing due, but nothing stops one made or moved meanwhile */
		worse(&it, WARN);
		fact(&it, "advertisements are not paused; none is mandatory within the next 24 h");
	} else {
		worse(&it, FAIL);
		fact(&it,
		     "advertisements are not paused; %zu would start within the next 24 h, "
		     "while sites move:",
		     d.n);
		json_array_foreach(d.list, i, v)
		    fact(&it, "  %s (collection '%s') at %s%s", jstr(v, "name"),
			 jstr(v, "collection"), jstr(v, "starts"),
			 json_integer_value(json_object_get(v, "recurring")) ? ", recurring" : "");
	}
	add(c, "adverts", "advertisements paused", &it,
	    json_pack("{s:b,s:o}", "paused", json_is_true(json_object_get(o, "adverts_paused")),
		      "due", d.list));
	json_decref(o);
}

/* 3. versions: every site (the plan of hierarchy upgrade) and site system */
static void item_versions(struct check *c)
{
	json_t *blockers = NULL, *plan = site_hupgrade_plan(c->s, c->to, &blockers), *v;
	json_t *systems = site_systems_json(c->s), *sites = json_array(), *sys = json_array();
	struct item it;
	char why[600];
	size_t i;

	item_init(&it);
	snprintf(it.remedy, sizeof(it.remedy),
		 "fix what each line names; stewardctl hierarchy upgrade --to %s --plan shows "
		 "the order",
		 c->to);
	if (!plan) {
		worse(&it, WARN);
		fact(&it, "cannot read the hierarchy from the site database");
	}
	json_array_foreach(plan, i, v)
	{
		const char *blocker = jstr(v, "blocker");

		if (!*blocker && !site_hupgrade_matrix(c->rel, jstr(v, "version"),
						       jstr(v, "protocol"), why, sizeof(why)))
			blocker = why;
		if (*blocker)
			worse(&it, FAIL);
		fact(&it, "site %s (level %lld): %s, protocol %s: %s%s", jstr(v, "code"),
		     (long long)json_integer_value(json_object_get(v, "level")), jstr(v, "version"),
		     jstr(v, "protocol"), *blocker ? "NOT READY: " : "can go to ",
		     *blocker ? blocker : c->to);
		json_array_append_new(
		    sites, json_pack("{s:s,s:s,s:s,s:O,s:s}", "code", jstr(v, "code"), "version",
				     jstr(v, "version"), "protocol", jstr(v, "protocol"), "level",
				     json_object_get(v, "level"), "blocker", blocker));
	}
	json_array_foreach(systems, i, v)
	{
		bool ok = site_hupgrade_matrix(c->rel, jstr(v, "version"), jstr(v, "protocol"), why,
					       sizeof(why));

		if (!ok)
			worse(&it, FAIL);
		fact(&it, "site system %s (%s): %s, protocol %s: %s%s", jstr(v, "url"),
		     jstr(v, "roles"), jstr(v, "version"), jstr(v, "protocol"),
		     ok ? "can go to " : "NOT READY: ", ok ? c->to : why);
		json_array_append_new(sys,
				      json_pack("{s:s,s:s,s:s,s:s}", "url", jstr(v, "url"),
						"version", jstr(v, "version"), "protocol",
						jstr(v, "protocol"), "blocker", ok ? "" : why));
	}
	if (json_array_size(systems) == 0)
		fact(&it, "no remote site system called this site in the last week");
	add(c, "versions", "every site and site system can go to the release", &it,
	    json_pack("{s:s,s:s,s:o,s:o}", "to", c->to, "upgrade_from", c->rel->upgrade_from,
		      "sites", sites, "systems", sys));
	json_decref(plan);
	json_decref(blockers);
	json_decref(systems);
}

/* 4. site systems behind slow links: their upgrade waits for a confirmation */
static void item_slow_systems(struct check *c, json_t *systems)
{
	json_t *v, *slow = json_array();
	struct item it;
	size_t i;

	item_init(&it);
	json_array_foreach(systems, i, v)
	{
		if (!json_is_true(json_object_get(v, "slow")))
			continue;
		worse(&it, WARN);
		fact(&it,
		     "%s runs %s behind a link marked slow: its upgrade waits for "
		     "stewardctl systems confirm %s",
		     jstr(v, "url"), jstr(v, "version"), jstr(v, "url"));
		json_array_append_new(slow, json_string(jstr(v, "url")));
	}
	if (json_array_size(slow) == 0)
		fact(&it, "no site system seen in the last week is marked slow");
	snprintf(it.remedy, sizeof(it.remedy),
		 "plan someone to confirm each one during the upgrade (stewardctl systems "
		 "confirm URL), or confirm it ahead");
	add(c, "slow_systems", "site systems behind slow links", &it,
	    json_pack("{s:o}", "slow", slow));
}

/* 5. clients behind slow links: what the site knows today */
struct slow_clients {
	struct site *s;
	json_t *slow_urls;
	int64_t total, slow;
	int64_t on_slow, on_metered; /* by their link class (clientlink.c) */
};

static int client_slow(const struct store_client *cl, void *ctx)
{
	struct slow_clients *sc = ctx;
	json_t *addrs, *dps, *u;
	const char *first, *addr;
	size_t i;

	if (cl->state != CLIENT_APPROVED)
		return 0;
	sc->total++;
	if (cl->link[0]) {
		json_t *l = site_link_json(cl->link);
		const char *cls = json_string_value(json_object_get(l, "class"));

		if (cls && strcmp(cls, "slow") == 0)
			sc->on_slow++;
		if (cls && strcmp(cls, "metered") == 0)
			sc->on_metered++;
		json_decref(l);
	}
	addrs = json_loads(cl->addresses, 0, NULL);
	addr = json_string_value(json_array_get(addrs, 0));
	dps = site_swdist_dps(sc->s, addr);
	first = json_string_value(json_array_get(dps, 0));
	json_array_foreach(sc->slow_urls, i,
			   u) if (first && strcmp(first, json_string_value(u)) == 0)
	{
		sc->slow++;
		break;
	}
	json_decref(dps);
	json_decref(addrs);
	return 0;
}

static void item_slow_clients(struct check *c, json_t *systems)
{
	struct slow_clients sc = {c->s, json_array(), 0, 0, 0, 0};
	json_t *v;
	struct item it;
	size_t i;
	int rc;

	item_init(&it);
	json_array_foreach(systems, i, v) if (json_is_true(json_object_get(v, "slow")))
	    json_array_append_new(sc.slow_urls, json_string(jstr(v, "url")));
	rc = c->s->store->ops->client_list(c->s->store, false, client_slow, &sc);
	if (rc) {
		worse(&it, WARN);
		fact(&it, "cannot list the clients: %s", steward_strerror(rc));
	} else {
		if (sc.slow)
			worse(&it, WARN);
		fact(&it,
		     "%lld of %lld approved clients of this site are served first by a "
		     "distribution point marked slow",
		     (long long)sc.slow, (long long)sc.total);
		fact(&it,
		     "%lld are on a slow link and %lld on a metered link by their last "
		     "measurement or boundary: rollouts and advertisements defer them unless "
		     "their --links says otherwise (docs/slow-links.md)",
		     (long long)sc.on_slow, (long long)sc.on_metered);
		fact(&it,
		     "counted from: each client's first address at enrollment, matched "
		     "against the boundaries of distribution_point, and the site systems "
		     "marked slow (stewardctl systems slow); the link classes from what each "
		     "agent last reported; clients of sites below are not counted here");
	}
	snprintf(it.remedy, sizeof(it.remedy),
		 "offer them the release later: upgrade the agents by a collection that leaves "
		 "them out (stewardctl site client-upgrade --collection NAME)");
	add(c, "slow_clients", "clients behind slow or metered links", &it,
	    json_pack("{s:I,s:I,s:s}", "slow", (json_int_t)sc.slow, "approved",
		      (json_int_t)sc.total, "basis",
		      "first enrollment address -> nearest distribution point marked slow"));
	json_decref(sc.slow_urls);
}

/* 6. consoles seen at versions older than the release */
static void item_consoles(struct check *c)
{
	json_t *o = json_object(), *v, *old = json_array();
	struct item it;
	size_t i;

	item_init(&it);
	site_consoles_show(c->s, o);
	json_array_foreach(json_object_get(o, "consoles"), i, v)
	{
		char last[32];

		if (proto_semver_cmp(jstr(v, "version"), c->to) >= 0)
			continue;
		worse(&it, WARN);
		time_rfc3339(json_integer_value(json_object_get(v, "last")), last);
		fact(&it, "%s from %s runs stewardctl %s (last seen %s)", jstr(v, "admin"),
		     jstr(v, "address"), jstr(v, "version"), last);
		json_array_append_new(old, json_pack("{s:s,s:s,s:s,s:s}", "admin", jstr(v, "admin"),
						     "address", jstr(v, "address"), "version",
						     jstr(v, "version"), "last_seen", last));
	}
	if (json_array_size(old) == 0)
		fact(&it, "no console seen in the last 30 days runs a version older than %s",
		     c->to);
	snprintf(it.remedy, sizeof(it.remedy),
		 "update each one (stewardctl self-update) before or right after the upgrade");
	add(c, "consoles", "consoles older than the release", &it, json_pack("{s:o}", "old", old));
	json_decref(o);
}

/* 7. backup and disk */
static void item_backup(struct check *c)
{
	json_t *r = site_upgrade_readiness(c->s);
	uint64_t db = (uint64_t)json_integer_value(json_object_get(r, "db_bytes"));
	uint64_t avail = (uint64_t)json_integer_value(json_object_get(r, "free_bytes"));
	uint64_t rel = c->rel->bytes > 0 ? (uint64_t)c->rel->bytes : 0;
	uint64_t need = db * 2 + rel + DISK_MARGIN;
	int64_t last = parse_rfc3339(json_string_value(json_object_get(r, "last_backup")));
	struct item it;

	item_init(&it);
	if (*jstr(r, "problem")) {
		worse(&it, FAIL);
		fact(&it, "the upgrade cannot back up the database: %s", jstr(r, "problem"));
	}
	fact(&it,
	     "%llu MiB free under %s; the upgrade needs %llu MiB (database %llu MiB x 2 "
	     "+ release %llu MiB + %llu MiB margin)",
	     (unsigned long long)(avail >> 20), c->s->cfg.data_dir,
	     (unsigned long long)(need >> 20), (unsigned long long)(db >> 20),
	     (unsigned long long)(rel >> 20), (unsigned long long)(DISK_MARGIN >> 20));
	if (avail < need)
		worse(&it, FAIL);
	if (!last) {
		worse(&it, WARN);
		fact(&it, "no database backup in %s/backups yet (the upgrade makes one first)",
		     c->s->cfg.data_dir);
	} else if (c->now - last > BACKUP_RECENT_S) {
		worse(&it, WARN);
		fact(&it,
		     "the newest database backup is from %s, more than 7 days ago (the "
		     "upgrade makes one first)",
		     jstr(r, "last_backup"));
	} else {
		fact(&it, "the newest database backup is from %s", jstr(r, "last_backup"));
	}
	snprintf(it.remedy, sizeof(it.remedy),
		 it.result == FAIL ? "free at least %llu MiB under %s (or fix what is named) "
				     "before the upgrade"
				   : "keep a backup of your own too: the upgrade's is in "
				     "DATA_DIR/backups (%llu MiB needed under %s)",
		 (unsigned long long)(need >> 20), c->s->cfg.data_dir);
	add(c, "backup", "database backup and free disk", &it,
	    json_pack("{s:I,s:I,s:I,s:I,s:o}", "db_bytes", (json_int_t)db, "release_bytes",
		      (json_int_t)rel, "free_bytes", (json_int_t)avail, "needed_bytes",
		      (json_int_t)need, "last_backup", last ? time_json(last) : json_null()));
	json_decref(r);
}

/* 8. quiet period: the next start of the quietest 3 hours of the week */
static void item_quiet(struct check *c)
{
	static const char *const days[] = {"Monday", "Tuesday",	 "Wednesday", "Thursday",
					   "Friday", "Saturday", "Sunday"};
	uint64_t counts[CORE_SCHEDULE_HOURS], total = 0, sum = 0;
	int hour = -1;
	int64_t start;
	struct item it;

	item_init(&it);
	for (int h = 0; h < CORE_SCHEDULE_HOURS; h++)
		total += counts[h] =
		    atomic_load_explicit(&c->s->checkin_hours[h], memory_order_relaxed);
	start = core_quiet_next(counts, CORE_QUIET_SPAN_HOURS, c->now, &hour, &sum);
	if (start < 0) {
		worse(&it, WARN);
		fact(&it, "no check-ins counted yet: there is no history to find a quiet period "
			  "in");
		snprintf(it.remedy, sizeof(it.remedy),
			 "choose --start yourself, or run the check again after a week of "
			 "check-ins");
		c->suggested = json_null();
		add(c, "quiet", "quiet period for --start", &it,
		    json_pack("{s:I,s:n}", "checkins", (json_int_t)total, "start"));
		return;
	}
	c->suggested = time_json(start);
	fact(&it,
	     "the quietest %d hours of the week begin %s %02d:00 UTC: %llu of %llu "
	     "check-ins counted",
	     CORE_QUIET_SPAN_HOURS, days[hour / 24], hour % 24, (unsigned long long)sum,
	     (unsigned long long)total);
	fact(&it,
	     "suggested --start %s (counted per hour of the week since the site "
	     "started keeping the history)",
	     json_string_value(c->suggested));
	if (total < CORE_SCHEDULE_HOURS) {
		/* fewer than one a hour: the quiet hours may only be unseen ones */
		worse(&it, WARN);
		fact(&it,
		     "only %llu check-ins counted so far: the suggestion says little until "
		     "a week of check-ins is counted",
		     (unsigned long long)total);
		snprintf(it.remedy, sizeof(it.remedy),
			 "choose --start yourself, or run the check again after a week of "
			 "check-ins");
	}
	add(c, "quiet", "quiet period for --start", &it,
	    json_pack("{s:I,s:I,s:i,s:O}", "checkins", (json_int_t)total, "span_checkins",
		      (json_int_t)sum, "hour_of_week", hour, "start", c->suggested));
}

/* ---- rollouts and maintenance windows ------------------------------------------------------
 * A rollout that moves clients to another release while the sites move
 * fails the check (pause it); one of the target release waits for the
 * sites by itself (site_release_choose's rule: no client ahead of its
 * site), which is worth knowing; paused and halted ones are listed. The
 * maintenance windows are listed with their next opening: rollouts to
 * clients start only inside them. */
static void items_rollouts(struct check *c)
{
	json_t *ro = site_rollouts_summary(c->s), *wins = site_windows_json(c->s), *r;
	struct item it;
	size_t i;

	item_init(&it);
	snprintf(it.remedy, sizeof(it.remedy), "stewardctl rollouts pause NAME (resume it after the "
					       "upgrade)");
	json_array_foreach(ro, i, r)
	{
		const char *st = jstr(r, "state");
		bool moving = strcmp(st, "running") == 0 || strcmp(st, "scheduled") == 0 ||
			      strcmp(st, "rolling_back") == 0 || strcmp(st, "completed") == 0;

		if (moving && strcmp(jstr(r, "release"), c->to) != 0) {
			worse(&it, strcmp(st, "completed") == 0 ? WARN : FAIL);
			fact(&it, "rollout %s (%s) moves clients of '%s' to %s: wave %lld of %lld, %lld of "
				  "%lld clients done",
			     jstr(r, "name"), st, jstr(r, "collection"), jstr(r, "release"),
			     (long long)json_integer_value(json_object_get(r, "wave")),
			     (long long)json_integer_value(json_object_get(r, "waves_total")),
			     (long long)json_integer_value(json_object_get(r, "succeeded")),
			     (long long)json_integer_value(json_object_get(r, "clients")));
		} else {
			worse(&it, WARN);
			fact(&it, "rollout %s (%s) of %s to '%s'%s", jstr(r, "name"), st,
			     jstr(r, "release"), jstr(r, "collection"),
			     strcmp(jstr(r, "release"), c->to) == 0
				 ? ": its clients wait until their site runs it"
				 : "");
		}
	}
	if (!json_array_size(ro))
		fact(&it, "no rollout moves clients");
	json_array_foreach(wins, i, r)
	    fact(&it, "maintenance window %s of '%s': %s for %s (%s), next opens %s",
		 jstr(r, "name"), jstr(r, "collection"), jstr(r, "weekly"), jstr(r, "duration"),
		 jstr(r, "tz"), jstr(r, "next_open"));
	add(c, "rollouts", "rollouts to clients", &it,
	    json_pack("{s:o,s:o}", "rollouts", ro ? ro : json_array(), "windows",
		      wins ? wins : json_array()));
}

/* ---- the route ---------------------------------------------------------------------------- */

/* GET /api/v1/upgrade/check?to=V */
enum http_result site_h_upgrade_check(struct http_req *req, void *app)
{
	struct site *s = app;
	const char *to = http_req_query(req, "to");
	struct store_release *rows = NULL;
	const struct store_release *rel = NULL;
	struct check c = {.s = s, .now = time_now_s()};
	json_t *tree = NULL, *systems = NULL;
	size_t n = 0;
	int x, y, z, rc;

	if (!to || !*to || strlen(to) > STORE_RELEASE_VERSION_MAX ||
	    proto_semver_parse(to, &x, &y, &z) != 0) {
		reply_error(req, 400, "bad_request",
			    "give ?to=X.Y.Z, a release this site holds (stewardctl releases list)",
			    "'to' must be a version X.Y.Z of at most %d characters",
			    STORE_RELEASE_VERSION_MAX);
		return HTTP_DONE;
	}
	rc = site_release_rows(s, &rows, &n);
	if (rc) {
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	for (size_t i = 0; i < n && !rel; i++)
		if (strcmp(rows[i].version, to) == 0)
			rel = &rows[i];
	if (!rel) {
		reply_error(req, 404, "release_not_found",
			    "import it first: stewardctl releases import FILE (stewardctl releases "
			    "list shows what this site holds)",
			    "no release %s on this site", to);
		goto out;
	}
	c.to = rel->version;
	c.rel = rel;
	c.items = json_array();
	tree = site_hierarchy_tree(s);
	systems = site_systems_json(s);
	if (!c.items || !tree || !systems) {
		reply_store_error(req, -STEWARD_ESTORE);
		goto out;
	}
	item_installs(&c, tree);
	item_adverts(&c);
	item_versions(&c);
	item_slow_systems(&c, systems);
	item_slow_clients(&c, systems);
	item_consoles(&c);
	item_backup(&c);
	item_quiet(&c);
	items_rollouts(&c);
	reply_json_obj(req, 200,
		       json_pack("{s:s,s:s,s:O,s:i,s:i,s:O}", "to", c.to, "site", s->cfg.site_code,
				 "items", c.items, "failed", c.failed, "warned", c.warned,
				 "suggested_start", c.suggested ? c.suggested : json_null()));
out:
	json_decref(c.items);
	json_decref(c.suggested);
	json_decref(tree);
	json_decref(systems);
	free(rows);
	return HTTP_DONE;
}

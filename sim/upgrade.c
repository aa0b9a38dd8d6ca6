/* sim/upgrade: virtual clients take client upgrades as the real agent does
 * (agent/upgrade.c), cheaply.
 *
 * A check-in reply's client_upgrade with a manifest is an offer. The client
 * checks its shape, skips what the agent would not take (the version it
 * runs, a release that failed here before, an older release without a
 * rollback authorization, an expired one), and otherwise downloads ONE
 * blob, the offered component's bin/steward-agent, from the first
 * distribution point; fleet.c does the download and, --upgrade-delay
 * later, the switch (up_switch). Whether a switch fails is decided by the
 * client id and the release, never by chance, so a rerun fails the same
 * clients. The outcome is told at the next check-in in the agent's words
 * (up_report), which is what the site parses (site_releases_checkin_status).
 *
 * Offers are kept once per distinct offer (SIM_OFFERS_MAX) and versions once
 * per distinct string (SIM_VERSIONS_MAX): 10,000 clients taking the same
 * release parse its manifest once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include "sim.h"

#define DP_URL_MAX	  512
#define CONTENT_TOKEN_MAX 1024
#define AGENT_FILE	  "bin/steward-agent"

int up_init(struct sim_upgrades *u, const char *agent_version, uint32_t fail_bp,
	    const char *fail_release)
{
	memset(u, 0, sizeof(*u));
	u->fail_bp = fail_bp;
	snprintf(u->fail_release, sizeof(u->fail_release), "%s", fail_release ? fail_release : "");
	u->vers = calloc(SIM_VERSIONS_MAX, sizeof(*u->vers));
	u->offers = calloc(SIM_OFFERS_MAX, sizeof(*u->offers));
	if (!u->vers || !u->offers)
		return -STEWARD_ENOMEM;
	u->n_vers = 1;	 /* 0 is "" */
	u->n_offers = 1; /* 0 is none */
	u->initial = up_intern(u, agent_version);
	return u->initial ? 0 : -STEWARD_EINVAL;
}

void up_free(struct sim_upgrades *u)
{
	for (uint32_t i = 0; u->offers && i < u->n_offers; i++) {
		free(u->offers[i].manifest);
		free(u->offers[i].dp);
		free(u->offers[i].url);
	}
	free(u->offers);
	free(u->vers);
	memset(u, 0, sizeof(*u));
}

uint16_t up_intern(struct sim_upgrades *u, const char *v)
{
	int x, y, z;

	if (!v || strlen(v) > CONTENT_VERSION_MAX || proto_semver_parse(v, &x, &y, &z) != 0)
		return 0;
	for (uint32_t i = 1; i < u->n_vers; i++)
		if (strcmp(u->vers[i], v) == 0)
			return (uint16_t)i;
	if (u->n_vers >= SIM_VERSIONS_MAX)
		return 0;
	snprintf(u->vers[u->n_vers], sizeof(u->vers[0]), "%s", v);
	return (uint16_t)u->n_vers++;
}

const char *up_str(const struct sim_upgrades *u, uint16_t i)
{
	return i < u->n_vers ? u->vers[i] : "";
}

void up_client_init(const struct sim_upgrades *u, struct sim_vup *v)
{
	memset(v, 0, sizeof(*v));
	v->ver = v->inv = v->newest = u->initial;
}

static int vcmp(const struct sim_upgrades *u, uint16_t a, uint16_t b)
{
	return a == b ? 0 : proto_semver_cmp(up_str(u, a), up_str(u, b));
}

static const char *jstr(json_t *o, const char *name, size_t max)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s && *s && strlen(s) <= max ? s : NULL;
}

/* The offer o as an entry of the table (found, or parsed and added); 0
 * with key set when it is not one the agent could take. */
static uint16_t offer_find(struct sim_upgrades *u, json_t *o, uint16_t rel, uint16_t ver,
			   uint16_t inv, const char *component, char key[SIM_KEY_MAX])
{
	json_t *jm = json_object_get(o, "manifest");
	const char *text = json_string_value(jm);
	size_t len = json_string_length(jm);
	const char *dp = json_string_value(json_array_get(json_object_get(o, "dps"), 0));
	bool rollback = json_is_string(json_object_get(o, "rollback_authorization"));
	const struct content_component *c;
	const struct content_release_file *file = NULL;
	struct content_release r;
	struct steward_err err;
	struct sim_offer *e;

	if (!dp || !*dp || strlen(dp) > DP_URL_MAX || !str_printable(dp) ||
	    (strncmp(dp, "http://", 7) != 0 && strncmp(dp, "https://", 8) != 0)) {
		snprintf(key, SIM_KEY_MAX, "bad_offer_dps");
		return 0;
	}
	for (uint32_t i = 1; i < u->n_offers; i++) {
		e = &u->offers[i];
		if (e->release == rel && e->version == ver && e->inv == inv &&
		    e->rollback == rollback && e->manifest_len == len &&
		    strcmp(e->component, component) == 0 && strcmp(e->dp, dp) == 0 &&
		    memcmp(e->manifest, text, len) == 0)
			return (uint16_t)i;
	}
	if (u->n_offers >= SIM_OFFERS_MAX) {
		snprintf(key, SIM_KEY_MAX, "sim_offers_full");
		return 0;
	}
	/* first sight: parse it as the agent does (signature by the key the
	 * text names; the sim trusts every release key) */
	memset(&r, 0, sizeof(r));
	memset(&err, 0, sizeof(err));
	if (content_release_parse(text, len, NULL, 0, &r, &err) != 0) {
		snprintf(key, SIM_KEY_MAX, "bad_offer_manifest");
		return 0;
	}
	c = content_release_component(&r, component);
	if (!c || c->kind != CONTENT_KIND_BASE || strcmp(c->version, up_str(u, ver)) != 0 ||
	    strcmp(r.version, up_str(u, rel)) != 0) {
		snprintf(key, SIM_KEY_MAX, "bad_offer_component");
		goto fail;
	}
	/* bin/steward-agent, else the component's first file */
	for (size_t i = 0; i < r.n_files; i++) {
		if (strcmp(r.files[i].component, component) != 0)
			continue;
		if (!file || strcmp(r.files[i].path, AGENT_FILE) == 0)
			file = &r.files[i];
		if (strcmp(file->path, AGENT_FILE) == 0)
			break;
	}
	if (!file) {
		snprintf(key, SIM_KEY_MAX, "bad_offer_files");
		goto fail;
	}
	e = &u->offers[u->n_offers];
	memset(e, 0, sizeof(*e));
	e->release = rel;
	e->version = ver;
	e->inv = inv;
	e->rollback = rollback;
	e->expires = r.expires;
	e->size = file->size;
	snprintf(e->component, sizeof(e->component), "%s", component);
	e->manifest = malloc(len + 1);
	e->dp = strdup(dp);
	if (e->manifest)
		memcpy(e->manifest, text, len + 1);
	e->manifest_len = len;
	if (!e->manifest || !e->dp ||
	    asprintf(&e->url, "%s%s/content/%s", dp, dp[strlen(dp) - 1] == '/' ? "" : "",
		     file->hash) < 0) {
		free(e->manifest);
		free(e->dp);
		memset(e, 0, sizeof(*e));
		snprintf(key, SIM_KEY_MAX, "internal");
		goto fail;
	}
	content_release_clear(&r);
	return (uint16_t)u->n_offers++;
fail:
	content_release_clear(&r);
	return 0;
}

enum sim_up_take up_offer(struct sim_upgrades *u, struct sim_vup *v, json_t *o, int64_t now,
			  char key[SIM_KEY_MAX])
{
	const char *version, *release, *component, *token, *inv_s;
	uint16_t ver, rel, inv, idx;
	struct sim_offer *e;

	/* not an offer: none, or the site says why not (not_offered) */
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "manifest")))
		return SIM_TAKE_NONE;
	version = jstr(o, "version", CONTENT_VERSION_MAX);
	release = jstr(o, "release", CONTENT_VERSION_MAX);
	component = jstr(o, "component", CONTENT_COMPONENT_NAME_MAX);
	token = jstr(o, "content_token", CONTENT_TOKEN_MAX);
	inv_s = json_string_value(json_object_get(json_object_get(o, "optional"), "inventory"));
	if (!version || !release || !component || !token ||
	    json_string_length(json_object_get(o, "manifest")) > CONTENT_RELEASE_MAX ||
	    !json_is_array(json_object_get(o, "dps")) ||
	    strcspn(token, " \t\r\n") != strlen(token) || !str_printable(token)) {
		snprintf(key, SIM_KEY_MAX, "bad_offer");
		return SIM_TAKE_BAD;
	}
	ver = up_intern(u, version);
	rel = up_intern(u, release);
	inv = inv_s ? up_intern(u, inv_s) : ver;
	if (!ver || !rel || !inv) {
		snprintf(key, SIM_KEY_MAX, "bad_offer_version");
		return SIM_TAKE_BAD;
	}
	/* what runs here already (the base, and the optional inventory) */
	if (ver == v->ver && (!inv_s || inv == v->inv))
		return SIM_TAKE_NONE;
	if (v->stage != SIM_UP_NONE)
		return SIM_TAKE_NONE; /* one upgrade at a time */
	if (rel == v->failed) {
		/* "it failed here before and was rolled back": once per release */
		if (v->seen != rel) {
			v->seen = rel;
			u->n.skipped++;
		}
		return SIM_TAKE_SKIP;
	}
	idx = offer_find(u, o, rel, ver, inv, component, key);
	if (!idx)
		return SIM_TAKE_BAD;
	e = &u->offers[idx];
	/* release_allowed: expired, or older than what ran here without the
	 * release key's authorization (its signature is not checked here) */
	if (e->expires <= now || (vcmp(u, rel, v->newest) < 0 && !e->rollback)) {
		if (v->seen != rel) {
			v->seen = rel;
			u->n.skipped++;
			if (e->expires > now && v->report == SIM_REP_NONE) {
				v->report = SIM_REP_OLDER;
				v->report_rel = rel;
			}
		}
		return SIM_TAKE_SKIP;
	}
	free(v->auth);
	if (asprintf(&v->auth, "Authorization: Steward-Content %s", token) < 0) {
		v->auth = NULL;
		snprintf(key, SIM_KEY_MAX, "internal");
		return SIM_TAKE_BAD;
	}
	if (v->seen != rel) {
		v->seen = rel;
		u->n.offered++;
	}
	v->offer = idx;
	v->stage = SIM_UP_FETCH;
	return SIM_TAKE_FETCH;
}

bool up_fails(const struct sim_upgrades *u, const char *id_hex, const char *rel)
{
	char in[PROTO_CLIENT_ID_HEX + CONTENT_VERSION_MAX + 2], h[CONTENT_HASH_HEX + 1];
	unsigned long x;

	if (u->fail_bp == 0 || (u->fail_release[0] && strcmp(u->fail_release, rel) != 0))
		return false;
	snprintf(in, sizeof(in), "%s %s", id_hex, rel);
	content_hash_buf(in, strlen(in), h);
	h[8] = '\0';
	x = strtoul(h, NULL, 16);
	return x % 10000 < u->fail_bp;
}

void up_switch(struct sim_upgrades *u, struct sim_vup *v, const char *id_hex)
{
	const struct sim_offer *e = &u->offers[v->offer];

	v->report_rel = e->release;
	if (up_fails(u, id_hex, up_str(u, e->release))) {
		v->failed = e->release;
		v->report = SIM_REP_ROLLED_BACK;
		u->n.failed++;
	} else {
		v->ver = e->version;
		v->inv = e->inv;
		v->slot ^= 1;
		/* what ran here is anti-rollback's floor */
		if (vcmp(u, e->release, v->newest) > 0)
			v->newest = e->release;
		if (vcmp(u, e->version, v->newest) > 0)
			v->newest = e->version;
		v->report = SIM_REP_SUCCEEDED;
		u->n.succeeded++;
	}
	v->stage = SIM_UP_NONE;
	v->offer = 0;
	v->seen = 0;
	v->fetch_fails = 0;
}

bool up_report(const struct sim_upgrades *u, const struct sim_vup *v, struct proto_status_msg *m,
	       int64_t now)
{
	const char *rel = up_str(u, v->report_rel);

	memset(m, 0, sizeof(*m));
	m->time = now;
	switch (v->report) {
	case SIM_REP_SUCCEEDED:
		snprintf(m->type, sizeof(m->type), "upgrade_succeeded");
		snprintf(m->text, sizeof(m->text), "now running %s (slot %c)", rel,
			 v->slot ? 'B' : 'A');
		return true;
	case SIM_REP_ROLLED_BACK:
		snprintf(m->type, sizeof(m->type), "upgrade_failed_rolled_back");
		snprintf(m->text, sizeof(m->text),
			 "upgrade to %s failed and was rolled back to %s: simulated failure", rel,
			 up_str(u, v->ver));
		return true;
	case SIM_REP_FETCH_FAILED:
		snprintf(m->type, sizeof(m->type), "upgrade_failed");
		if (v->fetch_status)
			snprintf(m->text, sizeof(m->text),
				 "upgrade to %s: the distribution point answered HTTP %u", rel,
				 (unsigned)v->fetch_status);
		else
			snprintf(m->text, sizeof(m->text),
				 "upgrade to %s: the download from the distribution point failed",
				 rel);
		return true;
	case SIM_REP_OLDER:
		snprintf(m->type, sizeof(m->type), "release_older");
		snprintf(
		    m->text, sizeof(m->text),
		    "release %s is older than %s, which ran here: the offer carries no "
		    "rollback authorization (remedy: to take agents back on purpose, sign a "
		    "rollback authorization (stewardctl releases rollback-sign) and import the "
		    "release with --rollback --authorization)",
		    rel, up_str(u, v->newest));
		return true;
	default:
		return false;
	}
}

static const char *const report_names[] = {
    [SIM_REP_NONE] = "none",
    [SIM_REP_SUCCEEDED] = "succeeded",
    [SIM_REP_ROLLED_BACK] = "rolled_back",
    [SIM_REP_FETCH_FAILED] = "fetch_failed",
    [SIM_REP_OLDER] = "older",
};

int up_state_format(const struct sim_upgrades *u, const struct sim_vup *v, struct buf *b)
{
	int rc = buf_printf(b, " v=%s inv=%s newest=%s slot=%c", up_str(u, v->ver),
			    up_str(u, v->inv), up_str(u, v->newest), v->slot ? 'B' : 'A');

	if (!rc && v->failed)
		rc = buf_printf(b, " failed=%s", up_str(u, v->failed));
	/* a download failure is not worth keeping; an outcome is */
	if (!rc && (v->report == SIM_REP_SUCCEEDED || v->report == SIM_REP_ROLLED_BACK))
		rc = buf_printf(b, " report=%s:%s", report_names[v->report],
				up_str(u, v->report_rel));
	return rc;
}

int up_state_parse(struct sim_upgrades *u, struct sim_vup *v, const char *tail)
{
	char field[96], *eq, *val;
	int n = 0;

	while (tail && sscanf(tail, " %95s%n", field, &n) == 1) {
		uint16_t i = 0;

		tail += n;
		eq = strchr(field, '=');
		if (!eq)
			return -STEWARD_EINVAL;
		*eq = '\0';
		val = eq + 1;
		if (strcmp(field, "slot") == 0) {
			if (strcmp(val, "A") && strcmp(val, "B"))
				return -STEWARD_EINVAL;
			v->slot = val[0] == 'B';
			continue;
		}
		if (strcmp(field, "report") == 0) {
			char *colon = strchr(val, ':');

			if (!colon)
				return -STEWARD_EINVAL;
			*colon = '\0';
			if (strcmp(val, "succeeded") == 0)
				v->report = SIM_REP_SUCCEEDED;
			else if (strcmp(val, "rolled_back") == 0)
				v->report = SIM_REP_ROLLED_BACK;
			else
				return -STEWARD_EINVAL;
			if (!(v->report_rel = up_intern(u, colon + 1)))
				return -STEWARD_EINVAL;
			continue;
		}
		if (strcmp(field, "v") && strcmp(field, "inv") && strcmp(field, "newest") &&
		    strcmp(field, "failed"))
			continue; /* a later sim's field */
		if (!(i = up_intern(u, val)))
			return -STEWARD_EINVAL;
		if (strcmp(field, "v") == 0)
			v->ver = i;
		else if (strcmp(field, "inv") == 0)
			v->inv = i;
		else if (strcmp(field, "newest") == 0)
			v->newest = i;
		else
			v->failed = i;
	}
	return 0;
}

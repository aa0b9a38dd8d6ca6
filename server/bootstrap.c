/* bootstrap: installing clients the way a logon script does.
 *
 *   curl -fsS http://SITE:8420/bootstrap.sh | sh -s -- --token T [--prefix DIR]
 *
 * GET /bootstrap.sh answers a POSIX sh script: a header naming this site
 * and the release it offers, the signed release manifest, and the body in
 * server/bootstrap.sh. The script installs the agent component of that
 * release under PREFIX, checking every file against the manifest, enrolls
 * with the token and starts the agent. A site whose installs are paused,
 * or that has no release to offer, answers a script that says why and
 * exits 1 before it touches anything; it is still a 200, because
 * `curl -f ... | sh` would turn any other status into an empty script that
 * "succeeds".
 *
 * The release offered is the newest one whose agent (its base component)
 * speaks a protocol this site speaks, that has not expired and whose key
 * the site still trusts, unless a compatible older release was imported
 * later as an explicit rollback: then the latest such rollback.
 *
 * POST /bootstrap/claim is the script asking to install now. It is where
 * a pause and the rate of `site resume-installs --rate N/hour` are
 * enforced, so a machine that is already installed (a logon script runs
 * at every logon) never uses up a slot. GET /bootstrap/files/HASH serves
 * the files of the offered agent and nothing else, through the
 * distribution point's download path (sendfile, Range, dp_max_downloads).
 *
 * docs/internals/bootstrap.md has the whole exchange.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "collections.h"
#include "site.h"

#define BOOT_RATE_MAX	  100000 /* installs per hour */
#define BOOT_WINDOW_S	  3600
#define BOOT_HOST_MAX	  255
#define BOOT_PAUSED_RETRY "600"
#define BOOT_AGENT_BINARY "bin/steward-agent" /* what the script runs */
#define BOOT_LAUNCHER_BINARY "bin/steward-launcher"
#define BOOT_WHY_MAX	  320
#define BOOT_OFFER_TTL_US (5 * 1000000LL) /* how long a chosen offer is reused */

extern const char site_bootstrap_body[]; /* server/bootstrap.sh, embedded by the build */
extern const size_t site_bootstrap_body_len;

#define BOOT_OPTIONAL_MAX 8
#define BOOT_EXTRA_MAX 4

/* An optional component that travels in the agent's slot. */
struct boot_component {
	char name[CONTENT_COMPONENT_NAME_MAX + 1];
	char version[CONTENT_VERSION_MAX + 1];
};

/* The release offered, cached by the hash of its manifest. */
struct boot_offer {
	char version[CONTENT_VERSION_MAX + 1];
	char manifest[CONTENT_HASH_HEX + 1];
	char component[CONTENT_COMPONENT_NAME_MAX + 1];
	char *text;
	size_t len;
	char *deltas; /* the release's delta list (release.deltas), NULL: none */
	size_t deltas_len;
	char (*hashes)[CONTENT_HASH_HEX + 1]; /* the component's files */
	size_t n_hashes;
	char agent_version[CONTENT_VERSION_MAX + 1]; /* the component's version */
	struct proto_range agent_proto;		     /* and the protocols it speaks */
	char launcher[CONTENT_COMPONENT_NAME_MAX + 1]; /* its launcher component, "" */
	struct boot_component optional[BOOT_OPTIONAL_MAX];
	size_t n_optional;
	bool rollback;				     /* imported as a rollback */
	int64_t expires;			     /* the release's expiry */
	char upgrade_from[CONTENT_VERSION_MAX + 1];
	char rollback_auth[CONTENT_STATEMENT_MAX + 1]; /* its rollback authorization, "" */
};

struct boot {
	pthread_mutex_t mu; /* guards everything below */
	bool paused;
	char reason[PROTO_REASON_MAX + 1];
	unsigned rate;	  /* installs per hour; 0: no limit */
	int64_t *claims;  /* ring of the claim times of the last hour */
	size_t head, n;	  /* oldest entry, entries */
	/* what installed agents are offered, and what new machines install:
	 * the same release unless it failed somewhere (then the newest good
	 * one before it); why, when there is none */
	struct boot_offer offer, install;
	char offer_why[BOOT_WHY_MAX], install_why[BOOT_WHY_MAX];
	struct json_t *relkeys; /* site_release_keys_json, made with the offer */
	int64_t refreshed_us; /* when both were last chosen (monotonic) */
	uint64_t scripts, claimed, refused;
	/* installed agents in this collection are offered the release: "" none */
	char upgrade_coll[STORE_COLLECTION_NAME_MAX + 1];
	uint64_t upgrades_offered;
	/* releases a rollout offers besides the newest (a hop on an upgrade
	 * path, the target of an older rollout, a rollback), by version */
	struct boot_offer extra[BOOT_EXTRA_MAX];
	unsigned extra_next;
};

static struct boot *boot_of(struct site *s)
{
	return s->boot;
}

static void offer_clear(struct boot_offer *o)
{
	free(o->text);
	free(o->deltas);
	free(o->hashes);
	memset(o, 0, sizeof(*o));
}

/* Keep only the claims of the last hour. */
static void claims_prune(struct boot *b, int64_t now)
{
	while (b->n && b->claims[b->head] <= now - BOOT_WINDOW_S) {
		b->head = (b->head + 1) % b->rate;
		b->n--;
	}
}

/* A new rate: the ring starts empty (its size is the rate). */
static int set_rate(struct boot *b, unsigned rate)
{
	int64_t *ring = NULL;

	if (rate) {
		ring = calloc(rate, sizeof(*ring));
		if (!ring)
			return -STEWARD_ENOMEM;
	}
	free(b->claims);
	b->claims = ring;
	b->rate = rate;
	b->head = b->n = 0;
	return 0;
}

int site_bootstrap_load(struct site *s)
{
	struct boot *b = calloc(1, sizeof(*b));
	char v[PROTO_REASON_MAX + 1];
	long rate = 0;

	if (!b)
		return -STEWARD_ENOMEM;
	pthread_mutex_init(&b->mu, NULL);
	if (s->store->ops->setting_get(s->store, "installs_paused", v, sizeof(v)) == 0)
		b->paused = strcmp(v, "1") == 0;
	if (s->store->ops->setting_get(s->store, "installs_pause_reason", v, sizeof(v)) == 0)
		snprintf(b->reason, sizeof(b->reason), "%s", v);
	if (s->store->ops->setting_get(s->store, "installs_rate", v, sizeof(v)) == 0)
		rate = strtol(v, NULL, 10);
	if (s->store->ops->setting_get(s->store, "client_upgrade_collection", v, sizeof(v)) == 0)
		snprintf(b->upgrade_coll, sizeof(b->upgrade_coll), "%.64s", v);
	if (rate < 0 || rate > BOOT_RATE_MAX)
		rate = 0;
	if (set_rate(b, (unsigned)rate)) {
		free(b);
		return -STEWARD_ENOMEM;
	}
	s->boot = b;
	log_info("bootstrap", "loaded", "installs_paused=%d rate_per_hour=%ld", (int)b->paused,
		 rate);
	return 0;
}

void site_bootstrap_reload(struct site *s)
{
	struct boot *b = boot_of(s);
	char v[PROTO_REASON_MAX + 1];
	bool was;

	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	was = b->paused;
	if (s->store->ops->setting_get(s->store, "installs_paused", v, sizeof(v)) == 0)
		b->paused = strcmp(v, "1") == 0;
	if (s->store->ops->setting_get(s->store, "installs_pause_reason", v, sizeof(v)) == 0)
		snprintf(b->reason, sizeof(b->reason), "%s", v);
	if (s->store->ops->setting_get(s->store, "client_upgrade_collection", v, sizeof(v)) == 0 &&
	    strcmp(v, b->upgrade_coll) != 0) {
		snprintf(b->upgrade_coll, sizeof(b->upgrade_coll), "%.64s", v);
		log_info("bootstrap", v[0] ? "client_upgrade_on" : "client_upgrade_off",
			 "collection=\"%s\" by=\"the parent site\"", b->upgrade_coll);
	}
	/* the rate, as set from above or by a coordinated upgrade */
	if (s->store->ops->setting_get(s->store, "installs_rate", v, sizeof(v)) == 0 && v[0] &&
	    strspn(v, "0123456789") == strlen(v) && strlen(v) <= 6 && atol(v) <= BOOT_RATE_MAX &&
	    (unsigned)atol(v) != b->rate && set_rate(b, (unsigned)atol(v)))
		log_warn("bootstrap", "rate_unchanged", "rate_per_hour=%s reason=out_of_memory", v);
	if (was != b->paused)
		log_info("bootstrap", b->paused ? "installs_paused" : "installs_resumed",
			 "reason=\"%s\" rate_per_hour=%u by=\"the parent site\"", b->reason,
			 b->rate);
	pthread_mutex_unlock(&b->mu);
}

void site_bootstrap_free(struct site *s)
{
	struct boot *b = boot_of(s);

	if (!b)
		return;
	offer_clear(&b->offer);
	offer_clear(&b->install);
	for (int i = 0; i < BOOT_EXTRA_MAX; i++)
		offer_clear(&b->extra[i]);
	json_decref(b->relkeys);
	free(b->claims);
	pthread_mutex_destroy(&b->mu);
	free(b);
	s->boot = NULL;
}

/* ---- which release to offer ----------------------------------------------------- */

/* The component of kind ("base": the agent, "console": stewardctl) of a
 * stored release, if this site can serve it: its name into name, or why
 * not into why. */
static bool row_usable(const struct store_release *r, const char *want, int64_t now, char *name,
		       size_t namesz, char *why, size_t whysz)
{
	struct proto_range self = proto_self_range(), pr;
	json_t *comps = json_loads(r->components, 0, NULL), *c;
	const char *kind = NULL;
	bool found = false, ok = false;
	size_t i;

	if (r->expires > 0 && r->expires <= now) {
		snprintf(why, whysz, "release %s has expired", r->version);
		json_decref(comps);
		return false;
	}
	/* an agent that comes with a newer stewardd waits for this site to
	 * run it: no client moves ahead of its own site */
	json_array_foreach(comps, i, c)
	{
		const char *v = json_string_value(json_object_get(c, "version"));

		kind = json_string_value(json_object_get(c, "kind"));
		if (strcmp(want, "base") == 0 && kind && strcmp(kind, "site") == 0 && v &&
		    proto_semver_cmp(v, proto_self_version()) > 0) {
			snprintf(why, whysz,
				 "release %s comes with stewardd %s and this site runs %s: upgrade the "
				 "site first (stewardctl site upgrade --to %s, or hierarchy upgrade)",
				 r->version, v, proto_self_version(), r->version);
			json_decref(comps);
			return false;
		}
	}
	json_array_foreach(comps, i, c)
	{
		kind = json_string_value(json_object_get(c, "kind"));
		if (!kind || strcmp(kind, want) != 0)
			continue;
		found = true;
		if (proto_range_parse(json_string_value(json_object_get(c, "protocol")), &pr) != 0)
			continue;
		if (pr.min <= self.max && self.min <= pr.max) {
			snprintf(name, namesz, "%s", json_string_value(json_object_get(c, "name")));
			ok = true;
			break;
		}
		snprintf(why, whysz,
			 "the %s of release %s speaks protocol %d-%d, this site %d-%d",
			 strcmp(want, "base") == 0 ? "agent" : want, r->version, pr.min, pr.max,
			 self.min, self.max);
	}
	if (!found)
		snprintf(why, whysz, "release %s has no %s (no component of kind %s)", r->version,
			 strcmp(want, "base") == 0 ? "agent" : want, want);
	json_decref(comps);
	return ok;
}

/* Read, check and cache the manifest of the chosen row. */
/* The release's delta list, when it was imported with one: agents that
 * run the release it was made from fetch patches instead of whole files.
 * Checked again by the agent (the release key's signature, the manifest's
 * hash); a list that cannot be read here only costs bytes. */
static void offer_deltas(struct site *s, const struct store_release *row, struct boot_offer *o)
{
	char key[sizeof(SITE_RELEASE_DELTAS_SETTING) + CONTENT_VERSION_MAX];
	char hash[CONTENT_HASH_HEX + 1], path[PATH_MAX];

	snprintf(key, sizeof(key), SITE_RELEASE_DELTAS_SETTING "%s", row->version);
	if (s->store->ops->setting_get(s->store, key, hash, sizeof(hash)) != 0 ||
	    !content_hash_valid(hash))
		return;
	if (content_store_path(s->content, hash, path, sizeof(path)) != 0 ||
	    file_read_all(path, CONTENT_DELTAS_MAX, &o->deltas, &o->deltas_len) != 0) {
		log_warn("bootstrap", "deltas_unreadable",
			 "release=%s blob=%s action=\"offered without deltas\"", row->version, hash);
		o->deltas = NULL;
		o->deltas_len = 0;
	}
}

static int offer_load(struct site *s, const struct store_release *row, const char *component,
		      struct boot_offer *o, char *why, size_t whysz)
{
	struct content_release r;
	struct steward_err err;
	char *text = NULL;
	size_t len = 0, n = 0;
	bool has_binary = false;
	const struct content_component *comp;
	struct boot_component opt[BOOT_OPTIONAL_MAX];
	size_t n_opt = 0;
	char agent_version[CONTENT_VERSION_MAX + 1], launcher[CONTENT_COMPONENT_NAME_MAX + 1];
	struct proto_range agent_proto;

	memset(&r, 0, sizeof(r));
	if (site_release_manifest(s, row->manifest, true, &r, &text, &len, &err) != 0) {
		snprintf(why, whysz, "release %s: %s", row->version, err.message);
		return -STEWARD_EINVAL;
	}
	offer_clear(o);
	comp = content_release_component(&r, component);
	snprintf(agent_version, sizeof(agent_version), "%s", comp ? comp->version : "");
	agent_proto.min = comp ? (int)comp->proto_min : 0;
	agent_proto.max = comp ? (int)comp->proto_max : 0;
	o->hashes = calloc(r.n_files ? r.n_files : 1, sizeof(*o->hashes));
	if (!o->hashes) {
		content_release_clear(&r);
		free(text);
		return -STEWARD_ENOMEM;
	}
	/* a launcher travels with the agent when the release has one */
	launcher[0] = '\0';
	for (size_t i = 0; i < r.n_components; i++)
		if (r.components[i].kind == CONTENT_KIND_LAUNCHER)
			for (size_t j = 0; j < r.n_files; j++)
				if (strcmp(r.files[j].component, r.components[i].name) == 0 &&
				    strcmp(r.files[j].path, BOOT_LAUNCHER_BINARY) == 0)
					snprintf(launcher, sizeof(launcher), "%s",
						 r.components[i].name);
	/* optional components the agent can carry (needs_base) go into its slot */
	n_opt = 0;
	for (size_t i = 0; i < r.n_components && comp; i++) {
		const struct content_component *c = &r.components[i];

		if (c->kind != CONTENT_KIND_OPTIONAL || n_opt == BOOT_OPTIONAL_MAX ||
		    (c->needs_base[0] && proto_semver_cmp(c->needs_base, comp->version) > 0))
			continue;
		snprintf(opt[n_opt].name, sizeof(opt[0].name), "%s", c->name);
		snprintf(opt[n_opt++].version, sizeof(opt[0].version), "%s", c->version);
	}
	for (size_t i = 0; i < r.n_files; i++) {
		const struct content_release_file *f = &r.files[i];
		bool optional = false;

		for (size_t k = 0; k < n_opt && !optional; k++)
			optional = strcmp(f->component, opt[k].name) == 0;
		if (strcmp(f->component, component) != 0 && !optional &&
		    (!launcher[0] || strcmp(f->component, launcher) != 0))
			continue;
		if (strcmp(f->component, component) == 0 && strcmp(f->path, BOOT_AGENT_BINARY) == 0)
			has_binary = true;
		/* the script installs plain names only: what it cannot quote
		 * safely it does not get */
		if (strspn(f->path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/+-") !=
		    strlen(f->path)) {
			snprintf(why, whysz, "release %s: file '%.120s' of %s has characters the installer "
					     "does not accept", row->version, f->path, component);
			break;
		}
		snprintf(o->hashes[n++], sizeof(o->hashes[0]), "%s", f->hash);
	}
	content_release_clear(&r);
	if (!has_binary || why[0]) {
		if (!why[0])
			snprintf(why, whysz, "release %s: component %s has no %s", row->version,
				 component, BOOT_AGENT_BINARY);
		offer_clear(o);
		free(text);
		return -STEWARD_EINVAL;
	}
	o->n_hashes = n;
	o->text = text;
	o->len = len;
	o->rollback = row->rollback;
	snprintf(o->upgrade_from, sizeof(o->upgrade_from), "%s", row->upgrade_from);
	snprintf(o->version, sizeof(o->version), "%s", row->version);
	snprintf(o->manifest, sizeof(o->manifest), "%s", row->manifest);
	snprintf(o->component, sizeof(o->component), "%s", component);
	memcpy(o->optional, opt, sizeof(opt));
	o->n_optional = n_opt;
	snprintf(o->agent_version, sizeof(o->agent_version), "%s", agent_version);
	o->agent_proto = agent_proto;
	snprintf(o->launcher, sizeof(o->launcher), "%s", launcher);
	offer_deltas(s, row, o);
	return 0;
}

/* When a release was last put forward: imported, or offered again as a
 * rollback. */
static int64_t offered_at(const struct store_release *r)
{
	return r->rollback_at > r->imported ? r->rollback_at : r->imported;
}

static bool is_rollback(const struct store_release *r)
{
	return r->rollback || r->rollback_at > 0;
}

int site_release_state(const struct site *s, const struct store_release *r, char *why,
		       size_t whysz)
{
	if (r->withdrawn) {
		snprintf(why, whysz, "release %s was withdrawn by %s: %s", r->version, r->marked_by,
			 r->mark_reason[0] ? r->mark_reason : "no reason given");
		return SITE_RELEASE_WITHDRAWN;
	}
	if (s->cfg.release_halt_failures > 0 && r->failed >= s->cfg.release_halt_failures) {
		snprintf(why, whysz,
			 "release %s is halted: it failed on %lld machine%s (release_halt_failures "
			 "= %lld); last: %.160s",
			 r->version, (long long)r->failed, r->failed == 1 ? "" : "s",
			 (long long)s->cfg.release_halt_failures, r->last_failure);
		return SITE_RELEASE_HALTED;
	}
	if (r->failed > 0) {
		snprintf(why, whysz, "release %s failed on %lld machine%s; new machines do not get it: %.160s",
			 r->version, (long long)r->failed, r->failed == 1 ? "" : "s", r->last_failure);
		return SITE_RELEASE_FAILED;
	}
	why[0] = '\0';
	return SITE_RELEASE_GOOD;
}

const struct store_release *site_release_choose(const struct site *s,
						const struct store_release *rows, size_t n,
						enum site_choice purpose, int64_t now, char *name,
						size_t namesz, char *why, size_t whysz)
{
	const struct store_release *best = NULL, *passed = NULL;
	const char *kind = purpose == SITE_CHOOSE_CONSOLE ? "console" : "base";
	char cand[CONTENT_COMPONENT_NAME_MAX + 1], w[BOOT_WHY_MAX];

	why[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			const struct store_release *r = &rows[i];
			int state;

			/* pass 1: an explicit rollback put forward after the best */
			if (pass == 1 && (!best || !is_rollback(r) || r == best ||
					  offered_at(r) < offered_at(best)))
				continue;
			if (pass == 0 && best && proto_semver_cmp(r->version, best->version) <= 0)
				continue;
			if (!row_usable(r, kind, now, cand, sizeof(cand), w, sizeof(w)))
				goto skip;
			/* a withdrawn release is offered to no one; one that failed
			 * on agents is kept from agents (halted) and new machines
			 * (any failure), not from consoles */
			state = site_release_state(s, r, w, sizeof(w));
			/* in a coordinated upgrade, clients wait for their site */
			if (purpose != SITE_CHOOSE_CONSOLE && site_hupgrade_holds((struct site *)s, r->version)) {
				snprintf(w, sizeof(w),
					 "release %s waits until this site and its site systems run it "
					 "(an upgrade of the hierarchy is under way)",
					 r->version);
				goto skip;
			}
			if (state == SITE_RELEASE_WITHDRAWN ||
			    (purpose != SITE_CHOOSE_CONSOLE && state == SITE_RELEASE_HALTED) ||
			    (purpose == SITE_CHOOSE_INSTALL && state == SITE_RELEASE_FAILED))
				goto skip;
			best = r;
			snprintf(name, namesz, "%s", cand);
			continue;
		skip:
			/* say why the newest release was passed over */
			if (pass == 0 && (!passed || proto_semver_cmp(r->version, passed->version) > 0)) {
				passed = r;
				snprintf(why, whysz, "%s", w);
			}
		}
	}
	if (best)
		why[0] = '\0';
	else if (!n)
		snprintf(why, whysz, "site %s holds no release", s->cfg.site_code);
	return best;
}

/* Make o the release row (its manifest loaded once per change). */
static int offer_set(struct site *s, const struct store_release *row, const char *name,
		     struct boot_offer *o, const char *what, char *why, size_t whysz)
{
	int rc = 0;

	if (!row) {
		offer_clear(o);
		return -STEWARD_ENOTFOUND;
	}
	if (strcmp(o->manifest, row->manifest) != 0 || !o->text) {
		rc = offer_load(s, row, name, o, why, whysz);
		if (!rc)
			log_info("bootstrap", what, "release=%s component=%s files=%zu", o->version,
				 o->component, o->n_hashes);
	}
	if (!rc) {
		char key[sizeof(SITE_ROLLBACK_AUTH_SETTING) + CONTENT_VERSION_MAX];

		o->rollback = is_rollback(row);
		o->expires = row->expires;
		/* agents take an older release only with the release key's word */
		snprintf(key, sizeof(key), SITE_ROLLBACK_AUTH_SETTING "%s", row->version);
		if (!o->rollback || s->store->ops->setting_get(s->store, key, o->rollback_auth,
							       sizeof(o->rollback_auth)) != 0)
			o->rollback_auth[0] = '\0';
	}
	return rc;
}

/* Bring b->offer and b->install up to date; caller holds b->mu. Either
 * may end empty, with its why set. */
static void offer_refresh(struct site *s, struct boot *b)
{
	struct store_release *rows = NULL;
	const struct store_release *best;
	char name[CONTENT_COMPONENT_NAME_MAX + 1];
	int64_t now = time_now_s(), mono = time_mono_us();
	size_t n = 0;
	int rc;

	/* a check-in asks too (client_upgrade): the choice is kept for a few
	 * seconds, so a burst of check-ins reads the releases once */
	if (b->refreshed_us && mono - b->refreshed_us < BOOT_OFFER_TTL_US &&
	    (!b->offer.text || b->offer.expires <= 0 || b->offer.expires > now) &&
	    (!b->install.text || b->install.expires <= 0 || b->install.expires > now))
		return;
	rc = site_release_rows(s, &rows, &n);
	if (rc) {
		snprintf(b->offer_why, sizeof(b->offer_why), "the site database failed: %s",
			 steward_strerror(rc));
		snprintf(b->install_why, sizeof(b->install_why), "%s", b->offer_why);
		offer_clear(&b->offer);
		offer_clear(&b->install);
		b->refreshed_us = 0;
		return;
	}
	best = site_release_choose(s, rows, n, SITE_CHOOSE_AGENTS, now, name, sizeof(name),
				   b->offer_why, sizeof(b->offer_why));
	offer_set(s, best, name, &b->offer, "offer", b->offer_why, sizeof(b->offer_why));
	best = site_release_choose(s, rows, n, SITE_CHOOSE_INSTALL, now, name, sizeof(name),
				   b->install_why, sizeof(b->install_why));
	offer_set(s, best, name, &b->install, "install", b->install_why, sizeof(b->install_why));
	json_decref(b->relkeys);
	b->relkeys = site_release_keys_json(s);
	b->refreshed_us = mono;
	free(rows);
}

/* ---- GET /bootstrap.sh --------------------------------------------------------------- */

/* 'text' for sh: every ' becomes '\'' */
static int sh_quote(struct buf *o, const char *text)
{
	int rc = buf_puts(o, "'");

	for (const char *p = text; !rc && *p; p++)
		rc = *p == '\'' ? buf_puts(o, "'\\''") : buf_append(o, p, 1);
	return rc ? rc : buf_puts(o, "'");
}

/* The URL clients reach this site by: public_url, else the Host the
 * caller used, else the listen address. */
static void site_url(struct site *s, struct http_req *req, char *out, size_t outsz)
{
	const char *host = http_req_header(req, "Host");
	size_t n = host ? strlen(host) : 0;

	if (s->cfg.public_url && *s->cfg.public_url) {
		snprintf(out, outsz, "%s", s->cfg.public_url);
	} else if (n && n <= BOOT_HOST_MAX &&
		   strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:[]-") ==
		       n) {
		snprintf(out, outsz, "%s://%s", s->tls_pin[0] ? "https" : "http", host);
	} else {
		snprintf(out, outsz, "%s://%s:%u", s->tls_pin[0] ? "https" : "http",
			 s->cfg.listen_addr, (unsigned)s->cfg.listen_port);
	}
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
}

/* A script that refuses: says why on stderr and exits 1, changing nothing. */
static void reply_refusal(struct http_req *req, struct site *s, const char *code,
			  const char *message, const char *remedy)
{
	struct buf o;
	char line[BOOT_WHY_MAX + 128];

	buf_init(&o, 16 * 1024);
	buf_printf(&o, "#!/bin/sh\n# steward client installation for site %s: refused (%s)\n",
		   s->cfg.site_code, code);
	snprintf(line, sizeof(line), "steward-bootstrap: %s; nothing was changed on this machine",
		 message);
	buf_puts(&o, "printf '%s\\n' ");
	sh_quote(&o, line);
	snprintf(line, sizeof(line), "steward-bootstrap: remedy: %s", remedy);
	buf_puts(&o, " ");
	sh_quote(&o, line);
	buf_puts(&o, " >&2\nexit 1\n");
	http_reply_header(req, "Steward-Refusal", code);
	http_reply(req, 200, "text/x-shellscript; charset=utf-8", o.data, o.len);
	buf_free(&o);
}

/* An enrollment point shared by several sites: a machine whose address the
 * boundaries give to a site below this one installs from that site, which
 * offers what its own site systems can complete. The script only fetches
 * that site's script and runs it with the same arguments; it carries no
 * release of its own, so this site can never hand a machine of another
 * site a component that site cannot serve. */
static void reply_delegate(struct http_req *req, struct site *s, const char *code,
			   const char *peer)
{
	static const char body[] =
	    "printf 'steward-bootstrap: this machine belongs to site %s; installing from %s\\n' "
	    "\"$SITE\" \"$SITE_URL\" >&2\n"
	    "TMP=$(mktemp \"${TMPDIR:-/tmp}/steward-bootstrap-site.XXXXXX\")\n"
	    "trap 'rm -f \"$TMP\"' EXIT\n"
	    "trap 'exit 1' HUP INT TERM\n"
	    /* over HTTPS: only the certificate this site pinned for that one */
	    "CURL_TLS=\n"
	    "if [ -n \"$SITE_PIN\" ]; then\n"
	    "\thp=${SITE_URL#https://}; hp=${hp%%/*}\n"
	    "\topenssl s_client -connect \"$hp\" </dev/null 2>/dev/null | openssl x509 "
	    "-outform PEM >\"$TMP.crt\" 2>/dev/null || :\n"
	    "\tgot=$(openssl x509 -in \"$TMP.crt\" -noout -pubkey 2>/dev/null | openssl pkey "
	    "-pubin -outform DER 2>/dev/null | sha256sum | awk '{ print $1 }')\n"
	    "\tif [ \"$got\" != \"$SITE_PIN\" ] || ! openssl x509 -in \"$TMP.crt\" -noout "
	    "-checkend 0 >/dev/null 2>&1; then\n"
	    "\t\tprintf 'steward-bootstrap: site %s at %s does not show the certificate this "
	    "site pinned for it (sha256:%s); nothing was changed on this machine\\n' "
	    "\"$SITE\" \"$SITE_URL\" \"$SITE_PIN\" >&2\n"
	    "\t\texit 1\n"
	    "\tfi\n"
	    "\tCURL_TLS=\"--cacert $TMP.crt\"\n"
	    "\ttrap 'rm -f \"$TMP\" \"$TMP.crt\"' EXIT\n"
	    "fi\n"
	    "if ! curl $CURL_TLS -fsS --connect-timeout 10 --max-time 60 -o \"$TMP\" "
	    "\"$SITE_URL/bootstrap.sh\"; then\n"
	    "\tprintf 'steward-bootstrap: cannot fetch the installation script of site %s from "
	    "%s; nothing was changed on this machine\\n' \"$SITE\" \"$SITE_URL\" >&2\n"
	    "\tprintf 'steward-bootstrap: remedy: check that site %s is up and reachable from "
	    "here, then run the same command again\\n' \"$SITE\" >&2\n"
	    "\texit 1\n"
	    "fi\n"
	    "sh \"$TMP\" \"$@\"\n";
	struct store_site v;
	struct buf o;
	char msg[BOOT_WHY_MAX + 64];
	int rc = s->store->ops->site_get(s->store, code, &v);

	if (rc || !v.attached || v.relation != STORE_SITE_CHILD) {
		snprintf(msg, sizeof(msg),
			 "this machine (%.60s) belongs to site %s by the boundaries of site %s, and "
			 "%s is not attached below %s",
			 peer, code, s->cfg.site_code, code, s->cfg.site_code);
		log_warn("bootstrap", "refused", "code=site_unknown site=%s peer=%s", code, peer);
		reply_refusal(req, s, "site_unknown", msg,
			      "attach that site below this one (stewardctl sites attach), or correct "
			      "the boundary in this site's configuration");
		return;
	}
	buf_init(&o, 8192);
	rc = buf_printf(&o,
			"#!/bin/sh\n# steward client installation at site %s, an enrollment point "
			"shared by several sites:\n# this machine (%.60s) belongs to site %s by its "
			"boundaries, and installs from it.\nset -eu\nSITE=%s\nSITE_URL=",
			s->cfg.site_code, peer, code, code);
	rc = rc ? rc : sh_quote(&o, v.url);
	{
		char pin[TLS_PIN_HEX + 1];
		site_trust_pin_get(v.url, pin);
		rc = rc ? rc : buf_printf(&o, "\nSITE_PIN='%s'\n", pin);
	}
	rc = rc ? rc : buf_puts(&o, body);
	if (rc) {
		reply_error(req, 500, "internal", "report this with the site's log",
			    "cannot build the installation script: %s", steward_strerror(rc));
	} else {
		http_reply_header(req, "Steward-Site", code);
		http_reply(req, 200, "text/x-shellscript; charset=utf-8", o.data, o.len);
		log_info("bootstrap", "delegated", "site=%s url=%s peer=%s", code, v.url, peer);
	}
	buf_free(&o);
}

enum http_result site_h_bootstrap_script(struct http_req *req, void *app)
{
	struct site *s = app;
	struct boot *b = boot_of(s);
	char url[512], msg[BOOT_WHY_MAX + 64], ts[32];
	struct buf o;
	const char *peer = http_req_peer(req), *assigned;
	int rc;

	/* a machine of a site below: its own site installs it */
	assigned = core_boundary_assign(s->cfg.boundaries, s->cfg.n_boundaries, &peer, 1);
	if (assigned && strcmp(assigned, s->cfg.site_code) != 0) {
		pthread_mutex_lock(&b->mu);
		b->scripts++;
		pthread_mutex_unlock(&b->mu);
		reply_delegate(req, s, assigned, peer);
		return HTTP_DONE;
	}
	pthread_mutex_lock(&b->mu);
	b->scripts++;
	if (b->paused) {
		snprintf(msg, sizeof(msg), "installations are paused at site %s: %s",
			 s->cfg.site_code, b->reason);
		b->refused++;
		pthread_mutex_unlock(&b->mu);
		log_info("bootstrap", "refused", "code=installs_paused peer=%s", http_req_peer(req));
		reply_refusal(req, s, "installs_paused", msg,
			      "run the same command again once an administrator resumes installs "
			      "(stewardctl site resume-installs)");
		return HTTP_DONE;
	}
	offer_refresh(s, b);
	if (!b->install.text) {
		b->refused++;
		snprintf(msg, sizeof(msg), "site %s has no agent to install: %s", s->cfg.site_code,
			 b->install_why);
		pthread_mutex_unlock(&b->mu);
		log_warn("bootstrap", "refused", "code=no_release why=\"%s\" peer=%s", msg,
			 http_req_peer(req));
		reply_refusal(req, s, "no_release", msg,
			      "an administrator imports a release whose agent this site can serve "
			      "(stewardctl releases import FILE; docs/upgrading.md)");
		return HTTP_DONE;
	}
	site_url(s, req, url, sizeof(url));
	time_rfc3339(time_now_s(), ts);
	buf_init(&o, CONTENT_RELEASE_MAX + site_bootstrap_body_len + 4096);
	rc = buf_printf(&o,
			"#!/bin/sh\n# steward client installation for site %s, release %s\n"
			"# (served by stewardd %s at %s; fetch it again rather than keep a copy)\n",
			s->cfg.site_code, b->install.version, proto_self_version(), ts);
	rc = rc ? rc : buf_puts(&o, "SITE_URL=");
	rc = rc ? rc : sh_quote(&o, url);
	rc = rc ? rc : buf_printf(&o, "\nSITE_CODE='%s'\nRELEASE_VERSION='%s'\nCLAIM_RELEASE='%s'\n"
				      "AGENT_COMPONENT='%s'\nLAUNCHER_COMPONENT='%s'\n",
				  s->cfg.site_code, b->install.version, b->install.version,
				  b->install.component, b->install.launcher);
	{
		/* what the script verifies this site by (its HTTPS pin) and what
		 * it tells the agent the site key is (its fingerprint): the same
		 * the enrollment token carries */
		char pin[TLS_PIN_HEX + 1] = "", fp[PROTO_FP_HEX + 1];
		if (s->tls_pin[0])
			hex_encode(s->tls_pin_raw, TLS_PIN_BYTES, pin);
		proto_site_fingerprint(s->site_kp.pk, fp);
		rc = rc ? rc : buf_printf(&o, "SITE_PIN='%s'\nSITE_FP='%s'\n", pin, fp);
	}
	rc = rc ? rc : buf_puts(&o, "OPTIONAL_COMPONENTS='");
	for (size_t i = 0; !rc && i < b->install.n_optional; i++)
		rc = buf_printf(&o, "%s%s", i ? " " : "", b->install.optional[i].name);
	rc = rc ? rc : buf_puts(&o, "'\n");
	rc = rc ? rc : buf_puts(&o, "release_manifest() {\n\tcat <<'STEWARD_RELEASE_MANIFEST'\n");
	rc = rc ? rc : buf_append(&o, b->install.text, b->install.len);
	rc = rc ? rc : buf_puts(&o, "STEWARD_RELEASE_MANIFEST\n}\n\n");
	pthread_mutex_unlock(&b->mu);
	rc = rc ? rc : buf_append(&o, site_bootstrap_body, site_bootstrap_body_len);
	if (rc)
		reply_error(req, 500, "internal", "report this with the site's log",
			    "cannot build the installation script: %s", steward_strerror(rc));
	else
		http_reply(req, 200, "text/x-shellscript; charset=utf-8", o.data, o.len);
	buf_free(&o);
	log_debug("bootstrap", "script", "peer=%s", http_req_peer(req));
	return HTTP_DONE;
}

/* ---- POST /bootstrap/claim ---------------------------------------------------------- */

enum http_result site_h_bootstrap_claim(struct http_req *req, void *app)
{
	struct site *s = app;
	struct boot *b = boot_of(s);
	size_t len;
	const char *body = http_req_body(req, &len);
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const char *release = json_string_value(json_object_get(root, "release"));
	char why[BOOT_WHY_MAX], ra[24], version[CONTENT_VERSION_MAX + 1];
	int64_t now = time_now_s();

	if (!json_is_object(root) || !release || strlen(release) > CONTENT_VERSION_MAX) {
		reply_error(req, 400, "bad_request", "fetch /bootstrap.sh again and run it",
			    "send {\"release\": \"X.Y.Z\"}, the release the script installs");
		goto out;
	}
	pthread_mutex_lock(&b->mu);
	if (b->paused) {
		b->refused++;
		snprintf(why, sizeof(why), "%s", b->reason);
		pthread_mutex_unlock(&b->mu);
		http_reply_header(req, "Retry-After", BOOT_PAUSED_RETRY);
		reply_error(req, 503, "installs_paused",
			    "run the same command again once an administrator resumes installs",
			    "installations are paused at site %s: %s", s->cfg.site_code, why);
		goto out;
	}
	offer_refresh(s, b);
	if (!b->install.text || strcmp(b->install.version, release) != 0) {
		b->refused++;
		snprintf(version, sizeof(version), "%s", b->install.text ? b->install.version : "none");
		pthread_mutex_unlock(&b->mu);
		reply_error(req, 409, "release_changed",
			    "fetch the script again (the same curl command) and run it",
			    "this script installs release %.31s; site %s now offers %s", release,
			    s->cfg.site_code, version);
		goto out;
	}
	if (b->rate) {
		claims_prune(b, now);
		if (b->n >= b->rate) {
			int64_t wait = b->claims[b->head] + BOOT_WINDOW_S - now;

			b->refused++;
			pthread_mutex_unlock(&b->mu);
			snprintf(ra, sizeof(ra), "%lld", (long long)(wait > 1 ? wait : 1));
			http_reply_header(req, "Retry-After", ra);
			reply_error(req, 429, "installs_rate_limited",
				    "run the same command again later; a logon script does at the "
				    "next logon",
				    "site %s starts at most %u installations per hour; the next can "
				    "start in %s s",
				    s->cfg.site_code, b->rate, ra);
			log_info("bootstrap", "refused", "code=installs_rate_limited peer=%s",
				 http_req_peer(req));
			goto out;
		}
		b->claims[(b->head + b->n) % b->rate] = now;
		b->n++;
	}
	b->claimed++;
	pthread_mutex_unlock(&b->mu);
	log_info("bootstrap", "claimed", "release=%s peer=%s", release, http_req_peer(req));
	reply_json_obj(req, 200, json_pack("{s:s,s:b}", "release", release, "claimed", 1));
out:
	json_decref(root);
	return HTTP_DONE;
}

/* ---- POST /bootstrap/report ---------------------------------------------------------- */

#define BOOT_DETAIL_MAX 300

/* A printable field of at most max bytes, or NULL. */
static const char *field(json_t *root, const char *key, size_t max)
{
	const char *v = json_string_value(json_object_get(root, key));

	return v && *v && strlen(v) <= max && str_printable(v) ? v : NULL;
}

/* The script says the agent it installed failed its first start: the
 * release counts as failed on this machine, so new machines stop getting
 * it and the script can fall back to the previous good release. Only a
 * holder of a valid enrollment token may say so. */
enum http_result site_h_bootstrap_report(struct http_req *req, void *app)
{
	struct site *s = app;
	size_t len;
	const char *body = http_req_body(req, &len);
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const char *release = field(root, "release", CONTENT_VERSION_MAX);
	const char *token = field(root, "token", PROTO_TOKEN_MAX);
	const char *host = field(root, "hostname", PROTO_HOSTNAME_MAX);
	const char *detail = field(root, "detail", BOOT_DETAIL_MAX);
	char client[STORE_OUTCOME_CLIENT_MAX + 1], text[STORE_OUTCOME_DETAIL_MAX + 1];
	uint8_t hash[PROTO_HASH_BYTES];
	enum store_token_refusal refusal;
	int x, y, z, rc;

	if (!json_is_object(root) || !release || proto_semver_parse(release, &x, &y, &z) ||
	    !token || !host || strchr(host, ' ')) {
		reply_error(req, 400, "bad_request", "the installation script sends this; fetch it again",
			    "send {\"release\": \"X.Y.Z\", \"token\": T, \"hostname\": H, \"detail\": "
			    "TEXT} with printable values (detail at most %d bytes)",
			    BOOT_DETAIL_MAX);
		goto out;
	}
	{
		char secret[PROTO_TOKEN_MAX + 1];
		proto_enroll_token_secret(token, secret, sizeof(secret));
		proto_hash(secret, strlen(secret), hash);
		explicit_bzero(secret, sizeof(secret));
	}
	rc = s->store->ops->token_check(s->store, hash, time_now_s(), &refusal);
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	/* the install did not use the token up; a used-up one still names a
	 * machine the administrator meant to install */
	if (refusal != TOKEN_OK && refusal != TOKEN_USED_UP) {
		reply_error(req, 403, "token_invalid",
			    "report with the enrollment token the installation was given",
			    "the enrollment token is not valid at this site");
		goto out;
	}
	snprintf(client, sizeof(client), "install:%.40s %.79s", http_req_peer(req), host);
	snprintf(text, sizeof(text), "the agent of a new install on %.80s (%.40s) failed its first "
				     "start: %s",
		 host, http_req_peer(req), detail ? detail : "no detail");
	rc = site_release_outcome(s, release, client, "install_failed", text);
	if (rc == -STEWARD_ENOTFOUND) {
		reply_error(req, 404, "release_not_found", "fetch the script again",
			    "site %s holds no release %s", s->cfg.site_code, release);
		goto out;
	}
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	reply_json_obj(req, 200, json_pack("{s:s,s:b}", "release", release, "recorded", 1));
out:
	json_decref(root);
	return HTTP_DONE;
}

/* ---- GET /bootstrap/files/{hash} ------------------------------------------------------ */

enum http_result site_h_bootstrap_file(struct http_req *req, void *app)
{
	struct site *s = app;
	struct boot *b = boot_of(s);
	const char *hash = http_req_param(req, 0);
	bool offered = false;

	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; hash && i < b->install.n_hashes && !offered; i++)
		offered = strcmp(b->install.hashes[i], hash) == 0;
	pthread_mutex_unlock(&b->mu);
	if (!offered) {
		reply_error(req, 404, "not_a_bootstrap_file",
			    "fetch /bootstrap.sh again: it names the files of the agent offered now",
			    "%.70s is not a file of the agent this site offers for installation",
			    hash ? hash : "");
		return HTTP_DONE;
	}
	return site_h_content_get(req, app);
}

/* ---- pause-installs, resume-installs, site show ---------------------------------------- */

/* Settings for every site below, applied there as their own (set is
 * taken; NULL: out of memory); false when refused, the reply sent. */
static bool send_below(struct http_req *req, struct site *s, json_t *set)
{
	int rc = set ? site_hierarchy_settings(s, set) : -STEWARD_ENOMEM;

	json_decref(set);
	if (rc)
		reply_store_error(req, -STEWARD_ESTORE);
	return rc == 0;
}

static enum http_result set_installs(struct http_req *req, struct site *s, bool pause)
{
	struct boot *b = boot_of(s);
	json_t *body = admin_body(req), *jrate, *jh;
	const char *reason = NULL;
	json_int_t rate = 0;
	char rtext[24];
	int rc;

	if (!body)
		return HTTP_DONE;
	reason = json_string_value(json_object_get(body, "reason"));
	jrate = json_object_get(body, "rate");
	if (reason && (strlen(reason) > PROTO_REASON_MAX || !str_printable(reason))) {
		reply_error(req, 400, "bad_request", "give a printable reason of at most 256 characters",
			    "field 'reason' is too long or has control characters");
		goto out;
	}
	if (jrate && (!json_is_integer(jrate) || json_integer_value(jrate) < 0 ||
		      json_integer_value(jrate) > BOOT_RATE_MAX)) {
		reply_error(req, 400, "bad_request", "give --rate as N/hour with N from 1 to 100000",
			    "field 'rate' must be an integer from 0 (no limit) to %d", BOOT_RATE_MAX);
		goto out;
	}
	jh = json_object_get(body, "hierarchy");
	if (jh && !json_is_boolean(jh)) {
		reply_error(req, 400, "bad_request", "send \"hierarchy\": true or false",
			    "field 'hierarchy' must be a boolean");
		goto out;
	}
	rate = jrate ? json_integer_value(jrate) : 0;
	if (!reason)
		reason = pause ? "paused by an administrator" : "";
	snprintf(rtext, sizeof(rtext), "%lld", (long long)rate);
	pthread_mutex_lock(&b->mu);
	rc = s->store->ops->setting_set(s->store, "installs_pause_reason", reason);
	if (!rc && !pause)
		rc = s->store->ops->setting_set(s->store, "installs_rate", rtext);
	if (!rc)
		rc = s->store->ops->setting_set(s->store, "installs_paused", pause ? "1" : "0");
	if (!rc && !pause && (unsigned)rate != b->rate)
		rc = set_rate(b, (unsigned)rate);
	if (!rc) {
		b->paused = pause;
		snprintf(b->reason, sizeof(b->reason), "%s", reason);
		rate = b->rate;
	}
	pthread_mutex_unlock(&b->mu);
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	/* every site below too: the sites there apply it as their own */
	if (json_is_true(jh)) {
		json_t *set = json_pack("{s:s,s:s}", "installs_paused", pause ? "1" : "0",
					"installs_pause_reason", reason);

		/* resumed with a rate: the same rate at every site below */
		if (set && !pause)
			json_object_set_new(set, "installs_rate", json_string(rtext));
		if (!send_below(req, s, set))
			goto out;
	}
	log_info("bootstrap", pause ? "installs_paused" : "installs_resumed",
		 "reason=\"%s\" rate_per_hour=%lld hierarchy=%d by=%s", reason, (long long)rate,
		 json_is_true(jh), site_admin_who(req));
	reply_json_obj(req, 200, json_pack("{s:b,s:s,s:I,s:b}", "installs_paused", pause, "reason",
					   reason, "rate_per_hour", rate, "hierarchy",
					   json_is_true(jh)));
out:
	json_decref(body);
	return HTTP_DONE;
}

enum http_result site_h_installs_pause(struct http_req *req, void *app)
{
	return set_installs(req, app, true);
}

enum http_result site_h_installs_resume(struct http_req *req, void *app)
{
	return set_installs(req, app, false);
}

void site_bootstrap_show(struct site *s, json_t *site_obj)
{
	struct boot *b = boot_of(s);
	json_t *o;

	if (!b || !(s->cfg.role_mask & ROLE_ENROLLMENT_POINT))
		return;
	pthread_mutex_lock(&b->mu);
	if (b->rate)
		claims_prune(b, time_now_s());
	offer_refresh(s, b);
	o = json_pack("{s:b,s:s,s:I,s:o,s:o,s:s?,s:I,s:I,s:I}", "paused", b->paused, "reason",
		      b->reason, "rate_per_hour", (json_int_t)b->rate, "started_last_hour",
		      b->rate ? json_integer((json_int_t)b->n) : json_null(), "release",
		      b->install.text ? json_string(b->install.version) : json_null(),
		      "no_release_because", b->install.text ? NULL : b->install_why,
		      "scripts_served", (json_int_t)b->scripts, "started", (json_int_t)b->claimed,
		      "refused", (json_int_t)b->refused);
	if (o) {
		json_object_set_new(o, "upgrade_collection",
				    b->upgrade_coll[0] ? json_string(b->upgrade_coll) : json_null());
		/* what installed agents are offered: the same release unless
		 * it failed somewhere (new machines get the last good one) */
		json_object_set_new(o, "upgrade_release",
				    b->offer.text ? json_string(b->offer.version) : json_null());
		if (!b->offer.text)
			json_object_set_new(o, "no_upgrade_because", json_string(b->offer_why));
		json_object_set_new(o, "upgrades_offered", json_integer((json_int_t)b->upgrades_offered));
	}
	pthread_mutex_unlock(&b->mu);
	if (o)
		json_object_set_new(site_obj, "installs", o);
}

void site_bootstrap_offers(struct site *s, char *offer, char *install, size_t sz)
{
	struct boot *b = boot_of(s);

	offer[0] = install[0] = '\0';
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	offer_refresh(s, b);
	if (b->offer.text)
		snprintf(offer, sz, "%s", b->offer.version);
	if (b->install.text)
		snprintf(install, sz, "%s", b->install.version);
	pthread_mutex_unlock(&b->mu);
}

/* ---- upgrading installed agents ---------------------------------------------------------- */

#define UPGRADE_CONTEXT	 "steward-client-upgrade-v1\n" /* agent/upgrade.c checks it */
#define UPGRADE_TEXT_MAX (48u * 1024)		       /* under the agent's reply cap */
#define UPGRADE_TOKEN_TTL (6 * 3600)

/* Whether client c (at version v) is offered b->offer; caller holds b->mu. */
/* Whether client c (at version v) in the upgrade collection is offered
 * b->offer: 1 yes, 0 not concerned, -1 concerned but not offered (why
 * says why, for the client's status). Caller holds b->mu. */
/* The client at peer downloads from these DPs: each remote site system
 * among them must have spoken a protocol in range. One that never called
 * is not known, and not held against the offer. */
static bool dps_speak(struct site *s, const char *peer, const struct proto_range *range,
		      char *why, size_t whysz)
{
	json_t *dps = site_swdist_dps(s, peer), *u;
	struct proto_range pr;
	bool ok = true;
	size_t i;

	json_array_foreach(dps, i, u)
	{
		const char *url = json_string_value(u);

		if (ok && url && site_system_protocol(s, url, &pr) &&
		    (pr.max < range->min || pr.min > range->max)) {
			snprintf(why, whysz, "its distribution point %s speaks protocol %d-%d", url,
				 pr.min, pr.max);
			ok = false;
		}
	}
	json_decref(dps);
	return ok;
}

/* The version of component name the client reported ("" none). */
static const char *reported(const struct proto_checkin_req *ci, const char *name)
{
	for (int i = 0; i < ci->n_components; i++)
		if (strcmp(ci->components[i].name, name) == 0)
			return ci->components[i].version;
	return "";
}

/* An optional component of the offer newer than the client's (or any
 * other version, for a rollback release). */
static bool optional_differs(const struct boot *b, const struct proto_checkin_req *ci)
{
	for (size_t i = 0; i < b->offer.n_optional; i++) {
		const char *have = reported(ci, b->offer.optional[i].name);
		int cmp = proto_semver_cmp(b->offer.optional[i].version, have);

		if (have[0] && cmp != 0 && (cmp > 0 || b->offer.rollback))
			return true;
	}
	return false;
}

static int upgrade_wanted(struct site *s, struct boot *b, struct reg_client *c,
			  const struct proto_checkin_req *ci, const char *peer, char *why,
			  size_t whysz)
{
	struct facts *f;
	struct coll_engine *e;
	int64_t slot;
	bool member = false;
	const char *v = ci->agent_version;
	int x, y, z;

	if (!b->upgrade_coll[0] || !b->offer.text || proto_semver_parse(v, &x, &y, &z) ||
	    (strcmp(v, b->offer.agent_version) == 0 && !optional_differs(b, ci)))
		return 0;
	site_colls_lock(s, &f, &e);
	slot = facts_find(f, c->idhex);
	member = slot >= 0 && coll_is_member(e, b->upgrade_coll, (uint32_t)slot);
	site_colls_unlock(s);
	if (!member)
		return 0;
	/* newer only, unless the administrator rolled back on purpose */
	if (proto_semver_cmp(b->offer.agent_version, v) < 0 && !b->offer.rollback) {
		snprintf(why, whysz, "release %s has agent %s, older than %s; import it with "
				     "--rollback to take agents back", b->offer.version,
			 b->offer.agent_version, v);
		return -1;
	}
	/* the matrix: a client older than upgrade_from cannot take it directly */
	if (proto_semver_cmp(v, b->offer.upgrade_from) < 0) {
		snprintf(why, whysz, "release %s upgrades agents from %s on; %s must first take a "
				     "release in between", b->offer.version, b->offer.upgrade_from, v);
		return -1;
	}
	/* the matrix: every distribution point the client downloads from must
	 * speak the new agent's protocol, or it would be refused there */
	if (!dps_speak(s, peer, &b->offer.agent_proto, why, whysz)) {
		size_t n = strlen(why);

		snprintf(why + n, whysz - n, "; agent %s speaks %d-%d", b->offer.agent_version,
			 b->offer.agent_proto.min, b->offer.agent_proto.max);
		return -1;
	}
	if (b->offer.len > UPGRADE_TEXT_MAX) {
		snprintf(why, whysz, "the manifest of release %s is too large to offer in a check-in",
			 b->offer.version);
		return -1;
	}
	return 1;
}

/* The offer of release o to client c, signed; caller holds b->mu. */
static json_t *offer_json(struct site *s, struct boot *b, const struct boot_offer *o,
			  struct reg_client *c, const char *peer)
{
	char canon[sizeof(UPGRADE_CONTEXT) + CONTENT_HASH_HEX + 2], sig[96], tok[256];
	json_t *optional = json_object(), *j;

	snprintf(canon, sizeof(canon), UPGRADE_CONTEXT "%s\n", o->manifest);
	proto_sign(&s->site_kp, canon, sig);
	if (site_content_token(&s->site_kp, c->idhex, time_now_s() + UPGRADE_TOKEN_TTL, tok,
			       sizeof(tok)))
		tok[0] = '\0';
	for (size_t i = 0; optional && i < o->n_optional; i++)
		json_object_set_new(optional, o->optional[i].name,
				    json_string(o->optional[i].version));
	j = json_pack("{s:s,s:s,s:s,s:s%,s:s,s:o,s:s,s:o}", "release", o->version, "component",
		      o->component, "version", o->agent_version, "manifest", o->text, o->len,
		      "signature", sig, "dps", site_swdist_dps(s, peer), "content_token", tok,
		      "optional", optional ? optional : json_object());
	/* what the agent checks the release against (it keeps only what a
	 * key it trusts endorses), and a rollback's authorization */
	if (j && b->relkeys)
		json_object_set(j, "release_keys", b->relkeys);
	if (j && o->rollback_auth[0])
		json_object_set_new(j, "rollback_authorization", json_string(o->rollback_auth));
	/* patches against the release before it: older agents ignore them */
	if (j && o->deltas && o->len + o->deltas_len <= UPGRADE_TEXT_MAX)
		json_object_set_new(j, "deltas", json_stringn(o->deltas, o->deltas_len));
	b->upgrades_offered++;
	return j;
}

/* Release version as an offer (the newest, or one of the extras loaded on
 * demand); NULL and why when this site cannot offer it. rollback: with its
 * rollback authorization, when the site holds one. Caller holds b->mu. */
static const struct boot_offer *offer_by_version(struct site *s, struct boot *b,
						 const char *version, bool rollback, char *why,
						 size_t whysz)
{
	struct store_release *rows = NULL;
	const struct store_release *row = NULL;
	char name[CONTENT_COMPONENT_NAME_MAX + 1];
	struct boot_offer *o;
	size_t n = 0;

	why[0] = '\0';
	if (!rollback && b->offer.text && strcmp(b->offer.version, version) == 0)
		return &b->offer;
	for (int i = 0; i < BOOT_EXTRA_MAX; i++)
		if (b->extra[i].text && strcmp(b->extra[i].version, version) == 0 &&
		    b->extra[i].rollback == rollback)
			return &b->extra[i];
	if (site_release_rows(s, &rows, &n) != 0) {
		snprintf(why, whysz, "the site database failed");
		return NULL;
	}
	for (size_t i = 0; i < n && !row; i++)
		if (strcmp(rows[i].version, version) == 0)
			row = &rows[i];
	o = &b->extra[b->extra_next++ % BOOT_EXTRA_MAX];
	if (!row || !row_usable(row, "base", time_now_s(), name, sizeof(name), why, whysz) ||
	    offer_set(s, row, name, o, "rollout_offer", why, whysz) != 0) {
		if (!why[0])
			snprintf(why, whysz, "release %s is not on this site", version);
		offer_clear(o);
		free(rows);
		return NULL;
	}
	free(rows);
	if (rollback) {
		char key[sizeof(SITE_ROLLBACK_AUTH_SETTING) + CONTENT_VERSION_MAX];

		o->rollback = true;
		snprintf(key, sizeof(key), SITE_ROLLBACK_AUTH_SETTING "%s", version);
		if (s->store->ops->setting_get(s->store, key, o->rollback_auth,
					       sizeof(o->rollback_auth)) != 0)
			o->rollback_auth[0] = '\0';
	}
	if (o->len > UPGRADE_TEXT_MAX) {
		snprintf(why, whysz, "the manifest of release %s is too large to offer in a check-in",
			 version);
		offer_clear(o);
		return NULL;
	}
	return o;
}

static int append_offer(struct buf *out, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc;

	json_decref(o);
	if (!text)
		return -STEWARD_ENOMEM;
	rc = buf_printf(out, ",\"client_upgrade\":%s", text);
	free(text);
	return rc;
}

/* A client in a rollout: what the rollout decided. */
static int rollout_policy(struct site *s, struct boot *b, struct reg_client *c, const char *peer,
			  const struct ro_choice *ch, struct buf *out, int64_t *next_in)
{
	const struct boot_offer *o;
	char why[BOOT_WHY_MAX];
	json_t *j = NULL;

	if (ch->kind == RO_HOLD) {
		/* at the window's opening, spread over its first ten minutes
		 * (half of a shorter window): a fleet that waited for it does
		 * not arrive in one second */
		if (ch->next_window > 0) {
			int64_t spread = ch->window_len / 2 < 600 ? ch->window_len / 2 : 600;

			*next_in = ch->next_window - time_now_s() + 1 +
				   (spread > 0 ? (int64_t)randombytes_uniform((uint32_t)spread) : 0);
		}
		else if (ch->retry_in > 0)
			*next_in = 60 + (int64_t)randombytes_uniform(540); /* 1 to 10 minutes */
		return append_offer(out, json_pack("{s:s,s:s}", "release", "", "not_offered", ch->why));
	}
	pthread_mutex_lock(&b->mu);
	offer_refresh(s, b);
	o = offer_by_version(s, b, ch->version, ch->rollback, why, sizeof(why));
	/* agents take an older release only with the release key's word:
	 * without it they would download and refuse */
	if (o && ch->rollback && !o->rollback_auth[0]) {
		snprintf(why, sizeof(why),
			 "going back to release %s needs its rollback authorization: stewardctl "
			 "releases rollback-sign --version %s (with the release key), then releases "
			 "import FILE --rollback --authorization LINE",
			 ch->version, ch->version);
		o = NULL;
	}
	if (o)
		j = offer_json(s, b, o, c, peer);
	else
		j = json_pack("{s:s,s:s}", "release", ch->version, "not_offered", why);
	pthread_mutex_unlock(&b->mu);
	log_debug("bootstrap", "rollout_offer", "client=%s release=%s rollback=%d offered=%d",
		  c->idhex, ch->version, ch->rollback, o != NULL);
	return append_offer(out, j);
}

int site_client_upgrade_policy(struct site *s, struct reg_client *c, const char *peer,
			       const struct proto_checkin_req *ci, struct buf *out,
			       int64_t *next_in, bool *link_deferred)
{
	struct boot *b = boot_of(s);
	char why[BOOT_WHY_MAX];
	json_t *o = NULL;
	int want;

	/* the releases' manifests are in the content store: a management
	 * point without one can offer nothing, and must not let a rollout
	 * count an offer it cannot send (the site server, or a management
	 * point that holds the content, makes it) */
	if (!b || !s->content)
		return 0;
	/* a rollout decides for its clients first */
	if (site_rollouts_any(s)) {
		struct ro_choice ch;

		site_rollouts_decide(s, c, ci->agent_version, NULL, &ch);
		if (ch.kind == RO_NEED_DP) {
			json_t *dps = site_swdist_dps(s, peer);
			const char *dp = json_string_value(json_array_get(dps, 0));

			site_rollouts_decide(s, c, ci->agent_version, dp ? dp : "", &ch);
			json_decref(dps);
		}
		if (ch.kind == RO_EXCLUDED || ch.kind == RO_DONE)
			return 0;
		*link_deferred = ch.link_deferred;
		if (ch.kind != RO_NONE)
			return rollout_policy(s, b, c, peer, &ch, out, next_in);
	}
	if (!b->upgrade_coll[0])
		return 0;
	pthread_mutex_lock(&b->mu);
	offer_refresh(s, b);
	want = b->offer.text ? upgrade_wanted(s, b, c, ci, peer, why, sizeof(why)) : 0;
	if (want > 0) {
		/* the site-wide offer keeps the default link policy: nothing
		 * over a slow or metered link (a rollout can say otherwise) */
		struct core_link_policy lp;
		char link[96];
		int cls = site_link_describe(c, link, sizeof(link));

		core_link_policy_default(&lp);
		if (core_link_gate(&lp, cls, time_now_s(), false, false, link, why, sizeof(why)) !=
		    CORE_LINK_GO) {
			want = -1;
			*link_deferred = true;
		}
	}
	if (want < 0)
		o = json_pack("{s:s,s:s,s:s}", "release", b->offer.version, "version",
			      b->offer.agent_version, "not_offered", why);
	if (want > 0)
		o = offer_json(s, b, &b->offer, c, peer);
	pthread_mutex_unlock(&b->mu);
	if (!o)
		return 0;
	log_debug("bootstrap", "upgrade_offered", "client=%s from=%s", c->idhex, ci->agent_version);
	return append_offer(out, o);
}

enum http_result site_h_client_upgrade(struct http_req *req, void *app)
{
	struct site *s = app;
	struct boot *b = boot_of(s);
	json_t *body = admin_body(req), *jc, *jh;
	const char *coll = NULL;
	struct facts *f;
	struct coll_engine *e;
	bool known;
	int rc;

	if (!body)
		return HTTP_DONE;
	jh = json_object_get(body, "hierarchy");
	if (jh && !json_is_boolean(jh)) {
		reply_error(req, 400, "bad_request", "send \"hierarchy\": true or false",
			    "field 'hierarchy' must be a boolean");
		goto out;
	}
	jc = json_object_get(body, "collection");
	if (jc && !json_is_null(jc)) {
		coll = json_string_value(jc);
		if (!coll || !*coll || strlen(coll) > STORE_COLLECTION_NAME_MAX) {
			reply_error(req, 400, "bad_request", "name a collection, or send null to stop",
				    "field 'collection' must be a collection name or null");
			goto out;
		}
		site_colls_lock(s, &f, &e);
		known = coll_exists(e, coll);
		site_colls_unlock(s);
		if (!known) {
			reply_error(req, 404, "collection_not_found",
				    "stewardctl collections list shows the collections",
				    "no collection '%.64s'", coll);
			goto out;
		}
	}
	pthread_mutex_lock(&b->mu);
	rc = s->store->ops->setting_set(s->store, "client_upgrade_collection", coll ? coll : "");
	if (!rc)
		snprintf(b->upgrade_coll, sizeof(b->upgrade_coll), "%s", coll ? coll : "");
	pthread_mutex_unlock(&b->mu);
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	/* every site below too: each offers its release to its own members
	 * of the collection (collections defined here reach them) */
	if (json_is_true(jh)) {
		if (!send_below(req, s,
				json_pack("{s:s}", "client_upgrade_collection", coll ? coll : "")))
			goto out;
	}
	log_info("bootstrap", coll ? "client_upgrade_on" : "client_upgrade_off",
		 "collection=\"%s\" hierarchy=%d by=%s", coll ? coll : "", json_is_true(jh),
		 site_admin_who(req));
	reply_json_obj(req, 200, json_pack("{s:s?,s:b}", "collection", coll, "hierarchy",
					   json_is_true(jh)));
out:
	json_decref(body);
	return HTTP_DONE;
}

void site_bootstrap_releases_changed(struct site *s)
{
	struct boot *b = boot_of(s);

	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->refreshed_us = 0;
	for (int i = 0; i < BOOT_EXTRA_MAX; i++)
		offer_clear(&b->extra[i]);
	pthread_mutex_unlock(&b->mu);
}

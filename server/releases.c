/* stewardd releases: importing signed service packs into the site.
 *
 * POST /api/v1/releases takes the text of a release manifest that
 * stewardctl releases import found in a release file, after it uploaded
 * the files the manifest lists (PUT /api/v1/content/HASH). The site checks
 * the signature against the release keys of its configuration, the expiry,
 * that every file is in its content store with the right size, and that
 * the release is newer than every release it imported before: an older
 * one (a replayed manifest) is refused unless the administrator asks for
 * a rollback. With "check_only": true it stops after these checks, so
 * that stewardctl uploads nothing to a site that would refuse the
 * release. Accepted, the manifest is stored as a blob and the release
 * and its blobs as rows; remote distribution points then fetch its files
 * like a package's. A release built with deltas comes with its delta list
 * ("deltas": the text of release.deltas, signed by the release's key for
 * this manifest): its patches must be in the content store too, they become
 * blobs of the release (so distribution points sync them), and the list's
 * blob hash is kept in the setting release_deltas:VERSION for the upgrade
 * offer. docs/internals/releases.md and deltas.md have the whole story.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "steward/content.h"
#include "site.h"

/* A manifest of CONTENT_RELEASE_MAX bytes as a JSON string: TABs and LFs
 * become two bytes each. */
#define RELEASE_BODY_MAX (3u * CONTENT_RELEASE_MAX)

static json_t *components_json(const struct content_release *r)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < r->n_components; i++) {
		const struct content_component *c = &r->components[i];
		char range[24];

		snprintf(range, sizeof(range), "%u-%u", c->proto_min, c->proto_max);
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s?}", "name", c->name, "kind",
						   content_component_kind_name(c->kind), "version",
						   c->version, "protocol", range, "needs_base",
						   c->needs_base[0] ? c->needs_base : NULL));
	}
	return a;
}

static const char *const state_names[] = {
    [SITE_RELEASE_GOOD] = "good",
    [SITE_RELEASE_FAILED] = "failed",
    [SITE_RELEASE_HALTED] = "halted",
    [SITE_RELEASE_WITHDRAWN] = "withdrawn",
};

/* offer / install: the versions the site offers agents and new machines */
static json_t *release_json(struct site *s, const struct store_release *r, const char *offer,
			    const char *install)
{
	json_t *comps = json_loads(r->components, 0, NULL), *o;
	char why[512];
	int state = site_release_state(s, r, why, sizeof(why));

	o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:s,s:b,s:s,s:o,s:I,s:I}", "version", r->version,
		      "manifest", r->manifest, "key", r->key, "created", time_json(r->created),
		      "expires", time_json(r->expires), "imported", time_json(r->imported),
		      "imported_by", r->imported_by, "rollback", r->rollback || r->rollback_at > 0,
		      "upgrade_from", r->upgrade_from, "components", comps ? comps : json_array(),
		      "files", (json_int_t)r->files, "bytes", (json_int_t)r->bytes);
	if (!o)
		return NULL;
	json_object_set_new(o, "state", json_string(state_names[state]));
	json_object_set_new(o, "state_reason", why[0] ? json_string(why) : json_null());
	json_object_set_new(o, "offered_to_agents", json_boolean(strcmp(offer, r->version) == 0));
	json_object_set_new(o, "installed_on_new_machines",
			    json_boolean(strcmp(install, r->version) == 0));
	json_object_set_new(o, "succeeded", json_integer((json_int_t)r->succeeded));
	json_object_set_new(o, "failed", json_integer((json_int_t)r->failed));
	json_object_set_new(o, "failed_total", json_integer((json_int_t)r->failed_total));
	if (r->marked) {
		json_object_set_new(o, r->withdrawn ? "withdrawn" : "reinstated", time_json(r->marked));
		json_object_set_new(o, "marked_by", json_string(r->marked_by));
		json_object_set_new(o, "mark_reason", json_string(r->mark_reason));
	}
	if (r->rollback_at)
		json_object_set_new(o, "rollback_offered", time_json(r->rollback_at));
	return o;
}

/* ---- the releases a site holds ------------------------------------------- */

struct rel_set {
	struct store_release *v;
	size_t n, cap;
};

static int collect_release(const struct store_release *r, void *ctx)
{
	struct rel_set *set = ctx;

	if (set->n == set->cap) {
		size_t ncap = set->cap ? 2 * set->cap : 8;
		void *p = realloc(set->v, ncap * sizeof(*set->v));

		if (!p)
			return -STEWARD_ENOMEM;
		set->v = p, set->cap = ncap;
	}
	set->v[set->n++] = *r;
	return 0;
}

int site_release_rows(struct site *s, struct store_release **rows, size_t *n)
{
	struct rel_set set = {0};
	int rc = s->store->ops->release_list(s->store, collect_release, &set);

	if (rc) {
		free(set.v);
		set.v = NULL, set.n = 0;
	}
	*rows = set.v;
	*n = set.n;
	return rc;
}

int site_release_manifest(struct site *s, const char *hash, bool trusted_only,
			  struct content_release *r, char **text, size_t *len,
			  struct steward_err *err)
{
	char path[4096];
	int rc;

	*text = NULL;
	*len = 0;
	if (!s->content || content_store_path(s->content, hash, path, sizeof(path)) ||
	    file_read_all(path, CONTENT_RELEASE_MAX, text, len))
		return steward_err_set(err, STEWARD_ENOTFOUND, "release_invalid",
				       "import the release again",
				       "manifest %s is not in this site's content store", hash);
	/* trusted when imported; the signature is checked again either way */
	rc = content_release_parse(*text, *len,
				   trusted_only ? (const uint8_t(*)[PROTO_PK_BYTES])s->cfg.release_keys
						: NULL,
				   trusted_only ? s->cfg.n_release_keys : 0, r, err);
	if (rc) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

static const struct store_release *find_release(const struct rel_set *set, const char *version)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].version, version) == 0)
			return &set->v[i];
	return NULL;
}

/* ---- importing ---------------------------------------------------------------- */

/* Every file of r in the content store at its size; blobs gets one row per
 * distinct hash, the manifest's own added by the caller. */
static int files_present(struct site *s, const struct content_release *r, struct store_blob *blobs,
			 size_t *nb, int64_t *bytes, struct steward_err *err)
{
	uint64_t have;

	*nb = 0;
	*bytes = 0;
	for (size_t i = 0; i < r->n_files; i++) {
		const struct content_release_file *f = &r->files[i];
		bool dup = false;

		if (!content_store_has(s->content, f->hash, &have) || have != f->size)
			return steward_err_set(err, STEWARD_ENOTFOUND, "content_missing",
					       "upload the release's files first: stewardctl "
					       "releases import does this",
					       "%s/%s: blob %s (%llu bytes) is not in the site's "
					       "content store",
					       f->component, f->path, f->hash,
					       (unsigned long long)f->size);
		*bytes += (int64_t)f->size;
		for (size_t j = 0; j < *nb && !dup; j++)
			dup = strcmp(blobs[j].hash, f->hash) == 0;
		if (dup)
			continue;
		snprintf(blobs[*nb].hash, sizeof(blobs[*nb].hash), "%s", f->hash);
		blobs[(*nb)++].size = (int64_t)f->size;
	}
	return 0;
}

/* The patches of the delta list in the content store at their sizes, and
 * the list itself stored as a blob (dhash): each one more blob row. */
static int deltas_present(struct site *s, struct release_import *imp,
			  const struct content_deltas *ds, struct store_blob *blobs, size_t *nb,
			  char dhash[CONTENT_HASH_HEX + 1], struct steward_err *err)
{
	uint64_t have;

	for (size_t i = 0; i < ds->n; i++) {
		const struct content_delta *d = &ds->d[i];
		bool dup = false;

		if (!content_store_has(s->content, d->patch, &have) || have != d->patch_size) {
			imp->status = 409;
			return steward_err_set(err, STEWARD_ENOTFOUND, "content_missing",
					       "upload the release's files first: stewardctl "
					       "releases import does this",
					       "patch %s (%llu bytes) of the delta list is not in the "
					       "site's content store",
					       d->patch, (unsigned long long)d->patch_size);
		}
		for (size_t j = 0; j < *nb && !dup; j++)
			dup = strcmp(blobs[j].hash, d->patch) == 0;
		if (dup)
			continue;
		snprintf(blobs[*nb].hash, sizeof(blobs[*nb].hash), "%s", d->patch);
		blobs[(*nb)++].size = (int64_t)d->patch_size;
	}
	if (content_store_put_buf(s->content, imp->deltas, imp->deltas_len, NULL, dhash, err)) {
		imp->status = 503;
		return -STEWARD_EIO;
	}
	snprintf(blobs[*nb].hash, sizeof(blobs[*nb].hash), "%s", dhash);
	blobs[(*nb)++].size = (int64_t)imp->deltas_len;
	return 0;
}

/* A refusal: err filled, imp->status the HTTP status to answer with. */
static int refuse(struct release_import *imp, int status)
{
	imp->status = status;
	return -STEWARD_EINVAL;
}

/* A rollback authorization for release r: signed by a release key this
 * site trusts, for r's version, not expired. */
static int rollback_auth_ok(struct site *s, const char *line, const struct content_release *r,
			    int64_t now, struct steward_err *err)
{
	struct content_rollback rb;
	bool trusted = false;

	if (content_rollback_parse(line, &rb, err) != 0)
		return -STEWARD_EINVAL;
	for (size_t i = 0; i < s->cfg.n_release_keys && !trusted; i++)
		trusted = memcmp(s->cfg.release_keys[i], rb.key, PROTO_PK_BYTES) == 0;
	if (!trusted || strcmp(rb.version, r->version) != 0 || rb.expires <= now)
		return steward_err_set(
		    err, STEWARD_EAUTH, "rollback_invalid",
		    "sign it again: stewardctl releases rollback-sign --key FILE "
		    "--version VERSION",
		    "the rollback authorization %s",
		    !trusted ? "is signed by a key this site does not trust"
		    : strcmp(rb.version, r->version) != 0 ? "names another release"
							  : "has expired");
	return 0;
}

/* Keep the authorization beside the release: offers carry it. */
static int rollback_auth_store(struct site *s, const char *version, const char *line,
			       struct steward_err *err)
{
	char key[sizeof(SITE_ROLLBACK_AUTH_SETTING) + CONTENT_VERSION_MAX];
	int rc;

	snprintf(key, sizeof(key), SITE_ROLLBACK_AUTH_SETTING "%s", version);
	rc = s->store->ops->setting_set(s->store, key, line);
	if (rc)
		return steward_err_set(err, STEWARD_ESTORE, "store_unavailable",
				       "retry; see the site's log",
				       "cannot keep the rollback authorization of %s: %s", version,
				       steward_strerror(rc));
	return 0;
}

json_t *site_release_keys_json(struct site *s)
{
	char hex[CONTENT_RELEASE_KEYS_MAX][2 * PROTO_PK_BYTES + 1], sig[96], *canon;
	const char *keys[CONTENT_RELEASE_KEYS_MAX];
	size_t n = s->cfg.n_release_keys;
	json_t *o, *a, *e;

	if (n == 0)
		return NULL;
	if (n > CONTENT_RELEASE_KEYS_MAX)
		n = CONTENT_RELEASE_KEYS_MAX; /* agents keep this many; the first ones */
	for (size_t i = 0; i < n; i++) {
		hex_encode(s->cfg.release_keys[i], PROTO_PK_BYTES, hex[i]);
		keys[i] = hex[i];
	}
	canon = content_release_keys_canon(keys, n);
	if (!canon)
		return NULL;
	proto_sign(&s->site_kp, canon, sig);
	free(canon);
	a = json_array();
	e = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(hex[i]));
	/* agents hold at most this many keys, and the reply has a cap */
	for (int i = 0; e && i < s->cfg.release_key_endorsement.n && i < CONTENT_RELEASE_KEYS_MAX;
	     i++)
		json_array_append_new(e, json_string(s->cfg.release_key_endorsement.items[i]));
	o = json_pack("{s:o*,s:s,s:o*}", "keys", a, "signature", sig, "endorsements", e);
	return o;
}

int site_release_import(struct site *s, struct release_import *imp, struct steward_err *err)
{
	struct content_release r;
	struct store_release *row = &imp->row;
	struct store_blob *blobs = NULL;
	struct rel_set set = {0};
	const struct store_release *held;
	char newest[STORE_RELEASE_VERSION_MAX + 1] = "", when[32], *ctext = NULL;
	char dhash[CONTENT_HASH_HEX + 1] = "";
	struct content_deltas ds;
	json_t *comps = NULL;
	size_t nb = 0;
	int64_t now = time_now_s();
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&ds, 0, sizeof(ds));
	memset(row, 0, sizeof(*row));
	imp->is_newest = imp->held = false;
	imp->status = 0;
	if (s->cfg.n_release_keys == 0) {
		steward_err_set(err, STEWARD_EAUTH, "release_untrusted",
				"add release_key = HEX (the FILE.pub of stewardctl releases keygen) "
				"to the site's configuration and restart stewardd",
				"this site trusts no release key, so it imports no release");
		rc = refuse(imp, 403);
		goto out;
	}
	if (content_release_parse(imp->text, imp->len,
				  (const uint8_t(*)[PROTO_PK_BYTES])s->cfg.release_keys,
				  s->cfg.n_release_keys, &r, err)) {
		rc = refuse(imp, strcmp(err->code, "release_untrusted") == 0 ? 403 : 400);
		goto out;
	}
	if (imp->deltas) {
		char mhash[CONTENT_HASH_HEX + 1];

		if (content_deltas_parse(imp->deltas, imp->deltas_len, r.key, &ds, err)) {
			rc = refuse(imp, 400);
			goto out;
		}
		content_hash_buf(imp->text, imp->len, mhash);
		if (strcmp(ds.version, r.version) != 0 || strcmp(ds.manifest, mhash) != 0) {
			steward_err_set(err, STEWARD_EINVAL, "deltas_invalid",
					"import the release file as stewardctl releases build "
					"wrote it",
					"the delta list is for release %s, not for this manifest of "
					"%s",
					ds.version, r.version);
			rc = refuse(imp, 400);
			goto out;
		}
	}
	if (r.expires <= now) {
		time_rfc3339(r.expires, when);
		steward_err_set(err, STEWARD_EINVAL, "release_expired",
				"build the release again (make release) or get a current one from "
				"its publisher",
				"release %s expired at %s", r.version, when);
		rc = refuse(imp, 400);
		goto out;
	}
	rc = s->store->ops->release_list(s->store, collect_release, &set);
	if (!rc)
		rc = s->store->ops->setting_get(s->store, STORE_SETTING_RELEASE_NEWEST, newest,
						sizeof(newest));
	if (rc == -STEWARD_ENOTFOUND)
		rc = 0, newest[0] = '\0';
	if (rc) {
		steward_err_set(err, STEWARD_ESTORE, "store_unavailable", "retry; see the site's log",
				"cannot read the releases: %s", steward_strerror(rc));
		rc = refuse(imp, 503);
		goto out;
	}
	if (imp->rollback_auth && !imp->rollback) {
		steward_err_set(err, STEWARD_EINVAL, "bad_request",
				"pass --authorization together with --rollback",
				"a rollback authorization comes with a rollback import");
		rc = refuse(imp, 400);
		goto out;
	}
	if (imp->rollback_auth && rollback_auth_ok(s, imp->rollback_auth, &r, now, err)) {
		rc = refuse(imp, 400);
		goto out;
	}
	if (imp->rollback_auth && !imp->check_only &&
	    rollback_auth_store(s, r.version, imp->rollback_auth, err)) {
		rc = refuse(imp, 503);
		goto out;
	}
	held = find_release(&set, r.version);
	if (held && imp->rollback) {
		/* the documented way back, for a release the site holds: offer it
		 * again, ahead of newer ones */
		*row = *held;
		imp->held = true;
		if (!imp->check_only) {
			rc = s->store->ops->release_rollback(s->store, held->version, imp->by, now);
			if (rc) {
				steward_err_set(err, STEWARD_ESTORE, "store_unavailable",
						"retry; see the site's log", "cannot mark release %s: %s",
						held->version, steward_strerror(rc));
				rc = refuse(imp, 503);
				goto out;
			}
			row->rollback_at = now;
			row->withdrawn = false;
			site_bootstrap_releases_changed(s);
			log_info("releases", "rollback_offered", "version=%s by=%s", held->version,
				 imp->by);
		}
		rc = 0;
		goto out;
	}
	if (held) {
		steward_err_set(err, STEWARD_EEXIST, "release_exists",
				"releases are immutable: build the change as a new version; to offer "
				"this one again, import it with --rollback or withdraw the newer ones "
				"(stewardctl releases withdraw VERSION)",
				"release %s was imported before", r.version);
		rc = refuse(imp, 409);
		goto out;
	}
	imp->is_newest = !newest[0] || proto_semver_cmp(r.version, newest) > 0;
	if (!imp->is_newest && !imp->rollback) {
		steward_err_set(err, STEWARD_EINVAL, "release_not_newer",
				"to go back to an older release on purpose, import it with "
				"stewardctl releases import FILE --rollback",
				"release %s is not newer than %s, the newest this site has imported; "
				"an older manifest may be a replay",
				r.version, newest);
		rc = refuse(imp, 409);
		goto out;
	}
	snprintf(row->version, sizeof(row->version), "%s", r.version);
	if (imp->check_only) {
		rc = 0;
		goto out;
	}
	blobs = calloc(r.n_files + 2 + ds.n, sizeof(*blobs));
	comps = components_json(&r);
	ctext = comps ? json_dumps(comps, JSON_COMPACT) : NULL;
	if (!blobs || !ctext || strlen(ctext) > STORE_RELEASE_COMPONENTS_MAX) {
		steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
		rc = refuse(imp, 500);
		goto out;
	}
	if (files_present(s, &r, blobs, &nb, &row->bytes, err)) {
		rc = refuse(imp, 409);
		goto out;
	}
	if (content_store_put_buf(s->content, imp->text, imp->len, NULL, row->manifest, err)) {
		rc = refuse(imp, 503);
		goto out;
	}
	snprintf(blobs[nb].hash, sizeof(blobs[nb].hash), "%s", row->manifest);
	blobs[nb++].size = (int64_t)imp->len;
	if (imp->deltas && deltas_present(s, imp, &ds, blobs, &nb, dhash, err)) {
		rc = refuse(imp, imp->status);
		goto out;
	}
	hex_encode(r.key, PROTO_PK_BYTES, row->key);
	snprintf(row->upgrade_from, sizeof(row->upgrade_from), "%s", r.upgrade_from);
	snprintf(row->imported_by, sizeof(row->imported_by), "%s", imp->by);
	snprintf(row->components, sizeof(row->components), "%s", ctext);
	row->created = r.created;
	row->expires = r.expires;
	row->imported = now;
	row->rollback = !imp->is_newest;
	row->files = (int64_t)r.n_files;
	/* before the release row: an offer made from the row at once must
	 * find its deltas; "" (none) clears what a failed import of the same
	 * version may have left */
	{
		char key[sizeof(SITE_RELEASE_DELTAS_SETTING) + CONTENT_VERSION_MAX];

		snprintf(key, sizeof(key), SITE_RELEASE_DELTAS_SETTING "%s", r.version);
		if (s->store->ops->setting_set(s->store, key, dhash) != 0 && imp->deltas)
			log_warn("releases", "deltas_not_kept",
				 "version=%s action=\"agents fetch whole files\"", r.version);
		else if (imp->deltas)
			log_info("releases", "deltas_imported", "version=%s previous=%s deltas=%zu",
				 r.version, ds.previous, ds.n);
	}
	rc = s->store->ops->release_create(s->store, row, blobs, nb, imp->is_newest);
	if (rc == -STEWARD_EEXIST) {
		steward_err_set(err, STEWARD_EEXIST, "release_exists",
				"releases are immutable: build the change as a new version",
				"release %s was imported before", r.version);
		rc = refuse(imp, 409);
		goto out;
	}
	if (rc) {
		steward_err_set(err, STEWARD_ESTORE, "store_unavailable", "retry; see the site's log",
				"cannot store release %s: %s", r.version, steward_strerror(rc));
		rc = refuse(imp, 503);
		goto out;
	}
	site_bootstrap_releases_changed(s); /* the offer is chosen again */
	log_info("releases", "imported",
		 "version=%s manifest=%s files=%zu bytes=%lld rollback=%d by=%s", row->version,
		 row->manifest, r.n_files, (long long)row->bytes, (int)row->rollback, imp->by);
	/* and every site below gets it, with its files, over the links */
	site_hierarchy_release(s, imp->text, imp->len, row->version, imp->rollback);
out:
	free(ctext);
	json_decref(comps);
	free(blobs);
	free(set.v);
	content_deltas_clear(&ds);
	content_release_clear(&r);
	return rc;
}

/* ---- POST /api/v1/releases ------------------------------------------------ */

enum http_result site_h_releases_import(struct http_req *req, void *app)
{
	struct site *s = app;
	json_t *body = admin_body(req), *jrb, *jcheck, *o;
	struct release_import imp;
	struct steward_err err = {.code = ""};
	char offer[STORE_RELEASE_VERSION_MAX + 1], install[STORE_RELEASE_VERSION_MAX + 1];

	memset(&imp, 0, sizeof(imp));
	if (!body)
		return HTTP_DONE;
	imp.text = json_string_value(json_object_get(body, "manifest"));
	imp.len = json_string_length(json_object_get(body, "manifest"));
	jrb = json_object_get(body, "rollback");
	jcheck = json_object_get(body, "check_only");
	if (!imp.text || imp.len == 0 || imp.len > CONTENT_RELEASE_MAX ||
	    (jrb && !json_is_boolean(jrb)) || (jcheck && !json_is_boolean(jcheck))) {
		reply_error(req, 400, "bad_request",
			    "send {\"manifest\": TEXT, \"rollback\": false}; stewardctl releases "
			    "import does",
			    "field 'manifest' must be the text of a release manifest of at most %u "
			    "bytes, and 'rollback' and 'check_only' booleans",
			    CONTENT_RELEASE_MAX);
		goto out;
	}
	imp.rollback = json_is_true(jrb);
	imp.check_only = json_is_true(jcheck);
	imp.rollback_auth = json_string_value(json_object_get(body, "rollback_authorization"));
	imp.deltas = json_string_value(json_object_get(body, "deltas"));
	imp.deltas_len = json_string_length(json_object_get(body, "deltas"));
	if (json_object_get(body, "deltas") &&
	    (!imp.deltas || imp.deltas_len == 0 || imp.deltas_len > CONTENT_DELTAS_MAX)) {
		reply_error(req, 400, "bad_request", "stewardctl releases import sends it",
			    "field 'deltas' must be the text of a release delta list of at most %u "
			    "bytes",
			    CONTENT_DELTAS_MAX);
		goto out;
	}
	if (json_object_get(body, "rollback_authorization") &&
	    (!imp.rollback_auth || strlen(imp.rollback_auth) > CONTENT_STATEMENT_MAX)) {
		reply_error(req, 400, "bad_request",
			    "send the one line stewardctl releases rollback-sign printed",
			    "field 'rollback_authorization' must be a string of at most %d bytes",
			    CONTENT_STATEMENT_MAX);
		goto out;
	}
	imp.by = site_admin_who(req);
	if (site_release_import(s, &imp, &err)) {
		http_reply_error(req, imp.status, &err);
		goto out;
	}
	if (imp.check_only) {
		/* stewardctl asks before it uploads the files */
		o = json_pack("{s:s,s:b,s:b}", "version", imp.row.version, "acceptable", 1, "newest",
			      imp.is_newest);
		if (o && imp.held)
			json_object_set_new(o, "held", json_true());
		reply_json_obj(req, 200, o);
		goto out;
	}
	site_bootstrap_offers(s, offer, install, sizeof(offer));
	o = release_json(s, &imp.row, offer, install);
	json_object_set_new(o, "newest", json_boolean(imp.is_newest));
	reply_json_obj(req, imp.held ? 200 : 201, o);
out:
	json_decref(body);
	return HTTP_DONE;
}

/* ---- GET /api/v1/releases, /api/v1/releases/{version} ------------------------ */

enum http_result site_h_releases_list(struct http_req *req, void *app)
{
	struct site *s = app;
	struct rel_set set = {0};
	char newest[STORE_RELEASE_VERSION_MAX + 1] = "";
	char offer[STORE_RELEASE_VERSION_MAX + 1], install[STORE_RELEASE_VERSION_MAX + 1];
	json_t *a;
	int rc;

	rc = s->store->ops->release_list(s->store, collect_release, &set);
	if (!rc && s->store->ops->setting_get(s->store, STORE_SETTING_RELEASE_NEWEST, newest,
					      sizeof(newest)))
		newest[0] = '\0';
	if (rc) {
		free(set.v);
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	site_bootstrap_offers(s, offer, install, sizeof(offer));
	a = json_array();
	for (size_t i = 0; i < set.n; i++) {
		json_t *o = release_json(s, &set.v[i], offer, install);

		json_object_set_new(o, "newest", json_boolean(strcmp(set.v[i].version, newest) == 0));
		json_array_append_new(a, o);
	}
	free(set.v);
	reply_json_obj(req, 200, a);
	return HTTP_DONE;
}

/* The stored manifest, parsed again: its files for `releases show`. */
static json_t *files_of(struct site *s, const struct store_release *row, json_t **manifest)
{
	struct content_release r;
	struct steward_err err;
	char *text = NULL;
	size_t len = 0;
	json_t *a = NULL;

	*manifest = NULL;
	if (site_release_manifest(s, row->manifest, false, &r, &text, &len, &err) == 0) {
		/* the signed text itself, for a console to check (self-update) */
		*manifest = json_stringn(text, len);
		a = json_array();
		for (size_t i = 0; a && i < r.n_files; i++) {
			const struct content_release_file *f = &r.files[i];

			json_array_append_new(a, json_pack("{s:s,s:s,s:i,s:I,s:s}", "component",
							   f->component, "path", f->path, "mode",
							   (int)f->mode, "size", (json_int_t)f->size,
							   "hash", f->hash));
		}
		content_release_clear(&r);
	} else {
		log_warn("releases", "manifest_unreadable", "version=%s code=%s message=\"%s\"",
			 row->version, err.code, err.message);
	}
	free(text);
	return a;
}

/* The release named in the path, from the rows in set (which it fills);
 * NULL after replying 404 or a store error. */
static const struct store_release *path_release(struct http_req *req, struct site *s,
						struct rel_set *set)
{
	const char *version = http_req_param(req, 0);
	const struct store_release *row;
	int rc = s->store->ops->release_list(s->store, collect_release, set);

	if (rc) {
		reply_store_error(req, rc);
		return NULL;
	}
	row = version ? find_release(set, version) : NULL;
	if (!row)
		reply_error(req, 404, "release_not_found", "stewardctl releases list shows what there is",
			    "no release %.40s on this site", version ? version : "");
	return row;
}

static int collect_outcome(const struct store_release_outcome *o, void *ctx)
{
	return json_array_append_new(ctx, json_pack("{s:s,s:s,s:o,s:s}", "client", o->client,
						     "outcome", o->outcome, "time",
						     time_json(o->time), "detail", o->detail))
		   ? -STEWARD_ENOMEM
		   : 0;
}

#define RELEASE_OUTCOMES_SHOWN 50

static int collect_object(const struct store_site_object_row *o, void *ctx)
{
	return json_array_append_new(ctx, json_pack("{s:s,s:s,s:s,s:o}", "site", o->site, "state",
						     o->state, "detail", o->detail, "updated",
						     time_json(o->updated)))
		   ? -STEWARD_ENOMEM
		   : 0;
}

enum http_result site_h_releases_show(struct http_req *req, void *app)
{
	struct site *s = app;
	const struct store_release *row;
	struct rel_set set = {0};
	char newest[STORE_RELEASE_VERSION_MAX + 1] = "";
	char offer[STORE_RELEASE_VERSION_MAX + 1], install[STORE_RELEASE_VERSION_MAX + 1];
	json_t *o, *files, *text, *outcomes;

	row = path_release(req, s, &set);
	if (!row)
		goto out;
	site_bootstrap_offers(s, offer, install, sizeof(offer));
	o = release_json(s, row, offer, install);
	if (s->store->ops->setting_get(s->store, STORE_SETTING_RELEASE_NEWEST, newest,
				       sizeof(newest)))
		newest[0] = '\0';
	json_object_set_new(o, "newest", json_boolean(strcmp(row->version, newest) == 0));
	files = files_of(s, row, &text);
	json_object_set_new(o, "file_list", files ? files : json_null());
	json_object_set_new(o, "manifest_text", text ? text : json_null());
	/* the machines it failed on first, then the ones it passed on */
	outcomes = json_array();
	if (outcomes && s->store->ops->release_outcome_list(s->store, row->version,
							     RELEASE_OUTCOMES_SHOWN,
							     collect_outcome, outcomes) != 0) {
		json_decref(outcomes);
		outcomes = NULL;
	}
	json_object_set_new(o, "outcomes", outcomes ? outcomes : json_null());
	/* how it went at the sites below (they fetch and import it) */
	{
		json_t *below = json_array();

		if (below && s->store->ops->site_object_list(s->store, "release", row->version,
							     collect_object, below) != 0) {
			json_decref(below);
			below = NULL;
		}
		json_object_set_new(o, "sites_below", below ? below : json_null());
	}
	reply_json_obj(req, 200, o);
out:
	free(set.v);
	return HTTP_DONE;
}

/* ---- withdraw and reinstate ------------------------------------------------------ */

static enum http_result set_withdrawn(struct http_req *req, struct site *s, bool withdrawn)
{
	json_t *body = admin_body(req), *jr;
	const struct store_release *row;
	struct rel_set set = {0};
	char offer[STORE_RELEASE_VERSION_MAX + 1], install[STORE_RELEASE_VERSION_MAX + 1];
	const char *reason;
	struct store_release copy;
	int rc;

	if (!body)
		return HTTP_DONE;
	jr = json_object_get(body, "reason");
	reason = jr ? json_string_value(jr) : "";
	if (!reason || strlen(reason) > PROTO_REASON_MAX || !str_printable(reason)) {
		reply_error(req, 400, "bad_request", "give a printable reason of at most 256 characters",
			    "field 'reason' must be a string of at most %d printable characters",
			    PROTO_REASON_MAX);
		goto out;
	}
	if (!reason[0])
		reason = withdrawn ? "withdrawn by an administrator" : "reinstated by an administrator";
	row = path_release(req, s, &set);
	if (!row)
		goto out;
	rc = s->store->ops->release_mark(s->store, row->version, withdrawn, reason, site_admin_who(req),
					 time_now_s());
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	site_bootstrap_releases_changed(s); /* the offer is chosen again at once */
	log_info("releases", withdrawn ? "withdrawn" : "reinstated", "version=%s reason=\"%s\" by=%s",
		 row->version, reason, site_admin_who(req));
	copy = *row;
	copy.withdrawn = withdrawn;
	copy.marked = time_now_s();
	if (!withdrawn)
		copy.failed = 0, copy.last_failure[0] = '\0';
	snprintf(copy.mark_reason, sizeof(copy.mark_reason), "%s", reason);
	snprintf(copy.marked_by, sizeof(copy.marked_by), "%s", site_admin_who(req));
	site_bootstrap_offers(s, offer, install, sizeof(offer));
	reply_json_obj(req, 200, release_json(s, &copy, offer, install));
out:
	free(set.v);
	json_decref(body);
	return HTTP_DONE;
}

enum http_result site_h_releases_withdraw(struct http_req *req, void *app)
{
	return set_withdrawn(req, app, true);
}

enum http_result site_h_releases_reinstate(struct http_req *req, void *app)
{
	return set_withdrawn(req, app, false);
}

/* ---- what clients made of a release -------------------------------------------------- */

int site_release_outcome(struct site *s, const char *version, const char *client,
			 const char *outcome, const char *detail)
{
	struct store_release_outcome o;
	struct rel_set set = {0};
	bool held;
	int rc;

	memset(&o, 0, sizeof(o));
	if (str_copy(o.version, sizeof(o.version), version) ||
	    str_copy(o.client, sizeof(o.client), client) ||
	    str_copy(o.outcome, sizeof(o.outcome), outcome))
		return -STEWARD_EINVAL;
	snprintf(o.detail, sizeof(o.detail), "%s", detail);
	o.time = time_now_s();
	/* only releases this site holds: another site's version says nothing
	 * about what this site offers */
	rc = s->store->ops->release_list(s->store, collect_release, &set);
	held = !rc && find_release(&set, version);
	free(set.v);
	if (rc)
		return rc;
	if (!held)
		return -STEWARD_ENOTFOUND;
	rc = s->store->ops->release_outcome_put(s->store, &o);
	if (rc)
		return rc;
	if (strcmp(outcome, "succeeded") != 0) {
		log_warn("releases", "release_failed_on", "version=%s client=\"%s\" outcome=%s detail=\"%.200s\"",
			 version, client, outcome, detail);
		site_bootstrap_releases_changed(s);
	}
	return 0;
}

/* The status messages in which an agent reports how its switch ended
 * (agent/upgrade.c writes them): "now running V (slot X)" and "upgrade to
 * V failed and was rolled back to W: WHY". */
void site_releases_checkin_status(struct site *s, const char *client,
				  const struct proto_checkin_req *ci)
{
	for (int i = 0; i < ci->n_status; i++) {
		const struct proto_status_msg *m = &ci->status[i];
		char v[STORE_RELEASE_VERSION_MAX + 1];
		const char *outcome;
		int x, y, z;

		if (strncmp(m->type, "upgrade_", 8) != 0)
			continue;
		if (strcmp(m->type, "upgrade_failed_rolled_back") == 0 &&
		    sscanf(m->text, "upgrade to %31s failed", v) == 1)
			outcome = "rolled_back";
		else if (strcmp(m->type, "upgrade_succeeded") == 0 &&
			 sscanf(m->text, "now running %31s", v) == 1)
			outcome = "succeeded";
		else
			continue;
		if (proto_semver_parse(v, &x, &y, &z) != 0)
			continue;
		site_release_outcome(s, v, client, outcome, m->text);
		site_rollouts_outcome(s, client, v, strcmp(outcome, "succeeded") == 0, m->text);
	}
}

/* consoleupdate: the way out for a console the site refuses.
 *
 * Every admin route runs the version handshake first (auth.c), so a
 * stewardctl that shares no protocol or API with its site is refused on
 * every call, `site show` and `releases show` included. These two routes
 * skip the handshake (PERM_CONSOLE_UPDATE; they still need an admin
 * token) and answer in a format that stays readable across protocol
 * versions, as /bootstrap.sh does for machines that have no agent yet:
 *
 *   GET /update/console[?version=X.Y.Z]
 *       the console the site offers, as a steward-console-update-1
 *       document (lib/proto/console.c): the site's version, protocol and
 *       API, the release and its signed manifest verbatim, the console
 *       component's stewardctl with its SHA-256, size and download path.
 *   GET /update/console/files/HASH
 *       a file of a console component of a release the site holds, through
 *       the distribution point's download path (content.c); nothing else.
 *
 * The release offered is the newest the site holds whose console component
 * speaks a protocol overlapping the site's, that has not expired, was not
 * withdrawn and whose key the site still trusts (an explicit rollback put
 * forward later wins, as for agents: site_release_choose in bootstrap.c),
 * or the version asked for. stewardctl
 * self-update checks the manifest's signature itself, the file against the
 * manifest's hash, and runs the new binary before it renames it over
 * itself: the site is trusted here for nothing the console cannot check.
 * docs/internals/console-update.md has the format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "site.h"

#define CONSOLE_BINARY	     "bin/stewardctl" /* what self-update replaces itself with */
#define CONSOLE_FILES_PREFIX PROTO_CONSOLE_UPDATE_PATH "/files/"
#define REMEDY_IMPORT                                                                              \
	"an administrator imports a release that carries stewardctl for this site's protocol "     \
	"(make release builds one; stewardctl releases import FILE with a console the site "       \
	"accepts), or installs the stewardctl of the site's release by hand"

/* The row of the release to offer: version when given, else the one the
 * site puts forward for consoles (site_release_choose); NULL when none. */
static const struct store_release *choose(const struct site *s, const struct store_release *rows,
					  size_t n, const char *version, int64_t now)
{
	char name[CONTENT_COMPONENT_NAME_MAX + 1], why[320];

	for (size_t i = 0; version && i < n; i++)
		if (strcmp(rows[i].version, version) == 0)
			return site_release_choose(s, &rows[i], 1, SITE_CHOOSE_CONSOLE, now, name,
						   sizeof(name), why, sizeof(why));
	if (version)
		return NULL;
	return site_release_choose(s, rows, n, SITE_CHOOSE_CONSOLE, now, name, sizeof(name), why,
				   sizeof(why));
}

/* The console component of r this site can talk to and its stewardctl. */
static const struct content_release_file *console_file(const struct content_release *r,
						       const struct content_component **comp)
{
	struct proto_range self = proto_self_range();

	*comp = NULL;
	for (size_t i = 0; i < r->n_components; i++) {
		const struct content_component *c = &r->components[i];
		struct proto_range pr = {(int)c->proto_min, (int)c->proto_max};

		if (c->kind != CONTENT_KIND_CONSOLE || proto_negotiate(&pr, &self) < 0)
			continue;
		for (size_t j = 0; j < r->n_files; j++)
			if (strcmp(r->files[j].component, c->name) == 0 &&
			    strcmp(r->files[j].path, CONSOLE_BINARY) == 0) {
				*comp = c;
				return &r->files[j];
			}
	}
	return NULL;
}

/* X.Y.Z in its one spelling, as release manifests hold it. */
static bool version_ok(const char *v)
{
	char back[CONTENT_VERSION_MAX + 1];
	int x, y, z;

	if (strlen(v) > CONTENT_VERSION_MAX || proto_semver_parse(v, &x, &y, &z) != 0)
		return false;
	snprintf(back, sizeof(back), "%d.%d.%d", x, y, z);
	return strcmp(back, v) == 0;
}

enum http_result site_h_console_update(struct http_req *req, void *app)
{
	struct site *s = app;
	const char *want = http_req_query(req, "version");
	struct proto_range self = proto_self_range();
	struct store_release *rows = NULL;
	const struct store_release *row;
	const struct content_component *comp;
	const struct content_release_file *f;
	struct proto_console_update u;
	struct content_release r;
	struct steward_err err = {.code = ""};
	char range[24], *text = NULL, *doc = NULL;
	size_t n = 0, len = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&u, 0, sizeof(u));
	proto_range_format(&self, range);
	if (want && !version_ok(want)) {
		reply_error(req, 400, "bad_request", "give the version as X.Y.Z, e.g. 1.2.0",
			    "'%.40s' is not a release version", want);
		return HTTP_DONE;
	}
	rc = site_release_rows(s, &rows, &n);
	if (rc) {
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	row = choose(s, rows, n, want, time_now_s());
	if (!row && want)
		reply_error(
		    req, 404, "release_not_found", REMEDY_IMPORT,
		    "release %s is not on site %s, has expired or was withdrawn, or holds no "
		    "stewardctl that speaks the site's protocol %s",
		    want, s->cfg.site_code, range);
	else if (!row)
		reply_error(req, 404, "release_not_found", REMEDY_IMPORT,
			    "site %s (version %s, protocol %s) holds no current release with a "
			    "stewardctl that speaks its protocol",
			    s->cfg.site_code, proto_self_version(), range);
	if (!row)
		goto out;
	if (site_release_manifest(s, row->manifest, true, &r, &text, &len, &err) != 0) {
		log_warn("consoles", "update_unavailable", "release=%s code=%s message=\"%s\"",
			 row->version, err.code, err.message);
		http_reply_error(req, 409, &err);
		goto out;
	}
	f = console_file(&r, &comp);
	if (!f) {
		reply_error(req, 409, "release_invalid", "build the release with make release",
			    "release %s has no %s in a console component that speaks protocol %s",
			    row->version, CONSOLE_BINARY, range);
		goto out;
	}
	snprintf(u.site_code, sizeof(u.site_code), "%s", s->cfg.site_code);
	snprintf(u.site_version, sizeof(u.site_version), "%s", proto_self_version());
	u.site_protocol = self;
	u.site_api = STEWARD_API_MAJOR;
	snprintf(u.release, sizeof(u.release), "%s", r.version);
	u.manifest = text;
	u.manifest_len = len;
	snprintf(u.component, sizeof(u.component), "%s", comp->name);
	snprintf(u.version, sizeof(u.version), "%s", comp->version);
	u.protocol.min = (int)comp->proto_min;
	u.protocol.max = (int)comp->proto_max;
	snprintf(u.path, sizeof(u.path), "%s", f->path);
	snprintf(u.sha256, sizeof(u.sha256), "%s", f->hash);
	u.size = f->size;
	snprintf(u.download, sizeof(u.download), CONSOLE_FILES_PREFIX "%s", f->hash);
	doc = proto_console_update_build(&u);
	if (!doc) {
		reply_error(req, 500, "internal", "report this with the site's log",
			    "cannot encode the console update of release %s", r.version);
		goto out;
	}
	log_info("consoles", "update_offered", "release=%s console=%s peer=%s", r.version,
		 comp->version, http_req_peer(req));
	http_reply_json(req, 200, doc);
out:
	free(doc);
	free(text);
	content_release_clear(&r);
	free(rows);
	return HTTP_DONE;
}

/* Whether hash is a file of a console component of a release this site
 * holds and still trusts. Reads the manifests (a handful): a console
 * update is rare. */
static bool console_hash(struct site *s, const char *hash)
{
	struct store_release *rows = NULL;
	bool found = false;
	size_t n = 0;

	if (site_release_rows(s, &rows, &n) != 0)
		return false;
	for (size_t i = 0; i < n && !found; i++) {
		struct content_release r;
		struct steward_err err;
		char *text = NULL;
		size_t len = 0;

		memset(&r, 0, sizeof(r));
		if (site_release_manifest(s, rows[i].manifest, true, &r, &text, &len, &err) != 0)
			continue;
		for (size_t j = 0; j < r.n_files && !found; j++) {
			const struct content_component *c =
			    content_release_component(&r, r.files[j].component);

			found = c && c->kind == CONTENT_KIND_CONSOLE &&
				strcmp(r.files[j].hash, hash) == 0;
		}
		content_release_clear(&r);
		free(text);
	}
	free(rows);
	return found;
}

enum http_result site_h_console_update_file(struct http_req *req, void *app)
{
	const char *hash = http_req_param(req, 0);

	if (!hash || !content_hash_valid(hash) || !console_hash(app, hash)) {
		reply_error(req, 404, "not_a_console_file",
			    "ask GET " PROTO_CONSOLE_UPDATE_PATH " which file to fetch (stewardctl "
			    "self-update does)",
			    "%.70s is not a file of a console of a release on this site",
			    hash ? hash : "");
		return HTTP_DONE;
	}
	return site_h_content_get(req, app);
}

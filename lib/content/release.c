/* content/release: the signed manifest of a release (a service pack).
 *
 * The format is described in docs/internals/releases.md. Sites read it from
 * an administrator's upload and agents later get its components through the
 * site, so the parser is as strict as the package manifest's: one text per
 * release, parse(build(r)) gives back r, and the checks of the builder and
 * the parser are the same function (release_ok).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "steward/content.h"
#include "text_int.h"

#define RELEASE_MAGIC	"steward-release"
#define RELEASE_VERSION "1"

static const char REMEDY_PARSE[] =
    "the release manifest is damaged or was not written by stewardctl releases build: build "
    "the release again (make release) and import the new file";

static const struct ctext_kind release_kind = {
    "release manifest", "release manifest format", RELEASE_MAGIC, RELEASE_VERSION,
    "release_invalid", REMEDY_PARSE};
static const char REMEDY_SIGNATURE[] =
    "the release was changed after it was signed, or signed with another key: import the "
    "file as it was built, or build it again with the release key";
static const char REMEDY_UNTRUSTED[] =
    "add the release key's public half (FILE.pub, 64 hex digits) to the site's configuration "
    "as release_key = HEX and restart stewardd, or sign the release with a key the site trusts";
static const char REMEDY_BUILD[] =
    "fix the release: versions X.Y.Z, component names of a-z 0-9 -, protocol ranges with "
    "min <= max, files sorted by component and path, each under a listed component";

static const char *const kind_names[] = {
    [CONTENT_KIND_LAUNCHER] = "launcher", [CONTENT_KIND_BASE] = "base",
    [CONTENT_KIND_OPTIONAL] = "optional", [CONTENT_KIND_SITE] = "site",
    [CONTENT_KIND_CONSOLE] = "console",
};
#define N_KINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *content_component_kind_name(enum content_component_kind k)
{
	return (unsigned)k < N_KINDS ? kind_names[k] : "?";
}

static bool kind_parse(struct ctext_field f, enum content_component_kind *out)
{
	for (size_t i = 0; i < N_KINDS; i++)
		if (ctext_field_is(f, kind_names[i])) {
			*out = (enum content_component_kind)i;
			return true;
		}
	return false;
}

bool content_component_name_valid(const char *name)
{
	size_t n;

	if (!name || name[0] < 'a' || name[0] > 'z')
		return false;
	n = strlen(name);
	if (n > CONTENT_COMPONENT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(name[i] >= 'a' && name[i] <= 'z') && !ctext_is_digit((unsigned char)name[i]) &&
		    name[i] != '-')
			return false;
	return true;
}

/* X.Y.Z in its one text: no leading zeros, no sign. */
static bool version_valid(const char *v)
{
	char back[CONTENT_VERSION_MAX + 1];
	int a, b, c;

	if (!v || strlen(v) > CONTENT_VERSION_MAX || proto_semver_parse(v, &a, &b, &c) != 0)
		return false;
	snprintf(back, sizeof(back), "%d.%d.%d", a, b, c);
	return strcmp(back, v) == 0;
}

void content_release_clear(struct content_release *r)
{
	if (!r)
		return;
	free(r->files);
	memset(r, 0, sizeof(*r));
}

const struct content_component *content_release_component(const struct content_release *r,
							     const char *name)
{
	for (size_t i = 0; i < r->n_components; i++)
		if (strcmp(r->components[i].name, name) == 0)
			return &r->components[i];
	return NULL;
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* ---- one check for the builder and the parser ---------------------------- */

static bool component_ok(const struct content_release *r, size_t i, char *why, size_t whysz)
{
	const struct content_component *c = &r->components[i];

	if (!terminated(c->name, sizeof(c->name)) || !content_component_name_valid(c->name)) {
		snprintf(why, whysz, "component %zu: name is not 1-%d characters of a-z 0-9 -, "
			 "starting with a letter", i + 1, CONTENT_COMPONENT_NAME_MAX);
		return false;
	}
	if (i > 0 && strcmp(r->components[i - 1].name, c->name) >= 0) {
		snprintf(why, whysz, "component '%s' is %s", c->name,
			 strcmp(r->components[i - 1].name, c->name) == 0
			     ? "listed twice"
			     : "out of order (components are sorted by name)");
		return false;
	}
	if ((unsigned)c->kind >= N_KINDS) {
		snprintf(why, whysz, "component '%s': unknown kind %d", c->name, (int)c->kind);
		return false;
	}
	if (!terminated(c->version, sizeof(c->version)) || !version_valid(c->version)) {
		snprintf(why, whysz, "component '%s': version is not X.Y.Z", c->name);
		return false;
	}
	if (c->proto_min < 1 || c->proto_min > c->proto_max || c->proto_max > CONTENT_PROTO_MAX) {
		snprintf(why, whysz,
			 "component '%s': protocol range %u-%u is not 1 <= min <= max <= %d",
			 c->name, c->proto_min, c->proto_max, CONTENT_PROTO_MAX);
		return false;
	}
	if (!terminated(c->needs_base, sizeof(c->needs_base)) ||
	    (c->needs_base[0] && !version_valid(c->needs_base))) {
		snprintf(why, whysz, "component '%s': the base version it needs is not X.Y.Z",
			 c->name);
		return false;
	}
	if (c->needs_base[0] && c->kind != CONTENT_KIND_OPTIONAL) {
		snprintf(why, whysz,
			 "component '%s': only optional components name the base they need",
			 c->name);
		return false;
	}
	return true;
}

static int file_cmp(const struct content_release_file *a, const struct content_release_file *b)
{
	int r = strcmp(a->component, b->component);

	return r ? r : strcmp(a->path, b->path);
}

static bool file_ok(const struct content_release *r, size_t i, char *why, size_t whysz)
{
	const struct content_release_file *f = &r->files[i];
	char q[CTEXT_QUOTE_MAX + 4];
	const char *problem;

	if (!terminated(f->component, sizeof(f->component)) ||
	    !terminated(f->path, sizeof(f->path)) || !terminated(f->hash, sizeof(f->hash))) {
		snprintf(why, whysz, "file %zu: a field is not NUL-terminated", i + 1);
		return false;
	}
	if (!content_release_component(r, f->component)) {
		snprintf(why, whysz, "file %zu: component '%s' is not listed", i + 1,
			 ctext_quote(q, f->component, strlen(f->component)));
		return false;
	}
	if ((problem = content_path_problem(f->path))) {
		snprintf(why, whysz, "file %zu: path '%s' %s", i + 1,
			 ctext_quote(q, f->path, strlen(f->path)), problem);
		return false;
	}
	if (i > 0 && file_cmp(&r->files[i - 1], f) >= 0) {
		snprintf(why, whysz, "file %s/%s is %s", f->component,
			 ctext_quote(q, f->path, strlen(f->path)),
			 file_cmp(&r->files[i - 1], f) == 0
			     ? "listed twice"
			     : "out of order (files are sorted by component, then path)");
		return false;
	}
	if (f->mode & ~0777u) {
		snprintf(why, whysz, "file %s/%s: mode %#o has bits other than the permissions",
			 f->component, ctext_quote(q, f->path, strlen(f->path)), f->mode);
		return false;
	}
	if (!content_hash_valid(f->hash)) {
		snprintf(why, whysz, "file %s/%s: hash is not 64 lowercase hex digits",
			 f->component, ctext_quote(q, f->path, strlen(f->path)));
		return false;
	}
	return true;
}

/* Header fields; the lists are checked item by item. */
static bool head_ok(const struct content_release *r, char *why, size_t whysz)
{
	if (!terminated(r->version, sizeof(r->version)) || !version_valid(r->version)) {
		snprintf(why, whysz, "release version is not X.Y.Z (at most %d characters)",
			 CONTENT_VERSION_MAX);
		return false;
	}
	if (r->created < 0 || r->created > CTEXT_TIME_MAX || r->expires < 0 ||
	    r->expires > CTEXT_TIME_MAX) {
		snprintf(why, whysz, "created and expires must lie between 1970 and 9999");
		return false;
	}
	if (r->expires <= r->created) {
		snprintf(why, whysz, "the release expires before it was created");
		return false;
	}
	if (!terminated(r->upgrade_from, sizeof(r->upgrade_from)) ||
	    !version_valid(r->upgrade_from)) {
		snprintf(why, whysz, "upgrade_from is not X.Y.Z");
		return false;
	}
	if (proto_semver_cmp(r->upgrade_from, r->version) > 0) {
		snprintf(why, whysz, "upgrade_from %s is newer than the release %s",
			 r->upgrade_from, r->version);
		return false;
	}
	if (r->n_components < 1 || r->n_components > CONTENT_RELEASE_COMPONENTS_MAX) {
		snprintf(why, whysz, "a release has 1 to %d components, not %zu",
			 CONTENT_RELEASE_COMPONENTS_MAX, r->n_components);
		return false;
	}
	if (r->n_files > CONTENT_RELEASE_FILES_MAX) {
		snprintf(why, whysz, "a release has at most %d files, not %zu",
			 CONTENT_RELEASE_FILES_MAX, r->n_files);
		return false;
	}
	return true;
}

/* ---- building ------------------------------------------------------------- */

int content_release_build(const struct content_release *r, const struct proto_keypair *kp,
			  char **text, size_t *len, struct steward_err *err)
{
	char created[32], expires[32], key[2 * PROTO_PK_BYTES + 1], why[200];
	struct buf b;
	int rc = 0;

	buf_init(&b, CONTENT_RELEASE_MAX - CTEXT_SIG_LINE_MAX);
	*text = NULL;
	*len = 0;
	if (!head_ok(r, why, sizeof(why)))
		goto bad;
	if (r->n_files && !r->files) {
		snprintf(why, sizeof(why), "%zu files but no file array", r->n_files);
		goto bad;
	}
	for (size_t i = 0; i < r->n_components; i++)
		if (!component_ok(r, i, why, sizeof(why)))
			goto bad;
	for (size_t i = 0; i < r->n_files; i++)
		if (!file_ok(r, i, why, sizeof(why)))
			goto bad;

	time_rfc3339(r->created, created);
	time_rfc3339(r->expires, expires);
	hex_encode(kp->pk, PROTO_PK_BYTES, key);
	rc = buf_printf(&b,
			RELEASE_MAGIC "\t" RELEASE_VERSION "\nversion\t%s\ncreated\t%s\n"
				      "expires\t%s\nkey\t%s\nupgrade_from\t%s\ncomponents\t%zu\n",
			r->version, created, expires, key, r->upgrade_from, r->n_components);
	for (size_t i = 0; rc == 0 && i < r->n_components; i++) {
		const struct content_component *c = &r->components[i];

		rc = buf_printf(&b, "component\t%s\t%s\t%s\t%u-%u\t%s\n", c->name,
				content_component_kind_name(c->kind), c->version, c->proto_min,
				c->proto_max, c->needs_base[0] ? c->needs_base : "-");
	}
	if (rc == 0)
		rc = buf_printf(&b, "files\t%zu\n", r->n_files);
	for (size_t i = 0; rc == 0 && i < r->n_files; i++) {
		const struct content_release_file *f = &r->files[i];

		rc = buf_printf(&b, "file\t%s\t%04o\t%" PRIu64 "\t%s\t%s\n", f->component, f->mode,
				f->size, f->hash, f->path);
	}
	if (rc == 0)
		rc = ctext_sign(&b, kp->sk);
	if (rc == -STEWARD_ETOOBIG) {
		rc = steward_err_set(err, STEWARD_ETOOBIG, "release_invalid", REMEDY_BUILD,
				     "the release manifest would be larger than %u bytes",
				     CONTENT_RELEASE_MAX);
		goto out;
	}
	if (rc) {
		rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
				     "out of memory building a release manifest");
		goto out;
	}
	*len = b.len;
	*text = buf_steal(&b);
	goto out;
bad:
	rc = steward_err_set(err, STEWARD_EINVAL, "release_invalid", REMEDY_BUILD, "%s", why);
out:
	buf_free(&b);
	return rc;
}

/* ---- parsing -------------------------------------------------------------- */

#define BAD(...)                                                                                   \
	do {                                                                                       \
		rc = steward_err_set(err, STEWARD_EINVAL, "release_invalid", REMEDY_PARSE,         \
				     __VA_ARGS__);                                                 \
		goto out;                                                                          \
	} while (0)

static int header(struct ctext_cursor *c, const char *name, struct ctext_field *value,
		  struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4];
	struct ctext_field l, f[2];
	int rc = 0;

	if (!ctext_next_line(c, &l))
		BAD("line %d: the release manifest ends before its '%s' line", c->line + 1, name);
	if (ctext_split(l, f, 2) != 2 || !ctext_field_is(f[0], name))
		BAD("line %d: expected '%s<TAB>...', found '%s'", c->line, name,
		    ctext_quote(q, l.s, l.n));
	*value = f[1];
out:
	return rc;
}

static int header_version(struct ctext_cursor *c, const char *name, char *out, size_t outsz,
			  struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4];
	struct ctext_field v;
	int rc;

	if ((rc = header(c, name, &v, err)))
		return rc;
	if (!ctext_field_copy(v, out, outsz) || !version_valid(out))
		BAD("line %d: %s '%s' is not a version X.Y.Z", c->line, name,
		    ctext_quote(q, v.s, v.n));
out:
	return rc;
}

static int header_time(struct ctext_cursor *c, const char *name, int64_t *out,
		       struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4];
	struct ctext_field v;
	int rc;

	if ((rc = header(c, name, &v, err)))
		return rc;
	if (!ctext_parse_time(v.s, v.n, out))
		BAD("line %d: %s '%s' is not a time like 2026-12-03T09:00:00Z", c->line, name,
		    ctext_quote(q, v.s, v.n));
out:
	return rc;
}

static int header_count(struct ctext_cursor *c, const char *name, uint64_t max, size_t *out,
			struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4];
	struct ctext_field v;
	const char *why;
	uint64_t n = 0;
	int rc;

	if ((rc = header(c, name, &v, err)))
		return rc;
	if ((why = ctext_parse_u64(v.s, v.n, UINT64_MAX, &n)))
		BAD("line %d: %s '%s' %s", c->line, name, ctext_quote(q, v.s, v.n), why);
	if (n > max)
		BAD("line %d: %" PRIu64 " %s; a release holds at most %" PRIu64, c->line, n, name,
		    max);
	*out = (size_t)n;
out:
	return rc;
}

/* "1-3": two decimal numbers in their one text */
static bool range_parse(struct ctext_field f, unsigned *lo, unsigned *hi)
{
	const char *dash = memchr(f.s, '-', f.n);
	uint64_t a, b;

	if (!dash || ctext_parse_u64(f.s, (size_t)(dash - f.s), CONTENT_PROTO_MAX, &a) ||
	    ctext_parse_u64(dash + 1, f.n - (size_t)(dash - f.s) - 1, CONTENT_PROTO_MAX, &b))
		return false;
	*lo = (unsigned)a, *hi = (unsigned)b;
	return true;
}

static int parse_component(struct ctext_cursor *c, struct content_component *k,
			   struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4];
	struct ctext_field l, f[7];
	size_t nf;
	int rc = 0;

	memset(k, 0, sizeof(*k));
	if (!ctext_next_line(c, &l))
		BAD("line %d: the release manifest ends before its last component", c->line + 1);
	nf = ctext_split(l, f, 6);
	if (!ctext_field_is(f[0], "component"))
		BAD("line %d: expected a component line, found '%s'", c->line,
		    ctext_quote(q, l.s, l.n));
	if (nf != 6)
		BAD("line %d: a component line has 6 fields (component, name, kind, version, "
		    "protocol range, base it needs), not %zu",
		    c->line, nf);
	if (!ctext_field_copy(f[1], k->name, sizeof(k->name)) ||
	    !content_component_name_valid(k->name))
		BAD("line %d: component name '%s' is not 1-%d characters of a-z 0-9 -", c->line,
		    ctext_quote(q, f[1].s, f[1].n), CONTENT_COMPONENT_NAME_MAX);
	if (!kind_parse(f[2], &k->kind))
		BAD("line %d: component kind '%s' is not launcher, base, optional, site or "
		    "console",
		    c->line, ctext_quote(q, f[2].s, f[2].n));
	if (!ctext_field_copy(f[3], k->version, sizeof(k->version)) || !version_valid(k->version))
		BAD("line %d: component version '%s' is not X.Y.Z", c->line,
		    ctext_quote(q, f[3].s, f[3].n));
	if (!range_parse(f[4], &k->proto_min, &k->proto_max))
		BAD("line %d: protocol range '%s' is not MIN-MAX", c->line,
		    ctext_quote(q, f[4].s, f[4].n));
	if (!ctext_field_is(f[5], "-") && (!ctext_field_copy(f[5], k->needs_base,
							      sizeof(k->needs_base)) ||
					    !version_valid(k->needs_base)))
		BAD("line %d: the base version needed '%s' is not X.Y.Z or -", c->line,
		    ctext_quote(q, f[5].s, f[5].n));
out:
	return rc;
}

static int parse_file(struct ctext_cursor *c, struct content_release_file *e,
		      struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4];
	struct ctext_field l, f[7];
	const char *why;
	size_t nf;
	int rc = 0;

	memset(e, 0, sizeof(*e));
	if (!ctext_next_line(c, &l))
		BAD("line %d: the release manifest ends before its last file", c->line + 1);
	nf = ctext_split(l, f, 6);
	if (!ctext_field_is(f[0], "file"))
		BAD("line %d: expected a file line, found '%s'", c->line, ctext_quote(q, l.s, l.n));
	if (nf != 6)
		BAD("line %d: a file line has 6 fields (file, component, mode, size, sha256, "
		    "path), not %zu",
		    c->line, nf);
	if (!ctext_field_copy(f[1], e->component, sizeof(e->component)))
		BAD("line %d: component name '%s' is too long", c->line,
		    ctext_quote(q, f[1].s, f[1].n));
	if (!ctext_parse_mode(f[2].s, f[2].n, &e->mode))
		BAD("line %d: file mode '%s' is not 4 octal digits of at most 0777", c->line,
		    ctext_quote(q, f[2].s, f[2].n));
	if ((why = ctext_parse_u64(f[3].s, f[3].n, UINT64_MAX, &e->size)))
		BAD("line %d: file size '%s' %s", c->line, ctext_quote(q, f[3].s, f[3].n), why);
	if (!ctext_field_copy(f[4], e->hash, sizeof(e->hash)) || !content_hash_valid(e->hash))
		BAD("line %d: file hash '%s' is not 64 lowercase hex digits", c->line,
		    ctext_quote(q, f[4].s, f[4].n));
	if (!ctext_field_copy(f[5], e->path, sizeof(e->path)))
		BAD("line %d: path is longer than %d bytes", c->line, CONTENT_PATH_MAX);
out:
	return rc;
}

int content_release_parse(const char *text, size_t len, const uint8_t (*trusted)[PROTO_PK_BYTES],
			  size_t n_trusted, struct content_release *r, struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4], hex[2 * PROTO_PK_BYTES + 1], why[200];
	struct ctext_cursor c = {text, text + len, 0};
	struct ctext_field v, l = {text, 0}, f[2];
	uint8_t sig[crypto_sign_BYTES];
	const char *signed_end;
	int rc = 0;
	bool trusted_key = false;

	memset(r, 0, sizeof(*r));
	if ((rc = ctext_open(&c, CONTENT_RELEASE_MAX, &release_kind, err)))
		goto out;
	if ((rc = header_version(&c, "version", r->version, sizeof(r->version), err)) ||
	    (rc = header_time(&c, "created", &r->created, err)) ||
	    (rc = header_time(&c, "expires", &r->expires, err)))
		goto out;
	if ((rc = header(&c, "key", &v, err)))
		goto out;
	if (!ctext_hex_lower(v, r->key, sizeof(r->key)))
		BAD("line %d: key '%s' is not 64 lowercase hex digits", c.line,
		    ctext_quote(q, v.s, v.n));
	if ((rc = header_version(&c, "upgrade_from", r->upgrade_from, sizeof(r->upgrade_from),
				 err)) ||
	    (rc = header_count(&c, "components", CONTENT_RELEASE_COMPONENTS_MAX, &r->n_components,
			       err)))
		goto out;
	if (r->n_components == 0)
		BAD("line %d: a release has 1 to %d components, not 0", c.line,
		    CONTENT_RELEASE_COMPONENTS_MAX);
	for (size_t i = 0; i < r->n_components; i++) {
		if ((rc = parse_component(&c, &r->components[i], err)))
			goto out;
		if (!component_ok(r, i, why, sizeof(why)))
			BAD("line %d: %s", c.line, why);
	}
	{
		size_t n_files = 0;

		if ((rc = header_count(&c, "files", CONTENT_RELEASE_FILES_MAX, &n_files, err)))
			goto out;
		if (n_files) {
			r->files = calloc(n_files, sizeof(*r->files));
			if (!r->files) {
				rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
						     "out of memory reading a release manifest");
				goto out;
			}
		}
		for (size_t i = 0; i < n_files; i++) {
			if ((rc = parse_file(&c, &r->files[i], err)))
				goto out;
			r->n_files = i + 1;
			if (!file_ok(r, i, why, sizeof(why)))
				BAD("line %d: %s", c.line, why);
		}
	}
	if (!head_ok(r, why, sizeof(why)))
		BAD("%s", why);

	signed_end = c.p;
	if (!ctext_next_line(&c, &l))
		BAD("line %d: the release manifest ends before its signature line", c.line + 1);
	if (ctext_split(l, f, 2) != 2 || !ctext_field_is(f[0], "signature")) {
		if (ctext_split(l, f, 2) >= 1 && ctext_field_is(f[0], "file"))
			BAD("line %d: more files than the files line says", c.line);
		BAD("line %d: expected 'signature<TAB>...', found '%s'", c.line,
		    ctext_quote(q, l.s, l.n));
	}
	if (!ctext_signature_value(f[1], sig))
		BAD("line %d: signature is not base64 of %d bytes (in its one canonical form)",
		    c.line, crypto_sign_BYTES);
	if (c.p != c.end)
		BAD("line %d: text after the signature line", c.line + 1);

	if (crypto_sign_verify_detached(sig, (const uint8_t *)text, (size_t)(signed_end - text),
					r->key) != 0) {
		rc = steward_err_set(err, STEWARD_EAUTH, "release_signature", REMEDY_SIGNATURE,
				     "the signature does not match release %s: it was changed "
				     "after signing",
				     r->version);
		goto out;
	}
	for (size_t i = 0; i < n_trusted && !trusted_key; i++)
		trusted_key = sodium_memcmp(trusted[i], r->key, PROTO_PK_BYTES) == 0;
	if (n_trusted && !trusted_key) {
		hex_encode(r->key, PROTO_PK_BYTES, hex);
		rc = steward_err_set(err, STEWARD_EAUTH, "release_untrusted", REMEDY_UNTRUSTED,
				     "release %s is signed by key %s, which this site does not trust",
				     r->version, hex);
		goto out;
	}
out:
	if (rc)
		content_release_clear(r);
	return rc;
}

/* content/manifest: the signed text that lists a package's entries.
 *
 * The format is described in docs/internals/content.md ("Manifest format").
 * An agent parses manifests it fetched from the network, so the parser
 * refuses everything the builder would not have written: a manifest has
 * exactly one text, and parse(build(m)) gives back m. Entries are checked by
 * the same function (entry_problem) on both sides.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "steward/content.h"
#include "text_int.h"

#define MANIFEST_MAGIC	 "steward-manifest"
#define MANIFEST_VERSION "1"
#define MODE_PERM	 0777u

#define STR_(x) #x
#define STR(x)	STR_(x)

static const char REMEDY_PARSE[] =
    "the manifest is damaged or was not written by stewardd: fetch it again, and if it stays "
    "invalid add the package again on the site (stewardctl packages add)";

static const struct ctext_kind manifest_kind = {
    "manifest", "manifest format version", MANIFEST_MAGIC, MANIFEST_VERSION, "manifest_invalid",
    REMEDY_PARSE};
static const char REMEDY_SIGNATURE[] =
    "the manifest was changed or signed by another site: fetch it again from a distribution "
    "point of this site; if it keeps failing, check the site key the agent holds";
static const char REMEDY_BUILD[] =
    "fix the file list: paths relative and unique, sorted by byte value, each directory listed "
    "before its contents, links pointing inside the package";

/* ---- small validators ---------------------------------------------------- */

bool content_pkg_name_valid(const char *name)
{
	size_t n;

	if (!name || !ctext_is_alnum((unsigned char)name[0]))
		return false;
	n = strlen(name);
	if (n > CONTENT_PKG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ctext_is_alnum((unsigned char)name[i]) && !strchr("._-+", name[i]))
			return false;
	return true;
}

bool content_pkg_version_valid(const char *version)
{
	size_t n;

	if (!version || !ctext_is_alnum((unsigned char)version[0]))
		return false;
	n = strlen(version);
	if (n > CONTENT_PKG_VERSION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ctext_is_alnum((unsigned char)version[i]) && !strchr("._-+~:", version[i]))
			return false;
	return true;
}

const char *content_path_problem(const char *path)
{
	const char *start;
	size_t len;

	if (!path || !path[0])
		return "is empty";
	len = strnlen(path, CONTENT_PATH_MAX + 1);
	if (len > CONTENT_PATH_MAX)
		return "is longer than " STR(CONTENT_PATH_MAX) " bytes";
	if (path[0] == '/')
		return "is absolute (starts with '/')";
	if (path[len - 1] == '/')
		return "ends with '/'";
	if (ctext_has_control(path))
		return "holds a control character (a byte below 0x20, or 0x7f)";
	if (!ctext_utf8_valid((const unsigned char *)path, len))
		return "is not valid UTF-8";
	for (start = path;;) {
		const char *slash = strchr(start, '/');
		size_t n = slash ? (size_t)(slash - start) : strlen(start);

		if (n == 0)
			return "has an empty component ('//')";
		if (n == 1 && start[0] == '.')
			return "has a '.' component";
		if (n == 2 && start[0] == '.' && start[1] == '.')
			return "has a '..' component";
		if (n > CONTENT_NAME_MAX)
			return "has a component longer than " STR(CONTENT_NAME_MAX) " bytes";
		if (!slash)
			return NULL;
		start = slash + 1;
	}
}

bool content_path_valid(const char *path)
{
	return content_path_problem(path) == NULL;
}

const char *content_link_target_problem(const char *link_path, const char *target)
{
	const char *start;
	long depth = 0;
	size_t len;

	if (content_path_problem(link_path))
		return "belongs to a link whose own path is not valid";
	if (!target || !target[0])
		return "is empty";
	len = strnlen(target, CONTENT_PATH_MAX + 1);
	if (len > CONTENT_PATH_MAX)
		return "is longer than " STR(CONTENT_PATH_MAX) " bytes";
	if (target[0] == '/')
		return "is absolute";
	if (ctext_has_control(target))
		return "holds a control character (a byte below 0x20, or 0x7f)";
	if (!ctext_utf8_valid((const unsigned char *)target, len))
		return "is not valid UTF-8";
	/* resolve from the link's directory: one level per '/' in its path */
	for (const char *p = link_path; *p; p++)
		depth += *p == '/';
	for (start = target;;) {
		const char *slash = strchr(start, '/');
		size_t n = slash ? (size_t)(slash - start) : strlen(start);

		if (n > CONTENT_NAME_MAX)
			return "has a component longer than " STR(CONTENT_NAME_MAX) " bytes";
		if (n == 2 && start[0] == '.' && start[1] == '.') {
			if (--depth < 0)
				return "leads outside the package";
		} else if (n > 0 && !(n == 1 && start[0] == '.')) {
			depth++;
		}
		if (!slash)
			return NULL;
		start = slash + 1;
	}
}

bool content_link_target_valid(const char *link_path, const char *target)
{
	return content_link_target_problem(link_path, target) == NULL;
}

void content_manifest_clear(struct content_manifest *m)
{
	if (!m)
		return;
	free(m->entries);
	memset(m, 0, sizeof(*m));
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct content_entry *)a)->path,
		      ((const struct content_entry *)b)->path);
}

void content_manifest_sort(struct content_manifest *m)
{
	if (m->n_entries > 1)
		qsort(m->entries, m->n_entries, sizeof(*m->entries), entry_cmp);
}

/* ---- entries: one check for the builder and the parser ------------------- */

/* -1, 0, 1 as the n bytes of prefix compare with path (strcmp order). */
static int cmp_prefix(const char *prefix, size_t n, const char *path)
{
	int r = strncmp(prefix, path, n);

	if (r)
		return r;
	return path[n] ? -1 : 0;
}

/* The entry among ents[0..n) whose path is the n bytes of prefix; ents are
 * sorted, which entry_problem has checked for each of them already. */
static const struct content_entry *find_sorted(const struct content_entry *ents, size_t n,
					       const char *prefix, size_t plen)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cmp_prefix(prefix, plen, ents[mid].path);

		if (r == 0)
			return &ents[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const char *type_name(enum content_entry_type t)
{
	return t == CONTENT_FILE ? "file" : t == CONTENT_DIR ? "directory" : "link";
}

/* Is ents[i] acceptable after ents[0..i)? Fills why and returns false if not. */
static bool entry_ok(const struct content_entry *ents, size_t i, char *why, size_t whysz)
{
	const struct content_entry *e = &ents[i], *parent;
	char q[CTEXT_QUOTE_MAX + 4], q2[CTEXT_QUOTE_MAX + 4];
	const char *problem, *slash;

	if (!memchr(e->path, '\0', sizeof(e->path)) ||
	    !memchr(e->target, '\0', sizeof(e->target)) ||
	    !memchr(e->hash, '\0', sizeof(e->hash))) {
		snprintf(why, whysz, "a field is not NUL-terminated");
		return false;
	}
	problem = content_path_problem(e->path);
	if (problem) {
		snprintf(why, whysz, "path '%s' %s", ctext_quote(q, e->path, strlen(e->path)), problem);
		return false;
	}
	ctext_quote(q, e->path, strlen(e->path));
	if (i > 0) {
		int r = strcmp(ents[i - 1].path, e->path);

		if (r == 0) {
			snprintf(why, whysz, "'%s' is listed twice", q);
			return false;
		}
		if (r > 0) {
			snprintf(why, whysz,
				 "'%s' is out of order: it comes after '%s' (paths are sorted by "
				 "byte value)",
				 q, ctext_quote(q2, ents[i - 1].path, strlen(ents[i - 1].path)));
			return false;
		}
	}
	slash = strrchr(e->path, '/');
	if (slash) {
		size_t plen = (size_t)(slash - e->path);

		parent = find_sorted(ents, i, e->path, plen);
		if (!parent) {
			snprintf(why, whysz, "the parent directory of '%s' is not listed before it",
				 q);
			return false;
		}
		if (parent->type != CONTENT_DIR) {
			snprintf(why, whysz, "the parent of '%s' is a %s, not a directory", q,
				 type_name(parent->type));
			return false;
		}
	}
	switch (e->type) {
	case CONTENT_FILE:
		if (!content_hash_valid(e->hash)) {
			snprintf(why, whysz, "'%s': hash is not 64 lowercase hex digits", q);
			return false;
		}
		/* fall through */
	case CONTENT_DIR:
		if (e->mode & ~MODE_PERM) {
			snprintf(why, whysz, "'%s': mode %#o has bits other than the permissions",
				 q, e->mode);
			return false;
		}
		return true;
	case CONTENT_LINK:
		problem = content_link_target_problem(e->path, e->target);
		if (problem) {
			snprintf(why, whysz, "'%s': link target '%s' %s", q,
				 ctext_quote(q2, e->target, strlen(e->target)), problem);
			return false;
		}
		return true;
	}
	snprintf(why, whysz, "'%s': unknown entry type %d", q, (int)e->type);
	return false;
}

/* ---- building ------------------------------------------------------------- */

int content_manifest_build(const struct content_manifest *m, const struct proto_keypair *kp,
			   char **text, size_t *len, struct steward_err *err)
{
	char when[32], key[2 * PROTO_PK_BYTES + 1], why[200];
	struct buf b;
	uint64_t sum = 0;
	int rc;

	buf_init(&b, CONTENT_MANIFEST_MAX - CTEXT_SIG_LINE_MAX);
	*text = NULL;
	*len = 0;
	if (!memchr(m->package, '\0', sizeof(m->package)) || !content_pkg_name_valid(m->package)) {
		rc = steward_err_set(err, STEWARD_EINVAL, "manifest_invalid", REMEDY_BUILD,
				     "package name is not 1-64 characters of A-Z a-z 0-9 . _ - +, "
				     "starting with a letter or digit");
		goto out;
	}
	if (!memchr(m->version, '\0', sizeof(m->version)) ||
	    !content_pkg_version_valid(m->version)) {
		rc =
		    steward_err_set(err, STEWARD_EINVAL, "manifest_invalid", REMEDY_BUILD,
				    "package version is not 1-64 characters of A-Z a-z 0-9 . _ - + "
				    "~ :, starting with a letter or digit");
		goto out;
	}
	if (!memchr(m->site, '\0', sizeof(m->site)) || !proto_site_code_valid(m->site)) {
		rc = steward_err_set(err, STEWARD_EINVAL, "manifest_invalid", REMEDY_BUILD,
				     "site code is not 3 characters A-Z 0-9");
		goto out;
	}
	if (m->created < 0 || m->created > CTEXT_TIME_MAX) {
		rc =
		    steward_err_set(err, STEWARD_EINVAL, "manifest_invalid", REMEDY_BUILD,
				    "created time %" PRId64 " is outside 1970 to 9999", m->created);
		goto out;
	}
	if (m->n_entries > CONTENT_FILES_MAX) {
		rc = steward_err_set(err, STEWARD_ETOOBIG, "manifest_invalid", REMEDY_BUILD,
				     "%zu entries; a package holds at most %d", m->n_entries,
				     CONTENT_FILES_MAX);
		goto out;
	}
	if (m->n_entries && !m->entries) {
		rc = steward_err_set(err, STEWARD_EINVAL, "manifest_invalid", REMEDY_BUILD,
				     "%zu entries but no entry array", m->n_entries);
		goto out;
	}
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct content_entry *e = &m->entries[i];

		if (!entry_ok(m->entries, i, why, sizeof(why))) {
			rc = steward_err_set(err, STEWARD_EINVAL, "manifest_invalid", REMEDY_BUILD,
					     "entry %zu: %s", i + 1, why);
			goto out;
		}
		if (e->type == CONTENT_FILE) {
			if (e->size > UINT64_MAX - sum) {
				rc = steward_err_set(err, STEWARD_EINVAL, "manifest_invalid",
						     REMEDY_BUILD,
						     "entry %zu: the file sizes add up to more "
						     "than 2^64-1 bytes",
						     i + 1);
				goto out;
			}
			sum += e->size;
		}
	}
	if (sum != m->total_bytes) {
		rc = steward_err_set(err, STEWARD_EINVAL, "manifest_invalid", REMEDY_BUILD,
				     "total_bytes is %" PRIu64 " but the files add up to %" PRIu64,
				     m->total_bytes, sum);
		goto out;
	}

	time_rfc3339(m->created, when);
	hex_encode(kp->pk, PROTO_PK_BYTES, key);
	rc =
	    buf_printf(&b,
		       MANIFEST_MAGIC "\t" MANIFEST_VERSION "\npackage\t%s\nversion\t%s\nsite\t%s\n"
				      "created\t%s\nkey\t%s\nbytes\t%" PRIu64 "\nentries\t%zu\n",
		       m->package, m->version, m->site, when, key, sum, m->n_entries);
	for (size_t i = 0; rc == 0 && i < m->n_entries; i++) {
		const struct content_entry *e = &m->entries[i];

		if (e->type == CONTENT_DIR)
			rc = buf_printf(&b, "dir\t%04o\t%s\n", e->mode, e->path);
		else if (e->type == CONTENT_FILE)
			rc = buf_printf(&b, "file\t%04o\t%" PRIu64 "\t%s\t%s\n", e->mode, e->size,
					e->hash, e->path);
		else
			rc = buf_printf(&b, "link\t%s\t%s\n", e->path, e->target);
	}
	if (rc == -STEWARD_ETOOBIG) {
		rc =
		    steward_err_set(err, STEWARD_ETOOBIG, "manifest_invalid", REMEDY_BUILD,
				    "the manifest would be larger than %u bytes; ctext_split the package",
				    CONTENT_MANIFEST_MAX);
		goto out;
	}
	if (rc) {
		rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
				     "out of memory building a manifest");
		goto out;
	}
	rc = ctext_sign(&b, kp->sk);
	if (rc) {
		rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
				     "out of memory building a manifest");
		goto out;
	}
	*len = b.len;
	*text = buf_steal(&b);
out:
	buf_free(&b);
	return rc;
}

/* ---- parsing -------------------------------------------------------------- */

#define BAD(...)                                                                                   \
	do {                                                                                       \
		rc = steward_err_set(err, STEWARD_EINVAL, "manifest_invalid", REMEDY_PARSE,        \
				     __VA_ARGS__);                                                 \
		goto out;                                                                          \
	} while (0)

/* The next header line, "NAME<TAB>VALUE"; the value may hold no TAB. */
static int header(struct ctext_cursor *c, const char *name, struct ctext_field *value, struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4];
	struct ctext_field l, f[2];
	int rc = 0;

	if (!ctext_next_line(c, &l))
		BAD("line %d: the manifest ends before its '%s' line", c->line + 1, name);
	if (ctext_split(l, f, 2) != 2 || !ctext_field_is(f[0], name))
		BAD("line %d: expected '%s<TAB>...', found '%s'", c->line, name,
		    ctext_quote(q, l.s, l.n));
	*value = f[1];
out:
	return rc;
}

static int parse_entry(struct ctext_cursor *c, struct content_entry *e, struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4];
	struct ctext_field l, f[5];
	const char *why;
	size_t nf;
	int rc = 0;

	memset(e, 0, sizeof(*e));
	if (!ctext_next_line(c, &l))
		BAD("line %d: the manifest ends before its last entry", c->line + 1);
	nf = ctext_split(l, f, 5);
	if (ctext_field_is(f[0], "dir")) {
		e->type = CONTENT_DIR;
		if (nf != 3)
			BAD("line %d: a dir line has 3 fields (dir, mode, path), not %zu", c->line,
			    nf);
		if (!ctext_parse_mode(f[1].s, f[1].n, &e->mode))
			BAD("line %d: dir mode '%s' is not 4 octal digits of at most 0777", c->line,
			    ctext_quote(q, f[1].s, f[1].n));
		if (!ctext_field_copy(f[2], e->path, sizeof(e->path)))
			BAD("line %d: path is longer than %d bytes", c->line, CONTENT_PATH_MAX);
	} else if (ctext_field_is(f[0], "file")) {
		e->type = CONTENT_FILE;
		if (nf != 5)
			BAD("line %d: a file line has 5 fields (file, mode, size, sha256, path), "
			    "not %zu",
			    c->line, nf);
		if (!ctext_parse_mode(f[1].s, f[1].n, &e->mode))
			BAD("line %d: file mode '%s' is not 4 octal digits of at most 0777",
			    c->line, ctext_quote(q, f[1].s, f[1].n));
		why = ctext_parse_u64(f[2].s, f[2].n, UINT64_MAX, &e->size);
		if (why)
			BAD("line %d: file size '%s' %s", c->line, ctext_quote(q, f[2].s, f[2].n), why);
		if (!ctext_field_copy(f[3], e->hash, sizeof(e->hash)) || !content_hash_valid(e->hash))
			BAD("line %d: file hash '%s' is not 64 lowercase hex digits", c->line,
			    ctext_quote(q, f[3].s, f[3].n));
		if (!ctext_field_copy(f[4], e->path, sizeof(e->path)))
			BAD("line %d: path is longer than %d bytes", c->line, CONTENT_PATH_MAX);
	} else if (ctext_field_is(f[0], "link")) {
		e->type = CONTENT_LINK;
		if (nf != 3)
			BAD("line %d: a link line has 3 fields (link, path, target), not %zu",
			    c->line, nf);
		if (!ctext_field_copy(f[1], e->path, sizeof(e->path)))
			BAD("line %d: path is longer than %d bytes", c->line, CONTENT_PATH_MAX);
		if (!ctext_field_copy(f[2], e->target, sizeof(e->target)))
			BAD("line %d: link target is longer than %d bytes", c->line,
			    CONTENT_PATH_MAX);
	} else {
		BAD("line %d: expected an entry (dir, file or link), found '%s'", c->line,
		    ctext_quote(q, l.s, l.n));
	}
out:
	return rc;
}

int content_manifest_parse(const char *text, size_t len, const uint8_t *trusted_key,
			   struct content_manifest *m, struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4], hex[2 * PROTO_PK_BYTES + 1];
	char why[200];
	struct ctext_cursor c = {text, text + len, 0};
	struct ctext_field v, l = {text, 0}, f[2];
	uint8_t sig[crypto_sign_BYTES];
	uint64_t n_entries = 0, sum = 0;
	const char *problem, *signed_end;
	size_t cap = 0;
	int rc = 0, bytes_line, entries_line;

	memset(m, 0, sizeof(*m));
	if ((rc = ctext_open(&c, CONTENT_MANIFEST_MAX, &manifest_kind, err)))
		goto out;

	if ((rc = header(&c, "package", &v, err)))
		goto out;
	if (!ctext_field_copy(v, m->package, sizeof(m->package)) || !content_pkg_name_valid(m->package))
		BAD("line %d: package name '%s' is not 1-64 characters of A-Z a-z 0-9 . _ - +, "
		    "starting with a letter or digit",
		    c.line, ctext_quote(q, v.s, v.n));
	if ((rc = header(&c, "version", &v, err)))
		goto out;
	if (!ctext_field_copy(v, m->version, sizeof(m->version)) ||
	    !content_pkg_version_valid(m->version))
		BAD("line %d: package version '%s' is not 1-64 characters of A-Z a-z 0-9 . _ - + ~ "
		    ":, starting with a letter or digit",
		    c.line, ctext_quote(q, v.s, v.n));
	if ((rc = header(&c, "site", &v, err)))
		goto out;
	if (!ctext_field_copy(v, m->site, sizeof(m->site)) || !proto_site_code_valid(m->site))
		BAD("line %d: site code '%s' is not 3 characters A-Z 0-9", c.line,
		    ctext_quote(q, v.s, v.n));
	if ((rc = header(&c, "created", &v, err)))
		goto out;
	if (!ctext_parse_time(v.s, v.n, &m->created))
		BAD("line %d: created '%s' is not a time like 2026-11-25T09:00:00Z", c.line,
		    ctext_quote(q, v.s, v.n));
	if ((rc = header(&c, "key", &v, err)))
		goto out;
	if (!ctext_hex_lower(v, m->key, sizeof(m->key)))
		BAD("line %d: key '%s' is not 64 lowercase hex digits", c.line, ctext_quote(q, v.s, v.n));
	if ((rc = header(&c, "bytes", &v, err)))
		goto out;
	bytes_line = c.line;
	if ((problem = ctext_parse_u64(v.s, v.n, UINT64_MAX, &m->total_bytes)))
		BAD("line %d: bytes '%s' %s", c.line, ctext_quote(q, v.s, v.n), problem);
	if ((rc = header(&c, "entries", &v, err)))
		goto out;
	entries_line = c.line;
	if ((problem = ctext_parse_u64(v.s, v.n, UINT64_MAX, &n_entries)))
		BAD("line %d: entries '%s' %s", c.line, ctext_quote(q, v.s, v.n), problem);
	if (n_entries > CONTENT_FILES_MAX)
		BAD("line %d: %" PRIu64 " entries; a package holds at most %d", c.line, n_entries,
		    CONTENT_FILES_MAX);

	/* grown as lines arrive: the count alone must not make us allocate */
	for (size_t i = 0; i < n_entries; i++) {
		struct content_entry *e;

		if (i == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			void *p;

			if (ncap > n_entries)
				ncap = (size_t)n_entries;
			p = realloc(m->entries, ncap * sizeof(*m->entries));
			if (!p) {
				rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
						     "out of memory reading a manifest");
				goto out;
			}
			m->entries = p, cap = ncap;
		}
		e = &m->entries[i];
		if ((rc = parse_entry(&c, e, err)))
			goto out;
		if (!entry_ok(m->entries, i, why, sizeof(why)))
			BAD("line %d: %s", c.line, why);
		m->n_entries = i + 1;
		if (e->type == CONTENT_FILE) {
			if (e->size > m->total_bytes - sum)
				BAD("line %d: the file sizes add up to more than bytes (%" PRIu64
				    ") on line %d",
				    c.line, m->total_bytes, bytes_line);
			sum += e->size;
		}
	}
	if (sum != m->total_bytes)
		BAD("line %d: bytes says %" PRIu64 " but the files add up to %" PRIu64, bytes_line,
		    m->total_bytes, sum);

	signed_end = c.p;
	if (!ctext_next_line(&c, &l))
		BAD("line %d: the manifest ends before its signature line", c.line + 1);
	if (ctext_split(l, f, 2) != 2 || !ctext_field_is(f[0], "signature")) {
		if (ctext_split(l, f, 2) >= 1 &&
		    (ctext_field_is(f[0], "dir") || ctext_field_is(f[0], "file") || ctext_field_is(f[0], "link")))
			BAD("line %d: more entries than the %" PRIu64 " on line %d", c.line,
			    n_entries, entries_line);
		BAD("line %d: expected 'signature<TAB>...', found '%s'", c.line,
		    ctext_quote(q, l.s, l.n));
	}
	if (!ctext_signature_value(f[1], sig))
		BAD("line %d: signature is not base64 of %d bytes (in its one canonical form)",
		    c.line, crypto_sign_BYTES);
	if (c.p != c.end)
		BAD("line %d: text after the signature line", c.line + 1);

	if (trusted_key && sodium_memcmp(trusted_key, m->key, PROTO_PK_BYTES) != 0) {
		hex_encode(m->key, PROTO_PK_BYTES, hex);
		rc =
		    steward_err_set(err, STEWARD_EAUTH, "manifest_signature", REMEDY_SIGNATURE,
				    "the manifest is signed by key %s, not by the site's key", hex);
		goto out;
	}
	if (crypto_sign_verify_detached(sig, (const uint8_t *)text, (size_t)(signed_end - text),
					m->key) != 0) {
		rc = steward_err_set(err, STEWARD_EAUTH, "manifest_signature", REMEDY_SIGNATURE,
				     "the signature does not match the manifest of %s %s",
				     m->package, m->version);
		goto out;
	}
out:
	if (rc)
		content_manifest_clear(m);
	return rc;
}

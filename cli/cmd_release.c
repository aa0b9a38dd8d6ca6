/* stewardctl releases: make, sign, import and inspect service packs.
 *
 * A release file is a tar archive compressed with zstd that holds
 * release.manifest (the signed manifest of lib/content/release.c) first and
 * then every file it lists as components/NAME/PATH; built with --previous,
 * release.deltas (the signed delta list, content.h) second and the patches
 * it names last, as deltas/HASH. keygen and build need
 * no site; import checks the file as far as a console can (the signature
 * against the key the manifest names, every file against its hash) before
 * it uploads what the site lacks and hands the manifest over; the site
 * then checks that it trusts the key. docs/internals/releases.md has the
 * format, docs/upgrading.md the administrator's side.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>

#include "steward/content.h"
#include "steward/net.h"
#include "steward/util.h"

#include "ctl.h"

#define REL_MANIFEST_NAME  "release.manifest"
#define REL_DELTAS_NAME	   "release.deltas" /* the signed delta list, second when present */
#define REL_DELTAS_DIR	   "deltas"	    /* deltas/PATCHHASH: the patches, last */
#define REL_DELTA_KEEP_PCT 50 /* a patch of at least half the file is not worth it */
#define REL_COMPONENTS_DIR "components"
#define REL_STAGE_LIST	   "components" /* STAGE/components: one line per component */
#define REL_STAGE_LIST_MAX (64u * 1024)
#define REL_VALID_FOR_S	   (365LL * 86400) /* when --valid-for is not given */
#define REL_MAX_BYTES	   (4ULL * 1024 * 1024 * 1024) /* all files of one release */
#define REL_IO_CHUNK	   (64u * 1024)
#define REL_ZSTD_LEVEL	   "19"

/* ---- values ---------------------------------------------------------------- */

/* X.Y.Z in its one text (no leading zeros), as release manifests hold it. */
static bool release_version_ok(const char *v)
{
	char back[CONTENT_VERSION_MAX + 1];
	int x, y, z;

	if (strlen(v) > CONTENT_VERSION_MAX || proto_semver_parse(v, &x, &y, &z) != 0)
		return false;
	snprintf(back, sizeof(back), "%d.%d.%d", x, y, z);
	return strcmp(back, v) == 0;
}

/* N/hour, N/h or N: installations per hour, 1 to CTL_RATE_MAX. */
static int rate_parse(const struct ctl_cmd *c, const char *what, const char *v, int64_t *num)
{
	char *end = NULL;
	long long n;

	errno = 0;
	n = *v >= '0' && *v <= '9' ? strtoll(v, &end, 10) : -1;
	if (n >= 0 && !errno && end && (!*end || !strcmp(end, "/hour") || !strcmp(end, "/h")) &&
	    n >= 1 && n <= CTL_RATE_MAX) {
		*num = n;
		return CTL_OK;
	}
	return ctl_usage_error(c, "%s '%s' must be N/hour with N a whole number from 1 to %d",
			       what, v, CTL_RATE_MAX);
}

int ctl_release_check_value(const struct ctl_cmd *c, enum ctl_type type, const char *what,
			    const char *v, int64_t *num)
{
	if (type == CTL_T_RATE)
		return rate_parse(c, what, v, num);
	if (type == CTL_T_RELEASE_VERSION) {
		if (release_version_ok(v))
			return CTL_OK;
		return ctl_usage_error(c,
				       "%s '%s' is not a release version X.Y.Z (whole numbers "
				       "without leading zeros, e.g. 1.2.0)",
				       what, v);
	}
	return ctl_usage_error(c, "%s: unknown argument type", what);
}

static int say(const struct steward_err *err, int rc, const char *what)
{
	if (err->code[0])
		ctl_error(err->code, err->remedy, "%s", err->message);
	else
		ctl_error("internal", "", "%s: %s", what, steward_strerror(rc));
	return CTL_EFAIL;
}

/* ---- keys ------------------------------------------------------------------- */

static int write_new(const char *path, const void *data, size_t len, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, data, len);
	if (w != (ssize_t)len || fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		int e = w < 0 ? errno : EIO;

		close(fd);
		unlink(path);
		return -e;
	}
	return close(fd) == 0 ? 0 : -errno;
}

int ctl_cmd_releases_keygen(struct ctl *ctl, const struct ctl_args *a)
{
	const char *out = a->opt[CTL_OPT_OUT];
	char pub[PATH_MAX], hex[2 * PROTO_PK_BYTES + 2];
	struct proto_keypair kp;
	struct stat st;
	int rc;

	if (snprintf(pub, sizeof(pub), "%s.pub", out) >= (int)sizeof(pub))
		return ctl_usage_error(NULL, "--out: the path is too long");
	if (lstat(out, &st) == 0 || lstat(pub, &st) == 0) {
		ctl_error("key_exists",
			  "choose another --out; remove an old key only when no site trusts it "
			  "any more",
			  "%s already exists: stewardctl never overwrites a key",
			  lstat(out, &st) == 0 ? out : pub);
		return CTL_EFAIL;
	}
	if (proto_keypair_new(&kp) != 0)
		return ctl_oom();
	hex_encode(kp.pk, PROTO_PK_BYTES, hex);
	strcat(hex, "\n");
	rc = write_new(out, kp.sk, sizeof(kp.sk), 0600);
	if (rc == 0) {
		rc = write_new(pub, hex, strlen(hex), 0644);
		if (rc)
			unlink(out);
	}
	sodium_memzero(&kp, sizeof(kp));
	if (rc) {
		ctl_error("key_write", "check that the directory exists and is writable",
			  "cannot write %s: %s", rc == -EEXIST ? pub : out, strerror(-rc));
		return CTL_EFAIL;
	}
	hex[2 * PROTO_PK_BYTES] = '\0';
	if (ctl->json) {
		json_t *j = json_pack("{s:s,s:s,s:s}", "key", out, "public", pub, "release_key", hex);

		return ctl_finish(ctl, j, j ? CTL_OK : ctl_oom());
	}
	printf("Release key:  %s (secret: keep it offline, mode 0600)\n"
	       "Public key:   %s\n"
	       "\n"
	       "Add this line to the configuration of every site that is to trust releases\n"
	       "signed with it, then restart stewardd:\n"
	       "\n"
	       "  release_key = %s\n",
	       out, pub, hex);
	return CTL_OK;
}

/* The 64-byte secret key keygen wrote; refused when others may read it. */
static int load_key(const char *path, struct proto_keypair *kp)
{
	uint8_t seed[crypto_sign_SEEDBYTES], pk[PROTO_PK_BYTES], sk[PROTO_SK_BYTES];
	struct stat st;
	ssize_t n;
	int fd, rc = CTL_EFAIL;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		ctl_error("release_key_unreadable",
			  "pass the FILE that 'stewardctl releases keygen --out FILE' wrote",
			  "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size != PROTO_SK_BYTES) {
		ctl_error("release_key_unreadable",
			  "pass the secret FILE of 'releases keygen' (not FILE.pub)",
			  "%s is not a release key (%d bytes)", path, PROTO_SK_BYTES);
		goto out;
	}
	if (st.st_mode & 077) {
		ctl_error("release_key_open", "chmod 600 the file; a release key is a secret",
			  "%s may be read by others (mode %03o)", path,
			  (unsigned)(st.st_mode & 0777));
		goto out;
	}
	n = read(fd, kp->sk, PROTO_SK_BYTES);
	/* the file is a seed followed by its public key: they must agree */
	if (n == PROTO_SK_BYTES) {
		crypto_sign_ed25519_sk_to_seed(seed, kp->sk);
		crypto_sign_seed_keypair(pk, sk, seed);
		crypto_sign_ed25519_sk_to_pk(kp->pk, kp->sk);
	}
	if (n != PROTO_SK_BYTES || sodium_memcmp(pk, kp->pk, PROTO_PK_BYTES) != 0) {
		ctl_error("release_key_unreadable",
			  "the key file is damaged: restore it from its backup",
			  "%s does not hold a valid Ed25519 key", path);
		goto out;
	}
	rc = CTL_OK;
out:
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- the stage: STAGE/components and one directory per component ---------- */

struct stage {
	const char *dir;
	struct content_release r;
	size_t cap;
};

static int stage_error(const char *file, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int stage_error(const char *file, size_t line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_error("release_stage_invalid",
		  "each line of STAGE/components is NAME KIND VERSION PMIN-PMAX [BASE] (KIND: "
		  "launcher, base, optional, site or console); see docs/upgrading.md",
		  "%s:%zu: %s", file, line, msg);
	return CTL_EFAIL;
}

static bool kind_of(const char *s, enum content_component_kind *k)
{
	for (int i = CONTENT_KIND_LAUNCHER; i <= CONTENT_KIND_CONSOLE; i++)
		if (strcmp(s, content_component_kind_name((enum content_component_kind)i)) == 0) {
			*k = (enum content_component_kind)i;
			return true;
		}
	return false;
}

static int comp_cmp(const void *a, const void *b)
{
	return strcmp(((const struct content_component *)a)->name,
		      ((const struct content_component *)b)->name);
}

static int file_cmp(const void *a, const void *b)
{
	const struct content_release_file *x = a, *y = b;
	int r = strcmp(x->component, y->component);

	return r ? r : strcmp(x->path, y->path);
}

/* One line: NAME KIND VERSION PMIN-PMAX [BASE]. */
static int stage_line(struct stage *s, const char *file, size_t ln, char *line)
{
	struct content_component *c;
	struct proto_range range;
	char *f[6], *save = NULL, *w;
	int n = 0;

	for (w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == 6)
			return stage_error(file, ln, "more than 5 fields");
		f[n++] = w;
	}
	if (n < 4)
		return stage_error(file, ln, "%d fields; a component needs at least 4", n);
	if (s->r.n_components == CONTENT_RELEASE_COMPONENTS_MAX)
		return stage_error(file, ln, "more than %d components",
				   CONTENT_RELEASE_COMPONENTS_MAX);
	c = &s->r.components[s->r.n_components];
	memset(c, 0, sizeof(*c));
	if (!content_component_name_valid(f[0]))
		return stage_error(file, ln,
				   "component name '%s' is not 1-%d of a-z 0-9 -, starting with a "
				   "letter",
				   f[0], CONTENT_COMPONENT_NAME_MAX);
	for (size_t i = 0; i < s->r.n_components; i++)
		if (strcmp(s->r.components[i].name, f[0]) == 0)
			return stage_error(file, ln, "component '%s' is listed twice", f[0]);
	if (!kind_of(f[1], &c->kind))
		return stage_error(file, ln, "'%s' is not a kind", f[1]);
	if (!release_version_ok(f[2]))
		return stage_error(file, ln, "version '%s' is not X.Y.Z", f[2]);
	if (proto_range_parse(f[3], &range) != 0 || range.min < 1 ||
	    range.max > CONTENT_PROTO_MAX)
		return stage_error(file, ln,
				   "protocol range '%s' is not MIN-MAX with 1 <= MIN <= MAX <= %d",
				   f[3], CONTENT_PROTO_MAX);
	if (n == 5 && (c->kind != CONTENT_KIND_OPTIONAL || !release_version_ok(f[4])))
		return stage_error(file, ln,
				   "'%s': only optional components name the base version (X.Y.Z) "
				   "they need",
				   f[4]);
	snprintf(c->name, sizeof(c->name), "%s", f[0]);
	snprintf(c->version, sizeof(c->version), "%s", f[2]);
	if (n == 5)
		snprintf(c->needs_base, sizeof(c->needs_base), "%s", f[4]);
	c->proto_min = (unsigned)range.min;
	c->proto_max = (unsigned)range.max;
	s->r.n_components++;
	return CTL_OK;
}

static int stage_list(struct stage *s)
{
	char file[PATH_MAX], *text = NULL, *line, *next;
	size_t len = 0, ln = 0;
	int rc;

	snprintf(file, sizeof(file), "%s/" REL_STAGE_LIST, s->dir);
	rc = file_read_all(file, REL_STAGE_LIST_MAX, &text, &len);
	if (rc) {
		ctl_error("release_stage_invalid",
			  "put a file 'components' in the stage directory: one line NAME KIND "
			  "VERSION PMIN-PMAX [BASE] per component",
			  "cannot read %s: %s", file, steward_strerror(rc));
		return CTL_EFAIL;
	}
	if (strlen(text) != len) {
		free(text);
		return stage_error(file, 1, "the file holds a NUL byte");
	}
	for (line = text; line && *line; line = next) {
		char *hash;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		ln++;
		if ((hash = strchr(line, '#')))
			*hash = '\0';
		if (strspn(line, " \t\r") == strlen(line))
			continue;
		line[strcspn(line, "\r")] = '\0';
		rc = stage_line(s, file, ln, line);
		if (rc)
			break;
	}
	free(text);
	if (rc == CTL_OK && s->r.n_components == 0)
		rc = stage_error(file, ln, "no components listed");
	return rc;
}

static int stage_add_file(struct stage *s, const char *comp, const struct content_entry *e)
{
	struct content_release_file *f;

	if (s->r.n_files == CONTENT_RELEASE_FILES_MAX) {
		ctl_error("release_stage_invalid", "ship fewer files (an archive per component)",
			  "the stage holds more than %d files", CONTENT_RELEASE_FILES_MAX);
		return CTL_EFAIL;
	}
	if (s->r.n_files == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 32;
		void *p = realloc(s->r.files, ncap * sizeof(*s->r.files));

		if (!p)
			return ctl_oom();
		s->r.files = p;
		s->cap = ncap;
	}
	f = &s->r.files[s->r.n_files++];
	memset(f, 0, sizeof(*f));
	snprintf(f->component, sizeof(f->component), "%s", comp);
	snprintf(f->path, sizeof(f->path), "%s", e->path);
	snprintf(f->hash, sizeof(f->hash), "%s", e->hash);
	f->mode = e->mode;
	f->size = e->size;
	return CTL_OK;
}

/* Hash every component's directory; nothing else may stand in the stage. */
static int stage_files(struct stage *s)
{
	struct steward_err err = {.code = ""};
	uint64_t total = 0;
	int rc = CTL_OK;

	for (size_t i = 0; rc == CTL_OK && i < s->r.n_components; i++) {
		const char *name = s->r.components[i].name;
		struct content_manifest m;
		char dir[PATH_MAX];

		memset(&m, 0, sizeof(m));
		snprintf(dir, sizeof(dir), "%s/%s", s->dir, name);
		rc = content_import_dir(dir, REL_MAX_BYTES - total, &m, &err);
		if (rc) {
			rc = say(&err, rc, dir);
			break;
		}
		for (size_t j = 0; rc == CTL_OK && j < m.n_entries; j++) {
			const struct content_entry *e = &m.entries[j];

			if (e->type == CONTENT_LINK) {
				ctl_error("release_stage_invalid",
					  "replace the link by the file it names: a release "
					  "carries regular files only",
					  "%s/%s is a symbolic link", dir, e->path);
				rc = CTL_EFAIL;
			} else if (e->type == CONTENT_FILE) {
				rc = stage_add_file(s, name, e);
				total += e->size;
			}
		}
		content_manifest_clear(&m);
	}
	if (rc == CTL_OK && s->r.n_files)
		qsort(s->r.files, s->r.n_files, sizeof(*s->r.files), file_cmp);
	return rc;
}

/* ---- deltas against the previous release (--previous FILE) ----------------- */

struct deltas_made {
	struct content_deltas ds;
	void **patch; /* per ds.d[i], malloc'd */
	char *text;   /* the signed list */
	size_t len;
	uint64_t full_bytes, patch_bytes; /* of the files that got a delta */
};

static void deltas_made_free(struct deltas_made *dm)
{
	for (size_t i = 0; dm->patch && i < dm->ds.n; i++)
		free(dm->patch[i]);
	free(dm->patch);
	free(dm->text);
	content_deltas_clear(&dm->ds);
	memset(dm, 0, sizeof(*dm));
}

/* Read the current entry of ar (size bytes) into a new buffer. */
static int ar_read_all(struct archive *ar, uint64_t size, uint8_t **out)
{
	uint64_t got = 0;

	*out = malloc(size ? (size_t)size : 1);
	if (!*out)
		return ctl_oom();
	while (got < size) {
		la_ssize_t n = archive_read_data(ar, *out + got, (size_t)(size - got));

		if (n <= 0) {
			free(*out);
			*out = NULL;
			return CTL_EFAIL;
		}
		got += (uint64_t)n;
	}
	return CTL_OK;
}

static int previous_bad(const char *file, const char *what)
{
	ctl_error("release_previous_invalid",
		  "pass the .tar.zst of the release the agents run now, as 'make release' wrote it",
		  "--previous %s: %s", file, what);
	return CTL_EFAIL;
}

/* One file of the new release against its previous bytes: a patch when it
 * is less than REL_DELTA_KEEP_PCT of the file. */
static int delta_one(struct deltas_made *dm, const char *stage, const struct content_release_file *f,
		     const uint8_t *base, size_t base_len)
{
	struct steward_err err = {.code = ""};
	struct content_delta d;
	char path[PATH_MAX], got[CONTENT_HASH_HEX + 1], *target = NULL;
	size_t target_len = 0, patch_len = 0;
	void *patch = NULL, **grown;
	int rc;

	snprintf(path, sizeof(path), "%s/%s/%s", stage, f->component, f->path);
	if (file_read_all(path, CONTENT_DELTA_FILE_MAX, &target, &target_len) != 0) {
		ctl_error("file_changed", "run 'releases build' again once nothing writes to the "
			  "stage", "cannot read %s", path);
		return CTL_EFAIL;
	}
	content_hash_buf(target, target_len, got);
	if (strcmp(got, f->hash) != 0) {
		free(target);
		ctl_error("file_changed", "run 'releases build' again once nothing writes to the "
			  "stage", "%s changed after it was hashed", path);
		return CTL_EFAIL;
	}
	rc = content_delta_make(base, base_len, target, target_len, &patch, &patch_len, &err);
	free(target);
	if (rc)
		return say(&err, rc, path);
	if (patch_len * 100 >= (uint64_t)target_len * REL_DELTA_KEEP_PCT) {
		free(patch);
		return CTL_OK;
	}
	memset(&d, 0, sizeof(d));
	snprintf(d.target, sizeof(d.target), "%s", f->hash);
	content_hash_buf(base, base_len, d.base);
	content_hash_buf(patch, patch_len, d.patch);
	d.patch_size = patch_len;
	/* the same change twice (two paths, one file): one patch */
	if (content_deltas_find(&dm->ds, d.target, d.base)) {
		free(patch);
		return CTL_OK;
	}
	grown = realloc(dm->patch, (dm->ds.n + 1) * sizeof(*dm->patch));
	if (!grown) {
		free(patch);
		return ctl_oom();
	}
	dm->patch = grown;
	if (content_deltas_add(&dm->ds, &d) != 0) {
		free(patch);
		return ctl_oom();
	}
	dm->patch[dm->ds.n - 1] = patch;
	dm->full_bytes += f->size;
	dm->patch_bytes += patch_len;
	/* found again by content_deltas_find: kept sorted as it grows */
	for (size_t i = dm->ds.n - 1; i > 0; i--) {
		struct content_delta t;
		void *tp;
		int c = strcmp(dm->ds.d[i - 1].target, dm->ds.d[i].target);

		if (c < 0 || (c == 0 && strcmp(dm->ds.d[i - 1].base, dm->ds.d[i].base) < 0))
			break;
		t = dm->ds.d[i], dm->ds.d[i] = dm->ds.d[i - 1], dm->ds.d[i - 1] = t;
		tp = dm->patch[i], dm->patch[i] = dm->patch[i - 1], dm->patch[i - 1] = tp;
	}
	return CTL_OK;
}

/* Walk the previous release file: each of its files that the new release
 * holds at the same component and path with other bytes gets a delta. */
static int deltas_from(const char *prev, const char *stage, const struct content_release *r,
		       struct deltas_made *dm)
{
	struct steward_err err = {.code = ""};
	struct content_release pr;
	struct archive_entry *e;
	struct archive *ar = archive_read_new();
	uint8_t *bytes = NULL;
	char *ptext = NULL;
	int rc = CTL_OK, arc;

	memset(&pr, 0, sizeof(pr));
	if (!ar)
		return ctl_oom();
	archive_read_support_filter_zstd(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_filename(ar, prev, REL_IO_CHUNK) != ARCHIVE_OK ||
	    archive_read_next_header(ar, &e) != ARCHIVE_OK ||
	    strcmp(archive_entry_pathname(e) ? archive_entry_pathname(e) : "",
		   REL_MANIFEST_NAME) != 0 ||
	    archive_entry_size(e) < 1 || archive_entry_size(e) > (la_int64_t)CONTENT_RELEASE_MAX) {
		rc = previous_bad(prev, "not a release file (its first entry is not "
				  REL_MANIFEST_NAME ")");
		goto out;
	}
	if ((rc = ar_read_all(ar, (uint64_t)archive_entry_size(e), (uint8_t **)&ptext)) ||
	    content_release_parse(ptext, (size_t)archive_entry_size(e), NULL, 0, &pr, &err) != 0) {
		rc = rc ? previous_bad(prev, "cannot read its manifest") : say(&err, -1, prev);
		goto out;
	}
	if (proto_semver_cmp(pr.version, r->version) >= 0) {
		rc = previous_bad(prev, "it is not older than the release being built");
		goto out;
	}
	snprintf(dm->ds.previous, sizeof(dm->ds.previous), "%s", pr.version);
	while (rc == CTL_OK && (arc = archive_read_next_header(ar, &e)) != ARCHIVE_EOF) {
		const char *path = archive_entry_pathname(e), *slash;
		struct content_release_file key, *nf, *of;
		char got[CONTENT_HASH_HEX + 1];

		if (arc != ARCHIVE_OK) {
			rc = previous_bad(prev, "an entry cannot be read");
			break;
		}
		if (!path || archive_entry_filetype(e) != AE_IFREG ||
		    strncmp(path, REL_COMPONENTS_DIR "/", sizeof(REL_COMPONENTS_DIR)) != 0 ||
		    !(slash = strchr(path + sizeof(REL_COMPONENTS_DIR), '/')) ||
		    (size_t)(slash - path - sizeof(REL_COMPONENTS_DIR)) > CONTENT_COMPONENT_NAME_MAX ||
		    strlen(slash + 1) > CONTENT_PATH_MAX)
			continue; /* its own deltas, directories */
		memset(&key, 0, sizeof(key));
		memcpy(key.component, path + sizeof(REL_COMPONENTS_DIR),
		       (size_t)(slash - path - sizeof(REL_COMPONENTS_DIR)));
		snprintf(key.path, sizeof(key.path), "%s", slash + 1);
		nf = r->n_files ? bsearch(&key, r->files, r->n_files, sizeof(key), file_cmp) : NULL;
		of = pr.n_files ? bsearch(&key, pr.files, pr.n_files, sizeof(key), file_cmp) : NULL;
		if (!nf || !of || strcmp(nf->hash, of->hash) == 0 ||
		    of->size > CONTENT_DELTA_FILE_MAX || nf->size > CONTENT_DELTA_FILE_MAX ||
		    archive_entry_size(e) != (la_int64_t)of->size)
			continue;
		if ((rc = ar_read_all(ar, of->size, &bytes))) {
			rc = previous_bad(prev, "the archive ends early");
			break;
		}
		content_hash_buf(bytes, (size_t)of->size, got);
		if (strcmp(got, of->hash) != 0) {
			rc = previous_bad(prev, "a file does not match its hash in the manifest");
			break;
		}
		rc = delta_one(dm, stage, nf, bytes, (size_t)of->size);
		free(bytes);
		bytes = NULL;
	}
out:
	free(bytes);
	free(ptext);
	content_release_clear(&pr);
	archive_read_free(ar);
	return rc;
}

/* Sign the list for the release whose manifest text is text. */
static int deltas_sign(struct deltas_made *dm, const struct content_release *r,
		       const struct proto_keypair *kp, const char *text, size_t len)
{
	struct steward_err err = {.code = ""};
	int rc;

	snprintf(dm->ds.version, sizeof(dm->ds.version), "%s", r->version);
	content_hash_buf(text, len, dm->ds.manifest);
	rc = content_deltas_build(&dm->ds, kp, &dm->text, &dm->len, &err);
	return rc ? say(&err, rc, "release delta list") : CTL_OK;
}

/* ---- writing the archive ---------------------------------------------------- */

static int ar_fail(struct archive *ar, const char *what)
{
	ctl_error("release_write", "check the disk space and permissions of --out",
		  "%s: %s", what, archive_error_string(ar) ? archive_error_string(ar) : "error");
	return CTL_EFAIL;
}

static int ar_entry(struct archive *ar, const char *path, uint64_t size, unsigned mode,
		    int64_t mtime)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	if (!e)
		return ctl_oom();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_uname(e, "root");
	archive_entry_set_gname(e, "root");
	rc = archive_write_header(ar, e);
	archive_entry_free(e);
	return rc == ARCHIVE_OK ? CTL_OK : ar_fail(ar, path);
}

/* Copy one staged file into the archive, checking it is what was hashed. */
static int ar_copy(struct archive *ar, const char *stage, const struct content_release_file *f,
		   int64_t mtime, char *buf)
{
	struct content_hasher h;
	char src[PATH_MAX], name[PATH_MAX], got[CONTENT_HASH_HEX + 1];
	uint64_t left = f->size;
	int fd, rc;

	snprintf(src, sizeof(src), "%s/%s/%s", stage, f->component, f->path);
	snprintf(name, sizeof(name), REL_COMPONENTS_DIR "/%s/%s", f->component, f->path);
	fd = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ctl_error("file_changed", "run 'releases build' again once nothing writes to the "
			  "stage", "cannot open %s: %s", src, strerror(errno));
		return CTL_EFAIL;
	}
	rc = ar_entry(ar, name, f->size, f->mode, mtime);
	content_hasher_init(&h);
	while (rc == CTL_OK && left > 0) {
		ssize_t n = read(fd, buf, left < REL_IO_CHUNK ? (size_t)left : REL_IO_CHUNK);

		if (n <= 0)
			break;
		content_hasher_update(&h, buf, (size_t)n);
		if (archive_write_data(ar, buf, (size_t)n) != n)
			rc = ar_fail(ar, name);
		left -= (uint64_t)n;
	}
	close(fd);
	if (rc)
		return rc;
	content_hasher_final(&h, got);
	if (left != 0 || h.size != f->size || strcmp(got, f->hash) != 0) {
		ctl_error("file_changed",
			  "run 'releases build' again once nothing writes to the stage",
			  "%s changed after it was hashed", src);
		return CTL_EFAIL;
	}
	return CTL_OK;
}

static int write_archive(const char *out, const char *stage, const struct content_release *r,
			 const char *text, size_t len, const struct deltas_made *dm)
{
	char tmp[PATH_MAX], *buf = NULL;
	struct archive *ar = NULL;
	int fd = -1, rc = CTL_EFAIL;

	if (snprintf(tmp, sizeof(tmp), "%s.partial", out) >= (int)sizeof(tmp))
		return ctl_usage_error(NULL, "--out: the path is too long");
	unlink(tmp); /* a partial file of an earlier run that died */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		ctl_error("release_write", "check that the directory of --out exists and is "
			  "writable", "cannot create %s: %s", tmp, strerror(errno));
		return CTL_EFAIL;
	}
	buf = malloc(REL_IO_CHUNK);
	ar = archive_write_new();
	if (!buf || !ar) {
		rc = ctl_oom();
		goto out;
	}
	if (archive_write_add_filter_zstd(ar) != ARCHIVE_OK ||
	    archive_write_set_filter_option(ar, "zstd", "compression-level", REL_ZSTD_LEVEL) !=
		ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(ar) != ARCHIVE_OK ||
	    archive_write_open_fd(ar, fd) != ARCHIVE_OK) {
		rc = ar_fail(ar, tmp);
		goto out;
	}
	rc = ar_entry(ar, REL_MANIFEST_NAME, len, 0644, r->created);
	if (rc == CTL_OK && archive_write_data(ar, text, len) != (la_ssize_t)len)
		rc = ar_fail(ar, REL_MANIFEST_NAME);
	if (rc == CTL_OK && dm->text) {
		rc = ar_entry(ar, REL_DELTAS_NAME, dm->len, 0644, r->created);
		if (rc == CTL_OK && archive_write_data(ar, dm->text, dm->len) != (la_ssize_t)dm->len)
			rc = ar_fail(ar, REL_DELTAS_NAME);
	}
	for (size_t i = 0; rc == CTL_OK && i < r->n_files; i++)
		rc = ar_copy(ar, stage, &r->files[i], r->created, buf);
	for (size_t i = 0; rc == CTL_OK && dm->text && i < dm->ds.n; i++) {
		const struct content_delta *d = &dm->ds.d[i];
		char name[sizeof(REL_DELTAS_DIR) + CONTENT_HASH_HEX + 1];
		bool dup = false;

		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(dm->ds.d[j].patch, d->patch) == 0;
		if (dup)
			continue;
		snprintf(name, sizeof(name), REL_DELTAS_DIR "/%s", d->patch);
		rc = ar_entry(ar, name, d->patch_size, 0644, r->created);
		if (rc == CTL_OK && archive_write_data(ar, dm->patch[i], (size_t)d->patch_size) !=
					(la_ssize_t)d->patch_size)
			rc = ar_fail(ar, name);
	}
	if (rc == CTL_OK && archive_write_close(ar) != ARCHIVE_OK)
		rc = ar_fail(ar, tmp);
	if (rc == CTL_OK && (fsync(fd) != 0 || rename(tmp, out) != 0)) {
		ctl_error("release_write", "check the disk space and permissions of --out",
			  "cannot write %s: %s", out, strerror(errno));
		rc = CTL_EFAIL;
	}
out:
	if (ar)
		archive_write_free(ar);
	close(fd);
	if (rc)
		unlink(tmp);
	free(buf);
	return rc;
}

int ctl_cmd_releases_build(struct ctl *ctl, const struct ctl_args *a)
{
	const char *out = a->opt[CTL_OPT_OUT];
	const char *prev = a->opt[CTL_OPT_PREVIOUS];
	struct steward_err err = {.code = ""};
	struct proto_keypair kp;
	struct deltas_made dm;
	struct stage s;
	struct stat st;
	char *text = NULL, when[32];
	size_t len = 0;
	uint64_t bytes = 0;
	int rc;

	memset(&dm, 0, sizeof(dm));
	memset(&s, 0, sizeof(s));
	memset(&kp, 0, sizeof(kp));
	s.dir = a->opt[CTL_OPT_STAGE];
	if (lstat(out, &st) == 0) {
		ctl_error("release_write", "remove the old file or choose another --out",
			  "%s already exists", out);
		return CTL_EFAIL;
	}
	rc = load_key(a->opt[CTL_OPT_KEY], &kp);
	if (rc == CTL_OK)
		rc = stage_list(&s);
	if (rc == CTL_OK) {
		qsort(s.r.components, s.r.n_components, sizeof(s.r.components[0]), comp_cmp);
		rc = stage_files(&s);
	}
	if (rc)
		goto out;
	snprintf(s.r.version, sizeof(s.r.version), "%s", a->opt[CTL_OPT_RVERSION]);
	snprintf(s.r.upgrade_from, sizeof(s.r.upgrade_from), "%s",
		 a->opt[CTL_OPT_UPGRADE_FROM] ? a->opt[CTL_OPT_UPGRADE_FROM] : "0.0.0");
	s.r.created = time_now_s();
	s.r.expires = s.r.created + (a->opt[CTL_OPT_VALID_FOR] ? a->num[CTL_OPT_VALID_FOR]
								 : REL_VALID_FOR_S);
	rc = content_release_build(&s.r, &kp, &text, &len, &err);
	if (rc) {
		rc = say(&err, rc, "release manifest");
		goto out;
	}
	if (prev && ((rc = deltas_from(prev, s.dir, &s.r, &dm)) ||
		     (rc = deltas_sign(&dm, &s.r, &kp, text, len))))
		goto out;
	rc = write_archive(out, s.dir, &s.r, text, len, &dm);
	if (rc)
		goto out;
	for (size_t i = 0; i < s.r.n_files; i++)
		bytes += s.r.files[i].size;
	if (ctl->json) {
		json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I}", "file", out, "version", s.r.version,
				      "components", (json_int_t)s.r.n_components, "files",
				      (json_int_t)s.r.n_files, "bytes", (json_int_t)bytes);

		if (j && prev)
			json_object_set_new(j, "deltas",
					    json_pack("{s:s,s:I,s:I,s:I}", "previous",
						      dm.ds.previous, "count", (json_int_t)dm.ds.n,
						      "full_bytes", (json_int_t)dm.full_bytes,
						      "patch_bytes", (json_int_t)dm.patch_bytes));

		rc = ctl_finish(ctl, j, j ? CTL_OK : ctl_oom());
		goto out;
	}
	printf("Release %s: %s\n", s.r.version, out);
	for (size_t i = 0; i < s.r.n_components; i++) {
		const struct content_component *c = &s.r.components[i];

		printf("  %-20s %-9s %-10s protocol %u-%u%s%s\n", c->name,
		       content_component_kind_name(c->kind), c->version, c->proto_min, c->proto_max,
		       c->needs_base[0] ? ", needs base " : "", c->needs_base);
	}
	time_rfc3339(s.r.expires, when);
	printf("%zu files, %llu bytes; upgrades to it from %s and newer; valid until %s\n",
	       s.r.n_files, (unsigned long long)bytes, s.r.upgrade_from, when);
	if (prev)
		printf("%zu deltas from %s: %llu bytes of patches for %llu bytes of changed files\n",
		       dm.ds.n, dm.ds.previous, (unsigned long long)dm.patch_bytes,
		       (unsigned long long)dm.full_bytes);
out:
	deltas_made_free(&dm);
	sodium_memzero(&kp, sizeof(kp));
	free(text);
	content_release_clear(&s.r);
	return rc;
}

/* ---- import ------------------------------------------------------------------ */

struct import {
	struct ctl *ctl;
	const char *file;
	const char *auth; /* --authorization: a rollback authorization line */
	struct archive *ar;
	char *text;
	size_t len;
	struct content_release r;
	const char **hashes; /* distinct, sorted */
	bool *need, *sent;
	size_t nhashes;
	bool *seen; /* per file of r */
	char *buf;
	uint64_t uploaded_bytes;
	size_t uploaded;
	char *dtext; /* release.deltas, when the archive has it */
	size_t dlen;
	struct content_deltas ds;
	bool *dsent; /* per delta: its patch came */
};

static int bad_file(const struct import *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad_file(const struct import *im, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_error("release_file_invalid",
		  "the file is damaged or was not made by 'stewardctl releases build': fetch or "
		  "build it again",
		  "%s: %s", im->file, msg);
	return CTL_EFAIL;
}

static int hash_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int read_manifest(struct import *im)
{
	struct steward_err err = {.code = ""};
	struct archive_entry *e;
	la_int64_t size;
	size_t got = 0;
	int rc;

	rc = archive_read_next_header(im->ar, &e);
	if (rc != ARCHIVE_OK)
		return bad_file(im, "not a release archive (tar, zstd-compressed): %s",
				archive_error_string(im->ar) ? archive_error_string(im->ar)
							     : "no entries");
	size = archive_entry_size(e);
	if (strcmp(archive_entry_pathname(e) ? archive_entry_pathname(e) : "",
		   REL_MANIFEST_NAME) != 0 ||
	    archive_entry_filetype(e) != AE_IFREG)
		return bad_file(im, "the first entry is not " REL_MANIFEST_NAME);
	if (size < 1 || size > (la_int64_t)CONTENT_RELEASE_MAX)
		return bad_file(im, REL_MANIFEST_NAME " is %lld bytes; at most %u are allowed",
				(long long)size, CONTENT_RELEASE_MAX);
	im->text = malloc((size_t)size + 1);
	if (!im->text)
		return ctl_oom();
	while (got < (size_t)size) {
		la_ssize_t n = archive_read_data(im->ar, im->text + got, (size_t)size - got);

		if (n <= 0)
			return bad_file(im, "cannot read " REL_MANIFEST_NAME ": %s",
					n < 0 && archive_error_string(im->ar)
					    ? archive_error_string(im->ar)
					    : "the archive ends early");
		got += (size_t)n;
	}
	im->text[got] = '\0';
	im->len = got;
	/* the signature is checked here against the key the manifest names; the
	 * site checks that it trusts that key */
	rc = content_release_parse(im->text, im->len, NULL, 0, &im->r, &err);
	if (rc)
		return say(&err, rc, REL_MANIFEST_NAME);
	if (im->r.expires <= time_now_s()) {
		char when[32];

		time_rfc3339(im->r.expires, when);
		ctl_error("release_expired",
			  "build the release again (make release) or get a current one from its "
			  "publisher",
			  "release %s expired at %s", im->r.version, when);
		return CTL_EFAIL;
	}
	return CTL_OK;
}

static int plan_uploads(struct import *im)
{
	size_t n = im->r.n_files, k = 0;

	im->hashes = calloc(n ? n : 1, sizeof(*im->hashes));
	im->need = calloc(n ? n : 1, sizeof(*im->need));
	im->sent = calloc(n ? n : 1, sizeof(*im->sent));
	im->seen = calloc(n ? n : 1, sizeof(*im->seen));
	im->buf = malloc(REL_IO_CHUNK);
	if (!im->hashes || !im->need || !im->sent || !im->seen || !im->buf)
		return ctl_oom();
	for (size_t i = 0; i < n; i++)
		im->hashes[i] = im->r.files[i].hash;
	if (n)
		qsort(im->hashes, n, sizeof(*im->hashes), hash_cmp);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || strcmp(im->hashes[k - 1], im->hashes[i]) != 0)
			im->hashes[k++] = im->hashes[i];
	im->nhashes = k;
	return ctl_content_missing(im->ctl, im->hashes, k, im->need);
}

/* A temporary file nobody else can open, for one blob on its way up. */
static int temp_fd(void)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != ENOENT))
		return fd;
	snprintf(path, sizeof(path), "%s/stewardctl-release-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* Read one archive entry of size bytes, check it against hash, and upload
 * it when upload says the site lacks it. */
static int import_blob(struct import *im, const char *path, const char *hash, uint64_t size,
		       bool upload)
{
	struct content_hasher h;
	char got[CONTENT_HASH_HEX + 1], api[128];
	uint64_t left;
	int fd = -1, rc = CTL_OK;

	if (upload) {
		fd = temp_fd();
		if (fd < 0) {
			ctl_error("release_temp", "set TMPDIR to a writable directory with space",
				  "cannot make a temporary file: %s", strerror(errno));
			return CTL_EFAIL;
		}
	}
	content_hasher_init(&h);
	for (left = size; left > 0 && rc == CTL_OK;) {
		la_ssize_t n = archive_read_data(im->ar, im->buf,
						 left < REL_IO_CHUNK ? (size_t)left : REL_IO_CHUNK);

		if (n <= 0) {
			rc = bad_file(im, "cannot read %.200s: %s", path,
				      n < 0 && archive_error_string(im->ar)
					  ? archive_error_string(im->ar)
					  : "the archive ends early");
			break;
		}
		content_hasher_update(&h, im->buf, (size_t)n);
		if (fd >= 0 && write(fd, im->buf, (size_t)n) != n) {
			ctl_error("release_temp", "set TMPDIR to a writable directory with space",
				  "cannot write a temporary file: %s", strerror(errno));
			rc = CTL_EFAIL;
		}
		left -= (uint64_t)n;
	}
	if (rc == CTL_OK) {
		content_hasher_final(&h, got);
		if (strcmp(got, hash) != 0)
			rc = bad_file(im, "%.200s does not match its hash in the signed manifest",
				      path);
	}
	if (rc == CTL_OK && fd >= 0) {
		json_t *reply = NULL;

		snprintf(api, sizeof(api), "/api/v1/content/%s", hash);
		if (lseek(fd, 0, SEEK_SET) != 0)
			rc = bad_file(im, "cannot rewind the temporary file");
		else
			rc = ctl_upload(im->ctl, api, fd, size, path, NULL, NULL, &reply);
		json_decref(reply);
		if (rc == CTL_OK) {
			im->uploaded++;
			im->uploaded_bytes += size;
		}
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* One archive entry: a file the manifest lists, checked against its hash,
 * and uploaded when the site lacks it. */
static int import_entry(struct import *im, struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e), *slash;
	struct content_release_file key, *f;
	const char **hp, *hkey;
	size_t fi, hi;
	int rc;

	if (!path)
		return bad_file(im, "an entry has no name");
	if (archive_entry_filetype(e) == AE_IFDIR &&
	    strncmp(path, REL_COMPONENTS_DIR "/", sizeof(REL_COMPONENTS_DIR)) == 0)
		return CTL_OK; /* directories are implied by their files */
	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) ||
	    archive_entry_symlink(e))
		return bad_file(im, "%.200s is not a regular file", path);
	memset(&key, 0, sizeof(key));
	if (strncmp(path, REL_COMPONENTS_DIR "/", sizeof(REL_COMPONENTS_DIR)) != 0 ||
	    !(slash = strchr(path + sizeof(REL_COMPONENTS_DIR), '/')) ||
	    (size_t)(slash - path - sizeof(REL_COMPONENTS_DIR)) > CONTENT_COMPONENT_NAME_MAX ||
	    strlen(slash + 1) > CONTENT_PATH_MAX)
		return bad_file(im, "%.200s is not a file of the release", path);
	memcpy(key.component, path + sizeof(REL_COMPONENTS_DIR),
	       (size_t)(slash - path - sizeof(REL_COMPONENTS_DIR)));
	snprintf(key.path, sizeof(key.path), "%s", slash + 1);
	f = im->r.n_files ? bsearch(&key, im->r.files, im->r.n_files, sizeof(key), file_cmp)
			  : NULL;
	if (!f)
		return bad_file(im, "%.200s is not in the release manifest", path);
	fi = (size_t)(f - im->r.files);
	if (im->seen[fi])
		return bad_file(im, "%.200s is in the archive twice", path);
	im->seen[fi] = true;
	if (archive_entry_size(e) != (la_int64_t)f->size)
		return bad_file(im, "%.200s is %lld bytes; the manifest says %llu", path,
				(long long)archive_entry_size(e), (unsigned long long)f->size);
	hkey = f->hash;
	hp = bsearch(&hkey, im->hashes, im->nhashes, sizeof(*im->hashes), hash_cmp);
	hi = (size_t)(hp - im->hashes);
	rc = import_blob(im, path, f->hash, f->size, im->need[hi] && !im->sent[hi]);
	if (rc == CTL_OK && im->need[hi] && !im->sent[hi])
		im->sent[hi] = true;
	return rc;
}

/* release.deltas: signed by the manifest's key, for this manifest. */
static int import_deltas_list(struct import *im, struct archive_entry *e)
{
	struct steward_err err = {.code = ""};
	char mhash[CONTENT_HASH_HEX + 1];
	la_int64_t size = archive_entry_size(e);
	int rc;

	if (im->dtext)
		return bad_file(im, REL_DELTAS_NAME " is in the archive twice");
	if (size < 1 || size > (la_int64_t)CONTENT_DELTAS_MAX)
		return bad_file(im, REL_DELTAS_NAME " is %lld bytes; at most %u are allowed",
				(long long)size, CONTENT_DELTAS_MAX);
	if (ar_read_all(im->ar, (uint64_t)size, (uint8_t **)&im->dtext) != CTL_OK)
		return bad_file(im, "cannot read " REL_DELTAS_NAME);
	im->dlen = (size_t)size;
	rc = content_deltas_parse(im->dtext, im->dlen, im->r.key, &im->ds, &err);
	if (rc)
		return say(&err, rc, REL_DELTAS_NAME);
	content_hash_buf(im->text, im->len, mhash);
	if (strcmp(im->ds.version, im->r.version) != 0 || strcmp(im->ds.manifest, mhash) != 0)
		return bad_file(im, REL_DELTAS_NAME " belongs to another manifest");
	im->dsent = calloc(im->ds.n ? im->ds.n : 1, sizeof(*im->dsent));
	return im->dsent ? CTL_OK : ctl_oom();
}

/* deltas/HASH: a patch the delta list names, uploaded when the site lacks it. */
static int import_patch(struct import *im, struct archive_entry *e, const char *path)
{
	const char *hash = path + sizeof(REL_DELTAS_DIR);
	const struct content_delta *d = NULL;
	bool need = false;
	size_t k = 0;
	int rc;

	for (size_t i = 0; im->dtext && i < im->ds.n && !d; i++)
		if (strcmp(im->ds.d[i].patch, hash) == 0)
			d = &im->ds.d[k = i];
	if (!d)
		return bad_file(im, "%.200s is not in " REL_DELTAS_NAME, path);
	if (im->dsent[k])
		return bad_file(im, "%.200s is in the archive twice", path);
	if (archive_entry_size(e) != (la_int64_t)d->patch_size)
		return bad_file(im, "%.200s is %lld bytes; the delta list says %llu", path,
				(long long)archive_entry_size(e),
				(unsigned long long)d->patch_size);
	rc = ctl_content_missing(im->ctl, &hash, 1, &need);
	if (rc == CTL_OK)
		rc = import_blob(im, path, hash, d->patch_size, need);
	/* every delta of this patch is now present */
	for (size_t i = 0; rc == CTL_OK && i < im->ds.n; i++)
		if (strcmp(im->ds.d[i].patch, hash) == 0)
			im->dsent[i] = true;
	return rc;
}

static int import_any(struct import *im, struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e);

	if (path && strcmp(path, REL_DELTAS_NAME) == 0 && archive_entry_filetype(e) == AE_IFREG)
		return import_deltas_list(im, e);
	if (path && strncmp(path, REL_DELTAS_DIR "/", sizeof(REL_DELTAS_DIR)) == 0 &&
	    archive_entry_filetype(e) == AE_IFREG && content_hash_valid(path + sizeof(REL_DELTAS_DIR)))
		return import_patch(im, e, path);
	return import_entry(im, e);
}

/* POST /api/v1/releases; check_only asks whether the site would take it. */
static int post_manifest(struct import *im, bool rollback, bool check_only, json_t **reply)
{
	json_t *mtext = json_stringn(im->text, im->len), *body;
	int rc;

	body = mtext ? json_pack("{s:o,s:b,s:b,s:s*}", "manifest", mtext, "rollback", rollback,
				 "check_only", check_only, "rollback_authorization", im->auth)
		     : NULL;
	if (body && im->dtext && !check_only)
		json_object_set_new(body, "deltas", json_stringn(im->dtext, im->dlen));
	if (!body)
		return bad_file(im, REL_MANIFEST_NAME " is not UTF-8 text");
	rc = ctl_request(im->ctl, "POST", "/api/v1/releases", body, reply);
	json_decref(body);
	return rc;
}

/* Before any upload: would the site take this release (key, version)? */
static int ask_site(struct import *im, bool rollback)
{
	json_t *reply = NULL;
	int rc = post_manifest(im, rollback, true, &reply);

	json_decref(reply);
	return rc;
}

static void print_release(const json_t *rel, bool files);

int ctl_cmd_releases_import(struct ctl *ctl, const struct ctl_args *a)
{
	struct import im;
	struct archive_entry *e;
	json_t *reply = NULL;
	int rc, arc;

	memset(&im, 0, sizeof(im));
	im.ctl = ctl;
	im.file = a->argv[0];
	im.auth = a->opt[CTL_OPT_AUTHORIZATION];
	if (im.auth && !a->opt[CTL_OPT_ROLLBACK])
		return ctl_usage_error(NULL, "--authorization goes with --rollback");
	rc = ctl_token_load(ctl);
	if (rc)
		return rc;
	im.ar = archive_read_new();
	if (!im.ar)
		return ctl_oom();
	archive_read_support_filter_zstd(im.ar);
	archive_read_support_format_tar(im.ar);
	if (archive_read_open_filename(im.ar, im.file, REL_IO_CHUNK) != ARCHIVE_OK) {
		ctl_error("release_file_invalid", "pass the .tar.zst that 'make release' wrote",
			  "cannot open %s: %s", im.file,
			  archive_error_string(im.ar) ? archive_error_string(im.ar) : "error");
		rc = CTL_EFAIL;
		goto out;
	}
	rc = read_manifest(&im);
	if (rc == CTL_OK)
		rc = ask_site(&im, a->opt[CTL_OPT_ROLLBACK] != NULL);
	if (rc == CTL_OK)
		rc = plan_uploads(&im);
	while (rc == CTL_OK && (arc = archive_read_next_header(im.ar, &e)) != ARCHIVE_EOF) {
		if (arc != ARCHIVE_OK) {
			rc = bad_file(&im, "%s",
				      archive_error_string(im.ar) ? archive_error_string(im.ar)
								  : "unreadable entry");
			break;
		}
		rc = import_any(&im, e);
	}
	for (size_t i = 0; rc == CTL_OK && im.dtext && i < im.ds.n; i++)
		if (!im.dsent[i])
			rc = bad_file(&im, REL_DELTAS_DIR "/%s is in " REL_DELTAS_NAME
					   " but not in the archive",
				      im.ds.d[i].patch);
	for (size_t i = 0; rc == CTL_OK && i < im.r.n_files; i++)
		if (!im.seen[i])
			rc = bad_file(&im, "%s/%s/%s is in the manifest but not in the archive",
				      REL_COMPONENTS_DIR, im.r.files[i].component,
				      im.r.files[i].path);
	if (rc)
		goto out;

	rc = post_manifest(&im, a->opt[CTL_OPT_ROLLBACK] != NULL, false, &reply);
	if (rc)
		goto out;
	if (!json_is_object(reply)) {
		rc = ctl_finish(ctl, reply, ctl_bad_reply("releases import"));
		reply = NULL;
		goto out;
	}
	if (!ctl->json) {
		printf("Imported release %s%s: uploaded %zu of %zu distinct files (%llu bytes)%s\n",
		       im.r.version, a->opt[CTL_OPT_ROLLBACK] ? " (rollback)" : "", im.uploaded,
		       im.nhashes + im.ds.n, (unsigned long long)im.uploaded_bytes,
		       im.uploaded < im.nhashes + im.ds.n ? "; the site had the rest" : "");
		if (im.dtext)
			printf("with %zu deltas from release %s\n", im.ds.n, im.ds.previous);
		print_release(reply, false);
	}
	rc = ctl_finish(ctl, reply, CTL_OK);
	reply = NULL;
out:
	if (rc && im.uploaded)
		fprintf(stderr,
			"releases import: %zu files were uploaded before it stopped; the site keeps "
			"them, so importing again sends only the rest\n",
			im.uploaded);
	archive_read_free(im.ar);
	json_decref(reply);
	free(im.text);
	free(im.hashes);
	free(im.need);
	free(im.sent);
	free(im.seen);
	free(im.buf);
	free(im.dtext);
	free(im.dsent);
	content_deltas_clear(&im.ds);
	content_release_clear(&im.r);
	return rc;
}

/* ---- list / show -------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

/* "stewardd 1.2.0, steward-agent 1.2.0" */
static void components_line(const json_t *comps, char *out, size_t outsz)
{
	size_t used = 0;
	json_t *c;
	size_t i;

	out[0] = '\0';
	json_array_foreach(comps, i, c)
	{
		int n = snprintf(out + used, outsz - used, "%s%s %s", i ? ", " : "", jstr(c, "name"),
				 jstr(c, "version"));

		if (n < 0 || (size_t)n >= outsz - used)
			break;
		used += (size_t)n;
	}
}

/* Where the release stands: offered or not, why, and how it went. */
static void print_standing(const json_t *rel)
{
	const char *why = json_string_value(json_object_get(rel, "state_reason"));
	char n1[32], n2[32];

	printf("State:        %s", jstr(rel, "state"));
	if (json_is_true(json_object_get(rel, "offered_to_agents")))
		fputs(", offered to agents", stdout);
	if (json_is_true(json_object_get(rel, "installed_on_new_machines")))
		fputs(", installed on new machines", stdout);
	putchar('\n');
	if (why) {
		fputs("              ", stdout);
		ctl_put_clean(stdout, why);
		putchar('\n');
	}
	printf("Clients:      %s upgraded, %s failed",
	       ctl_fmt(json_object_get(rel, "succeeded"), "0", n1, sizeof(n1)),
	       ctl_fmt(json_object_get(rel, "failed_total"), "0", n2, sizeof(n2)));
	if (json_object_get(rel, "reinstated"))
		printf(" (%s since it was reinstated at %s)",
		       ctl_fmt(json_object_get(rel, "failed"), "0", n1, sizeof(n1)),
		       jstr(rel, "reinstated"));
	putchar('\n');
}

/* A list of rel (key) as a table of four columns: heads and their fields. */
static void print_list(const json_t *rel, const char *key, const char *const head[4],
		       const char *const field[4])
{
	json_t *list = json_object_get(rel, key), *o;
	struct ctl_table t;
	size_t i;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return;
	putchar('\n');
	ctl_table_init(&t, 4, head);
	json_array_foreach(list, i, o)
	{
		const char *row[] = {jstr(o, field[0]), jstr(o, field[1]), jstr(o, field[2]),
				     jstr(o, field[3])};

		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

static void print_outcomes(const json_t *rel)
{
	static const char *const head[] = {"MACHINE", "OUTCOME", "TIME", "DETAIL"};
	static const char *const field[] = {"client", "outcome", "time", "detail"};

	print_list(rel, "outcomes", head, field);
}

/* How the release went at the sites below: fetched and imported, or why not. */
static void print_below(const json_t *rel)
{
	static const char *const head[] = {"SITE BELOW", "STATE", "UPDATED", "DETAIL"};
	static const char *const field[] = {"site", "state", "updated", "detail"};

	print_list(rel, "sites_below", head, field);
}

static void print_release(const json_t *rel, bool files)
{
	static const char *const chead[] = {"COMPONENT", "KIND", "VERSION", "PROTOCOL",
					    "NEEDS BASE"};
	static const char *const fhead[] = {"COMPONENT", "PATH", "MODE", "SIZE", "HASH"};
	struct ctl_table t;
	char n1[32], n2[32], mode[8];
	json_t *c;
	size_t i;

	printf("Release:      ");
	ctl_put_clean(stdout, jstr(rel, "version"));
	printf("\nCreated:      %s\nExpires:      %s\nImported:     %s by ", jstr(rel, "created"),
	       jstr(rel, "expires"), jstr(rel, "imported"));
	ctl_put_clean(stdout, jstr(rel, "imported_by"));
	printf("\nNewest:       %s\nRollback:     %s\nUpgrade from: %s (and newer)\n",
	       json_is_true(json_object_get(rel, "newest")) ? "yes" : "no",
	       json_is_true(json_object_get(rel, "rollback")) ? "yes (imported as a rollback)"
							       : "no",
	       jstr(rel, "upgrade_from"));
	printf("Signed by:    %s\nManifest:     %s\nFiles:        %s (%s bytes)\n",
	       jstr(rel, "key"), jstr(rel, "manifest"),
	       ctl_fmt(json_object_get(rel, "files"), "0", n1, sizeof(n1)),
	       ctl_fmt(json_object_get(rel, "bytes"), "0", n2, sizeof(n2)));
	print_standing(rel);
	putchar('\n');
	ctl_table_init(&t, 5, chead);
	json_array_foreach(json_object_get(rel, "components"), i, c)
	{
		const char *row[] = {jstr(c, "name"), jstr(c, "kind"), jstr(c, "version"),
				     jstr(c, "protocol"), jstr(c, "needs_base")};

		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	if (!files || !json_is_array(json_object_get(rel, "file_list")))
		return;
	putchar('\n');
	ctl_table_init(&t, 5, fhead);
	json_array_foreach(json_object_get(rel, "file_list"), i, c)
	{
		const char *row[] = {jstr(c, "component"), jstr(c, "path"), mode,
				     ctl_fmt(json_object_get(c, "size"), "-", n1, sizeof(n1)),
				     jstr(c, "hash")};

		snprintf(mode, sizeof(mode), "%04llo",
			 (unsigned long long)json_integer_value(json_object_get(c, "mode")) & 0777);
		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

int ctl_cmd_releases_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"VERSION", "NEWEST", "STATE", "OFFERED", "OK/FAILED",
					   "COMPONENTS", "FILES", "IMPORTED", "EXPIRES"};
	struct ctl_table t;
	json_t *reply = NULL, *r;
	char comps[256], files[32], offered[32], counts[48], n1[24], n2[24];
	size_t i;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/releases", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("releases list"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (json_array_size(reply) == 0) {
		printf("no releases imported; 'stewardctl releases import FILE' imports one\n");
		return ctl_finish(ctl, reply, CTL_OK);
	}
	ctl_table_init(&t, 9, head);
	json_array_foreach(reply, i, r)
	{
		bool agents = json_is_true(json_object_get(r, "offered_to_agents")),
		     installs = json_is_true(json_object_get(r, "installed_on_new_machines"));
		const char *row[] = {jstr(r, "version"),
				     json_is_true(json_object_get(r, "newest"))	  ? "yes"
				     : json_is_true(json_object_get(r, "rollback")) ? "rollback"
										    : "",
				     jstr(r, "state"), offered, counts,
				     comps, files, jstr(r, "imported"), jstr(r, "expires")};

		snprintf(offered, sizeof(offered), "%s",
			 agents && installs ? "agents+installs"
			 : agents	    ? "agents"
			 : installs	    ? "installs"
					    : "-");
		snprintf(counts, sizeof(counts), "%s/%s",
			 ctl_fmt(json_object_get(r, "succeeded"), "0", n1, sizeof(n1)),
			 ctl_fmt(json_object_get(r, "failed_total"), "0", n2, sizeof(n2)));
		components_line(json_object_get(r, "components"), comps, sizeof(comps));
		ctl_fmt(json_object_get(r, "files"), "0", files, sizeof(files));
		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_releases_show(struct ctl *ctl, const struct ctl_args *a)
{
	char path[96];
	json_t *reply = NULL;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/releases/%s", a->argv[0]);
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("releases show"));
	if (!ctl->json) {
		print_release(reply, true);
		print_outcomes(reply);
		print_below(reply);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

static int release_mark(struct ctl *ctl, const struct ctl_args *a, const char *verb)
{
	const char *reason = a->opt[CTL_OPT_REASON];
	json_t *body = reason ? json_pack("{s:s}", "reason", reason) : json_object(), *reply = NULL;
	char path[96];
	int rc;

	if (!body)
		return ctl_oom();
	snprintf(path, sizeof(path), "/api/v1/releases/%s/%s", a->argv[0], verb);
	rc = ctl_request(ctl, "POST", path, body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply(verb));
	if (!ctl->json) {
		printf("release %s %s\n", jstr(reply, "version"),
		       strcmp(verb, "withdraw") == 0 ? "withdrawn: no agent and no new machine is "
						     "offered it"
						   : "reinstated: it can be offered again");
		print_standing(reply);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_releases_withdraw(struct ctl *ctl, const struct ctl_args *a)
{
	return release_mark(ctl, a, "withdraw");
}

int ctl_cmd_releases_reinstate(struct ctl *ctl, const struct ctl_args *a)
{
	return release_mark(ctl, a, "reinstate");
}

/* ---- site pause-installs, resume-installs ------------------------------------------ */

static int site_installs(struct ctl *ctl, const char *path, json_t *body, const char *what)
{
	json_t *reply = NULL;
	const char *why;
	json_int_t rate;
	int rc;

	if (!body)
		return ctl_oom();
	rc = ctl_request(ctl, "POST", path, body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!json_is_boolean(json_object_get(reply, "installs_paused")))
		return ctl_finish(ctl, reply, ctl_bad_reply(what));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	why = json_string_value(json_object_get(reply, "reason"));
	rate = json_integer_value(json_object_get(reply, "rate_per_hour"));
	if (json_is_true(json_object_get(reply, "installs_paused"))) {
		fputs("client installations paused", stdout);
		if (why && *why) {
			fputs(": ", stdout);
			ctl_put_clean(stdout, why);
		}
		puts("\n/bootstrap.sh now refuses and changes nothing on the machine that runs it; "
		     "'stewardctl site resume-installs' undoes it");
	} else if (rate > 0) {
		printf("client installations resumed: at most %lld per hour\n", (long long)rate);
	} else {
		puts("client installations resumed, without a limit");
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_site_pause_installs(struct ctl *ctl, const struct ctl_args *a)
{
	const char *reason = a->opt[CTL_OPT_REASON];

	json_t *body = reason ? json_pack("{s:s}", "reason", reason) : json_object();

	if (body && a->opt[CTL_OPT_HIERARCHY])
		json_object_set_new(body, "hierarchy", json_true());
	return site_installs(ctl, "/api/v1/site/pause-installs", body, "site pause-installs");
}

int ctl_cmd_site_resume_installs(struct ctl *ctl, const struct ctl_args *a)
{
	json_int_t rate = a->opt[CTL_OPT_RATE] ? (json_int_t)a->num[CTL_OPT_RATE] : 0;

	return site_installs(ctl, "/api/v1/site/resume-installs",
			     json_pack("{s:I,s:b}", "rate", rate, "hierarchy",
				       a->opt[CTL_OPT_HIERARCHY] != NULL),
			     "site resume-installs");
}

/* ---- site client-upgrade ------------------------------------------------------------ */

int ctl_cmd_site_client_upgrade(struct ctl *ctl, const struct ctl_args *a)
{
	const char *coll = a->opt[CTL_OPT_COLLECTION];
	json_t *body, *reply = NULL;
	int rc;

	if (!coll == !a->opt[CTL_OPT_OFF]) {
		ctl_error("usage", "give --collection NAME to upgrade its agents, or --off to stop",
			  "site client-upgrade needs exactly one of --collection and --off");
		return CTL_EUSAGE;
	}
	body = coll ? json_pack("{s:s}", "collection", coll) : json_pack("{s:n}", "collection");
	if (!body)
		return ctl_oom();
	if (a->opt[CTL_OPT_HIERARCHY])
		json_object_set_new(body, "hierarchy", json_true());
	rc = ctl_request(ctl, "POST", "/api/v1/site/client-upgrade", body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!ctl->json) {
		if (coll) {
			fputs("agents in collection '", stdout);
			ctl_put_clean(stdout, coll);
			printf("' take the release the site offers at their next check-in "
			       "('stewardctl site show' names it)%s\n",
			       a->opt[CTL_OPT_HIERARCHY]
				   ? ", and at every site below the release that site offers"
				   : "");
		} else {
			printf("client upgrades stopped%s: agents keep the version they run\n",
			       a->opt[CTL_OPT_HIERARCHY] ? " here and at every site below" : "");
		}
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

/* ---- site upgrade --------------------------------------------------------------------- */

#define SITE_UPGRADE_WAIT_S 180

/* The version GET /health reports, "" while the site is down. */
static void health_version(struct ctl *ctl, char *out, size_t outsz)
{
	char url[CTL_URL_MAX + 16];
	struct http_call c = {.method = "GET", .url = url, .timeout_ms = 2000,
			      .max_response = 4096};
	struct http_resp r;
	struct steward_err err;
	json_t *o;

	out[0] = '\0';
	snprintf(url, sizeof(url), "%s/health", ctl->server);
	http_resp_init(&r);
	if (http_call(&c, &r, &err) == 0 && r.status == 200) {
		o = json_loadb(r.body.data, r.body.len, 0, NULL);
		snprintf(out, outsz, "%s", json_string_value(json_object_get(o, "version"))
					       ? json_string_value(json_object_get(o, "version"))
					       : "");
		json_decref(o);
	}
	http_resp_free(&r);
}

int ctl_cmd_site_upgrade(struct ctl *ctl, const struct ctl_args *a)
{
	const char *to = a->opt[CTL_OPT_TO];
	char from[64], now[64];
	json_t *body, *reply = NULL, *site = NULL, *last;
	int rc;

	body = json_pack("{s:s}", "to", to);
	if (!body)
		return ctl_oom();
	rc = ctl_request(ctl, "POST", "/api/v1/site/upgrade", body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	snprintf(from, sizeof(from), "%s", json_string_value(json_object_get(reply, "from"))
						 ? json_string_value(json_object_get(reply, "from"))
						 : "?");
	if (!ctl->json) {
		printf("upgrading the site from %s to %s; database backed up to ", from, to);
		ctl_put_clean(stdout, json_string_value(json_object_get(reply, "backup"))
					  ? json_string_value(json_object_get(reply, "backup"))
					  : "?");
		puts("");
		fflush(stdout);
	}
	json_decref(reply);
	for (int i = 0; i < SITE_UPGRADE_WAIT_S * 2; i++) {
		health_version(ctl, now, sizeof(now));
		if (strcmp(now, to) == 0)
			break;
		if (strcmp(now, from) == 0) {
			/* up again at the old version: rolled back, or not down yet */
			site = NULL;
			if (ctl_request(ctl, "GET", "/api/v1/site", NULL, &site) == CTL_OK) {
				last = json_object_get(site, "last_upgrade");
				if (strcmp(jstr(last, "state") ? jstr(last, "state") : "", "rolled_back") ==
					0 &&
				    strcmp(jstr(last, "to") ? jstr(last, "to") : "", to) == 0) {
					ctl_error("site_upgrade_rolled_back",
						  "the site runs the old version with its database as it "
						  "was; see the site's log, fix the release and try a newer "
						  "one",
						  "the upgrade to %s failed and was rolled back: %s", to,
						  jstr(last, "reason") ? jstr(last, "reason") : "?");
					json_decref(site);
					return CTL_EFAIL;
				}
				json_decref(site);
			}
		}
		usleep(500 * 1000);
	}
	if (strcmp(now, to) != 0) {
		ctl_error("timeout", "check the site's log and stewardctl site show",
			  "the site did not come back as %s within %d s (it reports '%s')", to,
			  SITE_UPGRADE_WAIT_S, now[0] ? now : "nothing");
		return CTL_EFAIL;
	}
	rc = ctl_request(ctl, "GET", "/api/v1/site", NULL, &site);
	if (rc)
		return rc;
	if (!ctl->json) {
		last = json_object_get(site, "last_upgrade");
		printf("the site runs %s\n", to);
		if (strcmp(jstr(last, "state") ? jstr(last, "state") : "", "watching") == 0 &&
		    strcmp(jstr(last, "to") ? jstr(last, "to") : "", to) == 0) {
			/* site_upgrade_watch: it can still go back on its own */
			fputs("it is watched until ", stdout);
			ctl_put_clean(stdout, jstr(last, "watch_until_at")
						  ? jstr(last, "watch_until_at")
						  : "?");
			printf(": if it dies or fails its health check before then, the site goes "
			       "back to %s with the backup (what it writes meanwhile is lost)\n",
			       from);
		}
	}
	return ctl_finish(ctl, site, CTL_OK);
}

/* ---- self-update ------------------------------------------------------------------------- *
 *
 * Only the two console-update routes (server/consoleupdate.c), which the
 * site answers whatever protocol or API this console speaks: the way out
 * for a console the site refuses everywhere else. Their reply has a frozen
 * format (lib/proto/console.c); everything in it that matters is checked
 * against the release manifest, whose signature is checked here. */

#define SELF_MAX (256u * 1024 * 1024)
#define SELF_BINARY "bin/stewardctl"
_Static_assert(PROTO_CONSOLE_MANIFEST_MAX == CONTENT_RELEASE_MAX,
	       "a console update carries a whole release manifest");

static int update_mismatch(const struct proto_console_update *u, const char *what)
{
	ctl_error("bad_reply",
		  "the site's offer and the release it names disagree: tell the site's "
		  "administrator; nothing was changed here",
		  "the site offers %s of release %s, but the signed manifest says otherwise (%s)",
		  u->component, u->release, what);
	return CTL_EFAIL;
}

/* The console file of the signed release rel that the site's document u
 * names, when every member agrees with the manifest; NULL after an error. */
static const struct content_release_file *
update_file(const struct proto_console_update *u, const struct content_release *rel, const char *to)
{
	const struct content_component *c = content_release_component(rel, u->component);
	struct proto_range pr;

	if (strcmp(rel->version, u->release) != 0) {
		update_mismatch(u, "its version");
		return NULL;
	}
	if (to && strcmp(rel->version, to) != 0) {
		ctl_error("bad_reply", "tell the site's administrator; nothing was changed here",
			  "asked for release %s, the site offers %s", to, rel->version);
		return NULL;
	}
	if (!c || c->kind != CONTENT_KIND_CONSOLE || strcmp(c->version, u->version) != 0 ||
	    (int)c->proto_min != u->protocol.min || (int)c->proto_max != u->protocol.max) {
		update_mismatch(u, "its console component");
		return NULL;
	}
	pr = u->protocol;
	if (proto_negotiate(&pr, &u->site_protocol) < 0) {
		ctl_error("release_invalid", "tell the site's administrator",
			  "the site (protocol %d-%d) offers a stewardctl of protocol %d-%d",
			  u->site_protocol.min, u->site_protocol.max, pr.min, pr.max);
		return NULL;
	}
	if (strcmp(u->path, SELF_BINARY) != 0) {
		ctl_error("release_invalid", "build the release with make release",
			  "release %s offers %s, not %s", rel->version, u->path, SELF_BINARY);
		return NULL;
	}
	for (size_t i = 0; i < rel->n_files; i++) {
		const struct content_release_file *f = &rel->files[i];

		if (strcmp(f->component, c->name) != 0 || strcmp(f->path, SELF_BINARY) != 0)
			continue;
		if (strcmp(f->hash, u->sha256) != 0 || f->size != u->size) {
			update_mismatch(u, "the file's hash or size");
			return NULL;
		}
		if (f->size > SELF_MAX) {
			ctl_error("release_invalid", "build the release with make release",
				  "the stewardctl of release %s is larger than %u bytes",
				  rel->version, SELF_MAX);
			return NULL;
		}
		return f;
	}
	ctl_error("release_invalid", "build the release with make release",
		  "release %s has no %s of a console component", rel->version, SELF_BINARY);
	return NULL;
}

/* Download the file f from the site's path into path, checked against the
 * hash of the signed manifest. */
static int fetch_blob(struct ctl *ctl, const char *download, const struct content_release_file *f,
		      const char *path)
{
	char got[CONTENT_HASH_HEX + 1], *body = NULL;
	size_t len = 0;
	/* one byte more than signed: a longer file is reported as not matching */
	int rc = ctl_fetch(ctl, download, (size_t)f->size + 1, &body, &len);

	if (rc)
		return rc;
	rc = CTL_EFAIL;
	content_hash_buf(body, len, got);
	if (len != f->size || strcmp(got, f->hash) != 0)
		ctl_error("release_signature",
			  "something between here and the site changed the file: try again",
			  "the downloaded stewardctl has SHA-256 %s (%zu bytes), not %s as signed",
			  got, len, f->hash);
	else if (file_write_atomic(path, body, len, 0755) != 0)
		ctl_error("output", "check that the directory of stewardctl is writable",
			  "cannot write %s", path);
	else
		rc = CTL_OK;
	free(body);
	return rc;
}

/* ---- the release keys this console trusts ------------------------------------------ *
 * One key (64 lowercase hex) a line in STEWARD_RELEASE_KEYS_FILE, else
 * $XDG_CONFIG_HOME/steward/release-keys, else ~/.config/steward/release-keys:
 * written by releases trust-key, read by self-update. The console keeps
 * them itself, not the site: self-update is what protects it from a site
 * that hands out a console it should not. */
#define PINS_MAX   CONTENT_RELEASE_KEYS_MAX
#define PINS_BYTES (PINS_MAX * (2 * PROTO_PK_BYTES + 1))

static bool key_hex_ok(const char *k)
{
	return strlen(k) == 2 * PROTO_PK_BYTES &&
	       strspn(k, "0123456789abcdef") == 2 * PROTO_PK_BYTES;
}

static int pins_path(char *out, size_t outsz)
{
	const char *env = getenv("STEWARD_RELEASE_KEYS_FILE"), *xdg = getenv("XDG_CONFIG_HOME"),
		   *home = getenv("HOME");
	int n;

	if (env && *env)
		n = snprintf(out, outsz, "%s", env);
	else if (xdg && *xdg)
		n = snprintf(out, outsz, "%s/steward/release-keys", xdg);
	else if (home && *home)
		n = snprintf(out, outsz, "%s/.config/steward/release-keys", home);
	else
		return -1;
	return n > 0 && (size_t)n < outsz ? 0 : -1;
}

/* The pinned keys; a missing file is none. CTL_EFAIL after an error. */
static int pins_load(const char *path, char keys[PINS_MAX][2 * PROTO_PK_BYTES + 1], size_t *n)
{
	char *data = NULL, *line, *save = NULL;
	size_t len = 0;
	int rc = file_read_all(path, PINS_BYTES, &data, &len);

	*n = 0;
	if (rc == -STEWARD_ENOTFOUND)
		return CTL_OK;
	if (rc) {
		ctl_error("release_key_unreadable",
			  "check the file, or pass --release-key HEX instead",
			  "cannot read the console's trusted release keys %s: %s", path,
			  steward_strerror(rc));
		return CTL_EFAIL;
	}
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!key_hex_ok(line) || *n == PINS_MAX) {
			ctl_error("release_key_unreadable",
				  "keep one key of 64 lowercase hex digits a line (releases "
				  "trust-key writes it)",
				  "%s holds a line that is not a release key, or more than %d",
				  path, PINS_MAX);
			free(data);
			return CTL_EFAIL;
		}
		snprintf(keys[(*n)++], 2 * PROTO_PK_BYTES + 1, "%s", line);
	}
	free(data);
	return CTL_OK;
}

int ctl_cmd_releases_trust_key(struct ctl *ctl, const struct ctl_args *a)
{
	char path[PATH_MAX], dir[PATH_MAX], keys[PINS_MAX][2 * PROTO_PK_BYTES + 1];
	char text[PINS_BYTES + 1], *slash;
	const char *k = a->argv[0];
	size_t n = 0, len = 0;
	int rc;

	(void)ctl;
	if (!key_hex_ok(k))
		return ctl_usage_error(NULL, "a release key is 64 lowercase hex digits (FILE.pub)");
	if (pins_path(path, sizeof(path)) != 0) {
		ctl_error("release_key_unreadable", "set HOME or STEWARD_RELEASE_KEYS_FILE",
			  "no place to keep the console's trusted release keys");
		return CTL_EFAIL;
	}
	rc = pins_load(path, keys, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i], k) == 0) {
			printf("release key %s is already trusted (%s)\n", k, path);
			return CTL_OK;
		}
	if (n == PINS_MAX) {
		ctl_error("release_key_unreadable", "remove a key you no longer use from the file",
			  "%s already holds %d keys", path, PINS_MAX);
		return CTL_EFAIL;
	}
	snprintf(keys[n++], sizeof(keys[0]), "%s", k);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n", keys[i]);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (file_mkdirs(dir, 0700) != 0) {
			ctl_error("output", "check that the directory can be made",
				  "cannot create %s: %s", dir, strerror(errno));
			return CTL_EFAIL;
		}
	}
	if (file_write_atomic(path, text, len, 0600) != 0) {
		ctl_error("output", "check that the directory is writable", "cannot write %s",
			  path);
		return CTL_EFAIL;
	}
	printf("this console now trusts release key %s (%s); self-update installs only "
	       "consoles signed by a key in that file\n",
	       k, path);
	return CTL_OK;
}

int ctl_cmd_releases_rollback_sign(struct ctl *ctl, const struct ctl_args *a)
{
	struct proto_keypair kp;
	char line[CONTENT_STATEMENT_MAX + 1], when[32];
	int64_t expires =
	    time_now_s() + (a->opt[CTL_OPT_VALID_FOR] ? a->num[CTL_OPT_VALID_FOR] : 7 * 86400);
	int rc;

	(void)ctl;
	rc = load_key(a->opt[CTL_OPT_KEY], &kp);
	if (rc)
		return rc;
	rc = content_rollback_sign(a->opt[CTL_OPT_RVERSION], expires, &kp, line, sizeof(line));
	sodium_memzero(&kp, sizeof(kp));
	if (rc) {
		ctl_error("release_invalid", "give --version X.Y.Z", "cannot sign a rollback to %s",
			  a->opt[CTL_OPT_RVERSION]);
		return CTL_EFAIL;
	}
	time_rfc3339(expires, when);
	printf("%s\n", line);
	fprintf(stderr,
		"Agents may go back to release %s until %s. Import it with:\n"
		"  stewardctl releases import FILE --rollback --authorization '%s'\n",
		a->opt[CTL_OPT_RVERSION], when, line);
	return CTL_OK;
}

int ctl_cmd_releases_endorse_key(struct ctl *ctl, const struct ctl_args *a)
{
	struct proto_keypair kp;
	uint8_t key[PROTO_PK_BYTES];
	char line[CONTENT_STATEMENT_MAX + 1];
	int rc;

	(void)ctl;
	if (!key_hex_ok(a->argv[0]) || hex_decode(a->argv[0], key, sizeof(key)) != 0)
		return ctl_usage_error(NULL,
				       "the new key is 64 lowercase hex digits (its FILE.pub)");
	rc = load_key(a->opt[CTL_OPT_KEY], &kp);
	if (rc)
		return rc;
	rc = content_endorse_sign(key, &kp, line, sizeof(line));
	sodium_memzero(&kp, sizeof(kp));
	if (rc) {
		ctl_error("internal", "", "cannot sign the endorsement");
		return CTL_EFAIL;
	}
	printf("%s\n", line);
	fprintf(stderr,
		"Add to the configuration of every site, beside release_key = %s:\n"
		"  release_key_endorsement = %s\n",
		a->argv[0], line);
	return CTL_OK;
}

int ctl_cmd_self_update(struct ctl *ctl, const struct ctl_args *a)
{
	const char *to = a->opt[CTL_OPT_TO], *pin = a->opt[CTL_OPT_RELEASE_KEY];
	char path[96], self[PATH_MAX], tmp[PATH_MAX + 16], pins_file[PATH_MAX] = "";
	char pins[PINS_MAX][2 * PROTO_PK_BYTES + 1];
	size_t n_pins = 0;
	bool trusted = false;
	char runs[64], keyhex[2 * PROTO_PK_BYTES + 1], *body = NULL;
	const struct content_release_file *f;
	struct proto_console_update u;
	struct content_release rel;
	struct steward_err err;
	size_t len = 0;
	ssize_t n;
	int rc = 0;

	memset(&rel, 0, sizeof(rel));
	memset(&u, 0, sizeof(u));
	memset(&err, 0, sizeof(err));
	/* a pinned key first: without one there is nothing to check against */
	if (pin) {
		if (!key_hex_ok(pin))
			return ctl_usage_error(NULL, "--release-key is 64 lowercase hex digits");
		snprintf(pins[0], sizeof(pins[0]), "%s", pin);
		n_pins = 1;
	} else if (pins_path(pins_file, sizeof(pins_file)) != 0 ||
		   (rc = pins_load(pins_file, pins, &n_pins)) != 0 || n_pins == 0) {
		if (rc)
			return rc;
		ctl_error("release_key_not_pinned",
			  "pass --release-key HEX (the site's release_key, from its administrator, "
			  "not from the site), or pin it once: stewardctl releases trust-key HEX",
			  "this console trusts no release key%s%s, so it installs no new console",
			  pins_file[0] ? " in " : "", pins_file);
		return CTL_EFAIL;
	}
	snprintf(path, sizeof(path), PROTO_CONSOLE_UPDATE_PATH "%s%s", to ? "?version=" : "",
		 to ? to : "");
	rc = ctl_fetch(ctl, path, PROTO_CONSOLE_UPDATE_MAX, &body, &len);
	if (rc)
		return rc;
	if (proto_console_update_parse(body, len, &u, &err) != 0) {
		rc = say(&err, -STEWARD_EINVAL, "the site's reply");
		goto out;
	}
	if (strcmp(u.version, proto_self_version()) == 0) {
		printf("stewardctl %s is already the newest console this site offers\n", u.version);
		goto out;
	}
	/* the signature is checked here, not taken from the site's word */
	if (content_release_parse(u.manifest, u.manifest_len, NULL, 0, &rel, &err) != 0) {
		ctl_error(err.code, err.remedy, "release %s: %s", u.release, err.message);
		rc = CTL_EFAIL;
		goto out;
	}
	hex_encode(rel.key, PROTO_PK_BYTES, keyhex);
	for (size_t i = 0; i < n_pins && !trusted; i++)
		trusted = strcmp(pins[i], keyhex) == 0;
	if (!trusted) {
		if (pin)
			ctl_error("release_untrusted",
				  "check the key you gave against the site's release_key",
				  "release %s is signed with key %s, not the --release-key given",
				  rel.version, keyhex);
		else
			ctl_error(
			    "release_untrusted",
			    "if the site's administrator confirms the key, pin it: stewardctl "
			    "releases trust-key HEX",
			    "release %s is signed with key %s, which is not in %s", rel.version,
			    keyhex, pins_file);
		rc = CTL_EFAIL;
		goto out;
	}
	if (rel.expires <= time_now_s()) {
		char when[32];

		time_rfc3339(rel.expires, when);
		ctl_error("release_expired",
			  "the site's administrator imports a current release; this console stays "
			  "as it is",
			  "release %s expired at %s", rel.version, when);
		rc = CTL_EFAIL;
		goto out;
	}
	f = update_file(&u, &rel, to);
	if (!f) {
		rc = CTL_EFAIL;
		goto out;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		ctl_error("output", "", "cannot find this stewardctl (/proc/self/exe)");
		rc = CTL_EFAIL;
		goto out;
	}
	self[n] = '\0';
	snprintf(tmp, sizeof(tmp), "%s.new", self);
	rc = fetch_blob(ctl, u.download, f, tmp);
	if (rc)
		goto out;
	exec_version(tmp, 10, runs, sizeof(runs));
	if (strcmp(runs, u.version) != 0) {
		unlink(tmp);
		ctl_error("release_invalid", "build the release on a machine like this one",
			  "the stewardctl of release %s does not run here", rel.version);
		rc = CTL_EFAIL;
		goto out;
	}
	if (rename(tmp, self) != 0) {
		unlink(tmp);
		ctl_error("output", "check that the directory of stewardctl is writable",
			  "cannot replace %s: %s", self, strerror(errno));
		rc = CTL_EFAIL;
		goto out;
	}
	printf("stewardctl updated from %s to %s (%s; release %s signed by %s)\n",
	       proto_self_version(), runs, self, rel.version, keyhex);
out:
	content_release_clear(&rel);
	proto_console_update_clear(&u);
	free(body);
	return rc;
}

/* ---- remote site systems --------------------------------------------------------------- */

static int print_systems(struct ctl *ctl, json_t *reply)
{
	json_t *sys = json_object_get(reply, "systems"), *e;
	const char *target = json_string_value(json_object_get(reply, "target"));
	size_t i;

	if (!json_is_array(sys))
		return ctl_finish(ctl, reply, ctl_bad_reply("systems"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	printf("target version: %s\n", target ? target : "none (each keeps its version)");
	if (json_array_size(sys) == 0)
		puts("no remote site systems have called this site");
	json_array_foreach(sys, i, e)
	{
		printf("  ");
		ctl_put_clean(stdout, jstr(e, "url"));
		printf("  %s  %s  %s%s  last seen %s\n", jstr(e, "roles"), jstr(e, "version"),
		       jstr(e, "state"), json_is_true(json_object_get(e, "slow")) ? "  (slow link)" : "",
		       jstr(e, "last_seen"));
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_systems_list(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *reply = NULL;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/site/systems", NULL, &reply);
	return rc ? rc : print_systems(ctl, reply);
}

int ctl_cmd_systems_upgrade(struct ctl *ctl, const struct ctl_args *a)
{
	const char *to = a->opt[CTL_OPT_TO];
	json_t *body, *reply = NULL;
	int rc;

	if (!to == !a->opt[CTL_OPT_OFF]) {
		ctl_error("usage", "give --to X.Y.Z to upgrade the remote site systems, or --off",
			  "systems upgrade needs exactly one of --to and --off");
		return CTL_EUSAGE;
	}
	body = to ? json_pack("{s:s}", "to", to) : json_pack("{s:n}", "to");
	if (!body)
		return ctl_oom();
	rc = ctl_request(ctl, "POST", "/api/v1/site/systems/upgrade", body, &reply);
	json_decref(body);
	return rc ? rc : print_systems(ctl, reply);
}

static int systems_flag(struct ctl *ctl, const struct ctl_args *a, const char *path)
{
	json_t *body = json_pack("{s:s,s:b}", "url", a->argv[0], "on", !a->opt[CTL_OPT_OFF]),
	       *reply = NULL;
	int rc;

	if (!body)
		return ctl_oom();
	rc = ctl_request(ctl, "POST", path, body, &reply);
	json_decref(body);
	return rc ? rc : print_systems(ctl, reply);
}

int ctl_cmd_systems_slow(struct ctl *ctl, const struct ctl_args *a)
{
	return systems_flag(ctl, a, "/api/v1/site/systems/slow");
}

int ctl_cmd_systems_confirm(struct ctl *ctl, const struct ctl_args *a)
{
	return systems_flag(ctl, a, "/api/v1/site/systems/confirm");
}

int ctl_cmd_systems_retry(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *body = json_pack("{s:s}", "url", a->argv[0]), *reply = NULL;
	int rc;

	if (!body)
		return ctl_oom();
	rc = ctl_request(ctl, "POST", "/api/v1/site/systems/retry", body, &reply);
	json_decref(body);
	return rc ? rc : print_systems(ctl, reply);
}

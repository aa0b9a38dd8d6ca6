/* stewardctl software distribution: packages, programs, advertisements,
 * their status, and pausing every advertisement: parse -> call -> print.
 *
 * `packages add` is the one command that does more than one call: it walks
 * and hashes the source directory (lib/content), asks the site which blobs
 * it lacks, streams each missing file from disk (ctl_upload: never read into
 * memory) and then sends the file list, from which the site builds and
 * signs the manifest. Blobs are named by their hash, so an interrupted add
 * loses nothing: running it again uploads only what is still missing.
 * docs/internals/swdist.md is the API these commands call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "steward/content.h"
#include "steward/util.h"

#include "ctl.h"

/* The largest package_max_bytes a site accepts; the site enforces its own. */
#define CTL_PACKAGE_MAX_BYTES	  (1024ULL * 1024 * 1024 * 1024)
#define CTL_MISSING_BATCH	  10000	    /* hashes per POST /api/v1/content/missing */
#define CTL_MB_MAX		  100000000 /* --min-free-mb, as the site bounds it */
#define CTL_ENV_NAME_MAX	  64	    /* the site's bounds for env, recurring and timeout */
#define CTL_ENV_VALUE_MAX	  1024
#define CTL_RECURRING_MIN_S	  300
#define CTL_PROGRAM_TIMEOUT_MAX_S (7 * 86400)
#define CTL_PROGRAM_TIMEOUT_S	  3600 /* when --timeout is not given */
#define CTL_DETAIL_COLS		  100  /* detail cut in tables; --json has it whole */
#define CTL_SWD_PATH_MAX	  2048 /* an API path with one or two encoded names */
#define CTL_PROGRESS_US		  100000

/* Advertisement states in the order a run goes through them
 * (docs/internals/swdist.md, "Agent status"). */
static const char *const ctl_states[] = {
    "received",		"waiting",
    "download_started", "download_finished",
    "download_failed",	"verification_failed",
    "running",		"succeeded",
    "succeeded_reboot", "failed",
    "timed_out",	"expired",
};
#define CTL_NSTATES (sizeof(ctl_states) / sizeof(ctl_states[0]))

/* ---- helpers ------------------------------------------------------------- */

/* The table entry of a command, for usage errors that show its synopsis. */
static const struct ctl_cmd *cmd_of(const char *noun, const char *verb)
{
	for (size_t i = 0; i < ctl_n_commands; i++)
		if (strcmp(ctl_commands[i].noun, noun) == 0 &&
		    strcmp(ctl_commands[i].verb, verb) == 0)
			return &ctl_commands[i];
	return NULL;
}

/* Percent-encode everything but unreserved characters (RFC 3986). */
static int url_encode(const char *in, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
			     *p == '~';
		if (o + 4 >= outsz)
			return -1;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* prefix + encoded name (+ "/" + encoded second) + suffix; names may hold
 * spaces and other characters a path cannot carry as they are. */
static int name_path(char *out, size_t outsz, const char *prefix, const char *name,
		     const char *second, const char *suffix)
{
	char e1[3 * 256 + 4], e2[3 * 256 + 4];

	if (url_encode(name, e1, sizeof(e1)) || (second && url_encode(second, e2, sizeof(e2))))
		return ctl_usage_error(NULL, "the name '%.64s...' is too long", name);
	if ((size_t)snprintf(out, outsz, "%s/%s%s%s%s", prefix, e1, second ? "/" : "",
			     second ? e2 : "", suffix ? suffix : "") >= outsz)
		return ctl_usage_error(NULL, "the name '%.64s...' is too long", name);
	return CTL_OK;
}

/* Unix seconds for people; 0 and null mean "not set". */
static const char *fmt_time(const json_t *v, char *out, size_t outsz)
{
	char t[32];

	if (json_is_integer(v) && json_integer_value(v) > 0) {
		time_rfc3339(json_integer_value(v), t);
		snprintf(out, outsz, "%s", t);
		return out;
	}
	if (json_is_string(v) && *json_string_value(v))
		return json_string_value(v);
	return "-";
}

/* 5400 -> "1h30m", as --timeout and --recurring take it. */
static const char *fmt_duration(const json_t *v, char *out, size_t outsz)
{
	json_int_t s = json_integer_value(v);
	size_t used = 0;
	static const struct {
		char unit;
		json_int_t secs;
	} parts[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

	if (!json_is_integer(v) || s <= 0)
		return "-";
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (s < parts[i].secs)
			continue;
		snprintf(out + used, outsz - used, "%" JSON_INTEGER_FORMAT "%c", s / parts[i].secs,
			 parts[i].unit);
		used = strlen(out);
		s %= parts[i].secs;
	}
	return out;
}

/* 1536 -> "1536 (1.5 KiB)" */
static const char *fmt_bytes(const json_t *v, char *out, size_t outsz)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double d;
	int u = -1;

	if (!json_is_integer(v))
		return "-";
	d = (double)json_integer_value(v);
	while (d >= 1024 && u < 3) {
		d /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(out, outsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else
		snprintf(out, outsz, "%" JSON_INTEGER_FORMAT " (%.1f %s)", json_integer_value(v), d,
			 units[u]);
	return out;
}

/* A count the site may send as a number or as the list itself. */
static json_int_t count_of(const json_t *v)
{
	return json_is_array(v) ? (json_int_t)json_array_size(v) : json_integer_value(v);
}

/* {"K": "V"} -> "K=V, K2=V2" */
static const char *fmt_env(const json_t *v, char *out, size_t outsz)
{
	const char *k;
	json_t *x;
	size_t used = 0;

	if (!json_is_object(v) || json_object_size(v) == 0)
		return "none";
	out[0] = '\0';
	json_object_foreach((json_t *)v, k, x)
	{
		snprintf(out + used, outsz - used, "%s%s=%s", used ? ", " : "", k,
			 json_is_string(x) ? json_string_value(x) : "?");
		used = strlen(out);
	}
	return out;
}

/* Programs named in a reply: a list of names or of objects with "name". */
static const char *fmt_names(const json_t *v, char *out, size_t outsz)
{
	json_t *x;
	size_t i, used = 0;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return "none";
	out[0] = '\0';
	json_array_foreach(v, i, x)
	{
		const char *n = json_is_string(x) ? json_string_value(x) : ctl_jstr(x, "name");

		snprintf(out + used, outsz - used, "%s%s", used ? ", " : "", n ? n : "?");
		used = strlen(out);
	}
	return out;
}

enum field_kind { F_TEXT, F_TIME, F_DURATION, F_BYTES, F_ENV, F_NAMES };

struct field {
	const char *key, *label;
	enum field_kind kind;
};

/* "min_free_mb" -> "Min free mb:" for fields this stewardctl does not know. */
static void label_of(const char *key, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s:", key);
	for (size_t i = 0; out[i]; i++)
		if (out[i] == '_')
			out[i] = ' ';
	if (out[0] >= 'a' && out[0] <= 'z')
		out[0] = (char)(out[0] - 'a' + 'A');
}

/* Key/value list of obj: the known fields in order (skipping absent, null
 * and empty ones), then whatever else the site sent except skip[]. */
static void print_fields(const json_t *obj, const struct field *f, size_t nf,
			 const char *const *skip)
{
	struct ctl_table t;
	const char *key;
	json_t *v;
	char val[4096], label[96];

	ctl_table_init(&t, 2, NULL);
	t.sep = " ";
	for (size_t i = 0; i < nf; i++) {
		const char *row[2] = {f[i].label, NULL};

		v = json_object_get(obj, f[i].key);
		if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
			continue;
		/* 0 is how the API says "no such time" or "does not recur" */
		if ((f[i].kind == F_TIME || f[i].kind == F_DURATION) && json_is_integer(v) &&
		    json_integer_value(v) == 0)
			continue;
		switch (f[i].kind) {
		case F_TIME:
			row[1] = fmt_time(v, val, sizeof(val));
			break;
		case F_DURATION:
			row[1] = fmt_duration(v, val, sizeof(val));
			break;
		case F_BYTES:
			row[1] = fmt_bytes(v, val, sizeof(val));
			break;
		case F_ENV:
			row[1] = fmt_env(v, val, sizeof(val));
			break;
		case F_NAMES:
			row[1] = fmt_names(v, val, sizeof(val));
			break;
		default:
			row[1] = ctl_fmt(v, json_is_array(v) ? "none" : "-", val, sizeof(val));
		}
		if (ctl_table_add(&t, row))
			break;
	}
	json_object_foreach((json_t *)obj, key, v)
	{
		const char *row[2] = {label, NULL};
		bool known = false;

		for (size_t i = 0; i < nf && !known; i++)
			known = strcmp(key, f[i].key) == 0;
		for (size_t i = 0; skip && skip[i] && !known; i++)
			known = strcmp(key, skip[i]) == 0;
		if (known || json_is_null(v))
			continue;
		label_of(key, label, sizeof(label));
		row[1] = ctl_fmt(v, "-", val, sizeof(val));
		if (ctl_table_add(&t, row))
			break;
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

/* "what 'name' done" for commands whose reply says nothing more. */
static void say_done(const char *what, const char *name, const char *done)
{
	fputs(what, stdout);
	fputs(" '", stdout);
	ctl_put_clean(stdout, name);
	fputs("' ", stdout);
	fputs(done, stdout);
	fputc('\n', stdout);
}

/* ---- value checks (called by ctl_check_value for the types above) -------- */

/* "NAME@VERSION" at the '@'; *at is NULL without a version. */
static void split_ref(const char *ref, char *name, size_t namesz, const char **at)
{
	const char *p = strchr(ref, '@');
	size_t n = p ? (size_t)(p - ref) : strlen(ref);

	if (n >= namesz)
		n = namesz - 1;
	memcpy(name, ref, n);
	name[n] = '\0';
	*at = p ? p + 1 : NULL;
}

static bool env_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > CTL_ENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

int ctl_swdist_check_value(const struct ctl_cmd *c, enum ctl_type type, const char *what,
			   const char *v, int64_t *num)
{
	char why[256], name[CONTENT_PKG_NAME_MAX + 2];
	const char *at, *eq;
	size_t n;

	switch (type) {
	case CTL_T_PKG_NAME:
		if (content_pkg_name_valid(v))
			return CTL_OK;
		return ctl_usage_error(c,
				       "%s '%s' is not a package name (1 to %d of A-Z a-z 0-9 . _ "
				       "- +, starting with a letter or digit)",
				       what, v, CONTENT_PKG_NAME_MAX);
	case CTL_T_PKG_VERSION:
		if (content_pkg_version_valid(v))
			return CTL_OK;
		return ctl_usage_error(c,
				       "%s '%s' is not a package version (1 to %d of A-Z a-z 0-9 "
				       ". _ - + ~ :, starting with a letter or digit)",
				       what, v, CONTENT_PKG_VERSION_MAX);
	case CTL_T_PKG_REF:
		split_ref(v, name, sizeof(name), &at);
		if (!content_pkg_name_valid(name) || (at && !content_pkg_version_valid(at)))
			return ctl_usage_error(c,
					       "%s '%s' is not NAME or NAME@VERSION (names: A-Z "
					       "a-z 0-9 . _ - +; versions also ~ :)",
					       what, v);
		return CTL_OK;
	case CTL_T_TIME:
		if (ctl_parse_time(v, time_now_s(), num, why, sizeof(why)) == 0)
			return CTL_OK;
		return ctl_usage_error(c, "%s '%s' %s", what, v, why);
	case CTL_T_DURATION:
		if (ctl_parse_duration(v, num, why, sizeof(why)))
			return ctl_usage_error(c, "%s '%s' %s", what, v, why);
		if (*num < 1)
			return ctl_usage_error(c, "%s '%s' must be at least 1s", what, v);
		return CTL_OK;
	case CTL_T_CODES: {
		int codes[CTL_CODES_MAX];

		if (ctl_parse_codes(v, codes, CTL_CODES_MAX, &n, why, sizeof(why)) == 0)
			return CTL_OK;
		return ctl_usage_error(c, "%s '%s' %s", what, v, why);
	}
	case CTL_T_MB:
		n = strlen(v);
		if (n == 0 || n > 9 || strspn(v, "0123456789") != n || atoll(v) > CTL_MB_MAX)
			return ctl_usage_error(c,
					       "%s '%s' must be a whole number of MB from 0 to %d",
					       what, v, CTL_MB_MAX);
		*num = atoll(v);
		return CTL_OK;
	case CTL_T_RUN:
		if (strcmp(v, "once") == 0 || strcmp(v, "always") == 0)
			return CTL_OK;
		return ctl_usage_error(c,
				       "%s '%s' must be once (once per client) or always (at "
				       "every scheduled time)",
				       what, v);
	case CTL_T_ENV:
		eq = strchr(v, '=');
		if (!eq || !env_name_ok(v, (size_t)(eq - v)))
			return ctl_usage_error(c,
					       "%s '%s' must be NAME=VALUE with NAME of A-Z a-z "
					       "0-9 _ (not starting with a digit, at most %d)",
					       what, v, CTL_ENV_NAME_MAX);
		if (!str_printable(eq + 1)) /* what the site stores */
			return ctl_usage_error(c, "%s: the value of %.*s must be printable ASCII",
					       what, (int)(eq - v), v);
		if (strlen(eq + 1) > CTL_ENV_VALUE_MAX)
			return ctl_usage_error(c, "%s: the value of %.*s is longer than %d bytes",
					       what, (int)(eq - v), v, CTL_ENV_VALUE_MAX);
		return CTL_OK;
	default:
		break;
	}
	return ctl_usage_error(c, "%s: unknown argument type", what);
}

/* ---- packages add ---------------------------------------------------------- */

struct progress {
	bool tty;	      /* stderr is a terminal: draw, else stay quiet */
	size_t files, nfiles; /* this one is files + 1 of nfiles */
	uint64_t done, total; /* bytes of finished uploads, of all of them */
	const char *name;
	int64_t last_us;
};

static void progress_draw(uint64_t sent, void *ctx)
{
	struct progress *p = ctx;
	int64_t now = time_mono_us();
	double pct;

	if (!p->tty || now - p->last_us < CTL_PROGRESS_US)
		return;
	p->last_us = now;
	pct = p->total ? 100.0 * (double)(p->done + sent) / (double)p->total : 100.0;
	fprintf(stderr, "\r\033[Kuploading %zu/%zu: %.1f of %.1f MiB (%.0f%%) ", p->files + 1,
		p->nfiles, (double)(p->done + sent) / 1048576.0, (double)p->total / 1048576.0, pct);
	ctl_put_clean(stderr, p->name);
	fflush(stderr);
}

static void progress_clear(struct progress *p)
{
	if (p->tty) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

static int by_hash(const void *a, const void *b)
{
	const struct content_entry *x = *(const struct content_entry *const *)a;
	const struct content_entry *y = *(const struct content_entry *const *)b;

	return strcmp(x->hash, y->hash);
}

static int hash_key(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

/* One POST /api/v1/content/missing for n hashes (sorted). */
static int ask_missing(struct ctl *ctl, const char *const *hashes, size_t n, bool *need)
{
	json_t *body = NULL, *list, *reply = NULL, *missing, *h;
	size_t i;
	int rc = CTL_EFAIL;

	list = json_array();
	body = list ? json_pack("{s:o}", "hashes", list) : NULL;
	for (i = 0; body && i < n; i++)
		if (json_array_append_new(list, json_string(hashes[i]))) {
			json_decref(body);
			body = NULL;
		}
	if (!body) {
		rc = ctl_oom();
		goto out;
	}
	rc = ctl_request(ctl, "POST", "/api/v1/content/missing", body, &reply);
	if (rc)
		goto out;
	missing = json_object_get(reply, "missing");
	if (!json_is_array(missing)) {
		rc = ctl_bad_reply("content missing");
		goto out;
	}
	json_array_foreach(missing, i, h)
	{
		const char *const *e;

		/* the site may only name hashes we asked about */
		e = json_is_string(h) && n ? bsearch(json_string_value(h), hashes, n,
						     sizeof(*hashes), hash_key)
					   : NULL;
		if (!e) {
			rc = ctl_bad_reply("content missing");
			goto out;
		}
		need[e - hashes] = true;
	}
	rc = CTL_OK;
out:
	json_decref(body);
	json_decref(reply);
	return rc;
}

int ctl_content_missing(struct ctl *ctl, const char *const *hashes, size_t n, bool *need)
{
	int rc;

	for (size_t i = 0; i < n; i += CTL_MISSING_BATCH) {
		size_t k = n - i < CTL_MISSING_BATCH ? n - i : CTL_MISSING_BATCH;

		rc = ask_missing(ctl, hashes + i, k, need + i);
		if (rc)
			return rc;
	}
	return CTL_OK;
}

/* Stream one file from the source to PUT /api/v1/content/HASH. */
static int upload_one(struct ctl *ctl, const char *src, const struct content_entry *e,
		      struct progress *p)
{
	char api[128], *file = NULL;
	json_t *reply = NULL;
	struct stat st;
	int fd = -1, rc;

	if (asprintf(&file, "%s/%s", src, e->path) < 0)
		return ctl_oom();
	/* the tree was checked when it was hashed; refuse what changed since
	 * rather than follow a link or block on a FIFO put in a file's place */
	fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != e->size) {
		ctl_error("file_changed",
			  "run 'packages add' again once nothing writes to the source",
			  "%s changed after it was hashed: %s", file,
			  fd < 0		 ? strerror(errno)
			  : !S_ISREG(st.st_mode) ? "it is no longer a regular file"
						 : "its size changed");
		rc = CTL_EFAIL;
		goto out;
	}
	snprintf(api, sizeof(api), "/api/v1/content/%s", e->hash);
	p->name = e->path;
	p->last_us = 0; /* draw the new file's line at once */
	rc = ctl_upload(ctl, api, fd, e->size, file, progress_draw, p, &reply);
	if (rc)
		goto out;
	if (ctl_jstr(reply, "hash") && strcmp(ctl_jstr(reply, "hash"), e->hash) != 0) {
		rc = ctl_bad_reply("content upload");
		goto out;
	}
	p->done += e->size;
	p->files++;
out:
	if (fd >= 0)
		close(fd);
	free(file);
	json_decref(reply);
	return rc;
}

static const char *type_name(enum content_entry_type t)
{
	return t == CONTENT_DIR ? "dir" : t == CONTENT_LINK ? "link" : "file";
}

/* The file list of POST /api/v1/packages, in the manifest's order. */
static json_t *files_json(const struct content_manifest *m)
{
	json_t *files = json_array(), *f;

	for (size_t i = 0; files && i < m->n_entries; i++) {
		const struct content_entry *e = &m->entries[i];

		f = json_pack("{s:s, s:s, s:i}", "path", e->path, "type", type_name(e->type),
			      "mode", (int)e->mode);
		if (f && e->type == CONTENT_FILE) {
			json_object_set_new(f, "size", json_integer((json_int_t)e->size));
			json_object_set_new(f, "hash", json_string(e->hash));
		}
		if (f && e->type == CONTENT_LINK)
			json_object_set_new(f, "target", json_string(e->target));
		if (!f || json_array_append_new(files, f)) {
			json_decref(files);
			return NULL;
		}
	}
	return files;
}

static void print_package(const json_t *pkg, size_t uploaded, size_t blobs, uint64_t bytes)
{
	static const struct field f[] = {
	    {"name", "Package:", F_TEXT},      {"version", "Version:", F_TEXT},
	    {"manifest", "Manifest:", F_TEXT}, {"files", "Files:", F_TEXT},
	    {"bytes", "Bytes:", F_BYTES},      {"comment", "Comment:", F_TEXT},
	    {"created", "Created:", F_TIME},   {"created_by", "Created by:", F_TEXT},
	    {"uploaded", "Uploaded:", F_TEXT},
	};
	static const char *const skip[] = {"entries", "programs", NULL};
	json_t *copy = json_deep_copy(pkg);
	char up[128];

	if (!copy) {
		print_fields(pkg, f, sizeof(f) / sizeof(f[0]), skip);
		return;
	}
	/* a file list in the reply is shown as its length */
	if (json_is_array(json_object_get(copy, "files")))
		json_object_set_new(copy, "files",
				    json_integer(count_of(json_object_get(copy, "files"))));
	snprintf(up, sizeof(up), "%zu of %zu distinct contents (%llu bytes)%s", uploaded, blobs,
		 (unsigned long long)bytes, uploaded < blobs ? "; the site had the rest" : "");
	if (blobs)
		json_object_set_new(copy, "uploaded", json_string(up));
	print_fields(copy, f, sizeof(f) / sizeof(f[0]), skip);
	json_decref(copy);
}

int ctl_cmd_packages_add(struct ctl *ctl, const struct ctl_args *a)
{
	const char *src = a->opt[CTL_OPT_SOURCE];
	const struct content_entry **blobs = NULL;
	const char **hashes = NULL;
	struct content_manifest m;
	struct steward_err err;
	struct progress prog;
	json_t *body = NULL, *files, *reply = NULL;
	size_t nfiles = 0, nblobs = 0, i;
	bool *need = NULL;
	int rc;

	memset(&m, 0, sizeof(m));
	memset(&err, 0, sizeof(err));
	memset(&prog, 0, sizeof(prog));
	prog.tty = isatty(STDERR_FILENO) == 1;
	/* the token first: no point hashing gigabytes for a console that cannot call */
	rc = ctl_token_load(ctl);
	if (rc)
		goto out;
	if (prog.tty) {
		fputs("reading and hashing ", stderr);
		ctl_put_clean(stderr, src);
		fputs(" ...", stderr);
		fflush(stderr);
	}
	rc = content_import_dir(src, CTL_PACKAGE_MAX_BYTES, &m, &err);
	progress_clear(&prog);
	if (rc) {
		if (err.code[0])
			ctl_error(err.code, err.remedy, "%s", err.message);
		else
			ctl_error("internal", "", "cannot import %s: %s", src,
				  steward_strerror(rc));
		rc = CTL_EFAIL;
		goto out;
	}

	/* one upload per distinct content: equal files share a blob */
	blobs = calloc(m.n_entries ? m.n_entries : 1, sizeof(*blobs));
	need = calloc(m.n_entries ? m.n_entries : 1, sizeof(*need));
	hashes = calloc(m.n_entries ? m.n_entries : 1, sizeof(*hashes));
	if (!blobs || !need || !hashes) {
		rc = ctl_oom();
		goto out;
	}
	for (i = 0; i < m.n_entries; i++)
		if (m.entries[i].type == CONTENT_FILE)
			blobs[nfiles++] = &m.entries[i];
	qsort(blobs, nfiles, sizeof(*blobs), by_hash);
	for (i = 0; i < nfiles; i++)
		if (nblobs == 0 || strcmp(blobs[nblobs - 1]->hash, blobs[i]->hash) != 0)
			blobs[nblobs++] = blobs[i];
	for (i = 0; i < nblobs; i++)
		hashes[i] = blobs[i]->hash;
	rc = ctl_content_missing(ctl, hashes, nblobs, need);
	if (rc)
		goto out;
	for (i = 0; i < nblobs; i++)
		if (need[i]) {
			prog.nfiles++;
			prog.total += blobs[i]->size;
		}
	for (i = 0; i < nblobs; i++) {
		if (!need[i])
			continue;
		rc = upload_one(ctl, src, blobs[i], &prog);
		if (rc) {
			progress_clear(&prog);
			fprintf(stderr,
				"packages add: stopped after uploading %zu of %zu files; the site "
				"keeps what arrived whole, so running the command again sends only "
				"the rest\n",
				prog.files, prog.nfiles);
			goto out;
		}
	}
	progress_clear(&prog);

	files = files_json(&m);
	body = files ? json_pack("{s:s, s:s, s:o}", "name", a->argv[0], "version",
				 a->opt[CTL_OPT_VERSION], "files", files)
		     : NULL;
	if (body && a->opt[CTL_OPT_COMMENT])
		json_object_set_new(body, "comment", json_string(a->opt[CTL_OPT_COMMENT]));
	if (!body) {
		rc = ctl_oom();
		goto out;
	}
	rc = ctl_request(ctl, "POST", "/api/v1/packages", body, &reply);
	if (rc)
		goto out;
	if (!json_is_object(reply)) {
		rc = ctl_finish(ctl, reply, ctl_bad_reply("packages add"));
		reply = NULL;
		goto out;
	}
	if (!ctl->json)
		print_package(reply, prog.files, nblobs, prog.done);
	rc = ctl_finish(ctl, reply, CTL_OK);
	reply = NULL;
out:
	json_decref(body);
	json_decref(reply);
	free(blobs);
	free(hashes);
	free(need);
	content_manifest_clear(&m);
	return rc;
}

/* ---- packages list / show / delete ----------------------------------------- */

int ctl_cmd_packages_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"NAME",     "VERSION", "FILES",  "BYTES",
					   "MANIFEST", "CREATED", "COMMENT"};
	struct ctl_table t;
	json_t *reply, *p;
	size_t i;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/packages", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply) || !ctl_all_objects(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("packages list"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (json_array_size(reply) == 0) {
		puts("no packages");
		return ctl_finish(ctl, reply, CTL_OK);
	}
	ctl_table_init(&t, 7, head);
	json_array_foreach(reply, i, p)
	{
		char b[7][256], man[16];
		const char *h = ctl_jstr(p, "manifest");
		const char *row[7] = {
		    ctl_fmt(json_object_get(p, "name"), "-", b[0], sizeof(b[0])),
		    ctl_fmt(json_object_get(p, "version"), "-", b[1], sizeof(b[1])),
		    b[2],
		    ctl_fmt(json_object_get(p, "bytes"), "-", b[3], sizeof(b[3])),
		    man,
		    fmt_time(json_object_get(p, "created"), b[5], sizeof(b[5])),
		    ctl_fmt(json_object_get(p, "comment"), "", b[6], sizeof(b[6])),
		};
		snprintf(b[2], sizeof(b[2]), "%" JSON_INTEGER_FORMAT,
			 count_of(json_object_get(p, "files")));
		/* twelve digits tell versions apart; 'packages show' has the whole hash */
		snprintf(man, sizeof(man), "%.12s", h ? h : "-");
		if (ctl_table_add(&t, row)) {
			rc = ctl_oom();
			break;
		}
	}
	if (rc == CTL_OK)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return ctl_finish(ctl, reply, rc);
}

static void print_entries(const json_t *entries)
{
	static const char *const head[] = {"TYPE", "MODE", "SIZE", "HASH", "PATH"};
	struct ctl_table t;
	json_t *e;
	size_t i;

	ctl_table_init(&t, 5, head);
	json_array_foreach(entries, i, e)
	{
		char b[3][64], path[2 * CONTENT_PATH_MAX + 8];
		const char *target = ctl_jstr(e, "target"), *hash = ctl_jstr(e, "hash");
		json_t *mode = json_object_get(e, "mode");
		const char *row[5] = {
		    ctl_fmt(json_object_get(e, "type"), "-", b[0], sizeof(b[0])),
		    b[1],
		    ctl_fmt(json_object_get(e, "size"), "-", b[2], sizeof(b[2])),
		    hash && *hash ? hash : "-",
		    path,
		};
		if (json_is_integer(mode))
			snprintf(b[1], sizeof(b[1]), "%04o", (unsigned)json_integer_value(mode));
		else
			snprintf(b[1], sizeof(b[1]), "%s",
				 json_is_string(mode) ? json_string_value(mode) : "-");
		snprintf(path, sizeof(path), "%s%s%s", ctl_jstr(e, "path") ? ctl_jstr(e, "path") : "?",
			 target && *target ? " -> " : "", target && *target ? target : "");
		if (ctl_table_add(&t, row))
			break;
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

int ctl_cmd_packages_show(struct ctl *ctl, const struct ctl_args *a)
{
	static const struct field f[] = {
	    {"version", "Version:", F_TEXT},	   {"manifest", "Manifest:", F_TEXT},
	    {"files", "Files:", F_TEXT},	   {"bytes", "Bytes:", F_BYTES},
	    {"comment", "Comment:", F_TEXT},	   {"created", "Created:", F_TIME},
	    {"created_by", "Created by:", F_TEXT}, {"programs", "Programs:", F_NAMES},
	};
	static const char *const skip[] = {"entries", "name", NULL};
	char path[CTL_SWD_PATH_MAX];
	json_t *reply, *versions, *v;
	size_t i;
	int rc = name_path(path, sizeof(path), "/api/v1/packages", a->argv[0], NULL, NULL);

	if (rc)
		return rc;
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	versions = json_object_get(reply, "versions");
	if (!json_is_array(versions) || !ctl_all_objects(versions))
		return ctl_finish(ctl, reply, ctl_bad_reply("packages show"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	fputs("Package: ", stdout);
	ctl_put_clean(stdout, ctl_jstr(reply, "name") ? ctl_jstr(reply, "name") : a->argv[0]);
	printf("\n%zu version%s\n", json_array_size(versions),
	       json_array_size(versions) == 1 ? "" : "s");
	json_array_foreach(versions, i, v)
	{
		json_t *copy = json_deep_copy(v);

		if (copy && json_is_array(json_object_get(copy, "files")))
			json_object_set_new(copy, "files",
					    json_integer(count_of(json_object_get(copy, "files"))));
		putchar('\n');
		print_fields(copy ? copy : v, f, sizeof(f) / sizeof(f[0]), skip);
		json_decref(copy);
		if (json_array_size(json_object_get(v, "entries"))) {
			putchar('\n');
			print_entries(json_object_get(v, "entries"));
		}
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_packages_delete(struct ctl *ctl, const struct ctl_args *a)
{
	char name[CONTENT_PKG_NAME_MAX + 2], path[CTL_SWD_PATH_MAX];
	const char *version;
	json_t *reply;
	int rc;

	split_ref(a->argv[0], name, sizeof(name), &version);
	if (version && a->opt[CTL_OPT_VERSION])
		return ctl_usage_error(cmd_of("packages", "delete"),
				       "give the version once: NAME@VERSION or NAME --version V");
	if (!version)
		version = a->opt[CTL_OPT_VERSION];
	if (!version)
		return ctl_usage_error(cmd_of("packages", "delete"),
				       "say which version to delete: %s@VERSION or %s --version V",
				       name, name);
	rc = name_path(path, sizeof(path), "/api/v1/packages", name, version, NULL);
	if (rc)
		return rc;
	rc = ctl_request(ctl, "DELETE", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("packages delete"));
	if (!ctl->json) {
		fputs("package ", stdout);
		ctl_put_clean(stdout, name);
		fputc(' ', stdout);
		ctl_put_clean(stdout, version);
		fputs(" deleted\n", stdout);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

/* ---- programs ------------------------------------------------------------------ */

static const struct field program_fields[] = {
    {"name", "Program:", F_TEXT},
    {"package", "Package:", F_TEXT},
    {"version", "Version:", F_TEXT},
    {"command", "Command:", F_TEXT},
    {"workdir", "Workdir:", F_TEXT},
    {"user", "User:", F_TEXT},
    {"timeout", "Timeout:", F_DURATION},
    {"success_codes", "Success codes:", F_TEXT},
    {"reboot_codes", "Reboot codes:", F_TEXT},
    {"env", "Environment:", F_ENV},
    {"run", "Run:", F_TEXT},
    {"min_free_mb", "Min free MB:", F_TEXT},
    {"requirement", "Requirement:", F_TEXT},
    {"comment", "Comment:", F_TEXT},
    {"adverts", "Advertisements:", F_NAMES},
    {"created", "Created:", F_TIME},
    {"created_by", "Created by:", F_TEXT},
    {"updated", "Updated:", F_TIME},	 {"links", "Links:", F_TEXT},
    {"link_deadline", "Link deadline:", F_TIME},
};

void ctl_link_opts(const struct ctl_args *a, json_t *body)
{
	if (a->opt[CTL_OPT_LINKS])
		json_object_set_new(body, "links", json_string(a->opt[CTL_OPT_LINKS]));
	if (a->opt[CTL_OPT_LINK_DEADLINE])
		json_object_set_new(body, "link_deadline",
				    json_integer(a->num[CTL_OPT_LINK_DEADLINE]));
}

static json_t *codes_json(const char *s, const int *dflt, size_t ndflt, int *codes, size_t *n)
{
	json_t *arr = json_array();
	char why[128];

	if (s) {
		if (ctl_parse_codes(s, codes, CTL_CODES_MAX, n, why, sizeof(why))) {
			json_decref(arr); /* checked before: cannot happen */
			return NULL;
		}
	} else {
		if (ndflt)
			memcpy(codes, dflt, ndflt * sizeof(*codes));
		*n = ndflt;
	}
	for (size_t i = 0; arr && i < *n; i++)
		if (json_array_append_new(arr, json_integer(codes[i]))) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

int ctl_cmd_programs_add(struct ctl *ctl, const struct ctl_args *a)
{
	static const int success_dflt[] = {0};
	const struct ctl_cmd *c = cmd_of("programs", "add");
	char pkg[CONTENT_PKG_NAME_MAX + 2];
	int sc[CTL_CODES_MAX], rcodes[CTL_CODES_MAX];
	size_t nsc = 0, nrc = 0;
	const char *version;
	json_t *body = NULL, *env = NULL, *reply = NULL, *succ, *reb;
	int rc;

	if (!*a->opt[CTL_OPT_COMMAND])
		return ctl_usage_error(c, "--command is empty");
	if (a->opt[CTL_OPT_PTIMEOUT] && a->num[CTL_OPT_PTIMEOUT] > CTL_PROGRAM_TIMEOUT_MAX_S)
		return ctl_usage_error(c, "--timeout '%s' is longer than 7d",
				       a->opt[CTL_OPT_PTIMEOUT]);
	split_ref(a->opt[CTL_OPT_PACKAGE], pkg, sizeof(pkg), &version);
	body = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I}", "name", a->argv[0], "package", pkg,
			 "command", a->opt[CTL_OPT_COMMAND], "timeout",
			 (json_int_t)(a->opt[CTL_OPT_PTIMEOUT] ? a->num[CTL_OPT_PTIMEOUT]
							       : CTL_PROGRAM_TIMEOUT_S),
			 "run", a->opt[CTL_OPT_RUN] ? a->opt[CTL_OPT_RUN] : "once", "min_free_mb",
			 (json_int_t)a->num[CTL_OPT_MIN_FREE_MB]);
	succ = codes_json(a->opt[CTL_OPT_SUCCESS_CODES], success_dflt, 1, sc, &nsc);
	reb = codes_json(a->opt[CTL_OPT_REBOOT_CODES], NULL, 0, rcodes, &nrc);
	env = json_object();
	if (!body || json_object_set_new(body, "success_codes", succ) ||
	    json_object_set_new(body, "reboot_codes", reb) || !env) {
		rc = ctl_oom();
		goto out;
	}
	/* a code in both lists would make a reboot look like plain success */
	for (size_t i = 0; i < nsc; i++)
		for (size_t k = 0; k < nrc; k++)
			if (sc[i] == rcodes[k]) {
				rc = ctl_usage_error(c,
						     "exit code %d is in both --success-codes "
						     "and --reboot-codes",
						     sc[i]);
				goto out;
			}
	for (int i = 0; i < a->nrep; i++) {
		const char *kv = a->rep[i], *eq;
		char key[CTL_ENV_NAME_MAX + 1];

		if (a->rep_opt[i] != CTL_OPT_ENV)
			continue;
		eq = strchr(kv, '='); /* checked: NAME=VALUE */
		snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
		if (json_object_get(env, key)) {
			rc = ctl_usage_error(c, "--env %s given twice", key);
			goto out;
		}
		if (json_object_set_new(env, key, json_string(eq + 1))) {
			rc = ctl_oom();
			goto out;
		}
	}
	json_object_set(body, "env", env);
	if (version)
		json_object_set_new(body, "version", json_string(version));
	if (a->opt[CTL_OPT_WORKDIR])
		json_object_set_new(body, "workdir", json_string(a->opt[CTL_OPT_WORKDIR]));
	if (a->opt[CTL_OPT_USER])
		json_object_set_new(body, "user", json_string(a->opt[CTL_OPT_USER]));
	if (a->opt[CTL_OPT_REQUIREMENT])
		json_object_set_new(body, "requirement", json_string(a->opt[CTL_OPT_REQUIREMENT]));
	if (a->opt[CTL_OPT_COMMENT])
		json_object_set_new(body, "comment", json_string(a->opt[CTL_OPT_COMMENT]));
	rc = ctl_request(ctl, "POST", "/api/v1/programs", body, &reply);
	if (rc)
		goto out;
	if (!json_is_object(reply)) {
		rc = ctl_finish(ctl, reply, ctl_bad_reply("programs add"));
		reply = NULL;
		goto out;
	}
	if (!ctl->json)
		print_fields(reply, program_fields,
			     sizeof(program_fields) / sizeof(program_fields[0]), NULL);
	rc = ctl_finish(ctl, reply, CTL_OK);
	reply = NULL;
out:
	json_decref(env);
	json_decref(body);
	json_decref(reply);
	return rc;
}

int ctl_cmd_programs_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"NAME", "PACKAGE", "VERSION",
					   "RUN",  "TIMEOUT", "COMMAND"};
	struct ctl_table t;
	json_t *reply, *p;
	size_t i;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/programs", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply) || !ctl_all_objects(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("programs list"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (json_array_size(reply) == 0) {
		puts("no programs");
		return ctl_finish(ctl, reply, CTL_OK);
	}
	ctl_table_init(&t, 6, head);
	json_array_foreach(reply, i, p)
	{
		char b[6][1024];
		const char *row[6] = {
		    ctl_fmt(json_object_get(p, "name"), "-", b[0], sizeof(b[0])),
		    ctl_fmt(json_object_get(p, "package"), "-", b[1], sizeof(b[1])),
		    ctl_fmt(json_object_get(p, "version"), "latest", b[2], sizeof(b[2])),
		    ctl_fmt(json_object_get(p, "run"), "-", b[3], sizeof(b[3])),
		    fmt_duration(json_object_get(p, "timeout"), b[4], sizeof(b[4])),
		    ctl_fmt(json_object_get(p, "command"), "-", b[5], sizeof(b[5])),
		};
		if (!*row[2])
			row[2] = "latest";
		if (ctl_table_add(&t, row)) {
			rc = ctl_oom();
			break;
		}
	}
	if (rc == CTL_OK)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return ctl_finish(ctl, reply, rc);
}

/* GET prefix/NAME and print it with fields. */
static int show_one(struct ctl *ctl, const char *prefix, const char *name, const char *what,
		    const struct field *f, size_t nf)
{
	char path[CTL_SWD_PATH_MAX];
	json_t *reply;
	int rc = name_path(path, sizeof(path), prefix, name, NULL, NULL);

	if (rc)
		return rc;
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply(what));
	if (!ctl->json)
		print_fields(reply, f, nf, NULL);
	return ctl_finish(ctl, reply, CTL_OK);
}

/* method prefix/NAME[suffix], then "noun 'NAME' done". */
static int act_one(struct ctl *ctl, const char *method, const char *prefix, const char *name,
		   const char *suffix, const char *what, const char *noun, const char *done)
{
	char path[CTL_SWD_PATH_MAX];
	json_t *body = NULL, *reply = NULL;
	int rc = name_path(path, sizeof(path), prefix, name, NULL, suffix);

	if (rc)
		return rc;
	if (strcmp(method, "POST") == 0 && !(body = json_object()))
		return ctl_oom();
	rc = ctl_request(ctl, method, path, body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply(what));
	if (!ctl->json)
		say_done(noun, name, done);
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_programs_show(struct ctl *ctl, const struct ctl_args *a)
{
	return show_one(ctl, "/api/v1/programs", a->argv[0], "programs show", program_fields,
			sizeof(program_fields) / sizeof(program_fields[0]));
}

int ctl_cmd_programs_delete(struct ctl *ctl, const struct ctl_args *a)
{
	return act_one(ctl, "DELETE", "/api/v1/programs", a->argv[0], NULL, "programs delete",
		       "program", "deleted");
}

/* ---- advertisements --------------------------------------------------------- */

static const struct field advert_fields[] = {
    {"name", "Advertisement:", F_TEXT},	 {"id", "ID:", F_TEXT},
    {"program", "Program:", F_TEXT},	 {"package", "Package:", F_TEXT},
    {"version", "Version:", F_TEXT},	 {"collection", "Collection:", F_TEXT},
    {"enabled", "Enabled:", F_TEXT},	 {"available", "Available:", F_TIME},
    {"mandatory", "Mandatory:", F_TIME}, {"recurring", "Recurring:", F_DURATION},
    {"expires", "Expires:", F_TIME},	 {"revision", "Revision:", F_TEXT},
    {"created", "Created:", F_TIME},	 {"created_by", "Created by:", F_TEXT},
    {"updated", "Updated:", F_TIME},
};

int ctl_cmd_adverts_create(struct ctl *ctl, const struct ctl_args *a)
{
	const struct ctl_cmd *c = cmd_of("adverts", "create");
	const int64_t *num = a->num;
	int64_t avail = a->opt[CTL_OPT_AVAILABLE] ? num[CTL_OPT_AVAILABLE] : 0;
	int64_t first = 0; /* the first scheduled run, when there is one */
	json_t *body, *reply = NULL;
	int rc;

	if (a->opt[CTL_OPT_MANDATORY] && a->opt[CTL_OPT_RECURRING])
		return ctl_usage_error(c, "give --mandatory TIME or --recurring DURATION [--start "
					  "TIME], not both");
	if (a->opt[CTL_OPT_START] && !a->opt[CTL_OPT_RECURRING])
		return ctl_usage_error(c, "--start belongs to --recurring; a single run at a time "
					  "is --mandatory TIME");
	if (a->opt[CTL_OPT_RECURRING] && num[CTL_OPT_RECURRING] < CTL_RECURRING_MIN_S)
		return ctl_usage_error(c, "--recurring '%s' must be at least 5m",
				       a->opt[CTL_OPT_RECURRING]);
	if (a->opt[CTL_OPT_MANDATORY])
		first = num[CTL_OPT_MANDATORY];
	if (a->opt[CTL_OPT_START])
		first = num[CTL_OPT_START];
	if (first && avail && first < avail)
		return ctl_usage_error(c,
				       "the %s time is before --available: nothing can run "
				       "before the advertisement is available",
				       a->opt[CTL_OPT_START] ? "--start" : "--mandatory");
	if (a->opt[CTL_OPT_EXPIRES]) {
		if (num[CTL_OPT_EXPIRES] <= time_now_s())
			return ctl_usage_error(c, "--expires '%s' is in the past",
					       a->opt[CTL_OPT_EXPIRES]);
		if (num[CTL_OPT_EXPIRES] <= (first > avail ? first : avail))
			return ctl_usage_error(c, "--expires '%s' is not after the %s time",
					       a->opt[CTL_OPT_EXPIRES],
					       first > avail ? "scheduled" : "--available");
	}
	body = json_pack("{s:s, s:s, s:s, s:b}", "name", a->argv[0], "program",
			 a->opt[CTL_OPT_PROGRAM], "collection", a->opt[CTL_OPT_COLLECTION],
			 "enabled", a->opt[CTL_OPT_DISABLED] ? 0 : 1);
	if (!body)
		return ctl_oom();
	if (a->opt[CTL_OPT_AVAILABLE])
		json_object_set_new(body, "available", json_integer(avail));
	/* with --recurring, the API's "mandatory" is the first run */
	if (first)
		json_object_set_new(body, "mandatory", json_integer(first));
	if (a->opt[CTL_OPT_RECURRING])
		json_object_set_new(body, "recurring", json_integer(num[CTL_OPT_RECURRING]));
	if (a->opt[CTL_OPT_EXPIRES])
		json_object_set_new(body, "expires", json_integer(num[CTL_OPT_EXPIRES]));
	ctl_link_opts(a, body);
	rc = ctl_request(ctl, "POST", "/api/v1/adverts", body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("adverts create"));
	if (!ctl->json)
		print_fields(reply, advert_fields, sizeof(advert_fields) / sizeof(advert_fields[0]),
			     NULL);
	return ctl_finish(ctl, reply, CTL_OK);
}

/* "at T", "every D from T", "when available" */
static const char *fmt_schedule(const json_t *ad, char *out, size_t outsz)
{
	char tb[64], d[64];
	const json_t *rec = json_object_get(ad, "recurring");
	const char *t = fmt_time(json_object_get(ad, "mandatory"), tb, sizeof(tb));

	if (json_integer_value(rec) > 0) {
		snprintf(out, outsz, "every %s from %s", fmt_duration(rec, d, sizeof(d)),
			 strcmp(t, "-") ? t : "available");
		return out;
	}
	if (strcmp(t, "-") != 0) {
		snprintf(out, outsz, "at %s", t);
		return out;
	}
	return "when available";
}

int ctl_cmd_adverts_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"NAME",	"PROGRAM",  "COLLECTION", "ENABLED",
					   "AVAILABLE", "SCHEDULE", "EXPIRES"};
	struct ctl_table t;
	json_t *reply, *ad;
	size_t i;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/adverts", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply) || !ctl_all_objects(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("adverts list"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (json_array_size(reply) == 0) {
		puts("no advertisements");
		return ctl_finish(ctl, reply, CTL_OK);
	}
	ctl_table_init(&t, 7, head);
	json_array_foreach(reply, i, ad)
	{
		char b[7][256];
		const char *row[7] = {
		    ctl_fmt(json_object_get(ad, "name"), "-", b[0], sizeof(b[0])),
		    ctl_fmt(json_object_get(ad, "program"), "-", b[1], sizeof(b[1])),
		    ctl_fmt(json_object_get(ad, "collection"), "-", b[2], sizeof(b[2])),
		    ctl_fmt(json_object_get(ad, "enabled"), "-", b[3], sizeof(b[3])),
		    fmt_time(json_object_get(ad, "available"), b[4], sizeof(b[4])),
		    fmt_schedule(ad, b[5], sizeof(b[5])),
		    fmt_time(json_object_get(ad, "expires"), b[6], sizeof(b[6])),
		};
		if (!strcmp(row[4], "-"))
			row[4] = "now";
		if (ctl_table_add(&t, row)) {
			rc = ctl_oom();
			break;
		}
	}
	if (rc == CTL_OK)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return ctl_finish(ctl, reply, rc);
}

int ctl_cmd_adverts_show(struct ctl *ctl, const struct ctl_args *a)
{
	return show_one(ctl, "/api/v1/adverts", a->argv[0], "adverts show", advert_fields,
			sizeof(advert_fields) / sizeof(advert_fields[0]));
}

int ctl_cmd_adverts_enable(struct ctl *ctl, const struct ctl_args *a)
{
	return act_one(ctl, "POST", "/api/v1/adverts", a->argv[0], "/enable", "adverts enable",
		       "advertisement", "enabled");
}

int ctl_cmd_adverts_disable(struct ctl *ctl, const struct ctl_args *a)
{
	return act_one(ctl, "POST", "/api/v1/adverts", a->argv[0], "/disable", "adverts disable",
		       "advertisement", "disabled: nothing new starts");
}

int ctl_cmd_adverts_delete(struct ctl *ctl, const struct ctl_args *a)
{
	return act_one(ctl, "DELETE", "/api/v1/adverts", a->argv[0], NULL, "adverts delete",
		       "advertisement", "deleted");
}

/* ---- status ---------------------------------------------------------------- */

/* A detail for a table cell: one line (program output has newlines), cut
 * after CTL_DETAIL_COLS characters; --json has it whole. */
static const char *fmt_detail(const json_t *v, char *out, size_t outsz)
{
	const char *s = json_string_value(v);
	size_t n = 0, cut = outsz - 4 < CTL_DETAIL_COLS ? outsz - 4 : CTL_DETAIL_COLS;

	if (!s)
		return "";
	for (; s[n] && n < cut; n++)
		out[n] = s[n] == '\n' || s[n] == '\r' || s[n] == '\t' ? ' ' : s[n];
	if (s[n]) /* cut: not inside a UTF-8 sequence */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	while (n > 0 && out[n - 1] == ' ')
		n--;
	snprintf(out + n, outsz - n, "%s", s[n] && strlen(s) > cut ? "..." : "");
	return out;
}

static bool state_known(const char *s)
{
	for (size_t i = 0; i < CTL_NSTATES; i++)
		if (strcmp(ctl_states[i], s) == 0)
			return true;
	return false;
}

/* The clients in one state, as a table under a heading. */
static int print_state_group(const json_t *clients, const char *state)
{
	static const char *const head[] = {"ID", "SITE", "HOSTNAME", "EXIT", "UPDATED", "DETAIL"};
	struct ctl_table t;
	json_t *c;
	size_t i, n = 0;
	int rc = CTL_OK;

	ctl_table_init(&t, 6, head);
	json_array_foreach(clients, i, c)
	{
		char b[6][256];
		const char *st = ctl_jstr(c, "state");
		const char *row[6];

		if (!st || strcmp(st, state) != 0)
			continue;
		/* a client of a site below names its site; this site's are "-" */
		row[0] = ctl_fmt(json_object_get(c, "id"), "-", b[0], sizeof(b[0]));
		row[1] = ctl_fmt(json_object_get(c, "site"), "-", b[1], sizeof(b[1]));
		row[2] = ctl_fmt(json_object_get(c, "hostname"), "-", b[2], sizeof(b[2]));
		row[3] = ctl_fmt(json_object_get(c, "exit_code"), "-", b[3], sizeof(b[3]));
		row[4] = fmt_time(json_object_get(c, "updated"), b[4], sizeof(b[4]));
		row[5] = fmt_detail(json_object_get(c, "detail"), b[5], sizeof(b[5]));
		if (ctl_table_add(&t, row)) {
			rc = ctl_oom();
			break;
		}
		n++;
	}
	if (n && rc == CTL_OK) {
		fputc('\n', stdout);
		ctl_put_clean(stdout, state);
		printf(" (%zu):\n", n);
		ctl_table_print(&t, stdout);
	}
	ctl_table_free(&t);
	return rc;
}

int ctl_cmd_status_advert(struct ctl *ctl, const struct ctl_args *a)
{
	static const struct field status_fields[] = {
	    {"advert", "Advertisement:", F_TEXT}, {"collection", "Collection:", F_TEXT},
	    {"members", "Members:", F_TEXT},	  {"enabled", "Enabled:", F_TEXT},
	    {"revision", "Revision:", F_TEXT},	  {"adverts_paused", "Site paused:", F_TEXT},
	};
	static const char *const status_skip[] = {"counts", "clients", NULL};
	static const char *const head[] = {"STATE", "CLIENTS"};
	char path[CTL_SWD_PATH_MAX], b[32];
	struct ctl_table t;
	json_t *reply, *counts, *clients, *v, *c;
	const char *key;
	size_t i;
	int rc = name_path(path, sizeof(path), "/api/v1/status/adverts", a->argv[0], NULL, NULL);

	if (rc)
		return rc;
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	counts = json_object_get(reply, "counts");
	clients = json_object_get(reply, "clients");
	if (!json_is_object(counts) || !json_is_array(clients) || !ctl_all_objects(clients))
		return ctl_finish(ctl, reply, ctl_bad_reply("status advert"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	print_fields(reply, status_fields, sizeof(status_fields) / sizeof(status_fields[0]),
		     status_skip);
	fputc('\n', stdout);
	/* every state in run order, zeros included, then any the site adds */
	ctl_table_init(&t, 2, head);
	for (i = 0; i < CTL_NSTATES && rc == CTL_OK; i++) {
		const char *row[2] = {ctl_states[i], ctl_fmt(json_object_get(counts, ctl_states[i]),
							     "0", b, sizeof(b))};
		if (ctl_table_add(&t, row))
			rc = ctl_oom();
	}
	json_object_foreach(counts, key, v)
	{
		const char *row[2] = {key, ctl_fmt(v, "0", b, sizeof(b))};

		if (rc == CTL_OK && !state_known(key) && ctl_table_add(&t, row))
			rc = ctl_oom();
	}
	if (rc == CTL_OK)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	for (i = 0; i < CTL_NSTATES && rc == CTL_OK; i++)
		rc = print_state_group(clients, ctl_states[i]);
	/* states this stewardctl does not know, each once */
	json_array_foreach(clients, i, c)
	{
		const char *st = ctl_jstr(c, "state");
		bool seen = false;

		if (rc || !st || state_known(st))
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = ctl_jstr(json_array_get(clients, k), "state") &&
			       strcmp(ctl_jstr(json_array_get(clients, k), "state"), st) == 0;
		if (!seen)
			rc = print_state_group(clients, st);
	}
	return ctl_finish(ctl, reply, rc);
}

int ctl_cmd_status_client(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"ADVERTISEMENT", "STATE", "EXIT", "UPDATED", "DETAIL"};
	static const char *const hhead[] = {"TIME", "STATE", "EXIT", "DETAIL"};
	char path[128];
	struct ctl_table t;
	json_t *reply, *ads, *ad, *h;
	size_t i, k;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/status/clients/%s", a->argv[0]);
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	ads = json_object_get(reply, "adverts");
	if (!json_is_array(ads) || !ctl_all_objects(ads))
		return ctl_finish(ctl, reply, ctl_bad_reply("status client"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	fputs("Client: ", stdout);
	ctl_put_clean(stdout, a->argv[0]);
	fputc('\n', stdout);
	if (json_array_size(ads) == 0) {
		puts("no advertisements have reached this client");
		return ctl_finish(ctl, reply, CTL_OK);
	}
	fputc('\n', stdout);
	ctl_table_init(&t, 5, head);
	json_array_foreach(ads, i, ad)
	{
		char b[5][256];
		const char *row[5] = {
		    ctl_fmt(json_object_get(ad, "advert"), "-", b[0], sizeof(b[0])),
		    ctl_fmt(json_object_get(ad, "state"), "-", b[1], sizeof(b[1])),
		    ctl_fmt(json_object_get(ad, "exit_code"), "-", b[2], sizeof(b[2])),
		    fmt_time(json_object_get(ad, "updated"), b[3], sizeof(b[3])),
		    fmt_detail(json_object_get(ad, "detail"), b[4], sizeof(b[4])),
		};
		if (ctl_table_add(&t, row)) {
			rc = ctl_oom();
			break;
		}
	}
	if (rc == CTL_OK)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	json_array_foreach(ads, i, ad)
	{
		json_t *hist = json_object_get(ad, "history");

		if (rc || !json_is_array(hist) || json_array_size(hist) == 0)
			continue;
		fputs("\nhistory of '", stdout);
		ctl_put_clean(stdout, ctl_jstr(ad, "advert") ? ctl_jstr(ad, "advert") : "?");
		fputs("':\n", stdout);
		ctl_table_init(&t, 4, hhead);
		json_array_foreach(hist, k, h)
		{
			char b[4][256];
			json_t *when = json_object_get(h, "time");
			const char *row[4];

			if (!when)
				when = json_object_get(h, "updated");
			row[0] = fmt_time(when, b[0], sizeof(b[0]));
			row[1] = ctl_fmt(json_object_get(h, "state"), "-", b[1], sizeof(b[1]));
			row[2] = ctl_fmt(json_object_get(h, "exit_code"), "-", b[2], sizeof(b[2]));
			row[3] = fmt_detail(json_object_get(h, "detail"), b[3], sizeof(b[3]));
			if (ctl_table_add(&t, row)) {
				rc = ctl_oom();
				break;
			}
		}
		if (rc == CTL_OK)
			ctl_table_print(&t, stdout);
		ctl_table_free(&t);
	}
	return ctl_finish(ctl, reply, rc);
}

/* ---- pausing every advertisement ----------------------------------------------- */

static int site_adverts(struct ctl *ctl, const char *path, const char *reason, bool hierarchy,
			const char *what)
{
	json_t *body, *reply = NULL;
	const char *why;
	int rc;

	body = reason ? json_pack("{s:s}", "reason", reason) : json_object();
	if (!body)
		return ctl_oom();
	if (hierarchy)
		json_object_set_new(body, "hierarchy", json_true());
	rc = ctl_request(ctl, "POST", path, body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!json_is_boolean(json_object_get(reply, "adverts_paused")))
		return ctl_finish(ctl, reply, ctl_bad_reply(what));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	why = ctl_jstr(reply, "reason");
	if (json_is_true(json_object_get(reply, "adverts_paused"))) {
		fputs("advertisements paused", stdout);
		if (why && *why) {
			fputs(": ", stdout);
			ctl_put_clean(stdout, why);
		}
		puts("\nagents start nothing new from their next check-in on; "
		     "'stewardctl site resume-adverts' undoes it");
	} else {
		puts("advertisements resumed: agents run them again from their next check-in on");
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_site_pause_adverts(struct ctl *ctl, const struct ctl_args *a)
{
	return site_adverts(ctl, "/api/v1/site/pause-adverts", a->opt[CTL_OPT_REASON],
			    a->opt[CTL_OPT_HIERARCHY] != NULL, "site pause-adverts");
}

int ctl_cmd_site_resume_adverts(struct ctl *ctl, const struct ctl_args *a)
{
	return site_adverts(ctl, "/api/v1/site/resume-adverts", NULL,
			    a->opt[CTL_OPT_HIERARCHY] != NULL, "site resume-adverts");
}

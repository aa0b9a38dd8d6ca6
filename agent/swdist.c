/* agent/swdist: software distribution on the agent.
 *
 * After each successful check-in session.c hands the reply to
 * swdist_policy, and main.c calls swdist_cycle, which for every
 * advertisement of the policy:
 *
 *   1. reports "received" once per revision;
 *   2. asks core_advert_decide (lib/core) whether it runs now, from the
 *      schedule, the local record in STATE_DIR/swdist/adverts.json and the
 *      client's maintenance windows (the last check-in's, also kept there);
 *   3. when it does: requirements (site-evaluated), free disk, the
 *      per-advertisement lock (run.c), then the manifest blob and every
 *      file blob from the distribution points (swdist_fetch.c), the
 *      manifest's signature against the site key in state.json;
 *   4. stages the package in work/ADVERT-REV/ only after every blob is
 *      verified, runs the program there (run.c), maps its exit code to a
 *      state, records the result and removes the staged copy;
 *   5. reports every step through the outbox (swdist_outbox.c).
 *
 * Runs are synchronous: the loop in main.c is blocked while a program runs
 * (see docs/internals/agent.md, "Software distribution", for why and what
 * it costs). The cache is trimmed after each cycle.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "steward/content.h"
#include "agent.h"
#include "run.h"

#define RECORDS_FILE  "adverts.json"
#define RECORDS_MAX   (4 * 1024 * 1024)
#define ADVERTS_MAX   256 /* per policy */
#define DPS_MAX	      16
#define TIMEOUT_MAX_S (7 * 86400)
#define CODES_MAX     32
#define COMMAND_MAX   8192
#define MIB	      (1024ULL * 1024)

/* One advertisement of the policy; strings point into the policy JSON. */
struct advert {
	int64_t id, revision;
	char key[24]; /* id as text: records key, lock and work names */
	const char *name;
	const char *pkg_name, *pkg_version, *manifest;
	uint64_t bytes;
	const char *prog_name, *command, *workdir, *user;
	int64_t timeout;
	json_t *success_codes, *reboot_codes, *env;
	int64_t min_free_mb;
	struct core_advert_sched sched;
	bool req_met;
	const char *req_reason;
	struct core_link_policy links; /* per link class; the defaults when not sent */
};

/* ---- the records (adverts.json) ----------------------------------------------------- */

static json_t *record(struct agent *ag, const struct advert *a)
{
	json_t *adverts = json_object_get(ag->sw.records, "adverts"), *r;

	r = json_object_get(adverts, a->key);
	if (!json_is_object(r)) {
		r = json_object();
		json_object_set_new(adverts, a->key, r);
	}
	return r;
}

static int64_t rec_int(json_t *r, const char *k)
{
	return json_integer_value(json_object_get(r, k));
}

static void rec_set_int(json_t *r, const char *k, int64_t v)
{
	json_object_set_new(r, k, json_integer(v));
}

static void records_save(struct agent *ag)
{
	char path[PATH_MAX], *text;
	int rc;

	snprintf(path, sizeof(path), "%s/" RECORDS_FILE, ag->sw.dir);
	text = json_dumps(ag->sw.records, JSON_INDENT(1) | JSON_SORT_KEYS);
	rc = text ? file_write_atomic(path, text, strlen(text), 0600) : -STEWARD_ENOMEM;
	free(text);
	if (rc)
		log_error("swdist", "records_unsaved",
			  "path=%s error=\"%s\" note=\"a finished run may run again\"", path,
			  steward_strerror(rc));
}

static int records_load(struct agent *ag, struct steward_err *err)
{
	char path[PATH_MAX], *data = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/" RECORDS_FILE, ag->sw.dir);
	rc = file_read_all(path, RECORDS_MAX, &data, &len);
	if (rc == 0) {
		ag->sw.records = json_loadb(data, len, 0, NULL);
		free(data);
		if (!json_is_object(json_object_get(ag->sw.records, "adverts"))) {
			json_decref(ag->sw.records);
			ag->sw.records = NULL;
			return steward_err_set(err, STEWARD_EINVAL, "swdist_records_corrupt",
					       "move the file aside: advertisements that ran "
					       "already may then run once more",
					       "%s is not a valid advertisement record file", path);
		}
		return 0;
	}
	if (rc != -STEWARD_ENOTFOUND)
		return steward_err_set(err, -rc, "swdist_records_corrupt",
				       "move the file aside: advertisements that ran already may "
				       "then run once more",
				       "cannot read %s: %s", path, steward_strerror(rc));
	ag->sw.records = json_pack("{s:i,s:{}}", "version", 1, "adverts");
	return ag->sw.records ? 0 : -STEWARD_ENOMEM;
}

/* ---- maintenance windows ------------------------------------------------------------ */

/* [[open, close], ...] into iv; false when it is not a list the site sends. */
static bool windows_parse(json_t *a, int64_t (*iv)[2], size_t *n)
{
	size_t i;
	json_t *v;

	*n = 0;
	if (!json_is_array(a) || json_array_size(a) > CORE_ADVERT_WINDOWS_MAX)
		return false;
	json_array_foreach(a, i, v)
	{
		json_t *o = json_array_get(v, 0), *c = json_array_get(v, 1);

		if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(o) ||
		    !json_is_integer(c))
			return false;
		iv[i][0] = json_integer_value(o);
		iv[i][1] = json_integer_value(c);
	}
	if (!core_advert_windows_valid((const int64_t(*)[2])iv, i))
		return false;
	*n = i;
	return true;
}

/* Take the windows the site sent (a NULL: the client has none). A list
 * that is not valid still restricts: with no interval known, mandatory
 * runs wait for the next check-in rather than run at any time. */
static void windows_take(struct agent *ag, json_t *a, const char *from)
{
	ag->sw.windowed = a != NULL;
	ag->sw.n_windows = 0;
	if (a && !windows_parse(a, ag->sw.windows, &ag->sw.n_windows))
		log_warn("swdist", "windows_invalid",
			 "from=%s note=\"mandatory advertisements wait for the next check-in\"",
			 from);
}

/* ---- setup ------------------------------------------------------------------------- */

int swdist_open(struct agent *ag, uint64_t cache_max, struct steward_err *err)
{
	static const char *const sub[] = {"cache/blobs", "cache/partial", "work", "locks"};
	char path[PATH_MAX];
	int rc;

	if ((size_t)snprintf(ag->sw.dir, sizeof(ag->sw.dir), "%s/swdist", ag->state_dir) >=
	    sizeof(ag->sw.dir))
		return steward_err_set(err, STEWARD_EINVAL, "swdist_dir",
				       "use a shorter --state-dir",
				       "the state directory's path is too long");
	ag->sw.cache_max = cache_max ? cache_max : SWDIST_CACHE_MAX;
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", ag->sw.dir, sub[i]);
		if (file_mkdirs(path, 0700) != 0)
			return steward_err_set(err, STEWARD_EIO, "swdist_dir",
					       "check that the state directory is writable",
					       "cannot create %s: %s", path, strerror(errno));
	}
	rc = records_load(ag, err);
	if (rc)
		return rc;
	windows_take(ag, json_object_get(ag->sw.records, "windows"), RECORDS_FILE);
	return swdist_outbox_open(ag, err);
}

void swdist_close(struct agent *ag)
{
	json_decref(ag->sw.policy);
	json_decref(ag->sw.records);
	ag->sw.policy = ag->sw.records = NULL;
}

void swdist_policy(struct agent *ag, json_t *reply)
{
	json_t *p, *w;

	if (!ag->sw.records)
		return; /* swdist not open (tests) */
	p = json_pack("{s:O?,s:O?,s:O?,s:b}", "adverts", json_object_get(reply, "adverts"), "dps",
		      json_object_get(reply, "dps"), "content_token",
		      json_object_get(reply, "content_token"), "adverts_paused",
		      json_is_true(json_object_get(reply, "adverts_paused")));
	if (!p)
		return;
	json_decref(ag->sw.policy);
	ag->sw.policy = p;
	/* the windows: kept in adverts.json too, written only when they change */
	w = json_object_get(reply, "windows");
	windows_take(ag, w, "check-in");
	if (!json_equal(w, json_object_get(ag->sw.records, "windows")) &&
	    (w ? !json_object_set(ag->sw.records, "windows", w)
	       : !json_object_del(ag->sw.records, "windows"))) {
		log_info("swdist", "windows", "intervals=%zu first_open=%lld first_close=%lld",
			 ag->sw.n_windows, (long long)(ag->sw.n_windows ? ag->sw.windows[0][0] : 0),
			 (long long)(ag->sw.n_windows ? ag->sw.windows[0][1] : 0));
		records_save(ag);
	}
}

/* ---- parsing one advertisement ----------------------------------------------------- */

static bool get_i64(json_t *o, const char *k, int64_t min, int64_t max, bool required, int64_t *out)
{
	json_t *v = json_object_get(o, k);

	*out = 0;
	if (!v || json_is_null(v))
		return !required;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return false;
	*out = json_integer_value(v);
	return true;
}

static const char *get_str(json_t *o, const char *k, size_t max, bool required)
{
	json_t *v = json_object_get(o, k);

	if (!v || json_is_null(v))
		return required ? NULL : "";
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static bool codes_ok(json_t *a)
{
	size_t i;
	json_t *v;

	if (!a)
		return true;
	if (!json_is_array(a) || json_array_size(a) > CODES_MAX)
		return false;
	json_array_foreach(a, i, v)
	{
		if (!json_is_integer(v))
			return false;
	}
	return true;
}

/* NULL when the advertisement is usable; else what is wrong with it. */
static const char *advert_parse(json_t *j, struct advert *a)
{
	json_t *pkg = json_object_get(j, "package"), *prog = json_object_get(j, "program");
	const char *run;
	int64_t bytes;

	memset(a, 0, sizeof(*a));
	if (!get_i64(j, "id", 1, INT64_MAX, true, &a->id))
		return "'id' is missing";
	snprintf(a->key, sizeof(a->key), "%lld", (long long)a->id);
	if (!get_i64(j, "revision", 0, INT64_MAX, true, &a->revision))
		return "'revision' is missing";
	a->name = get_str(j, "name", 256, false);
	if (!a->name)
		return "'name' is not a string";
	if (!json_is_object(pkg) || !json_is_object(prog))
		return "'package' or 'program' is missing";
	a->pkg_name = get_str(pkg, "name", CONTENT_PKG_NAME_MAX, true);
	a->pkg_version = get_str(pkg, "version", CONTENT_PKG_VERSION_MAX, true);
	a->manifest = get_str(pkg, "manifest", CONTENT_HASH_HEX, true);
	if (!a->pkg_name || !a->pkg_version || !a->manifest || !content_hash_valid(a->manifest))
		return "the package's name, version or manifest is invalid";
	if (!get_i64(pkg, "bytes", 0, INT64_MAX, false, &bytes))
		return "the package's 'bytes' is invalid";
	a->bytes = (uint64_t)bytes;
	a->prog_name = get_str(prog, "name", 256, false);
	a->command = get_str(prog, "command", COMMAND_MAX, true);
	a->workdir = get_str(prog, "workdir", CONTENT_PATH_MAX, false);
	a->user = get_str(prog, "user", 64, false);
	if (!a->prog_name || !a->command || !a->command[0] || !a->workdir || !a->user)
		return "the program's name, command, workdir or user is invalid";
	if (!get_i64(prog, "timeout", 1, TIMEOUT_MAX_S, true, &a->timeout))
		return "the program's 'timeout' is missing or out of range";
	if (!get_i64(prog, "min_free_mb", 0, INT32_MAX, false, &a->min_free_mb))
		return "the program's 'min_free_mb' is invalid";
	a->success_codes = json_object_get(prog, "success_codes");
	a->reboot_codes = json_object_get(prog, "reboot_codes");
	a->env = json_object_get(prog, "env");
	if (!codes_ok(a->success_codes) || !codes_ok(a->reboot_codes))
		return "the program's exit codes are not lists of integers";
	if (a->env && !json_is_null(a->env) &&
	    (!json_is_object(a->env) || json_object_size(a->env) > RUN_ENV_MAX))
		return "the program's 'env' is not an object of at most 64 entries";
	run = get_str(prog, "run", 16, false);
	if (!run || (run[0] && strcmp(run, "once") && strcmp(run, "always")))
		return "the program's 'run' is not once or always";
	a->sched.run_always = strcmp(run, "always") == 0;
	a->sched.revision = a->revision;
	if (!get_i64(j, "available", 0, INT64_MAX, false, &a->sched.available) ||
	    !get_i64(j, "mandatory", 0, INT64_MAX, false, &a->sched.mandatory) ||
	    !get_i64(j, "recurring", 0, INT64_MAX, false, &a->sched.recurring) ||
	    !get_i64(j, "expires", 0, INT64_MAX, false, &a->sched.expires))
		return "a schedule time is not a non-negative integer";
	a->req_met = !json_is_false(json_object_get(j, "requirements_met"));
	{
		/* the link policy; one this agent cannot read keeps the
		 * defaults (nothing over slow or metered links) */
		const char *links = get_str(j, "links", CORE_LINK_POLICY_TEXT_MAX, false);
		char msg[200];

		core_link_policy_default(&a->links);
		if (links && core_link_policy_parse(links, &a->links, msg, sizeof(msg)))
			core_link_policy_default(&a->links);
		if (!get_i64(j, "link_deadline", 0, INT64_MAX, false, &a->links.deadline))
			a->links.deadline = 0;
	}
	a->req_reason = get_str(j, "requirements_reason", 512, false);
	if (!a->req_reason)
		a->req_reason = "";
	return NULL;
}

/* ---- reporting with memory ---------------------------------------------------------- */

/* "waiting" once per revision and reason. */
static void report_waiting(struct agent *ag, const struct advert *a, const char *reason)
{
	json_t *r = record(ag, a);
	const char *last = json_string_value(json_object_get(r, "waiting"));

	if (last && rec_int(r, "waiting_revision") == a->revision && !strcmp(last, reason))
		return;
	swdist_report(ag, a->id, a->revision, "waiting", -1, "%s", reason);
	json_object_set_new(r, "waiting", json_string(reason));
	rec_set_int(r, "waiting_revision", a->revision);
	records_save(ag);
}

static void forget_waiting(struct agent *ag, const struct advert *a)
{
	json_object_del(record(ag, a), "waiting");
}

static void wake(struct agent *ag, int64_t at)
{
	if (at > 0 && (!ag->sw.wake_at || at < ag->sw.wake_at))
		ag->sw.wake_at = at;
}

/* ---- staging ------------------------------------------------------------------------ */

/* Best effort: what cannot be removed now is retried before the next
 * staging of the same advertisement (stage removes leftovers first). */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void swdist_remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(path);
}

int swdist_copy_blob(struct agent *ag, const char *hash, int dirfd, const char *rel,
		     unsigned mode)
{
	char src[PATH_MAX], buf[65536];
	int in, out, rc = 0, saved = 0;
	ssize_t n;

	swdist_blob_path(ag, hash, src, sizeof(src));
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -STEWARD_EIO;
	out = openat(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -STEWARD_EIO;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		ssize_t w = write(out, buf, (size_t)n);

		if (w != n) {
			/* a short write without an error is a full disk too */
			saved = w < 0 ? errno : ENOSPC;
			rc = -STEWARD_EIO;
			break;
		}
	}
	if (!rc && (n < 0 || fchmod(out, mode & 0777) != 0)) {
		saved = errno;
		rc = -STEWARD_EIO;
	}
	close(out);
	close(in);
	/* a blob used now is not "unused for a week" */
	utimensat(AT_FDCWD, src, NULL, 0);
	/* the caller reports strerror(errno): keep the cause, not close()'s */
	if (rc)
		errno = saved;
	return rc;
}

/* Build work/ADVERT-REV from the manifest; dirs get their modes last so a
 * read-only directory can still be filled. */
static int stage(struct agent *ag, const struct content_manifest *m, const char *dir,
		 const char *user, struct steward_err *err)
{
	int dfd, rc = 0;
	size_t i;

	swdist_remove_tree(dir); /* leftovers of a crashed run */
	if (mkdir(dir, 0700) != 0)
		return steward_err_set(err, STEWARD_EIO, "swdist_dir", "check the disk",
				       "cannot create %s: %s", dir, strerror(errno));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return steward_err_set(err, STEWARD_EIO, "swdist_dir", "check the disk",
				       "cannot open %s: %s", dir, strerror(errno));
	for (i = 0; i < m->n_entries && !rc; i++) {
		const struct content_entry *e = &m->entries[i];

		if (e->type == CONTENT_DIR)
			rc = mkdirat(dfd, e->path, 0700) ? -STEWARD_EIO : 0;
		else if (e->type == CONTENT_LINK)
			rc = symlinkat(e->target, dfd, e->path) ? -STEWARD_EIO : 0;
		else
			rc = swdist_copy_blob(ag, e->hash, dfd, e->path, e->mode);
		if (rc)
			steward_err_set(
			    err, STEWARD_EIO, "swdist_dir", "check that the disk is not full",
			    "cannot stage %s into %s: %s", e->path, dir, strerror(errno));
	}
	for (i = m->n_entries; i-- > 0 && !rc;)
		if (m->entries[i].type == CONTENT_DIR &&
		    fchmodat(dfd, m->entries[i].path, m->entries[i].mode & 0777, 0) != 0) {
			rc = -STEWARD_EIO;
			steward_err_set(err, STEWARD_EIO, "swdist_dir",
					"check the file system of the agent's state directory",
					"cannot set the mode of %s in %s: %s", m->entries[i].path, dir,
					strerror(errno));
		}
	if (!rc && user && user[0]) {
		/* the program's user owns its copy (it may write there) */
		struct passwd *pw = getpwnam(user);

		for (i = 0; pw && i < m->n_entries; i++)
			if (fchownat(dfd, m->entries[i].path, pw->pw_uid, pw->pw_gid,
				     AT_SYMLINK_NOFOLLOW) != 0)
				log_warn("swdist", "chown_failed", "dir=%s path=%s user=%s", dir,
					 m->entries[i].path, user);
		if (pw && fchown(dfd, pw->pw_uid, pw->pw_gid) != 0)
			log_warn("swdist", "chown_failed", "dir=%s user=%s", dir, user);
	}
	if (!rc)
		fchmod(dfd, 0755);
	close(dfd);
	return rc;
}

/* ---- one run ----------------------------------------------------------------------- */

static bool in_codes(json_t *codes, int code, bool dflt_zero)
{
	size_t i;
	json_t *v;

	if (!codes || json_is_null(codes))
		return dflt_zero && code == 0;
	json_array_foreach(codes, i, v)
	{
		if (json_integer_value(v) == code)
			return true;
	}
	return false;
}

static bool agent_stopping(void *ctx)
{
	struct agent *ag = ctx;

	return ag->stop && *ag->stop;
}

/* A download or verification failure: back off, say so. */
static void download_failed(struct agent *ag, const struct advert *a, const char *state,
			    const char *detail)
{
	json_t *r = record(ag, a);
	int failures = (int)rec_int(r, "failures") + 1;
	int64_t retry_at = time_now_s() + core_advert_backoff(failures);
	char when[32];

	rec_set_int(r, "failures", failures);
	rec_set_int(r, "retry_at", retry_at);
	rec_set_int(r, "fail_revision", a->revision);
	forget_waiting(ag, a);
	records_save(ag);
	time_rfc3339(retry_at, when);
	swdist_report(ag, a->id, a->revision, state, -1, "%s; retrying at %s", detail, when);
	wake(ag, retry_at);
}

static void finished(struct agent *ag, const struct advert *a, int64_t occurrence, bool ok,
		     const char *state)
{
	json_t *r = record(ag, a);

	json_object_set_new(r, "ran", json_true());
	rec_set_int(r, "last_revision", a->revision);
	rec_set_int(r, "last_occurrence", occurrence);
	json_object_set_new(r, "last_ok", json_boolean(ok));
	json_object_set_new(r, "last_state", json_string(state));
	rec_set_int(r, "last_run", time_now_s());
	rec_set_int(r, "failures", 0);
	rec_set_int(r, "retry_at", 0);
	forget_waiting(ag, a);
	records_save(ag);
}

/* Fetch the manifest and every blob; parse and check the manifest. */
static int fetch_all(struct agent *ag, const struct advert *a, const struct swdist_src *src,
		     struct content_manifest *m, const char **state, char *detail, size_t dsz)
{
	struct steward_err err;
	uint8_t key[PROTO_PK_BYTES];
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	int rc;

	*state = "download_failed";
	memset(&err, 0, sizeof(err));
	rc = swdist_fetch(ag, src, a->manifest, 0, CONTENT_MANIFEST_MAX, &err);
	if (rc) {
		snprintf(detail, dsz, "manifest %s: %s", a->manifest, err.message);
		return rc;
	}
	*state = "verification_failed";
	if (!ag->st.site_key[0] || hex_decode(ag->st.site_key, key, sizeof(key)) != 0) {
		snprintf(detail, dsz, "the agent has no site key to check the manifest with");
		return -STEWARD_EAUTH;
	}
	swdist_blob_path(ag, a->manifest, path, sizeof(path));
	rc = file_read_all(path, CONTENT_MANIFEST_MAX, &text, &len);
	if (rc == 0)
		rc = content_manifest_parse(text, len, key, m, &err);
	free(text);
	if (rc) {
		/* the bytes match their name, but not the site's signature */
		unlink(path);
		if (!strcmp(err.code, "manifest_signature"))
			snprintf(detail, dsz, "manifest signature invalid");
		else
			snprintf(detail, dsz, "manifest invalid: %s", err.message);
		return rc ? rc : -STEWARD_EINVAL;
	}
	if (strcmp(m->package, a->pkg_name) || strcmp(m->version, a->pkg_version)) {
		snprintf(detail, dsz, "the manifest is for %s %s; the policy names %s %s",
			 m->package, m->version, a->pkg_name, a->pkg_version);
		return -STEWARD_EINVAL;
	}
	*state = "download_failed";
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct content_entry *e = &m->entries[i];

		if (e->type != CONTENT_FILE)
			continue;
		rc = swdist_fetch(ag, src, e->hash, e->size, e->size, &err);
		if (rc) {
			if ((size_t)snprintf(detail, dsz, "%s (%s): %s", e->path, e->hash,
					     err.message) >= dsz)
				log_debug("swdist", "detail_truncated", "path=%s", e->path);
			return rc;
		}
	}
	return 0;
}

/* Environment entries "K=V" from the program's env object. */
static char **env_list(json_t *env)
{
	size_t n = json_is_object(env) ? json_object_size(env) : 0, i = 0;
	char **v = calloc(n + 1, sizeof(char *));
	const char *k;
	json_t *val;

	if (!v || !n)
		return v;
	json_object_foreach(env, k, val)
	{
		const char *s = json_string_value(val);

		if (s && asprintf(&v[i], "%s=%s", k, s) >= 0)
			i++;
	}
	return v;
}

static void run_advert(struct agent *ag, const struct advert *a, int64_t occurrence)
{
	const char *dps[DPS_MAX], *state = NULL;
	json_t *jdps = json_object_get(ag->sw.policy, "dps"), *v;
	struct swdist_src src = {.dps = dps, .advert = a->id, .revision = a->revision};
	struct content_manifest m;
	struct run_result *res = NULL;
	struct run_spec spec;
	char detail[SWDIST_DETAIL_MAX + 64], work[PATH_MAX], wd[PATH_MAX];
	char **env = NULL;
	size_t i;
	int rc;

	memset(&m, 0, sizeof(m));
	json_array_foreach(jdps, i, v)
	{
		const char *s = json_string_value(v);

		if (src.n_dps < DPS_MAX && s && strlen(s) < AGENT_URL_MAX &&
		    (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8)))
			dps[src.n_dps++] = s;
	}
	src.token = json_string_value(json_object_get(ag->sw.policy, "content_token"));
	if (!src.token)
		src.token = "";
	swdist_report(ag, a->id, a->revision, "download_started", -1, "package %s %s from %d %s",
		      a->pkg_name, a->pkg_version, src.n_dps,
		      src.n_dps == 1 ? "distribution point" : "distribution points");
	swdist_flush(ag);
	rc = fetch_all(ag, a, &src, &m, &state, detail, sizeof(detail));
	if (rc) {
		download_failed(ag, a, state, detail);
		goto out;
	}
	swdist_report(ag, a->id, a->revision, "download_finished", -1, "%zu entries, %llu bytes",
		      m.n_entries, (unsigned long long)m.total_bytes);
	snprintf(work, sizeof(work), "%s/work/%s-%lld", ag->sw.dir, a->key, (long long)a->revision);
	{
		struct steward_err err;

		memset(&err, 0, sizeof(err));
		if (stage(ag, &m, work, a->user, &err)) {
			/* nothing half-installed stays, and a full disk gets its
			 * space back before the failure is recorded and reported */
			swdist_remove_tree(work);
			download_failed(ag, a, "download_failed", err.message);
			goto out;
		}
	}
	/* the program's workdir: absolute, relative to the package, or the package */
	if (a->workdir[0] == '/')
		snprintf(wd, sizeof(wd), "%s", a->workdir);
	else if (!a->workdir[0] || !content_path_valid(a->workdir) ||
		 (size_t)snprintf(wd, sizeof(wd), "%s/%s", work, a->workdir) >= sizeof(wd))
		snprintf(wd, sizeof(wd), "%s", work);
	env = env_list(a->env);
	res = calloc(1, sizeof(*res));
	if (!env || !res) {
		download_failed(ag, a, "download_failed", "out of memory");
		goto out;
	}
	spec = (struct run_spec){
	    .command = a->command,
	    .workdir = wd,
	    .user = a->user,
	    .advert = a->name[0] ? a->name : a->key,
	    .package = a->pkg_name,
	    .package_version = a->pkg_version,
	    .env = (const char *const *)env,
	    .timeout_ms = a->timeout * 1000,
	    .stop = agent_stopping,
	    .stop_ctx = ag,
	};
	swdist_report(ag, a->id, a->revision, "running", -1, "%s", a->command);
	swdist_flush(ag);
	run_program(&spec, res);
	log_info("swdist", "ran",
		 "advert=%s revision=%lld outcome=%s code=%d duration_ms=%lld output_bytes=%llu",
		 a->key, (long long)a->revision, run_outcome_name(res->outcome), res->code,
		 (long long)res->duration_ms, (unsigned long long)res->output_total);
	switch (res->outcome) {
	case RUN_EXITED:
		if (in_codes(a->success_codes, res->code, true)) {
			swdist_report(ag, a->id, a->revision, "succeeded", res->code, "%s",
				      res->output);
			finished(ag, a, occurrence, true, "succeeded");
		} else if (in_codes(a->reboot_codes, res->code, false)) {
			swdist_report(ag, a->id, a->revision, "succeeded_reboot", res->code, "%s",
				      res->output);
			finished(ag, a, occurrence, true, "succeeded_reboot");
		} else {
			swdist_report(ag, a->id, a->revision, "failed", res->code, "%s",
				      res->output);
			finished(ag, a, occurrence, false, "failed");
		}
		break;
	case RUN_SIGNALED:
		swdist_report(ag, a->id, a->revision, "failed", -1, "killed by signal %d\n%s",
			      res->code, res->output);
		finished(ag, a, occurrence, false, "failed");
		break;
	case RUN_TIMED_OUT:
		if (res->stopped) {
			/* not the program's fault: it runs again at the next start */
			swdist_report(ag, a->id, a->revision, "failed", -1,
				      "stopped: the agent was shutting down\n%s", res->output);
			break;
		}
		swdist_report(ag, a->id, a->revision, "timed_out", -1, "killed after %lld s\n%s",
			      (long long)a->timeout, res->output);
		finished(ag, a, occurrence, false, "timed_out");
		break;
	case RUN_NOT_STARTED:
		swdist_report(ag, a->id, a->revision, "failed", -1, "could not start: %s",
			      res->reason);
		finished(ag, a, occurrence, false, "failed");
		break;
	}
	swdist_remove_tree(work);
out:
	for (char **p = env; p && *p; p++)
		free(*p);
	free(env);
	free(res);
	content_manifest_clear(&m);
}

/* ---- one advertisement -------------------------------------------------------------- */

static bool disk_ok(struct agent *ag, const struct advert *a, char *why, size_t whysz)
{
	struct statvfs vfs;
	uint64_t need, have;

	if (statvfs(ag->sw.dir, &vfs) != 0)
		return true; /* cannot tell: let the download find out */
	have = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	need = a->bytes + (uint64_t)a->min_free_mb * MIB;
	if (have >= need)
		return true;
	snprintf(why, whysz, "not enough disk space: need %llu MiB, have %llu MiB",
		 (unsigned long long)((need + MIB - 1) / MIB), (unsigned long long)(have / MIB));
	return false;
}

/* The advertisement's link policy for the class the site gave this
 * client: false when it waits ("deferred: slow link (measured 48 kbit/s):
 * waits for a faster link") or never runs on this class; both are
 * reported as waiting, with the reason. */
static bool link_allows(struct agent *ag, const struct advert *a, int64_t now,
			const struct core_advert_windows *win)
{
	const char *cls = ag->link.cls;
	bool has = win && win->restricted, inside = false;
	char why[CORE_ADVERT_REASON_MAX + 160];

	for (size_t i = 0; has && i < win->n; i++)
		if (now >= win->iv[i][0] && now < win->iv[i][1])
			inside = true;
	if (core_link_gate(&a->links, core_link_class_parse(cls, strlen(cls)), now, inside, has,
			   ag->link.text[0] ? ag->link.text : "its link", why,
			   sizeof(why)) == CORE_LINK_GO)
		return true;
	ag->link.waiting = true;
	report_waiting(ag, a, why);
	if (a->links.deadline > now)
		wake(ag, a->links.deadline);
	return false;
}

static void advert_step(struct agent *ag, json_t *j, int64_t now, bool paused,
			const struct core_advert_windows *win)
{
	struct core_advert_local l;
	struct core_advert_decision d;
	struct steward_err err;
	struct advert a;
	const char *bad = advert_parse(j, &a);
	char why[160], locks[PATH_MAX];
	json_t *r;
	int lock;

	if (bad) {
		log_warn("swdist", "advert_ignored", "advert=%s reason=\"%s\"",
			 a.key[0] ? a.key : "?", bad);
		return;
	}
	r = record(ag, &a);
	if (rec_int(r, "received") != a.revision || !json_object_get(r, "received")) {
		swdist_report(ag, a.id, a.revision, "received", -1, "%s: %s %s, program %s", a.name,
			      a.pkg_name, a.pkg_version, a.prog_name);
		rec_set_int(r, "received", a.revision);
		records_save(ag);
	}
	l = (struct core_advert_local){
	    .ran = json_is_true(json_object_get(r, "ran")),
	    .last_revision = rec_int(r, "last_revision"),
	    .last_occurrence = rec_int(r, "last_occurrence"),
	    .last_ok = json_is_true(json_object_get(r, "last_ok")),
	};
	if (rec_int(r, "fail_revision") == a.revision) {
		l.download_failures = (int)rec_int(r, "failures");
		l.retry_at = rec_int(r, "retry_at");
	}
	core_advert_decide(&a.sched, &l, now, paused, win, &d);
	switch (d.action) {
	case CORE_ADVERT_DONE:
		wake(ag, d.wake_at);
		return;
	case CORE_ADVERT_EXPIRED:
		if (rec_int(r, "expired") != a.revision) {
			swdist_report(ag, a.id, a.revision, "expired", -1,
				      "the advertisement expired before it ran");
			rec_set_int(r, "expired", a.revision);
			records_save(ag);
		}
		return;
	case CORE_ADVERT_WAIT:
		report_waiting(ag, &a, d.reason);
		wake(ag, d.wake_at);
		return;
	case CORE_ADVERT_RUN:
		break;
	}
	if (!link_allows(ag, &a, now, win))
		return;
	if (!a.req_met) {
		report_waiting(ag, &a, a.req_reason[0] ? a.req_reason : "requirements not met");
		return;
	}
	if (!disk_ok(ag, &a, why, sizeof(why))) {
		report_waiting(ag, &a, why);
		return;
	}
	memset(&err, 0, sizeof(err));
	snprintf(locks, sizeof(locks), "%s/locks", ag->sw.dir);
	if (run_lock(locks, a.key, &lock, &err)) {
		log_warn("swdist", "advert_busy", "advert=%s message=\"%s\"", a.key, err.message);
		return;
	}
	run_advert(ag, &a, d.occurrence);
	run_unlock(lock);
}

/* ---- the cache ---------------------------------------------------------------------- */

struct blob {
	char name[CONTENT_HASH_HEX + 1];
	uint64_t size;
	int64_t mtime;
};

static int by_mtime(const void *x, const void *y)
{
	const struct blob *a = x, *b = y;

	return a->mtime < b->mtime ? -1 : a->mtime > b->mtime;
}

/* Hashes the current policy needs: manifests and, when a manifest is in
 * the cache, its files. */
static json_t *needed(struct agent *ag)
{
	json_t *set = json_object(), *j;
	uint8_t key[PROTO_PK_BYTES];
	bool have_key = ag->st.site_key[0] && !hex_decode(ag->st.site_key, key, sizeof(key));
	size_t i;

	json_array_foreach(json_object_get(ag->sw.policy, "adverts"), i, j)
	{
		const char *h =
		    json_string_value(json_object_get(json_object_get(j, "package"), "manifest"));
		char path[PATH_MAX], *text = NULL;
		struct content_manifest m;
		size_t len;

		if (!h || !content_hash_valid(h))
			continue;
		json_object_set_new(set, h, json_true());
		swdist_blob_path(ag, h, path, sizeof(path));
		memset(&m, 0, sizeof(m));
		if (!have_key || file_read_all(path, CONTENT_MANIFEST_MAX, &text, &len) ||
		    content_manifest_parse(text, len, key, &m, NULL)) {
			free(text);
			continue;
		}
		for (size_t e = 0; e < m.n_entries; e++)
			if (m.entries[e].type == CONTENT_FILE)
				json_object_set_new(set, m.entries[e].hash, json_true());
		content_manifest_clear(&m);
		free(text);
	}
	return set;
}

/* Remove from sub (cache/blobs or cache/partial) what is unused for a week,
 * then, oldest first, what is over cap; never what the policy needs. */
static void clean_dir(struct agent *ag, const char *sub, json_t *keep, uint64_t cap, int64_t now)
{
	char dir[PATH_MAX], path[PATH_MAX + CONTENT_HASH_HEX + 2];
	struct blob *v = NULL;
	size_t n = 0, alloc = 0;
	uint64_t total = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", ag->sw.dir, sub);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!content_hash_valid(e->d_name))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path) ||
		    lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == alloc) {
			struct blob *nv = realloc(v, sizeof(*v) * (alloc = alloc ? alloc * 2 : 64));
			if (!nv)
				break;
			v = nv;
		}
		memcpy(v[n].name, e->d_name, CONTENT_HASH_HEX + 1); /* checked above */
		v[n].size = (uint64_t)st.st_size;
		v[n].mtime = st.st_mtime;
		total += v[n].size;
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), by_mtime);
	for (size_t i = 0; i < n; i++) {
		bool old = now - v[i].mtime >= SWDIST_CACHE_AGE_S;

		if (json_object_get(keep, v[i].name) || (!old && total <= cap))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, v[i].name);
		if (unlink(path) == 0) {
			total -= v[i].size;
			log_info("swdist", "cache_removed", "blob=%s dir=%s bytes=%llu reason=%s",
				 v[i].name, sub, (unsigned long long)v[i].size,
				 old ? "unused_7_days" : "over_cap");
		}
	}
	free(v);
}

static void cache_clean(struct agent *ag, int64_t now)
{
	json_t *keep = needed(ag);

	clean_dir(ag, "cache/blobs", keep, ag->sw.cache_max, now);
	clean_dir(ag, "cache/partial", keep, ag->sw.cache_max, now);
	json_decref(keep);
}

/* ---- the cycle ---------------------------------------------------------------------- */

void swdist_cycle(struct agent *ag)
{
	struct core_advert_windows win = {.restricted = ag->sw.windowed,
					  .n = ag->sw.n_windows,
					  .iv = (const int64_t(*)[2])ag->sw.windows};
	json_t *adverts, *j;
	bool paused, was_waiting = ag->link.waiting;
	size_t i;

	if (!ag->sw.records || ag->sw.busy)
		return;
	ag->sw.busy = true;
	ag->sw.wake_at = 0;
	ag->link.waiting = false; /* link_allows sets it again */
	adverts = json_object_get(ag->sw.policy, "adverts");
	paused = json_is_true(json_object_get(ag->sw.policy, "adverts_paused"));
	if (json_array_size(adverts) > ADVERTS_MAX)
		log_warn("swdist", "too_many_adverts", "count=%zu used=%d",
			 json_array_size(adverts), ADVERTS_MAX);
	json_array_foreach(adverts, i, j)
	{
		if (i >= ADVERTS_MAX || agent_stopping(ag))
			break;
		advert_step(ag, j, time_now_s(), paused, &win);
	}
	swdist_flush(ag);
	cache_clean(ag, time_now_s());
	if (was_waiting != ag->link.waiting)
		link_changed(ag);
	ag->sw.busy = false;
}

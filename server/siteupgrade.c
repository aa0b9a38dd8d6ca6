/* siteupgrade: stewardd replaces itself with another release's, reversibly.
 *
 * POST /api/v1/site/upgrade {"to": "X.Y.Z"} (stewardctl site upgrade):
 *   1. the release must hold a site component whose protocol range overlaps
 *      this stewardd's, so that no agent or console loses the site;
 *   2. its files are copied from the content store into
 *      DATA_DIR/versions/X.Y.Z (through a stage, each hash checked), and the
 *      running binary into DATA_DIR/versions/CURRENT, so going back never
 *      depends on a file outside the data directory;
 *   3. the new binary must run here (--version reports X.Y.Z);
 *   4. an online backup of the database goes to DATA_DIR/backups/;
 *   5. DATA_DIR/site-upgrade.json records the trial (from, to, both
 *      binaries, the backup); the reply is 202;
 *   6. stewardd shuts down as on SIGTERM and execs the new binary with the
 *      same arguments (same PID, so a supervisor sees one service).
 * The new stewardd finds the record: if its store does not open (a failed
 * migration, a schema it cannot read) it restores the backup and execs the
 * old binary, which reports the upgrade as rolled back; once it serves, it
 * marks the upgrade succeeded and points DATA_DIR/current at its version.
 * An old stewardd that finds a trial of a newer version still open (the
 * new one died before it served) restores the backup too.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>

#include "site.h"

#define SU_RECORD     "site-upgrade.json"
#define SU_RECORD_MAX (16 * 1024)
#define SU_RUN_S      10 /* the new binary's --version must answer within this */

static void su_path(const struct site *s, const char *name, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%s", s->cfg.data_dir, name);
}

static json_t *record_load(const struct site *s)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	json_t *o = NULL;

	su_path(s, SU_RECORD, path, sizeof(path));
	if (file_read_all(path, SU_RECORD_MAX, &text, &len) == 0)
		o = json_loadb(text, len, 0, NULL);
	free(text);
	if (o && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int record_save(const struct site *s, json_t *o)
{
	char path[PATH_MAX], *text = json_dumps(o, JSON_INDENT(2));
	int rc;

	if (!text)
		return -STEWARD_ENOMEM;
	su_path(s, SU_RECORD, path, sizeof(path));
	rc = file_write_atomic(path, text, strlen(text), 0600);
	free(text);
	return rc;
}

static const char *rstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

/* Copy src to dst (created 0600 first, mode after), synced. */
static int copy_file(const char *src, const char *dst, unsigned mode)
{
	char buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC), out, rc = 0;
	ssize_t n;

	if (in < 0)
		return -STEWARD_EIO;
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -STEWARD_EIO;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -STEWARD_EIO;
			break;
		}
	if (n < 0 || fchmod(out, mode & 0777) != 0 || fsync(out) != 0)
		rc = -STEWARD_EIO;
	close(out);
	close(in);
	return rc;
}

/* Put the backup back: the WAL and shared-memory files of the failed
 * version go first, then a copy of the backup is renamed over the database. */
static int restore_backup(const char *db, const char *backup)
{
	char tmp[PATH_MAX + 8], side[PATH_MAX + 8];
	int rc;

	snprintf(side, sizeof(side), "%s-wal", db);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", db);
	unlink(side);
	snprintf(tmp, sizeof(tmp), "%s.restore", db);
	rc = copy_file(backup, tmp, 0600);
	if (!rc && rename(tmp, db) != 0)
		rc = -STEWARD_EIO;
	if (rc)
		unlink(tmp);
	log_warn("siteupgrade", rc ? "restore_failed" : "database_restored", "backup=%s db=%s",
		 backup, db);
	return rc;
}

static void point_current(const struct site *s, const char *version)
{
	char link[PATH_MAX], tmp[PATH_MAX + 8], target[64];

	su_path(s, "current", link, sizeof(link));
	snprintf(tmp, sizeof(tmp), "%s.new", link);
	snprintf(target, sizeof(target), "versions/%s", version);
	unlink(tmp);
	if (symlink(target, tmp) != 0 || rename(tmp, link) != 0)
		log_warn("siteupgrade", "current_failed", "link=%s target=%s", link, target);
}

/* ---- at start ---------------------------------------------------------------------- */

int site_upgrade_startup(struct site *s)
{
	json_t *o = record_load(s);
	const char *state = rstr(o, "state"), *to = rstr(o, "to"), *from = rstr(o, "from");

	if (!o || strcmp(state, "trial") != 0) {
		json_decref(o);
		return 0;
	}
	if (strcmp(to, STEWARD_VERSION) == 0) {
		s->upgrade_trial = true;
		log_info("siteupgrade", "trial", "from=%s to=%s", from, to);
	} else if (strcmp(from, STEWARD_VERSION) == 0) {
		char db[PATH_MAX];

		/* the new version stopped before it served: undo its migrations */
		su_path(s, "steward.db", db, sizeof(db));
		restore_backup(db, rstr(o, "backup"));
		json_object_set_new(o, "state", json_string("rolled_back"));
		json_object_set_new(o, "reason", json_string("the new stewardd stopped before it was "
							     "serving; the database was restored"));
		json_object_set_new(o, "ended", json_integer(time_now_s()));
		record_save(s, o);
		point_current(s, from);
		log_warn("siteupgrade", "rolled_back", "from=%s to=%s reason=\"stopped before serving\"",
			 from, to);
	}
	json_decref(o);
	return 0;
}

int site_upgrade_failed(struct site *s, const char *reason)
{
	json_t *o = record_load(s);
	int rc;

	if (!o)
		return -STEWARD_ENOTFOUND;
	/* restored once the store is closed (site_upgrade_before_exec) */
	snprintf(s->restore_path, sizeof(s->restore_path), "%s", rstr(o, "backup"));
	su_path(s, "steward.db", s->restore_db, sizeof(s->restore_db));
	rc = s->restore_path[0] ? 0 : -STEWARD_ENOTFOUND;
	json_object_set_new(o, "state", json_string("rolled_back"));
	json_object_set_new(o, "reason", json_string(reason));
	json_object_set_new(o, "ended", json_integer(time_now_s()));
	record_save(s, o);
	snprintf(s->exec_path, sizeof(s->exec_path), "%s", rstr(o, "from_bin"));
	point_current(s, rstr(o, "from"));
	log_error("siteupgrade", "rolled_back", "from=%s to=%s reason=\"%s\" action=\"starting %s\"",
		  rstr(o, "from"), rstr(o, "to"), reason, s->exec_path);
	json_decref(o);
	return rc ? rc : (s->exec_path[0] ? 0 : -STEWARD_ENOTFOUND);
}

void site_upgrade_before_exec(struct site *s)
{
	if (s->restore_path[0])
		restore_backup(s->restore_db, s->restore_path);
}

void site_upgrade_serving(struct site *s)
{
	json_t *o;

	if (!s->upgrade_trial)
		return;
	o = record_load(s);
	if (o) {
		json_object_set_new(o, "state", json_string("succeeded"));
		json_object_set_new(o, "ended", json_integer(time_now_s()));
		record_save(s, o);
		point_current(s, STEWARD_VERSION);
		log_info("siteupgrade", "succeeded", "from=%s to=%s", rstr(o, "from"), STEWARD_VERSION);
	}
	json_decref(o);
	s->upgrade_trial = false;
}

void site_upgrade_show(struct site *s, json_t *site_obj)
{
	json_t *o = record_load(s);

	if (o) {
		json_object_del(o, "from_bin");
		json_object_del(o, "to_bin");
		json_object_set_new(site_obj, "last_upgrade", o);
	}
}

/* ---- POST /api/v1/site/upgrade ---------------------------------------------------------- */


/* Copy the site component's files into DATA_DIR/versions/VERSION. */
static int stage_release(struct site *s, const struct content_release *r, const char *comp,
			 char *bin, size_t binsz, struct steward_err *err)
{
	char stage[PATH_MAX], final[PATH_MAX], dst[PATH_MAX + CONTENT_PATH_MAX + 2], src[4096];
	char dir[PATH_MAX + CONTENT_PATH_MAX + 2], got[CONTENT_HASH_HEX + 1], *slash;
	int rc = 0;

	snprintf(stage, sizeof(stage), "%s/versions/.stage-%s", s->cfg.data_dir, r->version);
	snprintf(final, sizeof(final), "%s/versions/%s", s->cfg.data_dir, r->version);
	if ((size_t)snprintf(bin, binsz, "%s/bin/stewardd", final) >= binsz)
		return steward_err_set(err, STEWARD_ETOOBIG, "site_upgrade_failed",
				       "use a shorter data_dir", "the path %s is too long", final);
	if (file_mkdirs(stage, 0700) != 0)
		return steward_err_set(err, STEWARD_EIO, "site_upgrade_failed", "check the disk",
				       "cannot create %s: %s", stage, strerror(errno));
	for (size_t i = 0; i < r->n_files && !rc; i++) {
		const struct content_release_file *f = &r->files[i];
		uint64_t size = 0;

		if (strcmp(f->component, comp) != 0)
			continue;
		snprintf(dst, sizeof(dst), "%s/%s", stage, f->path);
		snprintf(dir, sizeof(dir), "%s", dst);
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		if (file_mkdirs(dir, 0755) != 0 ||
		    content_store_path(s->content, f->hash, src, sizeof(src)) != 0 ||
		    copy_file(src, dst, f->mode) != 0)
			rc = steward_err_set(err, STEWARD_EIO, "site_upgrade_failed",
					     "check the disk and the content store",
					     "cannot stage %s of release %s: %s", f->path, r->version,
					     strerror(errno));
		else if (content_hash_file(dst, got, &size) != 0 || strcmp(got, f->hash) != 0)
			rc = steward_err_set(err, STEWARD_EINVAL, "site_upgrade_failed",
					     "the content store is damaged: import the release again",
					     "%s of release %s does not match its hash", f->path,
					     r->version);
	}
	if (!rc) {
		char old[PATH_MAX + 8];

		snprintf(old, sizeof(old), "%s.old", final);
		rename(final, old); /* a copy from an earlier attempt */
		if (rename(stage, final) != 0)
			rc = steward_err_set(err, STEWARD_EIO, "site_upgrade_failed", "check the disk",
					     "cannot rename %s: %s", stage, strerror(errno));
		if (!rc) {
			char cmd[PATH_MAX + 16];

			/* best effort: rm -r of the earlier attempt's copy */
			if ((size_t)snprintf(cmd, sizeof(cmd), "%s/bin/stewardd", old) < sizeof(cmd))
				unlink(cmd);
			if ((size_t)snprintf(cmd, sizeof(cmd), "%s/bin", old) < sizeof(cmd))
				rmdir(cmd);
			rmdir(old);
		}
	}
	return rc;
}

/* The running binary, kept under DATA_DIR/versions/CURRENT/bin/stewardd. */
static int keep_current(struct site *s, char *bin, size_t binsz, struct steward_err *err)
{
	char self[PATH_MAX], dir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return steward_err_set(err, STEWARD_EIO, "site_upgrade_failed", "",
				       "cannot find the running stewardd (/proc/self/exe)");
	self[n] = '\0';
	snprintf(dir, sizeof(dir), "%s/versions/%s/bin", s->cfg.data_dir, STEWARD_VERSION);
	if ((size_t)snprintf(bin, binsz, "%s/stewardd", dir) >= binsz)
		return steward_err_set(err, STEWARD_ETOOBIG, "site_upgrade_failed",
				       "use a shorter data_dir", "the path %s is too long", dir);
	if (strcmp(self, bin) == 0)
		return 0;
	if (file_mkdirs(dir, 0755) != 0 || copy_file(self, bin, 0755) != 0)
		return steward_err_set(err, STEWARD_EIO, "site_upgrade_failed", "check the disk",
				       "cannot keep a copy of the running stewardd in %s: %s", dir,
				       strerror(errno));
	return 0;
}

/* The site component of r, if this stewardd may become it. */
const struct content_component *site_upgrade_component(const struct content_release *r,
							struct steward_err *err)
{
	const struct content_component *comp = NULL;
	struct proto_range self = proto_self_range();

	for (size_t i = 0; i < r->n_components && !comp; i++)
		if (r->components[i].kind == CONTENT_KIND_SITE)
			comp = &r->components[i];
	if (!comp) {
		steward_err_set(err, STEWARD_EINVAL, "site_upgrade_refused",
				"build the release with make release (not RELEASE_PARTS=agent)",
				"release %s has no stewardd (no component of kind site)", r->version);
		return NULL;
	}
	if (strcmp(comp->version, STEWARD_VERSION) == 0) {
		steward_err_set(err, STEWARD_EEXIST, "site_upgrade_refused",
				"stewardctl site show gives the version that runs",
				"this stewardd already runs %s", comp->version);
		return NULL;
	}
	if ((int)comp->proto_max < self.min || (int)comp->proto_min > self.max) {
		steward_err_set(err, STEWARD_EINVAL, "site_upgrade_incompatible",
				"upgrade through a release that speaks both protocols",
				"stewardd %s speaks protocol %u-%u; this site's agents and consoles "
				"speak %d-%d with it now and would all be cut off",
				comp->version, comp->proto_min, comp->proto_max, self.min, self.max);
		return NULL;
	}
	return comp;
}

/* Steps 2 to 5 for release r: stage, keep, check, back up, record. */
static int prepare_release(struct site *s, const struct content_release *r, json_t **record,
			   struct steward_err *err)
{
	const struct content_component *comp = site_upgrade_component(r, err);
	char to_bin[PATH_MAX], from_bin[PATH_MAX], backup[PATH_MAX], runs[64], ts[32];
	int rc;

	if (!comp)
		return -STEWARD_EINVAL;
	if ((rc = stage_release(s, r, comp->name, to_bin, sizeof(to_bin), err)) ||
	    (rc = keep_current(s, from_bin, sizeof(from_bin), err)))
		return rc;
	exec_version(to_bin, SU_RUN_S, runs, sizeof(runs));
	if (strcmp(runs, comp->version) != 0)
		return steward_err_set(err, STEWARD_EINVAL, "site_upgrade_refused",
				       "build the release on a machine like this one",
				       "the stewardd of release %s does not run here%s%s", r->version,
				       runs[0] ? ": it reports " : "", runs);
	time_rfc3339(time_now_s(), ts);
	snprintf(backup, sizeof(backup), "%s/backups", s->cfg.data_dir);
	if (file_mkdirs(backup, 0700) != 0)
		return steward_err_set(err, STEWARD_EIO, "site_upgrade_failed", "check the disk",
				       "cannot create %s", backup);
	snprintf(backup, sizeof(backup), "%s/backups/steward-%s-before-%s-%lld.db", s->cfg.data_dir,
		 STEWARD_VERSION, comp->version, (long long)time_now_s());
	rc = s->store->ops->backup(s->store, backup);
	if (rc)
		return steward_err_set(err, -rc, "site_upgrade_failed", "check the disk under data_dir",
				       "cannot back up the database to %s: %s", backup,
				       steward_strerror(rc));
	*record = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "state", "trial", "from",
			    STEWARD_VERSION, "to", comp->version, "from_bin", from_bin, "to_bin",
			    to_bin, "backup", backup, "started", (json_int_t)time_now_s(),
			    "started_at", ts);
	rc = *record ? record_save(s, *record) : -STEWARD_ENOMEM;
	if (rc)
		steward_err_set(err, -rc, "site_upgrade_failed", "check the disk under data_dir",
				"cannot write %s/" SU_RECORD, s->cfg.data_dir);
	return rc;
}

int site_upgrade_start(struct site *s, const struct content_release *r, const char *by,
		       json_t **record, struct steward_err *err)
{
	int rc;

	*record = NULL;
	if (atomic_exchange(&s->upgrading, true))
		return steward_err_set(err, STEWARD_EEXIST, "site_upgrade_refused", "wait for it to finish",
				       "an upgrade of this stewardd is already under way");
	rc = prepare_release(s, r, record, err);
	if (rc) {
		atomic_store(&s->upgrading, false);
		json_decref(*record);
		*record = NULL;
		return rc;
	}
	snprintf(s->exec_path, sizeof(s->exec_path), "%s", rstr(*record, "to_bin"));
	log_info("siteupgrade", "starting", "from=%s to=%s backup=%s by=%s", STEWARD_VERSION,
		 r->version, rstr(*record, "backup"), by);
	json_object_del(*record, "from_bin");
	json_object_del(*record, "to_bin");
	/* stop as on SIGTERM (in-flight requests finish); main() then execs
	 * the new binary */
	kill(getpid(), SIGTERM);
	return 0;
}

/* The imported release to, its manifest parsed (trusted keys only). */
static int release_of(struct site *s, const char *to, struct content_release *r,
		      struct steward_err *err)
{
	struct store_release *rows = NULL;
	const struct store_release *row = NULL;
	char *text = NULL;
	size_t n = 0, len;
	int rc = site_release_rows(s, &rows, &n);

	if (rc)
		return steward_err_set(err, -rc, "store_unavailable", "retry shortly",
				       "cannot list the releases: %s", steward_strerror(rc));
	for (size_t i = 0; i < n && !row; i++)
		if (strcmp(rows[i].version, to) == 0)
			row = &rows[i];
	if (!row)
		rc = steward_err_set(err, STEWARD_ENOTFOUND, "release_not_found",
				     "import it first: stewardctl releases import FILE",
				     "no release %.40s on this site", to);
	else
		rc = site_release_manifest(s, row->manifest, true, r, &text, &len, err);
	free(text);
	free(rows);
	return rc;
}

int site_upgrade_to(struct site *s, const char *to, const char *by, struct steward_err *err)
{
	struct content_release r;
	json_t *record = NULL;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = release_of(s, to, &r, err);
	if (!rc)
		rc = site_upgrade_start(s, &r, by, &record, err);
	json_decref(record);
	content_release_clear(&r);
	return rc;
}

int site_upgrade_check(struct site *s, const char *to, struct steward_err *err)
{
	struct content_release r;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = release_of(s, to, &r, err);
	if (!rc && !site_upgrade_component(&r, err))
		rc = -STEWARD_EINVAL;
	content_release_clear(&r);
	return rc;
}

enum http_result site_h_site_upgrade(struct http_req *req, void *app)
{
	struct site *s = app;
	json_t *body = admin_body(req), *record = NULL;
	const char *to;
	struct steward_err err = {.code = ""};
	struct principal *p = http_req_ctx(req);
	struct content_release r;
	int x, y, z, rc;

	memset(&r, 0, sizeof(r));
	if (!body)
		return HTTP_DONE;
	to = json_string_value(json_object_get(body, "to"));
	if (!to || proto_semver_parse(to, &x, &y, &z) != 0) {
		reply_error(req, 400, "bad_request", "give --to X.Y.Z, a release the site holds",
			    "field 'to' must be a release version X.Y.Z");
		goto out;
	}
	if (!s->content || !(s->cfg.role_mask & ROLE_SITE_SERVER)) {
		reply_error(req, 409, "site_upgrade_refused", "run it against the site server",
			    "this stewardd holds no releases");
		goto out;
	}
	if (strcmp(to, STEWARD_VERSION) == 0)
		rc = steward_err_set(&err, STEWARD_EEXIST, "site_upgrade_refused",
				     "stewardctl site show gives the version that runs",
				     "this site already runs %s", to);
	else
		rc = release_of(s, to, &r, &err);
	if (!rc)
		rc = site_upgrade_start(s, &r, p && p->kind == PRINCIPAL_ADMIN ? p->name : "?",
					&record, &err);
	if (rc) {
		http_reply_error(req, strcmp(err.code, "release_not_found") == 0 ? 404
				      : strcmp(err.code, "store_unavailable") == 0 ? 503
										   : 409,
				 &err);
		goto out;
	}
	reply_json_obj(req, 202, record);
out:
	content_release_clear(&r);
	json_decref(body);
	return HTTP_DONE;
}

bool site_upgrade_rolled_back_why(struct site *s, char *to, size_t tosz, char *why, size_t whysz)
{
	json_t *o = record_load(s);
	bool rolled = o && strcmp(rstr(o, "state"), "rolled_back") == 0 &&
		      strcmp(rstr(o, "from"), STEWARD_VERSION) == 0;

	snprintf(to, tosz, "%s", rolled ? rstr(o, "to") : "");
	if (why)
		snprintf(why, whysz, "%s", rolled ? rstr(o, "reason") : "");
	json_decref(o);
	return rolled;
}

bool site_upgrade_rolled_back(struct site *s, char *to, size_t tosz)
{
	return site_upgrade_rolled_back_why(s, to, tosz, NULL, 0);
}

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
 * old binary, which reports the upgrade as rolled back. Once it serves, it
 * points DATA_DIR/current at its version and is watched for
 * site_upgrade_watch: its health is checked every
 * site_upgrade_health_interval (the store answers a write, the listener a
 * request on loopback); SU_HEALTH_FAILS failures in a row, or a death
 * (found at the next start, by either version: an orderly stop is marked
 * in the record and is not one), roll it back the same way. After the
 * window the upgrade has succeeded.
 *
 * Every rollback goes: record "rolling_back" (when the store is still
 * open), restore the backup, point DATA_DIR/current at the old version,
 * record "rolled_back". A kill at any point leaves a record the next start
 * finishes, whichever version it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include <jansson.h>

#include "steward/build_test.h" /* generated: CMakeLists.txt */
#include "site.h"

#define SU_RECORD     "site-upgrade.json"
#define SU_RECORD_MAX (16 * 1024)
#define SU_LOCK       "stewardd.lock"
#define SU_RUN_S      10 /* the new binary's --version must answer within this */
#define SU_HEALTH_FAILS      3    /* health checks failed in a row that roll back */
#define SU_HEALTH_TIMEOUT_MS 5000 /* the loopback request's deadline */
#define SU_HEALTH_KEY        "site_upgrade_health" /* the setting the check writes */

/* Read-modify-write of the record: the main loop (the watch), HTTP
 * threads and the distribution point's sync thread (a new upgrade). */
static pthread_mutex_t su_lock = PTHREAD_MUTEX_INITIALIZER;

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
	if (rc)
		log_error("siteupgrade", "record_failed", "path=%s error=\"%s\"", path,
			  steward_strerror(rc));
	return rc;
}

static const char *rstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static int64_t rnum(json_t *o, const char *k)
{
	return (int64_t)json_integer_value(json_object_get(o, k));
}

static void set_time(json_t *o, const char *k, const char *k_at, int64_t t)
{
	char ts[32];

	time_rfc3339(t, ts);
	json_object_set_new(o, k, json_integer(t));
	json_object_set_new(o, k_at, json_string(ts));
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
 * version go first, then a copy of the backup is renamed over the database.
 * The backup itself is never written, so this can be done again. */
/* The same on a PostgreSQL database (database = URL). */
static int restore_backup_pg(const char *url, const char *backup)
{
	char shown[512];
	int rc = backup[0] ? store_pg_restore(url, backup) : -STEWARD_ENOTFOUND;

	store_target_masked(url, shown, sizeof(shown));
	if (!rc && store_outbox_lift_target(url, time_now_ms() * 1000) != 0)
		log_warn("siteupgrade", "outbox_lift_failed", "db=%s", shown);
	log_warn("siteupgrade", rc ? "restore_failed" : "database_restored", "backup=%s db=%s",
		 backup, shown);
	return rc;
}

static int restore_backup(const char *db, const char *backup)
{
	char tmp[PATH_MAX + 8], side[PATH_MAX + 8];
	int rc;

	snprintf(side, sizeof(side), "%s-wal", db);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", db);
	unlink(side);
	snprintf(tmp, sizeof(tmp), "%s.restore", db);
	rc = backup[0] ? copy_file(backup, tmp, 0600) : -STEWARD_ENOTFOUND;
	/* Its link messages are numbered on from above what the version on
	 * watch gave out, whichever version starts on it next: an old one
	 * would number its messages (the report that it rolled back) from the
	 * backup's counter, and its parent would skip them as applied before.
	 * Done to the copy, before the rename: the backup stays as it was. */
	if (!rc && store_outbox_lift_target(tmp, time_now_ms() * 1000) != 0)
		log_warn("siteupgrade", "outbox_lift_failed", "db=%s", tmp);
	if (!rc && rename(tmp, db) != 0)
		rc = -STEWARD_EIO;
	if (!rc)
		rc = file_sync_dir_of(db);
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
	if (symlink(target, tmp) != 0 || rename(tmp, link) != 0 || file_sync_dir_of(link) != 0)
		log_warn("siteupgrade", "current_failed", "link=%s target=%s", link, target);
}

/* Go back to the old version of record o, the store closed: restore the
 * backup, point DATA_DIR/current at the old version, record rolled_back
 * with reason. In this order, so that a kill at any point leaves the
 * record open (trial, watching, rolling_back) and the next start, of
 * either version, does it again. */
static int roll_back(struct site *s, json_t *o, const char *reason)
{
	char db[PATH_MAX], why[512];
	bool watched = rnum(o, "watch_started") > 0;
	int rc;

	snprintf(why, sizeof(why), "%s", reason); /* reason may point into o */
	su_path(s, "steward.db", db, sizeof(db));
	if (s->cfg.database && s->cfg.database[0]) {
		rc = restore_backup_pg(s->cfg.database, rstr(o, "backup"));
		store_target_masked(s->cfg.database, db, sizeof(db));
	} else {
		rc = restore_backup(db, rstr(o, "backup"));
	}
	if (rc) {
		json_object_set_new(o, "state", json_string("rolling_back"));
		json_object_set_new(o, "reason", json_string(why));
		json_object_set_new(o, "error",
				    json_sprintf("cannot restore the backup %s over %s: %s",
						 rstr(o, "backup"), db, steward_strerror(rc)));
		record_save(s, o);
		return rc;
	}
	point_current(s, rstr(o, "from"));
	json_object_set_new(o, "state", json_string("rolled_back"));
	json_object_set_new(o, "reason", json_string(why));
	json_object_set_new(o, "ended", json_integer(time_now_s()));
	json_object_del(o, "error");
	rc = record_save(s, o);
	log_error("siteupgrade", "rolled_back", "from=%s to=%s reason=\"%s\" backup=%s",
		  rstr(o, "from"), rstr(o, "to"), why, rstr(o, "backup"));
	if (watched)
		log_warn("siteupgrade", "data_lost",
			 "version=%s since=%s message=\"what %s wrote after the backup (checkins, "
			 "enrollments, changes by administrators) is lost: the database is the "
			 "backup of %s\"",
			 rstr(o, "to"), rstr(o, "started_at"), rstr(o, "to"),
			 rstr(o, "started_at"));
	return rc;
}

/* Hold DATA_DIR/stewardd.lock for as long as this process runs, so that a
 * start that finds an upgrade still open knows whether the version it
 * would judge still runs. O_CLOEXEC: the exec of the other version drops
 * it, and that one takes it again here. 0, or -STEWARD_EBUSY when another
 * process holds it, or -STEWARD_EIO. */
static int lock_data_dir(struct site *s)
{
	char path[PATH_MAX];
	int e;

	su_path(s, SU_LOCK, path, sizeof(path));
	s->upgrade_lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->upgrade_lock_fd < 0)
		return -STEWARD_EIO; /* errno says why */
	if (flock(s->upgrade_lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	e = errno;
	close(s->upgrade_lock_fd);
	s->upgrade_lock_fd = -1;
	errno = e;
	return e == EWOULDBLOCK ? -STEWARD_EBUSY : -STEWARD_EIO;
}

/* ---- at start ---------------------------------------------------------------------- */

/* How a version on watch that did not stop cleanly died, as the reason. */
static void died_reason(json_t *o, char *out, size_t outsz)
{
	int64_t now = time_now_s(), started = rnum(o, "watch_started");
	int64_t checked = rnum(o, "checked") > started ? rnum(o, "checked") : started;

	if (now <= rnum(o, "watch_until"))
		snprintf(out, outsz, "the new version died %lld s after it started",
			 (long long)(now - started));
	else /* found only after its window: it died between its last good check and then */
		snprintf(out, outsz,
			 "the new version died during its watch, %lld s or more after it started "
			 "(its last health check passed at %lld)",
			 (long long)(checked - started), (long long)checked);
}

/* The rollback of the upgrade in record o could not restore its backup. */
static int not_restored(struct steward_err *err, int rc, json_t *o, const char *why)
{
	return steward_err_set(err, -rc, "site_upgrade_failed",
			       "free space under data_dir and start again, or go back by hand "
			       "(docs/upgrading.md, going back after an upgrade)",
			       "the upgrade from %s to %s must be rolled back (%s) but the backup %s "
			       "cannot be restored: %s",
			       rstr(o, "from"), rstr(o, "to"), why, rstr(o, "backup"),
			       steward_strerror(rc));
}

/* This is the version the record upgrades to. */
static int startup_new(struct site *s, json_t *o, struct steward_err *err)
{
	const char *state = rstr(o, "state");
	char why[512];
	int rc;

	if (strcmp(state, "trial") == 0) {
		s->upgrade_trial = true;
		log_info("siteupgrade", "trial", "from=%s to=%s", rstr(o, "from"), proto_self_version());
		return 0;
	}
	if (strcmp(state, "watching") == 0 && rnum(o, "stopped_cleanly") > 0) {
		/* an orderly stop (an administrator, a reboot): the watch goes on
		 * until its end; a death from here on is one again */
		json_object_del(o, "stopped_cleanly");
		if (record_save(s, o) != 0)
			return steward_err_set(err, STEWARD_EIO, "site_upgrade_failed",
					       "check the disk under data_dir",
					       "cannot write %s/" SU_RECORD, s->cfg.data_dir);
		s->watch.started = rnum(o, "watch_started");
		s->watch.until = rnum(o, "watch_until");
		atomic_store(&s->watch.on, true);
		log_info("siteupgrade", "watch_resumed", "from=%s to=%s until=%s", rstr(o, "from"),
			 proto_self_version(), rstr(o, "watch_until_at"));
		return 0;
	}
	if (strcmp(state, "watching") == 0)
		died_reason(o, why, sizeof(why));
	else /* rolling_back: it was killed on its way back */
		snprintf(why, sizeof(why), "%s", rstr(o, "reason"));
	log_error("siteupgrade", "going_back", "from=%s to=%s reason=\"%s\"", rstr(o, "from"),
		  proto_self_version(), why);
	rc = roll_back(s, o, why);
	if (rc)
		return not_restored(err, rc, o, why);
	snprintf(s->exec_path, sizeof(s->exec_path), "%s", rstr(o, "from_bin"));
	log_warn("siteupgrade", "starting_old", "version=%s path=%s", rstr(o, "from"),
		 s->exec_path);
	return s->exec_path[0] ? 1
			       : steward_err_set(err, STEWARD_ENOTFOUND, "site_upgrade_failed",
						 "start the old version by hand",
						 "the record names no old binary");
}

/* This is the version the record upgrades from: whatever ran the new one
 * is gone, and the database may be the new version's. */
static int startup_old(struct site *s, json_t *o, struct steward_err *err)
{
	const char *state = rstr(o, "state");
	char why[512];
	int rc;

	if (strcmp(state, "trial") == 0)
		snprintf(why, sizeof(why),
			 "the new stewardd stopped before it was serving; the database was restored");
	else if (strcmp(state, "watching") == 0 && rnum(o, "stopped_cleanly") > 0)
		snprintf(why, sizeof(why),
			 "stewardd %s was started while %s was on watch (it had stopped cleanly); "
			 "the old version runs only with the backup",
			 proto_self_version(), rstr(o, "to"));
	else if (strcmp(state, "watching") == 0)
		died_reason(o, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", rstr(o, "reason"));
	rc = roll_back(s, o, why);
	if (rc)
		return not_restored(err, rc, o, why);
	return 0;
}

int site_upgrade_startup(struct site *s, struct steward_err *err)
{
	int locked = lock_data_dir(s), lock_errno = errno;
	json_t *o = record_load(s);
	const char *state = rstr(o, "state"), *to = rstr(o, "to"), *from = rstr(o, "from");
	int rc = 0;

	if (!o || (strcmp(state, "trial") != 0 && strcmp(state, "watching") != 0 &&
		   strcmp(state, "rolling_back") != 0))
		goto out;
	if (strcmp(to, proto_self_version()) != 0 && strcmp(from, proto_self_version()) != 0)
		goto out; /* neither end of it: nothing this binary can judge */
	if (locked == -STEWARD_EIO) {
		rc = steward_err_set(err, STEWARD_EIO, "site_upgrade_failed",
				     "check the permissions of data_dir",
				     "cannot lock %s/" SU_LOCK ": %s; the upgrade from %s to %s is "
				     "%s and stays so",
				     s->cfg.data_dir, strerror(lock_errno), from, to, state);
		goto out;
	}
	if (locked) {
		rc = steward_err_set(err, STEWARD_EBUSY, "data_dir_in_use",
				     "stop the other stewardd first; stewardctl site show says how "
				     "its upgrade stands",
				     "another stewardd holds %s/" SU_LOCK " while the upgrade from %s to "
				     "%s is %s",
				     s->cfg.data_dir, from, to, state);
		goto out;
	}
	rc = strcmp(to, proto_self_version()) == 0 ? startup_new(s, o, err) : startup_old(s, o, err);
out:
	json_decref(o);
	return rc;
}

int site_upgrade_failed(struct site *s, const char *reason)
{
	json_t *o;
	int rc = 0;

	pthread_mutex_lock(&su_lock);
	o = record_load(s);
	if (!o || strcmp(rstr(o, "to"), proto_self_version()) != 0 ||
	    (strcmp(rstr(o, "state"), "trial") != 0 && strcmp(rstr(o, "state"), "watching") != 0)) {
		rc = -STEWARD_ENOTFOUND;
		goto out;
	}
	/* the store is open: main() restores the backup once it is closed
	 * (site_upgrade_before_exec); until then the record says so */
	json_object_set_new(o, "state", json_string("rolling_back"));
	json_object_set_new(o, "reason", json_string(reason));
	json_object_set_new(o, "ended", json_integer(time_now_s()));
	rc = record_save(s, o);
	if (rc)
		goto out;
	atomic_store(&s->watch.on, false);
	s->upgrade_trial = false;
	s->upgrade_rollback = true;
	snprintf(s->exec_path, sizeof(s->exec_path), "%s", rstr(o, "from_bin"));
	log_error("siteupgrade", "rolling_back",
		  "from=%s to=%s reason=\"%s\" action=\"starting %s\"", rstr(o, "from"),
		  rstr(o, "to"), reason, s->exec_path);
	rc = s->exec_path[0] ? 0 : -STEWARD_ENOTFOUND;
out:
	pthread_mutex_unlock(&su_lock);
	json_decref(o);
	return rc;
}

int site_upgrade_before_exec(struct site *s)
{
	json_t *o;
	int rc;

	if (!s->upgrade_rollback)
		return 0; /* the upgrade itself */
	o = record_load(s);
	rc = o ? roll_back(s, o, rstr(o, "reason")) : -STEWARD_ENOTFOUND;
	if (rc)
		log_error("siteupgrade", "not_going_back",
			  "message=\"the backup cannot be restored; the old version would not run "
			  "on this database\" remedy=\"free space under data_dir and start "
			  "stewardd again: it finishes the rollback\"");
	json_decref(o);
	return rc;
}

/* ---- the watch ---------------------------------------------------------------------- */

static void watch_end(struct site *s)
{
	atomic_store(&s->watch.on, false);
	if (s->watch.curl)
		http_client_global_cleanup();
	s->watch.curl = false;
}

void site_upgrade_serving(struct site *s)
{
	json_t *o;
	int64_t now = time_now_s();

	if (s->upgrade_trial) {
		pthread_mutex_lock(&su_lock);
		o = record_load(s);
		if (o && s->cfg.site_upgrade_watch > 0) {
			json_object_set_new(o, "state", json_string("watching"));
			set_time(o, "watch_started", "watch_started_at", now);
			set_time(o, "watch_until", "watch_until_at",
				 now + s->cfg.site_upgrade_watch);
			if (record_save(s, o) == 0) {
				s->watch.started = now;
				s->watch.until = now + s->cfg.site_upgrade_watch;
				atomic_store(&s->watch.on, true);
			}
			point_current(s, proto_self_version());
			log_info("siteupgrade", "watching", "from=%s to=%s until=%s",
				 rstr(o, "from"), proto_self_version(), rstr(o, "watch_until_at"));
		} else if (o) {
			json_object_set_new(o, "state", json_string("succeeded"));
			json_object_set_new(o, "ended", json_integer(now));
			record_save(s, o);
			point_current(s, proto_self_version());
			log_info("siteupgrade", "succeeded", "from=%s to=%s", rstr(o, "from"),
				 proto_self_version());
		}
		json_decref(o);
		s->upgrade_trial = false;
		pthread_mutex_unlock(&su_lock);
	}
	if (atomic_load(&s->watch.on)) {
		s->watch.serving = now;
		s->watch.next_check = now;
		s->watch.fails = 0;
		s->watch.oks = 0;
		s->watch.curl = http_client_global_init() == 0;
	}
}

/* The version on watch answers: a setting written and read back through
 * the store, GET /health on loopback through the listener. */
static int health_check(struct site *s, char *why, size_t whysz)
{
	char val[32], got[32] = "", url[160];
	const char *a = s->cfg.listen_addr;
	struct http_call c = {
	    .method = "GET", .url = url, .timeout_ms = SU_HEALTH_TIMEOUT_MS, .max_response = 4096};
	struct http_resp r;
	struct steward_err err = {.code = ""};
	struct tls_trust own = {0};
	int rc;

	snprintf(val, sizeof(val), "%lld", (long long)time_now_ms());
	rc = s->store->ops->setting_set(s->store, SU_HEALTH_KEY, val);
	if (!rc)
		rc = s->store->ops->setting_get(s->store, SU_HEALTH_KEY, got, sizeof(got));
	if (rc || strcmp(val, got) != 0) {
		snprintf(why, whysz, "the database does not answer a write: %s",
			 rc ? steward_strerror(rc) : "another value came back");
		return -STEWARD_ESTORE;
	}
	if (strcmp(a, "0.0.0.0") == 0)
		a = "127.0.0.1";
	else if (strcmp(a, "::") == 0)
		a = "::1";
	snprintf(url, sizeof(url), strchr(a, ':') ? "%s://[%s]:%u/health" : "%s://%s:%u/health",
		 s->tls_pin[0] ? "https" : "http", a, http_server_port(s->http));
	if (s->tls_pin[0]) {
		/* its own certificate, by its own pin */
		own.n_pins = 1;
		memcpy(own.pins[0], s->tls_pin_raw, TLS_PIN_BYTES);
		c.trust = &own;
	}
	http_resp_init(&r);
	rc = s->watch.curl ? http_call(&c, &r, &err) : -STEWARD_EIO;
	if (rc)
		snprintf(why, whysz, "the listener does not answer on loopback: %.300s",
			 s->watch.curl ? err.message : "libcurl did not initialise");
	else if (r.status != 200)
		snprintf(why, whysz, "GET %s answered %ld", url, r.status);
	http_resp_free(&r);
	return rc ? rc : (r.status == 200 ? 0 : -STEWARD_EIO);
}

/* Under su_lock: the record of this version's watch, if it is still on. */
static json_t *watch_record(struct site *s)
{
	json_t *o;

	if (!atomic_load(&s->watch.on))
		return NULL;
	o = record_load(s);
	if (o && strcmp(rstr(o, "state"), "watching") == 0 &&
	    strcmp(rstr(o, "to"), proto_self_version()) == 0)
		return o;
	json_decref(o);
	return NULL;
}

#ifdef STEWARD_TEST_DIES_AFTER_START
/* Test releases only (tests/system/test_site_upgrade_watch.sh): the
 * version on watch fails STEWARD_TEST_FAULT_AFTER seconds (default 2)
 * after it serves, the way STEWARD_TEST_FAULT says: "die" (the default:
 * SIGKILL, as a crash or the OOM killer would end it), "unhealthy" (its
 * listener closes, so its health checks fail while it lives) or "none".
 * With STEWARD_TEST_FAULT_FILE set, only while that file exists
 * (test_site_systems_retry.sh: the cause fixed, the retry succeeds). */
static void test_fault(struct site *s, int64_t now)
{
	static bool unhealthy;
	const char *how = getenv("STEWARD_TEST_FAULT"), *after = getenv("STEWARD_TEST_FAULT_AFTER");
	const char *file = getenv("STEWARD_TEST_FAULT_FILE");

	if (now < s->watch.serving + (after ? strtoll(after, NULL, 10) : 2) ||
	    (how && strcmp(how, "none") == 0) || unhealthy || (file && access(file, F_OK) != 0))
		return;
	if (how && strcmp(how, "unhealthy") == 0) {
		log_warn("siteupgrade", "test_fault", "fault=unhealthy");
		http_server_quiesce(s->http);
		unhealthy = true;
		return;
	}
	log_warn("siteupgrade", "test_fault", "fault=die");
	kill(getpid(), SIGKILL);
}
#endif

int site_upgrade_tick(struct site *s)
{
	int64_t now = time_now_s();
	char why[400], reason[512];
	json_t *o;

	if (!atomic_load(&s->watch.on) || atomic_load(&s->upgrading))
		return 0;
#ifdef STEWARD_TEST_DIES_AFTER_START
	test_fault(s, now);
#endif
	if (now >= s->watch.next_check) {
		s->watch.next_check = now + s->cfg.site_upgrade_health_interval;
		if (health_check(s, why, sizeof(why)) == 0) {
			if (s->watch.fails)
				log_info("siteupgrade", "health_check_passed", "after_failures=%d",
					 s->watch.fails);
			s->watch.fails = 0;
			s->watch.oks++;
			pthread_mutex_lock(&su_lock);
			if ((o = watch_record(s))) { /* for the reason, should it die */
				json_object_set_new(o, "checked", json_integer(now));
				record_save(s, o);
			}
			pthread_mutex_unlock(&su_lock);
			json_decref(o);
		} else if (++s->watch.fails < SU_HEALTH_FAILS) {
			log_warn("siteupgrade", "health_check_failed",
				 "failures=%d of=%d why=\"%s\"", s->watch.fails, SU_HEALTH_FAILS,
				 why);
		} else {
			log_error("siteupgrade", "health_check_failed",
				  "failures=%d of=%d why=\"%s\"", s->watch.fails, SU_HEALTH_FAILS,
				  why);
			/* no upgrade may start while this one goes back */
			if (atomic_exchange(&s->upgrading, true))
				return 0;
			snprintf(reason, sizeof(reason),
				 "the new version failed its health check %d times in a row: %s",
				 s->watch.fails, why);
			if (site_upgrade_failed(s, reason) == 0) {
				watch_end(s);
				return 1;
			}
			atomic_store(&s->upgrading, false);
			log_error("siteupgrade", "cannot_go_back",
				  "message=\"the upgrade record cannot be written; the new version "
				  "keeps running\"");
			watch_end(s);
			return 0;
		}
	}
	if (now >= s->watch.until && s->watch.fails == 0 && s->watch.oks > 0) {
		pthread_mutex_lock(&su_lock);
		if ((o = watch_record(s))) {
			json_object_set_new(o, "state", json_string("succeeded"));
			json_object_set_new(o, "ended", json_integer(now));
			if (record_save(s, o) == 0)
				log_info("siteupgrade", "succeeded", "from=%s to=%s watched=%llds",
					 rstr(o, "from"), proto_self_version(),
					 (long long)(now - s->watch.started));
		}
		pthread_mutex_unlock(&su_lock);
		json_decref(o);
		watch_end(s);
	}
	return 0;
}

void site_upgrade_stopped(struct site *s)
{
	json_t *o;

	pthread_mutex_lock(&su_lock);
	if (!atomic_load(&s->upgrading) && (o = watch_record(s))) {
		json_object_set_new(o, "stopped_cleanly", json_integer(time_now_s()));
		if (record_save(s, o) == 0)
			log_info("siteupgrade", "watch_paused",
				 "to=%s until=%s message=\"stopped cleanly: the watch goes on when "
				 "it starts again\"",
				 proto_self_version(), rstr(o, "watch_until_at"));
		json_decref(o);
	}
	pthread_mutex_unlock(&su_lock);
	watch_end(s);
}

void site_upgrade_show(struct site *s, json_t *site_obj)
{
	json_t *o = record_load(s);

	if (o) {
		json_object_del(o, "from_bin");
		json_object_del(o, "to_bin");
		if (strcmp(rstr(o, "state"), "watching") == 0)
			json_object_set_new(o, "watch_left",
					    json_integer(rnum(o, "watch_until") > time_now_s()
							     ? rnum(o, "watch_until") - time_now_s()
							     : 0));
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
	snprintf(dir, sizeof(dir), "%s/versions/%s/bin", s->cfg.data_dir, proto_self_version());
	if ((size_t)snprintf(bin, binsz, "%s/stewardd", dir) >= binsz)
		return steward_err_set(err, STEWARD_ETOOBIG, "site_upgrade_failed",
				       "use a shorter data_dir", "the path %s is too long", dir);
	if (strcmp(self, bin) == 0)
		return 0;
	/* copied from /proc/self/exe, not from the path it names: a package
	 * upgrade may have replaced or removed that file while this stewardd
	 * runs ("PATH (deleted)"), and the running binary is the one to keep */
	if (file_mkdirs(dir, 0755) != 0 || copy_file("/proc/self/exe", bin, 0755) != 0)
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
	if (strcmp(comp->version, proto_self_version()) == 0) {
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
	bool watched;
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
		 proto_self_version(), comp->version, (long long)time_now_s());
	rc = s->store->ops->backup(s->store, backup);
	if (rc)
		return steward_err_set(err, -rc, "site_upgrade_failed", "check the disk under data_dir",
				       "cannot back up the database to %s: %s", backup,
				       steward_strerror(rc));
	*record = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "state", "trial", "from",
			    proto_self_version(), "to", comp->version, "from_bin", from_bin, "to_bin",
			    to_bin, "backup", backup, "started", (json_int_t)time_now_s(),
			    "started_at", ts);
	if (!*record)
		return -STEWARD_ENOMEM;
	/* a version on watch that upgrades again ends its watch: it is the one
	 * the new upgrade goes back to, with a backup of its database */
	pthread_mutex_lock(&su_lock);
	watched = atomic_exchange(&s->watch.on, false);
	rc = record_save(s, *record);
	if (rc)
		atomic_store(&s->watch.on, watched);
	pthread_mutex_unlock(&su_lock);
	if (watched && !rc)
		log_info("siteupgrade", "watch_ended",
			 "version=%s reason=\"an upgrade to %s started\"", proto_self_version(),
			 comp->version);
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
	log_info("siteupgrade", "starting", "from=%s to=%s backup=%s by=%s", proto_self_version(),
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
	if (strcmp(to, proto_self_version()) == 0)
		rc = steward_err_set(&err, STEWARD_EEXIST, "site_upgrade_refused",
				     "stewardctl site show gives the version that runs",
				     "this site already runs %s", to);
	else
		rc = release_of(s, to, &r, &err);
	if (!rc)
		rc = site_upgrade_start(s, &r, site_admin_who(req),
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

bool site_upgrade_watching(struct site *s, int64_t *until)
{
	/* the watch is kept by the main loop, which is where this is asked */
	if (!atomic_load(&s->watch.on))
		return false;
	*until = s->watch.until;
	return true;
}

bool site_upgrade_rolled_back_why(struct site *s, char *to, size_t tosz, char *why, size_t whysz)
{
	json_t *o = record_load(s);
	bool rolled = o && strcmp(rstr(o, "state"), "rolled_back") == 0 &&
		      strcmp(rstr(o, "from"), proto_self_version()) == 0;

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

/* ---- readiness for a coordinated upgrade ---------------------------------------------- */

#define SU_BACKUP_SLACK (64ull << 20) /* room beyond the database: staging, the log */

static uint64_t file_bytes(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

/* The newest DATA_DIR/backups/steward-*.db, 0 when there is none. */
static int64_t newest_backup(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int64_t newest = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		size_t n = strlen(de->d_name);

		if (strncmp(de->d_name, "steward-", 8) != 0 || n < 4 ||
		    strcmp(de->d_name + n - 3, ".db") != 0 ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime > newest)
			newest = st.st_mtime;
	}
	closedir(d);
	return newest;
}

json_t *site_upgrade_readiness(struct site *s)
{
	char dir[PATH_MAX], db[PATH_MAX], wal[PATH_MAX + 8], why[PATH_MAX + 160] = "";
	uint64_t bytes, avail = 0;
	struct statvfs vf;
	struct stat st;
	int64_t last;
	bool have_dir;

	su_path(s, "backups", dir, sizeof(dir));
	su_path(s, "steward.db", db, sizeof(db));
	snprintf(wal, sizeof(wal), "%s-wal", db);
	have_dir = stat(dir, &st) == 0;
	if (have_dir && !S_ISDIR(st.st_mode))
		snprintf(why, sizeof(why), "%s is not a directory", dir);
	if (s->cfg.database && s->cfg.database[0]) {
		/* on PostgreSQL, pg_dump writes the backup under data_dir too */
		if (!s->store || !s->store->ops->db_bytes ||
		    s->store->ops->db_bytes(s->store, &bytes) != 0) {
			bytes = 0;
			if (!why[0])
				snprintf(why, sizeof(why),
					 "cannot read the size of the database (is PostgreSQL "
					 "reachable?)");
		}
	} else {
		bytes = file_bytes(db) + file_bytes(wal);
	}
	if (statvfs(have_dir && !why[0] ? dir : s->cfg.data_dir, &vf) == 0)
		avail = (uint64_t)vf.f_bavail * vf.f_frsize;
	else if (!why[0])
		snprintf(why, sizeof(why), "cannot read the free space of %s: %s", s->cfg.data_dir,
			 strerror(errno));
	if (!why[0] && avail < bytes + SU_BACKUP_SLACK)
		snprintf(why, sizeof(why),
			 "%llu MiB free under %s, the backup of its %llu MiB database needs %llu",
			 (unsigned long long)(avail >> 20), s->cfg.data_dir,
			 (unsigned long long)(bytes >> 20),
			 (unsigned long long)((bytes + SU_BACKUP_SLACK) >> 20));
	last = why[0] ? 0 : newest_backup(dir);
	return json_pack("{s:I,s:I,s:o,s:s}", "db_bytes", (json_int_t)bytes, "free_bytes",
			 (json_int_t)avail, "last_backup", last ? time_json(last) : json_null(),
			 "problem", why);
}

/* ---- a package upgrade ---------------------------------------------------------------- */

/* stewardd --prepare-upgrade VERSION: the site upgrade's steps 2, 4 and 5
 * run by the version being replaced, before a package manager puts
 * stewardd VERSION in its place (packaging/deb/steward-site.preinst).
 * The running binary is kept in DATA_DIR/versions, the database is backed
 * up, and the record says "trial" from this version to VERSION; the new
 * stewardd's next start then finds the record and, exactly as after
 * stewardctl site upgrade, restores the backup and execs this version if it
 * cannot serve, or is watched for site_upgrade_watch once it does.
 * Returns 0 (prepared), 1 (VERSION is this version: nothing to do) or a
 * negative error with err set. stewardd must not be running. */
int site_upgrade_prepare_package(struct site *s, const char *to, struct steward_err *err)
{
	char dbpath[PATH_MAX], from_bin[PATH_MAX], backup[PATH_MAX], ts[32];
	unsigned a, b, c;
	char extra;
	json_t *o = NULL;
	int rc;

	if (strlen(to) > 32 || sscanf(to, "%u.%u.%u%c", &a, &b, &c, &extra) != 3)
		return steward_err_set(err, STEWARD_EINVAL, "site_upgrade_refused",
				       "give the new version as X.Y.Z",
				       "'%.40s' is not a version X.Y.Z", to);
	if (strcmp(to, proto_self_version()) == 0)
		return 1;
	rc = lock_data_dir(s);
	if (rc == -STEWARD_EBUSY)
		return steward_err_set(
		    err, STEWARD_EBUSY, "data_dir_in_use",
		    "stop stewardd first (systemctl stop stewardd), then try again",
		    "a running stewardd holds %s/" SU_LOCK, s->cfg.data_dir);
	if (rc)
		return steward_err_set(
		    err, STEWARD_EIO, "site_upgrade_failed",
		    "check that data_dir exists and belongs to the user stewardd runs as",
		    "cannot lock %s/" SU_LOCK ": %s", s->cfg.data_dir, strerror(errno));
	o = record_load(s);
	if (o && (strcmp(rstr(o, "state"), "trial") == 0 ||
		  strcmp(rstr(o, "state"), "rolling_back") == 0 ||
		  (strcmp(rstr(o, "state"), "watching") == 0 &&
		   strcmp(rstr(o, "to"), proto_self_version()) != 0))) {
		rc = steward_err_set(
		    err, STEWARD_EEXIST, "site_upgrade_refused",
		    "start stewardd once so that it finishes that upgrade, then try again",
		    "the upgrade from %s to %s is %s", rstr(o, "from"), rstr(o, "to"),
		    rstr(o, "state"));
		goto out;
	}
	if (s->cfg.database && s->cfg.database[0])
		snprintf(dbpath, sizeof(dbpath), "%s", s->cfg.database);
	else
		snprintf(dbpath, sizeof(dbpath), "%s/steward.db", s->cfg.data_dir);
	rc = store_sqlite_ops.open(dbpath, &s->store, err);
	if (rc)
		goto out;
	if ((rc = keep_current(s, from_bin, sizeof(from_bin), err)))
		goto out;
	snprintf(backup, sizeof(backup), "%s/backups", s->cfg.data_dir);
	if (file_mkdirs(backup, 0700) != 0) {
		rc = steward_err_set(err, STEWARD_EIO, "site_upgrade_failed", "check the disk",
				     "cannot create %s", backup);
		goto out;
	}
	snprintf(backup, sizeof(backup), "%s/backups/steward-%s-before-%s-%lld.db", s->cfg.data_dir,
		 proto_self_version(), to, (long long)time_now_s());
	rc = s->store->ops->backup(s->store, backup);
	if (rc) {
		steward_err_set(err, -rc, "site_upgrade_failed", "check the disk under data_dir",
				"cannot back up the database to %s: %s", backup,
				steward_strerror(rc));
		goto out;
	}
	json_decref(o);
	time_rfc3339(time_now_s(), ts);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "state", "trial", "from",
		      proto_self_version(), "to", to, "from_bin", from_bin, "to_bin", "", "backup",
		      backup, "started", (json_int_t)time_now_s(), "started_at", ts, "by",
		      "package");
	if (!o) {
		rc = -STEWARD_ENOMEM;
		goto out;
	}
	rc = record_save(s, o);
	if (rc) {
		steward_err_set(err, -rc, "site_upgrade_failed", "check the disk under data_dir",
				"cannot write %s/" SU_RECORD, s->cfg.data_dir);
		goto out;
	}
	log_info("siteupgrade", "package_prepared", "from=%s to=%s backup=%s from_bin=%s",
		 proto_self_version(), to, backup, from_bin);
out:
	json_decref(o);
	if (s->store) {
		s->store->ops->close(s->store);
		s->store = NULL;
	}
	return rc;
}

/* upgrade: the agent's side of switching releases under the launcher.
 *
 * The site offers an agent release in the check-in reply (client_upgrade:
 * the signed release manifest, countersigned with the site key the agent
 * trusts since enrollment, and where to download). The countersignature
 * says only that the site offers it: before anything is downloaded the
 * manifest must be signed by a release key this agent trusts, unexpired,
 * and not older than what ran here unless the release key authorized the
 * rollback (release_allowed; docs/security.md). A supervised agent
 * downloads the offered component's files through the distribution points
 * (the same resumable, verified downloads as software distribution), builds
 * them into the inactive slot, writes PREFIX/upgrade.request and exits with
 * SLOTS_EXIT_SWITCH; the launcher switches and health-checks (launcher.c).
 * The agent that runs next reports the outcome from PREFIX/upgrade.result as
 * a status message (upgrade_succeeded, upgrade_failed_rolled_back).
 *
 * When the offer carries the release's delta list (release.deltas, signed
 * by the release key for this manifest), a file whose base is the file at
 * the same path in the running slot is rebuilt from a patch: fetched like
 * any blob, applied, checked against the file's hash in the manifest and
 * only then put into the cache as that file. Anything else (no list, another
 * base, a failed download or patch) falls back to the whole file, and the
 * log says why (upgrade_delta). docs/internals/deltas.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "steward/content.h"

#include "agent.h"
#include "inventory.h"
#include "slots.h"

#define OFFER_CONTEXT "steward-client-upgrade-v1\n"
#define INVENTORY_RUN_S 120 /* one run of steward-inventory */

/* The newest release run here: anti-rollback's floor. */
static const char *newest_run(const struct agent *ag)
{
	const char *self = proto_self_version();

	if (ag->st.newest_release[0] && proto_semver_cmp(ag->st.newest_release, self) > 0)
		return ag->st.newest_release;
	return self;
}

void upgrade_open(struct agent *ag)
{
	const char *p = getenv(SLOTS_ENV_PREFIX), *t = getenv(SLOTS_ENV_TRIAL);
	const char *run = getenv(SLOTS_ENV_RUN);
	struct stat st;

	memset(&ag->up, 0, sizeof(ag->up));
	if (!p || !*p)
		return;
	if (p[0] != '/' || strlen(p) >= sizeof(ag->up.prefix) || stat(p, &st) != 0 ||
	    !S_ISDIR(st.st_mode)) {
		log_warn("agent", "launcher_dir_bad", "dir=\"%.200s\" action=\"upgrades off\"", p);
		return;
	}
	snprintf(ag->up.prefix, sizeof(ag->up.prefix), "%s", p);
	if (t && strlen(t) < sizeof(ag->up.trial))
		snprintf(ag->up.trial, sizeof(ag->up.trial), "%s", t);
	/* hex only: it goes into the stamp the launcher parses */
	if (run && *run && strlen(run) <= SLOTS_RUN_MAX &&
	    strspn(run, "0123456789abcdef") == strlen(run))
		snprintf(ag->up.run, sizeof(ag->up.run), "%s", run);
	{
		char bin[PATH_MAX];

		snprintf(bin, sizeof(bin), "%s/" SLOTS_CURRENT "/" SLOTS_INVENTORY_BIN, ag->up.prefix);
		if (access(bin, X_OK) == 0)
			exec_version(bin, INVENTORY_RUN_S, ag->up.inventory, sizeof(ag->up.inventory));
	}
	log_info("agent", "supervised", "prefix=%s slot=%c trial=%s inventory=%s", ag->up.prefix,
		 slots_current(ag->up.prefix) ? slots_current(ag->up.prefix) : '-',
		 ag->up.trial[0] ? ag->up.trial : "-",
		 ag->up.inventory[0] ? ag->up.inventory : "built-in");
}

void upgrade_close(struct agent *ag)
{
	json_decref(ag->up.offer);
	ag->up.offer = NULL;
}

static int read_prefix_file(const struct agent *ag, const char *name, char **text)
{
	char path[PATH_MAX];
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", ag->up.prefix, name);
	*text = NULL;
	return file_read_all(path, SLOTS_FILE_MAX, text, &len);
}

void upgrade_before_checkin(struct agent *ag)
{
	char *text = NULL, res[16], ver[SLOTS_VALUE_MAX + 1], why[SLOTS_VALUE_MAX + 1];
	char rel[SLOTS_VALUE_MAX + 1];

	if (!ag->up.prefix[0] || ag->up.result_sent || read_prefix_file(ag, SLOTS_RESULT, &text))
		return;
	if (slots_value(text, "result", res, sizeof(res)) ||
	    slots_value(text, "version", ver, sizeof(ver)))
		snprintf(res, sizeof(res), "bad");
	if (slots_value(text, "reason", why, sizeof(why)))
		snprintf(why, sizeof(why), "-");
	if (slots_value(text, "release", rel, sizeof(rel)))
		snprintf(rel, sizeof(rel), "%s", ver);
	free(text);
	if (strcmp(res, "succeeded") == 0) {
		agent_status_add(ag, "upgrade_succeeded", "now running %s (slot %c)", rel,
				 slots_current(ag->up.prefix));
		/* the release may be newer than its base (an optional component moved) */
		if (strlen(rel) < sizeof(ag->st.newest_release) &&
		    proto_semver_parse(rel, &(int){0}, &(int){0}, &(int){0}) == 0 &&
		    proto_semver_cmp(rel, newest_run(ag)) > 0) {
			memcpy(ag->st.newest_release, rel, strlen(rel) + 1);
			agent_save(ag, &(struct steward_err){0});
		}
	} else if (strcmp(res, "failed") == 0)
		agent_status_add(ag, "upgrade_failed_rolled_back",
				 "upgrade to %s failed and was rolled back to %s: %s", rel,
				 proto_self_version(), why);
	else
		log_warn("agent", "upgrade_result_bad", "prefix=%s", ag->up.prefix);
	ag->up.result_sent = true;
}

void upgrade_after_checkin(struct agent *ag)
{
	char path[PATH_MAX + 16], stamp[128];

	if (!ag->up.prefix[0])
		return;
	if (ag->up.result_sent) {
		snprintf(path, sizeof(path), "%s/" SLOTS_RESULT, ag->up.prefix);
		if (unlink(path) != 0 && errno != ENOENT)
			log_warn("agent", "unlink_failed", "path=%s", path);
		ag->up.result_sent = false;
	}
	/* what ran here (a check-in went through) is anti-rollback's floor */
	if (strcmp(newest_run(ag), ag->st.newest_release) != 0) {
		snprintf(ag->st.newest_release, sizeof(ag->st.newest_release), "%s",
			 newest_run(ag));
		agent_save(ag, &(struct steward_err){0});
	}
	/* what the launcher waits for after a switch: this process (its run
	 * id) had a check-in acknowledged */
	snprintf(path, sizeof(path), "%s/health", ag->state_dir);
	snprintf(stamp, sizeof(stamp), "%s %lld %s\n", proto_self_version(), (long long)time_now_s(),
		 ag->up.run[0] ? ag->up.run : "-");
	if (file_write_atomic(path, stamp, strlen(stamp), 0600) != 0)
		log_warn("agent", "health_stamp_failed", "path=%s", path);
}

void upgrade_policy(struct agent *ag, json_t *reply)
{
	json_t *o = json_object_get(reply, "client_upgrade");

	json_decref(ag->up.offer);
	ag->up.offer = json_is_object(o) ? json_incref(o) : NULL;
}

/* Once per offered version: why it is not taken. */
static void not_taken(struct agent *ag, const char *version, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void not_taken(struct agent *ag, const char *version, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (strcmp(ag->up.said, version) == 0)
		return;
	snprintf(ag->up.said, sizeof(ag->up.said), "%s", version);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_info("agent", "upgrade_not_taken", "version=%s reason=\"%s\"", version, why);
}

static void failed(struct agent *ag, const char *version, const struct steward_err *err)
{
	log_warn("agent", "upgrade_failed", "version=%s code=%s message=\"%s\"", version, err->code,
		 err->message);
	agent_status_add(ag, "upgrade_failed", "upgrade to %s: %s", version, err->message);
}

/* The offer is the site's: its key countersigned the manifest's hash. */
static int offer_check(struct agent *ag, json_t *o, const char **text, size_t *len,
		       struct content_release *r, struct steward_err *err)
{
	const char *sig = json_string_value(json_object_get(o, "signature"));
	char hash[CONTENT_HASH_HEX + 1], canon[sizeof(OFFER_CONTEXT) + CONTENT_HASH_HEX + 2];
	uint8_t pk[PROTO_PK_BYTES];

	*text = json_string_value(json_object_get(o, "manifest"));
	*len = *text ? json_string_length(json_object_get(o, "manifest")) : 0;
	if (!*text || !sig)
		return steward_err_set(err, STEWARD_EINVAL, "bad_reply", "",
				       "the offer has no manifest or signature");
	if (!ag->st.site_key[0] || hex_decode(ag->st.site_key, pk, sizeof(pk)) != 0)
		return steward_err_set(err, STEWARD_EAUTH, "upgrade_untrusted", "",
				       "this agent holds no site key to check the offer with");
	content_hash_buf(*text, *len, hash);
	snprintf(canon, sizeof(canon), OFFER_CONTEXT "%s\n", hash);
	if (proto_verify(pk, canon, sig) != 0)
		return steward_err_set(err, STEWARD_EAUTH, "upgrade_untrusted", "",
				       "the offer's signature is not the site's");
	return content_release_parse(*text, *len, NULL, 0, r, err);
}

/* ---- release keys (docs/security.md) ------------------------------ */

_Static_assert(AGENT_RELEASE_KEYS_MAX == CONTENT_RELEASE_KEYS_MAX, "one cap on release keys");

static bool key_trusted(const struct agent *ag, const uint8_t key[PROTO_PK_BYTES])
{
	char hex[2 * PROTO_PK_BYTES + 1];

	hex_encode(key, PROTO_PK_BYTES, hex);
	for (size_t i = 0; i < ag->st.n_release_keys; i++)
		if (strcmp(ag->st.release_keys[i], hex) == 0)
			return true;
	return false;
}

/* The site's list, checked against the site key this agent trusts. */
static int site_list(struct agent *ag, json_t *o, const char **keys, size_t *n)
{
	json_t *a = json_object_get(o, "keys"), *v;
	const char *sig = json_string_value(json_object_get(o, "signature"));
	uint8_t pk[PROTO_PK_BYTES];
	char *canon;
	size_t i;
	int rc;

	*n = 0;
	if (!json_is_array(a) || !sig || json_array_size(a) == 0 ||
	    json_array_size(a) > AGENT_RELEASE_KEYS_MAX)
		return -STEWARD_EINVAL;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return -STEWARD_EINVAL;
		keys[(*n)++] = json_string_value(v);
	}
	canon = content_release_keys_canon(keys, *n);
	if (!canon || !ag->st.site_key[0] || hex_decode(ag->st.site_key, pk, sizeof(pk)) != 0) {
		free(canon);
		return -STEWARD_EINVAL;
	}
	rc = proto_verify(pk, canon, sig) == 0 ? 0 : -STEWARD_EAUTH;
	free(canon);
	return rc;
}

void upgrade_release_keys(struct agent *ag, json_t *o, bool enrolling)
{
	const char *keys[AGENT_RELEASE_KEYS_MAX];
	json_t *e, *ends = json_object_get(o, "endorsements");
	size_t n = 0, i;
	bool changed = false, more = true;

	if (!json_is_object(o))
		return;
	/* the site's own list: at enrollment (the reply the token
	 * authenticates), or once for an agent enrolled before it had any */
	if ((enrolling || ag->st.n_release_keys == 0) && json_object_get(o, "keys")) {
		if (site_list(ag, o, keys, &n) != 0) {
			log_warn(
			    "agent", "release_keys_bad",
			    "message=\"the site's release_keys do not verify with its site key; "
			    "kept the %zu trusted before\"",
			    ag->st.n_release_keys);
		} else {
			ag->st.n_release_keys = n;
			for (i = 0; i < n; i++)
				snprintf(ag->st.release_keys[i], sizeof(ag->st.release_keys[0]),
					 "%s", keys[i]);
			changed = true;
			log_info("agent", "release_keys_stored", "keys=%zu from=%s", n,
				 enrolling ? "enrollment" : "site");
		}
	}
	/* endorsements: a new key only on the word of one already trusted;
	 * repeated so that a chain (A endorses B, B endorses C) reaches C */
	while (more && json_is_array(ends)) {
		more = false;
		json_array_foreach(ends, i, e)
		{
			struct content_endorsement en;
			struct steward_err err;

			if (ag->st.n_release_keys >= AGENT_RELEASE_KEYS_MAX)
				break;
			if (!json_is_string(e) ||
			    content_endorse_parse(json_string_value(e), &en, &err) != 0 ||
			    !key_trusted(ag, en.by) || key_trusted(ag, en.key))
				continue;
			hex_encode(en.key, PROTO_PK_BYTES,
				   ag->st.release_keys[ag->st.n_release_keys++]);
			log_info("agent", "release_key_endorsed", "key=%s",
				 ag->st.release_keys[ag->st.n_release_keys - 1]);
			changed = more = true;
		}
	}
	if (changed && !enrolling) /* enrollment saves the state itself */
		agent_save(ag, &(struct steward_err){0});
}

/* Once per offered release: refused, the agent keeps its slot and tells
 * the site why (the status type is the code). */
static void refused(struct agent *ag, const char *release, const struct steward_err *err)
{
	if (strcmp(ag->up.said, release) != 0)
		agent_status_add(ag, err->code, "%s (remedy: %s)", err->message, err->remedy);
	not_taken(ag, release, "%s: %s", err->code, err->message);
}

/* What the release key says, not only the site: a key this agent trusts,
 * not expired, not older than what ran here unless the release key
 * authorized the rollback. */
static int release_allowed(struct agent *ag, json_t *o, const struct content_release *r,
			   struct steward_err *err)
{
	char keyhex[2 * PROTO_PK_BYTES + 1], when[32];
	const char *floor = newest_run(ag), *line, *why;
	struct content_rollback rb;
	struct steward_err rerr = {.code = ""};
	int64_t now = time_now_s();

	hex_encode(r->key, PROTO_PK_BYTES, keyhex);
	if (!key_trusted(ag, r->key))
		return steward_err_set(
		    err, STEWARD_EAUTH, "release_key_untrusted",
		    "sign releases with a key the agents trust, or give them the new key endorsed "
		    "by one they trust (stewardctl releases endorse-key)",
		    "release %s is signed with release key %s, which this agent does not trust "
		    "(it trusts %zu)",
		    r->version, keyhex, ag->st.n_release_keys);
	if (r->expires <= now) {
		time_rfc3339(r->expires, when);
		return steward_err_set(err, STEWARD_EAUTH, "release_expired",
				       "build the release again (releases build --valid-for) and "
				       "import it",
				       "release %s expired at %s", r->version, when);
	}
	if (proto_semver_cmp(r->version, floor) >= 0)
		return 0;
	line = json_string_value(json_object_get(o, "rollback_authorization"));
	if (!line)
		why = "the offer carries no rollback authorization";
	else if (content_rollback_parse(line, &rb, &rerr) != 0)
		why = rerr.message;
	else if (strcmp(rb.version, r->version) != 0)
		why = "its rollback authorization names another release";
	else if (!key_trusted(ag, rb.key))
		why = "its rollback authorization is signed by a key this agent does not trust";
	else if (rb.expires <= now)
		why = "its rollback authorization has expired";
	else {
		log_info("agent", "rollback_authorized", "release=%s newest=%s", r->version, floor);
		return 0;
	}
	return steward_err_set(err, STEWARD_EAUTH, "release_older",
			       "to take agents back on purpose, sign a rollback authorization "
			       "(stewardctl releases rollback-sign) and import the release with "
			       "--rollback --authorization",
			       "release %s is older than %s, which ran here: %s", r->version, floor,
			       why);
}

/* A slot holds the base component and every optional component of the
 * release that this base can carry (its needs_base at most the base's
 * version): each keeps its own version. */
static bool in_slot(const struct content_release *r, const char *name, const char *base)
{
	const struct content_component *c = content_release_component(r, name),
				       *b = content_release_component(r, base);

	if (!c || !b)
		return false;
	if (strcmp(name, base) == 0)
		return true;
	return c->kind == CONTENT_KIND_OPTIONAL &&
	       (!c->needs_base[0] || proto_semver_cmp(c->needs_base, b->version) <= 0);
}

/* ---- deltas -------------------------------------------------------------- */

/* The offer's delta list, checked: signed by the release's key, for this
 * manifest. false (and logged) when there is none worth using. */
static bool deltas_load(json_t *o, const struct content_release *r, struct content_deltas *ds)
{
	json_t *jd = json_object_get(o, "deltas"), *jm = json_object_get(o, "manifest");
	struct steward_err err = {.code = ""};
	char mhash[CONTENT_HASH_HEX + 1];

	memset(ds, 0, sizeof(*ds));
	if (!json_is_string(jd) || !json_is_string(jm))
		return false;
	content_hash_buf(json_string_value(jm), json_string_length(jm), mhash);
	if (content_deltas_parse(json_string_value(jd), json_string_length(jd), r->key, ds,
				 &err) != 0 ||
	    strcmp(ds->version, r->version) != 0 || strcmp(ds->manifest, mhash) != 0) {
		log_warn("agent", "upgrade_delta",
			 "release=%s outcome=fallback reason=\"the delta list does not check: "
			 "%.200s\"",
			 r->version, err.code[0] ? err.message : "it is for another manifest");
		content_deltas_clear(ds);
		return false;
	}
	return true;
}

static bool delta_for(const struct content_deltas *ds, const char *target)
{
	for (size_t i = 0; i < ds->n; i++)
		if (strcmp(ds->d[i].target, target) == 0)
			return true;
	return false;
}

/* Rebuild file f in the cache from a patch against the running slot's
 * file at the same path. true: the cache holds f, verified. */
static bool delta_try(struct agent *ag, const struct swdist_src *src, const struct content_deltas *ds,
		      const struct content_release_file *f)
{
	struct steward_err err = {.code = ""};
	const struct content_delta *d;
	char base_path[PATH_MAX + CONTENT_PATH_MAX + 2], blob[PATH_MAX], bhash[CONTENT_HASH_HEX + 1];
	char *base = NULL, *patch = NULL, why[640];
	void *out = NULL;
	size_t base_len = 0, patch_len = 0;
	uint64_t bsize = 0;
	int64_t t0;
	struct stat st;
	bool ok = false;

	if (!ds->n || !delta_for(ds, f->hash))
		return false;
	swdist_blob_path(ag, f->hash, blob, sizeof(blob));
	if (stat(blob, &st) == 0 && (uint64_t)st.st_size == f->size)
		return true; /* fetched before */
	snprintf(base_path, sizeof(base_path), "%s/" SLOTS_CURRENT "/%s", ag->up.prefix, f->path);
	if (content_hash_file(base_path, bhash, &bsize) != 0) {
		snprintf(why, sizeof(why), "the running slot has no %.300s", f->path);
		goto out;
	}
	d = content_deltas_find(ds, f->hash, bhash);
	if (!d) {
		snprintf(why, sizeof(why), "base mismatch: %.200s here is %s, not the file of release %s",
			 f->path, bhash, ds->previous);
		goto out;
	}
	if (swdist_fetch(ag, src, d->patch, d->patch_size, d->patch_size, &err) != 0) {
		snprintf(why, sizeof(why), "the patch did not download: %.300s", err.message);
		goto out;
	}
	t0 = time_mono_us();
	swdist_blob_path(ag, d->patch, blob, sizeof(blob));
	if (file_read_all(base_path, CONTENT_DELTA_FILE_MAX, &base, &base_len) != 0 ||
	    file_read_all(blob, CONTENT_DELTA_FILE_MAX, &patch, &patch_len) != 0) {
		snprintf(why, sizeof(why), "cannot read %.300s or the patch", base_path);
		goto out;
	}
	if (content_delta_apply(base, base_len, patch, patch_len, f->size, f->hash, &out, &err) !=
	    0) {
		snprintf(why, sizeof(why), "%.40s: %.300s", err.code, err.message);
		/* a patch that does not apply is not kept for the next try */
		unlink(blob);
		goto out;
	}
	swdist_blob_path(ag, f->hash, blob, sizeof(blob));
	if (file_write_atomic(blob, out, (size_t)f->size, 0600) != 0) {
		snprintf(why, sizeof(why), "cannot write %.300s", blob);
		goto out;
	}
	log_info("agent", "upgrade_delta",
		 "path=%s outcome=applied patch_bytes=%" PRIu64 " file_bytes=%" PRIu64
		 " apply_ms=%.1f from=%s",
		 f->path, d->patch_size, f->size, (double)(time_mono_us() - t0) / 1000.0,
		 ds->previous);
	ok = true;
out:
	if (!ok)
		log_warn("agent", "upgrade_delta",
			 "path=%s outcome=fallback reason=\"%s\" action=\"fetching the whole "
			 "file\"",
			 f->path, why);
	free(base);
	free(patch);
	free(out);
	return ok;
}

/* Build the component's files into PREFIX/slots/SLOT via a stage. */
static int build_slot(struct agent *ag, json_t *o, const struct content_release *r,
		      const char *component, char slot, struct steward_err *err)
{
	const char *dps[16];
	struct swdist_src src = {.dps = dps, .advert = 0, .revision = 0};
	char stage[PATH_MAX], final[PATH_MAX], dir[PATH_MAX + CONTENT_PATH_MAX + 2];
	json_t *jdps = json_object_get(o, "dps"), *v;
	struct content_deltas ds;
	size_t i;
	int dfd, rc = 0;

	json_array_foreach(jdps, i, v)
	{
		if (json_is_string(v) && src.n_dps < (int)(sizeof(dps) / sizeof(dps[0])))
			dps[src.n_dps++] = json_string_value(v);
	}
	src.token = json_string_value(json_object_get(o, "content_token"));
	if (!src.token)
		src.token = "";
	snprintf(stage, sizeof(stage), "%s/slots/.stage-%c", ag->up.prefix, slot);
	snprintf(final, sizeof(final), "%s/slots/%c", ag->up.prefix, slot);
	swdist_remove_tree(stage);
	if (file_mkdirs(stage, 0755) != 0)
		return steward_err_set(err, STEWARD_EIO, "upgrade_dir", "check the disk",
				       "cannot create %s: %s", stage, strerror(errno));
	dfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return steward_err_set(err, STEWARD_EIO, "upgrade_dir", "check the disk",
				       "cannot open %s", stage);
	deltas_load(o, r, &ds);
	for (i = 0; i < r->n_files && !rc; i++) {
		const struct content_release_file *f = &r->files[i];
		char *slash;

		if (!in_slot(r, f->component, component))
			continue;
		/* a patch when it works; the whole file when not */
		delta_try(ag, &src, &ds, f);
		rc = swdist_fetch(ag, &src, f->hash, f->size, f->size, err);
		if (rc)
			break;
		snprintf(dir, sizeof(dir), "%s/%s", stage, f->path);
		slash = strrchr(dir, '/');
		if (slash && slash > dir + strlen(stage)) {
			*slash = '\0';
			if (file_mkdirs(dir, 0755) != 0)
				rc = -STEWARD_EIO;
		}
		if (!rc && swdist_copy_blob(ag, f->hash, dfd, f->path, f->mode) != 0)
			rc = -STEWARD_EIO;
		if (rc)
			steward_err_set(err, STEWARD_EIO, "upgrade_dir",
					"check that the disk is not full",
					"cannot place %s into %s: %s", f->path, stage, strerror(errno));
	}
	content_deltas_clear(&ds);
	if (!rc && fsync(dfd) != 0)
		rc = steward_err_set(err, STEWARD_EIO, "upgrade_dir", "check the disk",
				     "cannot sync %s", stage);
	close(dfd);
	if (!rc) {
		swdist_remove_tree(final);
		if (rename(stage, final) != 0)
			rc = steward_err_set(err, STEWARD_EIO, "upgrade_dir", "check the disk",
					     "cannot rename %s to %s: %s", stage, final,
					     strerror(errno));
	}
	if (rc)
		swdist_remove_tree(stage);
	return rc;
}

bool upgrade_cycle(struct agent *ag)
{
	json_t *o = ag->up.offer;
	const char *version = json_string_value(json_object_get(o, "version"));
	const char *component = json_string_value(json_object_get(o, "component"));
	const char *text = NULL, *release, *inv;
	const struct content_component *c;
	struct content_release r;
	struct steward_err err;
	char *failed_v = NULL, req[128], path[PATH_MAX], cur, slot;
	size_t len = 0;
	bool switch_now = false;

	if (!o || !version || strlen(version) > CONTENT_VERSION_MAX)
		return false;
	release = json_string_value(json_object_get(o, "release"));
	if (!release || strlen(release) > CONTENT_VERSION_MAX)
		release = version;
	/* the base, or an optional component, is not what runs here */
	inv = json_string_value(json_object_get(json_object_get(o, "optional"), "inventory"));
	if (strcmp(version, proto_self_version()) == 0 &&
	    (!inv || strcmp(inv, ag->up.inventory[0] ? ag->up.inventory : proto_self_version()) == 0))
		return false;
	/* the site says why this agent is not offered the release (the matrix) */
	if (json_is_string(json_object_get(o, "not_offered"))) {
		if (strcmp(ag->up.said, version) != 0)
			agent_status_add(ag, "upgrade_not_offered", "%s",
					 json_string_value(json_object_get(o, "not_offered")));
		not_taken(ag, version, "%s", json_string_value(json_object_get(o, "not_offered")));
		return false;
	}
	if (!component)
		return false;
	if (!ag->up.prefix[0]) {
		not_taken(ag, version, "this agent runs without steward-launcher (install it with "
				       "bootstrap.sh to take upgrades)");
		return false;
	}
	if (read_prefix_file(ag, SLOTS_FAILED, &failed_v) == 0) {
		failed_v[strcspn(failed_v, "\n")] = '\0';
		if (strcmp(failed_v, release) == 0) {
			not_taken(ag, release, "it failed here before and was rolled back");
			free(failed_v);
			return false;
		}
	}
	free(failed_v);
	cur = slots_current(ag->up.prefix);
	if (!cur) {
		not_taken(ag, version, "%s/current is not a slot link", ag->up.prefix);
		return false;
	}
	slot = cur == 'A' ? 'B' : 'A';
	memset(&err, 0, sizeof(err));
	memset(&r, 0, sizeof(r));
	upgrade_release_keys(ag, json_object_get(o, "release_keys"), false);
	if (offer_check(ag, o, &text, &len, &r, &err) != 0) {
		failed(ag, version, &err);
		return false;
	}
	if (release_allowed(ag, o, &r, &err) != 0) {
		refused(ag, r.version, &err);
		goto out;
	}
	c = content_release_component(&r, component);
	if (!c || c->kind != CONTENT_KIND_BASE || strcmp(c->version, version) != 0) {
		steward_err_set(&err, STEWARD_EINVAL, "bad_reply", "",
				"release %s has no base component %s %s", r.version, component,
				version);
		failed(ag, version, &err);
		goto out;
	}
	log_info("agent", "upgrade_downloading", "version=%s release=%s slot=%c", version,
		 r.version, slot);
	if (build_slot(ag, o, &r, component, slot, &err) != 0) {
		failed(ag, version, &err);
		goto out;
	}
	snprintf(req, sizeof(req), "slot %c\nversion %s\nrelease %s\n", slot, version, r.version);
	snprintf(path, sizeof(path), "%s/" SLOTS_REQUEST, ag->up.prefix);
	if (file_write_atomic(path, req, strlen(req), 0600) != 0) {
		steward_err_set(&err, STEWARD_EIO, "upgrade_dir", "check the disk",
				"cannot write %s", path);
		failed(ag, version, &err);
		goto out;
	}
	log_info("agent", "upgrade_ready", "version=%s slot=%c action=\"exiting for the launcher "
		 "to switch\"", version, slot);
	switch_now = true;
out:
	content_release_clear(&r);
	return switch_now;
}

int upgrade_inventory(struct agent *ag, json_t **out, struct steward_err *err)
{
	char bin[PATH_MAX];
	const char *argv[5];
	struct buf b;
	int rc, status = -1;

	*out = NULL;
	snprintf(bin, sizeof(bin), "%s/" SLOTS_CURRENT "/" SLOTS_INVENTORY_BIN, ag->up.prefix);
	if (!ag->up.prefix[0] || !ag->up.inventory[0] || access(bin, X_OK) != 0)
		return agent_inventory_collect(proto_self_version(), out, err);
	argv[0] = bin;
	argv[1] = "collect";
	argv[2] = "--base-version";
	argv[3] = proto_self_version();
	argv[4] = NULL;
	buf_init(&b, AGENT_INVENTORY_READ_MAX);
	rc = exec_capture(argv, INVENTORY_RUN_S, &b, &status);
	if (rc || status != 0) {
		buf_free(&b);
		return steward_err_set(err, STEWARD_EIO, "inventory_component",
				       "check PREFIX/log/agent.log; the next report tries again",
				       "steward-inventory %s %s", ag->up.inventory,
				       rc ? "could not be run or did not finish in time"
					  : "failed (exit status not 0)");
	}
	*out = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
	buf_free(&b);
	if (!json_is_object(*out) || !json_is_string(json_object_get(*out, "full_hash"))) {
		json_decref(*out);
		*out = NULL;
		return steward_err_set(err, STEWARD_EINVAL, "inventory_component",
				       "report this with the agent's log",
				       "steward-inventory %s printed no sealed inventory document",
				       ag->up.inventory);
	}
	return 0;
}

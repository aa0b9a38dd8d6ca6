/* dpsync: a remote distribution point pulls its content from the site server.
 *
 * A stewardd with `upstream` set runs one thread that, at start and then
 * every dp_sync_interval, asks the site for its key and code, for the index
 * of every blob its packages need, and fetches what the local store lacks.
 * Each blob streams from libcurl straight into a content put that hashes as
 * it writes, so only verified bytes ever become visible; a transfer that
 * stops half way is kept in the store's tmp/ and resumed with Range next
 * round. Blobs the index no longer lists leave after one more interval,
 * so a deleted package leaves remote distribution points too, and a slice
 * of the local store is re-hashed each round to find damaged blobs.
 *
 * The site's public key is kept in memory and in DATA_DIR/upstream.key:
 * auth.c verifies content tokens with it, also after a restart before the
 * site has answered. One sync thread per process, so the state is static.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "site.h"

#define TOKEN_LEN	    68 /* "stw_" and 64 hex digits */
#define TOKEN_FILE_MAX	    4096
#define KEY_FILE	    "upstream.key"
#define SITE_REPLY_MAX	    (1024 * 1024)	/* GET /api/v1/site */
#define INDEX_REPLY_MAX	    (64u * 1024 * 1024) /* GET /api/v1/content/index: ~700,000 blobs */
#define ERROR_BODY_MAX	    4096		/* an error reply to a blob request */
#define CONNECT_TIMEOUT_S   10
#define LOW_SPEED_BYTES	    1024 /* abort a transfer under 1 KB/s ... */
#define LOW_SPEED_TIME_S    60	 /* ... for a minute */
#define JSON_TIMEOUT_S	    120
#define BLOB_TIMEOUT_BASE_S 120		  /* plus the size at the slowest rate we wait out: */
#define BLOB_TIMEOUT_RATE   (256 * 1024)  /* bytes/s; a slower link resumes next round */
#define FAILS_IN_A_ROW_MAX  3		  /* then the upstream is down: end the round */
#define VERIFY_BYTES_PER_S  (1024 * 1024) /* re-hash budget per second of interval */
#define VERIFY_BYTES_MIN    (16u * 1024 * 1024)
#define VERIFY_BYTES_MAX    (1024u * 1024 * 1024)
#define READ_CHUNK	    (256 * 1024)

#define REMEDY_TOKEN                                                                               \
	"put a token of the site server made for this system (stewardctl admins create NAME "      \
	"--role distribution_point) in the file upstream_token_file names"

struct blob {
	char hash[CONTENT_HASH_HEX + 1];
	uint64_t size;
	int64_t mtime; /* local blobs */
};

struct blobs {
	struct blob *v;
	size_t n, cap;
};

static struct dpsync {
	struct site *s;
	pthread_t thread;
	bool running;
	atomic_bool stop;    /* read by curl's progress callback */
	pthread_mutex_t mu;  /* guards cond's wait and the key */
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	bool have_key;
	uint8_t key[PROTO_PK_BYTES];
	char base[300];		   /* upstream without a trailing '/' */
	char token[TOKEN_LEN + 1]; /* read again every round: rotating it needs no restart */
	char verify_after[CONTENT_HASH_HEX + 1]; /* where the re-hash slice continues */
	char self[400];	       /* SITE_SYSTEM_HEADER value: "URL ROLES" */
	char waiting[64];      /* the plan's version last logged as waiting */
	char failed[64];       /* this system's upgrade to it rolled back ("" none):
				* read once a round, sent with every call */
	atomic_uint_least64_t rounds, fetched, failures;
} g_dp = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- files ------------------------------------------------------------------ */

static int load_token(struct dpsync *d, struct steward_err *err)
{
	const char *path = d->s->cfg.upstream_token_file;
	char *data = NULL, *p;
	size_t len = 0, total;
	int rc = file_read_all(path, TOKEN_FILE_MAX, &data, &len);

	if (rc)
		return steward_err_set(err, -rc, "upstream_token_invalid", REMEDY_TOKEN,
				       "cannot read upstream_token_file %.200s: %s", path,
				       rc == -STEWARD_EIO ? strerror(errno) : steward_strerror(rc));
	total = len;
	p = data;
	while (len && isspace((unsigned char)*p)) {
		p++;
		len--;
	}
	while (len && isspace((unsigned char)p[len - 1]))
		len--;
	rc = len == TOKEN_LEN && strncmp(p, "stw_", 4) == 0 ? 0 : -1;
	for (size_t i = 4; rc == 0 && i < len; i++)
		if (!isxdigit((unsigned char)p[i]))
			rc = -1;
	if (rc == 0) {
		memcpy(d->token, p, TOKEN_LEN);
		d->token[TOKEN_LEN] = '\0';
	} else {
		rc = steward_err_set(err, STEWARD_EINVAL, "upstream_token_invalid", REMEDY_TOKEN,
				     "upstream_token_file %.200s does not hold a token "
				     "(stw_ and 64 hex digits)",
				     path);
	}
	sodium_memzero(data, total);
	free(data);
	return rc;
}

/* DATA_DIR/upstream.key from an earlier run, so content tokens verify
 * before the site has answered this time. */
static int load_key(struct dpsync *d, struct steward_err *err)
{
	char path[PATH_MAX], *data = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/" KEY_FILE, d->s->cfg.data_dir);
	rc = file_read_all(path, 1024, &data, &len);
	if (rc == -STEWARD_ENOTFOUND)
		return 0;
	while (rc == 0 && len && isspace((unsigned char)data[len - 1]))
		data[--len] = '\0';
	if (rc == 0 && hex_decode(data, d->key, sizeof(d->key)) == 0) {
		d->have_key = true;
		log_info("dpsync", "upstream_key_loaded", "path=%s", path);
	} else {
		rc = steward_err_set(
		    err, STEWARD_EINVAL, "upstream_key_invalid",
		    "delete the file: the key is fetched again from the site server",
		    "%.200s cannot be read or does not hold the site's public key "
		    "(64 hex digits)",
		    path);
	}
	free(data);
	return rc;
}

static void save_key(struct dpsync *d, const char hex[2 * PROTO_PK_BYTES + 1])
{
	char path[PATH_MAX], line[2 * PROTO_PK_BYTES + 2];

	/* a public key: readable by anyone, like the blobs it protects */
	snprintf(path, sizeof(path), "%s/" KEY_FILE, d->s->cfg.data_dir);
	snprintf(line, sizeof(line), "%s\n", hex);
	if (file_write_atomic(path, line, strlen(line), 0644) == 0)
		log_info("dpsync", "upstream_key_saved", "path=%s", path);
	else
		log_warn("dpsync", "upstream_key_unsaved", "path=%s error=\"%s\"", path,
			 strerror(errno));
}

/* ---- one HTTP GET from the site server ---------------------------------------- */

struct xfer {
	CURL *h;
	struct tls_verify tv;
	long status; /* known at the first body byte */
	bool started;
	struct buf *body;	 /* a JSON reply, or the error reply to a blob request */
	struct content_put *put; /* a blob's bytes, when the answer is 200 or 206 */
	uint64_t have;		 /* bytes of the blob already held (Range start) */
	uint64_t skip;		 /* a 200 despite Range: the first bytes are those we hold */
	uint64_t wrote;
	int64_t range_start; /* from Content-Range, -1 when absent */
	int write_rc;
	struct steward_err err; /* why the write callback stopped the transfer */
};

static bool blob_body(const struct xfer *x)
{
	return x->put && (x->status == 200 || x->status == 206);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb, k = 0;

	if (!x->started) {
		x->started = true;
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
		if (x->put && x->status == 206 && x->range_start != (int64_t)x->have) {
			x->write_rc = steward_err_set(
			    &x->err, STEWARD_EINVAL, "bad_reply", "check the site server's version",
			    "asked for bytes from %" PRIu64 " and got a range from %" PRId64,
			    x->have, x->range_start);
			return 0;
		}
		/* content-addressed: the bytes before `have` are the ones we hold */
		if (x->put && x->status == 200)
			x->skip = x->have;
	}
	if (!blob_body(x)) {
		if (buf_append(x->body, ptr, n) == 0)
			return n;
		if (x->put)
			return n; /* an error reply: its beginning says enough */
		x->write_rc = steward_err_set(&x->err, STEWARD_ETOOBIG, "response_too_large",
					      "check the upstream URL and the site's version",
					      "the site server's reply is larger than %zu bytes",
					      x->body->max);
		return 0;
	}
	if (x->skip) {
		k = n < x->skip ? n : (size_t)x->skip;
		x->skip -= k;
	}
	if (n > k) {
		x->write_rc = content_put_write(x->put, ptr + k, n - k, &x->err);
		if (x->write_rc)
			return 0;
		x->wrote += n - k;
	}
	return n;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * nmemb;
	char tmp[64];
	long long start;

	if (len > 14 && len < sizeof(tmp) && strncasecmp(line, "Content-Range:", 14) == 0) {
		memcpy(tmp, line + 14, len - 14);
		tmp[len - 14] = '\0';
		if (sscanf(tmp, " bytes %lld-", &start) == 1 && start >= 0)
			x->range_start = start;
	}
	return len;
}

/* Non-zero aborts the transfer: shutdown must not wait for a large blob. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&((struct dpsync *)ud)->stop) ? 1 : 0;
}

/* GET base+path. Returns 0 when an HTTP answer arrived (x->status), or a
 * negative code with err filled. */
static int upstream_get(struct dpsync *d, const char *path, long timeout_s, struct xfer *x,
			struct steward_err *err)
{
	char url[512], h_auth[32 + TOKEN_LEN], h_ver[64], h_api[48], h_proto[64], h_range[48];
	char range[24], h_sys[sizeof(d->self) + 32], h_failed[96];
	struct proto_range self = proto_self_range();
	struct curl_slist *hdrs = NULL, *tmp;
	const char *lines[9];
	CURLcode cc;
	int rc = 0, n = 0;

	x->range_start = -1;
	x->status = 0;
	snprintf(url, sizeof(url), "%s%s", d->base, path);
	proto_range_format(&self, range);
	/* the headers stewardctl sends: the site checks versions before the token */
	snprintf(h_auth, sizeof(h_auth), "Authorization: Bearer %s", d->token);
	snprintf(h_ver, sizeof(h_ver), PROTO_H_VERSION ": %s", proto_self_version());
	snprintf(h_api, sizeof(h_api), PROTO_H_API ": %d", STEWARD_API_MAJOR);
	snprintf(h_proto, sizeof(h_proto), PROTO_H_PROTOCOL ": %s", range);
	lines[n++] = h_auth;
	lines[n++] = h_ver;
	lines[n++] = h_api;
	lines[n++] = h_proto;
	/* who is calling: the site server lists and upgrades its site systems */
	snprintf(h_sys, sizeof(h_sys), SITE_SYSTEM_HEADER ": %s", d->self);
	lines[n++] = h_sys;
	if (d->failed[0]) {
		snprintf(h_failed, sizeof(h_failed), "Steward-Upgrade-Failed: %s", d->failed);
		lines[n++] = h_failed;
	}
	if (x->put && x->have) {
		snprintf(h_range, sizeof(h_range), "Range: bytes=%" PRIu64 "-", x->have);
		lines[n++] = h_range;
	}
	lines[n] = NULL;
	x->h = curl_easy_init();
	if (!x->h) {
		rc = steward_err_set(err, STEWARD_ENOMEM, "internal", "",
				     "cannot create an HTTP handle");
		goto out;
	}
	for (int i = 0; lines[i]; i++) {
		tmp = curl_slist_append(hdrs, lines[i]);
		if (!tmp) {
			rc = steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
			goto out;
		}
		hdrs = tmp;
	}
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_BYTES);
	curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME_S);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(x->h, CURLOPT_XFERINFODATA, d);
	curl_easy_setopt(x->h, CURLOPT_NOPROGRESS, 0L);
	if ((rc = tls_curl_setup(x->h, url, NULL, &x->tv, err)) != 0)
		goto out;
	cc = curl_easy_perform(x->h);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	} else if (cc == CURLE_WRITE_ERROR && x->write_rc) {
		*err = x->err;
		rc = x->write_rc;
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		rc = steward_err_set(err, STEWARD_ECLOSED, "shutting_down", "",
				     "stewardd is stopping");
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		rc = steward_err_set(err, STEWARD_ETIMEDOUT, "timeout",
				     "check the site server and the link to it; the transfer "
				     "resumes next round",
				     "GET %.200s: %s (timeout %lds, or under %d bytes/s for %ds)",
				     url, curl_easy_strerror(cc), timeout_s, LOW_SPEED_BYTES,
				     LOW_SPEED_TIME_S);
	} else if ((rc = tls_curl_error(cc, url, &x->tv, err)) == 0) {
		rc = steward_err_set(err, STEWARD_EIO, "unreachable",
				     "check upstream and that the site server runs",
				     "cannot reach %.200s: %s", url, curl_easy_strerror(cc));
	}
out:
	sodium_memzero(h_auth, sizeof(h_auth));
	curl_slist_free_all(hdrs);
	if (x->h)
		curl_easy_cleanup(x->h);
	x->h = NULL;
	return rc;
}

/* An answer that is not 2xx: the site's own error when it sent one. */
static int refused(const char *path, long status, const struct buf *body, struct steward_err *err)
{
	struct steward_err theirs = {.code = ""};

	if (body->data && proto_error_parse(body->data, body->len, &theirs) == 0)
		return steward_err_set(
		    err, STEWARD_EPERM, "upstream_refused",
		    "fix what the site server says, then wait for the next round",
		    "GET %s: the site server answered %ld %s: %s", path, status, theirs.code,
		    theirs.message);
	return steward_err_set(err, STEWARD_EPERM, "upstream_refused",
			       "point upstream at the site server itself (not a proxy)",
			       "GET %s: the answer was HTTP %ld without a steward error", path,
			       status);
}

/* GET a JSON reply of at most max bytes. */
static int get_json(struct dpsync *d, const char *path, size_t max, json_t **out,
		    struct steward_err *err)
{
	struct xfer x = {0};
	struct buf body;
	json_error_t jerr;
	int rc;

	*out = NULL;
	buf_init(&body, max);
	x.body = &body;
	rc = upstream_get(d, path, JSON_TIMEOUT_S, &x, err);
	if (rc)
		goto out;
	if (x.status != 200) {
		rc = refused(path, x.status, &body, err);
		goto out;
	}
	*out = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
	if (!*out)
		rc = steward_err_set(err, STEWARD_EINVAL, "bad_reply",
				     "check that upstream is a site server of this version",
				     "GET %s: the reply is not JSON: %s", path, jerr.text);
out:
	buf_free(&body);
	return rc;
}

/* ---- one round ------------------------------------------------------------------ */

struct round {
	struct dpsync *d;
	struct blobs index; /* what the site's packages need, sorted by hash */
	struct blobs local; /* what the store holds, sorted by hash */
	uint64_t fetched, bytes, removed, failed, verified, corrupt;
};

static int blobs_add(struct blobs *b, const char *hash, uint64_t size, int64_t mtime)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct blob *v = realloc(b->v, cap * sizeof(*v));
		if (!v)
			return -STEWARD_ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	memcpy(b->v[b->n].hash, hash, CONTENT_HASH_HEX + 1);
	b->v[b->n].size = size;
	b->v[b->n].mtime = mtime;
	b->n++;
	return 0;
}

static int blob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct blob *)a)->hash, ((const struct blob *)b)->hash);
}

static const struct blob *blobs_find(const struct blobs *b, const char *hash)
{
	struct blob key;

	memcpy(key.hash, hash, CONTENT_HASH_HEX + 1);
	return b->n ? bsearch(&key, b->v, b->n, sizeof(*b->v), blob_cmp) : NULL;
}

/* The site's key and code. The key a distribution point has is never
 * replaced, like the agents' copy: a different key means a different (or
 * rebuilt) site, and tokens signed by it must not start to verify here. */
static int sync_site(struct dpsync *d, struct steward_err *err)
{
	const char *code, *hex;
	uint8_t key[PROTO_PK_BYTES];
	json_t *site = NULL;
	bool had, same;
	int rc = get_json(d, "/api/v1/site", SITE_REPLY_MAX, &site, err);

	if (rc)
		return rc;
	code = json_string_value(json_object_get(site, "code"));
	hex = json_string_value(json_object_get(site, "site_key"));
	if (!code || !hex || hex_decode(hex, key, sizeof(key)) != 0) {
		rc = steward_err_set(
		    err, STEWARD_EINVAL, "bad_reply",
		    "upgrade the site server: remote distribution points need its "
		    "site_key",
		    "GET /api/v1/site: the reply lacks 'code' or 'site_key' (64 hex)");
		goto out;
	}
	if (strcmp(code, d->s->cfg.site_code) != 0) {
		rc =
		    steward_err_set(err, STEWARD_EINVAL, "upstream_site_mismatch",
				    "set site_code to the site server's code, or point upstream at "
				    "this site's server",
				    "upstream is site %.8s; this distribution point is of site %s",
				    code, d->s->cfg.site_code);
		goto out;
	}
	pthread_mutex_lock(&d->mu);
	had = d->have_key;
	same = had && sodium_memcmp(d->key, key, sizeof(key)) == 0;
	if (!had) {
		memcpy(d->key, key, sizeof(key));
		d->have_key = true;
	}
	pthread_mutex_unlock(&d->mu);
	if (had && !same) {
		rc = steward_err_set(
		    err, STEWARD_EAUTH, "upstream_key_changed",
		    "if the site's key really changed, delete DATA_DIR/upstream.key "
		    "and restart this stewardd",
		    "the site server's key %.16s... is not the one this distribution "
		    "point has; nothing is fetched",
		    hex);
		goto out;
	}
	if (!had)
		save_key(d, hex);
out:
	json_decref(site);
	return rc;
}

static int sync_index(struct round *r, struct steward_err *err)
{
	json_t *index = NULL, *e;
	size_t i;
	int rc = get_json(r->d, "/api/v1/content/index", INDEX_REPLY_MAX, &index, err);

	if (rc)
		return rc;
	if (!json_is_array(index)) {
		rc = steward_err_set(err, STEWARD_EINVAL, "bad_reply",
				     "check that upstream is a site server of this version",
				     "GET /api/v1/content/index: the reply is not an array");
		goto out;
	}
	json_array_foreach(index, i, e)
	{
		const char *hash = json_string_value(json_object_get(e, "hash"));
		json_t *size = json_object_get(e, "size");

		if (!content_hash_valid(hash) || !json_is_integer(size) ||
		    json_integer_value(size) < 0) {
			rc = steward_err_set(err, STEWARD_EINVAL, "bad_reply",
					     "check that upstream is a site server of this version",
					     "GET /api/v1/content/index: entry %zu is not "
					     "{\"hash\", \"size\"}",
					     i);
			goto out;
		}
		rc = blobs_add(&r->index, hash, (uint64_t)json_integer_value(size), 0);
		if (rc) {
			steward_err_set(err, -rc, "internal", "", "out of memory");
			goto out;
		}
	}
	if (r->index.n)
		qsort(r->index.v, r->index.n, sizeof(*r->index.v), blob_cmp);
out:
	json_decref(index);
	return rc;
}

static int add_local(const char *hash, uint64_t size, int64_t mtime, void *ctx)
{
	return blobs_add(ctx, hash, size, mtime);
}

/* Blobs no package needs any more, once they are older than an interval. */
static void remove_unlisted(struct round *r)
{
	struct content_store *cs = r->d->s->content;
	int64_t cutoff = time_now_s() - r->d->s->cfg.dp_sync_interval;

	for (size_t i = 0; i < r->local.n; i++) {
		const struct blob *b = &r->local.v[i];
		if (blobs_find(&r->index, b->hash) || b->mtime > cutoff)
			continue;
		if (content_store_remove(cs, b->hash) == 0) {
			r->removed++;
			log_info("dpsync", "blob_removed", "hash=%s size=%" PRIu64, b->hash,
				 b->size);
		}
	}
}

/* Re-hash one stored blob; stops early (as fine) when stewardd stops. */
static int rehash(struct dpsync *d, const char *hash, char *chunk, bool *ok)
{
	struct content_hasher h;
	char got[CONTENT_HASH_HEX + 1];
	uint64_t size;
	int fd, rc = content_store_open_blob(d->s->content, hash, &fd, &size);

	*ok = true;
	if (rc)
		return rc;
	content_hasher_init(&h);
	for (;;) {
		ssize_t n = read(fd, chunk, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -STEWARD_EIO;
			break;
		}
		if (n == 0) {
			content_hasher_final(&h, got);
			*ok = strcmp(got, hash) == 0;
			break;
		}
		content_hasher_update(&h, chunk, (size_t)n);
		if (atomic_load(&d->stop))
			break;
	}
	close(fd);
	return rc;
}

/* A bounded slice of the store, continuing where the last round stopped,
 * so damage on this disk is found and repaired in time without reading
 * the whole store every round. A damaged blob is removed; the fetch step
 * below brings it back while the index lists it. */
static void verify_slice(struct round *r)
{
	struct dpsync *d = r->d;
	uint64_t budget = (uint64_t)d->s->cfg.dp_sync_interval * VERIFY_BYTES_PER_S, done = 0;
	char *chunk = NULL;
	size_t start = 0;

	if (r->local.n == 0)
		return;
	if (budget < VERIFY_BYTES_MIN)
		budget = VERIFY_BYTES_MIN;
	if (budget > VERIFY_BYTES_MAX)
		budget = VERIFY_BYTES_MAX;
	chunk = malloc(READ_CHUNK);
	if (!chunk)
		return;
	while (start < r->local.n && strcmp(r->local.v[start].hash, d->verify_after) <= 0)
		start++;
	for (size_t k = 0; k < r->local.n && done < budget && !atomic_load(&d->stop); k++) {
		const struct blob *b = &r->local.v[(start + k) % r->local.n];
		bool ok;

		if (rehash(d, b->hash, chunk, &ok) != 0)
			continue; /* removed meanwhile, or unreadable: the fetch step sees */
		done += b->size;
		r->verified++;
		memcpy(d->verify_after, b->hash, sizeof(d->verify_after));
		if (ok)
			continue;
		r->corrupt++;
		log_error("dpsync", "blob_corrupt", "hash=%s size=%" PRIu64 " action=removed",
			  b->hash, b->size);
		content_store_remove(d->s->content, b->hash);
	}
	free(chunk);
}

/* Fetch one blob into the store. Returns 0 when it is stored, or a
 * negative code with err filled; *transport says the failure was the
 * link, not this blob. */
static int fetch_blob(struct round *r, const struct blob *b, bool *transport,
		      struct steward_err *err)
{
	struct dpsync *d = r->d;
	struct content_put *put = NULL;
	char path[16 + CONTENT_HASH_HEX];
	uint64_t have = UINT64_MAX;
	struct steward_err e2; /* of cleanups whose failure changes nothing */
	struct xfer x = {0};
	struct buf body;
	int rc;

	*transport = false;
	buf_init(&body, ERROR_BODY_MAX);
	snprintf(path, sizeof(path), "/content/%s", b->hash);
	/* the site may allow larger packages than this disk is meant for */
	if (b->size > (uint64_t)d->s->cfg.package_max_bytes) {
		rc = steward_err_set(
		    err, STEWARD_ETOOBIG, "content_too_large",
		    "raise package_max_bytes on this distribution point to the site "
		    "server's value",
		    "the blob has %" PRIu64 " bytes; package_max_bytes here is %lld", b->size,
		    (long long)d->s->cfg.package_max_bytes);
		goto out;
	}
	rc = content_put_resume(d->s->content, b->hash, b->size, &have, &put, err);
	if (rc == -STEWARD_EEXIST) {
		rc = 0; /* stored meanwhile */
		goto out;
	}
	/* without a resumable put (no hard links here), the whole blob each time */
	if (rc) {
		have = 0;
		rc = content_put_begin(d->s->content, b->hash, b->size, &put, err);
		if (rc)
			goto out;
	}
	if (have < b->size) {
		x.body = &body;
		x.put = put;
		x.have = have;
		rc = upstream_get(
		    d, path, BLOB_TIMEOUT_BASE_S + (long)((b->size - have) / BLOB_TIMEOUT_RATE), &x,
		    err);
		r->bytes += x.wrote;
		if (rc) {
			*transport = rc != -STEWARD_EINVAL && rc != -STEWARD_ETOOBIG;
			goto out;
		}
		if (x.status == 416 && have) {
			/* the site has fewer bytes than we hold: start over next round */
			content_put_abort(put);
			put = NULL;
			have = 0;
			content_put_resume(d->s->content, b->hash, b->size, &have, &put, &e2);
		}
		if (x.status != 200 && x.status != 206) {
			*transport = x.status != 404 && x.status != 416;
			rc = refused(path, x.status, &body, err);
			goto out;
		}
		if (have + x.wrote < b->size) {
			*transport = true;
			rc = steward_err_set(
			    err, STEWARD_EIO, "unreachable", "the transfer resumes next round",
			    "GET %s: the reply ended after %" PRIu64 " of %" PRIu64 " bytes", path,
			    have + x.wrote, b->size);
			goto out;
		}
	}
	/* verified here, before the blob becomes visible */
	rc = content_put_commit(put, NULL, err);
	put = NULL;
	if (rc == 0) {
		r->fetched++;
		log_debug("dpsync", "blob_fetched", "hash=%s size=%" PRIu64 " resumed_at=%" PRIu64,
			  b->hash, b->size, have);
		/* finds the blob stored and drops the partial's second name for it */
		have = 0;
		content_put_resume(d->s->content, b->hash, b->size, &have, &put, &e2);
	}
out:
	content_put_abort(put); /* a resumable put keeps its bytes for the next round */
	buf_free(&body);
	return rc;
}

static void fetch_missing(struct round *r)
{
	struct steward_err err;
	int in_a_row = 0;

	for (size_t i = 0; i < r->index.n && !atomic_load(&r->d->stop); i++) {
		const struct blob *b = &r->index.v[i];
		bool transport;

		if (content_store_has(r->d->s->content, b->hash, NULL))
			continue;
		memset(&err, 0, sizeof(err));
		if (fetch_blob(r, b, &transport, &err) == 0) {
			in_a_row = 0;
			continue;
		}
		if (strcmp(err.code, "shutting_down") == 0)
			break;
		r->failed++;
		if (strcmp(err.code, "hash_mismatch") == 0)
			log_warn("dpsync", "blob_rejected",
				 "hash=%s size=%" PRIu64 " message=\"%s\"", b->hash, b->size,
				 err.message);
		else
			log_warn("dpsync", "blob_fetch_failed",
				 "hash=%s size=%" PRIu64 " code=%s message=\"%s\"", b->hash,
				 b->size, err.code, err.message);
		/* the site server or the link is down: do not wait out every blob */
		in_a_row = transport ? in_a_row + 1 : 0;
		if (in_a_row >= FAILS_IN_A_ROW_MAX)
			break;
	}
}

/* After a round: the version the site server wants this system to run. */
static void follow_plan(struct dpsync *d)
{
	struct steward_err err = {.code = ""};
	struct content_release r;
	const char *to, *text;
	json_t *plan = NULL, *record = NULL;
	uint64_t have;

	memset(&r, 0, sizeof(r));
	if (get_json(d, "/api/v1/site/systems/plan", SITE_REPLY_MAX, &plan, &err) != 0) {
		log_debug("dpsync", "plan_failed", "code=%s message=\"%s\"", err.code, err.message);
		return;
	}
	to = json_string_value(json_object_get(plan, "to"));
	/* an upgrade that rolled back here is tried again only when an
	 * administrator asks for it (systems retry) */
	if (!to || strcmp(to, proto_self_version()) == 0 ||
	    (strcmp(d->failed, to) == 0 && !json_is_true(json_object_get(plan, "retry"))))
		goto out;
	if (!json_is_true(json_object_get(plan, "go"))) {
		if (strcmp(d->waiting, to) != 0)
			log_info("dpsync", "upgrade_waiting", "to=%s reason=\"%s\"", to,
				 json_string_value(json_object_get(plan, "reason")));
		snprintf(d->waiting, sizeof(d->waiting), "%s", to);
		goto out;
	}
	text = json_string_value(json_object_get(plan, "manifest_text"));
	/* this system checks the release against its own release_key lines */
	if (!text || d->s->cfg.n_release_keys == 0 ||
	    content_release_parse(text, json_string_length(json_object_get(plan, "manifest_text")),
				  (const uint8_t(*)[PROTO_PK_BYTES])d->s->cfg.release_keys,
				  d->s->cfg.n_release_keys, &r, &err) != 0) {
		log_warn("dpsync", "upgrade_refused", "to=%s message=\"%s\"", to,
			 d->s->cfg.n_release_keys == 0
			     ? "this site system trusts no release key: add the site's release_key "
			       "lines to its configuration"
			     : err.message);
		goto out;
	}
	for (size_t i = 0; i < r.n_files; i++) {
		const struct content_component *c = content_release_component(&r, r.files[i].component);

		if (c && c->kind == CONTENT_KIND_SITE &&
		    (!content_store_has(d->s->content, r.files[i].hash, &have) ||
		     have != r.files[i].size)) {
			log_info("dpsync", "upgrade_waiting", "to=%s reason=\"%s is not synced yet\"",
				 to, r.files[i].path);
			goto out;
		}
	}
	if (site_upgrade_start(d->s, &r, "site server", &record, &err) != 0)
		log_warn("dpsync", "upgrade_refused", "to=%s code=%s message=\"%s\"", to, err.code,
			 err.message);
	json_decref(record);
out:
	content_release_clear(&r);
	json_decref(plan);
}

static void sync_round(struct dpsync *d)
{
	struct round r = {.d = d};
	struct steward_err err = {.code = ""};
	int64_t t0 = time_mono_us();
	int rc;

	/* the last upgrade of this system, for the site server (sitesystems.c) */
	site_upgrade_rolled_back(d->s, d->failed, sizeof(d->failed));
	rc = load_token(d, &err);
	if (rc == 0)
		rc = sync_site(d, &err);
	if (rc == 0)
		rc = sync_index(&r, &err);
	if (rc == 0) {
		rc = content_store_walk(d->s->content, add_local, &r.local);
		if (rc)
			steward_err_set(&err, -rc, "content_store_failed",
					"check the disk under the content directory",
					"cannot list the blobs stored here: %s",
					steward_strerror(rc));
	}
	if (rc == 0) {
		if (r.local.n) /* qsort's base must not be NULL, even for nothing */
			qsort(r.local.v, r.local.n, sizeof(*r.local.v), blob_cmp);
		remove_unlisted(&r);
		verify_slice(&r);
		fetch_missing(&r);
		follow_plan(d); /* an upgrade the site server wants (sitesystems.c) */
	}
	sodium_memzero(d->token, sizeof(d->token));
	atomic_fetch_add(&d->rounds, 1);
	atomic_fetch_add(&d->fetched, r.fetched);
	atomic_fetch_add(&d->failures, r.failed + (rc ? 1 : 0));
	if (rc)
		log_warn("dpsync", "dp_sync",
			 "result=failed fetched=0 bytes=0 removed=0 failed=1 ms=%lld code=%s "
			 "message=\"%s\"",
			 (long long)((time_mono_us() - t0) / 1000), err.code, err.message);
	else
		log_info("dpsync", "dp_sync",
			 "result=ok blobs=%zu fetched=%" PRIu64 " bytes=%" PRIu64
			 " removed=%" PRIu64 " failed=%" PRIu64 " verified=%" PRIu64
			 " corrupt=%" PRIu64 " ms=%lld",
			 r.index.n, r.fetched, r.bytes, r.removed, r.failed, r.verified, r.corrupt,
			 (long long)((time_mono_us() - t0) / 1000));
	free(r.index.v);
	free(r.local.v);
}

static void *sync_thread(void *arg)
{
	struct dpsync *d = arg;
	struct timespec until;

	for (;;) {
		sync_round(d);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += d->s->cfg.dp_sync_interval;
		pthread_mutex_lock(&d->mu);
		while (!atomic_load(&d->stop) &&
		       pthread_cond_timedwait(&d->cond, &d->mu, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&d->mu);
		if (atomic_load(&d->stop))
			break;
	}
	return NULL;
}

/* ---- the interface ---------------------------------------------------------------- */

int site_dpsync_start(struct site *s, struct steward_err *err)
{
	struct dpsync *d = &g_dp;
	pthread_condattr_t ca;
	size_t len;
	int rc;

	if (d->running)
		return 0;
	if (!(s->cfg.role_mask & ROLE_DISTRIBUTION_POINT) || (s->cfg.role_mask & ROLE_SITE_SERVER))
		return steward_err_set(err, STEWARD_EINVAL, "upstream_config",
				       "a remote distribution point has roles = distribution_point "
				       "(and upstream); a site server has no upstream",
				       "upstream is set but roles (%s) %s", s->cfg.roles,
				       (s->cfg.role_mask & ROLE_SITE_SERVER)
					   ? "include site_server"
					   : "do not include distribution_point");
	if (!s->content)
		return steward_err_set(err, STEWARD_EINVAL, "upstream_config",
				       "report this with the site's log",
				       "upstream is set but the content store is not open");
	if (!s->cfg.upstream_token_file || !*s->cfg.upstream_token_file)
		return steward_err_set(err, STEWARD_EINVAL, "upstream_config", REMEDY_TOKEN,
				       "upstream is set but upstream_token_file is not");
	len = strlen(s->cfg.upstream);
	while (len && s->cfg.upstream[len - 1] == '/')
		len--;
	if (len >= sizeof(d->base))
		return steward_err_set(err, STEWARD_EINVAL, "upstream_config",
				       "shorten the upstream URL", "upstream is too long");
	memcpy(d->base, s->cfg.upstream, len);
	d->base[len] = '\0';
	d->s = s;
	{
		char roles[128];

		if (s->cfg.public_url && *s->cfg.public_url)
			snprintf(d->self, sizeof(d->self), "%s %s", s->cfg.public_url,
				 roles_text(s->cfg.role_mask, roles, sizeof(roles)));
		else {
			char url[300];
			site_self_url(&s->cfg, http_server_port(s->http), url, sizeof(url));
			snprintf(d->self, sizeof(d->self), "%s %s", url,
				 roles_text(s->cfg.role_mask, roles, sizeof(roles)));
		}
		/* the site hands agents this pin with the DP's URL */
		if (s->tls_pin[0]) {
			size_t n = strlen(d->self);
			snprintf(d->self + n, sizeof(d->self) - n, " pin=%s", s->tls_pin);
		}
	}
	atomic_store(&d->stop, false);
	/* refuse to start with a token that cannot work; checked again every round */
	rc = load_token(d, err);
	sodium_memzero(d->token, sizeof(d->token));
	if (rc == 0)
		rc = load_key(d, err);
	if (rc)
		return rc;
	if (http_client_global_init())
		return steward_err_set(err, STEWARD_EIO, "internal", "",
				       "cannot initialise libcurl");
	log_info("dpsync", "dp_sync_started", "upstream=%s interval=%llds key=%s", d->base,
		 (long long)s->cfg.dp_sync_interval, d->have_key ? "saved" : "not yet");
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&d->thread, NULL, sync_thread, d) != 0) {
		pthread_cond_destroy(&d->cond);
		http_client_global_cleanup();
		return steward_err_set(err, STEWARD_ENOMEM, "internal",
				       "check the machine's limits",
				       "cannot start the distribution point's sync thread");
	}
	d->running = true;
	return 0;
}

void site_dpsync_stop(struct site *s)
{
	struct dpsync *d = &g_dp;

	(void)s;
	if (!d->running)
		return;
	pthread_mutex_lock(&d->mu);
	atomic_store(&d->stop, true);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->mu);
	/* bounded: a transfer aborts within a second (progress callback),
	 * and every call has a connect timeout */
	pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->cond);
	http_client_global_cleanup();
	d->running = false;
	log_info("dpsync", "dp_sync_stopped", "rounds=%llu",
		 (unsigned long long)atomic_load(&d->rounds));
}

bool site_dpsync_site_key(struct site *s, uint8_t out[PROTO_PK_BYTES])
{
	struct dpsync *d = &g_dp;
	bool have;

	(void)s;
	pthread_mutex_lock(&d->mu);
	have = d->have_key;
	if (have)
		memcpy(out, d->key, PROTO_PK_BYTES);
	pthread_mutex_unlock(&d->mu);
	return have;
}

int site_dpsync_metrics(struct site *s, struct buf *out)
{
	struct dpsync *d = &g_dp;
	int rc = 0;

	(void)s;
	if (!d->running)
		return 0;
	rc |= buf_printf(out,
			 "# HELP steward_dp_sync_rounds_total Sync rounds with the site server.\n"
			 "# TYPE steward_dp_sync_rounds_total counter\n"
			 "steward_dp_sync_rounds_total %llu\n",
			 (unsigned long long)atomic_load(&d->rounds));
	rc |= buf_printf(out,
			 "# HELP steward_dp_sync_blobs_fetched_total Blobs fetched and verified.\n"
			 "# TYPE steward_dp_sync_blobs_fetched_total counter\n"
			 "steward_dp_sync_blobs_fetched_total %llu\n",
			 (unsigned long long)atomic_load(&d->fetched));
	rc |= buf_printf(out,
			 "# HELP steward_dp_sync_failures_total Failed blob fetches and rounds.\n"
			 "# TYPE steward_dp_sync_failures_total counter\n"
			 "steward_dp_sync_failures_total %llu\n",
			 (unsigned long long)atomic_load(&d->failures));
	return rc ? -STEWARD_ETOOBIG : 0;
}

/* content: the distribution point's downloads and the site server's content
 * upload calls. docs/internals/distribution-points.md explains the design.
 *
 * GET /content/HASH sends a stored blob zero-copy (sendfile) with Range,
 * a strong ETag (the hash itself: a blob never changes) and immutable
 * caching. Downloads in progress are counted from the reply until the
 * request completes, and capped at dp_max_downloads; dp_max_bandwidth is
 * shared out by pacing each download's socket (SO_MAX_PACING_RATE), so
 * the kernel spaces the packets and no thread sleeps.
 *
 * PUT /api/v1/content/HASH streams its body into the blob store as it
 * arrives (a body sink: authorized before the first byte, hashed and
 * written piece by piece, never held in memory), verified before it
 * becomes visible.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <jansson.h>

#include "site.h"

#define MISSING_MAX	10000
#define DP_RETRY_AFTER	"5"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define REMEDY_HASH	"content hashes are SHA-256 as 64 lowercase hex digits"
#define PACED_LOWAT_MIN (16 * 1024)
#define PACED_LOWAT_MAX (1024 * 1024)
#define REMEDY_STORE	"check the disk under the content directory and the site's log"

/* Downloads between their reply and their request-completed callback. One
 * site per process, so a file-level counter is the site's. */
static atomic_uint dp_active;

struct download {
	uint64_t bytes; /* what the reply sends */
	uint64_t first; /* from which byte of the blob (a Range) */
	int status;
};

static const char *principal_name(struct http_req *req)
{
	struct principal *p = http_req_ctx(req);

	return p && p->kind == PRINCIPAL_ADMIN ? p->name : "-";
}

/* Who downloads: the client a content token was signed for, an admin. */
static const char *downloader(struct http_req *req)
{
	struct principal *p = http_req_ctx(req);

	return p && (p->kind == PRINCIPAL_ADMIN || p->kind == PRINCIPAL_AGENT) && p->name[0]
		   ? p->name
		   : "-";
}

/* ---- GET /content/{hash} --------------------------------------------------------- */

/* If-None-Match: a list of entity tags (weak comparison, so W/ is ignored) or "*". */
bool site_etag_listed(const char *header, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = header;

	while (p && *p) {
		const char *end;
		size_t n;

		p += strspn(p, " \t,");
		if (!*p)
			break;
		end = strchr(p, ',');
		n = end ? (size_t)(end - p) : strlen(p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 1 && *p == '*')
			return true;
		if (n > 2 && strncmp(p, "W/", 2) == 0) {
			p += 2;
			n -= 2;
		}
		if (n == elen && strncmp(p, etag, n) == 0)
			return true;
		p = end;
	}
	return false;
}

/* If-Range: the Range applies only when the tag is exactly ours (strong
 * comparison). A date cannot be compared (we send no Last-Modified): the
 * whole blob then, as RFC 9110 asks when the validator does not match. */
static bool if_range_ok(const char *header, const char *etag)
{
	size_t n;

	if (!header)
		return true;
	header += strspn(header, " \t");
	n = strlen(header);
	while (n && (header[n - 1] == ' ' || header[n - 1] == '\t'))
		n--;
	return n == strlen(etag) && strncmp(header, etag, n) == 0;
}

/* Share dp_max_bandwidth: this download gets bandwidth / downloads now
 * active. Downloads already running keep the rate they started with (see
 * distribution-points.md for what that approximation costs). The kernel
 * paces the socket, so no thread sleeps. A paced socket also gets a small
 * TCP_NOTSENT_LOWAT (a quarter second of its rate): otherwise sendfile
 * would park megabytes in the send buffer at once, the request would
 * "complete" long before the client has the bytes, and the download would
 * stop counting against dp_max_downloads while it still runs. */
static void pace(struct http_req *req, struct site *s, unsigned active)
{
	int fd = http_req_socket(req);
	uint64_t rate, lowat;
	unsigned int v;
	int lw;

	if (s->cfg.dp_max_bandwidth <= 0 || fd < 0)
		return;
	rate = (uint64_t)s->cfg.dp_max_bandwidth / (active ? active : 1);
	if (rate == 0)
		rate = 1;
	/* the u32 form works on every kernel; ~0U would mean unlimited */
	v = rate >= UINT32_MAX ? UINT32_MAX - 1 : (unsigned int)rate;
	if (setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &v, sizeof(v)) != 0) {
		log_debug("dp", "pacing_failed", "error=\"%s\"", strerror(errno));
		return;
	}
	lowat = rate / 4;
	lw = lowat < PACED_LOWAT_MIN   ? PACED_LOWAT_MIN
	     : lowat > PACED_LOWAT_MAX ? PACED_LOWAT_MAX
				       : (int)lowat;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lw, sizeof(lw)) != 0)
		log_debug("dp", "lowat_failed", "error=\"%s\"", strerror(errno));
}

static void download_done(struct http_req *req, bool completed, void *arg)
{
	struct download *dl = arg;
	int64_t ms = (time_mono_us() - http_req_started_us(req)) / 1000;

	/* The pacing stays on the socket: its last bytes may still be queued
	 * (a kept-alive connection's next download sets its own rate). */
	atomic_fetch_sub(&dp_active, 1);
	log_info("dp", completed ? "download" : "download_aborted",
		 "hash=%s status=%d bytes=%llu peer=%s client=%s ms=%lld from=%llu",
		 http_req_param(req, 0), dl->status, (unsigned long long)dl->bytes,
		 http_req_peer(req), downloader(req), (long long)ms, (unsigned long long)dl->first);
	free(dl);
}

enum http_result site_h_content_get(struct http_req *req, void *app)
{
	struct site *s = app;
	const char *hash = http_req_param(req, 0);
	const char *range = http_req_header(req, "Range");
	char etag[CONTENT_HASH_HEX + 3], crange[96];
	uint64_t size = 0, first, len;
	enum http_range_result rr;
	struct download *dl = NULL;
	unsigned active;
	int fd = -1, rc;

	if (!content_hash_valid(hash)) {
		reply_error(req, 400, "bad_request", REMEDY_HASH, "'%.70s' is not a content hash",
			    hash ? hash : "");
		return HTTP_DONE;
	}
	rc =
	    s->content ? content_store_open_blob(s->content, hash, &fd, &size) : -STEWARD_ENOTFOUND;
	if (rc == -STEWARD_ENOTFOUND) {
		reply_error(req, 404, "content_not_found",
			    "the distribution point may still be syncing; the agent tries the next "
			    "distribution point",
			    "this distribution point does not hold %s", hash);
		return HTTP_DONE;
	}
	if (rc) {
		reply_error(req, 500, "content_store_failed", REMEDY_STORE,
			    "cannot open blob %s: %s", hash, steward_strerror(rc));
		return HTTP_DONE;
	}
	snprintf(etag, sizeof(etag), "\"%s\"", hash);
	if (site_etag_listed(http_req_header(req, "If-None-Match"), etag)) {
		close(fd);
		http_reply_header(req, "ETag", etag);
		http_reply_header(req, "Cache-Control", CACHE_IMMUTABLE);
		http_reply(req, 304, NULL, "", 0);
		return HTTP_DONE;
	}
	if (!if_range_ok(http_req_header(req, "If-Range"), etag))
		range = NULL;
	rr = http_range_parse(range, size, &first, &len);
	if (rr == HTTP_RANGE_UNSATISFIABLE) {
		close(fd);
		snprintf(crange, sizeof(crange), "bytes */%llu", (unsigned long long)size);
		http_reply_header(req, "Content-Range", crange);
		reply_error(req, 416, "range_not_satisfiable",
			    "ask for a range inside the blob; Content-Range gives its size",
			    "range '%.64s' is outside blob %s of %llu bytes", range, hash,
			    (unsigned long long)size);
		return HTTP_DONE;
	}

	active = atomic_fetch_add(&dp_active, 1) + 1;
	if (active <= (unsigned)s->cfg.dp_max_downloads)
		dl = calloc(1, sizeof(*dl));
	if (!dl) {
		atomic_fetch_sub(&dp_active, 1);
		close(fd);
		if (active <= (unsigned)s->cfg.dp_max_downloads) {
			reply_error(req, 500, "internal", "", "out of memory");
			return HTTP_DONE;
		}
		http_reply_header(req, "Retry-After", DP_RETRY_AFTER);
		reply_error(req, 503, "dp_busy",
			    "retry after the time in Retry-After; agents try the next distribution "
			    "point first",
			    "this distribution point is serving %u downloads; the limit is %lld",
			    active - 1, (long long)s->cfg.dp_max_downloads);
		return HTTP_DONE;
	}
	dl->bytes = len;
	dl->first = first;
	dl->status = rr == HTTP_RANGE_PARTIAL ? 206 : 200;
	pace(req, s, active);
	http_req_on_done(req, download_done, dl);
	http_reply_header(req, "ETag", etag);
	http_reply_header(req, "Cache-Control", CACHE_IMMUTABLE);
	http_reply_header(req, "Accept-Ranges", "bytes");
	if (rr == HTTP_RANGE_PARTIAL) {
		snprintf(crange, sizeof(crange), "bytes %llu-%llu/%llu", (unsigned long long)first,
			 (unsigned long long)(first + len - 1), (unsigned long long)size);
		http_reply_header(req, "Content-Range", crange);
	}
	http_reply_fd(req, dl->status, "application/octet-stream", fd, first, len);
	return HTTP_DONE;
}

/* ---- POST /api/v1/content/missing ------------------------------------------------ */

enum http_result site_h_content_missing(struct http_req *req, void *app)
{
	struct site *s = app;
	size_t len, i;
	const char *body = http_req_body(req, &len);
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr), *hashes, *h;
	json_t *missing = NULL;

	if (!json_is_object(root)) {
		reply_error(req, 400, "bad_request", "send {\"hashes\":[\"64 hex\", ...]}",
			    "the body is not a JSON object%s%s", root ? "" : ": ",
			    root ? "" : jerr.text);
		goto out;
	}
	hashes = json_object_get(root, "hashes");
	if (!json_is_array(hashes) || json_array_size(hashes) > MISSING_MAX) {
		reply_error(req, 400, "bad_request", "ask about at most 10000 hashes per call",
			    "field 'hashes' must be an array of at most %d content hashes",
			    MISSING_MAX);
		goto out;
	}
	json_array_foreach(hashes, i, h)
	{
		if (!content_hash_valid(json_string_value(h))) {
			reply_error(req, 400, "bad_request", REMEDY_HASH,
				    "hashes[%zu] is not a content hash", i);
			goto out;
		}
	}
	missing = json_array();
	json_array_foreach(hashes, i, h)
	{
		if (!content_store_has(s->content, json_string_value(h), NULL) &&
		    json_array_append(missing, h) != 0) {
			reply_error(req, 500, "internal", "", "out of memory");
			goto out;
		}
	}
	reply_json_obj(req, 200, json_pack("{s:O}", "missing", missing));
out:
	json_decref(missing);
	json_decref(root);
	return HTTP_DONE;
}

/* ---- PUT /api/v1/content/{hash} --------------------------------------------------- */

struct upload {
	struct content_put *put;
	uint64_t size;
	int rc; /* the first failed piece */
	struct steward_err err;
};

static enum http_sink_start upload_begin(struct http_req *req, void *app, void **state)
{
	struct site *s = app;
	const char *hash = http_req_param(req, 0);
	struct steward_err err = {.code = ""};
	struct upload *u;

	if (!content_hash_valid(hash)) {
		reply_error(req, 400, "bad_request", REMEDY_HASH, "'%.70s' is not a content hash",
			    hash ? hash : "");
		return HTTP_SINK_REFUSE;
	}
	/* Stored already: the handler says so. The body is still read, so a
	 * client that sends it without waiting for 100-continue sees the reply. */
	if (content_store_has(s->content, hash, NULL))
		return HTTP_SINK_DISCARD;
	u = calloc(1, sizeof(*u));
	if (!u) {
		reply_error(req, 500, "internal", "", "out of memory");
		return HTTP_SINK_REFUSE;
	}
	if (content_put_begin(s->content, hash, (uint64_t)s->cfg.package_max_bytes, &u->put,
			      &err)) {
		free(u);
		http_reply_error(req, 500, &err);
		return HTTP_SINK_REFUSE;
	}
	*state = u;
	return HTTP_SINK_ACCEPT;
}

static int upload_data(void *state, const void *data, size_t len)
{
	struct upload *u = state;

	u->rc = content_put_write(u->put, data, len, &u->err);
	u->size += len;
	return u->rc;
}

/* The client went away, the body was too large, or the handler is done. */
static void upload_release(void *state)
{
	struct upload *u = state;

	content_put_abort(u->put);
	free(u);
}

const struct http_body_sink site_content_put_sink = {upload_begin, upload_data, upload_release};

enum http_result site_h_content_put(struct http_req *req, void *app)
{
	struct site *s = app;
	struct upload *u = http_req_sink_state(req);
	const char *hash = http_req_param(req, 0);
	char got[CONTENT_HASH_HEX + 1];
	uint64_t size = 0;
	int rc;

	if (!u) {
		if (!content_store_has(s->content, hash, &size)) {
			/* removed while the body arrived: let the client try again */
			http_reply_header(req, "Retry-After", "1");
			reply_error(req, 503, "content_store_failed", "upload it again",
				    "blob %s was removed during the upload", hash);
			return HTTP_DONE;
		}
		reply_json_obj(req, 200,
			       json_pack("{s:s,s:I}", "hash", hash, "size", (json_int_t)size));
		return HTTP_DONE;
	}
	if (u->rc) {
		http_reply_error(req, u->rc == -STEWARD_ETOOBIG ? 413 : 500, &u->err);
		return HTTP_DONE;
	}
	rc = content_put_commit(u->put, got, &u->err);
	u->put = NULL; /* commit freed it, whatever it returned */
	if (rc) {
		log_info("content", "upload_refused", "hash=%s bytes=%llu code=%s by=%s peer=%s",
			 hash, (unsigned long long)u->size, u->err.code, principal_name(req),
			 http_req_peer(req));
		http_reply_error(req, rc == -STEWARD_EINVAL ? 400 : 500, &u->err);
		return HTTP_DONE;
	}
	log_info("content", "stored", "hash=%s bytes=%llu by=%s peer=%s", got,
		 (unsigned long long)u->size, principal_name(req), http_req_peer(req));
	reply_json_obj(req, 201, json_pack("{s:s,s:I}", "hash", got, "size", (json_int_t)u->size));
	return HTTP_DONE;
}

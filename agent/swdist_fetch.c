/* agent/swdist_fetch: one blob from the distribution points into the cache.
 *
 * GET DP/content/HASH with "Authorization: Steward-Content TOKEN", streamed
 * to STATE_DIR/swdist/cache/partial/HASH while a content_hasher follows
 * along. lib/net's http_call buffers whole bodies, which does not fit
 * blobs of gigabytes, so this talks to libcurl itself with the same
 * conventions (no signals, http/https only, explicit timeouts).
 *
 * Resuming: a partial file of L bytes is hashed first and the request asks
 * for "Range: bytes=L-". A 206 must say Content-Range "bytes L-..."; a 200
 * means the DP sends everything, so the partial file starts over. A
 * transfer that breaks keeps its partial file, and the next DP (or the next
 * attempt) continues from there.
 *
 * Failover, in the order of the policy's dps: connection error, timeout,
 * any status but 200/206, or bytes whose SHA-256 is not the name. Wrong
 * bytes are thrown away and reported (verification_failed, naming the DP);
 * only a verified blob is renamed into cache/blobs/HASH. When the wrong
 * bytes were a resumed download, the fault may be in what the partial file
 * held (a disk, a crash), not in the DP: the same DP is asked once more for
 * the whole blob before the next one is tried.
 *
 * No transfer waits forever: connecting is capped; a transfer slower than
 * LOW_SPEED_BYTES per second for the HTTP timeout is dropped; the whole
 * transfer has a deadline from its size (transfer_deadline_ms), so a DP
 * that trickles just above the low-speed floor cannot hold the agent for
 * hours; no more bytes than the blob's size are taken; a stop signal or
 * the --once deadline aborts it through the progress callback. A transfer
 * dropped as too slow says how fast it was (download_too_slow), and what it
 * got stays in the partial file for the next attempt.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "steward/content.h"
#include "agent.h"

#define LOW_SPEED_BYTES	   1024
#define CONNECT_TIMEOUT_MS 10000
#define ERROR_BODY_MAX	   4096 /* of a non-2xx reply, discarded */
/* The average a whole transfer must keep (32 kbit/s, below a dial-up line's
 * 56k): its deadline is its bytes at this rate plus an HTTP timeout. Slower
 * lines still get there, a deadline's worth per attempt, since what arrived
 * is kept. An agent that caps its own receive rate lower must lower this. */
#define TRANSFER_FLOOR_BYTES 4096

struct dl {
	struct agent *ag;
	int fd;
	uint64_t have; /* bytes in the partial file before this request */
	uint64_t from; /* what it held when the request began (a resume from there) */
	uint64_t got;  /* bytes written by this request */
	uint64_t max;
	struct content_hasher h;
	CURL *curl;
	struct tls_verify tv;
	bool decided; /* the status was looked at */
	bool writing; /* 200 or 206: the body is the blob */
	bool bad_range;
	bool too_big;
	bool io_error;
	long status;
	char content_range[96];
};

void swdist_blob_path(const struct agent *ag, const char *hash, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/cache/blobs/%s", ag->sw.dir, hash);
}

static void partial_path(const struct agent *ag, const char *hash, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/cache/partial/%s", ag->sw.dir, hash);
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	struct dl *d = ud;
	size_t len = size * nmemb, n;
	const char *name = "Content-Range:";

	if (len > strlen(name) && strncasecmp(line, name, strlen(name)) == 0) {
		const char *v = line + strlen(name);

		while (*v == ' ' || *v == '\t')
			v++;
		n = (size_t)(line + len - v);
		while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
			n--;
		if (n >= sizeof(d->content_range))
			n = sizeof(d->content_range) - 1;
		memcpy(d->content_range, v, n);
		d->content_range[n] = '\0';
	}
	return len;
}

/* The first body bytes: is this the blob, from where? */
static bool decide(struct dl *d)
{
	unsigned long long start = 0;

	d->decided = true;
	curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &d->status);
	if (d->status == 206) {
		if (sscanf(d->content_range, "bytes %llu-", &start) != 1 || start != d->have) {
			d->bad_range = true;
			return false;
		}
		d->writing = true;
		return true;
	}
	if (d->status == 200) {
		/* the whole blob: what we had is replaced */
		if (d->have && (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0)) {
			d->io_error = true;
			return false;
		}
		d->have = 0;
		content_hasher_init(&d->h);
		d->writing = true;
	}
	return true;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct dl *d = ud;
	size_t n = size * nmemb;

	if (!d->decided && !decide(d))
		return 0;
	if (!d->writing) {
		d->got += n; /* an error page: read a little, keep nothing */
		return d->got > ERROR_BODY_MAX ? 0 : n;
	}
	if (d->have + d->got + n > d->max) {
		d->too_big = true;
		return 0;
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = write(d->fd, ptr + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			d->io_error = true;
			return 0;
		}
		off += (size_t)w;
	}
	content_hasher_update(&d->h, ptr, n);
	d->got += n;
	return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct dl *d = ud;

	(void)dt, (void)dn, (void)ut, (void)un;
	if (d->ag->stop && *d->ag->stop)
		return 1;
	return d->ag->deadline_ms && time_now_ms() >= d->ag->deadline_ms;
}

/* Hash what the partial file holds; leaves the offset at its end. */
static int hash_partial(struct dl *d)
{
	char buf[65536];
	ssize_t n;

	content_hasher_init(&d->h);
	d->have = 0;
	if (lseek(d->fd, 0, SEEK_SET) != 0)
		return -STEWARD_EIO;
	while ((n = read(d->fd, buf, sizeof(buf))) > 0) {
		content_hasher_update(&d->h, buf, (size_t)n);
		d->have += (uint64_t)n;
	}
	return n < 0 ? -STEWARD_EIO : 0;
}

/* Verified: partial -> blobs. */
static int promote(struct agent *ag, int fd, const char *hash, struct steward_err *err)
{
	char from[PATH_MAX], to[PATH_MAX], dir[PATH_MAX];
	int dfd;

	partial_path(ag, hash, from, sizeof(from));
	swdist_blob_path(ag, hash, to, sizeof(to));
	if (fsync(fd) != 0 || fchmod(fd, 0600) != 0 || rename(from, to) != 0)
		return steward_err_set(err, STEWARD_EIO, "swdist_dir",
				       "check that the state directory is writable and the disk "
				       "is not full",
				       "cannot move %s into the cache: %s", from, strerror(errno));
	snprintf(dir, sizeof(dir), "%s/cache/blobs", ag->sw.dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* The floors below which a transfer is dropped, lowered to half the rate
 * limit of the agent's link class when that is lower (link.c): a download
 * the site holds to 16 kbit/s must not be cut for keeping to it. */
static uint64_t lowered(const struct agent *ag, uint64_t floor)
{
	uint64_t half = link_rate_bps(ag) / 2;

	return link_rate_bps(ag) && half < floor ? (half ? half : 1) : floor;
}

/* The most one request may take: the bytes still to come at
 * TRANSFER_FLOOR_BYTES a second, plus connecting and one HTTP timeout (for
 * the first byte); at most a day. */
static long transfer_deadline_ms(const struct agent *ag, uint64_t remaining)
{
	uint64_t ms = (remaining > UINT64_MAX / 1000 ? UINT64_MAX / 1000 : remaining) * 1000 /
		      lowered(ag, TRANSFER_FLOOR_BYTES);

	ms += (uint64_t)(ag->http_timeout_ms < CONNECT_TIMEOUT_MS ? ag->http_timeout_ms
								  : CONNECT_TIMEOUT_MS);
	ms += (uint64_t)ag->http_timeout_ms;
	return ms > 86400000 ? 86400000 : (long)ms;
}

/* A timeout once connected is a transfer too slow (the low-speed floor or
 * the deadline): says how fast it was. false: it never connected. */
static bool too_slow(struct dl *d, const char *dp, long deadline_ms, struct steward_err *err)
{
	curl_off_t us = 0, body = 0, connected = 0;
	long head = 0,
	     low_s = d->ag->http_timeout_ms / 1000 > 0 ? d->ag->http_timeout_ms / 1000 : 1;
	double s;
	uint64_t bytes;

	curl_easy_getinfo(d->curl, CURLINFO_CONNECT_TIME_T, &connected);
	if (connected <= 0)
		return false;
	curl_easy_getinfo(d->curl, CURLINFO_TOTAL_TIME_T, &us);
	curl_easy_getinfo(d->curl, CURLINFO_SIZE_DOWNLOAD_T, &body);
	curl_easy_getinfo(d->curl, CURLINFO_HEADER_SIZE, &head);
	s = us > 0 ? (double)us / 1e6 : 0.001;
	bytes = (uint64_t)(body > 0 ? body : 0) + (uint64_t)(head > 0 ? head : 0);
	if (us / 1000 + 500 >= deadline_ms)
		steward_err_set(err, STEWARD_ETIMEDOUT, "download_too_slow", "",
				"%s: not done within %ld s (%llu bytes at %d bytes/s): %llu bytes "
				"in %.1f s (%.0f bytes/s); kept %llu bytes to resume",
				dp, deadline_ms / 1000, (unsigned long long)(d->max - d->from),
				(int)lowered(d->ag, TRANSFER_FLOOR_BYTES), (unsigned long long)bytes, s,
				(double)bytes / s, (unsigned long long)(d->have + d->got));
	else
		steward_err_set(
		    err, STEWARD_ETIMEDOUT, "download_too_slow", "",
		    "%s: too slow: %llu bytes in %.1f s (%.0f bytes/s; under %d bytes/s "
		    "for %ld s); kept %llu bytes to resume",
		    dp, (unsigned long long)bytes, s, (double)bytes / s,
		    (int)lowered(d->ag, LOW_SPEED_BYTES), low_s,
		    (unsigned long long)(d->have + d->got));
	return true;
}

enum try_result { TRY_OK, TRY_NEXT, TRY_AGAIN, TRY_FATAL };

/* One GET from one DP. */
static enum try_result try_dp(struct agent *ag, const struct swdist_src *src, const char *dp,
			      const char *hash, uint64_t size, struct dl *d,
			      struct steward_err *err)
{
	char url[AGENT_URL_MAX + 96], range[48], auth[1024], got[CONTENT_HASH_HEX + 1];
	char h_ver[64], h_proto[64], prange[24];
	struct proto_range self = proto_self_range();
	struct curl_slist *hdrs = NULL, *more;
	struct content_hasher h;
	long low_s = ag->http_timeout_ms / 1000 > 0 ? ag->http_timeout_ms / 1000 : 1;
	CURLcode cc;
	enum try_result res = TRY_NEXT;
	long deadline_ms;
	bool slow = false;

	if (hash_partial(d) != 0)
		return steward_err_set(err, STEWARD_EIO, "swdist_dir", "check the disk",
				       "cannot read the partial download of %s", hash),
		       TRY_FATAL;
	if (size && d->have > size) {
		/* longer than the blob: cannot be a prefix of it */
		if (ftruncate(d->fd, 0) != 0 || hash_partial(d) != 0)
			return TRY_FATAL;
	}
	d->from = d->have;
	if (size && d->have == size)
		goto check; /* a whole blob from before a crash */
	d->got = 0;
	d->decided = d->writing = d->bad_range = d->too_big = d->io_error = false;
	d->status = 0;
	d->content_range[0] = '\0';
	snprintf(url, sizeof(url), "%s/content/%s", dp, hash);
	snprintf(auth, sizeof(auth), "Authorization: Steward-Content %s", src->token);
	hdrs = curl_slist_append(hdrs, auth);
	/* the handshake on this link too: a DP of another protocol refuses
	 * at once (409 version_incompatible) and the next DP is tried */
	proto_range_format(&self, prange);
	snprintf(h_ver, sizeof(h_ver), PROTO_H_VERSION ": %s", proto_self_version());
	snprintf(h_proto, sizeof(h_proto), PROTO_H_PROTOCOL ": %s", prange);
	if (hdrs && (more = curl_slist_append(hdrs, h_ver)) != NULL)
		hdrs = curl_slist_append(more, h_proto) ? more : (curl_slist_free_all(more), NULL);
	else if (hdrs)
		curl_slist_free_all(hdrs), hdrs = NULL;
	d->curl = curl_easy_init();
	if (!d->curl || !hdrs) {
		curl_slist_free_all(hdrs);
		curl_easy_cleanup(d->curl);
		steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
		return TRY_FATAL;
	}
	curl_easy_setopt(d->curl, CURLOPT_URL, url);
	curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(d->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(d->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(d->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 ag->http_timeout_ms < CONNECT_TIMEOUT_MS ? ag->http_timeout_ms
								  : CONNECT_TIMEOUT_MS);
	curl_easy_setopt(d->curl, CURLOPT_LOW_SPEED_LIMIT, (long)lowered(ag, LOW_SPEED_BYTES));
	curl_easy_setopt(d->curl, CURLOPT_LOW_SPEED_TIME, low_s);
	deadline_ms = transfer_deadline_ms(ag, d->max > d->have ? d->max - d->have : 0);
	curl_easy_setopt(d->curl, CURLOPT_TIMEOUT_MS, deadline_ms);
	curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(d->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(d->curl, CURLOPT_HEADERDATA, d);
	curl_easy_setopt(d->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(d->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(d->curl, CURLOPT_XFERINFODATA, d);
	if (d->have) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)d->have);
		curl_easy_setopt(d->curl, CURLOPT_RANGE, range);
	}
	/* the site's rate limit for this agent's link class, on top of the
	 * distribution point's own caps (docs/slow-links.md) */
	if (link_rate_bps(ag))
		curl_easy_setopt(d->curl, CURLOPT_MAX_RECV_SPEED_LARGE,
				 (curl_off_t)link_rate_bps(ag));
	log_debug("swdist", "get", "url=%s resume_from=%llu", url, (unsigned long long)d->have);
	if (tls_curl_setup(d->curl, url, NULL, &d->tv, err)) {
		curl_slist_free_all(hdrs);
		curl_easy_cleanup(d->curl);
		d->curl = NULL;
		log_warn("swdist", "dp_refused", "url=%s code=%s message=\"%s\"", url, err->code,
			 err->message);
		return TRY_NEXT;
	}
	cc = curl_easy_perform(d->curl);
	if (!d->decided)
		curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &d->status);
	if (d->writing && d->got) {
		/* what the transfer says of the link (link.c): the body's time,
		 * from its first byte to its last */
		curl_off_t t_all = 0, t_first = 0;

		curl_easy_getinfo(d->curl, CURLINFO_TOTAL_TIME_T, &t_all);
		curl_easy_getinfo(d->curl, CURLINFO_STARTTRANSFER_TIME_T, &t_first);
		link_observe(ag, d->got, (int64_t)(t_all - t_first), link_rate_bps(ag) != 0,
			     "download");
	}
	if (cc == CURLE_OPERATION_TIMEDOUT) /* before the handle and its times go */
		slow = too_slow(d, dp, deadline_ms, err);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(d->curl);
	d->curl = NULL;
	if (d->bad_range || d->status == 416) {
		/* the DP does not agree on what we have: start over there */
		if (ftruncate(d->fd, 0) != 0)
			return TRY_FATAL;
		steward_err_set(err, STEWARD_EIO, "download_failed", "",
				"%s answered a range request with %s", dp,
				d->bad_range ? "a different Content-Range" : "416");
		return TRY_AGAIN;
	}
	if (d->io_error) {
		steward_err_set(err, STEWARD_EIO, "swdist_dir", "check that the disk is not full",
				"cannot write the download of %s: %s", hash, strerror(errno));
		return TRY_FATAL;
	}
	if (d->too_big) {
		res = TRY_NEXT;
		snprintf(got, sizeof(got), "more than %llu bytes", (unsigned long long)d->max);
		goto mismatch;
	}
	if (slow) {
		d->have += d->got; /* kept: the next attempt resumes from here */
		return TRY_NEXT;
	}
	if (cc != CURLE_OK && !(d->status && !d->writing) &&
	    tls_curl_error(cc, url, &d->tv, err) != 0) {
		log_warn("swdist", "dp_refused", "url=%s code=%s message=\"%s\"", url, err->code,
			 err->message);
		return TRY_NEXT;
	}
	if (cc != CURLE_OK && !(d->status && !d->writing)) {
		steward_err_set(
		    err, STEWARD_EIO, "download_failed", "", "%s: %s (after %llu bytes)", url,
		    cc == CURLE_ABORTED_BY_CALLBACK ? "stopped" : curl_easy_strerror(cc),
		    (unsigned long long)(d->have + d->got));
		return cc == CURLE_ABORTED_BY_CALLBACK ? TRY_FATAL : TRY_NEXT;
	}
	if (!d->writing && d->status == 409) {
		steward_err_set(err, STEWARD_EVERSION, "version_incompatible",
				"upgrade the distribution point or this agent to releases that share "
				"a protocol version",
				"%s refused this agent's protocol %s (HTTP 409)", dp, prange);
		return TRY_NEXT;
	}
	if (!d->writing) {
		steward_err_set(err, STEWARD_EIO, "download_failed", "", "%s answered HTTP %ld",
				url, d->status);
		return TRY_NEXT;
	}
	d->have += d->got;
check:
	h = d->h;
	content_hasher_final(&h, got);
	if (strcmp(got, hash) == 0 && (!size || d->have == size))
		return promote(ag, d->fd, hash, err) ? TRY_FATAL : TRY_OK;
mismatch:
	/* wrong bytes: throw them away and say which DP sent them; after a
	 * resume the partial file may be what was wrong: once more, whole */
	if (d->from && !d->too_big)
		res = TRY_AGAIN;
	if (ftruncate(d->fd, 0) != 0)
		res = TRY_FATAL;
	if (d->from && !d->too_big)
		swdist_report(ag, src->advert, src->revision, "verification_failed", -1,
			      "blob %s from %s (resumed at byte %llu): got %s (%llu bytes); "
			      "thrown away, fetching it whole",
			      hash, dp, (unsigned long long)d->from, got,
			      (unsigned long long)d->have);
	else
		swdist_report(ag, src->advert, src->revision, "verification_failed", -1,
			      "blob %s from %s: got %s (%llu bytes)", hash, dp, got,
			      (unsigned long long)d->have);
	steward_err_set(err, STEWARD_EINVAL, "download_failed", "",
			"%s sent bytes that do not match %s", dp, hash);
	return res;
}

int swdist_fetch(struct agent *ag, const struct swdist_src *src, const char *hash, uint64_t size,
		 uint64_t max, struct steward_err *err)
{
	char path[PATH_MAX];
	struct stat st;
	struct dl d;
	int rc = -STEWARD_EIO;

	swdist_blob_path(ag, hash, path, sizeof(path));
	if (stat(path, &st) == 0 && (!size || (uint64_t)st.st_size == size))
		return 0; /* verified when it went in */
	if (src->n_dps == 0)
		return steward_err_set(err, STEWARD_ENOTFOUND, "download_failed", "",
				       "the policy names no distribution point");
	memset(&d, 0, sizeof(d));
	d.ag = ag;
	d.max = size ? size : max;
	partial_path(ag, hash, path, sizeof(path));
	d.fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d.fd < 0)
		return steward_err_set(err, STEWARD_EIO, "swdist_dir",
				       "check that the state directory is writable",
				       "cannot open %s: %s", path, strerror(errno));
	for (int i = 0; i < src->n_dps; i++) {
		enum try_result r = try_dp(ag, src, src->dps[i], hash, size, &d, err);

		if (r == TRY_AGAIN)
			r = try_dp(ag, src, src->dps[i], hash, size, &d, err);
		if (r == TRY_OK) {
			rc = 0;
			break;
		}
		log_warn("swdist", "dp_failed", "dp=%s blob=%s code=%s message=\"%s\"", src->dps[i],
			 hash, err->code, err->message);
		if (r == TRY_FATAL)
			break;
	}
	close(d.fd);
	if (rc == 0)
		memset(err, 0, sizeof(*err));
	return rc;
}

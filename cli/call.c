/* stewardctl call layer: the admin token, one HTTP call, the API version
 * check and the error report. Handlers see only ctl_request(). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>
#include <strings.h>
#include <unistd.h>

#include "steward/net.h"
#include "steward/proto.h"
#include "steward/util.h"

#include "steward/tls.h"

#include "ctl.h"

#define CTL_TOKEN_BAD_REMEDY                                                                       \
	"point -t FILE or STEWARD_TOKEN_FILE at a file holding one admin token, such as the "      \
	"site's DATA_DIR/admin.token"
#define CTL_TOKEN_REMEDY                                                                           \
	"pass the file with -t FILE or STEWARD_TOKEN_FILE; the site writes its first admin "       \
	"token to DATA_DIR/admin.token on first start"

static bool ctl_token_valid(const char *s, size_t len)
{
	if (len != CTL_TOKEN_LEN || strncmp(s, "stw_", 4) != 0)
		return false;
	for (size_t i = 4; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

int ctl_token_load(struct ctl *ctl)
{
	char *data = NULL, *p;
	size_t len = 0, total;
	int rc;

	if (ctl->token_loaded)
		return CTL_OK;
	rc = file_read_all(ctl->token_file, CTL_TOKEN_FILE_MAX, &data, &len);
	if (rc == -STEWARD_ENOTFOUND) {
		ctl_error("token_file_missing", CTL_TOKEN_REMEDY,
			  "admin token file %s does not exist", ctl->token_file);
		return CTL_EFAIL;
	}
	if (rc == -STEWARD_ETOOBIG) {
		ctl_error("token_file_invalid", CTL_TOKEN_BAD_REMEDY,
			  "admin token file %s is larger than %d bytes; it should hold one token",
			  ctl->token_file, CTL_TOKEN_FILE_MAX);
		return CTL_EFAIL;
	}
	if (rc) {
		ctl_error("token_file_unreadable", CTL_TOKEN_REMEDY,
			  "cannot read admin token file %s: %s", ctl->token_file,
			  rc == -STEWARD_EIO ? strerror(errno) : steward_strerror(rc));
		return CTL_EFAIL;
	}
	/* trim surrounding whitespace; an embedded NUL fails the hex check */
	total = len;
	p = data;
	while (len && isspace((unsigned char)*p)) {
		p++;
		len--;
	}
	while (len && isspace((unsigned char)p[len - 1]))
		len--;
	if (!ctl_token_valid(p, len)) {
		ctl_error("token_file_invalid", CTL_TOKEN_BAD_REMEDY,
			  "admin token file %s does not hold an admin token "
			  "(expected stw_ followed by 64 hex digits)",
			  ctl->token_file);
		sodium_memzero(data, total);
		free(data);
		return CTL_EFAIL;
	}
	memcpy(ctl->token, p, CTL_TOKEN_LEN);
	ctl->token[CTL_TOKEN_LEN] = '\0';
	ctl->token_loaded = true;
	sodium_memzero(data, total);
	free(data);
	return CTL_OK;
}

void ctl_token_forget(struct ctl *ctl)
{
	sodium_memzero(ctl->token, sizeof(ctl->token));
	ctl->token_loaded = false;
}

/* Leading decimal major of "1" or "1.2"; -1 when there is none. */
static int ctl_api_major(const char *s)
{
	int v = 0, n = 0;

	for (; *s >= '0' && *s <= '9' && n < 6; s++, n++)
		v = v * 10 + (*s - '0');
	if (n == 0 || n == 6 || (*s && *s != '.'))
		return -1;
	return v;
}

/* The site's Steward-Api header, when present, must carry our major. */
static int ctl_check_api(const struct http_resp *resp)
{
	const char *ver = resp->server_version[0] ? resp->server_version : "unknown";
	char remedy[STEWARD_ERR_MSG_MAX];

	if (!resp->server_api[0] || ctl_api_major(resp->server_api) == STEWARD_API_MAJOR)
		return CTL_OK;
	/* self-update does not pass through here: it works whatever the API */
	snprintf(remedy, sizeof(remedy),
		 "update this console: stewardctl self-update (it works whatever the API), or "
		 "install the stewardctl of the site's version %s",
		 ver);
	ctl_error("version_incompatible", remedy,
		  "stewardctl API %d cannot manage site API %s (site version %s)",
		  STEWARD_API_MAJOR, resp->server_api, ver);
	return CTL_EVERSION;
}

/* A non-2xx reply: the site's JSON error when it sent one. */
static int ctl_report_http_error(const struct http_resp *resp)
{
	struct steward_err err;
	char remedy[STEWARD_ERR_MSG_MAX + 64];

	memset(&err, 0, sizeof(err));
	if (resp->body.data && proto_error_parse(resp->body.data, resp->body.len, &err) == 0) {
		snprintf(remedy, sizeof(remedy), "%s", err.remedy);
		if (resp->retry_after > 0)
			snprintf(remedy, sizeof(remedy),
				 "%s%s(the site asks to retry after %lld s)", err.remedy,
				 err.remedy[0] ? " " : "", (long long)resp->retry_after);
		ctl_error(err.code, remedy, "%s", err.message);
		return strcmp(err.code, "version_incompatible") == 0 ? CTL_EVERSION : CTL_EFAIL;
	}
	if (!resp->server_version[0])
		ctl_error(
		    "http_error",
		    "the reply did not come from stewardd (no Steward-Version header); check the "
		    "server URL (-s or STEWARD_SERVER)",
		    "the server answered HTTP %ld", resp->status);
	else
		ctl_error("http_error", "check the site's log",
			  "the site answered HTTP %ld without an error body", resp->status);
	return CTL_EFAIL;
}

/* One call: the token, the identification every call sends, the transport
 * errors, the API check (unless check_api is false) and the site's error
 * for a non-2xx reply; on CTL_OK the reply is in *resp (the caller inits
 * and frees it). */
static int ctl_call(struct ctl *ctl, const char *method, const char *path, const char *text,
		    size_t max_response, bool check_api, struct http_resp *resp)
{
	char url[CTL_URL_MAX + CTL_PATH_MAX];
	char h_auth[32 + CTL_TOKEN_LEN], h_ver[64], h_api[48], h_proto[64], range[24];
	const char *headers[8];
	struct proto_range self = proto_self_range();
	struct http_call call;
	struct steward_err err;
	int n = 0, rc;

	rc = ctl_token_load(ctl);
	if (rc)
		return rc;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", ctl->server, path) >= sizeof(url)) {
		ctl_error("usage", "shorten the query or the server URL",
			  "the request URL is too long (%zu bytes; the limit is %zu)",
			  strlen(ctl->server) + strlen(path), sizeof(url) - 1);
		return CTL_EUSAGE;
	}
	proto_range_format(&self, range);
	snprintf(h_auth, sizeof(h_auth), "Authorization: Bearer %s", ctl->token);
	snprintf(h_ver, sizeof(h_ver), PROTO_H_VERSION ": %s", proto_self_version());
	snprintf(h_api, sizeof(h_api), PROTO_H_API ": %d", STEWARD_API_MAJOR);
	snprintf(h_proto, sizeof(h_proto), PROTO_H_PROTOCOL ": %s", range);
	headers[n++] = h_auth;
	headers[n++] = h_ver;
	headers[n++] = h_api;
	headers[n++] = h_proto;
	headers[n++] = "Accept: application/json";
	/* without a body, stop curl from labelling the empty DELETE as a form */
	headers[n++] = text ? "Content-Type: application/json" : "Content-Type:";
	headers[n] = NULL;

	memset(&call, 0, sizeof(call));
	call.method = method;
	call.url = url;
	call.headers = headers;
	call.body = text;
	call.body_len = text ? strlen(text) : 0;
	call.timeout_ms = ctl->timeout_ms;
	call.max_response = max_response;

	memset(&err, 0, sizeof(err));
	rc = http_call(&call, resp, &err);
	sodium_memzero(h_auth, sizeof(h_auth));
	if (rc == -STEWARD_ETIMEDOUT) {
		ctl_error(err.code, "check that the site is up and reachable, or raise --timeout",
			  "%s", err.message);
		return CTL_EUNREACHABLE;
	}
	if (rc == -STEWARD_EIO) {
		ctl_error(
		    err.code,
		    "check the server URL (-s or STEWARD_SERVER) and that stewardd is running",
		    "%s", err.message);
		return CTL_EUNREACHABLE;
	}
	if (rc) {
		ctl_error(err.code, err.remedy, "%s", err.message);
		return CTL_EFAIL;
	}
	if (check_api) {
		rc = ctl_check_api(resp);
		if (rc)
			return rc;
	}
	if (resp->status < 200 || resp->status > 299)
		return ctl_report_http_error(resp);
	return CTL_OK;
}

int ctl_request(struct ctl *ctl, const char *method, const char *path, const json_t *body,
		json_t **reply)
{
	struct http_resp resp;
	json_error_t jerr;
	char *text = NULL;
	int rc;

	*reply = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!text) {
			ctl_error("internal", "", "out of memory");
			return CTL_EFAIL;
		}
	}
	http_resp_init(&resp);
	rc = ctl_call(ctl, method, path, text, CTL_RESPONSE_MAX, true, &resp);
	if (rc)
		goto out;
	*reply = resp.body.data ? json_loadb(resp.body.data, resp.body.len, 0, &jerr) : NULL;
	if (!*reply) {
		ctl_error("bad_reply",
			  "check that the server URL points at stewardd of the same version",
			  "%s %s: the reply is not JSON%s%s", method, path,
			  resp.body.data ? ": " : "", resp.body.data ? jerr.text : "");
		rc = CTL_EFAIL;
		goto out;
	}
	rc = CTL_OK;
out:
	http_resp_free(&resp);
	free(text);
	return rc;
}

int ctl_fetch(struct ctl *ctl, const char *path, size_t max, char **body, size_t *len)
{
	struct http_resp resp;
	int rc;

	*body = NULL;
	*len = 0;
	http_resp_init(&resp);
	rc = ctl_call(ctl, "GET", path, NULL, max, false, &resp);
	if (!rc) {
		*len = resp.body.len;
		*body = buf_steal(&resp.body);
		if (!*body) {
			ctl_error("internal", "", "out of memory");
			rc = CTL_EFAIL;
		}
	}
	http_resp_free(&resp);
	return rc;
}

/* ---- streamed uploads ------------------------------------------------------ */

struct ctl_upload_state {
	int fd;
	uint64_t left, sent;
	int read_errno; /* read() failed */
	bool short_file; /* the file ended before its recorded size */
	ctl_progress_fn progress;
	void *ctx;
	struct http_resp *resp;
};

/* curl asks for the next piece of the body: straight from the file, never
 * more than the size we announced. */
static size_t ctl_upload_read(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct ctl_upload_state *u = ud;
	size_t want = size * nmemb;
	ssize_t n;

	if (u->left == 0)
		return 0;
	if (want > u->left)
		want = (size_t)u->left;
	do
		n = read(u->fd, ptr, want);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		u->read_errno = errno;
		return CURL_READFUNC_ABORT;
	}
	if (n == 0) {
		u->short_file = true;
		return CURL_READFUNC_ABORT;
	}
	u->left -= (uint64_t)n;
	u->sent += (uint64_t)n;
	if (u->progress)
		u->progress(u->sent, u->ctx);
	return (size_t)n;
}

static size_t ctl_upload_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct ctl_upload_state *u = ud;
	size_t n = size * nmemb;

	return buf_append(&u->resp->body, ptr, n) ? 0 : n; /* 0: over the cap, curl stops */
}

static void ctl_header_value(const char *line, size_t len, size_t skip, char *out, size_t outsz)
{
	const char *v = line + skip;
	size_t n;

	while (v < line + len && (*v == ' ' || *v == '\t'))
		v++;
	n = (size_t)(line + len - v);
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

/* The headers ctl_check_api() and ctl_report_http_error() read. */
static size_t ctl_upload_header(char *line, size_t size, size_t nmemb, void *ud)
{
	struct ctl_upload_state *u = ud;
	size_t len = size * nmemb;
	char tmp[32];

#define CTL_HDR(name) (len > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0)
	if (CTL_HDR("Retry-After:")) {
		ctl_header_value(line, len, sizeof("Retry-After:") - 1, tmp, sizeof(tmp));
		u->resp->retry_after = strtoll(tmp, NULL, 10);
		if (u->resp->retry_after < 0 || u->resp->retry_after > 86400)
			u->resp->retry_after = 0;
	} else if (CTL_HDR(PROTO_H_VERSION ":")) {
		ctl_header_value(line, len, sizeof(PROTO_H_VERSION ":") - 1,
				 u->resp->server_version, sizeof(u->resp->server_version));
	} else if (CTL_HDR(PROTO_H_API ":")) {
		ctl_header_value(line, len, sizeof(PROTO_H_API ":") - 1, u->resp->server_api,
				 sizeof(u->resp->server_api));
	}
#undef CTL_HDR
	return len;
}

int ctl_upload(struct ctl *ctl, const char *path, int fd, uint64_t size, const char *what,
	       ctl_progress_fn progress, void *ctx, json_t **reply)
{
	char url[CTL_URL_MAX + CTL_PATH_MAX];
	char h_auth[32 + CTL_TOKEN_LEN], h_ver[64], h_api[48], h_proto[64], range[24];
	struct proto_range self = proto_self_range();
	struct curl_slist *hdrs = NULL, *h;
	struct ctl_upload_state u;
	struct http_resp resp;
	json_error_t jerr;
	long connect_ms, stall_s;
	CURL *curl = NULL;
	static struct tls_verify tv; /* one upload at a time; kept off the stack for its size */
	CURLcode cc;
	int rc;

	*reply = NULL;
	http_resp_init(&resp);
	buf_free(&resp.body);
	buf_init(&resp.body, CTL_UPLOAD_REPLY_MAX);
	rc = ctl_token_load(ctl);
	if (rc)
		goto out;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", ctl->server, path) >= sizeof(url)) {
		ctl_error("usage", "shorten the server URL", "the upload URL is too long");
		rc = CTL_EUSAGE;
		goto out;
	}
	/* the same identification ctl_request() sends */
	proto_range_format(&self, range);
	snprintf(h_auth, sizeof(h_auth), "Authorization: Bearer %s", ctl->token);
	snprintf(h_ver, sizeof(h_ver), PROTO_H_VERSION ": %s", proto_self_version());
	snprintf(h_api, sizeof(h_api), PROTO_H_API ": %d", STEWARD_API_MAJOR);
	snprintf(h_proto, sizeof(h_proto), PROTO_H_PROTOCOL ": %s", range);
	{
		const char *list[] = {h_auth, h_ver, h_api, h_proto, "Accept: application/json",
				      "Content-Type: application/octet-stream",
				      /* a large blob waits for the go-ahead, so a
				       * refusal comes before the bytes */
				      http_expect_header(size)};

		for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
			h = curl_slist_append(hdrs, list[i]);
			if (!h) {
				ctl_error("internal", "", "out of memory");
				rc = CTL_EFAIL;
				goto out;
			}
			hdrs = h;
		}
	}
	curl = curl_easy_init();
	if (!curl) {
		ctl_error("internal", "", "cannot create an HTTP handle");
		rc = CTL_EFAIL;
		goto out;
	}
	memset(&u, 0, sizeof(u));
	u.fd = fd;
	u.left = size;
	u.progress = progress;
	u.ctx = ctx;
	u.resp = &resp;
	connect_ms = ctl->timeout_ms < 5000 ? ctl->timeout_ms : 5000;
	stall_s = ctl->timeout_ms / 1000 > 0 ? ctl->timeout_ms / 1000 : 1;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L); /* PUT with a body from the read callback */
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, ctl_upload_read);
	curl_easy_setopt(curl, CURLOPT_READDATA, &u);
	curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	/* no overall deadline: a large file on a slow link takes long; a
	 * stalled one is cut off instead of hanging */
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, (long)CTL_UPLOAD_LOW_SPEED);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, stall_s);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ctl_upload_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &u);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ctl_upload_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &u);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	{
		struct steward_err terr;
		if (tls_curl_setup(curl, url, NULL, &tv, &terr)) {
			ctl_error(terr.code, terr.remedy, "%s", terr.message);
			rc = CTL_EFAIL;
			goto out;
		}
	}
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK && (u.short_file || u.read_errno)) {
		ctl_error("file_changed", "run 'packages add' again once nothing writes to the source",
			  "%s changed while it was uploaded: %s", what,
			  u.short_file ? "it is shorter than when it was hashed"
				       : strerror(u.read_errno));
		rc = CTL_EFAIL;
		goto out;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT && u.sent == 0 && resp.server_version[0] == '\0') {
		ctl_error("timeout", "check that the site is up and reachable, or raise --timeout",
			  "no answer from %s within %ld ms", url, connect_ms);
		rc = CTL_EUNREACHABLE;
		goto out;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		ctl_error("upload_stalled",
			  "check the network and the site's disk, or raise --timeout",
			  "uploading %s moved less than %d bytes per second for %ld s (%llu of %llu "
			  "bytes sent)",
			  what, CTL_UPLOAD_LOW_SPEED, stall_s, (unsigned long long)u.sent,
			  (unsigned long long)size);
		rc = CTL_EUNREACHABLE;
		goto out;
	}
	if (cc == CURLE_WRITE_ERROR) {
		ctl_error("response_too_large", "check the server URL and the site's version",
			  "the reply to the upload of %s is larger than %u bytes", what,
			  CTL_UPLOAD_REPLY_MAX);
		rc = CTL_EFAIL;
		goto out;
	}
	if (cc != CURLE_OK) {
		struct steward_err terr;
		if (tls_curl_error(cc, url, &tv, &terr)) {
			ctl_error(terr.code, terr.remedy, "%s", terr.message);
			rc = CTL_EFAIL;
			goto out;
		}
		ctl_error("unreachable",
			  "check the server URL (-s or STEWARD_SERVER) and that stewardd is running",
			  "uploading %s to %s failed: %s", what, url, curl_easy_strerror(cc));
		rc = CTL_EUNREACHABLE;
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
	rc = ctl_check_api(&resp);
	if (rc)
		goto out;
	if (resp.status < 200 || resp.status > 299) {
		rc = ctl_report_http_error(&resp);
		goto out;
	}
	*reply = resp.body.len ? json_loadb(resp.body.data, resp.body.len, 0, &jerr) : NULL;
	if (!*reply) {
		ctl_error("bad_reply",
			  "check that the server URL points at stewardd of the same version",
			  "PUT %s: the reply is not JSON%s%s", path, resp.body.len ? ": " : "",
			  resp.body.len ? jerr.text : "");
		rc = CTL_EFAIL;
		goto out;
	}
	rc = CTL_OK;
out:
	if (curl)
		curl_easy_cleanup(curl);
	curl_slist_free_all(hdrs);
	sodium_memzero(h_auth, sizeof(h_auth));
	http_resp_free(&resp);
	return rc;
}

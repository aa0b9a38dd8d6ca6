/* net/client: one HTTP call through libcurl, with a whole-request timeout and
 * a cap on the response body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include <curl/curl.h>

#include "steward/net.h"
#include "steward/tls.h"

int http_client_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -STEWARD_EIO;
}

void http_client_global_cleanup(void)
{
	curl_global_cleanup();
}

void http_resp_init(struct http_resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 1);
}

void http_resp_free(struct http_resp *r)
{
	buf_free(&r->body);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct http_resp *r = ud;
	size_t n = size * nmemb;

	if (buf_append(&r->body, ptr, n))
		return 0; /* over the cap: curl aborts with CURLE_WRITE_ERROR */
	return n;
}

static void copy_header_value(const char *line, size_t len, size_t namelen, char *out,
			      size_t outsz)
{
	const char *v = line + namelen;
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

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	struct http_resp *r = ud;
	size_t len = size * nmemb;
	char tmp[32];

#define HDR(name) (len > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0)
	if (HDR("Retry-After:")) {
		copy_header_value(line, len, sizeof("Retry-After:") - 1, tmp, sizeof(tmp));
		r->retry_after = strtoll(tmp, NULL, 10);
		if (r->retry_after < 0 || r->retry_after > 86400)
			r->retry_after = 0;
	} else if (HDR("Steward-Version:")) {
		copy_header_value(line, len, sizeof("Steward-Version:") - 1, r->server_version,
				  sizeof(r->server_version));
	} else if (HDR("Steward-Api:")) {
		copy_header_value(line, len, sizeof("Steward-Api:") - 1, r->server_api,
				  sizeof(r->server_api));
	} else if (HDR("Steward-Protocol:")) {
		copy_header_value(line, len, sizeof("Steward-Protocol:") - 1, r->server_protocol,
				  sizeof(r->server_protocol));
	} else if (HDR("Steward-Site:")) {
		copy_header_value(line, len, sizeof("Steward-Site:") - 1, r->site, sizeof(r->site));
	} else if (HDR("Steward-Timestamp:")) {
		copy_header_value(line, len, sizeof("Steward-Timestamp:") - 1, r->timestamp,
				  sizeof(r->timestamp));
	} else if (HDR("Steward-Tls-Next-Pin:")) {
		copy_header_value(line, len, sizeof("Steward-Tls-Next-Pin:") - 1, r->tls_next_pin,
				  sizeof(r->tls_next_pin));
	} else if (HDR("Steward-Enroll-Mac:")) {
		copy_header_value(line, len, sizeof("Steward-Enroll-Mac:") - 1, r->enroll_mac,
				  sizeof(r->enroll_mac));
	} else if (HDR("Steward-Signature:")) {
		copy_header_value(line, len, sizeof("Steward-Signature:") - 1, r->signature,
				  sizeof(r->signature));
	}
#undef HDR
	return len;
}

const char *http_expect_header(size_t body_len)
{
	/* A small body goes with the headers: a round trip would cost more than
	 * sending it. A large one waits for the site's go-ahead, so that a
	 * refusal (413, 401) arrives instead of a reset in the middle of it. */
	return body_len > HTTP_EXPECT_MIN ? "Expect: 100-continue" : "Expect:";
}

int http_call(const struct http_call *c, struct http_resp *out, struct steward_err *err)
{
	CURL *h;
	CURLcode cc;
	struct curl_slist *hdrs = NULL;
	struct tls_verify *tv;
	int rc = 0;
	long connect_ms;

	buf_free(&out->body);
	buf_init(&out->body, c->max_response ? c->max_response : 1024 * 1024);
	out->status = 0;
	out->us_connect = out->us_pretransfer = out->us_starttransfer = out->us_total = 0;
	out->retry_after = 0;
	out->site[0] = out->timestamp[0] = out->signature[0] = out->enroll_mac[0] = '\0';
	out->tls_next_pin[0] = out->tls_matched[0] = '\0';
	if (c->timeout_ms <= 0)
		return steward_err_set(err, STEWARD_EINVAL, "internal", "", "HTTP call without a timeout");
	h = curl_easy_init();
	tv = malloc(sizeof(*tv));
	if (!h || !tv) {
		curl_easy_cleanup(h);
		free(tv);
		return steward_err_set(err, STEWARD_ENOMEM, "internal", "", "cannot create an HTTP handle");
	}
	if ((rc = tls_curl_setup(h, c->url, c->trust, tv, err)) != 0) {
		curl_easy_cleanup(h);
		free(tv);
		return rc;
	}
	connect_ms = c->connect_timeout_ms > 0 ? c->connect_timeout_ms
					       : (c->timeout_ms < 5000 ? c->timeout_ms : 5000);
	for (const char *const *p = c->headers; p && *p; p++)
		hdrs = curl_slist_append(hdrs, *p);
	hdrs = curl_slist_append(hdrs, http_expect_header(c->body ? c->body_len : 0));
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
	} else if (strcmp(c->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	cc = curl_easy_perform(h);
	{
		curl_off_t t = 0;

		if (curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &t) == CURLE_OK)
			out->us_connect = (int64_t)t;
		if (curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &t) == CURLE_OK)
			out->us_pretransfer = (int64_t)t;
		if (curl_easy_getinfo(h, CURLINFO_STARTTRANSFER_TIME_T, &t) == CURLE_OK)
			out->us_starttransfer = (int64_t)t;
		if (curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &t) == CURLE_OK)
			out->us_total = (int64_t)t;
	}
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
		if (tv->pinned && tv->matched >= 0)
			hex_encode(tv->trust.pins[tv->matched], TLS_PIN_BYTES, out->tls_matched);
		if (out->tls_next_pin[0])
			tls_next_pin_seen(c->url, tv, out->tls_next_pin);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		rc = steward_err_set(err, STEWARD_ETIMEDOUT, "timeout",
				     "check that the site is up and reachable; the call is retried on schedule",
				     "no answer from %s within %ld ms", c->url, c->timeout_ms);
	} else if (cc == CURLE_WRITE_ERROR) {
		rc = steward_err_set(err, STEWARD_ETOOBIG, "response_too_large",
				     "the site sent more than this program accepts; check the site's version",
				     "response from %s is larger than %zu bytes", c->url, out->body.max);
	} else if ((rc = tls_curl_error(cc, c->url, tv, err)) == 0) {
		rc = steward_err_set(err, STEWARD_EIO, "unreachable",
				     "check the server URL and that stewardd is running",
				     "cannot reach %s: %s", c->url, curl_easy_strerror(cc));
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(tv);
	return rc;
}

/* sim/http: the load engine. A fixed set of slots, each one libcurl easy
 * handle reused for the whole run, driven by one multi handle in one thread.
 *
 * Reusing the handles and keeping MAXCONNECTS at the slot count means each
 * slot keeps its keep-alive connection: the benchmark measures requests,
 * not TCP handshakes. Header lists are built in the slot itself (the
 * curl_slist nodes point into the slot's own strings), so starting a
 * request allocates nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"

static char expect_off[] = "Expect:"; /* no 100-continue round trip */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sim_req *r = ud;
	size_t n = size * nmemb;
	long status = 0;

	if (r->content) {
		/* a blob: counted and dropped; an error page is kept (capped) so
		 * that its code can be read */
		r->got += n;
		if (r->got > r->max)
			return 0;
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status <= 299)
			return n;
	}
	if (buf_append(&r->body, ptr, n))
		return 0; /* over the cap: curl fails with CURLE_WRITE_ERROR */
	return n;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	static const char name[] = "Retry-After:";
	struct sim_req *r = ud;
	size_t len = size * nmemb;
	long long v;

	if (len > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0) {
		v = strtoll(line + sizeof(name) - 1, NULL, 10);
		r->retry_after = v > 0 && v <= 86400 ? v : 0;
	}
	return len;
}

int sim_http_init(struct sim_http *h, int slots, long timeout_ms)
{
	long connect_ms = timeout_ms < 5000 ? timeout_ms : 5000;

	memset(h, 0, sizeof(*h));
	h->timeout_ms = timeout_ms;
	h->multi = curl_multi_init();
	h->reqs = calloc((size_t)slots, sizeof(*h->reqs));
	h->free_ids = calloc((size_t)slots, sizeof(*h->free_ids));
	if (!h->multi || !h->reqs || !h->free_ids)
		goto fail;
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)slots);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)slots);
	for (int i = 0; i < slots; i++) {
		struct sim_req *r = &h->reqs[i];
		CURL *e = curl_easy_init();

		if (!e)
			goto fail;
		r->easy = e;
		h->n++;
		buf_init(&r->body, SIM_RESPONSE_MAX);
		curl_easy_setopt(e, CURLOPT_PRIVATE, r);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		h->free_ids[h->n_free++] = i;
	}
	return 0;
fail:
	sim_http_free(h);
	return -STEWARD_ENOMEM;
}

void sim_http_free(struct sim_http *h)
{
	for (int i = 0; i < h->n; i++) {
		struct sim_req *r = &h->reqs[i];

		if (h->multi)
			curl_multi_remove_handle(h->multi, r->easy);
		curl_easy_cleanup(r->easy);
		buf_free(&r->body);
		free(r->owned_body);
	}
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free(h->reqs);
	free(h->free_ids);
	memset(h, 0, sizeof(*h));
}

struct sim_req *sim_http_get(struct sim_http *h)
{
	if (h->n_free == 0)
		return NULL;
	return &h->reqs[h->free_ids[--h->n_free]];
}

void sim_http_put(struct sim_http *h, struct sim_req *r)
{
	free(r->owned_body);
	r->owned_body = NULL;
	r->content = false;
	r->got = r->max = 0;
	h->free_ids[h->n_free++] = (int)(r - h->reqs);
}

int sim_http_inflight(const struct sim_http *h)
{
	return h->n - h->n_free;
}

int sim_http_start(struct sim_http *h, struct sim_req *r, const char *url,
		   const char *const *headers, const char *body, size_t body_len)
{
	struct curl_slist *list = NULL;
	size_t n = 0;
	CURL *e = r->easy;

	/* Link the slot's own nodes; curl only reads them. */
	for (const char *const *p = headers; p && *p; p++) {
		if (n + 1 >= sizeof(r->hdrs) / sizeof(r->hdrs[0]))
			break;
		r->hdrs[n].data = (char *)*p;
		r->hdrs[n].next = NULL;
		if (n)
			r->hdrs[n - 1].next = &r->hdrs[n];
		n++;
	}
	if (body) {
		r->hdrs[n].data = expect_off;
		r->hdrs[n].next = NULL;
		if (n)
			r->hdrs[n - 1].next = &r->hdrs[n];
		n++;
	}
	list = n ? &r->hdrs[0] : NULL;

	buf_reset(&r->body);
	r->retry_after = 0;
	r->got = 0;
	if (url != r->last_url) {
		struct steward_err err;
		curl_easy_setopt(e, CURLOPT_URL, url);
		if (tls_curl_setup(e, url, NULL, &r->tv, &err)) {
			fprintf(stderr, "steward-sim: %s: %s\n", err.code, err.message);
			sim_http_put(h, r);
			return -STEWARD_EAUTH;
		}
		r->last_url = url;
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	} else {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}
	r->started_us = time_mono_us();
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		sim_http_put(h, r);
		return -STEWARD_EIO;
	}
	return 0;
}

int sim_http_step(struct sim_http *h, int poll_ms, sim_done_fn done, void *ctx)
{
	CURLMsg *m;
	int running = 0, left = 0, finished = 0;
	int64_t now_us;

	curl_multi_perform(h->multi, &running);
	/* One timestamp for the batch, taken before any completion is
	 * processed, so the work done for one reply (opening a sealed key)
	 * does not inflate the latency of the next. */
	now_us = time_mono_us();
	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct sim_req *r = NULL;
		CURLcode cc;
		long status = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		cc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (cc == CURLE_OK)
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(h->multi, r->easy);
		r->finished_us = now_us;
		done(r, cc, status, ctx);
		sim_http_put(h, r);
		finished++;
	}
	if (!finished && poll_ms > 0)
		curl_multi_poll(h->multi, NULL, 0, poll_ms, NULL);
	return finished;
}

void sim_http_abort_all(struct sim_http *h, sim_done_fn done, void *ctx)
{
	bool is_free[SIM_CONCURRENCY_MAX] = {0};
	int64_t now_us = time_mono_us();

	for (int i = 0; i < h->n_free; i++)
		is_free[h->free_ids[i]] = true;
	for (int i = 0; i < h->n; i++) {
		struct sim_req *r = &h->reqs[i];

		if (is_free[i])
			continue;
		curl_multi_remove_handle(h->multi, r->easy);
		r->finished_us = now_us;
		done(r, CURLE_ABORTED_BY_CALLBACK, 0, ctx);
		sim_http_put(h, r);
	}
}

void sim_curl_key(CURLcode cc, char out[SIM_KEY_MAX])
{
	const char *k;

	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT: k = "timeout"; break;
	case CURLE_COULDNT_CONNECT: k = "connect"; break;
	case CURLE_COULDNT_RESOLVE_HOST: k = "resolve"; break;
	case CURLE_GOT_NOTHING: k = "empty_reply"; break;
	case CURLE_SEND_ERROR: k = "send"; break;
	case CURLE_RECV_ERROR: k = "recv"; break;
	case CURLE_WRITE_ERROR: k = "response_too_large"; break;
	case CURLE_ABORTED_BY_CALLBACK: k = "aborted"; break;
	default:
		snprintf(out, SIM_KEY_MAX, "curl_%d", (int)cc);
		return;
	}
	snprintf(out, SIM_KEY_MAX, "%s", k);
}

/* Unit tests for the agent's downloads (swdist_fetch.c) and status outbox
 * (swdist_outbox.c), against small fake distribution points on loopback:
 * failover past a dead DP and one that sends wrong bytes, Range resume,
 * a DP that ignores Range, and the outbox's durability and delivery. The
 * session layer is stubbed: session_status answers what the test says. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "steward/content.h"
#include "../../agent/agent.h"

/* ---- stubs for session.c ------------------------------------------------------------ */

static enum core_result g_status_res = CORE_RES_OK;
static int g_status_calls;
static char g_status_body[65536];

enum core_result session_status(struct agent *ag, const char *body, int64_t *retry_after,
				struct steward_err *err)
{
	(void)ag, (void)err;
	*retry_after = 0;
	g_status_calls++;
	snprintf(g_status_body, sizeof(g_status_body), "%s", body);
	return g_status_res;
}

void agent_status_add(struct agent *ag, const char *type, const char *fmt, ...)
{
	(void)ag, (void)type, (void)fmt;
}

const char *agent_result_name(enum core_result res)
{
	return res == CORE_RES_OK ? "ok" : "retry";
}

/* ---- a fake distribution point ---------------------------------------------------------
 * mode: what it does with GET /content/HASH. */
enum dp_mode { DP_GOOD, DP_WRONG_BYTES, DP_NO_RANGE, DP_404 };

struct dp {
	int fd;
	int port;
	enum dp_mode mode;
	const char *data;
	size_t len;
	char last_range[64];
	char last_auth[256];
	int requests;
	pthread_t thread;
};

static void *dp_main(void *arg)
{
	struct dp *d = arg;

	for (;;) {
		char req[4096], head[256], *p;
		unsigned long long from = 0;
		bool ranged = false;
		ssize_t n;
		int c = accept(d->fd, NULL, NULL);

		if (c < 0)
			return NULL;
		n = recv(c, req, sizeof(req) - 1, 0);
		req[n > 0 ? n : 0] = '\0';
		d->requests++;
		d->last_range[0] = d->last_auth[0] = '\0';
		if ((p = strcasestr(req, "\r\nRange: bytes="))) {
			sscanf(p + 15, "%llu-", &from);
			snprintf(d->last_range, sizeof(d->last_range), "%llu-", from);
			ranged = d->mode != DP_NO_RANGE;
		}
		if ((p = strcasestr(req, "\r\nAuthorization: ")))
			sscanf(p + 17, "%255[^\r]", d->last_auth);
		if (d->mode == DP_404) {
			snprintf(head, sizeof(head),
				 "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
				 "Connection: close\r\n\r\nnot found");
			send(c, head, strlen(head), MSG_NOSIGNAL);
		} else {
			const char *body = d->data + (ranged ? from : 0);
			size_t len = d->len - (ranged ? from : 0);
			char *bad = NULL;

			if (ranged)
				snprintf(head, sizeof(head),
					 "HTTP/1.1 206 Partial Content\r\nContent-Length: %zu\r\n"
					 "Content-Range: bytes %llu-%zu/%zu\r\nConnection: "
					 "close\r\n\r\n",
					 len, from, d->len - 1, d->len);
			else
				snprintf(head, sizeof(head),
					 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
					 "Connection: close\r\n\r\n",
					 len);
			if (d->mode == DP_WRONG_BYTES) {
				bad = malloc(len);
				memcpy(bad, body, len);
				bad[len / 2] ^= 0x55;
				body = bad;
			}
			send(c, head, strlen(head), MSG_NOSIGNAL);
			send(c, body, len, MSG_NOSIGNAL);
			free(bad);
		}
		close(c);
	}
}

static void dp_start(struct dp *d, enum dp_mode mode, const char *data, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	memset(d, 0, sizeof(*d));
	d->mode = mode;
	d->data = data;
	d->len = len;
	d->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(d->fd >= 0);
	assert_int_equal(bind(d->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(d->fd, 8), 0);
	getsockname(d->fd, (struct sockaddr *)&a, &al);
	d->port = ntohs(a.sin_port);
	pthread_create(&d->thread, NULL, dp_main, d);
}

static void dp_stop(struct dp *d)
{
	shutdown(d->fd, SHUT_RDWR);
	close(d->fd);
	pthread_join(d->thread, NULL);
}

/* ---- fixtures ----------------------------------------------------------------------- */

static struct agent g_ag;
static char g_dir[] = "/tmp/steward-test-swdist-XXXXXX";
static char *g_blob;
static size_t g_len = 300000;
static char g_hash[CONTENT_HASH_HEX + 1];

static int setup(void **state)
{
	char path[PATH_MAX];

	(void)state;
	if (!mkdtemp(g_dir) || curl_global_init(CURL_GLOBAL_DEFAULT))
		return -1;
	snprintf(g_ag.state_dir, sizeof(g_ag.state_dir), "%s", g_dir);
	snprintf(g_ag.sw.dir, sizeof(g_ag.sw.dir), "%s/swdist", g_dir);
	for (const char *sub = "cache/blobs"; sub;
	     sub = strcmp(sub, "cache/blobs") ? NULL : "cache/partial") {
		snprintf(path, sizeof(path), "%s/%s", g_ag.sw.dir, sub);
		file_mkdirs(path, 0700);
	}
	g_ag.http_timeout_ms = 5000;
	g_ag.have_session = true;
	snprintf(g_ag.st.client_id, sizeof(g_ag.st.client_id), "%s",
		 "0123456789abcdef0123456789abcdef");
	g_blob = malloc(g_len);
	for (size_t i = 0; i < g_len; i++)
		g_blob[i] = (char)(i * 7 + i / 251);
	content_hash_buf(g_blob, g_len, g_hash);
	return swdist_outbox_open(&g_ag, NULL);
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	free(g_blob);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	curl_global_cleanup();
	return system(cmd) == 0 ? 0 : -1;
}

static void reset_cache(void)
{
	char cmd[3 * PATH_MAX];

	assert_true((size_t)snprintf(cmd, sizeof(cmd),
				     "rm -f %s/cache/blobs/* %s/cache/partial/* %s/outbox.jsonl",
				     g_ag.sw.dir, g_ag.sw.dir, g_ag.sw.dir) < sizeof(cmd));
	assert_int_equal(system(cmd), 0);
}

static char *read_text(const char *name)
{
	char path[PATH_MAX], *data = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", g_ag.sw.dir, name);
	if (file_read_all(path, 1 << 20, &data, &len))
		return strdup("");
	return data;
}

static void assert_cached(void)
{
	char path[PATH_MAX], got[CONTENT_HASH_HEX + 1];
	uint64_t size;

	swdist_blob_path(&g_ag, g_hash, path, sizeof(path));
	assert_int_equal(content_hash_file(path, got, &size), 0);
	assert_string_equal(got, g_hash);
	assert_int_equal(size, g_len);
	assert_true((size_t)snprintf(path, sizeof(path), "%s/cache/partial/%s", g_ag.sw.dir,
				     g_hash) < sizeof(path));
	assert_int_not_equal(access(path, F_OK), 0);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_failover(void **state)
{
	struct dp wrong, good, missing;
	char u0[64], u1[64], u2[64], u3[64];
	const char *dps[] = {u0, u1, u2, u3};
	struct swdist_src src = {
	    .dps = dps, .n_dps = 4, .token = "v1.tok", .advert = 7, .revision = 3};
	struct steward_err err;
	char *outbox;

	(void)state;
	reset_cache();
	dp_start(&missing, DP_404, g_blob, g_len);
	dp_start(&wrong, DP_WRONG_BYTES, g_blob, g_len);
	dp_start(&good, DP_GOOD, g_blob, g_len);
	snprintf(u0, sizeof(u0), "http://127.0.0.1:1"); /* nothing listens */
	snprintf(u1, sizeof(u1), "http://127.0.0.1:%d", missing.port);
	snprintf(u2, sizeof(u2), "http://127.0.0.1:%d", wrong.port);
	snprintf(u3, sizeof(u3), "http://127.0.0.1:%d", good.port);
	memset(&err, 0, sizeof(err));
	assert_int_equal(swdist_fetch(&g_ag, &src, g_hash, g_len, g_len, &err), 0);
	assert_cached();
	assert_int_equal(missing.requests, 1);
	assert_int_equal(wrong.requests, 1);
	assert_int_equal(good.requests, 1);
	assert_string_equal(good.last_auth, "Steward-Content v1.tok");
	/* the wrong bytes were reported, naming the DP that sent them */
	outbox = read_text("outbox.jsonl");
	assert_non_null(strstr(outbox, "\"state\":\"verification_failed\""));
	assert_non_null(strstr(outbox, u2));
	assert_non_null(strstr(outbox, "\"advert\":7"));
	free(outbox);
	/* cached: no request at all the second time */
	assert_int_equal(swdist_fetch(&g_ag, &src, g_hash, g_len, g_len, &err), 0);
	assert_int_equal(good.requests, 1);
	dp_stop(&missing);
	dp_stop(&wrong);
	dp_stop(&good);
}

static void test_all_fail(void **state)
{
	struct dp wrong;
	char u0[64];
	const char *dps[] = {u0};
	struct swdist_src src = {.dps = dps, .n_dps = 1, .token = "t", .advert = 1};
	struct steward_err err;
	char path[PATH_MAX];
	struct stat st;

	(void)state;
	reset_cache();
	dp_start(&wrong, DP_WRONG_BYTES, g_blob, g_len);
	snprintf(u0, sizeof(u0), "http://127.0.0.1:%d", wrong.port);
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(swdist_fetch(&g_ag, &src, g_hash, g_len, g_len, &err), 0);
	assert_string_equal(err.code, "download_failed");
	/* nothing unverified stays behind, in the cache or as a partial */
	swdist_blob_path(&g_ag, g_hash, path, sizeof(path));
	assert_int_not_equal(access(path, F_OK), 0);
	assert_true((size_t)snprintf(path, sizeof(path), "%s/cache/partial/%s", g_ag.sw.dir,
				     g_hash) < sizeof(path));
	assert_true(stat(path, &st) != 0 || st.st_size == 0);
	/* too many bytes for the size the manifest gives: refused */
	wrong.mode = DP_GOOD;
	assert_int_not_equal(swdist_fetch(&g_ag, &src, g_hash, g_len - 1, g_len - 1, &err), 0);
	dp_stop(&wrong);
}

static void write_partial(const char *data, size_t len)
{
	char path[PATH_MAX];

	assert_true((size_t)snprintf(path, sizeof(path), "%s/cache/partial/%s", g_ag.sw.dir,
				     g_hash) < sizeof(path));
	assert_int_equal(file_write_atomic(path, data, len, 0600), 0);
}

static void test_resume(void **state)
{
	struct dp good;
	char u0[64], want[64];
	const char *dps[] = {u0};
	struct swdist_src src = {.dps = dps, .n_dps = 1, .token = "t"};
	struct steward_err err;

	(void)state;
	reset_cache();
	write_partial(g_blob, 123456);
	dp_start(&good, DP_GOOD, g_blob, g_len);
	snprintf(u0, sizeof(u0), "http://127.0.0.1:%d", good.port);
	assert_int_equal(swdist_fetch(&g_ag, &src, g_hash, g_len, g_len, &err), 0);
	snprintf(want, sizeof(want), "%d-", 123456);
	assert_string_equal(good.last_range, want);
	assert_cached();
	dp_stop(&good);
}

static void test_range_ignored(void **state)
{
	struct dp dp;
	char u0[64], *junk = calloc(1, 5000);
	const char *dps[] = {u0};
	struct swdist_src src = {.dps = dps, .n_dps = 1, .token = "t"};
	struct steward_err err;

	(void)state;
	reset_cache();
	write_partial(junk, 5000); /* not even a prefix of the blob */
	free(junk);
	dp_start(&dp, DP_NO_RANGE, g_blob, g_len);
	snprintf(u0, sizeof(u0), "http://127.0.0.1:%d", dp.port);
	/* a 200 to a Range request: the partial file starts over */
	assert_int_equal(swdist_fetch(&g_ag, &src, g_hash, g_len, g_len, &err), 0);
	assert_string_equal(dp.last_range, "5000-");
	assert_cached();
	dp_stop(&dp);
}

static void test_unknown_size(void **state)
{
	struct dp good;
	char u0[64];
	const char *dps[] = {u0};
	struct swdist_src src = {.dps = dps, .n_dps = 1, .token = "t"};
	struct steward_err err;

	(void)state;
	reset_cache();
	dp_start(&good, DP_GOOD, g_blob, g_len);
	snprintf(u0, sizeof(u0), "http://127.0.0.1:%d", good.port);
	/* a manifest: the size is not known, the cap is */
	assert_int_not_equal(swdist_fetch(&g_ag, &src, g_hash, 0, 1000, &err), 0);
	assert_int_equal(swdist_fetch(&g_ag, &src, g_hash, 0, g_len, &err), 0);
	assert_cached();
	dp_stop(&good);
}

static void test_outbox(void **state)
{
	char big[3000], *outbox, *p;
	uint64_t seq1, seq2;

	(void)state;
	reset_cache();
	memset(big, 'x', sizeof(big) - 6);
	memcpy(big + sizeof(big) - 6, "TAIL\x01", 6);
	g_status_calls = 0;
	g_status_res = CORE_RES_RETRY;
	swdist_report(&g_ag, 7, 3, "received", -1, "hello");
	seq1 = g_ag.sw.last_seq;
	swdist_report(&g_ag, 7, 3, "failed", 2, "%s", big);
	seq2 = g_ag.sw.last_seq;
	assert_true(seq2 > seq1);
	outbox = read_text("outbox.jsonl");
	assert_non_null(strstr(outbox, "\"state\":\"received\""));
	assert_non_null(strstr(outbox, "\"exit_code\":null"));
	assert_non_null(strstr(outbox, "\"exit_code\":2"));
	/* the detail: at most 1 KiB, the end kept, control bytes replaced */
	p = strstr(outbox, "TAIL?\"");
	assert_non_null(p);
	free(outbox);
	/* the site is down: everything stays */
	swdist_flush(&g_ag);
	assert_int_equal(g_status_calls, 1);
	outbox = read_text("outbox.jsonl");
	assert_non_null(strstr(outbox, "hello"));
	free(outbox);
	/* a restart continues the seqs */
	g_ag.sw.last_seq = 0;
	assert_int_equal(swdist_outbox_open(&g_ag, NULL), 0);
	assert_true(g_ag.sw.last_seq >= seq2);
	/* delivered: gone */
	g_status_res = CORE_RES_OK;
	swdist_flush(&g_ag);
	assert_int_equal(g_status_calls, 2);
	assert_non_null(strstr(g_status_body, "{\"messages\":[{"));
	assert_non_null(strstr(g_status_body, "hello"));
	outbox = read_text("outbox.jsonl");
	assert_string_equal(outbox, "");
	free(outbox);
	/* nothing to send: no request */
	swdist_flush(&g_ag);
	assert_int_equal(g_status_calls, 2);
	/* no session: kept for after the next check-in */
	g_ag.have_session = false;
	swdist_report(&g_ag, 8, 1, "waiting", -1, "later");
	swdist_flush(&g_ag);
	assert_int_equal(g_status_calls, 2);
	g_ag.have_session = true;
}

static void test_outbox_cap(void **state)
{
	char detail[1000];
	char *outbox;
	struct stat st;
	char path[PATH_MAX];

	(void)state;
	reset_cache();
	memset(detail, 'd', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	g_ag.sw.dropped = 0;
	for (int i = 0; i < 1200; i++)
		swdist_report(&g_ag, i, 1, "waiting", -1, "%s", detail);
	snprintf(path, sizeof(path), "%s/outbox.jsonl", g_ag.sw.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= SWDIST_OUTBOX_MAX);
	assert_true(g_ag.sw.dropped > 0);
	/* the newest are kept */
	outbox = read_text("outbox.jsonl");
	assert_non_null(strstr(outbox, "\"advert\":1199,"));
	assert_null(strstr(outbox, "\"advert\":0,"));
	free(outbox);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_failover),	 cmocka_unit_test(test_all_fail),
	    cmocka_unit_test(test_resume),	 cmocka_unit_test(test_range_ignored),
	    cmocka_unit_test(test_unknown_size), cmocka_unit_test(test_outbox),
	    cmocka_unit_test(test_outbox_cap),
	};

	log_set_level(LOG_WARN); /* every status message is logged at info */
	return cmocka_run_group_tests(tests, setup, teardown);
}

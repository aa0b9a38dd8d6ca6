/* Unit tests for lib/net's server additions for distribution points: the
 * Range parser (table-driven), and against a real server on loopback,
 * file replies (http_reply_fd), the request-completed hook, the socket
 * accessor and streaming request bodies (authorization before the body,
 * the cap, a client that goes away in the middle, discarding). Requests
 * are written by hand on a socket so every byte on the wire is ours.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cmocka.h>

#include "steward/net.h"

/* ---- the Range parser ------------------------------------------------------ */

struct range_case {
	const char *header;
	uint64_t size;
	enum http_range_result want;
	uint64_t first, len;
};

static void test_range_parse(void **state)
{
	static const struct range_case cases[] = {
	    {NULL, 100, HTTP_RANGE_FULL, 0, 100},
	    {"bytes=0-9", 100, HTTP_RANGE_PARTIAL, 0, 10},
	    {"bytes=10-19", 100, HTTP_RANGE_PARTIAL, 10, 10},
	    {"bytes=99-99", 100, HTTP_RANGE_PARTIAL, 99, 1},
	    {"bytes=90-1000", 100, HTTP_RANGE_PARTIAL, 90, 10}, /* last clamped */
	    {"bytes=90-", 100, HTTP_RANGE_PARTIAL, 90, 10},	/* open-ended */
	    {"bytes=0-", 100, HTTP_RANGE_PARTIAL, 0, 100},
	    {"bytes=-10", 100, HTTP_RANGE_PARTIAL, 90, 10},   /* suffix */
	    {"bytes=-1000", 100, HTTP_RANGE_PARTIAL, 0, 100}, /* suffix longer than it */
	    {" bytes = 5-6 ", 100, HTTP_RANGE_PARTIAL, 5, 2}, /* optional whitespace */
	    {"Bytes=5-6", 100, HTTP_RANGE_PARTIAL, 5, 2},     /* the unit is case-insensitive */
	    {"bytes=0-18446744073709551615", 100, HTTP_RANGE_PARTIAL, 0, 100},
	    {"bytes=0-99999999999999999999999", 100, HTTP_RANGE_PARTIAL, 0, 100},
	    {"bytes=100-", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0}, /* starts at the end */
	    {"bytes=100-200", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=99999999999999999999999-", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=-0", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=0-", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0}, /* nothing to send */
	    {"bytes=-5", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    /* ignored: the whole representation with 200 */
	    {"bytes=0-1,5-6", 100, HTTP_RANGE_FULL, 0, 100}, /* several ranges */
	    {"bytes=5-1", 100, HTTP_RANGE_FULL, 0, 100},     /* last before first */
	    {"items=0-1", 100, HTTP_RANGE_FULL, 0, 100},     /* another unit */
	    {"bytes 0-1", 100, HTTP_RANGE_FULL, 0, 100},
	    {"bytes=", 100, HTTP_RANGE_FULL, 0, 100},
	    {"bytes=-", 100, HTTP_RANGE_FULL, 0, 100},
	    {"bytes=a-b", 100, HTTP_RANGE_FULL, 0, 100},
	    {"bytes=1-2x", 100, HTTP_RANGE_FULL, 0, 100},
	    {"bytes=--1", 100, HTTP_RANGE_FULL, 0, 100},
	    {"bytes=+1-2", 100, HTTP_RANGE_FULL, 0, 100},
	    {"", 100, HTTP_RANGE_FULL, 0, 100},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct range_case *c = &cases[i];
		uint64_t first = 7, len = 7;
		enum http_range_result got = http_range_parse(c->header, c->size, &first, &len);

		if (got != c->want || first != c->first || len != c->len)
			fail_msg("'%s' size %llu: got %d %llu+%llu, want %d %llu+%llu",
				 c->header ? c->header : "(none)", (unsigned long long)c->size, got,
				 (unsigned long long)first, (unsigned long long)len, c->want,
				 (unsigned long long)c->first, (unsigned long long)c->len);
	}
}

/* ---- a live server ------------------------------------------------------------ */

#define FILE_TEXT "0123456789"
#define UP_MAX	  1000

static char file_path[PATH_MAX];
static atomic_int done_calls, done_completed, socket_seen;
static atomic_int sink_begins, sink_releases, sink_released_unfinished;

struct up {
	size_t bytes;
	bool finished; /* the handler ran */
};

static void on_done(struct http_req *r, bool completed, void *arg)
{
	atomic_fetch_add(&done_calls, 1);
	if (completed)
		atomic_fetch_add(&done_completed, 1);
	assert_ptr_equal(arg, &done_calls);
}

static enum http_result h_file(struct http_req *r, void *app)
{
	uint64_t first, len;
	int fd = open(file_path, O_RDONLY);
	enum http_range_result rr =
	    http_range_parse(http_req_header(r, "Range"), strlen(FILE_TEXT), &first, &len);

	if (http_req_socket(r) >= 0)
		atomic_fetch_add(&socket_seen, 1);
	http_req_on_done(r, on_done, &done_calls);
	if (rr == HTTP_RANGE_UNSATISFIABLE) {
		close(fd);
		http_reply(r, 416, "text/plain", "", 0);
		return HTTP_DONE;
	}
	/* a reply replaced by a file reply, and the other way round, leaks nothing */
	http_reply(r, 500, "text/plain", "replaced", 8);
	if (strcmp(http_req_path(r), "/file/replaced") == 0) {
		http_reply_fd(r, 200, "text/plain", fd, 0, 10);
		http_reply(r, 200, "text/plain", "buffer", 6);
		return HTTP_DONE;
	}
	http_reply_fd(r, rr == HTTP_RANGE_PARTIAL ? 206 : 200, "text/plain", fd, first, len);
	return HTTP_DONE;
}

static enum http_sink_start up_begin(struct http_req *r, void *app, void **state)
{
	struct up *u;

	atomic_fetch_add(&sink_begins, 1);
	if (strcmp(http_req_path(r), "/up/refuse") == 0) {
		http_reply(r, 409, "text/plain", "refused", 7);
		return HTTP_SINK_REFUSE;
	}
	if (strcmp(http_req_path(r), "/up/discard") == 0)
		return HTTP_SINK_DISCARD;
	u = calloc(1, sizeof(*u));
	assert_non_null(u);
	*state = u;
	return HTTP_SINK_ACCEPT;
}

static int up_data(void *state, const void *data, size_t len)
{
	struct up *u = state;

	u->bytes += len;
	return 0;
}

static void up_release(void *state)
{
	struct up *u = state;

	atomic_fetch_add(&sink_releases, 1);
	if (!u->finished)
		atomic_fetch_add(&sink_released_unfinished, 1);
	free(u);
}

static const struct http_body_sink up_sink = {up_begin, up_data, up_release};

static enum http_result h_up(struct http_req *r, void *app)
{
	struct up *u = http_req_sink_state(r);
	char text[64];
	size_t blen;

	http_req_body(r, &blen);
	assert_int_equal(blen, 0); /* nothing was buffered */
	if (u)
		u->finished = true;
	snprintf(text, sizeof(text), "got %zu", u ? u->bytes : (size_t)0);
	http_reply(r, 201, "text/plain", text, strlen(text));
	return HTTP_DONE;
}

static enum http_result h_echo(struct http_req *r, void *app)
{
	size_t len;
	const char *body = http_req_body(r, &len);

	http_reply(r, 200, "text/plain", body, len);
	return HTTP_DONE;
}

static int authorize(struct http_req *r, const struct http_route *route, enum http_auth_phase phase,
		     void *app, struct steward_err *err)
{
	const char *a = http_req_header(r, "Authorization");
	size_t len;
	const char *body = http_req_body(r, &len);

	/* perm 2: like an agent's signature, the check needs the body */
	if (route->perm == 2 && phase == HTTP_AUTH_HEAD && a && strcmp(a, "body") == 0)
		return len == 0 ? HTTP_AUTH_NEED_BODY : 500;
	if (route->perm == 2 && phase == HTTP_AUTH_BODY && len == 2 && memcmp(body, "ok", 2) == 0)
		return 0;
	if (phase == HTTP_AUTH_HEAD && len != 0)
		return 500; /* a byte of the body before the headers passed */
	if (route->perm != 2 && (route->perm == 0 || (a && strcmp(a, "yes") == 0)))
		return 0;
	steward_err_set(err, STEWARD_EAUTH, "auth_required", "", "no");
	return 401;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct http_route routes[] = {
    {"GET", "/file", 1, 0, 0, h_file, "file"},
    {"GET", "/file/replaced", 1, 0, 0, h_file, "file_replaced"},
    {"PUT", "/up/{x}", 1, 1, 0, h_up, "up", UP_MAX, &up_sink},
    {"POST", "/echo", 1, 1, 0, h_echo, "echo"},
    {"POST", "/signed", 1, 2, 0, h_echo, "signed"},
    {"PUT", "/upsigned", 1, 2, 0, h_up, "upsigned", UP_MAX, &up_sink},
};
#pragma GCC diagnostic pop

struct live {
	struct http_server *srv;
	char dir[256];
};

static int live_setup(void **state)
{
	struct live *l = calloc(1, sizeof(*l));
	struct steward_err err;
	const char *base = getenv("TMPDIR");
	struct http_server_config cfg = {
	    .addr = "127.0.0.1",
	    .limits = {.max_header_bytes = 8192,
		       .max_body_bytes = 4096,
		       .timeout_s = 10,
		       .max_connections = 64,
		       .max_per_ip = 64,
		       .threads = 2},
	    .routes = routes,
	    .n_routes = sizeof(routes) / sizeof(routes[0]),
	    .roles = 1,
	    .authorize = authorize,
	};

	if (!l)
		return -1;
	snprintf(l->dir, sizeof(l->dir), "%s/steward-test-net.XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(l->dir))
		return -1;
	snprintf(file_path, sizeof(file_path), "%s/file", l->dir);
	if (file_write_atomic(file_path, FILE_TEXT, strlen(FILE_TEXT), 0600) ||
	    http_server_start(&cfg, &l->srv, &err))
		return -1;
	*state = l;
	return 0;
}

static int live_teardown(void **state)
{
	struct live *l = *state;

	http_server_stop(l->srv);
	unlink(file_path);
	rmdir(l->dir);
	free(l);
	return 0;
}

static int connect_to(struct live *l)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(http_server_port(l->srv))};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_all(int fd, const char *data)
{
	size_t len = strlen(data);

	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the server may close early on purpose */
		data += n;
		len -= (size_t)n;
	}
}

/* Read the response until the server closes (requests say Connection: close). */
static int read_resp(int fd, char *out, size_t outsz)
{
	size_t got = 0;
	int status = 0;

	for (;;) {
		ssize_t n = recv(fd, out + got, outsz - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == outsz - 1)
			break;
	}
	out[got] = '\0';
	sscanf(out, "HTTP/1.1 %d", &status);
	return status;
}

/* One request on a fresh connection; returns the status, the response in out. */
static int request(struct live *l, const char *req, char *out, size_t outsz)
{
	int fd = connect_to(l), status;

	send_all(fd, req);
	status = read_resp(fd, out, outsz);
	close(fd);
	return status;
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	return b ? b + 4 : "";
}

static void wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 500 && atomic_load(v) < want; i++)
		usleep(10000);
	assert_int_equal(atomic_load(v), want);
}

static void test_reply_fd(void **state)
{
	struct live *l = *state;
	char resp[4096];

	atomic_store(&done_calls, 0);
	atomic_store(&done_completed, 0);
	assert_int_equal(request(l, "GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
				 resp, sizeof(resp)),
			 200);
	assert_string_equal(body_of(resp), FILE_TEXT);
	assert_non_null(strstr(resp, "Content-Length: 10\r\n"));
	assert_int_equal(request(l,
				 "GET /file HTTP/1.1\r\nHost: x\r\nRange: bytes=2-5\r\n"
				 "Connection: close\r\n\r\n",
				 resp, sizeof(resp)),
			 206);
	assert_string_equal(body_of(resp), "2345");
	assert_int_equal(request(l,
				 "GET /file HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n"
				 "Connection: close\r\n\r\n",
				 resp, sizeof(resp)),
			 206);
	assert_string_equal(body_of(resp), "789");
	assert_int_equal(request(l,
				 "GET /file HTTP/1.1\r\nHost: x\r\nRange: bytes=10-\r\n"
				 "Connection: close\r\n\r\n",
				 resp, sizeof(resp)),
			 416);
	assert_int_equal(
	    request(l, "GET /file/replaced HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", resp,
		    sizeof(resp)),
	    200);
	assert_string_equal(body_of(resp), "buffer");
	/* the hook ran once per request, each after its whole reply went out */
	wait_for(&done_calls, 5);
	wait_for(&done_completed, 5);
	assert_true(atomic_load(&socket_seen) >= 5);
}

static void test_sink(void **state)
{
	struct live *l = *state;
	char resp[4096], req[2048], body[UP_MAX + 1];
	int fd;

	atomic_store(&sink_begins, 0);
	atomic_store(&sink_releases, 0);
	atomic_store(&sink_released_unfinished, 0);

	/* no credentials: refused from the headers alone, the sink never
	 * starts; a client waiting for 100 Continue is answered at once */
	fd = connect_to(l);
	send_all(fd, "PUT /up/a HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
		     "Expect: 100-continue\r\nConnection: close\r\n\r\n");
	assert_int_equal(read_resp(fd, resp, sizeof(resp)), 401);
	close(fd);
	assert_int_equal(atomic_load(&sink_begins), 0);
	/* one sending a short body at once has it read and dropped first */
	memset(body, 'a', 500);
	snprintf(req, sizeof(req),
		 "PUT /up/a HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
		 "Connection: close\r\n\r\n%.500s",
		 body);
	assert_int_equal(request(l, req, resp, sizeof(resp)), 401);
	assert_int_equal(atomic_load(&sink_begins), 0);

	/* a body in pieces, then the handler */
	memset(body, 'b', 600);
	body[600] = '\0';
	snprintf(req, sizeof(req),
		 "PUT /up/a HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\nContent-Length: 600\r\n"
		 "Connection: close\r\n\r\n%s",
		 body);
	assert_int_equal(request(l, req, resp, sizeof(resp)), 201);
	assert_string_equal(body_of(resp), "got 600");
	wait_for(&sink_releases, 1);
	assert_int_equal(atomic_load(&sink_released_unfinished), 0);

	/* chunked past the route's cap: 413, state released unfinished */
	memset(body, 'c', 600);
	snprintf(req, sizeof(req),
		 "PUT /up/a HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n"
		 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		 "258\r\n%.600s\r\n258\r\n%.600s\r\n0\r\n\r\n",
		 body, body);
	assert_int_equal(request(l, req, resp, sizeof(resp)), 413);
	assert_non_null(strstr(resp, "body_too_large"));
	wait_for(&sink_releases, 2);
	assert_int_equal(atomic_load(&sink_released_unfinished), 1);

	/* Content-Length over the cap: refused before the sink starts */
	assert_int_equal(request(l,
				 "PUT /up/a HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n"
				 "Content-Length: 1001\r\nExpect: 100-continue\r\n"
				 "Connection: close\r\n\r\n",
				 resp, sizeof(resp)),
			 413);
	assert_int_equal(atomic_load(&sink_begins), 2);

	/* the client goes away in the middle: the state is released unfinished */
	fd = connect_to(l);
	send_all(fd, "PUT /up/a HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n"
		     "Content-Length: 500\r\n\r\n0123456789");
	wait_for(&sink_begins, 3);
	close(fd);
	wait_for(&sink_releases, 3);
	assert_int_equal(atomic_load(&sink_released_unfinished), 2);

	/* begin() refuses with its own reply, sent before the body */
	assert_int_equal(request(l,
				 "PUT /up/refuse HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n"
				 "Content-Length: 500\r\nExpect: 100-continue\r\n"
				 "Connection: close\r\n\r\n",
				 resp, sizeof(resp)),
			 409);
	/* discard: the body is read and dropped, the handler still answers */
	snprintf(req, sizeof(req),
		 "PUT /up/discard HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n"
		 "Content-Length: 600\r\nConnection: close\r\n\r\n%.600s",
		 body);
	assert_int_equal(request(l, req, resp, sizeof(resp)), 201);
	assert_string_equal(body_of(resp), "got 0");
	assert_int_equal(atomic_load(&sink_releases), 3); /* neither set a state */

	/* other routes buffer their body */
	assert_int_equal(request(l,
				 "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n"
				 "Content-Length: 5\r\nConnection: close\r\n\r\nhello",
				 resp, sizeof(resp)),
			 200);
	assert_string_equal(body_of(resp), "hello");
}

/* Authorization from the headers, before the body: a refused caller is
 * answered without sending its body when it cannot be read and dropped
 * cheaply; a check that needs the body runs again once it is in. */
static void test_auth_before_body(void **state)
{
	struct live *l = *state;
	char resp[4096];
	int fd;

	/* chunked: no length to drop, so the refusal comes at once */
	fd = connect_to(l);
	send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_int_equal(read_resp(fd, resp, sizeof(resp)), 401);
	close(fd);
	/* over HTTP_DISCARD_MAX: at once as well (and under the route's cap of
	 * a sink route, which would otherwise take it) */
	fd = connect_to(l);
	send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
		     "Expect: 100-continue\r\n\r\n");
	assert_int_equal(read_resp(fd, resp, sizeof(resp)), 401);
	assert_null(strstr(resp, "100 Continue"));
	close(fd);
	/* a short body sent with the headers is dropped, and the connection
	 * stays open for the next request */
	fd = connect_to(l);
	send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
		     "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n"
		     "Content-Length: 2\r\nConnection: close\r\n\r\nhi");
	assert_int_equal(read_resp(fd, resp, sizeof(resp)), 401);
	assert_non_null(strstr(resp, "HTTP/1.1 200"));
	assert_string_equal(resp + strlen(resp) - 2, "hi");
	close(fd);

	/* a check that needs the body: called again with it */
	assert_int_equal(request(l,
				 "POST /signed HTTP/1.1\r\nHost: x\r\nAuthorization: body\r\n"
				 "Content-Length: 2\r\nConnection: close\r\n\r\nok",
				 resp, sizeof(resp)),
			 200);
	assert_int_equal(request(l,
				 "POST /signed HTTP/1.1\r\nHost: x\r\nAuthorization: body\r\n"
				 "Content-Length: 2\r\nConnection: close\r\n\r\nno",
				 resp, sizeof(resp)),
			 401);
	/* ... which refuses from the headers what they already show */
	assert_int_equal(request(l,
				 "POST /signed HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
				 "Connection: close\r\n\r\nok",
				 resp, sizeof(resp)),
			 401);
	/* a body sink cannot wait for its caller to be known */
	assert_int_equal(request(l,
				 "PUT /upsigned HTTP/1.1\r\nHost: x\r\nAuthorization: body\r\n"
				 "Content-Length: 2\r\nConnection: close\r\n\r\nok",
				 resp, sizeof(resp)),
			 500);
	assert_non_null(strstr(resp, "needs it"));
}

/* Sends all of data; false when the connection refused some of it. */
static bool send_every_byte(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* A body over the limit: the refusal must reach the client in every case.
 * A client that waits for 100 Continue is refused before it sends; from
 * one that does not, a modest body is read to its end first, because
 * closing on unread bytes resets the connection and the client (curl
 * among them) then sees a send error instead of the 413. */
static void test_over_limit(void **state)
{
	struct live *l = *state;
	char resp[4096], big[8192];
	const char *hdr = "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n"
			  "Content-Length: 8192\r\nConnection: close\r\n\r\n";
	const char *chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n"
			      "Transfer-Encoding: chunked\r\n\r\n80000000\r\n";
	struct http_call c;
	struct http_resp hr;
	struct steward_err err;
	char *huge;
	int fd;

	assert_string_equal(http_expect_header(0), "Expect:");
	assert_string_equal(http_expect_header(HTTP_EXPECT_MIN), "Expect:");
	assert_string_equal(http_expect_header(HTTP_EXPECT_MIN + 1), "Expect: 100-continue");

	/* Expect: 100-continue -> the final answer at once, no body wanted */
	fd = connect_to(l);
	send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n"
		     "Content-Length: 8192\r\nExpect: 100-continue\r\n"
		     "Connection: close\r\n\r\n");
	assert_int_equal(read_resp(fd, resp, sizeof(resp)), 413);
	assert_non_null(strstr(resp, "8192 bytes is over the limit of 4096 bytes for echo"));
	assert_null(strstr(resp, "100 Continue"));
	close(fd);

	/* no Expect: the body is still taken after the headers have been seen,
	 * then refused (the server would have closed on the first half before) */
	memset(big, 'x', sizeof(big));
	fd = connect_to(l);
	assert_true(send_every_byte(fd, hdr, strlen(hdr)));
	usleep(100 * 1000);
	assert_true(send_every_byte(fd, big, sizeof(big) / 2));
	usleep(100 * 1000);
	assert_true(send_every_byte(fd, big + sizeof(big) / 2, sizeof(big) / 2));
	assert_int_equal(read_resp(fd, resp, sizeof(resp)), 413);
	assert_non_null(strstr(resp, "over the limit of 4096 bytes for echo"));
	close(fd);

	/* a chunked body past the cap: the 413 and a close as soon as it passes,
	 * not when the body ends (never, for a chunk of 2 GiB) */
	fd = connect_to(l);
	assert_true(send_every_byte(fd, chunked, strlen(chunked)));
	assert_true(send_every_byte(fd, big, sizeof(big)));
	assert_int_equal(read_resp(fd, resp, sizeof(resp)), 413);
	assert_non_null(strstr(resp, "Connection: close\r\n"));
	assert_non_null(strstr(resp, "over the limit of 4096 bytes for echo"));
	close(fd);

	/* http_call with a body far over the limit: the 413, every time */
	huge = malloc(4u << 20);
	assert_non_null(huge);
	memset(huge, '{', 4u << 20);
	snprintf(big, sizeof(big), "http://127.0.0.1:%u/echo", http_server_port(l->srv));
	for (int i = 0; i < 10; i++) {
		const char *hdrs[] = {"Authorization: yes", NULL};

		memset(&c, 0, sizeof(c));
		c.method = "POST";
		c.url = big;
		c.headers = hdrs;
		c.body = huge;
		c.body_len = 4u << 20;
		c.timeout_ms = 10000;
		http_resp_init(&hr);
		memset(&err, 0, sizeof(err));
		assert_int_equal(http_call(&c, &hr, &err), 0);
		assert_int_equal(hr.status, 413);
		http_resp_free(&hr);
	}
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_range_parse),
	    cmocka_unit_test_setup_teardown(test_reply_fd, live_setup, live_teardown),
	    cmocka_unit_test_setup_teardown(test_sink, live_setup, live_teardown),
	    cmocka_unit_test_setup_teardown(test_over_limit, live_setup, live_teardown),
	    cmocka_unit_test_setup_teardown(test_auth_before_body, live_setup, live_teardown),
	};

	int failed;

	if (http_client_global_init() != 0)
		return 1;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	http_client_global_cleanup();
	return failed;
}

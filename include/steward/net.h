/* net: the HTTP server (libmicrohttpd) and client (libcurl) wrappers.
 *
 * The server takes one route table (method, path, role, permission,
 * handler); authorization is a callback run for every route before its
 * handler, so a route cannot forget it. Every limit is set explicitly.
 */
#ifndef STEWARD_NET_H
#define STEWARD_NET_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "steward/util.h"

struct tls_trust;

/* ---- server ------------------------------------------------------------ */
struct http_server;
struct http_req;

enum http_result {
	HTTP_DONE = 0,    /* the handler set a reply */
	HTTP_PENDING = 1, /* the handler suspended the request; http_req_resume() later */
};

typedef enum http_result (*http_handler_fn)(struct http_req *req, void *app);

#define HTTP_MAX_PARAMS 4

/* Streaming request bodies. A route with a body sink gets its body in
 * pieces as they arrive instead of in one buffer, so an upload of
 * gigabytes costs no memory. The route's max_body still applies (413).
 * Because nothing may be accepted before the caller is known, such a
 * route must be authorized from the headers alone: HTTP_AUTH_NEED_BODY
 * (an agent's signature covers the body) refuses it with 500. The
 * handler runs when the body has ended, as for other routes, and finds
 * the sink's state with http_req_sink_state(). */
enum http_sink_start {
	HTTP_SINK_ACCEPT = 0,  /* the pieces go to data() */
	HTTP_SINK_DISCARD = 1, /* the body is read and dropped; the handler still runs */
	HTTP_SINK_REFUSE = 2,  /* begin() set a reply: sent at once, the body is not read */
};

struct http_body_sink {
	/* After authorization, before the body; may set *state. */
	enum http_sink_start (*begin)(struct http_req *req, void *app, void **state);
	/* One piece of the body. Non-zero: the rest of the body is dropped
	 * (the state says why, for the handler to reply). */
	int (*data)(void *state, const void *data, size_t len);
	/* Called once for a non-NULL state when the request ends, whether the
	 * handler ran or the client went away in the middle of the body. */
	void (*release)(void *state);
};

struct http_route {
	const char *method;    /* "GET", "POST", "DELETE" */
	const char *path;      /* "/api/v1/clients/{id}": {x} matches one segment */
	unsigned roles;        /* site-system roles that serve it (bitmask, app-defined) */
	int perm;              /* permission, app-defined; checked by the authorize callback */
	unsigned allow;        /* the caller roles it admits (bitmask, app-defined), for the same */
	http_handler_fn handler;
	const char *name;      /* label for metrics and logs */
	size_t max_body;       /* body cap for this route; 0: limits.max_body_bytes */
	const struct http_body_sink *body_sink; /* NULL: the body is buffered (the usual) */
};

/* The authorize callback runs for every request as soon as its headers are
 * in (HTTP_AUTH_HEAD), before any byte of its body is read or buffered, so
 * a caller the site refuses cannot make it read megabytes first. A check
 * that needs the body (a signature over it) does what it can from the
 * headers, returns HTTP_AUTH_NEED_BODY, and is called again with
 * HTTP_AUTH_BODY once the body is in. Returns 0 to let the request
 * through, or fills err and returns the HTTP status to refuse with (401,
 * 403, ...). */
enum http_auth_phase {
	HTTP_AUTH_HEAD = 0, /* headers only: http_req_body() is still empty */
	HTTP_AUTH_BODY = 1, /* after HTTP_AUTH_NEED_BODY, with the whole body */
};
#define HTTP_AUTH_NEED_BODY (-1)
typedef int (*http_authorize_fn)(struct http_req *req, const struct http_route *route,
				 enum http_auth_phase phase, void *app, struct steward_err *err);

/* Called after every reply is queued, and for a request that ends without
 * one (status 499), on the request's thread: metrics, the audit log. req is
 * NULL only for a connection the server closed past its deadline (408)
 * before a request was known. */
typedef void (*http_observe_fn)(const struct http_route *route, struct http_req *req, int status,
				int64_t usec, void *app);

struct http_limits {
	size_t max_header_bytes;   /* sum of request line and headers; over -> 431 */
	size_t max_body_bytes;     /* over -> 413 */
	unsigned timeout_s;	   /* idle connection timeout (every byte resets it) */
	/* Deadlines no trickle of bytes resets (0: none). A request's line and
	 * headers must be in within head_timeout_s of the connection's start
	 * or of the previous request's end, else the connection is closed; its
	 * body within body_timeout_s plus one second per body_min_rate bytes
	 * received, else 408 and a close. */
	unsigned head_timeout_s;
	unsigned body_timeout_s;
	unsigned body_min_rate;	   /* bytes per second; 0: body_timeout_s for the whole body */
	unsigned max_connections;  /* hard limit; at 90% new requests get 503 */
	unsigned max_per_ip;       /* connections from one address */
	unsigned threads;          /* thread pool size */
};

struct http_server_config {
	const char *addr;          /* "127.0.0.1", "0.0.0.0", "::" */
	uint16_t port;             /* 0 picks a free port (see http_server_port) */
	struct http_limits limits;
	const struct http_route *routes;
	size_t n_routes;
	unsigned roles;            /* roles this process serves */
	http_authorize_fn authorize;
	http_observe_fn observe;
	void *app;
	/* Headers added to every reply: NULL-terminated name, value pairs. */
	const char *const *reply_headers;
	/* HTTPS: the key and certificate chain as PEM (both NULL: plain HTTP) */
	const char *tls_key_pem;
	const char *tls_cert_pem;
};

int http_server_start(const struct http_server_config *cfg, struct http_server **out,
		      struct steward_err *err);
uint16_t http_server_port(const struct http_server *s);
/* Stop accepting new connections (the listen socket closes). */
void http_server_quiesce(struct http_server *s);
/* Wait up to timeout_ms for in-flight requests to finish; returns how many remain. */
unsigned http_server_drain(struct http_server *s, int64_t timeout_ms);
void http_server_stop(struct http_server *s);
unsigned http_server_connections(const struct http_server *s);

/* Request accessors; strings live as long as the request. */
const char *http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
const char *http_req_param(const struct http_req *r, int i); /* {x} segments in order */
const char *http_req_header(const struct http_req *r, const char *name);
const char *http_req_query(const struct http_req *r, const char *name);
/* Query parameter NAME as a whole number in [min, max]: 0 when it is
 * absent (out untouched) or valid (out set), -1 when it is malformed or
 * out of range. The caller answers the 400 in its own words. */
int http_req_query_i64(const struct http_req *r, const char *name, int64_t min, int64_t max,
		       int64_t *out);
const char *http_req_body(const struct http_req *r, size_t *len);
const char *http_req_peer(const struct http_req *r); /* address as text */
bool http_req_peer_loopback(const struct http_req *r);
const struct http_route *http_req_route(const struct http_req *r);
int64_t http_req_started_us(const struct http_req *r);
/* A per-request slot the app may use (e.g. the authenticated principal). */
void http_req_set_ctx(struct http_req *r, void *ctx, void (*free_fn)(void *));
void *http_req_ctx(const struct http_req *r);
/* The state the route's body sink set in begin() (NULL without one). */
void *http_req_sink_state(const struct http_req *r);
/* The connection's socket, for socket options (e.g. SO_MAX_PACING_RATE);
 * -1 when unknown. Do not close it or read from it. */
int http_req_socket(const struct http_req *r);
/* Called once when the request ends (libmicrohttpd's request-completed
 * callback), after the reply was sent or the connection closed; completed
 * is true only when the whole reply went out. Runs on an HTTP thread; the
 * request's accessors still work. One hook per request; a second replaces it. */
typedef void (*http_done_fn)(struct http_req *r, bool completed, void *arg);
void http_req_on_done(struct http_req *r, http_done_fn fn, void *arg);

/* Replies. body is copied. */
void http_reply(struct http_req *r, int status, const char *content_type, const char *body,
		size_t len);
/* The same, taking body (from malloc, NUL-terminated at len) instead of a
 * copy: the request frees it. */
void http_reply_take(struct http_req *r, int status, const char *content_type, char *body,
		     size_t len);
void http_reply_json(struct http_req *r, int status, const char *json);
void http_reply_error(struct http_req *r, int status, const struct steward_err *err);
/* The code of the error reply set on r ("" when the reply is not an error). */
const char *http_req_error_code(const struct http_req *r);
/* Add a header to the reply (before http_reply*); copied. */
void http_reply_header(struct http_req *r, const char *name, const char *value);
/* Reply with len bytes of fd from offset, zero-copy: libmicrohttpd sends
 * them with sendfile(2) on plain HTTP. Takes ownership of fd (closed when
 * the reply is done, or at once when another reply replaces this one). */
void http_reply_fd(struct http_req *r, int status, const char *content_type, int fd,
		   uint64_t offset, uint64_t len);

/* A Range header (RFC 9110 14.2) against a representation of size bytes.
 * Only a single range of bytes is served partially: bytes=a-b, bytes=a-,
 * bytes=-n. No header, another unit, a malformed value or several ranges
 * give HTTP_RANGE_FULL (RFC 9110 lets a server ignore Range and send 200).
 * *first and *len receive the bytes to send; 0 and 0 when unsatisfiable,
 * which is answered 416 with a Content-Range that gives only the size. */
enum http_range_result {
	HTTP_RANGE_FULL = 0,
	HTTP_RANGE_PARTIAL,
	HTTP_RANGE_UNSATISFIABLE,
};
enum http_range_result http_range_parse(const char *header, uint64_t size, uint64_t *first,
					uint64_t *len);

/* Suspend: the handler returns HTTP_PENDING after calling this. Later, from
 * any thread, set the reply with http_reply*() and call http_req_resume(). */
void http_req_suspend(struct http_req *r);
void http_req_resume(struct http_req *r);

/* ---- client ------------------------------------------------------------ */
struct http_resp {
	long status;           /* 0 when no HTTP response was received */
	/* how the call went on the wire (microseconds from its start): the
	 * agent measures its link from them (docs/slow-links.md) */
	int64_t us_connect, us_pretransfer, us_starttransfer, us_total;
	struct buf body;
	int64_t retry_after;   /* seconds, 0 when absent */
	char server_version[40];
	char server_api[16];
	char server_protocol[24];
	/* a signed reply (site links): who signed it, when, and the signature */
	char site[8];
	char timestamp[24];
	char signature[100];
	/* an enrollment reply's MAC (proto/enroll.c) */
	char enroll_mac[48];
	/* a key rotation: the next pin the site announced (steward/tls.h) */
	char tls_next_pin[80];
	/* the pin (64 hex) the site's certificate matched; "" when not pinned */
	char tls_matched[72];
};

struct http_call {
	const char *method;
	const char *url;
	const char *const *headers; /* NULL-terminated "Name: value" strings, may be NULL */
	const void *body;
	size_t body_len;
	long timeout_ms;            /* whole request; required (> 0) */
	long connect_timeout_ms;    /* 0 -> min(timeout, 5000) */
	size_t max_response;        /* cap on the response body */
	/* TLS trust for this call (struct tls_trust, steward/tls.h); NULL:
	 * the process's lookup by the URL's origin */
	const struct tls_trust *trust;
};

void http_resp_init(struct http_resp *r);
void http_resp_free(struct http_resp *r);
/* Performs the call. Returns 0 when an HTTP response arrived (any status),
 * or a negative code with err filled (connection refused, timeout, too big). */
int http_call(const struct http_call *c, struct http_resp *out, struct steward_err *err);

/* The Expect header for a request body of this size: bodies over
 * HTTP_EXPECT_MIN wait for "100 Continue", so a refusal comes before them. */
#define HTTP_EXPECT_MIN (64u * 1024u)
const char *http_expect_header(size_t body_len);

/* Global libcurl init/cleanup, once per process. */
int http_client_global_init(void);
void http_client_global_cleanup(void);

#endif

/* net/server: the HTTP server on libmicrohttpd.
 *
 * One access handler drives every request through the same steps. At the
 * headers, before any body byte is read: framing (400/501) -> header size
 * (431) -> route match (404/405) -> declared body size (413) -> shutdown
 * and overload (503) -> authorize (app callback). Then the body, into a
 * capped buffer (413), and authorize again for checks that need the body
 * (agent signatures) -> handler -> reply.
 * A handler may suspend the request and reply later from another thread
 * (the check-in path replies only after its group commit).
 * A route with a body sink (uploads) gets its body in pieces instead of a
 * buffer. A reply may be a region of a file, sent with sendfile.
 *
 * libmicrohttpd's defaults are not safe (no connection timeout), so every
 * limit is set explicitly from struct http_limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <time.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <gnutls/gnutls.h>

#include "steward/net.h"
#include "steward/proto.h"

#define MAX_REPLY_HEADERS 16
#define PATH_SEGMENTS_MAX 16

struct http_server {
	struct MHD_Daemon *mhd;
	struct http_server_config cfg;
	uint16_t port;
	atomic_uint connections;
	atomic_uint active;      /* requests between first byte and completion */
	atomic_bool quiesced;    /* shutting down: refuse new requests */
	int listen_fd;           /* after quiesce, ours to close */
	unsigned overload_at;    /* connections at which new requests get 503 */
	/* the deadline watch: every connection, checked a few times a second */
	pthread_mutex_t watch_lock;
	pthread_cond_t watch_cond;
	pthread_t watch_thread;
	bool watch_started, watch_stop;
	struct http_conn *conns; /* under watch_lock */
};

/* Where a connection is, for its deadlines. libmicrohttpd's own timeout
 * is an idle one that every byte resets, so a client trickling a byte a
 * second held a connection forever; the watch thread closes a connection
 * whose head or body takes longer than allowed. The phase changes under
 * the connection's lock: the request's own thread moves it only from the
 * phase it expects, and the watch, having answered a late body, marks it
 * CONN_CLOSING before it lets go, so a request that sees CONN_CLOSING
 * knows the 408 is out and it gets nothing more. */
enum conn_phase {
	CONN_HEAD,    /* waiting for a request's line and headers */
	CONN_BODY,    /* reading a request's body, no reply chosen */
	CONN_DRAIN,   /* reading a body whose reply is chosen (dropped) */
	CONN_BUSY,    /* handler, suspended or reply on its way: no deadline */
	CONN_CLOSING, /* the watch is closing it */
};

struct http_conn {
	struct http_conn *prev, *next; /* srv->conns, under watch_lock */
	int fd;			       /* libmicrohttpd's; closed only after it leaves the list */
	pthread_mutex_t lock;	       /* phase and since_us change under it */
	atomic_int phase;	       /* read without the lock */
	int64_t since_us;	       /* when the phase began */
	_Atomic uint64_t body_bytes;   /* body bytes read in CONN_BODY/CONN_DRAIN */
	atomic_bool answered;	       /* the watch replied 408 (and observed it) */
	/* the request's route, for the metrics of a 408 */
	_Atomic(const struct http_route *) route;
	/* the client's address, as text once per connection, not per request */
	char peer[INET6_ADDRSTRLEN];
	bool loopback;
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const struct http_route *route;
	char method[8];
	char *path;
	char *params[HTTP_MAX_PARAMS];
	struct buf body;
	bool body_too_big;
	bool chunked;		 /* Transfer-Encoding: chunked: no length known */
	uint64_t body_declared;	 /* Content-Length (0 without one) */
	uint64_t body_received;	 /* bytes of the body seen so far */
	bool drain;		 /* refused from the headers: drop the body, then reply */
	bool cut;		 /* replied in the middle of the body: close after it */
	uint64_t cut_at;	 /* body bytes seen when it was cut */
	bool auth_body;		 /* authorize again with the body (HTTP_AUTH_NEED_BODY) */
	struct http_conn *hc;	 /* its connection's deadlines (NULL: none) */
	enum http_sink_start sink_mode;
	bool sink_failed;        /* data() refused a piece: the rest is dropped */
	void *sink_state;
	int64_t started_us;
	char peer[INET6_ADDRSTRLEN];
	bool loopback;
	/* reply being built */
	bool replied;
	bool queued;
	bool suspended;
	bool went_async;  /* the handler suspended it; reply after resume */
	int status;
	char error_code[STEWARD_ERR_CODE_MAX]; /* of an error reply ("" otherwise) */
	char *reply_body;
	size_t reply_len;
	const char *content_type;
	int n_reply_headers;
	char *reply_headers[MAX_REPLY_HEADERS][2];
	int reply_fd;            /* >= 0: the reply body is this file's region */
	uint64_t reply_fd_off;
	uint64_t reply_fd_len;
	void *ctx;
	void (*ctx_free)(void *);
	http_done_fn done_fn;
	void *done_arg;
	pthread_mutex_t lock;
};

/* ---- helpers ------------------------------------------------------------ */

static void peer_of(struct MHD_Connection *conn, char *out, size_t outsz, bool *loopback)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	*loopback = false;
	snprintf(out, outsz, "unknown");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, out, (socklen_t)outsz);
		*loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outsz);
		*loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			*loopback = s6->sin6_addr.s6_addr[12] == 127;
	}
}

/* Match "/api/v1/clients/{id}" against a path; fills params on success. */
static bool path_match(const char *pattern, const char *path, char **params, int *nparams)
{
	const char *p = pattern, *s = path;
	int n = 0;

	while (*p && *s) {
		if (*p == '{') {
			const char *pe = strchr(p, '}');
			const char *se = strchr(s, '/');
			size_t len = se ? (size_t)(se - s) : strlen(s);
			if (!pe || len == 0 || n >= HTTP_MAX_PARAMS)
				return false;
			if (params) {
				params[n] = strndup(s, len);
			}
			n++;
			p = pe + 1;
			s += len;
			continue;
		}
		if (*p != *s)
			goto fail;
		p++;
		s++;
	}
	if (*p || *s)
		goto fail;
	*nparams = n;
	return true;
fail:
	if (params)
		for (int i = 0; i < n; i++) {
			free(params[i]);
			params[i] = NULL;
		}
	return false;
}

static const struct http_route *route_find(struct http_server *srv, struct http_req *r,
					   bool *path_known, char *allow, size_t allowsz)
{
	int np;

	*path_known = false;
	allow[0] = '\0';
	for (size_t i = 0; i < srv->cfg.n_routes; i++) {
		const struct http_route *rt = &srv->cfg.routes[i];
		if (!(rt->roles & srv->cfg.roles))
			continue;
		if (!path_match(rt->path, r->path, NULL, &np))
			continue;
		*path_known = true;
		if (strcmp(rt->method, r->method) == 0) {
			path_match(rt->path, r->path, r->params, &np);
			return rt;
		}
		if (strlen(allow) + strlen(rt->method) + 3 < allowsz) {
			if (allow[0])
				strcat(allow, ", ");
			strcat(allow, rt->method);
		}
	}
	return NULL;
}

/* What the head says about its size and about the body's framing. */
struct head_scan {
	size_t total;	      /* names and values, 4 bytes more for each */
	unsigned n_cl, n_te;  /* Content-Length and Transfer-Encoding headers */
	const char *cl, *te;  /* the first of each */
	const char *bad_name; /* the first header name that is not a token */
};

/* RFC 9110 5.1: a field name is a token. libmicrohttpd keeps white space
 * before the colon in the name, so "Content-Length : 5" would not count
 * as a length for it, and the body would be read as the next request. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

/* What a header (or query argument, or cookie) counts toward
 * max_header_bytes at least. libmicrohttpd keeps about 64 bytes of its own
 * for each in the connection's pool, so a head of many tiny headers costs
 * it far more than its size: without a floor, 400 headers of 9 bytes
 * overflowed the pool and got libmicrohttpd's own HTML 431 while they
 * counted under half the limit. */
#define HEADER_COST_MIN 32

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct head_scan *h = cls;
	size_t cost = strlen(key) + (value ? strlen(value) : 0) + 4;

	h->total += cost > HEADER_COST_MIN ? cost : HEADER_COST_MIN;
	if (kind != MHD_HEADER_KIND)
		return MHD_YES;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (h->n_cl++ == 0)
			h->cl = value ? value : "";
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		if (h->n_te++ == 0)
			h->te = value ? value : "";
	} else if (!h->bad_name && !is_token(key)) {
		h->bad_name = key;
	}
	return MHD_YES;
}

/* Caller's text for a message: printable ASCII only, at most outsz - 1. */
static const char *printable(const char *s, char *out, size_t outsz)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < outsz; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
	return out;
}

static void req_free(struct http_req *r)
{
	if (!r)
		return;
	if (r->ctx && r->ctx_free)
		r->ctx_free(r->ctx);
	if (r->sink_state && r->route && r->route->body_sink && r->route->body_sink->release)
		r->route->body_sink->release(r->sink_state);
	if (r->reply_fd >= 0)
		close(r->reply_fd);
	free(r->path);
	for (int i = 0; i < HTTP_MAX_PARAMS; i++)
		free(r->params[i]);
	buf_free(&r->body);
	free(r->reply_body);
	for (int i = 0; i < r->n_reply_headers; i++) {
		free(r->reply_headers[i][0]);
		free(r->reply_headers[i][1]);
	}
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Move a connection from one phase to another, unless the watch has taken
 * it (or another move came first); false when it did not move. */
static bool conn_move(struct http_conn *c, int from, int to)
{
	bool moved;

	if (!c)
		return true;
	pthread_mutex_lock(&c->lock);
	moved = atomic_load(&c->phase) == from;
	if (moved) {
		atomic_store(&c->phase, to);
		c->since_us = time_mono_us();
	}
	pthread_mutex_unlock(&c->lock);
	return moved;
}

/* The request is being answered: no deadline while it is. */
static void conn_busy(struct http_conn *c)
{
	if (!conn_move(c, CONN_BODY, CONN_BUSY))
		conn_move(c, CONN_DRAIN, CONN_BUSY);
}

static bool conn_closing(const struct http_conn *c)
{
	return c && atomic_load(&c->phase) == CONN_CLOSING;
}

static enum MHD_Result queue_reply(struct http_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	const char *const *h;

	if (r->reply_fd >= 0) {
		/* the response owns the descriptor from here, even on failure */
		resp = MHD_create_response_from_fd_at_offset64(r->reply_fd_len, r->reply_fd,
							       r->reply_fd_off);
		if (!resp)
			close(r->reply_fd);
		r->reply_fd = -1;
	} else if (r->reply_body && r->reply_len) {
		/* the response takes the body: no copy of every reply */
		resp = MHD_create_response_from_buffer(r->reply_len, r->reply_body,
						       MHD_RESPMEM_MUST_FREE);
		if (resp)
			r->reply_body = NULL;
	} else {
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!resp)
		return MHD_NO;
	if (r->content_type)
		MHD_add_response_header(resp, "Content-Type", r->content_type);
	for (h = r->srv->cfg.reply_headers; h && h[0] && h[1]; h += 2)
		MHD_add_response_header(resp, h[0], h[1]);
	for (int i = 0; i < r->n_reply_headers; i++)
		MHD_add_response_header(resp, r->reply_headers[i][0], r->reply_headers[i][1]);
	conn_busy(r->hc);
	ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	r->queued = true;
	if (r->srv->cfg.observe)
		r->srv->cfg.observe(r->route, r, r->status, time_mono_us() - r->started_us,
				    r->srv->cfg.app);
	return ret;
}

/* A complete reply that closes its connection, as libmicrohttpd would
 * write it, into out: for the moments libmicrohttpd cannot queue one.
 * r (may be NULL) adds the request's own headers. */
static void raw_reply(struct buf *out, const struct http_server *srv, int status,
		      const char *content_type, const char *body, size_t len,
		      const struct http_req *r)
{
	const char *reason = MHD_get_reason_phrase_for((unsigned)status);
	const char *const *h;

	buf_printf(out, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %zu\r\n", status,
		   reason && *reason ? reason : "Error", len);
	if (content_type)
		buf_printf(out, "Content-Type: %s\r\n", content_type);
	for (h = srv->cfg.reply_headers; h && h[0] && h[1]; h += 2)
		buf_printf(out, "%s: %s\r\n", h[0], h[1]);
	for (int i = 0; r && i < r->n_reply_headers; i++)
		if (strcasecmp(r->reply_headers[i][0], "Connection") != 0)
			buf_printf(out, "%s: %s\r\n", r->reply_headers[i][0],
				   r->reply_headers[i][1]);
	buf_puts(out, "\r\n");
	buf_append(out, body ? body : "", len);
}

/* Send what raw_reply built and shut the write side. A fresh socket buffer
 * takes it whole; what it does not is lost with the connection anyway.
 * Under TLS the bytes go through the connection's own GnuTLS session (tls,
 * from libmicrohttpd), which only the thread serving the connection may
 * do; tls is NULL on plain HTTP. */
static void raw_send(int fd, void *tls, const struct buf *out)
{
	if (fd < 0 || !out->data)
		return;
	if (tls) {
		size_t off = 0;
		for (int tries = 0; off < out->len && tries < 16; tries++) {
			ssize_t n = gnutls_record_send(tls, out->data + off, out->len - off);
			if (n > 0)
				off += (size_t)n;
			else if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED)
				break;
		}
		shutdown(fd, SHUT_WR);
		return;
	}
	if (send(fd, out->data, out->len, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
		shutdown(fd, SHUT_WR);
}

static void *req_tls(const struct http_req *r)
{
	const union MHD_ConnectionInfo *ci;

	if (!r->srv->cfg.tls_key_pem)
		return NULL;
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	return ci ? ci->tls_session : NULL;
}

/* Write the reply set on r straight to the socket and end the request, in
 * the middle of its body (a chunked body past its cap), where
 * libmicrohttpd cannot queue a reply. Nothing else is being written on the
 * connection then, since libmicrohttpd answers a request only after
 * reading it; the caller makes libmicrohttpd drop the connection after it. */
static void reply_now(struct http_req *r)
{
	struct buf out;

	buf_init(&out, 64 * 1024);
	raw_reply(&out, r->srv, r->status, r->content_type, r->reply_body, r->reply_len, r);
	raw_send(http_req_socket(r), req_tls(r), &out);
	buf_free(&out);
	r->cut = true;
	r->cut_at = r->body_received;
	r->queued = true;
	if (r->srv->cfg.observe)
		r->srv->cfg.observe(r->route, r, r->status, time_mono_us() - r->started_us,
				    r->srv->cfg.app);
}

static void reply_err(struct http_req *r, int status, const char *code, const char *remedy,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void reply_err(struct http_req *r, int status, const char *code, const char *remedy,
		      const char *fmt, ...)
{
	struct steward_err err;
	va_list ap;

	snprintf(err.code, sizeof(err.code), "%s", code);
	snprintf(err.remedy, sizeof(err.remedy), "%s", remedy);
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	http_reply_error(r, status, &err);
}

static size_t route_max_body(const struct http_server *srv, const struct http_route *rt)
{
	return rt && rt->max_body ? rt->max_body : srv->cfg.limits.max_body_bytes;
}

static const char *body_remedy(const struct http_route *rt)
{
	return rt && rt->max_body
		   ? "send a smaller request, or raise the site's limit for this route "
		     "(docs/configuration.md)"
		   : "send a smaller request, or raise http_max_body_bytes on the site";
}

/* ---- the access handler --------------------------------------------------- */

/* A body over the limit is refused before it is sent when the client waits
 * for "100 Continue" (steward's own clients do for bodies over
 * HTTP_EXPECT_MIN); from other clients one up to this size is read and
 * dropped so that the refusal reaches them, a larger one is refused at once
 * and the connection closed. */
#define HTTP_DISCARD_MAX (1024u * 1024u)

static bool expects_continue(struct MHD_Connection *conn)
{
	const char *e = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);

	return e && strcasecmp(e, "100-continue") == 0;
}

/* "chunked" alone, in any case, with optional white space around it */
static bool te_is_chunked(const char *te)
{
	size_t len;

	te += strspn(te, " \t");
	len = strlen(te);
	while (len && (te[len - 1] == ' ' || te[len - 1] == '\t'))
		len--;
	return len == 7 && strncasecmp(te, "chunked", 7) == 0;
}

#define REMEDY_FRAMING                                                                             \
	"frame a body with one Content-Length or with Transfer-Encoding: chunked, never both "     \
	"(RFC 9112 6.3)"

/* RFC 9112 6.3: where a body ends must follow from the head one way only,
 * or a proxy in front and the site can disagree on where the next request
 * starts (request smuggling). A faulty head is refused before anything
 * else, and the connection closed: what follows it cannot be trusted. */
static bool framing_refused(struct http_req *r, const char *version, const struct head_scan *h)
{
	char text[48];

	if (h->bad_name) {
		reply_err(r, 400, "bad_framing",
			  "send header names without white space or other separators before the "
			  "colon (RFC 9110 5.1)",
			  "header name '%s' is not a token",
			  printable(h->bad_name, text, sizeof(text)));
	} else if (h->n_cl > 1) {
		reply_err(r, 400, "bad_framing", REMEDY_FRAMING,
			  "the request has %u Content-Length headers; one at most", h->n_cl);
	} else if (h->n_cl && h->n_te) {
		reply_err(r, 400, "bad_framing", REMEDY_FRAMING,
			  "the request has both Content-Length and Transfer-Encoding");
	} else if (h->n_te && strcmp(version, MHD_HTTP_VERSION_1_0) == 0) {
		reply_err(r, 400, "bad_framing",
			  "send HTTP/1.1, or a Content-Length (RFC 9112 6.1)",
			  "Transfer-Encoding in an HTTP/1.0 request");
	} else if (h->n_te && (h->n_te > 1 || !te_is_chunked(h->te))) {
		reply_err(r, 501, "transfer_encoding_unsupported",
			  "send the body with Content-Length or Transfer-Encoding: chunked alone",
			  "Transfer-Encoding '%s'%s is not supported; only chunked is",
			  printable(h->te, text, sizeof(text)), h->n_te > 1 ? " (and more)" : "");
	} else {
		return false;
	}
	http_reply_header(r, "Connection", "close");
	return true;
}

static bool admit_head(struct http_req *r);

/* What to do with the body of a request refused from its headers (at
 * most one call, at the end of on_first_call). Without a body, or with a
 * short one (Content-Length up to HTTP_DISCARD_MAX) the client sends
 * without waiting for 100 Continue, the body is read and dropped and the
 * refusal sent at its end, on a connection that stays open: closing on
 * unread bytes resets the connection, and the reset can erase the refusal
 * before the client reads it (curl then reports a send error instead).
 * Anything else (a large or chunked body, or a client waiting for 100
 * Continue) is answered at once, and libmicrohttpd closes the connection
 * without reading the body. Nothing of it is ever buffered. */
static void refuse_early(struct http_req *r)
{
	r->drain = !r->chunked && r->body_declared <= HTTP_DISCARD_MAX &&
		   !(r->body_declared && expects_continue(r->conn));
}

static enum MHD_Result on_first_call(struct http_server *srv, struct MHD_Connection *conn,
				     const char *url, const char *method, const char *version,
				     void **con_cls)
{
	struct http_req *r = calloc(1, sizeof(*r));
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct head_scan hs = {0};
	bool path_known;
	char allow[64];
	size_t max_body;

	if (!r)
		return MHD_NO;
	/* no route yet: the server-wide cap until one is found */
	buf_init(&r->body, srv->cfg.limits.max_body_bytes);
	pthread_mutex_init(&r->lock, NULL);
	r->reply_fd = -1;
	r->srv = srv;
	r->conn = conn;
	r->started_us = time_mono_us();
	r->status = 500;
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->path = strdup(url);
	*con_cls = r;
	atomic_fetch_add(&srv->active, 1);
	r->hc = ci ? ci->socket_context : NULL;
	if (r->hc) {
		memcpy(r->peer, r->hc->peer, sizeof(r->peer));
		r->loopback = r->hc->loopback;
	} else {
		peer_of(conn, r->peer, sizeof(r->peer), &r->loopback);
	}
	if (r->hc)
		atomic_store(&r->hc->body_bytes, 0);
	/* the head is in: from here the body's deadline, unless the watch has
	 * just closed the connection for the head's */
	if (!r->path || !conn_move(r->hc, CONN_HEAD, CONN_BODY))
		return MHD_NO;

	MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &hs);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND | MHD_COOKIE_KIND, scan_header, &hs);
	hs.total += strlen(url) + strlen(method) + 12;
	if (framing_refused(r, version, &hs))
		return MHD_YES; /* at once, and closed */
	r->chunked = hs.n_te > 0;
	if (hs.cl) {
		/* libmicrohttpd has refused what is not 1*DIGIT within 64 bits */
		char *end = NULL;
		errno = 0;
		r->body_declared = strtoull(hs.cl, &end, 10);
		if (errno || end == hs.cl || *end) {
			reply_err(r, 400, "bad_framing", REMEDY_FRAMING,
				  "Content-Length is not a number of bytes");
			http_reply_header(r, "Connection", "close");
			return MHD_YES;
		}
	}
	if (hs.total > srv->cfg.limits.max_header_bytes) {
		reply_err(
		    r, 431, "headers_too_large",
		    "send fewer or shorter headers, or raise http_max_header_bytes on the site",
		    "request line and headers count %zu bytes (each header at least %d); the "
		    "limit is %zu",
		    hs.total, HEADER_COST_MIN, srv->cfg.limits.max_header_bytes);
		goto refused;
	}
	r->route = route_find(srv, r, &path_known, allow, sizeof(allow));
	if (r->hc)
		atomic_store(&r->hc->route, r->route);
	if (!r->route) {
		if (path_known) {
			http_reply_header(r, "Allow", allow);
			reply_err(r, 405, "method_not_allowed", "use one of the allowed methods",
				  "%s is not allowed on %.200s (allowed: %s)", r->method, r->path,
				  allow);
		} else {
			reply_err(r, 404, "not_found",
				  "check the URL; docs/internals/protocol.md lists the routes",
				  "no such path: %.200s", r->path);
		}
		goto refused;
	}
	/* The body cap is the route's own when it has one (an inventory is
	 * larger than any other request), else the server-wide one. */
	max_body = route_max_body(srv, r->route);
	buf_init(&r->body, max_body);
	if (r->body_declared > max_body) {
		reply_err(r, 413, "body_too_large", body_remedy(r->route),
			  "request body of %llu bytes is over the limit of %zu bytes for %s",
			  (unsigned long long)r->body_declared, max_body,
			  r->route->name ? r->route->name : r->route->path);
		goto refused;
	}
	if (!admit_head(r))
		goto refused;
	if (r->route->body_sink) {
		r->sink_mode = r->route->body_sink->begin(r, srv->cfg.app, &r->sink_state);
		if (r->sink_mode == HTTP_SINK_REFUSE) {
			if (!r->replied)
				reply_err(r, 500, "internal",
					  "report this as a bug with the site's log",
					  "the body sink for %s %s refused without a reply",
					  r->method, r->path);
			goto refused;
		}
	}
	return MHD_YES;
refused:
	refuse_early(r);
	if (r->drain)
		conn_move(r->hc, CONN_BODY, CONN_DRAIN);
	return MHD_YES;
}

/* Shutdown, overload and the authorize callback, from the headers alone;
 * false when it replied. A check that needs the body (HTTP_AUTH_NEED_BODY)
 * runs again in dispatch(), once the body is in. */
static bool admit_head(struct http_req *r)
{
	struct http_server *srv = r->srv;
	struct steward_err err;
	int status;

	if (atomic_load(&srv->quiesced)) {
		http_reply_header(r, "Connection", "close");
		http_reply_header(r, "Retry-After", "5");
		reply_err(r, 503, "shutting_down", "retry after the time in Retry-After",
			  "the site is shutting down");
		return false;
	}
	if (atomic_load(&srv->connections) > srv->overload_at) {
		http_reply_header(r, "Retry-After", "5");
		reply_err(r, 503, "overloaded", "retry after the time in Retry-After",
			  "the site is serving %u connections; the limit is %u",
			  atomic_load(&srv->connections), srv->cfg.limits.max_connections);
		return false;
	}
	memset(&err, 0, sizeof(err));
	status = srv->cfg.authorize
		     ? srv->cfg.authorize(r, r->route, HTTP_AUTH_HEAD, srv->cfg.app, &err)
		     : 0;
	if (status == HTTP_AUTH_NEED_BODY && r->route->body_sink) {
		/* nothing may reach a sink before its caller is known */
		reply_err(r, 500, "internal", "report this as a bug with the site's log",
			  "the route %s %s streams its body but its authorization needs it",
			  r->method, r->path);
		return false;
	}
	if (status == HTTP_AUTH_NEED_BODY) {
		r->auth_body = true;
		return true;
	}
	if (status) {
		http_reply_error(r, status, &err);
		return false;
	}
	return true;
}

static void sink_feed(struct http_req *r, const char *data, size_t len)
{
	if (r->body_received > route_max_body(r->srv, r->route)) {
		r->body_too_big = true; /* a chunked body past the cap */
		return;
	}
	if (r->sink_mode != HTTP_SINK_ACCEPT || r->sink_failed)
		return;
	if (r->route->body_sink->data(r->sink_state, data, len) != 0)
		r->sink_failed = true;
}

static void dispatch(struct http_req *r)
{
	struct http_server *srv = r->srv;

	if (r->auth_body) {
		struct steward_err err;
		int status;

		memset(&err, 0, sizeof(err));
		status = srv->cfg.authorize(r, r->route, HTTP_AUTH_BODY, srv->cfg.app, &err);
		if (status) {
			if (status == HTTP_AUTH_NEED_BODY)
				reply_err(r, 500, "internal",
					  "report this as a bug with the site's log",
					  "the authorization of %s %s asked for the body twice",
					  r->method, r->path);
			else
				http_reply_error(r, status, &err);
			return;
		}
	}
	if (r->route->handler(r, srv->cfg.app) == HTTP_PENDING)
		return;
	if (!r->replied)
		reply_err(r, 500, "internal", "report this as a bug with the site's log",
			  "the handler for %s %s set no reply", r->method, r->path);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct http_server *srv = cls;
	struct http_req *r = *con_cls;
	bool ready;

	if (!r) {
		enum MHD_Result ret = on_first_call(srv, conn, url, method, version, con_cls);
		r = *con_cls;
		/* Refused from the headers and not draining a short body: answer
		 * at once; libmicrohttpd closes the connection instead of reading
		 * the body. */
		if (ret == MHD_YES && r && r->replied && !r->drain)
			return queue_reply(r);
		return ret;
	}

	if (conn_closing(r->hc))
		return MHD_NO; /* past its deadline: the watch closes it */
	if (*upload_data_size) {
		r->body_received += *upload_data_size;
		if (r->hc)
			atomic_store(&r->hc->body_bytes, r->body_received);
		/* A reply chosen early (413, 401, 404, ...) drops the body. */
		if (!r->replied && r->route && r->route->body_sink)
			sink_feed(r, upload_data, *upload_data_size);
		else if (!r->replied && buf_append(&r->body, upload_data, *upload_data_size) != 0)
			r->body_too_big = true;
		*upload_data_size = 0;
		if (r->body_too_big && !r->replied) {
			/* Past the cap (only a chunked body gets here: a length over
			 * it is refused from the headers): 413 now, not when the
			 * body ends, which a huge chunk size can put off forever. */
			http_reply_header(r, "Connection", "close");
			reply_err(r, 413, "body_too_large", body_remedy(r->route),
				  "request body is over the limit of %zu bytes for %s",
				  route_max_body(srv, r->route),
				  r->route && r->route->name ? r->route->name : r->path);
			if (!conn_move(r->hc, CONN_BODY, CONN_DRAIN))
				return MHD_NO; /* the watch was first */
			reply_now(r);
		}
		/* What the client sends after the 413 is dropped for a while, so
		 * that a reset does not erase it before the client has read it,
		 * up to HTTP_DISCARD_MAX; then the connection is cut. */
		if (r->cut && r->body_received - r->cut_at > HTTP_DISCARD_MAX)
			return MHD_NO;
		return MHD_YES;
	}
	if (r->cut)
		return MHD_NO; /* the body ended after its reply went out: close */
	if (r->queued)
		return MHD_YES;

	pthread_mutex_lock(&r->lock);
	ready = r->replied;
	pthread_mutex_unlock(&r->lock);
	if (ready)
		return queue_reply(r);
	if (r->suspended)
		return MHD_YES; /* woken without a reply: cannot happen, wait on */

	/* the body is in: no deadline while the handler works */
	if (r->hc && !conn_move(r->hc, CONN_BODY, CONN_BUSY) &&
	    atomic_load(&r->hc->phase) != CONN_BUSY)
		return MHD_NO;
	dispatch(r);
	if (r->went_async)
		return MHD_YES; /* queued when libmicrohttpd resumes it */
	return queue_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_req *r = *con_cls;

	if (!r)
		return;
	if (!r->queued && !(r->hc && atomic_load(&r->hc->answered)) && srv->cfg.observe)
		srv->cfg.observe(r->route, r, 499, time_mono_us() - r->started_us, srv->cfg.app);
	if (r->done_fn)
		r->done_fn(r, r->queued && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, r->done_arg);
	/* the next request's head is due within head_timeout_s from now */
	if (r->hc) {
		pthread_mutex_lock(&r->hc->lock);
		if (atomic_load(&r->hc->phase) != CONN_CLOSING) {
			atomic_store(&r->hc->phase, CONN_HEAD);
			r->hc->since_us = time_mono_us();
		}
		pthread_mutex_unlock(&r->hc->lock);
	}
	req_free(r);
	*con_cls = NULL;
	atomic_fetch_sub(&srv->active, 1);
}

/* ---- deadlines ---------------------------------------------------------------- */

#define WATCH_INTERVAL_MS 100

/* A body past its deadline: 408, unless its reply is chosen already. */
static void watch_timeout_reply(struct http_server *srv, struct http_conn *c, int64_t age_us)
{
	struct steward_err err;
	struct buf out;
	char *body;

	memset(&err, 0, sizeof(err));
	steward_err_set(&err, STEWARD_ETIMEDOUT, "request_timeout",
			"send the body without pauses; the site allows http_body_timeout plus one "
			"second per http_body_min_rate bytes",
			"the request body took over %us (%llu bytes arrived)",
			srv->cfg.limits.body_timeout_s,
			(unsigned long long)atomic_load(&c->body_bytes));
	body = proto_error_body(&err);
	buf_init(&out, 64 * 1024);
	raw_reply(&out, srv, 408, "application/json", body, body ? strlen(body) : 0, NULL);
	/* under TLS this thread may not write into the connection's session:
	 * the client sees the connection close instead of the 408 */
	if (!srv->cfg.tls_key_pem)
		raw_send(c->fd, NULL, &out);
	buf_free(&out);
	free(body);
	atomic_store(&c->answered, true);
	if (srv->cfg.observe)
		srv->cfg.observe(atomic_load(&c->route), NULL, 408, age_us, srv->cfg.app);
}

/* One connection against its deadline; under watch_lock, so its socket is
 * still libmicrohttpd's. Closing is a shutdown: libmicrohttpd sees the
 * end of the stream and closes the connection itself. */
static void watch_one(struct http_server *srv, struct http_conn *c, int64_t now)
{
	const struct http_limits *l = &srv->cfg.limits;
	int phase, outq = 0;
	int64_t age, allowed = -1;

	pthread_mutex_lock(&c->lock);
	phase = atomic_load(&c->phase);
	age = now - c->since_us;
	if (phase == CONN_HEAD && l->head_timeout_s)
		allowed = (int64_t)l->head_timeout_s * 1000000;
	else if ((phase == CONN_BODY || phase == CONN_DRAIN) && l->body_timeout_s)
		allowed = (int64_t)l->body_timeout_s * 1000000 +
			  (l->body_min_rate
			       ? (int64_t)(atomic_load(&c->body_bytes) * 1000000 / l->body_min_rate)
			       : 0);
	if (allowed < 0 || age <= allowed)
		goto out;
	/* the previous reply is still on its way to a slow reader: that is
	 * its time, not this head's */
	if (phase == CONN_HEAD && ioctl(c->fd, SIOCOUTQ, &outq) == 0 && outq > 0) {
		c->since_us = now;
		goto out;
	}
	log_debug("http", phase == CONN_HEAD ? "head_timeout" : "body_timeout",
		  "fd=%d after_ms=%lld bytes=%llu", c->fd, (long long)(age / 1000),
		  (unsigned long long)atomic_load(&c->body_bytes));
	if (phase == CONN_BODY)
		watch_timeout_reply(srv, c, age);
	atomic_store(&c->phase, CONN_CLOSING);
	shutdown(c->fd, SHUT_RDWR);
out:
	pthread_mutex_unlock(&c->lock);
}

static void *watch_main(void *arg)
{
	struct http_server *srv = arg;
	struct timespec ts;

	pthread_mutex_lock(&srv->watch_lock);
	while (!srv->watch_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += WATCH_INTERVAL_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->watch_cond, &srv->watch_lock, &ts);
		for (struct http_conn *c = srv->conns; c && !srv->watch_stop; c = c->next)
			watch_one(srv, c, time_mono_us());
	}
	pthread_mutex_unlock(&srv->watch_lock);
	return NULL;
}

static int watch_start(struct http_server *srv)
{
	pthread_condattr_t ca;
	int rc;

	pthread_mutex_init(&srv->watch_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->watch_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!srv->cfg.limits.head_timeout_s && !srv->cfg.limits.body_timeout_s)
		return 0;
	rc = pthread_create(&srv->watch_thread, NULL, watch_main, srv);
	srv->watch_started = rc == 0;
	return rc ? -STEWARD_ENOMEM : 0;
}

static void watch_stop(struct http_server *srv)
{
	if (srv->watch_started) {
		pthread_mutex_lock(&srv->watch_lock);
		srv->watch_stop = true;
		pthread_cond_signal(&srv->watch_cond);
		pthread_mutex_unlock(&srv->watch_lock);
		pthread_join(srv->watch_thread, NULL);
		srv->watch_started = false;
	}
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	struct http_conn *c;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		atomic_fetch_add(&srv->connections, 1);
		c = calloc(1, sizeof(*c));
		if (!c || !ci) {
			free(c); /* no deadlines for this one; the idle timeout stays */
			return;
		}
		c->fd = (int)ci->connect_fd;
		peer_of(conn, c->peer, sizeof(c->peer), &c->loopback);
		pthread_mutex_init(&c->lock, NULL);
		c->since_us = time_mono_us();
		atomic_store(&c->phase, CONN_HEAD);
		pthread_mutex_lock(&srv->watch_lock);
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		pthread_mutex_unlock(&srv->watch_lock);
		*socket_context = c;
		return;
	}
	atomic_fetch_sub(&srv->connections, 1);
	c = *socket_context;
	if (!c)
		return;
	/* libmicrohttpd closes the socket after this returns: out of the
	 * watch's sight first */
	pthread_mutex_lock(&srv->watch_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&srv->watch_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*socket_context = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* libmicrohttpd ends its messages with a newline */
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("http", "mhd", "msg=\"%s\"", msg);
}

/* ---- public API ------------------------------------------------------------ */

int http_server_start(const struct http_server_config *cfg, struct http_server **out,
		      struct steward_err *err)
{
	struct http_server *srv;
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	size_t mem_limit;
	const union MHD_DaemonInfo *di;
	struct MHD_OptionItem tls_opts[4] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL},
					     {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};

	*out = NULL;
	memset(&ss, 0, sizeof(ss));
	if (strchr(cfg->addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(cfg->port);
		if (inet_pton(AF_INET6, cfg->addr, &s6->sin6_addr) != 1)
			goto bad_addr;
		sslen = sizeof(*s6);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(cfg->port);
		if (inet_pton(AF_INET, cfg->addr, &s4->sin_addr) != 1)
			goto bad_addr;
		sslen = sizeof(*s4);
	}
	(void)sslen;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
	srv->cfg = *cfg;
	srv->listen_fd = -1;
	if (watch_start(srv)) {
		free(srv);
		return steward_err_set(err, STEWARD_ENOMEM, "internal", "",
				       "cannot start the HTTP deadline thread");
	}
	srv->overload_at = cfg->limits.max_connections - cfg->limits.max_connections / 10;
	/* libmicrohttpd refuses a head its connection pool cannot hold with a
	 * 431 (or 414) of its own, in HTML, before the site sees it: the pool
	 * must hold any head the site would refuse in JSON. A head costs the
	 * pool its bytes plus about 64 per header; counting each header as at
	 * least HEADER_COST_MIN, a head counted at C bytes costs at most about
	 * 2.3 C, so 3 x the limit (plus room for the reply's headers) holds
	 * every head counted up to one and a half times the limit (far more
	 * for a few long headers). The pool is cleared for every request and
	 * is 32 KiB at the default limit, so libmicrohttpd takes it with
	 * malloc, not a mapping per connection. */
	mem_limit = cfg->limits.max_header_bytes * 3 + 8192;
	if (cfg->tls_key_pem && cfg->tls_cert_pem) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			watch_stop(srv);
			free(srv);
			return steward_err_set(err, STEWARD_EIO, "tls_unavailable",
					       "install a libmicrohttpd built with GnuTLS (Debian's is), "
					       "or set tls = off",
					       "this libmicrohttpd cannot serve HTTPS");
		}
		flags |= MHD_USE_TLS;
		/* TLS 1.2 and 1.3 only */
		tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
						      (void *)cfg->tls_key_pem};
		tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
						      (void *)cfg->tls_cert_pem};
		tls_opts[2] = (struct MHD_OptionItem){
		    MHD_OPTION_HTTPS_PRIORITIES, 0,
		    (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"};
	}
	srv->mhd = MHD_start_daemon(
	    flags, cfg->port, NULL, NULL, on_request, srv,
	    MHD_OPTION_ARRAY, tls_opts,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->limits.threads ? cfg->limits.threads : 2),
	    MHD_OPTION_CONNECTION_LIMIT, cfg->limits.max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->limits.max_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, cfg->limits.timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem_limit,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	    MHD_OPTION_END);
	if (!srv->mhd) {
		watch_stop(srv);
		free(srv);
		return steward_err_set(err, STEWARD_EIO, "listen_failed",
				       "check that the address is local and the port is free (ss -ltnp)",
				       "cannot listen on %s port %u", cfg->addr, cfg->port);
	}
	di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : cfg->port;
	*out = srv;
	return 0;
bad_addr:
	return steward_err_set(err, STEWARD_EINVAL, "bad_config", "give an IPv4 or IPv6 address",
			       "listen address '%.64s' is not an IP address", cfg->addr);
}

uint16_t http_server_port(const struct http_server *s)
{
	return s->port;
}

unsigned http_server_connections(const struct http_server *s)
{
	return atomic_load(&((struct http_server *)s)->connections);
}

void http_server_quiesce(struct http_server *s)
{
	int fd;

	if (!s || atomic_load(&s->quiesced))
		return;
	atomic_store(&s->quiesced, true);
	fd = (int)MHD_quiesce_daemon(s->mhd);
	if (fd >= 0) {
		s->listen_fd = fd;
		close(fd);
	}
}

unsigned http_server_drain(struct http_server *s, int64_t timeout_ms)
{
	int64_t deadline = time_mono_us() + timeout_ms * 1000;

	while (atomic_load(&s->active) > 0 && time_mono_us() < deadline)
		usleep(10000);
	return atomic_load(&s->active);
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	watch_stop(s);
	MHD_stop_daemon(s->mhd);
	pthread_cond_destroy(&s->watch_cond);
	pthread_mutex_destroy(&s->watch_lock);
	free(s);
}

/* ---- request accessors --------------------------------------------------- */

const char *http_req_method(const struct http_req *r)
{
	return r->method;
}

const char *http_req_path(const struct http_req *r)
{
	return r->path;
}

const char *http_req_param(const struct http_req *r, int i)
{
	return (i >= 0 && i < HTTP_MAX_PARAMS) ? r->params[i] : NULL;
}

const char *http_req_header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

int http_req_query_i64(const struct http_req *r, const char *name, int64_t min, int64_t max,
		       int64_t *out)
{
	const char *v = http_req_query(r, name);
	char *end = NULL;
	long long n;

	if (!v)
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (!*v || errno || *end || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

const char *http_req_body(const struct http_req *r, size_t *len)
{
	if (len)
		*len = r->body.len;
	return r->body.data ? r->body.data : "";
}

const char *http_req_peer(const struct http_req *r)
{
	return r->peer;
}

bool http_req_peer_loopback(const struct http_req *r)
{
	return r->loopback;
}

const struct http_route *http_req_route(const struct http_req *r)
{
	return r->route;
}

int64_t http_req_started_us(const struct http_req *r)
{
	return r->started_us;
}

void http_req_set_ctx(struct http_req *r, void *ctx, void (*free_fn)(void *))
{
	if (r->ctx && r->ctx_free)
		r->ctx_free(r->ctx);
	r->ctx = ctx;
	r->ctx_free = free_fn;
}

void *http_req_ctx(const struct http_req *r)
{
	return r->ctx;
}

void *http_req_sink_state(const struct http_req *r)
{
	return r->sink_state;
}

int http_req_socket(const struct http_req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci ? (int)ci->connect_fd : -1;
}

void http_req_on_done(struct http_req *r, http_done_fn fn, void *arg)
{
	r->done_fn = fn;
	r->done_arg = arg;
}

/* ---- replies --------------------------------------------------------------- */

void http_reply(struct http_req *r, int status, const char *content_type, const char *body,
		size_t len)
{
	char *copy = malloc(len + 1);

	if (copy) {
		memcpy(copy, body, len);
		copy[len] = '\0';
	} else {
		len = 0;
		status = 500;
	}
	http_reply_take(r, status, content_type, copy, len);
}

void http_reply_take(struct http_req *r, int status, const char *content_type, char *copy,
		     size_t len)
{
	pthread_mutex_lock(&r->lock);
	if (r->reply_fd >= 0) {
		close(r->reply_fd); /* this reply replaces a file reply */
		r->reply_fd = -1;
	}
	free(r->reply_body);
	r->reply_body = copy;
	r->reply_len = len;
	r->status = status;
	r->error_code[0] = '\0';
	r->content_type = content_type;
	r->replied = true;
	pthread_mutex_unlock(&r->lock);
}

void http_reply_fd(struct http_req *r, int status, const char *content_type, int fd,
		   uint64_t offset, uint64_t len)
{
	/* libmicrohttpd refuses regions past INT64_MAX; an empty one needs no file */
	if (fd < 0 || len == 0 || offset > (uint64_t)INT64_MAX - len) {
		if (fd >= 0)
			close(fd);
		http_reply(r, fd < 0 ? 500 : status, content_type, "", 0);
		return;
	}
	pthread_mutex_lock(&r->lock);
	if (r->reply_fd >= 0)
		close(r->reply_fd);
	free(r->reply_body);
	r->reply_body = NULL;
	r->reply_len = 0;
	r->reply_fd = fd;
	r->reply_fd_off = offset;
	r->reply_fd_len = len;
	r->status = status;
	r->error_code[0] = '\0';
	r->content_type = content_type;
	r->replied = true;
	pthread_mutex_unlock(&r->lock);
}

void http_reply_json(struct http_req *r, int status, const char *json)
{
	http_reply(r, status, "application/json", json, strlen(json));
}

void http_reply_error(struct http_req *r, int status, const struct steward_err *err)
{
	char *body = proto_error_body(err);

	if (!body) {
		/* the message held bytes JSON cannot carry; keep the code */
		struct steward_err safe = *err;
		snprintf(safe.message, sizeof(safe.message), "(message not representable)");
		body = proto_error_body(&safe);
	}
	http_reply_json(r, status, body ? body : "{\"error\":{\"code\":\"internal\"}}");
	free(body);
	pthread_mutex_lock(&r->lock);
	snprintf(r->error_code, sizeof(r->error_code), "%s", body ? err->code : "internal");
	pthread_mutex_unlock(&r->lock);
}

const char *http_req_error_code(const struct http_req *r)
{
	return r->error_code;
}

void http_reply_header(struct http_req *r, const char *name, const char *value)
{
	if (r->n_reply_headers >= MAX_REPLY_HEADERS)
		return;
	r->reply_headers[r->n_reply_headers][0] = strdup(name);
	r->reply_headers[r->n_reply_headers][1] = strdup(value);
	if (r->reply_headers[r->n_reply_headers][0] && r->reply_headers[r->n_reply_headers][1])
		r->n_reply_headers++;
}

void http_req_suspend(struct http_req *r)
{
	pthread_mutex_lock(&r->lock);
	r->suspended = true;
	r->went_async = true;
	pthread_mutex_unlock(&r->lock);
	MHD_suspend_connection(r->conn);
}

void http_req_resume(struct http_req *r)
{
	pthread_mutex_lock(&r->lock);
	r->suspended = false;
	pthread_mutex_unlock(&r->lock);
	MHD_resume_connection(r->conn);
}

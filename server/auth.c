/* auth: the one authorization step every route passes before its handler.
 *
 * The route table declares each route's permission; http_server calls
 * site_authorize() for every request, so a new route cannot forget it.
 * Order matters: the version handshake first (an incompatible peer gets
 * told so, whatever else is wrong), then credentials, and only after the
 * signature or MAC checks out does a client learn its own state. An
 * admin token's role must be in the route's `allow` (403 role_forbidden;
 * docs/security.md). Two routes skip the handshake
 * (PERM_CONSOLE_UPDATE): the way a refused console updates itself; they
 * still need an admin token. A console
 * refused by the handshake is listed as refused (consoles.c) when its
 * token is valid. All of it runs from the headers, before the site reads
 * any of the body, except what needs the body: an agent's signature or
 * MAC covers it, so agent routes check their headers and the client id
 * first and the rest once the body is in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <errno.h>

#include <sodium.h>

#include "site.h"

#define REMEDY_ADMIN_TOKEN                                                                    \
	"pass an admin token (stewardctl -t FILE); the first one is in DATA_DIR/admin.token"

const char *perm_name(int perm)
{
	switch (perm) {
	case PERM_NONE: return "none";
	case PERM_ENROLL: return "enroll";
	case PERM_AGENT_SIGNED: return "agent-signed";
	case PERM_AGENT: return "agent";
	case PERM_METRICS: return "metrics";
	case PERM_TOKEN: return "token";
	case PERM_CONTENT: return "content";
	case PERM_CONSOLE_UPDATE: return "console-update";
	case PERM_SITE: return "site";
	case PERM_CONSOLE_SESSION: return "console-session";
	}
	return "?";
}

static const struct {
	unsigned role;
	const char *name;
} token_roles[] = {
    {TOKEN_ROLE_READ, "read"},
    {TOKEN_ROLE_OPERATOR, "operator"},
    {TOKEN_ROLE_ADMIN, "admin"},
    {TOKEN_ROLE_DP, "distribution_point"},
};
#define N_TOKEN_ROLES (sizeof(token_roles) / sizeof(token_roles[0]))

const char *token_role_name(unsigned role)
{
	for (size_t i = 0; i < N_TOKEN_ROLES; i++)
		if (token_roles[i].role == role)
			return token_roles[i].name;
	return "?";
}

int token_role_parse(const char *name, unsigned *out)
{
	for (size_t i = 0; name && i < N_TOKEN_ROLES; i++)
		if (strcmp(token_roles[i].name, name) == 0) {
			*out = token_roles[i].role;
			return 0;
		}
	return -STEWARD_EINVAL;
}

const char *token_roles_text(unsigned allow, char *out, size_t outsz)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < N_TOKEN_ROLES; i++)
		if ((allow & token_roles[i].role) && len < outsz)
			len += (size_t)snprintf(out + len, outsz - len, "%s%s", len ? "," : "",
						token_roles[i].name);
	if (!out[0])
		snprintf(out, outsz, "-");
	return out;
}

const char *token_role_needed(unsigned allow)
{
	for (size_t i = 0; i < N_TOKEN_ROLES; i++)
		if (allow & token_roles[i].role)
			return token_roles[i].name;
	return "admin";
}

/* A console's way out of a refusal: self-update uses only the routes of
 * PERM_CONSOLE_UPDATE, which skip this check (consoleupdate.c). */
#define REMEDY_CONSOLE_FMT                                                                         \
	"update this console: stewardctl self-update (it works whatever the protocol), or "        \
	"install the stewardctl of the site's release (%s)"
#define REMEDY_OLDER_SIDE "upgrade the older side: install a release whose protocol range overlaps"

/* A console's call: an admin route, not from a remote site system (those
 * are upgraded with the site, not by self-update). */
static bool console_call(struct http_req *req, const struct http_route *route)
{
	return (route->perm == PERM_TOKEN || route->perm == PERM_CONSOLE_UPDATE) &&
	       !http_req_header(req, SITE_SYSTEM_HEADER);
}

/* The version handshake: 0, or the status to refuse with, err filled and
 * why (for the consoles list, consoles.c) a short reason. */
static int check_versions(struct http_req *req, const struct http_route *route, char *why,
			  size_t whysz, struct steward_err *err)
{
	const char *proto = http_req_header(req, PROTO_H_PROTOCOL);
	const char *api = http_req_header(req, PROTO_H_API);
	const char *ver = http_req_header(req, PROTO_H_VERSION);
	struct proto_range theirs, ours = proto_self_range();
	bool console = console_call(req, route);
	char remedy[STEWARD_ERR_MSG_MAX];

	snprintf(remedy, sizeof(remedy), REMEDY_CONSOLE_FMT, proto_self_version());
	if (proto) {
		if (strlen(proto) > 23 || proto_range_parse(proto, &theirs)) {
			snprintf(why, whysz, "sends a malformed Steward-Protocol header");
			steward_err_set(err, STEWARD_EINVAL, "bad_request",
					"send Steward-Protocol as MIN-MAX, e.g. 1-1",
					"header Steward-Protocol '%.24s' is malformed", proto);
			return 400;
		}
		if (proto_negotiate(&theirs, &ours) < 0) {
			snprintf(why, whysz,
				 "speaks protocol %d-%d, site %d-%d; run stewardctl self-update",
				 theirs.min, theirs.max, ours.min, ours.max);
			steward_err_set(
			    err, STEWARD_EVERSION, "version_incompatible",
			    console ? remedy : REMEDY_OLDER_SIDE,
			    "peer %.32s speaks protocol %d-%d; this site (%s) speaks %d-%d",
			    ver ? ver : "(unknown version)", theirs.min, theirs.max,
			    proto_self_version(), ours.min, ours.max);
			return 409;
		}
	}
	if (api) {
		char *end = NULL;
		long v;
		errno = 0;
		v = strtol(api, &end, 10);
		if (errno || end == api || *end || v != STEWARD_API_MAJOR) {
			snprintf(why, whysz,
				 "speaks API %.8s, site API %d; run stewardctl self-update",
				 str_printable(api) ? api : "?", STEWARD_API_MAJOR);
			steward_err_set(
			    err, STEWARD_EVERSION, "version_incompatible",
			    console ? remedy
				    : "use the stewardctl that matches this site's version",
			    "console %.32s speaks API %.8s; this site (%s) speaks API %d",
			    ver ? ver : "(unknown version)", api, proto_self_version(),
			    STEWARD_API_MAJOR);
			return 409;
		}
	}
	return 0;
}

/* The admin whose bearer token the request carries, into a: 0, or the
 * status to refuse with and err. */
static int admin_token(struct site *s, struct http_req *req, struct store_admin *a,
		       struct steward_err *err)
{
	const char *h = http_req_header(req, "Authorization");

	if (!h || strncmp(h, "Bearer ", 7) != 0) {
		steward_err_set(err, STEWARD_EAUTH, "auth_required", REMEDY_ADMIN_TOKEN,
				"this call needs an admin token (Authorization: Bearer ...)");
		return 401;
	}
	return site_admin_token_check(s, h + 7, a, NULL, err);
}

int site_admin_token_check(struct site *s, const char *h, struct store_admin *a,
			   uint8_t hash_out[PROTO_HASH_BYTES], struct steward_err *err)
{
	uint8_t hash[PROTO_HASH_BYTES];
	int rc;

	if (strlen(h) != 68 || strncmp(h, "stw_", 4) != 0) {
		steward_err_set(err, STEWARD_EAUTH, "token_invalid", REMEDY_ADMIN_TOKEN,
				"the admin token is malformed (expected stw_ and 64 hex digits)");
		return 401;
	}
	proto_hash(h, strlen(h), hash);
	if (hash_out)
		memcpy(hash_out, hash, sizeof(hash));
	rc = s->store->ops->admin_find(s->store, hash, a);
	if (rc == 0 && a->revoked) {
		steward_err_set(err, STEWARD_EAUTH, "token_revoked",
				"ask an admin for a new token: stewardctl admins create NAME --role ROLE",
				"the admin token '%s' was revoked", a->name);
		return 401;
	}
	if (rc == -STEWARD_ENOTFOUND) {
		steward_err_set(err, STEWARD_EAUTH, "token_invalid", REMEDY_ADMIN_TOKEN,
				"the admin token is not known to this site");
		return 401;
	}
	if (rc) {
		steward_err_set(err, STEWARD_ESTORE, "store_unavailable", "retry; see the site's log",
				"cannot check the admin token: %s", steward_strerror(rc));
		return 503;
	}
	return 0;
}

/* The admin's role is one the route admits: 0, or 403 role_forbidden. */
static int role_check(struct http_req *req, const struct http_route *route, const char *name,
		      unsigned role, struct steward_err *err)
{
	const char *need;
	char remedy[STEWARD_ERR_MSG_MAX];

	if (route->allow & role)
		return 0;
	need = token_role_needed(route->allow);
	snprintf(remedy, sizeof(remedy),
		 "ask an admin for a token with role %s: stewardctl admins create NAME "
		 "--role %s",
		 need, need);
	steward_err_set(err, STEWARD_EPERM, "role_forbidden", remedy,
			"%s %s needs role %s; the token of '%s' has role %s", http_req_method(req),
			route->path, need, name, token_role_name(role));
	return 403;
}

/* The role an admin's stored row names: 0, or 503 with err. */
static int admin_role(const struct store_admin *a, unsigned *role, struct steward_err *err)
{
	if (token_role_parse(a->role, role) == 0)
		return 0;
	steward_err_set(err, STEWARD_ESTORE, "store_unavailable", "see the site's log",
			"admin '%s' has an unknown role '%.24s'", a->name, a->role);
	return 503;
}

/* The request's principal: an admin of that name and role (NULL: out of
 * memory). */
static struct principal *admin_principal(struct http_req *req, const char *name, unsigned role)
{
	struct principal *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->kind = PRINCIPAL_ADMIN;
	p->role = role;
	snprintf(p->name, sizeof(p->name), "%s", name);
	http_req_set_ctx(req, p, free);
	return p;
}

/* A web console's session cookie instead of a bearer token (console.c,
 * docs/security.md): the session names the admin and its token's hash;
 * the token is looked up again on every request, so that revoking it
 * ends its sessions at once. A write (any method but GET and HEAD) must
 * carry the session's CSRF token and, when the browser says where it
 * comes from, come from this site's own origin. Only after the
 * principal is set, so that the audit log names whose session it was. */
static int auth_session(struct site *s, struct http_req *req, const struct http_route *route,
			struct steward_err *err)
{
	const char *m = http_req_method(req);
	bool write = strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0;
	struct principal *p;
	struct store_admin a;
	struct csess cs;
	unsigned role = 0;
	bool dead;
	int rc, status;

	status = site_console_session(s, req, &cs, err);
	if (status)
		return status;
	rc = s->store->ops->admin_find(s->store, cs.token_hash, &a);
	dead = rc == -STEWARD_ENOTFOUND || (rc == 0 && a.revoked);
	if (dead) {
		site_console_session_end(s, req);
		steward_err_set(err, STEWARD_EAUTH, "token_revoked",
				"sign in again with a valid admin token; ask an admin for one: "
				"stewardctl admins create NAME --role ROLE",
				"the admin token '%s' signed in with was revoked; its sessions ended",
				cs.admin);
	} else if (rc) {
		http_reply_header(req, "Retry-After", "5");
		steward_err_set(err, STEWARD_ESTORE, "store_unavailable", "retry; see the site's log",
				"cannot check the admin token: %s", steward_strerror(rc));
		return 503;
	} else if (admin_role(&a, &role, err)) {
		return 503;
	}
	p = admin_principal(req, cs.admin, role ? role : cs.role);
	if (!p)
		return 500;
	p->session = true;
	snprintf(p->csrf, sizeof(p->csrf), "%s", cs.csrf);
	p->session_expires = site_console_session_expires(s, &cs);
	/* a revoked admin's write still goes to the audit log, with its name */
	if (dead)
		return 401;
	if (write) {
		status = site_console_write_check(s, req, &cs, err);
		if (status)
			return status;
	}
	return role_check(req, route, cs.admin, p->role, err);
}

/* An admin token whose role the route allows. refused: why the site
 * refuses this console (NULL: it does not), for the consoles list; only
 * the console-update routes let such a console in. A token the route does
 * not allow is refused after the principal is set, so that the audit log
 * says whose it was. */
static int auth_admin(struct site *s, struct http_req *req, const struct http_route *route,
		      const char *refused, struct steward_err *err)
{
	struct principal *p;
	struct store_admin a;
	unsigned role = 0;
	int status;
	bool revoked;

	/* no Authorization header but a console's cookie: the session */
	if (!http_req_header(req, "Authorization") && site_console_has_cookie(req))
		return auth_session(s, req, route, err);
	status = admin_token(s, req, &a, err);
	revoked = status == 401 && strcmp(err->code, "token_revoked") == 0;

	if (status == 503)
		http_reply_header(req, "Retry-After", "5");
	if (status && !revoked)
		return status;
	if (admin_role(&a, &role, err))
		return 503;
	p = admin_principal(req, a.name, role);
	if (!p)
		return 500;
	/* a revoked token still names its holder: a write tried with it goes
	 * to the audit log (a leaked token in use) */
	if (revoked)
		return status;
	/* only the roles a remote site system holds may say they are one
	 * (systems list); a service token is never a console */
	if (!((role & (TOKEN_ROLE_DP | TOKEN_ROLE_ADMIN)) && site_system_seen(s, req)) &&
	    !(role & TOKEN_ROLE_DP))
		site_console_seen(s, req, a.name, refused);
	return role_check(req, route, a.name, role, err);
}

/* A console refused by the handshake: listed (site show) as refused, with
 * why, when its token is one of this site's; the refusal stands either way. */
static void note_refused_console(struct site *s, struct http_req *req, const char *why)
{
	struct steward_err ignored;
	struct store_admin a;

	if (admin_token(s, req, &a, &ignored) == 0)
		site_console_seen(s, req, a.name, why);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !*s || strlen(s) > 20 || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* The headers every agent request carries; fills ts, seq and the canonical
 * string. Before the body is in (http_req_body empty) the string is only
 * built to check that the path fits; the signature covers the body, so it
 * is built again once the body is in. */
static int agent_headers(struct http_req *req, const char *client, int64_t *ts, uint64_t *seq,
			 char *canon, size_t canonsz, struct steward_err *err)
{
	uint64_t t;
	size_t blen;
	const char *body = http_req_body(req, &blen);

	if (parse_u64(http_req_header(req, PROTO_H_TIMESTAMP), &t) || t > INT64_MAX) {
		steward_err_set(err, STEWARD_EAUTH, "auth_required",
				"agents send Steward-Timestamp, Steward-Seq and a signature or MAC",
				"missing or malformed Steward-Timestamp header");
		return 401;
	}
	if (parse_u64(http_req_header(req, PROTO_H_SEQ), seq)) {
		steward_err_set(err, STEWARD_EAUTH, "auth_required",
				"agents send Steward-Timestamp, Steward-Seq and a signature or MAC",
				"missing or malformed Steward-Seq header");
		return 401;
	}
	/* The store keeps sequence numbers as signed 64-bit integers: a larger
	 * one would be kept as a negative number, lower than the last one
	 * accepted, and the same request would replay after a restart. */
	if (*seq > INT64_MAX) {
		steward_err_set(
		    err, STEWARD_EAUTH, "sequence_invalid",
		    "send a sequence number from 1 to 2^63-1 above the last accepted one "
		    "(agents use the time in ms)",
		    "Steward-Seq %" PRIu64 " is above 2^63-1, the largest the site keeps", *seq);
		return 401;
	}
	*ts = (int64_t)t;
	if (proto_canonical(http_req_method(req), http_req_path(req), client, *ts, *seq, body, blen,
			    canon, canonsz)) {
		steward_err_set(err, STEWARD_EINVAL, "bad_request", "", "request path too long");
		return 400;
	}
	return 0;
}

static int skew_error(int64_t ts, int64_t now, int64_t window, struct steward_err *err)
{
	char a[32], b[32];

	time_rfc3339(ts, a);
	time_rfc3339(now, b);
	steward_err_set(err, STEWARD_EAUTH, "clock_skew",
			"set the client's clock (e.g. enable NTP); requests are accepted within the site's clock_skew_max",
			"clock skew: the request is stamped %s but the site's clock says %s (more than %llds apart)",
			a, b, (long long)window);
	return 401;
}

/* From the headers (HTTP_AUTH_HEAD): the agent's headers are there and
 * well-formed and the client is known, so that nobody else makes the site
 * read a body; then HTTP_AUTH_NEED_BODY. With the body (HTTP_AUTH_BODY):
 * the same again, then the signature or MAC over it, and only then what
 * the client may learn about itself. */
static int auth_agent(struct site *s, struct http_req *req, bool mac_ok, enum http_auth_phase phase,
		      struct steward_err *err)
{
	const char *client = http_req_header(req, PROTO_H_CLIENT);
	const char *sig = http_req_header(req, PROTO_H_SIGNATURE);
	const char *mac = http_req_header(req, PROTO_H_MAC);
	char canon[PROTO_CANON_MAX];
	struct reg_client *c;
	struct principal *p;
	int64_t ts, now = time_now_s();
	uint64_t seq, last_seq, min_epoch, epoch = 0;
	enum store_client_state state;
	enum core_fresh fresh;
	int status;

	if (!client || (!sig && !(mac_ok && mac))) {
		steward_err_set(err, STEWARD_EAUTH, "auth_required",
				"agents sign requests with their client key; enroll first",
				mac_ok ? "this call needs Steward-Client and a signature or session MAC"
				       : "this call needs Steward-Client and a signature");
		return 401;
	}
	c = registry_get(s->reg, client);
	if (!c) {
		steward_err_set(err, STEWARD_EAUTH, "unknown_client",
				"the agent enrolls again by itself with the same key; if it cannot, give it an enrollment token",
				"client id '%.40s' is not known to this site", client);
		return 401;
	}
	status = agent_headers(req, client, &ts, &seq, canon, sizeof(canon), err);
	if (status)
		return status;
	if (!sig &&
	    (parse_u64(http_req_header(req, PROTO_H_SESSION), &epoch) || epoch > INT64_MAX)) {
		steward_err_set(err, STEWARD_EAUTH, "mac_invalid", "open a new session",
				"missing or malformed Steward-Session header");
		return 401;
	}
	if (phase == HTTP_AUTH_HEAD)
		return HTTP_AUTH_NEED_BODY;

	if (sig) {
		if (proto_verify(c->pk, canon, sig)) {
			steward_err_set(err, STEWARD_EAUTH, "signature_invalid",
					"the request was not signed with this client's key; check the agent's client.key",
					"the signature does not verify for client %s", c->idhex);
			return 401;
		}
	} else {
		uint8_t key[PROTO_SESSION_KEY_BYTES];

		proto_session_key(s->secret, c->id, epoch, key);
		if (proto_mac_verify(key, canon, mac)) {
			sodium_memzero(key, sizeof(key));
			steward_err_set(err, STEWARD_EAUTH, "mac_invalid",
					"open a new session (the agent does this by itself)",
					"the session MAC does not verify for client %s", c->idhex);
			return 401;
		}
		sodium_memzero(key, sizeof(key));
	}

	/* One hold of the client's lock for the session's revocation and the
	 * state and sequence below (every check-in passes here). */
	pthread_mutex_lock(&c->mu);
	min_epoch = c->min_epoch;
	if (!sig && (epoch < min_epoch || (int64_t)epoch + s->cfg.session_ttl <= now ||
		     (int64_t)epoch > now + s->cfg.clock_skew_max)) {
		pthread_mutex_unlock(&c->mu);
		steward_err_set(err, STEWARD_EAUTH, "session_expired",
				"open a new session (the agent does this by itself)",
				"session %" PRIu64 " of client %s has expired or was revoked", epoch,
				c->idhex);
		return 401;
	}

	/* Authenticated: from here the client may learn about itself. */
	state = c->state;
	last_seq = c->last_seq;
	fresh = core_check_fresh(ts, now, s->cfg.clock_skew_max, seq, last_seq);
	if (fresh == CORE_FRESH_OK && state != CLIENT_BLOCKED && state != CLIENT_DELETED)
		c->last_seq = seq; /* claim the sequence number before anyone else can */
	if (state == CLIENT_BLOCKED) {
		steward_err_set(err, STEWARD_EPERM, "client_blocked",
				"ask an administrator to approve the client again (stewardctl clients approve ID)",
				"client %s is blocked: %s", c->idhex,
				c->block_reason ? c->block_reason : "no reason given");
		pthread_mutex_unlock(&c->mu);
		return 403;
	}
	pthread_mutex_unlock(&c->mu);
	if (state == CLIENT_DELETED) {
		steward_err_set(err, STEWARD_EPERM, "client_deleted",
				"this key belonged to a deleted client; remove the agent's state dir and enroll again",
				"client %s was deleted by an administrator", c->idhex);
		return 403;
	}
	if (fresh == CORE_FRESH_SKEW)
		return skew_error(ts, now, s->cfg.clock_skew_max, err);
	if (fresh == CORE_FRESH_REPLAY) {
		steward_err_set(err, STEWARD_EAUTH, "replayed_sequence",
				"send a sequence number above the last accepted one (agents use the time in ms)",
				"sequence %" PRIu64 " is not above the last accepted %" PRIu64
				" for client %s: replay refused",
				seq, last_seq, c->idhex);
		return 401;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return 500;
	p->kind = PRINCIPAL_AGENT;
	p->client = c;
	p->seq = seq;
	p->ts = ts;
	http_req_set_ctx(req, p, free);
	return 0;
}

/* Enrollment: the new key signs the request; the handler checks the token
 * and that the signature matches the key in the body. Here only freshness
 * and the presence of the headers. */
static int auth_enroll(struct site *s, struct http_req *req, struct steward_err *err)
{
	const char *client = http_req_header(req, PROTO_H_CLIENT);
	char canon[PROTO_CANON_MAX];
	int64_t ts, now = time_now_s();
	uint64_t seq;
	struct principal *p;
	int status;

	if (!client || strcmp(client, "-") != 0 || !http_req_header(req, PROTO_H_SIGNATURE)) {
		steward_err_set(err, STEWARD_EINVAL, "bad_request",
				"enrollment requests carry Steward-Client: - and are signed with the new key",
				"enrollment request without Steward-Client: - or Steward-Signature");
		return 400;
	}
	status = agent_headers(req, "-", &ts, &seq, canon, sizeof(canon), err);
	if (status)
		return status;
	if (core_check_fresh(ts, now, s->cfg.clock_skew_max, 1, 0) == CORE_FRESH_SKEW)
		return skew_error(ts, now, s->cfg.clock_skew_max, err);
	p = calloc(1, sizeof(*p));
	if (!p)
		return 500;
	p->kind = PRINCIPAL_ENROLLING;
	p->ts = ts;
	p->seq = seq;
	http_req_set_ctx(req, p, free);
	return 0;
}

const char *site_admin_who(struct http_req *req)
{
	struct principal *p = http_req_ctx(req);

	return p && p->kind == PRINCIPAL_ADMIN ? p->name : "?";
}

/* Distribution point downloads: a content token the site signed for a
 * client (any DP can check it with the site's public key alone), or an
 * admin token. docs/internals/swdist.md. */
static int auth_content(struct site *s, struct http_req *req, const struct http_route *route,
			struct steward_err *err)
{
	const char *h = http_req_header(req, "Authorization");
	static const char scheme[] = "Steward-Content ";
	char id[PROTO_CLIENT_ID_HEX + 1];
	uint8_t pk[PROTO_PK_BYTES];
	struct reg_client *c;
	struct principal *p;
	int rc;

	if (!h || strncmp(h, scheme, sizeof(scheme) - 1) != 0)
		return auth_admin(s, req, route, NULL, err);
	if (!site_content_key(s, pk)) {
		steward_err_set(err, STEWARD_EBUSY, "dp_not_ready",
				"retry later; the distribution point has not reached its site server yet",
				"this distribution point does not know its site's key yet");
		http_reply_header(req, "Retry-After", "30");
		return 503;
	}
	rc = site_content_token_check(pk, h + sizeof(scheme) - 1, time_now_s(), id, sizeof(id));
	if (rc == -STEWARD_ETIMEDOUT) {
		steward_err_set(err, STEWARD_EAUTH, "content_token_expired",
				"the agent gets a fresh token with its next check-in",
				"the content token has expired");
		return 401;
	}
	if (rc) {
		steward_err_set(err, STEWARD_EAUTH, "content_token_invalid",
				"the agent gets a token with its check-in; check the DP trusts the "
				"right site",
				"the content token is malformed or not signed by this site");
		return 401;
	}
	/* where the registry knows the client, a block or delete ends its
	 * downloads at once instead of at the token's expiry */
	c = s->reg ? registry_get(s->reg, id) : NULL;
	if (c) {
		enum store_client_state st;

		pthread_mutex_lock(&c->mu);
		st = c->state;
		pthread_mutex_unlock(&c->mu);
		if (st == CLIENT_BLOCKED || st == CLIENT_DELETED) {
			steward_err_set(err, STEWARD_EPERM, "forbidden",
					"ask an administrator to approve the client again",
					"client %s may not download: it is %s", id,
					store_client_state_name(st));
			return 403;
		}
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return 500;
	p->kind = PRINCIPAL_AGENT;
	p->client = c;
	snprintf(p->name, sizeof(p->name), "%s", id); /* the download's log line names it */
	http_req_set_ctx(req, p, free);
	return 0;
}

/* A linked site (hierarchy.c): its code, its key's signature over the
 * request, a fresh timestamp and a request sequence above the last one.
 * A PERM_SITE handler stores the sequence with what it does, in one
 * transaction (site_apply), so a captured request cannot be replayed, not
 * even after a restart. */
static int auth_site(struct site *s, struct http_req *req, enum http_auth_phase phase,
		     struct steward_err *err)
{
	const char *code = http_req_header(req, PROTO_H_SITE);
	const char *sig = http_req_header(req, PROTO_H_SIGNATURE);
	char canon[PROTO_CANON_MAX], who[16];
	uint8_t pk[PROTO_PK_BYTES];
	struct store_site v;
	struct principal *p;
	int64_t ts, now = time_now_s();
	uint64_t seq;
	int status, rc;

	if (!code || !proto_site_code_valid(code) || !sig) {
		steward_err_set(err, STEWARD_EAUTH, "auth_required",
				"linked sites sign their requests with the site key",
				"this call needs Steward-Site and Steward-Signature");
		return 401;
	}
	rc = s->store->ops->site_get(s->store, code, &v);
	if (rc == -STEWARD_ENOTFOUND) {
		steward_err_set(err, STEWARD_EAUTH, "unknown_site",
				"attach the site first (stewardctl sites attach on the child)",
				"site %s is not linked to site %s", code, s->cfg.site_code);
		return 401;
	}
	if (rc) {
		http_reply_header(req, "Retry-After", "5");
		steward_err_set(err, STEWARD_ESTORE, "store_unavailable", "retry; see the site's log",
				"cannot look up site %s: %s", code, steward_strerror(rc));
		return 503;
	}
	if (!v.attached) {
		steward_err_set(err, STEWARD_EPERM, "site_detached",
				"attach it again with a new token (stewardctl sites attach)",
				"site %s was detached from site %s", code, s->cfg.site_code);
		return 403;
	}
	snprintf(who, sizeof(who), "site:%s", code);
	status = agent_headers(req, who, &ts, &seq, canon, sizeof(canon), err);
	if (status)
		return status;
	/* the signature covers the body: checked once it is in */
	if (phase == HTTP_AUTH_HEAD)
		return HTTP_AUTH_NEED_BODY;
	if (hex_decode(v.public_key, pk, sizeof(pk)) != 0 || proto_verify(pk, canon, sig) != 0) {
		steward_err_set(err, STEWARD_EAUTH, "signature_invalid",
				"the request was not signed with the key site %s attached with; "
				"attach it again if its key changed",
				"the signature does not verify for site %s", code);
		return 401;
	}
	if (core_check_fresh(ts, now, s->cfg.clock_skew_max, 1, 0) == CORE_FRESH_SKEW)
		return skew_error(ts, now, s->cfg.clock_skew_max, err);
	/* checked here; stored by the handler in the transaction that applies
	 * the request (site_apply), which refuses it again if another copy
	 * got there first */
	if (seq > INT64_MAX || seq <= v.in_req_seq) {
		steward_err_set(err, STEWARD_EAUTH, "replayed_sequence",
				"send a sequence number above the last accepted one (sites use the "
				"time in ms)",
				"sequence %" PRIu64 " is not above the last accepted for site %s: "
				"replay refused",
				seq, code);
		return 401;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return 500;
	p->kind = PRINCIPAL_SITE;
	snprintf(p->name, sizeof(p->name), "%s", code);
	p->seq = seq;
	p->ts = ts;
	http_req_set_ctx(req, p, free);
	return 0;
}

/* Everything but an agent's signature or MAC is checked from the headers
 * (HTTP_AUTH_HEAD), before any body byte is read; agent routes come back
 * with the body (HTTP_AUTH_BODY) for that. */
static int authorize(struct site *s, struct http_req *req, const struct http_route *route,
		     enum http_auth_phase phase, struct steward_err *err)
{
	char why[160] = "";
	struct steward_err verr;
	int status;

	if (phase == HTTP_AUTH_BODY) {
		/* the version handshake passed at the headers */
		if (route->perm == PERM_AGENT_SIGNED || route->perm == PERM_AGENT)
			return auth_agent(s, req, route->perm == PERM_AGENT, phase, err);
		if (route->perm == PERM_SITE)
			return auth_site(s, req, phase, err);
		steward_err_set(err, STEWARD_EPERM, "forbidden", "",
				"route has no authorization that needs the body");
		return 403;
	}
	status = check_versions(req, route, why, sizeof(why), &verr);

	/* the console-update routes answer every console, whatever it speaks:
	 * a console refused everywhere else can still update itself */
	if (route->perm == PERM_CONSOLE_UPDATE)
		return auth_admin(s, req, route, status ? why : NULL, err);
	if (status) {
		*err = verr;
		if (console_call(req, route))
			note_refused_console(s, req, why);
		return status;
	}
	switch (route->perm) {
	case PERM_NONE:
		return 0;
	case PERM_ENROLL:
		return auth_enroll(s, req, err);
	case PERM_AGENT_SIGNED:
		return auth_agent(s, req, false, phase, err);
	case PERM_AGENT:
		return auth_agent(s, req, true, phase, err);
	case PERM_METRICS:
		if (s->cfg.metrics_loopback && http_req_peer_loopback(req) &&
		    !http_req_header(req, "Authorization"))
			return 0;
		return auth_admin(s, req, route, NULL, err);
	case PERM_TOKEN:
		return auth_admin(s, req, route, NULL, err);
	case PERM_CONTENT:
		return auth_content(s, req, route, err);
	case PERM_CONSOLE_UPDATE: /* above */
		break;
	case PERM_SITE:
		return auth_site(s, req, phase, err);
	case PERM_CONSOLE_SESSION:
		return auth_session(s, req, route, err);
	}
	steward_err_set(err, STEWARD_EPERM, "forbidden", "", "route has an unknown permission");
	return 403;
}

/* Every refusal is an event an administrator may need: a blocked client
 * still knocking, a stale console, someone guessing tokens. */
int site_authorize(struct http_req *req, const struct http_route *route, enum http_auth_phase phase,
		   void *app, struct steward_err *err)
{
	int status = authorize(app, req, route, phase, err);
	const char *client = http_req_header(req, PROTO_H_CLIENT);
	const char *site = http_req_header(req, PROTO_H_SITE);
	struct site *s = app;

	/* a key rotation: every reply names the next pin, which clients that
	 * reached the site through its current one keep (sitetls.c) */
	if (phase == HTTP_AUTH_HEAD && atomic_load(&s->tls_next_on))
		http_reply_header(req, TLS_NEXT_PIN_HEADER, s->tls_next);

	/* the header is the caller's text: log it only when it is an id */
	if (status > 0)
		log_info("auth", "refused", "route=%s status=%d code=%s peer=%s client=%s",
			 route->name, status, err->code, http_req_peer(req),
			 proto_client_id_valid(client) ? client : "-");
	/* a linked site refused (another protocol, a bad signature, a detached
	 * link): the sender records why, and this site's administrator reads
	 * it here, with the site's code */
	if (status > 0 && proto_site_code_valid(site))
		log_warn("hierarchy", "link_refused",
			 "site=%s route=%s status=%d code=%s message=\"%s\"", site, route->name,
			 status, err->code, err->message);
	return status;
}

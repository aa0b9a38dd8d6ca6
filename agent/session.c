/* agent/session: the three requests an agent makes, and what each reply means.
 *
 *   ENROLL        POST /api/v1/enroll   signed with the key, client "-"
 *   OPEN_SESSION  POST /api/v1/session  signed, body {}; sealed key opened
 *   CHECKIN       POST /api/v1/checkin  MAC'd with the session key
 *   (inventory)   POST /api/v1/inventory MAC'd; after a check-in when due
 *
 * Every request takes a fresh sequence number that is written to state.json
 * before the request leaves, so a crash or restart can never reuse one.
 * Every reply is checked for a compatible Steward-Protocol first, then mapped
 * to one enum core_result; main.c gives that to lib/core, which alone decides
 * what happens next.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "steward/net.h"
#include "agent.h"
#include "inventory.h"

#define PATH_ENROLL  "/api/v1/enroll"
#define PATH_SESSION "/api/v1/session"
#define PATH_CHECKIN "/api/v1/checkin"
#define PATH_INVENTORY "/api/v1/inventory"
#define PATH_STATUS "/api/v1/agent/status"

/* Bounds on schedule values taken from a reply; outside them the value is
 * ignored and lib/core's own schedule is used. */
#define REPLY_SECONDS_MAX (366LL * 24 * 3600)

const char *agent_result_name(enum core_result res)
{
	switch (res) {
	case CORE_RES_OK:
		return "ok";
	case CORE_RES_SESSION_BAD:
		return "session_bad";
	case CORE_RES_RETRY:
		return "retry";
	case CORE_RES_REFUSED:
		return "refused";
	case CORE_RES_CLOCK_SKEW:
		return "clock_skew";
	case CORE_RES_REENROLL:
		return "reenroll";
	}
	return "?";
}

void agent_status_add(struct agent *ag, const char *type, const char *fmt, ...)
{
	struct proto_status_msg *m;
	va_list ap;

	if (ag->n_status == PROTO_STATUS_MAX) {
		/* the newest events say most about the present */
		memmove(&ag->status[0], &ag->status[1],
			sizeof(ag->status[0]) * (PROTO_STATUS_MAX - 1));
		ag->n_status--;
		ag->status_dropped++;
	}
	m = &ag->status[ag->n_status++];
	memset(m, 0, sizeof(*m));
	snprintf(m->type, sizeof(m->type), "%s", type);
	va_start(ap, fmt);
	vsnprintf(m->text, sizeof(m->text), fmt, ap);
	va_end(ap);
	m->time = time_now_s();
}

int agent_save(struct agent *ag, struct steward_err *err)
{
	int rc = agent_state_save(ag->state_path, &ag->st, err);

	if (rc)
		log_error("agent", "state_save_failed", "path=%s message=\"%s\"", ag->state_path,
			  err->message);
	return rc;
}

void agent_session_drop(struct agent *ag)
{
	explicit_bzero(ag->session_key, sizeof(ag->session_key));
	ag->have_session = false;
	ag->session_epoch = 0;
	ag->session_expires = 0;
}

/* seq = max(last + 1, unix ms), on disk before it is used. */
static int next_seq(struct agent *ag, uint64_t *seq, struct steward_err *err)
{
	uint64_t now = (uint64_t)time_now_ms();
	uint64_t s = ag->st.last_seq + 1 > now ? ag->st.last_seq + 1 : now;
	int rc;

	/* kept in memory even if the save fails: a higher seq is never wrong */
	ag->st.last_seq = s;
	rc = agent_save(ag, err);
	if (rc)
		return rc;
	*seq = s;
	return 0;
}

/* The per-call timeout: the configured one, shortened to what is left of
 * the --once deadline. 0 when nothing is left. */
static long call_timeout_ms(const struct agent *ag)
{
	int64_t left;

	if (!ag->deadline_ms)
		return ag->http_timeout_ms;
	left = ag->deadline_ms - time_now_ms();
	if (left <= 0)
		return 0;
	return left < ag->http_timeout_ms ? (long)left : ag->http_timeout_ms;
}

/* The site must speak a protocol we speak. Returns false (err filled, logged)
 * when it does not. A reply without the header (a proxy's error page) is not
 * judged here. */
static bool protocol_ok(const struct http_resp *resp, struct steward_err *err)
{
	struct proto_range self = proto_self_range(), site;
	char mine[24], theirs[24];

	if (!resp->server_protocol[0])
		return true;
	proto_range_format(&self, mine);
	if (proto_range_parse(resp->server_protocol, &site) != 0) {
		steward_err_set(
		    err, STEWARD_EVERSION, "version_incompatible",
		    "upgrade the agent or the site so that both speak a common protocol",
		    "the site sent an unreadable protocol range '%s' (site version %s); "
		    "this agent %s speaks protocol %s",
		    resp->server_protocol, resp->server_version, proto_self_version(), mine);
		log_error("agent", "protocol_mismatch",
			  "site_protocol=\"%s\" site_version=%s "
			  "agent_protocol=%s agent_version=%s",
			  resp->server_protocol, resp->server_version, mine, proto_self_version());
		return false;
	}
	if (proto_negotiate(&self, &site) >= 0)
		return true;
	proto_range_format(&site, theirs);
	steward_err_set(err, STEWARD_EVERSION, "version_incompatible",
			"upgrade the agent or the site so that both speak a common protocol",
			"the site (version %s) speaks protocol %s; this agent (version %s) speaks "
			"protocol %s: no version in common",
			resp->server_version[0] ? resp->server_version : "unknown", theirs,
			proto_self_version(), mine);
	log_error("agent", "protocol_mismatch",
		  "site_protocol=%s site_version=%s "
		  "agent_protocol=%s agent_version=%s",
		  theirs, resp->server_version, mine, proto_self_version());
	return false;
}

static void log_refusal(const char *path, long status, const struct steward_err *err)
{
	log_error("agent", "refused", "path=%s status=%ld code=%s message=\"%s\" remedy=\"%s\"",
		  path, status, err->code, err->message, err->remedy);
}

/* An error reply -> core result. act says which request it answered;
 * genuine says the reply came from a steward site (it carried its
 * protocol header and a steward error body). */
static enum core_result map_error(struct agent *ag, enum core_agent_action act, const char *path,
				  long status, bool genuine, struct steward_err *err)
{
	const char *code = err->code;

	if (status >= 500 || status == 408 || status == 429) {
		log_warn("agent", "site_unavailable", "path=%s status=%ld code=%s message=\"%s\"",
			 path, status, code, err->message);
		return CORE_RES_RETRY;
	}
	if (status == 401 && genuine) {
		if (!strcmp(code, "mac_invalid") || !strcmp(code, "session_expired")) {
			log_info("agent", "session_refused", "code=%s message=\"%s\"", code,
				 err->message);
			agent_session_drop(ag);
			return CORE_RES_SESSION_BAD;
		}
		if (!strcmp(code, "clock_skew")) {
			char local[32];
			time_rfc3339(time_now_s(), local);
			log_error("agent", "clock_skew",
				  "local_time=%s message=\"%s\" remedy=\"%s\"", local, err->message,
				  err->remedy);
			return CORE_RES_CLOCK_SKEW;
		}
		if (!strcmp(code, "replayed_sequence")) {
			uint64_t now = (uint64_t)time_now_ms();
			if (ag->st.last_seq < now)
				ag->st.last_seq = now;
			log_warn("agent", "seq_replayed", "last_seq=%llu message=\"%s\"",
				 (unsigned long long)ag->st.last_seq, err->message);
			agent_save(ag, &(struct steward_err){0});
			return CORE_RES_RETRY;
		}
		if (!strcmp(code, "already_enrolled")) {
			/* our own key is being enrolled by a request that is still
			 * in flight: retrying soon gets the id it was given */
			log_warn("agent", "enroll_in_progress", "message=\"%s\"", err->message);
			return CORE_RES_RETRY;
		}
		if (!strcmp(code, "unknown_client") && act == CORE_ACT_CHECKIN) {
			/* A MAC'd request is not proof enough to throw our
			 * identity away: confirm with a signed session request. */
			log_warn("agent", "unknown_client",
				 "client=%s action=checkin "
				 "message=\"%s\" next=\"confirm with a signed session request\"",
				 ag->st.client_id, err->message);
			agent_session_drop(ag);
			return CORE_RES_SESSION_BAD;
		}
		if (!strcmp(code, "unknown_client") && act == CORE_ACT_OPEN_SESSION &&
		    ag->st.client_id[0]) {
			log_error("agent", "reenroll",
				  "client=%s site=%s server=%s "
				  "message=\"%s\" reason=\"the site does not know this client id; "
				  "enrolling again with the same key\"",
				  ag->st.client_id, ag->st.site, ag->server, err->message);
			agent_status_add(ag, "reenrolled", "site %s did not know client %s",
					 ag->st.site[0] ? ag->st.site : "?", ag->st.client_id);
			ag->st.client_id[0] = '\0';
			ag->st.site[0] = '\0';
			ag->st.state[0] = '\0';
			agent_session_drop(ag);
			agent_save(ag, &(struct steward_err){0});
			return CORE_RES_REENROLL;
		}
	}
	if (status == 401 && !genuine) {
		/* not a steward site's answer (a proxy?): nothing to act on */
		log_warn("agent", "request_failed", "path=%s status=%ld message=\"%s\"", path,
			 status, err->message);
		return CORE_RES_RETRY;
	}
	/* 401 signature_invalid, 403 client_blocked / client_deleted / token_*,
	 * 409 version_incompatible, other 4xx and anything unexpected: waiting
	 * a minute will not change the answer. */
	log_refusal(path, status, err);
	return CORE_RES_REFUSED;
}

/* One authenticated POST. On OK, *out holds the reply object (caller
 * decrefs). session: MAC with the session key instead of signing. */
static enum core_result exchange(struct agent *ag, enum core_agent_action act, const char *path,
				 const char *body, bool session, json_t **out, int64_t *retry_after,
				 struct steward_err *err)
{
	struct proto_auth auth;
	struct http_call call;
	struct http_resp resp;
	char url[AGENT_URL_MAX + 64];
	const char *client = ag->st.client_id[0] && act != CORE_ACT_ENROLL ? ag->st.client_id : "-";
	enum core_result res = CORE_RES_RETRY;
	json_error_t jerr;
	uint64_t seq;
	long timeout;
	bool genuine;
	int rc;

	*out = NULL;
	*retry_after = 0;
	http_resp_init(&resp);
	timeout = call_timeout_ms(ag);
	if (timeout <= 0) {
		steward_err_set(err, STEWARD_ETIMEDOUT, "timeout",
				"check that the site is up and reachable, or raise --timeout",
				"the --timeout ran out before %s could be sent", path);
		goto out;
	}
	if (next_seq(ag, &seq, err))
		goto out;
	snprintf(url, sizeof(url), "%s%s", ag->server, path);
	rc = proto_auth_build(&auth, "POST", path, client, time_now_s(), seq, body, strlen(body),
			      &ag->kp, session ? ag->session_key : NULL, ag->session_epoch);
	if (rc) {
		steward_err_set(err, -rc, "internal", "report this as a bug",
				"cannot build the request headers for %s: %s", path,
				steward_strerror(rc));
		res = CORE_RES_REFUSED;
		goto out;
	}
	call = (struct http_call){
	    .method = "POST",
	    .url = url,
	    .headers = auth.list,
	    .body = body,
	    .body_len = strlen(body),
	    .timeout_ms = timeout,
	    .max_response = AGENT_REPLY_MAX,
	};
	log_debug("agent", "request", "path=%s client=%s seq=%llu timeout_ms=%ld", path, client,
		  (unsigned long long)seq, timeout);
	rc = http_call(&call, &resp, err);
	link_rtt(ag, resp.us_pretransfer, resp.us_starttransfer);
	if (rc) {
		log_warn("agent", "request_failed", "path=%s code=%s message=\"%s\"", path,
			 err->code, err->message);
		if (act != CORE_ACT_ENROLL)
			agent_failover(ag, err->code);
		goto out;
	}
	if (resp.status == 503 && act != CORE_ACT_ENROLL)
		agent_failover(ag, "503");
	else if (resp.status < 500)
		ag->failovers = 0; /* it answered */
	*retry_after = resp.retry_after;
	log_debug("agent", "reply", "path=%s status=%ld site_version=%s site_protocol=%s", path,
		  resp.status, resp.server_version, resp.server_protocol);
	if (!resp.server_protocol[0] && resp.status < 500)
		log_warn("agent", "reply_without_protocol",
			 "path=%s status=%ld note=\"no Steward-Protocol header; is --server a "
			 "steward site?\"",
			 path, resp.status);
	if (!protocol_ok(&resp, err)) {
		res = CORE_RES_REFUSED;
		goto out;
	}
	if (resp.status >= 200 && resp.status < 300 && ag->st.tls_pin_next[0] &&
	    strcmp(resp.tls_matched, ag->st.tls_pin_next) == 0) {
		/* the site serves its next key now: it becomes the key */
		log_info("agent", "tls_pin_rotated", "from=%s to=%s", ag->st.tls_pin,
			 ag->st.tls_pin_next);
		snprintf(ag->st.tls_pin, sizeof(ag->st.tls_pin), "%s", ag->st.tls_pin_next);
		ag->st.tls_pin_next[0] = '\0';
		agent_save(ag, &(struct steward_err){0});
	}
	if (resp.status >= 200 && resp.status < 300 && act == CORE_ACT_ENROLL) {
		uint8_t key[PROTO_HASH_BYTES];
		proto_hash(ag->etok.secret, strlen(ag->etok.secret), key);
		rc = proto_enroll_mac_verify(key, ag->kp.pk, seq, resp.body.data, resp.body.len,
					     resp.enroll_mac);
		sodium_memzero(key, sizeof(key));
		if (rc) {
			steward_err_set(
			    err, STEWARD_EAUTH, "enroll_reply_unauthenticated",
			    "check --server: the answer did not come from the site that made the token "
			    "(a man in the middle, or another site); nothing was enrolled",
			    "the enrollment reply from %s is not authenticated by the token (%s)",
			    ag->server, resp.enroll_mac[0] ? "wrong MAC" : "no MAC");
			log_refusal(path, resp.status, err);
			res = CORE_RES_REFUSED;
			goto out;
		}
	}
	if (resp.status >= 200 && resp.status < 300) {
		*out = json_loadb(resp.body.data, resp.body.len, 0, &jerr);
		if (!*out || !json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			steward_err_set(err, STEWARD_EINVAL, "bad_reply",
					"check that --server points at a steward site",
					"the reply to %s is not a JSON object (HTTP %ld)", path,
					resp.status);
			log_warn("agent", "bad_reply", "path=%s status=%ld", path, resp.status);
			goto out;
		}
		res = CORE_RES_OK;
		goto out;
	}
	genuine =
	    resp.server_protocol[0] && proto_error_parse(resp.body.data, resp.body.len, err) == 0;
	if (!genuine)
		steward_err_set(err, STEWARD_EIO, "http_error",
				"check the server URL and that stewardd is running behind it",
				"%s answered HTTP %ld without a steward error", url, resp.status);
	res = map_error(ag, act, path, resp.status, genuine, err);
out:
	http_resp_free(&resp);
	return res;
}

int swdist_trust(struct agent *ag, const char *origin, struct tls_trust *out)
{
	const char *v = json_string_value(json_object_get(ag->dp_pins, origin));
	uint8_t pin[TLS_PIN_BYTES];

	if (v && tls_pin_parse(v, pin) == 0)
		tls_trust_add_pin(out, pin);
	return 0;
}

/* The distribution points' pins: what this reply says, nothing more (it
 * came over the pinned connection to the site). */
static void reply_dp_pins(struct agent *ag, json_t *reply)
{
	json_t *o = json_object_get(reply, "dp_pins");

	json_decref(ag->dp_pins);
	ag->dp_pins = json_is_object(o) ? json_incref(o) : NULL;
}

static enum core_result bad_reply(const char *path, const char *what, struct steward_err *err)
{
	steward_err_set(err, STEWARD_EINVAL, "bad_reply",
			"check that the site and the agent are compatible versions",
			"the reply to %s is unusable: %s", path, what);
	log_warn("agent", "bad_reply", "path=%s message=\"%s\"", path, err->message);
	return CORE_RES_RETRY;
}

/* Integer field of a reply within [min, max]; false when absent or outside. */
static bool reply_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* "state" of a reply: pending or approved. */
static bool reply_state(json_t *o, char out[AGENT_STATE_NAME_MAX + 1])
{
	const char *s = json_string_value(json_object_get(o, "state"));

	if (!s || (strcmp(s, "pending") && strcmp(s, "approved")))
		return false;
	snprintf(out, AGENT_STATE_NAME_MAX + 1, "%s", s);
	return true;
}

void agent_failover(struct agent *ag, const char *why)
{
	const char *cand[AGENT_MPS_MAX + 1];
	size_t n = 0, cur = 0;

	if (ag->st.server[0])
		cand[n++] = ag->st.server;
	for (size_t i = 0; i < ag->st.n_mps; i++) {
		bool dup = false;
		for (size_t j = 0; j < n; j++)
			dup = dup || strcmp(cand[j], ag->st.mps[i]) == 0;
		if (!dup)
			cand[n++] = ag->st.mps[i];
	}
	if (n < 2)
		return; /* nowhere else to go */
	for (size_t i = 0; i < n; i++)
		if (strcmp(cand[i], ag->server) == 0)
			cur = i;
	cur = (cur + 1) % n;
	log_warn("agent", "server_failover", "from=%s to=%s why=%s", ag->server, cand[cur], why);
	snprintf(ag->server, sizeof(ag->server), "%s", cand[cur]);
	/* at once while some server was not tried since the last answer;
	 * then on the usual backoff */
	ag->failed_over = ++ag->failovers < (int)n;
}

/* The site's management points (a check-in reply): kept in the state when
 * the list is well-formed, else the old list stays. */
static void reply_mps(struct agent *ag, json_t *reply)
{
	json_t *a = json_object_get(reply, "management_points"), *v;
	struct agent_state *st = &ag->st;
	char mps[AGENT_MPS_MAX][AGENT_URL_MAX];
	size_t i, n = 0;

	if (!a)
		return;
	if (!json_is_array(a) || json_array_size(a) > AGENT_MPS_MAX) {
		log_warn("agent", "bad_reply",
			 "path=%s message=\"'management_points' is not an array of at most %d "
			 "URLs; keeping the old list\"",
			 PATH_CHECKIN, AGENT_MPS_MAX);
		return;
	}
	json_array_foreach(a, i, v)
	{
		const char *u = json_string_value(v);

		if (!u || !agent_url_ok(u)) {
			log_warn("agent", "bad_reply",
				 "path=%s message=\"'management_points' holds something other than "
				 "an http:// or https:// URL; keeping the old list\"",
				 PATH_CHECKIN);
			return;
		}
		snprintf(mps[n++], sizeof(mps[0]), "%s", u);
	}
	if (n == st->n_mps) {
		for (i = 0; i < n && strcmp(mps[i], st->mps[i]) == 0; i++)
			;
		if (i == n)
			return;
	}
	memcpy(st->mps, mps, n * sizeof(mps[0]));
	st->n_mps = n;
	log_info("agent", "management_points", "n=%zu", n);
	agent_save(ag, &(struct steward_err){0});
}

/* Interval and jitter as the site sent them (kept only when sane). */
static void reply_schedule(struct agent *ag, json_t *o)
{
	int64_t v;

	if (reply_int(o, "checkin_interval", 1, REPLY_SECONDS_MAX, &v))
		ag->st.interval = v;
	if (reply_int(o, "checkin_jitter", 0, REPLY_SECONDS_MAX, &v))
		ag->st.jitter = v;
	if (reply_int(o, "inventory_interval", 1, REPLY_SECONDS_MAX, &v))
		ag->st.inventory_interval = v;
}

enum core_result session_enroll(struct agent *ag, int64_t *retry_after, struct steward_err *err)
{
	struct proto_enroll_req req;
	struct agent_sysinfo si;
	enum core_result res;
	json_t *reply = NULL;
	const char *id, *site;
	char *body;

	memset(&req, 0, sizeof(req));
	if (ag->etok.secret[0] && !ag->etok.fp[0]) {
		/* no trust on first use: without the site key's fingerprint the
		 * agent could not tell this site from one in the middle */
		steward_err_set(err, STEWARD_EAUTH, "token_unpinned",
				"use a token of 'stewardctl enroll-tokens create' (stwenr1....), or pass "
				"--site-fingerprint and --site-pin",
				"the enrollment token names no site key fingerprint");
		log_refusal(PATH_ENROLL, 0, err);
		return CORE_RES_REFUSED;
	}
	if (tls_url_is_https(ag->server) && !ag->etok.pin[0] && !ag->ca_file[0])
		log_warn("agent", "site_not_pinned",
			 "server=%s note=\"the token carries no certificate pin: the system's CAs "
			 "verify the site\"",
			 ag->server);
	sysinfo_collect(&si);
	snprintf(req.token, sizeof(req.token), "%s", ag->etok.secret);
	memcpy(req.public_key, ag->kp.pk, sizeof(req.public_key));
	snprintf(req.hostname, sizeof(req.hostname), "%s", si.hostname);
	req.n_addrs = si.n_addrs;
	memcpy(req.addrs, si.addrs, sizeof(req.addrs));
	snprintf(req.os_name, sizeof(req.os_name), "%s", si.os_name);
	snprintf(req.os_version, sizeof(req.os_version), "%s", si.os_version);
	snprintf(req.agent_version, sizeof(req.agent_version), "%s", proto_self_version());
	req.protocol = proto_self_range();
	body = proto_enroll_req_build(&req);
	explicit_bzero(req.token, sizeof(req.token));
	if (!body) {
		steward_err_set(err, STEWARD_ENOMEM, "internal", "", "cannot build the enrollment");
		return CORE_RES_RETRY;
	}
	log_info("agent", "enroll", "server=%s hostname=%s addresses=%d os=\"%s %s\" token=%s",
		 ag->server, si.hostname, si.n_addrs, si.os_name, si.os_version,
		 ag->token[0] ? "given" : "none");
	res = exchange(ag, CORE_ACT_ENROLL, PATH_ENROLL, body, false, &reply, retry_after, err);
	explicit_bzero(body, strlen(body));
	free(body);
	if (res != CORE_RES_OK)
		return res;

	id = json_string_value(json_object_get(reply, "client_id"));
	site = json_string_value(json_object_get(reply, "site"));
	if (!id || !proto_client_id_valid(id)) {
		res = bad_reply(PATH_ENROLL, "'client_id' is not 32 lowercase hex digits", err);
		goto out;
	}
	if (!site || !proto_site_code_valid(site)) {
		res = bad_reply(PATH_ENROLL, "'site' is not a 3-character site code", err);
		goto out;
	}
	{
		/* the reply is the site's (its MAC verified): its key must be
		 * the one the token names */
		const char *key = json_string_value(json_object_get(reply, "site_key"));
		uint8_t pk[PROTO_PK_BYTES];
		char fp[PROTO_FP_HEX + 1], want[PROTO_FP_HEX + 1] = "";

		if (!key || strlen(key) != 2 * PROTO_PK_BYTES || hex_decode(key, pk, sizeof(pk))) {
			res = bad_reply(PATH_ENROLL, "'site_key' is not 64 hex digits", err);
			goto out;
		}
		proto_site_fingerprint(pk, fp);
		/* the token's fingerprint; again with the same key (the site lost
		 * the client), the key this agent has trusted since */
		if (ag->etok.fp[0])
			snprintf(want, sizeof(want), "%s", ag->etok.fp);
		else if (ag->st.site_key[0] && hex_decode(ag->st.site_key, pk, sizeof(pk)) == 0)
			proto_site_fingerprint(pk, want);
		if (strcmp(fp, want) != 0) {
			steward_err_set(err, STEWARD_EAUTH, "site_key_mismatch",
					"check --server and the token: they are not of the same site; "
					"nothing was enrolled",
					"the site at %s has key fingerprint %.16s..., the token names "
					"%.16s...",
					ag->server, fp, want[0] ? want : "none (no token)");
			log_refusal(PATH_ENROLL, 200, err);
			res = CORE_RES_REFUSED;
			goto out;
		}
	}
	snprintf(ag->st.client_id, sizeof(ag->st.client_id), "%s", id);
	snprintf(ag->st.site, sizeof(ag->st.site), "%s", site);
	snprintf(ag->st.server, sizeof(ag->st.server), "%s", ag->server);
	if (!reply_state(reply, ag->st.state))
		ag->st.state[0] = '\0';
	reply_schedule(ag, reply);
	{
		const char *key = json_string_value(json_object_get(reply, "site_key"));

		snprintf(ag->st.site_key, sizeof(ag->st.site_key), "%s", key);
		if (ag->etok.secret[0] || ag->etok.pin[0]) {
			snprintf(ag->st.tls_pin, sizeof(ag->st.tls_pin), "%s",
				 tls_url_is_https(ag->server) ? ag->etok.pin : "");
			ag->st.tls_pin_next[0] = '\0';
		}
	}
	upgrade_release_keys(ag, json_object_get(reply, "release_keys"), true);
	/* The id is only ours once it is on disk; if that fails, enrolling
	 * again with the same key gives the same id back. */
	if (agent_save(ag, err)) {
		ag->st.client_id[0] = '\0';
		res = CORE_RES_RETRY;
		goto out;
	}
	agent_session_drop(ag);
	log_info("agent", "enrolled", "client=%s site=%s state=%s", ag->st.client_id, ag->st.site,
		 ag->st.state[0] ? ag->st.state : "unknown");
out:
	json_decref(reply);
	return res;
}

enum core_result session_open(struct agent *ag, int64_t *retry_after, struct steward_err *err)
{
	enum core_result res;
	json_t *reply = NULL;
	const char *sealed;
	int64_t epoch, expires;

	agent_session_drop(ag);
	res = exchange(ag, CORE_ACT_OPEN_SESSION, PATH_SESSION, "{}", false, &reply, retry_after,
		       err);
	if (res != CORE_RES_OK)
		return res;
	sealed = json_string_value(json_object_get(reply, "sealed_key"));
	if (!reply_int(reply, "epoch", 0, INT64_MAX, &epoch) ||
	    !reply_int(reply, "expires", 1, INT64_MAX, &expires) || !sealed) {
		res = bad_reply(PATH_SESSION, "'epoch', 'expires' or 'sealed_key' is missing", err);
		goto out;
	}
	if (proto_open_session_key(&ag->kp, sealed, ag->session_key) != 0) {
		res = bad_reply(PATH_SESSION, "'sealed_key' does not open with this client's key",
				err);
		goto out;
	}
	ag->have_session = true;
	ag->session_epoch = (uint64_t)epoch;
	ag->session_expires = expires;
	log_info("agent", "session_opened", "client=%s epoch=%lld expires_in=%lld",
		 ag->st.client_id, (long long)epoch, (long long)(expires - time_now_s()));
out:
	json_decref(reply);
	return res;
}

enum core_result session_checkin(struct agent *ag, int64_t *retry_after, struct steward_err *err)
{
	struct proto_checkin_req *req;
	enum core_result res;
	json_t *reply = NULL;
	char *body;
	int64_t next = 0;
	int sent;

	ag->reply_next_checkin = 0;
	req = calloc(1, sizeof(*req));
	if (!req) {
		steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
		return CORE_RES_RETRY;
	}
	snprintf(req->agent_version, sizeof(req->agent_version), "%s", proto_self_version());
	req->protocol = proto_self_range();
	req->n_components = 2;
	snprintf(req->components[0].name, sizeof(req->components[0].name), "base");
	snprintf(req->components[0].version, sizeof(req->components[0].version), "%s",
		 proto_self_version());
	/* the inventory component: its own program in the slot, or built in */
	snprintf(req->components[1].name, sizeof(req->components[1].name), "inventory");
	snprintf(req->components[1].version, sizeof(req->components[1].version), "%s",
		 ag->up.inventory[0] ? ag->up.inventory : proto_self_version());
	if (ag->status_dropped)
		agent_status_add(ag, "status_dropped",
				 "at least %u older status messages were dropped",
				 ag->status_dropped);
	ag->status_dropped = 0;
	sent = ag->n_status;
	req->n_status = sent;
	memcpy(req->status, ag->status, sizeof(req->status[0]) * (size_t)sent);
	req->uptime = sysinfo_uptime();
	link_report(ag, &req->link);
	body = proto_checkin_req_build(req);
	free(req);
	if (!body) {
		steward_err_set(err, STEWARD_ENOMEM, "internal", "", "cannot build the check-in");
		return CORE_RES_RETRY;
	}
	res = exchange(ag, CORE_ACT_CHECKIN, PATH_CHECKIN, body, true, &reply, retry_after, err);
	free(body);
	if (res != CORE_RES_OK)
		return res;

	/* Delivered: the site has committed them. */
	memmove(&ag->status[0], &ag->status[sent],
		sizeof(ag->status[0]) * (size_t)(ag->n_status - sent));
	ag->n_status -= sent;
	if (!reply_state(reply, ag->st.state))
		log_warn("agent", "bad_reply", "path=%s message=\"'state' is missing or unknown\"",
			 PATH_CHECKIN);
	reply_schedule(ag, reply);
	if (reply_int(reply, "next_checkin", 1, REPLY_SECONDS_MAX, &next))
		ag->reply_next_checkin = next;
	else
		log_warn("agent", "bad_reply",
			 "path=%s message=\"'next_checkin' is missing or out of range; using the "
			 "agent's own schedule\"",
			 PATH_CHECKIN);
	log_info("agent", "checked_in", "client=%s site=%s state=%s status_sent=%d next_in=%lld",
		 ag->st.client_id, ag->st.site, ag->st.state[0] ? ag->st.state : "unknown", sent,
		 (long long)next);
	reply_dp_pins(ag, reply);
	reply_mps(ag, reply);
	link_policy(ag, reply);
	swdist_policy(ag, reply);
	upgrade_policy(ag, reply);
	json_decref(reply);
	return CORE_RES_OK;
}

enum core_result session_status(struct agent *ag, const char *body, int64_t *retry_after,
				struct steward_err *err)
{
	json_t *reply = NULL;
	enum core_result res;

	res = exchange(ag, CORE_ACT_CHECKIN, PATH_STATUS, body, true, &reply, retry_after, err);
	json_decref(reply);
	return res;
}

/* ---- inventory ------------------------------------------------------------------ */

/* The last full document the site stored, when inventory.json still holds
 * the one state.json names; else NULL (the next report is full). */
static json_t *inventory_prev(const struct agent *ag, const char *path)
{
	char *data = NULL;
	size_t len = 0;
	json_t *doc;

	if (!ag->st.inventory_hash[0] ||
	    file_read_all(path, AGENT_INVENTORY_READ_MAX, &data, &len) != 0)
		return NULL;
	doc = json_loadb(data, len, 0, NULL);
	free(data);
	if (!doc || !json_is_string(json_object_get(doc, "full_hash")) ||
	    strcmp(json_string_value(json_object_get(doc, "full_hash")), ag->st.inventory_hash)) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static enum core_result inventory_send(struct agent *ag, const json_t *prev, const json_t *cur,
				       int64_t *retry_after, struct steward_err *err)
{
	json_t *doc = agent_inventory_delta(prev, cur), *reply = NULL;
	enum core_result res;
	char *body;

	body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!body) {
		steward_err_set(err, STEWARD_ENOMEM, "internal", "", "cannot build the inventory");
		return CORE_RES_RETRY;
	}
	res = exchange(ag, CORE_ACT_CHECKIN, PATH_INVENTORY, body, true, &reply, retry_after, err);
	if (res == CORE_RES_OK) {
		const char *stored = json_string_value(json_object_get(reply, "stored"));
		log_info("agent", "inventory_sent", "client=%s kind=%s bytes=%zu stored=%s",
			 ag->st.client_id, prev ? "delta" : "full", strlen(body),
			 stored ? stored : "?");
	}
	free(body);
	json_decref(reply);
	return res;
}

enum core_result session_inventory(struct agent *ag, int64_t *retry_after, struct steward_err *err)
{
	char path[PATH_MAX + 32];
	json_t *cur = NULL, *prev;
	enum core_result res;
	char *text;
	int rc;

	*retry_after = 0;
	if (upgrade_inventory(ag, &cur, err))
		return CORE_RES_RETRY;
	snprintf(path, sizeof(path), "%s/%s", ag->state_dir, AGENT_INVENTORY_FILE);
	prev = inventory_prev(ag, path);
	res = inventory_send(ag, prev, cur, retry_after, err);
	if (res == CORE_RES_REFUSED && prev && strcmp(err->code, "inventory_resync") == 0) {
		/* the site lacks the base of our delta: a full report, at once */
		log_info("agent", "inventory_resync", "client=%s message=\"%s\"",
			 ag->st.client_id, err->message);
		memset(err, 0, sizeof(*err));
		res = inventory_send(ag, NULL, cur, retry_after, err);
	}
	json_decref(prev);
	if (res != CORE_RES_OK)
		goto out;
	/* Keep what the site now holds, so the next report can be a delta. The
	 * file first: a state naming a file that is not there yet would make
	 * the next report a delta against nothing. */
	text = json_dumps(cur, JSON_COMPACT);
	rc = text ? file_write_atomic(path, text, strlen(text), 0600) : -STEWARD_ENOMEM;
	free(text);
	if (rc) {
		log_warn("agent", "inventory_unsaved", "path=%s error=\"%s\" next=full", path,
			 steward_strerror(rc));
		ag->st.inventory_hash[0] = '\0';
	} else {
		snprintf(ag->st.inventory_hash, sizeof(ag->st.inventory_hash), "%s",
			 json_string_value(json_object_get(cur, "full_hash")));
	}
	ag->st.last_inventory = time_now_s();
out:
	json_decref(cur);
	return res;
}

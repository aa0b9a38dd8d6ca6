/* sim/fleet: virtual clients speaking the real protocol.
 *
 * Each virtual client is a struct core_agent plus its key, id, session key
 * and sequence counter (about 200 bytes, so 100,000 clients fit in 20 MB).
 * What a client does next is core_agent_next(); what an outcome means is
 * core_agent_done(): the same decisions the real agent makes. Time is
 * scaled in two places, both written down in sim/README.md:
 *
 *   - after a successful check-in the client is due again at once, instead
 *     of after the site's 23 h interval: the load generator checks in as
 *     fast as the concurrency allows;
 *   - backoff after a failure is 1..5 s instead of 30 s..1 h, so a short
 *     run is not left idle by a few transient errors.
 *
 * A run has two phases. Setup enrolls (through one admin-created token
 * with uses=N) and opens a session for every client; a client whose next
 * action is CHECKIN is set aside as ready. The measured phase then lets
 * every client loop for --duration, and only its check-ins are counted.
 * Errors of both phases are counted.
 *
 * Client upgrades (upgrade.c decides, this file does the requests): an
 * offer in a check-in reply puts the client in FETCH, and dispatch starts
 * its blob download instead of a check-in; a finished download parks it
 * until the switch is due (SWITCH, agent.next_at), and settle() makes the
 * switch when the client is next looked at. The outcome rides on its next
 * check-in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <inttypes.h>

#include <jansson.h>
#include <sodium.h>

#include "sim.h"

#define PATH_ENROLL "/api/v1/enroll"
#define PATH_SESSION "/api/v1/session"
#define PATH_CHECKIN "/api/v1/checkin"
#define PATH_TOKENS "/api/v1/enroll-tokens"

#define SIM_BACKOFF_BASE 1
#define SIM_BACKOFF_CAP 5
#define SCAN_EVERY_US 250000
#define STATE_FILE_MAX ((size_t)512 << 20) /* 1,000,000 clients take about 220 MB */

enum {
	VC_KEY = 1,     /* has a key pair */
	VC_ID = 2,      /* has a client id from the site */
	VC_BUSY = 4,    /* a request is in flight */
	VC_QUEUED = 8,  /* in the run queue */
	VC_PARKED = 16, /* sleeping until agent.next_at */
	VC_READY = 32,  /* setup finished: the next action is a check-in */
};

struct vclient {
	struct core_agent agent;
	uint64_t seq;                        /* last Steward-Seq used */
	uint64_t epoch;                      /* session epoch */
	uint8_t sk[PROTO_SK_BYTES];          /* libsodium layout: seed || public key */
	uint8_t id[PROTO_CLIENT_ID_BYTES];
	uint8_t skey[PROTO_SESSION_KEY_BYTES];
	uint8_t flags;
	struct sim_vup up;                   /* releases: upgrade.c */
};

enum phase { PH_SETUP, PH_RUN };

/* Check-in bodies are built once per (agent version, inventory version):
 * a fleet runs a handful of combinations. One that carries a status
 * message is built for its request. */
#define BODIES_MAX 64
struct ckbody {
	uint16_t ver, inv;
	char *text;
	size_t len;
};

static const char *const comps[] = {"base",     "enrollment", "checkin",   "policy",
				    "download", "execute",    "inventory", "status"};

struct fleet {
	const struct sim_opts *o;
	struct vclient *c;
	uint32_t n;
	uint32_t *queue;                     /* ring of n entries */
	uint32_t qhead, qlen;
	char *url_enroll, *url_session, *url_checkin;
	char token[PROTO_TOKEN_MAX + 1];
	struct proto_checkin_req *ck;        /* the template of every check-in body */
	struct ckbody bodies[BODIES_MAX];
	int n_bodies;
	struct sim_upgrades up;
	char h_ver[64], h_proto[64];         /* the handshake on content requests too */
	struct proto_enroll_req *enroll_tpl;
	struct sim_http http;
	struct sim_stats stats;
	struct sim_acklog ack;
	struct core_rand rnd;
	enum phase phase;
	uint32_t ready;
	uint64_t enrolled, sessions;
	uint32_t reused;
	/* --cycle: requests of the measured phase start on a schedule of
	 * n / cycle per second from pace_start_us */
	int64_t pace_start_us;
	uint64_t pace_started;
	uint32_t pace_n;                     /* clients ready when the phase began */
};

static uint32_t sim_rand(void *ctx, uint32_t upper)
{
	(void)ctx;
	return rand_uniform(upper);
}

static void kp_of(const struct vclient *c, struct proto_keypair *kp)
{
	memcpy(kp->sk, c->sk, PROTO_SK_BYTES);
	memcpy(kp->pk, c->sk + PROTO_SK_BYTES - PROTO_PK_BYTES, PROTO_PK_BYTES);
}

static void client_init(struct fleet *f, struct vclient *c, int64_t now)
{
	memset(c, 0, sizeof(*c));
	up_client_init(&f->up, &c->up);
	core_agent_init(&c->agent, now);
	c->agent.backoff_base = SIM_BACKOFF_BASE;
	c->agent.backoff_cap = SIM_BACKOFF_CAP;
	c->seq = (uint64_t)time_now_ms();
}

/* ---- run queue ------------------------------------------------------------ */
static void queue_push(struct fleet *f, uint32_t i)
{
	struct vclient *c = &f->c[i];

	if (c->flags & (VC_QUEUED | VC_BUSY))
		return;
	c->flags = (uint8_t)((c->flags & ~(VC_PARKED | VC_READY)) | VC_QUEUED);
	f->queue[(f->qhead + f->qlen) % f->n] = i;
	f->qlen++;
}

static uint32_t queue_pop(struct fleet *f)
{
	uint32_t i = f->queue[f->qhead];

	f->qhead = (f->qhead + 1) % f->n;
	f->qlen--;
	f->c[i].flags &= (uint8_t)~VC_QUEUED;
	return i;
}

/* After a request (or a pop that found nothing due): queue or park. */
static void requeue(struct fleet *f, uint32_t i, int64_t now)
{
	if (core_agent_next(&f->c[i].agent, now) == CORE_ACT_SLEEP)
		f->c[i].flags |= VC_PARKED;
	else
		queue_push(f, i);
}

/* Wake parked clients that are due; return the earliest next_at still parked. */
static int64_t scan_parked(struct fleet *f, int64_t now)
{
	int64_t earliest = INT64_MAX;

	for (uint32_t i = 0; i < f->n; i++) {
		struct vclient *c = &f->c[i];

		if (!(c->flags & VC_PARKED))
			continue;
		if (core_agent_next(&c->agent, now) != CORE_ACT_SLEEP)
			queue_push(f, i);
		else if (c->agent.next_at < earliest)
			earliest = c->agent.next_at;
	}
	return earliest;
}

/* ---- requests ------------------------------------------------------------- */
static char *enroll_body(struct fleet *f, uint32_t i, const struct proto_keypair *kp)
{
	struct proto_enroll_req *t = f->enroll_tpl;

	memcpy(t->public_key, kp->pk, PROTO_PK_BYTES);
	snprintf(t->hostname, sizeof(t->hostname), "sim-%07" PRIu32, i);
	snprintf(t->addrs[0], sizeof(t->addrs[0]), "10.%u.%u.%u", (unsigned)(i >> 16) & 255,
		 (unsigned)(i >> 8) & 255, (unsigned)i & 255);
	return proto_enroll_req_build(t);
}

/* The check-in body of versions (ver, inv), with status message m when not NULL. */
static char *body_build(struct fleet *f, uint16_t ver, uint16_t inv,
			const struct proto_status_msg *m)
{
	struct proto_checkin_req *ck = f->ck;

	snprintf(ck->agent_version, sizeof(ck->agent_version), "%s", up_str(&f->up, ver));
	for (int i = 0; i < ck->n_components; i++)
		snprintf(ck->components[i].version, sizeof(ck->components[i].version), "%s",
			 up_str(&f->up, strcmp(ck->components[i].name, "inventory") ? ver : inv));
	ck->n_status = 0;
	if (m) {
		ck->status[0] = *m;
		ck->n_status = 1;
	}
	return proto_checkin_req_build(ck);
}

/* Client c's check-in body: shared, or in *owned (freed with the request). */
static const char *checkin_body(struct fleet *f, const struct vclient *c, char **owned,
				size_t *len)
{
	struct proto_status_msg m;
	struct ckbody *b;

	*owned = NULL;
	if (up_report(&f->up, &c->up, &m, time_now_s())) {
		*owned = body_build(f, c->up.ver, c->up.inv, &m);
		*len = *owned ? strlen(*owned) : 0;
		return *owned;
	}
	for (int i = 0; i < f->n_bodies; i++) {
		b = &f->bodies[i];
		if (b->ver == c->up.ver && b->inv == c->up.inv) {
			*len = b->len;
			return b->text;
		}
	}
	if (f->n_bodies == BODIES_MAX) {
		*owned = body_build(f, c->up.ver, c->up.inv, NULL);
		*len = *owned ? strlen(*owned) : 0;
		return *owned;
	}
	b = &f->bodies[f->n_bodies];
	b->text = body_build(f, c->up.ver, c->up.inv, NULL);
	if (!b->text)
		return NULL;
	b->ver = c->up.ver;
	b->inv = c->up.inv;
	b->len = strlen(b->text);
	f->n_bodies++;
	*len = b->len;
	return b->text;
}

/* Build and start client i's request for act in slot r. On failure the
 * slot has been given back. */
static int start(struct fleet *f, struct sim_req *r, uint32_t i, enum core_agent_action act)
{
	struct vclient *c = &f->c[i];
	struct proto_keypair kp;
	char id[PROTO_CLIENT_ID_HEX + 1];
	const char *url, *path, *body;
	size_t len;
	int64_t ts = time_now_s();
	int rc;

	if (!(c->flags & VC_KEY)) {
		/* Keys are made when first needed, spreading the CPU cost. */
		if (proto_keypair_new(&kp)) {
			sim_http_put(&f->http, r);
			return -STEWARD_EIO;
		}
		memcpy(c->sk, kp.sk, PROTO_SK_BYTES);
		c->flags |= VC_KEY;
	}
	kp_of(c, &kp);
	hex_encode(c->id, sizeof(c->id), id);
	c->seq++;
	r->client = i;
	r->act = act;
	r->seq = c->seq;
	switch (act) {
	case CORE_ACT_ENROLL:
		r->owned_body = enroll_body(f, i, &kp);
		if (!r->owned_body) {
			rc = -STEWARD_ENOMEM;
			break;
		}
		body = r->owned_body;
		len = strlen(body);
		url = f->url_enroll;
		path = PATH_ENROLL;
		rc = proto_auth_build(&r->auth, "POST", path, "-", ts, r->seq, body, len, &kp, NULL,
				      0);
		break;
	case CORE_ACT_OPEN_SESSION:
		body = "{}";
		len = 2;
		url = f->url_session;
		path = PATH_SESSION;
		rc = proto_auth_build(&r->auth, "POST", path, id, ts, r->seq, body, len, &kp, NULL,
				      0);
		break;
	case CORE_ACT_CHECKIN:
		body = checkin_body(f, c, &r->owned_body, &len);
		if (!body) {
			rc = -STEWARD_ENOMEM;
			break;
		}
		url = f->url_checkin;
		path = PATH_CHECKIN;
		rc = proto_auth_build(&r->auth, "POST", path, id, ts, r->seq, body, len, NULL,
				      c->skey, c->epoch);
		break;
	default:
		rc = -STEWARD_EINVAL;
		break;
	}
	sodium_memzero(&kp, sizeof(kp));
	if (rc) {
		sim_http_put(&f->http, r);
		return rc;
	}
	c->flags |= VC_BUSY;
	rc = sim_http_start(&f->http, r, url, r->auth.list, body, len);
	if (rc)
		c->flags &= (uint8_t)~VC_BUSY;
	return rc;
}

/* GET DP/content/HASH of the offer client i takes, as swdist_fetch does. */
static int start_fetch(struct fleet *f, struct sim_req *r, uint32_t i)
{
	struct vclient *c = &f->c[i];
	const struct sim_offer *e = &f->up.offers[c->up.offer];
	const char *hdrs[] = {c->up.auth, f->h_ver, f->h_proto, NULL};
	int rc;

	r->client = i;
	r->act = CORE_ACT_SLEEP;
	r->seq = 0;
	r->content = true;
	r->max = e->size;
	c->flags |= VC_BUSY;
	rc = sim_http_start(&f->http, r, e->url, hdrs, NULL, 0);
	if (rc)
		c->flags &= (uint8_t)~VC_BUSY;
	return rc;
}

/* The switch completes --upgrade-delay after the download: when the
 * client is next looked at (the agent process is gone meanwhile). */
static void settle(struct fleet *f, uint32_t i, int64_t now)
{
	struct vclient *c = &f->c[i];
	char id[PROTO_CLIENT_ID_HEX + 1];

	if (c->up.stage != SIM_UP_SWITCH || now < c->agent.next_at)
		return;
	hex_encode(c->id, sizeof(c->id), id);
	up_switch(&f->up, &c->up, id);
}

/* A download failed: tell the site at the next check-in, and take the
 * offer again then, after a backoff of the sim's scale. */
static void fetch_failed(struct fleet *f, struct vclient *c, long status, int64_t now)
{
	if (c->up.report == SIM_REP_NONE) {
		c->up.report = SIM_REP_FETCH_FAILED;
		c->up.report_rel = f->up.offers[c->up.offer].version;
		c->up.fetch_status = status > 0 && status < 1000 ? (uint16_t)status : 0;
	}
	c->up.stage = SIM_UP_NONE;
	c->up.offer = 0;
	free(c->up.auth);
	c->up.auth = NULL;
	if (c->up.fetch_fails < 30)
		c->up.fetch_fails++;
	c->agent.next_at = now + core_backoff(c->up.fetch_fails - 1, SIM_BACKOFF_BASE,
					      SIM_BACKOFF_CAP, &f->rnd);
}

/* --cycle: how many requests the schedule has offered by now_us (one more
 * than have fallen due, so the first starts at once). */
static uint64_t pace_due(const struct fleet *f, int64_t now_us)
{
	double rate = (double)f->pace_n / (double)f->o->cycle_s;

	if (now_us <= f->pace_start_us)
		return 1;
	return (uint64_t)((double)(now_us - f->pace_start_us) * rate / 1e6) + 1;
}

/* Start requests for due clients while slots are free (and, with --cycle,
 * while the schedule allows one more in the measured phase). Clients
 * leave the queue round-robin, so with --cycle each checks in once per
 * cycle as long as the site keeps up. */
static void dispatch(struct fleet *f, int64_t now)
{
	bool paced = f->phase == PH_RUN && f->o->cycle_s > 0;

	while (f->qlen && f->http.n_free && sim_stop == 0) {
		if (paced && f->pace_started >= pace_due(f, time_mono_us()))
			break;
		uint32_t i = queue_pop(f);
		struct vclient *c = &f->c[i];
		enum core_agent_action act;
		struct sim_req *r;

		if (f->phase == PH_RUN) {
			settle(f, i, now);
			if (c->up.stage == SIM_UP_FETCH && now >= c->agent.next_at) {
				r = sim_http_get(&f->http);
				f->pace_started++;
				if (start_fetch(f, r, i)) {
					stats_error(&f->stats, "internal");
					fetch_failed(f, c, 0, now);
					requeue(f, i, now);
				}
				continue;
			}
		}
		act = core_agent_next(&c->agent, now);
		if (act == CORE_ACT_SLEEP) {
			c->flags |= VC_PARKED;
			continue;
		}
		if (f->phase == PH_SETUP && act == CORE_ACT_CHECKIN) {
			c->flags |= VC_READY;
			f->ready++;
			continue;
		}
		r = sim_http_get(&f->http);
		if (paced)
			f->pace_started++;
		if (start(f, r, i, act)) {
			stats_error(&f->stats, "internal");
			core_agent_done(&c->agent, act, CORE_RES_RETRY, now, 0, &f->rnd);
			requeue(f, i, now);
		}
	}
}

/* ---- replies ------------------------------------------------------------- */
static json_t *reply_json(const struct sim_req *r)
{
	if (!r->body.data || r->body.len == 0)
		return NULL;
	return json_loadb(r->body.data, r->body.len, 0, NULL);
}

static void schedule_from(struct vclient *c, json_t *root)
{
	json_int_t v;

	v = json_integer_value(json_object_get(root, "checkin_interval"));
	if (v > 0)
		c->agent.interval = v;
	v = json_integer_value(json_object_get(root, "checkin_jitter"));
	if (v >= 0 && json_is_integer(json_object_get(root, "checkin_jitter")))
		c->agent.jitter = v;
}

static int took_enroll(struct vclient *c, const struct sim_req *r)
{
	json_t *root = reply_json(r);
	const char *id = json_string_value(json_object_get(root, "client_id"));
	int rc = -STEWARD_EINVAL;

	if (id && proto_client_id_valid(id) && hex_decode(id, c->id, sizeof(c->id)) == 0) {
		c->flags |= VC_ID;
		schedule_from(c, root);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

static int took_session(struct vclient *c, const struct sim_req *r, int64_t now)
{
	json_t *root = reply_json(r);
	json_t *epoch = json_object_get(root, "epoch"), *expires = json_object_get(root, "expires");
	const char *sealed = json_string_value(json_object_get(root, "sealed_key"));
	struct proto_keypair kp;
	int64_t exp;
	int rc = -STEWARD_EINVAL;

	if (!json_is_integer(epoch) || json_integer_value(epoch) < 0 || !json_is_integer(expires) ||
	    !sealed)
		goto out;
	kp_of(c, &kp);
	rc = proto_open_session_key(&kp, sealed, c->skey);
	sodium_memzero(&kp, sizeof(kp));
	if (rc)
		goto out;
	c->epoch = (uint64_t)json_integer_value(epoch);
	exp = (int64_t)json_integer_value(expires);
	/* "expires" is unix seconds; a small number would be a TTL. */
	c->agent.session_expires = exp < 1000000000 ? now + exp : exp;
out:
	json_decref(root);
	return rc;
}

static int took_checkin(struct fleet *f, struct vclient *c, const struct sim_req *r, int64_t now)
{
	json_t *root = reply_json(r);
	int rc = json_is_string(json_object_get(root, "state")) ? 0 : -STEWARD_EINVAL;
	char key[SIM_KEY_MAX];

	if (!rc) {
		schedule_from(c, root);
		if (up_offer(&f->up, &c->up, json_object_get(root, "client_upgrade"), now, key) ==
		    SIM_TAKE_BAD)
			stats_error(&f->stats, key);
	}
	json_decref(root);
	return rc;
}

static enum core_result classify(struct fleet *f, const struct sim_req *r, CURLcode cc,
				 long status, char key[SIM_KEY_MAX]);

/* A download ended: the switch is due --upgrade-delay later, or the offer
 * is taken again after a backoff. */
static void fetched(struct fleet *f, struct sim_req *r, CURLcode cc, long status)
{
	struct vclient *c = &f->c[r->client];
	int64_t now = time_now_s();
	char key[SIM_KEY_MAX] = "";

	f->up.n.content_requests++;
	f->up.n.content_bytes += r->got;
	c->flags &= (uint8_t)~VC_BUSY;
	if (cc == CURLE_OK && status == 200 && r->got == r->max) {
		c->up.stage = SIM_UP_SWITCH;
		c->up.fetch_fails = 0;
		free(c->up.auth);
		c->up.auth = NULL;
		c->agent.next_at = now + f->o->upgrade_delay_s;
	} else {
		if (cc == CURLE_OK && status == 200)
			snprintf(key, sizeof(key), "content_short");
		else
			classify(f, r, cc, status, key);
		stats_error(&f->stats, key);
		fetch_failed(f, c, cc == CURLE_OK ? status : 0, now);
	}
	if (cc != CURLE_ABORTED_BY_CALLBACK)
		requeue(f, r->client, now);
}

/* What a failed reply means to the agent's state machine; key names it. */
static enum core_result classify(struct fleet *f, const struct sim_req *r, CURLcode cc,
				 long status, char key[SIM_KEY_MAX])
{
	struct steward_err e;
	struct vclient *c = &f->c[r->client];
	bool have_code = false;

	if (cc != CURLE_OK) {
		sim_curl_key(cc, key);
		return CORE_RES_RETRY;
	}
	if (status >= 200 && status < 300)
		return CORE_RES_OK;
	memset(&e, 0, sizeof(e));
	if (r->body.data && r->body.len && proto_error_parse(r->body.data, r->body.len, &e) == 0 &&
	    e.code[0])
		have_code = true;
	if (have_code)
		snprintf(key, SIM_KEY_MAX, "%s", e.code);
	else
		snprintf(key, SIM_KEY_MAX, "%ld", status);
	if (status == 401) {
		if (!strcmp(e.code, "mac_invalid") || !strcmp(e.code, "session_expired"))
			return CORE_RES_SESSION_BAD;
		if (!strcmp(e.code, "unknown_client"))
			return CORE_RES_REENROLL;
		if (!strcmp(e.code, "clock_skew"))
			return CORE_RES_CLOCK_SKEW;
		if (!strcmp(e.code, "replayed_sequence")) {
			/* our counter fell behind the site's: jump to the clock */
			if (c->seq < (uint64_t)time_now_ms())
				c->seq = (uint64_t)time_now_ms();
			return CORE_RES_RETRY;
		}
		return CORE_RES_REFUSED;
	}
	if (status == 408 || status == 429 || status >= 500)
		return CORE_RES_RETRY;
	return CORE_RES_REFUSED;
}

static void on_done(struct sim_req *r, CURLcode cc, long status, void *ctx)
{
	struct fleet *f = ctx;
	uint32_t i = r->client;
	struct vclient *c = &f->c[i];
	int64_t now = time_now_s();
	char key[SIM_KEY_MAX] = "";
	char id[PROTO_CLIENT_ID_HEX + 1];
	enum core_result res;

	if (r->content) {
		fetched(f, r, cc, status);
		return;
	}
	res = classify(f, r, cc, status, key);

	if (res == CORE_RES_OK) {
		switch (r->act) {
		case CORE_ACT_ENROLL:
			if (took_enroll(c, r) == 0) {
				f->enrolled++;
			} else {
				res = CORE_RES_RETRY;
				snprintf(key, sizeof(key), "bad_enroll_reply");
			}
			break;
		case CORE_ACT_OPEN_SESSION:
			if (took_session(c, r, now) == 0) {
				f->sessions++;
			} else {
				res = CORE_RES_RETRY;
				snprintf(key, sizeof(key), "bad_session_reply");
			}
			break;
		case CORE_ACT_CHECKIN:
			/* Acknowledged is acknowledged: the site committed it,
			 * whatever the body looks like. */
			if (status == 200) {
				hex_encode(c->id, sizeof(c->id), id);
				acklog_add(&f->ack, id, r->seq);
			}
			/* so is the report it carried */
			c->up.report = SIM_REP_NONE;
			if (took_checkin(f, c, r, now) == 0) {
				f->stats.ok++;
				stats_latency(&f->stats, r->finished_us - r->started_us);
			} else {
				res = CORE_RES_RETRY;
				snprintf(key, sizeof(key), "bad_checkin_reply");
			}
			break;
		default:
			break;
		}
	}
	if (res != CORE_RES_OK)
		stats_error(&f->stats, key);
	core_agent_done(&c->agent, r->act, res, now, r->retry_after, &f->rnd);
	/* Time scaled: due again at once instead of after the interval. */
	if (r->act == CORE_ACT_CHECKIN && res == CORE_RES_OK)
		c->agent.next_at = now;
	c->flags &= (uint8_t)~VC_BUSY;
	if (cc != CURLE_ABORTED_BY_CALLBACK)
		requeue(f, i, now);
}

/* ---- admin: the enrollment token ------------------------------------------ */
static size_t token_body_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	return buf_append(ud, ptr, size * nmemb) ? 0 : size * nmemb;
}

static int create_token(struct fleet *f, uint32_t uses)
{
	const struct sim_opts *o = f->o;
	char *file = NULL, *url = NULL, *body = NULL, line[256], range[24];
	struct proto_range self = proto_self_range();
	struct curl_slist *h = NULL;
	struct buf resp;
	struct steward_err e;
	size_t flen = 0;
	long status = 0;
	CURL *c = NULL;
	CURLcode cc;
	static struct tls_verify tv;
	json_t *root = NULL;
	const char *tok;
	int rc = -STEWARD_EINVAL;

	buf_init(&resp, SIM_RESPONSE_MAX);
	if (!o->token_file) {
		fprintf(stderr, "steward-sim: --token-file is needed to enroll clients\n");
		goto out;
	}
	if (file_read_all(o->token_file, 4096, &file, &flen) != 0) {
		fprintf(stderr, "steward-sim: cannot read the admin token from %s\n", o->token_file);
		goto out;
	}
	while (flen && (file[flen - 1] == '\n' || file[flen - 1] == '\r' || file[flen - 1] == ' '))
		file[--flen] = '\0';
	if (flen == 0 || flen > 200 || !str_printable(file)) {
		fprintf(stderr, "steward-sim: %s does not hold an admin token\n", o->token_file);
		goto out;
	}
	if (asprintf(&url, "%s%s", o->server, PATH_TOKENS) < 0 ||
	    asprintf(&body, "{\"uses\":%" PRIu32 ",\"ttl\":%" PRId64 "}", uses,
		     o->setup_timeout_s + o->duration_s + 600) < 0) {
		rc = -STEWARD_ENOMEM;
		goto out;
	}
	proto_range_format(&self, range);
	snprintf(line, sizeof(line), "Authorization: Bearer %s", file);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof(line), PROTO_H_VERSION ": %s", proto_self_version());
	h = curl_slist_append(h, line);
	snprintf(line, sizeof(line), PROTO_H_API ": %d", STEWARD_API_MAJOR);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof(line), PROTO_H_PROTOCOL ": %s", range);
	h = curl_slist_append(h, line);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	sodium_memzero(line, sizeof(line));
	c = curl_easy_init();
	if (!c || !h) {
		rc = -STEWARD_ENOMEM;
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (tls_curl_setup(c, url, NULL, &tv, &e)) {
		fprintf(stderr, "steward-sim: %s: %s\n", e.code, e.message);
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, token_body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		fprintf(stderr, "steward-sim: cannot create an enrollment token at %s: %s\n", url,
			curl_easy_strerror(cc));
		rc = -STEWARD_EIO;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		if (resp.len && proto_error_parse(resp.data, resp.len, &e) == 0)
			fprintf(stderr, "steward-sim: creating an enrollment token: HTTP %ld %s: %s%s%s\n",
				status, e.code, e.message, e.remedy[0] ? "; " : "", e.remedy);
		else
			fprintf(stderr, "steward-sim: creating an enrollment token: HTTP %ld\n", status);
		rc = -STEWARD_EAUTH;
		goto out;
	}
	root = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
	tok = json_string_value(json_object_get(root, "token"));
	if (!tok || str_copy(f->token, sizeof(f->token), tok) != 0) {
		fprintf(stderr, "steward-sim: the site's token reply has no usable \"token\"\n");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (c)
		curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (file) {
		sodium_memzero(file, flen);
		free(file);
	}
	free(url);
	free(body);
	buf_free(&resp);
	return rc;
}

/* ---- the state file ----------------------------------------------------------
 * One line per enrolled client, "ID SECRET_KEY_HEX LAST_SEQ", mode 0600 (it
 * holds secret keys). Written atomically after setup and at exit. */

static int state_save(struct fleet *f)
{
	struct buf b;
	char id[PROTO_CLIENT_ID_HEX + 1], sk[2 * PROTO_SK_BYTES + 1];
	int rc;

	buf_init(&b, STATE_FILE_MAX);
	rc = buf_puts(&b, "# steward-sim state v2: client_id secret_key_hex last_seq v=AGENT_VERSION "
			  "inv=INVENTORY_VERSION newest=NEWEST_RUN slot=A|B [failed=RELEASE] "
			  "[report=succeeded|rolled_back:RELEASE]\n");
	for (uint32_t i = 0; i < f->n && rc == 0; i++) {
		struct vclient *c = &f->c[i];

		if (!(c->flags & VC_ID) || !(c->flags & VC_KEY))
			continue;
		hex_encode(c->id, sizeof(c->id), id);
		hex_encode(c->sk, sizeof(c->sk), sk);
		rc = buf_printf(&b, "%s %s %" PRIu64, id, sk, c->seq);
		if (rc == 0)
			rc = up_state_format(&f->up, &c->up, &b);
		if (rc == 0)
			rc = buf_puts(&b, "\n");
	}
	if (rc == 0)
		rc = file_write_atomic(f->o->state_file, b.data, b.len, 0600);
	if (rc)
		fprintf(stderr, "steward-sim: cannot write the state file %s: %s\n",
			f->o->state_file, steward_strerror(rc));
	sodium_memzero(sk, sizeof(sk));
	if (b.data)
		sodium_memzero(b.data, b.len);
	buf_free(&b);
	return rc;
}

static int state_load(struct fleet *f, int64_t now)
{
	char *data = NULL, *line, *save = NULL;
	size_t len = 0;
	unsigned lineno = 0;
	int rc;

	rc = file_read_all(f->o->state_file, STATE_FILE_MAX, &data, &len);
	if (rc == -STEWARD_ENOTFOUND)
		return 0; /* first run: everyone enrolls */
	if (rc) {
		fprintf(stderr, "steward-sim: cannot read the state file %s: %s\n",
			f->o->state_file, steward_strerror(rc));
		return rc;
	}
	for (line = strtok_r(data, "\n", &save); line && f->reused < f->n;
	     line = strtok_r(NULL, "\n", &save)) {
		char id[PROTO_CLIENT_ID_HEX + 2], sk[2 * PROTO_SK_BYTES + 2];
		unsigned long long seq;
		struct vclient *c = &f->c[f->reused];
		int used = 0;

		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		/* v1 lines end after SEQ: the client runs --agent-version */
		if (sscanf(line, "%33s %129s %llu%n", id, sk, &seq, &used) != 3 ||
		    !proto_client_id_valid(id) || hex_decode(sk, c->sk, sizeof(c->sk)) != 0 ||
		    hex_decode(id, c->id, sizeof(c->id)) != 0 ||
		    up_state_parse(&f->up, &c->up, line + used) != 0) {
			fprintf(stderr, "steward-sim: %s line %u is not \"ID KEY SEQ [v=... ...]\"\n",
				f->o->state_file, lineno);
			rc = -STEWARD_EINVAL;
			break;
		}
		c->flags |= VC_KEY | VC_ID;
		c->agent.enrolled = true;
		c->agent.next_at = now;
		/* never go back below what the site has seen */
		if ((uint64_t)seq > c->seq)
			c->seq = (uint64_t)seq;
		f->reused++;
		sodium_memzero(sk, sizeof(sk));
	}
	sodium_memzero(data, len);
	free(data);
	return rc;
}

/* ---- versions ------------------------------------------------------------------
 * "CLIENT_ID VERSION" per client with an id: the agent_version its next
 * check-in reports, what the site's clients list should show. */
static int versions_write(struct fleet *f, const char *path)
{
	char id[PROTO_CLIENT_ID_HEX + 1];
	struct buf b;
	int rc = 0;

	buf_init(&b, STATE_FILE_MAX);
	for (uint32_t i = 0; i < f->n && rc == 0; i++) {
		if (!(f->c[i].flags & VC_ID))
			continue;
		hex_encode(f->c[i].id, sizeof(f->c[i].id), id);
		rc = buf_printf(&b, "%s %s\n", id, up_str(&f->up, f->c[i].up.ver));
	}
	if (rc == 0)
		rc = file_write_atomic(path, b.data ? b.data : "", b.len, 0644);
	if (rc)
		fprintf(stderr, "steward-sim: cannot write %s: %s\n", path, steward_strerror(rc));
	buf_free(&b);
	return rc;
}

/* ---- phases ----------------------------------------------------------------- */
static void drain(struct fleet *f)
{
	int64_t until = time_mono_us() + f->o->timeout_ms * 1000 + 1000000;

	while (sim_http_inflight(&f->http) > 0 && sim_stop < 2 && time_mono_us() < until) {
		sim_http_step(&f->http, 50, on_done, f);
		acklog_tick(&f->ack, time_mono_us(), false);
	}
	if (sim_http_inflight(&f->http) > 0)
		sim_http_abort_all(&f->http, on_done, f);
}

static void setup(struct fleet *f)
{
	int64_t start = time_mono_us();
	int64_t deadline = start + f->o->setup_timeout_s * 1000000;
	int64_t next_scan = 0, next_report = start + 5000000, earliest = INT64_MAX;
	int64_t now_s, now_us;

	f->phase = PH_SETUP;
	for (uint32_t i = 0; i < f->n; i++)
		queue_push(f, i);
	for (;;) {
		now_us = time_mono_us();
		now_s = time_now_s();
		if (sim_stop || now_us >= deadline || f->ready == f->n)
			break;
		if (now_us >= next_scan || (f->qlen == 0 && sim_http_inflight(&f->http) == 0)) {
			earliest = scan_parked(f, now_s);
			next_scan = now_us + SCAN_EVERY_US;
		}
		/* Nothing running or waiting, and whoever is parked would only
		 * retry after the setup deadline (refused, say): give up on them. */
		if (f->qlen == 0 && sim_http_inflight(&f->http) == 0 &&
		    (earliest == INT64_MAX || earliest - now_s > (deadline - now_us) / 1000000))
			break;
		dispatch(f, now_s);
		sim_http_step(&f->http, 20, on_done, f);
		if (!f->o->quiet && now_us >= next_report) {
			fprintf(stderr, "steward-sim: setup: %" PRIu64 " enrolled, %" PRIu32 "/%" PRIu32
				" ready\n", f->enrolled, f->ready, f->n);
			next_report = now_us + 5000000;
		}
	}
	if (!f->o->quiet)
		fprintf(stderr, "steward-sim: setup: %" PRIu32 " of %" PRIu32 " clients ready (%" PRIu32
			" reused, %" PRIu64 " enrolled, %" PRIu64 " sessions) in %.1f s, %" PRIu64
			" errors\n", f->ready, f->n, f->reused, f->enrolled, f->sessions,
			(double)(time_mono_us() - start) / 1e6, f->stats.errors);
}

static double run(struct fleet *f)
{
	int64_t start = time_mono_us();
	int64_t deadline = start + f->o->duration_s * 1000000;
	int64_t next_scan = start + SCAN_EVERY_US, now_us;
	/* paced: look at the schedule every millisecond */
	int poll_ms = f->o->cycle_s > 0 ? 1 : 20;
	uint64_t due;

	int64_t now_s = time_now_s();
	uint32_t ready = 0;

	f->phase = PH_RUN;
	f->pace_start_us = start;
	f->pace_started = 0;
	/* When the setup ran out of time, the queue still holds clients in
	 * the order it left them: some with a session that were not looked at
	 * again, some still to enroll or to open one. Queue again, those
	 * that can check in first, so the measured phase (and --cycle's
	 * schedule, which is for them) starts with check-ins. */
	f->qhead = 0;
	f->qlen = 0;
	for (uint32_t i = 0; i < f->n; i++)
		f->c[i].flags &= (uint8_t)~VC_QUEUED;
	for (uint32_t i = 0; i < f->n; i++) {
		struct vclient *c = &f->c[i];

		if (!(c->flags & VC_BUSY) && (c->flags & VC_READY ||
		    core_agent_next(&c->agent, now_s) == CORE_ACT_CHECKIN)) {
			queue_push(f, i);
			ready++;
		}
	}
	for (uint32_t i = 0; i < f->n; i++)
		if (!(f->c[i].flags & (VC_BUSY | VC_PARKED)))
			queue_push(f, i);
	f->pace_n = ready;
	f->ready = 0;
	for (;;) {
		now_us = time_mono_us();
		if (sim_stop || now_us >= deadline)
			break;
		if (now_us >= next_scan) {
			scan_parked(f, time_now_s());
			next_scan = now_us + SCAN_EVERY_US;
		}
		dispatch(f, time_now_s());
		sim_http_step(&f->http, poll_ms, on_done, f);
		acklog_tick(&f->ack, now_us, false);
	}
	if (f->o->cycle_s > 0) {
		f->stats.paced = true;
		f->stats.offered = (double)f->pace_n / (double)f->o->cycle_s;
		due = pace_due(f, time_mono_us()) - 1;
		f->stats.behind = due > f->pace_started ? due - f->pace_started : 0;
	}
	drain(f);
	return (double)(time_mono_us() - start) / 1e6;
}

/* --replay-out: the check-ins of every client whose session is open,
 * written for a load generator to send instead of this process. */
static int replay(struct fleet *f)
{
	struct sim_replay_client *rc = calloc(f->n ? f->n : 1, sizeof(*rc));
	uint32_t n = 0;
	int err;

	if (!rc)
		return -STEWARD_ENOMEM;
	for (uint32_t i = 0; i < f->n; i++) {
		struct vclient *c = &f->c[i];

		if (!(c->flags & VC_READY))
			continue;
		hex_encode(c->id, sizeof(c->id), rc[n].id);
		rc[n].skey = c->skey;
		rc[n].epoch = c->epoch;
		rc[n].seq = &c->seq;
		n++;
	}
	err = replay_write(f->o, f->ck, rc, n);
	free(rc);
	return err;
}

static int fleet_init(struct fleet *f, const struct sim_opts *o)
{
	struct proto_checkin_req *ck = NULL;
	struct proto_range self = proto_self_range();
	uint8_t h[PROTO_HASH_BYTES];
	char range[24];
	int rc = -STEWARD_ENOMEM;

	memset(f, 0, sizeof(*f));
	f->o = o;
	f->n = o->clients;
	f->rnd = (struct core_rand){.fn = sim_rand, .ctx = NULL};
	f->ack.fd = -1;
	if ((rc = up_init(&f->up, o->agent_version, o->upgrade_fail_bp, o->upgrade_fail_release)) != 0)
		return rc;
	rc = -STEWARD_ENOMEM;
	f->c = calloc(f->n, sizeof(*f->c));
	f->queue = calloc(f->n, sizeof(*f->queue));
	f->enroll_tpl = calloc(1, sizeof(*f->enroll_tpl));
	ck = calloc(1, sizeof(*ck));
	if (!f->c || !f->queue || !f->enroll_tpl || !ck)
		goto out;
	if (asprintf(&f->url_enroll, "%s%s", o->server, PATH_ENROLL) < 0 ||
	    asprintf(&f->url_session, "%s%s", o->server, PATH_SESSION) < 0 ||
	    asprintf(&f->url_checkin, "%s%s", o->server, PATH_CHECKIN) < 0)
		goto out;

	/* The check-in body, about the size of a real one (eight components
	 * and an inventory hash, ~430 bytes), shared by the clients of one
	 * version (checkin_body). */
	snprintf(ck->agent_version, sizeof(ck->agent_version), "%s", o->agent_version);
	ck->protocol = self;
	for (size_t i = 0; i < sizeof(comps) / sizeof(comps[0]); i++) {
		snprintf(ck->components[i].name, sizeof(ck->components[i].name), "%s", comps[i]);
		snprintf(ck->components[i].version, sizeof(ck->components[i].version), "%s",
			 o->agent_version);
		ck->n_components++;
	}
	ck->uptime = 86400;
	proto_hash("steward-sim inventory", 21, h);
	hex_encode(h, sizeof(h), ck->inventory_hash);
	f->ck = ck;
	ck = NULL;
	proto_range_format(&self, range);
	snprintf(f->h_ver, sizeof(f->h_ver), PROTO_H_VERSION ": %s", proto_self_version());
	snprintf(f->h_proto, sizeof(f->h_proto), PROTO_H_PROTOCOL ": %s", range);

	snprintf(f->enroll_tpl->os_name, sizeof(f->enroll_tpl->os_name), "Debian GNU/Linux");
	snprintf(f->enroll_tpl->os_version, sizeof(f->enroll_tpl->os_version), "12");
	snprintf(f->enroll_tpl->agent_version, sizeof(f->enroll_tpl->agent_version), "%s",
		 o->agent_version);
	f->enroll_tpl->protocol = self;
	f->enroll_tpl->n_addrs = 1;

	if ((rc = stats_init(&f->stats)) != 0)
		goto out;
	rc = sim_http_init(&f->http, o->concurrency, (long)o->timeout_ms);
out:
	free(ck);
	return rc;
}

static void fleet_free(struct fleet *f)
{
	sim_http_free(&f->http);
	stats_free(&f->stats);
	for (uint32_t i = 0; f->c && i < f->n; i++)
		free(f->c[i].up.auth);
	if (f->c)
		sodium_memzero(f->c, (size_t)f->n * sizeof(*f->c));
	free(f->c);
	free(f->queue);
	free(f->url_enroll);
	free(f->url_session);
	free(f->url_checkin);
	for (int i = 0; i < f->n_bodies; i++)
		free(f->bodies[i].text);
	free(f->ck);
	up_free(&f->up);
	free(f->enroll_tpl);
	sodium_memzero(f->token, sizeof(f->token));
}

int fleet_main(const struct sim_opts *o)
{
	struct fleet f;
	int64_t now = time_now_s();
	double elapsed = 0;
	uint32_t to_enroll;
	int status = 0;

	if (fleet_init(&f, o) != 0) {
		fprintf(stderr, "steward-sim: out of memory for %" PRIu32 " clients\n", o->clients);
		fleet_free(&f);
		return 1;
	}
	for (uint32_t i = 0; i < f.n; i++)
		client_init(&f, &f.c[i], now);
	if (o->reuse && o->state_file && state_load(&f, now) != 0) {
		status = 1;
		goto out;
	}
	to_enroll = f.n - f.reused;
	if (to_enroll > 0) {
		if (create_token(&f, to_enroll) != 0) {
			status = 1;
			goto out;
		}
		snprintf(f.enroll_tpl->token, sizeof(f.enroll_tpl->token), "%s", f.token);
	}
	if (acklog_open(&f.ack, o->ack_log) != 0) {
		status = 1;
		goto out;
	}
	setup(&f);
	if (o->state_file)
		state_save(&f);
	if (o->replay_out) {
		/* the sessions are open: write the requests instead of sending them */
		if (sim_stop || replay(&f) != 0)
			status = 1;
		drain(&f);
		if (o->state_file && state_save(&f) != 0)
			status = 1;
		goto out;
	}
	if (!sim_stop)
		elapsed = run(&f);
	else
		drain(&f);
	/* switches whose time came while nobody looked */
	for (uint32_t i = 0; i < f.n; i++)
		settle(&f, i, time_now_s());
	if (acklog_close(&f.ack) != 0)
		status = 1;
	if (o->state_file && state_save(&f) != 0)
		status = 1;
	if (o->versions_out && versions_write(&f, o->versions_out) != 0)
		status = 1;
	stats_print(&f.stats, &f.up.n, elapsed, o->json);
out:
	acklog_close(&f.ack);
	fleet_free(&f);
	return status;
}

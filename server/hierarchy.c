/* hierarchy: the sites above and below this one, and the links between them.
 *
 * A child attaches below a parent with a one-time token the parent made
 * (it carries the parent key's fingerprint, so the child checks whom it
 * attached to). From then on each side has a sender thread per link that
 * drains its outbox toward the other (lib/store/sqlite_hierarchy.c):
 * batches of messages, zstd-compressed, signed with the site key, sent by
 * the link's schedule, rate and pulse, control before status before bulk.
 * The receiver checks the signature, the request sequence (persisted
 * before it answers) and the versions, applies the batch in one
 * transaction and answers with what it applied, signed; only then does the
 * sender drop those messages. No admin token crosses a site link.
 *
 * What flows: up, client summaries and last-seen times, advertisement
 * status, upgrade outcomes and inventory at the level each parent asks
 * (queued by triggers with the change, and forwarded by each site above);
 * down, pauses of installs and advertisements ("--hierarchy"), and in
 * every batch's envelope the inventory level the parent asks. docs/internals/hierarchy.md has the
 * exchange, docs/hierarchy.md the administrator's view.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "site.h"
#include "steward/query.h"

#define HIER_LINKS_MAX 64
#define HIER_BATCH_MSGS 1000
#define HIER_BATCH_BYTES (1024u * 1024) /* of message bodies, before compression */
#define HIER_BATCH_MIN_BYTES 4096	/* a rate-limited batch is at least this */
#define HIER_CALL_MS 30000		/* one exchange, at most */
#define HIER_REPLY_MAX (64u * 1024)
#define HIER_HEARTBEAT_S 60 /* an idle link still exchanges this often */
#define HIER_POLL_US 1000000 /* an idle sender looks at its outbox this often */
#define HIER_BACKOFF_MAX_S 60 /* a failing link tries again at least every minute */
#define HIER_PRUNE_S	     60 /* acknowledged messages past their retention: dropped this often */
#define HIER_TREE_MIN_S	     2	/* a changed tree goes up at most this often */
#define HIER_BACKLOG_TELL_S  5 /* an answer says what waits here for the sender this often */
#define HIER_TOKEN_TTL_MAX (30 * 86400)
#define LINK_PATH "/site-link/batch"
#define ATTACH_PATH "/site-link/attach"
#define REPLY_METHOD "REPLY" /* the canonical string of a signed reply */

struct link {
	char code[PROTO_SITE_CODE_LEN + 1];
	struct hier *h;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool wake, stop, running;
	/* the peer sent a batch with an epoch other than the one it last
	 * answered with (it started anew, maybe on a restored database):
	 * exchange now, even with nothing to send, to hear what it has */
	atomic_bool hello;
	uint64_t seq; /* the last request sequence sent */
	/* a child: its answer was heard since this process started (so its
	 * takes are known), and how many objects from above wait for it */
	bool heard;
	size_t held;
	/* since this process started */
	atomic_uint_fast64_t bytes_out, msgs_out, bytes_in, msgs_in, batches_in;
	/* what waits at the peer to come here, as its answers say (every
	 * HIER_BACKLOG_TELL_S), and when it said so (0: not yet); and when
	 * this site last told the peer its own (h->mu) */
	atomic_int_fast64_t peer_msgs, peer_bytes, peer_at;
	int64_t told_at;
};

struct hier {
	struct site *s;
	pthread_mutex_t mu; /* guards links[] */
	struct link *links[HIER_LINKS_MAX];
	size_t n;
	char url[STORE_SITE_URL_MAX + 1]; /* how linked sites reach this one */
	/* this process's link epoch: 64 random bits, new at every start, so a
	 * database restored from a backup (always followed by a start) never
	 * answers under the epoch its peers wrote to before */
	char epoch[PROTO_EPOCH_HEX + 1];
	/* the last digests queued up: tick (main thread) and attach both set them */
	atomic_int_fast64_t seen_at, tree_at;
	/* something the tree report carries changed (a link failed or came
	 * back, a site attached or detached, a peer's version): the next tick
	 * sends the tree up at once instead of at the next heartbeat */
	atomic_bool tree_dirty;
	/* the tree's digest when last sent up, and when last looked at (main
	 * thread only): what a plan reads changed → sent at once */
	uint64_t tree_sent;
	int64_t tree_looked;
	atomic_int_fast64_t pruned_at; /* acknowledged messages kept: the last prune */
	/* the fetcher of releases from above */
	pthread_t fetch_thread;
	bool fetch_running, fetch_wake, fetch_stop;
	pthread_mutex_t fetch_mu;
	pthread_cond_t fetch_cv;
};

static struct hier *hier_of(struct site *s)
{
	return s->hier;
}

/* ---- signing a request or a reply --------------------------------------------------------- */

/* The headers that sign body for path as this site: version, protocol,
 * site, timestamp, sequence, signature. */
struct signed_hdrs {
	char lines[8][160];
	const char *list[9];
};

static void sign_headers(struct site *s, const char *method, const char *path, uint64_t seq,
			 const void *body, size_t len, struct signed_hdrs *o)
{
	char canon[PROTO_CANON_MAX], who[16], range[24], sig[96];
	struct proto_range self = proto_self_range();
	int64_t ts = time_now_s();
	int n = 0;

	snprintf(who, sizeof(who), "site:%s", s->cfg.site_code);
	proto_canonical(method, path, who, ts, seq, body, len, canon, sizeof(canon));
	proto_sign(&s->site_kp, canon, sig);
	proto_range_format(&self, range);
	snprintf(o->lines[n++], 160, PROTO_H_VERSION ": %s", proto_self_version());
	snprintf(o->lines[n++], 160, PROTO_H_PROTOCOL ": %s", range);
	snprintf(o->lines[n++], 160, PROTO_H_SITE ": %s", s->cfg.site_code);
	snprintf(o->lines[n++], 160, PROTO_H_TIMESTAMP ": %" PRId64, ts);
	snprintf(o->lines[n++], 160, PROTO_H_SEQ ": %" PRIu64, seq);
	snprintf(o->lines[n++], 160, PROTO_H_SIGNATURE ": %s", sig);
	for (int i = 0; i < n; i++)
		o->list[i] = o->lines[i];
	o->list[n] = NULL;
}

/* Sign a reply of ours: the peer checks it before it trusts an ack. */
static void reply_signed(struct http_req *req, struct site *s, uint64_t seq, json_t *obj)
{
	struct signed_hdrs h;
	char *text = json_dumps(obj, JSON_COMPACT);

	json_decref(obj);
	if (!text) {
		reply_error(req, 500, "internal", "", "out of memory");
		return;
	}
	sign_headers(s, REPLY_METHOD, http_req_path(req), seq, text, strlen(text), &h);
	/* the server adds its version and protocol to every reply itself */
	for (int i = 2; h.list[i]; i++) {
		char name[40];
		const char *colon = strchr(h.list[i], ':');

		snprintf(name, sizeof(name), "%.*s", (int)(colon - h.list[i]), h.list[i]);
		http_reply_header(req, name, colon + 2);
	}
	http_reply(req, 200, "application/json", text, strlen(text));
	free(text);
}

/* A signed reply from peer: 0 when its signature is the peer's. */
static int check_reply(const struct http_resp *r, const char *path, const char *peer_code,
		       const uint8_t pk[PROTO_PK_BYTES], uint64_t seq)
{
	char canon[PROTO_CANON_MAX], who[16];
	char *end;
	long long t;

	if (!r->signature[0] || !r->timestamp[0] || strcmp(r->site, peer_code) != 0)
		return -STEWARD_EAUTH;
	errno = 0;
	t = strtoll(r->timestamp, &end, 10);
	if (errno || *end || t < 0)
		return -STEWARD_EAUTH;
	snprintf(who, sizeof(who), "site:%s", peer_code);
	if (proto_canonical(REPLY_METHOD, path, who, t, seq, r->body.data, r->body.len, canon,
			    sizeof(canon)))
		return -STEWARD_EAUTH;
	return proto_verify(pk, canon, r->signature);
}

/* A peer refused this site with version_incompatible. Its message is
 * written from its own side ("this site" is the peer), so say it again
 * from ours, with the version and range its reply headers carry, and name
 * the older site, which is the one to upgrade. who names the peer in the
 * message ("site C01"), whom in the remedy ("C01"). false when the headers
 * do not say (not a steward answering): the peer's own text is used. */
static bool skew_text(const struct http_resp *r, const char *who, const char *whom, char *msg,
		      size_t msgsz, char *remedy, size_t remedysz)
{
	struct proto_range theirs, ours = proto_self_range();
	bool they_older;

	if (!r->server_version[0] || !str_printable(r->server_version) ||
	    proto_range_parse(r->server_protocol, &theirs) != 0 ||
	    proto_negotiate(&theirs, &ours) >= 0)
		return false;
	they_older = theirs.max < ours.min;
	snprintf(msg, msgsz,
		 "%s runs %.32s (protocol %d-%d), this site %s (protocol %d-%d): no protocol in "
		 "common",
		 who, r->server_version, theirs.min, theirs.max, proto_self_version(), ours.min,
		 ours.max);
	snprintf(remedy, remedysz,
		 "upgrade the older site (%s) to a release that speaks protocol %d",
		 they_older ? whom : "this one", they_older ? ours.min : theirs.min);
	return true;
}

/* The inventory level of a child's row ("summary" unless set). */
static const char *inv_level(const struct store_site *v)
{
	return proto_link_inv_level_valid(v->inventory) ? v->inventory : "summary";
}

/* ---- the links' threads ------------------------------------------------------------------- */

static void *sender(void *arg);

static struct link *link_find(struct hier *h, const char *code)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->links[i]->code, code) == 0)
			return h->links[i];
	return NULL;
}

/* Start the sender toward code (once). Caller holds h->mu. */
static int link_start(struct hier *h, const char *code)
{
	struct link *l = link_find(h, code);

	if (l) {
		pthread_mutex_lock(&l->mu);
		l->wake = true;
		pthread_cond_signal(&l->cv);
		pthread_mutex_unlock(&l->mu);
		return 0;
	}
	if (h->n == HIER_LINKS_MAX)
		return -STEWARD_ETOOBIG;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -STEWARD_ENOMEM;
	snprintf(l->code, sizeof(l->code), "%s", code);
	l->h = h;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	if (pthread_create(&l->thread, NULL, sender, l) != 0) {
		pthread_cond_destroy(&l->cv);
		pthread_mutex_destroy(&l->mu);
		free(l);
		return -STEWARD_ENOMEM;
	}
	l->running = true;
	h->links[h->n++] = l;
	log_info("hierarchy", "link_started", "site=%s", code);
	return 0;
}

static void link_stop(struct link *l)
{
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	if (l->running)
		pthread_join(l->thread, NULL);
	l->running = false;
}

/* Wake every sender: something was queued. */
void site_hierarchy_wake(struct site *s)
{
	struct hier *h = hier_of(s);

	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n; i++) {
		pthread_mutex_lock(&h->links[i]->mu);
		h->links[i]->wake = true;
		pthread_cond_signal(&h->links[i]->cv);
		pthread_mutex_unlock(&h->links[i]->mu);
	}
	pthread_mutex_unlock(&h->mu);
}

/* Sleep up to us microseconds, or until woken or stopped; false: stop. */
static bool link_sleep(struct link *l, int64_t us, bool wakeable)
{
	struct timespec ts;
	bool stop;

	if (us <= 0)
		return !atomic_load(&l->h->s->stopping);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += us / 1000000;
	ts.tv_nsec += (long)(us % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->mu);
	/* a peer that started anew ends any wait, a failing link's backoff
	 * too: it is likely reachable again (the sender clears it each round) */
	while (!l->stop && !(wakeable && l->wake) && !atomic_load(&l->hello)) {
		if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT)
			break;
	}
	if (wakeable)
		l->wake = false;
	stop = l->stop;
	pthread_mutex_unlock(&l->mu);
	return !stop;
}

/* ---- sending ---------------------------------------------------------------------------- */

struct batch_build {
	struct buf b;
	size_t n;
};

static int add_msg(const struct store_outbox_msg *m, void *ctx)
{
	struct batch_build *bb = ctx;
	int rc = buf_printf(&bb->b, "%s{\"seq\":%" PRIu64 ",\"class\":%d,\"kind\":\"%s\",\"body\":",
			    bb->n ? "," : "", m->seq, m->cls, m->kind);

	rc = rc ? rc : buf_append(&bb->b, m->body, m->len);
	rc = rc ? rc : buf_puts(&bb->b, "}");
	if (!rc)
		bb->n++;
	return rc;
}

static void takes_of(json_t *v, char *out, size_t outsz);

/* One exchange: the batch out, what the peer applied back. why says what
 * went wrong, for the link's last_error. */
static int exchange(struct link *l, struct store_site *peer, const uint8_t *z, size_t zlen,
		    struct store_link_ack *ack, char *why, size_t whysz)
{
	struct site *s = l->h->s;
	struct signed_hdrs h;
	struct http_resp r;
	struct steward_err err = {.code = ""};
	uint8_t pk[PROTO_PK_BYTES];
	char url[STORE_SITE_URL_MAX + 32];
	const char *hdrs[12];
	json_t *reply = NULL, *a, *site;
	uint64_t seq = (uint64_t)time_now_ms();
	int rc = -STEWARD_EIO, n = 0;
	struct http_call c = {.method = "POST", .url = url, .headers = hdrs, .body = z,
			      .body_len = zlen,
			      /* a slow link still gets at least 1 KB/s */
			      .timeout_ms = HIER_CALL_MS + (long)(zlen > 100000000 ? 100000000 : zlen),
			      .max_response = HIER_REPLY_MAX};

	if (hex_decode(peer->public_key, pk, sizeof(pk)) != 0) {
		snprintf(why, whysz, "the stored key of site %s is damaged; attach it again",
			 peer->code);
		return -STEWARD_EINVAL;
	}
	if (seq <= l->seq)
		seq = l->seq + 1;
	l->seq = seq;
	snprintf(url, sizeof(url), "%s" LINK_PATH, peer->url);
	sign_headers(s, "POST", LINK_PATH, seq, z, zlen, &h);
	for (int i = 0; h.list[i]; i++)
		hdrs[n++] = h.list[i];
	hdrs[n++] = "Content-Type: application/zstd";
	hdrs[n++] = http_expect_header(zlen);
	hdrs[n] = NULL;
	http_resp_init(&r);
	if (http_call(&c, &r, &err) != 0) {
		snprintf(why, whysz, "%.40s: %.200s", err.code, err.message);
		goto out;
	}
	if (r.status != 200) {
		char who[24], msg[STEWARD_ERR_MSG_MAX], remedy[STEWARD_ERR_MSG_MAX];
		bool parsed;

		memset(&err, 0, sizeof(err));
		parsed = proto_error_parse(r.body.data, r.body.len, &err) == 0;
		snprintf(who, sizeof(who), "site %s", peer->code);
		if (parsed && strcmp(err.code, "version_incompatible") == 0 &&
		    skew_text(&r, who, peer->code, msg, sizeof(msg), remedy, sizeof(remedy)))
			snprintf(why, whysz,
				 "version_incompatible (HTTP %d): %.128s; remedy: %.70s",
				 (int)r.status, msg, remedy);
		else if (parsed)
			snprintf(why, whysz, "%.40s (HTTP %ld): %.100s; remedy: %.60s", err.code,
				 r.status, err.message, err.remedy);
		else
			snprintf(why, whysz, "HTTP %ld from %.200s", r.status, url);
		goto out;
	}
	if (check_reply(&r, LINK_PATH, peer->code, pk, seq) != 0) {
		snprintf(why, whysz, "the reply is not signed with site %s's key; not trusted",
			 peer->code);
		goto out;
	}
	reply = json_loadb(r.body.data, r.body.len, 0, NULL);
	a = json_object_get(reply, "applied");
	if (json_array_size(a) != PROTO_LINK_CLASSES) {
		snprintf(why, whysz, "site %s sent a reply without 'applied'", peer->code);
		goto out;
	}
	for (int i = 0; i < PROTO_LINK_CLASSES; i++) {
		json_t *v = json_array_get(a, (size_t)i);

		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			snprintf(why, whysz, "site %s sent a bad 'applied'", peer->code);
			goto out;
		}
		ack->applied[i] = (uint64_t)json_integer_value(v);
	}
	/* its epoch (what the next batch writes to), and its watch: what it
	 * acknowledges from now until then stays kept whatever the limits */
	{
		const char *e = json_string_value(json_object_get(reply, "epoch"));
		json_t *w = json_object_get(reply, "watch_until");

		snprintf(ack->epoch, sizeof(ack->epoch), "%s", proto_link_epoch_valid(e) ? e : "");
		ack->watch_until = json_is_integer(w) && json_integer_value(w) > 0
				       ? (int64_t)json_integer_value(w)
				       : 0;
	}
	/* what waits there to come here (now and then; older peers never say) */
	{
		json_t *bl = json_object_get(reply, "backlog");
		json_t *m = json_object_get(bl, "messages"), *by = json_object_get(bl, "bytes");

		if (json_is_integer(m) && json_is_integer(by) && json_integer_value(m) >= 0 &&
		    json_integer_value(by) >= 0) {
			atomic_store(&l->peer_msgs, (int_fast64_t)json_integer_value(m));
			atomic_store(&l->peer_bytes, (int_fast64_t)json_integer_value(by));
			atomic_store(&l->peer_at, time_now_s());
		}
	}
	/* what the peer says of itself: name and versions */
	site = json_object_get(reply, "site");
	if (json_is_object(site)) {
		const char *name = json_string_value(json_object_get(site, "name"));
		const char *ver = json_string_value(json_object_get(site, "version"));
		const char *pr = json_string_value(json_object_get(site, "protocol"));

		if (name && strlen(name) <= STORE_SITE_NAME_MAX && str_printable(name))
			snprintf(peer->name, sizeof(peer->name), "%s", name);
		if (ver && strlen(ver) <= PROTO_VERSION_MAX && str_printable(ver))
			snprintf(peer->version, sizeof(peer->version), "%s", ver);
		if (pr && strlen(pr) < sizeof(peer->protocol) && str_printable(pr))
			snprintf(peer->protocol, sizeof(peer->protocol), "%s", pr);
		/* the kinds of objects from above it takes; none named: older */
		takes_of(json_object_get(site, "takes"), peer->takes, sizeof(peer->takes));
	}
	rc = 0;
out:
	json_decref(reply);
	http_resp_free(&r);
	return rc;
}

/* The kinds a receiver says it takes, as ",kind,...," of the kinds this
 * site knows to send (anything else it names is of no use here). */
static void takes_of(json_t *v, char *out, size_t outsz)
{
	static const char *const kinds[] = {"collection", "package", "program", "advert"};
	const char *t = json_string_value(v);
	size_t n = 0;

	out[0] = '\0';
	if (!t || strlen(t) > 256)
		return;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char k[24];

		snprintf(k, sizeof(k), ",%s,", kinds[i]);
		if (strstr(t, k))
			n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%s,",
					      n ? "" : ",", kinds[i]);
	}
	if (n >= outsz)
		out[0] = '\0';
}

static uint32_t hier_rand(void *ctx, uint32_t upper)
{
	(void)ctx;
	return rand_uniform(upper);
}

/* Objects from above wait for a child that does not take their kind (an
 * older steward would refuse the whole batch with link_kind_unknown and
 * hold the link): out of the outbox, each with a status saying why, until
 * it says it takes them (it was upgraded). */
static void hold(struct link *l, const struct store_site *peer)
{
	struct site *s = l->h->s;
	size_t held = 0;
	int rc = s->store->ops->outbox_hold(s->store, peer->code, peer->takes, peer->version, &held);

	if (rc) {
		log_warn("hierarchy", "hold_failed", "site=%s error=\"%s\"", peer->code,
			 steward_strerror(rc));
		return;
	}
	if (held && held != l->held)
		log_warn("hierarchy", "objects_held",
			 "site=%s version=%s held=%zu why=\"it does not take objects from above\"",
			 peer->code, peer->version, held);
	else if (!held && l->held)
		log_info("hierarchy", "objects_released", "site=%s version=%s", peer->code,
			 peer->version);
	l->held = held;
}

/* A failure that repeats is said the first time, then every tenth. */
static bool worth_saying(int failures)
{
	return failures == 1 || failures % 10 == 0;
}

static void *sender(void *arg)
{
	static const struct core_rand jitter = {hier_rand, NULL};
	struct link *l = arg;
	struct site *s = l->h->s;
	int failures = 0, store_failures = 0;
	int64_t last_exchange = 0;

	while (!atomic_load(&s->stopping)) {
		struct store_site peer, was;
		struct batch_build bb;
		struct store_link_ack ack = {.now = 0};
		char why[STORE_LINK_ERROR_MAX + 1] = "";
		uint8_t *z = NULL;
		size_t zlen = 0, budget = HIER_BATCH_BYTES;
		int64_t now = time_now_s(), t0, wait_us;
		unsigned mask;
		int rc = s->store->ops->site_get(s->store, l->code, &peer);
		/* the peer started anew since the last round: exchange now */
		bool hello = atomic_exchange(&l->hello, false);

		if (rc == -STEWARD_ENOTFOUND || (rc == 0 && !peer.attached))
			break;
		if (rc) {
			/* the store failed (a database away) */
			if (worth_saying(++store_failures))
				log_warn("hierarchy", "link_store_failed",
					 "site=%s failures=%d retry_in=5s error=\"%s\"", l->code,
					 store_failures, steward_strerror(rc));
			if (!link_sleep(l, 5000000, false))
				break;
			continue;
		}
		if (store_failures) {
			log_info("hierarchy", "link_store_restored", "site=%s after_failures=%d",
				 l->code, store_failures);
			store_failures = 0;
		}
		mask = core_link_allowed(peer.schedule, now);
		if (!mask) {
			/* closed: look again at the next hour, or when the settings change */
			int64_t open = core_link_next_open(peer.schedule, now);

			wait_us = (open ? open - now : 3600) * 1000000;
			if (!link_sleep(l, wait_us > 60000000 ? 60000000 : wait_us, true))
				break;
			continue;
		}
		if (peer.rate > 0)
			budget = peer.rate < HIER_BATCH_MIN_BYTES ? HIER_BATCH_MIN_BYTES
				 : (size_t)peer.rate > HIER_BATCH_BYTES ? HIER_BATCH_BYTES
									  : (size_t)peer.rate;
		if (peer.pulse_bytes > 0 && (size_t)peer.pulse_bytes < budget)
			budget = (size_t)peer.pulse_bytes;
		buf_init(&bb.b, HIER_BATCH_BYTES * 2);
		bb.n = 0;
		/* to_epoch: the receiver applies it only under the epoch it
		 * last answered with; otherwise it answers what it has, first */
		rc = buf_printf(&bb.b,
				"{\"format\":\"" PROTO_BATCH_FORMAT
				"\",\"from\":\"%s\",\"to\":\"%s\","
				"\"epoch\":\"%s\",\"to_epoch\":\"%s\",",
				s->cfg.site_code, peer.code, l->h->epoch,
				proto_link_epoch_valid(peer.out_epoch) ? peer.out_epoch : "");
		/* a child learns from every batch what inventory to send up: only
		 * a parent that says so gets any (an older one never does) */
		if (!rc && peer.relation == STORE_SITE_CHILD)
			rc = buf_printf(&bb.b, "\"inventory\":\"%s\",", inv_level(&peer));
		rc = rc ? rc : buf_puts(&bb.b, "\"messages\":[");
		if (!rc && peer.relation == STORE_SITE_CHILD && l->heard &&
		    (strcmp(peer.takes, STORE_DOWN_KINDS) != 0 || l->held))
			hold(l, &peer);
		/* a child is heard first (an empty batch), so that what it takes
		 * is known before objects from above go to it */
		if (!rc && (peer.relation != STORE_SITE_CHILD || l->heard))
			rc = s->store->ops->outbox_peek(s->store, peer.code, mask, HIER_BATCH_MSGS,
							budget, add_msg, &bb);
		if (!rc && bb.n == 0 && now - last_exchange < HIER_HEARTBEAT_S && !hello) {
			/* triggers queue in other transactions without telling us:
			 * look again in a second */
			buf_free(&bb.b);
			if (!link_sleep(l, HIER_POLL_US, true))
				break;
			continue;
		}
		rc = rc ? rc : buf_puts(&bb.b, "]}");
		rc = rc ? rc : proto_batch_compress(bb.b.data, bb.b.len, &z, &zlen);
		buf_free(&bb.b);
		if (rc) {
			log_error("hierarchy", "batch_failed", "site=%s error=\"%s\"", peer.code,
				  steward_strerror(rc));
			free(z);
			if (!link_sleep(l, 5000000, false))
				break;
			continue;
		}
		t0 = time_mono_us();
		was = peer;
		rc = exchange(l, &peer, z, zlen, &ack, why, sizeof(why));
		free(z);
		if (rc) {
			int64_t back = core_backoff(++failures, 1, HIER_BACKOFF_MAX_S, &jitter);

			if (failures == 1)
				atomic_store(&l->h->tree_dirty, true);
			if (worth_saying(failures))
				log_warn("hierarchy", "link_failed", "site=%s failures=%d retry_in=%llds "
								     "why=\"%s\"",
					 peer.code, failures, (long long)back, why);
			snprintf(peer.last_error, sizeof(peer.last_error), "%s", why);
			peer.last_out = 0;
			s->store->ops->site_update(s->store, peer.code, STORE_SITE_F_OUT, &peer);
			if (!link_sleep(l, back * 1000000, false))
				break;
			continue;
		}
		if (failures) {
			log_info("hierarchy", "link_restored", "site=%s after_failures=%d", peer.code,
				 failures);
			atomic_store(&l->h->tree_dirty, true);
		}
		failures = 0;
		last_exchange = now;
		l->heard = true;
		atomic_fetch_add(&l->bytes_out, zlen);
		atomic_fetch_add(&l->msgs_out, bb.n);
		ack.now = now;
		if (s->store->ops->outbox_ack(s->store, peer.code, &ack) != 0)
			log_warn("hierarchy", "ack_failed", "site=%s", peer.code);
		if (strcmp(peer.version, was.version) || strcmp(peer.protocol, was.protocol) ||
		    strcmp(peer.name, was.name) || strcmp(peer.takes, was.takes)) {
			s->store->ops->site_update(s->store, peer.code, STORE_SITE_F_PEER, &peer);
			atomic_store(&l->h->tree_dirty, true);
		}
		/* keep to the link's rate, then its pulse */
		wait_us = core_link_pace_us((int64_t)zlen, peer.rate) - (time_mono_us() - t0);
		/* a share of each hour: quiet for the rest of it, in proportion */
		if (peer.share > 0 && bb.n) {
			int64_t quiet = core_link_share_wait_us(time_mono_us() - t0, peer.share);

			if (quiet > wait_us)
				wait_us = quiet;
		}
		if (peer.pulse_wait > 0 && bb.n)
			wait_us = peer.pulse_wait * 1000000 > wait_us ? peer.pulse_wait * 1000000
								       : wait_us;
		if (wait_us > 0 && !link_sleep(l, wait_us, false))
			break;
	}
	log_info("hierarchy", "link_stopped", "site=%s", l->code);
	return NULL;
}

/* ---- receiving ------------------------------------------------------------------------- */

#define SEEN_MAX 1000	 /* clients in one "seen" or "clients" message */
#define TREE_TEXT_MAX (64u * 1024)

/* Settings a parent may set below it, and their caps. */
static const struct {
	const char *key;
	size_t max;
} down_settings[] = {
    {"installs_paused", 1},
    {"installs_pause_reason", PROTO_REASON_MAX},
    {"adverts_paused", 1},
    {"adverts_pause_reason", PROTO_REASON_MAX},
    {"installs_rate", 6}, /* installs per hour once resumed: 0 to 100000 */
    /* the agents offered the newest release (a coordinated upgrade's end) */
    {"client_upgrade_collection", STORE_COLLECTION_NAME_MAX},
};

struct decoded {
	struct store_link_rec *recs;
	size_t n;
	void **allocs; /* freed with it: at most D_ALLOCS_PER_MSG per message */
	size_t n_allocs, cap_allocs;
	struct proto_link_inv *invs; /* one per message of b, used by inventory messages */
	bool settings; /* a settings message from above was among them */
};

static void decoded_free(struct decoded *d)
{
	for (size_t i = 0; d->invs && i < d->n; i++)
		proto_link_inv_clear(&d->invs[i]);
	free(d->invs);
	for (size_t i = 0; i < d->n_allocs; i++)
		free(d->allocs[i]);
	free(d->allocs);
	free(d->recs);
	memset(d, 0, sizeof(*d));
}

#define D_ALLOCS_PER_MSG 3

/* p, to be freed with d (freed now, and NULL, when d has no room). */
static void *d_keep(struct decoded *d, void *p)
{
	if (p && d->n_allocs >= d->cap_allocs) {
		free(p);
		return NULL;
	}
	if (p)
		d->allocs[d->n_allocs++] = p;
	return p;
}

static void *d_alloc(struct decoded *d, size_t n)
{
	return d_keep(d, calloc(1, n ? n : 1));
}

/* A printable string member of at most max bytes; NULL when missing or not. */
static const char *member(json_t *o, const char *key, size_t max, bool empty_ok)
{
	json_t *v = json_object_get(o, key);
	const char *t = json_string_value(v);

	if (!t || json_string_length(v) > max || strlen(t) != json_string_length(v) ||
	    (!empty_ok && !*t) || (*t && !str_printable(t)))
		return NULL;
	return t;
}

/* Free text an agent wrote (a status detail: the last line its program
 * printed, often with its newline, maybe not ASCII) of at most max bytes,
 * as a copy kept with d whose bytes outside printable ASCII are replaced
 * (control characters by spaces, others by '?'): refusing it would hold
 * the whole link for a harmless byte. NULL when missing, not a string or
 * too long. */
static const char *member_text(struct decoded *d, json_t *o, const char *key, size_t max)
{
	json_t *v = json_object_get(o, key);
	size_t n = json_string_length(v);
	char *t;

	if (!json_is_string(v) || n > max)
		return NULL;
	t = d_alloc(d, n + 1);
	if (!t)
		return NULL;
	memcpy(t, json_string_value(v), n);
	t[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] == 0x7f)
			t[i] = ' ';
		else if ((unsigned char)t[i] > 0x7e)
			t[i] = '?';
	return t;
}

static bool member_int(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* The site a message from below speaks of: its own "site", or the sender. */
static const char *site_of_msg(json_t *body, const char *from)
{
	json_t *v = json_object_get(body, "site");
	const char *t = json_string_value(v);

	if (!v)
		return from;
	return t && proto_site_code_valid(t) ? t : NULL;
}

static int bad_msg(struct steward_err *err, const struct proto_batch_msg *m, const char *what)
{
	return steward_err_set(err, STEWARD_EINVAL, "batch_invalid",
			       "the sending site's steward is damaged or not steward; see its log",
			       "message %" PRIu64 " (%s) of the batch: %s", m->seq, m->kind, what);
}

static int decode_clients(struct decoded *d, struct store_link_rec *r,
			  const struct proto_batch_msg *m, const char *from, struct steward_err *err)
{
	json_t *a = json_object_get(m->body, "clients"), *c;
	const char *site = site_of_msg(m->body, from);
	struct store_site_client *v;
	size_t i;

	if (!site || !json_is_array(a) || json_array_size(a) > SEEN_MAX)
		return bad_msg(err, m, "'site' or 'clients' (an array of at most 1000) is bad");
	v = d_alloc(d, json_array_size(a) * sizeof(*v));
	if (!v)
		return -STEWARD_ENOMEM;
	json_array_foreach(a, i, c)
	{
		v[i].id = member(c, "id", PROTO_CLIENT_ID_HEX, false);
		v[i].site = site;
		v[i].hostname = member(c, "hostname", PROTO_HOSTNAME_MAX, true);
		v[i].state = member(c, "state", 15, false);
		v[i].agent_version = member(c, "agent_version", PROTO_VERSION_MAX, true);
		v[i].protocol = member(c, "protocol", 23, true);
		if (!v[i].id || !proto_client_id_valid(v[i].id) || !v[i].hostname || !v[i].state ||
		    store_client_state_parse(v[i].state, &(enum store_client_state){0}) ||
		    !v[i].agent_version || !v[i].protocol ||
		    !member_int(c, "enrolled", &v[i].enrolled) ||
		    !member_int(c, "last_seen", &v[i].last_seen))
			return bad_msg(err, m, "a client summary lacks id, hostname, state, versions "
					       "or times");
	}
	r->kind = STORE_LINK_CLIENTS;
	r->u.clients.n = json_array_size(a);
	r->u.clients.v = v;
	return 0;
}

static int decode_seen(struct decoded *d, struct store_link_rec *r, const struct proto_batch_msg *m,
		       const char *from, struct steward_err *err)
{
	json_t *a = json_object_get(m->body, "clients"), *c;
	const char *site = site_of_msg(m->body, from);
	const char **ids;
	int64_t *times;
	size_t i;

	if (!site || !json_is_array(a) || json_array_size(a) > SEEN_MAX)
		return bad_msg(err, m, "'site' or 'clients' (an array of at most 1000) is bad");
	ids = d_alloc(d, json_array_size(a) * sizeof(*ids));
	times = d_alloc(d, json_array_size(a) * sizeof(*times));
	if (!ids || !times)
		return -STEWARD_ENOMEM;
	json_array_foreach(a, i, c)
	{
		json_t *id = json_array_get(c, 0), *t = json_array_get(c, 1);

		if (json_array_size(c) != 2 || !proto_client_id_valid(json_string_value(id)) ||
		    !json_is_integer(t) || json_integer_value(t) < 0)
			return bad_msg(err, m, "an entry is not [client id, time]");
		ids[i] = json_string_value(id);
		times[i] = json_integer_value(t);
	}
	r->kind = STORE_LINK_SEEN;
	r->u.seen.site = site;
	r->u.seen.n = json_array_size(a);
	r->u.seen.ids = ids;
	r->u.seen.times = times;
	return 0;
}

static int decode_status(struct decoded *d, struct store_link_rec *r,
			 const struct proto_batch_msg *m, const char *from, struct steward_err *err)
{
	struct store_site_status *st = &r->u.status;
	json_t *ec = json_object_get(m->body, "exit_code");

	st->site = site_of_msg(m->body, from);
	st->advert = member(m->body, "advert", STORE_SWD_NAME_MAX, false);
	st->client = member(m->body, "client", PROTO_CLIENT_ID_HEX, false);
	st->state = member(m->body, "state", STORE_SWD_STATE_MAX, false);
	st->detail = member_text(d, m->body, "detail", STORE_SWD_DETAIL_MAX);
	if (!st->site || !st->advert || !st->client || !proto_client_id_valid(st->client) ||
	    !st->state || !st->detail || !member_int(m->body, "revision", &st->revision) ||
	    !member_int(m->body, "seq", &st->seq) || !member_int(m->body, "time", &st->time) ||
	    (ec && !json_is_null(ec) && !json_is_integer(ec)))
		return bad_msg(err, m, "a status report lacks site, advert, client, revision, seq, "
				       "state, detail or time");
	st->has_exit_code = json_is_integer(ec);
	st->exit_code = st->has_exit_code ? (int)json_integer_value(ec) : 0;
	r->kind = STORE_LINK_STATUS;
	return 0;
}

static int decode_outcome(struct decoded *d, struct store_link_rec *r,
			  const struct proto_batch_msg *m, struct steward_err *err)
{
	struct store_release_outcome *o = &r->u.outcome;
	const char *v = member(m->body, "version", STORE_RELEASE_VERSION_MAX, false);
	const char *c = member(m->body, "client", STORE_OUTCOME_CLIENT_MAX, false);
	const char *what = member(m->body, "outcome", sizeof(o->outcome) - 1, false);
	const char *detail = member_text(d, m->body, "detail", STORE_OUTCOME_DETAIL_MAX);
	int x, y, z;

	if (!v || proto_semver_parse(v, &x, &y, &z) || !c || !what || !detail ||
	    (strcmp(what, "succeeded") && strcmp(what, "rolled_back") &&
	     strcmp(what, "install_failed")) ||
	    !member_int(m->body, "time", &o->time))
		return bad_msg(err, m, "an upgrade outcome lacks version, client, outcome, detail or "
				       "time");
	snprintf(o->version, sizeof(o->version), "%s", v);
	snprintf(o->client, sizeof(o->client), "%s", c);
	snprintf(o->outcome, sizeof(o->outcome), "%s", what);
	snprintf(o->detail, sizeof(o->detail), "%s", detail);
	r->kind = STORE_LINK_OUTCOME;
	return 0;
}

/* Settings: from above, the pauses; from below, only the sender's own tree. */
static int decode_settings(struct decoded *d, struct store_link_rec *r,
			   const struct proto_batch_msg *m, int relation, const char *from,
			   struct steward_err *err)
{
	json_t *o = json_object_get(m->body, "settings"), *v;
	const char **keys, **values;
	const char *key;
	char tree_key[16];
	size_t n = json_object_size(o), i = 0;

	if (!json_is_object(o) || n == 0 || n > 8)
		return bad_msg(err, m, "'settings' must be an object of 1 to 8 settings");
	keys = d_alloc(d, n * sizeof(*keys));
	values = d_alloc(d, n * sizeof(*values));
	if (!keys || !values)
		return -STEWARD_ENOMEM;
	snprintf(tree_key, sizeof(tree_key), "tree:%s", from);
	json_object_foreach(o, key, v)
	{
		const char *text = json_string_value(v);
		size_t max = 0;

		if (relation == STORE_SITE_PARENT) {
			for (size_t k = 0; k < sizeof(down_settings) / sizeof(down_settings[0]); k++)
				if (strcmp(key, down_settings[k].key) == 0)
					max = down_settings[k].max;
		} else if (strcmp(key, tree_key) == 0) {
			max = TREE_TEXT_MAX;
		}
		if (!max)
			return steward_err_set(err, STEWARD_EPERM, "link_kind_refused",
					       "a parent sets only pauses and the install rate below "
					       "it; a child reports only its own tree",
					       "message %" PRIu64 ": site %s may not set '%.40s' here",
					       m->seq, from, key);
		if (!text || strlen(text) > max || (*text && !str_printable(text)))
			return bad_msg(err, m, "a setting's value is not printable text of its size");
		keys[i] = key;
		values[i++] = text;
	}
	r->kind = STORE_LINK_SETTINGS;
	r->u.settings.n = n;
	r->u.settings.keys = keys;
	r->u.settings.values = values;
	if (relation == STORE_SITE_PARENT)
		d->settings = true;
	return 0;
}

/* An enrollment token made above, for every site below. */
static int decode_token(struct store_link_rec *r, const struct proto_batch_msg *m,
			struct steward_err *err)
{
	struct store_token *t = &r->u.token;
	const char *id = member(m->body, "id", 16, false);
	const char *hash = member(m->body, "hash", 2 * PROTO_HASH_BYTES, false);
	const char *site = member(m->body, "site", PROTO_SITE_CODE_LEN, true);
	const char *by = member(m->body, "created_by", sizeof(t->created_by) - 1, true);

	if (!id || strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16 || !hash ||
	    strlen(hash) != 2 * PROTO_HASH_BYTES || hex_decode(hash, t->hash, sizeof(t->hash)) ||
	    !site || (*site && !proto_site_code_valid(site)) || !by ||
	    !member_int(m->body, "uses", &t->uses) || t->uses < 1 ||
	    !member_int(m->body, "expires", &t->expires) ||
	    !member_int(m->body, "created", &t->created))
		return bad_msg(err, m, "an enrollment token lacks id, hash, uses, site or times");
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->site, sizeof(t->site), "%s", site);
	snprintf(t->created_by, sizeof(t->created_by), "%s", by);
	r->kind = STORE_LINK_TOKEN;
	return 0;
}

static int decode_revoke(struct store_link_rec *r, const struct proto_batch_msg *m,
			 struct steward_err *err)
{
	const char *id = member(m->body, "id", 16, false);

	if (!id || strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16)
		return bad_msg(err, m, "a token revocation lacks the token's id");
	r->kind = STORE_LINK_TOKEN_REVOKE;
	r->u.token_id = id;
	return 0;
}

/* A release from above: its signed manifest (checked against this site's
 * own release keys by the fetcher, not here). */
static int decode_release(struct store_link_rec *r, const struct proto_batch_msg *m,
			  struct steward_err *err)
{
	json_t *jm = json_object_get(m->body, "manifest"), *jr = json_object_get(m->body, "rollback");
	const char *v = member(m->body, "version", STORE_RELEASE_VERSION_MAX, false);
	int x, y, z;

	if (!v || proto_semver_parse(v, &x, &y, &z) || !json_is_string(jm) ||
	    json_string_length(jm) == 0 || json_string_length(jm) > CONTENT_RELEASE_MAX ||
	    (jr && !json_is_boolean(jr)))
		return bad_msg(err, m, "a release lacks its version or manifest");
	r->kind = STORE_LINK_RELEASE;
	r->u.release.version = v;
	r->u.release.manifest = json_string_value(jm);
	r->u.release.len = json_string_length(jm);
	r->u.release.rollback = json_is_true(jr);
	return 0;
}

/* How an object sent down went at a site below. */
static int decode_object(struct store_link_rec *r, const struct proto_batch_msg *m,
			 const char *from, struct steward_err *err)
{
	struct store_site_object *o = &r->u.object;

	o->site = site_of_msg(m->body, from);
	o->kind = member(m->body, "kind", 23, false);
	o->name = member(m->body, "name", STORE_OBJECT_NAME_MAX, false); /* NAME@VERSION */
	o->state = member(m->body, "state", 23, false);
	o->detail = member(m->body, "detail", STORE_OBJECT_DETAIL_MAX, true);
	if (!o->site || !o->kind || !o->name || !o->state || !o->detail)
		return bad_msg(err, m, "an object report lacks site, kind, name, state or detail");
	r->kind = STORE_LINK_OBJECT;
	return 0;
}

/* A coordinated upgrade (hupgrade.c) names the site to upgrade; every site
 * passes it on down, and the one named keeps the target for its own tick. */
static int decode_site_upgrade(struct decoded *d, struct store_link_rec *r,
			       const struct proto_batch_msg *m, const char *self,
			       struct steward_err *err)
{
	static const char *const key[] = {"upgrade_said", "upgrade_state", "upgrade_target"};
	const char *to = member(m->body, "to", STORE_RELEASE_VERSION_MAX, false);
	const char *site = member(m->body, "site", PROTO_SITE_CODE_LEN, false);
	const char **value;
	int x, y, z;

	if (!to || proto_semver_parse(to, &x, &y, &z) || !site || !proto_site_code_valid(site))
		return bad_msg(err, m, "a site upgrade lacks its version or site");
	if (strcmp(site, self) != 0) {
		r->kind = STORE_LINK_NOOP;
		return 0;
	}
	value = d_alloc(d, 3 * sizeof(*value));
	if (!value)
		return -STEWARD_ENOMEM;
	value[0] = ""; /* a new order: tried afresh, and said again */
	value[1] = "";
	value[2] = to;
	r->kind = STORE_LINK_SETTINGS;
	r->u.settings.n = 3;
	r->u.settings.keys = key;
	r->u.settings.values = value;
	return 0;
}


/* ---- objects from above: collections, packages, programs, advertisements -------------- */

#define DOWN_SPEC_MAX 16384 /* a program's spec, as JSON text */
#define DOWN_TIME_MAX INT64_C(253402300799) /* 9999-12-31 */

/* One of the kinds of objects from above (STORE_DOWN_KINDS)? */
static bool is_down_kind(const char *kind)
{
	char k[PROTO_LINK_KIND_MAX + 3];

	if (!*kind || strchr(kind, ',') || strlen(kind) > PROTO_LINK_KIND_MAX)
		return false;
	snprintf(k, sizeof(k), ",%s,", kind);
	return strstr(STORE_DOWN_KINDS, k) != NULL;
}

static bool collection_ref_valid(const char *n)
{
	return n && strlen(n) <= STORE_COLLECTION_NAME_MAX &&
	       (store_collection_name_valid(n) || store_collection_name_builtin(n));
}

/* A JSON array of at most max strings, each accepted by ok; *count adds. */
static bool strings_valid(json_t *a, size_t max, bool (*ok)(const char *), size_t *count)
{
	json_t *x;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) > max)
		return false;
	json_array_foreach(a, i, x)
	{
		if (!json_is_string(x) || strlen(json_string_value(x)) != json_string_length(x) ||
		    !ok(json_string_value(x)))
			return false;
	}
	if (count)
		*count += json_array_size(a);
	return true;
}

static bool client_id_ok(const char *id)
{
	return proto_client_id_valid(id);
}

static bool time_ok(json_t *b, const char *key, int64_t max)
{
	int64_t v;

	return member_int(b, key, &v) && v <= max;
}

/* Kind-specific checks of an object put; NULL when fine, else what is wrong. */
static const char *down_put_problem(const char *kind, json_t *b)
{
	const char *by = member(b, "created_by", 64, true);
	int64_t v;

	if (!by || !member_int(b, "created", &v))
		return "'created' or 'created_by' is bad";
	if (strcmp(kind, "collection") == 0) {
		const char *k = member(b, "kind", 8, false);
		json_t *jq = json_object_get(b, "query");
		/* a query may hold any UTF-8 text: the parser is its check */
		const char *q = json_is_string(jq) && json_string_length(jq) <= STORE_COLLECTION_QUERY_MAX &&
					strlen(json_string_value(jq)) == json_string_length(jq)
				    ? json_string_value(jq)
				    : NULL;
		const char *c = member(b, "comment", STORE_COLLECTION_COMMENT_MAX, true);
		size_t rules = 0;
		struct core_query *cq = NULL;

		if (!k || (strcmp(k, "query") && strcmp(k, "static")) || !q || !c ||
		    (strcmp(k, "query") == 0) != (*q != '\0'))
			return "a collection's kind, query or comment is bad";
		if (!strings_valid(json_object_get(b, "members"), STORE_COLLECTION_MEMBERS_MAX,
				   client_id_ok, NULL) ||
		    !strings_valid(json_object_get(b, "include"), STORE_COLLECTION_RULES_MAX,
				   collection_ref_valid, &rules) ||
		    !strings_valid(json_object_get(b, "exclude"), STORE_COLLECTION_RULES_MAX,
				   collection_ref_valid, &rules) ||
		    rules > STORE_COLLECTION_RULES_MAX)
			return "a collection's members or include/exclude rules are bad";
		if (*q && core_query_parse(q, &cq, NULL) != 0)
			return "a collection's query does not parse";
		core_query_free(cq);
		return NULL;
	}
	if (strcmp(kind, "package") == 0) {
		const char *h = member(b, "manifest", CONTENT_HASH_HEX, false);
		const char *c = member(b, "comment", 256, true);

		if (!h || !content_hash_valid(h) || !c || !member_int(b, "bytes", &v) ||
		    !member_int(b, "files", &v) || v > CONTENT_FILES_MAX)
			return "a package's manifest hash, bytes, files or comment is bad";
		return NULL;
	}
	if (strcmp(kind, "program") == 0) {
		const char *pkg = member(b, "package", STORE_SWD_NAME_MAX, false);
		const char *ver = member(b, "version", STORE_SWD_NAME_MAX, false);
		const char *text = member(b, "spec", DOWN_SPEC_MAX, false);
		json_t *spec;
		char why[160];
		bool ok;

		if (!pkg || !content_pkg_name_valid(pkg) || !ver || !content_pkg_version_valid(ver) ||
		    !text)
			return "a program's package, version or spec is missing or bad";
		spec = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
		ok = json_is_object(spec) && site_swdist_spec_valid(spec, why, sizeof(why));
		json_decref(spec);
		return ok ? NULL : "a program's spec is not a valid program";
	}
	/* advert */
	{
		const char *prog = member(b, "program", STORE_SWD_NAME_MAX, false);
		const char *coll = member(b, "collection", STORE_COLLECTION_NAME_MAX, false);

		if (!prog || !site_swdist_name_valid(prog) || !collection_ref_valid(coll) ||
		    !json_is_boolean(json_object_get(b, "enabled")) ||
		    !time_ok(b, "available", DOWN_TIME_MAX) ||
		    !time_ok(b, "mandatory", DOWN_TIME_MAX) ||
		    !time_ok(b, "recurring", 366 * 86400) || !time_ok(b, "expires", DOWN_TIME_MAX))
			return "an advertisement's program, collection, schedule or enabled is bad";
		return NULL;
	}
}

/* A collection, package, program or advertisement from above: checked
 * whole here, applied later by the worker (site_down_work). */
static int decode_down(struct decoded *d, struct store_link_rec *r,
		       const struct proto_batch_msg *m, struct steward_err *err)
{
	const char *op = member(m->body, "op", 8, false);
	const char *name = member(m->body, "name", STORE_SWD_NAME_MAX, false);
	const char *origin = member(m->body, "origin", PROTO_SITE_CODE_LEN, true);
	const char *ver = NULL, *problem = NULL;
	bool name_ok;
	char *key, *text;

	if (strcmp(m->kind, "collection") == 0)
		name_ok = name && strlen(name) <= STORE_COLLECTION_NAME_MAX &&
			  store_collection_name_valid(name);
	else if (strcmp(m->kind, "package") == 0)
		name_ok = name && content_pkg_name_valid(name) &&
			  (ver = member(m->body, "version", STORE_SWD_NAME_MAX, false)) &&
			  content_pkg_version_valid(ver);
	else
		name_ok = name && site_swdist_name_valid(name);
	if (!op || (strcmp(op, "put") && strcmp(op, "delete")) || !name_ok || !origin ||
	    (*origin && !proto_site_code_valid(origin)))
		return bad_msg(err, m, "an object from above lacks a valid op, name or origin");
	if (strcmp(op, "put") == 0 && (problem = down_put_problem(m->kind, m->body)))
		return bad_msg(err, m, problem);
	key = d_alloc(d, STORE_OBJECT_NAME_MAX + 1);
	text = d_keep(d, json_dumps(m->body, JSON_COMPACT));
	if (!key || !text)
		return -STEWARD_ENOMEM;
	snprintf(key, STORE_OBJECT_NAME_MAX + 1, "%s%s%s", name, ver ? "@" : "", ver ? ver : "");
	r->kind = STORE_LINK_DOWN;
	r->u.down.kind = m->kind;
	r->u.down.name = key;
	r->u.down.origin = origin;
	r->u.down.op = op;
	r->u.down.body = text;
	return 0;
}

/* Inventories of clients below: summaries, or one full document. */
static int decode_inventory(struct decoded *d, size_t i, struct store_link_rec *r,
			    const struct proto_batch_msg *m, struct steward_err *err)
{
	struct steward_err why = {.code = ""};
	int rc = proto_link_inv_parse(m->body, &d->invs[i], &why);

	if (rc == -STEWARD_ENOMEM)
		return rc;
	if (rc)
		return bad_msg(err, m, why.message);
	r->kind = STORE_LINK_INVENTORY;
	r->u.inventory = &d->invs[i];
	return 0;
}

/* Every message of b into d->recs, refusing the batch at the first one this
 * site cannot take (the sender keeps it queued and says why). */
static int decode(const struct proto_batch *b, int relation, const char *self,
		  struct decoded *d, struct steward_err *err)
{
	int rc = 0;

	memset(d, 0, sizeof(*d));
	d->recs = calloc(b->n ? b->n : 1, sizeof(*d->recs));
	d->cap_allocs = b->n * D_ALLOCS_PER_MSG + 1;
	d->allocs = calloc(d->cap_allocs, sizeof(*d->allocs));
	d->invs = calloc(b->n ? b->n : 1, sizeof(*d->invs));
	if (!d->recs || !d->allocs || !d->invs)
		return -STEWARD_ENOMEM;
	for (size_t i = 0; !rc && i < b->n; i++) {
		const struct proto_batch_msg *m = &b->msgs[i];
		struct store_link_rec *r = &d->recs[i];
		bool up = relation == STORE_SITE_CHILD;

		r->cls = m->cls;
		r->seq = m->seq;
		if (strcmp(m->kind, "hello") == 0)
			r->kind = STORE_LINK_NOOP;
		else if (strcmp(m->kind, "settings") == 0)
			rc = decode_settings(d, r, m, relation, b->from, err);
		else if (up && strcmp(m->kind, "clients") == 0)
			rc = decode_clients(d, r, m, b->from, err);
		else if (up && strcmp(m->kind, "seen") == 0)
			rc = decode_seen(d, r, m, b->from, err);
		else if (up && strcmp(m->kind, "status") == 0)
			rc = decode_status(d, r, m, b->from, err);
		else if (up && strcmp(m->kind, "outcome") == 0)
			rc = decode_outcome(d, r, m, err);
		else if (up && strcmp(m->kind, "object") == 0)
			rc = decode_object(r, m, b->from, err);
		else if (up && strcmp(m->kind, "inventory") == 0)
			rc = decode_inventory(d, i, r, m, err);
		else if (!up && strcmp(m->kind, "release") == 0)
			rc = decode_release(r, m, err);
		else if (!up && strcmp(m->kind, "site_upgrade") == 0)
			rc = decode_site_upgrade(d, r, m, self, err);
		else if (!up && strcmp(m->kind, "enroll_token") == 0)
			rc = decode_token(r, m, err);
		else if (!up && strcmp(m->kind, "enroll_token_revoke") == 0)
			rc = decode_revoke(r, m, err);
		else if (!up && is_down_kind(m->kind))
			rc = decode_down(d, r, m, err);
		else
			rc = steward_err_set(err, STEWARD_EINVAL, "link_kind_unknown",
					     "upgrade this site to the sender's version (stewardctl "
					     "hierarchy show names both); the message waits at the "
					     "sender until then",
					     "message %" PRIu64 " is of kind '%s', which site %s (%s) "
					     "does not take from its %s",
					     m->seq, m->kind, self, proto_self_version(),
					     up ? "children" : "parent");
		/* from above, marked to go on down: queued for the children
		 * in the transaction that applies it */
		if (!rc && !up && r->kind != STORE_LINK_DOWN &&
		    json_is_true(json_object_get(m->body, "cascade"))) {
			r->pass_kind = m->kind;
			r->pass_body = d_keep(d, json_dumps(m->body, JSON_COMPACT));
			if (!r->pass_body)
				rc = -STEWARD_ENOMEM;
		}
		d->n++;
	}
	return rc;
}

/* What a parent sent changed here: the pauses in memory, the fetcher for
 * a release, and the sender for what was passed on to the children (the
 * store queued it with the change). */
static void down_applied(struct site *s, const struct decoded *d)
{
	bool woke = false;

	if (d->settings) {
		site_bootstrap_reload(s);
		site_swdist_reload(s);
	}
	for (size_t i = 0; i < d->n; i++) {
		if (!d->recs[i].applied)
			continue;
		if (d->recs[i].kind == STORE_LINK_RELEASE || d->recs[i].kind == STORE_LINK_DOWN) {
			struct hier *h = hier_of(s);

			pthread_mutex_lock(&h->fetch_mu);
			h->fetch_wake = true;
			pthread_cond_signal(&h->fetch_cv);
			pthread_mutex_unlock(&h->fetch_mu);
		}
		woke |= d->recs[i].pass_kind != NULL;
	}
	if (woke)
		site_hierarchy_wake(s);
}

/* A parent says in every batch what inventory it wants up (an older one
 * says nothing, and would refuse the kind): keep it when it changed, with
 * what the parent now lacks queued in the same transaction. */
static void inventory_asked(struct site *s, const struct store_site *parent,
			    const struct proto_batch *b)
{
	size_t queued = 0;
	int rc;

	if (strcmp(b->inventory, parent->inventory) == 0)
		return;
	rc = s->store->ops->site_inventory_level(s->store, parent->code, b->inventory,
						 s->cfg.site_code, &queued);
	if (rc) {
		log_warn("hierarchy", "inventory_level_failed", "parent=%s level=%s error=\"%s\"",
			 parent->code, b->inventory[0] ? b->inventory : "-", steward_strerror(rc));
		return;
	}
	log_info("hierarchy", "inventory_level", "parent=%s level=%s was=%s queued=%zu",
		 parent->code, b->inventory[0] ? b->inventory : "-",
		 parent->inventory[0] ? parent->inventory : "-", queued);
	if (queued)
		site_hierarchy_wake(s);
}

/* The linked sites, copied out of the store (a store callback must not
 * call the store again). */
struct site_rows {
	struct store_site *v;
	size_t n, cap;
};

static int copy_row(const struct store_site *v, void *ctx)
{
	struct site_rows *r = ctx;

	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 8;
		void *p = realloc(r->v, ncap * sizeof(*r->v));

		if (!p)
			return -STEWARD_ENOMEM;
		r->v = p, r->cap = ncap;
	}
	r->v[r->n++] = *v;
	return 0;
}

static int site_rows(struct site *s, struct site_rows *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = s->store->ops->site_list(s->store, copy_row, r);
	if (rc) {
		free(r->v);
		memset(r, 0, sizeof(*r));
	}
	return rc;
}

/* A batch refused after its signature was checked applies nothing, so its
 * sequence number is stored on its own before the refusal: a copy is then
 * refused as a replay, also after a restart. Refusals are rare, so this
 * commit of their own costs nothing on the path of applied batches (those
 * store it in site_apply with what they apply). False when it replied. */
static bool link_seq_claim(struct site *s, struct http_req *req, const struct principal *p)
{
	uint64_t applied[PROTO_LINK_CLASSES];
	int rc = s->store->ops->site_apply(s->store, p->name, p->seq, NULL, 0, applied);

	if (rc == -STEWARD_EEXIST) {
		reply_error(
		    req, 401, "replayed_sequence",
		    "send a sequence number above the last accepted one (sites use the time "
		    "in ms)",
		    "sequence %" PRIu64 " of site %s was used already: replay refused", p->seq,
		    p->name);
		return false;
	}
	if (rc) {
		reply_store_error(req, rc);
		return false;
	}
	return true;
}

enum http_result site_h_link_batch(struct http_req *req, void *app)
{
	struct site *s = app;
	struct hier *h = hier_of(s);
	struct principal *p = http_req_ctx(req);
	struct steward_err err = {.code = ""};
	struct proto_batch b;
	struct decoded d = {0};
	struct store_site peer;
	uint64_t applied[PROTO_LINK_CLASSES] = {0};
	size_t len;
	const char *body = http_req_body(req, &len);
	bool tell_backlog = false;
	struct link *l;
	size_t n_applied = 0;
	bool stale;
	int rc;

	if (!p || p->kind != PRINCIPAL_SITE || s->store->ops->site_get(s->store, p->name, &peer)) {
		reply_error(req, 401, "unknown_site", "attach the site first (stewardctl sites attach)",
			    "the request names no site linked to this one");
		return HTTP_DONE;
	}
	if (proto_batch_parse((const uint8_t *)body, len, PROTO_BATCH_PLAIN_MAX, &b, &err)) {
		if (link_seq_claim(s, req, p))
			http_reply_error(req, strcmp(err.code, "batch_too_large") == 0 ? 413 : 400,
					 &err);
		return HTTP_DONE;
	}
	if (strcmp(b.from, p->name) != 0 || strcmp(b.to, s->cfg.site_code) != 0) {
		if (!link_seq_claim(s, req, p))
			goto out;
		reply_error(req, 400, "batch_misdirected",
			    "check that the sending site's link names this site",
			    "the batch is from %s to %s, but came from %s to %s", b.from, b.to,
			    p->name, s->cfg.site_code);
		goto out;
	}
	/* Written to another epoch (or to none yet): this site started since
	 * the sender last heard it, maybe on a database restored from a
	 * backup, whose applied counters are lower than what the sender was
	 * told. Apply nothing: the answer tells it what this site has, and
	 * the sender sends again what it kept above that, then this batch.
	 * Applying first would hide the gap. A batch without to_epoch (an
	 * older sender) is applied as before. */
	stale = b.has_to_epoch && strcmp(b.to_epoch, h->epoch) != 0;
	rc = stale ? 0 : decode(&b, peer.relation, s->cfg.site_code, &d, &err);
	if (rc) {
		if (rc == -STEWARD_ENOMEM)
			reply_error(req, 500, "internal", "", "out of memory");
		else if (!link_seq_claim(s, req, p))
			goto out;
		else
			http_reply_error(req, strcmp(err.code, "link_kind_unknown") == 0 ? 422
					      : strcmp(err.code, "link_kind_refused") == 0 ? 403
											: 400,
					 &err);
		log_warn("hierarchy", "batch_refused", "site=%s code=%s message=\"%s\"", p->name,
			 err.code, err.message);
		goto out;
	}
	rc = s->store->ops->site_apply(s->store, p->name, p->seq, d.recs, d.n, applied);
	if (!rc && stale)
		log_info("hierarchy", "epoch_told", "site=%s wrote_to=%s epoch=%s messages=%zu",
			 p->name, b.to_epoch[0] ? b.to_epoch : "-", h->epoch, b.n);
	if (rc == -STEWARD_EEXIST) {
		/* another copy of this request was applied meanwhile */
		reply_error(req, 401, "replayed_sequence",
			    "send a sequence number above the last accepted one (sites use the time "
			    "in ms)",
			    "sequence %" PRIu64 " of site %s was used already: replay refused", p->seq,
			    p->name);
		goto out;
	}
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	for (size_t i = 0; i < d.n; i++)
		n_applied += d.recs[i].applied;
	if (peer.relation == STORE_SITE_PARENT) {
		down_applied(s, &d);
		/* after the request's sequence was taken: a replayed batch
		 * cannot set an old level again */
		inventory_asked(s, &peer, &b);
	}
	pthread_mutex_lock(&h->mu);
	l = link_find(h, p->name);
	if (l && time_now_s() - l->told_at >= HIER_BACKLOG_TELL_S) {
		l->told_at = time_now_s();
		tell_backlog = true;
	}
	if (l) {
		atomic_fetch_add(&l->bytes_in, len);
		atomic_fetch_add(&l->msgs_in, n_applied);
		atomic_fetch_add(&l->batches_in, 1);
		if (b.epoch[0] && strcmp(b.epoch, peer.out_epoch) != 0) {
			/* the peer started anew: our sender hears what it has now
			 * (its next answer), not at the next heartbeat */
			atomic_store(&l->hello, true);
			pthread_mutex_lock(&l->mu);
			l->wake = true;
			pthread_cond_signal(&l->cv);
			pthread_mutex_unlock(&l->mu);
		}
	}
	pthread_mutex_unlock(&h->mu);
	log_debug("hierarchy", "batch_applied", "site=%s messages=%zu applied=%zu bytes=%zu", p->name,
		  b.n, n_applied, len);
	{
		struct proto_range self = proto_self_range();
		char range[24];

		proto_range_format(&self, range);
		json_t *reply = json_pack("{s:[I,I,I],s:s,s:{s:s,s:s,s:s,s:s}}", "applied",
					  (json_int_t)applied[0], (json_int_t)applied[1],
					  (json_int_t)applied[2], "epoch", h->epoch, "site", "code",
					  s->cfg.site_code, "name", s->cfg.site_name, "version",
					  proto_self_version(), "protocol", range);

		/* the objects from above this version takes: a sender holds
		 * them for a receiver that does not name them (an older one) */
		if (reply)
			json_object_set_new(json_object_get(reply, "site"), "takes",
					    json_string(STORE_DOWN_KINDS));
		/* on watch after an upgrade, this site may yet go back to the
		 * backup taken before it: the sender keeps all it acknowledges */
		if (reply && atomic_load(&s->watch.on))
			json_object_set_new(reply, "watch_until",
					    json_integer((json_int_t)s->watch.until));
		/* now and then, what waits here for the sender (counting it walks
		 * the outbox: not on every batch) */
		if (reply && tell_backlog &&
		    s->store->ops->site_get_backlog(s->store, p->name, &peer) == 0)
			json_object_set_new(reply, "backlog",
					    json_pack("{s:I,s:I}", "messages", (json_int_t)peer.out_msgs,
						      "bytes", (json_int_t)peer.out_bytes));
		reply_signed(req, s, p->seq, reply);
	}
out:
	decoded_free(&d);
	proto_batch_clear(&b);
	return HTTP_DONE;
}

/* ---- attaching ---------------------------------------------------------------------------- */

/* JSON describing this site to a peer. */
static json_t *self_json(struct site *s)
{
	struct proto_range self = proto_self_range();
	char range[24], pk[2 * PROTO_PK_BYTES + 1];

	proto_range_format(&self, range);
	hex_encode(s->site_kp.pk, PROTO_PK_BYTES, pk);
	/* tls_pin: what the other side verifies this site's HTTPS with (the
	 * attach request and reply are signed with the site keys, which the
	 * token's fingerprint pins) */
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "code", s->cfg.site_code, "name",
			 s->cfg.site_name, "url", hier_of(s)->url, "public_key", pk, "version",
			 proto_self_version(), "protocol", range, "tls_pin", s->tls_pin);
}

/* A peer's description: fields into v (relation and times left to the
 * caller); why says what is wrong. */
static bool peer_json(json_t *o, struct store_site *v, char *why, size_t whysz)
{
	const char *code = member(o, "code", PROTO_SITE_CODE_LEN, false);
	const char *name = member(o, "name", STORE_SITE_NAME_MAX, true);
	const char *url = member(o, "url", STORE_SITE_URL_MAX, false);
	const char *pk = member(o, "public_key", 2 * PROTO_PK_BYTES, false);
	const char *ver = member(o, "version", PROTO_VERSION_MAX, false);
	const char *pr = member(o, "protocol", 23, false);
	uint8_t key[PROTO_PK_BYTES];
	struct proto_range range;

	if (!code || !proto_site_code_valid(code))
		snprintf(why, whysz, "'code' is not a site code (3 of A-Z, 0-9)");
	else if (!name || !url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
		 strchr(url, ' '))
		snprintf(why, whysz, "'name' or 'url' (http:// or https://) is missing or bad");
	else if (!pk || strlen(pk) != 2 * PROTO_PK_BYTES || hex_decode(pk, key, sizeof(key)) ||
		 strspn(pk, "0123456789abcdef") != 2 * PROTO_PK_BYTES)
		snprintf(why, whysz, "'public_key' is not 64 lowercase hex digits");
	else if (!ver || !pr || proto_range_parse(pr, &range))
		snprintf(why, whysz, "'version' or 'protocol' is missing or bad");
	else
		why[0] = '\0';
	if (why[0])
		return false;
	memset(v, 0, sizeof(*v));
	snprintf(v->code, sizeof(v->code), "%s", code);
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->url, sizeof(v->url), "%s", url);
	for (size_t n = strlen(v->url); n && v->url[n - 1] == '/'; n--)
		v->url[n - 1] = '\0';
	snprintf(v->public_key, sizeof(v->public_key), "%s", pk);
	snprintf(v->version, sizeof(v->version), "%s", ver);
	snprintf(v->protocol, sizeof(v->protocol), "%s", pr);
	v->attached = true;
	return true;
}

static bool speaks_with(const char *protocol)
{
	struct proto_range theirs, ours = proto_self_range();

	return proto_range_parse(protocol, &theirs) == 0 && proto_negotiate(&theirs, &ours) >= 0;
}

/* POST /site-link/attach, on the parent: a child with a one-time token.
 * The request is signed with the key the child names (proof that it holds
 * it); the reply is signed with ours, whose fingerprint the token carried. */
enum http_result site_h_link_attach(struct http_req *req, void *app)
{
	struct site *s = app;
	struct hier *h = hier_of(s);
	size_t len;
	const char *body = http_req_body(req, &len);
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *child;
	struct proto_attach_token tok;
	struct steward_err err = {.code = ""};
	struct store_site v, old;
	enum store_token_refusal refusal;
	uint8_t hash[PROTO_HASH_BYTES], pk[PROTO_PK_BYTES];
	char why[160], canon[PROTO_CANON_MAX], who[16], fp[PROTO_FP_HEX + 1];
	const char *sig = http_req_header(req, PROTO_H_SIGNATURE);
	const char *tstext = http_req_header(req, PROTO_H_TIMESTAMP);
	const char *seqtext = http_req_header(req, PROTO_H_SEQ);
	char *end;
	long long ts;
	unsigned long long seq;
	int rc;

	child = json_object_get(root, "child");
	if (!json_is_object(root) || !json_is_object(child) ||
	    !peer_json(child, &v, why, sizeof(why))) {
		reply_error(req, 400, "bad_request", "stewardctl sites attach sends this",
			    "the attach request is malformed: %s",
			    json_is_object(child) ? why : "no 'child' object");
		goto out;
	}
	if (proto_attach_token_parse(json_string_value(json_object_get(root, "token")), &tok, &err)) {
		http_reply_error(req, 400, &err);
		goto out;
	}
	proto_site_fingerprint(s->site_kp.pk, fp);
	if (strcmp(tok.fp, fp) != 0) {
		reply_error(req, 403, "attach_fingerprint_mismatch",
			    "the token was made by another site: create one on this parent "
			    "(stewardctl sites attach-token create)",
			    "the token carries fingerprint %.16s…, this site's key is %.16s…", tok.fp,
			    fp);
		goto out;
	}
	/* proof of possession of the key the child names */
	errno = 0;
	ts = tstext ? strtoll(tstext, &end, 10) : -1;
	if (!tstext || errno || *end || ts < 0 || !seqtext ||
	    (seq = strtoull(seqtext, &end, 10), errno || *end) || !sig) {
		reply_error(req, 401, "auth_required", "stewardctl sites attach signs this",
			    "the attach request lacks Steward-Timestamp, Steward-Seq or "
			    "Steward-Signature");
		goto out;
	}
	hex_decode(v.public_key, pk, sizeof(pk));
	snprintf(who, sizeof(who), "site:%s", v.code);
	if (proto_canonical("POST", ATTACH_PATH, who, ts, seq, body, len, canon, sizeof(canon)) ||
	    proto_verify(pk, canon, sig)) {
		reply_error(req, 401, "signature_invalid", "stewardctl sites attach signs this",
			    "the attach request is not signed by the key it names");
		goto out;
	}
	if (!speaks_with(v.protocol)) {
		struct proto_range ours = proto_self_range();

		reply_error(req, 409, "version_incompatible",
			    "upgrade the older site first (stewardctl site upgrade), then attach",
			    "site %s (%s) speaks protocol %s; this site %s (%s) speaks %d-%d", v.code,
			    v.version, v.protocol, s->cfg.site_code, proto_self_version(), ours.min,
			    ours.max);
		goto out;
	}
	if (strcmp(v.code, s->cfg.site_code) == 0 ||
	    (s->store->ops->site_get(s->store, v.code, &old) == 0 && old.attached &&
	     strcmp(old.public_key, v.public_key) != 0)) {
		reply_error(req, 409, "site_exists",
			    "every site needs its own code; detach the old one first (stewardctl "
			    "sites detach CODE)",
			    "site code %s is this site's or an attached site's with another key",
			    v.code);
		goto out;
	}
	proto_hash(tok.secret, strlen(tok.secret), hash);
	rc = s->store->ops->site_token_use(s->store, hash, time_now_s(), v.code, &refusal);
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	if (refusal != TOKEN_OK) {
		reply_error(req, 403,
			    refusal == TOKEN_EXPIRED   ? "attach_token_expired"
			    : refusal == TOKEN_USED_UP ? "attach_token_used"
						       : "attach_token_invalid",
			    "create a new one on the parent: stewardctl sites attach-token create",
			    "the attach token is %s",
			    refusal == TOKEN_EXPIRED   ? "expired"
			    : refusal == TOKEN_USED_UP ? "used already (tokens are one-time)"
						       : "not known to this site");
		goto out;
	}
	v.relation = STORE_SITE_CHILD;
	v.attached_at = time_now_s();
	{
		const char *pin = json_string_value(json_object_get(child, "tls_pin"));
		if (pin && *pin && site_trust_pin(v.url, pin) != 0)
			log_warn("hierarchy", "child_pin_refused", "site=%s url=%s", v.code, v.url);
	}
	rc = s->store->ops->site_put(s->store, &v);
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	/* the new child gets every collection, package, program and
	 * advertisement defined here or above; from now on, the changes */
	{
		size_t n_obj = 0;

		if (s->store->ops->outbox_objects(s->store, v.code, &n_obj) != 0)
			log_error("hierarchy", "objects_not_queued", "site=%s", v.code);
		else if (n_obj)
			log_info("hierarchy", "objects_queued", "site=%s messages=%zu", v.code,
				 n_obj);
	}
	pthread_mutex_lock(&h->mu);
	atomic_store(&h->tree_dirty, true);
	link_start(h, v.code);
	pthread_mutex_unlock(&h->mu);
	log_info("hierarchy", "child_attached", "site=%s name=\"%s\" url=%s version=%s peer=%s",
		 v.code, v.name, v.url, v.version, http_req_peer(req));
	reply_signed(req, s, seq, json_pack("{s:o}", "parent", self_json(s)));
out:
	json_decref(root);
	return HTTP_DONE;
}

/* Does a site already have a parent other than code? */
struct parent_find {
	char code[PROTO_SITE_CODE_LEN + 1];
};

static int find_parent(const struct store_site *v, void *ctx)
{
	struct parent_find *f = ctx;

	if (v->relation == STORE_SITE_PARENT && v->attached)
		snprintf(f->code, sizeof(f->code), "%s", v->code);
	return 0;
}

/* POST /api/v1/sites/attach {"parent": URL, "token": T}, on the child. */
enum http_result site_h_sites_attach(struct http_req *req, void *app)
{
	struct site *s = app;
	struct hier *h = hier_of(s);
	json_t *body = admin_body(req), *req_body = NULL, *reply = NULL, *parent;
	const char *url, *token;
	struct proto_attach_token tok;
	struct steward_err err = {.code = ""};
	struct parent_find pf = {""};
	struct signed_hdrs hs;
	struct http_resp r;
	struct store_site v;
	char *text = NULL, target[STORE_SITE_URL_MAX + 32], why[160], fp[PROTO_FP_HEX + 1];
	char base[STORE_SITE_URL_MAX + 1];
	const char *hdrs[10];
	uint8_t pk[PROTO_PK_BYTES];
	uint64_t seq = (uint64_t)time_now_ms();
	size_t n_sum = 0;
	int rc, n = 0;

	http_resp_init(&r);
	if (!body)
		return HTTP_DONE;
	url = member(body, "parent", STORE_SITE_URL_MAX, false);
	token = json_string_value(json_object_get(body, "token"));
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || strchr(url, ' ')) {
		reply_error(req, 400, "bad_request", "give the parent's URL, e.g. http://central:8420",
			    "'parent' must be an http:// or https:// URL of at most %d characters",
			    STORE_SITE_URL_MAX);
		goto out;
	}
	if (proto_attach_token_parse(token, &tok, &err)) {
		http_reply_error(req, 400, &err);
		goto out;
	}
	if (s->store->ops->site_list(s->store, find_parent, &pf) == 0 && pf.code[0]) {
		reply_error(req, 409, "parent_exists",
			    "a site has one parent: detach it first (stewardctl sites detach CODE)",
			    "site %s is attached below %s already", s->cfg.site_code, pf.code);
		goto out;
	}
	if (tok.pin[0]) {
		/* the token names the parent's certificate: the call below is
		 * refused unless the parent shows it */
		char pin[TLS_PIN_TEXT_MAX + 1];
		snprintf(pin, sizeof(pin), TLS_PIN_PREFIX "%s", tok.pin);
		site_trust_pin(url, pin);
	}
	req_body = json_pack("{s:s,s:o}", "token", token, "child", self_json(s));
	text = req_body ? json_dumps(req_body, JSON_COMPACT) : NULL;
	if (!text) {
		reply_error(req, 500, "internal", "", "out of memory");
		goto out;
	}
	snprintf(base, sizeof(base), "%s", url);
	for (size_t k = strlen(base); k && base[k - 1] == '/'; k--)
		base[k - 1] = '\0';
	snprintf(target, sizeof(target), "%s" ATTACH_PATH, base);
	sign_headers(s, "POST", ATTACH_PATH, seq, text, strlen(text), &hs);
	for (int i = 0; hs.list[i]; i++)
		hdrs[n++] = hs.list[i];
	hdrs[n++] = "Content-Type: application/json";
	hdrs[n] = NULL;
	{
		struct http_call c = {.method = "POST", .url = target, .headers = hdrs, .body = text,
				      .body_len = strlen(text), .timeout_ms = HIER_CALL_MS,
				      .max_response = HIER_REPLY_MAX};

		if (http_call(&c, &r, &err) != 0 && strncmp(err.code, "tls_", 4) == 0) {
			/* the parent's certificate is not the one the token names */
			http_reply_error(req, 502, &err);
			goto out;
		} else if (r.status == 0) {
			reply_error(req, 502, "parent_unreachable",
				    "check the parent's URL and that it is reachable from this site",
				    "%s: %s", err.code, err.message);
			goto out;
		}
	}
	if (r.status != 200) {
		char who[160], msg[STEWARD_ERR_MSG_MAX], remedy[160], then[180];
		bool parsed;

		memset(&err, 0, sizeof(err));
		parsed = proto_error_parse(r.body.data, r.body.len, &err) == 0;
		snprintf(who, sizeof(who), "the parent at %.120s", base);
		if (parsed && strcmp(err.code, "version_incompatible") == 0 &&
		    skew_text(&r, who, "the parent", msg, sizeof(msg), remedy, sizeof(remedy))) {
			/* the parent's text says "this site" of itself: tell it from here */
			snprintf(then, sizeof(then), "%s, then attach", remedy);
			reply_error(req, 409, "version_incompatible", then, "%s", msg);
		} else if (parsed) {
			/* the parent's refusal is what the administrator needs */
			http_reply_error(req, r.status >= 400 && r.status < 500 ? (int)r.status : 502,
					 &err);
		} else {
			reply_error(req, 502, "parent_unreachable",
				    "check that the URL is the parent stewardd's",
				    "%s answered HTTP %ld without a steward error", target, r.status);
		}
		goto out;
	}
	reply = json_loadb(r.body.data, r.body.len, 0, NULL);
	parent = json_object_get(reply, "parent");
	if (!json_is_object(parent) || !peer_json(parent, &v, why, sizeof(why))) {
		reply_error(req, 502, "bad_reply", "check that the URL is the parent stewardd's",
			    "the parent's reply is malformed: %s",
			    json_is_object(parent) ? why : "no 'parent'");
		goto out;
	}
	/* no trust on first use: the key must be the one the token names */
	hex_decode(v.public_key, pk, sizeof(pk));
	proto_site_fingerprint(pk, fp);
	if (strcmp(fp, tok.fp) != 0 || check_reply(&r, ATTACH_PATH, v.code, pk, seq) != 0) {
		log_warn("hierarchy", "attach_refused", "parent=%s url=%s why=\"fingerprint or "
							"signature does not match the token\"",
			 v.code, url);
		reply_error(req, 502, "attach_fingerprint_mismatch",
			    "do not attach: something between the sites answered instead of the "
			    "parent, or the token is from another site; check the URL and make a new "
			    "token on the parent",
			    "the site at %s answered with key %.16s…, but the token was made by the "
			    "site whose key is %.16s…",
			    url, fp, tok.fp);
		goto out;
	}
	if (!speaks_with(v.protocol)) {
		reply_error(req, 409, "version_incompatible",
			    "upgrade the older site first, then attach",
			    "parent %s (%s) speaks protocol %s, this site (%s) does not", v.code,
			    v.version, v.protocol, proto_self_version());
		goto out;
	}
	/* the parent's own URL is what the administrator gave us */
	snprintf(v.url, sizeof(v.url), "%s", base);
	v.relation = STORE_SITE_PARENT;
	v.attached_at = time_now_s();
	rc = s->store->ops->site_put(s->store, &v);
	/* the parent learns every client once, then the changes */
	if (!rc)
		rc = s->store->ops->outbox_summary(s->store, v.code, s->cfg.site_code, &n_sum);
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	pthread_mutex_lock(&h->mu);
	atomic_store(&h->seen_at, time_now_s());
	atomic_store(&h->tree_dirty, true);
	link_start(h, v.code);
	pthread_mutex_unlock(&h->mu);
	log_info("hierarchy", "attached", "parent=%s name=\"%s\" url=%s version=%s summary_messages=%zu by=%s",
		 v.code, v.name, v.url, v.version, n_sum, site_admin_who(req));
	reply_json_obj(req, 200, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "parent", v.code, "name",
					   v.name, "url", v.url, "version", v.version, "protocol",
					   v.protocol, "fingerprint", fp));
out:
	http_resp_free(&r);
	free(text);
	json_decref(req_body);
	json_decref(reply);
	json_decref(body);
	return HTTP_DONE;
}

/* ---- the administrator's side ------------------------------------------------------------- */

/* POST /api/v1/sites/attach-tokens {"ttl": SECONDS}, on the parent. */
enum http_result site_h_sites_token(struct http_req *req, void *app)
{
	struct site *s = app;
	json_t *body = admin_body(req), *jt;
	struct proto_attach_token tok;
	uint8_t id[PROTO_ATTACH_ID_HEX / 2], secret[PROTO_ATTACH_SECRET_HEX / 2];
	uint8_t hash[PROTO_HASH_BYTES];
	char text[PROTO_ATTACH_TOKEN_MAX + 1];
	int64_t now = time_now_s(), ttl = 3600;
	int rc;

	if (!body)
		return HTTP_DONE;
	jt = json_object_get(body, "ttl");
	if (jt && (!json_is_integer(jt) || json_integer_value(jt) < 60 ||
		   json_integer_value(jt) > HIER_TOKEN_TTL_MAX)) {
		reply_error(req, 400, "bad_request", "give --ttl from 1m to 30d",
			    "'ttl' must be 60 to %d seconds", HIER_TOKEN_TTL_MAX);
		goto out;
	}
	if (jt)
		ttl = json_integer_value(jt);
	rand_bytes(id, sizeof(id));
	rand_bytes(secret, sizeof(secret));
	hex_encode(id, sizeof(id), tok.id);
	hex_encode(secret, sizeof(secret), tok.secret);
	proto_site_fingerprint(s->site_kp.pk, tok.fp);
	tok.pin[0] = '\0';
	if (s->tls_pin[0])
		hex_encode(s->tls_pin_raw, TLS_PIN_BYTES, tok.pin);
	proto_hash(tok.secret, strlen(tok.secret), hash);
	rc = s->store->ops->site_token_insert(s->store, tok.id, hash, now + ttl, now, site_admin_who(req));
	if (!rc)
		rc = proto_attach_token_format(&tok, text, sizeof(text));
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	log_info("hierarchy", "attach_token_created", "id=%s expires_in=%llds by=%s", tok.id,
		 (long long)ttl, site_admin_who(req));
	reply_json_obj(req, 201, json_pack("{s:s,s:s,s:o,s:s,s:s}", "token", text, "id", tok.id,
					   "expires", time_json(now + ttl), "fingerprint", tok.fp,
					   "site", s->cfg.site_code));
out:
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(&tok, sizeof(tok));
	json_decref(body);
	return HTTP_DONE;
}

/* How a link stands, for people: "ok", "closed now", "never exchanged",
 * or the last error. */
static void link_state(const struct store_site *v, char *out, size_t outsz)
{
	if (!v->attached)
		snprintf(out, outsz, "detached");
	else if (v->last_error[0])
		snprintf(out, outsz, "failing: %s", v->last_error);
	else if (!core_link_allowed(v->schedule, time_now_s()))
		snprintf(out, outsz, "closed now (schedule)");
	else if (!v->last_out && !v->last_in)
		snprintf(out, outsz, "not exchanged yet");
	else
		snprintf(out, outsz, "ok");
}

static json_t *site_json(struct hier *h, const struct store_site *v)
{
	struct link *l;
	char state[STORE_LINK_ERROR_MAX + 32], sched[32];
	json_t *o;

	link_state(v, state, sizeof(state));
	core_link_describe(v->schedule, time_now_s(), sched, sizeof(sched));
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:o,s:o,s:o,s:I,s:I,s:s,s:s,s:I,s:I,"
		      "s:I}",
		      "code", v->code, "relation", v->relation == STORE_SITE_PARENT ? "parent" : "child",
		      "name", v->name, "url", v->url, "version", v->version, "protocol", v->protocol,
		      "state", state, "attached", v->attached, "last_error", v->last_error,
		      "attached_at", time_json(v->attached_at), "last_in", time_json(v->last_in),
		      "last_out", time_json(v->last_out), "backlog_out_messages",
		      (json_int_t)v->out_msgs, "backlog_out_bytes", (json_int_t)v->out_bytes,
		      "schedule", v->schedule[0] ? v->schedule : "all", "schedule_now", sched,
		      "rate", (json_int_t)v->rate, "pulse_bytes", (json_int_t)v->pulse_bytes,
		      "pulse_wait", (json_int_t)v->pulse_wait);
	if (o)
		json_object_set_new(o, "share", json_integer(v->share));
	if (o)
		json_object_set_new(o, "kept_out_messages", json_integer((json_int_t)v->out_kept));
	/* a child's: what this site asks of it; the parent's: what it asked
	 * ("-" before it said, as an older parent never does) */
	if (o)
		json_object_set_new(o, "inventory",
				    json_string(v->relation == STORE_SITE_CHILD ? inv_level(v)
						: v->inventory[0]		    ? v->inventory
										    : "-"));
	pthread_mutex_lock(&h->mu);
	l = link_find(h, v->code);
	if (o && l)
		json_object_set_new(o, "since_start",
				    json_pack("{s:I,s:I,s:I,s:I,s:I}", "bytes_out",
					      (json_int_t)atomic_load(&l->bytes_out), "messages_out",
					      (json_int_t)atomic_load(&l->msgs_out), "bytes_in",
					      (json_int_t)atomic_load(&l->bytes_in), "messages_in",
					      (json_int_t)atomic_load(&l->msgs_in), "batches_in",
					      (json_int_t)atomic_load(&l->batches_in)));
	/* what waits at the peer to come here, as it last said */
	if (o && l && atomic_load(&l->peer_at))
		json_object_set_new(o, "backlog_in",
				    json_pack("{s:I,s:I,s:o}", "messages",
					      (json_int_t)atomic_load(&l->peer_msgs), "bytes",
					      (json_int_t)atomic_load(&l->peer_bytes), "at",
					      time_json(atomic_load(&l->peer_at))));
	pthread_mutex_unlock(&h->mu);
	return o;
}

int site_links_json(struct site *s, json_t **out)
{
	struct site_rows rows;
	json_t *a = json_array();
	int rc = a ? site_rows(s, &rows) : -STEWARD_ENOMEM;

	if (rc) {
		json_decref(a);
		return rc;
	}
	for (size_t i = 0; i < rows.n; i++)
		json_array_append_new(a, site_json(hier_of(s), &rows.v[i]));
	free(rows.v);
	*out = a;
	return 0;
}

/* GET /api/v1/sites */
enum http_result site_h_sites_list(struct http_req *req, void *app)
{
	json_t *a = NULL;
	int rc = site_links_json(app, &a);

	if (rc)
		reply_store_error(req, rc);
	else
		reply_json_obj(req, 200, a);
	return HTTP_DONE;
}

/* The linked site named in the path into v: 0, or replied 404 or 503. */
static int path_site(struct http_req *req, struct site *s, struct store_site *v)
{
	const char *code = http_req_param(req, 0);
	int rc = code ? s->store->ops->site_get(s->store, code, v) : -STEWARD_ENOTFOUND;

	if (rc == -STEWARD_ENOTFOUND)
		reply_error(req, 404, "site_not_found", "stewardctl sites list shows the linked sites",
			    "no site %.8s is linked to this one", code ? code : "");
	else if (rc)
		reply_store_error(req, rc);
	return rc;
}

/* POST /api/v1/sites/{code}/detach */
enum http_result site_h_sites_detach(struct http_req *req, void *app)
{
	struct site *s = app;
	struct hier *h = hier_of(s);
	json_t *body = admin_body(req);
	struct store_site v;
	struct link *l = NULL;
	int rc;

	if (!body)
		return HTTP_DONE;
	json_decref(body);
	if (path_site(req, s, &v))
		return HTTP_DONE;
	v.attached = false;
	rc = s->store->ops->site_update(s->store, v.code, STORE_SITE_F_STATE, &v);
	if (rc) {
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->links[i]->code, v.code) == 0) {
			l = h->links[i];
			h->links[i] = h->links[--h->n];
			break;
		}
	pthread_mutex_unlock(&h->mu);
	if (l) {
		link_stop(l);
		pthread_cond_destroy(&l->cv);
		pthread_mutex_destroy(&l->mu);
		free(l);
	}
	atomic_store(&h->tree_dirty, true);
	log_info("hierarchy", "detached", "site=%s relation=%s by=%s", v.code,
		 v.relation == STORE_SITE_PARENT ? "parent" : "child", site_admin_who(req));
	reply_json_obj(req, 200, site_json(h, &v));
	return HTTP_DONE;
}

/* POST /api/v1/sites/{code}/link {"schedule", "rate" | "share", "pulse_bytes", "pulse_wait",
 * "inventory"} */
enum http_result site_h_sites_link(struct http_req *req, void *app)
{
	struct site *s = app;
	json_t *body = admin_body(req), *j;
	struct store_site v;
	char msg[200];
	bool inv_changed = false;
	int rc;

	if (!body)
		return HTTP_DONE;
	if (path_site(req, s, &v))
		goto out;
	if (v.relation == STORE_SITE_CHILD && !proto_link_inv_level_valid(v.inventory))
		snprintf(v.inventory, sizeof(v.inventory), "summary");
	if ((j = json_object_get(body, "schedule"))) {
		char sched[CORE_SCHEDULE_HOURS + 1];

		if (!json_is_string(j) ||
		    core_link_schedule_parse(json_string_value(j), sched, msg, sizeof(msg))) {
			reply_error(req, 400, "bad_request",
				    "e.g. --schedule mon-fri:08-18=high,sat-sun:00-24=all, or all",
				    "schedule: %s", json_is_string(j) ? msg : "must be a string");
			goto out;
		}
		/* all open is kept as "" */
		snprintf(v.schedule, sizeof(v.schedule), "%s",
			 strspn(sched, "A") == CORE_SCHEDULE_HOURS ? "" : sched);
	}
	if ((j = json_object_get(body, "rate"))) {
		if (!json_is_integer(j) || json_integer_value(j) < 0 ||
		    json_integer_value(j) > 10000000000LL) {
			reply_error(req, 400, "bad_request", "give --rate in bytes per second, 0: none",
				    "'rate' must be 0 to 10000000000 bytes per second");
			goto out;
		}
		v.rate = json_integer_value(j);
		v.share = 0; /* one limit or the other */
	}
	if ((j = json_object_get(body, "share"))) {
		if (!json_is_integer(j) || json_integer_value(j) < 0 ||
		    json_integer_value(j) > 99) {
			reply_error(req, 400, "bad_request",
				    "give --rate N% with N from 1 to 99 (0: no limit)",
				    "'share' must be 0 to 99 percent of each hour");
			goto out;
		}
		if (json_object_get(body, "rate")) {
			reply_error(req, 400, "bad_request",
				    "give --rate either in bytes per second or as a percent",
				    "'rate' and 'share' are two limits; send one");
			goto out;
		}
		v.share = (int)json_integer_value(j);
		v.rate = 0;
	}
	if ((j = json_object_get(body, "pulse_bytes"))) {
		json_t *w = json_object_get(body, "pulse_wait");

		if (!json_is_integer(j) || json_integer_value(j) < 0 ||
		    json_integer_value(j) > 1073741824 || !json_is_integer(w) ||
		    json_integer_value(w) < 0 || json_integer_value(w) > 86400) {
			reply_error(req, 400, "bad_request",
				    "give --pulse KIB/SECONDS, e.g. 64/10, or 0/0 to stop",
				    "'pulse_bytes' must be 0 to 1 GiB and 'pulse_wait' 0 to 86400 s");
			goto out;
		}
		v.pulse_bytes = json_integer_value(j);
		v.pulse_wait = json_integer_value(w);
	}
	if ((j = json_object_get(body, "inventory"))) {
		/* what the child sends up; the parent sets it, the child learns it
		 * from the next batch */
		if (!proto_link_inv_level_valid(json_string_value(j))) {
			reply_error(req, 400, "bad_request", "give --inventory none, summary or full",
				    "'inventory' must be none, summary or full");
			goto out;
		}
		if (v.relation != STORE_SITE_CHILD) {
			reply_error(req, 400, "bad_request",
				    "set it at the parent, for the child: stewardctl links set CHILD "
				    "--inventory LEVEL there",
				    "site %s is this site's parent: the parent decides what inventory "
				    "it receives",
				    v.code);
			goto out;
		}
		inv_changed = strcmp(json_string_value(j), inv_level(&v)) != 0;
		snprintf(v.inventory, sizeof(v.inventory), "%s", json_string_value(j));
	}
	rc = s->store->ops->site_update(s->store, v.code,
					STORE_SITE_F_LINK |
					    (v.relation == STORE_SITE_CHILD ? STORE_SITE_F_INVENTORY : 0),
					&v);
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	if (inv_changed) {
		/* tell the child now, not at the next heartbeat */
		struct hier *h = hier_of(s);
		struct link *l;

		pthread_mutex_lock(&h->mu);
		l = link_find(h, v.code);
		if (l)
			atomic_store(&l->hello, true);
		pthread_mutex_unlock(&h->mu);
	}
	site_hierarchy_wake(s);
	log_info("hierarchy", "link_set",
		 "site=%s rate=%lld share=%d pulse=%lld/%lld schedule=%s inventory=%s by=%s", v.code,
		 (long long)v.rate, v.share, (long long)v.pulse_bytes, (long long)v.pulse_wait,
		 v.schedule[0] ? "custom" : "all",
		 v.relation == STORE_SITE_CHILD ? inv_level(&v) : "-", site_admin_who(req));
	reply_json_obj(req, 200, site_json(hier_of(s), &v));
out:
	json_decref(body);
	return HTTP_DONE;
}

/* ---- the tree ------------------------------------------------------------------------------ */

/* This site and what is below it, as far as reports have come up: each
 * child with the tree it last reported of its own children. */
static json_t *tree_of(struct site *s)
{
	struct proto_range self = proto_self_range();
	struct site_rows rows;
	json_t *a = json_array();
	char range[24], key[16], *text = malloc(TREE_TEXT_MAX + 1);

	if (!a || !text || site_rows(s, &rows) != 0) {
		json_decref(a);
		free(text);
		return NULL;
	}
	for (size_t i = 0; i < rows.n; i++) {
		const struct store_site *v = &rows.v[i];
		json_t *o, *below = NULL, *kids;

		if (v->relation != STORE_SITE_CHILD || !v->attached)
			continue;
		o = site_json(hier_of(s), v);
		snprintf(key, sizeof(key), "tree:%s", v->code);
		if (s->store->ops->setting_get(s->store, key, text, TREE_TEXT_MAX + 1) == 0)
			below = json_loads(text, 0, NULL);
		kids = json_object_get(below, "children");
		if (o)
			json_object_set_new(o, "children",
					    json_is_array(kids) ? json_incref(kids) : json_array());
		/* what it said of its own readiness for an upgrade */
		if (o && json_is_object(json_object_get(below, "readiness")))
			json_object_set(o, "readiness", json_object_get(below, "readiness"));
		json_decref(below);
		if (o)
			json_array_append_new(a, o);
	}
	free(rows.v);
	free(text);
	proto_range_format(&self, range);
	/* installs: whether they are paused here, for the readiness check above */
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:{s:o,s:o,s:o}}", "code", s->cfg.site_code, "name",
			 s->cfg.site_name, "version", proto_self_version(), "protocol", range,
			 "children", a, "readiness", "backup", site_upgrade_readiness(s), "systems",
			 site_systems_summary(s), "installs", site_readiness_installs(s));
}

/* FNV-1a of what a tree says that a plan or an administrator reads (codes,
 * versions, link states, readiness), not of what changes with every
 * exchange (times, backlogs, byte counts), so that a change goes up at
 * once and an idle tree only at the heartbeat. */
static uint64_t fnv(uint64_t h, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (h ^ '|') * 1099511628211ull;
}

static uint64_t tree_digest(const json_t *node, uint64_t h)
{
	const json_t *r = json_object_get(node, "readiness"), *k;
	const json_t *b = json_object_get(r, "backup"), *sy = json_object_get(r, "systems");
	char n[48];
	size_t i;

	h = fnv(h, json_string_value(json_object_get(node, "code")));
	h = fnv(h, json_string_value(json_object_get(node, "version")));
	h = fnv(h, json_string_value(json_object_get(node, "protocol")));
	h = fnv(h, json_string_value(json_object_get(node, "state")));
	h = fnv(h, json_is_object(b) ? "readiness" : "none");
	h = fnv(h, json_string_value(json_object_get(b, "problem")));
	snprintf(n, sizeof(n), "%lld/%lld", (long long)json_integer_value(json_object_get(sy, "count")),
		 (long long)json_integer_value(json_object_get(sy, "slow")));
	h = fnv(h, n);
	{
		const json_t *in = json_object_get(r, "installs");

		snprintf(n, sizeof(n), "%d/%d/%lld",
			 json_is_true(json_object_get(in, "enrollment_point")),
			 json_is_true(json_object_get(in, "paused")),
			 (long long)json_integer_value(json_object_get(in, "rate_per_hour")));
		h = fnv(h, n);
	}
	json_array_foreach(json_object_get(node, "children"), i, k)
		h = tree_digest(k, h);
	return fnv(h, "end");
}

json_t *site_hierarchy_tree(struct site *s)
{
	return tree_of(s);
}

/* GET /api/v1/hierarchy */
enum http_result site_h_hierarchy_show(struct http_req *req, void *app)
{
	struct site *s = app;
	struct parent_find pf = {""};
	json_t *tree = tree_of(s);
	struct store_site v;

	if (!tree) {
		reply_store_error(req, -STEWARD_ESTORE);
		return HTTP_DONE;
	}
	if (s->store->ops->site_list(s->store, find_parent, &pf) == 0 && pf.code[0] &&
	    s->store->ops->site_get(s->store, pf.code, &v) == 0)
		json_object_set_new(tree, "parent", site_json(hier_of(s), &v));
	reply_json_obj(req, 200, tree);
	return HTTP_DONE;
}

/* ---- what this site sends up by itself ----------------------------------------------------- */

void site_hierarchy_tick(struct site *s)
{
	struct hier *h = hier_of(s);
	struct parent_find pf = {""};
	int64_t now = time_now_s();
	size_t n = 0;
	char at[32];
	bool queued = false, dirty;

	if (!h)
		return;
	if (now - atomic_load(&h->pruned_at) >= HIER_PRUNE_S) {
		/* what linked sites acknowledged is kept a while (for a site that
		 * is restored from a backup), then dropped */
		size_t dropped = 0;
		int rc = s->store->ops->outbox_prune(s->store, now, s->cfg.link_retention,
						     s->cfg.link_retention_max, &dropped);

		if (rc)
			log_warn("hierarchy", "prune_failed", "error=\"%s\"", steward_strerror(rc));
		else if (dropped)
			log_debug("hierarchy", "kept_pruned", "messages=%zu", dropped);
		atomic_store(&h->pruned_at, now);
	}
	/* every HIER_TREE_MIN_S the tree is looked at, and sent up when what it
	 * says changed, not only at the heartbeat */
	dirty = now - atomic_load(&h->tree_at) >= HIER_TREE_MIN_S &&
		now - h->tree_looked >= HIER_TREE_MIN_S;
	if (now - atomic_load(&h->tree_at) < HIER_HEARTBEAT_S / 2 && !dirty)
		return;
	if (s->store->ops->site_list(s->store, find_parent, &pf) != 0 || !pf.code[0]) {
		atomic_store(&h->tree_dirty, false);
		atomic_store(&h->tree_at, now);
		return;
	}
	/* last-seen times of the clients, local and below */
	if (now - atomic_load(&h->seen_at) >= s->cfg.link_seen_interval) {
		if (s->store->ops->outbox_seen(s->store, pf.code, s->cfg.site_code,
					       atomic_load(&h->seen_at) - 1,
					       &n) == 0) {
			snprintf(at, sizeof(at), "%lld", (long long)now);
			s->store->ops->setting_set(s->store, "link_seen_at", at);
			atomic_store(&h->seen_at, now);
			queued = n > 0;
		}
	}
	/* the tree below this site, for the sites above */
	if (now - atomic_load(&h->tree_at) >= HIER_HEARTBEAT_S || dirty) {
		json_t *tree, *msg = NULL;
		char key[16], *text = NULL, *body = NULL;
		bool flagged = atomic_exchange(&h->tree_dirty, false); /* cleared before the read */
		uint64_t digest;

		h->tree_looked = now;
		tree = tree_of(s);
		digest = tree_digest(tree, 1469598103934665603ull);
		if (!tree || (now - atomic_load(&h->tree_at) < HIER_HEARTBEAT_S && !flagged &&
			      digest == h->tree_sent)) {
			json_decref(tree);
			goto done;
		}
		h->tree_sent = digest;
		text = json_dumps(tree, JSON_COMPACT);
		snprintf(key, sizeof(key), "tree:%s", s->cfg.site_code);
		if (text && strlen(text) <= TREE_TEXT_MAX)
			msg = json_pack("{s:{s:s}}", "settings", key, text);
		body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
		if (body && s->store->ops->outbox_put(s->store, pf.code, STORE_SITE_PARENT, 1,
						      "settings", body) == 0)
			queued = true;
		free(body);
		json_decref(msg);
		free(text);
		json_decref(tree);
		atomic_store(&h->tree_at, now);
	}
done:
	if (queued)
		site_hierarchy_wake(s);
}

/* ---- pauses for the whole hierarchy below ------------------------------------------------- */

int site_hierarchy_settings(struct site *s, json_t *settings)
{
	json_t *msg = json_pack("{s:O,s:b}", "settings", settings, "cascade", 1);
	char *body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	int rc = body ? s->store->ops->outbox_put(s->store, NULL, STORE_SITE_CHILD, 0, "settings",
						  body)
		      : -STEWARD_ENOMEM;

	free(body);
	json_decref(msg);
	if (!rc)
		site_hierarchy_wake(s);
	return rc;
}

int site_hierarchy_cascade(struct site *s, const char *paused_key, bool paused,
			   const char *reason_key, const char *reason)
{
	json_t *set = json_pack("{s:s,s:s}", paused_key, paused ? "1" : "0", reason_key, reason);
	int rc = set ? site_hierarchy_settings(s, set) : -STEWARD_ENOMEM;

	json_decref(set);
	return rc;
}

/* An enrollment token for every site below (and their own children): each
 * keeps its hash and counts its own uses. */
int site_hierarchy_token(struct site *s, const struct store_token *t)
{
	char hash[2 * PROTO_HASH_BYTES + 1];
	json_t *msg;
	char *body;
	int rc;

	hex_encode(t->hash, PROTO_HASH_BYTES, hash);
	msg = json_pack("{s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:b}", "id", t->id, "hash", hash, "uses",
			(json_int_t)t->uses, "expires", (json_int_t)t->expires, "created",
			(json_int_t)t->created, "site", t->site, "created_by", t->created_by,
			"cascade", 1);
	body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	rc = body ? s->store->ops->outbox_put(s->store, NULL, STORE_SITE_CHILD, 0, "enroll_token",
					      body)
		  : -STEWARD_ENOMEM;
	free(body);
	json_decref(msg);
	if (!rc)
		site_hierarchy_wake(s);
	return rc;
}

int site_hierarchy_token_revoke(struct site *s, const char *id)
{
	json_t *msg = json_pack("{s:s,s:b}", "id", id, "cascade", 1);
	char *body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	int rc = body ? s->store->ops->outbox_put(s->store, NULL, STORE_SITE_CHILD, 0,
						  "enroll_token_revoke", body)
		      : -STEWARD_ENOMEM;

	free(body);
	json_decref(msg);
	if (!rc)
		site_hierarchy_wake(s);
	return rc;
}

static void *fetcher(void *arg);
static void down_work(struct site *s);

/* ---- start and stop -------------------------------------------------------------------------- */

int site_hierarchy_load(struct site *s)
{
	struct hier *h = calloc(1, sizeof(*h));
	char v[32];
	int rc;

	if (!h)
		return -STEWARD_ENOMEM;
	h->s = s;
	{
		uint8_t e[PROTO_EPOCH_HEX / 2];

		rand_bytes(e, sizeof(e));
		hex_encode(e, sizeof(e), h->epoch);
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_init(&h->fetch_mu, NULL);
	pthread_cond_init(&h->fetch_cv, NULL);
	if (s->store->ops->setting_get(s->store, "link_seen_at", v, sizeof(v)) == 0)
		atomic_store(&h->seen_at, strtoll(v, NULL, 10));
	/* this database may be a backup put back: what is queued from now on
	 * is numbered above anything it numbered before (docs/internals/
	 * hierarchy.md, "A restored site") */
	rc = s->store->ops->outbox_lift(s->store, time_now_ms() * 1000);
	if (rc) {
		log_error("hierarchy", "outbox_lift_failed", "error=\"%s\"", steward_strerror(rc));
		pthread_cond_destroy(&h->fetch_cv);
		pthread_mutex_destroy(&h->fetch_mu);
		pthread_mutex_destroy(&h->mu);
		free(h);
		return rc;
	}
	log_info("hierarchy", "link_epoch", "epoch=%s", h->epoch);
	s->hier = h;
	return 0;
}

void site_hierarchy_listening(struct site *s, unsigned port)
{
	struct hier *h = hier_of(s);
	struct site_rows rows;

	if (!h)
		return;
	site_self_url(&s->cfg, port, h->url, sizeof(h->url));
	if (site_rows(s, &rows) != 0) {
		log_error("hierarchy", "links_not_started", "reason=\"the database failed\"");
		return;
	}
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < rows.n; i++)
		if (rows.v[i].attached)
			link_start(h, rows.v[i].code);
	pthread_mutex_unlock(&h->mu);
	free(rows.v);
	/* releases sent from above are fetched by a thread of their own */
	if (pthread_create(&h->fetch_thread, NULL, fetcher, h) == 0)
		h->fetch_running = true;
	else
		log_error("hierarchy", "fetcher_not_started", "reason=\"out of threads\"");
}

void site_hierarchy_stop(struct site *s)
{
	struct hier *h = hier_of(s);

	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n; i++)
		link_stop(h->links[i]);
	pthread_mutex_unlock(&h->mu);
	if (h->fetch_running) {
		pthread_mutex_lock(&h->fetch_mu);
		h->fetch_stop = true;
		pthread_cond_signal(&h->fetch_cv);
		pthread_mutex_unlock(&h->fetch_mu);
		pthread_join(h->fetch_thread, NULL);
		h->fetch_running = false;
	}
}

void site_hierarchy_free(struct site *s)
{
	struct hier *h = hier_of(s);

	if (!h)
		return;
	site_hierarchy_stop(s);
	for (size_t i = 0; i < h->n; i++) {
		pthread_cond_destroy(&h->links[i]->cv);
		pthread_mutex_destroy(&h->links[i]->mu);
		free(h->links[i]);
	}
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->fetch_cv);
	pthread_mutex_destroy(&h->fetch_mu);
	free(h);
	s->hier = NULL;
}

/* ---- releases down ------------------------------------------------------------------------- */

#define FETCH_BLOB_MAX (512u * 1024 * 1024) /* one file of a release, in memory */
#define FETCH_EVERY_S 5
#define CONTENT_LINK_PATH "/site-link/content/"

void site_hierarchy_release(struct site *s, const char *manifest, size_t len,
			    const char *version, bool rollback)
{
	json_t *msg = json_pack("{s:s,s:s%,s:b}", "version", version, "manifest", manifest, len,
				"rollback", rollback);
	char *body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

	/* each site below fetches the files, imports it, and passes it on */
	if (!body || s->store->ops->outbox_put(s->store, NULL, STORE_SITE_CHILD, 1, "release",
					       body) != 0)
		log_error("hierarchy", "release_not_sent", "version=%s", version);
	else
		site_hierarchy_wake(s);
	free(body);
	json_decref(msg);
}

/* GET /site-link/content/{hash}: a blob this site holds, for a site below
 * fetching a release's files (the distribution point's download code). */
enum http_result site_h_link_content(struct http_req *req, void *app)
{
	return site_h_content_get(req, app);
}

/* Tell the parent how an object it sent went here. */
static void report_object(struct site *s, const char *parent, const char *kind, const char *name,
			  const char *state, const char *detail)
{
	json_t *msg = json_pack("{s:s,s:s,s:s,s:s}", "kind", kind, "name", name, "state", state,
				"detail", detail);
	char *body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

	if (body && s->store->ops->outbox_put(s->store, parent, STORE_SITE_PARENT, 1, "object",
					      body) == 0)
		site_hierarchy_wake(s);
	free(body);
	json_decref(msg);
}

void site_hierarchy_report(struct site *s, const char *kind, const char *name, const char *state,
			   const char *detail)
{
	struct parent_find pf = {""};

	if (s->store->ops->site_list(s->store, find_parent, &pf) == 0 && pf.code[0])
		report_object(s, pf.code, kind, name, state, detail);
}

int site_hierarchy_down(struct site *s, int cls, const char *kind, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	int rc = text ? s->store->ops->outbox_put(s->store, NULL, STORE_SITE_CHILD, cls, kind, text)
		      : -STEWARD_ENOMEM;

	free(text);
	if (!rc)
		site_hierarchy_wake(s);
	return rc;
}

/* One file of a release from the parent, checked against its hash. */
static int fetch_file(struct site *s, const struct store_site *parent,
		      const struct content_release_file *f, struct steward_err *err)
{
	struct signed_hdrs h;
	struct http_resp r;
	char path[sizeof(CONTENT_LINK_PATH) + CONTENT_HASH_HEX], url[STORE_SITE_URL_MAX + 128];
	char got[CONTENT_HASH_HEX + 1];
	struct http_call c = {.method = "GET", .url = url, .headers = h.list,
			      .timeout_ms = HIER_CALL_MS + (long)(f->size / 1000),
			      .max_response = (size_t)f->size + 1};
	int rc;

	if (f->size > FETCH_BLOB_MAX)
		return steward_err_set(err, STEWARD_ETOOBIG, "content_too_large", "",
				       "%s/%s has %llu bytes, more than a site fetches in one piece",
				       f->component, f->path, (unsigned long long)f->size);
	snprintf(path, sizeof(path), CONTENT_LINK_PATH "%s", f->hash);
	snprintf(url, sizeof(url), "%s%s", parent->url, path);
	sign_headers(s, "GET", path, (uint64_t)time_now_ms(), NULL, 0, &h);
	http_resp_init(&r);
	rc = http_call(&c, &r, err);
	if (!rc && (r.status != 200 || r.body.len != f->size))
		rc = steward_err_set(err, STEWARD_EIO, "http_error", "",
				     "GET %s from site %s answered %ld with %zu bytes, not %llu", path,
				     parent->code, r.status, r.body.len,
				     (unsigned long long)f->size);
	if (!rc) {
		content_hash_buf(r.body.data, r.body.len, got);
		if (strcmp(got, f->hash) != 0)
			rc = steward_err_set(err, STEWARD_EINVAL, "release_signature", "",
					     "%s/%s from site %s has SHA-256 %s, not %s as signed",
					     f->component, f->path, parent->code, got, f->hash);
	}
	if (!rc)
		rc = content_store_put_buf(s->content, r.body.data, r.body.len, f->hash, got, err);
	http_resp_free(&r);
	return rc;
}

/* Bring one release from above here: its files, then the import. Returns
 * 0 when it is done (imported, or refused for good: reported either way),
 * or -1 to try again later. */
static int fetch_release(struct site *s, const struct store_fetch *fx)
{
	struct content_release r;
	struct steward_err err = {.code = ""};
	struct store_site parent;
	struct release_import imp;
	char by[32], why[STORE_OBJECT_DETAIL_MAX + 1];
	uint64_t have;
	int rc;

	memset(&r, 0, sizeof(r));
	if (s->store->ops->site_get(s->store, fx->source, &parent) != 0 || !parent.attached)
		return -1;
	/* trusted here, not only where it came from */
	if (s->cfg.n_release_keys == 0 ||
	    content_release_parse(fx->manifest, fx->len,
				  (const uint8_t(*)[PROTO_PK_BYTES])s->cfg.release_keys,
				  s->cfg.n_release_keys, &r, &err) != 0) {
		snprintf(why, sizeof(why), "%s: %s",
			 s->cfg.n_release_keys ? err.code : "release_untrusted",
			 s->cfg.n_release_keys ? err.message
					       : "this site trusts no release key (release_key)");
		goto refused;
	}
	for (size_t i = 0; i < r.n_files; i++)
		if (!content_store_has(s->content, r.files[i].hash, &have) ||
		    have != r.files[i].size) {
			if (fetch_file(s, &parent, &r.files[i], &err)) {
				snprintf(why, sizeof(why), "%s: %s", err.code, err.message);
				s->store->ops->fetch_update(s->store, fx->version, "fetching", why);
				content_release_clear(&r);
				return -1;
			}
		}
	content_release_clear(&r);
	memset(&imp, 0, sizeof(imp));
	snprintf(by, sizeof(by), "site %s", fx->source);
	imp.text = fx->manifest;
	imp.len = fx->len;
	imp.rollback = fx->rollback;
	imp.by = by;
	rc = site_release_import(s, &imp, &err);
	if (rc && imp.status >= 500) {
		snprintf(why, sizeof(why), "%s: %s", err.code, err.message);
		s->store->ops->fetch_update(s->store, fx->version, "fetching", why);
		return -1;
	}
	if (rc && strcmp(err.code, "release_exists") != 0) {
		snprintf(why, sizeof(why), "%s: %s", err.code, err.message);
		goto refused;
	}
	s->store->ops->fetch_update(s->store, fx->version, NULL, NULL);
	report_object(s, fx->source, "release", fx->version, "imported",
		      rc ? "held already" : "");
	log_info("hierarchy", "release_from_above", "version=%s from=%s", fx->version, fx->source);
	return 0;
refused:
	content_release_clear(&r);
	log_warn("hierarchy", "release_refused", "version=%s from=%s why=\"%s\"", fx->version,
		 fx->source, why);
	s->store->ops->fetch_update(s->store, fx->version, "refused", why);
	report_object(s, fx->source, "release", fx->version, "refused", why);
	return 0;
}

struct fetch_set {
	struct store_fetch *v;
	size_t n;
};

static int copy_fetch(const struct store_fetch *f, void *ctx)
{
	struct fetch_set *set = ctx;
	struct store_fetch *p;

	if (strcmp(f->state, "fetching") != 0)
		return 0;
	p = realloc(set->v, (set->n + 1) * sizeof(*set->v));
	if (!p)
		return -STEWARD_ENOMEM;
	set->v = p;
	set->v[set->n] = *f;
	set->v[set->n].manifest = malloc(f->len + 1);
	if (!set->v[set->n].manifest)
		return -STEWARD_ENOMEM;
	memcpy(set->v[set->n].manifest, f->manifest, f->len);
	set->v[set->n].manifest[f->len] = '\0';
	set->n++;
	return 0;
}

/* The fetcher: releases from above, one at a time, oldest first. */
static void *fetcher(void *arg)
{
	struct hier *h = arg;
	struct site *s = h->s;

	while (!atomic_load(&s->stopping)) {
		struct fetch_set set = {0};
		struct timespec ts;

		s->store->ops->fetch_list(s->store, copy_fetch, &set);
		for (size_t i = 0; i < set.n && !atomic_load(&s->stopping); i++)
			fetch_release(s, &set.v[i]);
		for (size_t i = 0; i < set.n; i++)
			free(set.v[i].manifest);
		free(set.v);
		/* collections, packages, programs, advertisements from above */
		down_work(s);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += FETCH_EVERY_S;
		pthread_mutex_lock(&h->fetch_mu);
		while (!h->fetch_wake && !h->fetch_stop &&
		       pthread_cond_timedwait(&h->fetch_cv, &h->fetch_mu, &ts) != ETIMEDOUT)
			;
		h->fetch_wake = false;
		pthread_mutex_unlock(&h->fetch_mu);
		if (h->fetch_stop)
			break;
	}
	return NULL;
}

/* ---- objects from above: applied here -------------------------------------------------------
 * What the parent sent waits in site_down (the batch's transaction put it
 * there); this worker, on the fetcher's thread, applies each in order of
 * arrival: a package once its content is here (fetched from the parent,
 * resumed and checked by hash), a program once its package is, an
 * advertisement once its program and collection are. Each change of state
 * goes up to the parent by a trigger on site_down. */

#define DOWN_CHUNK (8u * 1024 * 1024) /* bytes of a package's file in one request */
#define DOWN_PASSES 8		      /* rounds of one go: what one applied may free the next */

void site_down_set(struct site_down_out *o, bool done, const char *state, const char *fmt, ...)
{
	va_list ap;

	o->done = done;
	snprintf(o->state, sizeof(o->state), "%s", state);
	va_start(ap, fmt);
	vsnprintf(o->detail, sizeof(o->detail), fmt, ap);
	va_end(ap);
}

/* One blob from the parent, in pieces (an interrupted transfer resumes
 * where it stopped, next time), checked against its hash before it enters
 * the content store. *got adds the bytes that crossed the link. */
static int fetch_blob_resumable(struct site *s, const struct store_site *parent, const char *hash,
				uint64_t size, uint64_t *got, struct steward_err *err)
{
	char path[sizeof(CONTENT_LINK_PATH) + CONTENT_HASH_HEX], url[STORE_SITE_URL_MAX + 128];
	struct content_put *put = NULL;
	struct steward_err e2;
	uint64_t have = UINT64_MAX;
	int rc = content_put_resume(s->content, hash, size, &have, &put, err);

	if (rc == -STEWARD_EEXIST)
		return 0; /* here already */
	if (rc) {
		/* no resumable put here: the whole blob */
		have = 0;
		rc = content_put_begin(s->content, hash, size, &put, err);
		if (rc)
			return rc;
	}
	snprintf(path, sizeof(path), CONTENT_LINK_PATH "%s", hash);
	snprintf(url, sizeof(url), "%s%s", parent->url, path);
	while (!rc && have < size && !atomic_load(&s->stopping)) {
		uint64_t want = size - have > DOWN_CHUNK ? DOWN_CHUNK : size - have;
		struct signed_hdrs h;
		struct http_resp r;
		const char *hdrs[10];
		char range[64];
		int n = 0;
		struct http_call c = {.method = "GET", .url = url, .headers = hdrs,
				      .timeout_ms = HIER_CALL_MS + (long)(want / 1000),
				      .max_response = (size_t)want + 1};

		sign_headers(s, "GET", path, (uint64_t)time_now_ms(), NULL, 0, &h);
		for (int i = 0; h.list[i]; i++)
			hdrs[n++] = h.list[i];
		snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-%" PRIu64, have,
			 have + want - 1);
		hdrs[n++] = range;
		hdrs[n] = NULL;
		http_resp_init(&r);
		rc = http_call(&c, &r, err);
		if (!rc && !((r.status == 206 && r.body.len == want) ||
			     (r.status == 200 && have == 0 && r.body.len == size)))
			rc = steward_err_set(err, STEWARD_EIO, "http_error", "",
					     "GET %s (bytes %" PRIu64 "-) from site %s answered %ld "
					     "with %zu bytes",
					     path, have, parent->code, r.status, r.body.len);
		if (!rc)
			rc = content_put_write(put, r.body.data, r.body.len, err);
		if (!rc) {
			have += r.body.len;
			*got += r.body.len;
		}
		http_resp_free(&r);
	}
	if (!rc && have < size)
		rc = steward_err_set(err, STEWARD_ECLOSED, "shutting_down", "", "stewardd is stopping");
	if (!rc) {
		rc = content_put_commit(put, NULL, err); /* checked against the hash here */
		put = NULL;
		if (!rc) {
			/* drops the partial's second name at once */
			have = 0;
			content_put_resume(s->content, hash, size, &have, &put, &e2);
		}
	}
	content_put_abort(put); /* a resumable put keeps what it has for the next try */
	return rc;
}

/* A small blob of unknown size (a manifest) from the parent, whole,
 * checked against its hash before it enters the content store. */
static int fetch_whole(struct site *s, const struct store_site *parent, const char *hash,
		       size_t max, uint64_t *got, struct steward_err *err)
{
	char path[sizeof(CONTENT_LINK_PATH) + CONTENT_HASH_HEX], url[STORE_SITE_URL_MAX + 128];
	struct signed_hdrs h;
	struct http_resp r;
	struct http_call c = {.method = "GET", .url = url, .headers = h.list,
			      .timeout_ms = HIER_CALL_MS, .max_response = max};
	int rc;

	snprintf(path, sizeof(path), CONTENT_LINK_PATH "%s", hash);
	snprintf(url, sizeof(url), "%s%s", parent->url, path);
	sign_headers(s, "GET", path, (uint64_t)time_now_ms(), NULL, 0, &h);
	http_resp_init(&r);
	rc = http_call(&c, &r, err);
	if (!rc && r.status != 200)
		rc = steward_err_set(err, STEWARD_EIO, "http_error", "",
				     "GET %s from site %s answered %ld", path, parent->code,
				     r.status);
	if (!rc) {
		char stored[CONTENT_HASH_HEX + 1];

		*got += r.body.len;
		rc = content_store_put_buf(s->content, r.body.data, r.body.len, hash, stored, err);
	}
	http_resp_free(&r);
	return rc;
}

/* A package from above: its manifest (the parent's, signed with the
 * parent's key), then every file it lacks, then the package as this site's
 * agents check it (signed anew with this site's key). */
static void down_package(struct site *s, const struct store_down *row, json_t *b,
			 struct site_down_out *out)
{
	const char *name = json_string_value(json_object_get(b, "name"));
	const char *ver = json_string_value(json_object_get(b, "version"));
	const char *hash = json_string_value(json_object_get(b, "manifest"));
	const char *comment = json_string_value(json_object_get(b, "comment"));
	const char *by = json_string_value(json_object_get(b, "created_by"));
	int64_t bytes = json_integer_value(json_object_get(b, "bytes"));
	struct content_manifest m;
	struct steward_err err = {.code = ""};
	struct store_site parent;
	uint8_t pk[PROTO_PK_BYTES];
	char origin[PROTO_SITE_CODE_LEN + 1], path[PATH_MAX], *text = NULL;
	uint64_t got = 0, have;
	size_t len = 0, n_blobs = 0;

	memset(&m, 0, sizeof(m));
	if (site_swdist_package_here(s, name, ver, origin)) {
		if (origin[0])
			site_down_set(out, true, "applied", "%s", "");
		else
			site_down_set(out, true, "name_conflict", "a local package has this name at %s",
				      s->cfg.site_code);
		return;
	}
	if (bytes > s->cfg.package_max_bytes) {
		site_down_set(out, true, "refused",
			      "package_too_large: %lld bytes, more than package_max_bytes (%lld) here",
			      (long long)bytes, (long long)s->cfg.package_max_bytes);
		return;
	}
	if (s->store->ops->site_get(s->store, row->source, &parent) != 0 || !parent.attached ||
	    hex_decode(parent.public_key, pk, sizeof(pk)) != 0) {
		site_down_set(out, false, "waiting for content", "site %s is not attached above",
			      row->source);
		return;
	}
	/* said before the first transfer, which may be long */
	if (strcmp(row->state, "received") == 0)
		s->store->ops->down_update(s->store, row->seq, row->gen, "waiting for content",
					   "fetching it from the site above", false);
	if (!content_store_has(s->content, hash, &have) &&
	    fetch_whole(s, &parent, hash, CONTENT_MANIFEST_MAX, &got, &err)) {
		site_down_set(out, false, "waiting for content", "%s: %.400s", err.code, err.message);
		return;
	}
	if (content_store_path(s->content, hash, path, sizeof(path)) ||
	    file_read_all(path, CONTENT_MANIFEST_MAX, &text, &len)) {
		site_down_set(out, false, "waiting for content", "the manifest %s is not readable",
			      hash);
		return;
	}
	if (content_manifest_parse(text, len, pk, &m, &err) != 0 || strcmp(m.package, name) ||
	    strcmp(m.version, ver)) {
		site_down_set(out, true, "refused", "%s: %.400s",
			      err.code[0] ? err.code : "manifest_invalid",
			      err.code[0] ? err.message : "the manifest names another package");
		goto out;
	}
	for (size_t i = 0; i < m.n_entries; i++) {
		const struct content_entry *e = &m.entries[i];

		if (e->type != CONTENT_FILE ||
		    (content_store_has(s->content, e->hash, &have) && have == e->size))
			continue;
		if (fetch_blob_resumable(s, &parent, e->hash, e->size, &got, &err)) {
			site_down_set(out, false, "waiting for content", "%s: %.400s", err.code,
				      err.message);
			goto out;
		}
		n_blobs++;
	}
	if (site_swdist_package_from_above(s, &m, comment ? comment : "", by ? by : "",
					   row->origin, &err)) {
		site_down_set(out, false, "waiting for content", "%s: %.400s", err.code,
			      err.message);
		goto out;
	}
	log_info("hierarchy", "package_content_fetched",
		 "package=%s@%s files_fetched=%zu bytes_fetched=%" PRIu64 " from=%s", name, ver,
		 n_blobs, got, row->source);
	site_down_set(out, true, "applied", "%s", "");
out:
	free(text);
	content_manifest_clear(&m);
}

struct down_set {
	struct store_down *v;
	char **bodies;
	size_t n;
};

static int copy_down(const struct store_down *d, void *ctx)
{
	struct down_set *set = ctx;
	struct store_down *v = realloc(set->v, (set->n + 1) * sizeof(*v));
	char **b;

	if (!v)
		return -STEWARD_ENOMEM;
	set->v = v;
	b = realloc(set->bodies, (set->n + 1) * sizeof(*b));
	if (!b)
		return -STEWARD_ENOMEM;
	set->bodies = b;
	set->bodies[set->n] = strdup(d->body);
	if (!set->bodies[set->n])
		return -STEWARD_ENOMEM;
	set->v[set->n] = *d;
	set->v[set->n].body = set->bodies[set->n];
	set->n++;
	return 0;
}

static void down_set_free(struct down_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->bodies[i]);
	free(set->bodies);
	free(set->v);
	memset(set, 0, sizeof(*set));
}

/* One object from above; true when it is done with (it may free others). */
static bool down_one(struct site *s, const struct store_down *row)
{
	struct site_down_out out = {.done = false};
	json_t *b = json_loads(row->body, 0, NULL);

	if (!json_is_object(b))
		site_down_set(&out, true, "refused", "%s", "its body is not readable here");
	else if (strcmp(row->kind, "collection") == 0)
		site_collection_down(s, row, b, &out);
	else if (strcmp(row->kind, "package") == 0 && strcmp(row->op, "put") == 0)
		down_package(s, row, b, &out);
	else
		site_swdist_down(s, row, b, &out);
	json_decref(b);
	if (s->store->ops->down_update(s->store, row->seq, row->gen, out.state, out.detail,
				       out.done) != 0)
		return false;
	if (out.done && strcmp(row->state, out.state) != 0)
		log_info("hierarchy", "object_from_above",
			 "kind=%s name=\"%s\" op=%s origin=%s state=\"%s\" detail=\"%s\"", row->kind,
			 row->name, row->op, row->origin, out.state, out.detail);
	return out.done;
}

static void down_work(struct site *s)
{
	for (int pass = 0; pass < DOWN_PASSES && !atomic_load(&s->stopping); pass++) {
		struct down_set set = {0};
		bool progress = false;

		if (s->store->ops->down_list(s->store, NULL, NULL, false, copy_down, &set) != 0) {
			down_set_free(&set);
			return;
		}
		for (size_t i = 0; i < set.n && !atomic_load(&s->stopping); i++)
			progress |= down_one(s, &set.v[i]);
		down_set_free(&set);
		if (!progress)
			return;
	}
}

/* ---- how objects went, here and below ------------------------------------------------------ */

static int object_json(const struct store_site_object_row *o, void *ctx)
{
	return json_array_append_new(ctx, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "site", o->site,
						    "kind", o->kind, "name", o->name, "state",
						    o->state, "detail", o->detail, "updated",
						    time_json(o->updated)))
		   ? -STEWARD_ENOMEM
		   : 0;
}

static int down_json(const struct store_down *d, void *ctx)
{
	return json_array_append_new(ctx, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "kind",
						    d->kind, "name", d->name, "op", d->op, "from",
						    d->source, "origin", d->origin, "state",
						    d->state, "detail", d->detail, "updated",
						    time_json(d->updated)))
		   ? -STEWARD_ENOMEM
		   : 0;
}

/* GET /api/v1/hierarchy/objects[?kind=K&name=N]: how the objects this site
 * sent down went at each site below ("below"), and what came from above
 * and how it went here ("here"). */
enum http_result site_h_hierarchy_objects(struct http_req *req, void *app)
{
	struct site *s = app;
	const char *kind = http_req_query(req, "kind"), *name = http_req_query(req, "name");
	json_t *below = json_array(), *here = json_array();
	int rc = below && here ? 0 : -STEWARD_ENOMEM;

	if (kind && !*kind)
		kind = NULL;
	if (name && !*name)
		name = NULL;
	if (!rc)
		rc = s->store->ops->site_object_list(s->store, kind, name, object_json, below);
	if (!rc)
		rc = s->store->ops->down_list(s->store, kind, name, true, down_json, here);
	if (rc) {
		json_decref(below);
		json_decref(here);
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200, json_pack("{s:s,s:o,s:o}", "site", s->cfg.site_code, "below",
					   below, "here", here));
	return HTTP_DONE;
}

/* clientlink: the link each client is on (docs/slow-links.md).
 *
 * Every check-in may carry what the agent measured of its link
 * (throughput, round trip, whether the system calls it metered). The site
 * keeps the last measurement per client in the registry, classifies the
 * link from it and from the boundary the check-in's address falls in
 * (lib/core/linkclass.c), and tells the agent its class, the rate limit
 * for that class and how often to measure. The stored copy (clients.link)
 * is written through the check-in writer only when the class changes or
 * the throughput moves by a quarter, so a fleet in a steady state writes
 * nothing for it; a restart loses no more than the agents resend at their
 * next check-in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "site.h"

#define LINK_REWRITE_S		    3600 /* a new measurement of the same class: stored at most hourly */
#define LINK_PROBE_INTERVAL_DEFAULT 21600 /* what the agent assumes when told nothing */
#define LINK_PROBE_RETRY_DEFAULT    3600
#define LINK_PROBE_BYTES_DEFAULT    32768

static int boundary_class(struct site *s, const char *peer, bool *final)
{
	int i;

	*final = false;
	if (!peer || !s->cfg.n_boundaries)
		return 0;
	i = core_boundary_find(s->cfg.boundaries, s->cfg.n_boundaries, &peer, 1);
	if (i < 0)
		return 0;
	*final = s->cfg.boundaries[i].final;
	return s->cfg.boundaries[i].link_class;
}

static void thresholds(const struct site *s, struct core_link_thresholds *t)
{
	t->slow_kbps = s->cfg.client_link_slow_below;
	t->wan_kbps = s->cfg.client_link_wan_below;
	t->max_age = s->cfg.client_link_max_age;
}

static char *stored_json(const struct reg_link *l)
{
	char *out = NULL;

	if (asprintf(&out,
		     "{\"class\":\"%s\",\"source\":\"%s\",\"kbps\":%lld,\"rtt_ms\":%lld,"
		     "\"measured\":%lld,\"metered\":%s}",
		     core_link_class_name(l->cls),
		     core_link_source_name((enum core_link_source)l->source), (long long)l->kbps,
		     (long long)l->rtt_ms, (long long)l->measured,
		     l->metered ? "true" : "false") < 0)
		return NULL;
	return out;
}

int site_link_checkin(struct site *s, struct reg_client *c, const char *peer, bool local,
		      const struct proto_checkin_req *ci, int64_t now, char **store)
{
	struct core_link_thresholds t;
	struct core_link_obs o;
	enum core_link_source src;
	bool final, write;
	int bc = boundary_class(s, peer, &final), cls;
	struct reg_link *l = &c->link;

	*store = NULL;
	thresholds(s, &t);
	pthread_mutex_lock(&c->mu);
	if (ci->link.present) {
		if (ci->link.kbps > 0) {
			l->kbps = ci->link.kbps;
			l->measured = now - (ci->link.age < now ? ci->link.age : 0);
		}
		if (ci->link.rtt_ms > 0)
			l->rtt_ms = ci->link.rtt_ms;
		l->metered = ci->link.metered;
	}
	o.kbps = l->kbps;
	o.rtt_ms = l->rtt_ms;
	o.measured = l->measured;
	o.metered = l->metered;
	o.local = local;
	cls = core_link_classify(bc, final, &o, now, &t, &src);
	l->cls = (uint8_t)cls;
	l->source = (uint8_t)src;
	/* worth a write: a new class or source, the throughput moved by a
	 * quarter, or an hour since a measurement of the same was stored */
	write = l->written == 0
		    ? (ci->link.present || cls != CORE_LC_LAN)
		    : (l->written_cls != l->cls || l->written_source != l->source ||
		       l->kbps * 4 < l->written_kbps * 3 || l->kbps * 4 > l->written_kbps * 5 ||
		       (ci->link.present && now - l->written >= LINK_REWRITE_S));
	if (write) {
		*store = stored_json(l);
		if (*store) {
			l->written = now;
			l->written_kbps = l->kbps;
			l->written_cls = l->cls;
			l->written_source = l->source;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return cls;
}

static int64_t rate_limit(const struct site *s, int cls)
{
	switch (cls) {
	case CORE_LC_WAN:
		return s->cfg.client_rate_limit_wan;
	case CORE_LC_SLOW:
		return s->cfg.client_rate_limit_slow;
	case CORE_LC_METERED:
		return s->cfg.client_rate_limit_metered;
	default:
		return 0;
	}
}

int site_link_reply(struct site *s, struct reg_client *c, bool deferred, struct buf *out)
{
	int cls, src;
	int64_t kbps, rtt, limit;

	pthread_mutex_lock(&c->mu);
	cls = c->link.cls ? c->link.cls : CORE_LC_LAN;
	src = c->link.source;
	kbps = c->link.kbps;
	rtt = c->link.rtt_ms;
	pthread_mutex_unlock(&c->mu);
	limit = rate_limit(s, cls);
	if (cls == CORE_LC_LAN && !limit && !deferred &&
	    s->cfg.client_link_probe_interval == LINK_PROBE_INTERVAL_DEFAULT &&
	    s->cfg.client_link_probe_retry == LINK_PROBE_RETRY_DEFAULT &&
	    s->cfg.client_link_probe_bytes == LINK_PROBE_BYTES_DEFAULT)
		return 0;
	return buf_printf(
	    out,
	    ",\"link\":{\"class\":\"%s\",\"source\":\"%s\",\"kbps\":%lld,"
	    "\"rtt_ms\":%lld,\"rate_limit_kbps\":%lld,\"probe_interval\":%lld,"
	    "\"probe_retry\":%lld,\"probe_bytes\":%lld,\"deferred\":%s}",
	    core_link_class_name(cls), core_link_source_name((enum core_link_source)src),
	    (long long)kbps, (long long)rtt, (long long)limit,
	    (long long)s->cfg.client_link_probe_interval, (long long)s->cfg.client_link_probe_retry,
	    (long long)s->cfg.client_link_probe_bytes, deferred ? "true" : "false");
}

int site_link_describe(struct reg_client *c, char *out, size_t outsz)
{
	int cls;
	enum core_link_source src;
	int64_t kbps;

	pthread_mutex_lock(&c->mu);
	cls = c->link.cls ? c->link.cls : CORE_LC_LAN;
	src = (enum core_link_source)c->link.source;
	kbps = c->link.kbps;
	pthread_mutex_unlock(&c->mu);
	core_link_describe_class(cls, src, kbps, out, outsz);
	return cls;
}

static int source_parse(const char *s)
{
	for (int i = CORE_LS_DEFAULT; i <= CORE_LS_LOCAL; i++)
		if (strcmp(s, core_link_source_name((enum core_link_source)i)) == 0)
			return i;
	return CORE_LS_DEFAULT;
}

void site_link_restore(struct reg_link *l, const char *text)
{
	json_t *o;
	const char *cls, *src;

	if (!text || !text[0])
		return;
	o = json_loads(text, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return;
	}
	cls = json_string_value(json_object_get(o, "class"));
	src = json_string_value(json_object_get(o, "source"));
	l->cls = (uint8_t)(cls ? core_link_class_parse(cls, strlen(cls)) : 0);
	l->source = (uint8_t)(src ? source_parse(src) : CORE_LS_DEFAULT);
	l->kbps = json_integer_value(json_object_get(o, "kbps"));
	l->rtt_ms = json_integer_value(json_object_get(o, "rtt_ms"));
	l->measured = json_integer_value(json_object_get(o, "measured"));
	l->metered = json_is_true(json_object_get(o, "metered"));
	l->written = l->measured > 0 ? l->measured : 1;
	l->written_kbps = l->kbps;
	l->written_cls = l->cls;
	l->written_source = l->source;
	json_decref(o);
}

json_t *site_link_json(const char *stored)
{
	json_t *o;
	const char *cls, *src;
	char text[128];

	if (!stored || !stored[0])
		return NULL;
	o = json_loads(stored, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	cls = json_string_value(json_object_get(o, "class"));
	src = json_string_value(json_object_get(o, "source"));
	core_link_describe_class(cls ? core_link_class_parse(cls, strlen(cls)) : CORE_LC_LAN,
				 (enum core_link_source)(src ? source_parse(src) : 0),
				 json_integer_value(json_object_get(o, "kbps")), text,
				 sizeof(text));
	json_object_set_new(o, "text", json_string(text));
	return o;
}

bool site_link_policy_body(struct http_req *req, json_t *body, struct core_link_policy *p)
{
	json_t *j = json_object_get(body, "links"), *d = json_object_get(body, "link_deadline");
	char msg[256];

	core_link_policy_default(p);
	if (d && !json_is_null(d)) {
		if (!json_is_integer(d) || json_integer_value(d) < 0 ||
		    json_integer_value(d) > INT64_C(1) << 40) {
			reply_error(req, 400, "bad_link_policy",
				    "a time, e.g. --link-deadline 2027-01-15",
				    "field 'link_deadline' must be a time in Unix seconds");
			return false;
		}
		p->deadline = json_integer_value(d);
	}
	if (!j || json_is_null(j))
		return true;
	if (!json_is_string(j) ||
	    core_link_policy_parse(json_string_value(j), p, msg, sizeof(msg)) != 0) {
		reply_error(
		    req, 400, "bad_link_policy",
		    "e.g. --links slow=defer,metered=never (classes lan, wan, slow, metered; "
		    "actions download, defer, download-in-window, never)",
		    "field 'links': %s", json_is_string(j) ? msg : "must be a string");
		return false;
	}
	return true;
}

void site_link_policy_json(json_t *o, const struct core_link_policy *p)
{
	char text[CORE_LINK_POLICY_TEXT_MAX + 1];

	core_link_policy_format(p, text, sizeof(text));
	json_object_set_new(o, "links", json_string(text));
	json_object_set_new(o, "link_deadline", p->deadline ? time_json(p->deadline) : json_null());
}

/* GET /probe: client_link_probe_bytes of bytes that do not compress, for
 * the agent to time. Anyone may fetch it (it is no bigger than a page and
 * says nothing); agents fetch it only when they have no recent measurement. */
#define PROBE_MAX (1024 * 1024)
static uint8_t probe_data[PROBE_MAX];
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe_fill(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < PROBE_MAX; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(probe_data + i, &x, 8);
	}
}

enum http_result site_h_probe(struct http_req *req, void *app)
{
	struct site *s = app;
	int64_t n = s->cfg.client_link_probe_bytes;

	pthread_once(&probe_once, probe_fill);
	if (n < 1 || n > PROBE_MAX)
		n = PROBE_MAX;
	http_reply_header(req, "Cache-Control", "no-store");
	http_reply(req, 200, "application/octet-stream", (const char *)probe_data, (size_t)n);
	return HTTP_DONE;
}

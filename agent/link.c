/* link: what this agent knows of its link to the site (docs/slow-links.md).
 *
 * The site decides a client's link class from the boundary its address is
 * in and from what the agent measured, so the agent measures: passively
 * from its downloads (swdist_fetch.c) and the time to the first byte of every
 * exchange with the site (the round trip), and with a small probe (GET
 * /probe from the management point, client_link_probe_bytes) only when it
 * has no recent measurement, or when something waits for a faster link and
 * the last probe is older than client_link_probe_retry, so that a laptop
 * back on the office LAN is served at its next check-in. The measurement
 * lives in STATE_DIR/link.json so a restart keeps it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "steward/net.h"

#include "agent.h"

#define LINK_FILE	       "link.json"
#define LINK_FILE_MAX	       4096
#define LINK_MIN_BYTES	       (16 * 1024) /* smaller transfers are latency, not throughput */
#define LINK_MIN_US	       1000
#define PROBE_INTERVAL_DEFAULT 21600
#define PROBE_RETRY_DEFAULT    3600
#define PROBE_BYTES_DEFAULT    32768
#define PROBE_BYTES_MAX	       (1024 * 1024)
#define PROBE_PATH	       "/probe"

static void link_path(const struct agent *ag, char *out, size_t n)
{
	snprintf(out, n, "%s/" LINK_FILE, ag->state_dir);
}

static void set_defaults(struct agent_link *l)
{
	snprintf(l->cls, sizeof(l->cls), "lan");
	l->text[0] = '\0';
	l->rate_kbps = 0;
	l->probe_interval = PROBE_INTERVAL_DEFAULT;
	l->probe_retry = PROBE_RETRY_DEFAULT;
	l->probe_bytes = PROBE_BYTES_DEFAULT;
	l->deferred = false;
}

static void link_save(struct agent *ag)
{
	struct agent_link *l = &ag->link;
	char path[PATH_MAX + 16], text[512];
	int n;

	link_path(ag, path, sizeof(path));
	n = snprintf(text, sizeof(text),
		     "{\"kbps\":%lld,\"rtt_ms\":%lld,\"measured\":%lld,\"probed\":%lld,"
		     "\"via\":\"%s\",\"class\":\"%s\",\"rate_kbps\":%lld,\"deferred\":%s,"
		     "\"waiting\":%s,\"probe_interval\":%lld,\"probe_retry\":%lld,"
		     "\"probe_bytes\":%lld}\n",
		     (long long)l->kbps, (long long)l->rtt_ms, (long long)l->measured,
		     (long long)l->probed, l->via, l->cls, (long long)l->rate_kbps,
		     l->deferred ? "true" : "false", l->waiting ? "true" : "false",
		     (long long)l->probe_interval, (long long)l->probe_retry,
		     (long long)l->probe_bytes);
	if (n > 0 && (size_t)n < sizeof(text) && file_write_atomic(path, text, (size_t)n, 0600))
		log_warn("agent", "link_save_failed", "path=%s", path);
}

static int64_t int_in(json_t *o, const char *k, int64_t lo, int64_t hi, int64_t dflt)
{
	json_t *v = json_object_get(o, k);
	int64_t x;

	if (!json_is_integer(v))
		return dflt;
	x = json_integer_value(v);
	return x < lo || x > hi ? dflt : x;
}

static void str_in(json_t *o, const char *k, char *out, size_t n, const char *dflt)
{
	const char *v = json_string_value(json_object_get(o, k));

	snprintf(out, n, "%s", v && strlen(v) < n ? v : dflt);
}

void link_open(struct agent *ag)
{
	struct agent_link *l = &ag->link;
	char path[PATH_MAX + 16], *data = NULL;
	size_t len = 0;
	json_t *o;
	bool metered = l->metered;

	memset(l, 0, sizeof(*l));
	l->metered = metered;
	set_defaults(l);
	link_path(ag, path, sizeof(path));
	if (file_read_all(path, LINK_FILE_MAX, &data, &len) != 0)
		return;
	o = json_loadb(data, len, 0, NULL);
	free(data);
	if (!json_is_object(o)) {
		log_warn("agent", "link_file_ignored", "path=%s message=\"not a JSON object\"",
			 path);
		json_decref(o);
		return;
	}
	l->kbps = int_in(o, "kbps", 0, PROTO_LINK_KBPS_MAX, 0);
	l->rtt_ms = int_in(o, "rtt_ms", 0, PROTO_LINK_RTT_MAX, 0);
	l->measured = int_in(o, "measured", 0, INT64_C(1) << 40, 0);
	l->probed = int_in(o, "probed", 0, INT64_C(1) << 40, 0);
	str_in(o, "via", l->via, sizeof(l->via), "");
	str_in(o, "class", l->cls, sizeof(l->cls), "lan");
	l->rate_kbps = int_in(o, "rate_kbps", 0, PROTO_LINK_KBPS_MAX, 0);
	l->deferred = json_is_true(json_object_get(o, "deferred"));
	l->waiting = json_is_true(json_object_get(o, "waiting"));
	/* what the site said last, until it says again */
	l->probe_interval = int_in(o, "probe_interval", 10, 30 * 86400, PROBE_INTERVAL_DEFAULT);
	l->probe_retry = int_in(o, "probe_retry", 10, 86400, PROBE_RETRY_DEFAULT);
	l->probe_bytes = int_in(o, "probe_bytes", 4096, PROBE_BYTES_MAX, PROBE_BYTES_DEFAULT);
	json_decref(o);
}

void link_changed(struct agent *ag)
{
	link_save(ag);
}

void link_rtt(struct agent *ag, int64_t us_sent, int64_t us_first_byte)
{
	/* from the request sent to the first byte of the answer: one round
	 * trip and the site's work, which for a probe or a check-in is small */
	if (us_sent > 0 && us_first_byte > us_sent) {
		int64_t ms = (us_first_byte - us_sent) / 1000;

		ag->link.rtt_ms = ms > 0 ? (ms < PROTO_LINK_RTT_MAX ? ms : PROTO_LINK_RTT_MAX) : 1;
	}
}

void link_observe(struct agent *ag, uint64_t bytes, int64_t us, bool limited, const char *via)
{
	struct agent_link *l = &ag->link;
	int64_t kbps;

	if (limited || bytes < LINK_MIN_BYTES)
		return;
	/* a body faster than the clock can tell: at least this fast */
	if (us < LINK_MIN_US)
		us = LINK_MIN_US;
	kbps = (int64_t)(bytes * 8 * 1000 / (uint64_t)us);
	if (kbps < 1)
		kbps = 1;
	if (kbps > PROTO_LINK_KBPS_MAX)
		kbps = PROTO_LINK_KBPS_MAX;
	l->kbps = kbps;
	l->measured = time_now_s();
	snprintf(l->via, sizeof(l->via), "%s", via);
	log_info("agent", "link_measured", "kbps=%lld rtt_ms=%lld via=%s bytes=%llu ms=%lld",
		 (long long)kbps, (long long)l->rtt_ms, via, (unsigned long long)bytes,
		 (long long)(us / 1000));
	link_save(ag);
}

static bool probe_due(const struct agent *ag, int64_t now, const char **why)
{
	const struct agent_link *l = &ag->link;

	if (!l->measured) {
		*why = "no measurement yet";
		return true;
	}
	if (now - l->measured >= l->probe_interval) {
		*why = "the last measurement is old";
		return true;
	}
	if ((l->deferred || l->waiting) && now - l->probed >= l->probe_retry &&
	    now - l->measured >= l->probe_retry) {
		*why = "something waits for a faster link";
		return true;
	}
	return false;
}

void link_before_checkin(struct agent *ag)
{
	struct agent_link *l = &ag->link;
	struct http_call call;
	struct http_resp resp;
	struct steward_err err = {.code = ""};
	char url[AGENT_URL_MAX + 32];
	int64_t now = time_now_s(), us;
	const char *why = "";
	long timeout = ag->http_timeout_ms;
	int rc;

	if (!ag->st.client_id[0] || !probe_due(ag, now, &why))
		return;
	if (ag->deadline_ms) {
		int64_t left = ag->deadline_ms - time_now_ms();

		/* leave the check-in at least half of what is left */
		if (left / 2 < timeout)
			timeout = (long)(left / 2);
		if (timeout < 1000)
			return;
	}
	snprintf(url, sizeof(url), "%s" PROBE_PATH, ag->server);
	http_resp_init(&resp);
	call = (struct http_call){
	    .method = "GET",
	    .url = url,
	    .timeout_ms = timeout,
	    .max_response = (size_t)l->probe_bytes + 4096,
	};
	l->probed = now;
	log_debug("agent", "link_probe", "url=%s why=\"%s\"", url, why);
	rc = http_call(&call, &resp, &err);
	/* the body's time, from its first byte to its last: the round trip and
	 * the site's work before it are not the link's rate */
	us = resp.us_total - resp.us_starttransfer;
	link_rtt(ag, resp.us_pretransfer, resp.us_starttransfer);
	if (!rc && resp.status == 200) {
		link_observe(ag, resp.body.len, us, false, "probe");
	} else if (rc == -STEWARD_ETIMEDOUT && resp.body.len >= LINK_MIN_BYTES) {
		/* what arrived in the time is the measurement: a slow link */
		link_observe(ag, resp.body.len, us > 0 ? us : timeout * 1000, false, "probe");
	} else {
		log_warn("agent", "link_probe_failed", "url=%s status=%ld message=\"%s\"", url,
			 resp.status, rc ? err.message : "no probe there (an older site?)");
		link_save(ag);
	}
	http_resp_free(&resp);
}

void link_report(const struct agent *ag, struct proto_link_report *r)
{
	const struct agent_link *l = &ag->link;
	int64_t now = time_now_s();

	memset(r, 0, sizeof(*r));
	if (!l->kbps && !l->rtt_ms && !l->metered)
		return;
	r->present = true;
	r->kbps = l->kbps;
	r->rtt_ms = l->rtt_ms;
	r->age = l->measured && now > l->measured ? now - l->measured : 0;
	r->metered = l->metered;
	snprintf(r->via, sizeof(r->via), "%s", l->via);
}

void link_policy(struct agent *ag, json_t *reply)
{
	struct agent_link *l = &ag->link;
	json_t *o = json_object_get(reply, "link");
	char before[16];
	int64_t kbps;

	snprintf(before, sizeof(before), "%s", l->cls);
	set_defaults(l);
	if (json_is_object(o)) {
		str_in(o, "class", l->cls, sizeof(l->cls), "lan");
		if (!core_link_class_parse(l->cls, strlen(l->cls)))
			snprintf(l->cls, sizeof(l->cls), "lan");
		l->rate_kbps = int_in(o, "rate_limit_kbps", 0, PROTO_LINK_KBPS_MAX, 0);
		l->probe_interval =
		    int_in(o, "probe_interval", 10, 30 * 86400, PROBE_INTERVAL_DEFAULT);
		l->probe_retry = int_in(o, "probe_retry", 10, 86400, PROBE_RETRY_DEFAULT);
		l->probe_bytes =
		    int_in(o, "probe_bytes", 4096, PROBE_BYTES_MAX, PROBE_BYTES_DEFAULT);
		l->deferred = json_is_true(json_object_get(o, "deferred"));
		kbps = int_in(o, "kbps", 0, PROTO_LINK_KBPS_MAX, 0);
		{
			const char *src = json_string_value(json_object_get(o, "source"));

			if (src && strcmp(src, "measured") == 0 && kbps > 0)
				core_link_describe_class(
				    core_link_class_parse(l->cls, strlen(l->cls)), CORE_LS_MEASURED,
				    kbps, l->text, sizeof(l->text));
			else
				snprintf(l->text, sizeof(l->text), "%s link (%.40s)", l->cls,
					 src ? src : "the site says so");
		}
	} else {
		snprintf(l->text, sizeof(l->text), "lan link");
	}
	if (strcmp(before, l->cls) != 0)
		log_info("agent", "link_class", "class=%s was=%s text=\"%s\" rate_limit_kbps=%lld",
			 l->cls, before, l->text, (long long)l->rate_kbps);
	link_save(ag);
}

uint64_t link_rate_bps(const struct agent *ag)
{
	return ag->link.rate_kbps > 0 ? (uint64_t)ag->link.rate_kbps * 1000 / 8 : 0;
}

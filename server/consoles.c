/* consoles: the stewardctl copies that call this site, by version.
 *
 * Every admin request names its program's version (Steward-Version);
 * the site keeps the last 30 days of (admin, version, address) in memory
 * and in the setting "consoles" (written at most once an hour per
 * console), so `stewardctl site show` lists the consoles seen lately and
 * stale remote consoles are visible before they meet a site that refuses
 * them. A console the site refuses for its protocol or API version is
 * listed too, marked refused with the reason, once its admin token
 * checked out (auth.c): it cannot call `site show` itself, so this list
 * is where an administrator finds it.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "site.h"

#define CONSOLES_MAX	    256
#define CONSOLE_WINDOW_S    (30 * 86400)
#define CONSOLE_WRITE_EVERY 3600
#define CONSOLES_SETTING    "consoles"
#define CONSOLES_TEXT_MAX   (96 * 1024)
#define CONSOLE_REASON_MAX  160

struct console {
	char admin[65];
	char version[PROTO_VERSION_MAX + 1];
	char protocol[24];
	char peer[64];
	int64_t first, last;
	char refused[CONSOLE_REASON_MAX]; /* why the site refuses it; "" accepted */
};

struct consoles {
	pthread_mutex_t mu;
	struct console v[CONSOLES_MAX];
	size_t n;
	int64_t written; /* when the setting was last written */
};

static void copy_field(char *dst, size_t dstsz, const char *src)
{
	snprintf(dst, dstsz, "%s", src && *src && str_printable(src) ? src : "unknown");
}

int site_consoles_load(struct site *s)
{
	struct consoles *c = calloc(1, sizeof(*c));
	char *text = malloc(CONSOLES_TEXT_MAX);
	json_t *a, *o;
	size_t i;

	if (!c || !text) {
		free(c);
		free(text);
		return -STEWARD_ENOMEM;
	}
	pthread_mutex_init(&c->mu, NULL);
	if (s->store->ops->setting_get(s->store, CONSOLES_SETTING, text, CONSOLES_TEXT_MAX) == 0 &&
	    (a = json_loads(text, 0, NULL))) {
		json_array_foreach(a, i, o)
		{
			struct console *k;

			if (c->n == CONSOLES_MAX)
				break;
			k = &c->v[c->n++];
			copy_field(k->admin, sizeof(k->admin), json_string_value(json_object_get(o, "admin")));
			copy_field(k->version, sizeof(k->version),
				   json_string_value(json_object_get(o, "version")));
			copy_field(k->protocol, sizeof(k->protocol),
				   json_string_value(json_object_get(o, "protocol")));
			copy_field(k->peer, sizeof(k->peer), json_string_value(json_object_get(o, "address")));
			k->first = json_integer_value(json_object_get(o, "first"));
			k->last = json_integer_value(json_object_get(o, "last"));
			if (json_is_true(json_object_get(o, "refused")))
				copy_field(k->refused, sizeof(k->refused),
					   json_string_value(json_object_get(o, "reason")));
		}
		json_decref(a);
	}
	free(text);
	s->consoles = c;
	return 0;
}

void site_consoles_free(struct site *s)
{
	if (!s->consoles)
		return;
	pthread_mutex_destroy(&s->consoles->mu);
	free(s->consoles);
	s->consoles = NULL;
}

/* Caller holds the lock: the consoles of the last 30 days as JSON. */
static json_t *consoles_json(const struct consoles *c, int64_t now)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < c->n; i++) {
		const struct console *k = &c->v[i];

		if (k->last < now - CONSOLE_WINDOW_S)
			continue;
		json_array_append_new(
		    a,
		    json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:b,s:s?}", "admin", k->admin, "version",
			      k->version, "protocol", k->protocol, "address", k->peer, "first",
			      (json_int_t)k->first, "last", (json_int_t)k->last, "refused",
			      k->refused[0] != '\0', "reason", k->refused[0] ? k->refused : NULL));
	}
	return a;
}

void site_console_seen(struct site *s, struct http_req *req, const char *admin, const char *refused)
{
	struct consoles *c = s->consoles;
	const char *version = http_req_header(req, PROTO_H_VERSION);
	const char *protocol = http_req_header(req, PROTO_H_PROTOCOL);
	char v[PROTO_VERSION_MAX + 1], pr[24], peer[64];
	struct console *k = NULL;
	int64_t now = time_now_s();
	char *text = NULL;

	if (!c)
		return;
	copy_field(v, sizeof(v), version && strlen(version) <= PROTO_VERSION_MAX ? version : NULL);
	copy_field(pr, sizeof(pr), protocol && strlen(protocol) < sizeof(pr) ? protocol : NULL);
	copy_field(peer, sizeof(peer), http_req_peer(req));
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n && !k; i++)
		if (!strcmp(c->v[i].admin, admin) && !strcmp(c->v[i].version, v) &&
		    !strcmp(c->v[i].peer, peer))
			k = &c->v[i];
	if (!k) {
		size_t at = c->n;

		if (c->n == CONSOLES_MAX) { /* the one seen longest ago makes room */
			at = 0;
			for (size_t i = 1; i < c->n; i++)
				if (c->v[i].last < c->v[at].last)
					at = i;
		} else {
			c->n++;
		}
		k = &c->v[at];
		memset(k, 0, sizeof(*k));
		snprintf(k->admin, sizeof(k->admin), "%s", admin);
		snprintf(k->version, sizeof(k->version), "%s", v);
		snprintf(k->peer, sizeof(k->peer), "%s", peer);
		k->first = now;
		c->written = 0; /* a new console is written at once */
		log_info("site", "console_seen", "admin=%s version=%s address=%s", admin, v, peer);
	}
	snprintf(k->protocol, sizeof(k->protocol), "%s", pr);
	k->last = now;
	if (strncmp(k->refused, refused ? refused : "", sizeof(k->refused) - 1) != 0) {
		/* a change of state is written at once: a refused console is
		 * what an administrator looks for */
		snprintf(k->refused, sizeof(k->refused), "%s", refused ? refused : "");
		c->written = 0;
		if (refused)
			log_warn("site", "console_refused",
				 "admin=%s version=%s address=%s reason=\"%s\"", admin, v, peer,
				 k->refused);
	}
	if (now - c->written >= CONSOLE_WRITE_EVERY) {
		json_t *a = consoles_json(c, now);

		text = a ? json_dumps(a, JSON_COMPACT) : NULL;
		json_decref(a);
		c->written = now;
	}
	pthread_mutex_unlock(&c->mu);
	if (text && strlen(text) < CONSOLES_TEXT_MAX &&
	    s->store->ops->setting_set(s->store, CONSOLES_SETTING, text) != 0)
		log_warn("site", "consoles_not_saved", "reason=\"the database failed\"");
	free(text);
}

void site_consoles_show(struct site *s, json_t *site_obj)
{
	struct consoles *c = s->consoles;
	json_t *a;

	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	a = consoles_json(c, time_now_s());
	pthread_mutex_unlock(&c->mu);
	if (a)
		json_object_set_new(site_obj, "consoles", a);
}

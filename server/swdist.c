/* swdist: packages, programs, advertisements, their status, and the policy
 * a check-in hands each client.
 *
 * Definitions are few (hundreds) and read on every check-in of a targeted
 * client, so the site keeps them in memory (struct swd) and writes through
 * to the store; the store is the truth at start. Lock order: swd->lk, then
 * the collections mutex (site_colls_lock), never the other way round.
 * docs/internals/swdist.md describes the API and the policy format.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "site.h"
#include "collections.h"

#define SWD_STATUS_MAX_MSGS 256      /* messages in one agent status report */
#define SWD_HISTORY_SHOWN   20       /* history rows per advert in `status client` */
#define SWD_TOKEN_TTL	    (6 * 3600) /* content tokens; longer than any sane download */
#define SWD_REQ_BUDGET	    100000   /* work units for one requirement evaluation */
#define SWD_COMMAND_MAX	    4096
#define SWD_ENV_MAX	    64

#define REMEDY_SWD "see docs/software-distribution.md"

struct swd_program {
	struct store_program p; /* p.spec points at spec_text */
	char *spec_text;
	json_t *spec;
	struct core_query *req; /* requirement, NULL when none */
};

struct swd {
	pthread_rwlock_t lk;
	struct store_package *pkgs;
	size_t n_pkgs, cap_pkgs;
	struct swd_program *progs;
	size_t n_progs, cap_progs;
	struct store_advert *ads;
	size_t n_ads, cap_ads;
	atomic_bool paused;
	atomic_int n_enabled; /* enabled adverts: 0 lets a check-in skip the lock */
	char pause_reason[PROTO_REASON_MAX + 1];
	/* distribution points: URL and the boundaries that prefer it */
	struct swd_dp {
		char url[257];
		char pin[TLS_PIN_HEX + 1]; /* "" when not pinned */
		struct core_boundary b[8];
		size_t nb;
	} dps[CONF_LIST_MAX + 1];
	size_t n_dps;
	int own_dp; /* index of this stewardd's own DP in dps, or -1 */
	/* ,"dp_pins":{ORIGIN:PIN,...} for check-in replies ("" when none is
	 * pinned): what agents verify distribution points' HTTPS with */
	char dp_pins[(CONF_LIST_MAX + 1) * (TLS_ORIGIN_MAX + TLS_PIN_HEX + 8) + 16];
};

static const char *const status_states[] = {
    "received",	   "waiting",	     "download_started", "download_finished",
    "download_failed", "verification_failed", "running",	  "succeeded",
    "succeeded_reboot", "failed",	     "timed_out",	  "expired",
};

/* ---- helpers ----------------------------------------------------------------------- */

static struct swd *swd_of(struct site *s)
{
	return s->swd;
}

/* Names of programs and advertisements: like collection names (letters,
 * digits, space . _ -) plus '+'. */
static bool swd_name_valid(const char *n)
{
	size_t len = n ? strlen(n) : 0;

	if (len < 1 || len > STORE_SWD_NAME_MAX || n[0] == ' ' || n[len - 1] == ' ')
		return false;
	for (; *n; n++)
		if (!(isalnum((unsigned char)*n) || strchr(" ._-+", *n)))
			return false;
	return true;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	void *p;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	p = realloc(*arr, nc * elem);
	if (!p)
		return -STEWARD_ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

static struct store_package *pkg_by_rid(struct swd *w, int64_t rid)
{
	for (size_t i = 0; i < w->n_pkgs; i++)
		if (w->pkgs[i].rid == rid)
			return &w->pkgs[i];
	return NULL;
}

static struct store_package *pkg_find(struct swd *w, const char *name, const char *version)
{
	struct store_package *best = NULL;

	for (size_t i = 0; i < w->n_pkgs; i++) {
		struct store_package *p = &w->pkgs[i];
		if (strcasecmp(p->name, name))
			continue;
		if (version && *version) {
			if (strcmp(p->version, version) == 0)
				return p;
		} else if (!best || p->created > best->created ||
			   (p->created == best->created && p->rid > best->rid)) {
			best = p; /* newest */
		}
	}
	return best;
}

static struct swd_program *prog_by_rid(struct swd *w, int64_t rid)
{
	for (size_t i = 0; i < w->n_progs; i++)
		if (w->progs[i].p.rid == rid)
			return &w->progs[i];
	return NULL;
}

static struct swd_program *prog_find(struct swd *w, const char *name)
{
	for (size_t i = 0; i < w->n_progs; i++)
		if (strcasecmp(w->progs[i].p.name, name) == 0)
			return &w->progs[i];
	return NULL;
}

static struct store_advert *ad_find(struct swd *w, const char *name)
{
	for (size_t i = 0; i < w->n_ads; i++)
		if (strcasecmp(w->ads[i].name, name) == 0)
			return &w->ads[i];
	return NULL;
}

static struct store_advert *ad_by_rid(struct swd *w, int64_t rid)
{
	for (size_t i = 0; i < w->n_ads; i++)
		if (w->ads[i].rid == rid)
			return &w->ads[i];
	return NULL;
}

static void prog_clear(struct swd_program *p)
{
	free(p->spec_text);
	json_decref(p->spec);
	core_query_free(p->req);
	memset(p, 0, sizeof(*p));
}

/* Fill a cache entry from a stored program (its spec is JSON text). */
static int prog_load(struct swd_program *out, const struct store_program *sp)
{
	json_t *req;

	memset(out, 0, sizeof(*out));
	out->p = *sp;
	out->spec_text = strdup(sp->spec);
	out->spec = json_loads(sp->spec, 0, NULL);
	if (!out->spec_text || !json_is_object(out->spec)) {
		prog_clear(out);
		return -STEWARD_EINVAL;
	}
	out->p.spec = out->spec_text;
	req = json_object_get(out->spec, "requirement");
	if (json_is_string(req) && *json_string_value(req) &&
	    core_query_parse(json_string_value(req), &out->req, NULL) != 0)
		out->req = NULL; /* validated when created; a newer parser may differ */
	return 0;
}

static void recount_enabled(struct swd *w)
{
	int n = 0;

	for (size_t i = 0; i < w->n_ads; i++)
		n += w->ads[i].enabled;
	atomic_store(&w->n_enabled, n);
}

/* ---- loading ------------------------------------------------------------------------ */

static int load_pkg(const struct store_package *p, void *ctx)
{
	struct swd *w = ctx;

	if (grow((void **)&w->pkgs, &w->cap_pkgs, w->n_pkgs, sizeof(*w->pkgs)))
		return -STEWARD_ENOMEM;
	w->pkgs[w->n_pkgs++] = *p;
	return 0;
}

static int load_prog(const struct store_program *p, void *ctx)
{
	struct swd *w = ctx;

	if (grow((void **)&w->progs, &w->cap_progs, w->n_progs, sizeof(*w->progs)))
		return -STEWARD_ENOMEM;
	if (prog_load(&w->progs[w->n_progs], p)) {
		log_error("swdist", "program_unreadable", "name=\"%s\"", p->name);
		return 0;
	}
	w->n_progs++;
	return 0;
}

static int load_ad(const struct store_advert *a, void *ctx)
{
	struct swd *w = ctx;

	if (grow((void **)&w->ads, &w->cap_ads, w->n_ads, sizeof(*w->ads)))
		return -STEWARD_ENOMEM;
	w->ads[w->n_ads++] = *a;
	return 0;
}


static void dp_pins_text(struct swd *w)
{
	size_t used = 0;
	char origin[TLS_ORIGIN_MAX];

	w->dp_pins[0] = '\0';
	for (size_t i = 0; i < w->n_dps; i++) {
		int n;
		if (!w->dps[i].pin[0])
			site_trust_pin_get(w->dps[i].url, w->dps[i].pin); /* as it registered */
		if (!w->dps[i].pin[0] || tls_url_origin(w->dps[i].url, origin, sizeof(origin)) ||
		    strchr(origin, '"') || strchr(origin, '\\'))
			continue;
		n = snprintf(w->dp_pins + used, sizeof(w->dp_pins) - used, "%s\"%s\":\"%s\"",
			     used ? "," : ",\"dp_pins\":{", origin, w->dps[i].pin);
		if (n < 0 || (size_t)n >= sizeof(w->dp_pins) - used - 2)
			break;
		used += (size_t)n;
	}
	if (used)
		snprintf(w->dp_pins + used, sizeof(w->dp_pins) - used, "}");
}

void site_swdist_pins_changed(struct site *s)
{
	struct swd *w = swd_of(s);

	if (!w)
		return;
	pthread_rwlock_wrlock(&w->lk);
	dp_pins_text(w);
	pthread_rwlock_unlock(&w->lk);
}

int site_swdist_dp_pins(struct site *s, struct buf *b)
{
	struct swd *w = swd_of(s);
	int rc = 0;

	if (!w)
		return 0;
	pthread_rwlock_rdlock(&w->lk);
	if (w->dp_pins[0])
		rc = buf_puts(b, w->dp_pins);
	pthread_rwlock_unlock(&w->lk);
	return rc;
}

static void load_dps(struct swd *w, const struct site_config *c, unsigned port,
		     const char *own_pin)
{
	char tmp[512], one[160], inner[200], *save = NULL, *tok;
	uint8_t pin[TLS_PIN_BYTES];

	w->n_dps = 0;
	w->own_dp = -1;
	for (int i = 0; i < c->distribution_point.n && w->n_dps < CONF_LIST_MAX; i++) {
		struct swd_dp *d = &w->dps[w->n_dps];

		memset(d, 0, sizeof(*d));
		snprintf(tmp, sizeof(tmp), "%s", c->distribution_point.items[i]);
		tok = strtok_r(tmp, " \t", &save);
		if (!tok)
			continue;
		snprintf(d->url, sizeof(d->url), "%s", tok);
		for (size_t n = strlen(d->url); n > 0 && d->url[n - 1] == '/'; n--)
			d->url[n - 1] = '\0';
		while ((tok = strtok_r(NULL, " \t", &save)) && d->nb < 8) {
			if (strncmp(tok, "pin=", 4) == 0) {
				if (tls_pin_parse(tok + 4, pin) == 0)
					hex_encode(pin, sizeof(pin), d->pin);
				continue;
			}
			snprintf(one, sizeof(one), "%.120s DPX", tok);
			if (core_boundary_parse(one, &d->b[d->nb], inner, sizeof(inner)) == 0)
				d->nb++;
		}
		w->n_dps++;
	}
	if (c->role_mask & ROLE_DISTRIBUTION_POINT) {
		struct swd_dp *d = &w->dps[w->n_dps];

		memset(d, 0, sizeof(*d));
		site_self_url(c, port, d->url, sizeof(d->url));
		if (own_pin && tls_pin_parse(own_pin, pin) == 0)
			hex_encode(pin, sizeof(pin), d->pin);
		w->own_dp = (int)w->n_dps++;
	}
	dp_pins_text(w);
}

/* The pause of advertisements, from the settings. */
static void load_pause(struct site *s, struct swd *w)
{
	char v[PROTO_REASON_MAX + 1];

	if (s->store->ops->setting_get(s->store, "adverts_paused", v, sizeof(v)) == 0)
		atomic_store(&w->paused, strcmp(v, "1") == 0);
	if (s->store->ops->setting_get(s->store, "adverts_pause_reason", v, sizeof(v)) == 0)
		snprintf(w->pause_reason, sizeof(w->pause_reason), "%s", v);
}

int site_swdist_load(struct site *s)
{
	struct swd *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return -STEWARD_ENOMEM;
	pthread_rwlock_init(&w->lk, NULL);
	s->swd = w;
	rc = s->store->ops->package_list(s->store, load_pkg, w);
	if (!rc)
		rc = s->store->ops->program_list(s->store, load_prog, w);
	if (!rc)
		rc = s->store->ops->advert_list(s->store, load_ad, w);
	if (rc)
		return rc;
	load_pause(s, w);
	recount_enabled(w);
	load_dps(w, &s->cfg, s->cfg.listen_port, s->tls_pin);
	log_info("swdist", "loaded", "packages=%zu programs=%zu adverts=%zu paused=%d dps=%zu",
		 w->n_pkgs, w->n_progs, w->n_ads, (int)atomic_load(&w->paused), w->n_dps);
	return 0;
}

void site_swdist_reload(struct site *s)
{
	struct swd *w = swd_of(s);
	char reason[sizeof(w->pause_reason)];
	bool was;

	if (!w)
		return;
	was = atomic_load(&w->paused);
	pthread_rwlock_wrlock(&w->lk);
	load_pause(s, w);
	/* the reason is read under the lock: another reload may write it */
	snprintf(reason, sizeof(reason), "%s", w->pause_reason);
	pthread_rwlock_unlock(&w->lk);
	if (was != atomic_load(&w->paused))
		log_info("swdist", atomic_load(&w->paused) ? "adverts_paused" : "adverts_resumed",
			 "reason=\"%s\" by=\"the parent site\"", reason);
}

int site_swdist_refresh(struct site *s)
{
	struct swd *w = swd_of(s), fresh;
	struct store_package *op;
	struct swd_program *og;
	struct store_advert *oa;
	size_t ng;
	int rc;

	if (!w)
		return 0;
	/* read outside the lock (check-ins keep reading the old copy), then
	 * swap: the store serialises the writes, so a copy read after the
	 * announcement holds the announced change */
	memset(&fresh, 0, sizeof(fresh));
	rc = s->store->ops->package_list(s->store, load_pkg, &fresh);
	if (!rc)
		rc = s->store->ops->program_list(s->store, load_prog, &fresh);
	if (!rc)
		rc = s->store->ops->advert_list(s->store, load_ad, &fresh);
	if (rc) {
		for (size_t i = 0; i < fresh.n_progs; i++)
			prog_clear(&fresh.progs[i]);
		free(fresh.progs);
		free(fresh.pkgs);
		free(fresh.ads);
		return rc;
	}
	pthread_rwlock_wrlock(&w->lk);
	op = w->pkgs, og = w->progs, oa = w->ads, ng = w->n_progs;
	w->pkgs = fresh.pkgs, w->n_pkgs = fresh.n_pkgs, w->cap_pkgs = fresh.cap_pkgs;
	w->progs = fresh.progs, w->n_progs = fresh.n_progs, w->cap_progs = fresh.cap_progs;
	w->ads = fresh.ads, w->n_ads = fresh.n_ads, w->cap_ads = fresh.cap_ads;
	recount_enabled(w);
	pthread_rwlock_unlock(&w->lk);
	for (size_t i = 0; i < ng; i++)
		prog_clear(&og[i]);
	free(og);
	free(op);
	free(oa);
	return 0;
}

void site_swdist_listening(struct site *s, unsigned port)
{
	struct swd *w = swd_of(s);

	if (!w)
		return;
	pthread_rwlock_wrlock(&w->lk);
	load_dps(w, &s->cfg, port, s->tls_pin);
	pthread_rwlock_unlock(&w->lk);
	if (w->own_dp >= 0)
		log_info("swdist", "distribution_point", "url=%s", w->dps[w->own_dp].url);
}

void site_swdist_free(struct site *s)
{
	struct swd *w = s->swd;

	if (!w)
		return;
	for (size_t i = 0; i < w->n_progs; i++)
		prog_clear(&w->progs[i]);
	free(w->progs);
	free(w->pkgs);
	free(w->ads);
	pthread_rwlock_destroy(&w->lk);
	free(w);
	s->swd = NULL;
}

/* ---- content tokens ------------------------------------------------------------------ */

static void token_canon(const char *client_id, int64_t expires, char *out, size_t outsz)
{
	snprintf(out, outsz, "steward-content-v1\n%s\n%lld\n", client_id, (long long)expires);
}

int site_content_token(const struct proto_keypair *kp, const char *client_id, int64_t expires,
		       char *out, size_t outsz)
{
	char canon[96], sig[96];

	token_canon(client_id, expires, canon, sizeof(canon));
	proto_sign(kp, canon, sig);
	if ((size_t)snprintf(out, outsz, "v1.%s.%lld.%s", client_id, (long long)expires, sig) >=
	    outsz)
		return -STEWARD_ETOOBIG;
	return 0;
}

int site_content_token_check(const uint8_t pk[PROTO_PK_BYTES], const char *token, int64_t now,
			     char *client_id, size_t idsz)
{
	char id[PROTO_CLIENT_ID_HEX + 1], canon[96];
	const char *p = token, *dot;
	char *end = NULL;
	long long exp;

	if (!token || strncmp(p, "v1.", 3) != 0 || strlen(token) > 256)
		return -STEWARD_EINVAL;
	p += 3;
	dot = strchr(p, '.');
	if (!dot || dot - p != PROTO_CLIENT_ID_HEX)
		return -STEWARD_EINVAL;
	memcpy(id, p, PROTO_CLIENT_ID_HEX);
	id[PROTO_CLIENT_ID_HEX] = '\0';
	if (!proto_client_id_valid(id))
		return -STEWARD_EINVAL;
	errno = 0;
	exp = strtoll(dot + 1, &end, 10);
	if (errno || end == dot + 1 || *end != '.' || exp <= 0)
		return -STEWARD_EINVAL;
	token_canon(id, exp, canon, sizeof(canon));
	if (proto_verify(pk, canon, end + 1) != 0)
		return -STEWARD_EAUTH;
	if (exp < now)
		return -STEWARD_ETIMEDOUT;
	if (client_id)
		snprintf(client_id, idsz, "%s", id);
	return 0;
}

bool site_content_key(struct site *s, uint8_t pk[PROTO_PK_BYTES])
{
	/* a remote distribution point checks tokens with its site server's
	 * key, which dpsync.c learns from upstream */
	if (s->cfg.upstream && *s->cfg.upstream)
		return site_dpsync_site_key(s, pk);
	memcpy(pk, s->site_kp.pk, PROTO_PK_BYTES);
	return true;
}

/* ---- check-in policy --------------------------------------------------------------------- */

/* Distribution points for a client at addr: those whose boundaries hold
 * it first, then this site's own, then the rest (config order). */
static json_t *dps_for(struct swd *w, const char *addr)
{
	json_t *a = json_array();
	bool used[CONF_LIST_MAX + 1] = {false};
	const char *addrs[1] = {addr};

	for (size_t i = 0; i < w->n_dps; i++)
		if (w->dps[i].nb && addr && core_boundary_assign(w->dps[i].b, w->dps[i].nb, addrs, 1)) {
			json_array_append_new(a, json_string(w->dps[i].url));
			used[i] = true;
		}
	if (w->own_dp >= 0 && !used[w->own_dp]) {
		json_array_append_new(a, json_string(w->dps[w->own_dp].url));
		used[w->own_dp] = true;
	}
	for (size_t i = 0; i < w->n_dps; i++)
		if (!used[i])
			json_array_append_new(a, json_string(w->dps[i].url));
	return a;
}

json_t *site_swdist_dps(struct site *s, const char *peer)
{
	struct swd *w = swd_of(s);
	json_t *a;

	if (!w)
		return json_array();
	pthread_rwlock_rdlock(&w->lk);
	a = dps_for(w, peer);
	pthread_rwlock_unlock(&w->lk);
	return a;
}

static json_t *program_policy(const struct swd_program *pr)
{
	json_t *o = json_object();
	static const char *const keys[] = {"command", "workdir",      "user", "timeout",
					   "success_codes", "reboot_codes", "env", "run",
					   "min_free_mb"};

	json_object_set_new(o, "name", json_string(pr->p.name));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(pr->spec, keys[i]);
		if (v)
			json_object_set(o, keys[i], v);
	}
	return o;
}

/* Append this client's policy to the check-in reply under construction:
 * b holds an object's members so far (no closing brace). The caller
 * holds no lock. */
int site_swdist_policy(struct site *s, struct reg_client *c, const char *peer, struct buf *b)
{
	struct swd *w = swd_of(s);
	struct facts *f;
	struct coll_engine *e;
	struct coll_source src;
	struct coll_client cc;
	json_t *ads = NULL, *extra = NULL, *win = NULL;
	int64_t slot, now = time_now_s();
	bool have_cc = false;
	char *text = NULL, pk[PROTO_PK_BYTES * 2 + 1], tok[256];
	int rc = 0;

	if (!w)
		return 0;
	rc = buf_printf(b, ",\"adverts_paused\":%s", atomic_load(&w->paused) ? "true" : "false");
	if (rc || atomic_load(&w->n_enabled) == 0)
		return rc;
	ads = json_array();
	pthread_rwlock_rdlock(&w->lk);
	site_colls_lock(s, &f, &e);
	slot = facts_find(f, c->idhex);
	if (slot >= 0) {
		facts_source(f, &src);
		have_cc = src.client(src.ctx, (uint32_t)slot, &cc);
	}
	for (size_t i = 0; have_cc && i < w->n_ads; i++) {
		struct store_advert *a = &w->ads[i];
		struct swd_program *pr;
		struct store_package *pk_;
		char why[512] = "";
		bool met = true;
		json_t *o;

		if (!a->enabled || (a->expires && a->expires < now) ||
		    !coll_is_member(e, a->collection, (uint32_t)slot))
			continue;
		pr = prog_by_rid(w, a->program_rid);
		pk_ = pr ? pkg_by_rid(w, pr->p.package_rid) : NULL;
		if (!pk_)
			continue;
		if (pr->req && core_query_explain(pr->req, &cc.facts, SWD_REQ_BUDGET, why,
						  sizeof(why)) != 1)
			met = false;
		o = json_pack("{s:I,s:s,s:I,s:{s:s,s:s,s:s,s:I},s:o,s:I,s:I,s:I,s:I,s:b,s:s}", "id",
			      (json_int_t)a->rid, "name", a->name, "revision",
			      (json_int_t)a->revision, "package", "name", pk_->name, "version",
			      pk_->version, "manifest", pk_->manifest, "bytes",
			      (json_int_t)pk_->bytes, "program", program_policy(pr), "available",
			      (json_int_t)a->available, "mandatory", (json_int_t)a->mandatory,
			      "recurring", (json_int_t)a->recurring, "expires",
			      (json_int_t)a->expires, "requirements_met", met,
			      "requirements_reason", met ? "" : why);
		if (o && a->links[0]) {
			json_object_set_new(o, "links", json_string(a->links));
			if (a->link_deadline)
				json_object_set_new(o, "link_deadline",
						    json_integer(a->link_deadline));
		}
		if (o)
			json_array_append_new(ads, o);
	}
	/* mandatory advertisements start only inside the client's windows
	 * (lib/core/advert.c); a client without any gets no field. windows.c
	 * comes after the collections in the lock order. */
	if (json_array_size(ads) > 0)
		win = site_windows_for_client(s, e, (uint32_t)slot, now);
	site_colls_unlock(s);
	if (json_array_size(ads) > 0) {
		hex_encode(s->site_kp.pk, PROTO_PK_BYTES, pk);
		if (site_content_token(&s->site_kp, c->idhex, now + SWD_TOKEN_TTL, tok, sizeof(tok)))
			tok[0] = '\0';
		extra = json_pack("{s:s,s:s,s:o,s:O}", "site_key", pk, "content_token", tok, "dps",
				  dps_for(w, peer), "adverts", ads);
		if (extra && win && json_object_set(extra, "windows", win)) {
			json_decref(extra);
			extra = NULL;
			rc = -STEWARD_ENOMEM;
		}
	}
	pthread_rwlock_unlock(&w->lk);
	if (extra) {
		text = json_dumps(extra, JSON_COMPACT);
		/* splice the members of extra ({...}) after those already in b */
		if (!text)
			rc = -STEWARD_ENOMEM;
		else if (!(rc = buf_puts(b, ",")))
			rc = buf_append(b, text + 1, strlen(text) - 2);
	}
	free(text);
	json_decref(extra);
	json_decref(ads);
	json_decref(win);
	return rc;
}

/* ---- packages ------------------------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct content_entry *)a)->path,
		      ((const struct content_entry *)b)->path);
}

static json_t *package_json(struct swd *w, const struct store_package *p)
{
	json_t *progs = json_array();

	for (size_t i = 0; i < w->n_progs; i++)
		if (w->progs[i].p.package_rid == p->rid)
			json_array_append_new(progs, json_string(w->progs[i].p.name));
	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:o,s:s,s:s,s:o,s:s}", "name", p->name, "version",
			 p->version, "manifest", p->manifest, "bytes", (json_int_t)p->bytes,
			 "files", (json_int_t)p->files, "created", time_json(p->created),
			 "created_by", p->created_by, "comment", p->comment, "programs", progs,
			 "origin", p->origin);
}

/* One file-list entry of POST /api/v1/packages into e; replies 400 itself. */
static bool parse_entry(struct http_req *req, struct site *s, json_t *j, size_t i,
			struct content_entry *e)
{
	const char *type = json_string_value(json_object_get(j, "type"));
	const char *path = json_string_value(json_object_get(j, "path"));
	json_t *mode = json_object_get(j, "mode"), *size = json_object_get(j, "size");
	const char *hash = json_string_value(json_object_get(j, "hash"));
	const char *target = json_string_value(json_object_get(j, "target"));
	uint64_t have = 0;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(j) || !type || !path || !content_path_valid(path)) {
		reply_error(req, 400, "bad_request", "send entries made by stewardctl packages add",
			    "files[%zu]: needs a valid 'type' and a relative 'path' without '..'", i);
		return false;
	}
	snprintf(e->path, sizeof(e->path), "%s", path);
	if (strcmp(type, "link") == 0) {
		if (!target || !content_link_target_valid(path, target)) {
			reply_error(req, 400, "import_refused",
				    "links must be relative and stay inside the package",
				    "files[%zu] '%.200s': the link target leaves the package", i, path);
			return false;
		}
		e->type = CONTENT_LINK;
		snprintf(e->target, sizeof(e->target), "%s", target);
		return true;
	}
	if (!json_is_integer(mode) || json_integer_value(mode) < 0 ||
	    json_integer_value(mode) > 0777) {
		reply_error(req, 400, "bad_request", "modes are permission bits, 0 to 0777",
			    "files[%zu] '%.200s': bad 'mode'", i, path);
		return false;
	}
	e->mode = (unsigned)json_integer_value(mode);
	if (strcmp(type, "dir") == 0) {
		e->type = CONTENT_DIR;
		return true;
	}
	if (strcmp(type, "file") != 0 || !hash || !content_hash_valid(hash) ||
	    !json_is_integer(size) || json_integer_value(size) < 0) {
		reply_error(req, 400, "bad_request", "send entries made by stewardctl packages add",
			    "files[%zu] '%.200s': a file needs 'hash' (sha256 hex) and 'size'", i,
			    path);
		return false;
	}
	e->type = CONTENT_FILE;
	snprintf(e->hash, sizeof(e->hash), "%s", hash);
	e->size = (uint64_t)json_integer_value(size);
	if (!content_store_has(s->content, hash, &have) || have != e->size) {
		reply_error(req, 409, "content_missing",
			    "upload the file first (stewardctl packages add does this)",
			    "files[%zu] '%.200s': blob %s (%llu bytes) is not in the site's content "
			    "store",
			    i, path, hash, (unsigned long long)e->size);
		return false;
	}
	return true;
}

enum http_result site_h_packages_create(struct http_req *req, void *app)
{
	struct site *s = app;
	struct swd *w = swd_of(s);
	json_t *body = admin_body(req), *files;
	const char *name, *version, *comment;
	struct content_manifest m;
	struct store_package p;
	struct store_blob *blobs = NULL;
	struct steward_err err = {.code = ""};
	char *text = NULL;
	size_t len = 0, nb = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	memset(&p, 0, sizeof(p));
	if (!body)
		return HTTP_DONE;
	name = json_string_value(json_object_get(body, "name"));
	version = json_string_value(json_object_get(body, "version"));
	comment = json_string_value(json_object_get(body, "comment"));
	files = json_object_get(body, "files");
	if (!name || !content_pkg_name_valid(name) || !version ||
	    !content_pkg_version_valid(version)) {
		reply_error(req, 400, "bad_request",
			    "package names are 1-64 of A-Z a-z 0-9 . _ - +; versions 1-64 of those "
			    "and ~ :",
			    "'name' and 'version' must be a valid package name and version");
		goto out;
	}
	if (comment && (strlen(comment) > 256 || !str_printable(comment))) {
		reply_error(req, 400, "bad_request", "give a printable comment of at most 256 characters",
			    "field 'comment' is too long or has control characters");
		goto out;
	}
	if (!json_is_array(files) || json_array_size(files) > CONTENT_FILES_MAX) {
		reply_error(req, 400, "bad_request", "send at most 100000 entries",
			    "field 'files' must be an array of at most %d entries", CONTENT_FILES_MAX);
		goto out;
	}
	m.n_entries = json_array_size(files);
	m.entries = calloc(m.n_entries ? m.n_entries : 1, sizeof(*m.entries));
	blobs = calloc(m.n_entries + 1, sizeof(*blobs));
	if (!m.entries || !blobs) {
		reply_error(req, 500, "internal", "", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m.n_entries; i++) {
		if (!parse_entry(req, s, json_array_get(files, i), i, &m.entries[i]))
			goto out;
		m.total_bytes += m.entries[i].size;
		if (m.total_bytes > (uint64_t)s->cfg.package_max_bytes) {
			reply_error(req, 413, "package_too_large",
				    "split the package, or raise package_max_bytes",
				    "the package holds more than package_max_bytes (%lld bytes)",
				    (long long)s->cfg.package_max_bytes);
			goto out;
		}
	}
	if (m.n_entries) /* qsort's base must not be NULL, even for nothing */
		qsort(m.entries, m.n_entries, sizeof(*m.entries), entry_cmp);
	snprintf(m.package, sizeof(m.package), "%s", name);
	snprintf(m.version, sizeof(m.version), "%s", version);
	snprintf(m.site, sizeof(m.site), "%s", s->cfg.site_code);
	m.created = time_now_s();
	memcpy(m.key, s->site_kp.pk, PROTO_PK_BYTES);
	if (content_manifest_build(&m, &s->site_kp, &text, &len, &err)) {
		http_reply_error(req, 400, &err);
		goto out;
	}
	if (content_store_put_buf(s->content, text, len, NULL, p.manifest, &err)) {
		http_reply_error(req, 503, &err);
		goto out;
	}
	for (size_t i = 0; i < m.n_entries; i++) {
		if (m.entries[i].type != CONTENT_FILE)
			continue;
		snprintf(blobs[nb].hash, sizeof(blobs[nb].hash), "%s", m.entries[i].hash);
		blobs[nb++].size = (int64_t)m.entries[i].size;
	}
	snprintf(blobs[nb].hash, sizeof(blobs[nb].hash), "%s", p.manifest);
	blobs[nb++].size = (int64_t)len;
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.version, sizeof(p.version), "%s", version);
	snprintf(p.created_by, sizeof(p.created_by), "%s", site_admin_who(req));
	snprintf(p.comment, sizeof(p.comment), "%s", comment ? comment : "");
	p.bytes = (int64_t)m.total_bytes;
	p.files = (int64_t)(nb - 1);
	p.created = m.created;
	pthread_rwlock_wrlock(&w->lk);
	rc = s->store->ops->package_create(s->store, &p, blobs, nb);
	if (!rc)
		rc = load_pkg(&p, w);
	if (rc == -STEWARD_EEXIST)
		reply_error(req, 409, "package_exists",
			    "package versions are immutable: add it under a new version",
			    "package %s version %s already exists", name, version);
	else if (rc)
		reply_store_error(req, rc);
	else
		reply_json_obj(req, 201, package_json(w, &p));
	pthread_rwlock_unlock(&w->lk);
	if (!rc)
		log_info("swdist", "package_added", "name=%s version=%s manifest=%s files=%lld bytes=%lld by=%s",
			 name, version, p.manifest, (long long)p.files, (long long)p.bytes, site_admin_who(req));
out:
	free(text);
	free(blobs);
	content_manifest_clear(&m);
	json_decref(body);
	return HTTP_DONE;
}

enum http_result site_h_packages_list(struct http_req *req, void *app)
{
	struct swd *w = swd_of(app);
	json_t *a = json_array();

	pthread_rwlock_rdlock(&w->lk);
	for (size_t i = 0; i < w->n_pkgs; i++)
		json_array_append_new(a, package_json(w, &w->pkgs[i]));
	pthread_rwlock_unlock(&w->lk);
	reply_json_obj(req, 200, a);
	return HTTP_DONE;
}

/* The entries of a stored manifest, verified against the site key. */
static json_t *manifest_entries(struct site *s, const char *hash)
{
	struct content_manifest m;
	struct steward_err err;
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	json_t *a = NULL;
	static const char *const types[] = {"file", "dir", "link"};

	memset(&m, 0, sizeof(m));
	if (content_store_path(s->content, hash, path, sizeof(path)) ||
	    file_read_all(path, CONTENT_MANIFEST_MAX, &text, &len) ||
	    content_manifest_parse(text, len, s->site_kp.pk, &m, &err))
		goto out;
	a = json_array();
	for (size_t i = 0; i < m.n_entries; i++) {
		struct content_entry *e = &m.entries[i];
		json_t *o = json_pack("{s:s,s:s}", "type", types[e->type], "path", e->path);

		if (e->type == CONTENT_LINK) {
			json_object_set_new(o, "target", json_string(e->target));
		} else {
			json_object_set_new(o, "mode", json_integer(e->mode));
			if (e->type == CONTENT_FILE) {
				json_object_set_new(o, "size", json_integer((json_int_t)e->size));
				json_object_set_new(o, "hash", json_string(e->hash));
			}
		}
		json_array_append_new(a, o);
	}
out:
	free(text);
	content_manifest_clear(&m);
	return a;
}

enum http_result site_h_packages_show(struct http_req *req, void *app)
{
	struct site *s = app;
	struct swd *w = swd_of(s);
	const char *name = http_req_param(req, 0);
	json_t *versions = json_array(), *o;
	char canon[STORE_SWD_NAME_MAX + 1] = "";

	pthread_rwlock_rdlock(&w->lk);
	for (size_t i = 0; i < w->n_pkgs; i++) {
		if (strcasecmp(w->pkgs[i].name, name))
			continue;
		snprintf(canon, sizeof(canon), "%s", w->pkgs[i].name);
		o = package_json(w, &w->pkgs[i]);
		json_object_set_new(o, "entries",
				    manifest_entries(s, w->pkgs[i].manifest) ?: json_null());
		json_array_append_new(versions, o);
	}
	pthread_rwlock_unlock(&w->lk);
	if (!canon[0]) {
		json_decref(versions);
		reply_error(req, 404, "package_not_found", "list packages with: stewardctl packages list",
			    "no package named '%.80s'", name);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200, json_pack("{s:s,s:o}", "name", canon, "versions", versions));
	return HTTP_DONE;
}

/* Blobs of a deleted package that no other package needs leave the store. */
struct blob_set {
	struct store_blob *b;
	size_t n, cap;
};

static int collect_blob(const struct store_blob *b, void *ctx)
{
	struct blob_set *set = ctx;

	if (grow((void **)&set->b, &set->cap, set->n, sizeof(*set->b)))
		return -STEWARD_ENOMEM;
	set->b[set->n++] = *b;
	return 0;
}

static int blob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_blob *)a)->hash, ((const struct store_blob *)b)->hash);
}

static void drop_orphans(struct site *s, struct blob_set *gone)
{
	struct blob_set keep = {0};
	size_t removed = 0;

	if (s->store->ops->blob_list(s->store, collect_blob, &keep))
		goto out;
	if (keep.n)
		qsort(keep.b, keep.n, sizeof(*keep.b), blob_cmp);
	for (size_t i = 0; i < gone->n; i++)
		if (!(keep.n && bsearch(&gone->b[i], keep.b, keep.n, sizeof(*keep.b), blob_cmp)) &&
		    content_store_remove(s->content, gone->b[i].hash) == 0)
			removed++;
	log_info("swdist", "blobs_removed", "count=%zu", removed);
out:
	free(keep.b);
}

enum http_result site_h_packages_delete(struct http_req *req, void *app)
{
	struct site *s = app;
	struct swd *w = swd_of(s);
	const char *name = http_req_param(req, 0), *version = http_req_param(req, 1);
	struct store_package *p;
	struct blob_set gone = {0};
	char users[768] = "";
	size_t ul = 0;
	int rc;

	pthread_rwlock_wrlock(&w->lk);
	p = pkg_find(w, name, version);
	if (!p) {
		pthread_rwlock_unlock(&w->lk);
		reply_error(req, 404, "package_not_found", "list packages with: stewardctl packages list",
			    "no package '%.80s' version '%.80s'", name, version);
		return HTTP_DONE;
	}
	if (p->origin[0]) {
		char pname[2 * STORE_SWD_NAME_MAX + 2], origin[PROTO_SITE_CODE_LEN + 1];

		snprintf(pname, sizeof(pname), "%s@%s", p->name, p->version);
		snprintf(origin, sizeof(origin), "%s", p->origin);
		pthread_rwlock_unlock(&w->lk);
		site_reply_from_above(req, "package", pname, origin);
		return HTTP_DONE;
	}
	for (size_t i = 0; i < w->n_progs; i++) {
		if (w->progs[i].p.package_rid != p->rid)
			continue;
		ul += (size_t)snprintf(users + ul, ul < sizeof(users) ? sizeof(users) - ul : 0,
				       "%sprogram '%s'", ul ? ", " : "", w->progs[i].p.name);
		for (size_t j = 0; j < w->n_ads && ul < sizeof(users); j++)
			if (w->ads[j].program_rid == w->progs[i].p.rid)
				ul += (size_t)snprintf(users + ul, sizeof(users) - ul,
						       " (advertised by '%s')", w->ads[j].name);
		if (ul >= sizeof(users))
			break;
	}
	if (users[0]) {
		pthread_rwlock_unlock(&w->lk);
		reply_error(req, 409, "package_in_use",
			    "delete the advertisements and programs that use it first",
			    "package %.64s %.64s is used by %.600s", name, version, users);
		return HTTP_DONE;
	}
	rc = s->store->ops->package_blobs(s->store, p->rid, collect_blob, &gone);
	if (!rc)
		rc = s->store->ops->package_delete(s->store, p->rid);
	if (rc == 0) {
		log_info("swdist", "package_deleted", "name=%s version=%s by=%s", p->name, p->version,
			 site_admin_who(req));
		reply_json_obj(req, 200, json_pack("{s:s,s:s}", "deleted", p->name, "version",
						   p->version));
		*p = w->pkgs[--w->n_pkgs];
	} else if (rc == -STEWARD_EBUSY) {
		reply_error(req, 409, "package_in_use", "delete the programs that use it first",
			    "package %.64s %.64s is used by a program", name, version);
	} else {
		reply_store_error(req, rc);
	}
	pthread_rwlock_unlock(&w->lk);
	if (rc == 0)
		drop_orphans(s, &gone);
	free(gone.b);
	return HTTP_DONE;
}

static int index_blob(const struct store_blob *b, void *ctx)
{
	return json_array_append_new(ctx, json_pack("{s:s,s:I}", "hash", b->hash, "size",
						    (json_int_t)b->size))
		   ? -STEWARD_ENOMEM
		   : 0;
}

/* Every blob the site's packages need: what a remote DP mirrors. */
enum http_result site_h_content_index(struct http_req *req, void *app)
{
	struct site *s = app;
	json_t *a = json_array();
	int rc = s->store->ops->blob_list(s->store, index_blob, a);

	if (rc) {
		json_decref(a);
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200, a);
	return HTTP_DONE;
}

/* ---- programs ------------------------------------------------------------------------------ */

/* An array of exit codes 0..255 (at most 32) or absent (dflt). */
static json_t *codes_field(struct http_req *req, json_t *body, const char *key, int dflt)
{
	json_t *v = json_object_get(body, key), *out = json_array(), *x;
	size_t i;

	if (!v) {
		if (dflt >= 0)
			json_array_append_new(out, json_integer(dflt));
		return out;
	}
	if (!json_is_array(v) || json_array_size(v) > 32)
		goto bad;
	json_array_foreach(v, i, x)
	{
		if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 255)
			goto bad;
		json_array_append(out, x);
	}
	return out;
bad:
	json_decref(out);
	reply_error(req, 400, "bad_request", "give at most 32 exit codes, each 0 to 255",
		    "field '%s' must be an array of exit codes", key);
	return NULL;
}

static bool user_valid(const char *u)
{
	size_t n = strlen(u);

	if (n == 0)
		return true;
	if (n > 32 || !(islower((unsigned char)u[0]) || u[0] == '_'))
		return false;
	for (; *u; u++)
		if (!(islower((unsigned char)*u) || isdigit((unsigned char)*u) || *u == '_' ||
		      *u == '-'))
			return false;
	return true;
}

static bool env_valid(json_t *env)
{
	const char *k;
	json_t *v;

	if (!json_is_object(env) || json_object_size(env) > SWD_ENV_MAX)
		return false;
	json_object_foreach(env, k, v)
	{
		if (!*k || strlen(k) > 64 || !(isalpha((unsigned char)k[0]) || k[0] == '_') ||
		    !json_is_string(v) || strlen(json_string_value(v)) > 1024 ||
		    !str_printable(json_string_value(v)))
			return false;
		for (const char *c = k; *c; c++)
			if (!(isalnum((unsigned char)*c) || *c == '_'))
				return false;
	}
	return true;
}

/* Read an optional bounded integer field; replies 400 itself. */
static bool int_field(struct http_req *req, json_t *body, const char *key, int64_t min, int64_t max,
		      int64_t dflt, int64_t *out)
{
	json_t *v = json_object_get(body, key);

	if (!v || json_is_null(v)) {
		*out = dflt;
		return true;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		reply_error(req, 400, "bad_request", "see docs/internals/swdist.md for the fields",
			    "field '%s' must be an integer from %lld to %lld", key, (long long)min,
			    (long long)max);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

static json_t *program_json(struct swd *w, const struct swd_program *pr)
{
	const struct store_package *p = pkg_by_rid(w, pr->p.package_rid);
	json_t *o = json_deep_copy(pr->spec), *ads = json_array();

	for (size_t i = 0; i < w->n_ads; i++)
		if (w->ads[i].program_rid == pr->p.rid)
			json_array_append_new(ads, json_string(w->ads[i].name));
	json_object_set_new(o, "name", json_string(pr->p.name));
	json_object_set_new(o, "package", json_string(p ? p->name : ""));
	json_object_set_new(o, "version", json_string(p ? p->version : ""));
	json_object_set_new(o, "created", time_json(pr->p.created));
	json_object_set_new(o, "created_by", json_string(pr->p.created_by));
	json_object_set_new(o, "adverts", ads);
	json_object_set_new(o, "origin", json_string(pr->p.origin));
	return o;
}

enum http_result site_h_programs_create(struct http_req *req, void *app)
{
	struct site *s = app;
	struct swd *w = swd_of(s);
	json_t *body = admin_body(req), *spec = NULL, *ok = NULL, *reboot = NULL, *env;
	const char *name, *pkg, *ver, *cmd, *wd, *user, *run, *reqtext, *comment;
	struct core_query *q = NULL;
	struct core_query_error qerr;
	struct store_package *p;
	struct store_program sp;
	struct swd_program *slot;
	int64_t timeout, min_free;
	char *text = NULL;
	int rc;

	memset(&sp, 0, sizeof(sp));
	if (!body)
		return HTTP_DONE;
	name = json_string_value(json_object_get(body, "name"));
	pkg = json_string_value(json_object_get(body, "package"));
	ver = json_string_value(json_object_get(body, "version"));
	cmd = json_string_value(json_object_get(body, "command"));
	wd = json_string_value(json_object_get(body, "workdir"));
	user = json_string_value(json_object_get(body, "user"));
	run = json_string_value(json_object_get(body, "run"));
	reqtext = json_string_value(json_object_get(body, "requirement"));
	comment = json_string_value(json_object_get(body, "comment"));
	env = json_object_get(body, "env");
	if (!swd_name_valid(name)) {
		reply_error(req, 400, "bad_request",
			    "names are 1-64 characters of letters, digits, space . _ - +",
			    "field 'name' must be a valid program name");
		goto out;
	}
	if (!cmd || !*cmd || strlen(cmd) > SWD_COMMAND_MAX || !str_printable(cmd)) {
		reply_error(req, 400, "bad_request", "give a command line of at most 4096 characters",
			    "field 'command' is missing, too long or has control characters");
		goto out;
	}
	if (wd && *wd && !content_path_valid(wd)) {
		reply_error(req, 400, "bad_request",
			    "give a directory inside the package, relative, without '..'",
			    "field 'workdir' '%.100s' is not a path inside the package", wd);
		goto out;
	}
	if (user && !user_valid(user)) {
		reply_error(req, 400, "bad_request", "give a user name such as www-data",
			    "field 'user' '%.40s' is not a valid user name", user);
		goto out;
	}
	if (run && strcmp(run, "once") && strcmp(run, "always")) {
		reply_error(req, 400, "bad_request", "run is 'once' (per client) or 'always'",
			    "field 'run' must be 'once' or 'always'");
		goto out;
	}
	if (env && !env_valid(env)) {
		reply_error(req, 400, "bad_request",
			    "env is an object of at most 64 NAME: value strings (1 KiB each)",
			    "field 'env' is not a valid environment");
		goto out;
	}
	if (comment && (strlen(comment) > 256 || !str_printable(comment))) {
		reply_error(req, 400, "bad_request", "give a printable comment of at most 256 characters",
			    "field 'comment' is too long or has control characters");
		goto out;
	}
	if (!int_field(req, body, "timeout", 1, 7 * 86400, 3600, &timeout) ||
	    !int_field(req, body, "min_free_mb", 0, 100000000, 0, &min_free) ||
	    !(ok = codes_field(req, body, "success_codes", 0)) ||
	    !(reboot = codes_field(req, body, "reboot_codes", -1)))
		goto out;
	if (reqtext && *reqtext && core_query_parse(reqtext, &q, &qerr) != 0) {
		reply_error(req, 400, "query_invalid", "fix the requirement query at the position shown",
			    "requirement: %s", qerr.message);
		goto out;
	}
	spec = json_pack("{s:s,s:s,s:s,s:I,s:O,s:O,s:o,s:s,s:I,s:s,s:s}", "command", cmd, "workdir",
			 wd ? wd : "", "user", user ? user : "", "timeout", (json_int_t)timeout,
			 "success_codes", ok, "reboot_codes", reboot, "env",
			 env ? json_deep_copy(env) : json_object(), "run", run ? run : "once",
			 "min_free_mb", (json_int_t)min_free, "requirement", reqtext ? reqtext : "",
			 "comment", comment ? comment : "");
	text = spec ? json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!text) {
		reply_error(req, 500, "internal", "", "out of memory");
		goto out;
	}
	pthread_rwlock_wrlock(&w->lk);
	p = pkg ? pkg_find(w, pkg, ver) : NULL;
	if (!p) {
		pthread_rwlock_unlock(&w->lk);
		reply_error(req, 404, "package_not_found", "list packages with: stewardctl packages list",
			    "no package '%.80s'%s%.80s", pkg ? pkg : "", ver ? " version " : "",
			    ver ? ver : "");
		goto out;
	}
	snprintf(sp.name, sizeof(sp.name), "%s", name);
	sp.package_rid = p->rid;
	sp.spec = text;
	sp.created = time_now_s();
	snprintf(sp.created_by, sizeof(sp.created_by), "%s", site_admin_who(req));
	rc = grow((void **)&w->progs, &w->cap_progs, w->n_progs, sizeof(*w->progs));
	if (!rc)
		rc = s->store->ops->program_create(s->store, &sp);
	if (!rc) {
		slot = &w->progs[w->n_progs];
		rc = prog_load(slot, &sp);
		if (!rc)
			w->n_progs++;
	}
	if (rc == -STEWARD_EEXIST)
		reply_error(req, 409, "name_exists", "choose another name, or delete the old program",
			    "a program named '%s' already exists", name);
	else if (rc)
		reply_store_error(req, rc);
	else
		reply_json_obj(req, 201, program_json(w, &w->progs[w->n_progs - 1]));
	/* under the lock: p points into w->pkgs, which a refresh announced
	 * by this very write (site_swdist_refresh) replaces and frees */
	if (!rc)
		log_info("swdist", "program_added", "name=\"%s\" package=%s version=%s by=%s", name,
			 p->name, p->version, site_admin_who(req));
	pthread_rwlock_unlock(&w->lk);
out:
	core_query_free(q);
	free(text);
	json_decref(spec);
	json_decref(ok);
	json_decref(reboot);
	json_decref(body);
	return HTTP_DONE;
}

enum http_result site_h_programs_list(struct http_req *req, void *app)
{
	struct swd *w = swd_of(app);
	json_t *a = json_array();

	pthread_rwlock_rdlock(&w->lk);
	for (size_t i = 0; i < w->n_progs; i++)
		json_array_append_new(a, program_json(w, &w->progs[i]));
	pthread_rwlock_unlock(&w->lk);
	reply_json_obj(req, 200, a);
	return HTTP_DONE;
}

static void reply_no_program(struct http_req *req, const char *name)
{
	reply_error(req, 404, "program_not_found", "list programs with: stewardctl programs list",
		    "no program named '%.80s'", name);
}

enum http_result site_h_programs_show(struct http_req *req, void *app)
{
	struct swd *w = swd_of(app);
	struct swd_program *pr;
	json_t *o = NULL;

	pthread_rwlock_rdlock(&w->lk);
	pr = prog_find(w, http_req_param(req, 0));
	if (pr)
		o = program_json(w, pr);
	pthread_rwlock_unlock(&w->lk);
	if (o)
		reply_json_obj(req, 200, o);
	else
		reply_no_program(req, http_req_param(req, 0));
	return HTTP_DONE;
}

enum http_result site_h_programs_delete(struct http_req *req, void *app)
{
	struct site *s = app;
	struct swd *w = swd_of(s);
	struct swd_program *pr;
	char users[512] = "", name[STORE_SWD_NAME_MAX + 1];
	size_t ul = 0;
	int rc;

	pthread_rwlock_wrlock(&w->lk);
	pr = prog_find(w, http_req_param(req, 0));
	if (!pr) {
		pthread_rwlock_unlock(&w->lk);
		reply_no_program(req, http_req_param(req, 0));
		return HTTP_DONE;
	}
	if (pr->p.origin[0]) {
		char origin[PROTO_SITE_CODE_LEN + 1];

		snprintf(name, sizeof(name), "%s", pr->p.name);
		snprintf(origin, sizeof(origin), "%s", pr->p.origin);
		pthread_rwlock_unlock(&w->lk);
		site_reply_from_above(req, "program", name, origin);
		return HTTP_DONE;
	}
	for (size_t j = 0; j < w->n_ads && ul < sizeof(users); j++)
		if (w->ads[j].program_rid == pr->p.rid)
			ul += (size_t)snprintf(users + ul, sizeof(users) - ul, "%s'%s'", ul ? ", " : "",
					       w->ads[j].name);
	if (users[0]) {
		pthread_rwlock_unlock(&w->lk);
		reply_error(req, 409, "program_in_use", "delete those advertisements first",
			    "program '%.64s' is advertised by %.400s", pr->p.name, users);
		return HTTP_DONE;
	}
	snprintf(name, sizeof(name), "%s", pr->p.name);
	rc = s->store->ops->program_delete(s->store, pr->p.rid);
	if (rc == 0) {
		prog_clear(pr);
		*pr = w->progs[--w->n_progs];
	}
	pthread_rwlock_unlock(&w->lk);
	if (rc == -STEWARD_EBUSY)
		reply_error(req, 409, "program_in_use", "delete its advertisements first",
			    "program '%.64s' is advertised", name);
	else if (rc)
		reply_store_error(req, rc);
	else {
		log_info("swdist", "program_deleted", "name=\"%s\" by=%s", name, site_admin_who(req));
		reply_json_obj(req, 200, json_pack("{s:s}", "deleted", name));
	}
	return HTTP_DONE;
}

/* ---- advertisements ---------------------------------------------------------------------- */

static json_t *advert_json(struct swd *w, const struct store_advert *a)
{
	struct swd_program *pr = prog_by_rid(w, a->program_rid);
	struct store_package *p = pr ? pkg_by_rid(w, pr->p.package_rid) : NULL;
	struct core_link_policy lp;
	char msg[200];
	json_t *o;

	core_link_policy_default(&lp);
	if (a->links[0])
		core_link_policy_parse(a->links, &lp, msg, sizeof(msg));
	lp.deadline = a->link_deadline;
	o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:I,s:o,s:b,s:I,s:o,s:s,s:s}", "id",
			 (json_int_t)a->rid, "name", a->name, "program", pr ? pr->p.name : "",
			 "package", p ? p->name : "", "version", p ? p->version : "", "collection",
			 a->collection, "available", time_json(a->available), "mandatory",
			 time_json(a->mandatory), "recurring", (json_int_t)a->recurring, "expires",
			 time_json(a->expires), "enabled", a->enabled, "revision",
			 (json_int_t)a->revision, "created", time_json(a->created), "created_by",
			 a->created_by, "origin", a->origin);
	if (o)
		site_link_policy_json(o, &lp);
	return o;
}

enum http_result site_h_adverts_create(struct http_req *req, void *app)
{
	struct site *s = app;
	struct swd *w = swd_of(s);
	json_t *body = admin_body(req), *en;
	const char *name, *prog, *coll;
	struct store_advert a;
	struct swd_program *pr;
	struct facts *f;
	struct coll_engine *e;
	int64_t now = time_now_s();
	bool coll_ok;
	int rc;

	memset(&a, 0, sizeof(a));
	if (!body)
		return HTTP_DONE;
	name = json_string_value(json_object_get(body, "name"));
	prog = json_string_value(json_object_get(body, "program"));
	coll = json_string_value(json_object_get(body, "collection"));
	en = json_object_get(body, "enabled");
	if (!swd_name_valid(name)) {
		reply_error(req, 400, "bad_request",
			    "names are 1-64 characters of letters, digits, space . _ - +",
			    "field 'name' must be a valid advertisement name");
		goto out;
	}
	if (!prog || !coll || strlen(coll) > STORE_COLLECTION_NAME_MAX + 24) {
		reply_error(req, 400, "bad_request", "name the program and the collection",
			    "fields 'program' and 'collection' are required");
		goto out;
	}
	if (en && !json_is_boolean(en)) {
		reply_error(req, 400, "bad_request", "enabled is true or false",
			    "field 'enabled' must be a boolean");
		goto out;
	}
	if (!int_field(req, body, "available", 0, INT64_C(253402300799), now, &a.available) ||
	    !int_field(req, body, "mandatory", 0, INT64_C(253402300799), 0, &a.mandatory) ||
	    !int_field(req, body, "recurring", 0, 366 * 86400, 0, &a.recurring) ||
	    !int_field(req, body, "expires", 0, INT64_C(253402300799), 0, &a.expires))
		goto out;
	if (a.recurring && a.recurring < 300) {
		reply_error(req, 400, "bad_request", "recur at most every 5 minutes",
			    "field 'recurring' must be 0 or at least 300 seconds");
		goto out;
	}
	if (a.expires && a.expires <= (a.mandatory > a.available ? a.mandatory : a.available)) {
		reply_error(req, 400, "bad_request", "make it expire after it becomes available or due",
			    "the advertisement would expire before it can run");
		goto out;
	}
	{
		struct core_link_policy lp;

		if (!site_link_policy_body(req, body, &lp))
			goto out;
		core_link_policy_format(&lp, a.links, sizeof(a.links));
		a.link_deadline = lp.deadline;
	}
	a.enabled = en ? json_is_true(en) : true;
	a.revision = 1;
	a.created = now;
	snprintf(a.name, sizeof(a.name), "%s", name);
	snprintf(a.created_by, sizeof(a.created_by), "%s", site_admin_who(req));
	pthread_rwlock_wrlock(&w->lk);
	pr = prog_find(w, prog);
	site_colls_lock(s, &f, &e);
	coll_ok = coll_exists(e, coll);
	if (coll_ok)
		snprintf(a.collection, sizeof(a.collection), "%s", coll_name(e, coll));
	site_colls_unlock(s);
	if (!pr || !coll_ok) {
		pthread_rwlock_unlock(&w->lk);
		if (!pr)
			reply_no_program(req, prog);
		else
			reply_error(req, 404, "collection_not_found",
				    "list collections with: stewardctl collections list",
				    "no collection named '%.80s'", coll);
		goto out;
	}
	a.program_rid = pr->p.rid;
	rc = grow((void **)&w->ads, &w->cap_ads, w->n_ads, sizeof(*w->ads));
	if (!rc)
		rc = s->store->ops->advert_create(s->store, &a);
	if (!rc) {
		w->ads[w->n_ads++] = a;
		recount_enabled(w);
		reply_json_obj(req, 201, advert_json(w, &a));
		log_info("swdist", "advert_created",
			 "name=\"%s\" program=\"%s\" collection=\"%s\" enabled=%d by=%s", a.name,
			 pr->p.name, a.collection, a.enabled, site_admin_who(req));
	} else if (rc == -STEWARD_EEXIST) {
		reply_error(req, 409, "name_exists", "choose another name, or delete the old one",
			    "an advertisement named '%s' already exists", name);
	} else {
		reply_store_error(req, rc);
	}
	pthread_rwlock_unlock(&w->lk);
out:
	json_decref(body);
	return HTTP_DONE;
}

enum http_result site_h_adverts_list(struct http_req *req, void *app)
{
	struct swd *w = swd_of(app);
	json_t *a = json_array();

	pthread_rwlock_rdlock(&w->lk);
	for (size_t i = 0; i < w->n_ads; i++)
		json_array_append_new(a, advert_json(w, &w->ads[i]));
	pthread_rwlock_unlock(&w->lk);
	reply_json_obj(req, 200, a);
	return HTTP_DONE;
}

static void reply_no_advert(struct http_req *req, const char *name)
{
	reply_error(req, 404, "advert_not_found", "list advertisements with: stewardctl adverts list",
		    "no advertisement named '%.80s'", name);
}

enum http_result site_h_adverts_show(struct http_req *req, void *app)
{
	struct swd *w = swd_of(app);
	struct store_advert *a;
	json_t *o = NULL;

	pthread_rwlock_rdlock(&w->lk);
	a = ad_find(w, http_req_param(req, 0));
	if (a)
		o = advert_json(w, a);
	pthread_rwlock_unlock(&w->lk);
	if (o)
		reply_json_obj(req, 200, o);
	else
		reply_no_advert(req, http_req_param(req, 0));
	return HTTP_DONE;
}

static enum http_result set_enabled(struct http_req *req, struct site *s, bool on)
{
	struct swd *w = swd_of(s);
	struct store_advert *a;
	int64_t rev = 0;
	int rc;

	pthread_rwlock_wrlock(&w->lk);
	a = ad_find(w, http_req_param(req, 0));
	if (!a) {
		pthread_rwlock_unlock(&w->lk);
		reply_no_advert(req, http_req_param(req, 0));
		return HTTP_DONE;
	}
	if (a->origin[0]) {
		struct store_advert copy = *a;

		pthread_rwlock_unlock(&w->lk);
		site_reply_from_above(req, "advertisement", copy.name, copy.origin);
		return HTTP_DONE;
	}
	rc = s->store->ops->advert_set_enabled(s->store, a->rid, on, &rev);
	if (rc) {
		reply_store_error(req, rc);
	} else {
		a->enabled = on;
		a->revision = rev;
		recount_enabled(w);
		log_info("swdist", on ? "advert_enabled" : "advert_disabled", "name=\"%s\" by=%s",
			 a->name, site_admin_who(req));
		reply_json_obj(req, 200, advert_json(w, a));
	}
	pthread_rwlock_unlock(&w->lk);
	return HTTP_DONE;
}

enum http_result site_h_adverts_enable(struct http_req *req, void *app)
{
	return set_enabled(req, app, true);
}

enum http_result site_h_adverts_disable(struct http_req *req, void *app)
{
	return set_enabled(req, app, false);
}

enum http_result site_h_adverts_delete(struct http_req *req, void *app)
{
	struct site *s = app;
	struct swd *w = swd_of(s);
	struct store_advert *a;
	char name[STORE_SWD_NAME_MAX + 1];
	int rc;

	pthread_rwlock_wrlock(&w->lk);
	a = ad_find(w, http_req_param(req, 0));
	if (!a) {
		pthread_rwlock_unlock(&w->lk);
		reply_no_advert(req, http_req_param(req, 0));
		return HTTP_DONE;
	}
	snprintf(name, sizeof(name), "%s", a->name);
	if (a->origin[0]) {
		char origin[PROTO_SITE_CODE_LEN + 1];

		snprintf(origin, sizeof(origin), "%s", a->origin);
		pthread_rwlock_unlock(&w->lk);
		site_reply_from_above(req, "advertisement", name, origin);
		return HTTP_DONE;
	}
	rc = s->store->ops->advert_delete(s->store, a->rid);
	if (rc == 0) {
		*a = w->ads[--w->n_ads];
		recount_enabled(w);
	}
	pthread_rwlock_unlock(&w->lk);
	if (rc)
		reply_store_error(req, rc);
	else {
		log_info("swdist", "advert_deleted", "name=\"%s\" by=%s", name, site_admin_who(req));
		reply_json_obj(req, 200, json_pack("{s:s}", "deleted", name));
	}
	return HTTP_DONE;
}

size_t site_swdist_collection_users(struct site *s, const char *collection, char *msg,
				    size_t msgsz)
{
	struct swd *w = swd_of(s);
	size_t n = 0, ml = 0;

	msg[0] = '\0';
	if (!w)
		return 0;
	pthread_rwlock_rdlock(&w->lk);
	for (size_t i = 0; i < w->n_ads; i++) {
		if (strcasecmp(w->ads[i].collection, collection))
			continue;
		if (ml < msgsz)
			ml += (size_t)snprintf(msg + ml, msgsz - ml, "%sadvertisement '%s'",
					       n ? ", " : "", w->ads[i].name);
		n++;
	}
	pthread_rwlock_unlock(&w->lk);
	return n;
}

/* ---- pause ------------------------------------------------------------------------------ */

static enum http_result set_paused(struct http_req *req, struct site *s, bool on)
{
	struct swd *w = swd_of(s);
	json_t *body = admin_body(req), *jh;
	const char *reason = NULL;
	int rc;

	if (!body)
		return HTTP_DONE;
	reason = json_string_value(json_object_get(body, "reason"));
	if (reason && (strlen(reason) > PROTO_REASON_MAX || !str_printable(reason))) {
		reply_error(req, 400, "bad_request", "give a printable reason of at most 256 characters",
			    "field 'reason' is too long or has control characters");
		json_decref(body);
		return HTTP_DONE;
	}
	jh = json_object_get(body, "hierarchy");
	if (jh && !json_is_boolean(jh)) {
		reply_error(req, 400, "bad_request", "send \"hierarchy\": true or false",
			    "field 'hierarchy' must be a boolean");
		json_decref(body);
		return HTTP_DONE;
	}
	if (!reason)
		reason = on ? "paused by an administrator" : "";
	pthread_rwlock_wrlock(&w->lk);
	rc = s->store->ops->setting_set(s->store, "adverts_pause_reason", reason);
	if (!rc)
		rc = s->store->ops->setting_set(s->store, "adverts_paused", on ? "1" : "0");
	if (!rc) {
		atomic_store(&w->paused, on);
		snprintf(w->pause_reason, sizeof(w->pause_reason), "%s", reason);
	}
	pthread_rwlock_unlock(&w->lk);
	/* every site below too: the sites there apply it as their own */
	if (!rc && json_is_true(jh))
		rc = site_hierarchy_cascade(s, "adverts_paused", on, "adverts_pause_reason", reason);
	if (rc) {
		reply_store_error(req, rc);
	} else {
		log_info("swdist", on ? "adverts_paused" : "adverts_resumed",
			 "reason=\"%s\" hierarchy=%d by=%s", reason, json_is_true(jh), site_admin_who(req));
		reply_json_obj(req, 200, json_pack("{s:b,s:s,s:b}", "adverts_paused", on, "reason",
						   reason, "hierarchy", json_is_true(jh)));
	}
	json_decref(body);
	return HTTP_DONE;
}

enum http_result site_h_adverts_pause(struct http_req *req, void *app)
{
	return set_paused(req, app, true);
}

enum http_result site_h_adverts_resume(struct http_req *req, void *app)
{
	return set_paused(req, app, false);
}

void site_swdist_show(struct site *s, json_t *site_obj)
{
	struct swd *w = swd_of(s);
	char pk[PROTO_PK_BYTES * 2 + 1];

	hex_encode(s->site_kp.pk, PROTO_PK_BYTES, pk);
	json_object_set_new(site_obj, "site_key", json_string(pk));
	if (!w)
		return;
	pthread_rwlock_rdlock(&w->lk);
	json_object_set_new(site_obj, "adverts_paused", json_boolean(atomic_load(&w->paused)));
	json_object_set_new(site_obj, "adverts_pause_reason", json_string(w->pause_reason));
	json_object_set_new(site_obj, "adverts", json_integer((json_int_t)w->n_ads));
	json_object_set_new(site_obj, "packages", json_integer((json_int_t)w->n_pkgs));
	pthread_rwlock_unlock(&w->lk);
}

/* ---- status ------------------------------------------------------------------------------- */

static bool state_known(const char *st)
{
	for (size_t i = 0; i < sizeof(status_states) / sizeof(status_states[0]); i++)
		if (strcmp(st, status_states[i]) == 0)
			return true;
	return false;
}

/* POST /api/v1/agent/status: a client's reports about its advertisements. */
enum http_result site_h_agent_status(struct http_req *req, void *app)
{
	struct site *s = app;
	struct principal *p = http_req_ctx(req);
	size_t len, n, applied = 0;
	const char *body = http_req_body(req, &len);
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr), *msgs, *m;
	struct store_status *st = NULL;
	int rc;

	/* the sequence number first, in the database, as for inventory */
	if (!site_seq_claim(s, req))
		goto out;
	msgs = json_object_get(root, "messages");
	if (!json_is_array(msgs) || json_array_size(msgs) > SWD_STATUS_MAX_MSGS) {
		reply_error(req, 400, "bad_request", "see docs/internals/swdist.md (agent status)",
			    "the body must be {\"messages\": [...]} with at most %d messages",
			    SWD_STATUS_MAX_MSGS);
		goto out;
	}
	n = json_array_size(msgs);
	st = calloc(n ? n : 1, sizeof(*st));
	if (!st) {
		reply_error(req, 500, "internal", "", "out of memory");
		goto out;
	}
	json_array_foreach(msgs, len, m)
	{
		struct store_status *x = &st[len];
		const char *state = json_string_value(json_object_get(m, "state"));
		const char *detail = json_string_value(json_object_get(m, "detail"));
		json_t *ec = json_object_get(m, "exit_code");
		json_t *seq = json_object_get(m, "seq"), *ad = json_object_get(m, "advert");
		json_t *rev = json_object_get(m, "revision"), *t = json_object_get(m, "time");

		if (!json_is_integer(seq) || json_integer_value(seq) < 1 || !json_is_integer(ad) ||
		    !json_is_integer(rev) || !json_is_integer(t) || json_integer_value(t) < 0 ||
		    !state || !state_known(state) || (ec && !json_is_null(ec) && !json_is_integer(ec)) ||
		    (detail && strlen(detail) > STORE_SWD_DETAIL_MAX)) {
			reply_error(req, 400, "bad_request", "see docs/internals/swdist.md (agent status)",
				    "messages[%zu]: needs seq, advert, revision, time (integers), a "
				    "known state, and a detail of at most %d bytes",
				    len, STORE_SWD_DETAIL_MAX);
			goto out;
		}
		x->advert_rid = json_integer_value(ad);
		memcpy(x->client_id, p->client->idhex, sizeof(x->client_id));
		x->revision = json_integer_value(rev);
		x->seq = json_integer_value(seq);
		snprintf(x->state, sizeof(x->state), "%s", state);
		x->has_exit_code = json_is_integer(ec);
		x->exit_code = (int)json_integer_value(ec);
		snprintf(x->detail, sizeof(x->detail), "%s", detail ? detail : "");
		x->time = json_integer_value(t);
	}
	rc = s->store->ops->status_apply(s->store, st, n, &applied);
	if (rc)
		reply_store_error(req, rc);
	else
		reply_json_obj(req, 200, json_pack("{s:I,s:I}", "received", (json_int_t)n, "applied",
						   (json_int_t)applied));
out:
	free(st);
	json_decref(root);
	return HTTP_DONE;
}

struct status_walk {
	struct site *s;
	json_t *counts, *clients;
	struct facts *f;
	struct coll_source src;
	const char *coll;
	struct coll_engine *e;
	size_t members_with_status;
};

static json_t *status_row_json(const struct store_status *m)
{
	return json_pack("{s:s,s:o,s:s,s:I,s:o}", "state", m->state, "exit_code",
			 m->has_exit_code ? json_integer(m->exit_code) : json_null(), "detail",
			 m->detail, "revision", (json_int_t)m->revision, "updated",
			 time_json(m->time));
}

/* One client's status; with sw->clients NULL only the counts (the
 * overview's). */
static int advert_status_row(const struct store_status *m, void *ctx)
{
	struct status_walk *sw = ctx;
	json_t *o = sw->clients ? status_row_json(m) : NULL, *c = json_object_get(sw->counts, m->state);
	int64_t slot = facts_find(sw->f, m->client_id);
	struct coll_client cc;
	bool known = slot >= 0 && sw->src.client(sw->src.ctx, (uint32_t)slot, &cc);

	json_object_set_new(sw->counts, m->state, json_integer(c ? json_integer_value(c) + 1 : 1));
	if (known && coll_is_member(sw->e, sw->coll, (uint32_t)slot))
		sw->members_with_status++;
	if (!sw->clients)
		return 0;
	json_object_set_new(o, "id", json_string(m->client_id));
	if (known)
		json_object_set_new(o, "hostname", json_string(cc.hostname ? cc.hostname : ""));
	return json_array_append_new(sw->clients, o) ? -STEWARD_ENOMEM : 0;
}

/* A report from a client of a site below (hierarchy.c brought it up). */
static int below_status_row(const struct store_site_status_row *r, void *ctx)
{
	struct status_walk *sw = ctx;
	json_t *c = json_object_get(sw->counts, r->state), *o;

	json_object_set_new(sw->counts, r->state, json_integer(c ? json_integer_value(c) + 1 : 1));
	if (!sw->clients)
		return 0;
	o = json_pack("{s:s,s:s,s:o,s:s,s:o}", "id", r->client, "state", r->state, "exit_code",
		      r->has_exit_code ? json_integer(r->exit_code) : json_null(), "detail",
		      r->detail, "updated", time_json(r->time));
	if (o)
		json_object_set_new(o, "site", json_string(r->site));
	return json_array_append_new(sw->clients, o) ? -STEWARD_ENOMEM : 0;
}

enum http_result site_h_status_advert(struct http_req *req, void *app)
{
	struct site *s = app;
	struct swd *w = swd_of(s);
	struct store_advert *a, copy;
	struct status_walk sw = {.s = s};
	const char *name = http_req_param(req, 0);
	int64_t members = 0;
	size_t local;
	int rc = 0;

	pthread_rwlock_rdlock(&w->lk);
	a = ad_find(w, name);
	if (a)
		copy = *a;
	pthread_rwlock_unlock(&w->lk);
	sw.counts = json_object();
	sw.clients = json_array();
	if (a) {
		sw.coll = copy.collection;
		site_colls_lock(s, &sw.f, &sw.e);
		facts_source(sw.f, &sw.src);
		rc = s->store->ops->status_current(s->store, copy.rid, NULL, advert_status_row, &sw);
		members = coll_count(sw.e, copy.collection);
		site_colls_unlock(s);
	}
	local = json_array_size(sw.clients);
	/* and the clients of every site below that reported on it */
	if (!rc && name)
		rc = s->store->ops->site_status_list(s->store, name, below_status_row, &sw);
	if (rc) {
		json_decref(sw.counts);
		json_decref(sw.clients);
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	if (!a && json_array_size(sw.clients) == 0) {
		json_decref(sw.counts);
		json_decref(sw.clients);
		reply_no_advert(req, name);
		return HTTP_DONE;
	}
	/* members that have said nothing yet */
	if (a && members > (int64_t)sw.members_with_status)
		json_object_set_new(sw.counts, "no_status",
				    json_integer(members - (int64_t)sw.members_with_status));
	reply_json_obj(req, 200,
		       json_pack("{s:s,s:s?,s:b,s:I,s:I,s:b,s:o,s:o,s:I}", "advert",
				 a ? copy.name : name, "collection", a ? copy.collection : NULL,
				 "enabled", a ? copy.enabled : 0, "revision",
				 (json_int_t)(a ? copy.revision : 0), "members",
				 (json_int_t)(members < 0 ? 0 : members), "adverts_paused",
				 atomic_load(&w->paused), "counts", sw.counts, "clients", sw.clients,
				 "clients_below", (json_int_t)(json_array_size(sw.clients) - local)));
	return HTTP_DONE;
}

/* The sum of some states' counts. */
static json_int_t count_of(json_t *counts, const char *const *states)
{
	json_int_t n = 0;

	for (; *states; states++)
		n += json_integer_value(json_object_get(counts, *states));
	return n;
}

json_t *site_adverts_overview(struct site *s)
{
	static const char *const ok[] = {"succeeded", "succeeded_reboot", NULL};
	static const char *const bad[] = {"failed", "timed_out", NULL};
	static const char *const busy[] = {"received",	"waiting", "download_started",
					   "download_finished", "running", NULL};
	struct swd *w = swd_of(s);
	struct store_advert *ads = NULL;
	json_t *out = json_array();
	size_t n = 0;
	int rc = 0;

	pthread_rwlock_rdlock(&w->lk);
	if (w->n_ads && (ads = malloc(w->n_ads * sizeof(*ads)))) {
		memcpy(ads, w->ads, w->n_ads * sizeof(*ads));
		n = w->n_ads;
	}
	pthread_rwlock_unlock(&w->lk);
	for (size_t i = 0; out && !rc && i < n; i++) {
		struct status_walk sw = {.s = s, .coll = ads[i].collection};
		int64_t members;
		json_t *o;

		sw.counts = json_object();
		site_colls_lock(s, &sw.f, &sw.e);
		facts_source(sw.f, &sw.src);
		rc = s->store->ops->status_current(s->store, ads[i].rid, NULL, advert_status_row,
						   &sw);
		members = coll_count(sw.e, ads[i].collection);
		site_colls_unlock(s);
		if (!rc)
			rc = s->store->ops->site_status_list(s->store, ads[i].name, below_status_row,
							     &sw);
		o = json_pack("{s:s,s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:o}", "name", ads[i].name,
			      "enabled", ads[i].enabled, "collection", ads[i].collection, "members",
			      (json_int_t)(members < 0 ? 0 : members), "succeeded",
			      count_of(sw.counts, ok), "failed", count_of(sw.counts, bad), "running",
			      count_of(sw.counts, busy), "no_status",
			      (json_int_t)(members > (int64_t)sw.members_with_status
					       ? members - (int64_t)sw.members_with_status
					       : 0),
			      "counts", sw.counts);
		if (!o || json_array_append_new(out, o))
			rc = -STEWARD_ENOMEM;
	}
	free(ads);
	if (rc) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* Collect rows: the store holds its lock during callbacks, so the history
 * of each row is read after the walk, not inside it. */
struct row_set {
	struct store_status *m;
	size_t n, cap;
};

static int collect_status(const struct store_status *m, void *ctx)
{
	struct row_set *rs = ctx;

	if (grow((void **)&rs->m, &rs->cap, rs->n, sizeof(*rs->m)))
		return -STEWARD_ENOMEM;
	rs->m[rs->n++] = *m;
	return 0;
}

static int hist_row(const struct store_status *m, void *ctx)
{
	return json_array_append_new(ctx, status_row_json(m)) ? -STEWARD_ENOMEM : 0;
}

enum http_result site_h_status_client(struct http_req *req, void *app)
{
	struct site *s = app;
	struct swd *w = swd_of(s);
	const char *id = http_req_param(req, 0);
	struct row_set rs = {0};
	json_t *adverts;
	int rc;

	if (!proto_client_id_valid(id)) {
		reply_error(req, 400, "bad_request", "client ids are 32 lowercase hex digits",
			    "'%.40s' is not a client id", id ? id : "");
		return HTTP_DONE;
	}
	rc = s->store->ops->status_current(s->store, 0, id, collect_status, &rs);
	adverts = json_array();
	for (size_t i = 0; !rc && i < rs.n; i++) {
		json_t *o = status_row_json(&rs.m[i]), *hist = json_array();
		struct store_advert *a;

		pthread_rwlock_rdlock(&w->lk);
		a = ad_by_rid(w, rs.m[i].advert_rid);
		json_object_set_new(o, "advert", json_string(a ? a->name : "?"));
		pthread_rwlock_unlock(&w->lk);
		rc = s->store->ops->status_history(s->store, rs.m[i].advert_rid, id,
						   SWD_HISTORY_SHOWN, hist_row, hist);
		json_object_set_new(o, "history", hist);
		json_array_append_new(adverts, o);
	}
	free(rs.m);
	if (rc) {
		json_decref(adverts);
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200, json_pack("{s:s,s:o}", "client", id, "adverts", adverts));
	return HTTP_DONE;
}

/* ---- objects from above -------------------------------------------------------------------- *
 * The parent's programs and advertisements, applied by hierarchy.c's
 * worker as they arrive and kept marked with the site that defined them:
 * read-only here (site_reply_from_above). A local object of the same name
 * is never overwritten: the one from above is refused (name_conflict) and
 * the parent is told. docs/internals/hierarchy.md, "Objects down". */

bool site_swdist_name_valid(const char *name)
{
	return swd_name_valid(name);
}

void site_reply_from_above(struct http_req *req, const char *what, const char *name,
			   const char *origin)
{
	char remedy[160];

	snprintf(remedy, sizeof(remedy),
		 "change or delete it at site %s; the change reaches this site by itself", origin);
	reply_error(req, 409, "object_from_above", remedy,
		    "%s '%.130s' comes from site %s above and is read-only here", what, name,
		    origin);
}

bool site_swdist_spec_valid(json_t *spec, char *why, size_t whysz)
{
	static const char *const codes[] = {"success_codes", "reboot_codes"};
	const char *cmd = json_string_value(json_object_get(spec, "command"));
	const char *wd = json_string_value(json_object_get(spec, "workdir"));
	const char *user = json_string_value(json_object_get(spec, "user"));
	const char *run = json_string_value(json_object_get(spec, "run"));
	const char *req = json_string_value(json_object_get(spec, "requirement"));
	const char *comment = json_string_value(json_object_get(spec, "comment"));
	json_t *env = json_object_get(spec, "env"), *t = json_object_get(spec, "timeout");
	json_t *mf = json_object_get(spec, "min_free_mb");
	struct core_query *q = NULL;

	if (!json_is_object(spec) || !cmd || !*cmd || strlen(cmd) > SWD_COMMAND_MAX ||
	    !str_printable(cmd)) {
		snprintf(why, whysz, "a program's command is missing, too long or not printable");
		return false;
	}
	if (!wd || (*wd && !content_path_valid(wd)) || !user || !user_valid(user) || !run ||
	    (strcmp(run, "once") && strcmp(run, "always")) || (env && !env_valid(env)) ||
	    !json_is_integer(t) || json_integer_value(t) < 1 ||
	    json_integer_value(t) > 7 * 86400 || !json_is_integer(mf) ||
	    json_integer_value(mf) < 0 || json_integer_value(mf) > 100000000 ||
	    (comment && (strlen(comment) > 256 || !str_printable(comment)))) {
		snprintf(why, whysz, "a program's workdir, user, run, env, timeout, min_free_mb or "
				     "comment is bad");
		return false;
	}
	for (size_t k = 0; k < 2; k++) {
		json_t *a = json_object_get(spec, codes[k]), *x;
		size_t i;

		if (!json_is_array(a) || json_array_size(a) > 32) {
			snprintf(why, whysz, "a program's %s is not an array of at most 32 codes",
				 codes[k]);
			return false;
		}
		json_array_foreach(a, i, x)
		{
			if (!json_is_integer(x) || json_integer_value(x) < 0 ||
			    json_integer_value(x) > 255) {
				snprintf(why, whysz, "a program's %s holds a bad exit code", codes[k]);
				return false;
			}
		}
	}
	if (req && *req) {
		if (strlen(req) > CORE_QUERY_TEXT_MAX || core_query_parse(req, &q, NULL) != 0) {
			snprintf(why, whysz, "a program's requirement is not a valid query");
			return false;
		}
		core_query_free(q);
	}
	return true;
}

int site_swdist_package_here(struct site *s, const char *name, const char *version,
			     char origin[PROTO_SITE_CODE_LEN + 1])
{
	struct swd *w = swd_of(s);
	struct store_package *p;
	int here = 0;

	pthread_rwlock_rdlock(&w->lk);
	p = pkg_find(w, name, version);
	if (p && strcmp(p->version, version) == 0) {
		snprintf(origin, PROTO_SITE_CODE_LEN + 1, "%s", p->origin);
		here = 1;
	}
	pthread_rwlock_unlock(&w->lk);
	return here;
}

int site_swdist_package_from_above(struct site *s, struct content_manifest *m,
				   const char *comment, const char *by, const char *origin,
				   struct steward_err *err)
{
	struct swd *w = swd_of(s);
	struct store_package p;
	struct store_blob *blobs = calloc(m->n_entries + 1, sizeof(*blobs));
	char *text = NULL;
	size_t len = 0, nb = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	if (!blobs)
		return steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
	/* this site's agents check manifests against this site's key */
	snprintf(m->site, sizeof(m->site), "%s", s->cfg.site_code);
	memcpy(m->key, s->site_kp.pk, PROTO_PK_BYTES);
	rc = content_manifest_build(m, &s->site_kp, &text, &len, err);
	if (!rc)
		rc = content_store_put_buf(s->content, text, len, NULL, p.manifest, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < m->n_entries; i++) {
		if (m->entries[i].type != CONTENT_FILE)
			continue;
		snprintf(blobs[nb].hash, sizeof(blobs[nb].hash), "%s", m->entries[i].hash);
		blobs[nb++].size = (int64_t)m->entries[i].size;
	}
	snprintf(blobs[nb].hash, sizeof(blobs[nb].hash), "%s", p.manifest);
	blobs[nb++].size = (int64_t)len;
	snprintf(p.name, sizeof(p.name), "%s", m->package);
	snprintf(p.version, sizeof(p.version), "%s", m->version);
	snprintf(p.created_by, sizeof(p.created_by), "%s", by);
	snprintf(p.comment, sizeof(p.comment), "%s", comment);
	snprintf(p.origin, sizeof(p.origin), "%s", origin);
	p.bytes = (int64_t)m->total_bytes;
	p.files = (int64_t)(nb - 1);
	p.created = m->created;
	pthread_rwlock_wrlock(&w->lk);
	rc = s->store->ops->package_create(s->store, &p, blobs, nb);
	if (!rc)
		rc = load_pkg(&p, w);
	pthread_rwlock_unlock(&w->lk);
	if (rc)
		steward_err_set(err, STEWARD_ESTORE, "store_unavailable", "",
				"cannot store package %s %s: %s", m->package, m->version,
				steward_strerror(rc));
	else
		log_info("swdist", "package_from_above", "name=%s version=%s manifest=%s files=%lld "
							 "bytes=%lld origin=%s",
			 p.name, p.version, p.manifest, (long long)p.files, (long long)p.bytes,
			 origin);
out:
	free(text);
	free(blobs);
	return rc;
}

/* Why something an object from above needs is not here: still on its way
 * (not done: wait with its state), refused here (done), or not sent yet. */
struct dep_state {
	bool found, done;
	char state[24];
	char detail[STORE_OBJECT_DETAIL_MAX + 1];
};

static int dep_row(const struct store_down *d, void *ctx)
{
	struct dep_state *st = ctx;

	st->found = true;
	st->done = d->done;
	snprintf(st->state, sizeof(st->state), "%s", d->state);
	snprintf(st->detail, sizeof(st->detail), "%s", d->detail);
	return 0;
}

static void needs(struct site *s, const char *kind, const char *name, const char *what,
		  struct site_down_out *out)
{
	struct dep_state st = {0};

	s->store->ops->down_list(s->store, kind, name, true, dep_row, &st);
	if (st.found && st.done && strcmp(st.state, "applied") != 0)
		site_down_set(out, true, "refused", "%s %s is not here: %s%s%.300s", what, name,
			      st.state, st.detail[0] ? ": " : "", st.detail);
	else if (st.found && !st.done && strncmp(st.state, "waiting", 7) == 0)
		site_down_set(out, false, st.state, "%s %s: %.400s", what, name, st.detail);
	else
		site_down_set(out, false, "waiting", "for %s %s", what, name);
}

static void down_program(struct site *s, const struct store_down *d, json_t *b,
			 struct site_down_out *out)
{
	struct swd *w = swd_of(s);
	const char *name = json_string_value(json_object_get(b, "name"));
	const char *pkg = json_string_value(json_object_get(b, "package"));
	const char *ver = json_string_value(json_object_get(b, "version"));
	const char *spec = json_string_value(json_object_get(b, "spec"));
	const char *by = json_string_value(json_object_get(b, "created_by"));
	struct swd_program *pr;
	struct store_package *p;
	struct store_program sp;
	char pname[2 * STORE_SWD_NAME_MAX + 2];
	int rc;

	pthread_rwlock_wrlock(&w->lk);
	pr = prog_find(w, name);
	if (strcmp(d->op, "delete") == 0) {
		char users[400] = "";
		size_t ul = 0;
		bool local = false;

		if (!pr || !pr->p.origin[0]) {
			pthread_rwlock_unlock(&w->lk);
			site_down_set(out, true, "deleted", "%s", "");
			return;
		}
		for (size_t j = 0; j < w->n_ads && ul < sizeof(users); j++)
			if (w->ads[j].program_rid == pr->p.rid) {
				local |= !w->ads[j].origin[0];
				ul += (size_t)snprintf(users + ul, sizeof(users) - ul, "%s'%s'",
						       ul ? ", " : "", w->ads[j].name);
			}
		if (users[0]) {
			pthread_rwlock_unlock(&w->lk);
			/* advertisements from above go first, by themselves */
			site_down_set(out, local, local ? "refused" : "waiting",
				      "advertised here by %.300s at %s", users, s->cfg.site_code);
			return;
		}
		rc = s->store->ops->program_delete(s->store, pr->p.rid);
		if (rc == 0) {
			prog_clear(pr);
			*pr = w->progs[--w->n_progs];
		}
		pthread_rwlock_unlock(&w->lk);
		if (rc)
			site_down_set(out, false, "waiting", "the database: %s", steward_strerror(rc));
		else
			site_down_set(out, true, "deleted", "%s", "");
		return;
	}
	if (pr) {
		bool local = !pr->p.origin[0];

		pthread_rwlock_unlock(&w->lk);
		if (local)
			site_down_set(out, true, "name_conflict", "a local program has this name at %s",
				      s->cfg.site_code);
		else
			site_down_set(out, true, "applied", "%s", "");
		return;
	}
	snprintf(pname, sizeof(pname), "%s@%s", pkg, ver);
	p = pkg_find(w, pkg, ver);
	if (p && strcmp(p->version, ver) != 0)
		p = NULL;
	if (!p || !p->origin[0]) {
		pthread_rwlock_unlock(&w->lk);
		if (p)
			site_down_set(out, true, "refused",
				      "package %s at %s is this site's own, not the one from above",
				      pname, s->cfg.site_code);
		else
			needs(s, "package", pname, "package", out);
		return;
	}
	memset(&sp, 0, sizeof(sp));
	snprintf(sp.name, sizeof(sp.name), "%s", name);
	sp.package_rid = p->rid;
	sp.spec = spec;
	sp.created = time_now_s();
	snprintf(sp.created_by, sizeof(sp.created_by), "%s", by ? by : "");
	snprintf(sp.origin, sizeof(sp.origin), "%s", d->origin);
	rc = grow((void **)&w->progs, &w->cap_progs, w->n_progs, sizeof(*w->progs));
	if (!rc)
		rc = s->store->ops->program_create(s->store, &sp);
	if (!rc && prog_load(&w->progs[w->n_progs], &sp) == 0)
		w->n_progs++;
	pthread_rwlock_unlock(&w->lk);
	if (rc) {
		site_down_set(out, false, "waiting", "the database: %s", steward_strerror(rc));
		return;
	}
	log_info("swdist", "program_from_above", "name=\"%s\" package=%s origin=%s", name, pname,
		 d->origin);
	site_down_set(out, true, "applied", "%s", "");
}

static int64_t int_of(json_t *b, const char *key)
{
	return json_integer_value(json_object_get(b, key));
}

static void down_advert(struct site *s, const struct store_down *d, json_t *b,
			struct site_down_out *out)
{
	struct swd *w = swd_of(s);
	const char *name = json_string_value(json_object_get(b, "name"));
	const char *prog = json_string_value(json_object_get(b, "program"));
	const char *coll = json_string_value(json_object_get(b, "collection"));
	const char *by = json_string_value(json_object_get(b, "created_by"));
	bool enabled = json_is_true(json_object_get(b, "enabled"));
	struct store_advert *a, na;
	struct swd_program *pr;
	struct facts *f;
	struct coll_engine *e;
	int64_t rev = 0;
	bool coll_ok;
	int rc;

	pthread_rwlock_wrlock(&w->lk);
	a = ad_find(w, name);
	if (strcmp(d->op, "delete") == 0) {
		if (!a || !a->origin[0]) {
			pthread_rwlock_unlock(&w->lk);
			site_down_set(out, true, "deleted", "%s", "");
			return;
		}
		rc = s->store->ops->advert_delete(s->store, a->rid);
		if (rc == 0) {
			*a = w->ads[--w->n_ads];
			recount_enabled(w);
		}
		pthread_rwlock_unlock(&w->lk);
		if (rc)
			site_down_set(out, false, "waiting", "the database: %s", steward_strerror(rc));
		else
			site_down_set(out, true, "deleted", "%s", "");
		if (!rc)
			log_info("swdist", "advert_deleted", "name=\"%s\" by=\"site %s\"", name,
				 d->origin);
		return;
	}
	if (a) {
		bool local = !a->origin[0];

		rc = 0;
		if (!local && a->enabled != enabled) {
			rc = s->store->ops->advert_set_enabled(s->store, a->rid, enabled, &rev);
			if (!rc) {
				a->enabled = enabled;
				a->revision = rev;
				recount_enabled(w);
				log_info("swdist", enabled ? "advert_enabled" : "advert_disabled",
					 "name=\"%s\" by=\"site %s\"", a->name, d->origin);
			}
		}
		pthread_rwlock_unlock(&w->lk);
		if (local)
			site_down_set(out, true, "name_conflict",
				      "a local advertisement has this name at %s", s->cfg.site_code);
		else if (rc)
			site_down_set(out, false, "waiting", "the database: %s", steward_strerror(rc));
		else
			site_down_set(out, true, "applied", "%s", "");
		return;
	}
	pr = prog_find(w, prog);
	if (!pr || !pr->p.origin[0]) {
		pthread_rwlock_unlock(&w->lk);
		if (pr)
			site_down_set(out, true, "refused",
				      "program %s at %s is this site's own, not the one from above",
				      prog, s->cfg.site_code);
		else
			needs(s, "program", prog, "program", out);
		return;
	}
	memset(&na, 0, sizeof(na));
	site_colls_lock(s, &f, &e);
	coll_ok = coll_exists(e, coll);
	if (coll_ok)
		snprintf(na.collection, sizeof(na.collection), "%s", coll_name(e, coll));
	site_colls_unlock(s);
	if (!coll_ok) {
		pthread_rwlock_unlock(&w->lk);
		needs(s, "collection", coll, "collection", out);
		return;
	}
	snprintf(na.name, sizeof(na.name), "%s", name);
	snprintf(na.created_by, sizeof(na.created_by), "%s", by ? by : "");
	snprintf(na.origin, sizeof(na.origin), "%s", d->origin);
	na.program_rid = pr->p.rid;
	na.available = int_of(b, "available");
	na.mandatory = int_of(b, "mandatory");
	na.recurring = int_of(b, "recurring");
	na.expires = int_of(b, "expires");
	{
		/* the link policy as the site above wrote it; one this site
		 * cannot read keeps the defaults */
		const char *links = json_string_value(json_object_get(b, "links"));
		struct core_link_policy lp;
		char lmsg[200];

		if (links && strlen(links) < sizeof(na.links) &&
		    core_link_policy_parse(links, &lp, lmsg, sizeof(lmsg)) == 0)
			snprintf(na.links, sizeof(na.links), "%s", links);
		na.link_deadline = int_of(b, "link_deadline");
	}
	na.enabled = enabled;
	na.revision = 1;
	na.created = time_now_s();
	rc = grow((void **)&w->ads, &w->cap_ads, w->n_ads, sizeof(*w->ads));
	if (!rc)
		rc = s->store->ops->advert_create(s->store, &na);
	if (!rc) {
		w->ads[w->n_ads++] = na;
		recount_enabled(w);
	}
	pthread_rwlock_unlock(&w->lk);
	if (rc) {
		site_down_set(out, false, "waiting", "the database: %s", steward_strerror(rc));
		return;
	}
	log_info("swdist", "advert_from_above", "name=\"%s\" program=\"%s\" collection=\"%s\" "
						"enabled=%d origin=%s",
		 na.name, prog, na.collection, na.enabled, d->origin);
	site_down_set(out, true, "applied", "%s", "");
}

/* A package's deletion from above (its content comes in hierarchy.c). */
static void down_package_delete(struct site *s, const struct store_down *d, json_t *b,
				struct site_down_out *out)
{
	struct swd *w = swd_of(s);
	const char *name = json_string_value(json_object_get(b, "name"));
	const char *ver = json_string_value(json_object_get(b, "version"));
	struct store_package *p;
	struct blob_set gone = {0};
	char users[400] = "";
	size_t ul = 0;
	bool local = false;
	int rc;

	(void)d;
	pthread_rwlock_wrlock(&w->lk);
	p = pkg_find(w, name, ver);
	if (!p || strcmp(p->version, ver) != 0 || !p->origin[0]) {
		pthread_rwlock_unlock(&w->lk);
		site_down_set(out, true, "deleted", "%s", "");
		return;
	}
	for (size_t i = 0; i < w->n_progs && ul < sizeof(users); i++)
		if (w->progs[i].p.package_rid == p->rid) {
			local |= !w->progs[i].p.origin[0];
			ul += (size_t)snprintf(users + ul, sizeof(users) - ul, "%s'%s'",
					       ul ? ", " : "", w->progs[i].p.name);
		}
	if (users[0]) {
		pthread_rwlock_unlock(&w->lk);
		/* programs from above go first, by themselves */
		site_down_set(out, local, local ? "refused" : "waiting",
			      "used here by program %.300s at %s", users, s->cfg.site_code);
		return;
	}
	rc = s->store->ops->package_blobs(s->store, p->rid, collect_blob, &gone);
	if (!rc)
		rc = s->store->ops->package_delete(s->store, p->rid);
	if (!rc)
		*p = w->pkgs[--w->n_pkgs];
	pthread_rwlock_unlock(&w->lk);
	if (rc) {
		site_down_set(out, false, "waiting", "the database: %s", steward_strerror(rc));
	} else {
		drop_orphans(s, &gone);
		site_down_set(out, true, "deleted", "%s", "");
	}
	free(gone.b);
}

void site_swdist_down(struct site *s, const struct store_down *d, json_t *b,
		      struct site_down_out *out)
{
	if (strcmp(d->kind, "program") == 0)
		down_program(s, d, b, out);
	else if (strcmp(d->kind, "advert") == 0)
		down_advert(s, d, b, out);
	else if (strcmp(d->kind, "package") == 0 && strcmp(d->op, "delete") == 0)
		down_package_delete(s, d, b, out);
	else
		site_down_set(out, true, "refused", "kind '%.16s' is not applied here", d->kind);
}

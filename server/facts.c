/* facts: every client's query facts in memory, and the site's collections.
 *
 * Loaded at start from the clients and inventory tables, then kept current
 * by site_facts_client_changed(). Memory stays small for a large fleet:
 * every string (model names, versions, package names) is interned once
 * and clients hold 32-bit ids; a client's packages are an interned,
 * reference-counted package set (a sorted array of interned (name,
 * version, arch) ids), shared by every client with the same software.
 * A fleet of 100,000 clients built from a few hundred images holds a few
 * hundred package sets, not 100,000. See docs/internals/collections.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include <jansson.h>

#include "collections.h"
#include "site.h"

#define FACTS_IPS_MAX 64
#define ARENA_CHUNK   (64 * 1024)

/* ---- interned strings ------------------------------------------------------------ */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	char data[];
};

struct strtab {
	char **strs; /* id -> string; id 0 is "no value" */
	uint32_t n, cap;
	uint32_t *slots; /* open addressing: ids, 0 empty */
	size_t nslots;
	struct arena_chunk *chunks;
	size_t bytes;
};

static uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static char *arena_copy(struct strtab *t, const char *s, size_t n)
{
	struct arena_chunk *c = t->chunks;
	char *out;

	if (!c || c->cap - c->used < n + 1) {
		size_t cap = n + 1 > ARENA_CHUNK ? n + 1 : ARENA_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = t->chunks;
		c->used = 0;
		c->cap = cap;
		t->chunks = c;
	}
	out = c->data + c->used;
	memcpy(out, s, n);
	out[n] = '\0';
	c->used += n + 1;
	t->bytes += n + 1;
	return out;
}

static int strtab_rehash(struct strtab *t, size_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(uint32_t));

	if (!slots)
		return -STEWARD_ENOMEM;
	for (uint32_t id = 1; id < t->n; id++) {
		size_t i = hash_bytes(t->strs[id], strlen(t->strs[id])) & (nslots - 1);
		while (slots[i])
			i = (i + 1) & (nslots - 1);
		slots[i] = id;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

/* The id of s (0 for NULL or ""), interning it when new; 0 on ENOMEM too,
 * which reads as "no value": a query then sees the client without it. */
static uint32_t intern(struct strtab *t, const char *s)
{
	size_t n, i;

	if (!s || !*s)
		return 0;
	n = strlen(s);
	if ((size_t)t->n * 2 >= t->nslots && strtab_rehash(t, t->nslots ? t->nslots * 2 : 1024))
		return 0;
	i = hash_bytes(s, n) & (t->nslots - 1);
	while (t->slots[i]) {
		if (strcmp(t->strs[t->slots[i]], s) == 0)
			return t->slots[i];
		i = (i + 1) & (t->nslots - 1);
	}
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 1024;
		char **v = realloc(t->strs, cap * sizeof(char *));
		if (!v)
			return 0;
		t->strs = v;
		t->cap = cap;
		if (t->n == 0)
			t->strs[t->n++] = NULL;
	}
	t->strs[t->n] = arena_copy(t, s, n);
	if (!t->strs[t->n])
		return 0;
	t->slots[i] = t->n;
	return t->n++;
}

static const char *str_of(const struct strtab *t, uint32_t id)
{
	return id && id < t->n ? t->strs[id] : NULL;
}

static void strtab_free(struct strtab *t)
{
	while (t->chunks) {
		struct arena_chunk *c = t->chunks;
		t->chunks = c->next;
		free(c);
	}
	free(t->strs);
	free(t->slots);
}

/* ---- packages and package sets ----------------------------------------------------- */

struct pkg {
	uint32_t name, version, arch;
};

struct pkgset {
	struct pkgset *next;  /* chain by content */
	struct pkgset *hnext; /* chain by the inventory's software hash */
	uint32_t src_hash;    /* interned software hash it was read from; 0: none */
	uint64_t hash;
	uint32_t refs, n;
	uint32_t ids[]; /* package ids sorted by name, version, arch */
};

struct facts_client {
	char id[PROTO_CLIENT_ID_HEX + 1];
	bool used;
	uint8_t state;
	uint8_t n_ips;
	uint32_t attr[CORE_QUERY_ATTR_COUNT]; /* string ids; [IP] unused */
	uint32_t *ips;
	struct pkgset *pkgs;
};

/* What a query's callbacks see: the client being evaluated. */
struct facts_eval {
	struct facts *f;
	const struct facts_client *c;
	const char *vals[FACTS_IPS_MAX];
};

struct facts {
	struct strtab strs;
	struct pkg *pkgs; /* package id -> triple; id 0 unused */
	uint32_t n_pkgs, cap_pkgs;
	uint32_t *pkg_slots; /* open addressing over package ids */
	size_t n_pkg_slots;
	struct pkgset **sets;	 /* chained hash of package sets */
	struct pkgset **by_hash; /* the same sets by software hash: no parse */
	size_t n_set_buckets, n_sets, set_refs;
	struct facts_client *clients;
	uint32_t n_clients, cap_clients;
	uint32_t *id_slots; /* open addressing: slot + 1, 0 empty */
	size_t n_id_slots;
	struct facts_eval ev;
};

static uint64_t pkg_hash(const struct pkg *p)
{
	return hash_bytes(p, sizeof(*p));
}

static int pkg_rehash(struct facts *f, size_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(uint32_t));

	if (!slots)
		return -STEWARD_ENOMEM;
	for (uint32_t id = 1; id < f->n_pkgs; id++) {
		size_t i = pkg_hash(&f->pkgs[id]) & (nslots - 1);
		while (slots[i])
			i = (i + 1) & (nslots - 1);
		slots[i] = id;
	}
	free(f->pkg_slots);
	f->pkg_slots = slots;
	f->n_pkg_slots = nslots;
	return 0;
}

static uint32_t pkg_intern(struct facts *f, const struct pkg *p)
{
	size_t i;

	if ((size_t)f->n_pkgs * 2 >= f->n_pkg_slots &&
	    pkg_rehash(f, f->n_pkg_slots ? f->n_pkg_slots * 2 : 4096))
		return 0;
	i = pkg_hash(p) & (f->n_pkg_slots - 1);
	while (f->pkg_slots[i]) {
		if (memcmp(&f->pkgs[f->pkg_slots[i]], p, sizeof(*p)) == 0)
			return f->pkg_slots[i];
		i = (i + 1) & (f->n_pkg_slots - 1);
	}
	if (f->n_pkgs == f->cap_pkgs) {
		uint32_t cap = f->cap_pkgs ? f->cap_pkgs * 2 : 4096;
		struct pkg *v = realloc(f->pkgs, cap * sizeof(*v));
		if (!v)
			return 0;
		f->pkgs = v;
		f->cap_pkgs = cap;
		if (f->n_pkgs == 0)
			memset(&f->pkgs[f->n_pkgs++], 0, sizeof(struct pkg));
	}
	f->pkgs[f->n_pkgs] = *p;
	f->pkg_slots[i] = f->n_pkgs;
	return f->n_pkgs++;
}

static int pkg_cmp(const struct facts *f, uint32_t a, uint32_t b)
{
	const struct pkg *x = &f->pkgs[a], *y = &f->pkgs[b];
	int r;

	if (x->name != y->name &&
	    (r = strcmp(str_of(&f->strs, x->name) ? str_of(&f->strs, x->name) : "",
			str_of(&f->strs, y->name) ? str_of(&f->strs, y->name) : "")))
		return r;
	if (x->version != y->version)
		return x->version < y->version ? -1 : 1;
	if (x->arch != y->arch)
		return x->arch < y->arch ? -1 : 1;
	return 0;
}

/* qsort has no context argument: sort with a small merge sort instead. */
static void pkg_sort(const struct facts *f, uint32_t *v, uint32_t *tmp, size_t n)
{
	size_t h;

	if (n < 2)
		return;
	h = n / 2;
	pkg_sort(f, v, tmp, h);
	pkg_sort(f, v + h, tmp, n - h);
	{
		size_t i = 0, j = h, k = 0;
		while (i < h && j < n)
			tmp[k++] = pkg_cmp(f, v[j], v[i]) < 0 ? v[j++] : v[i++];
		while (i < h)
			tmp[k++] = v[i++];
		while (j < n)
			tmp[k++] = v[j++];
		memcpy(v, tmp, n * sizeof(*v));
	}
}

static void pkgset_release(struct facts *f, struct pkgset *ps)
{
	struct pkgset **pp;

	if (!ps || --ps->refs > 0) {
		if (ps)
			f->set_refs--;
		return;
	}
	f->set_refs--;
	for (pp = &f->sets[ps->hash % f->n_set_buckets]; *pp; pp = &(*pp)->next)
		if (*pp == ps) {
			*pp = ps->next;
			break;
		}
	for (pp = &f->by_hash[ps->src_hash % f->n_set_buckets]; ps->src_hash && *pp;
	     pp = &(*pp)->hnext)
		if (*pp == ps) {
			*pp = ps->hnext;
			break;
		}
	f->n_sets--;
	free(ps);
}

/* The shared set holding exactly ids[0..n) (sorted), with one more
 * reference; NULL when n == 0 or out of memory. */
static struct pkgset *pkgset_get(struct facts *f, const uint32_t *ids, uint32_t n)
{
	uint64_t h;
	struct pkgset *ps;

	if (n == 0)
		return NULL;
	if (!f->sets) {
		f->n_set_buckets = 4093;
		f->sets = calloc(f->n_set_buckets, sizeof(*f->sets));
		f->by_hash = calloc(f->n_set_buckets, sizeof(*f->by_hash));
		if (!f->sets || !f->by_hash) {
			free(f->sets);
			free(f->by_hash);
			f->sets = f->by_hash = NULL;
			return NULL;
		}
	}
	h = hash_bytes(ids, n * sizeof(*ids));
	for (ps = f->sets[h % f->n_set_buckets]; ps; ps = ps->next)
		if (ps->hash == h && ps->n == n && memcmp(ps->ids, ids, n * sizeof(*ids)) == 0) {
			ps->refs++;
			f->set_refs++;
			return ps;
		}
	ps = malloc(sizeof(*ps) + n * sizeof(*ids));
	if (!ps)
		return NULL;
	ps->hash = h;
	ps->hnext = NULL;
	ps->src_hash = 0;
	ps->refs = 1;
	ps->n = n;
	memcpy(ps->ids, ids, n * sizeof(*ids));
	ps->next = f->sets[h % f->n_set_buckets];
	f->sets[h % f->n_set_buckets] = ps;
	f->n_sets++;
	f->set_refs++;
	return ps;
}

/* ---- clients ------------------------------------------------------------------------ */

int facts_new(struct facts **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -STEWARD_ENOMEM;
	(*out)->ev.f = *out;
	return 0;
}

void facts_free(struct facts *f)
{
	if (!f)
		return;
	for (uint32_t i = 0; i < f->n_clients; i++) {
		free(f->clients[i].ips);
		pkgset_release(f, f->clients[i].pkgs);
	}
	free(f->clients);
	free(f->id_slots);
	free(f->sets);
	free(f->by_hash);
	free(f->pkgs);
	free(f->pkg_slots);
	strtab_free(&f->strs);
	free(f);
}

uint32_t facts_slots(const struct facts *f)
{
	return f->n_clients;
}

static int id_rehash(struct facts *f, size_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(uint32_t));

	if (!slots)
		return -STEWARD_ENOMEM;
	for (uint32_t s = 0; s < f->n_clients; s++) {
		size_t i = hash_bytes(f->clients[s].id, strlen(f->clients[s].id)) & (nslots - 1);
		while (slots[i])
			i = (i + 1) & (nslots - 1);
		slots[i] = s + 1;
	}
	free(f->id_slots);
	f->id_slots = slots;
	f->n_id_slots = nslots;
	return 0;
}

static int64_t find_slot(const struct facts *f, const char *id)
{
	size_t i;

	if (!f->n_id_slots || !id)
		return -1;
	i = hash_bytes(id, strlen(id)) & (f->n_id_slots - 1);
	while (f->id_slots[i]) {
		if (strcmp(f->clients[f->id_slots[i] - 1].id, id) == 0)
			return f->id_slots[i] - 1;
		i = (i + 1) & (f->n_id_slots - 1);
	}
	return -1;
}

static int new_slot(struct facts *f, const char *id, uint32_t *slot)
{
	size_t i;

	if (f->n_clients == f->cap_clients) {
		uint32_t cap = f->cap_clients ? f->cap_clients * 2 : 1024;
		struct facts_client *v = realloc(f->clients, cap * sizeof(*v));
		if (!v)
			return -STEWARD_ENOMEM;
		f->clients = v;
		f->cap_clients = cap;
	}
	if (((size_t)f->n_clients + 1) * 2 >= f->n_id_slots &&
	    id_rehash(f, f->n_id_slots ? f->n_id_slots * 2 : 2048))
		return -STEWARD_ENOMEM;
	memset(&f->clients[f->n_clients], 0, sizeof(f->clients[0]));
	snprintf(f->clients[f->n_clients].id, sizeof(f->clients[0].id), "%s", id);
	i = hash_bytes(id, strlen(id)) & (f->n_id_slots - 1);
	while (f->id_slots[i])
		i = (i + 1) & (f->n_id_slots - 1);
	f->id_slots[i] = f->n_clients + 1;
	*slot = f->n_clients++;
	return 0;
}

static uint32_t intern_json(struct facts *f, json_t *v)
{
	char num[32];

	if (json_is_string(v))
		return intern(&f->strs, json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return intern(&f->strs, num);
	}
	return 0;
}

static void add_ip(struct facts *f, uint32_t *ips, uint8_t *n, json_t *v)
{
	uint32_t id = json_is_string(v) ? intern(&f->strs, json_string_value(v)) : 0;

	if (!id || *n >= FACTS_IPS_MAX)
		return;
	for (uint8_t i = 0; i < *n; i++)
		if (ips[i] == id)
			return;
	ips[(*n)++] = id;
}

static json_t *load(const char *text)
{
	return text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
}

static int read_software(struct facts *f, json_t *sw, struct pkgset **out)
{
	json_t *pk = json_object_get(sw, "packages"), *p;
	size_t n = json_array_size(pk), i;
	uint32_t *ids, *tmp, k = 0;

	*out = NULL;
	if (n == 0)
		return 0;
	ids = malloc(n * sizeof(*ids));
	tmp = malloc(n * sizeof(*tmp));
	if (!ids || !tmp) {
		free(ids);
		free(tmp);
		return -STEWARD_ENOMEM;
	}
	json_array_foreach(pk, i, p)
	{
		struct pkg t = {
		    intern(&f->strs, json_string_value(json_object_get(p, "name"))),
		    intern(&f->strs, json_string_value(json_object_get(p, "version"))),
		    intern(&f->strs, json_string_value(json_object_get(p, "arch"))),
		};
		uint32_t id = t.name ? pkg_intern(f, &t) : 0;
		if (id)
			ids[k++] = id;
	}
	pkg_sort(f, ids, tmp, k);
	/* the same package listed twice counts once */
	{
		uint32_t w = 0;
		for (uint32_t r = 0; r < k; r++)
			if (w == 0 || ids[w - 1] != ids[r])
				ids[w++] = ids[r];
		k = w;
	}
	*out = pkgset_get(f, ids, k);
	free(ids);
	free(tmp);
	return k && !*out ? -STEWARD_ENOMEM : 0;
}

int facts_put(struct facts *f, const struct store_client_facts *row, uint32_t *slot)
{
	struct facts_client nc, *c;
	json_t *hw = load(row->hardware), *os = load(row->os), *sw = NULL;
	json_t *addrs = load(row->addresses), *v, *net, *a;
	uint32_t ips[FACTS_IPS_MAX];
	int64_t s = find_slot(f, row->id);
	size_t i, j;
	int rc = 0;

	memset(&nc, 0, sizeof(nc));
	if (s < 0) {
		uint32_t ns;
		rc = new_slot(f, row->id, &ns);
		if (rc)
			goto out;
		s = ns;
	}
	c = &f->clients[s];
	nc.used = true;
	nc.state = (uint8_t)row->state;
	memcpy(nc.id, c->id, sizeof(nc.id));
	nc.attr[CORE_QUERY_ATTR_SITE] = intern(&f->strs, row->site);
	nc.attr[CORE_QUERY_ATTR_HOSTNAME] = intern(&f->strs, row->hostname);
	nc.attr[CORE_QUERY_ATTR_STATE] = intern(&f->strs, store_client_state_name(row->state));
	nc.attr[CORE_QUERY_ATTR_AGENT_VERSION] = intern(&f->strs, row->agent_version);
	json_array_foreach(addrs, i, v) add_ip(f, ips, &nc.n_ips, v);
	if (hw) {
		json_t *cpu = json_object_get(hw, "cpu"), *dmi = json_object_get(hw, "dmi");
		nc.attr[CORE_QUERY_ATTR_CPU_MODEL] = intern_json(f, json_object_get(cpu, "model"));
		nc.attr[CORE_QUERY_ATTR_CPU_SOCKETS] =
		    intern_json(f, json_object_get(cpu, "sockets"));
		nc.attr[CORE_QUERY_ATTR_CPU_CORES] = intern_json(f, json_object_get(cpu, "cores"));
		nc.attr[CORE_QUERY_ATTR_CPU_THREADS] =
		    intern_json(f, json_object_get(cpu, "threads"));
		nc.attr[CORE_QUERY_ATTR_MEMORY_TOTAL_MB] =
		    intern_json(f, json_object_get(json_object_get(hw, "memory"), "total_mb"));
		nc.attr[CORE_QUERY_ATTR_VIRTUALIZATION] =
		    intern_json(f, json_object_get(hw, "virtualization"));
		nc.attr[CORE_QUERY_ATTR_DMI_VENDOR] =
		    intern_json(f, json_object_get(dmi, "vendor"));
		nc.attr[CORE_QUERY_ATTR_DMI_PRODUCT] =
		    intern_json(f, json_object_get(dmi, "product"));
		net = json_object_get(hw, "network");
		json_array_foreach(net, i, v) json_array_foreach(json_object_get(v, "addresses"), j,
								 a) add_ip(f, ips, &nc.n_ips, a);
	}
	if (os) {
		nc.attr[CORE_QUERY_ATTR_OS_ID] = intern_json(f, json_object_get(os, "id"));
		nc.attr[CORE_QUERY_ATTR_OS_NAME] = intern_json(f, json_object_get(os, "name"));
		nc.attr[CORE_QUERY_ATTR_OS_VERSION_ID] =
		    intern_json(f, json_object_get(os, "version_id"));
		nc.attr[CORE_QUERY_ATTR_KERNEL_RELEASE] =
		    intern_json(f, json_object_get(os, "kernel_release"));
		nc.attr[CORE_QUERY_ATTR_ARCH] = intern_json(f, json_object_get(os, "arch"));
	}
	if (nc.n_ips) {
		nc.ips = malloc(nc.n_ips * sizeof(uint32_t));
		if (!nc.ips) {
			rc = -STEWARD_ENOMEM;
			goto out;
		}
		memcpy(nc.ips, ips, nc.n_ips * sizeof(uint32_t));
	}
	if (row->software) {
		/* clients built from one image share a software hash: read the
		 * package list once, not once per client */
		uint32_t h = intern(&f->strs, row->software_hash);
		struct pkgset *ps = h && f->by_hash ? f->by_hash[h % f->n_set_buckets] : NULL;

		while (ps && ps->src_hash != h)
			ps = ps->hnext;
		if (ps) {
			ps->refs++;
			f->set_refs++;
			nc.pkgs = ps;
		} else {
			sw = load(row->software);
			rc = sw ? read_software(f, sw, &nc.pkgs) : 0;
			if (rc) {
				free(nc.ips);
				goto out;
			}
			if (h && nc.pkgs && !nc.pkgs->src_hash) {
				nc.pkgs->src_hash = h;
				nc.pkgs->hnext = f->by_hash[h % f->n_set_buckets];
				f->by_hash[h % f->n_set_buckets] = nc.pkgs;
			}
		}
	}
	/* swap in only when everything is built: a failure leaves the old facts */
	free(c->ips);
	pkgset_release(f, c->pkgs);
	*c = nc;
	*slot = (uint32_t)s;
out:
	json_decref(hw);
	json_decref(os);
	json_decref(sw);
	json_decref(addrs);
	return rc;
}

void facts_get_stats(const struct facts *f, struct facts_stats *out)
{
	out->clients = f->n_clients;
	out->strings = f->strs.n ? f->strs.n - 1 : 0;
	out->string_bytes = f->strs.bytes;
	out->packages = f->n_pkgs ? f->n_pkgs - 1 : 0;
	out->package_sets = f->n_sets;
	out->package_set_refs = f->set_refs;
}

/* ---- the query facts interface ------------------------------------------------------ */

static int fx_get(void *ctx, enum core_query_attr_id attr, const char *const **vals)
{
	struct facts_eval *ev = ctx;
	const struct facts_client *c = ev->c;

	if ((int)attr < 0 || attr >= CORE_QUERY_ATTR_COUNT)
		return 0;
	if (attr == CORE_QUERY_ATTR_IP) {
		for (uint8_t i = 0; i < c->n_ips; i++)
			ev->vals[i] = str_of(&ev->f->strs, c->ips[i]);
		*vals = ev->vals;
		return c->n_ips;
	}
	ev->vals[0] = str_of(&ev->f->strs, c->attr[attr]);
	*vals = ev->vals;
	return ev->vals[0] ? 1 : 0;
}

static bool has_wildcard(const char *p)
{
	return strpbrk(p, "*?") != NULL;
}

static int fx_packages(void *ctx, const char *pattern, core_query_pkg_visit visit, void *vctx)
{
	struct facts_eval *ev = ctx;
	const struct pkgset *ps = ev->c->pkgs;
	const struct facts *f = ev->f;
	bool exact = pattern && !has_wildcard(pattern);
	int r;

	if (!ps)
		return 0;
	/* names compare ASCII case-insensitively in queries and sets are
	 * sorted by bytes: search only a lower-case exact name */
	for (const char *p = pattern; exact && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			exact = false;
	if (exact) {
		uint32_t l = 0, h = ps->n;
		while (l < h) {
			uint32_t m = l + (h - l) / 2;
			const char *n = str_of(&f->strs, f->pkgs[ps->ids[m]].name);
			if (strcmp(n ? n : "", pattern) < 0)
				l = m + 1;
			else
				h = m;
		}
		for (uint32_t i = l; i < ps->n; i++) {
			const struct pkg *p = &f->pkgs[ps->ids[i]];
			const char *name = str_of(&f->strs, p->name);
			if (!name || strcmp(name, pattern) != 0)
				break;
			r = visit(vctx, name, str_of(&f->strs, p->version));
			if (r)
				return r;
		}
		return 0;
	}
	for (uint32_t i = 0; i < ps->n; i++) {
		const struct pkg *p = &f->pkgs[ps->ids[i]];
		const char *name = str_of(&f->strs, p->name);
		r = visit(vctx, name ? name : "", str_of(&f->strs, p->version));
		if (r)
			return r;
	}
	return 0;
}

static bool src_client(void *ctx, uint32_t slot, struct coll_client *out)
{
	struct facts *f = ctx;
	const struct facts_client *c;

	if (slot >= f->n_clients || !f->clients[slot].used)
		return false;
	c = &f->clients[slot];
	f->ev.c = c;
	out->id = c->id;
	out->hostname = str_of(&f->strs, c->attr[CORE_QUERY_ATTR_HOSTNAME]);
	out->site = str_of(&f->strs, c->attr[CORE_QUERY_ATTR_SITE]);
	out->state = (enum store_client_state)c->state;
	out->live = c->state != CLIENT_DELETED;
	out->facts.ctx = &f->ev;
	out->facts.get = fx_get;
	out->facts.packages = fx_packages;
	return true;
}

static int64_t src_find(void *ctx, const char *id)
{
	return find_slot(ctx, id);
}

void facts_source(struct facts *f, struct coll_source *out)
{
	out->ctx = f;
	out->client = src_client;
	out->find = src_find;
}

/* ---- the site's collections ------------------------------------------------------------ */

struct site_colls {
	pthread_mutex_t mu;
	struct facts *f;
	struct coll_engine *e;
	uint64_t defs_hash; /* of the definitions loaded (site_collections_refresh) */
};

/* FNV-1a continued over one more field, its terminating NUL included so
 * that "ab","c" and "a","bc" differ. */
static uint64_t hash_more(uint64_t h, const char *v)
{
	size_t n = strlen(v) + 1;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)v[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int hash_def(const struct store_collection *sc, void *ctx)
{
	uint64_t *h = ctx;
	char num[32];

	*h = hash_more(*h, sc->name);
	*h = hash_more(*h, sc->is_query ? sc->query : "\x01static");
	*h = hash_more(*h, sc->comment);
	snprintf(num, sizeof(num), "%lld/%zu/%zu/%zu", (long long)sc->created, sc->n_members,
		 sc->n_include, sc->n_exclude);
	*h = hash_more(*h, num);
	for (size_t i = 0; i < sc->n_members; i++)
		*h = hash_more(*h, sc->members[i]);
	for (size_t i = 0; i < sc->n_include; i++)
		*h = hash_more(*h, sc->include[i]);
	for (size_t i = 0; i < sc->n_exclude; i++)
		*h = hash_more(*h, sc->exclude[i]);
	return 0;
}

static int load_fact(const struct store_client_facts *row, void *ctx)
{
	uint32_t slot;

	return facts_put(ctx, row, &slot);
}

struct load_ctx {
	struct coll_engine *e;
	size_t loaded, skipped;
};

static int load_def(const struct store_collection *sc, void *ctx)
{
	struct load_ctx *lc = ctx;
	const char **members = calloc(sc->n_members + 1, sizeof(char *));
	const char **inc = calloc(sc->n_include + 1, sizeof(char *));
	const char **exc = calloc(sc->n_exclude + 1, sizeof(char *));
	struct core_query_error qerr;
	char msg[COLL_MSG_MAX];
	struct coll_def d = {
	    .name = sc->name,
	    .query = sc->is_query ? sc->query : NULL,
	    .members = members,
	    .n_members = sc->n_members,
	    .include = inc,
	    .n_include = sc->n_include,
	    .exclude = exc,
	    .n_exclude = sc->n_exclude,
	    .comment = sc->comment,
	    .created_by = sc->created_by,
	    .created = sc->created,
	};
	int rc = 0;

	if (!members || !inc || !exc) {
		rc = -STEWARD_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < sc->n_members; i++)
		members[i] = sc->members[i];
	for (size_t i = 0; i < sc->n_include; i++)
		inc[i] = sc->include[i];
	for (size_t i = 0; i < sc->n_exclude; i++)
		exc[i] = sc->exclude[i];
	if (coll_define(lc->e, &d, false, &qerr, msg, sizeof(msg))) {
		/* keep the site up; the administrator sees it in the log */
		log_error("collections", "collection_skipped", "name=\"%s\" reason=\"%s\"",
			  sc->name, msg);
		lc->skipped++;
	} else {
		lc->loaded++;
	}
out:
	free(members);
	free(inc);
	free(exc);
	return rc;
}

int site_collections_load(struct site *s)
{
	struct site_colls *sc = calloc(1, sizeof(*sc));
	struct coll_source src;
	struct load_ctx lc = {0};
	struct facts_stats st;
	int rc;

	if (!sc)
		return -STEWARD_ENOMEM;
	pthread_mutex_init(&sc->mu, NULL);
	s->colls = sc;
	rc = facts_new(&sc->f);
	if (!rc)
		rc = s->store->ops->collection_facts(s->store, NULL, load_fact, sc->f);
	if (rc)
		return rc;
	facts_source(sc->f, &src);
	if (coll_engine_new(&src, facts_slots(sc->f), CORE_QUERY_BUDGET_DEFAULT, &sc->e) ||
	    coll_engine_add_site(sc->e, s->cfg.site_code))
		return -STEWARD_ENOMEM;
	for (size_t i = 0; i < s->cfg.n_boundaries; i++)
		if (coll_engine_add_site(sc->e, s->cfg.boundaries[i].site))
			return -STEWARD_ENOMEM;
	lc.e = sc->e;
	rc = s->store->ops->collection_list(s->store, load_def, &lc);
	if (!rc) {
		sc->defs_hash = 1469598103934665603ull;
		rc = s->store->ops->collection_list(s->store, hash_def, &sc->defs_hash);
	}
	if (rc)
		return rc;
	facts_get_stats(sc->f, &st);
	log_info(
	    "collections", "loaded",
	    "collections=%zu skipped=%zu clients=%zu strings=%zu string_bytes=%zu packages=%zu "
	    "package_sets=%zu",
	    lc.loaded, lc.skipped, st.clients, st.strings, st.string_bytes, st.packages,
	    st.package_sets);
	return 0;
}

int site_collections_refresh(struct site *s, bool *changed)
{
	struct site_colls *sc = s ? s->colls : NULL;
	struct coll_engine *e = NULL, *old;
	struct coll_source src;
	struct load_ctx lc = {0};
	uint64_t h = 1469598103934665603ull;
	int rc;

	*changed = false;
	if (!sc)
		return 0;
	/* the collections mutex before the store's lock, as everywhere */
	pthread_mutex_lock(&sc->mu);
	rc = s->store->ops->collection_list(s->store, hash_def, &h);
	if (rc || h == sc->defs_hash)
		goto out;
	/* a new engine over the same facts, swapped in whole: a definition
	 * made elsewhere may also have replaced one of the same name */
	facts_source(sc->f, &src);
	rc = -STEWARD_ENOMEM;
	if (coll_engine_new(&src, facts_slots(sc->f), CORE_QUERY_BUDGET_DEFAULT, &e) ||
	    coll_engine_add_site(e, s->cfg.site_code))
		goto out;
	for (size_t i = 0; i < s->cfg.n_boundaries; i++)
		if (coll_engine_add_site(e, s->cfg.boundaries[i].site))
			goto out;
	lc.e = e;
	rc = s->store->ops->collection_list(s->store, load_def, &lc);
	if (rc)
		goto out;
	old = sc->e;
	sc->e = e;
	e = old;
	sc->defs_hash = h;
	*changed = true;
	log_info("collections", "reloaded", "collections=%zu skipped=%zu", lc.loaded, lc.skipped);
out:
	pthread_mutex_unlock(&sc->mu);
	coll_engine_free(e);
	return rc;
}

void site_collections_free(struct site *s)
{
	struct site_colls *sc = s->colls;

	if (!sc)
		return;
	coll_engine_free(sc->e);
	facts_free(sc->f);
	pthread_mutex_destroy(&sc->mu);
	free(sc);
	s->colls = NULL;
}

/* One client's rows copied out of the store's callback: the store calls it
 * under its own lock, and the collections mutex is always taken before the
 * store's (a create holds it across its store write), never after. */
struct row_copy {
	struct store_client_facts row;
	char *strs[10];
	bool seen;
};

static const char *keep(struct row_copy *rc, int i, const char *v)
{
	if (!v)
		return NULL;
	rc->strs[i] = strdup(v);
	return rc->strs[i];
}

static int copy_row(const struct store_client_facts *row, void *ctx)
{
	struct row_copy *rc = ctx;
	const char *in[10] = {
	    row->id,	   row->hostname, row->site,	 row->agent_version, row->addresses,
	    row->hardware, row->os,	  row->software, row->software_hash, NULL};
	const char **out[10] = {&rc->row.id,
				&rc->row.hostname,
				&rc->row.site,
				&rc->row.agent_version,
				&rc->row.addresses,
				&rc->row.hardware,
				&rc->row.os,
				&rc->row.software,
				&rc->row.software_hash,
				NULL};

	rc->row.state = row->state;
	rc->seen = true;
	for (int i = 0; i < 9; i++) {
		*out[i] = keep(rc, i, in[i]);
		if (in[i] && !*out[i])
			return -STEWARD_ENOMEM;
	}
	return 0;
}

int site_facts_client_changed(struct site *s, const char *client_id, unsigned dep_mask)
{
	struct site_colls *sc = s ? s->colls : NULL;
	struct row_copy rc;
	unsigned deps = dep_mask ? dep_mask : COLL_DEPS_ALL;
	uint32_t slot;
	int rv;

	if (!sc || !client_id)
		return 0;
	/* ip reads the hardware class's interface addresses too */
	if (deps & CORE_QUERY_DEP_HARDWARE)
		deps |= CORE_QUERY_DEP_NETWORK;
	memset(&rc, 0, sizeof(rc));
	rv = s->store->ops->collection_facts(s->store, client_id, copy_row, &rc);
	if (!rv && rc.seen) {
		pthread_mutex_lock(&sc->mu);
		rv = facts_put(sc->f, &rc.row, &slot);
		if (!rv)
			rv = coll_client_changed(sc->e, slot, deps) ? -STEWARD_ENOMEM : 0;
		pthread_mutex_unlock(&sc->mu);
	}
	for (int i = 0; i < 10; i++)
		free(rc.strs[i]);
	if (rv)
		log_warn("collections", "facts_reload_failed", "client=%s error=\"%s\"", client_id,
			 steward_strerror(rv));
	return rv;
}

void site_colls_lock(struct site *s, struct facts **f, struct coll_engine **e)
{
	pthread_mutex_lock(&s->colls->mu);
	*f = s->colls->f;
	*e = s->colls->e;
}

void site_colls_unlock(struct site *s)
{
	pthread_mutex_unlock(&s->colls->mu);
}

int64_t facts_find(struct facts *f, const char *id)
{
	return find_slot(f, id);
}

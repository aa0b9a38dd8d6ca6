/* collections: the membership engine.
 *
 * Every collection keeps three bitsets over client slots: own (its static
 * list, its query, or its built-in predicate, before composition), eff (the
 * members: live and (own or in an included collection) and in no excluded
 * collection) and refused (query evaluations stopped by the work budget).
 * Collections are kept in topological order of their include/exclude
 * rules, so one pass from the front re-derives a client's memberships: a
 * change of one client costs one evaluation per query collection whose
 * deps intersect the changed classes plus a few bit operations per
 * collection, whatever the number of clients. See
 * docs/internals/collections.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collections.h"

#define COLL_RULES_MAX STORE_COLLECTION_RULES_MAX

struct coll {
	char name[STORE_COLLECTION_NAME_MAX + 24]; /* built-in site names are longer */
	enum coll_kind kind;
	char site[8];	      /* COLL_KIND_SITE */
	struct core_query *q; /* COLL_KIND_QUERY */
	char *query;	      /* as given */
	unsigned deps;	      /* classes own depends on */
	char **members;	      /* COLL_KIND_STATIC: sorted client ids */
	size_t n_members;
	struct coll **inc, **exc; /* resolved rules */
	size_t n_inc, n_exc;
	char *comment, *created_by;
	int64_t created;
	uint64_t *own, *eff, *refused;
	int64_t count, n_refused;
	uint64_t evals;
	char last_refusal[256];
	bool mark; /* scratch for passes over the order */
};

struct coll_engine {
	struct coll_source src;
	uint64_t budget;
	uint32_t n_slots;
	size_t words;	     /* per bitset */
	struct coll **order; /* topological: every rule's target before its user */
	size_t n;
};

/* ---- bitsets ---------------------------------------------------------------- */

static bool bit_get(const uint64_t *b, uint32_t i)
{
	return (b[i >> 6] >> (i & 63)) & 1;
}

/* Set bit i to v; returns whether it changed. */
static bool bit_set(uint64_t *b, uint32_t i, bool v)
{
	uint64_t m = 1ull << (i & 63);
	bool old = (b[i >> 6] & m) != 0;

	if (v)
		b[i >> 6] |= m;
	else
		b[i >> 6] &= ~m;
	return old != v;
}

static int grow_bits(uint64_t **b, size_t old_words, size_t words)
{
	uint64_t *n = realloc(*b, words * sizeof(uint64_t));

	if (!n)
		return COLL_ENOMEM;
	memset(n + old_words, 0, (words - old_words) * sizeof(uint64_t));
	*b = n;
	return 0;
}

static int coll_alloc_bits(struct coll *c, size_t words)
{
	c->own = calloc(words ? words : 1, sizeof(uint64_t));
	c->eff = calloc(words ? words : 1, sizeof(uint64_t));
	c->refused = calloc(words ? words : 1, sizeof(uint64_t));
	return c->own && c->eff && c->refused ? 0 : COLL_ENOMEM;
}

static int ensure_slots(struct coll_engine *e, uint32_t n_slots)
{
	size_t words = ((size_t)n_slots + 63) / 64;

	if (n_slots <= e->n_slots)
		return 0;
	if (words > e->words) {
		/* grow by half again so a stream of enrollments stays cheap */
		size_t nw = e->words + e->words / 2;
		if (nw < words)
			nw = words;
		for (size_t i = 0; i < e->n; i++) {
			struct coll *c = e->order[i];
			if (grow_bits(&c->own, e->words, nw) || grow_bits(&c->eff, e->words, nw) ||
			    grow_bits(&c->refused, e->words, nw))
				return COLL_ENOMEM;
		}
		e->words = nw;
	}
	e->n_slots = n_slots;
	return 0;
}

/* ---- collections -------------------------------------------------------------- */

static void coll_free(struct coll *c)
{
	if (!c)
		return;
	core_query_free(c->q);
	free(c->query);
	for (size_t i = 0; i < c->n_members; i++)
		free(c->members[i]);
	free(c->members);
	free(c->inc);
	free(c->exc);
	free(c->comment);
	free(c->created_by);
	free(c->own);
	free(c->eff);
	free(c->refused);
	free(c);
}

static struct coll *find(struct coll_engine *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcasecmp(e->order[i]->name, name) == 0)
			return e->order[i];
	return NULL;
}

static size_t index_of(struct coll_engine *e, const struct coll *c)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->order[i] == c)
			return i;
	return e->n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool in_members(const struct coll *c, const char *id)
{
	return id && c->n_members &&
	       bsearch(&id, c->members, c->n_members, sizeof(char *), cmp_str) != NULL;
}

/* own for one client; may run the query. */
static void eval_own(struct coll_engine *e, struct coll *c, uint32_t slot,
		     const struct coll_client *cl, bool rerun_query)
{
	bool v = false;

	switch (c->kind) {
	case COLL_KIND_ALL:
		v = cl->live;
		break;
	case COLL_KIND_PENDING:
		v = cl->live && cl->state == CLIENT_PENDING;
		break;
	case COLL_KIND_SITE:
		v = cl->live && cl->site && strcmp(cl->site, c->site) == 0;
		break;
	case COLL_KIND_STATIC:
		v = cl->live && in_members(c, cl->id);
		break;
	case COLL_KIND_QUERY:
		if (!cl->live) {
			v = false;
			if (bit_set(c->refused, slot, false))
				c->n_refused--;
			break;
		}
		if (!rerun_query)
			return;
		{
			int r = core_query_eval(c->q, &cl->facts, e->budget, NULL);
			c->evals++;
			v = r == 1;
			if (bit_set(c->refused, slot, r < 0))
				c->n_refused += r < 0 ? 1 : -1;
			if (r < 0)
				snprintf(c->last_refusal, sizeof(c->last_refusal), "client %s: %s",
					 cl->id ? cl->id : "?", core_query_strerror(r));
		}
		break;
	}
	bit_set(c->own, slot, v);
}

static void eval_eff(struct coll *c, uint32_t slot, bool live)
{
	bool v = live && bit_get(c->own, slot);

	for (size_t i = 0; live && !v && i < c->n_inc; i++)
		v = bit_get(c->inc[i]->eff, slot);
	for (size_t i = 0; v && i < c->n_exc; i++)
		v = !bit_get(c->exc[i]->eff, slot);
	if (bit_set(c->eff, slot, v))
		c->count += v ? 1 : -1;
}

static bool slot_client(struct coll_engine *e, uint32_t slot, struct coll_client *cl)
{
	memset(cl, 0, sizeof(*cl));
	if (!e->src.client(e->src.ctx, slot, cl)) {
		memset(cl, 0, sizeof(*cl));
		return false;
	}
	return true;
}

int coll_client_changed(struct coll_engine *e, uint32_t slot, unsigned deps)
{
	struct coll_client cl;
	int rc;

	if (slot >= e->n_slots)
		deps = COLL_DEPS_ALL; /* a new client: nothing is known of it yet */
	rc = ensure_slots(e, slot + 1);
	if (rc)
		return rc;
	slot_client(e, slot, &cl);
	for (size_t i = 0; i < e->n; i++) {
		struct coll *c = e->order[i];
		eval_own(e, c, slot, &cl, (deps & c->deps) != 0);
		eval_eff(c, slot, cl.live);
	}
	return 0;
}

/* Evaluate c for every client, then re-derive the collections composed
 * from it (in order, so each sees its rules' targets already current). */
static void evaluate_from(struct coll_engine *e, struct coll *c)
{
	struct coll_client cl;
	size_t start = index_of(e, c);

	for (size_t i = 0; i < e->n; i++)
		e->order[i]->mark = e->order[i] == c;
	for (size_t i = start + 1; i < e->n; i++) {
		struct coll *d = e->order[i];
		for (size_t k = 0; !d->mark && k < d->n_inc; k++)
			d->mark = d->inc[k]->mark;
		for (size_t k = 0; !d->mark && k < d->n_exc; k++)
			d->mark = d->exc[k]->mark;
	}
	for (uint32_t s = 0; s < e->n_slots; s++) {
		slot_client(e, s, &cl);
		eval_own(e, c, s, &cl, true);
		for (size_t i = start; i < e->n; i++)
			if (e->order[i]->mark)
				eval_eff(e->order[i], s, cl.live);
	}
}

/* Rebuild the order: depth-first, rule targets first. Fails on a cycle. */
static int visit(struct coll *c, struct coll **out, size_t *n, unsigned char *state,
		 struct coll_engine *e)
{
	size_t i = index_of(e, c);

	if (state[i] == 2)
		return 0;
	if (state[i] == 1)
		return COLL_ECYCLE;
	state[i] = 1;
	for (size_t k = 0; k < c->n_inc; k++)
		if (visit(c->inc[k], out, n, state, e))
			return COLL_ECYCLE;
	for (size_t k = 0; k < c->n_exc; k++)
		if (visit(c->exc[k], out, n, state, e))
			return COLL_ECYCLE;
	state[i] = 2;
	out[(*n)++] = c;
	return 0;
}

static int reorder(struct coll_engine *e)
{
	struct coll **out = malloc((e->n ? e->n : 1) * sizeof(*out));
	unsigned char *state = calloc(e->n ? e->n : 1, 1);
	size_t n = 0;
	int rc = out && state ? 0 : COLL_ENOMEM;

	for (size_t i = 0; !rc && i < e->n; i++)
		rc = visit(e->order[i], out, &n, state, e);
	if (!rc)
		memcpy(e->order, out, n * sizeof(*out));
	free(out);
	free(state);
	return rc;
}

/* Does following rules from `from` reach `target`? Writes the path. */
static bool reaches(struct coll *from, const struct coll *target, int depth, char *path,
		    size_t pathsz)
{
	size_t used = strlen(path);

	if (depth > 64)
		return false;
	if (from == target)
		return true;
	for (size_t k = 0; k < from->n_inc + from->n_exc; k++) {
		struct coll *t = k < from->n_inc ? from->inc[k] : from->exc[k - from->n_inc];
		snprintf(path + used, pathsz - used, " %s '%s'",
			 k < from->n_inc ? "includes" : "excludes", t->name);
		if (reaches(t, target, depth + 1, path, pathsz))
			return true;
		path[used] = '\0';
	}
	return false;
}

/* ---- the engine --------------------------------------------------------------- */

static int add_coll(struct coll_engine *e, struct coll *c)
{
	struct coll **o = realloc(e->order, (e->n + 1) * sizeof(*o));

	if (!o)
		return COLL_ENOMEM;
	e->order = o;
	e->order[e->n++] = c;
	return 0;
}

static int add_builtin(struct coll_engine *e, enum coll_kind kind, const char *name,
		       const char *site)
{
	struct coll *c = calloc(1, sizeof(*c));

	if (!c || coll_alloc_bits(c, e->words) || add_coll(e, c)) {
		coll_free(c);
		return COLL_ENOMEM;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->site, sizeof(c->site), "%s", site ? site : "");
	c->kind = kind;
	c->deps = CORE_QUERY_DEP_CLIENT;
	/* built-ins are never the target of a rule when added: order holds */
	evaluate_from(e, c);
	return 0;
}

int coll_engine_new(const struct coll_source *src, uint32_t n_slots, uint64_t budget,
		    struct coll_engine **out)
{
	struct coll_engine *e = calloc(1, sizeof(*e));

	*out = NULL;
	if (!e)
		return COLL_ENOMEM;
	e->src = *src;
	e->budget = budget ? budget : CORE_QUERY_BUDGET_DEFAULT;
	e->words = 1;
	if (ensure_slots(e, n_slots) || add_builtin(e, COLL_KIND_ALL, COLL_ALL_CLIENTS, NULL) ||
	    add_builtin(e, COLL_KIND_PENDING, COLL_PENDING_CLIENTS, NULL)) {
		coll_engine_free(e);
		return COLL_ENOMEM;
	}
	*out = e;
	return 0;
}

void coll_engine_free(struct coll_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		coll_free(e->order[i]);
	free(e->order);
	free(e);
}

int coll_engine_add_site(struct coll_engine *e, const char *code)
{
	char name[64];

	snprintf(name, sizeof(name), "%s%s", COLL_SITE_PREFIX, code);
	if (find(e, name))
		return 0;
	return add_builtin(e, COLL_KIND_SITE, name, code);
}

bool coll_exists(struct coll_engine *e, const char *name)
{
	return find(e, name) != NULL;
}

bool coll_is_user_defined(struct coll_engine *e, const char *name)
{
	struct coll *c = find(e, name);

	return c && (c->kind == COLL_KIND_STATIC || c->kind == COLL_KIND_QUERY);
}

const char *coll_name(struct coll_engine *e, const char *name)
{
	struct coll *c = find(e, name);

	return c ? c->name : NULL;
}

size_t coll_users(struct coll_engine *e, const char *name, char *msg, size_t msgsz)
{
	struct coll *t = find(e, name);
	size_t n = 0, used;

	if (msgsz)
		msg[0] = '\0';
	if (!t)
		return 0;
	for (size_t i = 0; i < e->n; i++) {
		struct coll *c = e->order[i];
		const char *how = NULL;
		for (size_t k = 0; k < c->n_inc; k++)
			if (c->inc[k] == t)
				how = "includes";
		for (size_t k = 0; k < c->n_exc; k++)
			if (c->exc[k] == t)
				how = "excludes";
		if (!how)
			continue;
		used = strlen(msg);
		snprintf(msg + used, msgsz - used, "%s'%s' %s it", n ? ", " : "", c->name, how);
		n++;
	}
	return n;
}

static int err(char *msg, size_t msgsz, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int err(char *msg, size_t msgsz, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msgsz, fmt, ap);
	va_end(ap);
	return rc;
}

/* Resolve and check rule names; fills targets. */
static int resolve_rules(struct coll_engine *e, const char *self, const char *const *names,
			 size_t n, const char *what, struct coll **targets, char *msg, size_t msgsz)
{
	for (size_t i = 0; i < n; i++) {
		struct coll *t = names[i] ? find(e, names[i]) : NULL;
		if (!names[i])
			return err(msg, msgsz, COLL_EINVAL, "an %s rule has no name", what);
		if (strcasecmp(names[i], self) == 0)
			return err(msg, msgsz, COLL_ECYCLE, "collection '%s' cannot %s itself",
				   self, strcmp(what, "include") == 0 ? "include" : "exclude");
		if (!t)
			return err(msg, msgsz, COLL_EREF, "%s names no collection '%s'",
				   strcmp(what, "include") == 0 ? "include" : "exclude", names[i]);
		for (size_t k = 0; k < i; k++)
			if (targets[k] == t)
				return err(msg, msgsz, COLL_EINVAL, "%s names '%s' twice",
					   strcmp(what, "include") == 0 ? "include" : "exclude",
					   t->name);
		targets[i] = t;
	}
	return 0;
}

int coll_check(struct coll_engine *e, const struct coll_def *d, bool replace, bool check_members,
	       struct core_query_error *qerr, char *msg, size_t msgsz)
{
	struct coll *old, *inc[COLL_RULES_MAX], *exc[COLL_RULES_MAX];
	struct core_query *q = NULL;
	char path[COLL_MSG_MAX];
	int rc;

	msg[0] = '\0';
	if (!d->name || !store_collection_name_valid(d->name)) {
		if (d->name && store_collection_name_builtin(d->name))
			return err(msg, msgsz, COLL_EBUILTIN, "'%s' is a built-in collection name",
				   d->name);
		return err(msg, msgsz, COLL_EINVAL,
			   "collection names are 1-64 characters of letters, digits, space, '.', "
			   "'_' and '-'");
	}
	old = find(e, d->name);
	if (old && (old->kind != COLL_KIND_STATIC && old->kind != COLL_KIND_QUERY))
		return err(msg, msgsz, COLL_EBUILTIN, "'%s' is a built-in collection", old->name);
	if (old && !replace)
		return err(msg, msgsz, COLL_EEXIST, "a collection named '%s' already exists",
			   old->name);
	if (d->n_include + d->n_exclude > COLL_RULES_MAX)
		return err(msg, msgsz, COLL_EINVAL, "at most 64 include and exclude rules");
	if (d->comment && (strlen(d->comment) > STORE_COLLECTION_COMMENT_MAX))
		return err(msg, msgsz, COLL_EINVAL, "the comment is longer than 256 bytes");
	if (d->query) {
		rc = core_query_parse(d->query, &q, qerr);
		if (rc) {
			snprintf(msg, msgsz, "%s", qerr ? qerr->message : core_query_strerror(rc));
			return rc == CORE_QUERY_ENOMEM ? COLL_ENOMEM : COLL_EQUERY;
		}
		core_query_free(q);
	}
	if (d->n_members > STORE_COLLECTION_MEMBERS_MAX)
		return err(msg, msgsz, COLL_EINVAL, "more than 100000 static members");
	for (size_t i = 0; check_members && i < d->n_members; i++) {
		int64_t s = d->members[i] ? e->src.find(e->src.ctx, d->members[i]) : -1;
		struct coll_client cl;
		if (s < 0 || !slot_client(e, (uint32_t)s, &cl) || !cl.live)
			return err(msg, msgsz, COLL_EMEMBER, "member '%.40s' is not a known client",
				   d->members[i] ? d->members[i] : "");
	}
	rc = resolve_rules(e, d->name, d->include, d->n_include, "include", inc, msg, msgsz);
	if (!rc)
		rc =
		    resolve_rules(e, d->name, d->exclude, d->n_exclude, "exclude", exc, msg, msgsz);
	if (rc)
		return rc;
	/* a new collection cannot be reached by existing rules; a redefined
	 * one can: refuse a rule whose target leads back to it */
	for (size_t i = 0; old && i < d->n_include + d->n_exclude; i++) {
		struct coll *t = i < d->n_include ? inc[i] : exc[i - d->n_include];
		snprintf(path, sizeof(path), "'%s' %s '%s'", old->name,
			 i < d->n_include ? "includes" : "excludes", t->name);
		if (reaches(t, old, 0, path, sizeof(path))) {
			snprintf(msg, msgsz, "the rules would make a cycle: %s", path);
			return COLL_ECYCLE;
		}
	}
	return 0;
}

static int dup_list(const char *const *in, size_t n, struct coll *c)
{
	c->members = calloc(n ? n : 1, sizeof(char *));
	if (!c->members)
		return COLL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		c->members[c->n_members] = strdup(in[i]);
		if (!c->members[c->n_members])
			return COLL_ENOMEM;
		c->n_members++;
	}
	qsort(c->members, c->n_members, sizeof(char *), cmp_str);
	{
		/* the same id twice counts once */
		size_t w = 0;
		for (size_t r = 0; r < c->n_members; r++) {
			if (w && strcmp(c->members[w - 1], c->members[r]) == 0)
				free(c->members[r]);
			else
				c->members[w++] = c->members[r];
		}
		c->n_members = w;
	}
	return 0;
}

int coll_define(struct coll_engine *e, const struct coll_def *d, bool replace,
		struct core_query_error *qerr, char *msg, size_t msgsz)
{
	struct coll *c, *old;
	int rc = coll_check(e, d, replace, false, qerr, msg, msgsz);

	if (rc)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c || coll_alloc_bits(c, e->words))
		goto nomem;
	snprintf(c->name, sizeof(c->name), "%s", d->name);
	c->kind = d->query ? COLL_KIND_QUERY : COLL_KIND_STATIC;
	c->comment = strdup(d->comment ? d->comment : "");
	c->created_by = strdup(d->created_by ? d->created_by : "");
	c->created = d->created;
	c->inc = calloc(d->n_include ? d->n_include : 1, sizeof(*c->inc));
	c->exc = calloc(d->n_exclude ? d->n_exclude : 1, sizeof(*c->exc));
	if (!c->comment || !c->created_by || !c->inc || !c->exc)
		goto nomem;
	if (d->query) {
		c->query = strdup(d->query);
		if (!c->query || core_query_parse(d->query, &c->q, qerr))
			goto nomem;
		c->deps = core_query_deps(c->q) | CORE_QUERY_DEP_CLIENT;
	} else {
		c->deps = CORE_QUERY_DEP_CLIENT;
		if (dup_list(d->members, d->n_members, c))
			goto nomem;
	}
	resolve_rules(e, d->name, d->include, d->n_include, "include", c->inc, msg, msgsz);
	resolve_rules(e, d->name, d->exclude, d->n_exclude, "exclude", c->exc, msg, msgsz);
	c->n_inc = d->n_include;
	c->n_exc = d->n_exclude;
	old = find(e, d->name);
	if (old) {
		/* the new definition takes the old one's place in every rule */
		size_t i = index_of(e, old);
		for (size_t k = 0; k < e->n; k++) {
			struct coll *u = e->order[k];
			for (size_t j = 0; j < u->n_inc; j++)
				if (u->inc[j] == old)
					u->inc[j] = c;
			for (size_t j = 0; j < u->n_exc; j++)
				if (u->exc[j] == old)
					u->exc[j] = c;
		}
		memcpy(c->eff, old->eff, e->words * sizeof(uint64_t));
		c->count = old->count;
		e->order[i] = c;
		coll_free(old);
	} else if (add_coll(e, c)) {
		goto nomem;
	}
	rc = reorder(e);
	if (rc) /* coll_check ruled cycles out */
		return err(msg, msgsz, rc, "internal: cycle after check");
	evaluate_from(e, c);
	return 0;
nomem:
	coll_free(c);
	return err(msg, msgsz, COLL_ENOMEM, "out of memory");
}

int coll_remove(struct coll_engine *e, const char *name, char *msg, size_t msgsz)
{
	struct coll *c = find(e, name);
	size_t i;

	msg[0] = '\0';
	if (!c)
		return err(msg, msgsz, COLL_ENOTFOUND, "no collection '%s'", name);
	if (c->kind != COLL_KIND_STATIC && c->kind != COLL_KIND_QUERY)
		return err(msg, msgsz, COLL_EBUILTIN, "'%s' is a built-in collection", c->name);
	if (coll_users(e, name, msg, msgsz))
		return COLL_EINUSE;
	i = index_of(e, c);
	memmove(e->order + i, e->order + i + 1, (e->n - i - 1) * sizeof(*e->order));
	e->n--;
	coll_free(c);
	return 0;
}

/* ---- reading ---------------------------------------------------------------------- */

static const char *kind_name(enum coll_kind k)
{
	switch (k) {
	case COLL_KIND_STATIC:
		return "static";
	case COLL_KIND_QUERY:
		return "query";
	default:
		return "builtin";
	}
}

static json_t *names_json(struct coll **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]->name));
	return a;
}

static json_t *coll_json(const struct coll *c, bool full)
{
	json_t *o =
	    json_pack("{s:s,s:s,s:I,s:o,s:o}", "name", c->name, "kind", kind_name(c->kind),
		      "members", (json_int_t)c->count, "include", names_json(c->inc, c->n_inc),
		      "exclude", names_json(c->exc, c->n_exc));

	if (!o)
		return NULL;
	json_object_set_new(o, "query", c->query ? json_string(c->query) : json_null());
	json_object_set_new(o, "refused", json_integer(c->n_refused));
	if (!full)
		return o;
	json_object_set_new(o, "comment", json_string(c->comment ? c->comment : ""));
	json_object_set_new(o, "created_by", json_string(c->created_by ? c->created_by : ""));
	json_object_set_new(o, "created", json_integer(c->created));
	if (c->kind == COLL_KIND_STATIC) {
		json_t *m = json_array();
		for (size_t i = 0; m && i < c->n_members; i++)
			json_array_append_new(m, json_string(c->members[i]));
		json_object_set_new(o, "static_members", m);
	}
	if (c->kind == COLL_KIND_QUERY) {
		json_t *deps = json_array();
		static const char *const dn[] = {"client", "hardware", "os", "network", "software"};
		for (int b = 0; deps && b < 5; b++)
			if (core_query_deps(c->q) & (1u << b))
				json_array_append_new(deps, json_string(dn[b]));
		json_object_set_new(o, "reads", deps);
		if (c->n_refused)
			json_object_set_new(o, "last_refusal", json_string(c->last_refusal));
	}
	return o;
}

json_t *coll_list_json(struct coll_engine *e)
{
	json_t *a = json_array();

	/* built-ins first, then in creation order is not kept: by name */
	for (size_t i = 0; a && i < e->n; i++)
		json_array_append_new(a, coll_json(e->order[i], false));
	return a;
}

json_t *coll_show_json(struct coll_engine *e, const char *name)
{
	struct coll *c = find(e, name);

	return c ? coll_json(c, true) : NULL;
}

json_t *coll_members_json(struct coll_engine *e, const char *name)
{
	struct coll *c = find(e, name);
	struct coll_client cl;
	json_t *a;

	if (!c)
		return NULL;
	a = json_array();
	for (uint32_t s = 0; a && s < e->n_slots; s++) {
		if (!bit_get(c->eff, s) || !slot_client(e, s, &cl))
			continue;
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "id", cl.id ? cl.id : "",
						   "hostname", cl.hostname ? cl.hostname : "",
						   "site", cl.site ? cl.site : "", "state",
						   store_client_state_name(cl.state)));
	}
	return a;
}

static const char *own_reason(struct coll_engine *e, struct coll *c, uint32_t slot,
			      const struct coll_client *cl, char *buf, size_t bufsz)
{
	bool own = bit_get(c->own, slot);

	switch (c->kind) {
	case COLL_KIND_ALL:
		snprintf(buf, bufsz, "every enrolled client is in '%s'", c->name);
		break;
	case COLL_KIND_PENDING:
		snprintf(buf, bufsz, "the client's state is %s",
			 store_client_state_name(cl->state));
		break;
	case COLL_KIND_SITE:
		snprintf(buf, bufsz, "the client's site is %s", cl->site ? cl->site : "unknown");
		break;
	case COLL_KIND_STATIC:
		snprintf(buf, bufsz,
			 own		? "the client is a static member"
			 : c->n_members ? "the client is not a static member"
					: "the collection has no static members");
		break;
	case COLL_KIND_QUERY:
		core_query_explain(c->q, &cl->facts, e->budget, buf, bufsz);
		break;
	}
	return buf;
}

int coll_explain(struct coll_engine *e, const char *name, uint32_t slot, bool *member, char *buf,
		 size_t bufsz)
{
	struct coll *c = find(e, name);
	struct coll_client cl;
	char own[COLL_MSG_MAX];
	bool composed;
	size_t used;

	if (!c)
		return COLL_ENOTFOUND;
	*member = slot < e->n_slots && bit_get(c->eff, slot);
	if (slot >= e->n_slots || !slot_client(e, slot, &cl) || !cl.live) {
		snprintf(buf, bufsz, "not a member: the client is deleted or unknown");
		return 0;
	}
	own_reason(e, c, slot, &cl, own, sizeof(own));
	/* a collection made only of rules has nothing of its own to say */
	composed = c->kind == COLL_KIND_STATIC && c->n_members == 0;
	for (size_t k = 0; k < c->n_exc; k++)
		if (bit_get(c->exc[k]->eff, slot)) {
			snprintf(
			    buf, bufsz,
			    "excluded: the client is a member of excluded collection '%s'%s%s%s",
			    c->exc[k]->name, composed ? "" : " (", composed ? "" : own,
			    composed ? "" : ")");
			return 0;
		}
	if (bit_get(c->own, slot)) {
		snprintf(buf, bufsz, "%s%s", c->kind == COLL_KIND_QUERY ? "" : "included: ", own);
		return 0;
	}
	for (size_t k = 0; k < c->n_inc; k++)
		if (bit_get(c->inc[k]->eff, slot)) {
			snprintf(
			    buf, bufsz,
			    "included: the client is a member of included collection '%s'%s%s%s",
			    c->inc[k]->name, composed ? "" : " (", composed ? "" : own,
			    composed ? "" : ")");
			return 0;
		}
	snprintf(buf, bufsz, "%s%s", c->kind == COLL_KIND_QUERY ? "" : "not a member: ", own);
	if (c->n_inc) {
		used = strlen(buf);
		snprintf(buf + used, bufsz - used, "; in none of the included collections");
		for (size_t k = 0; k < c->n_inc; k++) {
			used = strlen(buf);
			snprintf(buf + used, bufsz - used, "%s '%s'", k ? "," : "",
				 c->inc[k]->name);
		}
	}
	return 0;
}

bool coll_is_member(struct coll_engine *e, const char *name, uint32_t slot)
{
	struct coll *c = find(e, name);

	return c && slot < e->n_slots && bit_get(c->eff, slot);
}

int64_t coll_count(struct coll_engine *e, const char *name)
{
	struct coll *c = find(e, name);

	return c ? c->count : -1;
}

uint64_t coll_evals(struct coll_engine *e, const char *name)
{
	struct coll *c = find(e, name);

	return c ? c->evals : 0;
}

int coll_match(struct coll_engine *e, const struct core_query *q, uint64_t total_budget,
	       json_t *out, uint64_t *used, char *msg, size_t msgsz)
{
	struct coll_client cl;
	uint64_t spent = 0, one;

	msg[0] = '\0';
	for (uint32_t s = 0; s < e->n_slots; s++) {
		uint64_t left = total_budget > spent ? total_budget - spent : 0;
		int r;

		if (!slot_client(e, s, &cl) || !cl.live)
			continue;
		r = core_query_eval(q, &cl.facts, left < e->budget ? left : e->budget, &one);
		spent += one;
		if (r == CORE_QUERY_EBUDGET) {
			if (used)
				*used = spent;
			if (left < e->budget)
				snprintf(
				    msg, msgsz,
				    "the query needed more than %llu work units over all clients "
				    "(stopped at client %u); narrow it, e.g. avoid a leading '*' "
				    "in package patterns",
				    (unsigned long long)total_budget, s);
			else
				snprintf(
				    msg, msgsz,
				    "the query needed more than %llu work units for client %s; "
				    "narrow it, e.g. avoid a leading '*' in package patterns",
				    (unsigned long long)e->budget, cl.id ? cl.id : "?");
			return COLL_EBUDGET;
		}
		if (r < 0) {
			snprintf(msg, msgsz, "evaluation failed: %s", core_query_strerror(r));
			return r == CORE_QUERY_ENOMEM ? COLL_ENOMEM : COLL_EINVAL;
		}
		if (r == 1)
			json_array_append_new(out,
					      json_pack("{s:s,s:s,s:s}", "id", cl.id ? cl.id : "",
							"hostname", cl.hostname ? cl.hostname : "",
							"site", cl.site ? cl.site : ""));
	}
	if (used)
		*used = spent;
	return 0;
}

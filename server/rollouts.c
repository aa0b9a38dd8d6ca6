/* stewardd rollouts: a release reaches a collection in waves.
 *
 * A rollout names a release and a collection; it starts with the pilot
 * collection (when there is one), then draws waves of growing size
 * (1%, 10%, 50%, 100% of the rest) in a stable pseudo-random order of
 * client ids. The next wave starts by itself when the one before passed
 * its gate (at least gate percent of its clients run the release, and have
 * done so for the soak time) or when an administrator promotes it. When
 * failures in a wave pass halt_at percent the rollout halts: no client
 * starts from then on, and with auto_rollback the clients that took the
 * release are offered the one they ran before.
 *
 * What a check-in needs is prepared per client: a table from client id to
 * its member entry (wave, state), so the offer decision costs the same at
 * a hundred clients as at a million. Members are assigned when the rollout
 * starts; a client that joins the collection later joins the last wave.
 * The state lives in memory under one mutex and reaches the database from
 * the main loop's tick (site_rollouts_tick), once a second, in one
 * transaction per rollout: a crash loses at most that second of progress,
 * which the next check-ins restore (a client reports the version it runs).
 *
 * Lock order: the collections (site_colls_lock), then ros->mu.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "collections.h"
#include "site.h"

#define RO_MAX 64		/* rollouts a site keeps (finished ones too) */
#define RO_WAVES_MAX 10		/* waves, the pilot not counted */
#define RO_REASONS_MAX 16	/* distinct failure reasons counted per rollout */
#define RO_REASON_LEN 120
#define RO_PAIRS_MAX 16		/* version pairs (from -> to) counted per rollout */
#define RO_VERSION_LEN 32
#define RO_WHY_MAX 400
#define RO_CONV_BUCKETS 24	/* time to converge: 2^i seconds */
#define RO_DP_BUCKETS 16	/* distribution points with their own offer cap */

enum ro_state {
	RO_CREATED,	/* waits for `rollouts start` */
	RO_SCHEDULED,	/* starts by itself at start_at */
	RO_RUNNING,
	RO_PAUSED,
	RO_HALTED,	/* by itself: too many failures */
	RO_ROLLING_BACK,
	RO_COMPLETED,
	RO_ABORTED,
	RO_ROLLED_BACK,
	RO_NSTATES
};

static const char *const ro_state_names[RO_NSTATES] = {
    "created", "scheduled", "running", "paused", "halted",
    "rolling_back", "completed", "aborted", "rolled_back"};

/* Where one client stands. Stored as integers: keep the numbers. */
enum ro_mstate {
	M_PENDING = 0,	    /* its wave has not reached it, or not offered yet */
	M_OFFERED = 1,	    /* offered a release (the target, or a hop on the way) */
	M_SUCCEEDED = 2,    /* runs the release */
	M_FAILED = 3,	    /* its switch failed and went back; not offered again */
	M_BACK_OFFERED = 4, /* a rollback offered the release it ran before */
	M_ROLLED_BACK = 5,  /* back on that release */
	M_NSTATES
};

static const char *const m_state_names[M_NSTATES] = {
    "pending", "offered", "succeeded", "failed", "rollback_offered", "rolled_back"};

struct ro_member {
	char id[PROTO_CLIENT_ID_HEX + 1];
	char from[RO_VERSION_LEN];  /* the agent version before the rollout */
	char at[RO_VERSION_LEN];    /* the agent version when last offered */
	int64_t started, finished;  /* first offer; success or failure */
	uint8_t wave, state, reason; /* reason: 1 + index into reasons, 0 none */
	bool dirty;
	uint8_t deferred; /* held for its link: CORE_LINK_WAIT or _NEVER; 0: not (memory only) */
	uint32_t flushed; /* the flush that last wrote it (ros.flush_taken then); 0: none */
};

struct ro_pair {
	char from[RO_VERSION_LEN], to[RO_VERSION_LEN];
	uint64_t succeeded, failed, rolled_back;
	uint64_t conv_n;
	int64_t conv_sum;
	uint32_t conv_hist[RO_CONV_BUCKETS];
};

struct rollout {
	char name[STORE_ROLLOUT_NAME_MAX + 1];
	char release[RO_VERSION_LEN];	  /* the release */
	char target[RO_VERSION_LEN];	  /* its agent version */
	char collection[STORE_COLLECTION_NAME_MAX + 1];
	char pilot[STORE_COLLECTION_NAME_MAX + 1];   /* "" none */
	char exclude[STORE_COLLECTION_NAME_MAX + 1]; /* "" none */
	int n_waves;
	int waves_bp[RO_WAVES_MAX]; /* cumulative share of the rest, in 1/100 % */
	int gate, halt_at;	    /* percent */
	int64_t soak, start_at;
	bool auto_rollback, late_now;
	struct core_link_policy links; /* per link class (docs/slow-links.md) */
	uint32_t deferred_n;	       /* members held for their link now */
	enum ro_state state;
	int wave; /* the current wave; the pilot is wave 0 when there is one */
	int64_t wave_started, gate_reached;
	char why[RO_WHY_MAX];
	char halt_why[RO_WHY_MAX]; /* why it halted by itself, kept after a rollback */
	char created_by[65];
	int64_t created, started, finished;
	struct ro_member *m;
	size_t n, cap;
	uint32_t counts[RO_WAVES_MAX + 1][M_NSTATES];
	uint32_t size[RO_WAVES_MAX + 1];
	uint64_t skipped_busy; /* members already in another active rollout */
	char reasons[RO_REASONS_MAX][RO_REASON_LEN];
	uint32_t reason_n[RO_REASONS_MAX];
	int n_reasons;
	struct ro_pair pairs[RO_PAIRS_MAX];
	int n_pairs;
	bool doc_dirty, assigned;
	size_t ndirty; /* members with dirty set: the tick skips a rollout without */
	int64_t seen;  /* the highest put number of its members read (store.h) */
};

struct ro_entry {
	uint32_t ro;  /* index into ros->r, + 1; 0: empty */
	uint32_t mi;
	uint64_t key;
};

struct ro_bucket {
	char url[256];
	double tokens;
	int64_t at_us;
};

struct ros {
	pthread_mutex_t mu;
	struct rollout *r[RO_MAX];
	size_t n;
	struct ro_entry *tab; /* open addressing, power of two */
	size_t tab_cap, tab_n;
	struct ro_bucket mp, dp[RO_DP_BUCKETS];
	atomic_bool any_active; /* a rollout serves: scheduled, running, paused, halted,
				 * rolling back or completed */
	uint64_t offers, outside_window;
	uint64_t capped_site, capped_dp; /* held by the site's cap, by a DP's */
	/* the releases, as the path finder needs them; refreshed on change */
	struct ro_rel {
		char version[RO_VERSION_LEN], agent[RO_VERSION_LEN], from[RO_VERSION_LEN];
		bool usable;
	} *rels;
	size_t n_rels;
	int64_t rels_at_us;
	/* The tick's flushes of members, numbered: taken (dirty cleared, the
	 * write under way) and done (written, or failed and dirty again). A
	 * refresh applies no stored member that a flush took after the last
	 * one done when its read began: what it read may predate what this
	 * process knows (site_rollouts_refresh). */
	uint32_t flush_taken, flush_done;
	/* rollouts read again (announced by another stewardd, or the periodic
	 * re-read), and the member rows those reads returned */
	uint64_t refreshes, members_read;
};

static struct ros *ros_of(struct site *s)
{
	return s->rollouts;
}

bool site_rollouts_any(struct site *s)
{
	struct ros *t = ros_of(s);

	return t && atomic_load(&t->any_active);
}

static bool active(const struct rollout *r)
{
	return r->state == RO_RUNNING || r->state == RO_PAUSED || r->state == RO_HALTED ||
	       r->state == RO_ROLLING_BACK;
}

/* A completed rollout still offers its release to the clients that have
 * not taken it yet (those that were off, those that join the collection):
 * it serves until it is aborted or another rollout takes its clients. */
static bool serving(const struct rollout *r)
{
	return active(r) || r->state == RO_COMPLETED;
}

static int n_total_waves(const struct rollout *r)
{
	return (r->pilot[0] ? 1 : 0) + r->n_waves;
}

static bool halt_if_needed(struct rollout *r);
static void update_any_active(struct ros *t);

/* ---- the client table ------------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* The key of a client id: its first 16 hex digits, mixed. Client ids are
 * random, so the same key is the order in which waves draw clients too. */
static uint64_t id_key(const char *id)
{
	uint64_t k = 0;

	for (int i = 0; i < 16 && id[i]; i++) {
		char c = id[i];

		k = (k << 4) | (uint64_t)(c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0');
	}
	return mix64(k ^ 0x9e3779b97f4a7c15ULL);
}

static struct ro_member *mem_of(struct ros *t, const struct ro_entry *e)
{
	return &t->r[e->ro - 1]->m[e->mi];
}

static struct ro_entry *tab_find(struct ros *t, const char *id)
{
	uint64_t k = id_key(id);
	size_t i;

	if (!t->tab_cap)
		return NULL;
	for (i = (size_t)k & (t->tab_cap - 1);; i = (i + 1) & (t->tab_cap - 1)) {
		struct ro_entry *e = &t->tab[i];

		if (!e->ro)
			return NULL;
		if (e->key == k && strcmp(mem_of(t, e)->id, id) == 0)
			return e;
	}
}

static int tab_grow(struct ros *t)
{
	size_t cap = t->tab_cap ? t->tab_cap * 2 : 1024;
	struct ro_entry *n = calloc(cap, sizeof(*n));

	if (!n)
		return -STEWARD_ENOMEM;
	for (size_t i = 0; i < t->tab_cap; i++) {
		size_t j;

		if (!t->tab[i].ro)
			continue;
		for (j = (size_t)t->tab[i].key & (cap - 1); n[j].ro; j = (j + 1) & (cap - 1))
			;
		n[j] = t->tab[i];
	}
	free(t->tab);
	t->tab = n;
	t->tab_cap = cap;
	return 0;
}

/* Point the client's entry at member mi of rollout ri (replacing what it
 * pointed at: a client is in one active rollout at a time). */
static int tab_set(struct ros *t, size_t ri, size_t mi)
{
	const char *id = t->r[ri]->m[mi].id;
	struct ro_entry *e = tab_find(t, id);
	size_t i;

	if (!e) {
		if ((t->tab_n + 1) * 2 > t->tab_cap && tab_grow(t))
			return -STEWARD_ENOMEM;
		for (i = (size_t)id_key(id) & (t->tab_cap - 1); t->tab[i].ro;
		     i = (i + 1) & (t->tab_cap - 1))
			;
		e = &t->tab[i];
		e->key = id_key(id);
		t->tab_n++;
	}
	e->ro = (uint32_t)ri + 1;
	e->mi = (uint32_t)mi;
	return 0;
}

/* ---- members and counters ---------------------------------------------------------- */

static void mark_dirty(struct rollout *r, struct ro_member *m)
{
	if (!m->dirty) {
		m->dirty = true;
		r->ndirty++;
	}
}

static struct ro_member *member_add(struct rollout *r, const char *id, int wave)
{
	struct ro_member *m;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct ro_member *n = realloc(r->m, cap * sizeof(*n));

		if (!n)
			return NULL;
		r->m = n;
		r->cap = cap;
	}
	m = &r->m[r->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->wave = (uint8_t)wave;
	mark_dirty(r, m);
	r->size[wave]++;
	r->counts[wave][M_PENDING]++;
	return m;
}

static void member_set(struct rollout *r, struct ro_member *m, enum ro_mstate st)
{
	if (m->state == st)
		return;
	r->counts[m->wave][m->state]--;
	r->counts[m->wave][st]++;
	m->state = (uint8_t)st;
	if (m->deferred && st != M_PENDING) {
		m->deferred = 0;
		if (r->deferred_n)
			r->deferred_n--;
	}
	mark_dirty(r, m);
}

static struct ro_pair *pair_of(struct rollout *r, const char *from, const char *to)
{
	for (int i = 0; i < r->n_pairs; i++)
		if (strcmp(r->pairs[i].from, from) == 0 && strcmp(r->pairs[i].to, to) == 0)
			return &r->pairs[i];
	if (r->n_pairs == RO_PAIRS_MAX)
		return NULL;
	struct ro_pair *p = &r->pairs[r->n_pairs++];

	memset(p, 0, sizeof(*p));
	snprintf(p->from, sizeof(p->from), "%s", from);
	snprintf(p->to, sizeof(p->to), "%s", to);
	return p;
}

static void pair_converged(struct ro_pair *p, int64_t secs)
{
	int b = 0;

	if (secs < 0)
		secs = 0;
	while (b < RO_CONV_BUCKETS - 1 && ((int64_t)1 << b) < secs)
		b++;
	p->conv_n++;
	p->conv_sum += secs;
	p->conv_hist[b]++;
}

/* The p-th percentile of a pair's time to converge (an upper bound: the
 * bucket's edge). */
static int64_t pair_pct(const struct ro_pair *p, int pct)
{
	uint64_t want = (p->conv_n * (uint64_t)pct + 99) / 100, seen = 0;

	for (int b = 0; b < RO_CONV_BUCKETS; b++) {
		seen += p->conv_hist[b];
		if (seen >= want && want)
			return (int64_t)1 << b;
	}
	return 0;
}

/* The reason of a failure: the text after the last ": " of the agent's
 * status message, interned (the first RO_REASONS_MAX distinct ones; the
 * rest count as "other"). */
static uint8_t reason_of(struct rollout *r, const char *detail)
{
	const char *p = strrchr(detail, ':');
	char text[RO_REASON_LEN];

	p = p && p[1] == ' ' ? p + 2 : detail;
	snprintf(text, sizeof(text), "%s", *p ? p : "no reason given");
	for (size_t i = 0; text[i]; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = ' ';
	for (int i = 0; i < r->n_reasons; i++)
		if (strcmp(r->reasons[i], text) == 0) {
			r->reason_n[i]++;
			return (uint8_t)(i + 1);
		}
	if (r->n_reasons == RO_REASONS_MAX) {
		snprintf(r->reasons[RO_REASONS_MAX - 1], RO_REASON_LEN, "other");
		r->reason_n[RO_REASONS_MAX - 1]++;
		return RO_REASONS_MAX;
	}
	snprintf(r->reasons[r->n_reasons], RO_REASON_LEN, "%s", text);
	r->reason_n[r->n_reasons] = 1;
	return (uint8_t)(++r->n_reasons);
}

/* ---- releases and the upgrade path ------------------------------------------------- */

/* The agent version (the component of kind base) of a stored release. */
static void release_agent(const struct store_release *row, char *out, size_t outsz)
{
	json_t *comps = json_loads(row->components, 0, NULL), *c;
	size_t i;

	snprintf(out, outsz, "%s", "");
	json_array_foreach(comps, i, c)
	{
		const char *kind = json_string_value(json_object_get(c, "kind"));
		const char *v = json_string_value(json_object_get(c, "version"));

		if (kind && v && strcmp(kind, "base") == 0) {
			snprintf(out, outsz, "%s", v);
			break;
		}
	}
	json_decref(comps);
}

#define RO_RELS_TTL_US (5 * 1000000LL)

/* Read the releases again when they changed or a few seconds passed;
 * caller holds t->mu. */
static void rels_refresh(struct site *s, struct ros *t)
{
	struct store_release *rows = NULL;
	struct ro_rel *v;
	size_t n = 0;
	int64_t now = time_now_s();

	if (t->rels_at_us && time_mono_us() - t->rels_at_us < RO_RELS_TTL_US)
		return;
	if (site_release_rows(s, &rows, &n) != 0)
		return;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		free(rows);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(v[i].version, sizeof(v[i].version), "%s", rows[i].version);
		snprintf(v[i].from, sizeof(v[i].from), "%s", rows[i].upgrade_from);
		release_agent(&rows[i], v[i].agent, sizeof(v[i].agent));
		v[i].usable = !rows[i].withdrawn && (rows[i].expires <= 0 || rows[i].expires > now) &&
			      v[i].agent[0];
	}
	free(rows);
	free(t->rels);
	t->rels = v;
	t->n_rels = n;
	t->rels_at_us = time_mono_us();
}

static const struct ro_rel *rel_find(const struct ros *t, const char *version)
{
	for (size_t i = 0; i < t->n_rels; i++)
		if (strcmp(t->rels[i].version, version) == 0)
			return &t->rels[i];
	return NULL;
}

/* The release whose agent is version, newest first; NULL none. */
static const struct ro_rel *rel_by_agent(const struct ros *t, const char *agent)
{
	const struct ro_rel *best = NULL;

	for (size_t i = 0; i < t->n_rels; i++)
		if (t->rels[i].usable && strcmp(t->rels[i].agent, agent) == 0 &&
		    (!best || proto_semver_cmp(t->rels[i].version, best->version) > 0))
			best = &t->rels[i];
	return best;
}

/* The next hop from agent version v towards release tgt: tgt itself when
 * it upgrades v, else the newest release on the way that does (and is
 * older than tgt); NULL and why when there is none. */
static const struct ro_rel *next_hop(const struct ros *t, const struct ro_rel *tgt, const char *v,
				     char *why, size_t whysz)
{
	const struct ro_rel *best = NULL;

	if (proto_semver_cmp(v, tgt->from) >= 0)
		return tgt;
	for (size_t i = 0; i < t->n_rels; i++) {
		const struct ro_rel *h = &t->rels[i];

		if (!h->usable || proto_semver_cmp(h->agent, v) <= 0 ||
		    proto_semver_cmp(h->agent, tgt->agent) >= 0 || proto_semver_cmp(v, h->from) < 0)
			continue;
		if (!best || proto_semver_cmp(h->agent, best->agent) > 0)
			best = h;
	}
	if (!best)
		snprintf(why, whysz,
			 "release %s upgrades agents from %s on and no release this site holds "
			 "leads there from %s: import one in between",
			 tgt->version, tgt->from, v);
	return best;
}

/* ---- the offer caps ------------------------------------------------------------------ */

/* Refill a bucket of per_min a minute (burst: a tenth of a minute's worth,
 * at least 1) up to now; whether it holds a token. */
static bool bucket_ready(struct ro_bucket *b, int64_t per_min, int64_t now_us)
{
	double burst = per_min / 10.0 < 1 ? 1 : per_min / 10.0;

	if (per_min <= 0)
		return true;
	if (!b->at_us) {
		b->tokens = burst;
		b->at_us = now_us;
	}
	b->tokens += (double)(now_us - b->at_us) * (double)per_min / 60e6;
	if (b->tokens > burst)
		b->tokens = burst;
	b->at_us = now_us;
	return b->tokens >= 1;
}

static void bucket_take(struct ro_bucket *b, int64_t per_min)
{
	if (per_min > 0)
		b->tokens -= 1;
}

static struct ro_bucket *dp_bucket(struct ros *t, const char *url)
{
	struct ro_bucket *lru = &t->dp[0];

	for (int i = 0; i < RO_DP_BUCKETS; i++) {
		if (strcmp(t->dp[i].url, url) == 0)
			return &t->dp[i];
		if (t->dp[i].at_us < lru->at_us)
			lru = &t->dp[i];
	}
	memset(lru, 0, sizeof(*lru));
	snprintf(lru->url, sizeof(lru->url), "%s", url);
	return lru;
}

/* ---- assigning clients to waves -------------------------------------------------------- */

struct ro_cand {
	uint64_t key;
	const char *id;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct ro_cand *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Whether the client in slot is kept out of r by its exclusion. */
static bool excluded(const struct rollout *r, struct coll_engine *e, int64_t slot)
{
	return r->exclude[0] && slot >= 0 && coll_is_member(e, r->exclude, (uint32_t)slot);
}

/* Draw the waves of rollout ri from its collection now: the pilot's
 * members first, then the rest in the order of their keys, cut at each
 * wave's share (rounded up, so a 1% wave of 50 clients has one). Caller
 * holds the collections and t->mu. */
static int ro_assign(struct ros *t, size_t ri, struct facts *f, struct coll_engine *e)
{
	struct rollout *r = t->r[ri];
	json_t *all = coll_members_json(e, r->collection), *m;
	struct ro_cand *c;
	size_t n = 0, np = 0, i, total = json_array_size(all);
	int base = r->pilot[0] ? 1 : 0, rc = 0;

	if (!all)
		return -STEWARD_ENOTFOUND;
	c = calloc(total ? total : 1, sizeof(*c));
	if (!c) {
		json_decref(all);
		return -STEWARD_ENOMEM;
	}
	json_array_foreach(all, i, m)
	{
		const char *id = json_string_value(json_object_get(m, "id"));
		int64_t slot = id ? facts_find(f, id) : -1;
		struct ro_entry *busy = id ? tab_find(t, id) : NULL;

		if (!id || strlen(id) != PROTO_CLIENT_ID_HEX || excluded(r, e, slot))
			continue;
		if (busy && busy->ro - 1 != ri && active(t->r[busy->ro - 1])) {
			r->skipped_busy++;
			continue;
		}
		if (r->pilot[0] && slot >= 0 && coll_is_member(e, r->pilot, (uint32_t)slot)) {
			struct ro_member *pm = member_add(r, id, 0);

			if (!pm || tab_set(t, ri, r->n - 1)) {
				rc = -STEWARD_ENOMEM;
				break;
			}
			np++;
			continue;
		}
		c[n].key = id_key(id);
		c[n++].id = id;
	}
	qsort(c, n, sizeof(*c), cand_cmp);
	for (i = 0; !rc && i < n; i++) {
		int w = 0;

		while (w < r->n_waves - 1 &&
		       (uint64_t)i >= ((uint64_t)n * (uint64_t)r->waves_bp[w] + 9999) / 10000)
			w++;
		if (!member_add(r, c[i].id, base + w) || tab_set(t, ri, r->n - 1))
			rc = -STEWARD_ENOMEM;
	}
	free(c);
	json_decref(all);
	r->assigned = true;
	r->doc_dirty = true;
	log_info("rollouts", "assigned", "rollout=%s clients=%zu pilot=%zu skipped_busy=%llu", r->name,
		 r->n, np, (unsigned long long)r->skipped_busy);
	return rc;
}

/* A client that joined the collection after the start takes part in the
 * last wave; caller holds the collections and t->mu. */
static struct ro_entry *late_joiner(struct ros *t, struct coll_engine *e, const char *id,
				    int64_t slot)
{
	if (slot < 0)
		return NULL;
	for (size_t ri = 0; ri < t->n; ri++) {
		struct rollout *r = t->r[ri];

		if (!r->assigned || !(r->state == RO_RUNNING || r->state == RO_PAUSED ||
				      r->state == RO_HALTED || r->state == RO_COMPLETED) ||
		    !coll_is_member(e, r->collection, (uint32_t)slot) || excluded(r, e, slot))
			continue;
		if (!member_add(r, id, n_total_waves(r) - 1) || tab_set(t, ri, r->n - 1))
			return NULL;
		return tab_find(t, id);
	}
	return NULL;
}

/* ---- the decision on a check-in ------------------------------------------------------------ */

static void set_hold(struct ro_choice *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_hold(struct ro_choice *out, const char *fmt, ...)
{
	va_list ap;

	out->kind = RO_HOLD;
	va_start(ap, fmt);
	vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
}

/* Forward: offer the next hop towards the target, inside the windows and
 * the caps. */
/* The member's link: held (deferred or never on its class) or not. */
static bool link_held(struct rollout *r, struct ro_member *m, struct reg_client *c,
		      const struct ro_window_gate *g, int64_t now, struct ro_choice *out)
{
	char link[96];
	int cls = site_link_describe(c, link, sizeof(link));
	bool has_windows = g->next_open != 0;
	enum core_link_verdict v = core_link_gate(&r->links, cls, now, has_windows && g->inside,
						  has_windows, link, out->why, sizeof(out->why));
	uint8_t now_held = v == CORE_LINK_GO ? 0 : (uint8_t)v;

	if (m->deferred != now_held) {
		if (m->deferred && r->deferred_n)
			r->deferred_n--;
		if (now_held)
			r->deferred_n++;
		m->deferred = now_held;
	}
	if (!now_held)
		return false;
	out->kind = RO_HOLD;
	out->link_deferred = true;
	return true;
}

static void decide_forward(struct site *s, struct ros *t, struct rollout *r, struct ro_member *m,
			   struct reg_client *c, const char *v, const char *dp,
			   const struct ro_window_gate *g, struct ro_choice *out)
{
	const struct ro_rel *tgt, *hop;
	int64_t now = time_now_s(), now_us = time_mono_us();
	char why[RO_WHY_MAX];

	if (m->state == M_FAILED) {
		set_hold(out, "the upgrade to %s failed on this client (%s); rollout %s does not "
			      "offer it again",
			 r->release, m->reason ? r->reasons[m->reason - 1] : "no reason given",
			 r->name);
		return;
	}
	if (m->wave > r->wave) {
		set_hold(out, "rollout %s reaches this client in wave %d; it is in wave %d", r->name,
			 m->wave + 1, r->wave + 1);
		return;
	}
	if (r->state != RO_RUNNING && r->state != RO_COMPLETED) {
		set_hold(out, "rollout %s is %s: %s", r->name, ro_state_names[r->state],
			 r->why[0] ? r->why : "no new client starts");
		return;
	}
	if (!g->inside && !(r->late_now && g->missed)) {
		out->next_window = g->next_open;
		out->window_len = g->next_close - g->next_open;
		set_hold(out, "outside its maintenance windows; the next opens at %lld",
			 (long long)g->next_open);
		t->outside_window++;
		return;
	}
	rels_refresh(s, t);
	tgt = rel_find(t, r->release);
	if (!tgt || !tgt->usable) {
		set_hold(out, "release %s of rollout %s is %s", r->release, r->name,
			 tgt ? "withdrawn or expired" : "no longer on this site");
		return;
	}
	hop = next_hop(t, tgt, v, why, sizeof(why));
	if (!hop) {
		set_hold(out, "%s", why);
		return;
	}
	/* a slow or metered link: as the rollout's link policy says */
	if (link_held(r, m, c, g, now, out))
		return;
	/* the client's distribution point is looked up (outside the locks)
	 * only for a client that is about to be offered something */
	if (!dp && s->cfg.rollout_dp_offers_per_minute > 0) {
		out->kind = RO_NEED_DP;
		return;
	}
	/* both caps must have room before either is spent: a client held by
	 * its distribution point's cap costs the site's nothing */
	{
		struct ro_bucket *db = dp && dp[0] ? dp_bucket(t, dp) : NULL;
		bool site_ok = bucket_ready(&t->mp, s->cfg.rollout_offers_per_minute, now_us);
		bool dp_ok = !db || bucket_ready(db, s->cfg.rollout_dp_offers_per_minute, now_us);

		if (!site_ok || !dp_ok) {
			if (!site_ok)
				t->capped_site++;
			else
				t->capped_dp++;
			out->retry_in = 1;
			if (!site_ok)
				set_hold(out, "this site's upgrade offers are at their cap "
					      "(rollout_offers_per_minute = %lld); the client checks in "
					      "again in 1 to 10 minutes",
					 (long long)s->cfg.rollout_offers_per_minute);
			else
				set_hold(out, "the upgrade offers for distribution point %.200s are at "
					      "their cap (rollout_dp_offers_per_minute = %lld); the client "
					      "checks in again in 1 to 10 minutes",
					 dp, (long long)s->cfg.rollout_dp_offers_per_minute);
			return;
		}
		bucket_take(&t->mp, s->cfg.rollout_offers_per_minute);
		if (db)
			bucket_take(db, s->cfg.rollout_dp_offers_per_minute);
	}
	out->kind = RO_OFFER;
	snprintf(out->version, sizeof(out->version), "%s", hop->version);
	out->rollback = false;
	if (m->state != M_OFFERED || strcmp(m->at, v) != 0) {
		if (!m->started)
			m->started = now;
		if (!m->from[0])
			snprintf(m->from, sizeof(m->from), "%s", v);
		snprintf(m->at, sizeof(m->at), "%s", v);
		member_set(r, m, M_OFFERED);
		mark_dirty(r, m);
	}
	t->offers++;
}

int site_rollouts_decide(struct site *s, struct reg_client *c, const char *agent_version,
			 const char *dp, struct ro_choice *out)
{
	struct ros *t = ros_of(s);
	struct facts *f;
	struct coll_engine *e;
	struct ro_entry *en;
	struct rollout *r;
	struct ro_member *m;
	struct ro_window_gate g;
	int64_t slot, now = time_now_s();

	memset(out, 0, sizeof(*out));
	if (!t || !atomic_load(&t->any_active))
		return 0;
	site_colls_lock(s, &f, &e);
	slot = facts_find(f, c->idhex);
	pthread_mutex_lock(&t->mu);
	en = tab_find(t, c->idhex);
	if (!en || !serving(t->r[en->ro - 1]))
		en = late_joiner(t, e, c->idhex, slot);
	if (!en)
		goto out;
	r = t->r[en->ro - 1];
	m = mem_of(t, en);
	/* excluded means untouched: no offer, no word about one */
	if (excluded(r, e, slot)) {
		out->kind = RO_EXCLUDED;
		goto out;
	}
	/* the version it runs says how the last step went */
	if (r->state != RO_ROLLING_BACK && strcmp(agent_version, r->target) == 0) {
		if (m->state != M_SUCCEEDED) {
			struct ro_pair *p = pair_of(r, m->at[0] ? m->at : "?", r->release);

			if (p && m->state == M_OFFERED) {
				p->succeeded++;
				pair_converged(p, now - m->started);
			}
			m->finished = now;
			member_set(r, m, M_SUCCEEDED);
			r->doc_dirty = true;
		}
		out->kind = RO_DONE;
		goto out;
	}
	if (r->state == RO_ROLLING_BACK) {
		const struct ro_rel *back;
		bool on_target = strcmp(agent_version, r->target) == 0;

		if (m->state == M_BACK_OFFERED && !on_target && strcmp(agent_version, m->from) == 0) {
			struct ro_pair *p = pair_of(r, r->target, m->from);

			if (p)
				p->rolled_back++;
			m->finished = now;
			member_set(r, m, M_ROLLED_BACK);
			r->doc_dirty = true;
		}
		/* only a client on the release goes back: those that never took
		 * it, failed (their agent went back by itself) or are back keep
		 * what they run */
		if (!on_target || m->state == M_FAILED || m->state == M_ROLLED_BACK) {
			out->kind = RO_DONE;
			goto out;
		}
		if (m->state == M_PENDING || m->state == M_OFFERED) {
			/* it switched while the rollout halted */
			struct ro_pair *p = pair_of(r, m->at[0] ? m->at : "?", r->release);

			if (p && m->state == M_OFFERED)
				p->succeeded++;
			member_set(r, m, M_SUCCEEDED);
		}
		rels_refresh(s, t);
		back = m->from[0] ? rel_by_agent(t, m->from) : NULL;
		if (!back) {
			set_hold(out, "rollout %s rolls back, but this site holds no release with agent "
				      "%s to go back to",
				 r->name, m->from[0] ? m->from : "(unknown)");
			goto out;
		}
		out->kind = RO_OFFER;
		out->rollback = true;
		snprintf(out->version, sizeof(out->version), "%s", back->version);
		member_set(r, m, M_BACK_OFFERED);
		goto out;
	}
	site_rollout_window_gate(s, e, (uint32_t)slot, now, r->wave_started, &g);
	decide_forward(s, t, r, m, c, agent_version, dp, &g, out);
out:
	pthread_mutex_unlock(&t->mu);
	site_colls_unlock(s);
	return 0;
}

/* An agent reported how its switch to version ended (releases.c reads the
 * status messages). */
void site_rollouts_outcome(struct site *s, const char *client, const char *version,
			   bool succeeded, const char *detail)
{
	struct ros *t = ros_of(s);
	struct ro_entry *en;
	struct rollout *r;
	struct ro_member *m;
	struct ro_pair *p;

	if (!t || !atomic_load(&t->any_active))
		return;
	pthread_mutex_lock(&t->mu);
	en = tab_find(t, client);
	if (!en || !serving(t->r[en->ro - 1]))
		goto out;
	r = t->r[en->ro - 1];
	m = mem_of(t, en);
	if (m->state != M_OFFERED)
		goto out;
	p = pair_of(r, m->at[0] ? m->at : "?", version);
	if (succeeded) {
		/* a hop on the way: the next check-in offers the next one */
		if (strcmp(version, r->release) != 0) {
			if (p) {
				p->succeeded++;
				pair_converged(p, time_now_s() - m->started);
			}
			member_set(r, m, M_PENDING);
		}
		goto out;
	}
	if (p)
		p->failed++;
	m->reason = reason_of(r, detail);
	m->finished = time_now_s();
	member_set(r, m, M_FAILED);
	r->doc_dirty = true;
	halt_if_needed(r);
	update_any_active(t);
	log_warn("rollouts", "client_failed", "rollout=%s client=%s version=%s detail=\"%.160s\"",
		 r->name, client, version, detail);
out:
	pthread_mutex_unlock(&t->mu);
}

/* ---- the document kept in the database -------------------------------------------------- */

static json_t *waves_json(const struct rollout *r)
{
	json_t *a = json_array();

	for (int i = 0; a && i < r->n_waves; i++)
		json_array_append_new(a, json_integer(r->waves_bp[i]));
	return a;
}

static json_t *reasons_json(const struct rollout *r)
{
	json_t *a = json_array();

	for (int i = 0; a && i < r->n_reasons; i++)
		json_array_append_new(a, json_pack("{s:s,s:I}", "reason", r->reasons[i], "clients",
						   (json_int_t)r->reason_n[i]));
	return a;
}

static json_t *pairs_doc(const struct rollout *r)
{
	json_t *a = json_array();

	for (int i = 0; a && i < r->n_pairs; i++) {
		const struct ro_pair *p = &r->pairs[i];
		json_t *h = json_array();

		for (int b = 0; h && b < RO_CONV_BUCKETS; b++)
			json_array_append_new(h, json_integer(p->conv_hist[b]));
		json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o}", "from", p->from,
						   "to", p->to, "succeeded", (json_int_t)p->succeeded,
						   "failed", (json_int_t)p->failed, "rolled_back",
						   (json_int_t)p->rolled_back, "conv_n",
						   (json_int_t)p->conv_n, "conv_sum",
						   (json_int_t)p->conv_sum, "conv_hist",
						   h ? h : json_array()));
	}
	return a;
}

static char *doc_of(const struct rollout *r)
{
	json_t *o = json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:o,s:i,s:i,s:I,s:I,s:b,s:b,s:s,s:i,s:I,s:I,s:s,s:s,s:I,s:I,s:I,"
	    "s:b,s:I,s:o,s:o,s:s}",
	    "release", r->release, "target", r->target, "collection", r->collection, "pilot",
	    r->pilot, "exclude", r->exclude, "waves", waves_json(r), "gate", r->gate, "halt_at",
	    r->halt_at, "soak", (json_int_t)r->soak, "start_at", (json_int_t)r->start_at,
	    "auto_rollback", r->auto_rollback, "late_now", r->late_now, "state",
	    ro_state_names[r->state], "wave", r->wave, "wave_started", (json_int_t)r->wave_started,
	    "gate_reached", (json_int_t)r->gate_reached, "why", r->why, "created_by",
	    r->created_by, "created", (json_int_t)r->created, "started", (json_int_t)r->started,
	    "finished", (json_int_t)r->finished, "assigned", r->assigned, "skipped_busy",
	    (json_int_t)r->skipped_busy, "reasons", reasons_json(r), "pairs", pairs_doc(r),
	    "halt_why", r->halt_why);
	char links[CORE_LINK_POLICY_TEXT_MAX + 1], *text;

	core_link_policy_format(&r->links, links, sizeof(links));
	if (o) {
		json_object_set_new(o, "links", json_string(links));
		json_object_set_new(o, "link_deadline", json_integer(r->links.deadline));
	}
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return text;
}

static void str_field(json_t *o, const char *key, char *out, size_t outsz)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(out, outsz, "%s", v ? v : "");
}

static int64_t int_field(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static int doc_read(const char *name, const char *doc, struct rollout *r)
{
	json_t *o = json_loads(doc, 0, NULL), *a, *v;
	char state[24];
	size_t i;

	if (!json_is_object(o)) {
		json_decref(o);
		return -STEWARD_EINVAL;
	}
	snprintf(r->name, sizeof(r->name), "%s", name);
	str_field(o, "release", r->release, sizeof(r->release));
	str_field(o, "target", r->target, sizeof(r->target));
	str_field(o, "collection", r->collection, sizeof(r->collection));
	str_field(o, "pilot", r->pilot, sizeof(r->pilot));
	str_field(o, "exclude", r->exclude, sizeof(r->exclude));
	a = json_object_get(o, "waves");
	json_array_foreach(a, i, v)
	{
		if (r->n_waves < RO_WAVES_MAX)
			r->waves_bp[r->n_waves++] = (int)json_integer_value(v);
	}
	r->gate = (int)int_field(o, "gate");
	r->halt_at = (int)int_field(o, "halt_at");
	r->soak = int_field(o, "soak");
	r->start_at = int_field(o, "start_at");
	r->auto_rollback = json_is_true(json_object_get(o, "auto_rollback"));
	r->late_now = json_is_true(json_object_get(o, "late_now"));
	{
		/* rollouts stored before link classes keep the defaults */
		const char *links = json_string_value(json_object_get(o, "links"));
		char msg[200];

		core_link_policy_default(&r->links);
		if (links && core_link_policy_parse(links, &r->links, msg, sizeof(msg)))
			core_link_policy_default(&r->links);
		r->links.deadline = int_field(o, "link_deadline");
	}
	str_field(o, "state", state, sizeof(state));
	for (int k = 0; k < RO_NSTATES; k++)
		if (strcmp(state, ro_state_names[k]) == 0)
			r->state = (enum ro_state)k;
	r->wave = (int)int_field(o, "wave");
	r->wave_started = int_field(o, "wave_started");
	r->gate_reached = int_field(o, "gate_reached");
	str_field(o, "why", r->why, sizeof(r->why));
	str_field(o, "halt_why", r->halt_why, sizeof(r->halt_why));
	str_field(o, "created_by", r->created_by, sizeof(r->created_by));
	r->created = int_field(o, "created");
	r->started = int_field(o, "started");
	r->finished = int_field(o, "finished");
	r->assigned = json_is_true(json_object_get(o, "assigned"));
	r->skipped_busy = (uint64_t)int_field(o, "skipped_busy");
	a = json_object_get(o, "reasons");
	json_array_foreach(a, i, v)
	{
		if (r->n_reasons == RO_REASONS_MAX)
			break;
		str_field(v, "reason", r->reasons[r->n_reasons], RO_REASON_LEN);
		r->reason_n[r->n_reasons++] = (uint32_t)int_field(v, "clients");
	}
	a = json_object_get(o, "pairs");
	json_array_foreach(a, i, v)
	{
		struct ro_pair *p;
		json_t *h, *hv;
		size_t b;

		if (r->n_pairs == RO_PAIRS_MAX)
			break;
		p = &r->pairs[r->n_pairs++];
		str_field(v, "from", p->from, sizeof(p->from));
		str_field(v, "to", p->to, sizeof(p->to));
		p->succeeded = (uint64_t)int_field(v, "succeeded");
		p->failed = (uint64_t)int_field(v, "failed");
		p->rolled_back = (uint64_t)int_field(v, "rolled_back");
		p->conv_n = (uint64_t)int_field(v, "conv_n");
		p->conv_sum = int_field(v, "conv_sum");
		h = json_object_get(v, "conv_hist");
		json_array_foreach(h, b, hv)
		{
			if (b < RO_CONV_BUCKETS)
				p->conv_hist[b] = (uint32_t)json_integer_value(hv);
		}
	}
	json_decref(o);
	if (r->wave < 0 || r->wave >= n_total_waves(r) || r->n_waves < 1)
		return -STEWARD_EINVAL;
	return 0;
}

/* ---- loading, the tick, the end ---------------------------------------------------------- */

struct load_ctx {
	struct ros *t;
	size_t ri;
	int rc;
};

static int load_member(const struct store_rollout_member *sm, void *ctx)
{
	struct load_ctx *l = ctx;
	struct rollout *r = l->t->r[l->ri];
	struct ro_member *m;

	if (sm->changed > r->seen)
		r->seen = sm->changed;
	if (sm->wave < 0 || sm->wave >= n_total_waves(r) || sm->state < 0 || sm->state >= M_NSTATES)
		return 0; /* not ours to guess: the next check-in puts it right */
	m = member_add(r, sm->client, sm->wave);
	if (!m)
		return -STEWARD_ENOMEM;
	snprintf(m->from, sizeof(m->from), "%s", sm->from);
	m->started = sm->started;
	m->finished = sm->finished;
	member_set(r, m, (enum ro_mstate)sm->state);
	m->dirty = false;
	r->ndirty--;
	if (sm->reason[0])
		m->reason = reason_of(r, sm->reason), r->reason_n[m->reason - 1]--;
	/* in an active rollout the client is this rollout's */
	if (serving(r) || !tab_find(l->t, sm->client))
		return tab_set(l->t, l->ri, r->n - 1);
	return 0;
}

static int load_rollout(const char *name, const char *doc, void *ctx)
{
	struct load_ctx *l = ctx;
	struct rollout *r;

	if (l->t->n == RO_MAX)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -STEWARD_ENOMEM;
	if (doc_read(name, doc, r)) {
		log_warn("rollouts", "doc_unreadable", "rollout=%s", name);
		free(r);
		return 0;
	}
	l->t->r[l->t->n++] = r;
	return 0;
}

static void update_any_active(struct ros *t)
{
	bool any = false;

	for (size_t i = 0; i < t->n; i++)
		any = any || serving(t->r[i]) || t->r[i]->state == RO_SCHEDULED;
	atomic_store(&t->any_active, any);
}

int site_rollouts_load(struct site *s)
{
	struct ros *t = calloc(1, sizeof(*t));
	struct load_ctx l = {.t = t};
	int rc;

	if (!t)
		return -STEWARD_ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	s->rollouts = t;
	rc = s->store->ops->rollout_list(s->store, load_rollout, &l);
	/* inactive first, so the active rollouts take their clients last */
	for (int pass = 0; !rc && pass < 2; pass++)
		for (l.ri = 0; !rc && l.ri < t->n; l.ri++)
			if (serving(t->r[l.ri]) == (pass == 1))
				rc = s->store->ops->rollout_members_list(s->store, t->r[l.ri]->name,
									  -1, load_member, &l);
	update_any_active(t);
	return rc;
}

static void ro_free(struct rollout *r)
{
	if (r)
		free(r->m);
	free(r);
}

/* ---- another management point's changes (changes.c) ----------------------------------- */

static int tab_rebuild(struct ros *t);

struct refresh_read {
	const char *name;
	char *doc; /* the stored document; NULL: no such rollout */
	struct store_rollout_member *m;
	size_t n, cap;
	int64_t seen; /* the highest put number read */
	int rc;
};

static int refresh_doc(const char *name, const char *doc, void *ctx)
{
	struct refresh_read *rr = ctx;

	if (strcmp(name, rr->name) != 0 || rr->doc)
		return 0;
	rr->doc = strdup(doc);
	return rr->doc ? 0 : -STEWARD_ENOMEM;
}

static int refresh_member(const struct store_rollout_member *sm, void *ctx)
{
	struct refresh_read *rr = ctx;

	if (sm->changed > rr->seen)
		rr->seen = sm->changed;
	if (rr->n == rr->cap) {
		size_t cap = rr->cap ? rr->cap * 2 : 256;
		void *n = realloc(rr->m, cap * sizeof(*rr->m));

		if (!n)
			return -STEWARD_ENOMEM;
		rr->m = n;
		rr->cap = cap;
	}
	rr->m[rr->n++] = *sm;
	return 0;
}

/* The member of client id in rollout ri, or NULL. */
static struct ro_member *member_find(struct ros *t, size_t ri, const char *id)
{
	struct ro_entry *e = tab_find(t, id);
	struct rollout *r = t->r[ri];

	if (e && e->ro == ri + 1)
		return mem_of(t, e);
	for (size_t i = 0; i < r->n; i++) /* a client another rollout serves now */
		if (strcmp(r->m[i].id, id) == 0)
			return &r->m[i];
	return NULL;
}

/* The stored members into r, as read when the tick's flush done was
 * done0. A member changed here and not written yet (dirty), or written
 * by a flush that was not done when the read began, keeps what this
 * process knows: the row read may be older (counted again, a success
 * read back as an offer would be counted twice). *added: new members.
 * *seen: lowered below the first row kept for a flush under way, to be
 * read again at the next announcement (another process may have written
 * it after that flush). A dirty member needs no second look: this
 * process's next put writes over whatever the row holds. */
static int refresh_members(struct ros *t, size_t ri, const struct refresh_read *rr, bool fresh,
			   uint32_t done0, bool *added, int64_t *seen)
{
	struct rollout *r = t->r[ri];

	for (size_t i = 0; i < rr->n; i++) {
		const struct store_rollout_member *sm = &rr->m[i];
		struct ro_member *m;

		if (sm->wave < 0 || sm->wave >= n_total_waves(r) || sm->state < 0 ||
		    sm->state >= M_NSTATES)
			continue;
		/* a rollout new here has no member to find (and no table) */
		m = fresh ? NULL : member_find(t, ri, sm->client);
		if (!m) {
			if (!(m = member_add(r, sm->client, sm->wave)))
				return -STEWARD_ENOMEM;
			*added = true;
		} else if (m->dirty || m->wave != sm->wave) {
			/* this process's news, which its next put writes over the
			 * row, or a wave other than the one it holds: kept */
			continue;
		} else if (m->flushed > done0) {
			/* written now: the row may be that put's, or one after it */
			if (sm->changed - 1 < *seen)
				*seen = sm->changed - 1;
			continue;
		}
		snprintf(m->from, sizeof(m->from), "%s", sm->from);
		m->started = sm->started;
		m->finished = sm->finished;
		member_set(r, m, (enum ro_mstate)sm->state);
		if (sm->reason[0] && !m->reason)
			m->reason = reason_of(r, sm->reason);
		if (m->dirty) { /* what the database holds already */
			m->dirty = false;
			r->ndirty--;
		}
	}
	return 0;
}

/* Copy what the document says into r (not its members, nor the failure
 * reasons their entries point into). */
static void refresh_doc_fields(struct rollout *r, const struct rollout *d)
{
	memcpy(r->release, d->release, sizeof(r->release));
	memcpy(r->target, d->target, sizeof(r->target));
	memcpy(r->collection, d->collection, sizeof(r->collection));
	memcpy(r->pilot, d->pilot, sizeof(r->pilot));
	memcpy(r->exclude, d->exclude, sizeof(r->exclude));
	if (d->n_waves == r->n_waves) /* the waves are fixed at creation */
		memcpy(r->waves_bp, d->waves_bp, sizeof(r->waves_bp));
	r->gate = d->gate;
	r->halt_at = d->halt_at;
	r->soak = d->soak;
	r->start_at = d->start_at;
	r->auto_rollback = d->auto_rollback;
	r->late_now = d->late_now;
	r->links = d->links;
	r->state = d->state;
	r->wave = d->wave < n_total_waves(r) ? d->wave : r->wave;
	r->wave_started = d->wave_started;
	r->gate_reached = d->gate_reached;
	memcpy(r->why, d->why, sizeof(r->why));
	memcpy(r->halt_why, d->halt_why, sizeof(r->halt_why));
	r->started = d->started;
	r->finished = d->finished;
	r->assigned = d->assigned;
	r->skipped_busy = d->skipped_busy;
	memcpy(r->pairs, d->pairs, sizeof(r->pairs));
	r->n_pairs = d->n_pairs;
	r->doc_dirty = false;
}

/* The index of rollout name in t, or t->n; under t->mu. */
static size_t ro_index(const struct ros *t, const char *name)
{
	size_t ri;

	for (ri = 0; ri < t->n && strcmp(t->r[ri]->name, name) != 0; ri++)
		;
	return ri;
}

/* Rollout name read again: with all, every member; otherwise the members
 * written since the last read (a put numbers them, store.h), so that an
 * announcement costs what changed, not the rollout's size. */
static int refresh_one(struct site *s, const char *name, bool take_doc, bool all)
{
	struct ros *t = ros_of(s);
	struct refresh_read rr = {.name = name, .seen = -1};
	struct rollout *d = NULL, *read_into = NULL;
	bool added = false;
	int64_t since = -1, upto;
	uint32_t done0;
	size_t ri;
	int rc;

	if (!t || !name || !site_rollout_name_ok(name))
		return 0;
	pthread_mutex_lock(&t->mu);
	done0 = t->flush_done;
	ri = ro_index(t, name);
	if (!all && ri < t->n)
		since = t->r[ri]->seen;
	pthread_mutex_unlock(&t->mu);
	/* read first, outside the lock: the store's lock is taken after it
	 * elsewhere (a delete holds ros->mu across its write) */
	rc = s->store->ops->rollout_list(s->store, refresh_doc, &rr);
	if (!rc && rr.doc)
		rc = s->store->ops->rollout_members_list(s->store, name, since, refresh_member, &rr);
	if (!rc && rr.doc) {
		d = calloc(1, sizeof(*d));
		if (!d)
			rc = -STEWARD_ENOMEM;
		else if (doc_read(name, rr.doc, d))
			rc = -STEWARD_EINVAL;
	}
	if (rc)
		goto out;
	upto = rr.seen;
	pthread_mutex_lock(&t->mu);
	t->refreshes++;
	t->members_read += rr.n;
	ri = ro_index(t, name);
	if (!d) {
		/* deleted at another management point */
		if (ri < t->n && take_doc) {
			ro_free(t->r[ri]);
			memmove(&t->r[ri], &t->r[ri + 1], (t->n - ri - 1) * sizeof(t->r[0]));
			t->n--;
			added = true; /* the table is rebuilt below */
			log_info("rollouts", "deleted",
				 "rollout=%s by=\"another management point\"", name);
		}
	} else if (ri == t->n) {
		if (!take_doc || t->n == RO_MAX) {
			pthread_mutex_unlock(&t->mu);
			goto out; /* the site server makes every rollout */
		}
		t->r[t->n++] = d;
		d = NULL;
		rc = refresh_members(t, ri, &rr, true, done0, &added, &upto);
		read_into = t->r[ri];
		added = true;
		log_info("rollouts", "loaded", "rollout=%s by=\"another management point\"", name);
	} else {
		if (take_doc)
			refresh_doc_fields(t->r[ri], d);
		rc = refresh_members(t, ri, &rr, false, done0, &added, &upto);
		read_into = t->r[ri];
	}
	if (!rc && read_into && upto > read_into->seen)
		read_into->seen = upto;
	if (added && tab_rebuild(t))
		rc = -STEWARD_ENOMEM;
	update_any_active(t);
	pthread_mutex_unlock(&t->mu);
out:
	ro_free(d);
	free(rr.doc);
	free(rr.m);
	return rc;
}

int site_rollouts_refresh(struct site *s, const char *name, bool take_doc)
{
	return refresh_one(s, name, take_doc, false);
}

struct refresh_names {
	char (*names)[STORE_ROLLOUT_NAME_MAX + 1];
	size_t *n;
};

static int refresh_name(const char *name, const char *doc, void *ctx)
{
	struct refresh_names *rn = ctx;

	(void)doc;
	if (*rn->n < RO_MAX && strlen(name) <= STORE_ROLLOUT_NAME_MAX)
		snprintf(rn->names[(*rn->n)++], sizeof(rn->names[0]), "%s", name);
	return 0;
}

int site_rollouts_refresh_all(struct site *s, bool take_doc)
{
	struct ros *t = ros_of(s);
	char(*names)[STORE_ROLLOUT_NAME_MAX + 1] = NULL;
	size_t n = 0;
	int rc = 0;

	if (!t)
		return 0;
	names = calloc(RO_MAX, sizeof(*names));
	if (!names)
		return -STEWARD_ENOMEM;
	/* the stored rollouts and those held: a deleted one too */
	rc =
	    s->store->ops->rollout_list(s->store, refresh_name, &(struct refresh_names){names, &n});
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n; i++) {
		bool have = false;

		for (size_t j = 0; j < n && !have; j++)
			have = strcmp(names[j], t->r[i]->name) == 0;
		if (!have && n < RO_MAX)
			snprintf(names[n++], sizeof(names[0]), "%s", t->r[i]->name);
	}
	pthread_mutex_unlock(&t->mu);
	for (size_t i = 0; !rc && i < n; i++)
		rc = refresh_one(s, names[i], take_doc, true);
	free(names);
	return rc;
}

void site_rollouts_free(struct site *s)
{
	struct ros *t = ros_of(s);

	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		ro_free(t->r[i]);
	free(t->tab);
	free(t->rels);
	pthread_mutex_destroy(&t->mu);
	free(t);
	s->rollouts = NULL;
}

static void set_state(struct rollout *r, enum ro_state st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_state(struct rollout *r, enum ro_state st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	log_info("rollouts", ro_state_names[st], "rollout=%s from=%s wave=%d why=\"%s\"", r->name,
		 ro_state_names[r->state], r->wave + 1, r->why);
	r->state = st;
	if (st == RO_COMPLETED || st == RO_ABORTED || st == RO_ROLLED_BACK)
		r->finished = time_now_s();
	r->doc_dirty = true;
}

/* The label of wave w: "pilot", or its share. */
static void wave_label(const struct rollout *r, int w, char *out, size_t outsz)
{
	int k = w - (r->pilot[0] ? 1 : 0);

	if (k < 0)
		snprintf(out, outsz, "pilot (%s)", r->pilot);
	else if (r->waves_bp[k] % 100)
		snprintf(out, outsz, "%d.%02d%%", r->waves_bp[k] / 100, r->waves_bp[k] % 100);
	else
		snprintf(out, outsz, "%d%%", r->waves_bp[k] / 100);
}

static const char *top_reason(const struct rollout *r)
{
	int best = -1;

	for (int i = 0; i < r->n_reasons; i++)
		if (best < 0 || r->reason_n[i] > r->reason_n[best])
			best = i;
	return best < 0 ? "none reported" : r->reasons[best];
}

/* Start the next wave, or finish. */
static void advance(struct rollout *r, int64_t now, const char *how)
{
	char label[96];

	if (r->wave + 1 >= n_total_waves(r)) {
		set_state(r, RO_COMPLETED,
			  "%s; clients that have not taken the release yet still get it when they "
			  "check in",
			  strcmp(how, "gate") == 0 ? "every wave passed its gate"
						   : "the last wave was promoted");
		return;
	}
	r->wave++;
	r->wave_started = now;
	r->gate_reached = 0;
	wave_label(r, r->wave, label, sizeof(label));
	r->doc_dirty = true;
	log_info("rollouts", "wave_started", "rollout=%s wave=%d label=\"%s\" clients=%u how=%s",
		 r->name, r->wave + 1, label, r->size[r->wave], how);
}

/* Halt r when the failures of its current wave passed halt_at percent
 * (at once, from the failure that passes it: no new client starts from
 * then on); true when it halted. */
static bool halt_if_needed(struct rollout *r)
{
	int w = r->wave;
	uint64_t size = r->size[w], bad = r->counts[w][M_FAILED];
	char label[96];

	if (r->state != RO_RUNNING || !size || bad * 100 <= (uint64_t)r->halt_at * size)
		return false;
	wave_label(r, w, label, sizeof(label));
	set_state(r, RO_HALTED,
		  "wave %d (%s): %llu of %llu clients failed (%.1f%%, over --halt-at %d%%); top "
		  "reason: %s",
		  w + 1, label, (unsigned long long)bad, (unsigned long long)size,
		  100.0 * (double)bad / (double)size, r->halt_at, top_reason(r));
	snprintf(r->halt_why, sizeof(r->halt_why), "%s", r->why);
	if (r->auto_rollback)
		set_state(r, RO_ROLLING_BACK,
			  "halted in wave %d: %llu of %llu failed; the clients that took %s go back to "
			  "the release they ran (--auto-rollback)",
			  w + 1, (unsigned long long)bad, (unsigned long long)size, r->release);
	return true;
}

/* Gates and halts of one running rollout. */
static void evaluate(struct rollout *r, int64_t now)
{
	for (int guard = 0; guard < RO_WAVES_MAX + 2 && r->state == RO_RUNNING; guard++) {
		int w = r->wave;
		uint64_t size = r->size[w], ok = r->counts[w][M_SUCCEEDED];

		if (halt_if_needed(r))
			return;
		if (size && ok * 100 < (uint64_t)r->gate * size) {
			r->gate_reached = 0;
			return;
		}
		if (!r->gate_reached) {
			r->gate_reached = now;
			r->doc_dirty = true;
		}
		if (now - r->gate_reached < r->soak)
			return;
		advance(r, now, "gate");
	}
}

static void rollback_done(struct rollout *r)
{
	uint64_t left = 0;

	for (int w = 0; w < n_total_waves(r); w++)
		left += r->counts[w][M_SUCCEEDED] + r->counts[w][M_BACK_OFFERED];
	if (!left)
		set_state(r, RO_ROLLED_BACK, "every client that took %s runs its old release again",
			  r->release);
}

struct ro_flush {
	char name[STORE_ROLLOUT_NAME_MAX + 1];
	char *doc;
	struct store_rollout_member *m;
	size_t n;
};

/* Once a second from the main loop: scheduled starts, gates and halts
 * (advance: the site server alone), then what changed goes to the
 * database (outside the lock). A management point writes only its
 * members' news (offers, outcomes): the document is the site server's,
 * and announced to it (site_rollouts_refresh). */
void site_rollouts_tick(struct site *s, bool advance)
{
	struct ros *t = ros_of(s);
	struct ro_flush fl[RO_MAX];
	struct facts *f;
	struct coll_engine *e;
	size_t nf = 0;
	uint32_t gen = 0;
	int64_t now = time_now_s();

	if (!t)
		return;
	site_colls_lock(s, &f, &e);
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n && advance; i++) {
		struct rollout *r = t->r[i];

		if (r->state == RO_SCHEDULED && now >= r->start_at) {
			if (!coll_exists(e, r->collection)) {
				set_state(r, RO_HALTED, "collection %s no longer exists", r->collection);
			} else if (!r->assigned && ro_assign(t, i, f, e)) {
				set_state(r, RO_HALTED, "out of memory assigning clients to waves");
			} else {
				r->started = now;
				r->wave_started = now;
				set_state(r, RO_RUNNING, "started at its --start time");
			}
		}
		if (r->state == RO_RUNNING)
			evaluate(r, now);
		if (r->state == RO_ROLLING_BACK)
			rollback_done(r);
	}
	update_any_active(t);
	for (size_t i = 0; i < t->n; i++) {
		struct rollout *r = t->r[i];
		size_t nd = 0, k = 0;

		nd = r->ndirty;
		if (!advance)
			r->doc_dirty = false; /* counts of outcomes: the site server's to keep */
		if (!nd && !r->doc_dirty)
			continue;
		memset(&fl[nf], 0, sizeof(fl[nf]));
		snprintf(fl[nf].name, sizeof(fl[nf].name), "%s", r->name);
		fl[nf].doc = r->doc_dirty ? doc_of(r) : NULL;
		fl[nf].m = nd ? calloc(nd, sizeof(*fl[nf].m)) : NULL;
		if ((r->doc_dirty && !fl[nf].doc) || (nd && !fl[nf].m)) {
			free(fl[nf].doc);
			free(fl[nf].m);
			continue; /* the next tick tries again */
		}
		r->doc_dirty = false;
		for (size_t j = 0; j < r->n && k < nd; j++) {
			struct ro_member *m = &r->m[j];
			struct store_rollout_member *sm = &fl[nf].m[k];

			if (!m->dirty)
				continue;
			if (!gen)
				gen = ++t->flush_taken;
			m->dirty = false;
			m->flushed = gen;
			r->ndirty--;
			snprintf(sm->client, sizeof(sm->client), "%s", m->id);
			sm->wave = m->wave;
			sm->state = m->state;
			snprintf(sm->from, sizeof(sm->from), "%s", m->from);
			sm->started = m->started;
			sm->finished = m->finished;
			if (m->reason)
				snprintf(sm->reason, sizeof(sm->reason), "%s", r->reasons[m->reason - 1]);
			k++;
		}
		fl[nf++].n = k;
	}
	pthread_mutex_unlock(&t->mu);
	site_colls_unlock(s);
	for (size_t i = 0; i < nf; i++) {
		int rc = 0;

		if (fl[i].doc)
			rc = s->store->ops->rollout_put(s->store, fl[i].name, fl[i].doc);
		if (!rc && fl[i].n)
			rc = s->store->ops->rollout_members_put(s->store, fl[i].name, fl[i].m, fl[i].n);
		if (rc) {
			/* written again in full at the next tick: nothing is lost
			 * while the process lives */
			log_warn("rollouts", "flush_failed", "rollout=%s error=%s", fl[i].name,
				 steward_strerror(rc));
			pthread_mutex_lock(&t->mu);
			for (size_t j = 0; j < t->n; j++)
				if (strcmp(t->r[j]->name, fl[i].name) == 0) {
					t->r[j]->doc_dirty = true;
					for (size_t k = 0; k < t->r[j]->n; k++)
						mark_dirty(t->r[j], &t->r[j]->m[k]);
				}
			pthread_mutex_unlock(&t->mu);
		}
		free(fl[i].doc);
		free(fl[i].m);
	}
	if (gen) {
		pthread_mutex_lock(&t->mu);
		t->flush_done = gen;
		pthread_mutex_unlock(&t->mu);
	}
}

static enum http_result show_named(struct http_req *req, struct site *s, const char *name,
				   int status);

/* ---- the administrator's API ----------------------------------------------------------------- */

bool site_rollout_name_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;

	return len >= 1 && len <= STORE_ROLLOUT_NAME_MAX &&
	       strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* "1%,10%,50%,100%" into cumulative basis points; msg names what is wrong. */
static int waves_parse(const char *text, int *bp, int *n, char *msg, size_t msgsz)
{
	const char *p = text;

	*n = 0;
	if (!text || !*text || strlen(text) > 128) {
		snprintf(msg, msgsz, "give waves as increasing percentages ending at 100%%, e.g. "
				     "1%%,10%%,50%%,100%%");
		return -1;
	}
	while (*p) {
		const char *q = p;
		int b = 0, dec = -1;

		if (*n == RO_WAVES_MAX) {
			snprintf(msg, msgsz, "at most %d waves", RO_WAVES_MAX);
			return -1;
		}
		/* digits, at most two decimals, then an optional % */
		for (; (*q >= '0' && *q <= '9') || (*q == '.' && dec < 0); q++) {
			if (*q == '.') {
				dec = 0;
				continue;
			}
			if (dec >= 2 || b > 100000) {
				dec = 9;
				break;
			}
			b = b * 10 + (*q - '0');
			if (dec >= 0)
				dec++;
		}
		for (int k = dec < 0 ? 0 : dec; k < 2; k++)
			b *= 10;
		if (q == p || dec == 9 || b < 1 || b > 10000 || (*q && *q != '%' && *q != ',')) {
			snprintf(msg, msgsz,
				 "'%.20s' is not a percentage above 0 and at most 100 (two decimals at most)",
				 p);
			return -1;
		}
		if (*q == '%')
			q++;
		if (*n && b <= bp[*n - 1]) {
			snprintf(msg, msgsz, "waves must increase: %d.%02d%% after %d.%02d%%", b / 100,
				 b % 100, bp[*n - 1] / 100, bp[*n - 1] % 100);
			return -1;
		}
		bp[(*n)++] = b;
		if (*q == ',')
			q++;
		else if (*q) {
			snprintf(msg, msgsz, "'%.20s' is not a percentage", p);
			return -1;
		}
		p = q;
	}
	if (!*n || bp[*n - 1] != 10000) {
		snprintf(msg, msgsz, "the last wave must be 100%% (every client), not %d.%02d%%",
			 *n ? bp[*n - 1] / 100 : 0, *n ? bp[*n - 1] % 100 : 0);
		return -1;
	}
	return 0;
}

/* The rollout named by the path, or NULL after a 404; caller holds t->mu. */
static struct rollout *path_rollout(struct http_req *req, struct ros *t, size_t *ri)
{
	const char *name = http_req_param(req, 0);

	for (size_t i = 0; name && i < t->n; i++)
		if (strcmp(t->r[i]->name, name) == 0) {
			if (ri)
				*ri = i;
			return t->r[i];
		}
	reply_error(req, 404, "rollout_not_found", "stewardctl rollouts list shows the rollouts",
		    "no rollout '%.64s'", name ? name : "");
	return NULL;
}

static bool opt_coll(struct http_req *req, struct coll_engine *e, json_t *body, const char *field,
		     char *out, size_t outsz, bool required)
{
	json_t *j = json_object_get(body, field);
	const char *v = json_string_value(j);

	out[0] = '\0';
	if (!j || json_is_null(j)) {
		if (!required)
			return true;
		reply_error(req, 400, "bad_request", "name the collection to roll out to",
			    "field '%s' is required", field);
		return false;
	}
	if (!v || !*v || strlen(v) >= outsz) {
		reply_error(req, 400, "bad_request", "give a collection name",
			    "field '%s' must be a collection name", field);
		return false;
	}
	if (!coll_exists(e, v)) {
		reply_error(req, 404, "collection_not_found",
			    "stewardctl collections list shows the collections",
			    "field '%s': no collection '%.64s'", field, v);
		return false;
	}
	snprintf(out, outsz, "%s", coll_name(e, v));
	return true;
}

static bool int_in(struct http_req *req, json_t *body, const char *field, int64_t lo, int64_t hi,
		   int64_t dflt, int64_t *out, const char *what)
{
	json_t *j = json_object_get(body, field);

	*out = dflt;
	if (!j)
		return true;
	if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) {
		reply_error(req, 400, "bad_request", what, "field '%s' must be a whole number from %lld "
							    "to %lld",
			    field, (long long)lo, (long long)hi);
		return false;
	}
	*out = json_integer_value(j);
	return true;
}

enum http_result site_h_rollouts_create(struct http_req *req, void *app)
{
	struct site *s = app;
	struct ros *t = ros_of(s);
	json_t *body = admin_body(req), *j;
	struct rollout *r = NULL;
	struct facts *f;
	struct coll_engine *e;
	const struct ro_rel *rel;
	char msg[200];
	const char *v;
	int64_t gate, halt, soak, start;
	bool locked = false;

	if (!body)
		return HTTP_DONE;
	r = calloc(1, sizeof(*r));
	if (!r) {
		reply_error(req, 500, "internal", "", "out of memory");
		goto out;
	}
	v = json_string_value(json_object_get(body, "name"));
	if (!site_rollout_name_ok(v)) {
		reply_error(req, 400, "bad_request", "letters, digits, '.', '_' and '-', 1 to 64",
			    "field 'name' must be a rollout name");
		goto out;
	}
	snprintf(r->name, sizeof(r->name), "%s", v);
	v = json_string_value(json_object_get(body, "release"));
	if (!v || strlen(v) >= sizeof(r->release)) {
		reply_error(req, 400, "bad_request", "name a release: stewardctl releases list",
			    "field 'release' must be a release version");
		goto out;
	}
	snprintf(r->release, sizeof(r->release), "%s", v);
	j = json_object_get(body, "waves");
	if (j && !json_is_string(j)) {
		reply_error(req, 400, "bad_request", "e.g. \"1%,10%,50%,100%\"",
			    "field 'waves' must be a string");
		goto out;
	}
	if (waves_parse(j ? json_string_value(j) : "100%", r->waves_bp, &r->n_waves, msg,
			sizeof(msg))) {
		reply_error(req, 400, "bad_waves", "e.g. --waves 1%,10%,50%,100%", "field 'waves': %s",
			    msg);
		goto out;
	}
	if (!int_in(req, body, "gate", 0, 100, 95, &gate, "a percentage: 0 to 100") ||
	    !int_in(req, body, "halt_at", 0, 100, 5, &halt, "a percentage: 0 to 100") ||
	    !int_in(req, body, "soak", 0, 30 * 86400, 3600, &soak, "seconds: 0 to 30 days") ||
	    !int_in(req, body, "start", 0, INT64_MAX / 2, 0, &start, "a time in Unix seconds"))
		goto out;
	r->gate = (int)gate;
	r->halt_at = (int)halt;
	r->soak = soak;
	r->start_at = start;
	j = json_object_get(body, "auto_rollback");
	if (j && !json_is_boolean(j)) {
		reply_error(req, 400, "bad_request", "true or false",
			    "field 'auto_rollback' must be a boolean");
		goto out;
	}
	r->auto_rollback = json_is_true(j);
	j = json_object_get(body, "late");
	v = j ? json_string_value(j) : "wait";
	if (!v || (strcmp(v, "wait") != 0 && strcmp(v, "run-at-next-checkin") != 0)) {
		reply_error(req, 400, "bad_request", "wait or run-at-next-checkin",
			    "field 'late' must be wait or run-at-next-checkin");
		goto out;
	}
	r->late_now = strcmp(v, "run-at-next-checkin") == 0;
	if (!site_link_policy_body(req, body, &r->links))
		goto out;
	site_colls_lock(s, &f, &e);
	locked = true;
	if (!opt_coll(req, e, body, "collection", r->collection, sizeof(r->collection), true) ||
	    !opt_coll(req, e, body, "pilot", r->pilot, sizeof(r->pilot), false) ||
	    !opt_coll(req, e, body, "exclude", r->exclude, sizeof(r->exclude), false))
		goto out;
	pthread_mutex_lock(&t->mu);
	t->rels_at_us = 0;
	rels_refresh(s, t);
	rel = rel_find(t, r->release);
	if (!rel || !rel->usable) {
		pthread_mutex_unlock(&t->mu);
		reply_error(req, 404, "release_not_found",
			    "stewardctl releases list shows the releases this site holds",
			    rel ? "field 'release': release %s is withdrawn, expired or has no agent"
				: "field 'release': no release %s on this site",
			    r->release);
		goto out;
	}
	snprintf(r->target, sizeof(r->target), "%s", rel->agent);
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->r[i]->name, r->name) == 0) {
			pthread_mutex_unlock(&t->mu);
			reply_error(req, 409, "rollout_exists",
				    "choose another name; stewardctl rollouts list shows the rollouts",
				    "a rollout named %s exists", r->name);
			goto out;
		}
	if (t->n == RO_MAX) {
		pthread_mutex_unlock(&t->mu);
		reply_error(req, 409, "too_many_rollouts", "this site keeps at most 64 rollouts",
			    "this site holds %d rollouts already", RO_MAX);
		goto out;
	}
	snprintf(r->created_by, sizeof(r->created_by), "%s", site_admin_who(req));
	r->created = time_now_s();
	r->state = RO_CREATED;
	snprintf(r->why, sizeof(r->why), "%s",
		 r->start_at ? "starts at its --start time once started" : "waits for rollouts start");
	{
		char *doc = doc_of(r);
		int rc = doc ? s->store->ops->rollout_put(s->store, r->name, doc) : -STEWARD_ENOMEM;

		free(doc);
		if (rc) {
			pthread_mutex_unlock(&t->mu);
			reply_store_error(req, rc);
			goto out;
		}
	}
	snprintf(msg, sizeof(msg), "%s", r->name);
	t->r[t->n++] = r;
	r = NULL;
	pthread_mutex_unlock(&t->mu);
	site_colls_unlock(s);
	locked = false;
	log_info("rollouts", "created", "rollout=%s by=%s", msg, site_admin_who(req));
	json_decref(body);
	return show_named(req, s, msg, 201);
out:
	if (locked)
		site_colls_unlock(s);
	free(r);
	json_decref(body);
	return HTTP_DONE;
}

/* ---- what an administrator sees ------------------------------------------------------------- */

static const char *wave_state(const struct rollout *r, int w)
{
	if (w < r->wave || r->state == RO_COMPLETED)
		return "passed";
	if (w > r->wave)
		return "waiting";
	if (r->state == RO_HALTED || r->state == RO_ROLLING_BACK || r->state == RO_ROLLED_BACK)
		return "halted";
	if (r->state == RO_CREATED || r->state == RO_SCHEDULED)
		return "waiting";
	if (r->state == RO_ABORTED)
		return "aborted";
	return r->gate_reached ? "soaking" : "running";
}

static json_t *rollout_json(const struct rollout *r, bool full)
{
	uint64_t tot[M_NSTATES] = {0};
	json_t *o, *waves = json_array(), *labels = json_array();
	char label[96];

	for (int w = 0; w < n_total_waves(r); w++) {
		json_t *wj;

		for (int k = 0; k < M_NSTATES; k++)
			tot[k] += r->counts[w][k];
		wave_label(r, w, label, sizeof(label));
		json_array_append_new(labels, json_string(label));
		wj = json_pack("{s:i,s:s,s:s,s:I}", "wave", w + 1, "label", label, "state",
			       wave_state(r, w), "clients", (json_int_t)r->size[w]);
		for (int k = 0; wj && k < M_NSTATES; k++)
			json_object_set_new(wj, m_state_names[k], json_integer(r->counts[w][k]));
		if (wj && w == r->wave && r->gate_reached)
			json_object_set_new(wj, "gate_reached", time_json(r->gate_reached));
		json_array_append_new(waves, wj);
	}
	o = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:s,s:s,s:i,s:i,s:o,s:i,s:i,s:I,s:b,s:s,s:I,s:I,s:I}",
		      "name", r->name, "release", r->release, "agent_version", r->target,
		      "collection", r->collection, "pilot", r->pilot[0] ? r->pilot : NULL, "exclude",
		      r->exclude[0] ? r->exclude : NULL, "state", ro_state_names[r->state], "why",
		      r->why, "wave", r->wave + 1, "waves_total", n_total_waves(r), "wave_labels",
		      labels, "gate", r->gate, "halt_at", r->halt_at, "soak", (json_int_t)r->soak,
		      "auto_rollback", r->auto_rollback, "late",
		      r->late_now ? "run-at-next-checkin" : "wait", "clients", (json_int_t)r->n,
		      "succeeded", (json_int_t)tot[M_SUCCEEDED], "failed", (json_int_t)tot[M_FAILED]);
	if (!o) {
		json_decref(waves);
		return NULL;
	}
	json_object_set_new(o, "created", time_json(r->created));
	json_object_set_new(o, "created_by", json_string(r->created_by));
	site_link_policy_json(o, &r->links);
	json_object_set_new(o, "deferred_for_link", json_integer((json_int_t)r->deferred_n));
	json_object_set_new(o, "halted_because", r->halt_why[0] ? json_string(r->halt_why) : json_null());
	json_object_set_new(o, "start", r->start_at ? time_json(r->start_at) : json_null());
	json_object_set_new(o, "started", r->started ? time_json(r->started) : json_null());
	json_object_set_new(o, "finished", r->finished ? time_json(r->finished) : json_null());
	if (!full) {
		json_decref(waves);
		return o;
	}
	json_object_set_new(o, "waves", waves);
	json_object_set_new(o, "wave_started", r->wave_started ? time_json(r->wave_started) : json_null());
	for (int k = 0; k < M_NSTATES; k++)
		json_object_set_new(o, m_state_names[k], json_integer((json_int_t)tot[k]));
	json_object_set_new(o, "skipped_in_other_rollout", json_integer((json_int_t)r->skipped_busy));
	{
		json_t *pairs = json_array();

		for (int i = 0; pairs && i < r->n_pairs; i++) {
			const struct ro_pair *p = &r->pairs[i];

			json_array_append_new(
			    pairs, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "from", p->from, "to",
					     p->to, "succeeded", (json_int_t)p->succeeded, "failed",
					     (json_int_t)p->failed, "rolled_back",
					     (json_int_t)p->rolled_back, "converge_mean_s",
					     (json_int_t)(p->conv_n ? p->conv_sum / (int64_t)p->conv_n : 0),
					     "converge_p50_s", (json_int_t)pair_pct(p, 50),
					     "converge_p90_s", (json_int_t)pair_pct(p, 90)));
		}
		json_object_set_new(o, "by_version", pairs ? pairs : json_array());
	}
	{
		json_t *reasons = json_array();
		bool used[RO_REASONS_MAX] = {false};

		for (int k = 0; reasons && k < 5; k++) {
			int best = -1;

			for (int i = 0; i < r->n_reasons; i++)
				if (!used[i] && r->reason_n[i] &&
				    (best < 0 || r->reason_n[i] > r->reason_n[best]))
					best = i;
			if (best < 0)
				break;
			used[best] = true;
			json_array_append_new(reasons, json_pack("{s:s,s:I}", "reason", r->reasons[best],
								 "clients",
								 (json_int_t)r->reason_n[best]));
		}
		json_object_set_new(o, "top_failure_reasons", reasons ? reasons : json_array());
	}
	return o;
}

static enum http_result show_named(struct http_req *req, struct site *s, const char *name,
				   int status)
{
	struct ros *t = ros_of(s);
	json_t *o = NULL;

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->r[i]->name, name) == 0)
			o = rollout_json(t->r[i], true);
	pthread_mutex_unlock(&t->mu);
	if (!o) {
		reply_error(req, 404, "rollout_not_found", "stewardctl rollouts list shows the rollouts",
			    "no rollout '%.64s'", name);
		return HTTP_DONE;
	}
	reply_json_obj(req, status, o);
	return HTTP_DONE;
}

enum http_result site_h_rollouts_show(struct http_req *req, void *app)
{
	const char *name = http_req_param(req, 0);

	return show_named(req, app, name ? name : "", 200);
}

enum http_result site_h_rollouts_list(struct http_req *req, void *app)
{
	struct ros *t = ros_of(app);
	json_t *a = json_array();

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; a && i < t->n; i++)
		json_array_append_new(a, rollout_json(t->r[i], false));
	pthread_mutex_unlock(&t->mu);
	reply_json_obj(req, 200, json_pack("{s:o}", "rollouts", a ? a : json_array()));
	return HTTP_DONE;
}

enum ro_action { A_START, A_PAUSE, A_RESUME, A_PROMOTE, A_ABORT, A_ROLLBACK };
static const char *const action_names[] = {"start", "pause", "resume", "promote", "abort",
					   "rollback"};

static enum http_result act(struct http_req *req, struct site *s, enum ro_action a)
{
	struct ros *t = ros_of(s);
	json_t *body = admin_body(req);
	struct facts *f;
	struct coll_engine *e;
	struct rollout *r;
	char name[STORE_ROLLOUT_NAME_MAX + 1];
	const char *bad = NULL;
	int64_t now = time_now_s();
	size_t ri = 0;

	if (!body)
		return HTTP_DONE;
	json_decref(body);
	site_colls_lock(s, &f, &e);
	pthread_mutex_lock(&t->mu);
	r = path_rollout(req, t, &ri);
	if (!r)
		goto out;
	switch (a) {
	case A_START:
		if (r->state != RO_CREATED && r->state != RO_SCHEDULED) {
			bad = "only a created or scheduled rollout starts";
			break;
		}
		if (r->start_at > now) {
			set_state(r, RO_SCHEDULED, "starts by itself at its --start time");
			break;
		}
		if (!coll_exists(e, r->collection)) {
			bad = "its collection no longer exists";
			break;
		}
		if (!r->assigned && ro_assign(t, ri, f, e)) {
			bad = "the clients could not be assigned to waves (out of memory)";
			break;
		}
		r->started = now;
		r->wave_started = now;
		set_state(r, RO_RUNNING, "started by %s", site_admin_who(req));
		break;
	case A_PAUSE:
		if (r->state != RO_RUNNING && r->state != RO_SCHEDULED) {
			bad = "only a running or scheduled rollout pauses";
			break;
		}
		if (r->state == RO_SCHEDULED)
			set_state(r, RO_CREATED, "paused before its start by %s: rollouts start runs it",
				  site_admin_who(req));
		else
			set_state(r, RO_PAUSED, "paused by %s: no new client starts", site_admin_who(req));
		break;
	case A_RESUME:
		if (r->state != RO_PAUSED && r->state != RO_HALTED) {
			bad = "only a paused or halted rollout resumes";
			break;
		}
		/* resuming a halted rollout accepts its failures so far: the
		 * halt counts only what fails from now on */
		if (r->state == RO_HALTED)
			r->halt_at = 100;
		set_state(r, RO_RUNNING, "resumed by %s%s", site_admin_who(req),
			  r->halt_at == 100 ? " (halt-at lifted for the rest of the rollout)" : "");
		break;
	case A_PROMOTE:
		if (r->state != RO_RUNNING && r->state != RO_PAUSED) {
			bad = "only a running or paused rollout is promoted";
			break;
		}
		advance(r, now, "promoted");
		if (r->state == RO_PAUSED)
			set_state(r, RO_RUNNING, "promoted by %s", site_admin_who(req));
		break;
	case A_ABORT:
		if (!serving(r) && r->state != RO_CREATED && r->state != RO_SCHEDULED) {
			bad = "the rollout has finished";
			break;
		}
		set_state(r, RO_ABORTED, "aborted by %s: clients keep what they run", site_admin_who(req));
		break;
	case A_ROLLBACK:
		if (!active(r) && r->state != RO_COMPLETED) {
			bad = "only a started rollout rolls back";
			break;
		}
		if (r->state == RO_ROLLING_BACK) {
			bad = "it rolls back already";
			break;
		}
		set_state(r, RO_ROLLING_BACK, "rollback by %s: the clients that took %s go back",
			  site_admin_who(req), r->release);
		break;
	}
	update_any_active(t);
	if (bad) {
		reply_error(req, 409, "rollout_state", "stewardctl rollouts status shows where it stands",
			    "cannot %s rollout %s: %s (it is %s)", action_names[a], r->name, bad,
			    ro_state_names[r->state]);
		r = NULL;
	} else {
		snprintf(name, sizeof(name), "%s", r->name);
	}
out:
	pthread_mutex_unlock(&t->mu);
	site_colls_unlock(s);
	if (!r)
		return HTTP_DONE;
	site_rollouts_tick(s, true); /* written before the reply */
	return show_named(req, s, name, 200);
}

enum http_result site_h_rollouts_start(struct http_req *req, void *app)
{
	return act(req, app, A_START);
}

enum http_result site_h_rollouts_pause(struct http_req *req, void *app)
{
	return act(req, app, A_PAUSE);
}

enum http_result site_h_rollouts_resume(struct http_req *req, void *app)
{
	return act(req, app, A_RESUME);
}

enum http_result site_h_rollouts_promote(struct http_req *req, void *app)
{
	return act(req, app, A_PROMOTE);
}

enum http_result site_h_rollouts_abort(struct http_req *req, void *app)
{
	return act(req, app, A_ABORT);
}

enum http_result site_h_rollouts_rollback(struct http_req *req, void *app)
{
	return act(req, app, A_ROLLBACK);
}

/* Point the table at the rollouts as they are now (after a delete moved
 * them): finished ones first, so the serving ones own their clients. */
static int tab_rebuild(struct ros *t)
{
	free(t->tab);
	t->tab = NULL;
	t->tab_cap = t->tab_n = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t ri = 0; ri < t->n; ri++) {
			if (serving(t->r[ri]) != (pass == 1))
				continue;
			for (size_t mi = 0; mi < t->r[ri]->n; mi++)
				if (tab_set(t, ri, mi))
					return -STEWARD_ENOMEM;
		}
	return 0;
}

/* DELETE /api/v1/rollouts/{name}: a rollout that serves no client any
 * more (created, aborted or rolled back), with its members. */
enum http_result site_h_rollouts_delete(struct http_req *req, void *app)
{
	struct site *s = app;
	struct ros *t = ros_of(s);
	struct rollout *r;
	size_t ri = 0;
	int rc;

	pthread_mutex_lock(&t->mu);
	r = path_rollout(req, t, &ri);
	if (r && (serving(r) || r->state == RO_SCHEDULED)) {
		reply_error(req, 409, "rollout_state",
			    "abort it first: stewardctl rollouts abort NAME",
			    "cannot delete rollout %s: it still serves its clients (it is %s)", r->name,
			    ro_state_names[r->state]);
		r = NULL;
	} else if (r) {
		rc = s->store->ops->rollout_delete(s->store, r->name);
		if (rc && rc != -STEWARD_ENOTFOUND) {
			reply_store_error(req, rc);
			r = NULL;
		}
	}
	if (r) {
		char name[STORE_ROLLOUT_NAME_MAX + 1];

		snprintf(name, sizeof(name), "%s", r->name);
		ro_free(r);
		memmove(&t->r[ri], &t->r[ri + 1], (t->n - ri - 1) * sizeof(t->r[0]));
		t->n--;
		if (tab_rebuild(t))
			log_warn("rollouts", "table_rebuild_failed", "error=out of memory");
		update_any_active(t);
		log_info("rollouts", "deleted", "rollout=%s by=%s", name, site_admin_who(req));
		reply_json_obj(req, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
	}
	pthread_mutex_unlock(&t->mu);
	return HTTP_DONE;
}

/* ---- /metrics -------------------------------------------------------------------------------- */

int site_rollouts_metrics(struct site *s, struct buf *out)
{
	struct ros *t = ros_of(s);
	int rc = 0;

	if (!t)
		return 0;
	pthread_mutex_lock(&t->mu);
	rc |= buf_printf(out, "# HELP steward_rollout_clients Clients of a rollout by where they stand.\n"
			      "# TYPE steward_rollout_clients gauge\n");
	for (size_t i = 0; i < t->n; i++) {
		const struct rollout *r = t->r[i];

		for (int k = 0; k < M_NSTATES; k++) {
			uint64_t n = 0;

			for (int w = 0; w < n_total_waves(r); w++)
				n += r->counts[w][k];
			rc |= buf_printf(out, "steward_rollout_clients{rollout=\"%s\",state=\"%s\"} %llu\n",
					 r->name, m_state_names[k], (unsigned long long)n);
		}
	}
	rc |= buf_printf(out, "# HELP steward_rollout_state 1 for the state a rollout is in.\n"
			      "# TYPE steward_rollout_state gauge\n");
	for (size_t i = 0; i < t->n; i++)
		rc |= buf_printf(out, "steward_rollout_state{rollout=\"%s\",state=\"%s\",wave=\"%d\"} 1\n",
				 t->r[i]->name, ro_state_names[t->r[i]->state], t->r[i]->wave + 1);
	rc |= buf_printf(out, "# HELP steward_rollout_upgrades_total Upgrades by version pair and "
			      "outcome.\n# TYPE steward_rollout_upgrades_total counter\n");
	for (size_t i = 0; i < t->n; i++)
		for (int k = 0; k < t->r[i]->n_pairs; k++) {
			const struct ro_pair *p = &t->r[i]->pairs[k];
			static const char *const oc[] = {"succeeded", "failed", "rolled_back"};
			uint64_t v[] = {p->succeeded, p->failed, p->rolled_back};

			for (int j = 0; j < 3; j++)
				rc |= buf_printf(out,
						 "steward_rollout_upgrades_total{rollout=\"%s\",from=\"%s\","
						 "to=\"%s\",outcome=\"%s\"} %llu\n",
						 t->r[i]->name, p->from, p->to, oc[j],
						 (unsigned long long)v[j]);
		}
	rc |= buf_printf(out, "# HELP steward_rollout_converge_seconds Time from the offer to the "
			      "switch, by version pair (bucket edge).\n"
			      "# TYPE steward_rollout_converge_seconds gauge\n");
	for (size_t i = 0; i < t->n; i++)
		for (int k = 0; k < t->r[i]->n_pairs; k++) {
			const struct ro_pair *p = &t->r[i]->pairs[k];

			rc |= buf_printf(out,
					 "steward_rollout_converge_seconds{rollout=\"%s\",from=\"%s\","
					 "to=\"%s\",quantile=\"0.5\"} %lld\n"
					 "steward_rollout_converge_seconds{rollout=\"%s\",from=\"%s\","
					 "to=\"%s\",quantile=\"0.9\"} %lld\n",
					 t->r[i]->name, p->from, p->to, (long long)pair_pct(p, 50),
					 t->r[i]->name, p->from, p->to, (long long)pair_pct(p, 90));
		}
	rc |= buf_printf(out,
			 "# HELP steward_rollout_offers_total Upgrade offers made by rollouts.\n"
			 "# TYPE steward_rollout_offers_total counter\nsteward_rollout_offers_total %llu\n"
			 "# HELP steward_rollout_offers_capped_total Offers put off by the per-minute caps.\n"
			 "# TYPE steward_rollout_offers_capped_total counter\n"
			 "steward_rollout_offers_capped_total %llu\n"
			 "# HELP steward_rollout_offers_capped_by_total The same, by the cap that held "
			 "them.\n"
			 "# TYPE steward_rollout_offers_capped_by_total counter\n"
			 "steward_rollout_offers_capped_by_total{cap=\"site\"} %llu\n"
			 "steward_rollout_offers_capped_by_total{cap=\"distribution_point\"} %llu\n"
			 "# HELP steward_rollout_outside_window_total Offers put off to a maintenance window.\n"
			 "# TYPE steward_rollout_outside_window_total counter\n"
			 "steward_rollout_outside_window_total %llu\n",
			 (unsigned long long)t->offers,
			 (unsigned long long)(t->capped_site + t->capped_dp),
			 (unsigned long long)t->capped_site, (unsigned long long)t->capped_dp,
			 (unsigned long long)t->outside_window);
	rc |= buf_printf(out,
			 "# HELP steward_rollout_refreshes_total Rollouts read again from the database "
			 "(another stewardd wrote them, or the periodic re-read).\n"
			 "# TYPE steward_rollout_refreshes_total counter\n"
			 "steward_rollout_refreshes_total %llu\n"
			 "# HELP steward_rollout_members_read_total Members those reads returned (only "
			 "those written since the last read, but for the periodic re-read).\n"
			 "# TYPE steward_rollout_members_read_total counter\n"
			 "steward_rollout_members_read_total %llu\n",
			 (unsigned long long)t->refreshes, (unsigned long long)t->members_read);
	pthread_mutex_unlock(&t->mu);
	return rc;
}

/* GET /api/v1/rollouts/{name}/clients[?wave=N]: who is in which wave and
 * where each stands (at most ROLLOUT_CLIENTS_PAGE from ?after=ID on). */
#define ROLLOUT_CLIENTS_PAGE 100000
enum http_result site_h_rollouts_clients(struct http_req *req, void *app)
{
	struct ros *t = ros_of(app);
	struct rollout *r;
	json_t *a = json_array();
	int64_t wave = 0;

	if (http_req_query_i64(req, "wave", 1, RO_WAVES_MAX + 1, &wave)) {
		json_decref(a);
		reply_error(req, 400, "bad_request", "?wave=N, N from 1",
			    "query 'wave' must be a wave number");
		return HTTP_DONE;
	}
	pthread_mutex_lock(&t->mu);
	r = path_rollout(req, t, NULL);
	for (size_t i = 0; r && a && i < r->n && json_array_size(a) < ROLLOUT_CLIENTS_PAGE; i++) {
		const struct ro_member *m = &r->m[i];
		char held[RO_WHY_MAX] = "";

		if (wave && m->wave + 1 != wave)
			continue;
		if (m->deferred) {
			/* why: the client's link as it stands now */
			struct reg_client *c = registry_get(((struct site *)app)->reg, m->id);
			char link[96] = "its link";

			if (c)
				site_link_describe(c, link, sizeof(link));
			snprintf(held, sizeof(held), "%s: %s",
				 m->deferred == CORE_LINK_NEVER ? "not downloaded" : "deferred", link);
		}
		json_array_append_new(
		    a, json_pack("{s:s,s:i,s:s,s:s,s:s}", "id", m->id, "wave", m->wave + 1, "state",
				 m->deferred ? (m->deferred == CORE_LINK_NEVER ? "not_on_this_link"
									       : "deferred")
					     : m_state_names[m->state],
				 "from", m->from, "reason",
				 held[0] ? held : m->reason ? r->reasons[m->reason - 1] : ""));
	}
	pthread_mutex_unlock(&t->mu);
	if (!r) {
		json_decref(a);
		return HTTP_DONE;
	}
	reply_json_obj(req, 200, json_pack("{s:o}", "clients", a ? a : json_array()));
	return HTTP_DONE;
}

json_t *site_rollouts_stopped(struct site *s)
{
	struct ros *t = ros_of(s);
	json_t *a = json_array();

	if (!t || !a)
		return a;
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n; i++) {
		const struct rollout *r = t->r[i];

		if (r->state == RO_PAUSED || r->state == RO_HALTED)
			json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:i,s:s,s:s}", "name",
							   r->name, "state",
							   ro_state_names[r->state], "release",
							   r->release, "wave", r->wave + 1, "why",
							   r->why, "halt_why", r->halt_why));
	}
	pthread_mutex_unlock(&t->mu);
	return a;
}

json_t *site_rollouts_summary(struct site *s)
{
	struct ros *t = ros_of(s);
	json_t *a = json_array();

	if (!t || !a)
		return a;
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n; i++)
		if (serving(t->r[i]) || t->r[i]->state == RO_SCHEDULED)
			json_array_append_new(a, rollout_json(t->r[i], false));
	pthread_mutex_unlock(&t->mu);
	return a;
}

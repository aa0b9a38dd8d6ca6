/* registry: every client's authentication facts in memory.
 *
 * A check-in must not read the database, so the facts it needs (key,
 * state, last sequence, minimum session epoch) live here, loaded at start
 * and updated alongside the database. Entries are never freed while the
 * registry lives (deleted clients become tombstones), so a pointer from
 * registry_get() stays valid without reference counting.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "site.h"

struct registry {
	pthread_rwlock_t lock;
	struct reg_client **buckets;
	size_t mask;
	size_t count;
};

static size_t bucket_of(const struct registry *r, const uint8_t id[PROTO_CLIENT_ID_BYTES])
{
	uint64_t h;

	/* ids are random: their first bytes are already a good hash */
	memcpy(&h, id, sizeof(h));
	return (size_t)h & r->mask;
}

int registry_new(size_t expected, struct registry **out)
{
	struct registry *r = calloc(1, sizeof(*r));
	size_t n = 1024;

	*out = NULL;
	if (!r)
		return -STEWARD_ENOMEM;
	while (n < expected * 2 && n < ((size_t)1 << 30))
		n <<= 1;
	r->buckets = calloc(n, sizeof(*r->buckets));
	if (!r->buckets) {
		free(r);
		return -STEWARD_ENOMEM;
	}
	r->mask = n - 1;
	pthread_rwlock_init(&r->lock, NULL);
	*out = r;
	return 0;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i <= r->mask; i++) {
		struct reg_client *c = r->buckets[i], *next;
		for (; c; c = next) {
			next = c->next;
			pthread_mutex_destroy(&c->mu);
			free(c->block_reason);
			free(c);
		}
	}
	pthread_rwlock_destroy(&r->lock);
	free(r->buckets);
	free(r);
}

static struct reg_client *find_locked(struct registry *r, const uint8_t id[PROTO_CLIENT_ID_BYTES])
{
	struct reg_client *c = r->buckets[bucket_of(r, id)];

	while (c && memcmp(c->id, id, PROTO_CLIENT_ID_BYTES) != 0)
		c = c->next;
	return c;
}

/* Double the buckets when chains would grow past two entries on average,
 * so a lookup stays O(1) however many clients enroll. Write lock held. */
static void grow_locked(struct registry *r)
{
	size_t n = (r->mask + 1) * 2;
	struct reg_client **nb;

	if (r->count < (r->mask + 1) * 2 || n > ((size_t)1 << 30))
		return;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return; /* keep working with longer chains */
	for (size_t i = 0; i <= r->mask; i++) {
		struct reg_client *c = r->buckets[i], *next;
		for (; c; c = next) {
			uint64_t h;
			next = c->next;
			memcpy(&h, c->id, sizeof(h));
			c->next = nb[(size_t)h & (n - 1)];
			nb[(size_t)h & (n - 1)] = c;
		}
	}
	free(r->buckets);
	r->buckets = nb;
	r->mask = n - 1;
}

int registry_put(struct registry *r, const struct store_client *sc)
{
	return registry_update(r, sc, NULL);
}

int registry_update(struct registry *r, const struct store_client *sc, bool *changed)
{
	uint8_t id[PROTO_CLIENT_ID_BYTES];
	struct reg_client *c;
	bool fresh = false;

	if (hex_decode(sc->id, id, sizeof(id)))
		return -STEWARD_EINVAL;
	pthread_rwlock_wrlock(&r->lock);
	c = find_locked(r, id);
	if (!c) {
		size_t b;
		c = calloc(1, sizeof(*c));
		if (!c) {
			pthread_rwlock_unlock(&r->lock);
			return -STEWARD_ENOMEM;
		}
		memcpy(c->id, id, sizeof(id));
		memcpy(c->idhex, sc->id, sizeof(c->idhex));
		pthread_mutex_init(&c->mu, NULL);
		b = bucket_of(r, id);
		c->next = r->buckets[b];
		r->buckets[b] = c;
		r->count++;
		grow_locked(r);
		fresh = true;
	}
	pthread_mutex_lock(&c->mu);
	if (changed)
		*changed = fresh || c->state != sc->state || sc->min_epoch > c->min_epoch;
	c->rid = sc->rid;
	c->details_hash = registry_details_hash(sc->agent_version, sc->protocol, sc->components);
	memcpy(c->pk, sc->public_key, sizeof(c->pk));
	memcpy(c->site, sc->site, sizeof(c->site));
	c->state = sc->state;
	if (sc->last_seq > c->last_seq)
		c->last_seq = sc->last_seq;
	if (sc->min_epoch > c->min_epoch)
		c->min_epoch = sc->min_epoch;
	free(c->block_reason);
	c->block_reason = sc->block_reason[0] ? strdup(sc->block_reason) : NULL;
	if (sc->link[0] && !c->link.written)
		site_link_restore(&c->link, sc->link);
	pthread_mutex_unlock(&c->mu);
	pthread_rwlock_unlock(&r->lock);
	return 0;
}

struct reg_client *registry_get(struct registry *r, const char *idhex)
{
	uint8_t id[PROTO_CLIENT_ID_BYTES];
	struct reg_client *c;

	if (!proto_client_id_valid(idhex) || hex_decode(idhex, id, sizeof(id)))
		return NULL;
	pthread_rwlock_rdlock(&r->lock);
	c = find_locked(r, id);
	pthread_rwlock_unlock(&r->lock);
	return c;
}

void registry_set_state(struct registry *r, struct reg_client *c, enum store_client_state st,
			const char *reason, uint64_t min_epoch)
{
	(void)r;
	pthread_mutex_lock(&c->mu);
	c->state = st;
	free(c->block_reason);
	c->block_reason = reason && *reason ? strdup(reason) : NULL;
	if (min_epoch > c->min_epoch)
		c->min_epoch = min_epoch;
	pthread_mutex_unlock(&c->mu);
}

void registry_counts(struct registry *r, int64_t counts[4])
{
	memset(counts, 0, 4 * sizeof(int64_t));
	pthread_rwlock_rdlock(&r->lock);
	for (size_t i = 0; i <= r->mask; i++)
		for (struct reg_client *c = r->buckets[i]; c; c = c->next)
			if ((unsigned)c->state < 4)
				counts[c->state]++;
	pthread_rwlock_unlock(&r->lock);
}

uint64_t registry_details_hash(const char *agent_version, const char *protocol,
			       const char *components)
{
	const char *parts[3] = {agent_version, protocol, components};
	crypto_generichash_state st;
	uint8_t h[PROTO_HASH_BYTES];
	uint64_t v;

	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	for (int i = 0; i < 3; i++) /* the NUL separates the parts */
		crypto_generichash_update(&st, (const uint8_t *)parts[i], strlen(parts[i]) + 1);
	crypto_generichash_final(&st, h, sizeof(h));
	memcpy(&v, h, sizeof(v));
	return v;
}

/* ---- the sequence number, durable before the reply ----------------------------------- */

struct seq_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int rc;
};

/* Runs on the writer thread after COMMIT (or after the batch failed). */
static void seq_done(void *ctx, int rc)
{
	struct seq_wait *sw = ctx;

	pthread_mutex_lock(&sw->mu);
	sw->rc = rc;
	sw->done = true;
	pthread_cond_signal(&sw->cv);
	pthread_mutex_unlock(&sw->mu);
}

int registry_seq_persist(struct store_writer *w, const struct reg_client *c, uint64_t seq)
{
	struct store_checkin rec;
	struct seq_wait sw = {.done = false, .rc = 0};
	int rc;

	memset(&rec, 0, sizeof(rec));
	rec.rid = c->rid;
	memcpy(rec.id, c->idhex, sizeof(rec.id));
	rec.time = time_now_s();
	rec.seq = seq;
	rec.seq_only = true;
	pthread_mutex_init(&sw.mu, NULL);
	pthread_cond_init(&sw.cv, NULL);
	rc = store_writer_submit(w, &rec, seq_done, &sw);
	if (!rc) {
		pthread_mutex_lock(&sw.mu);
		while (!sw.done)
			pthread_cond_wait(&sw.cv, &sw.mu);
		rc = sw.rc;
		pthread_mutex_unlock(&sw.mu);
	}
	pthread_cond_destroy(&sw.cv);
	pthread_mutex_destroy(&sw.mu);
	return rc;
}

bool site_seq_claim(struct site *s, struct http_req *req)
{
	const struct principal *p = http_req_ctx(req);
	int rc;

	if (!p || p->kind != PRINCIPAL_AGENT || !p->client) {
		reply_error(req, 500, "internal", "report this with the site's log",
			    "no authenticated agent request to claim a sequence number for");
		return false;
	}
	rc = registry_seq_persist(s->writer, p->client, p->seq);
	if (rc == -STEWARD_EBUSY || rc == -STEWARD_ECLOSED) {
		http_reply_header(req, "Retry-After", "10");
		reply_error(req, 503, rc == -STEWARD_EBUSY ? "overloaded" : "shutting_down",
			    "retry after the time in Retry-After",
			    rc == -STEWARD_EBUSY ? "too many requests are waiting for the database"
						 : "the site is shutting down");
		return false;
	}
	if (rc == -STEWARD_EAUTH) {
		site_reply_stale_seq(req, p->client);
		return false;
	}
	if (rc) {
		reply_store_error(req, rc);
		return false;
	}
	return true;
}

void site_reply_stale_seq(struct http_req *req, const struct reg_client *c)
{
	reply_error(req, 401, "replayed_sequence",
		    "send a sequence number above the last accepted one (agents use the time in ms)",
		    "the sequence number of this request of client %s was accepted already, by "
		    "another management point of the site: replay refused",
		    c->idhex);
}

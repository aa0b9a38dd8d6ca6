/* consolesession: the web console's sessions (consolesession.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "steward/util.h"
#include "consolesession.h"

/* A fixed array of slots, found through buckets keyed by the id's hash
 * (uniform: it is a hash of random bytes), each a chain of slot numbers,
 * so a lookup reads one short chain, not the whole table. */
struct slot {
	bool used;
	int32_t next;			/* the next slot of its bucket; -1: none */
	uint8_t hash[CSESS_HASH_BYTES]; /* of the cookie's value */
	struct csess s;
};

struct csess_table {
	pthread_mutex_t mu;
	size_t max;
	struct slot *v;
	int32_t *bucket; /* max of them; -1: empty */
};

static size_t bucket_of(const struct csess_table *t, const uint8_t hash[CSESS_HASH_BYTES])
{
	uint32_t k;

	memcpy(&k, hash, sizeof(k));
	return k % t->max;
}

static void unlink_slot(struct csess_table *t, int32_t i)
{
	int32_t *p = &t->bucket[bucket_of(t, t->v[i].hash)];

	while (*p >= 0 && *p != i)
		p = &t->v[*p].next;
	if (*p == i)
		*p = t->v[i].next;
}

int csess_table_new(size_t max, struct csess_table **out)
{
	struct csess_table *t;

	if (sodium_init() < 0)
		return -STEWARD_EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -STEWARD_ENOMEM;
	t->max = max ? max : CSESS_DEFAULT_MAX;
	if (t->max > INT32_MAX) {
		free(t);
		return -STEWARD_EINVAL;
	}
	t->v = calloc(t->max, sizeof(*t->v));
	t->bucket = malloc(t->max * sizeof(*t->bucket));
	if (!t->v || !t->bucket) {
		free(t->v);
		free(t->bucket);
		free(t);
		return -STEWARD_ENOMEM;
	}
	for (size_t i = 0; i < t->max; i++)
		t->bucket[i] = -1;
	pthread_mutex_init(&t->mu, NULL);
	*out = t;
	return 0;
}

void csess_table_free(struct csess_table *t)
{
	if (!t)
		return;
	sodium_memzero(t->v, t->max * sizeof(*t->v));
	free(t->v);
	free(t->bucket);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

size_t csess_count(struct csess_table *t)
{
	size_t n = 0;

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->max; i++)
		n += t->v[i].used;
	pthread_mutex_unlock(&t->mu);
	return n;
}

static void random_text(char out[CSESS_TEXT_LEN + 1])
{
	uint8_t raw[CSESS_RANDOM_BYTES];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, CSESS_TEXT_LEN + 1, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

/* The hash of a cookie value; false when it cannot be one of ours. */
static bool id_hash(const char *id, uint8_t out[CSESS_HASH_BYTES])
{
	if (!id || strlen(id) != CSESS_TEXT_LEN)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	crypto_generichash(out, CSESS_HASH_BYTES, (const uint8_t *)id, CSESS_TEXT_LEN, NULL, 0);
	return true;
}

static struct slot *find(struct csess_table *t, const uint8_t hash[CSESS_HASH_BYTES])
{
	for (int32_t i = t->bucket[bucket_of(t, hash)]; i >= 0; i = t->v[i].next)
		if (sodium_memcmp(t->v[i].hash, hash, CSESS_HASH_BYTES) == 0)
			return &t->v[i];
	return NULL;
}

int csess_create(struct csess_table *t, struct csess *s, int64_t now, char id[CSESS_TEXT_LEN + 1])
{
	struct slot *at = NULL;

	random_text(id);
	random_text(s->csrf);
	s->created = s->last_used = now;
	pthread_mutex_lock(&t->mu);
	/* a free slot, else the one used longest ago (expired ones first, as
	 * they have not been used since they expired) */
	for (size_t i = 0; i < t->max; i++) {
		if (!t->v[i].used) {
			at = &t->v[i];
			break;
		}
		if (!at || t->v[i].s.last_used < at->s.last_used)
			at = &t->v[i];
	}
	if (!at) { /* not with max >= 1; the compiler cannot know */
		pthread_mutex_unlock(&t->mu);
		return -STEWARD_EINVAL;
	}
	if (at->used)
		unlink_slot(t, (int32_t)(at - t->v));
	memset(at, 0, sizeof(*at));
	at->used = true;
	crypto_generichash(at->hash, CSESS_HASH_BYTES, (const uint8_t *)id, CSESS_TEXT_LEN, NULL,
			   0);
	at->s = *s;
	at->next = t->bucket[bucket_of(t, at->hash)];
	t->bucket[bucket_of(t, at->hash)] = (int32_t)(at - t->v);
	pthread_mutex_unlock(&t->mu);
	return 0;
}

enum csess_result csess_lookup(struct csess_table *t, const char *id, int64_t now, int64_t idle,
			       int64_t lifetime, struct csess *out)
{
	uint8_t hash[CSESS_HASH_BYTES];
	enum csess_result r = CSESS_UNKNOWN;
	struct slot *sl;

	if (!id_hash(id, hash))
		return CSESS_UNKNOWN;
	pthread_mutex_lock(&t->mu);
	sl = find(t, hash);
	if (sl) {
		if (now - sl->s.last_used > idle || now - sl->s.created > lifetime) {
			r = CSESS_EXPIRED;
		} else {
			sl->s.last_used = now;
			r = CSESS_OK;
		}
		*out = sl->s;
	}
	pthread_mutex_unlock(&t->mu);
	return r;
}

bool csess_forget(struct csess_table *t, const char *id)
{
	uint8_t hash[CSESS_HASH_BYTES];
	struct slot *sl;

	if (!id_hash(id, hash))
		return false;
	pthread_mutex_lock(&t->mu);
	sl = find(t, hash);
	if (sl) {
		unlink_slot(t, (int32_t)(sl - t->v));
		sodium_memzero(sl, sizeof(*sl));
	}
	pthread_mutex_unlock(&t->mu);
	return sl != NULL;
}

int csess_cookie_get(const char *header, const char *name, char *out, size_t outsz)
{
	size_t nlen = strlen(name);
	const char *p = header;

	/* cookie-string = pair *( ";" SP pair ), RFC 6265 4.2.1; be lenient
	 * about white space, strict about the name */
	while (p && *p) {
		const char *end;
		size_t vlen;

		p += strspn(p, " \t;");
		if (!*p)
			break;
		end = strchr(p, ';');
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			p += nlen + 1;
			vlen = end ? (size_t)(end - p) : strlen(p);
			while (vlen && (p[vlen - 1] == ' ' || p[vlen - 1] == '\t'))
				vlen--;
			if (vlen >= 2 && p[0] == '"' && p[vlen - 1] == '"') {
				p++;
				vlen -= 2;
			}
			if (vlen + 1 > outsz)
				return -STEWARD_EINVAL;
			memcpy(out, p, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p = end;
	}
	return -STEWARD_ENOTFOUND;
}

bool csess_csrf_equal(const char *sent, const char *want)
{
	size_t n = strlen(want);

	if (!sent || strlen(sent) != n || n == 0)
		return false;
	return sodium_memcmp(sent, want, n) == 0;
}

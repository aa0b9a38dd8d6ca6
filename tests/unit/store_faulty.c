/* store_faulty: fault injection through the store seam (see store_faulty.h). */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "store_faulty.h"

struct op_state {
	unsigned calls;     /* calls made so far */
	unsigned fail_at;   /* fail when calls reaches this (0: never) */
	int fail_rc;
	int always_rc;      /* nonzero: every call fails with it */
	unsigned failures;
	bool hold;
	unsigned held;      /* calls blocked right now */
};

struct faulty_store {
	struct store base;
	struct store *inner;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct op_state op[FAULTY_N_OPS];
};

#define FS(st) ((struct faulty_store *)(st))
#define IN(st) (FS(st)->inner)

/* Count the call, wait out a hold, and say whether it must fail. */
static int gate(struct store *st, enum faulty_op op)
{
	struct faulty_store *f = FS(st);
	struct op_state *o = &f->op[op];
	unsigned n;
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	n = ++o->calls;
	while (o->hold) {
		o->held++;
		pthread_cond_broadcast(&f->cv);
		pthread_cond_wait(&f->cv, &f->mu);
		o->held--;
	}
	if (o->always_rc)
		rc = o->always_rc;
	else if (o->fail_at && n == o->fail_at)
		rc = o->fail_rc;
	if (rc)
		o->failures++;
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static void fa_close(struct store *st)
{
	struct faulty_store *f = FS(st);

	if (!f)
		return;
	if (f->inner)
		f->inner->ops->close(f->inner);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static int fa_open(const char *path, struct store **out, struct steward_err *err)
{
	struct store *inner = NULL;
	int rc;

	*out = NULL;
	rc = store_sqlite_ops.open(path, &inner, err);
	if (rc)
		return rc;
	rc = store_faulty_wrap(inner, out);
	if (rc)
		inner->ops->close(inner);
	return rc;
}

static int fa_schema_version(struct store *st)
{
	return IN(st)->ops->schema_version(IN(st));
}

static int fa_enroll(struct store *st, const uint8_t *token_hash, int64_t now,
		     struct store_client *c, enum store_token_refusal *refusal,
		     char *token_site)
{
	int rc = gate(st, FAULTY_ENROLL);

	if (rc) {
		/* defined outputs even on failure, like the real backend */
		*refusal = TOKEN_OK;
		token_site[0] = '\0';
		return rc;
	}
	return IN(st)->ops->enroll(IN(st), token_hash, now, c, refusal, token_site);
}

static int fa_client_get(struct store *st, const char *id, struct store_client *out)
{
	int rc = gate(st, FAULTY_CLIENT_GET);

	return rc ? rc : IN(st)->ops->client_get(IN(st), id, out);
}

static int fa_client_get_by_key(struct store *st, const uint8_t pk[PROTO_PK_BYTES],
				struct store_client *out)
{
	int rc = gate(st, FAULTY_CLIENT_GET_BY_KEY);

	return rc ? rc : IN(st)->ops->client_get_by_key(IN(st), pk, out);
}

static int fa_client_list(struct store *st, bool include_deleted, store_client_cb cb, void *ctx)
{
	int rc = gate(st, FAULTY_CLIENT_LIST);

	return rc ? rc : IN(st)->ops->client_list(IN(st), include_deleted, cb, ctx);
}

static int fa_client_set_state(struct store *st, const char *id, enum store_client_state state,
			       const char *reason, uint64_t min_epoch)
{
	int rc = gate(st, FAULTY_CLIENT_SET_STATE);

	return rc ? rc : IN(st)->ops->client_set_state(IN(st), id, state, reason, min_epoch);
}

static int fa_client_count(struct store *st, int64_t counts[4])
{
	int rc = gate(st, FAULTY_CLIENT_COUNT);

	return rc ? rc : IN(st)->ops->client_count(IN(st), counts);
}

static int fa_token_insert(struct store *st, const struct store_token *t)
{
	int rc = gate(st, FAULTY_TOKEN_INSERT);

	return rc ? rc : IN(st)->ops->token_insert(IN(st), t);
}

static int fa_token_list(struct store *st, store_token_cb cb, void *ctx)
{
	int rc = gate(st, FAULTY_TOKEN_LIST);

	return rc ? rc : IN(st)->ops->token_list(IN(st), cb, ctx);
}

static int fa_token_revoke(struct store *st, const char *id)
{
	int rc = gate(st, FAULTY_TOKEN_REVOKE);

	return rc ? rc : IN(st)->ops->token_revoke(IN(st), id);
}

static int fa_admin_insert(struct store *st, const struct store_admin *a,
			   const uint8_t hash[PROTO_HASH_BYTES])
{
	int rc = gate(st, FAULTY_ADMIN_INSERT);

	return rc ? rc : IN(st)->ops->admin_insert(IN(st), a, hash);
}

static int fa_admin_find(struct store *st, const uint8_t hash[PROTO_HASH_BYTES],
			 struct store_admin *out)
{
	int rc = gate(st, FAULTY_ADMIN_FIND);

	return rc ? rc : IN(st)->ops->admin_find(IN(st), hash, out);
}

static int fa_admin_count(struct store *st, int64_t *n)
{
	int rc = gate(st, FAULTY_ADMIN_COUNT);

	return rc ? rc : IN(st)->ops->admin_count(IN(st), n);
}

static int fa_checkin_apply(struct store *st, struct store_checkin *batch, size_t n)
{
	int rc = gate(st, FAULTY_CHECKIN_APPLY);

	return rc ? rc : IN(st)->ops->checkin_apply(IN(st), batch, n);
}

static int fa_status_prune(struct store *st, int64_t before)
{
	int rc = gate(st, FAULTY_STATUS_PRUNE);

	return rc ? rc : IN(st)->ops->status_prune(IN(st), before);
}

static int fa_setting_get(struct store *st, const char *key, char *out, size_t outsz)
{
	int rc = gate(st, FAULTY_SETTING_GET);

	return rc ? rc : IN(st)->ops->setting_get(IN(st), key, out, outsz);
}

static int fa_setting_set(struct store *st, const char *key, const char *value)
{
	int rc = gate(st, FAULTY_SETTING_SET);

	return rc ? rc : IN(st)->ops->setting_set(IN(st), key, value);
}

const struct store_ops store_faulty_ops = {
    .name = "faulty",
    .open = fa_open,
    .close = fa_close,
    .schema_version = fa_schema_version,
    .enroll = fa_enroll,
    .client_get = fa_client_get,
    .client_get_by_key = fa_client_get_by_key,
    .client_list = fa_client_list,
    .client_set_state = fa_client_set_state,
    .client_count = fa_client_count,
    .token_insert = fa_token_insert,
    .token_list = fa_token_list,
    .token_revoke = fa_token_revoke,
    .admin_insert = fa_admin_insert,
    .admin_find = fa_admin_find,
    .admin_count = fa_admin_count,
    .checkin_apply = fa_checkin_apply,
    .status_prune = fa_status_prune,
    .setting_get = fa_setting_get,
    .setting_set = fa_setting_set,
};

int store_faulty_wrap(struct store *inner, struct store **out)
{
	struct faulty_store *f;

	*out = NULL;
	if (!inner)
		return -STEWARD_EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -STEWARD_ENOMEM;
	f->base.ops = &store_faulty_ops;
	f->inner = inner;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	*out = &f->base;
	return 0;
}

struct store *store_faulty_inner(struct store *st)
{
	return IN(st);
}

void store_faulty_fail_nth(struct store *st, enum faulty_op op, unsigned nth, int rc)
{
	struct faulty_store *f = FS(st);

	pthread_mutex_lock(&f->mu);
	f->op[op].fail_at = nth ? f->op[op].calls + nth : 0;
	f->op[op].fail_rc = rc ? rc : -STEWARD_ESTORE;
	pthread_mutex_unlock(&f->mu);
}

void store_faulty_fail_always(struct store *st, enum faulty_op op, int rc)
{
	struct faulty_store *f = FS(st);

	pthread_mutex_lock(&f->mu);
	f->op[op].always_rc = rc;
	pthread_mutex_unlock(&f->mu);
}

unsigned store_faulty_calls(struct store *st, enum faulty_op op)
{
	struct faulty_store *f = FS(st);
	unsigned n;

	pthread_mutex_lock(&f->mu);
	n = f->op[op].calls;
	pthread_mutex_unlock(&f->mu);
	return n;
}

unsigned store_faulty_failures(struct store *st, enum faulty_op op)
{
	struct faulty_store *f = FS(st);
	unsigned n;

	pthread_mutex_lock(&f->mu);
	n = f->op[op].failures;
	pthread_mutex_unlock(&f->mu);
	return n;
}

void store_faulty_hold(struct store *st, enum faulty_op op)
{
	struct faulty_store *f = FS(st);

	pthread_mutex_lock(&f->mu);
	f->op[op].hold = true;
	pthread_mutex_unlock(&f->mu);
}

void store_faulty_release(struct store *st, enum faulty_op op)
{
	struct faulty_store *f = FS(st);

	pthread_mutex_lock(&f->mu);
	f->op[op].hold = false;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

void store_faulty_wait_held(struct store *st, enum faulty_op op, unsigned n)
{
	struct faulty_store *f = FS(st);

	pthread_mutex_lock(&f->mu);
	while (f->op[op].held < n)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
}

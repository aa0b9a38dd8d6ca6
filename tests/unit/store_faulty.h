/* store_faulty: a fault-injecting store for tests.
 *
 * It plugs into the same seam as every backend (struct store_ops) and
 * forwards each call to the store it wraps, except that a test can make
 * the Nth call of an operation fail (with -STEWARD_ESTORE unless told
 * otherwise), make every call fail, or hold calls of an operation until
 * released (to line up a writer's batches deterministically).
 *
 *   struct store *inner, *st;
 *   store_sqlite_ops.open(path, &inner, &err);
 *   store_faulty_wrap(inner, &st);           // st owns inner now
 *   store_faulty_fail_nth(st, FAULTY_CHECKIN_APPLY, 2, -STEWARD_ESTORE);
 *   ... st->ops->close(st);                  // closes inner too
 *
 * A failed call does not reach the wrapped store, so it has no effect
 * there: this is a failure before the backend's transaction, the kind
 * that lets callers prove their own error paths. All functions are
 * thread-safe (the check-in writer calls from its own thread).
 */
#ifndef STEWARD_TEST_STORE_FAULTY_H
#define STEWARD_TEST_STORE_FAULTY_H

#include "steward/store.h"

enum faulty_op {
	FAULTY_ENROLL = 0,
	FAULTY_CLIENT_GET,
	FAULTY_CLIENT_GET_BY_KEY,
	FAULTY_CLIENT_LIST,
	FAULTY_CLIENT_SET_STATE,
	FAULTY_CLIENT_COUNT,
	FAULTY_TOKEN_INSERT,
	FAULTY_TOKEN_LIST,
	FAULTY_TOKEN_REVOKE,
	FAULTY_ADMIN_INSERT,
	FAULTY_ADMIN_FIND,
	FAULTY_ADMIN_COUNT,
	FAULTY_CHECKIN_APPLY,
	FAULTY_STATUS_PRUNE,
	FAULTY_SETTING_GET,
	FAULTY_SETTING_SET,
	FAULTY_N_OPS
};

/* The ops table of the wrapper. Its open() opens a SQLite store at path
 * and wraps it, so code that takes a store_ops can be handed this one. */
extern const struct store_ops store_faulty_ops;

/* Wrap an open store; the wrapper takes ownership of inner. */
int store_faulty_wrap(struct store *inner, struct store **out);
/* The wrapped store (still owned by the wrapper). */
struct store *store_faulty_inner(struct store *st);

/* Fail the nth call of op counted from now (1 = the next call); 0 turns
 * it off. rc is what the failing call returns (negative). */
void store_faulty_fail_nth(struct store *st, enum faulty_op op, unsigned nth, int rc);
/* Fail every call of op from now on (rc 0: stop failing). */
void store_faulty_fail_always(struct store *st, enum faulty_op op, int rc);
/* Calls of op made so far, and how many of them were failed on purpose. */
unsigned store_faulty_calls(struct store *st, enum faulty_op op);
unsigned store_faulty_failures(struct store *st, enum faulty_op op);

/* Hold: calls of op block (before deciding failure) until released. */
void store_faulty_hold(struct store *st, enum faulty_op op);
void store_faulty_release(struct store *st, enum faulty_op op);
/* Wait until at least n calls of op are blocked by a hold. */
void store_faulty_wait_held(struct store *st, enum faulty_op op, unsigned n);

#endif

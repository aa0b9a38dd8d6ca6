/* consolesession: the web console's sign-in sessions, in memory.
 *
 * A session is made when an administrator signs in with an admin token
 * (console.c); the browser holds its id in the steward_session cookie.
 * The table keeps only a hash of the id, so a copy of the table's memory
 * does not let anyone in. It is bounded: when it is full the session
 * used longest ago makes room. Sessions are lost when stewardd stops
 * (docs/internals/console-server.md). No I/O here: the time is passed in,
 * so that the unit tests can move it.
 */
#ifndef STEWARD_SERVER_CONSOLESESSION_H
#define STEWARD_SERVER_CONSOLESESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CSESS_RANDOM_BYTES 32
/* 32 bytes as unpadded base64url */
#define CSESS_TEXT_LEN	  43
#define CSESS_HASH_BYTES  32
#define CSESS_NAME_MAX	  64
#define CSESS_DEFAULT_MAX 4096
#define CSESS_COOKIE	  "steward_session"

/* What a session holds, as the caller sees it. */
struct csess {
	char admin[CSESS_NAME_MAX + 1];
	unsigned role;			      /* one TOKEN_ROLE_ bit */
	uint8_t token_hash[CSESS_HASH_BYTES]; /* the admin token's, re-checked per request */
	char csrf[CSESS_TEXT_LEN + 1];
	int64_t created, last_used;
};

enum csess_result {
	CSESS_OK = 0,
	CSESS_UNKNOWN, /* no such session (never made, signed out, evicted, revoked) */
	CSESS_EXPIRED, /* idle too long or past its lifetime */
};

struct csess_table;

/* A table of at most max sessions (0: CSESS_DEFAULT_MAX). */
int csess_table_new(size_t max, struct csess_table **out);
void csess_table_free(struct csess_table *t);
/* Sessions in the table, expired ones that still hold a slot included. */
size_t csess_count(struct csess_table *t);

/* A new session for s (admin, role, token_hash, now as created): fills
 * id with the cookie's value and s->csrf with its CSRF token. 0, or a
 * negative STEWARD_E code. */
int csess_create(struct csess_table *t, struct csess *s, int64_t now, char id[CSESS_TEXT_LEN + 1]);
/* The session whose cookie value is id, as of now: CSESS_OK (out filled,
 * its last use moved to now), CSESS_EXPIRED (out filled; it stays expired
 * until signed out or evicted, so every later call says so too) or
 * CSESS_UNKNOWN. idle and lifetime are in seconds. */
enum csess_result csess_lookup(struct csess_table *t, const char *id, int64_t now, int64_t idle,
			       int64_t lifetime, struct csess *out);
/* Forget the session of id (sign-out); false when there was none. */
bool csess_forget(struct csess_table *t, const char *id);

/* The value of cookie name in a Cookie header ("a=1; b=2"), copied into
 * out: 0, or -STEWARD_ENOTFOUND when absent, -STEWARD_EINVAL when it does
 * not fit in outsz. */
int csess_cookie_get(const char *header, const char *name, char *out, size_t outsz);
/* Constant-time comparison of a CSRF header with the session's token. */
bool csess_csrf_equal(const char *sent, const char *want);

#endif

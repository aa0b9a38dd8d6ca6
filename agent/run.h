/* agent/run: run one program supervised, and the per-advertisement lock.
 *
 * A program is `/bin/sh -c COMMAND` in a session and process group of its
 * own, with a clean environment, stdin from /dev/null and stdout and stderr
 * into one pipe of which only the last RUN_OUTPUT_MAX bytes are kept. At
 * the timeout the whole group gets SIGTERM, and SIGKILL after a grace
 * period. Nothing here waits without a timeout.
 */
#ifndef STEWARD_AGENT_RUN_H
#define STEWARD_AGENT_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steward/util.h"

#define RUN_OUTPUT_MAX	  4096	/* the tail of the output that is kept */
#define RUN_GRACE_MS	  10000 /* SIGTERM to SIGKILL */
#define RUN_REASON_MAX	  256
#define RUN_ENV_MAX	  64 /* program env entries */
#define RUN_PATH	  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RUN_LOCK_NAME_MAX 64

struct run_spec {
	const char *command;	     /* for /bin/sh -c */
	const char *workdir;	     /* must exist */
	const char *user;	     /* NULL or "": the agent's own user */
	const char *advert;	     /* STEWARD_ADVERT */
	const char *package;	     /* STEWARD_PACKAGE */
	const char *package_version; /* STEWARD_PACKAGE_VERSION */
	const char *const *env;	     /* the program's own "NAME=value", NULL-terminated */
	int64_t timeout_ms;	     /* > 0 */
	int64_t grace_ms;	     /* 0: RUN_GRACE_MS */
	/* Polled between reads: when it returns true the program is stopped
	 * as at a timeout (the agent is shutting down). May be NULL. */
	bool (*stop)(void *ctx);
	void *stop_ctx;
};

enum run_outcome {
	RUN_EXITED,	 /* code = exit status */
	RUN_SIGNALED,	 /* code = the signal */
	RUN_TIMED_OUT,	 /* killed at the timeout (or at stop) */
	RUN_NOT_STARTED, /* reason says why */
};

struct run_result {
	enum run_outcome outcome;
	int code;
	bool stopped; /* RUN_TIMED_OUT because stop() said so */
	int64_t duration_ms;
	char reason[RUN_REASON_MAX];
	char output[RUN_OUTPUT_MAX + 1]; /* the last bytes, NUL-terminated */
	size_t output_len;
	uint64_t output_total; /* bytes the program wrote in all */
};

/* Run spec; always fills r. Returns 0 when the program ran (whatever its
 * outcome) and -STEWARD_EINVAL / -STEWARD_EPERM / -STEWARD_EIO when it could
 * not start (r->outcome RUN_NOT_STARTED, r->reason). */
int run_program(const struct run_spec *spec, struct run_result *r);

const char *run_outcome_name(enum run_outcome o);

/* Take DIR/NAME.lock (flock, exclusive, not waiting): held while an
 * advertisement is downloaded, staged and run, so one advertisement never
 * runs twice at once, even from two agent processes. *fd receives the open
 * lock (close-on-exec); -STEWARD_EBUSY when another holder has it. NAME:
 * letters, digits, '.', '_', '-', not starting with '.'. */
int run_lock(const char *dir, const char *name, int *fd, struct steward_err *err);
void run_unlock(int fd);

#endif

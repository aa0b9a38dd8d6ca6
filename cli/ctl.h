/* stewardctl internals: the command table, the call layer and output.
 *
 * main.c parses the command line and dispatches through ctl_commands[];
 * commands.c holds the table and one handler per command; call.c talks to
 * the site (token, headers, version check, errors); output.c prints tables,
 * key/value lists and JSON. Private to cli/.
 */
#ifndef STEWARDCTL_CTL_H
#define STEWARDCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes; scripts rely on them. */
enum ctl_exit {
	CTL_OK = 0,
	CTL_EFAIL = 1,	      /* the site refused, or a local failure */
	CTL_EUSAGE = 2,	      /* bad command line */
	CTL_EVERSION = 3,     /* stewardctl and site APIs do not match */
	CTL_EUNREACHABLE = 4, /* no answer: connection refused, DNS, timeout */
	CTL_ENOTREADY = 5,    /* upgrade check: an item fails (cmd_upgrade.c) */
};

#define CTL_DEFAULT_SERVER	"https://127.0.0.1:8420"
#define CTL_DEFAULT_TOKEN_FILE	"./var/site/admin.token"
#define CTL_DEFAULT_TIMEOUT_S	30
#define CTL_TIMEOUT_MAX_S	3600
#define CTL_URL_MAX		1024
/* a request path and query: a 4096-byte query percent-encoded is 12 KiB */
#define CTL_PATH_MAX		(3 * 4096 + 512)
#define CTL_TOKEN_FILE_MAX	4096		    /* a token file is one short line */
#define CTL_TOKEN_LEN		(4 + 64)	    /* "stw_" + 64 hex digits */
#define CTL_RESPONSE_MAX	(64u * 1024 * 1024) /* clients list of a large site */
#define CTL_ADMIN_NAME_MAX	64
#define CTL_ENROLL_TOKEN_ID_HEX 16
#define CTL_USES_MAX		1000000
#define CTL_TTL_MIN_S		60
#define CTL_TTL_MAX_S		(365 * 86400)

struct ctl {
	char server[CTL_URL_MAX]; /* base URL without a trailing '/' */
	const char *token_file;
	char token[CTL_TOKEN_LEN + 1];
	bool token_loaded;
	bool json; /* --json: machine output */
	long timeout_ms;
};

/* ---- the command table ------------------------------------------------ */

/* What an argument or option value must look like; checked before any call. */
enum ctl_type {
	CTL_T_NONE = 0,
	CTL_T_CLIENT_ID,  /* 32 lowercase hex */
	CTL_T_TOKEN_ID,	  /* enrollment token id, 16 lowercase hex */
	CTL_T_ADMIN_NAME, /* 1..64 of A-Z a-z 0-9 . _ - (as the site checks) */
	CTL_T_ROLE,	  /* read | operator | admin | distribution_point */
	CTL_T_SINCE,	  /* a CTL_T_TIME, or -DURATION: that long ago */
	CTL_T_REASON,	  /* up to PROTO_REASON_MAX printable ASCII */
	CTL_T_USES,	  /* 1..1000000 */
	CTL_T_TTL,	  /* duration, 60 s .. 365 d */
	CTL_T_SITE,	  /* site code */
	/* software distribution (cmd_swdist.c checks these) */
	CTL_T_PKG_NAME,	   /* A-Z a-z 0-9 . _ - +, as lib/content accepts */
	CTL_T_PKG_VERSION, /* the same characters */
	CTL_T_PKG_REF,	   /* NAME or NAME@VERSION */
	CTL_T_TIME,	   /* RFC 3339, "YYYY-MM-DD HH:MM" local, now, +DURATION */
	CTL_T_DURATION,	   /* 10m, 1h30m: 1 s .. 365 d */
	CTL_T_CODES,	   /* exit codes 0..255, comma-separated */
	CTL_T_MB,	   /* whole number of MB */
	CTL_T_RUN,	   /* once | always */
	CTL_T_ENV,	   /* NAME=VALUE */
	/* releases (cmd_release.c checks these) */
	CTL_T_RELEASE_VERSION, /* X.Y.Z */
	CTL_T_RATE,	       /* N/hour (or N/h, N/day): installs per hour, 1..100000 */
};

/* Command options (global ones like --json live in main.c). */
enum ctl_opt {
	CTL_OPT_REASON,
	CTL_OPT_USES,
	CTL_OPT_TTL,
	CTL_OPT_SITE,
	/* collections (cmd_collections.c) */
	CTL_OPT_QUERY,
	CTL_OPT_MEMBERS,
	CTL_OPT_INCLUDE,
	CTL_OPT_EXCLUDE,
	/* inventory (cmd_inventory.c) */
	CTL_OPT_PACKAGES, /* flag */
	CTL_OPT_INACTIVE, /* flag (clients list) */
	/* software distribution (cmd_swdist.c) */
	CTL_OPT_VERSION, /* a command option: wins over the global --version */
	CTL_OPT_SOURCE,
	CTL_OPT_PACKAGE,
	CTL_OPT_COMMAND,
	CTL_OPT_WORKDIR,
	CTL_OPT_PTIMEOUT, /* --timeout of a program: wins over the global --timeout */
	CTL_OPT_SUCCESS_CODES,
	CTL_OPT_REBOOT_CODES,
	CTL_OPT_USER,
	CTL_OPT_ENV, /* repeatable */
	CTL_OPT_RUN,
	CTL_OPT_MIN_FREE_MB,
	CTL_OPT_REQUIREMENT,
	CTL_OPT_COMMENT,
	CTL_OPT_PROGRAM,
	CTL_OPT_COLLECTION,
	CTL_OPT_AVAILABLE,
	CTL_OPT_MANDATORY,
	CTL_OPT_RECURRING,
	CTL_OPT_START,
	CTL_OPT_EXPIRES,
	CTL_OPT_DISABLED, /* flag */
	/* releases (cmd_release.c) */
	CTL_OPT_OUT,
	CTL_OPT_KEY,
	CTL_OPT_STAGE,
	CTL_OPT_RVERSION, /* --version of a release: X.Y.Z */
	CTL_OPT_UPGRADE_FROM,
	CTL_OPT_VALID_FOR,
	CTL_OPT_ROLLBACK,      /* flag */
	CTL_OPT_RATE,	       /* site resume-installs --rate N/hour */
	CTL_OPT_OFF,	       /* flag: site client-upgrade --off */
	CTL_OPT_TO,	       /* site upgrade --to X.Y.Z */
	CTL_OPT_RELEASE_KEY,   /* self-update --release-key HEX */
	CTL_OPT_AUTHORIZATION, /* releases import --rollback --authorization LINE */
	CTL_OPT_PREVIOUS,      /* releases build --previous FILE: deltas from it */
	/* the hierarchy (cmd_sites.c) */
	CTL_OPT_PARENT,	   /* sites attach --parent URL */
	CTL_OPT_ATOKEN,	   /* sites attach --token T */
	CTL_OPT_HIERARCHY, /* flag: pauses for every site below too */
	CTL_OPT_ALL_SITES, /* flag: clients list of every site below too */
	CTL_OPT_SCHEDULE,  /* links set --schedule SPEC */
	CTL_OPT_LINK_RATE, /* links set --rate BYTES/s */
	CTL_OPT_PULSE,	   /* links set --pulse KIB/SECONDS */
	CTL_OPT_PLAN,	   /* flag: hierarchy upgrade --plan */
	CTL_OPT_RESUME,	   /* flag: hierarchy upgrade --resume */
	CTL_OPT_INVENTORY, /* links set --inventory none|summary|full */
	CTL_OPT_PIN,	   /* site trust --pin sha256:HEX */
	CTL_OPT_FINISH,	   /* flag: site rotate-key --finish */
	/* administrators and the audit log (cmd_admins.c) */
	CTL_OPT_ROLE,  /* admins create --role R */
	CTL_OPT_SINCE, /* audit list --since TIME */
	CTL_OPT_WHO,   /* audit list --who NAME */
	/* rollouts and maintenance windows (cmd_rollouts.c) */
	CTL_OPT_RELEASE,       /* rollouts create --release X.Y.Z */
	CTL_OPT_PILOT,	       /* --pilot COLLECTION */
	CTL_OPT_WAVES,	       /* --waves 1%,10%,50%,100% */
	CTL_OPT_GATE,	       /* --gate PERCENT */
	CTL_OPT_SOAK,	       /* --soak DURATION|0 */
	CTL_OPT_HALT_AT,       /* --halt-at PERCENT */
	CTL_OPT_AUTO_ROLLBACK, /* flag */
	CTL_OPT_LATE,	       /* --late wait|run-at-next-checkin */
	CTL_OPT_WATCH,	       /* flag: rollouts status --watch */
	CTL_OPT_WEEKLY,	       /* windows create --weekly "sat 22:00" */
	CTL_OPT_WDURATION,     /* windows create --duration 6h */
	CTL_OPT_TZ,	       /* windows create --tz Europe/Berlin */
	CTL_OPT_LINKS,	       /* --links slow=defer,metered=never */
	CTL_OPT_LINK_DEADLINE, /* --link-deadline TIME */
	/* moving the site database (cmd_migrate.c) */
	CTL_OPT_DATA_DIR, /* site migrate-store --data-dir DIR */
	CTL_OPT_TO_URL,	  /* site migrate-store --to postgresql://... */
	CTL_OPT_COUNT
};
/* A set of options, one bit each: 128 bits, so the table can grow past 64
 * options without touching every command (GCC and Clang both have it). */
__extension__ typedef unsigned __int128 ctl_optset;
#define CTL_OPT_BIT(o) ((ctl_optset)1 << (o))
_Static_assert(CTL_OPT_COUNT <= 128, "command options must fit the ctl_optset bit sets");

struct ctl_opt_spec {
	const char *name;    /* without the leading "--" */
	const char *metavar; /* shown in help; NULL: a flag that takes no value */
	enum ctl_type type;
	bool repeat; /* may be given more than once (--env K=V ...) */
};

#define CTL_ARGS_MAX 2
#define CTL_REPEAT_MAX 32 /* values of repeatable options on one line */

/* A parsed and validated command line, handed to a handler. */
struct ctl_args {
	int argc;
	const char *argv[CTL_ARGS_MAX];
	const char *opt[CTL_OPT_COUNT]; /* NULL when not given */
	int64_t num[CTL_OPT_COUNT];	/* parsed value of numeric options (uses, ttl) */
	/* every value of a repeatable option, in order; opt[] holds the first */
	int nrep;
	enum ctl_opt rep_opt[CTL_REPEAT_MAX];
	const char *rep[CTL_REPEAT_MAX];
};

typedef int (*ctl_handler_fn)(struct ctl *ctl, const struct ctl_args *a);

struct ctl_cmd {
	const char *noun;
	const char *verb;
	int min_args, max_args;
	const char *arg_names[CTL_ARGS_MAX]; /* for help: "ID", "NAME" */
	enum ctl_type arg_types[CTL_ARGS_MAX];
	ctl_optset opts;     /* CTL_OPT_BIT()s accepted */
	ctl_optset required; /* CTL_OPT_BIT()s that must be given */
	ctl_handler_fn handler;
	const char *help;
};

extern const struct ctl_opt_spec ctl_opt_specs[CTL_OPT_COUNT];
extern const struct ctl_cmd ctl_commands[];
extern const size_t ctl_n_commands;

/* Check one value of command c against its type; on refusal print a usage
 * error naming `what` and return CTL_EUSAGE. *num receives numeric values. */
int ctl_check_value(const struct ctl_cmd *c, enum ctl_type type, const char *what,
		    const char *value, int64_t *num);

/* "clients block ID [--reason TEXT]" into out. */
void ctl_cmd_synopsis(const struct ctl_cmd *c, char *out, size_t outsz);

/* ---- administrators and the audit log (cmd_admins.c) ------------------ */
bool ctl_role_ok(const char *v);
int ctl_cmd_admins_create(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_admins_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_admins_revoke(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_audit_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_audit_verify(struct ctl *ctl, const struct ctl_args *a);

/* ---- collections (cmd_collections.c) ---------------------------------- */
int ctl_cmd_collections_create(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_collections_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_collections_show(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_collections_members(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_collections_explain(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_collections_delete(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_inventory_query(struct ctl *ctl, const struct ctl_args *a);

/* ---- inventory (cmd_inventory.c) -------------------------------------- */
int ctl_cmd_inventory_show(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_inventory_history(struct ctl *ctl, const struct ctl_args *a);

/* ---- software distribution (cmd_swdist.c) ----------------------------- */
int ctl_swdist_check_value(const struct ctl_cmd *c, enum ctl_type type, const char *what,
			   const char *value, int64_t *num);
int ctl_cmd_packages_add(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_packages_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_packages_show(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_packages_delete(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_programs_add(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_programs_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_programs_show(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_programs_delete(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_adverts_create(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_adverts_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_adverts_show(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_adverts_enable(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_adverts_disable(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_adverts_delete(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_status_advert(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_status_client(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_site_pause_adverts(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_site_resume_adverts(struct ctl *ctl, const struct ctl_args *a);
/* client installations (cmd_release.c) */
#define CTL_RATE_MAX 100000
int ctl_cmd_site_pause_installs(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_site_resume_installs(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_site_client_upgrade(struct ctl *ctl, const struct ctl_args *a);
/* rollouts and maintenance windows (cmd_rollouts.c) */
int ctl_cmd_rollouts_create(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_rollouts_start(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_rollouts_pause(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_rollouts_resume(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_rollouts_promote(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_rollouts_abort(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_rollouts_rollback(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_rollouts_status(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_rollouts_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_rollouts_clients(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_rollouts_delete(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_windows_create(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_windows_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_windows_delete(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_site_upgrade(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_self_update(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_systems_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_systems_upgrade(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_systems_slow(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_systems_confirm(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_systems_retry(struct ctl *ctl, const struct ctl_args *a);
/* Which of n blobs (hashes sorted, 64 hex each) the site lacks: need[i]. */
int ctl_content_missing(struct ctl *ctl, const char *const *hashes, size_t n, bool *need);

/* ---- releases (cmd_release.c) ----------------------------------------- */
int ctl_release_check_value(const struct ctl_cmd *c, enum ctl_type type, const char *what,
			    const char *value, int64_t *num);
int ctl_cmd_releases_keygen(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_releases_build(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_releases_import(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_releases_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_releases_show(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_releases_withdraw(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_releases_reinstate(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_releases_rollback_sign(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_releases_endorse_key(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_releases_trust_key(struct ctl *ctl, const struct ctl_args *a);

/* ---- moving the site database (cmd_migrate.c; no site needed) --------- */
int ctl_cmd_site_migrate_store(struct ctl *ctl, const struct ctl_args *a);

/* ---- the checklist before an upgrade (cmd_upgrade.c) ------------------ */
int ctl_cmd_upgrade_check(struct ctl *ctl, const struct ctl_args *a);

/* ---- the hierarchy (cmd_sites.c) -------------------------------------- */
int ctl_cmd_sites_token(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_sites_attach(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_sites_detach(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_sites_list(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_links_set(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_hierarchy_show(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_hierarchy_upgrade(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_hierarchy_status(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_hierarchy_objects(struct ctl *ctl, const struct ctl_args *a);

/* --links and --link-deadline into the request body (adverts and rollouts
 * create); the site checks the policy and names what is wrong. */
void ctl_link_opts(const struct ctl_args *a, json_t *body);

/* ---- argument values (timearg.c; no site, no output: unit-tested) ------ *
 * Each returns 0, or -1 with why (a phrase such as "month 13 does not
 * exist") filled for the usage error. */
#define CTL_DURATION_MAX_S (365LL * 86400)
#define CTL_CODES_MAX	   32
#define CTL_CODE_MAX	   255 /* an exit status is 8 bits */
/* "90", "90s", "10m", "1h30m", "1d12h": parts in the order d h m s, each
 * parsed by time_parse_duration; 0 .. CTL_DURATION_MAX_S. */
int ctl_parse_duration(const char *s, int64_t *secs, char *why, size_t whysz);
/* "2026-11-25T10:00:00Z" or with an offset (+02:00), "2026-11-25 10:00"
 * in local time, "now", "+DURATION"; into unix seconds. now is the clock
 * that "now" and "+DURATION" count from. */
int ctl_parse_time(const char *s, int64_t now, int64_t *t, char *why, size_t whysz);
/* "0,3010"-style lists of exit codes 0..CTL_CODE_MAX into codes[max]. */
int ctl_parse_codes(const char *s, int *codes, size_t max, size_t *n, char *why, size_t whysz);

/* ---- the call layer (call.c) ----------------------------------------- */

/* Read, trim and check the admin token file; prints the error itself. */
int ctl_token_load(struct ctl *ctl);
/* Forget the token (wipes it from memory). */
void ctl_token_forget(struct ctl *ctl);
/* One call to the site. body may be NULL. On CTL_OK *reply holds the parsed
 * JSON reply (caller decrefs); otherwise the error is already printed and
 * the exit code returned. */
int ctl_request(struct ctl *ctl, const char *method, const char *path, const json_t *body,
		json_t **reply);
/* GET path as self-update needs it: the same identification and error
 * reports as ctl_request(), but no check of the site's API version (the
 * console-update routes answer every console) and the reply as it came:
 * *body (malloc'd, NUL-terminated; the caller frees) of *len bytes, at
 * most max. */
int ctl_fetch(struct ctl *ctl, const char *path, size_t max, char **body, size_t *len);
/* Called as an upload sends; sent counts this upload's bytes. */
typedef void (*ctl_progress_fn)(uint64_t sent, void *ctx);
/* PUT path with size bytes read from fd (from its current offset) as the
 * body, streamed: never read into memory. what names the file in local
 * errors. The call has no overall deadline (large files take long) but
 * fails when it moves less than CTL_UPLOAD_LOW_SPEED bytes per second for
 * the --timeout. Replies and errors as ctl_request(). */
#define CTL_UPLOAD_LOW_SPEED 1024
#define CTL_UPLOAD_REPLY_MAX (64u * 1024)
int ctl_upload(struct ctl *ctl, const char *path, int fd, uint64_t size, const char *what,
	       ctl_progress_fn progress, void *ctx, json_t **reply);

/* ---- output (output.c) ------------------------------------------------ */

/* "error: CODE: MESSAGE" and, when remedy is non-empty, "remedy: REMEDY". */
void ctl_error(const char *code, const char *remedy, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Usage error for a command (c may be NULL); always returns CTL_EUSAGE. */
int ctl_usage_error(const struct ctl_cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print JSON with two-space indentation and a newline. */
int ctl_print_json(const json_t *j);
/* "internal: out of memory"; CTL_EFAIL. */
int ctl_oom(void);
/* The site answered something this stewardctl does not understand. */
int ctl_bad_reply(const char *what);
/* Common tail of a command: with --json print the site's reply as it came,
 * then drop it. Returns rc, or CTL_EFAIL if printing failed. */
int ctl_finish(struct ctl *ctl, json_t *reply, int rc);
/* Write s to f with control characters replaced: the site passes on text
 * that agents sent (hostnames, OS names), which must not drive the terminal. */
void ctl_put_clean(FILE *f, const char *s);
/* Format a scalar JSON value for people: null -> dflt, true -> "yes",
 * arrays of scalars comma-joined, objects as compact JSON. */
const char *ctl_fmt(const json_t *v, const char *dflt, char *out, size_t outsz);
/* The string member key of o, or NULL. */
const char *ctl_jstr(const json_t *o, const char *key);
/* Whether every element of the array arr is an object (a reply's rows). */
bool ctl_all_objects(const json_t *arr);

/* A text table: aligned columns, cells copied and cleaned. head may be NULL
 * for a key/value list without a header line. */
struct ctl_table {
	int ncols;
	const char *const *head;
	char **cells; /* nrows * ncols */
	size_t nrows, cap;
	const char *sep; /* between columns */
};

void ctl_table_init(struct ctl_table *t, int ncols, const char *const *head);
int ctl_table_add(struct ctl_table *t, const char *const *row);
void ctl_table_print(const struct ctl_table *t, FILE *f);
void ctl_table_free(struct ctl_table *t);
/* A table on stdout of the objects of list, column c from keys[c] (ctl_fmt;
 * null and empty as "-"); at most CTL_OBJECT_COLS_MAX columns. */
#define CTL_OBJECT_COLS_MAX 12
int ctl_print_objects(const json_t *list, int ncols, const char *const *head,
		      const char *const *keys);

/* trust.c: the pins of the sites this console trusts */
void ctl_trust_init(struct ctl *ctl);
int ctl_cmd_site_trust(struct ctl *ctl, const struct ctl_args *a);
int ctl_cmd_site_rotate_key(struct ctl *ctl, const struct ctl_args *a);

#endif

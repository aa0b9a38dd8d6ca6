/* query: the collection query language, and Debian version ordering.
 *
 * Part of lib/core: pure logic, no I/O, no clock, no globals. A query is
 * parsed once into an opaque struct core_query (one allocation), then
 * evaluated against one client at a time through a facts interface the
 * caller supplies, with a work budget so a slow query is refused with a
 * reason instead of hanging a request.
 *
 *   os.name = "Debian GNU/Linux" and memory.total_mb >= 1024
 *       and not has_package("nginx")
 *
 * Grammar (keywords, attribute and function names are case-insensitive):
 *
 *   query      = or
 *   or         = and { "or" and }
 *   and        = not { "and" not }
 *   not        = "not" not | primary
 *   primary    = "(" or ")" | comparison | "has_package" "(" STRING ")"
 *              | "package" "(" STRING ")" "." "version" op-tail
 *   comparison = ATTRIBUTE op-tail
 *   op-tail    = ( "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" ) value
 *              | "like" STRING
 *              | "in" "(" value { "," value } ")"
 *              | "in" ADDRESS                      (ip only: ip in 10.1.0.0/16)
 *   value      = STRING | NUMBER | ADDRESS
 *
 * STRING is double-quoted with \" and \\ as the only escapes, valid UTF-8,
 * no control characters. NUMBER is a decimal int64, optionally negative.
 * ADDRESS is an unquoted IPv4 or IPv6 address with an optional /prefix
 * (host bits must be clear); for ip a quoted address is accepted too.
 * `like` patterns use * (any run) and ? (one character) and match ASCII
 * case-insensitively; package names in has_package() and package() may
 * use the same wildcards, and match the same way.
 *
 * Meaning. Every comparison asks whether SOME value satisfies it: an
 * attribute may have several values (ip has one per address), a package
 * may be installed in several versions. An attribute with no value
 * satisfies no comparison, so `x != v` is false when x is unknown; write
 * `not x = v` for "x is not v, or unknown". By type:
 *   STRING   = != < <= > >= compare bytes; like; in
 *   NUMBER   numeric; a string literal or like is a parse-time type error
 *   VERSION  Debian version ordering for every comparison (so "1.0" = "1.00");
 *            an ordering comparison needs a valid Debian version literal;
 *            numbers are accepted as text (os.version_id >= 12); like on text
 *   IP       = != with an address, in with addresses and networks, like on
 *            the text; ordering is a type error
 * package("p").version compares like VERSION and is true when an installed
 * package matching p has a version satisfying it.
 */
#ifndef STEWARD_QUERY_H
#define STEWARD_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* ---- caps ---------------------------------------------------------------
 * A query over any cap is refused with CORE_QUERY_ELIMIT and a message. */
#define CORE_QUERY_TEXT_MAX   4096 /* bytes of query text, also of its canonical form */
#define CORE_QUERY_DEPTH_MAX  64   /* nested parentheses plus nested `not`s */
#define CORE_QUERY_NODES_MAX  256  /* comparisons, predicates, `not`s and and/or groups */
#define CORE_QUERY_LIST_MAX   256  /* values in one in (...) list */
#define CORE_QUERY_STRING_MAX 1024 /* bytes of one string literal, after unescaping */

/* A budget a server may use when it has no better figure: enough for any
 * sensible query over a client with a few thousand packages. */
#define CORE_QUERY_BUDGET_DEFAULT 200000

/* ---- results ------------------------------------------------------------ */
enum {
	CORE_QUERY_OK = 0,
	CORE_QUERY_EINVAL = -1,	 /* NULL argument */
	CORE_QUERY_ENOMEM = -2,	 /* allocation failed */
	CORE_QUERY_ESYNTAX = -3, /* malformed query; see the error's column */
	CORE_QUERY_ETYPE = -4,	 /* a value or operator does not fit the type */
	CORE_QUERY_ELIMIT = -5,	 /* over one of the caps above */
	CORE_QUERY_EBUDGET = -6, /* evaluation needed more work than the budget */
	CORE_QUERY_EFACTS = -7,	 /* the facts interface reported a failure */
};

/* A short stable description of a CORE_QUERY_* code. */
const char *core_query_strerror(int rc);

#define CORE_QUERY_MSG_MAX 512

struct core_query_error {
	int code;   /* the code parse returned */
	int column; /* 1-based byte column of the problem; 0 when none */
	/* Complete and printable ASCII, e.g.
	 * "column 18: expected a value after '>=' but found 'and'". */
	char message[CORE_QUERY_MSG_MAX];
};

/* ---- attributes ---------------------------------------------------------
 * The attribute table drives the parser, error messages and docs. Ids are
 * stable: the facts interface receives them. */
enum core_query_type {
	CORE_QUERY_STRING,
	CORE_QUERY_NUMBER,
	CORE_QUERY_VERSION,
	CORE_QUERY_IP,
};

/* Inventory classes a query reads (core_query_deps). */
enum core_query_dep {
	CORE_QUERY_DEP_CLIENT = 1u << 0,   /* site, hostname, state, agent.version */
	CORE_QUERY_DEP_HARDWARE = 1u << 1, /* memory, cpu, dmi, virtualization */
	CORE_QUERY_DEP_OS = 1u << 2,	   /* os-release, kernel, architecture */
	CORE_QUERY_DEP_NETWORK = 1u << 3,  /* addresses */
	CORE_QUERY_DEP_SOFTWARE = 1u << 4, /* installed packages */
};

enum core_query_attr_id {
	CORE_QUERY_ATTR_OS_NAME,
	CORE_QUERY_ATTR_OS_ID,
	CORE_QUERY_ATTR_OS_VERSION_ID,
	CORE_QUERY_ATTR_KERNEL_RELEASE,
	CORE_QUERY_ATTR_ARCH,
	CORE_QUERY_ATTR_MEMORY_TOTAL_MB,
	CORE_QUERY_ATTR_CPU_MODEL,
	CORE_QUERY_ATTR_CPU_SOCKETS,
	CORE_QUERY_ATTR_CPU_CORES,
	CORE_QUERY_ATTR_CPU_THREADS,
	CORE_QUERY_ATTR_VIRTUALIZATION,
	CORE_QUERY_ATTR_DMI_VENDOR,
	CORE_QUERY_ATTR_DMI_PRODUCT,
	CORE_QUERY_ATTR_SITE,
	CORE_QUERY_ATTR_HOSTNAME,
	CORE_QUERY_ATTR_STATE,
	CORE_QUERY_ATTR_AGENT_VERSION,
	CORE_QUERY_ATTR_IP,
	CORE_QUERY_ATTR_COUNT
};

struct core_query_attr {
	const char *name; /* as written in queries, e.g. "memory.total_mb" */
	enum core_query_type type;
	unsigned dep;	  /* one CORE_QUERY_DEP_* bit */
	const char *help; /* one line for docs and --help */
};

/* The table entry for id, or NULL when id is out of range. */
const struct core_query_attr *core_query_attr_get(enum core_query_attr_id id);
/* The id of an attribute name (case-insensitive), or -1. */
int core_query_attr_find(const char *name);

/* ---- parse, format, free ------------------------------------------------ */
struct core_query;

/* Parse text (a C string) into *out, which the caller frees with
 * core_query_free. Returns 0, or a negative CORE_QUERY_* code with err (may
 * be NULL) describing the first problem; *out is then NULL. */
int core_query_parse(const char *text, struct core_query **out, struct core_query_error *err);
void core_query_free(struct core_query *q);

/* Write the canonical text of q into buf (always NUL-terminated when bufsz
 * > 0) and return its length, like snprintf; a buffer of
 * CORE_QUERY_TEXT_MAX + 1 bytes always suffices. Canonical text has
 * lower-case keywords and names, single spaces, the fewest parentheses,
 * and format(parse(format(q))) == format(q). Returns CORE_QUERY_EINVAL for
 * a NULL q. */
int core_query_format(const struct core_query *q, char *buf, size_t bufsz);

/* The CORE_QUERY_DEP_* classes q reads: re-evaluate a collection only when
 * one of them changed for a client. */
unsigned core_query_deps(const struct core_query *q);

/* ---- evaluation ---------------------------------------------------------
 * The caller supplies a client's facts through callbacks; the core keeps
 * no pointer into them past the next callback (it copies what an
 * explanation needs). */

/* Called by the provider for each installed package: return 0 to go on,
 * anything else to stop (the provider then returns that value). */
typedef int (*core_query_pkg_visit)(void *vctx, const char *name, const char *version);

struct core_query_facts {
	void *ctx;
	/* Point *vals at the client's values of attr and return how many
	 * (0 when it has none; numbers as decimal text, addresses as text,
	 * optionally with /prefix or %zone; NULL entries are skipped). The
	 * array stays the provider's and must stay valid until the next
	 * callback. Negative on failure (CORE_QUERY_EFACTS). A NULL get means
	 * the client has no values at all. */
	int (*get)(void *ctx, enum core_query_attr_id attr, const char *const **vals);
	/* Call visit for each installed package (name, version; version may
	 * be NULL when unknown) whose name may match pattern, an exact name
	 * or one with * and ? wildcards; passing more packages than match,
	 * even all, is correct (the core filters with core_query_like), just
	 * slower. The strings need live only during the visit call. Stop as
	 * soon as visit returns nonzero and return that value; return 0 after
	 * the last package, or a negative value on failure. A NULL packages
	 * means nothing is installed. */
	int (*packages)(void *ctx, const char *pattern, core_query_pkg_visit visit, void *vctx);
};

/* Evaluate q for one client. Returns 1 when it matches, 0 when not, or
 * CORE_QUERY_EBUDGET when it needed more than budget work units (one per
 * value or package compared, plus one per 64 bytes a like pattern
 * examines), CORE_QUERY_EFACTS, CORE_QUERY_ENOMEM or CORE_QUERY_EINVAL.
 * used (may be NULL) receives the work spent. */
int core_query_eval(const struct core_query *q, const struct core_query_facts *facts,
		    uint64_t budget, uint64_t *used);

/* Evaluate as core_query_eval does and write a short explanation of the
 * clause that decided it into buf (capped at bufsz, ending in "..." when
 * cut), e.g. 'included: os.name = "Debian GNU/Linux" is true (os.name is
 * "Debian GNU/Linux"); not has_package("nginx") is true'. A true `and`
 * lists every clause, a false one its first false clause; a true `or`
 * names its first true branch, a false one every branch. On an error the
 * buffer says why ("refused: ..."). Returns what core_query_eval would. */
int core_query_explain(const struct core_query *q, const struct core_query_facts *facts,
		       uint64_t budget, char *buf, size_t bufsz);

/* The `like` matcher: * any run, ? one character (a UTF-8 sequence), ASCII
 * case-insensitive, anchored at both ends. For providers that want to
 * pre-filter packages the same way. */
bool core_query_like(const char *pattern, const char *text);

/* ---- Debian versions ----------------------------------------------------
 * Ordering exactly as dpkg --compare-versions: epoch, then upstream, then
 * revision; within each, non-digit runs compare with letters before
 * non-letters and ~ before everything, even the end; digit runs compare
 * numerically at any length. A missing epoch is 0 and a missing revision
 * equals "0". Defined for any strings (a malformed epoch is read as part
 * of the upstream), so sorting never fails. Returns <0, 0 or >0. */
int core_debver_cmp(const char *a, const char *b);

/* Is v a well-formed Debian version: [epoch:]upstream[-revision], epoch
 * decimal and at most INT_MAX, upstream starting with a digit and made of
 * alphanumerics and . + ~ - , revision of alphanumerics and . + ~ ? */
bool core_debver_valid(const char *v);

#endif

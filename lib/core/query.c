/* core: the collection query language (see include/steward/query.h).
 *
 * Text goes through a tokenizer and a recursive-descent parser into an AST
 * that lives in one malloc'd block. The block is sized by a first, cheap
 * pass of the tokenizer over the whole text (tokens, values, numbers,
 * string bytes), so the parser never reallocates and core_query_free is a
 * single free(). Every cap is checked where it is crossed, so the error
 * can say where.
 *
 * `and` and `or` chains are flattened into n-ary groups (also across
 * redundant parentheses): the canonical text then needs the fewest
 * parentheses, and an explanation can name "the first false clause".
 *
 * Evaluation walks the AST with short-circuits, charging a work budget for
 * every value it compares, so a query that would be slow on a big client
 * (a leading-wildcard like over thousands of packages, a long in-list
 * over many addresses) is stopped with CORE_QUERY_EBUDGET.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/query.h"

#define Q_ECHO_MAX	32 /* bytes of input quoted in one error message */
#define Q_ECHO_BUF	(Q_ECHO_MAX * 4 + 8)
#define Q_CLAUSE_MAX	160 /* bytes of one clause quoted in an explanation */
#define Q_EVIDENCE_MAX	200 /* bytes of evidence kept for one clause */
#define Q_EVIDENCE_VALS 3   /* values listed when a clause is false */
#define Q_EVIDENCE_ECHO 48  /* bytes of one fact value quoted in evidence */
#define Q_LIKE_STEPS	64  /* like steps per work unit */
#define Q_NUMBER_TEXT	24  /* bytes for the decimal text of an int64 */
#define Q_SUGGEST_MAX	2   /* edit distance for "did you mean" */
#define Q_NAME_CMP_MAX	64  /* longer names get no suggestion */

/* ---- the attribute table ------------------------------------------------ */

static const struct core_query_attr query_attrs[CORE_QUERY_ATTR_COUNT] = {
    [CORE_QUERY_ATTR_OS_NAME] = {"os.name", CORE_QUERY_STRING, CORE_QUERY_DEP_OS,
				 "NAME from /etc/os-release, e.g. \"Debian GNU/Linux\""},
    [CORE_QUERY_ATTR_OS_ID] = {"os.id", CORE_QUERY_STRING, CORE_QUERY_DEP_OS,
			       "ID from /etc/os-release, e.g. \"debian\""},
    [CORE_QUERY_ATTR_OS_VERSION_ID] = {"os.version_id", CORE_QUERY_VERSION, CORE_QUERY_DEP_OS,
				       "VERSION_ID from /etc/os-release, e.g. \"12\""},
    [CORE_QUERY_ATTR_KERNEL_RELEASE] = {"kernel.release", CORE_QUERY_VERSION, CORE_QUERY_DEP_OS,
					"running kernel, e.g. \"6.1.0-18-amd64\""},
    [CORE_QUERY_ATTR_ARCH] = {"arch", CORE_QUERY_STRING, CORE_QUERY_DEP_OS,
			      "machine architecture, e.g. \"x86_64\""},
    [CORE_QUERY_ATTR_MEMORY_TOTAL_MB] = {"memory.total_mb", CORE_QUERY_NUMBER,
					 CORE_QUERY_DEP_HARDWARE, "installed memory in MiB"},
    [CORE_QUERY_ATTR_CPU_MODEL] = {"cpu.model", CORE_QUERY_STRING, CORE_QUERY_DEP_HARDWARE,
				   "CPU model name"},
    [CORE_QUERY_ATTR_CPU_SOCKETS] = {"cpu.sockets", CORE_QUERY_NUMBER, CORE_QUERY_DEP_HARDWARE,
				     "CPU sockets"},
    [CORE_QUERY_ATTR_CPU_CORES] = {"cpu.cores", CORE_QUERY_NUMBER, CORE_QUERY_DEP_HARDWARE,
				   "CPU cores, all sockets"},
    [CORE_QUERY_ATTR_CPU_THREADS] = {"cpu.threads", CORE_QUERY_NUMBER, CORE_QUERY_DEP_HARDWARE,
				     "hardware threads, all sockets"},
    [CORE_QUERY_ATTR_VIRTUALIZATION] = {"virtualization", CORE_QUERY_STRING,
					CORE_QUERY_DEP_HARDWARE,
					"hypervisor or container, \"none\" on bare metal"},
    [CORE_QUERY_ATTR_DMI_VENDOR] = {"dmi.vendor", CORE_QUERY_STRING, CORE_QUERY_DEP_HARDWARE,
				    "system vendor from DMI"},
    [CORE_QUERY_ATTR_DMI_PRODUCT] = {"dmi.product", CORE_QUERY_STRING, CORE_QUERY_DEP_HARDWARE,
				     "product name from DMI"},
    [CORE_QUERY_ATTR_SITE] = {"site", CORE_QUERY_STRING, CORE_QUERY_DEP_CLIENT,
			      "3-character code of the client's site"},
    [CORE_QUERY_ATTR_HOSTNAME] = {"hostname", CORE_QUERY_STRING, CORE_QUERY_DEP_CLIENT,
				  "host name the agent reports"},
    [CORE_QUERY_ATTR_STATE] = {"state", CORE_QUERY_STRING, CORE_QUERY_DEP_CLIENT,
			       "client state, e.g. \"active\", \"inactive\", \"pending\""},
    [CORE_QUERY_ATTR_AGENT_VERSION] = {"agent.version", CORE_QUERY_VERSION, CORE_QUERY_DEP_CLIENT,
				       "steward agent version"},
    [CORE_QUERY_ATTR_IP] = {"ip", CORE_QUERY_IP, CORE_QUERY_DEP_NETWORK,
			    "any of the client's IPv4 and IPv6 addresses"},
};

static const char *const query_functions[] = {"has_package", "package"};

const struct core_query_attr *core_query_attr_get(enum core_query_attr_id id)
{
	if ((unsigned)id >= CORE_QUERY_ATTR_COUNT)
		return NULL;
	return &query_attrs[id];
}

const char *core_query_strerror(int rc)
{
	switch (rc) {
	case CORE_QUERY_OK:
		return "ok";
	case CORE_QUERY_EINVAL:
		return "invalid argument";
	case CORE_QUERY_ENOMEM:
		return "out of memory";
	case CORE_QUERY_ESYNTAX:
		return "query syntax error";
	case CORE_QUERY_ETYPE:
		return "query type error";
	case CORE_QUERY_ELIMIT:
		return "query over a limit";
	case CORE_QUERY_EBUDGET:
		return "query needs more work than its budget";
	case CORE_QUERY_EFACTS:
		return "could not read the client's facts";
	}
	return "unknown error";
}

/* ---- the AST -------------------------------------------------------------- */

enum q_kind { Q_OR, Q_AND, Q_NOT, Q_CMP, Q_HAS, Q_PKG };

enum q_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_LIKE, OP_IN };

static const char *const q_op_text[] = {"=", "!=", "<", "<=", ">", ">=", "like", "in"};

enum q_vkind { QV_STR, QV_NUM, QV_ADDR };

struct q_addr {
	uint8_t family; /* 4 or 6 */
	uint8_t prefix; /* the full length when none was written */
	uint8_t has_prefix;
	uint8_t b[16];
};

struct q_value {
	uint8_t kind;
	struct q_addr addr;
	int64_t num;
	const char *s; /* QV_STR: the contents; QV_NUM under a version: its text */
};

struct q_node {
	uint8_t kind;
	uint8_t op;
	uint8_t type; /* enum core_query_type of the left side */
	uint8_t attr; /* Q_CMP */
	uint16_t id;  /* index into the node array, for explain */
	uint16_t nvals;
	struct q_node *child; /* Q_AND, Q_OR: first of a list; Q_NOT: the operand */
	struct q_node *next;  /* next sibling in an and/or group */
	const char *pkg;      /* Q_HAS, Q_PKG: name or glob */
	struct q_value *vals; /* Q_CMP, Q_PKG */
};

struct core_query {
	struct q_node *root;
	unsigned deps;
	int nnodes;
};

/* ---- small helpers ---------------------------------------------------------- */

static char q_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool q_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool q_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool q_is_hex(char c)
{
	return q_is_digit(c) || (q_lower(c) >= 'a' && q_lower(c) <= 'f');
}

static bool q_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Does s[0..n) equal the lower-case word w, ignoring ASCII case? */
static bool q_word_eq(const char *s, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i] == '\0' || q_lower(s[i]) != w[i])
			return false;
	return w[n] == '\0';
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t q_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* A growing text with a fixed capacity that counts what did not fit, like
 * snprintf. cap excludes the terminating NUL. */
struct qbuf {
	char *buf;
	size_t cap;
	size_t len;
};

static void qb_init(struct qbuf *b, char *buf, size_t bufsz)
{
	b->buf = buf;
	b->cap = (buf && bufsz > 0) ? bufsz - 1 : 0;
	b->len = 0;
}

static void qb_putn(struct qbuf *b, const char *s, size_t n)
{
	if (b->len < b->cap) {
		size_t room = b->cap - b->len;

		memcpy(b->buf + b->len, s, n < room ? n : room);
	}
	b->len += n;
}

static void qb_puts(struct qbuf *b, const char *s)
{
	qb_putn(b, s, strlen(s));
}

static void qb_putc(struct qbuf *b, char c)
{
	qb_putn(b, &c, 1);
}

/* Terminate; when text was cut, end with "..." on a character boundary. */
static void qb_finish(struct qbuf *b, bool ellipsis)
{
	size_t end;

	if (!b->buf || b->cap == 0) {
		if (b->buf)
			b->buf[0] = '\0';
		return;
	}
	if (b->len <= b->cap) {
		b->buf[b->len] = '\0';
		return;
	}
	end = b->cap;
	if (ellipsis && end >= 3) {
		end -= 3;
		while (end > 0 && ((unsigned char)b->buf[end] & 0xc0) == 0x80)
			end--;
		memcpy(b->buf + end, "...", 3);
		end += 3;
	} else {
		while (end > 0 && ((unsigned char)b->buf[end] & 0xc0) == 0x80)
			end--;
	}
	b->buf[end] = '\0';
}

/* Quote untrusted bytes readably: printable ASCII as is, valid UTF-8 when
 * allowed, anything else as \xNN; \ and " escaped when quoting. Stops
 * after max input bytes and says so with "...". */
static void qb_put_safe(struct qbuf *b, const char *s, size_t n, size_t max, bool utf8, bool quote)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	if (quote)
		qb_putc(b, '"');
	while (i < n) {
		size_t k;

		if (i >= max) {
			qb_puts(b, "...");
			break;
		}
		if (u[i] >= 0x20 && u[i] < 0x7f) {
			if (quote && (u[i] == '"' || u[i] == '\\'))
				qb_putc(b, '\\');
			qb_putc(b, (char)u[i]);
			i++;
			continue;
		}
		k = utf8 && u[i] >= 0x80 ? q_utf8_len(u + i, n - i) : 0;
		if (k > 1) {
			qb_putn(b, s + i, k);
			i += k;
			continue;
		}
		{
			char hex[5];

			snprintf(hex, sizeof(hex), "\\x%02x", u[i]);
			qb_puts(b, hex);
		}
		i++;
	}
	if (quote)
		qb_putc(b, '"');
}

/* ---- like ------------------------------------------------------------------ */

/* Advance past one character: a UTF-8 lead byte and its continuations. */
static const char *q_next_char(const char *s)
{
	s++;
	while (((unsigned char)*s & 0xc0) == 0x80)
		s++;
	return s;
}

/* Glob match with * and ?, ASCII case-insensitive, counting steps. The
 * classic single-backtrack algorithm: O(len(pattern) * len(text)) at worst,
 * which the steps charge to the budget. */
static bool q_like(const char *pat, const char *s, uint64_t *steps)
{
	const char *star = NULL, *resume = NULL;
	uint64_t n = 0;
	bool ok;

	while (*s) {
		n++;
		if (*pat == '?') {
			pat++;
			s = q_next_char(s);
		} else if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat && q_lower(*pat) == q_lower(*s)) {
			pat++;
			s++;
		} else if (star) {
			pat = star + 1;
			resume = q_next_char(resume);
			s = resume;
		} else {
			break;
		}
	}
	if (*s) {
		ok = false;
	} else {
		while (*pat == '*')
			pat++;
		ok = *pat == '\0';
	}
	if (steps)
		*steps += n;
	return ok;
}

bool core_query_like(const char *pattern, const char *text)
{
	if (!pattern || !text)
		return false;
	return q_like(pattern, text, NULL);
}

/* ---- addresses ---------------------------------------------------------------- */

enum q_addr_rc { QA_OK, QA_BAD, QA_PREFIX, QA_HOSTBITS };

static int q_max_prefix(int family)
{
	return family == 4 ? 32 : 128;
}

static bool q_prefix_match(const uint8_t *net, const uint8_t *a, int prefix)
{
	int whole = prefix / 8, rest = prefix % 8;
	uint8_t mask;

	if (memcmp(net, a, (size_t)whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (net[whole] & mask) == (a[whole] & mask);
}

/* ::ffff:a.b.c.d is an IPv4 address wearing IPv6 clothes. */
static void q_unmap_v4(struct q_addr *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (a->family != 6 || memcmp(a->b, mapped, 12) != 0 || a->prefix < 96)
		return;
	memmove(a->b, a->b + 12, 4);
	memset(a->b + 4, 0, 12);
	a->family = 4;
	a->prefix = (uint8_t)(a->prefix - 96);
}

/* Parse "addr" or "addr/prefix" from s[0..n). With lenient (facts), a
 * %zone and host bits are accepted; queries must be exact. */
static enum q_addr_rc q_addr_parse(const char *s, size_t n, bool lenient, struct q_addr *out)
{
	char text[INET6_ADDRSTRLEN + 8];
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	struct q_addr a;
	int i;

	memset(&a, 0, sizeof(a));
	if (lenient) {
		const char *pct = memchr(s, '%', alen);

		if (pct)
			alen = (size_t)(pct - s);
	}
	if (alen == 0 || alen >= sizeof(text))
		return QA_BAD;
	memcpy(text, s, alen);
	text[alen] = '\0';
	if (memchr(text, ':', alen)) {
		if (inet_pton(AF_INET6, text, a.b) != 1)
			return QA_BAD;
		a.family = 6;
	} else {
		if (inet_pton(AF_INET, text, a.b) != 1)
			return QA_BAD;
		a.family = 4;
	}
	a.prefix = (uint8_t)q_max_prefix(a.family);
	if (slash) {
		const char *d = slash + 1, *end = s + n;
		int prefix = 0;

		if (d == end)
			return QA_PREFIX;
		if (end - d > 1 && *d == '0')
			return QA_PREFIX;
		for (; d < end; d++) {
			if (!q_is_digit(*d))
				return QA_PREFIX;
			prefix = prefix * 10 + (*d - '0');
			if (prefix > 128)
				return QA_PREFIX;
		}
		if (prefix > q_max_prefix(a.family))
			return QA_PREFIX;
		a.prefix = (uint8_t)prefix;
		a.has_prefix = 1;
	}
	if (!lenient) {
		struct q_addr net = a;

		for (i = 0; i < 16; i++) {
			int keep = a.prefix - i * 8;

			if (keep < 8)
				net.b[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
		}
		if (memcmp(net.b, a.b, sizeof(a.b)) != 0) {
			*out = net; /* so the caller can name the network */
			return QA_HOSTBITS;
		}
	}
	q_unmap_v4(&a);
	*out = a;
	return QA_OK;
}

static void qb_put_addr(struct qbuf *b, const struct q_addr *a)
{
	char text[INET6_ADDRSTRLEN];

	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, text, sizeof(text)))
		snprintf(text, sizeof(text), "?");
	qb_puts(b, text);
	if (a->has_prefix) {
		char pfx[8];

		snprintf(pfx, sizeof(pfx), "/%d", a->prefix);
		qb_puts(b, pfx);
	}
}

/* ---- canonical text ----------------------------------------------------------- */

enum { PREC_OR = 1, PREC_AND = 2, PREC_NOT = 3, PREC_ATOM = 4 };

static int q_prec(const struct q_node *n)
{
	switch (n->kind) {
	case Q_OR:
		return PREC_OR;
	case Q_AND:
		return PREC_AND;
	case Q_NOT:
		return PREC_NOT;
	}
	return PREC_ATOM;
}

/* Query strings hold printable ASCII and valid UTF-8 only (the tokenizer
 * made sure), so only " and \ need escaping. */
static void qb_put_string(struct qbuf *b, const char *s)
{
	qb_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			qb_putc(b, '\\');
		qb_putc(b, *s);
	}
	qb_putc(b, '"');
}

static void qb_put_value(struct qbuf *b, const struct q_value *v)
{
	char num[Q_NUMBER_TEXT];

	switch (v->kind) {
	case QV_STR:
		qb_put_string(b, v->s);
		break;
	case QV_NUM:
		snprintf(num, sizeof(num), "%" PRId64, v->num);
		qb_puts(b, num);
		break;
	default:
		qb_put_addr(b, &v->addr);
		break;
	}
}

static void q_format_node(struct qbuf *b, const struct q_node *n, int min_prec)
{
	const struct q_node *c;
	bool paren = q_prec(n) < min_prec;
	int i;

	if (paren)
		qb_putc(b, '(');
	switch (n->kind) {
	case Q_OR:
	case Q_AND:
		for (c = n->child; c; c = c->next) {
			if (c != n->child)
				qb_puts(b, n->kind == Q_OR ? " or " : " and ");
			q_format_node(b, c, n->kind == Q_OR ? PREC_OR : PREC_AND);
		}
		break;
	case Q_NOT:
		qb_puts(b, "not ");
		q_format_node(b, n->child, PREC_NOT);
		break;
	case Q_HAS:
		qb_puts(b, "has_package(");
		qb_put_string(b, n->pkg);
		qb_putc(b, ')');
		break;
	case Q_CMP:
	case Q_PKG:
		if (n->kind == Q_CMP) {
			qb_puts(b, query_attrs[n->attr].name);
		} else {
			qb_puts(b, "package(");
			qb_put_string(b, n->pkg);
			qb_puts(b, ").version");
		}
		qb_putc(b, ' ');
		qb_puts(b, q_op_text[n->op]);
		qb_putc(b, ' ');
		if (n->op != OP_IN || (n->type == CORE_QUERY_IP && n->nvals == 1)) {
			qb_put_value(b, &n->vals[0]);
			break;
		}
		qb_putc(b, '(');
		for (i = 0; i < n->nvals; i++) {
			if (i)
				qb_puts(b, ", ");
			qb_put_value(b, &n->vals[i]);
		}
		qb_putc(b, ')');
		break;
	}
	if (paren)
		qb_putc(b, ')');
}

int core_query_format(const struct core_query *q, char *buf, size_t bufsz)
{
	struct qbuf b;

	if (!q)
		return CORE_QUERY_EINVAL;
	qb_init(&b, buf, bufsz);
	q_format_node(&b, q->root, PREC_OR);
	qb_finish(&b, false);
	return (int)b.len;
}

unsigned core_query_deps(const struct core_query *q)
{
	return q ? q->deps : 0;
}

void core_query_free(struct core_query *q)
{
	free(q);
}

/* ---- tokenizer ---------------------------------------------------------------- */

enum q_tkind {
	T_END,
	T_ERR, /* the tokenizer failed; the parser's error is already set */
	T_IDENT,
	T_STRING,
	T_NUMBER,
	T_ADDR,
	T_LPAREN,
	T_RPAREN,
	T_COMMA,
	T_DOT,
	T_OP,
};

struct q_token {
	enum q_tkind kind;
	int col; /* 1-based byte column */
	const char *raw;
	size_t rawlen;
	enum q_op op;
	int64_t num;
	const char *str; /* T_STRING: unescaped, NUL-terminated (NULL while counting) */
	struct q_addr addr;
};

struct q_parser {
	const char *text;
	size_t len;
	size_t pos;
	struct q_token tok;
	bool counting;
	/* what the counting pass found */
	size_t n_tokens, n_values, n_numbers, n_strbytes;
	/* the arena, carved into three regions */
	struct q_node *nodes;
	int nnodes, nodes_cap;
	struct q_value *vals;
	size_t nvals, vals_cap;
	char *str;
	size_t str_used, str_cap;
	unsigned deps;
	struct core_query_error *err;
	int rc;
};

static void *q_fail(struct q_parser *p, int col, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record the first error only: later ones are consequences. */
static void *q_fail(struct q_parser *p, int col, int code, const char *fmt, ...)
{
	struct core_query_error *e = p->err;
	va_list ap;
	int n = 0;

	if (p->rc)
		return NULL;
	p->rc = code;
	e->code = code;
	e->column = col;
	if (col > 0)
		n = snprintf(e->message, sizeof(e->message), "column %d: ", col);
	if (n < 0 || (size_t)n >= sizeof(e->message))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(e->message + n, sizeof(e->message) - (size_t)n, fmt, ap);
	va_end(ap);
	return NULL;
}

/* Echo up to Q_ECHO_MAX bytes of input. */
static const char *q_echo(char out[Q_ECHO_BUF], const char *s, size_t n)
{
	struct qbuf b;

	qb_init(&b, out, Q_ECHO_BUF);
	qb_put_safe(&b, s, n, Q_ECHO_MAX, false, false);
	qb_finish(&b, false);
	return out;
}

/* "'and'", "\"abc\"", "end of query": how a message names a token. */
static const char *q_tokdesc(char out[Q_ECHO_BUF], const struct q_token *t)
{
	struct qbuf b;

	qb_init(&b, out, Q_ECHO_BUF);
	if (t->kind == T_END) {
		qb_puts(&b, "end of query");
		qb_finish(&b, false);
		return out;
	}
	if (t->kind != T_STRING)
		qb_putc(&b, '\'');
	qb_put_safe(&b, t->raw, t->rawlen, Q_ECHO_MAX, false, false);
	if (t->kind != T_STRING)
		qb_putc(&b, '\'');
	qb_finish(&b, false);
	return out;
}

static bool q_addr_char(char c)
{
	return q_is_alpha(c) || q_is_digit(c) || c == '.' || c == ':' || c == '/' || c == '_';
}

static void q_lex_string(struct q_parser *p, struct q_token *t)
{
	const char *s = p->text;
	size_t i = p->pos + 1, n = 0;
	char *dst = p->counting ? NULL : p->str + p->str_used;
	size_t room = p->counting ? 0 : p->str_cap - p->str_used;
	char echo[Q_ECHO_BUF];

	for (;;) {
		unsigned char c;
		size_t k = 1;

		if (i >= p->len) {
			q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			       "unterminated string; expected a closing '\"'");
			return;
		}
		c = (unsigned char)s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 >= p->len) {
				q_fail(p, t->col, CORE_QUERY_ESYNTAX,
				       "unterminated string; expected a closing '\"'");
				return;
			}
			c = (unsigned char)s[i + 1];
			if (c != '"' && c != '\\') {
				q_fail(p, (int)i + 1, CORE_QUERY_ESYNTAX,
				       "unknown escape '\\%s' in a string; only \\\" and \\\\ are "
				       "allowed",
				       q_echo(echo, s + i + 1, 1));
				return;
			}
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			q_fail(p, (int)i + 1, CORE_QUERY_ESYNTAX,
			       "control character %s in a string", q_echo(echo, s + i, 1));
			return;
		} else if (c >= 0x80) {
			k = q_utf8_len((const unsigned char *)s + i, p->len - i);
			if (k == 0) {
				q_fail(p, (int)i + 1, CORE_QUERY_ESYNTAX,
				       "invalid UTF-8 byte %s in a string", q_echo(echo, s + i, 1));
				return;
			}
		}
		if (n + k > CORE_QUERY_STRING_MAX) {
			q_fail(p, t->col, CORE_QUERY_ELIMIT, "string longer than %d bytes",
			       CORE_QUERY_STRING_MAX);
			return;
		}
		/* The counting pass reserved room for every string that
		 * lexes; one that fails may not fit, and is not kept. */
		if (dst && n + k < room)
			memcpy(dst + n, k == 1 ? (const char *)&c : s + i, k);
		n += k;
		i += k;
	}
	if (dst) {
		if (n >= room) {
			q_fail(p, t->col, CORE_QUERY_ENOMEM, "internal error: string arena full");
			return;
		}
		dst[n] = '\0';
		t->str = dst;
		p->str_used += n + 1;
	} else {
		p->n_strbytes += n + 1;
	}
	t->kind = T_STRING;
	t->rawlen = i + 1 - p->pos;
	p->pos = i + 1;
}

/* A run of digits, letters, '.', ':', '/' (and '_' so "1_000" is one bad
 * token): a number, an address or a mistake. */
static void q_lex_word(struct q_parser *p, struct q_token *t, size_t start)
{
	const char *s = p->text;
	size_t end = start, i;
	bool negative = s[start] == '-';
	bool digits = true, addrish = false;
	char echo[Q_ECHO_BUF], net[Q_ECHO_BUF];

	if (negative)
		end++;
	while (end < p->len && q_addr_char(s[end]))
		end++;
	t->raw = s + start;
	t->rawlen = end - start;
	p->pos = end;
	for (i = start + negative; i < end; i++) {
		if (!q_is_digit(s[i]))
			digits = false;
		if (s[i] == '.' || s[i] == ':')
			addrish = true;
	}
	if (digits && end > start + negative) {
		uint64_t v = 0, lim = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

		for (i = start + negative; i < end; i++) {
			unsigned d = (unsigned)(s[i] - '0');

			if (v > (lim - d) / 10) {
				q_fail(p, t->col, CORE_QUERY_ESYNTAX,
				       "number %s is out of range (a 64-bit integer)",
				       q_echo(echo, t->raw, t->rawlen));
				return;
			}
			v = v * 10 + d;
		}
		t->kind = T_NUMBER;
		t->num = negative ? (int64_t)(0 - v) : (int64_t)v;
		if (p->counting)
			p->n_numbers++;
		return;
	}
	if (addrish && !negative) {
		struct q_addr a;

		switch (q_addr_parse(t->raw, t->rawlen, false, &a)) {
		case QA_OK:
			t->kind = T_ADDR;
			t->addr = a;
			return;
		case QA_HOSTBITS: {
			struct qbuf b;

			qb_init(&b, net, sizeof(net));
			qb_put_addr(&b, &a);
			qb_finish(&b, false);
			q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			       "%s has host bits set; the network is %s",
			       q_echo(echo, t->raw, t->rawlen), net);
			return;
		}
		case QA_PREFIX:
			q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			       "%s has a bad prefix length; expected /0 to /%d",
			       q_echo(echo, t->raw, t->rawlen),
			       memchr(t->raw, ':', t->rawlen) ? 128 : 32);
			return;
		default:
			break;
		}
	}
	q_fail(p, t->col, CORE_QUERY_ESYNTAX,
	       "'%s' is not a number or an IP address; put versions and other text in double "
	       "quotes",
	       q_echo(echo, t->raw, t->rawlen));
}

/* Read the next token into p->tok. */
static void q_next(struct q_parser *p)
{
	struct q_token *t = &p->tok;
	const char *s = p->text;
	char c, echo[Q_ECHO_BUF];
	size_t start, end;

	memset(t, 0, sizeof(*t));
	if (p->rc) {
		t->kind = T_ERR;
		return;
	}
	while (p->pos < p->len && q_is_space(s[p->pos]))
		p->pos++;
	start = p->pos;
	t->col = (int)start + 1;
	t->raw = s + start;
	if (start >= p->len) {
		t->kind = T_END;
		return;
	}
	c = s[start];
	t->rawlen = 1;
	p->pos = start + 1;
	switch (c) {
	case '(':
		t->kind = T_LPAREN;
		return;
	case ')':
		t->kind = T_RPAREN;
		return;
	case ',':
		t->kind = T_COMMA;
		return;
	case '.':
		t->kind = T_DOT;
		return;
	case '"':
		p->pos = start;
		q_lex_string(p, t);
		break;
	case '=':
	case '!':
	case '<':
	case '>': {
		char d = start + 1 < p->len ? s[start + 1] : '\0';

		t->kind = T_OP;
		if (c == '=') {
			t->op = OP_EQ;
			if (d == '=')
				t->rawlen = 2;
		} else if (c == '!') {
			if (d != '=') {
				q_fail(p, t->col, CORE_QUERY_ESYNTAX,
				       "unexpected '!'; did you mean '!=' or 'not'?");
				break;
			}
			t->op = OP_NE;
			t->rawlen = 2;
		} else if (c == '<') {
			t->op = d == '=' ? OP_LE : d == '>' ? OP_NE : OP_LT;
			t->rawlen = (d == '=' || d == '>') ? 2 : 1;
		} else {
			t->op = d == '=' ? OP_GE : OP_GT;
			t->rawlen = d == '=' ? 2 : 1;
		}
		p->pos = start + t->rawlen;
		break;
	}
	default:
		if (q_is_digit(c) || c == ':' ||
		    (c == '-' && start + 1 < p->len && q_is_digit(s[start + 1]))) {
			q_lex_word(p, t, start);
			break;
		}
		if (q_is_alpha(c) || c == '_') {
			bool hex = true;

			for (end = start;
			     end < p->len && (q_is_alpha(s[end]) || q_is_digit(s[end]) ||
					      s[end] == '_' || s[end] == '.');
			     end++)
				if (!q_is_hex(s[end]))
					hex = false;
			/* "fe80::1" starts like a name. */
			if (hex && end < p->len && s[end] == ':') {
				q_lex_word(p, t, start);
				break;
			}
			t->kind = T_IDENT;
			t->rawlen = end - start;
			p->pos = end;
			break;
		}
		q_fail(p, t->col, CORE_QUERY_ESYNTAX, "unexpected character '%s'",
		       q_echo(echo, s + start, 1));
		break;
	}
	if (p->rc)
		t->kind = T_ERR;
}

static bool q_is_kw(const struct q_token *t, const char *w)
{
	return t->kind == T_IDENT && q_word_eq(t->raw, t->rawlen, w);
}

/* ---- parser -------------------------------------------------------------------- */

static struct q_node *q_new_node(struct q_parser *p, enum q_kind kind, int col)
{
	struct q_node *n;

	if (p->nnodes >= CORE_QUERY_NODES_MAX)
		return q_fail(p, col, CORE_QUERY_ELIMIT,
			      "query has more than %d nodes (comparisons, predicates, 'not's and "
			      "and/or groups)",
			      CORE_QUERY_NODES_MAX);
	if (p->nnodes >= p->nodes_cap)
		return q_fail(p, col, CORE_QUERY_ENOMEM, "internal error: node arena full");
	n = &p->nodes[p->nnodes];
	memset(n, 0, sizeof(*n));
	n->id = (uint16_t)p->nnodes++;
	n->kind = (uint8_t)kind;
	return n;
}

static struct q_value *q_new_value(struct q_parser *p, int col)
{
	struct q_value *v;

	if (p->nvals >= p->vals_cap)
		return q_fail(p, col, CORE_QUERY_ENOMEM, "internal error: value arena full");
	v = &p->vals[p->nvals++];
	memset(v, 0, sizeof(*v));
	return v;
}

/* Optimal string alignment distance (edits and transpositions), ASCII
 * case-insensitive; a and b at most Q_NAME_CMP_MAX bytes. */
static int q_distance(const char *a, size_t an, const char *b, size_t bn)
{
	int d[Q_NAME_CMP_MAX + 1][Q_NAME_CMP_MAX + 1];
	size_t i, j;

	for (i = 0; i <= an; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= bn; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= an; i++) {
		for (j = 1; j <= bn; j++) {
			int cost = q_lower(a[i - 1]) != q_lower(b[j - 1]);
			int v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && q_lower(a[i - 1]) == q_lower(b[j - 2]) &&
			    q_lower(a[i - 2]) == q_lower(b[j - 1]) && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[an][bn];
}

/* The closest of names to s[0..n) within Q_SUGGEST_MAX edits, or NULL. */
static const char *q_suggest(const char *s, size_t n, const char *const *names, size_t nnames,
			     size_t stride)
{
	const char *best = NULL;
	int best_d = Q_SUGGEST_MAX + 1;
	size_t i;

	if (n > Q_NAME_CMP_MAX)
		return NULL;
	for (i = 0; i < nnames; i++) {
		const char *name = *(const char *const *)((const char *)names + i * stride);
		size_t len = strlen(name);
		int d;

		if (len > Q_NAME_CMP_MAX)
			continue;
		d = q_distance(s, n, name, len);
		/* Two edits turn "os" into "ip": only suggest when most of
		 * what was typed survives. */
		if (d < best_d && (size_t)d < n) {
			best = name;
			best_d = d;
		}
	}
	return best;
}

int core_query_attr_find(const char *name)
{
	int i;

	if (!name)
		return -1;
	for (i = 0; i < CORE_QUERY_ATTR_COUNT; i++)
		if (q_word_eq(name, strlen(name), query_attrs[i].name))
			return i;
	return -1;
}

static int q_attr_lookup(const char *s, size_t n)
{
	int i;

	for (i = 0; i < CORE_QUERY_ATTR_COUNT; i++)
		if (q_word_eq(s, n, query_attrs[i].name))
			return i;
	return -1;
}

static void *q_unknown_name(struct q_parser *p)
{
	const struct q_token *t = &p->tok;
	const char *s = p->text;
	size_t i = p->pos;
	const char *hint;
	char echo[Q_ECHO_BUF];

	while (i < p->len && q_is_space(s[i]))
		i++;
	q_echo(echo, t->raw, t->rawlen);
	if (i < p->len && s[i] == '(') {
		hint = q_suggest(t->raw, t->rawlen, query_functions,
				 sizeof(query_functions) / sizeof(query_functions[0]),
				 sizeof(query_functions[0]));
		if (hint)
			return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
				      "unknown function '%s' (did you mean '%s'?)", echo, hint);
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			      "unknown function '%s'; expected has_package(...) or "
			      "package(...).version",
			      echo);
	}
	hint = q_suggest(t->raw, t->rawlen, &query_attrs[0].name, CORE_QUERY_ATTR_COUNT,
			 sizeof(query_attrs[0]));
	if (hint)
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			      "unknown attribute '%s' (did you mean '%s'?)", echo, hint);
	{
		char list[CORE_QUERY_MSG_MAX];
		struct qbuf b;
		int k;

		qb_init(&b, list, sizeof(list));
		for (k = 0; k < CORE_QUERY_ATTR_COUNT; k++) {
			if (k)
				qb_puts(&b, ", ");
			qb_puts(&b, query_attrs[k].name);
		}
		qb_finish(&b, false);
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX, "unknown attribute '%s'; known: %s",
			      echo, list);
	}
}

/* Check a value token against what it is compared with and store it.
 * subject names the left side in messages; after is the text before the
 * value ("=", "(", ","). */
static struct q_value *q_parse_value(struct q_parser *p, const struct q_node *n,
				     const char *subject, const char *after)
{
	const struct q_token *t = &p->tok;
	struct q_value *v;
	char found[Q_ECHO_BUF], net[Q_ECHO_BUF];
	bool ordering = n->op >= OP_LT && n->op <= OP_GE;
	const char *text = NULL;

	if (t->kind == T_ERR)
		return NULL;
	q_tokdesc(found, t);
	if (t->kind != T_STRING && t->kind != T_NUMBER && t->kind != T_ADDR)
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			      "expected a value after '%s' but found %s", after, found);
	v = q_new_value(p, t->col);
	if (!v)
		return NULL;
	if (n->op == OP_LIKE) {
		if (t->kind != T_STRING)
			return q_fail(p, t->col, CORE_QUERY_ETYPE,
				      "expected a pattern in double quotes after 'like' but found "
				      "%s",
				      found);
		v->kind = QV_STR;
		v->s = t->str;
		q_next(p);
		return v;
	}
	switch (n->type) {
	case CORE_QUERY_NUMBER:
		if (t->kind != T_NUMBER)
			return q_fail(p, t->col, CORE_QUERY_ETYPE,
				      "expected a number after '%s' (%s is a number) but found %s",
				      after, subject, found);
		v->kind = QV_NUM;
		v->num = t->num;
		break;
	case CORE_QUERY_STRING:
		if (t->kind != T_STRING)
			return q_fail(p, t->col, CORE_QUERY_ETYPE,
				      "expected a string in double quotes after '%s' (%s is text) "
				      "but found %s",
				      after, subject, found);
		v->kind = QV_STR;
		v->s = t->str;
		break;
	case CORE_QUERY_VERSION:
		if (t->kind == T_ADDR)
			return q_fail(p, t->col, CORE_QUERY_ETYPE,
				      "expected a version in double quotes after '%s' (%s is a "
				      "version) but found %s",
				      after, subject, found);
		if (t->kind == T_NUMBER) {
			char *dst = p->str + p->str_used;

			if (p->str_cap - p->str_used < Q_NUMBER_TEXT)
				return q_fail(p, t->col, CORE_QUERY_ENOMEM,
					      "internal error: string arena full");
			snprintf(dst, Q_NUMBER_TEXT, "%" PRId64, t->num);
			p->str_used += strlen(dst) + 1;
			v->kind = QV_NUM;
			v->num = t->num;
			text = dst;
		} else {
			v->kind = QV_STR;
			text = t->str;
		}
		v->s = text;
		if (ordering && !core_debver_valid(text))
			return q_fail(p, t->col, CORE_QUERY_ETYPE,
				      "expected a Debian version such as \"3.0.11-1\" after '%s' "
				      "but found %s",
				      after, found);
		break;
	case CORE_QUERY_IP:
		if (t->kind == T_ADDR) {
			v->addr = t->addr;
		} else {
			enum q_addr_rc rc = QA_BAD;

			if (t->kind == T_STRING)
				rc = q_addr_parse(t->str, strlen(t->str), false, &v->addr);
			if (rc == QA_HOSTBITS) {
				struct qbuf b;

				qb_init(&b, net, sizeof(net));
				qb_put_addr(&b, &v->addr);
				qb_finish(&b, false);
				return q_fail(p, t->col, CORE_QUERY_ETYPE,
					      "%s has host bits set; the network is %s", found,
					      net);
			}
			if (rc != QA_OK)
				return q_fail(p, t->col, CORE_QUERY_ETYPE,
					      "expected an IP address or network after '%s' (%s is "
					      "an address) but found %s",
					      after, subject, found);
		}
		v->kind = QV_ADDR;
		if ((n->op == OP_EQ || n->op == OP_NE) &&
		    v->addr.prefix < q_max_prefix(v->addr.family)) {
			struct qbuf b;

			qb_init(&b, net, sizeof(net));
			qb_put_addr(&b, &v->addr);
			qb_finish(&b, false);
			return q_fail(p, t->col, CORE_QUERY_ETYPE,
				      "expected a single address after '%s' but found the network "
				      "%s; write '%s in %s'",
				      after, net, subject, net);
		}
		break;
	}
	q_next(p);
	return v;
}

/* The operator and right side of a comparison; p->tok is the operator. */
static struct q_node *q_parse_rhs(struct q_parser *p, struct q_node *n, const char *subject)
{
	struct q_token *t = &p->tok;
	char found[Q_ECHO_BUF], optext[Q_ECHO_BUF];
	const char *after;
	int op;

	if (t->kind == T_ERR)
		return NULL;
	if (t->kind == T_OP)
		op = t->op;
	else if (q_is_kw(t, "like"))
		op = OP_LIKE;
	else if (q_is_kw(t, "in"))
		op = OP_IN;
	else
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			      "expected an operator (= != < <= > >= like in) after '%s' but found "
			      "%s",
			      subject, q_tokdesc(found, t));
	q_echo(optext, t->raw, t->rawlen);
	if (op == OP_LIKE && n->type == CORE_QUERY_NUMBER)
		return q_fail(p, t->col, CORE_QUERY_ETYPE,
			      "'like' does not apply to %s, a number; use = != < <= > >= or in",
			      subject);
	if (op >= OP_LT && op <= OP_GE && n->type == CORE_QUERY_IP)
		return q_fail(p, t->col, CORE_QUERY_ETYPE,
			      "'%s' does not apply to %s, an address; use = != in or like", optext,
			      subject);
	n->op = (uint8_t)op;
	q_next(p);
	n->vals = p->vals + p->nvals;
	if (op != OP_IN) {
		if (!q_parse_value(p, n, subject, optext))
			return NULL;
		n->nvals = 1;
		return n;
	}
	if (t->kind != T_LPAREN) {
		if (n->type == CORE_QUERY_IP && (t->kind == T_ADDR || t->kind == T_STRING)) {
			if (!q_parse_value(p, n, subject, "in"))
				return NULL;
			n->nvals = 1;
			return n;
		}
		if (t->kind == T_ERR)
			return NULL;
		return q_fail(
		    p, t->col, CORE_QUERY_ESYNTAX, "expected '(' %safter 'in' but found %s",
		    n->type == CORE_QUERY_IP ? "or an address " : "", q_tokdesc(found, t));
	}
	after = "(";
	q_next(p);
	for (;;) {
		if (n->nvals >= CORE_QUERY_LIST_MAX)
			return q_fail(p, t->col, CORE_QUERY_ELIMIT,
				      "more than %d values in the list", CORE_QUERY_LIST_MAX);
		if (!q_parse_value(p, n, subject, after))
			return NULL;
		n->nvals++;
		if (t->kind == T_COMMA) {
			after = ",";
			q_next(p);
			continue;
		}
		if (t->kind == T_RPAREN) {
			q_next(p);
			return n;
		}
		if (t->kind == T_ERR)
			return NULL;
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			      "expected ',' or ')' in the list but found %s", q_tokdesc(found, t));
	}
}

/* NAME ( "pkg" ) for has_package and package; leaves p->tok after ')'. */
static const char *q_parse_pkgname(struct q_parser *p, const char *fname)
{
	struct q_token *t = &p->tok;
	char found[Q_ECHO_BUF];
	const char *name, *c;

	q_next(p);
	if (t->kind == T_ERR)
		return NULL;
	if (t->kind != T_LPAREN)
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX, "expected '(' after '%s' but found %s",
			      fname, q_tokdesc(found, t));
	q_next(p);
	if (t->kind == T_ERR)
		return NULL;
	if (t->kind != T_STRING)
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			      "expected a package name in double quotes after '(' but found %s",
			      q_tokdesc(found, t));
	name = t->str;
	if (!name[0])
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX, "empty package name");
	for (c = name; *c; c++)
		if (*c == ' ')
			return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
				      "package name %s contains a space", q_tokdesc(found, t));
	q_next(p);
	if (t->kind == T_ERR)
		return NULL;
	if (t->kind != T_RPAREN)
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			      "expected ')' after the package name but found %s",
			      q_tokdesc(found, t));
	q_next(p);
	return name;
}

static struct q_node *q_parse_package(struct q_parser *p, bool has)
{
	struct q_token *t = &p->tok;
	char found[Q_ECHO_BUF], subject[Q_ECHO_BUF + 32];
	struct q_node *n;
	const char *name;
	int col = t->col;

	n = q_new_node(p, has ? Q_HAS : Q_PKG, col);
	if (!n)
		return NULL;
	name = q_parse_pkgname(p, has ? "has_package" : "package");
	if (!name)
		return NULL;
	n->pkg = name;
	n->type = CORE_QUERY_VERSION;
	p->deps |= CORE_QUERY_DEP_SOFTWARE;
	if (has)
		return n;
	snprintf(subject, sizeof(subject), "package(\"%s\").version",
		 q_echo(found, name, strlen(name)));
	if (t->kind == T_ERR)
		return NULL;
	if (t->kind != T_DOT)
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			      "expected '.version' after 'package(\"%s\")' but found %s",
			      q_echo(found, name, strlen(name)), q_tokdesc(subject, t));
	q_next(p);
	if (t->kind == T_ERR)
		return NULL;
	if (!q_is_kw(t, "version"))
		return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
			      "expected 'version' after '.' but found %s", q_tokdesc(found, t));
	q_next(p);
	return q_parse_rhs(p, n, subject);
}

static struct q_node *q_parse_group(struct q_parser *p, int depth, enum q_kind kind);

static struct q_node *q_parse_primary(struct q_parser *p, int depth)
{
	struct q_token *t = &p->tok;
	char found[Q_ECHO_BUF];
	struct q_node *n;
	int attr, col = t->col;

	switch (t->kind) {
	case T_ERR:
		return NULL;
	case T_LPAREN:
		if (depth >= CORE_QUERY_DEPTH_MAX)
			return q_fail(p, col, CORE_QUERY_ELIMIT,
				      "nesting deeper than %d (parentheses and 'not's)",
				      CORE_QUERY_DEPTH_MAX);
		q_next(p);
		n = q_parse_group(p, depth + 1, Q_OR);
		if (!n)
			return NULL;
		if (t->kind == T_ERR)
			return NULL;
		if (t->kind != T_RPAREN)
			return q_fail(p, t->col, CORE_QUERY_ESYNTAX,
				      "expected 'and', 'or' or ')' but found %s",
				      q_tokdesc(found, t));
		q_next(p);
		return n;
	case T_IDENT:
		if (q_is_kw(t, "has_package"))
			return q_parse_package(p, true);
		if (q_is_kw(t, "package"))
			return q_parse_package(p, false);
		attr = q_attr_lookup(t->raw, t->rawlen);
		if (attr >= 0) {
			n = q_new_node(p, Q_CMP, col);
			if (!n)
				return NULL;
			n->attr = (uint8_t)attr;
			n->type = (uint8_t)query_attrs[attr].type;
			p->deps |= query_attrs[attr].dep;
			q_next(p);
			return q_parse_rhs(p, n, query_attrs[attr].name);
		}
		if (!q_is_kw(t, "and") && !q_is_kw(t, "or") && !q_is_kw(t, "like") &&
		    !q_is_kw(t, "in"))
			return q_unknown_name(p);
		break;
	default:
		break;
	}
	return q_fail(p, col, CORE_QUERY_ESYNTAX,
		      "expected a condition (an attribute, 'not', '(', has_package or package) "
		      "but found %s",
		      q_tokdesc(found, t));
}

static struct q_node *q_parse_not(struct q_parser *p, int depth)
{
	struct q_node *n;
	int col = p->tok.col;

	if (!q_is_kw(&p->tok, "not"))
		return q_parse_primary(p, depth);
	if (depth >= CORE_QUERY_DEPTH_MAX)
		return q_fail(p, col, CORE_QUERY_ELIMIT,
			      "nesting deeper than %d (parentheses and 'not's)",
			      CORE_QUERY_DEPTH_MAX);
	n = q_new_node(p, Q_NOT, col);
	if (!n)
		return NULL;
	q_next(p);
	n->child = q_parse_not(p, depth + 1);
	return n->child ? n : NULL;
}

/* kind (Q_OR or Q_AND) chains of the next tighter level, flattened. */
static struct q_node *q_parse_group(struct q_parser *p, int depth, enum q_kind kind)
{
	const char *word = kind == Q_OR ? "or" : "and";
	struct q_node *first, *group = NULL, *last = NULL, *rhs;

	first = kind == Q_OR ? q_parse_group(p, depth, Q_AND) : q_parse_not(p, depth);
	if (!first)
		return NULL;
	while (q_is_kw(&p->tok, word)) {
		int col = p->tok.col;

		q_next(p);
		rhs = kind == Q_OR ? q_parse_group(p, depth, Q_AND) : q_parse_not(p, depth);
		if (!rhs)
			return NULL;
		if (!group) {
			/* "(a and b) and c" extends the parenthesised group. */
			if (first->kind == kind) {
				group = first;
			} else {
				group = q_new_node(p, kind, col);
				if (!group)
					return NULL;
				group->child = first;
			}
			for (last = group->child; last->next; last = last->next)
				;
		}
		last->next = rhs->kind == kind ? rhs->child : rhs;
		while (last->next)
			last = last->next;
	}
	return group ? group : first;
}

int core_query_parse(const char *text, struct core_query **out, struct core_query_error *err)
{
	struct core_query_error local;
	struct q_parser p;
	struct core_query *q = NULL;
	size_t len, off_nodes, off_vals, off_str, total;
	struct q_node *root;
	char found[Q_ECHO_BUF];

	if (!err)
		err = &local;
	memset(err, 0, sizeof(*err));
	if (out)
		*out = NULL;
	if (!text || !out) {
		err->code = CORE_QUERY_EINVAL;
		snprintf(err->message, sizeof(err->message), "no query given");
		return CORE_QUERY_EINVAL;
	}
	memset(&p, 0, sizeof(p));
	p.err = err;
	len = strnlen(text, CORE_QUERY_TEXT_MAX + 1);
	if (len > CORE_QUERY_TEXT_MAX) {
		q_fail(&p, CORE_QUERY_TEXT_MAX + 1, CORE_QUERY_ELIMIT,
		       "query is longer than %d bytes", CORE_QUERY_TEXT_MAX);
		return p.rc;
	}
	p.text = text;
	p.len = len;

	/* Pass 1: count what the arena must hold, up to the first bad token
	 * (the parser cannot get past it either). */
	p.counting = true;
	for (;;) {
		q_next(&p);
		if (p.tok.kind == T_END || p.tok.kind == T_ERR)
			break;
		p.n_tokens++;
		if (p.tok.kind == T_STRING || p.tok.kind == T_NUMBER || p.tok.kind == T_ADDR)
			p.n_values++;
	}
	p.counting = false;
	p.rc = 0;
	memset(err, 0, sizeof(*err));

	p.nodes_cap = p.n_tokens < CORE_QUERY_NODES_MAX ? (int)p.n_tokens : CORE_QUERY_NODES_MAX;
	p.vals_cap = p.n_values;
	p.str_cap = p.n_strbytes + p.n_numbers * Q_NUMBER_TEXT + 1;
	off_nodes = (sizeof(struct core_query) + 15) & ~(size_t)15;
	off_vals = off_nodes + (((size_t)p.nodes_cap * sizeof(struct q_node) + 15) & ~(size_t)15);
	off_str = off_vals + ((p.vals_cap * sizeof(struct q_value) + 15) & ~(size_t)15);
	total = off_str + p.str_cap;
	q = malloc(total);
	if (!q) {
		q_fail(&p, 0, CORE_QUERY_ENOMEM, "out of memory parsing the query");
		return p.rc;
	}
	memset(q, 0, sizeof(*q));
	p.nodes = (struct q_node *)(void *)((char *)q + off_nodes);
	p.vals = (struct q_value *)(void *)((char *)q + off_vals);
	p.str = (char *)q + off_str;

	/* Pass 2: parse. */
	p.pos = 0;
	q_next(&p);
	root = q_parse_group(&p, 0, Q_OR);
	if (root && p.tok.kind != T_END && p.tok.kind != T_ERR)
		q_fail(&p, p.tok.col, CORE_QUERY_ESYNTAX,
		       "expected 'and', 'or' or end of query but found %s",
		       q_tokdesc(found, &p.tok));
	if (!root && !p.rc)
		q_fail(&p, 0, CORE_QUERY_ENOMEM, "internal error: no query built");
	if (p.rc)
		goto fail;
	q->root = root;
	q->deps = p.deps;
	q->nnodes = p.nnodes;

	/* The canonical text must parse again: keep it within the cap too. */
	total = (size_t)core_query_format(q, NULL, 0);
	if (total > CORE_QUERY_TEXT_MAX) {
		q_fail(&p, 0, CORE_QUERY_ELIMIT,
		       "query is longer than %d bytes once normalised (%zu bytes)",
		       CORE_QUERY_TEXT_MAX, total);
		goto fail;
	}
	*out = q;
	return 0;
fail:
	free(q);
	return p.rc;
}

/* ---- evaluation ------------------------------------------------------------------ */

struct q_memo {
	int8_t result; /* -1 not evaluated, else 0 or 1 */
	char ev[Q_EVIDENCE_MAX];
};

struct q_eval {
	const struct core_query_facts *f;
	uint64_t budget;
	uint64_t used;
	struct q_memo *memo; /* explain only */
};

static int q_charge(struct q_eval *e, uint64_t units)
{
	e->used = e->used > UINT64_MAX - units ? UINT64_MAX : e->used + units;
	return e->used > e->budget ? CORE_QUERY_EBUDGET : 0;
}

/* like, paying for its steps. */
static int q_like_charged(struct q_eval *e, const char *pat, const char *s)
{
	uint64_t steps = 0;
	bool ok = q_like(pat, s, &steps);
	int rc = q_charge(e, 1 + steps / Q_LIKE_STEPS);

	return rc ? rc : ok;
}

/* One fact value, read once for all the values it is compared with. */
struct q_fact {
	const char *text;
	bool num_ok;
	int64_t num;
	bool addr_ok;
	struct q_addr addr;
};

static bool q_parse_int64(const char *s, int64_t *out)
{
	bool neg = *s == '-';
	uint64_t v = 0, lim;

	if (neg)
		s++;
	if (!*s)
		return false;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s; s++) {
		unsigned d;

		if (!q_is_digit(*s))
			return false;
		d = (unsigned)(*s - '0');
		if (v > (lim - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

static void q_fact_read(struct q_fact *fa, const char *text, int type, int op)
{
	memset(fa, 0, sizeof(*fa));
	fa->text = text;
	if (op == OP_LIKE)
		return;
	if (type == CORE_QUERY_NUMBER)
		fa->num_ok = q_parse_int64(text, &fa->num);
	else if (type == CORE_QUERY_IP)
		fa->addr_ok = q_addr_parse(text, strlen(text), true, &fa->addr) == QA_OK;
}

static bool q_op_holds(int op, int c)
{
	switch (op) {
	case OP_EQ:
	case OP_IN:
		return c == 0;
	case OP_NE:
		return c != 0;
	case OP_LT:
		return c < 0;
	case OP_LE:
		return c <= 0;
	case OP_GT:
		return c > 0;
	default:
		return c >= 0;
	}
}

/* Does fact fa satisfy "op v"? 1, 0 or a negative error. */
static int q_match_one(struct q_eval *e, int type, int op, const struct q_value *v,
		       const struct q_fact *fa)
{
	int rc, c;

	if (op == OP_LIKE)
		return q_like_charged(e, v->s, fa->text);
	rc = q_charge(e, 1);
	if (rc)
		return rc;
	switch (type) {
	case CORE_QUERY_STRING:
		c = strcmp(fa->text, v->s);
		break;
	case CORE_QUERY_NUMBER:
		if (!fa->num_ok)
			return 0;
		c = fa->num < v->num ? -1 : fa->num > v->num;
		break;
	case CORE_QUERY_VERSION:
		c = core_debver_cmp(fa->text, v->s);
		break;
	default:
		if (!fa->addr_ok || fa->addr.family != v->addr.family)
			return op == OP_NE && fa->addr_ok;
		c = q_prefix_match(v->addr.b, fa->addr.b, v->addr.prefix) ? 0 : 1;
		break;
	}
	return q_op_holds(op, c);
}

/* Does one fact value satisfy node n (a comparison or a package version)? */
static int q_match_fact(struct q_eval *e, const struct q_node *n, const char *text)
{
	struct q_fact fa;
	int i, r = 0;

	q_fact_read(&fa, text, n->type, n->op);
	for (i = 0; i < n->nvals && r == 0; i++)
		r = q_match_one(e, n->type, n->op, &n->vals[i], &fa);
	return r;
}

/* Evidence: how a fact value reads in an explanation. */
static void qb_put_fact(struct qbuf *b, int type, const char *text)
{
	bool quote = type == CORE_QUERY_STRING || type == CORE_QUERY_VERSION;

	qb_put_safe(b, text, strlen(text), Q_EVIDENCE_ECHO, true, quote);
}

static void q_evidence_cmp(struct q_memo *m, const struct q_node *n, const char *const *vals,
			   int nv, int witness)
{
	const char *name = query_attrs[n->attr].name;
	struct qbuf b;
	int i, shown = 0, present = 0;

	qb_init(&b, m->ev, sizeof(m->ev));
	qb_puts(&b, name);
	if (witness >= 0) {
		qb_puts(&b, " is ");
		qb_put_fact(&b, n->type, vals[witness]);
		qb_finish(&b, true);
		return;
	}
	for (i = 0; i < nv; i++)
		present += vals[i] != NULL;
	if (present == 0) {
		qb_puts(&b, " has no value");
		qb_finish(&b, true);
		return;
	}
	qb_puts(&b, " is ");
	for (i = 0; i < nv && shown < Q_EVIDENCE_VALS; i++) {
		if (!vals[i])
			continue;
		if (shown++)
			qb_puts(&b, ", ");
		qb_put_fact(&b, n->type, vals[i]);
	}
	if (present > shown) {
		char more[32];

		snprintf(more, sizeof(more), " and %d more", present - shown);
		qb_puts(&b, more);
	}
	qb_finish(&b, true);
}

static int q_eval_cmp(struct q_eval *e, const struct q_node *n)
{
	const char *const *vals = NULL;
	int nv = 0, i, witness = -1, rc;

	rc = q_charge(e, 1);
	if (rc)
		return rc;
	if (e->f->get) {
		nv = e->f->get(e->f->ctx, (enum core_query_attr_id)n->attr, &vals);
		if (nv < 0 || (nv > 0 && !vals))
			return CORE_QUERY_EFACTS;
	}
	for (i = 0; i < nv; i++) {
		if (!vals[i])
			continue;
		rc = q_match_fact(e, n, vals[i]);
		if (rc < 0)
			return rc;
		if (rc) {
			witness = i;
			break;
		}
	}
	if (e->memo)
		q_evidence_cmp(&e->memo[n->id], n, vals, nv, witness);
	return witness >= 0;
}

struct q_pkgwalk {
	struct q_eval *e;
	const struct q_node *n;
	int stop;      /* 1 found, <0 error, 0 go on */
	uint64_t seen; /* packages whose name matched */
	char name[Q_EVIDENCE_ECHO + 1];
	char version[Q_EVIDENCE_ECHO + 1];
};

static void q_copy_capped(char *dst, size_t dstsz, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= dstsz)
		n = dstsz - 1;
	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

static int q_pkg_visit(void *vctx, const char *name, const char *version)
{
	struct q_pkgwalk *w = vctx;
	int rc;

	if (w->stop)
		return 1; /* the provider ignored a stop: keep saying so */
	if (!name)
		return 0;
	rc = q_like_charged(w->e, w->n->pkg, name);
	if (rc < 0) {
		w->stop = rc;
		return 1;
	}
	if (!rc)
		return 0;
	if (w->seen++ == 0 && w->e->memo) {
		q_copy_capped(w->name, sizeof(w->name), name);
		q_copy_capped(w->version, sizeof(w->version), version);
	}
	if (w->n->kind == Q_PKG) {
		if (!version)
			return 0;
		rc = q_match_fact(w->e, w->n, version);
		if (rc < 0) {
			w->stop = rc;
			return 1;
		}
		if (!rc)
			return 0;
	}
	if (w->e->memo) {
		q_copy_capped(w->name, sizeof(w->name), name);
		q_copy_capped(w->version, sizeof(w->version), version);
	}
	w->stop = 1;
	return 1;
}

static void q_evidence_pkg(struct q_memo *m, const struct q_node *n, const struct q_pkgwalk *w)
{
	struct qbuf b;
	bool glob = strpbrk(n->pkg, "*?") != NULL;

	qb_init(&b, m->ev, sizeof(m->ev));
	if (w->stop == 1 || (n->kind == Q_PKG && w->seen > 0)) {
		qb_put_safe(&b, w->name, strlen(w->name), Q_EVIDENCE_ECHO, true, false);
		if (w->version[0]) {
			qb_putc(&b, ' ');
			qb_put_safe(&b, w->version, strlen(w->version), Q_EVIDENCE_ECHO, true,
				    false);
		}
		qb_puts(&b, " is installed");
		if (w->stop != 1 && w->seen > 1) {
			char more[48];

			snprintf(more, sizeof(more), ", and %" PRIu64 " more", w->seen - 1);
			qb_puts(&b, more);
		}
	} else if (n->kind == Q_PKG) {
		qb_puts(&b, glob ? "no package matching " : "no package ");
		qb_put_safe(&b, n->pkg, strlen(n->pkg), Q_EVIDENCE_ECHO, true, true);
		qb_puts(&b, " is installed");
	}
	/* has_package() that is false needs no evidence: the clause says it. */
	qb_finish(&b, true);
}

static int q_eval_pkg(struct q_eval *e, const struct q_node *n)
{
	struct q_pkgwalk w;
	int rc;

	memset(&w, 0, sizeof(w));
	w.e = e;
	w.n = n;
	rc = q_charge(e, 1);
	if (rc)
		return rc;
	if (e->f->packages) {
		rc = e->f->packages(e->f->ctx, n->pkg, q_pkg_visit, &w);
		if (w.stop < 0)
			return w.stop;
		if (w.stop == 0 && rc != 0)
			return CORE_QUERY_EFACTS;
	}
	if (e->memo)
		q_evidence_pkg(&e->memo[n->id], n, &w);
	return w.stop == 1;
}

static int q_eval_node(struct q_eval *e, const struct q_node *n)
{
	const struct q_node *c;
	int r;

	switch (n->kind) {
	case Q_AND:
		r = 1;
		for (c = n->child; c && r == 1; c = c->next)
			r = q_eval_node(e, c);
		break;
	case Q_OR:
		r = 0;
		for (c = n->child; c && r == 0; c = c->next)
			r = q_eval_node(e, c);
		break;
	case Q_NOT:
		r = q_eval_node(e, n->child);
		if (r >= 0)
			r = !r;
		break;
	case Q_CMP:
		r = q_eval_cmp(e, n);
		break;
	default:
		r = q_eval_pkg(e, n);
		break;
	}
	if (e->memo && r >= 0)
		e->memo[n->id].result = (int8_t)r;
	return r;
}

int core_query_eval(const struct core_query *q, const struct core_query_facts *facts,
		    uint64_t budget, uint64_t *used)
{
	struct q_eval e;
	int r;

	if (used)
		*used = 0;
	if (!q || !facts)
		return CORE_QUERY_EINVAL;
	memset(&e, 0, sizeof(e));
	e.f = facts;
	e.budget = budget;
	r = q_eval_node(&e, q->root);
	if (used)
		*used = e.used;
	return r;
}

/* ---- explanation ----------------------------------------------------------------- */

static bool q_is_leaf(const struct q_node *n)
{
	return n->kind == Q_CMP || n->kind == Q_HAS || n->kind == Q_PKG;
}

static void q_put_clause(struct qbuf *b, const struct q_node *n)
{
	char text[Q_CLAUSE_MAX + 1];
	struct qbuf cb;

	qb_init(&cb, text, sizeof(text));
	q_format_node(&cb, n, PREC_OR);
	qb_finish(&cb, true);
	qb_puts(b, text);
}

static void q_explain_node(struct qbuf *b, const struct q_node *n, const struct q_memo *memo)
{
	const struct q_node *c;
	int r = memo[n->id].result;
	bool first = true, all;

	switch (n->kind) {
	case Q_AND:
	case Q_OR:
		/* An and that is true or an or that is false needed every
		 * child; otherwise the first child with the group's result
		 * decided it (evaluation stopped there). */
		all = (n->kind == Q_AND) == (r == 1);
		for (c = n->child; c; c = c->next) {
			int cr = memo[c->id].result;

			if (cr < 0)
				break;
			if (!all && cr != r)
				continue;
			if (!first)
				qb_puts(b, "; ");
			q_explain_node(b, c, memo);
			first = false;
			if (!all)
				break;
		}
		break;
	case Q_NOT:
		q_put_clause(b, n);
		qb_puts(b, r ? " is true" : " is false");
		c = n->child;
		if (q_is_leaf(c)) {
			if (memo[c->id].ev[0]) {
				qb_puts(b, " (");
				qb_puts(b, memo[c->id].ev);
				qb_putc(b, ')');
			}
		} else {
			qb_puts(b, " because ");
			q_explain_node(b, c, memo);
		}
		break;
	default:
		q_put_clause(b, n);
		qb_puts(b, r ? " is true" : " is false");
		if (memo[n->id].ev[0]) {
			qb_puts(b, " (");
			qb_puts(b, memo[n->id].ev);
			qb_putc(b, ')');
		}
		break;
	}
}

int core_query_explain(const struct core_query *q, const struct core_query_facts *facts,
		       uint64_t budget, char *buf, size_t bufsz)
{
	struct q_eval e;
	struct qbuf b;
	int r, i;

	qb_init(&b, buf, bufsz);
	if (!q || !facts) {
		qb_puts(&b, "refused: no query or no facts given");
		qb_finish(&b, true);
		return CORE_QUERY_EINVAL;
	}
	memset(&e, 0, sizeof(e));
	e.f = facts;
	e.budget = budget;
	e.memo = calloc((size_t)q->nnodes, sizeof(*e.memo));
	if (!e.memo) {
		qb_puts(&b, "refused: out of memory");
		qb_finish(&b, true);
		return CORE_QUERY_ENOMEM;
	}
	for (i = 0; i < q->nnodes; i++)
		e.memo[i].result = -1;
	r = q_eval_node(&e, q->root);
	if (r == CORE_QUERY_EBUDGET) {
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "refused: the query needs more than %" PRIu64
			 " work units for this client; simplify it (for example avoid a "
			 "leading * in like or package names)",
			 budget);
		qb_puts(&b, msg);
	} else if (r < 0) {
		qb_puts(&b, "refused: ");
		qb_puts(&b, core_query_strerror(r));
	} else {
		qb_puts(&b, r ? "included: " : "excluded: ");
		q_explain_node(&b, q->root, e.memo);
	}
	qb_finish(&b, true);
	free(e.memo);
	return r;
}

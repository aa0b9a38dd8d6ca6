/* fuzz_query: the collection query language (lib/core/query.c, debver.c).
 *
 * The input is query text (up to its first NUL). Properties checked:
 *   - a refusal carries its code, a printable message, and a column inside
 *     the text that the message starts with;
 *   - an accepted query formats to at most CORE_QUERY_TEXT_MAX bytes of
 *     valid UTF-8, which parses again and formats identically, with the
 *     same deps, the same result and the same work on a fixed client;
 *   - evaluation stays within its budget (or says EBUDGET) and explain
 *     agrees with eval, within its buffer, in valid UTF-8.
 * The input is also split at its first newline into two versions for
 * core_debver_cmp (antisymmetric, reflexive) and into a pattern and a text
 * for core_query_like.
 *
 * Self-contained (only lib/core), so it builds by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *     lib/core/query*.c lib/core/debver.c tests/fuzz/fuzz_query.c -o /tmp/fq
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QF_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__,      \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define QF_BUDGET    20000
#define QF_INPUT_MAX (2 * CORE_QUERY_TEXT_MAX)

/* ---- a fixed client -------------------------------------------------------- */

static const char *const qf_os_name[] = {"Debian GNU/Linux"};
static const char *const qf_os_id[] = {"debian"};
static const char *const qf_version_id[] = {"12"};
static const char *const qf_kernel[] = {"6.1.0-18-amd64"};
static const char *const qf_arch[] = {"x86_64"};
static const char *const qf_memory[] = {"2048"};
static const char *const qf_cpu_model[] = {"Caf\xc3\xa9 CPU \"fast\" \\ \x01\xff"};
static const char *const qf_sockets[] = {"not a number"};
static const char *const qf_cores[] = {"4", "-9223372036854775808"};
static const char *const qf_threads[] = {"99999999999999999999"};
static const char *const qf_virt[] = {"kvm"};
static const char *const qf_vendor[] = {"QEMU"};
static const char *const qf_site[] = {"ABC"};
static const char *const qf_hostname[] = {"web01.example.org"};
static const char *const qf_state[] = {"active"};
static const char *const qf_agent[] = {"0.9.1", "1:0~rc1", "x:y-"};
static const char *const qf_ip[] = {"192.168.7.20",    "10.1.4.7/24", "fe80::1%eth0",
				    "::ffff:10.2.3.4", "garbage",     "2001:db8::1/64"};

struct qf_attr {
	const char *const *vals;
	int n;
};

#define QF_VALS(a)                                                                                 \
	{                                                                                          \
		a, (int)(sizeof(a) / sizeof(a[0]))                                                 \
	}

static int qf_get(void *ctx, enum core_query_attr_id attr, const char *const **vals)
{
	static const struct qf_attr table[CORE_QUERY_ATTR_COUNT] = {
	    [CORE_QUERY_ATTR_OS_NAME] = QF_VALS(qf_os_name),
	    [CORE_QUERY_ATTR_OS_ID] = QF_VALS(qf_os_id),
	    [CORE_QUERY_ATTR_OS_VERSION_ID] = QF_VALS(qf_version_id),
	    [CORE_QUERY_ATTR_KERNEL_RELEASE] = QF_VALS(qf_kernel),
	    [CORE_QUERY_ATTR_ARCH] = QF_VALS(qf_arch),
	    [CORE_QUERY_ATTR_MEMORY_TOTAL_MB] = QF_VALS(qf_memory),
	    [CORE_QUERY_ATTR_CPU_MODEL] = QF_VALS(qf_cpu_model),
	    [CORE_QUERY_ATTR_CPU_SOCKETS] = QF_VALS(qf_sockets),
	    [CORE_QUERY_ATTR_CPU_CORES] = QF_VALS(qf_cores),
	    [CORE_QUERY_ATTR_CPU_THREADS] = QF_VALS(qf_threads),
	    [CORE_QUERY_ATTR_VIRTUALIZATION] = QF_VALS(qf_virt),
	    [CORE_QUERY_ATTR_DMI_VENDOR] = QF_VALS(qf_vendor),
	    /* dmi.product: no value */
	    [CORE_QUERY_ATTR_SITE] = QF_VALS(qf_site),
	    [CORE_QUERY_ATTR_HOSTNAME] = QF_VALS(qf_hostname),
	    [CORE_QUERY_ATTR_STATE] = QF_VALS(qf_state),
	    [CORE_QUERY_ATTR_AGENT_VERSION] = QF_VALS(qf_agent),
	    [CORE_QUERY_ATTR_IP] = QF_VALS(qf_ip),
	};

	(void)ctx;
	QF_CHECK((unsigned)attr < CORE_QUERY_ATTR_COUNT);
	*vals = table[attr].vals;
	return table[attr].n;
}

static int qf_packages(void *ctx, const char *pattern, core_query_pkg_visit visit, void *vctx)
{
	static const char *const pkgs[][2] = {
	    {"openssl", "3.0.9-1"},
	    {"libssl3", "3.0.9-1"},
	    {"libc6", "2.36-9+deb12u4"},
	    {"libfoo", "1.0-1"},
	    {"libfoo", "2.0-1"},
	    {"nginx-common", "1.22.1-9"},
	    {"weird", "~"},
	    {"noversion", NULL},
	    {"caf\xc3\xa9", "1\xff"},
	    {"linux-image-6.1.0-18-amd64", "6.1.76-1"},
	};
	size_t i;
	int rc;

	(void)ctx;
	QF_CHECK(pattern != NULL && pattern[0] != '\0');
	for (i = 0; i < sizeof(pkgs) / sizeof(pkgs[0]); i++) {
		rc = visit(vctx, pkgs[i][0], pkgs[i][1]);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- checks ------------------------------------------------------------------ */

static bool qf_utf8_valid(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		unsigned char c = *u;
		size_t len, i;
		unsigned char lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			u++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4;
		else
			return false;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (u[1] < lo || u[1] > hi)
			return false;
		for (i = 2; i < len; i++)
			if ((u[i] & 0xc0) != 0x80)
				return false;
		u += len;
	}
	return true;
}

static void qf_check_refusal(const char *text, int rc, const struct core_query_error *err)
{
	char prefix[32];
	size_t i, len = strlen(text);

	QF_CHECK(rc == CORE_QUERY_ESYNTAX || rc == CORE_QUERY_ETYPE || rc == CORE_QUERY_ELIMIT);
	QF_CHECK(err->code == rc);
	QF_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
	QF_CHECK(err->message[0] != '\0');
	for (i = 0; err->message[i]; i++)
		QF_CHECK(err->message[i] >= 0x20 && err->message[i] < 0x7f);
	QF_CHECK(err->column >= 0 && (size_t)err->column <= len + 1);
	if (err->column > 0) {
		snprintf(prefix, sizeof(prefix), "column %d: ", err->column);
		QF_CHECK(strncmp(err->message, prefix, strlen(prefix)) == 0);
	}
}

static void qf_check_explain(const struct core_query *q, const struct core_query_facts *f, int want,
			     size_t bufsz)
{
	char buf[2048];
	int r;

	QF_CHECK(bufsz <= sizeof(buf));
	memset(buf, 'Z', sizeof(buf));
	r = core_query_explain(q, f, QF_BUDGET, buf, bufsz);
	QF_CHECK(r == want);
	if (bufsz == 0)
		return;
	QF_CHECK(memchr(buf, '\0', bufsz) != NULL);
	QF_CHECK(qf_utf8_valid(buf));
	if (bufsz > 16) {
		if (r == 1)
			QF_CHECK(strncmp(buf, "included: ", 10) == 0);
		else if (r == 0)
			QF_CHECK(strncmp(buf, "excluded: ", 10) == 0);
		else
			QF_CHECK(strncmp(buf, "refused: ", 9) == 0);
	}
}

static void qf_query(const char *text)
{
	static char canon[CORE_QUERY_TEXT_MAX + 1], again[CORE_QUERY_TEXT_MAX + 1];
	struct core_query_facts facts = {NULL, qf_get, qf_packages};
	struct core_query_error err;
	struct core_query *q = NULL, *q2 = NULL;
	uint64_t used = 0, used2 = 0;
	int rc, n, r, r2;

	rc = core_query_parse(text, &q, &err);
	if (rc != 0) {
		QF_CHECK(q == NULL);
		qf_check_refusal(text, rc, &err);
		return;
	}
	QF_CHECK(q != NULL);
	n = core_query_format(q, canon, sizeof(canon));
	QF_CHECK(n >= 1 && n <= CORE_QUERY_TEXT_MAX && (size_t)n == strlen(canon));
	QF_CHECK(qf_utf8_valid(canon));

	rc = core_query_parse(canon, &q2, &err);
	if (rc != 0) {
		fprintf(stderr, "canonical text does not parse: %s\n  text: %s\n  canonical: %s\n",
			err.message, text, canon);
		abort();
	}
	core_query_format(q2, again, sizeof(again));
	if (strcmp(canon, again) != 0) {
		fprintf(stderr, "format not stable\n  first:  %s\n  second: %s\n", canon, again);
		abort();
	}
	QF_CHECK(core_query_deps(q) == core_query_deps(q2));
	QF_CHECK((core_query_deps(q) & ~0x1fu) == 0 && core_query_deps(q) != 0);

	r = core_query_eval(q, &facts, QF_BUDGET, &used);
	r2 = core_query_eval(q2, &facts, QF_BUDGET, &used2);
	QF_CHECK(r == 0 || r == 1 || r == CORE_QUERY_EBUDGET);
	QF_CHECK(r == r2 && used == used2);
	if (r == CORE_QUERY_EBUDGET)
		QF_CHECK(used > QF_BUDGET);
	else
		QF_CHECK(used <= QF_BUDGET);

	qf_check_explain(q, &facts, r, 2048);
	qf_check_explain(q, &facts, r, 37);
	qf_check_explain(q, &facts, r, 1);
	qf_check_explain(q, &facts, r, 0);

	/* a smaller format buffer cuts, never overflows */
	{
		char small[9];

		memset(small, 'Z', sizeof(small));
		QF_CHECK(core_query_format(q, small, sizeof(small)) == n);
		QF_CHECK(strlen(small) < sizeof(small));
		QF_CHECK(strncmp(small, canon, strlen(small)) == 0);
	}
	core_query_free(q2);
	core_query_free(q);
}

static void qf_debver_like(const char *text)
{
	const char *nl = strchr(text, '\n');
	char *a, *b;
	int ab, ba;

	if (!nl)
		return;
	a = strndup(text, (size_t)(nl - text));
	b = strdup(nl + 1);
	QF_CHECK(a && b);
	ab = core_debver_cmp(a, b);
	ba = core_debver_cmp(b, a);
	QF_CHECK(ab >= -1 && ab <= 1 && ab == -ba);
	QF_CHECK(core_debver_cmp(a, a) == 0);
	if (ab == 0)
		QF_CHECK(core_debver_cmp(a, "") == core_debver_cmp(b, ""));
	(void)core_debver_valid(a);
	/* a short pattern, so the quadratic worst case stays cheap */
	if (strlen(a) <= 64)
		(void)core_query_like(a, b);
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size > QF_INPUT_MAX)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	qf_query(text);
	qf_debver_like(text);
	free(text);
	return 0;
}

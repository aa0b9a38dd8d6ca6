/* Unit tests for the collection query language (lib/core/query.c) and
 * Debian version ordering (lib/core/debver.c).
 *
 * Facts come from a fake client: a table of attribute values and a list
 * of installed packages. Its package provider hands the core every
 * package regardless of the pattern, which the interface allows, so the
 * core's own filtering is what is tested.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steward/query.h"

/* ---- a fake client ---------------------------------------------------------- */

#define FAKE_VALS 8
#define FAKE_PKGS 16

struct fake {
	const char *vals[CORE_QUERY_ATTR_COUNT][FAKE_VALS];
	int nvals[CORE_QUERY_ATTR_COUNT];
	const char *pkgs[FAKE_PKGS][2];
	int npkgs;
	int generated; /* when > 0: that many packages "pkg-N" version "1.N" */
	bool fail_get;
	bool fail_pkgs;
	bool ignore_stop; /* a provider that keeps calling visit after a stop */
	int get_calls;
	int pkg_calls;
};

static void fake_set(struct fake *f, enum core_query_attr_id a, ...)
{
	va_list ap;
	const char *v;

	f->nvals[a] = 0;
	va_start(ap, a);
	while ((v = va_arg(ap, const char *)) != NULL && f->nvals[a] < FAKE_VALS)
		f->vals[a][f->nvals[a]++] = v;
	va_end(ap);
}

static void fake_pkg(struct fake *f, const char *name, const char *version)
{
	assert_true(f->npkgs < FAKE_PKGS);
	f->pkgs[f->npkgs][0] = name;
	f->pkgs[f->npkgs][1] = version;
	f->npkgs++;
}

static int fake_get(void *ctx, enum core_query_attr_id attr, const char *const **vals)
{
	struct fake *f = ctx;

	f->get_calls++;
	if (f->fail_get)
		return -1;
	*vals = f->vals[attr];
	return f->nvals[attr];
}

static int fake_packages(void *ctx, const char *pattern, core_query_pkg_visit visit, void *vctx)
{
	struct fake *f = ctx;
	int i, rc, stopped = 0;

	(void)pattern; /* every package: the core must filter */
	f->pkg_calls++;
	if (f->fail_pkgs)
		return -5;
	for (i = 0; i < f->npkgs; i++) {
		rc = visit(vctx, f->pkgs[i][0], f->pkgs[i][1]);
		if (rc && !f->ignore_stop)
			return rc;
		if (rc)
			stopped = rc;
	}
	for (i = 0; i < f->generated; i++) {
		char name[32], version[32];

		snprintf(name, sizeof(name), "pkg-%d", i);
		snprintf(version, sizeof(version), "1.%d", i);
		rc = visit(vctx, name, version);
		if (rc && !f->ignore_stop)
			return rc;
		if (rc)
			stopped = rc;
	}
	return stopped;
}

static struct core_query_facts fake_facts(struct fake *f)
{
	struct core_query_facts facts = {f, fake_get, fake_packages};

	return facts;
}

/* A Debian 12 server with 2 GiB and openssl, without nginx. */
static void fake_debian(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	fake_set(f, CORE_QUERY_ATTR_OS_NAME, "Debian GNU/Linux", NULL);
	fake_set(f, CORE_QUERY_ATTR_OS_ID, "debian", NULL);
	fake_set(f, CORE_QUERY_ATTR_OS_VERSION_ID, "12", NULL);
	fake_set(f, CORE_QUERY_ATTR_KERNEL_RELEASE, "6.1.0-18-amd64", NULL);
	fake_set(f, CORE_QUERY_ATTR_ARCH, "x86_64", NULL);
	fake_set(f, CORE_QUERY_ATTR_MEMORY_TOTAL_MB, "2048", NULL);
	fake_set(f, CORE_QUERY_ATTR_CPU_CORES, "4", NULL);
	fake_set(f, CORE_QUERY_ATTR_CPU_THREADS, "8", NULL);
	fake_set(f, CORE_QUERY_ATTR_SITE, "ABC", NULL);
	fake_set(f, CORE_QUERY_ATTR_HOSTNAME, "web01.example.org", NULL);
	fake_set(f, CORE_QUERY_ATTR_STATE, "active", NULL);
	fake_set(f, CORE_QUERY_ATTR_AGENT_VERSION, "0.9.1", NULL);
	fake_set(f, CORE_QUERY_ATTR_VIRTUALIZATION, "kvm", NULL);
	fake_set(f, CORE_QUERY_ATTR_DMI_VENDOR, "QEMU", NULL);
	fake_set(f, CORE_QUERY_ATTR_IP, "192.168.7.20", "10.1.4.7/24",
		 "fe80::5054:ff:fe12:3456%ens3", NULL);
	fake_pkg(f, "openssl", "3.0.9-1");
	fake_pkg(f, "libssl3", "3.0.9-1");
	fake_pkg(f, "libc6", "2.36-9+deb12u4");
	fake_pkg(f, "linux-image-6.1.0-18-amd64", "6.1.76-1");
}

/* ---- helpers ------------------------------------------------------------------ */

static struct core_query *parse_ok(const char *text)
{
	struct core_query_error err;
	struct core_query *q = NULL;
	int rc = core_query_parse(text, &q, &err);

	if (rc != 0)
		fail_msg("parse of '%s' failed: %s", text, err.message);
	assert_non_null(q);
	return q;
}

/* Evaluate text against f with a generous budget. */
static int eval_on(const char *text, struct fake *f)
{
	struct core_query_facts facts = fake_facts(f);
	struct core_query *q = parse_ok(text);
	int r = core_query_eval(q, &facts, 1000000, NULL);

	core_query_free(q);
	return r;
}

static void expect_true(const char *text, struct fake *f)
{
	int r = eval_on(text, f);

	if (r != 1)
		fail_msg("expected '%s' to be true, got %d", text, r);
}

static void expect_false(const char *text, struct fake *f)
{
	int r = eval_on(text, f);

	if (r != 0)
		fail_msg("expected '%s' to be false, got %d", text, r);
}

static void expect_error(const char *text, int code, int column, const char *message)
{
	struct core_query_error err;
	struct core_query *q = (struct core_query *)&err; /* must become NULL */
	int rc = core_query_parse(text, &q, &err);

	if (rc != code || err.code != code || err.column != column ||
	    strcmp(err.message, message) != 0)
		fail_msg("query '%s'\n  want %d col %d: %s\n  got  %d col %d: %s", text, code,
			 column, message, rc, err.column, err.message);
	assert_null(q);
}

static void expect_format(const char *text, const char *canonical)
{
	char buf[CORE_QUERY_TEXT_MAX + 1], again[CORE_QUERY_TEXT_MAX + 1];
	struct core_query *q = parse_ok(text), *q2;
	int n = core_query_format(q, buf, sizeof(buf));

	if (strcmp(buf, canonical) != 0)
		fail_msg("format of '%s'\n  want: %s\n  got:  %s", text, canonical, buf);
	assert_int_equal(n, (int)strlen(canonical));
	q2 = parse_ok(buf);
	core_query_format(q2, again, sizeof(again));
	assert_string_equal(again, buf);
	assert_int_equal(core_query_deps(q2), core_query_deps(q));
	core_query_free(q2);
	core_query_free(q);
}

static void expect_explain(const char *text, struct fake *f, int result, const char *want)
{
	struct core_query_facts facts = fake_facts(f);
	struct core_query *q = parse_ok(text);
	char buf[1024];
	int r = core_query_explain(q, &facts, 1000000, buf, sizeof(buf));

	if (r != result || strcmp(buf, want) != 0)
		fail_msg("explain '%s'\n  want %d: %s\n  got  %d: %s", text, result, want, r, buf);
	/* explain and eval agree */
	assert_int_equal(core_query_eval(q, &facts, 1000000, NULL), r);
	core_query_free(q);
}

/* A string of n copies of s joined by sep, in a malloc'd buffer. */
static char *repeat(const char *s, const char *sep, int n, const char *prefix, const char *suffix)
{
	size_t len = strlen(prefix) + strlen(suffix) + (size_t)n * (strlen(s) + strlen(sep)) + 1;
	char *out = malloc(len);
	int i;

	assert_non_null(out);
	strcpy(out, prefix);
	for (i = 0; i < n; i++) {
		if (i)
			strcat(out, sep);
		strcat(out, s);
	}
	strcat(out, suffix);
	return out;
}

/* ---- the example from the issue ---------------------------------------------------- */

#define EXAMPLE                                                                                    \
	"os.name = \"Debian GNU/Linux\" and memory.total_mb >= 1024 and not "                      \
	"has_package(\"nginx\")"

static void test_example(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	expect_true(EXAMPLE, &f);

	/* too little memory */
	fake_set(&f, CORE_QUERY_ATTR_MEMORY_TOTAL_MB, "512", NULL);
	expect_false(EXAMPLE, &f);
	/* exactly the bound */
	fake_set(&f, CORE_QUERY_ATTR_MEMORY_TOTAL_MB, "1024", NULL);
	expect_true(EXAMPLE, &f);
	/* numeric, not text, comparison: "16384" < "2" as text */
	fake_set(&f, CORE_QUERY_ATTR_MEMORY_TOTAL_MB, "16384", NULL);
	expect_true(EXAMPLE, &f);
	/* memory unknown: the comparison cannot hold */
	fake_set(&f, CORE_QUERY_ATTR_MEMORY_TOTAL_MB, NULL);
	expect_false(EXAMPLE, &f);

	/* nginx installed */
	fake_debian(&f);
	fake_pkg(&f, "nginx", "1.22.1-9");
	expect_false(EXAMPLE, &f);
	/* a different package whose name starts with nginx does not count */
	fake_debian(&f);
	fake_pkg(&f, "nginx-common", "1.22.1-9");
	expect_true(EXAMPLE, &f);

	/* Ubuntu */
	fake_debian(&f);
	fake_set(&f, CORE_QUERY_ATTR_OS_NAME, "Ubuntu", NULL);
	expect_false(EXAMPLE, &f);
	/* equality is exact: case matters */
	fake_set(&f, CORE_QUERY_ATTR_OS_NAME, "debian gnu/linux", NULL);
	expect_false(EXAMPLE, &f);

	/* keywords and names are case-insensitive */
	fake_debian(&f);
	expect_true("OS.Name = \"Debian GNU/Linux\" AND Memory.Total_MB >= 1024 And NOT "
		    "HAS_PACKAGE(\"nginx\")",
		    &f);
}

/* ---- operators ------------------------------------------------------------------------ */

static void test_string_operators(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	expect_true("hostname = \"web01.example.org\"", &f);
	expect_false("hostname = \"web01\"", &f);
	expect_true("hostname != \"web02.example.org\"", &f);
	expect_false("hostname != \"web01.example.org\"", &f);
	expect_true("hostname <> \"db\"", &f);
	expect_true("hostname == \"web01.example.org\"", &f);
	expect_true("hostname < \"x\"", &f);
	expect_false("hostname < \"a\"", &f);
	expect_true("hostname <= \"web01.example.org\"", &f);
	expect_true("hostname > \"web\"", &f);
	expect_true("hostname >= \"web01.example.org\"", &f);
	expect_false("hostname > \"web01.example.org\"", &f);
	expect_true("site in (\"XYZ\", \"ABC\")", &f);
	expect_false("site in (\"XYZ\", \"abc\")", &f);

	/* no value satisfies no comparison, not even != */
	fake_set(&f, CORE_QUERY_ATTR_DMI_PRODUCT, NULL);
	expect_false("dmi.product = \"x\"", &f);
	expect_false("dmi.product != \"x\"", &f);
	expect_true("not dmi.product = \"x\"", &f);
	expect_false("dmi.product like \"*\"", &f);
	expect_false("dmi.product in (\"a\", \"b\")", &f);
}

static void test_number_operators(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	expect_true("cpu.cores = 4", &f);
	expect_false("cpu.cores = 40", &f);
	expect_true("cpu.cores != 3", &f);
	expect_true("cpu.cores < 10", &f); /* numerically; as text "4" > "10" */
	expect_true("cpu.cores <= 4", &f);
	expect_false("cpu.cores < 4", &f);
	expect_true("cpu.cores > -1", &f);
	expect_true("cpu.cores >= 4", &f);
	expect_false("cpu.cores > 4", &f);
	expect_true("cpu.cores in (1, 2, 4, 8)", &f);
	expect_false("cpu.cores in (1, 2, 8)", &f);
	expect_true("cpu.threads = 008", &f);

	fake_set(&f, CORE_QUERY_ATTR_CPU_CORES, "-5", NULL);
	expect_true("cpu.cores < -4", &f);
	fake_set(&f, CORE_QUERY_ATTR_CPU_CORES, "9223372036854775807", NULL);
	expect_true("cpu.cores = 9223372036854775807", &f);
	expect_true("cpu.cores > -9223372036854775808", &f);
	/* a fact that is not a number matches no numeric comparison */
	fake_set(&f, CORE_QUERY_ATTR_CPU_CORES, "four", NULL);
	expect_false("cpu.cores != 3", &f);
	expect_false("cpu.cores >= 0", &f);
	fake_set(&f, CORE_QUERY_ATTR_CPU_CORES, "99999999999999999999", NULL);
	expect_false("cpu.cores > 0", &f);
}

static void test_version_operators(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	/* Debian ordering: 0.9.1 < 0.10.0 although "0.9.1" > "0.10.0" as text */
	expect_true("agent.version < \"0.10.0\"", &f);
	expect_true("agent.version >= \"0.9\"", &f);
	expect_true("agent.version > \"0.9~rc1\"", &f);
	expect_true("agent.version = \"0:0.9.1\"", &f);
	expect_true("agent.version = \"0.09.01\"", &f);
	expect_false("agent.version != \"0.9.1-0\"", &f);
	expect_true("agent.version like \"0.9.*\"", &f);
	expect_true("agent.version in (\"0.8\", \"0.9.1\")", &f);
	expect_true("kernel.release >= \"6.1\"", &f);
	expect_false("kernel.release >= \"6.1.0-18-cloud\"", &f); /* amd64 < cloud */
	expect_true("kernel.release like \"*-amd64\"", &f);
	/* numbers compare as their text */
	expect_true("os.version_id = 12", &f);
	expect_true("os.version_id >= 11", &f);
	expect_false("os.version_id > 12", &f);
	expect_true("os.version_id in (11, 12)", &f);
	fake_set(&f, CORE_QUERY_ATTR_OS_VERSION_ID, "12.5", NULL);
	expect_true("os.version_id > 12", &f);
}

static void test_precedence(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	/* T and F: site is ABC */
#define T "site = \"ABC\""
#define F "site = \"XYZ\""
	/* and binds tighter than or */
	expect_true(F " and " F " or " T, &f);
	expect_true(T " or " T " and " F, &f);
	expect_true(T " or " F " and " F, &f);
	expect_false(F " or " T " and " F, &f);
	/* not binds tighter than and */
	expect_false("not " F " and " F, &f);
	expect_true("not " T " or " T, &f);
	expect_true("not " F " and not " F, &f);
	/* not not */
	expect_true("not not " T, &f);
	expect_false("not not not " T, &f);
	/* the canonical text shows the grouping */
	expect_format(F " and " F " or " T, F " and " F " or " T);
	expect_format("(" F " and " F ") or " T, F " and " F " or " T);
	expect_format("not (" F ") and " F, "not " F " and " F);
}

static void test_parentheses(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	expect_false("(" T " or " T ") and " F, &f);
	expect_true("(" T " or " F ") and (" F " or " T ")", &f);
	expect_true("not (" F " and " T ")", &f);
	expect_false("not (" F " or " T ")", &f);
	expect_true("((((" T "))))", &f);
	expect_true("(" F " or (" F " or (" F " or " T ")))", &f);
	expect_false(T " and (" F " or (" T " and " F "))", &f);
	expect_format("(" T " or " T ") and " F, "(" T " or " T ") and " F);
	expect_format("not (" F " or " T ")", "not (" F " or " T ")");
	expect_format("(((" T ")))", T);
	/* nested groups of the same kind flatten */
	expect_format("(" T " or (" F " or (" F " or " T ")))", T " or " F " or " F " or " T);
	expect_format(T " and (" F " and " T ")", T " and " F " and " T);
	expect_format("(" T " and " F ") and (" T " and " F ")", T " and " F " and " T " and " F);
#undef T
#undef F
}

static void test_in_lists(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	expect_true("site in (\"ABC\")", &f);
	expect_true("site IN (\"X01\",\"Y02\",\"ABC\")", &f);
	expect_false("site in (\"X01\", \"Y02\")", &f);
	expect_true("memory.total_mb in (1024, 2048, 4096)", &f);
	expect_true("arch in (\"aarch64\", \"x86_64\") and cpu.cores in (4)", &f);
	expect_true("not state in (\"inactive\", \"pending\")", &f);
	expect_format("site in(\"A\",\"B\" ,  \"C\")", "site in (\"A\", \"B\", \"C\")");
	expect_format("cpu.cores in (4)", "cpu.cores in (4)");
}

static void test_like(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	expect_true("hostname like \"web*\"", &f);
	expect_true("hostname like \"*.example.org\"", &f);
	expect_true("hostname like \"*example*\"", &f);
	expect_true("hostname like \"*\"", &f);
	expect_true("hostname like \"web??.example.org\"", &f);
	expect_false("hostname like \"web?.example.org\"", &f);
	expect_false("hostname like \"web\"", &f);	 /* anchored */
	expect_false("hostname like \"*.example\"", &f); /* anchored at the end too */
	expect_true("hostname like \"WEB01.*\"", &f);	 /* ASCII case-insensitive */
	expect_true("hostname like \"w*b*1*e*g\"", &f);
	expect_true("hostname like \"**web01**\"", &f);
	expect_true("os.name LIKE \"Debian*\"", &f);

	assert_true(core_query_like("", ""));
	assert_true(core_query_like("*", ""));
	assert_false(core_query_like("?", ""));
	assert_true(core_query_like("a*b*c", "aXbYbZc"));
	assert_false(core_query_like("a*b*c", "aXbYbZ"));
	assert_true(core_query_like("*ab", "aab"));
	assert_true(core_query_like("*a?c", "abcabc"));
	/* ? is one character, also a multi-byte one */
	assert_true(core_query_like("caf?", "caf\xc3\xa9"));
	assert_false(core_query_like("caf??", "caf\xc3\xa9"));
	assert_true(core_query_like("*?", "\xc3\xa9"));
	assert_false(core_query_like(NULL, "x"));
	assert_false(core_query_like("x", NULL));
}

static void test_ip(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	/* multi-valued: any address may match */
	expect_true("ip in 10.1.0.0/16", &f);
	expect_true("ip in 192.168.0.0/16", &f);
	expect_false("ip in 172.16.0.0/12", &f);
	expect_true("ip in 0.0.0.0/0", &f);
	expect_true("ip in 10.1.4.7/32", &f);
	expect_true("ip in (172.16.0.0/12, 10.0.0.0/8)", &f);
	expect_true("ip in \"10.0.0.0/8\"", &f);
	expect_true("ip in (\"172.16.0.0/12\", 192.168.7.20)", &f);
	/* IPv6, zone ignored */
	expect_true("ip in fe80::/10", &f);
	expect_false("ip in 2001:db8::/32", &f);
	expect_true("ip = fe80::5054:ff:fe12:3456", &f);
	expect_true("ip in ::/0", &f);
	/* = compares whole addresses; a /24 on the fact is ignored */
	expect_true("ip = 10.1.4.7", &f);
	expect_true("ip = \"10.1.4.7\"", &f);
	expect_false("ip = 10.1.4.8", &f);
	expect_true("ip != 10.1.4.7", &f); /* another address differs */
	expect_true("not ip = 10.9.9.9", &f);
	expect_false("not ip = 10.1.4.7", &f);
	expect_true("ip like \"10.1.*\"", &f);
	/* an IPv4-mapped address is the IPv4 address */
	fake_set(&f, CORE_QUERY_ATTR_IP, "::ffff:10.2.3.4", "garbage", NULL);
	expect_true("ip in 10.2.0.0/16", &f);
	expect_true("ip = ::ffff:10.2.3.4", &f);
	expect_false("ip in ::/0", &f);
	/* no addresses at all */
	fake_set(&f, CORE_QUERY_ATTR_IP, NULL);
	expect_false("ip in 0.0.0.0/0", &f);
	expect_false("ip != 10.0.0.1", &f);

	expect_format("ip in (10.1.0.0/16)", "ip in 10.1.0.0/16");
	expect_format("ip in \"10.1.0.0/16\"", "ip in 10.1.0.0/16");
	expect_format("ip = \"FE80:0:0::1\"", "ip = fe80::1");
	expect_format("ip in ::ffff:10.0.0.0/104", "ip in 10.0.0.0/8");
	expect_format("ip in (fe80::/10, 10.0.0.0/8, 1.2.3.4)",
		      "ip in (fe80::/10, 10.0.0.0/8, 1.2.3.4)");
}

static void test_packages(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	expect_true("package(\"openssl\").version < \"3.0.11\"", &f);
	expect_false("package(\"openssl\").version >= \"3.0.11\"", &f);
	expect_true("package(\"openssl\").version = \"3.0.9-1\"", &f);
	expect_true("package(\"openssl\").version <= \"3.0.9-1\"", &f);
	expect_true("package(\"openssl\").version > \"3.0.9~\"", &f);
	expect_true("package(\"openssl\").version != \"3.0.11\"", &f);
	expect_true("package(\"openssl\").version like \"3.0.*\"", &f);
	expect_true("package(\"openssl\").version in (\"3.0.8-1\", \"3.0.9-1\")", &f);
	expect_true("package(\"libc6\").version < \"2.36-9+deb12u5\"", &f);
	expect_false("package(\"libc6\").version < \"2.36-9+deb12u4\"", &f);
	/* not installed: no comparison holds, not even != */
	expect_false("package(\"nginx\").version < \"99\"", &f);
	expect_false("package(\"nginx\").version != \"1.0\"", &f);
	expect_true("not package(\"nginx\").version >= \"1.0\"", &f);
	/* wildcard names: any matching package */
	expect_true("package(\"linux-image-*\").version >= \"6.1.76\"", &f);
	expect_true("package(\"libssl*\").version = \"3.0.9-1\"", &f);
	/* several installed versions (multiarch): any may satisfy */
	fake_pkg(&f, "libfoo", "1.0-1");
	fake_pkg(&f, "libfoo", "2.0-1");
	expect_true("package(\"libfoo\").version < \"1.5\"", &f);
	expect_true("package(\"libfoo\").version > \"1.5\"", &f);
	expect_false("package(\"libfoo\").version > \"2.5\"", &f);
	/* a package with no version is installed but has no version */
	fake_pkg(&f, "noversion", NULL);
	expect_true("has_package(\"noversion\")", &f);
	expect_false("package(\"noversion\").version like \"*\"", &f);

	fake_debian(&f);
	expect_true("has_package(\"openssl\")", &f);
	expect_true("has_package(\"OpenSSL\")", &f);
	expect_false("has_package(\"openss\")", &f);
	expect_false("has_package(\"nginx\")", &f);
	expect_true("has_package(\"libssl*\")", &f);
	expect_true("has_package(\"*ssl*\")", &f);
	expect_true("has_package(\"lib?6\")", &f);
	expect_false("has_package(\"lib?\")", &f);
	expect_true("has_package(\"linux-image-*-amd64\")", &f);
	expect_true("not has_package(\"nginx*\")", &f);

	/* no provider: nothing installed */
	{
		struct core_query_facts facts = {&f, fake_get, NULL};
		struct core_query *q = parse_ok("has_package(\"openssl\")");

		assert_int_equal(core_query_eval(q, &facts, 1000, NULL), 0);
		core_query_free(q);
	}
}

/* ---- errors ---------------------------------------------------------------------------- */

static void test_type_errors(void **state)
{
	(void)state;
	expect_error("memory.total_mb >= \"1024\"", CORE_QUERY_ETYPE, 20,
		     "column 20: expected a number after '>=' (memory.total_mb is a number) but "
		     "found \"1024\"");
	expect_error("memory.total_mb like \"1*\"", CORE_QUERY_ETYPE, 17,
		     "column 17: 'like' does not apply to memory.total_mb, a number; use = != < <= "
		     "> >= or in");
	expect_error("cpu.cores in (1, \"2\")", CORE_QUERY_ETYPE, 18,
		     "column 18: expected a number after ',' (cpu.cores is a number) but found "
		     "\"2\"");
	expect_error("cpu.cores = 10.0.0.1", CORE_QUERY_ETYPE, 13,
		     "column 13: expected a number after '=' (cpu.cores is a number) but found "
		     "'10.0.0.1'");
	expect_error("hostname = 42", CORE_QUERY_ETYPE, 12,
		     "column 12: expected a string in double quotes after '=' (hostname is text) "
		     "but found '42'");
	expect_error("hostname like 42", CORE_QUERY_ETYPE, 15,
		     "column 15: expected a pattern in double quotes after 'like' but found '42'");
	expect_error(
	    "agent.version < \"abc\"", CORE_QUERY_ETYPE, 17,
	    "column 17: expected a Debian version such as \"3.0.11-1\" after '<' but found "
	    "\"abc\"");
	expect_error("agent.version < 1.2.3.4", CORE_QUERY_ETYPE, 17,
		     "column 17: expected a version in double quotes after '<' (agent.version is a "
		     "version) but found '1.2.3.4'");
	expect_error("os.version_id >= -1", CORE_QUERY_ETYPE, 18,
		     "column 18: expected a Debian version such as \"3.0.11-1\" after '>=' but "
		     "found '-1'");
	expect_error("package(\"openssl\").version < \"3.0 beta\"", CORE_QUERY_ETYPE, 30,
		     "column 30: expected a Debian version such as \"3.0.11-1\" after '<' but "
		     "found \"3.0 beta\"");
	expect_error("ip < 10.0.0.1", CORE_QUERY_ETYPE, 4,
		     "column 4: '<' does not apply to ip, an address; use = != in or like");
	expect_error("ip = 42", CORE_QUERY_ETYPE, 6,
		     "column 6: expected an IP address or network after '=' (ip is an address) "
		     "but found '42'");
	expect_error("ip = \"localhost\"", CORE_QUERY_ETYPE, 6,
		     "column 6: expected an IP address or network after '=' (ip is an address) "
		     "but found \"localhost\"");
	expect_error("ip = 10.0.0.0/8", CORE_QUERY_ETYPE, 6,
		     "column 6: expected a single address after '=' but found the network "
		     "10.0.0.0/8; write 'ip in 10.0.0.0/8'");
	expect_error("ip in \"10.1.2.0/16\"", CORE_QUERY_ETYPE, 7,
		     "column 7: \"10.1.2.0/16\" has host bits set; the network is 10.1.0.0/16");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	/* the two from the brief */
	expect_error("memory.total_mb >= and cpu.cores = 1", CORE_QUERY_ESYNTAX, 20,
		     "column 20: expected a value after '>=' but found 'and'");
	expect_error("os.name = \"x\" and memory.total_mb >= and", CORE_QUERY_ESYNTAX, 38,
		     "column 38: expected a value after '>=' but found 'and'");
	expect_error("os.nmae = \"Debian\"", CORE_QUERY_ESYNTAX, 1,
		     "column 1: unknown attribute 'os.nmae' (did you mean 'os.name'?)");
	expect_error("hostnme = \"x\"", CORE_QUERY_ESYNTAX, 1,
		     "column 1: unknown attribute 'hostnme' (did you mean 'hostname'?)");
	expect_error("site = \"A\" or kernel.relaese = \"6\"", CORE_QUERY_ESYNTAX, 15,
		     "column 15: unknown attribute 'kernel.relaese' (did you mean "
		     "'kernel.release'?)");
	expect_error("colour = \"red\"", CORE_QUERY_ESYNTAX, 1,
		     "column 1: unknown attribute 'colour'; known: os.name, os.id, os.version_id, "
		     "kernel.release, arch, memory.total_mb, cpu.model, cpu.sockets, cpu.cores, "
		     "cpu.threads, virtualization, dmi.vendor, dmi.product, site, hostname, state, "
		     "agent.version, ip");
	expect_error("has_pakage(\"x\")", CORE_QUERY_ESYNTAX, 1,
		     "column 1: unknown function 'has_pakage' (did you mean 'has_package'?)");
	expect_error("installed (\"x\")", CORE_QUERY_ESYNTAX, 1,
		     "column 1: unknown function 'installed'; expected has_package(...) or "
		     "package(...).version");
	expect_error("", CORE_QUERY_ESYNTAX, 1,
		     "column 1: expected a condition (an attribute, 'not', '(', has_package or "
		     "package) but found end of query");
	expect_error("   ", CORE_QUERY_ESYNTAX, 4,
		     "column 4: expected a condition (an attribute, 'not', '(', has_package or "
		     "package) but found end of query");
	expect_error("and site = \"A\"", CORE_QUERY_ESYNTAX, 1,
		     "column 1: expected a condition (an attribute, 'not', '(', has_package or "
		     "package) but found 'and'");
	expect_error("site = \"A\" and", CORE_QUERY_ESYNTAX, 15,
		     "column 15: expected a condition (an attribute, 'not', '(', has_package or "
		     "package) but found end of query");
	expect_error("\"x\" = site", CORE_QUERY_ESYNTAX, 1,
		     "column 1: expected a condition (an attribute, 'not', '(', has_package or "
		     "package) but found \"x\"");
	expect_error("site \"A\"", CORE_QUERY_ESYNTAX, 6,
		     "column 6: expected an operator (= != < <= > >= like in) after 'site' but "
		     "found \"A\"");
	expect_error("site", CORE_QUERY_ESYNTAX, 5,
		     "column 5: expected an operator (= != < <= > >= like in) after 'site' but "
		     "found end of query");
	expect_error("site = \"A\" site = \"B\"", CORE_QUERY_ESYNTAX, 12,
		     "column 12: expected 'and', 'or' or end of query but found 'site'");
	expect_error("(site = \"A\"", CORE_QUERY_ESYNTAX, 12,
		     "column 12: expected 'and', 'or' or ')' but found end of query");
	expect_error("site = \"A\")", CORE_QUERY_ESYNTAX, 11,
		     "column 11: expected 'and', 'or' or end of query but found ')'");
	expect_error("()", CORE_QUERY_ESYNTAX, 2,
		     "column 2: expected a condition (an attribute, 'not', '(', has_package or "
		     "package) but found ')'");
	expect_error("site in \"A\"", CORE_QUERY_ESYNTAX, 9,
		     "column 9: expected '(' after 'in' but found \"A\"");
	expect_error("ip in", CORE_QUERY_ESYNTAX, 6,
		     "column 6: expected '(' or an address after 'in' but found end of query");
	expect_error("site in ()", CORE_QUERY_ESYNTAX, 10,
		     "column 10: expected a value after '(' but found ')'");
	expect_error("site in (\"A\" \"B\")", CORE_QUERY_ESYNTAX, 14,
		     "column 14: expected ',' or ')' in the list but found \"B\"");
	expect_error("site in (\"A\",)", CORE_QUERY_ESYNTAX, 14,
		     "column 14: expected a value after ',' but found ')'");
	expect_error("cpu.cores in (1, 2,", CORE_QUERY_ESYNTAX, 20,
		     "column 20: expected a value after ',' but found end of query");
	expect_error("has_package \"x\"", CORE_QUERY_ESYNTAX, 13,
		     "column 13: expected '(' after 'has_package' but found \"x\"");
	expect_error("has_package(nginx)", CORE_QUERY_ESYNTAX, 13,
		     "column 13: expected a package name in double quotes after '(' but found "
		     "'nginx'");
	expect_error("has_package(\"x\"", CORE_QUERY_ESYNTAX, 16,
		     "column 16: expected ')' after the package name but found end of query");
	expect_error("has_package(\"\")", CORE_QUERY_ESYNTAX, 13, "column 13: empty package name");
	expect_error("has_package(\"a b\")", CORE_QUERY_ESYNTAX, 13,
		     "column 13: package name \"a b\" contains a space");
	expect_error("package(\"x\") < \"1\"", CORE_QUERY_ESYNTAX, 14,
		     "column 14: expected '.version' after 'package(\"x\")' but found '<'");
	expect_error("package(\"x\").name = \"1\"", CORE_QUERY_ESYNTAX, 14,
		     "column 14: expected 'version' after '.' but found 'name'");
	expect_error("package(\"x\").version", CORE_QUERY_ESYNTAX, 21,
		     "column 21: expected an operator (= != < <= > >= like in) after "
		     "'package(\"x\").version' but found end of query");
	/* tokens */
	expect_error("site = \"ABC", CORE_QUERY_ESYNTAX, 8,
		     "column 8: unterminated string; expected a closing '\"'");
	expect_error("site = \"AB\\", CORE_QUERY_ESYNTAX, 8,
		     "column 8: unterminated string; expected a closing '\"'");
	expect_error("site = \"A\\nB\"", CORE_QUERY_ESYNTAX, 10,
		     "column 10: unknown escape '\\n' in a string; only \\\" and \\\\ are allowed");
	expect_error("site = \"A\tB\"", CORE_QUERY_ESYNTAX, 10,
		     "column 10: control character \\x09 in a string");
	expect_error("site = \"A\xff\"", CORE_QUERY_ESYNTAX, 10,
		     "column 10: invalid UTF-8 byte \\xff in a string");
	expect_error("site = \"\xc3\"", CORE_QUERY_ESYNTAX, 9,
		     "column 9: invalid UTF-8 byte \\xc3 in a string");
	expect_error("site = \"\xed\xa0\x80\"", CORE_QUERY_ESYNTAX, 9, /* a surrogate */
		     "column 9: invalid UTF-8 byte \\xed in a string");
	expect_error("site # \"A\"", CORE_QUERY_ESYNTAX, 6, "column 6: unexpected character '#'");
	expect_error("site = \xc3\xa9", CORE_QUERY_ESYNTAX, 8,
		     "column 8: unexpected character '\\xc3'");
	expect_error("site ! \"A\"", CORE_QUERY_ESYNTAX, 6,
		     "column 6: unexpected '!'; did you mean '!=' or 'not'?");
	expect_error("cpu.cores = 99999999999999999999", CORE_QUERY_ESYNTAX, 13,
		     "column 13: number 99999999999999999999 is out of range (a 64-bit integer)");
	expect_error("cpu.cores = -9223372036854775809", CORE_QUERY_ESYNTAX, 13,
		     "column 13: number -9223372036854775809 is out of range (a 64-bit integer)");
	expect_error("cpu.cores = 12abc", CORE_QUERY_ESYNTAX, 13,
		     "column 13: '12abc' is not a number or an IP address; put versions and other "
		     "text in double quotes");
	expect_error("agent.version < 1.2", CORE_QUERY_ESYNTAX, 17,
		     "column 17: '1.2' is not a number or an IP address; put versions and other "
		     "text in double quotes");
	expect_error("cpu.cores = -1.5", CORE_QUERY_ESYNTAX, 13,
		     "column 13: '-1.5' is not a number or an IP address; put versions and other "
		     "text in double quotes");
	expect_error("ip in 10.1.2.0/16", CORE_QUERY_ESYNTAX, 7,
		     "column 7: 10.1.2.0/16 has host bits set; the network is 10.1.0.0/16");
	expect_error("ip in 10.0.0.0/33", CORE_QUERY_ESYNTAX, 7,
		     "column 7: 10.0.0.0/33 has a bad prefix length; expected /0 to /32");
	expect_error("ip in fe80::/129", CORE_QUERY_ESYNTAX, 7,
		     "column 7: fe80::/129 has a bad prefix length; expected /0 to /128");
	expect_error("ip in 10.0.0.0/08", CORE_QUERY_ESYNTAX, 7,
		     "column 7: 10.0.0.0/08 has a bad prefix length; expected /0 to /32");
	expect_error("ip in 10.0.0.256", CORE_QUERY_ESYNTAX, 7,
		     "column 7: '10.0.0.256' is not a number or an IP address; put versions and "
		     "other text in double quotes");
	expect_error("ip in fe80:::1", CORE_QUERY_ESYNTAX, 7,
		     "column 7: 'fe80:::1' is not a number or an IP address; put versions and "
		     "other text in double quotes");
	/* a long token is echoed in part */
	expect_error("site = \"A\" or aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1",
		     CORE_QUERY_ESYNTAX, 15,
		     "column 15: unknown attribute 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'; known: "
		     "os.name, os.id, os.version_id, kernel.release, arch, memory.total_mb, "
		     "cpu.model, cpu.sockets, cpu.cores, cpu.threads, virtualization, dmi.vendor, "
		     "dmi.product, site, hostname, state, agent.version, ip");
	/* the first problem is reported, not a later one */
	expect_error("os.nmae = \"x\" and site # 1", CORE_QUERY_ESYNTAX, 1,
		     "column 1: unknown attribute 'os.nmae' (did you mean 'os.name'?)");
}

/* ---- caps -------------------------------------------------------------------------------- */

static void test_cap_text(void **state)
{
	char text[CORE_QUERY_TEXT_MAX + 2];
	struct core_query *q;
	const char *head = "hostname = \"";
	size_t n;

	(void)state;
	/* exactly 4096 bytes, padded with spaces */
	n = strlen(head);
	memset(text, ' ', sizeof(text));
	memcpy(text, head, n);
	memcpy(text + n, "x\"", 2);
	text[CORE_QUERY_TEXT_MAX] = '\0';
	q = parse_ok(text);
	core_query_free(q);
	/* one more */
	text[CORE_QUERY_TEXT_MAX] = ' ';
	text[CORE_QUERY_TEXT_MAX + 1] = '\0';
	expect_error(text, CORE_QUERY_ELIMIT, 4097, "column 4097: query is longer than 4096 bytes");
}

static void test_cap_depth(void **state)
{
	char *text;

	(void)state;
	text = repeat("(", "", 64, "", "site = \"A\"");
	{
		char *closed = repeat(")", "", 64, text, "");

		core_query_free(parse_ok(closed));
		free(closed);
	}
	free(text);
	text = repeat("(", "", 65, "", "site = \"A\")");
	expect_error(text, CORE_QUERY_ELIMIT, 65,
		     "column 65: nesting deeper than 64 (parentheses and 'not's)");
	free(text);

	text = repeat("not", " ", 64, "", " site = \"A\"");
	core_query_free(parse_ok(text));
	free(text);
	text = repeat("not", " ", 65, "", " site = \"A\"");
	expect_error(text, CORE_QUERY_ELIMIT, 257,
		     "column 257: nesting deeper than 64 (parentheses and 'not's)");
	free(text);

	/* parentheses and nots add up */
	text = repeat("not (", "", 32, "", "site = \"A\"");
	{
		char *closed = repeat(")", "", 32, text, "");

		core_query_free(parse_ok(closed));
		free(closed);
	}
	free(text);
	text = repeat("not (", "", 32, "not ", "site = \"A\"");
	expect_error(text, CORE_QUERY_ELIMIT, 164,
		     "column 164: nesting deeper than 64 (parentheses and 'not's)");
	free(text);
}

static void test_cap_nodes(void **state)
{
	char *text;

	(void)state;
	/* 255 comparisons and one or-group: 256 nodes */
	text = repeat("site=\"A\"", " or ", 255, "", "");
	core_query_free(parse_ok(text));
	free(text);
	/* 256 comparisons and the group: 257; the last comparison is refused */
	text = repeat("site=\"A\"", " or ", 256, "", "");
	expect_error(text, CORE_QUERY_ELIMIT, 255 * 12 + 1,
		     "column 3061: query has more than 256 nodes (comparisons, predicates, 'not's "
		     "and and/or groups)");
	free(text);
	/* nots count too */
	text = repeat("not site=\"A\"", " or ", 128, "", "");
	expect_error(text, CORE_QUERY_ELIMIT, 127 * 16 + 5,
		     "column 2037: query has more than 256 nodes (comparisons, predicates, 'not's "
		     "and and/or groups)");
	free(text);
}

static void test_cap_list(void **state)
{
	struct fake f;
	char *text;

	(void)state;
	fake_debian(&f);
	text = repeat("1", ",", 255, "cpu.cores in (", ",4)");
	expect_true(text, &f);
	free(text);
	text = repeat("1", ",", 256, "cpu.cores in (", ",4)");
	expect_error(text, CORE_QUERY_ELIMIT, 14 + 256 * 2 + 1,
		     "column 527: more than 256 values in the list");
	free(text);
}

static void test_cap_string(void **state)
{
	char text[CORE_QUERY_STRING_MAX + 64];
	struct core_query *q;
	size_t n;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), "hostname = \"");
	memset(text + n, 'x', CORE_QUERY_STRING_MAX);
	strcpy(text + n + CORE_QUERY_STRING_MAX, "\"");
	q = parse_ok(text);
	core_query_free(q);
	/* an escape counts as the one byte it stands for */
	text[n] = '\\';
	text[n + 1] = '\\';
	text[n + CORE_QUERY_STRING_MAX] = 'x';
	strcpy(text + n + CORE_QUERY_STRING_MAX + 1, "\"");
	q = parse_ok(text);
	core_query_free(q);
	/* one more */
	memset(text + n, 'x', CORE_QUERY_STRING_MAX + 1);
	strcpy(text + n + CORE_QUERY_STRING_MAX + 1, "\"");
	expect_error(text, CORE_QUERY_ELIMIT, 12, "column 12: string longer than 1024 bytes");
	/* multi-byte characters count in bytes */
	for (size_t i = 0; i < 513; i++)
		memcpy(text + n + 2 * i, "\xc3\xa9", 2);
	strcpy(text + n + 1026, "\"");
	expect_error(text, CORE_QUERY_ELIMIT, 12, "column 12: string longer than 1024 bytes");
}

static void test_cap_canonical(void **state)
{
	char *text;

	(void)state;
	/* Lists of "1," grow by half when normalised to "1, ": 3693 bytes of
	 * text become 5487, which could not be parsed again; refused up front
	 * so the stored text always parses again. */
	text = repeat("1", ",", 255, "cpu.cores in(", ")or ");
	{
		char *big = repeat(text, "", 7, "", "cpu.cores=1");
		char buf[CORE_QUERY_TEXT_MAX + 1];
		struct core_query_error err;
		struct core_query *q;
		int rc;

		assert_true(strlen(big) <= CORE_QUERY_TEXT_MAX);
		rc = core_query_parse(big, &q, &err);
		assert_int_equal(rc, CORE_QUERY_ELIMIT);
		assert_int_equal(err.column, 0);
		assert_non_null(strstr(err.message, "query is longer than 4096 bytes once "
						    "normalised"));
		assert_null(q);
		free(big);

		/* a smaller one fits, and its canonical form parses again */
		big = repeat(text, "", 5, "", "cpu.cores=1");
		q = parse_ok(big);
		assert_true(core_query_format(q, buf, sizeof(buf)) <= CORE_QUERY_TEXT_MAX);
		core_query_free(q);
		core_query_free(parse_ok(buf));
		free(big);
	}
	free(text);
}

/* ---- budget -------------------------------------------------------------------------------- */

static void test_budget(void **state)
{
	struct fake f;
	struct core_query_facts facts;
	struct core_query *q;
	uint64_t used = 0, used2 = 0;
	char buf[256];

	(void)state;
	fake_debian(&f);
	facts = fake_facts(&f);

	/* the exact cost is the edge: budget == cost passes, one less fails */
	q = parse_ok(EXAMPLE);
	assert_int_equal(core_query_eval(q, &facts, 1000000, &used), 1);
	assert_true(used > 0);
	assert_int_equal(core_query_eval(q, &facts, used, &used2), 1);
	assert_int_equal(used2, used);
	assert_int_equal(core_query_eval(q, &facts, used - 1, &used2), CORE_QUERY_EBUDGET);
	assert_int_equal(core_query_eval(q, &facts, 0, NULL), CORE_QUERY_EBUDGET);
	core_query_free(q);

	/* a leading-wildcard pattern over thousands of packages is refused,
	 * with a reason, after a bounded amount of work */
	f.generated = 5000;
	q = parse_ok("has_package(\"*-nosuch\")");
	assert_int_equal(core_query_eval(q, &facts, 1000, &used), CORE_QUERY_EBUDGET);
	assert_int_equal(used, 1001);
	assert_int_equal(core_query_explain(q, &facts, 1000, buf, sizeof(buf)), CORE_QUERY_EBUDGET);
	assert_string_equal(buf, "refused: the query needs more than 1000 work units for this "
				 "client; simplify it (for example avoid a leading * in like or "
				 "package names)");
	/* with the default budget it finishes */
	assert_int_equal(core_query_eval(q, &facts, CORE_QUERY_BUDGET_DEFAULT, &used), 0);
	assert_true(used > 5000 && used < 20000);
	core_query_free(q);

	/* a provider that ignores the stop does not change the answer */
	f.ignore_stop = true;
	q = parse_ok("has_package(\"pkg-1*\")");
	assert_int_equal(core_query_eval(q, &facts, 3, &used), CORE_QUERY_EBUDGET);
	assert_int_equal(used, 4);
	assert_int_equal(core_query_eval(q, &facts, 1000000, NULL), 1);
	core_query_free(q);
	f.ignore_stop = false;
	f.generated = 0;

	/* like pays for its steps: the glob's worst case, a star then a long
	 * literal that almost matches everywhere, on a long value */
	{
		char value[1001], query[400];
		char *pattern = repeat("a", "", 200, "cpu.model like \"*", "b\"");

		memset(value, 'a', 1000);
		value[1000] = '\0';
		fake_set(&f, CORE_QUERY_ATTR_CPU_MODEL, value, NULL);
		snprintf(query, sizeof(query), "%s", pattern);
		free(pattern);
		q = parse_ok(query);
		assert_int_equal(core_query_eval(q, &facts, 1000000000, &used), 0);
		assert_true(used > 1000);
		assert_int_equal(core_query_eval(q, &facts, 100, NULL), CORE_QUERY_EBUDGET);
		core_query_free(q);
	}

	/* in-lists pay per element compared */
	{
		char *text = repeat("1", ",", 200, "cpu.cores in (", ")");

		fake_set(&f, CORE_QUERY_ATTR_CPU_CORES, "2", "3", "5", NULL);
		q = parse_ok(text);
		assert_int_equal(core_query_eval(q, &facts, 100000, &used), 0);
		assert_int_equal(used, 1 + 3 * 200);
		core_query_free(q);
		free(text);
	}
}

static void test_facts_failures(void **state)
{
	struct fake f;
	struct core_query_facts facts;
	struct core_query *q;
	char buf[128];

	(void)state;
	fake_debian(&f);
	facts = fake_facts(&f);
	f.fail_get = true;
	q = parse_ok("site = \"ABC\"");
	assert_int_equal(core_query_eval(q, &facts, 1000, NULL), CORE_QUERY_EFACTS);
	assert_int_equal(core_query_explain(q, &facts, 1000, buf, sizeof(buf)), CORE_QUERY_EFACTS);
	assert_string_equal(buf, "refused: could not read the client's facts");
	core_query_free(q);
	f.fail_get = false;

	f.fail_pkgs = true;
	q = parse_ok("has_package(\"openssl\")");
	assert_int_equal(core_query_eval(q, &facts, 1000, NULL), CORE_QUERY_EFACTS);
	core_query_free(q);
	/* short-circuit: the failing provider is never asked */
	q = parse_ok("site = \"XYZ\" and has_package(\"openssl\")");
	assert_int_equal(core_query_eval(q, &facts, 1000, NULL), 0);
	core_query_free(q);
	f.fail_pkgs = false;

	/* no get callback: no values */
	facts.get = NULL;
	q = parse_ok("not site = \"ABC\"");
	assert_int_equal(core_query_eval(q, &facts, 1000, NULL), 1);
	core_query_free(q);
}

static void test_short_circuit(void **state)
{
	struct fake f;
	struct core_query_facts facts;
	struct core_query *q;

	(void)state;
	fake_debian(&f);
	facts = fake_facts(&f);
	q = parse_ok("site = \"ABC\" or hostname = \"x\" or has_package(\"x\")");
	assert_int_equal(core_query_eval(q, &facts, 1000, NULL), 1);
	assert_int_equal(f.get_calls, 1);
	assert_int_equal(f.pkg_calls, 0);
	core_query_free(q);
}

/* ---- explain -------------------------------------------------------------------------------- */

static void test_explain(void **state)
{
	struct fake f;

	(void)state;
	fake_debian(&f);
	expect_explain(
	    EXAMPLE, &f, 1,
	    "included: os.name = \"Debian GNU/Linux\" is true (os.name is \"Debian "
	    "GNU/Linux\"); memory.total_mb >= 1024 is true (memory.total_mb is 2048); not "
	    "has_package(\"nginx\") is true");
	/* a false and names its first false clause */
	fake_set(&f, CORE_QUERY_ATTR_MEMORY_TOTAL_MB, "512", NULL);
	expect_explain(EXAMPLE, &f, 0,
		       "excluded: memory.total_mb >= 1024 is false (memory.total_mb is 512)");
	fake_set(&f, CORE_QUERY_ATTR_MEMORY_TOTAL_MB, NULL);
	expect_explain(EXAMPLE, &f, 0,
		       "excluded: memory.total_mb >= 1024 is false (memory.total_mb has no value)");
	fake_debian(&f);
	fake_pkg(&f, "nginx", "1.22.1-9");
	expect_explain(
	    EXAMPLE, &f, 0,
	    "excluded: not has_package(\"nginx\") is false (nginx 1.22.1-9 is installed)");

	/* a true or names its first true branch; a false one every branch */
	fake_debian(&f);
	expect_explain("site = \"XYZ\" or ip in 10.0.0.0/8 or arch = \"x86_64\"", &f, 1,
		       "included: ip in 10.0.0.0/8 is true (ip is 10.1.4.7/24)");
	expect_explain(
	    "site = \"XYZ\" or ip in 172.16.0.0/12", &f, 0,
	    "excluded: site = \"XYZ\" is false (site is \"ABC\"); ip in 172.16.0.0/12 is "
	    "false (ip is 192.168.7.20, 10.1.4.7/24, fe80::5054:ff:fe12:3456%ens3)");
	/* nested groups */
	expect_explain(
	    "arch = \"x86_64\" and (site = \"XYZ\" or cpu.cores >= 2)", &f, 1,
	    "included: arch = \"x86_64\" is true (arch is \"x86_64\"); cpu.cores >= 2 is "
	    "true (cpu.cores is 4)");
	expect_explain(
	    "not (site = \"XYZ\" or cpu.cores > 8)", &f, 1,
	    "included: not (site = \"XYZ\" or cpu.cores > 8) is true because site = "
	    "\"XYZ\" is false (site is \"ABC\"); cpu.cores > 8 is false (cpu.cores is 4)");
	expect_explain(
	    "not not site = \"ABC\"", &f, 1,
	    "included: not not site = \"ABC\" is true because not site = \"ABC\" is false "
	    "(site is \"ABC\")");
	/* packages */
	expect_explain("package(\"openssl\").version < \"3.0.11\"", &f, 1,
		       "included: package(\"openssl\").version < \"3.0.11\" is true (openssl "
		       "3.0.9-1 is installed)");
	expect_explain("package(\"openssl\").version >= \"3.0.11\"", &f, 0,
		       "excluded: package(\"openssl\").version >= \"3.0.11\" is false (openssl "
		       "3.0.9-1 is installed)");
	expect_explain("package(\"lib*\").version >= \"9\"", &f, 0,
		       "excluded: package(\"lib*\").version >= \"9\" is false (libssl3 3.0.9-1 is "
		       "installed, and 1 more)");
	expect_explain(
	    "package(\"nginx\").version >= \"1\"", &f, 0,
	    "excluded: package(\"nginx\").version >= \"1\" is false (no package \"nginx\" "
	    "is installed)");
	expect_explain(
	    "package(\"nginx*\").version >= \"1\"", &f, 0,
	    "excluded: package(\"nginx*\").version >= \"1\" is false (no package matching "
	    "\"nginx*\" is installed)");
	expect_explain("has_package(\"lib*\")", &f, 1,
		       "included: has_package(\"lib*\") is true (libssl3 3.0.9-1 is installed)");
	expect_explain("has_package(\"nginx\")", &f, 0,
		       "excluded: has_package(\"nginx\") is false");
	/* many values: a few are shown */
	fake_set(&f, CORE_QUERY_ATTR_IP, "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5",
		 NULL);
	expect_explain("ip = 10.0.0.9", &f, 0,
		       "excluded: ip = 10.0.0.9 is false (ip is 10.0.0.1, 10.0.0.2, 10.0.0.3 and 2 "
		       "more)");
	/* fact values are quoted safely */
	fake_set(&f, CORE_QUERY_ATTR_HOSTNAME, "a\"b\\c\x01\xff\xc3\xa9", NULL);
	expect_explain(
	    "hostname = \"x\"", &f, 0,
	    "excluded: hostname = \"x\" is false (hostname is \"a\\\"b\\\\c\\x01\\xff\xc3\xa9\")");
}

static void test_explain_caps(void **state)
{
	struct fake f;
	struct core_query_facts facts;
	struct core_query *q;
	char buf[64], big[4096];
	char *text;
	int r;

	(void)state;
	fake_debian(&f);
	facts = fake_facts(&f);
	q = parse_ok(EXAMPLE);
	r = core_query_explain(q, &facts, 1000, buf, sizeof(buf));
	assert_int_equal(r, 1);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_string_equal(buf,
			    "included: os.name = \"Debian GNU/Linux\" is true (os.name is \"...");
	/* tiny buffers */
	assert_int_equal(core_query_explain(q, &facts, 1000, buf, 4), 1);
	assert_string_equal(buf, "...");
	assert_int_equal(core_query_explain(q, &facts, 1000, buf, 1), 1);
	assert_string_equal(buf, "");
	assert_int_equal(core_query_explain(q, &facts, 1000, NULL, 0), 1);
	core_query_free(q);

	/* a long clause is cut in the explanation */
	text = repeat("\"ABCDEFGHIJ\"", ", ", 40, "site in (", ")");
	q = parse_ok(text);
	assert_int_equal(core_query_explain(q, &facts, 100000, big, sizeof(big)), 0);
	{
		const char *head = "excluded: site in (\"ABCDEFGHIJ\", ";

		assert_true(strncmp(big, head, strlen(head)) == 0);
	}
	assert_non_null(strstr(big, "... is false (site is \"ABC\")"));
	assert_true(strlen(big) < 300);
	core_query_free(q);
	free(text);

	/* the cut never splits a UTF-8 character */
	fake_set(&f, CORE_QUERY_ATTR_HOSTNAME, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL);
	q = parse_ok("hostname = \"x\"");
	for (size_t sz = 40; sz < 60; sz++) {
		size_t len;

		core_query_explain(q, &facts, 1000, big, sz);
		len = strlen(big);
		assert_true(len < sz);
		if (len >= 4 && strcmp(big + len - 3, "...") == 0)
			assert_true(((unsigned char)big[len - 4] & 0xc0) != 0xc0);
	}
	core_query_free(q);
}

/* ---- deps, format, table -------------------------------------------------------------------- */

static void test_deps(void **state)
{
	static const struct {
		const char *query;
		unsigned deps;
	} cases[] = {
	    {"site = \"A\"", CORE_QUERY_DEP_CLIENT},
	    {"hostname = \"a\" or state = \"active\" or agent.version > \"1\"",
	     CORE_QUERY_DEP_CLIENT},
	    {"memory.total_mb > 1 and cpu.cores > 1 and dmi.vendor = \"x\"",
	     CORE_QUERY_DEP_HARDWARE},
	    {"os.name = \"x\" or kernel.release > \"1\" or arch = \"x\"", CORE_QUERY_DEP_OS},
	    {"ip in 10.0.0.0/8", CORE_QUERY_DEP_NETWORK},
	    {"has_package(\"x\")", CORE_QUERY_DEP_SOFTWARE},
	    {"not package(\"x\").version < \"1\"", CORE_QUERY_DEP_SOFTWARE},
	    {EXAMPLE, CORE_QUERY_DEP_OS | CORE_QUERY_DEP_HARDWARE | CORE_QUERY_DEP_SOFTWARE},
	    {"site = \"A\" or (ip in ::/0 and virtualization = \"kvm\")",
	     CORE_QUERY_DEP_CLIENT | CORE_QUERY_DEP_NETWORK | CORE_QUERY_DEP_HARDWARE},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct core_query *q = parse_ok(cases[i].query);

		if (core_query_deps(q) != cases[i].deps)
			fail_msg("deps of '%s': want %#x got %#x", cases[i].query, cases[i].deps,
				 core_query_deps(q));
		core_query_free(q);
	}
	assert_int_equal(core_query_deps(NULL), 0);
}

static void test_format(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {EXAMPLE, EXAMPLE},
	    {"OS.NAME=\"x\"AND(site=\"A\"OR site=\"B\")",
	     "os.name = \"x\" and (site = \"A\" or site = \"B\")"},
	    {"  site  !=  \"A\"  ", "site != \"A\""},
	    {"site <> \"A\"", "site != \"A\""},
	    {"site == \"A\"", "site = \"A\""},
	    {"cpu.cores>=+0", NULL}, /* '+' is not a number sign: checked below */
	    {"cpu.cores >= -0", "cpu.cores >= 0"},
	    {"cpu.cores >= 007", "cpu.cores >= 7"},
	    {"hostname = \"a\\\"b\\\\c\"", "hostname = \"a\\\"b\\\\c\""},
	    {"hostname LIKE \"w?b*\"", "hostname like \"w?b*\""},
	    {"site In (\"A\")", "site in (\"A\")"},
	    {"NOT(site = \"A\")", "not site = \"A\""},
	    {"not (not (site = \"A\"))", "not not site = \"A\""},
	    {"(site = \"A\" or site = \"B\") and (site = \"C\" or site = \"D\")",
	     "(site = \"A\" or site = \"B\") and (site = \"C\" or site = \"D\")"},
	    {"site = \"A\" or (site = \"B\" and site = \"C\")",
	     "site = \"A\" or site = \"B\" and site = \"C\""},
	    {"not (site = \"A\" and site = \"B\")", "not (site = \"A\" and site = \"B\")"},
	    {"Has_Package ( \"nginx*\" )", "has_package(\"nginx*\")"},
	    {"PACKAGE(\"openssl\") . VERSION<\"3.0.11\"",
	     "package(\"openssl\").version < \"3.0.11\""},
	    {"package(\"x\").version in (\"1\",2)", "package(\"x\").version in (\"1\", 2)"},
	    {"os.version_id>=12", "os.version_id >= 12"},
	    {"ip IN (10.0.0.0/8)", "ip in 10.0.0.0/8"},
	    {"ip = ::ffff:1.2.3.4", "ip = 1.2.3.4"},
	    {"ip in 2001:DB8::/32", "ip in 2001:db8::/32"},
	    {"ip in (2001:db8:0:0:0:0:0:1, 10.0.0.1)", "ip in (2001:db8::1, 10.0.0.1)"},
	    {"ip = 10.0.0.1/32", "ip = 10.0.0.1/32"},
	    {"hostname = \"caf\xc3\xa9\"", "hostname = \"caf\xc3\xa9\""},
	    {"site=\"A\"\r\n\tand\tsite=\"B\"", "site = \"A\" and site = \"B\""},
	};
	size_t i;
	char small[8];
	struct core_query *q;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cases[i].out)
			expect_format(cases[i].in, cases[i].out);
	expect_error("cpu.cores>=+0", CORE_QUERY_ESYNTAX, 12,
		     "column 12: unexpected character '+'");

	/* snprintf-like: the full length is returned, the buffer is cut */
	q = parse_ok("site = \"ABC\"");
	assert_int_equal(core_query_format(q, small, sizeof(small)), 12);
	assert_string_equal(small, "site = ");
	assert_int_equal(core_query_format(q, NULL, 0), 12);
	core_query_free(q);
	assert_int_equal(core_query_format(NULL, small, sizeof(small)), CORE_QUERY_EINVAL);
}

static void test_attr_table(void **state)
{
	int i, j;

	(void)state;
	for (i = 0; i < CORE_QUERY_ATTR_COUNT; i++) {
		const struct core_query_attr *a = core_query_attr_get((enum core_query_attr_id)i);
		char text[128];
		struct core_query *q;

		assert_non_null(a);
		assert_non_null(a->name);
		assert_non_null(a->help);
		assert_true(a->help[0] != '\0');
		assert_int_equal(core_query_attr_find(a->name), i);
		/* exactly one class */
		assert_true(a->dep != 0 && (a->dep & (a->dep - 1)) == 0);
		for (j = 0; j < i; j++)
			assert_string_not_equal(
			    a->name, core_query_attr_get((enum core_query_attr_id)j)->name);
		/* every attribute parses with a value of its type */
		switch (a->type) {
		case CORE_QUERY_NUMBER:
			snprintf(text, sizeof(text), "%s = 1", a->name);
			break;
		case CORE_QUERY_IP:
			snprintf(text, sizeof(text), "%s = 10.0.0.1", a->name);
			break;
		default:
			snprintf(text, sizeof(text), "%s = \"1\"", a->name);
			break;
		}
		q = parse_ok(text);
		assert_int_equal(core_query_deps(q), a->dep);
		core_query_free(q);
	}
	assert_null(core_query_attr_get(CORE_QUERY_ATTR_COUNT));
	assert_null(core_query_attr_get((enum core_query_attr_id) - 1));
	assert_int_equal(core_query_attr_find("OS.NAME"), CORE_QUERY_ATTR_OS_NAME);
	assert_int_equal(core_query_attr_find("os.nam"), -1);
	assert_int_equal(core_query_attr_find(NULL), -1);
	/* the brief's attribute names */
	assert_int_equal(core_query_attr_get(CORE_QUERY_ATTR_AGENT_VERSION)->type,
			 CORE_QUERY_VERSION);
	assert_int_equal(core_query_attr_get(CORE_QUERY_ATTR_OS_VERSION_ID)->type,
			 CORE_QUERY_VERSION);
	assert_int_equal(core_query_attr_get(CORE_QUERY_ATTR_KERNEL_RELEASE)->type,
			 CORE_QUERY_VERSION);
	assert_int_equal(core_query_attr_get(CORE_QUERY_ATTR_MEMORY_TOTAL_MB)->type,
			 CORE_QUERY_NUMBER);
	assert_int_equal(core_query_attr_get(CORE_QUERY_ATTR_IP)->type, CORE_QUERY_IP);
}

static void test_api_misuse(void **state)
{
	struct core_query_error err;
	struct core_query *q = NULL;
	struct fake f;
	struct core_query_facts facts;
	char buf[64];
	uint64_t used = 7;

	(void)state;
	assert_int_equal(core_query_parse(NULL, &q, &err), CORE_QUERY_EINVAL);
	assert_int_equal(err.code, CORE_QUERY_EINVAL);
	assert_int_equal(core_query_parse("site = \"A\"", NULL, &err), CORE_QUERY_EINVAL);
	/* err may be NULL */
	assert_int_equal(core_query_parse("site =", &q, NULL), CORE_QUERY_ESYNTAX);
	assert_null(q);
	q = parse_ok("site = \"A\"");
	assert_int_equal(core_query_eval(q, NULL, 100, &used), CORE_QUERY_EINVAL);
	assert_int_equal(used, 0);
	assert_int_equal(core_query_eval(NULL, NULL, 100, NULL), CORE_QUERY_EINVAL);
	fake_debian(&f);
	facts = fake_facts(&f);
	assert_int_equal(core_query_explain(NULL, &facts, 100, buf, sizeof(buf)),
			 CORE_QUERY_EINVAL);
	assert_string_equal(buf, "refused: no query or no facts given");
	core_query_free(q);
	core_query_free(NULL);
	assert_string_equal(core_query_strerror(CORE_QUERY_EBUDGET),
			    "query needs more work than its budget");
	assert_string_equal(core_query_strerror(12345), "unknown error");
}

/* ---- Debian versions --------------------------------------------------------------------- */

static void test_debver_cmp(void **state)
{
	/* a < b in every pair */
	static const char *const less[][2] = {
	    /* from Debian policy 5.6.12 */
	    {"1.0~rc1", "1.0"},
	    {"~~", "~~a"},
	    {"~~a", "~"},
	    {"~", ""},
	    {"", "a"},
	    {"2.0", "1:0.1"},
	    {"1.0-1", "1.0-2"},
	    {"1.0a", "1.0+"},
	    {"1.0", "1.0a"},
	    {"1.0a", "1.0b"},
	    {"2.3-1", "2.30-1"},
	    {"2.9", "2.10"},
	    {"1.0~rc1", "1.0~rc2"},
	    {"1.0~~", "1.0~"},
	    {"1.0~rc1-1", "1.0-1"},
	    {"1.0-1~bpo1", "1.0-1"},
	    {"1.0-1", "1.0-1+b1"},
	    {"1.0-1", "1.0-1.1"},
	    {"1.0+dfsg", "1.0.1"},
	    {"1.0", "1.0-1"},
	    {"1.0", "1.0.0"},
	    {"1:1.0", "2:0.1"},
	    {"9:1", "10:0"},
	    {"3.0.9-1", "3.0.11"},
	    {"2.36-9+deb12u4", "2.36-9+deb12u5"},
	    {"1.2.3", "1.2.3a"},
	    {"a", "b"},
	    {"Z", "a"}, /* letters by ASCII */
	    {"1.a", "1.+"},
	    {"1-1-1", "1-1-2"}, /* the last hyphen starts the revision */
	    {"1-2-1", "1-10-1"},
	    /* long digit runs, beyond any integer type */
	    {"1.99999999999999999999999999999", "1.100000000000000000000000000000"},
	    {"1.123456789012345678901234567890", "1.123456789012345678901234567891"},
	    {"99999999999999999999999999:1", "100000000000000000000000000:0"},
	    {"1.000000000000000000000000000000000002", "1.3"},
	};
	/* a == b in every pair */
	static const char *const equal[][2] = {
	    {"0:1.0", "1.0"},	    {"1.0", "1.0-0"},	  {"1.0", "1.00"}, {"1.01", "1.1"},
	    {"00:1.0", "1.0"},	    {"1.0-0", "0:1.0-0"}, {"1.0-", "1.0"}, {"", ""},
	    {"1:2.0-3", "1:2.0-3"}, {"0001.0002", "1.2"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(less) / sizeof(less[0]); i++) {
		int ab = core_debver_cmp(less[i][0], less[i][1]);
		int ba = core_debver_cmp(less[i][1], less[i][0]);

		if (ab >= 0 || ba <= 0)
			fail_msg("want '%s' < '%s': got %d and %d", less[i][0], less[i][1], ab, ba);
		assert_int_equal(core_debver_cmp(less[i][0], less[i][0]), 0);
	}
	for (i = 0; i < sizeof(equal) / sizeof(equal[0]); i++)
		if (core_debver_cmp(equal[i][0], equal[i][1]) != 0 ||
		    core_debver_cmp(equal[i][1], equal[i][0]) != 0)
			fail_msg("want '%s' = '%s'", equal[i][0], equal[i][1]);
	/* results are -1, 0 or 1 */
	assert_int_equal(core_debver_cmp("1", "2"), -1);
	assert_int_equal(core_debver_cmp("2", "1"), 1);
	assert_int_equal(core_debver_cmp("1a", "1~"), 1);
	/* NULL reads as "" */
	assert_int_equal(core_debver_cmp(NULL, ""), 0);
	assert_true(core_debver_cmp(NULL, "1") < 0);
	/* a malformed epoch is part of the version: still a total order */
	assert_true(core_debver_cmp("a:1", "a:2") < 0);
	assert_true(core_debver_cmp("1:", "0:9") > 0);
}

/* The less pairs above, sorted: the order is transitive. */
static void test_debver_sort(void **state)
{
	static const char *const sorted[] = {
	    "~~",    "~~a",	 "~",	   "",	    "0.9",   "1.0~rc1", "1.0~rc2", "1.0",
	    "1.0-1", "1.0-1+b1", "1.0-2",  "1.0a",  "1.0b",  "1.0+",	"1.0.1",   "2.3-1",
	    "2.9",   "2.10",	 "2.30-1", "1:0.1", "1:1.0", "2:0.1",
	};
	size_t i, j, n = sizeof(sorted) / sizeof(sorted[0]);

	(void)state;
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			int c = core_debver_cmp(sorted[i], sorted[j]);
			int want = i < j ? -1 : i > j;

			if (c != want)
				fail_msg("cmp('%s', '%s') = %d, want %d", sorted[i], sorted[j], c,
					 want);
		}
}

static void test_debver_valid(void **state)
{
	static const char *const good[] = {
	    "1",
	    "1.0",
	    "1.0-1",
	    "1:1.0-1",
	    "0:1",
	    "2147483647:1",
	    "1.0~rc1",
	    "1.0+dfsg-1+b2",
	    "2.36-9+deb12u4",
	    "6.1.0-18-amd64",
	    "1.2.3-4-5",
	    "1.0-1~bpo12+1",
	    "12",
	    "1a",
	    "3.0.11",
	    "1-a",
	};
	static const char *const bad[] = {
	    "",
	    "a1",
	    ":1",
	    "1:",
	    "a:1",
	    "-1",
	    "1-",
	    "1.0 ",
	    " 1.0",
	    "1_0",
	    "1.0-1_2",
	    "2147483648:1",
	    "99999999999999999999:1",
	    "1:a",
	    "1.0-1:2",
	    "1:2:3",
	    "1.0@",
	    "1.0-1-",
	    "1.0-1-",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!core_debver_valid(good[i]))
			fail_msg("'%s' should be valid", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (core_debver_valid(bad[i]))
			fail_msg("'%s' should be invalid", bad[i]);
	assert_false(core_debver_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_example),
	    cmocka_unit_test(test_string_operators),
	    cmocka_unit_test(test_number_operators),
	    cmocka_unit_test(test_version_operators),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_parentheses),
	    cmocka_unit_test(test_in_lists),
	    cmocka_unit_test(test_like),
	    cmocka_unit_test(test_ip),
	    cmocka_unit_test(test_packages),
	    cmocka_unit_test(test_type_errors),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_cap_text),
	    cmocka_unit_test(test_cap_depth),
	    cmocka_unit_test(test_cap_nodes),
	    cmocka_unit_test(test_cap_list),
	    cmocka_unit_test(test_cap_string),
	    cmocka_unit_test(test_cap_canonical),
	    cmocka_unit_test(test_budget),
	    cmocka_unit_test(test_facts_failures),
	    cmocka_unit_test(test_short_circuit),
	    cmocka_unit_test(test_explain),
	    cmocka_unit_test(test_explain_caps),
	    cmocka_unit_test(test_deps),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_attr_table),
	    cmocka_unit_test(test_api_misuse),
	    cmocka_unit_test(test_debver_cmp),
	    cmocka_unit_test(test_debver_sort),
	    cmocka_unit_test(test_debver_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for lib/content release manifests (release.c): build → parse
 * round trips; each rule the builder refuses; one signed text per
 * strictness rule of the parser (docs/internals/releases.md, "Manifest
 * format"); tampering, the trusted keys, and that a refusal leaves the
 * output empty.
 *
 * Texts for the strictness cases are made by editing the body of a valid
 * release and signing it again, so each case is refused for its own rule
 * and not for its signature.
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

#include <sodium.h>

#include "steward/content.h"

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_))                                                        \
			fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_);            \
	} while (0)

static struct proto_keypair KP, OTHER;

static const char H_AGENT[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char H_INV[] = "2222222222222222222222222222222222222222222222222222222222222222";
static const char H_SITE[] = "3333333333333333333333333333333333333333333333333333333333333333";

static int setup_keys(void **state)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	(void)state;
	if (proto_init())
		return -1;
	memset(seed, 7, sizeof(seed));
	crypto_sign_seed_keypair(KP.pk, KP.sk, seed);
	memset(seed, 8, sizeof(seed));
	crypto_sign_seed_keypair(OTHER.pk, OTHER.sk, seed);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static void component(struct content_release *r, const char *name,
		      enum content_component_kind kind, const char *version, unsigned lo,
		      unsigned hi, const char *needs_base)
{
	struct content_component *c = &r->components[r->n_components++];

	memset(c, 0, sizeof(*c));
	assert_int_equal(str_copy(c->name, sizeof(c->name), name), 0);
	c->kind = kind;
	assert_int_equal(str_copy(c->version, sizeof(c->version), version), 0);
	c->proto_min = lo;
	c->proto_max = hi;
	assert_int_equal(str_copy(c->needs_base, sizeof(c->needs_base), needs_base), 0);
}

static void file(struct content_release *r, const char *comp, unsigned mode, uint64_t size,
		 const char *hash, const char *path)
{
	struct content_release_file *f;

	r->files = realloc(r->files, (r->n_files + 1) * sizeof(*r->files));
	assert_non_null(r->files);
	f = &r->files[r->n_files++];
	memset(f, 0, sizeof(*f));
	assert_int_equal(str_copy(f->component, sizeof(f->component), comp), 0);
	assert_int_equal(str_copy(f->path, sizeof(f->path), path), 0);
	f->mode = mode;
	f->size = size;
	assert_int_equal(str_copy(f->hash, sizeof(f->hash), hash), 0);
}

/* 1.1.0: a launcher, a base, an optional component that needs base 1.0.0,
 * and the site, with their files. */
static void sample(struct content_release *r)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->version, "1.1.0");
	r->created = 1764000000;		 /* 2025-11-24T16:00:00Z */
	r->expires = 1764000000 + 365 * 86400; /* 2026-11-24T16:00:00Z */
	strcpy(r->upgrade_from, "1.0.0");
	component(r, "steward-agent", CONTENT_KIND_BASE, "1.1.0", 1, 2, "");
	component(r, "steward-inventory", CONTENT_KIND_OPTIONAL, "1.0.3", 1, 1, "1.0.0");
	component(r, "steward-launcher", CONTENT_KIND_LAUNCHER, "1.1.0", 1, 2, "");
	component(r, "stewardd", CONTENT_KIND_SITE, "1.1.0", 2, 2, "");
	file(r, "steward-agent", 0755, 616952, H_AGENT, "bin/steward-agent");
	file(r, "steward-inventory", 0644, 10, H_INV, "lib/inventory.conf");
	file(r, "stewardd", 0755, 1414592, H_SITE, "bin/stewardd");
	file(r, "stewardd", 0644, 0, H_INV, "share/empty");
}

static const char SAMPLE_BODY[] =
    "steward-release\t1\n"
    "version\t1.1.0\n"
    "created\t2025-11-24T16:00:00Z\n"
    "expires\t2026-11-24T16:00:00Z\n"
    "key\t%s\n"
    "upgrade_from\t1.0.0\n"
    "components\t4\n"
    "component\tsteward-agent\tbase\t1.1.0\t1-2\t-\n"
    "component\tsteward-inventory\toptional\t1.0.3\t1-1\t1.0.0\n"
    "component\tsteward-launcher\tlauncher\t1.1.0\t1-2\t-\n"
    "component\tstewardd\tsite\t1.1.0\t2-2\t-\n"
    "files\t4\n"
    "file\tsteward-agent\t0755\t616952\t"
    "1111111111111111111111111111111111111111111111111111111111111111\tbin/steward-agent\n"
    "file\tsteward-inventory\t0644\t10\t"
    "2222222222222222222222222222222222222222222222222222222222222222\tlib/inventory.conf\n"
    "file\tstewardd\t0755\t1414592\t"
    "3333333333333333333333333333333333333333333333333333333333333333\tbin/stewardd\n"
    "file\tstewardd\t0644\t0\t"
    "2222222222222222222222222222222222222222222222222222222222222222\tshare/empty\n";

/* not inlined: gcc 12 then takes body for a pointer to its local and warns */
__attribute__((noinline)) static char *sample_body(void)
{
	char key[2 * PROTO_PK_BYTES + 1], *out;

	hex_encode(KP.pk, PROTO_PK_BYTES, key);
	assert_true(asprintf(&out, SAMPLE_BODY, key) > 0);
	return out;
}

/* body + its signature line by KP: a text refused only for what body says. */
static char *sign(const char *body, size_t *len)
{
	uint8_t sig[crypto_sign_BYTES];
	char b64[100], *out;

	crypto_sign_detached(sig, NULL, (const uint8_t *)body, strlen(body), KP.sk);
	sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
	assert_true(asprintf(&out, "%ssignature\t%s\n", body, b64) > 0);
	*len = strlen(out);
	return out;
}

/* s with the first old replaced by new (malloc'd); old must occur. */
static char *replace(const char *s, const char *old, const char *new)
{
	const char *at = strstr(s, old);
	char *out;

	if (!at)
		fail_msg("'%s' is not in the sample", old);
	assert_true(asprintf(&out, "%.*s%s%s", (int)(at - s), s, new, at + strlen(old)) > 0);
	return out;
}

static int is_empty(const struct content_release *r)
{
	static const struct content_release zero;

	return memcmp(r, &zero, sizeof(zero)) == 0;
}

/* Parse text (trusting KP) and expect refusal with code and a message
 * holding want; the output must come back empty. */
static void expect_refused(const char *text, size_t len, const char *code, const char *want)
{
	struct content_release r;
	struct steward_err err;

	memset(&r, 0xa5, sizeof(r));
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(content_release_parse(text, len, &KP.pk, 1, &r, &err), 0);
	if (strcmp(err.code, code) != 0)
		fail_msg("expected %s, got %s: %s", code, err.code, err.message);
	assert_contains(err.message, want);
	assert_true(err.remedy[0] != '\0');
	assert_true(is_empty(&r));
}

/* The sample body with old replaced by new, signed again, refused with code. */
static void expect_edit_refused(const char *old, const char *new, const char *code,
				const char *want)
{
	char *body = sample_body(), *edited = replace(body, old, new), *text;
	size_t len;

	text = sign(edited, &len);
	expect_refused(text, len, code, want);
	free(text);
	free(edited);
	free(body);
}

/* ---- round trip ----------------------------------------------------------- */

static void test_round_trip(void **state)
{
	struct content_release r, back;
	struct steward_err err;
	char *text, *again, *body;
	size_t len, len2;

	(void)state;
	sample(&r);
	assert_int_equal(content_release_build(&r, &KP, &text, &len, &err), 0);
	assert_int_equal(strlen(text), len);

	/* the text is exactly the documented one, signed */
	body = sample_body();
	assert_int_equal(strncmp(text, body, strlen(body)), 0);
	assert_int_equal(strncmp(text + strlen(body), "signature\t", 10), 0);
	free(body);

	assert_int_equal(content_release_parse(text, len, &KP.pk, 1, &back, &err), 0);
	assert_string_equal(back.version, "1.1.0");
	assert_int_equal(back.created, r.created);
	assert_int_equal(back.expires, r.expires);
	assert_memory_equal(back.key, KP.pk, PROTO_PK_BYTES);
	assert_string_equal(back.upgrade_from, "1.0.0");
	assert_int_equal(back.n_components, 4);
	for (size_t i = 0; i < r.n_components; i++) {
		const struct content_component *a = &r.components[i], *b = &back.components[i];

		assert_string_equal(a->name, b->name);
		assert_int_equal(a->kind, b->kind);
		assert_string_equal(a->version, b->version);
		assert_int_equal(a->proto_min, b->proto_min);
		assert_int_equal(a->proto_max, b->proto_max);
		assert_string_equal(a->needs_base, b->needs_base);
	}
	assert_int_equal(back.n_files, 4);
	for (size_t i = 0; i < r.n_files; i++) {
		const struct content_release_file *a = &r.files[i], *b = &back.files[i];

		assert_string_equal(a->component, b->component);
		assert_string_equal(a->path, b->path);
		assert_int_equal(a->mode, b->mode);
		assert_int_equal(a->size, b->size);
		assert_string_equal(a->hash, b->hash);
	}

	/* lookups by name */
	assert_ptr_equal(content_release_component(&back, "stewardd"), &back.components[3]);
	assert_null(content_release_component(&back, "stewardctl"));
	assert_string_equal(content_component_kind_name(back.components[2].kind), "launcher");

	/* one text per release: building what was read gives the same bytes */
	assert_int_equal(content_release_build(&back, &KP, &again, &len2, &err), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(again, text, len);

	/* no files at all is a valid release too */
	content_release_clear(&back);
	free(r.files);
	r.files = NULL;
	r.n_files = 0;
	free(again);
	assert_int_equal(content_release_build(&r, &KP, &again, &len2, &err), 0);
	assert_int_equal(content_release_parse(again, len2, NULL, 0, &back, &err), 0);
	assert_int_equal(back.n_files, 0);
	assert_null(back.files);
	content_release_clear(&back);
	assert_true(is_empty(&back));
	free(again);
	free(text);
}

static void test_names(void **state)
{
	char name[CONTENT_COMPONENT_NAME_MAX + 2];

	(void)state;
	assert_true(content_component_name_valid("steward-agent"));
	assert_true(content_component_name_valid("a"));
	assert_true(content_component_name_valid("a9-"));
	assert_false(content_component_name_valid(""));
	assert_false(content_component_name_valid("9agent"));
	assert_false(content_component_name_valid("-agent"));
	assert_false(content_component_name_valid("Agent"));
	assert_false(content_component_name_valid("agent_x"));
	assert_false(content_component_name_valid("agent x"));
	assert_false(content_component_name_valid("agent/x"));
	memset(name, 'a', CONTENT_COMPONENT_NAME_MAX);
	name[CONTENT_COMPONENT_NAME_MAX] = '\0';
	assert_true(content_component_name_valid(name));
	name[CONTENT_COMPONENT_NAME_MAX] = 'a';
	name[CONTENT_COMPONENT_NAME_MAX + 1] = '\0';
	assert_false(content_component_name_valid(name));
	assert_string_equal(content_component_kind_name(CONTENT_KIND_BASE), "base");
	assert_string_equal(content_component_kind_name(CONTENT_KIND_OPTIONAL), "optional");
	assert_string_equal(content_component_kind_name(CONTENT_KIND_SITE), "site");
	assert_string_equal(content_component_kind_name(CONTENT_KIND_CONSOLE), "console");
}

/* ---- the builder refuses what the parser would --------------------------- */

static void expect_build_refused(struct content_release *r, const char *want)
{
	struct steward_err err;
	char *text = (char *)1;
	size_t len = 1;

	memset(&err, 0, sizeof(err));
	assert_int_equal(content_release_build(r, &KP, &text, &len, &err), -STEWARD_EINVAL);
	assert_string_equal(err.code, "release_invalid");
	assert_contains(err.message, want);
	assert_true(err.remedy[0] != '\0');
	assert_null(text);
	assert_int_equal(len, 0);
	content_release_clear(r);
}

static void test_build_refusals(void **state)
{
	struct content_release r;

	(void)state;
	sample(&r), strcpy(r.version, "1.01.0");
	expect_build_refused(&r, "release version is not X.Y.Z");
	sample(&r), strcpy(r.version, "1.1");
	expect_build_refused(&r, "release version is not X.Y.Z");
	sample(&r), r.expires = r.created;
	expect_build_refused(&r, "expires before it was created");
	sample(&r), r.created = -1;
	expect_build_refused(&r, "between 1970 and 9999");
	sample(&r), strcpy(r.upgrade_from, "1.2.0");
	expect_build_refused(&r, "upgrade_from 1.2.0 is newer than the release 1.1.0");
	sample(&r), strcpy(r.upgrade_from, "x");
	expect_build_refused(&r, "upgrade_from is not X.Y.Z");
	sample(&r), r.n_components = 0;
	expect_build_refused(&r, "1 to 32 components, not 0");
	sample(&r), r.n_files = CONTENT_RELEASE_FILES_MAX + 1;
	expect_build_refused(&r, "at most 1024 files");

	/* components */
	sample(&r), strcpy(r.components[1].name, "Inventory");
	expect_build_refused(&r, "component 2: name is not");
	sample(&r), strcpy(r.components[1].name, "steward-agent");
	expect_build_refused(&r, "listed twice");
	sample(&r), strcpy(r.components[1].name, "aaa");
	expect_build_refused(&r, "out of order");
	sample(&r), r.components[0].kind = (enum content_component_kind)9;
	expect_build_refused(&r, "unknown kind 9");
	sample(&r), strcpy(r.components[0].version, "1.1.0-rc1");
	expect_build_refused(&r, "'steward-agent': version is not X.Y.Z");
	sample(&r), r.components[0].proto_min = 0;
	expect_build_refused(&r, "protocol range 0-2");
	sample(&r), r.components[0].proto_min = 3;
	expect_build_refused(&r, "protocol range 3-2");
	sample(&r), r.components[0].proto_max = CONTENT_PROTO_MAX + 1;
	expect_build_refused(&r, "protocol range 1-65536");
	sample(&r), strcpy(r.components[1].needs_base, "1.0");
	expect_build_refused(&r, "the base version it needs is not X.Y.Z");
	sample(&r), strcpy(r.components[0].needs_base, "1.0.0");
	expect_build_refused(&r, "only optional components name the base they need");

	/* files */
	sample(&r), strcpy(r.files[0].component, "stewardctl");
	expect_build_refused(&r, "file 1: component 'stewardctl' is not listed");
	sample(&r), strcpy(r.files[0].path, "../bin/steward-agent");
	expect_build_refused(&r, "file 1: path '../bin/steward-agent'");
	sample(&r), strcpy(r.files[0].path, "/bin/steward-agent");
	expect_build_refused(&r, "file 1: path '/bin/steward-agent'");
	sample(&r), strcpy(r.files[3].path, "bin/stewardd");
	expect_build_refused(&r, "stewardd/bin/stewardd is listed twice");
	sample(&r), strcpy(r.files[3].path, "a");
	expect_build_refused(&r, "out of order");
	sample(&r), r.files[0].mode = 04755;
	expect_build_refused(&r, "bits other than the permissions");
	sample(&r), r.files[0].hash[0] = 'A';
	expect_build_refused(&r, "hash is not 64 lowercase hex digits");
	sample(&r), free(r.files), r.files = NULL;
	expect_build_refused(&r, "4 files but no file array");
}

/* ---- the parser's strictness ---------------------------------------------- */

static void test_strict(void **state)
{
	(void)state;
	/* the header, line by line */
	expect_edit_refused("steward-release\t1", "steward-release\t2", "release_invalid",
			    "line 1: release manifest format '2' is not supported");
	expect_edit_refused("steward-release\t1", "steward-manifest\t1", "release_invalid",
			    "line 1: not a steward release manifest");
	expect_edit_refused("version\t1.1.0", "version\t1.1", "release_invalid",
			    "line 2: version '1.1' is not a version X.Y.Z");
	expect_edit_refused("version\t1.1.0", "version\t01.1.0", "release_invalid",
			    "line 2: version '01.1.0'");
	expect_edit_refused("version\t1.1.0", "version\t1.1.1234567890", "release_invalid",
			    "line 2:");
	expect_edit_refused("version\t1.1.0\n", "", "release_invalid",
			    "line 2: expected 'version<TAB>...'");
	expect_edit_refused("2025-11-24T16:00:00Z", "2025-11-24 16:00:00", "release_invalid",
			    "line 3: created '2025-11-24 16:00:00' is not a time");
	expect_edit_refused("2026-11-24T16:00:00Z", "2025-11-24T16:00:00Z", "release_invalid",
			    "expires before it was created");
	expect_edit_refused("key\t", "key\tAB", "release_invalid", "line 5: key 'AB");
	expect_edit_refused("upgrade_from\t1.0.0", "upgrade_from\t2.0.0", "release_invalid",
			    "upgrade_from 2.0.0 is newer than the release 1.1.0");
	expect_edit_refused("components\t4", "components\t33", "release_invalid",
			    "line 7: 33 components; a release holds at most 32");
	expect_edit_refused("components\t4", "components\t04", "release_invalid",
			    "line 7: components '04'");
	expect_edit_refused("components\t4", "components\t0", "release_invalid",
			    "line 7: a release has 1 to 32 components, not 0");
	expect_edit_refused("components\t4", "components\t5", "release_invalid",
			    "line 12: expected a component line");

	/* component lines */
	expect_edit_refused("\tbase\t1.1.0\t1-2\t-\n", "\tbase\t1.1.0\t1-2\n", "release_invalid",
			    "line 8: a component line has 6 fields");
	expect_edit_refused("\tbase\t1.1.0\t1-2\t-\n", "\tbase\t1.1.0\t1-2\t-\tx\n",
			    "release_invalid", "not 7");
	expect_edit_refused("component\tsteward-agent", "component\tSteward-agent",
			    "release_invalid", "line 8: component name 'Steward-agent'");
	expect_edit_refused("\tbase\t", "\tcore\t", "release_invalid",
			    "component kind 'core' is not launcher, base");
	expect_edit_refused("\tbase\t1.1.0", "\tbase\tv1.1.0", "release_invalid",
			    "component version 'v1.1.0'");
	expect_edit_refused("\t1-2\t-\n", "\t1\t-\n", "release_invalid",
			    "protocol range '1' is not MIN-MAX");
	expect_edit_refused("\t1-2\t-\n", "\t2-1\t-\n", "release_invalid",
			    "protocol range 2-1 is not 1 <= min <= max");
	expect_edit_refused("\t1-2\t-\n", "\t1-65536\t-\n", "release_invalid",
			    "protocol range '1-65536'");
	expect_edit_refused("\t1-1\t1.0.0\n", "\t1-1\t1.0\n", "release_invalid",
			    "the base version needed '1.0'");
	expect_edit_refused("\tbase\t1.1.0\t1-2\t-\n", "\tbase\t1.1.0\t1-2\t1.0.0\n",
			    "release_invalid", "only optional components name the base");
	expect_edit_refused("component\tsteward-inventory", "component\tsteward-agent",
			    "release_invalid", "line 9: component 'steward-agent' is listed twice");
	expect_edit_refused("component\tstewardd\t", "component\ta\t", "release_invalid",
			    "line 11: component 'a' is out of order");

	/* the files */
	expect_edit_refused("files\t4", "files\t1025", "release_invalid",
			    "1025 files; a release holds at most 1024");
	expect_edit_refused("files\t4", "files\t3", "release_invalid",
			    "line 16: more files than the files line says");
	expect_edit_refused("files\t4", "files\t5", "release_invalid",
			    "line 17: expected a file line");
	expect_edit_refused("\t0755\t616952\t", "\t755\t616952\t", "release_invalid",
			    "file mode '755' is not 4 octal digits");
	expect_edit_refused("\t0755\t616952\t", "\t1755\t616952\t", "release_invalid",
			    "file mode '1755'");
	expect_edit_refused("\t616952\t", "\t-1\t", "release_invalid", "file size '-1'");
	expect_edit_refused("\t616952\t", "\t18446744073709551616\t", "release_invalid",
			    "file size '18446744073709551616'");
	expect_edit_refused("\t1111111111111111", "\tA111111111111111", "release_invalid",
			    "file hash 'A111");
	expect_edit_refused("\tbin/steward-agent\n", "\tbin/../steward-agent\n",
			    "release_invalid", "path 'bin/../steward-agent'");
	expect_edit_refused("\tbin/steward-agent\n", "\tbin//steward-agent\n", "release_invalid",
			    "path 'bin//steward-agent'");
	expect_edit_refused("file\tsteward-agent\t", "file\tstewardctl\t", "release_invalid",
			    "line 13: file 1: component 'stewardctl' is not listed");
	expect_edit_refused("\tshare/empty\n", "\tbin/a\n", "release_invalid",
			    "line 16: file stewardd/bin/a is out of order");
	expect_edit_refused("\tshare/empty\n", "\tbin/stewardd\n", "release_invalid",
			    "listed twice");
	expect_edit_refused("\t0644\t10\t", "\t0644\t10\t\t", "release_invalid",
			    "a file line has 6 fields");
}

/* Refusals that come from the bytes themselves, not a field. */
static void test_strict_text(void **state)
{
	char *body = sample_body(), *text, *edited, *big;
	size_t len;

	(void)state;
	expect_refused("", 0, "release_invalid", "empty");
	expect_refused(NULL, 0, "release_invalid", "empty");

	big = calloc(1, CONTENT_RELEASE_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', CONTENT_RELEASE_MAX + 1);
	expect_refused(big, CONTENT_RELEASE_MAX + 1, "release_invalid", "the cap is 1048576");
	free(big);

	/* CR, NUL and other control bytes, by line */
	edited = replace(body, "version\t1.1.0\n", "version\t1.1.0\r\n");
	text = sign(edited, &len);
	expect_refused(text, len, "release_invalid", "line 2:");
	free(text), free(edited);
	text = sign(body, &len);
	text[3] = '\0';
	expect_refused(text, len, "release_invalid", "line 1:");
	free(text);

	/* the signature line */
	text = sign(body, &len);
	expect_refused(text, len - 1, "release_invalid", "does not end with a line feed");
	free(text);
	expect_refused(body, strlen(body), "release_invalid",
		       "ends before its signature line");
	assert_true(asprintf(&text, "%ssignature\tAAAA\n", body) > 0);
	expect_refused(text, strlen(text), "release_invalid", "signature is not base64 of 64");
	free(text);
	assert_true(asprintf(&text, "%sfile\tx\n", body) > 0);
	expect_refused(text, strlen(text), "release_invalid",
		       "more files than the files line says");
	free(text);
	assert_true(asprintf(&text, "%snotes\tx\n", body) > 0);
	expect_refused(text, strlen(text), "release_invalid", "expected 'signature<TAB>...'");
	free(text);
	{
		char *signed_text = sign(body, &len);

		assert_true(asprintf(&text, "%sextra\n", signed_text) > 0);
		expect_refused(text, strlen(text), "release_invalid",
			       "line 18: text after the signature line");
		free(text);
		free(signed_text);
	}
	free(body);
}

/* ---- signatures and trust -------------------------------------------------- */

static void test_signature_and_trust(void **state)
{
	struct content_release r, back;
	struct steward_err err;
	uint8_t trusted[2][PROTO_PK_BYTES];
	char *text, hex[2 * PROTO_PK_BYTES + 1], *p;
	size_t len;

	(void)state;
	sample(&r);
	assert_int_equal(content_release_build(&r, &KP, &text, &len, &err), 0);
	content_release_clear(&r);

	/* any key listed is enough; no list trusts the key the text names */
	memcpy(trusted[0], OTHER.pk, PROTO_PK_BYTES);
	memcpy(trusted[1], KP.pk, PROTO_PK_BYTES);
	assert_int_equal(content_release_parse(text, len, trusted, 2, &back, &err), 0);
	content_release_clear(&back);
	assert_int_equal(content_release_parse(text, len, NULL, 0, &back, &err), 0);
	content_release_clear(&back);

	/* a key the site does not trust: named, by its hex, in the message */
	memset(&back, 0xa5, sizeof(back));
	assert_int_equal(content_release_parse(text, len, &OTHER.pk, 1, &back, &err),
			 -STEWARD_EAUTH);
	assert_string_equal(err.code, "release_untrusted");
	hex_encode(KP.pk, PROTO_PK_BYTES, hex);
	assert_contains(err.message, hex);
	assert_contains(err.message, "release 1.1.0");
	assert_true(is_empty(&back));

	/* one changed byte behind the signature */
	p = strstr(text, "616952");
	assert_non_null(p);
	p[0] = '7';
	expect_refused(text, len, "release_signature", "it was changed after signing");
	p[0] = '6';

	/* the key line swapped for another key: its signature no longer matches */
	{
		char other_hex[2 * PROTO_PK_BYTES + 1];

		hex_encode(OTHER.pk, PROTO_PK_BYTES, other_hex);
		p = strstr(text, hex);
		assert_non_null(p);
		memcpy(p, other_hex, 2 * PROTO_PK_BYTES);
		memset(&back, 0xa5, sizeof(back));
		assert_int_equal(content_release_parse(text, len, NULL, 0, &back, &err),
				 -STEWARD_EAUTH);
		assert_string_equal(err.code, "release_signature");
		assert_true(is_empty(&back));
	}
	free(text);

	/* signed by OTHER: trusted only where OTHER is */
	sample(&r);
	assert_int_equal(content_release_build(&r, &OTHER, &text, &len, &err), 0);
	content_release_clear(&r);
	assert_int_equal(content_release_parse(text, len, trusted, 2, &back, &err), 0);
	assert_memory_equal(back.key, OTHER.pk, PROTO_PK_BYTES);
	content_release_clear(&back);
	expect_refused(text, len, "release_untrusted", "which this site does not trust");
	free(text);
}

/* The statements a release key signs (lib/content/relkeys.c): what one
 * signs parses back, and any change to a field is refused. */
static void test_statements(void **state)
{
	char line[CONTENT_STATEMENT_MAX + 1], bad[CONTENT_STATEMENT_MAX + 16], hex[65], *canon;
	struct content_rollback rb;
	struct content_endorsement en;
	struct steward_err err;
	const char *keys[2];

	(void)state;
	assert_int_equal(content_rollback_sign("1.2.3", 1800000000, &KP, line, sizeof(line)), 0);
	assert_int_equal(content_rollback_parse(line, &rb, &err), 0);
	assert_string_equal(rb.version, "1.2.3");
	assert_int_equal(rb.expires, 1800000000);
	assert_memory_equal(rb.key, KP.pk, PROTO_PK_BYTES);
	/* another version, another expiry, another key, a trailing field */
	snprintf(bad, sizeof(bad), "%s", line);
	bad[13] = '4'; /* "rollback 1.2.3" -> "1.2.4" */
	assert_int_not_equal(content_rollback_parse(bad, &rb, &err), 0);
	assert_string_equal(err.code, "rollback_invalid");
	assert_int_equal(rb.expires, 0);
	snprintf(bad, sizeof(bad), "%s", line);
	bad[18] = bad[18] == '7' ? '8' : '7'; /* a digit of the year */
	assert_int_not_equal(content_rollback_parse(bad, &rb, &err), 0);
	snprintf(bad, sizeof(bad), "%s x", line);
	assert_int_not_equal(content_rollback_parse(bad, &rb, &err), 0);
	snprintf(bad, sizeof(bad), "rollback 01.2.3%s", line + 14);
	assert_int_not_equal(content_rollback_parse(bad, &rb, &err), 0);
	assert_int_not_equal(content_rollback_sign("1.2", 1800000000, &KP, line, sizeof(line)), 0);

	assert_int_equal(content_endorse_sign(OTHER.pk, &KP, line, sizeof(line)), 0);
	assert_int_equal(content_endorse_parse(line, &en, &err), 0);
	assert_memory_equal(en.key, OTHER.pk, PROTO_PK_BYTES);
	assert_memory_equal(en.by, KP.pk, PROTO_PK_BYTES);
	/* swapping who endorses whom breaks the signature */
	hex_encode(OTHER.pk, PROTO_PK_BYTES, hex);
	snprintf(bad, sizeof(bad), "endorse %.64s %s%s", line + 73, hex, line + 137);
	assert_int_not_equal(content_endorse_parse(bad, &en, &err), 0);
	assert_string_equal(err.code, "endorsement_invalid");

	hex_encode(KP.pk, PROTO_PK_BYTES, hex);
	keys[0] = hex;
	keys[1] = "not a key";
	assert_null(content_release_keys_canon(keys, 2));
	canon = content_release_keys_canon(keys, 1);
	assert_non_null(canon);
	assert_int_equal(strncmp(canon, CONTENT_KEYS_CONTEXT, strlen(CONTENT_KEYS_CONTEXT)), 0);
	assert_string_equal(canon + strlen(CONTENT_KEYS_CONTEXT) + 64, "\n");
	free(canon);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_build_refusals),
	    cmocka_unit_test(test_strict),
	    cmocka_unit_test(test_strict_text),
	    cmocka_unit_test(test_signature_and_trust),
	    cmocka_unit_test(test_statements),
	};

	return cmocka_run_group_tests(tests, setup_keys, NULL);
}

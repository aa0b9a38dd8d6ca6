/* fuzz_release: signed release manifests (content_release_parse, with
 * lib/content/release.c, text.c and hash.c compiled in), as stewardd reads
 * an administrator's upload.
 *
 * The input is parsed with no trusted keys, so a text signed by any key it
 * names can be accepted. Properties checked on every input:
 *   - a refusal is release_invalid (-STEWARD_EINVAL) or release_signature
 *     (-STEWARD_EAUTH), with a message and a remedy, answerable (the error
 *     body parses back), and leaves the release empty;
 *   - an accepted release holds only what the format allows: versions
 *     X.Y.Z in their one text, expires after created, upgrade_from not
 *     newer than the release, 1 to CONTENT_RELEASE_COMPONENTS_MAX
 *     components sorted by name with valid kinds and protocol ranges and a
 *     base version only on optional ones, files sorted by component and
 *     path, each under a listed component, with a valid path, permission
 *     bits and hash;
 *   - the key it names is accepted as the one trusted key, and a list
 *     without it refuses the same text as release_untrusted;
 *   - building it again with the fixed test key gives a text that parses
 *     back to identical fields, and that is the input itself when the
 *     input was signed by the test key (one text per release);
 *   - a text refused only for its signature is accepted once its key line
 *     names the test key and it is signed again by it, so that mutations
 *     behind the signature reach the accepting path too.
 *
 * The seeds in corpus/release are signed by the test key (seed 32 bytes of
 * 0x42, as crypto_sign_seed_keypair takes it).
 */
#include "fuzz.h"

#include <sodium.h>

#include "steward/content.h"

static struct proto_keypair KP;

static void init(void)
{
	static int done;
	uint8_t seed[crypto_sign_SEEDBYTES];

	fuzz_init();
	if (done)
		return;
	memset(seed, 0x42, sizeof(seed));
	FUZZ_CHECK(crypto_sign_seed_keypair(KP.pk, KP.sk, seed) == 0);
	done = 1;
}

/* X.Y.Z in its one text, checked here independently of release.c. */
static int version_ok(const char *v)
{
	char back[CONTENT_VERSION_MAX + 1];
	int a, b, c;

	if (strlen(v) > CONTENT_VERSION_MAX || proto_semver_parse(v, &a, &b, &c) != 0)
		return 0;
	snprintf(back, sizeof(back), "%d.%d.%d", a, b, c);
	return strcmp(back, v) == 0;
}

static int released_empty(const struct content_release *r)
{
	static const struct content_release zero;

	return memcmp(r, &zero, sizeof(zero)) == 0;
}

static void check_refusal(int rc, const struct steward_err *err, const struct content_release *r)
{
	FUZZ_CHECK(FUZZ_TERMINATED(err->code) && FUZZ_TERMINATED(err->message) &&
		   FUZZ_TERMINATED(err->remedy));
	FUZZ_CHECK(err->message[0] != '\0' && err->remedy[0] != '\0');
	if (strcmp(err->code, "release_invalid") == 0)
		FUZZ_CHECK(rc == -STEWARD_EINVAL);
	else if (strcmp(err->code, "release_signature") == 0)
		FUZZ_CHECK(rc == -STEWARD_EAUTH);
	else
		FUZZ_CHECK(!"an undocumented refusal code");
	FUZZ_CHECK(released_empty(r));
	/* messages quote the input with non-UTF-8 bytes escaped */
	fuzz_check_error_body(err);
}

static int same_component(const struct content_component *a, const struct content_component *b)
{
	return strcmp(a->name, b->name) == 0 && a->kind == b->kind &&
	       strcmp(a->version, b->version) == 0 && a->proto_min == b->proto_min &&
	       a->proto_max == b->proto_max && strcmp(a->needs_base, b->needs_base) == 0;
}

static int same_file(const struct content_release_file *a, const struct content_release_file *b)
{
	return strcmp(a->component, b->component) == 0 && strcmp(a->path, b->path) == 0 &&
	       a->mode == b->mode && a->size == b->size && strcmp(a->hash, b->hash) == 0;
}

static int file_cmp(const struct content_release_file *a, const struct content_release_file *b)
{
	int c = strcmp(a->component, b->component);

	return c ? c : strcmp(a->path, b->path);
}

static void check_rules(const struct content_release *r)
{
	FUZZ_CHECK(FUZZ_TERMINATED(r->version) && version_ok(r->version));
	FUZZ_CHECK(FUZZ_TERMINATED(r->upgrade_from) && version_ok(r->upgrade_from));
	FUZZ_CHECK(proto_semver_cmp(r->upgrade_from, r->version) <= 0);
	FUZZ_CHECK(r->created >= 0 && r->created < r->expires);
	FUZZ_CHECK(r->expires <= INT64_C(253402300799)); /* 9999-12-31T23:59:59Z */
	FUZZ_CHECK(r->n_components >= 1 && r->n_components <= CONTENT_RELEASE_COMPONENTS_MAX);
	for (size_t i = 0; i < r->n_components; i++) {
		const struct content_component *c = &r->components[i];

		FUZZ_CHECK(FUZZ_TERMINATED(c->name) && content_component_name_valid(c->name));
		FUZZ_CHECK(i == 0 || strcmp(r->components[i - 1].name, c->name) < 0);
		FUZZ_CHECK((unsigned)c->kind <= CONTENT_KIND_CONSOLE);
		FUZZ_CHECK(strcmp(content_component_kind_name(c->kind), "?") != 0);
		FUZZ_CHECK(FUZZ_TERMINATED(c->version) && version_ok(c->version));
		FUZZ_CHECK(c->proto_min >= 1 && c->proto_min <= c->proto_max &&
			   c->proto_max <= CONTENT_PROTO_MAX);
		FUZZ_CHECK(FUZZ_TERMINATED(c->needs_base));
		if (c->needs_base[0])
			FUZZ_CHECK(c->kind == CONTENT_KIND_OPTIONAL && version_ok(c->needs_base));
		FUZZ_CHECK(content_release_component(r, c->name) == c);
	}
	FUZZ_CHECK(r->n_files <= CONTENT_RELEASE_FILES_MAX);
	FUZZ_CHECK(r->n_files == 0 || r->files != NULL);
	for (size_t i = 0; i < r->n_files; i++) {
		const struct content_release_file *f = &r->files[i];

		FUZZ_CHECK(FUZZ_TERMINATED(f->component) && FUZZ_TERMINATED(f->path) &&
			   FUZZ_TERMINATED(f->hash));
		FUZZ_CHECK(content_release_component(r, f->component) != NULL);
		FUZZ_CHECK(content_path_valid(f->path));
		FUZZ_CHECK(i == 0 || file_cmp(&r->files[i - 1], f) < 0);
		FUZZ_CHECK(f->mode <= 0777);
		FUZZ_CHECK(content_hash_valid(f->hash));
	}
}

static void check_accepted(const struct content_release *r, const uint8_t *data, size_t size)
{
	static const uint8_t zero_key[1][PROTO_PK_BYTES];
	uint8_t named[1][PROTO_PK_BYTES], two[2][PROTO_PK_BYTES];
	struct content_release back;
	struct steward_err err;
	char *text;
	size_t len;
	int rc;

	check_rules(r);

	/* the key it names, alone or in a list, is trusted; a list without it is not */
	memcpy(named[0], r->key, PROTO_PK_BYTES);
	FUZZ_CHECK(content_release_parse((const char *)data, size, named, 1, &back, &err) == 0);
	FUZZ_CHECK(memcmp(back.key, r->key, PROTO_PK_BYTES) == 0);
	content_release_clear(&back);
	memset(two[0], 0, PROTO_PK_BYTES);
	memcpy(two[1], r->key, PROTO_PK_BYTES);
	FUZZ_CHECK(content_release_parse((const char *)data, size, two, 2, &back, &err) == 0);
	content_release_clear(&back);
	if (memcmp(r->key, zero_key[0], PROTO_PK_BYTES) != 0) {
		memset(&err, 0, sizeof(err));
		memset(&back, 0xa5, sizeof(back));
		rc = content_release_parse((const char *)data, size, zero_key, 1, &back, &err);
		FUZZ_CHECK(rc == -STEWARD_EAUTH && strcmp(err.code, "release_untrusted") == 0);
		FUZZ_CHECK(err.remedy[0] != '\0' && released_empty(&back));
	}

	if (content_release_build(r, &KP, &text, &len, &err) != 0) {
		fprintf(stderr, "build refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"an accepted release cannot be built again");
	}
	FUZZ_CHECK(strlen(text) == len && len <= CONTENT_RELEASE_MAX);
	if (sodium_memcmp(r->key, KP.pk, PROTO_PK_BYTES) == 0)
		FUZZ_CHECK(len == size && memcmp(text, data, size) == 0);
	if (content_release_parse(text, len, &KP.pk, 1, &back, &err) != 0) {
		fprintf(stderr, "rebuilt text refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"the text content_release_build wrote does not parse");
	}
	FUZZ_CHECK(strcmp(back.version, r->version) == 0);
	FUZZ_CHECK(back.created == r->created && back.expires == r->expires);
	FUZZ_CHECK(memcmp(back.key, KP.pk, PROTO_PK_BYTES) == 0);
	FUZZ_CHECK(strcmp(back.upgrade_from, r->upgrade_from) == 0);
	FUZZ_CHECK(back.n_components == r->n_components && back.n_files == r->n_files);
	for (size_t i = 0; i < r->n_components; i++)
		FUZZ_CHECK(same_component(&back.components[i], &r->components[i]));
	for (size_t i = 0; i < r->n_files; i++)
		FUZZ_CHECK(same_file(&back.files[i], &r->files[i]));
	content_release_clear(&back);
	free(text);
}

/* The input refused only for its signature: name the test key on the key
 * line (line 5, "key<TAB>" and 64 hex, which the parser checked) and sign
 * everything before the last line with it. */
static void check_resigned(const uint8_t *data, size_t size)
{
	struct content_release r;
	struct steward_err err;
	uint8_t sig[crypto_sign_BYTES];
	char *text, *p, hex[2 * PROTO_PK_BYTES + 1];
	size_t body = size - 1, len;
	int rc;

	text = malloc(size + 128);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	p = text;
	for (int line = 1; line < 5; line++) {
		p = memchr(p, '\n', size - (size_t)(p - text));
		FUZZ_CHECK(p != NULL);
		p++;
	}
	FUZZ_CHECK(strncmp(p, "key\t", 4) == 0);
	hex_encode(KP.pk, PROTO_PK_BYTES, hex);
	memcpy(p + 4, hex, 2 * PROTO_PK_BYTES);
	/* the text ends with LF; the signed part ends with the LF before the last line */
	while (body > 0 && text[body - 1] != '\n')
		body--;
	crypto_sign_detached(sig, NULL, (const uint8_t *)text, body, KP.sk);
	memcpy(text + body, "signature\t", 10);
	sodium_bin2base64(text + body + 10, 89, sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
	len = body + 10 + 88;
	text[len++] = '\n';
	rc = content_release_parse(text, len, NULL, 0, &r, &err);
	if (rc != 0) {
		fprintf(stderr, "re-signed refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"a release refused only for its signature is refused once re-signed");
	}
	check_accepted(&r, (const uint8_t *)text, len);
	content_release_clear(&r);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct content_release r;
	struct steward_err err;
	int rc;

	init();
	memset(&r, 0xa5, sizeof(r));
	memset(&err, 0, sizeof(err));
	rc = content_release_parse((const char *)data, size, NULL, 0, &r, &err);
	if (rc == 0) {
		check_accepted(&r, data, size);
		content_release_clear(&r);
		return 0;
	}
	check_refusal(rc, &err, &r);
	if (strcmp(err.code, "release_signature") == 0)
		check_resigned(data, size);
	return 0;
}

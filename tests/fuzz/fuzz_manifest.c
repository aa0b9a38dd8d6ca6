/* fuzz_manifest: package manifests (content_manifest_parse, with
 * lib/content/manifest.c and hash.c compiled in), as an agent reads them.
 *
 * The input is parsed with trusted_key NULL, so a text signed by any key it
 * names can be accepted. Properties checked on every input:
 *   - a refusal is manifest_invalid (-STEWARD_EINVAL) or manifest_signature
 *     (-STEWARD_EAUTH), with a message, answerable (the error body parses
 *     back), and leaves the manifest empty;
 *   - an accepted manifest holds only what the format allows: every path
 *     passes content_path_valid, paths are sorted and unique, link targets
 *     stay inside, modes are permission bits, sizes add up to total_bytes;
 *   - building it again with the fixed test key gives a text that parses
 *     back to identical fields and entries, and that is the input itself
 *     when the input was signed by the test key (one text per manifest);
 *   - a text refused only for its signature is accepted once its key line
 *     names the test key and it is signed again by it, so that mutations
 *     behind the signature reach the accepting path too.
 *
 * The seeds in corpus/manifest are signed by the test key (seed 32 bytes of
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

static void check_refusal(int rc, const struct steward_err *err, const struct content_manifest *m)
{
	FUZZ_CHECK(FUZZ_TERMINATED(err->code) && FUZZ_TERMINATED(err->message) &&
		   FUZZ_TERMINATED(err->remedy));
	FUZZ_CHECK(err->message[0] != '\0' && err->remedy[0] != '\0');
	if (strcmp(err->code, "manifest_invalid") == 0)
		FUZZ_CHECK(rc == -STEWARD_EINVAL);
	else if (strcmp(err->code, "manifest_signature") == 0)
		FUZZ_CHECK(rc == -STEWARD_EAUTH);
	else
		FUZZ_CHECK(!"an undocumented refusal code");
	FUZZ_CHECK(m->entries == NULL && m->n_entries == 0);
	/* messages quote the input with non-UTF-8 bytes escaped */
	fuzz_check_error_body(err);
}

static int same_entry(const struct content_entry *a, const struct content_entry *b)
{
	return a->type == b->type && strcmp(a->path, b->path) == 0 &&
	       strcmp(a->hash, b->hash) == 0 && a->size == b->size && a->mode == b->mode &&
	       strcmp(a->target, b->target) == 0;
}

static void check_accepted(const struct content_manifest *m, const uint8_t *data, size_t size)
{
	struct content_manifest back;
	struct steward_err err;
	uint64_t sum = 0;
	char *text;
	size_t len;

	FUZZ_CHECK(FUZZ_TERMINATED(m->package) && content_pkg_name_valid(m->package));
	FUZZ_CHECK(FUZZ_TERMINATED(m->version) && content_pkg_version_valid(m->version));
	FUZZ_CHECK(FUZZ_TERMINATED(m->site) && proto_site_code_valid(m->site));
	FUZZ_CHECK(m->created >= 0);
	FUZZ_CHECK(m->n_entries <= CONTENT_FILES_MAX);
	FUZZ_CHECK(m->n_entries == 0 || m->entries != NULL);
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct content_entry *e = &m->entries[i];

		FUZZ_CHECK(FUZZ_TERMINATED(e->path) && content_path_valid(e->path));
		FUZZ_CHECK(i == 0 || strcmp(m->entries[i - 1].path, e->path) < 0);
		switch (e->type) {
		case CONTENT_FILE:
			FUZZ_CHECK(content_hash_valid(e->hash));
			FUZZ_CHECK(e->mode <= 0777 && !e->target[0]);
			FUZZ_CHECK(e->size <= UINT64_MAX - sum);
			sum += e->size;
			break;
		case CONTENT_DIR:
			FUZZ_CHECK(e->mode <= 0777 && !e->hash[0] && !e->target[0] && !e->size);
			break;
		case CONTENT_LINK:
			FUZZ_CHECK(content_link_target_valid(e->path, e->target));
			FUZZ_CHECK(!e->hash[0] && !e->size && !e->mode);
			break;
		default:
			FUZZ_CHECK(!"an entry of unknown type");
		}
	}
	FUZZ_CHECK(sum == m->total_bytes);

	if (content_manifest_build(m, &KP, &text, &len, &err) != 0) {
		fprintf(stderr, "build refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"an accepted manifest cannot be built again");
	}
	FUZZ_CHECK(strlen(text) == len);
	if (sodium_memcmp(m->key, KP.pk, PROTO_PK_BYTES) == 0)
		FUZZ_CHECK(len == size && memcmp(text, data, size) == 0);
	if (content_manifest_parse(text, len, KP.pk, &back, &err) != 0) {
		fprintf(stderr, "rebuilt text refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"the text content_manifest_build wrote does not parse");
	}
	FUZZ_CHECK(strcmp(back.package, m->package) == 0 && strcmp(back.version, m->version) == 0);
	FUZZ_CHECK(strcmp(back.site, m->site) == 0 && back.created == m->created);
	FUZZ_CHECK(memcmp(back.key, KP.pk, PROTO_PK_BYTES) == 0);
	FUZZ_CHECK(back.total_bytes == m->total_bytes && back.n_entries == m->n_entries);
	for (size_t i = 0; i < m->n_entries; i++)
		FUZZ_CHECK(same_entry(&back.entries[i], &m->entries[i]));
	content_manifest_clear(&back);
	free(text);
}

/* The input refused only for its signature: name the test key on the key
 * line (line 6, "key<TAB>" and 64 hex, which the parser checked) and sign
 * everything before the last line with it. */
static void check_resigned(const uint8_t *data, size_t size)
{
	struct content_manifest m;
	struct steward_err err;
	uint8_t sig[crypto_sign_BYTES];
	char *text, *p, hex[2 * PROTO_PK_BYTES + 1];
	size_t body = size - 1, len;
	int rc;

	text = malloc(size + 128);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	p = text;
	for (int line = 1; line < 6; line++) {
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
	rc = content_manifest_parse(text, len, NULL, &m, &err);
	if (rc != 0) {
		fprintf(stderr, "re-signed refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"a manifest refused only for its signature is refused once re-signed");
	}
	check_accepted(&m, (const uint8_t *)text, len);
	content_manifest_clear(&m);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct content_manifest m;
	struct steward_err err;
	int rc;

	init();
	memset(&m, 0xa5, sizeof(m));
	memset(&err, 0, sizeof(err));
	rc = content_manifest_parse((const char *)data, size, NULL, &m, &err);
	if (rc == 0) {
		check_accepted(&m, data, size);
		content_manifest_clear(&m);
		return 0;
	}
	check_refusal(rc, &err, &m);
	if (strcmp(err.code, "manifest_signature") == 0)
		check_resigned(data, size);
	return 0;
}

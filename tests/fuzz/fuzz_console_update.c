/* fuzz_console_update: proto_console_update_parse, the reply of
 * GET /update/console that stewardctl self-update reads (lib/proto/console.c).
 *
 * A refusal is "bad_reply" with a message and leaves nothing allocated. An
 * accepted document has every member within its cap, printable, versions
 * X.Y.Z, ranges valid, a SHA-256 of 64 lowercase hex digits, a download path
 * that starts with '/' and climbs nowhere, and the manifest's exact bytes;
 * its strings equal the input's (an independent jansson parse); built again
 * it parses back member for member, and building that gives the same text.
 * The manifest itself is content_release_parse's (fuzz_release).
 */
#include "fuzz.h"

static int same(const struct proto_console_update *a, const struct proto_console_update *b)
{
	return strcmp(a->site_code, b->site_code) == 0 &&
	       strcmp(a->site_version, b->site_version) == 0 &&
	       a->site_protocol.min == b->site_protocol.min &&
	       a->site_protocol.max == b->site_protocol.max && a->site_api == b->site_api &&
	       strcmp(a->release, b->release) == 0 && a->manifest_len == b->manifest_len &&
	       memcmp(a->manifest, b->manifest, a->manifest_len) == 0 &&
	       strcmp(a->component, b->component) == 0 && strcmp(a->version, b->version) == 0 &&
	       a->protocol.min == b->protocol.min && a->protocol.max == b->protocol.max &&
	       strcmp(a->path, b->path) == 0 && strcmp(a->sha256, b->sha256) == 0 &&
	       a->size == b->size && strcmp(a->download, b->download) == 0;
}

static void check_version(const char *v)
{
	int x, y, z;

	FUZZ_CHECK(fuzz_printable_max(v, PROTO_VERSION_MAX));
	FUZZ_CHECK(proto_semver_parse(v, &x, &y, &z) == 0);
}

static void check_range(const struct proto_range *r)
{
	FUZZ_CHECK(r->min >= 1 && r->min <= r->max && r->max <= 100000);
}

/* The members equal the document's own strings, read independently. */
static void check_against_json(const uint8_t *data, size_t size,
			       const struct proto_console_update *u)
{
	json_t *root = json_loadb((const char *)data, size, 0, NULL);
	json_t *site = json_object_get(root, "site"), *rel = json_object_get(root, "release");
	json_t *con = json_object_get(root, "console");

	FUZZ_CHECK(root != NULL);
	FUZZ_CHECK(fuzz_json_str_is(site, "code", u->site_code));
	FUZZ_CHECK(fuzz_json_str_is(site, "version", u->site_version));
	FUZZ_CHECK(fuzz_json_str_is(rel, "version", u->release));
	FUZZ_CHECK(fuzz_json_str_is(rel, "manifest", u->manifest));
	FUZZ_CHECK(fuzz_json_str_is(con, "component", u->component));
	FUZZ_CHECK(fuzz_json_str_is(con, "version", u->version));
	FUZZ_CHECK(fuzz_json_str_is(con, "path", u->path));
	FUZZ_CHECK(fuzz_json_str_is(con, "sha256", u->sha256));
	FUZZ_CHECK(fuzz_json_str_is(con, "download", u->download));
	FUZZ_CHECK((uint64_t)json_integer_value(json_object_get(con, "size")) == u->size);
	json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_console_update u, back;
	struct steward_err err;
	char *text, *again;

	fuzz_init();
	memset(&err, 0, sizeof(err));
	if (proto_console_update_parse((const char *)data, size, &u, &err) != 0) {
		FUZZ_CHECK(FUZZ_TERMINATED(err.code) && FUZZ_TERMINATED(err.message) &&
			   FUZZ_TERMINATED(err.remedy));
		FUZZ_CHECK(strcmp(err.code, "bad_reply") == 0 || strcmp(err.code, "internal") == 0);
		FUZZ_CHECK(err.message[0] != '\0');
		FUZZ_CHECK(u.manifest == NULL);
		return 0;
	}
	FUZZ_CHECK(proto_site_code_valid(u.site_code));
	check_version(u.site_version);
	check_range(&u.site_protocol);
	FUZZ_CHECK(u.site_api >= 1 && u.site_api <= 100000);
	check_version(u.release);
	FUZZ_CHECK(u.manifest != NULL && u.manifest_len > 0 &&
		   u.manifest_len <= PROTO_CONSOLE_MANIFEST_MAX &&
		   strlen(u.manifest) == u.manifest_len);
	FUZZ_CHECK(fuzz_printable_max(u.component, PROTO_COMPONENT_NAME_MAX) && u.component[0]);
	check_version(u.version);
	check_range(&u.protocol);
	FUZZ_CHECK(fuzz_printable_max(u.path, PROTO_CONSOLE_PATH_MAX) && u.path[0]);
	FUZZ_CHECK(strlen(u.sha256) == PROTO_CONSOLE_HASH_HEX &&
		   strspn(u.sha256, "0123456789abcdef") == PROTO_CONSOLE_HASH_HEX);
	FUZZ_CHECK(u.size <= PROTO_CONSOLE_SIZE_MAX);
	FUZZ_CHECK(fuzz_printable_max(u.download, PROTO_CONSOLE_DOWNLOAD_MAX));
	FUZZ_CHECK(u.download[0] == '/' && !strstr(u.download, "/../") &&
		   !strstr(u.download, "//") && !strchr(u.download, ' ') &&
		   !strchr(u.download, '?'));
	check_against_json(data, size, &u);

	/* the site's side: built again, the document reads back the same */
	text = proto_console_update_build(&u);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(proto_console_update_parse(text, strlen(text), &back, &err) == 0);
	FUZZ_CHECK(same(&u, &back));
	again = proto_console_update_build(&back);
	FUZZ_CHECK(again != NULL && strcmp(text, again) == 0);
	free(again);
	free(text);
	proto_console_update_clear(&back);
	proto_console_update_clear(&u);
	FUZZ_CHECK(u.manifest == NULL);
	return 0;
}

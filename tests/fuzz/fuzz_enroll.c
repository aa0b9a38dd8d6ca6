/* fuzz_enroll: the body of POST /api/v1/enroll (proto_enroll_req_parse).
 *
 * Properties checked on every input:
 *   - a refusal fills err with a code and a message the server can send;
 *   - an accepted body holds only what the header promises (caps, ranges,
 *     printable strings, a non-empty hostname), and its strings are exactly
 *     the body's (compared with an independent jansson parse: nothing cut at
 *     an embedded NUL);
 *   - build(parse(x)) parses again to an equal struct, and building that
 *     gives the same text.
 */
#include "fuzz.h"

static void check_fields(const struct proto_enroll_req *r)
{
	FUZZ_CHECK(fuzz_printable_max(r->token, PROTO_TOKEN_MAX));
	FUZZ_CHECK(fuzz_printable_max(r->hostname, PROTO_HOSTNAME_MAX) && r->hostname[0]);
	FUZZ_CHECK(r->n_addrs >= 0 && r->n_addrs <= PROTO_ADDRS_MAX);
	for (int i = 0; i < r->n_addrs; i++)
		FUZZ_CHECK(fuzz_printable_max(r->addrs[i], PROTO_ADDR_MAX));
	FUZZ_CHECK(fuzz_printable_max(r->os_name, PROTO_OS_FIELD_MAX));
	FUZZ_CHECK(fuzz_printable_max(r->os_version, PROTO_OS_FIELD_MAX));
	FUZZ_CHECK(fuzz_printable_max(r->agent_version, PROTO_VERSION_MAX));
	FUZZ_CHECK(r->protocol.min >= 1 && r->protocol.min <= r->protocol.max &&
		   r->protocol.max <= 65535);
}

/* The accepted strings are exactly the body's (see fuzz_json_str_is). */
static void check_exact(const char *body, size_t len, const struct proto_enroll_req *r)
{
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *os, *addrs;

	FUZZ_CHECK(root != NULL); /* the parser accepted it */
	FUZZ_CHECK(fuzz_json_str_is(root, "token", r->token));
	FUZZ_CHECK(fuzz_json_str_is(root, "hostname", r->hostname));
	FUZZ_CHECK(fuzz_json_str_is(root, "agent_version", r->agent_version));
	os = json_object_get(root, "os");
	FUZZ_CHECK(fuzz_json_str_is(os, "name", r->os_name));
	FUZZ_CHECK(fuzz_json_str_is(os, "version", r->os_version));
	addrs = json_object_get(root, "addresses");
	FUZZ_CHECK(r->n_addrs == (int)json_array_size(addrs));
	for (int i = 0; i < r->n_addrs; i++)
		FUZZ_CHECK(fuzz_json_str_is(json_array_get(addrs, (size_t)i), NULL, r->addrs[i]));
	json_decref(root);
}

/* Field by field (the arrays past n_addrs are zeroed by the parser, but
 * comparing what matters says what equal means). */
static int enroll_equal(const struct proto_enroll_req *a, const struct proto_enroll_req *b)
{
	if (strcmp(a->token, b->token) ||
	    memcmp(a->public_key, b->public_key, sizeof(a->public_key)) ||
	    strcmp(a->hostname, b->hostname) || a->n_addrs != b->n_addrs ||
	    strcmp(a->os_name, b->os_name) || strcmp(a->os_version, b->os_version) ||
	    strcmp(a->agent_version, b->agent_version) || a->protocol.min != b->protocol.min ||
	    a->protocol.max != b->protocol.max)
		return 0;
	for (int i = 0; i < a->n_addrs; i++)
		if (strcmp(a->addrs[i], b->addrs[i]))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proto_enroll_req a, b;
	struct steward_err err;
	char *text, *again;

	fuzz_init();
	memset(&a, 0xa5, sizeof(a));
	memset(&b, 0x5a, sizeof(b));
	memset(&err, 0, sizeof(err));
	if (proto_enroll_req_parse((const char *)data, size, &a, &err) != 0) {
		fuzz_check_refusal(&err);
		return 0;
	}
	check_fields(&a);
	check_exact((const char *)data, size, &a);

	text = proto_enroll_req_build(&a);
	FUZZ_CHECK(text != NULL);
	if (proto_enroll_req_parse(text, strlen(text), &b, &err) != 0) {
		fprintf(stderr, "round trip refused: %s\nbody: %s\n", err.message, text);
		FUZZ_CHECK(!"the parser refuses what the builder built");
	}
	FUZZ_CHECK(enroll_equal(&a, &b));
	/* the parser zeroes the whole struct first, so the bytes agree too */
	FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	again = proto_enroll_req_build(&b);
	FUZZ_CHECK(again != NULL && strcmp(text, again) == 0);
	free(again);
	free(text);
	return 0;
}

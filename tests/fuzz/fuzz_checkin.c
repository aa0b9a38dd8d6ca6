/* fuzz_checkin: the body of POST /api/v1/checkin (proto_checkin_req_parse).
 *
 * Properties checked on every input:
 *   - a refusal fills err with a code and a message the server can send;
 *   - an accepted body holds only what the header promises (caps, ranges,
 *     printable strings), and its strings are exactly the body's (compared
 *     with an independent jansson parse: nothing cut at an embedded NUL);
 *   - build(parse(x)) parses again to an equal struct, and building that
 *     gives the same text (the builder's output is canonical);
 *   - the one-pass scanner (proto_checkin_req_scan) accepts only what the
 *     tree parser accepts, and reads it into the same struct, link included.
 */
#include "fuzz.h"

static void check_fields(const struct proto_checkin_req *r)
{
	FUZZ_CHECK(fuzz_printable_max(r->agent_version, PROTO_VERSION_MAX));
	FUZZ_CHECK(r->protocol.min >= 1 && r->protocol.min <= r->protocol.max &&
		   r->protocol.max <= 65535);
	FUZZ_CHECK(r->n_components >= 0 && r->n_components <= PROTO_COMPONENTS_MAX);
	for (int i = 0; i < r->n_components; i++) {
		FUZZ_CHECK(fuzz_printable_max(r->components[i].name, PROTO_COMPONENT_NAME_MAX));
		FUZZ_CHECK(fuzz_printable_max(r->components[i].version, PROTO_VERSION_MAX));
	}
	FUZZ_CHECK(r->n_status >= 0 && r->n_status <= PROTO_STATUS_MAX);
	for (int i = 0; i < r->n_status; i++) {
		FUZZ_CHECK(fuzz_printable_max(r->status[i].type, PROTO_STATUS_TYPE_MAX));
		FUZZ_CHECK(FUZZ_TERMINATED(r->status[i].text));
		FUZZ_CHECK(r->status[i].time >= 0 && r->status[i].time <= 253402300799LL);
	}
	FUZZ_CHECK(r->uptime >= 0 && r->uptime <= (INT64_C(1) << 40));
	FUZZ_CHECK(fuzz_printable_max(r->inventory_hash, 2 * PROTO_HASH_BYTES));
}

/* The accepted strings are exactly the body's (see fuzz_json_str_is). */
static void check_exact(const char *body, size_t len, const struct proto_checkin_req *r)
{
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *comps, *status;

	FUZZ_CHECK(root != NULL); /* the parser accepted it */
	FUZZ_CHECK(fuzz_json_str_is(root, "agent_version", r->agent_version));
	FUZZ_CHECK(fuzz_json_str_is(root, "inventory_hash", r->inventory_hash));
	comps = json_object_get(root, "components");
	FUZZ_CHECK(r->n_components == (int)json_array_size(comps));
	for (int i = 0; i < r->n_components; i++) {
		json_t *c = json_array_get(comps, (size_t)i);
		FUZZ_CHECK(fuzz_json_str_is(c, "name", r->components[i].name));
		FUZZ_CHECK(fuzz_json_str_is(c, "version", r->components[i].version));
	}
	status = json_object_get(root, "status");
	FUZZ_CHECK(r->n_status == (int)json_array_size(status));
	for (int i = 0; i < r->n_status; i++) {
		json_t *m = json_array_get(status, (size_t)i);
		FUZZ_CHECK(fuzz_json_str_is(m, "type", r->status[i].type));
		FUZZ_CHECK(fuzz_json_str_is(m, "text", r->status[i].text));
	}
	json_decref(root);
}

/* Field by field: entries past n_components / n_status are not the parser's. */
static int checkin_equal(const struct proto_checkin_req *a, const struct proto_checkin_req *b)
{
	if (strcmp(a->agent_version, b->agent_version) || a->protocol.min != b->protocol.min ||
	    a->protocol.max != b->protocol.max || a->n_components != b->n_components ||
	    a->n_status != b->n_status || a->uptime != b->uptime ||
	    strcmp(a->inventory_hash, b->inventory_hash))
		return 0;
	for (int i = 0; i < a->n_components; i++)
		if (strcmp(a->components[i].name, b->components[i].name) ||
		    strcmp(a->components[i].version, b->components[i].version))
			return 0;
	for (int i = 0; i < a->n_status; i++)
		if (strcmp(a->status[i].type, b->status[i].type) ||
		    strcmp(a->status[i].text, b->status[i].text) ||
		    a->status[i].time != b->status[i].time)
			return 0;
	return 1;
}

static int link_equal(const struct proto_link_report *a, const struct proto_link_report *b)
{
	return a->present == b->present && a->kbps == b->kbps && a->rtt_ms == b->rtt_ms &&
	       a->age == b->age && a->metered == b->metered && !strcmp(a->via, b->via);
}

/* The scanner takes a body only when the tree parser reads it the same. */
static void check_scan(const uint8_t *data, size_t size)
{
	static struct proto_checkin_req s, t;
	struct steward_err err;

	memset(&s, 0xa5, sizeof(s));
	memset(&t, 0x5a, sizeof(t));
	if (!proto_checkin_req_scan((const char *)data, size, &s))
		return;
	if (proto_checkin_req_parse_tree((const char *)data, size, &t, &err) != 0) {
		fprintf(stderr, "scanned but the tree parser refused: %s\n", err.message);
		FUZZ_CHECK(!"the scanner accepts what the tree parser refuses");
	}
	FUZZ_CHECK(checkin_equal(&s, &t));
	FUZZ_CHECK(link_equal(&s.link, &t.link));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* ~70 KiB each: static rather than on the stack */
	static struct proto_checkin_req a, b;
	struct steward_err err;
	char *text, *again;

	fuzz_init();
	check_scan(data, size);
	/* different garbage in each, so a field the parser forgets to set differs */
	memset(&a, 0xa5, sizeof(a));
	memset(&b, 0x5a, sizeof(b));
	memset(&err, 0, sizeof(err));
	if (proto_checkin_req_parse((const char *)data, size, &a, &err) != 0) {
		fuzz_check_refusal(&err);
		return 0;
	}
	check_fields(&a);
	check_exact((const char *)data, size, &a);

	text = proto_checkin_req_build(&a);
	FUZZ_CHECK(text != NULL);
	if (proto_checkin_req_parse(text, strlen(text), &b, &err) != 0) {
		fprintf(stderr, "round trip refused: %s\nbody: %s\n", err.message, text);
		FUZZ_CHECK(!"the parser refuses what the builder built");
	}
	FUZZ_CHECK(checkin_equal(&a, &b));
	again = proto_checkin_req_build(&b);
	FUZZ_CHECK(again != NULL && strcmp(text, again) == 0);
	free(again);
	free(text);
	return 0;
}

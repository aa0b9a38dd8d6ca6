/* fuzz_link_batch: proto_batch_parse, the batches a site receives on a site
 * link (lib/proto/sitelink.c), and the attach tokens a child is given.
 *
 * Each input is tried twice: as the request body itself (a zstd frame, or
 * not), and compressed first, so that the JSON checks behind the
 * decompression are reached too. Properties checked:
 *   - a refusal is batch_invalid or batch_too_large (-STEWARD_EINVAL), with
 *     a message and a remedy, answerable (the error body parses back), and
 *     leaves the batch empty;
 *   - an accepted batch has two site codes, epochs that are empty or 16
 *     lowercase hex digits, at most PROTO_BATCH_MSGS_MAX
 *     messages, each with a class below PROTO_LINK_CLASSES, a kind of a-z
 *     and _ within its cap, an object body, and sequences that grow within
 *     each class, the highest of each recorded in last[];
 *   - decompression never yields more than the cap given (a small cap is
 *     tried too: the same input is refused as batch_too_large or parses);
 *   - an inventory message (kind "inventory") either is refused with
 *     batch_invalid, leaving nothing behind, or gives 1 to 1000 clients
 *     (1 when full), each with a client id and the texts of its classes
 *     (software only when full), and a full one with its hashes;
 *   - an attach token that parses formats back to the same text.
 */
#include "fuzz.h"

#define SMALL_CAP 4096

static void check_refused(int rc, const struct steward_err *err, const struct proto_batch *b)
{
	if (rc == -STEWARD_ENOMEM)
		return;
	FUZZ_CHECK(rc == -STEWARD_EINVAL);
	FUZZ_CHECK(strcmp(err->code, "batch_invalid") == 0 ||
		   strcmp(err->code, "batch_too_large") == 0);
	FUZZ_CHECK(err->message[0] && err->remedy[0]);
	fuzz_check_error_body(err);
	FUZZ_CHECK(b->n == 0 && b->msgs == NULL && b->root == NULL);
}

static void check_inventory(json_t *body)
{
	struct proto_link_inv x;
	struct steward_err err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = proto_link_inv_parse(body, &x, &err);
	if (rc == -STEWARD_ENOMEM) {
		proto_link_inv_clear(&x);
		return;
	}
	if (rc) {
		FUZZ_CHECK(rc == -STEWARD_EINVAL && strcmp(err.code, "batch_invalid") == 0);
		FUZZ_CHECK(err.message[0] && err.remedy[0]);
		FUZZ_CHECK(x.n == 0 && x.v == NULL);
		proto_link_inv_clear(&x);
		return;
	}
	FUZZ_CHECK(x.n >= 1 && x.n <= (x.full ? 1u : (size_t)PROTO_LINK_INV_CLIENTS_MAX));
	FUZZ_CHECK(!x.site[0] || proto_site_code_valid(x.site));
	for (size_t i = 0; i < x.n; i++) {
		const struct proto_link_inv_client *c = &x.v[i];

		FUZZ_CHECK(proto_client_id_valid(c->id) && c->received >= 0);
		FUZZ_CHECK(c->hardware && c->os && (c->software != NULL) == x.full);
		FUZZ_CHECK(!x.full || strlen(c->full_hash) == 2 * PROTO_HASH_BYTES);
		for (int k = 0; k < 3; k++) {
			const char *t = k == 0 ? c->hardware : k == 1 ? c->os : c->software;
			json_t *j = t ? json_loads(t, 0, NULL) : NULL;

			FUZZ_CHECK(!t || json_is_object(j)); /* stored text is an object */
			json_decref(j);
		}
	}
	proto_link_inv_clear(&x);
}

static void check_accepted(const struct proto_batch *b)
{
	uint64_t last[PROTO_LINK_CLASSES] = {0};

	FUZZ_CHECK(!b->inventory[0] || proto_link_inv_level_valid(b->inventory));

	FUZZ_CHECK(proto_site_code_valid(b->from) && proto_site_code_valid(b->to));
	FUZZ_CHECK(!b->epoch[0] || proto_link_epoch_valid(b->epoch));
	FUZZ_CHECK(!b->to_epoch[0] || proto_link_epoch_valid(b->to_epoch));
	FUZZ_CHECK(b->has_to_epoch || !b->to_epoch[0]);
	FUZZ_CHECK(b->n <= PROTO_BATCH_MSGS_MAX);
	for (size_t i = 0; i < b->n; i++) {
		const struct proto_batch_msg *m = &b->msgs[i];

		FUZZ_CHECK(m->cls >= 0 && m->cls < PROTO_LINK_CLASSES);
		FUZZ_CHECK(m->seq >= 1 && m->seq > last[m->cls]);
		last[m->cls] = m->seq;
		FUZZ_CHECK(m->kind[0] && strlen(m->kind) <= PROTO_LINK_KIND_MAX &&
			   strspn(m->kind, "abcdefghijklmnopqrstuvwxyz_") == strlen(m->kind));
		FUZZ_CHECK(json_is_object(m->body));
		if (strcmp(m->kind, "inventory") == 0)
			check_inventory(m->body);
	}
	for (int c = 0; c < PROTO_LINK_CLASSES; c++)
		FUZZ_CHECK(last[c] == b->last[c]);
}

static void try(const uint8_t *z, size_t zlen, size_t cap)
{
	struct proto_batch b;
	struct steward_err err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = proto_batch_parse(z, zlen, cap, &b, &err);
	if (rc)
		check_refused(rc, &err, &b);
	else
		check_accepted(&b);
	proto_batch_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_attach_token tok;
	struct steward_err err;
	uint8_t *z = NULL;
	size_t zlen = 0;
	char text[PROTO_ATTACH_TOKEN_MAX + 1], back[PROTO_ATTACH_TOKEN_MAX + 1];

	fuzz_init();
	try(data, size, PROTO_BATCH_PLAIN_MAX);
	try(data, size, SMALL_CAP);
	if (proto_batch_compress((const char *)data, size, &z, &zlen) == 0) {
		try(z, zlen, PROTO_BATCH_PLAIN_MAX);
		try(z, zlen, SMALL_CAP);
	}
	free(z);
	/* the same bytes as an attach token */
	if (size <= PROTO_ATTACH_TOKEN_MAX) {
		memcpy(text, data, size);
		text[size] = '\0';
		memset(&err, 0, sizeof(err));
		if (proto_attach_token_parse(text, &tok, &err) == 0) {
			FUZZ_CHECK(proto_attach_token_format(&tok, back, sizeof(back)) == 0);
			FUZZ_CHECK(strcmp(back, text) == 0);
		} else {
			FUZZ_CHECK(strcmp(err.code, "attach_token_invalid") == 0);
			fuzz_check_error_body(&err);
		}
	}
	return 0;
}

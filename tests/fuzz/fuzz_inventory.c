/* fuzz_inventory: the inventory document (proto_inventory_parse with the
 * default caps) and, on the same bytes, the agent's dpkg status parser
 * (agent_dpkg_status_parse; agent/inventory_dpkg.c is compiled in).
 *
 * Properties checked on every input:
 *   - a refusal has one of the four documented codes, a message, and is
 *     answerable (the error body the site would send parses back);
 *   - an accepted document is canonical: its stored text
 *     (proto_inventory_text_new) parses again to an equal document with the
 *     same hashes, and gives the same text once more;
 *   - an accepted full document, sealed again, keeps its hashes; and the
 *     empty delta against it applies back to the same full hash;
 *   - a document refused only because of its hashes is accepted once its
 *     hashes are recomputed (so the mutated content behind the hashes is
 *     fuzzed too, not only the first check it meets);
 *   - every package the dpkg parser reports has a non-empty name and version
 *     of printable ASCII within the string cap, and a document carrying them
 *     is accepted by the site's parser.
 */
#include "fuzz.h"

#include "steward/inventory.h"
#include "../../agent/inventory.h"

static void check_refusal(int rc, const struct steward_err *err)
{
	FUZZ_CHECK(FUZZ_TERMINATED(err->code) && FUZZ_TERMINATED(err->message) &&
		   FUZZ_TERMINATED(err->remedy));
	FUZZ_CHECK(err->message[0] != '\0');
	if (strcmp(err->code, "bad_request") == 0 ||
	    strcmp(err->code, "inventory_hash_mismatch") == 0)
		FUZZ_CHECK(rc == -STEWARD_EINVAL);
	else if (strcmp(err->code, "inventory_too_large") == 0)
		FUZZ_CHECK(rc == -STEWARD_ETOOBIG);
	else if (strcmp(err->code, "version_incompatible") == 0)
		FUZZ_CHECK(rc == -STEWARD_EVERSION);
	else
		FUZZ_CHECK(!"an undocumented refusal code");
	fuzz_check_error_body(err);
}

static int same_hashes(const struct proto_inventory *a, const struct proto_inventory *b)
{
	for (int c = 0; c < PROTO_INV_NCLASSES; c++)
		if (strcmp(a->hashes[c], b->hashes[c]) != 0)
			return 0;
	return strcmp(a->full_hash, b->full_hash) == 0 && strcmp(a->base, b->base) == 0 &&
	       a->delta == b->delta && a->classes == b->classes;
}

/* The empty delta against a full document applies back to it. */
static void check_empty_delta(const struct proto_inventory *inv, const char *text)
{
	struct proto_inventory d, merged;
	struct steward_err err;
	json_t *delta;
	char *dt;

	delta =
	    json_pack("{s:i,s:s,s:{},s:O,s:s}", "schema", 1, "base", inv->full_hash, "classes",
		      "hashes", json_object_get(inv->doc, "hashes"), "full_hash", inv->full_hash);
	FUZZ_CHECK(delta != NULL);
	dt = json_dumps(delta, JSON_COMPACT);
	json_decref(delta);
	FUZZ_CHECK(dt != NULL);
	FUZZ_CHECK(proto_inventory_parse(dt, strlen(dt), NULL, &d, &err) == 0);
	free(dt);
	FUZZ_CHECK(d.delta && d.classes == 0);
	if (proto_inventory_apply_delta(text, strlen(text), inv->full_hash, &d, NULL, &merged,
					&err) != 0) {
		fprintf(stderr, "empty delta refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"the empty delta does not apply to its own base");
	}
	FUZZ_CHECK(strcmp(merged.full_hash, inv->full_hash) == 0);
	proto_inventory_free(&merged);
	proto_inventory_free(&d);
}

static void check_accepted(struct proto_inventory *inv)
{
	struct proto_inventory again;
	struct steward_err err;
	char *text, *text2;

	FUZZ_CHECK(inv->doc != NULL);
	FUZZ_CHECK(inv->delta ? inv->classes <= PROTO_INV_ALL : inv->classes == PROTO_INV_ALL);
	text = proto_inventory_text_new(inv);
	FUZZ_CHECK(text != NULL);
	if (proto_inventory_parse(text, strlen(text), NULL, &again, &err) != 0) {
		fprintf(stderr, "stored text refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"the site refuses the text it stored");
	}
	FUZZ_CHECK(same_hashes(inv, &again));
	FUZZ_CHECK(json_equal(inv->doc, again.doc));
	text2 = proto_inventory_text_new(&again);
	FUZZ_CHECK(text2 != NULL && strcmp(text, text2) == 0);
	free(text2);
	proto_inventory_free(&again);

	if (!inv->delta) {
		json_t *copy = json_deep_copy(inv->doc);
		FUZZ_CHECK(copy != NULL);
		FUZZ_CHECK(proto_inventory_seal(copy, NULL) == 0);
		FUZZ_CHECK(json_equal(copy, inv->doc));
		json_decref(copy);
		check_empty_delta(inv, text);
	}
	free(text);
}

/* Recompute the hashes of a document that was refused for them only. */
static void check_resealed(const uint8_t *data, size_t size)
{
	char hashes[PROTO_INV_NCLASSES][PROTO_INVENTORY_HEX + 1], full[PROTO_INVENTORY_HEX + 1];
	struct proto_inventory inv;
	struct steward_err err;
	json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *classes, *h;
	char *text;

	FUZZ_CHECK(doc != NULL);
	classes = json_object_get(doc, "classes");
	h = json_object_get(doc, "hashes");
	for (int c = 0; c < PROTO_INV_NCLASSES; c++) {
		const char *name = proto_inventory_class_name(c);
		json_t *cls = json_object_get(classes, name);
		if (cls) {
			FUZZ_CHECK(proto_inventory_class_hash(cls, c, hashes[c]) == 0);
			FUZZ_CHECK(json_object_set_new(h, name, json_string(hashes[c])) == 0);
		} else {
			snprintf(hashes[c], sizeof(hashes[c]), "%s",
				 json_string_value(json_object_get(h, name)));
		}
	}
	FUZZ_CHECK(proto_inventory_full_hash(hashes, full) == 0);
	FUZZ_CHECK(json_object_set_new(doc, "full_hash", json_string(full)) == 0);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	FUZZ_CHECK(text != NULL);
	if (proto_inventory_parse(text, strlen(text), NULL, &inv, &err) != 0) {
		fprintf(stderr, "resealed refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"a document refused only for its hashes is refused after resealing");
	}
	check_accepted(&inv);
	proto_inventory_free(&inv);
	free(text);
}

/* A minimal valid full document around the packages the dpkg parser found. */
static void check_dpkg_doc(json_t *packages)
{
	struct proto_inventory inv;
	struct steward_err err;
	json_t *doc;
	char *text;

	doc = json_pack("{s:i,s:{s:{s:{s:s,s:i,s:i,s:i},s:{s:i},s:[],s:[],s:{s:s,s:s,s:s},s:s},"
			"s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s},s:{s:O,s:[]}}}",
			"schema", 1, "classes", "hardware", "cpu", "model", "", "sockets", 1,
			"cores", 1, "threads", 1, "memory", "total_mb", 1, "disks", "network",
			"dmi", "vendor", "", "product", "", "serial", "", "virtualization", "none",
			"os", "id", "linux", "name", "Linux", "version_id", "", "version", "",
			"pretty_name", "Linux", "kernel_release", "", "arch", "", "boot_time", 0,
			"timezone", "", "software", "packages", packages, "steward");
	FUZZ_CHECK(doc != NULL);
	FUZZ_CHECK(proto_inventory_seal(doc, NULL) == 0);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	FUZZ_CHECK(text != NULL);
	if (proto_inventory_parse(text, strlen(text), NULL, &inv, &err) != 0) {
		fprintf(stderr, "dpkg packages refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"the site refuses packages the agent's dpkg parser reports");
	}
	proto_inventory_free(&inv);
	free(text);
}

static void fuzz_dpkg(const uint8_t *data, size_t size)
{
	struct agent_dpkg_stats st;
	json_t *arr = json_array(), *p;
	size_t i;

	FUZZ_CHECK(arr != NULL);
	FUZZ_CHECK(agent_dpkg_status_parse((const char *)data, size, PROTO_INVENTORY_PACKAGES_MAX,
					   arr, &st) == 0);
	FUZZ_CHECK(st.installed == json_array_size(arr));
	json_array_foreach(arr, i, p)
	{
		const char *name = json_string_value(json_object_get(p, "name"));
		const char *ver = json_string_value(json_object_get(p, "version"));
		const char *arch = json_string_value(json_object_get(p, "arch"));
		FUZZ_CHECK(name && ver && arch);
		FUZZ_CHECK(name[0] && ver[0]);
		FUZZ_CHECK(fuzz_printable_max(name, PROTO_INVENTORY_STRING_MAX));
		FUZZ_CHECK(fuzz_printable_max(ver, PROTO_INVENTORY_STRING_MAX));
		FUZZ_CHECK(fuzz_printable_max(arch, PROTO_INVENTORY_STRING_MAX));
	}
	if (json_array_size(arr) > 0)
		check_dpkg_doc(arr);
	json_decref(arr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_inventory inv;
	struct steward_err err;
	int rc;

	fuzz_init();
	memset(&inv, 0xa5, sizeof(inv));
	memset(&err, 0, sizeof(err));
	rc = proto_inventory_parse((const char *)data, size, NULL, &inv, &err);
	if (rc == 0) {
		check_accepted(&inv);
		proto_inventory_free(&inv);
	} else {
		check_refusal(rc, &err);
		FUZZ_CHECK(inv.doc == NULL);
		if (strcmp(err.code, "inventory_hash_mismatch") == 0)
			check_resealed(data, size);
	}
	fuzz_dpkg(data, size);
	return 0;
}

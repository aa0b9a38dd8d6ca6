/* proto/inventory: parse, verify, hash and merge inventory documents.
 *
 * The document's shape is one table per object (struct field below): the
 * validator walks the tables, so adding a field is one line, and a refusal
 * always names the full path of the field, e.g.
 * classes.software.packages[12].version. Caps are checked on counts before
 * any element is read. Unknown fields are refused rather than stored
 * unchecked: a new field means a new schema number.
 *
 * Hashes are computed over the canonical JSON of each class (see
 * docs/internals/inventory.md); the site and the agent both call the
 * functions here, so they cannot disagree about the canonical form.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "steward/inventory.h"
#include "steward/proto.h"

#define REMEDY_BAD "fix the client sending this inventory; see docs/internals/inventory.md"
#define REMEDY_BIG                                                                                 \
	"make the client report less, or raise the site's inventory caps; see "                    \
	"docs/internals/inventory.md"
#define REMEDY_HASH   "the client must recompute its hashes and send a full inventory"
#define REMEDY_RESYNC "send a full inventory: the site does not hold the base of this delta"
#define REMEDY_SCHEMA "upgrade the site, or have the client send inventory schema 1"

/* JSON_ENSURE_ASCII: the canonical text does not depend on how a sender
 * encoded non-ASCII characters; JSON_SORT_KEYS: nor on key order. */
#define CANON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII)

#define INT_COUNT_MAX (INT64_C(1) << 24)    /* sockets, cores, threads */
#define INT_MB_MAX    (INT64_C(1) << 44)    /* 16 EiB in MiB */
#define INT_TIME_MAX  INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static const char *const class_names[PROTO_INV_NCLASSES] = {"hardware", "os", "software"};

const char *proto_inventory_class_name(int cls)
{
	if (cls < 0 || cls >= PROTO_INV_NCLASSES)
		return NULL;
	return class_names[cls];
}

void proto_inventory_caps_default(struct proto_inventory_caps *caps)
{
	caps->packages = PROTO_INVENTORY_PACKAGES_MAX;
	caps->steward = PROTO_INVENTORY_STEWARD_MAX;
	caps->disks = PROTO_INVENTORY_DISKS_MAX;
	caps->network = PROTO_INVENTORY_NETWORK_MAX;
	caps->addresses = PROTO_INVENTORY_ADDRESSES_MAX;
	caps->string_bytes = PROTO_INVENTORY_STRING_MAX;
	caps->total_bytes = PROTO_INVENTORY_TOTAL_MAX;
}

/* ---- the schema, as tables ------------------------------------------------ */
enum ftype {
	F_STR,	   /* string of at most caps->string_bytes, no control characters */
	F_INT,	   /* integer 0 .. max */
	F_OBJ,	   /* object with the fields in sub */
	F_LIST,	   /* array of at most caps->CAP objects with the fields in sub */
	F_STRLIST, /* array of at most caps->CAP strings */
};

enum fcheck {
	C_ANY,
	C_NONEMPTY, /* a name: "" is refused */
	C_MAC,	    /* "" or hex octets separated by ':' */
	C_ADDR,	    /* an IPv4 or IPv6 address (inet_pton) */
	C_SOURCE,   /* "dpkg" or "rpm" */
};

struct field {
	const char *key;
	enum ftype type;
	enum fcheck check;	 /* F_STR, F_STRLIST */
	int64_t max;		 /* F_INT */
	const struct field *sub; /* F_OBJ, F_LIST; ends with a NULL key */
	size_t cap;		 /* F_LIST, F_STRLIST: offset in struct proto_inventory_caps */
	const char *cap_name;	 /* and the cap's name for messages */
};

/* clang-format off */
#define STR(k)       {.key = (k), .type = F_STR}
#define NAME(k)      {.key = (k), .type = F_STR, .check = C_NONEMPTY}
#define INT(k, m)    {.key = (k), .type = F_INT, .max = (m)}
#define OBJ(k, s)    {.key = (k), .type = F_OBJ, .sub = (s)}
#define LIST(k, s, c) {.key = (k), .type = F_LIST, .sub = (s), \
		       .cap = offsetof(struct proto_inventory_caps, c), .cap_name = #c}
#define END          {.key = NULL}

static const struct field cpu_fields[] = {
	STR("model"), INT("sockets", INT_COUNT_MAX), INT("cores", INT_COUNT_MAX),
	INT("threads", INT_COUNT_MAX), END};
static const struct field memory_fields[] = {INT("total_mb", INT_MB_MAX), END};
static const struct field disk_fields[] = {
	STR("device"), NAME("mount"), STR("fs"), INT("size_mb", INT_MB_MAX),
	INT("free_mb", INT_MB_MAX), END};
static const struct field net_fields[] = {
	NAME("name"),
	{.key = "mac", .type = F_STR, .check = C_MAC},
	{.key = "addresses", .type = F_STRLIST, .check = C_ADDR,
	 .cap = offsetof(struct proto_inventory_caps, addresses), .cap_name = "addresses"},
	END};
static const struct field dmi_fields[] = {STR("vendor"), STR("product"), STR("serial"), END};
static const struct field hardware_fields[] = {
	OBJ("cpu", cpu_fields), OBJ("memory", memory_fields), LIST("disks", disk_fields, disks),
	LIST("network", net_fields, network), OBJ("dmi", dmi_fields), STR("virtualization"),
	END};

static const struct field os_fields[] = {
	STR("id"), STR("name"), STR("version_id"), STR("version"), STR("pretty_name"),
	STR("kernel_release"), STR("arch"), INT("boot_time", INT_TIME_MAX), STR("timezone"),
	END};

static const struct field package_fields[] = {
	NAME("name"), STR("version"), STR("arch"),
	{.key = "source", .type = F_STR, .check = C_SOURCE}, END};
static const struct field steward_fields[] = {NAME("name"), STR("version"), END};
static const struct field software_fields[] = {
	LIST("packages", package_fields, packages), LIST("steward", steward_fields, steward),
	END};
/* clang-format on */

static const struct field *const class_fields[PROTO_INV_NCLASSES] = {hardware_fields, os_fields,
								     software_fields};

/* ---- refusals ------------------------------------------------------------- */
struct vctx {
	const struct proto_inventory_caps *caps;
	struct steward_err *err;
	char path[192];
};

static int bad(struct steward_err *err, const char *path, const char *problem)
{
	return steward_err_set(err, STEWARD_EINVAL, "bad_request", REMEDY_BAD, "field '%s' %s",
			       path, problem);
}

static int too_large(struct steward_err *err, const char *path, size_t count, const char *unit,
		     const char *cap_name, size_t cap)
{
	return steward_err_set(err, STEWARD_ETOOBIG, "inventory_too_large", REMEDY_BIG,
			       "field '%s' has %zu %s; the cap %s is %zu", path, count, unit,
			       cap_name, cap);
}

/* Append ".key" or "[i]" to ctx->path; returns the old length to restore. */
static size_t path_push_key(struct vctx *ctx, const char *key)
{
	size_t n = strlen(ctx->path);

	snprintf(ctx->path + n, sizeof(ctx->path) - n, "%s%s", n ? "." : "", key);
	return n;
}

static size_t path_push_index(struct vctx *ctx, size_t i)
{
	size_t n = strlen(ctx->path);

	snprintf(ctx->path + n, sizeof(ctx->path) - n, "[%zu]", i);
	return n;
}

static void path_pop(struct vctx *ctx, size_t n)
{
	ctx->path[n] = '\0';
}

/* An unknown key is echoed only when it is short, printable ASCII: the
 * message goes back to the client and into logs. */
static int unknown_field(struct vctx *ctx, const char *key)
{
	size_t n;
	int rc;

	if (strlen(key) > 40 || !str_printable(key))
		key = "(unprintable name)";
	n = path_push_key(ctx, key);
	rc = bad(ctx->err, ctx->path, "is not a field of inventory schema 1");
	path_pop(ctx, n);
	return rc;
}

/* ---- values ------------------------------------------------------------- */
static bool is_hex64(const char *s, size_t len)
{
	if (len != PROTO_INVENTORY_HEX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_hexdigit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* "" or 1..32 octets "xx:xx:..": Ethernet has 6, InfiniBand 20. */
static bool is_mac(const char *s, size_t len)
{
	if (len == 0)
		return true;
	if (len % 3 != 2 || len > 32 * 3 - 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (i % 3 == 2) {
			if (s[i] != ':')
				return false;
		} else if (!is_hexdigit(s[i])) {
			return false;
		}
	}
	return true;
}

static bool is_addr(const char *s)
{
	unsigned char bin[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, bin) == 1 || inet_pton(AF_INET6, s, bin) == 1;
}

static int check_str(struct vctx *ctx, json_t *v, enum fcheck check)
{
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return bad(ctx->err, ctx->path, "must be a string");
	s = json_string_value(v);
	len = json_string_length(v);
	if (len > ctx->caps->string_bytes)
		return too_large(ctx->err, ctx->path, len, "bytes", "string_bytes",
				 ctx->caps->string_bytes);
	if (strlen(s) != len)
		return bad(ctx->err, ctx->path, "contains a NUL character");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return bad(ctx->err, ctx->path, "contains control characters");
	switch (check) {
	case C_ANY:
		break;
	case C_NONEMPTY:
		if (len == 0)
			return bad(ctx->err, ctx->path, "must not be empty");
		break;
	case C_MAC:
		if (!is_mac(s, len))
			return bad(ctx->err, ctx->path,
				   "must be empty or hex octets separated by ':' (at most 32)");
		break;
	case C_ADDR:
		if (!is_addr(s))
			return bad(ctx->err, ctx->path, "must be an IPv4 or IPv6 address");
		break;
	case C_SOURCE:
		if (strcmp(s, "dpkg") != 0 && strcmp(s, "rpm") != 0)
			return bad(ctx->err, ctx->path, "must be \"dpkg\" or \"rpm\"");
		break;
	}
	return 0;
}

static int check_int(struct vctx *ctx, json_t *v, int64_t max)
{
	char msg[96];

	if (!json_is_integer(v))
		return bad(ctx->err, ctx->path, "must be an integer");
	if (json_integer_value(v) < 0 || json_integer_value(v) > max) {
		snprintf(msg, sizeof(msg), "is out of range (%lld; allowed 0 to %lld)",
			 (long long)json_integer_value(v), (long long)max);
		return bad(ctx->err, ctx->path, msg);
	}
	return 0;
}

static int check_object(struct vctx *ctx, json_t *obj, const struct field *fields);

/* The array v against field f (F_LIST or F_STRLIST); ctx->path names v. */
static int check_list(struct vctx *ctx, json_t *v, const struct field *f)
{
	size_t cap = *(const size_t *)(const void *)((const char *)ctx->caps + f->cap);
	size_t i, n;
	json_t *e;
	int rc;

	if (!json_is_array(v))
		return bad(ctx->err, ctx->path,
			   f->type == F_LIST ? "must be an array of objects"
					     : "must be an array of strings");
	if (json_array_size(v) > cap)
		return too_large(ctx->err, ctx->path, json_array_size(v), "entries", f->cap_name,
				 cap);
	json_array_foreach(v, i, e)
	{
		n = path_push_index(ctx, i);
		if (f->type == F_STRLIST)
			rc = check_str(ctx, e, f->check);
		else if (!json_is_object(e))
			rc = bad(ctx->err, ctx->path, "must be an object");
		else
			rc = check_object(ctx, e, f->sub);
		if (rc)
			return rc;
		path_pop(ctx, n);
	}
	return 0;
}

static int check_value(struct vctx *ctx, json_t *v, const struct field *f)
{
	switch (f->type) {
	case F_STR:
		return check_str(ctx, v, f->check);
	case F_INT:
		return check_int(ctx, v, f->max);
	case F_OBJ:
		if (!json_is_object(v))
			return bad(ctx->err, ctx->path, "must be an object");
		return check_object(ctx, v, f->sub);
	case F_LIST:
	case F_STRLIST:
		return check_list(ctx, v, f);
	}
	return bad(ctx->err, ctx->path, "has no type"); /* not reached */
}

/* obj (an object) holds exactly the fields in the table, each valid. */
static int check_object(struct vctx *ctx, json_t *obj, const struct field *fields)
{
	const char *key;
	json_t *v;
	size_t n;
	int rc;

	json_object_foreach(obj, key, v)
	{
		const struct field *f = fields;
		while (f->key && strcmp(f->key, key) != 0)
			f++;
		if (!f->key)
			return unknown_field(ctx, key);
	}
	for (const struct field *f = fields; f->key; f++) {
		n = path_push_key(ctx, f->key);
		v = json_object_get(obj, f->key);
		rc = v ? check_value(ctx, v, f) : bad(ctx->err, ctx->path, "is missing");
		if (rc)
			return rc;
		path_pop(ctx, n);
	}
	return 0;
}

/* ---- canonical form and hashes -------------------------------------------- */
static const char *str_of(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

static int cmp_keys(json_t *a, json_t *b, const char *const *keys)
{
	for (; *keys; keys++) {
		int c = strcmp(str_of(a, *keys), str_of(b, *keys));
		if (c)
			return c;
	}
	return 0;
}

static const char *const package_order[] = {"name", "arch", "version", "source", NULL};
static const char *const steward_order[] = {"name", "version", NULL};

static int cmp_packages(const void *a, const void *b)
{
	return cmp_keys(*(json_t *const *)a, *(json_t *const *)b, package_order);
}

static int cmp_steward(const void *a, const void *b)
{
	return cmp_keys(*(json_t *const *)a, *(json_t *const *)b, steward_order);
}

/* Sort arr in place (a no-op when it is already sorted, the usual case). */
static int sort_array(json_t *arr, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(arr), i;
	json_t **items;

	for (i = 1; i < n; i++) {
		json_t *prev = json_array_get(arr, i - 1), *cur = json_array_get(arr, i);
		if (cmp(&prev, &cur) > 0)
			break;
	}
	if (i >= n)
		return 0;
	items = malloc(n * sizeof(*items));
	if (!items)
		return -STEWARD_ENOMEM;
	for (i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	qsort(items, n, sizeof(*items), cmp);
	/* set_new steals each reference taken above and drops the array's old one */
	for (i = 0; i < n; i++)
		json_array_set_new(arr, i, items[i]);
	free(items);
	return 0;
}

int proto_inventory_class_hash(json_t *cls_obj, int cls, char out[PROTO_INVENTORY_HEX + 1])
{
	uint8_t h[PROTO_HASH_BYTES];
	char *text;
	int rc;

	out[0] = '\0';
	if (!json_is_object(cls_obj) || !proto_inventory_class_name(cls))
		return -STEWARD_EINVAL;
	if (cls == PROTO_INV_SOFTWARE) {
		json_t *pk = json_object_get(cls_obj, "packages");
		json_t *st = json_object_get(cls_obj, "steward");
		rc = json_is_array(pk) ? sort_array(pk, cmp_packages) : 0;
		if (!rc && json_is_array(st))
			rc = sort_array(st, cmp_steward);
		if (rc)
			return rc;
	}
	text = json_dumps(cls_obj, CANON_FLAGS);
	if (!text)
		return -STEWARD_ENOMEM;
	proto_hash(text, strlen(text), h);
	free(text);
	hex_encode(h, sizeof(h), out);
	return 0;
}

int proto_inventory_full_hash(const char hashes[PROTO_INV_NCLASSES][PROTO_INVENTORY_HEX + 1],
			      char out[PROTO_INVENTORY_HEX + 1])
{
	uint8_t raw[PROTO_INV_NCLASSES * PROTO_HASH_BYTES], h[PROTO_HASH_BYTES];

	out[0] = '\0';
	for (int c = 0; c < PROTO_INV_NCLASSES; c++)
		if (hex_decode(hashes[c], raw + c * PROTO_HASH_BYTES, PROTO_HASH_BYTES) != 0)
			return -STEWARD_EINVAL;
	proto_hash(raw, sizeof(raw), h);
	hex_encode(h, sizeof(h), out);
	return 0;
}

int proto_inventory_seal(json_t *doc, struct steward_err *err)
{
	char hashes[PROTO_INV_NCLASSES][PROTO_INVENTORY_HEX + 1], full[PROTO_INVENTORY_HEX + 1];
	json_t *classes = json_object_get(doc, "classes"), *h;
	int rc;

	if (!json_is_object(classes))
		return bad(err, "classes", "must be an object");
	for (int c = 0; c < PROTO_INV_NCLASSES; c++) {
		json_t *obj = json_object_get(classes, class_names[c]);
		if (!json_is_object(obj)) {
			char path[32];
			snprintf(path, sizeof(path), "classes.%s", class_names[c]);
			return bad(err, path, "must be an object");
		}
		rc = proto_inventory_class_hash(obj, c, hashes[c]);
		if (rc)
			return steward_err_set(err, rc, "internal", NULL,
					       "cannot hash the %s class", class_names[c]);
	}
	proto_inventory_full_hash(hashes, full);
	h = json_pack("{s:s,s:s,s:s}", "hardware", hashes[0], "os", hashes[1], "software",
		      hashes[2]);
	if (!h || json_object_set_new(doc, "hashes", h) != 0 ||
	    json_object_set_new(doc, "full_hash", json_string(full)) != 0 ||
	    json_object_set_new(doc, "schema", json_integer(PROTO_INVENTORY_SCHEMA)) != 0)
		return steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
				       "out of memory sealing the inventory");
	return 0;
}

/* ---- parsing ---------------------------------------------------------------- */
/* A hex hash field of root: required, 64 lowercase hex digits. */
static int get_hash(json_t *obj, const char *key, const char *path,
		    char out[PROTO_INVENTORY_HEX + 1], struct steward_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return bad(err, path, "is missing");
	if (!json_is_string(v) || !is_hex64(json_string_value(v), json_string_length(v)))
		return bad(err, path, "must be 64 lowercase hex digits (BLAKE2b-256)");
	memcpy(out, json_string_value(v), PROTO_INVENTORY_HEX + 1);
	return 0;
}

static int check_schema(json_t *root, struct steward_err *err)
{
	json_t *v = json_object_get(root, "schema");

	if (!v)
		return bad(err, "schema", "is missing");
	if (!json_is_integer(v))
		return bad(err, "schema", "must be an integer");
	if (json_integer_value(v) > PROTO_INVENTORY_SCHEMA)
		return steward_err_set(err, STEWARD_EVERSION, "version_incompatible", REMEDY_SCHEMA,
				       "inventory schema %lld is newer than this site reads (%d)",
				       (long long)json_integer_value(v), PROTO_INVENTORY_SCHEMA);
	if (json_integer_value(v) != PROTO_INVENTORY_SCHEMA)
		return bad(err, "schema", "must be 1");
	return 0;
}

static int check_top_keys(json_t *root, struct steward_err *err)
{
	static const char *const allowed[] = {"schema", "base", "classes", "hashes", "full_hash"};
	struct vctx ctx = {.err = err};
	const char *key;
	json_t *v;

	json_object_foreach(root, key, v)
	{
		size_t i = 0;
		while (i < sizeof(allowed) / sizeof(allowed[0]) && strcmp(allowed[i], key) != 0)
			i++;
		if (i == sizeof(allowed) / sizeof(allowed[0]))
			return unknown_field(&ctx, key);
	}
	return 0;
}

/* Validate classes; on success *present has a bit per class found. */
static int check_classes(json_t *root, bool delta, const struct proto_inventory_caps *caps,
			 unsigned *present, struct steward_err *err)
{
	struct vctx ctx = {.caps = caps, .err = err};
	json_t *classes = json_object_get(root, "classes"), *v;
	const char *key;
	int rc;

	*present = 0;
	if (!classes)
		return bad(err, "classes", "is missing");
	if (!json_is_object(classes))
		return bad(err, "classes", "must be an object");
	snprintf(ctx.path, sizeof(ctx.path), "classes");
	json_object_foreach(classes, key, v)
	{
		int c = 0;
		while (c < PROTO_INV_NCLASSES && strcmp(class_names[c], key) != 0)
			c++;
		if (c == PROTO_INV_NCLASSES)
			return unknown_field(&ctx, key);
	}
	for (int c = 0; c < PROTO_INV_NCLASSES; c++) {
		size_t n = path_push_key(&ctx, class_names[c]);
		v = json_object_get(classes, class_names[c]);
		if (!v) {
			if (!delta)
				return bad(err, ctx.path,
					   "is missing (a full inventory has all three classes)");
			path_pop(&ctx, n);
			continue;
		}
		if (!json_is_object(v))
			return bad(err, ctx.path, "must be an object");
		rc = check_object(&ctx, v, class_fields[c]);
		if (rc)
			return rc;
		path_pop(&ctx, n);
		*present |= 1u << c;
	}
	return 0;
}

/* "the hash of classes.os is X but the document says Y" */
static int mismatch(struct steward_err *err, const char *what, const char *computed,
		    const char *stated)
{
	return steward_err_set(err, STEWARD_EINVAL, "inventory_hash_mismatch", REMEDY_HASH,
			       "%s is %s but the document says %s", what, computed, stated);
}

/* Hash every class present and compare; then the full hash. */
static int verify_hashes(json_t *root, struct proto_inventory *out, struct steward_err *err)
{
	json_t *classes = json_object_get(root, "classes");
	char got[PROTO_INVENTORY_HEX + 1], what[48];
	int rc;

	for (int c = 0; c < PROTO_INV_NCLASSES; c++) {
		if (!(out->classes & (1u << c)))
			continue;
		rc = proto_inventory_class_hash(json_object_get(classes, class_names[c]), c, got);
		if (rc)
			return steward_err_set(err, rc, "internal", NULL,
					       "cannot hash the %s class", class_names[c]);
		if (strcmp(got, out->hashes[c]) != 0) {
			snprintf(what, sizeof(what), "the hash of classes.%s", class_names[c]);
			return mismatch(err, what, got, out->hashes[c]);
		}
	}
	proto_inventory_full_hash(out->hashes, got);
	if (strcmp(got, out->full_hash) != 0)
		return mismatch(err, "the full hash of the three class hashes", got,
				out->full_hash);
	return 0;
}

int proto_inventory_parse(const char *body, size_t len, const struct proto_inventory_caps *caps,
			  struct proto_inventory *out, struct steward_err *err)
{
	struct proto_inventory_caps defaults;
	json_error_t jerr;
	json_t *root = NULL, *hashes;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!caps) {
		proto_inventory_caps_default(&defaults);
		caps = &defaults;
	}
	if (len > caps->total_bytes)
		return steward_err_set(err, STEWARD_ETOOBIG, "inventory_too_large", REMEDY_BIG,
				       "the inventory is %zu bytes; the cap total_bytes is %zu",
				       len, caps->total_bytes);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return steward_err_set(err, STEWARD_EINVAL, "bad_request", REMEDY_BAD,
				       "malformed JSON at line %d column %d: %s", jerr.line,
				       jerr.column, jerr.text);
	if (!json_is_object(root)) {
		rc = steward_err_set(err, STEWARD_EINVAL, "bad_request", REMEDY_BAD,
				     "the inventory must be a JSON object");
		goto fail;
	}
	rc = check_schema(root, err);
	if (!rc)
		rc = check_top_keys(root, err);
	if (rc)
		goto fail;
	if (json_object_get(root, "base")) {
		out->delta = true;
		rc = get_hash(root, "base", "base", out->base, err);
		if (rc)
			goto fail;
	}
	rc = check_classes(root, out->delta, caps, &out->classes, err);
	if (rc)
		goto fail;
	hashes = json_object_get(root, "hashes");
	if (!hashes) {
		rc = bad(err, "hashes", "is missing");
		goto fail;
	}
	if (!json_is_object(hashes)) {
		rc = bad(err, "hashes", "must be an object with hardware, os and software");
		goto fail;
	}
	for (int c = 0; c < PROTO_INV_NCLASSES && !rc; c++) {
		char path[32];
		snprintf(path, sizeof(path), "hashes.%s", class_names[c]);
		rc = get_hash(hashes, class_names[c], path, out->hashes[c], err);
	}
	if (!rc && json_object_size(hashes) != PROTO_INV_NCLASSES) {
		/* all three are there, so there is one more */
		struct vctx ctx = {.err = err};
		const char *key;
		json_t *v;
		snprintf(ctx.path, sizeof(ctx.path), "hashes");
		json_object_foreach(hashes, key, v)
		{
			if (strcmp(key, class_names[0]) && strcmp(key, class_names[1]) &&
			    strcmp(key, class_names[2])) {
				rc = unknown_field(&ctx, key);
				break;
			}
		}
	}
	if (!rc)
		rc = get_hash(root, "full_hash", "full_hash", out->full_hash, err);
	if (!rc)
		rc = verify_hashes(root, out, err);
	if (rc)
		goto fail;
	out->doc = root;
	return 0;
fail:
	json_decref(root);
	memset(out, 0, sizeof(*out));
	return rc;
}

void proto_inventory_free(struct proto_inventory *inv)
{
	if (!inv)
		return;
	json_decref(inv->doc);
	memset(inv, 0, sizeof(*inv));
}

char *proto_inventory_text_new(const struct proto_inventory *inv)
{
	if (!inv || !inv->doc)
		return NULL;
	return json_dumps(inv->doc, CANON_FLAGS);
}

/* ---- deltas ----------------------------------------------------------------- */
static int resync(struct steward_err *err, const char *why, const char *detail)
{
	return steward_err_set(err, STEWARD_ENOTFOUND, "inventory_resync", REMEDY_RESYNC, "%s%s",
			       why, detail);
}

int proto_inventory_apply_delta(const char *stored, size_t stored_len, const char *stored_full_hash,
				const struct proto_inventory *delta,
				const struct proto_inventory_caps *caps,
				struct proto_inventory *out, struct steward_err *err)
{
	struct proto_inventory old;
	struct steward_err perr;
	json_t *classes, *dclasses, *hashes;
	char *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&old, 0, sizeof(old));
	if (!delta || !delta->doc || !delta->delta)
		return steward_err_set(err, STEWARD_EINVAL, "bad_request", REMEDY_BAD,
				       "a full inventory is not a delta (it has no 'base')");
	if (!stored || !stored_full_hash || strcmp(delta->base, stored_full_hash) != 0)
		return steward_err_set(err, STEWARD_ENOTFOUND, "inventory_resync", REMEDY_RESYNC,
				       "the delta's base %s is not the stored inventory %s",
				       delta->base, stored_full_hash ? stored_full_hash : "(none)");
	/* The stored text was verified when it arrived; verify it again anyway:
	 * a damaged row (or caps lowered since) must lead to a resync, not to a
	 * merged document that is wrong. */
	rc = proto_inventory_parse(stored, stored_len, caps, &old, &perr);
	if (rc == -STEWARD_ENOMEM)
		return steward_err_set(err, rc, "internal", NULL, "out of memory");
	if (rc)
		return resync(err, "the stored inventory cannot be read again: ", perr.message);
	if (old.delta || strcmp(old.full_hash, stored_full_hash) != 0) {
		rc =
		    resync(err, "the stored inventory is not the full document its hash names", "");
		goto out;
	}
	/* Classes the delta leaves out must be the ones its hashes name. */
	for (int c = 0; c < PROTO_INV_NCLASSES; c++) {
		if (!(delta->classes & (1u << c)) && strcmp(old.hashes[c], delta->hashes[c]) != 0) {
			char what[64];
			snprintf(what, sizeof(what), "the hash of the unchanged class %s",
				 class_names[c]);
			rc = mismatch(err, what, old.hashes[c], delta->hashes[c]);
			goto out;
		}
	}
	classes = json_object_get(old.doc, "classes");
	dclasses = json_object_get(delta->doc, "classes");
	hashes = json_object_get(old.doc, "hashes");
	for (int c = 0; c < PROTO_INV_NCLASSES; c++) {
		if ((delta->classes & (1u << c)) &&
		    json_object_set(classes, class_names[c],
				    json_object_get(dclasses, class_names[c])) != 0)
			goto nomem;
		if (json_object_set_new(hashes, class_names[c], json_string(delta->hashes[c])) != 0)
			goto nomem;
	}
	if (json_object_set_new(old.doc, "full_hash", json_string(delta->full_hash)) != 0)
		goto nomem;
	/* Parse the merged text like any full document: caps (the total may have
	 * grown) and every hash are checked once more, on exactly what the site
	 * will store. */
	text = json_dumps(old.doc, CANON_FLAGS);
	if (!text)
		goto nomem;
	rc = proto_inventory_parse(text, strlen(text), caps, out, err);
	goto out;
nomem:
	rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL, "out of memory");
out:
	free(text);
	proto_inventory_free(&old);
	return rc;
}

/* Unit tests for the inventory document: lib/proto/inventory.c (parse, caps,
 * hashes, deltas) and the agent's side, agent/inventory.c and
 * agent/inventory_dpkg.c (compiled into this test).
 *
 * Refusals are checked for their code and for what they name: a malformed
 * field's path ("field 'classes.software.packages[12].version'"), a cap's
 * name and the count that went over it. Hash vectors come from Python's
 * hashlib.blake2b(digest_size=32), independently of jansson and libsodium.
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

#include <jansson.h>

#include "steward/inventory.h"
#include "steward/proto.h"
#include "../../agent/inventory.h"

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_))                                                        \
			fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_);            \
	} while (0)

#define H_BRACES   "c09da522dac261c3d2566230bed10d2f3ef13f8e7654576c12e857e07f786098"
#define H_SW_ONE   "3a2068663ae7b2de084ac1410b511af46da8a6a0323bdd6a0e3be423c2ec8809"
#define H_FULL_VEC "530f1fbff5c56ba2e9acc4ca8225cd61403cdf45d6ebeda5621811dbf7218469"
#define H_CAFE	   "754530278189932fac4893e3da91274b1904191765e8b65f6406450c1d9698ed"

/* ---- documents ------------------------------------------------------------- */

static json_t *pkg(const char *name, const char *version, const char *arch)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "name", name, "version", version, "arch", arch,
			 "source", "dpkg");
}

/* A small, valid, unsealed full document. */
static json_t *sample(void)
{
	json_t *doc = json_pack(
	    "{s:i,s:{"
	    "s:{s:{s:s,s:i,s:i,s:i},s:{s:i},s:[{s:s,s:s,s:s,s:i,s:i}],"
	    "s:[{s:s,s:s,s:[s,s]}],s:{s:s,s:s,s:s},s:s},"
	    "s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s},"
	    "s:{s:[o,o,o],s:[{s:s,s:s}]}}}",
	    "schema", 1, "classes",
	    /* hardware */
	    "hardware", "cpu", "model", "AMD EPYC", "sockets", 1, "cores", 2, "threads", 4,
	    "memory", "total_mb", 16000, "disks", "device", "/dev/vda", "mount", "/", "fs", "ext4",
	    "size_mb", 100000, "free_mb", 50000, "network", "name", "eth0", "mac",
	    "52:54:00:12:34:56", "addresses", "10.1.2.3", "fe80::1", "dmi", "vendor", "QEMU",
	    "product", "Standard PC", "serial", "", "virtualization", "kvm",
	    /* os */
	    "os", "id", "debian", "name", "Debian GNU/Linux", "version_id", "12", "version",
	    "12 (bookworm)", "pretty_name", "Debian GNU/Linux 12 (bookworm)", "kernel_release",
	    "6.1.0-18-amd64", "arch", "x86_64", "boot_time", 1764000000, "timezone", "Etc/UTC",
	    /* software */
	    "software", "packages", pkg("bash", "5.2.15-2+b2", "amd64"),
	    pkg("libc6", "2.36-9+deb12u4", "amd64"), pkg("openssl", "3.0.11-1~deb12u2", "amd64"),
	    "steward", "name", "base", "version", "0.1.0");

	assert_non_null(doc);
	return doc;
}

static json_t *sealed(json_t *doc)
{
	assert_int_equal(proto_inventory_seal(doc, NULL), 0);
	return doc;
}

static char *text_of(json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);

	assert_non_null(s);
	return s;
}

/* The value at a path like "classes.software.packages[1].version". */
static json_t *at(json_t *root, const char *path)
{
	char buf[256], *tok, *save = NULL;
	json_t *cur = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
		char *br = strchr(tok, '[');
		if (br)
			*br = '\0';
		if (*tok)
			cur = json_object_get(cur, tok);
		while (br && cur) {
			cur = json_array_get(cur, strtoul(br + 1, NULL, 10));
			br = strchr(br + 1, '[');
		}
	}
	assert_non_null(cur);
	return cur;
}

/* Set (or, with v NULL, delete) the object member or array element at path. */
static void set(json_t *root, const char *path, json_t *v)
{
	char parent[256];
	const char *dot = strrchr(path, '.'), *last;
	json_t *p;

	if (dot) {
		snprintf(parent, sizeof(parent), "%.*s", (int)(dot - path), path);
		p = at(root, parent);
		last = dot + 1;
	} else {
		p = root;
		last = path;
	}
	if (strchr(last, '[')) {
		/* "name[i]": an array element */
		char name[64];
		size_t i;
		snprintf(name, sizeof(name), "%.*s", (int)(strchr(last, '[') - last), last);
		i = strtoul(strchr(last, '[') + 1, NULL, 10);
		p = json_object_get(p, name);
		assert_true(json_is_array(p));
		if (v)
			assert_int_equal(json_array_set_new(p, i, v), 0);
		else
			assert_int_equal(json_array_remove(p, i), 0);
		return;
	}
	if (v)
		assert_int_equal(json_object_set_new(p, last, v), 0);
	else
		assert_int_equal(json_object_del(p, last), 0);
}

static int parse_doc(json_t *doc, const struct proto_inventory_caps *caps,
		     struct proto_inventory *out, struct steward_err *err)
{
	char *s = text_of(doc);
	int rc;

	memset(err, 0, sizeof(*err));
	rc = proto_inventory_parse(s, strlen(s), caps, out, err);
	free(s);
	return rc;
}

static void accepted(json_t *doc, const struct proto_inventory_caps *caps)
{
	struct proto_inventory inv;
	struct steward_err err;
	int rc = parse_doc(doc, caps, &inv, &err);

	if (rc)
		fail_msg("refused (%s): %s", err.code, err.message);
	assert_non_null(inv.doc);
	proto_inventory_free(&inv);
	json_decref(doc);
}

/* Refused with rc and code, the message containing each needle; takes doc. */
static void refused(json_t *doc, const struct proto_inventory_caps *caps, int rc, const char *code,
		    const char *needle, const char *needle2)
{
	struct proto_inventory inv;
	struct steward_err err;

	assert_int_equal(parse_doc(doc, caps, &inv, &err), rc);
	assert_string_equal(err.code, code);
	assert_null(inv.doc);
	assert_false(inv.delta);
	if (needle)
		assert_contains(err.message, needle);
	if (needle2)
		assert_contains(err.message, needle2);
	assert_true(err.remedy[0] != '\0');
	proto_inventory_free(&inv); /* an empty result is safe to free */
	json_decref(doc);
}

/* A bad_request naming the field at path. */
static void refused_field(json_t *doc, const char *path)
{
	char needle[256];

	snprintf(needle, sizeof(needle), "field '%s'", path);
	refused(doc, NULL, -STEWARD_EINVAL, "bad_request", needle, NULL);
}

/* The sample, with path set to v (NULL: deleted), sealed again so only the
 * change can be refused. */
static json_t *with(const char *path, json_t *v)
{
	json_t *doc = sample();

	set(doc, path, v);
	/* seal hashes whatever is there; the parser must still refuse it */
	assert_int_equal(proto_inventory_seal(doc, NULL), 0);
	return doc;
}

/* ---- hashes -------------------------------------------------------------- */

static void test_hash_vectors(void **state)
{
	char hashes[PROTO_INV_NCLASSES][PROTO_INVENTORY_HEX + 1], full[PROTO_INVENTORY_HEX + 1];
	json_t *empty = json_object(), *sw, *hw;

	(void)state;
	sw = json_pack("{s:[{s:s,s:s,s:s,s:s}],s:[]}", "packages", "version", "1", "source", "dpkg",
		       "name", "a", "arch", "amd64", "steward");
	assert_int_equal(proto_inventory_class_hash(empty, PROTO_INV_HARDWARE, hashes[0]), 0);
	assert_string_equal(hashes[0], H_BRACES);
	assert_int_equal(proto_inventory_class_hash(empty, PROTO_INV_OS, hashes[1]), 0);
	assert_int_equal(proto_inventory_class_hash(sw, PROTO_INV_SOFTWARE, hashes[2]), 0);
	assert_string_equal(hashes[2], H_SW_ONE);
	assert_int_equal(proto_inventory_full_hash(hashes, full), 0);
	assert_string_equal(full, H_FULL_VEC);
	/* non-ASCII is written as \uXXXX with upper-case hex, as jansson does */
	hw = json_pack("{s:s}", "model", "caf\xc3\xa9");
	assert_int_equal(proto_inventory_class_hash(hw, PROTO_INV_HARDWARE, hashes[0]), 0);
	assert_string_equal(hashes[0], H_CAFE);
	/* not a class, not an object, not hex */
	assert_int_equal(proto_inventory_class_hash(empty, 3, hashes[0]), -STEWARD_EINVAL);
	assert_int_equal(proto_inventory_class_hash(sw, PROTO_INV_SOFTWARE - 3, hashes[0]),
			 -STEWARD_EINVAL);
	snprintf(hashes[1], sizeof(hashes[1]), "xyz");
	assert_int_equal(proto_inventory_full_hash(hashes, full), -STEWARD_EINVAL);
	assert_string_equal(proto_inventory_class_name(PROTO_INV_OS), "os");
	assert_null(proto_inventory_class_name(3));
	json_decref(empty);
	json_decref(sw);
	json_decref(hw);
}

static void test_hash_package_order(void **state)
{
	json_t *a = sample(), *b = sample(), *pk;
	struct proto_inventory inv;
	struct steward_err err;
	char *s;

	(void)state;
	/* b lists its packages backwards */
	pk = at(b, "classes.software.packages");
	json_array_clear(pk);
	json_array_append_new(pk, pkg("openssl", "3.0.11-1~deb12u2", "amd64"));
	json_array_append_new(pk, pkg("libc6", "2.36-9+deb12u4", "amd64"));
	json_array_append_new(pk, pkg("bash", "5.2.15-2+b2", "amd64"));
	sealed(a);
	sealed(b);
	assert_string_equal(json_string_value(at(a, "hashes.software")),
			    json_string_value(at(b, "hashes.software")));
	assert_string_equal(json_string_value(at(a, "full_hash")),
			    json_string_value(at(b, "full_hash")));
	/* seal sorted b in place */
	assert_string_equal(json_string_value(at(b, "classes.software.packages[0].name")), "bash");

	/* the site accepts a list in any order, hashed sorted, and stores it sorted;
	 * ties on name sort by arch, then version */
	json_array_clear(pk);
	json_array_append_new(pk, pkg("zlib1g", "1:1.2.13", "i386"));
	json_array_append_new(pk, pkg("zlib1g", "1:1.2.13", "amd64"));
	json_array_append_new(pk, pkg("libssl3", "3.0.9", "amd64"));
	json_array_append_new(pk, pkg("libssl3", "3.0.11", "amd64"));
	sealed(b);
	json_array_clear(pk);
	json_array_append_new(pk, pkg("libssl3", "3.0.9", "amd64"));
	json_array_append_new(pk, pkg("zlib1g", "1:1.2.13", "amd64"));
	json_array_append_new(pk, pkg("zlib1g", "1:1.2.13", "i386"));
	json_array_append_new(pk, pkg("libssl3", "3.0.11", "amd64"));
	s = text_of(b);
	assert_int_equal(proto_inventory_parse(s, strlen(s), NULL, &inv, &err), 0);
	free(s);
	pk = at(inv.doc, "classes.software.packages");
	assert_string_equal(json_string_value(at(pk, "[0].version")), "3.0.11");
	assert_string_equal(json_string_value(at(pk, "[1].version")), "3.0.9");
	assert_string_equal(json_string_value(at(pk, "[2].arch")), "amd64");
	assert_string_equal(json_string_value(at(pk, "[3].arch")), "i386");
	proto_inventory_free(&inv);
	json_decref(a);
	json_decref(b);
}

/* ---- parsing ------------------------------------------------------------- */

static void test_parse_valid(void **state)
{
	json_t *doc = sealed(sample());
	struct proto_inventory inv, again;
	struct steward_err err;
	char *text;

	(void)state;
	assert_int_equal(parse_doc(doc, NULL, &inv, &err), 0);
	assert_false(inv.delta);
	assert_int_equal(inv.classes, PROTO_INV_ALL);
	assert_string_equal(inv.base, "");
	assert_string_equal(inv.full_hash, json_string_value(at(doc, "full_hash")));
	assert_string_equal(inv.hashes[PROTO_INV_OS], json_string_value(at(doc, "hashes.os")));
	assert_string_equal(json_string_value(at(inv.doc, "classes.os.name")), "Debian GNU/Linux");
	/* the stored text parses to the same hashes */
	text = proto_inventory_text_new(&inv);
	assert_non_null(text);
	assert_int_equal(proto_inventory_parse(text, strlen(text), NULL, &again, &err), 0);
	assert_string_equal(again.full_hash, inv.full_hash);
	free(text);
	proto_inventory_free(&again);
	proto_inventory_free(&inv);
	proto_inventory_free(&inv); /* twice is harmless */
	proto_inventory_free(NULL);
	assert_null(proto_inventory_text_new(&inv));
	json_decref(doc);

	/* empty lists and strings where they are allowed; non-ASCII text */
	doc = sample();
	set(doc, "classes.hardware.disks", json_array());
	set(doc, "classes.hardware.network[0].addresses", json_array());
	set(doc, "classes.hardware.network[0].mac", json_string(""));
	set(doc, "classes.software.packages", json_array());
	set(doc, "classes.os.version", json_string(""));
	set(doc, "classes.hardware.dmi.vendor", json_string("Soci\xc3\xa9t\xc3\xa9 \xe2\x98\x83"));
	set(doc, "classes.hardware.network[0].mac",
	    json_string("80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:bc:de"));
	accepted(sealed(doc), NULL);
	/* whitespace around the document is fine */
	doc = sealed(sample());
	text = text_of(doc);
	{
		size_t n = strlen(text);
		char *padded = malloc(n + 3);
		assert_non_null(padded);
		padded[0] = '\n';
		memcpy(padded + 1, text, n);
		padded[n + 1] = ' ';
		assert_int_equal(proto_inventory_parse(padded, n + 2, NULL, &inv, &err), 0);
		proto_inventory_free(&inv);
		free(padded);
	}
	free(text);
	json_decref(doc);
}

static void test_parse_wrong_types(void **state)
{
	static const struct {
		const char *path; /* set to the value below */
		const char *json; /* NULL: delete the field */
	} cases[] = {
	    {"classes.software.packages[1].version", "12"},
	    {"classes.software.packages[1].name", "\"\""},
	    {"classes.software.packages[2].source", "\"apt\""},
	    {"classes.software.packages[0].arch", "null"},
	    {"classes.software.packages[2]", "\"openssl\""},
	    {"classes.software.packages[0].extra", "1"},
	    {"classes.software.steward[0].version", NULL},
	    {"classes.software.packages", "{}"},
	    {"classes.software", "[]"},
	    {"classes.hardware.cpu.threads", "\"4\""},
	    {"classes.hardware.cpu.cores", "-1"},
	    {"classes.hardware.cpu.sockets", "1.0"},
	    {"classes.hardware.cpu.model", "true"},
	    {"classes.hardware.cpu", "\"AMD\""},
	    {"classes.hardware.memory.total_mb", "17592186044417"},
	    {"classes.hardware.memory.total_mb", NULL},
	    {"classes.hardware.disks[0].mount", "\"\""},
	    {"classes.hardware.disks[0].free_mb", "\"x\""},
	    {"classes.hardware.disks[0]", "[]"},
	    {"classes.hardware.network[0].mac", "\"52:54:00:12:34:5\""},
	    {"classes.hardware.network[0].mac", "\"52-54-00-12-34-56\""},
	    {"classes.hardware.network[0].addresses[1]", "\"not-an-ip\""},
	    {"classes.hardware.network[0].addresses[0]", "\"10.1.2.3/24\""},
	    {"classes.hardware.network[0].addresses[0]", "7"},
	    {"classes.hardware.network[0].addresses", "\"10.1.2.3\""},
	    {"classes.hardware.dmi.serial", "\"a\\tb\""},
	    {"classes.hardware.dmi.product", "\"a\\u007fb\""},
	    {"classes.hardware.virtualization", "[]"},
	    {"classes.os.boot_time", "-5"},
	    {"classes.os.boot_time", "253402300800"},
	    {"classes.os.timezone", NULL},
	    {"classes.os.pretty_name", "{}"},
	    {"classes.os", NULL},
	    {"classes.printers", "{}"},
	    {"classes", "[]"},
	    {"colour", "\"blue\""},
	    {"schema", "\"1\""},
	    {"schema", "0"},
	    {"schema", NULL},
	    {"base", "\"abc\""},
	    {"hashes", NULL},
	    {"hashes.os", NULL},
	    {"full_hash", "\"" H_BRACES "0\""},
	    {"full_hash", "\"C09DA522DAC261C3D2566230BED10D2F3EF13F8E7654576C12E857E07F786098\""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *doc = sample(), *v = NULL;
		char path[128];
		const char *name;

		if (cases[i].json) {
			v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
			assert_non_null(v);
		}
		sealed(doc);
		/* hashes and full_hash are set by seal: change them after it */
		set(doc, cases[i].path, v);
		/* the refusal names the path; a deleted whole class or an unknown
		 * key is named by the path too */
		snprintf(path, sizeof(path), "%s", cases[i].path);
		name = path;
		print_message("case %zu: %s\n", i, name);
		refused_field(doc, name);
	}
	/* schema 2 is a newer document, not a broken one */
	{
		json_t *doc = sealed(sample());
		set(doc, "schema", json_integer(2));
		refused(doc, NULL, -STEWARD_EVERSION, "version_incompatible", "schema 2", NULL);
	}
	/* not JSON, not an object, duplicate keys */
	{
		static const char *const bodies[] = {"", "{", "[]", "null",
						     "{\"schema\":1,\"schema\":1}"};
		for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
			struct proto_inventory inv;
			struct steward_err err;
			assert_int_equal(
			    proto_inventory_parse(bodies[i], strlen(bodies[i]), NULL, &inv, &err),
			    -STEWARD_EINVAL);
			assert_string_equal(err.code, "bad_request");
		}
	}
	/* an unknown key with an unprintable name is not echoed */
	refused(with("classes.hardware.cpu.\x01x", json_integer(1)), NULL, -STEWARD_EINVAL,
		"bad_request", "classes.hardware.cpu.(unprintable name)", NULL);
}

/* ---- caps --------------------------------------------------------------- */

static json_t *with_packages(size_t n)
{
	json_t *doc = sample(), *arr = json_array();
	char name[32];

	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "p%06zu", i);
		json_array_append_new(arr, pkg(name, "1.0-1", "amd64"));
	}
	set(doc, "classes.software.packages", arr);
	return sealed(doc);
}

static json_t *with_list(const char *path, size_t n, json_t *(*make)(size_t i))
{
	json_t *doc = sample(), *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, make(i));
	set(doc, path, arr);
	return sealed(doc);
}

static json_t *make_disk(size_t i)
{
	char m[32];

	snprintf(m, sizeof(m), "/mnt/d%zu", i);
	return json_pack("{s:s,s:s,s:s,s:i,s:i}", "device", "/dev/sdb1", "mount", m, "fs", "xfs",
			 "size_mb", 10, "free_mb", 5);
}

static json_t *make_iface(size_t i)
{
	char n[32];

	snprintf(n, sizeof(n), "veth%zu", i);
	return json_pack("{s:s,s:s,s:[]}", "name", n, "mac", "", "addresses");
}

static json_t *make_addr(size_t i)
{
	char a[32];

	snprintf(a, sizeof(a), "10.0.%zu.%zu", i / 250, i % 250 + 1);
	return json_string(a);
}

static json_t *make_component(size_t i)
{
	char n[32];

	snprintf(n, sizeof(n), "c%zu", i);
	return json_pack("{s:s,s:s}", "name", n, "version", "1.0.0");
}

static json_t *str_of_len(size_t n, const char *unit)
{
	size_t ul = strlen(unit);
	char *s = malloc(n + 1);
	json_t *v;

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = unit[i % ul];
	s[n] = '\0';
	v = json_string(s);
	free(s);
	assert_non_null(v);
	return v;
}

static void cap_refused(json_t *doc, const char *path, const char *cap, const char *count)
{
	char needle[128];

	snprintf(needle, sizeof(needle), "field '%s' has %s", path, count);
	refused(doc, NULL, -STEWARD_ETOOBIG, "inventory_too_large", needle, cap);
}

static void test_caps_lists(void **state)
{
	(void)state;
	accepted(with_packages(PROTO_INVENTORY_PACKAGES_MAX), NULL);
	cap_refused(with_packages(PROTO_INVENTORY_PACKAGES_MAX + 1), "classes.software.packages",
		    "the cap packages is 20000", "20001 entries");

	accepted(with_list("classes.hardware.disks", PROTO_INVENTORY_DISKS_MAX, make_disk), NULL);
	cap_refused(with_list("classes.hardware.disks", PROTO_INVENTORY_DISKS_MAX + 1, make_disk),
		    "classes.hardware.disks", "the cap disks is 256", "257 entries");

	accepted(with_list("classes.hardware.network", PROTO_INVENTORY_NETWORK_MAX, make_iface),
		 NULL);
	cap_refused(
	    with_list("classes.hardware.network", PROTO_INVENTORY_NETWORK_MAX + 1, make_iface),
	    "classes.hardware.network", "the cap network is 128", "129 entries");

	accepted(with_list("classes.hardware.network[0].addresses", PROTO_INVENTORY_ADDRESSES_MAX,
			   make_addr),
		 NULL);
	cap_refused(with_list("classes.hardware.network[0].addresses",
			      PROTO_INVENTORY_ADDRESSES_MAX + 1, make_addr),
		    "classes.hardware.network[0].addresses", "the cap addresses is 32",
		    "33 entries");

	accepted(with_list("classes.software.steward", PROTO_INVENTORY_STEWARD_MAX, make_component),
		 NULL);
	cap_refused(
	    with_list("classes.software.steward", PROTO_INVENTORY_STEWARD_MAX + 1, make_component),
	    "classes.software.steward", "the cap steward is 64", "65 entries");
}

static void test_caps_strings(void **state)
{
	(void)state;
	accepted(with("classes.hardware.dmi.vendor", str_of_len(256, "v")), NULL);
	cap_refused(with("classes.hardware.dmi.vendor", str_of_len(257, "v")),
		    "classes.hardware.dmi.vendor", "the cap string_bytes is 256", "257 bytes");
	/* bytes, not characters: 128 two-byte characters fit, 129 do not */
	accepted(with("classes.os.pretty_name", str_of_len(256, "\xc3\xa9")), NULL);
	cap_refused(with("classes.os.pretty_name", str_of_len(258, "\xc3\xa9")),
		    "classes.os.pretty_name", "the cap string_bytes is 256", "258 bytes");
	/* strings inside lists too */
	accepted(with("classes.software.packages[1].version", str_of_len(256, "1")), NULL);
	cap_refused(with("classes.software.packages[1].version", str_of_len(257, "1")),
		    "classes.software.packages[1].version", "string_bytes", "257 bytes");
}

static void test_caps_total(void **state)
{
	json_t *doc = sealed(sample());
	char *text = text_of(doc), *body;
	size_t n = strlen(text), total = PROTO_INVENTORY_TOTAL_MAX;
	struct proto_inventory inv;
	struct steward_err err;

	(void)state;
	/* the document padded with blanks to exactly the cap, then one over */
	body = malloc(total + 1);
	assert_non_null(body);
	memcpy(body, text, n);
	memset(body + n, ' ', total + 1 - n);
	assert_int_equal(proto_inventory_parse(body, total, NULL, &inv, &err), 0);
	proto_inventory_free(&inv);
	assert_int_equal(proto_inventory_parse(body, total + 1, NULL, &inv, &err),
			 -STEWARD_ETOOBIG);
	assert_string_equal(err.code, "inventory_too_large");
	assert_contains(err.message, "8388609 bytes");
	assert_contains(err.message, "the cap total_bytes is 8388608");
	assert_null(inv.doc);
	free(body);
	free(text);
	json_decref(doc);
}

static void test_caps_custom(void **state)
{
	struct proto_inventory_caps caps;

	(void)state;
	proto_inventory_caps_default(&caps);
	assert_int_equal(caps.packages, 20000);
	assert_int_equal(caps.total_bytes, 8 * 1024 * 1024);
	caps.packages = 3;
	accepted(sealed(sample()), &caps);
	caps.packages = 2;
	refused(sealed(sample()), &caps, -STEWARD_ETOOBIG, "inventory_too_large",
		"the cap packages is 2", "3 entries");
	proto_inventory_caps_default(&caps);
	caps.string_bytes = 8;
	refused(sealed(sample()), &caps, -STEWARD_ETOOBIG, "inventory_too_large",
		"field 'classes.hardware.network[0].mac' has 17 bytes", "string_bytes is 8");
	proto_inventory_caps_default(&caps);
	caps.total_bytes = 100;
	refused(sealed(sample()), &caps, -STEWARD_ETOOBIG, "inventory_too_large",
		"the cap total_bytes is 100", NULL);
}

/* ---- hash mismatches ------------------------------------------------------ */

static void test_hash_mismatch(void **state)
{
	json_t *doc;

	(void)state;
	/* a class changed after sealing */
	doc = sealed(sample());
	set(doc, "classes.software.packages[0].version", json_string("5.2.15-2+b3"));
	refused(doc, NULL, -STEWARD_EINVAL, "inventory_hash_mismatch", "classes.software", NULL);
	doc = sealed(sample());
	set(doc, "classes.hardware.memory.total_mb", json_integer(16001));
	refused(doc, NULL, -STEWARD_EINVAL, "inventory_hash_mismatch", "classes.hardware", NULL);
	/* a class hash changed: the class no longer matches it */
	doc = sealed(sample());
	set(doc, "hashes.os", json_string(H_BRACES));
	refused(doc, NULL, -STEWARD_EINVAL, "inventory_hash_mismatch", "classes.os", H_BRACES);
	/* the full hash changed */
	doc = sealed(sample());
	set(doc, "full_hash", json_string(H_BRACES));
	refused(doc, NULL, -STEWARD_EINVAL, "inventory_hash_mismatch", "the full hash", H_BRACES);
}

/* ---- deltas --------------------------------------------------------------- */

/* b = a with one package upgraded */
static void two_docs(json_t **a, json_t **b)
{
	*a = sealed(sample());
	*b = sample();
	set(*b, "classes.software.packages[2].version", json_string("3.0.13-1~deb12u1"));
	sealed(*b);
}

static void parse_json(json_t *doc, struct proto_inventory *out)
{
	struct steward_err err;

	if (parse_doc(doc, NULL, out, &err) != 0)
		fail_msg("refused (%s): %s", err.code, err.message);
}

static void test_delta_build(void **state)
{
	json_t *a, *b, *d;

	(void)state;
	two_docs(&a, &b);
	d = agent_inventory_delta(a, b);
	assert_non_null(d);
	assert_string_equal(json_string_value(at(d, "base")),
			    json_string_value(at(a, "full_hash")));
	assert_string_equal(json_string_value(at(d, "full_hash")),
			    json_string_value(at(b, "full_hash")));
	assert_int_equal(json_object_size(at(d, "classes")), 1);
	assert_non_null(json_object_get(at(d, "classes"), "software"));
	assert_int_equal(json_object_size(at(d, "hashes")), 3);
	json_decref(d);
	/* nothing changed: an empty delta */
	d = agent_inventory_delta(a, a);
	assert_non_null(d);
	assert_int_equal(json_object_size(at(d, "classes")), 0);
	json_decref(d);
	/* no previous document: the full one */
	d = agent_inventory_delta(NULL, b);
	assert_non_null(d);
	assert_null(json_object_get(d, "base"));
	assert_true(json_equal(d, b));
	json_decref(d);
	/* an unsealed current document is refused */
	d = sample();
	assert_null(agent_inventory_delta(a, d));
	json_decref(d);
	json_decref(a);
	json_decref(b);
}

static void test_delta_apply(void **state)
{
	struct proto_inventory pa, pd, merged, pb;
	struct steward_err err;
	json_t *a, *b, *d;
	char *stored, *got, *want;

	(void)state;
	two_docs(&a, &b);
	parse_json(a, &pa);
	stored = proto_inventory_text_new(&pa);
	d = agent_inventory_delta(a, b);
	parse_json(d, &pd);
	assert_true(pd.delta);
	assert_int_equal(pd.classes, 1u << PROTO_INV_SOFTWARE);
	assert_string_equal(pd.base, pa.full_hash);

	memset(&err, 0, sizeof(err));
	assert_int_equal(proto_inventory_apply_delta(stored, strlen(stored), pa.full_hash, &pd,
						     NULL, &merged, &err),
			 0);
	assert_false(merged.delta);
	assert_int_equal(merged.classes, PROTO_INV_ALL);
	assert_string_equal(merged.full_hash, json_string_value(at(b, "full_hash")));
	assert_string_equal(
	    json_string_value(at(merged.doc, "classes.software.packages[2].version")),
	    "3.0.13-1~deb12u1");
	/* exactly what a full report of b would have stored */
	parse_json(b, &pb);
	got = proto_inventory_text_new(&merged);
	want = proto_inventory_text_new(&pb);
	assert_string_equal(got, want);
	free(got);
	free(want);
	proto_inventory_free(&merged);
	proto_inventory_free(&pb);

	/* an empty delta gives the stored document back */
	json_decref(d);
	proto_inventory_free(&pd);
	d = agent_inventory_delta(a, a);
	parse_json(d, &pd);
	assert_int_equal(pd.classes, 0);
	assert_int_equal(proto_inventory_apply_delta(stored, strlen(stored), pa.full_hash, &pd,
						     NULL, &merged, &err),
			 0);
	assert_string_equal(merged.full_hash, pa.full_hash);
	proto_inventory_free(&merged);

	/* a full document is not a delta */
	assert_int_equal(proto_inventory_apply_delta(stored, strlen(stored), pa.full_hash, &pa,
						     NULL, &merged, &err),
			 -STEWARD_EINVAL);
	assert_string_equal(err.code, "bad_request");
	assert_null(merged.doc);

	free(stored);
	proto_inventory_free(&pa);
	proto_inventory_free(&pd);
	json_decref(a);
	json_decref(b);
	json_decref(d);
}

static void test_delta_resync(void **state)
{
	struct proto_inventory pa, pd, merged;
	struct steward_err err;
	json_t *a, *b, *c, *d;
	char *stored;

	(void)state;
	two_docs(&a, &b);
	parse_json(a, &pa);
	stored = proto_inventory_text_new(&pa);
	/* a delta from b to c, offered to a site that holds a */
	c = sample();
	set(c, "classes.os.kernel_release", json_string("6.1.0-20-amd64"));
	sealed(c);
	d = agent_inventory_delta(b, c);
	parse_json(d, &pd);
	assert_int_equal(pd.classes, (1u << PROTO_INV_OS) | (1u << PROTO_INV_SOFTWARE));
	memset(&err, 0, sizeof(err));
	assert_int_equal(proto_inventory_apply_delta(stored, strlen(stored), pa.full_hash, &pd,
						     NULL, &merged, &err),
			 -STEWARD_ENOTFOUND);
	assert_string_equal(err.code, "inventory_resync");
	assert_contains(err.message, pd.base);
	assert_null(merged.doc);
	/* a site holding nothing */
	assert_int_equal(proto_inventory_apply_delta(NULL, 0, NULL, &pd, NULL, &merged, &err),
			 -STEWARD_ENOTFOUND);
	assert_string_equal(err.code, "inventory_resync");
	json_decref(d);
	proto_inventory_free(&pd);

	/* the base matches but the stored text is damaged: resync, not a bad merge */
	d = agent_inventory_delta(a, b);
	parse_json(d, &pd);
	stored[strlen(stored) / 2] ^= 1;
	assert_int_equal(proto_inventory_apply_delta(stored, strlen(stored), pa.full_hash, &pd,
						     NULL, &merged, &err),
			 -STEWARD_ENOTFOUND);
	assert_string_equal(err.code, "inventory_resync");
	stored[strlen(stored) / 2] ^= 1;
	proto_inventory_free(&pd);
	/* the stored text is a's but recorded under c's hash, the delta's base */
	json_decref(d);
	d = agent_inventory_delta(c, b);
	parse_json(d, &pd);
	assert_int_equal(
	    proto_inventory_apply_delta(stored, strlen(stored), pd.base, &pd, NULL, &merged, &err),
	    -STEWARD_ENOTFOUND);
	assert_string_equal(err.code, "inventory_resync");
	assert_contains(err.message, "not the full document");
	proto_inventory_free(&pd);

	/* the delta claims a hardware hash the stored hardware does not have */
	json_decref(d);
	d = agent_inventory_delta(a, b);
	set(d, "hashes.hardware", json_string(H_BRACES));
	{
		char h[PROTO_INV_NCLASSES][PROTO_INVENTORY_HEX + 1], full[PROTO_INVENTORY_HEX + 1];
		for (int k = 0; k < PROTO_INV_NCLASSES; k++)
			snprintf(h[k], sizeof(h[k]), "%s",
				 json_string_value(at(d, k == 0	  ? "hashes.hardware"
							 : k == 1 ? "hashes.os"
								  : "hashes.software")));
		assert_int_equal(proto_inventory_full_hash(h, full), 0);
		set(d, "full_hash", json_string(full));
		/* and base stays a's, so the site finds its base */
	}
	parse_json(d, &pd);
	assert_int_equal(proto_inventory_apply_delta(stored, strlen(stored), pa.full_hash, &pd,
						     NULL, &merged, &err),
			 -STEWARD_EINVAL);
	assert_string_equal(err.code, "inventory_hash_mismatch");
	assert_contains(err.message, "hardware");
	proto_inventory_free(&pd);

	free(stored);
	proto_inventory_free(&pa);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(d);
}

static void test_delta_over_cap(void **state)
{
	struct proto_inventory_caps caps;
	struct proto_inventory pa, pd, merged;
	struct steward_err err;
	json_t *a = sealed(sample()), *b = with_packages(50), *d;
	char *stored;

	(void)state;
	proto_inventory_caps_default(&caps);
	parse_json(a, &pa);
	stored = proto_inventory_text_new(&pa);
	d = agent_inventory_delta(a, b);
	parse_json(d, &pd);
	/* each part is within the total, the merged document is not */
	caps.total_bytes = strlen(stored) + 1500;
	assert_int_equal(proto_inventory_apply_delta(stored, strlen(stored), pa.full_hash, &pd,
						     &caps, &merged, &err),
			 -STEWARD_ETOOBIG);
	assert_string_equal(err.code, "inventory_too_large");
	assert_contains(err.message, "total_bytes");
	free(stored);
	proto_inventory_free(&pa);
	proto_inventory_free(&pd);
	json_decref(a);
	json_decref(b);
	json_decref(d);
}

/* ---- the dpkg status parser ---------------------------------------------------- */

static json_t *dpkg(const char *text, size_t max, struct agent_dpkg_stats *st)
{
	json_t *arr = json_array();

	assert_int_equal(agent_dpkg_status_parse(text, strlen(text), max, arr, st), 0);
	return arr;
}

static void assert_pkg(json_t *arr, size_t i, const char *name, const char *version,
		       const char *arch)
{
	json_t *p = json_array_get(arr, i);

	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "name")), name);
	assert_string_equal(json_string_value(json_object_get(p, "version")), version);
	assert_string_equal(json_string_value(json_object_get(p, "arch")), arch);
	assert_string_equal(json_string_value(json_object_get(p, "source")), "dpkg");
}

static void test_dpkg_stanzas(void **state)
{
	static const char text[] = "Package: bash\n"
				   "Essential: yes\n"
				   "Status: install ok installed\n"
				   "Priority: required\n"
				   "Architecture: amd64\n"
				   "Version: 5.2.15-2+b2\n"
				   "Description: GNU Bourne Again SHell\n"
				   " Package: evil\n"
				   " Version: 6.6.6\n"
				   " .\n"
				   "\tStatus: install ok installed\n"
				   "Conffiles:\n"
				   " /etc/bash.bashrc 89269e1298235f1b12b4c16e4065ad0d\n"
				   "\n"
				   "Package: removed\n"
				   "Status: deinstall ok config-files\n"
				   "Architecture: amd64\n"
				   "Version: 1.0\n"
				   "\n\n\n"
				   "Package: nover\n"
				   "Status: install ok installed\n"
				   "Architecture: all\n"
				   "\n"
				   "Package: held\r\n"
				   "Status: hold ok installed\r\n"
				   "Architecture: all\r\n"
				   "Version: 1:2.3~rc1-4\r\n"
				   "\r\n"
				   "Package: half\n"
				   "Status: install reinstreq half-installed\n"
				   "Version: 1\n"
				   "  \t \n"
				   "package:   lower  \n"
				   "STATUS: install ok installed\n"
				   "version:1.0\n"
				   "Package: second-name-ignored\n"
				   "\n"
				   "Status: install ok installed\n"
				   "Version: 1\n"
				   "\n"
				   "Package: last\n"
				   "Version: 9\n"
				   "Status:   install   ok   installed  \n"
				   "Architecture: arm64";
	struct agent_dpkg_stats st;
	json_t *arr;

	(void)state;
	arr = dpkg(text, 100, &st);
	assert_int_equal(json_array_size(arr), 4);
	assert_pkg(arr, 0, "bash", "5.2.15-2+b2", "amd64");
	assert_pkg(arr, 1, "held", "1:2.3~rc1-4", "all");
	assert_pkg(arr, 2, "lower", "1.0", "");
	assert_pkg(arr, 3, "last", "9", "arm64");
	assert_int_equal(st.installed, 4);
	assert_int_equal(st.not_installed, 2); /* removed, half */
	assert_int_equal(st.skipped, 2);       /* nover, the stanza without Package */
	assert_false(st.truncated);
	json_decref(arr);

	/* the cap: the first two, then only counted */
	arr = dpkg(text, 2, &st);
	assert_int_equal(json_array_size(arr), 2);
	assert_int_equal(st.installed, 2);
	assert_true(st.truncated);
	json_decref(arr);
}

static void test_dpkg_edges(void **state)
{
	struct agent_dpkg_stats st;
	json_t *arr;
	char *big;

	(void)state;
	/* empty input, blank lines only, no fields */
	arr = dpkg("", 10, &st);
	assert_int_equal(json_array_size(arr), 0);
	assert_int_equal(st.installed + st.not_installed + st.skipped, 0);
	json_decref(arr);
	arr = dpkg("\n\r\n \n\t\n", 10, &st);
	assert_int_equal(json_array_size(arr), 0);
	assert_int_equal(st.installed + st.not_installed + st.skipped, 0);
	json_decref(arr);
	arr = dpkg("garbage without a colon\n more\n", 10, &st);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	/* a stanza without Status is not installed */
	arr = dpkg("Package: a\nVersion: 1\n", 10, &st);
	assert_int_equal(json_array_size(arr), 0);
	assert_int_equal(st.not_installed, 1);
	json_decref(arr);
	/* Status words must be exact: not-installed, four words, "okay" */
	arr = dpkg("Package: a\nVersion: 1\nStatus: install ok not-installed\n\n"
		   "Package: b\nVersion: 1\nStatus: install ok installed extra\n\n"
		   "Package: c\nVersion: 1\nStatus: install okay installed\n\n"
		   "Package: d\nVersion: 1\nStatus: ok installed\n",
		   10, &st);
	assert_int_equal(json_array_size(arr), 0);
	assert_int_equal(st.not_installed, 4);
	json_decref(arr);
	/* unusable values are skipped, not reported wrong */
	big = malloc(400);
	assert_non_null(big);
	snprintf(big, 400, "Package: long\nStatus: install ok installed\nVersion: %0300d\n", 1);
	arr = dpkg(big, 10, &st);
	assert_int_equal(json_array_size(arr), 0);
	assert_int_equal(st.skipped, 1);
	json_decref(arr);
	free(big);
	arr = dpkg("Package: bad\xff\nStatus: install ok installed\nVersion: 1\n\n"
		   "Package: sp ace\nStatus: install ok installed\nVersion: 1\n\n"
		   "Package: empty\nStatus: install ok installed\nVersion:\n\n"
		   "Package: ok\nStatus: install ok installed\nVersion: 1\nArchitecture: x\x01y\n",
		   10, &st);
	assert_int_equal(json_array_size(arr), 0);
	assert_int_equal(st.skipped, 4);
	json_decref(arr);
	/* a NUL byte inside the buffer is just a byte */
	{
		static const char nul[] =
		    "Package: a\0b\nStatus: install ok installed\nVersion: 1\n\n"
		    "Package: c\nStatus: install ok installed\nVersion: 2\n";
		arr = json_array();
		assert_int_equal(agent_dpkg_status_parse(nul, sizeof(nul) - 1, 10, arr, &st), 0);
		assert_int_equal(json_array_size(arr), 1);
		assert_pkg(arr, 0, "c", "2", "");
		json_decref(arr);
	}
	/* not an array */
	arr = json_object();
	assert_int_equal(agent_dpkg_status_parse("", 0, 10, arr, &st), -STEWARD_EINVAL);
	json_decref(arr);
	/* the site accepts what the parser gives */
	{
		json_t *doc = sample();
		arr =
		    dpkg("Package: x\nStatus: install ok installed\nVersion: 1.0+dfsg-1~bpo12+1\n",
			 10, &st);
		set(doc, "classes.software.packages", arr);
		accepted(sealed(doc), NULL);
	}
}

/* ---- collecting on this machine --------------------------------------------------- */

static void test_collect_here(void **state)
{
	struct proto_inventory inv;
	struct steward_err err;
	json_t *doc = NULL, *again = NULL, *d;
	char *text;

	(void)state;
	memset(&err, 0, sizeof(err));
	assert_int_equal(agent_inventory_collect(NULL, &doc, &err), 0);
	assert_non_null(doc);
	print_message("threads=%lld memory=%lld packages=%zu disks=%zu network=%zu os=%s virt=%s\n",
		      (long long)json_integer_value(at(doc, "classes.hardware.cpu.threads")),
		      (long long)json_integer_value(at(doc, "classes.hardware.memory.total_mb")),
		      json_array_size(at(doc, "classes.software.packages")),
		      json_array_size(at(doc, "classes.hardware.disks")),
		      json_array_size(at(doc, "classes.hardware.network")),
		      json_string_value(at(doc, "classes.os.pretty_name")),
		      json_string_value(at(doc, "classes.hardware.virtualization")));
	assert_true(json_array_size(at(doc, "classes.software.packages")) > 0);
	assert_true(json_integer_value(at(doc, "classes.hardware.memory.total_mb")) > 0);
	assert_true(json_integer_value(at(doc, "classes.hardware.cpu.threads")) > 0);
	assert_true(json_integer_value(at(doc, "classes.hardware.cpu.cores")) > 0);
	assert_true(json_integer_value(at(doc, "classes.hardware.cpu.sockets")) > 0);
	assert_true(json_integer_value(at(doc, "classes.hardware.cpu.cores")) <=
		    json_integer_value(at(doc, "classes.hardware.cpu.threads")));
	assert_true(json_string_length(at(doc, "classes.os.name")) > 0);
	assert_true(json_string_length(at(doc, "classes.os.kernel_release")) > 0);
	assert_true(json_integer_value(at(doc, "classes.os.boot_time")) > 0);
	assert_true(json_string_length(at(doc, "classes.hardware.virtualization")) > 0);
	assert_string_equal(json_string_value(at(doc, "classes.software.steward[0].name")), "base");

	/* the site accepts it with its default caps */
	text = text_of(doc);
	memset(&err, 0, sizeof(err));
	if (proto_inventory_parse(text, strlen(text), NULL, &inv, &err) != 0)
		fail_msg("the collected inventory is refused (%s): %s", err.code, err.message);
	assert_string_equal(inv.full_hash, json_string_value(at(doc, "full_hash")));
	proto_inventory_free(&inv);
	free(text);

	/* collected twice, the software class is the same: its delta is empty or
	 * carries only what moves (free space, addresses) */
	assert_int_equal(agent_inventory_collect(NULL, &again, &err), 0);
	d = agent_inventory_delta(doc, again);
	assert_non_null(d);
	assert_null(json_object_get(at(d, "classes"), "software"));
	json_decref(d);
	json_decref(again);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_vectors),   cmocka_unit_test(test_hash_package_order),
	    cmocka_unit_test(test_parse_valid),	   cmocka_unit_test(test_parse_wrong_types),
	    cmocka_unit_test(test_caps_lists),	   cmocka_unit_test(test_caps_strings),
	    cmocka_unit_test(test_caps_total),	   cmocka_unit_test(test_caps_custom),
	    cmocka_unit_test(test_hash_mismatch),  cmocka_unit_test(test_delta_build),
	    cmocka_unit_test(test_delta_apply),	   cmocka_unit_test(test_delta_resync),
	    cmocka_unit_test(test_delta_over_cap), cmocka_unit_test(test_dpkg_stanzas),
	    cmocka_unit_test(test_dpkg_edges),	   cmocka_unit_test(test_collect_here),
	};

	if (proto_init() != 0)
		return 1;
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* fuzz_rpm_header: the agent's parser of one rpm header blob as
 * rpmdb.sqlite stores it (agent_rpm_header_parse; agent/inventory_rpm.c is
 * compiled in).
 *
 * Properties checked on every input:
 *   - the result is 0, AGENT_RPM_PUBKEY or -STEWARD_EINVAL, and *pkg is set
 *     exactly when it is 0;
 *   - anything not refused has a consistent frame: len is 8 + 16*il + dl,
 *     il within 1..0x10000 and dl within 256 MiB (read here independently);
 *   - a package has exactly name, version, arch and source "rpm"; name and
 *     version non-empty, all printable ASCII without spaces within the
 *     string cap; name is not gpg-pubkey and is the first NAME entry's string
 *     (found here independently); and a document carrying it is accepted
 *     by the site's parser;
 *   - the same input with dl rewritten to fit its length is parsed too, so
 *     mutations behind the frame check are fuzzed, not only the check.
 */
#include "fuzz.h"

#include "steward/inventory.h"
#include "../../agent/inventory.h"

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int clean(const char *s, int may_be_empty)
{
	size_t n = strlen(s);

	if ((!may_be_empty && n == 0) || n > PROTO_INVENTORY_STRING_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* The first NAME (1000) entry's string, or NULL. */
static const char *first_name(const uint8_t *data, size_t size)
{
	uint32_t il = rd32(data), dl = rd32(data + 4);
	const uint8_t *store = data + 8 + 16 * (size_t)il;

	for (uint32_t i = 0; i < il; i++) {
		const uint8_t *e = data + 8 + 16 * (size_t)i;
		if (rd32(e) == 1000) {
			uint32_t off = rd32(e + 8);
			if (off >= dl || !memchr(store + off, '\0', dl - off))
				return NULL;
			return (const char *)store + off;
		}
	}
	return NULL;
}

/* A minimal valid full document around one package. */
static void check_site_accepts(json_t *pkg)
{
	struct proto_inventory inv;
	struct steward_err err;
	json_t *doc;
	char *text;

	doc = json_pack("{s:i,s:{s:{s:{s:s,s:i,s:i,s:i},s:{s:i},s:[],s:[],s:{s:s,s:s,s:s},s:s},"
			"s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s},s:{s:[O],s:[]}}}",
			"schema", 1, "classes", "hardware", "cpu", "model", "", "sockets", 1,
			"cores", 1, "threads", 1, "memory", "total_mb", 1, "disks", "network",
			"dmi", "vendor", "", "product", "", "serial", "", "virtualization", "none",
			"os", "id", "linux", "name", "Linux", "version_id", "", "version", "",
			"pretty_name", "Linux", "kernel_release", "", "arch", "", "boot_time", 0,
			"timezone", "", "software", "packages", pkg, "steward");
	FUZZ_CHECK(doc != NULL);
	FUZZ_CHECK(proto_inventory_seal(doc, NULL) == 0);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	FUZZ_CHECK(text != NULL);
	if (proto_inventory_parse(text, strlen(text), NULL, &inv, &err) != 0) {
		fprintf(stderr, "rpm package refused: %s: %s\n", err.code, err.message);
		FUZZ_CHECK(!"the site refuses a package the agent's rpm parser reports");
	}
	proto_inventory_free(&inv);
	free(text);
}

static void check_one(const uint8_t *data, size_t size)
{
	json_t *pkg = (json_t *)1;
	const char *name, *version, *arch, *source, *first;
	uint32_t il, dl;
	int rc;

	rc = agent_rpm_header_parse(data, size, &pkg);
	FUZZ_CHECK(rc == 0 || rc == AGENT_RPM_PUBKEY || rc == -STEWARD_EINVAL);
	FUZZ_CHECK(rc == 0 ? pkg != NULL : pkg == NULL);
	if (rc == -STEWARD_EINVAL)
		return;

	FUZZ_CHECK(size >= 8);
	il = rd32(data);
	dl = rd32(data + 4);
	FUZZ_CHECK(il >= 1 && il <= 0x10000 && dl <= 256u * 1024 * 1024);
	FUZZ_CHECK(size == 8 + 16 * (size_t)il + dl);
	first = first_name(data, size);
	FUZZ_CHECK(first != NULL);
	if (rc == AGENT_RPM_PUBKEY) {
		FUZZ_CHECK(strcmp(first, "gpg-pubkey") == 0);
		return;
	}

	FUZZ_CHECK(json_is_object(pkg) && json_object_size(pkg) == 4);
	name = json_string_value(json_object_get(pkg, "name"));
	version = json_string_value(json_object_get(pkg, "version"));
	arch = json_string_value(json_object_get(pkg, "arch"));
	source = json_string_value(json_object_get(pkg, "source"));
	FUZZ_CHECK(name && version && arch && source);
	FUZZ_CHECK(clean(name, 0) && clean(version, 0) && clean(arch, 1));
	FUZZ_CHECK(strcmp(source, "rpm") == 0);
	FUZZ_CHECK(strcmp(name, "gpg-pubkey") != 0);
	FUZZ_CHECK(strcmp(name, first) == 0);
	check_site_accepts(pkg);
	json_decref(pkg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	uint32_t il;

	fuzz_init();
	check_one(data, size);

	/* the same header with dl made to fit: past the frame check */
	if (size < 8)
		return 0;
	il = rd32(data);
	if (il < 1 || il > 0x10000 || 8 + 16 * (size_t)il > size)
		return 0;
	copy = malloc(size);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	{
		size_t dl = size - 8 - 16 * (size_t)il;
		copy[4] = (uint8_t)(dl >> 24);
		copy[5] = (uint8_t)(dl >> 16);
		copy[6] = (uint8_t)(dl >> 8);
		copy[7] = (uint8_t)dl;
	}
	check_one(copy, size);
	free(copy);
	return 0;
}

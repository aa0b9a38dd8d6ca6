/* fuzz_deltas: what an agent reads from an upgrade offer's delta list and
 * the patches it downloads (lib/content/delta.c, with text.c and hash.c).
 *
 * The first byte chooses:
 *   even: the rest is a delta list (content_deltas_parse, no key required).
 *     A refusal is deltas_invalid with a message and a remedy and leaves
 *     the list empty; an accepted list is sorted and unique, its hashes
 *     valid, its patch sizes within the cap, and finds each of its entries.
 *   odd: the rest is a patch applied to a fixed 4 KiB base, with a target
 *     size taken from the next two bytes. It must never produce anything
 *     but exactly that size, and never a result whose hash differs from the
 *     one asked for (the hash of the base with its first byte changed, so
 *     that mutations of a seed patch made for it reach the accepting path).
 *
 * Seeds in corpus/deltas: a list signed by the test key, a patch made by
 * content_delta_make for the base below.
 */
#include "fuzz.h"

#include "steward/content.h"

#define BASE_LEN 4096

static uint8_t BASE[BASE_LEN], TARGET[BASE_LEN];
static char TARGET_HASH[CONTENT_HASH_HEX + 1];

static void init(void)
{
	static int done;

	fuzz_init();
	if (done)
		return;
	for (size_t i = 0; i < BASE_LEN; i++)
		BASE[i] = (uint8_t)((i * 2654435761u) >> 13);
	memcpy(TARGET, BASE, BASE_LEN);
	TARGET[0] ^= 0xff;
	content_hash_buf(TARGET, BASE_LEN, TARGET_HASH);
	done = 1;
}

static void list(const uint8_t *data, size_t size)
{
	static const struct content_deltas zero;
	struct content_deltas ds;
	struct steward_err err;
	int rc;

	memset(&ds, 0xa5, sizeof(ds));
	memset(&err, 0, sizeof(err));
	rc = content_deltas_parse((const char *)data, size, NULL, &ds, &err);
	if (rc) {
		FUZZ_CHECK(rc == -STEWARD_EINVAL || rc == -STEWARD_ENOMEM);
		FUZZ_CHECK(strcmp(err.code, "deltas_invalid") == 0 || rc == -STEWARD_ENOMEM);
		FUZZ_CHECK(err.message[0] != '\0');
		FUZZ_CHECK(memcmp(&ds, &zero, sizeof(ds)) == 0);
		return;
	}
	FUZZ_CHECK(ds.n <= CONTENT_DELTAS_ENTRIES_MAX);
	FUZZ_CHECK(content_hash_valid(ds.manifest));
	for (size_t i = 0; i < ds.n; i++) {
		const struct content_delta *d = &ds.d[i];

		FUZZ_CHECK(content_hash_valid(d->target) && content_hash_valid(d->base) &&
			   content_hash_valid(d->patch));
		FUZZ_CHECK(d->patch_size >= 1 && d->patch_size <= CONTENT_DELTA_FILE_MAX);
		FUZZ_CHECK(content_deltas_find(&ds, d->target, d->base) == d);
		if (i > 0) {
			int c = strcmp(ds.d[i - 1].target, d->target);

			FUZZ_CHECK(c < 0 || (c == 0 && strcmp(ds.d[i - 1].base, d->base) < 0));
		}
	}
	content_deltas_clear(&ds);
}

static void patch(const uint8_t *data, size_t size)
{
	struct steward_err err;
	void *out = (void *)1;
	uint64_t len;
	int rc;

	if (size < 2)
		return;
	len = (uint64_t)data[0] << 8 | data[1];
	if (len == 0)
		len = BASE_LEN;
	memset(&err, 0, sizeof(err));
	rc = content_delta_apply(BASE, BASE_LEN, data + 2, size - 2, len,
				 len == BASE_LEN ? TARGET_HASH : NULL, &out, &err);
	if (rc) {
		FUZZ_CHECK(out == NULL && err.code[0] != '\0' && err.message[0] != '\0');
		return;
	}
	FUZZ_CHECK(out != NULL);
	if (len == BASE_LEN)
		FUZZ_CHECK(memcmp(out, TARGET, BASE_LEN) == 0);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size < 1)
		return 0;
	if (data[0] & 1)
		patch(data + 1, size - 1);
	else
		list(data + 1, size - 1);
	return 0;
}

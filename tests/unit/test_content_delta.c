/* Unit tests for lib/content deltas (delta.c): a patch round trip on a
 * binary-like file with a small change; a patch applied to the wrong base
 * is refused by the hash of its result; truncated, garbage and oversized
 * patches are refused without growing memory past the stated file size;
 * the signed delta list round trips and refuses tampering and a foreign
 * key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "steward/content.h"

#define FILE_LEN (600u * 1024)

static struct proto_keypair KP, OTHER;
static uint8_t *BASE, *TARGET, *OTHER_BASE;
static char TARGET_HASH[CONTENT_HASH_HEX + 1];

/* Bytes that compress poorly on their own (like code), with one small
 * change between base and target: the patch must be far smaller than the
 * file. */
static int setup(void **state)
{
	uint8_t seed[crypto_sign_SEEDBYTES] = {1};

	(void)state;
	if (sodium_init() < 0)
		return -1;
	crypto_sign_seed_keypair(KP.pk, KP.sk, seed);
	seed[0] = 2;
	crypto_sign_seed_keypair(OTHER.pk, OTHER.sk, seed);
	BASE = malloc(FILE_LEN);
	TARGET = malloc(FILE_LEN);
	OTHER_BASE = malloc(FILE_LEN);
	if (!BASE || !TARGET || !OTHER_BASE)
		return -1;
	randombytes_buf_deterministic(BASE, FILE_LEN, (const uint8_t[32]){7});
	randombytes_buf_deterministic(OTHER_BASE, FILE_LEN, (const uint8_t[32]){8});
	memcpy(TARGET, BASE, FILE_LEN);
	memcpy(TARGET + 1000, "steward 1.1.0 says hello", 24);
	memmove(TARGET + 300000 + 16, TARGET + 300000, FILE_LEN - 300000 - 16);
	content_hash_buf(TARGET, FILE_LEN, TARGET_HASH);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(BASE);
	free(TARGET);
	free(OTHER_BASE);
	return 0;
}

static void make(void **patch, size_t *len)
{
	struct steward_err err = {.code = ""};

	assert_int_equal(content_delta_make(BASE, FILE_LEN, TARGET, FILE_LEN, patch, len, &err), 0);
}

static void test_round_trip(void **state)
{
	struct steward_err err = {.code = ""};
	void *patch, *out = NULL;
	size_t len;

	(void)state;
	make(&patch, &len);
	assert_true(len < FILE_LEN / 100);
	assert_int_equal(
	    content_delta_apply(BASE, FILE_LEN, patch, len, FILE_LEN, TARGET_HASH, &out, &err), 0);
	assert_memory_equal(out, TARGET, FILE_LEN);
	free(out);
	/* without a hash to check, the bytes are still the target's */
	assert_int_equal(
	    content_delta_apply(BASE, FILE_LEN, patch, len, FILE_LEN, NULL, &out, &err), 0);
	assert_memory_equal(out, TARGET, FILE_LEN);
	free(out);
	free(patch);
}

static void test_wrong_base(void **state)
{
	struct steward_err err = {.code = ""};
	void *patch, *out = (void *)1;
	size_t len;

	(void)state;
	make(&patch, &len);
	assert_int_not_equal(content_delta_apply(OTHER_BASE, FILE_LEN, patch, len, FILE_LEN,
						 TARGET_HASH, &out, &err),
			     0);
	assert_null(out);
	/* zstd's own checksum or the hash: either way refused */
	assert_true(strcmp(err.code, "delta_invalid") == 0 ||
		    strcmp(err.code, "delta_mismatch") == 0);
	/* a base one byte shorter (the file at that path was edited) */
	assert_int_not_equal(
	    content_delta_apply(BASE, FILE_LEN - 1, patch, len, FILE_LEN, TARGET_HASH, &out, &err),
	    0);
	assert_null(out);
	free(patch);
}

static void test_bad_patches(void **state)
{
	struct steward_err err = {.code = ""};
	uint8_t garbage[256];
	void *patch, *out = (void *)1;
	size_t len;

	(void)state;
	make(&patch, &len);
	/* truncated: every cut is refused */
	for (size_t cut = 0; cut < len; cut += len / 7 + 1) {
		assert_int_not_equal(content_delta_apply(BASE, FILE_LEN, patch, cut, FILE_LEN,
							 TARGET_HASH, &out, &err),
				     0);
		assert_null(out);
		assert_string_equal(err.code, "delta_invalid");
	}
	/* the last byte (the checksum's) missing */
	assert_int_not_equal(
	    content_delta_apply(BASE, FILE_LEN, patch, len - 1, FILE_LEN, NULL, &out, &err), 0);
	assert_string_equal(err.code, "delta_invalid");
	/* garbage */
	memset(garbage, 0x5a, sizeof(garbage));
	assert_int_not_equal(content_delta_apply(BASE, FILE_LEN, garbage, sizeof(garbage), FILE_LEN,
						 NULL, &out, &err),
			     0);
	assert_string_equal(err.code, "delta_invalid");
	/* a flipped byte in the middle */
	((uint8_t *)patch)[len / 2] ^= 0x40;
	assert_int_not_equal(
	    content_delta_apply(BASE, FILE_LEN, patch, len, FILE_LEN, TARGET_HASH, &out, &err), 0);
	assert_null(out);
	((uint8_t *)patch)[len / 2] ^= 0x40;
	/* the manifest's size is the cap: a patch that makes more (or less)
	 * is refused before anything is allocated for it */
	assert_int_not_equal(
	    content_delta_apply(BASE, FILE_LEN, patch, len, FILE_LEN - 1, NULL, &out, &err), 0);
	assert_string_equal(err.code, "delta_invalid");
	assert_int_not_equal(
	    content_delta_apply(BASE, FILE_LEN, patch, len, FILE_LEN + 1, NULL, &out, &err), 0);
	/* trailing bytes after the frame */
	{
		uint8_t *longer = malloc(len + 4);

		assert_non_null(longer);
		memcpy(longer, patch, len);
		memset(longer + len, 0, 4);
		assert_int_not_equal(content_delta_apply(BASE, FILE_LEN, longer, len + 4, FILE_LEN,
							 TARGET_HASH, &out, &err),
				     0);
		free(longer);
	}
	free(patch);
}

static void test_size_caps(void **state)
{
	struct steward_err err = {.code = ""};
	void *patch = (void *)1, *out = (void *)1;
	size_t len = 1;

	(void)state;
	/* the sizes are checked before the bytes are touched */
	assert_int_equal(content_delta_make(BASE, (size_t)CONTENT_DELTA_FILE_MAX + 1, TARGET,
					    FILE_LEN, &patch, &len, &err),
			 -STEWARD_ETOOBIG);
	assert_null(patch);
	assert_string_equal(err.code, "delta_too_big");
	assert_int_equal(content_delta_apply(BASE, FILE_LEN, TARGET, 16,
					     (uint64_t)CONTENT_DELTA_FILE_MAX + 1, NULL, &out,
					     &err),
			 -STEWARD_ETOOBIG);
	assert_null(out);
}

static void deltas_sample(struct content_deltas *ds)
{
	struct content_delta d;

	memset(ds, 0, sizeof(*ds));
	snprintf(ds->version, sizeof(ds->version), "1.1.0");
	snprintf(ds->previous, sizeof(ds->previous), "1.0.0");
	memset(ds->manifest, 'a', CONTENT_HASH_HEX);
	memset(&d, 0, sizeof(d));
	memset(d.target, 'c', CONTENT_HASH_HEX);
	memset(d.base, 'd', CONTENT_HASH_HEX);
	memset(d.patch, 'e', CONTENT_HASH_HEX);
	d.patch_size = 1234;
	assert_int_equal(content_deltas_add(ds, &d), 0);
	memset(d.target, 'b', CONTENT_HASH_HEX);
	d.patch_size = 99;
	assert_int_equal(content_deltas_add(ds, &d), 0);
}

static void test_deltas_list(void **state)
{
	struct steward_err err = {.code = ""};
	struct content_deltas ds, back;
	char *text, *bad;
	size_t len;
	const struct content_delta *d;

	(void)state;
	deltas_sample(&ds);
	assert_int_equal(content_deltas_build(&ds, &KP, &text, &len, &err), 0);
	assert_int_equal(content_deltas_parse(text, len, KP.pk, &back, &err), 0);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.version, "1.1.0");
	assert_string_equal(back.previous, "1.0.0");
	/* sorted by target */
	assert_int_equal(back.d[0].target[0], 'b');
	assert_int_equal(back.d[0].patch_size, 99);
	d = content_deltas_find(&back, back.d[1].target, back.d[1].base);
	assert_non_null(d);
	assert_int_equal(d->patch_size, 1234);
	assert_null(content_deltas_find(&back, back.d[1].target, back.d[1].target));
	content_deltas_clear(&back);

	/* signed by another key than the release's */
	assert_int_not_equal(content_deltas_parse(text, len, OTHER.pk, &back, &err), 0);
	assert_string_equal(err.code, "deltas_invalid");
	/* a changed patch size */
	bad = strdup(text);
	assert_non_null(bad);
	strstr(bad, "\t99\n")[1] = '8';
	assert_int_not_equal(content_deltas_parse(bad, len, NULL, &back, &err), 0);
	assert_null(back.d);
	free(bad);
	/* text after the signature */
	bad = malloc(len + 2);
	assert_non_null(bad);
	memcpy(bad, text, len);
	memcpy(bad + len, "x\n", 2);
	assert_int_not_equal(content_deltas_parse(bad, len + 2, NULL, &back, &err), 0);
	free(bad);
	free(text);

	/* twice the same delta */
	ds.d[1] = ds.d[0];
	assert_int_not_equal(content_deltas_build(&ds, &KP, &text, &len, &err), 0);
	assert_string_equal(err.code, "deltas_invalid");
	content_deltas_clear(&ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),	cmocka_unit_test(test_wrong_base),
	    cmocka_unit_test(test_bad_patches), cmocka_unit_test(test_size_caps),
	    cmocka_unit_test(test_deltas_list),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

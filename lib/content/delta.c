/* content/delta: zstd patches between two versions of a file, and the
 * signed list of them a release carries (release.deltas).
 *
 * A patch is one zstd frame compressed with the base file referenced as a
 * raw prefix (what `zstd --patch-from` does): the window covers base and
 * target, long-distance matching finds the unchanged stretches of a binary
 * wherever they moved. The frame states its content size and a checksum;
 * the reader decodes into a buffer of exactly the size the signed manifest
 * gives, so a bad patch cannot make it allocate more, and checks the
 * SHA-256 of the result. A raw prefix has no identity of its own, so a
 * patch applied to the wrong base decodes to wrong bytes: the hash (and
 * most often zstd's checksum first) says so. docs/internals/deltas.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "steward/content.h"
#include "text_int.h"

#define DELTAS_MAGIC   "steward-release-deltas"
#define DELTAS_VERSION "1"

static const char REMEDY_DELTA[] =
    "nothing to do: the agent fetches the whole file instead; if it happens for every "
    "client, build the release again with --previous naming the release they run";
static const char REMEDY_DELTAS[] =
    "the delta list is damaged or was not written by stewardctl releases build: build the "
    "release again and import the new file";

static const struct ctext_kind deltas_kind = {"release delta list", "release delta list format",
					      DELTAS_MAGIC,	    DELTAS_VERSION,
					      "deltas_invalid",	    REMEDY_DELTAS};

/* zstd's bounds on the window (ZSTD_WINDOWLOG_ABSOLUTEMIN, and a 1 GiB
 * window covers two files of CONTENT_DELTA_FILE_MAX) */
#define DELTA_WINDOWLOG_MIN 10
#define DELTA_WINDOWLOG_MAX 30
_Static_assert(2ULL * CONTENT_DELTA_FILE_MAX <= (1ULL << DELTA_WINDOWLOG_MAX),
	       "the window covers base and target");

/* The smallest window log that covers n bytes. */
static int window_log(uint64_t n)
{
	int log = DELTA_WINDOWLOG_MIN;

	while (log < DELTA_WINDOWLOG_MAX && (UINT64_C(1) << log) < n)
		log++;
	return log;
}

int content_delta_make(const void *base, size_t base_len, const void *target, size_t target_len,
		       void **patch, size_t *patch_len, struct steward_err *err)
{
	ZSTD_CCtx *cc = NULL;
	size_t cap, n;
	void *out = NULL;
	int rc = 0;

	*patch = NULL;
	*patch_len = 0;
	if (base_len > CONTENT_DELTA_FILE_MAX || target_len > CONTENT_DELTA_FILE_MAX)
		return steward_err_set(err, STEWARD_ETOOBIG, "delta_too_big", REMEDY_DELTA,
				       "a delta is made between files of at most %u bytes, not %zu "
				       "and %zu",
				       CONTENT_DELTA_FILE_MAX, base_len, target_len);
	cap = ZSTD_compressBound(target_len);
	cc = ZSTD_createCCtx();
	out = malloc(cap ? cap : 1);
	if (!cc || !out) {
		rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
				     "out of memory making a delta");
		goto out;
	}
	if (ZSTD_isError(
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, CONTENT_DELTA_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog,
						window_log((uint64_t)base_len + target_len))) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_enableLongDistanceMatching, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cc, target_len)) ||
	    ZSTD_isError(ZSTD_CCtx_refPrefix(cc, base, base_len))) {
		rc = steward_err_set(err, STEWARD_EINVAL, "internal", NULL,
				     "zstd refused the delta parameters");
		goto out;
	}
	n = ZSTD_compress2(cc, out, cap, target, target_len);
	if (ZSTD_isError(n)) {
		rc = steward_err_set(err, STEWARD_EINVAL, "internal", NULL,
				     "zstd could not make the delta: %s", ZSTD_getErrorName(n));
		goto out;
	}
	*patch = out;
	*patch_len = n;
	out = NULL;
out:
	free(out);
	ZSTD_freeCCtx(cc);
	return rc;
}

int content_delta_apply(const void *base, size_t base_len, const void *patch, size_t patch_len,
			uint64_t target_len, const char *target_hash, void **out,
			struct steward_err *err)
{
	ZSTD_DCtx *dc = NULL;
	ZSTD_inBuffer in = {patch, patch_len, 0};
	ZSTD_outBuffer ob = {NULL, 0, 0};
	unsigned long long stated;
	char got[CONTENT_HASH_HEX + 1];
	uint8_t spare;
	size_t z;
	int rc = 0;

	*out = NULL;
	if (base_len > CONTENT_DELTA_FILE_MAX || target_len > CONTENT_DELTA_FILE_MAX ||
	    patch_len > CONTENT_DELTA_FILE_MAX)
		return steward_err_set(err, STEWARD_ETOOBIG, "delta_too_big", REMEDY_DELTA,
				       "a delta is applied to files of at most %u bytes",
				       CONTENT_DELTA_FILE_MAX);
	/* what the frame says it holds must be what the manifest says */
	stated = patch_len ? ZSTD_getFrameContentSize(patch, patch_len) : ZSTD_CONTENTSIZE_ERROR;
	if (stated == ZSTD_CONTENTSIZE_ERROR || stated == ZSTD_CONTENTSIZE_UNKNOWN)
		return steward_err_set(err, STEWARD_EINVAL, "delta_invalid", REMEDY_DELTA,
				       "the patch is not a zstd frame that states its size");
	if (stated != target_len)
		return steward_err_set(err, STEWARD_EINVAL, "delta_invalid", REMEDY_DELTA,
				       "the patch makes %llu bytes; the file is %" PRIu64, stated,
				       target_len);
	dc = ZSTD_createDCtx();
	ob.dst = malloc(target_len ? (size_t)target_len : 1);
	ob.size = (size_t)target_len;
	if (!dc || !ob.dst) {
		rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
				     "out of memory applying a delta");
		goto out;
	}
	if (ZSTD_isError(ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax,
						window_log((uint64_t)base_len + target_len))) ||
	    ZSTD_isError(ZSTD_DCtx_refPrefix(dc, base, base_len))) {
		rc = steward_err_set(err, STEWARD_EINVAL, "internal", NULL,
				     "zstd refused the delta parameters");
		goto out;
	}
	z = ZSTD_decompressStream(dc, &ob, &in);
	if (!ZSTD_isError(z) && z != 0 && ob.pos == ob.size) {
		/* the frame wants to say more than the file holds, or its end
		 * (the checksum) is still unread: one byte of room tells */
		ZSTD_outBuffer more = {&spare, 1, 0};

		z = ZSTD_decompressStream(dc, &more, &in);
		if (!ZSTD_isError(z) && more.pos) {
			rc = steward_err_set(err, STEWARD_EINVAL, "delta_invalid", REMEDY_DELTA,
					     "the patch makes more than the %" PRIu64
					     " bytes of the file",
					     target_len);
			goto out;
		}
	}
	if (ZSTD_isError(z)) {
		rc = steward_err_set(err, STEWARD_EINVAL, "delta_invalid", REMEDY_DELTA,
				     "the patch does not apply: %s", ZSTD_getErrorName(z));
		goto out;
	}
	if (z != 0 || ob.pos != ob.size || in.pos != in.size) {
		rc = steward_err_set(err, STEWARD_EINVAL, "delta_invalid", REMEDY_DELTA,
				     "the patch is %s",
				     in.pos != in.size ? "followed by other bytes" : "truncated");
		goto out;
	}
	if (target_hash) {
		content_hash_buf(ob.dst, ob.pos, got);
		if (strcmp(got, target_hash) != 0) {
			rc = steward_err_set(err, STEWARD_EINVAL, "delta_mismatch", REMEDY_DELTA,
					     "the patched file hashes to %s, not %s: the patch was "
					     "made from another base",
					     got, target_hash);
			goto out;
		}
	}
	*out = ob.dst;
	ob.dst = NULL;
out:
	free(ob.dst);
	ZSTD_freeDCtx(dc);
	return rc;
}

/* ---- the delta list ------------------------------------------------------ */

void content_deltas_clear(struct content_deltas *ds)
{
	if (!ds)
		return;
	free(ds->d);
	memset(ds, 0, sizeof(*ds));
}

int content_deltas_add(struct content_deltas *ds, const struct content_delta *d)
{
	struct content_delta *grown;

	if (ds->n >= CONTENT_DELTAS_ENTRIES_MAX)
		return -STEWARD_ETOOBIG;
	grown = realloc(ds->d, (ds->n + 1) * sizeof(*ds->d));
	if (!grown)
		return -STEWARD_ENOMEM;
	ds->d = grown;
	ds->d[ds->n++] = *d;
	return 0;
}

static int delta_cmp(const void *a, const void *b)
{
	const struct content_delta *x = a, *y = b;
	int r = strcmp(x->target, y->target);

	return r ? r : strcmp(x->base, y->base);
}

static bool version_ok(const char *v)
{
	char back[CONTENT_VERSION_MAX + 1];
	int a, b, c;

	if (!memchr(v, '\0', CONTENT_VERSION_MAX + 1) || proto_semver_parse(v, &a, &b, &c) != 0)
		return false;
	snprintf(back, sizeof(back), "%d.%d.%d", a, b, c);
	return strcmp(back, v) == 0;
}

/* One check for the builder and the parser. */
static bool deltas_ok(const struct content_deltas *ds, char *why, size_t whysz)
{
	if (!version_ok(ds->version) || !version_ok(ds->previous)) {
		snprintf(why, whysz, "release and previous versions must be X.Y.Z");
		return false;
	}
	if (!content_hash_valid(ds->manifest)) {
		snprintf(why, whysz, "the manifest hash is not 64 lowercase hex digits");
		return false;
	}
	if (ds->n > CONTENT_DELTAS_ENTRIES_MAX) {
		snprintf(why, whysz, "at most %d deltas, not %zu", CONTENT_DELTAS_ENTRIES_MAX,
			 ds->n);
		return false;
	}
	for (size_t i = 0; i < ds->n; i++) {
		const struct content_delta *d = &ds->d[i];

		if (!content_hash_valid(d->target) || !content_hash_valid(d->base) ||
		    !content_hash_valid(d->patch)) {
			snprintf(why, whysz, "delta %zu: a hash is not 64 lowercase hex digits",
				 i + 1);
			return false;
		}
		if (strcmp(d->target, d->base) == 0 || d->patch_size == 0 ||
		    d->patch_size > CONTENT_DELTA_FILE_MAX) {
			snprintf(why, whysz,
				 "delta %zu: same base and target, or a patch size "
				 "not between 1 and %u",
				 i + 1, CONTENT_DELTA_FILE_MAX);
			return false;
		}
		if (i > 0 && delta_cmp(&ds->d[i - 1], d) >= 0) {
			snprintf(why, whysz, "delta %zu is listed twice or out of order", i + 1);
			return false;
		}
	}
	return true;
}

int content_deltas_build(struct content_deltas *ds, const struct proto_keypair *kp, char **text,
			 size_t *len, struct steward_err *err)
{
	char key[2 * PROTO_PK_BYTES + 1], why[200];
	struct buf b;
	int rc;

	*text = NULL;
	*len = 0;
	if (ds->n)
		qsort(ds->d, ds->n, sizeof(*ds->d), delta_cmp);
	if (!deltas_ok(ds, why, sizeof(why)))
		return steward_err_set(err, STEWARD_EINVAL, "deltas_invalid", REMEDY_DELTAS, "%s",
				       why);
	memcpy(ds->key, kp->pk, PROTO_PK_BYTES);
	hex_encode(kp->pk, PROTO_PK_BYTES, key);
	buf_init(&b, CONTENT_DELTAS_MAX - CTEXT_SIG_LINE_MAX);
	rc = buf_printf(&b,
			DELTAS_MAGIC "\t" DELTAS_VERSION "\nrelease\t%s\nprevious\t%s\n"
				     "manifest\t%s\nkey\t%s\ndeltas\t%zu\n",
			ds->version, ds->previous, ds->manifest, key, ds->n);
	for (size_t i = 0; rc == 0 && i < ds->n; i++)
		rc = buf_printf(&b, "delta\t%s\t%s\t%s\t%" PRIu64 "\n", ds->d[i].target,
				ds->d[i].base, ds->d[i].patch, ds->d[i].patch_size);
	if (rc == 0)
		rc = ctext_sign(&b, kp->sk);
	if (rc) {
		buf_free(&b);
		return steward_err_set(
		    err, rc == -STEWARD_ETOOBIG ? STEWARD_ETOOBIG : STEWARD_ENOMEM,
		    "deltas_invalid", REMEDY_DELTAS, "the delta list would be larger than %u bytes",
		    CONTENT_DELTAS_MAX);
	}
	*len = b.len;
	*text = buf_steal(&b);
	buf_free(&b);
	return 0;
}

#define BAD(...)                                                                                   \
	do {                                                                                       \
		rc = steward_err_set(err, STEWARD_EINVAL, "deltas_invalid", REMEDY_DELTAS,         \
				     __VA_ARGS__);                                                 \
		goto out;                                                                          \
	} while (0)

/* "NAME<TAB>VALUE" into out (outsz bytes with its NUL). */
static int head_line(struct ctext_cursor *c, const char *name, char *out, size_t outsz,
		     struct steward_err *err)
{
	struct ctext_field l, f[2];
	int rc = 0;

	if (!ctext_next_line(c, &l) || ctext_split(l, f, 2) != 2 || !ctext_field_is(f[0], name) ||
	    !ctext_field_copy(f[1], out, outsz))
		BAD("line %d: expected '%s<TAB>...'", c->line, name);
out:
	return rc;
}

int content_deltas_parse(const char *text, size_t len, const uint8_t *r_key,
			 struct content_deltas *ds, struct steward_err *err)
{
	struct ctext_cursor c = {text, text + len, 0};
	struct ctext_field l, f[6];
	char num[24], keyhex[2 * PROTO_PK_BYTES + 1], why[200];
	uint8_t sig[crypto_sign_BYTES];
	const char *signed_end, *bad;
	uint64_t n = 0;
	int rc;

	memset(ds, 0, sizeof(*ds));
	if ((rc = ctext_open(&c, CONTENT_DELTAS_MAX, &deltas_kind, err)))
		goto out;
	if ((rc = head_line(&c, "release", ds->version, sizeof(ds->version), err)) ||
	    (rc = head_line(&c, "previous", ds->previous, sizeof(ds->previous), err)) ||
	    (rc = head_line(&c, "manifest", ds->manifest, sizeof(ds->manifest), err)) ||
	    (rc = head_line(&c, "key", keyhex, sizeof(keyhex), err)) ||
	    (rc = head_line(&c, "deltas", num, sizeof(num), err)))
		goto out;
	if (strlen(keyhex) != 2 * PROTO_PK_BYTES || hex_decode(keyhex, ds->key, PROTO_PK_BYTES))
		BAD("line %d: the key is not 64 hex digits", c.line - 1);
	if ((bad = ctext_parse_u64(num, strlen(num), CONTENT_DELTAS_ENTRIES_MAX, &n)))
		BAD("line %d: deltas '%s' %s (at most %d)", c.line, num, bad,
		    CONTENT_DELTAS_ENTRIES_MAX);
	if (n && !(ds->d = calloc((size_t)n, sizeof(*ds->d)))) {
		rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL, "out of memory");
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		struct content_delta *d = &ds->d[i];

		if (!ctext_next_line(&c, &l) || ctext_split(l, f, 6) != 5 ||
		    !ctext_field_is(f[0], "delta") ||
		    !ctext_field_copy(f[1], d->target, sizeof(d->target)) ||
		    !ctext_field_copy(f[2], d->base, sizeof(d->base)) ||
		    !ctext_field_copy(f[3], d->patch, sizeof(d->patch)) ||
		    ctext_parse_u64(f[4].s, f[4].n, CONTENT_DELTA_FILE_MAX, &d->patch_size))
			BAD("line %d: expected 'delta<TAB>TARGET<TAB>BASE<TAB>PATCH<TAB>SIZE'",
			    c.line);
		ds->n = (size_t)i + 1;
	}
	if (!deltas_ok(ds, why, sizeof(why)))
		BAD("%s", why);
	signed_end = c.p;
	if (!ctext_next_line(&c, &l) || ctext_split(l, f, 2) != 2 ||
	    !ctext_field_is(f[0], "signature") || !ctext_signature_value(f[1], sig))
		BAD("line %d: expected the signature line", c.line);
	if (c.p != c.end)
		BAD("line %d: text after the signature line", c.line + 1);
	if (crypto_sign_verify_detached(sig, (const uint8_t *)text, (size_t)(signed_end - text),
					ds->key) != 0)
		BAD("the signature does not match the delta list of release %s", ds->version);
	if (r_key && sodium_memcmp(r_key, ds->key, PROTO_PK_BYTES) != 0)
		BAD("the delta list of release %s is signed by another key than its manifest",
		    ds->version);
out:
	if (rc)
		content_deltas_clear(ds);
	return rc;
}

const struct content_delta *content_deltas_find(const struct content_deltas *ds, const char *target,
						const char *base)
{
	struct content_delta key;

	if (!ds->n)
		return NULL;
	memset(&key, 0, sizeof(key));
	snprintf(key.target, sizeof(key.target), "%s", target);
	snprintf(key.base, sizeof(key.base), "%s", base);
	return bsearch(&key, ds->d, ds->n, sizeof(key), delta_cmp);
}

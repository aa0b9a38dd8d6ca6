/* proto/sitelink: what crosses a link between two sites.
 *
 * A site's identity is its Ed25519 site key; its fingerprint is the hex
 * BLAKE2b-256 of the public key. A parent hands a child a one-time attach
 * token that carries the parent's fingerprint, so the child checks the key
 * the parent answers with against it: no trust on first use.
 *
 * Everything else travels in batches: one zstd frame holding one JSON
 * document (PROTO_BATCH_FORMAT) with the sender, the receiver and a list of
 * messages, each with its sequence number in its class (high, medium,
 * low: control before status before bulk), a kind and a JSON body. The
 * request that carries a batch is signed by the sender's site key over the
 * method, path, sender, time, request sequence and the hash of the
 * compressed body (proto_canonical), so the receiver, the sequence and
 * every message are covered, and so are the optional link epochs (the
 * sender's own, and the receiver's it writes to). Decompression stops at a
 * cap: a frame that
 * would expand past it (a zstd bomb) is refused before it is parsed.
 * docs/internals/hierarchy.md has the exchange.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zstd.h>

#include "steward/proto.h"

#define REMEDY_BATCH "the sending site's steward is damaged or not steward; see its log"

void proto_site_fingerprint(const uint8_t pk[PROTO_PK_BYTES], char out[PROTO_FP_HEX + 1])
{
	uint8_t h[PROTO_HASH_BYTES];

	proto_hash(pk, PROTO_PK_BYTES, h);
	hex_encode(h, sizeof(h), out);
}

/* ---- attach tokens ------------------------------------------------------------ */

static bool lower_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

int proto_attach_token_format(const struct proto_attach_token *t, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, PROTO_ATTACH_PREFIX "%s.%s.%s", t->id, t->secret, t->fp);

	return n < 0 || (size_t)n >= outsz ? -STEWARD_ETOOBIG : 0;
}

int proto_attach_token_parse(const char *text, struct proto_attach_token *out,
			     struct steward_err *err)
{
	const size_t pre = sizeof(PROTO_ATTACH_PREFIX) - 1;
	char buf[PROTO_ATTACH_TOKEN_MAX + 1], *id, *secret, *fp, *end;

	memset(out, 0, sizeof(*out));
	if (!text || strlen(text) > PROTO_ATTACH_TOKEN_MAX ||
	    strncmp(text, PROTO_ATTACH_PREFIX, pre))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", text + pre);
	id = buf;
	secret = strchr(id, '.');
	if (!secret)
		goto bad;
	*secret++ = '\0';
	fp = strchr(secret, '.');
	if (!fp)
		goto bad;
	*fp++ = '\0';
	end = strchr(fp, '.');
	if (end || !lower_hex(id, PROTO_ATTACH_ID_HEX) ||
	    !lower_hex(secret, PROTO_ATTACH_SECRET_HEX) || !lower_hex(fp, PROTO_FP_HEX))
		goto bad;
	memcpy(out->id, id, PROTO_ATTACH_ID_HEX + 1);
	memcpy(out->secret, secret, PROTO_ATTACH_SECRET_HEX + 1);
	memcpy(out->fp, fp, PROTO_FP_HEX + 1);
	return 0;
bad:
	return steward_err_set(err, STEWARD_EINVAL, "attach_token_invalid",
			       "copy the whole token that 'stewardctl sites attach-token create' "
			       "printed on the parent",
			       "the attach token is malformed (expected " PROTO_ATTACH_PREFIX
			       "ID.SECRET.FINGERPRINT)");
}

/* ---- batches ------------------------------------------------------------------ */

static int batch_bad(struct steward_err *err, const char *code, const char *what,
		     const char *detail)
{
	return steward_err_set(err, STEWARD_EINVAL, code, REMEDY_BATCH, "%s%s", what, detail);
}

int proto_batch_compress(const char *plain, size_t len, uint8_t **out, size_t *outlen)
{
	size_t cap = ZSTD_compressBound(len), n;
	uint8_t *z = malloc(cap ? cap : 1);

	*out = NULL;
	*outlen = 0;
	if (!z)
		return -STEWARD_ENOMEM;
	n = ZSTD_compress(z, cap, plain, len, 3);
	if (ZSTD_isError(n)) {
		free(z);
		return -STEWARD_EINVAL;
	}
	*out = z;
	*outlen = n;
	return 0;
}

/* Decompress one zstd frame into at most max bytes (malloc'd, NUL-ended). */
static int decompress(const uint8_t *z, size_t zlen, size_t max, char **out, size_t *outlen,
		      struct steward_err *err)
{
	unsigned long long declared = ZSTD_getFrameContentSize(z, zlen);
	ZSTD_DStream *ds = NULL;
	ZSTD_inBuffer in = {z, zlen, 0};
	ZSTD_outBuffer o = {NULL, 0, 0};
	size_t cap, r;
	int rc = 0;

	*out = NULL;
	*outlen = 0;
	if (declared == ZSTD_CONTENTSIZE_ERROR)
		return batch_bad(err, "batch_invalid", "the batch is not a zstd frame", "");
	/* a frame that says it is larger than the cap is refused unread */
	if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max)
		return batch_bad(err, "batch_too_large",
				 "the batch would expand past the receiver's cap", "");
	cap = declared != ZSTD_CONTENTSIZE_UNKNOWN ? (size_t)declared + 1 : 64 * 1024;
	if (cap > max + 1)
		cap = max + 1;
	o.dst = malloc(cap);
	ds = ZSTD_createDStream();
	if (!o.dst || !ds) {
		rc = -STEWARD_ENOMEM;
		goto out;
	}
	o.size = cap - 1; /* room for the NUL */
	ZSTD_initDStream(ds);
	for (;;) {
		r = ZSTD_decompressStream(ds, &o, &in);
		if (ZSTD_isError(r)) {
			rc = batch_bad(err, "batch_invalid", "the batch's zstd frame is damaged",
				       "");
			goto out;
		}
		if (r == 0) { /* the frame is complete */
			if (in.pos != in.size)
				rc = batch_bad(err, "batch_invalid",
					       "the batch has bytes after its zstd frame", "");
			break;
		}
		if (o.pos == o.size) {
			/* full: grow within the cap, or refuse the bomb */
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			void *p;

			if (o.size >= max) {
				rc = batch_bad(err, "batch_too_large",
					       "the batch expands past the receiver's cap", "");
				goto out;
			}
			p = realloc(o.dst, ncap);
			if (!p) {
				rc = -STEWARD_ENOMEM;
				goto out;
			}
			o.dst = p;
			cap = ncap;
			o.size = cap - 1;
		} else if (in.pos == in.size) {
			rc = batch_bad(err, "batch_invalid", "the batch's zstd frame is cut short",
				       "");
			goto out;
		}
	}
	if (rc)
		goto out;
	((char *)o.dst)[o.pos] = '\0';
	*out = o.dst;
	*outlen = o.pos;
	o.dst = NULL;
out:
	free(o.dst);
	ZSTD_freeDStream(ds);
	return rc;
}

void proto_batch_clear(struct proto_batch *b)
{
	json_decref(b->root);
	free(b->msgs);
	memset(b, 0, sizeof(*b));
}

bool proto_link_epoch_valid(const char *s)
{
	return s && lower_hex(s, PROTO_EPOCH_HEX);
}

/* The optional epoch member key of the batch into out (empty_ok: "" too);
 * false when it is there but not an epoch. */
static bool batch_epoch(json_t *root, const char *key, bool empty_ok, bool *has, char *out)
{
	json_t *v = json_object_get(root, key);
	const char *t = json_string_value(v);

	if (has)
		*has = v != NULL;
	if (!v)
		return true;
	if (!t || (!(empty_ok && !*t) && !proto_link_epoch_valid(t)))
		return false;
	memcpy(out, t, strlen(t) + 1);
	return true;
}

int proto_batch_parse(const uint8_t *z, size_t zlen, size_t max_plain, struct proto_batch *out,
		      struct steward_err *err)
{
	char *plain = NULL;
	size_t len = 0, n, i;
	json_error_t jerr;
	json_t *msgs, *m;
	const char *s;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!z || zlen == 0)
		return batch_bad(err, "batch_invalid", "the batch is empty", "");
	rc = decompress(z, zlen, max_plain, &plain, &len, err);
	if (rc)
		return rc;
	out->root = json_loadb(plain, len, JSON_REJECT_DUPLICATES, &jerr);
	free(plain);
	if (!json_is_object(out->root)) {
		rc = batch_bad(err, "batch_invalid", "the batch is not a JSON object: ",
			       out->root ? "not an object" : jerr.text);
		goto fail;
	}
	s = json_string_value(json_object_get(out->root, "format"));
	if (!s || strcmp(s, PROTO_BATCH_FORMAT) != 0) {
		rc = batch_bad(err, "batch_invalid",
			       "the batch's format is not " PROTO_BATCH_FORMAT "%s", "");
		goto fail;
	}
	s = json_string_value(json_object_get(out->root, "from"));
	if (!s || !proto_site_code_valid(s)) {
		rc = batch_bad(err, "batch_invalid", "the batch's 'from' is not a site code", "");
		goto fail;
	}
	memcpy(out->from, s, PROTO_SITE_CODE_LEN + 1);
	s = json_string_value(json_object_get(out->root, "to"));
	if (!s || !proto_site_code_valid(s)) {
		rc = batch_bad(err, "batch_invalid", "the batch's 'to' is not a site code", "");
		goto fail;
	}
	memcpy(out->to, s, PROTO_SITE_CODE_LEN + 1);
	if (!batch_epoch(out->root, "epoch", false, NULL, out->epoch) ||
	    !batch_epoch(out->root, "to_epoch", true, &out->has_to_epoch, out->to_epoch)) {
		rc = batch_bad(err, "batch_invalid",
			       "the batch's 'epoch' or 'to_epoch' is not 16 lowercase hex digits",
			       "");
		goto fail;
	}
	msgs = json_object_get(out->root, "messages");
	n = json_array_size(msgs);
	if (!json_is_array(msgs) || n > PROTO_BATCH_MSGS_MAX) {
		rc = batch_bad(err, "batch_invalid",
			       "the batch's 'messages' must be an array of at most 10000 messages",
			       "");
		goto fail;
	}
	out->msgs = calloc(n ? n : 1, sizeof(*out->msgs));
	if (!out->msgs) {
		rc = -STEWARD_ENOMEM;
		goto fail;
	}
	json_array_foreach(msgs, i, m)
	{
		struct proto_batch_msg *bm = &out->msgs[i];
		uint64_t *last = &out->last[0];
		json_t *seq = json_object_get(m, "seq"), *cls = json_object_get(m, "class");
		const char *kind = json_string_value(json_object_get(m, "kind"));

		if (!json_is_object(m) || !json_is_integer(seq) || json_integer_value(seq) < 1 ||
		    !json_is_integer(cls) || json_integer_value(cls) < 0 ||
		    json_integer_value(cls) >= PROTO_LINK_CLASSES || !kind || !*kind ||
		    strlen(kind) > PROTO_LINK_KIND_MAX ||
		    strspn(kind, "abcdefghijklmnopqrstuvwxyz_") != strlen(kind) ||
		    !json_is_object(json_object_get(m, "body"))) {
			rc = batch_bad(err, "batch_invalid",
				       "a message of the batch lacks seq (>= 1), class (0-2), kind "
				       "(a-z_) or an object body%s",
				       "");
			goto fail;
		}
		bm->seq = (uint64_t)json_integer_value(seq);
		bm->cls = (int)json_integer_value(cls);
		memcpy(bm->kind, kind, strlen(kind) + 1);
		bm->body = json_object_get(m, "body");
		/* within a class, sequences only grow: a batch is a run of each */
		if (bm->seq <= last[bm->cls]) {
			rc = batch_bad(err, "batch_invalid",
				       "the batch's sequences do not grow within a class", "");
			goto fail;
		}
		last[bm->cls] = bm->seq;
		out->n++;
	}
	return 0;
fail:
	proto_batch_clear(out);
	return rc;
}

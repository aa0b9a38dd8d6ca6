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

#include "steward/inventory.h"
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
	int n = snprintf(out, outsz, PROTO_ATTACH_PREFIX "%s.%s.%s%s%s", t->id, t->secret, t->fp,
			 t->pin[0] ? "." : "", t->pin);

	return n < 0 || (size_t)n >= outsz ? -STEWARD_ETOOBIG : 0;
}

int proto_attach_token_parse(const char *text, struct proto_attach_token *out,
			     struct steward_err *err)
{
	const size_t pre = sizeof(PROTO_ATTACH_PREFIX) - 1;
	char buf[PROTO_ATTACH_TOKEN_MAX + 1], *id, *secret, *fp, *pin, *end;

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
	pin = strchr(fp, '.');
	if (pin)
		*pin++ = '\0';
	end = pin ? strchr(pin, '.') : NULL;
	if (end || !lower_hex(id, PROTO_ATTACH_ID_HEX) ||
	    !lower_hex(secret, PROTO_ATTACH_SECRET_HEX) || !lower_hex(fp, PROTO_FP_HEX) ||
	    (pin && !lower_hex(pin, PROTO_PIN_HEX)))
		goto bad;
	if (pin)
		memcpy(out->pin, pin, PROTO_PIN_HEX + 1);
	memcpy(out->id, id, PROTO_ATTACH_ID_HEX + 1);
	memcpy(out->secret, secret, PROTO_ATTACH_SECRET_HEX + 1);
	memcpy(out->fp, fp, PROTO_FP_HEX + 1);
	return 0;
bad:
	return steward_err_set(err, STEWARD_EINVAL, "attach_token_invalid",
			       "copy the whole token that 'stewardctl sites attach-token create' "
			       "printed on the parent",
			       "the attach token is malformed (expected " PROTO_ATTACH_PREFIX
			       "ID.SECRET.FINGERPRINT[.PIN])");
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
	/* from a parent: what inventory it wants up the link */
	if (json_object_get(out->root, "inventory")) {
		s = json_string_value(json_object_get(out->root, "inventory"));
		if (!proto_link_inv_level_valid(s)) {
			rc = batch_bad(err, "batch_invalid",
				       "the batch's 'inventory' is not none, summary or full", "");
			goto fail;
		}
		memcpy(out->inventory, s, strlen(s) + 1);
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

/* ---- inventory up a link ------------------------------------------------------------------ */

#define INV_COUNT_MAX (1ll << 24) /* cpu counts, as in an agent's document */
#define INV_MB_MAX (1ll << 44)	  /* MiB of memory or of one disk */
#define INV_DISKS_MB_MAX (INV_MB_MAX * PROTO_INVENTORY_DISKS_MAX)

bool proto_link_inv_level_valid(const char *s)
{
	return s && (strcmp(s, "none") == 0 || strcmp(s, "summary") == 0 || strcmp(s, "full") == 0);
}

static int inv_bad(struct steward_err *err, const char *what)
{
	return batch_bad(err, "batch_invalid", "an inventory message: ", what);
}

/* A string as an agent's document allows it: at most 256 bytes, no NUL and
 * no control characters (UTF-8 is fine: jansson checked it). */
static bool inv_text(json_t *o, const char *key, json_t *into)
{
	json_t *v = json_object_get(o, key);
	const char *t = json_string_value(v);
	size_t len = json_string_length(v);

	if (!t || len > PROTO_INVENTORY_STRING_MAX || strlen(t) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
			return false;
	return json_object_set_new(into, key, json_stringn(t, len)) == 0;
}

static bool inv_int(json_t *o, const char *key, json_int_t max, json_t *into)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= max &&
	       json_object_set_new(into, key, json_integer(json_integer_value(v))) == 0;
}

/* A summary's hardware and os, checked and written again from what was
 * checked, into c->hardware and c->os. */
static int inv_summary(json_t *e, struct proto_link_inv_client *c, struct steward_err *err)
{
	static const char *const os_keys[] = {"id",	     "name",	       "version_id", "version",
					      "pretty_name", "kernel_release", "arch"};
	json_t *hw = json_object_get(e, "hardware"), *os = json_object_get(e, "os");
	json_t *cpu = json_object_get(hw, "cpu"), *mem = json_object_get(hw, "memory");
	json_t *dmi = json_object_get(hw, "dmi");
	json_t *h = json_object(), *hc = json_object(), *hm = json_object(), *hd = json_object();
	json_t *o = json_object();
	bool ok = h && hc && hm && hd && o && json_is_object(hw) && json_is_object(os) &&
		  json_is_object(cpu) && json_is_object(mem) && json_is_object(dmi);
	int rc = 0;

	ok = ok && inv_text(cpu, "model", hc) && inv_int(cpu, "sockets", INV_COUNT_MAX, hc) &&
	     inv_int(cpu, "cores", INV_COUNT_MAX, hc) && inv_int(cpu, "threads", INV_COUNT_MAX, hc) &&
	     inv_int(mem, "total_mb", INV_MB_MAX, hm) && inv_text(dmi, "vendor", hd) &&
	     inv_text(dmi, "product", hd);
	ok = ok && json_object_set(h, "cpu", hc) == 0 && json_object_set(h, "memory", hm) == 0 &&
	     inv_int(hw, "disk_total_mb", INV_DISKS_MB_MAX, h) && json_object_set(h, "dmi", hd) == 0 &&
	     inv_text(hw, "virtualization", h);
	for (size_t i = 0; ok && i < sizeof(os_keys) / sizeof(os_keys[0]); i++)
		ok = inv_text(os, os_keys[i], o);
	if (!ok) {
		rc = h && hc && hm && hd && o ? inv_bad(err, "a summary lacks a field of hardware "
							      "(cpu, memory, disk_total_mb, dmi, "
							      "virtualization) or os, or one is bad")
					      : -STEWARD_ENOMEM;
		goto out;
	}
	c->hardware = json_dumps(h, JSON_COMPACT);
	c->os = json_dumps(o, JSON_COMPACT);
	if (!c->hardware || !c->os)
		rc = -STEWARD_ENOMEM;
out:
	json_decref(h);
	json_decref(hc);
	json_decref(hm);
	json_decref(hd);
	json_decref(o);
	return rc;
}

/* A full document, checked as an agent's: into the canonical text of each
 * class and the hashes. */
static int inv_full(json_t *e, struct proto_link_inv_client *c, struct steward_err *err)
{
	struct proto_inventory_caps caps;
	struct proto_inventory rep = {0};
	struct steward_err why = {.code = ""};
	json_t *doc = json_object_get(e, "inventory");
	char *text = json_is_object(doc) ? json_dumps(doc, JSON_COMPACT) : NULL;
	int rc = 0;

	if (!json_is_object(doc))
		return inv_bad(err, "a full inventory lacks its 'inventory' document");
	if (!text)
		return -STEWARD_ENOMEM;
	proto_inventory_caps_default(&caps);
	caps.total_bytes = PROTO_LINK_INV_DOC_MAX;
	rc = proto_inventory_parse(text, strlen(text), &caps, &rep, &why);
	free(text);
	if (rc == -STEWARD_ENOMEM)
		return rc;
	if (rc || rep.delta) {
		rc = steward_err_set(err, STEWARD_EINVAL, "batch_invalid", REMEDY_BATCH,
				     "an inventory message: the document of client %s is refused: "
				     "%.40s: %.300s",
				     c->id, rc ? why.code : "bad_request",
				     rc ? why.message : "a delta, not a full document");
		goto out;
	}
	for (int i = 0; i < PROTO_INV_NCLASSES; i++) {
		char **t = i == 0 ? &c->hardware : i == 1 ? &c->os : &c->software;

		*t = json_dumps(json_object_get(json_object_get(rep.doc, "classes"),
						proto_inventory_class_name(i)),
				JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		if (!*t) {
			rc = -STEWARD_ENOMEM;
			goto out;
		}
		memcpy(c->hashes[i], rep.hashes[i], sizeof(c->hashes[i]));
	}
	memcpy(c->full_hash, rep.full_hash, sizeof(c->full_hash));
out:
	proto_inventory_free(&rep);
	return rc;
}

void proto_link_inv_clear(struct proto_link_inv *x)
{
	if (!x)
		return;
	for (size_t i = 0; x->v && i < x->n; i++) {
		free(x->v[i].hardware);
		free(x->v[i].os);
		free(x->v[i].software);
	}
	free(x->v);
	memset(x, 0, sizeof(*x));
}

int proto_link_inv_parse(json_t *body, struct proto_link_inv *out, struct steward_err *err)
{
	json_t *site = json_object_get(body, "site"), *a = json_object_get(body, "clients"), *e;
	const char *level = json_string_value(json_object_get(body, "level"));
	size_t n = json_array_size(a), i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (site && !proto_site_code_valid(json_string_value(site)))
		return inv_bad(err, "'site' is not a site code");
	if (!level || (strcmp(level, "summary") && strcmp(level, "full")))
		return inv_bad(err, "'level' is not summary or full");
	out->full = strcmp(level, "full") == 0;
	if (!json_is_array(a) || n == 0 || n > (out->full ? 1u : (size_t)PROTO_LINK_INV_CLIENTS_MAX))
		return inv_bad(err, "'clients' must be an array of 1 to 1000 clients (1 when full)");
	if (site)
		snprintf(out->site, sizeof(out->site), "%s", json_string_value(site));
	out->v = calloc(n, sizeof(*out->v));
	if (!out->v)
		return -STEWARD_ENOMEM;
	json_array_foreach(a, i, e)
	{
		struct proto_link_inv_client *c = &out->v[i];
		const char *id = json_string_value(json_object_get(e, "id"));
		json_t *r = json_object_get(e, "received");

		out->n++;
		if (!json_is_object(e) || !proto_client_id_valid(id) || !json_is_integer(r) ||
		    json_integer_value(r) < 0) {
			rc = inv_bad(err, "a client lacks its id or 'received' time");
			break;
		}
		memcpy(c->id, id, sizeof(c->id));
		c->received = json_integer_value(r);
		rc = out->full ? inv_full(e, c, err) : inv_summary(e, c, err);
		if (rc)
			break;
	}
	if (rc)
		proto_link_inv_clear(out);
	return rc;
}

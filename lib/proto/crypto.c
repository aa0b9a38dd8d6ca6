/* proto/crypto: keys, request signatures, session keys and MACs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/stat.h>

#include <sodium.h>

#include "steward/proto.h"

int proto_keypair_new(struct proto_keypair *kp)
{
	return crypto_sign_keypair(kp->pk, kp->sk) == 0 ? 0 : -STEWARD_EIO;
}

int proto_keypair_load_or_create(const char *path, struct proto_keypair *kp, bool *created)
{
	char *data = NULL;
	size_t len = 0;
	struct stat st;
	int rc;

	if (created)
		*created = false;
	rc = file_read_all(path, 4096, &data, &len);
	if (rc == -STEWARD_ENOTFOUND) {
		rc = proto_keypair_new(kp);
		if (rc)
			return rc;
		rc = file_write_atomic(path, kp->sk, sizeof(kp->sk), 0600);
		if (rc == 0 && created)
			*created = true;
		return rc;
	}
	if (rc)
		return rc;
	if (len != PROTO_SK_BYTES) {
		sodium_memzero(data, len);
		free(data);
		return -STEWARD_EINVAL;
	}
	/* a private key readable by others is refused: it may be compromised */
	if (stat(path, &st) == 0 && (st.st_mode & 077)) {
		sodium_memzero(data, len);
		free(data);
		return -STEWARD_EPERM;
	}
	memcpy(kp->sk, data, PROTO_SK_BYTES);
	sodium_memzero(data, len);
	free(data);
	crypto_sign_ed25519_sk_to_pk(kp->pk, kp->sk);
	return 0;
}

void proto_hash(const void *data, size_t len, uint8_t out[PROTO_HASH_BYTES])
{
	crypto_generichash(out, PROTO_HASH_BYTES, data, len, NULL, 0);
}

#define CANON_PREFIX "steward-req-v1\n"

/* v in decimal into d (at least 21 bytes); returns d */
static const char *dec_u64(uint64_t v, char *d)
{
	char t[20];
	int n = 0, k = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		d[k++] = t[--n];
	d[k] = '\0';
	return d;
}

static const char *dec_i64(int64_t v, char *d)
{
	if (v >= 0)
		return dec_u64((uint64_t)v, d);
	d[0] = '-';
	dec_u64(-(uint64_t)v, d + 1);
	return d;
}

int proto_canonical(const char *method, const char *path, const char *client_id, int64_t ts,
		    uint64_t seq, const void *body, size_t body_len, char *out, size_t outsz)
{
	uint8_t h[PROTO_HASH_BYTES];
	char hex[2 * PROTO_HASH_BYTES + 1];
	const char *part[6];
	size_t len[6], total = sizeof(CANON_PREFIX) - 1;
	char tsd[24], seqd[24];
	char *o = out;

	proto_hash(body ? body : "", body ? body_len : 0, h);
	hex_encode(h, sizeof(h), hex);
	/* "steward-req-v1\nMETHOD\nPATH\nCLIENT\nTS\nSEQ\nHASH", put
	 * together by hand: every request is authenticated with it, twice
	 * (its head, then its body), and snprintf was most of its cost. */
	part[0] = method;
	part[1] = path;
	part[2] = client_id;
	part[3] = dec_i64(ts, tsd);
	part[4] = dec_u64(seq, seqd);
	part[5] = hex;
	for (int i = 0; i < 6; i++) {
		if (!part[i])
			part[i] = "(null)";
		len[i] = strlen(part[i]);
		total += 1 + len[i];
	}
	total--; /* the prefix's own newline counted a separator too many */
	if (total >= outsz)
		return -STEWARD_ETOOBIG;
	memcpy(o, CANON_PREFIX, sizeof(CANON_PREFIX) - 1);
	o += sizeof(CANON_PREFIX) - 1;
	for (int i = 0; i < 6; i++) {
		if (i)
			*o++ = '\n';
		memcpy(o, part[i], len[i]);
		o += len[i];
	}
	*o = '\0';
	return 0;
}

void proto_sign(const struct proto_keypair *kp, const char *canon, char out[96])
{
	uint8_t sig[PROTO_SIG_BYTES];

	crypto_sign_detached(sig, NULL, (const uint8_t *)canon, strlen(canon), kp->sk);
	sodium_bin2base64(out, 96, sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
}

int proto_verify(const uint8_t pk[PROTO_PK_BYTES], const char *canon, const char *sig_b64)
{
	uint8_t sig[PROTO_SIG_BYTES];

	if (!sig_b64 || strlen(sig_b64) > 96 || b64_decode(sig_b64, sig, sizeof(sig)) != PROTO_SIG_BYTES)
		return -STEWARD_EAUTH;
	if (crypto_sign_verify_detached(sig, (const uint8_t *)canon, strlen(canon), pk) != 0)
		return -STEWARD_EAUTH;
	return 0;
}

void proto_session_key(const uint8_t secret[PROTO_SITE_SECRET_BYTES],
		       const uint8_t client_id[PROTO_CLIENT_ID_BYTES], uint64_t epoch,
		       uint8_t key[PROTO_SESSION_KEY_BYTES])
{
	static const char label[] = "steward-session-v1";
	crypto_generichash_state st;
	uint8_t le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(epoch >> (8 * i));
	crypto_generichash_init(&st, secret, PROTO_SITE_SECRET_BYTES, PROTO_SESSION_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1);
	crypto_generichash_update(&st, client_id, PROTO_CLIENT_ID_BYTES);
	crypto_generichash_update(&st, le, sizeof(le));
	crypto_generichash_final(&st, key, PROTO_SESSION_KEY_BYTES);
}

void proto_mac(const uint8_t key[PROTO_SESSION_KEY_BYTES], const char *canon, char out[65])
{
	uint8_t mac[PROTO_HASH_BYTES];

	crypto_generichash(mac, sizeof(mac), (const uint8_t *)canon, strlen(canon), key,
			   PROTO_SESSION_KEY_BYTES);
	hex_encode(mac, sizeof(mac), out);
}

int proto_mac_verify(const uint8_t key[PROTO_SESSION_KEY_BYTES], const char *canon,
		     const char *mac_hex)
{
	uint8_t want[PROTO_HASH_BYTES], got[PROTO_HASH_BYTES];

	if (hex_decode(mac_hex, got, sizeof(got)))
		return -STEWARD_EAUTH;
	crypto_generichash(want, sizeof(want), (const uint8_t *)canon, strlen(canon), key,
			   PROTO_SESSION_KEY_BYTES);
	return sodium_memcmp(want, got, sizeof(want)) == 0 ? 0 : -STEWARD_EAUTH;
}

int proto_seal_session_key(const uint8_t client_pk[PROTO_PK_BYTES],
			   const uint8_t key[PROTO_SESSION_KEY_BYTES], char **out_b64)
{
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];
	uint8_t sealed[PROTO_SEALED_KEY_BYTES];

	*out_b64 = NULL;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, client_pk) != 0)
		return -STEWARD_EINVAL;
	if (crypto_box_seal(sealed, key, PROTO_SESSION_KEY_BYTES, xpk) != 0)
		return -STEWARD_EIO;
	*out_b64 = b64_encode_new(sealed, sizeof(sealed));
	return *out_b64 ? 0 : -STEWARD_ENOMEM;
}

int proto_open_session_key(const struct proto_keypair *kp, const char *sealed_b64,
			   uint8_t key[PROTO_SESSION_KEY_BYTES])
{
	uint8_t xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
	uint8_t sealed[PROTO_SEALED_KEY_BYTES + 8];
	int n, rc = 0;

	if (!sealed_b64 || strlen(sealed_b64) > 200)
		return -STEWARD_EINVAL;
	n = b64_decode(sealed_b64, sealed, sizeof(sealed));
	if (n != PROTO_SEALED_KEY_BYTES)
		return -STEWARD_EINVAL;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, kp->pk) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(xsk, kp->sk) != 0)
		return -STEWARD_EINVAL;
	if (crypto_box_seal_open(key, sealed, (unsigned long long)n, xpk, xsk) != 0)
		rc = -STEWARD_EAUTH;
	sodium_memzero(xsk, sizeof(xsk));
	return rc;
}

int proto_init(void)
{
	return sodium_init() < 0 ? -STEWARD_EIO : 0;
}

int proto_auth_build(struct proto_auth *out, const char *method, const char *path,
		     const char *client_id, int64_t ts, uint64_t seq, const void *body,
		     size_t body_len, const struct proto_keypair *kp, const uint8_t *session_key,
		     uint64_t epoch)
{
	char canon[PROTO_CANON_MAX], range[24], sig[96], mac[65];
	struct proto_range self = proto_self_range();
	int n = 0, rc;

	rc = proto_canonical(method, path, client_id, ts, seq, body, body_len, canon,
			     sizeof(canon));
	if (rc)
		return rc;
	proto_range_format(&self, range);
	snprintf(out->lines[n++], 160, PROTO_H_VERSION ": %s", proto_self_version());
	snprintf(out->lines[n++], 160, PROTO_H_PROTOCOL ": %s", range);
	snprintf(out->lines[n++], 160, PROTO_H_CLIENT ": %s", client_id);
	snprintf(out->lines[n++], 160, PROTO_H_TIMESTAMP ": %" PRId64, ts);
	snprintf(out->lines[n++], 160, PROTO_H_SEQ ": %" PRIu64, seq);
	if (session_key) {
		proto_mac(session_key, canon, mac);
		snprintf(out->lines[n++], 160, PROTO_H_SESSION ": %" PRIu64, epoch);
		snprintf(out->lines[n++], 160, PROTO_H_MAC ": %s", mac);
	} else if (kp) {
		proto_sign(kp, canon, sig);
		snprintf(out->lines[n++], 160, PROTO_H_SIGNATURE ": %s", sig);
	} else {
		return -STEWARD_EINVAL;
	}
	snprintf(out->lines[n++], 160, "Content-Type: application/json");
	for (int i = 0; i < n; i++)
		out->list[i] = out->lines[i];
	out->list[n] = NULL;
	out->list[n + 1] = NULL;
	return 0;
}

/* proto/enroll: enrollment tokens that say which site they are for, and the
 * MAC that ties the site's enrollment reply to the token.
 *
 * A token is "stwenr1.SECRET.FINGERPRINT[.PIN]": SECRET (40 hex digits) is
 * the credential the site stores hashed; FINGERPRINT (64 hex) is the
 * BLAKE2b-256 of the site key (proto_site_fingerprint); PIN (64 hex), when
 * the site serves HTTPS, is the SHA-256 of its certificate's public key.
 * The agent sends only SECRET. It speaks to the site only through a
 * connection whose certificate matches PIN, and takes the site key from the
 * reply only when the reply's MAC (keyed with the hash of SECRET, which
 * only the site and the token's holder know) verifies and the key's
 * fingerprint is FINGERPRINT: a man in the middle that swaps the
 * certificate, the key or the reply makes the enrollment fail.
 * A bare SECRET (tokens of older sites) has neither; agents refuse it
 * unless they are given the site's pin and fingerprint another way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "steward/proto.h"

static bool hex_n(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

int proto_enroll_token_parse(const char *text, struct proto_enroll_token *out,
			     struct steward_err *err)
{
	const size_t pre = sizeof(PROTO_ENROLL_PREFIX) - 1;
	char buf[PROTO_TOKEN_MAX + 1], *secret, *fp = NULL, *pin = NULL;

	memset(out, 0, sizeof(*out));
	if (!text || strlen(text) > PROTO_TOKEN_MAX)
		goto bad;
	if (strncmp(text, PROTO_ENROLL_PREFIX, pre) != 0) {
		/* a bare secret: what older sites print */
		size_t n = strlen(text);

		if (!n || n > PROTO_ENROLL_SECRET_MAX ||
		    strspn(text, "0123456789abcdefABCDEF") != n)
			goto bad;
		memcpy(out->secret, text, n + 1);
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", text + pre);
	secret = buf;
	fp = strchr(secret, '.');
	if (!fp)
		goto bad;
	*fp++ = '\0';
	pin = strchr(fp, '.');
	if (pin)
		*pin++ = '\0';
	if (!hex_n(secret, PROTO_ENROLL_SECRET_HEX) || !hex_n(fp, PROTO_FP_HEX) ||
	    (pin && !hex_n(pin, PROTO_PIN_HEX)))
		goto bad;
	snprintf(out->secret, sizeof(out->secret), "%s", secret);
	snprintf(out->fp, sizeof(out->fp), "%s", fp);
	if (pin)
		snprintf(out->pin, sizeof(out->pin), "%s", pin);
	return 0;
bad:
	return steward_err_set(err, STEWARD_EINVAL, "token_malformed",
			       "copy the whole token that 'stewardctl enroll-tokens create' printed",
			       "the enrollment token is malformed (expected " PROTO_ENROLL_PREFIX
			       "SECRET.FINGERPRINT[.PIN])");
}

int proto_enroll_token_format(const char *secret, const char *fp, const char *pin, char *out,
			      size_t outsz)
{
	int n = snprintf(out, outsz, PROTO_ENROLL_PREFIX "%s.%s%s%s", secret, fp,
			 pin && *pin ? "." : "", pin && *pin ? pin : "");

	return n < 0 || (size_t)n >= outsz ? -STEWARD_ETOOBIG : 0;
}

const char *proto_enroll_token_secret(const char *text, char *buf, size_t bufsz)
{
	struct proto_enroll_token t;
	struct steward_err ignored;

	if (proto_enroll_token_parse(text, &t, &ignored) != 0) {
		snprintf(buf, bufsz, "%s", text ? text : "");
		return buf;
	}
	snprintf(buf, bufsz, "%s", t.secret);
	sodium_memzero(&t, sizeof(t));
	return buf;
}

void proto_enroll_mac(const uint8_t key[PROTO_HASH_BYTES], const uint8_t pk[PROTO_PK_BYTES],
		      uint64_t seq, const void *body, size_t len,
		      char out[PROTO_ENROLL_MAC_B64 + 1])
{
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	char head[128];
	int n = snprintf(head, sizeof(head), "steward-enroll-reply-1\n%llu\n",
			 (unsigned long long)seq);

	crypto_auth_hmacsha256_init(&st, key, PROTO_HASH_BYTES);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)head, (unsigned long long)n);
	crypto_auth_hmacsha256_update(&st, pk, PROTO_PK_BYTES);
	crypto_auth_hmacsha256_update(&st, body, (unsigned long long)len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2base64(out, PROTO_ENROLL_MAC_B64 + 1, mac, sizeof(mac),
			  sodium_base64_VARIANT_ORIGINAL);
}

int proto_enroll_mac_verify(const uint8_t key[PROTO_HASH_BYTES],
			    const uint8_t pk[PROTO_PK_BYTES], uint64_t seq, const void *body,
			    size_t len, const char *mac_b64)
{
	char want[PROTO_ENROLL_MAC_B64 + 1];

	if (!mac_b64 || strlen(mac_b64) != PROTO_ENROLL_MAC_B64)
		return -STEWARD_EAUTH;
	proto_enroll_mac(key, pk, seq, body, len, want);
	return sodium_memcmp(want, mac_b64, PROTO_ENROLL_MAC_B64) == 0 ? 0 : -STEWARD_EAUTH;
}

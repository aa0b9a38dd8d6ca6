/* Unit tests for lib/proto: the canonical string, signatures, session keys
 * and MACs (with fixed vectors computed independently of libsodium's
 * wrappers, so a change of format cannot pass unnoticed), the version
 * handshake, identifiers and the two message parsers.
 *
 * Parser refusals are checked for the field they name: the message of
 * every refusal must contain "field 'PATH'", e.g. components[3].version.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>

#include "steward/inventory.h"
#include "steward/proto.h"
#include "steward/build_version.h" /* generated: CMakeLists.txt */

#define assert_contains(hay, needle)                                                       \
	do {                                                                               \
		const char *h_ = (hay), *n_ = (needle);                                    \
		if (!h_ || !strstr(h_, n_))                                                \
			fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_);    \
	} while (0)

/* BLAKE2b-256 of "{}" and of "", from Python's hashlib.blake2b(digest_size=32). */
#define H_BRACES "c09da522dac261c3d2566230bed10d2f3ef13f8e7654576c12e857e07f786098"
#define H_EMPTY "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
#define CID_HEX "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
#define CANON_VECTOR                                                                       \
	"steward-req-v1\nPOST\n/api/v1/checkin\n" CID_HEX "\n1764000000\n42\n" H_BRACES

static const uint8_t CID[PROTO_CLIENT_ID_BYTES] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
						    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
						    0xac, 0xad, 0xae, 0xaf};

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* ---- hashes and the canonical string -------------------------------------- */

static void test_hash_vector(void **state)
{
	uint8_t h[PROTO_HASH_BYTES];
	char hex[65];

	(void)state;
	proto_hash("{}", 2, h);
	hex_encode(h, sizeof(h), hex);
	assert_string_equal(hex, H_BRACES);
	proto_hash("", 0, h);
	hex_encode(h, sizeof(h), hex);
	assert_string_equal(hex, H_EMPTY);
}

static void test_canonical_exact(void **state)
{
	char out[PROTO_CANON_MAX];

	(void)state;
	assert_int_equal(proto_canonical("POST", "/api/v1/checkin", CID_HEX, 1764000000, 42, "{}", 2,
					 out, sizeof(out)),
			 0);
	assert_string_equal(out, CANON_VECTOR);
	/* before enrollment the client is "-"; no body hashes as empty */
	assert_int_equal(proto_canonical("POST", "/api/v1/enroll", "-", 5, 0, NULL, 0, out,
					 sizeof(out)),
			 0);
	assert_string_equal(out, "steward-req-v1\nPOST\n/api/v1/enroll\n-\n5\n0\n" H_EMPTY);
	/* a body pointer with length 0 is the empty body too */
	assert_int_equal(proto_canonical("GET", "/x", "-", -1, UINT64_MAX, "ignored", 0, out,
					 sizeof(out)),
			 0);
	assert_string_equal(out, "steward-req-v1\nGET\n/x\n-\n-1\n18446744073709551615\n" H_EMPTY);
	/* only the first body_len bytes count */
	assert_int_equal(proto_canonical("POST", "/api/v1/checkin", CID_HEX, 1764000000, 42,
					 "{}garbage", 2, out, sizeof(out)),
			 0);
	assert_string_equal(out, CANON_VECTOR);
}

static void test_canonical_too_long(void **state)
{
	char out[PROTO_CANON_MAX];
	char *path = repeat('p', PROTO_CANON_MAX);
	size_t want = strlen(CANON_VECTOR);

	(void)state;
	assert_int_equal(proto_canonical("POST", path, "-", 1, 1, "", 0, out, sizeof(out)),
			 -STEWARD_ETOOBIG);
	/* exactly fitting (len + NUL == outsz) is fine, one byte less is not */
	assert_int_equal(proto_canonical("POST", "/api/v1/checkin", CID_HEX, 1764000000, 42, "{}",
					 2, out, want + 1),
			 0);
	assert_int_equal(proto_canonical("POST", "/api/v1/checkin", CID_HEX, 1764000000, 42, "{}",
					 2, out, want),
			 -STEWARD_ETOOBIG);
	free(path);
}

/* ---- signatures -------------------------------------------------------------- */

static void canon(const char *path, const char *client, uint64_t seq, const char *body,
		  char out[PROTO_CANON_MAX])
{
	assert_int_equal(proto_canonical("POST", path, client, 1764000000, seq, body, strlen(body),
					 out, PROTO_CANON_MAX),
			 0);
}

static void test_sign_verify(void **state)
{
	struct proto_keypair kp, other;
	char c[PROTO_CANON_MAX], t[PROTO_CANON_MAX], sig[96], bad[96];

	(void)state;
	assert_int_equal(proto_keypair_new(&kp), 0);
	assert_int_equal(proto_keypair_new(&other), 0);
	canon("/api/v1/checkin", CID_HEX, 42, "{\"a\":1}", c);
	proto_sign(&kp, c, sig);
	assert_int_equal(strlen(sig), 88);
	assert_int_equal(proto_verify(kp.pk, c, sig), 0);

	/* every covered field, changed, breaks the signature */
	canon("/api/v1/checkin", CID_HEX, 42, "{\"a\":2}", t); /* body */
	assert_int_equal(proto_verify(kp.pk, t, sig), -STEWARD_EAUTH);
	canon("/api/v1/checkin", CID_HEX, 43, "{\"a\":1}", t); /* seq */
	assert_int_equal(proto_verify(kp.pk, t, sig), -STEWARD_EAUTH);
	canon("/api/v1/session", CID_HEX, 42, "{\"a\":1}", t); /* path */
	assert_int_equal(proto_verify(kp.pk, t, sig), -STEWARD_EAUTH);
	canon("/api/v1/checkin", "b0a1a2a3a4a5a6a7a8a9aaabacadaeaf", 42, "{\"a\":1}", t); /* client */
	assert_int_equal(proto_verify(kp.pk, t, sig), -STEWARD_EAUTH);
	assert_int_equal(proto_canonical("PUT", "/api/v1/checkin", CID_HEX, 1764000000, 42,
					 "{\"a\":1}", 7, t, sizeof(t)),
			 0); /* method */
	assert_int_equal(proto_verify(kp.pk, t, sig), -STEWARD_EAUTH);
	assert_int_equal(proto_canonical("POST", "/api/v1/checkin", CID_HEX, 1764000001, 42,
					 "{\"a\":1}", 7, t, sizeof(t)),
			 0); /* timestamp */
	assert_int_equal(proto_verify(kp.pk, t, sig), -STEWARD_EAUTH);

	/* wrong key, damaged and malformed signatures */
	assert_int_equal(proto_verify(other.pk, c, sig), -STEWARD_EAUTH);
	memcpy(bad, sig, sizeof(bad));
	bad[10] = bad[10] == 'A' ? 'B' : 'A';
	assert_int_equal(proto_verify(kp.pk, c, bad), -STEWARD_EAUTH);
	assert_int_equal(proto_verify(kp.pk, c, NULL), -STEWARD_EAUTH);
	assert_int_equal(proto_verify(kp.pk, c, ""), -STEWARD_EAUTH);
	assert_int_equal(proto_verify(kp.pk, c, "not base64!"), -STEWARD_EAUTH);
	memcpy(bad, sig, sizeof(bad));
	bad[40] = '\0'; /* truncated */
	assert_int_equal(proto_verify(kp.pk, c, bad), -STEWARD_EAUTH);
	{
		char *longsig = repeat('A', 200);
		assert_int_equal(proto_verify(kp.pk, c, longsig), -STEWARD_EAUTH);
		free(longsig);
	}
}

static void test_keypair_file(void **state)
{
	char dir[] = "/tmp/steward-test-proto.XXXXXX", path[PATH_MAX];
	struct proto_keypair a, b;
	bool created = false;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/client.key", dir);
	assert_int_equal(proto_keypair_load_or_create(path, &a, &created), 0);
	assert_true(created);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, PROTO_SK_BYTES);
	assert_int_equal(proto_keypair_load_or_create(path, &b, &created), 0);
	assert_false(created);
	assert_memory_equal(a.pk, b.pk, PROTO_PK_BYTES);
	assert_memory_equal(a.sk, b.sk, PROTO_SK_BYTES);
	/* readable by others: refused */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(proto_keypair_load_or_create(path, &b, NULL), -STEWARD_EPERM);
	/* wrong size: refused */
	assert_int_equal(file_write_atomic(path, "short", 5, 0600), 0);
	assert_int_equal(proto_keypair_load_or_create(path, &b, NULL), -STEWARD_EINVAL);
	unlink(path);
	rmdir(dir);
}

/* ---- sessions and MACs ---------------------------------------------------------- */

static void test_session_key_vector(void **state)
{
	uint8_t secret[PROTO_SITE_SECRET_BYTES], key[PROTO_SESSION_KEY_BYTES];
	char hex[65];

	(void)state;
	for (int i = 0; i < PROTO_SITE_SECRET_BYTES; i++)
		secret[i] = (uint8_t)i;
	proto_session_key(secret, CID, 0x0102030405060708ULL, key);
	hex_encode(key, sizeof(key), hex);
	/* hashlib.blake2b(b"steward-session-v1" + cid + le64(epoch), key=secret,
	 * digest_size=32) */
	assert_string_equal(hex, "dc7138a0267f2c51aab1d8678fee7a4295f1052fe48f5de93a144d8a7601c6fe");
}

static void test_session_key_inputs(void **state)
{
	uint8_t secret[PROTO_SITE_SECRET_BYTES], secret2[PROTO_SITE_SECRET_BYTES];
	uint8_t cid2[PROTO_CLIENT_ID_BYTES];
	uint8_t k1[32], k2[32], k3[32], k4[32], k5[32];

	(void)state;
	rand_bytes(secret, sizeof(secret));
	memcpy(secret2, secret, sizeof(secret));
	secret2[31] ^= 1;
	memcpy(cid2, CID, sizeof(cid2));
	cid2[0] ^= 0x80;
	proto_session_key(secret, CID, 7, k1);
	proto_session_key(secret, CID, 7, k2);
	assert_memory_equal(k1, k2, 32); /* deterministic: the database holds no keys */
	proto_session_key(secret, CID, 8, k3);
	assert_memory_not_equal(k1, k3, 32);
	proto_session_key(secret, cid2, 7, k4);
	assert_memory_not_equal(k1, k4, 32);
	proto_session_key(secret2, CID, 7, k5);
	assert_memory_not_equal(k1, k5, 32);
	/* the epoch is 64-bit: a high bit makes a difference */
	proto_session_key(secret, CID, 7 | (1ULL << 63), k3);
	assert_memory_not_equal(k1, k3, 32);
}

static void test_mac(void **state)
{
	uint8_t secret[PROTO_SITE_SECRET_BYTES], key[32], key2[32];
	char mac[65], bad[65], t[PROTO_CANON_MAX];

	(void)state;
	for (int i = 0; i < PROTO_SITE_SECRET_BYTES; i++)
		secret[i] = (uint8_t)i;
	proto_session_key(secret, CID, 0x0102030405060708ULL, key);
	proto_mac(key, CANON_VECTOR, mac);
	assert_string_equal(mac, "1700596ab60a4aa038933ef509fa106417a68f1ef92c48e8996db3250183f568");
	assert_int_equal(proto_mac_verify(key, CANON_VECTOR, mac), 0);

	canon("/api/v1/checkin", CID_HEX, 43, "{}", t);
	assert_int_equal(proto_mac_verify(key, t, mac), -STEWARD_EAUTH);
	proto_session_key(secret, CID, 0x0102030405060709ULL, key2);
	assert_int_equal(proto_mac_verify(key2, CANON_VECTOR, mac), -STEWARD_EAUTH);
	memcpy(bad, mac, sizeof(bad));
	bad[63] = bad[63] == '0' ? '1' : '0';
	assert_int_equal(proto_mac_verify(key, CANON_VECTOR, bad), -STEWARD_EAUTH);
	assert_int_equal(proto_mac_verify(key, CANON_VECTOR, NULL), -STEWARD_EAUTH);
	assert_int_equal(proto_mac_verify(key, CANON_VECTOR, ""), -STEWARD_EAUTH);
	memcpy(bad, mac, sizeof(bad));
	bad[62] = '\0';
	assert_int_equal(proto_mac_verify(key, CANON_VECTOR, bad), -STEWARD_EAUTH);
	assert_int_equal(proto_mac_verify(key, CANON_VECTOR, "zz"), -STEWARD_EAUTH);
}

static void test_seal_open(void **state)
{
	struct proto_keypair kp, other;
	uint8_t key[32], got[32];
	char *sealed = NULL, *sealed2 = NULL;

	(void)state;
	assert_int_equal(proto_keypair_new(&kp), 0);
	assert_int_equal(proto_keypair_new(&other), 0);
	rand_bytes(key, sizeof(key));
	assert_int_equal(proto_seal_session_key(kp.pk, key, &sealed), 0);
	assert_non_null(sealed);
	assert_int_equal(proto_open_session_key(&kp, sealed, got), 0);
	assert_memory_equal(key, got, 32);
	/* sealing is randomised: the same key seals differently each time */
	assert_int_equal(proto_seal_session_key(kp.pk, key, &sealed2), 0);
	assert_string_not_equal(sealed, sealed2);
	assert_int_equal(proto_open_session_key(&kp, sealed2, got), 0);
	assert_memory_equal(key, got, 32);

	assert_int_equal(proto_open_session_key(&other, sealed, got), -STEWARD_EAUTH);
	{
		/* a flipped byte fails authentication */
		uint8_t raw[PROTO_SEALED_KEY_BYTES];
		char *tampered;
		assert_int_equal(b64_decode(sealed, raw, sizeof(raw)), PROTO_SEALED_KEY_BYTES);
		raw[PROTO_SEALED_KEY_BYTES - 1] ^= 1;
		tampered = b64_encode_new(raw, sizeof(raw));
		assert_int_equal(proto_open_session_key(&kp, tampered, got), -STEWARD_EAUTH);
		free(tampered);
		/* the wrong length is malformed, not a failed authentication */
		tampered = b64_encode_new(raw, sizeof(raw) - 1);
		assert_int_equal(proto_open_session_key(&kp, tampered, got), -STEWARD_EINVAL);
		free(tampered);
	}
	assert_int_equal(proto_open_session_key(&kp, NULL, got), -STEWARD_EINVAL);
	assert_int_equal(proto_open_session_key(&kp, "@@@@", got), -STEWARD_EINVAL);
	free(sealed);
	free(sealed2);
}

/* ---- proto_auth_build --------------------------------------------------------- */

static const char *header(const struct proto_auth *a, const char *name)
{
	size_t n = strlen(name);

	for (int i = 0; a->list[i]; i++)
		if (strncmp(a->list[i], name, n) == 0 && a->list[i][n] == ':')
			return a->list[i] + n + 2;
	return NULL;
}

static int count_headers(const struct proto_auth *a)
{
	int n = 0;

	while (a->list[n])
		n++;
	return n;
}

static void test_auth_build_signature(void **state)
{
	struct proto_auth a;
	struct proto_keypair kp;
	char c[PROTO_CANON_MAX], range[24];
	struct proto_range self = proto_self_range();
	const char *body = "{\"x\":1}";

	(void)state;
	assert_int_equal(proto_keypair_new(&kp), 0);
	memset(&a, 0x5a, sizeof(a));
	assert_int_equal(proto_auth_build(&a, "POST", "/api/v1/session", CID_HEX, 1764000000, 9,
					  body, strlen(body), &kp, NULL, 0),
			 0);
	proto_range_format(&self, range);
	assert_int_equal(count_headers(&a), 7);
	assert_string_equal(header(&a, PROTO_H_VERSION), proto_self_version());
	assert_string_equal(header(&a, PROTO_H_PROTOCOL), range);
	assert_string_equal(header(&a, PROTO_H_CLIENT), CID_HEX);
	assert_string_equal(header(&a, PROTO_H_TIMESTAMP), "1764000000");
	assert_string_equal(header(&a, PROTO_H_SEQ), "9");
	assert_string_equal(header(&a, "Content-Type"), "application/json");
	assert_null(header(&a, PROTO_H_MAC));
	assert_null(header(&a, PROTO_H_SESSION));
	assert_non_null(header(&a, PROTO_H_SIGNATURE));
	assert_null(a.list[8]); /* the spare slot is NULL too */
	assert_int_equal(proto_canonical("POST", "/api/v1/session", CID_HEX, 1764000000, 9, body,
					 strlen(body), c, sizeof(c)),
			 0);
	assert_int_equal(proto_verify(kp.pk, c, header(&a, PROTO_H_SIGNATURE)), 0);
}

static void test_auth_build_mac(void **state)
{
	struct proto_auth a;
	struct proto_keypair kp;
	uint8_t key[32];
	char c[PROTO_CANON_MAX];

	(void)state;
	assert_int_equal(proto_keypair_new(&kp), 0);
	rand_bytes(key, sizeof(key));
	/* with a session key the MAC wins even when a key pair is given */
	assert_int_equal(proto_auth_build(&a, "POST", "/api/v1/checkin", CID_HEX, 1764000000,
					  123456789012345ULL, "{}", 2, &kp, key, 77),
			 0);
	assert_int_equal(count_headers(&a), 8);
	assert_null(header(&a, PROTO_H_SIGNATURE));
	assert_string_equal(header(&a, PROTO_H_SESSION), "77");
	assert_string_equal(header(&a, PROTO_H_SEQ), "123456789012345");
	assert_int_equal(strlen(header(&a, PROTO_H_MAC)), 64);
	assert_int_equal(proto_canonical("POST", "/api/v1/checkin", CID_HEX, 1764000000,
					 123456789012345ULL, "{}", 2, c, sizeof(c)),
			 0);
	assert_int_equal(proto_mac_verify(key, c, header(&a, PROTO_H_MAC)), 0);
	assert_null(a.list[8]);
	assert_null(a.list[9]);
	/* neither a key pair nor a session key: nothing to authenticate with */
	assert_int_equal(proto_auth_build(&a, "POST", "/x", CID_HEX, 1, 1, "", 0, NULL, NULL, 0),
			 -STEWARD_EINVAL);
}

/* ---- versions ------------------------------------------------------------------- */

static void test_range_parse(void **state)
{
	static const char *const bad[] = {"",    "0",   "0-1", "3-1",    "1-",    "-1",
					  "a",   "1-2-3", "1 - 2", " 1", "1 ", "1-a",
					  "100001", "1-100001", "+1", "1.0"};
	struct proto_range r = {0, 0};
	char out[24];

	(void)state;
	assert_int_equal(proto_range_parse("1-3", &r), 0);
	assert_int_equal(r.min, 1);
	assert_int_equal(r.max, 3);
	assert_int_equal(proto_range_parse("2", &r), 0);
	assert_int_equal(r.min, 2);
	assert_int_equal(r.max, 2);
	assert_int_equal(proto_range_parse("4-4", &r), 0);
	assert_int_equal(proto_range_parse("1-100000", &r), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.min = r.max = 99;
		if (proto_range_parse(bad[i], &r) != -STEWARD_EINVAL)
			fail_msg("range '%s' was accepted", bad[i]);
		assert_int_equal(r.min, 99);
	}
	assert_int_equal(proto_range_parse(NULL, &r), -STEWARD_EINVAL);
	r.min = 1;
	r.max = 3;
	proto_range_format(&r, out);
	assert_string_equal(out, "1-3");
	r.min = r.max = 2;
	proto_range_format(&r, out);
	assert_string_equal(out, "2-2");
}

static void test_negotiate(void **state)
{
	struct proto_range a = {1, 3}, b = {2, 5}, c = {4, 6}, d = {3, 3};
	struct proto_range self = proto_self_range();

	(void)state;
	assert_int_equal(proto_negotiate(&a, &b), 3);
	assert_int_equal(proto_negotiate(&b, &a), 3);
	assert_int_equal(proto_negotiate(&a, &c), -1);
	assert_int_equal(proto_negotiate(&a, &d), 3); /* touching at one end */
	assert_int_equal(proto_negotiate(&b, &c), 5);
	assert_int_equal(proto_negotiate(&self, &self), self.max);
	assert_int_equal(self.min, STEWARD_PROTO_MIN);
	assert_int_equal(self.max, STEWARD_PROTO_MAX);
	assert_string_equal(proto_self_version(), STEWARD_VERSION);
}

static void test_semver(void **state)
{
	static const char *const bad[] = {"",      "1",     "1.2",   "1.2.3.4", "1.2.x", "v1.2.3",
					  "1.2.3-rc1", "1..3", ".1.2", "1.2.", "1.2.3 ", " 1.2.3",
					  "1.2.-3", "1.2.100001"};
	int ma = -1, mi = -1, pa = -1;

	(void)state;
	assert_int_equal(proto_semver_parse("0.1.0", &ma, &mi, &pa), 0);
	assert_int_equal(ma, 0);
	assert_int_equal(mi, 1);
	assert_int_equal(pa, 0);
	assert_int_equal(proto_semver_parse("12.34.56", &ma, &mi, &pa), 0);
	assert_int_equal(ma * 10000 + mi * 100 + pa, 123456);
	assert_int_equal(proto_semver_parse(proto_self_version(), &ma, &mi, &pa), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (proto_semver_parse(bad[i], &ma, &mi, &pa) != -STEWARD_EINVAL)
			fail_msg("version '%s' was accepted", bad[i]);
	assert_int_equal(proto_semver_parse(NULL, &ma, &mi, &pa), -STEWARD_EINVAL);

	assert_true(proto_semver_cmp("1.2.10", "1.2.9") > 0);
	assert_true(proto_semver_cmp("1.2.9", "1.2.10") < 0);
	assert_true(proto_semver_cmp("2.0.0", "1.99.99") > 0);
	assert_true(proto_semver_cmp("1.10.0", "1.9.99") > 0);
	assert_int_equal(proto_semver_cmp("1.2.3", "1.2.3"), 0);
	/* unparseable versions sort first, and equal to each other */
	assert_true(proto_semver_cmp("junk", "0.0.0") < 0);
	assert_true(proto_semver_cmp("0.0.0", "junk") > 0);
	assert_int_equal(proto_semver_cmp("junk", "other junk"), 0);
	assert_true(proto_semver_cmp(NULL, "0.0.1") < 0);
}

static void test_ids(void **state)
{
	(void)state;
	assert_true(proto_client_id_valid(CID_HEX));
	assert_true(proto_client_id_valid("0123456789abcdef0123456789abcdef"));
	assert_false(proto_client_id_valid("0123456789ABCDEF0123456789abcdef")); /* upper case */
	assert_false(proto_client_id_valid("0123456789abcdef0123456789abcde"));  /* 31 */
	assert_false(proto_client_id_valid("0123456789abcdef0123456789abcdef0")); /* 33 */
	assert_false(proto_client_id_valid("0123456789abcdef0123456789abcdeg"));
	assert_false(proto_client_id_valid("-"));
	assert_false(proto_client_id_valid(""));
	assert_false(proto_client_id_valid(NULL));

	assert_true(proto_site_code_valid("ABC"));
	assert_true(proto_site_code_valid("T01"));
	assert_true(proto_site_code_valid("999"));
	assert_false(proto_site_code_valid("abc"));
	assert_false(proto_site_code_valid("AB"));
	assert_false(proto_site_code_valid("ABCD"));
	assert_false(proto_site_code_valid("A-C"));
	assert_false(proto_site_code_valid("A C"));
	assert_false(proto_site_code_valid(""));
	assert_false(proto_site_code_valid(NULL));
}

/* ---- JSON documents: a base example and a mutator -------------------------------- */

/* The examples of docs/internals/protocol.md, with a real base64 key. */
#define PK_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
static const char ENROLL_DOC[] =
    "{\"token\": \"ABCD0123\", \"public_key\": \"" PK_B64 "\", \"hostname\": \"web01\",\n"
    " \"addresses\": [\"10.1.2.3\", \"fe80::1\"], \"os\": {\"name\": \"Debian GNU/Linux\", "
    "\"version\": \"12\"},\n"
    " \"agent_version\": \"0.1.0\", \"protocol\": {\"min\": 1, \"max\": 1}}";
static const char CHECKIN_DOC[] =
    "{\"agent_version\": \"0.1.0\", \"protocol\": {\"min\": 1, \"max\": 1},\n"
    " \"components\": [{\"name\": \"base\", \"version\": \"0.1.0\"}],\n"
    " \"status\": [{\"type\": \"agent_started\", \"text\": \"...\", \"time\": 1764000000}],\n"
    " \"uptime\": 12345, \"inventory_hash\": \"\"}";

/* Walk "a.b[3].c" to the container of the last segment. */
static json_t *walk(json_t *root, const char *path, char *last, size_t lastsz)
{
	char seg[128];
	json_t *cur = root;
	const char *p = path;

	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		char *br;
		assert_true(n < sizeof(seg));
		memcpy(seg, p, n);
		seg[n] = '\0';
		if (!dot) {
			assert_true(n < lastsz);
			memcpy(last, seg, n + 1);
			return cur;
		}
		br = strchr(seg, '[');
		if (br)
			*br = '\0';
		cur = json_object_get(cur, seg);
		if (br)
			cur = json_array_get(cur, strtoul(br + 1, NULL, 10));
		assert_non_null(cur);
		p = dot + 1;
	}
}

/* Return base with PATH set to v (stolen), or removed when v is NULL. */
static char *doc_set(const char *base, const char *path, json_t *v)
{
	json_t *root = json_loads(base, 0, NULL), *obj;
	char last[128], *out;

	assert_non_null(root);
	obj = walk(root, path, last, sizeof(last));
	if (v)
		assert_int_equal(json_object_set_new(obj, last, v), 0);
	else
		json_object_del(obj, last);
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	assert_non_null(out);
	return out;
}

static json_t *str_of(char ch, size_t n)
{
	char *s = repeat(ch, n);
	json_t *j = json_string(s);

	free(s);
	return j;
}

static json_t *array_of(size_t n, json_t *(*make)(size_t i))
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, make(i));
	return a;
}

static json_t *make_addr(size_t i)
{
	char s[32];

	snprintf(s, sizeof(s), "10.0.0.%zu", i);
	return json_string(s);
}

static json_t *make_component(size_t i)
{
	char s[32];

	snprintf(s, sizeof(s), "comp%zu", i);
	return json_pack("{s:s,s:s}", "name", s, "version", "1.0.0");
}

static json_t *make_status(size_t i)
{
	return json_pack("{s:s,s:s,s:I}", "type", "t", "text", "x", "time", (json_int_t)(1000 + i));
}

/* Parse and expect a refusal naming `field`. Frees body. */
static void refused_enroll(char *body, const char *field)
{
	struct proto_enroll_req r;
	struct steward_err err;
	char want[160];

	memset(&err, 0, sizeof(err));
	if (proto_enroll_req_parse(body, strlen(body), &r, &err) != -STEWARD_EINVAL)
		fail_msg("enroll accepted, expected a refusal of %s: %s", field, body);
	assert_string_equal(err.code, "bad_request");
	assert_true(err.remedy[0] != '\0');
	snprintf(want, sizeof(want), "field '%s'", field);
	assert_contains(err.message, want);
	free(body);
}

static void accepted_enroll(char *body, struct proto_enroll_req *r)
{
	struct steward_err err;

	memset(&err, 0, sizeof(err));
	if (proto_enroll_req_parse(body, strlen(body), r, &err) != 0)
		fail_msg("enroll refused: %s (%s)", err.message, body);
	free(body);
}

static void refused_checkin(char *body, const char *field)
{
	struct proto_checkin_req *r = malloc(sizeof(*r));
	struct steward_err err;
	char want[160];

	assert_non_null(r);
	memset(&err, 0, sizeof(err));
	if (proto_checkin_req_parse(body, strlen(body), r, &err) != -STEWARD_EINVAL)
		fail_msg("check-in accepted, expected a refusal of %s: %.300s", field, body);
	assert_string_equal(err.code, "bad_request");
	assert_true(err.remedy[0] != '\0');
	snprintf(want, sizeof(want), "field '%s'", field);
	assert_contains(err.message, want);
	free(body);
	free(r);
}

static void accepted_checkin(char *body, struct proto_checkin_req *r)
{
	struct steward_err err;

	memset(&err, 0, sizeof(err));
	if (proto_checkin_req_parse(body, strlen(body), r, &err) != 0)
		fail_msg("check-in refused: %s (%.300s)", err.message, body);
	free(body);
}

/* ---- enrollment ------------------------------------------------------------------ */

static void test_enroll_docs_example(void **state)
{
	struct proto_enroll_req r;
	struct steward_err err;
	uint8_t pk[32];

	(void)state;
	for (int i = 0; i < 32; i++)
		pk[i] = (uint8_t)i;
	assert_int_equal(proto_enroll_req_parse(ENROLL_DOC, strlen(ENROLL_DOC), &r, &err), 0);
	assert_string_equal(r.token, "ABCD0123");
	assert_memory_equal(r.public_key, pk, 32);
	assert_string_equal(r.hostname, "web01");
	assert_int_equal(r.n_addrs, 2);
	assert_string_equal(r.addrs[0], "10.1.2.3");
	assert_string_equal(r.addrs[1], "fe80::1");
	assert_string_equal(r.os_name, "Debian GNU/Linux");
	assert_string_equal(r.os_version, "12");
	assert_string_equal(r.agent_version, "0.1.0");
	assert_int_equal(r.protocol.min, 1);
	assert_int_equal(r.protocol.max, 1);
}

static void test_enroll_optional_fields(void **state)
{
	struct proto_enroll_req r;
	char *b;

	(void)state;
	b = doc_set(ENROLL_DOC, "os", NULL);
	{
		char *b2 = doc_set(b, "addresses", NULL);
		free(b);
		accepted_enroll(b2, &r);
	}
	assert_int_equal(r.n_addrs, 0);
	assert_string_equal(r.os_name, "");
	accepted_enroll(doc_set(ENROLL_DOC, "os.name", json_null()), &r);
	assert_string_equal(r.os_name, "");
	assert_string_equal(r.os_version, "12");
	accepted_enroll(doc_set(ENROLL_DOC, "addresses", json_array()), &r);
	assert_int_equal(r.n_addrs, 0);
}

static void test_enroll_build_round_trip(void **state)
{
	struct proto_enroll_req a, b;
	struct steward_err err;
	char *body;

	(void)state;
	assert_int_equal(proto_enroll_req_parse(ENROLL_DOC, strlen(ENROLL_DOC), &a, &err), 0);
	body = proto_enroll_req_build(&a);
	assert_non_null(body);
	assert_int_equal(proto_enroll_req_parse(body, strlen(body), &b, &err), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	free(body);
}

static void test_enroll_refusals(void **state)
{
	(void)state;
	refused_enroll(doc_set(ENROLL_DOC, "token", NULL), "token");
	refused_enroll(doc_set(ENROLL_DOC, "token", json_integer(5)), "token");
	refused_enroll(doc_set(ENROLL_DOC, "token", json_string("a\tb")), "token");
	refused_enroll(doc_set(ENROLL_DOC, "public_key", NULL), "public_key");
	refused_enroll(doc_set(ENROLL_DOC, "public_key", json_string("not base64!")), "public_key");
	/* 31 and 33 bytes */
	refused_enroll(doc_set(ENROLL_DOC, "public_key",
			       json_string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==")),
		       "public_key");
	refused_enroll(doc_set(ENROLL_DOC, "public_key",
			       json_string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g")),
		       "public_key");
	refused_enroll(doc_set(ENROLL_DOC, "public_key", str_of('A', 200)), "public_key");
	refused_enroll(doc_set(ENROLL_DOC, "hostname", NULL), "hostname");
	refused_enroll(doc_set(ENROLL_DOC, "hostname", json_string("")), "hostname");
	refused_enroll(doc_set(ENROLL_DOC, "hostname", json_string("web\n01")), "hostname");
	refused_enroll(doc_set(ENROLL_DOC, "hostname", json_true()), "hostname");
	refused_enroll(doc_set(ENROLL_DOC, "agent_version", NULL), "agent_version");
	refused_enroll(doc_set(ENROLL_DOC, "agent_version", json_integer(1)), "agent_version");
	refused_enroll(doc_set(ENROLL_DOC, "protocol", NULL), "protocol");
	refused_enroll(doc_set(ENROLL_DOC, "protocol", json_string("1-1")), "protocol");
	refused_enroll(doc_set(ENROLL_DOC, "protocol.min", NULL), "protocol.min");
	refused_enroll(doc_set(ENROLL_DOC, "protocol.min", json_integer(0)), "protocol.min");
	refused_enroll(doc_set(ENROLL_DOC, "protocol.min", json_real(1.0)), "protocol.min");
	refused_enroll(doc_set(ENROLL_DOC, "protocol.max", json_integer(65536)), "protocol.max");
	refused_enroll(doc_set(ENROLL_DOC, "protocol.max", json_string("1")), "protocol.max");
	{
		char *b = doc_set(ENROLL_DOC, "protocol.min", json_integer(3));
		refused_enroll(doc_set(b, "protocol.max", json_integer(2)), "protocol");
		free(b);
	}
	refused_enroll(doc_set(ENROLL_DOC, "os", json_string("linux")), "os");
	refused_enroll(doc_set(ENROLL_DOC, "os.name", json_integer(1)), "os.name");
	refused_enroll(doc_set(ENROLL_DOC, "os.version", json_array()), "os.version");
	refused_enroll(doc_set(ENROLL_DOC, "os.version", json_string("12\x1b[0m")), "os.version");
	refused_enroll(doc_set(ENROLL_DOC, "addresses", json_string("10.1.2.3")), "addresses");
	refused_enroll(doc_set(ENROLL_DOC, "addresses", json_pack("[s,i]", "10.0.0.1", 5)),
		       "addresses");
	refused_enroll(doc_set(ENROLL_DOC, "addresses", json_pack("[s]", "10.0.0.1\n")),
		       "addresses");
}

static void test_enroll_caps(void **state)
{
	struct proto_enroll_req r;

	(void)state;
	accepted_enroll(doc_set(ENROLL_DOC, "token", str_of('t', PROTO_TOKEN_MAX)), &r);
	assert_int_equal(strlen(r.token), PROTO_TOKEN_MAX);
	refused_enroll(doc_set(ENROLL_DOC, "token", str_of('t', PROTO_TOKEN_MAX + 1)), "token");

	accepted_enroll(doc_set(ENROLL_DOC, "hostname", str_of('h', PROTO_HOSTNAME_MAX)), &r);
	assert_int_equal(strlen(r.hostname), PROTO_HOSTNAME_MAX);
	refused_enroll(doc_set(ENROLL_DOC, "hostname", str_of('h', PROTO_HOSTNAME_MAX + 1)),
		       "hostname");

	accepted_enroll(doc_set(ENROLL_DOC, "agent_version", str_of('1', PROTO_VERSION_MAX)), &r);
	refused_enroll(doc_set(ENROLL_DOC, "agent_version", str_of('1', PROTO_VERSION_MAX + 1)),
		       "agent_version");

	accepted_enroll(doc_set(ENROLL_DOC, "os.name", str_of('n', PROTO_OS_FIELD_MAX)), &r);
	assert_int_equal(strlen(r.os_name), PROTO_OS_FIELD_MAX);
	refused_enroll(doc_set(ENROLL_DOC, "os.name", str_of('n', PROTO_OS_FIELD_MAX + 1)),
		       "os.name");
	accepted_enroll(doc_set(ENROLL_DOC, "os.version", str_of('v', PROTO_OS_FIELD_MAX)), &r);
	refused_enroll(doc_set(ENROLL_DOC, "os.version", str_of('v', PROTO_OS_FIELD_MAX + 1)),
		       "os.version");

	accepted_enroll(doc_set(ENROLL_DOC, "addresses", array_of(PROTO_ADDRS_MAX, make_addr)), &r);
	assert_int_equal(r.n_addrs, PROTO_ADDRS_MAX);
	assert_string_equal(r.addrs[PROTO_ADDRS_MAX - 1], "10.0.0.31");
	refused_enroll(doc_set(ENROLL_DOC, "addresses", array_of(PROTO_ADDRS_MAX + 1, make_addr)),
		       "addresses");
	{
		json_t *a = json_array();
		json_array_append_new(a, str_of('a', PROTO_ADDR_MAX));
		accepted_enroll(doc_set(ENROLL_DOC, "addresses", a), &r);
		assert_int_equal(strlen(r.addrs[0]), PROTO_ADDR_MAX);
		a = json_array();
		json_array_append_new(a, json_string("10.0.0.1"));
		json_array_append_new(a, str_of('a', PROTO_ADDR_MAX + 1));
		refused_enroll(doc_set(ENROLL_DOC, "addresses", a), "addresses");
	}
	accepted_enroll(doc_set(ENROLL_DOC, "protocol.max", json_integer(65535)), &r);
	assert_int_equal(r.protocol.max, 65535);
}

static void test_malformed_bodies(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "[]",
	    "\"x\"",
	    "null",
	    "{\"token\":\"a\",\"token\":\"b\"}", /* duplicate keys */
	    "{} {}",                             /* trailing garbage */
	};
	struct proto_enroll_req r;
	struct proto_checkin_req *c = malloc(sizeof(*c));
	struct steward_err err;

	(void)state;
	assert_non_null(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (proto_enroll_req_parse(bad[i], strlen(bad[i]), &r, &err) != -STEWARD_EINVAL)
			fail_msg("enroll body accepted: %s", bad[i]);
		assert_string_equal(err.code, "bad_request");
		assert_true(err.message[0] != '\0');
		memset(&err, 0, sizeof(err));
		if (proto_checkin_req_parse(bad[i], strlen(bad[i]), c, &err) != -STEWARD_EINVAL)
			fail_msg("check-in body accepted: %s", bad[i]);
		assert_string_equal(err.code, "bad_request");
	}
	/* an embedded NUL never reaches a field: JSON refuses \u0000 */
	{
		char *b = doc_set(ENROLL_DOC, "hostname", json_stringn("web\0" "01", 6));
		assert_int_equal(proto_enroll_req_parse(b, strlen(b), &r, &err), -STEWARD_EINVAL);
		assert_contains(err.message, "malformed JSON");
		free(b);
		b = doc_set(CHECKIN_DOC, "status[0].text", json_stringn("a\0b", 3));
		assert_int_equal(proto_checkin_req_parse(b, strlen(b), c, &err), -STEWARD_EINVAL);
		assert_contains(err.message, "malformed JSON");
		free(b);
	}
	/* the length is honoured: a valid document cut short is malformed */
	assert_int_equal(proto_enroll_req_parse(ENROLL_DOC, strlen(ENROLL_DOC) - 1, &r, &err),
			 -STEWARD_EINVAL);
	assert_contains(err.message, "malformed JSON");
	/* err may be NULL */
	assert_int_equal(proto_enroll_req_parse("{", 1, &r, NULL), -STEWARD_EINVAL);
	assert_int_equal(proto_checkin_req_parse("{}", 2, c, NULL), -STEWARD_EINVAL);
	free(c);
}

/* ---- check-in -------------------------------------------------------------------- */

static void test_checkin_docs_example(void **state)
{
	struct proto_checkin_req *r = malloc(sizeof(*r));
	struct steward_err err;

	(void)state;
	assert_non_null(r);
	assert_int_equal(proto_checkin_req_parse(CHECKIN_DOC, strlen(CHECKIN_DOC), r, &err), 0);
	assert_string_equal(r->agent_version, "0.1.0");
	assert_int_equal(r->protocol.min, 1);
	assert_int_equal(r->n_components, 1);
	assert_string_equal(r->components[0].name, "base");
	assert_string_equal(r->components[0].version, "0.1.0");
	assert_int_equal(r->n_status, 1);
	assert_string_equal(r->status[0].type, "agent_started");
	assert_string_equal(r->status[0].text, "...");
	assert_int_equal(r->status[0].time, 1764000000);
	assert_int_equal(r->uptime, 12345);
	assert_string_equal(r->inventory_hash, "");
	/* the minimum: version and protocol */
	accepted_checkin(strdup("{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":2}}"),
			 r);
	assert_int_equal(r->n_components, 0);
	assert_int_equal(r->n_status, 0);
	assert_int_equal(r->uptime, 0);
	/* status text may hold newlines (it is not a header) and may be absent */
	accepted_checkin(doc_set(CHECKIN_DOC, "status[0].text", json_string("line 1\nline 2\t!")), r);
	assert_string_equal(r->status[0].text, "line 1\nline 2\t!");
	accepted_checkin(doc_set(CHECKIN_DOC, "status[0].text", NULL), r);
	assert_string_equal(r->status[0].text, "");
	free(r);
}

static void test_checkin_build_round_trip(void **state)
{
	struct proto_checkin_req *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct steward_err err;
	char *body;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(proto_checkin_req_parse(CHECKIN_DOC, strlen(CHECKIN_DOC), a, &err), 0);
	snprintf(a->inventory_hash, sizeof(a->inventory_hash), "%s", H_EMPTY);
	a->n_components = 2;
	snprintf(a->components[1].name, sizeof(a->components[1].name), "inventory");
	snprintf(a->components[1].version, sizeof(a->components[1].version), "0.2.0");
	body = proto_checkin_req_build(a);
	assert_non_null(body);
	assert_int_equal(proto_checkin_req_parse(body, strlen(body), b, &err), 0);
	assert_string_equal(b->inventory_hash, H_EMPTY);
	assert_int_equal(b->n_components, 2);
	assert_string_equal(b->components[1].name, "inventory");
	assert_int_equal(b->n_status, 1);
	assert_string_equal(b->status[0].text, a->status[0].text);
	assert_int_equal(b->uptime, a->uptime);
	free(body);
	free(a);
	free(b);
}

static void test_checkin_refusals(void **state)
{
	(void)state;
	refused_checkin(doc_set(CHECKIN_DOC, "agent_version", NULL), "agent_version");
	refused_checkin(doc_set(CHECKIN_DOC, "protocol", NULL), "protocol");
	refused_checkin(doc_set(CHECKIN_DOC, "protocol", json_null()), "protocol");
	refused_checkin(doc_set(CHECKIN_DOC, "protocol.max", json_integer(-1)), "protocol.max");
	refused_checkin(doc_set(CHECKIN_DOC, "components", json_object()), "components");
	refused_checkin(doc_set(CHECKIN_DOC, "components", json_pack("[s]", "base")), "components");
	refused_checkin(doc_set(CHECKIN_DOC, "components[0].name", NULL), "components[0].name");
	refused_checkin(doc_set(CHECKIN_DOC, "components[0].version", json_integer(1)),
			"components[0].version");
	{
		/* the index in the message is the failing element's */
		char *b = doc_set(CHECKIN_DOC, "components", array_of(5, make_component));
		refused_checkin(doc_set(b, "components[3].version", str_of('9', 33)),
				"components[3].version");
		refused_checkin(doc_set(b, "components[4].name", json_string("a\x01")),
				"components[4].name");
		free(b);
	}
	refused_checkin(doc_set(CHECKIN_DOC, "status", json_string("ok")), "status");
	refused_checkin(doc_set(CHECKIN_DOC, "status", json_pack("[i]", 1)), "status");
	refused_checkin(doc_set(CHECKIN_DOC, "status[0].type", NULL), "status[0].type");
	refused_checkin(doc_set(CHECKIN_DOC, "status[0].type", json_string("a\nb")), "status[0].type");
	refused_checkin(doc_set(CHECKIN_DOC, "status[0].text", json_integer(3)), "status[0].text");
	refused_checkin(doc_set(CHECKIN_DOC, "status[0].time", NULL), "status[0].time");
	refused_checkin(doc_set(CHECKIN_DOC, "status[0].time", json_integer(-1)), "status[0].time");
	refused_checkin(doc_set(CHECKIN_DOC, "status[0].time", json_string("now")), "status[0].time");
	{
		char *b = doc_set(CHECKIN_DOC, "status", array_of(8, make_status));
		refused_checkin(doc_set(b, "status[6].time", json_real(1.5)), "status[6].time");
		refused_checkin(doc_set(b, "status[7].type", json_integer(7)), "status[7].type");
		free(b);
	}
	refused_checkin(doc_set(CHECKIN_DOC, "uptime", json_integer(-1)), "uptime");
	refused_checkin(doc_set(CHECKIN_DOC, "uptime", json_string("12")), "uptime");
	refused_checkin(doc_set(CHECKIN_DOC, "inventory_hash", json_integer(0)), "inventory_hash");
	refused_checkin(doc_set(CHECKIN_DOC, "inventory_hash", json_string("ab\ncd")),
			"inventory_hash");
	/* the link the agent measured */
	refused_checkin(doc_set(CHECKIN_DOC, "link", json_string("slow")), "link");
	refused_checkin(doc_set(CHECKIN_DOC, "link", json_pack("{s:i}", "kbps", -1)), "link.kbps");
	refused_checkin(doc_set(CHECKIN_DOC, "link", json_pack("{s:I}", "kbps", (json_int_t)1e12)),
			"link.kbps");
	refused_checkin(doc_set(CHECKIN_DOC, "link", json_pack("{s:i}", "rtt_ms", 600001)),
			"link.rtt_ms");
	refused_checkin(doc_set(CHECKIN_DOC, "link", json_pack("{s:s}", "age", "old")), "link.age");
	refused_checkin(doc_set(CHECKIN_DOC, "link", json_pack("{s:i}", "metered", 1)),
			"link.metered");
	refused_checkin(doc_set(CHECKIN_DOC, "link", json_pack("{s:s}", "via", "a\nb")), "link.via");
}

static void test_checkin_link(void **state)
{
	struct proto_checkin_req *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct steward_err err;
	char *body;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	/* absent: not present */
	assert_int_equal(proto_checkin_req_parse(CHECKIN_DOC, strlen(CHECKIN_DOC), a, &err), 0);
	assert_false(a->link.present);
	a->link = (struct proto_link_report){
	    .present = true, .kbps = 48, .rtt_ms = 612, .age = 30, .metered = true};
	snprintf(a->link.via, sizeof(a->link.via), "probe");
	body = proto_checkin_req_build(a);
	assert_non_null(body);
	assert_int_equal(proto_checkin_req_parse(body, strlen(body), b, &err), 0);
	assert_true(b->link.present);
	assert_int_equal(b->link.kbps, 48);
	assert_int_equal(b->link.rtt_ms, 612);
	assert_int_equal(b->link.age, 30);
	assert_true(b->link.metered);
	assert_string_equal(b->link.via, "probe");
	free(body);
	/* the same struct parsed again without a link forgets the old one */
	assert_int_equal(proto_checkin_req_parse(CHECKIN_DOC, strlen(CHECKIN_DOC), b, &err), 0);
	assert_false(b->link.present);
	free(a);
	free(b);
}

static void test_checkin_caps(void **state)
{
	struct proto_checkin_req *r = malloc(sizeof(*r));
	char *b;

	(void)state;
	assert_non_null(r);
	accepted_checkin(doc_set(CHECKIN_DOC, "components",
				 array_of(PROTO_COMPONENTS_MAX, make_component)),
			 r);
	assert_int_equal(r->n_components, PROTO_COMPONENTS_MAX);
	assert_string_equal(r->components[31].name, "comp31");
	refused_checkin(doc_set(CHECKIN_DOC, "components",
				array_of(PROTO_COMPONENTS_MAX + 1, make_component)),
			"components");

	accepted_checkin(doc_set(CHECKIN_DOC, "components[0].name",
				 str_of('n', PROTO_COMPONENT_NAME_MAX)),
			 r);
	refused_checkin(doc_set(CHECKIN_DOC, "components[0].name",
				str_of('n', PROTO_COMPONENT_NAME_MAX + 1)),
			"components[0].name");
	accepted_checkin(doc_set(CHECKIN_DOC, "components[0].version",
				 str_of('1', PROTO_VERSION_MAX)),
			 r);
	refused_checkin(doc_set(CHECKIN_DOC, "components[0].version",
				str_of('1', PROTO_VERSION_MAX + 1)),
			"components[0].version");

	accepted_checkin(doc_set(CHECKIN_DOC, "status", array_of(PROTO_STATUS_MAX, make_status)), r);
	assert_int_equal(r->n_status, PROTO_STATUS_MAX);
	assert_int_equal(r->status[63].time, 1063);
	refused_checkin(doc_set(CHECKIN_DOC, "status", array_of(PROTO_STATUS_MAX + 1, make_status)),
			"status");

	accepted_checkin(doc_set(CHECKIN_DOC, "status[0].type", str_of('t', PROTO_STATUS_TYPE_MAX)),
			 r);
	refused_checkin(doc_set(CHECKIN_DOC, "status[0].type",
				str_of('t', PROTO_STATUS_TYPE_MAX + 1)),
			"status[0].type");
	accepted_checkin(doc_set(CHECKIN_DOC, "status[0].text", str_of('x', PROTO_STATUS_TEXT_MAX)),
			 r);
	assert_int_equal(strlen(r->status[0].text), PROTO_STATUS_TEXT_MAX);
	refused_checkin(doc_set(CHECKIN_DOC, "status[0].text",
				str_of('x', PROTO_STATUS_TEXT_MAX + 1)),
			"status[0].text");
	accepted_checkin(doc_set(CHECKIN_DOC, "status[0].time", json_integer(253402300799LL)), r);
	refused_checkin(doc_set(CHECKIN_DOC, "status[0].time", json_integer(253402300800LL)),
			"status[0].time");
	accepted_checkin(doc_set(CHECKIN_DOC, "status[0].time", json_integer(0)), r);

	accepted_checkin(doc_set(CHECKIN_DOC, "uptime", json_integer(INT64_C(1) << 40)), r);
	assert_int_equal(r->uptime, INT64_C(1) << 40);
	refused_checkin(doc_set(CHECKIN_DOC, "uptime", json_integer((INT64_C(1) << 40) + 1)),
			"uptime");

	accepted_checkin(doc_set(CHECKIN_DOC, "inventory_hash", json_string(H_EMPTY)), r);
	assert_string_equal(r->inventory_hash, H_EMPTY);
	b = doc_set(CHECKIN_DOC, "inventory_hash", json_string(H_EMPTY "0"));
	refused_checkin(b, "inventory_hash");
	free(r);
}

/* A refusal after a successful parse must not leave stale entries counted. */
/* The one-pass scanner takes the bodies agents send and reads them as the
 * tree parser does; it leaves every other body to the tree parser. */
static void test_checkin_scan(void **state)
{
	static const struct {
		const char *body;
		bool scanned;
		int tree_rc;
	} cases[] = {
	    {CHECKIN_DOC, true, 0},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":2}}", true, 0},
	    {" {\r\n\t\"protocol\" : { \"max\" : 2 , \"min\" : 1 } , \"agent_version\" : \"0.1.0\" } \n",
	     true, 0},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1},\"status\":[{\"type\":"
	     "\"a\",\"text\":\"l1\\nl2\\t\\\"q\\\"\\\\\\/\",\"time\":0}],\"components\":[]}",
	     true, 0},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1},\"link\":{\"kbps\":"
	     "800,\"rtt_ms\":40,\"age\":3,\"metered\":true,\"via\":\"probe\"}}",
	     true, 0},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1},\"link\":{}}", true, 0},
	    /* accepted, but by the tree parser */
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1},\"extra\":1}", false, 0},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1},\"uptime\":null}", false,
	     0},
	    {"{\"agent_version\":\"0.1.\\u0030\",\"protocol\":{\"min\":1,\"max\":1}}", false, 0},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1},\"status\":[{\"type\":"
	     "\"a\",\"text\":\"caf\xc3\xa9\",\"time\":0}]}",
	     false, 0},
	    /* refused by the tree parser */
	    {"{\"agent_version\":\"0.1.0\",\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,"
	     "\"max\":1}}",
	     false, -STEWARD_EINVAL},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1}} x", false,
	     -STEWARD_EINVAL},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":01}}", false,
	     -STEWARD_EINVAL},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1.0}}", false,
	     -STEWARD_EINVAL},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":2,\"max\":1}}", false,
	     -STEWARD_EINVAL},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1},}", false,
	     -STEWARD_EINVAL},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1},\"components\":[{"
	     "\"name\":\"a\"}]}",
	     false, -STEWARD_EINVAL},
	    {"{\"protocol\":{\"min\":1,\"max\":1}}", false, -STEWARD_EINVAL},
	    {"{\"agent_version\":\"0.1.0\",\"protocol\":{\"min\":1,\"max\":1}", false,
	     -STEWARD_EINVAL},
	    {"", false, -STEWARD_EINVAL},
	};
	struct proto_checkin_req *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct steward_err err;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *body = cases[i].body;
		bool scanned = proto_checkin_req_scan(body, strlen(body), a);
		int rc = proto_checkin_req_parse_tree(body, strlen(body), b, &err);

		if (scanned != cases[i].scanned || rc != cases[i].tree_rc)
			fail_msg("case %zu: scanned %d, tree %d: %s", i, scanned, rc, body);
		if (!scanned)
			continue;
		assert_string_equal(a->agent_version, b->agent_version);
		assert_int_equal(a->protocol.min, b->protocol.min);
		assert_int_equal(a->protocol.max, b->protocol.max);
		assert_int_equal(a->n_components, b->n_components);
		for (int j = 0; j < a->n_components; j++) {
			assert_string_equal(a->components[j].name, b->components[j].name);
			assert_string_equal(a->components[j].version, b->components[j].version);
		}
		assert_int_equal(a->n_status, b->n_status);
		for (int j = 0; j < a->n_status; j++) {
			assert_string_equal(a->status[j].type, b->status[j].type);
			assert_string_equal(a->status[j].text, b->status[j].text);
			assert_int_equal(a->status[j].time, b->status[j].time);
		}
		assert_int_equal(a->uptime, b->uptime);
		assert_string_equal(a->inventory_hash, b->inventory_hash);
		assert_int_equal(a->link.present, b->link.present);
		assert_int_equal(a->link.kbps, b->link.kbps);
		assert_int_equal(a->link.rtt_ms, b->link.rtt_ms);
		assert_int_equal(a->link.age, b->link.age);
		assert_int_equal(a->link.metered, b->link.metered);
		assert_string_equal(a->link.via, b->link.via);
	}
	free(a);
	free(b);
}

static void test_checkin_reuse_struct(void **state)
{
	struct proto_checkin_req *r = malloc(sizeof(*r));
	struct steward_err err;
	char *b;

	(void)state;
	assert_non_null(r);
	accepted_checkin(doc_set(CHECKIN_DOC, "components", array_of(10, make_component)), r);
	assert_int_equal(r->n_components, 10);
	b = doc_set(CHECKIN_DOC, "components", NULL);
	assert_int_equal(proto_checkin_req_parse(b, strlen(b), r, &err), 0);
	assert_int_equal(r->n_components, 0);
	assert_int_equal(r->n_status, 1);
	free(b);
	free(r);
}

/* ---- error bodies --------------------------------------------------------------- */

/* parse plain as a batch (compressed first); 0 or the refusal's rc */
static int batch_of(const char *plain, struct proto_batch *b, struct steward_err *err)
{
	uint8_t *z = NULL;
	size_t zlen = 0;
	int rc;

	memset(err, 0, sizeof(*err));
	assert_int_equal(proto_batch_compress(plain, strlen(plain), &z, &zlen), 0);
	rc = proto_batch_parse(z, zlen, PROTO_BATCH_PLAIN_MAX, b, err);
	free(z);
	return rc;
}

/* The link epochs a batch may carry: the sender's own, and the receiver's it
 * writes to ("" when it has heard none); a batch without them (an older
 * sender) parses as before; anything else is batch_invalid. */
static void test_batch_epochs(void **state)
{
#define B(extra)                                                                                   \
	"{\"format\":\"" PROTO_BATCH_FORMAT "\",\"from\":\"C01\",\"to\":\"CEN\"," extra            \
	"\"messages\":[]}"
	struct proto_batch b;
	struct steward_err err;

	(void)state;
	assert_int_equal(batch_of(B(""), &b, &err), 0);
	assert_string_equal(b.epoch, "");
	assert_false(b.has_to_epoch);
	proto_batch_clear(&b);
	assert_int_equal(
	    batch_of(B("\"epoch\":\"0123456789abcdef\",\"to_epoch\":\"fedcba9876543210\","), &b,
		     &err),
	    0);
	assert_string_equal(b.epoch, "0123456789abcdef");
	assert_true(b.has_to_epoch);
	assert_string_equal(b.to_epoch, "fedcba9876543210");
	proto_batch_clear(&b);
	assert_int_equal(batch_of(B("\"to_epoch\":\"\","), &b, &err), 0);
	assert_true(b.has_to_epoch);
	assert_string_equal(b.to_epoch, "");
	proto_batch_clear(&b);
	static const char *const bad[] = {B("\"epoch\":\"\","),
					  B("\"epoch\":\"0123456789ABCDEF\","),
					  B("\"epoch\":\"0123456789abcde\","),
					  B("\"to_epoch\":12,"),
					  B("\"to_epoch\":\"0123456789abcdef0\","),
					  B("\"to_epoch\":null,")};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(batch_of(bad[i], &b, &err), -STEWARD_EINVAL);
		assert_string_equal(err.code, "batch_invalid");
		assert_contains(err.message, "epoch");
	}
	assert_true(proto_link_epoch_valid("00000000ffffffff"));
	assert_false(proto_link_epoch_valid(NULL));
	assert_false(proto_link_epoch_valid(""));
#undef B
}

/* A parent names in each batch the inventory it wants up; anything but the
 * three levels is batch_invalid, and a batch without it (an older parent,
 * or a child's batch) parses with "". */
static void test_batch_inventory_level(void **state)
{
#define B(extra)                                                                                   \
	"{\"format\":\"" PROTO_BATCH_FORMAT "\",\"from\":\"CEN\",\"to\":\"C01\"," extra            \
	"\"messages\":[]}"
	static const char *const bad[] = {B("\"inventory\":\"most\","), B("\"inventory\":\"\","),
					  B("\"inventory\":12,"), B("\"inventory\":null,"),
					  B("\"inventory\":\"FULL\",")};
	struct proto_batch b;
	struct steward_err err;

	(void)state;
	assert_int_equal(batch_of(B(""), &b, &err), 0);
	assert_string_equal(b.inventory, "");
	proto_batch_clear(&b);
	assert_int_equal(batch_of(B("\"inventory\":\"full\","), &b, &err), 0);
	assert_string_equal(b.inventory, "full");
	proto_batch_clear(&b);
	assert_int_equal(batch_of(B("\"inventory\":\"none\","), &b, &err), 0);
	assert_string_equal(b.inventory, "none");
	proto_batch_clear(&b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(batch_of(bad[i], &b, &err), -STEWARD_EINVAL);
		assert_string_equal(err.code, "batch_invalid");
		assert_contains(err.message, "inventory");
	}
	assert_true(proto_link_inv_level_valid("summary"));
	assert_false(proto_link_inv_level_valid(NULL));
#undef B
}

#define INV_HW                                                                                     \
	"{\"cpu\":{\"model\":\"Xeon\",\"sockets\":1,\"cores\":2,\"threads\":4},"                   \
	"\"memory\":{\"total_mb\":2048},\"disk_total_mb\":40960,"                                  \
	"\"dmi\":{\"vendor\":\"QEMU\",\"product\":\"pc\"},\"virtualization\":\"kvm\"}"
#define INV_OS                                                                                     \
	"{\"id\":\"debian\",\"name\":\"Debian GNU/Linux\",\"version_id\":\"12\",\"version\":\"12\"," \
	"\"pretty_name\":\"Debian 12\",\"kernel_release\":\"6.1.0\",\"arch\":\"x86_64\"}"
#define INV_CLIENT(ID, HW, OS) "{\"id\":\"" ID "\",\"received\":5,\"hardware\":" HW ",\"os\":" OS "}"
#define CID2 "b0a1a2a3a4a5a6a7a8a9aaabacadaeaf"

/* parse text as an inventory message body; 0 or the refusal's rc */
static int inv_of(const char *text, struct proto_link_inv *x, struct steward_err *err)
{
	json_t *body = json_loads(text, 0, NULL);
	int rc;

	assert_non_null(body);
	memset(err, 0, sizeof(*err));
	rc = proto_link_inv_parse(body, x, err);
	json_decref(body);
	if (rc) {
		assert_int_equal(x->n, 0);
		assert_null(x->v);
		assert_string_equal(err->code, "batch_invalid");
		assert_true(err->message[0] && err->remedy[0]);
	}
	return rc;
}

/* Summaries: every field checked, written again from what was checked (a
 * member the receiver does not know is left out); bad ones refused whole. */
static void test_link_inventory_summary(void **state)
{
	static const char *const bad[] = {
	    /* level, site, clients */
	    "{\"level\":\"partial\",\"clients\":[" INV_CLIENT(CID_HEX, INV_HW, INV_OS) "]}",
	    "{\"site\":\"c1\",\"level\":\"summary\",\"clients\":[" INV_CLIENT(CID_HEX, INV_HW,
									   INV_OS) "]}",
	    "{\"level\":\"summary\",\"clients\":[]}",
	    "{\"level\":\"summary\",\"clients\":{}}",
	    /* a client's id, time, classes */
	    "{\"level\":\"summary\",\"clients\":[" INV_CLIENT("A0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
							     INV_HW, INV_OS) "]}",
	    "{\"level\":\"summary\",\"clients\":[{\"id\":\"" CID_HEX "\",\"received\":-1,"
	    "\"hardware\":" INV_HW ",\"os\":" INV_OS "}]}",
	    "{\"level\":\"summary\",\"clients\":[" INV_CLIENT(CID_HEX, INV_HW, "[]") "]}",
	    "{\"level\":\"summary\",\"clients\":[" INV_CLIENT(
		CID_HEX, "{\"cpu\":{\"model\":\"Xeon\",\"sockets\":1,\"cores\":-2,\"threads\":4},"
			 "\"memory\":{\"total_mb\":2048},\"disk_total_mb\":0,\"dmi\":{\"vendor\":"
			 "\"\",\"product\":\"\"},\"virtualization\":\"kvm\"}",
		INV_OS) "]}",
	    "{\"level\":\"summary\",\"clients\":[" INV_CLIENT(
		CID_HEX, "{\"cpu\":{\"model\":\"X\\u0001\",\"sockets\":1,\"cores\":2,\"threads\":4},"
			 "\"memory\":{\"total_mb\":2048},\"disk_total_mb\":0,\"dmi\":{\"vendor\":"
			 "\"\",\"product\":\"\"},\"virtualization\":\"kvm\"}",
		INV_OS) "]}",
	    "{\"level\":\"summary\",\"clients\":[" INV_CLIENT(
		CID_HEX, "{\"cpu\":{\"model\":\"X\",\"sockets\":1,\"cores\":2,\"threads\":4},"
			 "\"memory\":{\"total_mb\":17592186044417},\"disk_total_mb\":0,\"dmi\":{"
			 "\"vendor\":\"\",\"product\":\"\"},\"virtualization\":\"kvm\"}",
		INV_OS) "]}",
	    /* os without arch */
	    "{\"level\":\"summary\",\"clients\":[" INV_CLIENT(
		CID_HEX, INV_HW,
		"{\"id\":\"debian\",\"name\":\"Debian\",\"version_id\":\"12\",\"version\":\"12\","
		"\"pretty_name\":\"Debian 12\",\"kernel_release\":\"6.1.0\"}") "]}",
	};
	struct proto_link_inv x;
	struct steward_err err;
	char *big, *p;
	size_t one = strlen(INV_CLIENT(CID_HEX, INV_HW, INV_OS)) + 1;

	(void)state;
	assert_int_equal(inv_of("{\"site\":\"C02\",\"level\":\"summary\",\"clients\":[" INV_CLIENT(
				    CID_HEX, INV_HW, INV_OS) "," INV_CLIENT(CID2,
									    "{\"extra\":1,"
									    "\"cpu\":{\"model\":"
									    "\"Xeon\",\"sockets\":1,"
									    "\"cores\":2,\"threads\":"
									    "4},\"memory\":{\"total_"
									    "mb\":2048},\"disk_total_"
									    "mb\":40960,\"dmi\":{"
									    "\"vendor\":\"QEMU\","
									    "\"product\":\"pc\"},"
									    "\"virtualization\":"
									    "\"kvm\"}",
									    INV_OS) "]}",
				&x, &err),
			 0);
	assert_string_equal(x.site, "C02");
	assert_false(x.full);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.v[0].id, CID_HEX);
	assert_int_equal(x.v[0].received, 5);
	assert_null(x.v[0].software);
	assert_string_equal(x.v[0].full_hash, "");
	assert_string_equal(x.v[0].hardware, x.v[1].hardware); /* "extra" left out */
	assert_contains(x.v[0].hardware, "\"total_mb\":2048");
	assert_contains(x.v[1].os, "\"arch\":\"x86_64\"");
	proto_link_inv_clear(&x);
	proto_link_inv_clear(&x); /* twice is fine */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(inv_of(bad[i], &x, &err), -STEWARD_EINVAL);
	/* at most 1000 clients in one message */
	big = malloc(64 + 1001 * one);
	assert_non_null(big);
	for (int count = 1000; count <= 1001; count++) {
		p = big + sprintf(big, "{\"level\":\"summary\",\"clients\":[");
		for (int i = 0; i < count; i++)
			p += sprintf(p, "%s" INV_CLIENT(CID_HEX, INV_HW, INV_OS), i ? "," : "");
		strcpy(p, "]}");
		assert_int_equal(inv_of(big, &x, &err), count == 1000 ? 0 : -STEWARD_EINVAL);
		assert_int_equal(x.n, count == 1000 ? 1000 : 0);
		proto_link_inv_clear(&x);
	}
	free(big);
}

/* A full document is checked as an agent's: every field, cap and hash; one
 * client a message; a delta or a damaged one refused. */
static void test_link_inventory_full(void **state)
{
	const char *doc_text =
	    "{\"classes\":{\"hardware\":{\"cpu\":{\"model\":\"Xeon\",\"sockets\":1,\"cores\":2,"
	    "\"threads\":4},\"memory\":{\"total_mb\":2048},\"disks\":[{\"device\":\"/dev/vda1\","
	    "\"mount\":\"/\",\"fs\":\"ext4\",\"size_mb\":40960,\"free_mb\":100}],\"network\":[],"
	    "\"dmi\":{\"vendor\":\"QEMU\",\"product\":\"pc\",\"serial\":\"\"},"
	    "\"virtualization\":\"kvm\"},\"os\":{\"id\":\"debian\",\"name\":\"Debian\","
	    "\"version_id\":\"12\",\"version\":\"12\",\"pretty_name\":\"Debian 12\","
	    "\"kernel_release\":\"6.1.0\",\"arch\":\"x86_64\",\"boot_time\":1,\"timezone\":\"UTC\"},"
	    "\"software\":{\"packages\":[{\"name\":\"nginx\",\"version\":\"1.22.1-9\",\"arch\":"
	    "\"amd64\",\"source\":\"dpkg\"}],\"steward\":[]}}}";
	json_t *doc = json_loads(doc_text, 0, NULL), *body, *c;
	struct steward_err err;
	struct proto_link_inv x;
	char *text;

	(void)state;
	assert_non_null(doc);
	assert_int_equal(proto_inventory_seal(doc, &err), 0);
	c = json_pack("{s:s,s:i,s:O}", "id", CID_HEX, "received", 7, "inventory", doc);
	body = json_pack("{s:s,s:[O]}", "level", "full", "clients", c);
	text = json_dumps(body, JSON_COMPACT);
	assert_int_equal(inv_of(text, &x, &err), 0);
	assert_true(x.full);
	assert_int_equal(x.n, 1);
	assert_non_null(x.v[0].software);
	assert_contains(x.v[0].software, "nginx");
	assert_string_equal(x.v[0].full_hash,
			    json_string_value(json_object_get(doc, "full_hash")));
	assert_string_equal(x.v[0].hashes[2], json_string_value(json_object_get(
						  json_object_get(doc, "hashes"), "software")));
	proto_link_inv_clear(&x);
	free(text);
	/* two clients in a full message */
	json_array_append(json_object_get(body, "clients"), c);
	text = json_dumps(body, JSON_COMPACT);
	assert_int_equal(inv_of(text, &x, &err), -STEWARD_EINVAL);
	free(text);
	json_array_remove(json_object_get(body, "clients"), 1);
	/* a damaged class: its hash no longer matches */
	json_object_set_new(json_object_get(json_object_get(doc, "classes"), "os"), "id",
			    json_string("ubuntu"));
	json_object_set(c, "inventory", doc);
	text = json_dumps(body, JSON_COMPACT);
	assert_int_equal(inv_of(text, &x, &err), -STEWARD_EINVAL);
	assert_contains(err.message, "inventory_hash_mismatch");
	free(text);
	/* a delta is not a document */
	assert_int_equal(proto_inventory_seal(doc, &err), 0);
	json_object_set_new(doc, "base", json_string(H_EMPTY));
	text = json_dumps(body, JSON_COMPACT);
	assert_int_equal(inv_of(text, &x, &err), -STEWARD_EINVAL);
	free(text);
	/* no document at all */
	json_object_del(c, "inventory");
	text = json_dumps(body, JSON_COMPACT);
	assert_int_equal(inv_of(text, &x, &err), -STEWARD_EINVAL);
	free(text);
	json_decref(c);
	json_decref(body);
	json_decref(doc);
}

static void test_error_body(void **state)
{
	struct steward_err a, b;
	char *body;

	(void)state;
	steward_err_set(&a, STEWARD_EINVAL, "bad_request", "fix \"it\"", "field 'x' is\nodd");
	body = proto_error_body(&a);
	assert_non_null(body);
	assert_contains(body, "\"error\":{");
	memset(&b, 0, sizeof(b));
	assert_int_equal(proto_error_parse(body, strlen(body), &b), 0);
	assert_string_equal(b.code, "bad_request");
	assert_string_equal(b.message, "field 'x' is\nodd");
	assert_string_equal(b.remedy, "fix \"it\"");
	free(body);
	assert_int_equal(proto_error_parse("{\"state\":\"ok\"}", 14, &b), -STEWARD_EINVAL);
	assert_int_equal(proto_error_parse("nope", 4, &b), -STEWARD_EINVAL);
	assert_int_equal(proto_error_parse("{\"error\":{}}", 12, &b), 0);
	assert_string_equal(b.code, "error");
}

/* ---- the console update document (frozen: docs/internals/console-update.md) ---- */

#define CU_HASH "abababababababababababababababababababababababababababababababab"
/* The example of docs/internals/console-update.md, member for member: a
 * stewardctl of any later release must still read it. */
#define CU_DOC                                                                             \
	"{\"format\":\"steward-console-update-1\","                                       \
	"\"site\":{\"code\":\"ABC\",\"version\":\"1.2.0\",\"protocol\":\"1-2\",\"api\":1}," \
	"\"release\":{\"version\":\"1.2.0\",\"manifest\":\"steward-release\\t1\\n...\"},"  \
	"\"console\":{\"component\":\"stewardctl\",\"version\":\"1.2.0\",\"protocol\":\"1-2\"," \
	"\"path\":\"bin/stewardctl\",\"sha256\":\"" CU_HASH "\",\"size\":734512,"           \
	"\"download\":\"/update/console/files/" CU_HASH "\"}}"

static void test_console_update_example(void **state)
{
	struct proto_console_update u, back;
	struct steward_err err;
	char *text;

	(void)state;
	assert_int_equal(strlen(CU_HASH), 64);
	assert_int_equal(proto_console_update_parse(CU_DOC, strlen(CU_DOC), &u, &err), 0);
	assert_string_equal(u.site_code, "ABC");
	assert_string_equal(u.site_version, "1.2.0");
	assert_int_equal(u.site_protocol.min, 1);
	assert_int_equal(u.site_protocol.max, 2);
	assert_int_equal(u.site_api, 1);
	assert_string_equal(u.release, "1.2.0");
	assert_string_equal(u.manifest, "steward-release\t1\n...");
	assert_int_equal(u.manifest_len, strlen("steward-release\t1\n..."));
	assert_string_equal(u.component, "stewardctl");
	assert_string_equal(u.version, "1.2.0");
	assert_string_equal(u.path, "bin/stewardctl");
	assert_string_equal(u.sha256, CU_HASH);
	assert_int_equal(u.size, 734512);
	assert_string_equal(u.download, "/update/console/files/" CU_HASH);
	/* what the site builds is what was parsed, and reads back the same */
	text = proto_console_update_build(&u);
	assert_non_null(text);
	assert_string_equal(text, CU_DOC);
	assert_int_equal(proto_console_update_parse(text, strlen(text), &back, &err), 0);
	assert_string_equal(back.download, u.download);
	free(text);
	proto_console_update_clear(&back);
	proto_console_update_clear(&u);
	assert_null(u.manifest);
}

/* CU_DOC with the text from..to replaced by with */
static char *cu_edit(const char *from, const char *with)
{
	const char *at = strstr(CU_DOC, from);
	size_t n = strlen(CU_DOC) - strlen(from) + strlen(with) + 1;
	char *s = malloc(n);

	assert_non_null(at);
	assert_non_null(s);
	snprintf(s, n, "%.*s%s%s", (int)(at - CU_DOC), CU_DOC, with, at + strlen(from));
	return s;
}

static void cu_refused(const char *from, const char *with, const char *member)
{
	struct proto_console_update u;
	struct steward_err err;
	char *doc = cu_edit(from, with);

	memset(&err, 0, sizeof(err));
	assert_int_not_equal(proto_console_update_parse(doc, strlen(doc), &u, &err), 0);
	assert_string_equal(err.code, "bad_reply");
	assert_contains(err.message, member);
	assert_null(u.manifest);
	free(doc);
}

static void test_console_update_refusals(void **state)
{
	struct proto_console_update u;
	struct steward_err err;
	char *doc;

	(void)state;
	cu_refused("steward-console-update-1", "steward-console-update-2", "steward-console-update-2");
	cu_refused("\"code\":\"ABC\"", "\"code\":\"abc\"", "'site.code'");
	cu_refused("\"api\":1", "\"api\":\"1\"", "'site.api'");
	cu_refused("\"protocol\":\"1-2\",\"api\"", "\"protocol\":\"2-1\",\"api\"", "'site.protocol'");
	cu_refused("\"release\":{\"version\":\"1.2.0\"", "\"release\":{\"version\":\"1.2\"",
		   "'release.version'");
	/* jansson refuses a NUL in a string before the parser sees it */
	cu_refused("\"manifest\":\"steward-release\\t1\\n...\"", "\"manifest\":\"a\\u0000b\"",
		   "is not JSON");
	cu_refused("\"manifest\":\"steward-release\\t1\\n...\"", "\"manifest\":\"\"",
		   "'release.manifest'");
	cu_refused("\"sha256\":\"ab", "\"sha256\":\"AB", "'console.sha256'");
	cu_refused("\"size\":734512", "\"size\":-1", "'console.size'");
	cu_refused("\"download\":\"/update/console/files/", "\"download\":\"http://elsewhere/",
		   "'console.download'");
	cu_refused("\"download\":\"/update/console/files/", "\"download\":\"/update/../",
		   "'console.download'");
	cu_refused("\"path\":\"bin/stewardctl\"", "\"path\":\"bin/\\u0007\"", "'console.path'");
	/* members a later site adds are ignored */
	doc = cu_edit("\"format\"", "\"later\":{\"x\":[1]},\"format\"");
	assert_int_equal(proto_console_update_parse(doc, strlen(doc), &u, &err), 0);
	proto_console_update_clear(&u);
	free(doc);
	assert_int_not_equal(proto_console_update_parse("[]", 2, &u, &err), 0);
	assert_string_equal(err.code, "bad_reply");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_vector),
	    cmocka_unit_test(test_batch_inventory_level),
	    cmocka_unit_test(test_link_inventory_summary),
	    cmocka_unit_test(test_link_inventory_full),
	    cmocka_unit_test(test_canonical_exact),
	    cmocka_unit_test(test_canonical_too_long),
	    cmocka_unit_test(test_sign_verify),
	    cmocka_unit_test(test_keypair_file),
	    cmocka_unit_test(test_session_key_vector),
	    cmocka_unit_test(test_session_key_inputs),
	    cmocka_unit_test(test_mac),
	    cmocka_unit_test(test_seal_open),
	    cmocka_unit_test(test_auth_build_signature),
	    cmocka_unit_test(test_auth_build_mac),
	    cmocka_unit_test(test_range_parse),
	    cmocka_unit_test(test_negotiate),
	    cmocka_unit_test(test_semver),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_enroll_docs_example),
	    cmocka_unit_test(test_enroll_optional_fields),
	    cmocka_unit_test(test_enroll_build_round_trip),
	    cmocka_unit_test(test_enroll_refusals),
	    cmocka_unit_test(test_enroll_caps),
	    cmocka_unit_test(test_malformed_bodies),
	    cmocka_unit_test(test_checkin_docs_example),
	    cmocka_unit_test(test_checkin_build_round_trip),
	    cmocka_unit_test(test_checkin_refusals),
	    cmocka_unit_test(test_checkin_link),
	    cmocka_unit_test(test_checkin_caps),
	    cmocka_unit_test(test_checkin_reuse_struct),
	    cmocka_unit_test(test_checkin_scan),
	    cmocka_unit_test(test_batch_epochs),
	    cmocka_unit_test(test_error_body),
	    cmocka_unit_test(test_console_update_example),
	    cmocka_unit_test(test_console_update_refusals),
	};

	if (proto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* relkeys: the release-key list a site hands its agents, and the two
 * one-line statements a release key signs (a rollback authorization, an
 * endorsement of a new release key). include/steward/content.h gives the
 * formats; docs/security.md says why each exists.
 *
 * The lines are parsed strictly: fields separated by one space, each of
 * the one form it may take, nothing after the signature. A line that does
 * not parse back into itself field for field is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/content.h"
#include "text_int.h"

#define ROLLBACK_CONTEXT "steward-release-rollback-v1\n"
#define ENDORSE_CONTEXT	 "steward-release-key-endorse-v1\n"
#define HEX_KEY		 (2 * PROTO_PK_BYTES)

static bool key_hex_ok(const char *s, size_t n)
{
	return n == HEX_KEY && strspn(s, "0123456789abcdef") >= HEX_KEY;
}

char *content_release_keys_canon(const char *const *keys, size_t n)
{
	size_t len = sizeof(CONTENT_KEYS_CONTEXT) + n * (HEX_KEY + 1);
	char *out;

	if (n > CONTENT_RELEASE_KEYS_MAX)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!keys[i] || !key_hex_ok(keys[i], strlen(keys[i])))
			return NULL;
	out = malloc(len);
	if (!out)
		return NULL;
	snprintf(out, len, "%s", CONTENT_KEYS_CONTEXT);
	for (size_t i = 0; i < n; i++) {
		strcat(out, keys[i]);
		strcat(out, "\n");
	}
	return out;
}

/* Split line into exactly n space-separated fields (in place, a copy). */
static int split(char *copy, char **f, int n)
{
	int k = 0;
	char *p = copy;

	while (k < n) {
		f[k++] = p;
		p = strchr(p, ' ');
		if (!p)
			break;
		*p++ = '\0';
	}
	return k == n && !p ? 0 : -1;
}

static int rollback_canon(const char *version, int64_t expires, const char *keyhex, char *out,
			  size_t outsz)
{
	char when[32];

	time_rfc3339(expires, when);
	return snprintf(out, outsz, ROLLBACK_CONTEXT "version %s\nexpires %s\nkey %s\n", version,
			when, keyhex) < (int)outsz
		   ? 0
		   : -STEWARD_EINVAL;
}

int content_rollback_sign(const char *version, int64_t expires, const struct proto_keypair *kp,
			  char *out, size_t outsz)
{
	char keyhex[HEX_KEY + 1], canon[256], sig[96], when[32];
	int x, y, z;

	if (!version || strlen(version) > CONTENT_VERSION_MAX ||
	    proto_semver_parse(version, &x, &y, &z) != 0 || expires <= 0)
		return -STEWARD_EINVAL;
	hex_encode(kp->pk, PROTO_PK_BYTES, keyhex);
	if (rollback_canon(version, expires, keyhex, canon, sizeof(canon)))
		return -STEWARD_EINVAL;
	proto_sign(kp, canon, sig);
	time_rfc3339(expires, when);
	if (snprintf(out, outsz, "rollback %s %s %s %s", version, when, keyhex, sig) >= (int)outsz)
		return -STEWARD_EINVAL;
	return 0;
}

int content_rollback_parse(const char *line, struct content_rollback *out, struct steward_err *err)
{
	char copy[CONTENT_STATEMENT_MAX + 1], canon[256], *f[5];
	int x, y, z;

	memset(out, 0, sizeof(*out));
	if (!line || strlen(line) > CONTENT_STATEMENT_MAX || !str_printable(line))
		goto bad;
	snprintf(copy, sizeof(copy), "%s", line);
	if (split(copy, f, 5) || strcmp(f[0], "rollback") != 0 ||
	    strlen(f[1]) > CONTENT_VERSION_MAX || proto_semver_parse(f[1], &x, &y, &z) != 0 ||
	    !ctext_parse_time(f[2], strlen(f[2]), &out->expires) ||
	    !key_hex_ok(f[3], strlen(f[3])) || hex_decode(f[3], out->key, PROTO_PK_BYTES) != 0)
		goto bad;
	snprintf(out->version, sizeof(out->version), "%s", f[1]);
	/* one text per version: 01.0.0 is not 1.0.0 */
	{
		char back[CONTENT_VERSION_MAX + 1];

		snprintf(back, sizeof(back), "%d.%d.%d", x, y, z);
		if (strcmp(back, f[1]) != 0)
			goto bad;
	}
	if (rollback_canon(f[1], out->expires, f[3], canon, sizeof(canon)) ||
	    proto_verify(out->key, canon, f[4]) != 0) {
		memset(out, 0, sizeof(*out));
		return steward_err_set(err, STEWARD_EAUTH, "rollback_invalid",
				       "make it again with stewardctl releases rollback-sign",
				       "the rollback authorization's signature does not verify "
				       "against the key it names");
	}
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return steward_err_set(
	    err, STEWARD_EINVAL, "rollback_invalid",
	    "pass the one line stewardctl releases rollback-sign printed",
	    "a rollback authorization is 'rollback VERSION EXPIRES KEY SIGNATURE'");
}

static void endorse_canon(const char *key, const char *by, char *out, size_t outsz)
{
	snprintf(out, outsz, ENDORSE_CONTEXT "key %s\nby %s\n", key, by);
}

int content_endorse_sign(const uint8_t key[PROTO_PK_BYTES], const struct proto_keypair *kp,
			 char *out, size_t outsz)
{
	char keyhex[HEX_KEY + 1], byhex[HEX_KEY + 1], canon[256], sig[96];

	hex_encode(key, PROTO_PK_BYTES, keyhex);
	hex_encode(kp->pk, PROTO_PK_BYTES, byhex);
	endorse_canon(keyhex, byhex, canon, sizeof(canon));
	proto_sign(kp, canon, sig);
	if (snprintf(out, outsz, "endorse %s %s %s", keyhex, byhex, sig) >= (int)outsz)
		return -STEWARD_EINVAL;
	return 0;
}

int content_endorse_parse(const char *line, struct content_endorsement *out,
			  struct steward_err *err)
{
	char copy[CONTENT_STATEMENT_MAX + 1], canon[256], *f[4];

	memset(out, 0, sizeof(*out));
	if (!line || strlen(line) > CONTENT_STATEMENT_MAX || !str_printable(line))
		goto bad;
	snprintf(copy, sizeof(copy), "%s", line);
	if (split(copy, f, 4) || strcmp(f[0], "endorse") != 0 || !key_hex_ok(f[1], strlen(f[1])) ||
	    !key_hex_ok(f[2], strlen(f[2])) || hex_decode(f[1], out->key, PROTO_PK_BYTES) != 0 ||
	    hex_decode(f[2], out->by, PROTO_PK_BYTES) != 0)
		goto bad;
	endorse_canon(f[1], f[2], canon, sizeof(canon));
	if (proto_verify(out->by, canon, f[3]) != 0) {
		memset(out, 0, sizeof(*out));
		return steward_err_set(err, STEWARD_EAUTH, "endorsement_invalid",
				       "make it again with stewardctl releases endorse-key",
				       "the key endorsement's signature does not verify against "
				       "the key it names as signer");
	}
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return steward_err_set(err, STEWARD_EINVAL, "endorsement_invalid",
			       "pass the one line stewardctl releases endorse-key printed",
			       "a key endorsement is 'endorse KEY BY SIGNATURE'");
}

/* util: error codes, encodings, randomness, small string helpers. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "steward/util.h"

const char *steward_strerror(int rc)
{
	if (rc < 0)
		rc = -rc;
	switch (rc) {
	case STEWARD_OK: return "ok";
	case STEWARD_EINVAL: return "invalid input";
	case STEWARD_ENOMEM: return "out of memory";
	case STEWARD_ETOOBIG: return "over a configured limit";
	case STEWARD_EIO: return "input/output error";
	case STEWARD_ENOTFOUND: return "not found";
	case STEWARD_EEXIST: return "already exists";
	case STEWARD_ESTORE: return "database error";
	case STEWARD_EAUTH: return "authentication failed";
	case STEWARD_EPERM: return "not permitted";
	case STEWARD_EVERSION: return "incompatible versions";
	case STEWARD_ETIMEDOUT: return "timed out";
	case STEWARD_EBUSY: return "busy";
	case STEWARD_ESCHEMA: return "database schema is newer than this program";
	case STEWARD_ECLOSED: return "shutting down";
	}
	return "unknown error";
}

int steward_err_set(struct steward_err *err, int rc, const char *code, const char *remedy,
		    const char *fmt, ...)
{
	va_list ap;

	if (rc > 0)
		rc = -rc;
	if (!err)
		return rc;
	snprintf(err->code, sizeof(err->code), "%s", code ? code : "error");
	snprintf(err->remedy, sizeof(err->remedy), "%s", remedy ? remedy : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return rc;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, in, n);
}

int hex_decode(const char *s, uint8_t *out, size_t n)
{
	size_t got = 0;
	const char *end = NULL;

	if (!s || strlen(s) != 2 * n)
		return -STEWARD_EINVAL;
	if (sodium_hex2bin(out, n, s, 2 * n, NULL, &got, &end) != 0 || got != n || *end)
		return -STEWARD_EINVAL;
	return 0;
}

char *b64_encode_new(const uint8_t *in, size_t n)
{
	size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
	char *out = malloc(len);

	if (!out)
		return NULL;
	sodium_bin2base64(out, len, in, n, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

int b64_decode(const char *s, uint8_t *out, size_t outmax)
{
	size_t got = 0;
	const char *end = NULL;

	if (!s)
		return -STEWARD_EINVAL;
	if (sodium_base642bin(out, outmax, s, strlen(s), NULL, &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || *end)
		return -STEWARD_EINVAL;
	return (int)got;
}

void rand_bytes(void *out, size_t n)
{
	randombytes_buf(out, n);
}

uint32_t rand_uniform(uint32_t upper)
{
	return upper ? randombytes_uniform(upper) : 0;
}

int str_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstsz)
		return -STEWARD_ETOOBIG;
	memcpy(dst, src, n + 1);
	return 0;
}

bool str_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

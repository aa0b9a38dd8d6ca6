/* content/hash: SHA-256 names of blobs (libsodium), whole and in pieces.
 *
 * The hasher keeps libsodium's state in an opaque byte array so that
 * content.h needs no libsodium header; the asserts below keep the array
 * large and aligned enough for whatever libsodium version we build with.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <sodium.h>

#include "steward/content.h"

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(((struct content_hasher *)0)->state),
	       "content_hasher.state is too small for crypto_hash_sha256_state");
_Static_assert(offsetof(struct content_hasher, state) == 0 &&
		   _Alignof(crypto_hash_sha256_state) <= _Alignof(struct content_hasher),
	       "content_hasher.state is not aligned for crypto_hash_sha256_state");
_Static_assert(crypto_hash_sha256_BYTES == CONTENT_HASH_BYTES, "SHA-256 is 32 bytes");

#define READ_CHUNK (64 * 1024)

static crypto_hash_sha256_state *state_of(struct content_hasher *h)
{
	return (crypto_hash_sha256_state *)(void *)h->state;
}

bool content_hash_valid(const char *hex)
{
	size_t i;

	if (!hex)
		return false;
	for (i = 0; i < CONTENT_HASH_HEX; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return false;
	return hex[i] == '\0';
}

void content_hasher_init(struct content_hasher *h)
{
	memset(h, 0, sizeof(*h));
	crypto_hash_sha256_init(state_of(h));
}

void content_hasher_update(struct content_hasher *h, const void *data, size_t len)
{
	if (len)
		crypto_hash_sha256_update(state_of(h), data, len);
	h->size += len;
}

void content_hasher_final(struct content_hasher *h, char out[CONTENT_HASH_HEX + 1])
{
	uint8_t md[CONTENT_HASH_BYTES];

	crypto_hash_sha256_final(state_of(h), md);
	hex_encode(md, sizeof(md), out);
}

void content_hash_buf(const void *data, size_t len, char out[CONTENT_HASH_HEX + 1])
{
	struct content_hasher h;

	content_hasher_init(&h);
	content_hasher_update(&h, data, len);
	content_hasher_final(&h, out);
}

int content_hash_fd(int fd, char out[CONTENT_HASH_HEX + 1], uint64_t *size)
{
	struct content_hasher h;
	/* on the heap: HTTP threads may run with small stacks */
	char *chunk = malloc(READ_CHUNK);
	int rc = 0;

	if (!chunk)
		return -STEWARD_ENOMEM;
	content_hasher_init(&h);
	for (;;) {
		ssize_t n = read(fd, chunk, READ_CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -STEWARD_EIO;
			goto out;
		}
		if (n == 0)
			break;
		content_hasher_update(&h, chunk, (size_t)n);
	}
	content_hasher_final(&h, out);
	if (size)
		*size = h.size;
out:
	free(chunk);
	return rc;
}

int content_hash_file(const char *path, char out[CONTENT_HASH_HEX + 1], uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return errno == ENOENT ? -STEWARD_ENOTFOUND : -STEWARD_EIO;
	rc = content_hash_fd(fd, out, size);
	close(fd);
	return rc;
}

/* fuzz_http_range: the Range header a distribution point parses
 * (http_range_parse, lib/net/range.c).
 *
 * The first 8 bytes (when there are 8) give the size of the representation,
 * the rest up to its first NUL is the header; every input is also tried
 * against a few fixed sizes. Properties: a partial range lies inside the
 * representation and is not empty; unsatisfiable and full give the fixed
 * answers; a partial range written back as bytes=FIRST-LAST parses to
 * itself.
 */
#include "fuzz.h"

#include "steward/net.h"

static void check(const char *h, uint64_t size)
{
	uint64_t first = 7, len = 7, f2, l2;
	char back[64];
	enum http_range_result r = http_range_parse(h, size, &first, &len);

	switch (r) {
	case HTTP_RANGE_FULL:
		FUZZ_CHECK(first == 0 && len == size);
		break;
	case HTTP_RANGE_UNSATISFIABLE:
		FUZZ_CHECK(first == 0 && len == 0);
		break;
	case HTTP_RANGE_PARTIAL:
		FUZZ_CHECK(len >= 1 && first < size && len <= size - first);
		snprintf(back, sizeof(back), "bytes=%llu-%llu", (unsigned long long)first,
			 (unsigned long long)(first + len - 1));
		FUZZ_CHECK(http_range_parse(back, size, &f2, &l2) == HTTP_RANGE_PARTIAL);
		FUZZ_CHECK(f2 == first && l2 == len);
		break;
	default:
		FUZZ_CHECK(!"unknown result");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = {0, 1, 100, UINT64_MAX};
	uint64_t n = 0;
	char *h;

	if (size >= 8) {
		memcpy(&n, data, 8);
		data += 8;
		size -= 8;
	}
	h = malloc(size + 1);
	if (!h)
		return 0;
	memcpy(h, data, size);
	h[size] = '\0';
	check(h, n);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check(h, sizes[i]);
	check(NULL, n);
	free(h);
	return 0;
}

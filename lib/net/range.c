/* net/range: the Range request header (RFC 9110 section 14.2) against a
 * representation of a known size. Kept apart from server.c so the fuzz
 * target (tests/fuzz/fuzz_http_range.c) needs no libmicrohttpd.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "steward/net.h"

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Digits into *v, saturating at UINT64_MAX (a huge position is still a
 * position: past the end). Returns the end, or NULL without a digit. */
static const char *parse_pos(const char *p, uint64_t *v)
{
	const char *start = p;

	*v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		*v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
	}
	return p == start ? NULL : p;
}

enum http_range_result http_range_parse(const char *h, uint64_t size, uint64_t *first,
					uint64_t *len)
{
	uint64_t a, b = UINT64_MAX;
	bool suffix;
	const char *p;

	*first = 0;
	*len = size;
	if (!h)
		return HTTP_RANGE_FULL;
	p = skip_ows(h);
	if (strncasecmp(p, "bytes", 5) != 0)
		return HTTP_RANGE_FULL; /* a unit we do not serve: ignore the header */
	p = skip_ows(p + 5);
	if (*p++ != '=')
		return HTTP_RANGE_FULL;
	if (strchr(p, ','))
		return HTTP_RANGE_FULL; /* several ranges: the whole thing, 200 */
	p = skip_ows(p);
	suffix = *p == '-';
	if (suffix) {
		p = parse_pos(p + 1, &a);
	} else {
		p = parse_pos(p, &a);
		if (!p || *p++ != '-')
			return HTTP_RANGE_FULL;
		if (*p >= '0' && *p <= '9')
			p = parse_pos(p, &b);
	}
	if (!p || *skip_ows(p) != '\0')
		return HTTP_RANGE_FULL; /* malformed: ignored, as RFC 9110 allows */
	if (suffix) {
		/* the last a bytes; none of nothing is unsatisfiable */
		if (a == 0 || size == 0) {
			*len = 0;
			return HTTP_RANGE_UNSATISFIABLE;
		}
		*len = a < size ? a : size;
		*first = size - *len;
		return HTTP_RANGE_PARTIAL;
	}
	if (b < a)
		return HTTP_RANGE_FULL; /* invalid: ignored */
	if (a >= size) {
		*len = 0;
		return HTTP_RANGE_UNSATISFIABLE;
	}
	if (b >= size)
		b = size - 1;
	*first = a;
	*len = b - a + 1;
	return HTTP_RANGE_PARTIAL;
}

/* fuzz_console_cookie: the Cookie header and the session id a browser
 * sends to the web console's routes (csess_cookie_get, csess_lookup,
 * csess_csrf_equal; server/consolesession.c).
 *
 * The input up to its first NUL is the header. Properties: a value found
 * fits the buffer and holds no ';'; a value too long for a small buffer
 * is refused, not cut, and found in a large one; a cookie the table
 * never issued is unknown to it; the CSRF comparison is equality.
 */
#include "fuzz.h"

#include "consolesession.h"

static struct csess_table *table(void)
{
	static struct csess_table *t;
	static char id[CSESS_TEXT_LEN + 1];

	if (!t) {
		struct csess s;

		if (csess_table_new(4, &t))
			abort();
		memset(&s, 0, sizeof(s));
		snprintf(s.admin, sizeof(s.admin), "fuzz");
		csess_create(t, &s, 1000, id);
	}
	return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = malloc(size + 1), small[CSESS_TEXT_LEN + 1], *big = malloc(size + 1);
	struct csess got;
	int rc;

	if (!h || !big)
		goto out;
	memcpy(h, data, size);
	h[size] = '\0';
	rc = csess_cookie_get(h, CSESS_COOKIE, small, sizeof(small));
	FUZZ_CHECK(rc == 0 || rc == -STEWARD_ENOTFOUND || rc == -STEWARD_EINVAL);
	if (rc == 0) {
		FUZZ_CHECK(strlen(small) <= CSESS_TEXT_LEN && !strchr(small, ';'));
		/* random bytes are no session of the table */
		FUZZ_CHECK(csess_lookup(table(), small, 1000, 60, 60, &got) == CSESS_UNKNOWN);
		FUZZ_CHECK(csess_csrf_equal(small, small) == (small[0] != '\0'));
	}
	if (rc == -STEWARD_EINVAL)
		FUZZ_CHECK(csess_cookie_get(h, CSESS_COOKIE, big, size + 1) == 0 &&
			   strlen(big) > CSESS_TEXT_LEN);
	FUZZ_CHECK(csess_csrf_equal(h, "x") == (strcmp(h, "x") == 0));
out:
	free(h);
	free(big);
	return 0;
}

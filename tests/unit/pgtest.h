/* The PostgreSQL server the unit tests labelled postgresql run on: its URL
 * from STEWARD_TEST_PG_URL, or from the file STEWARD_TEST_PG_URL_FILE
 * names (the postgresql fixture of tests/unit/CMakeLists.txt writes it).
 * Header-only: each test program includes it once. */
#ifndef STEWARD_TEST_PGTEST_H
#define STEWARD_TEST_PGTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* out gets the URL, "" when none is given (the PostgreSQL cases skip);
 * -1 when the file cannot be read. */
static inline int pgtest_base_url(char *out, size_t n)
{
	const char *url = getenv("STEWARD_TEST_PG_URL");
	const char *file = getenv("STEWARD_TEST_PG_URL_FILE");
	FILE *fp;

	out[0] = '\0';
	if (url && *url) {
		snprintf(out, n, "%s", url);
		return 0;
	}
	if (!file || !*file)
		return 0;
	fp = fopen(file, "r");
	if (!fp || !fgets(out, (int)n, fp)) {
		fprintf(stderr, "cannot read the PostgreSQL URL from %s\n", file);
		if (fp)
			fclose(fp);
		return -1;
	}
	fclose(fp);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

#endif

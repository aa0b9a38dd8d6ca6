/* The PostgreSQL server the unit tests labelled postgresql run on: its URL
 * from STEWARD_TEST_PG_URL, or from the file STEWARD_TEST_PG_URL_FILE
 * names (the postgresql fixture of tests/unit/CMakeLists.txt writes it).
 * Header-only: each test program includes it once. */
#ifndef STEWARD_TEST_PGTEST_H
#define STEWARD_TEST_PGTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/store/db.h"

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

/* A database of its own for one case on the server at base: CREATE
 * DATABASE name, and out gets base's URL with /name for its path. 0, or
 * -1 (said on stderr) when the server refuses. */
static inline int pgtest_db_create(const char *base, const char *name, char *out, size_t n)
{
	struct steward_err err = {0};
	const char *slash = strrchr(base, '/');
	struct db *admin = NULL;
	char sql[128];
	int rc;

	if (!slash || db_open(base, &admin, &err)) {
		fprintf(stderr, "cannot reach %s: %s\n", base, err.message);
		return -1;
	}
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	rc = db_exec(admin, sql);
	db_close(admin);
	snprintf(out, n, "%.*s/%s", (int)(slash - base), base, name);
	return rc ? -1 : 0;
}

/* Drop what pgtest_db_create made (its connections ended by force). */
static inline void pgtest_db_drop(const char *base, const char *name)
{
	struct steward_err err = {0};
	struct db *admin = NULL;
	char sql[160];

	if (db_open(base, &admin, &err))
		return;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	db_exec(admin, sql);
	db_close(admin);
}

#endif

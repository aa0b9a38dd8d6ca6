/* store/pg_tools: the backup and restore of a PostgreSQL site database,
 * with PostgreSQL's own programs.
 *
 * A site upgrade backs the database up before the new version migrates it
 * and restores that backup if the new version fails (server/siteupgrade.c).
 * On SQLite that is SQLite's online backup and a copy of the file; on
 * PostgreSQL it is pg_dump's custom format and pg_restore into an emptied
 * schema (objects a newer version made must not survive its rollback).
 * The programs are looked for in Debian's versioned directories first,
 * newest first, so that they are at least as new as the server.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "steward/store.h"

#define PG_TOOL_TIMEOUT_S 3600 /* a dump or restore longer than this is stopped */

static int find_tool(const char *name, char *out, size_t outsz)
{
	static const char *const dirs[] = {"/usr/lib/postgresql/17/bin",
					   "/usr/lib/postgresql/16/bin",
					   "/usr/lib/postgresql/15/bin", "/usr/bin"};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, outsz, "%s/%s", dirs[i], name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -STEWARD_ENOTFOUND;
}

static int run_tool(const char *const argv[], const char *what, const char *shown)
{
	struct buf out;
	int status = -1, rc;

	buf_init(&out, 65536);
	rc = exec_capture(argv, PG_TOOL_TIMEOUT_S, &out, &status);
	buf_free(&out);
	if (!rc && status != 0)
		rc = -STEWARD_ESTORE;
	if (rc)
		log_error("store", "pg_tool_failed", "tool=%s database=\"%s\" status=%d", what,
			  shown, status);
	return rc;
}

int store_pg_dump(const char *url, const char *path)
{
	char tool[256], file[4200], dbname[4200], shown[512];
	const char *argv[] = {tool, "--format=custom", "--no-owner", file, dbname, NULL};

	store_target_masked(url, shown, sizeof(shown));
	if (find_tool("pg_dump", tool, sizeof(tool))) {
		log_error("store", "pg_tool_missing", "tool=pg_dump");
		return -STEWARD_ENOTFOUND;
	}
	snprintf(file, sizeof(file), "--file=%s", path);
	snprintf(dbname, sizeof(dbname), "--dbname=%s", url);
	return run_tool(argv, "pg_dump", shown);
}

int store_pg_restore(const char *url, const char *path)
{
	char tool[256], dbname[4200], shown[512];
	const char *argv[] = {tool, "--no-owner", "--single-transaction", "--exit-on-error", dbname,
			      path, NULL};
	struct steward_err err = {0};
	struct db *db = NULL;
	int rc;

	store_target_masked(url, shown, sizeof(shown));
	if (find_tool("pg_restore", tool, sizeof(tool))) {
		log_error("store", "pg_tool_missing", "tool=pg_restore");
		return -STEWARD_ENOTFOUND;
	}
	if (access(path, R_OK) != 0)
		return -STEWARD_ENOTFOUND;
	/* what the version being left made (its tables, functions, the
	 * schema version) goes with the rest: the backup is the whole truth */
	if (db_open(url, &db, &err))
		return -STEWARD_ESTORE;
	rc = db_exec(db, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
	db_close(db);
	if (rc)
		return -STEWARD_ESTORE;
	snprintf(dbname, sizeof(dbname), "--dbname=%s", url);
	return run_tool(argv, "pg_restore", shown);
}

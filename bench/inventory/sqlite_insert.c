/* bench-sqlite-insert: the reference for the inventory ingest benchmark.
 * Inserts the package rows of N clients (P rows each, one transaction per
 * client) into a fresh SQLite database with the site's durability settings
 * (WAL, synchronous=FULL), one prepared statement, and prints how many
 * clients' packages it stored per second. See bench/README.md.
 *
 *   bench-sqlite-insert --db FILE [--clients N] [--packages P]
 *
 * Prints one line: "clients=N seconds=S rate=R/s rows=N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <time.h>

#include <sqlite3.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned arg_u(const char *s, unsigned lo, unsigned hi, const char *what)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !end || *end || v < lo || v > hi) {
		fprintf(stderr, "bench-sqlite-insert: %s needs %u..%u\n", what, lo, hi);
		exit(2);
	}
	return (unsigned)v;
}

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "bench-sqlite-insert: %s: %s\n", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"clients", required_argument, NULL, 'n'},
	    {"packages", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	unsigned clients = 200, packages = 2000;
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	double t0, secs;
	int o, rc = 1;

	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case 'd':
			path = optarg;
			break;
		case 'n':
			clients = arg_u(optarg, 1, 1000000, "--clients");
			break;
		case 'p':
			packages = arg_u(optarg, 1, 20000, "--packages");
			break;
		default:
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr,
			"usage: bench-sqlite-insert --db FILE [--clients N] [--packages P]\n");
		return 2;
	}
	if (sqlite3_open(path, &db) != SQLITE_OK) {
		fprintf(stderr, "bench-sqlite-insert: cannot open %s: %s\n", path,
			sqlite3_errmsg(db));
		goto out;
	}
	if (exec(db, "PRAGMA journal_mode=WAL") || exec(db, "PRAGMA synchronous=FULL") ||
	    exec(db, "CREATE TABLE packages (client_id TEXT NOT NULL, name TEXT NOT NULL,"
		     " version TEXT NOT NULL, arch TEXT NOT NULL, source TEXT NOT NULL,"
		     " PRIMARY KEY (client_id, name, arch)) WITHOUT ROWID"))
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT INTO packages VALUES (?1, ?2, ?3, ?4, 'dpkg')", -1, &ins,
			       NULL) != SQLITE_OK) {
		fprintf(stderr, "bench-sqlite-insert: prepare: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	t0 = now_s();
	for (unsigned c = 0; c < clients; c++) {
		char id[40], name[64], ver[64];

		/* the same shape of rows as bench-inventory-post's documents */
		snprintf(id, sizeof(id), "%032x", c + 1);
		if (exec(db, "BEGIN"))
			goto out;
		for (unsigned p = 0; p < packages; p++) {
			snprintf(name, sizeof(name), "lib%s-pkg%04u", c % 2 ? "x" : "y", p);
			snprintf(ver, sizeof(ver), "%u.%u.%u-%u+deb12u0", 1 + p % 9, p % 31, c % 20,
				 1 + p % 3);
			sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 2, name, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 3, ver, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 4, p % 17 ? "amd64" : "all", -1, SQLITE_STATIC);
			if (sqlite3_step(ins) != SQLITE_DONE) {
				fprintf(stderr, "bench-sqlite-insert: insert: %s\n",
					sqlite3_errmsg(db));
				goto out;
			}
			sqlite3_reset(ins);
		}
		if (exec(db, "COMMIT"))
			goto out;
	}
	secs = now_s() - t0;
	printf("clients=%u seconds=%.2f rate=%.1f/s rows=%llu\n", clients, secs,
	       secs > 0 ? clients / secs : 0, (unsigned long long)clients * packages);
	rc = 0;
out:
	sqlite3_finalize(ins);
	sqlite3_close(db);
	return rc;
}

/* stewardctl site migrate-store --data-dir DIR --to URL: move a stopped
 * site's SQLite database into an empty PostgreSQL database, on the site
 * server (store_migrate_to_pg in lib/store/migrate.c does the copy). No
 * site is called: stewardd must not run. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "steward/store.h"
#include "steward/util.h"

#include "ctl.h"

#define MIGRATE_URL_MAX 1024

static void progress(const char *table, int64_t rows, void *ctx)
{
	(void)ctx;
	printf("  copied %-28s %10" PRId64 " rows\n", table, rows);
	fflush(stdout);
}

/* Printable ASCII without spaces: what a URL and our paths look like. */
static bool plain(const char *s, bool spaces)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || (!spaces && *s == ' '))
			return false;
	return true;
}

/* This command's table entry, for the synopsis in usage errors. */
static const struct ctl_cmd *self(void)
{
	for (size_t i = 0; i < ctl_n_commands; i++)
		if (ctl_commands[i].handler == ctl_cmd_site_migrate_store)
			return &ctl_commands[i];
	return NULL;
}

int ctl_cmd_site_migrate_store(struct ctl *ctl, const struct ctl_args *a)
{
	const char *dir = a->opt[CTL_OPT_DATA_DIR], *url = a->opt[CTL_OPT_TO_URL];
	static struct store_migrate_report rep; /* large: not on the stack */
	struct steward_err err = {.code = ""};
	char db[PATH_MAX], lock[PATH_MAX], masked[MIGRATE_URL_MAX];
	int fd = -1, rc;

	(void)ctl;
	if (!*dir || strlen(dir) > PATH_MAX - 32 || !plain(dir, true))
		return ctl_usage_error(self(),
				       "--data-dir must be a directory path of at most %d "
				       "printable characters",
				       PATH_MAX - 32);
	if (strlen(url) > MIGRATE_URL_MAX - 1 || !plain(url, false) ||
	    (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0))
		return ctl_usage_error(self(),
				       "--to must be a postgresql://USER@HOST:PORT/DB URL of "
				       "at most %d characters, without spaces",
				       MIGRATE_URL_MAX - 1);
	store_target_masked(url, masked, sizeof(masked));
	snprintf(db, sizeof(db), "%s/steward.db", dir);
	snprintf(lock, sizeof(lock), "%s/stewardd.lock", dir);

	/* A running stewardd holds DATA_DIR/stewardd.lock (flock) for as long
	 * as it runs: the sure sign, even while it writes nothing. Held here
	 * too until the copy is done. Not made when missing (a site that never
	 * ran this version; the SQLite write lock still guards the copy). */
	fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK) {
			ctl_error("migrate_source_busy",
				  "stop stewardd (e.g. systemctl stop stewardd), then run "
				  "migrate-store again",
				  "a stewardd is running on %s (it holds %s)", dir, lock);
			return CTL_EFAIL;
		}
		ctl_error("migrate_source_invalid", "check the directory and its permissions",
			  "cannot lock %s: %s", lock, strerror(e));
		return CTL_EFAIL;
	}
	log_set_level(LOG_WARN); /* the store's info lines are not for this console */
	printf("copying %s into %s\n", db, masked);
	fflush(stdout);
	rc = store_migrate_to_pg(db, url, progress, NULL, &rep, &err);
	if (fd >= 0)
		close(fd);
	if (rep.ntables) {
		printf("\n%-28s %12s %12s\n", "TABLE", "SQLITE", "POSTGRESQL");
		for (size_t i = 0; i < rep.ntables; i++)
			printf("%-28s %12" PRId64 " %12" PRId64 "%s\n", rep.tables[i].name,
			       rep.tables[i].source_rows, rep.tables[i].target_rows,
			       rep.tables[i].source_rows != rep.tables[i].target_rows ? "  DIFFERS"
										      : "");
	}
	if (rc) {
		if (err.code[0])
			ctl_error(err.code, err.remedy, "%s", err.message);
		else
			ctl_error("migrate_failed",
				  "nothing was written to the target; the SQLite database is "
				  "untouched",
				  "%s", steward_strerror(rc));
		return CTL_EFAIL;
	}
	printf("\nmigrated: %zu tables, %" PRId64 " rows, every count the same on both sides\n"
	       "the SQLite database %s is untouched (keep it until the site runs well)\n"
	       "next:\n"
	       "  1. in stewardd.conf: database = %s\n"
	       "     (the password in ~steward/.pgpass, not in the URL)\n"
	       "  2. stewardd -n -c stewardd.conf, then start stewardd\n"
	       "  3. check: stewardctl site show, clients list, audit verify\n",
	       rep.ntables, rep.rows, db, masked);
	return CTL_OK;
}

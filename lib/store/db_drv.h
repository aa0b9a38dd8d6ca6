/* store/db: what each engine's driver gives db.c. Not a public header. */
#ifndef STEWARD_STORE_DB_DRV_H
#define STEWARD_STORE_DB_DRV_H

#include "db.h"

struct db_driver {
	enum db_kind kind;
	int (*open)(const char *target, struct db **out, struct steward_err *err);
	void (*close)(struct db *db);
	int (*exec)(struct db *db, const char *sql);
	struct db_stmt *(*prepare)(struct db *db, const char *sql);
	void (*finalize)(struct db_stmt *q);
	void (*reset)(struct db_stmt *q);
	void (*clear)(struct db_stmt *q);
	int (*param_index)(struct db_stmt *q, const char *name);
	void (*bind_int64)(struct db_stmt *q, int i, int64_t v);
	void (*bind_text)(struct db_stmt *q, int i, const char *v);
	void (*bind_textn)(struct db_stmt *q, int i, const char *v, size_t n);
	void (*bind_blob)(struct db_stmt *q, int i, const void *v, size_t n);
	void (*bind_null)(struct db_stmt *q, int i);
	int (*step)(struct db_stmt *q);
	int (*col_count)(struct db_stmt *q);
	bool (*col_null)(struct db_stmt *q, int i);
	int64_t (*col_int64)(struct db_stmt *q, int i);
	const char *(*col_text)(struct db_stmt *q, int i);
	const void *(*col_blob)(struct db_stmt *q, int i, size_t *n);
	size_t (*col_bytes)(struct db_stmt *q, int i);
	int64_t (*changes)(struct db *db);
	const char *(*errmsg)(struct db *db);
};

/* The first member of every driver's connection and statement. */
struct db {
	const struct db_driver *drv;
	char target[512]; /* password masked */
};

struct db_stmt {
	struct db *db;
};

extern const struct db_driver db_sqlite_driver;
extern const struct db_driver db_pg_driver;
void db_pg_answer_bound(struct db *db, int ms);

/* Copy target into db->target with the password of a URL masked. */
void db_set_target(struct db *db, const char *target);

#endif

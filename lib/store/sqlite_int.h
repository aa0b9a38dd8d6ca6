/* store/sqlite internals shared by the backend's files (sqlite.c,
 * sqlite_inventory.c, sqlite_collections.c). Not a public header. */
#ifndef STEWARD_STORE_SQLITE_INT_H
#define STEWARD_STORE_SQLITE_INT_H

#include <pthread.h>

#include "steward/store.h"
#include "db.h"

struct sqlite_store {
	struct store base;
	struct db *db;        /* general use, under lock */
	struct db *wdb;       /* check-in writer thread only */
	pthread_mutex_t lock;
	char *target;       /* what was opened: a path or a postgresql:// URL */
	struct db_stmt *w_update;
	struct db_stmt *w_seq;
	struct db_stmt *w_details;
	struct db_stmt *w_link;
	struct db_stmt *w_status;
	struct db_stmt *w_many; /* PostgreSQL: a batch's check-ins in one statement */
};

#define SS(st) ((struct sqlite_store *)(st))

/* Run SQL without results; logs and returns -STEWARD_ESTORE on failure. */
int sqlite_exec(struct db *db, const char *sql);
/* Copy a text column ("" for NULL), truncating to outsz. */
void sqlite_col_text(struct db_stmt *s, int i, char *out, size_t outsz);
/* Step a statement expected to finish (DB_DONE), then reset and clear it. */
int sqlite_step_reset(struct db_stmt *q);

/* Statement helpers on the general connection (sqlite.c). */
typedef int (*sqlite_row_fn)(struct db_stmt *q, void *cb, void *ctx);
/* Prepare sql; the caller holds s->lock. NULL (logged) on failure. */
struct db_stmt *sqlite_prep(struct sqlite_store *s, const char *sql);
/* Step q to its end, calling fn for each row; finalizes q. */
int sqlite_each_row(struct db_stmt *q, sqlite_row_fn fn, void *cb, void *ctx);
/* Run one statement that must finish; finalizes q. A constraint failure is
 * -STEWARD_EEXIST for a duplicate, -STEWARD_EBUSY otherwise. */
int sqlite_run_once(struct sqlite_store *s, struct db_stmt *q);
/* The same for an INSERT ... RETURNING rid: *rid gets the new row's id. */
int sqlite_insert_once(struct sqlite_store *s, struct db_stmt *q, int64_t *rid);
/* Take the lock and BEGIN IMMEDIATE; sqlite_end commits (rc 0) or rolls
 * back and releases the lock, returning rc (or the commit's failure). */
int sqlite_begin(struct sqlite_store *s);
int sqlite_end(struct sqlite_store *s, int rc);
/* Announce a change of what stewardd keeps in memory (kind and id, see
 * STORE_CHANGE_* in store.h) to the other management points: on
 * PostgreSQL a pg_notify in the caller's transaction (s->lock held), sent
 * at its COMMIT and never for a rollback; nothing on SQLite, which one
 * stewardd alone uses. */
int sqlite_notify(struct sqlite_store *s, const char *kind, const char *id);
/* A read under the lock: prepare, bind ?1 rid, ?2 id, ?3 limit when the
 * statement has them, and walk the rows. */
int sqlite_read_rows(struct store *st, const char *sql, int64_t rid, const char *id,
		     int64_t limit, sqlite_row_fn fn, void *cb, void *ctx);

/* Migrations kept beside the operations that use them. */
extern const char sqlite_migration_inventory[];
extern const char sqlite_migration_links[];
extern const char sqlite_migration_collections[];
extern const char sqlite_migration_swdist[];
extern const char sqlite_migration_releases[];
extern const char sqlite_migration_release_marks[];
extern const char sqlite_migration_hierarchy[];
extern const char sqlite_migration_hierarchy_objects[];
extern const char sqlite_migration_hierarchy_kept[];
extern const char sqlite_migration_hierarchy_down[];
extern const char sqlite_migration_hierarchy_inventory[];
extern const char sqlite_migration_hierarchy_share[];
extern const char sqlite_migration_admins[];
extern const char sqlite_migration_rollouts[];
extern const char sqlite_migration_rollout_changes[];

/* rollouts and maintenance windows (sqlite_rollouts.c): entries of store_sqlite_ops */
int sqlite_rollout_put(struct store *st, const char *name, const char *doc);
int sqlite_rollout_list(struct store *st, store_rollout_cb cb, void *ctx);
int sqlite_rollout_members_put(struct store *st, const char *rollout,
			       const struct store_rollout_member *m, size_t n);
int sqlite_rollout_members_list(struct store *st, const char *rollout, int64_t since,
				store_rollout_member_cb cb, void *ctx);
int sqlite_rollout_delete(struct store *st, const char *name);
int sqlite_window_insert(struct store *st, const struct store_window *w);
int sqlite_window_delete(struct store *st, const char *name);
int sqlite_window_list(struct store *st, store_window_cb cb, void *ctx);

/* administrators and the audit log (sqlite_admins.c): entries of store_sqlite_ops */
int sqlite_admin_insert(struct store *st, const struct store_admin *a,
			const uint8_t hash[PROTO_HASH_BYTES]);
int sqlite_admin_find(struct store *st, const uint8_t hash[PROTO_HASH_BYTES],
		      struct store_admin *out);
int sqlite_admin_count(struct store *st, int64_t *n);
int sqlite_admin_list(struct store *st, store_admin_cb cb, void *ctx);
int sqlite_admin_revoke(struct store *st, const char *name, int64_t now);
int sqlite_audit_last(struct store *st, struct store_audit *out);
int sqlite_audit_append(struct store *st, const struct store_audit *e);
int sqlite_audit_list(struct store *st, const struct store_audit_filter *f, store_audit_cb cb,
		      void *ctx);

/* software distribution (sqlite_swdist.c): entries of store_sqlite_ops */
int sqlite_package_create(struct store *st, struct store_package *p, const struct store_blob *b,
			  size_t n);
int sqlite_package_list(struct store *st, store_package_cb cb, void *ctx);
int sqlite_package_blobs(struct store *st, int64_t package_rid, store_blob_cb cb, void *ctx);
int sqlite_package_delete(struct store *st, int64_t rid);
int sqlite_blob_list(struct store *st, store_blob_cb cb, void *ctx);
int sqlite_release_create(struct store *st, struct store_release *r, const struct store_blob *b,
			  size_t n, bool newest);
int sqlite_release_list(struct store *st, store_release_cb cb, void *ctx);
int sqlite_release_mark(struct store *st, const char *version, bool withdrawn, const char *reason,
			const char *by, int64_t now);
int sqlite_release_rollback(struct store *st, const char *version, const char *by, int64_t at);
int sqlite_release_outcome_put(struct store *st, const struct store_release_outcome *o);
int sqlite_release_outcome_list(struct store *st, const char *version, int64_t limit,
				store_release_outcome_cb cb, void *ctx);
int sqlite_program_create(struct store *st, struct store_program *p);
int sqlite_program_list(struct store *st, store_program_cb cb, void *ctx);
int sqlite_program_delete(struct store *st, int64_t rid);
int sqlite_advert_create(struct store *st, struct store_advert *a);
int sqlite_advert_list(struct store *st, store_advert_cb cb, void *ctx);
int sqlite_advert_set_enabled(struct store *st, int64_t rid, bool enabled, int64_t *revision);
int sqlite_advert_delete(struct store *st, int64_t rid);
int sqlite_status_apply(struct store *st, const struct store_status *s, size_t n, size_t *applied);
int sqlite_status_current(struct store *st, int64_t advert_rid, const char *client_id,
			  store_status_cb cb, void *ctx);
int sqlite_status_history(struct store *st, int64_t advert_rid, const char *client_id,
			  int64_t limit, store_status_cb cb, void *ctx);
int sqlite_status_history_prune(struct store *st, int64_t before);

/* the hierarchy (sqlite_hierarchy.c): entries of store_sqlite_ops */
int sqlite_site_token_insert(struct store *st, const char *id, const uint8_t hash[PROTO_HASH_BYTES],
			     int64_t expires, int64_t created, const char *by);
int sqlite_site_token_use(struct store *st, const uint8_t hash[PROTO_HASH_BYTES], int64_t now,
			  const char *site, enum store_token_refusal *refusal);
int sqlite_site_put(struct store *st, const struct store_site *v);
int sqlite_site_get(struct store *st, const char *code, struct store_site *out);
int sqlite_site_list(struct store *st, store_site_cb cb, void *ctx);
int sqlite_site_get_backlog(struct store *st, const char *code, struct store_site *out);
int sqlite_site_update(struct store *st, const char *code, unsigned mask,
		       const struct store_site *v);
int sqlite_site_apply(struct store *st, const char *code, uint64_t req_seq,
		      struct store_link_rec *recs, size_t n, uint64_t applied[PROTO_LINK_CLASSES]);
int sqlite_outbox_put(struct store *st, const char *link, int relation, int cls, const char *kind,
		      const char *body);
int sqlite_outbox_peek(struct store *st, const char *link, unsigned mask, size_t max_msgs,
		       size_t max_bytes, store_outbox_cb cb, void *ctx);
int sqlite_outbox_ack(struct store *st, const char *link, const struct store_link_ack *a);
int sqlite_outbox_prune(struct store *st, int64_t now, int64_t keep_s, int64_t keep_max, size_t *n);
int sqlite_outbox_lift(struct store *st, int64_t floor);
int sqlite_outbox_seen(struct store *st, const char *parent, const char *site_code, int64_t since,
		       size_t *n);
int sqlite_outbox_summary(struct store *st, const char *parent, const char *site_code, size_t *n);
int sqlite_site_client_list(struct store *st, store_site_client_cb cb, void *ctx);
int sqlite_site_status_list(struct store *st, const char *advert, store_site_status_cb cb,
			    void *ctx);
int sqlite_fetch_list(struct store *st, store_fetch_cb cb, void *ctx);
int sqlite_fetch_update(struct store *st, const char *version, const char *state,
			const char *detail);
int sqlite_site_inventory_level(struct store *st, const char *parent, const char *level,
				const char *site_code, size_t *queued);
int sqlite_site_inventory_list(struct store *st, const char *id, store_site_inv_cb cb, void *ctx);
int sqlite_site_object_list(struct store *st, const char *kind, const char *name,
			    store_site_object_cb cb, void *ctx);
int sqlite_down_list(struct store *st, const char *kind, const char *name, bool all,
		     store_down_cb cb, void *ctx);
int sqlite_down_update(struct store *st, int64_t seq, int64_t gen, const char *state,
		       const char *detail, bool done);
int sqlite_outbox_hold(struct store *st, const char *link, const char *takes, const char *version,
		       size_t *held);
int sqlite_outbox_objects(struct store *st, const char *link, size_t *n);
/* Queue the collection of rid toward every attached child, in the
 * caller's transaction (sqlite_collections.c: triggers on the collection
 * row would fire before its members and rules are in). */
int sqlite_down_collection(struct db *db, int64_t rid);

/* collections (sqlite_collections.c): entries of store_sqlite_ops */
int sqlite_collection_create(struct store *st, struct store_collection *c);
int sqlite_collection_list(struct store *st, store_collection_cb cb, void *ctx);
int sqlite_collection_get(struct store *st, const char *name, struct store_collection *out);
int sqlite_collection_delete(struct store *st, const char *name);
int sqlite_collection_set_members(struct store *st, const char *name,
				  const char (*ids)[PROTO_CLIENT_ID_HEX + 1], size_t n);
int sqlite_collection_facts(struct store *st, const char *id, store_facts_cb cb, void *ctx);

/* inventory (sqlite_inventory.c): entries of store_sqlite_ops */
int sqlite_inventory_get(struct store *st, const char *id, struct store_inventory *out);
int sqlite_inventory_put(struct store *st, const char *id, const struct store_inventory_put *in);
int sqlite_inventory_history(struct store *st, const char *id, int64_t limit,
			     store_inventory_history_cb cb, void *ctx);
int sqlite_inventory_since(struct store *st, int64_t since, store_id_cb cb, void *ctx);

#endif

/* store/pg_schema: the site database's schema on PostgreSQL (see pg_schema.c). */
#ifndef STEWARD_STORE_PG_SCHEMA_H
#define STEWARD_STORE_PG_SCHEMA_H

/* Schema version 15, the SQLite store's latest, as one SQL text: run it
 * with db_exec() in one transaction on an empty PostgreSQL database. */
#define PG_SCHEMA_VERSION 15
extern const char pg_schema_v15[];

/* The SQL of migration v (1-based) as the store runs it (sqlite.c): on
 * PostgreSQL, those after PG_SCHEMA_VERSION. NULL past the last. */
const char *store_migration_sql(int v);

/* What a PostgreSQL database needs beyond its schema's version, made at
 * every open where missing (pg_schema.c says why each is not in it): the
 * name of the trigger it makes, and its SQL, run in one transaction. */
#define PG_OUTBOX_IN_ORDER "site_outbox_in_order"
extern const char pg_outbox_in_order[];

/* The transaction-scoped advisory locks steward takes, by what they
 * guard: schema changes (migrations and the guards above, one process at
 * a time) and outbox inserts (their seqs in the order of their commits). */
#define PG_LOCK_SCHEMA "7310157"
#define PG_LOCK_OUTBOX "7310158"

#endif

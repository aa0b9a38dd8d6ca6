/* store/pg_schema: the site database's schema on PostgreSQL (see pg_schema.c). */
#ifndef STEWARD_STORE_PG_SCHEMA_H
#define STEWARD_STORE_PG_SCHEMA_H

/* Schema version 15, the SQLite store's latest, as one SQL text: run it
 * with db_exec() in one transaction on an empty PostgreSQL database. */
#define PG_SCHEMA_VERSION 15
extern const char pg_schema_v15[];

#endif

/* store/sqlite_collections: collections and their definitions.
 *
 * Only definitions are stored (static members, query text, include and
 * exclude rules); membership is derived and kept current in memory by the
 * site. */
#include "sqlite_int.h"

const char sqlite_migration_collections[] =
    "CREATE TABLE collections ("
    " rid INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " kind TEXT NOT NULL CHECK (kind IN ('static','query')),"
    " query TEXT NOT NULL DEFAULT '',"
    " comment TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL,"
    " created_by TEXT NOT NULL);"
    "CREATE TABLE collection_members ("
    " collection_rid INTEGER NOT NULL REFERENCES collections(rid) ON DELETE CASCADE,"
    " client_id TEXT NOT NULL,"
    " PRIMARY KEY (collection_rid, client_id)) WITHOUT ROWID;"
    "CREATE TABLE collection_rules ("
    " collection_rid INTEGER NOT NULL REFERENCES collections(rid) ON DELETE CASCADE,"
    " kind TEXT NOT NULL CHECK (kind IN ('include','exclude')),"
    " other_name TEXT NOT NULL,"
    " PRIMARY KEY (collection_rid, kind, other_name)) WITHOUT ROWID;";

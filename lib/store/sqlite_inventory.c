/* store/sqlite_inventory: each client's current inventory and its history.
 *
 * The current inventory keeps one row per client with the canonical JSON
 * of each class and its hash, so a delta can be applied to the class it
 * replaces and an unknown base is detected by comparing full hashes. The
 * history keeps one row per changed class per report. */
#include "sqlite_int.h"

const char sqlite_migration_inventory[] =
    "CREATE TABLE inventory ("
    " client_rid INTEGER PRIMARY KEY REFERENCES clients(rid),"
    " received INTEGER NOT NULL,"
    " full_hash TEXT NOT NULL,"
    " hardware_hash TEXT NOT NULL,"
    " os_hash TEXT NOT NULL,"
    " software_hash TEXT NOT NULL,"
    " hardware TEXT NOT NULL,"
    " os TEXT NOT NULL,"
    " software TEXT NOT NULL);"
    "CREATE TABLE inventory_history ("
    " rid INTEGER PRIMARY KEY,"
    " client_rid INTEGER NOT NULL REFERENCES clients(rid),"
    " time INTEGER NOT NULL,"
    " class TEXT NOT NULL CHECK (class IN ('hardware','os','software')),"
    " change TEXT NOT NULL);"
    "CREATE INDEX inventory_history_by_client ON inventory_history(client_rid, time);";

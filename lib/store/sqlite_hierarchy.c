/* store/sqlite_hierarchy: linked sites, the outbox toward them, and what
 * sites below report.
 *
 * The outbox is a table in the sender's own database. Changes that must
 * travel up are queued by triggers in the same transaction as the change
 * itself (a status report, a client's enrollment or new state, an upgrade
 * outcome), so a kill -9 can lose neither: either both are on disk or
 * neither is. Sequence numbers come from one AUTOINCREMENT counter, so they
 * grow within every link and class. The receiver keeps, per sending site
 * and class, the highest sequence it applied, and applies a batch in one
 * transaction: a batch sent again after a lost reply applies nothing
 * twice. Status reports are also unique by their own identity (site,
 * client, advertisement, revision, report sequence), so even a sender
 * restored from a backup cannot count one twice.
 * docs/internals/hierarchy.md has the whole exchange.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlite_int.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* The clients row as a summary (the receiver fills in the site). */
#define CLIENT_JSON(R)                                                                             \
	"json_object('id', " R ".id, 'hostname', " R ".hostname, 'state', " R ".state,"         \
	" 'agent_version', " R ".agent_version, 'protocol', " R ".protocol, 'enrolled', " R       \
	".enrolled, 'last_seen', COALESCE((SELECT last_seen FROM checkins WHERE client_rid = " R \
	".rid), " R ".enrolled))"
#define SITE_CLIENT_JSON(R)                                                                        \
	"json_object('id', " R ".id, 'hostname', " R ".hostname, 'state', " R ".state,"         \
	" 'agent_version', " R ".agent_version, 'protocol', " R ".protocol, 'enrolled', " R       \
	".enrolled, 'last_seen', " R ".last_seen)"
#define HAS_PARENT "EXISTS (SELECT 1 FROM sites WHERE relation = 0 AND attached = 1)"
#define TO_PARENT(CLS, KIND, BODY)                                                                 \
	"INSERT INTO site_outbox(link, class, kind, body, created)"                                \
	" SELECT code, " CLS ", '" KIND "', " BODY ", CAST(strftime('%s', 'now') AS INTEGER)"      \
	" FROM sites WHERE relation = 0 AND attached = 1;"

const char sqlite_migration_hierarchy[] =
    "CREATE TABLE sites ("
    " code TEXT PRIMARY KEY,"
    " relation INTEGER NOT NULL CHECK (relation IN (0, 1)),"
    " name TEXT NOT NULL DEFAULT '',"
    " url TEXT NOT NULL,"
    " public_key TEXT NOT NULL,"
    " attached INTEGER NOT NULL DEFAULT 1,"
    " version TEXT NOT NULL DEFAULT '',"
    " protocol TEXT NOT NULL DEFAULT '',"
    " attached_at INTEGER NOT NULL,"
    " last_in INTEGER NOT NULL DEFAULT 0,"
    " last_out INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " in_req_seq INTEGER NOT NULL DEFAULT 0,"
    " in_applied0 INTEGER NOT NULL DEFAULT 0,"
    " in_applied1 INTEGER NOT NULL DEFAULT 0,"
    " in_applied2 INTEGER NOT NULL DEFAULT 0,"
    " schedule TEXT NOT NULL DEFAULT '',"
    " rate INTEGER NOT NULL DEFAULT 0,"
    " pulse_bytes INTEGER NOT NULL DEFAULT 0,"
    " pulse_wait INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE site_attach_tokens ("
    " id TEXT PRIMARY KEY,"
    " hash BLOB NOT NULL UNIQUE,"
    " expires INTEGER NOT NULL,"
    " used INTEGER NOT NULL DEFAULT 0,"
    " used_by TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL,"
    " created_by TEXT NOT NULL);"
    "CREATE TABLE site_outbox ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " link TEXT NOT NULL,"
    " class INTEGER NOT NULL CHECK (class BETWEEN 0 AND 2),"
    " kind TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX site_outbox_by_link ON site_outbox(link, class, seq);"
    /* what sites below report */
    "CREATE TABLE site_clients ("
    " id TEXT PRIMARY KEY,"
    " site TEXT NOT NULL,"
    " via TEXT NOT NULL,"
    " hostname TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " agent_version TEXT NOT NULL,"
    " protocol TEXT NOT NULL,"
    " enrolled INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " updated INTEGER NOT NULL);"
    "CREATE INDEX site_clients_by_site ON site_clients(site);"
    "CREATE TABLE site_status ("
    " rid INTEGER PRIMARY KEY,"
    " site TEXT NOT NULL,"
    " advert TEXT NOT NULL,"
    " client TEXT NOT NULL,"
    " revision INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " exit_code INTEGER,"
    " detail TEXT NOT NULL,"
    " time INTEGER NOT NULL,"
    " received INTEGER NOT NULL,"
    " UNIQUE (site, client, advert, revision, seq));"
    "CREATE INDEX site_status_by_advert ON site_status(advert, client, time);"
    /* up the link, in the same transaction as the change */
    "CREATE TRIGGER up_status AFTER INSERT ON status_history WHEN " HAS_PARENT " BEGIN " TO_PARENT(
	"1", "status",
	"json_object('advert', (SELECT name FROM adverts WHERE rid = NEW.advert_rid),"
	" 'client', NEW.client_id, 'revision', NEW.revision, 'seq', NEW.seq, 'state', NEW.state,"
	" 'exit_code', NEW.exit_code, 'detail', NEW.detail, 'time', NEW.time)") " END;"
    "CREATE TRIGGER up_status_below AFTER INSERT ON site_status WHEN " HAS_PARENT
    " BEGIN " TO_PARENT(
	"1", "status",
	"json_object('site', NEW.site, 'advert', NEW.advert, 'client', NEW.client, 'revision',"
	" NEW.revision, 'seq', NEW.seq, 'state', NEW.state, 'exit_code', NEW.exit_code,"
	" 'detail', NEW.detail, 'time', NEW.time)") " END;"
    "CREATE TRIGGER up_client_new AFTER INSERT ON clients WHEN " HAS_PARENT
    " BEGIN " TO_PARENT("1", "clients",
			"json_object('clients', json_array(" CLIENT_JSON("NEW") "))") " END;"
    "CREATE TRIGGER up_client AFTER UPDATE OF hostname, state, agent_version, protocol ON clients"
    " WHEN " HAS_PARENT " BEGIN " TO_PARENT(
	"1", "clients", "json_object('clients', json_array(" CLIENT_JSON("NEW") "))") " END;"
    "CREATE TRIGGER up_client_below_new AFTER INSERT ON site_clients WHEN " HAS_PARENT
    " BEGIN " TO_PARENT("1", "clients",
			"json_object('site', NEW.site, 'clients', json_array(" SITE_CLIENT_JSON(
			    "NEW") "))") " END;"
    "CREATE TRIGGER up_client_below AFTER UPDATE OF hostname, state, agent_version, protocol ON"
    " site_clients WHEN " HAS_PARENT " BEGIN " TO_PARENT(
	"1", "clients",
	"json_object('site', NEW.site, 'clients', json_array(" SITE_CLIENT_JSON("NEW") "))") " END;"
    "CREATE TRIGGER up_outcome AFTER INSERT ON release_outcomes WHEN " HAS_PARENT
    " BEGIN " TO_PARENT("1", "outcome",
			"json_object('version', NEW.version, 'client', NEW.client, 'outcome',"
			" NEW.outcome, 'time', NEW.time, 'detail', NEW.detail)") " END;"
    "CREATE TRIGGER up_outcome_change AFTER UPDATE OF outcome ON release_outcomes WHEN " HAS_PARENT
    " BEGIN " TO_PARENT("1", "outcome",
			"json_object('version', NEW.version, 'client', NEW.client, 'outcome',"
			" NEW.outcome, 'time', NEW.time, 'detail', NEW.detail)") " END;";

/* Migration 8: releases from above still being fetched, and how objects
 * sent down went at the sites below (forwarded up like status). */
const char sqlite_migration_hierarchy_objects[] =
    "CREATE TABLE site_fetch ("
    " version TEXT PRIMARY KEY,"
    " source TEXT NOT NULL,"
    " manifest TEXT NOT NULL,"
    " rollback INTEGER NOT NULL DEFAULT 0,"
    " added INTEGER NOT NULL,"
    " tries INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL DEFAULT 'fetching' CHECK (state IN ('fetching', 'refused')),"
    " detail TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE site_objects ("
    " site TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " detail TEXT NOT NULL DEFAULT '',"
    " updated INTEGER NOT NULL,"
    " PRIMARY KEY (site, kind, name));"
    "CREATE TRIGGER up_object AFTER INSERT ON site_objects WHEN " HAS_PARENT
    " BEGIN " TO_PARENT("1", "object",
			"json_object('site', NEW.site, 'kind', NEW.kind, 'name', NEW.name, 'state',"
			" NEW.state, 'detail', NEW.detail)") " END;"
    "CREATE TRIGGER up_object_change AFTER UPDATE OF state, detail ON site_objects WHEN "
    HAS_PARENT " BEGIN " TO_PARENT("1", "object",
				   "json_object('site', NEW.site, 'kind', NEW.kind, 'name', NEW.name,"
				   " 'state', NEW.state, 'detail', NEW.detail)") " END;";

/* Migration 9: what a sender keeps after its receiver acknowledged it, and
 * what that receiver last said (its epoch, what it applied, its watch), so
 * that a receiver restored from a backup is sent again what it lost. */
const char sqlite_migration_hierarchy_kept[] =
    "CREATE TABLE site_outbox_kept ("
    " seq INTEGER PRIMARY KEY,"
    " link TEXT NOT NULL,"
    " class INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " acked INTEGER NOT NULL);"
    "CREATE INDEX site_outbox_kept_by_link ON site_outbox_kept(link, seq);"
    "ALTER TABLE sites ADD COLUMN out_epoch TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE sites ADD COLUMN out_acked0 INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sites ADD COLUMN out_acked1 INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sites ADD COLUMN out_acked2 INTEGER NOT NULL DEFAULT 0;"
    /* the highest sequence pruned from site_outbox_kept, by class */
    "ALTER TABLE sites ADD COLUMN out_pruned0 INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sites ADD COLUMN out_pruned1 INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sites ADD COLUMN out_pruned2 INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sites ADD COLUMN out_keep_until INTEGER NOT NULL DEFAULT 0;";

/* Migration 10: collections, packages, programs and advertisements flow
 * down. Every such object of a site goes to every child (queued by the
 * triggers below with the change itself, or, for a collection whose
 * members and rules are inserted after its row, by sqlite_down_collection
 * in the same transaction); a child keeps those it received marked with
 * the site that defined them (origin), read-only. What a child received
 * waits in site_down until it is applied (a package's content is fetched
 * first), and each change of its state is reported up, like a release's.
 * Toward a child that does not take these kinds (an older one), they wait
 * in site_outbox_held (outbox_hold). */
#define TO_CHILDREN(KIND, BODY)                                                                    \
	"INSERT INTO site_outbox(link, class, kind, body, created)"                                \
	" SELECT code, 1, '" KIND "', " BODY ", CAST(strftime('%s', 'now') AS INTEGER)"            \
	" FROM sites WHERE relation = 1 AND attached = 1;"
#define PACKAGE_JSON(R)                                                                            \
	"json_object('op', 'put', 'name', " R ".name, 'version', " R ".version, 'manifest', " R   \
	".manifest, 'bytes', " R ".bytes, 'files', " R ".files, 'comment', " R ".comment,"         \
	" 'created', " R ".created, 'created_by', " R ".created_by, 'origin', " R ".origin)"
#define PROGRAM_JSON(R)                                                                            \
	"json_object('op', 'put', 'name', " R ".name, 'package', (SELECT name FROM packages"      \
	" WHERE rid = " R ".package_rid), 'version', (SELECT version FROM packages WHERE rid = " R \
	".package_rid), 'spec', " R ".spec, 'created', " R ".created, 'created_by', " R            \
	".created_by, 'origin', " R ".origin)"
/* As migration 10 wrote it; migration 15 adds the link policy (ADVERT_JSON). */
#define ADVERT_JSON_10(R)                                                                          \
	"json_object('op', 'put', 'name', " R ".name, 'program', (SELECT name FROM programs"      \
	" WHERE rid = " R ".program_rid), 'collection', " R ".collection, 'available', " R         \
	".available, 'mandatory', " R ".mandatory, 'recurring', " R ".recurring, 'expires', " R    \
	".expires, 'enabled', json(CASE WHEN " R ".enabled THEN 'true' ELSE 'false' END),"        \
	" 'created', " R ".created, 'created_by', " R ".created_by, 'origin', " R ".origin)"
#define ADVERT_JSON(R)                                                                             \
	"json_insert(" ADVERT_JSON_10(R) ", '$.links', " R ".links, '$.link_deadline', " R         \
	".link_deadline)"
#define COLLECTION_JSON(R)                                                                         \
	"json_object('op', 'put', 'name', " R ".name, 'kind', " R ".kind, 'query', " R ".query,"  \
	" 'comment', " R ".comment, 'created', " R ".created, 'created_by', " R ".created_by,"    \
	" 'origin', " R ".origin, 'members', json((SELECT json_group_array(client_id) FROM"       \
	" collection_members WHERE collection_rid = " R ".rid)), 'include', json((SELECT"         \
	" json_group_array(other_name) FROM collection_rules WHERE collection_rid = " R ".rid"     \
	" AND kind = 'include')), 'exclude', json((SELECT json_group_array(other_name) FROM"      \
	" collection_rules WHERE collection_rid = " R ".rid AND kind = 'exclude')))"
#define GONE_JSON(R) "json_object('op', 'delete', 'name', " R ".name, 'origin', " R ".origin)"
#define DOWN_KINDS_SQL "('collection', 'package', 'program', 'advert')"

const char sqlite_migration_hierarchy_down[] =
    "ALTER TABLE collections ADD COLUMN origin TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE packages ADD COLUMN origin TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE programs ADD COLUMN origin TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE adverts ADD COLUMN origin TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE sites ADD COLUMN takes TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE site_down ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " origin TEXT NOT NULL,"
    " op TEXT NOT NULL CHECK (op IN ('put', 'delete')),"
    " body TEXT NOT NULL,"
    " gen INTEGER NOT NULL DEFAULT 1,"
    " state TEXT NOT NULL,"
    " detail TEXT NOT NULL DEFAULT '',"
    " done INTEGER NOT NULL DEFAULT 0,"
    " updated INTEGER NOT NULL,"
    " UNIQUE (kind, name));"
    "CREATE TABLE site_outbox_held ("
    " seq INTEGER PRIMARY KEY,"
    " link TEXT NOT NULL,"
    " class INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX site_outbox_held_by_link ON site_outbox_held(link, seq);"
    /* how each went here, up to the parent with the change */
    "CREATE TRIGGER up_down AFTER INSERT ON site_down WHEN " HAS_PARENT
    " BEGIN " TO_PARENT("1", "object",
			"json_object('kind', NEW.kind, 'name', NEW.name, 'state', NEW.state,"
			" 'detail', NEW.detail)") " END;"
    "CREATE TRIGGER up_down_change AFTER UPDATE OF state, detail ON site_down WHEN " HAS_PARENT
    " BEGIN " TO_PARENT("1", "object",
			"json_object('kind', NEW.kind, 'name', NEW.name, 'state', NEW.state,"
			" 'detail', NEW.detail)") " END;"
    /* down to every child, with the change */
    "CREATE TRIGGER down_package AFTER INSERT ON packages BEGIN " TO_CHILDREN(
	"package", PACKAGE_JSON("NEW")) " END;"
    "CREATE TRIGGER down_package_gone AFTER DELETE ON packages BEGIN " TO_CHILDREN(
	"package", "json_object('op', 'delete', 'name', OLD.name, 'version', OLD.version,"
		   " 'origin', OLD.origin)") " END;"
    "CREATE TRIGGER down_program AFTER INSERT ON programs BEGIN " TO_CHILDREN(
	"program", PROGRAM_JSON("NEW")) " END;"
    "CREATE TRIGGER down_program_gone AFTER DELETE ON programs BEGIN " TO_CHILDREN(
	"program", GONE_JSON("OLD")) " END;"
    "CREATE TRIGGER down_advert AFTER INSERT ON adverts BEGIN " TO_CHILDREN(
	"advert", ADVERT_JSON_10("NEW")) " END;"
    "CREATE TRIGGER down_advert_change AFTER UPDATE OF enabled ON adverts BEGIN " TO_CHILDREN(
	"advert", ADVERT_JSON_10("NEW")) " END;"
    "CREATE TRIGGER down_advert_gone AFTER DELETE ON adverts BEGIN " TO_CHILDREN(
	"advert", GONE_JSON("OLD")) " END;"
    "CREATE TRIGGER down_collection_gone AFTER DELETE ON collections BEGIN " TO_CHILDREN(
	"collection", GONE_JSON("OLD")) " END;";
/* Migration 15: each client's link, and the link policy of advertisements,
 * which go down the hierarchy with them (server/clientlink.c). */
const char sqlite_migration_links[] =
    "ALTER TABLE clients ADD COLUMN link TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE adverts ADD COLUMN links TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE adverts ADD COLUMN link_deadline INTEGER NOT NULL DEFAULT 0;"
    "DROP TRIGGER IF EXISTS down_advert;"
    "DROP TRIGGER IF EXISTS down_advert_change;"
    "CREATE TRIGGER down_advert AFTER INSERT ON adverts BEGIN " TO_CHILDREN(
	"advert", ADVERT_JSON("NEW")) " END;"
    "CREATE TRIGGER down_advert_change AFTER UPDATE OF enabled ON adverts BEGIN " TO_CHILDREN(
	"advert", ADVERT_JSON("NEW")) " END;";
/* Migration 10: inventory up the links. A child's row at the parent says
 * what the parent asks of it; the parent's row at the child what it asked
 * ("" until it says, as an older parent never does: nothing goes up then).
 * site_inventory keeps what came up from below: one row per client, a
 * summary or a full document. */

/* The level the parent asks of this site (NULL without a parent). */
#define INV_LEVEL "(SELECT inventory FROM sites WHERE relation = 0 AND attached = 1)"
/* A full document goes up only when it fits PROTO_LINK_INV_DOC_MAX with
 * room for its hashes and the message (4 KiB); a larger one goes up as a
 * summary, so that no message is ever too large for the receiver. */
#define INV_FIT_MAX 8384512
_Static_assert(INV_FIT_MAX + 4096 == PROTO_LINK_INV_DOC_MAX, "INV_FIT_MAX");
#define INV_FITS(R)                                                                                \
	"(length(" R ".hardware) + length(" R ".os) + COALESCE(length(" R ".software), 0) <= " STR( \
	    INV_FIT_MAX) ")"
/* The summary of a hardware class (a full one, or a summary again: the same
 * text either way, so summaries compare by text) and of an os class. */
#define SUM_HW(H)                                                                                  \
	"json_object('cpu', json_object('model', json_extract(" H ", '$.cpu.model'), 'sockets',"   \
	" json_extract(" H ", '$.cpu.sockets'), 'cores', json_extract(" H ", '$.cpu.cores'),"      \
	" 'threads', json_extract(" H ", '$.cpu.threads')), 'memory', json_object('total_mb',"     \
	" json_extract(" H ", '$.memory.total_mb')), 'disk_total_mb', COALESCE(json_extract(" H   \
	", '$.disk_total_mb'), (SELECT COALESCE(sum(json_extract(d.value, '$.size_mb')), 0) FROM"  \
	" json_each(" H ", '$.disks') d)), 'dmi', json_object('vendor', json_extract(" H           \
	", '$.dmi.vendor'), 'product', json_extract(" H ", '$.dmi.product')), 'virtualization',"   \
	" json_extract(" H ", '$.virtualization'))"
#define SUM_OS(O)                                                                                  \
	"json_object('id', json_extract(" O ", '$.id'), 'name', json_extract(" O ", '$.name'),"    \
	" 'version_id', json_extract(" O ", '$.version_id'), 'version', json_extract(" O           \
	", '$.version'), 'pretty_name', json_extract(" O ", '$.pretty_name'), 'kernel_release',"   \
	" json_extract(" O ", '$.kernel_release'), 'arch', json_extract(" O ", '$.arch'))"
#define SUM_CHANGED(A, B)                                                                          \
	"(" SUM_HW(A ".hardware") " IS NOT " SUM_HW(B ".hardware") " OR " SUM_OS(A ".os")          \
	" IS NOT " SUM_OS(B ".os") ")"
/* One client's entry: ID is an SQL expression of its id, R the row (of
 * inventory or of site_inventory). */
#define INV_SUMMARY(ID, R)                                                                         \
	"json_object('id', " ID ", 'received', " R ".received, 'hardware', " SUM_HW(              \
	    R ".hardware") ", 'os', " SUM_OS(R ".os") ")"
#define INV_FULL(ID, R)                                                                            \
	"json_object('id', " ID ", 'received', " R ".received, 'inventory', json_object('schema',"  \
	" 1, 'classes', json_object('hardware', json(" R ".hardware), 'os', json(" R ".os),"        \
	" 'software', json(" R ".software)), 'hashes', json_object('hardware', " R                 \
	".hardware_hash, 'os', " R ".os_hash, 'software', " R ".software_hash), 'full_hash', " R     \
	".full_hash))"
#define OWN_ID(R) "(SELECT id FROM clients WHERE rid = " R ".client_rid)"
/* Queue toward the parent when COND holds of its row (sites.inventory). */
#define TO_PARENT_IF(CLS, BODY, COND)                                                              \
	"INSERT INTO site_outbox(link, class, kind, body, created)"                                \
	" SELECT code, " CLS ", 'inventory', " BODY ", CAST(strftime('%s', 'now') AS INTEGER)"     \
	" FROM sites WHERE relation = 0 AND attached = 1 AND (" COND ");"
#define LVL_FULL "sites.inventory = 'full'"
#define LVL_SUMMARY "sites.inventory = 'summary'"

const char sqlite_migration_hierarchy_inventory[] =
    "ALTER TABLE sites ADD COLUMN inventory TEXT NOT NULL DEFAULT 'summary';"
    /* a parent attached before says nothing yet: nothing goes up to it */
    "UPDATE sites SET inventory = '' WHERE relation = 0;"
    "CREATE TABLE site_inventory ("
    " site TEXT NOT NULL,"
    " client TEXT NOT NULL,"
    " via TEXT NOT NULL,"
    " level TEXT NOT NULL CHECK (level IN ('summary', 'full')),"
    " received INTEGER NOT NULL,"
    " full_hash TEXT NOT NULL DEFAULT '',"
    " hardware_hash TEXT NOT NULL DEFAULT '',"
    " os_hash TEXT NOT NULL DEFAULT '',"
    " software_hash TEXT NOT NULL DEFAULT '',"
    " hardware TEXT NOT NULL,"
    " os TEXT NOT NULL,"
    " software TEXT," /* NULL at summary */
    " updated INTEGER NOT NULL,"
    " PRIMARY KEY (site, client));"
    "CREATE INDEX site_inventory_by_client ON site_inventory(client);"
    /* a client deleted below takes its inventory with it */
    "CREATE TRIGGER site_inventory_gone AFTER UPDATE OF state ON site_clients"
    " WHEN NEW.state = 'deleted' BEGIN DELETE FROM site_inventory WHERE client = NEW.id; END;"
    /* this site's own clients, up at the level the parent asks */
    "CREATE TRIGGER up_inventory_new AFTER INSERT ON inventory WHEN " INV_LEVEL
    " IN ('summary', 'full') BEGIN "
    TO_PARENT_IF("2", "json_object('level', 'full', 'clients', json_array(" INV_FULL(
		     OWN_ID("NEW"), "NEW") "))",
		 LVL_FULL " AND " INV_FITS("NEW"))
    TO_PARENT_IF("1", "json_object('level', 'summary', 'clients', json_array(" INV_SUMMARY(
		     OWN_ID("NEW"), "NEW") "))",
		 LVL_SUMMARY " OR (" LVL_FULL " AND NOT " INV_FITS("NEW") ")")
    " END;"
    "CREATE TRIGGER up_inventory AFTER UPDATE ON inventory WHEN OLD.full_hash IS NOT"
    " NEW.full_hash AND " INV_LEVEL " IN ('summary', 'full') BEGIN "
    TO_PARENT_IF("2", "json_object('level', 'full', 'clients', json_array(" INV_FULL(
		     OWN_ID("NEW"), "NEW") "))",
		 LVL_FULL " AND " INV_FITS("NEW"))
    TO_PARENT_IF("1", "json_object('level', 'summary', 'clients', json_array(" INV_SUMMARY(
		     OWN_ID("NEW"), "NEW") "))",
		 "(" LVL_SUMMARY " OR (" LVL_FULL " AND NOT " INV_FITS("NEW") ")) AND "
		 SUM_CHANGED("OLD", "NEW"))
    " END;"
    /* what came from below, on up at the lower of the two levels */
    "CREATE TRIGGER up_inventory_below_new AFTER INSERT ON site_inventory WHEN " INV_LEVEL
    " IN ('summary', 'full') BEGIN "
    TO_PARENT_IF("2", "json_object('site', NEW.site, 'level', 'full', 'clients', json_array("
		 INV_FULL("NEW.client", "NEW") "))",
		 LVL_FULL " AND NEW.level = 'full' AND " INV_FITS("NEW"))
    TO_PARENT_IF("1", "json_object('site', NEW.site, 'level', 'summary', 'clients',"
		 " json_array(" INV_SUMMARY("NEW.client", "NEW") "))",
		 LVL_SUMMARY " OR (" LVL_FULL " AND (NEW.level = 'summary' OR NOT " INV_FITS(
		     "NEW") "))")
    " END;"
    "CREATE TRIGGER up_inventory_below AFTER UPDATE ON site_inventory WHEN " INV_LEVEL
    " IN ('summary', 'full') BEGIN "
    TO_PARENT_IF("2", "json_object('site', NEW.site, 'level', 'full', 'clients', json_array("
		 INV_FULL("NEW.client", "NEW") "))",
		 LVL_FULL " AND NEW.level = 'full' AND " INV_FITS("NEW") " AND (OLD.full_hash IS"
		 " NOT NEW.full_hash OR OLD.level IS NOT NEW.level)")
    TO_PARENT_IF("1", "json_object('site', NEW.site, 'level', 'summary', 'clients',"
		 " json_array(" INV_SUMMARY("NEW.client", "NEW") "))",
		 "(" LVL_SUMMARY " OR (" LVL_FULL " AND (NEW.level = 'summary' OR NOT " INV_FITS(
		     "NEW") "))) AND " SUM_CHANGED("OLD", "NEW"))
    " END;";

/* ---- attach tokens ---------------------------------------------------------------- */

int sqlite_site_token_insert(struct store *st, const char *id, const uint8_t hash[PROTO_HASH_BYTES],
			     int64_t expires, int64_t created, const char *by)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "INSERT INTO site_attach_tokens(id, hash, expires, created, created_by)"
			   " VALUES(?1,?2,?3,?4,?5)");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, id);
	db_bind_blob(q, 2, hash, PROTO_HASH_BYTES);
	db_bind_int64(q, 3, expires);
	db_bind_int64(q, 4, created);
	db_bind_text(q, 5, by);
	rc = sqlite_run_once(s, q);
out:
	return sqlite_end(s, rc);
}

int sqlite_site_token_use(struct store *st, const uint8_t hash[PROTO_HASH_BYTES], int64_t now,
			  const char *site, enum store_token_refusal *refusal)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc, r;

	*refusal = TOKEN_UNKNOWN;
	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "SELECT expires, used FROM site_attach_tokens WHERE hash = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_blob(q, 1, hash, PROTO_HASH_BYTES);
	r = db_step(q);
	if (r == DB_ROW)
		*refusal = db_col_int64(q, 1)		  ? TOKEN_USED_UP
			   : db_col_int64(q, 0) <= now ? TOKEN_EXPIRED
							       : TOKEN_OK;
	else if (r != DB_DONE)
		rc = -STEWARD_ESTORE;
	db_finalize(q);
	if (rc || *refusal != TOKEN_OK)
		goto out;
	q = sqlite_prep(s, "UPDATE site_attach_tokens SET used = 1, used_by = ?2 WHERE hash = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_blob(q, 1, hash, PROTO_HASH_BYTES);
	db_bind_text(q, 2, site);
	rc = sqlite_run_once(s, q);
out:
	return sqlite_end(s, rc);
}

/* ---- linked sites -------------------------------------------------------------------- */

#define SITE_COLS                                                                                  \
	"code, relation, name, url, public_key, attached, version, protocol, attached_at,"         \
	" last_in, last_out, last_error, in_req_seq, in_applied0, in_applied1, in_applied2,"       \
	" schedule, rate, pulse_bytes, pulse_wait, out_epoch, out_acked0, out_acked1,"             \
	" out_acked2, out_keep_until, takes, inventory, share"
#define SITE_N_COLS 28

static void site_row(struct db_stmt *q, struct store_site *o)
{
	memset(o, 0, sizeof(*o));
	sqlite_col_text(q, 0, o->code, sizeof(o->code));
	o->relation = db_col_int64(q, 1);
	sqlite_col_text(q, 2, o->name, sizeof(o->name));
	sqlite_col_text(q, 3, o->url, sizeof(o->url));
	sqlite_col_text(q, 4, o->public_key, sizeof(o->public_key));
	o->attached = db_col_int64(q, 5) != 0;
	sqlite_col_text(q, 6, o->version, sizeof(o->version));
	sqlite_col_text(q, 7, o->protocol, sizeof(o->protocol));
	o->attached_at = db_col_int64(q, 8);
	o->last_in = db_col_int64(q, 9);
	o->last_out = db_col_int64(q, 10);
	sqlite_col_text(q, 11, o->last_error, sizeof(o->last_error));
	o->in_req_seq = (uint64_t)db_col_int64(q, 12);
	for (int c = 0; c < PROTO_LINK_CLASSES; c++)
		o->in_applied[c] = (uint64_t)db_col_int64(q, 13 + c);
	sqlite_col_text(q, 16, o->schedule, sizeof(o->schedule));
	o->rate = db_col_int64(q, 17);
	o->pulse_bytes = db_col_int64(q, 18);
	o->pulse_wait = db_col_int64(q, 19);
	sqlite_col_text(q, 20, o->out_epoch, sizeof(o->out_epoch));
	for (int c = 0; c < PROTO_LINK_CLASSES; c++)
		o->out_acked[c] = (uint64_t)db_col_int64(q, 21 + c);
	o->out_keep_until = db_col_int64(q, 24);
	sqlite_col_text(q, 25, o->takes, sizeof(o->takes));
	sqlite_col_text(q, 26, o->inventory, sizeof(o->inventory));
	o->share = db_col_int64(q, 27);
}

/* Nothing waits for, and nothing is kept for, link any more (an attach
 * starts afresh, a detached site is sent nothing). In the caller's
 * transaction. */
static int drop_link(struct sqlite_store *s, const char *link)
{
	static const char *const sql[] = {"DELETE FROM site_outbox WHERE link = ?1",
					  "DELETE FROM site_outbox_kept WHERE link = ?1",
					  "DELETE FROM site_outbox_held WHERE link = ?1"};
	int rc = 0;

	for (size_t i = 0; !rc && i < sizeof(sql) / sizeof(sql[0]); i++) {
		struct db_stmt *q = sqlite_prep(s, sql[i]);

		if (!q)
			return -STEWARD_ESTORE;
		db_bind_text(q, 1, link);
		rc = sqlite_run_once(s, q);
	}
	return rc;
}

int sqlite_site_put(struct store *st, const struct store_site *v)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	if ((rc = drop_link(s, v->code)))
		goto out;
	/* a parent has asked for no inventory yet; a child is asked for
	 * summaries unless the caller says otherwise */
	/* a fresh row: what the columns not named here held before is reset */
	q = sqlite_prep(s, "DELETE FROM sites WHERE code = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, v->code);
	if ((rc = sqlite_run_once(s, q)))
		goto out;
	q = sqlite_prep(s, "INSERT INTO sites(code, relation, name, url, public_key,"
			   " attached, version, protocol, attached_at, schedule, rate, pulse_bytes,"
			   " pulse_wait, inventory, share) VALUES(?1,?2,?3,?4,?5,1,?6,?7,?8,?9,?10,?11,"
			   " ?12, CASE WHEN ?2 = 0 THEN '' WHEN ?13 IN ('none', 'summary', 'full')"
			   " THEN ?13 ELSE 'summary' END, ?14)");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, v->code);
	db_bind_int64(q, 2, v->relation);
	db_bind_text(q, 3, v->name);
	db_bind_text(q, 4, v->url);
	db_bind_text(q, 5, v->public_key);
	db_bind_text(q, 6, v->version);
	db_bind_text(q, 7, v->protocol);
	db_bind_int64(q, 8, v->attached_at);
	db_bind_text(q, 9, v->schedule);
	db_bind_int64(q, 10, v->rate);
	db_bind_int64(q, 11, v->pulse_bytes);
	db_bind_int64(q, 12, v->pulse_wait);
	db_bind_text(q, 13, v->inventory);
	db_bind_int64(q, 14, v->share >= 0 && v->share < 100 ? v->share : 0);
	rc = sqlite_run_once(s, q);
out:
	return sqlite_end(s, rc);
}

static int site_cb_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_site v;

	site_row(q, &v);
	if (db_col_count(q) > SITE_N_COLS) {
		v.out_msgs = db_col_int64(q, SITE_N_COLS);
		v.out_bytes = db_col_int64(q, SITE_N_COLS + 1);
		v.out_kept = db_col_int64(q, SITE_N_COLS + 2);
	}
	return ((store_site_cb)cb)(&v, ctx);
}

static int copy_site(const struct store_site *v, void *ctx)
{
	*(struct store_site *)ctx = *v;
	return 1; /* the first is the one */
}

/* The backlog costs a walk of the outbox: site_list (for people) counts
 * it, site_get (every batch, both sides) does not. */
#define SITE_SELECT_BACKLOG                                                                        \
	"SELECT " SITE_COLS ","                                                                    \
	" (SELECT count(*) FROM site_outbox o WHERE o.link = sites.code),"                         \
	" (SELECT COALESCE(sum(length(o.body)), 0) FROM site_outbox o WHERE o.link = sites.code)," \
	" (SELECT count(*) FROM site_outbox_kept k WHERE k.link = sites.code)"                     \
	" FROM sites"

int sqlite_site_get(struct store *st, const char *code, struct store_site *out)
{
	int rc = sqlite_read_rows(st, "SELECT " SITE_COLS " FROM sites WHERE code = ?2", 0, code,
				  0, site_cb_row, (void *)copy_site, out);

	return rc == 1 ? 0 : rc == 0 ? -STEWARD_ENOTFOUND : rc;
}

int sqlite_site_get_backlog(struct store *st, const char *code, struct store_site *out)
{
	int rc = sqlite_read_rows(st, SITE_SELECT_BACKLOG " WHERE code = ?2", 0, code, 0,
				  site_cb_row, (void *)copy_site, out);

	return rc == 1 ? 0 : rc == 0 ? -STEWARD_ENOTFOUND : rc;
}

int sqlite_site_list(struct store *st, store_site_cb cb, void *ctx)
{
	return sqlite_read_rows(st, SITE_SELECT_BACKLOG " ORDER BY relation, code", 0, NULL, 0,
				site_cb_row,
				(void *)cb, ctx);
}

int sqlite_site_update(struct store *st, const char *code, unsigned mask,
		       const struct store_site *v)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc = 0;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "SELECT 1 FROM sites WHERE code = ?1");
	if (!q)
		goto fail;
	db_bind_text(q, 1, code);
	rc = db_step(q) == DB_ROW ? 0 : -STEWARD_ENOTFOUND;
	db_finalize(q);
	if (rc)
		goto out;
	if (mask & STORE_SITE_F_STATE) {
		q = sqlite_prep(s, "UPDATE sites SET attached = ?2 WHERE code = ?1");
		if (!q)
			goto fail;
		db_bind_text(q, 1, code);
		db_bind_int64(q, 2, v->attached);
		if ((rc = sqlite_run_once(s, q)))
			goto out;
		/* a detached site is sent nothing more */
		if (!v->attached && (rc = drop_link(s, code)))
			goto out;
	}
	if (mask & STORE_SITE_F_PEER) {
		q = sqlite_prep(s, "UPDATE sites SET name = ?2, url = ?3, version = ?4, protocol = ?5,"
				   " takes = ?6 WHERE code = ?1");
		if (!q)
			goto fail;
		db_bind_text(q, 1, code);
		db_bind_text(q, 2, v->name);
		db_bind_text(q, 3, v->url);
		db_bind_text(q, 4, v->version);
		db_bind_text(q, 5, v->protocol);
		db_bind_text(q, 6, v->takes);
		if ((rc = sqlite_run_once(s, q)))
			goto out;
	}
	if (mask & STORE_SITE_F_OUT) {
		q = sqlite_prep(s, "UPDATE sites SET last_out = max(last_out, ?2), last_error = ?3"
				   " WHERE code = ?1");
		if (!q)
			goto fail;
		db_bind_text(q, 1, code);
		db_bind_int64(q, 2, v->last_out);
		db_bind_text(q, 3, v->last_error);
		if ((rc = sqlite_run_once(s, q)))
			goto out;
	}
	if (mask & STORE_SITE_F_LINK) {
		q = sqlite_prep(s, "UPDATE sites SET schedule = ?2, rate = ?3, pulse_bytes = ?4,"
				   " pulse_wait = ?5, share = ?6 WHERE code = ?1");
		if (!q)
			goto fail;
		db_bind_text(q, 1, code);
		db_bind_text(q, 2, v->schedule);
		db_bind_int64(q, 3, v->rate);
		db_bind_int64(q, 4, v->pulse_bytes);
		db_bind_int64(q, 5, v->pulse_wait);
		db_bind_int64(q, 6, v->share);
		if ((rc = sqlite_run_once(s, q)))
			goto out;
	}
	if (mask & STORE_SITE_F_INVENTORY) {
		if (!proto_link_inv_level_valid(v->inventory)) {
			rc = -STEWARD_EINVAL;
			goto out;
		}
		q = sqlite_prep(s, "UPDATE sites SET inventory = ?2 WHERE code = ?1");
		if (!q)
			goto fail;
		db_bind_text(q, 1, code);
		db_bind_text(q, 2, v->inventory);
		if ((rc = sqlite_run_once(s, q)))
			goto out;
	}
	goto out;
fail:
	rc = -STEWARD_ESTORE;
out:
	return sqlite_end(s, rc);
}

/* ---- applying what a linked site sent ------------------------------------------------- */

/* Step a reused statement once, then make it ready for the next row. */
static int bind_run(struct db_stmt *q)
{
	int r = db_step(q);

	db_reset(q);
	db_clear(q);
	return r == DB_DONE ? 0 : -STEWARD_ESTORE;
}

static void bind_opt(struct db_stmt *q, int i, const char *v)
{
	db_bind_text(q, i, v ? v : "");
}

enum {
	Q_CLIENT,
	Q_SEEN,
	Q_STATUS,
	Q_OUTCOME,
	Q_SETTING,
	Q_TOKEN,
	Q_REVOKE,
	Q_RELEASE,
	Q_OBJECT,
	Q_DOWN,
	Q_INVENTORY,
	Q_PASS,
	Q_N
};

/* Q_DOWN on PostgreSQL, which has no INSERT OR REPLACE: the row goes and
 * comes back with a new sequence and the next gen, as REPLACE does */
#define Q_DOWN_PG                                                                                  \
	"WITH old AS (DELETE FROM site_down WHERE kind = ?1 AND name = ?2 RETURNING gen)"         \
	" INSERT INTO site_down(kind, name, source, origin, op, body, gen, state, updated)"        \
	" VALUES(?1,?2,?3,?4,?5,?6, COALESCE((SELECT gen FROM old), 0) + 1, 'received', ?7)"

static const char *const apply_sql[Q_N] = {
    [Q_CLIENT] = "INSERT INTO site_clients(id, site, via, hostname, state, agent_version,"
		 " protocol, enrolled, last_seen, updated) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
		 " ON CONFLICT(id) DO UPDATE SET site = excluded.site, via = excluded.via,"
		 " hostname = excluded.hostname, state = excluded.state, agent_version ="
		 " excluded.agent_version, protocol = excluded.protocol, enrolled ="
		 " excluded.enrolled, last_seen = max(site_clients.last_seen, excluded.last_seen),"
		 " updated = excluded.updated",
    [Q_SEEN] = "UPDATE site_clients SET last_seen = max(last_seen, ?2), updated = ?3"
	       " WHERE id = ?1",
    [Q_STATUS] = "INSERT INTO site_status(site, advert, client, revision, seq, state,"
		 " exit_code, detail, time, received) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
		 " ON CONFLICT DO NOTHING",
    [Q_OUTCOME] = "INSERT INTO release_outcomes(version, client, outcome, time, detail)"
		  " VALUES(?1,?2,?3,?4,?5) ON CONFLICT(version, client) DO UPDATE SET"
		  " time = CASE WHEN release_outcomes.outcome = excluded.outcome"
		  " THEN release_outcomes.time ELSE excluded.time END,"
		  " outcome = excluded.outcome, detail = excluded.detail",
    [Q_SETTING] = "INSERT INTO settings(key, value) VALUES(?1, ?2)"
		  " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    /* a token made above: this site counts its own uses of it */
    [Q_TOKEN] = "INSERT INTO enroll_tokens(id, hash, uses, used, expires, site,"
		" revoked, created, created_by) VALUES(?1,?2,?3,0,?4,?5,0,?6,?7)"
		" ON CONFLICT DO NOTHING",
    [Q_REVOKE] = "UPDATE enroll_tokens SET revoked = 1 WHERE id = ?1",
    /* the fetcher takes it from here (a copy sent again changes nothing) */
    [Q_RELEASE] = "INSERT INTO site_fetch(version, source, manifest, rollback, added)"
		  " VALUES(?1,?2,?3,?4,?5) ON CONFLICT DO NOTHING",
    [Q_OBJECT] = "INSERT INTO site_objects(site, kind, name, state, detail, updated)"
		 " VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(site, kind, name) DO UPDATE SET"
		 " state = excluded.state, detail = excluded.detail, updated = excluded.updated",
    /* an object from above: applied by the worker (site_down_work), in
     * order of arrival */
    /* a newer copy replaces the row: a new sequence (it is applied in the
     * order the copies came: an advertisement's deletion before that of
     * its program), and the next gen */
    [Q_DOWN] = "INSERT OR REPLACE INTO site_down(kind, name, source, origin, op, body, gen, state,"
	       " updated) VALUES(?1,?2,?3,?4,?5,?6, COALESCE((SELECT gen FROM site_down WHERE"
	       " kind = ?1 AND name = ?2), 0) + 1, 'received', ?7)",
    /* replaced by what is newer and differs; a summary does not replace a
     * full document of the same time (the two classes may arrive out of
     * order: a full one sent before the link was lowered to summary) */
    [Q_INVENTORY] = "INSERT INTO site_inventory(site, client, via, level, received, full_hash,"
		    " hardware_hash, os_hash, software_hash, hardware, os, software, updated)"
		    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)"
		    " ON CONFLICT(site, client) DO UPDATE SET via = excluded.via,"
		    " level = excluded.level, received = excluded.received,"
		    " full_hash = excluded.full_hash, hardware_hash = excluded.hardware_hash,"
		    " os_hash = excluded.os_hash, software_hash = excluded.software_hash,"
		    " hardware = excluded.hardware, os = excluded.os,"
		    " software = excluded.software, updated = excluded.updated"
		    " WHERE excluded.received >= site_inventory.received"
		    " AND NOT (excluded.received = site_inventory.received"
		    " AND excluded.level = 'summary' AND site_inventory.level = 'full')"
		    " AND (excluded.level IS DISTINCT FROM site_inventory.level"
		    " OR excluded.hardware IS DISTINCT FROM site_inventory.hardware"
		    " OR excluded.os IS DISTINCT FROM site_inventory.os"
		    " OR excluded.software IS DISTINCT FROM site_inventory.software)",
    /* a cascade: the same message for every child, with the change itself */
    [Q_PASS] = "INSERT INTO site_outbox(link, class, kind, body, created)"
	       " SELECT code, ?1, ?2, ?3, ?4 FROM sites WHERE relation = 1 AND attached = 1",
};
_Static_assert(STORE_SITE_CHILD == 1, "Q_PASS selects the children by relation 1");

static int apply_one(struct db_stmt **qs, const char *code,
		     const struct store_link_rec *r, int64_t now)
{
	struct db_stmt *q;
	int rc = 0;

	switch (r->kind) {
	case STORE_LINK_CLIENTS:
		q = qs[Q_CLIENT];
		for (size_t i = 0; !rc && i < r->u.clients.n; i++) {
			const struct store_site_client *c = &r->u.clients.v[i];

			bind_opt(q, 1, c->id);
			bind_opt(q, 2, c->site);
			bind_opt(q, 3, code);
			bind_opt(q, 4, c->hostname);
			bind_opt(q, 5, c->state);
			bind_opt(q, 6, c->agent_version);
			bind_opt(q, 7, c->protocol);
			db_bind_int64(q, 8, c->enrolled);
			db_bind_int64(q, 9, c->last_seen);
			db_bind_int64(q, 10, now);
			rc = bind_run(q);
		}
		return rc;
	case STORE_LINK_SEEN:
		q = qs[Q_SEEN];
		for (size_t i = 0; !rc && i < r->u.seen.n; i++) {
			bind_opt(q, 1, r->u.seen.ids[i]);
			db_bind_int64(q, 2, r->u.seen.times[i]);
			db_bind_int64(q, 3, now);
			rc = bind_run(q);
		}
		return rc;
	case STORE_LINK_STATUS:
		q = qs[Q_STATUS];
		bind_opt(q, 1, r->u.status.site);
		bind_opt(q, 2, r->u.status.advert);
		bind_opt(q, 3, r->u.status.client);
		db_bind_int64(q, 4, r->u.status.revision);
		db_bind_int64(q, 5, r->u.status.seq);
		bind_opt(q, 6, r->u.status.state);
		if (r->u.status.has_exit_code)
			db_bind_int64(q, 7, r->u.status.exit_code);
		else
			db_bind_null(q, 7);
		bind_opt(q, 8, r->u.status.detail);
		db_bind_int64(q, 9, r->u.status.time);
		db_bind_int64(q, 10, now);
		return bind_run(q);
	case STORE_LINK_OUTCOME:
		q = qs[Q_OUTCOME];
		bind_opt(q, 1, r->u.outcome.version);
		bind_opt(q, 2, r->u.outcome.client);
		bind_opt(q, 3, r->u.outcome.outcome);
		db_bind_int64(q, 4, r->u.outcome.time);
		bind_opt(q, 5, r->u.outcome.detail);
		return bind_run(q);
	case STORE_LINK_SETTINGS:
		q = qs[Q_SETTING];
		for (size_t i = 0; !rc && i < r->u.settings.n; i++) {
			bind_opt(q, 1, r->u.settings.keys[i]);
			bind_opt(q, 2, r->u.settings.values[i]);
			rc = bind_run(q);
		}
		return rc;
	case STORE_LINK_TOKEN:
		q = qs[Q_TOKEN];
		bind_opt(q, 1, r->u.token.id);
		db_bind_blob(q, 2, r->u.token.hash, PROTO_HASH_BYTES);
		db_bind_int64(q, 3, r->u.token.uses);
		db_bind_int64(q, 4, r->u.token.expires);
		bind_opt(q, 5, r->u.token.site);
		db_bind_int64(q, 6, r->u.token.created);
		bind_opt(q, 7, r->u.token.created_by);
		return bind_run(q);
	case STORE_LINK_TOKEN_REVOKE:
		q = qs[Q_REVOKE];
		bind_opt(q, 1, r->u.token_id);
		return bind_run(q);
	case STORE_LINK_RELEASE:
		q = qs[Q_RELEASE];
		bind_opt(q, 1, r->u.release.version);
		bind_opt(q, 2, code);
		db_bind_textn(q, 3, r->u.release.manifest, r->u.release.len);
		db_bind_int64(q, 4, r->u.release.rollback);
		db_bind_int64(q, 5, now);
		return bind_run(q);
	case STORE_LINK_INVENTORY: {
		const struct proto_link_inv *x = r->u.inventory;

		q = qs[Q_INVENTORY];
		for (size_t i = 0; !rc && x && i < x->n; i++) {
			const struct proto_link_inv_client *c = &x->v[i];

			bind_opt(q, 1, x->site[0] ? x->site : code);
			bind_opt(q, 2, c->id);
			bind_opt(q, 3, code);
			bind_opt(q, 4, x->full ? "full" : "summary");
			db_bind_int64(q, 5, c->received);
			bind_opt(q, 6, c->full_hash);
			for (int k = 0; k < 3; k++)
				bind_opt(q, 7 + k, c->hashes[k]);
			bind_opt(q, 10, c->hardware);
			bind_opt(q, 11, c->os);
			if (c->software)
				db_bind_text(q, 12, c->software);
			else
				db_bind_null(q, 12);
			db_bind_int64(q, 13, now);
			rc = bind_run(q);
		}
		return rc;
	}
	case STORE_LINK_OBJECT:
		q = qs[Q_OBJECT];
		bind_opt(q, 1, r->u.object.site);
		bind_opt(q, 2, r->u.object.kind);
		bind_opt(q, 3, r->u.object.name);
		bind_opt(q, 4, r->u.object.state);
		bind_opt(q, 5, r->u.object.detail);
		db_bind_int64(q, 6, now);
		return bind_run(q);
	case STORE_LINK_DOWN:
		q = qs[Q_DOWN];
		bind_opt(q, 1, r->u.down.kind);
		bind_opt(q, 2, r->u.down.name);
		bind_opt(q, 3, code);
		/* "" from the sender: defined there */
		bind_opt(q, 4, r->u.down.origin && *r->u.down.origin ? r->u.down.origin : code);
		bind_opt(q, 5, r->u.down.op);
		bind_opt(q, 6, r->u.down.body);
		db_bind_int64(q, 7, now);
		return bind_run(q);
	default:
		return 0;
	}
}

int sqlite_site_apply(struct store *st, const char *code, uint64_t req_seq,
		      struct store_link_rec *recs, size_t n, uint64_t applied[PROTO_LINK_CLASSES])
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *qs[Q_N] = {0}, *q;
	int64_t now = time_now_s();
	int rc, r;

	if (req_seq > INT64_MAX)
		return -STEWARD_EEXIST;
	if ((rc = sqlite_begin(s)))
		return rc;
	/* the request's sequence first: a replay applies nothing */
	if (req_seq) {
		q = sqlite_prep(s, "UPDATE sites SET in_req_seq = ?2 WHERE code = ?1 AND attached = 1"
				   " AND in_req_seq < ?2");
		if (!q) {
			rc = -STEWARD_ESTORE;
			goto out;
		}
		db_bind_text(q, 1, code);
		db_bind_int64(q, 2, (int64_t)req_seq);
		rc = sqlite_run_once(s, q);
		if (!rc && db_changes(s->db) == 0)
			rc = -STEWARD_EEXIST;
		if (rc)
			goto out;
	}
	q = sqlite_prep(s, "SELECT in_applied0, in_applied1, in_applied2 FROM sites WHERE code = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, code);
	r = db_step(q);
	for (int c = 0; r == DB_ROW && c < PROTO_LINK_CLASSES; c++)
		applied[c] = (uint64_t)db_col_int64(q, c);
	db_finalize(q);
	if (r != DB_ROW) {
		rc = r == DB_DONE ? -STEWARD_ENOTFOUND : -STEWARD_ESTORE;
		goto out;
	}
	for (int i = 0; i < Q_N; i++)
		if (!(qs[i] = sqlite_prep(s, i == Q_DOWN && db_kind(s->db) == DB_POSTGRESQL
						 ? Q_DOWN_PG
						 : apply_sql[i]))) {
			rc = -STEWARD_ESTORE;
			goto out;
		}
	for (size_t i = 0; !rc && i < n; i++) {
		struct store_link_rec *m = &recs[i];

		m->applied = false;
		if (m->cls < 0 || m->cls >= PROTO_LINK_CLASSES || m->seq <= applied[m->cls])
			continue; /* applied before: a batch sent again */
		rc = apply_one(qs, code, m, now);
		if (!rc && m->pass_kind && m->pass_body) {
			db_bind_int64(qs[Q_PASS], 1, m->cls);
			bind_opt(qs[Q_PASS], 2, m->pass_kind);
			bind_opt(qs[Q_PASS], 3, m->pass_body);
			db_bind_int64(qs[Q_PASS], 4, now);
			rc = bind_run(qs[Q_PASS]);
		}
		if (!rc) {
			m->applied = true;
			applied[m->cls] = m->seq;
		}
	}
	if (rc)
		goto out;
	q = sqlite_prep(s, "UPDATE sites SET in_applied0 = ?2, in_applied1 = ?3, in_applied2 = ?4,"
			   " last_in = ?5 WHERE code = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, code);
	for (int c = 0; c < PROTO_LINK_CLASSES; c++)
		db_bind_int64(q, 2 + c, (int64_t)applied[c]);
	db_bind_int64(q, 5, now);
	rc = sqlite_run_once(s, q);
out:
	for (int i = 0; i < Q_N; i++)
		db_finalize(qs[i]);
	return sqlite_end(s, rc);
}

/* ---- the outbox ----------------------------------------------------------------------- */

int sqlite_outbox_put(struct store *st, const char *link, int relation, int cls, const char *kind,
		      const char *body)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, link ? "INSERT INTO site_outbox(link, class, kind, body, created)"
				  " SELECT code, ?3, ?4, ?5, ?6 FROM sites WHERE code = ?1"
				  " AND attached = 1"
				: "INSERT INTO site_outbox(link, class, kind, body, created)"
				  " SELECT code, ?3, ?4, ?5, ?6 FROM sites WHERE relation = ?2"
				  " AND attached = 1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	if (link)
		db_bind_text(q, 1, link);
	else
		db_bind_int64(q, 2, relation);
	db_bind_int64(q, 3, cls);
	db_bind_text(q, 4, kind);
	db_bind_text(q, 5, body);
	db_bind_int64(q, 6, time_now_s());
	rc = sqlite_run_once(s, q);
	if (!rc && link && db_changes(s->db) == 0)
		rc = -STEWARD_ENOTFOUND;
out:
	return sqlite_end(s, rc);
}

struct peek {
	store_outbox_cb cb;
	void *ctx;
	size_t bytes, max_bytes;
};

static int peek_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct peek *p = ctx;
	struct store_outbox_msg m;
	const char *kind = db_col_text(q, 2);

	(void)cb;
	/* at least one message, then as many as fit */
	if (p->bytes && p->bytes + (size_t)db_col_bytes(q, 3) > p->max_bytes)
		return 1;
	memset(&m, 0, sizeof(m));
	m.seq = (uint64_t)db_col_int64(q, 0);
	m.cls = db_col_int64(q, 1);
	snprintf(m.kind, sizeof(m.kind), "%s", kind ? kind : "");
	m.body = db_col_text(q, 3);
	m.len = (size_t)db_col_bytes(q, 3);
	if (!m.body)
		m.body = "{}", m.len = 2;
	p->bytes += m.len;
	return p->cb(&m, p->ctx);
}

int sqlite_outbox_peek(struct store *st, const char *link, unsigned mask, size_t max_msgs,
		       size_t max_bytes, store_outbox_cb cb, void *ctx)
{
	struct peek p = {cb, ctx, 0, max_bytes};
	char sql[256];
	int rc;

	snprintf(sql, sizeof(sql),
		 "SELECT seq, class, kind, body FROM site_outbox WHERE link = ?2"
		 " AND ((1 << class) & %u) != 0 ORDER BY class, seq LIMIT ?3",
		 mask & ((1u << PROTO_LINK_CLASSES) - 1));
	rc = sqlite_read_rows(st, sql, 0, link, (int64_t)max_msgs, peek_row, NULL, &p);
	return rc == 1 ? 0 : rc;
}

/* One statement on link (?1) with integers ?2.. bound from v; finalized.
 * *changes gets the rows it changed (when not NULL). */
static int run_link(struct sqlite_store *s, const char *sql, const char *link, const int64_t *v,
		    int nv, int64_t *changes)
{
	struct db_stmt *q = sqlite_prep(s, sql);
	int rc;

	if (!q)
		return -STEWARD_ESTORE;
	db_bind_text(q, 1, link);
	for (int i = 0; i < nv; i++)
		db_bind_int64(q, 2 + i, v[i]);
	rc = sqlite_run_once(s, q);
	if (!rc && changes)
		*changes = db_changes(s->db);
	return rc;
}

/* The receiver went back (restored): what is kept above what it has now
 * waits again, with its own sequence (above what it applied, so it is
 * applied, in order with what waited already). */
#define REWIND_SQL                                                                                 \
	"INSERT INTO site_outbox(seq, link, class, kind, body, created)"                           \
	" SELECT seq, link, class, kind, body, created FROM site_outbox_kept"                      \
	" WHERE link = ?1 AND class = ?2 AND seq > ?3"
#define REWIND_DROP_SQL "DELETE FROM site_outbox_kept WHERE link = ?1 AND class = ?2 AND seq > ?3"
/* Applied: kept, no longer waiting. */
#define KEEP_SQL                                                                                   \
	"INSERT INTO site_outbox_kept(seq, link, class, kind, body, created, acked)"               \
	" SELECT seq, link, class, kind, body, created, ?4 FROM site_outbox"                       \
	" WHERE link = ?1 AND class = ?2 AND seq <= ?3"
#define KEEP_DROP_SQL "DELETE FROM site_outbox WHERE link = ?1 AND class = ?2 AND seq <= ?3"

/* The largest sequence the outbox ever gave out (0: none). */
#define OUTBOX_TOP_SQL(db)                                                                         \
	(db_kind(db) == DB_POSTGRESQL                                                              \
	     ? "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM site_outbox_seq_seq"    \
	     : "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'site_outbox'), 0)")

static int lift_on(struct db *db, int64_t floor);

int sqlite_outbox_ack(struct store *st, const char *link, const struct store_link_ack *a)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	uint64_t top = 0, most = 0, was[PROTO_LINK_CLASSES] = {0}, pruned[PROTO_LINK_CLASSES] = {0};
	int64_t resent[PROTO_LINK_CLASSES] = {0};
	char epoch[PROTO_EPOCH_HEX + 1] = "";
	int rc, r;

	for (int c = 0; c < PROTO_LINK_CLASSES; c++)
		if (a->applied[c] > most)
			most = a->applied[c];
	if (most > INT64_MAX / 2 || strlen(a->epoch) > PROTO_EPOCH_HEX)
		return -STEWARD_EINVAL;
	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "SELECT out_epoch, out_acked0, out_acked1, out_acked2, out_pruned0,"
			   " out_pruned1, out_pruned2 FROM sites WHERE code = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, link);
	r = db_step(q);
	if (r == DB_ROW) {
		sqlite_col_text(q, 0, epoch, sizeof(epoch));
		for (int c = 0; c < PROTO_LINK_CLASSES; c++) {
			was[c] = (uint64_t)db_col_int64(q, 1 + c);
			pruned[c] = (uint64_t)db_col_int64(q, 4 + c);
		}
	}
	db_finalize(q);
	if (r != DB_ROW) {
		rc = r == DB_DONE ? -STEWARD_ENOTFOUND : -STEWARD_ESTORE;
		goto out;
	}
	q = sqlite_prep(s, OUTBOX_TOP_SQL(s->db));
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	if (db_step(q) == DB_ROW)
		top = (uint64_t)db_col_int64(q, 0);
	db_finalize(q);
	if (most > top) {
		/* The receiver applied sequences this outbox never gave out: this
		 * database was restored from an older copy and started without
		 * outbox_lift (a version before it). What waits here is moved
		 * above them, or the receiver would take it for repeats. */
		int64_t v[2] = {(int64_t)most, (int64_t)top};

		log_warn("store", "outbox_rebased", "link=%s receiver_applied=%llu outbox_top=%llu",
			 link, (unsigned long long)most, (unsigned long long)top);
		rc = run_link(s, "UPDATE site_outbox SET seq = seq + ?2 WHERE link = ?1", link, v,
			      1, NULL);
		if (!rc)
			rc = lift_on(s->db, (int64_t)(most + top));
		if (rc)
			goto out;
	}
	for (int c = 0; !rc && c < PROTO_LINK_CLASSES; c++) {
		int64_t v[3] = {c, (int64_t)a->applied[c], a->now};

		if (a->applied[c] < was[c]) {
			rc = run_link(s, REWIND_SQL, link, v, 2, &resent[c]);
			if (!rc)
				rc = run_link(s, REWIND_DROP_SQL, link, v, 2, NULL);
		}
		if (!rc)
			rc = run_link(s, KEEP_SQL, link, v, 3, NULL);
		if (!rc)
			rc = run_link(s, KEEP_DROP_SQL, link, v, 2, NULL);
	}
	if (rc)
		goto out;
	q = sqlite_prep(s, "UPDATE sites SET last_out = max(last_out, ?2), last_error = '',"
			   " out_epoch = ?3, out_acked0 = ?4, out_acked1 = ?5, out_acked2 = ?6,"
			   " out_keep_until = ?7 WHERE code = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, link);
	db_bind_int64(q, 2, a->now);
	db_bind_text(q, 3, a->epoch);
	for (int c = 0; c < PROTO_LINK_CLASSES; c++)
		db_bind_int64(q, 4 + c, (int64_t)a->applied[c]);
	db_bind_int64(q, 7, a->watch_until);
	rc = sqlite_run_once(s, q);
out:
	rc = sqlite_end(s, rc);
	if (rc)
		return rc;
	if (strcmp(epoch, a->epoch) != 0)
		log_info("store", "link_epoch", "link=%s was=%s now=%s", link,
			 epoch[0] ? epoch : "-", a->epoch[0] ? a->epoch : "-");
	for (int c = 0; c < PROTO_LINK_CLASSES; c++) {
		if (a->applied[c] >= was[c])
			continue;
		/* the receiver lost what it had applied above a->applied[c] */
		log_warn(
		    "store", "link_rewound",
		    "link=%s class=%d receiver_applied=%llu acknowledged_before=%llu resent=%lld",
		    link, c, (unsigned long long)a->applied[c], (unsigned long long)was[c],
		    (long long)resent[c]);
		if (pruned[c] > a->applied[c])
			log_error(
			    "store", "link_messages_lost",
			    "link=%s class=%d from=%llu to=%llu message=\"the receiver went back "
			    "to before messages this site no longer keeps (link_retention, "
			    "link_retention_max); they are not sent again\"",
			    link, c, (unsigned long long)a->applied[c],
			    (unsigned long long)pruned[c]);
	}
	return 0;
}

/* Drop what is kept toward link: acknowledged before ?2, or at or below
 * the sequence ?3 (beyond the newest keep_max). */
#define PRUNE_WHERE " WHERE link = ?1 AND (acked < ?2 OR seq <= ?3)"

int sqlite_outbox_prune(struct store *st, int64_t now, int64_t keep_s, int64_t keep_max, size_t *n)
{
	struct sqlite_store *s = SS(st);
	char(*links)[PROTO_SITE_CODE_LEN + 1] = NULL;
	size_t n_links = 0, cap = 0;
	struct db_stmt *q;
	int rc, r;

	*n = 0;
	if (keep_s < 0 || keep_max < 0)
		return -STEWARD_EINVAL;
	if ((rc = sqlite_begin(s)))
		return rc;
	/* kept toward a site no longer linked: nothing will ask for it */
	q = sqlite_prep(s,
			"DELETE FROM site_outbox_kept WHERE link NOT IN (SELECT code FROM sites)");
	if (!q || (rc = sqlite_run_once(s, q))) {
		rc = rc ? rc : -STEWARD_ESTORE;
		goto out;
	}
	*n += (size_t)db_changes(s->db);
	/* a site on watch after its upgrade may go back to its backup: all
	 * that was acknowledged since then must stay until its watch ends */
	q = sqlite_prep(s, "SELECT code FROM sites WHERE out_keep_until <= ?1 AND EXISTS"
			   " (SELECT 1 FROM site_outbox_kept k WHERE k.link = sites.code)");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_int64(q, 1, now);
	while ((r = db_step(q)) == DB_ROW) {
		if (n_links == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *p = realloc(links, ncap * sizeof(*links));

			if (!p) {
				rc = -STEWARD_ENOMEM;
				break;
			}
			links = p, cap = ncap;
		}
		sqlite_col_text(q, 0, links[n_links++], sizeof(links[0]));
	}
	if (!rc && r != DB_DONE)
		rc = -STEWARD_ESTORE;
	db_finalize(q);
	for (size_t i = 0; !rc && i < n_links; i++) {
		int64_t v[2] = {now - keep_s, 0};
		int64_t dropped = 0;

		/* the newest keep_max stay */
		q = sqlite_prep(s,
				"SELECT COALESCE((SELECT seq FROM site_outbox_kept WHERE link = ?1"
				" ORDER BY seq DESC LIMIT 1 OFFSET ?2), 0)");
		if (!q) {
			rc = -STEWARD_ESTORE;
			break;
		}
		db_bind_text(q, 1, links[i]);
		db_bind_int64(q, 2, keep_max);
		if (db_step(q) == DB_ROW)
			v[1] = db_col_int64(q, 0);
		else
			rc = -STEWARD_ESTORE;
		db_finalize(q);
		/* what is dropped, by class: a receiver that goes back below it
		 * can no longer be sent it again (outbox_ack says so) */
		if (!rc)
			rc = run_link(
			    s,
			    "UPDATE sites SET"
			    " out_pruned0 = max(out_pruned0, COALESCE((SELECT max(seq) FROM"
			    " site_outbox_kept" PRUNE_WHERE " AND class = 0), 0)),"
			    " out_pruned1 = max(out_pruned1, COALESCE((SELECT max(seq) FROM"
			    " site_outbox_kept" PRUNE_WHERE " AND class = 1), 0)),"
			    " out_pruned2 = max(out_pruned2, COALESCE((SELECT max(seq) FROM"
			    " site_outbox_kept" PRUNE_WHERE " AND class = 2), 0))"
			    " WHERE code = ?1",
			    links[i], v, 2, NULL);
		if (!rc)
			rc = run_link(s, "DELETE FROM site_outbox_kept" PRUNE_WHERE, links[i], v, 2,
				      &dropped);
		*n += (size_t)dropped;
	}
out:
	free(links);
	return sqlite_end(s, rc);
}

/* The outbox's counter, lifted to at least ?1: a database restored from a
 * backup takes it back, and its next messages would reuse sequences the
 * receiver applied already ("applied before": lost). The caller passes the
 * clock in microseconds, which has run on since any sequence the counter
 * gave out before (it gains one per message, the clock a million a
 * second), so what is queued after a restart is numbered above all of it.
 * On SQLite the counter is the outbox's row of sqlite_sequence, made when
 * no message was ever queued (no row yet); on PostgreSQL the outbox's
 * sequence (pg_schema.c). */
static const char *const lift_sql[] = {
    "INSERT INTO sqlite_sequence(name, seq) SELECT 'site_outbox', ?1"
    " WHERE EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'site_outbox')"
    " AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'site_outbox')",
    "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'site_outbox'",
};
static const char *const lift_sql_pg[] = {
    "SELECT setval('site_outbox_seq_seq', greatest(?1, 1,"
    " (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM site_outbox_seq_seq)))",
};

/* Run the statements of lift_sql on db, in the caller's transaction. */
static int lift_on(struct db *db, int64_t floor)
{
	bool pg = db_kind(db) == DB_POSTGRESQL;
	const char *const *sql = pg ? lift_sql_pg : lift_sql;
	size_t n = pg ? sizeof(lift_sql_pg) / sizeof(lift_sql_pg[0])
		      : sizeof(lift_sql) / sizeof(lift_sql[0]);
	int rc = 0;

	for (size_t i = 0; !rc && i < n; i++) {
		struct db_stmt *q = db_prepare(db, sql[i]);

		if (!q)
			return -STEWARD_ESTORE;
		db_bind_int64(q, 1, floor);
		rc = db_run(q);
		db_finalize(q);
	}
	return rc;
}

int sqlite_outbox_lift(struct store *st, int64_t floor)
{
	struct sqlite_store *s = SS(st);
	int rc;

	if (floor < 0)
		return -STEWARD_EINVAL;
	if ((rc = sqlite_begin(s)))
		return rc;
	rc = lift_on(s->db, floor);
	return sqlite_end(s, rc);
}

int store_outbox_lift_target(const char *path, int64_t floor)
{
	struct db *db = NULL;
	struct db_stmt *q = NULL;
	bool has_counter = false;
	int rc = 0;

	if (floor < 0)
		return -STEWARD_EINVAL;
	/* an existing database only: opening would make a missing one */
	if ((!db_target_is_postgresql(path) && access(path, F_OK) != 0) ||
	    db_open(path, &db, NULL))
		return -STEWARD_ESTORE;
	/* an old schema may have no counter at all: nothing to lift */
	if (!(q = db_prepare(db, db_kind(db) == DB_POSTGRESQL
				     ? "SELECT 1 WHERE to_regclass('site_outbox_seq_seq') IS NOT NULL"
				     : "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")))
		rc = -STEWARD_ESTORE;
	else
		has_counter = db_step(q) == DB_ROW;
	db_finalize(q);
	if (has_counter) {
		rc = db_begin(db);
		if (!rc)
			rc = lift_on(db, floor);
		if (sqlite_exec(db, rc ? "ROLLBACK" : "COMMIT") && !rc)
			rc = -STEWARD_ESTORE;
	}
	db_close(db);
	return rc;
}

/* Run one INSERT ... SELECT that queues messages; *n gets how many. */
static int queue(struct store *st, const char *sql, const char *parent, const char *site,
		 int64_t since, size_t *n)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	*n = 0;
	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, sql);
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, parent);
	if (db_param_index(q, "?2"))
		db_bind_text(q, 2, site);
	if (db_param_index(q, "?3"))
		db_bind_int64(q, 3, since);
	db_bind_int64(q, 4, time_now_s());
	rc = sqlite_run_once(s, q);
	if (!rc)
		*n = (size_t)db_changes(s->db);
out:
	return sqlite_end(s, rc);
}

#define SEEN_GROUP 500 /* clients per "seen" message */
#define SUMMARY_GROUP 200 /* clients per "clients" message of a full summary */

int sqlite_outbox_seen(struct store *st, const char *parent, const char *site_code, int64_t since,
		       size_t *n)
{
	size_t a = 0, b = 0;
	int rc = queue(st,
		       "INSERT INTO site_outbox(link, class, kind, body, created)"
		       " SELECT ?1, 1, 'seen', json_object('site', ?2, 'clients',"
		       " json_group_array(json_array(id, last_seen))), ?4 FROM ("
		       "  SELECT c.id AS id, k.last_seen AS last_seen,"
		       "  (row_number() OVER (ORDER BY c.rid) - 1) / " STR(SEEN_GROUP) " AS grp"
		       "  FROM checkins k JOIN clients c ON c.rid = k.client_rid"
		       "  WHERE k.last_seen > ?3) AS x GROUP BY grp",
		       parent, site_code, since, &a);

	if (!rc)
		rc = queue(st,
			   "INSERT INTO site_outbox(link, class, kind, body, created)"
			   " SELECT ?1, 1, 'seen', json_object('site', site, 'clients',"
			   " json_group_array(json_array(id, last_seen))), ?4 FROM ("
			   "  SELECT site, id, last_seen,"
			   "  (row_number() OVER (PARTITION BY site ORDER BY id) - 1) / "
			   STR(SEEN_GROUP) " AS grp"
			   "  FROM site_clients WHERE last_seen > ?3) AS x GROUP BY site, grp",
			   parent, site_code, since, &b);
	*n = a + b;
	return rc;
}

int sqlite_outbox_summary(struct store *st, const char *parent, const char *site_code, size_t *n)
{
	size_t a = 0, b = 0;
	int rc = queue(st,
		       "INSERT INTO site_outbox(link, class, kind, body, created)"
		       " SELECT ?1, 1, 'clients', json_object('site', ?2, 'clients',"
		       " json_group_array(json(j))), ?4 FROM ("
		       "  SELECT " CLIENT_JSON("c") " AS j,"
		       "  (row_number() OVER (ORDER BY c.rid) - 1) / " STR(SUMMARY_GROUP) " AS grp"
		       "  FROM clients c) AS x GROUP BY grp",
		       parent, site_code, 0, &a);

	if (!rc)
		rc = queue(st,
			   "INSERT INTO site_outbox(link, class, kind, body, created)"
			   " SELECT ?1, 1, 'clients', json_object('site', site, 'clients',"
			   " json_group_array(json(j))), ?4 FROM ("
			   "  SELECT site, " SITE_CLIENT_JSON("c") " AS j,"
			   "  (row_number() OVER (PARTITION BY site ORDER BY id) - 1) / "
			   STR(SUMMARY_GROUP) " AS grp"
			   "  FROM site_clients c) AS x GROUP BY site, grp",
			   parent, site_code, 0, &b);
	*n = a + b;
	return rc;
}

/* ---- inventory up the link -------------------------------------------------------------- */

static int inv_rank(const char *level)
{
	return !level ? 0 : strcmp(level, "full") == 0 ? 2 : strcmp(level, "summary") == 0 ? 1 : 0;
}

#define INV_GROUP 200 /* clients per summary message of a re-send */

/* What a parent that raised its level lacks: ?1 the parent, ?2 the level,
 * ?3 this site's code, ?4 now. Own clients first, then those from below
 * (at the lower of the two levels: a row is sent as it came, or less). */
#define RESEND_SQL(FULL_, SUMMARY_)                                                                \
	{                                                                                          \
    "INSERT INTO site_outbox(link, class, kind, body, created)" \
    " SELECT ?1, 2, 'inventory', json_object('site', ?3, 'level', 'full', 'clients'," \
    " json_array(" FULL_("c.id", "i") ")), ?4 FROM inventory i JOIN clients c" \
    " ON c.rid = i.client_rid WHERE ?2 = 'full' AND c.state != 'deleted' AND " INV_FITS("i") \
    " ORDER BY i.client_rid", \
    "INSERT INTO site_outbox(link, class, kind, body, created)" \
    " SELECT ?1, 1, 'inventory', json_object('site', ?3, 'level', 'summary', 'clients'," \
    " json_group_array(json(j))), ?4 FROM (" \
    "  SELECT " SUMMARY_("c.id", "i") " AS j," \
    "  (row_number() OVER (ORDER BY i.client_rid) - 1) / " STR(INV_GROUP) " AS grp" \
    "  FROM inventory i JOIN clients c ON c.rid = i.client_rid WHERE c.state != 'deleted'" \
    "  AND (?2 = 'summary' OR NOT " INV_FITS("i") ")) AS x GROUP BY grp ORDER BY grp", \
    "INSERT INTO site_outbox(link, class, kind, body, created)" \
    " SELECT ?1, 2, 'inventory', json_object('site', r.site, 'level', 'full', 'clients'," \
    " json_array(" FULL_("r.client", "r") ")), ?4 FROM site_inventory r" \
    " WHERE ?2 = 'full' AND r.level = 'full' AND " INV_FITS("r") " ORDER BY r.site, r.client", \
    "INSERT INTO site_outbox(link, class, kind, body, created)" \
    " SELECT ?1, 1, 'inventory', json_object('site', site, 'level', 'summary', 'clients'," \
    " json_group_array(json(j))), ?4 FROM (" \
    "  SELECT r.site AS site, " SUMMARY_("r.client", "r") " AS j," \
    "  (row_number() OVER (PARTITION BY r.site ORDER BY r.client) - 1) / " STR(INV_GROUP) \
    " AS grp FROM site_inventory r WHERE ?2 = 'summary' OR r.level = 'summary'" \
    "  OR NOT " INV_FITS("r") ") AS x GROUP BY site, grp ORDER BY site, grp", \
	}
/* PostgreSQL builds the same documents with functions of its schema
 * (pg_schema.c), keeping numbers numbers */
#define INV_FULL_PG(ID, R)                                                                         \
	"steward_inv_full(" ID ", " R ".received, " R ".hardware, " R ".os, " R ".software, " R      \
	".hardware_hash, " R ".os_hash, " R ".software_hash, " R ".full_hash)"
#define INV_SUMMARY_PG(ID, R)                                                                      \
	"steward_inv_summary(" ID ", " R ".received, " R ".hardware, " R ".os)"
static const char *const resend_sql[] = RESEND_SQL(INV_FULL, INV_SUMMARY);
static const char *const resend_sql_pg[] = RESEND_SQL(INV_FULL_PG, INV_SUMMARY_PG);

int sqlite_site_inventory_level(struct store *st, const char *parent, const char *level,
				const char *site_code, size_t *queued)
{
	struct sqlite_store *s = SS(st);
	char was[8] = "";
	struct db_stmt *q;
	int rc, r;

	*queued = 0;
	if (!parent || !site_code || (level[0] && !proto_link_inv_level_valid(level)))
		return -STEWARD_EINVAL;
	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, "SELECT inventory FROM sites WHERE code = ?1 AND relation = 0");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, parent);
	r = db_step(q);
	if (r == DB_ROW)
		sqlite_col_text(q, 0, was, sizeof(was));
	db_finalize(q);
	if (r != DB_ROW) {
		rc = r == DB_DONE ? -STEWARD_ENOTFOUND : -STEWARD_ESTORE;
		goto out;
	}
	if (strcmp(was, level) == 0)
		goto out;
	q = sqlite_prep(s, "UPDATE sites SET inventory = ?2 WHERE code = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, parent);
	db_bind_text(q, 2, level);
	if ((rc = sqlite_run_once(s, q)))
		goto out;
	if (inv_rank(level) == 0) {
		/* it wants none (or is older and would refuse the kind): what
		 * waits of inventory would only hold the link */
		q = sqlite_prep(s, "DELETE FROM site_outbox WHERE link = ?1 AND kind = 'inventory'");
		if (!q) {
			rc = -STEWARD_ESTORE;
			goto out;
		}
		db_bind_text(q, 1, parent);
		rc = sqlite_run_once(s, q);
		goto out;
	}
	if (inv_rank(level) <= inv_rank(was))
		goto out; /* lowered: from now on the triggers send less */
	for (size_t i = 0; !rc && i < sizeof(resend_sql) / sizeof(resend_sql[0]); i++) {
		q = sqlite_prep(s, db_kind(s->db) == DB_POSTGRESQL ? resend_sql_pg[i] : resend_sql[i]);
		if (!q) {
			rc = -STEWARD_ESTORE;
			break;
		}
		db_bind_text(q, 1, parent);
		db_bind_text(q, 2, level);
		db_bind_text(q, 3, site_code);
		db_bind_int64(q, 4, time_now_s());
		rc = sqlite_run_once(s, q);
		if (!rc)
			*queued += (size_t)db_changes(s->db);
	}
out:
	return sqlite_end(s, rc);
}

static int site_inv_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_site_inv_row r;

	memset(&r, 0, sizeof(r));
	r.id = db_col_text(q, 0);
	r.site = db_col_text(q, 1);
	r.via = db_col_text(q, 2);
	r.hostname = db_col_text(q, 3);
	r.state = db_col_text(q, 4);
	r.agent_version = db_col_text(q, 5);
	r.level = db_col_text(q, 6);
	r.hardware = db_col_text(q, 7);
	r.os = db_col_text(q, 8);
	r.software = db_col_text(q, 9);
	r.full_hash = db_col_text(q, 10);
	r.received = db_col_int64(q, 11);
	r.updated = db_col_int64(q, 12);
	r.protocol = db_col_text(q, 13);
	r.enrolled = db_col_int64(q, 14);
	r.last_seen = db_col_int64(q, 15);
	if (!r.id || !r.site || !r.via || !r.hostname || !r.state || !r.agent_version || !r.level ||
	    !r.full_hash || !r.protocol)
		return 0;
	if (!r.level[0])
		r.hardware = r.os = r.software = NULL;
	return ((store_site_inv_cb)cb)(&r, ctx);
}

int sqlite_site_inventory_list(struct store *st, const char *id, store_site_inv_cb cb, void *ctx)
{
	return sqlite_read_rows(
	    st,
	    "SELECT c.id, c.site, c.via, c.hostname, c.state, c.agent_version,"
	    " COALESCE(i.level, ''), i.hardware, i.os, i.software, COALESCE(i.full_hash, ''),"
	    " COALESCE(i.received, 0), COALESCE(i.updated, 0), c.protocol, c.enrolled, c.last_seen"
	    " FROM site_clients c LEFT JOIN site_inventory i ON i.client = c.id AND i.site = c.site"
	    " WHERE c.state != 'deleted' AND (?2 = '' OR c.id = ?2) ORDER BY c.site, c.id",
	    0, id, 0, site_inv_row, (void *)cb, ctx);
}

/* ---- what sites below reported ----------------------------------------------------------- */

static int site_client_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_site_client_row c;

	memset(&c, 0, sizeof(c));
	sqlite_col_text(q, 0, c.id, sizeof(c.id));
	sqlite_col_text(q, 1, c.site, sizeof(c.site));
	sqlite_col_text(q, 2, c.via, sizeof(c.via));
	sqlite_col_text(q, 3, c.hostname, sizeof(c.hostname));
	sqlite_col_text(q, 4, c.state, sizeof(c.state));
	sqlite_col_text(q, 5, c.agent_version, sizeof(c.agent_version));
	sqlite_col_text(q, 6, c.protocol, sizeof(c.protocol));
	c.enrolled = db_col_int64(q, 7);
	c.last_seen = db_col_int64(q, 8);
	c.updated = db_col_int64(q, 9);
	return ((store_site_client_cb)cb)(&c, ctx);
}

int sqlite_site_client_list(struct store *st, store_site_client_cb cb, void *ctx)
{
	return sqlite_read_rows(st,
				"SELECT id, site, via, hostname, state, agent_version, protocol,"
				" enrolled, last_seen, updated FROM site_clients ORDER BY site, id",
				0, NULL, 0, site_client_row, (void *)cb, ctx);
}

static int site_status_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_site_status_row r;

	memset(&r, 0, sizeof(r));
	sqlite_col_text(q, 0, r.site, sizeof(r.site));
	sqlite_col_text(q, 1, r.advert, sizeof(r.advert));
	sqlite_col_text(q, 2, r.client, sizeof(r.client));
	sqlite_col_text(q, 3, r.state, sizeof(r.state));
	r.has_exit_code = !db_col_null(q, 4);
	r.exit_code = db_col_int64(q, 4);
	sqlite_col_text(q, 5, r.detail, sizeof(r.detail));
	r.time = db_col_int64(q, 6);
	return ((store_site_status_cb)cb)(&r, ctx);
}

int sqlite_site_status_list(struct store *st, const char *advert, store_site_status_cb cb,
			    void *ctx)
{
	/* the newest report of each client per advertisement: the last to
	 * arrive, the row of the greatest rid in each group (joined, not
	 * taken as bare columns beside max(rid), which only SQLite allows) */
#define SITE_STATUS_NEWEST(where) \
	"SELECT s.site, s.advert, s.client, s.state, s.exit_code, s.detail, s.time" \
	" FROM site_status s JOIN (SELECT max(rid) AS rid FROM site_status" where \
	" GROUP BY advert, client) n ON n.rid = s.rid"
	return sqlite_read_rows(
	    st,
	    advert ? SITE_STATUS_NEWEST(" WHERE advert = ?2 COLLATE NOCASE") " ORDER BY s.site, s.client"
		   : SITE_STATUS_NEWEST("") " ORDER BY s.advert, s.site, s.client",
	    0, advert, 0, site_status_row, (void *)cb, ctx);
#undef SITE_STATUS_NEWEST
}

/* ---- releases from above, and how objects went below ------------------------------------ */

static int fetch_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_fetch f;

	memset(&f, 0, sizeof(f));
	sqlite_col_text(q, 0, f.version, sizeof(f.version));
	sqlite_col_text(q, 1, f.source, sizeof(f.source));
	f.manifest = (char *)db_col_text(q, 2);
	f.len = (size_t)db_col_bytes(q, 2);
	f.rollback = db_col_int64(q, 3) != 0;
	f.added = db_col_int64(q, 4);
	f.tries = db_col_int64(q, 5);
	sqlite_col_text(q, 6, f.state, sizeof(f.state));
	sqlite_col_text(q, 7, f.detail, sizeof(f.detail));
	if (!f.manifest)
		f.manifest = (char *)"", f.len = 0;
	return ((store_fetch_cb)cb)(&f, ctx);
}

int sqlite_fetch_list(struct store *st, store_fetch_cb cb, void *ctx)
{
	return sqlite_read_rows(st,
				"SELECT version, source, manifest, rollback, added, tries, state, detail"
				" FROM site_fetch ORDER BY added, version",
				0, NULL, 0, fetch_row, (void *)cb, ctx);
}

int sqlite_fetch_update(struct store *st, const char *version, const char *state,
			const char *detail)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	q = sqlite_prep(s, !state ? "DELETE FROM site_fetch WHERE version = ?1"
			   : strcmp(state, "fetching") == 0
			       ? "UPDATE site_fetch SET tries = tries + 1, detail = ?3 WHERE version = ?1"
			       : "UPDATE site_fetch SET state = ?2, detail = ?3 WHERE version = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, version);
	if (db_param_index(q, "?2"))
		db_bind_text(q, 2, state);
	if (db_param_index(q, "?3"))
		db_bind_text(q, 3, detail ? detail : "");
	rc = sqlite_run_once(s, q);
	if (rc == -STEWARD_EBUSY)
		rc = -STEWARD_EINVAL; /* the CHECK on state */
out:
	return sqlite_end(s, rc);
}

static int object_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_site_object_row o;

	memset(&o, 0, sizeof(o));
	sqlite_col_text(q, 0, o.site, sizeof(o.site));
	sqlite_col_text(q, 1, o.kind, sizeof(o.kind));
	sqlite_col_text(q, 2, o.name, sizeof(o.name));
	sqlite_col_text(q, 3, o.state, sizeof(o.state));
	sqlite_col_text(q, 4, o.detail, sizeof(o.detail));
	o.updated = db_col_int64(q, 5);
	return ((store_site_object_cb)cb)(&o, ctx);
}

/* sql's rows, filtered by ?1 kind and ?2 name (NULL: any) and ?3 flag
 * (when flag >= 0), each to fn. */
static int list_kind_name(struct sqlite_store *s, const char *sql, const char *kind,
			  const char *name, int flag, sqlite_row_fn fn, void *cb, void *ctx)
{
	struct db_stmt *q;
	int rc;

	pthread_mutex_lock(&s->lock);
	q = sqlite_prep(s, sql);
	if (!q) {
		rc = -STEWARD_ESTORE;
	} else {
		if (kind)
			db_bind_text(q, 1, kind);
		if (name)
			db_bind_text(q, 2, name);
		if (flag >= 0)
			db_bind_int64(q, 3, flag);
		rc = sqlite_each_row(q, fn, cb, ctx);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sqlite_site_object_list(struct store *st, const char *kind, const char *name,
			    store_site_object_cb cb, void *ctx)
{
	return list_kind_name(SS(st),
			      "SELECT site, kind, name, state, detail, updated FROM site_objects"
			      " WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR name = ?2)"
			      " ORDER BY kind, name, site",
			      kind, name, -1, object_row, (void *)cb, ctx);
}

/* ---- objects from above, and toward children that cannot take them ------------------- */

static int down_row(struct db_stmt *q, void *cb, void *ctx)
{
	struct store_down d;

	memset(&d, 0, sizeof(d));
	d.seq = db_col_int64(q, 0);
	d.gen = db_col_int64(q, 1);
	sqlite_col_text(q, 2, d.kind, sizeof(d.kind));
	sqlite_col_text(q, 3, d.name, sizeof(d.name));
	sqlite_col_text(q, 4, d.source, sizeof(d.source));
	sqlite_col_text(q, 5, d.origin, sizeof(d.origin));
	sqlite_col_text(q, 6, d.op, sizeof(d.op));
	d.body = db_col_text(q, 7);
	if (!d.body)
		d.body = "{}";
	sqlite_col_text(q, 8, d.state, sizeof(d.state));
	sqlite_col_text(q, 9, d.detail, sizeof(d.detail));
	d.done = db_col_int64(q, 10) != 0;
	d.updated = db_col_int64(q, 11);
	return ((store_down_cb)cb)(&d, ctx);
}

int sqlite_down_list(struct store *st, const char *kind, const char *name, bool all,
		     store_down_cb cb, void *ctx)
{
	return list_kind_name(SS(st),
			      "SELECT seq, gen, kind, name, source, origin, op, body, state, detail,"
			      " done, updated FROM site_down WHERE (?1 IS NULL OR kind = ?1)"
			      " AND (?2 IS NULL OR name = ?2) AND (?3 <> 0 OR done = 0) ORDER BY seq",
			      kind, name, all, down_row, (void *)cb, ctx);
}

int sqlite_down_update(struct store *st, int64_t seq, int64_t gen, const char *state,
		       const char *detail, bool done)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	if ((rc = sqlite_begin(s)))
		return rc;
	/* unchanged: nothing written, nothing reported up again */
	q = sqlite_prep(s, "UPDATE site_down SET state = ?3, detail = ?4, done = ?5, updated = ?6"
			   " WHERE seq = ?1 AND gen = ?2 AND (state != ?3 OR detail != ?4 OR"
			   " done != ?5)");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_int64(q, 1, seq);
	db_bind_int64(q, 2, gen);
	db_bind_text(q, 3, state);
	db_bind_text(q, 4, detail ? detail : "");
	db_bind_int64(q, 5, done);
	db_bind_int64(q, 6, time_now_s());
	rc = sqlite_run_once(s, q);
out:
	return sqlite_end(s, rc);
}

/* The name an object message speaks of (a package: NAME@VERSION). */
#define MSG_OBJECT_NAME                                                                            \
	"CASE kind WHEN 'package' THEN json_extract(body, '$.name') || '@' ||"                     \
	" json_extract(body, '$.version') ELSE json_extract(body, '$.name') END"

/* ?1 link, ?2 the kinds it takes (",kind,"), ?3 its version */
static const char *const hold_sql[] = {
    /* what it takes now goes back, after what waits already, in order */
    "INSERT INTO site_outbox(link, class, kind, body, created)"
    " SELECT link, class, kind, body, created FROM site_outbox_held"
    " WHERE link = ?1 AND instr(?2, ',' || kind || ',') > 0 ORDER BY seq",
    "DELETE FROM site_outbox_held WHERE link = ?1 AND instr(?2, ',' || kind || ',') > 0",
    /* what it does not take waits here, and says why */
    "INSERT INTO site_objects(site, kind, name, state, detail, updated)"
    " SELECT DISTINCT link, kind, " MSG_OBJECT_NAME ", 'waiting', printf('site %s runs %s, which"
    " cannot take %ss from above; upgrade it', ?1, ?3, kind), CAST(strftime('%s', 'now') AS"
    " INTEGER) FROM site_outbox WHERE link = ?1 AND kind IN " DOWN_KINDS_SQL
    " AND instr(?2, ',' || kind || ',') = 0 AND true"
    " ON CONFLICT(site, kind, name) DO UPDATE SET state = excluded.state,"
    " detail = excluded.detail, updated = excluded.updated",
    "INSERT INTO site_outbox_held(seq, link, class, kind, body, created)"
    " SELECT seq, link, class, kind, body, created FROM site_outbox WHERE link = ?1"
    " AND kind IN " DOWN_KINDS_SQL " AND instr(?2, ',' || kind || ',') = 0",
    "DELETE FROM site_outbox WHERE link = ?1 AND kind IN " DOWN_KINDS_SQL
    " AND instr(?2, ',' || kind || ',') = 0",
};

int sqlite_outbox_hold(struct store *st, const char *link, const char *takes, const char *version,
		       size_t *held)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	*held = 0;
	if ((rc = sqlite_begin(s)))
		return rc;
	for (size_t i = 0; !rc && i < sizeof(hold_sql) / sizeof(hold_sql[0]); i++) {
		q = sqlite_prep(s, hold_sql[i]);
		if (!q) {
			rc = -STEWARD_ESTORE;
			break;
		}
		db_bind_text(q, 1, link);
		db_bind_text(q, 2, takes);
		if (db_param_index(q, "?3"))
			db_bind_text(q, 3, version[0] ? version : "an older version");
		rc = sqlite_run_once(s, q);
	}
	if (rc)
		goto out;
	q = sqlite_prep(s, "SELECT count(*) FROM site_outbox_held WHERE link = ?1");
	if (!q) {
		rc = -STEWARD_ESTORE;
		goto out;
	}
	db_bind_text(q, 1, link);
	if (db_step(q) == DB_ROW)
		*held = (size_t)db_col_int64(q, 0);
	else
		rc = -STEWARD_ESTORE;
	db_finalize(q);
out:
	return sqlite_end(s, rc);
}

/* Every object of this site toward a child, in the order they depend on
 * each other (rules name older collections; programs their packages). */
static const char *const objects_sql[] = {
    "INSERT INTO site_outbox(link, class, kind, body, created) SELECT ?1, 1, 'collection', "
    COLLECTION_JSON("c") ", ?2 FROM collections c ORDER BY c.rid",
    "INSERT INTO site_outbox(link, class, kind, body, created) SELECT ?1, 1, 'package', "
    PACKAGE_JSON("p") ", ?2 FROM packages p ORDER BY p.rid",
    "INSERT INTO site_outbox(link, class, kind, body, created) SELECT ?1, 1, 'program', "
    PROGRAM_JSON("g") ", ?2 FROM programs g ORDER BY g.rid",
    "INSERT INTO site_outbox(link, class, kind, body, created) SELECT ?1, 1, 'advert', "
    ADVERT_JSON("a") ", ?2 FROM adverts a ORDER BY a.rid",
};
/* PostgreSQL's spelling of the advertisement (it has no json_insert, and
 * enabled is an integer there as well): the same keys and values */
#define ADVERTS_TO_CHILD_PG                                                                        \
	"INSERT INTO site_outbox(link, class, kind, body, created) SELECT ?1, 1, 'advert',"        \
	" json_build_object('op', 'put', 'name', a.name, 'program', (SELECT name FROM programs"   \
	" WHERE rid = a.program_rid), 'collection', a.collection, 'available', a.available,"       \
	" 'mandatory', a.mandatory, 'recurring', a.recurring, 'expires', a.expires,"               \
	" 'enabled', a.enabled <> 0, 'created', a.created, 'created_by', a.created_by,"            \
	" 'origin', a.origin, 'links', a.links, 'link_deadline', a.link_deadline),"               \
	" ?2 FROM adverts a ORDER BY a.rid"

int sqlite_outbox_objects(struct store *st, const char *link, size_t *n)
{
	struct sqlite_store *s = SS(st);
	struct db_stmt *q;
	int rc;

	*n = 0;
	if ((rc = sqlite_begin(s)))
		return rc;
	for (size_t i = 0; !rc && i < sizeof(objects_sql) / sizeof(objects_sql[0]); i++) {
		bool advert_pg = i == 3 && db_kind(s->db) == DB_POSTGRESQL;

		q = sqlite_prep(s, advert_pg ? ADVERTS_TO_CHILD_PG : objects_sql[i]);
		if (!q) {
			rc = -STEWARD_ESTORE;
			break;
		}
		db_bind_text(q, 1, link);
		db_bind_int64(q, 2, time_now_s());
		rc = sqlite_run_once(s, q);
		if (!rc)
			*n += (size_t)db_changes(s->db);
	}
	return sqlite_end(s, rc);
}

int sqlite_down_collection(struct db *db, int64_t rid)
{
	struct db_stmt *q = NULL;
	int rc = 0;

	if (!(q = db_prepare(db, "INSERT INTO site_outbox(link, class, kind, body, created)"
			       " SELECT sites.code, 1, 'collection', " COLLECTION_JSON(
				   "c") ", CAST(strftime('%s', 'now') AS INTEGER)"
					" FROM sites, collections c WHERE sites.relation = 1"
					" AND sites.attached = 1 AND c.rid = ?1"))) {
		log_error("store", "sql_prepare_failed", "error=\"%s\"", db_errmsg(db));
		return -STEWARD_ESTORE;
	}
	db_bind_int64(q, 1, rid);
	if (db_step(q) != DB_DONE)
		rc = -STEWARD_ESTORE;
	db_finalize(q);
	return rc;
}

/* Migration 12: a link limited to a share of each hour. */
const char sqlite_migration_hierarchy_share[] =
    "ALTER TABLE sites ADD COLUMN share INTEGER NOT NULL DEFAULT 0"
    " CHECK (share >= 0 AND share < 100);";

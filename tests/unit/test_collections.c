/* Unit tests for the collections engine (server/collections.c) over the
 * in-memory facts (server/facts.c), with made-up clients: static, query
 * and composed collections, built-ins, cycle refusal, in-use refusal,
 * incremental upkeep that touches only dependent collections, the work
 * budget, and package-set sharing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <limits.h>
#include <dirent.h>
#include <unistd.h>

#include "../../server/collections.h"

#define ID(n) "0000000000000000000000000000000" #n

struct world {
	struct facts *f;
	struct coll_engine *e;
	char msg[COLL_MSG_MAX];
	struct core_query_error qerr;
};

static char *software(const char *const *pkgs)
{
	static char buf[8192];
	size_t used = (size_t)snprintf(buf, sizeof(buf), "{\"packages\":[");

	for (int i = 0; pkgs && pkgs[i]; i += 2)
		used +=
		    (size_t)snprintf(buf + used, sizeof(buf) - used,
				     "%s{\"name\":\"%s\",\"version\":\"%s\",\"arch\":\"amd64\"}",
				     i ? "," : "", pkgs[i], pkgs[i + 1]);
	snprintf(buf + used, sizeof(buf) - used, "]}");
	return buf;
}

/* Put one client: os name, memory, packages (name, version pairs). */
static uint32_t put(struct world *w, const char *id, enum store_client_state st, const char *site,
		    const char *os, int mem, const char *const *pkgs)
{
	char hw[256], osj[256];
	struct store_client_facts row = {
	    .id = id,
	    .hostname = "host",
	    .site = site,
	    .agent_version = "0.4.0",
	    .addresses = "[\"10.1.2.3\"]",
	    .state = st,
	};
	uint32_t slot = 0;

	snprintf(hw, sizeof(hw),
		 "{\"cpu\":{\"model\":\"X\",\"cores\":4},\"memory\":{\"total_mb\":%d}}", mem);
	snprintf(osj, sizeof(osj), "{\"name\":\"%s\",\"version_id\":\"12\"}", os);
	row.hardware = mem ? hw : NULL;
	row.os = os ? osj : NULL;
	row.software = pkgs ? software(pkgs) : NULL;
	assert_int_equal(facts_put(w->f, &row, &slot), 0);
	return slot;
}

static const char *const with_nginx[] = {"nginx", "1.22.1-9", "openssl", "3.0.11-1", NULL};
static const char *const without_nginx[] = {"openssl", "3.0.9-1", "bash", "5.2.15-2", NULL};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct coll_source src;

	assert_non_null(w);
	assert_int_equal(facts_new(&w->f), 0);
	/* 0: Debian, big, no nginx   1: Debian, big, nginx   2: Debian, small
	 * 3: Ubuntu, big, no nginx, pending   4: deleted Debian, big, site B02 */
	put(w, ID(0), CLIENT_APPROVED, "A01", "Debian GNU/Linux", 4096, without_nginx);
	put(w, ID(1), CLIENT_APPROVED, "A01", "Debian GNU/Linux", 8192, with_nginx);
	put(w, ID(2), CLIENT_APPROVED, "A01", "Debian GNU/Linux", 512, without_nginx);
	put(w, ID(3), CLIENT_PENDING, "B02", "Ubuntu", 4096, without_nginx);
	put(w, ID(4), CLIENT_DELETED, "B02", "Debian GNU/Linux", 4096, without_nginx);
	facts_source(w->f, &src);
	assert_int_equal(coll_engine_new(&src, facts_slots(w->f), 0, &w->e), 0);
	assert_int_equal(coll_engine_add_site(w->e, "A01"), 0);
	assert_int_equal(coll_engine_add_site(w->e, "B02"), 0);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	coll_engine_free(w->e);
	facts_free(w->f);
	free(w);
	return 0;
}

static int define(struct world *w, const char *name, const char *query, const char *const *members,
		  size_t nm, const char *const *inc, size_t ni, const char *const *exc, size_t ne)
{
	struct coll_def d = {.name = name,
			     .query = query,
			     .members = members,
			     .n_members = nm,
			     .include = inc,
			     .n_include = ni,
			     .exclude = exc,
			     .n_exclude = ne};

	return coll_define(w->e, &d, false, &w->qerr, w->msg, sizeof(w->msg));
}

static void members_are(struct world *w, const char *name, const char *expect)
{
	char got[16] = "";

	for (uint32_t s = 0; s < 5; s++)
		if (coll_is_member(w->e, name, s))
			got[strlen(got)] = (char)('0' + s);
	assert_string_equal(got, expect);
}

static void test_builtins(void **state)
{
	struct world *w = *state;

	members_are(w, COLL_ALL_CLIENTS, "0123");
	members_are(w, COLL_PENDING_CLIENTS, "3");
	members_are(w, "All Clients of site A01", "012");
	members_are(w, "All Clients of site B02", "3");
	assert_int_equal(define(w, "All Clients", "site = \"A01\"", NULL, 0, NULL, 0, NULL, 0),
			 COLL_EBUILTIN);
	assert_int_equal(coll_remove(w->e, "Pending Clients", w->msg, sizeof(w->msg)),
			 COLL_EBUILTIN);
}

static void test_query_and_issue_example(void **state)
{
	struct world *w = *state;

	assert_int_equal(define(w, "web-less",
				"os.name = \"Debian GNU/Linux\" and memory.total_mb >= 1024 and "
				"not has_package(\"nginx\")",
				NULL, 0, NULL, 0, NULL, 0),
			 0);
	members_are(w, "web-less", "0");
	assert_int_equal(define(w, "old-ssl", "package(\"openssl\").version < \"3.0.11\"", NULL, 0,
				NULL, 0, NULL, 0),
			 0);
	members_are(w, "old-ssl", "023");
	assert_int_equal(define(w, "bad", "os.name = ", NULL, 0, NULL, 0, NULL, 0), COLL_EQUERY);
	assert_true(w->qerr.column > 0);
	assert_non_null(strstr(w->msg, "column"));
	assert_int_equal(define(w, "web-less", "site = \"A01\"", NULL, 0, NULL, 0, NULL, 0),
			 COLL_EEXIST);
}

static void test_static_and_composed(void **state)
{
	struct world *w = *state;
	const char *m[] = {ID(2), ID(3)};
	const char *inc[] = {"All Clients of site A01"};
	const char *exc[] = {"picked"};
	const char *exc2[] = {"Pending Clients"};
	char why[1024];
	bool member;

	assert_int_equal(define(w, "picked", NULL, m, 2, NULL, 0, NULL, 0), 0);
	members_are(w, "picked", "23");
	assert_int_equal(define(w, "site A minus picked", NULL, NULL, 0, inc, 1, exc, 1), 0);
	members_are(w, "site A minus picked", "01");
	assert_int_equal(define(w, "picked not pending", NULL, NULL, 0, exc, 1, exc2, 1), 0);
	members_are(w, "picked not pending", "2");

	assert_int_equal(coll_explain(w->e, "site A minus picked", 2, &member, why, sizeof(why)),
			 0);
	assert_false(member);
	assert_non_null(strstr(why, "excluded"));
	assert_non_null(strstr(why, "'picked'"));
	assert_int_equal(coll_explain(w->e, "site A minus picked", 0, &member, why, sizeof(why)),
			 0);
	assert_true(member);
	assert_non_null(strstr(why, "included collection 'All Clients of site A01'"));

	/* in use: refused, naming the users */
	assert_int_equal(coll_remove(w->e, "picked", w->msg, sizeof(w->msg)), COLL_EINUSE);
	assert_non_null(strstr(w->msg, "'site A minus picked' excludes it"));
	assert_non_null(strstr(w->msg, "'picked not pending' includes it"));
	assert_int_equal(coll_remove(w->e, "site A minus picked", w->msg, sizeof(w->msg)), 0);
	assert_int_equal(coll_remove(w->e, "picked not pending", w->msg, sizeof(w->msg)), 0);
	assert_int_equal(coll_remove(w->e, "picked", w->msg, sizeof(w->msg)), 0);
	assert_int_equal(coll_count(w->e, "picked"), -1);
}

static void test_cycles_refused(void **state)
{
	struct world *w = *state;
	const char *a[] = {"a"}, *b[] = {"b"}, *self[] = {"c"};
	struct coll_def redefine = {
	    .name = "a", .query = "site = \"A01\"", .include = b, .n_include = 1};

	assert_int_equal(define(w, "a", "site = \"A01\"", NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(define(w, "b", NULL, NULL, 0, a, 1, NULL, 0), 0);
	/* a including b, which includes a */
	assert_int_equal(coll_define(w->e, &redefine, true, &w->qerr, w->msg, sizeof(w->msg)),
			 COLL_ECYCLE);
	assert_non_null(strstr(w->msg, "'a' includes 'b' includes 'a'"));
	assert_int_equal(define(w, "c", NULL, NULL, 0, self, 1, NULL, 0), COLL_ECYCLE);
	assert_int_equal(define(w, "d", NULL, NULL, 0, (const char *[]){"nope"}, 1, NULL, 0),
			 COLL_EREF);
	/* the refused redefinition left a as it was */
	members_are(w, "a", "012");
	members_are(w, "b", "012");
	/* a redefinition without a cycle re-derives its dependents */
	redefine.include = NULL;
	redefine.n_include = 0;
	redefine.query = "memory.total_mb > 5000";
	assert_int_equal(coll_define(w->e, &redefine, true, &w->qerr, w->msg, sizeof(w->msg)), 0);
	members_are(w, "a", "1");
	members_are(w, "b", "1");
}

static void test_incremental(void **state)
{
	struct world *w = *state;
	const char *inc[] = {"no nginx"};
	uint64_t sw0, hw0;

	assert_int_equal(
	    define(w, "no nginx", "not has_package(\"nginx\")", NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(define(w, "big", "memory.total_mb >= 1024", NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(define(w, "composed", NULL, NULL, 0, inc, 1, NULL, 0), 0);
	members_are(w, "no nginx", "023");
	members_are(w, "composed", "023");
	sw0 = coll_evals(w->e, "no nginx");
	hw0 = coll_evals(w->e, "big");

	/* client 0 installs nginx: one software change */
	put(w, ID(0), CLIENT_APPROVED, "A01", "Debian GNU/Linux", 4096, with_nginx);
	assert_int_equal(coll_client_changed(w->e, 0, CORE_QUERY_DEP_SOFTWARE), 0);
	assert_int_equal(coll_evals(w->e, "no nginx"), sw0 + 1); /* that client only */
	assert_int_equal(coll_evals(w->e, "big"), hw0);		 /* not read: not run */
	members_are(w, "no nginx", "23");
	members_are(w, "composed", "23");

	/* a new client arrives with every class */
	put(w, ID(5), CLIENT_APPROVED, "A01", "Debian GNU/Linux", 2048, without_nginx);
	assert_int_equal(coll_client_changed(w->e, 5, COLL_DEPS_ALL), 0);
	assert_true(coll_is_member(w->e, "composed", 5));
	assert_true(coll_is_member(w->e, "big", 5));
	assert_int_equal(coll_count(w->e, COLL_ALL_CLIENTS), 5);

	/* a state change moves the client between built-ins without running queries */
	sw0 = coll_evals(w->e, "no nginx");
	put(w, ID(5), CLIENT_DELETED, "A01", "Debian GNU/Linux", 2048, without_nginx);
	assert_int_equal(coll_client_changed(w->e, 5, CORE_QUERY_DEP_CLIENT), 0);
	assert_false(coll_is_member(w->e, "composed", 5));
	assert_false(coll_is_member(w->e, COLL_ALL_CLIENTS, 5));
	assert_int_equal(coll_evals(w->e, "no nginx"), sw0);
	assert_int_equal(coll_count(w->e, COLL_ALL_CLIENTS), 4);
}

static void test_budget(void **state)
{
	struct world *w = *state;
	struct coll_source src;
	struct coll_engine *tight;
	struct core_query *q = NULL;
	json_t *out = json_array();
	uint64_t used = 0;

	facts_source(w->f, &src);
	assert_int_equal(coll_engine_new(&src, facts_slots(w->f), 1, &tight), 0);
	assert_int_equal(
	    coll_define(tight,
			&(struct coll_def){.name = "slow", .query = "has_package(\"*zzz*\")"},
			false, &w->qerr, w->msg, sizeof(w->msg)),
	    0);
	assert_int_equal(coll_count(tight, "slow"), 0);
	{
		json_t *o = coll_show_json(tight, "slow");
		assert_true(json_integer_value(json_object_get(o, "refused")) > 0);
		json_decref(o);
	}
	assert_int_equal(core_query_parse("has_package(\"*\")", &q, NULL), 0);
	assert_int_equal(coll_match(w->e, q, 2, out, &used, w->msg, sizeof(w->msg)), COLL_EBUDGET);
	assert_non_null(strstr(w->msg, "work units"));
	json_array_clear(out);
	assert_int_equal(coll_match(w->e, q, 1000000, out, &used, w->msg, sizeof(w->msg)), 0);
	assert_int_equal(json_array_size(out), 4);
	core_query_free(q);
	json_decref(out);
	coll_engine_free(tight);
}

static void test_package_sets_shared(void **state)
{
	struct world *w = *state;
	struct facts_stats st;

	facts_get_stats(w->f, &st);
	assert_int_equal(st.clients, 5);
	assert_int_equal(st.package_sets, 2); /* five clients, two distinct sets */
	assert_int_equal(st.package_set_refs, 5);
	put(w, ID(1), CLIENT_APPROVED, "A01", "Debian GNU/Linux", 8192, without_nginx);
	facts_get_stats(w->f, &st);
	assert_int_equal(st.package_sets, 1); /* the nginx set lost its last user */
	assert_int_equal(st.package_set_refs, 5);
	put(w, ID(1), CLIENT_APPROVED, "A01", "Debian GNU/Linux", 8192, NULL);
	facts_get_stats(w->f, &st);
	assert_int_equal(st.package_set_refs, 4);
	assert_int_equal(facts_find(w->f, ID(3)), 3);
	assert_int_equal(facts_find(w->f, ID(9)), -1);
}

/* Clients whose inventories carry the same software hash share one set,
 * read once: the second client's list is not even parsed. */
static void test_software_hash_shortcut(void **state)
{
	struct world *w = *state;
	struct store_client_facts row = {.id = ID(7),
					 .hostname = "h",
					 .site = "A01",
					 .agent_version = "1",
					 .addresses = "[]",
					 .state = CLIENT_APPROVED};
	struct facts_stats st0, st;
	uint32_t s7, s8;

	facts_get_stats(w->f, &st0);
	row.software = software(with_nginx);
	row.software_hash = "abc";
	assert_int_equal(facts_put(w->f, &row, &s7), 0);
	row.id = ID(8);
	row.software = "not even JSON";
	assert_int_equal(facts_put(w->f, &row, &s8), 0);
	facts_get_stats(w->f, &st);
	assert_int_equal(st.package_sets, st0.package_sets); /* client 1 has this set already */
	assert_int_equal(st.package_set_refs, st0.package_set_refs + 2);
	assert_int_equal(coll_client_changed(w->e, s7, COLL_DEPS_ALL), 0);
	assert_int_equal(coll_client_changed(w->e, s8, COLL_DEPS_ALL), 0);
	assert_int_equal(define(w, "nginx", "has_package(\"nginx\")", NULL, 0, NULL, 0, NULL, 0),
			 0);
	assert_true(coll_is_member(w->e, "nginx", s7));
	assert_true(coll_is_member(w->e, "nginx", s8));
}

/* ---- the store operations (lib/store/sqlite_collections.c) ---------------- */

struct facts_seen {
	int n;
	char last_software[64];
	enum store_client_state state;
};

static int count_facts(const struct store_client_facts *f, void *ctx)
{
	struct facts_seen *fs = ctx;

	fs->n++;
	fs->state = f->state;
	snprintf(fs->last_software, sizeof(fs->last_software), "%s",
		 f->software ? f->software : "(none)");
	return 0;
}

static int count_defs(const struct store_collection *c, void *ctx)
{
	(void)c;
	(*(int *)ctx)++;
	return 0;
}

static void test_store_ops(void **state)
{
	char dir[PATH_MAX], db[PATH_MAX + 32];
	const char *base = getenv("TMPDIR");
	struct store *st = NULL;
	struct steward_err e;
	struct store_client *cl = calloc(1, sizeof(*cl));
	struct store_collection c, got;
	enum store_token_refusal refusal;
	char token_site[8];
	struct facts_seen fs = {0};
	char ids[2][PROTO_CLIENT_ID_HEX + 1] = {ID(1), ID(2)};
	char rule[1][STORE_COLLECTION_NAME_MAX + 1] = {"Base set"};
	int n = 0;

	(void)state;
	assert_non_null(cl);
	snprintf(dir, sizeof(dir), "%s/steward-test-coll.XXXXXX", base && *base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/steward.db", dir);
	memset(&e, 0, sizeof(e));
	assert_int_equal(store_sqlite_ops.open(db, &st, &e), 0);

	/* names */
	assert_true(store_collection_name_valid("Web servers-2.old_x"));
	assert_false(store_collection_name_valid(""));
	assert_false(store_collection_name_valid(" lead"));
	assert_false(store_collection_name_valid("a/b"));
	assert_false(store_collection_name_valid("all clients"));
	assert_false(store_collection_name_valid("All Clients of site ABC"));
	assert_false(store_collection_name_valid(
	    "12345678901234567890123456789012345678901234567890123456789012345"));

	/* facts of a client without and then with an inventory */
	snprintf(cl->id, sizeof(cl->id), "%s", ID(1));
	snprintf(cl->hostname, sizeof(cl->hostname), "h1");
	snprintf(cl->site, sizeof(cl->site), "ABC");
	snprintf(cl->agent_version, sizeof(cl->agent_version), "0.4.0");
	snprintf(cl->protocol, sizeof(cl->protocol), "1-1");
	snprintf(cl->addresses, sizeof(cl->addresses), "[\"10.0.0.1\"]");
	snprintf(cl->components, sizeof(cl->components), "[]");
	cl->state = CLIENT_APPROVED;
	assert_int_equal(st->ops->enroll(st, NULL, 1, cl, &refusal, token_site), 0);
	assert_int_equal(st->ops->collection_facts(st, NULL, count_facts, &fs), 0);
	assert_int_equal(fs.n, 1);
	assert_string_equal(fs.last_software, "(none)");
	fs.n = 0;
	assert_int_equal(st->ops->collection_facts(st, ID(9), count_facts, &fs), 0);
	assert_int_equal(fs.n, 0);

	/* create, duplicate, get */
	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "Base set");
	c.members = ids;
	c.n_members = 2;
	assert_int_equal(st->ops->collection_create(st, &c), 0);
	assert_true(c.rid > 0);
	assert_int_equal(st->ops->collection_create(st, &c), -STEWARD_EEXIST);
	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "Derived");
	c.is_query = true;
	snprintf(c.query, sizeof(c.query), "site = \"ABC\"");
	c.exclude = rule;
	c.n_exclude = 1;
	assert_int_equal(st->ops->collection_create(st, &c), 0);
	assert_int_equal(st->ops->collection_get(st, "Derived", &got), 0);
	assert_true(got.is_query);
	assert_string_equal(got.query, "site = \"ABC\"");
	assert_int_equal(got.n_exclude, 1);
	assert_string_equal(got.exclude[0], "Base set");
	store_collection_clear(&got);
	assert_int_equal(st->ops->collection_get(st, "Nope", &got), -STEWARD_ENOTFOUND);

	/* members replaced in one transaction */
	assert_int_equal(st->ops->collection_set_members(
			     st, "Base set", (const char(*)[PROTO_CLIENT_ID_HEX + 1]) ids, 1),
			 0);
	assert_int_equal(st->ops->collection_get(st, "Base set", &got), 0);
	assert_int_equal(got.n_members, 1);
	assert_string_equal(got.members[0], ID(1));
	store_collection_clear(&got);

	/* delete: refused while named by a rule, then in order */
	assert_int_equal(st->ops->collection_delete(st, "Base set"), -STEWARD_EBUSY);
	assert_int_equal(st->ops->collection_delete(st, "Derived"), 0);
	assert_int_equal(st->ops->collection_delete(st, "Derived"), -STEWARD_ENOTFOUND);
	assert_int_equal(st->ops->collection_delete(st, "Base set"), 0);
	assert_int_equal(st->ops->collection_list(st, count_defs, &n), 0);
	assert_int_equal(n, 0);

	st->ops->close(st);
	free(cl);
	{
		DIR *d = opendir(dir);
		struct dirent *de;
		char p[PATH_MAX + 300];
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			unlink(p);
		}
		if (d)
			closedir(d);
		rmdir(dir);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_builtins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_and_issue_example, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_static_and_composed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cycles_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_incremental, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_package_sets_shared, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_software_hash_shortcut, setup, teardown),
	    cmocka_unit_test(test_store_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

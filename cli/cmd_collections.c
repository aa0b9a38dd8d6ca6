/* stewardctl collections and inventory queries: parse -> call -> print.
 *
 * Collection names may hold spaces, and queries hold quotes and
 * parentheses, so both travel percent-encoded in the URL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/proto.h"
#include "steward/util.h"

#include "ctl.h"

#define PATH_MAX_LEN 16384



/* Percent-encode everything but unreserved characters (RFC 3986). */
static int url_encode(const char *in, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
			     *p == '~';
		if (o + 4 >= outsz)
			return -1;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

static int coll_path(char *out, size_t outsz, const char *name, const char *suffix)
{
	char enc[3 * 256];

	if (url_encode(name, enc, sizeof(enc)))
		return ctl_usage_error(NULL, "collection name '%.64s...' is too long", name);
	snprintf(out, outsz, "/api/v1/collections/%s%s", enc, suffix ? suffix : "");
	return CTL_OK;
}

/* "a,b,c" into a JSON array of strings (empty items dropped). */
static json_t *split_list(const char *s)
{
	json_t *a = json_array();
	const char *p = s;

	while (a && p && *p) {
		size_t n = strcspn(p, ",");
		size_t b = 0;
		while (b < n && p[b] == ' ')
			b++;
		while (n > b && p[n - 1] == ' ')
			n--;
		if (n > b) {
			json_t *v = json_stringn(p + b, n - b);
			if (!v || json_array_append_new(a, v)) {
				json_decref(a);
				return NULL;
			}
		}
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	return a;
}

static void print_rows(const json_t *arr, const char *const *head, const char *const *keys,
		       int ncols)
{
	struct ctl_table t;
	json_t *o;
	size_t i;

	ctl_table_init(&t, ncols, head);
	json_array_foreach(arr, i, o)
	{
		char b[8][512];
		const char *row[8];
		for (int c = 0; c < ncols && c < 8; c++)
			row[c] = ctl_fmt(json_object_get(o, keys[c]), "-", b[c], sizeof(b[c]));
		if (ctl_table_add(&t, row))
			break;
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

static void print_collection(const json_t *c)
{
	static const char *const keys[] = {
	    "name",  "kind",	"members",	"query",   "static_members", "include",	  "exclude",
	    "reads", "refused", "last_refusal", "comment", "created",	     "created_by"};
	static const char *const labels[] = {
	    "Name:",	"Kind:",    "Members:",	  "Query:",   "Static members:",
	    "Include:", "Exclude:", "Reads:",	  "Refused:", "Last refusal:",
	    "Comment:", "Created:", "Created by:"};
	struct ctl_table t;
	char val[4096], when[32];

	ctl_table_init(&t, 2, NULL);
	t.sep = " ";
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(c, keys[i]);
		const char *row[2] = {labels[i], NULL};
		/* only what says something: no empty lists, nulls or zero refusals */
		if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0) ||
		    (json_is_string(v) && !*json_string_value(v)) ||
		    (strcmp(keys[i], "refused") == 0 && json_integer_value(v) == 0))
			continue;
		if (strcmp(keys[i], "created") == 0 && json_is_integer(v)) {
			time_rfc3339(json_integer_value(v), when);
			row[1] = when;
		} else {
			row[1] = ctl_fmt(v, "-", val, sizeof(val));
		}
		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

int ctl_cmd_collections_create(struct ctl *ctl, const struct ctl_args *a)
{
	const char *q = a->opt[CTL_OPT_QUERY], *m = a->opt[CTL_OPT_MEMBERS];
	json_t *body, *reply = NULL;
	int rc;

	if (q && m)
		return ctl_usage_error(NULL, "give either --query or --members, not both");
	if (!q && !m && !a->opt[CTL_OPT_INCLUDE])
		return ctl_usage_error(NULL, "'collections create' needs --query QUERY, --members "
					     "ID,... or --include NAME,...");
	body = json_pack("{s:s}", "name", a->argv[0]);
	if (body && q)
		json_object_set_new(body, "query", json_string(q));
	if (body && m)
		json_object_set_new(body, "members", split_list(m));
	if (body && a->opt[CTL_OPT_INCLUDE])
		json_object_set_new(body, "include", split_list(a->opt[CTL_OPT_INCLUDE]));
	if (body && a->opt[CTL_OPT_EXCLUDE])
		json_object_set_new(body, "exclude", split_list(a->opt[CTL_OPT_EXCLUDE]));
	rc = body ? ctl_request(ctl, "POST", "/api/v1/collections", body, &reply) : CTL_EFAIL;
	json_decref(body);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("collections create"));
	if (!ctl->json) {
		fputs("collection '", stdout);
		ctl_put_clean(stdout, ctl_jstr(reply, "name") ? ctl_jstr(reply, "name") : a->argv[0]);
		printf("' created: %" JSON_INTEGER_FORMAT " members\n",
		       json_integer_value(json_object_get(reply, "members")));
		if (json_integer_value(json_object_get(reply, "refused")) > 0)
			printf("warning: the query was refused for %" JSON_INTEGER_FORMAT
			       " clients (over the work budget); they are not members\n",
			       json_integer_value(json_object_get(reply, "refused")));
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_collections_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"NAME", "KIND", "MEMBERS", "DEFINITION"};
	struct ctl_table t;
	json_t *reply, *c;
	size_t i;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/collections", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("collections list"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	ctl_table_init(&t, 4, head);
	json_array_foreach(reply, i, c)
	{
		char b[3][128], def[8192], inc[1024], exc[1024];
		const char *q = ctl_jstr(c, "query");
		const char *row[4] = {
		    ctl_fmt(json_object_get(c, "name"), "-", b[0], sizeof(b[0])),
		    ctl_fmt(json_object_get(c, "kind"), "-", b[1], sizeof(b[1])),
		    ctl_fmt(json_object_get(c, "members"), "0", b[2], sizeof(b[2])),
		    def,
		};
		ctl_fmt(json_object_get(c, "include"), "", inc, sizeof(inc));
		ctl_fmt(json_object_get(c, "exclude"), "", exc, sizeof(exc));
		snprintf(def, sizeof(def), "%s%s%s%s%s%s%s", q ? q : "",
			 *inc ? (q ? "; include " : "include ") : "", inc,
			 *exc && (q || *inc) ? "; " : "", *exc ? "exclude " : "", exc,
			 !q && !*inc && !*exc ? "-" : "");
		if (ctl_table_add(&t, row)) {
			rc = CTL_EFAIL;
			break;
		}
	}
	if (rc == CTL_OK)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return ctl_finish(ctl, reply, rc);
}

int ctl_cmd_collections_show(struct ctl *ctl, const struct ctl_args *a)
{
	char path[PATH_MAX_LEN];
	json_t *reply;
	int rc = coll_path(path, sizeof(path), a->argv[0], NULL);

	if (rc)
		return rc;
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("collections show"));
	if (!ctl->json)
		print_collection(reply);
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_collections_members(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"ID", "HOSTNAME", "SITE", "STATE"};
	static const char *const keys[] = {"id", "hostname", "site", "state"};
	char path[PATH_MAX_LEN];
	json_t *reply;
	int rc = coll_path(path, sizeof(path), a->argv[0], "/members");

	if (rc)
		return rc;
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("collections members"));
	if (!ctl->json) {
		if (json_array_size(reply) == 0)
			puts("no members");
		else
			print_rows(reply, head, keys, 4);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_collections_explain(struct ctl *ctl, const struct ctl_args *a)
{
	char path[PATH_MAX_LEN], suffix[64];
	json_t *reply;
	int rc;

	snprintf(suffix, sizeof(suffix), "/explain/%s", a->argv[1]);
	rc = coll_path(path, sizeof(path), a->argv[0], suffix);
	if (rc)
		return rc;
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply) || !json_is_boolean(json_object_get(reply, "member")))
		return ctl_finish(ctl, reply, ctl_bad_reply("collections explain"));
	if (!ctl->json) {
		fputs("client ", stdout);
		ctl_put_clean(stdout, a->argv[1]);
		fputs(json_is_true(json_object_get(reply, "member")) ? " is a member of '"
								     : " is not a member of '",
		      stdout);
		ctl_put_clean(stdout, a->argv[0]);
		fputs("'\n", stdout);
		ctl_put_clean(stdout, ctl_jstr(reply, "reason") ? ctl_jstr(reply, "reason") : "");
		fputc('\n', stdout);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_collections_delete(struct ctl *ctl, const struct ctl_args *a)
{
	char path[PATH_MAX_LEN];
	json_t *reply;
	int rc = coll_path(path, sizeof(path), a->argv[0], NULL);

	if (rc)
		return rc;
	rc = ctl_request(ctl, "DELETE", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("collections delete"));
	if (!ctl->json) {
		fputs("collection '", stdout);
		ctl_put_clean(stdout, a->argv[0]);
		fputs("' deleted\n", stdout);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

/* --all-sites: the sites below whose clients the query could not look at,
 * so that nobody reads "0 match" as "none there". */
static void print_not_searched(const json_t *ns)
{
	json_t *v;
	size_t i;

	json_array_foreach(ns, i, v)
	{
		const char *site = json_string_value(json_object_get(v, "site"));
		const char *level = json_string_value(json_object_get(v, "level"));
		json_int_t n = json_integer_value(json_object_get(v, "clients"));

		fputs("note: ", stdout);
		ctl_put_clean(stdout, site ? site : "?");
		printf(": %lld client%s not searched: ", (long long)n, n == 1 ? "" : "s");
		if (level && strcmp(level, "summary") == 0)
			fputs("summary only (the query reads packages or addresses; raise the links "
			      "up from it: stewardctl links set CODE --inventory full)\n",
			      stdout);
		else
			fputs("no inventory came up (the links up from it send none, or the clients "
			      "have sent none yet)\n",
			      stdout);
	}
}

int ctl_cmd_inventory_query(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"ID", "HOSTNAME", "SITE"};
	static const char *const keys[] = {"id", "hostname", "site"};
	char *path, *enc;
	size_t encsz = 3 * strlen(a->argv[0]) + 4;
	json_t *reply = NULL, *clients;
	int rc;

	if (strlen(a->argv[0]) > 4096)
		return ctl_usage_error(NULL, "the query is longer than 4096 bytes");
	enc = malloc(encsz);
	path = malloc(encsz + 64);
	if (!enc || !path || url_encode(a->argv[0], enc, encsz)) {
		free(enc);
		free(path);
		ctl_error("internal", "", "out of memory");
		return CTL_EFAIL;
	}
	snprintf(path, encsz + 64, "/api/v1/inventory/query?q=%s%s", enc,
		 a->opt[CTL_OPT_ALL_SITES] ? "&all_sites=1" : "");
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	free(enc);
	free(path);
	if (rc)
		return rc;
	clients = json_object_get(reply, "clients");
	if (!json_is_array(clients))
		return ctl_finish(ctl, reply, ctl_bad_reply("inventory query"));
	if (!ctl->json) {
		if (json_array_size(clients))
			print_rows(clients, head, keys, 3);
		printf("%zu client%s match\n", json_array_size(clients),
		       json_array_size(clients) == 1 ? "" : "s");
		print_not_searched(json_object_get(reply, "not_searched"));
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

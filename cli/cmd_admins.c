/* stewardctl admins and audit: administrators with roles, the audit log.
 * docs/security.md. */
#include <stdio.h>
#include <string.h>

#include "steward/util.h"

#include "ctl.h"

bool ctl_role_ok(const char *v)
{
	static const char *const roles[] = {"read", "operator", "admin", "distribution_point"};

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(v, roles[i]) == 0)
			return true;
	return false;
}

int ctl_cmd_admins_create(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *body, *reply = NULL, *out;
	const char *token, *name, *role;
	int rc;

	body = json_pack("{s:s,s:s}", "name", a->argv[0], "role", a->opt[CTL_OPT_ROLE]);
	rc = body ? ctl_request(ctl, "POST", "/api/v1/admins/tokens", body, &reply) : CTL_EFAIL;
	json_decref(body);
	if (rc)
		return rc;
	token = ctl_jstr(reply, "token");
	name = ctl_jstr(reply, "name") ? ctl_jstr(reply, "name") : a->argv[0];
	role = ctl_jstr(reply, "role") ? ctl_jstr(reply, "role") : a->opt[CTL_OPT_ROLE];
	if (!token) {
		json_decref(reply);
		return ctl_bad_reply("admins create");
	}
	if (ctl->json) {
		out = json_pack("{s:s,s:s,s:s}", "name", name, "role", role, "token", token);
		rc = out && ctl_print_json(out) == 0 ? CTL_OK : CTL_EFAIL;
		json_decref(out);
		json_decref(reply);
		return rc;
	}
	ctl_put_clean(stdout, token);
	fputc('\n', stdout);
	fflush(stdout);
	fputs("token of role ", stderr);
	ctl_put_clean(stderr, role);
	fputs(" for '", stderr);
	ctl_put_clean(stderr, name);
	fputs("'; it is shown only this once (the site keeps only its hash).\n"
	      "store it in a file readable only by its holder (mode 0600); pass it with -t FILE\n",
	      stderr);
	json_decref(reply);
	return CTL_OK;
}

int ctl_cmd_admins_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"NAME", "ROLE", "CREATED", "CREATED_BY", "REVOKED"};
	struct ctl_table t;
	json_t *reply, *e;
	size_t i;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/admins", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply) || !ctl_all_objects(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("admins list"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	ctl_table_init(&t, 5, head);
	json_array_foreach(reply, i, e)
	{
		char b[5][128];
		const char *row[5] = {
		    ctl_fmt(json_object_get(e, "name"), "-", b[0], sizeof(b[0])),
		    ctl_fmt(json_object_get(e, "role"), "-", b[1], sizeof(b[1])),
		    ctl_fmt(json_object_get(e, "created"), "-", b[2], sizeof(b[2])),
		    ctl_fmt(json_object_get(e, "created_by"), "-", b[3], sizeof(b[3])),
		    ctl_fmt(json_object_get(e, "revoked"), "no", b[4], sizeof(b[4])),
		};
		if (!*row[3])
			row[3] = "-";
		if (ctl_table_add(&t, row)) {
			rc = ctl_oom();
			break;
		}
	}
	if (rc == CTL_OK)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return ctl_finish(ctl, reply, rc);
}

int ctl_cmd_admins_revoke(struct ctl *ctl, const struct ctl_args *a)
{
	char path[160];
	json_t *reply;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/admins/%s/revoke", a->argv[0]);
	rc = ctl_request(ctl, "POST", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("admins revoke"));
	if (!ctl->json) {
		fputs("the token of '", stdout);
		ctl_put_clean(stdout, a->argv[0]);
		fputs("' is revoked: the site refuses it from now on\n", stdout);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

/* Every page of the log that matches, into one array. */
static int audit_fetch(struct ctl *ctl, const struct ctl_args *a, json_t *all)
{
	long long after = 0;

	for (;;) {
		char path[256];
		size_t n = 0;
		json_t *page, *e;
		int rc;

		n = (size_t)snprintf(path, sizeof(path), "/api/v1/audit?after=%lld", after);
		if (a->opt[CTL_OPT_SINCE])
			n += (size_t)snprintf(
			    path + n, sizeof(path) - n, "&since=%lld",
			    (long long)(a->num[CTL_OPT_SINCE] > 0 ? a->num[CTL_OPT_SINCE] : 0));
		if (a->opt[CTL_OPT_WHO])
			snprintf(path + n, sizeof(path) - n, "&who=%s", a->opt[CTL_OPT_WHO]);
		rc = ctl_request(ctl, "GET", path, NULL, &page);
		if (rc)
			return rc;
		if (!json_is_array(page) || !ctl_all_objects(page)) {
			json_decref(page);
			return ctl_bad_reply("audit list");
		}
		n = json_array_size(page);
		if (n == 0) {
			json_decref(page);
			return CTL_OK;
		}
		after = json_integer_value(json_object_get(json_array_get(page, n - 1), "id"));
		if (json_array_extend(all, page)) {
			json_decref(page);
			return ctl_oom();
		}
		json_decref(page);
		e = json_array_get(all, json_array_size(all) - 1);
		if (after <= 0 || !e)
			return ctl_bad_reply("audit list");
	}
}

int ctl_cmd_audit_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"ID",     "TIME",   "WHO",  "ROLE", "ROUTE",
					   "OBJECT", "STATUS", "CODE", "PEER"};
	static const char *const keys[] = {"id",     "time",   "who",  "role", "route",
					   "object", "status", "code", "peer"};
	json_t *all = json_array();
	int rc;

	if (!all)
		return ctl_oom();
	rc = audit_fetch(ctl, a, all);
	if (rc) {
		json_decref(all);
		return rc;
	}
	if (ctl->json)
		return ctl_finish(ctl, all, CTL_OK);
	if (json_array_size(all) == 0) {
		puts("no audit entries");
		return ctl_finish(ctl, all, CTL_OK);
	}
	rc = ctl_print_objects(all, 9, head, keys);
	return ctl_finish(ctl, all, rc);
}

int ctl_cmd_audit_verify(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *reply;
	int rc;

	(void)a;
	/* a broken chain is the site's 409 audit_chain_broken: printed, exit 1 */
	rc = ctl_request(ctl, "GET", "/api/v1/audit/verify", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply) || !json_is_true(json_object_get(reply, "ok")))
		return ctl_finish(ctl, reply, ctl_bad_reply("audit verify"));
	if (!ctl->json)
		printf("OK: %lld audit entries, chained and unchanged\n",
		       (long long)json_integer_value(json_object_get(reply, "count")));
	return ctl_finish(ctl, reply, CTL_OK);
}

/* stewardctl: the hierarchy of sites (sites, links, hierarchy show).
 *
 * A parent makes a one-time attach token; the child's administrator
 * attaches with it (the child's stewardd talks to the parent and checks its
 * key against the fingerprint in the token). docs/hierarchy.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/proto.h"
#include "steward/util.h"

#include "ctl.h"

static const char *js(const json_t *o, const char *key, const char *dflt)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v && *v ? v : dflt;
}

int ctl_cmd_sites_token(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *body, *reply = NULL;
	int rc;

	if (strcmp(a->argv[0], "create") != 0) {
		ctl_error("usage", "stewardctl sites attach-token create [--ttl 1h]",
			  "'sites attach-token' takes 'create', not '%.40s'", a->argv[0]);
		return CTL_EUSAGE;
	}
	body = a->opt[CTL_OPT_TTL] ? json_pack("{s:I}", "ttl", (json_int_t)a->num[CTL_OPT_TTL])
				   : json_object();
	if (!body)
		return CTL_EFAIL;
	rc = ctl_request(ctl, "POST", "/api/v1/sites/attach-tokens", body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!json_string_value(json_object_get(reply, "token")))
		return ctl_finish(ctl, reply, ctl_bad_reply("sites attach-token create"));
	if (!ctl->json) {
		printf("%s\n", js(reply, "token", "-"));
		fprintf(stderr,
			"one-time attach token for site %s, valid until %s; it carries this site's key "
			"fingerprint %.16s…\non the child: stewardctl sites attach --parent URL "
			"--token TOKEN\n",
			js(reply, "site", "-"), js(reply, "expires", "-"), js(reply, "fingerprint", "-"));
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_sites_attach(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *body = json_pack("{s:s,s:s}", "parent", a->opt[CTL_OPT_PARENT], "token",
				 a->opt[CTL_OPT_ATOKEN]),
	       *reply = NULL;
	int rc;

	if (!body)
		return CTL_EFAIL;
	rc = ctl_request(ctl, "POST", "/api/v1/sites/attach", body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!json_string_value(json_object_get(reply, "parent")))
		return ctl_finish(ctl, reply, ctl_bad_reply("sites attach"));
	if (!ctl->json)
		printf("attached below site %s (%s, version %s, protocol %s); its key matched the "
		       "token's fingerprint %.16s…\nthis site now sends its clients, status and "
		       "upgrade outcomes up; 'stewardctl hierarchy show' on the parent shows it\n",
		       js(reply, "parent", "-"), js(reply, "name", "-"), js(reply, "version", "-"),
		       js(reply, "protocol", "-"), js(reply, "fingerprint", "-"));
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_sites_detach(struct ctl *ctl, const struct ctl_args *a)
{
	char path[64];
	json_t *reply = NULL, *body = json_object();
	int rc;

	snprintf(path, sizeof(path), "/api/v1/sites/%s/detach", a->argv[0]);
	rc = ctl_request(ctl, "POST", path, body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!ctl->json)
		printf("detached site %s: nothing more is sent either way; what it queued for us "
		       "stays with it\n",
		       a->argv[0]);
	return ctl_finish(ctl, reply, CTL_OK);
}

static void bytes_text(json_int_t n, char *out, size_t outsz)
{
	if (n >= 10 * 1024 * 1024)
		snprintf(out, outsz, "%lld MiB", (long long)(n / (1024 * 1024)));
	else if (n >= 10 * 1024)
		snprintf(out, outsz, "%lld KiB", (long long)(n / 1024));
	else
		snprintf(out, outsz, "%lld B", (long long)n);
}

int ctl_cmd_sites_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"CODE",    "RELATION", "NAME",	 "VERSION",  "LINK",
					   "LAST IN", "LAST OUT", "BACKLOG OUT", "INVENTORY"};
	struct ctl_table t;
	json_t *reply = NULL, *v;
	size_t i;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/sites", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("sites list"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (json_array_size(reply) == 0) {
		puts("no sites linked: 'stewardctl sites attach-token create' on a parent, 'sites "
		     "attach' on a child");
		return ctl_finish(ctl, reply, CTL_OK);
	}
	ctl_table_init(&t, 9, head);
	json_array_foreach(reply, i, v)
	{
		char backlog[64], b[24];
		const char *row[] = {js(v, "code", "-"),     js(v, "relation", "-"),
				     js(v, "name", "-"),     js(v, "version", "-"),
				     js(v, "state", "-"),    js(v, "last_in", "never"),
				     js(v, "last_out", "never"), backlog,
				     js(v, "inventory", "-")};

		bytes_text(json_integer_value(json_object_get(v, "backlog_out_bytes")), b, sizeof(b));
		snprintf(backlog, sizeof(backlog), "%lld msgs, %s",
			 (long long)json_integer_value(json_object_get(v, "backlog_out_messages")), b);
		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return ctl_finish(ctl, reply, CTL_OK);
}

/* "64k", "1m", "20000": bytes per second. */
static int parse_rate(const char *v, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || n < 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		n *= 1024, end++;
	else if (*end == 'm' || *end == 'M')
		n *= 1024 * 1024, end++;
	if (*end || n > 10000000000LL)
		return -1;
	*out = n;
	return 0;
}

int ctl_cmd_links_set(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *body = json_object(), *reply = NULL;
	char path[64];
	int64_t rate;
	long kib, secs;
	int rc, used = 0;

	if (!body)
		return CTL_EFAIL;
	if (a->opt[CTL_OPT_SCHEDULE])
		json_object_set_new(body, "schedule", json_string(a->opt[CTL_OPT_SCHEDULE]));
	if (a->opt[CTL_OPT_LINK_RATE]) {
		const char *r = a->opt[CTL_OPT_LINK_RATE];
		size_t n = strlen(r);
		int share = -1;

		/* N%: a share of each hour */
		if (n >= 2 && n <= 3 && r[n - 1] == '%' && strspn(r, "0123456789") == n - 1)
			share = atoi(r);
		if ((share < 0 && parse_rate(r, &rate)) || share > 99) {
			json_decref(body);
			ctl_error("usage",
				  "e.g. --rate 20000, --rate 64k (bytes per second), --rate 25% (a "
				  "quarter of each hour), --rate 0 (no limit)",
				  "--rate '%.40s' is neither bytes per second nor 1%% to 99%%", r);
			return CTL_EUSAGE;
		}
		json_object_set_new(body, share >= 0 ? "share" : "rate",
				    json_integer(share >= 0 ? share : rate));
	}
	if (a->opt[CTL_OPT_PULSE]) {
		if (sscanf(a->opt[CTL_OPT_PULSE], "%ld/%ld%n", &kib, &secs, &used) != 2 ||
		    (size_t)used != strlen(a->opt[CTL_OPT_PULSE]) || kib < 0 || secs < 0 ||
		    kib > 1048576 || secs > 86400) {
			json_decref(body);
			ctl_error("usage", "e.g. --pulse 64/10 (64 KiB, then wait 10 s); 0/0 stops it",
				  "--pulse '%.40s' is not KIB/SECONDS", a->opt[CTL_OPT_PULSE]);
			return CTL_EUSAGE;
		}
		json_object_set_new(body, "pulse_bytes", json_integer(kib * 1024));
		json_object_set_new(body, "pulse_wait", json_integer(secs));
	}
	if (a->opt[CTL_OPT_INVENTORY]) {
		const char *v = a->opt[CTL_OPT_INVENTORY];

		if (strcmp(v, "none") && strcmp(v, "summary") && strcmp(v, "full")) {
			json_decref(body);
			ctl_error("usage", "e.g. --inventory full",
				  "--inventory '%.40s' is not none, summary or full", v);
			return CTL_EUSAGE;
		}
		json_object_set_new(body, "inventory", json_string(v));
	}
	if (json_object_size(body) == 0) {
		json_decref(body);
		ctl_error("usage", "give --schedule, --rate, --pulse or --inventory",
			  "'links set' needs at least one setting");
		return CTL_EUSAGE;
	}
	snprintf(path, sizeof(path), "/api/v1/sites/%s/link", a->argv[0]);
	rc = ctl_request(ctl, "POST", path, body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!ctl->json)
	{
		json_int_t share = json_integer_value(json_object_get(reply, "share"));
		char rate_text[64];

		if (share > 0)
			snprintf(rate_text, sizeof(rate_text), "%lld%% of each hour", (long long)share);
		else
			snprintf(rate_text, sizeof(rate_text), "%lld bytes/s%s",
				 (long long)json_integer_value(json_object_get(reply, "rate")),
				 json_integer_value(json_object_get(reply, "rate")) ? "" : " (no limit)");
		printf("link to %s: schedule %s (now: %s), rate %s, pulse %lld bytes / %lld s\n",
		       js(reply, "code", "-"), strcmp(js(reply, "schedule", "all"), "all") ? "custom"
											  : "all",
		       js(reply, "schedule_now", "-"), rate_text,
		       (long long)json_integer_value(json_object_get(reply, "pulse_bytes")),
		       (long long)json_integer_value(json_object_get(reply, "pulse_wait")));
	}
	if (!ctl->json && strcmp(js(reply, "relation", "-"), "child") == 0)
		printf("inventory up from %s: %s\n", js(reply, "code", "-"),
		       js(reply, "inventory", "-"));
	return ctl_finish(ctl, reply, CTL_OK);
}

/* One site of the tree, and below it. */
static void draw(const json_t *node, const char *prefix, bool last, bool root)
{
	json_t *kids = json_object_get(node, "children"), *k;
	const json_t *up = json_object_get(node, "backlog_in");
	char next[256], b[24], ub[24], upt[64];
	size_t i, n = json_array_size(kids);

	if (root) {
		printf("%s  %s  %s (protocol %s)\n", js(node, "code", "-"), js(node, "name", "-"),
		       js(node, "version", "-"), js(node, "protocol", "-"));
	} else {
		bytes_text(json_integer_value(json_object_get(node, "backlog_out_bytes")), b,
			   sizeof(b));
		bytes_text(json_integer_value(json_object_get(up, "bytes")), ub, sizeof(ub));
		if (json_is_object(up))
			snprintf(upt, sizeof(upt), "%lld msgs, %s",
				 (long long)json_integer_value(json_object_get(up, "messages")), ub);
		else
			snprintf(upt, sizeof(upt), "not reported yet");
		printf("%s%s %s  %s  %s (protocol %s)\n", prefix, last ? "└──" : "├──",
		       js(node, "code", "-"), js(node, "name", "-"), js(node, "version", "-"),
		       js(node, "protocol", "-"));
		printf("%s%s     link %s; last in %s, last out %s; backlog down %lld msgs, %s; up %s; "
		       "schedule now %s\n",
		       prefix, last ? "   " : "│  ", js(node, "state", "-"),
		       js(node, "last_in", "never"), js(node, "last_out", "never"),
		       (long long)json_integer_value(json_object_get(node, "backlog_out_messages")), b,
		       upt, js(node, "schedule_now", "-"));
	}
	snprintf(next, sizeof(next), "%s%s", prefix, root ? "" : last ? "    " : "│   ");
	json_array_foreach(kids, i, k)
		draw(k, next, i + 1 == n, false);
}

int ctl_cmd_hierarchy_show(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *reply = NULL, *parent;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/hierarchy", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("hierarchy show"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	parent = json_object_get(reply, "parent");
	if (json_is_object(parent))
		printf("parent: %s  %s  %s; link %s; last in %s, last out %s\n\n",
		       js(parent, "code", "-"), js(parent, "name", "-"), js(parent, "version", "-"),
		       js(parent, "state", "-"), js(parent, "last_in", "never"),
		       js(parent, "last_out", "never"));
	draw(reply, "", true, true);
	return ctl_finish(ctl, reply, CTL_OK);
}

/* ---- the coordinated upgrade (server/hupgrade.c) ---------------------------------------- */

/* The sites of a plan or a status, one row each. */
static void upgrade_table(const json_t *sites, bool status)
{
	static const char *const plan_head[] = {"LEVEL",   "SITE",    "NAME",   "RUNS",	"LINK",
						"BACKLOG", "RELEASE", "BACKUP", "SYSTEMS"};
	static const char *const status_head[] = {"LEVEL", "SITE", "NAME", "RUNS", "STATE",
						  "DETAIL"};
	struct ctl_table t;
	json_t *v;
	size_t i;

	ctl_table_init(&t, status ? 6 : 9, status ? status_head : plan_head);
	json_array_foreach(sites, i, v)
	{
		char lvl[16], backlog[32];

		snprintf(lvl, sizeof(lvl), "%lld",
			 (long long)json_integer_value(json_object_get(v, "level")));
		snprintf(backlog, sizeof(backlog), "%lld msgs",
			 (long long)json_integer_value(json_object_get(v, "backlog")));
		if (status) {
			const char *row[] = {lvl,
					     js(v, "code", "-"),
					     js(v, "name", "-"),
					     js(v, "version", "-"),
					     js(v, "state", "-"),
					     *js(v, "detail", "") ? js(v, "detail", "") : "-"};

			ctl_table_add(&t, row);
		} else {
			const char *row[] = {lvl,
					     js(v, "code", "-"),
					     js(v, "name", "-"),
					     js(v, "version", "-"),
					     js(v, "link", "-"),
					     json_integer_value(json_object_get(v, "level")) ? backlog
											     : "-",
					     js(v, "release", "-"),
					     js(v, "backup", "-"),
					     js(v, "systems", "-")};

			ctl_table_add(&t, row);
		}
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

static void print_plan(const json_t *reply)
{
	json_t *blockers = json_object_get(reply, "blockers"), *sites = json_object_get(reply, "sites"),
	       *v;
	size_t i, n = json_array_size(blockers);
	long long level = -1;

	printf("upgrade of the hierarchy to %s: %s\n\n", js(reply, "to", "?"),
	       n ? "NOT READY" : "ready");
	upgrade_table(sites, false);
	printf("\norder: installs and advertisements pause at every site; then ");
	json_array_foreach(sites, i, v)
	{
		long long l = (long long)json_integer_value(json_object_get(v, "level"));

		if (l != level)
			printf("%s%s", level < 0 ? "" : "; then ", js(v, "code", "?"));
		else
			printf(", %s", js(v, "code", "?"));
		level = l;
	}
	printf(".\na level starts only once every site above it and their site systems run %s.\n"
	       "each site backs up its database before it upgrades and rolls back by itself if "
	       "the new version\ndoes not start; its clients are offered %s only once it and "
	       "its site systems run it.\n"
	       "a failure, or a site not done within hierarchy_upgrade_timeout, halts the rest.\n",
	       js(reply, "to", "?"), js(reply, "to", "?"));
	if (*js(reply, "clients", ""))
		printf("at the end the agents of '%s' at every site are offered %s.\n",
		       js(reply, "clients", ""), js(reply, "to", "?"));
	if (n) {
		printf("\nnot ready:\n");
		json_array_foreach(blockers, i, v)
		{
			fputs("  - ", stdout);
			ctl_put_clean(stdout, json_string_value(v) ? json_string_value(v) : "?");
			fputs("\n", stdout);
		}
	}
}

static void print_status(const json_t *st)
{
	const char *state = js(st, "state", "?");

	if (strcmp(state, "ordered_from_above") == 0) {
		const json_t *me = json_object_get(st, "this_site");

		printf("site %s takes part in an upgrade of the hierarchy to %s ordered from above\n"
		       "this site: %s since %s",
		       js(me, "code", "?"), js(st, "to", "?"), js(me, "state", "?"),
		       js(me, "since", "?"));
		if (*js(me, "detail", "")) {
			fputs(": ", stdout);
			ctl_put_clean(stdout, js(me, "detail", ""));
		}
		puts("");
		puts("the whole upgrade is followed where it was started (stewardctl hierarchy "
		     "status there)");
		return;
	}

	printf("upgrade of the hierarchy to %s: %s (started by %s)\n", js(st, "to", "?"), state,
	       js(st, "by", "?"));
	if (strcmp(state, "halted") == 0) {
		fputs("halted: ", stdout);
		ctl_put_clean(stdout, js(st, "reason", "?"));
		fputs("\nfix that, then: stewardctl hierarchy upgrade --resume\n", stdout);
	}
	puts("");
	upgrade_table(json_object_get(st, "sites"), true);
	if (strcmp(state, "done") == 0) {
		printf("\nevery site runs %s; installs resumed at %lld per hour, advertisements "
		       "resumed\n",
		       js(st, "to", "?"), (long long)json_integer_value(json_object_get(st, "rate")));
		if (*js(st, "clients", ""))
			printf("the agents of '%s' at every site are offered %s at their next "
			       "check-in\n",
			       js(st, "clients", ""), js(st, "to", "?"));
	}
	else
		printf("\ninstalls and advertisements stay paused at every site until it is done\n");
}

int ctl_cmd_hierarchy_upgrade(struct ctl *ctl, const struct ctl_args *a)
{
	bool plan = a->opt[CTL_OPT_PLAN], resume = a->opt[CTL_OPT_RESUME];
	json_t *body, *reply = NULL;
	int rc;

	if (resume == (a->opt[CTL_OPT_TO] != NULL) ||
	    (resume && (plan || a->opt[CTL_OPT_RATE] || a->opt[CTL_OPT_COLLECTION]))) {
		ctl_error("usage",
			  "stewardctl hierarchy upgrade --to X.Y.Z [--plan] [--rate N/hour] "
			  "[--collection NAME], or --resume alone",
			  "give either --to (a new upgrade or its plan) or --resume (a halted one)");
		return CTL_EUSAGE;
	}
	body = resume ? json_pack("{s:b}", "resume", 1)
		      : json_pack("{s:s,s:b}", "to", a->opt[CTL_OPT_TO], "plan", plan);
	if (body && a->opt[CTL_OPT_RATE])
		json_object_set_new(body, "rate", json_integer((json_int_t)a->num[CTL_OPT_RATE]));
	if (body && a->opt[CTL_OPT_COLLECTION])
		json_object_set_new(body, "collection", json_string(a->opt[CTL_OPT_COLLECTION]));
	if (!body)
		return ctl_oom();
	rc = ctl_request(ctl, "POST", "/api/v1/hierarchy/upgrade", body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("hierarchy upgrade"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (plan) {
		print_plan(reply);
		return ctl_finish(ctl, reply,
				  json_array_size(json_object_get(reply, "blockers")) ? CTL_EFAIL
										      : CTL_OK);
	}
	printf("%s the upgrade of the hierarchy to %s over %zu sites; installs and "
	       "advertisements are paused everywhere until it is done.\n",
	       resume ? "resumed" : "started", js(reply, "to", "?"),
	       json_array_size(json_object_get(reply, "sites")));
	if (*js(reply, "clients", ""))
		printf("then the agents of '%s' at every site are offered %s.\n",
		       js(reply, "clients", ""), js(reply, "to", "?"));
	printf("follow it with: stewardctl hierarchy status\n");
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_hierarchy_status(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *reply = NULL;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/hierarchy/upgrade", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("hierarchy status"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	print_status(reply);
	return ctl_finish(ctl, reply, CTL_OK);
}

/* ---- objects sent down (server/hierarchy.c) ------------------------------------------------ */

/* One table of objects; cols names the members shown, head their titles. */
static void objects_table(const json_t *rows, const char *const *head, const char *const *cols,
			  size_t n)
{
	struct ctl_table t;
	const json_t *v;
	size_t i;

	ctl_table_init(&t, n, head);
	json_array_foreach(rows, i, v)
	{
		const char *row[8];

		for (size_t k = 0; k < n && k < 8; k++)
			row[k] = js(v, cols[k], "-");
		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

int ctl_cmd_hierarchy_objects(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const bhead[] = {"SITE", "KIND", "NAME", "STATE", "UPDATED", "DETAIL"};
	static const char *const bcols[] = {"site", "kind", "name", "state", "updated", "detail"};
	static const char *const hhead[] = {"KIND", "NAME", "FROM", "ORIGIN", "STATE", "DETAIL"};
	static const char *const hcols[] = {"kind", "name", "from", "origin", "state", "detail"};
	json_t *reply = NULL, *below, *here;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/hierarchy/objects", NULL, &reply);
	if (rc)
		return rc;
	below = json_object_get(reply, "below");
	here = json_object_get(reply, "here");
	if (!json_is_array(below) || !json_is_array(here))
		return ctl_finish(ctl, reply, ctl_bad_reply("hierarchy objects"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (json_array_size(below)) {
		puts("sent down from here, at the sites below:");
		objects_table(below, bhead, bcols, 6);
	}
	if (json_array_size(here)) {
		if (json_array_size(below))
			putchar('\n');
		puts("from above, here:");
		objects_table(here, hhead, hcols, 6);
	}
	if (!json_array_size(below) && !json_array_size(here))
		puts("no objects sent down from here, none received from above");
	return ctl_finish(ctl, reply, CTL_OK);
}

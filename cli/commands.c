/* stewardctl commands: the command table and one handler per command.
 *
 * The table is the single description of the console: main.c dispatches
 * through it, checks argument counts, options and value types from it, and
 * prints help from it. A handler runs only with validated arguments:
 * parse -> call -> print.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/proto.h"
#include "steward/util.h"

#include "ctl.h"

const struct ctl_opt_spec ctl_opt_specs[CTL_OPT_COUNT] = {
    [CTL_OPT_REASON] = {"reason", "TEXT", CTL_T_REASON},
    [CTL_OPT_USES] = {"uses", "N", CTL_T_USES},
    [CTL_OPT_TTL] = {"ttl", "DURATION", CTL_T_TTL},
    [CTL_OPT_SITE] = {"site", "CODE", CTL_T_SITE},
    [CTL_OPT_PIN] = {"pin", "sha256:HEX", CTL_T_NONE},
    [CTL_OPT_FINISH] = {"finish", NULL, CTL_T_NONE},
    /* collections (cmd_collections.c) */
    [CTL_OPT_QUERY] = {"query", "QUERY", CTL_T_NONE},
    [CTL_OPT_MEMBERS] = {"members", "ID,...", CTL_T_NONE},
    [CTL_OPT_INCLUDE] = {"include", "NAME,...", CTL_T_NONE},
    [CTL_OPT_EXCLUDE] = {"exclude", "NAME,...", CTL_T_NONE},
    /* inventory (cmd_inventory.c) */
    [CTL_OPT_PACKAGES] = {"packages", NULL, CTL_T_NONE},
    [CTL_OPT_INACTIVE] = {"inactive", NULL, CTL_T_NONE},
    /* software distribution (cmd_swdist.c) */
    [CTL_OPT_VERSION] = {"version", "V", CTL_T_PKG_VERSION},
    [CTL_OPT_SOURCE] = {"source", "DIR", CTL_T_NONE},
    [CTL_OPT_COMMENT] = {"comment", "TEXT", CTL_T_REASON}, /* as the site stores it */
    [CTL_OPT_PACKAGE] = {"package", "PKG[@VERSION]", CTL_T_PKG_REF},
    [CTL_OPT_COMMAND] = {"command", "CMD", CTL_T_NONE},
    [CTL_OPT_WORKDIR] = {"workdir", "DIR", CTL_T_NONE},
    [CTL_OPT_PTIMEOUT] = {"timeout", "DURATION", CTL_T_DURATION},
    [CTL_OPT_SUCCESS_CODES] = {"success-codes", "N,...", CTL_T_CODES},
    [CTL_OPT_REBOOT_CODES] = {"reboot-codes", "N,...", CTL_T_CODES},
    [CTL_OPT_USER] = {"user", "USER", CTL_T_NONE},
    [CTL_OPT_ENV] = {"env", "K=V", CTL_T_ENV, true},
    [CTL_OPT_RUN] = {"run", "once|always", CTL_T_RUN},
    [CTL_OPT_MIN_FREE_MB] = {"min-free-mb", "N", CTL_T_MB},
    [CTL_OPT_REQUIREMENT] = {"requirement", "QUERY", CTL_T_NONE},
    [CTL_OPT_PROGRAM] = {"program", "PROGRAM", CTL_T_NONE},
    [CTL_OPT_COLLECTION] = {"collection", "COLLECTION", CTL_T_NONE},
    [CTL_OPT_AVAILABLE] = {"available", "TIME", CTL_T_TIME},
    [CTL_OPT_MANDATORY] = {"mandatory", "TIME", CTL_T_TIME},
    [CTL_OPT_RECURRING] = {"recurring", "DURATION", CTL_T_DURATION},
    [CTL_OPT_START] = {"start", "TIME", CTL_T_TIME},
    [CTL_OPT_EXPIRES] = {"expires", "TIME", CTL_T_TIME},
    [CTL_OPT_DISABLED] = {"disabled", NULL, CTL_T_NONE},
    /* releases (cmd_release.c) */
    [CTL_OPT_OUT] = {"out", "FILE", CTL_T_NONE},
    [CTL_OPT_KEY] = {"key", "FILE", CTL_T_NONE},
    [CTL_OPT_STAGE] = {"stage", "DIR", CTL_T_NONE},
    [CTL_OPT_RVERSION] = {"version", "X.Y.Z", CTL_T_RELEASE_VERSION},
    [CTL_OPT_UPGRADE_FROM] = {"upgrade-from", "X.Y.Z", CTL_T_RELEASE_VERSION},
    [CTL_OPT_VALID_FOR] = {"valid-for", "DURATION", CTL_T_DURATION},
    [CTL_OPT_ROLLBACK] = {"rollback", NULL, CTL_T_NONE},
    [CTL_OPT_RATE] = {"rate", "N/hour", CTL_T_RATE},
    [CTL_OPT_OFF] = {"off", NULL, CTL_T_NONE},
    [CTL_OPT_TO] = {"to", "X.Y.Z", CTL_T_RELEASE_VERSION},
    [CTL_OPT_RELEASE_KEY] = {"release-key", "HEX", CTL_T_NONE},
    [CTL_OPT_AUTHORIZATION] = {"authorization", "LINE", CTL_T_NONE},
    [CTL_OPT_PREVIOUS] = {"previous", "FILE", CTL_T_NONE},
    /* the hierarchy (cmd_sites.c) */
    [CTL_OPT_PARENT] = {"parent", "URL", CTL_T_NONE},
    [CTL_OPT_ATOKEN] = {"token", "TOKEN", CTL_T_NONE},
    [CTL_OPT_HIERARCHY] = {"hierarchy", NULL, CTL_T_NONE},
    [CTL_OPT_ALL_SITES] = {"all-sites", NULL, CTL_T_NONE},
    [CTL_OPT_SCHEDULE] = {"schedule", "SPEC", CTL_T_NONE},
    [CTL_OPT_LINK_RATE] = {"rate", "BYTES/s|N%", CTL_T_NONE},
    [CTL_OPT_PULSE] = {"pulse", "KIB/SECONDS", CTL_T_NONE},
    [CTL_OPT_PLAN] = {"plan", NULL, CTL_T_NONE},
    [CTL_OPT_RESUME] = {"resume", NULL, CTL_T_NONE},
    [CTL_OPT_INVENTORY] = {"inventory", "none|summary|full", CTL_T_NONE},
    /* administrators and the audit log (cmd_admins.c) */
    [CTL_OPT_ROLE] = {"role", "ROLE", CTL_T_ROLE},
    [CTL_OPT_SINCE] = {"since", "TIME", CTL_T_SINCE},
    [CTL_OPT_WHO] = {"who", "NAME", CTL_T_ADMIN_NAME},
    [CTL_OPT_RELEASE] = {"release", "X.Y.Z", CTL_T_RELEASE_VERSION},
    [CTL_OPT_PILOT] = {"pilot", "COLLECTION", CTL_T_NONE},
    [CTL_OPT_WAVES] = {"waves", "P%,P%,...,100%", CTL_T_NONE},
    [CTL_OPT_GATE] = {"gate", "PERCENT", CTL_T_NONE},
    [CTL_OPT_SOAK] = {"soak", "DURATION", CTL_T_NONE},
    [CTL_OPT_HALT_AT] = {"halt-at", "PERCENT", CTL_T_NONE},
    [CTL_OPT_AUTO_ROLLBACK] = {"auto-rollback", NULL, CTL_T_NONE},
    [CTL_OPT_LATE] = {"late", "wait|run-at-next-checkin", CTL_T_NONE},
    [CTL_OPT_WATCH] = {"watch", NULL, CTL_T_NONE},
    [CTL_OPT_WEEKLY] = {"weekly", "\"DAYS HH:MM\"", CTL_T_NONE},
    [CTL_OPT_WDURATION] = {"duration", "DURATION", CTL_T_DURATION},
    [CTL_OPT_TZ] = {"tz", "ZONE", CTL_T_NONE},
    [CTL_OPT_LINKS] = {"links", "CLASS=ACTION,...", CTL_T_NONE},
    [CTL_OPT_LINK_DEADLINE] = {"link-deadline", "TIME", CTL_T_TIME},
    /* moving the site database (cmd_migrate.c) */
    [CTL_OPT_DATA_DIR] = {"data-dir", "DIR", CTL_T_NONE},
    [CTL_OPT_TO_URL] = {"to", "URL", CTL_T_NONE},
};

/* ---- value checks ------------------------------------------------------ */

static bool ctl_lower_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* Admin names as the site accepts them: A-Z a-z 0-9 . _ - */
static bool ctl_admin_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > CTL_ADMIN_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

int ctl_check_value(const struct ctl_cmd *c, enum ctl_type type, const char *what, const char *v,
		    int64_t *num)
{
	char *end = NULL;
	long long ll;
	int64_t secs;

	switch (type) {
	case CTL_T_NONE:
		return CTL_OK;
	case CTL_T_CLIENT_ID:
		if (proto_client_id_valid(v))
			return CTL_OK;
		return ctl_usage_error(c, "%s '%s' is not a client id (32 lowercase hex digits)",
				       what, v);
	case CTL_T_TOKEN_ID:
		if (ctl_lower_hex(v, CTL_ENROLL_TOKEN_ID_HEX))
			return CTL_OK;
		return ctl_usage_error(c,
				       "%s '%s' is not an enrollment token id (%d lowercase hex "
				       "digits, as 'enroll-tokens list' shows)",
				       what, v, CTL_ENROLL_TOKEN_ID_HEX);
	case CTL_T_ROLE:
		if (ctl_role_ok(v))
			return CTL_OK;
		return ctl_usage_error(c, "%s '%s' must be read, operator, admin or distribution_point",
				       what, v);
	case CTL_T_SINCE: {
		char why[256];

		if (v[0] == '-') {
			if (ctl_parse_duration(v + 1, num, why, sizeof(why)))
				return ctl_usage_error(c, "%s '%s' %s", what, v, why);
			*num = time_now_s() - *num;
			return CTL_OK;
		}
		if (ctl_parse_time(v, time_now_s(), num, why, sizeof(why)) == 0)
			return CTL_OK;
		return ctl_usage_error(c, "%s '%s' %s, or -DURATION (-1h: an hour ago)", what, v,
				       why);
	}
	case CTL_T_ADMIN_NAME:
		if (ctl_admin_name_ok(v))
			return CTL_OK;
		return ctl_usage_error(c, "%s '%s' must be 1 to %d characters of A-Z a-z 0-9 . _ -",
				       what, v, CTL_ADMIN_NAME_MAX);
	case CTL_T_REASON:
		/* the site stores printable ASCII only */
		if (strlen(v) <= PROTO_REASON_MAX && str_printable(v))
			return CTL_OK;
		return ctl_usage_error(c, "%s must be at most %d printable ASCII characters", what,
				       PROTO_REASON_MAX);
	case CTL_T_USES:
		errno = 0;
		ll = strtoll(v, &end, 10);
		if (errno || end == v || *end || *v == '+' || *v == ' ' || ll < 1 ||
		    ll > CTL_USES_MAX)
			return ctl_usage_error(c, "%s '%s' must be a whole number from 1 to %d",
					       what, v, CTL_USES_MAX);
		*num = ll;
		return CTL_OK;
	case CTL_T_TTL:
		if (time_parse_duration(v, &secs))
			return ctl_usage_error(
			    NULL,
			    "%s '%s' is not a duration (a number with s, m, h or "
			    "d, e.g. 30m, 24h, 7d)",
			    what, v);
		if (secs < CTL_TTL_MIN_S || secs > CTL_TTL_MAX_S)
			return ctl_usage_error(c,
					       "%s '%s' is %lld s; it must be from 60 s (1m) to "
					       "365 days (365d)",
					       what, v, (long long)secs);
		*num = secs;
		return CTL_OK;
	case CTL_T_SITE:
		if (proto_site_code_valid(v))
			return CTL_OK;
		return ctl_usage_error(c,
				       "%s '%s' is not a site code (exactly 3 characters A-Z or "
				       "0-9, e.g. ABC)",
				       what, v);
	case CTL_T_PKG_NAME:
	case CTL_T_PKG_VERSION:
	case CTL_T_PKG_REF:
	case CTL_T_TIME:
	case CTL_T_DURATION:
	case CTL_T_CODES:
	case CTL_T_MB:
	case CTL_T_RUN:
	case CTL_T_ENV:
		return ctl_swdist_check_value(c, type, what, v, num);
	case CTL_T_RELEASE_VERSION:
	case CTL_T_RATE:
		return ctl_release_check_value(c, type, what, v, num);
	}
	return ctl_usage_error(c, "%s: unknown argument type", what);
}

void ctl_cmd_synopsis(const struct ctl_cmd *c, char *out, size_t outsz)
{
	size_t used;

	snprintf(out, outsz, c->verb[0] ? "%s %s" : "%s%s", c->noun, c->verb);
	for (int i = 0; i < c->max_args; i++) {
		used = strlen(out);
		snprintf(out + used, outsz - used, i < c->min_args ? " %s" : " [%s]",
			 c->arg_names[i]);
	}
	for (int o = 0; o < CTL_OPT_COUNT; o++) {
		bool req = c->required & CTL_OPT_BIT(o);

		if (!(c->opts & CTL_OPT_BIT(o)))
			continue;
		used = strlen(out);
		if (!ctl_opt_specs[o].metavar) /* a flag */
			snprintf(out + used, outsz - used, req ? " --%s" : " [--%s]",
				 ctl_opt_specs[o].name);
		else
			snprintf(out + used, outsz - used, req ? " --%s %s%s" : " [--%s %s]%s",
				 ctl_opt_specs[o].name, ctl_opt_specs[o].metavar,
				 ctl_opt_specs[o].repeat ? "..." : "");
	}
}

/* ---- helpers ------------------------------------------------------------ */



/* Key/value list in the order given; NULL values are skipped. */
static void print_kv(const char *const *keys, const char *const *vals, size_t n)
{
	struct ctl_table t;
	char label[64];

	ctl_table_init(&t, 2, NULL);
	t.sep = " ";
	for (size_t i = 0; i < n; i++) {
		const char *row[2];

		if (!vals[i])
			continue;
		snprintf(label, sizeof(label), "%s:", keys[i]);
		row[0] = label;
		row[1] = vals[i];
		if (ctl_table_add(&t, row))
			break;
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

/* "client_count" -> "Client count:"; prefix for nested objects. */
static void key_label(const char *prefix, const char *key, char *out, size_t outsz)
{
	size_t i;

	snprintf(out, outsz, "%s%s%s:", prefix ? prefix : "", prefix ? " " : "", key);
	for (i = 0; out[i]; i++)
		if (out[i] == '_')
			out[i] = ' ';
	if (out[0] >= 'a' && out[0] <= 'z')
		out[0] = (char)(out[0] - 'a' + 'A');
}

/* Objects whose shape the console does not know: every field, one level of
 * nesting flattened ("clients": {"pending": 2} -> "Clients pending: 2"). */
static void print_object_generic(const json_t *obj)
{
	struct ctl_table t;
	const char *key, *k2;
	json_t *v, *v2;
	char label[128], val[1024];

	ctl_table_init(&t, 2, NULL);
	t.sep = " ";
	json_object_foreach((json_t *)obj, key, v)
	{
		const char *row[2];

		if (json_is_object(v) && json_object_size(v) > 0) {
			json_object_foreach(v, k2, v2)
			{
				key_label(key, k2, label, sizeof(label));
				row[0] = label;
				row[1] = ctl_fmt(v2, "-", val, sizeof(val));
				ctl_table_add(&t, row);
			}
			continue;
		}
		key_label(NULL, key, label, sizeof(label));
		row[0] = label;
		row[1] = ctl_fmt(v, "-", val, sizeof(val));
		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

static void client_path(char *out, size_t outsz, const char *id, const char *suffix)
{
	snprintf(out, outsz, "/api/v1/clients/%s%s", id, suffix ? suffix : "");
}

/* ---- site ----------------------------------------------------------------- */

static int cmd_site_show(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *reply;
	int rc;

	(void)a; /* takes no arguments */
	rc = ctl_request(ctl, "GET", "/api/v1/site", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("site show"));
	if (!ctl->json) {
		json_t *consoles = json_incref(json_object_get(reply, "consoles")), *c;
		const char *site_v = ctl_jstr(reply, "version");
		size_t i;

		json_object_del(reply, "consoles");
		print_object_generic(reply);
		if (json_array_size(consoles))
			puts("\nConsoles seen in the last 30 days (ADMIN VERSION PROTOCOL ADDRESS LAST SEEN):");
		json_array_foreach(consoles, i, c)
		{
			char last[32];
			const char *v = ctl_jstr(c, "version");

			time_rfc3339(json_integer_value(json_object_get(c, "last")), last);
			fputs("  ", stdout);
			ctl_put_clean(stdout, ctl_jstr(c, "admin") ? ctl_jstr(c, "admin") : "?");
			fputs("  ", stdout);
			ctl_put_clean(stdout, v ? v : "?");
			fputs("  ", stdout);
			ctl_put_clean(stdout, ctl_jstr(c, "protocol") ? ctl_jstr(c, "protocol") : "?");
			fputs("  ", stdout);
			ctl_put_clean(stdout, ctl_jstr(c, "address") ? ctl_jstr(c, "address") : "?");
			printf("  %s", last);
			if (json_is_true(json_object_get(c, "refused"))) {
				/* it cannot see this list itself: say what it needs */
				fputs("  refused: ", stdout);
				ctl_put_clean(stdout, ctl_jstr(c, "reason") ? ctl_jstr(c, "reason") : "?");
			} else if (v && site_v && strcmp(v, site_v) != 0) {
				fputs("  (not the site's version)", stdout);
			}
			putchar('\n');
		}
		json_decref(consoles);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

/* ---- clients -------------------------------------------------------------- */

static int cmd_clients_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"ID", "HOSTNAME", "SITE", "STATE", "LAST SEEN", "AGENT"};
	struct ctl_table t;
	json_t *reply, *c;
	size_t i;
	int rc;

	rc = ctl_request(ctl, "GET",
			 a->opt[CTL_OPT_ALL_SITES] ? "/api/v1/clients?all_sites=1" : "/api/v1/clients",
			 NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply) || !ctl_all_objects(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("clients list"));
	if (a->opt[CTL_OPT_INACTIVE]) /* inactive: computed by the site */
		for (i = json_array_size(reply); i-- > 0;)
			if (!json_is_true(json_object_get(json_array_get(reply, i), "inactive")))
				json_array_remove(reply, i);
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (json_array_size(reply) == 0) {
		puts("no clients");
		return ctl_finish(ctl, reply, CTL_OK);
	}
	ctl_table_init(&t, 6, head);
	json_array_foreach(reply, i, c)
	{
		char b[6][128];
		const char *row[6] = {
		    ctl_fmt(json_object_get(c, "id"), "-", b[0], sizeof(b[0])),
		    ctl_fmt(json_object_get(c, "hostname"), "-", b[1], sizeof(b[1])),
		    ctl_fmt(json_object_get(c, "site"), "-", b[2], sizeof(b[2])),
		    ctl_fmt(json_object_get(c, "state"), "-", b[3], sizeof(b[3])),
		    ctl_fmt(json_object_get(c, "last_seen"), "never", b[4], sizeof(b[4])),
		    ctl_fmt(json_object_get(c, "agent_version"), "-", b[5], sizeof(b[5])),
		};
		if (ctl_table_add(&t, row)) {
			rc = CTL_EFAIL;
			ctl_error("internal", "", "out of memory");
			break;
		}
	}
	if (rc == CTL_OK)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return ctl_finish(ctl, reply, rc);
}

/* A client of a site below: the inventory that came up of it. */
static void print_below_inventory(const json_t *c)
{
	json_t *inv = json_object_get(c, "inventory"), *hw, *os, *cpu;
	const char *level = ctl_jstr(inv, "level");

	printf("\nA client of site %s (through %s).\n", ctl_jstr(c, "site") ? ctl_jstr(c, "site") : "?",
	       ctl_jstr(c, "via") ? ctl_jstr(c, "via") : "?");
	if (!json_is_object(inv) || !level) {
		puts("No inventory of it came up here (the links up from its site send none, or it "
		     "has sent none yet).");
		return;
	}
	hw = json_object_get(inv, "hardware");
	os = json_object_get(inv, "os");
	cpu = json_object_get(hw, "cpu");
	printf("Inventory (%s, received %s):\n", level,
	       ctl_jstr(inv, "received") ? ctl_jstr(inv, "received") : "?");
	fputs("  CPU:     ", stdout);
	ctl_put_clean(stdout, ctl_jstr(cpu, "model") ? ctl_jstr(cpu, "model") : "?");
	printf(", %lld sockets, %lld cores, %lld threads\n",
	       (long long)json_integer_value(json_object_get(cpu, "sockets")),
	       (long long)json_integer_value(json_object_get(cpu, "cores")),
	       (long long)json_integer_value(json_object_get(cpu, "threads")));
	printf("  Memory:  %lld MiB\n",
	       (long long)json_integer_value(json_object_get(json_object_get(hw, "memory"),
							     "total_mb")));
	if (json_is_integer(json_object_get(hw, "disk_total_mb")))
		printf("  Disks:   %lld MiB in all\n",
		       (long long)json_integer_value(json_object_get(hw, "disk_total_mb")));
	fputs("  OS:      ", stdout);
	ctl_put_clean(stdout, ctl_jstr(os, "pretty_name") ? ctl_jstr(os, "pretty_name") : "?");
	fputs("\n  Kernel:  ", stdout);
	ctl_put_clean(stdout, ctl_jstr(os, "kernel_release") ? ctl_jstr(os, "kernel_release") : "?");
	fputs(" ", stdout);
	ctl_put_clean(stdout, ctl_jstr(os, "arch") ? ctl_jstr(os, "arch") : "?");
	fputc('\n', stdout);
	if (json_is_integer(json_object_get(inv, "packages")))
		printf("  Packages: %lld\n",
		       (long long)json_integer_value(json_object_get(inv, "packages")));
}

static void print_client(const json_t *c)
{
	static const char *const keys[] = {
	    "ID",    "Hostname", "Site", "State",     "Block reason", "Last seen", "Enrolled",
	    "Agent", "Protocol", "OS",	 "Addresses", "Components",   "Last seq", "Link",
	};
	enum { N = sizeof(keys) / sizeof(keys[0]) };
	char b[N][1024];
	const char *vals[N];
	const char *reason = ctl_jstr(c, "block_reason");
	const char *os_name = ctl_jstr(c, "os_name"), *os_version = ctl_jstr(c, "os_version");
	json_t *comp;
	size_t i, used = 0;

	vals[0] = ctl_fmt(json_object_get(c, "id"), "-", b[0], sizeof(b[0]));
	vals[1] = ctl_fmt(json_object_get(c, "hostname"), "-", b[1], sizeof(b[1]));
	vals[2] = ctl_fmt(json_object_get(c, "site"), "-", b[2], sizeof(b[2]));
	vals[3] = ctl_fmt(json_object_get(c, "state"), "-", b[3], sizeof(b[3]));
	vals[4] = reason && *reason ? reason : NULL; /* only when there is one */
	vals[5] = ctl_fmt(json_object_get(c, "last_seen"), "never", b[5], sizeof(b[5]));
	vals[6] = ctl_fmt(json_object_get(c, "enrolled"), "-", b[6], sizeof(b[6]));
	vals[7] = ctl_fmt(json_object_get(c, "agent_version"), "-", b[7], sizeof(b[7]));
	vals[8] = ctl_fmt(json_object_get(c, "protocol"), "-", b[8], sizeof(b[8]));
	snprintf(b[9], sizeof(b[9]), "%s%s%s", os_name ? os_name : "",
		 os_name && os_version ? " " : "", os_version ? os_version : "");
	vals[9] = b[9][0] ? b[9] : "-";
	vals[10] = ctl_fmt(json_object_get(c, "addresses"), "-", b[10], sizeof(b[10]));
	b[11][0] = '\0';
	json_array_foreach(json_object_get(c, "components"), i, comp)
	{
		snprintf(b[11] + used, sizeof(b[11]) - used, "%s%s %s", i ? ", " : "",
			 ctl_jstr(comp, "name") ? ctl_jstr(comp, "name") : "?",
			 ctl_jstr(comp, "version") ? ctl_jstr(comp, "version") : "?");
		used = strlen(b[11]);
	}
	vals[11] = b[11][0] ? b[11] : "-";
	vals[12] = ctl_fmt(json_object_get(c, "last_seq"), "-", b[12], sizeof(b[12]));
	{
		/* "slow link (measured 48 kbit/s), round trip 612 ms" */
		const json_t *l = json_object_get(c, "link");
		const char *text = ctl_jstr(l, "text");
		json_int_t rtt = json_integer_value(json_object_get(l, "rtt_ms"));

		if (text && rtt > 0)
			snprintf(b[13], sizeof(b[13]), "%s, round trip %lld ms", text, (long long)rtt);
		else
			snprintf(b[13], sizeof(b[13]), "%s", text ? text : "not measured yet (lan)");
		vals[13] = b[13];
	}
	print_kv(keys, vals, N);
	if (json_is_true(json_object_get(c, "below")))
		print_below_inventory(c);
	if (json_array_size(json_object_get(c, "messages")) == 0)
		return;
	puts("\nRecent status messages (newest first):");
	json_array_foreach(json_object_get(c, "messages"), i, comp)
	{
		const char *t = ctl_jstr(comp, "time"), *ty = ctl_jstr(comp, "type"), *tx = ctl_jstr(comp, "text");

		printf("  %s  ", t ? t : "-");
		ctl_put_clean(stdout, ty ? ty : "?");
		fputs("  ", stdout);
		ctl_put_clean(stdout, tx ? tx : "");
		fputc('\n', stdout);
	}
}

static int cmd_clients_show(struct ctl *ctl, const struct ctl_args *a)
{
	char path[128];
	json_t *reply;
	int rc;

	client_path(path, sizeof(path), a->argv[0], NULL);
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("clients show"));
	if (!ctl->json)
		print_client(reply);
	return ctl_finish(ctl, reply, CTL_OK);
}

/* approve and block answer with the client; say what state it is in now. */
static void print_client_state(const json_t *c, const char *id)
{
	const char *host = ctl_jstr(c, "hostname"), *state = ctl_jstr(c, "state");
	const char *reason = ctl_jstr(c, "block_reason");

	fputs("client ", stdout);
	ctl_put_clean(stdout, id);
	if (host) {
		fputs(" (", stdout);
		ctl_put_clean(stdout, host);
		fputs(")", stdout);
	}
	fputs(" is now ", stdout);
	ctl_put_clean(stdout, state ? state : "?");
	if (reason && *reason && state && strcmp(state, "blocked") == 0) {
		fputs(": ", stdout);
		ctl_put_clean(stdout, reason);
	}
	fputc('\n', stdout);
}

static int cmd_clients_approve(struct ctl *ctl, const struct ctl_args *a)
{
	char path[128];
	json_t *body = json_object(), *reply = NULL;
	int rc;

	client_path(path, sizeof(path), a->argv[0], "/approve");
	rc = body ? ctl_request(ctl, "POST", path, body, &reply) : CTL_EFAIL;
	json_decref(body);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("clients approve"));
	if (!ctl->json)
		print_client_state(reply, a->argv[0]);
	return ctl_finish(ctl, reply, CTL_OK);
}

static int cmd_clients_block(struct ctl *ctl, const struct ctl_args *a)
{
	char path[128];
	json_t *body, *reply = NULL;
	int rc;

	client_path(path, sizeof(path), a->argv[0], "/block");
	/* without --reason the site records its own default reason */
	body = a->opt[CTL_OPT_REASON] ? json_pack("{s:s}", "reason", a->opt[CTL_OPT_REASON])
				      : json_object();
	rc = body ? ctl_request(ctl, "POST", path, body, &reply) : CTL_EFAIL;
	json_decref(body);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("clients block"));
	if (!ctl->json)
		print_client_state(reply, a->argv[0]);
	return ctl_finish(ctl, reply, CTL_OK);
}

static int cmd_clients_delete(struct ctl *ctl, const struct ctl_args *a)
{
	char path[128];
	json_t *reply;
	int rc;

	client_path(path, sizeof(path), a->argv[0], NULL);
	rc = ctl_request(ctl, "DELETE", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("clients delete"));
	if (!ctl->json) {
		fputs("client ", stdout);
		ctl_put_clean(stdout, ctl_jstr(reply, "deleted") ? ctl_jstr(reply, "deleted") : a->argv[0]);
		fputs(" deleted\n", stdout);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

/* ---- enrollment tokens ---------------------------------------------------- */

static int cmd_tokens_create(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *body, *reply = NULL, *out;
	const char *token, *expires;
	int rc;

	body = json_pack("{s:I, s:I}", "uses", (json_int_t)a->num[CTL_OPT_USES], "ttl",
			 (json_int_t)a->num[CTL_OPT_TTL]);
	if (body && a->opt[CTL_OPT_SITE])
		json_object_set_new(body, "site", json_string(a->opt[CTL_OPT_SITE]));
	if (body && a->opt[CTL_OPT_HIERARCHY])
		json_object_set_new(body, "hierarchy", json_true());
	rc = body ? ctl_request(ctl, "POST", "/api/v1/enroll-tokens", body, &reply) : CTL_EFAIL;
	json_decref(body);
	if (rc)
		return rc;
	token = ctl_jstr(reply, "token");
	expires = ctl_jstr(reply, "expires");
	if (!token || !expires || !json_is_integer(json_object_get(reply, "uses"))) {
		json_decref(reply);
		return ctl_bad_reply("enroll-tokens create");
	}
	if (ctl->json) {
		/* a fixed shape scripts rely on, whatever else the site adds */
		out = json_pack("{s:s, s:O, s:s}", "token", token, "uses",
				json_object_get(reply, "uses"), "expires", expires);
		if (out && ctl_jstr(reply, "id"))
			json_object_set(out, "id", json_object_get(reply, "id"));
		if (out && json_object_get(reply, "site"))
			json_object_set(out, "site", json_object_get(reply, "site"));
		rc = out && ctl_print_json(out) == 0 ? CTL_OK : CTL_EFAIL;
		json_decref(out);
		json_decref(reply);
		return rc;
	}
	ctl_put_clean(stdout, token);
	fputc('\n', stdout);
	fflush(stdout);
	fprintf(stderr, "enrollment token %s: %" JSON_INTEGER_FORMAT " uses, expires %s",
		ctl_jstr(reply, "id") ? ctl_jstr(reply, "id") : "?",
		json_integer_value(json_object_get(reply, "uses")), expires);
	if (ctl_jstr(reply, "site") && *ctl_jstr(reply, "site"))
		fprintf(stderr, ", site %s", ctl_jstr(reply, "site"));
	fputs("\nthe token is shown only this once; the site keeps only its hash\n", stderr);
	json_decref(reply);
	return CTL_OK;
}

static int cmd_tokens_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"ID", "USES", "USED", "EXPIRES", "SITE", "REVOKED"};
	struct ctl_table t;
	json_t *reply, *tok;
	size_t i;
	int rc;

	(void)a; /* takes no arguments */
	rc = ctl_request(ctl, "GET", "/api/v1/enroll-tokens", NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply) || !ctl_all_objects(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("enroll-tokens list"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (json_array_size(reply) == 0) {
		puts("no enrollment tokens");
		return ctl_finish(ctl, reply, CTL_OK);
	}
	ctl_table_init(&t, 6, head);
	json_array_foreach(reply, i, tok)
	{
		char b[6][128];
		const char *row[6] = {
		    ctl_fmt(json_object_get(tok, "id"), "-", b[0], sizeof(b[0])),
		    ctl_fmt(json_object_get(tok, "uses"), "-", b[1], sizeof(b[1])),
		    ctl_fmt(json_object_get(tok, "used"), "0", b[2], sizeof(b[2])),
		    ctl_fmt(json_object_get(tok, "expires"), "-", b[3], sizeof(b[3])),
		    ctl_fmt(json_object_get(tok, "site"), "-", b[4], sizeof(b[4])),
		    ctl_fmt(json_object_get(tok, "revoked"), "no", b[5], sizeof(b[5])),
		};
		if (!*row[4])
			row[4] = "-";
		if (ctl_table_add(&t, row)) {
			rc = CTL_EFAIL;
			ctl_error("internal", "", "out of memory");
			break;
		}
	}
	if (rc == CTL_OK)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return ctl_finish(ctl, reply, rc);
}

static int cmd_tokens_revoke(struct ctl *ctl, const struct ctl_args *a)
{
	char path[128];
	json_t *reply;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/enroll-tokens/%s", a->argv[0]);
	rc = ctl_request(ctl, "DELETE", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("enroll-tokens revoke"));
	if (!ctl->json) {
		fputs("enrollment token ", stdout);
		ctl_put_clean(stdout, ctl_jstr(reply, "revoked") ? ctl_jstr(reply, "revoked") : a->argv[0]);
		fputs(" revoked\n", stdout);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

/* ---- the table ------------------------------------------------------------ */

#define OPT(o)		 CTL_OPT_BIT(CTL_OPT_##o)
#define ARG1(name, type) .min_args = 1, .max_args = 1, .arg_names = {name}, .arg_types = {type}

/* clang-format off */
const struct ctl_cmd ctl_commands[] = {
	{"site", "show", .handler = cmd_site_show,
	 .help = "show the site: code, version and counts"},
	{"site", "rotate-key", .opts = OPT(FINISH), .handler = ctl_cmd_site_rotate_key,
	 .help = "make the site's next TLS key and announce its pin to every client (--finish: "
		 "switch to it at stewardd's next start)"},
	{"site", "trust", .opts = OPT(PIN), .required = OPT(PIN), .handler = ctl_cmd_site_trust,
	 .help = "trust the -s site's HTTPS certificate by its pin (sha256:..., DATA_DIR/tls.pin on "
		 "the site), kept in ~/.config/steward/trust"},
	{"site", "pause-adverts", .opts = OPT(REASON) | OPT(HIERARCHY),
	 .handler = ctl_cmd_site_pause_adverts,
	 .help = "stop every advertisement from starting anything (before a site upgrade; "
		 "--hierarchy: at every site below too)"},
	{"site", "resume-adverts", .opts = OPT(HIERARCHY), .handler = ctl_cmd_site_resume_adverts,
	 .help = "let advertisements run again (--hierarchy: at every site below too)"},
	{"site", "pause-installs", .opts = OPT(REASON) | OPT(HIERARCHY),
	 .handler = ctl_cmd_site_pause_installs,
	 .help = "make /bootstrap.sh refuse new client installations, touching nothing "
		 "(--hierarchy: at every site below too)"},
	{"site", "resume-installs", .opts = OPT(RATE) | OPT(HIERARCHY),
	 .handler = ctl_cmd_site_resume_installs,
	 .help = "allow client installations again (--rate: at most N per hour; --hierarchy: at "
		 "every site below too)"},
	{"site", "migrate-store", .opts = OPT(DATA_DIR) | OPT(TO_URL),
	 .required = OPT(DATA_DIR) | OPT(TO_URL), .handler = ctl_cmd_site_migrate_store,
	 .help = "on the site server, stewardd stopped: copy the site's SQLite database "
		 "(DATA_DIR/steward.db, left untouched) into an empty PostgreSQL database; "
		 "then set database = URL and start stewardd; no site needed"},
	{"systems", "list", .handler = ctl_cmd_systems_list,
	 .help = "the remote site systems (remote distribution points): version, state"},
	{"systems", "upgrade", .opts = OPT(TO) | OPT(OFF), .handler = ctl_cmd_systems_upgrade,
	 .help = "have the remote site systems upgrade themselves to a release (--off: stop)"},
	{"systems", "slow", ARG1("URL", CTL_T_NONE), .opts = OPT(OFF),
	 .handler = ctl_cmd_systems_slow,
	 .help = "mark a site system's link slow: its upgrades wait for systems confirm"},
	{"systems", "confirm", ARG1("URL", CTL_T_NONE), .opts = OPT(OFF),
	 .handler = ctl_cmd_systems_confirm,
	 .help = "let a site system behind a slow link take the pending upgrade"},
	{"systems", "retry", ARG1("URL", CTL_T_NONE), .handler = ctl_cmd_systems_retry,
	 .help = "try again the upgrade that rolled back on a site system, once its cause is fixed"},
	{"self-update", "", .opts = OPT(TO) | OPT(RELEASE_KEY), .handler = ctl_cmd_self_update,
	 .help = "replace this stewardctl with the site's newest console, checked against a release "
		 "key this console trusts (--release-key HEX, or releases trust-key)"},
	{"site", "upgrade", .opts = OPT(TO), .required = OPT(TO), .handler = ctl_cmd_site_upgrade,
	 .help = "upgrade stewardd to a release the site holds; rolls back on failure"},
	{"rollouts", "create", ARG1("NAME", CTL_T_PKG_NAME),
	 .opts = OPT(RELEASE) | OPT(COLLECTION) | OPT(PILOT) | OPT(WAVES) | OPT(GATE) | OPT(SOAK) |
		 OPT(HALT_AT) | OPT(EXCLUDE) | OPT(START) | OPT(AUTO_ROLLBACK) | OPT(LATE) |
		 OPT(LINKS) | OPT(LINK_DEADLINE),
	 .required = OPT(RELEASE) | OPT(COLLECTION), .handler = ctl_cmd_rollouts_create,
	 .help = "define a staged rollout of a release to a collection: the pilot, then waves "
		 "(default 100%), each gated (default 95% upgraded, soak 1h), halted above "
		 "--halt-at failed (default 5%); --links CLASS=ACTION,... says what each link "
		 "class does (lan, wan, slow, metered; download, defer, download-in-window, "
		 "never; default slow and metered defer)"},
	{"rollouts", "start", ARG1("NAME", CTL_T_PKG_NAME), .handler = ctl_cmd_rollouts_start,
	 .help = "start a rollout (at its --start time, when that lies ahead)"},
	{"rollouts", "pause", ARG1("NAME", CTL_T_PKG_NAME), .handler = ctl_cmd_rollouts_pause,
	 .help = "stop new clients from starting; those under way finish"},
	{"rollouts", "resume", ARG1("NAME", CTL_T_PKG_NAME), .handler = ctl_cmd_rollouts_resume,
	 .help = "go on after a pause, or after a halt (accepting the failures so far)"},
	{"rollouts", "promote", ARG1("NAME", CTL_T_PKG_NAME), .handler = ctl_cmd_rollouts_promote,
	 .help = "start the next wave now, without waiting for the gate"},
	{"rollouts", "abort", ARG1("NAME", CTL_T_PKG_NAME), .handler = ctl_cmd_rollouts_abort,
	 .help = "end a rollout: no more offers, clients keep what they run"},
	{"rollouts", "rollback", ARG1("NAME", CTL_T_PKG_NAME), .handler = ctl_cmd_rollouts_rollback,
	 .help = "take the clients that upgraded back to the release they ran before"},
	{"rollouts", "status", ARG1("NAME", CTL_T_PKG_NAME), .opts = OPT(WATCH),
	 .handler = ctl_cmd_rollouts_status,
	 .help = "each wave with its progress, outcomes by version pair, top failure reasons "
		 "(--watch: redraw until it finishes)"},
	{"rollouts", "list", .handler = ctl_cmd_rollouts_list, .help = "every rollout and its state"},
	{"rollouts", "delete", ARG1("NAME", CTL_T_PKG_NAME), .handler = ctl_cmd_rollouts_delete,
	 .help = "forget a rollout that serves no client (created, aborted or rolled back)"},
	{"rollouts", "clients", ARG1("NAME", CTL_T_PKG_NAME), .handler = ctl_cmd_rollouts_clients,
	 .help = "the clients of a rollout: wave, where each stands, why one failed"},
	{"windows", "create", ARG1("NAME", CTL_T_PKG_NAME),
	 .opts = OPT(COLLECTION) | OPT(WEEKLY) | OPT(WDURATION) | OPT(TZ),
	 .required = OPT(COLLECTION) | OPT(WEEKLY) | OPT(WDURATION),
	 .handler = ctl_cmd_windows_create,
	 .help = "a weekly maintenance window of a collection (--tz: its zone, default UTC); "
		 "rollouts start on its clients only inside one"},
	{"windows", "list", .handler = ctl_cmd_windows_list,
	 .help = "every maintenance window, open now or when next"},
	{"windows", "delete", ARG1("NAME", CTL_T_PKG_NAME), .handler = ctl_cmd_windows_delete,
	 .help = "remove a maintenance window"},
	{"site", "client-upgrade", .opts = OPT(COLLECTION) | OPT(OFF) | OPT(HIERARCHY),
	 .handler = ctl_cmd_site_client_upgrade,
	 .help = "upgrade the agents of a collection to the release the site offers (--off: stop; "
		 "--hierarchy: at every site below too)"},

	{"clients", "list", .opts = OPT(INACTIVE) | OPT(ALL_SITES), .handler = cmd_clients_list,
	 .help = "list clients: state, last seen, agent version (--inactive: only inactive ones; "
		 "--all-sites: of every site below too)"},
	{"clients", "show", ARG1("ID", CTL_T_CLIENT_ID), .handler = cmd_clients_show,
	 .help = "show one client in full"},
	{"clients", "approve", ARG1("ID", CTL_T_CLIENT_ID), .handler = cmd_clients_approve,
	 .help = "approve a pending (or blocked) client"},
	{"clients", "block", ARG1("ID", CTL_T_CLIENT_ID), .opts = OPT(REASON),
	 .handler = cmd_clients_block,
	 .help = "block a client; its check-ins are refused"},
	{"clients", "delete", ARG1("ID", CTL_T_CLIENT_ID), .handler = cmd_clients_delete,
	 .help = "delete a client; its key cannot enroll again"},

	{"enroll-tokens", "create", .opts = OPT(USES) | OPT(TTL) | OPT(SITE) | OPT(HIERARCHY),
	 .required = OPT(USES) | OPT(TTL), .handler = cmd_tokens_create,
	 .help = "create an enrollment token (TTL: 30m, 24h, 7d; --hierarchy: valid at every "
		 "site below too, each counting its own uses)"},
	{"enroll-tokens", "list", .handler = cmd_tokens_list,
	 .help = "list enrollment tokens (never their secrets)"},
	{"enroll-tokens", "revoke", ARG1("ID", CTL_T_TOKEN_ID), .handler = cmd_tokens_revoke,
	 .help = "revoke an enrollment token"},

	/* administrators and the audit log (cmd_admins.c) */
	{"admins", "create", ARG1("NAME", CTL_T_ADMIN_NAME), .opts = OPT(ROLE),
	 .required = OPT(ROLE), .handler = ctl_cmd_admins_create,
	 .help = "create a token of a role (read, operator, admin, distribution_point); "
		 "printed once"},
	{"admins", "list", .handler = ctl_cmd_admins_list,
	 .help = "list admins: role, created, by whom, revoked (never their tokens)"},
	{"admins", "revoke", ARG1("NAME", CTL_T_ADMIN_NAME), .handler = ctl_cmd_admins_revoke,
	 .help = "revoke an admin's token: refused from now on"},
	{"audit", "list", .opts = OPT(SINCE) | OPT(WHO), .handler = ctl_cmd_audit_list,
	 .help = "list the audit log, oldest first (--since TIME: -1h, now, RFC 3339; --who NAME)"},
	{"audit", "verify", .handler = ctl_cmd_audit_verify,
	 .help = "check the audit log's hash chain; exit 1 naming the first entry that "
		 "does not check out"},

	/* collections (cmd_collections.c) */
	{"collections", "create", ARG1("NAME", CTL_T_NONE),
	 .opts = OPT(QUERY) | OPT(MEMBERS) | OPT(INCLUDE) | OPT(EXCLUDE),
	 .handler = ctl_cmd_collections_create,
	 .help = "create a collection from a query or a list of clients"},
	{"collections", "list", .handler = ctl_cmd_collections_list,
	 .help = "list collections and their member counts"},
	{"collections", "show", ARG1("NAME", CTL_T_NONE), .handler = ctl_cmd_collections_show,
	 .help = "show one collection's definition"},
	{"collections", "members", ARG1("NAME", CTL_T_NONE),
	 .handler = ctl_cmd_collections_members,
	 .help = "list the clients in a collection"},
	{"collections", "explain", .min_args = 2, .max_args = 2, .arg_names = {"NAME", "CLIENT"},
	 .arg_types = {CTL_T_NONE, CTL_T_CLIENT_ID}, .handler = ctl_cmd_collections_explain,
	 .help = "say why a client is or is not a member"},
	{"collections", "delete", ARG1("NAME", CTL_T_NONE), .handler = ctl_cmd_collections_delete,
	 .help = "delete a collection (refused while another one names it)"},
	{"inventory", "query", ARG1("QUERY", CTL_T_NONE), .opts = OPT(ALL_SITES),
	 .handler = ctl_cmd_inventory_query,
	 .help = "list the clients matching a query (--all-sites: of every site below too, on "
		 "the inventory that came up)"},
	/* inventory (cmd_inventory.c) */
	{"inventory", "show", ARG1("CLIENT", CTL_T_CLIENT_ID), .opts = OPT(PACKAGES),
	 .handler = ctl_cmd_inventory_show,
	 .help = "show a client's hardware, OS and software (--packages lists them)"},
	{"inventory", "history", ARG1("CLIENT", CTL_T_CLIENT_ID),
	 .handler = ctl_cmd_inventory_history,
	 .help = "show what changed in a client's inventory, newest first"},

	/* software distribution (cmd_swdist.c) */
	{"packages", "add", ARG1("NAME", CTL_T_PKG_NAME),
	 .opts = OPT(VERSION) | OPT(SOURCE) | OPT(COMMENT),
	 .required = OPT(VERSION) | OPT(SOURCE), .handler = ctl_cmd_packages_add,
	 .help = "hash a directory, upload what the site lacks and make it a package version"},
	{"packages", "list", .handler = ctl_cmd_packages_list,
	 .help = "list package versions"},
	{"packages", "show", ARG1("NAME", CTL_T_PKG_NAME), .handler = ctl_cmd_packages_show,
	 .help = "show a package's versions, files and the programs using them"},
	{"packages", "delete", ARG1("NAME[@VERSION]", CTL_T_PKG_REF), .opts = OPT(VERSION),
	 .handler = ctl_cmd_packages_delete,
	 .help = "delete one package version (refused while a program uses it)"},

	{"programs", "add", ARG1("NAME", CTL_T_NONE),
	 .opts = OPT(PACKAGE) | OPT(COMMAND) | OPT(WORKDIR) | OPT(PTIMEOUT) |
		 OPT(SUCCESS_CODES) | OPT(REBOOT_CODES) | OPT(USER) | OPT(ENV) | OPT(RUN) |
		 OPT(MIN_FREE_MB) | OPT(REQUIREMENT) | OPT(COMMENT),
	 .required = OPT(PACKAGE) | OPT(COMMAND), .handler = ctl_cmd_programs_add,
	 .help = "say how to run something from a package (--timeout here is the program's: "
		 "default 1h)"},
	{"programs", "list", .handler = ctl_cmd_programs_list,
	 .help = "list programs"},
	{"programs", "show", ARG1("NAME", CTL_T_NONE), .handler = ctl_cmd_programs_show,
	 .help = "show one program"},
	{"programs", "delete", ARG1("NAME", CTL_T_NONE), .handler = ctl_cmd_programs_delete,
	 .help = "delete a program (refused while an advertisement names it)"},

	{"adverts", "create", ARG1("NAME", CTL_T_NONE),
	 .opts = OPT(PROGRAM) | OPT(COLLECTION) | OPT(AVAILABLE) | OPT(MANDATORY) |
		 OPT(RECURRING) | OPT(START) | OPT(EXPIRES) | OPT(DISABLED) | OPT(LINKS) |
		 OPT(LINK_DEADLINE),
	 .required = OPT(PROGRAM) | OPT(COLLECTION), .handler = ctl_cmd_adverts_create,
	 .help = "offer a program to a collection (TIME: 2026-11-25T10:00:00Z, "
		 "'2026-11-25 10:00' local, now, +1h); --links CLASS=ACTION,... per link class "
		 "(default slow=defer,metered=defer), --link-deadline TIME ends a deferral"},
	{"adverts", "list", .handler = ctl_cmd_adverts_list,
	 .help = "list advertisements"},
	{"adverts", "show", ARG1("NAME", CTL_T_NONE), .handler = ctl_cmd_adverts_show,
	 .help = "show one advertisement"},
	{"adverts", "enable", ARG1("NAME", CTL_T_NONE), .handler = ctl_cmd_adverts_enable,
	 .help = "enable an advertisement"},
	{"adverts", "disable", ARG1("NAME", CTL_T_NONE), .handler = ctl_cmd_adverts_disable,
	 .help = "disable an advertisement: nothing new starts"},
	{"adverts", "delete", ARG1("NAME", CTL_T_NONE), .handler = ctl_cmd_adverts_delete,
	 .help = "delete an advertisement"},

	/* releases (cmd_release.c) */
	{"releases", "keygen", .opts = OPT(OUT), .required = OPT(OUT),
	 .handler = ctl_cmd_releases_keygen,
	 .help = "make a release signing key: FILE (secret, 0600) and FILE.pub (for release_key)"},
	{"releases", "build", .opts = OPT(RVERSION) | OPT(KEY) | OPT(STAGE) | OPT(OUT) |
		 OPT(UPGRADE_FROM) | OPT(VALID_FOR) | OPT(PREVIOUS),
	 .required = OPT(RVERSION) | OPT(KEY) | OPT(STAGE) | OPT(OUT),
	 .handler = ctl_cmd_releases_build,
	 .help = "sign the components staged in DIR into a release file (.tar.zst); no site "
		 "needed (--previous FILE: with deltas from that release file)"},
	{"releases", "import", ARG1("FILE", CTL_T_NONE), .opts = OPT(ROLLBACK) | OPT(AUTHORIZATION),
	 .handler = ctl_cmd_releases_import,
	 .help = "check a release file, upload what the site lacks and import it (--rollback: "
		 "an older one on purpose; --authorization: the line of releases rollback-sign, "
		 "without which agents refuse it)"},
	{"releases", "rollback-sign", .opts = OPT(KEY) | OPT(RVERSION) | OPT(VALID_FOR),
	 .required = OPT(KEY) | OPT(RVERSION), .handler = ctl_cmd_releases_rollback_sign,
	 .help = "with the release key: print the line that lets agents go back to an older "
		 "release (--valid-for, default 7d); no site needed"},
	{"releases", "endorse-key", ARG1("HEX", CTL_T_NONE), .opts = OPT(KEY), .required = OPT(KEY),
	 .handler = ctl_cmd_releases_endorse_key,
	 .help = "with a release key agents trust: print the line (release_key_endorsement) that "
		 "makes them trust the new key HEX too; no site needed"},
	{"releases", "trust-key", ARG1("HEX", CTL_T_NONE), .handler = ctl_cmd_releases_trust_key,
	 .help = "pin a release key in this console's own list: self-update installs only "
		 "consoles it signed"},
	{"releases", "list", .handler = ctl_cmd_releases_list,
	 .help = "list the releases the site imported"},
	{"releases", "show", ARG1("VERSION", CTL_T_RELEASE_VERSION),
	 .handler = ctl_cmd_releases_show,
	 .help = "show one release: its components, protocol ranges, files and how it went on "
		 "clients"},
	{"releases", "withdraw", ARG1("VERSION", CTL_T_RELEASE_VERSION), .opts = OPT(REASON),
	 .handler = ctl_cmd_releases_withdraw,
	 .help = "stop offering a release to anyone: agents and new machines get the newest "
		 "release not withdrawn"},
	{"releases", "reinstate", ARG1("VERSION", CTL_T_RELEASE_VERSION), .opts = OPT(REASON),
	 .handler = ctl_cmd_releases_reinstate,
	 .help = "offer a withdrawn or halted release again (its failures so far no longer "
		 "count)"},

	/* the hierarchy (cmd_sites.c) */
	{"sites", "attach-token", ARG1("create", CTL_T_NONE), .opts = OPT(TTL),
	 .handler = ctl_cmd_sites_token,
	 .help = "on a parent: print a one-time token a child attaches with (--ttl, default 1h)"},
	{"sites", "attach", .opts = OPT(PARENT) | OPT(ATOKEN),
	 .required = OPT(PARENT) | OPT(ATOKEN), .handler = ctl_cmd_sites_attach,
	 .help = "on a child: attach below the parent at URL with its token"},
	{"sites", "detach", ARG1("CODE", CTL_T_SITE), .handler = ctl_cmd_sites_detach,
	 .help = "end the link to a parent or child site; nothing more is sent either way"},
	{"sites", "list", .handler = ctl_cmd_sites_list,
	 .help = "the sites linked to this one: state, versions, last exchange, backlog"},
	{"links", "set", ARG1("CODE", CTL_T_SITE),
	 .opts = OPT(SCHEDULE) | OPT(LINK_RATE) | OPT(PULSE) | OPT(INVENTORY),
	 .handler = ctl_cmd_links_set,
	 .help = "a link's schedule (mon-fri:08-18=high,...), rate (bytes/s, or N% of each hour) and pulse "
		 "(KIB/SECONDS); for a child, the inventory it sends up (none, summary, full)"},
	{"hierarchy", "show", .handler = ctl_cmd_hierarchy_show,
	 .help = "the tree of sites below this one: versions, links, backlog, schedule now"},
	{"hierarchy", "upgrade", .opts = OPT(TO) | OPT(PLAN) | OPT(RESUME) | OPT(RATE) |
		 OPT(COLLECTION),
	 .handler = ctl_cmd_hierarchy_upgrade,
	 .help = "upgrade every site, level by level, to a release (--plan: only show the order "
		 "and what is not ready; --resume: go on after a halt; --rate: installs per hour "
		 "afterwards, default 100; --collection: then upgrade the agents of that collection "
		 "at every site)"},
	{"hierarchy", "status", .handler = ctl_cmd_hierarchy_status,
	 .help = "how far the upgrade of the hierarchy is, site by site, and why it halted"},
	{"upgrade", "check", .opts = OPT(TO), .required = OPT(TO),
	 .handler = ctl_cmd_upgrade_check,
	 .help = "the checklist before an upgrade to a release this site holds: each item "
		 "pass, warn or fail with its facts and remedy, and a suggested --start; exit 5 "
		 "when an item fails"},
	{"hierarchy", "objects", .handler = ctl_cmd_hierarchy_objects,
	 .help = "collections, packages, programs and advertisements sent down: how each went at "
		 "every site below, and what came from above and how it went here"},

	{"status", "advert", ARG1("NAME", CTL_T_NONE), .handler = ctl_cmd_status_advert,
	 .help = "clients of an advertisement by state, with exit codes"},
	{"status", "client", ARG1("ID", CTL_T_CLIENT_ID), .handler = ctl_cmd_status_client,
	 .help = "every advertisement's state on one client, with its history"},
};
/* clang-format on */

const size_t ctl_n_commands = sizeof(ctl_commands) / sizeof(ctl_commands[0]);

/* stewardctl upgrade check --to V: the checklist before an upgrade
 * (server/readiness.c), one block per item, then a summary and the
 * suggested --start. Exit CTL_ENOTREADY when an item fails. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "steward/util.h"

#include "ctl.h"

/* "2026-12-09 02:00" at t in the local zone (local) or UTC */
static void fmt_minute(int64_t t, bool local, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((local ? localtime_r(&tt, &tm) : gmtime_r(&tt, &tm)) == NULL ||
	    strftime(out, 32, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, 32, "?");
}

static void print_item(const json_t *it)
{
	const char *result = ctl_jstr(it, "result"), *id = ctl_jstr(it, "id");
	const char *remedy = ctl_jstr(it, "remedy");
	const json_t *facts = json_object_get(it, "facts"), *f;
	size_t i;

	size_t idlen = id ? strlen(id) : 1;

	/* "[pass] installs      FACT", the next facts under the first */
	printf("[%s] ", result ? result : "?");
	ctl_put_clean(stdout, id ? id : "?");
	printf("%*s", idlen < 14 ? (int)(14 - idlen) : 1, "");
	json_array_foreach(facts, i, f)
	{
		if (i)
			printf("%21s", "");
		ctl_put_clean(stdout, json_string_value(f) ? json_string_value(f) : "?");
		printf("\n");
	}
	if (json_array_size(facts) == 0)
		printf("\n");
	if (remedy && *remedy) {
		printf("       remedy: ");
		ctl_put_clean(stdout, remedy);
		printf("\n");
	}
}

int ctl_cmd_upgrade_check(struct ctl *ctl, const struct ctl_args *a)
{
	char path[128], local[32], utc[32], why[128];
	json_t *reply = NULL, *items, *it;
	const char *start;
	json_int_t failed, warned;
	int64_t t;
	size_t i;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/upgrade/check?to=%s", a->opt[CTL_OPT_TO]);
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	items = json_object_get(reply, "items");
	if (!json_is_object(reply) || !json_is_array(items) || !ctl_all_objects(items) ||
	    !json_is_integer(json_object_get(reply, "failed")))
		return ctl_finish(ctl, reply, ctl_bad_reply("upgrade check"));
	failed = json_integer_value(json_object_get(reply, "failed"));
	warned = json_integer_value(json_object_get(reply, "warned"));
	rc = failed > 0 ? CTL_ENOTREADY : CTL_OK;
	if (ctl->json) {
		if (ctl_print_json(reply))
			rc = CTL_EFAIL;
		json_decref(reply);
		return rc;
	}
	json_array_foreach(items, i, it) print_item(it);
	printf("\nupgrade to %s at site %s: %lld failed, %lld warned: %s\n",
	       ctl_jstr(reply, "to") ? ctl_jstr(reply, "to") : "?",
	       ctl_jstr(reply, "site") ? ctl_jstr(reply, "site") : "?", (long long)failed,
	       (long long)warned, failed ? "NOT READY (fix what fails first)" : "ready");
	start = ctl_jstr(reply, "suggested_start");
	if (start && ctl_parse_time(start, time(NULL), &t, why, sizeof(why)) == 0) {
		fmt_minute(t, true, local);
		fmt_minute(t, false, utc);
		printf("suggested: --start \"%s\" (local time; %s UTC)\n", local, utc);
	} else {
		printf("suggested: no --start (no check-in history yet)\n");
	}
	json_decref(reply);
	return rc;
}

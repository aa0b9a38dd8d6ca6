/* stewardctl rollouts and windows: a release reaches a collection in waves,
 * inside the clients' maintenance windows. docs/upgrading.md. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "steward/util.h"

#include "ctl.h"

#define WATCH_INTERVAL_S 2
#define WATCH_MAX_S (7 * 86400) /* --watch ends by itself after a week */
#define BAR_WIDTH 24

/* A whole percentage option (--gate, --halt-at): digits only; the site
 * checks the range and names the field. */
static int percent_opt(const char *v, const char *opt, json_t *body, const char *field)
{
	char *end;
	long long n;

	if (!v)
		return CTL_OK;
	n = strtoll(v, &end, 10);
	if (!*v || *end || v[0] == '-' || v[0] == '+' || strlen(v) > 6) {
		ctl_error("usage", "give a whole percentage, e.g. --gate 95",
			  "--%s '%s' is not a whole number", opt, v);
		return CTL_EUSAGE;
	}
	json_object_set_new(body, field, json_integer(n));
	return CTL_OK;
}

static void bar(char *out, uint64_t done, uint64_t total)
{
	int fill = total ? (int)(done * BAR_WIDTH / total) : 0;

	out[0] = '[';
	for (int i = 0; i < BAR_WIDTH; i++)
		out[1 + i] = i < fill ? '#' : '.';
	out[1 + BAR_WIDTH] = ']';
	out[2 + BAR_WIDTH] = '\0';
}

static uint64_t juint(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

static void print_secs(char *out, size_t outsz, uint64_t s)
{
	if (s >= 86400 && s % 3600 == 0)
		snprintf(out, outsz, "%llud%lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(out, outsz, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(out, outsz, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(out, outsz, "%llus", (unsigned long long)s);
}

/* The status of one rollout for people. */
static void print_rollout(const json_t *r)
{
	const json_t *waves = json_object_get(r, "waves"), *w;
	char b[64], soak[32];
	size_t i;

	fputs("rollout ", stdout);
	ctl_put_clean(stdout, ctl_jstr(r, "name") ? ctl_jstr(r, "name") : "?");
	fputs(": release ", stdout);
	ctl_put_clean(stdout, ctl_jstr(r, "release") ? ctl_jstr(r, "release") : "?");
	fputs(" to collection ", stdout);
	ctl_put_clean(stdout, ctl_jstr(r, "collection") ? ctl_jstr(r, "collection") : "?");
	if (ctl_jstr(r, "pilot")) {
		fputs(", pilot ", stdout);
		ctl_put_clean(stdout, ctl_jstr(r, "pilot"));
	}
	if (ctl_jstr(r, "exclude")) {
		fputs(", excluding ", stdout);
		ctl_put_clean(stdout, ctl_jstr(r, "exclude"));
	}
	fputs("\nstate:   ", stdout);
	ctl_put_clean(stdout, ctl_jstr(r, "state") ? ctl_jstr(r, "state") : "?");
	fputs(" (", stdout);
	ctl_put_clean(stdout, ctl_jstr(r, "why") ? ctl_jstr(r, "why") : "");
	if (ctl_jstr(r, "halted_because") && ctl_jstr(r, "why") &&
	    strcmp(ctl_jstr(r, "halted_because"), ctl_jstr(r, "why")) != 0) {
		fputs(")\nhalted:  (", stdout);
		ctl_put_clean(stdout, ctl_jstr(r, "halted_because"));
	}
	print_secs(soak, sizeof(soak), juint(r, "soak"));
	printf(")\nrules:   gate %llu%% after a soak of %s, halt above %llu%% failed, "
	       "auto-rollback %s, late clients: %s\n",
	       (unsigned long long)juint(r, "gate"), soak, (unsigned long long)juint(r, "halt_at"),
	       json_is_true(json_object_get(r, "auto_rollback")) ? "on" : "off",
	       ctl_jstr(r, "late") ? ctl_jstr(r, "late") : "wait");
	printf("links:   ");
	ctl_put_clean(stdout, ctl_jstr(r, "links") ? ctl_jstr(r, "links") : "?");
	if (ctl_jstr(r, "link_deadline")) {
		fputs(" (deferral ends ", stdout);
		ctl_put_clean(stdout, ctl_jstr(r, "link_deadline"));
		fputc(')', stdout);
	}
	if (juint(r, "deferred_for_link"))
		printf("; %llu client(s) held for their link now (rollouts clients NAME says why)",
		       (unsigned long long)juint(r, "deferred_for_link"));
	fputc('\n', stdout);
	printf("clients: %llu: %llu succeeded, %llu failed, %llu offered, %llu pending, %llu "
	       "rolled back\n",
	       (unsigned long long)juint(r, "clients"), (unsigned long long)juint(r, "succeeded"),
	       (unsigned long long)juint(r, "failed"), (unsigned long long)juint(r, "offered"),
	       (unsigned long long)juint(r, "pending"), (unsigned long long)juint(r, "rolled_back"));
	if (json_array_size(waves)) {
		printf("\n%-5s %-16s %8s %9s %7s  %-8s %s\n", "WAVE", "SHARE", "CLIENTS", "SUCCEEDED",
		       "FAILED", "STATE", "PROGRESS");
		json_array_foreach(waves, i, w)
		{
			uint64_t n = juint(w, "clients"), ok = juint(w, "succeeded");
			char pb[BAR_WIDTH + 3], label[40];

			bar(pb, ok, n);
			snprintf(label, sizeof(label), "%s",
				 ctl_jstr(w, "label") ? ctl_jstr(w, "label") : "?");
			for (char *p = label; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
			printf("%-5llu %-16s %8llu %9llu %7llu  %-8s %s ",
			       (unsigned long long)juint(w, "wave"), label, (unsigned long long)n,
			       (unsigned long long)ok, (unsigned long long)juint(w, "failed"),
			       ctl_jstr(w, "state") ? ctl_jstr(w, "state") : "?", pb);
			if (n)
				printf("%3llu%%\n", (unsigned long long)(ok * 100 / n));
			else
				puts("   -");
		}
	}
	w = json_object_get(r, "by_version");
	if (json_array_size(w)) {
		const json_t *p;

		printf("\n%-12s %-12s %9s %7s %11s %14s\n", "FROM", "TO", "SUCCEEDED", "FAILED",
		       "ROLLED_BACK", "CONVERGE(p90)");
		json_array_foreach(w, i, p)
		{
			char from[24], to[24];

			snprintf(from, sizeof(from), "%s", ctl_jstr(p, "from") ? ctl_jstr(p, "from") : "?");
			snprintf(to, sizeof(to), "%s", ctl_jstr(p, "to") ? ctl_jstr(p, "to") : "?");
			print_secs(b, sizeof(b), juint(p, "converge_p90_s"));
			printf("%-12s %-12s %9llu %7llu %11llu %14s\n", from, to,
			       (unsigned long long)juint(p, "succeeded"),
			       (unsigned long long)juint(p, "failed"),
			       (unsigned long long)juint(p, "rolled_back"), b);
		}
	}
	w = json_object_get(r, "top_failure_reasons");
	if (json_array_size(w)) {
		const json_t *p;

		puts("\ntop failure reasons:");
		json_array_foreach(w, i, p)
		{
			printf("  %6llu  ", (unsigned long long)juint(p, "clients"));
			ctl_put_clean(stdout, ctl_jstr(p, "reason") ? ctl_jstr(p, "reason") : "?");
			fputc('\n', stdout);
		}
	}
	fflush(stdout);
}

static int show_reply(struct ctl *ctl, json_t *reply, const char *what)
{
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply(what));
	if (!ctl->json)
		print_rollout(reply);
	return ctl_finish(ctl, reply, CTL_OK);
}

/* GET path, whose reply holds an array under key: --json prints the
 * reply, else a table of the columns keys (empty: "-") or `none` when it
 * is empty. */
static int list_table(struct ctl *ctl, const char *path, const char *key, int ncols,
		      const char *const *head, const char *const *keys, const char *none,
		      const char *what)
{
	json_t *reply, *list;
	int rc;

	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	list = json_object_get(reply, key);
	if (!json_is_array(list) || !ctl_all_objects(list))
		return ctl_finish(ctl, reply, ctl_bad_reply(what));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (!json_array_size(list) && none) {
		puts(none);
		return ctl_finish(ctl, reply, CTL_OK);
	}
	rc = ctl_print_objects(list, ncols, head, keys);
	return ctl_finish(ctl, reply, rc);
}

int ctl_cmd_rollouts_create(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *body, *reply = NULL;
	int rc;

	body = json_pack("{s:s,s:s,s:s}", "name", a->argv[0], "release", a->opt[CTL_OPT_RELEASE],
			 "collection", a->opt[CTL_OPT_COLLECTION]);
	if (!body)
		return ctl_oom();
	if (a->opt[CTL_OPT_PILOT])
		json_object_set_new(body, "pilot", json_string(a->opt[CTL_OPT_PILOT]));
	if (a->opt[CTL_OPT_EXCLUDE])
		json_object_set_new(body, "exclude", json_string(a->opt[CTL_OPT_EXCLUDE]));
	if (a->opt[CTL_OPT_WAVES])
		json_object_set_new(body, "waves", json_string(a->opt[CTL_OPT_WAVES]));
	if (a->opt[CTL_OPT_LATE])
		json_object_set_new(body, "late", json_string(a->opt[CTL_OPT_LATE]));
	ctl_link_opts(a, body);
	if (a->opt[CTL_OPT_AUTO_ROLLBACK])
		json_object_set_new(body, "auto_rollback", json_true());
	if (a->opt[CTL_OPT_START])
		json_object_set_new(body, "start", json_integer(a->num[CTL_OPT_START]));
	if (a->opt[CTL_OPT_SOAK]) {
		int64_t secs = 0;
		char why[128];

		if (strcmp(a->opt[CTL_OPT_SOAK], "0") != 0 &&
		    ctl_parse_duration(a->opt[CTL_OPT_SOAK], &secs, why, sizeof(why))) {
			json_decref(body);
			ctl_error("usage", "e.g. --soak 2h, --soak 30m, or --soak 0",
				  "--soak '%s' %s", a->opt[CTL_OPT_SOAK], why);
			return CTL_EUSAGE;
		}
		json_object_set_new(body, "soak", json_integer(secs));
	}
	rc = percent_opt(a->opt[CTL_OPT_GATE], "gate", body, "gate");
	if (!rc)
		rc = percent_opt(a->opt[CTL_OPT_HALT_AT], "halt-at", body, "halt_at");
	if (!rc)
		rc = ctl_request(ctl, "POST", "/api/v1/rollouts", body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!ctl->json)
		puts("created; `stewardctl rollouts start NAME` starts it");
	return show_reply(ctl, reply, "rollouts create");
}

static int action(struct ctl *ctl, const struct ctl_args *a, const char *verb)
{
	char path[160], what[40];
	json_t *reply = NULL;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/rollouts/%s/%s", a->argv[0], verb);
	snprintf(what, sizeof(what), "rollouts %s", verb);
	rc = ctl_request(ctl, "POST", path, NULL, &reply);
	if (rc)
		return rc;
	return show_reply(ctl, reply, what);
}

int ctl_cmd_rollouts_start(struct ctl *ctl, const struct ctl_args *a)
{
	return action(ctl, a, "start");
}

int ctl_cmd_rollouts_pause(struct ctl *ctl, const struct ctl_args *a)
{
	return action(ctl, a, "pause");
}

int ctl_cmd_rollouts_resume(struct ctl *ctl, const struct ctl_args *a)
{
	return action(ctl, a, "resume");
}

int ctl_cmd_rollouts_promote(struct ctl *ctl, const struct ctl_args *a)
{
	return action(ctl, a, "promote");
}

int ctl_cmd_rollouts_abort(struct ctl *ctl, const struct ctl_args *a)
{
	return action(ctl, a, "abort");
}

int ctl_cmd_rollouts_rollback(struct ctl *ctl, const struct ctl_args *a)
{
	return action(ctl, a, "rollback");
}

static bool finished(const json_t *r)
{
	const char *st = ctl_jstr(r, "state");

	return st && (strcmp(st, "completed") == 0 || strcmp(st, "aborted") == 0 ||
		      strcmp(st, "rolled_back") == 0);
}

static volatile sig_atomic_t watch_stop;

static void on_int(int sig)
{
	(void)sig;
	watch_stop = 1;
}

int ctl_cmd_rollouts_status(struct ctl *ctl, const struct ctl_args *a)
{
	char path[160];
	json_t *reply = NULL;
	time_t until = time(NULL) + WATCH_MAX_S;
	bool tty = isatty(STDOUT_FILENO);
	int rc;

	snprintf(path, sizeof(path), "/api/v1/rollouts/%s", a->argv[0]);
	if (!a->opt[CTL_OPT_WATCH]) {
		rc = ctl_request(ctl, "GET", path, NULL, &reply);
		return rc ? rc : show_reply(ctl, reply, "rollouts status");
	}
	/* --watch: redraw until the rollout finishes, ^C, or a week */
	signal(SIGINT, on_int);
	while (!watch_stop && time(NULL) < until) {
		rc = ctl_request(ctl, "GET", path, NULL, &reply);
		if (rc)
			return rc;
		if (!json_is_object(reply))
			return ctl_finish(ctl, reply, ctl_bad_reply("rollouts status"));
		if (ctl->json) {
			ctl_print_json(reply);
		} else {
			if (tty)
				fputs("\033[H\033[J", stdout);
			print_rollout(reply);
			if (!tty)
				puts("--");
		}
		if (finished(reply))
			return ctl_finish(ctl, reply, CTL_OK);
		json_decref(reply);
		reply = NULL;
		for (int i = 0; i < WATCH_INTERVAL_S * 10 && !watch_stop; i++)
			usleep(100000);
	}
	return CTL_OK;
}

int ctl_cmd_rollouts_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"NAME", "RELEASE", "COLLECTION", "STATE",
					   "WAVE", "CLIENTS", "SUCCEEDED", "FAILED"};
	struct ctl_table t;
	json_t *reply, *list, *e;
	size_t i;
	int rc;

	(void)a;
	rc = ctl_request(ctl, "GET", "/api/v1/rollouts", NULL, &reply);
	if (rc)
		return rc;
	list = json_object_get(reply, "rollouts");
	if (!json_is_array(list) || !ctl_all_objects(list))
		return ctl_finish(ctl, reply, ctl_bad_reply("rollouts list"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (!json_array_size(list)) {
		puts("no rollouts");
		return ctl_finish(ctl, reply, CTL_OK);
	}
	ctl_table_init(&t, 8, head);
	json_array_foreach(list, i, e)
	{
		char b[8][96], wave[48];
		const char *row[8] = {
		    ctl_fmt(json_object_get(e, "name"), "-", b[0], sizeof(b[0])),
		    ctl_fmt(json_object_get(e, "release"), "-", b[1], sizeof(b[1])),
		    ctl_fmt(json_object_get(e, "collection"), "-", b[2], sizeof(b[2])),
		    ctl_fmt(json_object_get(e, "state"), "-", b[3], sizeof(b[3])),
		    wave,
		    ctl_fmt(json_object_get(e, "clients"), "0", b[5], sizeof(b[5])),
		    ctl_fmt(json_object_get(e, "succeeded"), "0", b[6], sizeof(b[6])),
		    ctl_fmt(json_object_get(e, "failed"), "0", b[7], sizeof(b[7])),
		};
		snprintf(wave, sizeof(wave), "%llu/%llu", (unsigned long long)juint(e, "wave"),
			 (unsigned long long)juint(e, "waves_total"));
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

/* DELETE /api/v1/COLLECTION/NAME, and say so: "rollout r1 deleted". */
static int delete_named(struct ctl *ctl, const char *collection, const char *noun,
			const char *name)
{
	char path[160];
	json_t *reply;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/%s/%s", collection, name);
	rc = ctl_request(ctl, "DELETE", path, NULL, &reply);
	if (rc)
		return rc;
	if (!ctl->json) {
		printf("%s ", noun);
		ctl_put_clean(stdout, name);
		fputs(" deleted\n", stdout);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_rollouts_delete(struct ctl *ctl, const struct ctl_args *a)
{
	return delete_named(ctl, "rollouts", "rollout", a->argv[0]);
}

/* ---- windows --------------------------------------------------------------------------- */

int ctl_cmd_windows_create(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *body, *reply = NULL;
	int rc;

	body = json_pack("{s:s,s:s,s:s,s:I}", "name", a->argv[0], "collection",
			 a->opt[CTL_OPT_COLLECTION], "weekly", a->opt[CTL_OPT_WEEKLY], "duration",
			 (json_int_t)a->num[CTL_OPT_WDURATION]);
	if (!body)
		return ctl_oom();
	if (a->opt[CTL_OPT_TZ])
		json_object_set_new(body, "tz", json_string(a->opt[CTL_OPT_TZ]));
	rc = ctl_request(ctl, "POST", "/api/v1/windows", body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	if (!json_is_object(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("windows create"));
	if (!ctl->json) {
		char b[64];

		fputs("window ", stdout);
		ctl_put_clean(stdout, a->argv[0]);
		fputs(": ", stdout);
		ctl_put_clean(stdout, ctl_jstr(reply, "weekly") ? ctl_jstr(reply, "weekly") : "?");
		fputs(" for ", stdout);
		ctl_put_clean(stdout, ctl_jstr(reply, "duration") ? ctl_jstr(reply, "duration") : "?");
		fputs(" (", stdout);
		ctl_put_clean(stdout, ctl_jstr(reply, "tz") ? ctl_jstr(reply, "tz") : "UTC");
		fputs("); next opens ", stdout);
		fputs(ctl_fmt(json_object_get(reply, "next_open"), "-", b, sizeof(b)), stdout);
		fputc('\n', stdout);
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

int ctl_cmd_windows_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"NAME",	"COLLECTION", "WEEKLY",	   "DURATION",
					   "TZ",	"OPEN_NOW",   "NEXT_OPEN", "NEXT_CLOSE"};
	static const char *const keys[] = {"name", "collection", "weekly",    "duration",
					   "tz",   "open_now",	 "next_open", "next_close"};

	(void)a;
	return list_table(ctl, "/api/v1/windows", "windows", 8, head, keys,
			  "no maintenance windows: rollouts start on every client at once",
			  "windows list");
}

int ctl_cmd_windows_delete(struct ctl *ctl, const struct ctl_args *a)
{
	return delete_named(ctl, "windows", "window", a->argv[0]);
}

int ctl_cmd_rollouts_clients(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"ID", "WAVE", "STATE", "FROM", "REASON"};
	static const char *const keys[] = {"id", "wave", "state", "from", "reason"};
	char path[160];

	snprintf(path, sizeof(path), "/api/v1/rollouts/%s/clients", a->argv[0]);
	return list_table(ctl, path, "clients", 5, head, keys, NULL, "rollouts clients");
}

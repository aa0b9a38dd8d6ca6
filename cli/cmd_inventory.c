/* stewardctl inventory show / history: parse -> call -> print.
 *
 * `inventory show` prints the stored document for people (OS, kernel, CPU,
 * memory, disks, network, DMI, virtualization, package count; the packages
 * with --packages); --json prints the document as the site stores it.
 * `inventory history` prints one line per changed class per report. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/proto.h"
#include "steward/util.h"

#include "ctl.h"

#define SUMMARY_MAX 1024



static const char *s_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && s[0] ? s : "-";
}

static long long i_of(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* One "Key: value" line with the value cleaned of control characters. */
static void kv(const char *key, const char *value)
{
	printf("%-16s", key);
	ctl_put_clean(stdout, value);
	putchar('\n');
}

static void print_table(json_t *arr, const char *const *head, const char *const *keys, int n)
{
	struct ctl_table t;
	json_t *e;
	size_t i;

	ctl_table_init(&t, n, head);
	json_array_foreach(arr, i, e)
	{
		char b[8][300];
		const char *row[8];
		for (int c = 0; c < n && c < 8; c++)
			row[c] = ctl_fmt(json_object_get(e, keys[c]), "-", b[c], sizeof(b[c]));
		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

static void print_inventory(const json_t *doc, bool packages)
{
	const json_t *cl = json_object_get(doc, "classes");
	const json_t *hw = json_object_get(cl, "hardware"), *os = json_object_get(cl, "os");
	const json_t *sw = json_object_get(cl, "software");
	const json_t *cpu = json_object_get(hw, "cpu"), *dmi = json_object_get(hw, "dmi");
	json_t *pk = json_object_get(sw, "packages");
	char line[600];

	kv("Client:", s_of(doc, "client_id"));
	kv("Hostname:", s_of(doc, "hostname"));
	kv("Received:", s_of(doc, "received"));
	snprintf(line, sizeof(line), "%s %s", s_of(os, "name"), s_of(os, "version_id"));
	kv("OS:", line);
	kv("OS pretty name:", s_of(os, "pretty_name"));
	snprintf(line, sizeof(line), "%s (%s)", s_of(os, "kernel_release"), s_of(os, "arch"));
	kv("Kernel:", line);
	kv("Time zone:", s_of(os, "timezone"));
	kv("CPU:", s_of(cpu, "model"));
	snprintf(line, sizeof(line), "%lld sockets, %lld cores, %lld threads", i_of(cpu, "sockets"),
		 i_of(cpu, "cores"), i_of(cpu, "threads"));
	kv("CPU topology:", line);
	snprintf(line, sizeof(line), "%lld MiB", i_of(json_object_get(hw, "memory"), "total_mb"));
	kv("Memory:", line);
	snprintf(line, sizeof(line), "%s %s (serial %s)", s_of(dmi, "vendor"), s_of(dmi, "product"),
		 s_of(dmi, "serial"));
	kv("DMI:", line);
	kv("Virtualization:", s_of(hw, "virtualization"));
	snprintf(line, sizeof(line), "%zu", json_array_size(pk));
	kv("Packages:", line);

	puts("\nDisks:");
	{
		static const char *const head[] = {"DEVICE", "MOUNT", "FS", "SIZE MB", "FREE MB"};
		static const char *const keys[] = {"device", "mount", "fs", "size_mb", "free_mb"};
		print_table(json_object_get(hw, "disks"), head, keys, 5);
	}
	puts("\nNetwork:");
	{
		static const char *const head[] = {"NAME", "MAC", "ADDRESSES"};
		static const char *const keys[] = {"name", "mac", "addresses"};
		print_table(json_object_get(hw, "network"), head, keys, 3);
	}
	if (packages) {
		static const char *const head[] = {"PACKAGE", "VERSION", "ARCH", "SOURCE"};
		static const char *const keys[] = {"name", "version", "arch", "source"};
		puts("\nPackages:");
		print_table(pk, head, keys, 4);
	}
}

int ctl_cmd_inventory_show(struct ctl *ctl, const struct ctl_args *a)
{
	char path[128];
	json_t *reply;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/clients/%s/inventory", a->argv[0]);
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_object(reply) || !json_is_object(json_object_get(reply, "classes")))
		return ctl_finish(ctl, reply, ctl_bad_reply("inventory show"));
	if (!ctl->json)
		print_inventory(reply, a->opt[CTL_OPT_PACKAGES] != NULL);
	return ctl_finish(ctl, reply, CTL_OK);
}

/* Append to a summary line, with "; " between parts. */
static void add(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(char *out, const char *fmt, ...)
{
	size_t used = strlen(out);
	va_list ap;

	if (used + 4 >= SUMMARY_MAX)
		return;
	if (used)
		used += (size_t)snprintf(out + used, SUMMARY_MAX - used, "; ");
	va_start(ap, fmt);
	vsnprintf(out + used, SUMMARY_MAX - used, fmt, ap);
	va_end(ap);
}

static void summarize(const json_t *ch, char out[SUMMARY_MAX])
{
	char b1[128], b2[128];
	json_t *e;
	size_t i;

	out[0] = '\0';
	if (json_is_true(json_object_get(ch, "initial"))) {
		if (json_object_get(ch, "packages"))
			snprintf(out, SUMMARY_MAX, "first inventory: %lld packages",
				 i_of(ch, "packages"));
		else
			snprintf(out, SUMMARY_MAX, "first inventory");
		return;
	}
	if (json_object_get(ch, "fields")) {
		json_array_foreach(json_object_get(ch, "fields"), i, e)
		    add(out, "%s: %s -> %s", s_of(e, "field"),
			ctl_fmt(json_object_get(e, "old"), "none", b1, sizeof(b1)),
			ctl_fmt(json_object_get(e, "new"), "none", b2, sizeof(b2)));
		return;
	}
	snprintf(out, SUMMARY_MAX, "+%lld -%lld ~%lld packages", i_of(ch, "added_count"),
		 i_of(ch, "removed_count"), i_of(ch, "changed_count"));
	json_array_foreach(json_object_get(ch, "added"), i, e)
	    add(out, "+%s %s", s_of(e, "name"), s_of(e, "version"));
	json_array_foreach(json_object_get(ch, "removed"), i, e)
	    add(out, "-%s %s", s_of(e, "name"), s_of(e, "version"));
	json_array_foreach(json_object_get(ch, "changed"), i, e)
	    add(out, "%s %s -> %s", s_of(e, "name"), s_of(e, "old"), s_of(e, "new"));
	if (json_object_get(ch, "steward"))
		add(out, "steward components changed");
}

int ctl_cmd_inventory_history(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const head[] = {"TIME", "CLASS", "CHANGE"};
	char path[128], summary[SUMMARY_MAX];
	struct ctl_table t;
	json_t *reply, *e;
	size_t i;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/clients/%s/inventory/history", a->argv[0]);
	rc = ctl_request(ctl, "GET", path, NULL, &reply);
	if (rc)
		return rc;
	if (!json_is_array(reply))
		return ctl_finish(ctl, reply, ctl_bad_reply("inventory history"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (json_array_size(reply) == 0) {
		puts("no inventory history");
		return ctl_finish(ctl, reply, CTL_OK);
	}
	ctl_table_init(&t, 3, head);
	json_array_foreach(reply, i, e)
	{
		const char *row[3] = {s_of(e, "time"), s_of(e, "class"), summary};
		summarize(json_object_get(e, "change"), summary);
		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return ctl_finish(ctl, reply, CTL_OK);
}

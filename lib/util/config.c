/* config: the table-driven parser behind stewardd's file, flags, -n check,
 * --help-config and the generated configuration reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <ctype.h>

#include "steward/config.h"

#define CONF_LINE_MAX 4096

const char *conf_type_name(enum conf_type t)
{
	switch (t) {
	case CONF_INT: return "integer";
	case CONF_DURATION: return "duration";
	case CONF_BOOL: return "boolean";
	case CONF_STRING: return "string";
	case CONF_LIST: return "list";
	}
	return "?";
}

const struct conf_def *conf_find(const struct conf_def *table, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].name, key) == 0)
			return &table[i];
	return NULL;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int parse_int(const char *v, int64_t *out)
{
	char *end = NULL;
	long long x;

	/* strtoll would skip leading white space */
	if (!((*v >= '0' && *v <= '9') || *v == '-'))
		return -1;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno || end == v || *end)
		return -1;
	*out = x;
	return 0;
}

int conf_set(const struct conf_def *table, size_t n, void *target, const char *key,
	     const char *value, char *msg, size_t msgsz)
{
	const struct conf_def *d = conf_find(table, n, key);
	char *field;
	int64_t iv;
	bool bv;
	size_t len;

	if (!d) {
		snprintf(msg, msgsz, "unknown key '%.64s' (see --help-config for the keys)", key);
		return -STEWARD_EINVAL;
	}
	field = (char *)target + d->offset;
	switch (d->type) {
	case CONF_INT:
	case CONF_DURATION:
		if (d->type == CONF_INT ? parse_int(value, &iv) : time_parse_duration(value, &iv)) {
			snprintf(msg, msgsz, "%s: '%.64s' is not a valid %s%s", d->name, value,
				 conf_type_name(d->type),
				 d->type == CONF_DURATION ? " (e.g. 90, 90s, 15m, 23h, 7d)" : "");
			return -STEWARD_EINVAL;
		}
		if (iv < d->min || iv > d->max) {
			snprintf(msg, msgsz, "%s: %lld is out of range (%lld to %lld)", d->name,
				 (long long)iv, (long long)d->min, (long long)d->max);
			return -STEWARD_EINVAL;
		}
		*(int64_t *)field = iv;
		break;
	case CONF_BOOL:
		if (parse_bool(value, &bv)) {
			snprintf(msg, msgsz, "%s: '%.64s' is not a boolean (true or false)", d->name,
				 value);
			return -STEWARD_EINVAL;
		}
		*(bool *)field = bv;
		break;
	case CONF_STRING:
	case CONF_LIST:
		len = strlen(value);
		if ((int64_t)len < d->min || (int64_t)len > d->max) {
			snprintf(msg, msgsz, "%s: length %zu is out of range (%lld to %lld characters)",
				 d->name, len, (long long)d->min, (long long)d->max);
			return -STEWARD_EINVAL;
		}
		if (!str_printable(value)) {
			snprintf(msg, msgsz, "%s: contains control or non-ASCII characters", d->name);
			return -STEWARD_EINVAL;
		}
		break;
	}
	if (d->check && d->check(d, value, msg, msgsz) != 0)
		return -STEWARD_EINVAL;
	if (d->type == CONF_STRING) {
		char **sp = (char **)field;
		char *copy = strdup(value);
		if (!copy)
			return -STEWARD_ENOMEM;
		free(*sp);
		*sp = copy;
	} else if (d->type == CONF_LIST) {
		struct conf_list *l = (struct conf_list *)field;
		char *copy;
		if (l->n >= CONF_LIST_MAX) {
			snprintf(msg, msgsz, "%s: more than %d entries", d->name, CONF_LIST_MAX);
			return -STEWARD_EINVAL;
		}
		copy = strdup(value);
		if (!copy)
			return -STEWARD_ENOMEM;
		l->items[l->n++] = copy;
	}
	return 0;
}

int conf_defaults(const struct conf_def *table, size_t n, void *target)
{
	char msg[256];

	for (size_t i = 0; i < n; i++) {
		if (!table[i].def || table[i].type == CONF_LIST)
			continue;
		if (conf_set(table, n, target, table[i].name, table[i].def, msg, sizeof(msg)))
			return -STEWARD_EINVAL;
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int conf_load_text(const struct conf_def *table, size_t n, void *target, const char *name,
		   const char *text, size_t len, char *msg, size_t msgsz)
{
	char line[CONF_LINE_MAX + 1];
	char inner[256];
	size_t pos = 0;
	int lineno = 0;

	if (len > CONF_FILE_MAX) {
		snprintf(msg, msgsz, "%s: file is %zu bytes; the limit is %d", name, len,
			 CONF_FILE_MAX);
		return -STEWARD_ETOOBIG;
	}
	while (pos < len) {
		size_t start = pos, l;
		char *key, *val, *eq, *hash;

		while (pos < len && text[pos] != '\n')
			pos++;
		l = pos - start;
		pos++; /* skip the newline */
		lineno++;
		if (l > CONF_LINE_MAX) {
			snprintf(msg, msgsz, "%s:%d: line is longer than %d bytes", name, lineno,
				 CONF_LINE_MAX);
			return -STEWARD_EINVAL;
		}
		memcpy(line, text + start, l);
		line[l] = '\0';
		if (memchr(line, '\0', l)) {
			snprintf(msg, msgsz, "%s:%d: line contains a NUL byte", name, lineno);
			return -STEWARD_EINVAL;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		key = trim(line);
		if (!*key)
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			snprintf(msg, msgsz, "%s:%d: expected 'key = value'", name, lineno);
			return -STEWARD_EINVAL;
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		if (!*key) {
			snprintf(msg, msgsz, "%s:%d: missing key before '='", name, lineno);
			return -STEWARD_EINVAL;
		}
		if (conf_set(table, n, target, key, val, inner, sizeof(inner))) {
			snprintf(msg, msgsz, "%s:%d: %s", name, lineno, inner);
			return -STEWARD_EINVAL;
		}
	}
	return 0;
}

int conf_load_file(const struct conf_def *table, size_t n, void *target, const char *path,
		   char *msg, size_t msgsz)
{
	char *text = NULL;
	size_t len = 0;
	int rc = file_read_all(path, CONF_FILE_MAX, &text, &len);

	if (rc) {
		snprintf(msg, msgsz, "%s:0: cannot read: %s", path, steward_strerror(rc));
		return rc;
	}
	rc = conf_load_text(table, n, target, path, text, len, msg, msgsz);
	free(text);
	return rc;
}

void conf_free(const struct conf_def *table, size_t n, void *target)
{
	for (size_t i = 0; i < n; i++) {
		char *field = (char *)target + table[i].offset;
		if (table[i].type == CONF_STRING) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if (table[i].type == CONF_LIST) {
			struct conf_list *l = (struct conf_list *)field;
			for (int j = 0; j < l->n; j++)
				free(l->items[j]);
			l->n = 0;
		}
	}
}

static void print_bounds(const struct conf_def *d, char *out, size_t outsz)
{
	switch (d->type) {
	case CONF_INT:
	case CONF_DURATION:
		snprintf(out, outsz, "%lld..%lld%s", (long long)d->min, (long long)d->max,
			 d->type == CONF_DURATION ? " s" : "");
		break;
	case CONF_STRING:
	case CONF_LIST:
		snprintf(out, outsz, "%lld..%lld chars", (long long)d->min, (long long)d->max);
		break;
	default:
		snprintf(out, outsz, "-");
	}
}

void conf_print_help(const struct conf_def *table, size_t n, bool markdown)
{
	char bounds[64];

	if (markdown) {
		printf("| key | type | default | bounds | meaning |\n|---|---|---|---|---|\n");
	}
	for (size_t i = 0; i < n; i++) {
		const struct conf_def *d = &table[i];
		print_bounds(d, bounds, sizeof(bounds));
		if (markdown)
			printf("| `%s` | %s | %s%s%s | %s | %s |\n", d->name, conf_type_name(d->type),
			       d->def ? "`" : "", d->def ? d->def : "(none)", d->def ? "`" : "",
			       bounds, d->help);
		else
			printf("%-24s %-9s default=%-18s %-22s %s\n", d->name,
			       conf_type_name(d->type), d->def ? d->def : "(none)", bounds, d->help);
	}
}

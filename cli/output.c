/* stewardctl output: errors, JSON, aligned tables.
 *
 * Everything printed for people goes through ctl_clean(): hostnames and OS
 * names come from agents, and an agent must not be able to send escape
 * sequences to an administrator's terminal.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

void ctl_error(const char *code, const char *remedy, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fputs("error: ", stderr);
	ctl_put_clean(stderr, code);
	fputs(": ", stderr);
	ctl_put_clean(stderr, msg);
	fputc('\n', stderr);
	if (remedy && *remedy) {
		fputs("remedy: ", stderr);
		ctl_put_clean(stderr, remedy);
		fputc('\n', stderr);
	}
}

int ctl_usage_error(const struct ctl_cmd *c, const char *fmt, ...)
{
	char msg[1024], syn[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fputs("error: usage: ", stderr);
	ctl_put_clean(stderr, msg);
	fputc('\n', stderr);
	if (c) {
		ctl_cmd_synopsis(c, syn, sizeof(syn));
		fprintf(stderr, "usage: stewardctl %s\n", syn);
	} else {
		fputs("usage: stewardctl [-s URL] [-t TOKEN_FILE] [--json] [--timeout SECONDS] "
		      "NOUN VERB ...\n",
		      stderr);
	}
	fputs("run 'stewardctl help' for the list of commands\n", stderr);
	return CTL_EUSAGE;
}

int ctl_print_json(const json_t *j)
{
	if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) != 0)
		return -1;
	fputc('\n', stdout);
	return 0;
}

/* Copy s into out (which holds strlen(s) + 1) with control characters,
 * including the UTF-8 encoded C1 range, replaced by '?'. */
static void ctl_clean(const char *s, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	char *o = out;

	while (*p) {
		if (*p < 0x20 || *p == 0x7f) {
			*o++ = '?';
			p++;
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			*o++ = '?';
			*o++ = '?';
			p += 2;
		} else {
			*o++ = (char)*p++;
		}
	}
	*o = '\0';
}

void ctl_put_clean(FILE *f, const char *s)
{
	char *c;

	if (!s)
		return;
	c = malloc(strlen(s) + 1);
	if (!c) {
		fputs("?", f);
		return;
	}
	ctl_clean(s, c);
	fputs(c, f);
	free(c);
}

/* Columns on screen: UTF-8 continuation bytes take none. */
static size_t ctl_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

const char *ctl_fmt(const json_t *v, const char *dflt, char *out, size_t outsz)
{
	size_t i, used = 0;
	json_t *item;
	char part[256];
	char *dump;

	if (!v || json_is_null(v))
		return dflt;
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(out, outsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return out;
	}
	if (json_is_real(v)) {
		snprintf(out, outsz, "%g", json_real_value(v));
		return out;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "yes" : "no";
	if (json_is_array(v)) {
		out[0] = '\0';
		if (json_array_size(v) == 0)
			return dflt;
		json_array_foreach(v, i, item)
		{
			const char *s;

			if (json_is_array(item) || json_is_object(item))
				goto compact;
			s = ctl_fmt(item, "-", part, sizeof(part));
			snprintf(out + used, outsz - used, "%s%s", i ? ", " : "", s);
			used = strlen(out);
		}
		return out;
	}
compact:
	dump = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	snprintf(out, outsz, "%s", dump ? dump : "?");
	free(dump);
	return out;
}

void ctl_table_init(struct ctl_table *t, int ncols, const char *const *head)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->head = head;
	t->sep = "  ";
}

int ctl_table_add(struct ctl_table *t, const char *const *row)
{
	size_t base;

	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **n = realloc(t->cells, ncap * (size_t)t->ncols * sizeof(*n));

		if (!n)
			return -1;
		t->cells = n;
		t->cap = ncap;
	}
	base = t->nrows * (size_t)t->ncols;
	for (int c = 0; c < t->ncols; c++) {
		const char *s = row[c] ? row[c] : "";
		char *cell = malloc(strlen(s) + 1);

		if (!cell) {
			for (int k = 0; k < c; k++)
				free(t->cells[base + (size_t)k]);
			return -1;
		}
		ctl_clean(s, cell);
		t->cells[base + (size_t)c] = cell;
	}
	t->nrows++;
	return 0;
}

static void ctl_table_line(const struct ctl_table *t, FILE *f, const char *const *cells,
			   const size_t *width)
{
	for (int c = 0; c < t->ncols; c++) {
		fputs(cells[c], f);
		if (c + 1 < t->ncols) {
			for (size_t w = ctl_width(cells[c]); w < width[c]; w++)
				fputc(' ', f);
			fputs(t->sep, f);
		}
	}
	fputc('\n', f);
}

void ctl_table_print(const struct ctl_table *t, FILE *f)
{
	size_t *width = calloc((size_t)t->ncols, sizeof(*width));

	if (!width)
		return;
	for (int c = 0; c < t->ncols; c++) {
		if (t->head)
			width[c] = ctl_width(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = ctl_width(t->cells[r * (size_t)t->ncols + (size_t)c]);

			if (w > width[c])
				width[c] = w;
		}
	}
	if (t->head)
		ctl_table_line(t, f, t->head, width);
	for (size_t r = 0; r < t->nrows; r++)
		ctl_table_line(t, f, (const char *const *)&t->cells[r * (size_t)t->ncols], width);
	free(width);
}

void ctl_table_free(struct ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

int ctl_print_objects(const json_t *list, int ncols, const char *const *head,
		      const char *const *keys)
{
	struct ctl_table t;
	const json_t *e;
	size_t i;
	int rc = CTL_OK;

	if (ncols > CTL_OBJECT_COLS_MAX)
		return ctl_oom();
	ctl_table_init(&t, ncols, head);
	json_array_foreach(list, i, e)
	{
		char b[CTL_OBJECT_COLS_MAX][160];
		const char *row[CTL_OBJECT_COLS_MAX];

		for (int c = 0; c < ncols; c++) {
			row[c] = ctl_fmt(json_object_get(e, keys[c]), "-", b[c], sizeof(b[c]));
			if (!*row[c])
				row[c] = "-";
		}
		if (ctl_table_add(&t, row)) {
			rc = ctl_oom();
			break;
		}
	}
	if (rc == CTL_OK)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return rc;
}

int ctl_oom(void)
{
	ctl_error("internal", "", "out of memory");
	return CTL_EFAIL;
}

int ctl_bad_reply(const char *what)
{
	ctl_error("bad_reply", "check that stewardctl and the site are the same version",
		  "the site's reply to %s is not what this stewardctl expects", what);
	return CTL_EFAIL;
}

int ctl_finish(struct ctl *ctl, json_t *reply, int rc)
{
	if (rc == CTL_OK && ctl->json && ctl_print_json(reply))
		rc = CTL_EFAIL;
	json_decref(reply);
	return rc;
}

const char *ctl_jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

bool ctl_all_objects(const json_t *arr)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (!json_is_object(json_array_get(arr, i)))
			return false;
	return true;
}

/* config: table-driven configuration (name, type, default, bounds, help).
 *
 * One table describes every key. The file parser, the command-line parser,
 * `stewardd -n`, `--help-config` and docs/configuration.md all come from it.
 * File format: `key = value` lines, `#` starts a comment, blank lines ignored.
 */
#ifndef STEWARD_CONFIG_H
#define STEWARD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "steward/util.h"

enum conf_type {
	CONF_INT,      /* int64 within [min, max] */
	CONF_DURATION, /* seconds, accepts 90 / 90s / 15m / 23h / 7d, within [min, max] */
	CONF_BOOL,     /* true/false/yes/no/on/off/1/0 */
	CONF_STRING,   /* at most max bytes, printable */
	CONF_LIST,     /* repeatable string; each at most max bytes */
};

struct conf_def;

/* Extra validation for one value; return 0 or fill msg (256 bytes) and return -1. */
typedef int (*conf_check_fn)(const struct conf_def *def, const char *value, char *msg,
			     size_t msgsz);

struct conf_def {
	const char *name;
	enum conf_type type;
	const char *def;    /* default as text, NULL for none (lists: none) */
	int64_t min, max;   /* numeric bounds; for strings: min/max length */
	size_t offset;      /* offset of the field in the target struct */
	conf_check_fn check;
	const char *help;
};

#define CONF_LIST_MAX 64

struct conf_list {
	int n;
	char *items[CONF_LIST_MAX];
};

/* Apply every default in the table to the target struct. */
int conf_defaults(const struct conf_def *table, size_t n, void *target);
/* Set one key from text. On error fills msg and returns -STEWARD_EINVAL. */
int conf_set(const struct conf_def *table, size_t n, void *target, const char *key,
	     const char *value, char *msg, size_t msgsz);
/* Parse a file. Errors are "FILE:LINE: message" in msg. max_bytes caps the file. */
int conf_load_file(const struct conf_def *table, size_t n, void *target, const char *path,
		   char *msg, size_t msgsz);
/* Parse text as if it came from file `name` (used by the file loader and the fuzzer). */
int conf_load_text(const struct conf_def *table, size_t n, void *target, const char *name,
		   const char *text, size_t len, char *msg, size_t msgsz);
/* Free strings and lists held by the target. */
void conf_free(const struct conf_def *table, size_t n, void *target);
/* Print the table: as text (for --help-config) or as markdown (for docs). */
void conf_print_help(const struct conf_def *table, size_t n, bool markdown);

const struct conf_def *conf_find(const struct conf_def *table, size_t n, const char *key);
const char *conf_type_name(enum conf_type t);

#define CONF_FILE_MAX (1024 * 1024)

#endif

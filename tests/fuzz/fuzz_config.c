/* fuzz_config: stewardd's configuration file (conf_load_text with
 * site_config_table from server/config.c, then site_config_finish).
 *
 * The input is the whole file. Properties checked on every input:
 *   - a refusal leaves a message that names the file;
 *   - after a load, successful or not, every field still satisfies its table
 *     entry (bounds, printable strings, list caps), so a half-read file never
 *     leaves a value no single key could have set;
 *   - conf_free releases everything (LeakSanitizer checks).
 */
#include "fuzz.h"

#include "steward/config.h"

#include "site.h" /* server/: struct site_config and its table */

#define FUZZ_CONF_NAME "fuzz.conf"

static void check_string(const struct conf_def *d, const char *s)
{
	size_t len = strlen(s);

	FUZZ_CHECK((int64_t)len >= d->min && (int64_t)len <= d->max);
	FUZZ_CHECK(str_printable(s));
}

static void check_table(const struct site_config *c)
{
	for (size_t i = 0; i < site_config_table_len; i++) {
		const struct conf_def *d = &site_config_table[i];
		const char *field = (const char *)c + d->offset;

		switch (d->type) {
		case CONF_INT:
		case CONF_DURATION: {
			int64_t v = *(const int64_t *)field;
			FUZZ_CHECK(v >= d->min && v <= d->max);
			break;
		}
		case CONF_BOOL:
			break;
		case CONF_STRING: {
			const char *s = *(char *const *)field;
			/* only keys without a default may be unset */
			FUZZ_CHECK(s != NULL || d->def == NULL);
			if (s)
				check_string(d, s);
			break;
		}
		case CONF_LIST: {
			const struct conf_list *l = (const struct conf_list *)field;
			FUZZ_CHECK(l->n >= 0 && l->n <= CONF_LIST_MAX);
			for (int j = 0; j < l->n; j++)
				check_string(d, l->items[j]);
			break;
		}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct site_config c;
	char msg[512];
	int rc;

	fuzz_init();
	memset(&c, 0, sizeof(c));
	FUZZ_CHECK(conf_defaults(site_config_table, site_config_table_len, &c) == 0);
	msg[0] = '\0';
	rc = conf_load_text(site_config_table, site_config_table_len, &c, FUZZ_CONF_NAME,
			    (const char *)data, size, msg, sizeof(msg));
	if (rc) {
		FUZZ_CHECK(strncmp(msg, FUZZ_CONF_NAME ":", strlen(FUZZ_CONF_NAME ":")) == 0);
	} else {
		/* what `stewardd -n` does next; the result may be a refusal */
		msg[0] = '\0';
		if (site_config_finish(&c, msg, sizeof(msg)) != 0)
			FUZZ_CHECK(msg[0] != '\0');
		else
			FUZZ_CHECK(c.n_boundaries == (size_t)c.boundary.n);
	}
	check_table(&c);
	conf_free(site_config_table, site_config_table_len, &c);
	return 0;
}

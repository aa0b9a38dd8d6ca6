/* stewardctl's trust in sites: which certificate pin each site's HTTPS must
 * show (steward/tls.h). Two sources, both authenticated by the machine
 * itself rather than by the network:
 *   - the trust file ($STEWARD_TRUST_FILE, else ~/.config/steward/trust):
 *     one "ORIGIN PIN" line per site, written by `stewardctl site trust`;
 *   - the site's own data directory: a token file read from DATA_DIR
 *     (DATA_DIR/admin.token) brings DATA_DIR/tls.pin with it, for the
 *     administrator on the site server's machine.
 * A site with a certificate from a CA needs neither: the system's CAs
 * verify it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>

#include "steward/tls.h"
#include "steward/util.h"

#include "ctl.h"

static int ctl_trust(const char *origin, struct tls_trust *out, void *arg)
{
	struct ctl *ctl = arg;
	char mine[TLS_ORIGIN_MAX];

	tls_trust_file_lookup(origin, out, NULL);
	/* the token file of a site's data directory: its pin beside it */
	if (ctl->token_file && strncmp(origin, "https://", 8) == 0 &&
	    tls_url_origin(ctl->server, mine, sizeof(mine)) == 0 && strcmp(mine, origin) == 0)
		tls_pin_beside(ctl->token_file, out);
	return 0;
}

/* A site announced its next key over a pinned connection: keep its pin
 * beside the current one in the trust file. */
static void ctl_next_pin(const char *origin, const char *pin_text, void *arg)
{
	char path[PATH_MAX], line[TLS_ORIGIN_MAX + TLS_PIN_TEXT_MAX + 4], *text = NULL, *dir;
	char d[PATH_MAX];
	size_t len = 0;
	struct buf b;

	(void)arg;
	tls_trust_file_path(path, sizeof(path));
	if (file_read_all(path, TLS_TRUST_FILE_MAX, &text, &len) != 0) {
		text = NULL;
		len = 0;
	}
	snprintf(line, sizeof(line), "%s %s\n", origin, pin_text);
	if (text && strstr(text, line)) {
		free(text);
		return;
	}
	buf_init(&b, TLS_TRUST_FILE_MAX);
	if (text)
		buf_append(&b, text, len);
	if (b.len && b.data[b.len - 1] != '\n')
		buf_puts(&b, "\n");
	buf_puts(&b, line);
	snprintf(d, sizeof(d), "%s", path);
	dir = dirname(d);
	if (file_mkdirs(dir, 0700) == 0 && file_write_atomic(path, b.data, b.len, 0600) == 0)
		fprintf(stderr, "note: %s announces its next key; trusting %s beside the current one "
				"(in %s)\n",
			origin, pin_text, path);
	buf_free(&b);
	free(text);
}

void ctl_trust_init(struct ctl *ctl)
{
	tls_set_trust_lookup(ctl_trust, ctl);
	tls_set_next_pin_hook(ctl_next_pin, NULL);
}

/* stewardctl site trust --pin PIN: pin the -s site in the trust file. */
int ctl_cmd_site_trust(struct ctl *ctl, const struct ctl_args *a)
{
	char path[PATH_MAX], origin[TLS_ORIGIN_MAX], pin_text[TLS_PIN_TEXT_MAX + 1];
	char *text = NULL, *out = NULL, *dir;
	const char *p;
	size_t len = 0, used = 0, cap;
	uint8_t pin[TLS_PIN_BYTES];
	int rc = CTL_EFAIL;

	if (!a->opt[CTL_OPT_PIN] || tls_pin_parse(a->opt[CTL_OPT_PIN], pin))
		return ctl_usage_error(NULL, "--pin must be sha256: and 64 hex digits: the "
					     "content of DATA_DIR/tls.pin on the site server");
	if (tls_url_origin(ctl->server, origin, sizeof(origin)) ||
	    !tls_url_is_https(ctl->server))
		return ctl_usage_error(NULL, "-s must be the https:// URL of the site to trust");
	tls_pin_format(pin, pin_text, sizeof(pin_text));
	tls_trust_file_path(path, sizeof(path));
	if (file_read_all(path, TLS_TRUST_FILE_MAX, &text, &len) != 0) {
		text = NULL;
		len = 0;
	}
	cap = len + strlen(origin) + sizeof(pin_text) + 4;
	out = malloc(cap);
	if (!out)
		goto out;
	/* every other line stays; this origin's line is replaced */
	for (p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p + 1) : strlen(p);
		size_t ol = strlen(origin);
		if (!(l > ol && strncmp(p, origin, ol) == 0 && p[ol] == ' ')) {
			memcpy(out + used, p, l);
			used += l;
			if (out[used - 1] != '\n')
				out[used++] = '\n';
		}
		p += l;
	}
	used += (size_t)snprintf(out + used, cap - used, "%s %s\n", origin, pin_text);
	{
		char d[PATH_MAX];
		snprintf(d, sizeof(d), "%s", path);
		dir = dirname(d);
		if (file_mkdirs(dir, 0700) != 0 || file_write_atomic(path, out, used, 0600) != 0) {
			ctl_error("trust_write_failed", "check that the directory is writable",
				  "cannot write %s: %s", path, strerror(errno));
			goto out;
		}
	}
	if (ctl->json)
		printf("{\"origin\":\"%s\",\"pin\":\"%s\",\"file\":\"%s\"}\n", origin, pin_text,
		       path);
	else
		printf("trusted %s with %s (in %s)\n", origin, pin_text, path);
	rc = CTL_OK;
out:
	free(text);
	free(out);
	return rc;
}

/* stewardctl site rotate-key [--finish]: a next TLS key for the site,
 * announced to every client before it is served; --finish switches to it
 * (served from stewardd's next start). */
int ctl_cmd_site_rotate_key(struct ctl *ctl, const struct ctl_args *a)
{
	bool finish = a->opt[CTL_OPT_FINISH] != NULL;
	json_t *body = finish ? json_pack("{s:b}", "finish", 1) : json_object(), *reply = NULL;
	const char *state;
	int rc;

	if (!body)
		return ctl_oom();
	rc = ctl_request(ctl, "POST", "/api/v1/site/rotate-key", body, &reply);
	json_decref(body);
	if (rc)
		return rc;
	state = json_string_value(json_object_get(reply, "state"));
	if (!state)
		return ctl_finish(ctl, reply, ctl_bad_reply("site rotate-key"));
	if (ctl->json)
		return ctl_finish(ctl, reply, CTL_OK);
	if (!finish) {
		printf("next key announced: %s (the current one is %s)\n",
		       json_string_value(json_object_get(reply, "next")),
		       json_string_value(json_object_get(reply, "current")));
		puts("every client that reaches the site now keeps the next pin beside the current one;\n"
		     "once agents, consoles and linked sites have checked in, run "
		     "'stewardctl site rotate-key --finish'");
	} else {
		printf("switched: %s replaces %s from stewardd's next start\n",
		       json_string_value(json_object_get(reply, "new")),
		       json_string_value(json_object_get(reply, "old")));
		puts("restart stewardd now; clients that never saw the next pin need it by hand "
		     "(stewardctl site trust, a new token)");
	}
	return ctl_finish(ctl, reply, CTL_OK);
}

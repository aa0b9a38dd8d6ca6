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

/* the token file of a site's data directory brings its pin beside it */
static int ctl_trust(const char *origin, struct tls_trust *out, void *arg)
{
	struct ctl *ctl = arg;

	return tls_trust_console(origin, out, ctl->server, ctl->token_file);
}

/* Puts the line "ORIGIN PIN" in the trust file (path receives its name):
 * replace drops the origin's other lines first, otherwise the line joins
 * them. 0 when written, 1 when the line was there already, -1 when the
 * file cannot be written (errno says why). */
static int trust_file_put(const char *origin, const char *pin_text, bool replace, char *path,
			  size_t pathsz)
{
	char line[TLS_ORIGIN_MAX + TLS_PIN_TEXT_MAX + 4], d[PATH_MAX], *text = NULL;
	const char *p;
	size_t len = 0, ol = strlen(origin);
	struct buf b;
	int rc = 0;

	tls_trust_file_path(path, pathsz);
	if (file_read_all(path, TLS_TRUST_FILE_MAX, &text, &len) != 0)
		text = NULL;
	snprintf(line, sizeof(line), "%s %s\n", origin, pin_text);
	if (!replace && text && strstr(text, line)) {
		free(text);
		return 1;
	}
	buf_init(&b, TLS_TRUST_FILE_MAX);
	for (p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p + 1) : strlen(p);

		if (!(replace && l > ol && strncmp(p, origin, ol) == 0 && p[ol] == ' ')) {
			buf_append(&b, p, l);
			if (!nl)
				buf_puts(&b, "\n");
		}
		p += l;
	}
	buf_puts(&b, line);
	snprintf(d, sizeof(d), "%s", path);
	if (file_mkdirs(dirname(d), 0700) != 0 || file_write_atomic(path, b.data, b.len, 0600) != 0)
		rc = -1;
	buf_free(&b);
	free(text);
	return rc;
}

/* A site announced its next key over a pinned connection: keep its pin
 * beside the current one in the trust file. */
static void ctl_next_pin(const char *origin, const char *pin_text, void *arg)
{
	char path[PATH_MAX];

	(void)arg;
	if (trust_file_put(origin, pin_text, false, path, sizeof(path)) == 0)
		fprintf(stderr, "note: %s announces its next key; trusting %s beside the current one "
				"(in %s)\n",
			origin, pin_text, path);
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
	uint8_t pin[TLS_PIN_BYTES];

	if (!a->opt[CTL_OPT_PIN] || tls_pin_parse(a->opt[CTL_OPT_PIN], pin))
		return ctl_usage_error(NULL, "--pin must be sha256: and 64 hex digits: the "
					     "content of DATA_DIR/tls.pin on the site server");
	if (tls_url_origin(ctl->server, origin, sizeof(origin)) ||
	    !tls_url_is_https(ctl->server))
		return ctl_usage_error(NULL, "-s must be the https:// URL of the site to trust");
	tls_pin_format(pin, pin_text, sizeof(pin_text));
	/* this origin's other lines go: the pin given is the one to trust */
	if (trust_file_put(origin, pin_text, true, path, sizeof(path)) < 0) {
		ctl_error("trust_write_failed", "check that the directory is writable",
			  "cannot write %s: %s", path, strerror(errno));
		return CTL_EFAIL;
	}
	if (ctl->json)
		printf("{\"origin\":\"%s\",\"pin\":\"%s\",\"file\":\"%s\"}\n", origin, pin_text,
		       path);
	else
		printf("trusted %s with %s (in %s)\n", origin, pin_text, path);
	return CTL_OK;
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

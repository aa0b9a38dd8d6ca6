/* proto/console: the document of GET /update/console, in both directions.
 *
 * A console the site refuses for its protocol or API version still has to
 * read this reply to update itself, so its format is frozen
 * (PROTO_CONSOLE_UPDATE_FORMAT; docs/internals/console-update.md): the
 * members below keep their meaning, unknown members are ignored, and a
 * document of another format is refused rather than guessed at. stewardd
 * builds it and stewardctl parses it here, so both sides share one
 * definition.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "steward/proto.h"

#define REMEDY_REPLY                                                                               \
	"check that the server URL (-s or STEWARD_SERVER) points at stewardd; if it does, "        \
	"install the stewardctl of the site's release by hand"

static int bad(struct steward_err *err, const char *member, const char *problem)
{
	return steward_err_set(err, STEWARD_EINVAL, "bad_reply", REMEDY_REPLY,
			       "the site's " PROTO_CONSOLE_UPDATE_PATH " reply: '%s' %s", member,
			       problem);
}

/* A string member of at most outsz - 1 bytes, printable, not empty. */
static int get_str(json_t *obj, const char *key, const char *member, char *out, size_t outsz,
		   struct steward_err *err)
{
	json_t *v = json_object_get(obj, key);
	size_t len;

	out[0] = '\0';
	if (!json_is_string(v))
		return bad(err, member, "is missing or not a string");
	len = json_string_length(v);
	if (len == 0 || len >= outsz)
		return bad(err, member, "is empty or too long");
	if (strlen(json_string_value(v)) != len || !str_printable(json_string_value(v)))
		return bad(err, member, "has control characters");
	memcpy(out, json_string_value(v), len + 1);
	return 0;
}

static int get_version(json_t *obj, const char *key, const char *member, char *out, size_t outsz,
		       struct steward_err *err)
{
	int x, y, z;
	int rc = get_str(obj, key, member, out, outsz, err);

	if (!rc && proto_semver_parse(out, &x, &y, &z) != 0)
		rc = bad(err, member, "is not a version X.Y.Z");
	return rc;
}

static int get_range(json_t *obj, const char *key, const char *member, struct proto_range *out,
		     struct steward_err *err)
{
	char text[24];
	int rc = get_str(obj, key, member, text, sizeof(text), err);

	if (!rc && proto_range_parse(text, out) != 0)
		rc = bad(err, member, "is not a protocol range MIN-MAX");
	return rc;
}

static bool lower_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* A path on the site: it goes into a URL as it is, so only characters that
 * need no quoting, and nothing that climbs out of the site's root. */
static bool download_ok(const char *s)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				 "0123456789/._-";

	return s[0] == '/' && strspn(s, ok) == strlen(s) && !strstr(s, "/../") &&
	       !strstr(s, "//") && (strlen(s) < 3 || strcmp(s + strlen(s) - 3, "/..") != 0);
}

static json_t *object(json_t *root, const char *key, struct steward_err *err)
{
	json_t *o = json_object_get(root, key);

	if (!json_is_object(o))
		bad(err, key, "is missing or not an object");
	return json_is_object(o) ? o : NULL;
}

static int parse_site(json_t *root, struct proto_console_update *u, struct steward_err *err)
{
	json_t *site = object(root, "site", err), *api;
	int rc;

	if (!site)
		return -STEWARD_EINVAL;
	rc = get_str(site, "code", "site.code", u->site_code, sizeof(u->site_code), err);
	if (!rc && !proto_site_code_valid(u->site_code))
		rc = bad(err, "site.code", "is not a site code");
	if (!rc)
		rc = get_version(site, "version", "site.version", u->site_version,
				 sizeof(u->site_version), err);
	if (!rc)
		rc = get_range(site, "protocol", "site.protocol", &u->site_protocol, err);
	if (rc)
		return rc;
	api = json_object_get(site, "api");
	if (!json_is_integer(api) || json_integer_value(api) < 1 ||
	    json_integer_value(api) > 100000)
		return bad(err, "site.api", "is not an API major from 1 to 100000");
	u->site_api = (int)json_integer_value(api);
	return 0;
}

static int parse_release(json_t *root, struct proto_console_update *u, struct steward_err *err)
{
	json_t *rel = object(root, "release", err), *m;
	size_t len;
	int rc;

	if (!rel)
		return -STEWARD_EINVAL;
	rc = get_version(rel, "version", "release.version", u->release, sizeof(u->release), err);
	if (rc)
		return rc;
	m = json_object_get(rel, "manifest");
	if (!json_is_string(m))
		return bad(err, "release.manifest", "is missing or not a string");
	len = json_string_length(m);
	if (len == 0 || len > PROTO_CONSOLE_MANIFEST_MAX)
		return bad(err, "release.manifest", "is empty or larger than 1 MiB");
	if (strlen(json_string_value(m)) != len)
		return bad(err, "release.manifest", "has a NUL byte");
	u->manifest = malloc(len + 1);
	if (!u->manifest)
		return steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
	memcpy(u->manifest, json_string_value(m), len + 1);
	u->manifest_len = len;
	return 0;
}

static int parse_console(json_t *root, struct proto_console_update *u, struct steward_err *err)
{
	json_t *con = object(root, "console", err), *size;
	int rc;

	if (!con)
		return -STEWARD_EINVAL;
	rc =
	    get_str(con, "component", "console.component", u->component, sizeof(u->component), err);
	if (!rc)
		rc = get_version(con, "version", "console.version", u->version, sizeof(u->version),
				 err);
	if (!rc)
		rc = get_range(con, "protocol", "console.protocol", &u->protocol, err);
	if (!rc)
		rc = get_str(con, "path", "console.path", u->path, sizeof(u->path), err);
	if (!rc)
		rc = get_str(con, "sha256", "console.sha256", u->sha256, sizeof(u->sha256), err);
	if (!rc && !lower_hex(u->sha256, PROTO_CONSOLE_HASH_HEX))
		rc = bad(err, "console.sha256", "is not 64 lowercase hex digits");
	if (!rc)
		rc = get_str(con, "download", "console.download", u->download, sizeof(u->download),
			     err);
	if (!rc && !download_ok(u->download))
		rc = bad(err, "console.download", "is not a plain path on the site");
	if (rc)
		return rc;
	size = json_object_get(con, "size");
	if (!json_is_integer(size) || json_integer_value(size) < 0 ||
	    (uint64_t)json_integer_value(size) > PROTO_CONSOLE_SIZE_MAX)
		return bad(err, "console.size", "is not a size in bytes");
	u->size = (uint64_t)json_integer_value(size);
	return 0;
}

int proto_console_update_parse(const char *body, size_t len, struct proto_console_update *out,
			       struct steward_err *err)
{
	json_t *root = NULL;
	const char *format;
	json_error_t jerr;
	int rc = -STEWARD_EINVAL;

	memset(out, 0, sizeof(*out));
	if (!body || len > PROTO_CONSOLE_UPDATE_MAX)
		return bad(err, "(document)", "is missing or larger than its cap");
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		steward_err_set(err, STEWARD_EINVAL, "bad_reply", REMEDY_REPLY,
				"the site's " PROTO_CONSOLE_UPDATE_PATH " reply is not %s%s",
				root ? "a JSON object" : "JSON: ", root ? "" : jerr.text);
		goto out;
	}
	format = json_string_value(json_object_get(root, "format"));
	if (!format || strcmp(format, PROTO_CONSOLE_UPDATE_FORMAT) != 0) {
		steward_err_set(
		    err, STEWARD_EVERSION, "bad_reply",
		    "install the stewardctl of the site's release by hand",
		    "the site answered " PROTO_CONSOLE_UPDATE_PATH
		    " in format '%.40s'; this stewardctl reads " PROTO_CONSOLE_UPDATE_FORMAT,
		    format && str_printable(format) ? format : "?");
		goto out;
	}
	rc = parse_site(root, out, err);
	if (!rc)
		rc = parse_release(root, out, err);
	if (!rc)
		rc = parse_console(root, out, err);
out:
	json_decref(root);
	if (rc)
		proto_console_update_clear(out);
	return rc;
}

char *proto_console_update_build(const struct proto_console_update *u)
{
	char srange[24], crange[24], *text = NULL;
	json_t *o;

	if (!u->manifest)
		return NULL;
	proto_range_format(&u->site_protocol, srange);
	proto_range_format(&u->protocol, crange);
	o = json_pack("{s:s,s:{s:s,s:s,s:s,s:i},s:{s:s,s:s%},s:{s:s,s:s,s:s,s:s,s:s,s:I,s:s}}",
		      "format", PROTO_CONSOLE_UPDATE_FORMAT, "site", "code", u->site_code,
		      "version", u->site_version, "protocol", srange, "api", u->site_api, "release",
		      "version", u->release, "manifest", u->manifest, u->manifest_len, "console",
		      "component", u->component, "version", u->version, "protocol", crange, "path",
		      u->path, "sha256", u->sha256, "size", (json_int_t)u->size, "download",
		      u->download);
	if (o)
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}

void proto_console_update_clear(struct proto_console_update *u)
{
	free(u->manifest);
	memset(u, 0, sizeof(*u));
}

/* agent/state: STATE_DIR/state.json, the little the agent must remember.
 *
 * The file is always replaced whole with file_write_atomic, so a crash leaves
 * the old or the new version, never a mix. A file that is still unreadable
 * (edited by hand, disk damage) is refused with a message naming it and the
 * way out, never guessed at: a wrong client id or a lower sequence would make
 * every later request fail in a way that is harder to understand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "steward/tls.h"

#define STATE_VERSION 1

#define REMEDY_CORRUPT                                                                             \
	"move the file aside and start the agent again: it keeps client.key, so enrolling "        \
	"again gives back the same client id (pass --enroll-token if the site no longer "          \
	"knows this client)"

static int corrupt(struct steward_err *err, const char *path, const char *what)
{
	return steward_err_set(err, STEWARD_EINVAL, "state_corrupt", REMEDY_CORRUPT,
			       "%s is not a valid agent state file: %s", path, what);
}

/* A string field: absent gives "", present must be a printable string that fits. */
static int get_str(json_t *root, const char *key, bool required, char *out, size_t outsz,
		   const char *path, struct steward_err *err)
{
	json_t *v = json_object_get(root, key);
	char what[96];

	out[0] = '\0';
	if (!v) {
		if (!required)
			return 0;
		snprintf(what, sizeof(what), "field '%s' is missing", key);
		return corrupt(err, path, what);
	}
	if (!json_is_string(v) || json_string_length(v) >= outsz ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    !str_printable(json_string_value(v))) {
		snprintf(what, sizeof(what),
			 "field '%s' must be a printable string of at most %zu bytes", key,
			 outsz - 1);
		return corrupt(err, path, what);
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_int(json_t *root, const char *key, bool required, int64_t *out, const char *path,
		   struct steward_err *err)
{
	json_t *v = json_object_get(root, key);
	char what[96];

	*out = 0;
	if (!v) {
		if (!required)
			return 0;
		snprintf(what, sizeof(what), "field '%s' is missing", key);
		return corrupt(err, path, what);
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(what, sizeof(what), "field '%s' must be a non-negative integer", key);
		return corrupt(err, path, what);
	}
	*out = json_integer_value(v);
	return 0;
}

/* "release_keys": an array of at most AGENT_RELEASE_KEYS_MAX keys (64 hex). */
static int get_keys(json_t *root, struct agent_state *st, const char *path, struct steward_err *err)
{
	json_t *a = json_object_get(root, "release_keys"), *v;
	uint8_t pk[PROTO_PK_BYTES];
	size_t i;

	st->n_release_keys = 0;
	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > AGENT_RELEASE_KEYS_MAX)
		return corrupt(err, path,
			       "field 'release_keys' must be an array of at most 8 keys");
	json_array_foreach(a, i, v)
	{
		const char *k = json_string_value(v);

		if (!k || strlen(k) != 2 * PROTO_PK_BYTES || hex_decode(k, pk, sizeof(pk)) != 0)
			return corrupt(err, path,
				       "field 'release_keys' must hold keys of 64 hex digits");
		snprintf(st->release_keys[st->n_release_keys++], sizeof(st->release_keys[0]), "%s",
			 k);
	}
	return 0;
}

bool agent_url_ok(const char *url)
{
	const char *host = strstr(url, "://");
	size_t n = strlen(url);

	if (n >= AGENT_URL_MAX || !host || strchr(host + 3, '/') || !host[3] ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f || url[i] == '"' ||
		    url[i] == '\\')
			return false;
	return true;
}

/* "management_points": an array of at most AGENT_MPS_MAX URLs. */
static int get_mps(json_t *root, struct agent_state *st, const char *path, struct steward_err *err)
{
	json_t *a = json_object_get(root, "management_points"), *v;
	size_t i;

	st->n_mps = 0;
	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > AGENT_MPS_MAX)
		return corrupt(err, path,
			       "field 'management_points' must be an array of at most 8 URLs");
	json_array_foreach(a, i, v)
	{
		const char *u = json_string_value(v);

		if (!u || !agent_url_ok(u))
			return corrupt(err, path,
				       "field 'management_points' must hold http:// or https:// URLs");
		snprintf(st->mps[st->n_mps++], sizeof(st->mps[0]), "%s", u);
	}
	return 0;
}

static int parse_state(json_t *root, struct agent_state *st, const char *path,
		       struct steward_err *err)
{
	int64_t version, seq;
	char what[96];
	int rc;

	if (!json_is_object(root))
		return corrupt(err, path, "the top level must be a JSON object");
	rc = get_int(root, "version", true, &version, path, err);
	if (rc)
		return rc;
	if (version != STATE_VERSION) {
		snprintf(what, sizeof(what), "format version %lld; this agent reads version %d",
			 (long long)version, STATE_VERSION);
		return corrupt(err, path, what);
	}
	if ((rc = get_str(root, "client_id", true, st->client_id, sizeof(st->client_id), path,
			  err)) ||
	    (rc = get_str(root, "site", false, st->site, sizeof(st->site), path, err)) ||
	    (rc = get_str(root, "server", false, st->server, sizeof(st->server), path, err)) ||
	    (rc = get_str(root, "state", false, st->state, sizeof(st->state), path, err)) ||
	    (rc = get_int(root, "last_seq", true, &seq, path, err)) ||
	    (rc = get_int(root, "next_checkin", false, &st->next_checkin, path, err)) ||
	    (rc = get_int(root, "checkin_interval", false, &st->interval, path, err)) ||
	    (rc = get_int(root, "checkin_jitter", false, &st->jitter, path, err)) ||
	    (rc = get_int(root, "last_inventory", false, &st->last_inventory, path, err)) ||
	    (rc = get_int(root, "inventory_interval", false, &st->inventory_interval, path,
			  err)) ||
	    (rc = get_int(root, "inventory_retry_at", false, &st->inventory_retry_at, path,
			  err)) ||
	    (rc = get_int(root, "inventory_failures", false, &st->inventory_failures, path,
			  err)) ||
	    (rc = get_str(root, "inventory_hash", false, st->inventory_hash,
			  sizeof(st->inventory_hash), path, err)) ||
	    (rc = get_str(root, "site_key", false, st->site_key, sizeof(st->site_key), path,
			  err)) ||
	    (rc = get_str(root, "tls_pin", false, st->tls_pin, sizeof(st->tls_pin), path, err)) ||
	    (rc = get_str(root, "tls_pin_next", false, st->tls_pin_next, sizeof(st->tls_pin_next),
			  path, err)))
		return rc;
	if ((st->tls_pin[0] && tls_pin_parse(st->tls_pin, (uint8_t[TLS_PIN_BYTES]){0})) ||
	    (st->tls_pin_next[0] && tls_pin_parse(st->tls_pin_next, (uint8_t[TLS_PIN_BYTES]){0})))
		return corrupt(err, path, "fields 'tls_pin', 'tls_pin_next' must be 64 hex digits");
	if ((rc = get_str(root, "newest_release", false, st->newest_release,
			  sizeof(st->newest_release), path, err)) ||
	    (rc = get_keys(root, st, path, err)) || (rc = get_mps(root, st, path, err)))
		return rc;
	st->last_seq = (uint64_t)seq;
	if (st->client_id[0] && !proto_client_id_valid(st->client_id))
		return corrupt(err, path, "field 'client_id' must be 32 lowercase hex digits");
	if (st->site[0] && !proto_site_code_valid(st->site))
		return corrupt(err, path, "field 'site' must be a 3-character site code");
	if (st->site_key[0] && hex_decode(st->site_key, (uint8_t[PROTO_PK_BYTES]){0},
					  PROTO_PK_BYTES) != 0)
		return corrupt(err, path, "field 'site_key' must be 64 hex digits");
	return 0;
}

int agent_state_load(const char *path, struct agent_state *st, bool *found, struct steward_err *err)
{
	char *data = NULL;
	size_t len = 0;
	json_t *root;
	json_error_t jerr;
	char what[200];
	int rc;

	memset(st, 0, sizeof(*st));
	*found = false;
	rc = file_read_all(path, AGENT_STATE_MAX, &data, &len);
	if (rc == -STEWARD_ENOTFOUND)
		return 0;
	if (rc == -STEWARD_ETOOBIG)
		return corrupt(err, path, "the file is larger than 64 KiB");
	if (rc)
		return steward_err_set(err, -rc, "state_unreadable",
				       "check the permissions of the state directory and the file",
				       "cannot read %s: %s", path, steward_strerror(rc));
	*found = true;
	if (len == 0) {
		free(data);
		return corrupt(err, path, "the file is empty");
	}
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	free(data);
	if (!root) {
		snprintf(what, sizeof(what), "line %d column %d: %s", jerr.line, jerr.column,
			 jerr.text);
		return corrupt(err, path, what);
	}
	rc = parse_state(root, st, path, err);
	json_decref(root);
	if (rc)
		memset(st, 0, sizeof(*st));
	return rc;
}

int agent_state_save(const char *path, const struct agent_state *st, struct steward_err *err)
{
	json_t *root, *inv, *keys;
	char *text = NULL;
	int rc;

	root = json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "version", STATE_VERSION,
			 "client_id", st->client_id, "site", st->site, "server", st->server,
			 "state", st->state, "last_seq", (json_int_t)st->last_seq, "next_checkin",
			 (json_int_t)st->next_checkin, "checkin_interval", (json_int_t)st->interval,
			 "checkin_jitter", (json_int_t)st->jitter);
	inv = json_pack("{s:I,s:I,s:I,s:I,s:s,s:s}", "last_inventory",
			(json_int_t)st->last_inventory, "inventory_interval",
			(json_int_t)st->inventory_interval, "inventory_retry_at",
			(json_int_t)st->inventory_retry_at, "inventory_failures",
			(json_int_t)st->inventory_failures, "inventory_hash", st->inventory_hash,
			"site_key", st->site_key);
	if (inv && (json_object_set_new(inv, "tls_pin", json_string(st->tls_pin)) ||
		    json_object_set_new(inv, "tls_pin_next", json_string(st->tls_pin_next)))) {
		json_decref(inv);
		inv = NULL;
	}
	if (root && (!inv || json_object_update(root, inv))) {
		json_decref(root);
		root = NULL;
	}
	json_decref(inv);
	keys = json_array();
	for (size_t i = 0; keys && i < st->n_release_keys; i++)
		json_array_append_new(keys, json_string(st->release_keys[i]));
	if (root &&
	    (!keys || json_object_set_new(root, "release_keys", keys) ||
	     json_object_set_new(root, "newest_release", json_string(st->newest_release)))) {
		json_decref(root);
		root = NULL;
	}
	if (root && st->n_mps) {
		json_t *mps = json_array();

		for (size_t i = 0; mps && i < st->n_mps; i++)
			json_array_append_new(mps, json_string(st->mps[i]));
		if (!mps || json_object_set_new(root, "management_points", mps)) {
			json_decref(root);
			root = NULL;
		}
	}
	if (root)
		text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!text)
		return steward_err_set(err, STEWARD_ENOMEM, "internal", "", "cannot format %s",
				       path);
	rc = file_write_atomic(path, text, strlen(text), 0600);
	free(text);
	if (rc)
		return steward_err_set(
		    err, -rc, "state_unwritable",
		    "check that the state directory is writable and the disk is not full",
		    "cannot write %s: %s", path, steward_strerror(rc));
	return 0;
}

/* proto/messages: parse and build the JSON bodies of agent requests.
 *
 * Every field is type-checked, range-checked and length-checked; a refusal
 * names the field. Parsers copy into fixed-size structs and keep no
 * reference into the JSON tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "steward/proto.h"

#define REMEDY_FIX_CLIENT "fix the client sending this request; see docs/internals/protocol.md"

/* "field 'F' PROBLEM EXTRA" */
static int bad(struct steward_err *err, const char *field, const char *problem, const char *extra)
{
	return steward_err_set(err, STEWARD_EINVAL, "bad_request", REMEDY_FIX_CLIENT,
			       "field '%s' %s%s", field, problem, extra ? extra : "");
}

static json_t *load(const char *body, size_t len, struct steward_err *err)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		steward_err_set(err, STEWARD_EINVAL, "bad_request", REMEDY_FIX_CLIENT,
				"malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
				jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		steward_err_set(err, STEWARD_EINVAL, "bad_request", REMEDY_FIX_CLIENT,
				"request body must be a JSON object");
		return NULL;
	}
	return root;
}

/* Copy a string field; required fields must be present. */
static int get_str(json_t *obj, const char *key, const char *path, bool required, char *out,
		   size_t outsz, bool printable, struct steward_err *err)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t len;

	out[0] = '\0';
	if (!v || json_is_null(v)) {
		if (required)
			return bad(err, path, "is missing", NULL);
		return 0;
	}
	if (!json_is_string(v))
		return bad(err, path, "must be a string", NULL);
	s = json_string_value(v);
	len = json_string_length(v);
	if (len >= outsz) {
		char lim[64];
		snprintf(lim, sizeof(lim), " (%zu bytes; the limit is %zu)", len, outsz - 1);
		return bad(err, path, "is too long", lim);
	}
	if (strlen(s) != len || (printable && !str_printable(s)))
		return bad(err, path, "contains control characters", NULL);
	memcpy(out, s, len + 1);
	return 0;
}

static int get_int(json_t *obj, const char *key, const char *path, bool required, int64_t min,
		   int64_t max, int64_t *out, struct steward_err *err)
{
	json_t *v = json_object_get(obj, key);
	char lim[96];

	if (!v || json_is_null(v)) {
		if (required)
			return bad(err, path, "is missing", NULL);
		return 0;
	}
	if (!json_is_integer(v))
		return bad(err, path, "must be an integer", NULL);
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(lim, sizeof(lim), " (%lld; allowed %lld to %lld)",
			 (long long)json_integer_value(v), (long long)min, (long long)max);
		return bad(err, path, "is out of range", lim);
	}
	*out = json_integer_value(v);
	return 0;
}

static int get_range(json_t *obj, struct proto_range *out, struct steward_err *err)
{
	json_t *p = json_object_get(obj, "protocol");
	int64_t mn = 0, mx = 0;
	int rc;

	if (!p)
		return bad(err, "protocol", "is missing", NULL);
	if (!json_is_object(p))
		return bad(err, "protocol", "must be an object with min and max", NULL);
	rc = get_int(p, "min", "protocol.min", true, 1, 65535, &mn, err);
	if (!rc)
		rc = get_int(p, "max", "protocol.max", true, 1, 65535, &mx, err);
	if (rc)
		return rc;
	if (mx < mn)
		return bad(err, "protocol", "has max below min", NULL);
	out->min = (int)mn;
	out->max = (int)mx;
	return 0;
}

int proto_enroll_req_parse(const char *body, size_t len, struct proto_enroll_req *out,
			   struct steward_err *err)
{
	json_t *root, *os, *addrs;
	char pkb64[64];
	int rc;

	memset(out, 0, sizeof(*out));
	root = load(body, len, err);
	if (!root)
		return -STEWARD_EINVAL;
	rc = get_str(root, "token", "token", true, out->token, sizeof(out->token), true, err);
	if (!rc)
		rc = get_str(root, "public_key", "public_key", true, pkb64, sizeof(pkb64), true, err);
	if (!rc && b64_decode(pkb64, out->public_key, sizeof(out->public_key)) != PROTO_PK_BYTES)
		rc = bad(err, "public_key", "must be a base64 Ed25519 public key (32 bytes)", NULL);
	if (!rc)
		rc = get_str(root, "hostname", "hostname", true, out->hostname,
			     sizeof(out->hostname), true, err);
	if (!rc && !out->hostname[0])
		rc = bad(err, "hostname", "must not be empty", NULL);
	if (!rc)
		rc = get_str(root, "agent_version", "agent_version", true, out->agent_version,
			     sizeof(out->agent_version), true, err);
	if (!rc)
		rc = get_range(root, &out->protocol, err);
	if (rc)
		goto out;
	os = json_object_get(root, "os");
	if (os && !json_is_object(os)) {
		rc = bad(err, "os", "must be an object", NULL);
		goto out;
	}
	if (os) {
		rc = get_str(os, "name", "os.name", false, out->os_name, sizeof(out->os_name),
			     true, err);
		if (!rc)
			rc = get_str(os, "version", "os.version", false, out->os_version,
				     sizeof(out->os_version), true, err);
		if (rc)
			goto out;
	}
	addrs = json_object_get(root, "addresses");
	if (addrs) {
		size_t i;
		json_t *a;
		if (!json_is_array(addrs)) {
			rc = bad(err, "addresses", "must be an array of strings", NULL);
			goto out;
		}
		if (json_array_size(addrs) > PROTO_ADDRS_MAX) {
			rc = bad(err, "addresses", "has too many entries", " (the limit is 32)");
			goto out;
		}
		json_array_foreach(addrs, i, a) {
			const char *s = json_string_value(a);
			if (!s || strlen(s) > PROTO_ADDR_MAX || !str_printable(s)) {
				rc = bad(err, "addresses", "must hold address strings of at most 64 characters", NULL);
				goto out;
			}
			memcpy(out->addrs[out->n_addrs++], s, strlen(s) + 1);
		}
	}
out:
	json_decref(root);
	return rc;
}

static json_t *range_json(const struct proto_range *r)
{
	return json_pack("{s:i,s:i}", "min", r->min, "max", r->max);
}

char *proto_enroll_req_build(const struct proto_enroll_req *req)
{
	json_t *root, *addrs;
	char *pk, *out;

	pk = b64_encode_new(req->public_key, sizeof(req->public_key));
	if (!pk)
		return NULL;
	addrs = json_array();
	for (int i = 0; i < req->n_addrs; i++)
		json_array_append_new(addrs, json_string(req->addrs[i]));
	root = json_pack("{s:s,s:s,s:s,s:o,s:{s:s,s:s},s:s,s:o}", "token", req->token,
			 "public_key", pk, "hostname", req->hostname, "addresses", addrs, "os",
			 "name", req->os_name, "version", req->os_version, "agent_version",
			 req->agent_version, "protocol", range_json(&req->protocol));
	free(pk);
	if (!root)
		return NULL;
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

static int parse_components(json_t *root, struct proto_checkin_req *out, struct steward_err *err)
{
	json_t *arr = json_object_get(root, "components"), *c;
	size_t i;
	char path[64];
	int rc;

	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return bad(err, "components", "must be an array", NULL);
	if (json_array_size(arr) > PROTO_COMPONENTS_MAX)
		return bad(err, "components", "has too many entries", " (the limit is 32)");
	json_array_foreach(arr, i, c) {
		struct proto_component *pc = &out->components[i];
		if (!json_is_object(c))
			return bad(err, "components", "must hold objects", NULL);
		snprintf(path, sizeof(path), "components[%zu].name", i);
		rc = get_str(c, "name", path, true, pc->name, sizeof(pc->name), true, err);
		if (rc)
			return rc;
		snprintf(path, sizeof(path), "components[%zu].version", i);
		rc = get_str(c, "version", path, true, pc->version, sizeof(pc->version), true, err);
		if (rc)
			return rc;
		out->n_components++;
	}
	return 0;
}

static int parse_status(json_t *root, struct proto_checkin_req *out, struct steward_err *err)
{
	json_t *arr = json_object_get(root, "status"), *s;
	size_t i;
	char path[64];
	int rc;

	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return bad(err, "status", "must be an array", NULL);
	if (json_array_size(arr) > PROTO_STATUS_MAX)
		return bad(err, "status", "has too many entries", " (the limit is 64)");
	json_array_foreach(arr, i, s) {
		struct proto_status_msg *m = &out->status[i];
		if (!json_is_object(s))
			return bad(err, "status", "must hold objects", NULL);
		snprintf(path, sizeof(path), "status[%zu].type", i);
		rc = get_str(s, "type", path, true, m->type, sizeof(m->type), true, err);
		if (rc)
			return rc;
		snprintf(path, sizeof(path), "status[%zu].text", i);
		rc = get_str(s, "text", path, false, m->text, sizeof(m->text), false, err);
		if (rc)
			return rc;
		snprintf(path, sizeof(path), "status[%zu].time", i);
		rc = get_int(s, "time", path, true, 0, 253402300799LL, &m->time, err);
		if (rc)
			return rc;
		out->n_status++;
	}
	return 0;
}

/* "link": {"kbps": N, "rtt_ms": N, "age": N, "metered": B, "via": S}, optional */
static int parse_link(json_t *root, struct proto_link_report *l, struct steward_err *err)
{
	json_t *o = json_object_get(root, "link"), *m;
	int rc;

	if (!o || json_is_null(o))
		return 0;
	if (!json_is_object(o))
		return steward_err_set(err, STEWARD_EINVAL, "bad_request", REMEDY_FIX_CLIENT,
				       "field 'link' must be an object");
	rc = get_int(o, "kbps", "link.kbps", false, 0, PROTO_LINK_KBPS_MAX, &l->kbps, err);
	if (!rc)
		rc = get_int(o, "rtt_ms", "link.rtt_ms", false, 0, PROTO_LINK_RTT_MAX, &l->rtt_ms,
			     err);
	if (!rc)
		rc = get_int(o, "age", "link.age", false, 0, INT64_C(1) << 40, &l->age, err);
	if (!rc)
		rc = get_str(o, "via", "link.via", false, l->via, sizeof(l->via), true, err);
	if (rc)
		return rc;
	m = json_object_get(o, "metered");
	if (m && !json_is_boolean(m))
		return steward_err_set(err, STEWARD_EINVAL, "bad_request", REMEDY_FIX_CLIENT,
				       "field 'link.metered' must be true or false");
	l->metered = json_is_true(m);
	l->present = true;
	return 0;
}

int proto_checkin_req_parse_tree(const char *body, size_t len, struct proto_checkin_req *out,
				 struct steward_err *err)
{
	json_t *root;
	int rc;

	memset(out, 0, offsetof(struct proto_checkin_req, components));
	out->n_components = 0;
	out->n_status = 0;
	out->uptime = 0;
	out->inventory_hash[0] = '\0';
	memset(&out->link, 0, sizeof(out->link));
	root = load(body, len, err);
	if (!root)
		return -STEWARD_EINVAL;
	rc = get_str(root, "agent_version", "agent_version", true, out->agent_version,
		     sizeof(out->agent_version), true, err);
	if (!rc)
		rc = get_range(root, &out->protocol, err);
	if (!rc)
		rc = parse_components(root, out, err);
	if (!rc)
		rc = parse_status(root, out, err);
	if (!rc)
		rc = get_int(root, "uptime", "uptime", false, 0, INT64_C(1) << 40, &out->uptime, err);
	if (!rc)
		rc = get_str(root, "inventory_hash", "inventory_hash", false, out->inventory_hash,
			     sizeof(out->inventory_hash), true, err);
	if (!rc)
		rc = parse_link(root, &out->link, err);
	json_decref(root);
	return rc;
}

/* The common body in one pass (checkin.c); the tree parser for the rest,
 * and for every refusal and its text. */
int proto_checkin_req_parse(const char *body, size_t len, struct proto_checkin_req *out,
			    struct steward_err *err)
{
	if (proto_checkin_req_scan(body, len, out))
		return 0;
	return proto_checkin_req_parse_tree(body, len, out, err);
}

char *proto_checkin_req_build(const struct proto_checkin_req *req)
{
	json_t *root, *comps, *status;
	char *out;

	comps = json_array();
	for (int i = 0; i < req->n_components; i++)
		json_array_append_new(comps, json_pack("{s:s,s:s}", "name", req->components[i].name,
						       "version", req->components[i].version));
	status = json_array();
	for (int i = 0; i < req->n_status; i++)
		json_array_append_new(status, json_pack("{s:s,s:s,s:I}", "type",
							req->status[i].type, "text",
							req->status[i].text, "time",
							(json_int_t)req->status[i].time));
	root = json_pack("{s:s,s:o,s:o,s:o,s:I,s:s}", "agent_version", req->agent_version,
			 "protocol", range_json(&req->protocol), "components", comps, "status",
			 status, "uptime", (json_int_t)req->uptime, "inventory_hash",
			 req->inventory_hash);
	if (root && req->link.present)
		json_object_set_new(root, "link",
				    json_pack("{s:I,s:I,s:I,s:b,s:s}", "kbps",
					      (json_int_t)req->link.kbps, "rtt_ms",
					      (json_int_t)req->link.rtt_ms, "age",
					      (json_int_t)req->link.age, "metered", req->link.metered,
					      "via", req->link.via));
	if (!root)
		return NULL;
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

char *proto_error_body(const struct steward_err *err)
{
	json_t *root = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", err->code, "message",
				 err->message, "remedy", err->remedy);
	char *out;

	if (!root)
		return NULL;
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

int proto_error_parse(const char *body, size_t len, struct steward_err *err)
{
	json_t *root = json_loadb(body, len, 0, NULL), *e;
	int rc = -STEWARD_EINVAL;

	if (!root)
		return rc;
	e = json_object_get(root, "error");
	if (json_is_object(e)) {
		const char *c = json_string_value(json_object_get(e, "code"));
		const char *m = json_string_value(json_object_get(e, "message"));
		const char *r = json_string_value(json_object_get(e, "remedy"));
		snprintf(err->code, sizeof(err->code), "%s", c ? c : "error");
		snprintf(err->message, sizeof(err->message), "%s", m ? m : "");
		snprintf(err->remedy, sizeof(err->remedy), "%s", r ? r : "");
		rc = 0;
	}
	json_decref(root);
	return rc;
}

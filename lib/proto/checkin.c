/* proto/checkin: the check-in body read straight from its text.
 *
 * Every check-in is parsed, so building jansson's tree (a malloc per node,
 * the keys hashed, the tree freed again) was a third of stewardd's CPU in
 * the check-in benchmark. This scanner reads the fields of the body an
 * agent sends (proto_checkin_req_build's shape, in any key order, any JSON
 * whitespace, the short escapes) into the struct in one pass, without
 * allocating.
 *
 * It takes only what it is sure of: a body that is valid JSON, holds only
 * the known keys once each, and passes every check of the tree parser.
 * Anything else (an unknown key, null, a \u escape, a byte outside
 * printable ASCII in a string, a fraction, a number that is too long, any
 * value the tree parser would refuse) makes it give up, and the check-in
 * goes through the tree parser (messages.c), which accepts it or refuses it
 * with its own text. So the fast path changes no result and no refusal: it
 * decides nothing on its own. fuzz_checkin compares the two on every input.
 */
#include <string.h>

#include "steward/proto.h"

struct scan {
	const char *p, *end;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

/* the next non-blank character is c: consume it */
static bool eat(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

/* A string into out (outsz bytes with its NUL). Gives up on a \u escape,
 * a control character, a byte past ASCII and a string that does not fit:
 * the tree parser decides those. */
static bool str(struct scan *s, char *out, size_t outsz)
{
	size_t n = 0;

	if (!eat(s, '"'))
		return false;
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p++;

		if (c == '"') {
			out[n] = '\0';
			return true;
		}
		if (c < 0x20 || c > 0x7e)
			return false;
		if (c == '\\') {
			if (s->p >= s->end)
				return false;
			switch (*s->p++) {
			case '"':
				c = '"';
				break;
			case '\\':
				c = '\\';
				break;
			case '/':
				c = '/';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			default:
				return false;
			}
		}
		if (n + 1 >= outsz)
			return false;
		out[n++] = (char)c;
	}
	return false;
}

/* A printable string (the fields the tree parser checks with str_printable) */
static bool pstr(struct scan *s, char *out, size_t outsz)
{
	return str(s, out, outsz) && str_printable(out);
}

/* A non-negative integer within [min, max]: no sign, no leading zero, no
 * fraction or exponent, at most 18 digits (it fits in an int64_t). */
static bool num(struct scan *s, int64_t min, int64_t max, int64_t *out)
{
	int64_t v = 0;
	int digits = 0;

	skip_ws(s);
	if (s->p < s->end && *s->p == '0' && s->p + 1 < s->end && s->p[1] >= '0' && s->p[1] <= '9')
		return false;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		if (++digits > 18)
			return false;
		v = v * 10 + (*s->p++ - '0');
	}
	if (!digits || (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')))
		return false;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* An object's members: calls member(key) for each; each key at most once,
 * known keys only (member gives up on the others). KEYS names the bits. */
#define KEY_MAX 16

static bool key(struct scan *s, char *k)
{
	return str(s, k, KEY_MAX) && eat(s, ':');
}

/* after a member or an element: true with *more set, false on bad syntax */
static bool next(struct scan *s, char close, bool *more)
{
	if (eat(s, ',')) {
		*more = true;
		return true;
	}
	*more = false;
	return eat(s, close);
}

static bool protocol(struct scan *s, struct proto_range *r)
{
	char k[KEY_MAX];
	int64_t mn = 0, mx = 0;
	unsigned seen = 0;
	bool more = true;

	if (!eat(s, '{') || eat(s, '}'))
		return false;
	while (more) {
		unsigned bit;
		if (!key(s, k))
			return false;
		if (!strcmp(k, "min"))
			bit = 1, more = num(s, 1, 65535, &mn);
		else if (!strcmp(k, "max"))
			bit = 2, more = num(s, 1, 65535, &mx);
		else
			return false;
		if (!more || (seen & bit) || !next(s, '}', &more))
			return false;
		seen |= bit;
	}
	if (seen != 3 || mx < mn)
		return false;
	r->min = (int)mn;
	r->max = (int)mx;
	return true;
}

static bool component(struct scan *s, struct proto_component *c)
{
	char k[KEY_MAX];
	unsigned seen = 0;
	bool more = true;

	if (!eat(s, '{') || eat(s, '}'))
		return false;
	while (more) {
		unsigned bit;
		if (!key(s, k))
			return false;
		if (!strcmp(k, "name"))
			bit = 1, more = pstr(s, c->name, sizeof(c->name));
		else if (!strcmp(k, "version"))
			bit = 2, more = pstr(s, c->version, sizeof(c->version));
		else
			return false;
		if (!more || (seen & bit) || !next(s, '}', &more))
			return false;
		seen |= bit;
	}
	return seen == 3;
}

static bool status_msg(struct scan *s, struct proto_status_msg *m)
{
	char k[KEY_MAX];
	unsigned seen = 0;
	bool more = true;

	m->text[0] = '\0';
	if (!eat(s, '{') || eat(s, '}'))
		return false;
	while (more) {
		unsigned bit;
		if (!key(s, k))
			return false;
		if (!strcmp(k, "type"))
			bit = 1, more = pstr(s, m->type, sizeof(m->type));
		else if (!strcmp(k, "text"))
			bit = 2, more = str(s, m->text, sizeof(m->text));
		else if (!strcmp(k, "time"))
			bit = 4, more = num(s, 0, 253402300799LL, &m->time);
		else
			return false;
		if (!more || (seen & bit) || !next(s, '}', &more))
			return false;
		seen |= bit;
	}
	return (seen & 5) == 5;
}

static bool boolean(struct scan *s, bool *out)
{
	skip_ws(s);
	if (s->end - s->p >= 4 && !memcmp(s->p, "true", 4)) {
		s->p += 4;
		*out = true;
		return true;
	}
	if (s->end - s->p >= 5 && !memcmp(s->p, "false", 5)) {
		s->p += 5;
		*out = false;
		return true;
	}
	return false;
}

static bool link_report(struct scan *s, struct proto_link_report *l)
{
	char k[KEY_MAX];
	unsigned seen = 0;
	bool more = true;

	if (!eat(s, '{'))
		return false;
	if (eat(s, '}'))
		more = false;
	while (more) {
		unsigned bit;
		if (!key(s, k))
			return false;
		if (!strcmp(k, "kbps"))
			bit = 1, more = num(s, 0, PROTO_LINK_KBPS_MAX, &l->kbps);
		else if (!strcmp(k, "rtt_ms"))
			bit = 2, more = num(s, 0, PROTO_LINK_RTT_MAX, &l->rtt_ms);
		else if (!strcmp(k, "age"))
			bit = 4, more = num(s, 0, INT64_C(1) << 40, &l->age);
		else if (!strcmp(k, "metered"))
			bit = 8, more = boolean(s, &l->metered);
		else if (!strcmp(k, "via"))
			bit = 16, more = pstr(s, l->via, sizeof(l->via));
		else
			return false;
		if (!more || (seen & bit) || !next(s, '}', &more))
			return false;
		seen |= bit;
	}
	l->present = true;
	return true;
}

/* "[" elem ("," elem)* "]" or "[]", at most max elements; *n counts them */
#define ARRAY(s, max, n, elem)                                                                     \
	do {                                                                                       \
		bool more_ = true;                                                                 \
		if (!eat(s, '['))                                                                  \
			return false;                                                              \
		if (eat(s, ']'))                                                                   \
			more_ = false;                                                             \
		while (more_) {                                                                    \
			if (*(n) >= (max) || !(elem) || !next(s, ']', &more_))                     \
				return false;                                                      \
			(*(n))++;                                                                  \
		}                                                                                  \
	} while (0)

enum {
	F_AGENT_VERSION = 1,
	F_PROTOCOL = 2,
	F_COMPONENTS = 4,
	F_STATUS = 8,
	F_UPTIME = 16,
	F_INVENTORY_HASH = 32,
	F_LINK = 64,
};

/* The fields of one member of the body; false to give up. */
static bool member(struct scan *s, const char *k, struct proto_checkin_req *out, unsigned *bit)
{
	if (!strcmp(k, "agent_version")) {
		*bit = F_AGENT_VERSION;
		return pstr(s, out->agent_version, sizeof(out->agent_version));
	}
	if (!strcmp(k, "protocol")) {
		*bit = F_PROTOCOL;
		return protocol(s, &out->protocol);
	}
	if (!strcmp(k, "components")) {
		*bit = F_COMPONENTS;
		ARRAY(s, PROTO_COMPONENTS_MAX, &out->n_components,
		      component(s, &out->components[out->n_components]));
		return true;
	}
	if (!strcmp(k, "status")) {
		*bit = F_STATUS;
		ARRAY(s, PROTO_STATUS_MAX, &out->n_status,
		      status_msg(s, &out->status[out->n_status]));
		return true;
	}
	if (!strcmp(k, "uptime")) {
		*bit = F_UPTIME;
		return num(s, 0, INT64_C(1) << 40, &out->uptime);
	}
	if (!strcmp(k, "inventory_hash")) {
		*bit = F_INVENTORY_HASH;
		return pstr(s, out->inventory_hash, sizeof(out->inventory_hash));
	}
	if (!strcmp(k, "link")) {
		*bit = F_LINK;
		return link_report(s, &out->link);
	}
	return false;
}

bool proto_checkin_req_scan(const char *body, size_t len, struct proto_checkin_req *out)
{
	struct scan s = {body, body + len};
	char k[KEY_MAX];
	unsigned seen = 0, bit = 0;
	bool more = true;

	memset(out, 0, offsetof(struct proto_checkin_req, components));
	out->n_components = 0;
	out->n_status = 0;
	out->uptime = 0;
	out->inventory_hash[0] = '\0';
	memset(&out->link, 0, sizeof(out->link));
	if (!body || !eat(&s, '{') || eat(&s, '}'))
		return false;
	while (more) {
		if (!key(&s, k) || !member(&s, k, out, &bit) || (seen & bit) ||
		    !next(&s, '}', &more))
			return false;
		seen |= bit;
	}
	skip_ws(&s);
	return s.p == s.end &&
	       (seen & (F_AGENT_VERSION | F_PROTOCOL)) == (F_AGENT_VERSION | F_PROTOCOL);
}

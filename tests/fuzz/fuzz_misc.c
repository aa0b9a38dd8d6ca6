/* fuzz_misc: the small text parsers of outside input, all on the same input.
 *
 *   proto_range_parse    Steward-Protocol header ("1-3")
 *   proto_semver_parse   Steward-Version header, agent_version ("0.1.0")
 *   time_parse_duration  durations in the configuration and flags ("15m")
 *   core_boundary_parse  boundary lines ("10.1.0.0/16 ABC")
 *   core_addr_parse      addresses agents report
 *   log_level_parse      log_level setting and --log-level
 *   proto_client_id_valid, proto_site_code_valid   headers and bodies
 *   proto_error_parse    error bodies read by the agent, stewardctl and the sim
 *   proto_enroll_token_parse  --enroll-token, bootstrap.sh's --token
 *   tls_pin_parse        pins in tokens, settings, trust files, reply headers
 *   tls_url_origin       the origin every pin is kept under
 *   tls_trust_text_each  the trust file and DATA_DIR/peers.trust
 *
 * The text parsers see the input up to its first NUL (they take C strings);
 * proto_error_parse sees all of it. Each accepted value is formatted back to
 * canonical text, which must parse to the same value.
 */
#include <arpa/inet.h>

#include "fuzz.h"

#include "steward/core.h"
#include "steward/tls.h"

static void fuzz_range(const char *s)
{
	struct proto_range r, back;
	char text[24];

	if (proto_range_parse(s, &r) != 0)
		return;
	FUZZ_CHECK(r.min >= 1 && r.min <= r.max && r.max <= 100000);
	proto_range_format(&r, text);
	FUZZ_CHECK(proto_range_parse(text, &back) == 0);
	FUZZ_CHECK(back.min == r.min && back.max == r.max);
}

static void fuzz_semver(const char *s)
{
	int v[3], back[3];
	char text[48];

	if (proto_semver_parse(s, &v[0], &v[1], &v[2]) != 0) {
		FUZZ_CHECK(proto_semver_cmp(s, "0.0.0") < 0); /* unparseable sorts first */
		return;
	}
	for (int i = 0; i < 3; i++)
		FUZZ_CHECK(v[i] >= 0 && v[i] <= 100000);
	snprintf(text, sizeof(text), "%d.%d.%d", v[0], v[1], v[2]);
	FUZZ_CHECK(proto_semver_parse(text, &back[0], &back[1], &back[2]) == 0);
	FUZZ_CHECK(memcmp(v, back, sizeof(v)) == 0);
	FUZZ_CHECK(proto_semver_cmp(s, text) == 0 && proto_semver_cmp(s, s) == 0);
}

static void fuzz_duration(const char *s)
{
	int64_t secs, back;
	char text[32];

	if (time_parse_duration(s, &secs) != 0)
		return;
	FUZZ_CHECK(secs >= 0);
	snprintf(text, sizeof(text), "%llds", (long long)secs);
	FUZZ_CHECK(time_parse_duration(text, &back) == 0 && back == secs);
}

static void fuzz_addr(const char *s)
{
	uint8_t a[16], back[16];
	char text[INET6_ADDRSTRLEN];
	int family = core_addr_parse(s, a);

	if (family == 0)
		return;
	FUZZ_CHECK(family == 4 || family == 6);
	FUZZ_CHECK(inet_ntop(family == 4 ? AF_INET : AF_INET6, a, text, sizeof(text)) != NULL);
	FUZZ_CHECK(core_addr_parse(text, back) == family);
	FUZZ_CHECK(memcmp(a, back, family == 4 ? 4 : 16) == 0);
}

static void fuzz_boundary(const char *s)
{
	struct core_boundary b, back;
	char msg[200], addr[INET6_ADDRSTRLEN], text[96];
	const char *addrs[1];
	const char *site;

	memset(msg, 0x5a, sizeof(msg));
	if (core_boundary_parse(s, &b, msg, sizeof(msg)) != 0) {
		FUZZ_CHECK(FUZZ_TERMINATED(msg) && msg[0] != '\0');
		return;
	}
	FUZZ_CHECK(b.family == 4 || b.family == 6);
	FUZZ_CHECK(b.prefix >= 0 && b.prefix <= (b.family == 4 ? 32 : 128));
	FUZZ_CHECK(proto_site_code_valid(b.site));
	FUZZ_CHECK(inet_ntop(b.family == 4 ? AF_INET : AF_INET6, b.addr, addr, sizeof(addr)));
	FUZZ_CHECK(b.link_class >= 0 && b.link_class < CORE_LC_N);
	FUZZ_CHECK(!b.final || b.link_class > 0);
	snprintf(text, sizeof(text), "%s/%d %s %s%s", addr, b.prefix, b.site,
		 core_link_class_name(b.link_class), b.final ? " final" : "");
	memset(&back, 0, sizeof(back));
	FUZZ_CHECK(core_boundary_parse(text, &back, msg, sizeof(msg)) == 0);
	FUZZ_CHECK(back.family == b.family && back.prefix == b.prefix &&
		   memcmp(back.addr, b.addr, sizeof(b.addr)) == 0 &&
		   strcmp(back.site, b.site) == 0 && back.link_class == b.link_class &&
		   back.final == b.final);
	/* the network's own address lies inside it */
	addrs[0] = addr;
	site = core_boundary_assign(&b, 1, addrs, 1);
	FUZZ_CHECK(site != NULL && strcmp(site, b.site) == 0);
}

static void fuzz_error(const uint8_t *data, size_t size)
{
	struct steward_err err, back;
	char *body;

	memset(&err, 0x5a, sizeof(err));
	if (proto_error_parse((const char *)data, size, &err) != 0)
		return;
	FUZZ_CHECK(FUZZ_TERMINATED(err.code) && FUZZ_TERMINATED(err.message) &&
		   FUZZ_TERMINATED(err.remedy));
	/* Echoing it back can fail only when truncation split a UTF-8
	 * sequence; with the server's fallback message it must work. */
	body = proto_error_body(&err);
	if (!body) {
		snprintf(err.message, sizeof(err.message), "(message not representable)");
		body = proto_error_body(&err);
	}
	if (!body) /* the code or remedy was cut mid-character too */
		return;
	memset(&back, 0, sizeof(back));
	FUZZ_CHECK(proto_error_parse(body, strlen(body), &back) == 0);
	FUZZ_CHECK(strcmp(back.code, err.code) == 0 && strcmp(back.message, err.message) == 0 &&
		   strcmp(back.remedy, err.remedy) == 0);
	free(body);
}

static void fuzz_enroll_token(const char *s)
{
	struct proto_enroll_token t, back;
	struct steward_err err;
	char text[PROTO_TOKEN_MAX + 1];

	if (proto_enroll_token_parse(s, &t, &err) != 0) {
		FUZZ_CHECK(strcmp(err.code, "token_malformed") == 0);
		return;
	}
	FUZZ_CHECK(t.secret[0] != '\0');
	FUZZ_CHECK(!t.fp[0] || strlen(t.fp) == PROTO_FP_HEX);
	FUZZ_CHECK(!t.pin[0] || (t.fp[0] && strlen(t.pin) == PROTO_PIN_HEX));
	if (!t.fp[0])
		return; /* a bare secret has no other form */
	FUZZ_CHECK(proto_enroll_token_format(t.secret, t.fp, t.pin, text, sizeof(text)) == 0);
	FUZZ_CHECK(proto_enroll_token_parse(text, &back, &err) == 0);
	FUZZ_CHECK(memcmp(&t, &back, sizeof(t)) == 0);
}

static void fuzz_pin(const char *s)
{
	uint8_t pin[TLS_PIN_BYTES], back[TLS_PIN_BYTES];
	char text[TLS_PIN_TEXT_MAX + 1], origin[TLS_ORIGIN_MAX], again[TLS_ORIGIN_MAX];

	if (tls_pin_parse(s, pin) == 0) {
		tls_pin_format(pin, text, sizeof(text));
		FUZZ_CHECK(strlen(text) == TLS_PIN_TEXT_MAX);
		FUZZ_CHECK(tls_pin_parse(text, back) == 0 && memcmp(pin, back, sizeof(pin)) == 0);
	}
	if (tls_url_origin(s, origin, sizeof(origin)) == 0) {
		/* an origin is its own origin */
		FUZZ_CHECK(tls_url_origin(origin, again, sizeof(again)) == 0);
		FUZZ_CHECK(strcmp(origin, again) == 0);
		FUZZ_CHECK(tls_url_is_https(origin) == tls_url_is_https(s));
	}
}

static void count_line(const char *origin, const uint8_t pin[TLS_PIN_BYTES], void *arg)
{
	(void)pin;
	FUZZ_CHECK(strlen(origin) < TLS_ORIGIN_MAX);
	(*(int *)arg)++;
}

static void fuzz_trust_text(const char *s)
{
	int seen = 0, n = tls_trust_text_each(s, count_line, &seen);

	FUZZ_CHECK(n == seen && n >= 0);
}

/* A link policy (--links): what parses formats to a canonical text that
 * parses to the same policy; a refusal says why. */
static void fuzz_link_policy(const char *s)
{
	struct core_link_policy p = {.deadline = 5}, back = {.deadline = 5};
	char msg[256], text[CORE_LINK_POLICY_TEXT_MAX + 1], why[400];

	memset(msg, 0x5a, sizeof(msg));
	if (core_link_policy_parse(s, &p, msg, sizeof(msg)) != 0) {
		FUZZ_CHECK(FUZZ_TERMINATED(msg) && msg[0] != '\0');
		return;
	}
	FUZZ_CHECK(p.deadline == 5);
	core_link_policy_format(&p, text, sizeof(text));
	FUZZ_CHECK(core_link_policy_parse(text, &back, msg, sizeof(msg)) == 0);
	FUZZ_CHECK(memcmp(p.act, back.act, sizeof(p.act)) == 0);
	for (int c = 0; c < CORE_LC_N; c++) {
		enum core_link_verdict v = core_link_gate(&p, c, 10, c & 1, c & 2, s, why, sizeof(why));

		FUZZ_CHECK(v == CORE_LINK_GO || FUZZ_TERMINATED(why));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum log_level lvl;
	char *s;

	fuzz_init();
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	fuzz_range(s);
	fuzz_semver(s);
	fuzz_duration(s);
	fuzz_addr(s);
	fuzz_boundary(s);
	fuzz_link_policy(s);
	if (log_level_parse(s, &lvl) == 0)
		FUZZ_CHECK(lvl >= LOG_DEBUG && lvl <= LOG_ERROR);
	if (proto_client_id_valid(s))
		FUZZ_CHECK(strlen(s) == PROTO_CLIENT_ID_HEX);
	if (proto_site_code_valid(s))
		FUZZ_CHECK(strlen(s) == PROTO_SITE_CODE_LEN);
	fuzz_error(data, size);
	fuzz_enroll_token(s);
	fuzz_pin(s);
	fuzz_trust_text(s);

	free(s);
	return 0;
}

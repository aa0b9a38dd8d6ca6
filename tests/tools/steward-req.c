/* steward-req: send one agent-authenticated request, for the system tests.
 *
 * The bash tests use it to craft what a real agent never sends: replayed
 * sequence numbers, skewed timestamps, tampered bodies, wrong signatures and
 * MACs, foreign protocol ranges. It signs with lib/proto exactly as the agent
 * does (proto_auth_build), then breaks the one thing it was asked to break.
 *
 *   steward-req --gen-key FILE                 new key (0600); prints its public key
 *   steward-req --key FILE --print-pubkey      the key's public key (base64)
 *   steward-req --server URL --path P --key FILE [options]
 *
 * With --as-site CODE it speaks for a site on a site link instead (the key
 * is then a site.key): Steward-Site, the canonical string of "site:CODE";
 * --zstd compresses the body into one zstd frame first, as a batch is.
 *
 * --save-request FILE also writes the request it sends, as the raw HTTP/1.1
 * bytes (request line, Host, the authentication headers, Content-Length,
 * body), so a test can capture a request and replay the very same bytes
 * later with steward-rawhttp --send-file (test_replay.sh).
 *
 * Prints "STATUS BODY" on one line with --print-status (exit 0 whenever an
 * HTTP reply arrived), else only the body (exit 0 on 2xx, 1 otherwise).
 * Exit 2: usage; 3: no HTTP reply (or the session could not be opened).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>

#include <jansson.h>
#include <sodium.h>

#include "steward/net.h"
#include "steward/tls.h"
#include "steward/proto.h"

#define REQ_BODY_MAX (64u * 1024 * 1024)
#define REQ_EXTRA_HEADERS 8
#define REQ_REPLY_MAX (16u * 1024 * 1024)

enum { EXIT_HTTP = 1, EXIT_USAGE = 2, EXIT_TRANSPORT = 3 };

struct opts {
	const char *server;
	const char *method;
	const char *path;
	const char *key_file;
	const char *gen_key;
	const char *client;
	const char *body;
	const char *body_file;
	const char *protocol;
	const char *as_site;
	const char *save_request;
	bool zstd;
	const char *extra[REQ_EXTRA_HEADERS];
	int n_extra;
	bool have_seq, have_ts, session, tamper, bad_auth, print_status, print_pubkey;
	uint64_t seq;
	int64_t ts, ts_offset;
	long timeout_ms;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: steward-req --gen-key FILE\n"
		"       steward-req --key FILE --print-pubkey\n"
		"       steward-req --server URL --path PATH --key FILE [options]\n"
		"\n"
		"  --method M            HTTP method (default POST)\n"
		"  --client ID|-         Steward-Client (default '-', as when enrolling)\n"
		"  --seq N               Steward-Seq (default: unix ms + 1)\n"
		"  --ts N                Steward-Timestamp (default: now)\n"
		"  --ts-offset S         add S seconds (may be negative) to the timestamp\n"
		"  --body STRING         request body (default empty)\n"
		"  --body-file F         request body from a file ('-' for stdin)\n"
		"  --session-from-site   open a session (signed POST /api/v1/session with seq N-1)\n"
		"                        and MAC the request with its key instead of signing\n"
		"  --tamper-body         authenticate the body, then send it with a byte added\n"
		"  --bad-signature       sign (or MAC) with a random key instead of the real one\n"
		"  --bad-mac             same as --bad-signature\n"
		"  --protocol RANGE      send Steward-Protocol: RANGE instead of this build's\n"
		"  --header 'N: V'       extra request header (repeatable, at most %d)\n"
		"  --timeout-ms N        whole request (default 10000)\n"
		"  --print-status        print 'STATUS BODY' and exit 0 for any HTTP reply\n"
		"  --as-site CODE        sign as site CODE on a site link (Steward-Site)\n"
		"  --zstd                compress the body into one zstd frame before signing\n"
		"  --save-request FILE   also write the request as raw HTTP/1.1 bytes (0600),\n"
		"                        for steward-rawhttp --send-file to replay\n",
		REQ_EXTRA_HEADERS);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_i64(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (!s || !((*s >= '0' && *s <= '9') || *s == '-'))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum {
		O_SERVER = 256, O_METHOD, O_PATH, O_KEY, O_GEN_KEY, O_CLIENT, O_SEQ, O_TS,
		O_TS_OFFSET, O_BODY, O_BODY_FILE, O_SESSION, O_TAMPER, O_BAD, O_PROTOCOL,
		O_HEADER, O_TIMEOUT, O_PRINT_STATUS, O_PRINT_PUBKEY, O_HELP, O_AS_SITE, O_ZSTD,
		O_SAVE_REQUEST,
	};
	static const struct option longopts[] = {
	    {"server", required_argument, NULL, O_SERVER},
	    {"method", required_argument, NULL, O_METHOD},
	    {"path", required_argument, NULL, O_PATH},
	    {"key", required_argument, NULL, O_KEY},
	    {"gen-key", required_argument, NULL, O_GEN_KEY},
	    {"client", required_argument, NULL, O_CLIENT},
	    {"seq", required_argument, NULL, O_SEQ},
	    {"ts", required_argument, NULL, O_TS},
	    {"ts-offset", required_argument, NULL, O_TS_OFFSET},
	    {"body", required_argument, NULL, O_BODY},
	    {"body-file", required_argument, NULL, O_BODY_FILE},
	    {"session-from-site", no_argument, NULL, O_SESSION},
	    {"tamper-body", no_argument, NULL, O_TAMPER},
	    {"bad-signature", no_argument, NULL, O_BAD},
	    {"bad-mac", no_argument, NULL, O_BAD},
	    {"protocol", required_argument, NULL, O_PROTOCOL},
	    {"header", required_argument, NULL, O_HEADER},
	    {"timeout-ms", required_argument, NULL, O_TIMEOUT},
	    {"print-status", no_argument, NULL, O_PRINT_STATUS},
	    {"print-pubkey", no_argument, NULL, O_PRINT_PUBKEY},
	    {"help", no_argument, NULL, O_HELP},
	    {"as-site", required_argument, NULL, O_AS_SITE},
	    {"zstd", no_argument, NULL, O_ZSTD},
	    {"save-request", required_argument, NULL, O_SAVE_REQUEST},
	    {NULL, 0, NULL, 0},
	};
	uint64_t u;
	int c;

	memset(o, 0, sizeof(*o));
	o->method = "POST";
	o->client = "-";
	o->timeout_ms = 10000;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_SERVER: o->server = optarg; break;
		case O_METHOD: o->method = optarg; break;
		case O_PATH: o->path = optarg; break;
		case O_KEY: o->key_file = optarg; break;
		case O_GEN_KEY: o->gen_key = optarg; break;
		case O_CLIENT: o->client = optarg; break;
		case O_SEQ:
			if (parse_u64(optarg, &o->seq) || o->seq == 0) {
				fprintf(stderr, "steward-req: --seq needs a number above 0\n");
				return -1;
			}
			o->have_seq = true;
			break;
		case O_TS:
			if (parse_i64(optarg, &o->ts)) {
				fprintf(stderr, "steward-req: --ts needs unix seconds\n");
				return -1;
			}
			o->have_ts = true;
			break;
		case O_TS_OFFSET:
			if (parse_i64(optarg, &o->ts_offset)) {
				fprintf(stderr, "steward-req: --ts-offset needs seconds\n");
				return -1;
			}
			break;
		case O_BODY: o->body = optarg; break;
		case O_BODY_FILE: o->body_file = optarg; break;
		case O_SESSION: o->session = true; break;
		case O_TAMPER: o->tamper = true; break;
		case O_BAD: o->bad_auth = true; break;
		case O_PROTOCOL: o->protocol = optarg; break;
		case O_HEADER:
			if (o->n_extra >= REQ_EXTRA_HEADERS || !strchr(optarg, ':')) {
				fprintf(stderr, "steward-req: --header 'Name: value', at most %d\n",
					REQ_EXTRA_HEADERS);
				return -1;
			}
			o->extra[o->n_extra++] = optarg;
			break;
		case O_TIMEOUT:
			if (parse_u64(optarg, &u) || u == 0 || u > 600000) {
				fprintf(stderr, "steward-req: --timeout-ms needs 1..600000\n");
				return -1;
			}
			o->timeout_ms = (long)u;
			break;
		case O_PRINT_STATUS: o->print_status = true; break;
		case O_PRINT_PUBKEY: o->print_pubkey = true; break;
		case O_HELP: usage(stdout); exit(0);
		case O_AS_SITE: o->as_site = optarg; break;
		case O_ZSTD: o->zstd = true; break;
		case O_SAVE_REQUEST: o->save_request = optarg; break;
		default: return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "steward-req: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->body && o->body_file) {
		fprintf(stderr, "steward-req: give --body or --body-file, not both\n");
		return -1;
	}
	if (o->gen_key)
		return 0;
	if (!o->key_file) {
		fprintf(stderr, "steward-req: --key FILE is required\n");
		return -1;
	}
	if (o->print_pubkey)
		return 0;
	if (!o->server || !o->path || o->path[0] != '/') {
		fprintf(stderr, "steward-req: --server URL and --path /... are required\n");
		return -1;
	}
	if (o->have_seq && o->session && o->seq < 2) {
		fprintf(stderr, "steward-req: with --session-from-site, --seq must be at least 2\n");
		return -1;
	}
	return 0;
}

static int print_pubkey(const struct proto_keypair *kp)
{
	char *b64 = b64_encode_new(kp->pk, sizeof(kp->pk));

	if (!b64)
		return EXIT_TRANSPORT;
	printf("%s\n", b64);
	free(b64);
	return 0;
}

static int gen_key(const char *path)
{
	struct proto_keypair kp;
	int rc = proto_keypair_new(&kp);

	if (!rc)
		rc = file_write_atomic(path, kp.sk, sizeof(kp.sk), 0600);
	if (rc) {
		fprintf(stderr, "steward-req: cannot write %s: %s\n", path, steward_strerror(rc));
		return EXIT_USAGE;
	}
	rc = print_pubkey(&kp);
	sodium_memzero(&kp, sizeof(kp));
	return rc;
}

/* The agent's client.key: 64 bytes, libsodium's Ed25519 secret key layout. */
static int load_key(const char *path, struct proto_keypair *kp)
{
	char *data = NULL;
	size_t len = 0;
	int rc = file_read_all(path, 4096, &data, &len);

	if (rc || len != PROTO_SK_BYTES) {
		fprintf(stderr, "steward-req: %s is not a 64-byte Ed25519 secret key (%s)\n", path,
			rc ? steward_strerror(rc) : "wrong size");
		if (data)
			sodium_memzero(data, len);
		free(data);
		return -1;
	}
	memcpy(kp->sk, data, PROTO_SK_BYTES);
	sodium_memzero(data, len);
	free(data);
	crypto_sign_ed25519_sk_to_pk(kp->pk, kp->sk);
	return 0;
}

static int load_body(const struct opts *o, char **out, size_t *len)
{
	int rc;

	*out = NULL;
	*len = 0;
	if (o->body_file) {
		if (strcmp(o->body_file, "-") == 0)
			rc = file_read_all("/dev/stdin", REQ_BODY_MAX, out, len);
		else
			rc = file_read_all(o->body_file, REQ_BODY_MAX, out, len);
		if (rc) {
			fprintf(stderr, "steward-req: cannot read %s: %s\n", o->body_file,
				steward_strerror(rc));
			return -1;
		}
		return 0;
	}
	*out = strdup(o->body ? o->body : "");
	*len = o->body ? strlen(o->body) : 0;
	return *out ? 0 : -1;
}

/* Swap the value of header NAME in a built header list (in place). */
static void set_header(struct proto_auth *auth, const char *name, const char *value)
{
	size_t nl = strlen(name);

	for (int i = 0; i < PROTO_AUTH_HEADERS; i++)
		if (strncasecmp(auth->lines[i], name, nl) == 0 && auth->lines[i][nl] == ':') {
			snprintf(auth->lines[i], sizeof(auth->lines[i]), "%s: %s", name, value);
			return;
		}
}

static int call(const struct opts *o, const char *method, const char *path,
		const struct proto_auth *auth, const char *body, size_t body_len,
		struct http_resp *resp)
{
	const char *headers[PROTO_AUTH_HEADERS + REQ_EXTRA_HEADERS + 2];
	char url[2048];
	struct steward_err err = {.code = ""};
	struct http_call c;
	int n = 0;

	if ((size_t)snprintf(url, sizeof(url), "%s%s", o->server, path) >= sizeof(url)) {
		fprintf(stderr, "steward-req: URL too long\n");
		return -1;
	}
	for (int i = 0; auth->list[i]; i++)
		headers[n++] = auth->list[i];
	for (int i = 0; i < o->n_extra; i++)
		headers[n++] = o->extra[i];
	headers[n] = NULL;
	memset(&c, 0, sizeof(c));
	c.method = method;
	c.url = url;
	c.headers = headers;
	c.body = body_len ? body : NULL; /* no body: http_call sends none on GET */
	c.body_len = body_len;
	c.timeout_ms = o->timeout_ms;
	c.max_response = REQ_REPLY_MAX;
	if (http_call(&c, resp, &err)) {
		fprintf(stderr, "steward-req: %s %s: %s: %s\n", method, url, err.code, err.message);
		return -1;
	}
	return 0;
}

#define REQ_SAVED_HEAD_MAX 16384

/* The request as raw HTTP/1.1 bytes: what http_call sends, less what
 * libcurl adds on its own that the site does not read (Accept, Expect). */
static int save_request(const struct opts *o, const struct proto_auth *auth, const char *body,
			size_t body_len)
{
	const char *host = strstr(o->server, "://");
	char head[REQ_SAVED_HEAD_MAX], *out = NULL;
	size_t hlen, hostlen;
	int n, rc;

	host = host ? host + 3 : o->server;
	hostlen = strcspn(host, "/");
	n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %.*s\r\n", o->method, o->path,
		     (int)hostlen, host);
	for (int i = 0; n > 0 && (size_t)n < sizeof(head) && auth->list[i]; i++)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "%s\r\n", auth->list[i]);
	for (int i = 0; n > 0 && (size_t)n < sizeof(head) && i < o->n_extra; i++)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "%s\r\n", o->extra[i]);
	if (n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
	if (n <= 0 || (size_t)n >= sizeof(head)) {
		fprintf(stderr, "steward-req: the request head is too long to save\n");
		return -1;
	}
	hlen = (size_t)n;
	out = malloc(hlen + body_len);
	if (!out)
		return -1;
	memcpy(out, head, hlen);
	memcpy(out + hlen, body, body_len);
	rc = file_write_atomic(o->save_request, out, hlen + body_len, 0600);
	free(out);
	if (rc) {
		fprintf(stderr, "steward-req: cannot write %s: %s\n", o->save_request,
			steward_strerror(rc));
		return -1;
	}
	return 0;
}

/* Open a session the way the agent does; fills the key and epoch. */
static int open_session(const struct opts *o, const struct proto_keypair *kp, uint64_t seq,
			uint8_t key[PROTO_SESSION_KEY_BYTES], uint64_t *epoch)
{
	static const char path[] = "/api/v1/session", body[] = "{}";
	struct proto_auth auth;
	struct http_resp resp;
	json_t *root = NULL, *e;
	int rc = -1;

	http_resp_init(&resp);
	if (proto_auth_build(&auth, "POST", path, o->client, time_now_s(), seq, body,
			     strlen(body), kp, NULL, 0))
		goto out;
	if (call(o, "POST", path, &auth, body, strlen(body), &resp))
		goto out;
	if (resp.status != 200) {
		fprintf(stderr, "steward-req: opening the session: HTTP %ld %s\n", resp.status,
			resp.body.data ? resp.body.data : "");
		goto out;
	}
	root = json_loadb(resp.body.data, resp.body.len, 0, NULL);
	e = json_object_get(root, "epoch");
	if (!json_is_integer(e) || json_integer_value(e) < 0 ||
	    proto_open_session_key(kp, json_string_value(json_object_get(root, "sealed_key")),
				   key)) {
		fprintf(stderr, "steward-req: the session reply is unusable: %s\n",
			resp.body.data ? resp.body.data : "");
		goto out;
	}
	*epoch = (uint64_t)json_integer_value(e);
	rc = 0;
out:
	json_decref(root);
	http_resp_free(&resp);
	return rc;
}

static void print_reply(const struct opts *o, const struct http_resp *resp)
{
	char *body = resp->body.data ? resp->body.data : (char *)"";

	/* one line, so "STATUS BODY" splits on the first space */
	for (char *p = body; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (o->print_status)
		printf("%ld %s\n", resp->status, body);
	else
		printf("%s\n", body);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct proto_keypair kp, other;
	struct proto_auth auth;
	struct http_resp resp;
	uint8_t skey[PROTO_SESSION_KEY_BYTES];
	uint64_t epoch = 0, seq;
	int64_t ts;
	char *body = NULL, *sent = NULL;
	size_t body_len = 0, sent_len;
	int rc = EXIT_USAGE;

	tls_set_trust_lookup(tls_trust_file_lookup, NULL); /* the tests' trust file */

	if (proto_init() || http_client_global_init()) {
		fprintf(stderr, "steward-req: cannot initialise libsodium or libcurl\n");
		return EXIT_TRANSPORT;
	}
	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o.gen_key)
		return gen_key(o.gen_key);
	if (load_key(o.key_file, &kp))
		return EXIT_USAGE;
	if (o.print_pubkey) {
		rc = print_pubkey(&kp);
		goto out;
	}
	if (load_body(&o, &body, &body_len))
		goto out;
	if (o.zstd) {
		uint8_t *z = NULL;
		size_t zlen = 0;

		if (proto_batch_compress(body, body_len, &z, &zlen)) {
			fprintf(stderr, "steward-req: cannot compress the body\n");
			goto out;
		}
		free(body);
		body = (char *)z;
		body_len = zlen;
	}
	if (o.as_site) {
		static char who[16];

		snprintf(who, sizeof(who), "site:%.8s", o.as_site);
		o.client = who;
	}

	seq = o.have_seq ? o.seq : (uint64_t)time_now_ms() + 1;
	if (o.session && open_session(&o, &kp, seq - 1, skey, &epoch)) {
		rc = EXIT_TRANSPORT;
		goto out;
	}
	ts = (o.have_ts ? o.ts : time_now_s()) + o.ts_offset;
	if (o.bad_auth) {
		/* a well-formed signature or MAC, made with the wrong key */
		proto_keypair_new(&other);
		randombytes_buf(skey, sizeof(skey));
	}
	if (proto_auth_build(&auth, o.method, o.path, o.client, ts, seq, body, body_len,
			     o.bad_auth ? &other : &kp, o.session ? skey : NULL, epoch)) {
		fprintf(stderr, "steward-req: cannot build the request headers (path too long?)\n");
		goto out;
	}
	if (o.protocol)
		set_header(&auth, PROTO_H_PROTOCOL, o.protocol);
	/* a site names itself in Steward-Site; the client header goes */
	for (int i = 0; o.as_site && i < PROTO_AUTH_HEADERS; i++)
		if (strncasecmp(auth.lines[i], PROTO_H_CLIENT ":", sizeof(PROTO_H_CLIENT)) == 0)
			snprintf(auth.lines[i], sizeof(auth.lines[i]), PROTO_H_SITE ": %s",
				 o.as_site);

	/* the body as sent: with --tamper-body, one byte more than was signed */
	sent_len = body_len + (o.tamper ? 1 : 0);
	sent = malloc(sent_len + 1);
	if (!sent)
		goto out;
	memcpy(sent, body, body_len);
	if (o.tamper)
		sent[body_len] = ' ';
	sent[sent_len] = '\0';

	if (o.save_request && save_request(&o, &auth, sent, sent_len))
		goto out;
	http_resp_init(&resp);
	if (call(&o, o.method, o.path, &auth, sent, sent_len, &resp)) {
		rc = EXIT_TRANSPORT;
	} else {
		print_reply(&o, &resp);
		rc = o.print_status || (resp.status >= 200 && resp.status < 300) ? 0 : EXIT_HTTP;
	}
	http_resp_free(&resp);
out:
	sodium_memzero(&kp, sizeof(kp));
	sodium_memzero(&other, sizeof(other));
	sodium_memzero(skey, sizeof(skey));
	free(body);
	free(sent);
	http_client_global_cleanup();
	return rc;
}

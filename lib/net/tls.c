/* net/tls: certificates (OpenSSL's libcrypto makes them; libmicrohttpd serves
 * them with GnuTLS) and the verification every libcurl handle of steward
 * uses. libcurl is built on OpenSSL here, so a pinned peer is checked in
 * OpenSSL's own verification step: the handshake fails before any byte of
 * a request is sent when the key is not pinned or the certificate is out
 * of its validity period. libcurl's CURLOPT_PINNEDPUBLICKEY checks the
 * same pins again after the handshake, which also covers a resumed TLS
 * session (no certificate is verified on resumption).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/bn.h>
#include <sodium.h>

#include "steward/tls.h"

/* ---- pins ----------------------------------------------------------------- */
int tls_pin_parse(const char *text, uint8_t pin[TLS_PIN_BYTES])
{
	size_t plen = sizeof(TLS_PIN_PREFIX) - 1;

	if (!text)
		return -STEWARD_EINVAL;
	if (strncasecmp(text, TLS_PIN_PREFIX, plen) == 0)
		text += plen;
	if (strlen(text) != TLS_PIN_HEX)
		return -STEWARD_EINVAL;
	for (const char *p = text; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return -STEWARD_EINVAL;
	return hex_decode(text, pin, TLS_PIN_BYTES) ? -STEWARD_EINVAL : 0;
}

void tls_pin_format(const uint8_t pin[TLS_PIN_BYTES], char *out, size_t outsz)
{
	char hex[TLS_PIN_HEX + 1];

	hex_encode(pin, TLS_PIN_BYTES, hex);
	snprintf(out, outsz, TLS_PIN_PREFIX "%s", hex);
}

int tls_trust_add_pin(struct tls_trust *t, const uint8_t pin[TLS_PIN_BYTES])
{
	for (int i = 0; i < t->n_pins; i++)
		if (memcmp(t->pins[i], pin, TLS_PIN_BYTES) == 0)
			return 0;
	if (t->n_pins >= TLS_TRUST_PINS_MAX)
		return -STEWARD_ETOOBIG;
	memcpy(t->pins[t->n_pins++], pin, TLS_PIN_BYTES);
	return 0;
}

bool tls_url_is_https(const char *url)
{
	return url && strncasecmp(url, "https://", 8) == 0;
}

int tls_url_origin(const char *url, char *out, size_t outsz)
{
	const char *scheme, *p, *end;
	char host[256];
	size_t n;
	long port = 0;

	if (!url)
		return -STEWARD_EINVAL;
	if (strncasecmp(url, "https://", 8) == 0) {
		scheme = "https";
		p = url + 8;
		port = 443;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		scheme = "http";
		p = url + 7;
		port = 80;
	} else {
		return -STEWARD_EINVAL;
	}
	end = p + strcspn(p, "/?#");
	if (*p == '[') { /* [v6]:port */
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb)
			return -STEWARD_EINVAL;
		n = (size_t)(rb + 1 - p);
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return -STEWARD_EINVAL;
			port = strtol(rb + 2, NULL, 10);
		}
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon ? colon : end) - p);
		if (colon)
			port = strtol(colon + 1, NULL, 10);
	}
	if (n == 0 || n >= sizeof(host) || port < 1 || port > 65535)
		return -STEWARD_EINVAL;
	for (size_t i = 0; i < n; i++)
		host[i] = (char)tolower((unsigned char)p[i]);
	host[n] = '\0';
	if ((size_t)snprintf(out, outsz, "%s://%s:%ld", scheme, host, port) >= outsz)
		return -STEWARD_EINVAL;
	return 0;
}

/* ---- certificates ------------------------------------------------------------- */
static int x509_pin(X509 *x, uint8_t pin[TLS_PIN_BYTES])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(X509_get0_pubkey(x), &der);

	if (n <= 0)
		return -STEWARD_EINVAL;
	crypto_hash_sha256(pin, der, (unsigned long long)n);
	OPENSSL_free(der);
	return 0;
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

int tls_cert_info(const char *pem, size_t len, uint8_t pin[TLS_PIN_BYTES], int64_t *not_before,
		  int64_t *not_after, struct steward_err *err)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int rc = 0;

	if (!x) {
		rc = steward_err_set(err, STEWARD_EINVAL, "tls_cert_invalid",
				     "give a PEM certificate (-----BEGIN CERTIFICATE-----)",
				     "the certificate is not a PEM X.509 certificate");
		goto out;
	}
	if (x509_pin(x, pin)) {
		rc = steward_err_set(err, STEWARD_EINVAL, "tls_cert_invalid",
				     "give a certificate with a public key",
				     "cannot read the certificate's public key");
		goto out;
	}
	if (not_before)
		*not_before = asn1_time_unix(X509_get0_notBefore(x));
	if (not_after)
		*not_after = asn1_time_unix(X509_get0_notAfter(x));
out:
	X509_free(x);
	BIO_free(b);
	return rc;
}

int tls_key_matches_cert(const char *key_pem, size_t key_len, const char *crt_pem,
			 size_t crt_len, struct steward_err *err)
{
	BIO *kb = BIO_new_mem_buf(key_pem, (int)key_len);
	BIO *cb = BIO_new_mem_buf(crt_pem, (int)crt_len);
	EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	int rc = 0;

	if (!k)
		rc = steward_err_set(err, STEWARD_EINVAL, "tls_key_invalid",
				     "give an unencrypted PEM private key",
				     "the TLS key is not an unencrypted PEM private key");
	else if (!x)
		rc = steward_err_set(err, STEWARD_EINVAL, "tls_cert_invalid",
				     "give a PEM certificate (-----BEGIN CERTIFICATE-----)",
				     "the TLS certificate is not a PEM X.509 certificate");
	else if (X509_check_private_key(x, k) != 1)
		rc = steward_err_set(err, STEWARD_EINVAL, "tls_key_mismatch",
				     "give the key the certificate was issued for",
				     "the TLS key does not belong to the certificate");
	EVP_PKEY_free(k);
	X509_free(x);
	BIO_free(kb);
	BIO_free(cb);
	return rc;
}

static int bio_to_file(BIO *b, const char *path, unsigned mode, struct steward_err *err)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0 || file_write_atomic(path, data, (size_t)n, mode))
		return steward_err_set(err, STEWARD_EIO, "tls_write_failed",
				       "check that the data directory is writable",
				       "cannot write %s", path);
	return 0;
}

static bool name_is_ip(const char *n)
{
	ASN1_OCTET_STRING *a = a2i_IPADDRESS(n);

	if (!a)
		return false;
	ASN1_OCTET_STRING_free(a);
	return true;
}

int tls_selfsigned_create(const char *key_path, const char *crt_path, const char *const *names,
			  int n_names, int64_t not_before, int64_t not_after,
			  struct steward_err *err)
{
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	X509_NAME *nm;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	BIO *kb = NULL, *cb = NULL;
	BIGNUM *bn = NULL;
	char san[2048] = "";
	size_t used = 0;
	int rc = -STEWARD_EIO;

	pk = EVP_EC_gen("P-256");
	x = X509_new();
	bn = BN_new();
	kb = BIO_new(BIO_s_mem());
	cb = BIO_new(BIO_s_mem());
	if (!pk || !x || !bn || !kb || !cb) {
		rc = steward_err_set(err, STEWARD_ENOMEM, "internal", "",
				     "cannot make a TLS key (out of memory?)");
		goto out;
	}
	for (int i = 0; i < n_names; i++) {
		int w = snprintf(san + used, sizeof(san) - used, "%s%s:%s", used ? "," : "",
				 name_is_ip(names[i]) ? "IP" : "DNS", names[i]);
		if (w < 0 || (size_t)w >= sizeof(san) - used)
			break;
		used += (size_t)w;
	}
	if (!BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) || !X509_set_pubkey(x, pk))
		goto fail;
	nm = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"steward",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
					(const unsigned char *)(n_names ? names[0] : "steward site"),
					-1, -1, 0) ||
	    !X509_set_issuer_name(x, nm))
		goto fail;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	{
		const struct {
			int nid;
			const char *value;
		} exts[] = {
		    {NID_basic_constraints, "critical,CA:FALSE"},
		    {NID_key_usage, "critical,digitalSignature"},
		    {NID_ext_key_usage, "serverAuth"},
		    {NID_subject_key_identifier, "hash"},
		    {NID_subject_alt_name, san},
		};
		for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
			if (!exts[i].value[0])
				continue;
			ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
			if (!ext)
				goto fail;
			X509_add_ext(x, ext, -1);
			X509_EXTENSION_free(ext);
		}
	}
	if (!X509_sign(x, pk, EVP_sha256()))
		goto fail;
	if (!PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(cb, x))
		goto fail;
	if ((rc = bio_to_file(kb, key_path, 0600, err)) != 0)
		goto out;
	rc = bio_to_file(cb, crt_path, 0644, err);
	goto out;
fail:
	rc = steward_err_set(err, STEWARD_EIO, "tls_cert_failed", "see the log",
			     "cannot make a self-signed certificate");
out:
	BN_free(bn);
	BIO_free(kb);
	BIO_free(cb);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

/* ---- trust lookup ----------------------------------------------------------- */
static tls_trust_lookup_fn trust_lookup;
static void *trust_lookup_arg;

void tls_set_trust_lookup(tls_trust_lookup_fn fn, void *arg)
{
	trust_lookup = fn;
	trust_lookup_arg = arg;
}

int tls_trust_for_url(const char *url, struct tls_trust *out)
{
	char origin[TLS_ORIGIN_MAX];

	memset(out, 0, sizeof(*out));
	if (!trust_lookup || tls_url_origin(url, origin, sizeof(origin)))
		return 0;
	return trust_lookup(origin, out, trust_lookup_arg);
}

/* ---- the trust file ------------------------------------------------------- */
void tls_trust_file_path(char *out, size_t outsz)
{
	const char *env = getenv("STEWARD_TRUST_FILE"), *home = getenv("HOME");

	if (env && *env)
		snprintf(out, outsz, "%s", env);
	else
		snprintf(out, outsz, "%s/.config/steward/trust", home && *home ? home : "/root");
}

int tls_trust_text_each(const char *text, tls_trust_line_fn fn, void *arg)
{
	const char *p = text;
	int n = 0;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[TLS_ORIGIN_MAX + TLS_PIN_TEXT_MAX + 8], o[TLS_ORIGIN_MAX],
		    pin_text[TLS_PIN_TEXT_MAX + 2];
		uint8_t pin[TLS_PIN_BYTES];

		if (len < sizeof(line)) {
			memcpy(line, p, len);
			line[len] = '\0';
			if (line[0] != '#' && sscanf(line, "%299s %72s", o, pin_text) == 2 &&
			    tls_pin_parse(pin_text, pin) == 0) {
				fn(o, pin, arg);
				n++;
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

struct pins_of {
	const char *origin;
	struct tls_trust *out;
};

static void add_if_origin(const char *origin, const uint8_t pin[TLS_PIN_BYTES], void *arg)
{
	struct pins_of *po = arg;

	if (strcmp(origin, po->origin) == 0)
		tls_trust_add_pin(po->out, pin);
}

int tls_trust_file_pins(const char *text, const char *origin, struct tls_trust *out)
{
	struct pins_of po = {origin, out};
	int before = out->n_pins;

	tls_trust_text_each(text, add_if_origin, &po);
	return out->n_pins - before;
}

int tls_trust_file_lookup(const char *origin, struct tls_trust *out, void *arg)
{
	char path[TLS_CA_FILE_MAX], *text = NULL;
	size_t len;

	(void)arg;
	tls_trust_file_path(path, sizeof(path));
	if (file_read_all(path, TLS_TRUST_FILE_MAX, &text, &len) == 0) {
		tls_trust_file_pins(text, origin, out);
		free(text);
	}
	return 0;
}

int tls_pin_beside(const char *file, struct tls_trust *out)
{
	char path[TLS_CA_FILE_MAX + 16], *text = NULL;
	const char *slash = file ? strrchr(file, '/') : NULL;
	uint8_t pin[TLS_PIN_BYTES];
	size_t len;
	int rc = -STEWARD_ENOTFOUND;

	if (!file)
		return rc;
	if (!slash)
		snprintf(path, sizeof(path), "tls.pin");
	else if ((size_t)(slash - file) < TLS_CA_FILE_MAX)
		snprintf(path, sizeof(path), "%.*s/tls.pin", (int)(slash - file), file);
	else
		return rc;
	if (file_read_all(path, 4096, &text, &len) == 0) {
		text[strcspn(text, "\r\n")] = '\0';
		if (tls_pin_parse(text, pin) == 0)
			rc = tls_trust_add_pin(out, pin);
		free(text);
	}
	return rc;
}

/* ---- key rotation ------------------------------------------------------------ */
static tls_next_pin_fn next_pin_hook;
static void *next_pin_arg;

void tls_set_next_pin_hook(tls_next_pin_fn fn, void *arg)
{
	next_pin_hook = fn;
	next_pin_arg = arg;
}

void tls_next_pin_seen(const char *url, const struct tls_verify *v, const char *pin_text)
{
	char origin[TLS_ORIGIN_MAX];
	uint8_t pin[TLS_PIN_BYTES];

	/* only from a peer verified by a pin this process already trusts */
	if (!next_pin_hook || !v || !v->pinned || !pin_text || !*pin_text ||
	    tls_pin_parse(pin_text, pin) || tls_url_origin(url, origin, sizeof(origin)))
		return;
	for (int i = 0; i < v->trust.n_pins; i++)
		if (memcmp(v->trust.pins[i], pin, TLS_PIN_BYTES) == 0)
			return; /* already trusted */
	next_pin_hook(origin, pin_text, next_pin_arg);
}

int tls_trust_console(const char *origin, struct tls_trust *out, const char *server_url,
		      const char *token_file)
{
	char mine[TLS_ORIGIN_MAX];

	tls_trust_file_lookup(origin, out, NULL);
	if (token_file && strncmp(origin, "https://", 8) == 0 &&
	    tls_url_origin(server_url, mine, sizeof(mine)) == 0 && strcmp(mine, origin) == 0)
		tls_pin_beside(token_file, out);
	return 0;
}

/* ---- verification in the handshake ------------------------------------------ */
static int verify_pinned(X509_STORE_CTX *xs, void *arg)
{
	struct tls_verify *v = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	uint8_t pin[TLS_PIN_BYTES];
	char got[TLS_PIN_TEXT_MAX + 1];
	time_t now = time(NULL);
	bool match = false;

	if (!leaf || x509_pin(leaf, pin)) {
		snprintf(v->why, sizeof(v->why), "the site sent no usable certificate");
		X509_STORE_CTX_set_error(xs, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	for (int i = 0; i < v->trust.n_pins && !match; i++)
		if (sodium_memcmp(pin, v->trust.pins[i], TLS_PIN_BYTES) == 0) {
			match = true;
			v->matched = i;
		}
	if (!match) {
		tls_pin_format(pin, got, sizeof(got));
		snprintf(v->why, sizeof(v->why), "pin_mismatch its certificate's key is %s", got);
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	if (X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0) {
		snprintf(v->why, sizeof(v->why), "not_yet_valid");
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_NOT_YET_VALID);
		return 0;
	}
	if (X509_cmp_time(X509_get0_notAfter(leaf), &now) < 0) {
		struct tm tm;
		char when[32] = "?";
		const ASN1_TIME *na = X509_get0_notAfter(leaf);
		if (ASN1_TIME_to_tm(na, &tm) == 1)
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(v->why, sizeof(v->why), "expired %s", when);
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_HAS_EXPIRED);
		return 0;
	}
	X509_STORE_CTX_set_error(xs, X509_V_OK);
	return 1;
}

static CURLcode on_ssl_ctx(CURL *h, void *sslctx, void *arg)
{
	(void)h;
	SSL_CTX_set_cert_verify_callback((SSL_CTX *)sslctx, verify_pinned, arg);
	return CURLE_OK;
}

int tls_curl_setup(void *handle, const char *url, const struct tls_trust *t, struct tls_verify *v,
		   struct steward_err *err)
{
	CURL *h = handle;
	char pins[TLS_TRUST_PINS_MAX * 56 + 1] = "";
	size_t used = 0;

	memset(v, 0, sizeof(*v));
	v->matched = -1;
	if (t)
		v->trust = *t;
	else
		tls_trust_for_url(url, &v->trust);
	v->pinned = v->trust.n_pins > 0;
	/* TLS 1.2 at least, on every handle, whatever the scheme says */
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (!tls_url_is_https(url)) {
		if (v->pinned)
			return steward_err_set(
			    err, STEWARD_EAUTH, "tls_required",
			    "use the https:// URL of the site (it is pinned: plain HTTP is never used)",
			    "refusing plain HTTP to %s: this peer's certificate is pinned", url);
		return 0;
	}
	if (!v->pinned) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
		if (v->trust.ca_file[0])
			curl_easy_setopt(h, CURLOPT_CAINFO, v->trust.ca_file);
		return 0;
	}
	for (int i = 0; i < v->trust.n_pins; i++) {
		unsigned char b64[64];
		sodium_bin2base64((char *)b64, sizeof(b64), v->trust.pins[i], TLS_PIN_BYTES,
				  sodium_base64_VARIANT_ORIGINAL);
		used += (size_t)snprintf(pins + used, sizeof(pins) - used, "%ssha256//%s",
					 i ? ";" : "", (char *)b64);
	}
	/* The pinned key is the identity: the handshake checks it (and the
	 * validity period) in verify_pinned, with verification on, so a
	 * mismatch aborts before the request is sent; the name in the URL is
	 * not what was trusted, so it is not compared. */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	/* verify_pinned replaces the chain check, so the system's CA bundle
	 * is never consulted: not loading it saves parsing some 140
	 * certificates on every new connection (most of a client's CPU in a
	 * burst of enrollments) */
	curl_easy_setopt(h, CURLOPT_CAINFO, (char *)NULL);
	curl_easy_setopt(h, CURLOPT_CAPATH, (char *)NULL);
	curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, v);
	curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, pins);
	/* a resumed session would skip verify_pinned; PINNEDPUBLICKEY still
	 * applies, but a fresh handshake keeps the expiry check too */
	curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	return 0;
}

#define REMEDY_PIN                                                                         \
	"this is not the site that was pinned: check the URL; if the site's key was changed, "   \
	"pin the new one (stewardctl site trust, a new token)"

int tls_curl_error(int code, const char *url, const struct tls_verify *v, struct steward_err *err)
{
	CURLcode cc = (CURLcode)code;

	if (v && v->pinned && v->why[0]) {
		if (strncmp(v->why, "pin_mismatch", 12) == 0)
			return steward_err_set(err, STEWARD_EAUTH, "tls_pin_mismatch", REMEDY_PIN,
					       "%s is not the pinned site:%s", url, v->why + 12);
		if (strncmp(v->why, "expired", 7) == 0)
			return steward_err_set(err, STEWARD_EAUTH, "tls_cert_expired",
					       "renew the site's certificate (tls_cert, or delete "
					       "DATA_DIR/tls.crt to make a new one with the same key)",
					       "the certificate of %s expired on%s", url, v->why + 7);
		if (strncmp(v->why, "not_yet_valid", 13) == 0)
			return steward_err_set(err, STEWARD_EAUTH, "tls_cert_expired",
					       "check the clocks of the site and this machine",
					       "the certificate of %s is not valid yet", url);
		return steward_err_set(err, STEWARD_EAUTH, "tls_untrusted",
				       "check the URL and the pin", "%s: %s", url, v->why);
	}
	switch (cc) {
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return steward_err_set(err, STEWARD_EAUTH, "tls_pin_mismatch", REMEDY_PIN,
				       "%s is not the pinned site: its certificate's key is not pinned",
				       url);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return steward_err_set(
		    err, STEWARD_EAUTH, "tls_untrusted",
		    "pin the site's certificate (stewardctl site trust URL --pin sha256:..., from "
		    "DATA_DIR/tls.pin on the site) or give the CA that issued it",
		    "cannot verify the certificate of %s: %s", url, curl_easy_strerror(cc));
	case CURLE_SSL_CONNECT_ERROR:
		return steward_err_set(err, STEWARD_EIO, "tls_handshake_failed",
				       "check that the URL names a steward site serving HTTPS",
				       "the TLS handshake with %s failed", url);
	case CURLE_GOT_NOTHING:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
		if (!tls_url_is_https(url))
			return steward_err_set(err, STEWARD_EIO, "tls_plain_to_https",
					       "use https:// in the site's URL",
					       "no HTTP answer from %s: the site serves HTTPS", url);
		return 0;
	default:
		return 0;
	}
}

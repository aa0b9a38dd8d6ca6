/* tls: certificates, pins and the trust every HTTPS client of steward uses.
 *
 * A site serves HTTPS with its own key and certificate (made at first
 * start when the administrator gives none). A client trusts a site in one
 * of two ways, never by skipping checks:
 *   - a pin: the SHA-256 of the certificate's SubjectPublicKeyInfo, handed
 *     out through an authenticated channel (the enrollment token, the
 *     attach token, `stewardctl site trust`). The certificate must carry a
 *     pinned key and be inside its validity period; the name in the URL
 *     does not matter, because the key itself is what was trusted.
 *   - the system's certificate authorities (or a CA file): the usual chain,
 *     expiry and host name checks, for sites with a certificate from a CA.
 * A pinned peer is never spoken to over plain HTTP.
 */
#ifndef STEWARD_TLS_H
#define STEWARD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steward/util.h"

#define TLS_PIN_BYTES 32
#define TLS_PIN_HEX (2 * TLS_PIN_BYTES)
#define TLS_PIN_PREFIX "sha256:"
#define TLS_PIN_TEXT_MAX (sizeof(TLS_PIN_PREFIX) - 1 + TLS_PIN_HEX) /* without the NUL */
#define TLS_TRUST_PINS_MAX 4 /* a key and the next one, during a rotation, and room */
#define TLS_CA_FILE_MAX 512
#define TLS_ORIGIN_MAX 300

struct tls_trust {
	int n_pins;
	uint8_t pins[TLS_TRUST_PINS_MAX][TLS_PIN_BYTES];
	char ca_file[TLS_CA_FILE_MAX]; /* "" : the system's CAs */
};

/* "sha256:HEX" or bare HEX (64 hex digits) into pin: 0 or -STEWARD_EINVAL. */
int tls_pin_parse(const char *text, uint8_t pin[TLS_PIN_BYTES]);
/* "sha256:HEX" into out (at least TLS_PIN_TEXT_MAX + 1 bytes). */
void tls_pin_format(const uint8_t pin[TLS_PIN_BYTES], char *out, size_t outsz);
/* Adds pin to t unless it is there; -STEWARD_ETOOBIG when t is full. */
int tls_trust_add_pin(struct tls_trust *t, const uint8_t pin[TLS_PIN_BYTES]);

/* The origin of a URL ("https://host:port", lower-case scheme and host,
 * default port made explicit) into out: 0, or -STEWARD_EINVAL. */
int tls_url_origin(const char *url, char *out, size_t outsz);
bool tls_url_is_https(const char *url);

/* ---- certificates (the serving side) -------------------------------------- */
/* The pin and validity of the first certificate in a PEM text. */
int tls_cert_info(const char *pem, size_t len, uint8_t pin[TLS_PIN_BYTES], int64_t *not_before,
		  int64_t *not_after, struct steward_err *err);
/* A new ECDSA P-256 key and a self-signed certificate for names (DNS names
 * or IP addresses), valid from not_before to not_after (unix seconds),
 * written as PEM to key_path (0600) and crt_path (0644), each atomically. */
int tls_selfsigned_create(const char *key_path, const char *crt_path, const char *const *names,
			  int n_names, int64_t not_before, int64_t not_after,
			  struct steward_err *err);
/* Checks that key and certificate (PEM) belong together. */
int tls_key_matches_cert(const char *key_pem, size_t key_len, const char *crt_pem,
			 size_t crt_len, struct steward_err *err);

/* ---- the trust a process applies to its HTTPS calls ----------------------- */
/* Fills out with the trust for the origin of a URL; returns 0 (out may hold
 * no pins: then the system's CAs apply). Called on any thread. */
typedef int (*tls_trust_lookup_fn)(const char *origin, struct tls_trust *out, void *arg);
/* Set once at start, before any call (not thread-safe to change later). */
void tls_set_trust_lookup(tls_trust_lookup_fn fn, void *arg);
int tls_trust_for_url(const char *url, struct tls_trust *out);

/* The trust file: "ORIGIN sha256:HEX" lines ($STEWARD_TRUST_FILE, else
 * ~/.config/steward/trust), written by `stewardctl site trust`. */
#define TLS_TRUST_FILE_MAX (1024 * 1024)
void tls_trust_file_path(char *out, size_t outsz);
/* Each well-formed "ORIGIN PIN" line of text (comments '#' skipped) to fn;
 * returns how many. */
typedef void (*tls_trust_line_fn)(const char *origin, const uint8_t pin[TLS_PIN_BYTES],
				  void *arg);
int tls_trust_text_each(const char *text, tls_trust_line_fn fn, void *arg);
/* Adds the pins text gives for origin; returns how many were new. */
int tls_trust_file_pins(const char *text, const char *origin, struct tls_trust *out);
/* A tls_trust_lookup_fn that reads the trust file (arg unused). */
int tls_trust_file_lookup(const char *origin, struct tls_trust *out, void *arg);

/* The pin in tls.pin of the directory file is in (a site's data directory,
 * beside its admin.token): 0 when one was added. */
int tls_pin_beside(const char *file, struct tls_trust *out);
/* A console's trust (stewardctl, steward-sim): the trust file, and for the
 * HTTPS origin of server_url the pin beside token_file (may be NULL). */
int tls_trust_console(const char *origin, struct tls_trust *out, const char *server_url,
		      const char *token_file);

/* Key rotation: while a site has a next key, every reply names its pin in
 * this header. A client that reached the site through a pin it trusts
 * passes it to the process's hook, which keeps it beside the current one. */
#define TLS_NEXT_PIN_HEADER "Steward-Tls-Next-Pin"
struct tls_verify;
typedef void (*tls_next_pin_fn)(const char *origin, const char *pin_text, void *arg);
void tls_set_next_pin_hook(tls_next_pin_fn fn, void *arg);
/* Called by http_call after a pinned exchange (internal to lib/net). */
void tls_next_pin_seen(const char *url, const struct tls_verify *v, const char *pin_text);

/* A verification context for one libcurl handle; lives as long as the
 * handle's transfer. */
struct tls_verify {
	struct tls_trust trust;
	bool pinned;
	int matched;   /* the index of the pin the certificate matched; -1: none yet */
	char why[256]; /* what the last failed check found */
};

/* Sets up curl handle h (a CURL *) for url: TLS verification from t (or
 * from the process's lookup when t is NULL), stored in v. Refuses plain
 * HTTP to a pinned origin. 0, or a negative code with err filled. */
int tls_curl_setup(void *h, const char *url, const struct tls_trust *t, struct tls_verify *v,
		   struct steward_err *err);
/* After a failed transfer: when the failure was the TLS layer's (or a
 * plain-HTTP client meeting an HTTPS site), fills err with what was wrong
 * and what to do, and returns its negative code; otherwise returns 0 and
 * leaves err alone. cc is the CURLcode. */
int tls_curl_error(int cc, const char *url, const struct tls_verify *v, struct steward_err *err);

#endif

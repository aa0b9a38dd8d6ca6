/* sitetls: the site's HTTPS key and certificate, and the pins stewardd
 * itself trusts when it calls other steward processes (its parent and
 * children, its upstream site server).
 *
 * Without tls_cert and tls_key a site makes an ECDSA P-256 key and a
 * self-signed certificate in DATA_DIR at first start (the key 0600) and
 * keeps using them: its pin (the SHA-256 of the certificate's public key,
 * DATA_DIR/tls.pin) is what enrollment and attach tokens carry, so it must
 * not change by itself. A certificate the administrator gives is served as
 * it is; its pin is published the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include "site.h"

#define SELF_SIGNED_DAYS (10 * 365)
#define TRUST_MAX 4096

static int read_pem(const char *path, char **out, size_t *len, struct steward_err *err)
{
	if (file_read_all(path, 1024 * 1024, out, len) != 0)
		return steward_err_set(err, STEWARD_EIO, "tls_read_failed",
				       "check the path and that stewardd may read it",
				       "cannot read %s", path);
	return 0;
}

static int make_self_signed(struct site *s, const char *key, const char *crt,
			    struct steward_err *err)
{
	const char *names[CONF_LIST_MAX + 8];
	char host[256] = "";
	int n = 0;

	if (gethostname(host, sizeof(host) - 1) == 0 && host[0])
		names[n++] = host;
	names[n++] = "localhost";
	names[n++] = "127.0.0.1";
	names[n++] = "::1";
	if (strcmp(s->cfg.listen_addr, "0.0.0.0") && strcmp(s->cfg.listen_addr, "::") &&
	    strcmp(s->cfg.listen_addr, "127.0.0.1") && strcmp(s->cfg.listen_addr, "::1"))
		names[n++] = s->cfg.listen_addr;
	for (int i = 0; i < s->cfg.tls_name.n && n < (int)(sizeof(names) / sizeof(names[0]));
	     i++)
		names[n++] = s->cfg.tls_name.items[i];
	log_info("site", "tls_self_signed", "key=%s cert=%s names=%d", key, crt, n);
	return tls_selfsigned_create(key, crt, names, n, time_now_s() - 3600,
				     time_now_s() + SELF_SIGNED_DAYS * 86400LL, err);
}

/* A rotation in progress: DATA_DIR/tls.next.crt. */
static void rotation_load(struct site *s)
{
	char crt[PATH_MAX], *pem = NULL;
	uint8_t pin[TLS_PIN_BYTES];
	size_t len;
	struct steward_err e;

	snprintf(crt, sizeof(crt), "%s/tls.next.crt", s->cfg.data_dir);
	if (file_read_all(crt, 1024 * 1024, &pem, &len) != 0)
		return;
	if (tls_cert_info(pem, len, pin, NULL, NULL, &e) == 0) {
		tls_pin_format(pin, s->tls_next, sizeof(s->tls_next));
		atomic_store(&s->tls_next_on, true);
		log_info("site", "tls_rotation_pending", "next=%s", s->tls_next);
	}
	free(pem);
}

int site_tls_start(struct site *s, struct steward_err *err)
{
	char key[PATH_MAX], crt[PATH_MAX], pinpath[PATH_MAX], line[TLS_PIN_TEXT_MAX + 2];
	size_t klen = 0, clen = 0;
	int64_t nb = 0;
	int rc;

	s->tls_pin[0] = '\0';
	snprintf(pinpath, sizeof(pinpath), "%s/tls.pin", s->cfg.data_dir);
	if (!s->cfg.tls) {
		unlink(pinpath); /* no pin to hand out: consoles must not find an old one */
		log_warn("site", "tls_off",
			 "message=\"serving plain HTTP (tls = off): tokens and admin calls cross the "
			 "network in the clear unless a TLS proxy stands in front\"");
		return 0;
	}
	if ((s->cfg.tls_cert && *s->cfg.tls_cert) != (s->cfg.tls_key && *s->cfg.tls_key))
		return steward_err_set(err, STEWARD_EINVAL, "bad_config",
				       "give both tls_cert and tls_key, or neither (a self-signed "
				       "certificate is made in DATA_DIR)",
				       "tls_cert and tls_key must be given together");
	if (s->cfg.tls_cert && *s->cfg.tls_cert) {
		snprintf(key, sizeof(key), "%s", s->cfg.tls_key);
		snprintf(crt, sizeof(crt), "%s", s->cfg.tls_cert);
	} else {
		snprintf(key, sizeof(key), "%s/tls.key", s->cfg.data_dir);
		snprintf(crt, sizeof(crt), "%s/tls.crt", s->cfg.data_dir);
		if (access(key, F_OK) != 0 && (rc = make_self_signed(s, key, crt, err)) != 0)
			return rc;
	}
	if ((rc = read_pem(key, &s->tls_key_pem, &klen, err)) != 0 ||
	    (rc = read_pem(crt, &s->tls_cert_pem, &clen, err)) != 0)
		return rc;
	if ((rc = tls_key_matches_cert(s->tls_key_pem, klen, s->tls_cert_pem, clen, err)) != 0 ||
	    (rc = tls_cert_info(s->tls_cert_pem, clen, s->tls_pin_raw, &nb, &s->tls_not_after,
				err)) != 0) {
		log_error("site", "tls_refused", "cert=%s key=%s code=%s", crt, key, err->code);
		return rc;
	}
	tls_pin_format(s->tls_pin_raw, s->tls_pin, sizeof(s->tls_pin));
	snprintf(line, sizeof(line), "%s\n", s->tls_pin);
	if (file_write_atomic(pinpath, line, strlen(line), 0644))
		log_warn("site", "tls_pin_write_failed", "path=%s", pinpath);
	if (s->tls_not_after && s->tls_not_after < time_now_s())
		log_error("site", "tls_cert_expired",
			  "cert=%s message=\"the certificate expired: clients refuse it; renew it\"",
			  crt);
	else if (s->tls_not_after && s->tls_not_after < time_now_s() + 30 * 86400)
		log_warn("site", "tls_cert_expires_soon", "cert=%s not_after=%lld", crt,
			 (long long)s->tls_not_after);
	return 0;
}

void site_tls_stop(struct site *s)
{
	if (s->tls_key_pem)
		explicit_bzero(s->tls_key_pem, strlen(s->tls_key_pem));
	free(s->tls_key_pem);
	free(s->tls_cert_pem);
	s->tls_key_pem = s->tls_cert_pem = NULL;
}

/* ---- what stewardd trusts as a client ------------------------------------------ */
struct trust_entry {
	char origin[TLS_ORIGIN_MAX];
	uint8_t pin[TLS_PIN_BYTES];
	bool persist; /* a linked site's (kept in peers.trust) */
};

static pthread_mutex_t trust_mu = PTHREAD_MUTEX_INITIALIZER;
static struct trust_entry *trust;
static size_t n_trust;
static char trust_file[PATH_MAX]; /* DATA_DIR/peers.trust: linked sites' pins */
static bool trust_loading;	  /* reading peers.trust: nothing to write back */

/* Rewrites the file from the table (caller holds trust_mu). */
static void trust_save(void)
{
	struct buf b;
	char pin[TLS_PIN_TEXT_MAX + 1];

	if (!trust_file[0] || trust_loading)
		return;
	buf_init(&b, (size_t)TLS_TRUST_FILE_MAX);
	buf_puts(&b, "# pins of the sites linked to this one (stewardd writes this file)\n");
	for (size_t i = 0; i < n_trust; i++) {
		if (!trust[i].persist)
			continue;
		tls_pin_format(trust[i].pin, pin, sizeof(pin));
		buf_printf(&b, "%s %s\n", trust[i].origin, pin);
	}
	if (file_write_atomic(trust_file, b.data, b.len, 0600) != 0)
		log_error("site", "trust_write_failed", "path=%s", trust_file);
	buf_free(&b);
}

/* One pin for url's origin: replacing the one it has, or (add) beside it. */
static int trust_put(const char *url, const char *pin_text, bool persist, bool add)
{
	char origin[TLS_ORIGIN_MAX];
	uint8_t pin[TLS_PIN_BYTES];
	int rc = 0;

	if (!pin_text || !*pin_text || tls_url_origin(url, origin, sizeof(origin)) ||
	    tls_pin_parse(pin_text, pin))
		return -STEWARD_EINVAL;
	pthread_mutex_lock(&trust_mu);
	for (size_t i = 0; i < n_trust; i++)
		if (strcmp(trust[i].origin, origin) == 0 &&
		    (!add || memcmp(trust[i].pin, pin, sizeof(pin)) == 0)) {
			bool changed = memcmp(trust[i].pin, pin, sizeof(pin)) != 0;
			memcpy(trust[i].pin, pin, sizeof(pin));
			trust[i].persist = trust[i].persist || persist;
			if (changed && persist)
				trust_save();
			goto out;
		}
	if (!trust)
		trust = calloc(TRUST_MAX, sizeof(*trust));
	if (!trust || n_trust >= TRUST_MAX) {
		rc = -STEWARD_ETOOBIG;
		goto out;
	}
	snprintf(trust[n_trust].origin, sizeof(trust[n_trust].origin), "%s", origin);
	memcpy(trust[n_trust].pin, pin, sizeof(pin));
	trust[n_trust].persist = persist;
	n_trust++;
	if (persist)
		trust_save();
out:
	pthread_mutex_unlock(&trust_mu);
	return rc;
}

int site_trust_pin(const char *url, const char *pin_text)
{
	return trust_put(url, pin_text, true, false);
}

int site_trust_pin_add(const char *url, const char *pin_text)
{
	return trust_put(url, pin_text, true, true);
}

/* The hook lib/net calls when a pinned peer announces its next pin. */
static void on_next_pin(const char *origin, const char *pin_text, void *arg)
{
	(void)arg;
	site_trust_pin_add(origin, pin_text);
}

/* ---- rotating this site's key ---------------------------------------------------- */
enum http_result site_h_rotate_key(struct http_req *req, void *app)
{
	struct site *s = app;
	size_t len;
	const char *body = http_req_body(req, &len);
	json_t *root = len ? json_loadb(body, len, 0, NULL) : json_object();
	char key[PATH_MAX], crt[PATH_MAX], nkey[PATH_MAX], ncrt[PATH_MAX], pkey[PATH_MAX],
	    pcrt[PATH_MAX];
	struct steward_err err = {.code = ""};
	bool finish;

	if (!json_is_object(root) ||
	    (json_object_get(root, "finish") && !json_is_boolean(json_object_get(root, "finish")))) {
		reply_error(req, 400, "bad_request", "send {} to start, {\"finish\": true} to switch",
			    "the body must be a JSON object with an optional boolean 'finish'");
		goto out;
	}
	finish = json_is_true(json_object_get(root, "finish"));
	if (!s->tls_pin[0] || (s->cfg.tls_cert && *s->cfg.tls_cert)) {
		reply_error(req, 409, "rotate_key_unavailable",
			    s->tls_pin[0] ? "replace tls_cert and tls_key yourself; hand clients the new pin "
					    "(or keep the key: a renewed certificate keeps its pin)"
					  : "turn TLS on first (tls = true)",
			    s->tls_pin[0] ? "this site serves a certificate its configuration names "
					    "(tls_cert): it does not make its own keys"
					  : "this site serves plain HTTP (tls = off): there is no key to rotate");
		goto out;
	}
	snprintf(key, sizeof(key), "%s/tls.key", s->cfg.data_dir);
	snprintf(crt, sizeof(crt), "%s/tls.crt", s->cfg.data_dir);
	snprintf(nkey, sizeof(nkey), "%s/tls.next.key", s->cfg.data_dir);
	snprintf(ncrt, sizeof(ncrt), "%s/tls.next.crt", s->cfg.data_dir);
	snprintf(pkey, sizeof(pkey), "%s/tls.prev.key", s->cfg.data_dir);
	snprintf(pcrt, sizeof(pcrt), "%s/tls.prev.crt", s->cfg.data_dir);
	if (!finish) {
		if (!atomic_load(&s->tls_next_on)) {
			if (make_self_signed(s, nkey, ncrt, &err)) {
				http_reply_error(req, 500, &err);
				goto out;
			}
			rotation_load(s);
			if (!atomic_load(&s->tls_next_on)) {
				reply_error(req, 500, "internal", "see the site's log",
					    "the next certificate cannot be read back");
				goto out;
			}
			log_info("site", "tls_rotation_started", "current=%s next=%s", s->tls_pin,
				 s->tls_next);
		}
		reply_json_obj(req, 200,
			       json_pack("{s:s,s:s,s:s}", "state", "announcing", "current", s->tls_pin,
					 "next", s->tls_next));
		goto out;
	}
	if (!atomic_load(&s->tls_next_on)) {
		reply_error(req, 409, "rotate_key_not_started",
			    "start a rotation first: stewardctl site rotate-key",
			    "no next key to switch to");
		goto out;
	}
	/* the next key becomes the key at the next start; the old one stays
	 * beside it as tls.prev.* (what to go back to by hand) */
	if (rename(key, pkey) || rename(crt, pcrt) || rename(nkey, key) || rename(ncrt, crt) ||
	    file_sync_dir_of(key)) {
		reply_error(req, 500, "tls_write_failed", "check DATA_DIR; tls.prev.* hold the old key",
			    "cannot move the next key into place: %s", strerror(errno));
		goto out;
	}
	log_info("site", "tls_rotation_finished", "old=%s new=%s restart=needed", s->tls_pin,
		 s->tls_next);
	reply_json_obj(req, 200,
		       json_pack("{s:s,s:s,s:s,s:s}", "state", "restart_needed", "old", s->tls_pin,
				 "new", s->tls_next, "remedy",
				 "restart stewardd: it serves the new certificate from its next start"));
out:
	json_decref(root);
	return HTTP_DONE;
}

int site_trust_pin_get(const char *url, char hex[TLS_PIN_HEX + 1])
{
	char origin[TLS_ORIGIN_MAX];
	int rc = -STEWARD_ENOTFOUND;

	hex[0] = '\0';
	if (tls_url_origin(url, origin, sizeof(origin)))
		return -STEWARD_EINVAL;
	pthread_mutex_lock(&trust_mu);
	for (size_t i = 0; i < n_trust; i++)
		if (strcmp(trust[i].origin, origin) == 0) {
			hex_encode(trust[i].pin, TLS_PIN_BYTES, hex);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&trust_mu);
	return rc;
}

static int lookup(const char *origin, struct tls_trust *out, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&trust_mu);
	for (size_t i = 0; i < n_trust; i++)
		if (strcmp(trust[i].origin, origin) == 0)
			tls_trust_add_pin(out, trust[i].pin);
	pthread_mutex_unlock(&trust_mu);
	return 0;
}

static void load_peer(const char *origin, const uint8_t pin[TLS_PIN_BYTES], void *arg)
{
	char text[TLS_PIN_TEXT_MAX + 1];

	(void)arg;
	tls_pin_format(pin, text, sizeof(text));
	trust_put(origin, text, true, true);
}

void site_trust_init(struct site *s, unsigned port)
{
	char self[512], *text = NULL;
	size_t len;

	tls_set_trust_lookup(lookup, NULL);
	tls_set_next_pin_hook(on_next_pin, NULL);
	/* the linked sites' pins, as attach left them */
	snprintf(trust_file, sizeof(trust_file), "%s/peers.trust", s->cfg.data_dir);
	if (file_read_all(trust_file, TLS_TRUST_FILE_MAX, &text, &len) == 0) {
		pthread_mutex_lock(&trust_mu);
		trust_loading = true;
		pthread_mutex_unlock(&trust_mu);
		tls_trust_text_each(text, load_peer, NULL);
		pthread_mutex_lock(&trust_mu);
		trust_loading = false;
		pthread_mutex_unlock(&trust_mu);
		free(text);
	}
	if (s->cfg.upstream && *s->cfg.upstream && s->cfg.upstream_pin && *s->cfg.upstream_pin) {
		trust_put(s->cfg.upstream, s->cfg.upstream_pin, false, false);
	} else if (s->cfg.upstream && tls_url_is_https(s->cfg.upstream) &&
		   s->cfg.upstream_token_file && *s->cfg.upstream_token_file) {
		/* a token file copied from the site server's data directory
		 * brings its pin (tls.pin beside it) */
		struct tls_trust t = {0};
		char pin[TLS_PIN_TEXT_MAX + 1];
		if (tls_pin_beside(s->cfg.upstream_token_file, &t) == 0) {
			tls_pin_format(t.pins[0], pin, sizeof(pin));
			trust_put(s->cfg.upstream, pin, false, false);
		}
	}
	if (s->tls_pin[0]) {
		/* calls to itself (site systems checks, an upgraded stewardd's
		 * health) go to its own URL */
		site_self_url(&s->cfg, port, self, sizeof(self));
		trust_put(self, s->tls_pin, false, false);
		snprintf(self, sizeof(self), "https://127.0.0.1:%u", port);
		trust_put(self, s->tls_pin, false, false);
		snprintf(self, sizeof(self), "https://localhost:%u", port);
		trust_put(self, s->tls_pin, false, false);
	}
}

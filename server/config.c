/* stewardd's configuration table: the single source of the file format,
 * the command-line flags, `stewardd -n`, `--help-config` and
 * docs/configuration.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <unistd.h>

#include "site.h"

#define OFF(f) offsetof(struct site_config, f)

static int check_site_code(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	if (proto_site_code_valid(v))
		return 0;
	snprintf(msg, msgsz, "%s: '%.16s' must be exactly 3 characters, each A-Z or 0-9", d->name, v);
	return -1;
}

static int split_listen(const char *v, char *addr, size_t addrsz, uint16_t *port)
{
	const char *colon = strrchr(v, ':');
	char *end = NULL;
	long p;
	size_t alen;

	if (!colon)
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || p < 0 || p > 65535)
		return -1;
	alen = (size_t)(colon - v);
	if (alen >= 2 && v[0] == '[' && colon[-1] == ']') {
		v++;
		alen -= 2;
	}
	if (alen == 0 || alen >= addrsz)
		return -1;
	memcpy(addr, v, alen);
	addr[alen] = '\0';
	*port = (uint16_t)p;
	return core_addr_parse(addr, (uint8_t[16]){0}) ? 0 : -1;
}

static int check_listen(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	char addr[64];
	uint16_t port;

	if (split_listen(v, addr, sizeof(addr), &port) == 0)
		return 0;
	snprintf(msg, msgsz, "%s: '%.64s' must be ADDRESS:PORT, e.g. 0.0.0.0:8420 or [::1]:8420",
		 d->name, v);
	return -1;
}

static int check_boundary(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	struct core_boundary b;
	char inner[200];

	if (core_boundary_parse(v, &b, inner, sizeof(inner)) == 0)
		return 0;
	snprintf(msg, msgsz, "%s: %s (expected 'CIDR SITE', e.g. 10.1.0.0/16 ABC)", d->name, inner);
	return -1;
}

/* endorse KEY BY SIGNATURE, whose signature verifies */
static int check_endorsement(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	struct content_endorsement en;
	struct steward_err err = {.code = ""};

	if (content_endorse_parse(v, &en, &err) == 0)
		return 0;
	snprintf(msg, msgsz, "%s: %s (%s)", d->name, err.message, err.remedy);
	return -1;
}

/* 64 lowercase hex digits: the public half of a release key (FILE.pub) */
static int check_release_key(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	uint8_t pk[PROTO_PK_BYTES];

	if (strlen(v) == 2 * PROTO_PK_BYTES && hex_decode(v, pk, sizeof(pk)) == 0 &&
	    strspn(v, "0123456789abcdef") == 2 * PROTO_PK_BYTES)
		return 0;
	snprintf(msg, msgsz,
		 "%s: '%.80s' is not a public key of 64 lowercase hex digits (the one line of "
		 "the FILE.pub that stewardctl releases keygen wrote)",
		 d->name, v);
	return -1;
}

static int check_pin_opt(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	uint8_t pin[TLS_PIN_BYTES];

	if (!*v || tls_pin_parse(v, pin) == 0)
		return 0;
	snprintf(msg, msgsz, "%s: '%.80s' is not a pin (sha256: and 64 hex digits, as in "
		 "DATA_DIR/tls.pin)", d->name, v);
	return -1;
}

static int check_log_level(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	enum log_level l;

	if (log_level_parse(v, &l) == 0)
		return 0;
	snprintf(msg, msgsz, "%s: '%.16s' must be debug, info, warn or error", d->name, v);
	return -1;
}

static int check_url_opt(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	if (!*v || ((strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0) &&
		    strlen(v) > 8 && str_printable(v) && !strchr(v, ' ')))
		return 0;
	snprintf(msg, msgsz, "%s: '%.64s' must be an http:// or https:// URL", d->name, v);
	return -1;
}

static int check_database(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	if (!*v || ((strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0) &&
		    strlen(v) > 13 && str_printable(v) && !strchr(v, ' ')))
		return 0;
	snprintf(msg, msgsz,
		 "%s: '%.64s' must be a postgresql:// URL, or empty for DATA_DIR/steward.db",
		 d->name, v);
	return -1;
}

/* A management point's URL: as check_url_opt, sent to agents as a JSON
 * string, so without '"' and '\\', and without a path. */
static int check_mp(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	const char *host = strstr(v, "://");

	if (!*v || check_url_opt(d, v, msg, msgsz) || strchr(v, '"') || strchr(v, '\\') ||
	    !host || strchr(host + 3, '/') || strlen(v) >= 256) {
		snprintf(msg, msgsz,
			 "%s: '%.64s' must be the URL of a management point, scheme://host:port "
			 "without a path, e.g. https://mp2.example.com:8420",
			 d->name, v);
		return -1;
	}
	return 0;
}

/* "URL [CIDR ...]" */
static int check_dp(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	char tmp[512], one[160], inner[200], *save = NULL, *tok;
	struct core_boundary b;

	if (str_copy(tmp, sizeof(tmp), v))
		goto bad;
	tok = strtok_r(tmp, " \t", &save);
	if (!tok || check_url_opt(d, tok, msg, msgsz) || !*tok)
		goto bad;
	while ((tok = strtok_r(NULL, " \t", &save))) {
		if (strncmp(tok, "pin=", 4) == 0) {
			uint8_t pin[TLS_PIN_BYTES];
			if (tls_pin_parse(tok + 4, pin))
				goto bad;
			continue;
		}
		/* a CIDR is a boundary without its site */
		snprintf(one, sizeof(one), "%.120s DPX", tok);
		if (core_boundary_parse(one, &b, inner, sizeof(inner)))
			goto bad;
	}
	return 0;
bad:
	snprintf(msg, msgsz, "%s: '%.64s' must be 'URL [CIDR ...]', e.g. http://10.1.0.5:8420 10.1.0.0/16",
		 d->name, v);
	return -1;
}

static const struct {
	const char *name;
	unsigned bit;
} role_names[] = {
    {"site_server", ROLE_SITE_SERVER},
    {"management_point", ROLE_MANAGEMENT_POINT},
    {"distribution_point", ROLE_DISTRIBUTION_POINT},
    {"enrollment_point", ROLE_ENROLLMENT_POINT},
};

static int parse_roles(const char *v, unsigned *mask)
{
	char tmp[256], *save = NULL, *tok;

	*mask = 0;
	if (strcmp(v, "all") == 0) {
		*mask = ROLE_ALL;
		return 0;
	}
	if (str_copy(tmp, sizeof(tmp), v))
		return -1;
	for (tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		size_t i;
		for (i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
			if (strcmp(tok, role_names[i].name) == 0)
				break;
		if (i == sizeof(role_names) / sizeof(role_names[0]))
			return -1;
		*mask |= role_names[i].bit;
	}
	return *mask ? 0 : -1;
}

static int check_roles(const struct conf_def *d, const char *v, char *msg, size_t msgsz)
{
	unsigned m;

	if (parse_roles(v, &m) == 0)
		return 0;
	snprintf(msg, msgsz,
		 "%s: '%.64s' must be 'all' or a comma-separated list of site_server, "
		 "management_point, distribution_point, enrollment_point",
		 d->name, v);
	return -1;
}

const char *roles_text(unsigned roles, char *out, size_t outsz)
{
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
		if (!(roles & role_names[i].bit))
			continue;
		if (out[0])
			strncat(out, ",", outsz - strlen(out) - 1);
		strncat(out, role_names[i].name, outsz - strlen(out) - 1);
	}
	return out;
}

void site_self_url(const struct site_config *c, unsigned port, char *out, size_t outsz)
{
	char host[256];

	if (c->public_url && *c->public_url) {
		snprintf(out, outsz, "%s", c->public_url);
	} else if (strcmp(c->listen_addr, "0.0.0.0") == 0 || strcmp(c->listen_addr, "::") == 0) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(out, outsz, "%s://%.200s:%u", c->tls ? "https" : "http", host, port);
	} else if (strchr(c->listen_addr, ':')) {
		snprintf(out, outsz, "%s://[%s]:%u", c->tls ? "https" : "http", c->listen_addr, port);
	} else {
		snprintf(out, outsz, "%s://%s:%u", c->tls ? "https" : "http", c->listen_addr, port);
	}
	/* no trailing slash: agents append /content/HASH */
	for (size_t n = strlen(out); n > 0 && out[n - 1] == '/'; n--)
		out[n - 1] = '\0';
}

const struct conf_def site_config_table[] = {
    {"listen", CONF_STRING, "0.0.0.0:8420", 3, 63, OFF(listen), check_listen,
     "address and port to serve HTTP on (ADDRESS:PORT; [::]:8420 for IPv6)"},
    {"tls", CONF_BOOL, "true", 0, 0, OFF(tls), NULL,
     "serve HTTPS (off: plain HTTP, for a site behind a TLS-terminating proxy only; "
     "site show then says so)"},
    {"tls_cert", CONF_STRING, "", 0, 1024, OFF(tls_cert), NULL,
     "PEM certificate chain to serve (default: DATA_DIR/tls.crt, a self-signed one made "
     "at first start)"},
    {"tls_key", CONF_STRING, "", 0, 1024, OFF(tls_key), NULL,
     "PEM private key of tls_cert (default: DATA_DIR/tls.key, made at first start, 0600)"},
    {"tls_name", CONF_LIST, NULL, 1, 253, OFF(tls_name), NULL,
     "repeatable: a DNS name or IP address the self-signed certificate names besides "
     "localhost, the loopback addresses and the host name"},
    {"upstream_pin", CONF_STRING, "", 0, 80, OFF(upstream_pin), check_pin_opt,
     "for a remote distribution point: the site server's certificate pin (sha256:..., "
     "from DATA_DIR/tls.pin on the site server); empty: verify with the system CAs"},
    {"data_dir", CONF_STRING, "/var/lib/steward", 1, 1024, OFF(data_dir), NULL,
     "directory for the database, the site secret and the first admin token"},
    {"database", CONF_STRING, "", 0, 1024, OFF(database), check_database,
     "the site database: empty for the embedded SQLite file DATA_DIR/steward.db, or a "
     "postgresql://USER@HOST:PORT/DB URL of a PostgreSQL 15 database (keep its password in "
     "the steward user's ~/.pgpass, not in the URL)"},
    {"site_code", CONF_STRING, NULL, 3, 3, OFF(site_code), check_site_code,
     "the site's code: exactly 3 characters A-Z/0-9 (required)"},
    {"site_name", CONF_STRING, "steward site", 1, 128, OFF(site_name), NULL,
     "a human-readable name for the site"},
    {"boundary", CONF_LIST, NULL, 5, 128, OFF(boundary), check_boundary,
     "repeatable: 'CIDR SITE [CLASS [final]]' assigns clients whose address is in CIDR to SITE "
     "(longest prefix wins; clients outside every boundary join this site); CLASS (lan, wan, "
     "slow or metered) is the link class of its clients, final: whatever they measure"},
    {"roles", CONF_STRING, "all", 3, 128, OFF(roles), check_roles,
     "site-system roles this stewardd serves: all, or a list of site_server, "
     "management_point, distribution_point, enrollment_point"},
    {"checkin_interval", CONF_DURATION, "23h", 60, 30 * 86400, OFF(checkin_interval), NULL,
     "maintenance cycle: how often agents check in"},
    {"checkin_jitter", CONF_DURATION, "1h", 0, 86400, OFF(checkin_jitter), NULL,
     "random delay added to each check-in so clients do not arrive together"},
    {"enroll_auto_approve", CONF_BOOL, "false", 0, 0, OFF(enroll_auto_approve), NULL,
     "approve newly enrolled clients without an administrator (off: they wait as pending)"},
    {"clock_skew_max", CONF_DURATION, "5m", 30, 86400, OFF(clock_skew_max), NULL,
     "how far an agent's clock may differ from the site's before its requests are refused"},
    {"session_ttl", CONF_DURATION, "24h", 600, 30 * 86400, OFF(session_ttl), NULL,
     "lifetime of an agent session (check-ins are MACed with its key)"},
    {"http_max_header_bytes", CONF_INT, "8192", 1024, 65536, OFF(http_max_header_bytes), NULL,
     "largest request line plus headers accepted; larger gets 431"},
    {"http_max_body_bytes", CONF_INT, "262144", 4096, 16777216, OFF(http_max_body_bytes), NULL,
     "largest request body accepted; larger gets 413"},
    {"http_timeout", CONF_DURATION, "30s", 1, 600, OFF(http_timeout), NULL,
     "idle connection timeout: a connection on which nothing arrives for this long is closed "
     "(stalled clients; http_head_timeout and http_body_timeout end trickling ones)"},
    {"http_head_timeout", CONF_DURATION, "10s", 1, 600, OFF(http_head_timeout), NULL,
     "a request's line and headers must arrive within this time of the connection's start "
     "or of the previous request's end, however they trickle in; else the connection is "
     "closed (also the longest an idle keep-alive connection stays open)"},
    {"http_body_timeout", CONF_DURATION, "10s", 1, 3600, OFF(http_body_timeout), NULL,
     "a request body must arrive within this time plus one second for every "
     "http_body_min_rate bytes received; else 408 and the connection is closed"},
    {"http_body_min_rate", CONF_INT, "1024", 0, 1000000000, OFF(http_body_min_rate), NULL,
     "bytes per second a request body must keep up after http_body_timeout "
     "(0: http_body_timeout is the deadline of the whole body)"},
    {"http_max_connections", CONF_INT, "1024", 16, 60000, OFF(http_max_connections), NULL,
     "connections served at once; above 90% of it new requests get 503 with Retry-After"},
    {"http_max_per_ip", CONF_INT, "256", 1, 60000, OFF(http_max_per_ip), NULL,
     "connections from one address at once"},
    {"http_threads", CONF_INT, "2", 1, 64, OFF(http_threads), NULL,
     "HTTP worker threads (one event loop each)"},
    {"writer_queue_max", CONF_INT, "16384", 16, 1048576, OFF(writer_queue_max), NULL,
     "check-ins waiting for the database; when full, check-ins get 503 with Retry-After"},
    {"writer_batch_max", CONF_INT, "1024", 1, 65536, OFF(writer_batch_max), NULL,
     "most check-ins committed in one transaction"},
    {"management_points", CONF_LIST, NULL, 8, 256, OFF(management_points), check_mp,
     "repeatable: the URL of a management point of this site (this one too, if agents reach "
     "it); check-in replies give agents the list, and an agent whose management point does "
     "not answer, or answers 503, tries the next (docs/operations.md, \"Running several "
     "management points\")"},
    {"changes_recheck_interval", CONF_DURATION, "30s", 1, 3600, OFF(changes_recheck_interval),
     NULL,
     "on a PostgreSQL database several stewardd share: how often this one reads what it "
     "holds in memory (clients' states, software distribution, collections, inventory facts, "
     "rollouts, maintenance windows, pauses) again, whatever the "
     "announcements of changes said (the longest it can miss a change another management "
     "point made, should an announcement be lost)"},
    {"status_retention", CONF_DURATION, "30d", 3600, 3650LL * 86400, OFF(status_retention), NULL,
     "status messages older than this are pruned"},
    {"inventory_interval", CONF_DURATION, "24h", 3600, 30 * 86400, OFF(inventory_interval), NULL,
     "how often agents send their hardware and software inventory (also once at enrollment)"},
    {"inventory_max_bytes", CONF_INT, "8388608", 65536, 67108864, OFF(inventory_max_bytes), NULL,
     "largest inventory report accepted (POST /api/v1/inventory); larger gets 413"},
    {"inactive_days", CONF_INT, "14", 1, 3650, OFF(inactive_days), NULL,
     "clients not seen for this many days are reported as inactive (they stay queryable)"},
    {"package_max_bytes", CONF_INT, "4294967296", 1048576, 1099511627776LL, OFF(package_max_bytes),
     NULL, "largest package (sum of its files) an import accepts; also the largest one upload"},
    {"content_dir", CONF_STRING, "", 0, 1024, OFF(content_dir), NULL,
     "where blobs are kept (default DATA_DIR/content)"},
    {"public_url", CONF_STRING, "", 0, 256, OFF(public_url), check_url_opt,
     "URL agents use to reach this stewardd's distribution point (default http://LISTEN, "
     "with the host name when listening on every address); also the site URL that "
     "/bootstrap.sh gives new agents (default: the Host the script was fetched from)"},
    {"distribution_point", CONF_LIST, NULL, 8, 512, OFF(distribution_point), check_dp,
     "repeatable: 'URL [CIDR ...] [pin=sha256:HEX]' a remote distribution point, preferred "
     "by clients whose address is in one of the CIDRs; pin: its certificate's pin "
     "(DATA_DIR/tls.pin on it), which agents then require"},
    {"dp_max_downloads", CONF_INT, "200", 1, 100000, OFF(dp_max_downloads), NULL,
     "downloads a distribution point serves at once; more get 503 with Retry-After"},
    {"dp_max_bandwidth", CONF_INT, "0", 0, 100000000000LL, OFF(dp_max_bandwidth), NULL,
     "bytes per second all downloads of a distribution point share (0: no limit)"},
    {"upstream", CONF_STRING, "", 0, 256, OFF(upstream), check_url_opt,
     "for a remote distribution point: the site server's URL to pull content from"},
    {"upstream_token_file", CONF_STRING, "", 0, 1024, OFF(upstream_token_file), NULL,
     "for a remote distribution point: file holding a token of the site server, of role "
     "distribution_point (stewardctl admins create NAME --role distribution_point)"},
    {"dp_sync_interval", CONF_DURATION, "5m", 1, 86400, OFF(dp_sync_interval), NULL,
     "how often a remote distribution point checks its site server for new content"},
    {"status_history_days", CONF_INT, "90", 1, 3650, OFF(status_history_days), NULL,
     "software distribution status history older than this many days is pruned"},
    {"release_key", CONF_LIST, NULL, 64, 64, OFF(release_key), check_release_key,
     "repeatable: the public key (64 hex digits, FILE.pub of stewardctl releases keygen) of a "
     "release signer this site trusts; without one, releases import is refused"},
    {"release_key_endorsement", CONF_LIST, NULL, 1, CONTENT_STATEMENT_MAX,
     OFF(release_key_endorsement), check_endorsement,
     "repeatable: a line of stewardctl releases endorse-key (a new release key signed by one "
     "agents already trust); agents take the new key from it, which is how a release key is "
     "rotated (the first 8 are sent)"},
    {"release_halt_failures", CONF_INT, "1", 0, 1000000, OFF(release_halt_failures), NULL,
     "a release is no longer offered to agents once this many machines rolled it back or "
     "failed to start it (0: never; new machines never install a release that failed anywhere)"},
    {"rollout_offers_per_minute", CONF_INT, "6000", 0, 10000000, OFF(rollout_offers_per_minute),
     NULL,
     "at most this many upgrade offers a minute from this site's rollouts (0: no cap); a client "
     "over the cap asks again a little later, so a new wave never becomes a thundering herd"},
    {"rollout_dp_offers_per_minute", CONF_INT, "3000", 0, 10000000,
     OFF(rollout_dp_offers_per_minute), NULL,
     "at most this many upgrade offers a minute for the clients of one distribution point (0: no "
     "cap)"},
    {"client_link_slow_below", CONF_INT, "1000", 1, 100000000, OFF(client_link_slow_below), NULL,
     "kbit/s: a client whose measured throughput is below this is on a slow link "
     "(docs/slow-links.md)"},
    {"client_link_wan_below", CONF_INT, "20000", 1, 100000000, OFF(client_link_wan_below), NULL,
     "kbit/s: a client measured below this (and not below client_link_slow_below) is on a wan "
     "link; faster is lan"},
    {"client_link_max_age", CONF_DURATION, "24h", 60, 30 * 86400, OFF(client_link_max_age),
     NULL,
     "an agent's measurement older than this no longer classifies its link (its boundary's "
     "class does, else lan)"},
    {"client_link_probe_interval", CONF_DURATION, "6h", 10, 30 * 86400,
     OFF(client_link_probe_interval), NULL,
     "an agent that moved no data for this long measures its link with a small probe "
     "(client_link_probe_bytes) before it checks in"},
    {"client_link_probe_retry", CONF_DURATION, "1h", 10, 86400, OFF(client_link_probe_retry),
     NULL,
     "while something waits for a faster link, the agent measures again this often, so that "
     "it is served at the first check-in on a faster link"},
    {"client_link_probe_bytes", CONF_INT, "32768", 4096, 1048576, OFF(client_link_probe_bytes),
     NULL, "size of the probe an agent downloads from its management point to measure its link"},
    {"client_rate_limit_wan", CONF_INT, "0", 0, 100000000, OFF(client_rate_limit_wan), NULL,
     "kbit/s an agent on a wan link downloads at most (0: no limit), on top of the "
     "distribution point's own caps"},
    {"client_rate_limit_slow", CONF_INT, "0", 0, 100000000, OFF(client_rate_limit_slow), NULL,
     "kbit/s an agent on a slow link downloads at most (0: no limit)"},
    {"client_rate_limit_metered", CONF_INT, "0", 0, 100000000, OFF(client_rate_limit_metered),
     NULL, "kbit/s an agent on a metered link downloads at most (0: no limit)"},
    {"link_seen_interval", CONF_DURATION, "1h", 1, 86400, OFF(link_seen_interval), NULL,
     "how often a site tells its parent the last-seen times of its clients (and of the "
     "clients of the sites below it)"},
    {"link_retention", CONF_DURATION, "24h", 0, 30 * 86400, OFF(link_retention), NULL,
     "how long a site keeps the messages a linked site acknowledged, to send them again if "
     "that site's database is restored from a backup made since (while it is on watch after "
     "an upgrade, all are kept until its watch ends)"},
    {"link_retention_max", CONF_INT, "100000", 0, 10000000, OFF(link_retention_max), NULL,
     "at most this many acknowledged messages are kept per linked site (the newest, however "
     "recent the others), except while that site is on watch after an upgrade"},
    {"hierarchy_upgrade_timeout", CONF_DURATION, "30m", 10, 86400, OFF(hierarchy_upgrade_timeout),
     NULL,
     "in a coordinated upgrade of the hierarchy, how long a site may take to run the new "
     "release before the upgrade halts"},
    {"site_upgrade_watch", CONF_DURATION, "10m", 0, 7 * 86400, OFF(site_upgrade_watch), NULL,
     "after a site upgrade, how long the new stewardd is watched once it serves: if it dies or "
     "fails its health check in that time, the database backup and the old version come back "
     "(what the new version wrote meanwhile is lost); 0: the upgrade succeeds as soon as the "
     "new version serves"},
    {"site_upgrade_health_interval", CONF_DURATION, "10s", 1, 600,
     OFF(site_upgrade_health_interval), NULL,
     "while a new version is watched (site_upgrade_watch), how often its health is checked: "
     "the database answers a write and the listener a request on loopback; 3 failures in a "
     "row roll it back"},
    {"metrics_loopback", CONF_BOOL, "true", 0, 0, OFF(metrics_loopback), NULL,
     "let loopback callers read /metrics without a token"},
    {"console_session_idle", CONF_DURATION, "30m", 2, 86400, OFF(console_session_idle), NULL,
     "a web console session not used for this long ends (401 session_expired; sign in "
     "again)"},
    {"console_session_lifetime", CONF_DURATION, "12h", 60, 7 * 86400,
     OFF(console_session_lifetime), NULL,
     "a web console session ends this long after its sign-in, however much it is used"},
    {"log_level", CONF_STRING, "info", 1, 16, OFF(log_level), check_log_level,
     "debug, info, warn or error"},
};

const size_t site_config_table_len = sizeof(site_config_table) / sizeof(site_config_table[0]);

int site_config_finish(struct site_config *c, char *msg, size_t msgsz)
{
	char inner[200];
	enum log_level lvl;

	if (!c->site_code) {
		snprintf(msg, msgsz,
			 "site_code is required: set it in the file or pass --site_code ABC");
		return -STEWARD_EINVAL;
	}
	if (split_listen(c->listen, c->listen_addr, sizeof(c->listen_addr), &c->listen_port)) {
		snprintf(msg, msgsz, "listen: '%s' is not ADDRESS:PORT", c->listen);
		return -STEWARD_EINVAL;
	}
	if (parse_roles(c->roles, &c->role_mask)) {
		snprintf(msg, msgsz, "roles: '%s' is not a valid role list", c->roles);
		return -STEWARD_EINVAL;
	}
	c->n_boundaries = 0;
	for (int i = 0; i < c->boundary.n; i++) {
		if (core_boundary_parse(c->boundary.items[i], &c->boundaries[c->n_boundaries], inner,
					sizeof(inner))) {
			snprintf(msg, msgsz, "boundary: %s", inner);
			return -STEWARD_EINVAL;
		}
		c->n_boundaries++;
	}
	c->n_release_keys = 0;
	for (int i = 0; i < c->release_key.n; i++)
		if (hex_decode(c->release_key.items[i], c->release_keys[c->n_release_keys],
			       PROTO_PK_BYTES) == 0)
			c->n_release_keys++;
	if (c->checkin_jitter > c->checkin_interval) {
		snprintf(msg, msgsz, "checkin_jitter (%llds) must not exceed checkin_interval (%llds)",
			 (long long)c->checkin_jitter, (long long)c->checkin_interval);
		return -STEWARD_EINVAL;
	}
	if (c->http_max_per_ip > c->http_max_connections) {
		snprintf(msg, msgsz, "http_max_per_ip (%lld) must not exceed http_max_connections (%lld)",
			 (long long)c->http_max_per_ip, (long long)c->http_max_connections);
		return -STEWARD_EINVAL;
	}
	if (log_level_parse(c->log_level, &lvl) == 0)
		log_set_level(lvl);
	return 0;
}

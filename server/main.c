/* stewardd: one site system. By default all four roles in one process with
 * an embedded SQLite database, so one command starts a complete site. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <errno.h>
#include <unistd.h>
#include <limits.h>
#include <sys/stat.h>

#include <sodium.h>

#include "site.h"

int site_admin_token_new(struct site *s, const char *name, const char *role, const char *by,
			 char out[69]);

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: stewardd [-c FILE] [--KEY VALUE ...]   start a site system\n"
	       "       stewardd -n -c FILE [--KEY VALUE ...]   check the configuration and exit\n"
	       "       stewardd --version                    version and protocol range\n"
	       "       stewardd --help-config [--markdown]   the configuration keys\n"
	       "       stewardd --routes                     the HTTP route table\n"
	       "       stewardd --prepare-upgrade VERSION -c FILE   back up for a package upgrade\n"
	       "Every configuration key can be given as --key value (overriding the file).\n");
}

static void print_routes(void)
{
	char roles[128], allow[128];

	/* METHOD PATH PERMISSION TOKEN-ROLES SITE-SYSTEM-ROLES: what the
	 * generated tests read (test_routes_auth.sh, test_roles.sh) */
	for (size_t i = 0; i < site_routes_len; i++) {
		const struct http_route *r = &site_routes[i];
		printf("%-6s %-40s %-14s %-38s %s\n", r->method, r->path, perm_name(r->perm),
		       token_roles_text(r->allow, allow, sizeof(allow)),
		       roles_text(r->roles, roles, sizeof(roles)));
	}
}

static int load_secret(const char *dir, uint8_t secret[PROTO_SITE_SECRET_BYTES])
{
	char path[PATH_MAX];
	char *data = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/site.secret", dir);
	rc = file_read_all(path, 1024, &data, &len);
	if (rc == -STEWARD_ENOTFOUND) {
		rand_bytes(secret, PROTO_SITE_SECRET_BYTES);
		rc = file_write_atomic(path, secret, PROTO_SITE_SECRET_BYTES, 0600);
		if (rc == 0)
			log_info("site", "secret_created", "path=%s", path);
		return rc;
	}
	if (rc)
		return rc;
	if (len != PROTO_SITE_SECRET_BYTES) {
		free(data);
		log_error("site", "secret_invalid", "path=%s bytes=%zu expected=%d", path, len,
			  PROTO_SITE_SECRET_BYTES);
		return -STEWARD_EINVAL;
	}
	memcpy(secret, data, PROTO_SITE_SECRET_BYTES);
	sodium_memzero(data, len);
	free(data);
	return 0;
}

/* The first start writes an admin token the administrator can use at once. */
static int first_admin(struct site *s)
{
	char path[PATH_MAX], token[69], line[72];
	int64_t n = 0;
	int rc = s->store->ops->admin_count(s->store, &n);

	if (rc || n > 0)
		return rc;
	rc = site_admin_token_new(s, "admin", "admin", "", token);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/admin.token", s->cfg.data_dir);
	snprintf(line, sizeof(line), "%s\n", token);
	rc = file_write_atomic(path, line, strlen(line), 0600);
	sodium_memzero(token, sizeof(token));
	sodium_memzero(line, sizeof(line));
	if (rc == 0)
		log_info("site", "admin_token_written", "path=%s mode=0600", path);
	return rc;
}

static int load_client(const struct store_client *c, void *ctx)
{
	return registry_put(ctx, c);
}

/* --prepare-upgrade VERSION: a package upgrade's backup (siteupgrade.c) */
static const char *g_prepare_to;

static int parse_args(int argc, char **argv, struct site_config *cfg, bool *check_only)
{
	const char *file = NULL;
	char msg[512];
	int rc;

	*check_only = false;
	/* first pass: actions and the file */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			struct proto_range r = proto_self_range();

			printf("stewardd %s protocol %d-%d api %d\n", proto_self_version(), r.min, r.max,
			       STEWARD_API_MAJOR);
			exit(0);
		} else if (strcmp(argv[i], "--help-config") == 0) {
			bool md = i + 1 < argc && strcmp(argv[i + 1], "--markdown") == 0;
			conf_print_help(site_config_table, site_config_table_len, md);
			exit(0);
		} else if (strcmp(argv[i], "--routes") == 0) {
			print_routes();
			exit(0);
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(argv[i], "--prepare-upgrade") == 0) {
			if (++i >= argc) {
				fprintf(
				    stderr,
				    "stewardd: --prepare-upgrade needs the new version X.Y.Z\n");
				return 2;
			}
			g_prepare_to = argv[i];
		} else if (strcmp(argv[i], "-n") == 0) {
			*check_only = true;
		} else if (strcmp(argv[i], "-c") == 0) {
			if (++i >= argc) {
				fprintf(stderr, "stewardd: -c needs a file\n");
				return 2;
			}
			file = argv[i];
		} else if (strncmp(argv[i], "--", 2) == 0) {
			if (!strchr(argv[i], '='))
				i++; /* --key value: second pass */
		} else {
			fprintf(stderr, "stewardd: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (conf_defaults(site_config_table, site_config_table_len, cfg)) {
		fprintf(stderr, "stewardd: internal error: bad default in the configuration table\n");
		return 1;
	}
	if (file && conf_load_file(site_config_table, site_config_table_len, cfg, file, msg,
				   sizeof(msg))) {
		fprintf(stderr, "%s\n", msg);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--prepare-upgrade") == 0) {
			i++;
			continue;
		}
		if (strncmp(argv[i], "--", 2) != 0)
			continue;
		{
			char key[64];
			const char *eq = strchr(argv[i] + 2, '=');
			const char *val;
			size_t klen = eq ? (size_t)(eq - argv[i] - 2) : strlen(argv[i] + 2);

			if (klen >= sizeof(key)) {
				fprintf(stderr, "stewardd: unknown option '%.64s'\n", argv[i]);
				return 2;
			}
			memcpy(key, argv[i] + 2, klen);
			key[klen] = '\0';
			if (eq) {
				val = eq + 1; /* --key=value */
			} else if (i + 1 < argc) {
				val = argv[++i];
			} else {
				fprintf(stderr, "stewardd: %s needs a value\n", argv[i]);
				return 2;
			}
			rc = conf_set(site_config_table, site_config_table_len, cfg, key, val, msg,
				      sizeof(msg));
			if (rc) {
				fprintf(stderr, "stewardd: command line: %s\n", msg);
				return 1;
			}
		}
	}
	if (site_config_finish(cfg, msg, sizeof(msg))) {
		fprintf(stderr, "%s%s%s\n", file ? file : "", file ? ": " : "stewardd: ", msg);
		return 1;
	}
	if (*check_only) {
		printf("%s: configuration ok\n", file ? file : "(command line)");
		return -1;
	}
	return 0;
}

static int run(struct site *s)
{
	struct steward_err err = {.code = ""};
	char dbpath[PATH_MAX], range[24];
	struct proto_range self = proto_self_range();
	sigset_t sigs;
	int sig, rc;
	int64_t last_prune = 0;
	/* the periodic jobs: in the site server only */
	const bool site_jobs = (s->cfg.role_mask & ROLE_SITE_SERVER) != 0;
	const char *reply_headers[8];
	char api[8];

	if (file_mkdirs(s->cfg.data_dir, 0700)) {
		log_error("site", "data_dir_failed", "path=%s error=\"%s\"", s->cfg.data_dir, strerror(errno));
		fprintf(stderr, "stewardd: cannot create data_dir %s: %s\n", s->cfg.data_dir, strerror(errno));
		return 1;
	}
	if (load_secret(s->cfg.data_dir, s->secret)) {
		fprintf(stderr, "stewardd: cannot read or create %s/site.secret (32 bytes, mode 0600)\n",
			s->cfg.data_dir);
		return 1;
	}
	/* signs manifests and content tokens (docs/internals/swdist.md) */
	snprintf(dbpath, sizeof(dbpath), "%s/site.key", s->cfg.data_dir);
	if (proto_keypair_load_or_create(dbpath, &s->site_kp, NULL)) {
		fprintf(stderr, "stewardd: cannot read or create %s (Ed25519 key, mode 0600)\n",
			dbpath);
		return 1;
	}
	/* content (content.c): the blobs a site server receives and a
	 * distribution point serves */
	if (s->cfg.role_mask & (ROLE_SITE_SERVER | ROLE_DISTRIBUTION_POINT)) {
		if (s->cfg.content_dir && *s->cfg.content_dir)
			snprintf(dbpath, sizeof(dbpath), "%s", s->cfg.content_dir);
		else
			snprintf(dbpath, sizeof(dbpath), "%s/content", s->cfg.data_dir);
		if (content_store_open(dbpath, &s->content, &err)) {
			log_error("site", err.code, "message=\"%s\"", err.message);
			fprintf(stderr, "stewardd: %s: %s\nremedy: %s\n", err.code, err.message,
				err.remedy);
			return 1;
		}
	}
	/* an upgrade on trial or on watch, or one to undo (siteupgrade.c) */
	rc = site_upgrade_startup(s, &err);
	if (rc) {
		if (rc > 0)
			return 0; /* main() execs the old version on its restored database */
		log_error("site", err.code, "message=\"%s\"", err.message);
		fprintf(stderr, "stewardd: %s: %s\nremedy: %s\n", err.code, err.message,
			err.remedy);
		return 1;
	}
	if (s->cfg.database && s->cfg.database[0])
		snprintf(dbpath, sizeof(dbpath), "%s", s->cfg.database);
	else
		snprintf(dbpath, sizeof(dbpath), "%s/steward.db", s->cfg.data_dir);
	rc = store_sqlite_ops.open(dbpath, &s->store, &err);
	if (s->cfg.database && s->cfg.database[0]) /* from here on only shown */
		store_target_masked(s->cfg.database, dbpath, sizeof(dbpath));
	if (rc) {
		log_error("site", err.code, "message=\"%s\"", err.message);
		fprintf(stderr, "stewardd: %s: %s\nremedy: %s\n", err.code, err.message, err.remedy);
		if (s->upgrade_trial || atomic_load(&s->watch.on)) {
			char why[sizeof(err.message) + 64];

			snprintf(why, sizeof(why), "%s: %s", err.code, err.message);
			if (site_upgrade_failed(s, why) == 0)
				return 0; /* main() execs the old version */
		}
		return 1;
	}
	if (first_admin(s)) {
		fprintf(stderr, "stewardd: cannot create the first admin token in %s\n", s->cfg.data_dir);
		return 1;
	}
	if (registry_new(1024, &s->reg) ||
	    s->store->ops->client_list(s->store, true, load_client, s->reg)) {
		fprintf(stderr, "stewardd: cannot load clients from %s\n", dbpath);
		return 1;
	}
	if (site_collections_load(s)) { /* collections (facts.c) */
		fprintf(stderr, "stewardd: cannot load collections and inventory facts from %s\n", dbpath);
		return 1;
	}
	if (site_swdist_load(s)) { /* software distribution (swdist.c) */
		fprintf(stderr, "stewardd: cannot load packages, programs and advertisements from %s\n",
			dbpath);
		return 1;
	}
	if (site_systems_load(s)) { /* remote site systems (sitesystems.c) */
		fprintf(stderr, "stewardd: cannot load the site systems from %s\n", dbpath);
		return 1;
	}
	if (site_consoles_load(s)) { /* stewardctl copies seen (consoles.c) */
		fprintf(stderr, "stewardd: cannot load the consoles seen from %s\n", dbpath);
		return 1;
	}
	if (site_console_start(s)) { /* the web console's sessions (console.c) */
		fprintf(stderr, "stewardd: out of memory for the console sessions\n");
		return 1;
	}
	if (site_audit_load(s)) { /* the audit log's head (audit.c) */
		fprintf(stderr, "stewardd: cannot read the audit log from %s\n", dbpath);
		return 1;
	}
	if (site_hierarchy_load(s)) { /* sites above and below (hierarchy.c) */
		fprintf(stderr, "stewardd: cannot load the sites above and below from %s\n",
			dbpath);
		return 1;
	}
	if (site_bootstrap_load(s)) { /* client installation (bootstrap.c) */
		fprintf(stderr, "stewardd: cannot load the installation settings from %s\n", dbpath);
		return 1;
	}
	if (site_rollouts_load(s) || site_windows_load(s)) { /* rollouts.c, windows.c */
		fprintf(stderr, "stewardd: cannot load the rollouts and maintenance windows from %s\n",
			dbpath);
		return 1;
	}
	site_readiness_load(s); /* the check-in history (readiness.c) */
	/* other management points' changes (changes.c), PostgreSQL only */
	if (site_changes_start(s, s->cfg.database)) {
		fprintf(stderr, "stewardd: cannot start the thread that listens for changes\n");
		return 1;
	}
	if (metrics_new(site_routes_len, &s->metrics) ||
	    store_writer_start(s->store, (size_t)s->cfg.writer_queue_max,
			       (size_t)s->cfg.writer_batch_max, &s->writer)) {
		fprintf(stderr, "stewardd: cannot start the check-in writer\n");
		return 1;
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);

	proto_range_format(&self, range);
	snprintf(api, sizeof(api), "%d", STEWARD_API_MAJOR);
	reply_headers[0] = PROTO_H_VERSION;
	reply_headers[1] = proto_self_version();
	reply_headers[2] = PROTO_H_PROTOCOL;
	reply_headers[3] = range;
	reply_headers[4] = PROTO_H_API;
	reply_headers[5] = api;
	reply_headers[6] = NULL;
	reply_headers[7] = NULL;
	site_routes_configure(&s->cfg); /* per-route body limits (inventory) */
	if (site_tls_start(s, &err)) {
		fprintf(stderr, "stewardd: %s: %s\nremedy: %s\n", err.code, err.message, err.remedy);
		return 1;
	}
	{
		struct http_server_config hc = {
		    .addr = s->cfg.listen_addr,
		    .port = s->cfg.listen_port,
		    .limits = {.max_header_bytes = (size_t)s->cfg.http_max_header_bytes,
			       .max_body_bytes = (size_t)s->cfg.http_max_body_bytes,
			       .timeout_s = (unsigned)s->cfg.http_timeout,
			       .head_timeout_s = (unsigned)s->cfg.http_head_timeout,
			       .body_timeout_s = (unsigned)s->cfg.http_body_timeout,
			       .body_min_rate = (unsigned)s->cfg.http_body_min_rate,
			       .max_connections = (unsigned)s->cfg.http_max_connections,
			       .max_per_ip = (unsigned)s->cfg.http_max_per_ip,
			       .threads = (unsigned)s->cfg.http_threads},
		    .routes = site_routes,
		    .n_routes = site_routes_len,
		    .roles = s->cfg.role_mask,
		    .authorize = site_authorize,
		    .observe = site_observe,
		    .app = s,
		    .reply_headers = reply_headers,
		    .tls_key_pem = s->tls_key_pem,
		    .tls_cert_pem = s->tls_cert_pem,
		};
		if (http_server_start(&hc, &s->http, &err)) {
			fprintf(stderr, "stewardd: %s: %s\nremedy: %s\n", err.code, err.message, err.remedy);
			if (s->upgrade_trial || atomic_load(&s->watch.on)) {
				char why[sizeof(err.message) + 64];

				snprintf(why, sizeof(why), "%s: %s", err.code, err.message);
				if (site_upgrade_failed(s, why) == 0)
					return 0; /* main() execs the old version */
			}
			return 1;
		}
	}
	site_trust_init(s, http_server_port(s->http));
	site_swdist_listening(s, http_server_port(s->http));
	if (site_jobs) /* the links' senders: the site server's */
		site_hierarchy_listening(s, http_server_port(s->http));
	/* remote distribution point (dpsync.c): pull content from the site server */
	if (s->cfg.upstream && *s->cfg.upstream && site_dpsync_start(s, &err)) {
		fprintf(stderr, "stewardd: %s: %s\nremedy: %s\n", err.code, err.message, err.remedy);
		return 1;
	}
	{
		char roles[128];
		int64_t counts[4];
		registry_counts(s->reg, counts);
		log_info("site", "started",
			 "site=%s version=%s protocol=%s listen=%s:%u tls=%s roles=%s data_dir=%s "
			 "database=%s clients=%lld",
			 s->cfg.site_code, proto_self_version(), range, s->cfg.listen_addr,
			 http_server_port(s->http), s->tls_pin[0] ? s->tls_pin : "off", roles_text(s->cfg.role_mask, roles, sizeof(roles)),
			 s->cfg.data_dir, dbpath, (long long)(counts[0] + counts[1] + counts[2]));
	}
	/* The periodic jobs over the shared database run in the site server
	 * alone; a management point beside it on the same database
	 * (docs/internals/management-points.md) writes only its own news. */
	if (site_jobs)
		log_info("site", "jobs",
			 "runs=\"rollout waves, hierarchy links and senders, "
			 "coordinated upgrade, check-in history, pruning\"");
	else
		log_info(
		    "site", "jobs",
		    "runs=none skips=\"rollout waves, hierarchy links and senders, coordinated "
		    "upgrade, check-in history, pruning\" reason=\"not the site server "
		    "(roles=%s)\"",
		    s->cfg.roles);
	site_upgrade_serving(s);
	{
		/* under systemd (Type=notify): serving now. A version exec'd by a
		 * site upgrade or its rollback says so again from the same PID. */
		char st[160];
		int nrc;

		snprintf(st, sizeof(st), "READY=1\nSTATUS=serving site %.32s on port %u",
			 s->cfg.site_code, http_server_port(s->http));
		nrc = notify_service_manager(st);
		if (nrc)
			log_warn("site", "notify_failed",
				 "socket=\"%.100s\" error=%s remedy=\"NOTIFY_SOCKET must name a "
				 "unix datagram "
				 "socket (set by systemd for Type=notify)\"",
				 getenv("NOTIFY_SOCKET"),
				 nrc == -STEWARD_EINVAL ? "invalid" : "send_failed");
	}
	snprintf(s->exec_listen, sizeof(s->exec_listen), "%s%s%s:%u",
		 strchr(s->cfg.listen_addr, ':') ? "[" : "", s->cfg.listen_addr,
		 strchr(s->cfg.listen_addr, ':') ? "]" : "", http_server_port(s->http));

	for (;;) {
		struct timespec ts = {1, 0};
		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (site_upgrade_tick(s)) { /* the new version failed on watch */
			sig = 0;
			break;
		}
		site_facts_refresh_run(s);
		/* waves, gates, halts (rollouts.c); elsewhere its members' news */
		site_rollouts_tick(s, site_jobs);
		if (!site_jobs)
			continue;
		site_hierarchy_tick(s);
		site_hupgrade_tick(s);	/* a coordinated upgrade of the hierarchy */
		site_readiness_tick(s); /* the check-in history, saved now and then */
		if (time_now_s() - last_prune >= 3600) {
			last_prune = time_now_s();
			s->store->ops->status_prune(s->store, last_prune - s->cfg.status_retention);
			s->store->ops->status_history_prune(s->store,
							    last_prune - s->cfg.status_history_days * 86400);
		}
	}

	/* Stop accepting; handlers refuse new work from here (503 and
	 * Connection: close on kept-alive connections). Let in-flight requests
	 * finish, check-ins waiting for their commit included, then flush the
	 * writer. The writer stays allocated until the HTTP server is gone, so
	 * a late handler sees -STEWARD_ECLOSED, never freed memory. */
	log_info("site", "stopping", "signal=%d%s", sig,
		 sig ? "" : " reason=\"going back to the old version\"");
	atomic_store(&s->stopping, true);
	/* a stop by signal is the end; going back to the old version (sig 0)
	 * is not: that version says READY=1 again from this PID */
	notify_service_manager(sig ? "STOPPING=1" : "STATUS=going back to the previous version");
	site_changes_stop(s); /* other management points' changes (changes.c) */
	site_dpsync_stop(s); /* remote distribution point (dpsync.c) */
	site_hierarchy_stop(s); /* the links' senders (hierarchy.c) */
	http_server_quiesce(s->http);
	rc = (int)http_server_drain(s->http, 10000);
	if (rc)
		log_warn("site", "drain_timeout", "requests_left=%d", rc);
	store_writer_stop(s->writer);
	http_server_drain(s->http, 2000);
	if (site_jobs)
		site_readiness_save(s); /* no check-in comes after the writer stopped */
	http_server_stop(s->http);
	s->http = NULL;
	store_writer_free(s->writer);
	s->writer = NULL;
	site_rollouts_tick(s, site_jobs); /* the last progress of the rollouts */
	if (sig)
		site_upgrade_stopped(s); /* an orderly stop is no death of a version on watch */
	log_info("site", "stopped", "site=%s", s->cfg.site_code);
	return 0;
}

int main(int argc, char **argv)
{
	struct site *s = calloc(1, sizeof(*s));
	bool check_only;

	if (s) {
		pthread_mutex_init(&s->refresh_lock, NULL);
		s->upgrade_lock_fd = -1;
	}
	int rc;

	sigset_t sigs;

	if (!s || proto_init()) {
		fprintf(stderr, "stewardd: cannot initialise\n");
		return 1;
	}
	/* Block the stop signals before any thread exists, so every thread
	 * inherits the mask and only run()'s sigtimedwait takes them; a thread
	 * started with them unblocked would let SIGTERM kill the process. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = parse_args(argc, argv, &s->cfg, &check_only);
	if (rc == 0 && g_prepare_to) {
		struct steward_err err = {.code = ""};

		rc = site_upgrade_prepare_package(s, g_prepare_to, &err);
		if (rc == 1)
			printf("stewardd: %s is this version; nothing to prepare\n", g_prepare_to);
		else if (rc == 0)
			printf(
			    "stewardd: ready for the upgrade from %s to %s; its first start rolls "
			    "back to %s if it cannot serve\n",
			    proto_self_version(), g_prepare_to, proto_self_version());
		else
			fprintf(stderr, "stewardd: %s: %s\nremedy: %s\n", err.code, err.message,
				err.remedy);
		rc = rc < 0 ? 1 : 0;
	} else if (rc == 0) {
		s->started = time_now_s();
		rc = run(s);
	} else if (rc < 0) {
		rc = 0; /* -n: configuration ok */
	}
	if (s->http)
		http_server_stop(s->http);
	store_writer_free(s->writer);
	atomic_store(&s->stopping, true);
	site_changes_stop(s); /* before the store it reads closes */
	if (s->store)
		s->store->ops->close(s->store);
	/* going back (siteupgrade.c): the backup is restored now that the
	 * store is closed, before the old version starts on it */
	if (s->exec_path[0] && site_upgrade_before_exec(s) != 0) {
		s->exec_path[0] = '\0';
		rc = 1;
	}
	registry_free(s->reg);
	site_swdist_free(s);      /* software distribution (swdist.c) */
	site_bootstrap_free(s);   /* client installation (bootstrap.c) */
	site_rollouts_free(s);    /* rollouts (rollouts.c) */
	site_windows_free(s);     /* maintenance windows (windows.c) */
	site_hierarchy_free(s);   /* sites above and below (hierarchy.c) */
	site_consoles_free(s);    /* consoles (consoles.c) */
	site_console_free(s);     /* web console sessions (console.c) */
	site_audit_free(s);       /* the audit log (audit.c) */
	site_systems_free(s);     /* remote site systems (sitesystems.c) */
	site_collections_free(s); /* collections (facts.c) */
	content_store_close(s->content); /* content (content.c); after the HTTP server */
	site_tls_stop(s);                /* the TLS key and certificate (sitetls.c) */
	metrics_free(s->metrics);
	conf_free(site_config_table, site_config_table_len, &s->cfg);
	sodium_memzero(s->secret, sizeof(s->secret));
	free(s->refresh);
	pthread_mutex_destroy(&s->refresh_lock);
	if (s->exec_path[0]) {
		/* a site upgrade or its rollback (siteupgrade.c): the other
		 * version, same arguments, same PID */
		char *path = s->exec_path, **nargv = calloc((size_t)argc + 3, sizeof(*nargv));

		fflush(NULL);
		if (nargv) {
			/* the same arguments, and the port bound now (listen may
			 * have said port 0) */
			memcpy(nargv, argv, (size_t)argc * sizeof(*nargv));
			nargv[0] = path;
			if (s->exec_listen[0]) {
				nargv[argc] = "--listen";
				nargv[argc + 1] = s->exec_listen;
			}
			execv(path, nargv);
		}
		fprintf(stderr, "stewardd: cannot start %s: %s\n", path, strerror(errno));
		rc = 1;
	}
	free(s);
	return rc;
}

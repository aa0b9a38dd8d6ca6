/* steward-sim: fleet simulator and load generator.
 *
 *   steward-sim --server URL --token-file F --clients N --duration 30s
 *               [--concurrency C] [--ack-log FILE] [--state FILE [--reuse]]
 *   steward-sim --plain-url URL --duration 15s [--concurrency C]
 *
 * Prints one summary line on stdout:
 *   checkins=NNN rate=NNN.N/s p50_ms=N.NN p99_ms=N.NN errors=N [code=count ...]
 * See sim/README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>

#include "sim.h"

volatile sig_atomic_t sim_stop;

static void on_signal(int sig)
{
	(void)sig;
	if (sim_stop < 100)
		sim_stop++;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: steward-sim --server URL --token-file FILE --clients N --duration D\n"
		"                   [--concurrency C] [--cycle D] [--timeout D] [--setup-timeout D]\n"
		"                   [--ack-log FILE] [--state FILE [--reuse]] [--json] [--quiet]\n"
		"                   [--agent-version X.Y.Z] [--upgrade-fail-rate PERCENT]\n"
		"                   [--upgrade-fail-release X.Y.Z]\n"
		"                   [--upgrade-delay D] [--versions-out FILE]\n"
		"       steward-sim --plain-url URL --duration D [--concurrency C] [--timeout D] [--json]\n"
		"       steward-sim --server URL --token-file FILE --clients N --replay-out FILE\n"
		"                   --replay-requests K [--replay-threads T] [--replay-status M]\n"
		"                   [--replay-changed] [--state FILE [--reuse]]\n"
		"\n"
		"  --server URL         the site, scheme://host:port (no path)\n"
		"  --token-file FILE    admin token (stewardd's DATA_DIR/admin.token), used to\n"
		"                       create one enrollment token with uses=N\n"
		"  --clients N          virtual clients (1..%u)\n"
		"  --duration D         measured phase: 30s, 5m, ... (required, at most 1h)\n"
		"  --concurrency C      requests in flight (default 64, at most %d)\n"
		"  --cycle D            the check-in cycle, scaled (the agent's is 23h): each\n"
		"                       client checks in once per D, so the measured phase\n"
		"                       offers N / D requests per second (default: flat out,\n"
		"                       as many as --concurrency allows; at most 24h)\n"
		"  --timeout D          per request (default 10s)\n"
		"  --setup-timeout D    enrollment and first sessions (default 10m, at most 1h)\n"
		"  --ack-log FILE       append \"CLIENT_ID SEQ\" for every check-in answered 200\n"
		"  --state FILE         save enrolled clients (id, secret key, last seq), mode 0600\n"
		"  --reuse              load clients from --state instead of enrolling them\n"
		"  --agent-version V    the agent version new clients report (default %s);\n"
		"                       clients loaded with --reuse keep the one they saved\n"
		"  --upgrade-fail-rate P  percent (0..100, two decimals) of upgrades that fail\n"
		"  --upgrade-fail-release V  only upgrades to release V fail (default: any)\n"
		"                       and roll back, chosen by client id and release (default 0)\n"
		"  --upgrade-delay D    the switch completes D after the download (default 0s)\n"
		"  --versions-out FILE  at the end, one line \"CLIENT_ID VERSION\" per client\n"
		"  --plain-url URL      GET URL instead of speaking the protocol (baseline)\n"
		"  --replay-out FILE    open the sessions, then write K MACed check-ins with fresh\n"
		"                       sequence numbers to FILE.0 .. FILE.(T-1) for wrk to send\n"
		"                       (bench/checkin/replay.lua) instead of sending them\n"
		"  --replay-requests K  check-ins to write, split over the files (1..%u)\n"
		"  --replay-threads T   files, one per wrk thread; client i goes to file i %% T\n"
		"                       (default 2, at most %u)\n"
		"  --replay-status M    status messages in each check-in (0..%d, default 0)\n"
		"  --replay-changed     every check-in reports a component version other than\n"
		"                       the client's previous one, so the site writes it\n"
		"  --json               print the summary as a JSON object\n"
		"  --quiet              no progress on stderr\n"
		"\n"
		"SIGINT or SIGTERM stops early and still prints the summary; a second one\n"
		"abandons requests in flight.\n",
		SIM_CLIENTS_MAX, SIM_CONCURRENCY_MAX, proto_self_version(), SIM_REPLAY_REQUESTS_MAX,
		SIM_REPLAY_THREADS_MAX, PROTO_STATUS_MAX);
}

/* "25", "2.5", "0.25": percent to basis points (0..10000). */
static int parse_percent(const char *s, uint32_t *bp)
{
	unsigned long whole = 0, frac = 0;
	const char *p = s;
	int digits = 0;

	if (!s || *s < '0' || *s > '9')
		return -STEWARD_EINVAL;
	while (*p >= '0' && *p <= '9' && whole <= 100)
		whole = whole * 10 + (unsigned long)(*p++ - '0');
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9' && digits < 2) {
			frac = frac * 10 + (unsigned long)(*p++ - '0');
			digits++;
		}
		if (digits == 0)
			return -STEWARD_EINVAL;
		if (digits == 1)
			frac *= 10;
	}
	if (*p || whole * 100 + frac > 10000)
		return -STEWARD_EINVAL;
	*bp = (uint32_t)(whole * 100 + frac);
	return 0;
}

static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end = NULL;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -STEWARD_EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -STEWARD_EINVAL;
	*out = v;
	return 0;
}

static int parse_dur(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	int64_t v;

	if (time_parse_duration(s, &v) != 0 || v < lo || v > hi)
		return -STEWARD_EINVAL;
	*out = v;
	return 0;
}

/* "http://host:port" or with a trailing "/"; anything with a path is refused,
 * because the path is part of every signature. */
/* HTTPS: the pins of the trust file, and the site's own beside the admin
 * token of its data directory (as stewardctl). */
static const char *sim_token_file, *sim_server;

static int sim_trust(const char *origin, struct tls_trust *out, void *arg)
{
	(void)arg;
	return tls_trust_console(origin, out, sim_server, sim_token_file);
}

static char *server_url(const char *s)
{
	const char *p = strstr(s, "://");
	size_t n = strlen(s);
	char *out;

	if (!p || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0))
		return NULL;
	p = strchr(p + 3, '/');
	if (p && p[1] != '\0')
		return NULL;
	if (p)
		n--;
	out = strndup(s, n);
	return out;
}

/* ---- --plain-url: the baseline with the same engine ---------------------------- */
struct plain {
	struct sim_http http;
	struct sim_stats stats;
	const char *url;
};

static void plain_done(struct sim_req *r, CURLcode cc, long status, void *ctx)
{
	struct plain *p = ctx;
	char key[SIM_KEY_MAX];

	if (cc != CURLE_OK) {
		sim_curl_key(cc, key);
		stats_error(&p->stats, key);
	} else if (status < 200 || status > 299) {
		snprintf(key, sizeof(key), "%ld", status);
		stats_error(&p->stats, key);
	} else {
		p->stats.ok++;
		stats_latency(&p->stats, r->finished_us - r->started_us);
	}
}

int plain_main(const struct sim_opts *o)
{
	struct plain p = {.url = o->plain_url};
	int64_t start, deadline, until;
	double elapsed;
	struct sim_req *r;

	if (stats_init(&p.stats) != 0 ||
	    sim_http_init(&p.http, o->concurrency, (long)o->timeout_ms) != 0) {
		fprintf(stderr, "steward-sim: out of memory\n");
		stats_free(&p.stats);
		return 1;
	}
	start = time_mono_us();
	deadline = start + o->duration_s * 1000000;
	while (!sim_stop && time_mono_us() < deadline) {
		while (!sim_stop && (r = sim_http_get(&p.http)))
			if (sim_http_start(&p.http, r, p.url, NULL, NULL, 0) != 0)
				stats_error(&p.stats, "internal");
		sim_http_step(&p.http, 20, plain_done, &p);
	}
	until = time_mono_us() + o->timeout_ms * 1000 + 1000000;
	while (sim_http_inflight(&p.http) > 0 && sim_stop < 2 && time_mono_us() < until)
		sim_http_step(&p.http, 50, plain_done, &p);
	sim_http_abort_all(&p.http, plain_done, &p);
	elapsed = (double)(time_mono_us() - start) / 1e6;
	stats_print(&p.stats, NULL, elapsed, o->json);
	sim_http_free(&p.http);
	stats_free(&p.stats);
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_SERVER = 256, O_TOKEN, O_CLIENTS, O_DURATION, O_CONC, O_ACK, O_STATE, O_REUSE,
	       O_PLAIN, O_JSON, O_TIMEOUT, O_SETUP, O_QUIET, O_HELP, O_AGENT_VERSION, O_FAIL_RATE, O_FAIL_RELEASE,
	       O_UP_DELAY, O_VERSIONS_OUT, O_REPLAY_OUT, O_REPLAY_REQUESTS, O_REPLAY_THREADS,
	       O_REPLAY_STATUS, O_REPLAY_CHANGED, O_CYCLE };
	static const struct option longopts[] = {
		{"server", required_argument, NULL, O_SERVER},
		{"token-file", required_argument, NULL, O_TOKEN},
		{"clients", required_argument, NULL, O_CLIENTS},
		{"duration", required_argument, NULL, O_DURATION},
		{"concurrency", required_argument, NULL, O_CONC},
		{"ack-log", required_argument, NULL, O_ACK},
		{"state", required_argument, NULL, O_STATE},
		{"reuse", no_argument, NULL, O_REUSE},
		{"plain-url", required_argument, NULL, O_PLAIN},
		{"json", no_argument, NULL, O_JSON},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"setup-timeout", required_argument, NULL, O_SETUP},
		{"quiet", no_argument, NULL, O_QUIET},
		{"help", no_argument, NULL, O_HELP},
		{"agent-version", required_argument, NULL, O_AGENT_VERSION},
		{"upgrade-fail-rate", required_argument, NULL, O_FAIL_RATE},
		{"upgrade-fail-release", required_argument, NULL, O_FAIL_RELEASE},
		{"upgrade-delay", required_argument, NULL, O_UP_DELAY},
		{"versions-out", required_argument, NULL, O_VERSIONS_OUT},
		{"replay-out", required_argument, NULL, O_REPLAY_OUT},
		{"replay-requests", required_argument, NULL, O_REPLAY_REQUESTS},
		{"replay-threads", required_argument, NULL, O_REPLAY_THREADS},
		{"replay-status", required_argument, NULL, O_REPLAY_STATUS},
		{"replay-changed", no_argument, NULL, O_REPLAY_CHANGED},
		{"cycle", required_argument, NULL, O_CYCLE},
		{NULL, 0, NULL, 0},
	};
	struct sim_opts o = {
		.concurrency = 64,
		.timeout_ms = 10000,
		.setup_timeout_s = 600,
		.agent_version = proto_self_version(),
		.replay_threads = 2,
	};
	struct sigaction sa;
	unsigned long v;
	int64_t d;
	char *server = NULL;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case O_SERVER: o.server = optarg; break;
		case O_TOKEN: o.token_file = optarg; break;
		case O_ACK: o.ack_log = optarg; break;
		case O_STATE: o.state_file = optarg; break;
		case O_REUSE: o.reuse = true; break;
		case O_PLAIN: o.plain_url = optarg; break;
		case O_JSON: o.json = true; break;
		case O_QUIET: o.quiet = true; break;
		case O_CLIENTS:
			if (parse_uint(optarg, 1, SIM_CLIENTS_MAX, &v)) {
				fprintf(stderr, "steward-sim: --clients must be 1..%u\n", SIM_CLIENTS_MAX);
				return 2;
			}
			o.clients = (uint32_t)v;
			break;
		case O_CONC:
			if (parse_uint(optarg, 1, SIM_CONCURRENCY_MAX, &v)) {
				fprintf(stderr, "steward-sim: --concurrency must be 1..%d\n",
					SIM_CONCURRENCY_MAX);
				return 2;
			}
			o.concurrency = (int)v;
			break;
		case O_DURATION:
			if (parse_dur(optarg, 1, SIM_DURATION_MAX, &o.duration_s)) {
				fprintf(stderr, "steward-sim: --duration must be 1s..1h (e.g. 30s, 5m)\n");
				return 2;
			}
			break;
		case O_TIMEOUT:
			if (parse_dur(optarg, 1, 600, &d)) {
				fprintf(stderr, "steward-sim: --timeout must be 1s..10m\n");
				return 2;
			}
			o.timeout_ms = d * 1000;
			break;
		case O_CYCLE:
			if (parse_dur(optarg, 1, 86400, &o.cycle_s)) {
				fprintf(stderr, "steward-sim: --cycle must be 1s..24h (e.g. 100s, 23m)\n");
				return 2;
			}
			break;
		case O_SETUP:
			if (parse_dur(optarg, 1, SIM_DURATION_MAX, &o.setup_timeout_s)) {
				fprintf(stderr, "steward-sim: --setup-timeout must be 1s..1h\n");
				return 2;
			}
			break;
		case O_AGENT_VERSION: {
			int x, y, z;

			if (strlen(optarg) > CONTENT_VERSION_MAX ||
			    proto_semver_parse(optarg, &x, &y, &z) != 0) {
				fprintf(stderr, "steward-sim: --agent-version must be X.Y.Z\n");
				return 2;
			}
			o.agent_version = optarg;
			break;
		}
		case O_FAIL_RATE:
			if (parse_percent(optarg, &o.upgrade_fail_bp)) {
				fprintf(stderr, "steward-sim: --upgrade-fail-rate must be a percent "
						"0..100 (at most two decimals)\n");
				return 2;
			}
			break;
		case O_FAIL_RELEASE: {
			int x, y, z;

			if (strlen(optarg) > 31 || proto_semver_parse(optarg, &x, &y, &z) != 0) {
				fprintf(stderr, "steward-sim: --upgrade-fail-release must be X.Y.Z\n");
				return 2;
			}
			o.upgrade_fail_release = optarg;
			break;
		}
		case O_UP_DELAY:
			if (parse_dur(optarg, 0, SIM_DURATION_MAX, &o.upgrade_delay_s)) {
				fprintf(stderr, "steward-sim: --upgrade-delay must be 0s..1h\n");
				return 2;
			}
			break;
		case O_VERSIONS_OUT: o.versions_out = optarg; break;
		case O_REPLAY_OUT: o.replay_out = optarg; break;
		case O_REPLAY_CHANGED: o.replay_changed = true; break;
		case O_REPLAY_REQUESTS:
			if (parse_uint(optarg, 1, SIM_REPLAY_REQUESTS_MAX, &v)) {
				fprintf(stderr, "steward-sim: --replay-requests must be 1..%u\n",
					SIM_REPLAY_REQUESTS_MAX);
				return 2;
			}
			o.replay_requests = v;
			break;
		case O_REPLAY_THREADS:
			if (parse_uint(optarg, 1, SIM_REPLAY_THREADS_MAX, &v)) {
				fprintf(stderr, "steward-sim: --replay-threads must be 1..%u\n",
					SIM_REPLAY_THREADS_MAX);
				return 2;
			}
			o.replay_threads = (uint32_t)v;
			break;
		case O_REPLAY_STATUS:
			if (parse_uint(optarg, 0, PROTO_STATUS_MAX, &v)) {
				fprintf(stderr, "steward-sim: --replay-status must be 0..%d (the most "
						"status messages a check-in may carry)\n", PROTO_STATUS_MAX);
				return 2;
			}
			o.replay_status = (uint32_t)v;
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "steward-sim: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (o.replay_out && (o.plain_url || o.replay_requests == 0)) {
		fprintf(stderr, "steward-sim: --replay-out needs --server and --replay-requests K\n");
		return 2;
	}
	if (!o.replay_out && (o.replay_requests || o.replay_status || o.replay_changed)) {
		fprintf(stderr, "steward-sim: --replay-* options need --replay-out FILE\n");
		return 2;
	}
	if (o.cycle_s && (o.plain_url || o.replay_out)) {
		fprintf(stderr, "steward-sim: --cycle paces the clients' check-ins: it needs --server "
				"and --clients, not --plain-url or --replay-out\n");
		return 2;
	}
	if (o.duration_s == 0 && !o.replay_out) {
		fprintf(stderr, "steward-sim: --duration is required (every run stops by itself)\n");
		return 2;
	}
	sim_token_file = o.token_file;
	sim_server = o.server;
	tls_set_trust_lookup(sim_trust, NULL);
	if (!o.plain_url) {
		if (!o.server || !(server = server_url(o.server))) {
			fprintf(stderr, "steward-sim: --server http://HOST:PORT is required "
					"(or --plain-url URL)\n");
			return 2;
		}
		o.server = server;
		if (o.clients == 0) {
			fprintf(stderr, "steward-sim: --clients N is required\n");
			return 2;
		}
		if (o.reuse && !o.state_file) {
			fprintf(stderr, "steward-sim: --reuse needs --state FILE\n");
			return 2;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (proto_init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "steward-sim: cannot initialise libsodium or libcurl\n");
		free(server);
		return 1;
	}
	rc = o.plain_url ? plain_main(&o) : fleet_main(&o);
	curl_global_cleanup();
	free(server);
	return rc;
}

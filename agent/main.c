/* steward-agent: the client. Enrolls with a site, opens a session and checks
 * in on the schedule the site sets.
 *
 * The loop asks lib/core what is due (core_agent_next), does it through
 * session.c, and tells lib/core how it went (core_agent_done); it makes no
 * scheduling decisions of its own beyond two facts only the site knows: when
 * the session expires, and the already jittered next_checkin of a check-in
 * reply. steward-sim runs the same state machine with a fake clock.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "steward/net.h"
#include "steward/build_test.h" /* generated: CMakeLists.txt */
#include "agent.h"
#include "slots.h"

#define EXIT_FAILED 1 /* --once did not complete a check-in */
#define EXIT_USAGE  2 /* bad arguments or unusable state directory */

#define ONCE_TIMEOUT_S 60
#define TIMEOUT_MAX_S  86400

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_poke; /* SIGUSR1: check in now */

static void on_signal(int sig)
{
	g_stop = sig;
}

static void on_poke(int sig)
{
	(void)sig;
	g_poke = 1;
}

struct options {
	const char *server;
	const char *state_dir;
	const char *token;
	const char *site_pin;
	const char *site_fp;
	const char *ca_file;
	bool once;
	enum log_level level;
	int64_t timeout_s;
	bool timeout_given;
	uint64_t cache_max;
	bool metered;
	const char *resume; /* --resume=FD:WHY, from steward-agent-idle */
};

/* The command line without --resume: what steward-agent-idle starts again. */
static char **g_argv;

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: steward-agent --server URL --state-dir DIR [options]\n"
	    "\n"
	    "Enrolls this machine with a steward site and checks in on the site's schedule.\n"
	    "\n"
	    "  --server URL          the site, http://HOST:PORT or https://HOST:PORT (required)\n"
	    "  --state-dir DIR       where client.key and state.json live; created 0700 "
	    "(required)\n"
	    "  --enroll-token T      enrollment token from the site admin (first start only);\n"
	    "                        it names the site's key and certificate pin\n"
	    "  --site-pin PIN        the site's certificate pin (sha256:HEX, DATA_DIR/tls.pin\n"
	    "                        on the site) when the token has none\n"
	    "  --site-fingerprint FP the site key's fingerprint when the token has none\n"
	    "  --ca-file FILE        CAs that issued the site's certificate (without a pin;\n"
	    "                        default: the system's)\n"
	    "  --once                run until one check-in completes, act on the\n"
	    "                        advertisements it brought, then exit\n"
	    "  --timeout SECONDS     --once: give up after this long (default %d);\n"
	    "                        also caps every HTTP call (default %d s each)\n"
	    "  --metered             this machine's link is paid by the byte (a mobile\n"
	    "                        modem): the site treats it as a metered link\n"
	    "  --cache-max SIZE      software distribution cache cap, bytes or with K, M,\n"
	    "                        G (default 2G)\n"
	    "  --log-level L         debug, info, warn or error (default info)\n"
	    "  --version             print the version and protocol range\n"
	    "  --help                this text\n"
	    "\n"
	    "SIGUSR1 makes a running agent check in now (unless it is backing off).\n"
	    "\n"
	    "Exit status: 0 done (or stopped by SIGTERM/SIGINT), 1 --once failed,\n"
	    "2 bad arguments or unusable state directory, 10 a new release is ready in\n"
	    "the inactive slot (under steward-launcher, which switches to it).\n",
	    ONCE_TIMEOUT_S, AGENT_HTTP_TIMEOUT_S);
}

static int bad_arg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_arg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "steward-agent: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'steward-agent --help'.\n");
	return -STEWARD_EINVAL;
}

static bool has_space_or_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return true;
	return false;
}

static int check_server(const char *url)
{
	const char *host;

	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return bad_arg("--server '%s' must start with http:// or https://", url);
	if (strlen(url) >= AGENT_URL_MAX)
		return bad_arg("--server is too long (%zu bytes; the limit is %d)", strlen(url),
			       AGENT_URL_MAX - 1);
	if (has_space_or_control(url))
		return bad_arg("--server '%s' contains spaces or control characters", url);
	if (!*host || *host == '/')
		return bad_arg("--server '%s' names no host", url);
	return 0;
}

/* "2G", "512M", "1048576". */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	else if (*end)
		return -1;
	if (shift && end[1])
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"state-dir", required_argument, NULL, 'd'},
	    {"enroll-token", required_argument, NULL, 't'},
	    {"site-pin", required_argument, NULL, 'P'},
	    {"site-fingerprint", required_argument, NULL, 'F'},
	    {"ca-file", required_argument, NULL, 'A'},
	    {"once", no_argument, NULL, 'o'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"cache-max", required_argument, NULL, 'C'},
	    {"metered", no_argument, NULL, 'M'},
	    {"resume", required_argument, NULL, 'R'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char range[24];
	int c;

	*o = (struct options){.level = LOG_INFO, .timeout_s = ONCE_TIMEOUT_S, .token = ""};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->server = optarg;
			break;
		case 'd':
			o->state_dir = optarg;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'P':
			if (tls_pin_parse(optarg, (uint8_t[TLS_PIN_BYTES]){0}))
				return bad_arg("--site-pin '%.80s' is not sha256: and 64 hex digits "
					       "(DATA_DIR/tls.pin on the site)",
					       optarg);
			o->site_pin = optarg;
			break;
		case 'F':
			if (strlen(optarg) != PROTO_FP_HEX ||
			    strspn(optarg, "0123456789abcdef") != PROTO_FP_HEX)
				return bad_arg("--site-fingerprint '%.80s' is not 64 lowercase hex "
					       "digits",
					       optarg);
			o->site_fp = optarg;
			break;
		case 'A':
			if (strlen(optarg) >= TLS_CA_FILE_MAX)
				return bad_arg("--ca-file is too long (at most %d bytes)",
					       TLS_CA_FILE_MAX - 1);
			o->ca_file = optarg;
			break;
		case 'o':
			o->once = true;
			break;
		case 'M':
			o->metered = true;
			break;
		case 'R':
			o->resume = optarg;
			break;
		case 'l':
			if (log_level_parse(optarg, &o->level))
				return bad_arg(
				    "--log-level '%s' is not one of debug, info, warn, error",
				    optarg);
			break;
		case 'T':
			if (time_parse_duration(optarg, &o->timeout_s) || o->timeout_s < 1 ||
			    o->timeout_s > TIMEOUT_MAX_S)
				return bad_arg(
				    "--timeout '%s' must be a number of seconds from 1 to %d",
				    optarg, TIMEOUT_MAX_S);
			o->timeout_given = true;
			break;
		case 'C':
			if (parse_size(optarg, &o->cache_max) || o->cache_max < (1u << 20))
				return bad_arg("--cache-max '%s' must be a size of at least 1M "
					       "(bytes, or a number with K, M or G)",
					       optarg);
			break;
		case 'V': {
			struct proto_range r = proto_self_range();
			proto_range_format(&r, range);
			printf("steward-agent %s (protocol %s)\n", proto_self_version(), range);
			exit(0);
		}
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			return bad_arg("option '%s' needs a value", argv[optind - 1]);
		default:
			return bad_arg("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_arg("unexpected argument '%s'", argv[optind]);
	if (o->resume && o->once)
		return bad_arg("--resume is for the daemon, not --once");
	if (!o->server)
		return bad_arg("--server URL is required");
	if (!o->state_dir || !o->state_dir[0])
		return bad_arg("--state-dir DIR is required");
	if (strlen(o->state_dir) > PATH_MAX - 64)
		return bad_arg("--state-dir is too long");
	if (strlen(o->token) > PROTO_TOKEN_MAX || has_space_or_control(o->token))
		return bad_arg("--enroll-token must be at most %d printable characters without "
			       "spaces",
			       PROTO_TOKEN_MAX);
	if (o->token[0]) {
		struct proto_enroll_token t;
		struct steward_err e;
		if (proto_enroll_token_parse(o->token, &t, &e))
			return bad_arg("--enroll-token: %s (%s)", e.message, e.remedy);
		explicit_bzero(&t, sizeof(t));
	}
	return check_server(o->server);
}

/* Create the state directory (0700) and take its lock: two agents on one
 * state directory would reuse each other's sequence numbers. The lock fd is
 * kept open for the life of the process. */
static int state_dir_open(const char *dir, struct steward_err *err)
{
	struct stat st;
	int fd;

	if (file_mkdirs(dir, 0700) != 0)
		return steward_err_set(
		    err, STEWARD_EIO, "state_dir", "create it or pass a writable --state-dir",
		    "cannot create the state directory %s: %s", dir, strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return steward_err_set(err, STEWARD_EINVAL, "state_dir",
				       "pass a directory as --state-dir", "%s is not a directory",
				       dir);
	if (st.st_mode & 077)
		log_warn("agent", "state_dir_open_to_others",
			 "path=%s mode=%03o remedy=\"chmod 700 %s\"", dir,
			 (unsigned)(st.st_mode & 0777), dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return steward_err_set(err, STEWARD_EIO, "state_dir",
				       "check the permissions of --state-dir", "cannot open %s: %s",
				       dir, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return steward_err_set(err, STEWARD_EBUSY, "state_dir_busy",
				       "stop the other agent, or give this one its own --state-dir",
				       "another steward-agent is using %s", dir);
	}
	return fd;
}

static int load_key(struct agent *ag, struct steward_err *err)
{
	bool created = false;
	int rc;

	rc = proto_keypair_load_or_create(ag->key_path, &ag->kp, &created);
	if (rc == -STEWARD_EPERM)
		return steward_err_set(err, STEWARD_EPERM, "key_insecure",
				       "the key may have been copied: remove it and enroll again "
				       "with a new token, or chmod 600 it if you know it is safe",
				       "%s is readable by other users", ag->key_path);
	if (rc == -STEWARD_EINVAL)
		return steward_err_set(
		    err, STEWARD_EINVAL, "key_corrupt",
		    "move the file aside and enroll again with a new --enroll-token",
		    "%s is not a 64-byte Ed25519 secret key", ag->key_path);
	if (rc)
		return steward_err_set(err, -rc, "key_unusable",
				       "check that the state directory is readable and writable",
				       "cannot load or create %s: %s", ag->key_path,
				       steward_strerror(rc));
	if (created)
		log_info("agent", "key_created", "path=%s", ag->key_path);
	if (created && ag->st.client_id[0]) {
		/* the id in state.json was bound to the lost key: it can never
		 * authenticate again */
		log_error("agent", "key_replaced",
			  "path=%s old_client=%s remedy=\"enrolling again with the new key; pass "
			  "--enroll-token\"",
			  ag->key_path, ag->st.client_id);
		ag->st.client_id[0] = '\0';
		ag->st.site[0] = '\0';
		ag->st.state[0] = '\0';
	}
	return 0;
}

/* The agent trusts one site: the pin it keeps (or, before its enrollment
 * is on disk, the token's) for the origin of --server; a rotation's next
 * pin too. Anything else (distribution points) by what the site named. */
static int agent_trust(const char *origin, struct tls_trust *out, void *arg)
{
	struct agent *ag = arg;
	char mine[TLS_ORIGIN_MAX];
	uint8_t pin[TLS_PIN_BYTES];

	if (ag->ca_file[0])
		snprintf(out->ca_file, sizeof(out->ca_file), "%s", ag->ca_file);
	if (tls_url_origin(ag->server, mine, sizeof(mine)) || strcmp(mine, origin) != 0)
		return swdist_trust(ag, origin, out);
	if (ag->st.tls_pin[0] && tls_pin_parse(ag->st.tls_pin, pin) == 0)
		tls_trust_add_pin(out, pin);
	else if (!ag->st.client_id[0] && ag->etok.pin[0] && tls_pin_parse(ag->etok.pin, pin) == 0)
		tls_trust_add_pin(out, pin);
	if (ag->st.tls_pin_next[0] && tls_pin_parse(ag->st.tls_pin_next, pin) == 0)
		tls_trust_add_pin(out, pin);
	return 0;
}

/* A key rotation announced by the site (over the pinned connection): kept
 * beside the current pin until the site serves it. */
static void agent_next_pin(const char *origin, const char *pin_text, void *arg)
{
	struct agent *ag = arg;
	char mine[TLS_ORIGIN_MAX];
	uint8_t pin[TLS_PIN_BYTES];
	char hex[TLS_PIN_HEX + 1];

	if (tls_url_origin(ag->server, mine, sizeof(mine)) || strcmp(mine, origin) != 0 ||
	    tls_pin_parse(pin_text, pin))
		return;
	hex_encode(pin, sizeof(pin), hex);
	if (strcmp(hex, ag->st.tls_pin_next) == 0 || strcmp(hex, ag->st.tls_pin) == 0)
		return;
	snprintf(ag->st.tls_pin_next, sizeof(ag->st.tls_pin_next), "%s", hex);
	log_info("agent", "tls_pin_next", "pin=%s note=\"the site's next key; trusted beside the "
		 "current one\"", pin_text);
	agent_save(ag, &(struct steward_err){0});
}

static int agent_setup(struct agent *ag, const struct options *o, struct steward_err *err)
{
	size_t n;
	bool found;
	int rc;

	snprintf(ag->server, sizeof(ag->server), "%s", o->server);
	n = strlen(ag->server);
	while (n > 0 && ag->server[n - 1] == '/')
		ag->server[--n] = '\0';
	snprintf(ag->state_dir, sizeof(ag->state_dir), "%s", o->state_dir);
	snprintf(ag->state_path, sizeof(ag->state_path), "%s/" AGENT_STATE_FILE, o->state_dir);
	snprintf(ag->key_path, sizeof(ag->key_path), "%s/" AGENT_KEY_FILE, o->state_dir);
	ag->token = o->token;
	if (o->token[0])
		proto_enroll_token_parse(o->token, &ag->etok, err); /* checked in parse_args */
	if (o->site_fp)
		snprintf(ag->etok.fp, sizeof(ag->etok.fp), "%s", o->site_fp);
	if (o->site_pin) {
		uint8_t pin[TLS_PIN_BYTES];
		tls_pin_parse(o->site_pin, pin);
		hex_encode(pin, sizeof(pin), ag->etok.pin);
	}
	if (o->ca_file)
		snprintf(ag->ca_file, sizeof(ag->ca_file), "%s", o->ca_file);
	ag->http_timeout_ms =
	    1000L * (o->timeout_s < AGENT_HTTP_TIMEOUT_S ? o->timeout_s : AGENT_HTTP_TIMEOUT_S);
	rc = state_dir_open(o->state_dir, err);
	if (rc < 0)
		return rc;
	ag->lock_fd = rc;
	rc = agent_state_load(ag->state_path, &ag->st, &found, err);
	if (rc)
		return rc;
	rc = load_key(ag, err);
	if (rc)
		return rc;
	ag->stop = &g_stop;
	upgrade_open(ag);
	ag->link.metered = o->metered;
	link_open(ag);
	rc = swdist_open(ag, o->cache_max, err);
	if (rc)
		return rc;
	if (ag->st.client_id[0] && ag->st.server[0] && strcmp(ag->st.server, ag->server) != 0)
		log_warn(
		    "agent", "server_changed",
		    "from=%s to=%s client=%s note=\"keeping the client id; the site re-enrolls "
		    "it if it does not know it\"",
		    ag->st.server, ag->server, ag->st.client_id);
	snprintf(ag->st.server, sizeof(ag->st.server), "%s", ag->server);
	tls_set_trust_lookup(agent_trust, ag);
	tls_set_next_pin_hook(agent_next_pin, ag);
	/* fail now, not at the first request, when the directory is read-only */
	return agent_state_save(ag->state_path, &ag->st, err);
}

/* Whole seconds from the same clock as time_now_ms(): time() runs on the
 * coarse clock and can lag it by a tick, which would turn the last moment of
 * a sleep into a busy loop. */
static int64_t clock_s(void)
{
	return time_now_ms() / 1000;
}

static uint32_t agent_rand(void *ctx, uint32_t upper)
{
	(void)ctx;
	return upper ? rand_uniform(upper) : 0;
}

static void core_setup(struct agent *ag, struct core_agent *a, bool once)
{
	int64_t now = clock_s(), horizon;

	core_agent_init(a, now);
	a->enrolled = ag->st.client_id[0] != '\0';
	if (ag->st.interval > 0)
		a->interval = ag->st.interval;
	if (ag->st.jitter > 0)
		a->jitter = ag->st.jitter;
	/* A restarted daemon keeps the schedule it had (a fleet restarted at
	 * once must not check in at once); --once checks in now. A saved time
	 * further out than one interval and jitter means the clock went back:
	 * do not trust it. */
	horizon = now + a->interval + a->jitter;
	if (!once && a->enrolled && !ag->up.trial[0] && ag->st.next_checkin > now &&
	    ag->st.next_checkin <= horizon)
		a->next_at = ag->st.next_checkin;
}

/* Sleep until unix second at (or deadline_ms when earlier and not 0), in
 * slices of at most one second so a signal stops us promptly. */
static void sleep_until(int64_t at, int64_t deadline_ms)
{
	int64_t target = at > INT64_MAX / 1000 ? INT64_MAX : at * 1000;

	if (deadline_ms && deadline_ms < target)
		target = deadline_ms;
	while (!g_stop && !g_poke) {
		int64_t left = target - time_now_ms();
		struct timespec ts;

		if (left <= 0)
			return;
		if (left > 1000)
			left = 1000;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (long)(left % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}
}

static const char *action_name(enum core_agent_action act)
{
	switch (act) {
	case CORE_ACT_ENROLL:
		return "enroll";
	case CORE_ACT_OPEN_SESSION:
		return "open_session";
	case CORE_ACT_CHECKIN:
		return "checkin";
	case CORE_ACT_SLEEP:
		return "sleep";
	}
	return "?";
}

static enum core_result do_action(struct agent *ag, enum core_agent_action act,
				  int64_t *retry_after, struct steward_err *err)
{
	switch (act) {
	case CORE_ACT_ENROLL:
		return session_enroll(ag, retry_after, err);
	case CORE_ACT_OPEN_SESSION:
		return session_open(ag, retry_after, err);
	case CORE_ACT_CHECKIN:
		return session_checkin(ag, retry_after, err);
	case CORE_ACT_SLEEP:
		break;
	}
	return CORE_RES_OK;
}

/* Tell lib/core how the action went, plus the facts only the site knows. */
static void record(struct agent *ag, struct core_agent *a, enum core_agent_action act,
		   enum core_result res, int64_t retry_after, const struct core_rand *rnd)
{
	int64_t now = clock_s();
	struct steward_err err;

	if (res == CORE_RES_OK && act == CORE_ACT_OPEN_SESSION)
		a->session_expires = ag->session_expires;
	if (res == CORE_RES_OK && (act == CORE_ACT_CHECKIN || act == CORE_ACT_ENROLL)) {
		if (ag->st.interval > 0)
			a->interval = ag->st.interval;
		if (ag->st.jitter > 0)
			a->jitter = ag->st.jitter;
	}
	core_agent_done(a, act, res, now, retry_after, rnd);
	/* moved to a management point not tried since the last answer: try it
	 * now rather than after the backoff meant for the one that failed */
	if (res != CORE_RES_OK && ag->failed_over)
		a->next_at = now;
	ag->failed_over = false;
	/* the site's next_checkin is already jittered: use it as it is */
	if (res == CORE_RES_OK && act == CORE_ACT_CHECKIN && ag->reply_next_checkin > 0)
		a->next_at = now + ag->reply_next_checkin;
	if (res != CORE_RES_OK)
		log_info("agent", "retry_scheduled", "action=%s result=%s failures=%d in=%lld",
			 action_name(act), agent_result_name(res), a->failures,
			 (long long)(a->next_at - now));
	ag->st.next_checkin = a->enrolled ? a->next_at : 0;
	agent_save(ag, &err);
}

/* Before a check-in: send the inventory when lib/core says it is due (so
 * the check-in, which the site records with its sequence number, stays the
 * cycle's last request). A failure is retried on the check-in backoff (or
 * after a whole interval when refused): inventory_retry_at brings the next
 * check-in forward (see inventory_schedule). */
static void inventory_step(struct agent *ag, struct core_agent *a, const struct core_rand *rnd)
{
	int64_t now = clock_s(), retry_after = 0;
	struct steward_err err;
	enum core_result res;

	if (!core_inventory_due(now, ag->st.last_inventory, ag->st.inventory_interval,
				ag->st.inventory_retry_at))
		return;
	memset(&err, 0, sizeof(err));
	res = session_inventory(ag, &retry_after, &err);
	if (res == CORE_RES_OK) {
		ag->st.inventory_failures = 0;
		ag->st.inventory_retry_at = 0;
	} else {
		if (ag->st.inventory_failures < INT_MAX)
			ag->st.inventory_failures++;
		ag->st.inventory_retry_at = core_inventory_retry_at(
		    now, (int)ag->st.inventory_failures, res == CORE_RES_REFUSED, retry_after,
		    ag->st.inventory_interval, rnd);
		if (res == CORE_RES_SESSION_BAD)
			a->have_session = false;
		log_warn("agent", "inventory_failed",
			 "result=%s code=%s message=\"%s\" failures=%lld retry_in=%lld",
			 agent_result_name(res), err.code, err.message,
			 (long long)ag->st.inventory_failures,
			 (long long)(ag->st.inventory_retry_at - now));
	}
	agent_save(ag, &err);
}

/* After a check-in: a failed inventory is retried at its own time, which
 * may come before the next check-in. */
static void inventory_schedule(struct agent *ag, struct core_agent *a)
{
	struct steward_err err;

	if (ag->st.inventory_retry_at <= 0 || a->next_at <= ag->st.inventory_retry_at)
		return;
	a->next_at = ag->st.inventory_retry_at;
	ag->st.next_checkin = a->next_at;
	agent_save(ag, &err);
}

static void print_err(const char *prefix, const struct steward_err *err)
{
	fprintf(stderr, "steward-agent: %s%s: %s\n", prefix, err->code[0] ? err->code : "error",
		err->message);
	if (err->remedy[0])
		fprintf(stderr, "steward-agent: remedy: %s\n", err->remedy);
}

/* --once gave up: say why, with the last error seen. */
static int once_failed(const char *why, const struct steward_err *last)
{
	if (why)
		fprintf(stderr, "steward-agent: %s\n", why);
	if (last->code[0])
		print_err(why ? "last error: " : "", last);
	return EXIT_FAILED;
}

static void print_done(const struct agent *ag, const struct core_agent *a)
{
	printf("checked in: client %s site %s state %s; next check-in in %lld s\n",
	       ag->st.client_id, ag->st.site, ag->st.state[0] ? ag->st.state : "unknown",
	       (long long)(a->next_at - clock_s()));
	if (strcmp(ag->st.state, "pending") == 0)
		printf("client %s is pending: an administrator must approve it at site %s\n",
		       ag->st.client_id, ag->st.site);
	fflush(stdout);
}

static int run(struct agent *ag, bool once, int64_t timeout_s, const struct core_agent *resumed)
{
	struct core_rand rnd = {agent_rand, NULL};
	struct core_agent a;
	struct steward_err last;
	char why[160], until[32];

	memset(&last, 0, sizeof(last));
	if (resumed)
		a = *resumed;
	else
		core_setup(ag, &a, once);
	while (!g_stop) {
		enum core_agent_action act;
		enum core_result res;
		struct steward_err err;
		int64_t retry_after = 0, now = clock_s();

		if (once && time_now_ms() >= ag->deadline_ms) {
			snprintf(why, sizeof(why), "timeout: no check-in completed within %lld s",
				 (long long)timeout_s);
			return once_failed(why, &last);
		}
		/* an advertisement's time (mandatory, recurring, a download
		 * retry) can come before the next check-in */
		if (!once && ag->sw.wake_at && now >= ag->sw.wake_at) {
			swdist_cycle(ag);
			continue;
		}
		/* an administrator asked for a check-in now (SIGUSR1), as a
		 * policy retrieval cycle would: keep any backoff in force */
		if (g_poke) {
			g_poke = 0;
			if (a.failures == 0 && a.next_at > now) {
				log_info("agent", "checkin_requested", "signal=SIGUSR1");
				a.next_at = now;
			}
		}
		act = core_agent_next(&a, now);
		if (act == CORE_ACT_SLEEP) {
			int64_t until_s = a.next_at;

			if (!once && ag->sw.wake_at && ag->sw.wake_at < until_s)
				until_s = ag->sw.wake_at;
			if (once && a.next_at > ag->deadline_ms / 1000) {
				snprintf(
				    why, sizeof(why),
				    "gave up: the next attempt (in %lld s) is past the --timeout",
				    (long long)(a.next_at - now));
				return once_failed(why, &last);
			}
			time_rfc3339(until_s, until);
			log_info("agent", "sleeping", "seconds=%lld until=%s",
				 (long long)(until_s - now), until);
			/* a longer wait is spent as steward-agent-idle (idle.c),
			 * which gives back what the libraries and the cycle hold */
			if (!once && until_s - now >= IDLE_MIN_S) {
				if (idle_enter(ag, &a, until_s, g_argv, &g_poke) == 0)
					continue; /* a signal came first */
				malloc_trim(0);	  /* sleeping in place: the heap at least */
			}
			sleep_until(until_s, once ? ag->deadline_ms : 0);
			continue;
		}
		/* keep lib/core's view of our own facts true */
		if (act == CORE_ACT_OPEN_SESSION && !ag->st.client_id[0]) {
			a.enrolled = false;
			continue;
		}
		if (act == CORE_ACT_CHECKIN && !ag->have_session) {
			a.have_session = false;
			continue;
		}
		if (act == CORE_ACT_CHECKIN) {
			inventory_step(ag, &a, &rnd);
			if (!a.have_session)
				continue; /* the session was refused: open a new one */
		}
		memset(&err, 0, sizeof(err));
		if (act == CORE_ACT_CHECKIN) {
			upgrade_before_checkin(ag);
			link_before_checkin(ag);
		}
		res = do_action(ag, act, &retry_after, &err);
		record(ag, &a, act, res, retry_after, &rnd);
		if (res == CORE_RES_OK && act == CORE_ACT_CHECKIN) {
			upgrade_after_checkin(ag);
			inventory_schedule(ag, &a);
			/* --once: downloads and status reports get a --timeout
			 * of their own, counted from here */
			if (once)
				ag->deadline_ms = time_now_ms() + timeout_s * 1000;
			swdist_cycle(ag);
			if (!once && upgrade_cycle(ag)) {
				agent_save(ag, &last);
				log_info("agent", "stopping", "reason=upgrade client=%s",
					 ag->st.client_id);
				return SLOTS_EXIT_SWITCH;
			}
		}
		if (res != CORE_RES_OK)
			last = err;
		if (once && res == CORE_RES_REFUSED)
			return once_failed(NULL, &last);
		if (once && res == CORE_RES_OK && act == CORE_ACT_CHECKIN) {
			print_done(ag, &a);
			return 0;
		}
	}
	log_info("agent", "stopping", "signal=%d client=%s", (int)g_stop,
		 ag->st.client_id[0] ? ag->st.client_id : "not enrolled");
	agent_save(ag, &last);
	if (once)
		return once_failed("interrupted before a check-in completed", &last);
	return 0;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: nanosleep returns at once */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_poke;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* steward-agent-idle blocks them across its execve: what arrived
	 * meanwhile is delivered now */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
}

/* argv without --resume=..., NULL-terminated (for idle_enter). */
static char **argv_without_resume(int argc, char **argv)
{
	char **out = calloc((size_t)argc + 1, sizeof(*out));
	int n = 0;

	if (!out)
		return NULL;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--resume=", 9) == 0)
			continue;
		if (strcmp(argv[i], "--resume") == 0) {
			i++;
			continue;
		}
		out[n++] = argv[i];
	}
	return out;
}

/* Back from steward-agent-idle: the memory it kept, and what woke it. */
static int agent_resume(struct agent *ag, const struct options *o, struct core_agent *a,
			struct steward_err *err)
{
	int why = 0, rc;

	rc = idle_resume(o->resume, ag, a, &why, err);
	if (rc)
		return rc;
	ag->token = o->token;
	ag->stop = &g_stop;
	tls_set_trust_lookup(agent_trust, ag);
	tls_set_next_pin_hook(agent_next_pin, ag);
	if (why > 0)
		g_stop = why;
	else if (why < 0)
		g_poke = 1;
	log_debug("agent", "resumed", "reason=%s", why > 0 ? "signal" : why < 0 ? "poke" : "time");
	return 0;
}

int main(int argc, char **argv)
{
	static struct agent ag; /* holds the status queue: too big for the stack */
	struct core_agent resumed;
	struct options o;
	struct steward_err err;
	char range[24];
	struct proto_range self = proto_self_range();
	int rc;

	if (parse_args(argc, argv, &o))
		return EXIT_USAGE;
#ifdef STEWARD_TEST_AGENT_FAILS_AT_START
	/* a test release whose base component is broken (tests/system/test_upgrade.sh) */
	fprintf(stderr, "steward-agent: this test build fails at start on purpose\n");
	return EXIT_FAILED;
#endif
	log_set_level(o.level);
	memset(&err, 0, sizeof(err));
	if (proto_init() != 0 || http_client_global_init() != 0) {
		fprintf(stderr, "steward-agent: cannot initialise the crypto or HTTP library\n");
		return EXIT_FAILED;
	}
	install_signals();
	g_argv = argv_without_resume(argc, argv);
	if (!g_argv) {
		fprintf(stderr, "steward-agent: out of memory\n");
		return EXIT_FAILED;
	}
	if (o.resume) {
		if (agent_resume(&ag, &o, &resumed, &err)) {
			print_err("", &err);
			rc = EXIT_USAGE;
			goto out;
		}
		rc = run(&ag, false, o.timeout_s, &resumed);
		goto out;
	}
	if (agent_setup(&ag, &o, &err)) {
		print_err("", &err);
		rc = EXIT_USAGE;
		goto out;
	}
	proto_range_format(&self, range);
	log_info("agent", "starting",
		 "version=%s protocol=%s server=%s client=%s site=%s state_dir=%s mode=%s",
		 proto_self_version(), range, ag.server,
		 ag.st.client_id[0] ? ag.st.client_id : "\"not enrolled\"",
		 ag.st.site[0] ? ag.st.site : "-", ag.state_dir, o.once ? "once" : "daemon");
	if (o.timeout_given && !o.once)
		log_info("agent", "timeout",
			 "http_call_ms=%ld note=\"--timeout caps each HTTP "
			 "call when not --once\"",
			 ag.http_timeout_ms);
	agent_status_add(&ag, "agent_started", "steward-agent %s started (pid %ld)",
			 proto_self_version(), (long)getpid());
	if (o.once)
		ag.deadline_ms = time_now_ms() + o.timeout_s * 1000;
	rc = run(&ag, o.once, o.timeout_s, NULL);
out:
	upgrade_close(&ag);
	swdist_close(&ag);
	agent_session_drop(&ag);
	explicit_bzero(&ag.kp, sizeof(ag.kp));
	http_client_global_cleanup();
	free(g_argv);
	return rc;
}

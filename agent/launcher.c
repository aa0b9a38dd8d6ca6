/* steward-launcher: runs the agent from PREFIX/current and switches slots.
 *
 *   steward-launcher --prefix DIR --server URL [--health-timeout SECONDS]
 *
 * It starts PREFIX/current/bin/steward-agent and restarts it when it exits
 * (with a backoff). The agent downloads a new release into the inactive
 * slot, verifies it, writes PREFIX/upgrade.request and exits with
 * SLOTS_EXIT_SWITCH. The launcher then checks that the new agent runs here,
 * records the trial (PREFIX/launcher.state), switches PREFIX/current and
 * starts it. The trial passes when the new agent completes a check-in
 * (PREFIX/state/health names its version, stamped after the switch) within
 * --health-timeout; it fails when that time passes or the agent exits twice.
 * Only the agent process this launcher started can pass its trial: each
 * start gets a run id (STEWARD_LAUNCHER_RUN) that the agent writes into its
 * stamp after a check-in the site acknowledged, and the stamp a previous
 * agent left is removed before the trial agent starts.
 *
 * The launcher holds an exclusive lock on PREFIX/launcher.lock for its
 * whole life (and names itself in PREFIX/launcher.pid): a second launcher
 * on the same prefix (an init system and a logon script at once) exits at
 * once with status 75 and says which one runs.
 * A failure switches back, restarts the old agent and leaves
 * PREFIX/upgrade.result for it to report (upgrade_failed_rolled_back) and
 * PREFIX/upgrade.failed so the version is not taken again.
 *
 * The trial record is written (and synced) before the switch, so a kill -9
 * at any point is recovered at the next start: a record means "the switch
 * may have happened": point current at the trial slot again and run the
 * trial from the start. No record means the old slot is current.
 *
 * docs/internals/launcher.md describes the protocol.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "steward/proto.h"
#include "steward/util.h"

#include "slots.h"

#define HEALTH_TIMEOUT_S   300
#define HEALTH_TIMEOUT_MAX 86400
#define POLL_MS		   200
#define BACKOFF_MAX_S	   60
#define STOP_GRACE_S	   10
#define VERSION_RUN_S	   10 /* the new agent's --version must answer within this */
#define TRIAL_STARTS_MAX   2  /* exits of the new agent before the trial fails */
#define STATE_WAIT_S	   30 /* for a previous agent to release the state directory */
#define EXIT_LOCKED	   75 /* another launcher holds the prefix (EX_TEMPFAIL) */
#define RUN_ID_BYTES	   8

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_poke; /* SIGUSR1: passed on to the agent */

static void on_signal(int sig)
{
	g_stop = sig;
}

static void on_poke(int sig)
{
	(void)sig;
	g_poke = 1;
}

struct launcher {
	char prefix[PATH_MAX - 64];
	char server[512];
	long health_timeout_s;
	const char *log_level;
	/* the trial in progress */
	bool trial;
	char trial_slot, from_slot;
	char trial_version[SLOTS_VALUE_MAX + 1]; /* the base version on trial */
	char trial_release[SLOTS_VALUE_MAX + 1]; /* the release it comes from */
	int64_t trial_started, trial_deadline;
	int trial_starts;
	char run[2 * RUN_ID_BYTES + 1]; /* the run id of the agent started last */
};

static void path_of(const struct launcher *l, const char *name, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%s", l->prefix, name);
}

static int read_small(const struct launcher *l, const char *name, char **text)
{
	char path[PATH_MAX];
	size_t len;

	path_of(l, name, path, sizeof(path));
	*text = NULL;
	return file_read_all(path, SLOTS_FILE_MAX, text, &len);
}

static void remove_file(const struct launcher *l, const char *name)
{
	char path[PATH_MAX];

	path_of(l, name, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("launcher", "unlink_failed", "path=%s error=\"%s\"", path, strerror(errno));
}

static int write_file(const struct launcher *l, const char *name, const char *text)
{
	char path[PATH_MAX];
	int rc;

	path_of(l, name, path, sizeof(path));
	rc = file_write_atomic(path, text, strlen(text), 0600);
	if (rc)
		log_error("launcher", "write_failed", "path=%s error=\"%s\"", path,
			  steward_strerror(rc));
	return rc;
}

/* ---- the agent process ----------------------------------------------------------- */

/* An agent of a launcher killed -9 gets SIGTERM (PR_SET_PDEATHSIG) but may
 * still be finishing when this launcher starts: wait until it has let go of
 * the state directory (the agent's own flock), or the new agent would exit
 * with state_dir_busy and be taken for a failed trial. */
static void wait_state_free(const char *state)
{
	int fd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return; /* not created yet: nobody holds it */
	for (int i = 0; i < STATE_WAIT_S * 1000 / POLL_MS && !g_stop; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			flock(fd, LOCK_UN);
			close(fd);
			return;
		}
		if (i == 0)
			log_info("launcher", "waiting", "for=\"the previous agent to release %s\"",
				 state);
		usleep(POLL_MS * 1000);
	}
	close(fd);
	log_warn("launcher", "state_dir_busy", "path=%s waited=%ds", state, STATE_WAIT_S);
}

/* A fresh run id for the agent about to start: its health stamps name it. */
static void new_run_id(struct launcher *l)
{
	uint8_t r[RUN_ID_BYTES];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* no entropy yet (early boot): pid and time still differ per start */
		uint64_t x = ((uint64_t)getpid() << 32) ^ (uint64_t)time_mono_us();

		memcpy(r, &x, sizeof(r));
	}
	hex_encode(r, sizeof(r), l->run);
}

static pid_t start_agent(struct launcher *l)
{
	char bin[PATH_MAX], state[PATH_MAX];
	pid_t pid;

	path_of(l, SLOTS_CURRENT "/" SLOTS_AGENT_BIN, bin, sizeof(bin));
	path_of(l, "state", state, sizeof(state));
	wait_state_free(state);
	new_run_id(l);
	/* the stamp a previous agent wrote (one killed with its launcher, in
	 * the middle of this very trial) is no evidence for this one */
	if (l->trial)
		remove_file(l, SLOTS_HEALTH);
	pid = fork();
	if (pid != 0) {
		if (pid < 0)
			log_error("launcher", "fork_failed", "error=\"%s\"", strerror(errno));
		else
			log_info("launcher", "agent_started", "pid=%d slot=%c trial=%s", (int)pid,
				 slots_current(l->prefix), l->trial ? l->trial_version : "-");
		return pid;
	}
	/* the agent ends with the launcher: two agents never share a state dir */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	setenv(SLOTS_ENV_PREFIX, l->prefix, 1);
	setenv(SLOTS_ENV_RUN, l->run, 1);
	if (l->trial)
		setenv(SLOTS_ENV_TRIAL, l->trial_version, 1);
	else
		unsetenv(SLOTS_ENV_TRIAL);
	execl(bin, bin, "--server", l->server, "--state-dir", state, "--log-level", l->log_level,
	      (char *)NULL);
	fprintf(stderr, "steward-launcher: cannot run %s: %s\n", bin, strerror(errno));
	_exit(127);
}

static void stop_agent(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < STOP_GRACE_S * 1000 / POLL_MS; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(POLL_MS * 1000);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

/* The version slot's agent reports; "" when it does not run here
 * (another architecture, missing libraries). */
static void slot_version(const struct launcher *l, char slot, char *out, size_t outsz)
{
	char bin[PATH_MAX];

	snprintf(bin, sizeof(bin), "%s/slots/%c/" SLOTS_AGENT_BIN, l->prefix, slot);
	exec_version(bin, VERSION_RUN_S, out, outsz);
}

/* ---- trials -------------------------------------------------------------------- */

static void trial_begin_timer(struct launcher *l)
{
	l->trial_started = time_now_s();
	l->trial_deadline = l->trial_started + l->health_timeout_s;
	l->trial_starts = 0;
}

/* Record the trial, then switch: the order makes a kill -9 recoverable. */
static int trial_start(struct launcher *l, char slot, const char *version, const char *release)
{
	char text[2 * SLOTS_VALUE_MAX + 64];

	l->from_slot = slots_current(l->prefix);
	l->trial_slot = slot;
	snprintf(l->trial_version, sizeof(l->trial_version), "%s", version);
	snprintf(l->trial_release, sizeof(l->trial_release), "%s", release);
	snprintf(text, sizeof(text), "slot %c\nfrom %c\nversion %s\nrelease %s\n", slot,
		 l->from_slot, version, release);
	if (write_file(l, SLOTS_TRIAL, text))
		return -1;
	if (slots_switch(l->prefix, slot)) {
		log_error("launcher", "switch_failed", "slot=%c", slot);
		remove_file(l, SLOTS_TRIAL);
		return -1;
	}
	l->trial = true;
	trial_begin_timer(l);
	log_info("launcher", "switched", "from=%c to=%c version=%s health_timeout=%ld", l->from_slot,
		 slot, version, l->health_timeout_s);
	return 0;
}

static void result(struct launcher *l, const char *outcome, const char *version,
		   const char *reason)
{
	char text[1400];

	snprintf(text, sizeof(text), "result %s\nversion %s\nrelease %s\nreason %s\ntime %lld\n",
		 outcome, version, l->trial_release[0] ? l->trial_release : version, reason,
		 (long long)time_now_s());
	write_file(l, SLOTS_RESULT, text);
}

static void trial_fail(struct launcher *l, const char *reason)
{
	char text[SLOTS_VALUE_MAX + 2];

	if (l->from_slot && slots_switch(l->prefix, l->from_slot) != 0)
		log_error("launcher", "switch_failed", "slot=%c", l->from_slot);
	/* the release is what is not taken again: it may change only an
	 * optional component */
	snprintf(text, sizeof(text), "%s\n", l->trial_release[0] ? l->trial_release : l->trial_version);
	write_file(l, SLOTS_FAILED, text);
	result(l, "failed", l->trial_version, reason);
	remove_file(l, SLOTS_TRIAL);
	l->trial = false;
	log_warn("launcher", "upgrade_failed_rolled_back", "version=%s to=%c reason=\"%s\"",
		 l->trial_version, l->from_slot, reason);
}

/* The trial's end is logged once it is on disk: a launcher killed in
 * between resumes the trial at its next start, and its log must not have
 * called it over already. */
static void trial_pass(struct launcher *l)
{
	result(l, "succeeded", l->trial_version, "-");
	remove_file(l, SLOTS_TRIAL);
	l->trial = false;
	log_info("launcher", "upgrade_succeeded", "version=%s slot=%c seconds=%lld",
		 l->trial_version, l->trial_slot, (long long)(time_now_s() - l->trial_started));
}

/* Health: the agent this launcher started last stamped a check-in that
 * the site acknowledged, as the version on trial. A stamp without a run id
 * (an agent older than run ids) counts only because the stale stamp was
 * removed before that agent started. */
static bool trial_healthy(const struct launcher *l)
{
	char *text = NULL, v[SLOTS_VALUE_MAX + 1], run[SLOTS_VALUE_MAX + 1];
	long long t = 0;
	bool ok = false;
	int n;

	if (read_small(l, SLOTS_HEALTH, &text) == 0 &&
	    (n = sscanf(text, "%255s %lld %255s", v, &t, run)) >= 2)
		ok = strcmp(v, l->trial_version) == 0 && t >= l->trial_started &&
		     (n == 2 || strcmp(run, l->run) == 0);
	free(text);
	return ok;
}

/* A trial record at start: the last launcher died during a switch. */
static void recover(struct launcher *l)
{
	char *text = NULL, slot[4], from[4], version[SLOTS_VALUE_MAX + 1];

	if (read_small(l, SLOTS_TRIAL, &text) != 0)
		return;
	if (slots_value(text, "slot", slot, sizeof(slot)) || slots_value(text, "from", from,
									   sizeof(from)) ||
	    slots_value(text, "version", version, sizeof(version)) ||
	    (slot[0] != 'A' && slot[0] != 'B')) {
		log_warn("launcher", "trial_record_bad", "action=\"staying on the current slot\"");
		remove_file(l, SLOTS_TRIAL);
		free(text);
		return;
	}
	free(text);
	l->trial_slot = slot[0];
	l->from_slot = from[0] == 'A' || from[0] == 'B' ? from[0] : 0;
	snprintf(l->trial_version, sizeof(l->trial_version), "%s", version);
	if (read_small(l, SLOTS_TRIAL, &text) == 0) {
		if (slots_value(text, "release", l->trial_release, sizeof(l->trial_release)))
			l->trial_release[0] = '\0';
		free(text);
	}
	if (slots_current(l->prefix) != l->trial_slot && slots_switch(l->prefix, l->trial_slot)) {
		log_error("launcher", "switch_failed", "slot=%c", l->trial_slot);
		remove_file(l, SLOTS_TRIAL);
		return;
	}
	l->trial = true;
	trial_begin_timer(l);
	log_warn("launcher", "trial_resumed", "version=%s slot=%c from=%c", version, l->trial_slot,
		 l->from_slot ? l->from_slot : '-');
}

/* The agent exited asking for a switch: check the request and begin. */
static void take_request(struct launcher *l)
{
	char *text = NULL, slot[4] = "", version[SLOTS_VALUE_MAX + 1] = "", runs[64];
	char cur = slots_current(l->prefix), why[512];

	if (read_small(l, SLOTS_REQUEST, &text) != 0) {
		log_warn("launcher", "request_missing", "action=\"restarting the agent\"");
		return;
	}
	remove_file(l, SLOTS_REQUEST);
	why[0] = '\0';
	if (slots_value(text, "release", l->trial_release, sizeof(l->trial_release)))
		l->trial_release[0] = '\0';
	if (slots_value(text, "slot", slot, sizeof(slot)) ||
	    slots_value(text, "version", version, sizeof(version)) ||
	    (slot[0] != 'A' && slot[0] != 'B') || slot[1])
		snprintf(why, sizeof(why), "the upgrade request is malformed");
	else if (slot[0] == cur)
		snprintf(why, sizeof(why), "the request names slot %c, which is in use", cur);
	free(text);
	if (!why[0]) {
		slot_version(l, slot[0], runs, sizeof(runs));
		if (!runs[0])
			snprintf(why, sizeof(why), "the agent %s in slot %c does not run here",
				 version, slot[0]);
		else if (strcmp(runs, version) != 0)
			snprintf(why, sizeof(why), "slot %c holds agent %s, not %s", slot[0], runs,
				 version);
	}
	if (why[0]) {
		log_warn("launcher", "request_refused", "version=%s reason=\"%s\"", version, why);
		snprintf(l->trial_version, sizeof(l->trial_version), "%s", version[0] ? version : "?");
		result(l, "failed", l->trial_version, why);
		return;
	}
	if (trial_start(l, slot[0], version, l->trial_release[0] ? l->trial_release : version))
		result(l, "failed", version, "the launcher could not switch slots");
}

/* ---- the loop ------------------------------------------------------------------ */

static int run(struct launcher *l)
{
	int backoff = 1;

	recover(l);
	while (!g_stop) {
		int64_t started = time_now_s();
		pid_t pid = start_agent(l);
		int st = 0;
		bool exited = false;

		if (pid < 0) {
			sleep(BACKOFF_MAX_S);
			continue;
		}
		while (!g_stop && !exited) {
			if (waitpid(pid, &st, WNOHANG) == pid) {
				exited = true;
				break;
			}
			if (g_poke) {
				g_poke = 0;
				kill(pid, SIGUSR1);
			}
			if (l->trial && trial_healthy(l))
				trial_pass(l);
			if (l->trial && time_now_s() > l->trial_deadline) {
				char why[128];

				stop_agent(pid);
				exited = true;
				snprintf(why, sizeof(why), "no check-in completed within %ld s of the switch",
					 l->health_timeout_s);
				trial_fail(l, why);
				st = -1;
				break;
			}
			usleep(POLL_MS * 1000);
		}
		if (g_stop) {
			if (!exited)
				stop_agent(pid);
			break;
		}
		if (st == -1)
			continue; /* rolled back: start the old agent at once */
		if (WIFEXITED(st) && WEXITSTATUS(st) == SLOTS_EXIT_SWITCH && !l->trial) {
			log_info("launcher", "switch_requested", "pid=%d", (int)pid);
			take_request(l);
			backoff = 1;
			continue;
		}
		log_warn("launcher", "agent_exited", "pid=%d status=%d signal=%d ran=%llds", (int)pid,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0,
			 (long long)(time_now_s() - started));
		if (l->trial) {
			char why[128];

			if (++l->trial_starts < TRIAL_STARTS_MAX)
				continue;
			snprintf(why, sizeof(why), "the new agent exited with status %d, %d times",
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), l->trial_starts);
			trial_fail(l, why);
			continue;
		}
		if (time_now_s() - started > BACKOFF_MAX_S)
			backoff = 1;
		for (int i = 0; i < backoff * 1000 / POLL_MS && !g_stop; i++)
			usleep(POLL_MS * 1000);
		backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
	}
	log_info("launcher", "stopping", "signal=%d", (int)g_stop);
	return 0;
}

/* One launcher per prefix, for its whole life: the lock goes with the
 * process (a kill -9 frees it), which a PID file cannot promise. */
static int lock_prefix(const struct launcher *l)
{
	char path[PATH_MAX], *text = NULL, pidtext[32];
	int fd;

	path_of(l, "launcher.lock", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "steward-launcher: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(fd);
		if (e != EWOULDBLOCK) {
			fprintf(stderr, "steward-launcher: cannot lock %s: %s\n", path, strerror(e));
			return -1;
		}
		if (read_small(l, "launcher.pid", &text) != 0 || sscanf(text, "%31s", pidtext) != 1)
			snprintf(pidtext, sizeof(pidtext), "?");
		free(text);
		fprintf(stderr,
			"steward-launcher: another steward-launcher (pid %s) already runs the agent in "
			"%s; this one exits and leaves it running\n",
			pidtext, l->prefix);
		log_warn("launcher", "already_running", "prefix=%s pid=%s", l->prefix, pidtext);
		return -2;
	}
	snprintf(pidtext, sizeof(pidtext), "%ld\n", (long)getpid());
	write_file(l, "launcher.pid", pidtext);
	return fd; /* kept open (and locked) until the process ends */
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: steward-launcher --prefix DIR --server URL [options]\n"
		"\n"
		"Runs the steward agent from DIR/current, restarts it when it stops, and\n"
		"switches it to a new release with a health check and automatic rollback.\n"
		"\n"
		"  --prefix DIR            the installation (DIR/current, DIR/slots/A|B, DIR/state)\n"
		"  --server URL            the site, passed to the agent\n"
		"  --health-timeout SECS   a new agent must check in within this (default %d)\n"
		"  --log-level L           debug, info, warn or error (default info)\n"
		"  --version, --help\n"
		"\n"
		"One launcher runs per DIR (it locks DIR/launcher.lock); a second one exits\n"
		"at once with status %d.\n",
		HEALTH_TIMEOUT_S, EXIT_LOCKED);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"prefix", required_argument, NULL, 'p'},	      {"server", required_argument, NULL, 's'},
	    {"health-timeout", required_argument, NULL, 't'}, {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},	      {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	static struct launcher l;
	struct sigaction sa;
	struct stat st;
	char range[24], *end;
	struct proto_range self = proto_self_range();
	int c;

	l.health_timeout_s = HEALTH_TIMEOUT_S;
	l.log_level = "info";
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (strlen(optarg) >= sizeof(l.prefix) || optarg[0] != '/') {
				fprintf(stderr, "steward-launcher: --prefix must be an absolute path "
						"shorter than %zu bytes\n", sizeof(l.prefix));
				return 2;
			}
			snprintf(l.prefix, sizeof(l.prefix), "%s", optarg);
			break;
		case 's':
			if (strlen(optarg) >= sizeof(l.server) ||
			    (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))) {
				fprintf(stderr, "steward-launcher: --server must be an http:// or "
						"https:// URL shorter than %zu bytes\n", sizeof(l.server));
				return 2;
			}
			snprintf(l.server, sizeof(l.server), "%s", optarg);
			break;
		case 't':
			errno = 0;
			l.health_timeout_s = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || l.health_timeout_s < 1 ||
			    l.health_timeout_s > HEALTH_TIMEOUT_MAX) {
				fprintf(stderr, "steward-launcher: --health-timeout '%s' must be 1 to %d "
						"seconds\n", optarg, HEALTH_TIMEOUT_MAX);
				return 2;
			}
			break;
		case 'l': {
			enum log_level lvl;

			if (log_level_parse(optarg, &lvl)) {
				fprintf(stderr, "steward-launcher: --log-level '%s' is not one of debug, "
						"info, warn, error\n", optarg);
				return 2;
			}
			l.log_level = optarg;
			log_set_level(lvl);
			break;
		}
		case 'V':
			proto_range_format(&self, range);
			printf("steward-launcher %s (protocol %s)\n", proto_self_version(), range);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "steward-launcher: bad option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (!l.prefix[0] || !l.server[0] || optind != argc) {
		fprintf(stderr, "steward-launcher: --prefix and --server are required\n");
		usage(stderr);
		return 2;
	}
	if (stat(l.prefix, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "steward-launcher: %s is not a directory: install with bootstrap.sh\n",
			l.prefix);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_poke;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	switch (lock_prefix(&l)) {
	case -1:
		return 1;
	case -2:
		return EXIT_LOCKED;
	}
	log_info("launcher", "starting", "version=%s prefix=%s slot=%c", proto_self_version(),
		 l.prefix, slots_current(l.prefix) ? slots_current(l.prefix) : '-');
	return run(&l);
}

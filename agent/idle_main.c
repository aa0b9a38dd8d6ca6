/* steward-agent-idle: what the agent daemon is between cycles.
 *
 * steward-agent replaces itself with this program (execve: the same process,
 * the same PID, its state directory still locked) when it has nothing to do
 * for a while; see agent/idle.c for why. This program links libc alone and
 * does one thing: it sleeps until the agent's next due time, SIGUSR1,
 * SIGTERM or SIGINT, whichever comes first, then replaces itself with the
 * very steward-agent that started it (the file it kept open), which takes
 * back its memory from the memfd it left and goes on.
 *
 * Command line (written by idle_enter, never by hand):
 *   ARGV0 --idle UNTIL_MS EXE_FD MEM_FD [ARG...]
 * ARGV0 and the ARGs are the agent's own command line, so the process still
 * shows it while it sleeps. The agent is started again as
 *   ARGV0 ARG... --resume=MEM_FD:WHY
 * WHY being "time", "poke" (SIGUSR1) or the number of the signal that asks
 * it to stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_poke;

static void on_signal(int sig)
{
	g_stop = sig;
}

static void on_poke(int sig)
{
	(void)sig;
	g_poke = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A line in the agent's log format (lib/util/log.c), on stderr. */
static void say(const char *event, const char *msg, int err)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s error agent %s message=\"%s: %s\"\n", when, event, msg, strerror(err));
	fflush(stderr);
}

static int parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || end == s || *end || *out < min || *out > max ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t sigs;
	long long until, exe_fd, mem_fd;
	char resume[64], **args;
	int n = 0;

	if (argc < 5 || strcmp(argv[1], "--idle") != 0 ||
	    parse_int(argv[2], 0, INT64_MAX, &until) || parse_int(argv[3], 0, 65535, &exe_fd) ||
	    parse_int(argv[4], 0, 65535, &mem_fd)) {
		fprintf(stderr, "steward-agent-idle: started by steward-agent only\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal; /* no SA_RESTART: nanosleep returns at once */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_poke;
	sigaction(SIGUSR1, &sa, NULL);
	/* the agent blocked them across the execve: what arrived meanwhile is
	 * delivered now */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &sigs, NULL);

	/* slices of at most a second, as the agent sleeps: a signal that lands
	 * between the check and the sleep waits no longer than that */
	while (!g_stop && !g_poke) {
		int64_t left = until - now_ms();
		struct timespec ts;

		if (left <= 0)
			break;
		if (left > 1000)
			left = 1000;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (long)(left % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}

	/* blocked again until the agent has its handlers */
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	if (g_stop)
		snprintf(resume, sizeof(resume), "--resume=%lld:%d", mem_fd, (int)g_stop);
	else
		snprintf(resume, sizeof(resume), "--resume=%lld:%s", mem_fd,
			 g_poke ? "poke" : "time");
	args = calloc((size_t)argc, sizeof(*args));
	if (!args) {
		say("idle_failed", "cannot start the agent again", ENOMEM);
		return 1;
	}
	args[n++] = argv[0];
	for (int i = 5; i < argc; i++)
		args[n++] = argv[i];
	args[n++] = resume;
	args[n] = NULL;
	fcntl((int)exe_fd, F_SETFD, FD_CLOEXEC);
	fexecve((int)exe_fd, args, environ);
	/* the state is on disk: the launcher (or whoever runs the daemon)
	 * starts it again, and it opens a new session */
	say("idle_failed", "cannot start the agent again", errno);
	return 1;
}

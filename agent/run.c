/* agent/run: run one program supervised (see run.h).
 *
 * Everything the child needs (argv, the environment, the user's groups) is
 * prepared before fork, so the child only makes system calls between fork
 * and exec. A close-on-exec pipe tells the parent whether exec happened: a
 * child that fails before it writes which step failed and its errno, so
 * "could not start" names the real reason instead of an exit status 127.
 *
 * The parent never blocks without a limit: it polls the output pipe in
 * slices of at most 100 ms and reaps the child with WNOHANG between them.
 * When the shell has exited, descendants that still hold the pipe (a
 * daemon the program started) get DRAIN_MS to finish writing; they are not
 * killed, since starting a service can be the program's purpose. At the
 * timeout, the process group is what gets the signals, so a `sleep` the
 * shell started dies with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"

#define SLICE_MS       100
#define DRAIN_MS       1000  /* reading after the shell exited */
#define REAP_MS	       5000  /* after SIGKILL: stop waiting for the group */
#define EXEC_REPORT_MS 10000 /* the child reports exec or its failure by then */
#define ENV_FIXED      6     /* PATH HOME LANG STEWARD_ADVERT _PACKAGE _VERSION */

enum child_step {
	STEP_SETSID = 1,
	STEP_STDIO,
	STEP_GROUPS,
	STEP_GID,
	STEP_UID,
	STEP_CHDIR,
	STEP_EXEC
};

static const char *step_name(int step)
{
	switch (step) {
	case STEP_SETSID:
		return "cannot start a new session";
	case STEP_STDIO:
		return "cannot set up stdin and stdout";
	case STEP_GROUPS:
		return "cannot set the supplementary groups";
	case STEP_GID:
		return "cannot switch group";
	case STEP_UID:
		return "cannot switch user";
	case STEP_CHDIR:
		return "cannot change to the working directory";
	case STEP_EXEC:
		return "cannot execute /bin/sh";
	}
	return "cannot start";
}

const char *run_outcome_name(enum run_outcome o)
{
	switch (o) {
	case RUN_EXITED:
		return "exited";
	case RUN_SIGNALED:
		return "signaled";
	case RUN_TIMED_OUT:
		return "timed_out";
	case RUN_NOT_STARTED:
		return "not_started";
	}
	return "?";
}

static int64_t mono_ms(void)
{
	return time_mono_us() / 1000;
}

static int not_started(struct run_result *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int not_started(struct run_result *r, int rc, const char *fmt, ...)
{
	va_list ap;

	r->outcome = RUN_NOT_STARTED;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	return -rc;
}

/* ---- the environment -------------------------------------------------------------- */

struct envlist {
	char *v[ENV_FIXED + RUN_ENV_MAX + 1];
	int n;
};

static bool env_name_ok(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* Add "NAME=value", replacing an entry of the same name. */
static int env_put(struct envlist *e, const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t n = eq ? (size_t)(eq - entry) : 0;
	char *copy;

	if (!eq || !env_name_ok(entry, n))
		return -STEWARD_EINVAL;
	copy = strdup(entry);
	if (!copy)
		return -STEWARD_ENOMEM;
	for (int i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], entry, n + 1) == 0) {
			free(e->v[i]);
			e->v[i] = copy;
			return 0;
		}
	}
	if (e->n >= (int)(sizeof(e->v) / sizeof(e->v[0])) - 1) {
		free(copy);
		return -STEWARD_ETOOBIG;
	}
	e->v[e->n++] = copy;
	e->v[e->n] = NULL;
	return 0;
}

static int env_putf(struct envlist *e, const char *name, const char *value)
{
	char *s = NULL;
	int rc;

	if (asprintf(&s, "%s=%s", name, value ? value : "") < 0)
		return -STEWARD_ENOMEM;
	rc = env_put(e, s);
	free(s);
	return rc;
}

static void env_free(struct envlist *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->v[i]);
	e->n = 0;
}

/* ---- the user ---------------------------------------------------------------------- */

struct who {
	bool switch_user;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int n_groups;
	char home[PATH_MAX];
};

static int lookup_user(const char *user, struct who *w, struct run_result *r)
{
	char buf[16384], self[64];
	struct passwd pw, *p = NULL;
	uid_t me = geteuid();
	int n = 64;

	if (!user || !user[0]) {
		if (getpwuid_r(me, &pw, buf, sizeof(buf), &p) == 0 && p && p->pw_dir)
			snprintf(w->home, sizeof(w->home), "%s", p->pw_dir);
		else
			snprintf(w->home, sizeof(w->home), "/");
		return 0;
	}
	errno = 0;
	if (getpwnam_r(user, &pw, buf, sizeof(buf), &p) != 0 || !p)
		return not_started(r, STEWARD_EINVAL, "user '%s' does not exist on this machine",
				   user);
	snprintf(w->home, sizeof(w->home), "%s", p->pw_dir && p->pw_dir[0] ? p->pw_dir : "/");
	if (p->pw_uid == me)
		return 0; /* already that user: nothing to switch */
	if (me != 0) {
		struct passwd spw, *sp = NULL;
		char sbuf[16384];

		if (getpwuid_r(me, &spw, sbuf, sizeof(sbuf), &sp) == 0 && sp)
			snprintf(self, sizeof(self), "%s", sp->pw_name);
		else
			snprintf(self, sizeof(self), "uid %ld", (long)me);
		return not_started(r, STEWARD_EPERM,
				   "the program runs as user '%s', which needs the agent to run "
				   "as root; it runs as %s",
				   user, self);
	}
	w->switch_user = true;
	w->uid = p->pw_uid;
	w->gid = p->pw_gid;
	for (;;) {
		int got = n;
		gid_t *g = realloc(w->groups, sizeof(gid_t) * (size_t)n);

		if (!g)
			return not_started(r, STEWARD_ENOMEM, "out of memory");
		w->groups = g;
		if (getgrouplist(user, p->pw_gid, w->groups, &got) >= 0) {
			w->n_groups = got;
			return 0;
		}
		if (got <= n || got > 65536)
			return not_started(r, STEWARD_EIO, "cannot list the groups of user '%s'",
					   user);
		n = got;
	}
}

/* ---- the child --------------------------------------------------------------------- */

static void child_fail(int fd, int step)
{
	int msg[2] = {step, errno};
	ssize_t w = write(fd, msg, sizeof(msg));

	(void)w;
	_exit(127);
}

static void child(const struct run_spec *spec, const struct who *w, char *const envp[], int out_w,
		  int report_w)
{
	char *argv[] = {"sh", "-c", (char *)spec->command, NULL};
	struct sigaction sa;
	sigset_t all;
	int devnull;

	/* the agent ignores SIGPIPE; an exec'd program must not inherit that */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (setsid() < 0)
		child_fail(report_w, STEP_SETSID);
	devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0)
		child_fail(report_w, STEP_STDIO);
	/* nothing of the agent's (its state-dir lock, sockets) leaks into the program */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (w->switch_user) {
		if (setgroups((size_t)w->n_groups, w->groups) != 0)
			child_fail(report_w, STEP_GROUPS);
		if (setgid(w->gid) != 0)
			child_fail(report_w, STEP_GID);
		if (setuid(w->uid) != 0)
			child_fail(report_w, STEP_UID);
	}
	if (chdir(spec->workdir) != 0)
		child_fail(report_w, STEP_CHDIR);
	execve("/bin/sh", argv, envp);
	child_fail(report_w, STEP_EXEC);
}

/* ---- the parent -------------------------------------------------------------------- */

struct ring {
	char data[RUN_OUTPUT_MAX];
	size_t pos; /* next write */
	uint64_t total;
};

static void ring_put(struct ring *g, const char *p, size_t n)
{
	g->total += n;
	if (n >= sizeof(g->data)) {
		memcpy(g->data, p + n - sizeof(g->data), sizeof(g->data));
		g->pos = 0;
		return;
	}
	while (n) {
		size_t room = sizeof(g->data) - g->pos, k = n < room ? n : room;

		memcpy(g->data + g->pos, p, k);
		g->pos = (g->pos + k) % sizeof(g->data);
		p += k;
		n -= k;
	}
}

static void ring_take(const struct ring *g, struct run_result *r)
{
	size_t head;

	r->output_total = g->total;
	if (g->total < sizeof(g->data)) {
		r->output_len = (size_t)g->total;
		memcpy(r->output, g->data, r->output_len);
	} else {
		head = sizeof(g->data) - g->pos;
		memcpy(r->output, g->data + g->pos, head);
		memcpy(r->output + head, g->data, g->pos);
		r->output_len = sizeof(g->data);
	}
	r->output[r->output_len] = '\0';
}

/* Read what is there; false once the pipe is closed (EOF or error). */
static bool drain(int fd, struct ring *g)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			ring_put(g, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		return false;
	}
}

/* Did the child exec? 0 when it did; otherwise r says why. */
static int await_exec(pid_t pid, int report_r, struct run_result *r)
{
	int64_t until = mono_ms() + EXEC_REPORT_MS;
	int msg[2];
	ssize_t n = -1;
	int status;

	for (;;) {
		struct pollfd p = {.fd = report_r, .events = POLLIN};
		int64_t left = until - mono_ms();
		int pr;

		if (left <= 0)
			break;
		pr = poll(&p, 1, (int)(left < SLICE_MS ? left : SLICE_MS));
		if (pr < 0 && errno != EINTR)
			break;
		if (pr > 0) {
			n = read(report_r, msg, sizeof(msg));
			break;
		}
	}
	if (n == 0)
		return 0; /* closed by exec */
	if (n != (ssize_t)sizeof(msg)) {
		/* no word from the child in time: do not leave it behind */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		msg[0] = 0;
		msg[1] = ETIMEDOUT;
	}
	for (int64_t t = mono_ms() + REAP_MS; mono_ms() < t;) {
		if (waitpid(pid, &status, WNOHANG) != 0)
			break;
		usleep(10000);
	}
	return not_started(r, STEWARD_EIO, "%s: %s", step_name(msg[0]), strerror(msg[1]));
}

static void set_outcome(struct run_result *r, int status, bool timed_out)
{
	if (timed_out) {
		r->outcome = RUN_TIMED_OUT;
		r->code = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	} else if (WIFEXITED(status)) {
		r->outcome = RUN_EXITED;
		r->code = WEXITSTATUS(status);
	} else {
		r->outcome = RUN_SIGNALED;
		r->code = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	}
}

/* Supervise pid until it exited and its output is read, or it was killed. */
static void supervise(const struct run_spec *spec, pid_t pid, int out_r, struct run_result *r,
		      struct ring *g)
{
	int64_t start = mono_ms(), deadline = start + spec->timeout_ms;
	int64_t grace = spec->grace_ms > 0 ? spec->grace_ms : RUN_GRACE_MS;
	int64_t exited_at = 0, kill_at = 0, killed_at = 0;
	bool open = true, exited = false, timed_out = false;
	int status = 0;

	for (;;) {
		int64_t now = mono_ms(), wait = SLICE_MS;

		if (!exited) {
			pid_t w = waitpid(pid, &status, WNOHANG);

			if (w == pid || (w < 0 && errno == ECHILD)) {
				exited = true;
				exited_at = now;
			}
		}
		if (exited && !open)
			break;
		if (exited && !timed_out && now - exited_at >= DRAIN_MS)
			break; /* a descendant holds the pipe: stop reading */
		if (!timed_out && (now >= deadline || (spec->stop && spec->stop(spec->stop_ctx)))) {
			timed_out = true;
			r->stopped = now < deadline;
			kill(-pid, SIGTERM);
			kill_at = now + grace;
		}
		if (timed_out) {
			/* done when nothing of the group is left */
			if (exited && kill(-pid, 0) != 0 && errno == ESRCH)
				break;
			if (!killed_at && now >= kill_at) {
				kill(-pid, SIGKILL);
				killed_at = now;
			}
			/* zombies nobody reaps keep the group "alive": do not wait
			 * for them forever */
			if (killed_at && exited && now - killed_at >= REAP_MS)
				break;
		}
		if (!open) {
			usleep(SLICE_MS * 1000);
			continue;
		}
		if (!exited && deadline - now < wait && deadline > now)
			wait = deadline - now;
		{
			struct pollfd p = {.fd = out_r, .events = POLLIN};
			int pr = poll(&p, 1, (int)wait);

			if (pr > 0)
				open = drain(out_r, g);
		}
	}
	if (open)
		drain(out_r, g);
	set_outcome(r, status, timed_out);
	r->duration_ms = mono_ms() - start;
}

int run_program(const struct run_spec *spec, struct run_result *r)
{
	struct envlist env = {.n = 0};
	struct who w;
	struct ring *g = NULL;
	struct stat st;
	int out[2] = {-1, -1}, rep[2] = {-1, -1};
	pid_t pid;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	memset(&w, 0, sizeof(w));
	if (!spec->command || !spec->command[0])
		return not_started(r, STEWARD_EINVAL, "the program has no command");
	if (spec->timeout_ms <= 0)
		return not_started(r, STEWARD_EINVAL, "the program has no timeout");
	if (!spec->workdir || stat(spec->workdir, &st) != 0 || !S_ISDIR(st.st_mode))
		return not_started(r, STEWARD_EINVAL, "the working directory %s is not a directory",
				   spec->workdir ? spec->workdir : "(none)");
	rc = lookup_user(spec->user, &w, r);
	if (rc)
		goto out;
	if ((rc = env_putf(&env, "PATH", RUN_PATH)) || (rc = env_putf(&env, "HOME", w.home)) ||
	    (rc = env_putf(&env, "LANG", "C.UTF-8")))
		goto env_failed;
	for (const char *const *p = spec->env; p && *p; p++) {
		rc = env_put(&env, *p);
		if (rc == -STEWARD_EINVAL) {
			rc = not_started(
			    r, STEWARD_EINVAL,
			    "the program's environment entry '%.64s' is not NAME=value", *p);
			goto out;
		}
		if (rc)
			goto env_failed;
	}
	if ((rc = env_putf(&env, "STEWARD_ADVERT", spec->advert)) ||
	    (rc = env_putf(&env, "STEWARD_PACKAGE", spec->package)) ||
	    (rc = env_putf(&env, "STEWARD_PACKAGE_VERSION", spec->package_version)))
		goto env_failed;
	g = calloc(1, sizeof(*g));
	if (!g) {
		rc = not_started(r, STEWARD_ENOMEM, "out of memory");
		goto out;
	}
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(rep, O_CLOEXEC) != 0) {
		rc = not_started(r, STEWARD_EIO, "cannot create a pipe: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rc = not_started(r, STEWARD_EIO, "cannot fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(out[0]);
		close(rep[0]);
		child(spec, &w, env.v, out[1], rep[1]);
	}
	close(out[1]);
	close(rep[1]);
	out[1] = rep[1] = -1;
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	rc = await_exec(pid, rep[0], r);
	if (rc)
		goto out;
	supervise(spec, pid, out[0], r, g);
	ring_take(g, r);
	goto out;
env_failed:
	rc =
	    not_started(r, rc == -STEWARD_ETOOBIG ? STEWARD_ETOOBIG : STEWARD_ENOMEM,
			"cannot build the program's environment (at most %d entries)", RUN_ENV_MAX);
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	free(g);
	free(w.groups);
	env_free(&env);
	return rc;
}

/* ---- the lock ---------------------------------------------------------------------- */

static bool lock_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RUN_LOCK_NAME_MAX || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!(*s == '.' || *s == '_' || *s == '-' || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

int run_lock(const char *dir, const char *name, int *fd, struct steward_err *err)
{
	char path[PATH_MAX];
	int f;

	*fd = -1;
	if (!lock_name_ok(name))
		return steward_err_set(err, STEWARD_EINVAL, "internal", "report this as a bug",
				       "'%s' cannot name a lock file", name);
	if (file_mkdirs(dir, 0700) != 0)
		return steward_err_set(err, STEWARD_EIO, "swdist_dir",
				       "check that the state directory is writable",
				       "cannot create %s: %s", dir, strerror(errno));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.lock", dir, name) >= sizeof(path))
		return steward_err_set(err, STEWARD_EINVAL, "internal", "use a shorter --state-dir",
				       "the lock path under %s is too long", dir);
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f < 0)
		return steward_err_set(err, STEWARD_EIO, "swdist_dir",
				       "check that the state directory is writable",
				       "cannot open %s: %s", path, strerror(errno));
	if (flock(f, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(f);
		if (e == EWOULDBLOCK)
			return steward_err_set(
			    err, STEWARD_EBUSY, "advert_busy", "wait for the other run to finish",
			    "advertisement %s is already being run (%s is locked)", name, path);
		return steward_err_set(err, STEWARD_EIO, "swdist_dir",
				       "check that the state directory is writable",
				       "cannot lock %s: %s", path, strerror(e));
	}
	*fd = f;
	return 0;
}

void run_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing drops the flock */
}

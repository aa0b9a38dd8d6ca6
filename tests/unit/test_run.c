/* Unit tests for agent/run.c with real /bin/sh processes: exit codes,
 * the output tail, timeouts that take the whole process group, the working
 * directory and environment, users, and the per-advertisement lock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../agent/run.h"

static char g_dir[] = "/tmp/steward-test-run-XXXXXX";

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(g_dir))
		return -1;
	chmod(g_dir, 0755);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct run_spec spec(const char *command, int64_t timeout_ms)
{
	return (struct run_spec){
	    .command = command,
	    .workdir = g_dir,
	    .advert = "7",
	    .package = "pkg",
	    .package_version = "1.0",
	    .timeout_ms = timeout_ms,
	};
}

static struct run_result *run(const struct run_spec *s, int expect_rc)
{
	static struct run_result r;

	assert_int_equal(run_program(s, &r), expect_rc);
	return &r;
}

/* Gone, or a zombie nobody reaped (pid 1 in a container may not reap). */
static bool process_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static void test_exit_codes(void **state)
{
	struct run_spec s = spec("exit 3", 5000);
	struct run_result *r;

	(void)state;
	r = run(&s, 0);
	assert_int_equal(r->outcome, RUN_EXITED);
	assert_int_equal(r->code, 3);
	s.command = "true";
	r = run(&s, 0);
	assert_int_equal(r->outcome, RUN_EXITED);
	assert_int_equal(r->code, 0);
	s.command = "echo hello; echo oops >&2";
	r = run(&s, 0);
	assert_string_equal(r->output, "hello\noops\n");
	assert_int_equal(r->output_total, 11);
	s.command = "kill -USR1 $$";
	r = run(&s, 0);
	assert_int_equal(r->outcome, RUN_SIGNALED);
	assert_int_equal(r->code, SIGUSR1);
	/* stdin is /dev/null: a program that reads does not hang */
	s.command = "cat; echo read-done";
	r = run(&s, 0);
	assert_string_equal(r->output, "read-done\n");
}

static void test_output_tail(void **state)
{
	struct run_spec s = spec("i=0; while [ $i -lt 2000 ]; do printf '%05d\\n' $i; "
				 "i=$((i+1)); done",
				 20000);
	struct run_result *r;
	char *want = malloc(12001);
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 2000; i++)
		n += (size_t)sprintf(want + n, "%05d\n", i);
	r = run(&s, 0);
	assert_int_equal(r->outcome, RUN_EXITED);
	assert_int_equal(r->output_total, 12000);
	assert_int_equal(r->output_len, RUN_OUTPUT_MAX);
	assert_memory_equal(r->output, want + 12000 - RUN_OUTPUT_MAX, RUN_OUTPUT_MAX);
	assert_int_equal(strlen(r->output), RUN_OUTPUT_MAX);
	free(want);
	/* one big write larger than the ring */
	s.command = "head -c 100000 /dev/zero | tr '\\0' a; echo END";
	r = run(&s, 0);
	assert_int_equal(r->output_total, 100004);
	assert_int_equal(r->output_len, RUN_OUTPUT_MAX);
	assert_string_equal(r->output + RUN_OUTPUT_MAX - 4, "END\n");
}

static pid_t first_pid(const struct run_result *r)
{
	long pid = strtol(r->output, NULL, 10);

	assert_true(pid > 1);
	return (pid_t)pid;
}

static void test_timeout_kills_group(void **state)
{
	struct run_spec s = spec("sleep 1000 & echo $!; sleep 1000", 300);
	struct run_result *r;
	pid_t child;

	(void)state;
	r = run(&s, 0);
	assert_int_equal(r->outcome, RUN_TIMED_OUT);
	assert_false(r->stopped);
	assert_true(r->duration_ms >= 300 && r->duration_ms < 5000);
	child = first_pid(r);
	for (int i = 0; i < 100 && !process_gone(child); i++)
		usleep(20000);
	assert_true(process_gone(child));
}

static void test_timeout_escalates(void **state)
{
	/* the shell and its sleep ignore SIGTERM: SIGKILL after the grace */
	struct run_spec s = spec("trap '' TERM; sleep 1000 & echo $!; wait", 200);
	struct run_result *r;
	pid_t child;

	(void)state;
	s.grace_ms = 300;
	r = run(&s, 0);
	assert_int_equal(r->outcome, RUN_TIMED_OUT);
	assert_int_equal(r->code, SIGKILL);
	assert_true(r->duration_ms >= 500 && r->duration_ms < 8000);
	child = first_pid(r);
	for (int i = 0; i < 100 && !process_gone(child); i++)
		usleep(20000);
	assert_true(process_gone(child));
}

static void test_daemon_keeps_pipe(void **state)
{
	/* a descendant still holding the output pipe does not hold us */
	struct run_spec s = spec("sleep 30 & echo $!; exit 0", 60000);
	struct run_result *r;

	(void)state;
	r = run(&s, 0);
	assert_int_equal(r->outcome, RUN_EXITED);
	assert_int_equal(r->code, 0);
	assert_true(r->duration_ms < 3000);
	kill(first_pid(r), SIGKILL);
}

static bool stop_now(void *ctx)
{
	return ++*(int *)ctx > 3;
}

static void test_stop(void **state)
{
	struct run_spec s = spec("sleep 1000", 60000);
	struct run_result *r;
	int calls = 0;

	(void)state;
	s.stop = stop_now;
	s.stop_ctx = &calls;
	r = run(&s, 0);
	assert_int_equal(r->outcome, RUN_TIMED_OUT);
	assert_true(r->stopped);
	assert_true(r->duration_ms < 5000);
}

static void test_workdir_and_env(void **state)
{
	const char *env[] = {"FOO=bar baz", "LANG=de_DE.UTF-8", "STEWARD_ADVERT=spoofed", NULL};
	struct run_spec s = spec("pwd; echo \"$STEWARD_ADVERT|$STEWARD_PACKAGE|"
				 "$STEWARD_PACKAGE_VERSION|$FOO|$LANG|$PATH|${SECRET_X-unset}\"",
				 5000);
	char want[512];
	struct run_result *r;

	(void)state;
	setenv("SECRET_X", "leak", 1);
	s.env = env;
	r = run(&s, 0);
	snprintf(want, sizeof(want), "%s\n7|pkg|1.0|bar baz|de_DE.UTF-8|%s|unset\n", g_dir,
		 RUN_PATH);
	assert_string_equal(r->output, want);
	unsetenv("SECRET_X");
	/* the environment holds exactly what we said */
	s.env = NULL;
	s.command = "env | cut -d= -f1 | sort | tr '\\n' ' '";
	r = run(&s, 0);
	assert_string_equal(r->output, "HOME LANG PATH PWD STEWARD_ADVERT STEWARD_PACKAGE "
				       "STEWARD_PACKAGE_VERSION ");
}

static void test_not_started(void **state)
{
	const char *bad_env[] = {"1X=2", NULL};
	struct run_spec s = spec("true", 5000);
	struct run_result *r;

	(void)state;
	s.workdir = "/nonexistent/dir";
	r = run(&s, -STEWARD_EINVAL);
	assert_int_equal(r->outcome, RUN_NOT_STARTED);
	assert_non_null(strstr(r->reason, "/nonexistent/dir is not a directory"));
	s.workdir = g_dir;
	s.user = "no-such-user-steward";
	r = run(&s, -STEWARD_EINVAL);
	assert_string_equal(r->reason,
			    "user 'no-such-user-steward' does not exist on this machine");
	s.user = NULL;
	s.env = bad_env;
	r = run(&s, -STEWARD_EINVAL);
	assert_non_null(strstr(r->reason, "'1X=2' is not NAME=value"));
	s.env = NULL;
	s.timeout_ms = 0;
	run(&s, -STEWARD_EINVAL);
}

static void test_user(void **state)
{
	struct run_spec s = spec("id -u; echo $HOME", 5000);
	struct passwd *pw = getpwnam("nobody");
	struct run_result *r;
	char want[256];
	pid_t pid;
	int status;

	(void)state;
	if (geteuid() != 0 || !pw)
		skip();
	s.user = "nobody";
	r = run(&s, 0);
	snprintf(want, sizeof(want), "%ld\n%s\n", (long)pw->pw_uid, pw->pw_dir);
	assert_string_equal(r->output, want);
	/* a workdir the user cannot enter is a failure to start, with the reason */
	s.workdir = "/root";
	chmod("/root", 0700);
	r = run(&s, -STEWARD_EIO);
	assert_non_null(strstr(r->reason, "cannot change to the working directory"));
	/* not root: another user is refused; the current one is fine */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct run_result rr;

		if (setgid(pw->pw_gid) || setuid(pw->pw_uid))
			_exit(10);
		s.workdir = "/tmp";
		s.user = "root";
		if (run_program(&s, &rr) != -STEWARD_EPERM ||
		    !strstr(rr.reason, "needs the agent to run as root"))
			_exit(11);
		s.user = "nobody";
		if (run_program(&s, &rr) != 0 || rr.outcome != RUN_EXITED)
			_exit(12);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_lock(void **state)
{
	char dir[PATH_MAX];
	struct steward_err err;
	int a, b, status;
	pid_t pid;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/locks", g_dir);
	assert_int_equal(run_lock(dir, "7", &a, &err), 0);
	assert_true(a >= 0);
	assert_int_equal(run_lock(dir, "7", &b, &err), -STEWARD_EBUSY);
	assert_string_equal(err.code, "advert_busy");
	assert_int_equal(b, -1);
	/* another process cannot have it either */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;
		_exit(run_lock(dir, "7", &fd, NULL) == -STEWARD_EBUSY ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	/* another advertisement is independent */
	assert_int_equal(run_lock(dir, "8", &b, &err), 0);
	run_unlock(b);
	run_unlock(a);
	assert_int_equal(run_lock(dir, "7", &a, &err), 0);
	run_unlock(a);
	/* a program does not inherit the lock */
	assert_int_equal(run_lock(dir, "9", &a, &err), 0);
	{
		char cmd[PATH_MAX + 64];
		struct run_spec s = spec(cmd, 5000);
		struct run_result *r;

		snprintf(cmd, sizeof(cmd), "ls -l /proc/$$/fd | grep -c '9.lock' || true");
		r = run(&s, 0);
		assert_string_equal(r->output, "0\n");
	}
	run_unlock(a);
	assert_int_equal(run_lock(dir, "../x", &a, &err), -STEWARD_EINVAL);
	assert_int_equal(run_lock(dir, ".hidden", &a, &err), -STEWARD_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_codes),
	    cmocka_unit_test(test_output_tail),
	    cmocka_unit_test(test_timeout_kills_group),
	    cmocka_unit_test(test_timeout_escalates),
	    cmocka_unit_test(test_daemon_keeps_pipe),
	    cmocka_unit_test(test_stop),
	    cmocka_unit_test(test_workdir_and_env),
	    cmocka_unit_test(test_not_started),
	    cmocka_unit_test(test_user),
	    cmocka_unit_test(test_lock),
	};

	signal(SIGPIPE, SIG_IGN); /* as in the agent */
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* exec: running another steward program: its version, its output. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>

#include "steward/util.h"

#define EXEC_VERSION_MAX 4096

/* "steward-agent 1.1.0 (protocol 1-1)", "stewardd 1.1.0 protocol 1-1": the
 * second word of a program that ends well and prints at most a few lines */
void exec_version(const char *bin, unsigned timeout_s, char *out, size_t outsz)
{
	const char *argv[] = {bin, "--version", NULL};
	struct buf b;
	char ver[64];
	int status;

	out[0] = '\0';
	buf_init(&b, EXEC_VERSION_MAX);
	/* buf keeps its data NUL-terminated */
	if (exec_capture(argv, timeout_s, &b, &status) == 0 && status == 0 && b.len > 0 &&
	    sscanf(b.data, "%*s %63s", ver) == 1)
		snprintf(out, outsz, "%s", ver);
	buf_free(&b);
}

int exec_capture(const char *const argv[], unsigned timeout_s, struct buf *out, int *status)
{
	char chunk[65536];
	int fds[2], st = 0, rc = 0;
	pid_t pid;

	*status = -1;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -STEWARD_EIO;
	pid = fork();
	if (pid == 0) {
		/* only async-signal-safe calls: the parent may have threads */
		dup2(fds[1], 1);
		alarm(timeout_s); /* SIGALRM ends the program at its limit */
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -STEWARD_EIO;
	}
	for (;;) {
		ssize_t n = read(fds[0], chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (!rc && buf_append(out, chunk, (size_t)n) != 0)
			rc = -STEWARD_ETOOBIG; /* keep draining so the child can end */
	}
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return rc;
}

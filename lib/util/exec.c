/* exec: the version another steward program reports. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>

#include "steward/util.h"

void exec_version(const char *bin, unsigned timeout_s, char *out, size_t outsz)
{
	char buf[256], ver[64];
	int fds[2], st;
	size_t got = 0;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		/* only async-signal-safe calls: the parent may have threads */
		dup2(fds[1], 1);
		alarm(timeout_s);
		execl(bin, bin, "--version", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return;
	}
	for (;;) {
		ssize_t n = read(fds[0], buf + got, sizeof(buf) - 1 - got);
		if (n <= 0 || (got += (size_t)n) == sizeof(buf) - 1)
			break;
	}
	close(fds[0]);
	buf[got] = '\0';
	/* "steward-agent 1.1.0 (protocol 1-1)", "stewardd 1.1.0 protocol 1-1" */
	if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
	    sscanf(buf, "%*s %63s", ver) == 1)
		snprintf(out, outsz, "%s", ver);
}

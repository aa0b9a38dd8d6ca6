/* Readiness notification to the service manager: systemd's sd_notify
 * protocol, spoken directly so that stewardd needs no libsystemd.
 *
 * The manager passes NOTIFY_SOCKET, the path of a unix datagram socket (an
 * abstract-namespace socket when it starts with '@'). A state is one
 * datagram of newline-separated KEY=VALUE lines ("READY=1",
 * "STOPPING=1", "STATUS=..."). Without NOTIFY_SOCKET there is nothing to
 * tell and that is no error: stewardd started from a shell. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "steward/util.h"

int notify_service_manager(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen, slen;
	socklen_t salen;
	ssize_t n;
	int fd, rc = 0;

	if (!state || !path || !*path)
		return 0;
	plen = strlen(path);
	slen = strlen(state);
	if (plen >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@') || plen < 2 ||
	    slen == 0 || slen > 4096)
		return -STEWARD_EINVAL;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract: the name is every byte given, no NUL */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -STEWARD_EIO;
	n = sendto(fd, state, slen, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	if (n < 0 || (size_t)n != slen)
		rc = -STEWARD_EIO;
	close(fd);
	return rc;
}

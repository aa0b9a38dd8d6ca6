/* slots: the layout the launcher and the agent share (slots.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "steward/util.h"

#include "slots.h"

int slots_value(const char *text, const char *key, char *out, size_t outsz)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p;) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			n -= klen + 1;
			if (n >= outsz)
				return -1;
			memcpy(out, p + klen + 1, n);
			out[n] = '\0';
			return 0;
		}
		p = end ? end + 1 : NULL;
	}
	return -1;
}

char slots_current(const char *prefix)
{
	char path[PATH_MAX], target[64];
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/" SLOTS_CURRENT, prefix) >= sizeof(path))
		return 0;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	if (strcmp(target, "slots/A") == 0)
		return 'A';
	if (strcmp(target, "slots/B") == 0)
		return 'B';
	return 0;
}

int slots_switch(const char *prefix, char slot)
{
	char tmp[PATH_MAX], path[PATH_MAX], target[16];
	int dfd, rc = 0;

	if (slot != 'A' && slot != 'B')
		return -STEWARD_EINVAL;
	snprintf(target, sizeof(target), "slots/%c", slot);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/" SLOTS_CURRENT ".new", prefix) >= sizeof(tmp) ||
	    (size_t)snprintf(path, sizeof(path), "%s/" SLOTS_CURRENT, prefix) >= sizeof(path))
		return -STEWARD_ETOOBIG;
	if (unlink(tmp) != 0 && errno != ENOENT)
		return -STEWARD_EIO;
	if (symlink(target, tmp) != 0 || rename(tmp, path) != 0)
		return -STEWARD_EIO;
	/* the rename is durable only once the directory is */
	dfd = open(prefix, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		rc = -STEWARD_EIO;
	if (dfd >= 0)
		close(dfd);
	return rc;
}

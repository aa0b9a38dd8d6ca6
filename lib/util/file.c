/* file: atomic writes, capped reads, mkdir -p. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>

#include "steward/util.h"

static int write_full(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -STEWARD_EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_sync_dir_of(const char *path)
{
	char tmp[PATH_MAX];
	int fd, rc = 0;

	if (str_copy(tmp, sizeof(tmp), path))
		return -STEWARD_ETOOBIG;
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -STEWARD_EIO;
	if (fsync(fd) != 0)
		rc = -STEWARD_EIO;
	close(fd);
	return rc;
}

int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return -STEWARD_ETOOBIG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -STEWARD_EIO;
	/* open() honours umask; the mode asked for is what the caller needs */
	rc = fchmod(fd, mode) ? -STEWARD_EIO : 0;
	if (!rc)
		rc = write_full(fd, data, len);
	if (!rc && fsync(fd) != 0)
		rc = -STEWARD_EIO;
	if (close(fd) != 0 && !rc)
		rc = -STEWARD_EIO;
	if (!rc && rename(tmp, path) != 0)
		rc = -STEWARD_EIO;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return file_sync_dir_of(path);
}

int file_read_all(const char *path, size_t max, char **out, size_t *len)
{
	int fd, rc = 0;
	struct buf b;
	char chunk[8192];

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -STEWARD_ENOTFOUND : -STEWARD_EIO;
	buf_init(&b, max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -STEWARD_EIO;
			break;
		}
		if (n == 0)
			break;
		rc = buf_append(&b, chunk, (size_t)n);
		if (rc)
			break;
	}
	close(fd);
	if (rc) {
		buf_free(&b);
		return rc;
	}
	if (len)
		*len = b.len;
	*out = buf_steal(&b);
	return 0;
}

int file_mkdirs(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t n;

	if (str_copy(tmp, sizeof(tmp), path))
		return -STEWARD_ETOOBIG;
	n = strlen(tmp);
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return -STEWARD_EIO;
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return -STEWARD_EIO;
	{
		struct stat st;
		if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -STEWARD_EIO;
		}
	}
	return 0;
}
